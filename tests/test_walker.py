"""The body walker: what counts as text, what as an opaque payload. Pure, plain data in and out."""

from __future__ import annotations

import json

import pytest

from guard_middleware.errors import GuardRejection
from guard_middleware.formats.body import apply_rewrites, extract, parse_json
from guard_middleware.formats.responses import ResponsesFormat
from guard_middleware.sse import SSEEvent

EMAIL = "jane.doe@example.com"
B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"


def texts(body: object) -> list[str]:
    return [s.text for s in extract(body).segments]


def test_a_data_url_is_opaque_only_when_its_payload_is_base64() -> None:
    assert texts({"url": f"data:image/png;base64,{B64}"}) == []
    assert f"data:x;base64, {EMAIL}" in texts({"content": f"data:x;base64, {EMAIL}"})


def test_payload_keys_hold_text_unless_the_value_is_base64_shaped() -> None:
    for body in (
        {"signature": EMAIL},
        {"input_audio": {"data": EMAIL, "format": "wav"}},
        {"type": "image_generation_call", "result": EMAIL},
        {"file": {"file_data": EMAIL}},
    ):
        assert EMAIL in texts(body), body
    extraction = extract({"input_audio": {"data": B64}, "signature": B64})
    assert extraction.segments == []
    assert extraction.unscanned == ["input_audio.data", "signature"]


def test_object_keys_that_are_not_identifiers_are_text_and_are_rewritten_in_place() -> None:
    body = {"metadata": {EMAIL: "x", "plain_key": "y"}}
    extraction = extract(body)
    index = next(i for i, s in enumerate(extraction.segments) if s.text == EMAIL)
    apply_rewrites(body, extraction, {index: "[PII]"})
    assert list(body["metadata"]) == ["[PII]", "plain_key"]


def test_structural_values_are_skipped_only_when_they_look_like_identifiers() -> None:
    assert texts({"type": "input_text", "role": "user"}) == []
    assert texts({"type": "competitor-name", "finish_reason": f"stop {EMAIL}"}) == [
        "competitor-name",
        f"stop {EMAIL}",
    ]


def test_responses_delta_padding_is_checked_as_text() -> None:
    fmt = ResponsesFormat()
    request = fmt.parse_request({"model": "m", "input": "hi", "stream": True}, "/v1/responses")
    event = {
        "type": "response.output_text.delta",
        "sequence_number": 3,
        "item_id": "msg_1",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hi",
        "obfuscation": EMAIL,
    }
    plan = fmt.stream_model(request).plan(SSEEvent(data="{}"), event)
    assert plan.slots is not None and "obfuscation" not in plan.slots
    assert EMAIL in [s.text for s in extract(event, skip=plan.slots).segments]


def test_a_key_and_the_values_below_it_are_rewritten_together() -> None:
    body = {
        "metadata": {EMAIL: {"inner": EMAIL, EMAIL: "x"}},
        "tool_calls": [{"function": {"arguments": f'{{"{EMAIL}": {{"{EMAIL}": "{EMAIL}"}}}}'}}],
    }
    extraction = extract(body)
    rewrites = {i: "[PII]" for i, s in enumerate(extraction.segments) if s.text == EMAIL}
    assert len(rewrites) == 6
    apply_rewrites(body, extraction, rewrites)
    assert body["metadata"] == {"[PII]": {"inner": "[PII]", "[PII]": "x"}}
    arguments = body["tool_calls"][0]["function"]["arguments"]  # type: ignore[index]
    assert json.loads(arguments) == {"[PII]": {"[PII]": "[PII]"}}


def test_only_unpaired_surrogate_escapes_are_refused() -> None:
    assert parse_json(b'{"t": "\\ud83d\\ude00 and \\\\ud800 as text"}') == {
        "t": "\U0001f600 and \\ud800 as text"
    }
    for raw in (b'{"t": "\\ud800"}', b'{"t": "\\udc00x"}', b'{"t": "\\ude00\\ud83d"}'):
        with pytest.raises(GuardRejection) as info:
            parse_json(raw)
        assert info.value.body["error"]["code"] == "invalid_encoding"


def test_a_part_whose_type_is_not_a_string_is_walked_not_a_crash() -> None:
    assert texts({"content": [{"type": ["text"], "text": EMAIL}]}) == ["text", EMAIL]
