"""Fake Azure AI Content Safety: ``POST /contentsafety/text:analyze`` and ``text:shieldPrompt``.

Requests need ``?api-version=`` and ``Ocp-Apim-Subscription-Key: <api_key>`` (else the APIM gateway's
401). Errors are ``{"error": {"code", "message"}}`` with ``x-ms-error-code``; a ``text`` (or
``userPrompt``/document) over 10,000 characters is 400 ``InvalidRequestBody``, as the schema's
``maxLength`` makes the service answer.

Behaviour: a ``severities`` word gives its category that severity (levels 0-7; with the default
``FourSeverityLevels`` output it is rounded down to 0/2/4/6). ``blocklists`` maps a list name to its
items; ``haltOnBlocklistHit`` with a hit returns an empty ``categoriesAnalysis``. An
``attack_phrases`` phrase makes Prompt Shields report ``attackDetected``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import FakeService, received

MAX_CHARS = 10_000
CATEGORIES = ("Hate", "SelfHarm", "Sexual", "Violence")
APIM_401 = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)


@dataclass
class FakeAzureContentSafety(FakeService):
    api_key: str = "az-test"
    severities: dict[str, tuple[str, int]] = field(
        default_factory=lambda: {"kill": ("Violence", 4), "hateful": ("Hate", 6), "mildly rude": ("Hate", 2)}
    )
    blocklists: dict[str, list[str]] = field(default_factory=lambda: {"bl1": ["badword"]})
    attack_phrases: list[str] = field(default_factory=lambda: ["ignore previous instructions", "you are dan"])

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/contentsafety/text:analyze", self._analyze)
        app.router.add_post("/contentsafety/text:shieldPrompt", self._shield)

    def error(self, status: int, code: str, message: str) -> web.Response:
        headers = {"x-ms-error-code": code, "apim-request-id": str(uuid.uuid4())}
        return web.json_response(
            {"error": {"code": code, "message": message}}, status=status, headers=headers
        )

    def _gate(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Ocp-Apim-Subscription-Key") != self.api_key:
            return web.json_response({"error": {"code": "401", "message": APIM_401}}, status=401)
        if not request.query.get("api-version"):
            return self.error(404, "ResourceNotFound", "Resource not found (api-version is required)")
        if not isinstance(received(request), dict):
            return self.error(400, "InvalidRequestBody", "The request body is not valid JSON.")
        return None

    async def _analyze(self, request: web.Request) -> web.Response:
        if (denied := self._gate(request)) is not None:
            return denied
        doc: dict[str, Any] = received(request)
        text = doc.get("text")
        if not isinstance(text, str):
            return self.error(400, "InvalidRequestBody", "The field 'text' is required.")
        if len(text) > MAX_CHARS:
            return self.error(400, "InvalidRequestBody", "The length of text exceeds the limit of 10000.")
        eight = doc.get("outputType") == "EightSeverityLevels"
        wanted = doc.get("categories") or list(CATEGORIES)
        low = text.lower()
        matches = []
        for name in doc.get("blocklistNames") or []:
            for item in self.blocklists.get(name, []):
                if item.lower() in low:
                    matches.append(
                        {
                            "blocklistName": name,
                            "blocklistItemId": str(uuid.uuid5(uuid.NAMESPACE_OID, item)),
                            "blocklistItemText": item,
                        }
                    )
        if matches and doc.get("haltOnBlocklistHit"):
            return web.json_response({"blocklistsMatch": matches, "categoriesAnalysis": []})
        analysis = []
        for category in wanted:
            level = max(
                (sev for w, (c, sev) in self.severities.items() if c == category and w in low), default=0
            )
            analysis.append({"category": category, "severity": level if eight else level // 2 * 2})
        return web.json_response({"blocklistsMatch": matches, "categoriesAnalysis": analysis})

    async def _shield(self, request: web.Request) -> web.Response:
        if (denied := self._gate(request)) is not None:
            return denied
        doc: dict[str, Any] = received(request)
        prompt = doc.get("userPrompt")
        documents = doc.get("documents") or []
        if (isinstance(prompt, str) and len(prompt) > MAX_CHARS) or any(
            len(d) > MAX_CHARS for d in documents
        ):
            return self.error(
                400, "InvalidRequestBody", "The length of userPrompt or documents exceeds the limit."
            )

        def attacked(text: str) -> bool:
            return any(p in text.lower() for p in self.attack_phrases)

        body: dict[str, Any] = {"documentsAnalysis": [{"attackDetected": attacked(d)} for d in documents]}
        if isinstance(prompt, str):
            body["userPromptAnalysis"] = {"attackDetected": attacked(prompt)}
        return web.json_response(body)
