"""The ``pii_regex`` provider and the ``[pii]`` section's regex provider: PII found locally. Pure.

Only the types rules plus a checksum can find reliably are offered; ``Match.category`` is the type. The
rules live once, in the native engine (``rust/src/pii.rs``, ``pii/numeric.rs``, ``secret.rs``); the
README has the full table with recall and false-positive figures (``tests/bench_detection.py``).

* EMAIL: local parts of ASCII or of any script (not mixing a script written without spaces with
  another: ``メールはgsato@…`` is ``gsato@…``), IDN domains, punycode and native top-level domains.
* PHONE: digit groups parsed by hand: ``+`` or ``00`` and a country code (E.164), North American
  ``(NPA) NXX-XXXX``, national numbers with a trunk 0 (``0161 496 0280``, ``090-5932-3979``,
  ``(06423) 081375``), Russian ``8 (912) …``, Brazilian ``82 2460-7104``, Chinese mobiles; extensions
  (``x1234``) belong to the span. A bare run of digits is a phone number only after a phone word
  (``tel``, ``Telefon``, ``电话``, ...) or in a mobile shape (CN ``1[3-9]…``, RU ``89…``).
* SSN: ``AAA-GG-SSSS`` with one of ``-``, space or ``.`` twice; area not 000/666/9xx, group not 00,
  serial not 0000. A bare 9-digit run counts only after ``SSN`` or ``social security``.
* CREDIT_CARD: 12-19 digits, ungrouped or in fours (last group 1-5), Amex 4-6-5, Diners 4-6-4, with
  spaces, dashes or dots (mixed too), passing Luhn and the issuer table (Visa, Mastercard, Amex,
  Discover, JCB, Diners, Maestro, UnionPay, Mir, RuPay, Troy).
* IP_ADDRESS: IPv4 and every textual IPv6 form. Versions with a suffix (``2.1.0.4-rc1``) are never
  addresses; by default (``ip_address = {exclude_special, exclude_versions}``) neither are
  special-purpose addresses (``0.0.0.0``, ``127.0.0.1``, ``::1``, documentation ranges) nor four-part
  versions (``urllib3-1.19.5.145``, ``version 2.28.9.178``, ``==1.2.3.4``).
* DATE_OF_BIRTH: a date within 24 characters after a birth word in twelve languages (``born``,
  ``geboren``, ``né``, ``nacido``, ``nato``, ``nascido``, ``родился``, ``生年月日``, ``出生``,
  ``ولد``, ``जन्म`` ...); numeric, month-name (English, German, French, Spanish, Italian, Portuguese,
  Russian) and ``1990年1月12日`` forms. The span is the date only; a date alone is not a birth date.
* MAC_ADDRESS (``:`` or ``-`` separated, Cisco ``0011.2233.44ab``); URL (``http(s)://``, ``ftp://``,
  ``www.`` in any case; trailing punctuation is not part of it); IBAN (either case, grouped by spaces
  or dashes, country length and mod-97 checked).
* The ``SECRET`` family (``types = ["SECRET"]`` expands to all of them): AWS_ACCESS_KEY, AWS_SECRET_KEY
  (env, JSON, INI and YAML shapes), API_KEY (OpenAI, Anthropic, GitHub, GitLab, Slack, Stripe live and
  test, Google, Hugging Face, npm, PyPI, SendGrid, Azure keys and SAS signatures, ...), PRIVATE_KEY (the
  whole PEM block), JWT, URL_CREDENTIALS (the password of ``scheme://user:password@host``),
  GENERIC_SECRET (``*_KEY=``/``*_TOKEN=``/``*_SECRET=`` with a high-entropy value) and PASSWORD (a
  value that looks like one after ``password``/``pwd``/``passwd``).

Boundaries: a value may not be glued to ASCII letters and digits that would make it part of a longer
token (hashes, ids, ``0.4201…``), but letters of scripts written without spaces may touch it on either
side (``电话415-555-0132``, ``卡号4111111111111111的``), and a word of letters only may precede a number
(``tel415-555-0132``).

Context words come *before* the value, so a stream can settle text without waiting for what follows.

NAME, ADDRESS, USERNAME, DRIVERS_LICENSE, PASSPORT and BANK_ACCOUNT are refused at build time: rules
cannot find them without drowning in false positives. Bedrock ``ApplyGuardrail`` (NAME, ADDRESS,
USERNAME, DRIVER_ID, US_PASSPORT_NUMBER, US_BANK_ACCOUNT_NUMBER) or Lakera (``pii/address``, ...) can.

Text is scanned with cheap anchors first ('@', runs of digits and separators, ``:``/``-`` for
IPv6/MAC, one pass for every context word and literal prefix); the full rules run only around those
anchors, and validators only on candidates. No input of any shape costs more than a small constant per
character. Matching runs on normalised text (NFKC, format characters removed, digits of every script
folded to ASCII, every dash to ``-``); spans are mapped back to the original text.

Streams: ``holdback`` keeps back every tail position where a rule could still match once more text
arrives (a superset where that is cheaper: holding more is safe), plus the last character cluster. It is
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

__all__ = ["FAMILIES", "PII_TYPES", "REMOTE_ONLY_TYPES", "PiiCheck", "PiiRegexOptions", "build_pii_regex"]

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
    "PRIVATE_KEY",
    "JWT",
    "URL_CREDENTIALS",
    "GENERIC_SECRET",
)

#: type families a ``types`` list may name: each stands for its members
FAMILIES: dict[str, tuple[str, ...]] = {
    "SECRET": (
        "AWS_ACCESS_KEY",
        "AWS_SECRET_KEY",
        "API_KEY",
        "PRIVATE_KEY",
        "JWT",
        "URL_CREDENTIALS",
        "GENERIC_SECRET",
        "PASSWORD",
    ),
}

#: types only a remote provider can find, and which
REMOTE_ONLY_TYPES: dict[str, str] = {
    "NAME": "Bedrock ApplyGuardrail (NAME) or Lakera (pii/name)",
    "ADDRESS": "Bedrock ApplyGuardrail (ADDRESS) or Lakera (pii/address)",
    "USERNAME": "Bedrock ApplyGuardrail (USERNAME)",
    "DRIVERS_LICENSE": "Bedrock ApplyGuardrail (DRIVER_ID)",
    "PASSPORT": "Bedrock ApplyGuardrail (US_PASSPORT_NUMBER)",
    "BANK_ACCOUNT": "Bedrock ApplyGuardrail (US_BANK_ACCOUNT_NUMBER)",
}


class IpAddressRules(BaseModel):
    """The debatable IP_ADDRESS families, as policy: both are left out by default."""

    # Not strict: `GUARD_PII__IP_ADDRESS__EXCLUDE_SPECIAL=false` arrives as a string.
    model_config = ConfigDict(extra="forbid")

    # 0.0.0.0/8, 127.0.0.0/8, 255.255.255.255, the documentation ranges, ::, ::1, 2001:db8::/32
    exclude_special: bool = True
    # four-part versions: `urllib3-1.19.5.145`, `version 2.28.9.178`, `==1.2.3.4`
    exclude_versions: bool = True


class PiiRegexOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    # The provider table's own discriminator may be passed along with the options.
    type: Literal["pii_regex", "regex"] | None = None
    email: bool = True
    phone: bool = True
    ssn: bool = True
    credit_card: bool = True
    # `true`/`false`, or a table of `IpAddressRules` (which switches the type on)
    ip_address: bool | IpAddressRules = True
    date_of_birth: bool = True
    types: list[str] = Field(default_factory=list)
    max_holdback_chars: int = Field(default=1024, ge=1)


class PiiCheck:
    """Built-in PII detection. Build with ``build_pii_regex`` or ``PiiCheck.for_types``."""

    def __init__(
        self,
        name: str,
        types: Iterable[str],
        *,
        max_holdback_chars: int = 1024,
        ip_rules: IpAddressRules | None = None,
    ) -> None:
        self.name = name
        self.types: tuple[str, ...] = tuple(dict.fromkeys(types))
        rules = ip_rules or IpAddressRules()
        self._scanner = PiiScanner(
            list(self.types),
            max_holdback_chars=max_holdback_chars,
            ip_exclude_special=rules.exclude_special,
            ip_exclude_versions=rules.exclude_versions,
        )

    @classmethod
    def for_types(
        cls,
        types: Sequence[str],
        *,
        name: str,
        key: str,
        max_holdback_chars: int = 1024,
        ip_rules: IpAddressRules | None = None,
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
            if t in FAMILIES:
                wanted.extend(FAMILIES[t])
                continue
            if t not in PII_TYPES:
                raise ConfigError(
                    f"{key}[{i}]",
                    f"unknown PII type {raw!r}; valid types: {', '.join((*PII_TYPES, *FAMILIES))}",
                )
            wanted.append(t)
        return cls(name, wanted, max_holdback_chars=max_holdback_chars, ip_rules=ip_rules)

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
            ("IP_ADDRESS", opts.ip_address is not False),
            ("DATE_OF_BIRTH", opts.date_of_birth),
        )
        if on
    ]
    extra = PiiCheck.for_types(opts.types, name=name, key=f"{key}.types").types
    types = [*chosen, *extra]
    if not types:
        raise ConfigError(key, "every PII type is switched off")
    ip_rules = opts.ip_address if isinstance(opts.ip_address, IpAddressRules) else None
    return PiiCheck(name, types, max_holdback_chars=opts.max_holdback_chars, ip_rules=ip_rules)
