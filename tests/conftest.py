"""Shared fixtures: run the tutorial script in-process with a stubbed Runner.

The script is copied into a temporary folder for each test, so a developer's
own .env beside the real script is never read, and every test starts from an
environment with no OPENAI_* variables.
"""

import os
import runpy
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from agents import RunContextWrapper, Runner, Usage

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
    """Stands in for RunResultStreaming: replays `events`, then raises `error` if one is given."""

    events: list
    error: BaseException | None = None
    usage: Usage = field(default_factory=lambda: Usage(requests=1, input_tokens=25, output_tokens=311))
    cancelled: bool = False
    flushed_at_each_event: list = field(default_factory=list)

    def __post_init__(self):
        self.context_wrapper = RunContextWrapper(context=None, usage=self.usage)

    async def stream_events(self):
        for event in self.events:
            yield event
            # The consumer has handled `event` by now: note what reached the terminal.
            self.flushed_at_each_event.append(getattr(sys.stdout, "flushed", None))
        if self.error is not None:
            raise self.error

    def cancel(self, mode="immediate"):
        self.cancelled = True


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

    def run(*args: str) -> Outcome:
        script = script_dir / SCRIPT.name
        monkeypatch.setattr(sys, "argv", [str(script), *args])
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as exit:
            code = exit.code
        else:
            code = 0
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run
