"""Strict JSON in and out, text extraction by JSON path, and rewrites applied by path. Pure.

The walker visits every string of a body. It skips only:

- values of *structural* keys (``role``, ``type``, ``object``, ``finish_reason``, ``status``, ...) that
  validate as what such a key holds, a short lower-case identifier; any other value of such a key (a
  sentence, a hyphenated word) is scanned like text;
- opaque media payloads: base64 data (``data:`` URLs, ``file_data``, ``input_audio.data``, a
  ``{"type": "base64", "data": ...}`` source, ``b64_json``) and encrypted blobs/signatures, reported as
  unscanned. Only the payload itself: its siblings (file names, captions, the rest of the message) are
  walked.

Ids, model names and every other free string are scanned. Some strings hold JSON that the model writes
or reads: tool-call ``arguments``, tool inputs, schemas, and content that parses as a JSON object or
array. Inside those every key and every value is text whatever its name (``"type": "file"`` included);
rewritten JSON strings are re-serialised so they stay valid JSON, and a rewritten object key keeps its
position. Adjacent text parts of one content list are checked as one text so a word split over two
parts is still found (see ``Segment.parts``).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from guard_middleware._engine import JsonRefused, check_json
from guard_middleware.errors import bad_request
from guard_middleware.verdict import JsonPath, ObjectKey, Segment

# Keys whose values are enums or identifiers when they look like one (validated by _IDENTIFIER).
STRUCTURAL_KEYS = frozenset(
    {
        "role",
        "type",
        "object",
        "finish_reason",
        "stop_reason",
        "status",
        "detail",
        "encoding_format",
        "reasoning_effort",
        "effort",
        "service_tier",
        "voice",
        "tool_choice",
        "modalities",
        "media_type",
        "truncation",
        "phase",
        "format",
    }
)
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_./+]{0,63}")
# Memo of _IDENTIFIER for keys and structural values, which repeat on every request ("role", "user",
# "content"): a pure function of the string, bounded so that crafted bodies cannot grow it.
_IDENTIFIERS: dict[str, bool] = {}
_IDENTIFIERS_MAX = 4096


def _is_identifier(text: str) -> bool:
    found = _IDENTIFIERS.get(text)
    if found is None:
        found = _IDENTIFIER.fullmatch(text) is not None
        if len(_IDENTIFIERS) < _IDENTIFIERS_MAX:
            _IDENTIFIERS[text] = found
    return found


# Keys whose string value is an opaque payload wherever it appears.
OPAQUE_KEYS = frozenset(
    {
        "file_data",
        "b64_json",
        "partial_image_b64",
        "encrypted_content",
        "encrypted_index",
        "encrypted_stdout",
        "signature",
    }
)
_AUDIO_HOLDERS = frozenset({"input_audio", "audio"})
# Keys that hold a payload only in some places (``data`` of a base64 source or of audio, ``result`` of
# an image generation call): see ``_is_opaque``.
_CONTEXT_PAYLOAD_KEYS = frozenset({"data", "result"})
# A payload is opaque only if it looks like one: base64 (or base64url) of some length. Anything else
# under a payload key is text and is scanned.
_BASE64 = re.compile(r"[A-Za-z0-9+/=_\-\r\n]{32,}")
_DATA_URL = re.compile(r"data:[\w.+\-/]*(?:;[\w.+\-]+=[\w.+\-]+)*;base64,(?P<payload>.*)", re.DOTALL)
# Keys under which a whole subtree is JSON the model reads or writes: every key and value is text.
JSON_SUBTREE_KEYS = frozenset(
    {"parameters", "input_schema", "schema", "output_schema", "input_examples", "top_logprobs"}
)
# Keys whose string value is (or may be) JSON text: parsed, and walked key by key when it parses.
JSON_STRING_KEYS = frozenset({"arguments"})
# Keys whose string value is JSON when it looks like a JSON object or array (structured output).
MAYBE_JSON_KEYS = frozenset({"content", "text", "output", "input", "refusal"})
# Keys below which text is what the model reads or writes (remote providers are sent these).
CONTENT_KEYS = frozenset(
    {
        "content",
        "text",
        "prompt",
        "refusal",
        "input",
        "instructions",
        "system",
        "thinking",
        "output",
        "arguments",
        "summary",
        "suffix",
        "transcript",
    }
)
TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})


def special_string_keys(opaque: frozenset[str] = frozenset()) -> frozenset[str]:
    """Keys whose string values the walker does not take as plain text: JSON inside, payloads."""
    return JSON_STRING_KEYS | MAYBE_JSON_KEYS | OPAQUE_KEYS | _CONTEXT_PAYLOAD_KEYS | opaque


def walk_rules() -> dict[str, list[str]]:
    """The key lists above, for the engine's walker (``_engine.BodyScanner``), which follows the same
    rules straight from the bytes."""
    return {
        "structural": sorted(STRUCTURAL_KEYS),
        "opaque": sorted(OPAQUE_KEYS),
        "audio_holders": sorted(_AUDIO_HOLDERS),
        "json_subtree": sorted(JSON_SUBTREE_KEYS),
        "json_string": sorted(JSON_STRING_KEYS),
        "maybe_json": sorted(MAYBE_JSON_KEYS),
        "text_part_types": sorted(TEXT_PART_TYPES),
    }


# Paths to leave out of a walk, as a trie: ``{"choices": {0: {"delta": {"content": None}}}}`` skips
# ``choices[0].delta.content``; None marks a skipped subtree. (A trie, not a set of path tuples: a
# stream walks one event per chunk, and building a tuple per key visited is most of that walk's cost.)
Slots = dict[str | int, Any]


def slot_trie(*paths: JsonPath) -> Slots:
    trie: Slots = {}
    for path in paths:
        node = trie
        for p in path[:-1]:
            child = node.get(p)
            if child is None and p in node:
                break  # an ancestor is skipped whole already
            node = node.setdefault(p, {})
        else:
            node[path[-1]] = None
    return trie


_ABSENT: Any = object()


def all_known(node: Any, known: Mapping[str, str], skip: Slots | None = None) -> bool:
    """Whether every string of ``node`` outside ``skip`` (object keys that are not identifiers
    included) is a structural identifier or is in ``known`` unchanged: then a walk would find nothing
    to check or rewrite. The common case of a stream's events, at a fraction of a walk's cost."""
    if type(node) is dict:
        for key, value in node.items():
            sub = skip.get(key, _ABSENT) if skip else _ABSENT
            if sub is None:
                continue
            if known.get(key) != key and not _is_identifier(key):
                return False
            vtype = type(value)
            if vtype is str:
                if known.get(value) == value:
                    continue
                if key in STRUCTURAL_KEYS and _is_identifier(value):
                    continue
                return False
            if (vtype is dict or vtype is list) and not all_known(
                value, known, sub if type(sub) is dict else None
            ):
                return False
        return True
    if type(node) is list:
        for i, value in enumerate(node):
            sub = skip.get(i, _ABSENT) if skip else _ABSENT
            if sub is None:
                continue
            if type(value) is str:
                if known.get(value) != value:
                    return False
            elif not all_known(value, known, sub if type(sub) is dict else None):
                return False
        return True
    return type(node) is not str or known.get(node) == node


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


# Nesting deeper than this is refused (400 invalid_json). No LLM API body nests anywhere near it; the
# walker recurses per level, and Python's json.loads raised RecursionError (a 500) at about 1000 levels
# less the stack in use. A fixed limit makes the refusal deterministic and clear.
MAX_DEPTH = 128


def parse_json(raw: bytes, what: str = "request body") -> Any:
    """Parse UTF-8 JSON strictly: duplicate keys, NaN/Infinity, invalid UTF-8 and unpaired surrogate
    escapes are refused, because the upstream might read them differently from us (which value of a
    duplicate key wins is the classic way to smuggle text past a checker).

    The engine checks all of that (UTF-8, then one scan of the JSON); orjson then builds the value,
    except where it would differ from Python's json module, which builds it instead: integers beyond 64
    bits (orjson makes floats of them) and numbers beyond the double range (orjson refuses them, where
    Python reads inf)."""
    try:
        big_int = check_json(raw, sys.get_int_max_str_digits(), MAX_DEPTH)
    except JsonRefused as exc:
        reason, start, end = exc.args
        raise _refusal(raw, what, reason, start, end) from None
    if not big_int:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw.decode())


def _refusal(raw: bytes, what: str, reason: str, start: int, end: int) -> Exception:
    if reason == "encoding":
        return bad_request(f"The {what} is not valid UTF-8 (byte {start}).", code="invalid_encoding")
    if reason == "surrogate":
        return bad_request("The body contains an unpaired UTF-16 surrogate escape.", code="invalid_encoding")
    if reason == "duplicate":
        key = json.loads(raw[start:end].decode())
        return bad_request(
            f"The {what} has a duplicate JSON key {key!r}; refusing to guess which value counts.",
            code="duplicate_key",
        )
    if reason == "depth":
        return bad_request(f"The {what} nests deeper than {MAX_DEPTH} levels.", code="invalid_json")
    if reason == "constant":
        detail = f"{raw[start:end].decode()} is not valid JSON"
    elif reason == "int_digits":
        detail = f"the integer at byte {start} has more than {sys.get_int_max_str_digits()} digits"
    else:
        detail = f"unexpected input at byte {start}"
    return bad_request(f"The {what} is not valid JSON: {detail}.", code="invalid_json")


def dump_json(obj: Any) -> bytes:
    """Compact UTF-8 JSON. orjson where it writes what Python's json would (the same values, floats in
    their shortest form); Python's json where orjson cannot: integers beyond 64 bits and lone
    surrogates raise in orjson, and a ``null`` in its output may be an infinity it wrote as null."""
    try:
        out = orjson.dumps(obj)
    except orjson.JSONEncodeError:
        pass
    else:
        if b"null" not in out:
            return out
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
    # path of a string holding JSON -> the parsed JSON, walked in place (None: did not parse, scanned raw)
    tool_arguments: dict[JsonPath, Any] = field(default_factory=dict)
    # strings found in ``known`` (already checked elsewhere): their path and checked text, when different
    known: list[tuple[JsonPath, str]] = field(default_factory=list)


def fmt_path(path: JsonPath) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


class _Walker:
    __slots__ = ("default_role", "join", "known", "opaque", "out", "payload_keys", "roles")

    def __init__(
        self,
        roles: Mapping[JsonPath, str],
        default_role: str | None,
        opaque: frozenset[str],
        known: Mapping[str, str] | None = None,
        join: bool = True,
    ) -> None:
        self.out = Extraction()
        self.roles = roles
        self.default_role = default_role
        self.opaque = opaque
        self.payload_keys = OPAQUE_KEYS | _CONTEXT_PAYLOAD_KEYS | opaque
        self.known = known
        self.join = join

    def seen(self, path: list[str | int], value: str) -> bool:
        """A string already checked elsewhere (a stream's echo of text it streamed): not scanned again,
        replaced by its checked version."""
        known = self.known
        if known is None or value not in known:
            return False
        checked = known[value]
        if checked != value:
            self.out.known.append((tuple(path), checked))
        return True

    def add(self, path: Sequence[str | int], text: str, kind: str, parts: tuple[Any, ...] = ()) -> None:
        if text:
            role = self.roles.get((path[0], path[1])) if self.roles and len(path) >= 2 else None
            segment = Segment(tuple(path), text, role or self.default_role, kind, parts)  # type: ignore[arg-type]
            self.out.segments.append(segment)

    def walk(self, node: Any, path: list[str | int], kind: str, skip: Slots | None = None) -> None:
        if isinstance(node, str):
            if self.known is None or not self.seen(path, node):
                self.add(path, node, kind)
        elif isinstance(node, dict):
            self.walk_object(node, path, kind, skip)
        elif isinstance(node, list):
            self.walk_list(node, path, kind, skip)

    def walk_object(
        self, node: dict[str, Any], path: list[str | int], kind: str, skip: Slots | None = None
    ) -> None:
        # The hot loop of every request: locals and type() tests instead of attribute lookups and
        # isinstance chains; the identifier memo is read inline.
        identifiers = _IDENTIFIERS
        for key, value in node.items():
            sub = skip.get(key, _ABSENT) if skip else _ABSENT
            if sub is None:
                continue  # a fragment checked elsewhere (a stream window)
            plain = identifiers.get(key)
            if not (plain or (plain is None and _is_identifier(key))):
                # A key that is not a plain identifier may be text (an address as a metadata key).
                path.append(ObjectKey(key))
                self.add(path, key, kind)
                path.pop()
            path.append(key)
            vtype = type(value)
            child_skip = sub if type(sub) is dict else None
            if vtype is str:
                self.walk_string(node, key, value, path, kind)
            elif key in JSON_SUBTREE_KEYS or (key == "input" and vtype is dict):
                # Schemas and tool inputs: every key and value is model-read (or model-written) text.
                self.walk_all(value, path, "tool_arguments" if key == "input" else kind)
            elif key in self.opaque:
                self.out.unscanned.append(fmt_path(tuple(path)))
            elif vtype is dict:
                self.walk_object(value, path, "content" if key in CONTENT_KEYS else kind, child_skip)
            elif vtype is list:
                self.walk_list(value, path, "content" if key in CONTENT_KEYS else kind, child_skip)
            path.pop()

    def walk_string(
        self, node: dict[str, Any], key: str, value: str, path: list[str | int], kind: str
    ) -> None:
        if key in STRUCTURAL_KEYS:
            plain = _IDENTIFIERS.get(value)
            if plain or (plain is None and _is_identifier(value)):
                return
        if self.known is not None and self.seen(path, value):
            return
        if (key in self.payload_keys or value.startswith("data:")) and _is_opaque(
            key, value, node, path, self.opaque
        ):
            self.out.unscanned.append(fmt_path(tuple(path)))
        elif key in JSON_STRING_KEYS or (key in MAYBE_JSON_KEYS and value[:1] in ("{", "[")):
            self.walk_json_string(value, path, "tool_arguments" if key == "arguments" else "content")
        else:
            self.add(path, value, "content" if key in CONTENT_KEYS else kind)

    def walk_list(self, node: list[Any], path: list[str | int], kind: str, skip: Slots | None = None) -> None:
        run: list[int] = []
        for i, value in enumerate(node):
            sub = skip.get(i, _ABSENT) if skip else _ABSENT
            if sub is None:
                continue
            if (
                self.join
                and isinstance(value, dict)
                and isinstance(value.get("type"), str)
                and value["type"] in TEXT_PART_TYPES
                and isinstance(value.get("text"), str)
                and value["text"][:1] not in ("{", "[")
            ):
                run.append(i)
                continue
            if run:
                self.flush_run(node, run, path, kind)
            path.append(i)
            self.walk(value, path, kind, sub if type(sub) is dict else None)
            path.pop()
        if run:
            self.flush_run(node, run, path, kind)

    def flush_run(self, node: list[Any], run: list[int], path: list[str | int], kind: str) -> None:
        """Adjacent text parts: one segment for their joined text (the model reads them as one), the
        rest of each part walked as usual."""
        texts = [node[i]["text"] for i in run]
        first = (*path, run[0], "text")
        if len(run) == 1:
            self.add(first, texts[0], "content")
        else:
            parts = tuple(((*path, i, "text"), len(t)) for i, t in zip(run, texts, strict=True))
            self.add(first, "".join(texts), "content", parts)
        for i in run:
            path.append(i)
            rest = {k: v for k, v in node[i].items() if k != "text"}
            if len(rest) > 1:
                self.walk_object(rest, path, kind)
            path.pop()
        run.clear()

    def walk_all(self, node: Any, path: list[str | int], kind: str) -> None:
        """Model-written or model-read JSON: every key and every string value, no name skipped."""
        if isinstance(node, str):
            self.add(path, node, kind)
        elif isinstance(node, dict):
            for key, value in node.items():
                path.append(ObjectKey(key))
                self.add(path, key, kind)
                path[-1] = key
                self.walk_all(value, path, kind)
                path.pop()
        elif isinstance(node, list):
            for i, value in enumerate(node):
                path.append(i)
                self.walk_all(value, path, kind)
                path.pop()

    def walk_json_string(self, raw: str, path: list[str | int], kind: str) -> None:
        key = tuple(path)
        try:
            if _too_deep(raw):
                raise ValueError("nested too deep")
            parsed = json.loads(raw, object_pairs_hook=_strict_object, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, (dict, list)) or (parsed is not None and path[-1] in JSON_STRING_KEYS):
            mark = len(self.out.segments)
            try:
                self.walk_all(parsed, path, kind)
            except RecursionError:
                # Nested deeper than Python recurses: checked as the raw text it is (which holds every
                # key and value), like JSON that does not parse, rather than failing the request.
                del self.out.segments[mark:]
            else:
                self.out.tool_arguments[key] = parsed
                return
        if path[-1] in JSON_STRING_KEYS:
            self.out.tool_arguments[key] = None
        self.add(path, raw, kind)


def _too_deep(raw: str) -> bool:
    """JSON text nested deeper than ``MAX_DEPTH``: checked as raw text (which holds every key and value)
    rather than walked, at the same fixed depth as the engine's walk, whatever Python's stack allows."""
    if raw.count("[") + raw.count("{") <= MAX_DEPTH:
        return False
    try:
        check_json(raw.encode("utf-8", "surrogatepass"), 0, MAX_DEPTH)
    except JsonRefused as exc:
        return bool(exc.args[0] == "depth")
    return False


def _is_opaque(
    key: str, value: str, parent: Mapping[str, Any], path: list[str | int], opaque: frozenset[str]
) -> bool:
    """A media payload or encrypted blob that text checks cannot read: only when the key (or a data
    URL) says so *and* the value is base64-shaped."""
    if value.startswith("data:"):
        url = _DATA_URL.match(value[:300])
        return url is not None and _BASE64.fullmatch(value, url.start("payload")) is not None
    if key in OPAQUE_KEYS or key in opaque:
        pass
    elif key == "data":
        if not (parent.get("type") == "base64" or (len(path) >= 2 and path[-2] in _AUDIO_HOLDERS)):
            return False
    elif not (key == "result" and parent.get("type") == "image_generation_call"):
        return False
    return _BASE64.fullmatch(value) is not None


def extract(
    body: Any,
    roles: Mapping[JsonPath, str] | None = None,
    default_role: str | None = None,
    *,
    opaque: frozenset[str] = frozenset(),
    skip: Slots | None = None,
    known: Mapping[str, str] | None = None,
    join: bool = True,
) -> Extraction:
    """Every scannable string of ``body`` with its path. ``roles`` maps a path prefix (e.g.
    ``("messages", 3)``) to the role of everything under it; ``opaque`` names keys a format declares
    to hold payloads that are not text (embedding vectors). For stream events: ``skip`` paths are
    fragments checked by a window, ``known`` maps already-checked strings to their checked text, and
    ``join`` False keeps text parts apart (their streamed copies were checked apart)."""
    walker = _Walker(roles or {}, default_role, opaque, known, join)
    walker.walk(body, [], "other", skip)
    return walker.out


def _get(node: Any, path: Sequence[str | int]) -> Any:
    for p in path:
        node = node[p]
    return node


def _set(node: Any, path: Sequence[str | int], value: Any) -> None:
    _get(node, path[:-1])[path[-1]] = value


class _Renames:
    """Object keys to rewrite, applied after every value write: a value's path names its key as it
    was, so a key renamed first would break the paths below it. Deepest keys go first for the same
    reason."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: list[tuple[Any, JsonPath, str]] = []

    def put(self, root: Any, path: JsonPath, text: str) -> None:
        if isinstance(path[-1], ObjectKey):
            self.pending.append((root, path, text))
        else:
            _set(root, path, text)

    def apply(self, roots: Callable[[Any], bool]) -> None:
        """Apply the pending renames whose root ``roots`` accepts, deepest first."""
        todo = [r for r in self.pending if roots(r[0])]
        self.pending = [r for r in self.pending if not roots(r[0])]
        for root, path, text in sorted(todo, key=lambda r: len(r[1]), reverse=True):
            _rename_key(_get(root, path[:-1]), str(path[-1]), text)


def _rename_key(obj: dict[str, Any], old: str, new: str) -> None:
    if old == new:
        return
    if new in obj:
        # Two keys rewritten to the same text would merge their values: nothing faithful can be sent.
        raise bad_request("Rewriting an object key would collide with another key.", code="rewrite_conflict")
    items = [(new if k == old else k, v) for k, v in obj.items()]
    obj.clear()
    obj.update(items)


def redact_parts(text: str, lengths: Sequence[int], spans: Sequence[tuple[int, int, str]]) -> list[str]:
    """Redact a joined text part by part: ``text`` is the parts joined, ``lengths`` their sizes, and
    ``spans`` offsets into ``text``. Overlapping spans merge as in ``redact_spans``; a region's
    replacement goes to the part where the region starts, and the other parts it covers lose the covered
    text, so the joined result equals the joined text redacted as one."""
    regions: list[list[Any]] = []
    for start, end, repl in sorted(spans, key=lambda s: (s[0], -s[1])):
        if regions and start < regions[-1][1]:
            regions[-1][1] = max(regions[-1][1], end)
            continue
        regions.append([start, end, repl])
    pieces: list[str] = []
    lo = 0
    for n in lengths:
        hi = lo + n
        out: list[str] = []
        cursor = lo
        for start, end, repl in regions:
            if end <= lo or start >= hi:
                continue
            s, e = max(start, lo), min(end, hi)
            out.append(text[cursor:s])
            if start >= lo:
                out.append(repl)
            cursor = e
        out.append(text[cursor:hi])
        pieces.append("".join(out))
        lo = hi
    return pieces


def apply_rewrites(
    body: Any,
    extraction: Extraction,
    new_texts: Mapping[int, str],
    spans: Mapping[int, Sequence[tuple[int, int, str]]] | None = None,
    *,
    clear_logprobs: bool = False,
) -> None:
    """Write ``new_texts`` (segment index -> text) back into ``body`` by path, re-serialising rewritten
    JSON strings so they remain valid JSON.

    A joined segment (``Segment.parts``) is split back over its parts by the local redaction ``spans``;
    when a provider rewrote it as a whole, the first part takes the whole new text and the others become
    empty (the model reads the same text either way). ``clear_logprobs`` (answers): a rewritten text's
    enclosing ``logprobs`` are emptied, since they spell the original tokens."""
    touched: set[JsonPath] = set()
    written: list[JsonPath] = []
    renames = _Renames()
    for index, text in new_texts.items():
        segment = extraction.segments[index]
        if segment.parts:
            for path, piece in _joined_pieces(segment, text, (spans or {}).get(index)):
                _write(body, path, piece, extraction, touched, renames)
        else:
            _write(body, segment.path, text, extraction, touched, renames)
        written.append(segment.path)
    renames.apply(lambda root: root is not body)  # inside JSON strings, before they are serialised
    for key in sorted(touched, key=len, reverse=True):
        _set(body, key, json.dumps(extraction.tool_arguments[key], ensure_ascii=False))
    for path, text in extraction.known:
        _set(body, path, text)
        written.append(path)
    holders = [h for path in written for h in _logprob_holders(body, path)] if clear_logprobs else []
    renames.apply(lambda root: root is body)
    for holder in holders:
        holder["logprobs"] = [] if isinstance(holder["logprobs"], list) else None


def _joined_pieces(
    segment: Segment, text: str, spans: Sequence[tuple[int, int, str]] | None
) -> list[tuple[JsonPath, str]]:
    paths = [p for p, _ in segment.parts]
    lengths = [n for _, n in segment.parts]
    if spans:
        pieces = redact_parts(segment.text, lengths, spans)
        if "".join(pieces) == text:
            return list(zip(paths, pieces, strict=True))
    return [(paths[0], text), *((p, "") for p in paths[1:])]


def _write(
    body: Any, path: JsonPath, text: str, extraction: Extraction, touched: set[JsonPath], renames: _Renames
) -> None:
    key = _json_string_prefix(path, extraction.tool_arguments)
    if key is None:
        renames.put(body, path, text)
        return
    parsed = extraction.tool_arguments[key]
    inner = path[len(key) :]
    if parsed is None:
        _set(body, key, text)  # raw (unparseable) JSON text: the whole value is the segment
        return
    if not inner:
        extraction.tool_arguments[key] = text  # a bare JSON string
    else:
        renames.put(parsed, inner, text)
    touched.add(key)


def _json_string_prefix(path: JsonPath, json_strings: Mapping[JsonPath, Any]) -> JsonPath | None:
    if not json_strings:
        return None
    for cut in range(1, len(path) + 1):
        key = path[:cut]
        if key in json_strings:
            return key
    return None


def _logprob_holders(body: Any, path: JsonPath) -> list[dict[str, Any]]:
    """The objects on ``path`` with non-empty ``logprobs``: they spell the text at ``path``."""
    holders: list[dict[str, Any]] = []
    node = body
    for p in path:
        if isinstance(node, dict) and isinstance(node.get("logprobs"), (list, dict)) and node["logprobs"]:
            holders.append(node)
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            break
    return holders


__all__ = [
    "STRUCTURAL_KEYS",
    "Extraction",
    "apply_rewrites",
    "dump_json",
    "extract",
    "fmt_path",
    "parse_json",
    "special_string_keys",
    "walk_rules",
]
