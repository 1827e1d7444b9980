"""Fake DynamoAI: ``POST /v1/moderation/analyze/`` (trailing slash; the bare path is a 404).

Behaviour: Bearer ``api_key`` required (401 otherwise). ``policies`` maps a trigger word to
``(policy name, method, action)``; the request's message texts are scanned and every hit becomes an
applied policy. ``finalAction`` is the strongest action hit (BLOCK > WARN > REDACT > SANITIZE > NONE).
``error_field`` puts a truthy ``error`` in an otherwise normal answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import FakeService, bearer, received

DEFAULT_POLICIES: dict[str, tuple[str, str, str]] = {
    "harmful": ("Toxicity Policy", "TOXICITY", "BLOCK"),
    "rumour": ("Hallucination Policy", "HALLUCINATION", "WARN"),
    "ssn": ("PII Policy", "PII", "REDACT"),
}
_RANK = {"NONE": 0, "SANITIZE": 1, "REDACT": 2, "WARN": 3, "BLOCK": 4}


@dataclass
class FakeDynamoAI(FakeService):
    api_key: str = "dyn-test"
    policies: dict[str, tuple[str, str, str]] = field(default_factory=lambda: dict(DEFAULT_POLICIES))
    error_field: Any = None

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/moderation/analyze/", self._analyze)

    def error(self, status: int, code: str, message: str) -> web.Response:
        return web.json_response({"statusCode": status, "message": message, "error": code}, status=status)

    async def _analyze(self, request: web.Request) -> web.Response:
        if bearer(request) != self.api_key:
            return self.error(401, "Unauthorized", "Invalid API key")
        doc = received(request)
        if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
            return self.error(400, "Bad Request", "messages must be an array")
        text = " ".join(str(m.get("content", "")) for m in doc["messages"] if isinstance(m, dict))
        applied: list[dict[str, Any]] = []
        final = "NONE"
        for i, (word, (name, method, action)) in enumerate(self.policies.items()):
            if word in text.lower():
                applied.append(
                    {
                        "policy": {
                            "id": f"policy-{i}",
                            "name": name,
                            "description": name,
                            "method": method,
                            "action": action,
                            "applicableTo": "ALL",
                        },
                        "outputs": {"action": action, "message": f"{method} detected"},
                    }
                )
                final = action if _RANK[action] > _RANK[final] else final
        body: dict[str, Any] = {
            "text": text,
            "textType": "MODEL_INPUT",
            "finalAction": final,
            "appliedPolicies": applied,
        }
        if self.error_field is not None:
            body["error"] = self.error_field
        return web.json_response(body)
