"""A client that goes away: the guard cancels its provider calls and the handler (closing the upstream
request), in both of aiohttp's `handler_cancellation` modes, and records it as `client_closed`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from tests.fakes.custom import SlowPathGuardrail

# aiohttp's server has had the switch since 3.9; both values are supported by every version we do.
MODES = [pytest.param(False, id="handler_cancellation-off"), pytest.param(True, id="handler_cancellation-on")]


class HangingUpstream:
    """An LLM API that never answers (a hung upstream). ``closed_after`` is how long after it got the
    request its caller closed the connection (None: still open)."""

    def __init__(self) -> None:
        self.received = asyncio.Event()
        self.closed_after: float | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._hang)
        return app

    async def _hang(self, request: web.Request) -> web.Response:
        await request.read()
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.received.set()
        while loop.time() - started < 300:
            await asyncio.sleep(0.02)
            if request.transport is None or request.transport.is_closing():
                self.closed_after = loop.time() - started
                raise ConnectionResetError("the gateway went away")
        return web.json_response({"error": "unreachable"})


@contextlib.asynccontextmanager
async def _raw_request(url: str, body: dict[str, Any]) -> AsyncIterator[asyncio.StreamWriter]:
    """Send one request on a raw connection; leaving the block closes it without reading the answer
    (a client that gave up)."""
    host, port = url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    data = json.dumps(body).encode()
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    await writer.drain()
    try:
        yield writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _eventually(check: Callable[[], bool], within: float = 2.0) -> bool:
    loop = asyncio.get_running_loop()
    until = loop.time() + within
    while not check() and loop.time() < until:
        await asyncio.sleep(0.02)
    return check()


def _closed(registry: CollectorRegistry, stage: str) -> float:
    value = registry.get_sample_value(
        "guard_client_closed_total", {"route": "/v1/chat/completions", "stage": stage}
    )
    return value or 0.0


CHAT = {"model": "mock", "messages": [{"role": "user", "content": "hello"}]}


@pytest.mark.parametrize("cancellation", MODES)
async def test_a_client_gone_during_input_checks_cancels_the_provider_call_and_never_calls_upstream(
    make_stack: Callable[..., Any], caplog: pytest.LogCaptureFixture, cancellation: bool
) -> None:
    fake = SlowPathGuardrail(delay=30.0)
    registry = CollectorRegistry()
    async with fake.running() as url:
        config = {
            "input": {
                "timeout_ms": 60_000,
                "providers": [{"type": "custom", "url": f"{url}/slow", "api_key": "cu-test"}],
            }
        }
        async with make_stack(config, handler_cancellation=cancellation, registry=registry) as stack:
            with caplog.at_level(logging.DEBUG, logger="guard_middleware"):
                async with _raw_request(stack.url, CHAT):
                    assert await _eventually(lambda: len(fake.requests) == 1)
                # The guard closed its call to the provider, which saw the connection drop.
                assert await _eventually(lambda: fake.dropped == 1)
                assert await _eventually(lambda: _closed(registry, "input") == 1)
            assert stack.record.bodies == []  # the upstream was never called
    audit = [r.__dict__ for r in caplog.records if getattr(r, "event", None) == "client_closed"]
    assert [(a["status"], a["stage"], a["route"]) for a in audit] == [
        ("client_closed", "input", "/v1/chat/completions")
    ]


@pytest.mark.parametrize("cancellation", MODES)
async def test_a_client_gone_while_the_upstream_hangs_closes_the_upstream_connection_at_once(
    make_stack: Callable[..., Any], cancellation: bool
) -> None:
    upstream = HangingUpstream()
    registry = CollectorRegistry()
    async with make_stack(
        None, upstream_app=upstream.app(), handler_cancellation=cancellation, registry=registry
    ) as stack:
        async with _raw_request(stack.url, CHAT):
            await asyncio.wait_for(upstream.received.wait(), 5)
        # Without the guard's watch (handler_cancellation off) the gateway would hold it for 300 s.
        assert await _eventually(lambda: upstream.closed_after is not None)
        assert await _eventually(lambda: _closed(registry, "upstream") == 1)
    assert upstream.closed_after is not None and upstream.closed_after < 5


@pytest.mark.parametrize("cancellation", MODES)
async def test_requests_whose_client_stays_are_answered_as_before_on_one_connection(
    make_stack: Callable[..., Any], cancellation: bool
) -> None:
    fake = SlowPathGuardrail(delay=0.05)
    registry = CollectorRegistry()
    async with fake.running() as url:
        config = {"input": {"providers": [{"type": "custom", "url": f"{url}/slow", "api_key": "cu-test"}]}}
        async with make_stack(config, handler_cancellation=cancellation, registry=registry) as stack:
            # Three requests on one keep-alive connection, then a streamed one.
            for _ in range(3):
                status, _, body = await stack.chat("hello there")
                assert status == 200 and body["choices"][0]["message"]["content"]
            status, _, text = await stack.chat("hello", stream=True)
            assert status == 200 and text.rstrip().endswith("data: [DONE]")
    assert _closed(registry, "input") == _closed(registry, "upstream") == 0
    assert fake.dropped == 0


@pytest.mark.parametrize("cancellation", MODES)
async def test_with_concurrent_input_checks_both_the_provider_call_and_the_upstream_stop(
    make_stack: Callable[..., Any], cancellation: bool
) -> None:
    fake = SlowPathGuardrail(delay=30.0)
    upstream = HangingUpstream()
    registry = CollectorRegistry()
    async with fake.running() as url:
        provider = {"type": "custom", "url": f"{url}/slow", "api_key": "cu-test"}
        config = {"input": {"mode": "concurrent", "timeout_ms": 60_000, "providers": [provider]}}
        async with make_stack(
            config, upstream_app=upstream.app(), handler_cancellation=cancellation, registry=registry
        ) as stack:
            async with _raw_request(stack.url, CHAT):
                await asyncio.wait_for(upstream.received.wait(), 5)
                assert await _eventually(lambda: len(fake.requests) == 1)
            assert await _eventually(lambda: fake.dropped == 1)
            assert await _eventually(lambda: upstream.closed_after is not None)
            assert await _eventually(lambda: _closed(registry, "input") == 1)


def test_every_supported_aiohttp_has_the_slot_the_watch_borrows() -> None:
    # CI runs this on the newest aiohttp and on 3.10: an aiohttp that drops the slot fails here first.
    from guard_middleware._aiohttp_compat import disconnect_watch_supported

    assert disconnect_watch_supported()


def test_an_aiohttp_without_the_slot_is_named_at_start_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from guard_middleware import GuardMiddleware, _aiohttp_compat

    monkeypatch.setattr(_aiohttp_compat, "disconnect_watch_supported", lambda: False)
    with caplog.at_level(logging.WARNING, logger="guard_middleware"):
        GuardMiddleware(registry=CollectorRegistry())
    assert any("client disconnects are not noticed" in r.getMessage() for r in caplog.records)
