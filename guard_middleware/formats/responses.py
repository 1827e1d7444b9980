"""OpenAI Responses (``/v1/responses``, ``/v1/responses/input_tokens``): requests, answers, streams. Pure.

The stream repeats its text: deltas, then ``*.done``, ``content_part.done``, ``output_item.done`` and
the final ``response.completed``. Deltas are windowed per (event family, output index, part index);
every later copy is a whole string that the stream guard replaces by the checked text of its channel.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from guard_middleware.formats.base import (
    EventPlan,
    Format,
    ParsedRequest,
    StreamFormatError,
    StreamModel,
    Synthetic,
    check_role,
    common_fields,
    param_error,
)
from guard_middleware.formats.body import slot_trie
from guard_middleware.sse import SSEEvent
from guard_middleware.verdict import JsonPath

RESPONSES_ROLES = frozenset({"user", "assistant", "system", "developer"})
# Delta families whose fragments are JSON or code held whole until ``.done``.
_HELD_FAMILIES = frozenset({"function_call_arguments", "mcp_call_arguments", "custom_tool_call_input"})
_PART_FAMILIES = frozenset({"output_text", "refusal", "reasoning_text"})
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_SUB_INDEX_KEYS = ("content_index", "summary_index", "command_index")
_DELTA_SLOTS = slot_trie(("delta",), ("logprobs",))  # the windowed text, and logprobs spelling it


class ResponsesFormat(Format):
    name = "responses"
    route_suffixes = ("/responses", "/responses/input_tokens", "/responses/compact")
    default_routes = (
        "/v1/responses",
        "/responses",
        "/v1/responses/input_tokens",
        "/v1/responses/compact",
    )

    def parse_request(self, body: Any, route: str) -> ParsedRequest:
        stream, requested, stripped = common_fields(body)
        roles: dict[JsonPath, str] = {}
        value = body.get("input")
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    raise param_error(f"input[{i}] must be an object.", f"input[{i}]")
                if item.get("type", "message") == "message" or "role" in item:
                    roles[("input", i)] = check_role(item.get("role"), RESPONSES_ROLES, f"input[{i}].role")
                    content = item.get("content")
                    if not isinstance(content, (str, list)):
                        raise param_error(
                            f"input[{i}].content must be a string or a list of parts.", f"input[{i}].content"
                        )
        elif value is not None and not isinstance(value, str):
            raise param_error("'input' must be a string or a list of items.", "input")
        instructions = body.get("instructions")
        if instructions is not None and not isinstance(instructions, (str, list)):
            raise param_error("'instructions' must be a string.", "instructions")
        text = body.get("text")
        fmt = text.get("format") if isinstance(text, dict) else None
        json_output = isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object")
        return ParsedRequest(
            body, self, route, stream, roles, requested, stripped, json_output, default_role="user"
        )

    def refusal_answer(self, request: ParsedRequest, message: str, request_id: str) -> dict[str, Any] | None:
        if not request.route.endswith("/responses"):
            return None  # input_tokens / compact: no answer can carry a refusal
        return _refusal_response(f"resp_guard_{request_id}", request.model, [_refusal_item(message)])

    def stream_model(self, request: ParsedRequest) -> StreamModel:
        return ResponsesStreamModel(request)


def _refusal_item(message: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_guard",
        "role": "assistant",
        "status": "incomplete",
        "content": [{"type": "refusal", "refusal": message}],
    }


def _refusal_response(response_id: str, model: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "status": "incomplete",
        "incomplete_details": {"reason": "content_filter"},
        "error": None,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


def _int(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool):
        raise StreamFormatError(f"{key}: expected an integer")
    return value


class ResponsesStreamModel(StreamModel):
    echoes = True

    def __init__(self, request: ParsedRequest) -> None:
        self.request = request
        self.json_output = request.json_output
        self.open: dict[Any, None] = {}
        self.item_ids: dict[tuple[str, int, int], str] = {}
        self.sequence = 0
        self.response: dict[str, Any] | None = None
        self.next_output = 0

    def held_key(self, channel: Any) -> str:
        return "arguments" if channel[0] != "custom_tool_call_input" else "content"

    def plan(self, event: SSEEvent, obj: Any) -> EventPlan:
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            raise StreamFormatError("a Responses event must be an object with a 'type'")
        kind: str = obj["type"]
        seq = obj.get("sequence_number")
        if isinstance(seq, int):
            self.sequence = max(self.sequence, seq)
        plan = EventPlan(obj)
        if "output_index" in obj:
            self.next_output = max(self.next_output, _int(obj, "output_index") + 1)
        if kind.startswith("response.") and kind.endswith(".delta") and isinstance(obj.get("delta"), str):
            family = kind[len("response.") : -len(".delta")]
            channel = (family, _int(obj, "output_index"), self._sub(obj))
            self.open[channel] = None
            self.item_ids[channel] = str(obj.get("item_id", ""))
            held = family in _HELD_FAMILIES or (self.json_output and family == "output_text")
            (plan.held if held else plan.texts).append((channel, obj["delta"]))
            plan.slots = _DELTA_SLOTS
            plan.data = channel
        elif kind.startswith("response.") and kind.endswith(".done") and kind not in _TERMINAL:
            family = kind[len("response.") : -len(".done")]
            index = obj.get("output_index")
            if family == "output_item":
                plan.closes = [c for c in self.open if c[1] == index]
            elif family == "content_part":
                sub = obj.get("content_index")
                plan.closes = [
                    c for c in self.open if c[1] == index and c[2] == sub and c[0] in _PART_FAMILIES
                ]
            elif family == "reasoning_summary_part":
                sub = obj.get("summary_index")
                plan.closes = [c for c in self.open if c[1] == index and c[2] == sub]
            else:
                plan.closes = [c for c in self.open if c[0] == family and c[1] == index]
        elif kind in _TERMINAL:
            plan.close_all = True
        if kind == "response.created" and isinstance(obj.get("response"), dict):
            self.response = obj["response"]
        for closed in plan.closes:
            self.open.pop(closed, None)
        if plan.close_all:
            self.open.clear()
        return plan

    @staticmethod
    def _sub(obj: Mapping[str, Any]) -> int:
        for key in _SUB_INDEX_KEYS:
            if key in obj:
                return _int(obj, key)
        return 0

    def rebuild(self, plan: EventPlan, replacements: Mapping[Any, str]) -> Any | None:
        if plan.data is None:
            return plan.obj
        text = replacements.get(plan.data, "")
        if not text:
            return None  # a delta whose text is all held: sent later, with the rest
        out = dict(plan.obj)
        out["delta"] = text
        if out.get("logprobs"):
            out["logprobs"] = []  # they spell the original tokens
        return out

    def text_event(self, channel: Any, text: str) -> Synthetic:
        family, output_index, sub = channel
        obj: dict[str, Any] = {
            "type": f"response.{family}.delta",
            "sequence_number": self.sequence,
            "item_id": self.item_ids.get(channel, ""),
            "output_index": output_index,
        }
        if family in _PART_FAMILIES:
            obj["content_index"] = sub
        elif family.startswith("reasoning_summary"):
            obj["summary_index"] = sub
        obj["delta"] = text
        if family == "output_text":
            obj["logprobs"] = []
        return Synthetic(obj, obj["type"], _DELTA_SLOTS)

    def error_event(self, body: dict[str, Any]) -> bytes:
        error = body.get("error", {})
        self.sequence += 1
        obj = {
            "type": "error",
            "sequence_number": self.sequence,
            "code": error.get("code"),
            "message": error.get("message"),
            "param": error.get("param"),
            "error": error,
        }
        return self.event_bytes(obj, SSEEvent(event="error"))

    def refusal_events(self, message: str) -> bytes:
        out: list[bytes] = []
        response = dict(self.response or _refusal_response("resp_guard", self.request.model, []))
        if self.response is None:
            response["status"] = "in_progress"
            response["incomplete_details"] = None
            out.append(self._event("response.created", response=response))
        index = self.next_output
        item = {
            "type": "message",
            "id": "msg_guard",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        keys = {"item_id": "msg_guard", "output_index": index, "content_index": 0}
        out.append(self._event("response.output_item.added", output_index=index, item=item))
        out.append(
            self._event("response.content_part.added", **keys, part={"type": "refusal", "refusal": ""})
        )
        out.append(self._event("response.refusal.delta", **keys, delta=message))
        out.append(self._event("response.refusal.done", **keys, refusal=message))
        part = {"type": "refusal", "refusal": message}
        out.append(self._event("response.content_part.done", **keys, part=part))
        done_item = _refusal_item(message)
        out.append(self._event("response.output_item.done", output_index=index, item=done_item))
        final = _refusal_response(str(response.get("id", "resp_guard")), self.request.model, [done_item])
        out.append(self._event("response.incomplete", response=final))
        return b"".join(out)

    def _event(self, kind: str, **fields: Any) -> bytes:
        self.sequence += 1
        return self.event_bytes(
            {"type": kind, "sequence_number": self.sequence, **fields}, SSEEvent(event=kind)
        )
