"""The ``blocklist`` provider: literal and regex patterns, matched locally. Pure.

Matching runs on normalised text (``guard_middleware.text``: NFKC, format characters removed, case folded
when ``case_insensitive``), so full-width letters, ligatures, zero-width characters or soft hyphens
inside a word do not evade; spans are reported in the original text and cover the evasive characters.

Literals (``is_regex = false``) all go into one Aho-Corasick automaton in the native engine
(``guard_middleware._engine``; the Rust ``aho-corasick`` crate, a DFA up to 200 KB of literals): the
scan costs about the same for 1,000 literals as for 10. ``match = "word"`` (our default, an extension
of the seed) reports a literal only where it is not glued to letters or digits on either side, so
``ass`` does not fire inside ``class`` (the Scunthorpe problem); the rule applies at an edge only when
the literal's own edge character is a letter, digit or underscore, so ``c++`` still matches in
``c++11`` while ``hack`` does not match in ``hacks``. ``match = "substring"`` reports every occurrence.

Regexes (``is_regex = true``) are compiled once at build time with the ``regex`` module (IGNORECASE
and FULLCASE when ``case_insensitive``), run on the same normalised text, and always with a time limit
(``regex_timeout_ms``, per regex per call). A regex that runs out of time raises ``CheckError`` so the
pipeline fails closed rather than let a catastrophic-backtracking pattern pass text unchecked. Word
boundaries in regexes are the author's business (``\\b``).

Streams: ``holdback`` keeps back the longest tail that could still become a match: a suffix that is a
prefix of some literal, a regex partial match, or a complete match touching the end (it might grow,
or stop being a word). The last character cluster is always kept back, since a combining mark in the
next chunk can change it under NFKC. The hold is capped at ``max_holdback_chars`` (default 1024): a
match longer than that which straddles stream chunks is not detected. Regex look-aheads that look past
the end of the text are not treated as undecided.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import regex
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from guard_middleware._engine import Literals
from guard_middleware.checks.base import CheckError
from guard_middleware.errors import ConfigError
from guard_middleware.text import (
    last_cluster_start,
    normalize,
    normalized_index,
    original_index,
    original_span,
)
from guard_middleware.verdict import Match

__all__ = ["BlocklistCheck", "BlocklistOptions", "PatternOptions", "build_blocklist", "pydantic_key"]


class PatternOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    pattern: str
    is_regex: bool = False
    category: str = "blocked_content"
    severity: str = "high"
    message: str | None = None


class BlocklistOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    # The provider table's own discriminator may be passed along with the options.
    type: Literal["blocklist"] | None = None
    case_insensitive: bool = True
    patterns: list[PatternOptions]
    match: Literal["word", "substring"] = "word"
    regex_timeout_ms: int = Field(default=50, ge=1)
    max_holdback_chars: int = Field(default=1024, ge=1)


def pydantic_key(key: str, error: ValidationError) -> ConfigError:
    """The first validation error as a ConfigError whose key names the offending setting."""
    first = error.errors()[0]
    path = key
    for part in first["loc"]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return ConfigError(path, first["msg"])


@dataclass(frozen=True, slots=True)
class _Rule:
    category: str
    severity: str
    message: str | None


_SURROGATE = regex.compile(r"[\ud800-\udfff]")
#: Appended to a pattern for holdback: the text must end where the pattern ends, and then the pattern
#: still wants one more character, so every hit is *partial*. ``search(partial=True)`` then returns the
#: leftmost start whose match reaches the end of the text, complete or not (it would otherwise prefer a
#: later complete match over an earlier partial one). At worst it reports the empty partial at the end.
NEVER_COMPLETE = r"\Z(?s:.)"


def _tail_pattern(pattern: regex.Pattern[str]) -> regex.Pattern[str] | None:
    """``(?:pattern)`` + ``NEVER_COMPLETE`` with the same flags; None when wrapping could change it."""
    if pattern.flags & regex.VERBOSE:
        return None  # a trailing comment would swallow the wrapper
    try:
        tail = regex.compile(f"(?:{pattern.pattern}){NEVER_COMPLETE}", pattern.flags)
    except (regex.error, ValueError, OverflowError):
        return None
    return tail if tail.flags == pattern.flags and tail.groups == pattern.groups else None


class BlocklistCheck:
    """Literal and regex patterns over normalised text. Build with ``build_blocklist``."""

    def __init__(
        self,
        name: str,
        *,
        literals: Sequence[tuple[str, _Rule]],
        regexes: Sequence[tuple[regex.Pattern[str], _Rule]],
        case_insensitive: bool,
        word: bool,
        timeout_s: float,
        max_holdback_chars: int,
    ) -> None:
        self.name = name
        self._casefold = case_insensitive
        self._timeout = timeout_s
        self._cap = max_holdback_chars
        self._regexes = tuple(regexes)
        grouped: dict[str, list[_Rule]] = {}
        for lit, rule in literals:
            grouped.setdefault(lit, []).append(rule)
        #: the rules of literal k (equal literals share one automaton entry)
        self._rules = tuple(tuple(rules) for rules in grouped.values())
        self._literals: Literals | None = None
        if grouped:
            self._literals = Literals(
                list(grouped), word=word, casefold=case_insensitive, max_holdback_chars=max_holdback_chars
            )
        # Holdback runs each regex once over the tail (see ``NEVER_COMPLETE``), which finds the smallest
        # undecided start in one call instead of one fullmatch per position.
        self._tails: tuple[regex.Pattern[str] | None, ...] = tuple(_tail_pattern(p) for p, _ in self._regexes)

    def find(self, text: str, pos: int = 0) -> list[Match]:
        out: list[Match] = []
        if self._literals is not None:
            rules_of = self._rules
            for s, e, k in self._literals.find(text, pos):
                for rule in rules_of[k]:
                    out.append(Match(s, e, rule.category, rule.severity, rule.message))
        if self._regexes:
            norm, omap = normalize(text, casefold=self._casefold)
            npos = normalized_index(omap, pos)
            for pattern, rule in self._regexes:
                try:
                    for m in pattern.finditer(norm, npos, timeout=self._timeout):
                        s, e = m.span()
                        if s == e:
                            continue
                        os_, oe = original_span(omap, s, e)
                        out.append(Match(os_, oe, rule.category, rule.severity, rule.message))
                except TimeoutError as exc:
                    raise CheckError(f"{self.name}: regex {pattern.pattern!r} timed out") from exc
            out.sort(key=lambda m: (m.start, m.end))
        return out

    def native(self) -> Literals | None:
        return self._literals if not self._regexes else None

    def holdback(self, text: str, pos: int = 0) -> int:
        n_orig = len(text)
        if pos >= n_orig:
            return n_orig
        held = n_orig if self._literals is None else self._literals.holdback(text, pos)
        if self._regexes:
            # The engine's answer already includes the last cluster and the cap; the regexes' own
            # smallest undecided start only ever lowers it.
            held = min(held, self._regex_hold(text, pos))
        return held

    def _regex_hold(self, text: str, pos: int) -> int:
        n_orig = len(text)
        floor = max(pos, n_orig - self._cap)
        norm, omap = normalize(text, casefold=self._casefold)
        held = len(norm)
        lo = normalized_index(omap, floor)
        for (pattern, _rule), tail in zip(self._regexes, self._tails, strict=True):
            if lo >= held:
                break
            try:
                if tail is not None:
                    m = tail.search(norm, lo, partial=True, timeout=self._timeout)
                    if m is not None and m.start() < held:
                        held = m.start()
                    continue
                for i in range(lo, held):
                    if pattern.fullmatch(norm, i, partial=True, timeout=self._timeout) is not None:
                        held = i
                        break
            except TimeoutError as exc:
                raise CheckError(f"{self.name}: regex {pattern.pattern!r} timed out") from exc
        return max(min(original_index(omap, held), last_cluster_start(text)), floor)


def build_blocklist(options: Mapping[str, Any], *, name: str, key: str) -> BlocklistCheck:
    """Validate the ``blocklist`` provider options and compile every pattern once."""
    try:
        opts = BlocklistOptions.model_validate(dict(options))
    except ValidationError as exc:
        raise pydantic_key(key, exc) from None
    literals: list[tuple[str, _Rule]] = []
    regexes: list[tuple[regex.Pattern[str], _Rule]] = []
    flags = regex.IGNORECASE | regex.FULLCASE if opts.case_insensitive else 0
    if not opts.patterns:
        raise ConfigError(f"{key}.patterns", "at least one pattern is required")
    for i, p in enumerate(opts.patterns):
        where = f"{key}.patterns[{i}].pattern"
        rule = _Rule(p.category, p.severity, p.message)
        if not p.pattern:
            raise ConfigError(where, "pattern is empty")
        if p.is_regex:
            try:
                compiled = regex.compile(p.pattern, flags)
            except (regex.error, ValueError, OverflowError) as exc:
                raise ConfigError(where, f"invalid regex {p.pattern!r}: {exc}") from None
            if compiled.fullmatch("") is not None:
                raise ConfigError(where, f"regex {p.pattern!r} matches the empty string")
            regexes.append((compiled, rule))
        else:
            lit, _ = normalize(p.pattern, casefold=opts.case_insensitive)
            if not lit:
                raise ConfigError(where, "pattern is empty after normalisation")
            if _SURROGATE.search(lit) is not None:
                raise ConfigError(where, "pattern contains a lone surrogate")
            literals.append((lit, rule))
    return BlocklistCheck(
        name,
        literals=literals,
        regexes=regexes,
        case_insensitive=opts.case_insensitive,
        word=opts.match == "word",
        timeout_s=opts.regex_timeout_ms / 1000,
        max_holdback_chars=opts.max_holdback_chars,
    )
