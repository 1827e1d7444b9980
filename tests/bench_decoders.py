"""Decode cost of a 64 KB chat body per coding (gzip, deflate, br, zstd) through ``build_decoder``,
in one piece and in 1 KB slices (a stream). Run: ``python tests/bench_decoders.py``.

Not a pytest module (no ``test_`` prefix): it measures, it does not assert.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import brotli

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

from guard_middleware.decoders import build_decoder
from tests.bench_scan import corpus

ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": zstd.compress,
}


def body(size: int = 64 * 1024) -> bytes:
    """A chat request of about ``size`` bytes of prose, as a gateway receives it."""
    text = " ".join(corpus(2 * size))[:size]
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()[:size]


def best_us(run: Callable[[], bytes], repeat: int = 200) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best * 1e6


def main() -> None:
    plain = body()
    print(f"{len(plain)} byte body; best of 200 runs, microseconds per body")
    print(f"{'coding':8} {'wire':>7} {'ratio':>6} {'whole':>8} {'1 KB slices':>12}")
    for coding, encode in ENCODERS.items():
        wire = encode(plain)

        def whole(coding: str = coding, wire: bytes = wire) -> bytes:
            decoder = build_decoder(coding, max_output=1 << 20)
            return decoder.decode(wire) + decoder.flush()

        def sliced(coding: str = coding, wire: bytes = wire) -> bytes:
            decoder = build_decoder(coding, max_output=1 << 20)
            out = [decoder.decode(wire[i : i + 1024]) for i in range(0, len(wire), 1024)]
            return b"".join(out) + decoder.flush()

        assert whole() == plain and sliced() == plain
        ratio = len(plain) / len(wire)
        print(f"{coding:8} {len(wire):7} {ratio:6.1f} {best_us(whole):8.0f} {best_us(sliced):12.0f}")


if __name__ == "__main__":
    main()
