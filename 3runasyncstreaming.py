"""Stream an OpenAI Agents SDK answer to the terminal as the model writes it.

Put your OpenAI API key in .env (see .env.example) and run `uv run 3runasyncstreaming.py`, or try it
without a key: `uv run tests/demo.py`. Exit status: 0 done, 1 the run failed, 2 bad settings, 130 Ctrl+C,
141 output closed.
"""

import os
import signal

if __name__ == "__main__":  # loading the SDK takes a second or more: Ctrl+C meanwhile ends quietly
    signal.signal(signal.SIGINT, lambda signal_number, frame: os._exit(130))

import argparse
import asyncio
import contextlib
import errno
import logging
import re
import ssl
import sys
import time
import traceback
import urllib.parse
import urllib.request
from pathlib import Path

import httpx2  # the openai client's HTTP library
import openai
from agents import Agent, AgentsException, OpenAIProvider, RunConfig, Runner
from agents.models import get_default_model
from dotenv import dotenv_values
from openai.types.responses import ResponseTextDeltaEvent

INSTRUCTIONS = "You are a helpful assistant that explains things clearly."
DEFAULT_PROMPT = "Explain recursion in programming in simple terms."
OPENAI_URL = "https://api.openai.com/v1"
ENV_FILE = Path(__file__).with_name(".env")  # beside the script, wherever it is run from
DEFAULT_TIMEOUT = 300  # seconds of silence: a reasoning model may think for minutes between events
CONNECT_TIMEOUT = 5  # seconds for each attempt to connect


async def main(settings: argparse.Namespace) -> None:
    agent = Agent(name="Assistant", instructions=INSTRUCTIONS, model=settings.model)
    watch = Watch(settings)  # below the Runner: the silence limit, why a response failed, the closing facts
    print("=== Starting Stream ===")
    result = Runner.run_streamed(agent, settings.prompt, run_config=watch.run_config())
    async for event in result.stream_events():
        if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent):
            print(event.data.delta, end="", flush=True)
        watch.log(event)  # --events
    print(f"\n=== Stream Complete ({watch.facts()}) ===")


# --- Below the Runner: what any loop over result.stream_events() keeps --------------------------------


class Failed(Exception):
    """The run failed, for a reason already said in words a user can act on."""


class Watch:
    """Watches each response as the model streams it, before the SDK hands its events on.

    A response ends at response.completed, or once the server has said nothing for --timeout seconds:
    from the request to its headers, and between events. A tool's run, or the client's wait before it
    retries an HTTP error, is not the server's silence.
    """

    def __init__(self, settings: argparse.Namespace) -> None:
        self.settings, self.started, self.first_token, self.model = settings, time.monotonic(), None, None
        self.tokens: list[int] | None = [0, 0]  # None once a response has not reported them
        self.silence, self.paused = 0.0, False

    def run_config(self) -> RunConfig:
        hooks = {"request": [self.asked], "response": [self.heard]}
        provider = WatchedProvider(openai_client=make_client(self.settings, hooks))
        provider.watch = self
        # Traces go to OpenAI with the key, which another server's key is not.
        return RunConfig(model_provider=provider, tracing_disabled=self.settings.base_url != OPENAI_URL)

    async def asked(self, request: httpx2.Request) -> None:
        self.paused = False

    async def heard(self, response: httpx2.Response) -> None:
        # The headers count as the server speaking; after an error, the client may wait to retry.
        self.silence, self.paused = 0.0, response.is_error

    async def watched(self, events):
        """One response's events, from the model's stream_response(), ended by the rules above."""
        url, arrived, task, self.silence = self.settings.shown_url, set(), asyncio.current_task(), 0.0
        clock = asyncio.create_task(self.clock(task))
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    self.silence = 0.0
                    arrived.add(str(getattr(event, "type", "")).partition(".")[0])
                    if failure := self.note(event):
                        raise Failed(failure)  # in place of the SDK's own error, which is less plain
                    yield event
                    if getattr(event, "type", None) == "response.completed":
                        return  # the answer is whole: no need to wait for the server to close the stream
        except asyncio.CancelledError:
            if not clock.done() or clock.cancelled():  # not the clock's doing: Ctrl+C, say
                raise
            if sys.version_info >= (3, 11):
                task.uncancel()  # the cancel was the clock's
            limit = self.settings.timeout
            raise Failed(f"timed out: {url} sent nothing for {limit:g} s (see --timeout)") from None
        except (httpx2.TransportError, openai.APIConnectionError, ValueError) as error:  # cut off, not JSON
            if isinstance(error, openai.APIConnectionError) and not arrived:  # no connection at all
                raise
            raise Failed(ended_early(url, arrived)) from error
        finally:
            clock.cancel()
        raise Failed(ended_early(url, arrived))

    async def clock(self, task: asyncio.Task) -> None:
        """Cancel `task` once the server has been silent for --timeout seconds."""
        while self.silence < self.settings.timeout:
            tick, before = min(1.0, self.settings.timeout / 10), time.monotonic()
            await asyncio.sleep(tick)
            # At most a tick each time: time in which the script could not run (stopped by Ctrl+Z, or
            # blocked writing to a reader that paused) is not the server's silence.
            self.silence += 0 if self.paused else min(time.monotonic() - before, tick)
        task.cancel()

    def note(self, event) -> str | None:
        """Keep the closing line's facts; make a delta printable; return why a response failed."""
        response, kind = getattr(event, "response", None), getattr(event, "type", None)
        if isinstance(event, ResponseTextDeltaEvent):
            # A server may send a null delta (print() would show None) or half a surrogate pair.
            event.delta = HALF_SURROGATE.sub("\ufffd", event.delta if isinstance(event.delta, str) else "")
            self.first_token = self.first_token or time.monotonic()
        self.model = getattr(response, "model", None) or self.model
        if kind == "response.completed":
            usage = getattr(response, "usage", None)  # null from some servers
            counts = [getattr(usage, "input_tokens", None), getattr(usage, "output_tokens", None)]
            reported = self.tokens is not None and all(isinstance(count, int) for count in counts)
            self.tokens = [self.tokens[0] + counts[0], self.tokens[1] + counts[1]] if reported else None
        elif kind == "response.incomplete":
            why = getattr(getattr(response, "incomplete_details", None), "reason", None)
            return f"the answer was cut off ({why or 'no reason given'})"
        elif kind == "response.failed":
            why = getattr(getattr(response, "error", None), "message", None)
            return f"the response failed: {why or 'no reason given'}"
        elif kind == "error":
            return f"the server sent an error: {getattr(event, 'message', None) or 'no reason given'}"
        return None

    def log(self, event) -> None:
        if self.settings.events:
            carried = getattr(event.data, "type", None) if event.type == "raw_response_event" else None
            carried = carried or getattr(event, "name", None) or getattr(event, "new_agent", None)
            carried = getattr(carried, "name", carried)  # the agent's
            print(event.type, carried if isinstance(carried, str) else "(no type)", file=sys.stderr)

    def facts(self) -> str:
        facts = [printable(self.model, self.settings)] if isinstance(self.model, str) else []
        if self.first_token:
            facts.append(f"first token {self.first_token - self.started:.2f} s")
        facts.append(f"total {time.monotonic() - self.started:.2f} s")
        counted = self.tokens and self.tokens != [0, 0]
        facts.append(
            f"{self.tokens[0]} in / {self.tokens[1]} out tokens" if counted else "tokens not reported"
        )
        return ", ".join(facts)


class WatchedProvider(OpenAIProvider):
    """OpenAIProvider, which sends the model's name as it is (the SDK's default would read "Qwen/..." or
    "openai/..." as the name of a provider), with each response streamed through the watch."""

    def get_model(self, model_name):
        model = super().get_model(model_name)
        stream_response = model.stream_response
        model.stream_response = lambda *args, **kwargs: self.watch.watched(stream_response(*args, **kwargs))
        return model


def ended_early(url: str, arrived: set[str]) -> str:
    hint = "" if "response" in arrived else "; does it serve the Responses API?"  # no Responses event came
    return f"the stream from {url} ended before the answer was complete{hint}"


HALF_SURROGATE = re.compile("[\ud800-\udfff]")


# --- Settings -------------------------------------------------------------------------------------------


class Refused(Exception):
    """A setting that cannot work, found before any request (exit status 2)."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, as for any other setting, not the usage and then the error
        raise Refused(f"{message} (see --help).")


def read_settings(argv: list[str] | None = None) -> argparse.Namespace:
    """The options, the prompt, the key and the server. .env fills in the environment, as load_dotenv()."""
    try:
        env_file = dotenv_values(ENV_FILE)
    except UnicodeDecodeError:
        raise Refused(f"{ENV_FILE} is not UTF-8 text; save it as UTF-8.") from None
    from_env_file = env_file.keys() - os.environ.keys()
    os.environ.update({name: env_file[name] or "" for name in from_env_file})
    default_model = os.environ.get("OPENAI_DEFAULT_MODEL")  # get_default_model() would lowercase it
    parser = Parser(prog=Path(__file__).name, description=__doc__)
    parser.add_argument("prompt", nargs="?", help="what to ask (default: standard input, if piped)")
    parser.add_argument("--model", help=f"the model (default: {default_model or get_default_model()})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds of silence (300)")
    parser.add_argument("--events", action="store_true", help="also print every stream event on stderr")
    settings = parser.parse_args(argv)  # exits 2 itself, with its usage, for an unknown option

    def named(name: str) -> str:
        wins = ", which wins over .env" if name in env_file else ""
        return f"{name} (from {'.env' if name in from_env_file else 'the environment' + wins})"

    prompt_from, model_from = "the prompt argument", "--model"
    if settings.prompt is None and sys.stdin is not None and not sys.stdin.isatty():
        prompt_from = "the prompt on standard input"
        try:
            settings.prompt = sys.stdin.buffer.read().decode("utf-8").strip() or None  # blank: the default
        except UnicodeDecodeError:
            raise Refused(f"{prompt_from} is not UTF-8 text.") from None
    if settings.model is None and default_model is not None:
        settings.model, model_from = default_model.strip(), named("OPENAI_DEFAULT_MODEL")
    settings.key = os.environ.get("OPENAI_API_KEY", "").strip()
    settings.base_url = (os.environ.get("OPENAI_BASE_URL") or OPENAI_URL).strip().rstrip("/")
    settings.shown_url = without_secrets(settings.base_url)
    for text, where in (settings.model, model_from), (settings.prompt, prompt_from):
        if (text is not None and not text.strip()) or HALF_SURROGATE.search(text or ""):
            raise Refused(f"{where} is {'not UTF-8 text' if text.strip() else 'blank'}.")
    if not 0 < settings.timeout < float("inf"):
        raise Refused("--timeout must be a number of seconds above 0.")
    check_server(settings, named)
    settings.prompt = settings.prompt or DEFAULT_PROMPT
    return settings


def check_server(settings: argparse.Namespace, named) -> None:
    """Refuse a key or server that cannot work, naming the setting at fault."""
    if not settings.key:
        missing = (
            named("OPENAI_API_KEY") + " is blank" if "OPENAI_API_KEY" in os.environ else "no OPENAI_API_KEY"
        )
        raise Refused(
            f"{missing}: put your key after OPENAI_API_KEY= in {ENV_FILE} (copy .env.example to "
            "start it), or try `uv run tests/demo.py`, which needs none."
        )
    for name in "OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID":  # they travel in HTTP headers
        if not all("!" <= char <= "~" for char in os.environ.get(name, "")):
            shown = "" if name == "OPENAI_API_KEY" else f" {os.environ[name]!r}"
            raise Refused(f"{named(name)}{shown} has a space, line break or non-ASCII character in it.")
    parts = urllib.parse.urlsplit(settings.base_url if "[" not in settings.base_url else "")
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        url = f"{named('OPENAI_BASE_URL')} {settings.shown_url!r}"
        raise Refused(f"{url} is not an http(s) URL with a host, such as http://localhost:11434/v1.")
    if problem := client_problem(settings):  # the variable without which the client builds is at fault
        for name in [name for name in CLIENT_VARIABLES if os.environ.get(name)]:
            value = os.environ.pop(name)
            builds = not client_problem(settings, OPENAI_URL if name == "OPENAI_BASE_URL" else None)
            os.environ[name] = value
            if builds:
                raise Refused(f"{named(name)} {without_secrets(value)!r} cannot be used: {problem}.")
        raise Refused(f"the openai client cannot be set up: {problem}.")


# The variables that the openai client and its httpx read as the client is built.
CLIENT_VARIABLES = ["OPENAI_BASE_URL", "SSL_CERT_FILE", "SSL_CERT_DIR", "SSLKEYLOGFILE"] + [
    name for scheme in ("all", "https", "http") for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY")
]


def client_problem(settings: argparse.Namespace, base_url: str | None = None) -> str | None:
    try:
        make_client(settings, base_url=base_url)
        for url in [base_url or settings.base_url, *urllib.request.getproxies().values()]:
            urllib.parse.urlsplit(url if "://" in url else f"//{url}").port  # noqa: B018 (httpx leaves 0-65535 to connect())
    except Exception as problem:
        return in_words(problem)
    return None


def make_client(settings: argparse.Namespace, hooks: dict | None = None, base_url=None) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key=settings.key,
        base_url=base_url or settings.base_url,
        organization=os.environ.get("OPENAI_ORG_ID") or None,
        project=os.environ.get("OPENAI_PROJECT_ID") or None,
        timeout=openai.Timeout(None, connect=CONNECT_TIMEOUT),  # no limit on reading: the watch has one
        http_client=openai.DefaultAsyncHttpxClient(event_hooks=hooks or {}),
    )


# --- Failures -------------------------------------------------------------------------------------------

HINTS = {
    401: " Check OPENAI_API_KEY.",
    429: " Wait and try again, or check your plan's limits and billing.",
    404: " Check the model's name, and that the server serves the Responses API.",
}


def explain(error: BaseException, settings: argparse.Namespace) -> str:
    """Why the run failed, on one line, in words a user can act on, without secrets."""
    while len(getattr(error, "exceptions", ())) == 1:  # a group of one, from a task group: say what it holds
        error = error.exceptions[0]
    chain = causes(error)
    where = settings.shown_url + proxy_for(settings.base_url)
    answer = next(
        (e.response for e in chain if isinstance(getattr(e, "response", None), httpx2.Response)), None
    )
    if answer is not None:  # an HTTP status, also when its body then broke off
        body = next((e.body for e in chain if isinstance(e, openai.APIStatusError)), None)
        said = (
            body.get("message") or body.get("detail") or body.get("error") if isinstance(body, dict) else body
        )
        hint = HINTS.get(answer.status_code, "")
        if answer.status_code == 401 and urllib.parse.urlsplit(settings.base_url).password:
            hint = " Check the user name and password in OPENAI_BASE_URL, which go instead of the key."
        words = (
            f"HTTP {answer.status_code} from {where}: {str(said or answer.reason_phrase).rstrip('.')}.{hint}"
        )
    elif isinstance(error, Failed):
        words = str(error)
    elif isinstance(error, openai.APIConnectionError):
        timed_out = isinstance(error, openai.APITimeoutError)
        words = f"could not connect to {where}: {'no answer' if timed_out else in_words(chain[-1])}"
    elif isinstance(error, openai.APIError):  # an error in the stream, which the openai client raises
        words = f"the server sent an error: {error.message}"
    elif isinstance(error, AgentsException):  # the SDK's own: a refusal, too many turns
        words = f"the run failed: {error}"
    elif isinstance(error, OSError) and error.filename is None and error.strerror:
        words = f"cannot write the answer: {error.strerror}"
    else:
        words = f"unexpected failure: {in_words(error)} (run again with SHOW_TRACEBACK=1 to see where)"
    return printable(words if words.endswith((".", "?")) else words + ".", settings)


def causes(error: BaseException) -> list[BaseException]:
    """The error, and the errors that led to it."""
    chain = [error]
    while chain[-1].__cause__ or chain[-1].__context__:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    return chain


def in_words(error: BaseException) -> str:
    """The error's own words, without codes a user cannot act on; a missing package says how to add it."""
    if missing := next((e.name for e in causes(error) if isinstance(e, ImportError) and e.name), None):
        return f"the {missing} package is missing; add it with `uv add {missing}`"
    if isinstance(error, ConnectionError):  # "Connection refused", not "Connect call failed ('::1', 80)"
        return os.strerror(error.errno)
    if type(error) is ssl.SSLError:  # not a certificate's failure, whose own words say enough
        return f"no TLS connection ({error.reason}); does the server speak https?"
    words = re.sub(r"\[Errno -?\d+\] |\[\w+: \w+\] | \(_ssl\.c:\d+\)", "", str(error) or type(error).__name__)
    return re.sub(r"`?pip install ([^`\s]+)`?", r"`uv add \1`", words).rstrip(".")


def proxy_for(url: str) -> str:
    """ " through the proxy ... (from ...)" when the environment names one for `url`, as httpx reads it."""
    parts, proxies = urllib.parse.urlsplit(url), urllib.request.getproxies()
    for scheme in [] if urllib.request.proxy_bypass(parts.hostname or "") else [parts.scheme.lower(), "all"]:
        if proxy := proxies.get(scheme):
            variable = f"{scheme}_proxy" if f"{scheme}_proxy" in os.environ else f"{scheme.upper()}_PROXY"
            return f" through the proxy {without_secrets(proxy)} (from {variable})"
    return ""


def without_secrets(url: str) -> str:
    """`url` without a user name, password, parameters, query or fragment, where secrets may be."""
    return re.sub(r"(^|//)[^/@]*@|[;?#].*", r"\1", url)


def printable(text: str, settings: argparse.Namespace) -> str:
    """`text` on one line of at most 300 characters, without secrets or control characters."""
    text = re.sub(r"//[^/@\s]*@", "//", text)  # user names and passwords in URLs
    urls = [settings.base_url, *urllib.request.getproxies().values()]
    secrets = [
        settings.key,
        *(found for url in urls for found in re.findall(r"(?<=:)[^/@:]*(?=@)|[;?#].+", url)),
    ]
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:  # shorter ones are found by where they stand, in URLs: "p" is in many a word
            text = text.replace(secret, "[key]" if secret == settings.key else "[secret]")
    return "".join(char if char.isprintable() else "?" for char in " ".join(text.split())[:300])


# --- main() as a program --------------------------------------------------------------------------------


def run(argv: list[str] | None = None) -> int:
    """Run main() as a program: settings, output, Ctrl+C, and one line on stderr for any failure."""
    try:
        return run_main(argv)
    except BrokenPipeError:  # the reader left, as `| head` does: end quietly, as Python's docs advise
        discard_output(sys.stdout, sys.stderr)
        return 141


def run_main(argv: list[str] | None) -> int:
    try:
        settings = read_settings(argv)
    except Refused as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    ctrl_c = signal.getsignal(signal.SIGINT)
    try:
        if sys.stdout is None:  # started with `>&-`
            raise OSError(errno.EBADF, "standard output is closed")
        os.set_blocking(sys.stdout.fileno(), True)  # a parent process may leave it non-blocking
        # UTF-8 whatever the terminal, so that no character stops the answer; each line out as it ends.
        sys.stdout.reconfigure(encoding="utf-8", errors="replace", line_buffering=True)
        for response_type in vars(openai.types.responses).values():  # now, not while the answer streams
            if isinstance(response_type, type) and issubclass(response_type, openai.BaseModel):
                response_type.model_rebuild()
        asyncio.run(stopped_by_ctrl_c(main(settings)))
        return 0
    except (KeyboardInterrupt, asyncio.CancelledError):
        print()  # end the answer's line
        return 130
    except BrokenPipeError:
        raise
    except Exception as error:
        if os.environ.get("SHOW_TRACEBACK"):
            traceback.print_exception(error)
        if isinstance(error, OSError):  # writing failed: Python would try again at exit, and fail again
            discard_output(sys.stdout)
        else:
            print()  # end the answer's line, so that the message stands on its own
        print(f"error: {explain(error, settings)}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, ctrl_c)


def discard_output(*streams) -> None:
    for stream in streams:
        if stream is not None:
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


async def stopped_by_ctrl_c(coroutine):
    """Ctrl+C cancels main(), as asyncio.run() does on Python 3.11, also on 3.10."""
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, asyncio.current_task().cancel)
    return await coroutine


if __name__ == "__main__":
    logging.getLogger("openai.agents").addHandler(logging.NullHandler())  # run() says what failed, once
    sys.exit(run())
