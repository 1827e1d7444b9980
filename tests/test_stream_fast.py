"""The engine's fast path for streams (``_engine.StreamScanner``) against the Python stream guard.

Two gateways run side by side in front of the same upstream: one with the fast path, one with it
switched off. Every case streams the same bytes, split the same way, to both, and the client must see
the same events: the same text released at the same event, the same redactions and blocks, the same
events dropped. The cases are generated from a fixed seed: chat and completions streams, text with
e-mail addresses, phone numbers and blocked words that straddle events, quotes, backslashes, newlines
and non-ASCII text, envelopes that change or carry strings never seen before (some with PII in them),
events of other shapes in between, long runs that force the window to release, and network splits
that cut events anywhere.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from examples.gateway import make_gateway
from guard_middleware import GuardMiddleware, GuardSettings
from guard_middleware.stream_guard import StreamGuard
from tests.conftest import serve
from tests.streams import Seen, parse_sse, split_upstream

BLOCKED = "forbidden"
POLICY: dict[str, Any] = {
    "output": {
        "providers": [{"type": "blocklist", "patterns": [{"pattern": BLOCKED}]}],
        "max_holdback_chars": 64,
    },
    "pii": {"action": "redact", "apply_to": "output", "replacement": "[PII]"},
}
WORDS = [
    "the", "plan", "is", "fine", "and", "we", "ship", "today", "forbid", "den", "for", "bidden",
    "jane.doe@example.com", "mail", "at", "415-555-0132", "call", "+1", "555", "0132", "café", "naïve",
    "日本語", "emoji 😀", 'a "quote"', "back\\slash", "new\nline", "tab\tstop", "x" * 70, BLOCKED,
]  # fmt: skip


def _text(rnd: random.Random) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 40)))


def _pieces(rnd: random.Random, text: str) -> Iterator[str]:
    i = 0
    while i < len(text):
        n = rnd.randint(1, 8)
        yield text[i : i + n]
        i += n


def _envelope(rnd: random.Random, chat: bool) -> dict[str, Any]:
    env: dict[str, Any] = {
        "id": "chatcmpl-1" if chat else "cmpl-1",
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": 1,
        "model": "m",
    }
    roll = rnd.random()
    if roll < 0.1:
        env["obfuscation"] = rnd.choice(["abc123", "jane.doe@example.com", BLOCKED, "Zq9x"])
    elif roll < 0.15:
        env["model"] = rnd.choice(["m2", "call 415-555-0132"])
    elif roll < 0.2:
        env["usage"] = None
    elif roll < 0.25:
        env["system_fingerprint"] = "fp_1"
    return env


def _choice(chat: bool, text: str, rnd: random.Random) -> dict[str, Any]:
    if not chat:
        return {"text": text, "index": 0, "logprobs": None, "finish_reason": None}
    delta: dict[str, Any] = {"content": text}
    if rnd.random() < 0.05:
        delta = {"role": "assistant", "content": text}
    choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": None}
    if rnd.random() < 0.5:
        choice["logprobs"] = None
    return choice


def _stream(rnd: random.Random, chat: bool) -> bytes:
    events: list[Any] = []
    if chat:
        first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        events.append({**_envelope(random.Random(0), chat), "choices": [first]})
    for piece in _pieces(rnd, _text(rnd)):
        events.append({**_envelope(rnd, chat), "choices": [_choice(chat, piece, rnd)]})
    last: dict[str, Any] = (
        {"index": 0, "delta": {}, "finish_reason": "stop"}
        if chat
        else {"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}
    )
    events.append({**_envelope(random.Random(0), chat), "choices": [last]})
    separators = None if rnd.random() < 0.5 else (",", ":")
    ascii_only = rnd.random() < 0.3
    out = b"".join(
        b"data: " + json.dumps(e, separators=separators, ensure_ascii=ascii_only).encode() + b"\n\n"
        for e in events
    )
    return out + b"data: [DONE]\n\n"


def _anthropic_stream(rnd: random.Random) -> bytes:
    def event(name: str, obj: dict[str, Any], spaced: bool = True) -> bytes:
        head = f"event: {name}\n" if spaced else f"event:{name}\n"
        return (head + "data: " + json.dumps(obj, ensure_ascii=rnd.random() < 0.3) + "\n\n").encode()

    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [],
               "stop_reason": None, "usage": {"input_tokens": 1, "output_tokens": 1}}  # fmt: skip
    out = [event("message_start", {"type": "message_start", "message": message})]
    blocks = 2 if rnd.random() < 0.3 else 1
    for index in range(blocks):
        kind = "thinking" if index == 0 and blocks == 2 and rnd.random() < 0.5 else "text"
        start = {"type": "content_block_start", "index": index, "content_block": {"type": kind, kind: ""}}
        out.append(event("content_block_start", start))
        for piece in _pieces(rnd, _text(rnd)):
            if rnd.random() < 0.05:
                out.append(event("ping", {"type": "ping"}))
            delta = {"type": f"{kind}_delta", kind: piece}
            obj = {"type": "content_block_delta", "index": index, "delta": delta}
            out.append(event("content_block_delta", obj, spaced=rnd.random() > 0.05))
        out.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
    stop = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}
    out.append(event("message_delta", stop))
    out.append(event("message_stop", {"type": "message_stop"}))
    return b"".join(out)


def _anthropic_text(events: list[Any]) -> str:
    return "".join(
        (e.get("delta") or {}).get("text", "") for e in events if e.get("type") == "content_block_delta"
    )


def _splits(rnd: random.Random, raw: bytes) -> list[bytes]:
    if rnd.random() < 0.3:
        return [raw]
    out, i = [], 0
    while i < len(raw):
        n = rnd.randint(1, 400)
        out.append(raw[i : i + n])
        i += n
    return out


PLANS: dict[str, list[bytes]] = {}


def _upstream() -> web.Application:
    return split_upstream(lambda request: PLANS[request.headers["X-Mock-Plan"]])


@contextlib.asynccontextmanager
async def _gateways(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[str, str, list[int]]]:
    """(url with the fast path, url without it, how many fast-path scanners were used)."""
    slow = GuardMiddleware(GuardSettings.load(**POLICY))
    fast = GuardMiddleware(GuardSettings.load(**POLICY))
    used = [0]
    original = StreamGuard._fast_scanner

    def choose(self: StreamGuard) -> Any:
        if self.x.guard is slow:
            return None
        scanner = original(self)
        used[0] += scanner is not None
        return scanner

    monkeypatch.setattr(StreamGuard, "_fast_scanner", choose)
    async with (
        serve(_upstream()) as upstream,
        serve(make_gateway(upstream, guard=fast)) as fast_url,
        serve(make_gateway(upstream, guard=slow)) as slow_url,
    ):
        yield fast_url, slow_url, used


async def _seen(session: aiohttp.ClientSession, url: str, plan: str, kind: str) -> Seen:
    path = {"chat": "/v1/chat/completions", "completions": "/v1/completions", "anthropic": "/v1/messages"}
    body: dict[str, Any] = {"model": "m", "stream": True}
    if kind == "completions":
        body["prompt"] = "hi"
    else:
        body["messages"] = [{"role": "user", "content": "hi"}]
        body["max_tokens"] = 10
    async with session.post(f"{url}{path[kind]}", json=body, headers={"X-Mock-Plan": plan}) as resp:
        raw = (await resp.read()).decode()
        return Seen(resp.status, dict(resp.headers), parse_sse(raw), raw)


async def test_the_fast_path_sends_what_the_python_path_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(20261204)
    settled = _count_settled(monkeypatch)
    async with _gateways(monkeypatch) as (fast_url, slow_url, used), aiohttp.ClientSession() as session:
        for case in range(400):
            kind = rnd.choice(["chat", "chat", "completions", "anthropic"])
            raw = _anthropic_stream(rnd) if kind == "anthropic" else _stream(rnd, kind == "chat")
            PLANS[str(case)] = _splits(rnd, raw)
            fast = await _seen(session, fast_url, str(case), kind)
            slow = await _seen(session, slow_url, str(case), kind)
            assert fast.status == slow.status == 200
            assert fast.events == slow.events, (case, raw)
            text = _anthropic_text(fast.events) if kind == "anthropic" else fast.text()
            assert "jane.doe@example.com" not in text and "415-555-0132" not in text
    assert used[0] == 400
    total = sum(len(b"".join(p)) for k, p in PLANS.items() if k.isdigit())
    assert sum(settled) > total / 4  # the engine settled a good share of what was compared (~40%)


def _count_settled(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes of upstream events the engine settled, per call."""
    settled: list[int] = []
    original = StreamGuard._fast_events

    def count(self: StreamGuard, data: bytes) -> tuple[bytes, bytes]:
        out, rest = original(self, data)
        settled.append(len(data) - len(rest))
        return out, rest

    monkeypatch.setattr(StreamGuard, "_fast_events", count)
    return settled


TEXT_DELTAS = [("we ship the plan today, as agreed " * 20)[i : i + 4] for i in range(0, 680, 4)]


def _plain(kind: str) -> list[bytes]:
    """A clean stream: the opening events, one event per 4 characters, the closing events."""
    if kind == "chat":

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            obj = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        head = [chunk({"role": "assistant", "content": ""})]
        return [*head, *(chunk({"content": p}) for p in TEXT_DELTAS), chunk({}, "stop"), b"data: [DONE]\n\n"]

    def event(name: str, obj: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode()

    head = [
        event("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message",
              "role": "assistant", "model": "m", "content": [], "stop_reason": None}}),
        event("content_block_start", {"type": "content_block_start", "index": 0,
              "content_block": {"type": "text", "text": ""}}),
    ]  # fmt: skip
    deltas = [
        event("content_block_delta", {"type": "content_block_delta", "index": 0,
              "delta": {"type": "text_delta", "text": p}})
        for p in TEXT_DELTAS
    ]  # fmt: skip
    tail = [
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        event("message_stop", {"type": "message_stop"}),
    ]
    return [*head, *deltas, *tail]


@pytest.mark.parametrize("kind", ["chat", "anthropic"])
async def test_the_fast_path_carries_most_events(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    # Proof that the comparison above compares something: on a clean stream the engine settles the
    # text events after the opening ones (events where a check finds something go to the Python path).
    calls = _count_settled(monkeypatch)
    PLANS["plain-" + kind] = raw = _plain(kind)
    async with _gateways(monkeypatch) as (fast_url, _slow, _used), aiohttp.ClientSession() as session:
        seen = await _seen(session, fast_url, "plain-" + kind, kind)
    text = _anthropic_text(seen.events) if kind == "anthropic" else seen.text()
    assert text == "".join(TEXT_DELTAS)
    deltas = sum(len(r) for r in raw if b'"text_delta"' in r or b'{"content": ' in r)
    assert sum(calls) > 0.9 * deltas


ROLE = (
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
)
FINISH = b'data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
DONE = b"data: [DONE]\n\n"
HUGE = 18446744073709551616
SSE_LIMIT = 1 << 20  # sse.DEFAULT_MAX_EVENT_SIZE: a payload of exactly this, in a line 6 bytes longer


def _chunk(content: str, index: int = 0, **envelope: Any) -> bytes:
    choice = {"index": index, "delta": {"content": content}}
    return b"data: " + json.dumps({**envelope, "choices": [choice]}).encode() + b"\n\n"


@pytest.mark.parametrize(
    "name,pieces",
    [
        # a held tail sent at the end takes its envelope from the last chunk, settled by the engine
        ("template", [ROLE, _chunk("ok for", id="c2", model="m2") + DONE]),
        # a chunk with usage is kept even when all its text is held
        ("usage", [ROLE + _chunk("ok for") + _chunk("bi", usage=1) + FINISH + DONE]),
        # the SSE limit counts the whole line
        ("size", [ROLE + _chunk("a" * (SSE_LIMIT - len(_chunk("")) + 8)) + FINISH + DONE]),
        # a number beyond the double range: the stream ends (it would be re-sent as Infinity)
        ("infinity", [ROLE + _chunk("ok for").replace(b"{", b'{"created":1e999,', 1) + FINISH + DONE]),
        # an unreadable event: nothing of the write it came in is sent
        ("sse error", [ROLE, _chunk("hello there ") + b'data: {"x":"\xff"}\n\n']),
        # a choice index beyond 64 bits
        ("huge index", [ROLE.replace(b'"index":0', b'"index":%d' % HUGE), _chunk("hello", HUGE) + DONE]),
    ],
)
async def test_red_team_cases_match_the_python_path(
    monkeypatch: pytest.MonkeyPatch, name: str, pieces: list[bytes]
) -> None:
    PLANS[name] = pieces
    async with _gateways(monkeypatch) as (fast_url, slow_url, _used), aiohttp.ClientSession() as session:
        fast = await _seen(session, fast_url, name, "chat")
        slow = await _seen(session, slow_url, name, "chat")
    assert fast.status == slow.status and fast.events == slow.events
    if name == "template":
        assert [e["id"] for e in fast.events[1:-1]] == ["c2", "c2"]
    if name in ("infinity", "sse error", "size"):
        assert fast.error is not None and "Infinity" not in fast.raw
