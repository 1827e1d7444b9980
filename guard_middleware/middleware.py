"""The aiohttp shell: route matching, reading the body once, running the pipeline, handing the handler
exactly the checked body, and guarding what comes back."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict
from prometheus_client import CollectorRegistry

from guard_middleware import _aiohttp_compat as compat
from guard_middleware.audit import Auditor
from guard_middleware.cache import VerdictCache, build_cache
from guard_middleware.checks.base import CheckError
from guard_middleware.checks.pii import FAMILIES
from guard_middleware.decoders import DecodedTooLarge, UnsupportedEncoding, build_decoder, looks_plain
from guard_middleware.errors import GuardRejection, bad_request, error_body
from guard_middleware.formats import Format, ParsedRequest
from guard_middleware.formats.body import apply_rewrites, dump_json, extract, parse_json
from guard_middleware.metrics import GuardMetrics, NoMetrics, RouteCounts, metrics_for
from guard_middleware.pipeline import Evaluation, Evaluator, Vault
from guard_middleware.policy import Guardrail, Policy, compile_policy, describe, normalize_route
from guard_middleware.providers.base import EvalContext
from guard_middleware.restore import Restorer, restore_texts
from guard_middleware.runtime import Runtime
from guard_middleware.settings import GuardSettings
from guard_middleware.sse import SSEError, SSEEvent, SSEParser, encode
from guard_middleware.stream_guard import StreamGuard
from guard_middleware.teams import NOTHING, Resolution, TeamPolicies, misconfigured
from guard_middleware.tracing import Tracer
from guard_middleware.verdict import Action, Phase

log = logging.getLogger("guard_middleware")
#: the first client disconnect is logged at INFO (so an operator learns the guard handles them), the
#: rest at DEBUG
_closed_logged = False

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: guardrail and level names, or the team's metadata (``guardrail_level``, ``guardrail_id``,
#: ``guardrail_version``, ``guardrails``, ``team_id``), or None; sync or async
TeamResolver = Callable[[web.Request], Any]

# Request codings the guard reads: aiohttp's server parser decodes gzip/deflate/br (and zstd from 3.13),
# the guard decodes what reaches it still encoded (zstd before aiohttp 3.13, auto_decompress=False).
# Anything else (or a stacked list) is refused.
_REQUEST_CODINGS = frozenset({"", "identity", "gzip", "deflate", "br", "x-gzip", "zstd"})


def _is_json(content_type: str) -> bool:
    ct = content_type.split(";", 1)[0].strip().lower()
    return ct == "application/json" or ct.endswith("+json")


def _is_sse(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "text/event-stream"


def _body_kind(content_type: str, body: bytes) -> str | None:
    if _is_json(content_type):
        return "json"
    if _is_sse(content_type):
        return "sse"
    # No or a generic content type (a proxy that did not copy it): look at the bytes.
    head = body[:64].lstrip()
    if head[:1] in (b"{", b"["):
        return "json"
    if head.startswith((b"data:", b":", b"event:", b"id:", b"retry:")):
        return "sse"
    return None


def _reject(
    rejection: GuardRejection, fmt: Format, applied: Sequence[str] = (), *, litellm: bool = False
) -> web.Response:
    headers = dict(rejection.headers)
    if applied:
        headers["X-Guardrails-Applied"] = ",".join(applied)
        if litellm:
            headers["x-litellm-applied-guardrails"] = headers["X-Guardrails-Applied"]
    return web.json_response(fmt.error_body(rejection.body), status=rejection.status, headers=headers)


@dataclass(slots=True)
class _ErrorBody:
    """A non-2xx body as values to walk: one JSON document or text, or one value per SSE event (its
    JSON where it parses, else its text). ``json[i]`` says whether ``values[i]`` was JSON;
    ``events`` holds the SSE events' names (None: the body is not SSE)."""

    values: list[Any]
    json: list[bool]
    events: list[str | None] | None = None

    @classmethod
    def parse(cls, kind: str | None, body: bytes) -> _ErrorBody:
        if kind == "sse":
            parser = SSEParser()
            with contextlib.suppress(SSEError):
                events = [e for e in parser.feed(body) + parser.flush() if e.data is not None]
                parsed = [_json_or_none(e.data or "") for e in events]
                return cls(
                    [p if p is not None else e.data for p, e in zip(parsed, events, strict=True)],
                    [p is not None for p in parsed],
                    [e.event for e in events],
                )
        text = body.decode("utf-8", "replace")
        parsed = _json_or_none(text)
        return cls([parsed if parsed is not None else text], [parsed is not None])

    def to_bytes(self) -> bytes:
        data = [dump_json(v).decode() if j else str(v) for v, j in zip(self.values, self.json, strict=True)]
        if self.events is None:
            return data[0].encode()
        return b"".join(encode(SSEEvent(data=d, event=e)) for d, e in zip(data, self.events, strict=True))


def _json_or_none(text: str) -> Any:
    try:
        return parse_json(text.encode(), "upstream error")
    except GuardRejection:
        return None


_REASONS = {
    400: "Bad Request",
    413: "Payload Too Large",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class GuardMiddleware:
    """``app.middlewares.append(GuardMiddleware())``: settings from ``GUARD_*`` env vars (and the file
    ``GUARD_CONFIG_FILE`` names), or pass ``GuardSettings`` explicitly.

    ``team_resolver`` (optional) maps a request to its team's extra guardrails: a list of guardrail and
    level names, or the team's metadata as a mapping (the seed's ``guardrail_level``, ``guardrail_id``,
    ``guardrail_version``); applied after the operator's base guardrails and before those the request
    names itself.

    ``registry`` (optional): the Prometheus registry the guard's metrics are registered on (default:
    ``prometheus_client``'s global one, which ``metrics_handler()`` serves). ``tracer_provider``
    (optional): the OpenTelemetry TracerProvider for the guard's spans (default: the global one).
    """

    __middleware_version__ = 1  # new-style middleware in aiohttp 3.x; ignored (and harmless) in 4.x

    def __init__(
        self,
        settings: GuardSettings | None = None,
        *,
        team_resolver: TeamResolver | None = None,
        registry: CollectorRegistry | None = None,
        tracer_provider: Any = None,
    ) -> None:
        compat.self_check()
        self.settings = settings if settings is not None else GuardSettings.load()
        self.policy: Policy = compile_policy(self.settings)
        summary, warning = describe(self.policy)
        log.info("%s", summary)
        if warning is not None:
            log.warning("%s", warning)
        self.auditor = Auditor(self.settings.audit)
        self.metrics: GuardMetrics = metrics_for(registry) if self.settings.metrics.enabled else NoMetrics()
        cache_settings = self.settings.cache
        # The verdict cache of remote providers (exposed for operators and tests): in process, or Redis.
        self.cache: VerdictCache = build_cache(
            cache_settings.url,
            max_entries=cache_settings.max_entries,
            key_prefix=cache_settings.key_prefix,
            timeout_ms=cache_settings.timeout_ms,
        )
        self.evaluator = Evaluator(
            self.policy,
            self.auditor,
            self.metrics,
            Tracer(enabled=self.settings.tracing.enabled, provider=tracer_provider),
            cache=self.cache,
            cache_prefix=cache_settings.key_prefix,
        )
        self.runtime = Runtime(
            self.policy.provider_pools,
            default_connections=self.policy.provider_max_connections,
            blocking_threads=self.policy.blocking_pool_size,
            on_queue_wait=self.metrics.queued,
            cache=self.cache,
        )
        self._team_resolver = team_resolver
        # a resolver with no `policies` configured: its names are still resolved (and checked)
        self._no_teams = TeamPolicies(teams={}, levels={}, guardrails=self.policy.guardrails, bedrock=None)
        teams = self.policy.teams
        self._needs_runtime = any(not g.is_local for g in self.policy.guardrails.values()) or bool(
            teams is not None and teams.bedrock is not None  # levels' and teams' Bedrock ids
        )
        self._routes = self.policy.routes
        # each guarded route's counts, kept so a request adds to fields rather than calling the metrics
        self._counts: dict[str, RouteCounts] = {}
        # Request ids: unique per process without a urandom syscall per request.
        self._id_prefix = f"{uuid.uuid4().hex[:12]}-"
        self._ids = itertools.count(1)

    # -- lifecycle -------------------------------------------------------------------------------
    async def cleanup_ctx(self, app: web.Application) -> AsyncIterator[None]:
        """Optional: ``app.cleanup_ctx.append(guard.cleanup_ctx)`` opens the provider session at start-up
        and closes it on shutdown (otherwise it opens on first use and closes when the loop ends)."""
        if self._needs_runtime:
            await self.runtime.start()
        yield
        await self.runtime.close()

    def install(self, app: web.Application) -> GuardMiddleware:
        app.middlewares.append(self)
        app.cleanup_ctx.append(self.cleanup_ctx)
        return self

    async def close(self) -> None:
        await self.runtime.close()

    # -- request path ----------------------------------------------------------------------------
    def _route(self, request: web.Request) -> tuple[str, Format | None]:
        path = request.path
        fmt = self._routes.get(path)
        if fmt is None:
            # The raw path, resolved as the router or upstream would (dot segments, %2e, //, ;params).
            path = normalize_route(request.raw_path).lower()
            fmt = self._routes.get(path)
        return path, fmt

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists and request.method in ("GET", "HEAD", "OPTIONS"):
            return await handler(request)
        if not self.policy.enabled:
            self.metrics.passed_unguarded("disabled")
            return await handler(request)
        route, fmt = self._route(request)
        if fmt is None:
            return await self._unguarded(request, handler, route)
        request_id = request.headers.get("X-Request-Id") or f"{self._id_prefix}{next(self._ids):x}"
        try:
            raw = await self._read_body(request)
            parsed = fmt.parse_request(parse_json(raw), route)
            requested = self._requested_guardrails(request, parsed)
            team = await self._team_guardrails(request)
        except GuardRejection as rejection:
            response = _reject(rejection, fmt)
            if rejection.status in (413, 415):
                # The rest of the body is unread (or a bomb still decoding): close the connection
                # rather than let the server read and decompress it to keep the connection alive.
                response.force_close()
            return response
        if self._needs_runtime:
            await self.runtime.start()
        exchange = _Exchange(self, request, handler, parsed, raw, request_id, requested, team)
        watch = compat.watch_disconnect(request)
        try:
            return await exchange.run()
        except asyncio.CancelledError:
            if not (watch is not None and watch.fired) and not compat.client_gone(request):
                raise
            return self._client_closed(exchange, ours=watch is not None and watch.fired)
        finally:
            if watch is not None:
                watch.close()

    def counts_for(self, route: str, fmt: str) -> RouteCounts:
        counts = self._counts.get(route)
        if counts is None:
            counts = self._counts[route] = self.metrics.route_counts(route, fmt)
        return counts

    def _client_closed(self, exchange: _Exchange, *, ours: bool) -> web.StreamResponse:
        """The client went away: its provider calls and the handler (and with it the upstream request)
        have been cancelled. Recorded as ``client_closed``; logged at DEBUG (INFO the first time)."""
        global _closed_logged
        task = asyncio.current_task()
        if ours and task is not None:
            task.uncancel()  # the cancellation the watch asked for; any other one still stands
        self.metrics.client_closed(exchange.route, exchange.stage)
        elapsed_ms = (asyncio.get_running_loop().time() - exchange.started) * 1000
        self.auditor.client_closed(
            request_id=exchange.request_id, route=exchange.route, stage=exchange.stage, duration_ms=elapsed_ms
        )
        level = logging.DEBUG if _closed_logged else logging.INFO
        _closed_logged = True
        log.log(
            level,
            "client of %s went away while the guard waited for %s; its checks and upstream call were "
            "cancelled (further ones are logged at DEBUG)",
            exchange.route,
            exchange.stage,
        )
        if task is not None and task.cancelling():
            raise asyncio.CancelledError  # aiohttp's handler_cancellation: it is unwinding the task
        # Nothing can reach the client; 499 (client closed request) for the access log.
        return compat.AlreadySent(499, keep_alive=False)

    async def _unguarded(self, request: web.Request, handler: Handler, route: str) -> web.StreamResponse:
        """A request no format owns. Under the API prefix, a body that is not a multipart upload is
        refused (``unknown_routes = "block"``) or passed with an audit record (``"pass"``)."""
        policy = self.policy
        content_type = request.headers.get("Content-Type", "").lower()
        if (
            not request.body_exists
            or not route.startswith(policy.api_prefix)
            or content_type.startswith("multipart/")
        ):
            return await handler(request)
        request_id = request.headers.get("X-Request-Id") or f"{self._id_prefix}{next(self._ids):x}"
        blocked = policy.unknown_routes == "block"
        self.auditor.unguarded(request_id=request_id, route=route, method=request.method, blocked=blocked)
        self.metrics.passed_unguarded("unknown_route_refused" if blocked else "unknown_route")
        if blocked:
            return web.json_response(
                error_body(
                    f"No guarded API format owns {request.method} {route}; the request was not forwarded.",
                    code="unguarded_route",
                ),
                status=400,
            )
        return await handler(request)

    async def _read_body(self, request: web.Request) -> bytes:
        coding = request.headers.get("Content-Encoding", "").strip().lower()
        if coding not in _REQUEST_CODINGS:
            raise GuardRejection(
                415,
                error_body(
                    f"Unsupported Content-Encoding {coding!r}; use gzip, deflate, br, zstd or none.",
                    code="unsupported_encoding",
                ),
            )
        limit = self.policy.max_body_bytes
        too_large = GuardRejection(
            413, error_body(f"Request body exceeds the limit of {limit} bytes.", code="request_too_large")
        )
        if request.content_length is not None and request.content_length > limit and not coding:
            raise too_large
        # Straight from the payload stream, not request.read(): the original is then never marked as
        # read, so it can still be cloned for the handler. aiohttp already decoded gzip/deflate/br, so
        # the limit counts decoded bytes (zip-bomb defence) and covers chunked bodies too; what is still
        # encoded is decoded below under the same limit.
        chunks: list[bytes] = []
        total = 0
        content = request.content
        try:
            while chunk := await content.readany():
                total += len(chunk)
                if total > limit:
                    raise too_large
                chunks.append(chunk)
        except (HttpProcessingError, web.RequestPayloadError) as exc:
            # aiohttp's parser wraps a body it cannot decompress (its ContentEncodingError) in a
            # RequestPayloadError; the cause carries the message.
            cause = exc if isinstance(exc, HttpProcessingError) else exc.__cause__
            detail = cause.message if isinstance(cause, HttpProcessingError) else "malformed body"
            raise bad_request(
                f"The request body could not be read: {detail}.", code="invalid_encoding"
            ) from None
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if coding and coding != "identity" and raw[:1] not in (b"{", b"[", b" ", b"\n", b"\r", b"\t"):
            # Still encoded (zstd on aiohttp < 3.13, or a server with auto_decompress=False): decode
            # ourselves rather than forward bytes no check has read.
            try:
                decoder = build_decoder(coding, max_output=limit)
                raw = decoder.decode(raw) + decoder.flush()
            except DecodedTooLarge:
                raise too_large from None
            except (UnsupportedEncoding, ValueError, OSError) as exc:
                raise bad_request(
                    f"The {coding} body could not be decoded: {exc}.", code="invalid_encoding"
                ) from None
        return raw

    def _requested_guardrails(self, request: web.Request, parsed: ParsedRequest) -> list[str]:
        names = list(parsed.requested_guardrails)
        header = request.headers.get(self.policy.guardrails_header)
        if header:
            names.extend(n.strip() for n in header.split(",") if n.strip())
        unknown = self.policy.unknown(names)
        if unknown:
            raise bad_request(
                f"Unknown guardrail(s): {', '.join(unknown)}.", code="unknown_guardrail", param="guardrails"
            )
        return names

    async def _team_guardrails(self, request: web.Request) -> Resolution:
        policy = self.policy
        teams = policy.teams
        if teams is None and self._team_resolver is None:
            return NOTHING
        # The operator's sources first, so the team they name is the one audited; a client's header
        # last: it only names a team (whose guardrails come from the configuration) and can only add.
        sources: list[object] = []
        if policy.team_request_key:
            value = request.get(policy.team_request_key)
            if isinstance(value, (str, Mapping)):
                sources.append(value)
        if self._team_resolver is not None:
            try:
                resolved = self._team_resolver(request)
                if inspect.isawaitable(resolved):
                    resolved = await resolved
            except Exception:
                log.exception("the team resolver raised")
                raise misconfigured("the team resolver failed") from None
            sources.append(resolved)
        if policy.team_header:
            sources.append(request.headers.get(policy.team_header) or None)
        if teams is None:
            teams = self._no_teams
        return teams.resolve(sources)


#: ``pii.restore`` never puts back credentials (the SECRET family): a model has no reason to repeat one,
#: and one from a system prompt or a tool result must not come back through an injected answer (say, a
#: link that carries it to another site).
NEVER_RESTORED = frozenset(FAMILIES["SECRET"])


class _Exchange:
    """One guarded request/response. Holds the per-request state the writer hooks need."""

    def __init__(
        self,
        guard: GuardMiddleware,
        request: web.Request,
        handler: Handler,
        parsed: ParsedRequest,
        raw: bytes,
        request_id: str,
        requested: list[str],
        team: Resolution,
    ) -> None:
        self.guard = guard
        self.policy = guard.policy
        self.request = request
        self.handler = handler
        self.parsed = parsed
        self.raw = raw
        self.request_id = request_id
        self.vault = Vault()
        # ``pii.restore``: placeholder -> value, for the placeholders the request was given
        self.restorable: dict[str, str] = {}
        self._restorer: Restorer | None = None
        self.applied: list[str] = []
        self.warnings: list[str] = []
        self.input_selected = self.policy.select(Phase.INPUT, requested, team.guardrails)
        self.output_selected = self.policy.select(Phase.OUTPUT, requested, team.guardrails)
        self.team = team.team
        # the resolved list in the policy's order (base → level → direct id → request), for the audit
        self.resolved: tuple[str, ...] = ()
        if team:
            self.resolved = tuple(
                dict.fromkeys(
                    [g.name for p in (Phase.INPUT, Phase.OUTPUT) for g in self.policy.base[p]]
                    + [g.name for g in team.guardrails]
                    + list(requested)
                )
            )
        self.gate: asyncio.Future[None] | None = None
        self.terminated = False
        self.stream: StreamGuard | None = None
        self.route = parsed.route
        self.format = parsed.format
        self.counts = guard.counts_for(parsed.route, parsed.format.name)
        self._pending: tuple[str, str] = ("", "")
        # What the request waits for, should its client go away: "input" checks, then "upstream".
        self.stage = "input"
        self.started = asyncio.get_running_loop().time()

    @property
    def restorer(self) -> Restorer | None:
        """The answer's restorer (``pii.restore``), None when nothing in the request was anonymised.
        A value that an output check would block is not restored: restoration puts back what the
        client sent, never what an output block rule refuses to send."""
        if not self.restorable:
            return None
        if self._restorer is None:
            policy = self.policy
            checks = [g for g in self.output_selected if g.text_check is not None]
            values: dict[str, str] = {}
            for placeholder, value in self.restorable.items():
                category = placeholder[1:].rsplit("_", 1)[0]
                if category in NEVER_RESTORED:
                    continue
                try:
                    refused = any(
                        # the value's own type, known from the request (its context is not in the
                        # answer: a PASSWORD or a DATE_OF_BIRTH is found by its context words)...
                        (
                            category in getattr(g.text_check, "types", ())
                            and policy.resolve_action(g, Phase.OUTPUT, category, None) is Action.BLOCK
                        )
                        # ...or whatever an output check finds in the value itself (a blocklist term)
                        or any(
                            policy.resolve_action(g, Phase.OUTPUT, m.category, None) is Action.BLOCK
                            for m in g.text_check.find(value)  # type: ignore[union-attr]
                        )
                        for g in checks
                    )
                except CheckError:
                    refused = True
                if not refused:
                    values[placeholder] = value
            self._restorer = Restorer(values)
        return self._restorer if self._restorer else None

    def ctx(self, phase: Phase) -> EvalContext:
        return EvalContext(
            self.request_id,
            phase,
            self.route,
            {"model": self.parsed.body.get("model")},
            self.team,
            self.resolved,
        )

    def reject(self, rejection: GuardRejection) -> web.Response:
        return _reject(rejection, self.format, self.applied, litellm=self.policy.litellm_headers)

    def _note(self, ev: Evaluation) -> None:
        self.applied.extend(n for n in ev.applied if n not in self.applied)
        self.warnings.extend(c for c in ev.warnings if c not in self.warnings)

    def _guard_headers(self, headers: CIMultiDict[str] | dict[str, str]) -> None:
        if self.applied:
            headers["X-Guardrails-Applied"] = ",".join(self.applied)
            if self.policy.litellm_headers:
                # LiteLLM's header, in its format: the names joined with "," (callback_utils.py)
                headers["x-litellm-applied-guardrails"] = headers["X-Guardrails-Applied"]
        if self.warnings:
            headers["X-Guardrails-Warning"] = ",".join(self.warnings)

    async def _evaluate(
        self, phase: Phase, selected: Sequence[Guardrail], segments: Any, unscanned: Any = ()
    ) -> Evaluation:
        return await self.guard.evaluator.evaluate(
            phase, selected, segments, self.ctx(phase), self.guard.runtime, self.vault, unscanned=unscanned
        )

    # -- input -----------------------------------------------------------------------------------
    async def run(self) -> web.StreamResponse:
        parsed = self.parsed
        if self.input_selected:
            self.counts.input += 1
            self.counts.input_bytes += len(self.raw)
        blocking = [g for g in self.input_selected if not g.concurrent]
        concurrent = [g for g in self.input_selected if g.concurrent]
        ev = await self.guard.evaluator.clean_body(Phase.INPUT, blocking, self.raw)
        if ev is None:
            extraction = parsed.extraction
            ev = await self._evaluate(Phase.INPUT, blocking, extraction.segments, extraction.unscanned)
        self._note(ev)
        if ev.action is Action.BLOCK:
            return self._input_blocked(ev)
        if self.policy.restore:
            self.restorable = self.vault.issued()  # before the answer issues placeholders of its own
        body = self.raw
        if ev.new_texts:
            try:
                apply_rewrites(parsed.body, extraction, ev.new_texts, ev.spans)
                body = dump_json(parsed.body)
            except GuardRejection as rejection:
                return self.reject(rejection)
        elif parsed.stripped:
            body = dump_json(parsed.body)  # the guardrails field is ours; the upstream never sees it
        new_request = compat.clone_for_handler(self.request, body, self)
        if not concurrent:
            self.stage = "upstream"
            return await self._call_handler(new_request)
        return await self._race(new_request, concurrent)

    async def _race(self, new_request: web.Request, concurrent: Sequence[Guardrail]) -> web.StreamResponse:
        """Input checks race the upstream call; nothing from upstream reaches the client before the
        verdict, and a block cancels the handler (closing its upstream request)."""
        loop = asyncio.get_running_loop()
        self.gate = loop.create_future()
        handler_task = asyncio.ensure_future(self._call_handler(new_request))
        try:
            ev = await self._evaluate(Phase.INPUT, concurrent, self.parsed.extraction.segments)
        except BaseException:
            handler_task.cancel()
            raise
        self._note(ev)
        if ev.new_texts and ev.action is not Action.BLOCK:
            # A rewrite cannot be applied to a request that has already left: refuse rather than let
            # the answer to the unredacted request through.
            ev.action = Action.BLOCK
            ev.findings = [replace(f, action=Action.BLOCK) for f in ev.findings] or ev.findings
        if ev.action is Action.BLOCK:
            handler_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await handler_task
            return self._input_blocked(ev)
        self.gate.set_result(None)
        self.stage = "upstream"
        try:
            return await handler_task
        except asyncio.CancelledError:
            handler_task.cancel()
            raise

    def _input_blocked(self, ev: Evaluation) -> web.StreamResponse:
        if ev.failure is None and ev.blocking is not None and ev.blocking.disable_exception_on_block:
            return self._synthetic_answer(ev)
        return self.reject(ev.rejection(Phase.INPUT))

    def _synthetic_answer(self, ev: Evaluation) -> web.StreamResponse:
        """``disable_exception_on_block``: answer 200 as the model would, with the block message as the
        format's refusal; the upstream is never called. APIs with no such answer get the error."""
        message = (
            ev.blocked_message
            or f"This request was blocked by guardrail {ev.blocking.name if ev.blocking else ''}."
        )
        fmt = self.format
        if self.parsed.stream:
            payload = fmt.refusal_stream(self.parsed, message)
            if payload is None:
                return self.reject(ev.rejection(Phase.INPUT))
            return web.Response(body=payload, content_type="text/event-stream", headers=self._header_dict())
        answer = fmt.refusal_answer(self.parsed, message, self.request_id)
        if answer is None:
            return self.reject(ev.rejection(Phase.INPUT))
        return web.json_response(answer, headers=self._header_dict())

    # -- output ----------------------------------------------------------------------------------
    async def _call_handler(self, new_request: web.Request) -> web.StreamResponse:
        writer = compat.guarded_writer(new_request)
        try:
            resp = await self.handler(new_request)
        except compat.StreamTerminated:
            if writer is not None and writer.finished:
                return compat.AlreadySent(writer.status, keep_alive=self.request.keep_alive)
            raise
        except ConnectionResetError:
            transport = self.request.transport
            if transport is None or transport.is_closing():
                # The client went away mid-answer; the handler has unwound (closing its upstream
                # request). Nothing is left to send, and a traceback per disconnect is only noise.
                return compat.AlreadySent(writer.status if writer is not None else 200, keep_alive=False)
            raise
        except web.HTTPException:
            raise  # a response the handler chose to raise
        except Exception as exc:
            # The handler failed (its upstream cut off mid-answer, a bug): the client gets an error its
            # SDK understands, not aiohttp's plain-text 500 nor a stream with broken framing.
            log.exception("the handler failed on %s", self.request.path)
            return await self._handler_failed(writer, exc)
        if writer is not None and (writer.finished or writer.headers_sent):
            # The handler prepared the response through our writer: it has been guarded already. If the
            # guard ended the stream, whatever the handler returned must not be written after it.
            return (
                compat.AlreadySent(writer.status, keep_alive=self.request.keep_alive)
                if self.terminated
                else resp
            )
        if resp.prepared:
            return resp
        if isinstance(resp, web.Response) and not isinstance(resp.body, (bytes, bytearray, type(None))):
            # A streamed payload body: route it through our writer so it is guarded like a stream.
            await resp.prepare(new_request)
            await resp.write_eof()
            return (
                compat.AlreadySent(resp.status, keep_alive=self.request.keep_alive)
                if self.terminated
                else resp
            )
        return await self._guard_unprepared(resp)

    async def _handler_failed(
        self, writer: compat.GuardedWriter | None, exc: Exception
    ) -> web.StreamResponse:
        message = "The upstream answer failed before it was complete."
        if writer is not None and writer.headers_sent:
            if writer.finished or not writer.streaming or self.stream is None:
                # Bytes already on the wire in a framing we cannot end: aiohttp drops the connection.
                raise exc
            # An SSE answer under way: end it with the format's error event, as for any failure.
            await writer.end_stream(self.stream.fail(message, code="upstream_failed"))
            return compat.AlreadySent(writer.status, keep_alive=False)
        if writer is not None:
            writer.discard()
        body = error_body(message, code="upstream_failed", type_="upstream_error")
        return self.reject(GuardRejection(502, body))

    async def _guard_unprepared(self, resp: web.StreamResponse) -> web.StreamResponse:
        if self.gate is not None:
            await self.gate
        if not isinstance(resp, web.Response) or not (self.output_selected or self.restorable):
            self._guard_headers(resp.headers)
            return resp
        if self.output_selected:  # restoration alone is not a check
            self.counts.output += 1
        coding = "" if resp.compression else resp.headers.get("Content-Encoding", "")
        try:
            body = self._decode_response(bytes(resp.body or b""), coding)  # type: ignore[arg-type]
            content_type = resp.headers.get("Content-Type", resp.content_type)
            if 200 <= resp.status < 300:
                status, new_body = await self._guard_body(content_type, body)
            else:
                status, new_body = await self._guard_error_answer(resp.status, content_type, body)
        except GuardRejection as rejection:
            return self.reject(rejection)
        if status != resp.status and not (status == 200 and 200 <= resp.status < 300):
            return web.Response(
                body=new_body, status=status, content_type="application/json", headers=self._header_dict()
            )
        resp.body = new_body
        if coding:
            resp.headers.popall("Content-Encoding", None)
        # A stale Content-Length would make aiohttp send a body of another length (response desync).
        resp.headers.popall("Content-Length", None)
        self._guard_headers(resp.headers)
        return resp

    async def _guard_body(self, content_type: str, body: bytes) -> tuple[int, bytes]:
        """A complete answer body: JSON is checked as a whole, SSE through the stream guard; anything
        else on a guarded route cannot be checked and is refused."""
        if self.output_selected:
            self.counts.output_bytes += len(body)
        kind = _body_kind(content_type, body)
        if kind == "json":
            return await self.guard_json_body(body)
        if kind == "sse":
            stream = self.make_stream_guard()
            return 200, await stream.feed(body) + await stream.finish()
        if not self.output_selected:
            return 200, body  # only restoring, which is not a check: an answer of no known shape passes
        raise GuardRejection(
            502,
            error_body(
                f"The upstream answer ({content_type or 'no content type'}) cannot be checked.",
                code="upstream_unreadable",
                type_="upstream_error",
            ),
        )

    def _header_dict(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        self._guard_headers(headers)
        return headers

    def _decode_response(self, body: bytes, coding: str) -> bytes:
        coding = coding.strip().lower()
        if not coding or coding == "identity" or looks_plain(body):
            return body
        try:
            decoder = build_decoder(coding, max_output=64 * 1024 * 1024)
            return decoder.decode(body) + decoder.flush()
        except (UnsupportedEncoding, DecodedTooLarge, ValueError, OSError) as exc:
            raise GuardRejection(
                502,
                error_body(
                    f"The upstream response ({coding}) could not be decoded for checking: {exc}.",
                    code="upstream_unreadable",
                    type_="upstream_error",
                ),
            ) from None

    async def _guard_error_answer(self, status: int, content_type: str, body: bytes) -> tuple[int, bytes]:
        """A non-2xx answer: its text (an upstream echoing the prompt, a provider's message) is checked
        like any answer; status and shape are kept, the text redacted, a block replaced by the refusal.
        JSON is walked as JSON (escapes decoded), SSE event by event, anything else as one text."""
        if not self.output_selected:
            return status, body  # only restoring: error answers are not restored
        self.counts.output_bytes += len(body)
        docs = _ErrorBody.parse(_body_kind(content_type, body), body)
        extraction = extract(docs.values, default_role="assistant")
        if not extraction.segments:
            return status, body
        ev = await self._evaluate(Phase.OUTPUT, self.output_selected, extraction.segments)
        self._note(ev)
        if ev.action is Action.BLOCK:
            rejection = ev.rejection(Phase.OUTPUT)
            return rejection.status, json.dumps(self.format.error_body(rejection.body)).encode()
        if not ev.new_texts:
            return status, body
        apply_rewrites(docs.values, extraction, ev.new_texts, ev.spans)
        return status, docs.to_bytes()

    async def guard_json_body(self, body: bytes) -> tuple[int, bytes]:
        """Check a complete JSON response. Returns the status and the body to send."""
        try:
            obj = parse_json(body, "upstream response")
            self.format.check_answer(obj)
        except (GuardRejection, ValueError) as exc:
            detail = exc.body["error"]["message"] if isinstance(exc, GuardRejection) else str(exc)
            raise GuardRejection(
                502,
                error_body(
                    f"The upstream response could not be checked: {detail}",
                    code="upstream_unreadable",
                    type_="upstream_error",
                ),
            ) from None
        evaluator = self.guard.evaluator
        fast = await evaluator.clean_body(
            Phase.OUTPUT, self.output_selected, body, self.format.opaque_answer_keys
        )
        if fast is not None:
            self._note(fast)
            return 200, self._restore_json(obj, body)
        extraction = self.format.extract_answer(obj)
        ev = await self._evaluate(
            Phase.OUTPUT, self.output_selected, extraction.segments, extraction.unscanned
        )
        self._note(ev)
        if ev.action is Action.BLOCK:
            if ev.failure is None and ev.blocking is not None and ev.blocking.disable_exception_on_block:
                message = ev.blocked_message or f"This response was blocked by guardrail {ev.blocking.name}."
                refusal = self.format.refuse_answer(self.parsed, obj, message)
                if refusal is not None:
                    return 200, dump_json(refusal)
            rejection = ev.rejection(Phase.OUTPUT)
            return rejection.status, json.dumps(self.format.error_body(rejection.body)).encode()
        if ev.new_texts:
            apply_rewrites(obj, extraction, ev.new_texts, ev.spans, clear_logprobs=True)
            body = dump_json(obj)
        return 200, self._restore_json(obj, body)

    def _restore_json(self, obj: Any, body: bytes) -> bytes:
        """``pii.restore`` on a checked JSON answer (``obj`` is ``body`` parsed): every string the
        model wrote gets the client's values back. An answer with no issued placeholder is sent as
        it is."""
        restorer = self.restorer
        if restorer is None or not restorer.in_bytes(body):
            return body
        extraction = extract(obj, default_role="assistant", opaque=self.format.opaque_answer_keys, join=False)
        restored = restore_texts(dict(enumerate(s.text for s in extraction.segments)), restorer.restore)
        if not restored:
            return body
        apply_rewrites(obj, extraction, restored)
        return dump_json(obj)

    def make_stream_guard(self) -> StreamGuard:
        self.stream = StreamGuard(self)
        return self.stream

    # -- WriterHooks (responses the handler writes itself) ----------------------------------------
    async def on_headers(
        self, status: int, headers: CIMultiDict[str], compressing: bool
    ) -> compat.WriterMode:
        if self.gate is not None:
            await self.gate
        if not (self.output_selected or self.restorable):
            self._guard_headers(headers)
            return "pass"
        if self.output_selected:  # restoration alone is not a check
            self.counts.output += 1
        content_type = headers.get("Content-Type", "")
        # With compression enabled by the handler, aiohttp compresses after us: we see plaintext and the
        # header is aiohttp's. Otherwise a Content-Encoding means the handler passes encoded bytes on.
        coding = "" if compressing else headers.popall("Content-Encoding", [""])[0]
        if not _is_sse(content_type) or not 200 <= status < 300:
            self._pending = (content_type, coding)
            return "buffer"  # JSON, or unknown: sniffed and checked when complete
        stream = self.make_stream_guard()
        stream.set_encoding(coding)
        self.applied.extend(g.name for g in self.output_selected if g.name not in self.applied)
        self._guard_headers(headers)
        return "stream"

    async def on_chunk(self, data: bytes) -> bytes:
        assert self.stream is not None
        if self.output_selected:
            self.counts.output_bytes += len(data)
        return await self.stream.feed(data)

    async def on_stream_end(self) -> bytes:
        assert self.stream is not None
        return await self.stream.finish()

    async def on_body(self, status_line: str, headers: CIMultiDict[str], body: bytes) -> tuple[str, bytes]:
        content_type, coding = self._pending
        original = int(status_line.split(" ", 2)[1])
        try:
            decoded = self._decode_response(body, coding)
            if 200 <= original < 300:
                status, new_body = await self._guard_body(content_type, decoded)
            else:
                status, new_body = await self._guard_error_answer(original, content_type, decoded)
        except GuardRejection as rejection:
            status = rejection.status
            new_body = json.dumps(self.format.error_body(rejection.body)).encode()
        self._guard_headers(headers)
        if status != original and not (status == 200 and 200 <= original < 300):
            headers["Content-Type"] = "application/json"
            headers.popall("Content-Encoding", None)
            status_line = f"{status_line.split(' ', 1)[0]} {status} {_REASONS.get(status, 'Error')}"
        return status_line, new_body
