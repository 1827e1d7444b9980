"""OpenAI Moderations (``POST {base_url}/moderations``), one input string per segment.

Flagged OpenAI categories map onto ours; the finding carries no action so the operator's ``actions``
table decides (the seed's ``HATE = "block"``, ``SEXUAL = "warn"``...).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from guard_middleware.errors import ConfigError
from guard_middleware.providers._http import expect_dict, expect_list, post_json, reporting
from guard_middleware.providers.base import EvalContext, Runtime
from guard_middleware.verdict import Finding, Phase, ProviderError, ProviderOutcome, Segment

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "omni-moderation-latest"

# OpenAI's top-level category (the part before "/") -> ours. Sub-categories such as
# "hate/threatening" or "sexual/minors" fold into their parent and are kept in Finding.message.
CATEGORY_MAP: dict[str, str] = {
    "harassment": "HARASSMENT",
    "hate": "HATE",
    "illicit": "ILLICIT",
    "self-harm": "SELF_HARM",
    "sexual": "SEXUAL",
    "violence": "VIOLENCE",
}

# Sub-categories severe enough that a reader of the audit log should see them ranked above the rest.
_CRITICAL = frozenset({"sexual/minors", "hate/threatening", "harassment/threatening", "self-harm/intent"})


def map_category(openai_category: str) -> str:
    top = openai_category.split("/", 1)[0]
    return CATEGORY_MAP.get(top) or "".join(c if c.isalnum() else "_" for c in top.upper())


class OpenAIModerationOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: str | None = Field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    organization: str | None = None
    project: str | None = None


class OpenAIModerationProvider:
    """Built once at start-up; safe to share between concurrent requests."""

    def __init__(self, options: OpenAIModerationOptions, *, name: str, api_key: str, timeout_ms: int) -> None:
        self.name = name
        self._url = options.base_url.rstrip("/") + "/moderations"
        self._model = options.model
        self._timeout_s = timeout_ms / 1000
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        if options.organization:
            self._headers["OpenAI-Organization"] = options.organization
        if options.project:
            self._headers["OpenAI-Project"] = options.project
        self._label = f"{name} (openai_moderation)"

    @classmethod
    def build(
        cls, options: OpenAIModerationOptions, *, name: str, key: str, timeout_ms: int
    ) -> OpenAIModerationProvider:
        api_key = options.api_key or os.environ.get("OPENAI_API_KEY")
        if not api_key:
            raise ConfigError(f"{key}.api_key", "required (or set OPENAI_API_KEY)")
        return cls(options, name=name, api_key=api_key, timeout_ms=timeout_ms)

    def verdicts_per_text(self, phase: Phase) -> bool:
        """Each input is classified on its own and nothing else is sent: the verdict cache keeps one
        entry per text."""
        return True

    async def evaluate(
        self, segments: Sequence[Segment], ctx: EvalContext, runtime: Runtime
    ) -> ProviderOutcome:
        if not segments:
            return ProviderOutcome()
        with reporting(self._label):
            body = {"model": self._model, "input": [s.text for s in segments]}
            answer = await post_json(
                runtime.http, self._url, body, headers=self._headers, timeout_s=self._timeout_s
            )
            return ProviderOutcome(findings=self._findings(answer, len(segments)))

    def _findings(self, answer: Any, expected: int) -> list[Finding]:
        doc = expect_dict(answer, "moderation response")
        results = expect_list(doc.get("results"), "results")
        if len(results) != expected:
            raise ProviderError("malformed", f"{len(results)} results for {expected} inputs")
        findings: list[Finding] = []
        for index, raw in enumerate(results):
            result = expect_dict(raw, "result")
            categories = expect_dict(result.get("categories"), "result.categories")
            hits: dict[str, list[str]] = {}
            for oa_category, flagged in categories.items():
                # Legacy text-moderation models report the illicit categories as null.
                if flagged is True:
                    hits.setdefault(map_category(oa_category), []).append(oa_category)
            for category, names in hits.items():
                severity = "critical" if _CRITICAL.intersection(names) else "high"
                findings.append(
                    Finding(
                        guardrail=self.name,
                        category=category,
                        severity=severity,
                        segment=index,
                        message="openai: " + ", ".join(sorted(names)),
                    )
                )
        return findings
