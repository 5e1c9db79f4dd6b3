"""What 3runasyncstreaming.py does, checked by replaying SDK events through a stubbed Runner."""

import asyncio
import re
import signal
import sys
import time

import agents
import openai
import pytest
from agents import MaxTurnsExceeded, ModelBehaviorError
from conftest import ROOT, FakeRun
from events import (
    REQUEST,
    answer,
    closing,
    error_event,
    failed,
    incomplete,
    opening,
    status_error,
    text_delta,
)

START = "=== Starting Stream ===\n"
SECRET_KEY = "sk-test-secret-0123456789"


@pytest.fixture(autouse=True)
def api_key(script_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)


@pytest.fixture
def clock(monkeypatch):
    """perf_counter() readings: run start, first token, end."""
    readings = iter([100.0, 100.41, 103.2])
    monkeypatch.setattr(time, "perf_counter", lambda: next(readings))


class TerminalStdout:
    """A stdout that remembers what was flushed, as a terminal would show it."""

    def __init__(self):
        self.pending, self.flushed = "", ""

    def write(self, text):
        self.pending += text
        return len(text)

    def flush(self):
        self.flushed += self.pending
        self.pending = ""


def test_stdout_is_the_banners_around_the_deltas_and_nothing_else(run_script, fake_runner, clock):
    fake_runner.run = FakeRun(answer("Recursion", " is a function", "\ncalling itself."))

    outcome = run_script()

    assert outcome.stdout == (
        START + "Recursion is a function\ncalling itself.\n"
        "=== Stream Complete (first token 0.41 s, total 3.2 s, 25 in / 311 out tokens) ===\n"
    )
    assert outcome.stderr == ""
    assert outcome.exit_code == 0


def test_each_delta_is_flushed_before_the_next_event_is_read(run_script, fake_runner, monkeypatch):
    deltas = ["Re", "cur", "sion"]
    fake_runner.run = FakeRun(answer(*deltas))
    terminal = TerminalStdout()
    monkeypatch.setattr(sys, "stdout", terminal)

    run_script()

    flushed_after_deltas = fake_runner.run.flushed_at_each_event[len(opening()) :][:3]
    assert flushed_after_deltas == [START + "Re", START + "Recur", START + "Recursion"]


def test_default_agent_and_prompt_are_the_tutorials(run_script, fake_runner):
    fake_runner.run = FakeRun(answer("Hi"))

    run_script()

    [call] = fake_runner.calls
    assert call.agent.name == "Assistant"
    assert call.agent.instructions == "You are a helpful assistant that explains things clearly."
    assert call.agent.model == "gpt-4o"
    assert call.input == "Explain recursion in programming in simple terms."


def test_positional_argument_replaces_the_prompt(run_script, fake_runner):
    fake_runner.run = FakeRun(answer("Hi"))

    run_script("What is a closure?")

    assert fake_runner.calls[0].input == "What is a closure?"


def test_model_flag_picks_the_model(run_script, fake_runner, monkeypatch):
    monkeypatch.setenv("OPENAI_DEFAULT_MODEL", "gpt-4.1")
    fake_runner.run = FakeRun(answer("Hi"))

    run_script("--model", "gpt-4o-mini")

    assert fake_runner.calls[0].agent.model == "gpt-4o-mini"


def test_openai_default_model_sets_the_default(run_script, fake_runner, monkeypatch):
    monkeypatch.setenv("OPENAI_DEFAULT_MODEL", "gpt-4.1")
    fake_runner.run = FakeRun(answer("Hi"))

    run_script()

    assert fake_runner.calls[0].agent.model == "gpt-4.1"


def test_events_flag_logs_every_event_to_stderr_and_keeps_stdout_clean(run_script, fake_runner, clock):
    fake_runner.run = FakeRun(answer("Hello", " world"))

    outcome = run_script("--events")

    assert outcome.stderr.splitlines() == [
        "agent_updated_stream_event Assistant",
        "raw_response_event response.created",
        "raw_response_event response.output_item.added",
        "raw_response_event response.content_part.added",
        "raw_response_event response.output_text.delta",
        "raw_response_event response.output_text.delta",
        "raw_response_event response.output_text.done",
        "raw_response_event response.completed",
        "run_item_stream_event message_output_created",
    ]
    assert outcome.stdout.startswith(START + "Hello world\n=== Stream Complete")


def test_env_file_beside_the_script_is_read(run_script, fake_runner, script_dir, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    (script_dir / ".env").write_text("OPENAI_API_KEY=sk-from-dotenv\nOPENAI_DEFAULT_MODEL=gpt-4.1-mini\n")
    fake_runner.run = FakeRun(answer("Hi"))

    outcome = run_script()

    assert outcome.exit_code == 0
    assert fake_runner.calls[0].api_key == "sk-from-dotenv"
    assert fake_runner.calls[0].agent.model == "gpt-4.1-mini"


def test_env_file_outside_the_script_folder_is_not_read(run_script, fake_runner, script_dir, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    (script_dir.parent / ".env").write_text("OPENAI_API_KEY=sk-from-elsewhere\n")

    outcome = run_script()

    assert outcome.exit_code == 2
    assert fake_runner.calls == []


def test_environment_beats_env_file(run_script, fake_runner, script_dir):
    (script_dir / ".env").write_text("OPENAI_API_KEY=sk-from-dotenv\n")
    fake_runner.run = FakeRun(answer("Hi"))

    run_script()

    assert fake_runner.calls[0].api_key == SECRET_KEY


def test_missing_key_exits_2_with_a_hint_and_never_calls_the_runner(run_script, fake_runner, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")

    outcome = run_script()

    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    assert outcome.stderr == ("error: no OPENAI_API_KEY: copy .env.example to .env and add your key.\n")
    assert fake_runner.calls == []


def test_key_left_empty_in_env_file_counts_as_missing(run_script, fake_runner, script_dir, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    (script_dir / ".env").write_text((ROOT / ".env.example").read_text())

    outcome = run_script()

    assert outcome.exit_code == 2
    assert fake_runner.calls == []


def test_unknown_option_exits_2_with_usage(run_script, fake_runner):
    outcome = run_script("--colour")

    assert outcome.exit_code == 2
    assert "unrecognized arguments: --colour" in outcome.stderr
    assert fake_runner.calls == []


BEFORE_STREAM = None  # the request failed before any response event arrived

FAILURES = {
    "401 invalid key": (
        status_error(
            openai.AuthenticationError, 401, f"Incorrect API key provided: {SECRET_KEY}.", "invalid_api_key"
        ),
        BEFORE_STREAM,
        "the API key was rejected (HTTP 401). Check OPENAI_API_KEY.",
    ),
    "429 quota": (
        status_error(openai.RateLimitError, 429, "You exceeded your current quota.", "insufficient_quota"),
        BEFORE_STREAM,
        "your quota is used up (HTTP 429 insufficient_quota). Check your plan and billing.",
    ),
    "429 rate limit": (
        status_error(openai.RateLimitError, 429, "Rate limit reached for gpt-4o.", "rate_limit_exceeded"),
        BEFORE_STREAM,
        "rate limited (HTTP 429). Wait a moment and try again.",
    ),
    "other HTTP status": (
        status_error(openai.NotFoundError, 404, "The model 'gpt-9' does not exist.", "model_not_found"),
        BEFORE_STREAM,
        "the server answered HTTP 404: The model 'gpt-9' does not exist.",
    ),
    "no connection": (
        openai.APIConnectionError(request=REQUEST),
        BEFORE_STREAM,
        "could not connect to https://api.openai.com/v1.",
    ),
    "stream breaks off": (
        openai.APIConnectionError(request=REQUEST),
        ["Recursion", " is"],
        "the stream from https://api.openai.com/v1 stopped before the answer was complete.",
    ),
    "stream ends without a terminal event": (
        ModelBehaviorError("Model did not produce a final response!"),
        ["Recursion", " is"],
        "the stream from https://api.openai.com/v1 stopped before the answer was complete.",
    ),
    "in-stream error raised by the client": (
        openai.APIError("You exceeded your current quota.", REQUEST, body={"code": "insufficient_quota"}),
        ["Recursion"],
        "the server sent an error: You exceeded your current quota.",
    ),
    "in-stream error event": (
        ModelBehaviorError("Responses stream ended with terminal event `error`."),
        ["Recursion", error_event("The server had an error.", "server_error")],
        "the server sent an error: The server had an error.",
    ),
    "response.failed": (
        ModelBehaviorError("Responses stream ended with terminal event `response.failed`."),
        ["Recursion", failed("The model crashed.")],
        "the response failed: The model crashed.",
    ),
    "response.incomplete": (
        ModelBehaviorError("Responses stream ended with terminal event `response.incomplete`."),
        ["Recursion", " is", incomplete("max_output_tokens")],
        "the answer was cut off (max_output_tokens).",
    ),
    "SDK error after a complete answer": (
        ModelBehaviorError("Invalid JSON when parsing the final output."),
        ["Recursion", *closing("Recursion")[:2]],
        "ModelBehaviorError: Invalid JSON when parsing the final output.",
    ),
    "other AgentsException": (
        MaxTurnsExceeded("Max turns (10) exceeded"),
        ["Recursion"],
        "MaxTurnsExceeded: Max turns (10) exceeded",
    ),
}


@pytest.mark.parametrize(("error", "streamed", "message"), FAILURES.values(), ids=FAILURES.keys())
def test_failure_exits_1_with_one_line_and_keeps_partial_output(
    run_script, fake_runner, error, streamed, message
):
    if streamed is BEFORE_STREAM:
        events, partial = opening()[:1], ""
    else:
        events = [*opening(), *(text_delta(item) if isinstance(item, str) else item for item in streamed)]
        partial = "".join(item for item in streamed if isinstance(item, str))
    fake_runner.run = FakeRun(events, error=error)

    outcome = run_script()

    assert outcome.exit_code == 1
    assert outcome.stdout == START + (partial + "\n" if partial else "")
    assert outcome.stderr == f"error: {message}\n"
    assert SECRET_KEY not in outcome.stdout + outcome.stderr


def test_connection_failure_names_the_configured_base_url(run_script, fake_runner, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:11434/v1")
    fake_runner.run = FakeRun(opening()[:1], error=openai.APIConnectionError(request=REQUEST))

    outcome = run_script()

    assert outcome.stderr == "error: could not connect to http://localhost:11434/v1.\n"


def test_connection_failure_drops_the_trace_instead_of_retrying_its_export(
    run_script, fake_runner, monkeypatch
):
    trace_processors = []
    monkeypatch.setattr(agents, "set_trace_processors", trace_processors.append)
    fake_runner.run = FakeRun(opening()[:1], error=openai.APIConnectionError(request=REQUEST))

    run_script()

    assert trace_processors == [[]]


@pytest.mark.parametrize(
    ("base_url", "disabled"),
    [(None, []), ("https://api.openai.com/v1/", []), ("http://localhost:11434/v1", [True])],
    ids=["default", "openai", "local server"],
)
def test_tracing_is_switched_off_only_for_servers_other_than_openai(
    run_script, fake_runner, monkeypatch, base_url, disabled
):
    if base_url:
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    calls = []
    monkeypatch.setattr(agents, "set_tracing_disabled", calls.append)
    fake_runner.run = FakeRun(answer("Hi"))

    run_script()

    assert calls == disabled


class InterruptedRun(FakeRun):
    """Replays its events, then the user presses Ctrl+C while the next one is awaited."""

    async def stream_events(self):
        for event in self.events:
            yield event
        signal.raise_signal(signal.SIGINT)
        await asyncio.sleep(30)


def test_ctrl_c_exits_130_cancels_the_run_and_keeps_partial_output(run_script, fake_runner):
    fake_runner.run = InterruptedRun([*opening(), text_delta("Recursion"), text_delta(" is")])

    outcome = run_script()

    assert outcome.exit_code == 130
    assert fake_runner.run.cancelled
    assert outcome.stdout == START + "Recursion is\n"
    assert outcome.stderr == "interrupted\n"


def test_answer_without_text_reports_no_first_token(run_script, fake_runner):
    fake_runner.run = FakeRun(answer())

    outcome = run_script()

    assert outcome.exit_code == 0
    closing = r"=== Stream Complete \(first token none, total \d+\.\d s, 25 in / 311 out tokens\) ===\n"
    assert re.fullmatch(re.escape(START) + closing, outcome.stdout)
