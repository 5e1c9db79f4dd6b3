"""A loopback HTTP server that streams like the OpenAI Responses API, or replays a recorded stream.

The end-to-end tests, the demo and the benchmark point the real Agents SDK at it through
OPENAI_BASE_URL. It speaks HTTP/1.1 with chunked transfer encoding and sends one SSE event
per chunk, with real pauses between events, so the client sees the stream arrive the way it
arrives from api.openai.com.

A generated stream follows the recordings described in ../shared/openai-wire/README.md:
`event:`/`data:` framing with no `[DONE]`, the plain-text event order, a `sequence_number` on
every event, the 2026 field set of the response object, JSON error bodies shaped
{"error": {"message", "type", "param", "code"}}, and the real in-stream failure: a nested
`error` event followed by `response.failed`. `response.model` is the model the request named,
exactly as received, unless the scenario says otherwise. A recorded body, such as those in
../shared/peer-wire/ (no `event:` lines, `data: [DONE]`, a bare `{"error": ...}` data line),
is replayed byte for byte (see `replay`).

Usage:

    with OpenAIServer(Scenario(deltas=["Hello", " world"], delta_interval=0.01)) as server:
        env["OPENAI_BASE_URL"] = server.base_url
        ...
        server.requests[0]["model"]  # what the client sent, as it arrived
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import ssl
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

DELTA_TYPES = ("response.output_text.delta", "response.refusal.delta")
DEFAULT_DELTAS = ["Recursion", " is", " when", " a", " function", " calls", " itself", "."]
INPUT_TOKENS = 25
JSON = "application/json; charset=utf-8"


@dataclass
class Scenario:
    """What the server does with the next request."""

    # None sends `"delta": null`; half a surrogate pair ("\ud83d") goes out as its JSON escape.
    deltas: list[str | None] = field(default_factory=lambda: list(DEFAULT_DELTAS))
    delta_interval: float = 0.0  # seconds between two deltas
    first_byte_delay: float = 0.0  # seconds before the response headers
    first_event_delay: float = 0.0  # seconds between the headers and the first event
    answer_when: threading.Event | None = None  # hold each request until this is set (a test's cue)
    extra_headers: dict[str, str] = field(default_factory=dict)
    # The answer's ending; "eof" ends the body cleanly right after the deltas, with no terminal event.
    ending: Literal["completed", "in_stream_error", "failed", "incomplete", "eof"] = "completed"
    error: dict | None = None  # the error of an in-stream failure or `response.failed`
    served_model: str | None = None  # `response.model`; None: the request's model, as received
    usage: bool = True  # False: `"usage": null` in the final response, as Llama Stack sends it
    # Recordings made before 2026-07 lack `cache_write_tokens`; their final event does not validate.
    cache_write_tokens: bool = True
    null_content: bool = False  # the message in `response.completed` has `"content": null`
    refusal: str | None = None  # stream this refusal, a few words per delta, instead of `deltas`
    recorded: list[dict] | None = None  # send these events (see read_sse) instead of generating them
    # Rewrites the events planned above; an item that is bytes goes out as it is (odd framing, bad JSON).
    edit: Callable[[list[dict]], list[dict | bytes]] | None = None
    replay: bytes | None = None  # a recorded body, sent byte for byte instead of all the above
    # How the body ends after its last event: the final zero-length chunk; the connection closed
    # without it; reset; or held open, silent, until the client leaves.
    close: Literal["chunk", "fin", "reset", "hold"] = "chunk"
    cut_after: int | None = None  # reset the connection after this many deltas
    # These two act after this many deltas (0 with no deltas at all: right after the headers).
    stall_after: int | None = None  # send nothing more and hold the connection until the client leaves
    keepalive_after: int | None = None  # send only `: keep-alive` comments until the client leaves
    keepalive_interval: float = 0.05  # seconds between two keep-alive comments
    status: int = 200  # anything else sends `error_body` instead of a stream
    error_body: dict | bytes | None = None  # a dict goes as OpenAI's JSON; bytes as they are
    error_content_type: str = JSON
    # An error body that never arrives whole: cut short (the connection closed), reset, or sent as
    # gzip when it is not.
    error_fault: Literal["cut", "reset", "gzip"] | None = None
    hang_up: bool = False  # close the connection once the request has arrived, without an answer
    then: Scenario | None = None  # the scenario for the requests after this one (a retry, a tool's turn)


@dataclass
class StreamLog:
    """What the server sent for one request, with time.monotonic() stamps."""

    delta_write_times: list[float] = field(default_factory=list)
    finished: bool = False  # every event went out
    client_gone: bool = False  # the client closed the connection before the body ended


QUOTA_ERROR = {
    "type": "insufficient_quota",
    "code": "insufficient_quota",
    "message": "You exceeded your current quota, please check your plan and billing details. "
    "For more information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors.",
    "param": None,
}


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def replay(path: Path, **options) -> Scenario:
    """A scenario that replays the recorded body at `path`, with the recorded headers if there are any.

    NAME.headers, beside NAME.sse, holds the status line and headers as received (see ../shared/peer-wire).
    """
    headers = {}
    headers_file = path.with_suffix(".headers")
    if headers_file.exists():
        for line in headers_file.read_text(encoding="latin-1").splitlines()[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() not in ("", "date", "transfer-encoding", "content-length"):
                headers[name.strip().lower()] = value.strip()
    return Scenario(replay=path.read_bytes(), extra_headers=headers, **options)


def read_sse(path) -> list[dict]:
    """The events of a recorded Responses API stream, such as ../shared/openai-wire/*.sse."""
    with open(path, encoding="utf-8") as recording:
        return [json.loads(line[len("data: ") :]) for line in recording if line.startswith("data: {")]


def _hex(length: int) -> str:
    return secrets.token_hex(length // 2 + 1)[:length]


def _obfuscation(delta: str) -> str:
    # Observed on every recorded delta: len(delta) + len(obfuscation) == 16.
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(max(16 - len(delta), 1)))


def _response(request: dict, scenario: Scenario, response_id: str, status: str, **fields) -> dict:
    response = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "background": False,
        "completed_at": None,
        "error": None,
        "frequency_penalty": 0.0,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": scenario.served_model or request.get("model"),
        "moderation": None,
        "output": [],
        "parallel_tool_calls": True,
        "presence_penalty": 0.0,
        "previous_response_id": None,
        "prompt_cache_key": None,
        "prompt_cache_retention": "in_memory",
        "reasoning": {"context": "current_turn", "effort": None, "mode": "standard", "summary": None},
        "safety_identifier": None,
        "service_tier": "auto",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tool_usage": {
            "image_gen": {
                "input_tokens": 0,
                "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
                "output_tokens": 0,
                "output_tokens_details": {"image_tokens": 0, "text_tokens": 0},
                "total_tokens": 0,
            },
            "web_search": {"num_requests": 0},
        },
        "tools": [],
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": None,
        "user": None,
        "metadata": {},
    }
    response.update(fields)
    return response


def _finished(scenario: Scenario, output: list[dict], output_tokens: int) -> dict:
    """The fields of a response that has ended: its output, and its usage."""
    input_details = {"cache_write_tokens": 0, "cached_tokens": 0}
    if not scenario.cache_write_tokens:
        del input_details["cache_write_tokens"]
    usage = {
        "input_tokens": INPUT_TOKENS,
        "input_tokens_details": input_details,
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": INPUT_TOKENS + output_tokens,
    }
    fields = {"completed_at": int(time.time()), "output": output, "service_tier": "default"}
    return {**fields, "usage": usage if scenario.usage else None}


def plan_events(request: dict, scenario: Scenario) -> list[dict]:
    """Every event of one streamed answer, in wire order, without sequence numbers."""
    prefix = _hex(50)
    response_id, item_id = f"resp_{prefix}", f"msg_{prefix[:20]}{_hex(30)}"
    in_progress = _response(request, scenario, response_id, "in_progress")
    events: list[dict] = [
        {"type": "response.created", "response": in_progress},
        {"type": "response.in_progress", "response": in_progress},
    ]
    item = {"id": item_id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
    where = {"content_index": 0, "item_id": item_id, "output_index": 0}
    if scenario.refusal is not None:
        kind, pieces = "refusal", re.split(r"(?<=\s)(?=\S)", scenario.refusal)  # "I can't": "I ", "can't"
        part, done_part = {"type": kind, "refusal": ""}, {"type": kind, "refusal": scenario.refusal}
    else:
        kind, pieces = "output_text", scenario.deltas
        text = "".join(delta or "" for delta in pieces)
        part = {"type": kind, "annotations": [], "logprobs": [], "text": ""}
        done_part = {**part, "text": text}
    if pieces:
        events.append({"type": "response.output_item.added", "item": item, "output_index": 0})
        events.append({"type": "response.content_part.added", **where, "part": part})
    for piece in pieces:
        delta = {"type": f"response.{kind}.delta", **where, "delta": piece}
        if kind == "output_text":
            delta |= {"logprobs": [], "obfuscation": _obfuscation(piece or "")}
        events.append(delta)
    if scenario.ending == "eof":
        return events
    if scenario.ending in ("in_stream_error", "failed"):
        # The recorded failure comes before any delta; one after some deltas is
        # sent the same way (an error event, then response.failed, then nothing).
        error = scenario.error or QUOTA_ERROR
        if scenario.ending == "in_stream_error":
            events.append({"type": "error", "error": error})
        failed = {"code": error["code"], "message": error["message"]}
        events.append(
            {
                "type": "response.failed",
                "response": _response(request, scenario, response_id, "failed", error=failed),
            }
        )
        return events
    status = "incomplete" if scenario.ending == "incomplete" else "completed"
    done_item = {**item, "status": status, "content": [done_part]}
    if kind == "output_text":
        events.append({"type": "response.output_text.done", **where, "logprobs": [], "text": text})
    else:
        events.append({"type": "response.refusal.done", **where, "refusal": scenario.refusal})
    events.append({"type": "response.content_part.done", **where, "part": done_part})
    events.append({"type": "response.output_item.done", "item": done_item, "output_index": 0})
    output = [{**done_item, "content": None}] if scenario.null_content else [done_item]
    finished = _finished(scenario, output, len(pieces))
    if status == "incomplete":
        finished["incomplete_details"] = {"reason": "max_output_tokens"}
    response = _response(request, scenario, response_id, status, **finished)
    return [*events, {"type": f"response.{status}", "response": response}]


def encode_event(event: dict | bytes, sequence_number: int) -> bytes:
    """One SSE event as OpenAI frames it: `type` first, compact JSON, a blank line; bytes as they are."""
    if isinstance(event, bytes):
        return event
    payload = {"type": event.get("type"), **event, "sequence_number": sequence_number}
    if "type" not in event:
        del payload["type"]
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    if re.search("[\ud800-\udfff]", data):  # half a surrogate pair, which UTF-8 cannot hold
        data = json.dumps(payload, separators=(",", ":"))
    name = f"event: {event['type']}\n" if isinstance(event.get("type"), str) else ""
    return f"{name}data: {data}\n\n".encode()


def _is_delta(block: bytes) -> bool:
    for line in block.split(b"\n"):
        if line.startswith(b"data: {"):
            try:
                return json.loads(line[len(b"data: ") :]).get("type") in DELTA_TYPES
            except ValueError:
                return False
    return False


class OpenAIServer:
    """Serves POST /v1/responses on 127.0.0.1 from a background thread."""

    def __init__(
        self, scenario: Scenario | None = None, certificate: tuple[Path, Path] | None = None
    ) -> None:
        """`certificate`: serve HTTPS with this certificate and key file, as (cert, key)."""
        self.scenario = scenario or Scenario()
        self._tls = None
        if certificate:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(*certificate)
        self.requests: list[dict] = []  # JSON bodies, in arrival order, as received
        self.request_headers: list[dict[str, str]] = []  # lower-cased names
        self.logs: list[StreamLog] = []  # one per request
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> OpenAIServer:
        self._thread.start()
        start = asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._tls)
        self._server = asyncio.run_coroutine_threadsafe(start, self._loop).result()
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc_info) -> None:
        async def stop() -> None:
            self._server.close()
            handlers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._serve_one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # shutdown with a client still waiting; Python 3.11.7 would log a cancelled handler
        finally:
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; return whether the connection stays open for another."""
        request_line = await reader.read(1)
        if request_line == b"\x16":  # a TLS handshake: answer as a plain HTTP server does, and close
            writer.write(_head(400, {"content-length": "0", "connection": "close"}))
            await writer.drain()
            return False
        request_line += await reader.readline()
        if not request_line:
            return False
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", 0)))
        method, path, _ = request_line.decode("latin-1").split(" ", 2)
        if method == "CONNECT" and self.scenario.status != 200:  # as a proxy that refuses the tunnel
            await self._send_error(writer, self.scenario)
            return False
        if method != "POST" or not path.endswith("/responses"):
            message = f"Invalid URL ({method} {path})"
            await self._send_error(
                writer, Scenario(status=404, error_body=error_body(message, "invalid_request_error", None))
            )
            return True

        scenario = self.scenario
        self.scenario = scenario.then or scenario
        self.requests.append(json.loads(body))
        self.request_headers.append(headers)
        log = StreamLog()
        self.logs.append(log)
        while scenario.answer_when and not scenario.answer_when.is_set():
            await asyncio.sleep(0.01)
        await asyncio.sleep(scenario.first_byte_delay)
        if scenario.hang_up:
            return False
        if scenario.status != 200:
            return await self._send_error(writer, scenario)
        return await self._stream(reader, writer, self.requests[-1], scenario, log)

    async def _send_error(self, writer, scenario: Scenario) -> bool:
        # OpenAI indents error bodies with two spaces and sends no trailing newline; bytes go as they are.
        body = scenario.error_body or {}
        payload = body if isinstance(body, bytes) else json.dumps(body, indent=2).encode()
        headers = {
            "content-type": scenario.error_content_type,
            "content-length": str(len(payload)),
            "x-request-id": f"req_{_hex(32)}",
            **scenario.extra_headers,
        }
        if scenario.error_fault == "gzip":
            headers["content-encoding"] = "gzip"
        elif scenario.error_fault:
            payload = payload[: len(payload) // 2]
        writer.write(_head(scenario.status, headers) + payload)
        await writer.drain()
        if scenario.error_fault == "reset":
            writer.transport.abort()
        return scenario.error_fault is None

    def _blocks(self, request: dict, scenario: Scenario) -> list[bytes]:
        """The body, one SSE event per item."""
        if scenario.replay is not None:
            return re.findall(rb"(?s).*?\n\n|.+", scenario.replay)
        events = scenario.recorded or plan_events(request, scenario)
        if scenario.edit:
            events = scenario.edit(events)
        return [encode_event(event, number) for number, event in enumerate(events)]

    async def _stream(self, reader, writer, request: dict, scenario: Scenario, log: StreamLog) -> bool:
        headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "transfer-encoding": "chunked",
            "openai-version": "2020-10-01",
            "openai-processing-ms": "205",
            "x-request-id": f"req_{_hex(32)}",
        }
        if scenario.replay is not None:  # the recorded headers only
            headers = {"content-type": headers["content-type"], "transfer-encoding": "chunked"}
        writer.write(_head(200, {**headers, **scenario.extra_headers}))
        deltas_sent = 0
        try:
            await writer.drain()
            await asyncio.sleep(scenario.first_event_delay)
            blocks = [(block, _is_delta(block)) for block in self._blocks(request, scenario)]
            total_deltas = sum(is_delta for _, is_delta in blocks)
            for block, is_delta in blocks:
                if is_delta and deltas_sent and scenario.delta_interval:
                    await asyncio.sleep(scenario.delta_interval)
                if is_delta and deltas_sent == scenario.cut_after:
                    writer.transport.abort()  # mid-body, without the closing zero-length chunk
                    return False
                if is_delta or deltas_sent == total_deltas:  # before the next delta, or past the last
                    if deltas_sent == scenario.stall_after:
                        await _hold(reader, writer, None)
                    if deltas_sent == scenario.keepalive_after:
                        await _hold(reader, writer, scenario.keepalive_interval)
                writer.write(_chunk(block))
                if is_delta:
                    log.delta_write_times.append(time.monotonic())
                    deltas_sent += 1
                await writer.drain()
                if writer.transport.is_closing():
                    raise ConnectionResetError("client went away")
            log.finished = True
            if scenario.close == "chunk":
                writer.write(b"0\r\n\r\n")
                await writer.drain()
                return True
            if scenario.close == "reset":
                writer.transport.abort()
            elif scenario.close == "hold":
                await _hold(reader, writer, None)
            return False  # "fin": the handler closes the connection
        except ConnectionError:
            log.client_gone = True
            return False


async def _hold(reader, writer, keepalive: float | None) -> None:
    """Send nothing but keep-alive comments, if any, until the client leaves; then raise."""
    await writer.drain()
    while True:
        try:
            # Reading is how a silent server notices the client's FIN at once.
            if not await asyncio.wait_for(reader.read(4096), keepalive):
                raise ConnectionResetError("client went away")
        except asyncio.TimeoutError:
            writer.write(_chunk(b": keep-alive\n\n"))
            await writer.drain()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _head(status: int, headers: dict[str, str]) -> bytes:
    reasons = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}
    reasons |= {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    reasons |= {407: "Proxy Authentication Required"}
    lines = [f"HTTP/1.1 {status} {reasons.get(status, 'Error')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
