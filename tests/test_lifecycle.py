"""The middleware's resources: nothing global, nothing left open when the app shuts down."""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any

import aiohttp
from aiohttp import web

from examples.gateway import make_gateway
from examples.mock_llm import make_app
from guard_middleware import GuardMiddleware, GuardSettings
from tests.conftest import serve
from tests.fakes.custom import FakeCustomGuardrail


def _remote_settings(url: str) -> GuardSettings:
    return GuardSettings.load(input={"providers": [{"type": "custom", "url": url, "api_key": "cu-test"}]})


async def _one_request(app: web.Application) -> int:
    async with (
        serve(app) as url,
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}
        ) as resp,
    ):
        return resp.status


def test_the_one_line_install_leaves_no_open_session_when_the_loop_ends() -> None:
    holder: dict[str, Any] = {}

    async def scenario() -> int:
        fake = FakeCustomGuardrail()
        async with fake.running() as url, serve(make_app()) as upstream:
            guard = GuardMiddleware(_remote_settings(url))
            holder["guard"] = guard
            app = web.Application()
            app.middlewares.append(guard)  # the one line, nothing else

            async def proxy(request: web.Request) -> web.Response:
                async with (
                    aiohttp.ClientSession() as s,
                    s.post(upstream + "/v1/chat/completions", data=await request.read()) as r,
                ):
                    return web.Response(body=await r.read(), content_type="application/json")

            app.router.add_post("/v1/chat/completions", proxy)
            status = await _one_request(app)
            assert guard.runtime.started  # opened on first use
            return status

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert asyncio.run(scenario()) == 200
        gc.collect()
    assert not holder["guard"].runtime.started
    assert [str(w.message) for w in caught if "nclosed" in str(w.message)] == []


async def test_cleanup_ctx_closes_the_provider_session_on_app_shutdown() -> None:
    fake = FakeCustomGuardrail()
    async with fake.running() as url, serve(make_app()) as upstream:
        guard = GuardMiddleware(_remote_settings(url))
        app = make_gateway(upstream, guard=guard)  # registers guard.cleanup_ctx
        async with serve(app) as gw, aiohttp.ClientSession() as s:
            session_during = None
            async with s.post(
                f"{gw}/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}
            ):
                session_during = guard.runtime.for_guardrail("custom").http
        assert session_during.closed
        assert not guard.runtime.started


async def test_two_guards_in_one_process_keep_their_own_policies(make_stack: Any) -> None:
    strict = {"input": {"providers": [{"type": "blocklist", "patterns": [{"pattern": "banana"}]}]}}
    async with make_stack(strict) as a, make_stack({}) as b:
        assert (await a.chat("banana"))[0] == 400
        assert (await b.chat("banana"))[0] == 200
