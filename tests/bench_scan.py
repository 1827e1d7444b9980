"""Throughput of the local checks over ~1 MB of mixed prose. Run: ``python tests/bench_scan.py``.

Not a pytest module (no ``test_`` prefix): it measures, it does not assert.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from guard_middleware.checks.blocklist import BlocklistCheck, build_blocklist
from guard_middleware.checks.limits import build_content_limits
from guard_middleware.checks.pii import PII_TYPES, PiiCheck
from guard_middleware.text import _normalize_cached

_VOCABULARY = (
    "the a of and to in is was for on with as by at from that this it be are have has not but or "
    "model request response gateway token stream latency budget invoice meeting customer account "
    "report quarter revenue policy review deploy service cluster region update schedule team"
)
WORDS = _VOCABULARY.split(" ")
EXTRAS = [
    "contact jane.doe@example.com today",
    "call 555-867-5309 tomorrow",
    "order 48213 shipped",
    "the café in Zürich",
    "price 1,299.99 EUR",
    "at 10:30 on 2024-03-15",
    "naïve résumé",
    "version 3.11.7",
    "Grüße aus München",
]


def corpus(size: int = 1_000_000, seed: int = 7) -> list[str]:
    """Messages of ~2 KB, like chat turns; one in ten sentences carries an email/number/non-ASCII."""
    rnd = random.Random(seed)
    texts: list[str] = []
    total = 0
    while total < size:
        sentences = []
        length = 0
        while length < 2000:
            s = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(8, 20)))
            if rnd.random() < 0.1:
                s += " " + rnd.choice(EXTRAS)
            s = s.capitalize() + ". "
            sentences.append(s)
            length += len(s)
        text = "".join(sentences)
        texts.append(text)
        total += len(text)
    return texts


def literals(count: int, seed: int = 3) -> list[str]:
    rnd = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    out: set[str] = set()
    while len(out) < count:
        out.add("".join(rnd.choice(letters) for _ in range(rnd.randint(5, 12))))
    return sorted(out)


def blocklist(count: int) -> BlocklistCheck:
    patterns = [{"pattern": p} for p in literals(count)]
    return build_blocklist({"patterns": patterns}, name=f"bl{count}", key="bench")


def rate(run: Callable[[Sequence[str]], object], texts: Sequence[str], repeat: int = 5) -> float:
    size = sum(len(t) for t in texts) / 1e6
    best = float("inf")
    for _ in range(repeat):
        _normalize_cached.cache_clear()  # measure cold: a repeat must not reuse the previous one's work
        t0 = time.perf_counter()
        run(texts)
        best = min(best, time.perf_counter() - t0)
    return size / best


def main() -> None:
    texts = corpus()
    print(f"corpus: {len(texts)} texts, {sum(map(len, texts)) / 1e6:.2f} M chars")
    bl10, bl1000 = blocklist(10), blocklist(1000)
    pii = PiiCheck("pii", PII_TYPES)
    limits = build_content_limits({"max_characters": 10_000_000}, name="limits", key="bench")

    def each(check: BlocklistCheck | PiiCheck) -> Callable[[Sequence[str]], object]:
        return lambda ts: [check.find(t) for t in ts]

    def together(ts: Sequence[str]) -> object:
        limits.evaluate(ts)
        return [(bl1000.find(t), pii.find(t)) for t in ts]

    r10 = rate(each(bl10), texts)
    r1000 = rate(each(bl1000), texts)
    print(f"blocklist    10 literals : {r10:7.1f} MB/s")
    print(f"blocklist 1,000 literals : {r1000:7.1f} MB/s  (ratio {r1000 / r10:.2f}, target >= 0.90)")
    print(f"pii all {len(PII_TYPES)} types      : {rate(each(pii), texts):7.1f} MB/s")
    print(f"all local checks         : {rate(together, texts):7.1f} MB/s  (target >= 30)")
    held = rate(lambda ts: [pii.holdback(t) for t in ts], texts[:50])
    print(f"pii holdback, 2 KB texts : {held:7.2f} MB/s  (once per stream chunk, not per byte)")

    # Streams call find + holdback of every check once per chunk on a short text: the 64-char context,
    # the held tail and a few new characters. Cut 100-char windows from the corpus, each a new string.
    shorts = [t[i : i + 100] for t in texts[:100] for i in range(0, 1800, 150)]
    checks: list[BlocklistCheck | PiiCheck] = [bl1000, pii]

    def per_chunk(ts: Sequence[str]) -> object:
        return [(c.find(t, 64), c.holdback(t, 64)) for t in ts for c in checks]

    best = float("inf")
    for _ in range(5):
        _normalize_cached.cache_clear()
        t0 = time.perf_counter()
        per_chunk(shorts)
        best = min(best, time.perf_counter() - t0)
    print(f"per chunk, 100-char text : {best / len(shorts) * 1e6:7.1f} us  (find + holdback, bl1000 + pii)")


if __name__ == "__main__":
    main()
