# full-width, zero-width and combining characters are the evasions under test
"""The native blocklist against the pure-Python oracle it replaced: same matches, same spans, same
hold-back, for literal and mixed literal/regex policies, in word and substring mode, with and without
case folding."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from guard_middleware.checks.blocklist import build_blocklist
from tests.oracle.blocklist import build_blocklist as oracle_build_blocklist

# Letters that fold (case, width, ligature, sharp s), marks that compose or not, format characters,
# word and non-word punctuation, digits, CJK and spaces: what word edges and offset maps turn on.
# Lone surrogates (valid in JSON strings) too: a high one followed by a low one in a str are still two
# code points, the halves of an emoji split across stream events.
ALPHABET = "abcAB ｈａ\u200b\u00ad\u0301\u0336éßﬁ_-+.1２漢\n\ud83d\ude00"
words = st.text(alphabet="abcAB-+1ßé_ﬁ", min_size=1, max_size=5)


def literal_policies() -> st.SearchStrategy[dict[str, Any]]:
    pattern = st.builds(lambda w, c: {"pattern": w, "category": c}, words, st.sampled_from(["x", "y"]))
    return st.fixed_dictionaries(
        {
            "patterns": st.lists(pattern, min_size=1, max_size=6),
            "match": st.sampled_from(["word", "substring"]),
            "case_insensitive": st.booleans(),
            "max_holdback_chars": st.sampled_from([3, 1024]),
        }
    )


def _usable(options: dict[str, Any]) -> bool:
    # A literal that normalises to nothing is a configuration error in both implementations.
    try:
        oracle_build_blocklist(options, name="bl", key="k")
    except Exception:
        return False
    return True


def _same(options: dict[str, Any], text: str, pos: int) -> None:
    ours = build_blocklist(options, name="bl", key="k")
    oracle = oracle_build_blocklist(options, name="bl", key="k")
    pos = min(pos, len(text))
    assert ours.find(text, pos) == oracle.find(text, pos)
    assert ours.holdback(text, pos) == oracle.holdback(text, pos)


@settings(max_examples=400)
@given(literal_policies(), st.text(alphabet=ALPHABET, max_size=30), st.integers(0, 30))
def test_literals_match_the_oracle(options: dict[str, Any], text: str, pos: int) -> None:
    if _usable(options):
        _same(options, text, pos)


@settings(max_examples=150)
@given(
    literal_policies(),
    st.sampled_from([r"b+c", r"\bab\b", r"[0-9]{2}", r"é\w", r"[\ud800-\udfff]", r"a\ud83d"]),
    st.text(alphabet=ALPHABET, max_size=30),
    st.integers(0, 30),
)
def test_literals_and_regexes_together_match_the_oracle(
    options: dict[str, Any], regex: str, text: str, pos: int
) -> None:
    options = {**options, "patterns": [*options["patterns"], {"pattern": regex, "is_regex": True}]}
    if _usable(options):
        _same(options, text, pos)


def test_a_thousand_literals_match_the_oracle_on_prose() -> None:
    literals = [{"pattern": f"word{i}-{chr(97 + i % 26)}"} for i in range(1000)]
    options = {"patterns": literals}
    text = " ".join(f"Word{i}-{chr(65 + i % 26)} and ｗｏｒｄ{i}-x" for i in range(0, 1000, 7))
    for pos in (0, 17, len(text) - 5):
        _same(options, text, pos)
    for cut in range(len(text) - 40, len(text) + 1):
        _same(options, text[:cut], 0)


def test_spans_after_split_emoji_halves_are_not_shifted() -> None:
    options = {"patterns": [{"pattern": "hack"}, {"pattern": r"[\ud800-\udfff]", "is_regex": True}]}
    text = "\ud83d\ude00" * 3 + " hack \ud83d"
    _same(options, text, 0)
    found = build_blocklist(options, name="bl", key="k").find(text)
    assert [text[m.start : m.end] for m in found] == ["\ud83d", "\ude00"] * 3 + ["hack", "\ud83d"]
