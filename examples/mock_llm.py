"""A small mock LLM speaking four wire formats, JSON and SSE, faithful enough for the official SDKs.

Routes (each also without the ``/v1`` prefix):
- OpenAI chat ``POST /v1/chat/completions`` and legacy ``POST /v1/completions`` (data-only SSE ending
  ``data: [DONE]``);
- OpenAI Responses ``POST /v1/responses`` (``object: "response"``; SSE with ``event:`` lines and
  ``sequence_number``, ending with ``response.completed``, no ``[DONE]``) and
  ``POST /v1/responses/input_tokens``;
- OpenAI embeddings ``POST /v1/embeddings`` (``input``: a string, strings, or token arrays; a base64
  string of little-endian float32s per embedding when ``encoding_format`` is ``"base64"``, else floats);
- Anthropic Messages ``POST /v1/messages`` (SSE with ``event:`` lines, ``message_start`` ...
  ``message_stop``) and ``POST /v1/messages/count_tokens``.

By default it answers "You said: <last user text>". Tests and demos steer it with request headers
(the example gateway forwards ``X-Mock-*``):
- ``X-Mock-Reply``: the exact answer text (JSON-string escapes allowed, e.g. ``\\u0040``);
- ``X-Mock-Chunk``: characters per streamed chunk (default 4, about one token);
- ``X-Mock-Delay-Ms``: pause before each streamed chunk (before the whole answer when not streaming);
- ``X-Mock-Tool``: ``name:{"json": "args"}`` answers with one tool call instead of text (a Responses
  ``function_call`` item, an Anthropic ``tool_use`` block whose ``input`` is the parsed object).
Embeddings and token counts are deterministic (derived from the text lengths) and ignore the headers.
It records every request body it received, and every stream a client abandoned, on ``app[RECORD]``.

Alone: ``python examples/mock_llm.py --host 127.0.0.1 --port 8081`` (those are the defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Record:
    bodies: list[Any] = field(default_factory=list)
    raw_bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() when each request arrived
    aborted: int = 0
    completed: int = 0


RECORD = web.AppKey("record", Record)


def _last_user_text(body: dict[str, Any]) -> str:
    if "prompt" in body:
        prompt = body["prompt"]
        return prompt if isinstance(prompt, str) else " ".join(map(str, prompt))
    return _user_text(body.get("messages"), None)


def _user_text(messages: Any, part_type: str | None) -> str:
    """The last user message's text: its string content, or its parts' texts (of ``part_type`` only,
    when given) joined with spaces. Items that are not messages (Responses tool items) are passed."""
    for item in reversed(messages if isinstance(messages, list) else []):
        if (
            not isinstance(item, dict)
            or item.get("role") != "user"
            or item.get("type", "message") != "message"
        ):
            continue
        content = item.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return " ".join(
                str(p.get("text", ""))
                for p in content
                if isinstance(p, dict) and (part_type is None or p.get("type") == part_type)
            )
    return ""


def _reply(request: web.Request, body: dict[str, Any]) -> str:
    return _reply_text(request, f"You said: {_last_user_text(body)}")


def _reply_text(request: web.Request, default: str) -> str:
    forced = request.headers.get("X-Mock-Reply")
    if forced is not None:
        return str(json.loads(f'"{forced}"'))
    return default


async def _receive(request: web.Request) -> tuple[Record, Any]:
    """Record the request (arrival, raw bytes, headers, parsed body) and return the parsed body."""
    record = request.app[RECORD]
    record.arrivals.append(time.monotonic())
    raw = await request.read()
    record.raw_bodies.append(raw)
    record.headers.append(dict(request.headers))
    body = json.loads(raw)
    record.bodies.append(body)
    return record, body


async def _completions(request: web.Request) -> web.StreamResponse:
    record, body = await _receive(request)
    chat = request.path.endswith("chat/completions")
    text = _reply(request, body)
    n = int(body.get("n") or 1)
    tool = request.headers.get("X-Mock-Tool")
    created = int(time.time())
    base = {
        # unique per answer, as real ids are (a guard scans ids; a constant one would look free)
        "id": f"{'chatcmpl' if chat else 'cmpl'}-mock-{len(record.bodies)}",
        "created": created,
        "model": body.get("model", "mock"),
    }
    delay = float(request.headers.get("X-Mock-Delay-Ms", "0")) / 1000
    if not body.get("stream"):
        if delay:
            await asyncio.sleep(delay)
        choices = []
        for i in range(n):
            if not chat:
                choices.append({"index": i, "text": text, "finish_reason": "stop", "logprobs": None})
            elif tool:
                name, _, args = tool.partition(":")
                choices.append(
                    {
                        "index": i,
                        "finish_reason": "tool_calls",
                        "message": {
                            "role": "assistant",
                            "content": None,
                            "tool_calls": [
                                {
                                    "id": "call_1",
                                    "type": "function",
                                    "function": {"name": name, "arguments": args},
                                }
                            ],
                        },
                    }
                )
            else:
                choices.append(
                    {"index": i, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                )
        record.completed += 1
        return web.json_response(
            {
                **base,
                "object": "chat.completion" if chat else "text_completion",
                "choices": choices,
                "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
            }
        )

    size = max(1, int(request.headers.get("X-Mock-Chunk", "4")))
    obj = "chat.completion.chunk" if chat else "text_completion"
    chunks: list[list[dict[str, Any]]] = []
    send = chunks.append
    if chat:
        send(
            [
                {"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                for i in range(n)
            ]
        )
    if tool and chat:
        name, _, args = tool.partition(":")
        send(
            [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": name, "arguments": ""},
                            }
                        ]
                    },
                    "finish_reason": None,
                }
            ]
        )
        for k in range(0, len(args), size):
            send(
                [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [{"index": 0, "function": {"arguments": args[k : k + size]}}]
                        },
                        "finish_reason": None,
                    }
                ]
            )
        send([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}])
    else:
        for k in range(0, len(text), size):
            piece = text[k : k + size]
            send(
                [
                    {"index": i, "delta": {"content": piece}, "finish_reason": None}
                    if chat
                    else {"index": i, "text": piece, "finish_reason": None}
                    for i in range(n)
                ]
            )
        send(
            [
                {"index": i, "delta": {}, "finish_reason": "stop"}
                if chat
                else {"index": i, "text": "", "finish_reason": "stop"}
                for i in range(n)
            ]
        )
    events: list[tuple[str | None, dict[str, Any]]] = [
        (None, {**base, "object": obj, "choices": c}) for c in chunks
    ]
    return await _sse(request, record, delay, events, done=True)


# -- helpers shared by the Responses, Messages and embeddings routes --------------------------------


def _steering(request: web.Request) -> tuple[float, int, tuple[str, str] | None]:
    """The delay in seconds, the characters per streamed chunk, and the forced tool (name, JSON args)."""
    delay = float(request.headers.get("X-Mock-Delay-Ms", "0")) / 1000
    size = max(1, int(request.headers.get("X-Mock-Chunk", "4")))
    tool = request.headers.get("X-Mock-Tool")
    if tool is None:
        return delay, size, None
    name, _, args = tool.partition(":")
    return delay, size, (name, args)


def _pieces(text: str, size: int) -> list[str]:
    return [text[k : k + size] for k in range(0, len(text), size)]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _count_tokens(body: dict[str, Any], keys: tuple[str, ...]) -> int:
    """About one token per 4 characters of every string under ``keys``; at least 1."""
    chars = sum(len(s) for key in keys for s in _strings(body.get(key)))
    return max(1, (chars + 3) // 4)


async def _sse(
    request: web.Request,
    record: Record,
    delay: float,
    events: list[tuple[str | None, dict[str, Any]]],
    *,
    done: bool = False,
) -> web.StreamResponse:
    """Write ``event: <name>`` (when named) + ``data: <json>`` SSE events, pausing ``delay`` before
    each one; ``done`` ends the stream with ``data: [DONE]`` (OpenAI chat and completions)."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    try:
        for name, data in events:
            if delay:
                await asyncio.sleep(delay)
            head = f"event: {name}\n" if name is not None else ""
            await resp.write(f"{head}data: ".encode() + json.dumps(data).encode() + b"\n\n")
        if done:
            await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
    except asyncio.CancelledError:
        record.aborted += 1
        raise
    except ConnectionResetError:
        record.aborted += 1  # the client (the gateway) went away: nothing more to send
        return resp
    record.completed += 1
    return resp


async def _json(record: Record, delay: float, answer: dict[str, Any]) -> web.Response:
    if delay:
        await asyncio.sleep(delay)
    record.completed += 1
    return web.json_response(answer)


# -- OpenAI Responses -------------------------------------------------------------------------------


def _responses_user_text(body: dict[str, Any]) -> str:
    source = body.get("input")
    return source if isinstance(source, str) else _user_text(source, "input_text")


def _response_object(
    body: dict[str, Any], created: int, status: str, output: list[dict[str, Any]] | None
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": "resp_mock",
        "object": "response",
        "created_at": created,
        "status": status,
        "model": body.get("model", "mock"),
        "output": output or [],
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "metadata": body.get("metadata") or {},
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "text": body.get("text") or {"format": {"type": "text"}},
    }
    if output is not None:
        obj["usage"] = {
            "input_tokens": 5,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 10,
        }
    return obj


def _message_item(text: str, status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if status == "completed" else []
    return {"id": "msg_mock", "type": "message", "role": "assistant", "status": status, "content": content}


def _function_call_item(name: str, args: str, status: str) -> dict[str, Any]:
    return {
        "id": "fc_mock",
        "type": "function_call",
        "call_id": "call_mock",
        "name": name,
        "arguments": args if status == "completed" else "",
        "status": status,
    }


def _responses_events(
    body: dict[str, Any], created: int, text: str, tool: tuple[str, str] | None, size: int
) -> list[tuple[str, dict[str, Any]]]:
    """The event sequence of one streamed answer: a message (or a function call), then completed."""
    raw: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response_object(body, created, "in_progress", None)}
    ]
    if tool is not None:
        name, args = tool
        item = _function_call_item(name, args, "completed")
        raw.append(
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": _function_call_item(name, args, "in_progress"),
            }
        )
        raw += [
            {
                "type": "response.function_call_arguments.delta",
                "item_id": "fc_mock",
                "output_index": 0,
                "delta": p,
            }
            for p in _pieces(args, size)
        ]
        raw.append(
            {
                "type": "response.function_call_arguments.done",
                "item_id": "fc_mock",
                "output_index": 0,
                "arguments": args,
            }
        )
    else:
        item = _message_item(text, "completed")
        keys = {"item_id": "msg_mock", "output_index": 0, "content_index": 0}
        raw.append(
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": _message_item(text, "in_progress"),
            }
        )
        raw.append(
            {
                "type": "response.content_part.added",
                **keys,
                "part": {"type": "output_text", "text": "", "annotations": []},
            }
        )
        raw += [
            {"type": "response.output_text.delta", **keys, "delta": p, "logprobs": []}
            for p in _pieces(text, size)
        ]
        raw.append({"type": "response.output_text.done", **keys, "text": text, "logprobs": []})
        raw.append(
            {
                "type": "response.content_part.done",
                **keys,
                "part": {"type": "output_text", "text": text, "annotations": []},
            }
        )
    raw.append({"type": "response.output_item.done", "output_index": 0, "item": item})
    raw.append(
        {"type": "response.completed", "response": _response_object(body, created, "completed", [item])}
    )
    return [(e["type"], {"type": e["type"], "sequence_number": n, **e}) for n, e in enumerate(raw)]


async def _responses(request: web.Request) -> web.StreamResponse:
    record, body = await _receive(request)
    delay, size, tool = _steering(request)
    text = _reply_text(request, f"You said: {_responses_user_text(body)}")
    created = int(time.time())
    if body.get("stream"):
        return await _sse(request, record, delay, _responses_events(body, created, text, tool, size))
    item = _message_item(text, "completed") if tool is None else _function_call_item(*tool, "completed")
    return await _json(record, delay, _response_object(body, created, "completed", [item]))


async def _responses_input_tokens(request: web.Request) -> web.StreamResponse:
    record, body = await _receive(request)
    tokens = _count_tokens(body, ("input", "instructions", "tools"))
    return await _json(record, 0.0, {"object": "response.input_tokens", "input_tokens": tokens})


# -- Anthropic Messages -----------------------------------------------------------------------------


def _anthropic_user_text(body: dict[str, Any]) -> str:
    return _user_text(body.get("messages"), "text")


def _anthropic_message(
    body: dict[str, Any], content: list[dict[str, Any]], stop_reason: str | None, output_tokens: int
) -> dict[str, Any]:
    return {
        "id": "msg_mock",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "mock"),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": output_tokens},
    }


def _messages_events(
    body: dict[str, Any], text: str, tool: tuple[str, str] | None, size: int
) -> list[tuple[str, dict[str, Any]]]:
    """The event sequence of one streamed answer: one text (or tool_use) block at index 0."""
    raw: list[dict[str, Any]] = [{"type": "message_start", "message": _anthropic_message(body, [], None, 1)}]
    if tool is not None:
        name, args = tool
        block = {"type": "tool_use", "id": "toolu_mock", "name": name, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in _pieces(args, size)]
        stop_reason = "tool_use"
    else:
        block = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in _pieces(text, size)]
        stop_reason = "end_turn"
    raw.append({"type": "content_block_start", "index": 0, "content_block": block})
    raw.append({"type": "ping"})
    raw += [{"type": "content_block_delta", "index": 0, "delta": d} for d in deltas]
    raw.append({"type": "content_block_stop", "index": 0})
    raw.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": 5},
        }
    )
    raw.append({"type": "message_stop"})
    return [(e["type"], e) for e in raw]


async def _messages(request: web.Request) -> web.StreamResponse:
    record, body = await _receive(request)
    delay, size, tool = _steering(request)
    text = _reply_text(request, f"You said: {_anthropic_user_text(body)}")
    if body.get("stream"):
        return await _sse(request, record, delay, _messages_events(body, text, tool, size))
    if tool is not None:
        name, args = tool
        block = {"type": "tool_use", "id": "toolu_mock", "name": name, "input": json.loads(args)}
        answer = _anthropic_message(body, [block], "tool_use", 5)
    else:
        answer = _anthropic_message(body, [{"type": "text", "text": text}], "end_turn", 5)
    return await _json(record, delay, answer)


async def _messages_count_tokens(request: web.Request) -> web.StreamResponse:
    record, body = await _receive(request)
    return await _json(record, 0.0, {"input_tokens": _count_tokens(body, ("system", "messages", "tools"))})


# -- OpenAI embeddings ------------------------------------------------------------------------------


def _embedding_inputs(source: Any) -> list[str | list[int]]:
    """A string, a list of strings, one token array, or a list of token arrays (not judged)."""
    if isinstance(source, list) and source and all(isinstance(t, int) for t in source):
        return [source]
    if isinstance(source, list):
        return list(source)
    return [source]


def _vector(item: Any, dimensions: int) -> list[float]:
    # Multiples of 1/16 are exact in float32, so the base64 and the float forms decode to the same list.
    base = len(item) if isinstance(item, str | list) else 0
    return [((base + k) % 17) / 16 for k in range(dimensions)]


async def _embeddings(request: web.Request) -> web.StreamResponse:
    record, body = await _receive(request)
    inputs = _embedding_inputs(body.get("input"))
    dimensions = int(body.get("dimensions") or 8)
    data = []
    for i, item in enumerate(inputs):
        vector = _vector(item, dimensions)
        embedding: str | list[float] = vector
        if body.get("encoding_format") == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    tokens = sum(len(t) if isinstance(t, list) else max(1, (len(str(t)) + 3) // 4) for t in inputs)
    answer = {
        "object": "list",
        "data": data,
        "model": body.get("model", "mock"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return await _json(record, 0.0, answer)


def make_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[RECORD] = Record()
    for prefix in ("", "/v1"):
        app.router.add_post(f"{prefix}/chat/completions", _completions)
        app.router.add_post(f"{prefix}/completions", _completions)
        app.router.add_post(f"{prefix}/responses", _responses)
        app.router.add_post(f"{prefix}/responses/input_tokens", _responses_input_tokens)
        app.router.add_post(f"{prefix}/messages", _messages)
        app.router.add_post(f"{prefix}/messages/count_tokens", _messages_count_tokens)
        app.router.add_post(f"{prefix}/embeddings", _embeddings)
    return app


def main(argv: list[str] | None = None) -> None:
    """``python examples/mock_llm.py [--host H] [--port P]``: the mock alone, as an upstream for any
    gateway (the demo gateway starts its own on ``--mock-port``)."""
    parser = argparse.ArgumentParser(description="A mock LLM speaking the OpenAI and Anthropic formats.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    web.run_app(make_app(), host=args.host, port=args.port, print=lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
