from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard_middleware.formats.chat_stream import (
    Channel,
    Delta,
    StreamFormatError,
    ToolCallTracker,
    finish_reasons,
    iter_deltas,
    make_chunk,
    rebuild,
)


def chunk(*choices: dict[str, Any], **top: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-x",
        "system_fingerprint": "fp_1",
        "choices": list(choices),
    }
    base.update(top)
    return base


def choice(index: int = 0, finish_reason: str | None = None, **delta: Any) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def tool(
    index: int, *, id: str | None = None, name: str | None = None, args: str | None = None
) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index}
    if id is not None:
        call["id"] = id
        call["type"] = "function"
    fn: dict[str, Any] = {}
    if name is not None:
        fn["name"] = name
    if args is not None:
        fn["arguments"] = args
    if fn:
        call["function"] = fn
    return call


def test_content_deltas_are_reported_on_the_choice_content_channel() -> None:
    c = chunk(choice(0, role="assistant", content="Hel"), choice(1, content="Bon"))
    assert iter_deltas(c) == [Delta(Channel(0, "content"), "Hel"), Delta(Channel(1, "content"), "Bon")]


def test_a_null_content_or_empty_delta_carries_no_text() -> None:
    assert iter_deltas(chunk(choice(0, content=None), choice(1, finish_reason="stop"))) == []


def test_an_empty_string_is_reported_so_the_channel_is_known_to_exist() -> None:
    assert iter_deltas(chunk(choice(0, role="assistant", content=""))) == [Delta(Channel(0, "content"), "")]


def test_refusal_and_reasoning_have_their_own_channels() -> None:
    c = chunk(choice(0, refusal="I can't", reasoning_content="think", reasoning="more"))
    assert [d.channel.kind for d in iter_deltas(c)] == ["refusal", "reasoning_content", "reasoning"]


def test_completions_stream_text_is_the_text_channel() -> None:
    c = {"object": "text_completion", "choices": [{"index": 0, "text": "abc", "finish_reason": None}]}
    assert iter_deltas(c) == [Delta(Channel(0, "text"), "abc")]


def test_tool_call_id_name_and_argument_fragments_are_separate_channels() -> None:
    c = chunk(choice(0, tool_calls=[tool(0, id="call_1", name="lookup", args=""), tool(1, args='{"q"')]))
    assert iter_deltas(c) == [
        Delta(Channel(0, "tool_id", 0), "call_1"),
        Delta(Channel(0, "tool_name", 0), "lookup"),
        Delta(Channel(0, "tool_arguments", 0), ""),
        Delta(Channel(0, "tool_arguments", 1), '{"q"'),
    ]


def test_legacy_function_call_fragments_are_reported() -> None:
    c = chunk(choice(0, function_call={"name": "f", "arguments": "{}"}))
    assert [(d.channel.kind, d.text) for d in iter_deltas(c)] == [
        ("function_name", "f"),
        ("function_arguments", "{}"),
    ]


def test_usage_only_chunks_have_no_deltas() -> None:
    assert iter_deltas({"id": "x", "choices": [], "usage": {"total_tokens": 3}}) == []
    assert iter_deltas({"id": "x", "usage": {"total_tokens": 3}}) == []


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"choices": {"0": {}}},
        {"choices": ["x"]},
        {"choices": [{"index": 0, "delta": "hi"}]},
        {"choices": [{"index": 0, "delta": {"content": ["a"]}}]},
        {"choices": [{"index": 0, "delta": {"content": 5}}]},
        {"choices": [{"index": "0", "delta": {}}]},
        {"choices": [{"index": True, "delta": {}}]},
        {"choices": [{"index": 0, "delta": {}}, {"index": 0, "delta": {}}]},
        {"choices": [{"index": 0, "text": 3}]},
        {"choices": [{"index": 0, "finish_reason": 1}]},
        {"choices": [{"index": 0, "message": {"content": "whole"}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": {"index": 0}}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"function": {"arguments": "{}"}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": "f"}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": {}}}]}}]},
        {"choices": [{"index": 0, "delta": {"audio": {"transcript": "spoken text"}}}]},
        {"choices": [{"index": 0, "delta": {"vendor_text": "unknown"}}]},
    ],
)
def test_chunks_whose_shape_is_not_understood_raise_stream_format_error(bad: Any) -> None:
    with pytest.raises(StreamFormatError):
        iter_deltas(bad)


def test_unknown_delta_keys_without_text_are_tolerated() -> None:
    c = chunk(choice(0, content="x", annotations=[], vendor_flag=True, vendor_score=0.5))
    assert iter_deltas(c) == [Delta(Channel(0, "content"), "x")]


def test_a_caller_can_accept_a_named_unknown_key_unscanned() -> None:
    c = chunk(choice(0, content="x", annotations=[{"type": "url_citation"}]))
    assert iter_deltas(c, allow_unscanned={"annotations"}) == [Delta(Channel(0, "content"), "x")]


def test_rebuild_replaces_text_and_keeps_everything_else() -> None:
    original = chunk(
        choice(0, role="assistant", content="my sk-abc"),
        choice(1, content="other"),
        usage=None,
        service_tier="default",
    )
    snapshot = copy.deepcopy(original)
    out = rebuild(original, {Channel(0, "content"): "my [SECRET]"})
    assert original == snapshot
    expected = copy.deepcopy(original)
    expected["choices"][0]["delta"]["content"] = "my [SECRET]"
    assert out == expected


def test_rebuild_with_no_replacements_is_an_equal_copy() -> None:
    original = chunk(choice(0, content="x"))
    out = rebuild(original, {})
    assert out == original and out is not original


def test_rebuild_replaces_tool_arguments_name_and_id_by_tool_index() -> None:
    original = chunk(choice(0, tool_calls=[tool(0, id="c0", name="a", args="{"), tool(1, args='"x"')]))
    out = rebuild(
        original,
        {
            Channel(0, "tool_arguments", 1): "",
            Channel(0, "tool_name", 0): "b",
            Channel(0, "tool_id", 0): "c9",
        },
    )
    calls = out["choices"][0]["delta"]["tool_calls"]
    assert calls[0] == {
        "index": 0,
        "id": "c9",
        "type": "function",
        "function": {"name": "b", "arguments": "{"},
    }
    assert calls[1] == {"index": 1, "function": {"arguments": ""}}
    assert original["choices"][0]["delta"]["tool_calls"][1]["function"]["arguments"] == '"x"'


def test_rebuild_adds_held_text_to_a_chunk_that_did_not_carry_the_channel() -> None:
    out = rebuild(chunk(choice(0, finish_reason="stop")), {Channel(0, "content"): "tail"})
    assert out["choices"][0]["delta"] == {"content": "tail"}
    assert out["choices"][0]["finish_reason"] == "stop"


def test_rebuild_with_empty_text_for_an_absent_channel_adds_nothing() -> None:
    out = rebuild(chunk(choice(0, finish_reason="stop")), {Channel(0, "content"): ""})
    assert out["choices"][0]["delta"] == {}


def test_rebuild_of_completion_text_replaces_the_text_field() -> None:
    c = {"object": "text_completion", "choices": [{"index": 0, "text": "abc", "finish_reason": None}]}
    assert rebuild(c, {Channel(0, "text"): "xyz"})["choices"][0]["text"] == "xyz"


def test_rebuild_drops_logprobs_of_rewritten_content_because_they_spell_out_the_original() -> None:
    c = chunk({"index": 0, "delta": {"content": "sk"}, "logprobs": {"content": [{"token": "sk"}]}})
    assert rebuild(c, {Channel(0, "content"): ""})["choices"][0]["logprobs"] is None


def test_rebuild_of_a_choice_the_chunk_lacks_is_an_error() -> None:
    with pytest.raises(ValueError):
        rebuild(chunk(choice(0, content="x")), {Channel(3, "content"): "y"})


def test_make_chunk_carries_one_channel_with_the_template_identity() -> None:
    template = chunk(choice(0, content="a", finish_reason="stop"), choice(1, content="b"), usage=None)
    out = make_chunk(template, Channel(1, "content"), "held text")
    assert out == {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-x",
        "system_fingerprint": "fp_1",
        "usage": None,
        "choices": [{"index": 1, "delta": {"content": "held text"}, "logprobs": None, "finish_reason": None}],
    }


def test_make_chunk_does_not_repeat_usage_counts() -> None:
    template = chunk(usage={"total_tokens": 9})
    assert make_chunk(template, Channel(0, "content"), "x")["usage"] is None


def test_make_chunk_for_tool_arguments_and_completion_text() -> None:
    tool_out = make_chunk(chunk(), Channel(0, "tool_arguments", 2), '{"a":1}')
    call = {"index": 2, "function": {"arguments": '{"a":1}'}}
    assert tool_out["choices"][0]["delta"] == {"tool_calls": [call]}
    text_out = make_chunk({"id": "c", "object": "text_completion"}, Channel(0, "text"), "t")
    assert text_out["choices"] == [{"index": 0, "text": "t", "logprobs": None, "finish_reason": None}]


def test_a_made_chunk_parses_back_to_the_same_delta() -> None:
    channels = [Channel(0, "content"), Channel(2, "refusal"), Channel(0, "tool_name", 1), Channel(0, "text")]
    for channel in channels:
        assert iter_deltas(make_chunk(chunk(), channel, "piece")) == [Delta(channel, "piece")]


def test_finish_reasons_maps_choice_index_to_reason() -> None:
    assert finish_reasons(chunk(choice(0, finish_reason="tool_calls"), choice(1))) == {0: "tool_calls"}


def test_a_tool_call_is_complete_when_the_next_index_appears() -> None:
    tracker = ToolCallTracker()
    assert tracker.update(chunk(choice(0, tool_calls=[tool(0, id="a", name="f", args="")]))) == []
    assert tracker.update(chunk(choice(0, tool_calls=[tool(0, args="{}")]))) == []
    assert tracker.update(chunk(choice(0, tool_calls=[tool(1, id="b", name="g")]))) == [(0, 0)]
    assert tracker.open_calls == [(0, 1)]


def test_a_tool_call_is_complete_when_its_choice_finishes() -> None:
    tracker = ToolCallTracker()
    tracker.update(chunk(choice(0, tool_calls=[tool(0, args="{")])))
    assert tracker.update(chunk(choice(0, finish_reason="tool_calls"))) == [(0, 0)]
    assert tracker.open_calls == []


def test_two_calls_in_one_chunk_close_the_first() -> None:
    tracker = ToolCallTracker()
    assert tracker.update(chunk(choice(0, tool_calls=[tool(0, args="{}"), tool(1, args="{")]))) == [(0, 0)]


def test_calls_of_different_choices_are_tracked_separately() -> None:
    tracker = ToolCallTracker()
    first = [tool(0, args="{")]
    tracker.update(chunk(choice(0, tool_calls=first), choice(1, tool_calls=first)))
    assert tracker.update(chunk(choice(1, finish_reason="tool_calls"))) == [(1, 0)]
    assert tracker.close_all() == [(0, 0)]


def test_the_legacy_function_call_closes_on_finish_reason() -> None:
    tracker = ToolCallTracker()
    tracker.update(chunk(choice(0, function_call={"name": "f", "arguments": ""})))
    assert tracker.update(chunk(choice(0, finish_reason="function_call"))) == [(0, None)]


def test_a_tool_call_that_resumes_after_it_ended_is_a_format_error() -> None:
    tracker = ToolCallTracker()
    tracker.update(chunk(choice(0, tool_calls=[tool(0, args="{")])))
    tracker.update(chunk(choice(0, tool_calls=[tool(1, args="{")])))
    with pytest.raises(StreamFormatError):
        tracker.update(chunk(choice(0, tool_calls=[tool(0, args="}")])))


_piece = st.none() | st.text(max_size=5)
_tool_calls = st.lists(
    st.builds(tool, st.integers(0, 5), id=_piece, name=_piece, args=_piece),
    max_size=3,
    unique_by=lambda c: c["index"],
)
_choices = st.lists(
    st.builds(choice, st.integers(0, 4), st.none() | st.just("stop"), content=_piece, refusal=_piece,
              tool_calls=st.none() | _tool_calls),
    max_size=3,
    unique_by=lambda c: c["index"],
)


@settings(max_examples=200, deadline=None)
@given(_choices)
def test_rebuilding_every_channel_with_its_own_text_gives_the_chunk_back(
    choices: list[dict[str, Any]],
) -> None:
    original = chunk(*choices)
    same = {d.channel: d.text for d in iter_deltas(original)}
    assert len(same) == len(iter_deltas(original))
    assert rebuild(original, same) == original


@settings(max_examples=200, deadline=None)
@given(_choices, st.text(min_size=1, max_size=5))
def test_a_rebuilt_chunk_reports_exactly_the_replacement_text(
    choices: list[dict[str, Any]], text: str
) -> None:
    original = chunk(*choices)
    replaced = {d.channel: text for d in iter_deltas(original)}
    assert iter_deltas(rebuild(original, replaced)) == [Delta(c, text) for c in replaced]
