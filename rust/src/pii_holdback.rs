//! The PII stream hold-back (the port of `PiiCheck.holdback` in `tests/oracle/pii.py`): the smallest
//! index from which the tail could still become (part of) a match once more text arrives.
//!
//! Offsets are UTF-8 byte offsets into the original text; the cap counts characters.
//!
//! The oracle asks the backtracking `regex` module, per character-class group, for the leftmost start
//! whose twin (`(?<!lead)(?:body)(?!trail)`) partially matches up to the end of the text, and, per
//! context word, whether the context twin partially fullmatches the rest. Both questions are "is
//! `text[s..n]` a prefix of a word of the body's language, with the lead condition holding at `s`":
//!
//! * a trail look-ahead only ever looks past the end of a match; a match that has to end at `n` has
//!   nothing after it, so the trail holds (and `regex` reports a look-ahead at the end as partial);
//! * look-arounds inside context bodies are rewritten into plain classes (see `context_spec`);
//! * back-references (a separator repeated) are expanded into an alternation of every separator.
//!
//! Each body is an anchored dense DFA with `MatchKind::All` (no thread is dropped after a match) and
//! a table of the states from which a match is still reachable (see `Dfa`); the URL is counted by
//! hand (see `Body::Url`). All starts of one twin run in one left-to-right pass, one DFA state per
//! live start, deduplicated by state keeping the smallest start: the cost is the window times the
//! live states, never the window squared. The windows are bounded by the types' longest matches.

use std::collections::HashSet;

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::meta::Regex;
use regex_automata::util::primitives::StateID;
use regex_automata::util::syntax;
use regex_automata::{Anchored, MatchKind};

use crate::normalize::{last_cluster_start, normalize_pii};
use crate::pii::PiiType;
use crate::secret::{SecretScanner, SecretType};

/// One character class as the oracle's `regex` module reads it. `\w` and `\s` are the same
/// definitions in both engines (UTS #18 word characters, `White_Space`), so the class is compiled
/// from the oracle's own text; only their Unicode versions differ (code points assigned since are
/// `\w` to a newer `regex` and not here: as a lead they then allow a start, which holds more).
/// ASCII is a table; other characters (rare here) ask the regex.
struct CharClass {
    ascii: [bool; 128],
    re: regex::Regex,
}

impl CharClass {
    fn new(class: &str) -> CharClass {
        let re = regex::Regex::new(&format!("^(?:{class})$"))
            .unwrap_or_else(|e| panic!("hold-back class {class:?}: {e}"));
        let mut ascii = [false; 128];
        for (b, hit) in (0u8..).zip(ascii.iter_mut()) {
            *hit = re.is_match(char::from(b).encode_utf8(&mut [0; 4]));
        }
        CharClass { ascii, re }
    }

    fn contains(&self, c: char) -> bool {
        match self.ascii.get(c as usize) {
            Some(&hit) => hit,
            None => self.re.is_match(c.encode_utf8(&mut [0; 4])),
        }
    }
}

fn anchored_dfa(pattern: &str) -> (dense::DFA<Vec<u32>>, StateID) {
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .match_kind(MatchKind::All)
                .start_kind(StartKind::Anchored),
        )
        .syntax(syntax::Config::new().unicode(true).utf8(true))
        .build(pattern)
        .unwrap_or_else(|e| panic!("hold-back pattern {pattern:?}: {e}"));
    // No look-around is left in a body, so the start state does not depend on what precedes it.
    let start = dfa
        .universal_start_state(Anchored::Yes)
        .expect("bodies carry no look-behind");
    (dfa, start)
}

/// An anchored body DFA and, per state, whether a match can still be reached from it.
///
/// Not dead is not enough: a DFA reports a match one byte late, so the state after the byte that
/// follows a complete match is a (delayed) match state and not dead, yet no extension of the text
/// matches. A state is live when a state whose end-of-input transition matches is reachable from it
/// (itself included): then the text read so far is a prefix of a match, complete or not.
struct Dfa {
    dfa: dense::DFA<Vec<u32>>,
    start: StateID,
    /// Indexed by `sid >> stride2`.
    live: Vec<bool>,
}

impl Dfa {
    fn new(pattern: &str) -> Dfa {
        let (dfa, start) = anchored_dfa(pattern);
        let index = |sid: StateID| sid.as_usize() >> dfa.stride2();
        // Bytes of one class move every state alike: one representative each is enough.
        let bytes: Vec<u8> = dfa
            .byte_classes()
            .representatives(..)
            .filter_map(|unit| unit.as_u8())
            .collect();
        let mut states = vec![start];
        let mut reached = vec![false; index(start) + 1];
        reached[index(start)] = true;
        let mut into: Vec<Vec<StateID>> = vec![Vec::new(); index(start) + 1];
        let mut k = 0;
        while let Some(&sid) = states.get(k) {
            k += 1;
            for &b in &bytes {
                let to = dfa.next_state(sid, b);
                let t = index(to);
                if t >= reached.len() {
                    reached.resize(t + 1, false);
                    into.resize(t + 1, Vec::new());
                }
                into[t].push(sid);
                if !reached[t] {
                    reached[t] = true;
                    states.push(to);
                }
            }
        }
        let mut live = vec![false; reached.len()];
        let mut stack: Vec<StateID> = states
            .iter()
            .copied()
            .filter(|&sid| dfa.is_match_state(dfa.next_eoi_state(sid)))
            .collect();
        for &sid in &stack {
            live[index(sid)] = true;
        }
        while let Some(sid) = stack.pop() {
            for &from in &into[index(sid)] {
                if !live[index(from)] {
                    live[index(from)] = true;
                    stack.push(from);
                }
            }
        }
        Dfa { dfa, start, live }
    }

    fn is_live(&self, sid: StateID) -> bool {
        self.live[sid.as_usize() >> self.dfa.stride2()]
    }
}

/// How a twin's body is run.
enum Body {
    Dfa(Box<Dfa>),
    /// The URL body, `(?:https?://|ftp://|www\.)[^\s<>"'`]{0,2046}[^\s<>"'`.,;:!?)\]}]`, counted by
    /// hand: as a DFA the bounded repetition of a Unicode class costs ~30 MB and seconds to build.
    Url,
}

/// The literals a URL starts with.
const URL_PREFIXES: [&str; 4] = ["http://", "https://", "ftp://", "www."];
/// How many characters the URL body's repetition takes; one more (not one of `URL_NO_END`) ends it.
const URL_GAP: usize = 2046;
/// The characters a URL cannot end with, beyond those its class already excludes.
/// What a URL may hold: `pii::url_stop` in a class. Letters of scripts written without spaces
/// stay in it: the scanner takes them after a delimiter (`/再现`), so holding them is sound.
const URL_CLASS: &str = r#"[^\s<>"'`\x{3000}-\x{303F}\x{FF00}-\x{FF65}\x{FFE0}-\x{FFEF}\x{060C}\x{061B}\x{061F}\x{06D4}]"#;

const URL_NO_END: &str = ".,;:!?)]}";

/// A twin: the body plus the class that must not precede a start.
struct Twin {
    body: Body,
    lead: CharClass,
    /// When set, a start counts only if the rest of the text matches this whole (see `context_spec`).
    end: Option<Regex>,
    /// IPv4's trail `(?!\w|\.[0-9])` looks two characters ahead: a complete match followed by a
    /// final "." is undecided until the next character shows whether a digit follows.
    dot_digit_trail: bool,
}

impl Twin {
    fn new(body: Body, lead: &str) -> Twin {
        Twin {
            body,
            lead: CharClass::new(lead),
            end: None,
            dot_digit_trail: false,
        }
    }

    fn dfa(pattern: &str) -> Body {
        Body::Dfa(Box::new(Dfa::new(pattern)))
    }

    /// The smallest char boundary `s` in `[from, below)` where the lead condition holds and
    /// `text[s..]` is a prefix of the body's language (a complete match included).
    fn earliest_live(&self, text: &str, from: usize, below: usize) -> Option<usize> {
        if from >= below {
            return None;
        }
        self.earliest_live_and_complete(text, from, below, None).0
    }

    /// `earliest_live`, and in the same pass, with `complete_at = Some(m)`, the smallest start in
    /// `[from, below)` whose twin matches `text[s..m]` completely (lead condition included; DFA
    /// bodies only): the starts and states before `m` are the same for both questions.
    fn earliest_live_and_complete(
        &self,
        text: &str,
        from: usize,
        below: usize,
        complete_at: Option<usize>,
    ) -> (Option<usize>, Option<usize>) {
        if from >= below {
            return (None, None);
        }
        match &self.body {
            Body::Dfa(dfa) => self.earliest_live_dfa(dfa, text, from, below, complete_at),
            Body::Url => (self.earliest_live_url(text, from, below), None),
        }
    }

    fn lead_ok(&self, prev: Option<char>) -> bool {
        !prev.is_some_and(|p| self.lead.contains(p))
    }

    fn earliest_live_dfa(
        &self,
        dfa: &Dfa,
        text: &str,
        from: usize,
        below: usize,
        complete_at: Option<usize>,
    ) -> (Option<usize>, Option<usize>) {
        let bytes = text.as_bytes();
        let mut complete = None;
        // (state, start), in increasing start order: a state reached from two starts keeps the first.
        let mut live: Vec<(StateID, usize)> = Vec::with_capacity(16);
        let mut next: Vec<(StateID, usize)> = Vec::with_capacity(16);
        let mut seen: HashSet<StateID> = HashSet::new();
        let mut prev = text[..from].chars().next_back();
        for (off, c) in text[from..].char_indices() {
            let i = from + off;
            if Some(i) == complete_at {
                // What a pass over `text[..i]` would end with: the starts before `i`, their states.
                complete = self.first_complete(dfa, text, i, &live);
            }
            if i < below && self.lead_ok(prev) {
                live.push((dfa.start, i));
            }
            prev = Some(c);
            if live.is_empty() {
                if i >= below {
                    break;
                }
                continue;
            }
            next.clear();
            if !seen.is_empty() {
                seen.clear();
            }
            for &(mut sid, s) in &live {
                for &b in &bytes[i..i + c.len_utf8()] {
                    sid = dfa.dfa.next_state(sid, b);
                }
                if !dfa.is_live(sid) {
                    continue;
                }
                // A few live states (the usual case) are compared directly; many go through a set.
                let new = if next.len() < 16 {
                    !next.iter().any(|&(t, _)| t == sid)
                } else {
                    if seen.is_empty() {
                        seen.extend(next.iter().map(|&(t, _)| t));
                    }
                    seen.insert(sid)
                };
                if new {
                    next.push((sid, s));
                }
            }
            std::mem::swap(&mut live, &mut next);
        }
        // Which survivors count depends only on their DFA state, so the smallest start of each state
        // (the one kept) decides for all of them.
        let first_live = live
            .iter()
            .find(|&&(_, s)| self.end.as_ref().is_none_or(|end| end.is_match(&text[s..])))
            .map(|&(_, s)| s);
        (first_live, complete)
    }

    /// The smallest start among `live` (states after `text[..m]`) whose match is complete at `m`.
    fn first_complete(
        &self,
        dfa: &Dfa,
        text: &str,
        m: usize,
        live: &[(StateID, usize)],
    ) -> Option<usize> {
        live.iter()
            .find(|&&(sid, s)| {
                dfa.dfa.is_match_state(dfa.dfa.next_eoi_state(sid))
                    && self
                        .end
                        .as_ref()
                        .is_none_or(|end| end.is_match(&text[s..m]))
            })
            .map(|&(_, s)| s)
    }

    /// `earliest_live` for `Body::Url`. `from` is the start of the trailing run of the URL class, so
    /// every character after a prefix fits the repetition and only the count and the last character
    /// decide.
    fn earliest_live_url(&self, text: &str, from: usize, below: usize) -> Option<usize> {
        let total = text[from..].chars().count();
        let ends_ok = text
            .chars()
            .next_back()
            .is_some_and(|c| !URL_NO_END.contains(c));
        let mut prev = text[..from].chars().next_back();
        for (ci, (off, c)) in text[from..].char_indices().enumerate() {
            let i = from + off;
            if i >= below {
                break;
            }
            let lead_ok = self.lead_ok(prev);
            prev = Some(c);
            if !lead_ok {
                continue;
            }
            let rest = &text[i..];
            // Schemes and `www.` in any case, as `pii::url_end` reads them.
            let r = rest.as_bytes();
            for p in URL_PREFIXES {
                let p = p.as_bytes();
                if r.len() <= p.len() && p[..r.len()].eq_ignore_ascii_case(r) {
                    return Some(i); // still inside the prefix
                }
                if r.len() > p.len() && r[..p.len()].eq_ignore_ascii_case(p) {
                    let k = total - ci - p.len();
                    if k <= URL_GAP || (k == URL_GAP + 1 && ends_ok) {
                        return Some(i);
                    }
                }
            }
        }
        None
    }
}

/// One character-class group: every twin whose matches consist of the class's characters only.
struct Group {
    class: CharClass,
    max_len: usize,
    twins: Vec<Twin>,
}

/// `pii::spaceless` as a class body: the scripts written without spaces between words.
const SPACELESS: &str = r"\x{0E00}-\x{0EFF}\x{1000}-\x{109F}\x{1100}-\x{11FF}\x{1780}-\x{17FF}\x{2E80}-\x{2FDF}\x{3040}-\x{31FF}\x{3400}-\x{4DBF}\x{4E00}-\x{9FFF}\x{A960}-\x{A97F}\x{AC00}-\x{D7FF}\x{F900}-\x{FAFF}\x{FF66}-\x{FFDC}\x{20000}-\x{3FFFF}";

/// The characters a numeric value and its extension are written with.
const NUMERIC_CLASS: &str = r"[0-9 ().+/:#A-Za-z-]";

/// Every phone number `pii/numeric.rs` accepts, and more: digits and separators, then an extension,
/// and a last `:` (the parser's trail rule gives groups back when a digit follows `:`, `.`, `/`
/// or `-`, so a tail ending in one of them may still change the match).
const PHONE_BODY: &str =
    r"[(+]{0,2}[0-9][0-9 ().+/-]{0,40}(?:[ ]?(?i:x|ext\.?|extension|#)[ ]?[0-9]{0,6})?:?";

/// Hex digit, as the oracle's `_H`.
const H: &str = "[0-9A-Fa-f]";

/// A class type's body: a pattern with `{S}` for a repeated separator and the separators the
/// back-reference can repeat, or the URL (see `Body::Url`).
enum Pattern {
    Regex(String, &'static [&'static str]),
    Url,
}

/// A type with a character class: (class, body, lead, max_len), from the oracle's `_TYPES`.
type ClassSpec = (&'static str, Pattern, String, usize);

fn class_specs(t: PiiType) -> Vec<ClassSpec> {
    let re = |body: &str, seps: &'static [&'static str]| Pattern::Regex(body.to_string(), seps);
    match t {
        // More than the scanner's local parts and labels (any run of their characters): holding
        // a little more is sound, and one DFA state per label position is not needed. A local
        // part does not mix scripts written without spaces with others (`pii::email_local_start`),
        // so the two kinds are two twins, each with its own lead: `电话415-55` holds `415-55` only.
        PiiType::Email => {
            let domain = r"@[\p{L}\p{M}\p{N}.-]*";
            let spaced = format!(r"[A-Za-z0-9._%+[\p{{L}}\p{{M}}\p{{N}}--{SPACELESS}]-]");
            let spaceless = format!("[{SPACELESS}]");
            let max_len = 65 + crate::pii::EMAIL_DOMAIN_MAX;
            let class = r"[A-Za-z0-9._%+@\p{L}\p{M}\p{N}-]";
            vec![
                (
                    class,
                    re(&format!("{spaced}{{1,64}}{domain}"), &[]),
                    spaced,
                    max_len,
                ),
                (
                    class,
                    re(&format!("{spaceless}{{1,64}}{domain}"), &[]),
                    spaceless,
                    max_len,
                ),
            ]
        }
        // PHONE, SSN and CREDIT_CARD are parsed by hand (`pii/numeric.rs`): held as every run of
        // digits and separators that could still become one, from a start not glued to a digit
        // (the parser's lead condition only adds letter words before, so this holds more).
        PiiType::Phone => vec![(NUMERIC_CLASS, re(PHONE_BODY, &[]), "[0-9]".into(), 48)],
        PiiType::Ssn | PiiType::CreditCard => {
            // Their own class without letters, so the trailing run (and the pass) stays short;
            // a last `:` or `/` as for PHONE_BODY.
            vec![(
                "[0-9 ./:-]",
                re("[0-9][0-9 .-]{0,30}[:/]?", &[]),
                "[0-9]".into(),
                32,
            )]
        }
        PiiType::IpAddress => vec![
            (
                "[0-9.]",
                re(r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}", &[]),
                r"[A-Za-z0-9_.]".into(),
                15,
            ),
            (
                "[0-9A-Fa-f:]",
                re(&format!("(?:{H}{{0,4}}:){{2,7}}{H}{{0,4}}"), &[]),
                // Not `:`: a label's colon may precede an address (`IP:2001:db8::1`).
                r"[A-Za-z0-9_]".into(),
                39,
            ),
        ],
        PiiType::MacAddress => vec![(
            "[0-9A-Fa-f:.-]",
            re(
                &format!(
                    "{H}{{2}}{{S}}(?:{H}{{2}}{{S}}){{4}}{H}{{2}}|{H}{{4}}[.]{H}{{4}}[.]{H}{{4}}"
                ),
                &[":", "-"],
            ),
            // Not `:`: a label's colon may precede an address (`MAC:00:1a:…`).
            r"[A-Za-z0-9_.-]".into(),
            17,
        )],
        PiiType::Url => vec![(URL_CLASS, Pattern::Url, r"[A-Za-z0-9_@./]".into(), 2054)],
        PiiType::Iban => vec![(
            "[A-Za-z0-9 -]",
            re(crate::pii::IBAN, &[]),
            "[A-Za-z0-9]".into(),
            43,
        )],
        // Context-led, or the SECRET family (`crate::secret` holds its own).
        _ => vec![],
    }
}

/// A context type's twin bodies (lead `[A-Za-z]`) and max_len; several bodies are alternatives of one
/// twin, split because one DFA for all of them multiplies their states. The oracle's bodies carry look-arounds
/// the DFA cannot run; each is rewritten into the same language:
///
/// * `word(?![A-Za-z])gap` where the gap may start with a letter: the gap is empty (and what follows
///   does not start with a letter) or starts with a non-letter.
/// * AWS: `[^\n]{0,40}?(?<![A-Za-z0-9/+=])value`: the gap cannot be empty (the word ends in a
///   letter), its last character is outside `[A-Za-z0-9/+=]`, its first is not a letter.
/// * A look-ahead after the value ends the body, where a match reaching the end has nothing after it.
///
/// Case: `regex`'s `(?i:i)` also matches U+0130 (İ), which NFKC keeps; Rust's simple case folding
/// does not, so an `i` under `(?i:...)` is written `[iİ]`. Not in the context words themselves
/// (`social`, `birth`): the oracle only tries starts where the trigger automaton finds a word in
/// ASCII case variants (or a prefix of one at the end), so an İ there stops the match in both. The
/// other letters whose `(?i:...)` reaches beyond ASCII (K: Kelvin sign, s: long s) do not survive NFKC.
///
/// AWS secret: the oracle's `regex` reports a partial match only when the text ends inside the context
/// word, or where the key may begin (after a gap ending in a character the key's look-behind allows),
/// or inside the key: never while it is still in a gap whose last character forbids a key to follow
/// (`aws/`, `secret=`), although more gap may come. No character of such a tail can be part of the
/// key, so that is still safe; `AWS_SECRET_END` restricts the starts to exactly those ends.
fn context_spec(t: PiiType) -> Option<(Vec<String>, usize)> {
    match t {
        PiiType::Ssn => Some((
            vec![
                r"(?i:ssns?|social[ ]{1,3}secur[iİ]ty)(?:[^0-9\nA-Za-z][^0-9\n]{0,29})?[0-9]{9}"
                    .into(),
            ],
            60,
        )),
        PiiType::DateOfBirth => Some((
            {
                // Every context word, in any case (more than the scanner's cases: sound).
                let words: Vec<String> = crate::pii::context::DOB_WORDS
                    .iter()
                    .map(|w| regex_syntax::escape(w))
                    .collect();
                let words = format!(r"(?i:{}|d\.o\.b\.|birth[ ]?date|birthday)", words.join("|"));
                // Any word for a month name: the names' trie after a gap of any letters would
                // multiply the DFA's states (seconds to build); holding more is sound.
                let dates = crate::pii::context::date_alternatives(
                    r"[A-Za-z\u{C0}-\u{FF}\u{130}\u{131}\u{17F}\u{400}-\u{45F}]{3,12}\.?",
                )
                .into_iter()
                .map(|(date, digit_first)| {
                    // A date that starts with a digit may follow the word directly.
                    let gap = if digit_first { "?" } else { "" };
                    format!(r"(?:[^0-9\nA-Za-z][^0-9\n]{{0,23}}){gap}{date}")
                })
                .collect::<Vec<String>>();
                // One body: one pass over the window instead of one per date form.
                vec![format!("{words}(?:{})", dates.join("|"))]
            },
            80,
        )),
        _ => None,
    }
}

/// `body` with `{S}` replaced by each separator in turn, as one alternation (a back-reference
/// repeats the separator the first group captured).
fn expand(body: &str, seps: &[&str]) -> String {
    if seps.is_empty() {
        return body.to_string();
    }
    let alts: Vec<String> = seps.iter().map(|s| body.replace("{S}", s)).collect();
    format!("(?:{})", alts.join("|"))
}

pub struct PiiHoldback {
    groups: Vec<Group>,
    /// Context twins with their type's longest match in characters (starts further back are not
    /// tried).
    context: Vec<(Twin, usize)>,
    /// the SECRET family's own hold-back
    secret: Option<SecretScanner>,
    max_holdback_chars: usize,
}

impl PiiHoldback {
    pub fn new(types: &[PiiType], max_holdback_chars: usize) -> PiiHoldback {
        let mut unique: Vec<PiiType> = Vec::new();
        for &t in types {
            if !unique.contains(&t) {
                unique.push(t);
            }
        }
        let mut groups: Vec<(&'static str, Group)> = Vec::new();
        let mut context = Vec::new();
        for &t in &unique {
            for (class, pattern, lead, max_len) in class_specs(t) {
                let body = match pattern {
                    Pattern::Regex(body, seps) => Twin::dfa(&expand(&body, seps)),
                    Pattern::Url => Body::Url,
                };
                let mut twin = Twin::new(body, &lead);
                twin.dot_digit_trail = t == PiiType::IpAddress && class == "[0-9.]";
                match groups.iter_mut().find(|(c, _)| *c == class) {
                    Some((_, g)) => {
                        g.max_len = g.max_len.max(max_len);
                        g.twins.push(twin);
                    }
                    None => groups.push((
                        class,
                        Group {
                            class: CharClass::new(class),
                            max_len,
                            twins: vec![twin],
                        },
                    )),
                }
            }
            if let Some((bodies, max_len)) = context_spec(t) {
                for body in bodies {
                    let twin = Twin::new(Twin::dfa(&body), "[A-Za-z]");
                    context.push((twin, max_len));
                }
            }
        }
        let secrets: Vec<SecretType> = unique.iter().filter_map(|t| t.secret()).collect();
        PiiHoldback {
            secret: (!secrets.is_empty()).then(|| SecretScanner::new(&secrets)),
            groups: groups.into_iter().map(|(_, g)| g).collect(),
            context,
            max_holdback_chars,
        }
    }

    /// Exactly `PiiCheck.holdback(text, pos)`, in byte offsets.
    pub fn holdback(&self, text: &str, pos: usize) -> usize {
        if pos >= text.len() {
            return text.len();
        }
        let floor = pos.max(back_chars(text, self.max_holdback_chars));
        let norm = normalize_pii(text);
        let s: &str = &norm.text;
        let n = s.len();
        let lo = norm.normalized_index(floor);
        let mut held = n;
        let changeable_last = s
            .char_indices()
            .next_back()
            .filter(|&(_, c)| c.is_alphabetic() || matches!(c, '<' | '=' | '>'))
            .map(|(i, _)| i);
        for g in &self.groups {
            let w = lo.max(back_chars(s, g.max_len));
            if w >= held {
                continue;
            }
            // The trailing run of the class: a match reaching the end lies inside it.
            let run = s[w..]
                .char_indices()
                .rev()
                .find(|&(_, c)| !g.class.contains(c))
                .map_or(w, |(i, c)| w + i + c.len_utf8());
            for twin in &g.twins {
                // A complete match ending before the last character may still stand: before a
                // final `.` when a digit must not follow (IPv4's trail), and before a letter that
                // a combining mark in the next chunk may turn into another (`e` and U+0301 are `é`,
                // no longer a hex digit; only letters and `<=>`, U+0338 makes `≠`, compose). The
                // last character is one or the other, never both.
                let complete_at = (twin.dot_digit_trail && s.ends_with('.'))
                    .then_some(n - 1)
                    .or(changeable_last);
                let (live, complete) = twin.earliest_live_and_complete(s, run, held, complete_at);
                held = [live, complete]
                    .into_iter()
                    .flatten()
                    .fold(held, usize::min);
            }
        }
        // Context types start with a context word; a start from which the twin can still match the
        // whole rest necessarily is one (a whole word, or a prefix of one at the very end), so the
        // oracle's candidate list adds no condition. Its window over all context types
        // (`_context_back`) is implied by each type's own.
        for (twin, max_len) in &self.context {
            let from = lo.max(back_chars(s, *max_len));
            if let Some(h) = twin.earliest_live(s, from, held) {
                held = h;
            }
        }
        if let Some(secret) = &self.secret {
            held = held.min(secret.holdback(s, lo));
        }
        norm.original_index(held)
            .min(last_cluster_start(text))
            .max(floor)
    }
}

/// The byte offset `k` characters before the end of `text` (0 when it is shorter).
fn back_chars(text: &str, k: usize) -> usize {
    if k == 0 {
        return text.len();
    }
    if k >= text.len() {
        return 0; // a text has no more characters than bytes: no need to walk it
    }
    text.char_indices().rev().nth(k - 1).map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(cap: usize) -> PiiHoldback {
        PiiHoldback::new(&PiiType::ALL, cap)
    }

    #[test]
    fn a_url_is_counted_to_its_last_character() {
        let h = PiiHoldback::new(&[PiiType::Url], 5000);
        let a = |k: usize| "a".repeat(k);
        // 2,047 characters after the prefix end the URL only if the last may end it.
        assert_eq!(h.holdback(&format!("www.{}.", a(2046)), 0), 2050);
        assert_eq!(h.holdback(&format!("www.{}", a(2047)), 0), 0);
        assert_eq!(h.holdback(&format!("www.{}.", a(2047)), 0), 2051);
        assert_eq!(h.holdback(&format!("x https://{}b", a(2045)), 0), 2);
        // Beyond the longest URL (2,054 characters) the start is outside the window.
        assert_eq!(h.holdback(&format!("x https://{}b", a(2046)), 0), 2056);
    }

    #[test]
    fn normalised_text_is_matched_and_mapped_back() {
        let h = all(1024);
        // Full-width digits are three bytes each; NFKC makes them a partial phone number.
        assert_eq!(
            h.holdback("call \u{ff15}\u{ff15}\u{ff15}-\u{ff11}\u{ff12}", 0),
            5
        );
        // é does not glue: a phone number may start right after it, as after CJK text.
        assert_eq!(h.holdback("\u{e9}+1 555", 0), 2);
        assert_eq!(h.holdback("\u{7535}\u{8bdd}415-55", 0), 6);
        assert_eq!(h.holdback("x \u{664}\u{661}\u{665}-55", 0), 2);
        assert_eq!(h.holdback("-+1 555", 0), 1);
        assert_eq!(h.holdback("ssn\u{200b} 12", 0), 0);
    }

    #[test]
    fn a_long_run_is_searched_in_its_window_only() {
        let h = PiiHoldback::new(&[PiiType::IpAddress], 1024);
        // The same answer, inside the longest address's 39 characters, at either length.
        assert_eq!(h.holdback(&"::1:".repeat(300), 0), 1190);
        assert_eq!(h.holdback(&"::1:".repeat(250_000), 0), 999_990);
    }

    #[test]
    fn prose_is_held_only_where_a_value_can_still_form() {
        let h = all(1024);
        // "world" may be the local part of an email; "hello" may not, it is followed by a space.
        assert_eq!(h.holdback("hello world", 0), 6);
        assert_eq!(h.holdback("hello world!", 0), 11);
        assert_eq!(h.holdback("", 0), 0);
        assert_eq!(h.holdback("abc", 3), 3);
    }

    #[test]
    fn partial_values_are_held_from_their_start() {
        let h = all(1024);
        assert_eq!(h.holdback("call 555-12", 0), 5);
        assert_eq!(h.holdback("mail bob@exa", 0), 5);
        assert_eq!(h.holdback("see https://example.com/a", 0), 4);
        assert_eq!(h.holdback("key AKIA12", 0), 4);
        assert_eq!(h.holdback("addr fe80::", 0), 5);
    }

    #[test]
    fn context_words_hold_from_the_word() {
        let h = all(1024);
        assert_eq!(h.holdback("date of bi", 0), 8);
        assert_eq!(h.holdback("my ss", 0), 3);
    }

    #[test]
    fn dotted_capital_i_matches_i_after_the_context_word_only() {
        let h = PiiHoldback::new(&[PiiType::Ssn], 1024);
        assert_eq!(h.holdback("my social secur\u{130}ty 1", 0), 3);
        // Only the digits wait (an SSN may start there); İ is two bytes.
        assert_eq!(h.holdback("x soc\u{130}al security 12", 0), 19);
    }

    #[test]
    fn lead_conditions_are_checked_at_the_start() {
        let h = PiiHoldback::new(&[PiiType::AwsAccessKey], 1024);
        assert_eq!(h.holdback("xAKIA12", 0), 6);
        assert_eq!(h.holdback("-AKIA12", 0), 1);
    }

    #[test]
    fn the_cap_and_pos_bound_the_result() {
        // From the floor "5-12" is searched: "12" after the dash may begin an IPv4 address.
        let h = all(4);
        assert_eq!(h.holdback("call 555-12", 0), 9);
        assert_eq!(all(1024).holdback("call 555-12", 8), 9);
        assert_eq!(all(1024).holdback("call 555-12", 11), 11);
    }
}
