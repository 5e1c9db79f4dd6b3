"""Shared fixtures: run the tutorial script in this process, as `python 3runasyncstreaming.py`.

The script is copied into a temporary folder for each test, so a developer's
own .env beside the real script is never read, and every test starts from an
environment with no OPENAI_* variables. What the script sets for the whole
process (the Ctrl+C handler, the SDK's client, tracing and logging) is undone
after each test. No test ever sends a trace.
"""

import io
import logging
import os
import runpy
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import agents
import pytest
from agents import RunContextWrapper, Runner, Usage
from agents.models import _openai_shared
from openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "3runasyncstreaming.py"
OPENAI_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_DEFAULT_MODEL",
    "OPENAI_AGENTS_DISABLE_TRACING",
)


@dataclass
class FakeRun:
    """Stands in for RunResultStreaming: replays `events`, then raises `error` if one is given.

    With `then_hang`, it then waits, as a server gone silent would, until cancel() is called.
    Like the SDK's, cancel() ends the stream (stream_events() returns at its next step) and
    leaves the run without a final output.
    """

    TEXT_OF_THE_DELTAS = object()  # final_output's default
    HANG_AT_MOST = 10  # seconds: a script that never cancels fails its test instead of blocking it

    events: list
    error: BaseException | None = None
    then_hang: bool = False
    final_output: object = TEXT_OF_THE_DELTAS  # the text the deltas spell out; None once cancelled
    usage: Usage = field(default_factory=lambda: Usage(requests=1, input_tokens=25, output_tokens=311))
    cancelled: bool = False
    flushed_at_each_event: list = field(default_factory=list)

    def __post_init__(self):
        import asyncio

        self.context_wrapper = RunContextWrapper(context=None, usage=self.usage)
        if self.final_output is self.TEXT_OF_THE_DELTAS:
            self.final_output = "".join(
                event.data.delta
                for event in self.events
                if getattr(getattr(event, "data", None), "type", None) == "response.output_text.delta"
            )
        self._stopped = asyncio.Event()

    async def stream_events(self):
        import asyncio

        for event in self.events:
            if self.cancelled:
                return
            yield event
            # The consumer has handled `event` by now: note what reached the terminal.
            self.flushed_at_each_event.append(getattr(sys.stdout, "flushed", None))
        if self.cancelled:
            return
        if self.error is not None:
            raise self.error
        if self.then_hang:
            try:
                await asyncio.wait_for(self._stopped.wait(), self.HANG_AT_MOST)
            except asyncio.TimeoutError:
                raise AssertionError(f"the run was not cancelled within {self.HANG_AT_MOST} s") from None

    def cancel(self, mode="immediate"):
        self.cancelled = True
        self.final_output = None
        self._stopped.set()


@dataclass
class RunnerCall:
    agent: object
    input: str
    api_key: str | None  # OPENAI_API_KEY as the script left it when it started the run


class FakeRunner:
    """Replaces Runner.run_streamed; records each call and returns `run`."""

    def __init__(self):
        self.run = FakeRun(events=[])
        self.calls: list[RunnerCall] = []

    def run_streamed(self, agent, input, **kwargs):
        self.calls.append(RunnerCall(agent, input, os.environ.get("OPENAI_API_KEY")))
        return self.run


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


def pytest_configure(config):
    agents.set_trace_processors([])  # nothing a test runs is ever exported to OpenAI


@pytest.fixture(autouse=True)
def process_state(monkeypatch):
    """Restore what the script changes for the whole process."""
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
