"""The contract every local text check meets. Pure: no I/O, no aiohttp."""

from __future__ import annotations

from typing import Protocol

from guard_middleware._engine import Literals, PiiScanner
from guard_middleware.verdict import Match


class TextCheck(Protocol):
    """A local check that finds spans in one text.

    Checks are built once at start-up (all patterns compiled then) and are safe to share between
    concurrent requests: ``find``/``holdback`` keep no per-call state on the object.
    """

    #: the guardrail name reported in ``X-Guardrails-Applied`` and audit records
    name: str

    def find(self, text: str, pos: int = 0) -> list[Match]:
        """Every complete match that starts at or after ``pos``, with offsets into ``text``.

        ``text[:pos]`` is context only (look-behind, word boundaries); it is never reported.
        Matches are sorted by start; overlapping matches may both be returned.
        """
        ...

    def holdback(self, text: str, pos: int = 0) -> int:
        """For streams: the smallest index ``i >= pos`` such that ``text[i:]`` could still become part of
        a match once more text arrives (a partial match, or a complete match that touches the end and
        could grow). ``len(text)`` when nothing at the end is undecided.

        Text before the returned index is settled: ``find`` on any extension of ``text`` reports exactly
        the same matches there.
        """
        ...

    def native(self) -> Literals | PiiScanner | None:
        """The engine object whose matches are exactly this check's (the fast path runs it on whole
        bodies); None when the check also runs Python code (user regexes)."""
        ...


class CheckError(Exception):
    """A local check could not finish (a regex hit its time limit). The pipeline fails closed."""
