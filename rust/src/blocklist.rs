//! Blocklist literals (the literal half of `checks/blocklist.py`): one Aho-Corasick automaton over the
//! normalised literals, word mode, and the stream hold-back. Offsets are UTF-8 byte offsets into the
//! original text; the hold-back cap counts characters, as Python's did.
//!
//! Texts are normalised with the blocklist's folding (`normalize::normalize_blocklist`: NFKC, case
//! folding when case-insensitive, format characters, marks and default-ignorables dropped, dashes,
//! spaces and digits folded, look-alikes mapped to ASCII), the literals the same way when the check is
//! built, so `competitor‑name` (U+2011), `cοmpetitor` (Greek omicron) and `c̶o̶m̶p̶e̶t̶i̶t̶o̶r̶` are all
//! `competitor-name` or `competitor`, and a match maps back to exactly the original characters.
//!
//! Word mode: a literal whose edge character is a word character does not match where that edge is
//! glued to another word character. Word characters are letters and digits (Python's `str.isalnum`);
//! `_` is a boundary, so Markdown's `_competitor_` matches, while `competitor2` and `2competitor` do
//! not (digits stay word characters: a number glued to a word usually makes another name).

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::normalize::{chars_from_end, hold_on_normalized_with, normalize_with, Fold, Options};
use crate::unicode::is_word as is_python_word;

/// Above this many literal bytes the automaton is a contiguous NFA instead of a DFA: the DFA is the
/// fastest to scan and stays small for thousands of literals, beyond that memory wins.
const DFA_MAX_BYTES: usize = 200_000;

pub struct Literals {
    automaton: AhoCorasick,
    /// the literals sorted: a text is a prefix of some literal iff the first literal >= it starts
    /// with it
    sorted: Vec<String>,
    /// the longest literal, in characters
    max_chars: usize,
    word: bool,
    casefold: bool,
    cap: usize,
}

/// A word character for word mode: a letter or digit; `_` separates words (see the module doc).
fn is_word(c: char) -> bool {
    c != '_' && is_python_word(c)
}

fn is_word_at(text: &str, at: usize) -> bool {
    text[at..].chars().next().is_some_and(is_word)
}

fn is_word_before(text: &str, at: usize) -> bool {
    text[..at].chars().next_back().is_some_and(is_word)
}

impl Literals {
    /// `literals` are already normalised the way texts will be (`normalize_blocklist` with `casefold`);
    /// index `k` of a match is the literal's index here.
    pub fn new(
        literals: &[String],
        word: bool,
        casefold: bool,
        max_holdback_chars: usize,
    ) -> Result<Literals, String> {
        if literals.iter().any(String::is_empty) {
            return Err("a literal is empty".to_owned());
        }
        let total: usize = literals.iter().map(String::len).sum();
        let kind = if total <= DFA_MAX_BYTES {
            AhoCorasickKind::DFA
        } else {
            AhoCorasickKind::ContiguousNFA
        };
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(kind))
            .build(literals)
            .map_err(|e| e.to_string())?;
        let mut sorted = literals.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let max_chars = literals
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0);
        Ok(Literals {
            automaton,
            sorted,
            max_chars,
            word,
            casefold,
            cap: max_holdback_chars,
        })
    }

    fn options(&self) -> Options {
        Options::new(self.casefold, Fold::Blocklist)
    }

    /// In word mode a literal whose edge character is a word character must not continue a word there.
    fn word_ok(&self, norm: &str, start: usize, end: usize) -> bool {
        if !self.word {
            return true;
        }
        let glued_before = start > 0 && is_word_at(norm, start) && is_word_before(norm, start);
        let glued_after = end < norm.len() && is_word_before(norm, end) && is_word_at(norm, end);
        !(glued_before || glued_after)
    }

    /// Every (overlapping) literal occurrence starting at or after `pos`, as (start, end, literal
    /// index) sorted by (start, end); `text[..pos]` is context for the word rule only.
    pub fn find(&self, text: &str, pos: usize) -> Vec<(usize, usize, usize)> {
        let norm = normalize_with(text, self.options());
        let npos = norm.normalized_index(pos);
        let hay: &str = &norm.text;
        let mut out = Vec::new();
        // Most texts hold no literal at all: a plain search (which stops at the first occurrence, and
        // finds one whenever any literal occurs) costs a fraction of the overlapping one.
        if npos >= hay.len() || !self.automaton.is_match(&hay[npos..]) {
            return out;
        }
        for m in self.automaton.find_overlapping_iter(&hay[npos..]) {
            let (s, e) = (m.start() + npos, m.end() + npos);
            if self.word_ok(hay, s, e) {
                let (os, oe) = norm.original_span(s, e);
                out.push((os, oe, m.pattern().as_usize()));
            }
        }
        out.sort_by_key(|&(s, e, _)| (s, e));
        out
    }

    /// The smallest offset `i >= pos` from which the text could still become a literal match once more
    /// text arrives (the last character cluster always counts as undecided); `text.len()` if none.
    pub fn holdback(&self, text: &str, pos: usize) -> usize {
        hold_on_normalized_with(text, pos, self.cap, self.options(), |hay, lo| {
            self.literal_hold(hay, lo.max(chars_from_end(hay, self.max_chars)))
        })
    }

    fn literal_hold(&self, norm: &str, start: usize) -> usize {
        for (i, ch) in norm[start..].char_indices() {
            let i = i + start;
            if self.word && i > 0 && is_word(ch) && is_word_before(norm, i) {
                continue;
            }
            let tail = &norm[i..];
            let k = self.sorted.partition_point(|lit| lit.as_str() < tail);
            if self.sorted.get(k).is_some_and(|lit| lit.starts_with(tail)) {
                return i;
            }
        }
        norm.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::normalize::normalize_blocklist;

    /// The literals normalised as `checks/blocklist.py` does before building.
    fn lits(words: &[&str], word: bool) -> Literals {
        let owned: Vec<String> = words
            .iter()
            .map(|w| normalize_blocklist(w, true).text.into_owned())
            .collect();
        Literals::new(&owned, word, true, 1024).unwrap()
    }

    /// The original text of every match.
    fn found<'t>(l: &Literals, text: &'t str) -> Vec<&'t str> {
        l.find(text, 0)
            .iter()
            .map(|&(s, e, _)| &text[s..e])
            .collect()
    }

    #[test]
    fn look_alikes_dashes_and_marks_are_found_with_their_original_span() {
        let l = lits(&["competitor-name"], true);
        for evasion in [
            "competitor\u{2011}name",      // non-breaking hyphen
            "competitor\u{2013}name",      // en dash
            "competitor\u{2212}name",      // minus sign
            "c\u{3BF}mpetitor-name",       // Greek omicron
            "\u{441}omp\u{435}titor-name", // Cyrillic es and ie
            "\u{421}OMPETITOR-NAME",       // Cyrillic capital es
            "compet\u{131}tor-name",       // dotless i
            "\u{1D04}\u{1D0F}\u{1D0D}\u{1D18}\u{1D07}\u{1D1B}\u{26A}\u{1D1B}\u{1D0F}\u{280}-name", // small capitals
            "c\u{336}o\u{336}m\u{336}p\u{336}e\u{336}t\u{336}i\u{336}t\u{336}o\u{336}r\u{336}-name",
            "comp\u{E9}titor-name",           // an accent
            "competitor\u{FE0F}-\u{34F}name", // variation selector, grapheme joiner
        ] {
            let text = format!("we beat {evasion}, again");
            assert_eq!(found(&l, &text), vec![evasion], "{evasion:?}");
        }
        // the span ends with the last letter's marks
        let l = lits(&["competitor"], true);
        let text =
            "c\u{336}o\u{336}m\u{336}p\u{336}e\u{336}t\u{336}i\u{336}t\u{336}o\u{336}r\u{336} x";
        assert_eq!(found(&l, text), vec![&text[..text.len() - 2]]);
    }

    #[test]
    fn a_literal_written_with_look_alikes_matches_plain_text() {
        let l = lits(&["\u{441}omp\u{435}titor\u{2011}name"], true);
        assert_eq!(
            found(&l, "ask competitor-name now"),
            vec!["competitor-name"]
        );
    }

    #[test]
    fn underscore_is_a_word_boundary_and_digits_are_not() {
        let l = lits(&["competitor-name", "hack"], true);
        assert_eq!(
            found(&l, "see _competitor-name_ here"),
            vec!["competitor-name"]
        );
        assert_eq!(found(&l, "snake_hack_case"), vec!["hack"]);
        assert!(found(&l, "competitor-name2 2hack hacks").is_empty());
    }

    #[test]
    fn ordinary_text_has_no_new_matches() {
        let l = lits(&["rn", "l1", "mod", "cafe"], true);
        // ASCII is never folded: `m` is not `rn`, `I` and `1` are not `l`
        assert!(found(&l, "the modern mode, I11 and ll").is_empty());
        // letters of other scripts stay themselves
        assert!(found(
            &l,
            "\u{432}\u{43E}\u{442} \u{5DB}\u{5D5}\u{5DC} \u{E21}\u{E2D}\u{E14}"
        )
        .is_empty());
        assert_eq!(found(&l, "un caf\u{E9}"), vec!["caf\u{E9}"]);
    }

    #[test]
    fn holdback_keeps_characters_that_may_still_fold_or_combine() {
        let l = lits(&["hack"], true);
        // a trailing look-alike prefix is held, and so is a complete match behind a dropped character
        assert_eq!(l.holdback("say h\u{430}c", 0), 4);
        assert_eq!(l.holdback("a hack\u{FE0F}", 0), 2);
        assert_eq!(l.holdback("a h\u{336}a\u{336}", 0), 2);
        // the last letter is held: a mark may follow it
        assert_eq!(l.holdback("nothing x", 0), 8);
    }

    #[test]
    fn word_mode_skips_literals_inside_words() {
        let l = lits(&["ass", "hack"], true);
        assert!(l.find("first class", 0).is_empty());
        assert_eq!(l.find("a hack, then", 0), vec![(2, 6, 1)]);
        assert!(l.find("hacks", 0).is_empty());
    }

    #[test]
    fn substring_mode_reports_overlapping_occurrences() {
        let l = lits(&["ab", "bc"], false);
        assert_eq!(l.find("xabcx", 0), vec![(1, 3, 0), (2, 4, 1)]);
    }

    #[test]
    fn case_folding_happens_on_the_text() {
        let l = lits(&["hack"], true);
        assert_eq!(l.find("HACK it", 0), vec![(0, 4, 0)]);
    }

    #[test]
    fn pos_limits_starts_but_not_word_context() {
        let l = lits(&["hack"], true);
        assert!(l.find("xhack", 1).is_empty());
        assert_eq!(l.find("x hack", 2), vec![(2, 6, 0)]);
    }

    #[test]
    fn holdback_keeps_a_literal_prefix_at_the_end() {
        let l = lits(&["competitor-name"], true);
        assert_eq!(l.holdback("talk about compet", 0), 11);
        assert_eq!(l.holdback("talk about nothing", 0), 17); // the last cluster
        assert_eq!(l.holdback("abc", 5), 3);
    }

    #[test]
    fn holdback_in_word_mode_ignores_starts_inside_a_word() {
        let l = lits(&["hack"], true);
        assert_eq!(l.holdback("shac", 0), 3);
        let sub = lits(&["hack"], false);
        assert_eq!(sub.holdback("shac", 0), 1);
    }
}
