"""Long-lived I/O resources: one pooled ClientSession for every HTTP provider, one bounded thread pool
for blocking SDKs (boto3), and the verdict cache's connection (Redis). Created on first use inside the
running loop (or on app start-up), closed on app cleanup."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp

from guard_middleware.cache import VerdictCache


class Runtime:
    def __init__(self, pool_size: int = 8, cache: VerdictCache | None = None) -> None:
        self._pool_size = pool_size
        self._cache = cache
        self._session: aiohttp.ClientSession | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lifetime: AsyncIterator[None] | None = None

    async def start(self) -> None:
        if self._session is not None:
            return
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, limit_per_host=128, keepalive_timeout=30),
            # Per-provider deadlines are enforced by the pipeline; this only bounds a stuck socket.
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            raise_for_status=False,
        )
        self._pool = ThreadPoolExecutor(max_workers=self._pool_size, thread_name_prefix="guard-blocking")
        if self._cache is not None:
            await self._cache.start()
        # Safety net for apps that never call close(): asyncio closes live async generators when the
        # loop shuts down (asyncio.run / run_app), which runs the finally clause below.
        self._lifetime = self._live()
        await anext(self._lifetime)

    async def _live(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self._close_resources()

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("runtime not started")
        return self._session

    async def run_blocking(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _close_resources(self) -> None:
        session, pool = self._session, self._pool
        self._session = self._pool = None
        if session is not None:
            await session.close()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if self._cache is not None:
            await self._cache.close()

    async def close(self) -> None:
        lifetime, self._lifetime = self._lifetime, None
        if lifetime is not None:
            await lifetime.aclose()  # type: ignore[attr-defined]
        else:
            await self._close_resources()
