"""What 3runasyncstreaming.py does, checked with a stubbed Runner that replays the SDK's own events.

The first test is the pattern to copy for your own streaming code. The others run the script in this
process (conftest.py's `run_script`) or call its pure parts, `read_settings()` and `explain()`, directly.
"""

import asyncio
import errno
import io
import os
import re
import signal
import ssl
import sys
import time
from pathlib import Path

import agents
import httpx2
import pytest
from agents import RawResponsesStreamEvent
from conftest import ROOT, load_script
from failures import (
    KEY,
    certificate_error,
    connect_error,
    example_message,
    examples,
    sse,
    streamed_by_the_client,
    terminal_event_error,
)
from stub_runner import (
    HANG,
    StubRun,
    StubRunner,
    answer,
    call,
    completed,
    error_event,
    failed,
    incomplete,
    opening,
    text_delta,
)

START = "=== Starting Stream ===\n"


def test_deltas_are_printed_between_the_banners(script, run_script, monkeypatch):
    # Stub the Runner: run_streamed() returns a run that replays the events of a whole answer.
    run = StubRun(answer("Recursion", " is a function", " calling itself."))
    monkeypatch.setattr(script.Runner, "run_streamed", lambda agent, prompt, **options: run)

    outcome = run_script("Explain recursion.", env={"OPENAI_API_KEY": "sk-test"})

    # The deltas are printed as they come, between the opening banner and the closing line.
    assert outcome.stdout.startswith(START + "Recursion is a function calling itself.\n=== Stream Complete (")
    assert outcome.stderr == ""
    assert outcome.exit_code == 0


@pytest.fixture(autouse=True)
def key(environment, monkeypatch):
    """Every run in this file has a key; the tests of a missing key take it away."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


@pytest.fixture
def runner(script, monkeypatch) -> StubRunner:
    """Runner.run_streamed stubbed: set `runner.run` to what the next run replays; see `runner.calls`."""
    stub = StubRunner()
    monkeypatch.setattr(script.Runner, "run_streamed", stub.run_streamed)
    return stub


def read(script, *argv: str, env: dict[str, str] | None = None, env_file: Path | None = None, stdin=None):
    """read_settings() for these arguments, a key and `env`, a .env file, and `stdin` bytes piped in."""
    environ = {"OPENAI_API_KEY": KEY, **(env or {})}
    environ = {name: value for name, value in environ.items() if value is not None}  # None: not set
    piped = None if stdin is None else io.TextIOWrapper(io.BytesIO(stdin))
    return script.read_settings(list(argv), environ, env_file or Path(os.devnull), piped)


# --- The output -------------------------------------------------------------------------------------


def test_closing_line_names_the_model_the_times_and_the_tokens(run_script, runner):
    runner.run = StubRun([*opening(), lambda: asyncio.sleep(0.2), *answer("Hi")[2:]])

    outcome = run_script()

    closing = re.fullmatch(
        re.escape(START)
        + r"Hi\n=== Stream Complete \(gpt-4o-2024-08-06, "  # the model as the server names it
        r"first token (\d+\.\d\d) s, total (\d+\.\d\d) s, 25 in / 311 out tokens\) ===\n",
        outcome.stdout,
    )
    assert closing, outcome.stdout
    first_token, total = map(float, closing.groups())
    assert 0.2 <= first_token <= total + 0.05


def test_tokens_not_reported_when_the_response_has_no_usage(run_script, runner):
    runner.run = StubRun(answer("Hi", tokens=None))

    outcome = run_script()

    assert outcome.stdout.endswith(", tokens not reported) ===\n")


def test_answer_without_text_has_no_first_token_time(run_script, runner):
    runner.run = StubRun(answer())

    outcome = run_script()

    assert outcome.stdout.startswith(START + "\n=== Stream Complete (gpt-4o-2024-08-06, total ")
    assert "first token" not in outcome.stdout


def test_run_cancelled_by_result_cancel_closes_with_cancelled(run_script, runner):
    runner.run = StubRun(
        [*opening(), text_delta("Recursion"), lambda: runner.run.cancel(), *answer(" is")[2:]]
    )

    outcome = run_script()

    assert outcome.stdout.startswith(
        START + "Recursion\n=== Stream Cancelled (gpt-4o-2024-08-06, first token "
    )
    assert outcome.stderr == ""
    assert outcome.exit_code == 0


def test_each_delta_is_flushed_before_the_next_event_is_read(script, runner, monkeypatch, tmp_path):
    output, seen = tmp_path / "stdout", []

    def reader_sees():
        seen.append(output.read_text())

    deltas = [step for delta in ("Re", "cur", "sion") for step in (text_delta(delta), reader_sees)]
    runner.run = StubRun([*opening(), *deltas, *completed("Recursion")])
    with output.open("w", encoding="utf-8") as buffered:  # as a file or a pipe is: written when flushed
        monkeypatch.setattr(sys, "stdout", buffered)
        asyncio.run(script.main(read(script)))

    assert seen == [START + "Re", START + "Recur", START + "Recursion"]


def test_null_delta_prints_nothing(run_script, runner):
    null = text_delta("")
    null.data.delta = None  # as a server that sends `"delta": null` gets it through, unvalidated
    runner.run = StubRun([*opening(), text_delta("Re"), null, text_delta("cursion"), *completed("Recursion")])

    outcome = run_script()

    assert outcome.stdout.startswith(START + "Recursion\n=== Stream Complete")
    assert outcome.exit_code == 0


def test_half_a_surrogate_pair_prints_a_replacement_character_and_the_rest_follows(run_script, runner):
    runner.run = StubRun(answer("Smile ", "\ud83d", " and the rest"))

    outcome = run_script()

    assert outcome.stdout.startswith(START + "Smile \ufffd and the rest\n=== Stream Complete")
    assert outcome.exit_code == 0


def test_events_flag_logs_one_line_per_event_on_stderr(run_script, runner):
    runner.run = StubRun(answer("Hello", " world"))

    outcome = run_script("--events")

    assert outcome.stderr.splitlines() == [
        "agent_updated_stream_event Assistant",
        "raw_response_event response.created",
        "raw_response_event response.output_text.delta",
        "raw_response_event response.output_text.delta",
        "raw_response_event response.completed",
        "run_item_stream_event message_output_created",
    ]
    assert outcome.stdout.startswith(START + "Hello world\n=== Stream Complete")


def test_events_flag_logs_an_event_without_a_type_as_no_type(run_script, runner):
    none_type = text_delta("").data.model_copy(update={"type": None})
    runner.run = StubRun([*opening(), RawResponsesStreamEvent(none_type), RawResponsesStreamEvent(object())])

    outcome = run_script("--events")

    assert outcome.stderr.splitlines()[-2:] == ["raw_response_event (no type)"] * 2


# --- The silence limit --------------------------------------------------------------------------------


def test_silence_limit_cancels_the_run_and_exits_1_keeping_the_partial_answer(run_script, runner):
    runner.run = StubRun([*opening(), text_delta("Recursion"), HANG])

    outcome = run_script("--timeout", "0.05")

    assert runner.run.cancelled.is_set()  # the seam cancelled the run when the limit was reached
    assert outcome.exit_code == 1
    assert outcome.stdout == START + "Recursion\n"
    assert outcome.stderr.startswith("error: timed out: https://api.openai.com/v1 sent nothing for 0.05 s")


def test_steady_slow_stream_never_times_out(run_script, runner):
    pause = lambda: asyncio.sleep(0.15)  # noqa: E731
    runner.run = StubRun([step for event in answer("Re", "cur", "sion") for step in (pause, event)])

    outcome = run_script("--timeout", "0.5")  # 1 s in all, but never half a second without an event

    assert outcome.stderr == ""
    assert outcome.exit_code == 0
    assert outcome.stdout.startswith(START + "Recursion\n=== Stream Complete")


def test_time_the_script_itself_cannot_run_is_not_the_servers_silence(run_script, runner):
    blocked = lambda: time.sleep(0.3)  # noqa: E731 (as writing to a reader that paused blocks the program)
    then_the_loop_runs = lambda: asyncio.sleep(0)  # noqa: E731
    runner.run = StubRun([*opening(), text_delta("Re"), blocked, then_the_loop_runs, *answer("cursion")[2:]])

    outcome = run_script("--timeout", "0.2")

    assert outcome.stderr == ""
    assert outcome.stdout.startswith(START + "Recursion\n=== Stream Complete")


# --- Failures -----------------------------------------------------------------------------------------


def test_every_row_of_the_failure_table_has_an_example(script):
    assert set(examples(script)) == {row.what for row in script.FAILURES}


@pytest.fixture(params=load_script().FAILURES, ids=lambda row: row.what)
def row(request):
    """Each row of the script's FAILURES in turn."""
    return request.param


def test_example_of_a_row_selects_that_row_and_gets_one_line_without_the_key(script, row):
    failure, last_raw_event, variables = examples(script)[row.what]
    facts = script.gather_facts(failure, last_raw_event, read(script, env=variables))

    assert next(found for found in script.FAILURES if found.applies(facts)) is row
    message, exit_code = example_message(script, row)
    assert exit_code == row.exit_code
    assert bool(message) == bool(row.says)
    assert "\n" not in message and message.isprintable() and len(message) <= 300
    assert KEY not in message


def test_failure_of_a_run_is_reported_after_the_partial_answer(run_script, runner, script, row):
    failure, last_raw_event, variables = examples(script)[row.what]
    partial = getattr(last_raw_event, "delta", "")
    runner.run = StubRun([*opening(), RawResponsesStreamEvent(last_raw_event)], error=failure)

    outcome = run_script(env=variables)

    message, exit_code = example_message(script, row)
    assert outcome.exit_code == exit_code
    assert outcome.stdout.startswith(START + partial + "\n")
    assert outcome.stderr == (f"error: {message}\n" if message else "")
    if exit_code == 0:  # the answer arrived whole: the closing line says so
        assert outcome.stdout.splitlines()[-1].startswith("=== Stream Complete (")


COMPLETED_ROW = next(
    row.what for row in load_script().FAILURES if row.what.startswith("`response.completed`")
)
OTHER_WAYS = {  # other failures that a row stands for, besides its example in failures.py
    f"{COMPLETED_ROW}: silent": lambda: (
        load_script().ServerSilent(300.0),
        completed("Recursion")[0].data,
    ),
    f"{COMPLETED_ROW}: unreadable": lambda: (  # as the SDK fails on `"content": null`, say
        TypeError("'NoneType' object is not iterable"),
        completed("Recursion")[0].data,
    ),
    "output cannot be written: after `response.completed`": lambda: (
        OSError(errno.ENOSPC, "No space left on device"),
        completed("Recursion")[0].data,
    ),
    "no TLS connection (`https://` to a plain HTTP port, say): cut short": lambda: streamed_by_the_client(
        connect_error(ssl.SSLEOFError(8, "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation"))
    ),
    "a connection, but no HTTP answer that can be read: reset": lambda: streamed_by_the_client(
        httpx2.ReadError("[Errno 104] Connection reset by peer")
    ),
    "a connection, but no HTTP answer that can be read: badly gzipped": lambda: streamed_by_the_client(
        httpx2.DecodingError("Error -3 while decompressing data: incorrect header check")
    ),
    "the stream breaks off": lambda: (  # the SDK's words for a stream that ended with no terminal event
        agents.ModelBehaviorError("Model did not produce a final response!"),
        text_delta("Recursion").data,
    ),
    "an `error` event, or an error in a stream's data": lambda: streamed_by_the_client(
        sse(text_delta("Recursion").data),
        b'event: error\ndata: {"error": {"message": "You exceeded your current quota."}}\n\n',
    ),
}


@pytest.mark.parametrize("what", OTHER_WAYS)
def test_other_failure_of_a_row_selects_that_row(script, what):
    failure, last_raw_event = OTHER_WAYS[what]()
    facts = script.gather_facts(failure, last_raw_event, read(script))

    assert next(row for row in script.FAILURES if row.applies(facts)).what == what.partition(": ")[0]


def test_refusal_is_printed_on_stdout_then_the_error_line(run_script, runner):
    runner.run = StubRun(opening(), error=agents.ModelRefusalError("I can't help with that."))

    outcome = run_script()

    assert outcome.exit_code == 1
    assert outcome.stdout == START + "\nI can't help with that.\n"
    assert outcome.stderr == "error: the model refused to answer; its reply is above.\n"


def press_ctrl_c():
    signal.raise_signal(signal.SIGINT)


async def press_ctrl_c_while_waiting():
    asyncio.get_running_loop().call_later(0.01, press_ctrl_c)


@pytest.mark.parametrize("ctrl_c", [press_ctrl_c, press_ctrl_c_while_waiting], ids=["reading", "waiting"])
def test_ctrl_c_exits_130_quietly_keeping_the_partial_answer(run_script, runner, ctrl_c):
    runner.run = StubRun([*opening(), text_delta("Recursion"), text_delta(" is"), ctrl_c, HANG])

    outcome = run_script()

    assert outcome.exit_code == 130
    assert outcome.stdout == START + "Recursion is\n"
    assert outcome.stderr == ""


def test_unexpected_failure_is_one_line_that_names_show_traceback(run_script, runner):
    runner.run = StubRun(opening(), error=TypeError("'NoneType' object is not iterable"))

    outcome = run_script()

    assert outcome.exit_code == 1
    assert outcome.stderr == (
        "error: unexpected failure (TypeError; run again with SHOW_TRACEBACK=1 to see where): "
        "'NoneType' object is not iterable\n"
    )


def test_unexpected_failure_of_a_file_names_the_file(script):
    failure = FileNotFoundError(errno.ENOENT, "No such file or directory", "/srv/keys/sk.txt")

    message, exit_code = script.explain(failure, None, read(script))

    assert exit_code == 1
    assert message.endswith("to see where): [Errno 2] No such file or directory: '/srv/keys/sk.txt'")


def test_show_traceback_prints_the_traceback_of_an_unexpected_failure(run_script, runner):
    runner.run = StubRun(opening(), error=TypeError("'NoneType' object is not iterable"))

    outcome = run_script(env={"SHOW_TRACEBACK": "1"})

    assert outcome.stderr.startswith("Traceback (most recent call last):\n")
    assert "TypeError: 'NoneType' object is not iterable\nerror: unexpected failure (" in outcome.stderr
    assert outcome.exit_code == 1


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (
            "Bad gateway:\n\n   upstream\tclosed\r\n the connection.\n",
            "Bad gateway: upstream closed the connection.",
        ),
        ("\x1b[2J\x1b[31mall is lost\x1b[0m\x07", "?[2J?[31mall is lost?[0m?"),
        ('{"error": "model \'llama9\' not found"}', "model 'llama9' not found"),
        ("", "Bad Gateway"),  # no body: the status's own name
    ],
    ids=["lines", "control codes", "error as text", "empty"],
)
def test_server_text_is_shown_on_one_printable_line(script, body, shown):
    failure, _ = streamed_by_the_client(httpx2.Response(502, text=body))

    message, _ = script.explain(failure, None, read(script))

    assert message == f"the server answered HTTP 502: {shown}"


def test_long_server_text_is_cut_at_300_characters(script):
    failure, _ = streamed_by_the_client(httpx2.Response(500, text="x" * 2000))

    message, _ = script.explain(failure, None, read(script))

    assert message == "the server answered HTTP 500: " + "x" * 269 + "…"


@pytest.mark.parametrize("base_url", [None, "https://api.openai.com/v1/"], ids=["default", "trailing slash"])
def test_404_from_openai_itself_gets_no_responses_api_hint(script, base_url):
    body = {"error": {"message": "The model 'gpt-9' does not exist.", "code": "model_not_found"}}
    failure, _ = streamed_by_the_client(httpx2.Response(404, json=body))
    settings = read(script, env={"OPENAI_BASE_URL": base_url} if base_url else {})

    message, _ = script.explain(failure, None, settings)

    assert message == "the server answered HTTP 404: The model 'gpt-9' does not exist."


@pytest.mark.parametrize(
    "row", [row for row in load_script().FAILURES if "{url}" in row.says], ids=lambda row: row.what
)
def test_failure_message_names_the_server_of_the_settings(script, row):
    failure, last_raw_event, _ = examples(script)[row.what]

    message, _ = script.explain(
        failure, last_raw_event, read(script, env={"OPENAI_BASE_URL": "http://gpu-7:8000/v1"})
    )

    assert "http://gpu-7:8000/v1" in message


def test_connection_failure_names_the_proxy_without_its_password(script):
    failure, _ = streamed_by_the_client(httpx2.ConnectError("[Errno 111] Connection refused"))
    settings = read(script, env={"HTTPS_PROXY": "http://bob:pw-4321@proxy.example:3128"})

    message, _ = script.explain(failure, None, settings)

    proxy = "http://proxy.example:3128 (from HTTPS_PROXY)"
    assert message == f"could not connect to https://api.openai.com/v1 through the proxy {proxy}."


def test_certificate_failure_names_the_ssl_cert_file_in_use(script):
    certifi = pytest.importorskip("certifi")  # the openai client's own certificates
    failure, _ = streamed_by_the_client(connect_error(certificate_error("self-signed certificate")))
    settings = read(script, env={"SSL_CERT_FILE": certifi.where()})

    message, _ = script.explain(failure, None, settings)

    assert settings.ssl_cert_file == certifi.where()
    assert message.endswith(f"(with the certificates in SSL_CERT_FILE {certifi.where()}).")


def test_certificate_failure_whose_reason_ends_in_a_full_stop_gets_one(script):
    failure, _ = streamed_by_the_client(connect_error(certificate_error("certificate has expired.")))

    message, _ = script.explain(failure, None, read(script))

    assert message.endswith(": certificate has expired.")


def test_incomplete_answer_without_details_says_no_reason_given(script):
    cut = incomplete("max_output_tokens").data
    cut.response.incomplete_details = None  # as some servers send it

    message, _ = script.explain(terminal_event_error("response.incomplete"), cut, read(script))

    assert message == "the answer was cut off (no reason given)."


@pytest.mark.parametrize("name", ["tool_called", "handoff_requested"])
def test_connection_failure_after_a_tool_call_or_handoff_is_the_next_requests(run_script, runner, name):
    failure, _ = streamed_by_the_client(httpx2.ConnectError("[Errno 111] Connection refused"))
    runner.run = StubRun([*opening(), *completed(""), call(name)], error=failure)

    outcome = run_script()

    assert outcome.exit_code == 1
    assert outcome.stderr == "error: could not connect to https://api.openai.com/v1.\n"


# --- Secrets: the key, and a password or a token in the base URL, are never printed ------------------

SECRET_URL = "http://alice:pw-4321@llm.example.com/v1;token=token-8765"
QUERY_URL = "http://llm.example.com/v1?key=token-8765"  # refused: the client cannot use a query
SECRET_PROXY = "bob:pw-8642@proxy.example:3128"  # http://, as httpx reads a proxy without a scheme
SECRETS = (KEY, "pw-4321", "token-8765", "pw-8642")
ECHO = (
    f"You sent {KEY} to {SECRET_URL} through http://{SECRET_PROXY}, with password pw-4321."  # as servers echo
)


@pytest.mark.parametrize(
    ("failure", "last_raw_event"),
    [
        (streamed_by_the_client(httpx2.Response(400, text=ECHO))[0], None),
        (streamed_by_the_client(httpx2.ConnectError("[Errno 111] Connection refused"))[0], None),
        (terminal_event_error("response.failed"), failed(ECHO).data),
        (terminal_event_error("error"), error_event(ECHO, "invalid_api_key").data),
        (agents.UserError(ECHO), None),
        (TypeError(ECHO), None),
    ],
    ids=["HTTP body", "no connection", "response.failed", "error event", "run failure", "unexpected"],
)
def test_failure_message_never_shows_a_secret(script, failure, last_raw_event):
    settings = read(script, env={"OPENAI_BASE_URL": SECRET_URL, "HTTP_PROXY": SECRET_PROXY})

    message, _ = script.explain(failure, last_raw_event, settings)

    assert message and not any(secret in message for secret in SECRETS)


@pytest.mark.parametrize(
    "env",
    [
        {"OPENAI_BASE_URL": SECRET_URL.replace("http", "ftp")},
        {"OPENAI_BASE_URL": SECRET_URL.replace(".com", ".com:port")},
        {"OPENAI_API_KEY": KEY + "\n"},
        {"OPENAI_BASE_URL": QUERY_URL},
        {"OPENAI_BASE_URL": SECRET_URL.removeprefix("http://")},
        {"HTTP_PROXY": SECRET_PROXY.replace("3128", "port")},
        {"HTTPS_PROXY": f"http://{SECRET_PROXY}".replace("3128", "port")},
        {"ALL_PROXY": f"socks5://{SECRET_PROXY}"},
    ],
    ids=[
        "not http",
        "not a URL",
        "key with a newline",
        "a query string",
        "no //",
        "proxy without a scheme not a URL",
        "proxy not a URL",
        "SOCKS proxy",
    ],
)
def test_settings_problem_never_shows_a_secret(script, env):
    problem = read(script, env=env)

    assert isinstance(problem, str) and not any(secret in problem for secret in SECRETS)


# --- Settings: the problems that stop the script before any request (exit 2) -------------------------

KEY_MISSING = (
    "no OPENAI_API_KEY: add your key to .env (copy .env.example to .env first), "
    "or try `uv run tests/demo.py`, which needs none."
)


def case(
    name: str,
    problem: str,
    *argv: str,
    env=None,
    env_file: str | bytes | None = "",
    stdin: bytes | None = None,
):
    """A settings problem: what read_settings() is given (.env: `env_file`, None for none), and the start
    of what it says ({env_file}: the path of .env)."""
    return pytest.param(argv, env, env_file, stdin, problem, id=name)


NOT_ASCII = "has whitespace or non-ASCII in it."
PROBLEMS = [
    case(
        "key exported empty",
        "OPENAI_API_KEY is set but empty in the environment, which wins over .env.",
        env={"OPENAI_API_KEY": ""},
        env_file="OPENAI_API_KEY=sk-from-dotenv\n",
    ),
    case("no key, and no .env", KEY_MISSING, env={"OPENAI_API_KEY": None}, env_file=None),
    case(
        "key left empty in .env",
        "no OPENAI_API_KEY: put your key after OPENAI_API_KEY= in {env_file}, ",
        env={"OPENAI_API_KEY": None},
        env_file=(ROOT / ".env.example").read_text(),
    ),
    case("key with a space", f"OPENAI_API_KEY {NOT_ASCII}", env={"OPENAI_API_KEY": KEY + " "}),
    case("key with a tab", f"OPENAI_API_KEY {NOT_ASCII}", env={"OPENAI_API_KEY": "sk-\tx"}),
    case("key in curly quotes", f"OPENAI_API_KEY {NOT_ASCII}", env={"OPENAI_API_KEY": f"\u201c{KEY}\u201d"}),
    *(
        case(f"base URL {url}", f"OPENAI_BASE_URL '{url}' is not http(s).", env={"OPENAI_BASE_URL": url})
        for url in ["localhost:11434/v1", "ftp://example.com/v1", "http:localhost/v1"]
    ),
    *(
        case(f"base URL {url}", f"OPENAI_BASE_URL '{url}' is not a valid URL: ", env={"OPENAI_BASE_URL": url})
        for url in ["http://localhost:port/v1", "http://localhost:99999/v1", "http://[::1/v1", "http:///v1"]
    ),
    case("organization not ASCII", f"OPENAI_ORG_ID {NOT_ASCII}", env={"OPENAI_ORG_ID": "org-caf\u00e9"}),
    case("project not ASCII", f"OPENAI_PROJECT_ID {NOT_ASCII}", env={"OPENAI_PROJECT_ID": "proj_\u00e9"}),
    case(
        "certificates missing",
        "SSL_CERT_FILE '/nonexistent/ca.pem' does not name a file.",
        env={"SSL_CERT_FILE": "/nonexistent/ca.pem"},
    ),
    case(
        "no certificate in the file", f"SSL_CERT_FILE '{__file__}' holds no", env={"SSL_CERT_FILE": __file__}
    ),
    case(
        "SOCKS proxy",
        "ALL_PROXY is a SOCKS proxy, which needs the socksio package",
        env={"ALL_PROXY": "socks5://localhost:1080"},
    ),
    case(  # httpx sets up every proxy in the environment, and fails without socksio
        "SOCKS proxy the base URL would not use",
        "ALL_PROXY is a SOCKS proxy, which needs the socksio package",
        env={"ALL_PROXY": "socks5://localhost:1080", "NO_PROXY": "api.openai.com"},
    ),
    case(
        "SOCKS proxy for another scheme",
        "http_proxy is a SOCKS proxy, which needs the socksio package",
        env={"http_proxy": "SOCKS5h://localhost:1080"},
    ),
    case(
        "proxy not a URL",
        "HTTP_PROXY is not a valid proxy URL: ",
        env={"HTTP_PROXY": "http://127.0.0.1:port"},
    ),
    case(
        "TLS key log in a folder that does not exist",
        "SSLKEYLOGFILE '/nonexistent/keys.log' is in a folder that does not exist.",
        env={"SSLKEYLOGFILE": "/nonexistent/keys.log"},
    ),
    case(
        ".env not UTF-8",
        "{env_file} is not UTF-8 text; save it as UTF-8.",
        env={"OPENAI_API_KEY": None},
        env_file=b"OPENAI_API_KEY=sk-caf\xe9\n",  # saved as Latin-1
    ),
    case("default model blank", "OPENAI_DEFAULT_MODEL is set but blank.", env={"OPENAI_DEFAULT_MODEL": " "}),
    case("model empty", "--model is empty.", "--model", ""),
    case("model blank", "--model is empty.", "--model", " \t"),
    case("model not text", "the model's name is not valid text.", "--model", "gpt-\udcff"),
    case("prompt empty", "the prompt is empty.", ""),
    case("prompt blank", "the prompt is empty.", " \n "),
    case("prompt empty, stdin not", "the prompt is empty.", "", stdin=b"What is a monad?"),
    case("prompt not UTF-8", "the prompt is not valid UTF-8 text.", "caf\udce9"),  # as Python gets bytes
    case("stdin not UTF-8", "the prompt on standard input is not UTF-8 text.", stdin=b"caf\xe9\n"),
    *(
        case(f"timeout {timeout}", "--timeout must be a number of seconds above 0.", "--timeout", timeout)
        for timeout in ["0", "-1", "nan", "inf"]
    ),
]


@pytest.mark.parametrize(("argv", "env", "env_file", "stdin", "problem"), PROBLEMS)
def test_settings_problem_is_named(script, tmp_path, argv, env, env_file, stdin, problem):
    if env_file is not None:
        (tmp_path / ".env").write_bytes(env_file if isinstance(env_file, bytes) else env_file.encode())

    found = read(script, *argv, env=env, env_file=tmp_path / ".env", stdin=stdin)

    assert isinstance(found, str) and found.startswith(problem.format(env_file=tmp_path / ".env"))


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"OPENAI_API_KEY": ""}, "OPENAI_API_KEY is set but empty in the environment, which wins over .env."),
        (  # the openai client would fail to set up TLS
            {"SSLKEYLOGFILE": "/nonexistent/keys.log"},
            "SSLKEYLOGFILE '/nonexistent/keys.log' is in a folder that does not exist.",
        ),
    ],
    ids=["key exported empty", "TLS key log"],
)
def test_settings_problem_exits_2_before_any_request(run_script, runner, env, problem):
    outcome = run_script(env=env)

    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    assert outcome.stderr == f"error: {problem}\n"
    assert runner.calls == []


def test_certificate_file_is_judged_alike_with_a_tls_key_log(script, tmp_path):
    certifi = pytest.importorskip("certifi")

    settings = read(script, env={"SSL_CERT_FILE": certifi.where(), "SSLKEYLOGFILE": str(tmp_path / "keys")})

    assert settings.ssl_cert_file == certifi.where()


@pytest.mark.parametrize(
    ("url", "used"),
    [
        ("HTTP://localhost:11434/v1", "HTTP://localhost:11434/v1"),
        (" http://localhost:11434/v1/ \n", "http://localhost:11434/v1"),
    ],
    ids=["upper case", "spaces"],
)
def test_base_url_in_upper_case_or_with_spaces_is_accepted(script, url, used):
    assert read(script, env={"OPENAI_BASE_URL": url}).base_url == used


def test_unknown_option_exits_2_with_the_usage(run_script, runner):
    outcome = run_script("--colour")

    assert outcome.exit_code == 2
    assert outcome.stderr.startswith("usage: ")
    assert "unrecognized arguments: --colour" in outcome.stderr
    assert runner.calls == []


# --- Settings: where they come from -------------------------------------------------------------------


def test_env_file_beside_the_script_is_read(run_script, runner, environment, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    environment.write_text("OPENAI_API_KEY=sk-from-dotenv\nOPENAI_DEFAULT_MODEL=gpt-4.1-mini\n")

    outcome = run_script()

    assert outcome.exit_code == 0
    [(agent, _, _)] = runner.calls
    assert agent.model == "gpt-4.1-mini"


def test_env_file_in_the_working_directory_is_not_read(run_script, runner, environment, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    Path(".env").write_text("OPENAI_API_KEY=sk-from-elsewhere\n")  # the working directory is not the script's

    outcome = run_script()

    assert outcome.exit_code == 2
    assert runner.calls == []


def test_environment_wins_over_env_file(script, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=sk-from-dotenv\nOPENAI_DEFAULT_MODEL=gpt-4.1-mini\n")

    settings = read(script, env={"OPENAI_DEFAULT_MODEL": "gpt-4o"}, env_file=env_file)

    assert (settings.key, settings.model) == (KEY, "gpt-4o")


def test_set_up_sdk_exports_what_env_file_adds(script, tmp_path, environment):
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=sk-from-dotenv\nOPENAI_AGENTS_DONT_LOG_MODEL_DATA=1\n")

    script.set_up_sdk(read(script, env_file=env_file))

    assert os.environ["OPENAI_AGENTS_DONT_LOG_MODEL_DATA"] == "1"  # the SDK's own settings in .env work
    assert os.environ["OPENAI_API_KEY"] == KEY  # what the environment has stays


@pytest.mark.parametrize(
    ("env", "tracing"),
    [
        ({}, True),
        ({"OPENAI_BASE_URL": "https://api.openai.com/v1/"}, True),
        ({"OPENAI_BASE_URL": "http://localhost:11434/v1"}, False),  # its key would be sent to OpenAI
        ({"OPENAI_AGENTS_DISABLE_TRACING": "true"}, False),
    ],
    ids=["default", "OpenAI", "local server", "disabled"],
)
def test_traces_go_to_openai_only_from_openai_and_unless_disabled(script, monkeypatch, env, tracing):
    disabled = []
    monkeypatch.setattr(agents, "set_tracing_disabled", disabled.append)

    settings = read(script, env=env)
    script.set_up_sdk(settings)

    assert settings.tracing is tracing
    assert disabled == ([] if tracing else [True])


def test_default_agent_and_prompt_are_the_tutorials(run_script, runner):
    run_script()

    [(agent, prompt, _)] = runner.calls
    assert (agent.name, agent.instructions) == (
        "Assistant",
        "You are a helpful assistant that explains things clearly.",
    )
    assert prompt == "Explain recursion in programming in simple terms."


def test_prompt_argument_is_what_the_agent_is_asked(run_script, runner):
    run_script("What is a closure?")

    [(_, prompt, _)] = runner.calls
    assert prompt == "What is a closure?"


def test_prompt_argument_wins_over_standard_input(script):
    assert read(script, "What is a closure?", stdin=b"What is a monad?").prompt == "What is a closure?"


def test_prompt_is_read_from_piped_standard_input_stripped(script):
    settings = read(script, stdin=b"  What is a closure?\nAnswer in one line.\n\n")

    assert settings.prompt == "What is a closure?\nAnswer in one line."


@pytest.mark.parametrize("stdin", [b"", b" \n\t\n"], ids=["empty", "blank"])
def test_blank_standard_input_means_the_default_prompt(script, stdin):
    assert read(script, stdin=stdin).prompt == "Explain recursion in programming in simple terms."


def test_without_a_model_the_agent_gets_the_sdks_default(run_script, runner):
    run_script()

    [(agent, _, _)] = runner.calls
    assert agent.model is None


@pytest.mark.parametrize(
    ("argv", "env", "model"),
    [
        (["--model", "Qwen/Qwen3-8B"], {}, "Qwen/Qwen3-8B"),
        ([], {"OPENAI_DEFAULT_MODEL": "openai/gpt-oss-20b"}, "openai/gpt-oss-20b"),
        (["--model", "gpt-4o-mini"], {"OPENAI_DEFAULT_MODEL": "gpt-4.1"}, "gpt-4o-mini"),
    ],
    ids=["--model", "OPENAI_DEFAULT_MODEL", "--model wins"],
)
def test_model_name_reaches_the_server_verbatim(run_script, runner, argv, env, model):
    run_script(*argv, env=env)

    [(agent, _, options)] = runner.calls
    assert agent.model == model
    # The run's provider sends the name as it is, without reading "Qwen/" or "openai/" as a provider.
    assert options["run_config"].model_provider.get_model(agent.model).model == model


@pytest.mark.parametrize(
    ("argv", "env"),
    [(["--model", " gpt-4o "], {}), ([], {"OPENAI_DEFAULT_MODEL": "gpt-4o\n"})],
    ids=["--model", "OPENAI_DEFAULT_MODEL"],
)
def test_model_name_is_stripped(script, argv, env):
    assert read(script, *argv, env=env).model == "gpt-4o"
