//! PRIVATE_KEY: PEM and PGP armoured private key blocks.
//!
//! `-----BEGIN [RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP |…]PRIVATE KEY[ BLOCK]-----`, a body, and
//! `-----END …-----`. The span is the whole block, header to footer. Without a footer (text cut short,
//! or the key pasted partly) it is the header to the end of the base64 body.
//!
//! The body is what a key looks like wherever it is pasted: base64 lines separated by newlines, by
//! `\n` escapes (JSON, string literals), by quotes and commas (a key split over string literals), and
//! header lines such as `Proc-Type: 4,ENCRYPTED` or `Version: GnuPG v2` (letters, digits, `:`, `,`,
//! single dashes). Anything else ends it. A header alone is no key: the body must hold a base64 run
//! of at least 16 characters that mixes digits or `+`/`/` or both cases (a key line does; prose words
//! after a quoted header do not), so documentation that shows `-----BEGIN RSA PRIVATE KEY-----` then
//! `...` or `<your key>` is not reported.
//!
//! Bounded: the body is read for at most 16 KiB (a 4096-bit RSA key is 3.2 KiB, a large PGP key a few
//! more), and it stops at the next `-----`, so the bodies of successive headers never overlap.

use super::{run, Cx, SecretType};

pub(super) const BODY_MAX: usize = 16 * 1024;
const LABEL_MAX: usize = 40;

fn b64(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'='
}

/// Any byte a body (or a header or footer) may hold.
pub(super) fn body_byte(c: u8) -> bool {
    b64(c) || c.is_ascii_whitespace() || b"-\\\"'`,:".contains(&c)
}

fn label_char(c: u8) -> bool {
    c.is_ascii_uppercase() || c == b' '
}

/// The end of a label and its closing five dashes at `i` (the `-----` included), `Err(true)` if the
/// text ends first, `Err(false)` if it is no label.
fn label(b: &[u8], i: usize) -> Result<(usize, &[u8]), bool> {
    let n = run(b, i, LABEL_MAX + 1, label_char);
    if n > LABEL_MAX {
        return Err(false);
    }
    let d = i + n;
    let dashes = run(b, d, 5, |c| c == b'-');
    if d + dashes >= b.len() && dashes < 5 {
        return Err(true);
    }
    if dashes < 5 {
        return Err(false);
    }
    Ok((d + 5, &b[i..d]))
}

/// A run of the body: `[start, end)` with what it holds.
#[derive(Default)]
struct Run {
    start: usize,
    digit: bool,
    upper: bool,
    lower: bool,
    sym: bool,
}

impl Run {
    fn qualifies(&self, end: usize) -> bool {
        end - self.start >= 16 && (self.digit || self.sym || (self.upper && self.lower))
    }
}

/// At `p`, the `B` of a `BEGIN ` the literal pass found.
pub(super) fn pem(cx: &mut Cx, p: usize) {
    let b = cx.b;
    let len = b.len();
    if p < 5 || &b[p - 5..p] != b"-----" {
        return;
    }
    let start = p - 5;
    let body0 = match label(b, p + 6) {
        Ok((end, l)) => {
            let private = [&b"PRIVATE KEY"[..], b"PRIVATE KEY BLOCK"]
                .iter()
                .any(|k| l == *k || (l.ends_with(k) && l[l.len() - k.len() - 1] == b' '));
            if !private {
                return;
            }
            end
        }
        Err(eof) => {
            if eof {
                cx.open(start);
            }
            return;
        }
    };
    let limit = len.min(body0 + BODY_MAX);
    // The end of the last qualifying run, and of the last run.
    let mut good: Option<usize> = None;
    let mut last: Option<usize> = None;
    let mut cur: Option<Run> = None;
    let mut i = body0;
    let close =
        |cur: &mut Option<Run>, i: usize, good: &mut Option<usize>, last: &mut Option<usize>| {
            if let Some(r) = cur.take() {
                if r.qualifies(i) {
                    *good = Some(i);
                }
                *last = Some(i);
            }
        };
    loop {
        if i >= limit {
            close(&mut cur, limit, &mut good, &mut last);
            if limit >= len {
                // Cut short: the body may go on, the footer may come.
                cx.open(start);
                if let Some(g) = good {
                    let end = last.map_or(g, |l| l.max(g));
                    cx.specific(start, end, SecretType::PrivateKey);
                }
            } else if let Some(g) = good {
                cx.specific(start, g, SecretType::PrivateKey);
            }
            return;
        }
        let c = b[i];
        if b64(c) {
            let r = cur.get_or_insert_with(|| Run {
                start: i,
                ..Run::default()
            });
            r.digit |= c.is_ascii_digit();
            r.upper |= c.is_ascii_uppercase();
            r.lower |= c.is_ascii_lowercase();
            r.sym |= c == b'+' || c == b'/';
            i += 1;
            continue;
        }
        close(&mut cur, i, &mut good, &mut last);
        match c {
            b'-' => {
                let dashes = run(b, i, 5, |c| c == b'-');
                if dashes == 5 {
                    const END: &[u8] = b"-----END ";
                    let avail = &b[i..len.min(i + END.len())];
                    if avail.len() < END.len() {
                        if END.starts_with(avail) {
                            cx.open(start);
                        }
                        break;
                    }
                    if avail != END {
                        break;
                    }
                    match label(b, i + END.len()) {
                        Ok((end, _)) => {
                            if good.is_some() {
                                cx.specific(start, end, SecretType::PrivateKey);
                            }
                            return;
                        }
                        Err(true) => {
                            cx.open(start);
                            return;
                        }
                        Err(false) => break,
                    }
                }
                if i + dashes >= len {
                    // `--` at the end: a footer may be starting.
                    cx.open(start);
                    return;
                }
                // Single dashes of header lines (`DEK-Info: AES-128-CBC,…`).
                i += dashes;
            }
            // An escape (`\n` in JSON or a string literal): the escaped character is a separator.
            b'\\' => i += 2,
            b' ' | b'\t' | b'\r' | b'\n' | b'"' | b'\'' | b'`' | b',' | b':' => i += 1,
            _ => break,
        }
    }
    // Ended by a character no body has: the block is cut off before its footer.
    if let Some(g) = good {
        cx.specific(start, g, SecretType::PrivateKey);
    }
}
