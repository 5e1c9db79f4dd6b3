"""A loopback HTTP server that streams like the OpenAI Responses API.

The end-to-end tests and the benchmark point the real Agents SDK at it through
OPENAI_BASE_URL. It speaks HTTP/1.1 with chunked transfer encoding and sends one
SSE event per chunk, with real pauses between events, so the client sees the
stream arrive the way it arrives from api.openai.com.

The wire format follows the recordings described in ../shared/openai-wire/README.md:
`event:`/`data:` framing with no `[DONE]`, the plain-text event order, a
`sequence_number` on every event, the 2026 field set of the response object
(including `usage.input_tokens_details.cache_write_tokens`), JSON error bodies
shaped {"error": {"message", "type", "param", "code"}}, and the real in-stream
failure: a nested `error` event followed by `response.failed`.

Usage:

    with OpenAIServer() as server:
        server.scenario = Scenario(deltas=["Hello", " world"], delta_interval=0.01)
        env["OPENAI_BASE_URL"] = server.base_url
        ...
        server.requests[0]["model"]
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

DELTA_TYPES = ("response.output_text.delta", "response.refusal.delta")
DEFAULT_DELTAS = ["Recursion", " is", " when", " a", " function", " calls", " itself", "."]
INPUT_TOKENS = 25
JSON = "application/json; charset=utf-8"

# "eof" ends the body cleanly right after the deltas, with no terminal event.
Ending = Literal["completed", "in_stream_error", "failed", "incomplete", "eof"]


@dataclass
class Scenario:
    """What the server does with the next request."""

    deltas: list[str] = field(default_factory=lambda: list(DEFAULT_DELTAS))
    delta_interval: float = 0.0  # seconds between two deltas
    first_byte_delay: float = 0.0  # seconds before the response headers
    status: int = 200  # anything else sends `error_body` as JSON instead of a stream
    error_body: dict | None = None
    raw_error_body: bytes | None = None  # sent verbatim instead of `error_body`: proxy pages, plain text
    error_content_type: str = JSON  # of the error body
    extra_headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None  # drop the connection after this many deltas
    ending: Ending = "completed"
    error: dict | None = None  # the error of an in-stream failure or `response.failed`
    # Recordings made before 2026-07 lack `cache_write_tokens`, and then the
    # final `response.completed` does not validate against openai 3.57's types.
    cache_write_tokens: bool = True
    recorded: list[dict] | None = None  # replay these events (see read_sse) instead of generating them
    refusal: str | None = None  # stream this refusal, a few words per delta, instead of `deltas`
    # These three act after this many deltas (0 with no deltas at all: right after the headers).
    stall_after: int | None = None  # send nothing more and hold the connection until the client leaves
    keepalive_after: int | None = None  # send only `: keep-alive` comments until the client leaves
    keepalive_interval: float = 0.05  # seconds between two keep-alive comments
    malformed_after: int | None = None  # send one event with truncated JSON, then end the body


@dataclass
class StreamLog:
    """What the server sent for one request, with time.monotonic() stamps."""

    delta_write_times: list[float] = field(default_factory=list)
    finished: bool = False  # the whole planned stream went out
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


def _hex(length: int) -> str:
    return secrets.token_hex(length // 2 + 1)[:length]


def _obfuscation(delta: str) -> str:
    # Observed on every recorded delta: len(delta) + len(obfuscation) == 16.
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(max(16 - len(delta), 1)))


def _response(request: dict, response_id: str, status: str, **fields) -> dict:
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
        "model": f"{request.get('model', 'gpt-4o')}-2024-08-06",
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


def _usage(scenario: Scenario, output_tokens: int) -> dict:
    input_details = {"cached_tokens": 0}
    if scenario.cache_write_tokens:
        input_details = {"cache_write_tokens": 0, "cached_tokens": 0}
    return {
        "input_tokens": INPUT_TOKENS,
        "input_tokens_details": input_details,
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": INPUT_TOKENS + output_tokens,
    }


def plan_events(request: dict, scenario: Scenario) -> list[dict]:
    """Every event of one streamed answer, in wire order, without sequence numbers."""
    prefix = _hex(50)
    response_id, item_id = f"resp_{prefix}", f"msg_{prefix[:20]}{_hex(30)}"
    text = "".join(scenario.deltas)
    in_progress = _response(request, response_id, "in_progress")
    events: list[dict] = [
        {"type": "response.created", "response": in_progress},
        {"type": "response.in_progress", "response": in_progress},
    ]
    item = {"id": item_id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    where = {"content_index": 0, "item_id": item_id, "output_index": 0}
    if scenario.refusal is not None:
        return events + _refusal_events(request, scenario, response_id, item, where)
    if scenario.deltas:
        events.append({"type": "response.output_item.added", "item": item, "output_index": 0})
        events.append({"type": "response.content_part.added", **where, "part": part})
    for delta in scenario.deltas:
        events.append(
            {
                "type": "response.output_text.delta",
                **where,
                "delta": delta,
                "logprobs": [],
                "obfuscation": _obfuscation(delta),
            }
        )
    if scenario.ending == "eof":
        return events
    if scenario.ending in ("in_stream_error", "failed"):
        # The recorded failure comes before any delta; one after some deltas is
        # sent the same way (an error event, then response.failed, then nothing).
        error = scenario.error or QUOTA_ERROR
        if scenario.ending == "in_stream_error":
            events.append({"type": "error", "error": error})
        failed = _response(
            request, response_id, "failed", error={"code": error["code"], "message": error["message"]}
        )
        events.append({"type": "response.failed", "response": failed})
        return events
    item_status = "incomplete" if scenario.ending == "incomplete" else "completed"
    done_part = {**part, "text": text}
    done_item = {**item, "status": item_status, "content": [done_part]}
    events.append({"type": "response.output_text.done", **where, "logprobs": [], "text": text})
    events.append({"type": "response.content_part.done", **where, "part": done_part})
    events.append({"type": "response.output_item.done", "item": done_item, "output_index": 0})
    finished = {
        "completed_at": int(time.time()),
        "output": [done_item],
        "service_tier": "default",
        "usage": _usage(scenario, len(scenario.deltas)),
    }
    if scenario.ending == "incomplete":
        incomplete = _response(
            request,
            response_id,
            "incomplete",
            incomplete_details={"reason": "max_output_tokens"},
            **finished,
        )
        events.append({"type": "response.incomplete", "response": incomplete})
    else:
        completed = _response(request, response_id, "completed", **finished)
        events.append({"type": "response.completed", "response": completed})
    return events


def _refusal_events(request: dict, scenario: Scenario, response_id: str, item: dict, where: dict) -> list:
    text = scenario.refusal
    pieces = re.split(r"(?<=\s)(?=\S)", text)  # "I can't" -> "I ", "can't"
    done_part = {"type": "refusal", "refusal": text}
    done_item = {**item, "status": "completed", "content": [done_part]}
    completed = _response(
        request,
        response_id,
        "completed",
        completed_at=int(time.time()),
        output=[done_item],
        service_tier="default",
        usage=_usage(scenario, len(pieces)),
    )
    return [
        {"type": "response.output_item.added", "item": item, "output_index": 0},
        {"type": "response.content_part.added", **where, "part": {"type": "refusal", "refusal": ""}},
        *({"type": "response.refusal.delta", **where, "delta": piece} for piece in pieces),
        {"type": "response.refusal.done", **where, "refusal": text},
        {"type": "response.content_part.done", **where, "part": done_part},
        {"type": "response.output_item.done", "item": done_item, "output_index": 0},
        {"type": "response.completed", "response": completed},
    ]


def read_sse(path) -> list[dict]:
    """The events of a recorded Responses API stream, such as ../shared/openai-wire/*.sse."""
    with open(path, encoding="utf-8") as recording:
        return [json.loads(line[len("data: ") :]) for line in recording if line.startswith("data: ")]


def encode_event(event: dict, sequence_number: int) -> bytes:
    """One SSE event exactly as OpenAI frames it: `type` first, compact JSON, blank line."""
    payload = {"type": event["type"], **event, "sequence_number": sequence_number}
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


class OpenAIServer:
    """Serves POST /v1/responses on 127.0.0.1 from a background thread."""

    def __init__(self, scenario: Scenario | None = None) -> None:
        self.scenario = scenario or Scenario()
        self.requests: list[dict] = []  # JSON bodies, in arrival order
        self.request_headers: list[dict[str, str]] = []  # lower-cased names
        self.logs: list[StreamLog] = []  # one per request
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> OpenAIServer:
        self._thread.start()
        start = asyncio.start_server(self._handle, "127.0.0.1", 0)
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
        request_line = await reader.readline()
        if not request_line:
            return False
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", 0)))
        method, path, _ = request_line.decode("latin-1").split(" ", 2)
        if method != "POST" or not path.endswith("/responses"):
            message = f"Invalid URL ({method} {path})"
            await self._send_body(writer, 404, error_body(message, "invalid_request_error", None))
            return True

        request = json.loads(body)
        scenario = self.scenario
        self.requests.append(request)
        self.request_headers.append(headers)
        log = StreamLog()
        self.logs.append(log)
        await asyncio.sleep(scenario.first_byte_delay)
        if scenario.status != 200:
            body = (
                scenario.raw_error_body if scenario.raw_error_body is not None else scenario.error_body or {}
            )
            await self._send_body(
                writer, scenario.status, body, scenario.extra_headers, scenario.error_content_type
            )
            return True
        return await self._stream(reader, writer, request, scenario, log)

    async def _send_body(
        self, writer, status: int, body: dict | bytes, extra_headers: dict | None = None, content_type=JSON
    ) -> None:
        # OpenAI indents error bodies with two spaces and sends no trailing newline; bytes go as they are.
        payload = body if isinstance(body, bytes) else json.dumps(body, indent=2).encode()
        headers = {
            "content-type": content_type,
            "content-length": str(len(payload)),
            "x-request-id": f"req_{_hex(32)}",
            **(extra_headers or {}),
        }
        writer.write(_head(status, headers) + payload)
        await writer.drain()

    async def _stream(self, reader, writer, request: dict, scenario: Scenario, log: StreamLog) -> bool:
        headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "transfer-encoding": "chunked",
            "openai-version": "2020-10-01",
            "openai-processing-ms": "205",
            "x-request-id": f"req_{_hex(32)}",
            **scenario.extra_headers,
        }
        writer.write(_head(200, headers))
        deltas_sent = 0
        try:
            events = scenario.recorded or plan_events(request, scenario)
            total_deltas = sum(event["type"] in DELTA_TYPES for event in events)
            for sequence_number, event in enumerate(events):
                is_delta = event["type"] in DELTA_TYPES
                if is_delta and deltas_sent and scenario.delta_interval:
                    await asyncio.sleep(scenario.delta_interval)
                if is_delta and deltas_sent == scenario.cut_after:
                    writer.transport.abort()  # mid-body, without the closing zero-length chunk
                    return False
                if is_delta or deltas_sent == total_deltas:  # before the next delta, or past the last
                    if deltas_sent == scenario.malformed_after:
                        bad = {"type": "response.output_text.delta", "delta": "oops"}
                        truncated = encode_event(bad, sequence_number).replace(b"}\n\n", b"\n\n")
                        writer.write(_chunk(truncated) + b"0\r\n\r\n")
                        await writer.drain()
                        return True
                    if deltas_sent == scenario.stall_after:
                        await _hold(reader, writer, None)
                    if deltas_sent == scenario.keepalive_after:
                        await _hold(reader, writer, scenario.keepalive_interval)
                writer.write(_chunk(encode_event(event, sequence_number)))
                if is_delta:
                    log.delta_write_times.append(time.monotonic())
                    deltas_sent += 1
                await writer.drain()
                if writer.transport.is_closing():
                    raise ConnectionResetError("client went away")
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            log.client_gone = True
            return False
        log.finished = True
        return True


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
    lines = [f"HTTP/1.1 {status} {reasons.get(status, 'Error')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
