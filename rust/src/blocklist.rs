//! Blocklist literals (the port of `checks/blocklist.py`'s literal half): one Aho-Corasick automaton
//! over the normalised literals, word mode, and the stream hold-back. Offsets are UTF-8 byte offsets.

pub struct Literals {}

impl Literals {
    pub fn new(
        literals: &[String],
        word: bool,
        casefold: bool,
        max_holdback_chars: usize,
    ) -> Result<Literals, String> {
        let _ = (literals, word, casefold, max_holdback_chars);
        Ok(Literals {})
    }
    pub fn find(&self, text: &str, pos: usize) -> Vec<(usize, usize, usize)> {
        let _ = (text, pos);
        Vec::new()
    }
    pub fn holdback(&self, text: &str, pos: usize) -> usize {
        text.len().max(pos)
    }
}
