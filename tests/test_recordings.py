"""Against the recordings in ../shared/: the loopback server sends what OpenAI sends, and the script
reads what LiteLLM and Llama Stack send. Without ../shared/ beside the checkout, this file is skipped."""

import json
import re

import httpx2
import pytest
from conftest import ROOT
from openai_server import QUOTA_ERROR, OpenAIServer, Scenario, read_events, replay

RECORDINGS = ROOT.parent / "shared"
if not RECORDINGS.exists():
    pytest.skip("../shared/ (the recorded streams) is not beside this checkout", allow_module_level=True)
WIRE = RECORDINGS / "openai-wire"
REQUEST = {"model": "gpt-4o", "input": "Hi", "stream": True}


def post(server: OpenAIServer, scenario: Scenario) -> httpx2.Response:
    server.scenario = scenario
    return httpx2.post(f"{server.base_url}/responses", json=REQUEST)


def shape(value):
    """Keys all the way down; lists by their first item."""
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return {key: shape(item) for key, item in value.items()} if isinstance(value, dict) else None


@pytest.mark.parametrize("name", ["resp_gpt-4.1_text_short", "resp_gpt-5.1_text_newrelic"])
def test_plain_answer_has_the_recorded_events_in_openais_framing(server, name):
    recorded = read_events((WIRE / f"{name}.sse").read_bytes())
    deltas = [event["delta"] for event in recorded if event["type"] == "response.output_text.delta"]
    response = post(server, Scenario(deltas=deltas))
    generated = read_events(response.content)

    assert re.fullmatch(rb'(event: ([\w.]+)\ndata: \{"type":"\2"[^\n]*\n\n)+', response.content)
    assert [event["type"] for event in generated] == [event["type"] for event in recorded]
    assert [event["sequence_number"] for event in generated] == list(range(len(recorded)))
    if name == "resp_gpt-5.1_text_newrelic":  # the newest field set
        assert [shape(event) for event in generated] == [shape(event) for event in recorded]


def test_failed_ending_is_the_recorded_in_stream_failure(server):
    recorded = read_events((WIRE / "resp_gpt-5_stream_error_insufficient_quota.sse").read_bytes())
    scenario = Scenario(deltas=[], ending="failed", error=QUOTA_ERROR["error"])
    generated = read_events(post(server, scenario).content)

    assert [event["type"] for event in generated] == [event["type"] for event in recorded]
    assert generated[2]["error"] == recorded[2]["error"]
    assert generated[3]["response"]["error"] == recorded[3]["response"]["error"]


def test_http_error_body_is_the_recorded_json_indented_as_openai_sends_it(server):
    recorded = json.loads((WIRE / "http429_insufficient_quota.body.json").read_text())
    response = post(server, Scenario(status=429, error_body=QUOTA_ERROR))

    assert response.status_code == 429 and response.headers["content-type"].startswith("application/json")
    assert response.content == json.dumps(recorded, indent=2).encode()


@pytest.mark.parametrize("path", sorted(RECORDINGS.glob("*-wire/*.sse")), ids=lambda path: path.stem)
def test_recorded_body_is_replayed_byte_for_byte(server, path):
    assert post(server, replay(path)).content == path.read_bytes()


# Each recording's exit code, and its error line or the closing line's model and tokens.
PEERS = {
    "litellm-1.108.7_text": (0, "mock-chat, .* 8 in / 26 out tokens"),
    "llamastack-0.7.3_text": (0, "openai/mock-chat, .* 12 in / 17 out tokens"),
    "llamastack-0.7.3_nofinish": (0, "openai/mock-nofinish, .* tokens not reported"),  # cut, yet "completed"
    "llamastack-0.7.3_length": (1, "error: the answer was cut off (length)."),
    "llamastack-0.7.3_429": (1, "error: the response failed: Rate limit reached (mock)."),
    "llamastack-0.7.3_midstream": (
        1,
        "error: the response failed: An unexpected error occurred while generating the response.",
    ),
    "llamastack-0.7.3_upstream_down": (
        1,
        "error: the response failed: An unexpected error occurred while generating the response.",
    ),
    "llamastack-0.7.3_nosuchmodel": (
        1,
        "error: the server sent an error: "
        "Model 'nosuchmodel' not found. Use 'client.models.list()' to list available Models.",
    ),
}


@pytest.mark.parametrize(("name", "expected"), PEERS.items(), ids=PEERS.keys())
def test_peer_server_stream_is_read_to_its_end(run, server, name, expected):
    server.scenario = replay(RECORDINGS / "peer-wire" / f"{name}.sse")

    outcome = run()

    exit_code, words = expected
    assert outcome.exit_code == exit_code
    if exit_code:
        assert outcome.stderr == words + "\n"
    else:
        assert outcome.stderr == "" and re.search(rf"=== Stream Complete \({words}\) ===\n$", outcome.stdout)
