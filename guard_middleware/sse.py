"""Incremental ``text/event-stream`` parsing and encoding. Pure: bytes in, events out, no I/O.

Parsing follows the WHATWG event-stream rules (HTML Living Standard, "Server-sent events"), with two
deliberate departures made for a guard that re-emits what it parsed rather than a browser that consumes
it:

* a block that carries only comments, ``id:`` or ``retry:`` is still returned as an event (with
  ``data`` None), so keep-alive comments and reconnection hints survive the round trip;
* at end of stream an unterminated event that has ``data`` is returned by :meth:`SSEParser.flush`
  (a browser would drop it). The server closed mid-event; whatever it managed to send must be inspected
  rather than silently lost, and a truncated JSON payload will then fail to parse so the caller fails
  closed instead of forwarding an unchecked fragment.

Anything the parser cannot vouch for (bytes that are not UTF-8, an event larger than the configured
bound) raises :class:`SSEError`; the parser is unusable afterwards and the caller is expected to end the
stream.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "SSEError", "SSEEvent", "SSEParser", "encode"]

#: 1 MiB of decoded text: far above any real chat-completion chunk, far below what hurts a worker.
DEFAULT_MAX_EVENT_SIZE = 1 << 20

_EOL = re.compile(r"[\r\n]")
_SPLIT_LINES = re.compile(r"\r\n|\r|\n")


class SSEError(ValueError):
    """The byte stream cannot be parsed safely (not UTF-8, or an event exceeds the size bound)."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event block.

    ``data`` is None when the block had no ``data:`` line at all, which is different from ``""`` (a
    ``data:`` line with an empty value). ``id``/``retry``/``event`` are what *this* block said; the
    spec's "last event id" carries over between events, but re-encoding must not invent fields the
    server did not send. ``comments`` keep the text after the ``:`` verbatim, leading space included.
    """

    data: str | None = None
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    comments: tuple[str, ...] = ()

    @property
    def is_done(self) -> bool:
        """The OpenAI end-of-stream sentinel ``data: [DONE]``."""
        return self.data == "[DONE]"


class SSEParser:
    """Feed raw bytes in whatever slices the network delivers; get complete events back.

    ``max_event_size`` bounds the text held for one not-yet-dispatched event (the partial line plus the
    lines already seen for that event), counted in decoded characters.
    """

    __slots__ = (
        "_comments",
        "_data",
        "_decoder",
        "_done",
        "_event",
        "_event_size",
        "_has_fields",
        "_id",
        "_line_parts",
        "_line_size",
        "_max",
        "_retry",
        "_skip_lf",
    )

    def __init__(self, *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        if max_event_size <= 0:
            raise ValueError("max_event_size must be positive")
        self._max = max_event_size
        # utf-8-sig drops one leading BOM (even split across feeds) and only at the very start, which is
        # exactly the spec's rule; strict errors because a guard must not scan U+FFFD instead of the
        # bytes the client would actually render.
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
        # a CR ending one feed may be the first half of a CRLF split across feeds
        self._skip_lf = False
        self._line_parts: list[str] = []
        self._line_size = 0
        self._done = False
        self._reset_event()

    def _reset_event(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._comments: list[str] = []
        self._has_fields = False
        self._event_size = 0

    @property
    def max_event_size(self) -> int:
        return self._max

    def idle(self) -> bool:
        """Nothing pending (no partial line or event, no partial UTF-8 sequence) and the stream's first
        bytes (where a BOM may be) already read: the next bytes start a new event, so a caller may
        handle complete events itself without this parser ever seeing them."""
        return not (
            self._line_parts or self._skip_lf or self._has_fields or self._done
        ) and self._decoder.getstate() == (b"", 0)

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Parse the next slice of the stream; return the events it completed (possibly none)."""
        if self._done:
            raise SSEError("feed() after flush()")
        try:
            text = self._decoder.decode(data, False)
        except UnicodeDecodeError as exc:
            raise SSEError(f"event stream is not valid UTF-8: {exc.reason}") from None
        events: list[SSEEvent] = []
        self._consume(text, events)
        return events

    def flush(self) -> list[SSEEvent]:
        """End of stream: settle the last line and return a trailing unterminated event if it has data."""
        if self._done:
            return []
        self._done = True
        try:
            text = self._decoder.decode(b"", True)
        except UnicodeDecodeError as exc:
            raise SSEError(f"event stream ends inside a UTF-8 sequence: {exc.reason}") from None
        events: list[SSEEvent] = []
        self._consume(text, events)
        if self._line_parts:
            line = "".join(self._line_parts)
            self._line_parts = []
            self._line_size = 0
            self._line(line, events)
        if self._data:
            events.append(self._build())
        self._reset_event()
        return events

    def _consume(self, text: str, events: list[SSEEvent]) -> None:
        i = 0
        n = len(text)
        if n and self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                i = 1
        while i < n:
            m = _EOL.search(text, i)
            if m is None:
                self._line_parts.append(text[i:])
                self._line_size += n - i
                self._check_size()
                return
            j = m.start()
            if self._line_parts:
                self._line_parts.append(text[i:j])
                line = "".join(self._line_parts)
                self._line_parts = []
                self._line_size = 0
            else:
                line = text[i:j]
            if text[j] == "\r":
                if j + 1 < n:
                    i = j + 2 if text[j + 1] == "\n" else j + 1
                else:
                    self._skip_lf = True
                    i = j + 1
            else:
                i = j + 1
            self._line(line, events)

    def _check_size(self) -> None:
        if self._event_size + self._line_size > self._max:
            raise SSEError(f"event exceeds {self._max} characters without a terminating blank line")

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if not line:
            if self._has_fields:
                events.append(self._build())
            self._reset_event()
            return
        self._event_size += len(line)
        self._check_size()
        if line[0] == ":":
            self._comments.append(line[1:])
            self._has_fields = True
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            # the spec ignores an id containing NUL; re-emitting it would make clients disagree
            if "\x00" in value:
                return
            self._id = value
        elif name == "retry":
            if not (value.isascii() and value.isdigit()):
                return
            self._retry = int(value)
        else:
            # unknown field names are ignored by every conforming client, so dropping them loses nothing
            return
        self._has_fields = True

    def _build(self) -> SSEEvent:
        return SSEEvent(
            data="\n".join(self._data) if self._data else None,
            event=self._event,
            id=self._id,
            retry=self._retry,
            comments=tuple(self._comments),
        )


def encode(event: SSEEvent) -> bytes:
    """LF-framed wire form of ``event``, terminated by a blank line; ``b""`` for an empty event.

    Parsing the result yields ``event`` back. Multi-line ``data``/comments become several lines (any of
    CRLF/CR/LF inside them counts as a break, as a client would see it); ``event``/``id`` cannot hold a
    line break, and ``id`` cannot hold NUL, so those raise ``ValueError`` rather than change meaning.
    """
    out: list[str] = []
    for comment in event.comments:
        out.extend(":" + part for part in _SPLIT_LINES.split(comment))
    if event.event is not None:
        _single_line("event", event.event)
        out.append(f"event: {event.event}" if event.event else "event:")
    if event.id is not None:
        _single_line("id", event.id)
        if "\x00" in event.id:
            raise ValueError("SSE id cannot contain NUL")
        out.append(f"id: {event.id}" if event.id else "id:")
    if event.retry is not None:
        if event.retry < 0:
            raise ValueError("SSE retry must be a non-negative integer")
        out.append(f"retry: {event.retry}")
    if event.data is not None:
        out.extend(f"data: {part}" if part else "data:" for part in _SPLIT_LINES.split(event.data))
    if not out:
        return b""
    return ("\n".join(out) + "\n\n").encode("utf-8")


def _single_line(field: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"SSE {field} cannot contain a line break")
