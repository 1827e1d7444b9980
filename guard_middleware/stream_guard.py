"""Guards one SSE answer as it streams: bytes in, bytes out, nothing released before it is checked.

Per text channel (a choice's content, refusal, reasoning; completions' text) a ``TextWindow`` holds back
only the tail that could still become a match, so PII is redacted and blocked words are caught across
any chunk boundaries. Remote providers then see the released text according to ``streaming_mode``:
``per_chunk`` (every chunk, before release), ``buffered`` (about ``buffer_tokens`` at a time, before
release) or ``final_only`` (after the stream, detect-only: a violation is audited, nothing is cut).
Tool-call arguments are held until the call is complete and checked as JSON, like a request's.

In ``final_only`` mode a *block* decision of a local check is also detect-only (the seed's definition
of the mode); PII redaction never is: an unredacted value is never released in any mode.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from guard_middleware.checks.base import CheckError, TextCheck
from guard_middleware.decoders import (
    ContentDecoder,
    DecodingError,
    UnsupportedEncoding,
    build_decoder,
    looks_plain,
)
from guard_middleware.errors import GuardRejection, blocked_body, error_body, sse_error_event
from guard_middleware.formats.body import apply_rewrites, extract
from guard_middleware.formats.chat_stream import (
    TEXT_KINDS,
    Channel,
    StreamFormatError,
    ToolCallTracker,
    finish_reasons,
    iter_deltas,
    make_chunk,
    parse_chunk,
    rebuild,
)
from guard_middleware.pipeline import Evaluation, replacement_for
from guard_middleware.policy import Guardrail
from guard_middleware.sse import SSEError, SSEEvent, SSEParser, encode
from guard_middleware.streaming import TextWindow
from guard_middleware.verdict import Action, Finding, Match, Phase, Segment

if TYPE_CHECKING:
    from guard_middleware.middleware import _Exchange

_CHARS_PER_TOKEN = 4  # the usual rule of thumb for English BPE tokens


def _data_event(obj: dict[str, Any], template: SSEEvent) -> bytes:
    return encode(
        SSEEvent(data=json.dumps(obj, ensure_ascii=False, separators=(",", ":")), event=template.event)
    )


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
        self._by_check: dict[int, Guardrail] = {id(g.text_check): g for g in self.text_guardrails}
        self.decoder: ContentDecoder | None = None
        self.parser = SSEParser()
        self.windows: dict[Channel, TextWindow] = {}
        self.remote_pending: dict[Channel, str] = {}
        self.final_text: dict[Channel, list[str]] = {}
        self.counts: dict[int, _Counts] = {}
        self.tools = ToolCallTracker()
        self.tool_args: dict[tuple[int, int | None], list[str]] = {}
        self.template: dict[str, Any] | None = None
        self.template_event = SSEEvent()
        self.findings: dict[str, list[Finding]] = {}
        self.values: dict[str, list[str]] = {}
        self.started = time.perf_counter()
        self.finished = False
        self._unsupported: str | None = None
        self._coding = ""
        self._audited = False

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
            return self._fail(
                f"The upstream stream uses an unsupported Content-Encoding {self._unsupported!r}."
            )
        try:
            if self.decoder is not None:
                data = self.decoder.decode(data)
            events = self.parser.feed(data)
        except (SSEError, DecodingError) as exc:
            return self._fail(f"The upstream stream could not be read: {exc}.")
        return await self._events(events)

    async def finish(self) -> bytes:
        if self.x.terminated or self.finished:
            return b""
        try:
            tail = self.decoder.flush() if self.decoder is not None else b""
            events = self.parser.feed(tail) + self.parser.flush()
        except (SSEError, DecodingError) as exc:
            return self._fail(f"The upstream stream could not be read: {exc}.")
        out = await self._events(events)
        if not self.finished and not self.x.terminated:
            # The upstream ended without [DONE]: still settle and release what was held.
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
            chunk = json.loads(event.data)
        except ValueError:
            return self._fail("The upstream sent a stream event that is not JSON.")
        if isinstance(chunk, dict) and "error" in chunk and "choices" not in chunk:
            return encode(event)  # the upstream's own error event
        try:
            parsed = parse_chunk(chunk)
            deltas = iter_deltas(parsed)
            completed = self.tools.update(parsed)
            finishing = finish_reasons(parsed)
        except StreamFormatError as exc:
            return self._fail(f"The upstream sent a stream event that cannot be checked: {exc}.")
        self.template, self.template_event = chunk, event
        replacements: dict[Channel, str] = {}
        changed = False
        for d in deltas:
            kind = d.channel.kind
            if kind in TEXT_KINDS:
                released = await self._text(d.channel, d.text)
                if self.x.terminated:
                    return self._terminal
                replacements[d.channel] = released
                changed = changed or released != d.text
            elif kind in ("tool_arguments", "function_arguments"):
                self.tool_args.setdefault((d.channel.choice, d.channel.tool), []).append(d.text)
                replacements[d.channel] = ""
                changed = changed or bool(d.text)
        before: list[bytes] = []
        for key in completed:
            before.append(await self._tool_call(key))
            if self.x.terminated:
                return self._terminal
        for choice in finishing:
            for channel in [c for c in self.windows if c.choice == choice]:
                tail = await self._close_channel(channel)
                if self.x.terminated:
                    return self._terminal
                if tail:
                    replacements[channel] = replacements.get(channel, "") + tail
                    changed = True
        if not changed:
            return b"".join(before) + encode(event)
        return b"".join(before) + _data_event(rebuild(parsed, replacements), event)

    async def _end(self) -> bytes:
        """End of stream: settle every channel and tool call, run final_only checks, audit."""
        self.finished = True
        out: list[bytes] = []
        for key in self.tools.close_all():
            out.append(await self._tool_call(key))
            if self.x.terminated:
                return self._terminal
        for channel in list(self.windows):
            tail = await self._close_channel(channel)
            if self.x.terminated:
                return self._terminal
            if tail and self.template is not None:
                out.append(_data_event(make_chunk(self.template, channel, tail), self.template_event))
        if self.mode == "final_only" and self.remote and self.final_text:
            await self._final_only_check()
        self._audit()
        return b"".join(out)

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
        try:
            step = self._window(channel).feed(text) if self.text_guardrails else None
        except CheckError as exc:
            return self._fail_check(str(exc))
        if step is not None:
            if step.blocked is not None:
                return self._block_local(step.blocked[0], step.blocked[1])
            text = step.released
        return await self._after_local(channel, text, final=False)

    async def _close_channel(self, channel: Channel) -> str:
        window = self.windows.get(channel)
        text = ""
        if window is not None:
            try:
                step = window.flush()
            except CheckError as exc:
                return self._fail_check(str(exc))
            if step.blocked is not None:
                return self._block_local(step.blocked[0], step.blocked[1])
            text = step.released
        return await self._after_local(channel, text, final=True)

    async def _after_local(self, channel: Channel, text: str, *, final: bool) -> str:
        if self.limits and text:
            counts = self.counts.setdefault(channel.choice, _Counts())
            counts.add(text)
            if self._over_limit(counts):
                return ""
        if not self.remote:
            return text
        if self.mode == "final_only":
            if text:
                self.final_text.setdefault(channel, []).append(text)
            return text
        pending = self.remote_pending.pop(channel, "") + text
        if not pending:
            return ""
        if self.mode == "buffered" and len(pending) < self.buffer_chars and not final:
            self.remote_pending[channel] = pending
            return ""
        checked = await self._remote_check([self._segment(channel, pending)])
        return "" if checked is None else checked.get(0, pending)

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
        return Segment(("choices", channel.choice, "delta", channel.kind), text, "assistant", "content")

    # -- tool calls -------------------------------------------------------------------------------
    async def _tool_call(self, key: tuple[int, int | None]) -> bytes:
        args = "".join(self.tool_args.pop(key, []))
        if not args or self.template is None:
            return b""
        holder: dict[str, Any] = {"function": {"arguments": args}}
        extraction = extract(holder)
        guardrails = list(self.text_guardrails) + ([] if self.mode == "final_only" else self.remote)
        ev = await self.x.guard.evaluator.evaluate(
            Phase.OUTPUT,
            guardrails,
            extraction.segments,
            self.x.ctx(Phase.OUTPUT),
            self.x.guard.runtime,
            self.x.vault,
        )
        if ev.action is Action.BLOCK and (self.mode != "final_only" or ev.failure is not None):
            return self._block(ev)
        if ev.new_texts:
            apply_rewrites(holder, extraction, ev.new_texts)
        choice, tool = key
        channel = Channel(choice, "tool_arguments" if tool is not None else "function_arguments", tool)
        checked: str = holder["function"]["arguments"]
        if self.mode == "final_only" and self.remote:
            self.final_text.setdefault(channel, []).append(checked)  # remote providers see it at the end
        return _data_event(make_chunk(self.template, channel, checked), self.template_event)

    # -- remote providers -------------------------------------------------------------------------
    async def _remote_check(self, segments: list[Segment]) -> dict[int, str] | None:
        ev = await self.x.guard.evaluator.evaluate(
            Phase.OUTPUT, self.remote, segments, self.x.ctx(Phase.OUTPUT), self.x.guard.runtime, self.x.vault
        )
        if ev.action is Action.BLOCK:
            self._block(ev)
            return None
        return ev.new_texts

    async def _final_only_check(self) -> None:
        segments = [self._segment(c, "".join(parts)) for c, parts in self.final_text.items()]
        self.final_text.clear()
        # Detect-only: the evaluator audits what it finds; the text has already been sent.
        await self.x.guard.evaluator.evaluate(
            Phase.OUTPUT, self.remote, segments, self.x.ctx(Phase.OUTPUT), self.x.guard.runtime, self.x.vault
        )

    # -- ending the stream -------------------------------------------------------------------------
    _terminal = b""

    def _terminate(self, body: dict[str, Any]) -> None:
        self.x.terminated = True
        self._terminal = sse_error_event(body)
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
        self._terminate(rejection.body)
        return self._terminal

    def _refuse(self, g: Guardrail, message: str | None) -> None:
        """``disable_exception_on_block`` on a stream: end it the way a model would, with the block
        message as content and ``finish_reason: "content_filter"``, instead of an error event."""
        text = message or f"This response was blocked by guardrail {g.name}."
        template: dict[str, Any] = self.template or {
            "id": f"guard-{self.x.request_id}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.x.parsed.body.get("model", ""),
        }
        chat = self.x.parsed.kind == "chat"
        out: list[bytes] = []
        for choice in sorted({c.choice for c in self.windows} | {0}):
            channel = Channel(choice, "content" if chat else "text")
            finish = make_chunk(template, channel, "")
            finish["choices"][0]["finish_reason"] = "content_filter"
            for chunk in (make_chunk(template, channel, text), finish):
                out.append(_data_event(chunk, self.template_event))
        out.append(b"data: [DONE]\n\n")
        self.x.terminated = True
        self._terminal = b"".join(out)
        self._audit()

    def _fail_check(self, detail: str) -> str:
        self._terminate(
            error_body(
                f"A guardrail could not check the stream: {detail}",
                code="guardrail_unavailable",
                type_="guardrail_error",
            )
        )
        return ""

    def _fail(self, message: str) -> bytes:
        self._terminate(error_body(message, code="upstream_unreadable", type_="upstream_error"))
        return self._terminal

    def _audit(self) -> None:
        if self._audited:
            return
        self._audited = True
        duration = (time.perf_counter() - self.started) * 1000
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
            )
