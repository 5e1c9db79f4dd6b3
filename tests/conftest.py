"""What the tests share: the script as a module, a run of it in this process, the loopback server.

A run in this process calls the script's `run()` as `python 3runasyncstreaming.py ARGS` would, with no
settings from this machine (no OPENAI_*, proxy or certificate variables, no .env), and writes to files of
its own. The environment and the script's .env are restored after each run; no test sends a trace.
"""

import importlib
import io
import os
import sys
import tempfile
from contextlib import ExitStack
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

sys.path.insert(0, str(ROOT))  # for `python tests/test_readme.py` too
script = importlib.import_module("3runasyncstreaming")
agents.set_trace_processors([])  # nothing a test runs is exported to OpenAI's Traces dashboard


def only(env: dict | None) -> dict[str, str]:
    """This environment without the machine's settings, and with `env` (None: not set)."""
    environ = {
        name: value for name, value in os.environ.items() if not name.upper().startswith(MACHINE_SETTINGS)
    }
    return {name: value for name, value in (environ | (env or {})).items() if value is not None}


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


def run_in_process(
    *args: str, env: dict | None = None, stdin: bytes = b"", env_file=None, module=script
) -> Outcome:
    """Run the script's run() here, as `python 3runasyncstreaming.py ARGS` would run, with `stdin` piped
    in, no settings from this machine but `env` (None: not set), and .env at `env_file` (default: none).
    `module` may be a copy of the script."""
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        out, err = (stack.enter_context(open(Path(folder, name), "w+", encoding="utf-8")) for name in "12")
        stack.enter_context(mock.patch.dict(os.environ, only(env), clear=True))
        stack.enter_context(mock.patch.object(module, "ENV_FILE", env_file or Path(folder, ".env")))
        stack.enter_context(
            mock.patch.multiple(sys, stdin=io.TextIOWrapper(io.BytesIO(stdin)), stdout=out, stderr=err)
        )
        try:
            exit_code = module.run(list(args))
        except SystemExit as exit:  # argparse's --help and usage errors
            exit_code = exit.code
        out.flush(), err.flush()
        return Outcome(exit_code, *(Path(folder, name).read_text(encoding="utf-8") for name in "12"))


@pytest.fixture
def server():
    """A stand-in for OpenAI on 127.0.0.1, streaming in its wire format; see openai_server.py."""
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def environment(tmp_path):
    """The .env that run() reads: none, until a test writes it."""
    return tmp_path / ".env"


@pytest.fixture
def run(server, environment):
    """Run the script in this process against `server` with a made-up key; `env` adds or replaces
    variables (None: not set), `stdin` is piped in ("" as from `< /dev/null`)."""

    def run(*args: str, stdin: str | bytes = "", env: dict | None = None) -> Outcome:
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url} | (env or {})
        data = stdin.encode() if isinstance(stdin, str) else stdin
        return run_in_process(*args, env=env, stdin=data, env_file=environment)

    return run
