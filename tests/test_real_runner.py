"""The script over the real Runner, with the SDK's own ScriptedModel in place of OpenAI.

The stubbed-Runner tests fix the script's output for given events. These check the
SDK behaviour the script relies on: which events a real run emits, that usage
reaches the closing line, that a failed stream's terminal event is delivered before
the run raises, and that openai errors reach the script unwrapped.
"""

import openai
import pytest
from agents import RunConfig, Runner, Usage
from agents.testing import ModelStep, ScriptedModel, assistant_message
from events import incomplete, opening, status_error, text_delta


@pytest.fixture
def scripted_model(script_dir, monkeypatch):
    """Runs the script's agent on a ScriptedModel, through the real Runner.run_streamed."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    model = ScriptedModel()
    real_run_streamed = Runner.run_streamed

    def run_streamed(agent, input, **kwargs):
        # Keep every setting of the script's agent but the model; send no traces anywhere.
        no_traces = RunConfig(tracing_disabled=True)
        return real_run_streamed(agent.clone(model=model), input, run_config=no_traces, **kwargs)

    monkeypatch.setattr(Runner, "run_streamed", run_streamed)
    return model


def test_real_run_streams_the_answer_and_reports_its_usage(run_script, scripted_model):
    scripted_model.enqueue(
        ModelStep(
            output=[assistant_message("Recursion is a function calling itself.")],
            usage=Usage(requests=1, input_tokens=25, output_tokens=7, total_tokens=32),
        )
    )

    outcome = run_script("--events")

    assert outcome.exit_code == 0
    assert outcome.stdout.startswith("=== Starting Stream ===\nRecursion is a function calling itself.\n")
    assert "25 in / 7 out tokens) ===\n" in outcome.stdout
    call = scripted_model.first_call
    assert call.system_instructions == "You are a helpful assistant that explains things clearly."
    assert call.input == [{"content": "Explain recursion in programming in simple terms.", "role": "user"}]
    assert call.streamed
    # A real run emits all three kinds of stream event.
    kinds = {line.split()[0] for line in outcome.stderr.splitlines()}
    assert kinds == {"agent_updated_stream_event", "raw_response_event", "run_item_stream_event"}


def test_real_run_delivers_response_incomplete_before_raising(run_script, scripted_model):
    raw_events = [*opening()[1:], text_delta("Recursion"), text_delta(" is"), incomplete("max_output_tokens")]
    scripted_model.enqueue(ModelStep.stream([event.data for event in raw_events]))

    outcome = run_script()

    assert outcome.exit_code == 1
    assert outcome.stdout == "=== Starting Stream ===\nRecursion is\n"
    assert outcome.stderr == "error: the answer was cut off (max_output_tokens).\n"


def test_real_run_passes_openai_errors_through_unwrapped(run_script, scripted_model):
    quota = status_error(openai.RateLimitError, 429, "You exceeded your current quota.", "insufficient_quota")
    scripted_model.enqueue(ModelStep.raise_error(quota))

    outcome = run_script()

    assert outcome.exit_code == 1
    assert outcome.stderr == (
        "error: your quota is used up (HTTP 429 insufficient_quota). Check your plan and billing.\n"
    )
