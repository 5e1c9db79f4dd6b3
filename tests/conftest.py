"""Shared fixtures: run the tutorial script in this process, as `python 3runasyncstreaming.py`.

The script is copied into a temporary folder for each test, so a developer's
own .env beside the real script is never read, and every test starts from an
environment with no OPENAI_* variables. What the script sets for the whole
process (the Ctrl+C handler, the SDK's client, tracing and logging) is undone
after each test. No test ever sends a trace.

The SDK is imported inside the fixtures, not here: with xdist, pytest's main process
loads this file too, and need not spend seconds loading the SDK that only the
workers use.
"""

import io
import logging
import os
import runpy
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "3runasyncstreaming.py"

# Loading the SDK means compiling it, unless its bytecode is kept; PYTHONDONTWRITEBYTECODE, set on some
# machines, forbids that, and every xdist worker would compile it again. Keep it in pytest's cache
# folder instead; the workers, which start after this file is read, inherit these settings.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
os.environ.setdefault("PYTHONPYCACHEPREFIX", str(ROOT / ".pytest_cache" / "bytecode"))
OPENAI_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_DEFAULT_MODEL",
    "OPENAI_AGENTS_DISABLE_TRACING",
)


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture(scope="session", autouse=True)
def no_trace_export():
    import agents

    agents.set_trace_processors([])  # nothing a test runs is ever exported to OpenAI


@pytest.fixture(autouse=True)
def process_state(monkeypatch):
    """Restore what the script changes for the whole process."""
    import agents
    from agents.models import _openai_shared

    provider = agents.tracing.get_trace_provider()
    for name in ("_disabled", "_manual_disabled"):
        monkeypatch.setattr(provider, name, getattr(provider, name))
    monkeypatch.setattr(_openai_shared, "_default_openai_client", _openai_shared._default_openai_client)
    sdk_logger = logging.getLogger("openai.agents")
    monkeypatch.setattr(sdk_logger, "level", sdk_logger.level)
    ctrl_c = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, ctrl_c)


@pytest.fixture
def script_dir(tmp_path, monkeypatch):
    """An empty folder holding a copy of the script; the working directory is elsewhere."""
    folder = tmp_path / "tutorial"
    folder.mkdir()
    shutil.copy(SCRIPT, folder)
    saved_environ = dict(os.environ)
    for name in OPENAI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield folder
    # load_dotenv() writes straight into os.environ, behind monkeypatch's back.
    os.environ.clear()
    os.environ.update(saved_environ)


@pytest.fixture
def fake_runner(monkeypatch):
    from agents import Runner
    from events import FakeRunner

    runner = FakeRunner()
    monkeypatch.setattr(Runner, "run_streamed", runner.run_streamed)
    return runner


@pytest.fixture
def run_script(script_dir, monkeypatch, capsys):
    """Run the script as `python 3runasyncstreaming.py ARGS...` in this process."""

    def run(*args: str, stdin: str = "") -> Outcome:
        """Standard input is `stdin`, not a terminal; "" is as with `< /dev/null`."""
        script = script_dir / SCRIPT.name
        monkeypatch.setattr(sys, "argv", [str(script), *args])
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as exit:
            code = exit.code
        else:
            code = 0
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


@pytest.fixture
def server():
    """A loopback server that streams like the OpenAI Responses API; see openai_server.py."""
    with OpenAIServer() as server:
        yield server
