"""Throughput of the local checks over ~1 MB of prose and ~1 MB of code and logs, the native engine
side by side with the pure-Python oracle it replaced. Run: ``python tests/bench_scan.py``.

Not a pytest module (no ``test_`` prefix): it measures, it does not assert.
"""

from __future__ import annotations

import argparse
import random
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from guard_middleware.checks.blocklist import BlocklistCheck, build_blocklist
from guard_middleware.checks.limits import build_content_limits
from guard_middleware.checks.pii import PII_TYPES, PiiCheck
from tests.oracle import blocklist as oracle_blocklist
from tests.oracle import pii as oracle_pii
from tests.oracle.text import _normalize_cached

Check = BlocklistCheck | PiiCheck | oracle_blocklist.BlocklistCheck | oracle_pii.PiiCheck

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


def code_and_logs(size: int = 1_000_000, seed: int = 5) -> list[str]:
    """~2 KB pieces of the standard library's own source and of access/application log lines."""
    rnd = random.Random(seed)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = sorted(stdlib.glob("*.py"))
    code = "".join(path.read_text(errors="replace") for path in sources[:40])
    texts: list[str] = []
    total = 0
    while total < size:
        if rnd.random() < 0.5:
            start = rnd.randrange(0, len(code) - 2000)
            text = code[start : start + 2000]
        else:
            text = "".join(
                f"2024-03-{rnd.randint(1, 28):02d}T10:{rnd.randint(0, 59):02d}:07.{rnd.randint(0, 999):03d}Z "
                f"INFO worker-{rnd.randint(1, 9)} GET /v1/items/{rnd.randint(1, 99999)}"
                f"?page={rnd.randint(1, 9)} "
                f"status={rnd.choice([200, 201, 404, 500])} took={rnd.random() * 100:.3f}ms "
                f"trace={rnd.getrandbits(64):016x} version=1.{rnd.randint(0, 30)}.{rnd.randint(0, 9)}\n"
                for _ in range(12)
            )
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


def blocklist(count: int, *, oracle: bool = False) -> BlocklistCheck | oracle_blocklist.BlocklistCheck:
    patterns = [{"pattern": p} for p in literals(count)]
    build = oracle_blocklist.build_blocklist if oracle else build_blocklist
    return build({"patterns": patterns}, name=f"bl{count}", key="bench")


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--types",
        default=",".join(PII_TYPES),
        help="PII types for the engine, comma-separated (default: all; the oracle always runs its own)",
    )
    parser.add_argument("--engine-only", action="store_true", help="skip the pure-Python oracle")
    args = parser.parse_args()
    engine_types = [t.strip().upper() for t in args.types.split(",") if t.strip()]
    prose_texts, code_texts = corpus(), code_and_logs()
    mixed = prose_texts + code_texts
    print(
        f"corpus: {len(prose_texts)} prose texts ({sum(map(len, prose_texts)) / 1e6:.2f} M chars), "
        f"{len(code_texts)} code and log texts ({sum(map(len, code_texts)) / 1e6:.2f} M chars)"
    )
    limits = build_content_limits({"max_characters": 10_000_000}, name="limits", key="bench")
    rows: list[tuple[str, float, float]] = []
    per_chunk_us: dict[str, float] = {}
    runs = (("engine", False),) if args.engine_only else (("engine", False), ("oracle", True))
    for label, oracle in runs:
        bl10, bl1000 = blocklist(10, oracle=oracle), blocklist(1000, oracle=oracle)
        types = oracle_pii.PII_TYPES if oracle else engine_types
        pii: PiiCheck | oracle_pii.PiiCheck = (oracle_pii.PiiCheck if oracle else PiiCheck)("pii", types)

        def each(check: Check) -> Callable[[Sequence[str]], object]:
            return lambda ts: [check.find(t) for t in ts]

        def together(ts: Sequence[str], bl: Check = bl1000, p: Check = pii) -> object:
            limits.evaluate(ts)
            return [(bl.find(t), p.find(t)) for t in ts]

        rows.append((f"{label}: blocklist 10 literals, prose", rate(each(bl10), prose_texts), 0))
        rows.append((f"{label}: blocklist 1,000 literals, prose", rate(each(bl1000), prose_texts), 0))
        rows.append((f"{label}: pii {len(types)} types, prose", rate(each(pii), prose_texts), 0))
        rows.append((f"{label}: pii {len(types)} types, code and logs", rate(each(pii), code_texts), 0))
        rows.append((f"{label}: all local checks, prose + code + logs", rate(together, mixed), 300))

        # Streams call find + holdback of every check once per chunk on a short text: the 64-char
        # context, the held tail and a few new characters. 100-char windows, each a new string.
        shorts = [t[i : i + 100] for t in mixed[:100] for i in range(0, 1800, 150)]
        checks: list[Check] = [bl1000, pii]

        def per_chunk(ts: Sequence[str], checks: list[Check] = checks) -> object:
            return [(c.find(t, 64), c.holdback(t, 64)) for t in ts for c in checks]

        best = float("inf")
        for _ in range(5):
            _normalize_cached.cache_clear()
            t0 = time.perf_counter()
            per_chunk(shorts)
            best = min(best, time.perf_counter() - t0)
        per_chunk_us[label] = best / len(shorts) * 1e6
    for name, mbps, target in rows:
        goal = f"  (target >= {target})" if target and name.startswith("engine") else ""
        print(f"{name:48s}: {mbps:8.1f} MB/s{goal}")
    for label, us in per_chunk_us.items():
        print(f"{label}: per chunk, 100-char text (find + holdback, bl1000 + pii): {us:6.1f} us")


if __name__ == "__main__":
    main()
