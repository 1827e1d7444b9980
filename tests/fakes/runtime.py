"""A minimal ``Runtime`` for provider tests: one aiohttp session and a small thread pool."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp


class TestRuntime:
    __test__ = False  # not a pytest test class

    def __init__(self, session: aiohttp.ClientSession, pool: ThreadPoolExecutor) -> None:
        self._session = session
        self._pool = pool

    @property
    def http(self) -> aiohttp.ClientSession:
        return self._session

    async def run_blocking(self, fn: Any, /, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def for_guardrail(self, name: str) -> TestRuntime:
        return self


@contextlib.asynccontextmanager
async def make_runtime() -> AsyncIterator[TestRuntime]:
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="test-provider")
    try:
        async with aiohttp.ClientSession() as session:
            yield TestRuntime(session, pool)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
