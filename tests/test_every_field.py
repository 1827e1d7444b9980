"""Every field is text until proven otherwise: black-box probes for the places text leaks past the guard.

Each test talks HTTP to the real stack (client -> example gateway with the guard -> an upstream on
127.0.0.1) and asserts only what the client and the upstream see. Most use a small upstream defined
here (:class:`Upstream`) that records the raw path and body it received and answers exactly what the
test needs; the stream-context tests use the built-in mock LLM (``X-Mock-Reply``/``X-Mock-Chunk``).

The contract probed (one section per point):

1. route paths with dot segments (plain or percent-encoded) are guarded like the path they resolve to;
2. a ``type`` key never makes the walker skip text (only base64 media payloads may go unscanned);
3. logprobs of a JSON answer never spell text the guard removed (chat and legacy completions);
4. tool-call arguments: every key and value is text, whatever the key is called (requests and answers);
5. structured output: JSON escapes inside a JSON ``content`` string do not hide PII;
6. no stream event is forwarded unread (upstream error events, chunks without choices, unknown keys);
7. non-2xx upstream answers are guarded too (status kept, PII redacted, blocked words refused);
8. ``role`` must be a known role; other free strings (``tool_call_id``, ``model``) and the property
   names of JSON schemas are scanned;
9. text split over several parts of one message is checked joined;
10. an unpaired surrogate escape is refused even when nothing is rewritten;
11. remote providers in ``per_chunk``/``buffered`` streams see context, and the whole answer at the end;
12. text held back in a stream does not produce empty events.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from tests.fakes import FakeService, received
from tests.streams import Seen, chunk_events, parse_sse, split_upstream, stream_chat

EMAIL = "jane.doe@example.com"
PHONE = "415-555-0132"
WORD = "competitor-name"

BLOCKLIST: dict[str, Any] = {
    "type": "blocklist",
    "patterns": [{"pattern": WORD, "category": "blocked_content", "message": "No competitors"}],
}
PII: dict[str, Any] = {"pii": {"action": "redact", "apply_to": "both", "replacement": "[PII]"}}
POLICY: dict[str, Any] = {
    "input": {"providers": [BLOCKLIST]},
    "output": {"providers": [BLOCKLIST], "streaming_mode": "per_chunk"},
    **PII,
}
CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"


# --- a recording upstream ----------------------------------------------------------------------

Responder = Callable[[web.Request, bytes], Awaitable[web.StreamResponse]]


def chat_answer(message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-up",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": message, **extra}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def json_answer(body: Any, status: int = 200) -> Responder:
    async def respond(request: web.Request, raw: bytes) -> web.StreamResponse:
        return web.json_response(body, status=status)

    return respond


def raw_answer(body: bytes, *, status: int, content_type: str) -> Responder:
    async def respond(request: web.Request, raw: bytes) -> web.StreamResponse:
        return web.Response(body=body, status=status, headers={"Content-Type": content_type})

    return respond


def sse_answer(body: bytes, *, status: int = 200) -> Responder:
    async def respond(request: web.Request, raw: bytes) -> web.StreamResponse:
        resp = web.StreamResponse(status=status, headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(body)
        await resp.write_eof()
        return resp

    return respond


OK_ANSWER = json_answer(chat_answer({"role": "assistant", "content": "ok"}))


class Upstream:
    """Answers every path and method with ``respond``; records the raw path and body of each request."""

    def __init__(self, respond: Responder = OK_ANSWER) -> None:
        self.respond = respond
        self.paths: list[str] = []
        self.bodies: list[bytes] = []

    def app(self) -> web.Application:
        async def handler(request: web.Request) -> web.StreamResponse:
            raw = await request.read()
            self.paths.append(request.raw_path)
            self.bodies.append(raw)
            return await self.respond(request, raw)

        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", handler)
        return app

    def json(self, i: int = -1) -> Any:
        return json.loads(self.bodies[i])


# --- what a reader can find in a body ----------------------------------------------------------


def strings(node: Any) -> Iterator[str]:
    """Every string a reader can get out of ``node``: values, object keys, and (recursively) the
    contents of strings that are themselves JSON documents (tool arguments, structured output)."""
    if isinstance(node, str):
        yield node
        stripped = node.strip()
        if stripped[:1] in ("{", "[", '"'):
            try:
                inner = json.loads(stripped)
            except ValueError:
                return
            if inner != node:
                yield from strings(inner)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def _documents(text: str) -> Iterator[Any]:
    try:
        yield json.loads(text)
        return
    except ValueError:
        pass
    for line in text.splitlines():  # an SSE body: every data line that is JSON
        if line.startswith("data:"):
            try:
                yield json.loads(line[5:])
            except ValueError:
                continue


def leaks(raw: bytes | str, needle: str) -> bool:
    """True when ``needle`` can be read out of ``raw`` (as bytes, or through any JSON decoding)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if needle.lower() in text.lower():
        return True
    return any(needle.lower() in s.lower() for doc in _documents(text) for s in strings(doc))


# --- talking to the stack ----------------------------------------------------------------------


async def post(
    s: Any, payload: Any = None, *, raw: bytes | None = None, path: str = CHAT
) -> tuple[int, bytes, str]:
    data = raw if raw is not None else json.dumps(payload).encode()
    async with s.session.post(
        f"{s.url}{path}", data=data, headers={"Content-Type": "application/json"}
    ) as resp:
        return resp.status, await resp.read(), resp.content_type


async def raw_http_post(base_url: str, target: str, body: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 request with ``target`` sent byte for byte (no client-side URL normalisation)."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    status_line, _, rest = response.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def user(content: Any, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": content, **extra}]}


def assert_blocked(status: int, body: bytes, up: Upstream) -> None:
    assert status == 400, body
    assert json.loads(body)["error"]["code"] == "content_filter", body
    assert up.bodies == [], "a blocked request reached the upstream"


def assert_upstream_never_saw(up: Upstream, needle: str) -> None:
    for raw in up.bodies:
        assert not leaks(raw, needle), raw


# === 1. route paths with dot segments ===========================================================

DOT_PATHS = [
    "/v1/./chat/completions",
    "/v1/x/../chat/completions",
    "/v1/%2e/chat/completions",
    "/v1/x/%2E%2E/chat/completions",
]


@pytest.mark.parametrize("target", DOT_PATHS)
async def test_dot_segment_route_is_guarded_like_the_path_it_resolves_to(
    make_stack: Any, target: str
) -> None:
    up = Upstream()
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        body = json.dumps(user(f"tell me about {WORD}")).encode()
        status, answer = await raw_http_post(s.url, target, body)
        assert 400 <= status < 500, (status, answer, up.paths)
        assert up.bodies == [], f"forwarded unchecked to {up.paths}"


# === 2. a `type` key never makes the walker skip text ============================================


@pytest.mark.parametrize("message_type", ["file", "image_url"])
async def test_message_object_with_a_media_type_key_is_still_scanned(
    make_stack: Any, message_type: str
) -> None:
    up = Upstream()
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, user(WORD, type=message_type))
        assert_blocked(status, body, up)


async def test_file_part_filename_is_scanned(make_stack: Any) -> None:
    up = Upstream()
    pdf = base64.b64encode(b"%PDF-1.4 harmless bytes").decode()
    part = {"type": "file", "file": {"filename": f"{WORD}.pdf", "file_data": pdf}}
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, user([{"type": "text", "text": "read this"}, part]))
        assert_blocked(status, body, up)


async def test_text_key_beside_an_image_part_is_redacted(make_stack: Any) -> None:
    up = Upstream()
    part = {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
        "text": f"this is {EMAIL}",
    }
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, user([part]))
        assert status in (200, 400), body
        assert_upstream_never_saw(up, EMAIL)


# === 3. logprobs of JSON answers never spell removed text ========================================

TOKENS = ["mail", " jane", ".", "doe", "@", "example", ".com"]


def _chat_logprob(token: str) -> dict[str, Any]:
    alternatives = [{"token": token, "logprob": -0.1, "bytes": list(token.encode())}]
    if token == " jane":
        alternatives.append({"token": f" {EMAIL}", "logprob": -3.0, "bytes": list(f" {EMAIL}".encode())})
    return {"token": token, "logprob": -0.1, "bytes": list(token.encode()), "top_logprobs": alternatives}


def _spellings(entries: list[dict[str, Any]]) -> list[str]:
    """What a client can rebuild from one logprobs list: the tokens, the bytes, and every column of
    alternatives (first choice at each position, second choice, ...)."""
    out = ["".join(e.get("token", "") for e in entries)]
    out.append(b"".join(bytes(e.get("bytes") or []) for e in entries).decode("utf-8", "replace"))
    for column in range(max((len(e.get("top_logprobs") or []) for e in entries), default=0)):
        alts = [(e.get("top_logprobs") or [])[column : column + 1] for e in entries]
        out.append("".join(a[0].get("token", "") if a else "" for a in alts))
        out.append(
            b"".join(bytes(a[0].get("bytes") or []) if a else b"" for a in alts).decode("utf-8", "replace")
        )
    return out


async def test_chat_answer_logprobs_do_not_spell_a_redacted_address(make_stack: Any) -> None:
    answer = chat_answer(
        {"role": "assistant", "content": "".join(TOKENS)},
        logprobs={"content": [_chat_logprob(t) for t in TOKENS], "refusal": None},
    )
    up = Upstream(json_answer(answer))
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, user("hi"))
        assert status == 200, body
        assert not leaks(body, EMAIL)
        choice = json.loads(body)["choices"][0]
        entries = (choice.get("logprobs") or {}).get("content") or []
        for spelled in _spellings(entries):
            assert EMAIL not in spelled, spelled


async def test_legacy_completion_logprobs_do_not_spell_a_redacted_address(make_stack: Any) -> None:
    top: list[dict[str, float]] = [{t: -0.1} for t in TOKENS]
    top[1][f" {EMAIL}"] = -3.0  # an alternative that is the whole address, in a KEY
    answer = {
        "id": "cmpl-up",
        "object": "text_completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "text": "".join(TOKENS),
                "finish_reason": "stop",
                "logprobs": {
                    "tokens": TOKENS,
                    "token_logprobs": [-0.1] * len(TOKENS),
                    "top_logprobs": top,
                    "text_offset": [0, 4, 9, 10, 13, 14, 21],
                },
            }
        ],
    }
    up = Upstream(json_answer(answer))
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, {"model": "m", "prompt": "hi"}, path=COMPLETIONS)
        assert status == 200, body
        assert not leaks(body, EMAIL)
        logprobs = json.loads(body)["choices"][0].get("logprobs") or {}
        assert EMAIL not in "".join(logprobs.get("tokens") or [])
        columns = [list(d) for d in logprobs.get("top_logprobs") or [] if isinstance(d, dict)]
        assert EMAIL not in "".join(keys[0] for keys in columns if keys)


# === 4. tool-call arguments: every key and value is text ==========================================


def _assistant_call(arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup", "arguments": json.dumps(arguments)},
            }
        ],
    }


def _with_call(arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": "m",
        "messages": [
            {"role": "user", "content": "look it up"},
            _assistant_call(arguments),
            {"role": "tool", "tool_call_id": "call_1", "content": "done"},
        ],
    }


BLOCKING_ARGUMENTS = {
    "type_value": {"id": EMAIL, "type": WORD},
    "media_object": {"attachment": {"type": "file", "data": WORD}},
}


@pytest.mark.parametrize("arguments", list(BLOCKING_ARGUMENTS.values()), ids=list(BLOCKING_ARGUMENTS))
async def test_request_tool_arguments_under_structural_looking_keys_are_blocked(
    make_stack: Any, arguments: dict[str, Any]
) -> None:
    up = Upstream()
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, _with_call(arguments))
        assert_blocked(status, body, up)


async def test_request_tool_argument_named_model_is_redacted(make_stack: Any) -> None:
    up = Upstream()
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, _with_call({"model": EMAIL}))
        assert status == 200, body
        assert_upstream_never_saw(up, EMAIL)
        sent = up.json()["messages"][1]["tool_calls"][0]["function"]["arguments"]
        assert set(json.loads(sent)) == {"model"}  # still valid JSON with the same key


def _tool_stream(arguments: str) -> bytes:
    base = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "m"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        event = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + json.dumps(event).encode() + b"\n\n"

    first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": ""}}
    out = chunk({"role": "assistant", "content": None, "tool_calls": [first]})
    for i in range(0, len(arguments), 5):
        out += chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[i : i + 5]}}]})
    return out + chunk({}, "tool_calls") + b"data: [DONE]\n\n"


def _answer_responder(arguments: dict[str, Any], stream: bool) -> Responder:
    if stream:
        return sse_answer(_tool_stream(json.dumps(arguments)))
    return json_answer(chat_answer(_assistant_call(arguments), finish_reason="tool_calls"))


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("arguments", list(BLOCKING_ARGUMENTS.values()), ids=list(BLOCKING_ARGUMENTS))
async def test_answer_tool_arguments_under_structural_looking_keys_are_blocked(
    make_stack: Any, arguments: dict[str, Any], stream: bool
) -> None:
    up = Upstream(_answer_responder(arguments, stream))
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, {**user("hi"), "stream": stream})
        assert not leaks(body, WORD), body
        if stream:
            assert any(isinstance(e, dict) and "error" in e for e in parse_sse(body.decode())), body
        else:
            assert status == 400 and json.loads(body)["error"]["code"] == "content_filter", body


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_answer_tool_argument_named_model_is_redacted(make_stack: Any, stream: bool) -> None:
    up = Upstream(_answer_responder({"model": EMAIL}, stream))
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, {**user("hi"), "stream": stream})
        assert status == 200, body
        assert not leaks(body, EMAIL), body


# === 5. structured output ==========================================================================


async def test_json_escaped_address_inside_structured_output_is_redacted(make_stack: Any) -> None:
    # The content string itself holds the six characters \u0040: only json.loads(content) makes an "@".
    content = '{"name": "Jane", "email": "jane.doe\\u0040example.com"}'
    assert EMAIL not in content and json.loads(content)["email"] == EMAIL
    up = Upstream(json_answer(chat_answer({"role": "assistant", "content": content})))
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "email": {"type": "string"}}}
    request = {
        **user("who is it?"),
        "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    }
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, request)
        assert status == 200, body
        got = json.loads(body)["choices"][0]["message"]["content"]
        assert EMAIL not in json.dumps(json.loads(got), ensure_ascii=False)


# === 6. stream parts are never forwarded unread ======================================================

_CHUNK = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "m"}
_USAGE = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
INJECTED: dict[str, tuple[dict[str, Any], str]] = {
    "upstream_error_event": (
        {"error": {"message": f"{EMAIL} is not allowed", "type": "invalid_request_error", "code": None}},
        EMAIL,
    ),
    "chunk_without_choices": ({**_CHUNK, "note": WORD}, WORD),
    "usage_chunk_extra_top_level_key": ({**_CHUNK, "choices": [], "usage": _USAGE, "note": EMAIL}, EMAIL),
    "usage_chunk_extra_usage_key": ({**_CHUNK, "choices": [], "usage": {**_USAGE, "note": EMAIL}}, EMAIL),
    "unknown_top_level_key": (
        {
            **_CHUNK,
            "choices": [{"index": 0, "delta": {"content": "more "}, "finish_reason": None}],
            "x_vendor_note": EMAIL,
        },
        EMAIL,
    ),
    "unknown_choice_level_key": (
        {
            **_CHUNK,
            "choices": [{"index": 0, "delta": {"content": "more "}, "finish_reason": None, "x_note": EMAIL}],
        },
        EMAIL,
    ),
}


@pytest.mark.parametrize("event", list(INJECTED.values()), ids=list(INJECTED))
async def test_every_stream_event_is_read_before_it_is_forwarded(
    make_stack: Any, event: tuple[dict[str, Any], str]
) -> None:
    payload, needle = event
    normal = chunk_events("", pieces=["hello ", "world"])
    cut = normal.index(b"\n\n", normal.index(b"\n\n") + 2) + 2  # after the role chunk and "hello "
    body = normal[:cut] + b"data: " + json.dumps(payload).encode() + b"\n\n" + normal[cut:]
    async with make_stack(POLICY, upstream_app=split_upstream([body])) as s:
        seen = await stream_chat(s.session, s.url)
        assert seen.status == 200
        assert not leaks(seen.raw, needle), seen.raw


async def test_events_the_guard_makes_are_checked_like_the_upstreams(make_stack: Any) -> None:
    """A held tool call is sent as an extra chunk shaped like the upstream's: its copied top-level
    fields (here a model name holding an address) are checked like any event's."""
    top = {**_CHUNK, "model": f"m-{EMAIL}"}
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"q":'}}
    chunks = [
        {**top, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [call]}}]},
        {
            **top,
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '"x"}'}}]}}
            ],
        },
        {**top, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    up = Upstream(sse_answer(body))
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, out, _ = await post(s, {**user("hi"), "stream": True})
        assert status == 200
        assert not leaks(out, EMAIL), out
        calls = [
            c["choices"][0]["delta"]["tool_calls"][0]
            for c in (
                json.loads(line[5:]) for line in out.decode().splitlines() if line.startswith("data: {")
            )
            if c["choices"] and c["choices"][0]["delta"].get("tool_calls")
        ]
        assert "".join(c.get("function", {}).get("arguments", "") for c in calls) == '{"q":"x"}'


# === 7. non-2xx upstream answers carrying text ======================================================


NON_2XX_PII: dict[str, tuple[Responder, int]] = {
    "json_400": (json_answer({"error": {"message": f"Prompt contains {EMAIL}"}}, status=400), 400),
    "text_500": (
        raw_answer(f"internal error while mailing {EMAIL}".encode(), status=500, content_type="text/plain"),
        500,
    ),
    "sse_429": (
        sse_answer(
            b"data: " + json.dumps({"error": {"message": f"slow down {EMAIL}"}}).encode() + b"\n\n",
            status=429,
        ),
        429,
    ),
    # the address hidden behind a JSON escape inside an SSE event: decoded per event, not read as text
    "sse_escaped_503": (
        sse_answer(
            b'event: error\ndata: {"error": {"message": "bad jane.doe\\u0040example.com"}}\n\n',
            status=503,
        ),
        503,
    ),
}


@pytest.mark.parametrize("case", list(NON_2XX_PII.values()), ids=list(NON_2XX_PII))
async def test_non_2xx_upstream_answer_keeps_its_status_and_loses_its_pii(
    make_stack: Any, case: tuple[Responder, int]
) -> None:
    respond, expected = case
    up = Upstream(respond)
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, user("hi"))
        assert status == expected, body
        assert not leaks(body, EMAIL), body


async def test_non_2xx_upstream_answer_with_a_blocked_word_is_refused(make_stack: Any) -> None:
    up = Upstream(json_answer({"error": {"message": f"Do not ask about {WORD}"}}, status=400))
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, user("hi"))
        assert status >= 400
        assert not leaks(body, WORD), body


# === 8. roles, free strings, schema keys ==============================================================


@pytest.mark.parametrize("role", [WORD, "wizard"])
async def test_unknown_role_is_refused(make_stack: Any, role: str) -> None:
    up = Upstream()
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, {"model": "m", "messages": [{"role": role, "content": "hi"}]})
        assert status == 400, body
        assert json.loads(body)["error"]["code"].startswith("invalid_"), body
        assert up.bodies == []


async def test_tool_call_id_with_pii_is_redacted(make_stack: Any) -> None:
    up = Upstream()
    request = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "look it up"},
            {"role": "tool", "tool_call_id": f"call-{EMAIL}", "content": "done"},
        ],
    }
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, request)
        assert status == 200, body
        assert_upstream_never_saw(up, EMAIL)


async def test_model_holding_a_blocked_word_is_blocked(make_stack: Any) -> None:
    up = Upstream()
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, {**user("hi"), "model": WORD})
        assert_blocked(status, body, up)


def _schema_with_property(name: str) -> dict[str, Any]:
    return {"type": "object", "properties": {name: {"type": "string"}}}


SCHEMA_PLACES: dict[str, dict[str, Any]] = {
    "tool_parameters": {
        "tools": [
            {
                "type": "function",
                "function": {"name": "lookup", "parameters": _schema_with_property(WORD)},
            }
        ]
    },
    "response_format_schema": {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": _schema_with_property(WORD)},
        }
    },
}


@pytest.mark.parametrize("extra", list(SCHEMA_PLACES.values()), ids=list(SCHEMA_PLACES))
async def test_property_names_of_json_schemas_are_scanned(make_stack: Any, extra: dict[str, Any]) -> None:
    up = Upstream()
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, {**user("hi"), **extra})
        assert_blocked(status, body, up)


# === 9. text split over parts of one message ===========================================================


async def test_blocked_word_split_over_two_text_parts_is_blocked(make_stack: Any) -> None:
    up = Upstream()
    parts = [{"type": "text", "text": "I like compet"}, {"type": "text", "text": "itor-name"}]
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, user(parts))
        assert_blocked(status, body, up)


@pytest.mark.parametrize(
    ("first", "second", "value"),
    [("mail jane.doe@", "example.com please", EMAIL), ("call me at 415-555-", "0132 please", PHONE)],
    ids=["email", "phone"],
)
async def test_pii_split_over_two_text_parts_never_reaches_upstream_whole(
    make_stack: Any, first: str, second: str, value: str
) -> None:
    up = Upstream()
    parts = [{"type": "text", "text": first}, {"type": "text", "text": second}]
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, user(parts))
        assert status in (200, 400), body
        for i in range(len(up.bodies)):
            sent = up.json(i)["messages"][0]["content"]
            joined = sent if isinstance(sent, str) else "".join(p.get("text", "") for p in sent)
            assert value not in joined, joined


# === 10. unpaired surrogate escape ======================================================================


async def test_unpaired_surrogate_is_refused_even_with_nothing_to_rewrite(make_stack: Any) -> None:
    up = Upstream()
    raw = b'{"model":"m","messages":[{"role":"user","content":"hello \\ud800"}]}'
    async with make_stack(POLICY, upstream_app=up.app()) as s:
        status, body, _ = await post(s, raw=raw)
        assert status == 400, body
        assert json.loads(body)["error"]["code"] == "invalid_encoding"
        assert up.bodies == []


# === 11. remote providers see context in per_chunk and buffered streams =================================

PHRASE = "forbidden phrase here"


@dataclass
class PhraseWebhook(FakeService):
    """A ``custom`` guardrail that blocks only text containing the whole of :data:`PHRASE`."""

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{tail:.*}", self._guard)

    async def _guard(self, request: web.Request) -> web.Response:
        doc = received(request)
        text = "".join(str(s.get("text", "")) for s in doc.get("segments") or [])
        if PHRASE in text.lower():
            return web.json_response(
                {"action": "block", "message": "phrase", "findings": [{"category": "PHRASE"}]}
            )
        return web.json_response({"action": "allow"})

    def output_texts(self) -> list[str]:
        return [
            "".join(str(s.get("text", "")) for s in r.json.get("segments") or [])
            for r in self.requests
            if isinstance(r.json, dict) and r.json.get("phase") == "output"
        ]


CONTEXT_MODES: list[Any] = ["per_chunk", {"buffered": {"buffer_tokens": 8}}]
# The phrase starts at character 28: it straddles the first 32-character buffer and spans 6 chunks.
PHRASE_REPLY = f"all good so far, and then a {PHRASE} appears"
assert PHRASE_REPLY.index(PHRASE) == 28


def _remote_config(url: str, mode: Any, *, local_pii: bool = True) -> dict[str, Any]:
    # Local output PII redaction is on (as in POLICY) unless a test says otherwise: it does not touch
    # these answers, but it gives every text channel a local window.
    config: dict[str, Any] = {
        "output": {"streaming_mode": mode, "providers": [{"type": "custom", "url": url}]}
    }
    if local_pii:
        config["pii"] = {"action": "redact", "apply_to": "output", "replacement": "[PII]"}
    return config


@pytest.mark.parametrize("mode", CONTEXT_MODES, ids=["per_chunk", "buffered"])
async def test_remote_provider_sees_a_phrase_split_over_stream_chunks(make_stack: Any, mode: Any) -> None:
    hook = PhraseWebhook()
    async with hook.running() as url, make_stack(_remote_config(url, mode)) as s:
        seen: Seen = await stream_chat(
            s.session, s.url, headers={"X-Mock-Reply": PHRASE_REPLY, "X-Mock-Chunk": "4"}
        )
        assert seen.status == 200
        assert seen.error is not None, f"stream ended normally; provider saw {hook.output_texts()}"
        assert seen.events[-1] == {"error": seen.error}  # the error event ends the stream
        assert PHRASE not in seen.text()


@pytest.mark.parametrize("mode", CONTEXT_MODES, ids=["per_chunk", "buffered"])
async def test_remote_provider_sees_the_complete_answer_at_the_end(make_stack: Any, mode: Any) -> None:
    reply = "a harmless answer that is long enough to need several provider calls"
    hook = PhraseWebhook()
    async with hook.running() as url, make_stack(_remote_config(url, mode)) as s:
        seen = await stream_chat(s.session, s.url, headers={"X-Mock-Reply": reply, "X-Mock-Chunk": "4"})
        assert seen.error is None and seen.done and seen.text() == reply
        texts = hook.output_texts()
        assert texts, "the provider was never called"
        assert reply in texts[-1], f"last provider call saw {texts[-1]!r}"


async def test_buffered_stream_with_only_remote_providers_delivers_and_checks_the_tail(
    make_stack: Any,
) -> None:
    """Not one of the twelve points: found while writing them. With no local text check on the
    output, the last partial buffer (shorter than ``buffer_tokens``) is neither checked nor sent."""
    reply = "a harmless answer that is long enough to need several provider calls"
    hook = PhraseWebhook()
    mode = {"buffered": {"buffer_tokens": 8}}
    async with hook.running() as url, make_stack(_remote_config(url, mode, local_pii=False)) as s:
        seen = await stream_chat(s.session, s.url, headers={"X-Mock-Reply": reply, "X-Mock-Chunk": "4"})
        assert seen.error is None and seen.done
        assert seen.text() == reply
        assert any(t.endswith("provider calls") for t in hook.output_texts()), hook.output_texts()


# === 12. held-back text does not produce empty events ===================================================


def _is_empty(event: Any) -> bool:
    """A chat chunk that carries nothing: no text, no role, no finish_reason, no usage, no error."""
    if not isinstance(event, dict) or "error" in event or event.get("usage"):
        return False
    choices = event.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    for choice in choices:
        if choice.get("finish_reason") is not None or choice.get("logprobs") or choice.get("text"):
            return False
        if any(v not in ("", None, [], {}) for v in (choice.get("delta") or {}).values()):
            return False
    return True


@pytest.mark.parametrize(
    "mode",
    ["per_chunk", {"buffered": {"buffer_tokens": 8}}, "final_only"],
    ids=["per_chunk", "buffered", "final_only"],
)
async def test_held_back_text_does_not_produce_empty_events(make_stack: Any, mode: Any) -> None:
    reply = f"write to {EMAIL} or call {PHONE} today"
    upstream_body = chunk_events("", pieces=[reply[i : i + 2] for i in range(0, len(reply), 2)])
    sent = parse_sse(upstream_body.decode())
    config = {**POLICY, "output": {**POLICY["output"], "streaming_mode": mode}}
    async with make_stack(config, upstream_app=split_upstream([upstream_body])) as s:
        seen = await stream_chat(s.session, s.url)
        assert seen.done and seen.error is None
        assert seen.text() == "write to [PII] or call [PII] today"
        assert len(seen.events) <= len(sent), (len(seen.events), len(sent))
        empty = [e for e in seen.events if _is_empty(e)]
        assert len(empty) <= len([e for e in sent if _is_empty(e)]), empty


@pytest.mark.parametrize("path", [CHAT, "/v1/responses", "/v1/messages"])
async def test_a_refusal_carries_no_text_of_the_answer_it_replaces(make_stack: Any, path: str) -> None:
    """``disable_exception_on_block`` on an answer blocked for its id: the refusal is the guard's own."""
    refusing = {
        "guardrails": [
            {
                "name": "polite-refusal",
                "type": "blocklist",
                "mode": "post_call",
                "default_on": True,
                "disable_exception_on_block": True,
                "patterns": [{"pattern": WORD}],
            }
        ]
    }
    answer = {**chat_answer({"role": "assistant", "content": "ok"}), "id": f"resp-{WORD}"}
    up = Upstream(json_answer(answer))
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    async with make_stack(refusing, upstream_app=up.app()) as s:
        status, body, _ = await post(s, request, path=path)
        assert status == 200, body
        assert not leaks(body, WORD), body
