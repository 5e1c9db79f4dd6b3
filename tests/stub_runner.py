"""A stubbed Runner for unit tests: it replays stream events instead of asking a model.

The events are the SDK's and openai's own objects (RawResponsesStreamEvent carrying a
ResponseTextDeltaEvent, and so on), so the code under test reads them exactly as it reads a
real run's. To test your own streaming code, copy the pattern of the first test in
test_script.py:

    run = StubRun(answer("Hello", " world"))
    monkeypatch.setattr(Runner, "run_streamed", lambda agent, prompt, **options: run)

A StubRun replays its steps in order. A step is a stream event, which is yielded; a function,
which is called (and awaited, if it returns an awaitable) between two events, to pause or to
press Ctrl+C, say; or HANG, which waits, like a server gone silent, until cancel() is called.
After the last step the stream ends, or raises `error` if one is given.
"""

import asyncio
import inspect
import itertools

from agents import (
    Agent,
    AgentUpdatedStreamEvent,
    HandoffCallItem,
    MessageOutputItem,
    RawResponsesStreamEvent,
    RunContextWrapper,
    RunItemStreamEvent,
    ToolCallItem,
    Usage,
)
from agents.testing import assistant_message, function_call
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
    ResponseTextDeltaEvent,
    ResponseUsage,
)
from openai.types.responses.response import IncompleteDetails
from openai.types.responses.response_error import ResponseError
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

MODEL = "gpt-4o-2024-08-06"  # the name OpenAI's responses carry for the model "gpt-4o"
HANG = object()  # a step: wait until the run is cancelled
HANG_AT_MOST = 120  # seconds: a script that never cancels fails its test instead of blocking the suite
_sequence_numbers = itertools.count()  # the script never reads them; they only need to be there


def raw(event_type, kind: str, **fields) -> RawResponsesStreamEvent:
    """A raw_response_event carrying openai's `event_type`, whose `type` field is `kind`."""
    return RawResponsesStreamEvent(
        data=event_type(type=kind, sequence_number=next(_sequence_numbers), **fields)
    )


def response(status: str, **fields) -> Response:
    """A Responses API response, as the events that start and end a stream carry it."""
    fields = {"id": "resp_1", "created_at": 1784592277, "model": MODEL, "output": [], **fields}
    return Response(
        object="response", parallel_tool_calls=True, tool_choice="auto", tools=[], status=status, **fields
    )


def text_delta(delta: str) -> RawResponsesStreamEvent:
    """The event that carries a piece of the answer: the one the script prints."""
    ids = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    return raw(ResponseTextDeltaEvent, "response.output_text.delta", delta=delta, logprobs=[], **ids)


def opening() -> list:
    """What comes before the first delta: the agent starts, and the server creates the response."""
    created = raw(ResponseCreatedEvent, "response.created", response=response("in_progress"))
    return [AgentUpdatedStreamEvent(new_agent=Agent(name="Assistant")), created]


def completed(text: str, tokens: tuple[int, int] | None = (25, 311)) -> list:
    """What ends a whole answer: `response.completed` with its token counts (None: not reported)."""
    usage = None
    if tokens:
        usage = ResponseUsage(
            input_tokens=tokens[0],
            output_tokens=tokens[1],
            total_tokens=sum(tokens),
            input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
            output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        )
    message = assistant_message(text, item_id="msg_1")
    done = response("completed", output=[message], usage=usage)
    item = MessageOutputItem(agent=Agent(name="Assistant"), raw_item=message)
    return [
        raw(ResponseCompletedEvent, "response.completed", response=done),
        RunItemStreamEvent(name="message_output_created", item=item),
    ]


def answer(*deltas: str, tokens: tuple[int, int] | None = (25, 311)) -> list:
    """The events of a whole successful answer, the text arriving in `deltas`."""
    return [*opening(), *map(text_delta, deltas), *completed("".join(deltas), tokens)]


def call(name: str) -> RunItemStreamEvent:
    """The SDK's event for a tool call or a handoff the model asked for; its next request follows."""
    raw_item = function_call("current_time", {}, call_id="call_1")
    kind = ToolCallItem if name == "tool_called" else HandoffCallItem
    return RunItemStreamEvent(name=name, item=kind(agent=Agent(name="Assistant"), raw_item=raw_item))


def incomplete(reason: str) -> RawResponsesStreamEvent:
    details = IncompleteDetails(reason=reason)
    return raw(
        ResponseIncompleteEvent,
        "response.incomplete",
        response=response("incomplete", incomplete_details=details),
    )


def failed(message: str) -> RawResponsesStreamEvent:
    error = ResponseError(code="server_error", message=message)
    return raw(ResponseFailedEvent, "response.failed", response=response("failed", error=error))


def error_event(message: str, code: str) -> RawResponsesStreamEvent:
    return raw(ResponseErrorEvent, "error", code=code, message=message, param=None)


class StubRun:
    """Stands in for the RunResultStreaming that Runner.run_streamed() returns.

    Like the SDK's, it counts the tokens of each `response.completed` in `context_wrapper.usage`;
    its `final_output` is the text of the deltas once the stream has ended on its own, and stays None
    if the run was cancelled or failed; and cancel() ends the stream at its next step.
    """

    def __init__(self, steps: list, error: BaseException | None = None) -> None:
        self.steps, self.error = steps, error
        self.final_output = None
        self.context_wrapper = RunContextWrapper(context=None, usage=Usage())
        self.cancelled = asyncio.Event()

    async def stream_events(self):
        text = ""
        for step in self.steps:
            if self.cancelled.is_set():
                return
            if step is HANG:
                await asyncio.wait_for(self.cancelled.wait(), HANG_AT_MOST)
            elif callable(step):
                outcome = step()
                if inspect.isawaitable(outcome):
                    await outcome
            else:
                self.count(step)
                data = getattr(step, "data", None)
                text += data.delta if isinstance(data, ResponseTextDeltaEvent) and data.delta else ""
                yield step
        if self.cancelled.is_set():
            return
        if self.error is not None:
            raise self.error
        self.final_output = text

    def count(self, event) -> None:
        if event.type == "raw_response_event" and isinstance(event.data, ResponseCompletedEvent):
            usage = event.data.response.usage
            self.context_wrapper.usage.add(
                Usage(
                    requests=1,
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    total_tokens=usage.total_tokens,
                )
                if usage
                else Usage()  # as the SDK does: a response without usage counts no request
            )

    def cancel(self, mode: str = "immediate") -> None:
        self.cancelled.set()


class StubRunner:
    """Replaces Runner.run_streamed: returns `run`, and records each call's agent, input and options."""

    def __init__(self, run: StubRun | None = None) -> None:
        self.run = run or StubRun(answer("Hi"))
        self.calls: list[tuple] = []

    def run_streamed(self, agent, input, **options) -> StubRun:
        self.calls.append((agent, input, options))
        return self.run
