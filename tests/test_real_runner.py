"""The script over the real Runner, with the SDK's own ScriptedModel in place of OpenAI.

The stubbed-Runner tests fix the script's output for given events. These check the
SDK behaviour the script relies on: which events a real run emits, that usage
reaches the closing line, that a failed stream's terminal event is delivered before
the run raises, that openai errors reach the script unwrapped, that a cancelled run
has no final output and that cancel() ends the stream, and that a refusal is raised
as ModelRefusalError.
"""

import asyncio

import openai
import pytest
from agents import Agent, ModelRefusalError, RunConfig, Runner, Usage
from agents.testing import ModelStep, ScriptedModel, assistant_message
from events import incomplete, opening, status_error, text_delta
from openai.types.responses import ResponseOutputMessage, ResponseOutputRefusal

START = "=== Starting Stream ===\n"
REFUSAL = "I can't help with that."


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


def refusal_message(refusal: str) -> ResponseOutputMessage:
    """An assistant message whose only content is a refusal, as OpenAI sends one."""
    content = [ResponseOutputRefusal(type="refusal", refusal=refusal)]
    return ResponseOutputMessage(
        id="msg_1", type="message", role="assistant", status="completed", content=content
    )


def test_real_run_streams_the_answer_and_reports_its_usage(run_script, scripted_model):
    scripted_model.enqueue(
        ModelStep(
            output=[assistant_message("Recursion is a function calling itself.")],
            usage=Usage(requests=1, input_tokens=25, output_tokens=7, total_tokens=32),
        )
    )

    outcome = run_script("--events")

    assert outcome.exit_code == 0
    assert outcome.stdout.startswith(START + "Recursion is a function calling itself.\n")
    assert "25 in / 7 out tokens) ===\n" in outcome.stdout
    assert "=== Stream Complete (" in outcome.stdout
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
    assert outcome.stdout == START + "Recursion is\n"
    assert outcome.stderr == "error: the answer was cut off (max_output_tokens).\n"


def test_real_run_passes_openai_errors_through_unwrapped(run_script, scripted_model):
    quota = status_error(openai.RateLimitError, 429, "You exceeded your current quota.", "insufficient_quota")
    scripted_model.enqueue(ModelStep.raise_error(quota))

    outcome = run_script()

    assert outcome.exit_code == 1
    assert outcome.stderr == "error: the server answered HTTP 429: You exceeded your current quota.\n"


@pytest.mark.parametrize("cancel", [False, True], ids=["normal run", "cancelled run"])
def test_real_run_has_a_final_output_unless_cancelled(cancel):
    """The script tells Complete from Cancelled by `result.final_output is None`."""
    model = ScriptedModel([ModelStep(output=[assistant_message("Recursion is a function calling itself.")])])
    agent = Agent(name="Assistant", model=model)

    async def consume():
        result = Runner.run_streamed(agent, "Explain recursion.", run_config=RunConfig(tracing_disabled=True))
        async for event in result.stream_events():
            if cancel and event.type == "raw_response_event":
                result.cancel()
        return result

    result = asyncio.run(consume())

    if cancel:
        assert result.final_output is None
    else:
        assert result.final_output == "Recursion is a function calling itself."


def test_real_run_raises_model_refusal_error_for_a_refusal():
    model = ScriptedModel([ModelStep(output=[refusal_message(REFUSAL)])])
    agent = Agent(name="Assistant", model=model)

    async def consume():
        result = Runner.run_streamed(agent, "Explain recursion.", run_config=RunConfig(tracing_disabled=True))
        async for _ in result.stream_events():
            pass

    with pytest.raises(ModelRefusalError) as refused:
        asyncio.run(consume())
    assert refused.value.refusal == REFUSAL


def test_real_run_refusal_is_printed_on_stdout_then_a_notice(run_script, scripted_model):
    scripted_model.enqueue(ModelStep(output=[refusal_message(REFUSAL)]))

    outcome = run_script()

    assert outcome.exit_code == 1
    assert outcome.stdout == START + "\n" + REFUSAL + "\n"
    assert outcome.stderr == "error: the model refused to answer; its reply is above.\n"


def test_real_run_is_ended_by_the_silence_limit(run_script, scripted_model):
    raw_events = [event.data for event in [*opening()[1:], text_delta("Recursion")]]

    async def then_silence(call):
        for event in raw_events:
            yield event
        await asyncio.sleep(10)  # cancel() should end this long before; if not, the stream breaks off

    scripted_model.enqueue(ModelStep.stream(then_silence))

    outcome = run_script("--timeout", "0.05")

    assert outcome.exit_code == 1
    assert outcome.stdout == START + "Recursion\n"
    assert outcome.stderr == (
        "error: timed out: https://api.openai.com/v1 sent nothing for 0.05 s (see --timeout).\n"
    )
