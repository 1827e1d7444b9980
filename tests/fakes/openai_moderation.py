"""Fake OpenAI Moderations: ``POST /v1/moderations`` (so ``base_url = f"{url}/v1"``).

Behaviour: ``Authorization: Bearer <api_key>`` must match ``api_key`` (else 401 ``invalid_api_key``).
``input`` may be a string, a list of strings (one result each) or multimodal parts (one result).
A text containing a key of ``triggers`` flags the listed OpenAI categories. ``text-moderation-*``
models report the two ``illicit`` categories as ``null``, as the legacy models do.
``result_count_delta`` adds/removes results to break the one-result-per-input rule.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import FakeService, bearer, received

CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
_TEXT_ONLY = ("harassment", "hate", "illicit", "sexual/minors")

DEFAULT_TRIGGERS: dict[str, tuple[str, ...]] = {
    "kill": ("violence", "violence/graphic"),
    "hateful": ("hate", "hate/threatening"),
    "idiot": ("harassment",),
    "hurt myself": ("self-harm", "self-harm/intent"),
    "explicit": ("sexual",),
    "lockpick": ("illicit",),
}


@dataclass
class FakeOpenAIModeration(FakeService):
    api_key: str = "sk-test"
    triggers: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_TRIGGERS))
    result_count_delta: int = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/moderations", self._moderations)

    def error(self, status: int, code: str, message: str) -> web.Response:
        codes = {401: ("invalid_request_error", "invalid_api_key"), 429: ("requests", "rate_limit_exceeded")}
        type_, oa_code = codes.get(status, ("server_error", None))
        body = {"error": {"message": message, "type": type_, "param": None, "code": oa_code}}
        return web.json_response(body, status=status, headers={"x-request-id": f"req_{uuid.uuid4().hex}"})

    async def _moderations(self, request: web.Request) -> web.Response:
        if bearer(request) != self.api_key:
            return self.error(401, "invalid_api_key", "Incorrect API key provided: sk-xxx.")
        doc = received(request)
        if not isinstance(doc, dict) or "input" not in doc:
            return self.error(400, "invalid_request", "'input' is a required property")
        raw = doc["input"]
        model = doc.get("model") or "omni-moderation-latest"
        if isinstance(raw, str):
            texts = [raw]
        elif isinstance(raw, list) and all(isinstance(x, str) for x in raw):
            texts = list(raw)
        elif isinstance(raw, list):
            texts = [" ".join(str(p.get("text", "")) for p in raw if isinstance(p, dict))]
        else:
            return self.error(400, "invalid_request", "invalid input")
        results = [self._result(t, legacy=str(model).startswith("text-moderation")) for t in texts]
        if self.result_count_delta < 0:
            results = results[: self.result_count_delta]
        else:
            results += [self._result("", legacy=False) for _ in range(self.result_count_delta)]
        return web.json_response(
            {"id": f"modr-{uuid.uuid4().hex}", "model": model, "results": results},
            headers={"x-request-id": f"req_{uuid.uuid4().hex}"},
        )

    def _result(self, text: str, *, legacy: bool) -> dict[str, Any]:
        hit = {c for word, cats in self.triggers.items() if word in text.lower() for c in cats}
        categories: dict[str, bool | None] = {c: c in hit for c in CATEGORIES}
        if legacy:
            categories["illicit"] = categories["illicit/violent"] = None
        scores = {c: (0.97 if c in hit else 0.0001) for c in CATEGORIES}
        applied = {c: (["text"] if c.startswith(_TEXT_ONLY) else ["text", "image"]) for c in CATEGORIES}
        return {
            "flagged": bool(hit),
            "categories": categories,
            "category_scores": scores,
            "category_applied_input_types": applied,
        }
