"""The ``/metrics`` endpoint for the gateway: ``app.router.add_get("/metrics", metrics_handler())``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder


def metrics_handler(
    registry: CollectorRegistry | None = None,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler serving ``registry`` (default: prometheus_client's global one, where the guard
    registers unless given another) in the text format, or OpenMetrics when the scraper asks for it."""
    served = REGISTRY if registry is None else registry

    async def handle(request: web.Request) -> web.Response:
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        # On the loop thread, where the counters are written: a scrape reads a consistent snapshot.
        return web.Response(body=encode(served), headers={"Content-Type": content_type})

    return handle
