"""A burst of requests against a slow provider: the old fixed pool (128 connections per host) against
the per-guardrail pool at its default (``provider_max_connections = 512``).

Run: ``python tests/bench_pool.py [--requests 300] [--delay-ms 2000] [--timeout-ms 5000]``.
Not a pytest module: it measures and prints, it does not assert.

Set-up (each server in its own process; on 2+ CPUs the gateway is pinned to the first CPU and the
rest to the second): the fake custom guardrail answering ``allow`` after ``--delay-ms``, the mock LLM,
and the example gateway with the guard whose only check is that provider on input, its deadline
``--timeout-ms``. ``cap 128`` sets ``provider_max_connections = 128``, the pool every provider
shared before (``TCPConnector(limit_per_host=128)``); ``default`` leaves it at 512. Load: ``--requests``
requests sent at once, each on its own connection; counted: statuses, and latency percentiles of the
requests that got 200.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from tests.bench_common import Servers, chat_bodies, machine_info, pct, pin_self, placement, table


async def burst(url: str, bodies: list[bytes]) -> tuple[Counter[int], list[float]]:
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(body: bytes) -> None:
            started = time.perf_counter()
            async with session.post(
                f"{url}/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
            ) as resp:
                await resp.read()
                statuses[resp.status] += 1
                if resp.status == 200:
                    latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(one(b) for b in bodies))
    return statuses, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--delay-ms", type=int, default=2000)
    parser.add_argument("--timeout-ms", type=int, default=5000)
    args = parser.parse_args()
    gateway_cpu, other_cpu = placement()
    pin_self(other_cpu)
    print(machine_info())
    print(
        f"{args.requests} requests at once; provider answers in {args.delay_ms} ms; "
        f"deadline {args.timeout_ms} ms\n"
    )
    rows = []
    with Servers() as servers:
        fake = servers.start("fake", {"kind": "fake_custom", "delay_ms": args.delay_ms}, cpu=other_cpu)
        mock = servers.start("mock", {"kind": "mock"}, cpu=other_cpu)
        for label, pool in (("cap 128 (before)", 128), ("default 512 (now)", None)):
            guard = {
                "input": {
                    "timeout_ms": args.timeout_ms,
                    "providers": [{"type": "custom", "url": fake.url}],
                },
                "pii": {"enabled": False},
            }
            if pool is not None:
                guard["provider_max_connections"] = pool
            gateway = servers.start(
                f"gateway-{pool}", {"kind": "gateway", "upstream": mock.url, "guard": guard}, cpu=gateway_cpu
            )
            bodies = chat_bodies(1024, args.requests)
            statuses, latencies = asyncio.run(burst(gateway.url, bodies))
            gateway.stop()
            ok = statuses.get(200, 0)
            rows.append(
                [
                    label,
                    ok,
                    statuses.get(504, 0),
                    sum(n for s, n in statuses.items() if s not in (200, 504)),
                    f"{pct(latencies, 50):.2f}" if latencies else "-",
                    f"{pct(latencies, 99):.2f}" if latencies else "-",
                ]
            )
    print(table(["pool", "200", "504", "other", "p50 s (200s)", "p99 s (200s)"], rows))


if __name__ == "__main__":
    main()
