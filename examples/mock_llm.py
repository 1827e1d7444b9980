"""A small OpenAI-compatible mock LLM: /v1/chat/completions and /v1/completions, JSON and SSE.

By default it answers "You said: <last user text>". Tests and demos steer it with request headers
(the example gateway forwards ``X-Mock-*``):
- ``X-Mock-Reply``: the exact answer text (JSON-string escapes allowed, e.g. ``\\u0040``);
- ``X-Mock-Chunk``: characters per streamed chunk (default 4, about one token);
- ``X-Mock-Delay-Ms``: pause before each streamed chunk (before the whole answer when not streaming);
- ``X-Mock-Tool``: ``name:{"json": "args"}`` answers with one tool call instead of text.
It records every request body it received, and every stream a client abandoned, on ``app[RECORD]``.
"""

from __future__ import annotations

import asyncio
import json
import time
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
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _reply(request: web.Request, body: dict[str, Any]) -> str:
    forced = request.headers.get("X-Mock-Reply")
    if forced is not None:
        return str(json.loads(f'"{forced}"'))
    return f"You said: {_last_user_text(body)}"


async def _completions(request: web.Request) -> web.StreamResponse:
    record = request.app[RECORD]
    record.arrivals.append(time.monotonic())
    raw = await request.read()
    record.raw_bodies.append(raw)
    record.headers.append(dict(request.headers))
    body = json.loads(raw)
    record.bodies.append(body)
    chat = request.path.endswith("chat/completions")
    text = _reply(request, body)
    n = int(body.get("n") or 1)
    tool = request.headers.get("X-Mock-Tool")
    created = int(time.time())
    base = {
        "id": "chatcmpl-mock" if chat else "cmpl-mock",
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
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    obj = "chat.completion.chunk" if chat else "text_completion"

    async def send(choices: list[dict[str, Any]]) -> None:
        if delay:
            await asyncio.sleep(delay)
        await resp.write(
            b"data: " + json.dumps({**base, "object": obj, "choices": choices}).encode() + b"\n\n"
        )

    try:
        if chat:
            await send(
                [
                    {"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                    for i in range(n)
                ]
            )
        if tool and chat:
            name, _, args = tool.partition(":")
            await send(
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
                await send(
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
            await send([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}])
        else:
            for k in range(0, len(text), size):
                piece = text[k : k + size]
                await send(
                    [
                        {"index": i, "delta": {"content": piece}, "finish_reason": None}
                        if chat
                        else {"index": i, "text": piece, "finish_reason": None}
                        for i in range(n)
                    ]
                )
            await send(
                [
                    {"index": i, "delta": {}, "finish_reason": "stop"}
                    if chat
                    else {"index": i, "text": "", "finish_reason": "stop"}
                    for i in range(n)
                ]
            )
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


def make_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[RECORD] = Record()
    for prefix in ("", "/v1"):
        app.router.add_post(f"{prefix}/chat/completions", _completions)
        app.router.add_post(f"{prefix}/completions", _completions)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=8081)
