"""An example input for every row of the script's failure table, FAILURES.

Each example is what `explain()` is given when that row's failure happens: the failure, the last raw
event the stream delivered before it, and the settings (as variables added to a key). test_script.py
checks that each example selects its own row; the README's failure table shows `example_message()`.

Whatever happens on the wire is raised by an openai client itself, over a transport that answers with
the example's HTTP response or fails with the example's transport error; the rest is raised as the SDK
raises it. The values are realistic, so that the README's table reads like a real session.
"""

import errno
import functools
import os
import ssl
from pathlib import Path

import agents
import httpx2
import openai
from stub_runner import completed, error_event, failed, incomplete, text_delta

KEY = "sk-proj-tutorial-0123456789abcdef"
LOCAL = {"OPENAI_BASE_URL": "http://localhost:11434/v1"}  # Ollama, say
SSE = {"content-type": "text/event-stream"}


@functools.cache
def examples(script) -> dict[str, tuple[BaseException | None, object, dict[str, str]]]:
    """Each row's `what` → (failure, last raw event, variables for the settings)."""
    delta = text_delta("Recursion").data
    done = completed("Recursion is a function calling itself.")[0].data
    rate_limit = {
        "message": "Rate limit reached for gpt-4o in organization org-tutorial on tokens per min (TPM): "
        "Limit 30000, Used 30000, Requested 1200. Please try again in 2.4s.",
        "type": "tokens",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    wrong_key = {"message": f"Incorrect API key provided: {KEY}.", "code": "invalid_api_key"}
    quota = "You exceeded your current quota, please check your plan and billing details."
    return {
        "the answer streamed to the end, or your code called `result.cancel()`": (None, done, {}),
        "Ctrl+C, at any moment": (KeyboardInterrupt(), delta, {}),
        (
            "`response.completed` arrived, then the connection broke or went quiet, "
            "or the SDK could not read it"
        ): (
            *streamed_by_the_client(sse(done), broken_off()),
            {},
        ),
        "a certificate that fails verification (self-signed, or a proxy's)": (
            *streamed_by_the_client(connect_error(certificate_error("self-signed certificate"))),
            {},
        ),
        "no TLS connection (`https://` to a plain HTTP port, say)": (
            *streamed_by_the_client(connect_error(not_tls())),
            {"OPENAI_BASE_URL": "https://localhost:11434/v1"},
        ),
        "no connection within 5 s, three times": (
            *streamed_by_the_client(httpx2.ConnectTimeout("timed out")),
            {},
        ),
        "no connection": (
            *streamed_by_the_client(httpx2.ConnectError("[Errno 111] Connection refused")),
            {},
        ),
        "a connection, but no HTTP answer that can be read": (
            *streamed_by_the_client(
                httpx2.RemoteProtocolError("Server disconnected without sending a response.")
            ),
            LOCAL,
        ),
        "HTTP 401 with a user name and password in `OPENAI_BASE_URL`": (
            *streamed_by_the_client(httpx2.Response(401, text="401 Unauthorized\n")),
            {"OPENAI_BASE_URL": "https://alice:wonderland@llm.example.com/v1"},
        ),
        "HTTP 401": (*streamed_by_the_client(httpx2.Response(401, json={"error": wrong_key})), {}),
        "HTTP 407 from a proxy": (
            *streamed_by_the_client(httpx2.Response(407, text="Proxy Authentication Required\n")),
            {"OPENAI_BASE_URL": "http://gpu-7.internal:8000/v1", "HTTP_PROXY": "http://proxy.example:3128"},
        ),
        "HTTP 404, not from OpenAI": (
            *streamed_by_the_client(httpx2.Response(404, text="404 page not found")),
            LOCAL,
        ),
        "any other HTTP status": (
            *streamed_by_the_client(httpx2.Response(429, json={"error": rate_limit})),
            {},
        ),
        "the server silent for `--timeout` seconds": (script.ServerSilent(300.0), delta, {}),
        "a refusal": (agents.ModelRefusalError("I can't help with that."), done, {}),
        "`response.incomplete`": (
            terminal_event_error("response.incomplete"),
            incomplete("max_output_tokens").data,
            {},
        ),
        "`response.failed`": (terminal_event_error("response.failed"), failed("The model crashed.").data, {}),
        "an `error` event, or an error in a stream's data": (
            terminal_event_error("error"),
            error_event(quota, "insufficient_quota").data,
            {},
        ),
        "the stream breaks off": (*streamed_by_the_client(sse(delta), broken_off()), {}),
        # What the SDK raises when a body (an HTML page, say) held no event at all.
        "an answer that is not a stream of Responses API events": (
            agents.ModelBehaviorError("Model did not produce a final response!"),
            None,
            LOCAL,
        ),
        "an event that is not JSON": (
            *streamed_by_the_client(
                sse(delta), b"event: response.output_text.delta\ndata: {'delta': ' is'}\n\n"
            ),
            LOCAL,
        ),
        "any other failure of the run": (agents.MaxTurnsExceeded("Max turns (10) exceeded"), done, {}),
        "the reader closed the pipe (`| head`)": (BrokenPipeError(errno.EPIPE, "Broken pipe"), delta, {}),
        "output cannot be written": (OSError(errno.ENOSPC, "No space left on device"), delta, {}),
        "anything else": (
            TypeError("can only concatenate str (not 'NoneType') to str"),
            delta,
            {},
        ),
    }


def example_message(script, row) -> tuple[str, int]:
    """What the script says for `row`'s example, and its exit code: for the README's failure table."""
    failure, last_raw_event, variables = examples(script)[row.what]
    return script.explain(failure, last_raw_event, settings(script, variables))


def settings(script, variables: dict[str, str]):
    """The settings the script reads from `variables` and the key, with no arguments and no .env."""
    found = script.read_settings([], {"OPENAI_API_KEY": KEY, **variables}, Path(os.devnull), None)
    assert isinstance(found, script.Settings), found
    return found


# --- Failures as the openai client and the SDK raise them ------------------------------------------


def streamed_by_the_client(*answer) -> tuple[BaseException | None, object]:
    """(the failure, the last event) of a streamed request that an openai client sends, when its HTTP
    transport answers with `answer`: a response, a transport error to raise, or the chunks of a stream.
    """

    def transport(request: httpx2.Request) -> httpx2.Response:
        if isinstance(answer[0], httpx2.Response):
            return answer[0]
        if isinstance(answer[0], BaseException):
            raise answer[0]
        return httpx2.Response(200, headers=SSE, content=chunks(*answer))

    http_client = openai.DefaultHttpxClient(transport=httpx2.MockTransport(transport))
    client = openai.OpenAI(api_key=KEY, max_retries=0, http_client=http_client)
    last_event = None
    try:
        for event in client.responses.create(model="gpt-4o", input="Explain recursion.", stream=True):
            last_event = event
    except Exception as failure:
        return failure, last_event
    raise AssertionError("the stream did not fail")


def chunks(*parts):
    for part in parts:
        if isinstance(part, BaseException):
            raise part
        yield part


def sse(event) -> bytes:
    """One server-sent event, as the Responses API sends it."""
    return f"event: {event.type}\ndata: {event.model_dump_json()}\n\n".encode()


def broken_off() -> httpx2.RemoteProtocolError:
    return httpx2.RemoteProtocolError(
        "peer closed connection without sending complete message body (incomplete chunked read)"
    )


def certificate_error(why: str) -> ssl.SSLCertVerificationError:
    """What the ssl module raises when the server's certificate fails verification."""
    error = ssl.SSLCertVerificationError(
        1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {why} (_ssl.c:1006)"
    )
    error.reason, error.verify_message = "CERTIFICATE_VERIFY_FAILED", why
    return error


def not_tls() -> ssl.SSLError:
    """What the ssl module raises when the server answers a TLS handshake in plain HTTP."""
    error = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    error.reason = "WRONG_VERSION_NUMBER"
    return error


def connect_error(cause: BaseException) -> httpx2.ConnectError:
    """httpx's ConnectError, raised from `cause` as httpx raises it."""
    error = httpx2.ConnectError(str(cause))
    error.__cause__ = cause
    return error


def terminal_event_error(event_type: str) -> agents.ModelBehaviorError:
    """What the SDK's run raises after it delivers a terminal event other than `response.completed`."""
    return agents.ModelBehaviorError(f"Responses stream ended with terminal event `{event_type}`.")
