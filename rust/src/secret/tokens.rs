//! The token types with a fixed prefix: AWS access keys, vendor API keys, JWTs, PEM private keys.
//!
//! Each rule is a literal (found by one Aho-Corasick pass), a lead class the character before the
//! literal must not be in (a token glued to a word is part of something else), a body, and an edge
//! class the character after the body must not be in. Bodies are greedy runs capped one past their
//! longest length, so a run that is too long is rejected rather than cut: `ghp_` + 41 characters is
//! not a GitHub token with a character after it.
//!
//! Only prefixes that secret scanners treat as high-confidence are here: each is specific enough that
//! prose and code never produce it (a body of 16+ random characters right after it), and the lengths
//! are the vendors' published ones (with some slack where vendors changed them).

use super::{run, Cx, Finder, SecretType};

type Class = fn(u8) -> bool;

fn alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

/// `[A-Za-z0-9_-]`: base64url, and the API_KEY edge of `checks/pii.py`.
pub(super) fn b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn upper_digit(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

fn hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn hex_lower(c: u8) -> bool {
    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
}

fn letter(c: u8) -> bool {
    c.is_ascii_alphabetic()
}

fn alnum_dash(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

fn databricks(c: u8) -> bool {
    c.is_ascii_digit() || (b'a'..=b'h').contains(&c)
}

fn sentry(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"+/=_".contains(&c)
}

fn slack_path(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"/_-".contains(&c)
}

fn slack_lead(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"_.-".contains(&c)
}

fn pem_lead(_: u8) -> bool {
    false
}

/// OpenAI/Anthropic bodies mix cases or carry digits; a kebab-case name after `sk-` does not.
fn mixed(v: &[u8]) -> bool {
    v.iter().any(u8::is_ascii_digit)
        || (v.iter().any(u8::is_ascii_uppercase) && v.iter().any(u8::is_ascii_lowercase))
}

/// Hugging Face tokens are 34 letters of both cases.
fn both_cases(v: &[u8]) -> bool {
    v.iter().any(u8::is_ascii_uppercase) && v.iter().any(u8::is_ascii_lowercase)
}

#[derive(Clone, Copy)]
enum Shape {
    /// the literal, then `min..=max` characters of `body`
    Run {
        body: Class,
        min: usize,
        max: usize,
        check: Option<fn(&[u8]) -> bool>,
    },
    /// the literal, then runs of exact-ish lengths separated by `sep`
    Segs {
        segs: &'static [(Class, usize, usize)],
        sep: u8,
    },
    /// Slack `xox[abposre]-` + `[A-Za-z0-9-]{10,200}`
    Xox,
    /// Slack webhook path `hooks.slack.com/{services,workflows,triggers}/...`
    SlackHook,
    Jwt,
    Pem,
}

#[derive(Clone, Copy)]
struct Rule {
    lit: &'static str,
    kind: SecretType,
    lead: Class,
    edge: Class,
    shape: Shape,
}

const fn run_rule(lit: &'static str, body: Class, min: usize, max: usize) -> Rule {
    Rule {
        lit,
        kind: SecretType::ApiKey,
        lead: b64url,
        edge: b64url,
        shape: Shape::Run {
            body,
            min,
            max,
            check: None,
        },
    }
}

const AWS_PREFIXES: [&str; 10] = [
    "AKIA", "ASIA", "AIDA", "AROA", "AGPA", "ANPA", "ANVA", "AIPA", "ABIA", "ACCA",
];

/// The API_KEY rules. Sources: the vendors' token formats as gitleaks and trufflehog document them.
///
/// Left out on purpose: Stripe `pk_live_`/`pk_test_` (publishable, public by design); Twilio
/// `SK` + 32 hex (an API key's SID, an identifier; its secret has no prefix); Mailgun `key-` + 32 hex
/// and other prefixes that are ordinary words; AWS `A3T…` (pre-2015 keys). Slack webhook URLs are
/// API keys from `hooks.slack.com/` (the path is the credential; a scheme before it is not part of
/// the span, so a stream holds back no more than the host).
fn api_rules() -> Vec<Rule> {
    let mut rules = vec![
        // OpenAI (`sk-`, `sk-proj-`, `sk-svcacct-`, `sk-admin-`) and Anthropic (`sk-ant-api03-`,
        // `sk-ant-admin01-`): one rule, the variants are all in the body's class.
        Rule {
            shape: Shape::Run {
                body: b64url,
                min: 20,
                max: 250,
                check: Some(mixed),
            },
            ..run_rule("sk-", b64url, 0, 0)
        },
        // Stripe secret and restricted keys, live and test; webhook signing secrets.
        run_rule("sk_live_", alnum, 16, 247),
        run_rule("sk_test_", alnum, 16, 247),
        run_rule("rk_live_", alnum, 16, 247),
        run_rule("rk_test_", alnum, 16, 247),
        run_rule("whsec_", alnum, 32, 64),
        // GitHub: classic personal, OAuth, user-to-server, server-to-server, refresh; fine-grained PAT.
        run_rule("ghp_", alnum, 36, 40),
        run_rule("gho_", alnum, 36, 40),
        run_rule("ghu_", alnum, 36, 40),
        run_rule("ghs_", alnum, 36, 40),
        run_rule("ghr_", alnum, 36, 40),
        run_rule("github_pat_", word, 22, 255),
        // GitLab: personal, deploy, runner, pipeline trigger, SCIM/OAuth, CI build tokens.
        run_rule("glpat-", b64url, 20, 255),
        run_rule("gldt-", b64url, 20, 255),
        run_rule("glrt-", b64url, 20, 255),
        run_rule("glptt-", b64url, 20, 255),
        run_rule("glsoat-", b64url, 20, 255),
        run_rule("glcbt-", b64url, 20, 255),
        // Grafana service-account token: 32 alphanumerics, '_', 8 hex digits.
        Rule {
            shape: Shape::Segs {
                segs: &[(alnum, 32, 32), (hex, 8, 8)],
                sep: b'_',
            },
            ..run_rule("glsa_", alnum, 0, 0)
        },
        // Slack bot/user/app/refresh tokens and app-level tokens.
        Rule {
            shape: Shape::Xox,
            ..run_rule("xox", alnum, 0, 0)
        },
        run_rule("xapp-", alnum_dash, 20, 200),
        // Google API key, OAuth client secret, OAuth access token.
        run_rule("AIza", b64url, 35, 35),
        run_rule("GOCSPX-", b64url, 28, 28),
        run_rule("ya29.", b64url, 30, 2048),
        // Hugging Face, npm, PyPI (the macaroon's fixed base64 start `pypi.org`).
        Rule {
            shape: Shape::Run {
                body: letter,
                min: 34,
                max: 34,
                check: Some(both_cases),
            },
            ..run_rule("hf_", letter, 0, 0)
        },
        run_rule("npm_", alnum, 36, 36),
        run_rule("pypi-AgEIcHlwaS5vcmc", b64url, 50, 1000),
        // SendGrid: `SG.` 22 `.` 43.
        Rule {
            shape: Shape::Segs {
                segs: &[(b64url, 22, 22), (b64url, 43, 43)],
                sep: b'.',
            },
            ..run_rule("SG.", b64url, 0, 0)
        },
        // Shopify access/shared-secret/custom-app/private-app tokens.
        run_rule("shpat_", hex, 32, 32),
        run_rule("shpss_", hex, 32, 32),
        run_rule("shpca_", hex, 32, 32),
        run_rule("shppa_", hex, 32, 32),
        // DigitalOcean personal/OAuth/refresh tokens.
        run_rule("dop_v1_", hex_lower, 64, 64),
        run_rule("doo_v1_", hex_lower, 64, 64),
        run_rule("dor_v1_", hex_lower, 64, 64),
        // Databricks, Linear, Supabase, Sentry org tokens.
        run_rule("dapi", databricks, 32, 32),
        run_rule("lin_api_", alnum, 40, 40),
        run_rule("sbp_", hex_lower, 40, 40),
        Rule {
            edge: sentry,
            ..run_rule("sntrys_", sentry, 60, 512)
        },
        // Postman: `PMAK-` 24 hex `-` 34 hex.
        Rule {
            shape: Shape::Segs {
                segs: &[(hex, 24, 24), (hex, 34, 34)],
                sep: b'-',
            },
            ..run_rule("PMAK-", hex, 0, 0)
        },
        // HashiCorp Vault service and batch tokens.
        run_rule("hvs.", b64url, 24, 512),
        run_rule("hvb.", b64url, 24, 512),
        // age secret keys (Bech32, upper case).
        Rule {
            lead: alnum_dash,
            edge: alnum,
            ..run_rule("AGE-SECRET-KEY-1", upper_digit, 58, 58)
        },
        Rule {
            lead: slack_lead,
            edge: slack_path,
            shape: Shape::SlackHook,
            ..run_rule("hooks.slack.com/", alnum, 0, 0)
        },
    ];
    for r in &mut rules {
        if r.lit == "dapi" {
            // `dapi` may follow letters in words; the token never does.
            r.lead = alnum;
        }
    }
    rules
}

pub(super) struct Tokens {
    finder: Finder,
    rules: Vec<Rule>,
    /// Azure AD client secrets (`…Q~…`), found with their own `memmem`
    azure_ad: bool,
    /// AWS_SECRET_KEY is on: a secret key right after an access key counts
    aws_pair: bool,
    /// see `overlap_safe`
    streaming: bool,
    /// PRIVATE_KEY is on
    pem: bool,
}

/// The longest token span: a JWT's three segments and two dots.
const LONGEST_TOKEN: usize = 3 * JWT_SEGMENT_MAX + 2;

/// Whether a streaming (non-overlapping) search finds every literal start that can lead to a match:
/// no literal can begin inside another's occurrence, agreeing with it where they overlap, unless its
/// lead class rejects the byte before it (`xapp-` inside `xoxapp-` follows an `o`).
fn overlap_safe(rules: &[Rule]) -> bool {
    rules.iter().all(|a| {
        let a_lit = a.lit.as_bytes();
        rules.iter().all(|b| {
            let b_lit = b.lit.as_bytes();
            (1..a_lit.len()).all(|o| {
                let m = (a_lit.len() - o).min(b_lit.len());
                a_lit[o..o + m] != b_lit[..m] || (b.lead)(a_lit[o - 1])
            })
        })
    })
}

impl Tokens {
    pub(super) fn new(on: &[bool; 8]) -> Option<Tokens> {
        let is = |t: SecretType| on[t as usize];
        let mut rules = Vec::new();
        if is(SecretType::AwsAccessKey) || is(SecretType::AwsSecretKey) {
            for lit in AWS_PREFIXES {
                rules.push(Rule {
                    kind: SecretType::AwsAccessKey,
                    lead: alnum,
                    edge: alnum,
                    ..run_rule(lit, upper_digit, 16, 16)
                });
            }
        }
        if is(SecretType::ApiKey) {
            rules.extend(api_rules());
        }
        if is(SecretType::Jwt) {
            rules.push(Rule {
                kind: SecretType::Jwt,
                shape: Shape::Jwt,
                ..run_rule("eyJ", alnum, 0, 0)
            });
        }
        if is(SecretType::PrivateKey) {
            rules.push(Rule {
                kind: SecretType::PrivateKey,
                lead: pem_lead,
                shape: Shape::Pem,
                ..run_rule("BEGIN ", alnum, 0, 0)
            });
        }
        let azure_ad = is(SecretType::ApiKey);
        if rules.is_empty() && !azure_ad {
            return None;
        }
        debug_assert!(rules.len() <= 64, "Teddy takes at most 64 literals");
        let lits: Vec<&str> = rules.iter().map(|r| r.lit).collect();
        Some(Tokens {
            finder: Finder::new(&lits),
            streaming: overlap_safe(&rules),
            pem: is(SecretType::PrivateKey),
            rules,
            azure_ad,
            aws_pair: is(SecretType::AwsSecretKey),
        })
    }

    /// The literals a span starts with, and their lead classes (the PEM span starts at its dashes).
    pub(super) fn partials(&self) -> Vec<super::Partial> {
        self.rules
            .iter()
            .map(|r| match r.shape {
                Shape::Pem => (&b"-----BEGIN "[..], r.lead),
                _ => (r.lit.as_bytes(), r.lead),
            })
            .collect()
    }

    /// How far before `from` the hold-back must look for the start of a token span that may still be
    /// open at the end: tokens and JWTs are runs of `[A-Za-z0-9-_./+=~]` (up to `LONGEST_TOKEN`
    /// bytes), so the trailing run of those bounds them; a key block is open only if its body chars reach
    /// the end, and then its header is the last `BEGIN ` in that trailing run (read back at most
    /// 16 KiB). Both scans stop at the first byte that ends such a run, so in prose they cost a word.
    pub(super) fn open_span_floor(&self, b: &[u8], from: usize) -> usize {
        let n = b.len();
        let mut floor = from;
        let back = |limit: usize, ok: &dyn Fn(u8) -> bool| {
            n - b.iter().rev().take(limit).take_while(|&&c| ok(c)).count()
        };
        let word = back(LONGEST_TOKEN + 1, &|c| {
            c.is_ascii_alphanumeric() || b"-_./+=~".contains(&c)
        });
        floor = floor.min(word);
        if self.pem {
            let body = back(super::pem::BODY_MAX + 128, &super::pem::body_byte);
            if body < floor {
                if let Some(k) = memchr::memmem::rfind(&b[body..], b"BEGIN ") {
                    floor = floor.min((body + k).saturating_sub(5));
                }
            }
        }
        floor
    }

    pub(super) fn scan(&self, cx: &mut Cx, from: usize) {
        let b = cx.b;
        if !self.rules.is_empty() {
            self.finder.each(b, from, self.streaming, |p, k| {
                let rule = self.rules[k];
                self.eval(cx, &rule, p);
            });
        }
        if self.azure_ad {
            for q in memchr::memmem::find_iter(&b[from..], b"Q~") {
                azure_ad(cx, from + q);
            }
        }
    }

    fn eval(&self, cx: &mut Cx, rule: &Rule, p: usize) {
        let b = cx.b;
        if p > 0 && (rule.lead)(b[p - 1]) {
            return;
        }
        let a = p + rule.lit.len();
        let end = match rule.shape {
            Shape::Run {
                body,
                min,
                max,
                check,
            } => body_run(cx, p, a, body, min, max, rule.edge)
                .filter(|&e| check.is_none_or(|ok| ok(&b[a..e]))),
            Shape::Segs { segs, sep } => segments(cx, p, a, segs, sep, rule.edge),
            Shape::Xox => xox(cx, p),
            Shape::SlackHook => slack_hook(cx, p, a),
            Shape::Jwt if p < cx.jwt_end => None,
            Shape::Jwt => jwt(cx, p).inspect(|&e| cx.jwt_end = e),
            Shape::Pem => {
                super::pem::pem(cx, p);
                None
            }
        };
        if let Some(e) = end {
            cx.specific(p, e, rule.kind);
            if rule.kind == SecretType::AwsAccessKey
                && self.aws_pair
                && matches!(rule.lit, "AKIA" | "ASIA")
            {
                // A credentials file or CSV row: `AKIA…,wJalr…` — the secret follows the access key.
                super::assign::aws_gap(cx, e);
            }
        }
    }
}

/// `min..=max` characters of `body` at `a`, not followed by a character of `edge`. A run reaching the
/// end of the text (and not yet too long) is open from the token's start `p`.
fn body_run(
    cx: &mut Cx,
    p: usize,
    a: usize,
    body: Class,
    min: usize,
    max: usize,
    edge: Class,
) -> Option<usize> {
    let b = cx.b;
    let n = run(b, a, max + 1, body);
    if n > max {
        return None;
    }
    let e = a + n;
    if e >= b.len() {
        // The run may go on; as the text stands, it ends here.
        cx.open(p);
    }
    (n >= min && !b.get(e).is_some_and(|&c| edge(c))).then_some(e)
}

fn segments(
    cx: &mut Cx,
    p: usize,
    a: usize,
    segs: &[(Class, usize, usize)],
    sep: u8,
    edge: Class,
) -> Option<usize> {
    let b = cx.b;
    let mut i = a;
    for (k, &(class, min, max)) in segs.iter().enumerate() {
        let n = run(b, i, max + 1, class);
        if n > max {
            return None;
        }
        i += n;
        if i >= b.len() {
            cx.open(p);
        }
        if n < min {
            return None;
        }
        if k + 1 < segs.len() {
            if b.get(i) != Some(&sep) {
                return None;
            }
            i += 1;
        }
    }
    (!b.get(i).is_some_and(|&c| edge(c))).then_some(i)
}

/// `xox[abposre]-[A-Za-z0-9-]{10,200}`: bot, app, user, legacy, workspace, refresh tokens.
fn xox(cx: &mut Cx, p: usize) -> Option<usize> {
    let b = cx.b;
    match b.get(p + 3) {
        None => {
            cx.open(p);
            return None;
        }
        Some(c) if !b"abposre".contains(c) => return None,
        _ => {}
    }
    match b.get(p + 4) {
        None => {
            cx.open(p);
            None
        }
        Some(b'-') => body_run(cx, p, p + 5, alnum_dash, 10, 200, b64url),
        _ => None,
    }
}

/// A Slack incoming-webhook/workflow URL path: the URL itself is the credential. The span starts at
/// `hooks.slack.com` (with or without the scheme before it) and runs over the path.
fn slack_hook(cx: &mut Cx, p: usize, a: usize) -> Option<usize> {
    let b = cx.b;
    let rest = &b[a..];
    let kind = ["services/", "workflows/", "triggers/"]
        .into_iter()
        .find(|k| rest.starts_with(k.as_bytes()));
    let Some(kind) = kind else {
        if ["services/", "workflows/", "triggers/"]
            .iter()
            .any(|k| rest.len() < k.len() && k.as_bytes().starts_with(rest))
        {
            cx.open(p);
        }
        return None;
    };
    body_run(cx, p, a + kind.len(), slack_path, 20, 200, slack_path)
}

const JWT_SEGMENT_MAX: usize = 8192;

/// A JWS in compact form: `eyJ…` (a JSON header) `.` `eyJ…` (a JSON payload) `.` signature, each
/// base64url, and any further `.`-joined segments. The signature may be empty (`alg: none`): such a
/// token still carries its claims. The header and payload are at least 10 characters (`{"a":1}` is);
/// each segment is capped at 8 KiB.
fn jwt(cx: &mut Cx, p: usize) -> Option<usize> {
    let b = cx.b;
    let len = b.len();
    let seg = |i: usize| run(b, i, JWT_SEGMENT_MAX + 1, b64url);
    let mut i = p;
    for k in 0..3 {
        if k == 1 {
            // The payload is JSON too.
            let avail = &b[i..len.min(i + 3)];
            if avail.len() < 3 {
                if b"eyJ".starts_with(avail) {
                    cx.open(p);
                }
                return None;
            }
            if avail != b"eyJ" {
                return None;
            }
        }
        let n = seg(i);
        if n > JWT_SEGMENT_MAX {
            return None;
        }
        i += n;
        if i >= len {
            cx.open(p);
        }
        if k < 2 {
            if n < 10 || b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
    }
    // More dot-separated base64url segments after the signature belong to the same span (a JWS in
    // a longer dotted token, or many in a row): one match covers them all, up to the longest token
    // span, rather than a match starting at every `eyJ` inside.
    while b.get(i) == Some(&b'.') {
        if i + 1 == len {
            // A segment may follow.
            cx.open(p);
            break;
        }
        let n = seg(i + 1);
        if n == 0 || i + 1 + n - p > LONGEST_TOKEN {
            break;
        }
        i += 1 + n;
        if i >= len {
            cx.open(p);
        }
    }
    Some(i)
}

/// The characters of an Azure AD client secret, and those that may not touch it.
fn azure_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"_~.".contains(&c)
}

fn azure_edge(c: u8) -> bool {
    azure_char(c) || c == b'-'
}

/// An Azure AD (Entra ID) client secret: `[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}`, 40
/// characters in practice. Found from its `Q~`, which nothing else has four characters in.
fn azure_ad(cx: &mut Cx, q: usize) {
    let b = cx.b;
    if q < 4 || !b[q - 1].is_ascii_digit() || !b[q - 4..q - 1].iter().all(|&c| azure_char(c)) {
        return;
    }
    let start = q - 4;
    if start > 0 && azure_edge(b[start - 1]) {
        return;
    }
    let a = q + 2;
    const CAP: usize = 40;
    let n = run(b, a, CAP, azure_edge);
    if n == CAP {
        return;
    }
    if a + n >= b.len() {
        cx.open(start);
    }
    // A sentence may end right after it.
    let mut e = a + n;
    while e > a && b[e - 1] == b'.' {
        e -= 1;
    }
    if (31..=34).contains(&(e - a)) {
        cx.specific(start, e, SecretType::ApiKey);
    }
}

/// The start of a trailing text that could still grow into an Azure AD client secret: up to three
/// secret characters, or three and a digit, or those and `Q`, after a character that may precede one.
pub(super) fn azure_ad_partial(b: &[u8]) -> usize {
    let n = b.len();
    let tail = b
        .iter()
        .rev()
        .take(6)
        .take_while(|&&c| azure_char(c))
        .count();
    let start = n - tail;
    if tail == 0 || tail == 6 || (start > 0 && azure_edge(b[start - 1])) {
        return n;
    }
    let t = &b[start..];
    let ok = match t.len() {
        1..=3 => true,
        4 => t[3].is_ascii_digit(),
        5 => t[3].is_ascii_digit() && t[4] == b'Q',
        _ => false,
    };
    if ok {
        start
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_literals_can_be_searched_without_overlaps() {
        let mut rules: Vec<Rule> = api_rules();
        rules.extend(Tokens::new(&[true; 8]).unwrap().rules);
        assert!(overlap_safe(&rules));
        assert!(Tokens::new(&[true; 8]).unwrap().rules.len() <= 64);
    }
}
