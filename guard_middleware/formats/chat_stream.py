"""The OpenAI streaming event model: which text each chunk carries, and chunks rebuilt with other text.

Pure functions over the parsed JSON of one SSE ``data:`` payload of ``/v1/chat/completions``
(``chat.completion.chunk``) or ``/v1/completions`` (``choices[].text``). Every piece of text the client
could read is reported on its own *channel* so a caller can run one hold-back window per channel;
anything whose shape is not understood raises :class:`StreamFormatError` so the caller fails closed
rather than forwarding text nobody checked.

Delta keys are read strictly: a key this module does not know that carries a string or a non-empty
container raises, because it may be text (``audio.transcript``, ``annotations``, a vendor field) that
would otherwise leave unchecked. Callers that accept forwarding such a key unscanned name it in
``allow_unscanned``. Choice-level and top-level keys other than the ones read here are kept as they are
(``content_filter_results``, ``stop_reason``, ``usage``, ...). A choice without ``index`` takes its
position in ``choices``; a tool call without ``index`` is refused, since its fragments could not be
joined to the right call.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from guard_middleware.formats.base import StreamFormatError

__all__ = [
    "TEXT_KINDS",
    "TOOL_KINDS",
    "Channel",
    "ChannelKind",
    "Delta",
    "ParsedChunk",
    "StreamFormatError",
    "ToolCallTracker",
    "finish_reasons",
    "iter_deltas",
    "make_chunk",
    "parse_chunk",
    "rebuild",
]

ChannelKind = Literal[
    "content",
    "refusal",
    "reasoning_content",
    "reasoning",
    "text",
    "tool_arguments",
    "tool_name",
    "tool_id",
    "function_arguments",
    "function_name",
]

#: plain-text channels of a choice (``text`` is the ``/v1/completions`` one)
TEXT_KINDS: frozenset[str] = frozenset({"content", "refusal", "reasoning_content", "reasoning", "text"})
#: fragments of ``delta.tool_calls[]``; ``Channel.tool`` holds the tool call's ``index``
TOOL_KINDS: frozenset[str] = frozenset({"tool_arguments", "tool_name", "tool_id"})

# delta keys read as text, in the order their deltas are reported
_DELTA_TEXT_KEYS: tuple[Literal["content", "refusal", "reasoning_content", "reasoning"], ...] = (
    "content",
    "refusal",
    "reasoning_content",
    "reasoning",
)
_DELTA_KNOWN = frozenset({"role", "tool_calls", "function_call", *_DELTA_TEXT_KEYS})
_TOOL_FIELD: dict[str, tuple[str, ...]] = {
    "tool_id": ("id",),
    "tool_name": ("function", "name"),
    "tool_arguments": ("function", "arguments"),
}
_FUNCTION_FIELD = {"function_name": "name", "function_arguments": "arguments"}
# logprobs describe the original tokens: they would leak text that is held or rewritten
_LOGPROB_KINDS = frozenset({"content", "refusal", "text"})


class Channel(NamedTuple):
    """One independently streamed piece of text: ``(choice index, kind, tool call index or None)``."""

    choice: int
    kind: ChannelKind
    tool: int | None = None


@dataclass(frozen=True, slots=True)
class Delta:
    """A text fragment on one channel; empty strings are reported too (the channel is present)."""

    channel: Channel
    text: str


@dataclass(slots=True)
class _Choice:
    index: int
    position: int
    finish_reason: str | None
    deltas: list[Delta]
    tool_indexes: list[int]
    function_call: bool


def _fail(where: str, what: str) -> StreamFormatError:
    return StreamFormatError(f"{where}: {what}")


def _opt_str(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _fail(where, f"expected a string or null, got {type(value).__name__}")


def _int(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise _fail(where, "expected a non-negative integer")


def _is_inert(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float):
        return True
    return isinstance(value, list | dict) and not value


def _parse(chunk: Any, allow_unscanned: Collection[str] = ()) -> list[_Choice]:
    if not isinstance(chunk, Mapping):
        raise _fail("chunk", "expected a JSON object")
    choices = chunk.get("choices")
    if choices is None:
        # usage-only and error events have no choices; there is no text to route
        return []
    if not isinstance(choices, list):
        raise _fail("choices", "expected a list")
    out: list[_Choice] = []
    seen: set[int] = set()
    for pos, choice in enumerate(choices):
        where = f"choices[{pos}]"
        if not isinstance(choice, Mapping):
            raise _fail(where, "expected an object")
        index = _int(choice.get("index", pos), f"{where}.index")
        if index in seen:
            raise _fail(where, f"choice index {index} appears twice in one chunk")
        seen.add(index)
        parsed = _Choice(
            index=index,
            position=pos,
            finish_reason=_opt_str(choice.get("finish_reason"), f"{where}.finish_reason"),
            deltas=[],
            tool_indexes=[],
            function_call=False,
        )
        if choice.get("message") is not None:
            raise _fail(f"{where}.message", "a whole message inside a stream chunk is not understood")
        text = _opt_str(choice.get("text"), f"{where}.text")
        if text is not None:
            parsed.deltas.append(Delta(Channel(index, "text"), text))
        delta = choice.get("delta")
        if delta is not None:
            if not isinstance(delta, Mapping):
                raise _fail(f"{where}.delta", "expected an object")
            _parse_delta(delta, parsed, f"{where}.delta", allow_unscanned)
        out.append(parsed)
    return out


def _parse_delta(delta: Mapping[str, Any], parsed: _Choice, where: str, allow: Collection[str]) -> None:
    index = parsed.index
    for key, value in delta.items():
        if key not in _DELTA_KNOWN and key not in allow and not _is_inert(value):
            raise _fail(f"{where}.{key}", "unknown field that may carry text")
    _opt_str(delta.get("role"), f"{where}.role")
    for key in _DELTA_TEXT_KEYS:
        value = _opt_str(delta.get(key), f"{where}.{key}")
        if value is not None:
            parsed.deltas.append(Delta(Channel(index, key), value))
    tool_calls = delta.get("tool_calls")
    if tool_calls is not None:
        if not isinstance(tool_calls, list):
            raise _fail(f"{where}.tool_calls", "expected a list")
        for k, call in enumerate(tool_calls):
            cw = f"{where}.tool_calls[{k}]"
            if not isinstance(call, Mapping):
                raise _fail(cw, "expected an object")
            # without an index, fragments cannot be assigned to a call, so the call's end is unknowable
            tool = _int(call.get("index"), f"{cw}.index")
            if tool in parsed.tool_indexes:
                raise _fail(cw, f"tool call index {tool} appears twice in one delta")
            parsed.tool_indexes.append(tool)
            _opt_str(call.get("type"), f"{cw}.type")
            call_id = _opt_str(call.get("id"), f"{cw}.id")
            if call_id is not None:
                parsed.deltas.append(Delta(Channel(index, "tool_id", tool), call_id))
            fn = call.get("function")
            if fn is None:
                continue
            if not isinstance(fn, Mapping):
                raise _fail(f"{cw}.function", "expected an object")
            name = _opt_str(fn.get("name"), f"{cw}.function.name")
            if name is not None:
                parsed.deltas.append(Delta(Channel(index, "tool_name", tool), name))
            args = _opt_str(fn.get("arguments"), f"{cw}.function.arguments")
            if args is not None:
                parsed.deltas.append(Delta(Channel(index, "tool_arguments", tool), args))
    fc = delta.get("function_call")
    if fc is not None:
        if not isinstance(fc, Mapping):
            raise _fail(f"{where}.function_call", "expected an object")
        parsed.function_call = True
        name = _opt_str(fc.get("name"), f"{where}.function_call.name")
        if name is not None:
            parsed.deltas.append(Delta(Channel(index, "function_name"), name))
        args = _opt_str(fc.get("arguments"), f"{where}.function_call.arguments")
        if args is not None:
            parsed.deltas.append(Delta(Channel(index, "function_arguments"), args))


@dataclass(slots=True)
class ParsedChunk:
    """One chunk parsed once (strictly): pass it to ``iter_deltas``, ``finish_reasons``, ``rebuild`` and
    ``ToolCallTracker.update`` instead of the raw chunk so a stream pays for one parse per event."""

    chunk: Any
    choices: list[_Choice]


def parse_chunk(chunk: Any, *, allow_unscanned: Collection[str] = ()) -> ParsedChunk:
    return ParsedChunk(chunk, _parse(chunk, allow_unscanned))


def _choices(chunk: Any, allow_unscanned: Collection[str]) -> list[_Choice]:
    return chunk.choices if isinstance(chunk, ParsedChunk) else _parse(chunk, allow_unscanned)


def iter_deltas(chunk: Any, *, allow_unscanned: Collection[str] = ()) -> list[Delta]:
    """Every text fragment of ``chunk``, by choice order, then content/refusal/reasoning, then tool calls
    in list order (id, name, arguments), then the legacy ``function_call``."""
    return [d for choice in _choices(chunk, allow_unscanned) for d in choice.deltas]


def finish_reasons(chunk: Any) -> dict[int, str]:
    """``{choice index: finish_reason}`` for the choices this chunk finishes."""
    return {c.index: c.finish_reason for c in _choices(chunk, _ANY) if c.finish_reason is not None}


class _AnyKey(Collection[str]):
    """``allow_unscanned`` for helpers that only read structure, never forward text."""

    def __contains__(self, item: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


_ANY = _AnyKey()


def rebuild(chunk: Any, replacements: Mapping[Channel, str]) -> dict[str, Any]:
    """A copy of ``chunk`` with each channel's text replaced; everything else kept.

    The input is not modified; nested values that are not touched may be shared with it. A channel the
    chunk does not carry is added to its choice (so held text can ride on, say, the finish_reason chunk),
    except that an empty replacement for an absent field leaves it absent. ``logprobs`` of a choice whose
    content/refusal/text is replaced become null: they spell out the original tokens. Replacing a channel
    of a choice the chunk does not have raises ``ValueError``.
    """
    parsed = _choices(chunk, _ANY)
    if isinstance(chunk, ParsedChunk):
        chunk = chunk.chunk
    by_index = {c.index: c for c in parsed}
    grouped: dict[int, list[tuple[Channel, str]]] = {}
    for channel, text in replacements.items():
        if channel.choice not in by_index:
            raise ValueError(f"chunk has no choice with index {channel.choice}")
        grouped.setdefault(channel.choice, []).append((channel, text))
    out = dict(chunk)
    if not grouped:
        return out
    choices = list(chunk["choices"])
    for index, items in grouped.items():
        pos = by_index[index].position
        choice = dict(choices[pos])
        delta: dict[str, Any] | None = None
        for channel, text in items:
            if channel.kind == "text":
                _set(choice, "text", text)
            else:
                if delta is None:
                    delta = dict(choice.get("delta") or {})
                _set_delta(delta, channel, text)
            if channel.kind in _LOGPROB_KINDS and choice.get("logprobs") is not None:
                choice["logprobs"] = None
        if delta is not None:
            choice["delta"] = delta
        choices[pos] = choice
    out["choices"] = choices
    return out


def _set(obj: dict[str, Any], key: str, text: str) -> None:
    if text or obj.get(key) is not None:
        obj[key] = text


def _set_delta(delta: dict[str, Any], channel: Channel, text: str) -> None:
    kind = channel.kind
    if kind in _DELTA_TEXT_KEYS:
        _set(delta, kind, text)
        return
    if kind in _FUNCTION_FIELD:
        fc = dict(delta.get("function_call") or {})
        _set(fc, _FUNCTION_FIELD[kind], text)
        if fc or "function_call" in delta:
            delta["function_call"] = fc
        return
    if kind not in _TOOL_FIELD or channel.tool is None:
        raise ValueError(f"channel {channel!r} cannot be rebuilt")
    calls = list(delta.get("tool_calls") or [])
    for k, call in enumerate(calls):
        if call.get("index") == channel.tool:
            calls[k] = call = dict(call)
            break
    else:
        if not text:
            return
        call = {"index": channel.tool}
        calls.append(call)
    path = _TOOL_FIELD[kind]
    if len(path) == 1:
        _set(call, path[0], text)
    else:
        fn = dict(call.get("function") or {})
        _set(fn, path[1], text)
        call["function"] = fn
    delta["tool_calls"] = calls


def make_chunk(template: Any, channel: Channel, text: str) -> dict[str, Any]:
    """An extra chunk carrying ``text`` on ``channel`` alone, shaped like ``template``.

    Top-level fields (id, object, created, model, system_fingerprint, ...) are copied; ``usage`` becomes
    null if present so token counts are not reported twice. The one choice has ``finish_reason`` null and
    no logprobs.
    """
    if not isinstance(template, Mapping):
        raise _fail("chunk", "expected a JSON object")
    out = {k: v for k, v in template.items() if k != "choices"}
    if "usage" in out:
        out["usage"] = None
    choice: dict[str, Any] = {"index": channel.choice}
    if channel.kind == "text":
        choice["text"] = text
    else:
        delta: dict[str, Any] = {}
        _set_delta(delta, channel, text)
        choice["delta"] = delta
    choice["logprobs"] = None
    choice["finish_reason"] = None
    out["choices"] = [choice]
    return out


class ToolCallTracker:
    """Tells when a streamed tool call is complete, so its arguments can be held and checked whole.

    OpenAI-compatible servers stream the calls of one choice one after another: a call is complete when
    a different tool index appears in that choice, when the choice gets a ``finish_reason``, or at end of
    stream. A call that reappears after it was closed (interleaved calls) raises
    :class:`StreamFormatError`: its earlier part would already have been judged and sent. Calls are
    ``(choice index, tool index)``; the legacy ``function_call`` is ``(choice index, None)``.

    Feed every chunk to :meth:`update` *after* taking its deltas: the chunk's fragments belong to calls
    that :meth:`update` may close.
    """

    __slots__ = ("_closed", "_open")

    def __init__(self) -> None:
        self._open: dict[int, int | None] = {}
        self._closed: set[tuple[int, int | None]] = set()

    @property
    def open_calls(self) -> list[tuple[int, int | None]]:
        return list(self._open.items())

    def update(self, chunk: Any) -> list[tuple[int, int | None]]:
        """The calls ``chunk`` completes, in order."""
        done: list[tuple[int, int | None]] = []
        for choice in _choices(chunk, _ANY):
            opened: list[int | None] = list(choice.tool_indexes)
            if choice.function_call:
                opened.append(None)
            for tool in opened:
                key = (choice.index, tool)
                if key in self._closed:
                    raise _fail(f"choices[{choice.position}]", f"tool call {tool} continues after it ended")
                current = self._open.get(choice.index, _NONE)
                if current is not _NONE and current != tool:
                    done.append(self._close(choice.index))
                self._open[choice.index] = tool
            if choice.finish_reason is not None and choice.index in self._open:
                done.append(self._close(choice.index))
        return done

    def close_all(self) -> list[tuple[int, int | None]]:
        """End of stream: every call still open is complete."""
        return [self._close(index) for index in list(self._open)]

    def _close(self, choice: int) -> tuple[int, int | None]:
        key = (choice, self._open.pop(choice))
        self._closed.add(key)
        return key


_NONE: Any = object()
