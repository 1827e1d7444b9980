"""The ``blocklist`` provider: literal and regex patterns, matched locally. Pure.

Matching runs on normalised text (``tests.oracle.text`` with ``fold="blocklist"``: NFKC, format
characters removed, case folded when ``case_insensitive``, dashes, spaces and digits folded, marks and
invisible characters dropped, look-alikes mapped to ASCII), so full-width letters, ligatures,
zero-width characters, soft hyphens, homoglyphs or strikethrough inside a word do not evade; spans are
reported in the original text and cover the evasive characters.

Literals (``is_regex = false``) all go into one Aho-Corasick automaton (``ahocorasick_rs``, the Rust
``aho-corasick`` crate, built as a DFA with its prefilters): the scan costs about the same for 1,000
literals as for 10 (pyahocorasick slowed down by 40% at 1,000, since its automaton leaves the root on
almost every character). ``match = "word"`` (our default, an extension of the seed) reports a
literal only where it is not glued to letters or digits on either side, so ``ass`` does not fire inside
``class`` (the Scunthorpe problem); the rule applies at an edge only when the literal's own edge
character is a letter or digit, so ``c++`` still matches in ``c++11`` while ``hack`` does not match
in ``hacks``; ``_`` is a boundary (``_hack_`` matches). ``match = "substring"`` reports every
occurrence.

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

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick_rs
import regex
from pydantic import ValidationError

from guard_middleware.checks.base import CheckError
from guard_middleware.checks.blocklist import BlocklistOptions, pydantic_key
from guard_middleware.errors import ConfigError
from guard_middleware.verdict import Match
from tests.oracle.text import (
    last_cluster_start,
    normalize,
    normalized_index,
    original_index,
    original_span,
)

__all__ = ["BlocklistCheck", "build_blocklist"]


@dataclass(frozen=True, slots=True)
class _Rule:
    category: str
    severity: str
    message: str | None


# Above this many literal characters the automaton is built as a contiguous NFA instead of a DFA.
_DFA_MAX_CHARS = 200_000
_SURROGATE = regex.compile(r"[\ud800-\udfff]")
#: Appended to a pattern for holdback: the text must end where the pattern ends, and then the pattern
#: still wants one more character, so every hit is *partial*. ``search(partial=True)`` then returns the
#: leftmost start whose match reaches the end of the text, complete or not (it would otherwise prefer a
#: later complete match over an earlier partial one). At worst it reports the empty partial at the end.
NEVER_COMPLETE = r"\Z(?s:.)"


def scan_literals(automaton: ahocorasick_rs.AhoCorasick, norm: str, npos: int) -> list[tuple[int, int, int]]:
    """Every (overlapping) literal occurrence starting at or after ``npos``: (literal index, start, end)."""
    hay = norm[npos:] if npos else norm
    try:
        found = automaton.find_matches_as_indexes(hay, overlapping=True)
    except UnicodeEncodeError:
        # Lone surrogates (valid in JSON strings) cannot be UTF-8 encoded; U+FFFD keeps every offset.
        found = automaton.find_matches_as_indexes(_SURROGATE.sub("\ufffd", hay), overlapping=True)
    if npos:
        return [(k, s + npos, e + npos) for k, s, e in found]
    return found


def _tail_pattern(pattern: regex.Pattern[str]) -> regex.Pattern[str] | None:
    """``(?:pattern)`` + ``NEVER_COMPLETE`` with the same flags; None when wrapping could change it."""
    if pattern.flags & regex.VERBOSE:
        return None  # a trailing comment would swallow the wrapper
    try:
        tail = regex.compile(f"(?:{pattern.pattern}){NEVER_COMPLETE}", pattern.flags)
    except (regex.error, ValueError, OverflowError):
        return None
    return tail if tail.flags == pattern.flags and tail.groups == pattern.groups else None


def _is_word(ch: str) -> bool:
    return ch.isalnum()


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
        self._word = word
        self._timeout = timeout_s
        self._cap = max_holdback_chars
        self._regexes = tuple(regexes)
        grouped: dict[str, list[_Rule]] = {}
        for lit, rule in literals:
            grouped.setdefault(lit, []).append(rule)
        self._max_literal = max((len(k) for k in grouped), default=0)
        keys = list(grouped)
        self._lengths = tuple(len(k) for k in keys)
        self._rules = tuple(tuple(grouped[k]) for k in keys)
        #: sorted literals: ``s`` is a prefix of some literal iff the first literal ``>= s`` starts with it
        self._sorted = sorted(keys)
        self._automaton: ahocorasick_rs.AhoCorasick | None = None
        if keys:
            # The DFA is the fastest to scan and stays small for thousands of literals; beyond that
            # the crate's own choice (a contiguous NFA) keeps memory in check.
            impl = ahocorasick_rs.Implementation.DFA if sum(self._lengths) <= _DFA_MAX_CHARS else None
            self._automaton = ahocorasick_rs.AhoCorasick(keys, implementation=impl)
        # Holdback runs each regex once over the tail (see ``NEVER_COMPLETE``), which finds the smallest
        # undecided start in one call instead of one fullmatch per position.
        self._tails: tuple[regex.Pattern[str] | None, ...] = tuple(_tail_pattern(p) for p, _ in self._regexes)

    def _literal_hold(self, norm: str, start: int) -> int:
        """The smallest ``i >= start`` where ``norm[i:]`` is a prefix of a literal (``len(norm)`` if none)."""
        n = len(norm)
        lits = self._sorted
        word = self._word
        for i in range(start, n):
            if word and i > 0 and _is_word(norm[i]) and _is_word(norm[i - 1]):
                continue
            tail = norm[i:]
            k = bisect_left(lits, tail)
            if k < len(lits) and lits[k].startswith(tail):
                return i
        return n

    def _word_ok(self, norm: str, start: int, end: int) -> bool:
        if start > 0 and _is_word(norm[start]) and _is_word(norm[start - 1]):
            return False
        return not (end < len(norm) and _is_word(norm[end - 1]) and _is_word(norm[end]))

    def find(self, text: str, pos: int = 0) -> list[Match]:
        norm, omap = normalize(text, casefold=self._casefold, fold="blocklist")
        npos = normalized_index(omap, pos)
        out: list[Match] = []
        if self._automaton is not None and npos < len(norm):
            word = self._word
            rules_of = self._rules
            for k, s, e in scan_literals(self._automaton, norm, npos):
                if word and not self._word_ok(norm, s, e):
                    continue
                os_, oe = original_span(omap, s, e)
                for rule in rules_of[k]:
                    out.append(Match(os_, oe, rule.category, rule.severity, rule.message))
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

    def holdback(self, text: str, pos: int = 0) -> int:
        n_orig = len(text)
        if pos >= n_orig:
            return n_orig
        floor = max(pos, n_orig - self._cap)
        norm, omap = normalize(text, casefold=self._casefold, fold="blocklist")
        n = len(norm)
        lo = normalized_index(omap, floor)
        held = n
        if self._sorted:
            held = self._literal_hold(norm, max(lo, n - self._max_literal))
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
        result = min(original_index(omap, held), last_cluster_start(text))
        return max(result, floor)


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
            lit, _ = normalize(p.pattern, casefold=opts.case_insensitive, fold="blocklist")
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
