"""What the tests share: the script as a module, a run of it in this process, the loopback server.

A run in this process calls the script's `run()` as `python 3runasyncstreaming.py ARGS` would, with no
settings from this machine (no OPENAI_*, proxy or certificate variables, no .env), and captures what it
writes to its file descriptors. The environment, the working directory and .env are restored after
each test; no test sends a trace anywhere.
"""

import importlib
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import agents
import pytest
from openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "3runasyncstreaming.py"
KEY = "sk-test-not-a-real-key-7f3a9c"
START = "=== Starting Stream ===\n"
ANSWER = "Recursion is when a function calls itself."  # the loopback server's default answer
HANG = 120  # seconds: only a run that has hung takes this long
MACHINE_SETTINGS = ("OPENAI_", "SSL_", "SHOW_TRACEBACK", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")

script = importlib.import_module("3runasyncstreaming")  # pytest puts the project folder on sys.path
agents.set_trace_processors([])  # nothing a test runs is exported to OpenAI's Traces dashboard


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """No settings from this machine, .env in an empty folder, and the working directory elsewhere."""
    for name in os.environ:
        if name.upper().startswith(MACHINE_SETTINGS):
            monkeypatch.delenv(name)
    monkeypatch.setattr(script, "ENV_FILE", tmp_path / ".env")
    monkeypatch.chdir(tmp_path)
    with mock.patch.dict(os.environ):  # the script adds what .env holds to the environment
        yield tmp_path / ".env"


@pytest.fixture
def run_script(environment, monkeypatch, capfd):
    """Run the script in this process; `stdin` is piped in ("" as from `< /dev/null`), `env` added."""

    def run(*args: str, stdin: str | bytes = "", env: dict[str, str] | None = None) -> Outcome:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        data = stdin.encode() if isinstance(stdin, str) else stdin
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        try:
            exit_code = script.run(list(args))
        except SystemExit as exit:  # argparse's --help and usage errors
            exit_code = exit.code
        sys.stdout.flush()
        captured = capfd.readouterr()
        return Outcome(exit_code, captured.out, captured.err)

    return run


@pytest.fixture
def server():
    """A stand-in for OpenAI on 127.0.0.1, streaming in its wire format; see openai_server.py."""
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def run(run_script, server):
    """Run the script in this process against `server`, with a made-up key; `env` adds or replaces."""

    def run(*args: str, stdin: str | bytes = "", env: dict[str, str] | None = None) -> Outcome:
        return run_script(
            *args, stdin=stdin, env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url} | (env or {})
        )

    return run
