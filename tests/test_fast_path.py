"""The fast path for whole JSON bodies (``_engine.BodyScanner``) against the exact path.

A clean body is forwarded as it came without a Python walk, so the engine's walk must check every text
the exact path (``formats.body.extract``, then each check on each segment and part) checks. Proven
here three ways:

1. the texts the engine scans equal the exact path's, in order, for random bodies built from the keys
   and values the walker treats specially (structural, opaque, JSON in strings, text-part runs);
2. ``clean`` is True exactly when the exact path's checks find nothing, for random bodies with planted
   blocked words and PII;
3. through the real gateway: clean bodies reach the upstream and the client byte for byte, and what
   only the exact path can settle (a word split over two parts, deep tool schemas, a memoised text
   under another guardrail set) is still caught.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guard_middleware._engine import BodyScanner, Literals, PiiScanner
from guard_middleware.checks.blocklist import build_blocklist
from guard_middleware.checks.pii import PII_TYPES, PiiCheck
from guard_middleware.formats.body import extract, parse_json, walk_rules
from tests.conftest import Stack
from tests.test_every_field import Upstream, raw_answer

B64 = base64.b64encode(bytes(range(48))).decode()
BLOCKED = "forbidden"

KEYS = [
    "role",
    "type",
    "content",
    "text",
    "data",
    "result",
    "arguments",
    "parameters",
    "input",
    "audio",
    "input_audio",
    "file_data",
    "signature",
    "embedding",
    "messages",
    "output",
    "schema",
    "name",
    "status",
    "Odd Key",
    "x.y",
    "ÄKey",
    "jane@example.com",
]
STRINGS = [
    "",
    "user",
    "text",
    "input_text",
    "output_text",
    "base64",
    "image_generation_call",
    "object",
    "Not an id",
    "hello there",
    "say forbidden things",
    "forbid",
    "den",
    "mail jane.doe@example.com now",
    "jane.doe@",
    "example.com",
    "call 415-555-0132",
    "é ünïcödé ｆｏｒｂｉｄｄｅｎ",
    "tab\there\nnewline",
    B64,
    "data:image/png;base64," + B64,
    "data:audio/wav;rate=8000;base64," + B64,
    "data:text/plain;base64,short",
    "data:;base64," + B64 + "!",
    '{"a": "forbidden"}',
    '[1, "x", null]',
    '{"type": "k", "k": null}',
    '{"a":"\\u0066orbidden"}',
    '{"a": 1, "a": 2}',
    '{"a": NaN}',
    "null",
    "42",
    '"quoted forbidden"',
    "{bad",
    "[",
    "{}",
]


def _part() -> st.SearchStrategy[dict[str, Any]]:
    extra = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(STRINGS), max_size=2)
    return st.builds(
        lambda kind, text, more: {**more, "type": kind, "text": text},
        st.sampled_from(["text", "input_text", "output_text", "image_url"]),
        st.sampled_from(STRINGS),
        extra,
    )


_leaves = st.one_of(
    st.sampled_from(STRINGS),
    st.integers(-5, 5),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
)
_values = st.recursive(
    _leaves | _part(),
    lambda inner: (
        st.lists(inner | _part(), max_size=5) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=25,
)
_bodies = st.dictionaries(st.sampled_from(KEYS), _values, min_size=1, max_size=6)


def scanner(checks: list[Any], opaque: frozenset[str] = frozenset()) -> BodyScanner:
    natives = [c.native() for c in checks]
    return BodyScanner(
        [n for n in natives if isinstance(n, Literals)],
        [n for n in natives if isinstance(n, PiiScanner)],
        rules=walk_rules(),
        format_opaque=sorted(opaque),
    )


def exact_texts(body: Any, opaque: frozenset[str] = frozenset()) -> list[str]:
    """What the exact path checks: each segment's text, and a joined segment's parts before it."""
    out: list[str] = []
    for seg in extract(body, opaque=opaque).segments:
        offset = 0
        for _, length in seg.parts:
            out.append(seg.text[offset : offset + length])
            offset += length
        out.append(seg.text)
    return [t for t in out if t]


DIGITS = sys.get_int_max_str_digits()
BLOCKLIST = build_blocklist({"patterns": [{"pattern": BLOCKED}, {"pattern": "ünï"}]}, name="bl", key="bl")
PII = PiiCheck("pii", PII_TYPES)
WALK_ONLY = scanner([])  # no checks: for comparing the walk itself


def raw_of(body: Any, ascii_only: bool) -> bytes:
    raw = json.dumps(body, ensure_ascii=ascii_only).encode()
    parse_json(raw)  # the fast path runs only on bodies the strict parser accepted
    return raw


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_bodies, ascii_only=st.booleans(), answer=st.booleans())
def test_engine_walk_scans_exactly_the_exact_paths_texts(
    body: dict[str, Any], ascii_only: bool, answer: bool
) -> None:
    opaque = frozenset({"embedding"}) if answer else frozenset()
    walker = scanner([], opaque) if answer else WALK_ONLY
    texts = walker.texts(raw_of(body, ascii_only), DIGITS)
    if texts is None:
        return  # the walk handed the body to the exact path: allowed only for the shapes below
    assert texts == exact_texts(body, opaque)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_bodies, ascii_only=st.booleans())
def test_clean_exactly_when_the_exact_path_finds_nothing(body: dict[str, Any], ascii_only: bool) -> None:
    fast = scanner([BLOCKLIST, PII])
    found = any(BLOCKLIST.find(t) or PII.find(t) for t in exact_texts(body))
    assert fast.clean(raw_of(body, ascii_only), DIGITS) is not found


def test_shapes_only_the_exact_path_settles() -> None:
    body = {"arguments": '{"a": "\\ud800"}'}  # Python parses the lone surrogate; its walk decides
    assert WALK_ONLY.texts(raw_of(body, True), DIGITS) is None
    assert not scanner([BLOCKLIST]).clean(raw_of(body, True), DIGITS)


def test_json_in_strings_nested_deeper_than_the_limit_is_scanned_raw_by_both_walks() -> None:
    body = {"arguments": "[" * 200 + '"x"' + "]" * 200}
    assert WALK_ONLY.texts(raw_of(body, True), DIGITS) == exact_texts(body) == [body["arguments"]]


def test_a_data_url_with_unicode_in_its_media_type_is_scanned() -> None:
    # Python's \w takes "ä": the exact path skips the payload. The engine reads \w as ASCII and scans
    # it: a false alarm at worst, never a skipped text.
    body = {"u": "data:imäge/png;base64," + B64}
    assert extract(body).segments == []
    assert WALK_ONLY.texts(raw_of(body, False), DIGITS) == [body["u"]]


def test_memo_is_per_scanner_and_only_remembers_clean_texts() -> None:
    text = "a message long enough to be remembered by the memo, " * 2
    clean = json.dumps({"content": text}).encode()
    pii_only = scanner([PII])
    assert pii_only.clean(clean, DIGITS) and pii_only.clean(clean, DIGITS)
    dirty = json.dumps({"content": text + BLOCKED}).encode()
    both = scanner([PII, BLOCKLIST])
    assert not both.clean(dirty, DIGITS) and not both.clean(dirty, DIGITS)
    assert both.clean(clean, DIGITS)


# --- through the gateway ---------------------------------------------------------------------------

POLICY: dict[str, Any] = {
    "input": {"providers": [{"type": "blocklist", "patterns": [{"pattern": BLOCKED}]}]},
    "output": {"providers": [{"type": "blocklist", "patterns": [{"pattern": BLOCKED}]}]},
    "pii": {"action": "redact", "apply_to": "both", "replacement": "[PII]"},
    "guardrails": [
        {
            "name": "extra",
            "type": "blocklist",
            "mode": "pre_call",
            "patterns": [{"pattern": "secret project"}],
        }
    ],
}
ODD = (
    b'{ "model" : "m",\n  "messages": [ {"role":"user", "content":"caf\\u00e9 \\/ hello \\ud83d\\ude00"} ],'
    b' "max_tokens": 1.50e1 }'
)
ODD_ANSWER = (
    b'{"id":"x", "object":"chat.completion","created":1,"model":"m",\n "choices":[{"index":0,'
    b'"finish_reason":"stop","message":{"role":"assistant","content":"caf\\u00e9 fine"}}]}'
)


async def _post(s: Stack, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    async with s.session.post(
        f"{s.url}/v1/chat/completions",
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
    ) as resp:
        return resp.status, await resp.read()


async def test_clean_bodies_pass_byte_for_byte_both_ways(make_stack: Any) -> None:
    upstream = Upstream(raw_answer(ODD_ANSWER, status=200, content_type="application/json"))
    async with make_stack(POLICY, upstream_app=upstream.app()) as s:
        status, answer = await _post(s, ODD)
    assert status == 200
    assert upstream.bodies == [ODD]
    assert answer == ODD_ANSWER


async def test_what_only_the_exact_path_settles_is_still_caught(make_stack: Any) -> None:
    upstream = Upstream()
    parts = [{"type": "text", "text": "for"}, {"type": "text", "text": "bidden"}]
    deep_schema = {
        "type": "function",
        "function": {
            "name": "f",
            "parameters": {
                "type": "object",
                "properties": {"x": {"type": "string", "description": "forbidden"}},
            },
        },
    }
    async with make_stack(POLICY, upstream_app=upstream.app()) as s:
        split = json.dumps({"model": "m", "messages": [{"role": "user", "content": parts}]}).encode()
        assert (await _post(s, split))[0] == 400
        schema = json.dumps(
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [deep_schema]}
        )
        assert (await _post(s, schema.encode()))[0] == 400
        pii = json.dumps(
            {"model": "m", "messages": [{"role": "user", "content": "mail jane.doe@example.com"}]}
        )
        assert (await _post(s, pii.encode()))[0] == 200
    assert upstream.bodies == [
        json.dumps(
            {"model": "m", "messages": [{"role": "user", "content": "mail [PII]"}]}, separators=(",", ":")
        ).encode()
    ]


async def test_a_text_remembered_clean_is_checked_again_under_more_guardrails(make_stack: Any) -> None:
    upstream = Upstream()
    text = "we should talk about the secret project soon, before the next planning meeting"
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()
    async with make_stack(POLICY, upstream_app=upstream.app()) as s:
        assert (await _post(s, body))[0] == 200
        assert (await _post(s, body))[0] == 200
        status, answer = await _post(s, body, {"X-Guardrails": "extra"})
    assert status == 400 and b"blocked" in answer
    assert upstream.bodies == [body, body]


@pytest.mark.parametrize("depth", [200, 5000])
async def test_tool_arguments_nested_deeper_than_python_recurses_are_still_checked(
    make_stack: Any, depth: int
) -> None:
    # The engine leaves JSON nested deeper than 128 inside a string to the exact path; Python's parser
    # and walk recurse per level and gave up (a 500) somewhere near 1,000: the text is checked raw.
    upstream = Upstream()

    def body(word: str) -> bytes:
        arguments = "[" * depth + json.dumps(word) + "]" * depth
        call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
        messages = [{"role": "assistant", "content": None, "tool_calls": [call]}]
        return json.dumps({"model": "m", "messages": messages}).encode()

    async with make_stack(POLICY, upstream_app=upstream.app()) as s:
        blocked = await _post(s, body(f"say {BLOCKED}"))
        passed = await _post(s, body("say hello"))
    assert blocked[0] == 400 and b"blocked" in blocked[1]
    assert passed[0] == 200 and upstream.bodies == [body("say hello")]
