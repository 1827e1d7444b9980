"""Anthropic Messages (``/v1/messages``, ``/v1/messages/count_tokens``): requests, answers, streams, and
Anthropic's own error shape. Pure.

Stream events carry an ``event:`` line (the SDK drops data-only events); text and thinking deltas are
windowed per content block, ``input_json_delta`` fragments are held until ``content_block_stop`` and
checked as JSON (every key and value), then sent as one fragment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guard_middleware.formats.base import (
    EventPlan,
    Format,
    ParsedRequest,
    StreamFormatError,
    StreamModel,
    Synthetic,
    check_messages,
    common_fields,
    param_error,
)
from guard_middleware.formats.body import slot_trie
from guard_middleware.sse import SSEEvent
from guard_middleware.verdict import JsonPath

ANTHROPIC_ROLES = frozenset({"user", "assistant", "system"})
_DELTA_FIELDS = {"text_delta": ("text", "text"), "thinking_delta": ("thinking", "thinking")}
_START_FIELDS = {"text": "text", "thinking": "thinking"}
# the guard's error codes -> Anthropic error types (what the SDK exposes as ``.type``)
_ERROR_TYPES = {
    "request_too_large": "request_too_large",
    "guardrail_timeout": "timeout_error",
    "guardrail_unavailable": "api_error",
    "guardrail_misconfigured": "api_error",
    "guardrail_not_allowed": "permission_error",
    "upstream_unreadable": "api_error",
}


class AnthropicFormat(Format):
    name = "anthropic"
    route_suffixes = ("/messages", "/messages/count_tokens")
    default_routes = ("/v1/messages", "/v1/messages/count_tokens")

    def parse_request(self, body: Any, route: str) -> ParsedRequest:
        stream, requested, stripped = common_fields(body)
        roles = check_messages(body, ANTHROPIC_ROLES, null_content=False)
        system = body.get("system")
        if system is not None and not isinstance(system, (str, list)):
            raise param_error("'system' must be a string or a list of text blocks.", "system")
        config = body.get("output_config")
        fmt = config.get("format") if isinstance(config, dict) else None
        json_output = isinstance(fmt, dict) and fmt.get("type") == "json_schema"
        return ParsedRequest(body, self, route, stream, roles, requested, stripped, json_output=json_output)

    def error_body(self, body: dict[str, Any]) -> dict[str, Any]:
        error = dict(body.get("error", {}))
        code = error.get("code")
        openai_type = error.pop("type", "invalid_request_error")
        kind = _ERROR_TYPES.get(
            str(code), "invalid_request_error" if openai_type == "invalid_request_error" else "api_error"
        )
        out: dict[str, Any] = {"type": kind, "message": error.pop("message", ""), **error}
        if code:
            out["details"] = {"error_code": code}
        return {"type": "error", "error": out}

    def refusal_answer(self, request: ParsedRequest, message: str, request_id: str) -> dict[str, Any] | None:
        if request.route.endswith("/count_tokens"):
            return None
        return _refusal_message(f"msg_guard_{request_id}", request.model, message)

    def stream_model(self, request: ParsedRequest) -> StreamModel:
        return AnthropicStreamModel(request)


def _refusal_message(message_id: str, model: str, text: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "refusal",
        "stop_sequence": None,
        "stop_details": {"type": "refusal", "category": None, "explanation": text},
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }


def _index(obj: Mapping[str, Any]) -> int:
    value = obj.get("index")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise StreamFormatError("index: expected a non-negative integer")
    return value


class AnthropicStreamModel(StreamModel):
    def __init__(self, request: ParsedRequest) -> None:
        self.request = request
        self.json_output = request.json_output
        self.open: dict[Any, None] = {}
        self.blocks: set[int] = set()  # started and not stopped
        self.next_index = 0
        self.started = False

    def held_key(self, channel: Any) -> str:
        return "arguments" if channel[1] == "input" else "content"

    def fast_chunks(self) -> str | None:
        return None if self.json_output else "anthropic"

    def fast_channel(self) -> tuple[Any, int] | None:
        if len(self.open) != 1:
            return None
        (channel,) = self.open
        return (channel, channel[0]) if channel[1] == "text" else None

    def plan(self, event: SSEEvent, obj: Any) -> EventPlan:
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            raise StreamFormatError("an Anthropic event must be an object with a 'type'")
        kind = obj["type"]
        plan = EventPlan(obj)
        if kind == "message_start":
            self.started = True
        elif kind == "content_block_start":
            index = _index(obj)
            self.blocks.add(index)
            self.next_index = max(self.next_index, index + 1)
            block = obj.get("content_block")
            field = _START_FIELDS.get(str(block.get("type"))) if isinstance(block, dict) else None
            if field is not None and isinstance(block, dict) and isinstance(block.get(field), str):
                self._fragment(plan, (index, field), block[field], ("content_block", field))
        elif kind == "content_block_delta":
            index = _index(obj)
            delta = obj.get("delta")
            if not isinstance(delta, dict):
                raise StreamFormatError("content_block_delta.delta: expected an object")
            dtype = delta.get("type")
            if not isinstance(dtype, str):
                raise StreamFormatError("content_block_delta.delta.type: expected a string")
            if dtype in _DELTA_FIELDS:
                field, channel_kind = _DELTA_FIELDS[dtype]
                text = delta.get(field)
                if not isinstance(text, str):
                    raise StreamFormatError(f"delta.{field}: expected a string")
                self._fragment(plan, (index, channel_kind), text, ("delta", field))
            elif dtype == "input_json_delta":
                text = delta.get("partial_json")
                if not isinstance(text, str):
                    raise StreamFormatError("delta.partial_json: expected a string")
                plan.held.append(((index, "input"), text))
                self.open[(index, "input")] = None
                plan.slots = slot_trie(("delta", "partial_json"))
                plan.data = (index, "input")
        elif kind == "content_block_stop":
            index = _index(obj)
            self.blocks.discard(index)
            plan.closes = [c for c in self.open if c[0] == index]
        elif kind == "message_stop":
            plan.close_all = True
        for channel in plan.closes:
            self.open.pop(channel, None)
        if plan.close_all:
            self.open.clear()
        return plan

    def _fragment(self, plan: EventPlan, channel: tuple[int, str], text: str, path: JsonPath) -> None:
        held = self.json_output and channel[1] == "text"
        (plan.held if held else plan.texts).append((channel, text))
        self.open[channel] = None
        plan.slots = slot_trie(path)
        plan.data = channel

    def rebuild(self, plan: EventPlan, replacements: Mapping[Any, str]) -> Any | None:
        if plan.data is None:
            return plan.obj
        text = replacements.get(plan.data, "")
        obj = plan.obj
        if obj["type"] == "content_block_start":
            block = dict(obj["content_block"])
            block[plan.data[1]] = text
            return {**obj, "content_block": block}
        if not text:
            return None  # a delta whose text is all held: sent later
        delta = dict(obj["delta"])
        delta["partial_json" if plan.data[1] == "input" else plan.data[1]] = text
        return {**obj, "delta": delta}

    def text_event(self, channel: Any, text: str) -> Synthetic:
        index, kind = channel
        field = "partial_json" if kind == "input" else kind
        delta = {"type": "input_json_delta" if kind == "input" else f"{kind}_delta", field: text}
        obj = {"type": "content_block_delta", "index": index, "delta": delta}
        return Synthetic(obj, "content_block_delta", slot_trie(("delta", field)))

    def error_event(self, body: dict[str, Any]) -> bytes:
        return self.event_bytes(body, SSEEvent(event="error"))

    def refusal_events(self, message: str) -> bytes:
        out: list[bytes] = []
        if not self.started:
            start = _refusal_message("msg_guard", self.request.model, "")
            start["content"] = []
            start["stop_reason"] = start["stop_details"] = None
            out.append(self._event("message_start", message=start))
        for index in sorted(self.blocks):
            out.append(self._event("content_block_stop", index=index))
        self.blocks.clear()
        index = self.next_index
        out.append(
            self._event("content_block_start", index=index, content_block={"type": "text", "text": ""})
        )
        out.append(
            self._event("content_block_delta", index=index, delta={"type": "text_delta", "text": message})
        )
        out.append(self._event("content_block_stop", index=index))
        details = {"type": "refusal", "category": None, "explanation": message}
        out.append(
            self._event(
                "message_delta",
                delta={"stop_reason": "refusal", "stop_sequence": None, "stop_details": details},
                usage={"output_tokens": 0},
            )
        )
        out.append(self._event("message_stop"))
        return b"".join(out)

    def _event(self, kind: str, **fields: Any) -> bytes:
        return self.event_bytes({"type": kind, **fields}, SSEEvent(event=kind))
