"""Fake Bedrock Runtime ``ApplyGuardrail``: ``POST /guardrail/{id}/version/{version}/apply``.

Point boto3 at it with ``endpoint_url=base_url`` (or ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``) and dummy
credentials; SigV4 is not verified. The identifier path segment is URL-decoded (boto3 percent-encodes
ARNs). Unknown identifiers get 404 ``ResourceNotFoundException``; a bad ``source``, an empty
``content`` or a block without exactly one of ``text``/``image`` get 400 ``ValidationException``;
errors carry ``x-amzn-ErrorType`` and ``x-amzn-RequestId`` like AWS.

Behaviour per text block: a ``content_filters`` word -> that filter BLOCKED; a ``denied_topics`` word ->
topic BLOCKED; an e-mail address -> ``EMAIL`` with ``pii_action`` (``ANONYMIZED`` masks it as
``{EMAIL}``); ``CLM-dddd-ddddd-d`` -> regex ``claim_number`` ANONYMIZED (``{claim_number}``).
``outputs`` follow AWS: ``[]`` on NONE, the blocked messaging on BLOCKED, one masked text per block
otherwise. ``output_count_delta`` breaks that alignment; ``response_override`` replaces the whole answer.
``filters_by_id`` adds content filters for one guardrail id only (a strict guardrail next to a lenient
one); ``calls()`` lists the (identifier, version, source) of every ``ApplyGuardrail`` received.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from tests.fakes import EMAIL_RE, FakeService, received

GUARDRAIL_ID = "gr-test"
GUARDRAIL_ARN = f"arn:aws:bedrock:us-east-1:123456789012:guardrail/{GUARDRAIL_ID}"
_VERSION = re.compile(r"^(DRAFT|[1-9][0-9]{0,7})$")
_CLAIM = re.compile(r"CLM-\d{4}-\d{5}-\d")
_ERROR_TYPES = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_USAGE_KEYS = (
    "topicPolicyUnits",
    "contentPolicyUnits",
    "wordPolicyUnits",
    "sensitiveInformationPolicyUnits",
    "sensitiveInformationPolicyFreeUnits",
    "contextualGroundingPolicyUnits",
)


@dataclass
class FakeBedrock(FakeService):
    guardrail_ids: set[str] = field(default_factory=lambda: {GUARDRAIL_ID, GUARDRAIL_ARN})
    content_filters: dict[str, str] = field(
        default_factory=lambda: {"kill": "VIOLENCE", "ignore previous instructions": "PROMPT_ATTACK"}
    )
    denied_topics: dict[str, str] = field(default_factory=lambda: {"stocks": "Investment Advice"})
    pii_action: str = "ANONYMIZED"
    blocked_input_messaging: str = "Sorry, the model cannot answer this question."
    blocked_output_messaging: str = "Sorry, the model cannot answer this question."
    output_count_delta: int = 0
    response_override: dict[str, Any] | None = None
    filters_by_id: dict[str, dict[str, str]] = field(default_factory=dict)

    def calls(self) -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []
        for r in self.requests:
            parts = r.raw_path.split("/")
            if len(parts) == 6 and parts[1] == "guardrail":
                source = r.json.get("source", "") if isinstance(r.json, dict) else ""
                out.append((unquote(parts[2]), unquote(parts[4]), source))
        return out

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{tail:.*}", self._dispatch)

    def error(self, status: int, code: str, message: str) -> web.Response:
        headers = {"x-amzn-RequestId": str(uuid.uuid4())}
        if status in _ERROR_TYPES:
            headers["x-amzn-ErrorType"] = (
                f"{_ERROR_TYPES[status]}:http://internal.amazon.com/coral/com.amazon.bedrock/"
            )
        return web.json_response({"message": message}, status=status, headers=headers)

    async def _dispatch(self, request: web.Request) -> web.Response:
        parts = request.raw_path.split("?", 1)[0].split("/")
        if len(parts) != 6 or parts[1] != "guardrail" or parts[3] != "version" or parts[5] != "apply":
            return self.error(404, "UnknownOperationException", "Unknown operation")
        identifier, version = unquote(parts[2]), unquote(parts[4])
        if identifier not in self.guardrail_ids or not _VERSION.match(version):
            return self.error(404, "", "The provided guardrail identifier is invalid.")
        doc = received(request)
        if not isinstance(doc, dict) or doc.get("source") not in ("INPUT", "OUTPUT"):
            return self.error(
                400, "", "1 validation error detected: Value at 'source' failed to satisfy constraint"
            )
        content = doc.get("content")
        if not isinstance(content, list) or not content:
            return self.error(
                400, "", "1 validation error detected: Value at 'content' failed to satisfy constraint"
            )
        texts: list[str] = []
        for block in content:
            if not isinstance(block, dict) or len(block) != 1 or not ({"text", "image"} & set(block)):
                return self.error(400, "", "GuardrailContentBlock must set exactly one member")
            text = block.get("text", {}).get("text") if "text" in block else ""
            if not isinstance(text, str):
                return self.error(400, "", "text is required")
            texts.append(text)
        if self.response_override is not None:
            return self._ok(self.response_override)
        return self._ok(self._assess(texts, source=doc["source"], identifier=identifier))

    def _ok(self, body: dict[str, Any]) -> web.Response:
        return web.json_response(body, headers={"x-amzn-RequestId": str(uuid.uuid4())})

    def _assess(self, texts: list[str], *, source: str, identifier: str = "") -> dict[str, Any]:
        filters: dict[str, dict[str, Any]] = {}
        topics: dict[str, dict[str, Any]] = {}
        pii: list[dict[str, Any]] = []
        regexes: list[dict[str, Any]] = []
        masked: list[str] = []
        for text in texts:
            low = text.lower()
            for word, kind in {**self.content_filters, **self.filters_by_id.get(identifier, {})}.items():
                if word in low:
                    filters[kind] = {
                        "type": kind,
                        "confidence": "HIGH",
                        "filterStrength": "HIGH",
                        "action": "BLOCKED",
                        "detected": True,
                    }
            for word, topic in self.denied_topics.items():
                if word in low:
                    topics[topic] = {"name": topic, "type": "DENY", "action": "BLOCKED", "detected": True}
            out = text
            for m in EMAIL_RE.finditer(text):
                pii.append({"match": m.group(), "type": "EMAIL", "action": self.pii_action, "detected": True})
            if self.pii_action == "ANONYMIZED":
                out = EMAIL_RE.sub("{EMAIL}", out)
            for m in _CLAIM.finditer(text):
                regexes.append(
                    {
                        "name": "claim_number",
                        "match": m.group(),
                        "regex": _CLAIM.pattern,
                        "action": "ANONYMIZED",
                        "detected": True,
                    }
                )
            out = _CLAIM.sub("{claim_number}", out)
            masked.append(out)
        entries = [*filters.values(), *topics.values(), *pii, *regexes]
        blocked = any(e["action"] == "BLOCKED" for e in entries)
        anonymized = any(e["action"] == "ANONYMIZED" for e in entries)
        assessment: dict[str, Any] = {
            "invocationMetrics": {
                "guardrailProcessingLatency": 42,
                "usage": dict.fromkeys(_USAGE_KEYS, 1),
                "guardrailCoverage": {
                    "textCharacters": {"guarded": sum(map(len, texts)), "total": sum(map(len, texts))}
                },
            }
        }
        if topics:
            assessment["topicPolicy"] = {"topics": list(topics.values())}
        if filters:
            assessment["contentPolicy"] = {"filters": list(filters.values())}
        if pii or regexes:
            # Bedrock sends explicit nulls for empty lists (LiteLLM's null-safety tests).
            assessment["sensitiveInformationPolicy"] = {
                "piiEntities": pii or None,
                "regexes": regexes or None,
            }
        if blocked:
            action, reason = "GUARDRAIL_INTERVENED", "Guardrail blocked."
            message = self.blocked_input_messaging if source == "INPUT" else self.blocked_output_messaging
            outputs = [{"text": message}]
        elif anonymized:
            action, reason = "GUARDRAIL_INTERVENED", "Guardrail masked."
            outputs = [{"text": t} for t in masked]
            if self.output_count_delta < 0:
                outputs = outputs[: self.output_count_delta]
            else:
                outputs += [{"text": ""} for _ in range(self.output_count_delta)]
        else:
            action, reason, outputs = "NONE", "No action.", []
        return {
            "usage": dict.fromkeys(_USAGE_KEYS, 1),
            "action": action,
            "actionReason": reason,
            "outputs": outputs,
            "assessments": [assessment],
            "guardrailCoverage": {
                "textCharacters": {"guarded": sum(map(len, texts)), "total": sum(map(len, texts))}
            },
        }
