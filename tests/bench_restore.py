"""What ``pii.restore`` costs: instructions per request in the gateway process, anonymisation with
restore on vs off, counted by callgrind.

Run: ``python tests/bench_restore.py [--requests 100] [--sizes 1024] [--stream]``.
Not a pytest module: it measures and prints, it does not assert. Needs ``valgrind``.

The example gateway runs under ``valgrind --tool=callgrind`` with ``pii = {action = "anonymize",
apply_to = "input"}`` (and ``restore = true`` for the second run); the mock LLM echoes the anonymised
prompt, so every answer repeats the placeholders (about ``size`` bytes of answer, one sentence in ten
carrying an e-mail, phone, IP or number). ``--stream``: the echo streams in 4-character deltas, so
placeholders are split across events. The difference is the whole cost of restoration: the vault
snapshot, the placeholder search, the walk and re-serialisation of a JSON answer, or the per-delta
hold-back of a stream (and the stream's engine fast path, which restoration turns off).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.bench_callgrind import bodies, dump_instructions, free_port, mock_llm, send, wait_port

ROOT = Path(__file__).resolve().parents[1]


def measure(restore: bool, size: int, args: argparse.Namespace, mock_url: str, out_dir: str) -> float:
    port = free_port()
    config = Path(out_dir, f"guard-{int(restore)}.json")
    config.write_text(json.dumps({"pii": {"action": "anonymize", "apply_to": "input", "restore": restore}}))
    env = {
        **os.environ,
        "UPSTREAM_BASE_URL": mock_url,
        "PYTHONHASHSEED": "0",
        "GUARD_CONFIG_FILE": str(config),
    }
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out_dir}/cg.%p",
        sys.executable,
        str(ROOT / "examples" / "gateway.py"),
        "--port",
        str(port),
    ]
    log = open(Path(out_dir, f"gateway-{int(restore)}-{size}.log"), "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=ROOT)
    try:
        wait_port(port, 300)
        url = f"http://127.0.0.1:{port}"
        asyncio.run(send(url, bodies(size, 20, stream=args.stream, seed=7)))
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
        measured = bodies(size, args.requests, stream=args.stream, seed=1000)
        asyncio.run(send(url, measured))
        return dump_instructions(proc.pid, out_dir) / len(measured)
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--sizes", default="1024")
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_restore_") as out_dir, mock_llm() as mock_url:
        kind = "stream" if args.stream else "json"
        print(f"{'size':>8}  {'kind':>6}  {'restore off Ir/req':>18}  {'restore on Ir/req':>17}  cost")
        for size in (int(s) for s in args.sizes.split(",")):
            off = measure(False, size, args, mock_url, out_dir)
            on = measure(True, size, args, mock_url, out_dir)
            cost = on - off
            print(f"{size:>8,}  {kind:>6}  {off:>18,.0f}  {on:>17,.0f}  {cost:,.0f} ({cost / off:.1%})")


if __name__ == "__main__":
    main()
