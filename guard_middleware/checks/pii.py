"""The ``pii_regex`` provider and the ``[pii]`` section's regex provider: PII found locally. Pure.

Only the types a regex plus a checksum can find reliably are offered; ``Match.category`` is the type:

* EMAIL; URL (``http(s)://``, ``ftp://``, ``www.``; trailing punctuation is not part of it)
* PHONE: North American with separators (``555-123-4567``, ``(555) 123-4567``, ``+1 555 123 4567``) and
  international with a ``+`` country code (8 to 15 digits). Never inside a longer digit run; a bare
  10-digit run is not a phone number.
* SSN: ``AAA-GG-SSSS`` or with spaces, area not 000/666/9xx, group not 00, serial not 0000. A bare
  9-digit run counts only when preceded (within 30 characters) by ``SSN`` or ``social security``.
* CREDIT_CARD: 13-19 digits, optionally grouped by spaces or dashes (4-4-4-4, Amex 4-6-5, Diners 4-6-4),
  passing Luhn and a known issuer prefix/length (Visa, Mastercard 51-55 and 2221-2720, Amex, Discover,
  JCB, Diners).
* IP_ADDRESS: IPv4 (octets up to 255) and IPv6 in every textual form ``ipaddress`` accepts (``::1``,
  ``fe80::1``, ``2001:db8::8a2e:370:7334``).
* DATE_OF_BIRTH: a date preceded by ``born``, ``DOB``, ``birthday``, ``birth date``, ``date of birth``;
  the span is the date only. A date on its own is not a birth date.
* MAC_ADDRESS (``:`` or ``-`` separated); IBAN (mod-97 checksum); AWS_ACCESS_KEY (``AKIA``/``ASIA``/...
  plus 16); AWS_SECRET_KEY (40 base64 characters after ``aws``/``secret``); API_KEY (OpenAI ``sk-``/
  ``sk-proj-``, Anthropic ``sk-ant-``, GitHub ``ghp_``/``gho_``/``github_pat_``, Slack ``xox?-``, Google
  ``AIza``, Stripe ``sk_live_``/``rk_live_``); PASSWORD (after ``password:``/``pwd=``/``passwd is``; the
  span is the value only).

Context words (SSN, DATE_OF_BIRTH, AWS_SECRET_KEY, PASSWORD) must come *before* the value, so a stream
can settle text without waiting for what follows.

NAME, ADDRESS, USERNAME, DRIVERS_LICENSE, PASSPORT and BANK_ACCOUNT are refused at build time: regexes
cannot find them without drowning in false positives. Bedrock ``ApplyGuardrail`` (NAME, ADDRESS,
USERNAME, DRIVER_ID, US_PASSPORT_NUMBER, US_BANK_ACCOUNT_NUMBER) or Lakera (``pii/address``, ...) can.

The rules live in the native engine (``guard_middleware._engine``, ``rust/src/pii.rs``): text is scanned
with cheap anchors first ('@' for emails, runs of digits and separators for the numeric types, ``:``/``-``
for IPv6/MAC, and one Aho-Corasick pass for every context word and literal prefix such as ``https://``,
``AKIA``, ``sk-``); the full patterns (linear-time automata, no backtracking) run only around those
anchors, and validators only on candidates. No input of any shape costs more than a small constant per
character.

Matching runs on NFKC text with format characters removed (no case folding), so full-width digits and
zero-width characters do not evade; spans are mapped back to the original text.

Streams: ``holdback`` keeps back every tail position where a pattern has a partial match or a complete
match touching the end (it may grow), plus the last character cluster; each type looks only at the
trailing run of the characters it can contain, context types only from their context words. It is
capped at ``max_holdback_chars`` (1024); a longer URL straddling stream chunks is reported only in part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from guard_middleware._engine import PiiScanner
from guard_middleware.checks.blocklist import pydantic_key
from guard_middleware.errors import ConfigError
from guard_middleware.verdict import Match

__all__ = ["PII_TYPES", "REMOTE_ONLY_TYPES", "PiiCheck", "PiiRegexOptions", "build_pii_regex"]

#: every type this check can find
PII_TYPES: tuple[str, ...] = (
    "EMAIL",
    "PHONE",
    "SSN",
    "CREDIT_CARD",
    "IP_ADDRESS",
    "DATE_OF_BIRTH",
    "MAC_ADDRESS",
    "URL",
    "IBAN",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "API_KEY",
    "PASSWORD",
)

#: types only a remote provider can find, and which
REMOTE_ONLY_TYPES: dict[str, str] = {
    "NAME": "Bedrock ApplyGuardrail (NAME) or Lakera (pii/name)",
    "ADDRESS": "Bedrock ApplyGuardrail (ADDRESS) or Lakera (pii/address)",
    "USERNAME": "Bedrock ApplyGuardrail (USERNAME)",
    "DRIVERS_LICENSE": "Bedrock ApplyGuardrail (DRIVER_ID)",
    "PASSPORT": "Bedrock ApplyGuardrail (US_PASSPORT_NUMBER)",
    "BANK_ACCOUNT": "Bedrock ApplyGuardrail (US_BANK_ACCOUNT_NUMBER)",
}


class PiiRegexOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    # The provider table's own discriminator may be passed along with the options.
    type: Literal["pii_regex", "regex"] | None = None
    email: bool = True
    phone: bool = True
    ssn: bool = True
    credit_card: bool = True
    ip_address: bool = True
    date_of_birth: bool = True
    types: list[str] = Field(default_factory=list)
    max_holdback_chars: int = Field(default=1024, ge=1)


class PiiCheck:
    """Built-in PII detection. Build with ``build_pii_regex`` or ``PiiCheck.for_types``."""

    def __init__(self, name: str, types: Iterable[str], *, max_holdback_chars: int = 1024) -> None:
        self.name = name
        self.types: tuple[str, ...] = tuple(dict.fromkeys(types))
        self._scanner = PiiScanner(list(self.types), max_holdback_chars=max_holdback_chars)

    @classmethod
    def for_types(
        cls, types: Sequence[str], *, name: str, key: str, max_holdback_chars: int = 1024
    ) -> PiiCheck:
        """The ``[pii]`` section's ``types`` list; names match case-insensitively."""
        if isinstance(types, str):
            raise ConfigError(key, "types must be a list of PII type names")
        wanted: list[str] = []
        for i, raw in enumerate(types):
            if not isinstance(raw, str):
                raise ConfigError(f"{key}[{i}]", f"expected a PII type name, got {raw!r}")
            t = raw.strip().upper()
            if t in REMOTE_ONLY_TYPES:
                raise ConfigError(
                    f"{key}[{i}]",
                    f"{t} cannot be detected reliably by regex; "
                    f"use a remote provider: {REMOTE_ONLY_TYPES[t]}",
                )
            if t not in PII_TYPES:
                raise ConfigError(
                    f"{key}[{i}]", f"unknown PII type {raw!r}; valid types: {', '.join(PII_TYPES)}"
                )
            wanted.append(t)
        return cls(name, wanted, max_holdback_chars=max_holdback_chars)

    def find(self, text: str, pos: int = 0) -> list[Match]:
        return [Match(s, e, category) for s, e, category in self._scanner.find(text, pos)]

    def holdback(self, text: str, pos: int = 0) -> int:
        return self._scanner.holdback(text, pos)

    def native(self) -> PiiScanner:
        return self._scanner


def build_pii_regex(options: Mapping[str, Any], *, name: str, key: str) -> PiiCheck:
    """The seed's ``pii_regex`` provider: six booleans (default true) plus our ``types`` extension."""
    try:
        opts = PiiRegexOptions.model_validate(dict(options))
    except ValidationError as exc:
        raise pydantic_key(key, exc) from None
    chosen = [
        t
        for t, on in (
            ("EMAIL", opts.email),
            ("PHONE", opts.phone),
            ("SSN", opts.ssn),
            ("CREDIT_CARD", opts.credit_card),
            ("IP_ADDRESS", opts.ip_address),
            ("DATE_OF_BIRTH", opts.date_of_birth),
        )
        if on
    ]
    extra = PiiCheck.for_types(opts.types, name=name, key=f"{key}.types").types
    types = [*chosen, *extra]
    if not types:
        raise ConfigError(key, "every PII type is switched off")
    return PiiCheck(name, types, max_holdback_chars=opts.max_holdback_chars)
