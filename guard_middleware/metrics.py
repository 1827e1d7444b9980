"""Prometheus metrics of what the guard does. Pure (no aiohttp): the ``/metrics`` endpoint is in
``metrics_endpoint``.

The hot path only adds to plain dictionaries on the event loop thread (a tuple key and an integer, well
under a microsecond); ``prometheus_client`` reads them when scraped, through a custom collector. Its own
``Counter.labels(...).inc()`` takes a lock and a label lookup per call, several microseconds per
request once every guardrail of both phases is counted, which is more than the 1% of a request's CPU
the guard may spend on metrics.

Every label value is bounded: routes and guardrails come from the configuration, phases, results,
reasons and error kinds are fixed words, and categories (a provider may invent them) are capped per
guardrail, the rest counted as ``other``. No request ids, no text.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from guard_middleware.verdict import Action

#: evaluation latency buckets, seconds: local checks take well under a millisecond, providers up to
#: their deadline
LATENCY_BUCKETS: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
#: distinct finding categories counted per guardrail; later ones are counted as ``other``
MAX_CATEGORIES_PER_GUARDRAIL = 64
#: the label of a provider error kind we do not know (a provider module added a new one)
_ERROR_KINDS = frozenset({"timeout", "http", "auth", "rate_limited", "connection", "malformed", "error"})
RESULT_OF_ACTION: Final = {
    Action.ALLOW: "allowed",
    Action.LOG: "logged",
    Action.WARN: "warned",
    Action.REDACT: "redacted",
    Action.BLOCK: "blocked",
}


class Latency:
    """One histogram's buckets (not cumulative; the last is +Inf) and sum."""

    __slots__ = ("buckets", "seconds")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.seconds = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.seconds += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip(_BOUND_LABELS, self.buckets, strict=True):
            running += n
            out.append((bound, running))
        return out


_BOUND_LABELS = (*(str(b) for b in LATENCY_BUCKETS), "+Inf")


class Series(Latency):
    """One guardrail in one phase: its verdicts and latency. ``allowed`` is kept apart from the other
    results because it is by far the most frequent (the fast path adds to it for every guardrail)."""

    __slots__ = ("allowed", "results")

    def __init__(self) -> None:
        super().__init__()
        self.allowed = 0
        self.results: dict[tuple[str, str], int] = {}


class RouteCounts:
    """One route's guarded phases and checked bytes. The middleware keeps one per route and adds to its
    fields directly: the commonest counts cost an attribute increment, not a call and a tuple key."""

    __slots__ = ("input", "input_bytes", "output", "output_bytes")

    def __init__(self) -> None:
        self.input = self.output = self.input_bytes = self.output_bytes = 0


def _histogram(name: str, doc: str, labels: list[str], series: Mapping[Any, Latency]) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=labels)
    for key, latency in list(series.items()):
        family.add_metric(list(key), latency.cumulative(), latency.seconds)
    return family


class GuardMetrics(Collector):
    """The counters of one process (every middleware on the same registry shares one). Methods are
    called on the event loop thread."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], RouteCounts] = {}
        self.evaluations: dict[tuple[str, str], Series] = {}
        self.findings: dict[tuple[str, str, str], int] = {}
        self._categories: dict[str, set[str]] = {}
        self.streams_ended: dict[tuple[str, str], int] = {}
        self.unguarded: dict[str, int] = {}
        self.queue_wait: dict[tuple[str], Latency] = {}
        self.cache: dict[tuple[str, str], int] = {}
        self.closed: dict[tuple[str, str], int] = {}

    def series(self, guardrail: str, phase: str) -> Series:
        """The counters of ``guardrail`` in ``phase`` (callers on the hot path may keep it)."""
        key = (guardrail, phase)
        found = self.evaluations.get(key)
        if found is None:
            found = self.evaluations[key] = Series()
        return found

    # -- the hot path ---------------------------------------------------------------------------------
    def route_counts(self, route: str, fmt: str) -> RouteCounts:
        """The counts of ``route`` (in API format ``fmt``), for the caller to keep and add to."""
        key = (route, fmt)
        found = self.routes.get(key)
        if found is None:
            found = self.routes[key] = RouteCounts()
        return found

    def evaluation(
        self, guardrail: str, phase: str, result: str, seconds: float | None, error_kind: str = ""
    ) -> None:
        """``result``: allowed, logged, warned, redacted, blocked, error or timeout. ``seconds`` is None
        for a stream's local checks, which run piecewise over the stream's life."""
        series = self.evaluations.get((guardrail, phase)) or self.series(guardrail, phase)
        if result == "allowed":
            series.allowed += 1
        else:
            if error_kind and error_kind not in _ERROR_KINDS:
                error_kind = "error"
            key = (result, error_kind)
            series.results[key] = series.results.get(key, 0) + 1
        if seconds is not None:
            series.observe(seconds)

    def allowed(self, series: Sequence[Series], seconds: float) -> None:
        """One scan found nothing for each guardrail of ``series`` (the fast path), in ``seconds``."""
        i = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        for one in series:
            one.allowed += 1
            one.buckets[i] += 1
            one.seconds += seconds

    def finding(self, guardrail: str, phase: str, category: str, n: int = 1) -> None:
        seen = self._categories.setdefault(guardrail, set())
        if category not in seen:
            if len(seen) >= MAX_CATEGORIES_PER_GUARDRAIL:
                category = "other"
            else:
                seen.add(category)
        key = (guardrail, phase, category)
        self.findings[key] = self.findings.get(key, 0) + n

    def stream_ended(self, fmt: str, reason: str) -> None:
        """The guard ended a stream: ``blocked``, ``refused`` (a refusal in the model's place),
        ``guardrail_failed`` or ``upstream_failed``."""
        key = (fmt, reason)
        self.streams_ended[key] = self.streams_ended.get(key, 0) + 1

    def passed_unguarded(self, reason: str) -> None:
        """A request with a body passed without checks: ``disabled`` or ``unknown_route``
        (``unknown_route_refused`` when refused instead)."""
        self.unguarded[reason] = self.unguarded.get(reason, 0) + 1

    def queued(self, guardrail: str, seconds: float) -> None:
        """A provider call waited ``seconds`` for a pooled connection."""
        key = (guardrail,)
        latency = self.queue_wait.get(key)
        if latency is None:
            latency = self.queue_wait[key] = Latency()
        latency.observe(seconds)

    def cache_lookup(self, guardrail: str, result: str) -> None:
        """A verdict cache lookup: ``hit``, ``miss`` or ``error``."""
        key = (guardrail, result)
        self.cache[key] = self.cache.get(key, 0) + 1

    def client_closed(self, route: str, stage: str) -> None:
        """The client went away while the guard waited for ``stage``: ``input`` (its checks) or
        ``upstream`` (the handler, its answer and the answer's checks)."""
        key = (route, stage)
        self.closed[key] = self.closed.get(key, 0) + 1

    # -- the scrape -------------------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        yield _counter(
            "guard_requests",
            "Request and answer phases the guard checked.",
            ["route", "format", "phase"],
            {
                (route, fmt, phase): n
                for (route, fmt), counts in list(self.routes.items())
                for phase, n in (("input", counts.input), ("output", counts.output))
                if n
            },
        )
        evaluations: dict[tuple[str, str, str, str], int] = {}
        for (guardrail, phase), series in list(self.evaluations.items()):
            if series.allowed:
                evaluations[(guardrail, phase, "allowed", "")] = series.allowed
            for (result, kind), n in list(series.results.items()):
                evaluations[(guardrail, phase, result, kind)] = n
        yield _counter(
            "guard_evaluations",
            "Guardrail evaluations by result (allowed, logged, warned, redacted, blocked, error, timeout).",
            ["guardrail", "phase", "result", "error_kind"],
            evaluations,
        )
        yield _histogram(
            "guard_evaluation_duration_seconds",
            "Time one guardrail took on one request or answer.",
            ["guardrail", "phase"],
            {k: v for k, v in list(self.evaluations.items()) if sum(v.buckets)},
        )
        yield _counter(
            "guard_findings", "Findings by category.", ["guardrail", "phase", "category"], self.findings
        )
        yield _counter(
            "guard_scanned_bytes",
            "Body bytes the guard checked.",
            ["phase"],
            {
                (phase,): n
                for phase, n in (
                    ("input", sum(c.input_bytes for c in list(self.routes.values()))),
                    ("output", sum(c.output_bytes for c in list(self.routes.values()))),
                )
                if n
            },
        )
        yield _counter(
            "guard_streams_ended",
            "Streams the guard ended before the upstream did.",
            ["format", "reason"],
            self.streams_ended,
        )
        yield _counter(
            "guard_unguarded_requests",
            "Requests with a body that passed without checks (disabled, unknown route).",
            ["reason"],
            {(k,): v for k, v in list(self.unguarded.items())},
        )
        yield _histogram(
            "guard_provider_queue_seconds",
            "Time a provider call waited for a pooled connection.",
            ["guardrail"],
            self.queue_wait,
        )
        yield _counter(
            "guard_cache_lookups",
            "Verdict cache lookups by result (hit, miss, error).",
            ["guardrail", "result"],
            self.cache,
        )
        yield _counter(
            "guard_client_closed",
            "Guarded requests whose client went away before the answer (their work was cancelled).",
            ["route", "stage"],
            self.closed,
        )

    def describe(self) -> Iterator[Metric]:
        # Lets the registry check names on register without collecting.
        return self.collect()


def _counter(name: str, doc: str, labels: list[str], values: Mapping[Any, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, value in list(values.items()):
        family.add_metric(list(key), value)
    return family


class NoMetrics(GuardMetrics):
    """``metrics.enabled = false``: the same calls, nothing kept."""

    def route_counts(self, route: str, fmt: str) -> RouteCounts:
        return RouteCounts()  # added to and never read

    def evaluation(
        self, guardrail: str, phase: str, result: str, seconds: float | None, error_kind: str = ""
    ) -> None:
        pass

    def allowed(self, series: Sequence[Series], seconds: float) -> None:
        pass

    def finding(self, guardrail: str, phase: str, category: str, n: int = 1) -> None:
        pass

    def stream_ended(self, fmt: str, reason: str) -> None:
        pass

    def passed_unguarded(self, reason: str) -> None:
        pass

    def queued(self, guardrail: str, seconds: float) -> None:
        pass

    def cache_lookup(self, guardrail: str, result: str) -> None:
        pass

    def client_closed(self, route: str, stage: str) -> None:
        pass


_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, GuardMetrics] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def metrics_for(registry: CollectorRegistry | None) -> GuardMetrics:
    """The collector registered on ``registry`` (default: prometheus_client's global one), registered
    on first use. Middlewares sharing a registry share its counters: a scrape sees the process."""
    registry = REGISTRY if registry is None else registry
    with _lock:
        found = _by_registry.get(registry)
        if found is None:
            found = _by_registry[registry] = GuardMetrics()
            registry.register(found)
        return found
