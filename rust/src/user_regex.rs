//! Users' blocklist regexes on a linear-time engine (the regex half of `checks/blocklist.py`).
//!
//! Python runs user regexes with the `regex` package (backtracking, with a time limit). A pattern
//! runs here instead only when it lies in a small subset where both engines give the same matches
//! (argued below, checked by the differential tests in `tests/test_engine_user_regex.py`); every
//! other pattern stays on the `regex` package, and `classify` says why.
//!
//! The subset, checked on `regex-syntax`'s AST (a real parse, not string heuristics), is: literal
//! characters (verbatim; an escaped ASCII punctuation character that is a metacharacter in both
//! syntaxes; `\n \t \r`; `\xhh \uhhhh \Uhhhhhhhh`), `.`, bracketed classes of such characters and
//! ranges (no nesting, no set operations, no POSIX, Perl or Unicode classes; `-` only first or
//! last), the repetitions `? * + {n} {n,} {n,m}` greedy or lazy (written exactly so, of something
//! that cannot match empty, not stacked), alternation, capturing and non-capturing groups without
//! flags, and `^` / `\A` as the very first item. Anything else falls back: `$`, `\b`, `\w`, `\d`,
//! `\s` and friends (their Unicode tables differ between the engines), inline flags, look-around,
//! back-references, and every construct the two parsers might read differently.
//!
//! Texts: matching is on the normalised text with the blocklist's folding (`normalize_blocklist`:
//! dashes, spaces and look-alikes folded, marks dropped), as in Python, so a regex written in plain
//! ASCII matches text written with look-alikes. A lone surrogate in a
//! Python str reaches the engine as U+FFFD (one code point for one), so a pattern whose characters or
//! ranges touch U+FFFD or the surrogates falls back. Case-insensitive patterns (`IGNORECASE |
//! FULLCASE` there) must be ASCII only, and get Python's case rule spelled out in explicit classes
//! (`CASE_EXTRA`; the tests check it on every code point) rather than Rust's `(?i)`, which differs on
//! the Turkish i's. The text is case folded already, so the full-case multi-character folds (`ss`
//! for `ß`) never meet a character that has one (checked on every code point too).
//!
//! The Rust engine never sees the user's spelling: `translate` writes the parsed pattern out again
//! with every character as `\x{..}` inside a class and every group non-capturing, so the two parsers
//! cannot read one text two ways.
//!
//! Matches: leftmost-first and non-overlapping (Python's backtracking priority is leftmost-first);
//! no pattern of the subset can match empty, so the two engines' empty-match rules never matter.
//!
//! Hold-back: the smallest start from which some match could still reach the end of the text
//! (complete or not), as Python's `search(partial=True)` over `(?:p)\Z(?s:.)`, for the patterns
//! without lazy repetitions (`exact_hold`: with one, the `regex` package's answer is sometimes
//! larger, and the hold-back of such a pattern stays in Python). Computed by one pass over the tail
//! with every candidate start simulated at once on the Thompson NFA (each NFA state keeps its
//! smallest start), so it costs O(tail bytes x NFA states).

use regex_automata::nfa::thompson::{self, State, WhichCaptures, NFA};
use regex_automata::util::primitives::StateID;
use regex_automata::util::syntax;
use regex_automata::{meta, Input};
use regex_syntax::ast::{self, Ast, ClassSet, ClassSetItem, GroupKind, LiteralKind};

use crate::normalize::{hold_on_normalized_with, normalize_with, Fold, Options};

/// Why a pattern falls back to the `regex` package.
pub const LOOK_AROUND: &str = "look-around";
pub const BACK_REFERENCE: &str = "back-reference";
pub const UNSUPPORTED: &str = "unsupported syntax";
pub const TOO_LARGE: &str = "too large for the linear engine";

/// Escaped characters that are literal punctuation in both syntaxes.
const ESCAPABLE: &str = r"\.+*?()|[]{}^$#&-~";

struct Checker<'p> {
    pattern: &'p str,
    casefold: bool,
}

fn unsupported(what: &str) -> String {
    format!("{UNSUPPORTED} ({what})")
}

impl Checker<'_> {
    fn text(&self, span: &ast::Span) -> &str {
        &self.pattern[span.start.offset..span.end.offset]
    }

    fn char_ok(&self, c: char) -> Result<(), String> {
        if self.casefold && !c.is_ascii() {
            return Err(unsupported(
                "non-ASCII character in a case-insensitive pattern",
            ));
        }
        if c == '\u{FFFD}' {
            return Err(unsupported("U+FFFD"));
        }
        Ok(())
    }

    fn literal(&self, lit: &ast::Literal) -> Result<(), String> {
        match lit.kind {
            LiteralKind::Verbatim => {}
            LiteralKind::Meta if ESCAPABLE.contains(lit.c) => {}
            // `\n \t \r`, `\xhh`, `\uhhhh` and `\Uhhhhhhhh` read the same in both (braces do not)
            LiteralKind::Special(
                ast::SpecialLiteralKind::LineFeed
                | ast::SpecialLiteralKind::Tab
                | ast::SpecialLiteralKind::CarriageReturn,
            )
            | LiteralKind::HexFixed(_) => {}
            _ => return Err(unsupported("escape")),
        }
        self.char_ok(lit.c)
    }

    fn class(&self, class: &ast::ClassBracketed) -> Result<(), String> {
        let text = self.text(&class.span);
        if text.starts_with("[:")
            || text.starts_with("[^:")
            || text.starts_with("[=")
            || text.starts_with("[.")
        {
            return Err(unsupported("POSIX-like class"));
        }
        let items: Vec<&ClassSetItem> = match &class.kind {
            ClassSet::BinaryOp(_) => return Err(unsupported("class set operation")),
            ClassSet::Item(ClassSetItem::Union(u)) => u.items.iter().collect(),
            ClassSet::Item(item) => vec![item],
        };
        if items.is_empty() {
            return Err(unsupported("empty class"));
        }
        let last = items.len() - 1;
        for (k, item) in items.iter().enumerate() {
            match item {
                ClassSetItem::Literal(lit) => {
                    self.literal(lit)?;
                    if lit.c == '-' && lit.kind == LiteralKind::Verbatim && k != 0 && k != last {
                        return Err(unsupported("'-' inside a class"));
                    }
                    if lit.c == '[' && lit.kind == LiteralKind::Verbatim {
                        return Err(unsupported("'[' inside a class"));
                    }
                }
                ClassSetItem::Range(r) => {
                    self.literal(&r.start)?;
                    self.literal(&r.end)?;
                    let (lo, hi) = (u32::from(r.start.c), u32::from(r.end.c));
                    if lo <= 0xFFFD && hi >= 0xD800 {
                        return Err(unsupported("range over surrogates or U+FFFD"));
                    }
                    if ['-', '['].contains(&r.start.c) || ['-', '['].contains(&r.end.c) {
                        return Err(unsupported("'-' or '[' as a range end"));
                    }
                }
                _ => return Err(unsupported("class item")),
            }
        }
        Ok(())
    }

    /// `first`: the node is the pattern's first item, where `^` and `\A` may stand.
    fn check(&self, node: &Ast, first: bool) -> Result<(), String> {
        match node {
            Ast::Empty(_) | Ast::Dot(_) => Ok(()),
            Ast::Literal(lit) => self.literal(lit),
            Ast::Assertion(a) => match a.kind {
                ast::AssertionKind::StartLine | ast::AssertionKind::StartText if first => Ok(()),
                _ => Err(unsupported("anchor or boundary")),
            },
            Ast::ClassBracketed(c) => self.class(c),
            Ast::ClassPerl(_) | Ast::ClassUnicode(_) => Err(unsupported("class escape")),
            Ast::Flags(_) => Err(unsupported("inline flags")),
            Ast::Repetition(rep) => {
                let op = self.text(&rep.op.span);
                let op = op.strip_suffix('?').filter(|_| !rep.greedy).unwrap_or(op);
                let exact = match &rep.op.kind {
                    ast::RepetitionKind::ZeroOrOne => op == "?",
                    ast::RepetitionKind::ZeroOrMore => op == "*",
                    ast::RepetitionKind::OneOrMore => op == "+",
                    ast::RepetitionKind::Range(range) => {
                        let inner = op.strip_prefix('{').and_then(|o| o.strip_suffix('}'));
                        let digits =
                            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                        match (range, inner.map(|i| i.split_once(','))) {
                            (ast::RepetitionRange::Exactly(_), Some(None)) => {
                                inner.is_some_and(digits)
                            }
                            (ast::RepetitionRange::AtLeast(_), Some(Some((n, "")))) => digits(n),
                            (ast::RepetitionRange::Bounded(..), Some(Some((n, m)))) => {
                                digits(n) && digits(m)
                            }
                            _ => false,
                        }
                    }
                };
                if !exact {
                    return Err(unsupported("repetition syntax"));
                }
                match &*rep.ast {
                    Ast::Repetition(_) => return Err(unsupported("stacked repetition")),
                    Ast::Assertion(_) | Ast::Empty(_) | Ast::Flags(_) => {
                        return Err(unsupported("repetition of nothing"))
                    }
                    inner if min_len(inner) == 0 => {
                        return Err(unsupported("repetition of something that can match empty"))
                    }
                    _ => {}
                }
                self.check(&rep.ast, false)
            }
            Ast::Group(g) => {
                match &g.kind {
                    GroupKind::CaptureIndex(_) | GroupKind::CaptureName { .. } => {}
                    GroupKind::NonCapturing(flags) if flags.items.is_empty() => {}
                    GroupKind::NonCapturing(_) => return Err(unsupported("inline flags")),
                }
                self.check(&g.ast, false)
            }
            Ast::Alternation(alt) => alt.asts.iter().try_for_each(|a| self.check(a, false)),
            Ast::Concat(cat) => cat
                .asts
                .iter()
                .enumerate()
                .try_for_each(|(k, a)| self.check(a, first && k == 0)),
        }
    }
}

/// The fewest characters a match of `node` spans (anchors count as none).
fn min_len(node: &Ast) -> u64 {
    match node {
        Ast::Empty(_) | Ast::Flags(_) | Ast::Assertion(_) => 0,
        Ast::Literal(_)
        | Ast::Dot(_)
        | Ast::ClassBracketed(_)
        | Ast::ClassPerl(_)
        | Ast::ClassUnicode(_) => 1,
        Ast::Repetition(rep) => {
            let times = match &rep.op.kind {
                ast::RepetitionKind::ZeroOrOne | ast::RepetitionKind::ZeroOrMore => 0,
                ast::RepetitionKind::OneOrMore => 1,
                ast::RepetitionKind::Range(
                    ast::RepetitionRange::Exactly(n)
                    | ast::RepetitionRange::AtLeast(n)
                    | ast::RepetitionRange::Bounded(n, _),
                ) => u64::from(*n),
            };
            times.saturating_mul(min_len(&rep.ast))
        }
        Ast::Group(g) => min_len(&g.ast),
        Ast::Alternation(alt) => alt.asts.iter().map(min_len).min().unwrap_or(0),
        Ast::Concat(cat) => cat.asts.iter().map(min_len).fold(0, u64::saturating_add),
    }
}

/// Python's `IGNORECASE | FULLCASE` on single characters: a text character matches an item set `S`
/// when one of its case variants is in `S` (the `regex` package's rule, checked on every code point by
/// the tests). For ASCII `S` that is `S`, the other case of its letters, and these: a dotless i
/// matches `I` (not `i`), a dotted capital I matches `i` (not `I`), the Kelvin sign `k` and `K`, the
/// long s `s` and `S`. (Rust's `(?i)` agrees except on the two Turkish i's, hence the explicit sets.)
const CASE_EXTRA: [(char, char); 6] = [
    ('I', '\u{131}'),
    ('i', '\u{130}'),
    ('k', '\u{212A}'),
    ('K', '\u{212A}'),
    ('s', '\u{17F}'),
    ('S', '\u{17F}'),
];

impl Checker<'_> {
    /// The pattern for the Rust engine, written so that nothing is left to either parser: every
    /// character an `\x{..}` in a class, every group non-capturing, case folding spelled out.
    fn emit(&self, node: &Ast, out: &mut String) {
        match node {
            Ast::Empty(_) | Ast::Flags(_) => {}
            Ast::Dot(_) => out.push('.'),
            Ast::Literal(lit) => self.emit_set(&[(lit.c, lit.c)], false, out),
            Ast::Assertion(_) => out.push_str(r"\A"), // only a leading `^` or `\A` gets here
            Ast::ClassBracketed(class) => {
                let items: Vec<&ClassSetItem> = match &class.kind {
                    ClassSet::Item(ClassSetItem::Union(u)) => u.items.iter().collect(),
                    ClassSet::Item(item) => vec![item],
                    ClassSet::BinaryOp(_) => Vec::new(), // refused by `check`
                };
                let ranges: Vec<(char, char)> = items
                    .iter()
                    .filter_map(|item| match item {
                        ClassSetItem::Literal(lit) => Some((lit.c, lit.c)),
                        ClassSetItem::Range(r) => Some((r.start.c, r.end.c)),
                        _ => None, // refused by `check`
                    })
                    .collect();
                self.emit_set(&ranges, class.negated, out);
            }
            Ast::ClassPerl(_) | Ast::ClassUnicode(_) => {} // refused by `check`
            Ast::Repetition(rep) => {
                out.push_str("(?:");
                self.emit(&rep.ast, out);
                out.push(')');
                out.push_str(self.text(&rep.op.span)); // `check` made sure of its spelling
            }
            Ast::Group(g) => {
                out.push_str("(?:");
                self.emit(&g.ast, out);
                out.push(')');
            }
            Ast::Alternation(alt) => {
                out.push_str("(?:");
                for (k, a) in alt.asts.iter().enumerate() {
                    if k > 0 {
                        out.push('|');
                    }
                    self.emit(a, out);
                }
                out.push(')');
            }
            Ast::Concat(cat) => cat.asts.iter().for_each(|a| self.emit(a, out)),
        }
    }

    fn emit_set(&self, ranges: &[(char, char)], negated: bool, out: &mut String) {
        let mut all: Vec<(char, char)> = ranges.to_vec();
        if self.casefold {
            // (ASCII only, by `check`)
            for &(lo, hi) in ranges {
                for c in lo..=hi {
                    if c.is_ascii_alphabetic() {
                        let other = if c.is_ascii_lowercase() {
                            c.to_ascii_uppercase()
                        } else {
                            c.to_ascii_lowercase()
                        };
                        all.push((other, other));
                    }
                }
            }
            for (ascii, extra) in CASE_EXTRA {
                if ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&ascii)) {
                    all.push((extra, extra));
                }
            }
        }
        out.push('[');
        if negated {
            out.push('^');
        }
        for (lo, hi) in all {
            out.push_str(&format!(
                "\\x{{{:X}}}-\\x{{{:X}}}",
                u32::from(lo),
                u32::from(hi)
            ));
        }
        out.push(']');
    }
}

/// The pattern for the Rust engine (see `Checker::emit`) when `pattern` runs there with exactly the
/// `regex` package's matches (`casefold`: the guardrail is case-insensitive); otherwise why not.
pub fn translate(pattern: &str, casefold: bool) -> Result<String, String> {
    let parsed = ast::parse::Parser::new()
        .parse(pattern)
        .map_err(|e| match e.kind() {
            ast::ErrorKind::UnsupportedLookAround => LOOK_AROUND.to_owned(),
            ast::ErrorKind::UnsupportedBackreference => BACK_REFERENCE.to_owned(),
            // (only the label: the pattern falls back either way) Python's named back-references
            _ if pattern.contains("(?P=") || pattern.contains("\\g<") => BACK_REFERENCE.to_owned(),
            _ => UNSUPPORTED.to_owned(),
        })?;
    let checker = Checker { pattern, casefold };
    checker.check(&parsed, true)?;
    // (so neither engine's rules for empty matches ever matter)
    if min_len(&parsed) == 0 {
        return Err(unsupported("can match empty"));
    }
    let mut out = String::new();
    checker.emit(&parsed, &mut out);
    Ok(out)
}

/// None when `pattern` runs natively (see `translate`); otherwise why not.
pub fn classify(pattern: &str, casefold: bool) -> Option<String> {
    match translate(pattern, casefold) {
        Ok(native) => compile(&native).err().map(|_| TOO_LARGE.to_owned()),
        Err(why) => Some(why),
    }
}

struct Compiled {
    regex: meta::Regex,
    nfa: NFA,
    /// `holdback` covers this regex (see `exact_hold`)
    hold: bool,
}

/// Compiles a pattern `translate` wrote (no flags: case folding is spelled out).
fn compile(native: &str) -> Result<Compiled, String> {
    let regex = meta::Builder::new()
        .syntax(syntax::Config::new())
        .build(native)
        .map_err(|e| e.to_string())?;
    let nfa = thompson::Compiler::new()
        .syntax(syntax::Config::new())
        .configure(thompson::Config::new().which_captures(WhichCaptures::None))
        .build(native)
        .map_err(|e| e.to_string())?;
    Ok(Compiled {
        regex,
        nfa,
        hold: true,
    })
}

/// Whether `holdback` gives exactly Python's answer for a pattern `translate` accepts: not when it
/// has a lazy repetition. The `regex` package's `partial=True` then reports some starts from which
/// no match can complete (`b+?a` on `ab0`: a partial match at 1); differential fuzzing found no
/// other difference. Such a pattern is still matched here, but its hold-back stays in Python.
pub fn exact_hold(pattern: &str) -> bool {
    fn greedy(node: &Ast) -> bool {
        match node {
            Ast::Repetition(rep) => rep.greedy && greedy(&rep.ast),
            Ast::Group(g) => greedy(&g.ast),
            Ast::Alternation(alt) => alt.asts.iter().all(greedy),
            Ast::Concat(cat) => cat.asts.iter().all(greedy),
            _ => true,
        }
    }
    ast::parse::Parser::new()
        .parse(pattern)
        .is_ok_and(|parsed| greedy(&parsed))
}

/// The native user regexes of one blocklist; `find` gives (start, end, regex index).
pub struct UserRegexes {
    compiled: Vec<Compiled>,
    casefold: bool,
    cap: usize,
}

impl UserRegexes {
    /// Every pattern must be one `classify` accepts (for the same `casefold`).
    pub fn new(
        patterns: &[String],
        casefold: bool,
        max_holdback_chars: usize,
    ) -> Result<UserRegexes, String> {
        let compiled = patterns
            .iter()
            .map(|p| {
                let mut c = translate(p, casefold)
                    .and_then(|native| compile(&native))
                    .map_err(|why| format!("pattern {p:?} is not native: {why}"))?;
                c.hold = exact_hold(p);
                Ok::<Compiled, String>(c)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(UserRegexes {
            compiled,
            casefold,
            cap: max_holdback_chars,
        })
    }

    /// Every match of each regex in the normalised `norm` from `npos` on, regex by regex, in
    /// normalised offsets.
    pub fn find_normalized(&self, norm: &str, npos: usize) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        if npos >= norm.len() {
            return out;
        }
        for (k, c) in self.compiled.iter().enumerate() {
            let input = Input::new(norm).range(npos..);
            for m in c.regex.find_iter(input) {
                if m.start() < m.end() {
                    out.push((m.start(), m.end(), k));
                }
            }
        }
        out
    }

    /// Every match starting at or after `pos` (original offsets), regex by regex in order, each
    /// regex's matches in text order, as `checks/blocklist.py` lists them before sorting.
    pub fn find(&self, text: &str, pos: usize) -> Vec<(usize, usize, usize)> {
        let norm = normalize_with(text, self.options());
        let npos = norm.normalized_index(pos);
        self.find_normalized(&norm.text, npos)
            .into_iter()
            .map(|(s, e, k)| {
                let (os, oe) = norm.original_span(s, e);
                (os, oe, k)
            })
            .collect()
    }

    /// How texts are normalised: the blocklist's folding, as for the literals.
    fn options(&self) -> Options {
        Options::new(self.casefold, Fold::Blocklist)
    }

    /// For each regex, whether `holdback` covers it (see `exact_hold`).
    pub fn native_hold(&self) -> Vec<bool> {
        self.compiled.iter().map(|c| c.hold).collect()
    }

    /// The smallest offset `i >= pos` from which some regex (of those `native_hold` says) could still
    /// match text reaching the end,
    /// the last character cluster always counting as undecided, never below the cap; `text.len()` if
    /// none (Python's `_regex_hold`).
    pub fn holdback(&self, text: &str, pos: usize) -> usize {
        hold_on_normalized_with(text, pos, self.cap, self.options(), |hay, lo| {
            let mut held = hay.len();
            for c in self.compiled.iter().filter(|c| c.hold) {
                if lo >= held {
                    break;
                }
                if let Some(at) = partial_start(&c.nfa, hay, lo, held) {
                    held = at;
                }
            }
            held
        })
    }
}

/// The smallest character boundary `i` in `[lo, below)` such that `hay[i..]` is a prefix of some
/// match of `nfa` anchored at `i` (or a whole one). Every start is simulated at once: threads are
/// NFA states kept in order of their start, and a state reached twice keeps the earlier start.
pub fn partial_start(nfa: &NFA, hay: &str, lo: usize, below: usize) -> Option<usize> {
    let bytes = hay.as_bytes();
    let mut sim = Sim::new(nfa);
    let mut threads: Vec<(StateID, usize)> = Vec::new();
    let mut next: Vec<(StateID, usize)> = Vec::new();
    for at in lo..bytes.len() {
        if at < below && hay.is_char_boundary(at) {
            sim.clear();
            for &(sid, _) in &threads {
                sim.mark(sid);
            }
            sim.closure(nfa.start_anchored(), at, bytes, at, &mut threads);
        }
        if threads.is_empty() {
            continue;
        }
        sim.clear();
        next.clear();
        let byte = bytes[at];
        for &(sid, start) in &threads {
            let to = match nfa.state(sid) {
                State::ByteRange { trans } => trans.matches_byte(byte).then_some(trans.next),
                State::Sparse(t) => t.matches_byte(byte),
                State::Dense(t) => t.matches_byte(byte),
                _ => None,
            };
            if let Some(to) = to {
                sim.closure(to, start, bytes, at + 1, &mut next);
            }
        }
        std::mem::swap(&mut threads, &mut next);
    }
    threads.first().map(|&(_, start)| start)
}

/// The epsilon closure with a visited set (one generation per step).
struct Sim<'n> {
    nfa: &'n NFA,
    seen: Vec<u32>,
    generation: u32,
    stack: Vec<StateID>,
}

impl<'n> Sim<'n> {
    fn new(nfa: &'n NFA) -> Sim<'n> {
        Sim {
            nfa,
            seen: vec![0; nfa.states().len()],
            generation: 1,
            stack: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.generation += 1;
    }

    /// Marks `sid` visited; false when it already was.
    fn mark(&mut self, sid: StateID) -> bool {
        let slot = &mut self.seen[sid.as_usize()];
        if *slot == self.generation {
            return false;
        }
        *slot = self.generation;
        true
    }

    /// Appends to `out`, as threads from `start`, every byte-consuming or match state reachable from
    /// `sid` through epsilon transitions at offset `at`, skipping states already visited.
    fn closure(
        &mut self,
        sid: StateID,
        start: usize,
        hay: &[u8],
        at: usize,
        out: &mut Vec<(StateID, usize)>,
    ) {
        self.stack.push(sid);
        while let Some(sid) = self.stack.pop() {
            if !self.mark(sid) {
                continue;
            }
            match self.nfa.state(sid) {
                State::ByteRange { .. }
                | State::Sparse(_)
                | State::Dense(_)
                | State::Match { .. } => {
                    out.push((sid, start));
                }
                State::Fail => {}
                State::Look { look, next } => {
                    // (the subset's only assertion is `Look::Start`)
                    if self.nfa.look_matcher().matches(*look, hay, at) {
                        self.stack.push(*next);
                    }
                }
                State::Union { alternates } => self.stack.extend(alternates.iter().rev()),
                State::BinaryUnion { alt1, alt2 } => {
                    self.stack.push(*alt2);
                    self.stack.push(*alt1);
                }
                State::Capture { next, .. } => self.stack.push(*next),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regexes(patterns: &[&str], casefold: bool) -> UserRegexes {
        let owned: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        UserRegexes::new(&owned, casefold, 1024).unwrap()
    }

    #[test]
    fn the_subset_is_native() {
        for p in [
            r"api[_-]?key",
            r"\d",
            r"(?:foo|bar)+baz",
            r"^secret",
            r"\Asecret",
            r"[a-z0-9.]{3,8}@corp\.example",
            r"x.*?y",
            r"[]a]",
            r"[^-a]",
            r"a{2}b{1,}c{0,3}",
            r"(?P<n>ab)|(?<m>cd)",
            r"\x41\u0042\U00000043\n\t\r",
        ] {
            let why = classify(p, true);
            if p == r"\d" {
                assert!(why.is_some());
            } else {
                assert_eq!(why, None, "{p}");
            }
        }
    }

    #[test]
    fn the_rest_falls_back_with_a_reason() {
        let cases = [
            (r"foo(?=bar)", LOOK_AROUND),
            (r"(?<!x)foo", LOOK_AROUND),
            (r"(a)\1", BACK_REFERENCE),
            (r"(?P<x>a)(?P=x)", BACK_REFERENCE),
            (r"(?P<x>a)\g<x>", BACK_REFERENCE),
            (r"foo$", UNSUPPORTED),
            (r"\bfoo\b", UNSUPPORTED),
            (r"\w+", UNSUPPORTED),
            (r"(?i)foo", UNSUPPORTED),
            (r"(?i:foo)", UNSUPPORTED),
            (r"a*+", UNSUPPORTED),
            (r"(?>a)", UNSUPPORTED),
            (r"a{,3}", UNSUPPORTED),
            (r"a{ 1,2}", UNSUPPORTED),
            (r"[[]", UNSUPPORTED),
            (r"[a&&b]", UNSUPPORTED),
            (r"[[:alpha:]]", UNSUPPORTED),
            (r"[:alpha:]", UNSUPPORTED),
            (r"[a-c-e]", UNSUPPORTED),
            (r"\e", UNSUPPORTED),
            (r"\x{41}", UNSUPPORTED),
            (r"\a", UNSUPPORTED),
            (r"\p{L}", UNSUPPORTED),
            (r"(a*)*b", UNSUPPORTED),
            (r"a|", UNSUPPORTED),
            (r"x^", UNSUPPORTED),
            (r"é", UNSUPPORTED),
            (r"\X", UNSUPPORTED),
        ];
        for (p, why) in cases {
            let got = classify(p, true).unwrap_or_else(|| panic!("{p} is native"));
            assert!(got.starts_with(why), "{p}: {got}");
        }
        assert_eq!(classify("é", false), None);
        assert!(classify("\u{FFFD}", false).is_some());
        assert!(classify("[\u{100}-\u{FFFF}]", false).is_some());
    }

    #[test]
    fn translation_spells_everything_out() {
        assert_eq!(
            translate(r"^a(?:b|c\.)+?", false).unwrap(),
            r"\A[\x{61}-\x{61}](?:(?:(?:[\x{62}-\x{62}]|[\x{63}-\x{63}][\x{2E}-\x{2E}])))+?"
        );
        let ci = translate(r"[^h-j]", true).unwrap();
        let re = regex::Regex::new(&ci).unwrap();
        // Python: `i` matches a dotted capital I (so `[^h-j]` does not), `I` a dotless i (and `[h-j]` has
        // no `I`, so `[^h-j]` does)
        assert!(!re.is_match("\u{130}") && !re.is_match("I") && re.is_match("\u{131}"));
        let upper = regex::Regex::new(&translate("I", true).unwrap()).unwrap();
        assert!(upper.is_match("\u{131}") && !upper.is_match("\u{130}"));
    }

    #[test]
    fn find_is_leftmost_first_and_maps_back() {
        let r = regexes(&[r"ab|abc", r"b+"], true);
        assert_eq!(
            r.find("xABC abbb", 0),
            vec![(1, 3, 0), (5, 7, 0), (2, 3, 1), (6, 9, 1)]
        );
        assert_eq!(r.find("xabc", 2), vec![(2, 3, 1)]);
        // full-width letters fold to ASCII; the span covers the original characters
        assert_eq!(r.find("\u{FF41}\u{FF42}", 0), vec![(0, 6, 0), (3, 6, 1)]);
        let anchored = regexes(&["^ab"], true);
        assert_eq!(anchored.find("abab", 0), vec![(0, 2, 0)]);
        assert!(anchored.find("abab", 1).is_empty());
    }

    #[test]
    fn lazy_patterns_keep_their_holdback_in_python() {
        let r = regexes(&[r"b+?a", r"b+a", r"(?:x|y??)z"], true);
        assert_eq!(r.native_hold(), vec![false, true, false]);
        assert_eq!(r.holdback("xb", 0), 1); // `b+a` only
    }

    #[test]
    fn holdback_is_the_earliest_partial_start() {
        let r = regexes(&[r"secret-[0-9]{4}"], true);
        assert_eq!(r.holdback("my secret-12", 0), 3);
        assert_eq!(r.holdback("my secret-1234", 0), 3); // complete, touching the end
        assert_eq!(r.holdback("my secret-12345", 0), 14); // the last cluster only
        assert_eq!(r.holdback("nothing here", 0), 11);
        let alt = regexes(&[r"a|ab"], true);
        assert_eq!(alt.holdback("xxab", 0), 2);
        let anchored = regexes(&[r"^abc"], true);
        assert_eq!(anchored.holdback("ab", 0), 0);
        assert_eq!(anchored.holdback("xab", 0), 2);
    }
}
