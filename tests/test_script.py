"""What a user sees, with the script run in this process against the loopback server: real SDK, real
HTTP, nothing stubbed. Each test checks the exit code, standard output and standard error."""

import asyncio
import re
import time

import agents
import pytest
from agents.models import get_default_model
from agents.testing import ScriptedModel, assistant_message
from conftest import ANSWER, KEY, START, script
from openai_server import QUOTA_ERROR, Scenario, error_body
from test_streaming import settings

CLOSING = r"=== Stream Complete \((.*)\) ===\n"


def complete(outcome, answer: str = ANSWER) -> str:
    """Assert a run that streamed `answer` and closed; return the closing line's facts."""
    assert (outcome.exit_code, outcome.stderr) == (0, "")
    closing = re.fullmatch(re.escape(START + answer + "\n") + CLOSING, outcome.stdout)
    assert closing, outcome.stdout
    return closing[1]


# --- The lesson's options -----------------------------------------------------------------------------


def test_default_run_asks_the_tutorials_question_of_the_sdks_default_model(run, server):
    facts = complete(run())

    assert re.fullmatch(
        rf"{get_default_model()}, first token \S+ s, total \S+ s, 25 in / 8 out tokens", facts
    )
    [request] = server.requests
    assert request["model"] == get_default_model()
    assert request["instructions"] == "You are a helpful assistant that explains things clearly."
    assert request["input"] == [
        {"role": "user", "content": "Explain recursion in programming in simple terms."}
    ]
    assert server.request_headers[0]["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--model", "Qwen/Qwen2.5-1.5B-Instruct"], {}), ([], {"OPENAI_DEFAULT_MODEL": "openai/GPT-OSS-20b"})],
    ids=["--model", "OPENAI_DEFAULT_MODEL"],
)
def test_model_name_reaches_the_server_as_typed(run, server, args, env):
    complete(run(*args, env=env))

    assert server.requests[0]["model"] == (args or [None, "openai/GPT-OSS-20b"])[1]


def test_prompt_argument_and_piped_prompt_are_what_the_agent_is_asked(run, server):
    complete(run("What is a closure?"))
    complete(run(stdin="  What is a generator?\n"))

    assert [request["input"][0]["content"] for request in server.requests] == [
        "What is a closure?",
        "What is a generator?",
    ]


def test_env_file_beside_the_script_gives_the_key_and_the_environment_wins(run, server, environment):
    environment.write_text("OPENAI_API_KEY=sk-from-dotenv\nOPENAI_BASE_URL=http://127.0.0.1:9/v1\n")

    complete(run(env={"OPENAI_API_KEY": None, "OPENAI_BASE_URL": server.base_url}))

    assert server.request_headers[0]["authorization"] == "Bearer sk-from-dotenv"


@pytest.mark.parametrize(
    ("base_url", "traced"), [("https://api.openai.com/v1", True), ("http://127.0.0.1:9/v1", False)]
)
def test_runs_are_traced_only_for_openais_own_server(base_url, traced):
    traces = []

    class Recorder(agents.TracingProcessor):
        on_trace_start = traces.append
        on_trace_end = on_span_start = on_span_end = shutdown = force_flush = lambda *args: None

    agents.set_trace_processors([Recorder()])
    try:
        asyncio.run(
            script.main(settings(base_url=base_url, model=ScriptedModel([[assistant_message("Hi")]])))
        )
    finally:
        agents.set_trace_processors([])
    assert bool(traces) == traced


# --- Promises a user would lose silently ----------------------------------------------------------------


@pytest.mark.parametrize("close", ["reset", "hold"])
def test_answer_stands_once_response_completed_arrived(run, server, close):
    server.scenario = Scenario(close=close)  # then the connection breaks, or stays open, silent
    started = time.monotonic()

    complete(run("--timeout", "60"))
    assert time.monotonic() - started < 30


def test_secrets_are_never_printed(run, server):
    server.scenario = Scenario(
        status=401, error_body=error_body(f"Incorrect API key provided: {KEY}.", "x", "y")
    )
    url = server.base_url.replace("//", "//alice:pw-9d2f0c@")

    outcome = run(env={"OPENAI_BASE_URL": url})

    assert outcome.stderr == (
        f"error: HTTP 401 from {server.base_url}: Incorrect API key provided: [key]. "
        "Check the user name and password in OPENAI_BASE_URL, which go instead of the key.\n"
    )


def test_closing_line_shows_the_servers_model_on_one_line_and_unreported_tokens_as_such(run, server):
    server.scenario = Scenario(served_model=f"gpt-4o\x1b[2J\n{KEY}", usage=False)

    facts = complete(run())

    assert re.fullmatch(r"gpt-4o\?\[2J \[key\], first token \S+ s, total \S+ s, tokens not reported", facts)


# --- The failure rule: one line on stderr, with the words a user needs, after what already streamed -----

RETRY_AT_ONCE = {"retry-after-ms": "1"}  # spares the client's backoff before its two retries
FAILURES = {
    "401": (
        Scenario(
            status=401, error_body=error_body(f"Incorrect API key provided: {KEY}.", "x", "invalid_api_key")
        ),
        "",
        "HTTP 401 from {url}: Incorrect API key provided: [key]. Check OPENAI_API_KEY.",
    ),
    "404": (
        Scenario(status=404, error_body=b'{"detail":"Not Found"}'),
        "",
        "HTTP 404 from {url}: Not Found. "
        "Check the model's name, and that the server serves the Responses API.",
    ),
    "429 quota": (
        Scenario(status=429, error_body=QUOTA_ERROR, extra_headers=RETRY_AT_ONCE),
        "",
        f"HTTP 429 from {{url}}: {QUOTA_ERROR['error']['message']} "
        "Wait and try again, or check your plan's limits and billing.",
    ),
    "reset mid-answer": (
        Scenario(cut_after=2),
        "Recursion is",
        "the stream from {url} ended before the answer was complete.",
    ),
    "response.failed": (
        Scenario(deltas=["Recursion"], ending="failed"),
        "Recursion",
        "the server sent an error: The model crashed.",
    ),
    "response.incomplete": (
        Scenario(ending="incomplete"),
        ANSWER,
        "the answer was cut off (max_output_tokens).",
    ),
    "error event": (
        Scenario(deltas=[], ending="error", error=QUOTA_ERROR["error"]),
        "",
        f"the server sent an error: {QUOTA_ERROR['error']['message']}",
    ),
    "silent server": (
        Scenario(stall_after=2),
        "Recursion is",
        "timed out: {url} sent nothing for 0.5 s (see --timeout).",
    ),
    "no connection": (None, "", "could not connect to http://127.0.0.1:9/v1: Connection refused."),
}


@pytest.mark.parametrize(("scenario", "partial", "message"), FAILURES.values(), ids=FAILURES.keys())
def test_failure_is_one_line_saying_why_after_what_streamed(run, server, scenario, partial, message):
    server.scenario = scenario or Scenario()
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"} if scenario is None else {}

    outcome = run("--timeout", "0.5" if "timed out" in message else "60", env=env)

    assert outcome.exit_code == 1
    assert outcome.stdout == START + partial + "\n"
    assert outcome.stderr == f"error: {message.format(url=server.base_url)}\n"


# --- Settings that cannot work: exit 2, one line, before any request -----------------------------------

SETTINGS = {
    "no key": (
        [],
        {"OPENAI_API_KEY": ""},
        "OPENAI_API_KEY (from the environment) is blank: put your key after OPENAI_API_KEY= in {env_file} "
        "(copy .env.example to start it), or try `uv run tests/demo.py`, which needs none.",
    ),
    "a header value": (
        [],
        {"OPENAI_ORG_ID": "org-café"},
        "OPENAI_ORG_ID (from the environment) 'org-café' "
        "has a space, line break or non-ASCII character in it.",
    ),
    "the base URL": (
        [],
        {"OPENAI_BASE_URL": "localhost:11434/v1"},
        "OPENAI_BASE_URL (from the environment) 'localhost:11434/v1' is not an http(s) URL with a host, "
        "such as http://localhost:11434/v1.",
    ),
    "a blank model": (["--model", " "], {}, "--model is blank."),
    "a blank prompt": ([""], {}, "the prompt argument is blank."),
    "a client that cannot be built": (
        [],
        {"HTTPS_PROXY": "http://bob:pw-9d2f0c@proxy:port"},
        "HTTPS_PROXY (from the environment) 'http://proxy:port' cannot be used: Invalid port: 'port'.",
    ),
    "a port that cannot be": (
        [],
        {"OPENAI_BASE_URL": "http://localhost:99999/v1"},
        "OPENAI_BASE_URL (from the environment) 'http://localhost:99999/v1' cannot be used: "
        "Port out of range 0-65535.",
    ),
    "text that cannot be sent": (["What is \udcff?"], {}, "the prompt argument is not UTF-8 text."),
    "an unknown option": (["--bogus"], {}, "unrecognized arguments: --bogus (see --help)."),
    "--timeout": (["--timeout", "0"], {}, "--timeout must be a number of seconds above 0."),
}


@pytest.mark.parametrize(("args", "env", "message"), SETTINGS.values(), ids=SETTINGS.keys())
def test_setting_that_cannot_work_is_named_before_any_request(run, server, environment, args, env, message):
    outcome = run(*args, env=env)

    assert (outcome.exit_code, outcome.stdout, server.requests) == (2, "", [])
    assert outcome.stderr == f"error: {message.format(env_file=environment)}\n"


def test_undecodable_piped_prompt_is_named(run, server):
    outcome = run(stdin=b"\xff\xfe")

    assert (outcome.exit_code, outcome.stderr) == (
        2,
        "error: the prompt on standard input is not UTF-8 text.\n",
    )
