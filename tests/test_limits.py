from __future__ import annotations

import pytest

from guard_middleware.checks.limits import build_content_limits
from guard_middleware.errors import ConfigError


def test_texts_within_every_limit_produce_no_findings() -> None:
    limits = build_content_limits({"max_characters": 10, "max_words": 2, "max_lines": 1}, name="l", key="k")
    assert limits.evaluate(["hi there"]) == []


def test_characters_are_code_points_summed_over_texts() -> None:
    limits = build_content_limits({"max_characters": 5}, name="l", key="k")
    (finding,) = limits.evaluate(["abc", "déf"])
    assert finding.message == "max_characters exceeded: 6 > 5"
    assert (finding.guardrail, finding.category, finding.severity) == ("l", "content_limits", "medium")
    assert finding.action is None and finding.segment is None


def test_words_are_whitespace_separated_runs_summed_over_texts() -> None:
    limits = build_content_limits({"max_words": 3}, name="l", key="k")
    (finding,) = limits.evaluate(["one  two\tthree", "four"])
    assert finding.message == "max_words exceeded: 4 > 3"


def test_lines_count_each_non_empty_text_and_ignore_empty_ones() -> None:
    limits = build_content_limits({"max_lines": 3}, name="l", key="k")
    assert limits.evaluate(["a\nb", "", "c"]) == []
    (finding,) = limits.evaluate(["a\nb\n", "c"])
    assert finding.message == "max_lines exceeded: 4 > 3"


def test_each_exceeded_limit_is_its_own_finding() -> None:
    limits = build_content_limits({"max_characters": 1, "max_words": 1, "max_lines": 1}, name="l", key="k")
    assert len(limits.evaluate(["a b\nc"])) == 3


def test_an_unknown_option_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        build_content_limits({"max_chars": 5}, name="l", key="guard.input.provider")
    assert info.value.key == "guard.input.provider.max_chars"


def test_a_zero_limit_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        build_content_limits({"max_words": 0}, name="l", key="k")
    assert info.value.key == "k.max_words"


def test_exceeded_judges_counts_made_elsewhere() -> None:
    limits = build_content_limits({"max_words": 3}, name="l", key="k")
    assert limits.exceeded(100, 3, 100) == []
    (finding,) = limits.exceeded(0, 4, 0)
    assert finding.message == "max_words exceeded: 4 > 3"
