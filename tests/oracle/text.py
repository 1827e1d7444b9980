# ruff: noqa: RUF002  # the docstring shows the look-alike characters it folds
"""Text normalisation for matching, with a map back to the original offsets. Pure.

Checks match on a *normalised* copy of the text so that trivial evasions fail:

* NFKC folds compatibility forms: full-width letters (``ｈａｃｋ``), ligatures (``ﬁ``), superscripts, ...
* case folding (``str.casefold``, optional) folds ``ß`` to ``ss``, ``Σ``/``ς`` to ``σ``, ...
* format characters (Unicode category Cf: zero-width space/joiners, word joiner, BOM, soft hyphen, bidi
  controls, ...) are removed, so ``h\u200back`` is ``hack``.

A span found in the normalised text is reported in the original text's offsets. The original span
covers every original character that produced any normalised character of the span, plus every removed
format character *between* them, so redacting it also removes the zero-width characters hidden inside.

Normalisation works cluster by cluster (a starter plus its combining marks), which is what lets each
output character point back at its source. Pure ASCII, the common case, takes a fast path with no map.

``fold`` (``"pii"`` or ``"blocklist"``, see ``guard_middleware.text``) then folds each character of a
cluster's normalisation on its own, before case folding and after (ASCII letters the fold gives are
lowercased when case folding): Cyrillic ``Т`` is ``T`` and then ``t``, Cyrillic ``і`` is ``i``.
The PII fold is spelled out here (``unicodedata``); the blocklist fold of one character is the
engine's (its rules and tables live in the engine once; see ``rust/gen_unicode_tables.py``), and this
reference checks how the engine clusters, folds and maps texts with it.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Literal, overload

import regex

from guard_middleware import _engine

Fold = Literal["none", "pii", "blocklist"]

__all__ = [
    "OffsetMap",
    "last_cluster_start",
    "normalize",
    "normalized_index",
    "original_index",
    "original_span",
]

# Runs of non-ASCII text. Each run is handled together with the character before it: a combining mark
# composes with the character it follows, which may be ASCII ("e" + U+0301 is "é").
_NON_ASCII_RUN = regex.compile(r"[^\x00-\x7f]+")
_FORMAT_CHAR = regex.compile(r"\p{Cf}")


@cache
def fold_char(ch: str, fold: Fold, casefold: bool) -> str:
    """The fold of one character of NFKC text."""
    if ch.isascii() or fold == "none":
        return ch
    if unicodedata.category(ch) == "Pd" or ch == "\u2212":
        return "-"
    if unicodedata.category(ch) == "Zs":
        return " "
    if unicodedata.category(ch) == "Nd":
        return str(unicodedata.decimal(ch))
    if fold == "pii":
        return ch
    out = _engine.normalize(ch, casefold=False, fold="blocklist")[0]
    return "".join(c.lower() if c.isascii() and casefold else c for c in out)


def _fold(text: str, fold: Fold, casefold: bool) -> str:
    if fold == "none":
        return text
    return "".join(fold_char(c, fold, casefold) for c in text)


def _continues_cluster(ch: str) -> bool:
    """True for characters that can change the character before them under NFKC: combining marks and
    the Hangul vowel/final jamo that compose into a syllable."""
    return unicodedata.combining(ch) != 0 or "\u1160" <= ch <= "\u11ff"


class OffsetMap(Sequence[int]):
    """Maps each normalised index to the index of the original character that produced it.

    Stored as piecewise segments rather than one int per character, so building it for a mostly-ASCII
    megabyte costs a few segments, not a million integers. A segment is either a run where the
    normalised and original text advance together, or one original cluster ``[orig, orig_end)`` that
    produced several (or differently many) normalised characters.
    """

    __slots__ = ("_ends", "_length", "_linear", "_norm", "_orig", "_orig_len")

    def __init__(self, length: int, orig_len: int) -> None:
        self._norm: list[int] = []
        self._orig: list[int] = []
        self._ends: list[int] = []
        self._linear: list[bool] = []
        self._length = length
        self._orig_len = orig_len

    def _add(self, norm_start: int, orig_start: int, orig_end: int, linear: bool) -> None:
        if linear and self._linear and self._linear[-1]:
            # Merge adjacent identity runs so lookups stay short.
            k = len(self._norm) - 1
            if self._ends[k] == orig_start and self._orig[k] + (norm_start - self._norm[k]) == orig_start:
                self._ends[k] = orig_end
                return
        self._norm.append(norm_start)
        self._orig.append(orig_start)
        self._ends.append(orig_end)
        self._linear.append(linear)

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[int]: ...

    def __getitem__(self, index: int | slice) -> int | Sequence[int]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._length))]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError(index)
        k = bisect_right(self._norm, index) - 1
        if self._linear[k]:
            return self._orig[k] + index - self._norm[k]
        return self._orig[k]

    def end_of(self, index: int) -> int:
        """The original index just past the cluster that produced normalised character ``index``."""
        k = bisect_right(self._norm, index) - 1
        if self._linear[k]:
            return self._orig[k] + index - self._norm[k] + 1
        return self._ends[k]

    def to_normalized(self, orig_index: int) -> int:
        """The smallest normalised index whose source starts at or after ``orig_index``."""
        if orig_index <= 0:
            return 0
        if orig_index >= self._orig_len:
            return self._length
        k = bisect_right(self._orig, orig_index) - 1
        if k < 0:
            return 0
        seg_norm_end = self._norm[k + 1] if k + 1 < len(self._norm) else self._length
        if self._linear[k]:
            return min(self._norm[k] + orig_index - self._orig[k], seg_norm_end)
        return self._norm[k] if orig_index == self._orig[k] else seg_norm_end


# Streams call every check's ``find`` and ``holdback`` on the same short text (context + held tail + new
# chunk), and every check normalises it. Short texts are cached (the result is immutable: callers never
# change the map); a long text is remembered in one slot, enough for the checks of one request to share
# it. Python caches a str's hash, so a repeated lookup costs one dict probe.
_CACHE_MAX_CHARS = 4096
_last_long: tuple[str, bool, Fold, tuple[str, OffsetMap | None]] | None = None


def normalize(text: str, *, casefold: bool = True, fold: Fold = "none") -> tuple[str, OffsetMap | None]:
    """NFKC, optional case folding and removal of format characters, then ``fold``.

    Returns the normalised text and the map from normalised to original indices, or None when every
    normalised index equals its original index (pure ASCII: only case changes). The map is shared
    between callers (results are cached) and must not be modified.
    """
    global _last_long
    if text.isascii():
        return (text.lower() if casefold else text), None
    if len(text) <= _CACHE_MAX_CHARS:
        return _normalize_cached(text, casefold, fold)
    last = _last_long
    if last is not None and last[1] is casefold and last[2] == fold and last[0] == text:
        return last[3]
    result = _normalize(text, casefold, fold)
    _last_long = (text, casefold, fold, result)
    return result


@lru_cache(maxsize=128)
def _normalize_cached(text: str, casefold: bool, fold: Fold = "none") -> tuple[str, OffsetMap | None]:
    return _normalize(text, casefold, fold)


def _normalize(text: str, casefold: bool, fold: Fold = "none") -> tuple[str, OffsetMap | None]:
    pieces: list[str] = []
    omap = OffsetMap(0, len(text))
    n = 0  # normalised length so far
    done = 0  # original index up to which text is handled
    for run in _NON_ASCII_RUN.finditer(text):
        rs, re_ = run.span()
        if rs > done:
            rs -= 1
        if rs > done:
            chunk = text[done:rs]
            pieces.append(chunk.lower() if casefold else chunk)
            omap._add(n, done, rs, True)
            n += rs - done
        seg = text[rs:re_]
        folded = seg.casefold() if casefold else seg
        if (
            len(folded) == len(seg)
            and _FORMAT_CHAR.search(seg) is None
            and unicodedata.is_normalized("NFKC", folded)
            and unicodedata.is_normalized("NFKC", seg)
            and _fold(folded, fold, casefold) == folded
            and (not casefold or _fold(seg, fold, False) == seg)
            # With a fold, marks map with their cluster (a mark the fold drops belongs to its letter).
            and (fold == "none" or not any(_continues_cluster(c) for c in seg))
        ):
            # Already normal and case folding is one-to-one: identity map for the whole run.
            pieces.append(folded)
            omap._add(n, rs, re_, True)
            n += len(seg)
        else:
            n = _normalize_run(text, rs, re_, casefold, fold, pieces, omap, n)
        done = re_
    if done < len(text):
        chunk = text[done:]
        pieces.append(chunk.lower() if casefold else chunk)
        omap._add(n, done, len(text), True)
        n += len(text) - done
    omap._length = n
    return "".join(pieces), omap


def _normalize_run(
    text: str, start: int, end: int, casefold: bool, fold: Fold, pieces: list[str], omap: OffsetMap, n: int
) -> int:
    i = start
    while i < end:
        j = i + 1
        while j < end and _continues_cluster(text[j]):
            j += 1
        cluster = _FORMAT_CHAR.sub("", text[i:j])
        if cluster:
            out = unicodedata.normalize("NFKC", cluster)
            if casefold:
                # Fold before case folding too: an uppercase look-alike is its ASCII capital.
                out = _fold(out, fold, False)
                out = out.casefold()
                if not unicodedata.is_normalized("NFKC", out):
                    out = unicodedata.normalize("NFKC", out)
            # Strip format characters NFKC itself may have produced; fold what is left.
            out = _fold(_FORMAT_CHAR.sub("", out), fold, casefold)
            if out:
                if out == cluster and j - i == len(out):
                    omap._add(n, i, j, True)
                else:
                    omap._add(n, i, j, False)
                pieces.append(out)
                n += len(out)
        i = j
    return n


def original_span(offsets: OffsetMap | None, start: int, end: int) -> tuple[int, int]:
    """Map the normalised span ``[start, end)`` to the original span covering every original character
    involved (whole clusters, and the format characters between them)."""
    if offsets is None:
        return start, end
    if start >= end:
        # Empty span: anchor it where the normalised index begins.
        pos = offsets[start] if start < len(offsets) else offsets._orig_len
        return pos, pos
    return offsets[start], offsets.end_of(end - 1)


def original_index(offsets: OffsetMap | None, index: int) -> int:
    """The original index where normalised index ``index`` begins (``len(original)`` at the end)."""
    if offsets is None:
        return index
    return offsets[index] if index < len(offsets) else offsets._orig_len


def normalized_index(offsets: OffsetMap | None, orig_index: int) -> int:
    """The smallest normalised index whose source starts at or after original index ``orig_index``."""
    if offsets is None:
        return orig_index
    return offsets.to_normalized(orig_index)


def last_cluster_start(text: str) -> int:
    """Where the last character cluster of ``text`` starts (``len(text)`` for empty text).

    Streams hold this back: the next chunk may begin with a combining mark that changes the cluster
    under NFKC ("e" then U+0301 is "é"), so the cluster is never settled until more text arrives.
    Trailing format characters are included, as they are invisible and produce nothing.
    """
    i = len(text)
    while i > 0 and _FORMAT_CHAR.match(text, i - 1) is not None:
        i -= 1
    while i > 1 and _continues_cluster(text[i - 1]):
        i -= 1
    return i - 1 if i > 0 else 0
