"""Audit records reach stderr as JSON when nobody configured logging, batched on an event loop."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import asyncio
from guard_middleware.audit import Auditor
from guard_middleware.settings import AuditSettings
from guard_middleware.verdict import Action, Finding

auditor = Auditor(AuditSettings())
finding = Finding("pii", "EMAIL", action=Action.REDACT)

def record(request_id):
    auditor.record(request_id=request_id, guardrail="pii", phase="input", status="guardrail_intervened",
                   action=Action.REDACT, findings=[finding], duration_ms=0.1, values=["jane@example.com"])

record("outside-a-loop")

async def main():
    for i in range(3):
        record(f"in-loop-{i}")
    await asyncio.sleep(0.2)  # the batch is written within 50 ms

asyncio.run(main())
"""


def test_default_audit_output_is_json_lines_on_stderr_without_raw_values() -> None:
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in run.stderr.splitlines()]
    assert [r["request_id"] for r in records] == ["outside-a-loop", "in-loop-0", "in-loop-1", "in-loop-2"]
    assert all(r["action"] == "redact" and r["categories"] == ["EMAIL"] for r in records)
    assert len({r["value_hashes"][0] for r in records}) == 1
    assert "jane@example.com" not in run.stderr
