"""Runs the guardrails of one phase: local checks first, then remote providers concurrently; decides.

No aiohttp here: providers receive the runtime (session, thread pool) from the shell.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from guard_middleware._engine import BodyScanner, Literals, PiiScanner
from guard_middleware.audit import Auditor
from guard_middleware.cache import VerdictCache, decode_outcome, encode_outcome, text_key, verdict_key
from guard_middleware.checks.base import CheckError
from guard_middleware.errors import GuardRejection, blocked_body, error_body
from guard_middleware.formats.body import walk_rules
from guard_middleware.metrics import RESULT_OF_ACTION, GuardMetrics, NoMetrics, Series
from guard_middleware.policy import Guardrail, Policy
from guard_middleware.providers.base import EvalContext, Runtime
from guard_middleware.queue_clock import QUEUE_CLOCK, QueueClock
from guard_middleware.restore import Vault as Vault  # re-exported: the shell creates one per request
from guard_middleware.tracing import Tracer
from guard_middleware.verdict import (
    Action,
    Finding,
    Match,
    Phase,
    ProviderError,
    ProviderOutcome,
    Segment,
    Status,
)

log = logging.getLogger("guard_middleware")


def replacement_for(guardrail: Guardrail, category: str, value: str, vault: Vault) -> str:
    return vault.placeholder(category, value) if guardrail.anonymize else guardrail.replacement


def redact_spans(text: str, spans: Sequence[tuple[int, int, str]]) -> str:
    """Replace ``[start, end)`` spans; overlapping spans merge into one region and the earliest span's
    replacement stands for the whole region."""
    if not spans:
        return text
    out: list[str] = []
    cursor = 0
    region_end = -1
    for start, end, repl in sorted(spans, key=lambda s: (s[0], -s[1])):
        if start < region_end:  # overlaps the region already replaced
            if end > region_end:
                region_end = end
                cursor = end
            continue
        out.append(text[cursor:start])
        out.append(repl)
        cursor = region_end = end
    out.append(text[cursor:])
    return "".join(out)


def _redact_all(texts: Sequence[str], spans: dict[int, list[tuple[int, int, str]]]) -> dict[int, str]:
    return {i: redact_spans(texts[i], s) for i, s in spans.items()}


def _with_part_matches(
    find: Callable[[str], list[Match]], seg: Segment, joined: Sequence[Match]
) -> list[Match]:
    """Matches of each part on its own (in joined offsets), plus the matches of the joined text that
    overlap none of them: a value split over two parts is found, while a value inside one part keeps
    its own span (joined, an address's domain could run on into the next part)."""
    out: list[Match] = []
    offset = 0
    for _, length in seg.parts:
        for m in find(seg.text[offset : offset + length]):
            out.append(replace(m, start=m.start + offset, end=m.end + offset))
        offset += length
    spans = [(m.start, m.end) for m in out]
    for m in joined:
        if not any(m.start < end and start < m.end for start, end in spans):
            out.append(m)
    return out


@dataclass(slots=True)
class Evaluation:
    action: Action = Action.ALLOW
    findings: list[Finding] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    new_texts: dict[int, str] = field(default_factory=dict)
    # local redaction spans per segment (how ``new_texts`` came about, before any provider rewrite)
    spans: dict[int, list[tuple[int, int, str]]] = field(default_factory=dict)
    # A provider failure whose policy is "block": 503/504.
    failure: GuardRejection | None = None
    blocked_message: str | None = None
    blocking: Guardrail | None = None

    @property
    def warnings(self) -> list[str]:
        return sorted({f.category for f in self.findings if f.action is Action.WARN})

    def rejection(self, phase: Phase) -> GuardRejection:
        if self.failure is not None:
            return self.failure
        blocking = [f for f in self.findings if f.action is Action.BLOCK]
        return GuardRejection(400, blocked_body(phase.value, blocking))


#: a local check's verdict and its findings per category
_Collected = tuple[Action, dict[str, int]]
#: a remote call: guardrail, outcome (None: failed), failure kind, detail, start time, span, whether the
#: outcome came from the verdict cache, seconds queued for a connection (known for timeouts)
_RemoteResult = tuple[Guardrail, ProviderOutcome | None, str | None, str, float, object, bool, float]


def _failure(guardrail: Guardrail, kind: str, queued_s: float = 0.0) -> GuardRejection:
    if kind == "timeout":
        # Whoever reads a 504 needs to know whether the provider was slow or our pool was full.
        queued = (
            f" ({queued_s:.3f}s of its {guardrail.timeout_s:g}s deadline queued for a provider "
            "connection; raise its max_connections)"
            if queued_s >= 0.001
            else ""
        )
        return GuardRejection(
            504,
            error_body(
                f"Guardrail {guardrail.name} did not answer in time{queued}.",
                code="guardrail_timeout",
                type_="guardrail_error",
                guardrail=guardrail.name,
            ),
        )
    return GuardRejection(
        503,
        error_body(
            f"Guardrail {guardrail.name} is unavailable; the request was not forwarded.",
            code="guardrail_unavailable",
            type_="guardrail_error",
            guardrail=guardrail.name,
        ),
    )


# Texts recur: model names and roles on every request, and agents and chat UIs re-send the whole
# conversation every turn. A check's matches are a pure function of (check, text), so they are
# remembered, and a re-sent history costs a dictionary lookup per message instead of a scan. The memo
# keeps the texts themselves as keys (exact: no digest can collide), bounded by their total size;
# the oldest entries go first. Vault numbering and request-level rules are applied per request after
# it, as before.
_MEMO_MAX_CHARS = 8 * 1024 * 1024
_MEMO_MAX_ENTRIES = 65_536
# Texts longer than this are not remembered (agents re-send messages, not megabytes), nor are results
# with many matches: the budget counts a match as this many characters (a Match is ~100 bytes).
_MEMO_MAX_TEXT_CHARS = 64 * 1024
_MEMO_MAX_MATCHES = 64
_MEMO_MATCH_CHARS = 64
# Requests with more text than this are scanned in a worker thread (the engine releases the GIL on large
# texts), so a megabyte body never holds the event loop, and every other request, while it is scanned.
# Below it a thread hop (~50 us) would cost more than the scan it moves. See tests/bench_worst.py.
OFFLOAD_CHARS = 64 * 1024
#: findings (or redaction spans) handled on the event loop; more go to a worker thread
COLLECT_INLINE_MAX = 1000


def _memo_cost(key: tuple[str, str], found: tuple[Match, ...]) -> int:
    return len(key[1]) + _MEMO_MATCH_CHARS * len(found)


class _MatchMemo:
    """(guardrail, text) -> matches, bounded by total characters and entries; the oldest entries go
    first. A hit is one dictionary lookup (atomic under the GIL, so no lock); inserts take a lock, since
    offloaded scans insert from a worker thread."""

    __slots__ = ("_chars", "_entries", "_lock")

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[Match, ...]] = {}
        self._chars = 0
        self._lock = threading.Lock()

    def find(self, guardrail: str, find: Callable[[str], list[Match]], text: str) -> tuple[Match, ...]:
        key = (guardrail, text)
        found = self._entries.get(key)
        if found is not None:
            return found
        found = tuple(find(text))
        if len(text) > _MEMO_MAX_TEXT_CHARS or len(found) > _MEMO_MAX_MATCHES:
            return found
        with self._lock:
            entries = self._entries
            if key not in entries:
                entries[key] = found
                self._chars += _memo_cost(key, found)
                while self._chars > _MEMO_MAX_CHARS or len(entries) > _MEMO_MAX_ENTRIES:
                    oldest = next(iter(entries))
                    self._chars -= _memo_cost(oldest, entries.pop(oldest))
        return found


# Body scanners kept per (guardrails, format opaque keys): one per combination a policy selects, a
# bounded number; beyond it a scanner is built per request (correct, only slower).
_SCANNERS_MAX = 256
# When most bodies of a combination hold something (PII-heavy traffic), the fast path only adds a scan
# before the exact path scans again: above this share of recent bodies found dirty it is skipped, and
# tried again on one body in _FAST_PROBE_EVERY so that it comes back when the traffic changes.
_FAST_SKIP_ABOVE = 0.5
_FAST_PROBE_EVERY = 16
_FAST_DECAY = 0.875


@dataclass(slots=True)
class _FastPath:
    scanner: BodyScanner | None
    # exponentially decaying share of recent bodies the scanner did not find clean
    dirty: float = 0.0
    skipped: int = 0
    # the metrics series of its guardrails, per phase
    series: dict[Phase, list[Series]] = field(default_factory=dict)

    def worth_trying(self) -> bool:
        if self.dirty <= _FAST_SKIP_ABOVE or self.skipped >= _FAST_PROBE_EVERY:
            self.skipped = 0
            return True
        self.skipped += 1
        return False

    def outcome(self, clean: bool) -> None:
        self.dirty = self.dirty * _FAST_DECAY + (0.0 if clean else 1.0 - _FAST_DECAY)


def native_checks(guardrails: Sequence[Guardrail]) -> tuple[list[Literals], list[PiiScanner]] | None:
    """The engine objects of ``guardrails`` when every one is local and runs on the engine alone (no user
    regexes, no content limits); else None."""
    literals: list[Literals] = []
    pii: list[PiiScanner] = []
    for g in guardrails:
        if not g.is_local or g.limits is not None or g.text_check is None:
            return None
        native = g.text_check.native()
        if isinstance(native, Literals):
            literals.append(native)
        elif isinstance(native, PiiScanner):
            pii.append(native)
        else:
            return None
    return literals, pii


class Evaluator:
    """Stateless apart from its collaborators and bounded memos of texts' local results; one per
    middleware, shared by all requests."""

    def __init__(
        self,
        policy: Policy,
        auditor: Auditor,
        metrics: GuardMetrics | None = None,
        tracer: Tracer | None = None,
        cache: VerdictCache | None = None,
        cache_prefix: str = "",
    ) -> None:
        self.policy = policy
        self.cache = cache
        self.cache_prefix = cache_prefix
        self.auditor = auditor
        self.metrics = metrics if metrics is not None else NoMetrics()
        self.tracer = tracer if tracer is not None else Tracer(enabled=False)
        self._memo = _MatchMemo()
        self._fast: dict[tuple[tuple[str, ...], frozenset[str]], _FastPath] = {}

    def _fast_path(self, guardrails: Sequence[Guardrail], opaque: frozenset[str]) -> _FastPath:
        key = (tuple(g.name for g in guardrails), opaque)
        try:
            return self._fast[key]
        except KeyError:
            pass
        checks = native_checks(guardrails)
        scanner = None
        if checks is not None:
            scanner = BodyScanner(*checks, rules=walk_rules(), format_opaque=sorted(opaque))
        fast = _FastPath(scanner)
        # A combination with a Bedrock id from team metadata (unbounded) is not kept: it would crowd out
        # the configured ones. It has a remote guardrail, so it has no scanner to build anyway.
        if len(self._fast) < _SCANNERS_MAX and not any(g.metric_label for g in guardrails):
            self._fast[key] = fast
        return fast

    async def clean_body(
        self,
        phase: Phase,
        guardrails: Sequence[Guardrail],
        raw: bytes,
        opaque: frozenset[str] = frozenset(),
    ) -> Evaluation | None:
        """The fast path: the verdict on a whole JSON body (``raw``, accepted by ``parse_json``) when the
        engine proves that no guardrail finds anything in it; None when it cannot (a guardrail is remote
        or runs Python code, every verdict is audited, something may match, or recent bodies mostly held
        something): the exact path decides. A clean body is forwarded as it came, never walked in Python."""
        if not guardrails:
            return Evaluation()
        if self.auditor.log_all:
            return None
        fast = self._fast_path(guardrails, opaque)
        scanner = fast.scanner
        if scanner is None or not fast.worth_trying():
            return None
        digits = sys.get_int_max_str_digits()
        started = time.perf_counter()
        if len(raw) >= OFFLOAD_CHARS:
            clean = await asyncio.to_thread(scanner.clean, raw, digits)
        else:
            clean = scanner.clean(raw, digits)
        fast.outcome(clean)
        if not clean:
            return None
        # One scan answered for every guardrail: each is counted as allowed, with the scan's time.
        series = fast.series.get(phase)
        if series is None:
            series = fast.series[phase] = [self.metrics.series(g.label, phase.value) for g in guardrails]
        self.metrics.allowed(series, time.perf_counter() - started)
        return Evaluation(applied=[g.name for g in guardrails])

    def scan_local(self, guardrail: Guardrail, phase: Phase, segments: Sequence[Segment]) -> list[Finding]:
        findings: list[Finding] = []
        resolve = self.policy.resolve_action
        if guardrail.text_check is not None:
            find = guardrail.text_check.find
            memo = self._memo.find
            name = guardrail.name
            for i, seg in enumerate(segments):
                matches: Sequence[Match] = memo(name, find, seg.text)
                if seg.parts:
                    matches = _with_part_matches(find, seg, matches)
                for m in matches:
                    findings.append(self.finding(guardrail, phase, m, i))
        if guardrail.limits is not None:
            texts = [s.text for s in segments if s.kind != "other"]
            for f in guardrail.limits.evaluate(texts):
                findings.append(replace(f, action=resolve(guardrail, phase, f.category, f.action)))
        return findings

    def finding(self, guardrail: Guardrail, phase: Phase, m: Match, segment: int) -> Finding:
        action = self.policy.resolve_action(guardrail, phase, m.category, None)
        return Finding(guardrail.name, m.category, m.severity, action, segment, m.start, m.end, m.message)

    async def evaluate(
        self,
        phase: Phase,
        guardrails: Sequence[Guardrail],
        segments: Sequence[Segment],
        ctx: EvalContext,
        runtime: Runtime | None,
        vault: Vault,
        *,
        unscanned: Sequence[str] = (),
        stream_piece: bool = False,
    ) -> Evaluation:
        """``stream_piece``: whole strings of a stream's event. Its local checks' verdicts are counted
        once per stream by the stream guard, not per piece (findings are counted here)."""
        ev = Evaluation()
        texts = [s.text for s in segments]
        spans: dict[int, list[tuple[int, int, str]]] = {}

        offload = sum(len(t) for t in texts) >= OFFLOAD_CHARS
        for g in guardrails:
            if not g.is_local:
                continue
            started = time.perf_counter()
            span = None if stream_piece else self.tracer.start(g.label, phase.value, "local")
            ev.applied.append(g.name)
            # Scanning a large text, and handling many findings (placeholders, hashes, the audit
            # record: microseconds each), happen off the event loop. The vault, `ev` and `spans`
            # belong to this request, which waits for the thread.
            collect = (ev, g, phase, segments, vault, spans, ctx, started, unscanned)
            try:
                if offload:

                    def scan_and_collect(g: Guardrail = g, started: float = started) -> _Collected:
                        found = self.scan_local(g, phase, segments)
                        return self._collect(
                            ev, g, phase, segments, vault, spans, ctx, started, unscanned, found
                        )

                    collected = await asyncio.to_thread(scan_and_collect)
                else:
                    found = self.scan_local(g, phase, segments)
                    if len(found) > COLLECT_INLINE_MAX:
                        collected = await asyncio.to_thread(self._collect, *collect, found)
                    else:
                        collected = self._collect(*collect, found)
            except CheckError as exc:
                self._fail(ev, g, phase, ctx, "error", str(exc), started, span=span)
                if ev.failure is not None:
                    return ev
                continue
            if stream_piece:
                for category, n in collected[1].items():
                    self.metrics.finding(g.label, phase.value, category, n)
            else:
                self._observe(g, phase, collected, started, span)
        if ev.action is Action.BLOCK:
            return ev
        if offload or sum(len(s) for s in spans.values()) > COLLECT_INLINE_MAX:
            redacted = await asyncio.to_thread(_redact_all, texts, spans)
        else:
            redacted = _redact_all(texts, spans)
        for i, text in redacted.items():
            ev.new_texts[i] = texts[i] = text
        ev.spans = spans

        remotes = [g for g in guardrails if not g.is_local]
        if remotes and runtime is not None:
            await self._run_remote(ev, remotes, phase, segments, texts, ctx, runtime)
        return ev

    def _collect(
        self,
        ev: Evaluation,
        g: Guardrail,
        phase: Phase,
        segments: Sequence[Segment],
        vault: Vault,
        spans: dict[int, list[tuple[int, int, str]]],
        ctx: EvalContext,
        started: float,
        unscanned: Sequence[str],
        found: list[Finding],
    ) -> _Collected:
        if not found:
            if self.auditor.log_all:
                self._audit_clean(g, phase, ctx, started, unscanned)
            return Action.ALLOW, {}
        action = max((f.action or Action.ALLOW for f in found), default=Action.ALLOW)
        values: list[str] = []
        categories: dict[str, int] = {}
        for f in found:
            categories[f.category] = categories.get(f.category, 0) + 1
            if f.segment is not None and f.start is not None and f.end is not None:
                value = segments[f.segment].text[f.start : f.end]
                values.append(value)
                if f.action is Action.REDACT:
                    spans.setdefault(f.segment, []).append(
                        (f.start, f.end, replacement_for(g, f.category, value, vault))
                    )
        if action is Action.BLOCK and ev.blocking is None:
            ev.blocking = g
        ev.findings.extend(found)
        ev.action = max(ev.action, action)
        status: Status = "guardrail_intervened" if action >= Action.REDACT else "success"
        self.auditor.record(
            request_id=ctx.request_id,
            team=ctx.team,
            guardrails=ctx.guardrails,
            guardrail=g.name,
            phase=phase.value,
            status=status,
            action=action,
            findings=found,
            duration_ms=(time.perf_counter() - started) * 1000,
            values=values,
            unscanned=unscanned,
        )
        return action, categories

    def _observe(
        self, g: Guardrail, phase: Phase, collected: _Collected, started: float, span: object
    ) -> None:
        """Metrics and the span of one evaluation that gave a verdict (on the event loop thread)."""
        action, categories = collected
        result = RESULT_OF_ACTION[action]
        metrics = self.metrics
        metrics.evaluation(g.label, phase.value, result, time.perf_counter() - started)
        for category, n in categories.items():
            metrics.finding(g.label, phase.value, category, n)
        self.tracer.end(span, result)

    def _audit_clean(
        self, g: Guardrail, phase: Phase, ctx: EvalContext, started: float, unscanned: Sequence[str]
    ) -> None:
        self.auditor.record(
            request_id=ctx.request_id,
            team=ctx.team,
            guardrails=ctx.guardrails,
            guardrail=g.name,
            phase=phase.value,
            status="success",
            action=Action.ALLOW,
            findings=(),
            duration_ms=(time.perf_counter() - started) * 1000,
            unscanned=unscanned,
        )

    def _fail(
        self,
        ev: Evaluation,
        g: Guardrail,
        phase: Phase,
        ctx: EvalContext,
        kind: str,
        detail: str,
        started: float,
        *,
        force: bool = False,
        span: object = None,
        error_kind: str = "",
        queued_s: float = 0.0,
    ) -> None:
        # ``force``: a failure no policy may wave through (nothing safe could be forwarded).
        if queued_s >= 0.001:
            detail += f" ({queued_s:.3f}s of it queued for a provider connection)"
        policy = "block" if force else (g.on_timeout if kind == "timeout" else g.on_error)
        result = "timeout" if kind == "timeout" else "error"
        self.metrics.evaluation(
            g.label, phase.value, result, time.perf_counter() - started, error_kind or kind
        )
        self.tracer.end(span, result, detail)
        if policy == "block":
            ev.failure = _failure(g, kind, queued_s)
            ev.action = Action.BLOCK
        # An operator must see a bad key or a dead provider at once, whatever the policy.
        log.warning("guardrail %s failed (%s): %s; policy %s", g.name, kind, detail, policy)
        self.auditor.record(
            request_id=ctx.request_id,
            team=ctx.team,
            guardrails=ctx.guardrails,
            guardrail=g.name,
            phase=phase.value,
            status="guardrail_failed_to_respond",
            action=Action.BLOCK if policy == "block" else Action.ALLOW,
            findings=(),
            duration_ms=(time.perf_counter() - started) * 1000,
            error=f"{kind}: {detail}",
        )

    async def _call(
        self, g: Guardrail, sent: Sequence[Segment], ctx: EvalContext, runtime: Runtime, span: object
    ) -> ProviderOutcome:
        assert g.remote is not None
        async with asyncio.timeout(g.timeout_s):
            with self.tracer.current(span):
                # the guardrail's own pool; Bedrock ids built from the template share the template's
                return await g.remote.evaluate(
                    sent, ctx, runtime.for_guardrail(g.pool or g.label, g.max_connections)
                )

    async def _lookup(
        self, cache: VerdictCache, g: Guardrail, key: str, segments: int
    ) -> ProviderOutcome | None:
        # A cache that cannot answer is a miss: the provider is asked, never skipped.
        result, raw = await cache.get(key)
        self.metrics.cache_lookup(g.label, result)
        return decode_outcome(g.name, raw, segments) if raw is not None else None

    async def _ask(
        self,
        g: Guardrail,
        phase: Phase,
        sent: Sequence[Segment],
        ctx: EvalContext,
        runtime: Runtime,
        span: object,
    ) -> tuple[ProviderOutcome, bool]:
        """The provider's verdict on ``sent``, from the verdict cache when it has it; whether it did.
        Only answers the provider gave are stored (failures raise past the store), and only verdicts
        without text (see ``encode_outcome``)."""
        cache = self.cache
        if cache is None or g.cache_ttl_s <= 0:
            return await self._call(g, sent, ctx, runtime, span), False
        per_text = getattr(g.remote, "verdicts_per_text", None)
        if per_text is not None and per_text(phase):
            return await self._ask_per_text(cache, g, sent, ctx, runtime, span)
        key = verdict_key(
            self.cache_prefix, g.name, g.cache_fingerprint, phase.value, ctx.route, ctx.metadata, sent
        )
        cached = await self._lookup(cache, g, key, len(sent))
        if cached is not None:
            return cached, True
        outcome = await self._call(g, sent, ctx, runtime, span)
        value = encode_outcome(outcome)
        if value is not None:
            await cache.set(key, value, g.cache_ttl_s)
        return outcome, False

    async def _ask_per_text(
        self,
        cache: VerdictCache,
        g: Guardrail,
        sent: Sequence[Segment],
        ctx: EvalContext,
        runtime: Runtime,
        span: object,
    ) -> tuple[ProviderOutcome, bool]:
        """A provider that judges each text on its own (OpenAI moderation, Azure text analysis): each
        text is its own cache entry, in either phase, and the provider is sent only the texts the cache
        does not know. An agent's re-sent history, and an answer re-sent as the next turn's input, are
        not checked again."""
        keys = [text_key(self.cache_prefix, g.cache_fingerprint, s.text) for s in sent]
        known: list[ProviderOutcome | None] = []
        for result, raw in await cache.get_many(keys):
            self.metrics.cache_lookup(g.label, result)
            known.append(decode_outcome(g.name, raw, 1) if raw is not None else None)
        if len(known) != len(sent):  # a cache that did not answer each text: none of its answers count
            known = [None] * len(sent)
        findings = [replace(f, segment=i) for i, o in enumerate(known) if o is not None for f in o.findings]
        missing = [i for i, o in enumerate(known) if o is None]
        if not missing:
            return ProviderOutcome(findings=findings), True
        outcome = await self._call(g, [sent[i] for i in missing], ctx, runtime, span)
        fresh = outcome.findings
        findings += [replace(f, segment=None if f.segment is None else missing[f.segment]) for f in fresh]
        findings.sort(key=lambda f: -1 if f.segment is None else f.segment)
        if not outcome.rewrites and all(f.segment is not None and f.replacement is None for f in fresh):
            by_text: dict[int, list[Finding]] = {j: [] for j in range(len(missing))}
            for f in fresh:
                by_text[f.segment or 0].append(replace(f, segment=0))
            stores = []
            for j, text_findings in by_text.items():
                value = encode_outcome(ProviderOutcome(findings=text_findings))
                if value is not None:
                    stores.append((keys[missing[j]], value))
            await cache.set_many(stores, g.cache_ttl_s)
        rewrites = {missing[j]: text for j, text in outcome.rewrites.items()}
        return ProviderOutcome(findings, rewrites, outcome.blocked_message), False

    async def _run_remote(
        self,
        ev: Evaluation,
        remotes: Sequence[Guardrail],
        phase: Phase,
        segments: Sequence[Segment],
        texts: list[str],
        ctx: EvalContext,
        runtime: Runtime,
    ) -> None:
        # Remote providers read what the model reads: message content and tool arguments, after local
        # redaction (so a third party never receives PII we already removed).
        index = [i for i, s in enumerate(segments) if s.kind != "other"]
        if not index:
            return
        sent = [Segment(segments[i].path, texts[i], segments[i].role, segments[i].kind) for i in index]

        async def one(g: Guardrail) -> _RemoteResult:
            started = time.perf_counter()
            span = self.tracer.start(g.label, phase.value, type(g.remote).__name__.removesuffix("Provider"))
            # This call runs in its own task (gather), so the clock is this call's alone.
            clock = QueueClock()
            QUEUE_CLOCK.set(clock)
            try:
                outcome, from_cache = await self._ask(g, phase, sent, ctx, runtime, span)
            except TimeoutError:
                queued = clock.close()
                return g, None, "timeout", f"no answer within {g.timeout_s:g}s", started, span, False, queued
            except ProviderError as exc:
                # A provider's own per-request timeout counts its time in the pool too.
                queued = clock.close() if exc.kind == "timeout" else 0.0
                return g, None, exc.kind, exc.detail, started, span, False, queued
            except Exception as exc:  # a provider bug must not become an unchecked pass
                log.exception("guardrail %s raised", g.name)
                return g, None, "error", repr(exc), started, span, False, 0.0
            finally:
                clock.close()
            return g, outcome, None, "", started, span, from_cache, 0.0

        results = await asyncio.gather(*(one(g) for g in remotes))
        remote_rewrites: dict[int, tuple[str, str]] = {}
        for g, outcome, kind, detail, started, span, from_cache, queued_s in results:
            ev.applied.append(g.name)
            if outcome is None:
                self._fail(
                    ev,
                    g,
                    phase,
                    ctx,
                    "timeout" if kind == "timeout" else "error",
                    f"{kind}: {detail}",
                    started,
                    span=span,
                    error_kind=kind or "error",
                    queued_s=queued_s,
                )
                continue
            found = [
                replace(
                    f,
                    segment=index[f.segment] if f.segment is not None else None,
                    action=self.policy.resolve_action(g, phase, f.category, f.action),
                )
                for f in outcome.findings
            ]
            conflicted = False  # counted as the failure it is
            for local_i, text in outcome.rewrites.items():
                i = index[local_i]
                if i in remote_rewrites and remote_rewrites[i][1] != text:
                    # Each provider rewrote the same original text: either result would carry what
                    # the other one masked, so neither can be forwarded.
                    self._fail(
                        ev,
                        g,
                        phase,
                        ctx,
                        "error",
                        f"its rewrite conflicts with {remote_rewrites[i][0]}'s",
                        started,
                        force=True,
                        span=span,
                    )
                    conflicted = True
                    break
                remote_rewrites[i] = (g.name, text)
                ev.new_texts[i] = text
            action = max((f.action or Action.ALLOW for f in found), default=Action.ALLOW)
            if outcome.rewrites:
                action = max(action, Action.REDACT)
            if action is Action.BLOCK and ev.blocking is None:
                ev.blocking = g
                ev.blocked_message = outcome.blocked_message
            ev.findings.extend(found)
            ev.action = max(ev.action, action)
            self.auditor.record(
                request_id=ctx.request_id,
                team=ctx.team,
                guardrails=ctx.guardrails,
                guardrail=g.name,
                phase=phase.value,
                status="guardrail_intervened" if action >= Action.REDACT else "success",
                action=action,
                findings=found,
                duration_ms=(time.perf_counter() - started) * 1000,
                cached=from_cache,
            )
            categories: dict[str, int] = {}
            for f in found:
                categories[f.category] = categories.get(f.category, 0) + 1
            if not conflicted:
                self._observe(g, phase, (action, categories), started, span)
