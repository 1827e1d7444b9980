//! Character classes as Python 3.11 (Unicode 14) defines them, so the engine agrees with the
//! reference implementation character for character.
//!
//! The tables in `unicode_tables.rs` are generated from Python's own `unicodedata` and `str` methods
//! by `rust/gen_unicode_tables.py`; Rust's `char` methods follow a newer Unicode and other
//! definitions (`char::is_whitespace` is not `str.isspace`, which includes U+001C..U+001F).

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
    if !in_blocks(c, tables::CASEFOLD_BLOCKS) {
        return None;
    }
    tables::CASEFOLD
        .binary_search_by_key(&c, |&(k, _)| k)
        .ok()
        .map(|i| tables::CASEFOLD[i].1)
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
    fn tables_are_sorted_and_disjoint() {
        for table in [
            &tables::FORMAT,
            &tables::COMBINING,
            &tables::WORD,
            &tables::SPACE,
            &tables::NFKC_ACTIVE,
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
        assert!(tables::CASEFOLD.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(tables::CASEFOLD
            .iter()
            .all(|&(c, _)| in_blocks(c, tables::CASEFOLD_BLOCKS)));
    }
}
