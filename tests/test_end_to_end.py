"""The script against a real server: the real SDK, real HTTP and SSE, nothing stubbed.

Every test points the script at the loopback server from openai_server.py through OPENAI_BASE_URL,
with a made-up key, and checks what the user sees (stdout, stderr, the exit code) and what the
server received.

Most tests run the script in this process, with conftest's `run_script`: the SDK is loaded once,
so each run costs hundredths of a second. The failure table is tested here as data: for each row of
the script's FAILURES that the wire can produce, `WIRE` holds the servers that produce it.

A test starts `python 3runasyncstreaming.py` in a process of its own only where the process is the
point: Ctrl+C, pipes and files that close or fill or block, a stopped process, the encoding, and the
.env beside the script. Each such test starts its process itself and waits for it. On Python 3.10,
`.ci/run` runs this whole file again, so the Ctrl+C tests run there too.

Nothing here depends on the machine's speed. A process test waits for what it needs to see, and its
time limit (HANG_LIMIT) only turns a hang into a failure.
"""

import asyncio
import functools
import logging
import os
import pty
import re
import select
import shutil
import signal
import socket
import string
import subprocess
import sys
import termios
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import agents
import pytest
from agents.models import get_default_model
from conftest import ROOT, SCRIPT, SETTINGS_VARIABLES, Outcome
from openai_server import (
    DEFAULT_DELTAS,
    DELTA_TYPES,
    QUOTA_ERROR,
    OpenAIServer,
    Scenario,
    error_body,
    read_sse,
    replay,
)

KEY = "sk-e2e-not-a-real-key-7f3a9c"
PASSWORD, TOKEN = "pw-9d2f0c", "tok-51ce7a"  # in base URLs; never to be printed
START = "=== Starting Stream ===\n"
ANSWER = "".join(DEFAULT_DELTAS)
CLOSING = r"=== Stream Complete \((.+)\) ===\n"
LONG_ANSWER = [f"word{number} " for number in range(400)]
TRICKY_DELTAS = [
    "Family: 👨",  # the ZWJ sequence 👨‍👩‍👧 is split between its code points
    "\u200d👩\u200d",
    "👧. Café: e",  # a combining acute accent arrives in the next delta
    "\u0301. 递",  # CJK split inside a word
    "归. ",
    "עברית וערבית: العودية",  # right-to-left text
    "\n```python\ndef f(n):\n",
    "    return n and f(n - 1)\n```\n",
]
RETRY_AT_ONCE = {"retry-after-ms": "1"}  # spares the openai client's 0.5-1 s backoff before a retry
BAD_KEY = error_body(f"Incorrect API key provided: {KEY}.", "invalid_request_error", "invalid_api_key")
SERVER_ERROR = Scenario(
    status=500,
    error_body=error_body("The server had an error while processing your request.", "server_error", None),
    extra_headers=RETRY_AT_ONCE,
)
RECORDINGS = ROOT.parent / "shared"
HANG_LIMIT = 300  # seconds: a process that runs longer has hung

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def port_that_never_accepts():
    """A port whose accept queue is full, as behind a firewall that drops packets: connecting hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # Linux then queues one connection, and drops further SYNs
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            yield port


@pytest.fixture
def run(run_script, server, caplog):
    """Run the script in this process against `server`, with KEY; `env` adds or replaces variables.

    Its stderr includes what a process of its own would print there through logging's last resort
    (asyncio's "Task exception was never retrieved", say); Python's "Exception ignored" fails the
    test through the warning pytest turns it into (see pytestmark).
    """

    def run(*args: str, env: dict[str, str] | None = None, stdin: str = "") -> Outcome:
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url, **(env or {})}
        outcome = run_script(*args, stdin=stdin, env=env)
        logged = [
            f"{record.getMessage()}\n{record.exc_text or ''}"
            for record in caplog.records
            if record.levelno >= logging.WARNING and record.thread == threading.get_ident()
        ]
        return Outcome(outcome.exit_code, outcome.stdout, outcome.stderr + "".join(logged))

    return run


def assert_clean(outcome: Outcome, events_logged: bool = False) -> None:
    """No traceback, no secret, no terminal control code; at most one line on stderr, or --events' lines."""
    printed = outcome.stdout + outcome.stderr
    for secret in KEY, PASSWORD, TOKEN, "\x1b", "Traceback", "Exception ignored":
        assert secret not in printed
    if events_logged:
        assert all(re.fullmatch(r"\w+_event \S.*", line) for line in outcome.stderr.splitlines())
    else:
        assert outcome.stderr.count("\n") <= 1, outcome.stderr


def assert_complete(outcome: Outcome, answer: str = ANSWER) -> str:
    """Exit 0, the whole answer, then the closing line; return the closing line's facts."""
    assert_clean(outcome)
    assert (outcome.exit_code, outcome.stderr) == (0, "")
    assert outcome.stdout.startswith(START + answer + "\n")
    closing = re.fullmatch(CLOSING, outcome.stdout.removeprefix(START + answer + "\n"))
    assert closing, outcome.stdout
    return closing[1]


# --- The failure table, over the wire ---------------------------------------------------------------


@dataclass
class Case:
    """A server, and how the script is run against it; env values may name {port} and {free_port}."""

    name: str
    scenario: Scenario = field(default_factory=Scenario)
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    partial: str = ""  # what stdout shows between the banner and the line's end
    mentions: str = ""  # a part of the message that the row's template leaves open


def with_tool_call(name: str):
    """The answer, then a call of the tool `name`."""

    def edit(events: list[dict]) -> list[dict]:
        *events, completed = events
        call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": name, "arguments": "{}"}
        response = {**completed["response"], "output": [{**call, "status": "completed"}]}
        return [*events, {**completed, "response": response}]

    return edit


def replacing_the_last_event(event: dict | bytes):
    return lambda events: [*events[:-1], event]


def inserted_after_five(*inserted: dict | bytes):
    return lambda events: [*events[:5], *inserted, *events[5:]]


NOT_JSON = b'data: {"type":"response.output_text.delta","delta":"oops"\n\n'
BARE_ERROR = b'data: {"error": {"message": "Model \'x\' not found.", "code": "404"}}\n\n'
ESCAPES = b"\x1b[31mupstream \x1b]0;pwned\x07exploded\x1b[0m"
SILENT = 60.0  # seconds, far beyond --timeout 0.5
PROXY = "http://127.0.0.1:{free_port}"
# The loopback server as a proxy: it answers for any host, and the base URL's host does not exist.
NOWHERE = "http://llm.invalid/v1"
AS_A_PROXY = {"HTTP_PROXY": "http://127.0.0.1:{port}", "OPENAI_BASE_URL": NOWHERE}
HTML = b"<!doctype html>\n<html><body><h1>Welcome to nginx!</h1></body></html>\n"

# For each row of the script's FAILURES, by its `what`, the servers that produce it.
WIRE = {
    "the answer streamed to the end, or your code called `result.cancel()`": [
        Case("plain answer", partial=ANSWER),
        Case("final event fails strict validation", Scenario(cache_write_tokens=False), partial=ANSWER),
    ],
    ("`response.completed` arrived, then the connection broke or went quiet, or the SDK could not read it"): [
        Case("then reset", Scenario(close="reset"), partial=ANSWER),
        Case("then closed without the final chunk", Scenario(close="fin"), partial=ANSWER),
        Case("then left open", Scenario(close="hold"), ("--timeout", "0.5"), partial=ANSWER),
        Case("message content null", Scenario(null_content=True), partial=ANSWER),
    ],
    "a certificate that fails verification (self-signed, or a proxy's)": [
        Case(
            "self-signed", env={"OPENAI_BASE_URL": "https://127.0.0.1:{tls_port}/v1"}, mentions="self-signed"
        ),
    ],
    "no TLS connection (`https://` to a plain HTTP port, say)": [
        Case(
            "https to the plain HTTP port",
            env={"OPENAI_BASE_URL": "https://127.0.0.1:{port}/v1"},
            mentions="to https://127.0.0.1:{port}/v1 (",
        ),
    ],
    "no connection within 5 s, three times": [
        Case("full accept queue", env={"OPENAI_BASE_URL": "http://127.0.0.1:{stuck_port}/v1"}),
    ],
    "no connection": [
        Case("refused", env={"OPENAI_BASE_URL": "http://127.0.0.1:{free_port}/v1"}),
        Case(
            "dead proxy", env={"HTTP_PROXY": PROXY}, mentions=f"through the proxy {PROXY} (from HTTP_PROXY)"
        ),
        Case(
            "dead proxy with a password",
            env={"HTTP_PROXY": PROXY.replace("//", f"//bob:{PASSWORD}@")},
            mentions=f"through the proxy {PROXY} (from HTTP_PROXY)",
        ),
        Case(
            "dead proxy without a scheme, with a password",
            env={"HTTP_PROXY": PROXY.replace("http://", f"bob:{PASSWORD}@")},
            mentions=f"through the proxy {PROXY} (from HTTP_PROXY)",
        ),
        Case(
            "refused, a token in the base URL's path",
            env={"OPENAI_BASE_URL": f"http://127.0.0.1:{{free_port}}/v1;token={TOKEN}"},
            mentions="could not connect to http://127.0.0.1:{free_port}/v1.",
        ),
    ],
    "a connection, but no HTTP answer that can be read": [
        Case(
            "closed without an answer",
            Scenario(hang_up=True),
            mentions="answer that could be read (Server disconnected",
        ),
    ],
    "HTTP 401 with a user name and password in `OPENAI_BASE_URL`": [
        Case(
            "401",
            Scenario(status=401, error_body=BAD_KEY),
            env={"OPENAI_BASE_URL": f"http://alice:{PASSWORD}@127.0.0.1:{{port}}/v1"},
            mentions="user name and password",
        ),
    ],
    "HTTP 401": [
        Case("401", Scenario(status=401, error_body=BAD_KEY)),
        Case("401 body cut short", Scenario(status=401, error_body=BAD_KEY, error_fault="cut")),
        Case("401 body reset", Scenario(status=401, error_body=BAD_KEY, error_fault="reset")),
        Case("401 body badly gzipped", Scenario(status=401, error_body=BAD_KEY, error_fault="gzip")),
    ],
    "HTTP 407 from a proxy": [
        Case(
            "407",
            Scenario(
                status=407, error_body=b"Proxy Authentication Required\n", error_content_type="text/plain"
            ),
            env=AS_A_PROXY,
            mentions="the proxy http://127.0.0.1:{port} (from HTTP_PROXY) wants",
        ),
        Case(  # the tunnel to an https:// server, as to OpenAI's, is refused
            "407 to CONNECT",
            Scenario(status=407, error_body=b"", error_content_type="text/plain"),
            env={"HTTPS_PROXY": "http://127.0.0.1:{port}", "OPENAI_BASE_URL": "https://llm.invalid/v1"},
            mentions="the proxy http://127.0.0.1:{port} (from HTTPS_PROXY) wants",
        ),
    ],
    "HTTP 404, not from OpenAI": [
        Case(
            "404 detail", Scenario(status=404, error_body=b'{"detail":"Not Found"}'), mentions="(Not Found)"
        ),
    ],
    "any other HTTP status": [
        Case(
            "429 quota",
            Scenario(status=429, error_body={"error": QUOTA_ERROR}, extra_headers=RETRY_AT_ONCE),
            mentions=QUOTA_ERROR["message"],
        ),
        Case(
            "403 echoing the key",
            Scenario(status=403, error_body=error_body(f"The key {KEY} may not use gpt-9.", "x", "x")),
            mentions="The key [key] may not use gpt-9.",
        ),
        Case(
            "502 text page with terminal escapes",
            Scenario(
                status=502, error_body=ESCAPES, error_content_type="text/plain", extra_headers=RETRY_AT_ONCE
            ),
            mentions="?[31mupstream ?]0;pwned?exploded?[0m",
        ),
        Case(
            "503 with an error that is only text",
            Scenario(status=503, error_body=b'{"error": "model not loaded"}', extra_headers=RETRY_AT_ONCE),
            mentions="HTTP 503: model not loaded",
        ),
        Case("500 body badly gzipped", Scenario(**{**vars(SERVER_ERROR), "error_fault": "gzip"})),
        Case(
            "400 through a proxy",
            Scenario(status=400, error_body=error_body("Unknown parameter.", "invalid_request_error", None)),
            env=AS_A_PROXY,
            mentions="through the proxy http://127.0.0.1:{port} (from HTTP_PROXY) answered HTTP 400",
        ),
    ],
    "the server silent for `--timeout` seconds": [
        Case("no headers", Scenario(first_byte_delay=SILENT), ("--timeout", "0.5")),
        Case("headers, then nothing", Scenario(first_event_delay=SILENT), ("--timeout", "0.5")),
        Case("mid-answer", Scenario(stall_after=2), ("--timeout", "0.5"), partial="Recursion is"),
        Case(
            "keep-alive comments only",
            Scenario(keepalive_after=2),
            ("--timeout", "0.5"),
            partial="Recursion is",
        ),
    ],
    "a refusal": [
        Case("refusal", Scenario(refusal="I can't help with that."), partial="\nI can't help with that.")
    ],
    "`response.incomplete`": [Case("max_output_tokens", Scenario(ending="incomplete"), partial=ANSWER)],
    "`response.failed`": [
        Case("after a delta", Scenario(deltas=["Recursion"], ending="failed"), partial="Recursion")
    ],
    "an `error` event, or an error in a stream's data": [
        Case(
            "nested error event",
            Scenario(deltas=[], ending="in_stream_error"),
            mentions=QUOTA_ERROR["message"],
        ),
        Case("bare error data line", Scenario(edit=lambda events: [*events[:2], BARE_ERROR]), mentions="'x'"),
    ],
    "the stream breaks off": [
        Case("reset mid-answer", Scenario(cut_after=2), partial="Recursion is"),
        Case("eof without a terminal event", Scenario(ending="eof"), partial=ANSWER),
    ],
    "an answer that is not a stream of Responses API events": [
        Case("200 text/html page", Scenario(replay=HTML, extra_headers={"content-type": "text/html"})),
    ],
    "an event that is not JSON": [
        Case("truncated JSON", Scenario(edit=inserted_after_five(NOT_JSON)), partial="Recursion")
    ],
    "any other failure of the run": [
        Case("unknown tool", Scenario(edit=with_tool_call("nope")), partial=ANSWER)
    ],
    "anything else": [
        Case(  # the SDK fails reading `response.completed` before it hands the event on
            'schema broken: "response": "done"',
            Scenario(edit=replacing_the_last_event({"type": "response.completed", "response": "done"})),
            partial=ANSWER,
            mentions="(AttributeError; ",
        ),
    ],
}
# The rows that need a process of their own; the tests at the end of this file.
IN_A_PROCESS = {
    "Ctrl+C, at any moment",
    "the reader closed the pipe (`| head`)",
    "output cannot be written",
}


def template_pattern(says: str) -> str:
    """A row's message template as a regular expression: each {field} stands for some text."""
    parts = string.Formatter().parse(says)
    return "".join(re.escape(literal) + (".*" if name is not None else "") for literal, name, _, _ in parts)


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory) -> tuple[Path, Path]:
    if not shutil.which("openssl"):
        pytest.skip("no openssl command to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    subprocess.run([*command.split(), "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


@pytest.mark.parametrize(
    ("what", "case"),
    [pytest.param(what, case, id=case.name) for what, cases in WIRE.items() for case in cases],
)
def test_failure_table_over_the_wire(what, case, run, server, script, monkeypatch, request):
    row = next((row for row in script.FAILURES if row.what == what), None)
    assert row, f"no row of FAILURES is {what!r}"
    server.scenario = case.scenario
    with ExitStack() as stack:
        ports = {"port": server.port, "free_port": free_port(), "stuck_port": "", "tls_port": ""}
        if "{stuck_port}" in str(case.env):
            ports["stuck_port"] = stack.enter_context(port_that_never_accepts())
            monkeypatch.setattr(script, "CONNECT_TIMEOUT", 0.5)  # not 5 s, for each of three attempts
        if "{tls_port}" in str(case.env):
            tls = OpenAIServer(certificate=request.getfixturevalue("self_signed"))
            ports["tls_port"] = stack.enter_context(tls).port
        outcome = run(*case.args, env={name: value.format(**ports) for name, value in case.env.items()})

    assert outcome.exit_code == row.exit_code
    assert_clean(outcome)
    assert outcome.stdout.startswith(START + case.partial + "\n")
    rest = outcome.stdout.removeprefix(START + case.partial + "\n")
    assert re.fullmatch(CLOSING, rest) if row.exit_code == 0 else rest == ""
    if row.says:
        assert re.fullmatch(f"error: {template_pattern(row.says)}\n", outcome.stderr), outcome.stderr
    else:
        assert outcome.stderr == ""
    assert case.mentions.format(**ports) in outcome.stderr


def test_every_row_of_the_failure_table_is_tested(script):
    assert {row.what for row in script.FAILURES} == WIRE.keys() | IN_A_PROCESS


# --- What reaches the server, and what the closing line says ------------------------------------------


def test_default_run_sends_the_tutorials_request_with_the_sdks_default_model(run, server):
    outcome = run()

    assert_complete(outcome)
    [request] = server.requests
    assert request["model"] == get_default_model() != "gpt-4o"
    assert request["instructions"] == "You are a helpful assistant that explains things clearly."
    assert request["input"] == [
        {"role": "user", "content": "Explain recursion in programming in simple terms."}
    ]
    assert request["stream"] is True
    assert server.request_headers[0]["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    "model",
    [
        "Qwen/Qwen2.5-1.5B-Instruct",  # vLLM: Hugging Face repository IDs
        "qwen/qwen3-4b",  # LM Studio
        "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF",  # Ollama
        "openai/gpt-oss-20b",  # LM Studio and vLLM
        "openai/openai/mock-chat",  # Llama Stack's <provider>/<model>, for a model named openai/mock-chat
    ],
)
@pytest.mark.parametrize("given_by", ["--model", "OPENAI_DEFAULT_MODEL"])
def test_model_name_reaches_the_server_as_given(run, server, model, given_by):
    outcome = run("--model", model) if given_by == "--model" else run(env={"OPENAI_DEFAULT_MODEL": model})

    assert assert_complete(outcome).startswith(f"{model}, ")
    assert server.requests[0]["model"] == model


def test_prompt_piped_into_standard_input_reaches_the_request(run, server):
    assert_complete(run(stdin="What is a closure?\n"))

    assert server.requests[0]["input"] == [{"role": "user", "content": "What is a closure?"}]


def test_closing_line_names_the_model_the_server_used_and_counts_from_the_start(run, server):
    server.scenario = Scenario(served_model="gpt-4o-2024-08-06", first_byte_delay=0.3)

    facts = assert_complete(run("--model", "gpt-4o"))

    assert re.fullmatch(r"gpt-4o-2024-08-06, first token (\S+) s, total \S+ s, 25 in / 8 out tokens", facts)
    assert float(re.search(r"first token (\S+) s", facts)[1]) >= 0.3  # from the start, not the headers


def test_usage_the_server_did_not_report_is_not_shown_as_zero(run, server):
    server.scenario = Scenario(usage=False)

    facts = assert_complete(run())

    assert facts.endswith("tokens not reported")
    assert "0 in" not in facts


def test_closing_line_shows_the_servers_model_name_on_one_line_without_the_key(run, server):
    server.scenario = Scenario(served_model=f"gpt-4o\x1b[2J\n{KEY}")

    facts = assert_complete(run())

    assert facts.startswith("gpt-4o?[2J [key], first token ")


@pytest.mark.parametrize("base_url", ["HTTP://127.0.0.1:{port}/v1", " http://127.0.0.1:{port}/v1/ \n"])
def test_base_url_in_upper_case_or_with_spaces_reaches_the_server(run, server, base_url):
    assert_complete(run(env={"OPENAI_BASE_URL": base_url.format(port=server.port)}))


# Which proxy the environment names for http://llm.invalid/v1, a host that does not exist: through the
# loopback server as that proxy, the request is answered; without it, there is no connection.
PROXIES = {
    "HTTP_PROXY": ({"HTTP_PROXY": "http://127.0.0.1:{port}"}, "HTTP_PROXY"),
    "without a scheme": ({"HTTP_PROXY": "127.0.0.1:{port}"}, "HTTP_PROXY"),
    "ALL_PROXY": ({"ALL_PROXY": "http://127.0.0.1:{port}"}, "ALL_PROXY"),
    "lower case wins": ({"http_proxy": "http://127.0.0.1:{port}", "HTTP_PROXY": PROXY}, "http_proxy"),
    "lower case wins, empty": ({"HTTP_PROXY": "http://127.0.0.1:{port}", "http_proxy": ""}, None),
    "NO_PROXY": ({"HTTP_PROXY": "http://127.0.0.1:{port}", "NO_PROXY": "llm.invalid"}, None),
    "another scheme's": ({"HTTPS_PROXY": "http://127.0.0.1:{port}"}, None),
}


@pytest.mark.parametrize(("env", "variable"), PROXIES.values(), ids=PROXIES.keys())
def test_proxy_in_messages_is_the_one_the_client_uses(run, server, env, variable):
    server.scenario = Scenario(status=400, error_body=error_body("Unknown parameter.", "x", None))
    ports = {"port": server.port, "free_port": free_port()}
    env = {name: value.format(**ports) for name, value in {"OPENAI_BASE_URL": NOWHERE, **env}.items()}

    outcome = run(env=env)

    assert outcome.exit_code == 1
    if variable:
        proxy = f"http://127.0.0.1:{server.port} (from {variable})"
        assert (
            outcome.stderr
            == f"error: the server through the proxy {proxy} answered HTTP 400: Unknown parameter.\n"
        )
    else:
        assert outcome.stderr == f"error: could not connect to {NOWHERE}.\n"


def test_headers_count_as_the_server_speaking(run, server):
    # Each wait is shorter than --timeout, both together longer: silence restarts when the headers arrive.
    server.scenario = Scenario(first_byte_delay=0.6, first_event_delay=0.6)

    assert_complete(run("--timeout", "1"))


def test_wait_before_a_retry_is_not_the_servers_silence(run, server):
    # The client waits 1.5 s, as the server asks, before it sends the request again.
    server.scenario = Scenario(
        status=429,
        error_body=error_body("Rate limit reached.", "requests", "rate_limit_exceeded"),
        extra_headers={"retry-after-ms": "1500"},
        then=Scenario(),
    )

    assert_complete(run("--timeout", "0.5"))
    assert len(server.requests) == 2


def test_time_the_sdk_runs_a_tool_is_not_the_servers_silence(run, server, script, monkeypatch):
    @agents.function_tool
    async def current_time() -> str:
        """The time now."""
        await asyncio.sleep(1.0)  # twice --timeout
        return "12:34"

    monkeypatch.setattr(script, "Agent", functools.partial(agents.Agent, tools=[current_time]))
    server.scenario = Scenario(deltas=[], edit=with_tool_call("current_time"), then=Scenario())

    assert_complete(run("--timeout", "0.5"))
    assert server.requests[1]["input"][-1]["output"] == "12:34"


def test_stream_left_open_after_the_answer_ends_soon_as_complete(run, server):
    server.scenario = Scenario(close="hold")
    started = time.monotonic()

    assert_complete(run("--timeout", "60"))
    assert time.monotonic() - started < 30  # well before --timeout: the answer was whole


def test_events_flag_logs_the_real_event_sequence(run, server):
    server.scenario = Scenario(deltas=["Hi", "!"])

    outcome = run("--events")

    assert outcome.exit_code == 0
    assert outcome.stderr.splitlines() == [
        "agent_updated_stream_event Assistant",
        "raw_response_event response.created",
        "raw_response_event response.in_progress",
        "raw_response_event response.output_item.added",
        "raw_response_event response.content_part.added",
        "raw_response_event response.output_text.delta",
        "raw_response_event response.output_text.delta",
        "raw_response_event response.output_text.done",
        "raw_response_event response.content_part.done",
        "raw_response_event response.output_item.done",
        "raw_response_event response.completed",
        "run_item_stream_event message_output_created",
    ]


# --- What a server may send -----------------------------------------------------------------------------


def test_multibyte_text_split_across_deltas_comes_out_exact(run, server):
    server.scenario = Scenario(deltas=TRICKY_DELTAS)

    assert_complete(run(), "".join(TRICKY_DELTAS))


def test_null_delta_prints_nothing(run, server):
    server.scenario = Scenario(deltas=["Recursion", None, " is", None])

    assert_complete(run(), "Recursion is")


def test_half_a_surrogate_pair_is_replaced_and_the_rest_of_the_answer_follows(run, server):
    server.scenario = Scenario(deltas=["Smile ", "\ud83d", " and the rest."])  # sent as the JSON escape

    assert_complete(run(), "Smile \ufffd and the rest.")


ODD_EVENTS = {
    "type null": {"type": None, "note": "é"},
    "type missing": {"note": "naïve ☃"},
    "type only in the event line": b'event: response.output_text.delta\ndata: {"delta":"zz"}\n\n',
    "unknown type, non-ASCII": {"type": "response.ünknown", "delta": "☃"},
}


@pytest.mark.parametrize("event", ODD_EVENTS.values(), ids=ODD_EVENTS.keys())
@pytest.mark.parametrize("events_flag", [(), ("--events",)], ids=["", "--events"])
def test_odd_event_is_passed_over(run, server, event, events_flag):
    server.scenario = Scenario(edit=inserted_after_five(event))

    outcome = run(*events_flag)

    assert_clean(outcome, events_logged=bool(events_flag))
    assert outcome.exit_code == 0
    assert re.fullmatch(re.escape(START + ANSWER + "\n") + CLOSING, outcome.stdout)


# Each recording's name, its exit code, and its line on stderr or its closing line's model and usage.
PEER_WIRE = {
    "litellm-1.108.7_text": (0, "mock-chat, .* 8 in / 26 out tokens"),
    "llamastack-0.7.3_text": (0, "openai/mock-chat, .* 12 in / 17 out tokens"),
    "llamastack-0.7.3_nofinish": (0, "openai/mock-nofinish, .* tokens not reported"),  # cut, yet "completed"
    "llamastack-0.7.3_length": (1, "error: the answer was cut off (length)."),
    "llamastack-0.7.3_429": (1, "error: the response failed: Rate limit reached (mock)"),
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
    "resp_gpt-5.1_text_newrelic": (0, "gpt-5.1-2025-11-13, .* 33 in / 11 out tokens"),
    "resp_gpt-4.1_text_short": (0, "gpt-4.1-2025-04-14, .* tokens"),
    "resp_gpt-4.1_text_long": (0, "gpt-4.1-2025-04-14, .* tokens"),
    "resp_gpt-4o_text_background": (0, "gpt-4o-2024-08-06, .* tokens"),
    "resp_gpt-5_stream_error_insufficient_quota": (
        1,
        f"error: the server sent an error: {QUOTA_ERROR['message']}",
    ),
}


@pytest.mark.parametrize(("name", "expected"), PEER_WIRE.items(), ids=PEER_WIRE.keys())
def test_recorded_stream_replayed(run, server, name, expected):
    folder = RECORDINGS / ("openai-wire" if name.startswith("resp_") else "peer-wire")
    path = folder / f"{name}.sse"
    if not path.exists():
        pytest.skip(f"the recordings are not beside this checkout ({path})")
    server.scenario = replay(path)
    exit_code, says = expected
    answer = "".join(event.get("delta", "") for event in read_sse(path) if event.get("type") in DELTA_TYPES)

    outcome = run()

    assert_clean(outcome)
    assert outcome.exit_code == exit_code
    assert outcome.stdout.startswith(START + answer + "\n")
    if exit_code == 0:
        assert re.fullmatch(says, assert_complete(outcome, answer))
    else:
        assert outcome.stdout == START + answer + "\n"
        assert outcome.stderr == says + "\n"


# --- In a process of its own ------------------------------------------------------------------------------


@pytest.fixture
def start(tmp_path, server):
    """Start `python 3runasyncstreaming.py ARGS` against `server`, in a process of its own.

    It runs a copy of the script in a folder of its own (so that .env there is its .env), from another
    working directory, with KEY, standard input from /dev/null, and none of the settings or of
    PYTHONUNBUFFERED and PYTHONIOENCODING inherited; `env` adds variables (None removes one). With
    `shell`, a bash command line runs, in which "$@" is the command.
    """
    script = tmp_path / "tutorial" / SCRIPT.name
    script.parent.mkdir()
    shutil.copy(SCRIPT, script)
    (tmp_path / "elsewhere").mkdir()
    removed = {*SETTINGS_VARIABLES, "PYTHONUNBUFFERED", "PYTHONIOENCODING"}
    inherited = {name: value for name, value in os.environ.items() if name not in removed}
    processes = []

    def start(*args: str, env: dict | None = None, shell: str = "", **popen) -> subprocess.Popen:
        variables = {**inherited, "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url, **(env or {})}
        command = [sys.executable, str(script), *args]
        process = subprocess.Popen(
            ["bash", "-c", shell, "bash", *command] if shell else command,
            cwd=tmp_path / "elsewhere",
            env={name: value for name, value in variables.items() if value is not None},
            stdin=subprocess.DEVNULL,
            **popen,
        )
        processes.append(process)
        return process

    start.script = script
    yield start
    for process in processes:  # what a failed test left running
        if process.poll() is None:
            process.kill()
            process.wait()


def read_until(fd: int, marker: bytes) -> bytes:
    """Read from a pipe until `marker` has arrived, or the end; return all that was read."""
    seen = b""
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], HANG_LIMIT)
        assert ready, f"no {marker!r} within {HANG_LIMIT} s; read {seen[-200:]!r}"
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # a pseudo-terminal's end, on Linux
            chunk = b""
        if not chunk:
            break
        seen += chunk
    return seen


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + HANG_LIMIT
    while not condition():
        assert time.monotonic() < deadline, f"waited {HANG_LIMIT} s for {what}"
        time.sleep(0.01)


def test_ctrl_c_mid_stream_exits_130_quietly_keeping_the_partial_answer(start, server):
    server.scenario = Scenario(deltas=LONG_ANSWER, delta_interval=0.05)  # 20 s of answer
    process = start(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = read_until(process.stdout.fileno(), b"word9 ")  # ten words are on the screen

    process.send_signal(signal.SIGINT)
    rest, stderr = process.communicate(timeout=HANG_LIMIT)

    assert (process.returncode, stderr) == (130, b"")
    printed = (seen + rest).decode().removeprefix(START)
    assert printed.endswith("\n")  # the answer's line is ended
    assert "".join(LONG_ANSWER).startswith(printed.removesuffix("\n"))
    wait_for(lambda: server.logs[0].client_gone, "the server to see the client leave")
    assert not server.logs[0].finished


def test_ctrl_c_while_the_sdk_loads_exits_130_quietly(start, server):
    process = start(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)  # past the script's first lines, which set the handler; loading the SDK takes seconds

    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=HANG_LIMIT)

    assert (process.returncode, stdout, stderr) == (130, b"", b"")
    assert server.requests == []


def test_reader_leaving_mid_answer_ends_the_run_quietly_with_141(start, server):
    server.scenario = Scenario(deltas=LONG_ANSWER, delta_interval=0.05)  # 20 s of answer
    process = start(
        shell='"$@" | head -c 100; exit ${PIPESTATUS[0]}', stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )

    stdout, stderr = process.communicate(timeout=HANG_LIMIT)

    assert (process.returncode, stderr) == (141, b"")
    assert stdout == (START + "".join(LONG_ANSWER)).encode()[:100]
    assert not server.logs[0].finished


@pytest.mark.parametrize(
    "scenario", [SERVER_ERROR, Scenario()], ids=["then the run fails", "then it succeeds"]
)
def test_reader_gone_before_the_answer_ends_the_run_quietly_with_141(start, server, scenario):
    answer = threading.Event()
    server.scenario = Scenario(**{**vars(scenario), "answer_when": answer})
    read_end, write_end = os.pipe()
    process = start(stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    try:
        banner = read_until(read_end, b"\n")
        os.close(read_end)
    finally:
        answer.set()  # the request is answered only now
    _, stderr = process.communicate(timeout=HANG_LIMIT)

    assert banner == START.encode()
    assert (process.returncode, stderr) == (141, b"")
    assert server.requests  # the run went on after the reader left


def test_stderr_closed_before_a_failure_ends_the_run_quietly_with_141(start, server):
    server.scenario = SERVER_ERROR
    read_end, write_end = os.pipe()
    os.close(read_end)
    process = start(stdout=subprocess.PIPE, stderr=write_end)
    os.close(write_end)

    stdout, _ = process.communicate(timeout=HANG_LIMIT)

    assert process.returncode == 141
    assert stdout == (START + "\n").encode()  # and nothing after


@pytest.mark.parametrize(
    ("redirection", "message"),
    [("> /dev/full", "No space left on device"), (">&-", "standard output is closed")],
)
def test_output_that_cannot_be_written_exits_1_saying_so(start, redirection, message):
    process = start(shell=f'"$@" {redirection}', stderr=subprocess.PIPE)

    _, stderr = process.communicate(timeout=HANG_LIMIT)

    assert process.returncode == 1
    assert stderr == f"error: cannot write the answer: {message}.\n".encode()


def test_stdout_and_stderr_in_one_pipe_keep_their_order(start, server):
    server.scenario = Scenario(cut_after=2)
    process = start(stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    output, _ = process.communicate(timeout=HANG_LIMIT)

    assert process.returncode == 1
    assert re.fullmatch(re.escape(START + "Recursion is\n") + "error: .+\n", output.decode())


def test_env_file_beside_the_script_is_read_from_elsewhere_and_the_answer_is_utf8_in_ascii(start, server):
    server.scenario = Scenario(deltas=TRICKY_DELTAS)
    start.script.with_name(".env").write_text(
        f"OPENAI_API_KEY=sk-from-dotenv\nOPENAI_BASE_URL={server.base_url}\n"
    )
    process = start(
        env={"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None, "PYTHONIOENCODING": "ascii"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    stdout, stderr = process.communicate(timeout=HANG_LIMIT)

    assert server.request_headers[0]["authorization"] == "Bearer sk-from-dotenv"
    assert_complete(Outcome(process.returncode, stdout.decode(), stderr.decode()), "".join(TRICKY_DELTAS))


# 300 lines of about 1 kB: far more than a pipe holds (64 kB), so that a reader that lags blocks the writer.
LINES = [f"line {number:03} {'x' * 1000}\n" for number in range(300)]


@pytest.mark.parametrize("unbuffered", ["1", None], ids=["PYTHONUNBUFFERED=1", "buffered"])
def test_non_blocking_stdout_gets_every_byte(start, server, unbuffered):
    server.scenario = Scenario(deltas=LINES)
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # as some parent processes (Node-based tools) leave it
    process = start(env={"PYTHONUNBUFFERED": unbuffered}, stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    seen = read_until(read_end, START.encode())

    time.sleep(1)  # the reader lags, and the pipe fills
    seen += read_until(read_end, b"never")
    os.close(read_end)
    _, stderr = process.communicate(timeout=HANG_LIMIT)

    assert_complete(Outcome(process.returncode, seen.decode(), stderr.decode()), "".join(LINES))


TIMEOUT = 1.0  # --timeout for the tests below, which keep the script from running for twice as long


def test_reader_that_pauses_gets_the_whole_answer(start, server):
    server.scenario = Scenario(deltas=LINES, delta_interval=0.01)  # the server streams steadily
    process = start("--timeout", str(TIMEOUT), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = read_until(process.stdout.fileno(), START.encode())

    time.sleep(2.5 * TIMEOUT)  # the pipe fills within a second; the script then blocks writing
    rest, stderr = process.communicate(timeout=HANG_LIMIT)

    assert_complete(Outcome(process.returncode, (seen + rest).decode(), stderr.decode()), "".join(LINES))


def test_process_stopped_mid_answer_then_continued_gets_the_whole_answer(start, server):
    server.scenario = Scenario(deltas=LONG_ANSWER, delta_interval=0.01)
    process = start("--timeout", str(TIMEOUT), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = read_until(process.stdout.fileno(), b"word9 ")

    process.send_signal(signal.SIGSTOP)  # Ctrl+Z
    time.sleep(2 * TIMEOUT)
    process.send_signal(signal.SIGCONT)  # fg
    rest, stderr = process.communicate(timeout=HANG_LIMIT)

    assert_complete(
        Outcome(process.returncode, (seen + rest).decode(), stderr.decode()), "".join(LONG_ANSWER)
    )


def test_terminal_output_stopped_with_ctrl_s_then_resumed_gets_the_whole_answer(start, server):
    server.scenario = Scenario(deltas=LINES, delta_interval=0.01)
    controller, terminal = pty.openpty()
    attributes = termios.tcgetattr(terminal)
    attributes[0] |= termios.IXON  # Ctrl+S stops the output, Ctrl+Q starts it again
    attributes[1] &= ~termios.ONLCR  # "\n" stays "\n"
    termios.tcsetattr(terminal, termios.TCSANOW, attributes)
    process = start("--timeout", str(TIMEOUT), stdout=terminal, stderr=subprocess.PIPE)
    os.close(terminal)
    try:
        seen = read_until(controller, START.encode())
        os.write(controller, b"\x13")  # Ctrl+S: the script blocks writing once the terminal's buffer is full
        time.sleep(2.5 * TIMEOUT)
        os.write(controller, b"\x11")  # Ctrl+Q
        seen += read_until(controller, b"=== Stream ")
        seen += read_until(controller, b"\n")
        _, stderr = process.communicate(timeout=HANG_LIMIT)
    finally:
        os.close(controller)

    assert_complete(Outcome(process.returncode, seen.decode(), stderr.decode()), "".join(LINES))
