//! Normalisation for matching, with a map back to the original offsets (the port of `text.py`).
//!
//! Checks match on a normalised copy of the text so that trivial evasions fail: NFKC folds
//! compatibility forms (full-width letters, ligatures, superscripts), case folding (optional) folds
//! `ß` to `ss` and `Σ`/`ς` to `σ`, and format characters (Cf: zero-width space, soft hyphen, BOM,
//! bidi controls, ...) are removed. A span found in the normalised text is reported in original
//! offsets, covering every original character that produced it and the removed format characters
//! between them.
//!
//! All offsets are UTF-8 byte offsets into `&str`s. The map's semantics are `text.py`'s in code
//! points; they carry over to bytes because every offset crossing the API is a character boundary
//! and a linear segment is only ever built where normalised and original bytes advance together.

use std::borrow::Cow;

use unicode_normalization::{is_nfkc, UnicodeNormalization};

use crate::unicode::{
    casefold as fold_char, continues_cluster, is_format, is_nfkc_inert, push_casefold,
};

/// One piece of the map: normalised text from `norm` on came from original text from `orig` on.
/// A linear segment advances both texts together (identical byte lengths: ASCII, or text that
/// normalisation left alone); otherwise the segment is one original cluster `[orig, end)`, and
/// every normalised character it produced maps to the whole cluster.
#[derive(Debug, Clone, Copy)]
struct Segment {
    norm: usize,
    orig: usize,
    end: usize,
    linear: bool,
}

/// Maps normalised byte offsets to original byte offsets. See `text.py`'s `OffsetMap`.
///
/// Stored as segments rather than one offset per character, so a mostly-ASCII megabyte costs a
/// few segments; lookups are binary searches (segments increase in both `norm` and `orig`).
#[derive(Debug, Clone, Default)]
pub struct OffsetMap {
    segments: Vec<Segment>,
    len: usize,
    orig_len: usize,
}

impl OffsetMap {
    fn push(&mut self, norm: usize, orig: usize, end: usize, linear: bool) {
        if linear {
            if let Some(last) = self.segments.last_mut() {
                // Merge adjacent identity runs so lookups stay short.
                if last.linear && last.end == orig && last.orig + (norm - last.norm) == orig {
                    last.end = end;
                    return;
                }
            }
        }
        self.segments.push(Segment {
            norm,
            orig,
            end,
            linear,
        });
    }

    /// The segment holding normalised offset `index` (`index` < the normalised length, so there
    /// is one: the first segment starts at 0).
    fn segment_at(&self, index: usize) -> &Segment {
        let k = self.segments.partition_point(|s| s.norm <= index);
        &self.segments[k - 1]
    }

    /// The original span covering every original character that produced `[start, end)` of the
    /// normalised text (whole clusters, and the format characters between them).
    pub fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        let end = end.min(self.len);
        if start >= end {
            // Empty span: anchor it where the normalised offset begins.
            let pos = self.original_index(start);
            return (pos, pos);
        }
        // The segment of the last byte is the segment of the span's last character, whose end
        // (for a linear segment, mapped by offset) closes the span.
        let last = end - 1;
        let s = self.segment_at(last);
        let orig_end = if s.linear {
            s.orig + (last + 1 - s.norm)
        } else {
            s.end
        };
        (self.original_index(start), orig_end)
    }

    /// Where normalised offset `index` begins in the original (the original's length at the end).
    pub fn original_index(&self, index: usize) -> usize {
        if index >= self.len {
            return self.orig_len;
        }
        let s = self.segment_at(index);
        if s.linear {
            s.orig + (index - s.norm)
        } else {
            s.orig
        }
    }

    /// The smallest normalised offset whose source starts at or after original offset `orig`.
    pub fn normalized_index(&self, orig: usize) -> usize {
        if orig == 0 {
            return 0;
        }
        if orig >= self.orig_len {
            return self.len;
        }
        let k = self.segments.partition_point(|s| s.orig <= orig);
        if k == 0 {
            return 0;
        }
        let s = &self.segments[k - 1];
        let seg_norm_end = self.segments.get(k).map_or(self.len, |next| next.norm);
        if s.linear {
            (s.norm + (orig - s.orig)).min(seg_norm_end)
        } else if orig == s.orig {
            s.norm
        } else {
            seg_norm_end
        }
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

/// Appends the ASCII text from `from` on to `out` (lowercased when case folding) and returns
/// where it stops: the first non-ASCII byte, or the end. Works in small blocks so each byte is
/// checked, copied and lowercased while it is in cache, and long ASCII stretches cost one pass.
fn copy_ascii(out: &mut String, text: &str, from: usize, casefold: bool) -> usize {
    const BLOCK: usize = 256;
    let bytes = text.as_bytes();
    let mut at = from;
    while at < bytes.len() {
        let block = &bytes[at..(at + BLOCK).min(bytes.len())];
        let n = if block.is_ascii() {
            block.len()
        } else {
            block.iter().position(|b| !b.is_ascii()).unwrap_or(0)
        };
        // `at + n` is a character boundary: everything before it from `at` on is ASCII.
        let start = out.len();
        out.push_str(&text[at..at + n]);
        if casefold {
            out[start..].make_ascii_lowercase();
        }
        at += n;
        if n < block.len() {
            break;
        }
    }
    at
}

/// Offset of the first byte normalisation may change: non-ASCII, or uppercase when case folding.
fn first_to_change(bytes: &[u8], casefold: bool) -> Option<usize> {
    const BLOCK: usize = 256;
    let changes = |b: u8| !b.is_ascii() | (casefold & b.is_ascii_uppercase());
    for (k, block) in bytes.chunks(BLOCK).enumerate() {
        // A reduction without early exit vectorises; only the block with a hit is searched.
        if block.iter().fold(false, |hit, &b| hit | changes(b)) {
            return block
                .iter()
                .position(|&b| changes(b))
                .map(|p| k * BLOCK + p);
        }
    }
    None
}

/// Byte offset `chars` characters before the end of `text` (0 when it is shorter).
pub fn chars_from_end(text: &str, chars: usize) -> usize {
    if chars == 0 {
        return text.len();
    }
    text.char_indices()
        .rev()
        .nth(chars - 1)
        .map_or(0, |(i, _)| i)
}

/// A stream hold-back computed on the normalised text: `held(hay, lo)` gives the smallest undecided
/// offset of the normalised text `hay` at or after `lo` (`hay.len()` if none); the answer is that
/// offset in `text`, with the last character cluster always undecided and never below `pos` or the
/// cap of `cap_chars` characters from the end; `text.len()` when `pos` is past it.
pub fn hold_on_normalized(
    text: &str,
    pos: usize,
    cap_chars: usize,
    casefold: bool,
    held: impl FnOnce(&str, usize) -> usize,
) -> usize {
    if pos >= text.len() {
        return text.len();
    }
    let floor = pos.max(chars_from_end(text, cap_chars));
    let norm = normalize(text, casefold);
    let at = held(&norm.text, norm.normalized_index(floor));
    norm.original_index(at)
        .min(last_cluster_start(text))
        .max(floor)
}

/// NFKC, optional full case folding (Python's `str.casefold`), format characters (Cf) removed.
pub fn normalize(text: &str, casefold: bool) -> Normalized<'_> {
    let bytes = text.as_bytes();
    // Until the first byte that needs work, the text is its own normalisation: pure ASCII without
    // uppercase (or with case folding off) is borrowed after this one scan.
    let Some(first) = first_to_change(bytes, casefold) else {
        return Normalized {
            text: Cow::Borrowed(text),
            map: None,
        };
    };
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..first]);
    let mut map = OffsetMap {
        orig_len: text.len(),
        ..OffsetMap::default()
    };
    let mut scratch = Scratch::default();
    let mut any_run = false;
    // `out` holds the normalisation of `text[..done]`, then the lowercased ASCII `text[done..pos]`.
    let (mut done, mut pos) = (0, first);
    while pos < text.len() {
        let run_start = copy_ascii(&mut out, text, pos, casefold);
        if run_start == text.len() {
            break;
        }
        any_run = true;
        // A run is handled together with the character before it: a combining mark composes with
        // the character it follows, which may be ASCII ("e" + U+0301 is "é").
        let mut rs = run_start;
        if rs > done {
            rs -= 1;
            out.pop();
        }
        if rs > done {
            map.push(out.len() - (rs - done), done, rs, true);
        }
        let re = bytes[run_start..]
            .iter()
            .position(u8::is_ascii)
            .map_or(text.len(), |p| run_start + p);
        if !normalize_run_fast(text, rs, re, casefold, &mut out, &mut map) {
            normalize_run(text, rs, re, casefold, &mut out, &mut map, &mut scratch);
        }
        (done, pos) = (re, re);
    }
    if !any_run {
        return Normalized {
            text: Cow::Owned(out),
            map: None,
        };
    }
    if done < text.len() {
        map.push(out.len() - (text.len() - done), done, text.len(), true);
    }
    map.len = out.len();
    Normalized {
        text: Cow::Owned(out),
        map: Some(map),
    }
}

/// The run-level fast path: a run that is already NFKC, has no format character and whose case
/// folding maps each character to one character is its own normalisation, character for
/// character. Appends it and its identity map, or returns false with `out` and `map` untouched.
fn normalize_run_fast(
    text: &str,
    start: usize,
    end: usize,
    casefold: bool,
    out: &mut String,
    map: &mut OffsetMap,
) -> bool {
    let run = &text[start..end];
    let at = out.len();
    // Whether some character folds to one of another UTF-8 length (`Ⱥ` to `ⱥ`): the run is then
    // still character for character, but not byte for byte.
    let mut resized = false;
    // Whether the run, and its folded form, are NFKC by their characters alone; only when not
    // does the normaliser have to check.
    let (mut inert, mut folded_inert) = (true, true);
    // `out` holds the folded run up to `copied`; unchanged characters are copied in slices.
    let mut copied = 0;
    for (i, c) in run.char_indices() {
        if is_format(c) {
            out.truncate(at);
            return false;
        }
        inert &= is_nfkc_inert(c);
        if !casefold {
            continue;
        }
        let Some(folded) = fold_char(c) else {
            continue;
        };
        let mut chars = folded.chars();
        let (Some(f), None) = (chars.next(), chars.next()) else {
            out.truncate(at);
            return false;
        };
        resized |= f.len_utf8() != c.len_utf8();
        folded_inert &= is_nfkc_inert(f);
        out.push_str(&run[copied..i]);
        out.push(f);
        copied = i + c.len_utf8();
    }
    out.push_str(&run[copied..]);
    // When folding changed nothing, the folded run is the run and needs no check of its own.
    let changed = copied > 0;
    if !(inert || is_nfkc(run)) || (changed && !((inert && folded_inert) || is_nfkc(&out[at..]))) {
        out.truncate(at);
        return false;
    }
    if !resized {
        map.push(at, start, end, true);
        return true;
    }
    // One segment per character; those that kept their length merge back into linear runs, and
    // a one-character cluster segment maps exactly as a one-character linear one would.
    let mut norm = at;
    for (i, c) in run.char_indices() {
        let n = fold_char(c).map_or(c.len_utf8(), str::len);
        map.push(norm, start + i, start + i + c.len_utf8(), n == c.len_utf8());
        norm += n;
    }
    true
}

/// Reused buffers for the cluster-by-cluster path, so it allocates per text, not per cluster.
#[derive(Default)]
struct Scratch {
    cluster: String,
    nfkc: String,
    folded: String,
}

/// Normalises the run `text[start..end]` cluster by cluster (a starter plus its combining marks),
/// so that each normalised character points back at the cluster that produced it.
fn normalize_run(
    text: &str,
    start: usize,
    end: usize,
    casefold: bool,
    out: &mut String,
    map: &mut OffsetMap,
    scratch: &mut Scratch,
) {
    let run = &text[start..end];
    let mut chars = run.char_indices().peekable();
    while let Some((i, _)) = chars.next() {
        while chars.next_if(|&(_, c)| continues_cluster(c)).is_some() {}
        let j = chars.peek().map_or(run.len(), |&(j, _)| j);
        let original = &run[i..j];
        let stripped = original.chars().any(is_format);
        let cluster = if stripped {
            scratch.cluster.clear();
            scratch
                .cluster
                .extend(original.chars().filter(|&c| !is_format(c)));
            if scratch.cluster.is_empty() {
                continue;
            }
            scratch.cluster.as_str()
        } else {
            original
        };
        // Text of NFKC-inert characters is its own NFKC: no call into the normaliser for it.
        scratch.nfkc.clear();
        if cluster.chars().all(is_nfkc_inert) {
            scratch.nfkc.push_str(cluster);
        } else {
            scratch.nfkc.extend(cluster.nfkc());
        }
        let mut result = &scratch.nfkc;
        if casefold {
            scratch.folded.clear();
            for c in scratch.nfkc.chars() {
                push_casefold(&mut scratch.folded, c);
            }
            result = &scratch.folded;
            if !(scratch.folded.chars().all(is_nfkc_inert) || is_nfkc(&scratch.folded)) {
                scratch.nfkc.clear();
                scratch.nfkc.extend(scratch.folded.nfkc());
                result = &scratch.nfkc;
            }
        }
        // Strip format characters NFKC itself may have produced.
        let at = out.len();
        out.extend(result.chars().filter(|&c| !is_format(c)));
        if out.len() > at {
            let linear = !stripped && out[at..] == *original;
            map.push(at, start + i, start + j, linear);
        }
    }
}

/// Byte offset where the last character cluster of `text` starts (0 for empty text). Streams hold
/// this back: the next chunk may begin with a combining mark that changes the cluster under NFKC.
/// Trailing format characters are included, as they are invisible and produce nothing.
pub fn last_cluster_start(text: &str) -> usize {
    let mut chars = text.char_indices().rev().skip_while(|&(_, c)| is_format(c));
    let Some(mut at) = chars.next() else {
        return 0;
    };
    // Step back over continuing characters, but never past the first character.
    while continues_cluster(at.1) {
        match chars.next() {
            Some(prev) => at = prev,
            None => break,
        }
    }
    at.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> (String, Option<OffsetMap>) {
        let n = normalize(text, true);
        (n.text.into_owned(), n.map)
    }

    #[test]
    fn ascii_is_borrowed_or_lowercased_without_a_map() {
        let n = normalize("hello world", true);
        assert!(matches!(n.text, Cow::Borrowed("hello world")) && n.map.is_none());
        let n = normalize("Hello", false);
        assert!(matches!(n.text, Cow::Borrowed("Hello")) && n.map.is_none());
        let n = normalize("Hello World", true);
        assert_eq!(n.text, "hello world");
        assert!(n.map.is_none());
        let long = "AbC".repeat(1000);
        assert_eq!(normalize(&long, true).text, "abc".repeat(1000));
    }

    #[test]
    fn full_width_letters_fold_and_map_back_one_to_one() {
        // Each full-width letter is 3 bytes and folds to 1.
        let (text, map) = norm("ＨＡＣＫ");
        let map = map.unwrap();
        assert_eq!(text, "hack");
        assert_eq!(map.original_span(0, 4), (0, 12));
        assert_eq!(map.original_span(1, 2), (3, 6));
        assert_eq!(map.normalized_index(6), 2);
    }

    #[test]
    fn zero_width_space_is_removed_and_covered_by_the_span() {
        let text = "a h\u{200B}ack b";
        let (n, map) = norm(text);
        let map = map.unwrap();
        assert_eq!(n, "a hack b");
        assert_eq!(map.original_span(2, 6), (2, 9));
        assert_eq!(map.normalized_index(3), 3);
        assert_eq!(map.normalized_index(6), 3);
        assert_eq!(map.original_index(3), 6);
        assert_eq!(map.original_index(8), text.len());
    }

    #[test]
    fn format_characters_are_removed() {
        assert_eq!(norm("ex\u{AD}pl\u{2060}o\u{FEFF}it").0, "exploit");
        let (n, map) = norm("\u{200B}\u{200E}");
        let map = map.unwrap();
        assert_eq!(n, "");
        assert_eq!(map.original_span(0, 0), (6, 6));
        assert_eq!(map.normalized_index(3), 0);
    }

    #[test]
    fn expansions_map_to_their_source_character() {
        let (n, map) = norm("Straße ﬁle");
        let map = map.unwrap();
        assert_eq!(n, "strasse file");
        assert_eq!(map.original_span(4, 6), (4, 6)); // "ss" came from "ß"
        assert_eq!(map.original_span(8, 9), (8, 11)); // "f" covers the whole ligature
        assert_eq!(map.normalized_index(6), 6);
        assert_eq!(map.normalized_index(8), 8);
        assert_eq!(map.normalized_index(11), 10);
    }

    #[test]
    fn a_combining_mark_composes_with_the_ascii_letter_before_it() {
        let (n, map) = norm("cafe\u{301}!");
        let map = map.unwrap();
        assert_eq!(n, "café!");
        assert_eq!(map.original_span(3, 5), (3, 6));
        assert_eq!(map.original_span(5, 6), (6, 7));
        assert_eq!(map.normalized_index(4), 5);
    }

    #[test]
    fn hangul_jamo_compose_into_a_syllable() {
        let (n, map) = norm("\u{1100}\u{1161}\u{11A8}x");
        let map = map.unwrap();
        assert_eq!(n, "\u{AC01}x");
        assert_eq!(map.original_span(0, 3), (0, 9));
        assert_eq!(map.original_index(3), 9);
    }

    #[test]
    fn one_to_one_folds_of_another_length_keep_the_character_map() {
        // "Ⱥ" (2 bytes) folds to "ⱥ" (3 bytes), in a run that takes the run-level fast path.
        let (n, map) = norm("aȺbéc");
        let map = map.unwrap();
        assert_eq!(n, "aⱥbéc");
        assert_eq!(map.original_span(1, 4), (1, 3));
        assert_eq!(map.original_span(4, 5), (3, 4));
        assert_eq!(map.original_span(5, 7), (4, 6));
        assert_eq!(map.normalized_index(3), 4);
        assert_eq!(map.normalized_index(4), 5);
        assert_eq!(map.normalized_index(6), 7);
    }

    #[test]
    fn case_folding_off_keeps_case() {
        let (n, map) = {
            let r = normalize("ＡßΣ", false);
            (r.text.into_owned(), r.map)
        };
        assert_eq!(n, "AßΣ");
        assert_eq!(map.unwrap().original_span(0, 1), (0, 3));
    }

    #[test]
    fn identity_runs_merge_into_one_segment() {
        let (n, map) = norm("Grüße aus Köln");
        let map = map.unwrap();
        assert_eq!(n, "grüsse aus köln");
        let (_, map2) = norm("Grüe aus Köln, ça va");
        assert_eq!(map2.unwrap().segments.len(), 1);
        assert!(map.segments.len() <= 3);
    }

    #[test]
    fn last_cluster_start_includes_combining_marks_and_format_characters() {
        assert_eq!(last_cluster_start("abc"), 2);
        assert_eq!(last_cluster_start("abe\u{301}\u{200B}"), 2);
        assert_eq!(last_cluster_start(""), 0);
        assert_eq!(last_cluster_start("\u{200B}"), 0);
        assert_eq!(last_cluster_start("\u{301}\u{301}"), 0);
        assert_eq!(last_cluster_start("é\u{1161}"), 0);
        assert_eq!(last_cluster_start("aé"), 1);
    }
}
