"""What 3runasyncstreaming.py does, checked by replaying SDK events through a stubbed Runner.

Each test runs the script in this process (see conftest.py) with Runner.run_streamed
replaced by a FakeRun that replays events built from the SDK's own classes (events.py).
"""

import asyncio
import json
import re
import signal
import sys
import threading
from dataclasses import dataclass

import agents
import openai
import pytest
from agents import MaxTurnsExceeded, ModelBehaviorError, ModelRefusalError
from conftest import ROOT
from events import (
    REQUEST,
    FakeRun,
    answer,
    closing,
    error_event,
    failed,
    http_error,
    incomplete,
    opening,
    status_error,
    text_delta,
)

START = "=== Starting Stream ===\n"
SECRET_KEY = "sk-test-secret-0123456789"
OPENAI_URL = "https://api.openai.com/v1"
LOCAL_URL = "http://localhost:11434/v1"
CLASS_NAME = re.compile(r"\b\w+(Error|Exception|Exceeded)\b")


@pytest.fixture(autouse=True)
def api_key(script_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)


class Clock:
    """The time the script reads from its event loop's time().

    It stands still, except where a ClockedRun replays a pause.
    """

    def __init__(self):
        self.now = 100.0

    def pause(self, seconds: float) -> "Pause":
        return Pause(self, seconds)


@dataclass
class Pause:
    clock: Clock
    seconds: float


class ClockedRun(FakeRun):
    """A FakeRun whose events may hold pauses: the time that passes between two events."""

    async def stream_events(self):
        async for event in super().stream_events():
            if isinstance(event, Pause):
                event.clock.now += event.seconds
            else:
                yield event


@pytest.fixture
def clock(monkeypatch):
    """Time that passes only where the replayed run says so."""
    clock = Clock()
    real_time = asyncio.BaseEventLoop.time
    script_thread = threading.main_thread()

    def loop_time(loop):
        # Only the script's loop: the loopback servers' loops, in other threads, keep real time.
        return clock.now if threading.current_thread() is script_thread else real_time(loop)

    monkeypatch.setattr(asyncio.BaseEventLoop, "time", loop_time)
    return clock


class TerminalStdout:
    """A stdout that remembers what was flushed, as a terminal would show it."""

    def __init__(self):
        self.pending, self.flushed = "", ""

    def reconfigure(self, **options):
        pass  # the script asks for UTF-8 and line buffering; this stand-in needs neither

    def write(self, text):
        self.pending += text
        return len(text)

    def flush(self):
        self.flushed += self.pending
        self.pending = ""


def streamed(*items) -> list:
    """The opening events, then a delta for each string and each other item as it is."""
    return [*opening(), *(text_delta(item) if isinstance(item, str) else item for item in items)]


# --- A run that succeeds ------------------------------------------------------------------------


def test_stdout_is_the_banners_around_the_deltas_and_nothing_else(run_script, fake_runner, clock):
    deltas = ["Recursion", " is a function", "\ncalling itself."]
    fake_runner.run = ClockedRun(
        [
            *opening(),
            clock.pause(0.41),
            *map(text_delta, deltas),
            *closing("".join(deltas)),
            clock.pause(2.79),
        ]
    )

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


def test_answer_without_text_leaves_out_the_first_token_time(run_script, fake_runner):
    fake_runner.run = FakeRun(answer())

    outcome = run_script()

    assert outcome.exit_code == 0
    closing_line = r"=== Stream Complete \(total \d+\.\d s, 25 in / 311 out tokens\) ===\n"
    assert re.fullmatch(re.escape(START) + r"\n" + closing_line, outcome.stdout)


class CancelledRun(ClockedRun):
    """Something calls result.cancel() after the first delta; the stream then ends quietly."""

    async def stream_events(self):
        async for event in super().stream_events():
            yield event
            if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
                self.cancel()


def test_cancelled_run_is_reported_as_cancelled_not_complete(run_script, fake_runner, clock):
    fake_runner.run = CancelledRun(
        [*opening(), clock.pause(0.41), text_delta("Recursion"), clock.pause(2.79), *answer(" is")[4:]]
    )

    outcome = run_script()

    assert outcome.exit_code == 0
    assert outcome.stdout == (
        START
        + "Recursion\n=== Stream Cancelled (first token 0.41 s, total 0.4 s, 25 in / 311 out tokens) ===\n"
    )
    assert outcome.stderr == ""


def test_events_flag_logs_every_event_to_stderr_and_keeps_stdout_clean(run_script, fake_runner):
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


# --- The agent, the prompt and the model --------------------------------------------------------


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


def test_prompt_is_read_from_piped_standard_input(run_script, fake_runner):
    fake_runner.run = FakeRun(answer("Hi"))

    run_script(stdin="What is a closure?\nAnswer in one line.\n")

    assert fake_runner.calls[0].input == "What is a closure?\nAnswer in one line."


@pytest.mark.parametrize("stdin", ["", " \n\t\n"], ids=["empty", "blank"])
def test_blank_standard_input_gives_the_default_prompt(run_script, fake_runner, stdin):
    fake_runner.run = FakeRun(answer("Hi"))

    outcome = run_script(stdin=stdin)

    assert outcome.exit_code == 0
    assert fake_runner.calls[0].input == "Explain recursion in programming in simple terms."


def test_prompt_argument_wins_over_standard_input(run_script, fake_runner):
    fake_runner.run = FakeRun(answer("Hi"))

    run_script("What is a closure?", stdin="What is a monad?\n")

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


# --- Settings: .env and the environment ---------------------------------------------------------


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


# --- Settings checked before any request: exit 2, one line, the Runner never called -------------


def assert_refused_before_any_request(outcome, fake_runner, problem: str):
    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    assert outcome.stderr == f"error: {problem}\n"
    assert fake_runner.calls == []


def test_missing_key_exits_2_with_a_hint(run_script, fake_runner, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")

    outcome = run_script()

    assert_refused_before_any_request(
        outcome, fake_runner, "no OPENAI_API_KEY: add your key to .env (copy .env.example to .env first)."
    )


def test_key_left_empty_in_env_file_counts_as_missing(run_script, fake_runner, script_dir, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    (script_dir / ".env").write_text((ROOT / ".env.example").read_text())

    outcome = run_script()

    assert_refused_before_any_request(
        outcome, fake_runner, "no OPENAI_API_KEY: add your key to .env (copy .env.example to .env first)."
    )


@pytest.mark.parametrize(
    "env_file", [None, "OPENAI_API_KEY=sk-from-dotenv\n"], ids=["no .env", "key in .env"]
)
def test_key_exported_empty_exits_2_as_it_wins_over_env_file(
    run_script, fake_runner, script_dir, monkeypatch, env_file
):
    monkeypatch.setenv("OPENAI_API_KEY", "")
    if env_file:
        (script_dir / ".env").write_text(env_file)

    outcome = run_script()

    assert_refused_before_any_request(
        outcome, fake_runner, "OPENAI_API_KEY is set but empty in the environment, which wins over .env."
    )


@pytest.mark.parametrize(
    "key",
    [
        SECRET_KEY + " ",
        SECRET_KEY + "\n",
        "sk-test\tsecret-0123456789",
        "\u201csk-test-secret-0123456789\u201d",
    ],
    ids=["trailing space", "newline", "tab", "curly quotes"],
)
def test_key_with_whitespace_or_non_ascii_exits_2_without_printing_it(
    run_script, fake_runner, monkeypatch, key
):
    monkeypatch.setenv("OPENAI_API_KEY", key)

    outcome = run_script()

    assert_refused_before_any_request(
        outcome, fake_runner, "OPENAI_API_KEY has whitespace or non-ASCII in it."
    )
    assert "secret" not in outcome.stderr


@pytest.mark.parametrize("base_url", ["localhost:11434/v1", "ftp://example.com/v1"])
def test_base_url_that_is_not_http_exits_2(run_script, fake_runner, monkeypatch, base_url):
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)

    outcome = run_script()

    assert_refused_before_any_request(outcome, fake_runner, f"OPENAI_BASE_URL '{base_url}' is not http(s).")
    assert SECRET_KEY not in outcome.stderr


@pytest.mark.parametrize("model", ["", "   "], ids=["empty", "whitespace"])
def test_empty_model_exits_2(run_script, fake_runner, model):
    outcome = run_script("--model", model)

    assert_refused_before_any_request(outcome, fake_runner, "--model is empty.")


@pytest.mark.parametrize(
    ("args", "stdin"),
    [([""], ""), ([" \t "], ""), ([""], "What is a closure?\n")],
    ids=["empty argument", "whitespace argument", "empty argument beats stdin"],
)
def test_empty_prompt_exits_2(run_script, fake_runner, args, stdin):
    outcome = run_script(*args, stdin=stdin)

    assert_refused_before_any_request(outcome, fake_runner, "the prompt is empty.")


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf"])
def test_timeout_that_is_not_a_positive_number_of_seconds_exits_2(run_script, fake_runner, timeout):
    outcome = run_script("--timeout", timeout)

    assert_refused_before_any_request(outcome, fake_runner, "--timeout must be a number of seconds above 0.")


def test_unknown_option_exits_2_with_usage(run_script, fake_runner):
    outcome = run_script("--colour")

    assert outcome.exit_code == 2
    assert "unrecognized arguments: --colour" in outcome.stderr
    assert fake_runner.calls == []


# --- Failures: exit 1, the partial answer kept, one line on stderr ------------------------------

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
        "the server answered HTTP 429: You exceeded your current quota.",
    ),
    "429 rate limit": (
        status_error(openai.RateLimitError, 429, "Rate limit reached for gpt-4o.", "rate_limit_exceeded"),
        BEFORE_STREAM,
        "the server answered HTTP 429: Rate limit reached for gpt-4o.",
    ),
    "other HTTP status": (
        status_error(openai.NotFoundError, 404, "The model 'gpt-9' does not exist.", "model_not_found"),
        BEFORE_STREAM,
        "the server answered HTTP 404: The model 'gpt-9' does not exist.",
    ),
    "HTTP status with an empty body": (
        http_error(503, ""),
        BEFORE_STREAM,
        "the server answered HTTP 503: Service Unavailable",
    ),
    "no connection": (
        openai.APIConnectionError(request=REQUEST),
        BEFORE_STREAM,
        "could not connect to https://api.openai.com/v1.",
    ),
    "client read timeout": (
        openai.APITimeoutError(request=REQUEST),
        ["Recursion"],
        "timed out: https://api.openai.com/v1 sent nothing for 300 s (see --timeout).",
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
    "invalid JSON": (
        json.JSONDecodeError("Expecting value", "{oops", 1),
        ["Recursion"],
        "https://api.openai.com/v1 sent a stream event that is not valid JSON.",
    ),
    "SDK error after a complete answer": (
        ModelBehaviorError("Invalid JSON when parsing the final output."),
        ["Recursion", *closing("Recursion")[:2]],
        "the run failed: Invalid JSON when parsing the final output.",
    ),
    "other AgentsException": (
        MaxTurnsExceeded("Max turns (10) exceeded"),
        ["Recursion"],
        "the run failed: Max turns (10) exceeded",
    ),
}


def failing_run(error, items) -> FakeRun:
    if items is BEFORE_STREAM:
        return FakeRun(opening()[:1], error=error)
    return FakeRun(streamed(*items), error=error)


@pytest.mark.parametrize(("error", "items", "message"), FAILURES.values(), ids=FAILURES.keys())
def test_failure_exits_1_with_one_line_and_keeps_partial_output(
    run_script, fake_runner, error, items, message
):
    fake_runner.run = failing_run(error, items)
    partial = "".join(item for item in items or [] if isinstance(item, str))

    outcome = run_script()

    assert outcome.exit_code == 1
    assert outcome.stdout == START + partial + "\n"  # the line is ended even when no text came
    assert outcome.stderr == f"error: {message}\n"
    assert SECRET_KEY not in outcome.stdout + outcome.stderr


def test_connection_failure_names_the_configured_base_url(run_script, fake_runner, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", LOCAL_URL)
    fake_runner.run = FakeRun(opening()[:1], error=openai.APIConnectionError(request=REQUEST))

    outcome = run_script()

    assert outcome.stderr == f"error: could not connect to {LOCAL_URL}.\n"


def test_connection_failure_drops_the_trace_instead_of_retrying_its_export(
    run_script, fake_runner, monkeypatch
):
    trace_processors = []
    monkeypatch.setattr(agents, "set_trace_processors", trace_processors.append)
    fake_runner.run = FakeRun(opening()[:1], error=openai.APIConnectionError(request=REQUEST))

    run_script()

    assert trace_processors == [[]]


@pytest.mark.parametrize(
    "body", ['{"error": "model \'llama9\' not found"}', "model 'llama9' not found\n"], ids=["JSON", "text"]
)
def test_error_body_that_is_only_text_is_shown(run_script, fake_runner, body):
    fake_runner.run = FakeRun(opening()[:1], error=http_error(500, body))

    outcome = run_script()

    assert outcome.stderr == "error: the server answered HTTP 500: model 'llama9' not found\n"


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("404 page not found", "404 page not found"),
        ("", "Not Found"),
    ],
    ids=["text body", "empty body"],
)
def test_404_from_another_server_asks_whether_it_serves_the_responses_api(
    run_script, fake_runner, monkeypatch, body, shown
):
    monkeypatch.setenv("OPENAI_BASE_URL", LOCAL_URL)
    fake_runner.run = FakeRun(opening()[:1], error=http_error(404, body, LOCAL_URL))

    outcome = run_script()

    assert outcome.exit_code == 1
    assert (
        outcome.stderr
        == f"error: {LOCAL_URL} answered HTTP 404 ({shown}); does it serve the Responses API?\n"
    )


@pytest.mark.parametrize(
    "base_url",
    [
        None,
        OPENAI_URL,
        OPENAI_URL + "/",
    ],
    ids=["default", "openai", "openai with a trailing slash"],
)
def test_404_from_openai_gets_no_responses_api_hint(run_script, fake_runner, monkeypatch, base_url):
    if base_url:
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    not_found = status_error(
        openai.NotFoundError, 404, "The model 'gpt-9' does not exist.", "model_not_found"
    )
    fake_runner.run = FakeRun(opening()[:1], error=not_found)

    outcome = run_script()

    assert outcome.stderr == "error: the server answered HTTP 404: The model 'gpt-9' does not exist.\n"


def test_refusal_is_printed_on_stdout_then_a_notice_on_stderr(run_script, fake_runner):
    fake_runner.run = FakeRun(opening(), error=ModelRefusalError("I can't help with that."))

    outcome = run_script()

    assert outcome.exit_code == 1
    assert outcome.stdout == START + "\nI can't help with that.\n"
    assert outcome.stderr == "error: the model refused to answer; its reply is above.\n"


def test_invalid_json_event_names_the_base_url(run_script, fake_runner, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", LOCAL_URL)
    bad_json = json.JSONDecodeError("Expecting property name enclosed in double quotes", "{'delta'}", 1)
    fake_runner.run = FakeRun(streamed("Recursion"), error=bad_json)

    outcome = run_script()

    assert outcome.exit_code == 1
    assert outcome.stdout == START + "Recursion\n"
    assert outcome.stderr == f"error: {LOCAL_URL} sent a stream event that is not valid JSON.\n"


# --- The silence limit --------------------------------------------------------------------------


def test_silence_limit_cancels_the_run_and_exits_1_keeping_partial_output(
    run_script, fake_runner, monkeypatch
):
    monkeypatch.setenv("OPENAI_BASE_URL", LOCAL_URL)
    fake_runner.run = FakeRun(streamed("Recursion"), then_hang=True)

    outcome = run_script("--timeout", "0.05")

    assert fake_runner.run.cancelled
    assert outcome.exit_code == 1
    assert outcome.stdout == START + "Recursion\n"
    assert outcome.stderr == f"error: timed out: {LOCAL_URL} sent nothing for 0.05 s (see --timeout).\n"
    assert "could not connect" not in outcome.stderr


class SlowRun(FakeRun):
    """A server that is slow but never silent for long: 0.4 s after each event."""

    async def stream_events(self):
        async for event in super().stream_events():
            yield event
            await asyncio.sleep(0.4)


def test_silence_limit_counts_from_the_latest_event(run_script, fake_runner):
    # Three events, 1.2 s in all, but never 1 s without one.
    fake_runner.run = SlowRun([text_delta("Re"), text_delta("cur"), text_delta("sion")])

    outcome = run_script("--timeout", "1")

    assert outcome.stderr == ""
    assert outcome.exit_code == 0
    assert outcome.stdout.startswith(START + "Recursion\n=== Stream Complete")


# --- Every message is one line, safe for a terminal, without the key ----------------------------


def test_multi_line_server_message_is_reported_on_one_line(run_script, fake_runner):
    body = "Bad gateway:\n\n   upstream\tclosed\r\n the connection.\n"
    fake_runner.run = FakeRun(opening()[:1], error=http_error(502, body))

    outcome = run_script()

    assert (
        outcome.stderr
        == "error: the server answered HTTP 502: Bad gateway: upstream closed the connection.\n"
    )


def test_terminal_control_codes_from_the_server_never_reach_stderr(run_script, fake_runner):
    body = "\x1b[2J\x1b[31mall is lost\x1b[0m\x07\x08\x00"
    fake_runner.run = FakeRun(opening()[:1], error=http_error(500, body))

    outcome = run_script()

    assert outcome.stderr == "error: the server answered HTTP 500: ?[2J?[31mall is lost?[0m???\n"


def test_long_server_message_is_capped_at_300_characters(run_script, fake_runner):
    fake_runner.run = FakeRun(opening()[:1], error=http_error(500, "x" * 2000))

    outcome = run_script()

    [line] = outcome.stderr.splitlines()
    assert line.startswith("error: the server answered HTTP 500: xxx")
    assert len(line) == len("error: ") + 300


ECHOED_KEY = f"Key {SECRET_KEY} is not allowed; key={SECRET_KEY}"
KEY_ECHOES = {
    "HTTP body": (http_error(400, ECHOED_KEY), []),
    "OpenAI error body": (status_error(openai.BadRequestError, 400, ECHOED_KEY, None), []),
    "404 from another server": (http_error(404, ECHOED_KEY, LOCAL_URL), []),
    "error event": (ModelBehaviorError("terminal event `error`"), [error_event(ECHOED_KEY, "bad_key")]),
    "response.failed": (ModelBehaviorError("terminal event `response.failed`"), [failed(ECHOED_KEY)]),
    "other error": (agents.UserError(ECHOED_KEY), []),
}


@pytest.mark.parametrize(("error", "items"), KEY_ECHOES.values(), ids=KEY_ECHOES.keys())
def test_key_echoed_by_the_server_is_redacted_everywhere(run_script, fake_runner, monkeypatch, error, items):
    monkeypatch.setenv("OPENAI_BASE_URL", LOCAL_URL)
    fake_runner.run = FakeRun(streamed(*items), error=error)

    outcome = run_script()

    assert outcome.exit_code == 1
    assert SECRET_KEY not in outcome.stdout + outcome.stderr
    assert outcome.stderr.count("[key]") == 2


# Every failure the script reports, and what a generic message would be built from.
ALL_FAILURES = {
    **{name: (error, items) for name, (error, items, _) in FAILURES.items()},
    **{f"key echoed in {name}": case for name, case in KEY_ECHOES.items()},
    "refusal": (ModelRefusalError("No."), []),
    "JSON error body": (http_error(500, '{"error": "boom"}'), BEFORE_STREAM),
    "text error body": (http_error(500, "boom"), BEFORE_STREAM),
    "404 from another server": (http_error(404, "404 page not found", LOCAL_URL), BEFORE_STREAM),
    "validation error": (ValueError("1 validation error for ResponseTextDeltaEvent"), ["Re"]),
    "error without a message": (agents.AgentsException(), ["Re"]),
}


@pytest.mark.parametrize(("error", "items"), ALL_FAILURES.values(), ids=ALL_FAILURES.keys())
def test_no_error_line_names_a_python_exception_class(run_script, fake_runner, monkeypatch, error, items):
    fake_runner.run = failing_run(error, items)

    outcome = run_script()

    assert outcome.exit_code == 1
    [line] = outcome.stderr.splitlines()
    assert line.startswith("error: ")
    assert not CLASS_NAME.search(line), line


# --- Ctrl+C -------------------------------------------------------------------------------------


class InterruptedRun(FakeRun):
    """Replays its events, then the user presses Ctrl+C while the next one is awaited."""

    async def stream_events(self):
        for event in self.events:
            yield event
        signal.raise_signal(signal.SIGINT)
        await asyncio.sleep(30)


def test_ctrl_c_exits_130_silently_and_keeps_partial_output(run_script, fake_runner):
    fake_runner.run = InterruptedRun(streamed("Recursion", " is"))

    outcome = run_script()

    assert outcome.exit_code == 130
    assert outcome.stdout == START + "Recursion is\n"
    assert outcome.stderr == ""


# --- Tracing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "disabled"),
    [(None, []), ("https://api.openai.com/v1/", []), (LOCAL_URL, [True])],
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
