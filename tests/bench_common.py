"""Shared code for the gateway benchmarks (``bench_gateway``, ``bench_stream``, ``bench_remote``).

Not a pytest module. Besides helpers, this file is the entry point of the server processes the
benchmarks start: ``python tests/bench_common.py '<json spec>'`` serves one app on 127.0.0.1 (port 0),
prints ``PORT <n>`` and runs until its stdin closes (the parent ended or called ``stop``) or until its
``max_seconds`` run out, whichever comes first, so nothing outlives a benchmark.

Spec kinds: ``mock`` (examples/mock_llm), ``gateway`` (examples/gateway with ``guard`` settings
kwargs or ``null``, and an optional ``sleep_ms`` middleware that waits before the handler), and
``fake_custom`` (tests/fakes/custom with a fixed ``delay_ms`` on every request).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from tests.bench_scan import EXTRAS as _SCAN_EXTRAS  # noqa: E402
from tests.bench_scan import WORDS  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")

# ---------------------------------------------------------------------------------------------------
# Machine and CPU placement


def cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def placement() -> tuple[int | None, int | None]:
    """(cpu for the measured gateway, cpu for everything else) or (None, None) on one CPU."""
    available = cpus()
    if len(available) < 2:
        return None, None
    return available[0], available[1]


def pin_self(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def machine_info() -> str:
    import aiohttp as _aiohttp

    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = platform.processor() or "unknown"
    return (
        f"machine: nproc={os.cpu_count()} usable={len(cpus())} ({model}); "
        f"Python {platform.python_version()}; aiohttp {_aiohttp.__version__}; "
        f"{platform.system()} {platform.release()}"
    )


def wrk_path() -> str | None:
    return shutil.which("wrk")


# ---------------------------------------------------------------------------------------------------
# Text


# The same vocabulary as the scan benchmark, plus an IP address so output redaction has work too.
EXTRAS = [*_SCAN_EXTRAS, "server 10.0.0.12 restarted"]


def prose(size: int, seed: int) -> str:
    """About ``size`` characters of sentences; one in ten carries an e-mail, phone, IP, number or
    non-ASCII word (so PII redaction really rewrites some requests)."""
    rnd = random.Random(seed)
    parts: list[str] = []
    length = 0
    while length < size:
        s = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(8, 20)))
        if rnd.random() < 0.1:
            s += " " + rnd.choice(EXTRAS)
        s = s.capitalize() + ". "
        parts.append(s)
        length += len(s)
    return "".join(parts)[:size]


def literals(count: int, seed: int = 3) -> list[str]:
    """``count`` distinct random lowercase words (5-12 letters), none of them in the prose vocabulary."""
    rnd = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = set(WORDS) | {w.lower() for e in EXTRAS for w in e.split()}
    out: set[str] = set()
    while len(out) < count:
        word = "".join(rnd.choice(letters) for _ in range(rnd.randint(5, 12)))
        if word not in vocab:
            out.add(word)
    return sorted(out)


def blocklist_table(count: int, seed: int = 3) -> dict[str, Any]:
    return {"type": "blocklist", "patterns": [{"pattern": p} for p in literals(count, seed)]}


def chat_body(text: str, *, stream: bool = False) -> bytes:
    body: dict[str, Any] = {
        "model": "mock",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": text},
        ],
    }
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


def chat_bodies(size: int, count: int, *, seed: int = 11) -> list[bytes]:
    """``count`` different chat requests of about ``size`` bytes each (the JSON, not just the text)."""
    overhead = len(chat_body(""))
    return [chat_body(prose(max(16, size - overhead), seed + i)) for i in range(count)]


# ---------------------------------------------------------------------------------------------------
# Statistics and tables


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        padded = (c.rjust(w) if n and _numeric(c) else c.ljust(w) for c, w in zip(row, widths, strict=True))
        lines.append("  ".join(padded))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def _numeric(text: str) -> bool:
    return bool(text) and (text[0].isdigit() or text[0] in "-+.") and not text.endswith(":")


def verdict(value: float, target: float, *, higher_is_better: bool = True) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "meets target" if ok else "BELOW target" if higher_is_better else "ABOVE target"


# ---------------------------------------------------------------------------------------------------
# Server processes


def proc_cpu_seconds(pid: int) -> float:
    """User+system CPU of a live process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_kb(pid: int, key: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Server:
    """One server in its own process (see the module docstring)."""

    def __init__(
        self, name: str, spec: dict[str, Any], *, cpu: int | None, max_seconds: float = 1800
    ) -> None:
        self.name = name
        self.cpu = cpu
        spec = {**spec, "cpu": cpu, "max_seconds": max_seconds}
        self._log = tempfile.NamedTemporaryFile(prefix=f"bench_{name}_", suffix=".log", delete=False)  # noqa: SIM115
        self.log_path = self._log.name
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=str(ROOT),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"{name} did not start: {line!r}; see {self.log_path}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def rss_kb(self) -> int:
        return proc_rss_kb(self.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


class Servers:
    """Start servers; stop them all on exit (also on errors)."""

    def __init__(self) -> None:
        self.all: list[Server] = []

    def start(self, name: str, spec: dict[str, Any], *, cpu: int | None) -> Server:
        server = Server(name, spec, cpu=cpu)
        self.all.append(server)
        return server

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc: object) -> None:
        for server in reversed(self.all):
            server.stop()


class CpuMeter:
    """CPU utilisation (% of one core) of some server processes over an interval."""

    def __init__(self, servers: Sequence[Server]) -> None:
        self.servers = list(servers)
        self.t0 = time.perf_counter()
        self.c0 = {s.name: s.cpu_seconds() for s in self.servers}

    def stop(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self.t0
        return {s.name: 100 * (s.cpu_seconds() - self.c0[s.name]) / elapsed for s in self.servers}

    def seconds(self) -> dict[str, float]:
        return {s.name: s.cpu_seconds() - self.c0[s.name] for s in self.servers}


def settle(servers: Sequence[Server], *, idle_pct: float = 5.0, max_seconds: float = 10.0) -> None:
    """Wait until every server is idle (below ``idle_pct`` CPU over 100 ms): a server must not still be
    draining the previous round's in-flight requests while the next round measures another one."""
    deadline = time.perf_counter() + max_seconds
    while time.perf_counter() < deadline:
        meter = CpuMeter(servers)
        time.sleep(0.1)
        if all(v < idle_pct for v in meter.stop().values()):
            return


# ---------------------------------------------------------------------------------------------------
# Load generators


@dataclass
class LoadResult:
    requests: int
    seconds: float
    errors: int  # non-2xx or socket errors
    p50_ms: float
    p99_ms: float
    client_cpu_pct: float
    tool: str
    p95_ms: float = float("nan")

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


_COUNTER_AT = b'"content": "'


def split_for_counter(body: bytes) -> tuple[bytes, bytes]:
    """Where a per-request number goes, so that every request carries its own body and no memo or
    cache can make a repeat look free: the start of the last message's text. ``(body, b"")`` when the
    body has no such text (it is then sent as it is)."""
    at = body.rfind(_COUNTER_AT)
    if at < 0:
        return body, b""
    at += len(_COUNTER_AT)
    return body[:at], body[at:]


def numbered(pre: bytes, post: bytes, n: int) -> bytes:
    return pre + b"%d " % n + post if post else pre


_WRK_LUA = """
local paths = {%s}
local headers = {%s}
local pre, post = {}, {}
local i = 0
local function slurp(p)
  local f = assert(io.open(p, "rb"))
  local b = f:read("*a")
  f:close()
  return b
end
init = function(args)
  for n, p in ipairs(paths) do
    pre[n] = slurp(p .. ".pre")
    post[n] = slurp(p .. ".post")
  end
end
-- every request its own body: a request number at the start of the last message's text
request = function()
  i = i + 1
  local k = i %% #pre + 1
  local body = pre[k]
  if post[k] ~= "" then
    body = pre[k] .. i .. " " .. post[k]
  end
  return wrk.format("POST", "%s", headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %%d %%d %%d %%f %%f %%f\\n", summary.requests, summary.duration,
    e.status + e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(95)))
end
"""


class WrkLoad:
    """POSTs the given bodies (round robin, each request numbered: ``split_for_counter``) with ``wrk``
    and a Lua script."""

    def __init__(
        self,
        bodies: Sequence[bytes],
        path: str = "/v1/chat/completions",
        headers: dict[str, str] | None = None,
    ) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="bench_wrk_")
        paths = []
        for n, body in enumerate(bodies):
            p = Path(self._dir.name) / f"body{n}.json"
            pre, post = split_for_counter(body)
            Path(f"{p}.pre").write_bytes(pre)
            Path(f"{p}.post").write_bytes(post)
            paths.append(json.dumps(str(p)))
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        lua_headers = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in hdrs.items())
        self.script = Path(self._dir.name) / "post.lua"
        self.script.write_text(_WRK_LUA % (", ".join(paths), lua_headers, path))

    def run(self, url: str, seconds: float, connections: int) -> LoadResult:
        wrk = wrk_path()
        assert wrk is not None
        c0 = children_cpu_seconds()
        out = subprocess.run(
            [
                wrk,
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(self.script),
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
        cpu = children_cpu_seconds() - c0
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH ")), None)
        if line is None:
            raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
        _, reqs, dur_us, errors, p50, p99, p95 = line.split()
        secs = int(dur_us) / 1e6
        return LoadResult(
            int(reqs),
            secs,
            int(errors),
            float(p50) / 1000,
            float(p99) / 1000,
            100 * cpu / secs,
            "wrk",
            float(p95) / 1000,
        )

    def close(self) -> None:
        self._dir.cleanup()


async def aiohttp_load(
    url: str, bodies: Sequence[bytes], seconds: float, concurrency: int, path: str = "/v1/chat/completions"
) -> LoadResult:
    """Fallback load generator: ``concurrency`` workers over one session, closed loop, for ``seconds``;
    each request numbered (``split_for_counter``), so every one carries its own body."""
    parts = [split_for_counter(b) for b in bodies]
    numbers = itertools.count(1)
    latencies: list[float] = []
    errors = 0
    t_cpu = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(k: int) -> None:
            nonlocal errors
            n = k
            while time.perf_counter() < deadline:
                pre, post = parts[n % len(parts)]
                body = numbered(pre, post, next(numbers))
                n += 1
                t0 = time.perf_counter()
                try:
                    async with session.post(url + path, data=body, headers=headers) as resp:
                        await resp.read()
                        ok = 200 <= resp.status < 300
                except aiohttp.ClientError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                errors += not ok

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - t_cpu
    return LoadResult(
        len(latencies),
        elapsed,
        errors,
        1000 * pct(latencies, 50),
        1000 * pct(latencies, 99),
        100 * cpu / elapsed,
        "aiohttp",
        1000 * pct(latencies, 95),
    )


# ---------------------------------------------------------------------------------------------------
# Profiling (py-spy, if installed)


def pyspy_start(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy")
    if exe is None:
        return None
    return subprocess.Popen(
        [
            exe,
            "record",
            "--format",
            "raw",
            "--rate",
            "200",
            "--nonblocking",
            "-d",
            str(max(1, round(seconds))),
            "-p",
            str(pid),
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def collapsed_top(path: Path, top: int = 15, *, focus: str | None = None) -> str:
    """Self-time and inclusive-time top lists from a py-spy raw (collapsed stacks) file."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [
            f for f in stack.split(";") if f and not f.startswith("process ") and not f.startswith("thread ")
        ]
        if not frames:
            continue
        total += n
        own[_short(frames[-1])] += n
        for name in {_short(f) for f in frames}:
            incl[name] += n
    if not total:
        return "(no samples)"
    lines = [f"{total} samples; self time:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines.append("inclusive time" + (f" (frames matching {focus!r})" if focus else "") + ":")
    chosen = [(k, v) for k, v in incl.most_common() if focus is None or focus in k][:top]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in chosen]
    return "\n".join(lines)


def _short(frame: str) -> str:
    # py-spy frames look like "func (path/to/file.py:123)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file, _, _line = where.rpartition(":")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{name} ({file})"


# ---------------------------------------------------------------------------------------------------
# Child process: the server entry point


async def _serve_child(spec: dict[str, Any]) -> None:
    from aiohttp import web

    kind = spec["kind"]
    housekeeping: Callable[[], None] = lambda: None  # noqa: E731
    if kind == "mock":
        from examples.mock_llm import RECORD, make_app

        app = make_app()
        record = app[RECORD]

        def housekeeping() -> None:
            # The mock records every body; drop them so memory stays flat during long runs.
            record.bodies.clear()
            record.raw_bodies.clear()
            record.headers.clear()

    elif kind == "gateway":
        from examples.gateway import make_gateway
        from guard_middleware import GuardMiddleware, GuardSettings

        guard_kwargs = spec.get("guard")
        guard = GuardMiddleware(GuardSettings.load(**guard_kwargs)) if guard_kwargs is not None else None
        app = make_gateway(spec["upstream"], guard=guard, forward=spec.get("forward", "read"))
        sleep_s = float(spec.get("sleep_ms") or 0) / 1000
        if sleep_s:
            Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

            @web.middleware
            async def sleeper(request: web.Request, handler: Handler) -> web.StreamResponse:
                await asyncio.sleep(sleep_s)
                return await handler(request)

            app.middlewares.append(sleeper)
    elif kind == "fake_custom":
        from tests.fakes.custom import FakeCustomGuardrail

        fake = FakeCustomGuardrail(api_key=None)
        if spec.get("delay_ms"):
            fake.fail("delay", delay=float(spec["delay_ms"]) / 1000)
        app = fake.app()

        def housekeeping() -> None:
            # Keep the last records only (the fake's handler reads requests[-1]).
            del fake.requests[:-1000]

    else:
        raise SystemExit(f"unknown kind {kind!r}")

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    deadline = time.monotonic() + float(spec.get("max_seconds", 1800))
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            housekeeping()
    finally:
        await runner.cleanup()


def _watch_stdin() -> None:
    # The parent holds our stdin: EOF means it is gone or wants us to stop.
    sys.stdin.buffer.read()
    os._exit(0)


def _child_main(raw: str) -> None:
    spec = json.loads(raw)
    pin_self(spec.get("cpu"))
    threading.Thread(target=_watch_stdin, daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_child(spec))


if __name__ == "__main__":
    _child_main(sys.argv[1])
