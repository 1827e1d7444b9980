"""OpenAI chat completions and legacy completions: request shape checks, answers, streams. Pure."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from guard_middleware.errors import sse_error_event
from guard_middleware.formats.base import (
    EventPlan,
    Format,
    ParsedRequest,
    StreamModel,
    Synthetic,
    check_messages,
    common_fields,
    param_error,
)
from guard_middleware.formats.body import Slots
from guard_middleware.formats.chat_stream import (
    TEXT_KINDS,
    Channel,
    ToolCallTracker,
    finish_reasons,
    iter_deltas,
    make_chunk,
    parse_chunk,
    rebuild,
)
from guard_middleware.sse import SSEEvent

CHAT_ROLES = frozenset({"developer", "system", "user", "assistant", "tool", "function"})
_HELD_KINDS = frozenset({"tool_arguments", "function_arguments"})
_DELTA_SLOT_KEYS = ("content", "refusal", "reasoning_content", "reasoning")


def _json_output_requested(response_format: Any) -> bool:
    return isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema")


class ChatFormat(Format):
    name = "chat"
    route_suffixes = ("/chat/completions",)
    default_routes = ("/v1/chat/completions", "/chat/completions")
    chat: ClassVar[bool] = True

    def parse_request(self, body: Any, route: str) -> ParsedRequest:
        stream, requested, stripped = common_fields(body)
        roles = check_messages(body, CHAT_ROLES, null_content=True)
        for i, message in enumerate(body["messages"]):
            tool_calls = message.get("tool_calls")
            if tool_calls is not None:
                _check_tool_calls(tool_calls, f"messages[{i}].tool_calls")
        return ParsedRequest(
            body,
            self,
            route,
            stream,
            roles,
            requested,
            stripped,
            json_output=_json_output_requested(body.get("response_format")),
        )

    # -- answers ------------------------------------------------------------------------------
    def check_answer(self, body: Any) -> None:
        super().check_answer(body)
        if not isinstance(body.get("choices", []), list):
            raise ValueError("'choices' is not a list")

    def refusal_answer(self, request: ParsedRequest, message: str, request_id: str) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "finish_reason": "content_filter", "logprobs": None}
        if self.chat:
            choice["message"] = {"role": "assistant", "content": message}
        else:
            choice["text"] = message
        return {
            "id": f"guard-{request_id}",
            "object": "chat.completion" if self.chat else "text_completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [choice],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    def refuse_answer(self, request: ParsedRequest, answer: dict[str, Any], message: str) -> dict[str, Any]:
        refusal = self.refusal_answer(request, message, "refusal")
        indexes = [c.get("index") for c in answer.get("choices") or [] if isinstance(c, dict)]
        if all(isinstance(i, int) and not isinstance(i, bool) for i in indexes) and len(indexes) > 1:
            # one refusal per choice the client asked for (``n``)
            refusal["choices"] = [{**refusal["choices"][0], "index": i} for i in indexes]
        return refusal

    def stream_model(self, request: ParsedRequest) -> StreamModel:
        return ChatStreamModel(request, chat=self.chat)


class CompletionsFormat(ChatFormat):
    name = "completions"
    route_suffixes = ("/completions",)
    default_routes = ("/v1/completions", "/completions")
    chat = False

    def parse_request(self, body: Any, route: str) -> ParsedRequest:
        stream, requested, stripped = common_fields(body)
        prompt = body.get("prompt")
        if isinstance(prompt, list):
            if any(not isinstance(p, str) for p in prompt):
                # Token-id prompts cannot be read by a text check; forwarding them would skip the guard.
                raise param_error(
                    "'prompt' must be a string or a list of strings (token arrays cannot be checked).",
                    "prompt",
                )
        elif not isinstance(prompt, str):
            raise param_error("'prompt' must be a string or a list of strings.", "prompt")
        return ParsedRequest(body, self, route, stream, {}, requested, stripped, default_role="user")


def _check_tool_calls(tool_calls: Any, where: str) -> None:
    if not isinstance(tool_calls, list):
        raise param_error(f"{where} must be a list.", where)
    for k, call in enumerate(tool_calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if fn is None and isinstance(call, dict) and call.get("type") == "custom":
            continue
        if not isinstance(fn, dict):
            raise param_error(f"{where}[{k}].function must be an object.", f"{where}[{k}].function")
        args = fn.get("arguments")
        if args is not None and not isinstance(args, str):
            raise param_error(
                f"{where}[{k}].function.arguments must be a string.", f"{where}[{k}].function.arguments"
            )


class ChatStreamModel(StreamModel):
    """``chat.completion.chunk`` / ``text_completion`` events; ``data: [DONE]`` ends the stream."""

    def __init__(self, request: ParsedRequest, *, chat: bool) -> None:
        self.request = request
        self.chat = chat
        self.tools = ToolCallTracker()
        self.open: dict[Any, None] = {}
        self.json_output = request.json_output
        self.last: dict[str, Any] | None = None  # the last chunk with choices: the shape of extra ones
        self._settled: bytes | None = None  # the JSON of a later such chunk the engine settled

    def held_key(self, channel: Any) -> str:
        return "content" if channel.kind in TEXT_KINDS else "arguments"

    def fast_chunks(self) -> str | None:
        if self.json_output:
            return None
        return "chat" if self.chat else "completions"

    def note_settled(self, payload: bytes) -> None:
        self._settled = payload  # parsed only if a tail event needs it as its template

    def fast_channel(self) -> tuple[Channel, int] | None:
        if len(self.open) != 1:
            return None
        (channel,) = self.open
        if channel.tool is not None or channel.kind != ("content" if self.chat else "text"):
            return None
        return channel, channel.choice

    def plan(self, event: SSEEvent, obj: Any) -> EventPlan:
        if isinstance(obj, dict) and "error" in obj and "choices" not in obj:
            return EventPlan(obj)  # the upstream's own error event: checked as a whole
        parsed = parse_chunk(obj)
        plan = EventPlan(obj, data=parsed)
        if parsed.choices:
            self.last = obj
            self._settled = None
        for d in iter_deltas(parsed):
            kind = d.channel.kind
            if kind in _HELD_KINDS or (self.json_output and kind in TEXT_KINDS):
                plan.held.append((d.channel, d.text))
                self.open[d.channel] = None
            elif kind in TEXT_KINDS:
                plan.texts.append((d.channel, d.text))
                self.open[d.channel] = None
        for choice, tool in self.tools.update(parsed):
            kind = "tool_arguments" if tool is not None else "function_arguments"
            plan.closes.append(Channel(choice, kind, tool))
        for choice in finish_reasons(parsed):
            plan.closes.extend(c for c in self.open if c.choice == choice and c not in plan.closes)
        for channel in plan.closes:
            self.open.pop(channel, None)
        plan.slots = _slots(obj)
        return plan

    def carries(self, plan: EventPlan, channel: Any) -> bool:
        return plan.data is not None and channel.kind in TEXT_KINDS and channel in plan.closes

    def rebuild(self, plan: EventPlan, replacements: Mapping[Any, str]) -> Any | None:
        if plan.data is None:
            return plan.obj
        out = rebuild(plan.data, replacements)
        if _emptied(plan, replacements) and _carries_nothing(out):
            return None
        return out

    def text_event(self, channel: Any, text: str) -> Synthetic:
        if self._settled is not None:
            self.last, self._settled = json.loads(self._settled), None
        chunk = make_chunk(self.last or self._template(), channel, text)
        return Synthetic(chunk, None, _slots(chunk))

    def _template(self) -> dict[str, Any]:
        return {
            "id": "guard-stream",
            "object": "chat.completion.chunk" if self.chat else "text_completion",
            "created": int(time.time()),
            "model": self.request.model,
        }

    def error_event(self, body: dict[str, Any]) -> bytes:
        return sse_error_event(body)

    def refusal_events(self, message: str) -> bytes:
        base = self._template()
        choices = {c.choice for c in self.open} | {0}
        out: list[bytes] = []
        for choice in sorted(choices):
            channel = Channel(choice, "content" if self.chat else "text")
            finish = make_chunk(base, channel, "")
            finish["choices"][0]["finish_reason"] = "content_filter"
            out.append(self.event_bytes(make_chunk(base, channel, message), SSEEvent()))
            out.append(self.event_bytes(finish, SSEEvent()))
        out.append(b"data: [DONE]\n\n")
        return b"".join(out)


def _slots(obj: Any) -> Slots:
    """The windowed or held fragments of a chunk, and the logprobs that spell them (nulled when the
    text changes), as a trie of paths."""
    choices: Slots = {}
    for pos, choice in enumerate(obj.get("choices") or []):
        if not isinstance(choice, dict):
            continue
        slots: Slots = {"logprobs": None}
        if isinstance(choice.get("text"), str):
            slots["text"] = None
        delta = choice.get("delta")
        if isinstance(delta, dict):
            fragments: Slots = {k: None for k in _DELTA_SLOT_KEYS if k in delta}
            calls = delta.get("tool_calls")
            if isinstance(calls, list):
                fragments["tool_calls"] = {k: {"function": {"arguments": None}} for k in range(len(calls))}
            if isinstance(delta.get("function_call"), dict):
                fragments["function_call"] = {"arguments": None}
            slots["delta"] = fragments
        choices[pos] = slots
    return {"choices": choices}


def _emptied(plan: EventPlan, replacements: Mapping[Any, str]) -> bool:
    """Whether every fragment the event carried is held back now (the usual case is a quick no)."""
    if any(replacements.values()):
        return False
    return any(t for _, t in plan.texts) or any(t for _, t in plan.held)


def _carries_nothing(chunk: dict[str, Any]) -> bool:
    if chunk.get("usage") is not None:
        return False
    for choice in chunk.get("choices") or []:
        if choice.get("finish_reason") is not None or choice.get("text"):
            return False
        for key, value in (choice.get("delta") or {}).items():
            if key == "tool_calls":
                for call in value or []:
                    if set(call) - {"index", "function"} or set(call.get("function") or {}) - {"arguments"}:
                        return False
            elif value not in ("", None):
                return False
        if set(choice) - {"index", "delta", "logprobs", "finish_reason", "text"}:
            return False
    return True


__all__ = ["CHAT_ROLES", "ChatFormat", "ChatStreamModel", "CompletionsFormat"]
