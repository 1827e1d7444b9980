"""Strict JSON in and out, text extraction by JSON path, and rewrites applied by path. Pure.

Every string leaf of a body is scanned except the values of a few structural keys (model names, roles,
ids, enum-like fields) and media parts that text checks cannot read (images, audio, files), which are
reported as unscanned. Tool-call ``arguments`` are JSON inside a string: when they parse, the string
values inside are scanned and rewritten in place and the arguments stay valid JSON; when they do not
parse, the raw string is scanned as text, which is exactly what the model will read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from guard_middleware.errors import bad_request
from guard_middleware.verdict import JsonPath, Segment

# Values that are identifiers or enums, never prose the model reads or writes.
STRUCTURAL_KEYS = frozenset(
    {
        "model",
        "role",
        "type",
        "id",
        "object",
        "tool_call_id",
        "finish_reason",
        "system_fingerprint",
        "service_tier",
        "detail",
        "format",
        "encoding_format",
        "reasoning_effort",
        "tool_choice",
        "response_format",
        "modalities",
        "voice",
    }
)
# Content-part types whose payload text checks cannot read.
MEDIA_PART_TYPES = frozenset(
    {"image_url", "input_image", "input_audio", "audio", "file", "input_file", "image"}
)
TEXT_PART_KEYS = ("text", "refusal", "content")


class DuplicateKeyError(ValueError):
    pass


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise DuplicateKeyError(dup)
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes, what: str = "request body") -> Any:
    """Parse UTF-8 JSON strictly: duplicate keys, NaN/Infinity and invalid UTF-8 are refused, because the
    upstream might read them differently from us (which value of a duplicate key wins is the classic
    way to smuggle text past a checker)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(
            f"The {what} is not valid UTF-8 (byte {exc.start}).", code="invalid_encoding"
        ) from None
    try:
        return json.loads(text, object_pairs_hook=_strict_object, parse_constant=_reject_constant)
    except DuplicateKeyError as exc:
        raise bad_request(
            f"The {what} has a duplicate JSON key {str(exc)!r}; refusing to guess which value counts.",
            code="duplicate_key",
        ) from None
    except ValueError as exc:
        raise bad_request(f"The {what} is not valid JSON: {exc}.", code="invalid_json") from None


def dump_json(obj: Any) -> bytes:
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate from a "\ud800" escape: not representable in UTF-8, so not forwardable as checked.
        raise bad_request(
            "The body contains an unpaired UTF-16 surrogate escape.", code="invalid_encoding"
        ) from None


@dataclass(slots=True)
class Extraction:
    segments: list[Segment] = field(default_factory=list)
    unscanned: list[str] = field(default_factory=list)
    # arguments-string path -> parsed arguments (None when they did not parse and are scanned raw)
    tool_arguments: dict[JsonPath, Any] = field(default_factory=dict)


def _fmt_path(path: JsonPath) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


def extract(
    body: Any, roles: Mapping[JsonPath, str] | None = None, default_role: str | None = None
) -> Extraction:
    """Every scannable string of ``body`` with its path. ``roles`` maps a path prefix (e.g.
    ``("messages", 3)``) to the role of everything under it."""
    out = Extraction()
    _walk(body, [], out, roles or {}, default_role, "other")
    return out


def _role_for(path: list[str | int], roles: Mapping[JsonPath, str], default: str | None) -> str | None:
    if len(path) >= 2:
        role = roles.get((path[0], path[1]))
        if role is not None:
            return role
    return default


def _walk(
    node: Any,
    path: list[str | int],
    out: Extraction,
    roles: Mapping[JsonPath, str],
    default_role: str | None,
    kind: str,
) -> None:
    if isinstance(node, str):
        if node:
            role = _role_for(path, roles, default_role)
            out.segments.append(Segment(tuple(path), node, role, kind))  # type: ignore[arg-type]
        return
    if isinstance(node, dict):
        part_type = node.get("type")
        if isinstance(part_type, str) and part_type in MEDIA_PART_TYPES:
            out.unscanned.append(f"{_fmt_path(tuple(path))}:{part_type}")
            return
        for key, value in node.items():
            if key in STRUCTURAL_KEYS and not isinstance(value, (dict, list)):
                continue
            path.append(key)
            if key == "arguments" and isinstance(value, str) and path[-2:-1] == ["function"]:
                _walk_arguments(value, path, out, roles, default_role)
            else:
                child_kind = "content" if key in ("content", "text", "prompt", "refusal", "input") else kind
                _walk(value, path, out, roles, default_role, child_kind)
            path.pop()
        return
    if isinstance(node, list):
        for i, value in enumerate(node):
            path.append(i)
            _walk(value, path, out, roles, default_role, kind)
            path.pop()


def _walk_arguments(
    raw: str, path: list[str | int], out: Extraction, roles: Mapping[JsonPath, str], default_role: str | None
) -> None:
    key = tuple(path)
    try:
        parsed = json.loads(raw, object_pairs_hook=_strict_object, parse_constant=_reject_constant)
    except ValueError:
        out.tool_arguments[key] = None
        _walk(raw, path, out, roles, default_role, "tool_arguments")
        return
    out.tool_arguments[key] = parsed
    _walk(parsed, path, out, roles, default_role, "tool_arguments")


def _set(node: Any, path: Sequence[str | int], value: Any) -> None:
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def apply_rewrites(body: Any, extraction: Extraction, new_texts: Mapping[int, str]) -> None:
    """Write ``new_texts`` (segment index -> text) back into ``body`` by path, re-serialising rewritten
    tool-call arguments so they remain valid JSON."""
    touched_args: set[JsonPath] = set()
    for index, text in new_texts.items():
        path = extraction.segments[index].path
        args_key = _arguments_prefix(path, extraction.tool_arguments)
        if args_key is None:
            _set(body, path, text)
            continue
        parsed = extraction.tool_arguments[args_key]
        inner = path[len(args_key) :]
        if parsed is None or not inner:
            # Raw (unparseable) or a bare JSON string: the whole arguments value is the segment.
            if parsed is None:
                _set(body, args_key, text)
                continue
            extraction.tool_arguments[args_key] = parsed = text
        else:
            _set(parsed, inner, text)
        touched_args.add(args_key)
    for args_key in touched_args:
        _set(body, args_key, json.dumps(extraction.tool_arguments[args_key], ensure_ascii=False))


def _arguments_prefix(path: JsonPath, tool_arguments: Mapping[JsonPath, Any]) -> JsonPath | None:
    if "arguments" not in path:
        return None
    cut = path.index("arguments") + 1
    key = path[:cut]
    return key if key in tool_arguments else None


__all__ = [
    "STRUCTURAL_KEYS",
    "Extraction",
    "apply_rewrites",
    "dump_json",
    "extract",
    "parse_json",
]
