//! Blocklist literals (the literal half of `checks/blocklist.py`): one Aho-Corasick automaton over the
//! normalised literals, word mode, and the stream hold-back. Offsets are UTF-8 byte offsets into the
//! original text; the hold-back cap counts characters, as Python's did.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::normalize::{chars_from_end, hold_on_normalized, normalize};
use crate::unicode::is_word;

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

fn is_word_at(text: &str, at: usize) -> bool {
    text[at..].chars().next().is_some_and(is_word)
}

fn is_word_before(text: &str, at: usize) -> bool {
    text[..at].chars().next_back().is_some_and(is_word)
}

impl Literals {
    /// `literals` are already normalised the way texts will be (`casefold` says how); index `k` of a
    /// match is the literal's index here.
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
        let norm = normalize(text, self.casefold);
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
        hold_on_normalized(text, pos, self.cap, self.casefold, |hay, lo| {
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

    fn lits(words: &[&str], word: bool) -> Literals {
        let owned: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        Literals::new(&owned, word, true, 1024).unwrap()
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
