"""The script as a user runs it: a separate process, the real SDK, real HTTP and SSE.

Each test starts the loopback server from openai_server.py, points the script at it
through OPENAI_BASE_URL with a made-up key, and checks exactly what the user sees:
stdout, stderr and the exit code, plus what the server received.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import OPENAI_VARIABLES, SCRIPT
from openai_server import QUOTA_ERROR, OpenAIServer, Scenario, error_body

KEY = "sk-e2e-not-a-real-key-7f3a9c"
START = "=== Starting Stream ===\n"
# The server reports 25 input tokens and one output token per delta.
COMPLETE = r"=== Stream Complete \(first token \d+\.\d\d s, total \d+\.\d s, 25 in / 4 out tokens\) ===\n"


@pytest.fixture
def server():
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def folders(tmp_path):
    """A copy of the script in its own folder, and a different working directory."""
    script_folder, working_dir = tmp_path / "tutorial", tmp_path / "elsewhere"
    script_folder.mkdir()
    working_dir.mkdir()
    shutil.copy(SCRIPT, script_folder)
    return script_folder, working_dir


@pytest.fixture
def environment(server):
    env = {name: value for name, value in os.environ.items() if name not in OPENAI_VARIABLES}
    return {**env, "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}


@pytest.fixture
def start(folders, environment):
    """Start the script; return the running process (stdout and stderr as bytes)."""
    script_folder, working_dir = folders

    def start(*args: str, env: dict | None = None) -> subprocess.Popen:
        command = [sys.executable, str(script_folder / SCRIPT.name), *args]
        return subprocess.Popen(
            command,
            cwd=working_dir,
            env=env or environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    return start


@pytest.fixture
def run(start):
    """Run the script to the end; return (exit code, stdout, stderr) as text."""

    def run(*args: str, env: dict | None = None) -> tuple[int, str, str]:
        process = start(*args, env=env)
        stdout, stderr = process.communicate(timeout=60)
        return process.returncode, stdout.decode(), stderr.decode()

    return run


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """One plain `python 3runasyncstreaming.py`, shared by the tests that only read its results."""
    folder = tmp_path_factory.mktemp("default_run")
    shutil.copy(SCRIPT, folder)
    with OpenAIServer() as server:
        server.scenario = Scenario(deltas=["Recursion", " is", " a function", " calling itself."])
        env = {name: value for name, value in os.environ.items() if name not in OPENAI_VARIABLES}
        env.update(OPENAI_API_KEY=KEY, OPENAI_BASE_URL=server.base_url)
        command = [sys.executable, str(folder / SCRIPT.name)]
        process = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=60)
    return process, server


def test_default_run_streams_the_answer_between_the_banners(default_run):
    process, _ = default_run

    assert (process.returncode, process.stderr) == (0, "")
    expected_answer = START + "Recursion is a function calling itself.\n"
    assert re.fullmatch(re.escape(expected_answer) + COMPLETE, process.stdout)


def test_default_run_sends_the_tutorials_request(default_run):
    _, server = default_run

    [request] = server.requests
    assert request["model"] == "gpt-4o"
    assert request["instructions"] == "You are a helpful assistant that explains things clearly."
    assert request["input"] == [
        {"role": "user", "content": "Explain recursion in programming in simple terms."}
    ]
    assert request["stream"] is True
    assert server.request_headers[0]["authorization"] == f"Bearer {KEY}"


def test_prompt_and_model_flag_reach_the_request(run, server):
    code, _, _ = run("What is a closure?", "--model", "gpt-4o-mini")

    assert code == 0
    assert server.requests[0]["model"] == "gpt-4o-mini"
    assert server.requests[0]["input"] == [{"role": "user", "content": "What is a closure?"}]


def test_closing_line_reports_the_wait_for_the_first_token(run, server):
    server.scenario = Scenario(deltas=["Slow", " start"], first_byte_delay=0.6)

    code, stdout, _ = run()

    first_token = float(re.search(r"first token (\d+\.\d\d) s", stdout)[1])
    total = float(re.search(r"total (\d+\.\d) s", stdout)[1])
    assert code == 0
    assert 0.6 <= first_token < 3
    assert total >= 0.6


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


def test_multibyte_text_split_across_deltas_comes_out_byte_exact(start, server):
    server.scenario = Scenario(deltas=TRICKY_DELTAS)

    stdout, stderr = start().communicate(timeout=60)

    expected = (START + "".join(TRICKY_DELTAS) + "\n").encode()
    assert stdout[: len(expected)] == expected
    assert stderr == b""


def test_events_flag_logs_the_real_event_sequence(run, server):
    server.scenario = Scenario(deltas=["Hi", "!"])

    code, _, stderr = run("--events")

    assert code == 0
    assert stderr.splitlines() == [
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

    code, stdout, stderr = run()

    assert (code, stderr) == (0, "")
    assert stdout.startswith(START + "Old schema\n=== Stream Complete")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
        ),
        "",
        "your quota is used up (HTTP 429 insufficient_quota). Check your plan and billing.",
    ),
    "429 rate limit": (
        Scenario(
            status=429,
            error_body=error_body("Rate limit reached for gpt-4o.", "requests", "rate_limit_exceeded"),
            extra_headers={"retry-after-ms": "10"},
        ),
        "",
        "rate limited (HTTP 429). Wait a moment and try again.",
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
        "Recursion is\n",
        "the stream from {base_url} stopped before the answer was complete.",
    ),
    "stream ends without a terminal event": (
        Scenario(deltas=["Recursion", " is"], ending="eof"),
        "Recursion is\n",
        "the stream from {base_url} stopped before the answer was complete.",
    ),
    "in-stream error": (
        Scenario(deltas=[], ending="in_stream_error"),
        "",
        f"the server sent an error: {QUOTA_ERROR['message']}",
    ),
    "response.failed": (
        Scenario(deltas=["Recursion"], ending="failed"),
        "Recursion\n",
        f"the response failed: {QUOTA_ERROR['message']}",
    ),
    "response.incomplete": (
        Scenario(deltas=["Recursion", " is"], ending="incomplete"),
        "Recursion is\n",
        "the answer was cut off (max_output_tokens).",
    ),
}


@pytest.mark.parametrize(("scenario", "partial", "message"), FAILURES.values(), ids=FAILURES.keys())
def test_failure_exits_1_with_its_message_after_the_partial_output(run, server, scenario, partial, message):
    server.scenario = scenario

    code, stdout, stderr = run()

    assert code == 1
    assert stdout == START + partial
    assert stderr == f"error: {message.format(base_url=server.base_url)}\n"
    assert KEY not in stdout + stderr


def test_connection_refused_names_the_base_url(run, environment):
    base_url = f"http://127.0.0.1:{free_port()}/v1"

    code, stdout, stderr = run(env={**environment, "OPENAI_BASE_URL": base_url})

    assert (code, stdout) == (1, START)
    assert stderr == f"error: could not connect to {base_url}.\n"


def test_ctrl_c_exits_130_keeps_partial_output_and_stops_the_server(start, server):
    deltas = [f"word{number} " for number in range(200)]
    server.scenario = Scenario(deltas=deltas, delta_interval=0.02)
    process = start()
    seen = b""
    while b"word9 " not in seen:  # ten deltas are on the screen
        seen += os.read(process.stdout.fileno(), 4096)

    process.send_signal(signal.SIGINT)
    interrupted_at = time.monotonic()
    rest, stderr = process.communicate(timeout=10)
    exited_after = time.monotonic() - interrupted_at

    assert process.returncode == 130
    assert stderr == b"interrupted\n"
    printed = (seen + rest).decode().removeprefix(START)
    assert printed.endswith("\n")
    assert "".join(deltas).startswith(printed.removesuffix("\n"))
    assert len(printed) > len("".join(deltas[:10]))
    assert exited_after < 1.5
    deadline = time.monotonic() + 2
    while not server.logs[0].client_gone and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.logs[0].client_gone
    assert len(server.logs[0].delta_write_times) < 100


def test_missing_key_exits_2_and_sends_no_request(run, server, environment):
    env = {name: value for name, value in environment.items() if name != "OPENAI_API_KEY"}

    code, stdout, stderr = run(env=env)

    assert (code, stdout) == (2, "")
    assert stderr == "error: no OPENAI_API_KEY: copy .env.example to .env and add your key.\n"
    assert server.requests == []


def test_env_file_beside_the_script_is_used_from_another_directory(run, server, folders, environment):
    script_folder, _ = folders
    (script_folder / ".env").write_text(f"OPENAI_API_KEY=sk-from-dotenv\nOPENAI_BASE_URL={server.base_url}\n")
    env = {name: value for name, value in environment.items() if name not in OPENAI_VARIABLES}

    code, _, stderr = run(env=env)

    assert (code, stderr) == (0, "")
    assert server.request_headers[0]["authorization"] == "Bearer sk-from-dotenv"


def test_reader_closing_early_ends_quietly_and_stops_the_server(folders, environment, server):
    server.scenario = Scenario(deltas=[f"word{number} " for number in range(300)], delta_interval=0.005)
    script_folder, working_dir = folders
    pipeline = f"'{sys.executable}' '{script_folder / SCRIPT.name}' | head -c 100; exit ${{PIPESTATUS[0]}}"

    shell = subprocess.run(
        ["bash", "-c", pipeline], cwd=working_dir, env=environment, capture_output=True, timeout=60
    )

    assert shell.returncode == 141
    assert shell.stdout == (START + "".join(f"word{number} " for number in range(300))).encode()[:100]
    assert shell.stderr == b""
    assert not server.logs[0].finished
