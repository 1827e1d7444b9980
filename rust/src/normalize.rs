//! Normalisation for matching, with a map back to the original offsets (the port of `text.py`).
//!
//! OWNED BY THE NORMALISE HELPER: replace the bodies, keep the public API.
//! All offsets are UTF-8 byte offsets into `&str`s.

use std::borrow::Cow;

/// Maps normalised byte offsets to original byte offsets. See `text.py`'s `OffsetMap`.
#[derive(Debug, Clone, Default)]
pub struct OffsetMap {}

impl OffsetMap {
    /// The original span covering every original character that produced `[start, end)` of the
    /// normalised text (whole clusters, and the format characters between them).
    pub fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        (start, end)
    }
    /// Where normalised offset `index` begins in the original (the original's length at the end).
    pub fn original_index(&self, index: usize) -> usize {
        index
    }
    /// The smallest normalised offset whose source starts at or after original offset `orig`.
    pub fn normalized_index(&self, orig: usize) -> usize {
        orig
    }
}

/// A normalised text; `map` is None when every offset is unchanged (pure ASCII).
pub struct Normalized<'a> {
    pub text: Cow<'a, str>,
    pub map: Option<OffsetMap>,
}

impl Normalized<'_> {
    pub fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        self.map
            .as_ref()
            .map_or((start, end), |m| m.original_span(start, end))
    }
    pub fn original_index(&self, index: usize) -> usize {
        self.map.as_ref().map_or(index, |m| m.original_index(index))
    }
    pub fn normalized_index(&self, orig: usize) -> usize {
        self.map.as_ref().map_or(orig, |m| m.normalized_index(orig))
    }
}

/// NFKC, optional full case folding (Python's `str.casefold`), format characters (Cf) removed.
pub fn normalize(text: &str, casefold: bool) -> Normalized<'_> {
    if text.is_ascii() {
        if casefold && text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Normalized {
                text: Cow::Owned(text.to_ascii_lowercase()),
                map: None,
            };
        }
        return Normalized {
            text: Cow::Borrowed(text),
            map: None,
        };
    }
    todo!("non-ASCII normalisation")
}

/// Byte offset where the last character cluster of `text` starts (`text.len()` for empty text... see
/// `text.py`: 0 for empty text). Trailing format characters are included.
pub fn last_cluster_start(text: &str) -> usize {
    text.char_indices().last().map_or(0, |(i, _)| i)
}
