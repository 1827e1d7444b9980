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

/// Up to `max` characters from `i` that satisfy `ok`: where the run stops.
fn run_end(s: &str, i: usize, max: usize, ok: impl Fn(char) -> bool) -> usize {
    let mut end = i;
    for c in s[i..].chars().take(max) {
        if !ok(c) {
            break;
        }
        end += c.len_utf8();
    }
    end
}

fn ascii_run(s: &str, i: usize, max: usize, ok: impl Fn(u8) -> bool) -> usize {
    s.as_bytes()[i..]
        .iter()
        .take(max)
        .take_while(|&&b| ok(b))
        .count()
}

/// `(?i:ssns?|social[ ]{1,3}security)(?![A-Za-z])[^0-9\n]{0,30}(?P<v>[0-9]{9})(?![0-9])`
pub(super) fn ssn(s: &str, h: usize) -> Option<(usize, usize)> {
    let mut ends = Vec::with_capacity(2);
    if let Some(e) = word_at(s, h, "ssn") {
        ends.extend(word_at(s, e, "s"));
        ends.push(e);
    } else if let Some(e) = word_at(s, h, "social") {
        let spaces = ascii_run(s, e, 3, |b| b == b' ');
        if spaces > 0 {
            ends.extend(word_at(s, e + spaces, "security"));
        }
    }
    ends.into_iter()
        .filter(|&e| no_letter_at(s, e))
        .find_map(|e| {
            // The gap cannot give back a character the digits could use: it takes the whole run.
            let p = run_end(s, e, 30, |c| c != '\n' && !c.is_ascii_digit());
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
pub(super) fn date_of_birth(s: &str, h: usize, date: &Regex) -> Option<(usize, usize)> {
    let mut ends = Vec::with_capacity(4);
    if let Some(e) = word_at(s, h, "born").or_else(|| word_at(s, h, "dob")) {
        ends.push(e);
    } else if let Some(e) = word_at(s, h, "d.o.b") {
        ends.extend(word_at(s, e, "."));
        ends.push(e);
    } else if let Some(e) = word_at(s, h, "birth") {
        ends.extend(word_at(s, e, " date"));
        ends.extend(word_at(s, e, "date"));
        ends.extend(word_at(s, e, "day"));
        ends.push(e);
    }
    ends.into_iter()
        .filter(|&e| no_letter_at(s, e))
        .find_map(|e| date_after(s, e, date))
}

/// The lazy gap and the date: the first gap length at which a date matches.
fn date_after(s: &str, mut p: usize, date: &Regex) -> Option<(usize, usize)> {
    for gap in 0..=24 {
        let c = next_char(s, p)?;
        if could_start_date(s, p) {
            let input = Input::new(s).range(p..).anchored(Anchored::Yes);
            if let Some(m) = date.search(&input) {
                let last = s[..m.end()].chars().next_back()?;
                let end = if last.is_ascii_digit() {
                    m.end()
                } else {
                    m.end() - last.len_utf8()
                };
                return Some((p, end));
            }
        }
        if gap == 24 || c == '\n' || c.is_ascii_digit() {
            return None;
        }
        p += c.len_utf8();
    }
    None
}

fn secret_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'/' || b == b'+'
}

/// `(?i:aws|secret)(?![A-Za-z])[^\n]{0,40}?(?<![A-Za-z0-9/+=])(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])`
pub(super) fn aws_secret(s: &str, h: usize) -> Option<(usize, usize)> {
    let e = word_at(s, h, "aws").or_else(|| word_at(s, h, "secret"))?;
    if !no_letter_at(s, e) {
        return None;
    }
    let b = s.as_bytes();
    let fenced = |i: usize| secret_char(b[i]) || b[i] == b'=';
    let mut p = e;
    for gap in 0..=40 {
        // The look-behind holds only where a run of key characters starts, so each run is
        // measured once.
        if !fenced(p - 1)
            && ascii_run(s, p, 40, secret_char) == 40
            && !(p + 40 < b.len() && fenced(p + 40))
        {
            return Some((p, p + 40));
        }
        let c = next_char(s, p)?;
        if gap == 40 || c == '\n' {
            return None;
        }
        p += c.len_utf8();
    }
    None
}

fn password_value_char(c: char) -> bool {
    !(is_space(c) || matches!(c, '"' | '\'' | ',' | ';'))
}

/// `(?i:password|passwd|passphrase|pwd)(?![A-Za-z])[ ]{0,3}(?:(?i:is)[ ]{1,3}|[:=][ ]{0,3})["']?(?P<v>[^\s"',;]{1,128})`
pub(super) fn password(s: &str, h: usize) -> Option<(usize, usize)> {
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
    let end = run_end(s, t, 128, password_value_char);
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
        assert_eq!(v(s, ssn(s, 3)), Some("123456789"));
        let s = "Social  Security no 1234567890";
        assert_eq!(ssn(s, 0), None);
        let s = "social    security 123456789";
        assert_eq!(ssn(s, 0), None);
    }

    #[test]
    fn dob_tries_the_shorter_word_when_the_longer_fails_its_look_ahead() {
        let date = date_regex();
        let s = "birth datex 1990-01-02";
        assert_eq!(v(s, date_of_birth(s, 0, &date)), Some("1990-01-02"));
        let s = "d.o.b. March 3rd, 1990";
        assert_eq!(v(s, date_of_birth(s, 0, &date)), Some("March 3rd, 1990"));
        let s = "born 1/2/19901";
        assert_eq!(date_of_birth(s, 0, &date), None);
        let s = "born on Aprıl 3 1990";
        assert_eq!(v(s, date_of_birth(s, 0, &date)), Some("Aprıl 3 1990"));
    }

    #[test]
    fn secrets_and_passwords() {
        let s = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_eq!(
            v(s, aws_secret(s, 0)),
            Some("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        );
        let s = "my passwd İs 'letmein'";
        assert_eq!(v(s, password(s, 3)), Some("letmein"));
        let s = "password=''x";
        assert_eq!(password(s, 0), None);
        let s = "pwd    =x";
        assert_eq!(password(s, 0), None);
    }
}
