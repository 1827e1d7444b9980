"""The error contract: one OpenAI-shaped body for every refusal, whoever decided it. Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from guard_middleware.verdict import Finding


class ConfigError(ValueError):
    """A bad configuration, raised at start-up. ``key`` is the dotted path of the offending setting."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class GuardRejection(Exception):
    """A request (or response) the guard refuses, with its HTTP status and error body."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body["error"]["message"])
        self.status = status
        self.body = body
        self.headers = headers or {}


def error_body(
    message: str,
    *,
    code: str,
    type_: str = "invalid_request_error",
    param: str | None = None,
    **details: Any,
) -> dict[str, Any]:
    """``{"error": {message, type, param, code, ...details}}``: what the OpenAI SDK parses into its
    ``APIError`` (``.code`` comes from ``error.code``)."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code, **details}}


def bad_request(message: str, *, code: str = "invalid_request", param: str | None = None) -> GuardRejection:
    return GuardRejection(400, error_body(message, code=code, param=param))


def blocked_body(phase: str, findings: Sequence[Finding], message: str | None = None) -> dict[str, Any]:
    """The 400 ``content_filter`` body. Details name guardrails, categories and severities; never the
    matched text (which may be the very PII being protected)."""
    guardrails = sorted({f.guardrail for f in findings})
    categories = sorted({f.category for f in findings})
    rank = {"low": 0, "medium": 1, "high": 2, "critical": 3}
    severity = max((f.severity for f in findings), key=lambda s: rank.get(s.lower(), 2), default="high")
    text = message or next((f.message for f in findings if f.message), None)
    what = "input" if phase == "input" else "output"
    summary = f"The {what} was blocked by guardrail {', '.join(guardrails) or 'policy'}"
    summary += f" ({', '.join(categories)})." if categories else "."
    if text:
        summary += f" {text}"
    return error_body(
        summary,
        code="content_filter",
        guardrail=guardrails[0] if len(guardrails) == 1 else guardrails,
        phase=phase,
        categories=categories,
        severity=severity,
    )


def sse_error_event(body: dict[str, Any]) -> bytes:
    """A mid-stream refusal: one ``data:`` event with the same error body. The OpenAI SDK raises
    ``APIError`` when a stream event carries ``error``."""
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"
