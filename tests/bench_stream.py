"""Streaming (SSE) through the example gateway: bare vs guarded throughput, added time to first token
per ``streaming_mode``, and the gateway's memory on one very long stream.

Run: ``python tests/bench_stream.py [--seconds 4] [--rounds 3] [--concurrency 150]``.
Not a pytest module: it measures and prints, it does not assert.

Set-up: the mock LLM (examples/mock_llm) and four gateways (examples/gateway: bare, and guarded with
``streaming_mode`` final_only, per_chunk, buffered/buffer_tokens=50) each run in their own process; on
2+ CPUs the gateways are pinned to the first CPU, and the mock, this process and the load generator to
the second. The guard has PII redaction on output (``[pii] action = "redact", apply_to = "output"``)
and an output blocklist of 1,000 generated literals. The reply (forced with ``X-Mock-Reply``) is a few
hundred characters of prose with an e-mail and a phone number, sent in 4-character chunks.

1. Throughput: closed loop, ``--concurrency`` streams in flight (``wrk`` if installed, else an aiohttp
   client), rounds alternating bare/guarded modes; streams/s and upstream chunks/s (= streams/s x chunks
   per stream), ratio guarded/bare of the medians.
2. Time to first token: ``--ttft-concurrency`` streams in flight with ``X-Mock-Delay-Ms`` between chunks
   (a model producing ~1 token per delay), time from sending the request to receiving the first SSE
   event with non-empty ``delta.content``; rounds alternate configs; added = guarded - bare.
3. Memory: fresh gateways, one stream of ``--short-chars`` then one of ``--long-chars`` characters (the
   mock echoes the prompt), sampling the gateway's VmRSS every 10 ms; growth = peak - before.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from tests.bench_common import (
    CpuMeter,
    Server,
    Servers,
    WrkLoad,
    blocklist_table,
    chat_body,
    collapsed_top,
    machine_info,
    median,
    pct,
    pin_self,
    placement,
    proc_rss_kb,
    prose,
    pyspy_start,
    settle,
    table,
    verdict,
    wrk_path,
)

MODES: dict[str, Any] = {
    "final_only": "final_only",
    "per_chunk": "per_chunk",
    "buffered50": {"buffered": {"buffer_tokens": 50}},
}
TARGET = 0.85
PATH = "/v1/chat/completions"


def guard_settings(mode: Any) -> dict[str, Any]:
    return {
        "output": {"providers": [blocklist_table(1000)], "streaming_mode": mode},
        "pii": {"action": "redact", "apply_to": "output"},
    }


def reply_text(chars: int) -> str:
    text = prose(chars, seed=5)
    middle = len(text) // 2
    return text[:middle] + " Mail jane.doe@example.com or call 555-867-5309. " + text[middle:]


def mock_headers(reply: str, delay_ms: int = 0) -> dict[str, str]:
    headers = {"X-Mock-Reply": json.dumps(reply)[1:-1], "X-Mock-Chunk": "4"}
    if delay_ms:
        headers["X-Mock-Delay-Ms"] = str(delay_ms)
    return headers


def _content(event: bytes) -> str:
    if not event.startswith(b"data: ") or event.startswith(b"data: [DONE]"):
        return ""
    try:
        chunk = json.loads(event[6:])
    except ValueError:
        return ""
    parts = []
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        if isinstance(delta.get("content"), str):
            parts.append(delta["content"])
    return "".join(parts)


async def one_stream(session: aiohttp.ClientSession, url: str, body: bytes,
                     headers: dict[str, str]) -> tuple[float | None, int, str, int]:
    """(seconds to the first non-empty content, events, content, status) of one streamed answer."""
    t0 = time.perf_counter()
    first: float | None = None
    events = 0
    buf = b""
    content: list[str] = []
    async with session.post(url + PATH, data=body,
                            headers={"Content-Type": "application/json", **headers}) as resp:
        async for data in resp.content.iter_any():
            buf += data
            *complete, buf = buf.split(b"\n\n")
            for event in complete:
                events += 1
                text = _content(event)
                if text:
                    if first is None:
                        first = time.perf_counter() - t0
                    content.append(text)
        return first, events, "".join(content), resp.status


async def ttft_round(url: str, body: bytes, headers: dict[str, str], seconds: float,
                     concurrency: int) -> tuple[list[float], int]:
    samples: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                first, _, _, status = await one_stream(session, url, body, headers)
                if first is None or status != 200:
                    errors += 1
                else:
                    samples.append(first)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples, errors


async def aiohttp_streams(url: str, body: bytes, headers: dict[str, str], seconds: float,
                          concurrency: int) -> tuple[int, float, int]:
    done = errors = 0
    start = time.perf_counter()
    deadline = start + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                async with session.post(url + PATH, data=body,
                                        headers={"Content-Type": "application/json", **headers}) as resp:
                    async for _ in resp.content.iter_any():
                        pass
                    done += 1
                    errors += resp.status != 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, time.perf_counter() - start, errors


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, proc_rss_kb(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> RssSampler:
        self.peak = proc_rss_kb(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def memory_check(servers: Servers, mock: Server, gw_cpu: int | None, args: argparse.Namespace) -> None:
    print(f"\n== Memory: one stream of {args.short_chars:,} then one of {args.long_chars:,} chars "
          "(4-char chunks), fresh guarded gateways ==")
    rows: list[list[object]] = []
    for name, mode in MODES.items():
        gw = servers.start(f"mem_{name}", {"kind": "gateway", "upstream": mock.url,
                                           "guard": guard_settings(mode)}, cpu=gw_cpu)

        async def run(chars: int, url: str = gw.url) -> tuple[int, str, int, float]:
            body = chat_body(prose(chars - len("You said: "), seed=chars), stream=True)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as s:
                t0 = time.perf_counter()
                _, events, content, status = await one_stream(s, url, body, {"X-Mock-Chunk": "4"})
                return events, content, status, time.perf_counter() - t0

        asyncio.run(run(2000))  # warm-up
        for chars in (args.short_chars, args.long_chars):
            before = gw.rss_kb()
            with RssSampler(gw.pid) as sampler:
                events, content, status, secs = asyncio.run(run(chars))
            after = gw.rss_kb()
            rows.append([name, f"{chars:,}", status, f"{events:,}", f"{len(content):,}", f"{secs:.1f}",
                         f"{before / 1024:.1f}", f"{sampler.peak / 1024:.1f}", f"{after / 1024:.1f}",
                         f"{(sampler.peak - before) / 1024:+.1f}"])
        gw.stop()
    print(table(["mode", "chars", "HTTP", "events", "content chars out", "seconds", "RSS before MB",
                 "RSS peak MB", "RSS after MB", "growth MB"], rows))
    print("(the request carries the same text, so some growth proportional to it is the request body "
          "itself, read and parsed once)")


def load_profile(server: Server, body: bytes, headers: dict[str, str], args: argparse.Namespace) -> None:
    out = Path(tempfile.gettempdir()) / "bench_stream_pyspy_per_chunk.txt"
    spy = pyspy_start(server.pid, args.profile_seconds, out)
    if spy is None:
        print("(py-spy not installed: no profile)")
        return
    time.sleep(0.5)
    if wrk_path() is not None and not args.no_wrk:
        load = WrkLoad([body], PATH, headers)
        load.run(server.url, args.profile_seconds + 1, args.concurrency)
        load.close()
    else:
        asyncio.run(aiohttp_streams(server.url, body, headers, args.profile_seconds + 1, args.concurrency))
    spy.wait(timeout=args.profile_seconds + 60)
    print(f"\n== py-spy of the per_chunk gateway under stream load ({out}) ==")
    print(collapsed_top(out, 20, focus="guard_middleware") if out.exists() else "(no profile written)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4, help="length of one throughput round (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds per config (default 3)")
    parser.add_argument("--concurrency", type=int, default=150, help="streams in flight (default 150)")
    parser.add_argument("--reply-chars", type=int, default=300, help="reply length (default 300)")
    parser.add_argument("--ttft-concurrency", type=int, default=10, help="streams in flight for TTFT (10)")
    parser.add_argument("--ttft-delay-ms", type=int, default=10, help="mock pause before each chunk (10)")
    parser.add_argument("--ttft-seconds", type=float, default=3, help="length of one TTFT round (3)")
    parser.add_argument("--ttft-rounds", type=int, default=3, help="TTFT rounds per config (3)")
    parser.add_argument("--short-chars", type=int, default=20_000)
    parser.add_argument("--long-chars", type=int, default=200_000)
    parser.add_argument("--profile-seconds", type=float, default=0,
                        help="py-spy the per_chunk gateway under stream load for this long (default: off)")
    parser.add_argument("--no-wrk", action="store_true", help="use the aiohttp client even if wrk exists")
    args = parser.parse_args()

    gw_cpu, other_cpu = placement()
    print(machine_info())
    pin_self(other_cpu)
    use_wrk = wrk_path() is not None and not args.no_wrk
    if gw_cpu is not None:
        print(f"placement: gateways pinned to CPU {gw_cpu}; mock LLM, this process and the load generator "
              f"pinned to CPU {other_cpu} (os.sched_setaffinity)")
    reply = reply_text(args.reply_chars)
    body = chat_body("Tell me something.", stream=True)

    with Servers() as servers:
        mock = servers.start("mock", {"kind": "mock"}, cpu=other_cpu)
        memory_check(servers, mock, gw_cpu, args)

        configs: dict[str, Server] = {"bare": servers.start("bare", {"kind": "gateway", "upstream": mock.url,
                                                                     "guard": None}, cpu=gw_cpu)}
        for name, mode in MODES.items():
            configs[name] = servers.start(name, {"kind": "gateway", "upstream": mock.url,
                                                 "guard": guard_settings(mode)}, cpu=gw_cpu)

        print(f"\nreply: {len(reply)} chars in 4-char chunks (+ role, stop and [DONE] events); sanity:")
        upstream_chunks = 0
        for name, server in configs.items():

            async def check(url: str = server.url) -> tuple[float | None, int, str, int]:
                async with aiohttp.ClientSession() as s:
                    return await one_stream(s, url, body, mock_headers(reply))

            _, events, content, status = asyncio.run(check())
            if name == "bare":
                upstream_chunks = events
            print(f"  {name:10} HTTP {status}, {events} events, content {len(content)} chars, "
                  f"redacted: {'[PII REDACTED]' in content}")
            if status != 200:
                raise SystemExit("a sanity stream failed; not benchmarking")

        print(f"\n== Throughput: {args.concurrency} concurrent streams, closed loop, "
              f"{'wrk -t1' if use_wrk else 'aiohttp client'}; rounds of {args.seconds:g}s ==")
        load = WrkLoad([body], PATH, mock_headers(reply)) if use_wrk else None
        rates: dict[str, list[float]] = {name: [] for name in configs}
        rows: list[list[object]] = []
        try:
            for r in range(0, args.rounds + 1):
                for name, server in configs.items():
                    settle([*configs.values(), mock])
                    seconds = 1.0 if r == 0 else args.seconds  # round 0: warm-up, not reported
                    meter = CpuMeter([server, mock])
                    if load is not None:
                        res = load.run(server.url, seconds, args.concurrency)
                        streams, secs, errors = res.requests, res.seconds, res.errors
                        client = res.client_cpu_pct
                    else:
                        t_cpu = time.process_time()
                        streams, secs, errors = asyncio.run(
                            aiohttp_streams(server.url, body, mock_headers(reply), seconds, args.concurrency))
                        client = 100 * (time.process_time() - t_cpu) / secs
                    cpu = meter.stop()
                    if r == 0:
                        continue
                    rate = streams / secs
                    rates[name].append(rate)
                    gw_us = 1e6 * (cpu[server.name] / 100) * secs / max(1, streams * upstream_chunks)
                    rows.append([r, name, f"{rate:,.0f}", f"{rate * upstream_chunks:,.0f}", errors,
                                 f"{cpu[server.name]:.0f}%", f"{gw_us:.1f}", f"{cpu[mock.name]:.0f}%",
                                 f"{client:.0f}%"])
        finally:
            if load is not None:
                load.close()
        print(table(["round", "config", "streams/s", "chunks/s", "errors", "gateway CPU", "gw CPU us/chunk",
                     "mock CPU", "client CPU"], rows))
        bare_rate = median(rates["bare"])
        summary = []
        for name in MODES:
            ratio = median(rates[name]) / bare_rate
            summary.append([name, f"{bare_rate:,.0f}", f"{median(rates[name]):,.0f}", f"{ratio:.3f}",
                            f">= {TARGET}", verdict(ratio, TARGET)])
        print("\nthroughput ratio guarded/bare (median streams/s):")
        print(table(["mode", "bare streams/s", "guarded streams/s", "ratio", "target", ""], summary))

        print(f"\n== Time to first token: {args.ttft_concurrency} concurrent streams, mock pauses "
              f"{args.ttft_delay_ms} ms before each chunk; request sent -> first non-empty delta.content ==")
        headers = mock_headers(reply, args.ttft_delay_ms)
        samples: dict[str, list[float]] = {name: [] for name in configs}
        errors_by: dict[str, int] = dict.fromkeys(configs, 0)
        for _ in range(args.ttft_rounds):
            for name, server in configs.items():
                settle([*configs.values(), mock])
                got, errs = asyncio.run(ttft_round(server.url, body, headers, args.ttft_seconds,
                                                   args.ttft_concurrency))
                samples[name].extend(got)
                errors_by[name] += errs
        b50, b95 = 1000 * median(samples["bare"]), 1000 * pct(samples["bare"], 95)
        rows = []
        for name in configs:
            m50, m95 = 1000 * median(samples[name]), 1000 * pct(samples[name], 95)
            added = "-" if name == "bare" else f"{m50 - b50:+.1f}"
            added95 = "-" if name == "bare" else f"{m95 - b95:+.1f}"
            rows.append([name, len(samples[name]), errors_by[name], f"{m50:.1f}", f"{m95:.1f}", added,
                         added95])
        print(table(["config", "streams", "errors", "TTFT median ms", "TTFT p95 ms", "added median ms",
                     "added p95 ms"], rows))
        print(f"(first content chunk leaves the mock after ~{2 * args.ttft_delay_ms} ms: role event, then "
              f"the first 4 chars; buffering governs remote providers, and this guard has only local checks, "
              f"so buffered50 costs what per_chunk does)")
        if args.profile_seconds > 0:
            settle([*configs.values(), mock])
            load_profile(configs["per_chunk"], body, mock_headers(reply), args)


if __name__ == "__main__":
    main()
