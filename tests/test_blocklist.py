# full-width and zero-width characters are the point of these tests
from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard_middleware.checks.base import CheckError
from guard_middleware.checks.blocklist import BlocklistCheck, build_blocklist
from guard_middleware.errors import ConfigError


def make(*patterns: dict[str, Any], **options: Any) -> BlocklistCheck:
    return build_blocklist({"patterns": list(patterns), **options}, name="bl", key="g.provider")


def spans(check: BlocklistCheck, text: str) -> list[str]:
    return [text[m.start : m.end] for m in check.find(text)]


def test_a_literal_is_found_with_the_seed_defaults() -> None:
    check = make({"pattern": "competitor-name", "message": "no competitors"})
    (m,) = check.find("we beat Competitor-Name today")
    assert (m.start, m.end, m.category, m.severity, m.message) == (
        8,
        23,
        "blocked_content",
        "high",
        "no competitors",
    )


def test_uppercase_full_width_zero_width_and_soft_hyphen_evasions_are_found_with_original_spans() -> None:
    check = make({"pattern": "hack"})
    assert spans(check, "HACK it") == ["HACK"]
    assert spans(check, "ｈａｃｋ it") == ["ｈａｃｋ"]
    assert spans(check, "h\u200bac\u200dk it") == ["h\u200bac\u200dk"]
    assert spans(check, "ha\u00adck") == ["ha\u00adck"]


def test_case_sensitive_matching_does_not_fold_case() -> None:
    check = make({"pattern": "Secret"}, case_insensitive=False)
    assert spans(check, "secret Secret") == ["Secret"]


def test_word_mode_does_not_match_inside_longer_words() -> None:
    check = make({"pattern": "ass"})
    assert spans(check, "a class assignment") == []
    assert spans(check, "you ass!") == ["ass"]


def test_substring_mode_matches_inside_words() -> None:
    check = make({"pattern": "ass"}, match="substring")
    assert spans(check, "a class") == ["ass"]


def test_word_mode_applies_the_boundary_only_at_word_character_edges() -> None:
    check = make({"pattern": "c++"})
    assert spans(check, "I like c++11") == ["c++"]


def test_a_thousand_literals_are_all_found() -> None:
    words = [f"term{i:04d}x" for i in range(1000)]
    check = make(*({"pattern": w, "category": f"c{i % 7}"} for i, w in enumerate(words)))
    text = " ".join(reversed(words))
    found = check.find(text)
    assert sorted(text[m.start : m.end] for m in found) == sorted(words)
    assert {m.category for m in found} == {f"c{i}" for i in range(7)}


def test_a_regex_runs_on_normalised_text_with_its_own_category() -> None:
    check = make(
        {"pattern": r"\b(hack|exploit)\b", "is_regex": True, "category": "security", "severity": "medium"}
    )
    (m,) = check.find("how to EXPL\u200bOIT it")
    assert (m.start, m.end, m.category, m.severity) == (7, 15, "security", "medium")


def test_find_reports_only_matches_at_or_after_pos() -> None:
    check = make({"pattern": "bad"})
    assert [m.start for m in check.find("bad bad", pos=1)] == [4]


def test_a_catastrophic_regex_raises_check_error_within_the_timeout() -> None:
    # The regex module defuses the textbook (a+)+$; (a|aa)+$ still backtracks exponentially.
    check = make({"pattern": "(a|aa)+$", "is_regex": True}, regex_timeout_ms=50)
    started = time.perf_counter()
    with pytest.raises(CheckError):
        check.find("a" * 40 + "!")
    assert time.perf_counter() - started < 1.0


def test_the_textbook_nested_quantifier_regex_finishes_without_matching() -> None:
    check = make({"pattern": "(a+)+$", "is_regex": True}, regex_timeout_ms=50)
    assert check.find("a" * 40 + "!") == []


def test_holdback_with_a_catastrophic_regex_also_raises_check_error() -> None:
    check = make({"pattern": "(a|aa)+$", "is_regex": True}, regex_timeout_ms=20)
    with pytest.raises(CheckError):
        check.holdback("a" * 40 + "!")


def test_a_bad_regex_is_a_config_error_naming_the_pattern_key() -> None:
    with pytest.raises(ConfigError) as info:
        make(
            {"pattern": "ok"}, {"pattern": "x"}, {"pattern": "x"}, {"pattern": "(unclosed", "is_regex": True}
        )
    assert info.value.key == "g.provider.patterns[3].pattern"


def test_an_empty_pattern_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        make({"pattern": ""})
    assert info.value.key == "g.provider.patterns[0].pattern"


def test_an_unknown_option_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        make({"pattern": "x", "regex": True})
    assert info.value.key == "g.provider.patterns[0].regex"


def test_holdback_keeps_a_partial_literal_at_the_end() -> None:
    check = make({"pattern": "competitor"})
    assert check.holdback("talk about compet") == len("talk about ")


def test_holdback_keeps_a_complete_word_match_at_the_end_because_it_may_grow() -> None:
    check = make({"pattern": "hack"})
    assert check.holdback("a hack") == 2


def test_holdback_keeps_only_the_last_character_when_nothing_is_pending() -> None:
    check = make({"pattern": "hack"})
    assert check.holdback("hello there") == len("hello ther")


def test_holdback_keeps_a_regex_partial_match() -> None:
    check = make({"pattern": r"[a-z]+@[a-z]+\.com", "is_regex": True})
    assert check.holdback("write to bob@exa") == len("write to ")


def test_holdback_never_keeps_more_than_the_cap() -> None:
    check = make({"pattern": "a" * 50}, max_holdback_chars=10, match="substring")
    assert check.holdback("a" * 40) == 30


ALPHABET = st.sampled_from([*"hack x.ＨＡ\u200bb@", "\u0301"])


def settled_equal(check: BlocklistCheck, text: str, k: int) -> None:
    prefix = text[:k]
    h = check.holdback(prefix)
    assert 0 <= h <= k
    full = {(m.start, m.end, m.category) for m in check.find(text) if m.end <= h}
    part = {(m.start, m.end, m.category) for m in check.find(prefix) if m.end <= h}
    assert full == part


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=30), st.data())
def test_settled_text_never_changes_verdict_for_literals(text: str, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, len(text)))
    settled_equal(make({"pattern": "hack"}, {"pattern": "ha"}, {"pattern": "x.x"}), text, k)
    settled_equal(make({"pattern": "hack"}, {"pattern": "ck a"}, match="substring"), text, k)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=30), st.data())
def test_settled_text_never_changes_verdict_for_regexes(text: str, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, len(text)))
    check = make(
        {"pattern": r"h[a ]+c?k", "is_regex": True, "category": "r1"},
        {"pattern": r"\bb@[a-z]{1,4}\b", "is_regex": True, "category": "r2"},
    )
    settled_equal(check, text, k)


def test_a_lone_surrogate_in_the_text_neither_fails_nor_shifts_spans() -> None:
    check = make({"pattern": "hack"})
    text = "\ud800 a hack"
    assert spans(check, text) == ["hack"]
    assert check.holdback(text) == len(text) - 4


def test_a_regex_partial_match_before_a_complete_one_is_held() -> None:
    # "abc" may still become "abcd"; the complete "c" touching the end must not hide it.
    check = make({"pattern": "abcd|c", "is_regex": True}, match="substring")
    assert check.holdback("x abc") == len("x ")
