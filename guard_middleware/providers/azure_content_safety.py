"""Azure AI Content Safety: ``text:analyze`` per segment, optionally ``text:shieldPrompt``.

Decision rule:

- a harm category whose severity is **above 0 and at or above** its threshold is a Finding with no
  action (the operator's ``actions`` table decides). Severity 0 means "safe" in Azure's scale, so a
  threshold of 0 (the seed's ``SelfHarm = 0``) means "any non-zero severity", not "everything".
  Categories without a threshold use 2 (the lowest non-safe level of the four-level scale);
- a blocklist hit is a ``BLOCKLIST`` Finding naming the blocklist (not the matched item);
- ``prompt_shields`` on (input phase only): an attack in the last user segment or in a tool result
  is ``PROMPT_ATTACK``.

The service rejects text longer than 10,000 code points, so longer segments are analysed in chunks;
a chunk ends at whitespace when one is near the limit, so words are not cut in half.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from guard_middleware.providers._http import expect_dict, expect_list, gather_or_raise, post_json, reporting
from guard_middleware.providers.base import EvalContext, Runtime
from guard_middleware.verdict import Finding, Phase, ProviderError, ProviderOutcome, Segment

MAX_CHARS = 10_000
DEFAULT_THRESHOLD = 2

# Azure category -> ours. Keys are normalised (lowercase, no separators) so that Hate, HATE,
# SelfHarm, self_harm and self-harm all work in the operator's thresholds map.
CATEGORY_MAP: dict[str, str] = {
    "hate": "HATE",
    "selfharm": "SELF_HARM",
    "sexual": "SEXUAL",
    "violence": "VIOLENCE",
}


def _norm(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def split_text(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Chunks of at most ``limit`` code points whose concatenation is ``text``."""
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    start = 0
    while len(text) - start > limit:
        end = start + limit
        cut = max(text.rfind(" ", end - limit // 10, end), text.rfind("\n", end - limit // 10, end))
        end = cut + 1 if cut > start else end
        chunks.append(text[start:end])
        start = end
    chunks.append(text[start:])
    return chunks


class AzureContentSafetyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(min_length=1)
    api_key: str = Field(min_length=1, repr=False)
    api_version: str = "2024-09-01"
    thresholds: dict[str, int] = Field(default_factory=dict)
    blocklist_names: list[str] = Field(default_factory=list)
    halt_on_blocklist_hit: bool = False
    output_type: Literal["FourSeverityLevels", "EightSeverityLevels"] = "FourSeverityLevels"
    prompt_shields: bool = False
    # False with prompt_shields on gives a Prompt-Shields-only guardrail (LiteLLM's azure/prompt_shield).
    analyze_text: bool = True

    @field_validator("thresholds")
    @classmethod
    def _known_categories(cls, value: dict[str, int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, level in value.items():
            if _norm(name) not in CATEGORY_MAP:
                raise ValueError(f"unknown category {name!r}; expected Hate, SelfHarm, Sexual, Violence")
            if not 0 <= level <= 7:
                raise ValueError(f"threshold for {name} must be between 0 and 7")
            out[_norm(name)] = level
        return out

    @model_validator(mode="after")
    def _something_to_do(self) -> AzureContentSafetyOptions:
        if not self.analyze_text and not self.prompt_shields:
            raise ValueError("analyze_text and prompt_shields are both off: nothing would be checked")
        return self


class AzureContentSafetyProvider:
    def __init__(self, options: AzureContentSafetyOptions, *, name: str, timeout_ms: int) -> None:
        self.name = name
        base = options.endpoint.rstrip("/") + "/contentsafety/"
        self._analyze_url = base + "text:analyze"
        self._shield_url = base + "text:shieldPrompt"
        self._params = {"api-version": options.api_version}
        self._headers = {"Ocp-Apim-Subscription-Key": options.api_key, "Accept": "application/json"}
        self._opts = options
        self._thresholds = {
            cat: options.thresholds.get(k, DEFAULT_THRESHOLD) for k, cat in CATEGORY_MAP.items()
        }
        self._timeout_s = timeout_ms / 1000
        self._label = f"{name} (azure_content_safety)"

    @classmethod
    def build(
        cls, options: AzureContentSafetyOptions, *, name: str, key: str, timeout_ms: int
    ) -> AzureContentSafetyProvider:
        return cls(options, name=name, timeout_ms=timeout_ms)

    def verdicts_per_text(self, phase: Phase) -> bool:
        """Text analysis is one call per text; Prompt Shields (input) judges the texts together."""
        return not (self._opts.prompt_shields and phase is Phase.INPUT)

    async def evaluate(
        self, segments: Sequence[Segment], ctx: EvalContext, runtime: Runtime
    ) -> ProviderOutcome:
        with reporting(self._label):
            calls = [
                self._analyze(runtime, index, chunk)
                for index, segment in enumerate(segments)
                for chunk in split_text(segment.text)
                if chunk and self._opts.analyze_text
            ]
            if self._opts.prompt_shields and ctx.phase is Phase.INPUT:
                calls += [self._shield(runtime, index, body) for index, body in self._shield_bodies(segments)]
            results = await gather_or_raise(calls)
            findings: list[Finding] = []
            seen: set[tuple[str, int | None, str | None]] = set()
            for result in results:
                for f in result:
                    # Chunks of one segment report the same category: keep one finding per segment.
                    if (f.category, f.segment, f.message) not in seen:
                        seen.add((f.category, f.segment, f.message))
                        findings.append(f)
            return ProviderOutcome(findings=findings)

    async def _post(self, runtime: Runtime, url: str, body: Mapping[str, Any]) -> dict[str, Any]:
        answer = await post_json(
            runtime.http, url, body, headers=self._headers, params=self._params, timeout_s=self._timeout_s
        )
        return expect_dict(answer, "Content Safety response")

    async def _analyze(self, runtime: Runtime, index: int, text: str) -> list[Finding]:
        body: dict[str, Any] = {"text": text, "outputType": self._opts.output_type}
        if self._opts.blocklist_names:
            body["blocklistNames"] = self._opts.blocklist_names
            body["haltOnBlocklistHit"] = self._opts.halt_on_blocklist_hit
        doc = await self._post(runtime, self._analyze_url, body)
        if "categoriesAnalysis" not in doc:
            raise ProviderError("malformed", "categoriesAnalysis missing")
        findings: list[Finding] = []
        for raw in expect_list(doc.get("categoriesAnalysis"), "categoriesAnalysis"):
            item = expect_dict(raw, "categoriesAnalysis entry")
            name, severity = item.get("category"), item.get("severity")
            if not isinstance(name, str) or not isinstance(severity, int) or isinstance(severity, bool):
                raise ProviderError("malformed", "categoriesAnalysis entry without category/severity")
            category = CATEGORY_MAP.get(_norm(name))
            if category is None:
                continue
            if severity > 0 and severity >= self._thresholds[category]:
                findings.append(
                    Finding(
                        self.name,
                        category,
                        _severity_word(severity),
                        segment=index,
                        message=f"azure severity {severity}",
                    )
                )
        for raw in expect_list(doc.get("blocklistsMatch"), "blocklistsMatch"):
            item = expect_dict(raw, "blocklistsMatch entry")
            findings.append(
                Finding(
                    self.name, "BLOCKLIST", segment=index, message=f"blocklist: {item.get('blocklistName')}"
                )
            )
        return findings

    @staticmethod
    def _shield_bodies(segments: Sequence[Segment]) -> list[tuple[int, dict[str, Any]]]:
        """The last user message is the direct prompt; tool results are documents (indirect attacks).
        System prompts are the operator's own text and are not sent."""
        bodies: list[tuple[int, dict[str, Any]]] = []
        users = [i for i, s in enumerate(segments) if s.role == "user" or s.role is None]
        if users:
            last = users[-1]
            for chunk in split_text(segments[last].text):
                if chunk:
                    bodies.append((last, {"userPrompt": chunk, "documents": []}))
        for i, s in enumerate(segments):
            if s.role in ("tool", "function"):
                for chunk in split_text(s.text):
                    if chunk:
                        bodies.append((i, {"documents": [chunk]}))
        return bodies

    async def _shield(self, runtime: Runtime, index: int, body: dict[str, Any]) -> list[Finding]:
        doc = await self._post(runtime, self._shield_url, body)
        attacked = False
        if "userPrompt" in body:
            analysis = expect_dict(doc.get("userPromptAnalysis"), "userPromptAnalysis")
            attacked = analysis.get("attackDetected") is True
        docs = expect_list(doc.get("documentsAnalysis"), "documentsAnalysis")
        if len(docs) != len(body["documents"]):
            raise ProviderError("malformed", "documentsAnalysis does not match documents sent")
        attacked = attacked or any(
            expect_dict(d, "documentsAnalysis entry").get("attackDetected") is True for d in docs
        )
        if not attacked:
            return []
        where = "document" if body["documents"] else "user prompt"
        return [Finding(self.name, "PROMPT_ATTACK", segment=index, message=f"azure prompt shield: {where}")]


def _severity_word(level: int) -> str:
    if level >= 6:
        return "critical"
    if level >= 4:
        return "high"
    if level >= 2:
        return "medium"
    return "low"
