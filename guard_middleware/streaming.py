"""The hold-back window for one text channel of a stream. Pure: strings in, strings out.

A stream is checked incrementally: each piece of text is appended to what is still held, every check
is asked where its undecided tail begins (``TextCheck.holdback``), and only text before the earliest
such point is released. That text is *settled*: no continuation of the stream can change the matches
inside it, so a match split across any number of chunks is seen whole before a byte of it leaves.

Costs per ``feed`` are proportional to the new text, the held tail and a short context prefix; text
released earlier is never rescanned (peers re-scan the whole accumulated answer, see
``peer_lessons.md``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from guard_middleware.checks.base import TextCheck
from guard_middleware.verdict import Action, Match

__all__ = ["DEFAULT_CONTEXT_CHARS", "DEFAULT_MAX_HOLD_CHARS", "Decide", "Rewrite", "TextWindow", "WindowStep"]

DEFAULT_MAX_HOLD_CHARS = 4096
#: released text kept as look-behind for word boundaries; never reported or released again
DEFAULT_CONTEXT_CHARS = 64

Decide = Callable[[TextCheck, Match], Action]
#: (check, match with absolute offsets, the matched original text) -> replacement
Rewrite = Callable[[TextCheck, Match, str], str]
Finding = tuple[TextCheck, Match, Action]


@dataclass(slots=True)
class WindowStep:
    """What one ``feed``/``flush`` settled.

    ``released``: text the caller may send now, REDACT spans already replaced. ``findings``: every match
    settled in this step with its action, offsets absolute in the channel's original text (all text ever
    fed, counted from 0). ``blocked``: the first settled BLOCK match, if any; then ``released`` is empty
    and stays empty for the life of the window.
    """

    released: str = ""
    findings: list[Finding] = field(default_factory=list)
    blocked: tuple[TextCheck, Match] | None = None


class TextWindow:
    """Hold back the undecided tail of one channel (say, one choice's ``content``) until it is settled.

    ``checks`` pairs each check with the function choosing its action for a match; ``rewrite`` gives
    the replacement for a REDACT match. Matches passed to ``decide``/``rewrite`` carry absolute offsets.

    Overlapping REDACT spans are merged into one span replaced once, with the replacement of the match
    that starts first (ties: the earlier check in ``checks``, then the earlier ``find`` result): two
    placeholders for one region would leak where the inner match sat. Touching spans stay separate.

    ``max_hold_chars`` bounds memory and latency: when more than that is held, the oldest text is
    released anyway (complete matches in it are still handled). That is the limit of what can be
    detected across a stream: a match whose undecided prefix is longer than ``max_hold_chars`` can leak
    its head. A check's ``holdback`` should never need that much.
    """

    __slots__ = (
        "_blocked",
        "_checks",
        "_context",
        "_context_chars",
        "_done",
        "_max_hold",
        "_pending",
        "_released_total",
        "_rewrite",
    )

    def __init__(
        self,
        checks: Sequence[tuple[TextCheck, Decide]],
        rewrite: Rewrite,
        *,
        max_hold_chars: int = DEFAULT_MAX_HOLD_CHARS,
        context_chars: int = DEFAULT_CONTEXT_CHARS,
    ) -> None:
        if max_hold_chars < 0 or context_chars < 0:
            raise ValueError("max_hold_chars and context_chars must be >= 0")
        self._checks = tuple(checks)
        self._rewrite = rewrite
        self._max_hold = max_hold_chars
        self._context_chars = context_chars
        self._context = ""
        self._pending = ""
        self._released_total = 0
        self._blocked: tuple[TextCheck, Match] | None = None
        self._done = False

    @property
    def held(self) -> int:
        """Characters fed but not yet released."""
        return len(self._pending)

    @property
    def pending(self) -> str:
        """The text fed but not yet released."""
        return self._pending

    @property
    def blocked(self) -> tuple[TextCheck, Match] | None:
        return self._blocked

    def feed(self, text: str) -> WindowStep:
        if self._done:
            raise RuntimeError("feed() after flush()")
        if self._blocked is not None:
            return WindowStep()
        if not text:
            return WindowStep()
        self._pending += text
        return self._step(final=False)

    def flush(self) -> WindowStep:
        """End of the channel: everything held is settled and released (unless blocked)."""
        if self._done or self._blocked is not None:
            self._done = True
            return WindowStep()
        self._done = True
        if not self._pending:
            return WindowStep()
        return self._step(final=True)

    def _step(self, *, final: bool) -> WindowStep:
        pending = self._pending
        ctx = self._context
        base = len(ctx)
        scan = ctx + pending
        end = len(pending)

        found: list[tuple[int, TextCheck, Match]] = []
        hold = end
        for order, (check, _decide) in enumerate(self._checks):
            if not final:
                hold = min(hold, max(check.holdback(scan, base), base) - base)
            for m in check.find(scan, base):
                # a match starting in the context belongs to text already released and decided
                if m.start >= base:
                    local = dataclasses.replace(m, start=m.start - base, end=m.end - base)
                    found.append((order, check, local))

        if not final:
            hold = _pull_back(found, hold)
            forced = end - self._max_hold
            if forced > hold:
                hold = _push_forward(found, forced)

        settled: list[tuple[int, TextCheck, Match]] = []
        for item in found:
            m = item[2]
            if final or (m.start < hold and m.end <= hold):
                settled.append(item)
        settled.sort(key=lambda it: (it[2].start, it[0]))

        offset = self._released_total
        step = WindowStep()
        redactions: list[tuple[int, int, str]] = []
        for order, check, m in settled:
            absolute = dataclasses.replace(m, start=m.start + offset, end=m.end + offset)
            action = self._checks[order][1](check, absolute)
            step.findings.append((check, absolute, action))
            if action == Action.BLOCK and step.blocked is None:
                step.blocked = (check, absolute)
            elif action == Action.REDACT:
                if redactions and m.start < redactions[-1][1]:
                    first_start, first_end, replacement = redactions[-1]
                    redactions[-1] = (first_start, max(first_end, m.end), replacement)
                else:
                    value = pending[m.start : m.end]
                    redactions.append((m.start, m.end, self._rewrite(check, absolute, value)))

        if step.blocked is not None:
            self._blocked = step.blocked
            self._pending = ""
            return step

        out = pending[:hold]
        if redactions:
            parts: list[str] = []
            cursor = 0
            for start, stop, replacement in redactions:
                parts.append(out[cursor:start])
                parts.append(replacement)
                cursor = stop
            parts.append(out[cursor:])
            step.released = "".join(parts)
        else:
            step.released = out
        self._released_total += hold
        self._pending = pending[hold:]
        if self._context_chars:
            self._context = (ctx + out)[-self._context_chars :]
        return step


def _pull_back(found: list[tuple[int, TextCheck, Match]], hold: int) -> int:
    """Move ``hold`` left until no found match straddles it (a match is released whole or not at all)."""
    changed = True
    while changed:
        changed = False
        for _order, _check, m in found:
            if m.start < hold < m.end:
                hold = m.start
                changed = True
    return hold


def _push_forward(found: list[tuple[int, TextCheck, Match]], hold: int) -> int:
    """Forced release: move ``hold`` right past any complete match it would cut, so it is handled whole."""
    changed = True
    while changed:
        changed = False
        for _order, _check, m in found:
            if m.start < hold < m.end:
                hold = m.end
                changed = True
    return hold
