"""OpenTelemetry spans around guardrail evaluations, when ``opentelemetry-api`` is installed (the
``otel`` extra) and the application has set a tracer provider. Otherwise nothing: not even the API's
no-op spans, which cost microseconds per evaluation. Pure (no aiohttp)."""

from __future__ import annotations

import contextlib
import time
from typing import Any

try:  # the optional extra
    from opentelemetry import trace as _trace
    from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, Status, StatusCode
except ImportError:  # pragma: no cover - exercised by installs without the extra
    _trace = None  # type: ignore[assignment]


_RECHECK_S = 1.0


class Tracer:
    """Spans as children of the current one (the gateway's request span, when it traces); nothing
    when no tracer provider is set."""

    def __init__(self, enabled: bool = True, provider: Any = None) -> None:
        """``provider``: a TracerProvider to use instead of the global one (as OpenTelemetry's
        instrumentations accept)."""
        self.enabled = enabled and _trace is not None
        self._given = provider
        self._tracer: Any = None
        self._provider: Any = None
        self._recheck_at = 0.0

    def _active(self) -> Any:
        if not self.enabled:
            return None
        if self._given is None:
            # The global provider is set once, typically at start-up; looking it up costs an environment
            # lookup, so it is looked at again at most once a second.
            now = time.monotonic()
            if now < self._recheck_at:
                return self._tracer
            self._recheck_at = now + _RECHECK_S
            provider = _trace.get_tracer_provider()
        else:
            provider = self._given
        if isinstance(provider, (ProxyTracerProvider, NoOpTracerProvider)):
            self._tracer = None  # the API is installed but nobody traces: skip the no-op span's cost
        elif provider is not self._provider:
            self._provider = provider
            self._tracer = provider.get_tracer("guard_middleware")
        return self._tracer

    def start(self, guardrail: str, phase: str, kind: str) -> Any:
        """A started span (a child of the current one), or None when nobody traces."""
        tracer = self._active()
        if tracer is None:
            return None
        return tracer.start_span(
            f"guardrail {guardrail}",
            attributes={"guardrail.name": guardrail, "guardrail.phase": phase, "guardrail.kind": kind},
        )

    @staticmethod
    def end(span: Any, result: str, error: str | None = None) -> None:
        if span is None:
            return
        span.set_attribute("guardrail.result", result)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end()

    @staticmethod
    def current(span: Any) -> contextlib.AbstractContextManager[Any]:
        """Makes ``span`` the current one (so an instrumented HTTP client nests its call under it)."""
        if span is None or _trace is None:
            return contextlib.nullcontext()
        return _trace.use_span(span, end_on_exit=False)
