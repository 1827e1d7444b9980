//! Normalisation for matching, with a map back to the original offsets (the port of `text.py`).
//!
//! Checks match on a normalised copy of the text so that trivial evasions fail: NFKC folds
//! compatibility forms (full-width letters, ligatures, superscripts), case folding (optional) folds
//! `ß` to `ss` and `Σ`/`ς` to `σ`, and format characters (Cf: zero-width space, soft hyphen, BOM,
//! bidi controls, ...) are removed. A span found in the normalised text is reported in original
//! offsets, covering every original character that produced it and the removed format characters
//! between them.
//!
//! Folds (`Fold`, `normalize_with`) go further, one character of a cluster's normalisation at a time,
//! never changing ASCII (so pure ASCII keeps its fast path: borrowed, or lowercased, with no map):
//!
//! * `normalize_pii`: every decimal digit (Nd) to its ASCII digit, every dash (Pd, U+2212) to `-`,
//!   every space separator (Zs) to a space. Nothing else: PII values are ASCII digits and punctuation.
//! * `normalize_blocklist`: those, and what a reader cannot tell apart: nonspacing and enclosing marks
//!   dropped (after NFKC, so precomposed letters lose their accents too: `café` is `cafe`,
//!   `c̶a̶t̶` is `cat`), default-ignorable characters dropped (variation selectors, U+034F, Hangul
//!   fillers), and non-ASCII letters, digits and punctuation that look like ASCII ones mapped to those
//!   (a UTS #39 skeleton restricted so ordinary text does not fold: see `unicode::fold_blocklist` and
//!   the generator). With case folding, the fold applies before it too (Cyrillic `Т` is `T`, then `t`)
//!   and ASCII it gives is lowercased.
//!
//! A character a fold drops maps like a removed format character: it belongs to a span when it lies
//! between the span's characters, and a dropped mark belongs to its letter's cluster, so a span that
//! ends on the letter covers the mark too.
//!
//! All offsets are UTF-8 byte offsets into `&str`s. The map's semantics are `text.py`'s in code
//! points; they carry over to bytes because every offset crossing the API is a character boundary
//! and a linear segment is only ever built where normalised and original bytes advance together.

use std::borrow::Cow;

use unicode_normalization::{is_nfkc, UnicodeNormalization};

use crate::unicode::{
    casefold as fold_char, continues_cluster, fold_blocklist, fold_pii, is_format, is_nfkc_inert,
    push_casefold,
};

/// What normalisation folds beyond NFKC, case folding and the removal of format characters. Each
/// fold maps one character of the NFKC (and case folded) text to a fixed string and never changes
/// ASCII, so pure ASCII keeps its fast path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// Nothing more (`normalize`).
    None,
    /// Every decimal digit (Nd) to its ASCII digit, every dash (Pd, U+2212) to `-`, every space
    /// separator (Zs) to a space (`normalize_pii`; `unicode::fold_pii`).
    Pii,
    /// The `Pii` folds, nonspacing and enclosing marks and default-ignorable characters dropped,
    /// and the look-alike skeleton (`normalize_blocklist`; `unicode::fold_blocklist`).
    Blocklist,
}

impl Fold {
    fn apply(self, c: char) -> Option<&'static str> {
        match self {
            Fold::None => None,
            Fold::Pii => fold_pii(c),
            Fold::Blocklist => fold_blocklist(c),
        }
    }
}

/// How `normalize_with` normalises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Full case folding (Python's `str.casefold`).
    pub casefold: bool,
    pub fold: Fold,
}

impl Options {
    pub const fn new(casefold: bool, fold: Fold) -> Options {
        Options { casefold, fold }
    }
}

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
    let options = Options::new(casefold, Fold::None);
    hold_on_normalized_with(text, pos, cap_chars, options, held)
}

/// `hold_on_normalized` on the text normalised as `options` says. Sound for every fold: each folds
/// the characters of one cluster's normalisation on their own, so only the last cluster (held) can
/// still change, and a dropped character at the end leaves the normalised text as if it were not
/// there (what follows it is glued to what precedes it, as the hold on the normalised text assumes).
pub fn hold_on_normalized_with(
    text: &str,
    pos: usize,
    cap_chars: usize,
    options: Options,
    held: impl FnOnce(&str, usize) -> usize,
) -> usize {
    if pos >= text.len() {
        return text.len();
    }
    let floor = pos.max(chars_from_end(text, cap_chars));
    let norm = normalize_with(text, options);
    let at = held(&norm.text, norm.normalized_index(floor));
    norm.original_index(at)
        .min(last_cluster_start(text))
        .max(floor)
}

/// NFKC, optional full case folding (Python's `str.casefold`), format characters (Cf) removed.
pub fn normalize(text: &str, casefold: bool) -> Normalized<'_> {
    normalize_with(text, Options::new(casefold, Fold::None))
}

/// The PII scanner's normalisation: `normalize(text, false)` plus `Fold::Pii` (every decimal digit
/// to its ASCII digit, every dash to `-`, every space separator to a space). No case folding, no
/// look-alikes, no marks dropped: PII values are written in ASCII digits and punctuation, and this
/// keeps them cheap. Pure ASCII is borrowed, with no map.
pub fn normalize_pii(text: &str) -> Normalized<'_> {
    normalize_with(text, Options::new(false, Fold::Pii))
}

/// The blocklist's normalisation (literals and user regexes alike, and the patterns themselves):
/// `normalize(text, casefold)` plus `Fold::Blocklist`, so what a reader cannot tell apart matches
/// alike: every dash to `-`, every space separator to a space, decimal digits to ASCII digits,
/// nonspacing and enclosing marks dropped (accents, strikethrough, zalgo: `c̶a̶t̶` and `café` are
/// `cat` and `cafe`), default-ignorable characters dropped (variation selectors, the grapheme
/// joiner, Hangul fillers), and non-ASCII letters, digits and punctuation that look like ASCII ones
/// mapped to those (UTS #39 prototypes: Cyrillic `с`, Greek `ο`, dotless `ı`, small capitals).
/// ASCII never changes.
pub fn normalize_blocklist(text: &str, casefold: bool) -> Normalized<'_> {
    normalize_with(text, Options::new(casefold, Fold::Blocklist))
}

/// Normalisation as `options` says (see `Fold`), with the map back to the original.
pub fn normalize_with(text: &str, options: Options) -> Normalized<'_> {
    let casefold = options.casefold;
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
        let fast = if options.fold == Fold::None {
            normalize_run_fast(text, rs, re, casefold, &mut out, &mut map)
        } else {
            fold_run_fast(text, rs, re, options, &mut out, &mut map)
        };
        if !fast {
            normalize_run(text, rs, re, options, &mut out, &mut map, &mut scratch);
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

/// `normalize_run_fast` with a fold: a run of NFKC-inert characters, none a format character, each
/// case folding to one NFKC-inert character, is normalised character by character, and each
/// character folds on its own. Appends it and its map (one segment per character that changed;
/// none for a dropped one), or returns false with `out` and `map` untouched. A run with a character
/// that continues a cluster (a combining mark, a Hangul vowel or final jamo) takes the cluster path,
/// so a dropped mark belongs to its letter's cluster and a span ending on the letter covers it.
fn fold_run_fast(
    text: &str,
    start: usize,
    end: usize,
    options: Options,
    out: &mut String,
    map: &mut OffsetMap,
) -> bool {
    let run = &text[start..end];
    let at = out.len();
    // `out` and `map` hold the run up to `copied`; unchanged characters are copied in slices.
    let mut copied = 0;
    let segments = map.segments.len();
    let bail = |out: &mut String, map: &mut OffsetMap| {
        out.truncate(at);
        map.segments.truncate(segments);
        false
    };
    for (i, c) in run.char_indices() {
        if is_format(c) || !is_nfkc_inert(c) || continues_cluster(c) {
            return bail(out, map);
        }
        let pre = options.fold.apply(c);
        if pre.is_none() && !(options.casefold && fold_char(c).is_some()) {
            continue; // unchanged
        }
        if i > copied {
            map.push(out.len(), start + copied, start + i, true);
            out.push_str(&run[copied..i]);
        }
        let norm = out.len();
        let pushed = match pre {
            Some(pre) => pre.chars().all(|x| push_case_folded(out, x, options)),
            None => push_case_folded(out, c, options),
        };
        if !pushed {
            return bail(out, map);
        }
        let next = i + c.len_utf8();
        if out.len() > norm {
            // A one-character result of the same length maps as a linear segment would.
            let one = out[norm..].chars().nth(1).is_none();
            let linear = one && out.len() - norm == c.len_utf8();
            map.push(norm, start + i, start + next, linear);
        }
        copied = next;
    }
    if run.len() > copied {
        map.push(out.len(), start + copied, end, true);
        out.push_str(&run[copied..]);
    }
    true
}

/// Appends `x` (an NFKC-inert character the fold left or gave) case folded when `options` says so,
/// and folded again: an uppercase look-alike folds before case folding (`Т`, Cyrillic, to `T`), a
/// lowercase one after (`і` to `i`), and a letter that case folds to a look-alike (Cherokee small
/// letters fold to capitals) after too. False when the case folding is not one NFKC-inert character
/// (the cluster path then handles the run).
fn push_case_folded(out: &mut String, x: char, options: Options) -> bool {
    let mut y = x;
    if options.casefold {
        if x.is_ascii() {
            out.push(x.to_ascii_lowercase());
            return true;
        }
        if let Some(folded) = fold_char(x) {
            let mut chars = folded.chars();
            match (chars.next(), chars.next()) {
                (Some(f), None) if is_nfkc_inert(f) => y = f,
                _ => return false,
            }
        }
    }
    match options.fold.apply(y) {
        None => out.push(y),
        Some(folded) => {
            let from = out.len();
            out.push_str(folded);
            if options.casefold {
                out[from..].make_ascii_lowercase();
            }
        }
    }
    true
}

/// Reused buffers for the cluster-by-cluster path, so it allocates per text, not per cluster.
#[derive(Default)]
struct Scratch {
    cluster: String,
    nfkc: String,
    prefolded: String,
    folded: String,
}

/// Normalises the run `text[start..end]` cluster by cluster (a starter plus its combining marks),
/// so that each normalised character points back at the cluster that produced it. The fold applies
/// to each character of a cluster's normalisation; a cluster folded to nothing (a lone mark) has no
/// segment, like a format character.
fn normalize_run(
    text: &str,
    start: usize,
    end: usize,
    options: Options,
    out: &mut String,
    map: &mut OffsetMap,
    scratch: &mut Scratch,
) {
    let casefold = options.casefold;
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
        if options.fold != Fold::None && casefold {
            // Fold before case folding too, so an uppercase look-alike is its ASCII capital (see
            // `push_case_folded`); the fold's results are NFKC-inert, so the text stays NFKC.
            scratch.prefolded.clear();
            for c in scratch.nfkc.chars() {
                match options.fold.apply(c) {
                    Some(folded) => scratch.prefolded.push_str(folded),
                    None => scratch.prefolded.push(c),
                }
            }
            std::mem::swap(&mut scratch.nfkc, &mut scratch.prefolded);
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
        // Strip format characters NFKC itself may have produced; fold what is left.
        let at = out.len();
        for c in result.chars().filter(|&c| !is_format(c)) {
            match options.fold.apply(c) {
                None => out.push(c),
                Some(folded) => {
                    let from = out.len();
                    out.push_str(folded);
                    if casefold {
                        out[from..].make_ascii_lowercase();
                    }
                }
            }
        }
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

    fn folded(n: Normalized<'_>) -> (String, Option<OffsetMap>) {
        (n.text.into_owned(), n.map)
    }

    #[test]
    fn pii_ascii_is_borrowed_without_a_map() {
        let n = normalize_pii("call 555-867-5309, SSN 123-45-6789");
        assert!(matches!(n.text, Cow::Borrowed(_)) && n.map.is_none());
        let n = normalize_pii("Hello");
        assert!(matches!(n.text, Cow::Borrowed("Hello")) && n.map.is_none());
    }

    #[test]
    fn pii_folds_digits_of_every_script_and_maps_back() {
        // Arabic-Indic digits are 2 bytes, Devanagari 3, Thai 3
        let (n, map) = folded(normalize_pii("\u{664}\u{661}\u{665}"));
        let map = map.unwrap();
        assert_eq!(n, "415");
        assert_eq!(map.original_span(0, 3), (0, 6));
        assert_eq!(map.original_span(1, 2), (2, 4));
        assert_eq!(map.normalized_index(4), 2);
        let (n, map) = folded(normalize_pii("pin \u{96A}\u{967}\u{96B}!"));
        let map = map.unwrap();
        assert_eq!(n, "pin 415!");
        assert_eq!(map.original_span(4, 7), (4, 13));
        assert_eq!(map.original_span(7, 8), (13, 14));
        assert_eq!(folded(normalize_pii("\u{E51}\u{E52}")).0, "12");
        assert_eq!(folded(normalize_pii("\u{FF11}\u{FF12}")).0, "12"); // NFKC does full width
    }

    #[test]
    fn pii_folds_dashes_and_spaces() {
        let text = "SSN 123\u{2013}45\u{2013}6789 ok";
        let (n, map) = folded(normalize_pii(text));
        let map = map.unwrap();
        assert_eq!(n, "SSN 123-45-6789 ok");
        assert_eq!(map.original_span(4, 15), (4, 19));
        assert_eq!(map.original_span(7, 8), (7, 10));
        assert_eq!(
            &text[map.original_span(4, 15).0..map.original_span(4, 15).1],
            "123\u{2013}45\u{2013}6789"
        );
        let (n, _) = folded(normalize_pii(
            "1\u{2011}2\u{2212}3\u{2010}4\u{FE63}5\u{2014}6",
        ));
        assert_eq!(n, "1-2-3-4-5-6");
        let text = "555\u{A0}867\u{3000}5309\u{1680}x\u{202F}y";
        let (n, map) = folded(normalize_pii(text));
        assert_eq!(n, "555 867 5309 x y");
        let map = map.unwrap();
        assert_eq!(map.original_span(0, 12), (0, 15));
        assert_eq!(map.original_span(3, 4), (3, 5));
        // mixed: Arabic-Indic digits, an en dash and a no-break space
        let text = "\u{661}\u{662}\u{663}\u{2013}\u{664}\u{665}\u{A0}x";
        let (n, map) = folded(normalize_pii(text));
        let map = map.unwrap();
        assert_eq!(n, "123-45 x");
        assert_eq!(map.original_span(0, 6), (0, 13));
        assert_eq!(map.original_index(7), text.len() - 1);
    }

    #[test]
    fn pii_mode_does_nothing_else() {
        // no case folding, marks kept (and composed), no look-alikes, format characters removed
        assert_eq!(folded(normalize_pii("ＡB")).0, "AB");
        assert_eq!(folded(normalize_pii("e\u{301}\u{336}")).0, "\u{E9}\u{336}");
        assert_eq!(
            folded(normalize_pii("\u{441}\u{3BF}\u{131}")).0,
            "\u{441}\u{3BF}\u{131}"
        );
        assert_eq!(folded(normalize_pii("1\u{200B}2")).0, "12");
        // and `normalize` is unchanged
        assert_eq!(
            folded(normalize("\u{664}\u{2013}\u{A0}", false)).0,
            "\u{664}\u{2013} "
        );
    }

    fn blocked(text: &str) -> (String, Option<OffsetMap>) {
        folded(normalize_blocklist(text, true))
    }

    /// The original text behind the normalised span `[s, e)`.
    fn behind<'t>(text: &'t str, map: &OffsetMap, s: usize, e: usize) -> &'t str {
        let (os, oe) = map.original_span(s, e);
        &text[os..oe]
    }

    #[test]
    fn blocklist_folds_dashes_spaces_and_look_alikes() {
        let text = "our competitor\u{2011}name wins";
        let (n, map) = blocked(text);
        let map = map.unwrap();
        assert_eq!(n, "our competitor-name wins");
        assert_eq!(behind(text, &map, 4, 19), "competitor\u{2011}name");
        let text = "c\u{3BF}mpetitor"; // Greek omicron
        let (n, map) = blocked(text);
        assert_eq!(n, "competitor");
        assert_eq!(behind(text, &map.unwrap(), 0, 10), text);
        let text = "\u{421}\u{41E}MPETITOR"; // Cyrillic capitals, case folded
        assert_eq!(blocked(text).0, "competitor");
        let (n, _) = folded(normalize_blocklist(text, false));
        assert_eq!(n, "COMPETITOR");
        let text = "\u{1D04}\u{1D0F}\u{1D0D}\u{1D18}\u{1D07}\u{1D1B}\u{26A}\u{1D1B}\u{1D0F}\u{280}"; // small capitals
        assert_eq!(blocked(text).0, "competitor");
        assert_eq!(blocked("k\u{131}d").0, "kid");
        assert_eq!(blocked("a\u{3000}b\u{2014}c\u{2212}1\u{663}").0, "a b-c-13");
        // look-alikes of another class stay: the danda is no letter, the multiplication sign no x
        assert_eq!(
            blocked("\u{939}\u{964} 3\u{D7}4").0,
            "\u{939}\u{964} 3\u{D7}4"
        );
        // Cyrillic letters that look like small capitals stay
        assert_eq!(blocked("\u{432}\u{43E}\u{442}").0, "\u{432}o\u{442}");
    }

    #[test]
    fn blocklist_drops_marks_with_their_letter_and_ignorables() {
        let text = "c\u{336}o\u{336}m\u{336}p\u{336}";
        let (n, map) = blocked(text);
        let map = map.unwrap();
        assert_eq!(n, "comp");
        // the span covers the marks, the last one too: it belongs to the last letter's cluster
        assert_eq!(behind(text, &map, 0, 4), text);
        assert_eq!(behind(text, &map, 1, 2), "o\u{336}");
        let text = "Caf\u{E9} cafe\u{301} na\u{EF}ve \u{1EBD}";
        let (n, map) = blocked(text);
        assert_eq!(n, "cafe cafe naive e");
        assert_eq!(behind(text, &map.unwrap(), 5, 9), "cafe\u{301}");
        let (n, _) = folded(normalize_blocklist("Caf\u{C9}", false));
        assert_eq!(n, "CafE");
        let text = "h\u{FE0F}a\u{34F}c\u{3164}k\u{E0100}!";
        let (n, map) = blocked(text);
        let map = map.unwrap();
        assert_eq!(n, "hack!");
        // dropped characters between mapped ones belong to the span, trailing ones do not
        assert_eq!(behind(text, &map, 0, 4), &text[..text.len() - 5]);
        assert_eq!(behind(text, &map, 4, 5), "!");
        // zalgo
        let text = "h\u{30B}\u{353}\u{34E}a\u{35B}\u{489}ck";
        assert_eq!(blocked(text).0, "hack");
        // a lone mark or ignorable folds to nothing
        let (n, map) = blocked("\u{336}\u{FE0F}");
        assert_eq!(n, "");
        assert_eq!(map.unwrap().original_span(0, 0), (5, 5));
    }

    #[test]
    fn blocklist_keeps_ascii_and_other_scripts() {
        let n = normalize_blocklist("rn l I 1 0 O | _x_ hello", true);
        assert_eq!(n.text, "rn l i 1 0 o | _x_ hello");
        assert!(n.map.is_none());
        let n = normalize_blocklist("plain ascii", false);
        assert!(matches!(n.text, Cow::Borrowed("plain ascii")) && n.map.is_none());
        for text in [
            "\u{4E2D}\u{6587}",
            "\u{D55C}\u{AD6D}\u{C5B4}",
            "\u{5E9}\u{5DC}\u{5D5}\u{5DD}",
        ] {
            assert_eq!(blocked(text).0, text);
        }
    }

    #[test]
    fn blocklist_folding_is_idempotent_and_maps_every_character() {
        let samples = [
            "Ｃοｍｐｅｔｉｔｏｒ\u{2011}ｎａｍｅ",
            "c\u{336}o\u{336}m\u{336}p\u{336} \u{E9}t\u{E9} \u{131}\u{130}",
            "\u{201C}quoted\u{201D} don\u{2019}t \u{FB01}le Stra\u{DF}e",
            "\u{1100}\u{1161}\u{11A8}\u{3164}x \u{663}\u{664} \u{A0}\u{2060}",
            "\u{1D400}\u{1D401} \u{24B6} \u{2460} \u{2F00}",
        ];
        for text in samples {
            for casefold in [true, false] {
                let once = normalize_blocklist(text, casefold);
                let twice = normalize_blocklist(&once.text, casefold);
                assert_eq!(twice.text, once.text, "{text:?}");
                let Some(map) = once.map else { continue };
                let mut previous = 0;
                for (i, c) in once.text.char_indices() {
                    let (s, e) = map.original_span(i, i + c.len_utf8());
                    assert!(previous <= s && s < e && e <= text.len(), "{text:?} {i}");
                    assert!(text.is_char_boundary(s) && text.is_char_boundary(e));
                    previous = s;
                }
            }
        }
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
