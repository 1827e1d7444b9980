//! The types led by context: AWS_SECRET_KEY after `aws`/`secret`, PASSWORD after a password word,
//! and, from each `=` and `:`, URL_CREDENTIALS (`://`), the Azure keys of connection strings, and
//! GENERIC_SECRET assignments.

use super::value::{self, classes};
use super::{run, Cx, SecretType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keyword {
    Aws,
    Secret,
    Pass,
    Pwd,
}

impl Keyword {
    /// The first three bytes, whose case variants the keyword pass looks for.
    pub(super) fn stem(self) -> &'static str {
        match self {
            Keyword::Aws => "aws",
            Keyword::Secret => "sec",
            Keyword::Pass => "pas",
            Keyword::Pwd => "pwd",
        }
    }
}

/// A context word may start here: after a non-letter, or at a camelCase boundary (`userPassword`,
/// `awsSecretKey`), or where an acronym ends (`DBPassword`, `AWSSecret`).
fn word_start_ok(b: &[u8], h: usize) -> bool {
    let Some(&p) = h.checked_sub(1).map(|i| &b[i]) else {
        return true;
    };
    if !p.is_ascii_alphabetic() {
        return true;
    }
    let c = b[h];
    (p.is_ascii_lowercase() && c.is_ascii_uppercase())
        || (p.is_ascii_uppercase()
            && c.is_ascii_uppercase()
            && b.get(h + 1).is_some_and(u8::is_ascii_lowercase))
}

/// `word` (lower-case) at `h` in any ASCII case.
fn word_at(b: &[u8], h: usize, word: &[u8]) -> bool {
    b.get(h..h + word.len())
        .is_some_and(|w| w.eq_ignore_ascii_case(word))
}

fn spaces(b: &[u8], i: usize, cap: usize) -> usize {
    run(b, i, cap, |c| c == b' ' || c == b'\t')
}

fn secret_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'/' || c == b'+'
}

/// How far (in characters) after its context a 40-character AWS secret may start.
const AWS_GAP: usize = 40;

/// AWS_SECRET_KEY at a context word `aws` or `secret` (`h`): the word ends where a non-letter or a
/// camelCase capital follows (`aws_secret_access_key`, `AWS_SECRET_ACCESS_KEY`, `"SecretAccessKey"`,
/// `secretKey`; not `secrets`, `secretary`), then `aws_gap`.
pub(super) fn aws_keyword(cx: &mut Cx, h: usize, word: &[u8]) {
    let b = cx.b;
    let e = h + word.len();
    if !word_at(b, h, word) || !word_start_ok(b, h) {
        return;
    }
    // A host name (`docs.aws.amazon.com/AWSEC2/latest/UserGuide/…`) or an ARN's partition
    // (`arn:aws:iam::aws:policy/…`), not a context.
    if (h > 0 && matches!(b[h - 1], b'.' | b':')) || b.get(e) == Some(&b'.') {
        return;
    }
    match b.get(e) {
        // The value would start after the end.
        None => return,
        Some(&c)
            if c.is_ascii_alphabetic()
                && !(b[e - 1].is_ascii_lowercase() && c.is_ascii_uppercase()) =>
        {
            return
        }
        _ => {}
    }
    aws_gap(cx, e);
}

/// The first run of exactly 40 `[A-Za-z0-9/+]` starting within 40 characters of `e` on the same line,
/// not glued to more of them nor to `-`/`_` (base64url) nor after a `.` (a host name's path) nor
/// followed by `=` (padding): it is the key if it has both
/// cases and a digit (random base64 does, but for one in a thousand; a 40-letter word, a path of
/// words `Instance/Properties/BlockDeviceMappings/` and a hex digest do not).
/// Unlike `checks/pii.py` an `=` may precede it, so `AWS_SECRET_ACCESS_KEY=<key>` is found; the span
/// is the 40 characters only.
pub(super) fn aws_gap(cx: &mut Cx, e: usize) {
    let b = cx.b;
    // 41 characters take at most 164 bytes.
    let limit = e + 4 * (AWS_GAP + 1);
    let Some((p, event)) = cx.gap.next(b, e, limit) else {
        return;
    };
    if p - e > AWS_GAP
        && std::str::from_utf8(&b[e..p]).map_or(p - e, |t| t.chars().count()) > AWS_GAP
    {
        return;
    }
    if let GapEvent::Run { key, open } = event {
        if open {
            cx.open(p);
        }
        if key {
            let k = classes(&b[p..p + 40]);
            if k.upper && k.lower && k.digit {
                cx.specific(p, p + 40, SecretType::AwsSecretKey);
            }
        }
    }
}

/// What the gap after an AWS context meets first: the end of its line, or the start of a run of
/// `[A-Za-z0-9/+]` that is a key candidate (exactly 40, fenced) or reaches the end of the text.
#[derive(Debug, Clone, Copy)]
pub(super) enum GapEvent {
    Newline,
    Run { key: bool, open: bool },
}

/// The next `GapEvent` at or after a position, for positions that mostly increase: one answer
/// serves every later query up to its position, and a scan resumes where the last one stopped, so
/// context words every few bytes (`aws aws aws …`) share one pass over the gap instead of each
/// rescanning 40 characters.
pub(crate) struct GapMemo {
    /// no event in `[from, to)`; `at`, if any, is the first event at or after `from`
    from: usize,
    to: usize,
    at: Option<(usize, GapEvent)>,
}

impl GapMemo {
    pub(super) fn new() -> GapMemo {
        GapMemo {
            from: usize::MAX,
            to: usize::MAX,
            at: None,
        }
    }

    /// The first event in `[x, limit)`, if any.
    fn next(&mut self, b: &[u8], x: usize, limit: usize) -> Option<(usize, GapEvent)> {
        let limit = limit.min(b.len());
        let valid = self.from <= x
            && match self.at {
                Some((p, _)) => x <= p,
                None => x <= self.to,
            };
        if !valid {
            *self = GapMemo {
                from: x,
                to: x,
                at: None,
            };
        }
        if self.at.is_none() && self.to < limit {
            match gap_events(b, self.to, limit) {
                Ok(found) => {
                    self.to = found.0;
                    self.at = Some(found);
                }
                Err(reached) => self.to = reached,
            }
        }
        self.at.filter(|&(p, _)| p < limit)
    }
}

/// The first `GapEvent` in `[a, z)`, or how far the scan got without one (runs are skipped whole).
fn gap_events(b: &[u8], a: usize, z: usize) -> Result<(usize, GapEvent), usize> {
    let len = b.len();
    let mut i = a;
    while i < z {
        let c = b[i];
        if c == b'\n' {
            return Ok((i, GapEvent::Newline));
        }
        if secret_char(c) && (i == 0 || !secret_char(b[i - 1])) {
            let n = run(b, i, 41, secret_char);
            let open = i + n >= len && n <= 40;
            // Not glued to base64url or padding either: a 43-character `-`/`_` token is not a key.
            let glued = |c: u8| c == b'=' || c == b'-' || c == b'_';
            let fenced = i > 0
                && !matches!(b[i - 1], b'-' | b'_' | b'.')
                && !b.get(i + 40).is_some_and(|&c| glued(c));
            let key = n == 40 && fenced;
            if open || key {
                return Ok((i, GapEvent::Run { key, open }));
            }
            i += n;
            continue;
        }
        i += 1;
    }
    Err(i)
}

/// The password words, longest first: the first that matches is the word.
const PASSWORD_WORDS: [&[u8]; 6] = [
    b"passphrase",
    b"password",
    b"passcode",
    b"passwd",
    b"pass",
    b"pwd",
];

fn name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.'
}

/// PASSWORD at a password word (`h`): `password`, `passwd`, `passphrase`, `passcode`, `pass`, `pwd`,
/// alone or ending a name (`db_password`, `DB_PASS`, `userPassword`, `"password"`), then up to three
/// spaces, then `=`, `:`, `:=`, `=>` or ` is `, then up to three spaces and the value (see
/// `password_value`). Not `password2=`, `passwords:`, `password_hash =`, `OLDPWD=`, `==`.
pub(super) fn password(cx: &mut Cx, h: usize) {
    let b = cx.b;
    let len = b.len();
    let Some(word) = PASSWORD_WORDS.iter().find(|w| word_at(b, h, w)) else {
        return;
    };
    let e = h + word.len();
    // An upper-case word may also end an upper-case name run together: `PGPASSWORD`, `MYSQLPWD`
    // (not `PASS`: `BYPASS`, `COMPASS`).
    let glued_caps = *word != b"pass"
        && b[h..e].iter().all(u8::is_ascii_uppercase)
        && h > 0
        && b[h - 1].is_ascii_uppercase();
    if !(word_start_ok(b, h) || glued_caps) || b.get(e).is_none_or(u8::is_ascii_alphanumeric) {
        return;
    }
    let mut i = e;
    let quoted_name = matches!(b[i], b'"' | b'\'');
    if quoted_name {
        i += 1;
    }
    let before = spaces(b, i, 4);
    if before > 3 {
        return;
    }
    i += before;
    let Some(&op) = b.get(i) else { return };
    let mut is = false;
    let after_op = match op {
        b':' => match b.get(i + 1) {
            Some(b':') => return,
            Some(b'=') => i + 2,
            _ => i + 1,
        },
        b'=' => match b.get(i + 1) {
            Some(b'=') => return,
            Some(b'>') => i + 2,
            _ => i + 1,
        },
        b'i' | b'I' if before > 0 && matches!(b.get(i + 1), Some(b's' | b'S')) => {
            is = true;
            i + 2
        }
        // `İs` (U+0130, which NFKC keeps): `checks/pii.py` matched it under IGNORECASE.
        0xc4 if before > 0
            && b.get(i + 1) == Some(&0xb0)
            && matches!(b.get(i + 2), Some(b's' | b'S')) =>
        {
            is = true;
            i + 3
        }
        _ => return,
    };
    let after = spaces(b, after_op, 4);
    if after > 3 || (is && after == 0) {
        return;
    }
    let j = after_op + after;
    if j >= len {
        return;
    }
    // `PASSWORD=x` / `password: x` as a whole line of an env file, INI or YAML (the name first on
    // its line, the operator right after it): there a plain word is a value. Elsewhere (code,
    // prose, `password = x`) a plain word is a variable or a word.
    let env = !is
        && !quoted_name
        && before == 0
        && after_op == i + 1
        && ((op == b'=' && after == 0) || (op == b':' && after == 1))
        && line_starts_with_name(b, h);
    password_value(cx, j, env);
}

/// Whether only whitespace, an `export`/`set` and name characters precede `h` on its line.
fn line_starts_with_name(b: &[u8], h: usize) -> bool {
    let name = b[..h]
        .iter()
        .rev()
        .take(NAME_MAX + 1)
        .take_while(|&&c| name_char(c))
        .count();
    if name > NAME_MAX {
        return false;
    }
    let k = h - name;
    // Indentation and `export ` of at most 64 bytes: the scan back is bounded.
    let lo = k.saturating_sub(64);
    let line = match b[lo..k].iter().rposition(|&c| c == b'\n') {
        Some(p) => lo + p + 1,
        None if lo == 0 => 0,
        None => return false,
    };
    let mut pre = &b[line..k];
    while let [b' ' | b'\t', rest @ ..] = pre {
        pre = rest;
    }
    pre.is_empty() || pre == b"export " || pre == b"set "
}

const PASSWORD_MAX: usize = 128;

/// A password value at `j`. Quoted (`"…"`, `'…'`, `` `…` ``, with an optional `b`/`r`/`u` prefix):
/// the quoted text on the same line, at most 128 characters. Otherwise the run up to whitespace or
/// `" ' ` , ; <` (or to the next `&name=` of a query string, or an HTML entity), trailing
/// `. : ) ] } >` dropped. Either way the span is the value alone.
fn password_value(cx: &mut Cx, j: usize, env: bool) {
    let b = cx.b;
    let len = b.len();
    let mut q0 = j;
    if matches!(b[j], b'b' | b'B' | b'r' | b'R' | b'u' | b'U')
        && matches!(b.get(j + 1), Some(b'"' | b'\''))
    {
        q0 = j + 1;
    }
    let q = b[q0];
    if matches!(q, b'"' | b'\'' | b'`') {
        let a = q0 + 1;
        let mut k = a;
        loop {
            if k >= len {
                cx.open(a);
                return;
            }
            if k - a > PASSWORD_MAX || b[k] == b'\n' {
                return;
            }
            if b[k] == q {
                break;
            }
            k += 1;
        }
        if quoted_password(&b[a..k]) {
            cx.weak(a, k, SecretType::Password);
        }
        return;
    }
    let end = cx.value_end.find(b, j, j + PASSWORD_MAX + 1, |c| {
        c.is_ascii_whitespace() || b"\"'`,;<".contains(&c)
    });
    let n = end.unwrap_or(len.min(j + PASSWORD_MAX + 1)) - j;
    if n > PASSWORD_MAX {
        return;
    }
    if j + n >= len {
        cx.open(j);
    }
    // In a query string the next parameter ends the value (`password=x&next=/`); in HTML an entity
    // does (`correct.&quot;`).
    let mut z = query_param_end(&b[j..j + n]).map_or(j + n, |k| j + k);
    if b.get(z) == Some(&b';') {
        if let Some(amp) = html_entity_start(&b[j..z]) {
            z = j + amp;
        }
    }
    while z > j && b".:)]}>".contains(&b[z - 1]) {
        z -= 1;
    }
    let v = &b[j..z];
    if unquoted_password(v, false) {
        cx.weak(j, z, SecretType::Password);
        return;
    }
    if env && unquoted_password(v, true) {
        // The rest of the line must be empty (or a comment).
        let rest = j + n + spaces(b, j + n, 64);
        if rest >= len {
            // More words may follow on this line.
            cx.open(j);
        }
        if matches!(b.get(rest), None | Some(b'\n' | b'\r' | b'#')) {
            cx.weak(j, z, SecretType::Password);
        }
    }
}

/// The first `&` in `v` that starts another query parameter (`&name=`).
fn query_param_end(v: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'&', v).find(|&k| {
        let name = run(v, k + 1, usize::MAX, |c| {
            c.is_ascii_alphanumeric() || c == b'_'
        });
        name > 0 && v.get(k + 1 + name) == Some(&b'=')
    })
}

/// Where `v` ends in an HTML entity cut before its `;` (`&quot`, `&#x3C`, `&#60`).
fn html_entity_start(v: &[u8]) -> Option<usize> {
    let amp = memchr::memrchr(b'&', v)?;
    let name = &v[amp + 1..];
    let ok = match name {
        [b'#', b'x' | b'X', hex @ ..] => !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit),
        [b'#', dec @ ..] => !dec.is_empty() && dec.iter().all(u8::is_ascii_digit),
        _ => !name.is_empty() && name.iter().all(u8::is_ascii_alphabetic),
    };
    ok.then_some(amp)
}

/// A constant or label about passwords rather than one: no digit, and a password word inside
/// (`no-password-required`, `challengePassword`, `HTTPPasswordMgr`, `PUBLIC_KEY_OR_PASSWORD`).
fn names_a_password(v: &[u8]) -> bool {
    if v.iter().any(u8::is_ascii_digit) {
        return false;
    }
    [&b"password"[..], b"passwd", b"passphrase"]
        .iter()
        .any(|w| v.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w)))
}

/// Not a value whatever the context: empty, a stop word, a label (`names_a_password`), an ARN or
/// URL, a template, code, a path, masked, a SQL
/// parameter or decorator (`@password`, `:password`, `?1`), or a YAML tag (`!vault`).
fn never_password(v: &[u8]) -> bool {
    v.is_empty()
        || names_a_password(v)
        || value::scheme_like(v)
        || value::is_stopword(v)
        || value::is_template(v)
        || value::is_masked(v)
        || value::is_path(v)
        || (matches!(v[0], b'@' | b':') && value::is_identifier(&v[1..]))
        || (v[0] == b'?' && v[1..].iter().all(u8::is_ascii_digit))
        || (v[0] == b'!' && v[1..].iter().all(|&c| c.is_ascii_alphabetic() || c == b'!'))
        || v[0] == b'('
}

/// A quoted value is data, not code: anything of 3+ characters that is not a placeholder. With
/// spaces inside it must still look like a password, not a message or label: a digit or one of
/// `!@#$%^&*+=?~`, single spaces, no quotes, backslashes or commas, at most 64 characters (`"Tr0ub4dor &3"` is; `"Enter your password"`,
/// `"correct horse battery staple"` are not — the price of not reporting every UI string).
fn quoted_password(v: &[u8]) -> bool {
    if v.len() < 3 || never_password(v) {
        return false;
    }
    let first_last_space = |c: &u8| c.is_ascii_whitespace();
    if v.first().is_some_and(first_last_space) || v.last().is_some_and(first_last_space) {
        return false;
    }
    if v.iter().any(u8::is_ascii_whitespace) {
        return v.len() <= 64
            && v.iter()
                .any(|&c| c.is_ascii_digit() || b"!@#$%^&*+=?~".contains(&c))
            && !v.windows(2).any(|w| w[0] == b' ' && w[1] == b' ')
            && !v.iter().any(|&c| b"\t,\"'\\".contains(&c));
    }
    true
}

/// An unquoted value. In an env/INI/YAML line (`env`) any value that is not a placeholder, code, or a
/// type name (`password: SecretStr`). Elsewhere it must look like a password, because a plain word
/// there is a variable (`password=pwd`), an annotation (`password: str`) or prose (`password is
/// required`): a symbol and 4+ characters (`S3cr3t!`, `p@ss`), or letters and digits and 6+
/// characters (`hunter2`, `abc123`), or 4+ digits (`123456`), or 8+ letters of both cases that are
/// not words (`XiDnpogadPVX`, not `BatchedProvider` or `camelCase`).
fn unquoted_password(v: &[u8], env: bool) -> bool {
    if never_password(v) || value::is_code(v) {
        return false;
    }
    if env {
        // CamelCase words after `:` are a type: `password: SecretStr`.
        return !value::is_camel_words(v);
    }
    let k = classes(v);
    (k.symbols > 0 && v.len() >= 4)
        || (k.digits > 0 && k.letters > 0 && v.len() >= 6)
        || (k.digits == v.len() && v.len() >= 4)
        || (v.len() >= 8 && k.upper && k.lower && !value::is_wordy(v))
}

/// The ends of a generic secret's name: the name (compacted to lower-case letters and digits) ends in
/// one of these.
const GENERIC_WORDS: [&str; 8] = [
    "credentials",
    "credential",
    "creds",
    "authorization",
    "secret",
    "token",
    "auth",
    "key",
];

/// What may come before the keyword when the name is not a secret: `PUBLIC_KEY`, `primary_key`,
/// `next_page_token`, `cache_key`, `idempotency_key`, `sort_key`, …
const NOT_SECRET_BEFORE: &[&str] = &[
    "public",
    "pub",
    "publishable",
    "primary",
    "foreign",
    "sort",
    "cache",
    "hash",
    "partition",
    "idempotency",
    "row",
    "range",
    "lookup",
    "map",
    "dict",
    "group",
    "index",
    "unique",
    "natural",
    "composite",
    "shard",
    "routing",
    "object",
    "file",
    "page",
    "next",
    "continuation",
    "cursor",
    "sync",
    "csrf",
    "xsrf",
    "label",
    "field",
    "column",
    "attr",
    "message",
    "msg",
    "header",
    "param",
    "entry",
    "item",
    "record",
    "event",
    "metric",
    "dedup",
    "lock",
    "tracking",
    "trace",
    "request",
    "correlation",
    "translation",
    "locale",
    "hot",
    "short",
    "keyboard",
    "press",
    "sign",
    "dataset",
    "table",
    "registry",
    "sequence",
    "ordering",
    "s3",
    "result",
];

/// Tokens that are not credentials: idempotency and concurrency tokens of cloud APIs
/// (`ClientToken`, `ChangeToken`, `LifecycleActionToken`), pagination, parser tokens.
const TOKEN_NOT_SECRET_BEFORE: &[&str] = &[
    "client",
    "change",
    "purchase",
    "action",
    "task",
    "marker",
    "resume",
    "upload",
    "job",
    "query",
    "cancellation",
    "start",
    "end",
    "last",
    "first",
    "prev",
    "previous",
    "current",
    "parser",
    "lexer",
    "syntax",
    "special",
    "stop",
    "pad",
    "unk",
    "bos",
    "eos",
    "mask",
    "sep",
    "cls",
    "update",
    "forward",
    "backward",
    "import",
    "export",
    "verification",
];

/// How far back from its operator a name may start (longer names are not looked at).
const NAME_MAX: usize = 64;
/// The last letters of the names `assignment` can act on (see there).
const NAME_LAST_LETTERS: &[u8] = b"slnthyg";
/// The longest generic value.
const GENERIC_MAX: usize = 256;
/// The longest authority (`user:password@host:port`) of a URL.
pub(super) const AUTHORITY_MAX: usize = 256;

/// At every `=` and `:`: a URL's `://`, or an assignment (`=`, `:`, `:=`, `=>`; not `==`, `!=`,
/// `<=`, `>=`, `::`).
pub(super) fn operator(cx: &mut Cx, i: usize) {
    let b = cx.b;
    let prev = i.checked_sub(1).map(|k| b[k]);
    let next = b.get(i + 1).copied();
    let end = if b[i] == b':' {
        if next == Some(b'/') {
            if cx.on(SecretType::UrlCredentials) {
                url(cx, i);
            }
            return;
        }
        if next == Some(b':') || prev == Some(b':') {
            return;
        }
        if next == Some(b'=') {
            i + 2
        } else {
            i + 1
        }
    } else {
        if matches!(prev, Some(b'=' | b'!' | b'<' | b'>' | b':')) || next == Some(b'=') {
            return;
        }
        if next == Some(b'>') {
            i + 2
        } else {
            i + 1
        }
    };
    assignment(cx, i, end);
}

/// `NAME op value` with the operator at `[op, end)`.
fn assignment(cx: &mut Cx, op: usize, end: usize) {
    let b = cx.b;
    // The name: back over up to three spaces and a closing quote.
    let mut k = op;
    let sp = b[..k]
        .iter()
        .rev()
        .take(4)
        .take_while(|&&c| c == b' ' || c == b'\t')
        .count();
    if sp > 3 {
        return;
    }
    k -= sp;
    let quoted_name = k > 0 && matches!(b[k - 1], b'"' | b'\'');
    if quoted_name {
        k -= 1;
    }
    // Every name a rule below takes ends (past separators) in the last letter of a generic keyword
    // (`GENERIC_WORDS`) or of `AccountKey`, `SharedAccessKey`, `sig`: most operators in code stop
    // here, before the name is read.
    let last = b[..k]
        .iter()
        .rev()
        .take(NAME_MAX)
        .find(|&&c| !matches!(c, b'_' | b'-' | b'.'));
    if !last.is_some_and(|c| NAME_LAST_LETTERS.contains(&c.to_ascii_lowercase())) {
        return;
    }
    let a = k - b[..k]
        .iter()
        .rev()
        .take(NAME_MAX + 1)
        .take_while(|&&c| name_char(c))
        .count();
    if a == k || k - a > NAME_MAX {
        return;
    }
    let name = &b[a..k];
    // A qualified type name (`"AWS::ApiGateway::ApiKey": …`), not a variable.
    if a > 0 && b[a - 1] == b':' {
        return;
    }
    if b[op] == b'='
        && sp == 0
        && !quoted_name
        && cx.on(SecretType::ApiKey)
        && azure(cx, a, name, end)
    {
        return;
    }
    if cx.on(SecretType::GenericSecret) {
        generic(cx, name, end);
    }
}

/// Azure connection strings and SAS tokens (API_KEY): `AccountKey=` + 88 base64 characters ending in
/// `==` (storage), `SharedAccessKey=` + 44 ending in `=` (Service Bus, Event Hubs), and a SAS `sig=`
/// (URL-encoded base64, 40 to 128 characters) where `sv=` precedes it within 400 bytes. The span is
/// the key. Whether a rule of these applied (matched, or is open).
fn azure(cx: &mut Cx, a: usize, name: &[u8], v: usize) -> bool {
    let b = cx.b;
    let len = b.len();
    fn b64(c: u8) -> bool {
        c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'='
    }
    fn sas(c: u8) -> bool {
        b64(c) || c == b'%'
    }
    let (class, min, max): (fn(u8) -> bool, usize, usize) = match name {
        b"AccountKey" => (b64, 88, 88),
        b"SharedAccessKey" => (b64, 44, 44),
        b"sig"
            if a > 0
                && matches!(b[a - 1], b'&' | b'?' | b';')
                && memchr::memmem::find(&b[a.saturating_sub(400)..a], b"sv=").is_some() =>
        {
            (sas, 40, 128)
        }
        _ => return false,
    };
    let n = run(b, v, max + 1, class);
    if n > max {
        return false;
    }
    if v + n >= len {
        cx.open(v);
    }
    let key = &b[v..v + n];
    let ok = (min..=max).contains(&n)
        && match name {
            b"AccountKey" => key.ends_with(b"=="),
            b"SharedAccessKey" => key.ends_with(b"="),
            _ => true,
        };
    if ok {
        cx.specific(v, v + n, SecretType::ApiKey);
    }
    ok
}

/// GENERIC_SECRET: the name (letters and digits, lower-cased, separators dropped) ends in `key`,
/// `token`, `secret`, `auth`, `authorization`, `credential(s)` or `creds` — which covers `API_KEY`,
/// `apiKey`, `x-api-key`, `CLIENT_SECRET`, `accessToken`, `PRIVATE_KEY`, `GITHUB_AUTH` — but is not a
/// bare `key` (dict iteration, crypto test vectors) nor one of `NOT_SECRET_BEFORE` + keyword
/// (`public_key`, `primary_key`, `page_token`). The value, after up to 8 spaces (and an HTTP scheme
/// word after `Authorization`: `Bearer`, `Basic`, `Token`), is either quoted — then any printable
/// ASCII up to the closing quote (Django keys carry `!@#$%^&*(-_=+)`) — or unquoted, a run of
/// `[A-Za-z0-9+/_.~-]` and up to three `=` of padding, ended by whitespace or `,;)]}&#<>|` or a
/// quote (a trailing `.` dropped). It
/// must pass `value::high_entropy`. Span = the value.
fn generic(cx: &mut Cx, name: &[u8], end: usize) {
    let b = cx.b;
    let len = b.len();
    let mut compact = [0u8; NAME_MAX];
    let mut m = 0;
    for &c in name {
        if c.is_ascii_alphanumeric() {
            compact[m] = c.to_ascii_lowercase();
            m += 1;
        }
    }
    let compact = &compact[..m];
    let Some(kw) = GENERIC_WORDS
        .iter()
        .find(|w| compact.ends_with(w.as_bytes()))
    else {
        return;
    };
    let before = &compact[..m - kw.len()];
    let not_secret = |list: &[&str]| list.iter().any(|x| before.ends_with(x.as_bytes()));
    if (before.is_empty() && *kw == "key")
        || not_secret(NOT_SECRET_BEFORE)
        || (*kw == "token" && not_secret(TOKEN_NOT_SECRET_BEFORE))
    {
        return;
    }
    let sp = spaces(b, end, 9);
    if sp > 8 {
        return;
    }
    let mut j = end + sp;
    if j >= len {
        return;
    }
    let q = b[j];
    let quoted = matches!(q, b'"' | b'\'' | b'`');
    if quoted {
        j += 1;
    }
    if matches!(*kw, "authorization" | "auth") {
        for scheme in [&b"bearer"[..], b"basic", b"token"] {
            if word_at(b, j, scheme) && b.get(j + scheme.len()) == Some(&b' ') {
                j += scheme.len() + spaces(b, j + scheme.len(), 4);
                break;
            }
        }
    }
    let n = if quoted {
        run(b, j, GENERIC_MAX + 1, |c| {
            c.is_ascii_graphic() && c != q && c != b'\\'
        })
    } else {
        // `=` only as trailing padding: `uuid=7f46…` is a field, and runs stay short in `k=k=k=…`.
        let body = run(b, j, GENERIC_MAX + 1, |c| {
            c.is_ascii_alphanumeric() || b"+/_.~-".contains(&c)
        });
        body + run(b, j + body, 3, |c| c == b'=')
    };
    if n > GENERIC_MAX {
        return;
    }
    let mut z = j + n;
    if z >= len {
        cx.open(j);
    }
    let terminated = match b.get(z) {
        None => !quoted,
        Some(&t) if quoted => t == q,
        Some(&t) => t.is_ascii_whitespace() || b",;)]}&#<>|\"'`".contains(&t),
    };
    if !terminated {
        return;
    }
    if !quoted {
        while z > j && b[z - 1] == b'.' {
            z -= 1;
        }
    }
    if value::high_entropy(&b[j..z], quoted) {
        cx.weak(j, z, SecretType::GenericSecret);
    }
}

fn scheme_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'+' || c == b'.' || c == b'-'
}

/// URL_CREDENTIALS at the `:` of `://`: a scheme (2 to 32 of `[A-Za-z0-9+.-]`, starting with a
/// letter: postgres, mongodb+srv, redis, amqp, https, …), then an authority (up to 256 bytes, ended
/// by whitespace or `/ ? # \ " ' < > ``), whose last `@` ends the user info (so an unescaped `@` in a
/// password stays in it) and whose first `:` before that ends the user name (which may be empty:
/// `redis://:pw@host`). The password is reported if it is not a placeholder (`{password}`,
/// `${DB_PASS}`, `%s`, `<pass>`, `****`, `password`) and is not a port (`host.example:8080@…`); there
/// is no password without `:` (`ssh://git@host`), none with a second `:` (CVS roots), and no
/// credentials without `@` (`http://h:8080/`).
fn url(cx: &mut Cx, c: usize) {
    let b = cx.b;
    let len = b.len();
    match b.get(c + 2) {
        None => return,
        Some(b'/') => {}
        _ => return,
    }
    let s0 = c - b[..c]
        .iter()
        .rev()
        .take(33)
        .take_while(|&&x| scheme_char(x))
        .count();
    if !(2..=32).contains(&(c - s0)) || !b[s0].is_ascii_alphabetic() {
        return;
    }
    let a = c + 3;
    let mut first_colon = None;
    let mut last_at = None;
    let mut j = a;
    loop {
        if j - a > AUTHORITY_MAX {
            return;
        }
        if j >= len {
            if let Some(f) = first_colon {
                cx.open(f + 1);
            }
            break;
        }
        let x = b[j];
        if x.is_ascii_whitespace() || b"/?#\\\"'<>`".contains(&x) {
            break;
        }
        if x == b':' && first_colon.is_none() {
            first_colon = Some(j);
        }
        if x == b'@' {
            last_at = Some(j);
        }
        j += 1;
    }
    let Some(at) = last_at else { return };
    let Some(colon) = first_colon.filter(|&f| f < at) else {
        return;
    };
    let pw = &b[colon + 1..at];
    let user = &b[a..colon];
    let host_ok = b
        .get(at + 1)
        .is_some_and(|&h| at + 1 < j && (h.is_ascii_alphanumeric() || h == b'['));
    let port = user.contains(&b'.') && pw.len() <= 5 && pw.iter().all(u8::is_ascii_digit);
    // A second `:` is no password but another syntax (`cvs://:pserver:anoncvs@host:/cvs`).
    if host_ok && !port && !pw.contains(&b':') && !never_password(pw) && !value::has_filler(pw) {
        cx.specific(colon + 1, at, SecretType::UrlCredentials);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_an_assignment_acts_on_ends_in_a_listed_letter() {
        let names = GENERIC_WORDS
            .iter()
            .chain(&["AccountKey", "SharedAccessKey", "sig"]);
        for name in names {
            let last = name.as_bytes()[name.len() - 1].to_ascii_lowercase();
            assert!(NAME_LAST_LETTERS.contains(&last), "{name}");
        }
    }
}
