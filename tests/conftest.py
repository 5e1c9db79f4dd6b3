"""Fixtures shared by the tests: the script as a module, a run of it in this process, the loopback server.

The script's file name starts with a digit, so it is loaded from its path rather than imported by name.
A run in this process calls its `run()`, as `python 3runasyncstreaming.py ARGS` would, with a clean
environment (no OPENAI_* variables, no .env) and the output captured at the file-descriptor level, so
that the script sees real files. No test ever sends a trace.
"""

import functools
import importlib.util
import io
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "3runasyncstreaming.py"
# Variables that would change what a run does; each test starts without them.
SETTINGS_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_DEFAULT_MODEL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_AGENTS_DISABLE_TRACING",
    "SSL_CERT_FILE",
    "SSLKEYLOGFILE",
    "SHOW_TRACEBACK",
    *(f"{name}_proxy" for name in ("http", "https", "all", "no")),
    *(f"{name}_PROXY" for name in ("HTTP", "HTTPS", "ALL", "NO")),
)


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


@functools.cache  # one module, whose classes (ServerSilent, FAILURES' rows) every test shares
def load_script():
    spec = importlib.util.spec_from_file_location("tutorial", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there to read its annotations
    pytests_ctrl_c = signal.getsignal(signal.SIGINT)
    spec.loader.exec_module(module)
    signal.signal(signal.SIGINT, pytests_ctrl_c)  # the script's first lines set its own, for its imports
    return module


@pytest.fixture(scope="session")
def script():
    """3runasyncstreaming.py as a module, loaded once."""
    import agents

    agents.set_trace_processors([])  # nothing a test runs is ever exported to OpenAI
    return load_script()


@pytest.fixture
def environment(monkeypatch, tmp_path, script):
    """No settings in the environment, and an empty folder for .env; the working directory elsewhere."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / "tutorial" / ".env"
    env_file.parent.mkdir()
    monkeypatch.setattr(script, "ENV_FILE", env_file)
    monkeypatch.chdir(tmp_path)
    # set_up_sdk() exports what .env adds, as load_dotenv() would: undo that after the test.
    with mock.patch.dict(os.environ):
        yield env_file


@pytest.fixture
def run_script(script, environment, monkeypatch, capfd):
    """Run the script in this process, as `python 3runasyncstreaming.py ARGS...` would run."""

    def run(*args: str, stdin: str | bytes = "", env: dict[str, str] | None = None) -> Outcome:
        """Standard input is `stdin`, not a terminal ("" is as with `< /dev/null`); `env` adds variables."""
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
    """A loopback server that streams like the OpenAI Responses API; see openai_server.py."""
    with OpenAIServer() as server:
        yield server
