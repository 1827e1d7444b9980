//! Strict JSON validation in one scan over the bytes, refusing exactly what guard_middleware's strict
//! parser refuses (Python's `json.loads` with strict strings, no NaN/Infinity, no duplicate keys, no
//! unpaired surrogate escapes), so that a faster parser can build the value afterwards. Errors are
//! reported in the order Python's parser meets them: a syntax error where it is, a duplicate key when
//! its object closes (Python's `object_pairs_hook` runs then), an unpaired surrogate only once the
//! whole document parsed (Python finds it when re-encoding the value).

use std::borrow::Cow;
use std::collections::HashSet;

/// Why a document is refused; positions are byte offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not UTF-8 from this byte on.
    Encoding(usize),
    /// Not JSON at this byte.
    Syntax(usize),
    /// `NaN`, `Infinity` or `-Infinity` at `start..end`.
    Constant(usize, usize),
    /// An integer at this byte with more digits than Python converts (`sys.get_int_max_str_digits`).
    IntDigits(usize),
    /// A repeated key; `start..end` is its JSON string, quotes included.
    Duplicate(usize, usize),
    /// A container at this byte nested deeper than the limit.
    Depth(usize),
    /// A `\uXXXX` surrogate escape at this byte that is not half of a pair.
    Surrogate(usize),
}

/// A valid document's properties that matter to whoever builds its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checked {
    /// An integer outside -2^63..2^64: parsers with 64-bit integers give something else than Python.
    pub big_int: bool,
}

/// Objects up to this many keys look duplicates up by a linear scan (a chat body's objects have a
/// handful of keys); larger ones switch to a hash set so the cost stays linear.
const SCAN_KEYS: usize = 8;

struct Frame<'a> {
    object: bool,
    /// Where this object's keys start in `Checker::keys` (linear-scan mode).
    keys_from: usize,
    set: Option<HashSet<Cow<'a, [u8]>>>,
    /// The first repeated key, refused when the object closes.
    duplicate: Option<(usize, usize)>,
}

struct Checker<'a> {
    b: &'a [u8],
    i: usize,
    max_int_digits: usize,
    max_depth: usize,
    frames: Vec<Frame<'a>>,
    keys: Vec<Cow<'a, [u8]>>,
    lone_surrogate: Option<usize>,
    checked: Checked,
}

/// The escape sequence at `b[i]` (a backslash) as Python's parser decodes it: the code point (a lone
/// surrogate when a `\\uXXXX` surrogate escape is not half of a pair) and the bytes it takes. None
/// when it is not a valid escape.
pub(crate) fn unescape(b: &[u8], i: usize) -> Option<(u32, usize)> {
    let esc = *b.get(i + 1)?;
    Some(match esc {
        b'"' | b'\\' | b'/' => (u32::from(esc), 2),
        b'b' => (0x08, 2),
        b'f' => (0x0C, 2),
        b'n' => (0x0A, 2),
        b'r' => (0x0D, 2),
        b't' => (0x09, 2),
        b'u' => {
            let hi = hex4(b, i + 2)?;
            // Python pairs a high surrogate with an immediately following low escape.
            let lo = if (0xD800..=0xDBFF).contains(&hi) && b.get(i + 6..i + 8) == Some(b"\\u") {
                hex4(b, i + 8).filter(|lo| (0xDC00..=0xDFFF).contains(lo))
            } else {
                None
            };
            match lo {
                Some(lo) => (0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00), 12),
                None => (hi, 6),
            }
        }
        _ => return None,
    })
}

fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let digits = b.get(at..at + 4)?;
    let mut v = 0;
    for &d in digits {
        v = v * 16 + (d as char).to_digit(16)?;
    }
    Some(v)
}

/// Appends code point `c` (a lone surrogate included) as generalised UTF-8: distinct Python strings
/// stay distinct, and a key spelled with escapes equals the same key spelled raw.
fn push_code_point(out: &mut Vec<u8>, c: u32) {
    if c < 0x80 {
        out.push(c as u8);
    } else if c < 0x800 {
        out.extend_from_slice(&[0xC0 | (c >> 6) as u8, 0x80 | (c & 0x3F) as u8]);
    } else if c < 0x10000 {
        out.extend_from_slice(&[
            0xE0 | (c >> 12) as u8,
            0x80 | ((c >> 6) & 0x3F) as u8,
            0x80 | (c & 0x3F) as u8,
        ]);
    } else {
        out.extend_from_slice(&[
            0xF0 | (c >> 18) as u8,
            0x80 | ((c >> 12) & 0x3F) as u8,
            0x80 | ((c >> 6) & 0x3F) as u8,
            0x80 | (c & 0x3F) as u8,
        ]);
    }
}

/// The first byte at or after `i` that ends a run of plain string bytes: a quote, a backslash or a
/// control character (or the end). Eight bytes at a time, since string contents are most of a body.
pub(crate) fn plain_run_end(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Sets the high bit of the first (lowest) byte of `x` below `n`; bytes after it may be wrong.
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let hits = below(x, 0x20)
            | below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1);
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c < 0x20 || c == b'"' || c == b'\\' {
            break;
        }
        i += 1;
    }
    i
}

impl<'a> Checker<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// The string whose opening quote is at `self.i`; returns its unescaped bytes when `key`.
    fn string(&mut self, key: bool) -> Result<Cow<'a, [u8]>, JsonError> {
        let b = self.b;
        let start = self.i + 1;
        let mut i = start;
        let mut owned: Option<Vec<u8>> = None;
        let mut run = start; // start of the raw bytes not yet copied into `owned`
        loop {
            i = plain_run_end(b, i);
            let c = *b.get(i).ok_or(JsonError::Syntax(self.i))?;
            match c {
                b'"' => break,
                0..=0x1F => return Err(JsonError::Syntax(i)),
                b'\\' => {
                    if key {
                        owned
                            .get_or_insert_with(Vec::new)
                            .extend_from_slice(&b[run..i]);
                    }
                    b.get(i + 1).ok_or(JsonError::Syntax(self.i))?;
                    let (c, len) = unescape(b, i).ok_or(JsonError::Syntax(i))?;
                    if (0xD800..=0xDFFF).contains(&c) {
                        self.lone_surrogate.get_or_insert(i);
                    }
                    if let Some(out) = owned.as_mut() {
                        push_code_point(out, c);
                    }
                    i += len;
                    run = i;
                }
                _ => i += 1,
            }
        }
        self.i = i + 1;
        Ok(match owned {
            Some(mut out) => {
                out.extend_from_slice(&b[run..i]);
                Cow::Owned(out)
            }
            None => Cow::Borrowed(&b[start..i]),
        })
    }

    fn number(&mut self) -> Result<(), JsonError> {
        let b = self.b;
        let start = self.i;
        let mut i = start;
        let negative = b.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        let digits_from = i;
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = b.get(i) {
                    i += 1;
                }
            }
            _ => return Err(JsonError::Syntax(start)),
        }
        let digits_to = i;
        let mut integer = true;
        // A fraction or exponent counts only when digits follow, as in Python's scanner; anything
        // else is left for the caller to refuse as what follows the number.
        if b.get(i) == Some(&b'.') && matches!(b.get(i + 1), Some(b'0'..=b'9')) {
            integer = false;
            i += 2;
            while let Some(b'0'..=b'9') = b.get(i) {
                i += 1;
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            let sign = usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
            if matches!(b.get(i + 1 + sign), Some(b'0'..=b'9')) {
                integer = false;
                i += 1 + sign;
                while let Some(b'0'..=b'9') = b.get(i) {
                    i += 1;
                }
            }
        }
        self.i = i;
        if integer {
            let n = digits_to - digits_from;
            if self.max_int_digits != 0 && n > self.max_int_digits {
                return Err(JsonError::IntDigits(start));
            }
            if n >= 19 && !self.checked.big_int {
                let magnitude = b[digits_from..digits_to].iter().try_fold(0u128, |m, &d| {
                    m.checked_mul(10)?.checked_add(u128::from(d - b'0'))
                });
                let fits = match magnitude {
                    Some(m) if negative => m <= 1u128 << 63,
                    Some(m) => m <= u128::from(u64::MAX),
                    None => false,
                };
                self.checked.big_int = !fits;
            }
        }
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(JsonError::Syntax(self.i))
        }
    }

    /// Opens a container at `self.i` (its bracket).
    fn open(&mut self, object: bool) -> Result<(), JsonError> {
        if self.frames.len() >= self.max_depth {
            return Err(JsonError::Depth(self.i));
        }
        self.frames.push(Frame {
            object,
            keys_from: self.keys.len(),
            set: None,
            duplicate: None,
        });
        self.i += 1;
        Ok(())
    }

    fn close(&mut self) -> Result<(), JsonError> {
        let frame = self.frames.pop().expect("a container is open");
        if let Some((start, end)) = frame.duplicate {
            return Err(JsonError::Duplicate(start, end));
        }
        self.keys.truncate(frame.keys_from);
        self.i += 1;
        Ok(())
    }

    fn key(&mut self) -> Result<(), JsonError> {
        let start = self.i;
        let key = self.string(true)?;
        let span = (start, self.i);
        let keys = &mut self.keys;
        let frame = self.frames.last_mut().expect("an object is open");
        let repeated = match frame.set.as_mut() {
            Some(set) => !set.insert(key),
            None if keys.len() - frame.keys_from < SCAN_KEYS => {
                let seen = keys[frame.keys_from..].contains(&key);
                keys.push(key);
                seen
            }
            None => {
                let mut set: HashSet<Cow<'a, [u8]>> = keys.drain(frame.keys_from..).collect();
                let repeated = !set.insert(key);
                frame.set = Some(set);
                repeated
            }
        };
        if repeated && frame.duplicate.is_none() {
            frame.duplicate = Some(span);
        }
        Ok(())
    }

    /// A value at `self.i`; containers are walked with the explicit frame stack, not recursion.
    fn document(&mut self) -> Result<(), JsonError> {
        self.ws();
        'value: loop {
            // One value starts here.
            match self.peek() {
                Some(b'{') => {
                    self.open(true)?;
                    self.ws();
                    if self.peek() != Some(b'}') {
                        self.member()?;
                        continue 'value;
                    }
                    self.close()?;
                }
                Some(b'[') => {
                    self.open(false)?;
                    self.ws();
                    if self.peek() != Some(b']') {
                        continue 'value;
                    }
                    self.close()?;
                }
                Some(b'"') => {
                    self.string(false)?;
                }
                Some(b'-') if self.b[self.i..].starts_with(b"-Infinity") => {
                    return Err(JsonError::Constant(self.i, self.i + 9));
                }
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(b'N') if self.b[self.i..].starts_with(b"NaN") => {
                    return Err(JsonError::Constant(self.i, self.i + 3));
                }
                Some(b'I') if self.b[self.i..].starts_with(b"Infinity") => {
                    return Err(JsonError::Constant(self.i, self.i + 8));
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                _ => return Err(JsonError::Syntax(self.i)),
            }
            // After a value: close containers or move to the next element.
            loop {
                self.ws();
                let Some(frame) = self.frames.last() else {
                    return if self.i == self.b.len() {
                        Ok(())
                    } else {
                        Err(JsonError::Syntax(self.i))
                    };
                };
                let (end, object) = if frame.object {
                    (b'}', true)
                } else {
                    (b']', false)
                };
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        self.ws();
                        if object {
                            self.member()?;
                        }
                        continue 'value;
                    }
                    Some(c) if c == end => self.close()?,
                    _ => return Err(JsonError::Syntax(self.i)),
                }
            }
        }
    }

    /// An object member's key and colon, leaving `self.i` at its value.
    fn member(&mut self) -> Result<(), JsonError> {
        if self.peek() != Some(b'"') {
            return Err(JsonError::Syntax(self.i));
        }
        self.key()?;
        self.ws();
        if self.peek() != Some(b':') {
            return Err(JsonError::Syntax(self.i));
        }
        self.i += 1;
        self.ws();
        Ok(())
    }
}

/// Checks `raw` as a whole JSON document (whitespace around it allowed, as in Python). Integers with
/// more than `max_int_digits` digits are refused (0: no limit); containers nest at most `max_depth`.
pub fn check(raw: &[u8], max_int_digits: usize, max_depth: usize) -> Result<Checked, JsonError> {
    // Python decodes the whole body before parsing, so bad UTF-8 anywhere wins over a syntax error.
    if let Err(e) = std::str::from_utf8(raw) {
        return Err(JsonError::Encoding(e.valid_up_to()));
    }
    let mut checker = Checker {
        b: raw,
        i: 0,
        max_int_digits,
        max_depth,
        frames: Vec::new(),
        keys: Vec::new(),
        lone_surrogate: None,
        checked: Checked::default(),
    };
    checker.document()?;
    match checker.lone_surrogate {
        Some(at) => Err(JsonError::Surrogate(at)),
        None => Ok(checker.checked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> Result<Checked, JsonError> {
        check(raw.as_bytes(), 4300, 1000)
    }

    #[test]
    fn accepts_what_python_accepts() {
        for ok in [
            "0",
            " \t\r\n[1, -0, 1.5e-3, 1E+5, \"a\\u00e9\\ud83d\\ude00\\/\"]\n",
            "{}",
            "[]",
            "{\"a\": {\"a\": []}, \"b\": null, \"c\": [true, false]}",
            "\"\u{7f}\"",
        ] {
            assert_eq!(run(ok), Ok(Checked::default()), "{ok}");
        }
    }

    #[test]
    fn refuses_syntax_errors() {
        for bad in [
            "",
            " ",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            ".5",
            "1e",
            "-",
            "[",
            "{\"a\" 1}",
            "{1:2}",
            "tru",
            "\"\\x\"",
            "\"\\u12\"",
            "\"a\u{1}\"",
            "\u{c}1",
            "\u{feff}{}",
            "[1 2]",
            "1 2",
        ] {
            assert!(matches!(run(bad), Err(JsonError::Syntax(_))), "{bad:?}");
        }
    }

    #[test]
    fn refuses_constants_big_integers_and_depth() {
        assert_eq!(run("[NaN]"), Err(JsonError::Constant(1, 4)));
        assert_eq!(run("-Infinity"), Err(JsonError::Constant(0, 9)));
        assert_eq!(check(b"12345", 4, 10), Err(JsonError::IntDigits(0)));
        assert_eq!(check(b"1234.5", 4, 10), Ok(Checked::default()));
        assert_eq!(check(b"[[[]]]", 0, 2), Err(JsonError::Depth(2)));
        assert_eq!(check(b"[[]]", 0, 2), Ok(Checked::default()));
    }

    #[test]
    fn flags_integers_beyond_64_bits() {
        for (raw, big) in [
            ("18446744073709551615", false),
            ("18446744073709551616", true),
            ("-9223372036854775808", false),
            ("-9223372036854775809", true),
            ("1234567890123456789012345678901234567890", true),
            ("1e30", false),
        ] {
            assert_eq!(run(raw), Ok(Checked { big_int: big }), "{raw}");
        }
    }

    #[test]
    fn duplicate_keys_compare_unescaped_and_wait_for_the_close() {
        assert_eq!(
            run("{\"a\":1,\"\\u0061\":2}"),
            Err(JsonError::Duplicate(7, 15))
        );
        assert_eq!(
            run("{\"\u{e9}\":1,\"\\u00E9\":2}"),
            Err(JsonError::Duplicate(8, 16))
        );
        assert_eq!(
            run("{\"\\ud83d\\ude00\":1,\"\u{1F600}\":2}"),
            Err(JsonError::Duplicate(18, 24))
        );
        assert_eq!(
            run("{\"a\":{\"a\":1},\"b\":{\"a\":2}}"),
            Ok(Checked::default())
        );
        // A syntax error before the object closes comes first; an inner object closes first.
        assert_eq!(run("{\"a\":1,\"a\":2, x}"), Err(JsonError::Syntax(14)));
        assert!(matches!(
            run("{\"a\":{\"b\":1,\"b\":2}, x"),
            Err(JsonError::Duplicate(..))
        ));
        let many: Vec<String> = (0..50).map(|i| format!("\"k{}\":0", i % 49)).collect();
        assert!(matches!(
            run(&format!("{{{}}}", many.join(","))),
            Err(JsonError::Duplicate(..))
        ));
        let distinct: Vec<String> = (0..50).map(|i| format!("\"k{i}\":0")).collect();
        assert!(run(&format!("{{{}}}", distinct.join(","))).is_ok());
    }

    #[test]
    fn surrogates_and_encoding() {
        assert_eq!(run("\"\\ud800\""), Err(JsonError::Surrogate(1)));
        assert_eq!(run("\"\\udc00x\""), Err(JsonError::Surrogate(1)));
        assert_eq!(run("[\"\\ude00\\ud83d\"]"), Err(JsonError::Surrogate(2)));
        assert_eq!(run("\"\\\\ud800\""), Ok(Checked::default()));
        // A later syntax error or duplicate wins: Python finds lone surrogates after parsing.
        assert!(matches!(run("[\"\\ud800\", x]"), Err(JsonError::Syntax(_))));
        assert_eq!(check(b"[1, \"\xff\"]", 0, 10), Err(JsonError::Encoding(5)));
        assert_eq!(check(b"x\xed\xa0\x80", 0, 10), Err(JsonError::Encoding(1)));
    }
}
