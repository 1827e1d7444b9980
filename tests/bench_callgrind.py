"""Instructions per request in the gateway process, bare vs guarded, counted by callgrind.

Run: ``python tests/bench_callgrind.py [--requests 200] [--sizes 1024,20480] [--stream]
[--scenario pii|clean|agent|agent-clean]``.
Not a pytest module: it measures and prints, it does not assert. Needs ``valgrind``.

Deterministic where wall-clock throughput is not (the machine is shared): the example gateway
(``forward="read"``) runs under ``valgrind --tool=callgrind``, the mock LLM in its own plain process.
After a warm-up the counters are zeroed (``callgrind_control -z``), ``--requests`` requests are sent one
after another, each with its own body, and the counters are dumped (``callgrind_control -d``): the
gateway's instructions divided by the requests. The guard is the policy ``tests/bench_gateway.py`` uses
(1,000-literal blocklists in and out, PII redaction both ways, audit on, records to a log file).
``--stream`` sends streaming requests instead (the mock streams its echo in 4-character deltas).
``--policy none`` runs the guard with no guardrail at all: the floor of reading the body, handing the
handler the checked request and watching the answer. ``--metrics-cost`` measures the guarded gateway
with Prometheus metrics on and off (``GUARD_METRICS__ENABLED``) instead of bare vs guarded: what the
metrics cost per request, as a share of the guarded request.

Scenarios: ``pii`` (default): prose where one sentence in ten carries an e-mail, phone, IP or number;
``clean``: the same prose without them (nothing to find); ``agent``: 30-turn conversations, each turn
``size`` bytes of PII prose, every request re-sending the whole history so far (turn k carries k user
messages and k - 1 assistant answers); ``agent-clean``: the same with clean prose (nothing to find, so
every request takes the engine's fast path and a re-sent turn costs a digest lookup); ``--requests`` is
rounded to whole conversations.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from tests.bench_common import WORDS, blocklist_table, chat_body, prose

ROOT = Path(__file__).resolve().parents[1]


def guard_config() -> dict[str, Any]:
    bl = blocklist_table(1000)
    return {
        "input": {"providers": [bl]},
        "output": {"providers": [bl]},
        "pii": {"action": "redact", "apply_to": "both"},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"nothing listens on {port} after {seconds:.0f}s")


def clean_prose(size: int, seed: int) -> str:
    """Sentences of the benchmark vocabulary only: nothing any check finds."""
    rnd = random.Random(seed)
    parts: list[str] = []
    length = 0
    while length < size:
        s = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(8, 20))).capitalize() + ". "
        parts.append(s)
        length += len(s)
    return "".join(parts)[:size]


TURNS = 30


def conversation(size: int, turns: int, seed: int, text: Any = prose) -> list[bytes]:
    """One agent conversation: request k re-sends every earlier turn."""
    messages: list[dict[str, str]] = [{"role": "system", "content": "You are a helpful assistant."}]
    out: list[bytes] = []
    for k in range(turns):
        messages.append({"role": "user", "content": text(size, seed * 1000 + k)})
        out.append(json.dumps({"model": "mock", "messages": messages}).encode())
        answer = "You said: " + text(size // 4, seed * 1000 + 500 + k)
        messages.append({"role": "assistant", "content": answer})
    return out


def bodies(size: int, count: int, *, stream: bool, seed: int, scenario: str = "pii") -> list[bytes]:
    if scenario in ("agent", "agent-clean"):
        conversations = max(1, round(count / TURNS))
        text = clean_prose if scenario == "agent-clean" else prose
        return [b for c in range(conversations) for b in conversation(size, TURNS, seed + c, text)]
    text = clean_prose if scenario == "clean" else prose
    overhead = len(chat_body("", stream=stream))
    return [chat_body(text(max(16, size - overhead), seed + i), stream=stream) for i in range(count)]


async def send(url: str, payloads: list[bytes]) -> None:
    async with aiohttp.ClientSession() as session:
        for body in payloads:
            async with session.post(
                f"{url}/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
            ) as resp:
                await resp.read()
                if resp.status != 200:
                    raise SystemExit(f"HTTP {resp.status}")


def dump_instructions(pid: int, out_dir: str) -> int:
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
    time.sleep(0.5)
    counts = []
    for name in os.listdir(out_dir):
        if name.startswith(f"cg.{pid}") and not name.endswith(f"cg.{pid}"):
            text = Path(out_dir, name).read_text(errors="replace")
            found = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
            if found:
                counts.append(int(found.group(1)))
    if not counts:
        raise SystemExit("callgrind wrote no dump")
    return max(counts)


def measure(
    guarded: bool,
    size: int,
    args: argparse.Namespace,
    mock_url: str,
    out_dir: str,
    *,
    metrics: bool = True,
    metrics_cost: bool = False,
) -> float:
    port = free_port()
    env = {**os.environ, "UPSTREAM_BASE_URL": mock_url, "PYTHONHASHSEED": "0"}
    env["GUARD_METRICS__ENABLED"] = "true" if metrics else "false"
    gateway = [str(ROOT / "examples" / "gateway.py"), "--port", str(port)]
    if metrics_cost:
        # Python's cyclic GC off in the measured process: a collection that lands in one variant's
        # window and not the other's moves the total by more than the metrics cost (seen: 0.5% vs 2%).
        boot = (
            f"import gc, runpy, sys; gc.disable(); sys.argv = {gateway!r}; "
            "runpy.run_path(sys.argv[0], run_name='__main__')"
        )
        gateway = ["-c", boot]
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_dir}/cg.%p", sys.executable, *gateway]
    if guarded:
        config = Path(out_dir, "guard.json")
        config.write_text(json.dumps(guard_config() if args.policy == "bench" else {}))
        env["GUARD_CONFIG_FILE"] = str(config)
    else:
        cmd.append("--no-guard")
    log = open(Path(out_dir, f"gateway-{int(guarded)}-{size}.log"), "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=ROOT)
    try:
        wait_port(port, 300)
        url = f"http://127.0.0.1:{port}"
        warm = bodies(size, 20, stream=args.stream, seed=7, scenario=args.scenario)
        asyncio.run(send(url, warm))
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
        measured = bodies(size, args.requests, stream=args.stream, seed=1000, scenario=args.scenario)
        asyncio.run(send(url, measured))
        return dump_instructions(proc.pid, out_dir) / len(measured)
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()


@contextlib.contextmanager
def mock_llm() -> Iterator[str]:
    """The built-in mock LLM in its own process; yields its base URL."""
    port = free_port()
    mock = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from aiohttp import web; from examples.mock_llm import make_app; "
            f"web.run_app(make_app(), host='127.0.0.1', port={port}, print=None)",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        mock.terminate()
        mock.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--sizes", default="1024,20480")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--scenario", choices=["pii", "clean", "agent", "agent-clean"], default="pii")
    parser.add_argument(
        "--policy",
        choices=["bench", "none"],
        default="bench",
        help="none: the guard with no guardrail at all (what reading, handing on and watching costs)",
    )
    parser.add_argument("--metrics-cost", action="store_true", help="guarded with metrics on vs off")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_cg_") as out_dir, mock_llm() as mock_url:
        if args.metrics_cost:
            print(f"{'size':>8}  {'no metrics Ir/req':>18}  {'metrics Ir/req':>15}  {'cost':>8}  share")
            for size in (int(s) for s in args.sizes.split(",")):
                off = measure(True, size, args, mock_url, out_dir, metrics=False, metrics_cost=True)
                on = measure(True, size, args, mock_url, out_dir, metrics=True, metrics_cost=True)
                share = (on - off) / on
                print(f"{size:>8,}  {off:>18,.0f}  {on:>15,.0f}  {on - off:>8,.0f}  {share:.2%}")
            return
        print(f"{'size':>8}  {'bare Ir/req':>14}  {'guarded Ir/req':>15}  {'guard Ir/req':>13}  ratio")
        for size in (int(s) for s in args.sizes.split(",")):
            bare = measure(False, size, args, mock_url, out_dir)
            guarded = measure(True, size, args, mock_url, out_dir)
            cost = guarded - bare
            print(
                f"{size:>8,}  {bare:>14,.0f}  {guarded:>15,.0f}  {cost:>13,.0f}  {bare / guarded:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
