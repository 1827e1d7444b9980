"""SSE answers end to end: nothing unchecked reaches the client, whatever the chunk boundaries."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import sys
from typing import Any

import aiohttp
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import serve
from tests.streams import chunk_events, split_upstream, stream_chat

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

PII_OUT = {"pii": {"action": "redact", "apply_to": "output", "replacement": "[PII]"}}
BLOCK_OUT = {"patterns": [{"pattern": "forbidden-word", "message": "not allowed"}], "type": "blocklist"}
MODES: list[Any] = ["per_chunk", {"buffered": {"buffer_tokens": 8}}, "final_only"]


def config(mode: Any = "per_chunk", **extra: Any) -> dict[str, Any]:
    return {"output": {"streaming_mode": mode, "providers": [BLOCK_OUT]}, **PII_OUT, **extra}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunk", [1, 2, 3, 5])
async def test_pii_split_across_chunks_is_redacted_in_every_mode(
    make_stack: Any, mode: Any, chunk: int
) -> None:
    async with make_stack(config(mode)) as s:
        seen = await stream_chat(
            s.session,
            s.url,
            headers={
                "X-Mock-Reply": "reach me at jane.doe@example.com or 415-555-0132 today",
                "X-Mock-Chunk": str(chunk),
            },
        )
        assert seen.status == 200 and seen.done
        assert seen.text() == "reach me at [PII] or [PII] today"
        assert "jane" not in seen.raw and "555-0132" not in seen.raw


@pytest.mark.parametrize("mode", ["per_chunk", {"buffered": {"buffer_tokens": 8}}])
@pytest.mark.parametrize("chunk", [1, 3, 7])
async def test_blocked_word_split_across_chunks_never_reaches_the_client(
    make_stack: Any, mode: Any, chunk: int
) -> None:
    async with make_stack(config(mode)) as s:
        seen = await stream_chat(
            s.session,
            s.url,
            headers={
                "X-Mock-Reply": "fine text, then the forbidden-word and more",
                "X-Mock-Chunk": str(chunk),
            },
        )
        assert seen.status == 200
        assert "forbidden" not in seen.raw
        assert seen.error is not None and seen.error["code"] == "content_filter"
        assert seen.events[-1] == {"error": seen.error}  # the error event ends the stream
        assert "fine text" in seen.text()


async def test_openai_sdk_stream_raises_api_error_on_mid_stream_block(make_stack: Any) -> None:
    async with make_stack(config("per_chunk")) as s:
        client = openai.AsyncOpenAI(base_url=f"{s.url}/v1", api_key="k", max_retries=0)
        stream = await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "x"}],
            stream=True,
            extra_headers={"X-Mock-Reply": "ok so far. forbidden-word", "X-Mock-Chunk": "3"},
        )
        got = []
        with pytest.raises(openai.APIError) as info:
            async for chunk in stream:
                got.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
        assert "forbidden" not in "".join(got)
        assert info.value.code == "content_filter"
        await client.close()


async def test_openai_sdk_stream_gets_redacted_text(make_stack: Any) -> None:
    async with make_stack(config("per_chunk")) as s:
        client = openai.AsyncOpenAI(base_url=f"{s.url}/v1", api_key="k", max_retries=0)
        stream = await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "x"}],
            stream=True,
            extra_headers={"X-Mock-Reply": "card 4111-1111-1111-1111 ok", "X-Mock-Chunk": "2"},
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "card [PII] ok"
        await client.close()


async def test_final_only_is_detect_only_and_audits_the_violation(make_stack: Any, caplog: Any) -> None:
    async with make_stack(config("final_only")) as s:
        with caplog.at_level(logging.INFO, logger="guard_middleware.audit"):
            seen = await stream_chat(s.session, s.url, headers={"X-Mock-Reply": "the forbidden-word here"})
        # documented: final_only lets text through and only records the violation
        assert seen.text() == "the forbidden-word here" and seen.error is None and seen.done
        rec = next(r for r in caplog.records if getattr(r, "guardrail", None) == "blocklist")
        assert rec.phase == "output" and rec.action == "block" and rec.stream is True


async def test_blocked_input_on_a_stream_request_gets_the_plain_json_400(make_stack: Any) -> None:
    cfg = {"input": {"providers": [BLOCK_OUT]}}
    async with make_stack(cfg) as s:
        seen = await stream_chat(s.session, s.url, "say forbidden-word")
        assert seen.status == 400 and seen.headers["Content-Type"].startswith("application/json")
        assert seen.events[0]["error"]["code"] == "content_filter"


async def test_tool_call_argument_deltas_are_scanned_and_rewritten(make_stack: Any) -> None:
    async with make_stack(config("per_chunk")) as s:
        seen = await stream_chat(
            s.session,
            s.url,
            headers={"X-Mock-Tool": 'send:{"to": "bob@example.com", "body": "hi"}', "X-Mock-Chunk": "3"},
        )
        assert seen.error is None and seen.done
        assert json.loads(seen.tool_arguments()) == {"to": "[PII]", "body": "hi"}
        assert "bob@" not in seen.raw
        blocked = await stream_chat(
            s.session, s.url, headers={"X-Mock-Tool": 'send:{"body": "forbidden-word"}', "X-Mock-Chunk": "2"}
        )
        assert blocked.error is not None and "forbidden" not in blocked.raw


async def test_several_choices_are_kept_apart(make_stack: Any) -> None:
    async with make_stack(config("per_chunk")) as s:
        seen = await stream_chat(
            s.session, s.url, n=3, headers={"X-Mock-Reply": "ip 10.0.0.1 end", "X-Mock-Chunk": "2"}
        )
        assert [seen.text(i) for i in range(3)] == ["ip [PII] end"] * 3


async def test_completions_streams_are_guarded(make_stack: Any) -> None:
    async with make_stack(config("per_chunk")) as s:
        seen = await stream_chat(
            s.session,
            s.url,
            path="/v1/completions",
            headers={"X-Mock-Reply": "mail x@y.io now", "X-Mock-Chunk": "2"},
        )
        assert seen.text() == "mail [PII] now"


async def test_odd_framing_crlf_comments_and_event_lines_are_understood() -> None:
    from examples.gateway import make_gateway
    from guard_middleware import GuardMiddleware, GuardSettings

    body = chunk_events("", pieces=["mail a", "@b.io ok"])
    body = body.replace(b"\n", b"\r\n")
    body = b": keep-alive comment\r\n\r\nevent: message\r\n" + body
    splits = [body[i : i + 7] for i in range(0, len(body), 7)]
    async with serve(split_upstream(splits)) as up:
        app = make_gateway(up, guard=GuardMiddleware(GuardSettings.load(**config())))
        async with serve(app) as url, aiohttp.ClientSession() as session:
            seen = await stream_chat(session, url)
            assert seen.text() == "mail [PII] ok" and seen.done and seen.error is None
            assert ": keep-alive comment" in seen.raw


@pytest.mark.parametrize(
    "bad",
    [
        b"data: {not json\n\n",
        b'data: {"choices": "nope"}\n\n',
        b'data: {"choices": [{"index": 0, "delta": {"content": 5}}]}\n\n',
    ],
)
async def test_an_event_that_cannot_be_checked_fails_closed(bad: bytes) -> None:
    from examples.gateway import make_gateway
    from guard_middleware import GuardMiddleware, GuardSettings

    good = chunk_events("", pieces=["hello "])
    splits = [
        good.split(b"data: [DONE]")[0],
        bad,
        b'data: {"choices":[{"index":0,"delta":{"content":"secret"}}]}\n\n',
    ]
    async with serve(split_upstream(splits)) as up:
        app = make_gateway(up, guard=GuardMiddleware(GuardSettings.load(**config())))
        async with serve(app) as url, aiohttp.ClientSession() as session:
            seen = await stream_chat(session, url)
            assert seen.error is not None and seen.error["code"] == "upstream_unreadable"
            assert "secret" not in seen.raw and seen.text() == "hello "


@pytest.mark.parametrize("coding", ["gzip", "zstd"])
async def test_compressed_upstream_stream_is_decoded_and_guarded(coding: str) -> None:
    from aiohttp import web

    from guard_middleware import GuardMiddleware, GuardSettings

    compress = gzip.compress if coding == "gzip" else zstd.compress
    payload = compress(chunk_events("", pieces=["mail a@b.", "io done"]))
    upstream = split_upstream([payload[:20], payload[20:]], headers={"Content-Encoding": coding})

    async with serve(upstream) as up:

        async def proxy(request: web.Request) -> web.StreamResponse:
            async with (
                aiohttp.ClientSession(auto_decompress=False) as session,
                session.post(up + "/v1/chat/completions", data=await request.read()) as r,
            ):
                resp = web.StreamResponse(
                    headers={
                        "Content-Type": "text/event-stream",
                        "Content-Encoding": r.headers["Content-Encoding"],
                    }
                )
                await resp.prepare(request)
                async for piece in r.content.iter_any():
                    await resp.write(piece)
                await resp.write_eof()
                return resp

        app = web.Application()
        app.middlewares.append(GuardMiddleware(GuardSettings.load(**config())))
        app.router.add_post("/v1/chat/completions", proxy)
        async with serve(app) as url, aiohttp.ClientSession() as session:
            seen = await stream_chat(session, url)
            assert "Content-Encoding" not in seen.headers
            assert seen.text() == "mail [PII] done"


@pytest.mark.parametrize("handler_cancellation", [False, True])
async def test_client_disconnect_cancels_the_upstream_promptly(
    make_stack: Any, handler_cancellation: bool, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING)
    async with make_stack(config("per_chunk"), handler_cancellation=handler_cancellation) as s:
        reply = "word " * 400
        async with s.session.post(
            f"{s.url}/v1/chat/completions",
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]},
            headers={"X-Mock-Reply": reply, "X-Mock-Delay-Ms": "10"},
        ) as resp:
            await resp.content.readany()
            resp.close()  # the client goes away mid-stream
        for _ in range(100):
            if s.record.aborted:
                break
            await asyncio.sleep(0.02)
        assert s.record.aborted == 1 and s.record.completed == 0
    # no traceback per disconnect, from the gateway or anywhere else
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=12))
async def test_any_split_of_the_stream_gives_the_same_client_text(cuts: list[int]) -> None:
    from examples.gateway import make_gateway
    from guard_middleware import GuardMiddleware, GuardSettings

    body = chunk_events(
        "", pieces=["Call 415-5", "55-0132 or mail ", "jo@ex", "ample.com; the for", "bidden-wo", "rd is"]
    )
    points = sorted({c % len(body) for c in cuts} - {0})
    splits = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    async with serve(split_upstream(splits)) as up:
        app = make_gateway(up, guard=GuardMiddleware(GuardSettings.load(**config("final_only"))))
        async with serve(app) as url, aiohttp.ClientSession() as session:
            seen = await stream_chat(session, url)
    assert seen.text() == "Call [PII] or mail [PII]; the forbidden-word is"


async def test_output_content_limits_end_a_stream_at_the_limit(make_stack: Any) -> None:
    cfg = {
        "output": {
            "streaming_mode": "per_chunk",
            "providers": [{"type": "content_limits", "max_characters": 20}],
        }
    }
    async with make_stack(cfg) as s:
        seen = await stream_chat(
            s.session, s.url, headers={"X-Mock-Reply": "0123456789" * 5, "X-Mock-Chunk": "3"}
        )
        assert seen.error is not None and seen.error["categories"] == ["content_limits"]
        assert len(seen.text()) <= 20
        short = await stream_chat(s.session, s.url, headers={"X-Mock-Reply": "short"})
        assert short.text() == "short" and short.error is None


async def test_disable_exception_on_block_ends_a_stream_like_a_model_would(make_stack: Any) -> None:
    blocker = {**BLOCK_OUT, "disable_exception_on_block": True}
    async with make_stack({"output": {"streaming_mode": "per_chunk", "providers": [blocker]}}) as s:
        client = openai.AsyncOpenAI(base_url=f"{s.url}/v1", api_key="k", max_retries=0)
        stream = await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "x"}],
            stream=True,
            extra_headers={"X-Mock-Reply": "fine, then forbidden-word", "X-Mock-Chunk": "3"},
        )
        chunks = [c async for c in stream]  # no exception: the refusal is ordinary content
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert "forbidden" not in text and text.endswith("not allowed")
        assert chunks[-1].choices[0].finish_reason == "content_filter"
        await client.close()


async def test_a_stale_content_encoding_on_a_decoded_stream_is_repaired_and_guarded() -> None:
    from aiohttp import web

    from guard_middleware import GuardMiddleware, GuardSettings

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Content-Encoding": "gzip"})
        await resp.prepare(request)
        body = chunk_events("", pieces=["mail a@", "b.io ok"])
        for i in range(0, len(body), 50):
            await resp.write(body[i : i + 50])
        await resp.write_eof()
        return resp

    app = web.Application()
    app.middlewares.append(GuardMiddleware(GuardSettings.load(**config())))
    app.router.add_post("/v1/chat/completions", handler)
    async with serve(app) as url, aiohttp.ClientSession() as session:
        seen = await stream_chat(session, url)
        assert "Content-Encoding" not in seen.headers
        assert seen.text() == "mail [PII] ok" and seen.error is None
