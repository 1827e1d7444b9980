"""Cost of one PII ``holdback`` call on ~1 MB texts with adversarial tails, engine vs oracle.

Run: ``python tests/bench_pii_holdback.py``. Not a pytest module: it measures, it does not assert.
Each case runs whole and as its last 4,096 characters (where the hold-back windows dominate), with
every type, default cap (1024) and a cap larger than the text (the windows are
then bounded only by each type's longest match). The oracle caches the normalisation of the last long
non-ASCII text, so its non-ASCII figures leave out most of that cost.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from guard_middleware import _engine
from tests.oracle.pii import PII_TYPES, PiiCheck

MB = 1_000_000

CASES: dict[str, str] = {
    "prose": ("the quick brown fox jumps over the lazy dog " * (MB // 44))[:MB],
    "'::1:' repeated": "::1:" * (MB // 4),
    "digit run": "1" * MB,
    "digits and dashes": "12-" * (MB // 3),
    "URL tail": "see https://" + "a" * (MB - 12),
    "URL starts": "-http:/" * (MB // 7) + "-http://x",
    "www. repeated": "www." * (MB // 4),
    "'password ' repeated": "password " * (MB // 9),
    "'password: ' repeated": "password: " * (MB // 10),
    "email-ish": "a." * (MB // 2) + "@b",
    "API key run": "sk-" + "a" * (MB - 3),
    "hex colons": "ab:" * (MB // 3),
    "aws then class": "aws " + "A" * (MB - 4),
    "'a@' repeated": "a@" * (MB // 2),
    "'+1 ' repeated": "+1 " * (MB // 3),
    "'ssn ' repeated": "ssn " * (MB // 4),
    "'born ' repeated": "born " * (MB // 5),
    "'sk-' repeated": "sk-" * (MB // 3),
    "IBAN-ish": "GB82 " * (MB // 5),
    "full-width digits": "\uff11" * (MB // 3),
}


def per_call(fn: Callable[[], int], budget: float = 0.5) -> float:
    """Seconds per call, the best of a few rounds within ``budget``."""
    best = float("inf")
    spent = 0.0
    rounds = 0
    while spent < budget or rounds < 3:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = min(best, dt)
        spent += dt
        rounds += 1
    return best


def main() -> None:
    print(f"{'case':30} {'cap':>8} {'engine ms':>10} {'oracle ms':>10} {'result':>9}")
    for cap in (1024, 2 * MB):
        engine = _engine.PiiScanner(list(PII_TYPES), max_holdback_chars=cap)
        oracle = PiiCheck("pii", PII_TYPES, max_holdback_chars=cap)
        for name, whole in CASES.items():
            for text in (whole, whole[-4096:]):
                got = engine.holdback(text)
                want = oracle.holdback(text)
                e = per_call(lambda t=text, c=engine: c.holdback(t))
                o = per_call(lambda t=text, c=oracle: c.holdback(t))
                flag = "" if got == want else f"  MISMATCH oracle={want}"
                label = name if text is whole else f"{name} (4 KB)"
                print(f"{label:30} {cap:>8} {e * 1e3:>10.3f} {o * 1e3:>10.3f} {got:>9}{flag}")


if __name__ == "__main__":
    main()
