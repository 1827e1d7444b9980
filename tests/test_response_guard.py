"""The response side for non-streaming JSON: what the client sees of the upstream's answer."""

from __future__ import annotations

import gzip
import json
import sys
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from tests.conftest import serve

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

OUT_BLOCK = {"output": {"providers": [{"type": "blocklist", "patterns": [{"pattern": "forbidden-word"}]}]}}
OUT_PII = {"pii": {"action": "redact", "apply_to": "output", "replacement": "[PII]"}}


async def test_output_pii_is_redacted_in_message_content(make_stack: Any) -> None:
    async with make_stack(OUT_PII) as s:
        status, _, body = await s.chat("hi", headers={"X-Mock-Reply": "write to ops@example.com"})
        assert status == 200
        assert body["choices"][0]["message"]["content"] == "write to [PII]"


async def test_output_block_returns_the_same_400_contract(make_stack: Any) -> None:
    async with make_stack(OUT_BLOCK) as s:
        client = openai.AsyncOpenAI(base_url=f"{s.url}/v1", api_key="k", max_retries=0)
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "x"}],
                extra_headers={"X-Mock-Reply": "the forbidden-word is here"},
            )
        assert info.value.code == "content_filter"
        body: Any = info.value.body
        assert body["phase"] == "output"
        await client.close()


async def test_output_tool_call_arguments_and_every_choice_are_scanned(make_stack: Any) -> None:
    async with make_stack(OUT_PII) as s:
        status, _, body = await s.chat("hi", headers={"X-Mock-Tool": 'email:{"to": "a@b.io"}'})
        assert status == 200
        args = body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        assert json.loads(args) == {"to": "[PII]"}
        status, _, body = await s.chat("hi", n=3, headers={"X-Mock-Reply": "ip 10.1.2.3"})
        assert [c["message"]["content"] for c in body["choices"]] == ["ip [PII]"] * 3


async def test_completions_choice_text_is_scanned(make_stack: Any) -> None:
    async with (
        make_stack(OUT_PII) as s,
        s.session.post(
            f"{s.url}/v1/completions",
            json={"model": "m", "prompt": "x"},
            headers={"X-Mock-Reply": "ssn 123-45-6789"},
        ) as resp,
    ):
        assert (await resp.json())["choices"][0]["text"] == "ssn [PII]"


def _raw_upstream(body: bytes, headers: dict[str, str]) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    return app


async def _through_raw_gateway(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """An upstream answering ``body`` with ``headers``, behind a guarded gateway that copies the
    upstream's encoded bytes and Content-Encoding as they are (client ``auto_decompress=False``)."""
    from guard_middleware import GuardMiddleware, GuardSettings

    async with serve(_raw_upstream(body, headers)) as up_url:

        async def proxy(request: web.Request) -> web.Response:
            async with (
                aiohttp.ClientSession(auto_decompress=False) as session,
                session.post(up_url + "/v1/chat/completions", data=await request.read()) as up,
            ):
                kept = {
                    k: v for k, v in up.headers.items() if k.lower() in ("content-type", "content-encoding")
                }
                return web.Response(body=await up.read(), status=up.status, headers=kept)

        app = web.Application()
        app.middlewares.append(GuardMiddleware(GuardSettings.load(**OUT_PII)))
        app.router.add_post("/v1/chat/completions", proxy)
        async with (
            serve(app) as url,
            aiohttp.ClientSession() as s,
            s.post(
                f"{url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}
            ) as resp,
        ):
            return resp.status, await resp.read()


async def test_compressed_upstream_body_is_decoded_and_checked_not_passed_on() -> None:
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "mail a@b.io"}}]}
    status, body = await _through_raw_gateway(
        gzip.compress(json.dumps(answer).encode()),
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert status == 200
    assert json.loads(body)["choices"][0]["message"]["content"] == "mail [PII]"


async def test_zstd_upstream_body_is_decoded_and_checked_not_passed_on() -> None:
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "mail a@b.io"}}]}
    status, body = await _through_raw_gateway(
        zstd.compress(json.dumps(answer).encode()),
        {"Content-Type": "application/json", "Content-Encoding": "zstd"},
    )
    assert status == 200
    assert json.loads(body)["choices"][0]["message"]["content"] == "mail [PII]"


async def test_malformed_zstd_upstream_body_fails_closed_with_502() -> None:
    status, body = await _through_raw_gateway(
        b"\x28\xb5\x2f\xfd garbage a@b.io", {"Content-Type": "application/json", "Content-Encoding": "zstd"}
    )
    assert status == 502
    assert json.loads(body)["error"]["code"] == "upstream_unreadable"
    assert b"a@b.io" not in body


async def test_unknown_upstream_encoding_fails_closed_with_502() -> None:
    status, body = await _through_raw_gateway(
        b"\x1f\x9d\x90garbage", {"Content-Type": "application/json", "Content-Encoding": "compress"}
    )
    assert status == 502
    assert json.loads(body)["error"]["code"] == "upstream_unreadable"


async def test_unparseable_upstream_json_fails_closed_with_502() -> None:
    status, body = await _through_raw_gateway(
        b'{"choices": [{"message": {"content": "a@b.io"', {"Content-Type": "application/json"}
    )
    assert status == 502
    assert b"a@b.io" not in body


async def test_handler_prepared_json_stream_response_is_rewritten_with_new_length() -> None:
    from guard_middleware import GuardMiddleware, GuardSettings

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        payload = json.dumps(
            {"choices": [{"message": {"role": "assistant", "content": "x a@b.io y"}}]}
        ).encode()
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = len(payload)
        await resp.prepare(request)
        await resp.write(payload[:10])
        await resp.write(payload[10:])
        await resp.write_eof()
        return resp

    app = web.Application()
    app.middlewares.append(GuardMiddleware(GuardSettings.load(**OUT_PII)))
    app.router.add_post("/v1/chat/completions", handler)
    async with (
        serve(app) as url,
        aiohttp.ClientSession() as s,
        s.post(f"{url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}) as resp,
    ):
        body = await resp.read()
        assert int(resp.headers["Content-Length"]) == len(body)
        assert json.loads(body)["choices"][0]["message"]["content"] == "x [PII] y"


async def test_upstream_errors_pass_through_unchanged(make_stack: Any) -> None:
    async with (
        make_stack(OUT_PII) as s,
        s.session.post(
            f"{s.url}/v1/chat/completions",
            data=b'{"model":"m","messages":[]}',
            headers={"X-Mock-Reply": "\\q"},
        ) as resp,
    ):
        # the mock fails to decode the bad escape: its 500 comes back as the gateway produced it
        assert resp.status == 500


def _app_returning(make_response: Any, config: dict[str, Any]) -> web.Application:
    from guard_middleware import GuardMiddleware, GuardSettings

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp: web.StreamResponse = await make_response(request)
        return resp

    app = web.Application()
    app.middlewares.append(GuardMiddleware(GuardSettings.load(**config)))
    app.router.add_post("/v1/chat/completions", handler)
    return app


async def _post(app: web.Application, body: Any = None) -> tuple[int, dict[str, str], bytes]:
    body = body if body is not None else {"messages": [{"role": "user", "content": "x"}]}
    async with (
        serve(app) as url,
        aiohttp.ClientSession() as s,
        s.post(f"{url}/v1/chat/completions", json=body) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.read()


ANSWER = json.dumps({"choices": [{"message": {"role": "assistant", "content": "mail a@b.io"}}]}).encode()


async def test_an_answer_without_a_json_content_type_is_sniffed_and_checked() -> None:
    async def respond(request: web.Request) -> web.Response:
        return web.Response(body=ANSWER)  # application/octet-stream: a proxy that dropped the header

    status, _, body = await _post(_app_returning(respond, OUT_PII))
    assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == "mail [PII]"


async def test_an_answer_that_cannot_be_understood_is_refused_when_output_is_guarded() -> None:
    async def respond(request: web.Request) -> web.Response:
        return web.Response(text="mail a@b.io", content_type="text/plain")

    status, _, body = await _post(_app_returning(respond, OUT_PII))
    assert status == 502 and b"a@b.io" not in body
    # with no output guardrail (an explicitly empty policy) there is nothing to check, and the answer
    # passes untouched
    status, _, body = await _post(_app_returning(respond, {"pii": None}))
    assert status == 200 and body == b"mail a@b.io"


@pytest.mark.parametrize("prepared", [False, True])
async def test_handler_compression_is_kept_and_the_plaintext_is_checked(prepared: bool) -> None:
    async def respond(request: web.Request) -> web.StreamResponse:
        if not prepared:
            resp = web.Response(body=ANSWER, content_type="application/json")
            resp.enable_compression()
            return resp
        stream = web.StreamResponse(headers={"Content-Type": "application/json"})
        stream.enable_compression()
        await stream.prepare(request)
        await stream.write(ANSWER)
        await stream.write_eof()
        return stream

    status, headers, body = await _post(_app_returning(respond, OUT_PII))
    assert status == 200 and headers.get("Content-Encoding") in ("deflate", "gzip")
    assert json.loads(body)["choices"][0]["message"]["content"] == "mail [PII]"


async def test_a_stale_content_encoding_on_a_decoded_body_is_repaired_and_checked() -> None:
    # The common proxy bug: the client decompressed the upstream body, the proxy copied the header.
    async def respond(request: web.Request) -> web.Response:
        return web.Response(
            body=ANSWER, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )

    status, headers, body = await _post(_app_returning(respond, OUT_PII))
    assert status == 200 and "Content-Encoding" not in headers
    assert json.loads(body)["choices"][0]["message"]["content"] == "mail [PII]"


async def test_a_handler_that_fails_before_answering_gives_an_openai_shaped_502() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        raise aiohttp.ClientPayloadError("upstream cut off mid-JSON")

    messages = [{"role": "user", "content": "hi"}]
    status, headers, raw = await _post(_app_returning(handler, OUT_PII), {"model": "m", "messages": messages})
    assert status == 502 and headers["Content-Type"].startswith("application/json")
    error = json.loads(raw)["error"]
    assert error["code"] == "upstream_failed" and error["type"] == "upstream_error"


async def test_a_handler_that_fails_mid_stream_ends_it_with_an_error_event() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        chunk = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "Hello there. "}, "finish_reason": None}],
        }
        await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        raise aiohttp.ClientPayloadError("upstream cut off mid-stream")

    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    status, _, raw = await _post(_app_returning(handler, OUT_PII), body)
    assert status == 200
    events = [e for e in raw.decode().split("\n\n") if e.strip()]
    first = json.loads(events[0].removeprefix("data: "))
    assert first["choices"][0]["delta"]["content"].startswith("Hello there.")
    assert json.loads(events[-1].removeprefix("data: "))["error"]["code"] == "upstream_failed"


async def test_the_openai_sdk_sees_a_failed_handler_as_an_api_error() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise aiohttp.ClientPayloadError("upstream cut off")

    async with serve(_app_returning(handler, OUT_PII)) as url:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0)
        with pytest.raises(openai.InternalServerError) as info:
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        await client.close()
    assert info.value.status_code == 502 and info.value.code == "upstream_failed"
