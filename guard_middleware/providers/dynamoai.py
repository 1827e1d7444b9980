"""DynamoAI moderation (``POST {api_base}/v1/moderation/analyze/``, trailing slash included).

DynamoAI publishes no API reference; the contract is the one LiteLLM's integration uses. Decision:

- ``finalAction: BLOCK`` -> one ``Action.BLOCK`` finding per policy whose action is ``BLOCK``
  (category = the policy's ``method``, e.g. ``TOXICITY``; message = the policy's name);
- ``finalAction: WARN`` -> ``Action.WARN`` findings for the policies that warned;
- ``REDACT`` / ``SANITIZE`` -> ``Action.LOG`` findings only: the API returns no redacted text we could
  place back into the request, so nothing is rewritten and nothing is blocked (as in LiteLLM);
- ``NONE`` -> nothing. A truthy ``error`` field or an unknown ``finalAction`` -> ``malformed``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from guard_middleware.errors import ConfigError
from guard_middleware.providers._http import expect_dict, expect_list, post_json, reporting
from guard_middleware.providers.base import EvalContext, Runtime
from guard_middleware.verdict import Action, Finding, Phase, ProviderError, ProviderOutcome, Segment

DEFAULT_API_BASE = "https://api.dynamo.ai"
_FINAL = {"BLOCK": Action.BLOCK, "WARN": Action.WARN, "REDACT": Action.LOG, "SANITIZE": Action.LOG}


def _split_ids(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class DynamoAIOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: str | None = Field(default=None, repr=False)
    api_base: str | None = None
    policy_ids: list[str] | None = None
    model_id: str | None = None

    _split = field_validator("policy_ids", mode="before")(_split_ids)


class DynamoAIProvider:
    def __init__(
        self,
        *,
        name: str,
        api_base: str,
        api_key: str,
        policy_ids: list[str],
        model_id: str | None,
        timeout_ms: int,
    ) -> None:
        self.name = name
        self._url = api_base.rstrip("/") + "/v1/moderation/analyze/"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._policy_ids = policy_ids
        self._model_id = model_id
        self._timeout_s = timeout_ms / 1000
        self._label = f"{name} (dynamoai)"

    @classmethod
    def build(cls, options: DynamoAIOptions, *, name: str, key: str, timeout_ms: int) -> DynamoAIProvider:
        api_key = options.api_key or os.environ.get("DYNAMOAI_API_KEY")
        if not api_key:
            raise ConfigError(f"{key}.api_key", "required (or set DYNAMOAI_API_KEY)")
        policy_ids = options.policy_ids
        if policy_ids is None:
            policy_ids = _split_ids(os.environ.get("DYNAMOAI_POLICY_IDS", ""))
        return cls(
            name=name,
            api_base=options.api_base or os.environ.get("DYNAMOAI_API_BASE") or DEFAULT_API_BASE,
            api_key=api_key,
            policy_ids=list(policy_ids or []),
            model_id=options.model_id or os.environ.get("DYNAMOAI_MODEL_ID") or None,
            timeout_ms=timeout_ms,
        )

    async def evaluate(
        self, segments: Sequence[Segment], ctx: EvalContext, runtime: Runtime
    ) -> ProviderOutcome:
        if not segments:
            return ProviderOutcome()
        with reporting(self._label):
            default_role = "user" if ctx.phase is Phase.INPUT else "assistant"
            body: dict[str, Any] = {
                "messages": [{"role": s.role or default_role, "content": s.text} for s in segments]
            }
            if self._policy_ids:
                body["policyIds"] = self._policy_ids
            if self._model_id:
                body["modelId"] = self._model_id
            answer = await post_json(
                runtime.http, self._url, body, headers=self._headers, timeout_s=self._timeout_s
            )
            return self.decide(answer)

    def decide(self, answer: Any) -> ProviderOutcome:
        doc = expect_dict(answer, "DynamoAI response")
        if doc.get("error"):
            raise ProviderError("malformed", "response carries an error field")
        final = doc.get("finalAction")
        if final == "NONE":
            return ProviderOutcome()
        action = _FINAL.get(final) if isinstance(final, str) else None
        if action is None:
            raise ProviderError("malformed", f"unknown finalAction {final!r}")
        findings: list[Finding] = []
        for raw in expect_list(doc.get("appliedPolicies"), "appliedPolicies"):
            applied = expect_dict(raw, "appliedPolicies entry")
            policy = applied.get("policy") or {}
            outputs = applied.get("outputs") or {}
            if not isinstance(policy, dict) or not isinstance(outputs, dict):
                raise ProviderError("malformed", "appliedPolicies entry without policy/outputs objects")
            if (applied.get("action") or outputs.get("action")) != final:
                continue
            method = policy.get("method")
            category = method.upper() if isinstance(method, str) and method else "POLICY"
            name = policy.get("name") or policy.get("id")
            findings.append(Finding(self.name, category, action=action, message=str(name) if name else None))
        if not findings and action is not Action.LOG:
            # The verdict itself is clear even when no policy is itemised: keep it rather than allow.
            findings.append(Finding(self.name, "POLICY", action=action, message=f"dynamoai: {final}"))
        return ProviderOutcome(findings=findings)
