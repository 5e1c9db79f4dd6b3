"""Stream an OpenAI Agents SDK answer to the terminal as it is being written.

Run it with `uv run 3runasyncstreaming.py`, after putting your OpenAI API key in .env (see .env.example),
or try it without a key: `uv run tests/demo.py`.
Exit status: 0 done, 1 the run failed, 2 bad arguments or settings, 130 Ctrl+C, 141 output closed.
"""

from __future__ import annotations  # names defined below main() can be used in its annotations

import os
import signal

# Loading the SDK takes seconds; Ctrl+C meanwhile ends the program at once, without a traceback.
signal.signal(signal.SIGINT, lambda signal_number, frame: os._exit(130))

import argparse
import asyncio
import errno
import importlib.util
import json
import logging
import re
import ssl
import sys
import time
import traceback
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import agents
import httpx2  # the openai client's HTTP library
import openai
from agents import Agent, OpenAIProvider, RunConfig, Runner
from agents.models import get_default_model
from dotenv import dotenv_values
from openai.types.responses import ResponseTextDeltaEvent

INSTRUCTIONS = "You are a helpful assistant that explains things clearly."
DEFAULT_PROMPT = "Explain recursion in programming in simple terms."
DEFAULT_BASE_URL = "https://api.openai.com/v1"  # OpenAI's own
DEFAULT_TIMEOUT = 300  # seconds of silence; reasoning models can think for minutes between events
CONNECT_TIMEOUT = 5  # seconds for each attempt to connect; the openai client makes up to three
AFTER_THE_ANSWER = 1  # seconds to wait for a server to close the stream after response.completed
ENV_FILE = Path(__file__).with_name(".env")  # beside this script, wherever it is run from
SHOW_TRACEBACK = "SHOW_TRACEBACK"  # set this variable to 1 to see the traceback of an unexpected failure


async def main(settings: Settings) -> int:
    agent = Agent(name="Assistant", instructions=INSTRUCTIONS, model=settings.model)
    print("=== Starting Stream ===")
    # OpenAIProvider sends the model's name as it is; the SDK's default provider would read "Qwen/..."
    # or "openai/..." as the name of a provider.
    run_config = RunConfig(model_provider=OpenAIProvider())
    result = Runner.run_streamed(agent, settings.prompt, run_config=run_config)
    watch = StreamWatch(result, settings)  # the silence limit, --events, and the closing line's facts
    try:
        async for event in watch.events():
            if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent):
                print(event.data.delta, end="", flush=True)
    except Exception as error:  # the run failed; the text already printed stays
        watch.failure = error
    finally:
        print()  # end the answer's line, so that what follows stands on its own
    return watch.report()


# --- What the script adds around result.stream_events() ------------------------------------------------


class StreamWatch:
    """Watches a streamed run as main() reads it: the seam between the SDK's events and the loop."""

    def __init__(self, result: agents.RunResultStreaming, settings: Settings) -> None:
        self.result, self.settings = result, settings
        self.started = time.monotonic()
        self.first_token_at: float | None = None
        self.last_raw_event = None  # explains a failure, if one follows
        self.model = None  # the model the server says it used
        self.tokens: list[int] | None = None  # in and out, as the server reports them at the end
        self.tokens_unreported = False  # a response came without its token counts
        self.failure: BaseException | None = None

    async def events(self):
        """result.stream_events(), ended by the server's silence, logged with --events."""
        SILENCE.start(self.settings.timeout)
        watchdog = asyncio.create_task(self.end_when_silent())
        try:
            async for event in self.result.stream_events():
                SILENCE.spoke()
                self.note(event)
                if self.settings.events:
                    print(describe(event), file=sys.stderr)
                yield event
        finally:
            watchdog.cancel()
        if SILENCE.timed_out:  # the watchdog cancelled the run: say so, or it would look like success
            raise ServerSilent(self.settings.timeout)

    async def end_when_silent(self) -> None:
        tick = min(1.0, SILENCE.limit / 10)
        while not SILENCE.count(tick):
            tick = min(1.0, SILENCE.limit / 10)  # shorter once the answer is complete
            await asyncio.sleep(tick)
        self.result.cancel()

    def note(self, event) -> None:
        """Keep what the closing line or a failure message will need; make each delta printable."""
        if event.type == "run_item_stream_event" and event.name in ("tool_called", "handoff_requested"):
            self.last_raw_event = None  # the SDK sends another request: its failures are its own
        if event.type != "raw_response_event":
            return
        data, self.last_raw_event = event.data, event.data
        if isinstance(data, ResponseTextDeltaEvent):
            self.first_token_at = self.first_token_at or time.monotonic()
            # A null delta would print "None", and half a surrogate pair would stop print() with an error.
            data.delta = HALF_SURROGATE.sub("\ufffd", data.delta if isinstance(data.delta, str) else "")
        response = getattr(data, "response", None)
        self.model = getattr(response, "model", None) or self.model
        if getattr(data, "type", None) == "response.completed":
            SILENCE.answer_complete()
            usage = getattr(response, "usage", None)  # null from some servers
            counts = [getattr(usage, "input_tokens", None), getattr(usage, "output_tokens", None)]
            if all(isinstance(count, int) for count in counts):
                before = self.tokens or [0, 0]  # a run with tools makes several requests
                self.tokens = [before[0] + counts[0], before[1] + counts[1]]
            else:
                self.tokens_unreported = True

    def report(self) -> int:
        """Print the closing line, or why the run failed; return the exit code."""
        if explain(self.failure, self.last_raw_event, self.settings)[1] == 0:
            print(self.closing_line())
            return 0
        return say_why(self.failure, self.last_raw_event, self.settings)

    def closing_line(self) -> str:
        finished = self.result.final_output is not None or self.failure is not None  # see FAILURES
        facts = [printable(self.model, self.settings)] if isinstance(self.model, str) else []
        if self.first_token_at:
            facts.append(f"first token {self.first_token_at - self.started:.2f} s")
        facts.append(f"total {time.monotonic() - self.started:.2f} s")
        if self.tokens and not self.tokens_unreported:
            facts.append(f"{self.tokens[0]} in / {self.tokens[1]} out tokens")
        else:
            facts.append("tokens not reported")
        return f"=== Stream {'Complete' if finished else 'Cancelled'} ({', '.join(facts)}) ==="


class Silence:
    """How long the server has said nothing, counted only while it is the server's turn to speak.

    The clock runs from the moment a request is sent until its response closes; the response's headers
    and each event restart it. Connecting is the client's business (CONNECT_TIMEOUT), and so is the wait
    before it retries an error. Time in which this program could not run, stopped by Ctrl+Z or blocked
    writing to a reader that paused (`| less`, Ctrl+S), is not counted.
    """

    def __init__(self) -> None:
        self.timeout = self.limit = DEFAULT_TIMEOUT
        self.seconds: float | None = 0.0  # None while it is not the server's turn
        self.last_tick = time.monotonic()
        self.timed_out = False

    def start(self, timeout: float) -> None:
        self.timeout = self.limit = timeout
        self.restart()

    def restart(self) -> None:
        self.seconds, self.last_tick, self.timed_out = 0.0, time.monotonic(), False

    def pause(self) -> None:
        self.seconds, self.limit = None, self.timeout

    def spoke(self) -> None:
        """An event arrived: the server spoke, unless it is not its turn (an SDK event, or one read late)."""
        if self.seconds is not None:
            self.restart()

    def answer_complete(self) -> None:
        """The server has said all it had to say: a connection it then leaves open ends soon."""
        self.limit = min(self.timeout, AFTER_THE_ANSWER)

    def count(self, tick: float) -> bool:
        """Add the time since the last tick, at most two ticks of it; return whether the limit is reached."""
        now = time.monotonic()
        if self.seconds is not None:
            self.seconds += min(now - self.last_tick, 2 * tick)
        self.last_tick = now
        self.timed_out = self.seconds is not None and self.seconds >= self.limit
        return self.timed_out


SILENCE = Silence()  # one request at a time; the openai client's hooks (see set_up_sdk) tell it the news


class ServerSilent(Exception):
    """The server sent nothing for `--timeout` seconds, and the script cancelled the run."""


HALF_SURROGATE = re.compile("[\ud800-\udfff]")


def describe(event) -> str:
    """One line for --events: the kind of stream event and what it carries."""
    if event.type == "raw_response_event":
        carried = getattr(event.data, "type", None)
    elif event.type == "run_item_stream_event":
        carried = event.name
    else:
        carried = getattr(getattr(event, "new_agent", None), "name", None)
    return f"{event.type} {carried if isinstance(carried, str) else '(no type)'}"


# --- Settings -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    prompt: str
    model: str | None  # None: the SDK's default model
    timeout: float
    events: bool
    key: str
    base_url: str  # as the client uses it
    shown_url: str  # as messages show it: without a user name, password, query or fragment
    organization: str | None = None
    project: str | None = None
    url_has_credentials: bool = False  # httpx then sends them instead of the key
    proxy: str | None = None  # "http://proxy:3128 (from HTTPS_PROXY)", shown without credentials
    proxy_urls: tuple[str, ...] = ()  # every proxy in the environment, whose passwords are secrets
    ssl_cert_file: str | None = None
    tracing: bool = True  # OPENAI_AGENTS_DISABLE_TRACING, or another server than OpenAI's, turns it off
    from_env_file: dict[str, str] = field(default_factory=dict)  # what .env adds to the environment


def read_settings(argv: list[str], environ: dict[str, str], env_file: Path, stdin) -> Settings | str:
    """Every setting from the arguments, the environment, .env and standard input, checked.

    Returns the settings, or the problem that would stop them from working (exit status 2).
    Variables set in the environment win over .env.
    """
    try:
        from_env_file = {name: value for name, value in dotenv_values(env_file).items() if value is not None}
    except UnicodeDecodeError:
        return f"{env_file} is not UTF-8 text; save it as UTF-8."
    from_env_file = {name: value for name, value in from_env_file.items() if name not in environ}
    variables = {**from_env_file, **environ}
    default_model = variables.get("OPENAI_DEFAULT_MODEL")
    model_help = (
        f"{default_model}, from OPENAI_DEFAULT_MODEL"
        if default_model
        else f"the SDK's, {get_default_model()}"
    )
    parser = argparse.ArgumentParser(prog=Path(__file__).name, description=__doc__)
    parser.add_argument("prompt", nargs="?", help="what to ask (default: standard input, if piped)")
    parser.add_argument("--model", help=f"the model (default: {model_help})")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds of silence to allow (%(default)s)"
    )
    parser.add_argument("--events", action="store_true", help="also log every stream event to stderr")
    arguments = parser.parse_args(argv)  # exits 2 itself, with its usage line, for an unknown option

    prompt, stdin_problem = arguments.prompt, None
    if prompt is None and stdin is not None and not stdin.isatty():  # then what was piped in
        prompt, stdin_problem = read_piped_prompt(stdin)
    model = arguments.model if arguments.model is not None else default_model
    model = model.strip() if model is not None else None  # a line break from .env is no part of a name
    key = variables.get("OPENAI_API_KEY", "")
    base_url = (variables.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).strip().rstrip("/")
    shown_url = without_secrets(base_url)
    proxies = environment_proxies(variables)
    proxy_variable, proxy_url = proxy_for(base_url, proxies)
    proxy_urls = {variable: url for scheme, (variable, url) in proxies.items() if scheme != "no"}
    cert_file = variables.get("SSL_CERT_FILE") or None
    key_log = variables.get("SSLKEYLOGFILE") or None  # where Python writes TLS keys, for Wireshark
    for found, problem in [
        (
            environ.get("OPENAI_API_KEY") == "",
            "OPENAI_API_KEY is set but empty in the environment, which wins over .env.",
        ),
        (
            not key,
            f"no OPENAI_API_KEY: put your key after OPENAI_API_KEY= in {env_file}, "
            "or try `uv run tests/demo.py`, which needs none."
            if env_file.exists()
            else "no OPENAI_API_KEY: add your key to .env (copy .env.example to .env first), "
            "or try `uv run tests/demo.py`, which needs none.",
        ),
        (not is_ascii(key), "OPENAI_API_KEY has whitespace or non-ASCII in it."),
        (
            base_url.partition(":")[0].lower() not in ("http", "https") or "//" not in base_url,
            f"OPENAI_BASE_URL {shown_url!r} is not http(s).",
        ),
        (
            url_problem(base_url),
            f"OPENAI_BASE_URL {shown_url!r} is not a valid URL: {url_problem(base_url)}.",
        ),
        (
            bool(urllib.parse.urlsplit(base_url).query) if not url_problem(base_url) else False,
            "OPENAI_BASE_URL has a query string (?...), which the openai client cannot use.",
        ),
        *(
            (not is_ascii(variables.get(name, "")), f"{name} has whitespace or non-ASCII in it.")
            for name in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID")
        ),
        (
            cert_file and certificate_problem(cert_file),
            f"SSL_CERT_FILE {cert_file!r} {certificate_problem(cert_file or '')}.",
        ),
        (
            key_log and not os.path.isdir(os.path.dirname(os.path.abspath(key_log))),
            f"SSLKEYLOGFILE {key_log!r} is in a folder that does not exist.",
        ),
        *(
            (url_problem(url), f"{variable} is not a valid proxy URL: {url_problem(url)}.")
            for variable, url in proxy_urls.items()
        ),
        *(  # httpx sets up every proxy in the environment, also those it will not use
            (
                url.lower().startswith("socks") and importlib.util.find_spec("socksio") is None,
                f"{variable} is a SOCKS proxy, which needs the socksio package: "
                f"run `uv add socksio`, or unset {variable}.",
            )
            for variable, url in proxy_urls.items()
        ),
        (default_model is not None and not default_model.strip(), "OPENAI_DEFAULT_MODEL is set but blank."),
        (model == "", "--model is empty."),
        (model is not None and not is_text(model), "the model's name is not valid text."),
        (stdin_problem is not None, stdin_problem),
        (prompt is not None and not prompt.strip(), "the prompt is empty."),
        (prompt is not None and not is_text(prompt), "the prompt is not valid UTF-8 text."),
        (not 0 < arguments.timeout < float("inf"), "--timeout must be a number of seconds above 0."),
    ]:
        if found:
            return problem
    return Settings(
        prompt=prompt or DEFAULT_PROMPT,  # blank piped input, as from `< /dev/null`, means the default
        model=model,
        timeout=arguments.timeout,
        events=arguments.events,
        key=key,
        base_url=base_url,
        shown_url=shown_url,
        organization=variables.get("OPENAI_ORG_ID") or None,
        project=variables.get("OPENAI_PROJECT_ID") or None,
        url_has_credentials="@" in urllib.parse.urlsplit(base_url).netloc,
        proxy=f"{without_secrets(proxy_url)} (from {proxy_variable})" if proxy_url else None,
        proxy_urls=tuple(proxy_urls.values()),
        ssl_cert_file=cert_file,
        # Traces go to OpenAI, with a key that a local server's key is not.
        tracing=base_url == DEFAULT_BASE_URL
        and variables.get("OPENAI_AGENTS_DISABLE_TRACING", "").lower() not in ("1", "true"),
        from_env_file=from_env_file,
    )


def read_piped_prompt(stdin) -> tuple[str | None, str | None]:
    """The prompt piped into standard input, stripped, or None when blank; or a problem."""
    try:
        return stdin.buffer.read().decode("utf-8").strip() or None, None
    except UnicodeDecodeError:
        return None, "the prompt on standard input is not UTF-8 text."


def is_text(text: str) -> bool:
    """Whether `text` can be sent: undecodable bytes in arguments arrive as lone surrogates."""
    return not HALF_SURROGATE.search(text)


def is_ascii(text: str) -> bool:
    return all("!" <= char <= "~" for char in text)


URL_PARTS = re.compile(
    r"(?P<scheme>[a-zA-Z][\w+.-]*:)?(?P<slashes>/*)(?P<authority>[^/?#;]*)(?P<path>[^?#;]*)"
)


def without_secrets(url: str) -> str:
    """`url` without a user name, password, query, parameters or fragment, which may hold secrets."""
    parts = URL_PARTS.match(url)
    host = parts["authority"].rpartition("@")[2]
    return f"{parts['scheme'] or ''}{parts['slashes']}{host}{parts['path']}"


def secrets_in(url: str) -> list[str]:
    """The password in `url`, and all after its path (query, parameters, fragment)."""
    parts = URL_PARTS.match(url)
    password = parts["authority"].rpartition("@")[0].partition(":")[2]
    return [password, url[parts.end() :]]


def url_problem(url: str) -> str | None:
    """Why the client could not use `url`, or None."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number from 0 to 65535)
        httpx2.URL(url)
    except (ValueError, httpx2.InvalidURL) as error:
        return str(error).rstrip(".") or "it does not parse"
    return None if parts.hostname else "it has no host"


def environment_proxies(variables: dict[str, str]) -> dict[str, tuple[str, str]]:
    """The proxies in the environment by scheme, "no" for NO_PROXY: {scheme: (variable, value)}.

    As urllib reads them, and httpx with it: a lower-case variable wins, even when it is empty.
    """
    proxies = {}
    for lower_case_only in False, True:
        for variable, value in variables.items():
            if variable.lower().endswith("_proxy") and (variable.islower() or not lower_case_only):
                scheme = variable[: -len("_proxy")].lower()
                if value:
                    proxies[scheme] = (
                        variable,
                        value if "://" in value or scheme == "no" else f"http://{value}",
                    )
                elif lower_case_only:
                    proxies.pop(scheme, None)
    return {scheme: found for scheme, found in proxies.items() if scheme in ("http", "https", "all", "no")}


def proxy_for(url: str, proxies: dict[str, tuple[str, str]]) -> tuple[str | None, str | None]:
    """The proxy that httpx uses for `url`: (its variable, its URL), or (None, None)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # `url` does not parse ("http://[::1/v1"): read_settings() says so, with exit 2
        return None, None
    no_proxy = proxies.get("no", ("", ""))[1]
    if urllib.request.proxy_bypass_environment(host, {"no": no_proxy}):
        return None, None
    return proxies.get(parts.scheme.lower()) or proxies.get("all") or (None, None)


def certificate_problem(path: str) -> str | None:
    """Why the certificates in `path` cannot be used, or None."""
    if not os.path.isfile(path):
        return "does not name a file"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError, ValueError):
        return "holds no certificate that can be read"
    return None if context.cert_store_stats()["x509_ca"] else "holds no certificate authority"


# --- Setting up the SDK, and running main() as a program ------------------------------------------------


def set_up_sdk(settings: Settings) -> None:
    """Configure the SDK for these settings: its openai client, tracing and logging."""
    os.environ.update(settings.from_env_file)  # so that the SDK sees its own settings in .env
    # The hooks tell the silence limit whose turn it is: the server's from the moment a request is sent
    # until its response closes. The client's own time limit is for connecting only.
    http_client = openai.DefaultAsyncHttpxClient(event_hooks={"request": [follow], "response": [heard]})
    client = openai.AsyncOpenAI(
        api_key=settings.key,
        base_url=settings.base_url,
        organization=settings.organization,
        project=settings.project,
        timeout=openai.Timeout(None, connect=CONNECT_TIMEOUT),
        http_client=http_client,
    )
    agents.set_default_openai_client(client)
    if not settings.tracing:
        agents.set_tracing_disabled(True)  # the SDK reads its own variable only once, at import
    logging.getLogger("openai.agents").setLevel(logging.CRITICAL)  # we report failures ourselves, once
    # Built lazily, the event validators would hold back the last words of a stream that fails strict checks.
    for response_type in vars(openai.types.responses).values():
        if isinstance(response_type, type) and issubclass(response_type, openai.BaseModel):
            response_type.model_rebuild()


async def follow(request: httpx2.Request) -> None:
    SILENCE.pause()  # connecting (again, on a retry)
    request.extensions["trace"] = on_transport_step


async def on_transport_step(step: str, info: dict) -> None:
    if step.endswith(".send_request_body.complete"):
        SILENCE.restart()  # the request is out: from now on the server is the one keeping us waiting
    elif step.endswith(".response_closed.complete"):
        # The SDK's turn: it may run a tool before its next request, or the client wait to retry a 429.
        SILENCE.pause()


async def heard(response: httpx2.Response) -> None:
    SILENCE.restart()  # the headers count as the server speaking


def run(argv: list[str] | None = None) -> int:
    """Run main() as a program: settings, output that holds in files and pipes, Ctrl+C, exit codes."""
    settings = None
    quiet_ctrl_c = signal.getsignal(signal.SIGINT)
    try:
        settings = read_settings(
            sys.argv[1:] if argv is None else argv, dict(os.environ), ENV_FILE, sys.stdin
        )
        if isinstance(settings, str):
            print(f"error: {settings}", file=sys.stderr)
            return 2
        set_up_sdk(settings)
        set_up_output()
        return asyncio.run(with_ctrl_c(main(settings)))
    except SystemExit:  # argparse's --help, or its usage error
        raise
    except BaseException as failure:  # Ctrl+C, output that cannot be written, or the unexpected
        exit_code = say_why(failure, None, settings)
        if isinstance(failure, OSError):  # writing the answer failed
            discard_output()
        return exit_code
    finally:
        signal.signal(signal.SIGINT, quiet_ctrl_c)  # while traces are sent at exit


def set_up_output() -> None:
    if sys.stdout is None:  # started with standard output closed (`>&-`)
        raise OSError(errno.EBADF, "standard output is closed")
    for stream in sys.stdout, sys.stderr:
        if stream is not None:
            # A parent process may leave them non-blocking; a reader that lags would then lose text.
            os.set_blocking(stream.fileno(), True)
    sys.stdout.reconfigure(encoding="utf-8", line_buffering=True)  # any text; lines in order with stderr


async def with_ctrl_c(coroutine):
    """Await `coroutine` so that Ctrl+C cancels it the same way on every Python, with its finally blocks."""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()

    def on_ctrl_c(signal_number, frame):
        if asyncio.current_task(loop) is task:  # main() itself is busy: a blocking read, say
            raise KeyboardInterrupt
        loop.call_soon_threadsafe(task.cancel)  # not inside the SDK's tasks, which would log it

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        return await coroutine
    finally:
        signal.signal(signal.SIGINT, previous)  # before the loop closes, and task.cancel() could fail


# --- Failures -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What a failure message may say: gathered from the failure, the last raw event and the settings."""

    error: BaseException | None
    ending: str  # the last raw event's type without "response.": "completed", "failed", "error", ...
    url: str  # the base URL, without secrets
    proxy: str  # the proxy from the environment in use, without secrets; "" if none
    via: str  # " through the proxy ..." when one is in use
    url_has_credentials: bool
    status: int | None  # of an HTTP error
    detail: str  # what the server said about an HTTP error
    reason: str  # why the answer was incomplete
    server_message: str  # of response.failed or an error event
    certificate: str  # why the server's certificate failed verification; "" if it did not
    tls_failed: bool  # a TLS connection could not be made, for another reason than the certificate
    connection_lost: bool  # the connection failed, or broke, before an HTTP answer
    reached: bool  # the connection was made (False: refused, no answer in time, no such host, ...)
    timeout: float
    connect_timeout: float
    message: str  # the failure's own words
    cause: str  # the words of the first failure that led to it
    kind: str  # the failure's kind, for the unexpected: "TypeError", ...


@dataclass(frozen=True)
class Failure:
    """A row of the failure table: what happened, how to tell, what the user is told, the exit code."""

    what: str
    applies: Callable[[Facts], bool]
    says: str  # a template over Facts' fields; "" says nothing
    exit_code: int = 1


def is_a(*kinds: type) -> Callable[[Facts], bool]:
    return lambda facts: isinstance(facts.error, kinds)


FAILURES = [
    # In the order a run meets them: how it ended, connecting, the answer's status, the stream, the output.
    Failure(
        "the answer streamed to the end, or your code called `result.cancel()`",
        applies=lambda facts: facts.error is None,
        says="",
        exit_code=0,
    ),
    Failure(
        "Ctrl+C, at any moment",
        applies=is_a(KeyboardInterrupt, asyncio.CancelledError),
        says="",
        exit_code=130,
    ),
    Failure(
        "`response.completed` arrived, then the connection broke or went quiet, or the SDK could not read it",
        applies=lambda facts: (
            facts.ending == "completed" and not is_a(agents.AgentsException, OSError)(facts)
        ),
        says="",
        exit_code=0,
    ),
    Failure(
        "a certificate that fails verification (self-signed, or a proxy's)",
        applies=lambda facts: bool(facts.certificate),
        says="the certificate of {url}{via} failed verification: {certificate}.",
    ),
    Failure(
        "no TLS connection (`https://` to a plain HTTP port, say)",
        applies=lambda facts: facts.tls_failed and not facts.ending,
        says="could not make a TLS connection to {url}{via} ({cause}); does it serve https?",
    ),
    Failure(
        "HTTP 407 from a proxy",
        applies=lambda facts: bool(facts.proxy) and (facts.status == 407 or "407" in facts.cause),
        says="the proxy {proxy} wants a user name and password (HTTP 407).",
    ),
    Failure(
        "no connection within 5 s, three times",
        applies=lambda facts: any(isinstance(error, httpx2.ConnectTimeout) for error in chain(facts.error)),
        says="could not connect to {url}{via}: no answer within {connect_timeout:g} s, in 3 attempts.",
    ),
    Failure(
        "no connection",
        applies=lambda facts: facts.connection_lost and not facts.reached and not facts.ending,
        says="could not connect to {url}{via}.",
    ),
    Failure(
        "a connection, but no HTTP answer that can be read",
        applies=lambda facts: facts.connection_lost and not facts.ending,
        says="{url}{via} sent no HTTP answer that could be read ({cause}).",
    ),
    Failure(
        "HTTP 401 with a user name and password in `OPENAI_BASE_URL`",
        applies=lambda facts: facts.status == 401 and facts.url_has_credentials,
        says="the server rejected the user name and password in OPENAI_BASE_URL (HTTP 401), "
        "which httpx sends instead of OPENAI_API_KEY.",
    ),
    Failure(
        "HTTP 401",
        applies=lambda facts: facts.status == 401,
        says="the API key was rejected (HTTP 401). Check OPENAI_API_KEY.",
    ),
    Failure(
        "HTTP 404, not from OpenAI",
        applies=lambda facts: facts.status == 404 and facts.url != DEFAULT_BASE_URL,
        says="{url} answered HTTP 404 ({detail}); does it serve the Responses API?",
    ),
    Failure(
        "any other HTTP status",
        applies=lambda facts: facts.status is not None,
        says="the server{via} answered HTTP {status}: {detail}",
    ),
    Failure(
        "the server silent for `--timeout` seconds",
        applies=is_a(ServerSilent),
        says="timed out: {url} sent nothing for {timeout:g} s (see --timeout).",
    ),
    Failure(
        "a refusal",
        applies=is_a(agents.ModelRefusalError),
        says="the model refused to answer; its reply is above.",
    ),
    Failure(
        "`response.incomplete`",
        applies=lambda facts: facts.ending == "incomplete",
        says="the answer was cut off ({reason}).",
    ),
    Failure(
        "`response.failed`",
        applies=lambda facts: facts.ending == "failed",
        says="the response failed: {server_message}",
    ),
    Failure(
        "an `error` event, or an error in a stream's data",
        applies=lambda facts: facts.ending == "error" or type(facts.error) is openai.APIError,
        says="the server sent an error: {server_message}",
    ),
    Failure(
        "the stream breaks off",
        applies=lambda facts: (
            facts.ending not in ("", "completed")
            and (facts.connection_lost or is_a(agents.ModelBehaviorError)(facts))
        ),
        says="the stream from {url}{via} stopped before the answer was complete.",
    ),
    Failure(
        "an answer that is not a stream of Responses API events",
        applies=lambda facts: is_a(agents.ModelBehaviorError)(facts) and not facts.ending,
        says="{url} answered, but with no Responses API event; does it serve the Responses API?",
    ),
    Failure(
        "an event that is not JSON",
        applies=is_a(json.JSONDecodeError),
        says="{url} sent a stream event that is not valid JSON.",
    ),
    Failure(
        "any other failure of the run",
        applies=is_a(agents.AgentsException),
        says="the run failed: {message}",
    ),
    Failure(
        "the reader closed the pipe (`| head`)",
        applies=is_a(BrokenPipeError),
        says="",
        exit_code=141,
    ),
    Failure(
        "output cannot be written",
        applies=lambda facts: is_output_error(facts.error),
        says="cannot write the answer: {message}.",
    ),
    Failure(
        "anything else",
        applies=lambda facts: True,
        says="unexpected failure ({kind}; run again with " + SHOW_TRACEBACK + "=1 to see where): {message}",
    ),
]


def explain(failure: BaseException | None, last_raw_event, settings: Settings | None) -> tuple[str, int]:
    """The message for a failure (one line, safe for a terminal, no secrets) and the exit code."""
    facts = gather_facts(failure, last_raw_event, settings)
    row = next(row for row in FAILURES if row.applies(facts))
    return printable(row.says.format_map(vars(facts)), settings), row.exit_code


def say_why(failure: BaseException, last_raw_event, settings: Settings | None) -> int:
    """Print why the run ended (a refusal on stdout, one line on stderr); return the exit code."""
    try:
        message, exit_code = explain(failure, last_raw_event, settings)
    except Exception:  # a fault in explain() itself must not hide the failure
        message, exit_code = f"unexpected failure ({type(failure).__name__}) while explaining another.", 1
    try:
        if os.environ.get(SHOW_TRACEBACK):
            traceback.print_exception(type(failure), failure, failure.__traceback__)
        if isinstance(failure, agents.ModelRefusalError):
            print(failure.refusal)  # what the model said goes where the answer goes
        if message:
            print(f"error: {message}", file=sys.stderr)
    except OSError as error:  # standard error is closed too: the exit code still tells
        discard_output()
        if isinstance(error, BrokenPipeError):  # its reader left, as with `| head`
            exit_code = 141
    return exit_code


def discard_output() -> None:
    """Send what is left to /dev/null: Python would try to write it again at exit, and fail again."""
    for stream in sys.stdout, sys.stderr:
        if stream is not None:
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


def gather_facts(failure: BaseException | None, last_raw_event, settings: Settings | None) -> Facts:
    """Every fact a message may need, read with care: a server may send any shape of event."""
    ending = getattr(last_raw_event, "type", None)
    response = getattr(last_raw_event, "response", None)
    body = getattr(failure, "body", None)
    if isinstance(body, dict):
        body = body.get("message", body.get("detail", body))
    server_message = getattr(getattr(response, "error", None), "message", None)
    server_message = (
        server_message or getattr(last_raw_event, "message", None) or getattr(failure, "message", "")
    )
    failures = list(chain(failure))
    # The HTTP error response, also when its body then failed to arrive (cut short, reset, badly gzipped).
    status_errors = (openai.APIStatusError, httpx2.HTTPStatusError)
    answer = next((error.response for error in failures if isinstance(error, status_errors)), None)
    lost = any(isinstance(error, openai.APIConnectionError | httpx2.TransportError) for error in failures)
    not_reached = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.ProxyError, httpx2.UnsupportedProtocol)
    certificate = next((error for error in failures if isinstance(error, ssl.SSLCertVerificationError)), None)
    reason = getattr(getattr(response, "incomplete_details", None), "reason", None)
    return Facts(
        error=failure,
        ending=ending.removeprefix("response.") if isinstance(ending, str) else "",
        url=settings.shown_url if settings else DEFAULT_BASE_URL,
        proxy=settings.proxy or "" if settings else "",
        via=f" through the proxy {settings.proxy}" if settings and settings.proxy else "",
        url_has_credentials=bool(settings and settings.url_has_credentials),
        status=answer.status_code if answer is not None else None,
        detail=str(body or getattr(answer, "reason_phrase", None) or ""),
        reason=str(reason or "no reason given"),
        server_message=str(server_message),
        certificate=describe_certificate_failure(certificate, settings),
        tls_failed=any(isinstance(error, ssl.SSLError) for error in failures),
        connection_lost=lost and answer is None,
        # Failures built by hand (in tests, say) carry no cause: take them as not reaching the server.
        reached=len(failures) > 1 and not any(isinstance(error, not_reached) for error in failures),
        timeout=settings.timeout if settings else DEFAULT_TIMEOUT,
        connect_timeout=CONNECT_TIMEOUT,
        message=failure.strerror if is_output_error(failure) else str(failure) or type(failure).__name__,
        cause=(str(failures[-1]) or type(failures[-1]).__name__).rstrip(".") if failures else "",
        kind=type(failure).__name__,
    )


def is_output_error(failure: BaseException | None) -> bool:
    """Whether writing failed: an OSError that names no file, with the system's words for it."""
    return isinstance(failure, OSError) and failure.filename is None and bool(failure.strerror)


def chain(failure: BaseException | None):
    """The failure and the failures that caused it."""
    seen = set()
    while failure is not None and id(failure) not in seen:
        seen.add(id(failure))
        yield failure
        failure = failure.__cause__ or failure.__context__


def describe_certificate_failure(
    error: ssl.SSLCertVerificationError | None, settings: Settings | None
) -> str:
    if error is None:
        return ""
    why = (error.verify_message or error.reason or "unknown").rstrip(".")
    if settings and settings.ssl_cert_file:
        return f"{why} (with the certificates in SSL_CERT_FILE {settings.ssl_cert_file})"
    return why


def secrets_of(settings: Settings | None) -> list[tuple[str, str]]:
    """What must never be printed, longest first: the key, and passwords or tokens in URLs."""
    if settings is None:
        return []
    found = [(settings.key, "[key]")]
    for url in settings.base_url, *settings.proxy_urls:
        found += [(secret, "[secret]") for secret in secrets_in(url)]
    return sorted(((secret, shown) for secret, shown in found if secret), key=lambda pair: -len(pair[0]))


def printable(text: str, settings: Settings | None) -> str:
    """`text` on one line, without secrets or control characters, cut at 300 characters."""
    for secret, shown in secrets_of(settings):
        text = text.replace(secret, shown)
    text = " ".join(text.split())
    text = text if len(text) <= 300 else text[:299] + "…"
    return "".join(char if char.isprintable() else "?" for char in text)


if __name__ == "__main__":
    sys.exit(run())
