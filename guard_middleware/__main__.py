"""``python -m guard_middleware check --config FILE "text"``: what each check finds, and the decision.

Runs the local checks and, if configured, the remote providers, exactly as the middleware would for a
user message (``--phase input``) or an assistant answer (``--phase output``). Matched values are shown
so a policy can be tuned; this is an operator tool, not a log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from guard_middleware.audit import Auditor
from guard_middleware.errors import ConfigError
from guard_middleware.pipeline import Evaluator, Vault
from guard_middleware.policy import compile_policy
from guard_middleware.providers.base import EvalContext
from guard_middleware.runtime import Runtime
from guard_middleware.settings import AuditSettings, GuardSettings
from guard_middleware.verdict import Action, Phase, Segment


async def _check(config: str | None, text: str, phase: Phase, as_json: bool) -> int:
    settings = GuardSettings.load(**({"config_file": config} if config else {}))
    settings = settings.model_copy(update={"audit": AuditSettings(enabled=False)})
    policy = compile_policy(settings)
    evaluator = Evaluator(policy, Auditor(settings.audit))
    selected = policy.select(phase, [], [])
    segment = Segment(("messages", 0, "content"), text, "user" if phase is Phase.INPUT else "assistant")
    runtime = Runtime(
        policy.provider_pools,
        default_connections=policy.provider_max_connections,
        blocking_threads=policy.blocking_pool_size,
    )
    if any(not g.is_local for g in selected):
        await runtime.start()
    try:
        ev = await evaluator.evaluate(
            phase, selected, [segment], EvalContext("cli", phase, "cli"), runtime, Vault()
        )
    finally:
        await runtime.close()
    findings: list[dict[str, Any]] = []
    for f in ev.findings:
        has_span = f.start is not None and f.end is not None
        findings.append(
            {
                "guardrail": f.guardrail,
                "category": f.category,
                "severity": f.severity,
                "action": (f.action or Action.ALLOW).name.lower(),
                "span": [f.start, f.end] if has_span else None,
                "match": text[f.start : f.end] if has_span else None,
                "message": f.message,
            }
        )
    names = [g.name for g in selected]
    rewritten = ev.new_texts.get(0)
    error = ev.failure.body["error"]["message"] if ev.failure else None
    if as_json:
        result = {
            "phase": phase.value,
            "guardrails": names,
            "findings": findings,
            "decision": ev.action.name.lower(),
            "rewritten": rewritten,
            "error": error,
        }
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(f"guardrails ({phase.value}): {', '.join(names) or 'none'}")
        for row in findings:
            match = f"  {row['match']!r}" if row["match"] else ""
            message = f"  {row['message']}" if row["message"] else ""
            what = f"{row['category']} ({row['severity']}) -> {row['action']}"
            print(f"  {row['guardrail']}: {what}{match}{message}")
        if not findings:
            print("  no findings")
        print(f"decision: {ev.action.name.lower()}")
        if rewritten is not None:
            print(f"rewritten: {rewritten}")
        if error:
            print(f"error: {error}")
    return 1 if ev.action is Action.BLOCK else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="guard-middleware", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="run the configured checks on a text")
    check.add_argument("--config", help="TOML/YAML config file (default: GUARD_CONFIG_FILE / GUARD_* env)")
    check.add_argument("--phase", choices=["input", "output"], default="input")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.add_argument("text", help="the text to check ('-' reads standard input)")
    args = parser.parse_args(argv)
    text = sys.stdin.read() if args.text == "-" else args.text
    try:
        return asyncio.run(_check(args.config, text, Phase(args.phase), args.json))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
