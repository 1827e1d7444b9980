//! The context types (SSN after a context word, DATE_OF_BIRTH, AWS_SECRET_KEY, PASSWORD): each
//! pattern of `checks/pii.py` matched at one context-word hit, returning the span of group `v`.
//!
//! The patterns are ported by hand rather than handed to a regex engine because of their
//! look-arounds. Each follows Python's backtracking order: the context-word alternatives in priority
//! order, then the gap (greedy or lazy), then the value; where a greedy step cannot give anything
//! back (the next element cannot match a character the step consumed) the port takes it once.

use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input};

use crate::unicode::is_space;

/// `c` matches pattern letter `w` under Python `re`'s IGNORECASE (Unicode): ASCII case, plus the
/// extra characters sre folds together with `i`, `s` and `k`.
fn ci_char(c: char, w: u8) -> bool {
    if !w.is_ascii_alphabetic() {
        return c == char::from(w);
    }
    c.eq_ignore_ascii_case(&char::from(w))
        || match w.to_ascii_lowercase() {
            b'i' => c == '\u{130}' || c == '\u{131}',
            b's' => c == '\u{17f}',
            b'k' => c == '\u{212a}',
            _ => false,
        }
}

/// The end of `word` (lower-case ASCII) matched case-insensitively at `at`, if it does.
fn word_at(s: &str, at: usize, word: &str) -> Option<usize> {
    let mut chars = s[at..].char_indices();
    for w in word.bytes() {
        match chars.next() {
            Some((_, c)) if ci_char(c, w) => {}
            _ => return None,
        }
    }
    Some(chars.next().map_or(s.len(), |(i, _)| at + i))
}

/// The character class of a pattern letter under Python's IGNORECASE, for the regex crate (whose
/// own `(?i)` folds `i` differently).
fn ci_class(w: char) -> String {
    let extra = match w.to_ascii_lowercase() {
        'i' => "\u{130}\u{131}",
        's' => "\u{17f}",
        'k' => "\u{212a}",
        _ => "",
    };
    format!(
        "[{}{}{extra}]",
        w.to_ascii_lowercase(),
        w.to_ascii_uppercase()
    )
}

/// `pattern` with every ASCII letter replaced by its IGNORECASE class (the pattern has no escapes
/// or classes of its own).
fn ci_pattern(pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                ci_class(c)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The `_DATE` pattern followed by the `(?![0-9])` of DATE_OF_BIRTH, the look-ahead consumed as a
/// non-digit or the end: the accepted paths and their priority are the same, and a date always
/// ends in a digit, so whether a character was consumed after it shows in the match.
pub(super) fn date_regex() -> Regex {
    let month = format!(
        "(?:{})\\.?",
        ci_pattern(
            "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?\
             |sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
        )
    );
    let date = format!(
        "(?:[0-9]{{4}}[-/.][0-9]{{1,2}}[-/.][0-9]{{1,2}}\
         |[0-9]{{1,2}}[-/.][0-9]{{1,2}}[-/.](?:[0-9]{{4}}|[0-9]{{2}})\
         |[0-9]{{1,2}}(?:st|nd|rd|th)?[ ]{{1,3}}(?:of[ ]{{1,3}})?{month},?[ ]{{1,3}}[0-9]{{4}}\
         |{month}[ ]{{1,3}}[0-9]{{1,2}}(?:st|nd|rd|th)?,?[ ]{{1,3}}[0-9]{{4}})"
    );
    Regex::new(&format!("{date}(?:[^0-9]|\\z)")).expect("the date pattern compiles")
}

fn next_char(s: &str, i: usize) -> Option<char> {
    s[i..].chars().next()
}

/// `(?![A-Za-z])` at `i`.
fn no_letter_at(s: &str, i: usize) -> bool {
    !next_char(s, i).is_some_and(|c| c.is_ascii_alphabetic())
}

fn ascii_run(s: &str, i: usize, max: usize, ok: impl Fn(u8) -> bool) -> usize {
    s.as_bytes()[i..]
        .iter()
        .take(max)
        .take_while(|&&b| ok(b))
        .count()
}

/// The byte offset `n` characters after `i`, or the end of `s`.
fn chars_on(s: &str, i: usize, n: usize) -> usize {
    s[i..].char_indices().nth(n).map_or(s.len(), |(k, _)| i + k)
}

/// The offset `n` characters after each query position (or the end), for positions that mostly
/// increase. Dense hits (a context word every few characters) would each walk `n` characters; here
/// both ends move forward together, so each character is stepped over about twice in all.
pub(super) struct CharCap {
    n: usize,
    from: usize,
    at: usize,
}

impl CharCap {
    fn new(n: usize) -> CharCap {
        CharCap {
            n,
            from: usize::MAX,
            at: 0,
        }
    }

    fn get(&mut self, s: &str, x: usize) -> usize {
        // Past the old window (or behind it), stepping from the old ends would cost more than a
        // fresh walk.
        self.at = if x < self.from || x >= self.at {
            chars_on(s, x, self.n)
        } else {
            chars_on(s, self.at, s[self.from..x].chars().count())
        };
        self.from = x;
        self.at
    }
}

/// The first position at or after each query where a fixed condition of the text holds (a "stop",
/// with what the scan learnt there), looked for only within a window, for positions that mostly
/// increase. An answer also answers every later query up to its stop, and a query inside a stretch
/// already scanned resumes where the last scan ended, so dense hits share one pass instead of each
/// rescanning its window.
pub(super) struct NextStop<T> {
    /// no stop in `[from, to)`; `at`, if any, is the first stop at or after `from`
    from: usize,
    to: usize,
    at: Option<(usize, T)>,
}

impl<T: Copy> NextStop<T> {
    fn new() -> NextStop<T> {
        NextStop {
            from: usize::MAX,
            to: usize::MAX,
            at: None,
        }
    }

    /// The first stop in `[x, x + window)`, or `None`; the answer may also be a stop further on.
    /// `scan(a, b)` finds the first stop in `[a, b)`, both character boundaries.
    fn find(
        &mut self,
        s: &str,
        x: usize,
        window: usize,
        mut scan: impl FnMut(usize, usize) -> Option<(usize, T)>,
    ) -> Option<(usize, T)> {
        let mut limit = (x + window).min(s.len());
        while !s.is_char_boundary(limit) {
            limit += 1;
        }
        let stale = x < self.from && self.from > limit
            || match self.at {
                Some((q, _)) => x > q,
                None => x > self.to,
            };
        if stale {
            *self = NextStop {
                from: x,
                to: x,
                at: None,
            };
        } else if x < self.from {
            // Behind the known stretch but within reach of it (a hit's shorter alternative, as in
            // `birth date`/`birth`): only the part before it is new.
            if let Some(stop) = scan(x, self.from) {
                self.at = Some(stop);
                self.to = stop.0;
            }
            self.from = x;
        }
        if self.at.is_none() && self.to < limit {
            self.at = scan(self.to, limit);
            self.to = limit;
        }
        self.at
    }
}

/// What the hits of one text share: the context patterns' gap and value scans, in `NextStop`s and
/// `CharCap`s, so a text that is a context word every few characters costs a constant per character.
pub(super) struct Scans {
    ssn_gap: NextStop<()>,
    ssn_cap: CharCap,
    dob_gap: NextStop<Option<usize>>,
    dob_cap: CharCap,
    secret_key: NextStop<()>,
    secret_cap: CharCap,
    value_end: NextStop<()>,
    value_cap: CharCap,
}

impl Scans {
    pub(super) fn new() -> Scans {
        Scans {
            ssn_gap: NextStop::new(),
            ssn_cap: CharCap::new(SSN_GAP),
            dob_gap: NextStop::new(),
            dob_cap: CharCap::new(DOB_GAP),
            secret_key: NextStop::new(),
            secret_cap: CharCap::new(SECRET_GAP),
            value_end: NextStop::new(),
            value_cap: CharCap::new(VALUE_LEN),
        }
    }
}

/// A window holding the first `n + 1` characters from a position: at most four bytes each.
const fn window(n: usize) -> usize {
    4 * (n + 1)
}

const SSN_GAP: usize = 30;
const DOB_GAP: usize = 24;
const SECRET_GAP: usize = 40;
const VALUE_LEN: usize = 128;

/// `(?i:ssns?|social[ ]{1,3}security)(?![A-Za-z])[^0-9\n]{0,30}(?P<v>[0-9]{9})(?![0-9])`
pub(super) fn ssn(s: &str, h: usize, scans: &mut Scans) -> Option<(usize, usize)> {
    // The alternatives' ends in priority order, on the stack: dense hits must not allocate.
    let ends = if let Some(e) = word_at(s, h, "ssn") {
        [word_at(s, e, "s"), Some(e)]
    } else if let Some(e) = word_at(s, h, "social") {
        let spaces = ascii_run(s, e, 3, |b| b == b' ');
        [
            (spaces > 0)
                .then(|| word_at(s, e + spaces, "security"))
                .flatten(),
            None,
        ]
    } else {
        [None; 2]
    };
    ends.into_iter()
        .flatten()
        .filter(|&e| no_letter_at(s, e))
        .find_map(|e| {
            // The gap cannot give back a character the digits could use: it takes the whole run,
            // up to the first digit or newline or 30 characters.
            let b = s.as_bytes();
            let stop = scans.ssn_gap.find(s, e, window(SSN_GAP), |a, z| {
                (a..z)
                    .find(|&i| b[i] == b'\n' || b[i].is_ascii_digit())
                    .map(|i| (i, ()))
            });
            let cap = scans.ssn_cap.get(s, e);
            let p = stop.map_or(cap, |(q, _)| q.min(cap));
            (ascii_run(s, p, 10, |b| b.is_ascii_digit()) == 9).then_some((p, p + 9))
        })
}

/// A date starts with a digit or a month name, whose first three letters every spelling has.
fn could_start_date(s: &str, p: usize) -> bool {
    let b = s.as_bytes()[p];
    let months: &[&str] = match b.to_ascii_lowercase() {
        b'0'..=b'9' => return true,
        b'j' => &["jan", "jun", "jul"],
        b'f' => &["feb"],
        b'm' => &["mar", "may"],
        b'a' => &["apr", "aug"],
        b'o' => &["oct"],
        b'n' => &["nov"],
        b'd' => &["dec"],
        // 's' is the one month initial with a non-ASCII spelling (U+017F).
        b's' => &["sep"],
        _ if !b.is_ascii() => &["sep"],
        _ => return false,
    };
    months.iter().any(|m| word_at(s, p, m).is_some())
}

/// `(?i:born|dob|d\.o\.b\.?|birth(?:[ ]?date|day)?)(?![A-Za-z])[^0-9\n]{0,24}?(?P<v>DATE)(?![0-9])`
pub(super) fn date_of_birth(
    s: &str,
    h: usize,
    date: &Regex,
    scans: &mut Scans,
) -> Option<(usize, usize)> {
    // As in `ssn`: the ends in priority order, on the stack.
    let ends = if let Some(e) = word_at(s, h, "born").or_else(|| word_at(s, h, "dob")) {
        [Some(e), None, None, None]
    } else if let Some(e) = word_at(s, h, "d.o.b") {
        [word_at(s, e, "."), Some(e), None, None]
    } else if let Some(e) = word_at(s, h, "birth") {
        [
            word_at(s, e, " date"),
            word_at(s, e, "date"),
            word_at(s, e, "day"),
            Some(e),
        ]
    } else {
        [None; 4]
    };
    ends.into_iter()
        .flatten()
        .filter(|&e| no_letter_at(s, e))
        .find_map(|e| {
            // The lazy gap: the first of the next 24 characters where a date matches, unless a
            // newline or a digit that starts none comes first.
            let stop = scans.dob_gap.find(s, e, window(DOB_GAP), |a, z| {
                s[a..z].char_indices().find_map(|(k, c)| {
                    let p = a + k;
                    let end = date_at(s, p, date);
                    (end.is_some() || c == '\n' || c.is_ascii_digit()).then_some((p, end))
                })
            });
            match stop {
                Some((p, Some(end))) if p <= scans.dob_cap.get(s, e) => Some((p, end)),
                _ => None,
            }
        })
}

/// The end of the date at `p` (before the look-ahead's character), if one starts there.
fn date_at(s: &str, p: usize, date: &Regex) -> Option<usize> {
    if !could_start_date(s, p) {
        return None;
    }
    let m = date.search(&Input::new(s).range(p..).anchored(Anchored::Yes))?;
    let last = s[..m.end()].chars().next_back()?;
    Some(if last.is_ascii_digit() {
        m.end()
    } else {
        m.end() - last.len_utf8()
    })
}

fn secret_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'/' || b == b'+'
}

/// `(?i:aws|secret)(?![A-Za-z])[^\n]{0,40}?(?<![A-Za-z0-9/+=])(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])`
pub(super) fn aws_secret(s: &str, h: usize, scans: &mut Scans) -> Option<(usize, usize)> {
    let e = word_at(s, h, "aws").or_else(|| word_at(s, h, "secret"))?;
    if !no_letter_at(s, e) {
        return None;
    }
    let b = s.as_bytes();
    // The lazy gap: the first of the next 40 characters where a key starts, unless a newline
    // comes first.
    let stop = scans
        .secret_key
        .find(s, e, window(SECRET_GAP), |a, z| secret_stop(b, a, z));
    match stop {
        Some((p, _)) if b[p] != b'\n' && p <= scans.secret_cap.get(s, e) => Some((p, p + 40)),
        _ => None,
    }
}

/// The first newline or key start in `[a, z)`. The look-arounds hold only where a run of exactly
/// 40 key characters starts and ends, so each run is measured once.
fn secret_stop(b: &[u8], a: usize, z: usize) -> Option<(usize, ())> {
    let fenced = |i: usize| secret_char(b[i]) || b[i] == b'=';
    let mut i = a;
    while i < z {
        if b[i] == b'\n' {
            return Some((i, ()));
        }
        if secret_char(b[i]) && (i == 0 || !fenced(i - 1)) {
            let run = b[i..]
                .iter()
                .take(41)
                .take_while(|&&c| secret_char(c))
                .count();
            if run == 40 && b.get(i + 40) != Some(&b'=') {
                return Some((i, ()));
            }
            i += run;
        } else {
            i += 1;
        }
    }
    None
}

fn password_value_char(c: char) -> bool {
    !(is_space(c) || matches!(c, '"' | '\'' | ',' | ';'))
}

/// `(?i:password|passwd|passphrase|pwd)(?![A-Za-z])[ ]{0,3}(?:(?i:is)[ ]{1,3}|[:=][ ]{0,3})["']?(?P<v>[^\s"',;]{1,128})`
pub(super) fn password(s: &str, h: usize, scans: &mut Scans) -> Option<(usize, usize)> {
    let e = match word_at(s, h, "pass") {
        Some(e) => ["word", "wd", "phrase"]
            .into_iter()
            .find_map(|w| word_at(s, e, w))?,
        None => word_at(s, h, "pwd")?,
    };
    if !no_letter_at(s, e) {
        return None;
    }
    // No space run here can be given back: what follows never matches a space.
    let q = e + ascii_run(s, e, 3, |b| b == b' ');
    let t = if let Some(r) = word_at(s, q, "is") {
        let spaces = ascii_run(s, r, 3, |b| b == b' ');
        if spaces == 0 {
            return None;
        }
        r + spaces
    } else if matches!(s.as_bytes().get(q), Some(b':' | b'=')) {
        q + 1 + ascii_run(s, q + 1, 3, |b| b == b' ')
    } else {
        return None;
    };
    let t = if matches!(s.as_bytes().get(t), Some(b'"' | b'\'')) {
        t + 1
    } else {
        t
    };
    let stop = scans.value_end.find(s, t, window(VALUE_LEN), |a, z| {
        s[a..z]
            .char_indices()
            .find(|&(_, c)| !password_value_char(c))
            .map(|(k, _)| (a + k, ()))
    });
    let cap = scans.value_cap.get(s, t);
    let end = stop.map_or(cap, |(q, _)| q.min(cap));
    (end > t).then_some((t, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str, span: Option<(usize, usize)>) -> Option<&str> {
        span.map(|(a, b)| &s[a..b])
    }

    #[test]
    fn ssn_context() {
        let s = "my SSNs: 123456789.";
        assert_eq!(v(s, ssn(s, 3, &mut Scans::new())), Some("123456789"));
        let s = "Social  Security no 1234567890";
        assert_eq!(ssn(s, 0, &mut Scans::new()), None);
        let s = "social    security 123456789";
        assert_eq!(ssn(s, 0, &mut Scans::new()), None);
    }

    #[test]
    fn dob_tries_the_shorter_word_when_the_longer_fails_its_look_ahead() {
        let date = date_regex();
        let s = "birth datex 1990-01-02";
        assert_eq!(
            v(s, date_of_birth(s, 0, &date, &mut Scans::new())),
            Some("1990-01-02")
        );
        let s = "d.o.b. March 3rd, 1990";
        assert_eq!(
            v(s, date_of_birth(s, 0, &date, &mut Scans::new())),
            Some("March 3rd, 1990")
        );
        let s = "born 1/2/19901";
        assert_eq!(date_of_birth(s, 0, &date, &mut Scans::new()), None);
        let s = "born on Aprıl 3 1990";
        assert_eq!(
            v(s, date_of_birth(s, 0, &date, &mut Scans::new())),
            Some("Aprıl 3 1990")
        );
    }

    #[test]
    fn secrets_and_passwords() {
        let s = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_eq!(
            v(s, aws_secret(s, 0, &mut Scans::new())),
            Some("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        );
        let s = "my passwd İs 'letmein'";
        assert_eq!(v(s, password(s, 3, &mut Scans::new())), Some("letmein"));
        let s = "password=''x";
        assert_eq!(password(s, 0, &mut Scans::new()), None);
        let s = "pwd    =x";
        assert_eq!(password(s, 0, &mut Scans::new()), None);
    }
}
