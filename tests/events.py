"""Stream events built from the SDK's own classes, for replay through a stubbed Runner."""

import httpx2
import openai
from agents import (
    Agent,
    AgentUpdatedStreamEvent,
    MessageOutputItem,
    RawResponsesStreamEvent,
    RunItemStreamEvent,
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
