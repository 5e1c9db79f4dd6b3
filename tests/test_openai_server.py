"""The loopback server speaks the wire format of real streams.

The end-to-end tests are only as good as this server, so it is checked over real HTTP against the
format described in ../shared/openai-wire/README.md and, where those folders of recordings are
present, against the recordings themselves.
"""

import http.client
import json
import time
from pathlib import Path

import pytest
from openai.types.responses import ResponseStreamEvent
from openai_server import QUOTA_ERROR, OpenAIServer, Scenario, error_body, read_sse, replay
from pydantic import TypeAdapter, ValidationError

RECORDINGS = Path(__file__).resolve().parent.parent.parent / "shared"
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
EVENT = TypeAdapter(ResponseStreamEvent)


def post(server: OpenAIServer, scenario: Scenario, model: str = "gpt-4o") -> http.client.HTTPResponse:
    server.scenario = scenario
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    body = json.dumps({"model": model, "input": "Hi", "stream": True})
    connection.request("POST", "/v1/responses", body, {"content-type": "application/json"})
    return connection.getresponse()


def sse_events(body: bytes) -> list[dict]:
    """The data of each event; fails on any framing but OpenAI's `event:` line, `data:` line, blank line."""
    text = body.decode()
    assert text.endswith("\n\n"), "the body must end with a blank line, or the last event is never dispatched"
    events = []
    for block in text.removesuffix("\n\n").split("\n\n"):
        event_line, data_line = block.split("\n")
        data = json.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {data['type']}" and next(iter(data)) == "type"
        events.append(data)
    return events


def recording(name: str) -> Path:
    path = RECORDINGS / name
    if not path.exists():
        pytest.skip(f"the recordings are not beside this checkout ({path})")
    return path


def shape(value):
    """Keys all the way down; lists by their first element."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


@pytest.fixture
def server():
    with OpenAIServer() as server:
        yield server


def test_stream_is_chunked_sse_in_the_recorded_order_with_numbered_padded_valid_events(server):
    response = post(server, Scenario(deltas=["Hello", " world"]))
    body = response.read()

    assert response.status == 200
    assert response.getheader("content-type") == "text/event-stream; charset=utf-8"
    assert (response.getheader("transfer-encoding"), response.getheader("content-length")) == (
        "chunked",
        None,
    )
    events = sse_events(body)
    assert [event["type"] for event in events] == PLAIN_ANSWER_ORDER
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    deltas = [event for event in events if event["type"] == "response.output_text.delta"]
    assert [event["delta"] for event in deltas] == ["Hello", " world"]
    assert all(len(event["delta"]) + len(event["obfuscation"]) == 16 for event in deltas)
    for event in events:
        EVENT.validate_python(event)


def test_plain_answer_has_the_fields_of_the_newest_recording(server):
    recorded = read_sse(recording("openai-wire/resp_gpt-5.1_text_newrelic.sse"))
    generated = sse_events(post(server, Scenario(deltas=["six"])).read())

    assert [event["type"] for event in generated] == [event["type"] for event in recorded]
    for real, ours in zip(recorded, generated, strict=True):
        assert shape(ours) == shape(real), f"{real['type']} differs from the recording"


def test_in_stream_failure_is_the_recorded_nested_error_event_then_response_failed(server):
    recorded = read_sse(recording("openai-wire/resp_gpt-5_stream_error_insufficient_quota.sse"))
    generated = sse_events(post(server, Scenario(deltas=[], ending="in_stream_error")).read())

    assert [event["type"] for event in generated] == [event["type"] for event in recorded]
    assert shape(generated[2]) == shape(recorded[2])
    assert generated[2]["error"] == recorded[2]["error"] == QUOTA_ERROR
    failed = generated[3]["response"]
    assert (failed["status"], failed["error"]["code"], failed["usage"]) == (
        "failed",
        "insufficient_quota",
        None,
    )


def test_old_schema_stream_fails_strict_validation_only_at_its_final_event(server):
    *others, completed = sse_events(post(server, Scenario(cache_write_tokens=False)).read())

    for event in others:
        EVENT.validate_python(event)
    with pytest.raises(ValidationError, match="cache_write_tokens"):
        EVENT.validate_python(completed)


def test_refusal_events_validate_and_carry_the_refusal_in_order(server):
    refusal = "I'm sorry, but I can't help with that."
    events = [
        EVENT.validate_python(data) for data in sse_events(post(server, Scenario(refusal=refusal)).read())
    ]

    deltas = [event.delta for event in events if event.type == "response.refusal.delta"]
    assert len(deltas) > 1 and "".join(deltas) == refusal
    assert events[-1].response.output[0].content[0].refusal == refusal


def test_http_error_is_a_two_space_indented_json_body(server):
    body = error_body("Bad key.", "invalid_request_error", "invalid_api_key")
    response = post(server, Scenario(status=401, error_body=body))

    assert response.status == 401
    assert response.getheader("content-type") == "application/json; charset=utf-8"
    assert response.read() == json.dumps(body, indent=2).encode()


@pytest.mark.parametrize("model", ["gpt-4o", "Qwen/Qwen2.5-1.5B-Instruct", "openai/openai/mock-chat"])
def test_response_model_is_the_requested_model_as_received(server, model):
    events = sse_events(post(server, Scenario(), model).read())

    assert {event["response"]["model"] for event in events if "response" in event} == {model}
    assert server.requests[0]["model"] == model


def test_null_and_half_surrogate_deltas_and_null_usage_and_content_go_out_as_json(server):
    scenario = Scenario(deltas=[None, "\ud83d"], usage=False, null_content=True)
    body = post(server, scenario).read()

    assert b'"delta":null' in body and b'"delta":"\\ud83d"' in body
    completed = json.loads(body.rsplit(b"data: ", 1)[1])["response"]
    assert completed["usage"] is None and completed["output"][0]["content"] is None


RECORDED_BODIES = [
    *sorted((RECORDINGS / "peer-wire").glob("*.sse")),
    *sorted((RECORDINGS / "openai-wire").glob("resp_*.sse")),
]


@pytest.mark.skipif(not RECORDED_BODIES, reason=f"the recordings are not beside this checkout ({RECORDINGS})")
@pytest.mark.parametrize("path", RECORDED_BODIES or [None], ids=lambda path: path.stem if path else "none")
def test_recorded_body_is_replayed_byte_for_byte_with_its_headers(server, path):
    response = post(server, replay(path))

    assert response.read() == path.read_bytes()
    headers_file = path.with_suffix(".headers")
    if headers_file.exists():
        recorded = headers_file.read_text().splitlines()
        sent = [f"{name}: {value}" for name, value in response.getheaders() if name != "transfer-encoding"]
        assert set(sent) <= set(recorded)


def test_headers_go_out_before_the_first_event_is_due(server):
    response = post(server, Scenario(first_event_delay=0.5))
    headers_at = time.monotonic()
    response.read()

    assert time.monotonic() - headers_at >= 0.5
