"""Shared fixtures: real aiohttp servers on 127.0.0.1 (a mock LLM, and the example gateway with the
guard in front of it), started with ``web.AppRunner`` like production, not ``TestServer``."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from aiohttp import web
from hypothesis import settings

from examples.gateway import make_gateway
from examples.mock_llm import RECORD, Record, make_app
from guard_middleware import GuardMiddleware, GuardSettings

# CI replays the same examples every run (a red CI must mean a regression); local runs explore.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@contextlib.asynccontextmanager
async def serve(
    app: web.Application, *, handler_cancellation: bool = False, auto_decompress: bool = True
) -> AsyncIterator[str]:
    runner = web.AppRunner(
        app, handler_cancellation=handler_cancellation, access_log=None, auto_decompress=auto_decompress
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    sock: socket.socket = site._server.sockets[0]  # type: ignore[union-attr]
    port = sock.getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class Stack:
    """The mock LLM, the gateway in front of it, and a client session to talk to the gateway."""

    def __init__(
        self,
        url: str,
        upstream: str,
        record: Record,
        session: aiohttp.ClientSession,
        guard: GuardMiddleware | None,
    ) -> None:
        self.url = url
        self.upstream = upstream
        self.record = record
        self.session = session
        self.guard = guard

    async def chat(
        self, content: str | list[Any] | None = None, *, headers: dict[str, str] | None = None, **body: Any
    ) -> tuple[int, dict[str, Any], Any]:
        payload: dict[str, Any] = {"model": "mock"}
        if content is not None:
            payload["messages"] = [{"role": "user", "content": content}]
        payload.update(body)
        async with self.session.post(
            f"{self.url}/v1/chat/completions", json=payload, headers=headers or {}
        ) as resp:
            data = (
                await resp.json(content_type=None)
                if resp.content_type != "text/event-stream"
                else await resp.text()
            )
            return resp.status, dict(resp.headers), data


# The official SDKs as a user's client of a stack (no retries: a test sees the first answer).
def oai(s: Stack) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{s.url}/v1", api_key="k", max_retries=0)


def anth(s: Stack) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=s.url, api_key="k", max_retries=0)


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def make_stack() -> Callable[..., Any]:
    @contextlib.asynccontextmanager
    async def factory(
        config: dict[str, Any] | str | None = None,
        *,
        forward: str = "read",
        guard: bool = True,
        upstream_app: web.Application | None = None,
        handler_cancellation: bool = False,
        auto_decompress: bool = True,
        **guard_kwargs: Any,
    ) -> AsyncIterator[Stack]:
        mock = upstream_app or make_app()
        async with serve(mock) as upstream:
            middleware = None
            if guard:
                if isinstance(config, str):
                    settings = GuardSettings.load(config_file=config)
                else:
                    settings = GuardSettings.load(**(config or {}))
                middleware = GuardMiddleware(settings, **guard_kwargs)
            app = make_gateway(upstream, guard=middleware, forward=forward)
            async with (
                serve(app, handler_cancellation=handler_cancellation, auto_decompress=auto_decompress) as url,
                aiohttp.ClientSession() as s,
            ):
                yield Stack(url, upstream, mock[RECORD] if RECORD in mock else Record(), s, middleware)

    return factory
