"""Historical baseline: the pure-Python PII check the engine was ported from (before issue 9). The rules
now live in the engine only and differ from these; this module is kept as the benchmarks' Python
baseline for speed, not as a reference for results.

The ``pii_regex`` provider and the ``[pii]`` section's regex provider: PII found locally. Pure.

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

Speed: text is scanned with cheap anchors first ('@' for emails, runs of digits and separators for the
numeric types, ``:``/``-`` pairs for IPv6/MAC, and one Aho-Corasick pass for every context word and
literal prefix such as ``https://``, ``AKIA``, ``sk-``); the full patterns run only around those anchors,
and validators only on candidates. Edge conditions (not glued to a word, not inside a longer digit run)
are checked on the candidate, which keeps the patterns free of leading look-behinds that would stop the
engines from skipping ahead.

Matching runs on NFKC text with format characters removed (no case folding), so full-width digits and
zero-width characters do not evade; spans are mapped back to the original text.

Streams: ``holdback`` keeps back every tail position where a pattern has a partial match or a complete
match touching the end (it may grow), using ``regex`` partial matching on twins of the patterns that
carry the edge conditions as look-arounds, plus the last character cluster. Each type searches only the
trailing run of the characters it can contain (one call per character class), context types only from
their context words, so a text ending in a plain word costs a few microseconds. It is capped at
``max_holdback_chars`` (1024); a longer URL straddling stream chunks is reported only in part.
"""

from __future__ import annotations

import ipaddress
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import product
from typing import Any, Literal

import ahocorasick_rs
import regex

from guard_middleware.verdict import Match
from tests.oracle.blocklist import NEVER_COMPLETE as _NEVER_COMPLETE
from tests.oracle.blocklist import scan_literals
from tests.oracle.text import last_cluster_start, normalize, normalized_index, original_index
from tests.oracle.text import original_span as _original_span

__all__ = ["PII_TYPES", "PiiCheck"]

Anchor = Literal["digits", "email", "colon", "dash_colon", "scan", "context"]


@dataclass(frozen=True, slots=True)
class _Type:
    name: str
    body: str  # the pattern without edge conditions; group ``v`` (if any) is the reported span
    anchor: Anchor
    lead: str = ""  # character class that must not precede the match ("" = anything may)
    trail: str = ""  # character class that must not follow the match
    validate: Callable[[str], bool] | None = None
    context: tuple[str, ...] = ()  # lower-case words that start a context match
    max_len: int = 64
    engine: Literal["re", "regex"] = "re"
    #: a character class holding every character a match can consume ("" for context types, which
    #: holdback finds through their context words instead)
    chars: str = ""
    #: for ``scan``: literal prefixes, one of which every match starts with (case-sensitive); the pattern
    #: then runs only where the trigger automaton found one. Without triggers the pattern scans the text.
    triggers: tuple[str, ...] = ()


# ---------------------------------------------------------------- validators (run on candidates only)


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def _luhn(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_issuer_ok(n: str) -> bool:
    length = len(n)
    if n[0] == "4":
        return length in (13, 16, 19)
    p2, p4, p6 = int(n[:2]), int(n[:4]), int(n[:6])
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return length == 16
    if p2 in (34, 37):
        return length == 15
    if n.startswith("6011") or p2 == 65 or 644 <= int(n[:3]) <= 649 or 622126 <= p6 <= 622925:
        return 16 <= length <= 19
    if 3528 <= p4 <= 3589:
        return 16 <= length <= 19
    if 300 <= int(n[:3]) <= 305 or p2 in (36, 38, 39):
        return 14 <= length <= 19
    return False


def _valid_card(value: str) -> bool:
    n = _digits(value)
    return 13 <= len(n) <= 19 and _card_issuer_ok(n) and _luhn(n)


def _valid_ssn(value: str) -> bool:
    n = _digits(value)
    if len(n) != 9:
        return False
    area, group, serial = int(n[:3]), n[3:5], n[5:]
    return area not in (0, 666) and area < 900 and group != "00" and serial != "0000"


def _valid_ipv4(value: str) -> bool:
    return all(int(octet) <= 255 for octet in value.split("."))


def _valid_ipv6(value: str) -> bool:
    if not any(c not in ":" for c in value):
        return False  # a bare "::" in prose is punctuation, not an address
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _valid_phone(value: str) -> bool:
    n = len(_digits(value))
    if value.startswith("+"):
        return 8 <= n <= 15
    return n in (10, 11)


def _valid_iban(value: str) -> bool:
    s = value.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _valid_date(value: str) -> bool:
    nums = [int(x) for x in re.findall(r"[0-9]+", value)]
    if len(nums) == 3:
        if nums[0] > 999:  # year-month-day
            return 1 <= nums[1] <= 12 and 1 <= nums[2] <= 31
        a, b = nums[0], nums[1]
        return (1 <= a <= 12 and 1 <= b <= 31) or (1 <= b <= 12 and 1 <= a <= 31)
    return len(nums) == 2 and 1 <= nums[0] <= 31  # month name, day and year


def _valid_secret(value: str) -> bool:
    # Real secret keys mix cases and digits; a 40-letter word run is prose.
    return any(c.isdigit() or c in "/+" for c in value) and any(c.isupper() for c in value)


# ---------------------------------------------------------------- patterns

_H = "[0-9A-Fa-f]"
_MONTH = (
    r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = (
    r"(?:[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}"
    r"|[0-9]{1,2}[-/.][0-9]{1,2}[-/.](?:[0-9]{4}|[0-9]{2})"
    rf"|[0-9]{{1,2}}(?:st|nd|rd|th)?[ ]{{1,3}}(?:of[ ]{{1,3}})?{_MONTH},?[ ]{{1,3}}[0-9]{{4}}"
    rf"|{_MONTH}[ ]{{1,3}}[0-9]{{1,2}}(?:st|nd|rd|th)?,?[ ]{{1,3}}[0-9]{{4}})"
)

_TYPES: dict[str, list[_Type]] = {
    "EMAIL": [
        _Type(
            "EMAIL",
            r"[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}",
            "email",
            chars=r"[A-Za-z0-9._%+@-]",
            lead="[A-Za-z0-9._%+-]",
            trail="[A-Za-z0-9-]",
            max_len=700,
        )
    ],
    "PHONE": [
        _Type(
            "PHONE",
            r"(?:\+?1[ .-]?)?(?:\([2-9][0-9]{2}\)[ .-]?|[2-9][0-9]{2}[ .-])[0-9]{3}[ .-][0-9]{4}"
            r"|\+[1-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,4}\)?){1,5}",
            "digits",
            chars=r"[0-9 ().+-]",
            lead=r"[\w+]",
            trail="[0-9]",
            validate=_valid_phone,
            max_len=39,
        )
    ],
    "SSN": [
        _Type(
            "SSN",
            r"[0-9]{3}(?P<ssn_sep>[- ])[0-9]{2}(?P=ssn_sep)[0-9]{4}",
            "digits",
            chars=r"[0-9 -]",
            lead=r"[\w-]",
            trail=r"[\w-]",
            validate=_valid_ssn,
            max_len=11,
        ),
        _Type(
            "SSN",
            r"(?i:ssns?|social[ ]{1,3}security)(?![A-Za-z])[^0-9\n]{0,30}(?P<v>[0-9]{9})(?![0-9])",
            "context",
            lead="[A-Za-z]",
            validate=_valid_ssn,
            context=("ssn", "social"),
            max_len=60,
        ),
    ],
    "CREDIT_CARD": [
        _Type(
            "CREDIT_CARD",
            r"[0-9]{4}(?P<cc_a>[ -]?)[0-9]{4}(?P=cc_a)[0-9]{4}(?P=cc_a)[0-9]{1,7}"
            r"|[0-9]{4}(?P<cc_b>[ -]?)[0-9]{6}(?P=cc_b)[0-9]{4,5}",
            "digits",
            chars=r"[0-9 -]",
            lead=r"[\w-]",
            trail=r"[\w-]",
            validate=_valid_card,
            max_len=25,
        )
    ],
    "IP_ADDRESS": [
        _Type(
            "IP_ADDRESS",
            r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}",
            "digits",
            chars=r"[0-9.]",
            lead=r"[\w.]",
            trail=r"[\w]|\.[0-9]",
            validate=_valid_ipv4,
            max_len=15,
        ),
        _Type(
            "IP_ADDRESS",
            rf"(?:{_H}{{0,4}}:){{2,7}}{_H}{{0,4}}",
            "colon",
            chars=r"[0-9A-Fa-f:]",
            lead=r"[\w:]",
            trail=r"[\w:]",
            validate=_valid_ipv6,
            max_len=39,
        ),
    ],
    "DATE_OF_BIRTH": [
        _Type(
            "DATE_OF_BIRTH",
            r"(?i:born|dob|d\.o\.b\.?|birth(?:[ ]?date|day)?)(?![A-Za-z])[^0-9\n]{0,24}?"
            rf"(?P<v>{_DATE})(?![0-9])",
            "context",
            lead="[A-Za-z]",
            validate=_valid_date,
            context=("born", "dob", "d.o.b", "birth"),
            max_len=80,
        )
    ],
    "MAC_ADDRESS": [
        _Type(
            "MAC_ADDRESS",
            rf"{_H}{{2}}(?P<mac_sep>[:-])(?:{_H}{{2}}(?P=mac_sep)){{4}}{_H}{{2}}",
            "dash_colon",
            chars=r"[0-9A-Fa-f:-]",
            lead=r"[\w:-]",
            trail=r"[\w:-]",
            max_len=17,
        )
    ],
    "URL": [
        _Type(
            "URL",
            r"(?:https?://|ftp://|www\.)[^\s<>\"'`]{0,2046}[^\s<>\"'`.,;:!?)\]}]",
            "scan",
            chars=r"[^\s<>\"'`]",
            lead=r"[\w@./]",
            max_len=2054,
            triggers=("http://", "https://", "ftp://", "www."),
        )
    ],
    "IBAN": [
        _Type(
            "IBAN",
            r"[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?",
            "scan",
            chars=r"[A-Z0-9 ]",
            lead="[A-Za-z0-9]",
            trail="[A-Za-z0-9]",
            validate=_valid_iban,
            max_len=43,
            engine="regex",
        )
    ],
    "AWS_ACCESS_KEY": [
        _Type(
            "AWS_ACCESS_KEY",
            r"A(?:KIA|SIA|IDA|ROA|GPA|NPA|NVA|IPA)[A-Z0-9]{16}",
            "scan",
            chars=r"[A-Z0-9]",
            lead="[A-Za-z0-9]",
            trail="[A-Za-z0-9]",
            max_len=20,
            triggers=("AKIA", "ASIA", "AIDA", "AROA", "AGPA", "ANPA", "ANVA", "AIPA"),
        )
    ],
    "AWS_SECRET_KEY": [
        _Type(
            "AWS_SECRET_KEY",
            r"(?i:aws|secret)(?![A-Za-z])[^\n]{0,40}?(?<![A-Za-z0-9/+=])(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
            "context",
            lead="[A-Za-z]",
            validate=_valid_secret,
            context=("aws", "secret"),
            max_len=90,
        )
    ],
    "API_KEY": [
        _Type(
            "API_KEY",
            r"sk-(?:proj-|ant-(?:api[0-9]{2}-)?)?[A-Za-z0-9_-]{20,200}|[sr]k_live_[A-Za-z0-9]{16,200}"
            r"|gh[pousr]_[A-Za-z0-9]{36,40}|github_pat_[A-Za-z0-9_]{22,255}"
            r"|xox[abposr]-[A-Za-z0-9-]{10,200}|AIza[0-9A-Za-z_-]{35}",
            "scan",
            chars=r"[A-Za-z0-9_-]",
            lead="[A-Za-z0-9_-]",
            trail="[A-Za-z0-9_-]",
            max_len=270,
            triggers=(
                "sk-",
                "sk_live_",
                "rk_live_",
                *(f"gh{c}_" for c in "pousr"),
                "github_pat_",
                *(f"xox{c}-" for c in "abposr"),
                "AIza",
            ),
        )
    ],
    "PASSWORD": [
        _Type(
            "PASSWORD",
            r"(?i:password|passwd|passphrase|pwd)(?![A-Za-z])[ ]{0,3}(?:(?i:is)[ ]{1,3}|[:=][ ]{0,3})"
            r"[\"']?(?P<v>[^\s\"',;]{1,128})",
            "context",
            lead="[A-Za-z]",
            context=("pass", "pwd"),
            max_len=150,
        )
    ],
}

#: every type this check can find
PII_TYPES: tuple[str, ...] = tuple(_TYPES)

# Runs of digits and the separators numeric PII uses; shorter runs cannot hold any numeric type. The
# ``regex`` engine scans for the leading digit about five times faster than ``re`` here.
_DIGIT_RUN = regex.compile(r"[0-9][0-9 ().\-/+:]{6,}")
_COLON_ANCHOR = re.compile(rf":{_H}{{0,4}}:")
_DASH_COLON_ANCHOR = re.compile(rf"[:-]{_H}{{2}}[:-]")
_EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_HEX_COLON = frozenset("0123456789abcdefABCDEF:")
_HEX_DASH_COLON = frozenset("0123456789abcdefABCDEF:-")


def _case_variants(word: str) -> list[str]:
    """Every upper/lower-case spelling of ``word`` (its ASCII letters), for a case-sensitive automaton."""
    return ["".join(p) for p in product(*({ch.lower(), ch.upper()} for ch in word))]


class _Compiled:
    __slots__ = ("find_re", "lead", "spec", "tail_body", "trail", "twin")

    def __init__(self, spec: _Type) -> None:
        self.spec = spec
        # For emails only the domain half runs as a pattern; the local part is scanned back from the '@'.
        body = spec.body[spec.body.index("@") :] if spec.anchor == "email" else spec.body
        engine: Any = regex if spec.engine == "regex" else re
        self.find_re: Any = engine.compile(body)
        self.lead: re.Pattern[str] | None = re.compile(spec.lead) if spec.lead else None
        self.trail: re.Pattern[str] | None = re.compile(spec.trail) if spec.trail else None
        # The twin used by holdback: edge conditions as look-arounds, the value group unnamed (every
        # twin goes into one alternation, where names must be unique).
        twin = spec.body.replace("(?P<v>", "(?:")
        if spec.lead:
            twin = f"(?<!{spec.lead})(?:{twin})"
        if spec.trail:
            twin = f"(?:{twin})(?!{spec.trail})"
        self.tail_body = f"(?:{twin})"
        self.twin: regex.Pattern[str] = regex.compile(self.tail_body)

    def edges_ok(self, text: str, start: int, end: int) -> bool:
        if self.lead is not None and start > 0 and self.lead.match(text, start - 1, start) is not None:
            return False
        return self.trail is None or end >= len(text) or self.trail.match(text, end) is None


class PiiCheck:
    """Regex PII detection (the oracle: detection only; configuration lives in checks/pii.py)."""

    def __init__(self, name: str, types: Iterable[str], *, max_holdback_chars: int = 1024) -> None:
        self.name = name
        self.types: tuple[str, ...] = tuple(dict.fromkeys(types))
        self._cap = max_holdback_chars
        compiled = [_Compiled(spec) for t in self.types for spec in _TYPES[t]]
        self._digit = [c for c in compiled if c.spec.anchor == "digits"]
        self._email = [c for c in compiled if c.spec.anchor == "email"]
        self._colon = [c for c in compiled if c.spec.anchor == "colon"]
        self._dash_colon = [c for c in compiled if c.spec.anchor == "dash_colon"]
        self._scan = [c for c in compiled if c.spec.anchor == "scan" and not c.spec.triggers]
        # Context words (every ASCII case variant) and scan triggers go into one automaton: one pass
        # over the text finds every place a context or trigger-led pattern can start.
        self._triggered = [c for c in compiled if c.spec.anchor == "context" or c.spec.triggers]
        targets: dict[str, list[int]] = {}
        for ci, c in enumerate(self._triggered):
            words = (
                [v for w in c.spec.context for v in _case_variants(w)]
                if c.spec.anchor == "context"
                else list(c.spec.triggers)
            )
            for w in words:
                if ci not in targets.setdefault(w, []):
                    targets[w].append(ci)
        self._trigger_targets = tuple(tuple(v) for v in targets.values())
        self._triggers: ahocorasick_rs.AhoCorasick | None = (
            ahocorasick_rs.AhoCorasick(list(targets), implementation=ahocorasick_rs.Implementation.DFA)
            if targets
            else None
        )
        self._context_back = max(
            (c.spec.max_len for c in self._triggered if c.spec.anchor == "context"), default=0
        )
        self._all = compiled
        # Holdback. A match reaching the end consists of characters of its type's class only, so each
        # class is searched (one alternation of its types' twins) from where the trailing run of its
        # characters starts; prose ending in a letter skips the numeric types after one backward step.
        by_class: dict[str, list[_Compiled]] = {}
        for c in compiled:
            if c.spec.chars:
                by_class.setdefault(c.spec.chars, []).append(c)
        self._hold_groups = tuple(
            (
                regex.compile(f"(?r)(?!{cls})(?s:.)"),  # the last character outside the class
                regex.compile("(?:" + "|".join(c.tail_body for c in group) + ")" + _NEVER_COMPLETE),
                max(c.spec.max_len for c in group),
            )
            for cls, group in by_class.items()
        )
        # Context types start with a context word: a whole one the trigger automaton finds, or a prefix of
        # one at the very end.
        self._hold_context = tuple(
            (ci, c) for ci, c in enumerate(self._triggered) if c.spec.anchor == "context"
        )
        self._context_words = sorted(
            {v for _, c in self._hold_context for w in c.spec.context for v in _case_variants(w)}
        )
        self._context_keys = frozenset(
            k
            for k, cis in enumerate(self._trigger_targets)
            if any(self._triggered[ci].spec.anchor == "context" for ci in cis)
        )
        self._context_word_max = max((len(w) for w in self._context_words), default=0)

    # ------------------------------------------------------------------ find

    def find(self, text: str, pos: int = 0) -> list[Match]:
        norm, omap = normalize(text, casefold=False)
        npos = normalized_index(omap, pos)
        found: list[tuple[int, int, str]] = []
        if self._digit and npos < len(norm):
            self._find_digits(norm, npos, found)
        if self._email and "@" in norm:
            self._find_email(norm, npos, found)
        if self._colon and norm.count(":") >= 2:
            for c in self._colon:
                self._find_anchored(c, _COLON_ANCHOR, _HEX_COLON, norm, npos, found)
        if self._dash_colon and (norm.count(":") >= 5 or norm.count("-") >= 5):
            for c in self._dash_colon:
                self._find_anchored(c, _DASH_COLON_ANCHOR, _HEX_DASH_COLON, norm, npos, found)
        for c in self._scan:
            for m in c.find_re.finditer(norm, npos):
                self._accept(c, norm, m, npos, found)
        if self._triggers is not None:
            self._find_triggered(norm, npos, found)
        out: list[Match] = []
        for s, e, category in sorted(set(found)):
            os_, oe = _original_span(omap, s, e)
            out.append(Match(os_, oe, category))
        return out

    @staticmethod
    def _accept(c: _Compiled, norm: str, m: Any, npos: int, found: list[tuple[int, int, str]]) -> bool:
        start, end = m.span()
        if not c.edges_ok(norm, start, end):
            return False
        if "v" in c.find_re.groupindex:
            start, end = m.span("v")
        if start < npos:
            return False
        if c.spec.validate is not None and not c.spec.validate(norm[start:end]):
            return False
        found.append((start, end, c.spec.name))
        return True

    def _find_digits(self, norm: str, npos: int, found: list[tuple[int, int, str]]) -> None:
        for run in _DIGIT_RUN.finditer(norm, max(npos - 1, 0)):
            # One character before the run may be the "+" or "(" a phone number starts with.
            lo, hi = max(run.start() - 1, 0), run.end()
            for c in self._digit:
                for m in c.find_re.finditer(norm, lo, hi):
                    self._accept(c, norm, m, npos, found)

    def _find_email(self, norm: str, npos: int, found: list[tuple[int, int, str]]) -> None:
        (c,) = self._email
        at = norm.find("@", npos)
        last_end = 0
        while at != -1:
            local = at
            while local > 0 and at - local <= 64 and norm[local - 1] in _EMAIL_LOCAL:
                local -= 1
            m = c.find_re.match(norm, at)
            if (
                m is not None
                and 1 <= at - local <= 64
                and local >= last_end
                and local >= npos
                and c.edges_ok(norm, local, m.end())
            ):
                found.append((local, m.end(), "EMAIL"))
                last_end = m.end()
            at = norm.find("@", at + 1)

    def _find_anchored(
        self,
        c: _Compiled,
        anchor: re.Pattern[str],
        token_chars: frozenset[str],
        norm: str,
        npos: int,
        found: list[tuple[int, int, str]],
    ) -> None:
        done = 0
        for a in anchor.finditer(norm, max(npos - c.spec.max_len, 0)):
            if a.start() < done:
                continue
            start = a.start()
            limit = max(start - c.spec.max_len, 0)
            while start > limit and norm[start - 1] in token_chars:
                start -= 1
            m = c.find_re.match(norm, start)
            if m is not None and self._accept(c, norm, m, npos, found):
                done = m.end()

    def _find_triggered(self, norm: str, npos: int, found: list[tuple[int, int, str]]) -> None:
        assert self._triggers is not None
        # Context may sit before ``pos``; only the value has to start at or after it.
        lo = max(npos - self._context_back, 0)
        starts: dict[int, set[int]] = {}
        targets = self._trigger_targets
        for k, s, _e in scan_literals(self._triggers, norm, lo):
            for ci in targets[k]:
                starts.setdefault(ci, set()).add(s)
        for ci, hits in starts.items():
            c = self._triggered[ci]
            if c.spec.anchor == "context":
                first = max(npos - c.spec.max_len, 0)
                for h in sorted(hits):
                    if h >= first:
                        m = c.find_re.match(norm, h)
                        if m is not None:
                            self._accept(c, norm, m, npos, found)
                continue
            # Like ``finditer`` from ``npos``: a match (kept or not) hides the triggers inside it.
            done = npos
            for h in sorted(hits):
                if h < done:
                    continue
                m = c.find_re.match(norm, h)
                if m is not None:
                    self._accept(c, norm, m, npos, found)
                    done = max(m.end(), h + 1)

    # ------------------------------------------------------------------ holdback

    def holdback(self, text: str, pos: int = 0) -> int:
        n_orig = len(text)
        if pos >= n_orig:
            return n_orig
        floor = max(pos, n_orig - self._cap)
        norm, omap = normalize(text, casefold=False)
        n = len(norm)
        lo = normalized_index(omap, floor)
        held = n
        for stop, tail, max_len in self._hold_groups:
            w = max(lo, n - max_len)
            if w >= held:
                continue
            last = stop.search(norm, w)
            run = last.end() if last is not None else w
            if run >= held:
                continue
            m = tail.search(norm, run, partial=True)
            if m is not None and m.start() < held:
                held = m.start()
        if self._hold_context:
            held = self._context_hold(norm, lo, held)
        return max(min(original_index(omap, held), last_cluster_start(text)), floor)

    def _context_hold(self, norm: str, lo: int, held: int) -> int:
        n = len(norm)
        first = max(lo, n - self._context_back)
        if first >= held:
            return held
        candidates: set[int] = set()
        assert self._triggers is not None
        context_keys = self._context_keys
        for k, s, _e in scan_literals(self._triggers, norm, first):
            if s < held and k in context_keys:
                candidates.add(s)
        words = self._context_words
        for j in range(max(first, n - self._context_word_max + 1), min(n, held)):
            tail = norm[j:]
            k = bisect_left(words, tail)
            if k < len(words) and words[k].startswith(tail):
                candidates.add(j)
        for h in sorted(candidates):
            if h >= held:
                break
            for _ci, c in self._hold_context:
                if h >= n - c.spec.max_len and c.twin.fullmatch(norm, h, partial=True) is not None:
                    return h
        return held
