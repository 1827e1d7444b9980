"""Audit records: one JSON log record per guardrail evaluation, selected by the ``[audit]`` flags.

Records carry keyed hashes (HMAC-SHA256, first 16 hex chars) of matched values so repeated leaks can
be correlated without the log itself becoming a store of the PII it protects. The key is random per
process unless ``GUARD_AUDIT_HASH_KEY`` is set (set it to correlate across restarts and replicas).
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import hmac
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any, TextIO

import orjson

from guard_middleware.settings import AuditSettings
from guard_middleware.verdict import Action, Finding, Status

#: value hashes per audit record; a record with more distinct values says how many in `distinct_values`
MAX_VALUE_HASHES = 100


class _BatchWriter(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes audit records in batches: stderr is line-buffered, so one write per record would cost a
    syscall per audited request. On an event loop the batch is written 50 ms after its first record
    (one timer per batch); without a running loop every record is written at once."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._lines: list[str] = []
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.add_line(line)

    def add_line(self, line: str) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._lines.append(line + "\n")
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._scheduled = True
        loop.call_later(0.05, self.flush)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._scheduled = False
            stream: TextIO | None = self.stream
            if stream is not None and stream.closed:
                # The stream we were given is gone (a test runner's capture, closed before the
                # exit-time flush): the process's own stderr still takes the records.
                stream = sys.__stderr__
            if stream is None or stream.closed:
                self._lines.clear()
                return
            if self._lines:
                stream.write("".join(self._lines))
                self._lines.clear()
            stream.flush()


def _json_handler() -> _BatchWriter:
    from pythonjsonlogger.json import JsonFormatter

    writer = _BatchWriter(sys.stderr)
    writer.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    atexit.register(writer.flush)  # logging.shutdown flushes too; this covers a handler removed early
    return writer


class Auditor:
    def __init__(self, settings: AuditSettings) -> None:
        self._settings = settings
        self._logger = logging.getLogger(settings.logger)
        key = os.environ.get("GUARD_AUDIT_HASH_KEY")
        self._key = key.encode() if key else secrets.token_bytes(32)
        #: our own JSON writer while it is the logger's only handler: records skip the logging machinery
        #: (a LogRecord and a formatter cost ~30 us, more than a whole request's share)
        self._direct: _BatchWriter | None = None
        self._formatter: logging.Formatter | None = None
        if settings.enabled and not self._logger.handlers and not logging.getLogger().handlers:
            # Nobody configured logging: still emit JSON records rather than dropping them.
            self._direct = _json_handler()
            self._formatter = self._direct.formatter
            self._logger.addHandler(self._direct)
            self._logger.setLevel(logging.INFO)
            self._logger.propagate = False
        self._second = -1
        self._asctime = ""

    def _emit(self, level: int, message: str, extra: dict[str, Any]) -> None:
        direct = self._direct
        logger = self._logger
        if (
            direct is None
            or logger.handlers != [direct]
            or logger.filters
            or direct.filters
            or direct.formatter is not self._formatter
            or not logger.isEnabledFor(level)
        ):
            # Someone changed the logging set-up: theirs decides how records look.
            logger.log(level, message, extra=extra)
            return
        # The same fields, in the same order, as the JsonFormatter of ``_json_handler`` writes.
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._asctime = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        doc = {
            "asctime": f"{self._asctime},{int((now - second) * 1000):03d}",
            "levelname": logging.getLevelName(level),
            "name": logger.name,
            "message": message,
            **extra,
        }
        try:
            line = orjson.dumps(doc).decode()
        except TypeError:  # a lone surrogate in a provider's error text
            line = json.dumps(doc)
        else:
            if not line.isascii():
                line = json.dumps(doc)  # as the JsonFormatter writes it: non-ASCII escaped
        direct.add_line(line)

    @property
    def log_all(self) -> bool:
        return self._settings.enabled and self._settings.log_all_evaluations

    def hash_value(self, value: str) -> str:
        return hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]

    def wanted(self, action: Action, findings: Sequence[Finding], status: Status) -> bool:
        s = self._settings
        if not s.enabled:
            return False
        if s.log_all_evaluations or status == "guardrail_failed_to_respond":
            return True
        if action is Action.BLOCK and s.log_blocked:
            return True
        if action is Action.REDACT and s.log_redacted:
            return True
        return bool(findings) and s.log_violations

    def record(
        self,
        *,
        request_id: str,
        guardrail: str,
        phase: str,
        status: Status,
        action: Action,
        findings: Sequence[Finding],
        duration_ms: float,
        values: Iterable[str] = (),
        unscanned: Sequence[str] = (),
        error: str | None = None,
        stream: bool = False,
        team: str | None = None,
        guardrails: Sequence[str] = (),
        cached: bool = False,
    ) -> None:
        if not self.wanted(action, findings, status):
            return
        extra: dict[str, Any] = {
            "event": "guardrail_evaluation",
            "request_id": request_id,
            "guardrail": guardrail,
            "phase": phase,
            "status": status,
            "action": action.name.lower(),
            "categories": sorted({f.category for f in findings}),
            "findings": len(findings),
            "duration_ms": round(duration_ms, 3),
        }
        # The first MAX_VALUE_HASHES distinct values, in the order found: a body of 50,000 addresses
        # would otherwise cost a quarter of a second of hashing for a record nobody can read.
        distinct = dict.fromkeys(values)
        extra["value_hashes"] = sorted(self.hash_value(v) for v in islice(distinct, MAX_VALUE_HASHES))
        if len(distinct) > MAX_VALUE_HASHES:
            extra["distinct_values"] = len(distinct)
        if unscanned:
            extra["unscanned"] = list(unscanned)
        if error:
            extra["error"] = error
        if stream:
            extra["stream"] = True
        if team is not None:
            extra["team"] = team
        if guardrails:
            # a team policy applied: the resolved list, base → level → direct id → request
            extra["guardrails"] = list(guardrails)
        if cached:
            # the verdict came from the verdict cache: the provider was not called for this evaluation
            extra["cached"] = True
        level = logging.WARNING if status == "guardrail_failed_to_respond" else logging.INFO
        self._emit(level, "guardrail_evaluation", extra)

    def client_closed(self, *, request_id: str, route: str, stage: str, duration_ms: float) -> None:
        """The client went away before its answer; the guard cancelled its checks and the handler."""
        if not self._settings.enabled:
            return
        extra = {
            "event": "client_closed",
            "request_id": request_id,
            "route": route,
            "status": "client_closed",
            "stage": stage,
            "duration_ms": round(duration_ms, 3),
        }
        self._emit(logging.INFO, "client_closed", extra)

    def unguarded(self, *, request_id: str, route: str, method: str, blocked: bool) -> None:
        """A request under the API prefix that no format owns: passed unchecked, or refused."""
        if not self._settings.enabled:
            return
        extra = {
            "event": "unguarded_request",
            "request_id": request_id,
            "route": route,
            "method": method,
            "action": "block" if blocked else "allow",
        }
        self._emit(logging.INFO, "unguarded_request", extra)
