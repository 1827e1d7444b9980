//! The SECRET family: credentials in text, found the way secret scanners (gitleaks, detect-secrets,
//! trufflehog) find them, in linear time, with exact spans and a sound stream hold-back.
//!
//! | type              | what is found                                                                          | span              |
//! |-------------------|----------------------------------------------------------------------------------------|-------------------|
//! | `AWS_ACCESS_KEY`  | `AKIA` `ASIA` `AIDA` `AROA` `AGPA` `ANPA` `ANVA` `AIPA` `ABIA` `ACCA` + 16 `[A-Z0-9]`   | the key           |
//! | `AWS_SECRET_KEY`  | 40 `[A-Za-z0-9/+]` (both cases and a digit) starting within 40 characters after `aws`/`secret` on the same line, or after an `AKIA`/`ASIA` key: env, JSON, INI, YAML, CSV, prose | the 40 characters |
//! | `API_KEY`         | OpenAI/Anthropic `sk-`, GitHub `ghp_` `gho_` `ghu_` `ghs_` `ghr_` `github_pat_`, GitLab `glpat-` …, Slack `xox?-` `xapp-` and webhook paths, Stripe `sk_`/`rk_` `live`/`test`, `whsec_`, Google `AIza` `GOCSPX-` `ya29.`, Hugging Face `hf_`, npm, PyPI, SendGrid, Shopify, DigitalOcean, Databricks, Linear, Supabase, Sentry, Postman, Vault, Grafana, age; Azure AD client secrets, storage `AccountKey=`, `SharedAccessKey=`, SAS `sig=` | the token or key |
//! | `PRIVATE_KEY`     | `-----BEGIN [RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP |…]PRIVATE KEY[ BLOCK]-----` with a base64 body, raw or JSON-escaped | header to footer (cut short: to the end of the body) |
//! | `JWT`             | `eyJ…` `.` `eyJ…` `.` signature (may be empty), base64url; further `.` segments join it | the token         |
//! | `URL_CREDENTIALS` | `scheme://user:password@host`, any scheme, empty user allowed                          | the password      |
//! | `GENERIC_SECRET`  | `NAME=value`, `NAME: value`, `"name": "value"`, `name := 'value'`, `Authorization: Bearer …` where NAME ends in key, token, secret, auth, authorization, credential(s), creds and the value is high-entropy | the value |
//! | `PASSWORD`        | `password` `passwd` `passphrase` `passcode` `pass` `pwd` (alone or ending a name) then `=`, `:`, `:=`, `=>` or ` is `, and a value that looks like a password | the value |
//!
//! Each rule's reasons, and what it refuses, are on its function (`tokens.rs`, `pem.rs`,
//! `assign.rs`, `value.rs`). All offsets are byte offsets into the (already normalised) text; every
//! pattern is ASCII, so non-ASCII characters only ever end a run.
//!
//! # How a scan runs
//!
//! Cheap anchors first, the full rule only at an anchor:
//!
//! * one Teddy pass (the SIMD searcher of `aho_corasick::packed`, at most 64 literals of 3+ bytes)
//!   for the literal prefixes of the token types (`AKIA`, `ghp_`, `sk-`, `eyJ`, `BEGIN `, …), plus a
//!   `memmem` for `Q~` (Azure AD client secrets, whose literal sits inside the token);
//! * one Teddy pass over the case variants of `aws`, `sec`, `pas`, `pwd` (the context words);
//! * one `memchr2` pass over `=` and `:` (assignments, `://`).
//!
//! Every rule reads a bounded number of bytes from its anchor (runs are capped one past the rule's
//! longest value, gaps at a fixed width, a PEM body at 16 KiB and stops at the next `-----`), and the
//! scans that dense anchors would repeat (an AWS context's gap, a password's value) are shared
//! (`GapMemo`, `NextStop`), so each input byte costs a bounded amount of work whatever the input.
//!
//! # Specific before generic
//!
//! `GENERIC_SECRET` and `PASSWORD` never report a value that overlaps a match of an enabled specific
//! type (`OPENAI_API_KEY=sk-…` is an `API_KEY`, not also a generic secret; `password: ghp_…` is an
//! `API_KEY`). Specific types may overlap each other only in degenerate text; the caller dedups
//! identical spans. A disabled specific type suppresses nothing: with only `GENERIC_SECRET` enabled,
//! `API_KEY=sk-…` is reported as a generic secret. `find` sees specific matches from `BACK` bytes
//! before `npos` on, so a key block that started further back does not suppress a weak match inside it.
//!
//! # Hold-back
//!
//! Every rule, while it decides, notes when it needed a byte past the end of the text (a run reaching
//! the end, a quote not yet closed, a header not yet complete): then more text could change its answer,
//! and the earliest position its value could start is "open" (as the text stands, the end of the text
//! ends the run, so `find` still reports what a final text holds). `holdback` runs the same rules
//! over the tail and returns the smallest open position, or the start of a trailing proper prefix of
//! a literal a span starts with (`gh`, `-----BEG`, `ey`), or of a trailing word of up to three
//! characters (or three and a digit, and `Q`) that an Azure AD secret could start with. Context words
//! are never held: a value starts after its context, and only values are spans. Hence prose is held
//! back by at most its last word.

mod assign;
mod pem;
mod tokens;
mod value;

#[cfg(test)]
mod tests;

use aho_corasick::{packed, AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretType {
    AwsAccessKey,
    AwsSecretKey,
    ApiKey,
    PrivateKey,
    Jwt,
    UrlCredentials,
    GenericSecret,
    Password,
}

impl SecretType {
    pub const ALL: [SecretType; 8] = [
        SecretType::AwsAccessKey,
        SecretType::AwsSecretKey,
        SecretType::ApiKey,
        SecretType::PrivateKey,
        SecretType::Jwt,
        SecretType::UrlCredentials,
        SecretType::GenericSecret,
        SecretType::Password,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SecretType::AwsAccessKey => "AWS_ACCESS_KEY",
            SecretType::AwsSecretKey => "AWS_SECRET_KEY",
            SecretType::ApiKey => "API_KEY",
            SecretType::PrivateKey => "PRIVATE_KEY",
            SecretType::Jwt => "JWT",
            SecretType::UrlCredentials => "URL_CREDENTIALS",
            SecretType::GenericSecret => "GENERIC_SECRET",
            SecretType::Password => "PASSWORD",
        }
    }

    pub fn from_name(name: &str) -> Option<SecretType> {
        SecretType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// How far before `npos` (or `lo`) the anchors are looked for: the longest distance from an anchor
/// (a context word, an operator, a `://`) to the start of the value it leads to. The largest is a URL:
/// `://`, a user name of up to `assign::AUTHORITY_MAX` bytes, `:`. Values starting before `npos` are
/// not reported, so anchors further back cannot matter.
const BACK: usize = 320;

/// Everything one scan shares: the text, what has been found, and the earliest open position.
pub(crate) struct Cx<'a> {
    b: &'a [u8],
    npos: usize,
    on: [bool; 8],
    /// spans of specific matches (enabled types only), for the suppression of weak ones
    spec: Vec<(usize, usize)>,
    /// GENERIC_SECRET and PASSWORD candidates, reported at the end unless a specific match overlaps
    weak: Vec<(usize, usize, SecretType)>,
    out: &'a mut Vec<(usize, usize, SecretType)>,
    /// the smallest position from which a candidate could still change with more text
    open: usize,
    /// the AWS context gaps' shared scan
    gap: assign::GapMemo,
    /// where unquoted password values end, shared by dense password words
    value_end: NextStop,
    /// the end of the last JWT span: a JWT candidate inside it is part of it
    jwt_end: usize,
}

impl<'a> Cx<'a> {
    fn on(&self, t: SecretType) -> bool {
        self.on[t as usize]
    }

    fn specific(&mut self, start: usize, end: usize, t: SecretType) {
        if self.on(t) {
            self.spec.push((start, end));
            if start >= self.npos {
                self.out.push((start, end, t));
            }
        }
    }

    fn weak(&mut self, start: usize, end: usize, t: SecretType) {
        if self.on(t) && start >= self.npos {
            self.weak.push((start, end, t));
        }
    }

    /// A candidate whose value could start at `at` is undecided: it needs text past the end.
    fn open(&mut self, at: usize) {
        self.open = self.open.min(at);
    }
}

/// A literal a span starts with, and the class of bytes that may not precede it.
type Partial = (&'static [u8], fn(u8) -> bool);

/// A compiled set of secret types. Built once at start-up; `Send + Sync`, shared by concurrent scans.
pub struct SecretScanner {
    on: [bool; 8],
    tokens: Option<tokens::Tokens>,
    /// the context words' first three bytes in every ASCII case, and which word each stands for
    keywords: Option<(Finder, Vec<assign::Keyword>, Vec<assign::Keyword>)>,
    /// whether the `=`/`:` pass runs (URL_CREDENTIALS, GENERIC_SECRET, Azure API keys)
    ops: bool,
    /// the literal prefixes a span starts with, for the partial-prefix hold-back
    partials: Vec<Partial>,
    /// the first bytes of `partials`
    partial_first: [bool; 256],
}

impl SecretScanner {
    pub fn new(types: &[SecretType]) -> SecretScanner {
        let mut on = [false; 8];
        for &t in types {
            on[t as usize] = true;
        }
        let tokens = tokens::Tokens::new(&on);
        let mut words = Vec::new();
        if on[SecretType::AwsSecretKey as usize] {
            words.extend([assign::Keyword::Aws, assign::Keyword::Secret]);
        }
        if on[SecretType::Password as usize] {
            words.extend([assign::Keyword::Pass, assign::Keyword::Pwd]);
        }
        let keywords = (!words.is_empty()).then(|| {
            let mut pats: Vec<Vec<u8>> = Vec::new();
            let mut kinds = Vec::new();
            for &k in &words {
                for v in case_variants(k.stem()) {
                    pats.push(v);
                    kinds.push(k);
                }
            }
            (Finder::new(&pats), kinds, words)
        });
        let ops = on[SecretType::UrlCredentials as usize]
            || on[SecretType::GenericSecret as usize]
            || on[SecretType::ApiKey as usize];
        let partials = tokens.as_ref().map_or_else(Vec::new, |t| t.partials());
        let mut partial_first = [false; 256];
        for (lit, _) in &partials {
            if let Some(&c) = lit.first() {
                partial_first[usize::from(c)] = true;
            }
        }
        SecretScanner {
            on,
            tokens,
            keywords,
            ops,
            partials,
            partial_first,
        }
    }

    /// Push every match whose value starts at byte `npos` or later: `(start, end, type)`, byte offsets
    /// into `s`, which must already be normalised (NFKC, format characters removed, digits folded,
    /// dashes to `-`, space separators to ' '). Context before `npos` counts. Unordered; a span may
    /// repeat with another type only in degenerate text.
    pub fn find(&self, s: &str, npos: usize, found: &mut Vec<(usize, usize, SecretType)>) {
        if npos >= s.len() {
            return;
        }
        let from = floor_boundary(s, npos.saturating_sub(BACK));
        self.scan(s, from, npos, found);
    }

    /// The smallest char boundary `>= lo` from which the text could still become part of a match, or
    /// of a longer or different match, once more text is appended; `s.len()` if there is none. Text
    /// before it can be released: nothing in it can turn out to be part of a secret later. Only the
    /// tail from `lo` is looked at, with `BACK` bytes before it for context, and further back only
    /// where a long token or a key block may have started and still be open (see
    /// `Tokens::open_span_floor`), so a call costs about the length of the tail.
    pub fn holdback(&self, s: &str, lo: usize) -> usize {
        if lo >= s.len() {
            return s.len();
        }
        let b = s.as_bytes();
        let mut from = lo.saturating_sub(BACK);
        if let Some(tokens) = &self.tokens {
            from = from.min(tokens.open_span_floor(b, from));
        }
        let from = floor_boundary(s, from);
        let mut found = Vec::new();
        let open = self.scan(s, from, from, &mut found);
        open.min(self.partial(b)).max(lo)
    }

    /// Runs every enabled rule over anchors at or after `from`; reports values starting at `npos` or
    /// later. Returns the smallest open position (`s.len()` if none).
    fn scan(
        &self,
        s: &str,
        from: usize,
        npos: usize,
        found: &mut Vec<(usize, usize, SecretType)>,
    ) -> usize {
        let b = s.as_bytes();
        let mut cx = Cx {
            b,
            npos,
            on: self.on,
            spec: Vec::new(),
            weak: Vec::new(),
            out: found,
            open: b.len(),
            gap: assign::GapMemo::new(),
            value_end: NextStop::new(),
            jwt_end: 0,
        };
        // Specific types first (tokens, then AWS secrets after their context words, then the
        // operator-led URL credentials and Azure keys), so that the weak ones can be suppressed.
        if let Some(tokens) = &self.tokens {
            tokens.scan(&mut cx, from);
        }
        let mut passwords = Vec::new();
        if let Some((finder, kinds, words)) = &self.keywords {
            let mut hit = |h: usize, k: assign::Keyword| match k {
                assign::Keyword::Aws => assign::aws_keyword(&mut cx, h, b"aws"),
                assign::Keyword::Secret => assign::aws_keyword(&mut cx, h, b"secret"),
                // After the operators: a password is weak.
                _ => passwords.push(h),
            };
            // The stems are three bytes and may overlap (`paSecret`: `paS`, `Sec`): the streaming
            // search skips the two bytes after each hit, so those are compared directly.
            finder.each(b, from, true, |h, k| {
                hit(h, kinds[k]);
                for i in h + 1..(h + 3).min(b.len()) {
                    if let Some(k) = words.iter().find(|k| {
                        b.get(i..i + 3)
                            .is_some_and(|w| w.eq_ignore_ascii_case(k.stem().as_bytes()))
                    }) {
                        hit(i, *k);
                    }
                }
            });
        }
        if self.ops {
            for i in memchr::memchr2_iter(b'=', b':', &b[from..]) {
                assign::operator(&mut cx, from + i);
            }
        }
        for h in passwords {
            assign::password(&mut cx, h);
        }
        if !cx.weak.is_empty() {
            let weak = std::mem::take(&mut cx.weak);
            let spec = Overlaps::new(std::mem::take(&mut cx.spec));
            cx.out
                .extend(weak.into_iter().filter(|&(a, z, _)| !spec.any(a, z)));
        }
        cx.open
    }

    /// The start of a trailing proper prefix of a literal a span starts with (`-----BEG`, `gh`, `e`),
    /// where the literal's lead condition holds; `s.len()` if none.
    fn partial(&self, b: &[u8]) -> usize {
        let n = b.len();
        let mut best = n;
        // From the earliest position a proper prefix can start at; only positions holding a
        // literal's first byte are compared.
        let longest = self
            .partials
            .iter()
            .map(|(lit, _)| lit.len())
            .max()
            .unwrap_or(0);
        for at in n.saturating_sub(longest.saturating_sub(1))..n {
            if !self.partial_first[usize::from(b[at])] {
                continue;
            }
            let tail = &b[at..];
            let open = self.partials.iter().any(|&(lit, lead_blocked)| {
                tail.len() < lit.len()
                    && lit.first() == tail.first()
                    && lit.starts_with(tail)
                    && !(at > 0 && lead_blocked(b[at - 1]))
            });
            if open {
                best = at;
                break;
            }
        }
        if self.on[SecretType::ApiKey as usize] {
            best = best.min(tokens::azure_ad_partial(b));
        }
        best
    }
}

/// Spans sorted by start with the running maximum of their ends: "does any overlap `[a, z)`" in
/// O(log n), so many weak candidates against many specific matches stay linear-ish.
struct Overlaps {
    starts: Vec<usize>,
    max_end: Vec<usize>,
}

impl Overlaps {
    fn new(mut spans: Vec<(usize, usize)>) -> Overlaps {
        spans.sort_unstable();
        let mut max_end = Vec::with_capacity(spans.len());
        let mut m = 0;
        for &(_, e) in &spans {
            m = m.max(e);
            max_end.push(m);
        }
        Overlaps {
            starts: spans.into_iter().map(|(s, _)| s).collect(),
            max_end,
        }
    }

    fn any(&self, a: usize, z: usize) -> bool {
        // the spans starting before `z`; one of them overlaps iff the largest end among them is past `a`
        let k = self.starts.partition_point(|&s| s < z);
        k > 0 && self.max_end[k - 1] > a
    }
}

/// Every ASCII case variant of `stem`.
fn case_variants(stem: &str) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vec![Vec::new()];
    for c in stem.bytes() {
        let cases = if c.is_ascii_alphabetic() {
            vec![c.to_ascii_lowercase(), c.to_ascii_uppercase()]
        } else {
            vec![c]
        };
        out = out
            .iter()
            .flat_map(|p| {
                cases.iter().map(move |&k| {
                    let mut v = p.clone();
                    v.push(k);
                    v
                })
            })
            .collect();
    }
    out
}

/// Finds every occurrence of a set of literals (each one's start is an anchor, overlapping ones
/// included: the search restarts one byte after each hit). At most 64 literals of three or more
/// bytes run on Teddy, the SIMD searcher of `aho_corasick::packed`, at GB/s on text without a
/// candidate (`AhoCorasick` picks Teddy only for 16 literals or fewer, and its byte prefilters are
/// several times slower here); otherwise, or where Teddy is not available, an Aho-Corasick DFA.
pub(crate) enum Finder {
    Packed(packed::Searcher),
    Dfa(AhoCorasick),
}

impl Finder {
    fn new<P: AsRef<[u8]>>(patterns: &[P]) -> Finder {
        let teddy = (patterns.len() <= 64)
            .then(|| {
                packed::Config::new()
                    .match_kind(packed::MatchKind::LeftmostFirst)
                    .builder()
                    .extend(patterns)
                    .build()
            })
            .flatten();
        match teddy {
            Some(s) => Finder::Packed(s),
            None => Finder::Dfa(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(patterns)
                    .expect("the secret literals compile"),
            ),
        }
    }

    /// Calls `f(start, pattern)` for every occurrence starting at or after `from`, in order. With
    /// `overlap_safe` (no literal can start inside another's occurrence where it could match) one
    /// streaming search; otherwise one search per hit, restarting a byte after it.
    fn each(&self, hay: &[u8], from: usize, overlap_safe: bool, mut f: impl FnMut(usize, usize)) {
        if from >= hay.len() {
            return;
        }
        if overlap_safe {
            let rest = &hay[from..];
            match self {
                Finder::Packed(s) => {
                    for m in s.find_iter(rest) {
                        f(from + m.start(), m.pattern().as_usize());
                    }
                }
                Finder::Dfa(ac) => {
                    for m in ac.find_iter(rest) {
                        f(from + m.start(), m.pattern().as_usize());
                    }
                }
            }
            return;
        }
        let mut at = from;
        while let Some((p, k)) = self.find(hay, at) {
            at = p + 1;
            f(p, k);
        }
    }

    /// The first occurrence starting at or after `at`: (start, pattern index).
    fn find(&self, hay: &[u8], at: usize) -> Option<(usize, usize)> {
        if at >= hay.len() {
            return None;
        }
        let m = match self {
            Finder::Packed(s) => s.find_in(hay, Span::from(at..hay.len()))?,
            Finder::Dfa(ac) => ac.find(aho_corasick::Input::new(hay).span(at..hay.len()))?,
        };
        Some((m.start(), m.pattern().as_usize()))
    }
}

/// The first position at or after a query where a fixed byte condition holds, for queries that mostly
/// increase: an answer serves every later query up to it, and a scan resumes where the last one
/// stopped, so anchors every few bytes share one pass instead of each scanning its window.
pub(crate) struct NextStop {
    /// no stop in `[from, to)`; `at`, if any, is the first stop at or after `from`
    from: usize,
    to: usize,
    at: Option<usize>,
}

impl NextStop {
    fn new() -> NextStop {
        NextStop {
            from: usize::MAX,
            to: usize::MAX,
            at: None,
        }
    }

    /// The first `i` in `[x, limit)` with `stop(b[i])`, if any (`limit` capped at `b.len()`).
    fn find(
        &mut self,
        b: &[u8],
        x: usize,
        limit: usize,
        stop: impl Fn(u8) -> bool,
    ) -> Option<usize> {
        let limit = limit.min(b.len());
        let valid = self.from <= x && self.at.map_or(x <= self.to, |p| x <= p);
        if !valid {
            *self = NextStop {
                from: x,
                to: x,
                at: None,
            };
        }
        if self.at.is_none() && self.to < limit {
            match b[self.to..limit].iter().position(|&c| stop(c)) {
                Some(k) => self.at = Some(self.to + k),
                None => self.to = limit,
            }
        }
        self.at.filter(|&p| p < limit)
    }
}

/// The largest char boundary at or below `i`.
fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The length of the run of bytes in `class` starting at `i`, counting at most `cap`.
fn run(b: &[u8], i: usize, cap: usize, class: impl Fn(u8) -> bool) -> usize {
    b.get(i..)
        .map_or(0, |t| t.iter().take(cap).take_while(|&&c| class(c)).count())
}
