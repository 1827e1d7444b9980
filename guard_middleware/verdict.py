"""Plain data shared by checks, providers, the pipeline and the shell. No I/O here."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

JsonPath = tuple[str | int, ...]


class ObjectKey(str):
    """A JSON path element naming an object *key* itself (the key is the text), not its value."""

    __slots__ = ()


class Action(enum.IntEnum):
    """What to do about a finding. The integer order is the precedence:
    block > redact > warn > log > allow."""

    ALLOW = 0
    LOG = 1
    WARN = 2
    REDACT = 3
    BLOCK = 4

    @classmethod
    def parse(cls, value: str) -> Action:
        """Accept the seed's spellings; ``modify``/``anonymize``/``mask`` are rewrites like ``redact``."""
        key = value.strip().lower()
        alias = {"modify": "redact", "anonymize": "redact", "mask": "redact", "monitor": "log"}
        key = alias.get(key, key)
        try:
            return cls[key.upper()]
        except KeyError:
            raise ValueError(
                f"unknown action {value!r}; expected one of block, redact, anonymize, warn, log, allow"
            ) from None


class Phase(enum.StrEnum):
    INPUT = "input"
    OUTPUT = "output"


@dataclass(frozen=True, slots=True)
class Segment:
    """One piece of text and where it lives.

    ``path`` is the JSON path inside the body. For tool-call arguments (a JSON string holding JSON) the
    path continues into the decoded arguments after the key ``"arguments"``; ``kind`` says so. A last
    element of type ``ObjectKey`` means the text is that object key.

    ``parts``: for adjacent text parts checked as one text, ``(path, length)`` of each part in order;
    ``text`` is their concatenation and ``path`` the first part's.
    """

    path: JsonPath
    text: str
    role: str | None = None
    kind: Literal["content", "tool_arguments", "other"] = "content"
    parts: tuple[tuple[JsonPath, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Match:
    """A local check's hit in one text: half-open ``[start, end)`` offsets into the original text."""

    start: int
    end: int
    category: str
    severity: str = "high"
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A hit attributed to a guardrail, with the action the policy (or provider) chose.

    ``action`` None means "not decided by the source": the pipeline applies the phase's ``actions`` table
    (case-insensitive category keys) and then ``default_action``.
    ``segment`` indexes the segment list the guardrail was given; None means the request as a whole.
    ``replacement`` is provider-supplied text for ``[start, end)`` of that segment.
    """

    guardrail: str
    category: str
    severity: str = "high"
    action: Action | None = None
    segment: int | None = None
    start: int | None = None
    end: int | None = None
    message: str | None = None
    replacement: str | None = None


Status = Literal["success", "guardrail_intervened", "guardrail_failed_to_respond"]


@dataclass(slots=True)
class ProviderOutcome:
    """What a remote provider answered, already understood.

    ``rewrites`` maps a segment index to the segment's whole new text (provider masking). A provider
    returns rewrites only when it was configured to mask and the answer maps unambiguously onto the
    segments it was sent; otherwise it raises ``ProviderError`` (fail closed).
    ``blocked_message`` is the provider's own text for a block (Bedrock blocked messaging, ...), used by
    ``disable_exception_on_block``.
    """

    findings: list[Finding] = field(default_factory=list)
    rewrites: dict[int, str] = field(default_factory=dict)
    blocked_message: str | None = None


class ProviderError(Exception):
    """A remote provider could not give an answer we understand.

    ``kind``: ``timeout`` | ``http`` (non-2xx) | ``auth`` (401/403) | ``rate_limited`` (429) |
    ``connection`` | ``malformed`` (body not parseable or not the documented shape).
    """

    def __init__(self, kind: str, detail: str, *, status: int | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.status = status
