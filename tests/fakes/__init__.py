"""Faithful local fakes of the remote guardrail services, for tests only.

Every fake is a :class:`FakeService`:

- ``fake.requests``: every request received (:class:`Recorded`: method, path, query, headers, json);
- ``fake.fail(kind, times=None, delay=0.0, retry_after=None)``: program a fault for the next
  ``times`` requests (``None``: all of them). Kinds: ``"500"``, ``"502"``, ``"503"``, ``"429"``,
  ``"401"``, ``"403"`` (the service's own error envelope and headers), ``"delay"`` (sleep ``delay``
  seconds, then answer normally), ``"malformed"`` (200 with a truncated JSON body), ``"html"`` (502 with
  an HTML error page, as a load balancer sends), ``"html200"`` (200 with an HTML page);
- ``async with fake.running() as base_url``: serve on ``127.0.0.1`` on a free port;
- ``fake.app()``: the bare ``aiohttp.web.Application`` to mount elsewhere.

Service behaviour (trigger words, PII) is documented in each module: ``openai_moderation``,
``bedrock``, ``azure``, ``lakera``, ``dynamoai``, ``custom``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["EMAIL_RE", "FakeService", "Recorded", "bearer", "received", "refused_url"]

# Deliberately simple: the fakes need a predictable PII detector, not a good one.
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_RECORDED = web.RequestKey("recorded", object) if hasattr(web, "RequestKey") else "recorded"


def received(request: web.Request) -> Any:
    """The parsed JSON body of *this* request (safe under concurrency, unlike ``requests[-1]``)."""
    return request[_RECORDED].json  # type: ignore[index,attr-defined]


@dataclass
class Recorded:
    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any


@dataclass
class _Fault:
    kind: str
    times: int | None
    delay: float = 0.0
    retry_after: str | None = None


@dataclass
class FakeService:
    """Base class: subclasses add routes in ``routes`` and say how the service spells its errors."""

    requests: list[Recorded] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)

    # --- programming -------------------------------------------------------------------------
    def fail(
        self, kind: str, *, times: int | None = None, delay: float = 0.0, retry_after: str | None = None
    ) -> None:
        self._faults.append(_Fault(kind, times, delay, retry_after))

    def clear_faults(self) -> None:
        self._faults.clear()

    # --- for subclasses ----------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def error(self, status: int, code: str, message: str) -> web.Response:
        """The service's error envelope; subclasses override."""
        return web.json_response({"error": {"code": code, "message": message}}, status=status)

    # --- serving -------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        self.routes(app)
        return app

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        runner = web.AppRunner(self.app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)  # a real service takes bursts
        await site.start()
        try:
            port = runner.addresses[0][1]
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = None
        recorded = Recorded(
            method=request.method,
            path=request.path,
            raw_path=request.raw_path.split("?", 1)[0],
            query=dict(request.query),
            headers=dict(request.headers),
            json=doc,
        )
        self.requests.append(recorded)
        request[_RECORDED] = recorded  # the handler reads its own request, not the latest one
        fault = self._take_fault()
        if fault is not None:
            response = await self._fault_response(fault)
            if response is not None:
                return response
        return await handler(request)

    def _take_fault(self) -> _Fault | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                self._faults.pop(0)
        return fault

    async def _fault_response(self, fault: _Fault) -> web.StreamResponse | None:
        kind = fault.kind
        if kind == "delay":
            await asyncio.sleep(fault.delay)
            return None
        if kind == "malformed":
            return web.Response(status=200, text='{"truncated": ', content_type="application/json")
        if kind in ("html", "html200"):
            page = "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
            return web.Response(status=502 if kind == "html" else 200, text=page, content_type="text/html")
        status = int(kind)
        messages = {
            401: ("Unauthorized", "invalid credentials"),
            403: ("Forbidden", "access denied"),
            429: ("TooManyRequests", "rate limit exceeded"),
            500: ("InternalError", "internal error"),
            502: ("BadGateway", "bad gateway"),
            503: ("ServiceUnavailable", "service unavailable"),
        }
        code, message = messages.get(status, ("Error", "error"))
        response = self.error(status, code, message)
        if fault.retry_after is not None:
            response.headers["Retry-After"] = fault.retry_after
        return response


def refused_url() -> str:
    """A 127.0.0.1 URL nobody listens on (the port was just released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def bearer(request: web.Request) -> str | None:
    value = request.headers.get("Authorization", "")
    return value[7:] if value.startswith("Bearer ") else None
