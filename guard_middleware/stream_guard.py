"""Guards one SSE answer as it streams: bytes in, bytes out, nothing released before it is checked.

Format-agnostic: the format's ``StreamModel`` says, per event, which text fragments it carries and on
which channel (a choice's content, a Responses output part, an Anthropic content block), which are held
whole (tool-call JSON), and which channels the event closes. Per text channel a ``TextWindow`` holds back
only the tail that could still become a match, so PII is redacted and blocked words are caught across
any chunk boundaries. Everything else in an event (ids, error events, whole items, the copies of
streamed text in ``*.done`` and final events) is checked as whole text; a copy of text that was streamed
is replaced by the checked version of that text, so every copy says the same.

Remote providers see the released text according to ``streaming_mode``: ``per_chunk`` (each piece
before release, with up to ``_CONTEXT_CHARS`` of the text released before it as context), ``buffered``
(about ``buffer_tokens`` at a time, with the same context) or ``final_only`` (after the stream,
detect-only). In ``per_chunk`` and ``buffered`` the whole answer is checked once more at the end; a
block then ends the stream with an error event before its terminal event.

In ``final_only`` mode a *block* decision of a local check is also detect-only (the seed's definition
of the mode); PII redaction never is: an unredacted value is never released in any mode.
"""

from __future__ import annotations

import json
import math
import sys
import time
from typing import TYPE_CHECKING, Any

from guard_middleware._engine import StreamScanner
from guard_middleware.checks.base import CheckError, TextCheck
from guard_middleware.decoders import (
    ContentDecoder,
    DecodingError,
    UnsupportedEncoding,
    build_decoder,
    looks_plain,
)
from guard_middleware.errors import GuardRejection, blocked_body, error_body
from guard_middleware.formats.base import Channel, StreamFormatError, Synthetic
from guard_middleware.formats.body import (
    STRUCTURAL_KEYS,
    Slots,
    all_known,
    apply_rewrites,
    extract,
    special_string_keys,
)
from guard_middleware.metrics import RESULT_OF_ACTION
from guard_middleware.pipeline import Evaluation, native_checks, replacement_for
from guard_middleware.policy import Guardrail
from guard_middleware.restore import restore_texts
from guard_middleware.sse import SSEError, SSEEvent, SSEParser, encode
from guard_middleware.streaming import TextWindow
from guard_middleware.verdict import Action, Finding, Match, Phase, Segment

if TYPE_CHECKING:
    from guard_middleware.middleware import _Exchange

_CHARS_PER_TOKEN = 4  # the usual rule of thumb for English BPE tokens
# Released text sent again to remote providers with each new piece, so they judge phrases, not words.
_CONTEXT_CHARS = 1000
# Whole strings already checked in this stream (ids repeated on every event): bounded memory.
_KNOWN_LIMIT = 4096


def _finite_float(text: str) -> float:
    """A JSON number as Python reads it, refusing those beyond the double range: read as infinities,
    they would be written back as ``Infinity``, which is not JSON."""
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"{text} is beyond the range of a double")
    return value


class _Counts:
    """Running totals for output ``content_limits`` (same counting as the check: code points,
    whitespace-separated words, lines) without keeping the text."""

    __slots__ = ("chars", "lines", "tail_space", "words")

    def __init__(self) -> None:
        self.chars = self.words = 0
        self.lines = 0
        self.tail_space = True

    def add(self, text: str) -> None:
        if not text:
            return
        if self.chars == 0:
            self.lines = 1
        self.chars += len(text)
        self.lines += text.count("\n")
        self.words += len(text.split())
        if not self.tail_space and not text[0].isspace() and text.split():
            self.words -= 1  # a word continued from the previous piece
        self.tail_space = text[-1].isspace()


class StreamGuard:
    def __init__(self, exchange: _Exchange) -> None:
        self.x = exchange
        policy = exchange.policy
        self.mode = policy.streaming_mode
        self.buffer_chars = max(1, policy.buffer_tokens * _CHARS_PER_TOKEN)
        self.max_hold = policy.max_holdback_chars
        selected = exchange.output_selected
        self.text_guardrails = [g for g in selected if g.text_check is not None]
        self.limits = [g for g in selected if g.limits is not None]
        self.remote = [g for g in selected if g.remote is not None]
        self.whole_guardrails = self.text_guardrails + ([] if self.mode == "final_only" else self.remote)
        self._by_check: dict[int, Guardrail] = {id(g.text_check): g for g in self.text_guardrails}
        self.model = exchange.parsed.format.stream_model(exchange.parsed)
        self.decoder: ContentDecoder | None = None
        self.parser = SSEParser()
        # open text channels (a window each, empty when there are no local text checks) and held ones
        self.windows: dict[Channel, TextWindow] = {}
        self.held: dict[Channel, list[str]] = {}
        # Kept only where needed: a channel's original text for formats that repeat it (echoes), the
        # text released per channel and other checked model text for the remote whole-answer check.
        self.keep_original = self.model.echoes
        self.keep_released = self.model.echoes or bool(self.remote)
        self.original: dict[Channel, list[str]] = {}
        self.released: dict[Channel, list[str]] = {}
        self.whole_texts: list[str] = []
        self.context: dict[Channel, str] = {}
        self.remote_pending: dict[Channel, str] = {}
        # checked strings: streamed channels' original -> checked text (copies), and whole strings seen
        self.known: dict[str, str] = {}
        self.copies: dict[str, str] = {}
        self.counts: dict[Any, _Counts] = {}
        self.findings: dict[str, list[Finding]] = {}
        self.values: dict[str, list[str]] = {}
        self.started = time.perf_counter()
        self.finished = False
        self._unsupported: str | None = None
        self._coding = ""
        self._audited = False
        self.piece_actions: dict[str, Action] = {}
        # ``pii.restore``: applied to text as it leaves, after every check (checks, remote providers and
        # the audit log see the model's text with its placeholders, never the restored values)
        self.restorer = exchange.restorer
        self.fast = self._fast_scanner()

    def _fast_scanner(self) -> StreamScanner | None:
        """The engine's fast path for text events (``_engine.StreamScanner``), when nothing but the
        engine's own checks looks at this stream's text: no remote provider, no content limits, no
        copies to track, no audit record per evaluation, every text check on the engine."""
        chunks = self.model.fast_chunks()
        if chunks is None or self.remote or self.limits or self.keep_original:
            return None
        if not self.text_guardrails and self.restorer is None:
            return None
        if self.x.guard.auditor.log_all:
            return None
        checks = native_checks(self.text_guardrails)
        if checks is None:
            return None
        return StreamScanner(
            *checks,
            structural=sorted(STRUCTURAL_KEYS),
            special=sorted(special_string_keys(self.x.parsed.format.opaque_answer_keys)),
            kind=chunks,
            max_event_bytes=self.parser.max_event_size,
        )

    # -- bytes ---------------------------------------------------------------------------------
    def set_encoding(self, coding: str) -> None:
        coding = coding.strip().lower()
        if coding and coding != "identity":
            self._coding = coding  # decided on the first bytes: the label may be stale

    def _start_decoding(self, first: bytes) -> None:
        coding, self._coding = self._coding, ""
        if looks_plain(first):
            return
        try:
            self.decoder = build_decoder(coding)
        except UnsupportedEncoding:
            self._unsupported = coding

    async def feed(self, data: bytes) -> bytes:
        if self.x.terminated:
            return b""
        if self._coding and data:
            self._start_decoding(data)
        if self._unsupported:
            return self.fail(
                f"The upstream stream uses an unsupported Content-Encoding {self._unsupported!r}."
            )
        try:
            if self.decoder is not None:
                data = self.decoder.decode(data)
        except DecodingError as exc:
            return self.fail(f"The upstream stream could not be read: {exc}.")
        if self.fast is None:
            return await self._parse(data)
        # The engine settles runs of plain text events; the SSE parser and the Python path take the
        # rest an event at a time, so that the engine can take over again after each one.
        out: list[bytes] = []
        try:
            while data and not self.x.terminated:
                settled, data = self._fast_events(data)
                out.append(settled)
                cut = data.find(b"\n\n") + 2
                head, data = (data[:cut], data[cut:]) if cut > 1 else (data, b"")
                events = self.parser.feed(head)
                if events:
                    out.append(await self._events(events))
        except SSEError as exc:
            # As if the whole write had gone to the parser at once: nothing of it is sent.
            return self.fail(f"The upstream stream could not be read: {exc}.")
        return b"".join(out)

    async def _parse(self, data: bytes) -> bytes:
        try:
            events = self.parser.feed(data)
        except SSEError as exc:
            return self.fail(f"The upstream stream could not be read: {exc}.")
        return await self._events(events) if events else b""

    def _fast_events(self, data: bytes) -> tuple[bytes, bytes]:
        """The leading text events of ``data`` the engine settles (their bytes to send), and the rest."""
        fast = self.fast
        if fast is None or self.held or not self.parser.idle():
            return b"", data
        open_text = self.model.fast_channel()
        if open_text is None:
            return b"", data
        channel, choice = open_text
        window = self.windows.get(channel)
        if window is None or not 0 <= choice < 1 << 64:
            return b"", data
        given = data
        restorer = self.restorer
        if restorer is not None:
            # The engine does not restore placeholders: it takes only the events before the first one
            # that may carry (part of) one, and none while part of one is held.
            if restorer.holding() or "[" in window.pending:
                return b"", data
            safe = restorer.safe_prefix(data)
            if safe == 0:
                return b"", data
            given = data[:safe]
        out, used, last = fast.feed(given, choice, window, self.known, sys.get_int_max_str_digits())
        if last is not None:
            self.model.note_settled(last)
        return out, data[used:]

    async def finish(self) -> bytes:
        if self.x.terminated or self.finished:
            return b""
        try:
            tail = self.decoder.flush() if self.decoder is not None else b""
            events = self.parser.feed(tail) + self.parser.flush()
        except (SSEError, DecodingError) as exc:
            return self.fail(f"The upstream stream could not be read: {exc}.")
        out = await self._events(events)
        if not self.finished and not self.x.terminated:
            # The upstream ended without its terminal event: still settle and release what was held.
            out += await self._end()
        return out

    async def _events(self, events: list[SSEEvent]) -> bytes:
        out: list[bytes] = []
        for event in events:
            out.append(await self._event(event))
            if self.x.terminated:
                break
        return b"".join(out)

    # -- events --------------------------------------------------------------------------------
    async def _event(self, event: SSEEvent) -> bytes:
        if event.data is None:
            return encode(event)  # comments, keep-alives, id/retry only
        if event.is_done:
            return await self._end() + encode(event)
        try:
            obj = json.loads(event.data, parse_float=_finite_float)
        except ValueError:
            return self.fail("The upstream sent a stream event that is not JSON.")
        try:
            plan = self.model.plan(event, obj)
        except StreamFormatError as exc:
            return self.fail(f"The upstream sent a stream event that cannot be checked: {exc}.")
        out: list[bytes] = []
        replacements: dict[Channel, str] = {}
        changed = False
        for channel, text in plan.texts:
            released = await self._text(channel, text)
            if self.x.terminated:
                return self._terminal
            replacements[channel] = replacements.get(channel, "") + released
            changed = changed or released != text
        for channel, text in plan.held:
            self.held.setdefault(channel, []).append(text)
            replacements[channel] = ""
            changed = changed or bool(text)
        closing = self._open_channels() if plan.close_all else plan.closes
        for channel in closing:
            if channel in self.held:
                out.append(await self._held(channel))
            elif channel in self.windows:
                tail = await self._close_channel(channel)
                if tail and self.model.carries(plan, channel):
                    replacements[channel] = replacements.get(channel, "") + tail
                    changed = True
                elif tail:
                    out.append(await self._emit(self.model.text_event(channel, tail)))
            if self.x.terminated:
                return self._terminal
        if plan.close_all:
            out.append(await self._end(settled=True))
            if self.x.terminated:
                return self._terminal
        rebuilt = self.model.rebuild(plan, replacements) if changed else plan.obj
        if rebuilt is None:
            return b"".join(out)  # the event only carried text that is still held
        whole_changed = await self._check_whole(rebuilt, plan.slots)
        if self.x.terminated:
            return self._terminal
        if changed or whole_changed:
            out.append(self.model.event_bytes(rebuilt, event))
        else:
            out.append(encode(event))  # nothing changed: the original bytes
        return b"".join(out)

    def _fold(self, ev: Evaluation) -> None:
        """Keep the strongest action of each local guardrail over the stream's whole-string checks,
        for the stream's one verdict per guardrail (metrics)."""
        for f in ev.findings:
            action = f.action or Action.ALLOW
            if action > self.piece_actions.get(f.guardrail, Action.ALLOW):
                self.piece_actions[f.guardrail] = action

    def _open_channels(self) -> list[Channel]:
        return list(self.held) + [c for c in self.windows if c not in self.held]

    async def _end(self, *, settled: bool = False) -> bytes:
        """End of stream: settle every channel and tool call, run the whole-answer checks, audit."""
        if self.finished:
            return b""
        self.finished = True
        out: list[bytes] = []
        if not settled:
            for channel in self._open_channels():
                if channel in self.held:
                    out.append(await self._held(channel))
                else:
                    tail = await self._close_channel(channel)
                    if tail:
                        out.append(await self._emit(self.model.text_event(channel, tail)))
                if self.x.terminated:
                    return self._terminal
        if self.remote:
            await self._whole_answer_check()
            if self.x.terminated:
                return self._terminal
        self._audit()
        return b"".join(out)

    # -- whole text in events ----------------------------------------------------------------------
    async def _emit(self, event: Synthetic) -> bytes:
        """An event of the guard's making, checked like the upstream's before it is sent."""
        await self._check_whole(event.obj, event.slots)
        if self.x.terminated:
            return self._terminal
        return self.model.event_bytes(event.obj, SSEEvent(event=event.event))

    async def _check_whole(self, obj: Any, slots: Slots | None) -> bool:
        """Check every string of the event outside its fragments; rewrite in place. True if changed."""
        known = self.known
        if all_known(obj, known, slots):
            return False  # ids and names seen on every event, nothing new: no walk needed
        extraction = extract(obj, default_role="assistant", skip=slots, known=known, join=False)
        segments = extraction.segments
        if not segments:
            if extraction.known:
                apply_rewrites(obj, extraction, {}, clear_logprobs=True)
                return True
            return False
        ev = await self.x.guard.evaluator.evaluate(
            Phase.OUTPUT,
            self.whole_guardrails,
            segments,
            self.x.ctx(Phase.OUTPUT),
            self.x.guard.runtime,
            self.x.vault,
            stream_piece=True,
        )
        self._fold(ev)
        if ev.action is Action.BLOCK:
            self._block(ev)
            return False
        if len(known) > _KNOWN_LIMIT:
            known.clear()
            known.update(self.copies)
        restorer = self.restorer
        for i, seg in enumerate(segments):
            checked = ev.new_texts.get(i, seg.text)
            if self.remote and seg.kind != "other":
                self.whole_texts.append(checked)  # model text: part of the whole answer
            if restorer is not None:
                restored = restorer.restore(checked)
                if restored != checked:
                    ev.new_texts[i] = checked = restored
            known[seg.text] = checked
        if not ev.new_texts and not extraction.known:
            return False
        apply_rewrites(obj, extraction, ev.new_texts, ev.spans, clear_logprobs=True)
        return True

    # -- text channels ---------------------------------------------------------------------------
    def _window(self, channel: Channel) -> TextWindow:
        window = self.windows.get(channel)
        if window is None:
            checks = [(g.text_check, self._decide) for g in self.text_guardrails if g.text_check is not None]
            window = self.windows[channel] = TextWindow(checks, self._rewrite, max_hold_chars=self.max_hold)
        return window

    def _decide(self, check: TextCheck, match: Match) -> Action:
        g = self._by_check[id(check)]
        action = self.x.policy.resolve_action(g, Phase.OUTPUT, match.category, None)
        self.findings.setdefault(g.name, []).append(
            Finding(
                g.name, match.category, match.severity, action, None, match.start, match.end, match.message
            )
        )
        if action is Action.BLOCK and self.mode == "final_only":
            return Action.LOG  # detect-only by definition of the mode; audited with its real action
        return action

    def _rewrite(self, check: TextCheck, match: Match, value: str) -> str:
        g = self._by_check[id(check)]
        self.values.setdefault(g.name, []).append(value)
        return replacement_for(g, match.category, value, self.x.vault)

    async def _text(self, channel: Channel, text: str) -> str:
        if self.keep_original:
            self.original.setdefault(channel, []).append(text)
        window = self._window(channel)
        try:
            step = window.feed(text) if self.text_guardrails else None
        except CheckError as exc:
            return self._fail_check(str(exc))
        if step is not None:
            if step.blocked is not None:
                return self._block_local(step.blocked[0], step.blocked[1])
            text = step.released
        text = await self._after_local(channel, text, final=False)
        if self.restorer is not None and text:
            text = self.restorer.feed(channel, text)
        return text

    async def _close_channel(self, channel: Channel) -> str:
        window = self.windows.pop(channel, None)
        text = ""
        if window is not None and self.text_guardrails:
            try:
                step = window.flush()
            except CheckError as exc:
                return self._fail_check(str(exc))
            if step.blocked is not None:
                return self._block_local(step.blocked[0], step.blocked[1])
            text = step.released
        text = await self._after_local(channel, text, final=True)
        restorer = self.restorer
        if restorer is not None:
            text = restorer.feed(channel, text) + restorer.flush(channel)
        if self.keep_original and not self.x.terminated:
            original = "".join(self.original.pop(channel, ()))
            checked = "".join(self.released.get(channel, ()))
            self.copies[original] = self.known[original] = (
                restorer.restore(checked) if restorer is not None else checked
            )
        return text

    async def _after_local(self, channel: Channel, text: str, *, final: bool) -> str:
        if self.limits and text:
            counts = self.counts.setdefault(channel, _Counts())
            counts.add(text)
            if self._over_limit(counts):
                return ""
        if self.remote and self.mode != "final_only":
            pending = self.remote_pending.pop(channel, "") + text
            if not pending:
                return ""
            if self.mode == "buffered" and len(pending) < self.buffer_chars and not final:
                self.remote_pending[channel] = pending
                return ""
            checked = await self._remote_piece(channel, pending)
            if checked is None:
                return ""
            text = checked
        if text and self.keep_released:
            self.released.setdefault(channel, []).append(text)
        return text

    async def _remote_piece(self, channel: Channel, pending: str) -> str | None:
        """Remote providers judge ``pending`` with the text released before it as context."""
        context = self.context.get(channel, "")
        checked = await self._remote_check([self._segment(channel, context + pending)])
        if checked is None:
            return None
        new = checked.get(0, context + pending)
        if not new.startswith(context):
            # The provider rewrote text that has already been sent: it cannot be taken back.
            self._terminate(
                error_body(
                    "A guardrail rewrote text of the answer that had already been sent.",
                    code="guardrail_unavailable",
                    type_="guardrail_error",
                )
            )
            return None
        released = new[len(context) :]
        self.context[channel] = (context + released)[-_CONTEXT_CHARS:]
        return released

    def _over_limit(self, counts: _Counts) -> bool:
        for g in self.limits:
            assert g.limits is not None
            found = g.limits.exceeded(counts.chars, counts.words, counts.lines)
            for f in found:
                action = self.x.policy.resolve_action(g, Phase.OUTPUT, f.category, f.action)
                self.findings.setdefault(g.name, []).append(f)
                if action is Action.BLOCK and self.mode != "final_only":
                    self._terminate(blocked_body("output", [f]))
                    return True
        return False

    @staticmethod
    def _segment(channel: Channel, text: str) -> Segment:
        return Segment(("stream", str(channel)), text, "assistant", "content")

    # -- held channels (tool-call JSON, JSON output) -----------------------------------------------
    async def _held(self, channel: Channel) -> bytes:
        original = "".join(self.held.pop(channel, []))
        if not original:
            return b""
        key = self.model.held_key(channel)
        holder: dict[str, Any] = {key: original}
        extraction = extract(holder, default_role="assistant")
        ev = await self.x.guard.evaluator.evaluate(
            Phase.OUTPUT,
            self.whole_guardrails,
            extraction.segments,
            self.x.ctx(Phase.OUTPUT),
            self.x.guard.runtime,
            self.x.vault,
            stream_piece=True,
        )
        self._fold(ev)
        if ev.action is Action.BLOCK and (self.mode != "final_only" or ev.failure is not None):
            return self._block(ev)
        if ev.new_texts:
            apply_rewrites(holder, extraction, ev.new_texts, ev.spans)
        checked: str = holder[key]
        shown = checked if self.restorer is None else self._restore_held(key, checked)
        if self.keep_original:
            self.copies[original] = self.known[original] = shown
        if self.keep_released:
            self.released.setdefault(channel, []).append(checked)
        return await self._emit(self.model.text_event(channel, shown))

    def _restore_held(self, key: str, text: str) -> str:
        """``pii.restore`` on a held text (tool-call JSON): walked as JSON, so a restored value is
        written back JSON-escaped."""
        assert self.restorer is not None
        if "[" not in text:
            return text
        holder: dict[str, Any] = {key: text}
        extraction = extract(holder, default_role="assistant", join=False)
        restored = restore_texts(dict(enumerate(s.text for s in extraction.segments)), self.restorer.restore)
        if restored:
            apply_rewrites(holder, extraction, restored)
        result: str = holder[key]
        return result

    # -- remote providers -------------------------------------------------------------------------
    async def _remote_check(self, segments: list[Segment]) -> dict[int, str] | None:
        ev = await self.x.guard.evaluator.evaluate(
            Phase.OUTPUT, self.remote, segments, self.x.ctx(Phase.OUTPUT), self.x.guard.runtime, self.x.vault
        )
        if ev.action is Action.BLOCK:
            self._block(ev)
            return None
        return ev.new_texts

    async def _whole_answer_check(self) -> None:
        """Remote providers see the whole answer once at the end. ``final_only``: detect-only (the
        text has been sent; the evaluator audits what it finds). Other modes: a block ends the stream
        with an error event instead of its terminal event."""
        segments = [self._segment(c, "".join(parts)) for c, parts in self.released.items() if parts]
        if self.whole_texts:
            segments.append(self._segment("whole", "\n".join(self.whole_texts)))
        if not segments:
            return
        ev = await self.x.guard.evaluator.evaluate(
            Phase.OUTPUT, self.remote, segments, self.x.ctx(Phase.OUTPUT), self.x.guard.runtime, self.x.vault
        )
        if self.mode != "final_only" and ev.action is Action.BLOCK:
            self._block(ev)

    # -- ending the stream -------------------------------------------------------------------------
    _terminal = b""

    def _terminate(self, body: dict[str, Any], reason: str = "blocked") -> None:
        self.x.terminated = True
        self.x.guard.metrics.stream_ended(self.x.format.name, reason)
        self._terminal = self.model.error_event(self.x.parsed.format.error_body(body))
        self._audit()

    def _block_local(self, check: TextCheck, match: Match) -> str:
        g = self._by_check[id(check)]
        if g.disable_exception_on_block:
            self._refuse(g, match.message)
            return ""
        finding = Finding(
            g.name, match.category, match.severity, Action.BLOCK, None, None, None, match.message
        )
        self._terminate(blocked_body("output", [finding]))
        return ""

    def _block(self, ev: Evaluation) -> bytes:
        if ev.failure is None and ev.blocking is not None and ev.blocking.disable_exception_on_block:
            self._refuse(ev.blocking, ev.blocked_message)
            return self._terminal
        rejection: GuardRejection = ev.rejection(Phase.OUTPUT)
        self._terminate(rejection.body, "guardrail_failed" if ev.failure is not None else "blocked")
        return self._terminal

    def _refuse(self, g: Guardrail, message: str | None) -> None:
        """``disable_exception_on_block`` on a stream: end it the way the model would, with the block
        message as a refusal (the format's refusal events), instead of an error event."""
        text = message or f"This response was blocked by guardrail {g.name}."
        self.x.terminated = True
        self.x.guard.metrics.stream_ended(self.x.format.name, "refused")
        self._terminal = self.model.refusal_events(text)
        self._audit()

    def _fail_check(self, detail: str) -> str:
        self._terminate(
            error_body(
                f"A guardrail could not check the stream: {detail}",
                code="guardrail_unavailable",
                type_="guardrail_error",
            ),
            "guardrail_failed",
        )
        return ""

    def fail(self, message: str, code: str = "upstream_unreadable") -> bytes:
        """End the stream with the format's error event: its bytes."""
        self._terminate(error_body(message, code=code, type_="upstream_error"), "upstream_failed")
        return self._terminal

    def _audit(self) -> None:
        if self._audited:
            return
        self._audited = True
        duration = (time.perf_counter() - self.started) * 1000
        metrics = self.x.guard.metrics
        for g in self.text_guardrails + self.limits:
            found = self.findings.get(g.name, [])
            action = max((f.action or Action.ALLOW for f in found), default=Action.ALLOW)
            self.x.guard.auditor.record(
                request_id=self.x.request_id,
                guardrail=g.name,
                phase=Phase.OUTPUT.value,
                status="guardrail_intervened" if action >= Action.REDACT else "success",
                action=action,
                findings=found,
                duration_ms=duration,
                values=self.values.get(g.name, ()),
                stream=True,
                team=self.x.team,
                guardrails=self.x.resolved,
            )
            verdict = max(action, self.piece_actions.get(g.name, Action.ALLOW))
            metrics.evaluation(g.name, Phase.OUTPUT.value, RESULT_OF_ACTION[verdict], None)
            for f in found:
                metrics.finding(g.name, Phase.OUTPUT.value, f.category)
