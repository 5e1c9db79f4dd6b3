"""The script as a process of its own, where the process is the point: signals, pipes, the terminal.

Each test starts `python 3runasyncstreaming.py` against the loopback server and waits for what it needs
to see; HANG only turns a hang into a failure.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import HANG, KEY, MACHINE_SETTINGS, SCRIPT, START
from openai_server import Scenario

WORDS = [f"word{number} " for number in range(200)]


@pytest.fixture
def start(server):
    """Start the script against `server`; `env` adds variables (None removes one)."""

    def start(*args, script=SCRIPT, env=None, **options) -> subprocess.Popen:
        environ = {
            name: value for name, value in os.environ.items() if not name.upper().startswith(MACHINE_SETTINGS)
        }
        environ |= {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url} | (env or {})
        environ = {name: value for name, value in environ.items() if value is not None}
        return subprocess.Popen([sys.executable, script, *args], env=environ, **options)

    return start


def read_until(stream, ending: bytes) -> bytes:
    seen = b""
    while not seen.endswith(ending):
        chunk = os.read(stream.fileno(), 1)
        assert chunk, f"the output ended before {ending!r}: {seen!r}"
        seen += chunk
    return seen


def test_ctrl_c_mid_answer_exits_130_quietly_keeping_the_answer_so_far(start, server):
    server.scenario = Scenario(deltas=WORDS, delta_interval=0.05)  # 10 s of answer
    process = start(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = read_until(process.stdout, b"word9 ")

    process.send_signal(signal.SIGINT)
    rest, stderr = process.communicate(timeout=HANG)

    assert (process.returncode, stderr) == (130, b"")
    answer = (seen + rest).decode().removeprefix(START)
    assert answer.endswith("\n") and "".join(WORDS).startswith(answer.removesuffix("\n"))
    deadline = time.monotonic() + HANG
    while not server.client_gone[0]:  # the server sees the client leave, and stops writing
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_ctrl_c_while_the_sdk_loads_exits_130_quietly(start, server):
    process = start(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    maps, deadline = Path(f"/proc/{process.pid}/maps"), time.monotonic() + HANG
    while "pydantic_core" not in maps.read_text():  # the SDK is loading, so the script's first lines ran
        assert time.monotonic() < deadline
        time.sleep(0.01)

    process.send_signal(signal.SIGINT)

    assert process.communicate(timeout=HANG) == (b"", b"")
    assert (process.returncode, server.requests) == (130, [])


def test_reader_that_leaves_ends_the_run_quietly_with_141(start, server):
    server.scenario = Scenario(deltas=WORDS, delta_interval=0.01)
    process = start(stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    process.stdout.read(100)
    process.stdout.close()  # as `| head -c 100` does
    _, stderr = process.communicate(timeout=HANG)

    assert (process.returncode, stderr) == (141, b"")


def test_full_disk_is_one_line(start):
    with open("/dev/full", "w") as full:
        process = start(stdout=full, stderr=subprocess.PIPE)
        _, stderr = process.communicate(timeout=HANG)

    assert (process.returncode, stderr) == (1, b"error: cannot write the answer: No space left on device.\n")


def test_reader_that_pauses_past_the_timeout_gets_the_whole_answer(start, server):
    lines = [f"line {number:03} {'x' * 1000}\n" for number in range(300)]  # more than a pipe holds
    server.scenario = Scenario(deltas=lines, delta_interval=0.005)  # the server streams steadily
    process = start("--timeout", "1", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = read_until(process.stdout, START.encode())

    time.sleep(2.5)  # the pipe fills; the script blocks writing, and is not the server's silence
    rest, stderr = process.communicate(timeout=HANG)

    assert (process.returncode, stderr) == (0, b"")
    assert (seen + rest).decode().startswith(START + "".join(lines) + "\n=== Stream Complete (")


def test_env_file_beside_the_script_is_read_from_anywhere_and_ascii_terminal_gets_every_character(
    start, server, tmp_path
):
    answer = ["Café ", "递归 ", "👨\u200d👩\u200d👧 ", "\ud83d", " end"]  # "\ud83d": half a surrogate pair
    server.scenario = Scenario(deltas=answer)
    folder = tmp_path / "tutorial"
    folder.mkdir()
    script = shutil.copy(SCRIPT, folder)
    (folder / ".env").write_text(f"OPENAI_API_KEY=sk-from-dotenv\nOPENAI_BASE_URL={server.base_url}\n")
    env = {"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None, "PYTHONIOENCODING": "ascii"}

    process = start(script=script, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = process.communicate(timeout=HANG)

    assert (process.returncode, stderr) == (0, b"")
    assert stdout.decode().startswith(
        START + "Café 递归 👨\u200d👩\u200d👧 \ufffd end\n=== Stream Complete ("
    )
    assert server.request_headers[0]["authorization"] == "Bearer sk-from-dotenv"
