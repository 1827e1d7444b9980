# look-alike characters are the point of these tests
"""The blocklist's folding of what a reader cannot tell apart (``fold="blocklist"``) and the PII
folding (``fold="pii"``), through the public ``BlocklistCheck`` and the middleware: look-alikes,
dashes, marks and invisible characters are found, redaction replaces exactly the original span,
ordinary text gets no new matches, and the stream hold-back stays sound.

The rules live in the engine (``rust/src/normalize.rs``, ``rust/src/unicode.rs``); these are table
and property tests of what they do (``tests/test_engine_normalize.py`` checks the engine's maps
against the reference index by index)."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard_middleware.checks.blocklist import BlocklistCheck, build_blocklist
from guard_middleware.text import normalize, original_span

STRIKE = "\u0336"


def make(*patterns: str | dict[str, Any], **options: Any) -> BlocklistCheck:
    table = [p if isinstance(p, dict) else {"pattern": p} for p in patterns]
    return build_blocklist({"patterns": table, **options}, name="bl", key="g")


def spans(check: BlocklistCheck, text: str) -> list[str]:
    return [text[m.start : m.end] for m in check.find(text)]


def strike(word: str) -> str:
    return "".join(c + STRIKE for c in word)


EVASIONS = [
    "competitor\u2011name",  # non-breaking hyphen
    "competitor\u2010name",  # hyphen
    "competitor\u2013name",  # en dash
    "competitor\u2014name",  # em dash
    "competitor\u2212name",  # minus sign
    "competitor\ufe63name",  # small hyphen-minus (NFKC)
    "c\u03bfmpetitor-name",  # Greek omicron
    "comp\u03b5\u03c4itor-name",  # Greek epsilon, tau
    "COMPE\u03a4ITOR-NAME",  # Greek capital tau (case-folded to small tau first)
    "\u0441\u043emp\u0435titor-name",  # Cyrillic es, o, ie
    "\u0421\u041e\u041c\u0420\u0415\u0422\u0406\u0422\u041eR-NAME",  # Cyrillic capitals (Р is P)
    "compet\u0131tor-name",  # dotless i
    "\u1d04\u1d0f\u1d0d\u1d18\u1d07\u1d1b\u026a\u1d1b\u1d0f\u0280-\u0274\u1d00\u1d0d\u1d07",  # small capitals
    strike("competitor-name"),
    "c\u0335o\u0338mpetitor-name",  # overlays
    "comp\u00e9titor-n\u00e1me",  # accents
    "compe\u0301titor-name",  # a combining accent
    "competitor\ufe0f-name\U000e0100",  # variation selectors
    "com\u034fpetitor-na\u3164me",  # grapheme joiner, Hangul filler
    "\U0001d41c\U0001d428mpetitor-name",  # mathematical bold (NFKC)
    "ｃｏｍｐｅｔｉｔｏｒ\u2011ｎａｍｅ",  # full width with a non-breaking hyphen
]


@pytest.mark.parametrize("evasion", EVASIONS)
def test_look_alikes_are_found_with_exactly_their_original_span(evasion: str) -> None:
    check = make("competitor-name")
    text = f"we beat {evasion}, again"
    assert spans(check, text) == [evasion.removesuffix("\U000e0100")]


def test_the_span_of_a_struck_through_word_covers_its_last_mark() -> None:
    check = make("competitor")
    text = f"a {strike('competitor')} b"
    assert spans(check, text) == [strike("competitor")]


def test_word_mode_treats_underscore_as_a_boundary_and_digits_as_letters() -> None:
    check = make("competitor-name", "hack")
    assert spans(check, "see _competitor-name_ and __hack__") == ["competitor-name", "hack"]
    assert spans(check, "a snake_case_hack") == ["hack"]
    assert spans(check, "hack2 2hack hacks competitor-names") == []
    assert spans(check, "hack\u0661") == []  # an Arabic-Indic digit is a digit
    assert spans(make("_x_"), "a_x_b") == ["_x_"]  # an edge that is no word character has no rule


def test_patterns_are_folded_like_the_text() -> None:
    check = make("\u0441\u043empetitor\u2011name", "caf\u00e9", "\u201cquoted\u201d")
    assert spans(check, 'competitor-name cafe "quoted"') == ["competitor-name", "cafe", '"quoted"']
    # a pattern that folds to nothing is an error, as one that normalises to nothing was
    with pytest.raises(Exception, match="empty after normalisation"):
        make("\u0336\ufe0f")


def test_case_sensitive_checks_fold_look_alikes_to_their_own_case() -> None:
    check = make("Secret", case_insensitive=False)
    assert spans(check, "\u0405\u0435cr\u0435t S\u0435cret secret \u0455ecret") == [
        "\u0405\u0435cr\u0435t",
        "S\u0435cret",
    ]


def test_regexes_run_on_the_folded_text() -> None:
    native = make({"pattern": "competitor[- ]name", "is_regex": True})
    assert native.fallbacks == ()
    assert spans(native, "c\u03bfmpetitor\u2014name and competitor\u00a0name") == [
        "c\u03bfmpetitor\u2014name",
        "competitor\u00a0name",
    ]
    fallback = make({"pattern": r"\bcompetitor\b", "is_regex": True})
    assert fallback.fallbacks != ()
    assert spans(fallback, f"a {strike('competitor')}.") == [strike("competitor")]


def test_a_regex_with_characters_the_text_never_holds_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="guard_middleware"):
        make({"pattern": "caf\u00e9|a\u2013b", "is_regex": True}, {"pattern": "ordinary", "is_regex": True})
    (record,) = [r for r in caplog.records if "never holds" in r.getMessage()]
    assert "U+00E9" in record.getMessage() and "U+2013" in record.getMessage()
    assert "ordinary" not in record.getMessage()


ORDINARY = [
    "The modern model runs in a cluster: m, l, I, 1 and | are all different.",
    "Il était une fois à Zürich, où l'on mangeait des crêpes.",
    "Вот тот кот, который живёт в нашем доме уже давно.",
    "Το κείμενο αυτό είναι ελληνικό.",
    "שלום לכולם, זה טקסט בעברית.",
    "هذا نص عربي عادي للتجربة.",
    "यह एक साधारण हिंदी वाक्य है।",
    "这是一个普通的中文句子。丫头",
    "한국어 문장입니다.",
    "ภาษาไทยเป็นภาษาที่สวยงาม",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_gets_no_new_matches(text: str) -> None:
    # English words that Cyrillic, Hebrew, Arabic or CJK letters could be taken for
    check = make("bot", "kot", "tot", "net", "lol", "ol", "Y", "he", "mod", "rn", "nl", "ll", "oh")
    assert spans(check, text) == []


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=string.printable, max_size=60),
    st.lists(st.text(string.ascii_letters, min_size=1, max_size=4), min_size=1, max_size=3),
)
def test_ascii_text_matches_exactly_as_plain_lowercase_substrings(text: str, words: list[str]) -> None:
    check = make(*words, match="substring")
    lowered = text.lower()
    expected = sorted(
        (i, i + len(w))
        for w in (w.lower() for w in words)
        for i in range(len(lowered))
        if lowered.startswith(w, i)
    )
    assert sorted((m.start, m.end) for m in check.find(text)) == expected


FOLDING = [
    *"hack x-_1 .",
    "\u0430",  # Cyrillic a
    "\u043d",  # Cyrillic en (kept)
    "\u2011",
    "\u2014",
    "\u00a0",
    "\u0336",
    "\u0301",
    "\ufe0f",
    "\u034f",
    "\u200b",
    "\u1d04",
    "\u00e4",
    "\u0661",
    "Ｈ",
]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(FOLDING), max_size=30), st.data())
def test_settled_text_never_changes_verdict_with_folding(text: str, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, len(text)))
    prefix = text[:k]
    for check in (
        make("hack", "ck-a", "x_1"),
        make("hack", "a\u0301", match="substring"),
        make({"pattern": "h[a ]+c?k", "is_regex": True}, {"pattern": r"\bx-1\b", "is_regex": True}),
    ):
        h = check.holdback(prefix)
        assert 0 <= h <= k
        full = {(m.start, m.end) for m in check.find(text) if m.end <= h}
        part = {(m.start, m.end) for m in check.find(prefix) if m.end <= h}
        assert full == part


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet=st.sampled_from([*FOLDING, "\u1100", "\u1161", "ß", "İ", "ﬁ"]), max_size=30),
    st.booleans(),
)
def test_folding_maps_every_character_back_in_order(text: str, casefold: bool) -> None:
    norm, omap = normalize(text, casefold=casefold, fold="blocklist")
    if omap is None:
        assert norm == (text.lower() if casefold else text)
        return
    previous = 0
    for i in range(len(norm)):
        start, end = original_span(omap, i, i + 1)
        assert previous <= start < end <= len(text)
        previous = start
    if norm:
        start, end = original_span(omap, 0, len(norm))
        assert normalize(text[start:end], casefold=casefold, fold="blocklist")[0] == norm


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\u0664\u0661\u0665-\u0662\u0663", "415-23"),  # Arabic-Indic digits
        ("\u096a\u0967\u096b", "415"),  # Devanagari digits
        ("123\u201345\u20136789", "123-45-6789"),  # en dashes
        ("555\u00a0867\u30005309", "555 867 5309"),  # no-break and ideographic spaces
        ("\u0e51\u0e52\u2011\u0e53", "12-3"),  # Thai digits, non-breaking hyphen
        ("Ｅｍａｉｌ é\u0336 \u0441", "Email é\u0336 \u0441"),  # nothing else: no case, marks, look-alikes
    ],
)
def test_pii_folding_maps_digits_dashes_and_spaces_back(text: str, expected: str) -> None:
    norm, omap = normalize(text, casefold=False, fold="pii")
    assert norm == expected
    assert original_span(omap, 0, len(norm)) == (0, len(text))


def test_pii_folding_keeps_ascii_without_a_map() -> None:
    assert normalize("call 555-867-5309", casefold=False, fold="pii") == ("call 555-867-5309", None)


BLOCK = {"type": "blocklist", "patterns": [{"pattern": "competitor-name", "category": "competitors"}]}


@pytest.mark.parametrize(
    "evasion", [EVASIONS[0], EVASIONS[6], strike("competitor-name"), "_competitor-name_"]
)
async def test_the_middleware_blocks_look_alike_evasions(make_stack: Any, evasion: str) -> None:
    async with make_stack({"input": {"providers": [BLOCK]}}) as s:
        status, _, body = await s.chat(f"tell me about {evasion} please")
        assert status == 400, body
        assert body["error"]["categories"] == ["competitors"]
        assert s.record.bodies == []
        status, _, _ = await s.chat("tell me about the competition, please")
        assert status == 200


async def test_redaction_replaces_exactly_the_original_look_alike_span(make_stack: Any) -> None:
    config = {"input": {"providers": [{**BLOCK, "replacement": "[X]"}], "actions": {"competitors": "redact"}}}
    async with make_stack(config) as s:
        text = (
            f"a {strike('competitor')}\u2011n\u0430me, _c\u03bfmpetitor-name_ and comp\u00e9titor\u2014name!"
        )
        status, _, _ = await s.chat(text)
        assert status == 200
        assert s.record.bodies[0]["messages"][0]["content"] == "a [X], _[X]_ and [X]!"
