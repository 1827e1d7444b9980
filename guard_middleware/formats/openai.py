"""OpenAI chat-completions and completions bodies: shape checks and where the text is. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from guard_middleware.errors import bad_request
from guard_middleware.formats.body import Extraction, extract
from guard_middleware.verdict import JsonPath

ApiKind = Literal["chat", "completions"]


@dataclass(slots=True)
class ParsedRequest:
    body: dict[str, Any]
    kind: ApiKind
    stream: bool
    extraction: Extraction
    requested_guardrails: list[str]
    # True when the body carried our ``guardrails`` field, which must be removed before forwarding.
    stripped: bool = False


def _param_error(message: str, param: str) -> Exception:
    return bad_request(message, code="invalid_type", param=param)


def parse_request(body: Any, kind: ApiKind) -> ParsedRequest:
    """Validate the parts of the body whose type decides what the upstream reads, then extract text.

    Only what we must understand is validated; other fields pass through unchanged (and their strings
    are scanned)."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_type")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _param_error("'stream' must be a boolean.", "stream")
    stripped = "guardrails" in body
    requested = body.pop("guardrails", None)
    if requested is None:
        requested = []
    if not isinstance(requested, list) or not all(isinstance(n, str) for n in requested):
        raise _param_error("'guardrails' must be a list of guardrail names.", "guardrails")

    roles: dict[JsonPath, str] = {}
    if kind == "chat":
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise _param_error("'messages' must be a list of message objects.", "messages")
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                raise _param_error(f"messages[{i}] must be an object.", f"messages[{i}]")
            role = message.get("role")
            if not isinstance(role, str):
                raise _param_error(f"messages[{i}].role must be a string.", f"messages[{i}].role")
            content = message.get("content")
            if content is not None and not isinstance(content, (str, list)):
                raise _param_error(
                    f"messages[{i}].content must be a string, a list of parts, or null.",
                    f"messages[{i}].content",
                )
            if isinstance(content, list):
                for j, part in enumerate(content):
                    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                        raise _param_error(
                            f"messages[{i}].content[{j}] must be an object with a 'type'.",
                            f"messages[{i}].content[{j}]",
                        )
                    if part["type"] in ("text", "input_text") and not isinstance(part.get("text"), str):
                        raise _param_error(
                            f"messages[{i}].content[{j}].text must be a string.",
                            f"messages[{i}].content[{j}].text",
                        )
            tool_calls = message.get("tool_calls")
            if tool_calls is not None:
                _check_tool_calls(tool_calls, f"messages[{i}].tool_calls")
            roles[("messages", i)] = role
    else:
        prompt = body.get("prompt")
        if isinstance(prompt, list):
            if any(not isinstance(p, str) for p in prompt):
                # Token-id prompts cannot be read by a text check; forwarding them would skip the guard.
                raise _param_error(
                    "'prompt' must be a string or a list of strings (token arrays cannot be checked).",
                    "prompt",
                )
        elif not isinstance(prompt, str):
            raise _param_error("'prompt' must be a string or a list of strings.", "prompt")
    extraction = extract(body, roles, default_role="user" if kind == "completions" else None)
    return ParsedRequest(body, kind, stream, extraction, requested, stripped)


def _check_tool_calls(tool_calls: Any, where: str) -> None:
    if not isinstance(tool_calls, list):
        raise _param_error(f"{where} must be a list.", where)
    for k, call in enumerate(tool_calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            raise _param_error(f"{where}[{k}].function must be an object.", f"{where}[{k}].function")
        args = fn.get("arguments")
        if args is not None and not isinstance(args, str):
            raise _param_error(
                f"{where}[{k}].function.arguments must be a string.", f"{where}[{k}].function.arguments"
            )


def extract_response(body: Any) -> Extraction:
    """Text of a non-streaming response: every choice's message content, refusal and tool-call
    arguments, ``choices[].text`` for completions, and any other prose string."""
    if not isinstance(body, dict):
        raise ValueError("response body is not a JSON object")
    choices = body.get("choices")
    if choices is not None and not isinstance(choices, list):
        raise ValueError("'choices' is not a list")
    return extract(body, default_role="assistant")
