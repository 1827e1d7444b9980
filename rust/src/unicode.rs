//! Character classes as Python 3.11 (Unicode 14) defines them, so the engine agrees with the
//! reference implementation character for character.
//!
//! The tables in `unicode_tables.rs` are generated from Python's own `unicodedata` and `str` methods
//! by `rust/gen_unicode_tables.py`; Rust's `char` methods follow a newer Unicode and other
//! definitions (`char::is_whitespace` is not `str.isspace`, which includes U+001C..U+001F).
//!
//! The folds of single characters that `normalize` applies after NFKC come from the same tables
//! (`fold_pii`, `fold_blocklist`), plus two files of Unicode 18.0 Python has no data for (UTS #39
//! `confusables.txt` and `Default_Ignorable_Code_Point`; the generator says where they come from).
//! None of them changes an ASCII character.

#[path = "unicode_tables.rs"]
mod tables;

/// Sorted, inclusive, disjoint ranges of non-ASCII code points, behind a bitmap of the 64-character
/// blocks they meet: a clear bit answers for a whole block (all of CJK, for most tables) without
/// the binary search.
struct RangeTable {
    blocks: &'static [u64],
    ranges: &'static [(u32, u32)],
}

/// Whether the 64-character block of `c` has its bit set in `blocks`.
fn in_blocks(c: char, blocks: &[u64]) -> bool {
    let block = c as usize >> 6;
    blocks
        .get(block >> 6)
        .is_some_and(|w| w >> (block & 63) & 1 != 0)
}

fn in_table(c: char, table: &RangeTable) -> bool {
    if !in_blocks(c, table.blocks) {
        return false;
    }
    let c = c as u32;
    // The first range whose end is at or after `c` is the only one that can hold it.
    let i = table.ranges.partition_point(|&(_, hi)| hi < c);
    table.ranges.get(i).is_some_and(|&(lo, _)| lo <= c)
}

fn in_ascii_mask(c: char, mask: u128) -> bool {
    mask >> (c as u32) & 1 != 0
}

/// Python's `\w` for str patterns: `ch.isalnum() or ch == "_"`.
pub fn is_word(c: char) -> bool {
    if c.is_ascii() {
        return in_ascii_mask(c, tables::ASCII_WORD);
    }
    in_table(c, &tables::WORD)
}

/// Python's `\s` for str patterns (`str.isspace`).
pub fn is_space(c: char) -> bool {
    if c.is_ascii() {
        return in_ascii_mask(c, tables::ASCII_SPACE);
    }
    in_table(c, &tables::SPACE)
}

/// Unicode category Cf (format characters: zero-width space and joiners, soft hyphen, BOM, bidi
/// controls, ...). None is ASCII.
pub fn is_format(c: char) -> bool {
    !c.is_ascii() && in_table(c, &tables::FORMAT)
}

/// True for characters that can change the character before them under NFKC: combining marks
/// (canonical combining class != 0) and the Hangul vowel/final jamo that compose into a syllable.
/// None is ASCII.
pub fn continues_cluster(c: char) -> bool {
    !c.is_ascii() && (('\u{1160}'..='\u{11FF}').contains(&c) || in_table(c, &tables::COMBINING))
}

/// Whether `c` is a starter (class 0) that NFKC leaves alone and never composes with the
/// character before it, in Python 3.11's data: a text of such characters is NFKC (its quick check
/// answers Yes), so checking it costs no call into the normaliser. All ASCII is.
pub fn is_nfkc_inert(c: char) -> bool {
    c.is_ascii() || !in_table(c, &tables::NFKC_ACTIVE)
}

/// The value of `c` (not ASCII) in a sorted `(char, &str)` table: from its dense index below U+0800
/// (Latin, Greek, Cyrillic, ...: the most common non-ASCII characters, one load), else by binary
/// search when its block holds a key.
fn lookup(
    c: char,
    table: &'static [(char, &'static str)],
    dense: &[u16; 0x780],
    blocks: &[u64],
) -> Option<&'static str> {
    let cp = c as usize;
    if cp < 0x800 {
        let k = usize::from(dense[cp - 0x80]);
        return (k != 0).then(|| table[k - 1].1);
    }
    if !in_blocks(c, blocks) {
        return None;
    }
    table
        .binary_search_by_key(&c, |&(k, _)| k)
        .ok()
        .map(|i| table[i].1)
}

/// Python's `str.casefold` of one character, when it is not the character itself. Python folds
/// each character on its own (no context, unlike `str.lower`'s final sigma), so a text folds
/// character by character.
pub fn casefold(c: char) -> Option<&'static str> {
    if c.is_ascii() {
        // Only the uppercase letters change; `'A'..='Z'` indexes into this lowercase alphabet.
        const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
        return c
            .is_ascii_uppercase()
            .then(|| &LOWER[(c as usize - 'A' as usize)..][..1]);
    }
    lookup(
        c,
        tables::CASEFOLD,
        tables::CASEFOLD_DENSE,
        tables::CASEFOLD_BLOCKS,
    )
}

/// Appends `c.casefold()` to `out`.
pub fn push_casefold(out: &mut String, c: char) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
    } else {
        match casefold(c) {
            Some(folded) => out.push_str(folded),
            None => out.push(c),
        }
    }
}

const DIGITS: &str = "0123456789";

/// The ASCII digit of a non-ASCII decimal digit (category Nd: Arabic-Indic, Devanagari, Thai, ...).
pub fn decimal_digit(c: char) -> Option<&'static str> {
    if c.is_ascii() || !in_blocks(c, tables::DECIMAL.blocks) {
        return None;
    }
    let cp = c as u32;
    let ranges = tables::DECIMAL.ranges;
    let i = ranges.partition_point(|&(_, hi)| hi < cp);
    let &(lo, _) = ranges.get(i).filter(|&&(lo, _)| lo <= cp)?;
    // Every run of digits starts at its zero (the generator checks it).
    let d = ((cp - lo) % 10) as usize;
    Some(&DIGITS[d..d + 1])
}

/// Non-ASCII dash punctuation (category Pd: hyphen, non-breaking hyphen, en and em dashes, ...) and
/// U+2212 MINUS SIGN.
pub fn is_dash(c: char) -> bool {
    !c.is_ascii() && in_table(c, &tables::DASH)
}

/// Non-ASCII space separators (category Zs: no-break space, U+202F, ideographic space, ...).
pub fn is_space_separator(c: char) -> bool {
    !c.is_ascii() && in_table(c, &tables::SPACE_SEPARATOR)
}

/// What the blocklist drops: nonspacing and enclosing marks (Mn, Me: accents, strikethrough U+0336,
/// the grapheme joiner U+034F, variation selectors) and the other default-ignorable code points
/// (Hangul fillers U+115F, U+1160, U+3164, U+FFA0, ...). None is ASCII.
pub fn is_dropped(c: char) -> bool {
    !c.is_ascii() && in_table(c, &tables::DROP)
}

/// The PII folding of one character, when it changes it: a decimal digit to its ASCII digit, a dash
/// to `-`, a space separator to a space.
pub fn fold_pii(c: char) -> Option<&'static str> {
    if c.is_ascii() || !in_blocks(c, tables::PII_FOLD_BLOCKS) {
        return None;
    }
    if is_dash(c) {
        Some("-")
    } else if is_space_separator(c) {
        Some(" ")
    } else {
        decimal_digit(c)
    }
}

/// The blocklist folding of one character of NFKC text, when it changes it: what `fold_pii` does,
/// marks and default-ignorable characters dropped (`""`), and the look-alike skeleton (`SKELETON`:
/// accents stripped from precomposed letters, and letters, digits and punctuation that a reader
/// cannot tell from ASCII ones mapped to those). The result may hold uppercase ASCII (`С` to `C`),
/// which case-insensitive callers lowercase. Every result is folded already (the fold is
/// idempotent) and made of NFKC-inert characters (the generator checks both).
pub fn fold_blocklist(c: char) -> Option<&'static str> {
    if c.is_ascii() || !in_blocks(c, tables::FOLD_BLOCKS) {
        return None;
    }
    if let Some(f) = fold_pii(c) {
        return Some(f);
    }
    if is_dropped(c) {
        return Some("");
    }
    lookup(
        c,
        tables::SKELETON,
        tables::SKELETON_DENSE,
        tables::SKELETON_BLOCKS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_word_and_space_follow_python() {
        let word: String = (0u8..0x80)
            .map(char::from)
            .filter(|&c| is_word(c))
            .collect();
        assert_eq!(
            word,
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
        );
        let space: Vec<u32> = (0u8..0x80)
            .map(char::from)
            .filter(|&c| is_space(c))
            .map(u32::from)
            .collect();
        assert_eq!(space, [9, 10, 11, 12, 13, 28, 29, 30, 31, 32]);
    }

    #[test]
    fn non_ascii_classes() {
        assert!(is_word('é') && is_word('一') && is_word('²') && is_word('Ⅻ'));
        assert!(!is_word('\u{0301}') && !is_word('—'));
        assert!(is_space('\u{00A0}') && is_space('\u{2028}') && is_space('\u{3000}'));
        assert!(!is_space('\u{200B}'));
        for c in [
            '\u{00AD}',
            '\u{200B}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{202E}',
            '\u{E0001}',
        ] {
            assert!(is_format(c), "{c:?}");
        }
        assert!(!is_format('a') && !is_format('\u{0301}'));
        assert!(continues_cluster('\u{0301}') && continues_cluster('\u{1161}'));
        assert!(continues_cluster('\u{11A8}') && !continues_cluster('\u{1100}'));
        assert!(!continues_cluster('e') && !continues_cluster('\u{200B}'));
        assert!(is_nfkc_inert('a') && is_nfkc_inert('é') && is_nfkc_inert('中'));
        assert!(is_nfkc_inert('\u{AC00}') && is_nfkc_inert('\u{1100}'));
        for c in [
            '\u{301}', '\u{1161}', '\u{11A8}', 'ﬁ', 'Ａ', '\u{F900}', '\u{3099}', '\u{102E}',
        ] {
            assert!(!is_nfkc_inert(c), "{c:?}");
        }
    }

    #[test]
    fn casefold_is_full_case_folding() {
        assert_eq!(casefold('A'), Some("a"));
        assert_eq!(casefold('Z'), Some("z"));
        assert_eq!(casefold('a'), None);
        assert_eq!(casefold('ß'), Some("ss"));
        assert_eq!(casefold('ẞ'), Some("ss"));
        assert_eq!(casefold('İ'), Some("i\u{307}"));
        assert_eq!(casefold('ς'), Some("σ"));
        assert_eq!(casefold('Σ'), Some("σ"));
        assert_eq!(casefold('ǅ'), Some("ǆ"));
        assert_eq!(casefold('ﬀ'), Some("ff"));
        assert_eq!(casefold('Ⱥ'), Some("ⱥ"));
        assert_eq!(casefold('σ'), None);
        let mut s = String::new();
        for c in "Straße".chars() {
            push_casefold(&mut s, c);
        }
        assert_eq!(s, "strasse");
    }

    #[test]
    fn pii_folding_is_digits_dashes_and_spaces() {
        assert_eq!(fold_pii('\u{664}'), Some("4")); // Arabic-Indic four
        assert_eq!(fold_pii('\u{96B}'), Some("5")); // Devanagari five
        assert_eq!(fold_pii('\u{E50}'), Some("0")); // Thai zero
        assert_eq!(fold_pii('\u{1D7D9}'), Some("1")); // mathematical double-struck one
        assert_eq!(fold_pii('\u{2013}'), Some("-"));
        assert_eq!(fold_pii('\u{2011}'), Some("-"));
        assert_eq!(fold_pii('\u{2212}'), Some("-"));
        assert_eq!(fold_pii('\u{A0}'), Some(" "));
        assert_eq!(fold_pii('\u{3000}'), Some(" "));
        for c in [
            'a', '4', '-', ' ', '\u{B2}', '\u{2028}', 'é', '\u{336}', '\u{441}',
        ] {
            assert_eq!(fold_pii(c), None, "{c:?}");
        }
        // every digit of every script, by its value
        for (lo, hi) in tables::DECIMAL.ranges.iter().copied() {
            for cp in lo..=hi {
                let c = char::from_u32(cp).unwrap();
                let d = fold_pii(c).unwrap();
                assert_eq!(u32::from(d.as_bytes()[0] - b'0'), (cp - lo) % 10);
            }
        }
    }

    #[test]
    fn blocklist_folding_drops_marks_and_maps_look_alikes() {
        let cases = [
            ('\u{2011}', "-"),
            ('\u{2014}', "-"),
            ('\u{202F}', " "),
            ('\u{663}', "3"),
            ('\u{336}', ""),
            ('\u{34F}', ""),
            ('\u{FE0F}', ""),
            ('\u{E0100}', ""),
            ('\u{3164}', ""),
            ('\u{FFA0}', ""),
            ('\u{115F}', ""),
            ('\u{1160}', ""),
            ('\u{441}', "c"), // Cyrillic es
            ('\u{421}', "C"),
            ('\u{3BF}', "o"),  // Greek omicron
            ('\u{131}', "i"),  // dotless i
            ('\u{1D04}', "c"), // small capital C
            ('\u{299}', "b"),  // small capital B
            ('\u{1D1B}', "t"), // small capital T
            ('\u{585}', "o"),  // Armenian oh
            ('é', "e"),
            ('Å', "A"),
            ('ø', "o"),
            ('\u{2019}', "'"),
            ('\u{201C}', "\""),
        ];
        for (c, folded) in cases {
            assert_eq!(fold_blocklist(c), Some(folded), "{c:?}");
        }
        // ASCII, letters of other scripts, and look-alikes of another class stay
        for c in [
            'a', 'I', 'l', '1', '0', '_', '\u{432}', '\u{964}', '\u{D7}', '\u{4E00}', '\u{AC00}',
            'ß', '\u{FFFD}', '\u{2028}',
        ] {
            assert_eq!(fold_blocklist(c), None, "{c:?}");
        }
        // every result is folded and NFKC-inert
        for &(_, f) in tables::SKELETON {
            for c in f.chars() {
                assert!(fold_blocklist(c).is_none() && is_nfkc_inert(c), "{f:?}");
            }
        }
    }

    #[test]
    fn tables_are_sorted_and_disjoint() {
        for table in [
            &tables::FORMAT,
            &tables::COMBINING,
            &tables::WORD,
            &tables::SPACE,
            &tables::NFKC_ACTIVE,
            &tables::DECIMAL,
            &tables::DASH,
            &tables::SPACE_SEPARATOR,
            &tables::DROP,
        ] {
            let ranges = table.ranges;
            assert!(ranges.iter().all(|&(lo, hi)| 0x80 <= lo && lo <= hi));
            assert!(ranges.windows(2).all(|w| w[0].1 + 1 < w[1].0));
            // Every member's block bit is set, and lookups agree with the ranges at their edges.
            for &(lo, hi) in ranges {
                assert!((lo..=hi)
                    .filter_map(char::from_u32)
                    .all(|c| in_blocks(c, table.blocks)));
                // Ranges are apart, so the code points either side are not members.
                let edges = [(lo, true), (hi, true), (lo - 1, false), (hi + 1, false)];
                for (cp, member) in edges {
                    if let Some(c) = char::from_u32(cp).filter(|c| !c.is_ascii()) {
                        assert_eq!(in_table(c, table), member, "{cp:X}");
                    }
                }
            }
        }
        for table in [
            &tables::DECIMAL,
            &tables::DASH,
            &tables::SPACE_SEPARATOR,
            &tables::DROP,
        ] {
            for &(lo, hi) in table.ranges {
                assert!((lo..=hi)
                    .filter_map(char::from_u32)
                    .all(|c| in_blocks(c, tables::FOLD_BLOCKS)));
            }
        }
        assert!(tables::SKELETON.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(tables::SKELETON.iter().all(|&(c, _)| !c.is_ascii()
            && in_blocks(c, tables::SKELETON_BLOCKS)
            && in_blocks(c, tables::FOLD_BLOCKS)));
        assert!(tables::CASEFOLD.windows(2).all(|w| w[0].0 < w[1].0));
        // the dense indexes agree with the tables
        for (table, dense) in [
            (tables::CASEFOLD, tables::CASEFOLD_DENSE),
            (tables::SKELETON, tables::SKELETON_DENSE),
        ] {
            for (k, &(c, _)) in table.iter().enumerate() {
                if (c as usize) < 0x800 {
                    assert_eq!(usize::from(dense[c as usize - 0x80]), k + 1);
                }
            }
            let below = table.iter().filter(|&&(c, _)| (c as usize) < 0x800).count();
            assert_eq!(dense.iter().filter(|&&k| k != 0).count(), below);
        }
        assert!(tables::CASEFOLD
            .iter()
            .all(|&(c, _)| in_blocks(c, tables::CASEFOLD_BLOCKS)));
    }
}
