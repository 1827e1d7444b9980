"""Provider calls and latency saved by the verdict cache, on agent-like traffic.

Run: ``python tests/bench_cache.py [--tasks 64] [--turns 8] [--templates 16] [--concurrency 16]
[--delay-ms 40]``. Not a pytest module: it measures and prints, it does not assert.

Set-up: the mock LLM and two gateway processes (examples/gateway with the guard; its only check is one
remote provider on input with ``cache_ttl_s = 300``), the provider's fake in this process answering
after ``--delay-ms`` (a realistic remote provider), and for the Redis rows a real ``redis-server``
(tests/redis_server.py). Providers: ``custom`` (tests/fakes/custom; one call per request, cached by
whole payload) and ``azure`` (``azure_content_safety``, tests/fakes/azure; one call per text, cached per
text). Cache modes: ``none`` (``cache_ttl_s = 0``),
``lru`` (each process its own in-process cache), ``redis`` (both processes share one Redis).

Traffic: ``--tasks`` agent tasks, ``--concurrency`` at a time; each runs ``--turns`` turns, re-sending
its whole growing conversation (system prompt, task, then per turn an assistant step and a ~400-byte
tool result), each request to the next gateway in turn (a load balancer). Two workloads:
- ``distinct``: every task is its own conversation;
- ``workflows``: the tasks run ``--templates`` workflows (several runs of the same scheduled agent,
  eval or retried job send the same conversation turn by turn).
For ``custom`` the cache key is the exact payload: a conversation that grows by a turn is a new
payload, so only repeated payloads are saved. Azure is sent each text on its own, so the re-sent history
is cached text by text. "saved" is relative to the same workload without the cache.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from tests.bench_common import Servers, machine_info, pct, prose, table
from tests.fakes import FakeService
from tests.fakes.azure import FakeAzureContentSafety
from tests.fakes.custom import FakeCustomGuardrail
from tests.redis_server import RedisServer

SYSTEM = "You are an agent. Use the tools to finish the task, one step per turn."


def conversation(seed: int, turns: int) -> list[bytes]:
    """The request bodies of one task, turn by turn (each re-sends everything before it)."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": prose(300, seed)},
    ]
    bodies = []
    for turn in range(turns):
        bodies.append(json.dumps({"model": "mock", "messages": messages}).encode())
        messages = [
            *messages,
            {"role": "assistant", "content": f"Step {turn + 1}: calling the search tool."},
            {"role": "user", "content": "Tool result: " + prose(400, seed * 1000 + turn)},
        ]
    return bodies


async def drive(
    urls: list[str], tasks: list[list[bytes]], concurrency: int
) -> tuple[list[float], float, int]:
    """Latencies (s), elapsed (s) and non-200 answers of every request of ``tasks``."""
    latencies: list[float] = []
    errors = 0
    gateways = itertools.cycle(urls)
    queue = list(enumerate(tasks))
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker() -> None:
            nonlocal errors
            while queue:
                _, bodies = queue.pop(0)
                for body in bodies:
                    t0 = time.perf_counter()
                    async with session.post(
                        f"{next(gateways)}/v1/chat/completions", data=body, headers=headers
                    ) as r:
                        await r.read()
                        errors += r.status != 200
                    latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - start, errors


async def scenario(
    kind: str, mode: str, workload: list[list[bytes]], args: argparse.Namespace, redis_url: str, upstream: str
) -> tuple[int, list[float], float, int]:
    """Provider calls, request latencies, elapsed seconds and failed requests of one run."""
    fake: FakeService = FakeCustomGuardrail(api_key=None) if kind == "custom" else FakeAzureContentSafety()
    fake.fail("delay", delay=args.delay_ms / 1000)
    async with fake.running() as fake_url:
        provider: dict[str, Any] = (
            {"type": "custom", "name": "webhook", "url": f"{fake_url}/guard"}
            if kind == "custom"
            else {"type": "azure_content_safety", "name": "azure", "endpoint": fake_url, "api_key": "az-test"}
        )
        provider["cache_ttl_s"] = 0 if mode == "none" else 300
        guard: dict[str, Any] = {"input": {"providers": [provider]}, "metrics": {"enabled": False}}
        if mode == "redis":
            guard["cache"] = {"url": redis_url, "key_prefix": f"bench:{time.time_ns()}:"}
        with Servers() as servers:
            urls = []
            for i in range(2):
                spec = {"kind": "gateway", "upstream": upstream, "guard": guard, "max_seconds": 600}
                srv = await asyncio.to_thread(servers.start, f"gw{i}_{kind}_{mode}", spec, cpu=None)
                urls.append(srv.url)
            latencies, elapsed, errors = await drive(urls, workload, args.concurrency)
    return len(fake.requests), latencies, elapsed, errors


HEADERS = ["provider", "workload", "cache", "requests", "provider calls", "saved", "p50 ms", "p95 ms", "rps"]


async def main(args: argparse.Namespace) -> None:
    print(machine_info())
    print(
        f"{args.tasks} tasks x {args.turns} turns, {args.concurrency} tasks at a time, provider latency "
        f"{args.delay_ms} ms, 2 gateway processes"
    )
    workloads = {
        "distinct": [conversation(1 + t, args.turns) for t in range(args.tasks)],
        "workflows": [conversation(1 + t % args.templates, args.turns) for t in range(args.tasks)],
    }
    redis = RedisServer()
    upstream_srv = Servers()
    rows: list[list[object]] = []
    try:
        mock = upstream_srv.start("mock", {"kind": "mock", "max_seconds": 600}, cpu=None)
        for kind in ("custom", "azure"):
            for name, workload in workloads.items():
                uncached = 0
                for mode in ("none", "lru", "redis"):
                    calls, latencies, elapsed, errors = await scenario(
                        kind, mode, workload, args, redis.url, mock.url
                    )
                    if errors:
                        raise SystemExit(f"{kind}/{name}/{mode}: {errors} requests failed")
                    uncached = uncached or calls
                    rows.append(
                        [
                            kind,
                            name,
                            mode,
                            len(latencies),
                            calls,
                            f"{100 * (1 - calls / uncached):.1f}%",
                            1000 * pct(latencies, 50),
                            1000 * pct(latencies, 95),
                            len(latencies) / elapsed,
                        ]
                    )
                print(table(HEADERS, rows[-3:]) + "\n", flush=True)
    finally:
        upstream_srv.__exit__()
        redis.stop()
    print(table(HEADERS, rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--templates", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delay-ms", type=float, default=40.0)
    asyncio.run(main(parser.parse_args()))
