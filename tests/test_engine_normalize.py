"""The Rust normalisation (``_engine.normalize``) against the Python reference (``tests/oracle/text.py``):
the same normalised text and the same offset map, index by index, for texts of characters Python 3.11
has assigned (the engine's NFKC is Unicode 16, Python's is Unicode 14), with each fold. (The reference
takes the blocklist fold of single characters from the engine: what is compared for it is how texts
are clustered, folded and mapped; ``tests/test_fold.py`` checks the fold itself.)"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard_middleware import _engine
from tests.oracle.text import (
    Fold,
    last_cluster_start,
    normalize,
    normalized_index,
    original_index,
    original_span,
)

# One character each; grouped by what makes them tricky.
TRICKY = list(
    "aAeEiIsSzZ09 _!."
    # combining marks that compose (grave, acute, diaeresis, ring, cedilla, dot below, overlay,
    # kana voiced mark), ypogegrammeni (folds to iota), and singleton / excluded decompositions
    "\u0300\u0301\u0308\u030a\u0327\u0323\u0338\u3099\u0345"
    "\u0340\u0344\u0f73\u0cbc"
    # combining marks that do not compose, and ccc 0 marks that do not continue a cluster
    "\u20dd\u0489\u05b0\u302a\u1dc0\ufe00\u034f"
    # Hangul: leading, vowel, trailing and filler jamo, syllables, compatibility and half-width jamo
    "\u1100\u1112\u115f\u1160\u1161\u1175\u11a8\u11c2\u11ff"
    "\uac00\uac01\ud7a3\u3131\u314f\uffa0\ud7b0"
    # format characters: zero-width space/joiners, soft hyphen, word joiner, BOM, bidi controls,
    # Arabic number sign, Mongolian vowel separator, tags, musical beam
    "\u200b\u200c\u200d\u00ad\u2060\ufeff\u200e\u200f\u202a"
    "\u202e\u2066\u2069\u061c\u0600\u180e\U000e0001\U000e0041"
    "\U0001d173"
    # full-width and half-width forms
    "Ａｚ０＿\u3000ｶﾞか゛"
    # case folding that expands, contracts or changes the UTF-8 length
    "ßẞΣσςİıǅǄǰŉΐᾳᾈᾼµſẛ"
    "\u212a\u212b\u2126ȺȾⱯɐ\U00010400\U0001e900"  # Kelvin, Angstrom and Ohm signs first
    # ligatures, superscripts, Roman numerals, circled and squared forms, math letters
    "ﬁﬀﬃﬅ²ⁿᵃ₂ⅫⅻⅠⒶⓐ①㎒㍱℡"
    "\U0001d400\U0001f130\u00bd"
    # Arabic presentation forms, including the 18-character U+FDFA
    "\ufdfa\ufdfb\ufefb\ufe8d"
    # CJK, compatibility ideographs, Kangxi radicals, Thai sara am, others
    "一\uf900\u2f00\u0e33\u00a0\u2028\u00e9\u00c5😀\U0001f1e6—"
    # what the folds change: dashes, minus, spaces, digits of other scripts, strikethrough and other
    # marks, variation selectors, grapheme joiner, Hangul fillers, look-alikes (Cyrillic, Greek,
    # dotless i, small capitals, quotes, Armenian), and what they leave (Cyrillic ve, danda, vav)
    "\u2010\u2011\u2013\u2212\u1680\u202f\u3000\u0664\u096a\u0e51\u0336\u20e0\u0e48"
    "\ufe0f\U000e0100\u034f\u3164\uffa0\u115f\u0441\u0421\u03bf\u0131\u1d04\u0299\u2019"
    "\u201c\u0585\u00f8\u00c6\u0432\u0964\u05d5\u00d7"
)

ASSIGNED = st.characters(exclude_categories=("Cs", "Cn"))


FOLDS = ("none", "pii", "blocklist")


def check(text: str, casefold: bool, fold: Fold = "none") -> None:
    """Asserts the engine gives exactly what the oracle gives for ``text``."""
    expected_text, expected = normalize(text, casefold=casefold, fold=fold)
    got_text, got = _engine.normalize(text, casefold=casefold, fold=fold)
    assert got_text == expected_text
    assert _engine.last_cluster_start(text) == last_cluster_start(text)
    assert (got is None) == (expected is None)
    if got is None or expected is None:
        return
    n = len(expected_text)
    assert len(got) == len(expected) == n
    indices = range(n + 1)
    assert [got.original_index(i) for i in indices] == [original_index(expected, i) for i in indices]
    spans = [(i, j) for i in range(n + 1) for j in {i, i + 1, i + 2, n} if i <= j <= n]
    assert [got.original_span(i, j) for i, j in spans] == [original_span(expected, i, j) for i, j in spans]
    origs = range(len(text) + 1)
    assert [got.normalized_index(o) for o in origs] == [normalized_index(expected, o) for o in origs]


@pytest.mark.parametrize("fold", FOLDS)
@pytest.mark.parametrize("casefold", [True, False])
@pytest.mark.parametrize(
    "text",
    [
        "Hello World",
        "Hello",
        "ＨＡＣＫ",
        "a h\u200back b",
        "ex\u00adpl\u2060o\ufeffit",
        "Straße ﬁle",
        "cafe\u0301!",
        "ab\u200bcd",
        "abc",
        "abe\u0301\u200b",
        "",
        "\u200b",
        "\u200b\u0301",
        "\u0301abc",
        "aȺbéc",
        "\ufdfa",
        "\u1100\u1161\u11a8x",
        "ｶﾞ か\u309b",
        "Grüße aus Köln",
        "e\u0301\u0323\u200b\u0308",
        "A" * 300 + "é" + "B" * 300,
        "competitor\u2011name c\u0336o\u0336m\u0336 c\u03bfmp \u0664\u0661\u0665 123\u201345",
        "\u0421\u041e\u041c\u0420 \u1d04\u1d0f\u1d0d caf\u00e9 cafe\u0301\ufe0f x\u3164y",
    ],
)
def test_engine_matches_the_oracle_on_known_cases(text: str, casefold: bool, fold: Fold) -> None:
    check(text, casefold, fold)


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=st.sampled_from(TRICKY), max_size=30), st.booleans(), st.sampled_from(FOLDS))
def test_engine_matches_the_oracle_on_tricky_text(text: str, casefold: bool, fold: Fold) -> None:
    check(text, casefold, fold)


@settings(max_examples=900, deadline=None)
@given(
    st.text(alphabet=st.one_of(ASSIGNED, st.sampled_from(TRICKY)), max_size=30),
    st.booleans(),
    st.sampled_from(FOLDS),
)
def test_engine_matches_the_oracle_on_any_assigned_characters(text: str, casefold: bool, fold: Fold) -> None:
    check(text, casefold, fold)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.text(alphabet="aB c", min_size=200, max_size=600), st.sampled_from(TRICKY)),
        max_size=6,
    ),
    st.booleans(),
    st.sampled_from(FOLDS),
)
def test_engine_matches_the_oracle_on_long_ascii_with_a_few_others(
    parts: list[str], casefold: bool, fold: Fold
) -> None:
    check("".join(parts), casefold, fold)
