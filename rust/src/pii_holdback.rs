//! The PII stream hold-back (the port of `PiiCheck.holdback` in `checks/pii.py`): the smallest index
//! from which the tail could still become (part of) a match once more text arrives.
//!
//! OWNED BY THE PII HOLD-BACK HELPER: replace the bodies, keep the public API.
//! Offsets are UTF-8 byte offsets into the original text; the cap counts characters.

use crate::pii::PiiType;

pub struct PiiHoldback {
    types: Vec<PiiType>,
    max_holdback_chars: usize,
}

impl PiiHoldback {
    pub fn new(types: &[PiiType], max_holdback_chars: usize) -> PiiHoldback {
        PiiHoldback {
            types: types.to_vec(),
            max_holdback_chars,
        }
    }

    /// Exactly `PiiCheck.holdback(text, pos)`, in byte offsets.
    pub fn holdback(&self, text: &str, pos: usize) -> usize {
        let _ = (&self.types, self.max_holdback_chars);
        text.len().max(pos)
    }
}
