"""Reversible anonymisation (``pii.restore``): the per-request vault of placeholders and the restorer
that puts the client's values back into the answer. Pure: strings in, strings out.

The vault lives on one request's exchange and is dropped with it. It holds the original values, so it
is never logged, never repr'd with them and never handed to the audit log (audit records carry the
findings and keyed hashes, computed before any restoration).

Only placeholders issued while the *request* was anonymised are restored: a placeholder the model
invents (``[EMAIL_7]`` when only ``[EMAIL_1]`` was sent), or one issued while anonymising the answer
(an address the model wrote itself), stays as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping

__all__ = ["PLACEHOLDER", "Restorer", "Vault"]

#: anything that may be a placeholder (``[TYPE_n]``); only those in the restorer's table are replaced
PLACEHOLDER = re.compile(r"\[[^\[\]]+\]")


class Vault:
    """Anonymisation placeholders for one request: the same value gets the same ``[TYPE_n]`` in the
    request and in its response."""

    __slots__ = ("_counts", "_map", "_values")

    def __init__(self) -> None:
        self._map: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}
        self._values: dict[str, str] = {}

    def placeholder(self, category: str, value: str) -> str:
        key = (category.upper(), value)
        found = self._map.get(key)
        if found is None:
            n = self._counts.get(key[0], 0) + 1
            self._counts[key[0]] = n
            found = self._map[key] = f"[{key[0]}_{n}]"
            self._values[found] = value
        return found

    def issued(self) -> dict[str, str]:
        """A copy of placeholder -> original value for every placeholder issued so far."""
        return dict(self._values)

    def __repr__(self) -> str:  # never the values: a repr can end up in a log or a traceback
        return f"<Vault {len(self._values)} placeholders>"


class Restorer:
    """Puts original values back for one answer. ``values``: placeholder -> original, the placeholders
    the client's request was given (and that no output block rule refuses).

    ``restore`` handles whole strings. ``feed``/``flush`` handle one stream channel's text as it is
    released: a tail that may be the start of a placeholder (``"... [EMA"``) is held back until the
    next piece shows whether it is one, so a placeholder split over any number of events is restored
    whole. At most ``max_len - 1`` characters are held, and only after an ``[``.
    """

    __slots__ = ("_bytes", "_held", "_max_len", "_prefixes", "_starts", "_values")

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self._bytes = [p.encode() for p in self._values]
        self._max_len = max((len(p) for p in self._values), default=0)
        # every proper prefix of a placeholder (``[``, ``[E``, ..., ``[EMAIL_1``)
        self._prefixes = frozenset(p[:i] for p in self._values for i in range(1, len(p)))
        self._held: dict[Hashable, str] = {}
        # In raw JSON event bytes, where a placeholder (or a piece of one) may begin: ``[`` and then a
        # placeholder's second character, ``[`` ending a string (``["``), or an escaped ``[``.
        seconds = sorted({re.escape(p[1].encode()) for p in self._values if len(p) > 1})
        self._starts = re.compile(rb"\[(?:" + b"|".join([b'"', *seconds]) + rb")|\\u005[bB]")

    def __bool__(self) -> bool:
        return bool(self._values)

    def __repr__(self) -> str:
        return f"<Restorer {len(self._values)} placeholders>"

    def _one(self, match: re.Match[str]) -> str:
        found = match.group()
        return self._values.get(found, found)

    def restore(self, text: str) -> str:
        if "[" not in text:
            return text
        return PLACEHOLDER.sub(self._one, text)

    def in_bytes(self, body: bytes) -> bool:
        """Whether a JSON body may hold an issued placeholder (they are ASCII with nothing JSON escapes,
        so one the model wrote appears in the bytes as it is)."""
        return b"[" in body and any(p in body for p in self._bytes)

    def safe_prefix(self, data: bytes) -> int:
        """How many leading bytes of raw stream ``data`` surely carry no placeholder nor piece of one."""
        found = self._starts.search(data)
        return len(data) if found is None else found.start()

    def feed(self, channel: Hashable, text: str) -> str:
        """The part of ``text`` (after what ``channel`` held) that can be released, restored."""
        held = self._held.pop(channel, "")
        if held:
            text = held + text
        cut = text.rfind("[", max(0, len(text) - self._max_len + 1))
        if cut >= 0 and text[cut:] in self._prefixes:
            self._held[channel] = text[cut:]
            text = text[:cut]
        return self.restore(text)

    def flush(self, channel: Hashable) -> str:
        """The channel ends: what it held is text (no placeholder completed it)."""
        return self._held.pop(channel, "")

    def holding(self) -> bool:
        return bool(self._held)


def restore_texts(texts: Mapping[int, str], restore: Callable[[str], str]) -> dict[int, str]:
    """The texts ``restore`` changes, by index."""
    out: dict[int, str] = {}
    for i, text in texts.items():
        restored = restore(text)
        if restored != text:
            out[i] = restored
    return out
