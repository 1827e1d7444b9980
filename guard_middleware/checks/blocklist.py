# ruff: noqa: RUF002  # the docstring shows the look-alike characters it folds
"""The ``blocklist`` provider: literal and regex patterns, matched locally. Pure.

Matching runs on normalised text with the blocklist's folding (``guard_middleware.text``,
``fold="blocklist"``): NFKC, format characters removed, case folded when ``case_insensitive``, and
what a reader cannot tell apart folded together: every dash and hyphen is ``-`` (``competitor‑name``
with U+2011), every space a space, nonspacing marks dropped (accents: ``café`` is ``cafe``;
strikethrough and zalgo: ``c̶o̶m̶p̶e̶t̶i̶t̶o̶r̶``), variation selectors and other invisible characters
dropped, decimal digits of every script ASCII digits, and look-alike letters and punctuation mapped to
ASCII (a UTS #39 confusables skeleton: Cyrillic ``с``, Greek ``ο``, dotless ``ı``, small capitals,
curly quotes). So full-width letters, ligatures, zero-width characters, soft hyphens, homoglyphs and
combining overlays do not evade; spans are reported in the original text and cover exactly the
evasive characters, so a redaction replaces the look-alike span whole. ASCII text is never changed by
the folding (``rn`` is not ``m``; ``l``, ``I`` and ``1`` stay apart), and letters of scripts with their
own body of text (right-to-left, East, South and Southeast Asian) are not mapped, so ordinary text
gets no new matches. Literal patterns are normalised the same way when the check is built, so a pattern
written with look-alikes or dashes matches plain text too.

Literals (``is_regex = false``) all go into one Aho-Corasick automaton in the native engine
(``guard_middleware._engine``; the Rust ``aho-corasick`` crate, a DFA up to 200 KB of literals): the
scan costs about the same for 1,000 literals as for 10. ``match = "word"`` (our default, an extension
of the seed) reports a literal only where it is not glued to letters or digits on either side, so
``ass`` does not fire inside ``class`` (the Scunthorpe problem); the rule applies at an edge only when
the literal's own edge character is a letter or digit, so ``c++`` still matches in ``c++11`` while
``hack`` does not match in ``hacks``. ``_`` is a boundary, not a letter, so Markdown's
``_competitor-name_`` and ``snake_case_hack`` match; digits are letters, so ``hack2`` does not (a
number glued to a word mostly makes another name). ``match = "substring"`` reports every occurrence.

Regexes (``is_regex = true``) are compiled once at build time with the ``regex`` module (IGNORECASE
and FULLCASE when ``case_insensitive``) and run on the same normalised (folded) text, so a regex is
written against the folded text, in plain ASCII: ``competitor[- ]name`` also matches
``cοmpetitor—name``, and a regex holding a character the folding changes (``é``, ``–``, Cyrillic
letters) never sees it in the text: the build logs one WARNING per guardrail naming such regexes.
A regex inside the subset where the native engine's linear-time matcher (the Rust ``regex`` crate)
provably gives the very same matches runs there instead (``_engine.classify_regex`` decides on a real
parse: literal characters, ``.``, plain bracketed classes of characters and ranges,
``? * + {n} {n,} {n,m}`` greedy or lazy, alternation, groups, a leading ``^``/``\\A``; ASCII only when
``case_insensitive``), with no time limit needed; so does its stream hold-back, unless it has a lazy
repetition (the ``regex`` module's partial matching then sometimes holds back more, and keeps computing
that regex's hold-back). Every other regex (look-around, back-references, ``$``, ``\\b``,
``\\w``/``\\d``/``\\s``, inline flags,
possessive or atomic, anything the two syntaxes might read differently) falls back to the ``regex``
module, always with a time limit (``regex_timeout_ms``, per regex per call); the build logs one WARNING
per guardrail naming those regexes and why. A regex that runs out of time raises ``CheckError`` so the
pipeline fails closed rather than let a catastrophic-backtracking pattern pass text unchecked. Word
boundaries in regexes are the author's business (``\\b``, which keeps a regex off the native engine).

Streams: ``holdback`` keeps back the longest tail that could still become a match: a suffix that is a
prefix of some literal, a regex partial match, or a complete match touching the end (it might grow,
or stop being a word). The last character cluster is always kept back, since a combining mark in the
next chunk can change it under NFKC (or be dropped with it); the folding works on one character of
a cluster's normalisation at a time, so nothing before the last cluster can change, and a dropped
character at the end is as if it were not there (held with the match or prefix before it). The hold
is capped at ``max_holdback_chars`` (default 1024): a match longer than that which straddles stream
chunks is not detected. Regex look-aheads that look past
the end of the text are not treated as undecided.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import regex
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from guard_middleware._engine import Literals, UserRegexes, classify_regex
from guard_middleware.checks.base import CheckError
from guard_middleware.errors import ConfigError
from guard_middleware.text import (
    OffsetMap,
    last_cluster_start,
    normalize,
    normalized_index,
    original_index,
    original_span,
)
from guard_middleware.verdict import Match

__all__ = ["BlocklistCheck", "BlocklistOptions", "PatternOptions", "build_blocklist", "pydantic_key"]

log = logging.getLogger("guard_middleware")


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


def _flags(case_insensitive: bool) -> int:
    return regex.IGNORECASE | regex.FULLCASE if case_insensitive else 0


def native_refusal(pattern: regex.Pattern[str], *, case_insensitive: bool) -> str | None:
    """Why ``pattern`` (compiled as ``build_blocklist`` does) cannot run on the native engine with the
    very same matches, or None when it can."""
    if pattern.flags != regex.compile("x", _flags(case_insensitive)).flags:
        return "unsupported syntax (flags)"  # an inline flag, or a changed regex.DEFAULT_VERSION
    if _SURROGATE.search(pattern.pattern) is not None:
        return "unsupported syntax (lone surrogate)"
    return classify_regex(pattern.pattern, casefold=case_insensitive)


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
        refusals = [native_refusal(p, case_insensitive=case_insensitive) for p, _ in self._regexes]
        #: the regexes left to the ``regex`` module, and why
        self.fallbacks: tuple[tuple[str, str], ...] = tuple(
            (p.pattern, why) for (p, _), why in zip(self._regexes, refusals, strict=True) if why is not None
        )
        native: list[str] = []
        index: list[int | None] = []
        for (p, _), why in zip(self._regexes, refusals, strict=True):
            index.append(None if why is not None else len(native))
            if why is None:
                native.append(p.pattern)
        #: for regex k, its index in ``self._native`` (None: it runs on the ``regex`` module)
        self._native_index: tuple[int | None, ...] = tuple(index)
        self._native: UserRegexes | None = None
        if native:
            self._native = UserRegexes(
                native, casefold=case_insensitive, max_holdback_chars=max_holdback_chars
            )
        #: the regexes the ``regex`` module runs
        self._python = tuple(r for r, k in zip(self._regexes, self._native_index, strict=True) if k is None)
        #: ... and those whose hold-back it computes: the native ones with a lazy repetition too (see
        #: ``UserRegexes.native_hold``)
        native_hold = [] if self._native is None else self._native.native_hold
        self._native_holds = any(native_hold)
        self._python_hold = tuple(
            r
            for r, k in zip(self._regexes, self._native_index, strict=True)
            if k is None or not native_hold[k]
        )
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
        self._tails: tuple[regex.Pattern[str] | None, ...] = tuple(
            _tail_pattern(p) for p, _ in self._python_hold
        )

    def find(self, text: str, pos: int = 0) -> list[Match]:
        out: list[Match] = []
        if self._literals is not None:
            rules_of = self._rules
            for s, e, k in self._literals.find(text, pos):
                for rule in rules_of[k]:
                    out.append(Match(s, e, rule.category, rule.severity, rule.message))
        if self._regexes:
            native: list[list[tuple[int, int]]] = []
            if self._native is not None:
                native = [[] for _ in range(len(self._regexes) - len(self._python))]
                for s, e, k in self._native.find(text, pos):
                    native[k].append((s, e))
            norm_map: tuple[str, OffsetMap | None] | None = None
            for (pattern, rule), j in zip(self._regexes, self._native_index, strict=True):
                if j is not None:
                    out.extend(Match(s, e, rule.category, rule.severity, rule.message) for s, e in native[j])
                    continue
                if norm_map is None:
                    norm_map = normalize(text, casefold=self._casefold, fold="blocklist")
                norm, omap = norm_map
                npos = normalized_index(omap, pos)
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
        # The engine's answers already include the last cluster and the cap; the regexes' own smallest
        # undecided start only ever lowers them.
        if self._native is not None and self._native_holds:
            held = min(held, self._native.holdback(text, pos))
        if self._python_hold:
            held = min(held, self._regex_hold(text, pos))
        return held

    def _regex_hold(self, text: str, pos: int) -> int:
        """``holdback`` for the regexes whose hold-back the ``regex`` module computes."""
        n_orig = len(text)
        floor = max(pos, n_orig - self._cap)
        norm, omap = normalize(text, casefold=self._casefold, fold="blocklist")
        held = len(norm)
        lo = normalized_index(omap, floor)
        for (pattern, _rule), tail in zip(self._python_hold, self._tails, strict=True):
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


def _folded_away(pattern: str, case_insensitive: bool) -> list[str]:
    """The non-ASCII characters of a regex that the blocklist's folding changes (as ``U+XXXX``): the
    normalised text never holds them, so the regex cannot match them there."""
    out: list[str] = []
    for ch in dict.fromkeys(pattern):
        if ch.isascii() or _SURROGATE.match(ch) is not None:
            continue
        plain = normalize(ch, casefold=case_insensitive)[0]
        if normalize(ch, casefold=case_insensitive, fold="blocklist")[0] != plain:
            out.append(f"U+{ord(ch):04X}")
    return out


def build_blocklist(options: Mapping[str, Any], *, name: str, key: str) -> BlocklistCheck:
    """Validate the ``blocklist`` provider options and compile every pattern once."""
    try:
        opts = BlocklistOptions.model_validate(dict(options))
    except ValidationError as exc:
        raise pydantic_key(key, exc) from None
    literals: list[tuple[str, _Rule]] = []
    regexes: list[tuple[regex.Pattern[str], _Rule]] = []
    flags = _flags(opts.case_insensitive)
    unseen: list[str] = []
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
            folded = _folded_away(p.pattern, opts.case_insensitive)
            if folded:
                unseen.append(f"{p.pattern!r} ({' '.join(folded)})")
        else:
            lit, _ = normalize(p.pattern, casefold=opts.case_insensitive, fold="blocklist")
            if not lit:
                raise ConfigError(where, "pattern is empty after normalisation")
            if _SURROGATE.search(lit) is not None:
                raise ConfigError(where, "pattern contains a lone surrogate")
            literals.append((lit, rule))
    check = BlocklistCheck(
        name,
        literals=literals,
        regexes=regexes,
        case_insensitive=opts.case_insensitive,
        word=opts.match == "word",
        timeout_s=opts.regex_timeout_ms / 1000,
        max_holdback_chars=opts.max_holdback_chars,
    )
    if unseen:
        log.warning(
            "guardrail %s: blocklist regex(es) with characters the text never holds after normalisation "
            "(write them as the folded text has them, e.g. plain ASCII): %s",
            name,
            "; ".join(unseen),
        )
    if check.fallbacks:
        log.warning(
            "guardrail %s: %d blocklist regex(es) not on the linear-time engine, run by the regex module "
            "with a %d ms timeout instead: %s",
            name,
            len(check.fallbacks),
            opts.regex_timeout_ms,
            "; ".join(f"{p!r}: {why}" for p, why in check.fallbacks),
        )
    return check
