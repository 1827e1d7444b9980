# full-width and zero-width characters are the point of these tests
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from guard_middleware.text import last_cluster_start, normalize, normalized_index, original_span


def test_ascii_text_is_lowercased_without_an_offset_map() -> None:
    assert normalize("Hello World") == ("hello world", None)


def test_ascii_text_is_unchanged_when_case_folding_is_off() -> None:
    assert normalize("Hello", casefold=False) == ("Hello", None)


def test_full_width_letters_fold_to_ascii_and_map_back_one_to_one() -> None:
    norm, omap = normalize("ＨＡＣＫ")
    assert norm == "hack"
    assert original_span(omap, 0, 4) == (0, 4)


def test_zero_width_space_inside_a_word_is_removed_and_covered_by_the_span() -> None:
    text = "a h\u200back b"
    norm, omap = normalize(text)
    assert norm == "a hack b"
    assert original_span(omap, 2, 6) == (2, 7)


def test_soft_hyphen_word_joiner_and_bom_are_removed() -> None:
    norm, _ = normalize("ex\u00adpl\u2060o\ufeffit")
    assert norm == "exploit"


def test_sharp_s_and_ligatures_expand_and_map_to_their_source_character() -> None:
    norm, omap = normalize("Straße ﬁle")
    assert norm == "strasse file"
    assert original_span(omap, 4, 6) == (4, 5)  # "ss" came from "ß"
    assert original_span(omap, 8, 9) == (7, 8)  # "f" of the ligature covers the whole ligature


def test_combining_mark_composes_with_the_ascii_letter_before_it() -> None:
    norm, omap = normalize("cafe\u0301!")
    assert norm == "café!"
    assert original_span(omap, 3, 4) == (3, 5)


def test_normalized_index_skips_removed_format_characters() -> None:
    _, omap = normalize("ab\u200bcd")
    assert normalized_index(omap, 3) == 2
    assert normalized_index(omap, 2) == 2


def test_last_cluster_start_includes_trailing_combining_marks_and_format_characters() -> None:
    assert last_cluster_start("abc") == 2
    assert last_cluster_start("abe\u0301\u200b") == 2
    assert last_cluster_start("") == 0


@given(st.text(alphabet=st.sampled_from("aBß\u200bｈ\u0301ﬁ x\u00ad1é"), max_size=40))
def test_every_normalized_character_maps_into_the_original_text(text: str) -> None:
    norm, omap = normalize(text)
    if omap is None:
        assert norm == text.lower()
        return
    assert len(omap) == len(norm)
    previous = 0
    for i in range(len(norm)):
        start, end = original_span(omap, i, i + 1)
        assert previous <= start < end <= len(text)
        previous = start
    start, end = original_span(omap, 0, len(norm)) if norm else (0, 0)
    assert normalize(text[start:end])[0] == norm
