# ruff: noqa: RUF002  # the docstrings show the look-alike characters the tables fold
"""Generates rust/src/unicode_tables.rs from this Python's unicodedata (run it with Python 3.11).

The engine must agree with the Python reference character for character, so every property Python
defines (format characters, combining classes, ``str.isalnum``/``str.isspace``, ``str.casefold``,
general categories, decimal digit values) is taken from Python itself rather than from a Rust crate
built on another Unicode version.

Two properties Python does not define come from data files of Unicode 18.0 as the ``unicode-security``
crate, version 0.1.3 (crates.io, MIT/Apache-2.0), ships them in its ``src/tables.rs``:

* ``confusables.txt`` of UTS #39 (its ``CONFUSABLES`` table: each character and its prototype), for
  the blocklist's look-alike folding (``SKELETON``);
* ``Default_Ignorable_Code_Point`` of ``DerivedCoreProperties.txt`` (its ``DEFAULT_IGNORABLE`` table),
  for the characters the blocklist drops (``DROP``).

Neither file is downloadable from where the project is built, so the generator reads the crate's
source, which cargo fetches from crates.io like any dependency (it is not a dependency of the engine:
the generated tables are committed, and the build needs no network). Fetch it once with:

    cargo new --lib /tmp/us && cd /tmp/us && cargo add unicode-security@=0.1.3 && cargo fetch

and the generator finds it in cargo's registry (or pass its ``src/tables.rs`` as the argument).

Usage: python3 rust/gen_unicode_tables.py [path/to/unicode-security-0.1.3/src/tables.rs] \
           > rust/src/unicode_tables.rs
"""

from __future__ import annotations

import glob
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator

SURROGATES = range(0xD800, 0xE000)


def code_points() -> Iterator[int]:
    for cp in range(sys.maxunicode + 1):
        if cp not in SURROGATES:
            yield cp


def ranges(predicate: Callable[[str], bool]) -> list[tuple[int, int]]:
    """Inclusive ranges of the non-ASCII code points with the property (ASCII has its own bit mask)."""
    out: list[tuple[int, int]] = []
    for cp in code_points():
        if cp < 0x80 or not predicate(chr(cp)):
            continue
        if out and out[-1][1] + 1 == cp:
            out[-1] = (out[-1][0], cp)
        else:
            out.append((cp, cp))
    return out


def ascii_mask(predicate: Callable[[str], bool]) -> int:
    return sum(1 << cp for cp in range(0x80) if predicate(chr(cp)))


def blocks(table: list[tuple[int, int]]) -> list[int]:
    """Bit ``c >> 6`` set when the 64-character block of ``c`` meets the table: a clear bit answers
    for a whole block (all of CJK, say) without the binary search."""
    top = max((hi for _, hi in table), default=0) >> 6
    words = [0] * (top // 64 + 1)
    for lo, hi in table:
        for block in range(lo >> 6, (hi >> 6) + 1):
            words[block // 64] |= 1 << (block % 64)
    return words


def rust_table(name: str, doc: str, table: list[tuple[int, int]]) -> str:
    words = "".join(f"        0x{w:016X},\n" for w in blocks(table))
    rows = "".join(f"        (0x{lo:04X}, 0x{hi:04X}),\n" for lo, hi in table)
    return (
        f"/// {doc}\npub const {name}: RangeTable = RangeTable {{\n"
        f"    blocks: &[\n{words}    ],\n    ranges: &[\n{rows}    ],\n}};\n"
    )


#: Code points below this (two bytes in UTF-8: Latin-1, Latin Extended, IPA, Greek, Cyrillic, Armenian,
#: Hebrew, Arabic) are looked up in a dense index rather than by binary search.
DENSE_END = 0x800


def dense_index(name: str, doc: str, keys: list[int]) -> str:
    """For each code point 0x80..DENSE_END, 1 + its position in the sorted ``keys``, or 0."""
    position = {cp: k + 1 for k, cp in enumerate(keys)}
    assert len(keys) < 0xFFFF
    values = [position.get(cp, 0) for cp in range(0x80, DENSE_END)]
    rows = "".join(
        "    " + ", ".join(str(v) for v in values[i : i + 16]) + ",\n" for i in range(0, len(values), 16)
    )
    return f"/// {doc}\n#[rustfmt::skip]\npub const {name}: &[u16; {DENSE_END - 0x80}] = &[\n{rows}];\n"


def rust_str(s: str) -> str:
    """A Rust string literal, every non-printable-ASCII character escaped so the file stays readable."""
    escaped = (c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else f"\\u{{{ord(c):X}}}" for c in s)
    return '"' + "".join(escaped) + '"'


def is_format(c: str) -> bool:
    return unicodedata.category(c) == "Cf"


def is_combining(c: str) -> bool:
    return unicodedata.combining(c) != 0


def is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


def is_space(c: str) -> bool:
    return c.isspace()


def composes_backwards() -> set[str]:
    """The characters that can combine with the character before them under NFKC (quick check
    Maybe): the second character of every canonical pair that recomposes."""
    out = set()
    for cp in code_points():
        decomposition = unicodedata.decomposition(chr(cp))
        if decomposition and not decomposition.startswith("<"):
            parts = "".join(chr(int(part, 16)) for part in decomposition.split())
            if len(parts) == 2 and unicodedata.normalize("NFC", parts) == chr(cp):
                out.add(parts[1])
    # Hangul vowel and trailing jamo compose algorithmically, with no decomposition entry.
    out.update(chr(cp) for cp in range(0x1161, 0x1176))
    out.update(chr(cp) for cp in range(0x11A8, 0x11C3))
    return out


def nfkc_active(maybe: set[str]) -> Callable[[str], bool]:
    """Characters that can make a text not NFKC: all but the assigned starters that NFKC leaves
    alone and that never compose with the character before them (quick check Yes, class 0)."""

    def active(c: str) -> bool:
        return (
            unicodedata.category(c) == "Cn"
            or unicodedata.combining(c) != 0
            or unicodedata.normalize("NFKC", c) != c
            or c in maybe
        )

    return active


# --- the folding of look-alikes (blocklist) and of digits, dashes and spaces (blocklist and PII) ---

SECURITY_CRATE = "unicode-security-0.1.3"


def security_tables(path: str | None) -> str:
    """The source of the ``unicode-security`` crate's ``src/tables.rs`` (see the module docstring)."""
    if path is None:
        home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
        found = sorted(glob.glob(os.path.join(home, "registry/src/*", SECURITY_CRATE, "src/tables.rs")))
        if not found:
            sys.exit(f"{SECURITY_CRATE} not in cargo's registry: fetch it as the module docstring says")
        path = found[0]
    with open(path, encoding="utf-8") as f:
        return f.read()


def rust_array(src: str, name: str) -> str:
    start = src.index(f"const {name}:")
    return src[start : src.index("];", start)]


def load_confusables(src: str) -> dict[str, str]:
    """confusables.txt as the crate tabulates it: each character and its prototype."""
    table = {}
    for m in re.finditer(r"\('\\u\{([0-9a-f]+)\}',\s*&\[([^\]]*)\]\)", rust_array(src, "CONFUSABLES")):
        chars = re.findall(r"\\u\{([0-9a-f]+)\}", m.group(2))
        table[chr(int(m.group(1), 16))] = "".join(chr(int(c, 16)) for c in chars)
    assert len(table) > 6000, "the crate's table changed shape"
    return table


def load_default_ignorable(src: str) -> set[int]:
    pairs = re.findall(
        r"\('\\u\{([0-9a-f]+)\}',\s*'\\u\{([0-9a-f]+)\}'\)", rust_array(src, "DEFAULT_IGNORABLE")
    )
    out = {cp for lo, hi in pairs for cp in range(int(lo, 16), int(hi, 16) + 1)}
    assert {0x34F, 0xFE0F, 0x3164, 0xFFA0, 0x115F, 0x1160, 0xE0100} <= out
    return out


def is_dash(c: str) -> bool:
    """Dash punctuation, and the minus sign (Sm) that reads as one."""
    return unicodedata.category(c) == "Pd" or c == "\u2212"


def is_space_separator(c: str) -> bool:
    return unicodedata.category(c) == "Zs"


def is_decimal(c: str) -> bool:
    return unicodedata.category(c) == "Nd"


def is_mark(c: str) -> bool:
    """Nonspacing and enclosing marks: what sits on a letter without taking room of its own. Spacing
    marks (Mc: the vowel signs of Indic scripts that take their own width) are kept."""
    return unicodedata.category(c) in ("Mn", "Me")


def strip_marks(s: str, ignorable: set[int]) -> str:
    """``s`` canonically decomposed, its marks and default-ignorable characters dropped, recomposed."""
    kept = (c for c in unicodedata.normalize("NFD", s) if not is_mark(c) and ord(c) not in ignorable)
    return unicodedata.normalize("NFC", "".join(kept))


SMALL_CAPITAL = re.compile(r"LATIN LETTER SMALL CAPITAL ([A-Z])")
#: Living scripts with their own large body of text, neither right-to-left nor wide (those are told
#: by their bidi class and East Asian width): their letters are never mapped to ASCII ones.
OWN_TEXT_SCRIPTS = frozenset(
    {
        *("HANGUL", "DEVANAGARI", "BENGALI", "GURMUKHI", "GUJARATI", "ORIYA", "TAMIL", "TELUGU"),
        *("KANNADA", "MALAYALAM", "SINHALA", "THAI", "LAO", "TIBETAN", "MYANMAR", "KHMER", "ETHIOPIC"),
    }
)


def reads_as_latin(c: str) -> bool:
    """Whether a letter or digit ``c`` may stand for an ASCII one: not when it is written right to left
    (Hebrew ``ו``, Arabic ``ا``), wide (CJK ``丫``, kana, Bopomofo) or of a script in
    ``OWN_TEXT_SCRIPTS`` (Hangul ``ᆼ``, Malayalam ``ഠ``, Myanmar ``ဝ``): in the text of those scripts
    a reader tells them from Latin letters by their neighbours, and mapping them would turn words of
    ordinary text into ASCII ones."""
    if unicodedata.bidirectional(c) in ("R", "AL") or unicodedata.east_asian_width(c) in ("W", "F"):
        return False
    return unicodedata.name(c, "").split(" ")[0] not in OWN_TEXT_SCRIPTS


def ascii_of_same_kind(c: str, proto: str) -> str:
    """``proto``, or the ASCII character of ``c``'s kind among those that share it: ``I``, ``l``, ``1``
    and ``|`` all have the prototype ``l``, and ``0`` and ``O`` the prototype ``O``, so a capital letter
    with the prototype ``l`` (Cyrillic ``І``, Greek ``Ι``) is ``I``, and a number one or zero is ``1``
    or ``0``."""
    if proto == "l" and unicodedata.category(c) in ("Lu", "Lt"):
        return "I"
    if proto in ("l", "O") and unicodedata.numeric(c, None) in (0, 1):
        return str(int(unicodedata.numeric(c)))
    return proto


def skeleton_table(
    confusables: dict[str, str],
    ignorable: set[int],
    drop: Callable[[str], bool],
    active: Callable[[str], bool],
) -> dict[str, str]:
    """The blocklist's look-alike folding of every non-ASCII character NFKC leaves alone (the others
    never reach it) that the other folds (``DROP``, dashes, spaces, digits) leave: the character with
    its marks stripped (``é`` to ``e``), then each remaining non-ASCII character replaced by its UTS #39
    prototype when that prototype, marks stripped, is ASCII of the same class (a letter or digit by
    ASCII letters and digits, anything else by ASCII punctuation): ``с`` (Cyrillic) to ``c``, ``ı`` to
    ``i``, ``ø`` to ``o``, ``’`` to ``'``, but not ``।`` (Devanagari danda) to ``l`` nor ``×`` to ``x``.
    Letters and digits map only where they may stand in Latin text (``reads_as_latin``). A prototype
    that is the prototype of an ASCII character stands for that character (``“`` has the prototype
    ``''`` of ``"``). Latin small capitals without an ASCII prototype (``ʙ``, ``ᴛ``, ``ʀ``, ``ᴍ``) are
    their lowercase letter. ASCII is never changed, so ordinary text never folds (``rn`` stays ``rn``,
    ``l``, ``I`` and ``1`` stay apart); and Cyrillic letters whose prototype is a small capital
    (``в``, ``т``, ``н``, ``м``) stay themselves: they look like small capitals, not like the lowercase
    letters, and mapping them would make everyday Russian words (``вот``) English ones."""
    ascii_of = {proto: a for a, proto in confusables.items() if a.isascii() and len(proto) > 1}

    def ascii_look_alike(c: str) -> str | None:
        if is_word(c) and not reads_as_latin(c):
            return None
        proto = confusables.get(c)
        if proto is not None:
            proto = strip_marks(ascii_of.get(proto, proto), ignorable)
            words = [is_word(p) for p in proto]
            if (
                proto
                and all(0x21 <= ord(p) < 0x7F for p in proto)
                and (all(words) if is_word(c) else not any(words))
            ):
                return ascii_of_same_kind(c, proto)
        small_capital = SMALL_CAPITAL.fullmatch(unicodedata.name(c, ""))
        if small_capital:
            return small_capital.group(1).lower()
        # A Greek small letter whose capital looks like an ASCII capital (ε: Ε, κ: Κ, τ: Τ, χ: Χ):
        # the capital is folded to the small letter before this table applies, so the small letter
        # stands for it. Not Cyrillic: its small т, н, м look like small capitals (see above).
        upper = c.upper()
        if unicodedata.name(c, "").startswith("GREEK SMALL LETTER") and len(upper) == 1 and upper != c:
            proto = confusables.get(upper)
            if proto is not None and len(proto) == 1 and proto.isascii() and proto.isalpha():
                return proto.lower()
        return None

    table = {}
    for cp in code_points():
        c = chr(cp)
        if cp < 0x80 or unicodedata.category(c) == "Cn" or drop(c) or unicodedata.normalize("NFKC", c) != c:
            continue
        base = strip_marks(c, ignorable)
        assert base, f"{cp:X} is nothing but marks"
        if any(active(x) for x in base):
            # A spacing vowel sign made of a mark and another sign (Kannada U+0CC0): kept whole.
            base = c
        folded = "".join(x if x.isascii() else (ascii_look_alike(x) or x) for x in base)
        if folded != c:
            table[c] = folded
    return table


def main() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit("generate the tables with Python 3.11: the engine must match its Unicode 14 data")
    # Nothing in ASCII is a format character or a combining mark, which is what lets callers skip
    # the tables for ASCII; ASCII case folding is plain lowercasing.
    assert not any(is_format(chr(cp)) or is_combining(chr(cp)) for cp in range(0x80))
    assert all(chr(cp).casefold() == chr(cp).lower() for cp in range(0x80))

    folds = [(cp, chr(cp).casefold()) for cp in code_points() if cp >= 0x80 and chr(cp).casefold() != chr(cp)]
    fold_rows = "".join(f"    ('\\u{{{cp:X}}}', {rust_str(f)}),\n" for cp, f in folds)
    fold_blocks = "".join(f"    0x{w:016X},\n" for w in blocks([(cp, cp) for cp, _ in folds]))
    assert not any(nfkc_active(set())(chr(cp)) for cp in range(0x80))

    security = security_tables(sys.argv[1] if len(sys.argv) > 1 else None)
    confusables = load_confusables(security)
    ignorable = load_default_ignorable(security)
    decimal, dash, space_sep = ranges(is_decimal), ranges(is_dash), ranges(is_space_separator)
    # Each run of decimal digits starts at its zero, so a digit's value is its distance from the
    # start of its range, modulo 10 (adjacent runs merge into one range).
    for lo, hi in decimal:
        assert all(unicodedata.decimal(chr(cp)) == (cp - lo) % 10 for cp in range(lo, hi + 1)), hex(lo)

    def drop(c: str) -> bool:
        return is_mark(c) or ord(c) in ignorable

    def folded_elsewhere(c: str) -> bool:
        return drop(c) or is_dash(c) or is_space_separator(c) or is_decimal(c)

    active = nfkc_active(composes_backwards())
    skeleton = skeleton_table(confusables, ignorable, folded_elsewhere, active)
    drops = ranges(drop)

    def fold(text: str) -> str:
        out = []
        for c in text:
            if c.isascii():
                out.append(c)
            elif is_dash(c):
                out.append("-")
            elif is_space_separator(c):
                out.append(" ")
            elif is_decimal(c):
                out.append(str(unicodedata.decimal(c)))
            elif not drop(c):
                out.append(skeleton.get(c, c))
        return "".join(out)

    for c, f in skeleton.items():
        # What the fold gives is folded (the fold is idempotent), NFKC, and its characters are NFKC-inert
        # starters (so what they are concatenated with needs no new check), and when case folding is on
        # it is case folded once its ASCII is lowercased.
        assert fold(f) == f and not any(active(x) for x in f), f"{ord(c):X}"
        if c.casefold() == c:
            assert f.lower().casefold() == f.lower(), f"{ord(c):X}"
    assert "\ufffd" not in skeleton and not drop("\ufffd")  # a lone surrogate's stand-in stays one
    for c, expected in {
        "\u0131": "i",
        "\u0441": "c",
        "\u03bf": "o",
        "\u1d04": "c",
        "\u0299": "b",
        "\u00e9": "e",
        "\u00f8": "o",
        "\u2019": "'",
        "\u201c": '"',
        "\u0432": "\u0432",
        "\u0964": "\u0964",
        "\u00d7": "\u00d7",
    }.items():
        assert fold(c) == expected, (c, fold(c))
    skeleton_rows = "".join(
        f"    ('\\u{{{ord(c):X}}}', {rust_str(f)}),\n" for c, f in sorted(skeleton.items())
    )

    def block_words(*tables: list[tuple[int, int]]) -> str:
        return "".join(f"    0x{w:016X},\n" for w in blocks([r for t in tables for r in t]))

    skeleton_ranges = [(ord(c), ord(c)) for c in skeleton]
    fold_blocks_all = block_words(decimal, dash, space_sep, drops, skeleton_ranges)

    parts = [
        "// @generated by rust/gen_unicode_tables.py from Python "
        f"{sys.version.split()[0]}'s unicodedata (Unicode {unicodedata.unidata_version}). Do not edit.\n",
        "//! Character properties as Python 3.11 defines them: sorted, inclusive, non-overlapping ranges\n"
        "//! of non-ASCII code points (searched by binary search) behind a bitmap of the 64-character\n"
        "//! blocks they meet, and bit masks for ASCII.\n",
        "use super::RangeTable;\n",
        '/// ASCII characters where `str.isalnum() or c == "_"`, bit `c` set.\n'
        f"pub const ASCII_WORD: u128 = 0x{ascii_mask(is_word):032X};\n",
        "/// ASCII characters where `str.isspace()`, bit `c` set.\n"
        f"pub const ASCII_SPACE: u128 = 0x{ascii_mask(is_space):032X};\n",
        rust_table("FORMAT", 'Category Cf (`unicodedata.category(c) == "Cf"`).', ranges(is_format)),
        rust_table("COMBINING", "`unicodedata.combining(c) != 0`.", ranges(is_combining)),
        rust_table("WORD", '`c.isalnum() or c == "_"`.', ranges(is_word)),
        rust_table("SPACE", "`c.isspace()`.", ranges(is_space)),
        rust_table(
            "NFKC_ACTIVE",
            "Not an assigned starter that NFKC leaves alone and that never composes with the character\n"
            "/// before it: a text without these is NFKC (quick check Yes).",
            ranges(nfkc_active(composes_backwards())),
        ),
        "/// `c.casefold()` for every non-ASCII character it changes, sorted by character.\n"
        f"pub const CASEFOLD: &[(char, &str)] = &[\n{fold_rows}];\n",
        "/// The 64-character blocks holding a key of `CASEFOLD`.\n"
        f"pub const CASEFOLD_BLOCKS: &[u64] = &[\n{fold_blocks}];\n",
        dense_index(
            "CASEFOLD_DENSE",
            "For `c` in U+0080..U+07FF, index `c - 0x80`: 1 + the position of `c` in `CASEFOLD`, or 0.",
            [cp for cp, _ in folds],
        ),
        rust_table(
            "DECIMAL",
            "Category Nd (decimal digits); a digit's value is its distance from its range's start,\n"
            "/// modulo 10.",
            decimal,
        ),
        rust_table("DASH", "Category Pd (dash punctuation), and U+2212 MINUS SIGN.", dash),
        rust_table("SPACE_SEPARATOR", "Category Zs (space separators).", space_sep),
        rust_table(
            "DROP",
            "Categories Mn and Me (nonspacing and enclosing marks) and Default_Ignorable_Code_Point\n"
            f"/// (Unicode 18.0, from the {SECURITY_CRATE} crate): what the blocklist's folding drops.",
            drops,
        ),
        "/// The blocklist's look-alike folding (see `skeleton_table` in the generator; the prototypes\n"
        f"/// are UTS #39 confusables.txt of Unicode 18.0, from the {SECURITY_CRATE} crate), sorted.\n"
        f"pub const SKELETON: &[(char, &str)] = &[\n{skeleton_rows}];\n",
        dense_index(
            "SKELETON_DENSE",
            "For `c` in U+0080..U+07FF, index `c - 0x80`: 1 + the position of `c` in `SKELETON`, or 0.",
            sorted(ord(c) for c in skeleton),
        ),
        "/// The 64-character blocks holding a key of `SKELETON`.\n"
        f"pub const SKELETON_BLOCKS: &[u64] = &[\n{block_words(skeleton_ranges)}];\n",
        "/// The 64-character blocks holding a character the PII folding changes (a key of `DECIMAL`,\n"
        "/// `DASH` or `SPACE_SEPARATOR`).\n"
        f"pub const PII_FOLD_BLOCKS: &[u64] = &[\n{block_words(decimal, dash, space_sep)}];\n",
        "/// The 64-character blocks holding a character the blocklist folding changes (those and a key\n"
        "/// of `DROP` or `SKELETON`).\n"
        f"pub const FOLD_BLOCKS: &[u64] = &[\n{fold_blocks_all}];\n",
    ]
    sys.stdout.write("\n".join(parts))


if __name__ == "__main__":
    main()
