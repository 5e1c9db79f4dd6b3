"""The script against a real server: the real SDK, real HTTP and SSE, nothing stubbed.

Every test points the script at the loopback server from openai_server.py through
OPENAI_BASE_URL, with a made-up key, and checks what the user sees (stdout, stderr, the
exit code) and what the server received.

Most tests run the script in this process, with conftest's `run_script`: the SDK is
loaded once for all of them, so each costs hundredths of a second. A run in a process of
its own loads the SDK again, which takes seconds; there is one only where the process
itself is what is checked:

- Ctrl+C: a real SIGINT, mid-stream and while the SDK is still loading;
- pipes and files: a reader that leaves (`| head`, a closed pipe), a closed stderr,
  `> /dev/full`, `>&-`, stdout and stderr in one pipe, PYTHONIOENCODING=ascii;
- start-up: the .env beside the script, found from another working directory.

Those processes run `python 3runasyncstreaming.py` with the venv's Python, from another
folder, with standard input from /dev/null and without PYTHONUNBUFFERED (the script must
order its own output). They all start at once, in the background, as this module's first
test begins, and several tests may read what one of them did (see `process_runs`). They
share compiled bytecode in pytest's cache folder, which PYTHONDONTWRITEBYTECODE would
otherwise make each of them compile again.

Nothing depends on the machine's speed: a run waits for what it needs to see (a line of
output, the SDK's imports having begun, the server holding a request), and where the
server streams on a timer, it streams for far longer than the test needs. The time limits
are there only to turn a hang into a failure.
"""

import asyncio
import fcntl
import gc
import logging
import os
import pickle
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import OPENAI_VARIABLES, SCRIPT, Outcome
from openai_server import QUOTA_ERROR, OpenAIServer, Scenario, StreamLog, error_body

KEY = "sk-e2e-not-a-real-key-7f3a9c"
START = "=== Starting Stream ===\n"
# The server reports 25 input tokens and one output token per delta.
COMPLETE = r"=== Stream Complete \(first token \d+\.\d\d s, total \d+\.\d s, 25 in / {} out tokens\) ===\n"
ANSWER = ["Recursion", " is", " a function", " calling itself."]
LONG_ANSWER = [f"word{number} " for number in range(400)]
TIMED_OUT = "timed out: {base_url} sent nothing for 0.5 s (see --timeout)."
STOPPED_EARLY = "the stream from {base_url} stopped before the answer was complete."
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
# The openai client retries 429 and 5xx twice; this header spares the tests its 0.5-1 s backoff.
RETRY_AT_ONCE = {"retry-after-ms": "1"}
SERVER_ERROR = Scenario(
    status=500,
    error_body=error_body("The server had an error while processing your request.", "server_error", None),
    extra_headers=RETRY_AT_ONCE,
)
DOTENV_KEY = "sk-from-dotenv-not-real-0d1e"
HANG_LIMIT = 60  # seconds: a run that hangs fails its test rather than blocking the suite
# Inherited settings that would change how the script's process writes or starts.
PYTHON_SETTINGS = ("PYTHONUNBUFFERED", "PYTHONIOENCODING", "PYTHONDONTWRITEBYTECODE")

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")


def with_base_url(text: str, server) -> str:
    return text.format(base_url=server.base_url)


class Hung(BaseException):
    """Raised into an in-process run that has gone on for HANG_LIMIT seconds."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, what: str, limit: float = HANG_LIMIT) -> None:
    """Poll until condition() holds; the limit only turns a hang into a failure."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"waited {limit} s for {what}"
        time.sleep(0.005)


def read_until(fd: int, marker: bytes) -> bytes:
    """Read from a pipe until `marker` has arrived; return all that was read."""
    seen = b""
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], HANG_LIMIT)
        chunk = os.read(fd, 4096) if ready else b""
        assert chunk, f"no {marker!r} from the script within {HANG_LIMIT} s, or ever; it wrote {seen!r}"
        seen += chunk
    return seen


# --- In this process -----------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def quick_garbage_collection():
    """Spare gc.collect() the SDK's many long-lived objects while this module's tests run."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture
def run(run_script, server, monkeypatch, caplog):
    """Run the script in this process against the loopback server, with KEY.

    Its stderr includes what a process of its own would print there through logging's last
    resort (asyncio's "Task exception was never retrieved", say); Python's "Exception ignored"
    fails the test through the warning pytest turns it into (see pytestmark).
    """
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)

    def hang_up(signal_number, frame):
        raise Hung(f"the script was still running after {HANG_LIMIT} s")

    def run(*args: str, stdin: str = "") -> Outcome:
        # As in a new process: no client of an earlier run is left to be closed during this one.
        gc.collect()
        caplog.clear()
        previous = signal.signal(signal.SIGALRM, hang_up)
        signal.setitimer(signal.ITIMER_REAL, HANG_LIMIT)
        try:
            outcome = run_script(*args, stdin=stdin)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        script_thread = threading.get_ident()  # not the server's
        logged = [
            f"{record.getMessage()}\n{record.exc_text or ''}"
            for record in caplog.records
            if record.levelno >= logging.WARNING and record.thread == script_thread
        ]
        return Outcome(outcome.exit_code, outcome.stdout, outcome.stderr + "".join(logged))

    return run


def assert_failed(outcome, message: str, partial: str = "") -> None:
    """Exit 1 with one line on stderr; stdout the banner and what had streamed, its line ended."""
    assert outcome.stderr == f"error: {message}\n"
    assert outcome.exit_code == 1
    assert outcome.stdout == START + partial + "\n"
    assert KEY not in outcome.stdout + outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert "Exception ignored" not in outcome.stderr


def test_default_run_streams_the_answer_between_the_banners(run, server):
    server.scenario = Scenario(deltas=ANSWER)

    outcome = run()

    assert (outcome.exit_code, outcome.stderr) == (0, "")
    answer = re.escape(START + "Recursion is a function calling itself.\n")
    assert re.fullmatch(answer + COMPLETE.format(4), outcome.stdout)


def test_default_run_sends_the_tutorials_request(run, server):
    run()

    [request] = server.requests
    assert request["model"] == "gpt-4o"
    assert request["instructions"] == "You are a helpful assistant that explains things clearly."
    assert request["input"] == [
        {"role": "user", "content": "Explain recursion in programming in simple terms."}
    ]
    assert request["stream"] is True
    assert server.request_headers[0]["authorization"] == f"Bearer {KEY}"


def test_prompt_and_model_flag_reach_the_request(run, server):
    outcome = run("What is a closure?", "--model", "gpt-4o-mini")

    assert outcome.exit_code == 0
    [request] = server.requests
    assert request["model"] == "gpt-4o-mini"
    assert request["input"] == [{"role": "user", "content": "What is a closure?"}]


def test_prompt_piped_into_standard_input_reaches_the_request(run, server):
    outcome = run(stdin="What is a closure?\n")

    assert outcome.exit_code == 0
    [message] = server.requests[0]["input"]
    assert message["role"] == "user"
    assert message["content"].rstrip("\n") == "What is a closure?"


def test_closing_line_counts_the_wait_for_the_first_token(run, server):
    server.scenario = Scenario(deltas=["Slow", " start"], first_byte_delay=0.3)

    outcome = run()

    assert outcome.exit_code == 0
    first_token = float(re.search(r"first token (\d+\.\d\d) s", outcome.stdout)[1])
    total = float(re.search(r"total (\d+\.\d) s", outcome.stdout)[1])
    assert first_token >= 0.3  # counted from the start, not from the response's headers
    assert total >= 0.3


def test_multibyte_text_split_across_deltas_comes_out_exact(run, server):
    server.scenario = Scenario(deltas=TRICKY_DELTAS)

    outcome = run()

    assert outcome.exit_code == 0
    answer = START + "".join(TRICKY_DELTAS) + "\n"
    assert outcome.stdout.encode()[: len(answer.encode())] == answer.encode()
    assert re.fullmatch(COMPLETE.format(len(TRICKY_DELTAS)), outcome.stdout.removeprefix(answer))


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


def test_final_event_that_does_not_validate_still_completes(run, server):
    server.scenario = Scenario(deltas=["Old", " schema"], cache_write_tokens=False)

    outcome = run()

    assert (outcome.exit_code, outcome.stderr) == (0, "")
    assert re.fullmatch(re.escape(START + "Old schema\n") + COMPLETE.format(2), outcome.stdout)


# Each row of the README's failure table that the wire can produce: the scenario, the text
# that streamed before the failure, and the line on stderr.
FAILURES = {
    "401 invalid key": (
        Scenario(
            status=401,
            error_body=error_body(
                f"Incorrect API key provided: {KEY}.", "invalid_request_error", "invalid_api_key"
            ),
        ),
        "",
        "the API key was rejected (HTTP 401). Check OPENAI_API_KEY.",
    ),
    "429 quota": (
        Scenario(
            status=429,
            error_body=error_body(QUOTA_ERROR["message"], "insufficient_quota", "insufficient_quota"),
            extra_headers=RETRY_AT_ONCE,
        ),
        "",
        f"the server answered HTTP 429: {QUOTA_ERROR['message']}",
    ),
    "429 rate limit": (
        Scenario(
            status=429,
            error_body=error_body("Rate limit reached for gpt-4o.", "requests", "rate_limit_exceeded"),
            extra_headers=RETRY_AT_ONCE,
        ),
        "",
        "the server answered HTTP 429: Rate limit reached for gpt-4o.",
    ),
    "400 model not found": (
        Scenario(
            status=400,
            error_body=error_body(
                "The requested model 'gpt-9' does not exist.",
                "invalid_request_error",
                "model_not_found",
                "model",
            ),
        ),
        "",
        "the server answered HTTP 400: The requested model 'gpt-9' does not exist.",
    ),
    "stream breaks off": (
        Scenario(deltas=["Recursion", " is", " when"], cut_after=2),
        "Recursion is",
        STOPPED_EARLY,
    ),
    "stream ends without a terminal event": (
        Scenario(deltas=["Recursion", " is"], ending="eof"),
        "Recursion is",
        STOPPED_EARLY,
    ),
    "in-stream error": (
        Scenario(deltas=[], ending="in_stream_error"),
        "",
        f"the server sent an error: {QUOTA_ERROR['message']}",
    ),
    "response.failed": (
        Scenario(deltas=["Recursion"], ending="failed"),
        "Recursion",
        f"the response failed: {QUOTA_ERROR['message']}",
    ),
    "response.incomplete": (
        Scenario(deltas=["Recursion", " is"], ending="incomplete"),
        "Recursion is",
        "the answer was cut off (max_output_tokens).",
    ),
}


@pytest.mark.parametrize(("scenario", "partial", "message"), FAILURES.values(), ids=FAILURES.keys())
def test_failure_exits_1_with_its_line_after_the_partial_answer(run, server, scenario, partial, message):
    server.scenario = scenario

    outcome = run()

    assert_failed(outcome, with_base_url(message, server), partial)


def test_connection_refused_names_the_base_url(run, monkeypatch):
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)

    outcome = run()

    assert_failed(outcome, f"could not connect to {base_url}.")


def test_server_that_never_answers_times_out_once_not_once_per_retry(run, server):
    server.scenario = Scenario(first_byte_delay=30)

    outcome = run("--timeout", "0.5")

    assert_failed(outcome, with_base_url(TIMED_OUT, server))
    assert len(server.requests) == 1


def test_server_gone_quiet_mid_answer_times_out_keeping_the_partial_answer(run, server):
    server.scenario = Scenario(deltas=ANSWER, stall_after=2)

    outcome = run("--timeout", "0.5")

    assert_failed(outcome, with_base_url(TIMED_OUT, server), "Recursion is")


def test_keep_alive_comments_do_not_count_as_the_server_speaking(run, server):
    server.scenario = Scenario(deltas=ANSWER, keepalive_after=2)

    outcome = run("--timeout", "0.5")

    assert_failed(outcome, with_base_url(TIMED_OUT, server), "Recursion is")


def test_event_that_is_not_json_is_reported_naming_the_base_url(run, server):
    server.scenario = Scenario(deltas=ANSWER, malformed_after=1)

    outcome = run()

    assert_failed(outcome, f"{server.base_url} sent a stream event that is not valid JSON.", "Recursion")


PROXY_PAGE = b"502 Bad Gateway\n\nThe upstream server did not answer.\nnginx/1.27.0\n"


def test_plain_text_error_page_is_shown_on_one_line(run, server):
    server.scenario = Scenario(
        status=502,
        raw_error_body=PROXY_PAGE,
        error_content_type="text/plain",
        extra_headers=RETRY_AT_ONCE,
    )

    outcome = run()

    assert_failed(
        outcome,
        "the server answered HTTP 502: 502 Bad Gateway The upstream server did not answer. nginx/1.27.0",
    )


def test_terminal_control_codes_in_an_error_body_never_reach_stderr(run, server):
    server.scenario = Scenario(
        status=500,
        raw_error_body=b"\x1b[31mupstream \x1b]0;pwned\x07exploded\x1b[0m",
        error_content_type="text/plain",
        extra_headers=RETRY_AT_ONCE,
    )

    outcome = run()

    assert_failed(outcome, "the server answered HTTP 500: ?[31mupstream ?]0;pwned?exploded?[0m")
    assert "\x1b" not in outcome.stderr


def test_error_body_whose_error_is_only_text_is_shown(run, server):
    server.scenario = Scenario(
        status=503, raw_error_body=b'{"error": "model not loaded"}', extra_headers=RETRY_AT_ONCE
    )

    outcome = run()

    assert_failed(outcome, "the server answered HTTP 503: model not loaded")


def test_404_from_a_server_other_than_openai_asks_whether_it_serves_the_responses_api(run, server):
    server.scenario = Scenario(status=404, raw_error_body=b'{"detail":"Not Found"}')

    outcome = run()

    assert_failed(
        outcome, f"{server.base_url} answered HTTP 404 (Not Found); does it serve the Responses API?"
    )


def test_key_echoed_in_a_server_message_is_shown_as_a_placeholder(run, server):
    message = f"Project proj_abc does not allow the key {KEY} to use gpt-4o."
    server.scenario = Scenario(
        status=403, error_body=error_body(message, "invalid_request_error", "model_not_allowed")
    )

    outcome = run()

    assert_failed(
        outcome, "the server answered HTTP 403: Project proj_abc does not allow the key [key] to use gpt-4o."
    )


def test_refusal_goes_to_stdout_followed_by_a_notice(run, server):
    server.scenario = Scenario(refusal="I can't help with that.")

    outcome = run()

    assert outcome.exit_code == 1
    assert outcome.stdout == START + "\nI can't help with that.\n"
    assert outcome.stderr == "error: the model refused to answer; its reply is above.\n"
    assert KEY not in outcome.stdout + outcome.stderr


# --- In a process of its own ---------------------------------------------------------------------
#
# Each function below starts the script once, against a loopback server of its own, does to
# the process what its tests are about, and returns a ProcessRun that the tests then read.
# When this module's tests begin, the `process_runs` fixture starts every run the session's
# tests need, all at once and in the background: the processes load the SDK side by side,
# while the in-process tests go on. With xdist, one worker starts them; the others read the
# same runs from a file.


@dataclass
class ProcessRun:
    """What one `python 3runasyncstreaming.py` did, and what its server saw."""

    exit_code: int
    stdout: bytes  # everything the process wrote there, or what the reader read of it
    stderr: bytes  # b"" too where the run closed or merged the process's stderr
    base_url: str
    requests: list[dict]
    request_headers: list[dict]
    logs: list[StreamLog]


class Launch:
    """A copy of the script in a folder of its own, its server, and how to start it elsewhere."""

    def __init__(self, folder: Path, server: OpenAIServer, bytecode_cache: Path, environment: dict):
        self.server = server
        self.processes: list[subprocess.Popen] = []
        self.script = folder / "tutorial" / SCRIPT.name
        self.working_dir = folder / "elsewhere"
        self.script.parent.mkdir(parents=True)
        self.working_dir.mkdir()
        self.script.write_bytes(SCRIPT.read_bytes())
        inherited = {
            name: value
            for name, value in environment.items()
            if name not in OPENAI_VARIABLES and name not in PYTHON_SETTINGS
        }
        # KEY and the server; no other OPENAI_* setting; compiled bytecode shared by all the runs.
        self.environment = {
            **inherited,
            "OPENAI_API_KEY": KEY,
            "OPENAI_BASE_URL": server.base_url,
            "PYTHONPYCACHEPREFIX": str(bytecode_cache),
        }

    def start(self, *args: str, env: dict | None = None, **options) -> subprocess.Popen:
        """Start `python 3runasyncstreaming.py ARGS` from another folder; Popen's options as given."""
        process = subprocess.Popen(
            [sys.executable, str(self.script), *args],
            cwd=self.working_dir,
            env=self.environment if env is None else env,
            stdin=subprocess.DEVNULL,
            **options,
        )
        self.processes.append(process)
        return process

    def stop(self) -> None:
        """End what a run that broke left running."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    def shell(self, command_line: str, **variables: str) -> ProcessRun:
        """Run a bash command line in which "$@" is `python 3runasyncstreaming.py`."""
        shell = subprocess.run(
            ["bash", "-c", command_line, "bash", sys.executable, str(self.script)],
            cwd=self.working_dir,
            env={**self.environment, **variables},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=HANG_LIMIT,
        )
        return self.record(shell.returncode, shell.stdout, shell.stderr)

    @contextmanager
    def requests_held(self):
        """The server leaves each request unanswered until the run calls release()."""
        released = threading.Event()
        serve_one = self.server._serve_one

        async def held(reader, writer):
            await asyncio.to_thread(released.wait)
            return await serve_one(reader, writer)

        self.server._serve_one = held
        try:
            yield released.set
        finally:
            released.set()

    def record(self, exit_code: int, stdout: bytes, stderr: bytes) -> ProcessRun:
        server = self.server
        return ProcessRun(
            exit_code, stdout, stderr, server.base_url, server.requests, server.request_headers, server.logs
        )


def ctrl_c_mid_stream(launch: Launch) -> ProcessRun:
    launch.server.scenario = Scenario(deltas=LONG_ANSWER, delta_interval=0.05)  # 20 s of answer
    process = launch.start(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = read_until(process.stdout.fileno(), b"word9 ")  # ten words are on the screen
    process.send_signal(signal.SIGINT)
    rest, stderr = process.communicate(timeout=HANG_LIMIT)
    log = launch.server.logs[0]
    wait_for(lambda: log.client_gone or log.finished, "the server to see the client leave")
    return launch.record(process.returncode, seen + rest, stderr)


def ctrl_c_while_the_sdk_loads(launch: Launch) -> ProcessRun:
    process = launch.start(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # The first of the SDK's compiled extensions: its imports have begun, after the script's first lines.
    maps = Path(f"/proc/{process.pid}/maps")
    wait_for(lambda: "pydantic_core" in maps.read_text(), "the SDK's imports to begin")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=HANG_LIMIT)
    return launch.record(process.returncode, stdout, stderr)


def head_after_some_deltas(launch: Launch) -> ProcessRun:
    launch.server.scenario = Scenario(deltas=LONG_ANSWER, delta_interval=0.05)  # 20 s of answer
    return launch.shell('"$@" | head -c 100; exit ${PIPESTATUS[0]}')


def reader_gone_before_the_first_delta(launch: Launch, scenario: Scenario) -> ProcessRun:
    """The script's stdout is a pipe that its reader closes after the banner."""
    launch.server.scenario = scenario
    read_end, write_end = os.pipe()
    with launch.requests_held() as release:
        process = launch.start(stdout=write_end, stderr=subprocess.PIPE)
        os.close(write_end)
        banner = read_until(read_end, b"\n")
        os.close(read_end)
        release()  # the request is answered only now
        _, stderr = process.communicate(timeout=HANG_LIMIT)
    return launch.record(process.returncode, banner, stderr)


def reader_gone_then_the_run_fails(launch: Launch) -> ProcessRun:
    return reader_gone_before_the_first_delta(launch, SERVER_ERROR)


def reader_gone_then_the_run_succeeds(launch: Launch) -> ProcessRun:
    return reader_gone_before_the_first_delta(launch, Scenario(deltas=ANSWER))


def stderr_closed_then_the_run_fails(launch: Launch) -> ProcessRun:
    launch.server.scenario = SERVER_ERROR
    read_end, write_end = os.pipe()
    os.close(read_end)
    process = launch.start(stdout=subprocess.PIPE, stderr=write_end)
    os.close(write_end)
    stdout, _ = process.communicate(timeout=HANG_LIMIT)
    return launch.record(process.returncode, stdout, b"")


def stdout_to_a_full_disk(launch: Launch) -> ProcessRun:
    return launch.shell('"$@" > /dev/full')


def stdout_closed(launch: Launch) -> ProcessRun:
    return launch.shell('"$@" >&-')


def stdout_and_stderr_in_one_pipe(launch: Launch) -> ProcessRun:
    launch.server.scenario = Scenario(deltas=ANSWER, cut_after=2)
    process = launch.start(stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output, _ = process.communicate(timeout=HANG_LIMIT)
    return launch.record(process.returncode, output, b"")


def configured_by_env_file_writing_ascii(launch: Launch) -> ProcessRun:
    """Key and server only in the .env beside the script, run from elsewhere, PYTHONIOENCODING=ascii."""
    launch.server.scenario = Scenario(deltas=TRICKY_DELTAS)
    env_file = f"OPENAI_API_KEY={DOTENV_KEY}\nOPENAI_BASE_URL={launch.server.base_url}\n"
    (launch.script.parent / ".env").write_text(env_file)
    env = {name: value for name, value in launch.environment.items() if name not in OPENAI_VARIABLES}
    process = launch.start(
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**env, "PYTHONIOENCODING": "ascii"}
    )
    stdout, stderr = process.communicate(timeout=HANG_LIMIT)
    return launch.record(process.returncode, stdout, stderr)


def in_a_process(run):
    """Mark a test as reading `run`'s ProcessRun, through the `process` fixture."""

    def mark(test):
        test.process_run = run
        return test

    return mark


class ProcessRuns:
    """The session's process runs, by name: one worker runs them all in the background.

    A run that broke gives its traceback instead of a ProcessRun.
    """

    def __init__(self, runs: set, shared: Path, bytecode_cache: Path):
        self._saved = shared / "process-runs.pickle"
        self._lock = open(shared / "process-runs.lock", "w")  # noqa: SIM115 (held across calls)
        self._results: dict[str, ProcessRun | str] | None = None
        self._thread = None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another worker is running them
        if self._saved.exists() or not runs:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            return
        self._environment = dict(os.environ)  # as it is between tests; in-process runs change it
        self._thread = threading.Thread(target=self._run_all, args=(runs, shared, bytecode_cache))
        self._thread.start()

    def _run_all(self, runs: set, shared: Path, bytecode_cache: Path) -> None:
        def run_one(run) -> ProcessRun | str:
            try:
                with OpenAIServer() as server:
                    launch = Launch(
                        shared / "process-runs" / run.__name__, server, bytecode_cache, self._environment
                    )
                    try:
                        return run(launch)
                    finally:
                        launch.stop()
            except Exception:
                return traceback.format_exc()

        # One process compiles the SDK into the shared bytecode cache first, so that the runs, started
        # together, load it ready-made instead of each compiling it again (on the first run in a clone).
        environment = {
            name: value for name, value in self._environment.items() if name not in PYTHON_SETTINGS
        }
        warm_up = [sys.executable, "-c", "import agents, dotenv"]
        subprocess.run(warm_up, env={**environment, "PYTHONPYCACHEPREFIX": str(bytecode_cache)}, check=False)
        try:
            with ThreadPoolExecutor(len(runs)) as pool:
                names = [run.__name__ for run in runs]
                self._saved.write_bytes(pickle.dumps(dict(zip(names, pool.map(run_one, runs), strict=True))))
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)

    def __getitem__(self, name: str) -> ProcessRun | str:
        if self._results is None:
            self.wait()
            self._results = pickle.loads(self._saved.read_bytes())
        return self._results[name]

    def wait(self) -> None:
        if self._thread:
            self._thread.join()
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # free once whichever worker runs them is done
        fcntl.flock(self._lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session", autouse=True)
def process_runs(request, tmp_path_factory):
    """Start every process run the session's tests need, as soon as this module's tests begin."""
    tests = {getattr(item, "function", None) for item in request.session.items}
    needed = {test.process_run for test in tests if hasattr(test, "process_run")}
    # With xdist, the parent of a worker's folder is the session's, shared by all its workers.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    shared = tmp_path_factory.getbasetemp().parent if worker else tmp_path_factory.getbasetemp()
    bytecode_cache = Path(os.environ["PYTHONPYCACHEPREFIX"])  # the workers' own; see conftest.py
    runs = ProcessRuns(needed, shared, bytecode_cache)
    yield runs
    runs.wait()  # no process outlives the session


@pytest.fixture
def process(request, process_runs) -> ProcessRun:
    """The ProcessRun that the test is marked `in_a_process` with."""
    result = process_runs[request.function.process_run.__name__]
    if isinstance(result, str):
        pytest.fail(f"the process run broke:\n{result}", pytrace=False)
    return result


@in_a_process(ctrl_c_mid_stream)
def test_ctrl_c_mid_stream_exits_130_quietly_keeping_the_partial_answer(process):
    assert (process.exit_code, process.stderr) == (130, b"")
    printed = process.stdout.decode().removeprefix(START)
    assert printed.endswith("\n")  # the answer's line is ended
    assert "".join(LONG_ANSWER).startswith(printed.removesuffix("\n"))
    assert "word9 " in printed


@in_a_process(ctrl_c_mid_stream)
def test_ctrl_c_mid_stream_stops_the_server_streaming(process):
    assert process.logs[0].client_gone
    assert len(process.logs[0].delta_write_times) < len(LONG_ANSWER) / 2


@in_a_process(ctrl_c_while_the_sdk_loads)
def test_ctrl_c_while_the_sdk_loads_exits_130_quietly(process):
    assert (process.exit_code, process.stdout, process.stderr) == (130, b"", b"")
    assert process.requests == []


@in_a_process(head_after_some_deltas)
def test_reader_leaving_mid_answer_ends_the_run_quietly_with_141(process):
    assert (process.exit_code, process.stderr) == (141, b"")
    assert process.stdout == (START + "".join(LONG_ANSWER)).encode()[:100]
    assert not process.logs[0].finished


@in_a_process(reader_gone_then_the_run_fails)
def test_reader_gone_before_a_failure_ends_the_run_quietly_with_141(process):
    assert process.stdout == START.encode()
    assert (process.exit_code, process.stderr) == (141, b"")
    assert process.requests  # the run went on after the reader left


@in_a_process(reader_gone_then_the_run_succeeds)
def test_reader_gone_before_the_first_delta_ends_the_run_quietly_with_141(process):
    assert process.stdout == START.encode()
    assert (process.exit_code, process.stderr) == (141, b"")
    assert process.requests  # the run went on after the reader left


@in_a_process(stderr_closed_then_the_run_fails)
def test_stderr_closed_before_a_failure_ends_the_run_quietly_with_141(process):
    assert process.exit_code == 141
    assert process.stdout == (START + "\n").encode()  # and nothing after


@in_a_process(stdout_to_a_full_disk)
def test_full_disk_exits_1_saying_so(process):
    assert process.exit_code == 1
    assert process.stderr == b"error: cannot write the answer: No space left on device.\n"


@in_a_process(stdout_closed)
def test_closed_stdout_exits_1_saying_so(process):
    assert process.exit_code == 1
    assert process.stderr == b"error: cannot write the answer: standard output is closed.\n"


@in_a_process(stdout_and_stderr_in_one_pipe)
def test_stdout_and_stderr_in_one_pipe_keep_their_order(process):
    message = f"error: {STOPPED_EARLY.format(base_url=process.base_url)}\n"
    assert process.exit_code == 1
    assert process.stdout.decode() == START + "Recursion is\n" + message


@in_a_process(configured_by_env_file_writing_ascii)
def test_env_file_beside_the_script_is_read_from_another_working_directory(process):
    assert process.request_headers[0]["authorization"] == f"Bearer {DOTENV_KEY}"


@in_a_process(configured_by_env_file_writing_ascii)
def test_answer_is_utf8_even_where_python_would_write_ascii(process):
    assert (process.exit_code, process.stderr) == (0, b"")
    answer = (START + "".join(TRICKY_DELTAS) + "\n").encode()
    assert process.stdout.startswith(answer)
    assert re.fullmatch(COMPLETE.format(len(TRICKY_DELTAS)), process.stdout.removeprefix(answer).decode())
