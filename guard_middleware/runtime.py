"""Long-lived I/O resources, one set per remote guardrail: a pooled ClientSession for HTTP providers and
a bounded thread pool for blocking SDKs (boto3); and the verdict cache's connection (Redis). Created on
first use inside the running loop (the cache on app start-up), closed on app cleanup.

Each guardrail has its own pool ("lane") so one slow provider holding all its connections cannot make
the others wait. Time a call spends waiting for a connection or a thread is reported through
``on_queue_wait(guardrail, seconds)`` (the middleware wires it to ``guard_provider_queue_seconds``)
and added to the call's ``QueueClock``, so a timeout can say how much of its deadline went to queueing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import aiohttp

from guard_middleware.cache import VerdictCache
from guard_middleware.queue_clock import QUEUE_CLOCK

#: connections (and blocking threads) per guardrail when neither the guardrail nor the settings say
DEFAULT_MAX_CONNECTIONS = 512

QueueWaitHook = Callable[[str, float], None]


def _ignore(guardrail: str, seconds: float) -> None:
    pass


def _release(slots: asyncio.Semaphore, done: asyncio.Future[Any]) -> None:
    slots.release()
    if not done.cancelled():
        done.exception()  # retrieved: a call its caller abandoned must not log "never retrieved"


class _Lane:
    """One guardrail's pool: ``http`` and ``run_blocking``, as ``providers.base.Runtime`` promises."""

    def __init__(self, name: str, max_connections: int, threads: int, hub: Runtime) -> None:
        self.name = name
        self.max_connections = max_connections
        self.threads = threads
        self._hub = hub
        self._session: aiohttp.ClientSession | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None

    def _report(self, seconds: float) -> None:
        self._hub.on_queue_wait(self.name, seconds)

    def for_guardrail(self, name: str, max_connections: int | None = None) -> _Lane:
        return self

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = self._open_session()
        return self._session

    def _open_session(self) -> aiohttp.ClientSession:
        trace = aiohttp.TraceConfig()
        trace.on_connection_queued_start.append(self._queued_start)
        trace.on_connection_queued_end.append(self._queued_end)
        return aiohttp.ClientSession(
            # Every provider of a lane talks to one host: the per-host cap is the lane's cap.
            connector=aiohttp.TCPConnector(
                limit=self.max_connections, limit_per_host=0, keepalive_timeout=30
            ),
            # Per-provider deadlines are enforced by the pipeline; this only bounds a stuck socket.
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            raise_for_status=False,
            trace_configs=[trace],
        )

    async def _queued_start(self, session: Any, ctx: SimpleNamespace, params: Any) -> None:
        clock = QUEUE_CLOCK.get()
        if clock is not None:
            ctx.guard_wait = (clock, clock.begin(self._report))
        else:
            ctx.guard_wait = (None, asyncio.get_running_loop().time())

    async def _queued_end(self, session: Any, ctx: SimpleNamespace, params: Any) -> None:
        clock, token = getattr(ctx, "guard_wait", (None, None))
        if token is None:
            return
        ctx.guard_wait = (None, None)
        if clock is not None:
            clock.end(int(token))
        else:
            self._report(asyncio.get_running_loop().time() - token)

    async def run_blocking(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="guard-blocking")
            self._slots = asyncio.Semaphore(self.threads)
        slots, pool = self._slots, self._pool
        assert slots is not None
        # The semaphore has exactly as many slots as the pool has threads, so a call that got a slot
        # starts at once: the wait for the slot is the whole queueing time, measured on the loop.
        if slots.locked():
            clock = QUEUE_CLOCK.get()
            if clock is not None:
                token = clock.begin(self._report)
                try:
                    await slots.acquire()
                finally:
                    clock.end(token)
            else:
                loop = asyncio.get_running_loop()
                started = loop.time()
                await slots.acquire()
                self._report(loop.time() - started)
        else:
            await slots.acquire()
        if self._pool is not pool:
            # The lane closed while this call waited: fail (the guardrail's error policy decides) rather
            # than run on asyncio's default executor, outside any bound.
            slots.release()
            raise RuntimeError("the guard's provider pool was closed")
        # The slot is freed when the thread is done, not when the caller gives up (a deadline): the
        # thread keeps running, and the next call must wait for it rather than queue unseen in the pool.
        work = asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        work.add_done_callback(lambda done: _release(slots, done))
        return await asyncio.shield(work)

    async def close(self) -> None:
        session, pool = self._session, self._pool
        self._session = self._pool = None
        if session is not None:
            await session.close()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


class Runtime:
    """The lanes of every remote guardrail. ``pools`` maps a guardrail's name to its connection cap;
    ``blocking_threads`` (None: each lane's connection cap) bounds each lane's thread pool."""

    def __init__(
        self,
        pools: Mapping[str, int] | None = None,
        *,
        default_connections: int = DEFAULT_MAX_CONNECTIONS,
        blocking_threads: int | None = None,
        on_queue_wait: QueueWaitHook | None = None,
        cache: VerdictCache | None = None,
    ) -> None:
        self._cache = cache
        self._pools = dict(pools or {})
        self._default_connections = default_connections
        self._blocking_threads = blocking_threads
        self.on_queue_wait: QueueWaitHook = on_queue_wait or _ignore
        self._lanes: dict[str, _Lane] = {}
        self._started = False
        self._lifetime: AsyncIterator[None] | None = None

    @property
    def started(self) -> bool:
        return self._started

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
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

    def for_guardrail(self, name: str, max_connections: int | None = None) -> _Lane:
        """The pool of guardrail ``name`` (created on first use), sized as configured, else by
        ``max_connections`` (guardrails built at run time: Bedrock ids from team metadata share their
        template's pool under one name), else the default."""
        lane = self._lanes.get(name)
        if lane is None:
            if not self._started:
                raise RuntimeError("runtime not started")
            connections = self._pools.get(name, max_connections or self._default_connections)
            lane = self._lanes[name] = _Lane(name, connections, self._blocking_threads or connections, self)
        return lane

    # A caller that does not name a guardrail (a provider driven directly) shares one default lane.
    @property
    def http(self) -> aiohttp.ClientSession:
        return self.for_guardrail("").http

    async def run_blocking(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return await self.for_guardrail("").run_blocking(fn, *args)

    async def _close_resources(self) -> None:
        lanes, self._lanes = self._lanes, {}
        self._started = False
        for lane in lanes.values():
            await lane.close()
        if self._cache is not None:
            await self._cache.close()

    async def close(self) -> None:
        lifetime, self._lifetime = self._lifetime, None
        if lifetime is not None:
            await lifetime.aclose()  # type: ignore[attr-defined]
        else:
            await self._close_resources()
