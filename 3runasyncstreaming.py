"""Stream an OpenAI Agents SDK answer to the terminal as it is being written.

Run it with `uv run 3runasyncstreaming.py`, after putting your OpenAI API key in .env (see .env.example).
Exit status: 0 done, 1 the run failed, 2 bad arguments or settings, 130 Ctrl+C, 141 output closed.
"""

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

signal.signal(signal.SIGINT, lambda signal_number, frame: os._exit(130))  # no traceback as the SDK loads

import agents
import openai
from agents import Agent, Runner
from dotenv import load_dotenv
from openai.types.responses import ResponseTextDeltaEvent

INSTRUCTIONS = "You are a helpful assistant that explains things clearly."
DEFAULT_PROMPT = "Explain recursion in programming in simple terms."
DEFAULT_MODEL = "gpt-4o"
DEFAULT_BASE_URL = "https://api.openai.com/v1"  # OpenAI's own
DEFAULT_TIMEOUT = 300  # seconds of silence; reasoning models can think for minutes between events


async def main(settings: argparse.Namespace) -> int:
    agent = Agent(name="Assistant", instructions=INSTRUCTIONS, model=settings.model)
    print("=== Starting Stream ===")
    loop = asyncio.get_running_loop()
    started, first_token_at, last_raw_event, failure = loop.time(), None, None, None
    result = Runner.run_streamed(agent, settings.prompt)
    silence = loop.call_later(settings.timeout, result.cancel)  # a server gone quiet ends the run
    try:
        async for event in result.stream_events():
            silence.cancel()  # the server spoke: start counting the silence again
            silence = loop.call_later(settings.timeout, result.cancel)
            if settings.events:
                print(describe(event), file=sys.stderr)
            if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent):
                first_token_at = first_token_at or loop.time()
                print(event.data.delta, end="", flush=True)
            if event.type == "raw_response_event":
                last_raw_event = event.data  # explains a failure, if one follows
    except (agents.AgentsException, openai.OpenAIError, ValueError) as error:
        failure = error  # a ValueError: what the server sent was not JSON
    finally:
        print()  # end the answer's line, so that what follows stands on its own

    if failure or (result.final_output is None and loop.time() >= silence.when()):  # failed, or timed out
        return report(failure or TimeoutError(), last_raw_event, settings)
    usage, total = result.context_wrapper.usage, loop.time() - started
    first_token = f"first token {first_token_at - started:.2f} s, " if first_token_at else ""
    tokens = f"{usage.input_tokens} in / {usage.output_tokens} out tokens"
    outcome = "Complete" if result.final_output is not None else "Cancelled"  # result.cancel() was called
    print(f"=== Stream {outcome} ({first_token}total {total:.1f} s, {tokens}) ===")
    return 0


def read_settings() -> argparse.Namespace:
    """Every setting, from .env, the environment, the command line and standard input, checked."""
    empty_in_environment = os.environ.get("OPENAI_API_KEY") == ""
    load_dotenv(Path(__file__).with_name(".env"))  # beside this script; variables already set win
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("prompt", nargs="?", help="what to ask (default: standard input, if piped)")
    model = os.environ.get("OPENAI_DEFAULT_MODEL") or DEFAULT_MODEL
    parser.add_argument("--model", default=model, help="the model (default: $OPENAI_DEFAULT_MODEL or gpt-4o)")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds of silence to allow (%(default)s)"
    )
    parser.add_argument("--events", action="store_true", help="also log every stream event to stderr")
    settings = parser.parse_args()
    if settings.prompt is None:  # then what was piped in, else the tutorial's question
        piped = sys.stdin and not sys.stdin.isatty() and sys.stdin.read().strip()
        settings.prompt = piped or DEFAULT_PROMPT
    settings.key = key = os.environ.get("OPENAI_API_KEY", "")
    settings.base_url = base_url = (os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    for found, problem in [
        (empty_in_environment, "OPENAI_API_KEY is set but empty in the environment, which wins over .env."),
        (not key, "no OPENAI_API_KEY: add your key to .env (copy .env.example to .env first)."),
        (not all("!" <= char <= "~" for char in key), "OPENAI_API_KEY has whitespace or non-ASCII in it."),
        (not base_url.startswith(("http://", "https://")), f"OPENAI_BASE_URL {base_url!r} is not http(s)."),
        (not settings.model.strip(), "--model is empty."),
        (not settings.prompt.strip(), "the prompt is empty."),
        (not 0 < settings.timeout < float("inf"), "--timeout must be a number of seconds above 0."),
    ]:
        if found:
            parser.exit(2, f"error: {problem}\n")
    if base_url != DEFAULT_BASE_URL:
        agents.set_tracing_disabled(True)  # traces go to OpenAI, with a key a local server's key is not
    # The openai client would wait 10 minutes for each read, and then try twice more.
    agents.set_default_openai_client(openai.AsyncOpenAI(timeout=openai.Timeout(settings.timeout, connect=5)))
    logging.getLogger("openai.agents").setLevel(logging.CRITICAL)  # we report failures ourselves, once
    return settings


def run(settings: argparse.Namespace) -> int:
    """Run main() as a program: output that holds in files and pipes, Ctrl+C, exit codes."""
    # Built lazily, the event validators would hold back the last words of a stream that fails strict checks.
    for response_type in vars(openai.types.responses).values():
        if isinstance(response_type, type) and issubclass(response_type, openai.BaseModel):
            response_type.model_rebuild()
    if sys.stdout is None:  # started with standard output closed (`>&-`)
        print("error: cannot write the answer: standard output is closed.", file=sys.stderr)
        return 1
    sys.stdout.reconfigure(encoding="utf-8", line_buffering=True)  # any text; lines in order with stderr
    exit_quietly = signal.signal(signal.SIGINT, signal.default_int_handler)  # now Ctrl+C cancels main()
    try:
        return asyncio.run(main(settings))
    except KeyboardInterrupt:
        return 130
    except OSError as error:  # writing failed: the reader left early (`| head`), or the disk is full
        if not isinstance(error, BrokenPipeError):
            print(f"error: cannot write the answer: {error.strerror}.", file=sys.stderr)
        for stream in sys.stdout, sys.stderr:  # or Python tries to flush them again at exit, and fails
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        return 141 if isinstance(error, BrokenPipeError) else 1
    finally:
        signal.signal(signal.SIGINT, exit_quietly)  # while traces are sent at exit


def report(error: Exception, last_raw_event, settings: argparse.Namespace) -> int:
    """Print why the run failed, in one line safe for a terminal; return the exit code."""
    body = getattr(error, "body", None) or getattr(getattr(error, "response", None), "reason_phrase", None)
    detail = body.get("message", body.get("detail", body)) if isinstance(body, dict) else body
    response = getattr(last_raw_event, "response", None)  # on response.incomplete and .failed
    where, ending = settings.base_url, getattr(last_raw_event, "type", "").removeprefix("response.")
    reason = f"the run failed: {error}"
    if isinstance(error, TimeoutError | openai.APITimeoutError):
        reason = f"timed out: {where} sent nothing for {settings.timeout:g} s (see --timeout)."
    elif isinstance(error, agents.ModelRefusalError):
        print(error.refusal)  # what the model said goes where the answer goes
        reason = "the model refused to answer; its reply is above."
    elif ending == "incomplete":
        reason = f"the answer was cut off ({getattr(response.incomplete_details, 'reason', None)})."
    elif ending == "failed":
        reason = f"the response failed: {getattr(response.error, 'message', None)}"
    elif ending == "error":  # an error event the SDK could parse
        reason = f"the server sent an error: {last_raw_event.message}"
    elif isinstance(error, openai.AuthenticationError):
        reason = "the API key was rejected (HTTP 401). Check OPENAI_API_KEY."
    elif isinstance(error, openai.NotFoundError) and where != DEFAULT_BASE_URL:
        reason = f"{where} answered HTTP 404 ({detail}); does it serve the Responses API?"
    elif isinstance(error, openai.APIStatusError):
        reason = f"the server answered HTTP {error.status_code}: {detail}"
    elif isinstance(error, openai.APIConnectionError) and last_raw_event is None:
        reason = f"could not connect to {where}."
        agents.set_trace_processors([])  # its export would fail the same way, retrying for seconds at exit
    elif isinstance(error, openai.APIConnectionError | agents.ModelBehaviorError) and ending != "completed":
        reason = f"the stream from {where} stopped before the answer was complete."
    elif isinstance(error, openai.APIError):  # an error event the openai client raised at once
        reason = f"the server sent an error: {error.message}"
    elif isinstance(error, ValueError):
        reason = f"{where} sent a stream event that is not valid JSON."
    reason = " ".join(reason.replace(settings.key, "[key]").split())  # one line, and never the key
    print("error:", "".join(char if char.isprintable() else "?" for char in reason[:300]), file=sys.stderr)
    return 1


def describe(event) -> str:
    """One line for --events: the kind of stream event and what it carries."""
    carried = event.data.type if event.type == "raw_response_event" else getattr(event, "name", None)
    return f"{event.type} {carried or event.new_agent.name}"  # a run item's name, or the new agent's


if __name__ == "__main__":
    sys.exit(run(read_settings()))
