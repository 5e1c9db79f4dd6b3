"""Stream events built from the SDK's own classes, and the stubbed Runner that replays them."""

import asyncio
import os
import sys
from dataclasses import dataclass, field

import httpx2
import openai
from agents import (
    Agent,
    AgentUpdatedStreamEvent,
    MessageOutputItem,
    RawResponsesStreamEvent,
    RunContextWrapper,
    RunItemStreamEvent,
    Usage,
)
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseCreatedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai.types.responses.response import IncompleteDetails
from openai.types.responses.response_error import ResponseError

AGENT = Agent(name="Assistant")
REQUEST = httpx2.Request("POST", "https://api.openai.com/v1/responses")


def raw(data) -> RawResponsesStreamEvent:
    return RawResponsesStreamEvent(data=data)


def response(status: str = "in_progress", **fields) -> Response:
    defaults = {"id": "resp_1", "created_at": 1784592277, "model": "gpt-4o-2024-08-06", "output": []}
    return Response(
        **{**defaults, **fields},
        object="response",
        parallel_tool_calls=True,
        tool_choice="auto",
        tools=[],
        status=status,
    )


def message(text: str) -> ResponseOutputMessage:
    content = [ResponseOutputText(type="output_text", text=text, annotations=[], logprobs=[])]
    return ResponseOutputMessage(
        id="msg_1", type="message", role="assistant", status="completed", content=content
    )


def text_delta(delta: str) -> RawResponsesStreamEvent:
    return raw(
        ResponseTextDeltaEvent(
            type="response.output_text.delta",
            content_index=0,
            delta=delta,
            item_id="msg_1",
            logprobs=[],
            output_index=0,
            sequence_number=4,
        )
    )


def opening() -> list:
    """What precedes the first delta: an agent update and three non-text raw events."""
    return [
        AgentUpdatedStreamEvent(new_agent=AGENT),
        raw(ResponseCreatedEvent(type="response.created", response=response(), sequence_number=0)),
        raw(
            ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=message("").model_copy(update={"status": "in_progress", "content": []}),
                output_index=0,
                sequence_number=2,
            )
        ),
        raw(
            ResponseContentPartAddedEvent(
                type="response.content_part.added",
                content_index=0,
                item_id="msg_1",
                output_index=0,
                part=ResponseOutputText(type="output_text", text="", annotations=[], logprobs=[]),
                sequence_number=3,
            )
        ),
    ]


def closing(text: str) -> list:
    """What follows the last delta of a completed answer: raw events, then a run item."""
    return [
        raw(
            ResponseTextDoneEvent(
                type="response.output_text.done",
                content_index=0,
                item_id="msg_1",
                logprobs=[],
                output_index=0,
                sequence_number=90,
                text=text,
            )
        ),
        raw(
            ResponseCompletedEvent(
                type="response.completed",
                response=response("completed", output=[message(text)]),
                sequence_number=91,
            )
        ),
        RunItemStreamEvent(
            name="message_output_created", item=MessageOutputItem(agent=AGENT, raw_item=message(text))
        ),
    ]


def answer(*deltas: str) -> list:
    """A whole successful stream."""
    return [*opening(), *map(text_delta, deltas), *closing("".join(deltas))]


def incomplete(reason: str) -> RawResponsesStreamEvent:
    details = IncompleteDetails(reason=reason)
    return raw(
        ResponseIncompleteEvent(
            type="response.incomplete",
            response=response("incomplete", incomplete_details=details),
            sequence_number=92,
        )
    )


def failed(message: str, code: str = "server_error") -> RawResponsesStreamEvent:
    error = ResponseError(code=code, message=message)
    return raw(
        ResponseFailedEvent(
            type="response.failed", response=response("failed", error=error), sequence_number=5
        )
    )


def error_event(message: str, code: str) -> RawResponsesStreamEvent:
    return raw(ResponseErrorEvent(type="error", code=code, message=message, param=None, sequence_number=2))


def status_error(error_class: type[openai.APIStatusError], status: int, message: str, code: str | None):
    """The exception the openai client raises for an HTTP error with OpenAI's error body."""
    body = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    http_response = httpx2.Response(status, request=REQUEST, json={"error": body})
    return error_class(f"Error code: {status} - {message}", response=http_response, body=body)


def http_error(status: int, body: str, base_url: str = "https://api.openai.com/v1") -> openai.APIStatusError:
    """The exception the openai client itself builds when `base_url` answers `status` with `body`.

    For OpenAI's `{"error": {...}}` its `body` is the inner object; for `{"error": "text"}` and for
    a body that is not JSON, it is that text.
    """
    request = httpx2.Request("POST", f"{base_url}/responses")
    client = openai.OpenAI(api_key="sk-unused", base_url=base_url)
    return client._make_status_error_from_response(httpx2.Response(status, request=request, text=body))


@dataclass
class FakeRun:
    """Stands in for RunResultStreaming: replays `events`, then raises `error` if one is given.

    With `then_hang`, it then waits, as a server gone silent would, until cancel() is called.
    Like the SDK's, cancel() ends the stream (stream_events() returns at its next step) and
    leaves the run without a final output.
    """

    TEXT_OF_THE_DELTAS = object()  # final_output's default
    HANG_AT_MOST = 10  # seconds: a script that never cancels fails its test instead of blocking it

    events: list
    error: BaseException | None = None
    then_hang: bool = False
    final_output: object = TEXT_OF_THE_DELTAS  # the text the deltas spell out; None once cancelled
    usage: Usage = field(default_factory=lambda: Usage(requests=1, input_tokens=25, output_tokens=311))
    cancelled: bool = False
    flushed_at_each_event: list = field(default_factory=list)

    def __post_init__(self):
        self.context_wrapper = RunContextWrapper(context=None, usage=self.usage)
        if self.final_output is self.TEXT_OF_THE_DELTAS:
            self.final_output = "".join(
                event.data.delta
                for event in self.events
                if getattr(getattr(event, "data", None), "type", None) == "response.output_text.delta"
            )
        self._stopped = asyncio.Event()

    async def stream_events(self):
        for event in self.events:
            if self.cancelled:
                return
            yield event
            # The consumer has handled `event` by now: note what reached the terminal.
            self.flushed_at_each_event.append(getattr(sys.stdout, "flushed", None))
        if self.cancelled:
            return
        if self.error is not None:
            raise self.error
        if self.then_hang:
            try:
                await asyncio.wait_for(self._stopped.wait(), self.HANG_AT_MOST)
            except asyncio.TimeoutError:
                raise AssertionError(f"the run was not cancelled within {self.HANG_AT_MOST} s") from None

    def cancel(self, mode="immediate"):
        self.cancelled = True
        self.final_output = None
        self._stopped.set()


@dataclass
class RunnerCall:
    agent: object
    input: str
    api_key: str | None  # OPENAI_API_KEY as the script left it when it started the run


class FakeRunner:
    """Replaces Runner.run_streamed; records each call and returns `run`."""

    def __init__(self):
        self.run = FakeRun(events=[])
        self.calls: list[RunnerCall] = []

    def run_streamed(self, agent, input, **kwargs):
        self.calls.append(RunnerCall(agent, input, os.environ.get("OPENAI_API_KEY")))
        return self.run
