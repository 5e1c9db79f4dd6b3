"""Stream an OpenAI Agents SDK answer to the terminal as it is being written.

Copy .env.example to .env, put your OpenAI API key in it, then run
`uv run 3runasyncstreaming.py`, or `uv run 3runasyncstreaming.py --help` for the options.
"""

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path

import agents
import openai
from agents import Agent, Runner
from dotenv import load_dotenv
from openai.types.responses import ResponseTextDeltaEvent

DEFAULT_PROMPT = "Explain recursion in programming in simple terms."
DEFAULT_MODEL = "gpt-4o"
DEFAULT_BASE_URL = "https://api.openai.com/v1"  # OpenAI's own


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Stream an OpenAI Agents SDK answer to the terminal.",
        epilog="Settings come from the environment or from the .env file beside this script: "
        "OPENAI_API_KEY (required), OPENAI_BASE_URL, OPENAI_DEFAULT_MODEL, OPENAI_AGENTS_DISABLE_TRACING. "
        "Exit status: 0 done, 1 the run failed, 2 bad arguments or no key, 130 Ctrl+C, 141 output closed.",
    )
    parser.add_argument(
        "prompt", nargs="?", default=DEFAULT_PROMPT, help="what to ask (default: %(default)r)"
    )
    parser.add_argument(
        "--model", help=f"the model to use (default: $OPENAI_DEFAULT_MODEL, else {DEFAULT_MODEL})"
    )
    parser.add_argument("--events", action="store_true", help="also log every stream event to stderr")
    return parser.parse_args()


def describe(event) -> str:
    """One line for --events: the kind of stream event and what it carries."""
    if event.type == "raw_response_event":
        return f"raw_response_event {event.data.type}"
    if event.type == "run_item_stream_event":
        return f"run_item_stream_event {event.name}"
    return f"agent_updated_stream_event {event.new_agent.name}"


def explain(error: Exception, last_raw_event, base_url: str) -> str:
    """Why the run failed, in one line that never contains the key."""
    response = getattr(last_raw_event, "response", None)  # on response.incomplete and .failed
    if response is not None and response.status == "incomplete":
        return f"the answer was cut off ({getattr(response.incomplete_details, 'reason', None)})."
    if response is not None and response.status == "failed":
        return f"the response failed: {getattr(response.error, 'message', None)}"
    if getattr(last_raw_event, "type", None) == "error":  # an error event the SDK could parse
        return f"the server sent an error: {last_raw_event.message}"
    if isinstance(error, openai.AuthenticationError):
        return "the API key was rejected (HTTP 401). Check OPENAI_API_KEY."
    if isinstance(error, openai.RateLimitError) and error.code == "insufficient_quota":
        return "your quota is used up (HTTP 429 insufficient_quota). Check your plan and billing."
    if isinstance(error, openai.RateLimitError):
        return "rate limited (HTTP 429). Wait a moment and try again."
    if isinstance(error, openai.APIStatusError):
        message = error.body.get("message") if isinstance(error.body, dict) else None
        return f"the server answered HTTP {error.status_code}: {message or error.response.reason_phrase}"
    if isinstance(error, openai.APIConnectionError) and last_raw_event is None:
        return f"could not connect to {base_url}."
    ended_early = getattr(last_raw_event, "type", None) != "response.completed"
    if isinstance(error, openai.APIConnectionError | agents.ModelBehaviorError) and ended_early:
        return f"the stream from {base_url} stopped before the answer was complete."
    if isinstance(error, openai.APIError):  # an error event the openai client raised at once
        return f"the server sent an error: {error.message}"
    return f"{type(error).__name__}: {error}"


async def main(args: argparse.Namespace, base_url: str) -> int:
    agent = Agent(
        name="Assistant",
        instructions="You are a helpful assistant that explains things clearly.",
        model=args.model or os.environ.get("OPENAI_DEFAULT_MODEL") or DEFAULT_MODEL,
    )

    print("=== Starting Stream ===")
    started = time.perf_counter()
    first_token_at = None
    last_raw_event = None
    failure = None
    result = Runner.run_streamed(agent, args.prompt)
    try:
        async for event in result.stream_events():
            if args.events:
                print(describe(event), file=sys.stderr)
            if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent):
                first_token_at = first_token_at or time.perf_counter()
                print(event.data.delta, end="", flush=True)
            if event.type == "raw_response_event":
                last_raw_event = event.data  # explains a failure, if one follows
    except (asyncio.CancelledError, KeyboardInterrupt):
        # Ctrl+C cancels main() (on Python 3.10, interrupts it). Cancel the run too, so
        # the request stops now instead of running (and being billed) to the end.
        result.cancel()
        raise
    except (agents.AgentsException, openai.OpenAIError) as error:
        failure = error
    finally:
        if first_token_at:
            print()  # end the answer's last line, so what follows stands on its own

    if failure:
        print(f"error: {explain(failure, last_raw_event, base_url)}", file=sys.stderr)
        if isinstance(failure, openai.APIConnectionError):
            # Exporting this run's trace would most likely fail the same way,
            # retrying for seconds at exit: drop it.
            agents.set_trace_processors([])
        return 1
    total = time.perf_counter() - started
    first_token = f"{first_token_at - started:.2f} s" if first_token_at else "none"
    usage = result.context_wrapper.usage
    print(
        f"=== Stream Complete (first token {first_token}, total {total:.1f} s, "
        f"{usage.input_tokens} in / {usage.output_tokens} out tokens) ==="
    )
    return 0


if __name__ == "__main__":
    args = parse_args()
    # The .env beside this script, wherever it is run from; real environment variables win.
    load_dotenv(Path(__file__).with_name(".env"))
    if not os.environ.get("OPENAI_API_KEY"):
        print("error: no OPENAI_API_KEY: copy .env.example to .env and add your key.", file=sys.stderr)
        sys.exit(2)
    base_url = os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    if base_url.rstrip("/") != DEFAULT_BASE_URL:
        # Traces are sent to OpenAI with this key, which a local server's key is not.
        agents.set_tracing_disabled(True)
    # We report failures ourselves, in one line; the SDK would log them a second time.
    logging.getLogger("openai.agents").setLevel(logging.CRITICAL)
    # The openai client builds each response model's validator when it first needs it. If a stream's
    # final event does not validate (a server newer or older than the installed types), that holds
    # back the last words for ~0.3 s. Building them all now takes ~0.1 s, which the first event saves.
    for model in vars(openai.types.responses).values():
        if isinstance(model, type) and issubclass(model, openai.BaseModel):
            model.model_rebuild()
    try:
        sys.exit(asyncio.run(main(args, base_url)))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # The reader (e.g. `head`) left early; silence Python's final flush of stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
