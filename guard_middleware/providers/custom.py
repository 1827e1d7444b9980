"""Bring your own guardrail: the ``custom`` provider calls your HTTP service.

Configuration
-------------
``url`` (required), ``api_key`` (sent as ``Authorization: Bearer <api_key>``), ``headers`` (extra
static headers), ``retry_enabled`` (default ``false``), ``max_retries`` (default 2),
``attempt_timeout_ms`` (per attempt; defaults to the guardrail's ``timeout_ms``).

Request
-------
``POST <url>`` with ``Content-Type: application/json``::

    {
      "phase": "input",                 # "input" (the request) or "output" (the model's answer)
      "request_id": "3f0c…",            # the gateway's id for this request, for your logs
      "route": "/v1/chat/completions",
      "segments": [                     # every piece of text, in order
        {"text": "Hi, I am …", "role": "user", "path": ["messages", 1, "content"]}
      ],
      "metadata": {}                    # per-request tags the gateway forwards (may be empty)
    }

``role`` may be ``null`` (text without a chat role); ``path`` is the JSON path of the text inside the
request or response body, for your information only.

Response
--------
HTTP 200 with a JSON object::

    {
      "action": "allow" | "block" | "warn" | "log" | "redact",
      "message": "optional text shown to the caller when blocked",
      "findings": [                     # optional
        {"category": "PII", "severity": "high", "segment": 0}
      ],
      "texts": ["…", "…"]               # only with "redact": one new text per segment, same order
    }

- ``block`` refuses the request (or response) with HTTP 400 ``content_filter``; ``warn`` lets it
  through with a warning header; ``log`` lets it through and records the findings; ``allow`` lets it
  through.
- ``redact`` replaces the text of every segment with ``texts[i]`` (send the original text back for a
  segment you do not change). ``texts`` must have exactly as many entries as ``segments``.
- ``findings[].category`` is required (a short name such as ``PII`` or ``TOXICITY``);
  ``severity`` is ``low`` | ``medium`` | ``high`` | ``critical`` (default ``high``);
  ``segment`` (optional) is an index into ``segments``.
- Anything else (another status, non-JSON, an unknown ``action``, ``texts`` of the wrong length or
  with a non-redact action, a ``segment`` out of range) is an error, handled by the guardrail's
  ``on_error`` policy. The gateway never guesses what a malformed answer meant.

Retries
-------
With ``retry_enabled``, a 5xx, a 429, a timeout or a refused connection is retried up to
``max_retries`` times with exponential backoff and full jitter (100 ms base, 2 s cap). A ``Retry-After``
of at most 5 seconds on a 429/503 is honoured; a longer one ends the retries at once. Other answers
(4xx, malformed JSON) are not retried. With retries on, the guardrail's overall deadline is
``attempt * (max_retries + 1)`` plus the backoff (2 s per retry at most), so a retry can actually happen;
a timeout there is handled by ``on_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from guard_middleware.providers._http import (
    HttpProviderError,
    expect_dict,
    expect_list,
    post_json,
    reporting,
)
from guard_middleware.providers.base import EvalContext, Runtime
from guard_middleware.verdict import Action, Finding, ProviderError, ProviderOutcome, Segment

logger = logging.getLogger("guard_middleware.providers")

BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 2.0
MAX_RETRY_AFTER_S = 5.0
_ACTIONS = {
    "allow": Action.ALLOW,
    "block": Action.BLOCK,
    "warn": Action.WARN,
    "log": Action.LOG,
    "redact": Action.REDACT,
}
_SEVERITIES = frozenset({"low", "medium", "high", "critical"})


class CustomOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1)
    api_key: str | None = Field(default=None, repr=False)
    headers: dict[str, str] = Field(default_factory=dict)
    retry_enabled: bool = False
    max_retries: int = Field(default=2, ge=0, le=10)
    attempt_timeout_ms: int | None = Field(default=None, ge=1)


def _retryable(err: ProviderError) -> bool:
    if err.kind in ("timeout", "connection", "rate_limited"):
        return True
    return err.kind == "http" and err.status is not None and err.status >= 500


class CustomProvider:
    def __init__(self, options: CustomOptions, *, name: str, timeout_ms: int) -> None:
        self.name = name
        self._opts = options
        self._headers = dict(options.headers)
        if options.api_key:
            self._headers["Authorization"] = f"Bearer {options.api_key}"
        self._attempt_timeout_s = (options.attempt_timeout_ms or timeout_ms) / 1000
        self._attempts = 1 + (options.max_retries if options.retry_enabled else 0)
        self._label = f"{name} (custom)"

    @classmethod
    def build(cls, options: CustomOptions, *, name: str, key: str, timeout_ms: int) -> CustomProvider:
        return cls(options, name=name, timeout_ms=timeout_ms)

    async def evaluate(
        self, segments: Sequence[Segment], ctx: EvalContext, runtime: Runtime
    ) -> ProviderOutcome:
        body = {
            "phase": ctx.phase.value,
            "request_id": ctx.request_id,
            "route": ctx.route,
            "segments": [{"text": s.text, "role": s.role, "path": list(s.path)} for s in segments],
            "metadata": dict(ctx.metadata),
        }
        with reporting(self._label):
            answer = await self._post_with_retries(runtime, body)
            return self.decide(answer, segments)

    async def _post_with_retries(self, runtime: Runtime, body: dict[str, Any]) -> Any:
        for attempt in range(1, self._attempts + 1):
            try:
                return await post_json(
                    runtime.http,
                    self._opts.url,
                    body,
                    headers=self._headers,
                    timeout_s=self._attempt_timeout_s,
                )
            except HttpProviderError as err:
                if attempt == self._attempts or not _retryable(err):
                    raise
                if err.retry_after is not None and err.kind != "timeout":
                    if err.retry_after > MAX_RETRY_AFTER_S:
                        raise
                    delay = err.retry_after
                else:
                    delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)))
                logger.debug("guardrail provider %s retrying after kind=%s", self._label, err.kind)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def decide(self, answer: Any, segments: Sequence[Segment]) -> ProviderOutcome:
        doc = expect_dict(answer, "custom guardrail response")
        raw_action = doc.get("action")
        action = _ACTIONS.get(raw_action.lower()) if isinstance(raw_action, str) else None
        if action is None:
            raise ProviderError("malformed", f"unknown action {raw_action!r}")
        message = doc.get("message")
        if message is not None and not isinstance(message, str):
            raise ProviderError("malformed", "message is not a string")
        findings: list[Finding] = []
        for raw in expect_list(doc.get("findings"), "findings"):
            item = expect_dict(raw, "finding")
            category, severity, segment = (
                item.get("category"),
                item.get("severity", "high"),
                item.get("segment"),
            )
            if not isinstance(category, str) or not category:
                raise ProviderError("malformed", "finding without category")
            if not isinstance(severity, str) or severity.lower() not in _SEVERITIES:
                raise ProviderError("malformed", "finding severity not low/medium/high/critical")
            if segment is not None and (
                not isinstance(segment, int) or isinstance(segment, bool) or not 0 <= segment < len(segments)
            ):
                raise ProviderError("malformed", "finding segment out of range")
            findings.append(
                Finding(self.name, category, severity.lower(), action, segment=segment, message=message)
            )
        texts = doc.get("texts")
        rewrites: dict[int, str] = {}
        if action is Action.REDACT:
            if not isinstance(texts, list) or len(texts) != len(segments):
                raise ProviderError("malformed", "redact needs texts with one entry per segment")
            for index, (segment, text) in enumerate(zip(segments, texts, strict=True)):
                if not isinstance(text, str):
                    raise ProviderError("malformed", "texts entry is not a string")
                if text != segment.text:
                    rewrites[index] = text
        elif texts is not None:
            raise ProviderError("malformed", "texts given with a non-redact action")
        if not findings and action is not Action.ALLOW:
            findings.append(Finding(self.name, "CUSTOM", action=action, message=message))
        return ProviderOutcome(
            findings=findings,
            rewrites=rewrites,
            blocked_message=message if action is Action.BLOCK else None,
        )
