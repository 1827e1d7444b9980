"""Fake custom guardrail webhook speaking the contract in ``guard_middleware.providers.custom``.

``POST /guard`` (any path works). ``api_key`` (if set) must arrive as a Bearer token.
Behaviour: ``"blockme"`` -> ``block`` with a message and a finding; ``"warnme"`` -> ``warn``;
e-mail addresses -> ``redact`` with ``texts`` (each e-mail replaced by ``[EMAIL]``); otherwise
``allow``. ``answer`` replaces the computed answer with any JSON value (for malformed tests);
``echo_in_error`` answers 400 with the text in the error's ``code`` and ``message``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes import EMAIL_RE, FakeService, bearer, received


@dataclass
class FakeCustomGuardrail(FakeService):
    api_key: str | None = "cu-test"
    answer: Any = None
    #: answer 400 with the text in the error's `code` and `message`, as some services do
    echo_in_error: bool = False

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{tail:.*}", self._guard)

    def error(self, status: int, code: str, message: str) -> web.Response:
        return web.json_response({"error": {"code": code, "message": message}}, status=status)

    async def _guard(self, request: web.Request) -> web.Response:
        if self.api_key is not None and bearer(request) != self.api_key:
            return self.error(401, "unauthorized", "bad token")
        if self.answer is not None:
            return web.json_response(self.answer)
        doc = received(request)
        segments = doc.get("segments") if isinstance(doc, dict) else None
        if not isinstance(segments, list):
            return self.error(400, "bad_request", "segments missing")
        texts = [str(s.get("text", "")) for s in segments]
        if self.echo_in_error:
            return self.error(400, f"invalid input: {texts[0]}", f"cannot process {texts[0]!r}")
        joined = " ".join(texts).lower()
        if "blockme" in joined:
            index = next(i for i, t in enumerate(texts) if "blockme" in t.lower())
            return web.json_response(
                {
                    "action": "block",
                    "message": "Blocked by policy X.",
                    "findings": [{"category": "POLICY_X", "severity": "high", "segment": index}],
                }
            )
        if "warnme" in joined:
            return web.json_response(
                {"action": "warn", "findings": [{"category": "TONE", "severity": "low"}]}
            )
        if any(EMAIL_RE.search(t) for t in texts):
            return web.json_response(
                {
                    "action": "redact",
                    "findings": [{"category": "PII"}],
                    "texts": [EMAIL_RE.sub("[EMAIL]", t) for t in texts],
                }
            )
        return web.json_response({"action": "allow"})


@dataclass
class SlowPathGuardrail(FakeCustomGuardrail):
    """The webhook, answering ``delay`` seconds late on paths under ``/slow`` (two guardrails on one
    host, one of them slow). ``dropped`` counts the calls whose caller closed the connection while
    waiting for the answer (the service notices it as a real one would, on its socket)."""

    delay: float = 1.0
    dropped: int = 0

    async def _guard(self, request: web.Request) -> web.Response:
        if request.path.startswith("/slow"):
            loop = asyncio.get_running_loop()
            until = loop.time() + self.delay
            while loop.time() < until:
                await asyncio.sleep(min(0.02, max(0.0, until - loop.time())))
                if request.transport is None or request.transport.is_closing():
                    self.dropped += 1
                    raise ConnectionResetError("the caller went away")
        return await super()._guard(request)
