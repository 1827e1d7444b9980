//! PII detection (the port of `checks/pii.py`): every type with its validators, exact spans, and the
//! stream hold-back. Linear in the input for every pattern.
//!
//! All offsets are UTF-8 byte offsets into the original text. Matching runs on the normalised text
//! (`crate::normalize`), like the Python reference, and spans are mapped back at the end.
//!
//! The structure follows the reference closely, because its results depend on it: cheap anchors
//! first ('@', digit runs, `:`/`-` pairs, context words and literal prefixes), then the full pattern
//! at each anchor, then edge checks and validators. Patterns without look-arounds run on
//! `regex-automata` (leftmost-first, which picks the same match as Python's backtracking);
//! back-references are expanded into alternations; the patterns with look-arounds are ported by hand
//! (`context.rs`, and the URL, MAC and AWS key scanners here). Every full pattern is bounded in
//! length and runs only at an anchor, so each input character costs a bounded amount of work.

mod context;
mod validate;

use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input};

use crate::normalize::normalize;
use crate::unicode::{is_space, is_word};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiType {
    Email,
    Phone,
    Ssn,
    CreditCard,
    IpAddress,
    DateOfBirth,
    MacAddress,
    Url,
    Iban,
    AwsAccessKey,
    AwsSecretKey,
    ApiKey,
    Password,
}

impl PiiType {
    pub const ALL: [PiiType; 13] = [
        PiiType::Email,
        PiiType::Phone,
        PiiType::Ssn,
        PiiType::CreditCard,
        PiiType::IpAddress,
        PiiType::DateOfBirth,
        PiiType::MacAddress,
        PiiType::Url,
        PiiType::Iban,
        PiiType::AwsAccessKey,
        PiiType::AwsSecretKey,
        PiiType::ApiKey,
        PiiType::Password,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PiiType::Email => "EMAIL",
            PiiType::Phone => "PHONE",
            PiiType::Ssn => "SSN",
            PiiType::CreditCard => "CREDIT_CARD",
            PiiType::IpAddress => "IP_ADDRESS",
            PiiType::DateOfBirth => "DATE_OF_BIRTH",
            PiiType::MacAddress => "MAC_ADDRESS",
            PiiType::Url => "URL",
            PiiType::Iban => "IBAN",
            PiiType::AwsAccessKey => "AWS_ACCESS_KEY",
            PiiType::AwsSecretKey => "AWS_SECRET_KEY",
            PiiType::ApiKey => "API_KEY",
            PiiType::Password => "PASSWORD",
        }
    }

    pub fn from_name(name: &str) -> Option<PiiType> {
        PiiType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Where a match must not be glued to its neighbours: the `lead`/`trail` classes of `checks/pii.py`.
#[derive(Debug, Clone, Copy)]
enum Edge {
    /// EMAIL: `[A-Za-z0-9._%+-]` before, `[A-Za-z0-9-]` after
    Email,
    /// PHONE: `[\w+]` before, `[0-9]` after
    Phone,
    /// SSN, CREDIT_CARD: `[\w-]` on both sides
    Group,
    /// IPv4: `[\w.]` before, `[\w]|\.[0-9]` after
    Ipv4,
    /// IPv6: `[\w:]` on both sides
    Ipv6,
    /// MAC_ADDRESS: `[\w:-]` on both sides
    Mac,
    /// URL: `[\w@./]` before, anything after
    Url,
    /// IBAN, AWS_ACCESS_KEY: `[A-Za-z0-9]` on both sides
    Alnum,
    /// API_KEY: `[A-Za-z0-9_-]` on both sides
    ApiKey,
}

impl Edge {
    fn lead_blocked(self, c: char) -> bool {
        match self {
            Edge::Email => c.is_ascii_alphanumeric() || "._%+-".contains(c),
            Edge::Phone => is_word(c) || c == '+',
            Edge::Group => is_word(c) || c == '-',
            Edge::Ipv4 => is_word(c) || c == '.',
            Edge::Ipv6 => is_word(c) || c == ':',
            Edge::Mac => is_word(c) || c == ':' || c == '-',
            Edge::Url => is_word(c) || "@./".contains(c),
            Edge::Alnum => c.is_ascii_alphanumeric(),
            Edge::ApiKey => c.is_ascii_alphanumeric() || c == '_' || c == '-',
        }
    }

    fn trail_blocked(self, s: &str, end: usize) -> bool {
        let Some(c) = s[end..].chars().next() else {
            return false;
        };
        match self {
            Edge::Email => c.is_ascii_alphanumeric() || c == '-',
            Edge::Phone => c.is_ascii_digit(),
            Edge::Ipv4 => {
                is_word(c)
                    || (c == '.' && s.as_bytes().get(end + 1).is_some_and(u8::is_ascii_digit))
            }
            Edge::Url => false,
            _ => self.lead_blocked(c),
        }
    }

    /// `_Compiled.edges_ok`.
    fn ok(self, s: &str, start: usize, end: usize) -> bool {
        !s[..start]
            .chars()
            .next_back()
            .is_some_and(|c| self.lead_blocked(c))
            && !self.trail_blocked(s, end)
    }
}

/// The byte offset `n` characters before `i` (0 if there are fewer): the reference's
/// `max(i - n, 0)` on str indices.
fn chars_back(s: &str, i: usize, n: usize) -> usize {
    if n == 0 {
        return i;
    }
    s[..i].char_indices().rev().nth(n - 1).map_or(0, |(k, _)| k)
}

/// The first ASCII digit at or after `from`, eight bytes at a time: prose has few digits.
fn next_digit(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut i = from;
    while i + 8 <= b.len() {
        let word = u64::from_le_bytes(b[i..i + 8].try_into().expect("eight bytes"));
        // Digits become bytes below 10; a byte below 10 borrows, which sets its top bit (bytes
        // from 0x80 up never do). A borrow may flag a byte above a true one, hence the check.
        let t = word ^ (0x30 * ONES);
        if t.wrapping_sub(10 * ONES) & !t & (0x80 * ONES) != 0 {
            if let Some(k) = b[i..i + 8].iter().position(u8::is_ascii_digit) {
                return Some(i + k);
            }
        }
        i += 8;
    }
    b.get(i..)?
        .iter()
        .position(u8::is_ascii_digit)
        .map(|k| i + k)
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// `_DIGIT_RUN`'s repeated class: digits and the separators numeric PII uses.
fn digit_run_byte(b: u8) -> bool {
    b.is_ascii_digit() || b" ().-/+:".contains(&b)
}

fn email_local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-".contains(&b)
}

type Found = Vec<(usize, usize, PiiType)>;
type Validator = Option<fn(&str) -> bool>;

/// `PiiCheck._accept` for a match whose value is the whole match.
fn accept(
    found: &mut Found,
    s: &str,
    (start, end): (usize, usize),
    npos: usize,
    kind: PiiType,
    edge: Edge,
    validate: Validator,
) -> bool {
    let ok = edge.ok(s, start, end)
        && start >= npos
        && validate.is_none_or(|valid| valid(&s[start..end]));
    if ok {
        found.push((start, end, kind));
    }
    ok
}

fn anchored(re: &Regex, s: &str, at: usize) -> Option<usize> {
    re.search(&Input::new(s).range(at..).anchored(Anchored::Yes))
        .map(|m| m.end())
}

/// A numeric type searched inside digit runs.
struct DigitType {
    kind: PiiType,
    re: Regex,
    edge: Edge,
    validate: fn(&str) -> bool,
    needs: Needs,
}

/// What a digit run must hold for a type's pattern to match anywhere in it, checked before the
/// pattern's pass over the run: runs of separators with short digit groups (`1-1-1-…`, `::1:…`)
/// hold none of these, and each would otherwise cost every type a full pass.
#[derive(Debug, Clone, Copy)]
enum Needs {
    /// `[0-9]{4}`, in every SSN and card branch
    FourDigits,
    /// the North American phone's `[0-9]{4}`, or the `\+` the international one starts with
    FourDigitsOrPlus,
    /// IPv4's three `\.`
    ThreeDots,
}

impl Needs {
    /// `four_digits` is asked at most once per run, however many types need it.
    fn met(self, run: &[u8], four_digits: &mut Option<bool>) -> bool {
        let mut four = || {
            *four_digits.get_or_insert_with(|| {
                let mut digits = 0;
                run.iter().any(|c| {
                    digits = if c.is_ascii_digit() { digits + 1 } else { 0 };
                    digits == 4
                })
            })
        };
        match self {
            Needs::FourDigits => four(),
            Needs::FourDigitsOrPlus => memchr::memchr(b'+', run).is_some() || four(),
            Needs::ThreeDots => memchr::memchr_iter(b'.', run).nth(2).is_some(),
        }
    }
}

/// What a trigger-automaton hit can start.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    Ssn,
    DateOfBirth,
    AwsSecret,
    Password,
    Url,
    AwsAccess,
    ApiKey,
}

const TRIGGER_KINDS: usize = 7;

impl Trigger {
    /// The context words (lower-case; matched in every ASCII case) of a context type.
    fn context_words(self) -> &'static [&'static str] {
        match self {
            Trigger::Ssn => &["ssn", "social"],
            Trigger::DateOfBirth => &["born", "dob", "d.o.b", "birth"],
            Trigger::AwsSecret => &["aws", "secret"],
            Trigger::Password => &["pass", "pwd"],
            Trigger::Url | Trigger::AwsAccess | Trigger::ApiKey => &[],
        }
    }

    /// A context type's `max_len`: how far before `pos` its context word may start.
    fn context_back(self) -> Option<usize> {
        match self {
            Trigger::Ssn => Some(60),
            Trigger::DateOfBirth => Some(80),
            Trigger::AwsSecret => Some(90),
            Trigger::Password => Some(150),
            Trigger::Url | Trigger::AwsAccess | Trigger::ApiKey => None,
        }
    }

    fn of(kind: PiiType) -> Option<Trigger> {
        match kind {
            PiiType::Ssn => Some(Trigger::Ssn),
            PiiType::DateOfBirth => Some(Trigger::DateOfBirth),
            PiiType::AwsSecretKey => Some(Trigger::AwsSecret),
            PiiType::Password => Some(Trigger::Password),
            PiiType::Url => Some(Trigger::Url),
            PiiType::AwsAccessKey => Some(Trigger::AwsAccess),
            PiiType::ApiKey => Some(Trigger::ApiKey),
            _ => None,
        }
    }
}

const AWS_PREFIXES: [&[u8]; 8] = [
    b"AKIA", b"ASIA", b"AIDA", b"AROA", b"AGPA", b"ANPA", b"ANVA", b"AIPA",
];

/// Where the context and prefix-led patterns can start: the reference's trigger automaton (every
/// ASCII case variant of the context words, and the exact literal prefixes), found with cheaper
/// scans. Context words are looked for only where a word starts: every context type rejects a match
/// glued to a letter before it (`lead` = `[A-Za-z]`), and each context hit is tried on its own, so
/// the hits this skips could never yield a match. Prefix hits all count (a rejected match still
/// hides the hits inside it), so each prefix is found wherever it occurs, through a byte it must
/// contain: "://" or "www." for URLs, 'A' for AWS keys and "AIza", '-' or '_' for the other API keys.
struct Triggers {
    /// the enabled context types' words, with their type
    words: Vec<(&'static str, Trigger)>,
    /// a non-letter followed by one of those words (ASCII case folded): a lazy DFA finds the few
    /// word starts at memory speed, where a byte loop branching at every word boundary cannot
    starts: Option<Regex>,
    /// the first bytes of those words, in both cases, for the byte-by-byte stretches
    first: [bool; 256],
    /// the largest `context_back` of the enabled context types
    context_back: usize,
    url: bool,
    aws_access: bool,
    api_key: bool,
}

type Hits = [Vec<usize>; TRIGGER_KINDS];

/// How many bytes without a context word end a byte-by-byte stretch.
const QUIET: usize = 64;

impl Triggers {
    fn new(enabled: &[Trigger]) -> Option<Triggers> {
        if enabled.is_empty() {
            return None;
        }
        let words: Vec<(&'static str, Trigger)> = enabled
            .iter()
            .flat_map(|&t| t.context_words().iter().map(move |&w| (w, t)))
            .collect();
        let starts = (!words.is_empty()).then(|| {
            let alternation: Vec<String> =
                words.iter().map(|(w, _)| w.replace('.', "\\.")).collect();
            Regex::builder()
                .syntax(regex_automata::util::syntax::Config::new().utf8(false))
                .build(&format!("(?i-u)[^a-zA-Z](?:{})", alternation.join("|")))
                .expect("the context-word pattern compiles")
        });
        let mut first = [false; 256];
        for (w, _) in &words {
            let c = w.as_bytes()[0];
            first[usize::from(c.to_ascii_lowercase())] = true;
            first[usize::from(c.to_ascii_uppercase())] = true;
        }
        let context_back = enabled
            .iter()
            .filter_map(|t| t.context_back())
            .max()
            .unwrap_or(0);
        let on = |t: Trigger| enabled.iter().any(|&e| e as usize == t as usize);
        Some(Triggers {
            words,
            starts,
            first,
            context_back,
            url: on(Trigger::Url),
            aws_access: on(Trigger::AwsAccess),
            api_key: on(Trigger::ApiKey),
        })
    }

    /// Context-word starts at or after `lo` that are not glued to a letter before them.
    fn context_hits(&self, b: &[u8], lo: usize, hits: &mut Hits) {
        let Some(starts) = &self.starts else {
            return;
        };
        let mut word_at = |i: usize| {
            let mut hit = false;
            for &(w, t) in &self.words {
                if b[i..].len() >= w.len() && b[i..i + w.len()].eq_ignore_ascii_case(w.as_bytes()) {
                    hits[t as usize].push(i);
                    hit = true;
                }
            }
            hit
        };
        if lo == 0 || !b[lo - 1].is_ascii_alphabetic() {
            word_at(lo);
        }
        // Every position below `i` has been looked at as a word start.
        let mut i = lo + 1;
        while let Some(m) = starts.search(&Input::new(b).range(i - 1..)) {
            let first = m.start() + 1;
            word_at(first);
            // Where words are dense, each search would cost more than it skips: go byte by byte
            // until a stretch without any passes, then search again.
            let mut quiet_until = first + QUIET;
            let mut prev_letter = true;
            i = first + 1;
            while i < b.len() && i < quiet_until {
                let c = b[i];
                if self.first[usize::from(c)] & !prev_letter && word_at(i) {
                    quiet_until = i + QUIET;
                }
                prev_letter = c.is_ascii_alphabetic();
                i += 1;
            }
            if i >= b.len() {
                break;
            }
        }
    }

    /// Every literal-prefix occurrence starting at or after `npos`.
    fn prefix_hits(&self, b: &[u8], npos: usize, hits: &mut Hits) {
        if self.url {
            let urls = &mut hits[Trigger::Url as usize];
            for j in memchr::memmem::find_iter(&b[npos..], b"://").map(|k| npos + k) {
                let scheme = [&b"https"[..], b"http", b"ftp"]
                    .into_iter()
                    .find(|p| j >= npos + p.len() && b[..j].ends_with(p));
                urls.extend(scheme.map(|p| j - p.len()));
            }
            urls.extend(memchr::memmem::find_iter(&b[npos..], b"www.").map(|k| npos + k));
        }
        if !(self.aws_access || self.api_key) {
            return;
        }
        for j in memchr::memchr3_iter(b'A', b'-', b'_', &b[npos..]).map(|k| npos + k) {
            let rest = &b[j..];
            let before = |n: usize| (j >= npos + n).then(|| &b[j - n..]);
            match b[j] {
                b'A' => {
                    if self.aws_access && AWS_PREFIXES.iter().any(|p| rest.starts_with(p)) {
                        hits[Trigger::AwsAccess as usize].push(j);
                    }
                    if self.api_key && rest.starts_with(b"AIza") {
                        hits[Trigger::ApiKey as usize].push(j);
                    }
                }
                b'-' if self.api_key => {
                    let keys = &mut hits[Trigger::ApiKey as usize];
                    if before(2).is_some_and(|p| p.starts_with(b"sk-")) {
                        keys.push(j - 2);
                    }
                    if before(4).is_some_and(|p| p.starts_with(b"xox") && b"abposr".contains(&p[3]))
                    {
                        keys.push(j - 4);
                    }
                }
                b'_' if self.api_key => {
                    let keys = &mut hits[Trigger::ApiKey as usize];
                    if before(2)
                        .is_some_and(|p| p.starts_with(b"sk_live_") || p.starts_with(b"rk_live_"))
                    {
                        keys.push(j - 2);
                    }
                    if before(3).is_some_and(|p| p.starts_with(b"gh") && b"pousr".contains(&p[2])) {
                        keys.push(j - 3);
                    }
                    if before(6).is_some_and(|p| p.starts_with(b"github_pat_")) {
                        keys.push(j - 6);
                    }
                }
                _ => {}
            }
        }
    }
}

/// A compiled set of PII types. Built once at start-up; shared by concurrent scans.
pub struct PiiScanner {
    types: Vec<PiiType>,
    hold: crate::pii_holdback::PiiHoldback,
    digit: Vec<DigitType>,
    /// EMAIL's domain half, matched at each '@' (the local part is scanned back from it)
    email: Option<Regex>,
    ipv6: bool,
    mac: bool,
    iban: Option<Regex>,
    api_key: Option<Regex>,
    /// DATE_OF_BIRTH's date, see `context::date_regex`
    date: Option<Regex>,
    triggers: Option<Triggers>,
}

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a built-in PII pattern compiles")
}

/// A numeric type's pattern, searched across a whole digit run. Without a prefilter: one would stop
/// at every digit of the run and restart the automaton there, several times the work of the
/// automaton's single pass.
fn compile_digit(pattern: &str) -> Regex {
    Regex::builder()
        .configure(Regex::config().auto_prefilter(false))
        .build(pattern)
        .expect("a built-in PII pattern compiles")
}

impl PiiScanner {
    pub fn new(types: &[PiiType], max_holdback_chars: usize) -> PiiScanner {
        let mut unique: Vec<PiiType> = Vec::new();
        for &t in types {
            if !unique.contains(&t) {
                unique.push(t);
            }
        }
        let on = |t: PiiType| unique.contains(&t);
        let mut digit = Vec::new();
        if on(PiiType::Phone) {
            digit.push(DigitType {
                kind: PiiType::Phone,
                re: compile_digit(
                    r"(?:\+?1[ .-]?)?(?:\([2-9][0-9]{2}\)[ .-]?|[2-9][0-9]{2}[ .-])[0-9]{3}[ .-][0-9]{4}|\+[1-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,4}\)?){1,5}",
                ),
                edge: Edge::Phone,
                validate: validate::phone,
                needs: Needs::FourDigitsOrPlus,
            });
        }
        if on(PiiType::Ssn) {
            // `(?P<ssn_sep>[- ])...(?P=ssn_sep)`: the character after the area picks the branch.
            digit.push(DigitType {
                kind: PiiType::Ssn,
                re: compile_digit(r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}"),
                edge: Edge::Group,
                validate: validate::ssn,
                needs: Needs::FourDigits,
            });
        }
        if on(PiiType::CreditCard) {
            // `(?P<cc_a>[ -]?)` with its back-references: the character after the first group
            // picks the separator (the empty one only when it is a digit), in the reference's
            // priority order.
            digit.push(DigitType {
                kind: PiiType::CreditCard,
                re: compile_digit(concat!(
                    r"[0-9]{4} [0-9]{4} [0-9]{4} [0-9]{1,7}|[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{1,7}",
                    r"|[0-9]{4}[0-9]{4}[0-9]{4}[0-9]{1,7}",
                    r"|[0-9]{4} [0-9]{6} [0-9]{4,5}|[0-9]{4}-[0-9]{6}-[0-9]{4,5}|[0-9]{4}[0-9]{6}[0-9]{4,5}",
                )),
                edge: Edge::Group,
                validate: validate::card,
                needs: Needs::FourDigits,
            });
        }
        if on(PiiType::IpAddress) {
            digit.push(DigitType {
                kind: PiiType::IpAddress,
                re: compile_digit(r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}"),
                edge: Edge::Ipv4,
                validate: validate::ipv4,
                needs: Needs::ThreeDots,
            });
        }
        let triggers: Vec<Trigger> = unique.iter().filter_map(|&t| Trigger::of(t)).collect();
        PiiScanner {
            hold: crate::pii_holdback::PiiHoldback::new(types, max_holdback_chars),
            digit,
            email: on(PiiType::Email).then(|| {
                compile(
                    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}",
                )
            }),
            ipv6: on(PiiType::IpAddress),
            mac: on(PiiType::MacAddress),
            iban: on(PiiType::Iban).then(|| {
                compile(r"[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?")
            }),
            api_key: on(PiiType::ApiKey).then(|| {
                compile(concat!(
                    r"sk-(?:proj-|ant-(?:api[0-9]{2}-)?)?[A-Za-z0-9_-]{20,200}|[sr]k_live_[A-Za-z0-9]{16,200}",
                    r"|gh[pousr]_[A-Za-z0-9]{36,40}|github_pat_[A-Za-z0-9_]{22,255}",
                    r"|xox[abposr]-[A-Za-z0-9-]{10,200}|AIza[0-9A-Za-z_-]{35}",
                ))
            }),
            date: on(PiiType::DateOfBirth).then(context::date_regex),
            triggers: Triggers::new(&triggers),
            types: unique,
        }
    }

    pub fn types(&self) -> &[PiiType] {
        &self.types
    }

    /// Every match starting at or after `pos` (byte offsets into `text`), sorted by (start, end,
    /// type name) of the normalised text, without duplicates: exactly `PiiCheck.find`.
    pub fn find(&self, text: &str, pos: usize) -> Vec<(usize, usize, PiiType)> {
        let norm = normalize(text, false);
        let s: &str = &norm.text;
        let npos = norm.normalized_index(pos);
        let mut found = Found::new();
        if !self.digit.is_empty() && npos < s.len() {
            self.find_digits(s, npos, &mut found);
        }
        if let Some(domain) = &self.email {
            find_email(domain, s, npos, &mut found);
        }
        if self.ipv6 {
            find_ipv6(s, npos, &mut found);
        }
        if self.mac {
            find_mac(s, npos, &mut found);
        }
        if let Some(iban) = &self.iban {
            find_iban(iban, s, npos, &mut found);
        }
        if let Some(triggers) = &self.triggers {
            self.find_triggered(triggers, s, npos, &mut found);
        }
        found.sort_unstable_by(|a, b| (a.0, a.1, a.2.name()).cmp(&(b.0, b.1, b.2.name())));
        found.dedup();
        found
            .into_iter()
            .map(|(start, end, kind)| {
                let (start, end) = norm.original_span(start, end);
                (start, end, kind)
            })
            .collect()
    }

    /// Exactly `PiiCheck.holdback`, in byte offsets (the cap counts characters).
    pub fn holdback(&self, text: &str, pos: usize) -> usize {
        self.hold.holdback(text, pos)
    }

    /// `_find_digits`: each type's `finditer` bounded to a run of digits and separators (plus the
    /// character before it, where a phone number's "+" or "(" may sit).
    fn find_digits(&self, s: &str, npos: usize, found: &mut Found) {
        let b = s.as_bytes();
        let mut i = chars_back(s, npos, 1);
        while let Some(d) = next_digit(b, i) {
            let end = d
                + 1
                + b[d + 1..]
                    .iter()
                    .take_while(|&&c| digit_run_byte(c))
                    .count();
            // A shorter run, or any suffix of it, cannot hold a match: skip it whole.
            if end - d >= 7 {
                let lo = chars_back(s, d, 1);
                let mut four_digits = None;
                let run = &b[lo..end];
                for t in self
                    .digit
                    .iter()
                    .filter(|t| t.needs.met(run, &mut four_digits))
                {
                    for m in t.re.find_iter(Input::new(s).range(lo..end)) {
                        let span = (m.start(), m.end());
                        accept(found, s, span, npos, t.kind, t.edge, Some(t.validate));
                    }
                }
            }
            i = end;
        }
    }

    /// `_find_triggered`.
    fn find_triggered(&self, triggers: &Triggers, s: &str, npos: usize, found: &mut Found) {
        let b = s.as_bytes();
        // Context may sit before `pos`; only the value has to start at or after it.
        let lo = chars_back(s, npos, triggers.context_back);
        let mut hits = Hits::default();
        let mut scans = context::Scans::new();
        triggers.context_hits(b, lo, &mut hits);
        triggers.prefix_hits(b, npos, &mut hits);
        for &target in &[
            Trigger::Ssn,
            Trigger::DateOfBirth,
            Trigger::AwsSecret,
            Trigger::Password,
            Trigger::Url,
            Trigger::AwsAccess,
            Trigger::ApiKey,
        ] {
            let hits = &mut hits[target as usize];
            if hits.is_empty() {
                continue;
            }
            hits.sort_unstable();
            hits.dedup();
            if let Some(back) = target.context_back() {
                let first = chars_back(s, npos, back);
                for &h in hits.iter().filter(|&&h| h >= first) {
                    self.context_match(target, s, h, npos, &mut scans, found);
                }
                continue;
            }
            // Like `finditer` from `npos`: a match (kept or not) hides the triggers inside it.
            let mut done = npos;
            for &h in hits.iter() {
                if h < done {
                    continue;
                }
                let (kind, edge, end) = match target {
                    Trigger::Url => (PiiType::Url, Edge::Url, url_end(s, h)),
                    Trigger::AwsAccess => {
                        (PiiType::AwsAccessKey, Edge::Alnum, aws_access_end(b, h))
                    }
                    _ => (
                        PiiType::ApiKey,
                        Edge::ApiKey,
                        self.api_key.as_ref().and_then(|re| anchored(re, s, h)),
                    ),
                };
                if let Some(end) = end {
                    accept(found, s, (h, end), npos, kind, edge, None);
                    done = end.max(h + 1);
                }
            }
        }
    }

    fn context_match(
        &self,
        target: Trigger,
        s: &str,
        h: usize,
        npos: usize,
        scans: &mut context::Scans,
        found: &mut Found,
    ) {
        // The lead class of every context type is `[A-Za-z]`; the match starts at the word.
        if s[..h]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphabetic())
        {
            return;
        }
        let (kind, value, validate): (PiiType, _, Validator) = match target {
            Trigger::Ssn => (PiiType::Ssn, context::ssn(s, h, scans), Some(validate::ssn)),
            Trigger::DateOfBirth => (
                PiiType::DateOfBirth,
                self.date
                    .as_ref()
                    .and_then(|d| context::date_of_birth(s, h, d, scans)),
                Some(validate::date),
            ),
            Trigger::AwsSecret => (
                PiiType::AwsSecretKey,
                context::aws_secret(s, h, scans),
                Some(validate::secret),
            ),
            _ => (PiiType::Password, context::password(s, h, scans), None),
        };
        if let Some((start, end)) = value {
            if start >= npos && validate.is_none_or(|valid| valid(&s[start..end])) {
                found.push((start, end, kind));
            }
        }
    }
}

/// `_find_email`: the local part scanned back from each '@', the domain matched from it.
fn find_email(domain: &Regex, s: &str, npos: usize, found: &mut Found) {
    let b = s.as_bytes();
    let mut last_end = 0;
    for at in memchr::memchr_iter(b'@', &b[npos..]).map(|k| npos + k) {
        let mut local = at;
        while local > 0 && at - local <= 64 && email_local_byte(b[local - 1]) {
            local -= 1;
        }
        if !(1..=64).contains(&(at - local)) || local < last_end || local < npos {
            continue;
        }
        // The first label is the whole run of label characters after the '@' and ends in a '.':
        // where it cannot, the domain pattern need not run (dense '@'s, `a@a@…`).
        let label = b[at + 1..]
            .iter()
            .take(64)
            .take_while(|&&c| c.is_ascii_alphanumeric() || c == b'-')
            .count();
        if !(1..=63).contains(&label) || b.get(at + 1 + label) != Some(&b'.') {
            continue;
        }
        if let Some(end) = anchored(domain, s, at) {
            if Edge::Email.ok(s, local, end) {
                found.push((local, end, PiiType::Email));
                last_end = end;
            }
        }
    }
}

/// IPv6 (`_find_anchored` with `_COLON_ANCHOR` = `:[0-9A-Fa-f]{0,4}:`): from each anchor, back over
/// hex digits and colons (at most `max_len` = 39), then the pattern from there.
fn find_ipv6(s: &str, npos: usize, found: &mut Found) {
    let b = s.as_bytes();
    let token = |c: u8| is_hex(c) || c == b':';
    let mut i = chars_back(s, npos, 39);
    let mut done = 0;
    // Bytes [run_start, run_end) are hex digits and colons: the back-scan from an anchor reuses
    // what the one before it saw, so dense anchors cost no more than sparse ones.
    let (mut run_start, mut run_end) = (i, i);
    while run_start > 0 && token(b[run_start - 1]) && i - run_start < 39 {
        run_start -= 1;
    }
    while let Some(a) = memchr::memchr(b':', &b[i..]).map(|k| i + k) {
        let hex = b[a + 1..]
            .iter()
            .take(5)
            .take_while(|&&c| is_hex(c))
            .count();
        if hex > 4 || b.get(a + 1 + hex) != Some(&b':') {
            i = a + 1;
            continue;
        }
        i = a + hex + 2;
        if a < done {
            continue;
        }
        if let Some(q) = b[run_end..a].iter().rposition(|&c| !token(c)) {
            run_start = run_end + q + 1;
        }
        run_end = a;
        // The back-scan only crosses ASCII, so 39 characters are 39 bytes.
        let start = run_start.max(a.saturating_sub(39));
        // A hex digit or colon before the start blocks the lead edge (`[\w:]`) whatever matches:
        // inside a long run of them only the anchors near its start need the pattern.
        if start > 0 && token(b[start - 1]) {
            continue;
        }
        if let Some(end) = ipv6_end(b, start) {
            let kept = accept(
                found,
                s,
                (start, end),
                npos,
                PiiType::IpAddress,
                Edge::Ipv6,
                Some(validate::ipv6),
            );
            if kept {
                done = end;
            }
        }
    }
}

/// `(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}` at `start`. Nothing the backtracking could try
/// after a greedy step matches what that step would give back (a group can only end in a colon
/// after all the hex digits; nothing follows the last digits), so one greedy pass is the match.
fn ipv6_end(b: &[u8], start: usize) -> Option<usize> {
    let hex_run = |i: usize| b[i..].iter().take(5).take_while(|&&c| is_hex(c)).count();
    let mut end = start;
    let mut groups = 0;
    while groups < 7 {
        let hex = hex_run(end);
        if hex > 4 || b.get(end + hex) != Some(&b':') {
            break;
        }
        end += hex + 1;
        groups += 1;
    }
    (groups >= 2).then(|| end + hex_run(end).min(4))
}

/// `[0-9A-Fa-f]{2}(?P<mac_sep>[:-])(?:[0-9A-Fa-f]{2}(?P=mac_sep)){4}[0-9A-Fa-f]{2}` at `start`.
fn mac_at(b: &[u8], start: usize) -> Option<usize> {
    let m = b.get(start..start + 17)?;
    let sep = m[2];
    let ok = (sep == b':' || sep == b'-')
        && (0..6).all(|k| is_hex(m[3 * k]) && is_hex(m[3 * k + 1]))
        && (1..5).all(|k| m[3 * k + 2] == sep);
    ok.then_some(start + 17)
}

/// MAC_ADDRESS (`_find_anchored` with `_DASH_COLON_ANCHOR` = `[:-][0-9A-Fa-f]{2}[:-]`).
fn find_mac(s: &str, npos: usize, found: &mut Found) {
    let b = s.as_bytes();
    let token = |c: u8| is_hex(c) || c == b':' || c == b'-';
    let mut i = chars_back(s, npos, 17);
    let mut done = 0;
    // As in `find_ipv6`: bytes [run_start, run_end) are tokens, so the back-scans share one pass.
    let (mut run_start, mut run_end) = (i, i);
    while run_start > 0 && token(b[run_start - 1]) && i - run_start < 17 {
        run_start -= 1;
    }
    while let Some(a) = memchr::memchr2(b':', b'-', &b[i..]).map(|k| i + k) {
        let anchor = b
            .get(a + 1..a + 4)
            .is_some_and(|w| is_hex(w[0]) && is_hex(w[1]) && (w[2] == b':' || w[2] == b'-'));
        if !anchor {
            i = a + 1;
            continue;
        }
        i = a + 4;
        if a < done {
            continue;
        }
        if let Some(q) = b[run_end..a].iter().rposition(|&c| !token(c)) {
            run_start = run_end + q + 1;
        }
        run_end = a;
        let start = run_start.max(a.saturating_sub(17));
        // A token before the start blocks the lead edge (`[\w:-]`) whatever matches.
        if start > 0 && token(b[start - 1]) {
            continue;
        }
        if let Some(end) = mac_at(b, start) {
            if accept(
                found,
                s,
                (start, end),
                npos,
                PiiType::MacAddress,
                Edge::Mac,
                None,
            ) {
                done = end;
            }
        }
    }
}

/// IBAN: `finditer` from `npos`. A match starts with two capitals and two digits, so the pattern
/// runs only where those four are (found from the digits, rare in prose), leftmost first.
fn find_iban(iban: &Regex, s: &str, npos: usize, found: &mut Found) {
    let b = s.as_bytes();
    // Where the first of the two digits of the next possible start may be.
    let mut digit = npos + 2;
    while let Some(j) = next_digit(b, digit) {
        digit = j + 1;
        let four = j + 1 < b.len()
            && b[j + 1].is_ascii_digit()
            && b[j - 2].is_ascii_uppercase()
            && b[j - 1].is_ascii_uppercase();
        if !four {
            continue;
        }
        if let Some(end) = anchored(iban, s, j - 2) {
            let span = (j - 2, end);
            accept(
                found,
                s,
                span,
                npos,
                PiiType::Iban,
                Edge::Alnum,
                Some(validate::iban),
            );
            // `finditer` goes on from the end of a match, kept or not.
            digit = end + 2;
        }
    }
}

/// `(?:https?://|ftp://|www\.)[^\s<>"'`]{0,2046}[^\s<>"'`.,;:!?)\]}]` at a trigger: the greedy run
/// gives back characters until it ends in one that may end a URL.
fn url_end(s: &str, h: usize) -> Option<usize> {
    let rest = &s[h..];
    let prefix = ["https://", "http://", "ftp://", "www."]
        .into_iter()
        .find(|p| rest.starts_with(p))?;
    let b = s.as_bytes();
    let mut i = h + prefix.len();
    let mut end = None;
    // Up to 2047 characters, classified with `matches!` rather than substring searches: a match
    // spans thousands of characters, and dense triggers make one per few characters of input.
    for _ in 0..2047 {
        let c = match b.get(i) {
            None => break,
            Some(&a) if a.is_ascii() => char::from(a),
            Some(_) => s[i..].chars().next().expect("a character starts here"),
        };
        if is_space(c) || matches!(c, '<' | '>' | '"' | '\'' | '`') {
            break;
        }
        i += c.len_utf8();
        if !matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']' | '}') {
            end = Some(i);
        }
    }
    end
}

/// `A(?:KIA|SIA|...)[A-Z0-9]{16}` at a trigger.
fn aws_access_end(b: &[u8], h: usize) -> Option<usize> {
    let key = b.get(h + 4..h + 20)?;
    key.iter()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        .then_some(h + 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(types: &[PiiType], text: &str, pos: usize) -> Vec<(&'static str, String)> {
        PiiScanner::new(types, 1024)
            .find(text, pos)
            .into_iter()
            .map(|(s, e, t)| (t.name(), text[s..e].to_string()))
            .collect()
    }

    fn all(text: &str) -> Vec<(&'static str, String)> {
        found(&PiiType::ALL, text, 0)
    }

    #[test]
    fn each_type_reports_its_value() {
        for (text, kind, value) in [
            (
                "mail bob.smith+x@mail.example.co.uk now",
                "EMAIL",
                "bob.smith+x@mail.example.co.uk",
            ),
            ("call (555) 123-4567 today", "PHONE", "(555) 123-4567"),
            ("ring +44 20 7946 0958 now", "PHONE", "+44 20 7946 0958"),
            ("my SSN is 123456789.", "SSN", "123456789"),
            (
                "amex 3782 822463 10005 ok",
                "CREDIT_CARD",
                "3782 822463 10005",
            ),
            (
                "v6 2001:db8::8a2e:370:7334 up",
                "IP_ADDRESS",
                "2001:db8::8a2e:370:7334",
            ),
            (
                "date of birth: 3rd of May 1970",
                "DATE_OF_BIRTH",
                "3rd of May 1970",
            ),
            (
                "nic 00-1a-2b-3c-4d-5e up",
                "MAC_ADDRESS",
                "00-1a-2b-3c-4d-5e",
            ),
            (
                "see https://example.com/a?b=1. next",
                "URL",
                "https://example.com/a?b=1",
            ),
            (
                "iban GB82 WEST 1234 5698 7654 32 ok",
                "IBAN",
                "GB82 WEST 1234 5698 7654 32",
            ),
            (
                "key AKIAIOSFODNN7EXAMPLE ok",
                "AWS_ACCESS_KEY",
                "AKIAIOSFODNN7EXAMPLE",
            ),
            (
                "key xoxb-1234567890-abcdefghij ok",
                "API_KEY",
                "xoxb-1234567890-abcdefghij",
            ),
            ("my passwd is 'letmein'", "PASSWORD", "letmein"),
        ] {
            assert!(all(text).contains(&(kind, value.to_string())), "{text}");
        }
    }

    #[test]
    fn near_misses_are_not_reported() {
        for text in [
            "order 5551234567 shipped",
            "ssn 123-45-0000",
            "card 4111 1111 1111 1112 fails luhn",
            "time 10:30:45 and C++ std::vector",
            "version 1.2.3.4.5",
            "meeting on 2024-01-02 at noon",
            "the word password alone",
        ] {
            assert_eq!(all(text), vec![], "{text}");
        }
    }

    #[test]
    fn context_before_pos_counts_and_output_is_in_span_order() {
        let text = "SSN: 123456789 and 234-56-7890";
        assert_eq!(
            found(&PiiType::ALL, text, 5),
            [("SSN", "123456789".into()), ("SSN", "234-56-7890".into())]
        );
        assert_eq!(
            found(&PiiType::ALL, text, 6),
            [("SSN", "234-56-7890".into())]
        );
        // In span order, whatever order the scanners found them in.
        let kinds: Vec<_> = all("10.0.0.1 and +1 555 123 4567 or a@b.co")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(kinds, ["IP_ADDRESS", "PHONE", "EMAIL"]);
    }

    #[test]
    fn next_digit_agrees_with_a_plain_search() {
        let text = "ab\u{e9}cdefghijklmnop\u{661}qrs/:;9xyz\u{ff10}abcdefgh0".as_bytes();
        for from in 0..=text.len() {
            let plain = text[from..]
                .iter()
                .position(u8::is_ascii_digit)
                .map(|k| from + k);
            assert_eq!(next_digit(text, from), plain, "{from}");
        }
    }

    #[test]
    fn ipv6_takes_every_group_it_can_then_four_digits() {
        fn end(s: &str) -> Option<&str> {
            ipv6_end(s.as_bytes(), 0).map(|e| &s[..e])
        }
        assert_eq!(end("1:2:3:4:5:6:7:8:9"), Some("1:2:3:4:5:6:7:8"));
        assert_eq!(end("::12345"), Some("::1234"));
        assert_eq!(end("12345::1"), None);
        assert_eq!(end("a:b"), None);
        assert_eq!(end("fe80::1%eth0"), Some("fe80::1"));
    }

    #[test]
    fn a_url_gives_back_trailing_punctuation() {
        let s = "(see http://a.b/c?d=(e)).";
        assert_eq!(url_end(s, 5).map(|e| &s[5..e]), Some("http://a.b/c?d=(e"));
        assert_eq!(url_end("www.,;", 0), None);
    }
}
