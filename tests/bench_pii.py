"""Throughput of the Rust PII scanner (``_engine.PiiScanner.find``): mixed prose with all 13 types, and
1 MB of each repetitive worst case, all types and each type alone. Run: ``python tests/bench_pii.py``.

Not a pytest module (no ``test_`` prefix): it measures, it does not assert.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from guard_middleware import _engine
from tests.bench_scan import corpus
from tests.oracle.pii import PII_TYPES

MB = 1_000_000
WORST = [
    "::1:", "1-", "a@", "password=", "0", "ssn ", "www.", "aws ", "born ", "sk-", "00:", "1.", "+1 ",
    "a:", "-aa", "birth date 1", "d.o.born ", "a@b.", "GB82 ", "http://.", "passwd is ", "secret=",
    "AKIA", "(5",
]  # fmt: skip


def rate(scanner: _engine.PiiScanner, texts: list[str], repeat: int = 3) -> float:
    """Best of ``repeat`` runs, in MB/s of UTF-8."""
    size = sum(len(t.encode()) for t in texts)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for t in texts:
            scanner.find(t)
        best = min(best, time.perf_counter() - start)
    return size / best / MB


def main() -> None:
    everything = _engine.PiiScanner(list(PII_TYPES), max_holdback_chars=1024)
    prose = corpus()
    ascii_prose = [t.encode("ascii", "ignore").decode() for t in prose]
    print(f"mixed prose, all types: {rate(everything, prose):8.1f} MB/s")
    print(f"ASCII prose, all types: {rate(everything, ascii_prose):8.1f} MB/s")
    alone = {t: _engine.PiiScanner([t], max_holdback_chars=1024) for t in PII_TYPES}
    for t, scanner in alone.items():
        print(f"  ASCII prose, {t:<15} {rate(scanner, ascii_prose):8.1f} MB/s")
    print("1 MB worst cases: all types, then the slowest type alone")
    for unit in WORST:
        text = [unit * (MB // len(unit))]
        speed, kind = min((rate(s, text, 1), t) for t, s in alone.items())
        print(f"  {unit!r:<16} all {rate(everything, text, 1):8.1f} MB/s   {kind:<15} {speed:8.1f} MB/s")


if __name__ == "__main__":
    main()
