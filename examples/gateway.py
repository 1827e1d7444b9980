"""An aiohttp LLM gateway (a reverse proxy) with guard_middleware in front of it.

    python examples/gateway.py                      # guard + built-in mock LLM, no keys needed
    UPSTREAM_BASE_URL=https://api.openai.com OPENAI_API_KEY=... python examples/gateway.py

The guard is the one line in ``make_gateway``; everything else is an ordinary proxy, written the way
gateways are: it forwards the client's body (``FORWARD=read``: ``await request.read()``; or
``FORWARD=stream``: ``request.content`` streamed upstream) and streams SSE answers back chunk by chunk.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from guard_middleware import GuardMiddleware, GuardSettings, metrics_handler

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)
FORWARD = web.AppKey("forward", str)
# Response headers a proxy must not copy: hop-by-hop, or describing the upstream's framing.
_DROP = {
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "content-encoding",
    "date",
    "server",
}


async def proxy(request: web.Request) -> web.StreamResponse:
    session = request.app[SESSION]
    url = request.app[UPSTREAM].rstrip("/") + request.path_qs
    headers = {
        k: v
        for k, v in request.headers.items()
        if k.lower() in ("content-type", "authorization", "accept", "accept-encoding")
        or k.lower().startswith("x-mock-")
    }
    if request.app[FORWARD] == "stream":
        data: object = request.content
        if request.content_length is not None:
            headers["Content-Length"] = str(request.content_length)
    else:
        data = await request.read()
    async with session.request(request.method, url, data=data, headers=headers) as upstream:
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROP}
        if upstream.content_type == "text/event-stream":
            resp = web.StreamResponse(status=upstream.status, headers=out_headers)
            await resp.prepare(request)
            async for chunk in upstream.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp
        return web.Response(body=await upstream.read(), status=upstream.status, headers=out_headers)


async def _session(app: web.Application) -> AsyncIterator[None]:
    app[SESSION] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    yield
    await app[SESSION].close()


def make_gateway(upstream: str, *, guard: GuardMiddleware | None, forward: str = "read") -> web.Application:
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app[UPSTREAM] = upstream
    app[FORWARD] = forward
    app.cleanup_ctx.append(_session)
    if guard is not None:
        app.middlewares.append(guard)  # <- the one line
        app.cleanup_ctx.append(guard.cleanup_ctx)  # optional: open/close the provider session with the app
        app.router.add_get("/metrics", metrics_handler())  # Prometheus scrapes the guard's metrics here
    app.router.add_route("*", "/{tail:.*}", proxy)
    return app


async def _main(args: argparse.Namespace) -> None:
    upstream = os.environ.get("UPSTREAM_BASE_URL")
    runners: list[web.AppRunner] = []
    if not upstream:
        from examples.mock_llm import make_app

        mock = web.AppRunner(make_app())
        await mock.setup()
        await web.TCPSite(mock, "127.0.0.1", args.mock_port).start()
        runners.append(mock)
        upstream = f"http://127.0.0.1:{args.mock_port}"
    guard = None
    if not args.no_guard:
        config = os.environ.get("GUARD_CONFIG_FILE") or str(Path(__file__).with_name("guard.toml"))
        guard = GuardMiddleware(GuardSettings.load(config_file=config))
    gateway = web.AppRunner(make_gateway(upstream, guard=guard, forward=args.forward), access_log=None)
    await gateway.setup()
    await web.TCPSite(gateway, args.host, args.port).start()
    runners.append(gateway)
    print(
        f"gateway on http://{args.host}:{args.port} -> {upstream} (guard {'off' if args.no_guard else 'on'})",
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--mock-port", type=int, default=8081)
    parser.add_argument("--forward", choices=["read", "stream"], default=os.environ.get("FORWARD", "read"))
    parser.add_argument("--no-guard", action="store_true")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
