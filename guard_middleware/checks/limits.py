"""The ``content_limits`` provider: size limits over the texts of one request or response. Pure.

Counting, summed over every text the guardrail is given:

* characters: Unicode code points (``len``), so an emoji made of several code points counts several;
* words: runs of non-whitespace (``str.split()``);
* lines: for each non-empty text, ``text.count("\\n") + 1`` (a trailing newline starts a new, empty
  line); an empty text has no lines.

A limit that is not set (``None``) is not checked. Each exceeded limit is one finding, category
``content_limits``, severity ``medium``, with no action of its own: the phase's ``actions`` table and
``default_action`` decide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from guard_middleware.checks.blocklist import pydantic_key
from guard_middleware.verdict import Finding

__all__ = ["ContentLimits", "ContentLimitsOptions", "build_content_limits"]


class ContentLimitsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    # The provider table's own discriminator may be passed along with the options.
    type: Literal["content_limits"] | None = None
    max_characters: int | None = Field(default=None, ge=1)
    max_words: int | None = Field(default=None, ge=1)
    max_lines: int | None = Field(default=None, ge=1)


class ContentLimits:
    """Size limits. Build with ``build_content_limits``."""

    def __init__(
        self,
        name: str,
        *,
        max_characters: int | None = None,
        max_words: int | None = None,
        max_lines: int | None = None,
    ) -> None:
        self.name = name
        self.max_characters = max_characters
        self.max_words = max_words
        self.max_lines = max_lines

    def evaluate(self, texts: Sequence[str]) -> list[Finding]:
        """Findings for the limits ``texts`` exceed together (counting as in the module docstring)."""
        chars = sum(len(t) for t in texts) if self.max_characters is not None else 0
        words = sum(len(t.split()) for t in texts) if self.max_words is not None else 0
        lines = sum(t.count("\n") + 1 for t in texts if t) if self.max_lines is not None else 0
        return self.exceeded(chars, words, lines)

    def exceeded(self, chars: int, words: int, lines: int) -> list[Finding]:
        """Findings for counts already made (a stream counts as it goes, without keeping the text)."""
        findings: list[Finding] = []
        for label, limit, value in (
            ("max_characters", self.max_characters, chars),
            ("max_words", self.max_words, words),
            ("max_lines", self.max_lines, lines),
        ):
            if limit is not None and value > limit:
                findings.append(
                    Finding(
                        guardrail=self.name,
                        category="content_limits",
                        severity="medium",
                        action=None,
                        segment=None,
                        message=f"{label} exceeded: {value} > {limit}",
                    )
                )
        return findings


def build_content_limits(options: Mapping[str, Any], *, name: str, key: str) -> ContentLimits:
    """Validate the ``content_limits`` options (unknown keys are errors)."""
    try:
        opts = ContentLimitsOptions.model_validate(dict(options))
    except ValidationError as exc:
        raise pydantic_key(key, exc) from None
    return ContentLimits(
        name, max_characters=opts.max_characters, max_words=opts.max_words, max_lines=opts.max_lines
    )
