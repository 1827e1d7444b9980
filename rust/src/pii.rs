//! PII detection: every type with its validators, exact spans, and the stream hold-back. Linear in
//! the input for every rule.
//!
//! All offsets are UTF-8 byte offsets into the original text. Matching runs on the normalised text
//! (`crate::normalize::normalize_pii`: NFKC, digits of every script as ASCII, every dash `-`), and
//! spans are mapped back at the end.
//!
//! Cheap anchors first ('@', digit runs, `:`/`-`/`.` pairs, context words near digits, literal
//! prefixes), then the rule at each anchor, then edge checks and validators: digit groups parsed by
//! hand (`numeric.rs`), the context types (`context.rs`), e-mail domains, URLs, MAC addresses,
//! IPv6 and IBAN by hand here, the SECRET family in `crate::secret`, IPv4 on `regex-automata`. Every
//! rule is bounded in length and runs only at an anchor, so each input character costs a bounded
//! amount of work.

pub(crate) mod context;
mod digits;
mod numeric;
mod validate;

use aho_corasick::{packed, AhoCorasick, AhoCorasickKind, MatchKind};
use regex_automata::meta::Regex;
use regex_automata::Input;

use self::digits::Run;
use crate::normalize::normalize_pii;
use crate::secret::{SecretScanner, SecretType};
use crate::unicode::is_space;

/// The letters, digits and `_` of ASCII: what glues a value to its neighbours. Letters of other
/// scripts never do, so a value written straight after CJK or Thai text is found.
fn ascii_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

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
    PrivateKey,
    Jwt,
    UrlCredentials,
    GenericSecret,
}

impl PiiType {
    pub const ALL: [PiiType; 17] = [
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
        PiiType::PrivateKey,
        PiiType::Jwt,
        PiiType::UrlCredentials,
        PiiType::GenericSecret,
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
            PiiType::PrivateKey => "PRIVATE_KEY",
            PiiType::Jwt => "JWT",
            PiiType::UrlCredentials => "URL_CREDENTIALS",
            PiiType::GenericSecret => "GENERIC_SECRET",
        }
    }

    /// The SECRET family's types are found by `crate::secret`.
    pub fn secret(self) -> Option<SecretType> {
        SecretType::from_name(self.name())
    }

    fn of_secret(t: SecretType) -> PiiType {
        PiiType::from_name(t.name()).expect("every secret type is a PII type")
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
    /// IPv4: `[\w.]` before, `[\w]|\.[0-9]` after
    Ipv4,
    /// IPv6: `[\w:]` on both sides
    Ipv6,
    /// MAC_ADDRESS: `[\w:-]` on both sides
    Mac,
    /// URL: `[\w@./]` before, anything after
    Url,
    /// IBAN: `[A-Za-z0-9]` on both sides
    Alnum,
}

impl Edge {
    fn lead_blocked(self, c: char) -> bool {
        match self {
            Edge::Email => c.is_ascii_alphanumeric() || "._%+-".contains(c),
            Edge::Ipv4 => ascii_word(c) || c == '.',
            Edge::Ipv6 => ascii_word(c) || c == ':',
            Edge::Mac => ascii_word(c) || c == ':' || c == '-' || c == '.',
            Edge::Url => ascii_word(c) || "@./".contains(c),
            Edge::Alnum => c.is_ascii_alphanumeric(),
        }
    }

    fn trail_blocked(self, s: &str, end: usize) -> bool {
        let Some(c) = s[end..].chars().next() else {
            return false;
        };
        match self {
            Edge::Email => c.is_ascii_alphanumeric() || c == '-',
            Edge::Ipv4 => {
                let next = s.as_bytes().get(end + 1).copied();
                // `2.1.0.4-rc1`, `1.2.3.4+build` are versions; `10.0.0.1-10.0.0.9` a range.
                ascii_word(c)
                    || (c == '.' && next.is_some_and(|n| n.is_ascii_digit()))
                    || (c == '-' && next.is_some_and(|n| n.is_ascii_alphabetic()))
                    || c == '+'
            }
            Edge::Url => false,
            // `a[4-1::-1]` is a slice.
            Edge::Ipv6 => {
                let next = s.as_bytes().get(end + 1).copied();
                self.lead_blocked(c) || (c == '-' && next.is_some_and(|n| n.is_ascii_digit()))
            }
            // A sentence's full stop or a list's dash may follow an address; another group may not.
            Edge::Mac => {
                let next = s.as_bytes().get(end + 1).copied();
                ascii_word(c) || (matches!(c, ':' | '-' | '.') && next.is_some_and(is_hex))
            }
            _ => self.lead_blocked(c),
        }
    }

    /// `_Compiled.edges_ok`.
    fn ok(self, s: &str, start: usize, end: usize) -> bool {
        let mut before = s[..start].chars().rev();
        let lead_blocked = match (self, before.next()) {
            (_, None) => false,
            // `IP:2001:db8::1`, `アドレス:82:44:…`: a label's colon, not a group of the address.
            (Edge::Ipv6, Some(':')) => before.next().is_some_and(|c| is_hex_char(c) || c == ':'),
            (Edge::Mac, Some(':')) => before
                .next()
                .is_some_and(|c| is_hex_char(c) || matches!(c, ':' | '-' | '.')),
            (_, Some(c)) => self.lead_blocked(c),
        };
        !lead_blocked && !self.trail_blocked(s, end)
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

/// The runs ending after `from`, the one containing it clipped to start there.
fn runs_from(runs: &[Run], from: usize) -> impl Iterator<Item = Run> + '_ {
    let k = runs.partition_point(|r| r.end <= from);
    runs[k..].iter().map(move |r| Run {
        start: r.start.max(from),
        end: r.end,
    })
}

fn is_hex_char(c: char) -> bool {
    c.is_ascii_hexdigit()
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

/// A numeric type searched inside digit runs.
struct DigitType {
    kind: PiiType,
    re: Regex,
    edge: Edge,
    validate: fn(&str) -> bool,
}

/// What a trigger-automaton hit can start.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    Ssn,
    DateOfBirth,
    Url,
}

const TRIGGER_KINDS: usize = 3;

impl Trigger {
    /// The context words (lower-case; matched in every ASCII case) of a context type.
    fn context_words(self) -> &'static [&'static str] {
        match self {
            Trigger::Ssn => &["ssn", "social"],
            Trigger::DateOfBirth => &context::DOB_WORDS,
            Trigger::Url => &[],
        }
    }

    /// A context type's `max_len`: how far before `pos` its context word may start.
    fn context_back(self) -> Option<usize> {
        match self {
            Trigger::Ssn => Some(60),
            Trigger::DateOfBirth => Some(80),
            Trigger::Url => None,
        }
    }

    fn of(kind: PiiType) -> Option<Trigger> {
        match kind {
            PiiType::Ssn => Some(Trigger::Ssn),
            PiiType::DateOfBirth => Some(Trigger::DateOfBirth),
            PiiType::Url => Some(Trigger::Url),
            _ => None,
        }
    }
}

/// Where the context and prefix-led patterns can start: context words (every context type rejects a
/// match glued to a letter before it, so only word starts count) and the literal prefixes of URLs.
struct Triggers {
    /// the enabled context types' words, and the capitalised spelling of those beyond ASCII
    /// (`Né`, `Родился`), with their type; compared in every ASCII case
    words: Vec<(String, Trigger)>,
    /// those words, in every ASCII case
    finder: Option<AhoCorasick>,
    /// the same search on Teddy (SIMD), when available: the distinct words in ASCII lower case, in
    /// the same order, over an ASCII-lower-cased copy of each window (several times faster than the
    /// automaton, which checks every byte)
    lower: Option<packed::Searcher>,
    /// the largest `context_back` of the enabled context types
    context_back: usize,
    url: bool,
}

type Hits = [Vec<usize>; TRIGGER_KINDS];

impl Triggers {
    fn new(enabled: &[Trigger]) -> Option<Triggers> {
        if enabled.is_empty() {
            return None;
        }
        let mut words: Vec<(String, Trigger)> = Vec::new();
        for &t in enabled {
            for &w in t.context_words() {
                words.push((w.to_string(), t));
                let mut chars = w.chars();
                let capital: String = chars
                    .next()
                    .into_iter()
                    .flat_map(char::to_uppercase)
                    .chain(chars)
                    .collect();
                if !w.is_ascii() && capital != w {
                    words.push((capital, t));
                }
            }
        }
        let finder = (!words.is_empty()).then(|| {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostFirst)
                .kind(Some(AhoCorasickKind::DFA))
                .build(words.iter().map(|(w, _)| w))
                .expect("the context words build an automaton")
        });
        let mut lowered: Vec<Vec<u8>> = Vec::new();
        for (w, _) in &words {
            let low = w.as_bytes().to_ascii_lowercase();
            if !lowered.contains(&low) {
                lowered.push(low);
            }
        }
        let lower = (!lowered.is_empty() && lowered.len() <= 64)
            .then(|| {
                packed::Config::new()
                    .match_kind(packed::MatchKind::LeftmostFirst)
                    .builder()
                    .extend(&lowered)
                    .build()
            })
            .flatten();
        let context_back = enabled
            .iter()
            .filter_map(|t| t.context_back())
            .max()
            .unwrap_or(0);
        let on = |t: Trigger| enabled.iter().any(|&e| e as usize == t as usize);
        Some(Triggers {
            words,
            finder,
            lower,
            context_back,
            url: on(Trigger::Url),
        })
    }

    /// The starts of the (leftmost-first, non-overlapping) context words in `window`, into `starts`.
    fn word_starts(
        &self,
        finder: &AhoCorasick,
        window: &[u8],
        lowered: &mut Vec<u8>,
        starts: &mut Vec<usize>,
    ) {
        starts.clear();
        match &self.lower {
            Some(teddy) => {
                lowered.clear();
                lowered.extend(window.iter().map(u8::to_ascii_lowercase));
                starts.extend(teddy.find_iter(lowered).map(|m| m.start()));
            }
            None => starts.extend(finder.find_iter(window).map(|m| m.start())),
        }
    }

    /// Context-word starts in the windows where a context type's value can be. Each value holds,
    /// within `context_back` characters of its word's start, four digits in a row (nine digits
    /// after `ssn`; a date's year, `1990年`) or digits joined by two of `-/.` (`1/2/90`): words are
    /// looked for only in the `context_back` characters before such an anchor at or after `npos`,
    /// which in prose and in code is a small part of the text.
    fn context_hits_near_digits(
        &self,
        s: &str,
        lo: usize,
        npos: usize,
        runs: &[Run],
        hits: &mut Hits,
    ) {
        let Some(finder) = &self.finder else {
            return;
        };
        let b = s.as_bytes();
        let digits_from = |i: usize| b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let joined = |e: usize| {
            matches!(b.get(e), Some(b'-' | b'/' | b'.'))
                && b.get(e + 1).is_some_and(u8::is_ascii_digit)
        };
        let (mut lowered, mut starts) = (Vec::new(), Vec::new());
        // Words starting in `[from, before)`; the longest spans 21 bytes (`जन्मदिन`).
        let mut scan = |from: usize, before: usize, hits: &mut Hits| {
            let end = (before + 32).min(b.len());
            self.word_starts(finder, &b[from..end], &mut lowered, &mut starts);
            for &start in &starts {
                let at = from + start;
                if at >= before {
                    break;
                }
                if at > 0 && b[at - 1].is_ascii_alphabetic() {
                    continue;
                }
                // Every word starting here (`birth` and `birthday`, `né` and `née`).
                for (w, t) in &self.words {
                    if b[at..].len() >= w.len()
                        && b[at..at + w.len()].eq_ignore_ascii_case(w.as_bytes())
                    {
                        hits[*t as usize].push(at);
                    }
                }
            }
        };
        // Anchors closer together than `context_back` bytes share one window.
        let mut window: Option<(usize, usize)> = None;
        for Run { start: d, end: e } in runs_from(runs, npos) {
            if !(e - d >= 4 || (joined(e) && joined(e + 1 + digits_from(e + 1)))) {
                continue;
            }
            window = match window {
                Some((from, last)) if d - last <= self.context_back => Some((from, d)),
                Some((from, last)) => {
                    scan(from, last, hits);
                    Some((chars_back(s, d, self.context_back).max(lo), d))
                }
                None => Some((chars_back(s, d, self.context_back).max(lo), d)),
            };
        }
        if let Some((from, last)) = window {
            scan(from, last, hits);
        }
    }

    /// Every literal-prefix occurrence starting at or after `npos`.
    fn prefix_hits(&self, b: &[u8], npos: usize, hits: &mut Hits) {
        if self.url {
            let urls = &mut hits[Trigger::Url as usize];
            for j in memchr::memmem::find_iter(&b[npos..], b"://").map(|k| npos + k) {
                let scheme = [&b"https"[..], b"http", b"ftp"]
                    .into_iter()
                    .find(|p| j >= npos + p.len() && b[j - p.len()..j].eq_ignore_ascii_case(p));
                urls.extend(scheme.map(|p| j - p.len()));
            }
            // Schemes and `www.` in any case (`HTTPS://`, `WWW.`).
            for dot in memchr::memchr_iter(b'.', &b[npos..]).map(|k| npos + k) {
                if dot >= npos + 3 && b[dot - 3..dot].eq_ignore_ascii_case(b"www") {
                    urls.push(dot - 3);
                }
            }
            urls.sort_unstable();
        }
    }
}

/// A compiled set of PII types. Built once at start-up; shared by concurrent scans.
/// The policy knobs of the debatable IP_ADDRESS families (both on by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiiOptions {
    /// Special-purpose addresses (`0.0.0.0`, `127.0.0.1`, `::1`, documentation ranges) are not PII.
    pub ip_exclude_special: bool,
    /// A four-part number written as a version (`urllib3-1.19.5.145`, `version 2.28.9.178`,
    /// `==1.2.3.4`) is not an address.
    pub ip_exclude_versions: bool,
}

impl Default for PiiOptions {
    fn default() -> PiiOptions {
        PiiOptions {
            ip_exclude_special: true,
            ip_exclude_versions: true,
        }
    }
}

/// Whether the IPv4-shaped value at `start` is written as a version: glued to a name by `-`
/// (`urllib3-1.19.5.145`), after a version specifier (`==`, `>=`, `~=`…), or after a version word
/// (`version 2.28.9.178`, `build: 2.17.8.201`).
fn ipv4_is_version(s: &str, start: usize) -> bool {
    let before = &s.as_bytes()[..start];
    if let [.., c, b'-'] = before {
        if c.is_ascii_alphanumeric() {
            return true;
        }
    }
    if [&b"=="[..], b">=", b"<=", b"~=", b"!=", b"^", b"~"]
        .iter()
        .any(|op| before.ends_with(op))
    {
        return true;
    }
    let trimmed = before.trim_ascii_end();
    let trimmed = trimmed
        .strip_suffix(b":")
        .or_else(|| trimmed.strip_suffix(b"="))
        .unwrap_or(trimmed)
        .trim_ascii_end();
    let word_len = trimmed
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let word = &trimmed[trimmed.len() - word_len..];
    [
        "version", "ver", "v", "build", "release", "rev", "revision", "firmware", "fw",
    ]
    .iter()
    .any(|w| word.eq_ignore_ascii_case(w.as_bytes()))
}

pub struct PiiScanner {
    types: Vec<PiiType>,
    options: PiiOptions,
    phone: bool,
    ssn: bool,
    card: bool,
    /// the SECRET family (`crate::secret`)
    secret: Option<SecretScanner>,
    hold: crate::pii_holdback::PiiHoldback,
    digit: Vec<DigitType>,
    /// EMAIL's domain half, matched at each '@' (the local part is scanned back from it)
    email: bool,
    ipv6: bool,
    mac: bool,
    iban: bool,
    /// DATE_OF_BIRTH's date, see `context::date_regex`
    date: Option<Regex>,
    triggers: Option<Triggers>,
}

/// The longest e-mail domain (DNS: at most 253 characters).
pub(crate) const EMAIL_DOMAIN_MAX: usize = 253;

/// What a character is to an e-mail domain label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LabelChar {
    Letter,
    Digit,
    Mark,
    Dash,
}

/// Letters, digits and marks of every script (IDN) and the dash: ASCII by table, the rest by the
/// standard library's Unicode tables (`Alphabetic`, `Numeric`) and the combining marks.
fn label_char(c: char) -> Option<LabelChar> {
    match c {
        'a'..='z' | 'A'..='Z' => Some(LabelChar::Letter),
        '0'..='9' => Some(LabelChar::Digit),
        '-' => Some(LabelChar::Dash),
        _ if c.is_ascii() => None,
        _ if crate::unicode::continues_cluster(c) => Some(LabelChar::Mark),
        _ if c.is_alphabetic() => Some(LabelChar::Letter),
        _ if c.is_numeric() => Some(LabelChar::Digit),
        _ => None,
    }
}

/// The end of the e-mail domain after the `@` at `at`, if there is one: labels of letters, marks
/// and digits of any script and `-` (IDN; 1 to 63 characters, starting with a letter or digit, not
/// ending with `-`), joined by single dots, at least two; the last one a top-level domain: ASCII
/// letters, punycode (`xn--`) or letters of another script (`.рф`). Where the last label cannot be
/// a top-level domain the domain ends at the last one that can (`a@b.com.x1` is `a@b.com`).
fn email_domain_end(s: &str, at: usize) -> Option<usize> {
    let mut i = at + 1;
    let mut labels = 0;
    let mut domain_chars = 0;
    let mut best = None;
    let mut kinds = Vec::new();
    loop {
        kinds.clear();
        let mut end = i;
        let mut script = None;
        for (k, c) in s[i..].char_indices() {
            let Some(kind) = label_char(c) else { break };
            if *script.get_or_insert(spaceless(c)) != spaceless(c) {
                break;
            }
            kinds.push(kind);
            end = i + k + c.len_utf8();
            if kinds.len() > 63 {
                return best;
            }
        }
        let (Some(&first), Some(&last)) = (kinds.first(), kinds.last()) else {
            return best;
        };
        domain_chars += kinds.len() + usize::from(labels > 0);
        if domain_chars > EMAIL_DOMAIN_MAX
            || !matches!(first, LabelChar::Letter | LabelChar::Digit)
            || last == LabelChar::Dash
        {
            return best;
        }
        labels += 1;
        if labels >= 2 && is_tld(&s[i..end], &kinds) {
            best = Some(end);
        }
        if s.as_bytes().get(end) != Some(&b'.') {
            return best;
        }
        i = end + 1;
    }
}

/// A top-level domain: 2 to 63 ASCII letters, `xn--` and punycode, or a letter of any script
/// followed by letters and marks.
fn is_tld(label: &str, kinds: &[LabelChar]) -> bool {
    if let Some(puny) = label.strip_prefix("xn--") {
        return !puny.is_empty() && puny.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-');
    }
    kinds.len() >= 2
        && kinds[0] == LabelChar::Letter
        && kinds[1..]
            .iter()
            .all(|&k| matches!(k, LabelChar::Letter | LabelChar::Mark))
}

/// The language of IBAN-shaped values, in either case, grouped by spaces or dashes: what the
/// hold-back keeps open. `find_iban` takes the country's exact length out of it.
pub(crate) const IBAN: &str =
    r"[A-Za-z]{2}[0-9]{2}(?:[ -]?[A-Za-z0-9]{4}){2,7}(?:[ -]?[A-Za-z0-9]{1,3})?";

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
        PiiScanner::with_options(types, max_holdback_chars, PiiOptions::default())
    }

    pub fn with_options(
        types: &[PiiType],
        max_holdback_chars: usize,
        options: PiiOptions,
    ) -> PiiScanner {
        let mut unique: Vec<PiiType> = Vec::new();
        for &t in types {
            if !unique.contains(&t) {
                unique.push(t);
            }
        }
        let on = |t: PiiType| unique.contains(&t);
        let mut digit = Vec::new();
        if on(PiiType::IpAddress) {
            digit.push(DigitType {
                kind: PiiType::IpAddress,
                re: compile_digit(r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}"),
                edge: Edge::Ipv4,
                validate: validate::ipv4,
            });
        }
        let triggers: Vec<Trigger> = unique.iter().filter_map(|&t| Trigger::of(t)).collect();
        let secrets: Vec<SecretType> = unique.iter().filter_map(|t| t.secret()).collect();
        PiiScanner {
            hold: crate::pii_holdback::PiiHoldback::new(types, max_holdback_chars),
            phone: on(PiiType::Phone),
            ssn: on(PiiType::Ssn),
            card: on(PiiType::CreditCard),
            secret: (!secrets.is_empty()).then(|| SecretScanner::new(&secrets)),
            digit,
            email: on(PiiType::Email),
            ipv6: on(PiiType::IpAddress),
            mac: on(PiiType::MacAddress),
            iban: on(PiiType::Iban),
            date: on(PiiType::DateOfBirth).then(context::date_regex),
            triggers: Triggers::new(&triggers),
            types: unique,
            options,
        }
    }

    pub fn types(&self) -> &[PiiType] {
        &self.types
    }

    /// Every match starting at or after `pos` (byte offsets into `text`), sorted by (start, end,
    /// type name) of the normalised text, without duplicates: exactly `PiiCheck.find`.
    pub fn find(&self, text: &str, pos: usize) -> Vec<(usize, usize, PiiType)> {
        let norm = normalize_pii(text);
        let s: &str = &norm.text;
        let npos = norm.normalized_index(pos);
        let mut found = Found::new();
        if let Some(secret) = &self.secret {
            let mut secrets = Vec::new();
            secret.find(s, npos, &mut secrets);
            found.extend(
                secrets
                    .into_iter()
                    .map(|(a, b, t)| (a, b, PiiType::of_secret(t))),
            );
        }
        let numeric = self.phone || self.ssn || self.card || !self.digit.is_empty();
        let context = self.triggers.as_ref().is_some_and(|t| t.finder.is_some());
        // Context words and a phone's `(` or `+` sit before `npos`; values are kept from it on.
        let runs = if numeric || context || self.iban {
            digits::digit_runs(s.as_bytes(), chars_back(s, npos, 1))
        } else {
            Vec::new()
        };
        if numeric && npos < s.len() {
            self.find_digits(s, npos, &runs, &mut found);
        }
        if self.email {
            find_email(s, npos, &mut found);
        }
        if self.ipv6 {
            find_ipv6(s, npos, &mut found);
        }
        if self.mac {
            find_mac(s, npos, &mut found);
            find_mac_dotted(s, npos, &mut found);
        }
        if self.iban {
            find_iban(s, npos, &runs, &mut found);
        }
        if let Some(triggers) = &self.triggers {
            self.find_triggered(triggers, s, npos, &runs, &mut found);
        }
        if self.options
            != (PiiOptions {
                ip_exclude_special: false,
                ip_exclude_versions: false,
            })
        {
            found.retain(|&(a, z, kind)| kind != PiiType::IpAddress || !self.ip_excluded(s, a, z));
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

    /// Whether the options drop the address at `s[a..z]` (normalised text).
    fn ip_excluded(&self, s: &str, a: usize, z: usize) -> bool {
        let value = &s[a..z];
        (self.options.ip_exclude_special && validate::ip_special(value))
            || (self.options.ip_exclude_versions && !value.contains(':') && ipv4_is_version(s, a))
    }

    /// Exactly `PiiCheck.holdback`, in byte offsets (the cap counts characters).
    pub fn holdback(&self, text: &str, pos: usize) -> usize {
        self.hold.holdback(text, pos)
    }

    /// `_find_digits`: each type's `finditer` bounded to a run of digits and separators (plus the
    /// character before it, where a phone number's "+" or "(" may sit).
    fn find_digits(&self, s: &str, npos: usize, runs: &[Run], found: &mut Found) {
        let b = s.as_bytes();
        let mut digits = Vec::new();
        let mut seps = Vec::new();
        let mut k = 0;
        while k < runs.len() {
            // The digit groups joined by separators (`[0-9 ().+/:-]`) into one run, and the
            // separators after the last.
            let first = k;
            while k + 1 < runs.len()
                && b[runs[k].end..runs[k + 1].start]
                    .iter()
                    .all(|&c| digit_run_byte(c))
            {
                k += 1;
            }
            let groups = &runs[first..=k];
            k += 1;
            let d = groups[0].start;
            let last = groups[groups.len() - 1].end;
            let end = last + b[last..].iter().take_while(|&&c| digit_run_byte(c)).count();
            // A run with fewer than seven digits (the shortest phone number; an IPv4 address has
            // at least seven characters, four of them digits), or any suffix of it, cannot hold a
            // match: skip it whole. Code indents with runs of spaces that hold a digit or two.
            let run_digits: usize = groups.iter().map(|g| g.len()).sum();
            let enough = run_digits >= 7 || (run_digits >= 4 && !self.digit.is_empty());
            if end - d >= 7 && enough {
                let lo = chars_back(s, d, 1);
                // IPv4's three dots: a run of short groups holds none.
                let dots = memchr::memchr_iter(b'.', &b[lo..end]).nth(2).is_some();
                for t in self.digit.iter().filter(|_| dots) {
                    for m in t.re.find_iter(Input::new(s).range(lo..end)) {
                        let span = (m.start(), m.end());
                        accept(found, s, span, npos, t.kind, t.edge, Some(t.validate));
                    }
                }
                // A value starting before `npos` was reported before: it is consumed, not kept.
                let keep = |found: &mut Found, start: usize, end: usize, kind: PiiType| {
                    if start >= npos {
                        found.push((start, end, kind));
                    }
                    true
                };
                if self.phone {
                    // No phone word before or inside the run: no start needs one looked up.
                    let words = std::cell::OnceCell::new();
                    let words = || *words.get_or_init(|| numeric::phone_context_in(b, lo, end));
                    numeric::find_phone(
                        b,
                        groups,
                        &mut digits,
                        &mut seps,
                        words,
                        |at| words() && numeric::phone_context(s, at),
                        |a, z| keep(found, a, z, PiiType::Phone),
                    );
                }
                if self.ssn {
                    numeric::find_ssn(b, groups, |a, z| {
                        validate::ssn(&s[a..z]) && keep(found, a, z, PiiType::Ssn)
                    });
                }
                if self.card {
                    numeric::find_card(b, groups, &mut digits, |a, z| {
                        keep(found, a, z, PiiType::CreditCard)
                    });
                }
            }
        }
    }

    /// `_find_triggered`.
    fn find_triggered(
        &self,
        triggers: &Triggers,
        s: &str,
        npos: usize,
        runs: &[Run],
        found: &mut Found,
    ) {
        let b = s.as_bytes();
        // Context may sit before `pos`; only the value has to start at or after it.
        let lo = chars_back(s, npos, triggers.context_back);
        let mut hits = Hits::default();
        let mut scans = context::Scans::new();
        triggers.context_hits_near_digits(s, lo, npos, runs, &mut hits);
        // A URL starting before `npos` was reported before; it still hides the triggers inside
        // it (as in a scan from the start), so prefixes are looked for one URL length earlier.
        let url_from = chars_back(s, npos, 2054);
        triggers.prefix_hits(b, url_from, &mut hits);
        for &target in &[Trigger::Ssn, Trigger::DateOfBirth, Trigger::Url] {
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
            let mut done = url_from;
            for &h in hits.iter() {
                if h < done {
                    continue;
                }
                if let Some(end) = url_end(s, h) {
                    accept(found, s, (h, end), npos, PiiType::Url, Edge::Url, None);
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
            Trigger::Url => return,
        };
        if let Some((start, end)) = value {
            if start >= npos && validate.is_none_or(|valid| valid(&s[start..end])) {
                found.push((start, end, kind));
            }
        }
    }
}

/// The start of the e-mail local part before the `@` at `at`: 1 to 64 characters of
/// `[A-Za-z0-9._%+-]` and letters, marks and digits of other scripts (SMTPUTF8), not crossing from
/// a script written without spaces into another one (`メールはgsato@…`, `连络我example@…`).
fn email_local_start(s: &str, at: usize) -> Option<usize> {
    let mut local = at;
    let mut script = None;
    for (n, c) in s[..at].chars().rev().enumerate() {
        let ok = if c.is_ascii() {
            email_local_byte(c as u8)
        } else {
            label_char(c).is_some_and(|k| k != LabelChar::Dash)
        };
        if !ok || *script.get_or_insert(spaceless(c)) != spaceless(c) {
            break;
        }
        if n == 64 {
            return None;
        }
        local -= c.len_utf8();
    }
    (local < at).then_some(local)
}

/// `_find_email`: the local part scanned back from each '@', the domain matched from it.
fn find_email(s: &str, npos: usize, found: &mut Found) {
    let b = s.as_bytes();
    let mut last_end = 0;
    // An address starting before `npos` was reported before; it still hides those that start
    // inside it (as in a scan from the start), so the scan begins one address length earlier.
    let from = chars_back(s, npos, 65 + EMAIL_DOMAIN_MAX);
    for at in memchr::memchr_iter(b'@', &b[from..]).map(|k| from + k) {
        let Some(local) = email_local_start(s, at) else {
            continue;
        };
        if local < last_end {
            continue;
        }
        // The first label is the whole run of label characters after the '@' and ends in a '.':
        // where it cannot, the domain pattern need not run (dense '@'s, `a@a@…`).
        let label = b[at + 1..]
            .iter()
            .take(253)
            .take_while(|&&c| c.is_ascii_alphanumeric() || c == b'-' || c >= 0x80)
            .count();
        if !(1..=252).contains(&label) || b.get(at + 1 + label) != Some(&b'.') {
            continue;
        }
        if let Some(end) = email_domain_end(s, at) {
            if Edge::Email.ok(s, local, end) {
                if local >= npos {
                    found.push((local, end, PiiType::Email));
                }
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
        let mut start = run_start.max(a.saturating_sub(39));
        // `IP:2001:…`: the run starts with a label's colon (a single one, after a non-hex letter).
        let label_colon = b[start] == b':'
            && b.get(start + 1) != Some(&b':')
            && start > 0
            && !token(b[start - 1]);
        start += usize::from(label_colon);
        // A hex digit or colon before the start blocks the lead edge (`[\w:]`) whatever matches:
        // inside a long run of them only the anchors near its start need the pattern.
        if start > 0 && token(b[start - 1]) && !label_colon {
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
        let mut start = run_start.max(a.saturating_sub(17));
        // As in `find_ipv6`: a label's colon (`アドレス:82:44:…`) before the first group.
        let label_colon =
            b[start] == b':' && start > 0 && !token(b[start - 1]) && b[start - 1] != b'.';
        start += usize::from(label_colon);
        // A token before the start blocks the lead edge (`[\w:-]`) whatever matches.
        if start > 0 && token(b[start - 1]) && !label_colon {
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

/// Cisco's dotted MAC_ADDRESS, `0011.2233.44ab`: three groups of four hex digits, at least one of
/// them a letter (twelve decimal digits in dotted fours are a number, not an address).
fn find_mac_dotted(s: &str, npos: usize, found: &mut Found) {
    let b = s.as_bytes();
    let hex4 = |i: usize| {
        b.get(i..i + 4)
            .is_some_and(|w| w.iter().all(|&c| is_hex(c)))
    };
    for dot in memchr::memchr_iter(b'.', b).filter(|&d| d >= 4) {
        let start = dot - 4;
        let end = start + 14;
        let ok = start >= npos
            && b.get(dot + 5) == Some(&b'.')
            && hex4(start)
            && hex4(dot + 1)
            && hex4(dot + 6)
            && b[start..end].iter().any(u8::is_ascii_alphabetic);
        if ok {
            accept(
                found,
                s,
                (start, end),
                npos,
                PiiType::MacAddress,
                Edge::Mac,
                None,
            );
        }
    }
}

/// IBAN: two letters and two digits (found from the digit runs, rare in prose), then exactly as
/// many letters and digits as the country's IBAN has, in groups of four that a space or a dash may
/// separate (`IBAN` is the language the hold-back keeps open). A value that runs on into more
/// letters or digits is not an IBAN: the country fixes the length, so no shorter value is tried.
fn find_iban(s: &str, npos: usize, runs: &[Run], found: &mut Found) {
    let b = s.as_bytes();
    // The first of the two digits of the next possible start: the first digit of a run (a run
    // clipped at the bound starts after a digit and fails the letter test).
    let mut from = npos + 2;
    for Run { start: j, .. } in runs_from(runs, npos + 2) {
        let four = j >= from
            && j + 1 < b.len()
            && b[j + 1].is_ascii_digit()
            && b[j - 2].is_ascii_alphabetic()
            && b[j - 1].is_ascii_alphabetic();
        if !four {
            continue;
        }
        let Some(end) = iban_end(b, j - 2) else {
            continue;
        };
        let kept = accept(
            found,
            s,
            (j - 2, end),
            npos,
            PiiType::Iban,
            Edge::Alnum,
            Some(validate::iban),
        );
        if kept {
            from = end;
        }
    }
}

/// The end of the IBAN-shaped value at `start` (two letters, two digits there): the country's
/// length in letters and digits, after the first four in groups of four (the last one shorter),
/// each group after at most one space or dash.
fn iban_end(b: &[u8], start: usize) -> Option<usize> {
    let len = validate::iban_length([b[start], b[start + 1]])?;
    let mut i = start + 4;
    let mut left = len - 4;
    while left > 0 {
        i += usize::from(matches!(b.get(i), Some(b' ' | b'-')));
        let group = left.min(4);
        if !b.get(i..i + group)?.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        i += group;
        left -= group;
    }
    Some(i)
}

/// Letters of the scripts written without spaces between words (Han, kana, Hangul, Thai, Lao,
/// Khmer, Myanmar): a value glued to them ends or starts where the script changes.
fn spaceless(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF | 0x1000..=0x109F | 0x1100..=0x11FF | 0x1780..=0x17FF | 0x2E80..=0x2FDF
        | 0x3040..=0x31FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xA960..=0xA97F | 0xAC00..=0xD7FF
        | 0xF900..=0xFAFF | 0xFF66..=0xFFDC | 0x20000..=0x3FFFF)
}

/// Punctuation that ends a URL though it is not a space: CJK and full-width punctuation and
/// Arabic punctuation.
fn url_stop(c: char) -> bool {
    matches!(c as u32,
        0x3000..=0x303F | 0xFF00..=0xFF65 | 0xFFE0..=0xFFEF | 0x060C | 0x061B | 0x061F | 0x06D4)
}

/// `(?:https?://|ftp://|www\.)[^\s<>"'`]{0,2046}[^\s<>"'`.,;:!?)\]}]` at a trigger: the greedy run
/// gives back characters until it ends in one that may end a URL.
fn url_end(s: &str, h: usize) -> Option<usize> {
    let rest = &s[h..];
    let prefix = ["https://", "http://", "ftp://", "www."]
        .into_iter()
        .find(|p| {
            rest.len() >= p.len() && rest.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
        })?;
    let b = s.as_bytes();
    let mut i = h + prefix.len();
    let mut end = None;
    let mut prev = '/';
    // The host ends at the first `/`, `?` or `#`; before it a label of an IDN may follow a dot.
    let mut host = true;
    // Up to 2047 characters, classified with `matches!` rather than substring searches: a match
    // spans thousands of characters, and dense triggers make one per few characters of input.
    for _ in 0..2047 {
        let c = match b.get(i) {
            None => break,
            Some(&a) if a.is_ascii() => char::from(a),
            Some(_) => s[i..].chars().next().expect("a character starts here"),
        };
        if is_space(c) || matches!(c, '<' | '>' | '"' | '\'' | '`') || url_stop(c) {
            break;
        }
        // Japanese or Chinese straight after a URL (`…/listです`) is not part of it; inside one
        // it starts after a delimiter (`//山田.jp`, `?q=それ&`, `/pub/再現する.docx`, `#持つ`) or,
        // in the host, after a dot (`https://王伟.中国/`). A path segment does not start with
        // hiragana: after a final `/` it is the sentence going on (`https://a.com/です`).
        let delimiter = matches!(prev, '/' | '=' | '#' | '?' | '&') || (host && prev == '.');
        if spaceless(c) && !spaceless(prev) && !delimiter {
            break;
        }
        if prev == '/' && !host && matches!(c, '\u{3040}'..='\u{309F}') {
            break;
        }
        if matches!(c, '/' | '?' | '#') {
            host = false;
        }
        prev = c;
        i += c.len_utf8();
        if !matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']' | '}') {
            end = Some(i);
        }
    }
    end
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
                "v6 2a00:1450::8a2e:370:7334 up",
                "IP_ADDRESS",
                "2a00:1450::8a2e:370:7334",
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
    fn special_addresses_and_versions_are_options() {
        let text = "bind 0.0.0.0 or 127.0.0.1, ::1, 2001:db8::1, 192.0.2.7; \
                    urllib3-1.19.5.145, version 2.28.9.178, pin ==1.2.3.4; host 10.1.2.3";
        let ips = |options| -> Vec<String> {
            PiiScanner::with_options(&[PiiType::IpAddress], 1024, options)
                .find(text, 0)
                .into_iter()
                .map(|(a, z, _)| text[a..z].to_string())
                .collect()
        };
        assert_eq!(ips(PiiOptions::default()), ["10.1.2.3"]);
        let versions = PiiOptions {
            ip_exclude_special: true,
            ip_exclude_versions: false,
        };
        assert_eq!(
            ips(versions),
            ["1.19.5.145", "2.28.9.178", "1.2.3.4", "10.1.2.3"]
        );
        let special = PiiOptions {
            ip_exclude_special: false,
            ip_exclude_versions: true,
        };
        assert_eq!(
            ips(special),
            [
                "0.0.0.0",
                "127.0.0.1",
                "::1",
                "2001:db8::1",
                "192.0.2.7",
                "10.1.2.3"
            ]
        );
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

    #[test]
    fn context_words_are_found_alike_on_teddy_and_on_the_automaton() {
        let teddy = Triggers::new(&[Trigger::Ssn, Trigger::DateOfBirth]).expect("words");
        assert!(teddy.lower.is_some(), "Teddy builds on this machine");
        let finder = teddy.finder.as_ref().expect("words");
        let automaton = Triggers {
            lower: None,
            ..Triggers::new(&[Trigger::Ssn, Trigger::DateOfBirth]).expect("words")
        };
        let filler = "x".repeat(200);
        let texts = [
            "Born: 1990, BIRTH date, d.o.b. 1/2/90, SSN ssn Social, née Nee NÉE Né",
            "Родился 12 мая, родилась, РОДИЛСЯ; 生年月日：1990年; جन्मदिन जन्म; ولد في",
            "nata nato nascita nascido nascimento NACIDO nacimiento geb. Geburtstag geboren",
            filler.as_str(),
            "unborn stubborn dobby social_security assn",
        ];
        let (mut low, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
        for text in texts {
            for cut in [0, 1, 7, 33] {
                let window = &text.as_bytes()[cut.min(text.len())..];
                teddy.word_starts(finder, window, &mut low, &mut a);
                automaton.word_starts(finder, window, &mut low, &mut b);
                assert_eq!(a, b, "{text:?} from {cut}");
            }
        }
    }

    #[test]
    fn an_iban_takes_its_country_length_and_no_more() {
        for (text, iban) in [
            (
                "ES5815825815461738721956 es el correcto.",
                Some("ES5815825815461738721956"),
            ),
            (
                "es50 1657 2071 6326 0070 2742 es el correcto",
                Some("es50 1657 2071 6326 0070 2742"),
            ),
            (
                "PL07-9398-6704-0510-6330-8661-0420 ok",
                Some("PL07-9398-6704-0510-6330-8661-0420"),
            ),
            (
                "DE89 3704 0044 0532 0130 00 ok",
                Some("DE89 3704 0044 0532 0130 00"),
            ),
            // One character more than Spain's 24: an identifier, not an IBAN.
            ("ES5815825815461738721956x", None),
            ("ES58 1582 5815 4617 3872 195", None),
        ] {
            let ibans: Vec<String> = found(&[PiiType::Iban], text, 0)
                .into_iter()
                .map(|(_, v)| v)
                .collect();
            assert_eq!(
                ibans,
                iban.into_iter().map(String::from).collect::<Vec<_>>(),
                "{text}"
            );
        }
    }

    #[test]
    fn a_url_in_japanese_or_chinese_text_ends_where_the_sentence_goes_on() {
        for (text, url) in [
            (
                "请用https://王伟.中国/wp-content/posts/search。",
                "https://王伟.中国/wp-content/posts/search",
            ),
            ("网址：https://例子.中国，谢谢", "https://例子.中国"),
            ("サイト：http://hayashi.com/です。", "http://hayashi.com/"),
            (
                "https://www.tanaka.com/までご連絡ください。",
                "https://www.tanaka.com/",
            ),
            (
                "https://a.jp/pub/再現する.docx です",
                "https://a.jp/pub/再現する.docx",
            ),
            (
                "https://a.jp/search?q=それ&x=1です",
                "https://a.jp/search?q=それ&x=1",
            ),
            ("https://suzuki.comです", "https://suzuki.com"),
        ] {
            assert_eq!(all(text), [("URL", url.to_string())], "{text}");
        }
    }
}
