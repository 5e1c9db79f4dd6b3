"""The lesson, tested two ways: the pattern to copy for your own streaming code.

The first test replaces Runner.run_streamed() with a stub that replays events built from the SDK's and
openai's own classes. The second keeps the real Runner and lets the SDK's ScriptedModel (openai-agents
0.21.0 or later) play the model. Both call the script's main() in this process and read what it printed.
"""

import argparse
import asyncio
import importlib

import pytest
from agents import RawResponsesStreamEvent
from agents.testing import ScriptedModel, assistant_message
from openai.types.responses import ResponseTextDeltaEvent

script = importlib.import_module("3runasyncstreaming")


def settings(**changes) -> argparse.Namespace:
    """What main() gets from the command line and the environment, with no server behind it."""
    url = "http://127.0.0.1:9/v1"  # nothing listens there: a test that reached it would fail
    defaults = dict(prompt="Explain recursion.", model=None, timeout=300, events=False, key="sk-test")
    return argparse.Namespace(**defaults | {"base_url": url, "shown_url": url} | changes)


# --- A stub Runner: run_streamed() returns a run that replays the events given to it -----------------


def text_delta(text: str) -> RawResponsesStreamEvent:
    """The event that carries a piece of the answer, as the SDK hands it on."""
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0, "sequence_number": 0}
    delta = ResponseTextDeltaEvent(type="response.output_text.delta", delta=text, logprobs=[], **where)
    return RawResponsesStreamEvent(data=delta)


class StubRunner:
    """Stands in for agents.Runner: run_streamed() returns a run that replays `events`."""

    def __init__(self, *events, between=lambda: None) -> None:
        self.events, self.between, self.asked = events, between, []

    def run_streamed(self, agent, prompt, **options):
        self.asked.append(prompt)
        return self

    async def stream_events(self):
        for event in self.events:
            yield event
            self.between()  # runs before the next event is read
            await asyncio.sleep(0)


def test_deltas_are_printed_as_they_come_between_the_banners(monkeypatch, capsys):
    runner = StubRunner(text_delta("Recursion"), text_delta(" is"), text_delta(" a function calling itself."))
    monkeypatch.setattr(script, "Runner", runner)

    asyncio.run(script.main(settings()))

    printed = capsys.readouterr().out
    assert printed.startswith("=== Starting Stream ===\nRecursion is a function calling itself.\n")
    assert printed.splitlines()[-1].startswith("=== Stream Complete (")
    assert runner.asked == ["Explain recursion."]


# --- The real Runner, with ScriptedModel playing the model ---------------------------------------------


def test_real_runner_prints_the_models_answer_between_the_banners(capsys):
    model = ScriptedModel([[assistant_message("Recursion is a function calling itself.")]])

    asyncio.run(script.main(settings(model=model)))

    printed = capsys.readouterr().out
    assert printed.startswith("=== Starting Stream ===\nRecursion is a function calling itself.\n")
    assert printed.splitlines()[-1].startswith("=== Stream Complete (")
    assert model.last_call.input == [{"role": "user", "content": "Explain recursion."}]


# --- The rest of the lesson, through the stub ----------------------------------------------------------


def test_each_delta_is_flushed_before_the_next_event_is_read(monkeypatch, tmp_path):
    output, seen = tmp_path / "stdout", []
    deltas = [text_delta(text) for text in ("Re", "cur", "sion")]
    monkeypatch.setattr(
        script, "Runner", StubRunner(*deltas, between=lambda: seen.append(output.read_text()))
    )

    with output.open("w") as file:  # as a pipe or a file: written out only when flushed
        monkeypatch.setattr("sys.stdout", file)
        asyncio.run(script.main(settings()))

    assert seen == [
        "=== Starting Stream ===\nRe",
        "=== Starting Stream ===\nRecur",
        "=== Starting Stream ===\nRecursion",
    ]


def test_events_flag_prints_each_event_on_stderr(capsys):
    model = ScriptedModel([[assistant_message("Hi!")]])

    asyncio.run(script.main(settings(model=model, events=True)))

    printed = capsys.readouterr()
    assert printed.err.splitlines() == [
        "agent_updated_stream_event Assistant",
        "raw_response_event response.created",
        "raw_response_event response.in_progress",
        "raw_response_event response.output_item.added",
        "raw_response_event response.content_part.added",
        "raw_response_event response.output_text.delta",
        "raw_response_event response.output_text.done",
        "raw_response_event response.content_part.done",
        "raw_response_event response.output_item.done",
        "raw_response_event response.completed",
        "run_item_stream_event message_output_created",
    ]
    assert "Hi!" in printed.out


@pytest.mark.parametrize("model", ["gpt-4.1", None])
def test_agent_gets_the_model_asked_for_or_none_for_the_sdks_default(monkeypatch, model):
    agents_made = []
    monkeypatch.setattr(script, "Agent", lambda **options: agents_made.append(options))
    monkeypatch.setattr(script, "Runner", StubRunner())

    asyncio.run(script.main(settings(model=model)))

    assert agents_made == [
        {
            "name": "Assistant",
            "instructions": "You are a helpful assistant that explains things clearly.",
            "model": model,
        }
    ]
