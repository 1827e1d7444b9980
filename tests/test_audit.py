"""Audit records reach stderr as JSON when nobody configured logging, batched on an event loop."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from guard_middleware.audit import MAX_VALUE_HASHES, Auditor
from guard_middleware.settings import AuditSettings
from guard_middleware.verdict import Action, Finding

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


def test_a_record_hashes_at_most_the_first_distinct_values_and_counts_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logging.getLogger().addHandler(caplog.handler)  # a configured logger: records go through logging
    try:
        auditor = Auditor(AuditSettings())
        values = [f"user{i}@example.com" for i in range(5000)] * 2
        findings = [Finding("pii", "EMAIL", action=Action.REDACT)] * len(values)
        with caplog.at_level(logging.INFO, logger="guard_middleware.audit"):
            for batch in (values[:3] * 4, values):
                auditor.record(
                    request_id="r",
                    guardrail="pii",
                    phase="input",
                    status="guardrail_intervened",
                    action=Action.REDACT,
                    findings=findings,
                    duration_ms=1.0,
                    values=batch,
                )
    finally:
        logging.getLogger().removeHandler(caplog.handler)
    few, many = [r.__dict__ for r in caplog.records]
    assert len(few["value_hashes"]) == 3 and "distinct_values" not in few
    assert len(many["value_hashes"]) == MAX_VALUE_HASHES and many["distinct_values"] == 5000
    assert set(few["value_hashes"]) <= set(many["value_hashes"])  # the first ones found


CLOSED_STREAM_SCRIPT = """
import asyncio, sys, tempfile
from guard_middleware.audit import Auditor
from guard_middleware.settings import AuditSettings
from guard_middleware.verdict import Action, Finding

captured = tempfile.TemporaryFile("w+")
sys.stderr = captured  # a test runner's capture: the writer binds it ...
auditor = Auditor(AuditSettings())
sys.stderr = sys.__stderr__

async def main():
    auditor.record(request_id="late", guardrail="pii", phase="input", status="guardrail_intervened",
                   action=Action.REDACT, findings=[Finding("pii", "EMAIL", action=Action.REDACT)],
                   duration_ms=0.1, values=["x@y.io"])

asyncio.run(main())  # ... and the batch is still waiting for its timer
captured.close()  # ... which is closed before the exit-time flush
"""


def test_records_still_waiting_at_exit_reach_stderr_when_the_bound_stream_was_closed() -> None:
    run = subprocess.run(
        [sys.executable, "-c", CLOSED_STREAM_SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0
    assert "Exception ignored" not in run.stderr, run.stderr
    assert [json.loads(line)["request_id"] for line in run.stderr.splitlines()] == ["late"]
