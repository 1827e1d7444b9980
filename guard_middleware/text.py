"""Text normalisation for matching, with a map back to the original offsets. Pure.

Checks match on a *normalised* copy of the text so that trivial evasions fail: NFKC folds
compatibility forms (full-width letters, ligatures, superscripts), case folding (``str.casefold``,
optional) folds ``ß`` to ``ss``, and format characters (Unicode category Cf: zero-width space and
joiners, word joiner, BOM, soft hyphen, bidi controls) are removed.

A span found in the normalised text is reported in the original text's offsets: it covers every
original character that produced any normalised character of the span, plus every removed format
character *between* them, so redacting it also removes the zero-width characters hidden inside.

The work is done by the native engine (``guard_middleware._engine``); this module is the Python face
the blocklist's user regexes use. Pure ASCII, the common case, has no map.
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
