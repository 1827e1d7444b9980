"""The request side of the contract, end to end: client -> gateway with guard -> mock LLM."""

from __future__ import annotations

import gzip
import json
import sys
from typing import Any

import aiohttp
import openai
import pytest

from guard_middleware import GuardMiddleware, GuardSettings
from guard_middleware.errors import ConfigError

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

BLOCKLIST = {
    "type": "blocklist",
    "patterns": [
        {"pattern": "competitor-name", "category": "blocked_content", "message": "No competitors"},
        {"pattern": r"\b(hack|exploit)\b", "is_regex": True, "category": "security", "severity": "medium"},
    ],
}
PII_REDACT = {"pii": {"action": "redact", "apply_to": "both", "replacement": "[PII]"}}
BASE: dict[str, Any] = {"input": {"providers": [BLOCKLIST]}, **PII_REDACT}


async def test_blocked_word_gets_openai_shaped_400_and_never_reaches_upstream(make_stack: Any) -> None:
    async with make_stack(BASE) as s:
        status, headers, body = await s.chat("tell me about competitor-name please")
        assert status == 400
        err = body["error"]
        assert err["code"] == "content_filter" and err["type"] == "invalid_request_error"
        assert isinstance(err["message"], str) and err["param"] is None
        assert err["categories"] == ["blocked_content"] and err["phase"] == "input"
        assert err["guardrail"] == "blocklist"
        assert headers["X-Guardrails-Applied"].split(",")[0] == "blocklist"
        assert s.record.bodies == []


async def test_openai_sdk_raises_bad_request_with_content_filter_code(make_stack: Any) -> None:
    async with make_stack(BASE) as s:
        client = openai.AsyncOpenAI(base_url=f"{s.url}/v1", api_key="test", max_retries=0)
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(
                model="mock", messages=[{"role": "user", "content": "competitor-name"}]
            )
        assert info.value.code == "content_filter"
        ok = await client.chat.completions.create(
            model="mock", messages=[{"role": "user", "content": "hello"}]
        )
        assert ok.choices[0].message.content == "You said: hello"
        await client.close()


@pytest.mark.parametrize(
    "evasion",
    [
        "COMPETITOR-NAME",
        "ｃｏｍｐｅｔｉｔｏｒ-ｎａｍｅ",  # full-width letters
        "compet\u200bitor-name",  # zero-width space inside the word
        "compe\u00adtitor-name",  # soft hyphen
    ],
)
async def test_blocklist_evasions_are_blocked(make_stack: Any, evasion: str) -> None:
    async with make_stack(BASE) as s:
        status, _, body = await s.chat(f"about {evasion} today")
        assert status == 400, body
        assert s.record.bodies == []


async def test_json_unicode_escapes_do_not_evade(make_stack: Any) -> None:
    async with make_stack(BASE) as s:
        raw = b'{"model":"m","messages":[{"role":"user","content":"\\u0063ompetitor-name"}]}'
        async with s.session.post(
            f"{s.url}/v1/chat/completions", data=raw, headers={"Content-Type": "application/json"}
        ) as resp:
            assert resp.status == 400
        assert s.record.bodies == []


@pytest.mark.parametrize("forward", ["read", "stream"])
async def test_pii_is_redacted_before_upstream_in_both_handler_styles(make_stack: Any, forward: str) -> None:
    async with make_stack(BASE, forward=forward) as s:
        status, _, body = await s.chat("mail me at jane.doe@example.com or call 415-555-0132")
        assert status == 200
        sent = s.record.bodies[0]["messages"][0]["content"]
        assert "jane.doe@example.com" not in sent and "415-555-0132" not in sent
        assert sent == "mail me at [PII] or call [PII]"
        # what the upstream received is exactly the re-serialised JSON, with a correct length
        raw = s.record.raw_bodies[0]
        assert int(s.record.headers[0].get("Content-Length", len(raw))) == len(raw)
        assert json.loads(raw) == s.record.bodies[0]
        # the echo comes back through the output guard too
        assert body["choices"][0]["message"]["content"] == "You said: mail me at [PII] or call [PII]"


async def test_anonymize_gives_same_value_the_same_placeholder(make_stack: Any) -> None:
    config = {"pii": {"action": "anonymize", "apply_to": "input"}}
    async with make_stack(config) as s:
        status, _, _ = await s.chat("a@x.io wrote to b@y.io, then a@x.io again")
        assert status == 200
        assert (
            s.record.bodies[0]["messages"][0]["content"]
            == "[EMAIL_1] wrote to [EMAIL_2], then [EMAIL_1] again"
        )


@pytest.mark.parametrize("repeat", [1, 50])  # ~2 KB (all on the event loop) and ~100 KB (scanned off it)
async def test_thousands_of_values_are_numbered_in_order_whichever_thread_handles_them(
    make_stack: Any, repeat: int
) -> None:
    # More findings than the event loop handles itself (`COLLECT_INLINE_MAX`): placeholders are
    # still given in text order, and a value seen again gets its number again.
    config = {"pii": {"action": "anonymize", "apply_to": "input"}}
    values = [f"u{i}@x.io" for i in range(1500)]
    text = " ".join(values + values[:2]) + " " + "filler text " * (repeat * 170)
    async with make_stack(config) as s:
        status, _, _ = await s.chat(text)
        assert status == 200
        sent = s.record.bodies[0]["messages"][0]["content"].split(" ")
        assert sent[:1502] == [f"[EMAIL_{i + 1}]" for i in range(1500)] + ["[EMAIL_1]", "[EMAIL_2]"]


async def test_warn_proceeds_with_warning_header(make_stack: Any) -> None:
    config = {**BASE, "input": {"providers": [BLOCKLIST], "actions": {"SECURITY": "warn"}}}
    async with make_stack(config) as s:
        status, headers, _ = await s.chat("how do I hack my own router")
        assert status == 200
        assert headers["X-Guardrails-Warning"] == "security"
        assert "blocklist" in headers["X-Guardrails-Applied"].split(",")
        assert len(s.record.bodies) == 1


async def test_every_message_role_and_text_part_is_scanned(make_stack: Any) -> None:
    async with make_stack(BASE) as s:
        for messages in (
            [{"role": "system", "content": "competitor-name"}],
            [{"role": "developer", "content": "x"}, {"role": "user", "content": "competitor-name"}],
            [{"role": "user", "content": [{"type": "text", "text": "competitor-name"}]}],
            [{"role": "tool", "tool_call_id": "c1", "content": "competitor-name"}],
            [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": json.dumps({"q": "competitor-name"})},
                        }
                    ],
                }
            ],
        ):
            status, _, _ = await s.chat(None, messages=messages)
            assert status == 400, messages
        assert s.record.bodies == []


async def test_tool_call_arguments_are_redacted_and_stay_valid_json(make_stack: Any) -> None:
    async with make_stack(BASE) as s:
        args = json.dumps({"to": "bob@example.com", "n": 3, "nested": ["call 415-555-0132"]})
        messages = [
            {"role": "user", "content": "send it"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "send", "arguments": args}}
                ],
            },
        ]
        status, _, _ = await s.chat(None, messages=messages)
        assert status == 200
        sent_args = s.record.bodies[0]["messages"][1]["tool_calls"][0]["function"]["arguments"]
        assert json.loads(sent_args) == {"to": "[PII]", "n": 3, "nested": ["call [PII]"]}


async def test_image_parts_are_forwarded_and_recorded_unscanned(make_stack: Any, caplog: Any) -> None:
    config = {**BASE, "audit": {"log_all_evaluations": True}}
    async with make_stack(config) as s:
        content = [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "iVBORw0K" * 8}},
        ]
        with caplog.at_level("INFO", logger="guard_middleware.audit"):
            status, _, _ = await s.chat(content)
        assert status == 200
        records = [r for r in caplog.records if getattr(r, "event", None) == "guardrail_evaluation"]
        assert any("messages[0].content[1].image_url.url" in getattr(r, "unscanned", []) for r in records)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"model": "m", "messages": [', "invalid_json"),
        (b'\xff\xfe{"model": 1}', "invalid_encoding"),
        (b'{"model": "m", "messages": "hello"}', "invalid_type"),
        (b'{"model": "m", "messages": [{"role": "user", "content": 5}]}', "invalid_type"),
        (b'{"model": "m", "stream": "yes", "messages": []}', "invalid_type"),
        (
            b'{"model":"m","messages":[{"role":"user","content":"hi","content":"competitor-name"}]}',
            "duplicate_key",
        ),
        (b'{"model": "m", "messages": [], "temperature": NaN}', "invalid_json"),
        (b"[1, 2]", "invalid_type"),
        # nesting the walker could not follow: a clear 400, not a RecursionError (500)
        (b'{"model": "m", "messages": [], "metadata": ' + b"[" * 500 + b"]" * 500 + b"}", "invalid_json"),
        (b'{"model": "m", "messages": [], "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "invalid_json"),
        # an escaped backslash before "uDBFF" does not make the lone low surrogate after it a pair
        (rb'{"model": "m", "messages": [], "user": "\\uDBFF\uDFFF"}', "invalid_encoding"),
    ],
)
async def test_malformed_requests_get_400_and_are_not_forwarded(
    make_stack: Any, raw: bytes, code: str
) -> None:
    async with make_stack(BASE) as s:
        async with s.session.post(
            f"{s.url}/v1/chat/completions", data=raw, headers={"Content-Type": "application/json"}
        ) as resp:
            body = await resp.json()
            assert resp.status == 400
            assert body["error"]["code"] == code
            assert isinstance(body["error"]["message"], str)
        assert s.record.bodies == []


async def test_any_content_type_is_parsed_and_checked(make_stack: Any) -> None:
    async with make_stack(BASE) as s:
        raw = json.dumps({"model": "m", "messages": [{"role": "user", "content": "competitor-name"}]})
        async with s.session.post(
            f"{s.url}/v1/chat/completions", data=raw, headers={"Content-Type": "text/plain"}
        ) as resp:
            assert resp.status == 400


async def test_oversize_body_gets_413_with_and_without_content_length(make_stack: Any) -> None:
    async with make_stack({**BASE, "max_body_bytes": 2048}) as s:
        big = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 5000}]}).encode()
        async with s.session.post(f"{s.url}/v1/chat/completions", data=big) as resp:
            assert resp.status == 413
            assert (await resp.json())["error"]["code"] == "request_too_large"

        async def chunks() -> Any:
            for i in range(0, len(big), 1000):
                yield big[i : i + 1000]

        async with s.session.post(f"{s.url}/v1/chat/completions", data=chunks()) as resp:
            assert resp.status == 413
        assert s.record.bodies == []


async def test_a_413_or_415_closes_the_connection_instead_of_reading_the_rest(make_stack: Any) -> None:
    # A decompression bomb: 10 MB of spaces in ~10 KB of gzip. Reading it all to keep the connection
    # alive would cost the server the whole decompression.
    bomb = gzip.compress(b'{"model": "m", "messages": [' + b" " * 10_000_000 + b"]}")
    async with make_stack({**BASE, "max_body_bytes": 4096}) as s:
        for data, coding, status in [(bomb, "gzip", 413), (b"\x00\x01", "compress", 415)]:
            async with s.session.post(
                f"{s.url}/v1/chat/completions",
                data=data,
                headers={"Content-Encoding": coding, "Content-Type": "application/json"},
            ) as resp:
                assert resp.status == status
                assert resp.headers["Connection"] == "close"
        async with s.session.post(f"{s.url}/v1/chat/completions", data=b"{") as resp:
            assert resp.status == 400 and resp.headers.get("Connection") != "close"
        assert s.record.bodies == []


async def test_unknown_content_encoding_gets_415(make_stack: Any) -> None:
    async with make_stack(BASE) as s:
        for coding in ("compress", "gzip, br"):
            async with s.session.post(
                f"{s.url}/v1/chat/completions", data=b"\x00\x01", headers={"Content-Encoding": coding}
            ) as resp:
                assert resp.status == 415
                assert (await resp.json())["error"]["code"] == "unsupported_encoding"
        assert s.record.bodies == []


@pytest.mark.parametrize("forward", ["read", "stream"])
async def test_gzip_request_body_is_decoded_checked_and_forwarded_plain(
    make_stack: Any, forward: str
) -> None:
    async with make_stack(BASE, forward=forward) as s:
        blocked = gzip.compress(
            json.dumps({"model": "m", "messages": [{"role": "user", "content": "competitor-name"}]}).encode()
        )
        async with s.session.post(
            f"{s.url}/v1/chat/completions",
            data=blocked,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 400
        redacted = gzip.compress(
            json.dumps(
                {"model": "m", "messages": [{"role": "user", "content": "I am jane@example.com"}]}
            ).encode()
        )
        async with s.session.post(
            f"{s.url}/v1/chat/completions",
            data=redacted,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 200
        assert s.record.bodies[0]["messages"][0]["content"] == "I am [PII]"
        assert "Content-Encoding" not in s.record.headers[0]


# aiohttp >= 3.13 decodes zstd in its parser (auto_decompress, the default); older ones, and servers
# with auto_decompress=False, hand the guard the encoded bytes to decode itself.
@pytest.mark.parametrize("auto_decompress", [True, False])
async def test_zstd_request_body_is_decoded_checked_and_forwarded_plain(
    make_stack: Any, auto_decompress: bool
) -> None:
    async with make_stack(BASE, auto_decompress=auto_decompress) as s:
        for content, status in [("competitor-name", 400), ("I am jane@example.com", 200)]:
            body = json.dumps({"model": "m", "messages": [{"role": "user", "content": content}]}).encode()
            async with s.session.post(
                f"{s.url}/v1/chat/completions",
                data=zstd.compress(body),
                headers={"Content-Encoding": "zstd", "Content-Type": "application/json"},
            ) as resp:
                assert resp.status == status
                assert resp.content_type == "application/json"
        assert [b["messages"][0]["content"] for b in s.record.bodies] == ["I am [PII]"]
        assert "Content-Encoding" not in s.record.headers[0]


@pytest.mark.parametrize("auto_decompress", [True, False])
async def test_a_zstd_bomb_gets_413_and_the_connection_closed(make_stack: Any, auto_decompress: bool) -> None:
    bomb = zstd.compress(b'{"model": "m", "messages": [' + b" " * 50_000_000 + b"]}")
    assert len(bomb) < 10_000
    async with make_stack({**BASE, "max_body_bytes": 4096}, auto_decompress=auto_decompress) as s:
        async with s.session.post(
            f"{s.url}/v1/chat/completions",
            data=bomb,
            headers={"Content-Encoding": "zstd", "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 413
            assert (await resp.json())["error"]["code"] == "request_too_large"
            assert resp.headers["Connection"] == "close"
        assert s.record.bodies == []


@pytest.mark.parametrize("auto_decompress", [True, False])
@pytest.mark.parametrize(
    ("coding", "data"),
    [
        ("zstd", b"\x28\xb5\x2f\xfd garbage"),
        ("zstd", b"not zstd at all"),
        ("zstd", zstd.compress(b'{"model": "m"}')[:-3]),
        ("gzip", b"\x1f\x8b garbage"),
    ],
)
async def test_malformed_compressed_body_gets_the_invalid_encoding_400(
    make_stack: Any, auto_decompress: bool, coding: str, data: bytes
) -> None:
    async with make_stack(BASE, auto_decompress=auto_decompress) as s:
        async with s.session.post(
            f"{s.url}/v1/chat/completions",
            data=data,
            headers={"Content-Encoding": coding, "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 400
            code = (await resp.json())["error"]["code"]
            # aiohttp's own zstd decoding (3.13+) does not notice a truncated frame: the guard then
            # sees the cut-off JSON, still a 400
            assert code == "invalid_encoding" or (code == "invalid_json" and auto_decompress)
        assert s.record.bodies == []


@pytest.mark.parametrize(
    "path",
    [
        "/v1/chat/completions/",
        "//v1/chat/completions",
        "/v1/chat/%63ompletions",
        "/chat/completions",
        "/V1/Chat/Completions",
    ],
)
async def test_path_variants_routed_to_the_handler_are_guarded(make_stack: Any, path: str) -> None:
    async with make_stack(BASE) as s:
        body = {"model": "m", "messages": [{"role": "user", "content": "competitor-name"}]}
        async with s.session.post(f"{s.url}{path}", json=body) as resp:
            assert resp.status == 400, path
        assert s.record.bodies == []


async def test_routes_no_format_owns_pass_with_an_audit_record(make_stack: Any, caplog: Any) -> None:
    async with make_stack(BASE) as s:
        with caplog.at_level("INFO", logger="guard_middleware.audit"):
            async with s.session.post(
                f"{s.url}/v1/images/generations", json={"prompt": "competitor-name"}
            ) as resp:
                # the mock has no such route: its 404 comes back through the gateway, not a guard 400
                assert resp.status == 404
                assert "X-Guardrails-Applied" not in resp.headers
        records = [r for r in caplog.records if getattr(r, "event", None) == "unguarded_request"]
        assert [(r.route, r.action) for r in records] == [("/v1/images/generations", "allow")]  # type: ignore[attr-defined]


async def test_unknown_routes_block_refuses_bodies_under_the_api_prefix(make_stack: Any) -> None:
    async with make_stack({**BASE, "unknown_routes": "block"}) as s:
        async with s.session.post(f"{s.url}/v1/images/generations", json={"prompt": "hi"}) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == "unguarded_route"
        assert s.record.bodies == []
        # outside the prefix, and bodiless reads, are the operator's business
        async with s.session.post(f"{s.url}/health", json={}) as resp:
            assert resp.status == 404
        async with s.session.get(f"{s.url}/v1/models") as resp:
            assert resp.status == 404


def test_a_route_no_format_understands_is_a_start_up_error() -> None:
    with pytest.raises(ConfigError, match=r"routes\[1\]"):
        GuardMiddleware(GuardSettings.load(routes=["/v1/chat/completions", "/v1/images/generations"]))


async def test_completions_prompt_is_scanned(make_stack: Any) -> None:
    async with make_stack(BASE) as s:
        for prompt in ("competitor-name", ["fine", "competitor-name"]):
            async with s.session.post(
                f"{s.url}/v1/completions", json={"model": "m", "prompt": prompt}
            ) as resp:
                assert resp.status == 400
        async with s.session.post(
            f"{s.url}/v1/completions", json={"model": "m", "prompt": [1, 2, 3]}
        ) as resp:
            assert resp.status == 400
            assert "token arrays" in (await resp.json())["error"]["message"]
        async with s.session.post(
            f"{s.url}/v1/completions", json={"model": "m", "prompt": "mail a@b.io"}
        ) as resp:
            assert resp.status == 200
            assert (await resp.json())["choices"][0]["text"] == "You said: mail [PII]"


async def test_strings_in_other_fields_are_scanned_too(make_stack: Any) -> None:
    async with make_stack(BASE) as s:
        status, _, _ = await s.chat("hello", user="competitor-name")
        assert status == 400
        status, _, _ = await s.chat(
            "hello",
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "description": "contact jane@example.com",
                        "parameters": {"type": "object"},
                    },
                }
            ],
        )
        assert status == 200
        assert s.record.bodies[0]["tools"][0]["function"]["description"] == "contact [PII]"


async def test_content_limits_block_long_requests(make_stack: Any) -> None:
    config = {"input": {"providers": [{"type": "content_limits", "max_words": 5}]}}
    async with make_stack(config) as s:
        status, _, body = await s.chat("one two three four five six")
        assert status == 400 and body["error"]["categories"] == ["content_limits"]
        status, _, _ = await s.chat("one two three")
        assert status == 200


async def test_audit_record_has_hashes_never_raw_pii(make_stack: Any, caplog: Any) -> None:
    async with make_stack(BASE) as s:
        with caplog.at_level("INFO", logger="guard_middleware.audit"):
            await s.chat("I am jane@example.com", headers={"X-Request-Id": "req-42"})
        records = [r for r in caplog.records if getattr(r, "event", None) == "guardrail_evaluation"]
        assert records
        rec = next(r for r in records if r.guardrail == "pii" and r.phase == "input")
        assert rec.request_id == "req-42" and rec.status == "guardrail_intervened" and rec.action == "redact"
        assert rec.categories == ["EMAIL"] and len(rec.value_hashes) == 1
        assert all("jane@example.com" not in str(vars(r)) for r in caplog.records)


async def test_request_state_set_by_the_handler_is_visible_to_outer_middleware(make_stack: Any) -> None:
    # Uses the guard directly with a custom app: an outer middleware reads what the handler stored.
    from aiohttp import web

    from guard_middleware import GuardMiddleware, GuardSettings
    from tests.conftest import serve

    seen: dict[str, Any] = {}
    request_key = getattr(web, "RequestKey", None)  # aiohttp >= 3.14 wants typed keys
    user_key: Any = request_key("user", str) if request_key else "user"

    @web.middleware
    async def outer(request: web.Request, handler: Any) -> web.StreamResponse:
        resp = await handler(request)
        seen["user"] = request.get(user_key)
        return resp

    async def handler(request: web.Request) -> web.Response:
        request[user_key] = "alice"
        return web.json_response({"got": (await request.json())["messages"][0]["content"]})

    app = web.Application(middlewares=[outer])
    app.middlewares.append(GuardMiddleware(GuardSettings.load(**BASE)))
    app.router.add_post("/v1/chat/completions", handler)
    async with (
        serve(app) as url,
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "x@y.io"}]}
        ) as resp,
    ):
        assert (await resp.json()) == {"got": "[PII]"}
    assert seen["user"] == "alice"
