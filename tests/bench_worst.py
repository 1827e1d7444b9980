"""Worst-case inputs: crafted 1 MB texts that made the old Python PII patterns spend microseconds per
character. Run: ``python tests/bench_worst.py [--oracle]``.

Two measurements:

* engine: the time of one ``find`` and one ``holdback`` per check (every PII type; a 1,000-literal
  blocklist) on each shape, and with ``--oracle`` the pure-Python implementation it replaced, side by
  side (the oracle takes seconds per shape);
* gateway: a real example gateway with the benchmark policy (1,000 literals in and out, PII redaction
  both ways, audit on) in front of the mock LLM, in this process; while a ~1 MB request of each shape
  goes through, a ticker on the same event loop records the longest gap between its 1 ms sleeps, which
  is the longest time the loop (and every other request) was held.

Not a pytest module: it measures and prints, it does not assert.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import ClientSession, ClientTimeout, web

from examples.gateway import make_gateway
from examples.mock_llm import make_app
from guard_middleware import GuardMiddleware, GuardSettings
from guard_middleware.checks.blocklist import build_blocklist
from guard_middleware.checks.pii import PII_TYPES, PiiCheck
from tests.bench_common import blocklist_table, literals, prose
from tests.oracle import blocklist as oracle_blocklist
from tests.oracle import pii as oracle_pii

SIZE = 1_000_000
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def shapes(size: int = SIZE) -> dict[str, str]:
    """Each shape repeated to ``size`` characters."""

    def rep(unit: str) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    return {
        "'::1:' repeated": rep("::1:"),
        "'1-' repeated": rep("1-"),
        "digits": rep("4111111111111111"),
        "'a@' repeated": rep("a@"),
        "'a.' then '@'": rep("a.")[: size - 2] + "@x",
        "'password=' repeated": rep("password="),
        "'ssn ' repeated": rep("ssn "),
        "'born ' repeated": rep("born 1"),
        "'www.' repeated": rep("www."),
        "'aws ' + base64": rep("aws " + "A" * 39 + "/ "),
        "hex and colons": rep("ab:cd:"),
        "'GB82 ' repeated": rep("GB82 WEST "),
        "'a@b.' labels": "x@" + rep("a."),
        "'a@' + IDN labels": rep("a@\u00e9\u0301b.\u0440\u0444."),
        "'+1 (' repeated": rep("+1 ("),
        "'0 ' repeated": rep("0 "),
        "'eyJa.' repeated": rep("eyJabcdefghij."),
        "'-----BEGIN' repeated": rep("-----BEGIN RSA PRIVATE KEY-----\n"),
        "'x://a:b@' repeated": rep("x://a:b@"),
        "'x://a:' + long user": rep("x://a:" + "b" * 300),
        "'KEY=value' repeated": rep("API_KEY=abcdefghijklmnop0123 "),
        "'secret=' repeated": rep("secret="),
        "'=:' repeated": rep("=:"),
        "'sk-' repeated": rep("sk-"),
        "base64": rep("".join(random.Random(5).choices(_B64, k=4096))),
        "prose": prose(size, 1),
    }


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def engine(oracle: bool) -> None:
    patterns = [{"pattern": p} for p in literals(1000)]
    new_bl = build_blocklist({"patterns": patterns}, name="bl", key="k")
    new_pii = PiiCheck("pii", PII_TYPES)
    old_bl = oracle_blocklist.build_blocklist({"patterns": patterns}, name="bl", key="k")
    old_pii = oracle_pii.PiiCheck("pii", oracle_pii.PII_TYPES)
    head = f"{'shape (1 MB)':24s} {'pii find':>10s} {'pii hold':>10s} {'bl find':>10s} {'bl hold':>10s}"
    print(head + ("   oracle: pii find / hold, bl find" if oracle else ""))
    for name, text in shapes().items():
        row = [
            timed(lambda t=text: new_pii.find(t)),
            timed(lambda t=text: new_pii.holdback(t)),
            timed(lambda t=text: new_bl.find(t)),
            timed(lambda t=text: new_bl.holdback(t)),
        ]
        line = f"{name:24s}" + "".join(f" {ms:8.1f}ms" for ms in row)
        if oracle:
            old = [
                timed(lambda t=text: old_pii.find(t)),
                timed(lambda t=text: old_pii.holdback(t)),
                timed(lambda t=text: old_bl.find(t)),
            ]
            line += "   " + " / ".join(f"{ms:.0f}ms" for ms in old)
        print(line, flush=True)


async def gateway() -> None:
    bl = blocklist_table(1000)
    settings = GuardSettings.load(
        input={"providers": [bl]},
        output={"providers": [bl]},
        pii={"action": "redact", "apply_to": "both"},
        max_body_bytes=4 * SIZE,
    )
    mock = web.AppRunner(make_app(), access_log=None)
    await mock.setup()
    await web.TCPSite(mock, "127.0.0.1", 0).start()
    mock_port = mock.addresses[0][1]
    gw = web.AppRunner(make_gateway(f"http://127.0.0.1:{mock_port}", guard=GuardMiddleware(settings)))
    await gw.setup()
    await web.TCPSite(gw, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{gw.addresses[0][1]}/v1/chat/completions"
    print(f"\n{'shape (~1 MB request)':24s} {'status':>6s} {'total':>9s} {'longest loop stall':>19s}")
    async with ClientSession(timeout=ClientTimeout(total=120)) as session:
        for name, text in shapes().items():
            body = json.dumps({"model": "mock", "messages": [{"role": "user", "content": text}]}).encode()
            gaps: list[float] = []
            done = asyncio.Event()

            async def ticker(gaps: list[float] = gaps, done: asyncio.Event = done) -> None:
                last = time.perf_counter()
                while not done.is_set():
                    await asyncio.sleep(0.001)
                    now = time.perf_counter()
                    gaps.append(now - last)
                    last = now

            tick = asyncio.create_task(ticker())
            t0 = time.perf_counter()
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
                await r.read()
                status = r.status
            total = time.perf_counter() - t0
            done.set()
            await tick
            print(f"{name:24s} {status:6d} {total * 1000:7.0f}ms {max(gaps) * 1000:17.1f}ms", flush=True)
    await gw.cleanup()
    await mock.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oracle", action="store_true", help="also time the pure-Python oracle")
    parser.add_argument("--no-gateway", action="store_true")
    args = parser.parse_args()
    engine(args.oracle)
    if not args.no_gateway:
        asyncio.run(gateway())


if __name__ == "__main__":
    main()
