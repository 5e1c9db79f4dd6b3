"""A stand-in for api.openai.com on this machine, for the end-to-end tests, the demo and the benchmark.

With OPENAI_BASE_URL pointing at it, the real SDK reads every byte over real HTTP, with no key and no
network. It answers POST /v1/responses as OpenAI streams (HTTP/1.1 chunked, one SSE event per chunk,
real pauses between deltas) with an answer generated as the recordings in ../shared/openai-wire/ are
made (see its README.md), or with a recorded body replayed byte for byte (`replay()`).

    with OpenAIServer(Scenario(deltas=["Hello", " world"], delta_interval=0.01)) as server:
        env["OPENAI_BASE_URL"] = server.base_url  # then server.requests: what the client sent
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Literal

DELTA = b'"type":"response.output_text.delta"'
SSE = "text/event-stream; charset=utf-8"
# The response object of the newest recording (resp_gpt-5.1_text_newrelic.sse), in its key order.
RESPONSE = json.loads("""{"id": null, "object": "response", "created_at": null, "status": "in_progress",
"background": false, "completed_at": null, "error": null, "frequency_penalty": 0.0, "incomplete_details":
null, "instructions": null, "max_output_tokens": null, "max_tool_calls": null, "model": null, "moderation":
null, "output": [], "parallel_tool_calls": true, "presence_penalty": 0.0, "previous_response_id": null,
"prompt_cache_key": null, "prompt_cache_retention": "in_memory", "reasoning": {"context": "current_turn",
"effort": null, "mode": "standard", "summary": null}, "safety_identifier": null, "service_tier": "auto",
"store": true, "temperature": 1.0, "text": {"format": {"type": "text"}, "verbosity": "medium"},
"tool_choice": "auto", "tool_usage": {"image_gen": {"input_tokens": 0, "input_tokens_details":
{"image_tokens": 0, "text_tokens": 0}, "output_tokens": 0, "output_tokens_details": {"image_tokens": 0,
"text_tokens": 0}, "total_tokens": 0}, "web_search": {"num_requests": 0}}, "tools": [], "top_logprobs": 0,
"top_p": 1.0, "truncation": "disabled", "usage": null, "user": null, "metadata": {}}""")
DELTAS = ["Recursion", " is", " when", " a", " function", " calls", " itself", "."]
CRASH = {"type": "server_error", "code": "server_error", "message": "The model crashed.", "param": None}


@dataclass
class Scenario:
    """What the server does with the next request."""

    # None sends `"delta": null`; half a surrogate pair ("\ud83d") goes out as its JSON escape.
    deltas: list[str | None] = field(default_factory=lambda: list(DELTAS))
    delta_interval: float = 0.0  # seconds between two deltas
    first_byte_delay: float = 0.0  # seconds before the response headers
    first_event_delay: float = 0.0  # seconds between the headers and the first event
    served_model: str | None = None  # `response.model`; None: the request's model, as received
    usage: bool = True  # False: `"usage": null`, as Llama Stack sends it when its upstream reported none
    # After the deltas: the done events and response.completed; an `error` event, then response.failed;
    # response.incomplete (max_output_tokens); an `error` event alone; or nothing (the body just ends).
    ending: Literal["completed", "failed", "incomplete", "error", "eof"] = "completed"
    error: dict = field(default_factory=lambda: dict(CRASH))  # the `error` event's error
    cut_after: int | None = None  # reset the connection after this many deltas
    stall_after: int | None = None  # after this many deltas send nothing, until the client leaves
    # After the last event: the zero-length chunk; a reset; or the connection held open, silent.
    close: Literal["chunk", "reset", "hold"] = "chunk"
    status: int = 200  # anything else sends `error_body` instead of a stream
    error_body: dict | bytes = field(default_factory=dict)  # a dict goes as OpenAI's JSON; bytes as they are
    extra_headers: dict[str, str] = field(default_factory=dict)
    replay: bytes | None = None  # a recorded body, sent byte for byte instead of a generated one
    replay_headers: dict[str, str] = field(default_factory=dict)  # the recorded headers, sent with it
    then: Scenario | None = None  # the scenario for the requests after this one (a retry)


def error_body(message: str, type: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


QUOTA_ERROR = error_body(  # the recorded 429 body, http429_insufficient_quota.body.json
    "You exceeded your current quota, please check your plan and billing details. For more information "
    "on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
    "insufficient_quota",
    "insufficient_quota",
)


def replay(path: Path, **fields) -> Scenario:
    """Replay NAME.sse with the headers recorded in NAME.headers beside it, if there is one."""
    headers_file, headers = path.with_suffix(".headers"), {}
    for line in headers_file.read_text().splitlines()[1:] if headers_file.exists() else []:
        name, _, value = line.partition(":")
        if name.lower() not in ("", "date", "transfer-encoding", "content-length"):
            headers[name] = value.strip()
    return Scenario(replay=path.read_bytes(), replay_headers=headers, **fields)


def read_events(body: bytes) -> list[dict]:
    """The JSON of each `data:` line of an SSE body (a recording, or what the server sent)."""
    return [json.loads(line[6:]) for line in body.decode().splitlines() if line.startswith("data: {")]


def plan_events(request: dict, scenario: Scenario) -> list[dict]:
    """Every event of one generated answer, in wire order, without sequence numbers."""
    prefix, texts = secrets.token_hex(10), [delta or "" for delta in scenario.deltas]
    item_id, model = f"msg_{prefix}{secrets.token_hex(15)}", scenario.served_model or request.get("model")
    base = {**RESPONSE, "id": f"resp_{prefix}{secrets.token_hex(15)}", "created_at": int(time.time())}
    base |= {"model": model, **{name: request.get(name) for name in ("instructions", "max_output_tokens")}}
    item = {"id": item_id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
    where = {"content_index": 0, "item_id": item_id, "output_index": 0}
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    events = [{"type": f"response.{kind}", "response": base} for kind in ("created", "in_progress")]
    if scenario.deltas or scenario.ending in ("completed", "incomplete"):  # a failure may come before any
        events.append({"type": "response.output_item.added", "item": item, "output_index": 0})
        events.append({"type": "response.content_part.added", **where, "part": part})
    for delta, text in zip(scenario.deltas, texts, strict=True):
        obfuscation = secrets.token_hex(8)[: max(16 - len(text), 1)]  # as recorded: 16 characters with it
        events.append({"type": "response.output_text.delta", **where, "delta": delta, "logprobs": []})
        events[-1]["obfuscation"] = obfuscation
    if scenario.ending == "eof":
        return events
    error = {"type": "error", "error": scenario.error}  # nested, as recorded
    if scenario.ending == "error":
        return [*events, error]
    if scenario.ending == "failed":
        reason = {key: scenario.error.get(key) for key in ("code", "message")}
        failed = {**base, "status": "failed", "error": reason}
        return [*events, error, {"type": "response.failed", "response": failed}]
    status, text, tokens = scenario.ending, "".join(texts), len(texts)
    done_part = {**part, "text": text}
    done_item = {**item, "status": status, "content": [done_part]}
    usage = {"input_tokens": 25, "input_tokens_details": {"cache_write_tokens": 0, "cached_tokens": 0}}
    usage |= {"output_tokens": tokens, "output_tokens_details": {"reasoning_tokens": 0}}
    usage["total_tokens"] = 25 + tokens
    done = {**base, "status": status, "completed_at": int(time.time()), "output": [done_item]}
    done |= {"service_tier": "default", "usage": usage if scenario.usage else None}
    if status == "incomplete":
        done["incomplete_details"] = {"reason": "max_output_tokens"}
    return [
        *events,
        {"type": "response.output_text.done", **where, "logprobs": [], "text": text},
        {"type": "response.content_part.done", **where, "part": done_part},
        {"type": "response.output_item.done", "item": done_item, "output_index": 0},
        {"type": f"response.{status}", "response": done},
    ]


def encode_event(event: dict, sequence_number: int) -> bytes:
    """OpenAI's framing: `event:`, then `data:` with compact JSON, `type` first and then sorted keys."""
    data = {"type": event["type"], **dict(sorted({**event, "sequence_number": sequence_number}.items()))}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {text}\n\n".encode(errors="backslashreplace")  # "\ud83d" too


class OpenAIServer:
    """Serves POST /v1/responses on 127.0.0.1, on a random port, from a thread with its own event loop."""

    def __init__(self, scenario: Scenario | None = None) -> None:
        self.scenario = scenario or Scenario()  # for the next request; may be reassigned between runs
        self.requests: list[dict] = []  # the JSON bodies, in arrival order ({}: none)
        self.request_headers: list[dict[str, str]] = []  # lower-cased names
        self.client_gone: list[bool] = []  # per request: the client left before the body ended
        self.delta_times: list[list[float]] = []  # per request: time.monotonic() of each delta's write
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)

    def __enter__(self) -> OpenAIServer:
        self._thread.start()
        self._ready.wait()
        return self

    def __exit__(self, *exc_info) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=5)  # asyncio.run() cancels the handlers still running

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._ready.set()
        await self._stop.wait()
        server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One request per connection: read it, log it, answer it, close."""
        number, headers = None, {}
        try:
            await reader.readline()  # the request line: POST /v1/responses, the only one the SDK sends here
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", 0)))
            scenario = self.scenario
            self.scenario, number = scenario.then or self.scenario, len(self.requests)
            self.requests.append(json.loads(body or b"{}"))
            self.request_headers.append(headers)
            self.client_gone.append(False)
            self.delta_times.append([])
            await self._answer(reader, writer, scenario, self.requests[number], self.delta_times[number])
        except ConnectionError:  # from _pause(), or a write
            if number is not None:
                self.client_gone[number] = True
        except (asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # CancelledError: the server shuts down with a client still waiting
        finally:
            writer.close()

    async def _answer(self, reader, writer, scenario: Scenario, request: dict, delta_times: list) -> None:
        await _pause(reader, scenario.first_byte_delay)
        request_id = {"x-request-id": f"req_{secrets.token_hex(16)}"}
        if scenario.status != 200:
            body = scenario.error_body  # OpenAI indents with two spaces, and adds no newline
            payload = body if isinstance(body, bytes) else json.dumps(body, indent=2).encode()
            headers = {"content-type": "application/json; charset=utf-8", "content-length": len(payload)}
            writer.write(_head(scenario.status, headers | request_id | scenario.extra_headers) + payload)
            return
        if scenario.replay is not None:
            headers = scenario.replay_headers or {"content-type": SSE}
            blocks = re.findall(rb"(?s).*?\n\n|.+", scenario.replay)  # one event each
        else:
            headers = {"content-type": SSE, "openai-version": "2020-10-01", **request_id}
            blocks = [encode_event(event, n) for n, event in enumerate(plan_events(request, scenario))]
        writer.write(_head(200, {**headers, "transfer-encoding": "chunked", **scenario.extra_headers}))
        await _pause(reader, scenario.first_event_delay)
        total, sent = sum(DELTA in block for block in blocks), 0
        for block in [*blocks, None]:  # None: past the last event
            is_delta = block is not None and DELTA in block
            if is_delta and sent:
                await _pause(reader, scenario.delta_interval)
            if (is_delta or sent == total) and sent == scenario.cut_after:
                return _reset(writer)
            if (is_delta or sent == total) and sent == scenario.stall_after:
                await _pause(reader, float("inf"))
            if block is None:
                break
            await _pause(reader, 0)
            writer.write(b"%x\r\n%s\r\n" % (len(block), block))
            await writer.drain()
            if is_delta:
                delta_times.append(time.monotonic())
                sent += 1
        if scenario.close == "reset":
            return _reset(writer)
        if scenario.close == "hold":
            await _pause(reader, float("inf"))
        writer.write(b"0\r\n\r\n")


async def _pause(reader: asyncio.StreamReader, seconds: float) -> None:
    """Wait; raise ConnectionResetError as soon as the client closes its side (inf: until it does)."""
    deadline = time.monotonic() + seconds
    while True:
        if reader.at_eof() or reader.exception():  # the client's FIN, or RST, has arrived
            raise ConnectionResetError("the client went away")
        if (left := deadline - time.monotonic()) <= 0:
            return
        await asyncio.sleep(min(left, 0.05))


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (RST), as a dropped connection reaches the client."""
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _head(status: int, headers: dict) -> bytes:
    """The status line and headers; the connection closes after each answer."""
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", *(f"{k}: {v}" for k, v in headers.items())]
    lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
