//! Character classes as Python 3.11 (Unicode 14) defines them, so the engine agrees with the
//! reference implementation character for character.
//!
//! OWNED BY THE NORMALISE HELPER: generated tables go in `unicode_tables.rs`.

/// Python's `\w` for str patterns: `ch.isalnum() or ch == "_"`.
pub fn is_word(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Python's `\s` for str patterns (`str.isspace`).
pub fn is_space(c: char) -> bool {
    c.is_whitespace()
}
