"""Lakera Guard v2 (``POST {api_base}/v2/guard``).

The segments are sent as ``messages`` (one message per segment, in order), so Lakera's ``message_id``
is a segment index. Decision rule:

- ``flagged: false`` -> no action; ``breakdown`` entries that still say ``detected`` (a project in
  monitor mode) become ``Action.LOG`` findings;
- ``flagged: true`` and ``on_flagged: monitor`` -> ``Action.LOG`` findings;
- ``flagged: true``, every detected detector is ``pii/*``, masking is on for the phase and the
  ``payload`` spans locate them -> rewrites replacing each half-open ``[start, end)`` span with
  ``[MASKED <TYPE>]`` and ``Action.REDACT`` findings. A span outside its message is ``malformed``;
- otherwise ``Action.BLOCK`` findings, one per detected detector type.

Categories come from ``detector_type``: ``prompt_attack`` -> ``PROMPT_ATTACK``,
``moderated_content/hate`` -> ``HATE``, ``pii/email`` -> ``EMAIL`` (see :func:`map_detector`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from guard_middleware.errors import ConfigError
from guard_middleware.providers._http import expect_dict, expect_list, post_json, reporting
from guard_middleware.providers.base import EvalContext, MaskingOptions, Runtime
from guard_middleware.verdict import Action, Finding, Phase, ProviderError, ProviderOutcome, Segment

DEFAULT_API_BASE = "https://api.lakera.ai"

_PII_NAMES = {
    "us_social_security_number": "SSN",
    "credit_card": "CREDIT_CARD",
    "iban_code": "IBAN",
    "phone_number": "PHONE",
    "ip_address": "IP_ADDRESS",
    "email": "EMAIL",
    "address": "ADDRESS",
    "name": "NAME",
}


def map_detector(detector_type: str) -> str:
    """``prompt_attack`` -> PROMPT_ATTACK, ``moderated_content/hate`` -> HATE, ``pii/email`` -> EMAIL."""
    family, _, leaf = detector_type.partition("/")
    name = leaf or family
    if family == "pii" and leaf in _PII_NAMES:
        return _PII_NAMES[leaf]
    return "".join(c if c.isalnum() else "_" for c in name.upper()) or "FLAGGED"


class LakeraOptions(MaskingOptions):
    api_key: str | None = Field(default=None, repr=False)
    api_base: str | None = None
    project_id: str | None = None
    payload: bool = True
    breakdown: bool = True
    metadata: dict[str, Any] | None = None
    dev_info: bool = False
    on_flagged: Literal["block", "monitor"] = "block"


def _role(segment: Segment, phase: Phase) -> str:
    # Lakera knows user/assistant/system only; tool output is untrusted text, so it is screened as user.
    if segment.role in ("system", "developer"):
        return "system"
    if segment.role == "assistant" or (segment.role is None and phase is Phase.OUTPUT):
        return "assistant"
    return "user"


class LakeraProvider:
    def __init__(
        self, options: LakeraOptions, *, name: str, api_base: str, api_key: str | None, timeout_ms: int
    ) -> None:
        self.name = name
        self._opts = options
        self._url = api_base.rstrip("/") + "/v2/guard"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout_s = timeout_ms / 1000
        self._label = f"{name} (lakera_v2)"

    @classmethod
    def build(cls, options: LakeraOptions, *, name: str, key: str, timeout_ms: int) -> LakeraProvider:
        api_base = options.api_base or os.environ.get("LAKERA_API_BASE") or DEFAULT_API_BASE
        api_key = options.api_key or os.environ.get("LAKERA_API_KEY")
        # Self-hosted Lakera Guard needs no key; the hosted API always does.
        if not api_key and api_base.rstrip("/") == DEFAULT_API_BASE:
            raise ConfigError(f"{key}.api_key", "required for the hosted API (or set LAKERA_API_KEY)")
        return cls(options, name=name, api_base=api_base, api_key=api_key, timeout_ms=timeout_ms)

    async def evaluate(
        self, segments: Sequence[Segment], ctx: EvalContext, runtime: Runtime
    ) -> ProviderOutcome:
        if not segments:
            return ProviderOutcome()
        with reporting(self._label):
            body: dict[str, Any] = {
                "messages": [{"role": _role(s, ctx.phase), "content": s.text} for s in segments],
                "payload": self._opts.payload,
                "breakdown": self._opts.breakdown,
                "dev_info": self._opts.dev_info,
            }
            if self._opts.project_id:
                body["project_id"] = self._opts.project_id
            metadata = {**(self._opts.metadata or {}), **_str_metadata(ctx.metadata)}
            if metadata:
                body["metadata"] = metadata
            answer = await post_json(
                runtime.http, self._url, body, headers=self._headers, timeout_s=self._timeout_s
            )
            return self.decide(answer, segments, mask=self._opts.masks(ctx.phase))

    def decide(self, answer: Any, segments: Sequence[Segment], *, mask: bool) -> ProviderOutcome:
        doc = expect_dict(answer, "Lakera response")
        flagged = doc.get("flagged")
        if not isinstance(flagged, bool):
            raise ProviderError("malformed", "flagged missing")
        payload = [expect_dict(p, "payload entry") for p in expect_list(doc.get("payload"), "payload")]
        breakdown = [
            expect_dict(b, "breakdown entry") for b in expect_list(doc.get("breakdown"), "breakdown")
        ]
        hits = [(b.get("detector_type"), b.get("message_id")) for b in breakdown if b.get("detected") is True]
        if not hits:
            # Without breakdown, the payload still names what was found.
            hits = [(p.get("detector_type"), p.get("message_id")) for p in payload]
        detectors: dict[tuple[str, int | None], None] = {}
        for detector_type, message_id in hits:
            if not isinstance(detector_type, str):
                raise ProviderError("malformed", "detector_type missing")
            detectors[(detector_type, _segment_index(message_id, len(segments)))] = None

        if not flagged:
            return ProviderOutcome(findings=self._findings(detectors, Action.LOG))
        if self._opts.on_flagged == "monitor":
            return ProviderOutcome(
                findings=self._findings(detectors, Action.LOG)
                or [Finding(self.name, "FLAGGED", action=Action.LOG)]
            )
        pii_only = bool(detectors) and all(t.startswith("pii/") for t, _ in detectors)
        if pii_only and mask and payload:
            return self._mask(payload, segments)
        return ProviderOutcome(
            findings=self._findings(detectors, Action.BLOCK)
            or [Finding(self.name, "FLAGGED", action=Action.BLOCK)]
        )

    def _findings(self, detectors: Mapping[tuple[str, int | None], None], action: Action) -> list[Finding]:
        return [
            Finding(self.name, map_detector(t), action=action, segment=seg, message=f"lakera: {t}")
            for t, seg in detectors
        ]

    def _mask(self, payload: list[dict[str, Any]], segments: Sequence[Segment]) -> ProviderOutcome:
        spans: dict[int, list[tuple[int, int, str]]] = {}
        findings: list[Finding] = []
        for item in payload:
            detector_type = item.get("detector_type")
            start, end = item.get("start"), item.get("end")
            index = _segment_index(item.get("message_id"), len(segments))
            if index is None or not isinstance(detector_type, str):
                raise ProviderError("malformed", "payload entry without message_id/detector_type")
            if not (
                isinstance(start, int)
                and isinstance(end, int)
                and 0 <= start < end <= len(segments[index].text)
            ):
                raise ProviderError("malformed", "payload span outside its message")
            category = map_detector(detector_type)
            replacement = f"[MASKED {category}]"
            spans.setdefault(index, []).append((start, end, replacement))
            findings.append(
                Finding(
                    self.name,
                    category,
                    action=Action.REDACT,
                    segment=index,
                    start=start,
                    end=end,
                    message=f"lakera: {detector_type}",
                    replacement=replacement,
                )
            )
        rewrites: dict[int, str] = {}
        for index, items in spans.items():
            rewrites[index] = _apply_spans(segments[index].text, items)
        return ProviderOutcome(findings=findings, rewrites=rewrites)


def _segment_index(message_id: Any, count: int) -> int | None:
    if message_id is None:
        return None
    if not isinstance(message_id, int) or isinstance(message_id, bool) or not 0 <= message_id < count:
        raise ProviderError("malformed", "message_id outside the messages sent")
    return message_id


def _apply_spans(text: str, spans: list[tuple[int, int, str]]) -> str:
    """Replace half-open spans; overlapping spans merge into one placeholder (the first one's)."""
    merged: list[list[Any]] = []
    for start, end, replacement in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end, replacement])
    out: list[str] = []
    pos = 0
    for start, end, replacement in merged:
        out.append(text[pos:start])
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _str_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Only scalar tags are forwarded: Lakera metadata is for user/session ids, not request bodies."""
    return {k: v for k, v in metadata.items() if isinstance(v, str | int | float | bool)}
