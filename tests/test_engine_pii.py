"""The Rust PII scanner's invariants (``_engine.PiiScanner.find``) on generated texts.

Texts are glued from fragments of every type (valid, near-valid, cut short) with random separators, so
every anchor, edge condition and validator is exercised. The rules themselves are table-tested in
``tests/test_pii.py`` and in the crate (``rust/src/pii.rs``, ``rust/src/pii/*.rs``,
``rust/src/secret/tests.rs``); here every result must be well formed, independent of the other enabled
types, and the same whether the scan starts at 0 or at ``pos`` (values before ``pos`` were reported by
an earlier call and are not reported again: a scan from ``pos`` finds nothing new).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard_middleware import _engine
from guard_middleware.checks.pii import PII_TYPES
from tests import test_pii

_ENGINES: dict[tuple[str, ...], _engine.PiiScanner] = {}

#: types that give way to a more specific enabled type on the same value (``rust/src/secret.rs``)
_DEFERRING = {"GENERIC_SECRET", "PASSWORD"}


def engine(types: tuple[str, ...], text: str, pos: int) -> list[tuple[int, int, str]]:
    scanner = _ENGINES.get(types)
    if scanner is None:
        scanner = _ENGINES[types] = _engine.PiiScanner(list(types), max_holdback_chars=1024)
    return scanner.find(text, pos)


def assert_same(text: str, pos: int = 0, types: tuple[str, ...] = PII_TYPES) -> None:
    found = engine(types, text, pos)
    assert found == sorted(set(found)), (text, pos)
    for start, end, kind in found:
        assert pos <= start < end <= len(text) and kind in types, (text, pos)
    # What starts at or after `pos` does not depend on where the scan started, except for a value
    # that a match starting before `pos` would have covered.
    whole = engine(types, text, 0)
    covered = [(s, e) for s, e, _ in whole if s < pos]
    expected = [m for m in whole if m[0] >= pos]
    extra = [m for m in found if m not in expected and not any(s < m[1] and m[0] < e for s, e in covered)]
    assert extra == [], (text, pos)


def assert_same_for_all_and_each(text: str, pos: int = 0) -> None:
    assert_same(text, pos)
    together = engine(PII_TYPES, text, pos)
    for t in PII_TYPES:
        assert_same(text, pos, (t,))
        if t not in _DEFERRING:
            alone = engine((t,), text, pos)
            assert alone == [m for m in together if m[2] == t], (text, pos, t)


# ---------------------------------------------------------------- the reference's own cases

_POSITIVE = test_pii.test_each_type_is_found_with_the_value_as_the_span.pytestmark[0].args[1]
_NEGATIVE = test_pii.test_near_misses_are_not_reported.pytestmark[0].args[1]


@pytest.mark.parametrize("text", [text for text, _ in [*_POSITIVE, *_NEGATIVE]])
def test_the_reference_cases_give_the_same_matches(text: str) -> None:
    for pos in range(len(text) + 2):
        assert_same_for_all_and_each(text, pos)


def test_context_before_pos_counts_but_values_before_it_do_not() -> None:
    text = "SSN: 123456789 and 234-56-7890"
    assert engine(PII_TYPES, text, 5) == [(5, 14, "SSN"), (19, 30, "SSN")]
    for pos in range(len(text) + 1):
        assert_same_for_all_and_each(text, pos)


# ---------------------------------------------------------------- targeted subtleties

SUBTLE = [
    # lazy gap, and the shorter context word when the longer one fails its look-ahead
    "birth datex 1990-01-02",
    "birth date: 1990-01-02 born 2/3/1999",
    "born 1/2/19901",
    "born on Jan 1st, 1990 dob 12/31/99",
    "d.o.b.: 3 of march 1970",
    # a greedy run given back: "sk-proj-" then 17 characters is taken by the value class
    "key sk-proj-abcdefghijklmnopq ok",
    "key sk-ant-api03-abcdefghijklmnopqrst",
    # a rejected match still hides the triggers inside it
    "https://a.b/www.c.d https://",
    "xwww.a.com www.b.com",
    "sk-" + "a" * 250 + " sk-" + "b" * 30,
    # IPv6: compressed forms, garbage colons, edges
    "1:2:3:4:5:6:7:: ::1:2:3:4:5:6:7 :::1 1::2::3 a::b:: fe80::1:",
    "::1:::1:::1::",
    "12345::1 abcd::12345 ::ffff",
    # the back-scan from an anchor stops after 39 characters, inside runs longer than that
    "abcdef0123456789abcdef0123456789abcdef0123::1 x " + "1:" * 25 + "::1 fe80::1",
    "g" + "a:" * 30 + " " + "ab" * 20 + ":1:2 " + "00:" * 20 + "00-11-22-33-44-55",
    # MAC with mixed separators, and a longer run
    "00:1A-2B:3C:4D:5E 00:1A:2B:3C:4D:5E:6F aa-bb-cc-dd-ee-ff",
    # email: local part too long, labels, trailing dash
    "a" * 65 + "@example.com " + "b" * 64 + "@example.com x@y.co- x@y.co.uk",
    "a@b.c@d.com e@f.gg@h.ii",
    # digit runs: the character before a run, phone forms, cards in every grouping
    "+1 (555) 123-4567 +44 20 7946 0958 1-555-123-4567 (555)123-4567",
    "4111 1111 1111 1111 4111-1111-1111-1111 3782 822463 10005 3782-822463-10005 30569309025904",
    "123-45-6789-1 123 45 6789 1.2.3.4.5 10.0.0.1. 10.0.0.1.x",
    # passwords and secrets
    "password  is  'x' pwd:   y passphrase='' PASSWORD =z",
    "aws " + "Ab1/" * 10 + " secret=" + "Ab1/" * 10 + "= aws" + "x" * 40,
    # IBAN next to letters and spaces
    "xGB82 WEST 1234 5698 7654 32 GB82WEST12345698765432 DE89 3704 0044 0532 0130 00",
]


@pytest.mark.parametrize("text", SUBTLE)
def test_subtle_cases_give_the_same_matches(text: str) -> None:
    for pos in range(0, len(text) + 1, 3):
        assert_same_for_all_and_each(text, pos)


# ---------------------------------------------------------------- length limits

LONG = [
    # the URL run is capped at 2047 characters after the scheme, then gives back punctuation
    "see http://" + "a" * 2050 + " and http://" + "b" * 2045 + ".,;) x",
    "www." + "a" * 2046 + "." + "b" * 5,
    "www." + "." * 2100 + "x",
    # a password value is capped at 128 characters; an API key at 200 or 255
    "password=" + "p" * 200 + " pwd is " + "q" * 128 + "," + "r",
    "sk-" + "a" * 199 + " sk_live_" + "b" * 201 + " github_pat_" + "c_" * 130,
    # the email local part (64), labels (63), up to 8 labels, a TLD of up to 24 letters
    "a" * 64 + "@" + "b" * 63 + ".com " + "c@" + "d." * 9 + "com e@f." + "g" * 25,
    # context windows and gaps counted in characters, not bytes
    "ssn" + "é" * 30 + "123456789 ssn" + "é" * 31 + "123456789",
    "aws" + "é" * 39 + " " + "Ab1/" * 10 + " secret" + "é" * 41 + "Ab1/" * 10,
    "born" + "é" * 24 + "1990-01-02 dob" + "é" * 25 + "1990-01-02",
    "password=" + "é" * 130,
]


@pytest.mark.parametrize("text", LONG)
def test_length_limits_give_the_same_matches(text: str) -> None:
    for pos in sorted({0, 1, 5, 9, 40, 64, 200, len(text) // 2, len(text) - 1, len(text)}):
        assert_same_for_all_and_each(text, pos)


# ---------------------------------------------------------------- worst cases, small

WORST = [
    "::1:",
    "1-",
    "a@",
    "password=",
    "0",
    "ssn ",
    "www.",
    "aws ",
    "born ",
    "sk-",
    "00:",
    "1.",
    "+1 ",
    "d.o.born ",
    # dense context words whose gap and value scans are shared between hits, also over non-ASCII
    "passwd is ",
    "secret=",
    "password=é",
    "ssn é",
    "aws é",
    "born é",
    "born 1",
    "aws " + "A" * 39 + "/ ",
    "a:",
    "-aa",
    "ab:cd:",
    "1:2:3:4:5:6:7:8::",
    "00-1a-2b-3c-4d-5e-",
    "http://.",
    "www.é\u3000",
    "http://é.)",
]


# A digit run is searched for a type only if it holds four digits in a row (phone, SSN, card), a
# "+" (international phone) or three dots (IPv4): runs just short of that, and just meeting it.
_DIGIT_RUNS = [
    "555-123-4567", "555-123-456", "(555) 123-4567", "+44 20 7946 0958", "+1 2", "+12 34 56 78 90",
    "123-45-6789", "123-45-678", "4111 1111 1111 1111", "411 111 111 111 111", "1.2.3.4", "1.2.3",
    "10.0.0.1", "255.255.255.255.", "1-1-1-123-45-6789", "1.1.1.1.1", "12:34:56",
]  # fmt: skip


@pytest.mark.parametrize("run", _DIGIT_RUNS)
@pytest.mark.parametrize("around", ["", " ", "+", "(", "é", "x", "1-", ".", ":"])
def test_digit_runs_near_the_search_gate_give_the_same_matches(run: str, around: str) -> None:
    for text in [around + run, run + around, around + run + around + run, "1-" * 5 + around + run]:
        for pos in range(0, len(text) + 1, 2):
            assert_same_for_all_and_each(text, pos)


@pytest.mark.parametrize(
    "label", ["", "b", "-", "b-", "-b", "b" * 62, "b" * 63, "b" * 64, "b" * 65, "b_c", "bé"]
)
@pytest.mark.parametrize("after", ["", ".", ".co", ".c", "@", ".co.uk", "..co"])
def test_email_first_labels_near_their_gate_give_the_same_matches(label: str, after: str) -> None:
    # the domain pattern runs only where the run of label characters after the '@' ends in a '.'
    for text in ["a@" + label + after, "x a@a@" + label + after + " b@" + label + after]:
        assert_same(text)
        assert_same(text, 0, ("EMAIL",))


@pytest.mark.parametrize(
    "value", ["2001:db8::1", "::1", "fe80::1:2", "00-1a-2b-3c-4d-5e", "00:1a:2b:3c:4d:5e"]
)
@pytest.mark.parametrize("before", ["a", ":", "-", "0", "g", " :"])
def test_hex_runs_before_an_address_give_the_same_matches(value: str, before: str) -> None:
    # the back-scan from each anchor stops at 39 (IPv6) or 17 (MAC) characters or the run's start;
    # anchors whose start has a run character before it are skipped
    for n in range(0, 45):
        text = (before * n)[:n] + value + " " + value + ":" + value
        for pos in sorted({0, 1, max(n - 17, 0), max(n - 1, 0), n, n + 1, len(text) // 2}):
            assert_same(text, pos)
            assert_same(text, pos, ("IP_ADDRESS",))
            assert_same(text, pos, ("MAC_ADDRESS",))


@pytest.mark.parametrize("unit", WORST)
def test_repetitive_inputs_give_the_same_matches(unit: str) -> None:
    text = unit * (3000 // len(unit))
    assert_same_for_all_and_each(text)
    assert_same_for_all_and_each(text, 1001)


# ---------------------------------------------------------------- differential, generated

_FRAGMENTS: dict[str, list[str]] = {
    "EMAIL": [
        "bob.smith+x@mail.example.co.uk",
        "a@b.co",
        "x@y",
        "a@b.c",
        "-a@b.com-",
        "a..b@c.d.ee",
        "@example.com",
        "me@sub-domain.example.travel",
        "a@1.2.3.com",
        "q@w-.com",
        "z@" + "k" * 63 + ".com",
    ],
    "PHONE": [
        "(555) 123-4567",
        "555-123-4567",
        "+1 555 123 4567",
        "+44 20 7946 0958",
        "1-555-123-4567",
        "+1(555)123-4567",
        "5551234567",
        "+123",
        "555.123.4567",
        "+49 (0) 30 1234567",
        "1555-123-45678",
        "+1 234",
        "+12345678",
        "(234)567-8901",
    ],
    "SSN": [
        "123-45-6789",
        "123 45 6789",
        "000-12-3456",
        "123-45-67890",
        "ssn 123456789",
        "SSNs: 123456789",
        "social security number: 123456789",
        "Social   Security 123456789",
        "ssn\n123456789",
        "my ssn is 1234567890",
        "SSN#123456789",
        "ssnx 123456789",
    ],
    "CREDIT_CARD": [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "4111 1111 1111 1112",
        "3782 822463 10005",
        "378282246310005",
        "3056 930902 5904",
        "5555555555554444",
        "6011111111111117",
        "3530111333300000",
        "2221-0000-0000-0009",
        "4111 1111-1111 1111",
        "4222222222222",
        "4111111111111111111",
        "6221 2600 0000 0000",
    ],
    "IP_ADDRESS": [
        "192.168.0.1",
        "999.1.1.1",
        "1.2.3.4.5",
        "10.0.0.256",
        "127.0.0.1.",
        "::1",
        "fe80::1",
        "2001:db8::8a2e:370:7334",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "::",
        ":::",
        "1::2::3",
        "std::vector",
        "10:30:45",
        "a:b:c:d:e:f:0:1",
        "1:2:3:4:5:6:7::",
        "::ffff:1.2.3.4",
        "fe80::1%eth0",
        "12345::1",
        "::1:2:3:4:5:6:7",
        "dead:beef::",
    ],
    "MAC_ADDRESS": [
        "00:1A:2B:3C:4D:5E",
        "00-1a-2b-3c-4d-5e",
        "00:1A-2B:3C:4D:5E",
        "00:1A:2B:3C:4D",
        "00:1A:2B:3C:4D:5E:6F",
    ],
    "URL": [
        "https://example.com/a?b=1.",
        "www.example.org,",
        "http://x.y/(a)",
        "ftp://files",
        "https://",
        "www.",
        "(see http://a.b/c).",
        "<http://x>",
        "@www.x.com",
        "sftp://x",
        "http://a.b/c?d='e'",
    ],
    "IBAN": [
        "GB82 WEST 1234 5698 7654 32",
        "DE89370400440532013000",
        "GB82 WEST 1234 5698 7654 33",
        "GB82WEST12345698765432",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91ABNA0417164300",
    ],
    "AWS_ACCESS_KEY": [
        "AKIAIOSFODNN7EXAMPLE",
        "ASIAIOSFODNN7EXAMPL",
        "AKIAIOSFODNN7EXAMPLEX",
        "akiaIOSFODNN7EXAMPLE",
    ],
    "AWS_SECRET_KEY": [
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "secret: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS key=abcdefghijabcdefghijabcdefghijabcdefghij",
        "secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYZ",
        "aws " + "A1" * 20,
        "Secret " + "b2C+" * 10 + "=",
    ],
    "API_KEY": [
        "sk-proj-abcdefghijklmnopqrstuvwxyz123456",
        "sk-abcdefghijklmnopqrs",
        "sk-proj-abcdefghijklmnopq",
        "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
        "ghp_" + "a1" * 18,
        "ghs_" + "Z" * 41,
        "github_pat_" + "x_" * 11,
        "xoxb-1234567890-abcdefghij",
        "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        "sk_live_abcdefghijklmnop1234",
        "rk_live_short",
    ],
    "PASSWORD": [
        "password: hunter2",
        "pwd=s3cr3t!",
        "passwd is 'letmein'",
        "PASSWORD   =  x",
        "password  is  ",
        'passphrase:"a b"',
        "pwd: ;",
        "Password is x",
        "password:" + "p" * 130,
        "xpassword=1",
    ],
    "PRIVATE_KEY": [
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8Pb\n"
        "-----END RSA PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
    ],
    "JWT": [
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "eyJhbGci.eyJ",
    ],
    "URL_CREDENTIALS": [
        "postgres://admin:s3cr3tPa55@db.example.com:5432/app",
        "redis://:Zq8pLm2x@cache:6379",
        "https://user@host",
    ],
    "GENERIC_SECRET": [
        "API_TOKEN=Zx8k2LmQ9vTq4RwY7nBc3JdF",
        '"client_secret": "f8Kq2Lz9Wm4Xv7Rb3Tn6Yp1H"',
        "SECRET_KEY = changeme",
    ],
    "DATE_OF_BIRTH": [
        "born on 1990-01-02",
        "DOB: 02/03/1985",
        "birthday is March 3, 1990",
        "date of birth: 3rd of May 1970",
        "d.o.b. 12.31.99",
        "birth date 1/2/1990",
        "birthdate: Sept. 5th 1970",
        "born 13/13/2000",
        "born\n1990-01-02",
        "Birthday: dec 25, 2000",
        "born 1 jan 2000",
        "born jan 1 2000",
        "DOB 1990/1/2/3",
    ],
}
_SEPARATORS = [
    "",
    " ",
    "  ",
    "\n",
    "\t",
    ",",
    ".",
    "-",
    ":",
    "::",
    "@",
    "(",
    ")",
    "+",
    "/",
    "=",
    "'",
    '"',
    "_",
    ";",
    "a",
    "Z",
    "x1",
    "1",
    "12",
    "0",
    ". ",
    "? ",
    "!",
    "]",
    "<",
    "%",
]
_ASCII = "0123456789abcdefABCDEFsSkKnNoOpPwWxX :-.@/+()=_'\"\n,;!?%<>]}`"


@st.composite
def fragment(draw: st.DrawFn) -> str:
    # A type first, so the types with few fragments come up as often as the others.
    text = draw(st.sampled_from(_FRAGMENTS[draw(st.sampled_from(PII_TYPES))]))
    cut = draw(st.integers(0, 3))
    if cut == 1:  # cut short, as a stream or a typo would
        return text[: draw(st.integers(0, len(text)))]
    if cut == 2:
        return text[draw(st.integers(0, len(text))) :]
    return text


_PIECES = st.one_of(fragment(), st.sampled_from(_SEPARATORS), st.text(_ASCII, max_size=6))
_TEXTS = st.lists(_PIECES, max_size=10).map("".join)


@settings(max_examples=1500, deadline=None)
@given(_TEXTS, st.data())
def test_generated_ascii_texts_give_the_same_matches_for_all_types_and_each(
    text: str, data: st.DataObject
) -> None:
    pos = data.draw(st.integers(0, len(text) + 1))
    assert_same_for_all_and_each(text, pos)
    types = tuple(data.draw(st.lists(st.sampled_from(PII_TYPES), min_size=1, max_size=5)))
    assert_same(text, pos, types)


# ---------------------------------------------------------------- differential, non-ASCII

# Characters normalisation folds or removes (full-width forms, ligatures, super/subscripts, format
# characters, combining marks), the ones Python's IGNORECASE folds with i/s/k, Unicode spaces and word
# characters that are not ASCII (edge classes use Python's \w and \s).
_NON_ASCII = (
    "０１２３４５６７８９＠：－．／ｓｓｎＳＮａｗｓ"
    "\u200b\u200d\ufeff\u00ad\u2060\u0301\u0307\u0327"
    "ıİſKﬁ①²₃\U0001d7cf"
    "\u00a0\u3000\u2028\u2009\x1c\x85"
    "éßΣ日١٣"
)


def _widen(text: str, how: int, at: int) -> str:
    """A fragment in a disguise normalisation sees through, or with a character that breaks it."""
    if how == 1:  # full-width digits
        return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in text)
    if how == 2:  # full-width everything
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    if how == 3:  # a zero-width character inside
        return text[:at] + "\u200b" + text[at:]
    if how == 4:  # a combining mark on one character
        return text[:at] + "\u0301" + text[at:]
    if how == 5:  # a non-ASCII letter or space inside
        return text[:at] + "ıİ\u00a0é"[at % 4] + text[at:]
    return text


@st.composite
def disguised_fragment(draw: st.DrawFn) -> str:
    text = draw(fragment())
    return _widen(text, draw(st.integers(0, 6)), draw(st.integers(0, len(text))))


_NON_ASCII_TEXTS = st.lists(
    st.one_of(
        disguised_fragment(),
        st.sampled_from(_SEPARATORS),
        st.text(_ASCII + _NON_ASCII, max_size=6),
    ),
    max_size=10,
).map("".join)


@settings(max_examples=1000, deadline=None)
@given(_NON_ASCII_TEXTS, st.data())
def test_generated_non_ascii_texts_give_the_same_matches_for_all_types_and_each(
    text: str, data: st.DataObject
) -> None:
    pos = data.draw(st.integers(0, len(text) + 1))
    assert_same_for_all_and_each(text, pos)


# Context words packed close together, with gaps, values and newlines around the length limits, so
# the scans one hit leaves behind for the next (`context.rs`: `NextStop`, `CharCap`) are reused at and
# across every boundary, also when a hit's alternatives go back (``ssns``/``ssn``, ``birthday``/``birth``).
_CONTEXT_PIECES = st.one_of(
    st.sampled_from(
        [
            "ssn", "SSNs", "social security", "born", "dob", "d.o.b.", "birth date", "birthday",
            "aws", "secret", "password", "passwd is", "pwd:", "passphrase=", "pwd is '",
        ]
    ),
    st.sampled_from([" ", "  ", "\n", "=", ": ", "'", ",", "/", "é", "日", "1990-01-02", "May 3, 1990"]),
    st.builds(lambda c, n: c * n, st.sampled_from("x é1A/+="), st.integers(0, 3)),
    st.builds(lambda c, n: c * n, st.sampled_from("xé A1"), st.sampled_from([22, 23, 24, 25, 29, 30, 31])),
    st.builds(
        lambda c, n: c * n, st.sampled_from("Ab1/+é"), st.sampled_from([38, 39, 40, 41, 127, 128, 129])
    ),
    st.builds(lambda n: "1" * n, st.integers(7, 11)),
)  # fmt: skip


_CONTEXT_VALUES = {
    "ssn": ("123456789", 30),
    "born": ("1990-01-02", 24),
    "secret": ("Ab1/" * 10, 40),
    "pwd=": ("v", 128),
}


@pytest.mark.parametrize("word", _CONTEXT_VALUES)
@pytest.mark.parametrize("fill", ["x", "é", "ép", " ", "épwd="])
def test_context_gaps_at_their_limits_give_the_same_matches(word: str, fill: str) -> None:
    value, limit = _CONTEXT_VALUES[word]
    for n in [0, 1, 2, limit // 2, limit - 2, limit - 1, limit, limit + 1, limit + 2]:
        gap = (fill * n)[:n]
        # the same hit repeated, then followed by shorter and longer gaps, so one hit's scan serves
        # the next from every offset
        for text in [
            (word + gap + value + " ") * 3,
            word + gap + word + gap + value,
            word + (fill * 2 * n)[: 2 * n] + word + gap + value + "\n" + word + gap + value,
        ]:
            for pos in (0, len(word) + 1):
                for types in [PII_TYPES, ("SSN",), ("DATE_OF_BIRTH",), ("AWS_SECRET_KEY",), ("PASSWORD",)]:
                    assert_same(text, pos, types)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_CONTEXT_PIECES, max_size=24).map("".join), st.data())
def test_dense_context_words_give_the_same_matches(text: str, data: st.DataObject) -> None:
    pos = data.draw(st.integers(0, len(text) + 1))
    for types in [PII_TYPES, ("SSN",), ("DATE_OF_BIRTH",), ("AWS_SECRET_KEY",), ("PASSWORD",)]:
        assert_same(text, pos, types)


@pytest.mark.parametrize(
    "text",
    [
        "ssn １２３-４５-６７８９",
        "mail bob\u200b@example.com",
        "born on Aprıl 3 1990, birth İs 1/2/1990",
        "my passwd İs 'letmein' and pwd ıs x",
        "social securıty 123456789",
        "https://exa\u00a0mple.com https://exa\u3000mple.com www.a\x1cb.c",
        "password=ab\x85cd é@example.com 日本@example.com",
        "x١23-45-6789 ١555-123-4567 ٣192.168.0.1",
        "\U0001d7cf23-45-6789 ①②③-45-6789",
        "aws " + "A1" * 19 + "Aé " + "b" * 40,
        # lone surrogates (valid in JSON strings) reach the engine as U+FFFD
        "ssn\ud800123456789 a\ud800@b.com x@y.com\udfff http://a\ud800b password=\ud800x www.\udc00",
        # a high surrogate then a low one are two code points in a str (an emoji split across events)
        "\ud83d\ude00\ud83d\ude00 mail bob@example.com or call 555-123-4567 \ud83d\ude00 ssn 123-45-6789",
    ],
)
def test_non_ascii_subtleties_give_the_same_matches(text: str) -> None:
    for pos in range(len(text) + 1):
        assert_same_for_all_and_each(text, pos)
