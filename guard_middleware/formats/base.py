"""What every API format provides, and the plain data it hands to the pipeline and the stream guard.

A format is one module: its routes, how to validate a request and find every text in it, in a JSON
answer and in a stream, its refusal answer for ``disable_exception_on_block``, and its error shapes.
The middleware, the pipeline and the stream guard know formats only through this interface. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from guard_middleware.errors import bad_request
from guard_middleware.formats.body import Extraction, Slots, extract
from guard_middleware.sse import SSEEvent, encode
from guard_middleware.verdict import JsonPath

Channel = Hashable


class StreamFormatError(ValueError):
    """A stream event whose shape is not understood; the caller must end the stream (fail closed)."""


@dataclass(slots=True)
class ParsedRequest:
    body: dict[str, Any]
    format: Format
    route: str
    stream: bool
    # the role of everything under a path prefix (``("messages", 3)``), for the extraction
    roles: Mapping[JsonPath, str]
    requested_guardrails: list[str]
    # True when the body carried our ``guardrails`` field, which must be removed before forwarding.
    stripped: bool = False
    # The client asked for JSON output (structured output): streamed content is checked as JSON.
    json_output: bool = False
    # the role of text under no ``roles`` prefix
    default_role: str | None = None
    _extraction: Extraction | None = None

    @property
    def extraction(self) -> Extraction:
        """Every text of the body with its path, built on first use: a body the engine's fast path
        found clean is never walked in Python."""
        if self._extraction is None:
            self._extraction = extract(self.body, self.roles, self.default_role)
        return self._extraction

    @property
    def model(self) -> str:
        model = self.body.get("model")
        return model if isinstance(model, str) else ""


@dataclass(slots=True)
class EventPlan:
    """One stream event as the stream guard needs it.

    ``texts``: text fragments, each on its channel, released through that channel's hold-back window.
    ``held``: fragments held whole until their channel closes (tool-call JSON, JSON output), then
    checked as one text and sent with ``StreamModel.text_event``. ``closes``: channels this event ends;
    their held tails are settled (and sent) before it. ``close_all``: the stream's terminal event.
    ``slots``: the fragments' paths inside ``obj``, as a trie (``body.slot_trie``); everything else in
    ``obj`` is walked as whole text (copies of streamed text are replaced by their checked version).
    """

    obj: Any
    texts: list[tuple[Channel, str]] = field(default_factory=list)
    held: list[tuple[Channel, str]] = field(default_factory=list)
    closes: list[Channel] = field(default_factory=list)
    close_all: bool = False
    slots: Slots | None = None
    data: Any = None  # format-private parse result


@dataclass(slots=True)
class Synthetic:
    """An event the guard sends that the upstream did not (a settled tail, a checked tool call). The
    stream guard checks it like any event before sending: ``slots`` are its checked fragments."""

    obj: Any
    event: str | None
    slots: Slots


class StreamModel:
    """Per-stream event model of one format (it may keep state, e.g. open tool calls)."""

    #: the stream repeats streamed text in later events (Responses): the guard then remembers each
    #: channel's original and checked text, to give every copy the checked version
    echoes: ClassVar[bool] = False

    def fast_chunks(self) -> str | None:
        """The kind of text events the engine's stream fast path (``_engine.StreamScanner``) may settle
        in this stream: ``"chat"``, ``"completions"`` or ``"anthropic"``; None when none."""
        return None

    def fast_channel(self) -> tuple[Channel, int] | None:
        """The one open channel and its choice index, when every other part of the stream's state is
        settled so that the fast path may take the next text events; None otherwise."""
        return None

    def note_settled(self, payload: bytes) -> None:
        """The JSON of the last event the fast path settled, for a model that keeps the last event
        as the template of the events it makes (chat chunks); nothing for the others."""

    def held_key(self, channel: Channel) -> str:
        """The key a held channel's text is checked under: ``arguments`` (JSON text) or ``content``."""
        return "arguments"

    def plan(self, event: SSEEvent, obj: Any) -> EventPlan:
        raise NotImplementedError

    def rebuild(self, plan: EventPlan, replacements: Mapping[Channel, str]) -> Any | None:
        """The event's JSON with each fragment replaced; None drops an event left carrying nothing."""
        raise NotImplementedError

    def carries(self, plan: EventPlan, channel: Channel) -> bool:
        """Whether the tail of ``channel`` can ride on this (closing) event instead of its own event."""
        return False

    def text_event(self, channel: Channel, text: str) -> Synthetic:
        """An extra event carrying ``text`` on ``channel`` (a settled tail, a checked tool call)."""
        raise NotImplementedError

    def event_bytes(self, obj: Any, like: SSEEvent) -> bytes:
        return encode(
            SSEEvent(data=json.dumps(obj, ensure_ascii=False, separators=(",", ":")), event=like.event)
        )

    def error_event(self, body: dict[str, Any]) -> bytes:
        raise NotImplementedError

    def refusal_events(self, message: str) -> bytes:
        """``disable_exception_on_block``: end the stream as the model would, with ``message`` as a
        refusal. Built from the guard's own values only (no upstream text: it is sent unchecked)."""
        raise NotImplementedError


class Format:
    """One API. Subclasses set ``name``/``route_suffixes`` and implement the request/answer methods."""

    name: ClassVar[str]
    #: route endings this format owns (matched against normalised, lower-cased paths)
    route_suffixes: ClassVar[tuple[str, ...]]
    default_routes: ClassVar[tuple[str, ...]]
    #: keys whose values are payloads, not text, in this format's answers
    opaque_answer_keys: ClassVar[frozenset[str]] = frozenset()

    def parse_request(self, body: Any, route: str) -> ParsedRequest:
        raise NotImplementedError

    def check_answer(self, body: Any) -> None:
        """Raises ValueError when a JSON answer's shape is not this API's (the answer is refused)."""
        if not isinstance(body, dict):
            raise ValueError("the answer is not a JSON object")

    def extract_answer(self, body: Any) -> Extraction:
        self.check_answer(body)
        return extract(body, default_role="assistant", opaque=self.opaque_answer_keys)

    def error_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """The guard's error body (OpenAI-shaped ``{"error": {...}}``) in this format's shape."""
        return body

    def refusal_answer(self, request: ParsedRequest, message: str, request_id: str) -> dict[str, Any] | None:
        """``disable_exception_on_block`` for a blocked request: a 200 answer; None when the API has no
        answer that can carry a refusal (the block is then an error)."""
        return None

    def refuse_answer(
        self, request: ParsedRequest, answer: dict[str, Any], message: str
    ) -> dict[str, Any] | None:
        """``disable_exception_on_block`` for a blocked JSON answer. Carries no text of the answer (ids
        included: the blocked text may be anywhere in it)."""
        return self.refusal_answer(request, message, "guard")

    def stream_model(self, request: ParsedRequest) -> StreamModel:
        raise StreamFormatError(f"{self.name} answers are not streamed")

    def refusal_stream(self, request: ParsedRequest, message: str) -> bytes | None:
        return self.stream_model(request).refusal_events(message)


def common_fields(body: Any) -> tuple[bool, list[str], bool]:
    """Validate what every format shares: the body is an object, ``stream`` is a bool, and our own
    ``guardrails`` field (removed here) is a list of names. Returns (stream, names, stripped)."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_type")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise param_error("'stream' must be a boolean.", "stream")
    stripped = "guardrails" in body
    requested = body.pop("guardrails", None)
    if requested is None:
        requested = []
    if not isinstance(requested, list) or not all(isinstance(n, str) for n in requested):
        raise param_error("'guardrails' must be a list of guardrail names.", "guardrails")
    return stream, requested, stripped


def param_error(message: str, param: str, code: str = "invalid_type") -> Exception:
    return bad_request(message, code=code, param=param)


def check_role(role: Any, roles: frozenset[str], where: str) -> str:
    if not isinstance(role, str):
        raise param_error(f"{where} must be a string.", where)
    if role not in roles:
        raise param_error(f"{where} must be one of {', '.join(sorted(roles))}.", where, code="invalid_value")
    return role


def check_messages(body: dict[str, Any], roles: frozenset[str], *, null_content: bool) -> dict[JsonPath, str]:
    """``messages`` must be a list of objects with a known role and string or part-list content (parts
    being objects with a ``type``). Returns the role of each message by path, for the extraction."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise param_error("'messages' must be a list of message objects.", "messages")
    out: dict[JsonPath, str] = {}
    # The hot loop of every chat request (agents send dozens of messages): the common case costs a few
    # type tests; error texts are built only for the message that fails.
    for i, message in enumerate(messages):
        if type(message) is not dict:
            raise param_error(f"messages[{i}] must be an object.", f"messages[{i}]")
        role = message.get("role")
        if type(role) is not str or role not in roles:
            role = check_role(role, roles, f"messages[{i}].role")
        out[("messages", i)] = role
        content = message.get("content")
        if type(content) is str or (content is None and null_content):
            continue
        if type(content) is not list:
            where = f"messages[{i}].content"
            raise param_error(f"{where} must be a string or a list of parts.", where)
        for j, part in enumerate(content):
            kind = part.get("type") if type(part) is dict else None
            if type(kind) is not str:
                where = f"messages[{i}].content[{j}]"
                raise param_error(f"{where} must be an object with a 'type'.", where)
            if kind in ("text", "input_text") and type(part.get("text")) is not str:
                where = f"messages[{i}].content[{j}].text"
                raise param_error(f"{where} must be a string.", where)
    return out
