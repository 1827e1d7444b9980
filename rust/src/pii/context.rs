//! The context types (SSN after a context word, DATE_OF_BIRTH): each matched at one context-word
//! hit, returning the span of the value.
//!
//! Written by hand rather than handed to a regex engine because of their look-arounds, in the order
//! a backtracking engine would try them: the context-word alternatives in priority order, then the
//! gap (greedy or lazy), then the value; where a greedy step cannot give anything back (the next
//! element cannot match a character the step consumed) it is taken once.

use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input};

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

/// The end of `word` (lower-case) matched at `at`, if it does: its ASCII letters in any case, its
/// other letters as written or in their simple upper case (`Né`, `Родился`).
fn word_at(s: &str, at: usize, word: &str) -> Option<usize> {
    let mut chars = s[at..].char_indices();
    for w in word.chars() {
        let same = |c: char| {
            if w.is_ascii() {
                ci_char(c, w as u8)
            } else {
                c == w || c.to_lowercase().eq(std::iter::once(w))
            }
        };
        match chars.next() {
            Some((_, c)) if same(c) => {}
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

/// Month names (lower case; ASCII letters match in any case) in English, German, French, Spanish,
/// Italian and Portuguese, and Russian in the genitive a date uses. Longer spellings first.
pub(crate) const MONTHS: &str =
    "jan(?:uary|uar|eiro)?|feb(?:ruary|ruar|braio)?|mar(?:ch|zo|ço)?|märz|mars\
    |apr(?:il|ile)?|avril|abril|may(?:o)?|mai(?:o)?|maggio|jun(?:e|i|io|ho)?|juin|giugno\
    |jul(?:y|i|io|ho)?|juillet|luglio|aug(?:ust)?|août|agosto|sep(?:t(?:ember)?)?|septembre\
    |septiembre|setiembre|settembre|setembro|oct(?:ober)?|okt(?:ober)?|octobre|octubre|ottobre\
    |outubro|nov(?:ember|embre|iembre|embro)?|dec(?:ember)?|dez(?:ember|embro)?|décembre\
    |dic(?:iembre|embre)?|janvier|février|enero|febrero|gennaio|fevereiro\
    |января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря";

/// The date forms a DATE_OF_BIRTH value takes (on normalised text: digits of every script are
/// ASCII), one alternative each, with whether it starts with a digit: ISO and numeric day/month
/// orders with `-`, `/` or `.`; a day, a month name and a year (`3rd of May 1970`, `8. Juni 1994`,
/// `26 de noviembre de 1939`, `12 января 1990`); a month name first (`March 3rd, 1990`); and the
/// CJK `1990年1月12日`. `month` is the pattern of a month name (`month_pattern`, or a superset).
pub(crate) fn date_alternatives(month: &str) -> Vec<(String, bool)> {
    let ordinal = ci_pattern("st|nd|rd|th");
    let of = ci_pattern("of|de");
    vec![
        (r"[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}".into(), true),
        (
            r"[0-9]{1,2}[-/.][0-9]{1,2}[-/.](?:[0-9]{4}|[0-9]{2})".into(),
            true,
        ),
        (
            format!(
                r"[0-9]{{1,2}}(?:{ordinal}|\.)?[ ]{{1,3}}(?:(?:{of})[ ]{{1,3}})?{month},?[ ]{{1,3}}(?:(?:{of})[ ]{{1,3}})?[0-9]{{4}}"
            ),
            true,
        ),
        (
            format!(r"{month}[ ]{{1,3}}[0-9]{{1,2}}(?:{ordinal})?,?[ ]{{1,3}}[0-9]{{4}}"),
            false,
        ),
        (r"[0-9]{4}年[0-9]{1,2}月[0-9]{1,2}日".into(), true),
    ]
}

/// A month name of `MONTHS`, with an optional dot.
fn month_pattern() -> String {
    format!(r"(?:{})\.?", ci_pattern(MONTHS))
}

/// Every date form, anchored where a date may start (`date_at` checks what follows it).
pub(super) fn date_regex() -> Regex {
    let alternatives: Vec<String> = date_alternatives(&month_pattern())
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    Regex::new(&format!("(?:{})", alternatives.join("|"))).expect("the date pattern compiles")
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
}

impl Scans {
    pub(super) fn new() -> Scans {
        Scans {
            ssn_gap: NextStop::new(),
            ssn_cap: CharCap::new(SSN_GAP),
            dob_gap: NextStop::new(),
            dob_cap: CharCap::new(DOB_GAP),
        }
    }
}

/// A window holding the first `n + 1` characters from a position: at most four bytes each.
const fn window(n: usize) -> usize {
    4 * (n + 1)
}

const SSN_GAP: usize = 30;
const DOB_GAP: usize = 24;

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

/// A date starts with a digit or a month name: a cheap test before the date pattern runs.
fn could_start_date(s: &str, p: usize) -> bool {
    let Some(c) = next_char(s, p) else {
        return false;
    };
    // The first letters of `MONTHS`, and U+017F (long s) that `ci_pattern` lets stand for `s`.
    const INITIALS: &str = "jfmasondgle\u{17f}яфмаисонд";
    c.is_ascii_digit()
        || c.to_lowercase()
            .next()
            .is_some_and(|l| INITIALS.contains(l))
}

/// The words that announce a date of birth (lower case; see `word_at` for case): English first
/// (`date_of_birth` tries its spellings in order), then German, French, Spanish, Italian,
/// Portuguese, Russian, Japanese, Chinese, Arabic and Hindi. A word followed by an ASCII letter is
/// not one (`borne`, `natale`); the date must follow within 24 characters.
pub(crate) const DOB_WORDS: [&str; 33] = [
    "born",
    "dob",
    "d.o.b",
    "birth", // English
    "geboren",
    "geb.",
    "geburtsdatum",
    "geburtstag", // German
    "né",
    "née",
    "naissance", // French
    "nacido",
    "nacida",
    "nacimiento", // Spanish
    "nato",
    "nata",
    "nascita", // Italian
    "nascido",
    "nascida",
    "nascimento", // Portuguese
    "родился",
    "родилась",
    "рождения", // Russian
    "生年月日",
    "誕生日",
    "生まれ", // Japanese
    "出生",
    "生日", // Chinese
    "ولد",
    "الميلاد",
    "مواليد", // Arabic
    "जन्म",
    "जन्मदिन", // Hindi
];

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
        // The longest of the other languages' words (`née` before `né`).
        let e = DOB_WORDS[4..].iter().filter_map(|w| word_at(s, h, w)).max();
        [e, None, None, None]
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

/// The end of the date at `p`, if one starts there and no digit follows it.
fn date_at(s: &str, p: usize, date: &Regex) -> Option<usize> {
    if !could_start_date(s, p) {
        return None;
    }
    let m = date.search(&Input::new(s).range(p..).anchored(Anchored::Yes))?;
    (!s.as_bytes().get(m.end()).is_some_and(u8::is_ascii_digit)).then_some(m.end())
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
}
