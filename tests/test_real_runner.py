"""The SDK's real Runner, with the SDK's own ScriptedModel in place of OpenAI.

The stubbed Runner of test_script.py replays whatever events a test chooses, so it cannot tell what the
real Runner does with a model's stream. ScriptedModel can: the real Runner calls it as it would call
OpenAI. These tests check what the stub takes for granted: a real run emits all three kinds of event and
counts the tokens of each response; it delivers a terminal event such as `response.incomplete` before it
raises; it passes the openai client's errors through unwrapped; it raises a refusal as ModelRefusalError;
cancel() ends its stream (the silence limit relies on it), and leaves no final output. A tool call, which
takes two model calls and a function in between, is the one thing the stub cannot play at all.
"""

import asyncio

import httpx2
import openai
import pytest
from agents import Agent, ModelRefusalError, RunConfig, Runner, Usage, function_tool
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from failures import KEY, streamed_by_the_client
from openai.types.responses import ResponseOutputMessage, ResponseOutputRefusal
from stub_runner import incomplete, opening, text_delta

START = "=== Starting Stream ===\n"
NO_TRACES = RunConfig(tracing_disabled=True)


@pytest.fixture
def real_runner(script, monkeypatch, environment):
    """Run the script's agent on a ScriptedModel, with `tools`, through the real Runner.run_streamed."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    real_run_streamed = script.Runner.run_streamed

    def use(model: ScriptedModel, tools=()) -> None:
        def run_streamed(agent, input, **options):
            return real_run_streamed(agent.clone(model=model, tools=list(tools)), input, **options)

        monkeypatch.setattr(script.Runner, "run_streamed", run_streamed)

    return use


def stream_to_the_end(model: ScriptedModel, cancel_at_first_event: bool = False):
    """Read a real run's whole stream, as the script does, without the script; return the result."""

    async def consume():
        result = Runner.run_streamed(Agent(name="Assistant", model=model), "Explain.", run_config=NO_TRACES)
        async for _ in result.stream_events():
            if cancel_at_first_event:
                result.cancel()
        return result

    return asyncio.run(consume())


def test_real_run_streams_the_answer_and_counts_its_tokens(run_script, real_runner):
    model = ScriptedModel()
    model.enqueue(
        ModelStep(
            output=[assistant_message("Recursion is a function calling itself.")],
            usage=Usage(requests=1, input_tokens=25, output_tokens=7, total_tokens=32),
        )
    )
    real_runner(model)

    outcome = run_script("--events")

    assert outcome.exit_code == 0
    assert outcome.stdout.startswith(START + "Recursion is a function calling itself.\n=== Stream Complete (")
    assert outcome.stdout.endswith(", 25 in / 7 out tokens) ===\n")
    assert model.first_call.system_instructions == "You are a helpful assistant that explains things clearly."
    assert model.first_call.streamed
    kinds = {line.split()[0] for line in outcome.stderr.splitlines()}
    assert kinds == {"agent_updated_stream_event", "raw_response_event", "run_item_stream_event"}


@function_tool
def get_weather(city: str) -> str:
    """The weather in `city`."""
    return f"Sunny in {city}."


def test_real_run_with_a_tool_call_prints_only_the_answer_and_counts_both_calls(run_script, real_runner):
    model = ScriptedModel(
        [
            ModelStep(
                output=[function_call("get_weather", {"city": "Paris"}, call_id="call_1")],
                usage=Usage(requests=1, input_tokens=20, output_tokens=5, total_tokens=25),
            ),
            ModelStep(
                output=[assistant_message("It is sunny in Paris.")],
                usage=Usage(requests=1, input_tokens=40, output_tokens=6, total_tokens=46),
            ),
        ]
    )
    real_runner(model, tools=[get_weather])

    outcome = run_script("What is the weather in Paris?")

    assert outcome.exit_code == 0
    assert outcome.stdout.startswith(START + "It is sunny in Paris.\n=== Stream Complete (")
    assert outcome.stdout.endswith(", 60 in / 11 out tokens) ===\n")
    tool_output = model.last_call.input[-1]
    assert (tool_output["type"], tool_output["output"]) == ("function_call_output", "Sunny in Paris.")


def test_real_run_delivers_response_incomplete_before_it_raises(run_script, real_runner):
    raw_events = [*opening()[1:], text_delta("Recursion"), text_delta(" is"), incomplete("max_output_tokens")]
    real_runner(ScriptedModel([ModelStep.stream([event.data for event in raw_events])]))

    outcome = run_script()

    assert outcome.exit_code == 1
    assert outcome.stdout == START + "Recursion is\n"
    assert outcome.stderr == "error: the answer was cut off (max_output_tokens).\n"  # as the event says


def test_real_run_raises_the_openai_clients_error_unwrapped():
    rate_limit, _ = streamed_by_the_client(httpx2.Response(429, json={"error": {"message": "Slow down."}}))

    with pytest.raises(openai.RateLimitError) as raised:
        stream_to_the_end(ScriptedModel([ModelStep.raise_error(rate_limit)]))

    assert raised.value is rate_limit


def test_real_run_raises_a_refusal_as_model_refusal_error():
    refusal = [ResponseOutputRefusal(type="refusal", refusal="I can't help with that.")]
    message = ResponseOutputMessage(
        id="msg_1", type="message", role="assistant", status="completed", content=refusal
    )

    with pytest.raises(ModelRefusalError) as refused:
        stream_to_the_end(ScriptedModel([ModelStep(output=[message])]))

    assert refused.value.refusal == "I can't help with that."


@pytest.mark.parametrize("cancel", [False, True], ids=["to the end", "cancelled"])
def test_real_run_has_a_final_output_unless_cancelled(cancel):
    """The closing line tells Complete from Cancelled by `result.final_output is None`."""
    model = ScriptedModel([ModelStep(output=[assistant_message("Recursion is a function calling itself.")])])

    result = stream_to_the_end(model, cancel_at_first_event=cancel)

    assert result.final_output == (None if cancel else "Recursion is a function calling itself.")


def test_real_run_is_ended_by_the_silence_limit(run_script, real_runner):
    async def then_silence(call):
        for event in [*opening()[1:], text_delta("Recursion")]:
            yield event.data
        await asyncio.sleep(120)  # cancel() ends this long before, or the test fails after it

    real_runner(ScriptedModel([ModelStep.stream(then_silence)]))

    outcome = run_script("--timeout", "0.05")

    assert outcome.exit_code == 1
    assert outcome.stdout == START + "Recursion\n"
    assert outcome.stderr.startswith("error: timed out: https://api.openai.com/v1 sent nothing for 0.05 s")
