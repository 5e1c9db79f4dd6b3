"""The loopback server speaks the wire format of real OpenAI streams.

The end-to-end tests are only as good as this server, so it is checked over real HTTP
against the format described in ../shared/openai-wire/README.md, and, where that folder
of recordings is present, against the recordings themselves.
"""

import contextlib
import http.client
import json
import time
from pathlib import Path

import pytest
from openai.types.responses import ResponseStreamEvent
from openai_server import QUOTA_ERROR, OpenAIServer, Scenario, error_body, read_sse
from pydantic import TypeAdapter, ValidationError

RECORDINGS = Path(__file__).resolve().parent.parent.parent / "shared" / "openai-wire"
PLAIN_ANSWER_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def post(server: OpenAIServer, scenario: Scenario, connection=None) -> http.client.HTTPResponse:
    server.scenario = scenario
    connection = connection or http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    body = json.dumps({"model": "gpt-4o", "input": "Hi", "stream": True})
    connection.request("POST", "/v1/responses", body, {"content-type": "application/json"})
    return connection.getresponse()


def sse_events(body: bytes) -> list[tuple[str, dict]]:
    """(event line, parsed data) for each event; fails on any other framing."""
    text = body.decode()
    assert text.endswith("\n\n"), "the body must end with a blank line, or the last event is never dispatched"
    events = []
    for block in text.removesuffix("\n\n").split("\n\n"):
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        events.append((event_line.removeprefix("event: "), json.loads(data_line.removeprefix("data: "))))
    return events


def read_for(response: http.client.HTTPResponse, seconds: float) -> bytes:
    """What arrives within `seconds`, or until the socket timeout passes with nothing new."""
    body, deadline = b"", time.monotonic() + seconds
    with contextlib.suppress(TimeoutError):
        while time.monotonic() < deadline and (chunk := response.read1()):
            body += chunk
    return body


def noticed_within(seconds: float, condition) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()


@pytest.fixture
def server():
    with OpenAIServer() as server:
        yield server


def test_stream_is_chunked_event_stream_with_one_event_and_data_line_per_event(server):
    response = post(server, Scenario(deltas=["Hello", " world"]))
    body = response.read()

    assert response.status == 200
    assert response.getheader("content-type") == "text/event-stream; charset=utf-8"
    assert response.getheader("transfer-encoding") == "chunked"
    assert response.getheader("content-length") is None
    events = sse_events(body)
    assert [name for name, _ in events] == PLAIN_ANSWER_ORDER
    assert all(name == data["type"] and next(iter(data)) == "type" for name, data in events)
    assert b"[DONE]" not in body


def test_sequence_numbers_count_up_from_zero(server):
    events = sse_events(post(server, Scenario(deltas=["a", "b", "c"])).read())

    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))


def test_deltas_carry_text_and_an_obfuscation_padding_to_16_characters(server):
    events = sse_events(post(server, Scenario(deltas=["Hello", " world"])).read())

    deltas = [data for name, data in events if name == "response.output_text.delta"]
    assert [data["delta"] for data in deltas] == ["Hello", " world"]
    assert all(len(data["delta"]) + len(data["obfuscation"]) == 16 for data in deltas)


def test_events_validate_against_the_installed_openai_types(server):
    events = sse_events(post(server, Scenario()).read())

    for _, data in events:
        TypeAdapter(ResponseStreamEvent).validate_python(data)


def test_old_schema_stream_fails_validation_only_at_its_final_event(server):
    events = sse_events(post(server, Scenario(cache_write_tokens=False)).read())

    *others, (_, completed) = events
    for _, data in others:
        TypeAdapter(ResponseStreamEvent).validate_python(data)
    with pytest.raises(ValidationError, match="cache_write_tokens"):
        TypeAdapter(ResponseStreamEvent).validate_python(completed)


def test_http_error_is_a_two_space_indented_json_body(server):
    response = post(
        server,
        Scenario(status=401, error_body=error_body("Bad key.", "invalid_request_error", "invalid_api_key")),
    )
    body = response.read()

    assert response.status == 401
    assert response.getheader("content-type") == "application/json; charset=utf-8"
    assert (
        body
        == json.dumps(
            {
                "error": {
                    "message": "Bad key.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
            indent=2,
        ).encode()
    )


def test_in_stream_failure_is_a_nested_error_event_then_response_failed(server):
    events = sse_events(post(server, Scenario(deltas=[], ending="in_stream_error")).read())

    assert [name for name, _ in events] == [
        "response.created",
        "response.in_progress",
        "error",
        "response.failed",
    ]
    assert events[2][1]["error"] == QUOTA_ERROR
    failed = events[3][1]["response"]
    assert (failed["status"], failed["error"]["code"], failed["usage"]) == (
        "failed",
        "insufficient_quota",
        None,
    )


def test_response_incomplete_gives_max_output_tokens_as_the_reason(server):
    events = sse_events(post(server, Scenario(ending="incomplete")).read())

    name, data = events[-1]
    assert name == "response.incomplete"
    assert data["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_cut_after_drops_the_connection_mid_body(server):
    response = post(server, Scenario(deltas=["a", "b", "c"], cut_after=2))

    with pytest.raises(http.client.IncompleteRead):
        response.read()
    assert len(server.logs[0].delta_write_times) == 2


def test_request_bodies_and_headers_are_recorded(server):
    post(server, Scenario()).read()

    assert server.requests == [{"model": "gpt-4o", "input": "Hi", "stream": True}]
    assert server.request_headers[0]["content-type"] == "application/json"


def recording(name: str) -> list[dict]:
    path = RECORDINGS / name
    if not path.exists():
        pytest.skip(f"the recordings are not beside this checkout ({path})")
    return read_sse(path)


def shape(value):
    """Keys all the way down; lists by their first element."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def test_plain_answer_has_the_fields_of_the_newest_recording(server):
    recorded = recording("resp_gpt-5.1_text_newrelic.sse")
    generated = sse_events(post(server, Scenario(deltas=["six"])).read())

    assert [event["type"] for event in recorded] == [data["type"] for _, data in generated]
    for real, (_, ours) in zip(recorded, generated, strict=True):
        assert shape(ours) == shape(real), f"{real['type']} differs from the recording"


def test_in_stream_failure_has_the_fields_of_the_recording(server):
    recorded = recording("resp_gpt-5_stream_error_insufficient_quota.sse")
    generated = sse_events(post(server, Scenario(deltas=[], ending="in_stream_error")).read())

    assert [event["type"] for event in recorded] == [data["type"] for _, data in generated]
    assert shape(generated[2][1]) == shape(recorded[2])
    assert generated[2][1]["error"] == recorded[2]["error"]


def test_stall_sends_nothing_after_n_deltas_and_notices_the_client_leaving(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=0.3)
    response = post(server, Scenario(deltas=["a", "b", "c"], stall_after=2), connection)
    events = sse_events(read_for(response, 5))

    assert [name for name, _ in events] == PLAIN_ANSWER_ORDER[:6]
    connection.close()
    assert noticed_within(0.5, lambda: server.logs[0].client_gone)
    assert not server.logs[0].finished


def test_keepalive_sends_only_comments_after_n_deltas_until_the_client_leaves(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=1)
    response = post(
        server, Scenario(deltas=["a", "b"], keepalive_after=1, keepalive_interval=0.02), connection
    )
    body = read_for(response, 0.3)

    events, _, comments = body.partition(b"\n\n: keep-alive")
    assert [name for name, _ in sse_events(events + b"\n\n")] == PLAIN_ANSWER_ORDER[:5]
    assert set((b": keep-alive" + comments).split(b"\n\n")) <= {b": keep-alive", b""}
    assert comments.count(b"keep-alive") >= 5
    connection.close()
    assert noticed_within(0.5, lambda: server.logs[0].client_gone)


def test_malformed_sends_one_invalid_data_line_then_ends_the_body(server):
    body = post(server, Scenario(deltas=["a", "b"], malformed_after=1)).read()

    *valid, malformed = body.decode().removesuffix("\n\n").split("\n\n")
    assert [name for name, _ in sse_events("\n\n".join(valid).encode() + b"\n\n")] == PLAIN_ANSWER_ORDER[:5]
    event_line, data_line = malformed.split("\n")
    assert event_line == "event: response.output_text.delta"
    assert data_line.startswith('data: {"type":"response.output_text.delta","delta":"oops"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(data_line.removeprefix("data: "))


def test_raw_error_body_is_sent_verbatim_with_its_content_type(server):
    page = b"<html>\r\n<h1>502 Bad Gateway</h1>\r\n\x1b[31mupstream down\x1b[0m\r\n</html>\r\n"
    response = post(server, Scenario(status=502, raw_error_body=page, error_content_type="text/html"))

    assert response.read() == page
    assert (response.status, response.getheader("content-type")) == (502, "text/html")


def test_refusal_events_validate_and_carry_the_refusal_text_in_order(server):
    refusal = "I'm sorry, but I can't help with that."
    events = sse_events(post(server, Scenario(refusal=refusal)).read())

    parsed = [TypeAdapter(ResponseStreamEvent).validate_python(data) for _, data in events]
    names = [event.type for event in parsed]
    assert names[:4] + names[-4:] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.refusal.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [event.delta for event in parsed if event.type == "response.refusal.delta"]
    assert names[4:-4] == ["response.refusal.delta"] * len(deltas) and len(deltas) > 1
    assert "".join(deltas) == refusal
    assert parsed[-4].refusal == refusal
    assert parsed[-1].response.output[0].content[0].refusal == refusal
