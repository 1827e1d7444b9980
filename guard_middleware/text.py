# ruff: noqa: RUF002  # the docstring shows the look-alike characters it folds
"""Text normalisation for matching, with a map back to the original offsets. Pure.

Checks match on a *normalised* copy of the text so that trivial evasions fail: NFKC folds
compatibility forms (full-width letters, ligatures, superscripts), case folding (``str.casefold``,
optional) folds ``ß`` to ``ss``, and format characters (Unicode category Cf: zero-width space and
joiners, word joiner, BOM, soft hyphen, bidi controls) are removed.

A *fold* goes further, one character of the NFKC text at a time, never changing ASCII:

* ``fold="pii"`` (the PII scanner): every decimal digit of any script (Nd: ``٤``, ``४``, ``๔``) is
  its ASCII digit, every dash (Pd: ``‐ ‑ – —``, and U+2212 ``−``) is ``-``, every space separator
  (Zs: no-break space, U+202F, ideographic space) is a space. Nothing else.
* ``fold="blocklist"`` (literals and regexes of the blocklist, and its patterns): the same, and
  what a reader cannot tell apart is one text: nonspacing and enclosing marks are dropped (accents
  after decomposition, so ``café`` is ``cafe``; strikethrough and zalgo, so ``c̶a̶t̶`` is ``cat``),
  default-ignorable characters are dropped (variation selectors, the grapheme joiner U+034F, Hangul
  fillers), and letters, digits and punctuation that look like ASCII ones are those (a skeleton
  from Unicode's UTS #39 confusables: Cyrillic ``с``, Greek ``ο``, dotless ``ı``, small capitals
  ``ᴄᴏᴍ``, ``’`` and ``“``). A look-alike maps only to ASCII of its own class (a letter to letters, a
  punctuation mark to punctuation), and letters of right-to-left, East Asian and South and
  Southeast Asian scripts never map, so ordinary text in those scripts is left alone; ASCII never
  changes, so ``rn`` is not ``m`` and ``l``, ``I`` and ``1`` stay apart.

A span found in the normalised text is reported in the original text's offsets: it covers every
original character that produced any normalised character of the span, plus every removed format
character *between* them, so redacting it also removes the zero-width characters hidden inside.

A character a fold drops belongs to the span of the characters either side of it, like a format
character; a dropped mark belongs to its letter's cluster, so a span ending on that letter covers it.

The work is done by the native engine (``guard_middleware._engine``, ``rust/src/normalize.rs``, where
the rules live); this module is the Python face the blocklist's user regexes use. Pure ASCII, the
common case, has no map.
"""

from __future__ import annotations

from guard_middleware._engine import OffsetMap, last_cluster_start, normalize

__all__ = [
    "OffsetMap",
    "last_cluster_start",
    "normalize",
    "normalized_index",
    "original_index",
    "original_span",
]


def original_span(offsets: OffsetMap | None, start: int, end: int) -> tuple[int, int]:
    """Map the normalised span ``[start, end)`` to the original span covering every original character
    involved (whole clusters, and the format characters between them)."""
    return (start, end) if offsets is None else offsets.original_span(start, end)


def original_index(offsets: OffsetMap | None, index: int) -> int:
    """The original index where normalised index ``index`` begins (``len(original)`` at the end)."""
    return index if offsets is None else offsets.original_index(index)


def normalized_index(offsets: OffsetMap | None, orig_index: int) -> int:
    """The smallest normalised index whose source starts at or after original index ``orig_index``."""
    return orig_index if offsets is None else offsets.normalized_index(orig_index)
