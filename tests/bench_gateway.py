"""Throughput of the example gateway without vs with the guard (non-streaming chat requests).

Run: ``python tests/bench_gateway.py [--seconds 5] [--rounds 3] [--concurrency 64]``.
Not a pytest module: it measures and prints, it does not assert.

Set-up: the mock LLM (examples/mock_llm) and each gateway (examples/gateway, ``forward="read"``) run in
their own processes. On a machine with 2+ CPUs every gateway is pinned to the first CPU and the mock,
this process and the load generator (``wrk`` if installed, else an aiohttp client) to the second, so the
measured gateway has a core to itself and the ratio compares gateway CPU cost. Rounds alternate
(bare, guarded, bare, guarded, ...) in one run; the ratio is median(guarded) / median(bare).
The guard is "defaults plus a 1,000-literal blocklist and PII redaction": input and output blocklists
of 1,000 generated literals, ``[pii] action = "redact", apply_to = "both"`` (audit on, as by default;
its JSON records go to the gateway's stderr log file). The mock echoes the user text, so the output
checks see as much text as the input checks.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from tests.bench_common import (
    CpuMeter,
    LoadResult,
    Server,
    Servers,
    WrkLoad,
    aiohttp_load,
    blocklist_table,
    chat_bodies,
    collapsed_top,
    machine_info,
    median,
    pin_self,
    placement,
    pyspy_start,
    settle,
    table,
    verdict,
    wrk_path,
)

TARGETS = {1024: 0.90, 20480: 0.75}


def guard_settings(literal_count: int) -> dict[str, Any]:
    bl = blocklist_table(literal_count)
    return {
        "input": {"providers": [bl]},
        "output": {"providers": [bl]},
        "pii": {"action": "redact", "apply_to": "both"},
    }


async def check_once(url: str, body: bytes) -> tuple[int, str, int]:
    async with aiohttp.ClientSession() as s, s.post(
        url + "/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
    ) as resp:
        data = await resp.read()
        return resp.status, resp.headers.get("X-Guardrails-Applied", "-"), len(data)


class Driver:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.use_wrk = wrk_path() is not None and not args.no_wrk
        self.loads: dict[int, WrkLoad] = {}

    def run(self, server: Server, size: int, bodies: list[bytes], seconds: float) -> LoadResult:
        if self.use_wrk:
            if size not in self.loads:
                self.loads[size] = WrkLoad(bodies)
            return self.loads[size].run(server.url, seconds, self.args.concurrency)
        return asyncio.run(aiohttp_load(server.url, bodies, seconds, self.args.concurrency))

    def close(self) -> None:
        for load in self.loads.values():
            load.close()


def alternate(driver: Driver, configs: list[tuple[str, Server]], mock: Server, size: int,
              bodies: list[bytes], rounds: int, seconds: float) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {name: [] for name, _ in configs}
    rows: list[list[object]] = []
    for server in {s.name: s for _, s in configs}.values():
        driver.run(server, size, bodies, 1)  # warm-up: connections, caches, first-use imports
    for r in range(1, rounds + 1):
        for name, server in configs:
            settle([s for _, s in configs] + [mock])
            meter = CpuMeter([server, mock])
            res = driver.run(server, size, bodies, seconds)
            cpu = meter.stop()
            rates[name].append(res.rps)
            gw_cpu_ms = 1000 * (cpu[server.name] / 100) * res.seconds / max(1, res.requests)
            rows.append([r, name, f"{res.rps:,.0f}", res.errors, f"{res.p50_ms:.1f}", f"{res.p99_ms:.1f}",
                         f"{cpu[server.name]:.0f}%", f"{gw_cpu_ms:.3f}", f"{cpu[mock.name]:.0f}%",
                         f"{res.client_cpu_pct:.0f}%"])
    print(table(["round", "config", "req/s", "errors", "p50 ms", "p99 ms", "gateway CPU", "gw CPU ms/req",
                 "mock CPU", f"client CPU ({'wrk' if driver.use_wrk else 'aiohttp'})"], rows))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5, help="length of one round (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per config and size (default 3)")
    parser.add_argument("--concurrency", type=int, default=64, help="connections/workers (default 64)")
    parser.add_argument("--sizes", default="1024,20480", help="request sizes in bytes (default 1024,20480)")
    parser.add_argument("--no-wrk", action="store_true", help="use the aiohttp client even if wrk exists")
    parser.add_argument("--skip-10", action="store_true", help="skip the 1,000-vs-10 literal comparison")
    parser.add_argument("--profile-seconds", type=float, default=0,
                        help="py-spy the guarded gateway for this long at the largest size (default: off)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    gw_cpu, other_cpu = placement()
    print(machine_info())
    pin_self(other_cpu)
    driver = Driver(args)
    print(f"load: {'wrk -t1' if driver.use_wrk else 'aiohttp client (wrk not found)'} with "
          f"{args.concurrency} connections, closed loop; rounds of {args.seconds:g}s alternating configs")
    if gw_cpu is not None:
        print(f"placement: gateways pinned to CPU {gw_cpu}; mock LLM, this process and the load generator "
              f"pinned to CPU {other_cpu} (os.sched_setaffinity)")
    else:
        print("placement: single CPU, no pinning (numbers are indicative only)")

    with Servers() as servers:
        mock = servers.start("mock", {"kind": "mock"}, cpu=other_cpu)
        spec = {"kind": "gateway", "upstream": mock.url, "forward": "read"}
        bare = servers.start("bare", {**spec, "guard": None}, cpu=gw_cpu)
        guarded = servers.start("guarded", {**spec, "guard": guard_settings(1000)}, cpu=gw_cpu)
        guarded10 = None
        if not args.skip_10:
            guarded10 = servers.start("guarded10", {**spec, "guard": guard_settings(10)}, cpu=gw_cpu)
        print(f"processes: mock pid {mock.pid}, bare gateway pid {bare.pid}, "
              f"guarded gateway pid {guarded.pid}"
              + (f", guarded-10 gateway pid {guarded10.pid}" if guarded10 else ""))

        bodies = {size: chat_bodies(size, 8, seed=size) for size in sizes}
        for size in sizes:
            for server in (bare, guarded):
                status, applied, length = asyncio.run(check_once(server.url, bodies[size][0]))
                print(f"  sanity {server.name:8} {size:>6} B request -> HTTP {status}, "
                      f"X-Guardrails-Applied: {applied}, {length} B answer")
                if status != 200:
                    raise SystemExit("a sanity request failed; not benchmarking")

        summary: list[list[object]] = []
        for size in sizes:
            print(f"\n== {size:,} B chat requests "
                  "(8 prose bodies, ~10% of sentences with PII; every request numbered: no two alike) ==")
            rates = alternate(driver, [("bare", bare), ("guarded", guarded)], mock, size, bodies[size],
                              args.rounds, args.seconds)
            mb, mg = median(rates["bare"]), median(rates["guarded"])
            ratio = mg / mb if mb else float("nan")
            target = TARGETS.get(size)
            summary.append([f"{size:,} B", f"{mb:,.0f}", f"{mg:,.0f}", f"{ratio:.3f}",
                            f">= {target:.2f}" if target else "-",
                            verdict(ratio, target) if target else "-"])

        print("\n== Summary: throughput ratio guarded/bare (median of rounds) ==")
        print(table(["size", "bare req/s", "guarded req/s", "ratio", "target", ""], summary))

        if guarded10 is not None:
            print("\n== Blocklist size: 1,000 vs 10 literals (same guard otherwise), through the gateway ==")
            rows = []
            for size in sizes:
                print(f"-- {size:,} B --")
                rates = alternate(driver, [("guarded10", guarded10), ("guarded", guarded)], mock, size,
                                  bodies[size], max(2, args.rounds - 1), max(3.0, args.seconds - 1))
                m10, m1000 = median(rates["guarded10"]), median(rates["guarded"])
                rows.append([f"{size:,} B", f"{m10:,.0f}", f"{m1000:,.0f}", f"{m1000 / m10:.3f}"])
            print(table(["size", "10 literals req/s", "1,000 literals req/s", "ratio 1000/10"], rows))

        if args.profile_seconds > 0:
            size = max(sizes)
            out = Path(tempfile.gettempdir()) / f"bench_gateway_pyspy_{size}.txt"
            spy = pyspy_start(guarded.pid, args.profile_seconds, out)
            if spy is None:
                print("\n(py-spy not installed: no profile)")
            else:
                time.sleep(0.5)
                driver.run(guarded, size, bodies[size], args.profile_seconds + 1)
                spy.wait(timeout=args.profile_seconds + 60)
                print(f"\n== py-spy of the guarded gateway under load, {size:,} B requests ({out}) ==")
                print(collapsed_top(out, 20, focus="guard_middleware") if out.exists()
                      else "(no profile written)")
    driver.close()


if __name__ == "__main__":
    main()
