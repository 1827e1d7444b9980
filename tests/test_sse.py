from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard_middleware.sse import SSEError, SSEEvent, SSEParser, encode


def parse_all(data: bytes, cuts: list[int] | None = None, **kwargs: int) -> list[SSEEvent]:
    parser = SSEParser(**kwargs)
    events: list[SSEEvent] = []
    last = 0
    for cut in sorted(cuts or []):
        events += parser.feed(data[last:cut])
        last = cut
    events += parser.feed(data[last:])
    events += parser.flush()
    return events


def test_two_openai_events_and_done_in_one_feed_are_all_returned() -> None:
    data = b'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n'
    events = parse_all(data)
    assert [e.data for e in events] == ['{"a":1}', '{"b":2}', "[DONE]"]
    assert events[-1].is_done and not events[0].is_done


def test_an_event_split_across_feeds_is_returned_once_it_is_terminated() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: hel") == []
    assert parser.feed(b"lo\n") == []
    assert parser.feed(b"\n") == [SSEEvent(data="hello")]


def test_crlf_lf_and_cr_line_ends_all_terminate_lines_and_events() -> None:
    assert parse_all(b"data: a\r\n\r\ndata: b\n\ndata: c\r\rdata: d\r\n\n") == [
        SSEEvent(data=x) for x in "abcd"
    ]


def test_crlf_split_between_feeds_does_not_count_as_a_blank_line() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\ndata: b\r") == []
    assert parser.feed(b"\n\r\n") == [SSEEvent(data="a\nb")]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert parse_all(b"data: one\ndata:two\ndata\n\n") == [SSEEvent(data="one\ntwo\n")]


def test_only_one_space_after_the_colon_is_stripped() -> None:
    assert parse_all(b"data:  x\n\n") == [SSEEvent(data=" x")]


def test_event_id_retry_and_comments_are_kept_for_re_encoding() -> None:
    data = b": keep-alive\nevent: delta\nid: 7\nretry: 1500\ndata: x\n\n"
    assert parse_all(data) == [
        SSEEvent(data="x", event="delta", id="7", retry=1500, comments=(" keep-alive",))
    ]


def test_a_comment_only_block_is_returned_so_keep_alives_can_be_forwarded() -> None:
    assert parse_all(b": ping\n\n") == [SSEEvent(comments=(" ping",))]


def test_invalid_retry_unknown_fields_and_ids_with_nul_are_ignored() -> None:
    assert parse_all(b"retry: 1s\nfoo: bar\nid: a\x00b\ndata: x\n\n") == [SSEEvent(data="x")]


def test_blank_lines_without_fields_dispatch_nothing() -> None:
    assert parse_all(b"\n\n\r\n\ndata: x\n\n\n\n") == [SSEEvent(data="x")]


def test_a_leading_bom_is_dropped_even_when_split_across_feeds() -> None:
    assert parse_all(b"\xef\xbb\xbfdata: x\n\n", cuts=[1, 2]) == [SSEEvent(data="x")]


def test_a_bom_after_the_start_is_part_of_the_text() -> None:
    assert parse_all(b"data: \xef\xbb\xbfx\n\n") == [SSEEvent(data="\ufeffx")]


def test_multibyte_utf8_split_across_feeds_decodes_correctly() -> None:
    data = "data: héllo €\n\n".encode()
    assert parse_all(data, cuts=list(range(1, len(data)))) == [SSEEvent(data="héllo €")]


def test_invalid_utf8_raises_sse_error() -> None:
    with pytest.raises(SSEError):
        SSEParser().feed(b"data: \xff\n\n")


def test_stream_ending_inside_a_utf8_sequence_raises_sse_error() -> None:
    parser = SSEParser()
    parser.feed(b"data: \xe2\x82")
    with pytest.raises(SSEError):
        parser.flush()


def test_an_event_larger_than_the_bound_raises_even_without_a_line_break() -> None:
    parser = SSEParser(max_event_size=100)
    parser.feed(b"data: " + b"x" * 90)
    with pytest.raises(SSEError):
        parser.feed(b"x" * 20)


def test_many_short_lines_of_one_event_count_towards_the_bound() -> None:
    parser = SSEParser(max_event_size=100)
    with pytest.raises(SSEError):
        parser.feed(b"data: x\n" * 20)


def test_the_bound_applies_per_event_not_to_the_whole_stream() -> None:
    assert len(parse_all(b"data: 0123456789\n\n" * 50, max_event_size=40)) == 50


def test_flush_returns_an_unterminated_event_that_has_data() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"a":1}\n\ndata: {"b"') == [SSEEvent(data='{"a":1}')]
    assert parser.flush() == [SSEEvent(data='{"b"')]


def test_flush_drops_an_unterminated_block_without_data() -> None:
    parser = SSEParser()
    parser.feed(b"data: x\n\n: trailing comment\nid: 3")
    assert parser.flush() == []


def test_feed_after_flush_is_refused() -> None:
    parser = SSEParser()
    parser.flush()
    with pytest.raises(SSEError):
        parser.feed(b"data: x\n\n")


def test_encode_emits_lf_framed_fields_and_a_blank_line() -> None:
    event = SSEEvent(data="a\nb", event="e", id="1", retry=10, comments=(" c",))
    assert encode(event) == b": c\nevent: e\nid: 1\nretry: 10\ndata: a\ndata: b\n\n"


def test_encode_of_an_empty_event_is_empty() -> None:
    assert encode(SSEEvent()) == b""


def test_encode_refuses_a_line_break_in_the_event_name() -> None:
    with pytest.raises(ValueError):
        encode(SSEEvent(data="x", event="a\nb"))


def test_encode_keeps_leading_spaces_of_data_lines() -> None:
    assert parse_all(encode(SSEEvent(data="  two spaces\n\tx"))) == [SSEEvent(data="  two spaces\n\tx")]


_line_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)
_events = st.builds(
    SSEEvent,
    data=st.none() | st.lists(_line_text, min_size=1, max_size=3).map("\n".join),
    event=st.none() | _line_text,
    id=st.none() | _line_text.filter(lambda s: "\x00" not in s),
    retry=st.none() | st.integers(0, 10**6),
    comments=st.lists(_line_text, max_size=2).map(tuple),
).filter(lambda e: encode(e) != b"")
_eol = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def _wire(draw: st.DrawFn) -> tuple[bytes, list[SSEEvent]]:
    """A stream with mixed line ends, plus the events it must parse to."""
    events = draw(st.lists(_events, min_size=1, max_size=5))
    parts: list[str] = []
    prev = ""
    for event in events:
        for line in encode(event).decode().split("\n")[:-1]:
            eol = draw(_eol)
            if prev == "\r" and not line and eol == "\n":
                # CR then an empty line ended by LF is one CRLF on the wire, not a blank line
                eol = "\r\n"
            parts.append(line + eol)
            prev = eol
    bom = draw(st.booleans())
    return ("\ufeff" if bom else "").encode() + "".join(parts).encode(), events


@settings(max_examples=300, deadline=None)
@given(_wire(), st.data())
def test_any_split_of_a_stream_yields_the_same_events_as_the_whole(
    wire: tuple[bytes, list[SSEEvent]], data: st.DataObject
) -> None:
    raw, expected = wire
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=12))
    whole = parse_all(raw)
    assert whole == expected
    assert parse_all(raw, cuts) == whole


@settings(max_examples=200, deadline=None)
@given(_events)
def test_encoding_then_parsing_gives_the_event_back(event: SSEEvent) -> None:
    assert parse_all(encode(event)) == [event]
