"""Fake Lakera Guard v2: ``POST /v2/guard``.

Bearer ``api_key`` required (401 ``{"error": ..., "message": ...}`` otherwise; Lakera's error body is
undocumented, this shape is a guess). Accepts ``project_id``/``metadata`` as JSON ``null`` (LiteLLM
sends them so). ``payload``, ``breakdown`` and ``dev_info`` appear only when requested;
``metadata.request_uuid`` always does.

Behaviour: ``detectors`` maps a trigger phrase to a detector type (``prompt_attack``,
``moderated_content/hate``...); e-mail addresses are ``pii/email`` with half-open ``[start, end)``
payload spans and ``message_id`` = index into ``messages``. ``monitor_project`` answers
``flagged: false`` while breakdown still says ``detected``. ``span_shift`` moves every span (to test
out-of-range handling); ``null_lists`` sends ``payload``/``breakdown`` as ``null``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import EMAIL_RE, FakeService, bearer, received


@dataclass
class FakeLakera(FakeService):
    api_key: str = "lk-test"
    detectors: dict[str, str] = field(
        default_factory=lambda: {
            "ignore previous instructions": "prompt_attack",
            "hateful": "moderated_content/hate",
        }
    )
    monitor_project: bool = False
    span_shift: int = 0
    null_lists: bool = False

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/guard", self._guard)

    def error(self, status: int, code: str, message: str) -> web.Response:
        return web.json_response({"error": code, "message": message}, status=status)

    async def _guard(self, request: web.Request) -> web.Response:
        if bearer(request) != self.api_key:
            return self.error(401, "Unauthorized", "Invalid API key")
        doc = received(request)
        if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list) or not doc["messages"]:
            return self.error(422, "Unprocessable Entity", "messages must be a non-empty list")
        payload: list[dict[str, Any]] = []
        breakdown: list[dict[str, Any]] = []
        project = doc.get("project_id") or "project-default"
        for mid, message in enumerate(doc["messages"]):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant", "system"):
                return self.error(422, "Unprocessable Entity", "invalid message role")
            text = str(message.get("content", ""))
            for phrase, detector in self.detectors.items():
                hit = phrase in text.lower()
                breakdown.append(self._entry(project, detector, hit, mid))
            emails = list(EMAIL_RE.finditer(text))
            breakdown.append(self._entry(project, "pii/email", bool(emails), mid))
            for m in emails:
                payload.append(
                    {
                        "start": m.start() + self.span_shift,
                        "end": m.end() + self.span_shift,
                        "text": m.group(),
                        "detector_type": "pii/email",
                        "labels": ["pii", "email"],
                        "message_id": mid,
                    }
                )
        detected = any(b["detected"] for b in breakdown)
        body: dict[str, Any] = {
            "flagged": detected and not self.monitor_project,
            "metadata": {"request_uuid": str(uuid.uuid4())},
        }
        if doc.get("payload"):
            body["payload"] = None if self.null_lists else payload
        if doc.get("breakdown"):
            body["breakdown"] = None if self.null_lists else breakdown
        if doc.get("dev_info"):
            body["dev_info"] = {
                "git_revision": "e421af45",
                "git_timestamp": "2025-08-27T15:20:16+00:00",
                "model_version": "lakera-guard-1",
                "version": "2.0.242",
            }
        return web.json_response(body)

    @staticmethod
    def _entry(project: str, detector: str, detected: bool, mid: int) -> dict[str, Any]:
        return {
            "project_id": project,
            "policy_id": "policy-lakera-public",
            "detector_id": f"detector-lakera-{detector.replace('/', '-')}",
            "detector_type": detector,
            "detected": detected,
            "message_id": mid,
        }
