"""Helpers for stream tests: read what a client sees of an SSE answer, and fake upstreams that write
SSE bytes split exactly as a test says."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web


@dataclass
class Seen:
    """A client's view of one SSE answer."""

    status: int
    headers: dict[str, str]
    events: list[Any] = field(default_factory=list)  # parsed JSON payloads, "[DONE]" as a string
    raw: str = ""

    def text(self, choice: int = 0) -> str:
        out = []
        for e in self.events:
            if not isinstance(e, dict):
                continue
            for c in e.get("choices") or []:
                if c.get("index", 0) != choice:
                    continue
                if "text" in c:
                    out.append(c.get("text") or "")
                delta = c.get("delta") or {}
                out.append(delta.get("content") or "")
        return "".join(out)

    def tool_arguments(self, choice: int = 0, tool: int = 0) -> str:
        out = []
        for e in self.events:
            for c in (e.get("choices") or []) if isinstance(e, dict) else []:
                if c.get("index", 0) != choice:
                    continue
                for call in (c.get("delta") or {}).get("tool_calls") or []:
                    if call.get("index") == tool:
                        out.append((call.get("function") or {}).get("arguments") or "")
        return "".join(out)

    @property
    def error(self) -> dict[str, Any] | None:
        for e in self.events:
            if isinstance(e, dict) and "error" in e:
                return e["error"]  # type: ignore[no-any-return]
        return None

    @property
    def done(self) -> bool:
        return "[DONE]" in self.events


def parse_sse(raw: str) -> list[Any]:
    events: list[Any] = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip(" ") for line in block.split("\n") if line.startswith("data:")]
        if not data:
            continue
        payload = "\n".join(data)
        events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


async def stream_chat(
    session: aiohttp.ClientSession,
    url: str,
    content: str = "hi",
    *,
    headers: dict[str, str] | None = None,
    path: str = "/v1/chat/completions",
    **body: Any,
) -> Seen:
    payload: dict[str, Any] = {"model": "m", "stream": True, **body}
    if path.endswith("chat/completions"):
        payload.setdefault("messages", [{"role": "user", "content": content}])
    else:
        payload.setdefault("prompt", content)
    async with session.post(f"{url}{path}", json=payload, headers=headers or {}) as resp:
        raw = (await resp.read()).decode()
        seen = Seen(resp.status, dict(resp.headers), raw=raw)
        if resp.content_type == "text/event-stream":
            seen.events = parse_sse(raw)
        else:
            seen.events = [json.loads(raw)]
        return seen


def chunk_events(text: str, *, pieces: Sequence[str] | None = None, model: str = "m") -> bytes:
    """The SSE bytes of a chat stream that says ``text`` in the given pieces."""
    parts = list(pieces) if pieces is not None else [text[i : i + 4] for i in range(0, len(text), 4)]
    base = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": model}
    out = [
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
    ]
    out += [
        {**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in parts
    ]
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in out) + b"data: [DONE]\n\n"


def split_upstream(
    splits: Sequence[bytes] | Callable[[web.Request], Sequence[bytes]],
    *,
    delay: float = 0.0,
    headers: dict[str, str] | None = None,
) -> web.Application:
    """An upstream that writes exactly these byte pieces (or those ``splits(request)`` chooses), in
    order, as an SSE answer, yielding to the loop between writes."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **(headers or {})})
        await resp.prepare(request)
        for piece in splits(request) if callable(splits) else splits:
            await asyncio.sleep(delay)
            await resp.write(piece)
        await resp.write_eof()
        return resp

    app = web.Application()
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/messages"):
        app.router.add_post(path, handler)
    return app
