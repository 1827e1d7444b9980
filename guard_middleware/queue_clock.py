"""How long one provider call waited for a pooled connection (or a worker thread) before it was sent.

Pure (no aiohttp): the pipeline opens a clock around each provider call (``QUEUE_CLOCK``, a context
variable, so the connection pool's trace callbacks find it without any provider passing it along) and
reads it when the call times out, so a 504 can say how much of the deadline went to queueing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar

Report = Callable[[float], None]


class QueueClock:
    """The waits of one provider call. ``begin`` / ``end`` bracket one wait; ``close`` ends the waits a
    cancellation cut short (aiohttp sends no "queued end" to a request cancelled while queued), so each
    wait is reported exactly once, whole or cut short."""

    __slots__ = ("_open", "queued_s")

    def __init__(self) -> None:
        self.queued_s = 0.0
        self._open: dict[int, tuple[float, Report]] = {}

    def begin(self, report: Report) -> int:
        token = len(self._open) + 1
        while token in self._open:
            token += 1
        self._open[token] = (time.perf_counter(), report)
        return token

    def end(self, token: int) -> float:
        entry = self._open.pop(token, None)
        if entry is None:
            return 0.0
        started, report = entry
        seconds = time.perf_counter() - started
        self.queued_s += seconds
        report(seconds)
        return seconds

    def close(self) -> float:
        """End every wait still open; returns the total time queued."""
        for token in list(self._open):
            self.end(token)
        return self.queued_s


#: the clock of the provider call running in this task (None outside the pipeline)
QUEUE_CLOCK: ContextVar[QueueClock | None] = ContextVar("guard_queue_clock", default=None)
