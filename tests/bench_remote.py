"""Overhead of a remote guardrail provider per request, above the provider's own latency.

Run: ``python tests/bench_remote.py [--seconds 5] [--rounds 3] [--concurrency 100] [--delay-ms 20]``.
Not a pytest module: it measures and prints, it does not assert.

Set-up (each server in its own process; on 2+ CPUs the gateways are pinned to the first CPU and the
mock LLM, the fake guardrail, this process and the load generator to the second):
- ``fake``: the fake custom guardrail (tests/fakes/custom.py), answering ``allow`` after a fixed
  ``--delay-ms`` on every request;
- ``bare``: the example gateway (examples/gateway) without the guard;
- ``sleep``: the same gateway with a middleware that waits ``--delay-ms`` before calling the handler
  (the provider's latency, without the provider);
- ``guarded``: the same gateway with the guard whose only check is the ``custom`` provider on input
  (``input.providers = [{type = "custom", url = <fake>}]``; no PII, no output checks).
Load: closed loop with ``--concurrency`` requests in flight (``wrk`` if installed, else an aiohttp
client), 1 KB chat requests, rounds alternating bare/sleep/guarded; then the same at 1 request in flight.
Overhead = latency(guarded) - latency(sleep), per percentile (median, p95) of the round medians; also
shown: latency(guarded) - latency(bare) - delay. The gateway's CPU per request tells what the overhead
costs when the gateway is busy (at 100 in flight it is CPU-bound on one core, so latency differences
there are mostly queueing behind that extra CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.bench_common import (
    CpuMeter,
    LoadResult,
    Server,
    Servers,
    WrkLoad,
    aiohttp_load,
    chat_bodies,
    machine_info,
    median,
    pin_self,
    placement,
    settle,
    table,
    verdict,
    wrk_path,
)

TARGET_MS = 1.0


def run_load(load: WrkLoad | None, server: Server, bodies: list[bytes], seconds: float,
             concurrency: int) -> LoadResult:
    if load is not None:
        return load.run(server.url, seconds, concurrency)
    return asyncio.run(aiohttp_load(server.url, bodies, seconds, concurrency))


def measure(load: WrkLoad | None, configs: dict[str, Server], others: list[Server], bodies: list[bytes],
            rounds: int, seconds: float, concurrency: int) -> dict[str, list[LoadResult]]:
    results: dict[str, list[LoadResult]] = {name: [] for name in configs}
    rows: list[list[object]] = []
    for server in configs.values():
        run_load(load, server, bodies, 1, concurrency)  # warm-up
    for r in range(1, rounds + 1):
        for name, server in configs.items():
            settle([*configs.values(), *others])
            meter = CpuMeter([server, *others])
            res = run_load(load, server, bodies, seconds, concurrency)
            cpu = meter.stop()
            results[name].append(res)
            gw_ms = 1000 * (cpu[server.name] / 100) * res.seconds / max(1, res.requests)
            rows.append([r, name, f"{res.rps:,.0f}", res.errors, f"{res.p50_ms:.2f}", f"{res.p95_ms:.2f}",
                         f"{res.p99_ms:.2f}", f"{cpu[server.name]:.0f}%", f"{gw_ms:.3f}",
                         *(f"{cpu[o.name]:.0f}%" for o in others), f"{res.client_cpu_pct:.0f}%"])
    print(table(["round", "config", "req/s", "errors", "p50 ms", "p95 ms", "p99 ms", "gateway CPU",
                 "gw CPU ms/req", *(f"{o.name} CPU" for o in others), "client CPU"], rows))
    return results


def summarize(results: dict[str, list[LoadResult]], delay_ms: float, label: str) -> None:
    def med(name: str, attr: str) -> float:
        return median([getattr(r, attr) for r in results[name]])

    rows = []
    for attr, pname in (("p50_ms", "median"), ("p95_ms", "p95")):
        bare, sleep, guarded = med("bare", attr), med("sleep", attr), med("guarded", attr)
        over = guarded - sleep
        rows.append([pname, f"{bare:.2f}", f"{sleep:.2f}", f"{guarded:.2f}", f"{over:+.2f}",
                     f"{guarded - bare - delay_ms:+.2f}", f"<= {TARGET_MS:g}",
                     verdict(over, TARGET_MS, higher_is_better=False)])
    print(f"\noverhead at {label} (median over rounds of each round's percentile):")
    print(table(["latency", "bare ms", "sleep ms", "guarded ms", "guarded-sleep ms",
                 f"guarded-bare-{delay_ms:g} ms", "target", ""], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5, help="length of one round (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per config (default 3)")
    parser.add_argument("--concurrency", type=int, default=100, help="requests in flight (default 100)")
    parser.add_argument("--delay-ms", type=float, default=20, help="the provider's fixed latency (20)")
    parser.add_argument("--no-wrk", action="store_true", help="use the aiohttp client even if wrk exists")
    args = parser.parse_args()

    gw_cpu, other_cpu = placement()
    print(machine_info())
    pin_self(other_cpu)
    use_wrk = wrk_path() is not None and not args.no_wrk
    print(f"load: {'wrk -t1' if use_wrk else 'aiohttp client'}, closed loop, 1 KB chat requests; "
          f"provider delay {args.delay_ms:g} ms")
    if gw_cpu is not None:
        print(f"placement: gateways pinned to CPU {gw_cpu}; mock LLM, fake guardrail, this process and the "
              f"load generator pinned to CPU {other_cpu} (os.sched_setaffinity)")
    bodies = chat_bodies(1024, 8, seed=1024)

    with Servers() as servers:
        mock = servers.start("mock", {"kind": "mock"}, cpu=other_cpu)
        fake = servers.start("fake", {"kind": "fake_custom", "delay_ms": args.delay_ms}, cpu=other_cpu)
        base = {"kind": "gateway", "upstream": mock.url, "guard": None}
        configs = {
            "bare": servers.start("bare", base, cpu=gw_cpu),
            "sleep": servers.start("sleep", {**base, "sleep_ms": args.delay_ms}, cpu=gw_cpu),
            "guarded": servers.start("guarded", {**base, "guard": {
                "input": {"providers": [{"type": "custom", "url": fake.url + "/guard"}]}}}, cpu=gw_cpu),
        }
        load = WrkLoad(bodies) if use_wrk else None
        try:
            print("\nsanity (1 request in flight, 1 s): ", end="")
            check = {name: run_load(load, s, bodies, 1, 1) for name, s in configs.items()}
            print(", ".join(f"{n} {r.requests} req, {r.errors} errors, p50 {r.p50_ms:.2f} ms"
                            for n, r in check.items()))
            if any(r.errors or not r.requests for r in check.values()):
                raise SystemExit("sanity requests failed; not benchmarking")

            print(f"\n== {args.concurrency} requests in flight, rounds of {args.seconds:g}s ==")
            results = measure(load, configs, [fake, mock], bodies, args.rounds, args.seconds,
                              args.concurrency)
            summarize(results, args.delay_ms, f"{args.concurrency} in flight")

            floor_seconds = max(2.0, args.seconds / 2)
            print(f"\n== 1 request in flight (the floor: no queueing), rounds of {floor_seconds:g}s ==")
            results1 = measure(load, configs, [fake, mock], bodies, max(2, args.rounds - 1), floor_seconds, 1)
            summarize(results1, args.delay_ms, "1 in flight")
            provider_body = json.dumps({
                "phase": "input", "request_id": "bench", "route": "/v1/chat/completions", "metadata": {},
                "segments": [{"text": json.loads(b)["messages"][1]["content"], "role": "user",
                              "path": ["messages", 1, "content"]} for b in bodies[:1]]}).encode()
            direct = WrkLoad([provider_body], "/guard") if use_wrk else None
            try:
                if direct is not None:
                    settle([*configs.values(), fake, mock])
                    own = direct.run(fake.url, floor_seconds, 1)
                    g50 = median([r.p50_ms for r in results1["guarded"]])
                    b50 = median([r.p50_ms for r in results1["bare"]])
                    print(f"\nthe provider's own latency (the fake called directly, 1 in flight): "
                          f"p50 {own.p50_ms:.2f} ms, p95 {own.p95_ms:.2f} ms, i.e. "
                          f"{own.p50_ms - args.delay_ms:+.2f} ms above its programmed delay at the median; "
                          f"overhead above it: guarded - bare - provider = "
                          f"{g50 - b50 - own.p50_ms:+.2f} ms (median)")
            finally:
                if direct is not None:
                    direct.close()
        finally:
            if load is not None:
                load.close()


if __name__ == "__main__":
    main()
