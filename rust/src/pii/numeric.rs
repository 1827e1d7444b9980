//! PHONE, CREDIT_CARD and SSN: digit groups parsed by hand inside a run of digits and separators.
//!
//! A run (`[0-9 ().+/:-]`, on text whose digits, dashes and spaces are already folded to ASCII) is
//! cut into its maximal digit groups once. Each type then tries, from each group, the longest
//! sequence of groups its grammar allows and gives groups back from the end until the shape and the
//! validator agree, so a number glued to a year or a count after it is still found whole and exact.
//! Every attempt is bounded (at most `MAX_GROUPS` groups), so a run costs a constant per group.
//!
//! Where a value may touch its neighbours (the same rule for the three types; see `lead_ok` and
//! `trail_ok`): not glued to a digit, nor to a number it would be part of (`0.4201…`, `1-…`, `…-7`,
//! `…:30`), nor to a word of Latin letters and digits (hashes, ids). A word of letters only may be
//! glued before it (`tel415-555-0132`, `SSN_123-45-6789`); any letter of a script written without
//! spaces may touch it on either side (`电话415-555-0132`, `卡号4111111111111111的`).

/// Groups tried from one start: the longest phone (`+7 (914) 177-76-31 x123`) has fewer.
const MAX_GROUPS: usize = 8;

use super::digits::Run as Group;

/// The length of the word of ASCII letters, digits and `_` ending at `at`, and whether it holds a
/// digit; counted up to 33 bytes (a longer word is an encoded blob, whatever it holds).
fn word_before(b: &[u8], at: usize) -> (usize, bool) {
    let mut n = 0;
    let mut digit = false;
    while n < 33 && n < at {
        let c = b[at - 1 - n];
        if !(c.is_ascii_alphanumeric() || c == b'_') {
            break;
        }
        digit |= c.is_ascii_digit();
        n += 1;
    }
    (n, digit)
}

/// Whether a numeric value may start at `start`: see the module comment.
pub(super) fn lead_ok(b: &[u8], start: usize) -> bool {
    let Some(&p) = start.checked_sub(1).map(|k| &b[k]) else {
        return true;
    };
    if p.is_ascii_digit() {
        return false;
    }
    let before_digit = start >= 2 && b[start - 2].is_ascii_digit();
    if matches!(p, b'.' | b'-' | b'/' | b':' | b'+') && before_digit {
        return false;
    }
    if p.is_ascii_alphabetic() || p == b'_' {
        let (len, digit) = word_before(b, start);
        return !digit && len <= 32;
    }
    true
}

/// Whether a numeric value may end at `end`: see the module comment.
pub(super) fn trail_ok(b: &[u8], end: usize) -> bool {
    let Some(&c) = b.get(end) else {
        return true;
    };
    if c.is_ascii_alphanumeric() || c == b'_' {
        return false;
    }
    let digit_after = b.get(end + 1).is_some_and(u8::is_ascii_digit);
    !(matches!(c, b'.' | b'-' | b'/' | b':') && digit_after)
}

fn digits_of(b: &[u8], groups: &[Group], out: &mut Vec<u8>) {
    out.clear();
    for g in groups {
        out.extend(b[g.start..g.end].iter().map(|d| d - b'0'));
    }
}

// ------------------------------------------------------------------------------------------ SSN

/// `AAA-GG-SSSS` with one separator (`-`, space or `.`) used twice; validated by `validate::ssn`.
/// A bare nine-digit run counts only after a context word (`context::ssn`).
pub(super) fn find_ssn(b: &[u8], groups: &[Group], mut emit: impl FnMut(usize, usize) -> bool) {
    for w in groups.windows(3) {
        let [a, g, s] = [w[0], w[1], w[2]];
        if a.len() != 3 || g.len() != 2 || s.len() != 4 {
            continue;
        }
        let sep1 = &b[a.end..g.start];
        let sep2 = &b[g.end..s.start];
        let one = sep1.len() == 1 && matches!(sep1[0], b'-' | b' ' | b'.');
        if one && sep1 == sep2 && lead_ok(b, a.start) && trail_ok(b, s.end) {
            emit(a.start, s.end);
        }
    }
}

// ----------------------------------------------------------------------------------- CREDIT_CARD

/// Whether `sep` may sit between two groups of a card number: one space, dash or dot (mixed
/// separators are allowed: people type them).
fn card_sep(sep: &[u8]) -> bool {
    matches!(sep, b" " | b"-" | b"." | b" - ")
}

/// The group lengths a card number is written in: ungrouped (12 to 19 digits), fours with a
/// last group of one to five (`4-4-4-4`, `4-4-4-4-3` for 19 digits, `4-4-5` for 13), Amex `4-6-5`,
/// Diners `4-6-4`.
fn card_shape(lens: &[usize]) -> bool {
    match lens {
        [n] => (12..=19).contains(n),
        [4, 6, 5] | [4, 6, 4] => true,
        [init @ .., last] if init.len() >= 2 => {
            init.iter().all(|&n| n == 4) && (1..=5).contains(last)
        }
        _ => false,
    }
}

/// Card numbers: from each group, the longest run of groups in a card shape whose digits pass the
/// issuer table and Luhn (`validate::card_digits`).
pub(super) fn find_card(
    b: &[u8],
    groups: &[Group],
    digits: &mut Vec<u8>,
    mut emit: impl FnMut(usize, usize) -> bool,
) {
    let mut i = 0;
    while i < groups.len() {
        let first = groups[i];
        let mut found = None;
        // Every card shape starts with a group of four or is one group of 12 to 19.
        let may_start = first.len() == 4 || (12..=19).contains(&first.len());
        if may_start && lead_ok(b, first.start) {
            // How far the separators allow the number to go.
            let mut last = i;
            while last + 1 < groups.len()
                && last + 1 - i < 5
                && card_sep(&b[groups[last].end..groups[last + 1].start])
            {
                last += 1;
            }
            let mut lens = [0usize; 5];
            for (k, g) in groups[i..=last].iter().enumerate() {
                lens[k] = g.len();
            }
            for j in (i..=last).rev() {
                let total: usize = lens[..=j - i].iter().sum();
                if !(12..=19).contains(&total) || !card_shape(&lens[..=j - i]) {
                    continue;
                }
                if !trail_ok(b, groups[j].end) && j == last {
                    continue;
                }
                digits_of(b, &groups[i..=j], digits);
                if super::validate::card_digits(digits) && emit(first.start, groups[j].end) {
                    found = Some(j);
                    break;
                }
            }
        }
        i = found.map_or(i + 1, |j| j + 1);
    }
}

// ---------------------------------------------------------------------------------------- PHONE

/// The international prefix of `d` (a country calling code, ITU-T E.164): codes form a prefix code,
/// so its length follows from its first digits. `None` for a leading 0.
fn country_code_len(d: &[u8]) -> Option<usize> {
    const TWO: [u8; 44] = [
        20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55,
        56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
    ];
    match d {
        [0, ..] | [] => None,
        [1 | 7, ..] => Some(1),
        [a, b, ..] if TWO.contains(&(a * 10 + b)) => Some(2),
        [_, _, _, ..] => Some(3),
        _ => None,
    }
}

/// What a run of phone groups looks like, for `phone_valid`.
struct PhoneShape<'a> {
    /// a '+' before the first group
    plus: bool,
    /// group lengths, without a `(0)` trunk group
    lens: &'a [usize],
    /// the digits, without a `(0)` trunk group
    digits: &'a [u8],
    /// the separator before the last group
    last_sep: &'a [u8],
    /// the first group was in parentheses
    paren_first: bool,
    /// the first two separators, for the date check
    seps: [&'a [u8]; 2],
    /// the number stands on its own: not glued to a word, nor a field's value (`bytes=…`, `id:…`)
    apart: bool,
    /// whether a phone context word precedes the number (looked up only when the shape needs it)
    context: &'a dyn Fn() -> bool,
}

/// Whether the digits spell a number sequence typed as a placeholder (`0123456789`).
fn sequential(d: &[u8]) -> bool {
    d.windows(2).all(|w| w[1] == (w[0] + 1) % 10)
}

fn phone_valid(p: &PhoneShape<'_>) -> bool {
    let n = p.digits.len();
    let groups = p.lens.len();
    if p.plus {
        // E.164: at most 15 digits with the country code; at least six after it (the Faroes').
        return country_code_len(p.digits).is_some_and(|cc| n <= 15 && n >= cc + 6);
    }
    if !(7..=15).contains(&n) || sequential(p.digits) || date_shaped(p) {
        return false;
    }
    if shape_valid(p) {
        return true;
    }
    (groups >= 2 || n >= 9) && (p.context)()
}

/// A date (`01.02.2024 12`, `2024-03-12`) is never a phone number, whatever word comes before it.
fn date_shaped(p: &PhoneShape<'_>) -> bool {
    matches!(p.lens, [2, 2, 4, ..] | [4, 2, 2, ..])
        && p.seps[0] == p.seps[1]
        && matches!(p.seps[0], b"." | b"/" | b"-")
}

/// The national and international shapes that need no context word.
fn shape_valid(p: &PhoneShape<'_>) -> bool {
    let n = p.digits.len();
    let groups = p.lens.len();
    // `00` + country code, written in groups: `0044 20 7946 0958`, `001-623-258-4553`.
    // The `00` is written as one group (`find_phone` walks no further from a lone `0`).
    if p.digits.starts_with(&[0, 0]) && p.lens[0] >= 2 {
        return (groups >= 3 || (groups == 2 && p.lens[0] <= 5))
            && country_code_len(&p.digits[2..]).is_some_and(|cc| n - 2 <= 15 && n - 2 >= cc + 6);
    }
    // North American: `(NPA) NXX-XXXX`, `NPA-NXX-XXXX`, `1 NPA NXX XXXX`.
    if matches!(p.lens, [3, 3, 4]) || (matches!(p.lens, [1, 3, 3, 4]) && p.digits[0] == 1) {
        return true;
    }
    // With a trunk prefix 0 (most of Europe, Asia, Latin America): `0161 496 0280`, `090-5932-3979`,
    // `(06423) 081375`, `01 88 47 26 55`, bare `0232781286`.
    if p.digits[0] == 0 && p.digits[1] != 0 && (9..=12).contains(&n) {
        let first_ok = p.lens[0] >= 2 || p.paren_first;
        return first_ok && p.lens.iter().all(|&l| l >= 2);
    }
    // Russia's trunk 8: `8 (912) 345-67-89`, `8 812 415 86 83`.
    if p.digits[0] == 8
        && p.lens[0] == 1
        && n == 11
        && groups >= 3
        && p.lens[1..].iter().all(|&l| l >= 2)
    {
        return true;
    }
    // Brazil: `12 3915-0008`, `(21) 98765-4321`.
    if matches!(p.lens, [2, 4 | 5, 4]) && p.last_sep == b"-" {
        return true;
    }
    // Chinese mobiles: `1[3-9]` and nine more digits, bare or `3-4-4`.
    let chinese = n == 11 && p.digits[0] == 1 && p.digits[1] >= 3;
    // Russian mobiles, bare: `89` and nine more digits.
    let russian = n == 11 && p.digits[0] == 8 && p.digits[1] == 9;
    // Indian mobiles, bare and on their own: `[6-9]` and nine more digits; Italian ones: `3` and
    // nine or ten more. (Counters in logs, `bytes=7103703021`, are glued to their field.)
    let indian = n == 10 && p.digits[0] >= 6;
    let italian = (10..=11).contains(&n) && p.digits[0] == 3;
    let indian_or_italian = (indian || italian) && p.apart;
    (groups == 1 && (chinese || russian || indian_or_italian))
        || (chinese && matches!(p.lens, [3, 4, 4]))
}

/// Whether `sep` may sit between two phone groups, and what it does to parentheses: `Some(open,
/// close)`. A separator is at most one of `-./`, spaces around it, and parentheses.
fn phone_sep(sep: &[u8]) -> Option<(bool, bool)> {
    if sep.len() > 4 {
        return None;
    }
    let close = sep.first() == Some(&b')');
    let open = sep.last() == Some(&b'(');
    let inner = &sep[usize::from(close)..sep.len() - usize::from(open)];
    let punct = inner
        .iter()
        .filter(|c| matches!(c, b'-' | b'.' | b'/'))
        .count();
    let spaces = inner.iter().filter(|&&c| c == b' ').count();
    let ok = punct + spaces == inner.len() && punct <= 1 && spaces <= 2;
    let empty_ok = !inner.is_empty() || open || close;
    (ok && empty_ok).then_some((open, close))
}

/// An extension after a phone number at `end` (`x1234`, ` ext. 12`, ` #12`): its end.
fn extension_end(b: &[u8], end: usize) -> Option<usize> {
    let rest = &b[end..];
    let mut i = usize::from(rest.first() == Some(&b' '));
    let word = [&b"extension"[..], b"ext.", b"ext", b"x", b"#"]
        .into_iter()
        .find(|w| rest.len() >= i + w.len() && rest[i..i + w.len()].eq_ignore_ascii_case(w))?;
    i += word.len();
    i += usize::from(rest.get(i) == Some(&b' '));
    let digits = rest[i..]
        .iter()
        .take(7)
        .take_while(|c| c.is_ascii_digit())
        .count();
    ((1..=6).contains(&digits) && !rest.get(i + digits).is_some_and(u8::is_ascii_alphanumeric))
        .then_some(end + i + digits)
}

/// Phone numbers: from each group (or the `+`/`(` before it), the longest run of groups joined by
/// phone separators that `phone_valid` accepts, with its extension. `context(start)` tells
/// whether a phone context word comes shortly before `start`; `any_context()` whether one may
/// come before any start of these groups (false: `context` is false everywhere).
pub(super) fn find_phone(
    b: &[u8],
    groups: &[Group],
    digits: &mut Vec<u8>,
    seps: &mut Vec<Option<(bool, bool)>>,
    any_context: impl Fn() -> bool,
    context: impl Fn(usize) -> bool,
    mut emit: impl FnMut(usize, usize) -> bool,
) {
    // Each separator read once (every start walks over the next few).
    seps.clear();
    seps.extend(
        groups
            .windows(2)
            .map(|w| phone_sep(&b[w[0].end..w[1].start])),
    );
    let mut lens = [0usize; MAX_GROUPS];
    let mut i = 0;
    while i < groups.len() {
        let g = groups[i];
        let before = g.start.checked_sub(1).map(|k| b[k]);
        let plus = before == Some(b'+');
        // `(0161) 496`: an area code in parentheses; `(0161 496 0280)` is a number in them, and so
        // is `(+918563245094)`: a first group in parentheses that nothing joins.
        let closes_after = b.get(g.end) == Some(&b')');
        let joined = seps.get(i).is_some_and(Option::is_some);
        let paren_first = closes_after
            && joined
            && (before == Some(b'(')
                || (before == Some(b'+') && g.start >= 2 && b[g.start - 2] == b'('));
        let mut start = g.start - usize::from(plus) - usize::from(paren_first && !plus);
        if paren_first && plus {
            start -= 1;
        }
        let mut found = None;
        if lead_ok(b, start) && !(plus && start > 0 && b[start - 1] == b'+') {
            // Walk the separators; `(0)` after a country code is the trunk digit, not counted.
            let mut open = paren_first;
            let mut last = i;
            let mut trunk = None;
            let mut ends: [Option<usize>; MAX_GROUPS] = [None; MAX_GROUPS];
            // A number may end after a group only where no parenthesis is left open.
            ends[0] = (!open).then_some(g.end);
            while last + 1 < groups.len() && last + 1 - i < MAX_GROUPS {
                if open && b[groups[last].end] != b')' {
                    break;
                }
                let Some((opens, closes)) = seps[last] else {
                    break;
                };
                // Without a phone word (nor a `+`) only a number after `00` has a one-digit group
                // after the first (Cairo's `0020 2 6220-3047`): `0 0 0 0 …` is not walked eight
                // groups from every digit.
                let after_00 = g.len() >= 2 && b[g.start..g.start + 2] == *b"00";
                if !plus && groups[last + 1].len() == 1 && !after_00 && !any_context() {
                    break;
                }
                if closes && !open || opens && (open && !closes) {
                    break;
                }
                open = (open && !closes) || opens;
                last += 1;
                let grp = groups[last];
                let k = last - i;
                if plus && k == 1 && opens && grp.len() == 1 && b[grp.start] == b'0' {
                    trunk = Some(last);
                }
                if !open {
                    ends[k] = Some(grp.end);
                } else if b.get(grp.end) == Some(&b')') {
                    // `(0161)` closes right after its group.
                    ends[k] = None;
                }
            }
            let ctx = std::cell::OnceCell::new();
            let context = || *ctx.get_or_init(|| context(start));
            // The groups of the longest walk without a `(0)` trunk group, their lengths and digits,
            // built once: a shorter number is a prefix of each (the trunk can only be the second
            // group). `upto[k]`: how many used groups and digits the walk's first k + 1 groups hold.
            let mut used = [Group { start: 0, end: 0 }; MAX_GROUPS];
            let mut upto = [(0usize, 0usize); MAX_GROUPS];
            let (mut count, mut n) = (0, 0);
            for (k, &g) in groups[i..=last].iter().enumerate() {
                if Some(i + k) != trunk {
                    used[count] = g;
                    lens[count] = g.len();
                    count += 1;
                    n += g.len();
                }
                upto[k] = (count, n);
            }
            // Every shape has 7 to 15 digits (`phone_valid`): the digits are built only if one may.
            let mut built = false;
            for j in (i..=last).rev() {
                let Some(mut end) = ends[j - i] else {
                    continue;
                };
                let (count, n) = upto[j - i];
                if !(7..=15).contains(&n) {
                    continue;
                }
                if !built {
                    digits_of(b, &used[..upto[last - i].0], digits);
                    built = true;
                }
                let sep_between = |k: usize| {
                    if i + k < j {
                        &b[groups[i + k].end..groups[i + k + 1].start]
                    } else {
                        b""
                    }
                };
                let shape = PhoneShape {
                    plus,
                    lens: &lens[..count],
                    digits: &digits[..n],
                    last_sep: if j > i {
                        &b[groups[j - 1].end..groups[j].start]
                    } else {
                        b""
                    },
                    paren_first,
                    seps: [sep_between(0), sep_between(1)],
                    apart: start == 0
                        || !(b[start - 1].is_ascii_alphanumeric()
                            || matches!(b[start - 1], b'_' | b'=' | b':')),
                    context: &context,
                };
                if !phone_valid(&shape) {
                    continue;
                }
                if let Some(ext) = extension_end(b, end) {
                    end = ext;
                }
                if trail_ok(b, end) && emit(start, end) {
                    found = Some(j);
                    break;
                }
            }
        }
        i = found.map_or(i + 1, |j| j + 1);
    }
}

/// Words that announce a phone number (their ASCII letters matched in any case, so the Cyrillic
/// ones are also listed capitalised), looked for in the `PHONE_CONTEXT_BYTES` before a number that
/// needs one: a bare or oddly grouped run of digits.
const PHONE_WORDS: [&str; 30] = [
    "phone",
    "tel",
    "mobile",
    "cell",
    "call",
    "fax",
    "whatsapp",
    "contact",
    "handy",
    "telefon",
    "téléphone",
    "portable",
    "telefono",
    "cellulare",
    "celular",
    "número",
    "telefone",
    "телефон",
    "тел",
    "Телефон",
    "Тел",
    "电话",
    "手机",
    "電話",
    "携帯",
    "전화",
    "\u{92B}\u{93C}\u{94B}\u{928}",
    "\u{92B}\u{94B}\u{928}",
    "\u{92E}\u{94B}\u{92C}\u{93E}\u{907}\u{932}", // मोबाइल
    "chiam",                                      // chiamami, chiamare, chiamata
];

/// How far before a number its phone word may start: a label of two words in a script of three
/// bytes per letter (`मोबाइल नंबर: `) is 36.
const PHONE_CONTEXT_BYTES: usize = 48;

/// Whether a phone word (ASCII letters in any case) sits within `PHONE_CONTEXT_BYTES` before `start`.
pub(super) fn phone_context(s: &str, start: usize) -> bool {
    phone_words().is_match(&s.as_bytes()[start.saturating_sub(PHONE_CONTEXT_BYTES)..start])
}

/// Whether a phone word ends in `b[lo - PHONE_CONTEXT_BYTES..hi]`: when none does, no start in
/// `[lo, hi]` has one before it (one search for a whole run of digits, not one per group).
pub(super) fn phone_context_in(b: &[u8], lo: usize, hi: usize) -> bool {
    phone_words().is_match(&b[lo.saturating_sub(PHONE_CONTEXT_BYTES)..hi])
}

fn phone_words() -> &'static aho_corasick::AhoCorasick {
    static WORDS: std::sync::OnceLock<aho_corasick::AhoCorasick> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(PHONE_WORDS)
            .expect("the phone words build an automaton")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phones(text: &str) -> Vec<&str> {
        let b = text.as_bytes();
        let groups = super::super::digits::digit_runs(b, 0);
        let mut out = Vec::new();
        let mut digits = Vec::new();
        find_phone(
            b,
            &groups,
            &mut digits,
            &mut Vec::new(),
            || true,
            |at| phone_context(text, at),
            |s, e| {
                out.push(&text[s..e]);
                true
            },
        );
        out
    }

    #[test]
    fn national_and_international_phone_formats() {
        for (text, want) in [
            ("call 090-5932-3979 now", "090-5932-3979"),
            ("at 0161 496 0280.", "0161 496 0280"),
            ("ruf (06423) 081375 an", "(06423) 081375"),
            ("au 01 88 47 26 55", "01 88 47 26 55"),
            ("ligue 82 2460-7104", "82 2460-7104"),
            ("dial 001-623-258-4553", "001-623-258-4553"),
            ("x (591)341-7776x41586 y", "(591)341-7776x41586"),
            ("x 206.269.0743 x9150 y", "206.269.0743 x9150"),
            ("appelez +33 (0)1 48 08 04 12.", "+33 (0)1 48 08 04 12"),
            ("+44(0)115 4960914", "+44(0)115 4960914"),
            ("ring +919141777631", "+919141777631"),
            ("звоните 8 (066) 907-43-91", "8 (066) 907-43-91"),
            ("+7 (914) 177-76-31", "+7 (914) 177-76-31"),
            ("我的电话是15191417776", "15191417776"),
            ("tel415-555-0132", "415-555-0132"),
            ("(0406)-812415", "(0406)-812415"),
            ("phone: 3420837783", "3420837783"),
            ("Here it is: 9315954933.", "9315954933"),
            ("Eccolo: 3757710052, va bene?", "3757710052"),
            ("Ho segnato 36252940194", "36252940194"),
            ("मोबाइल नंबर: 2689590877 है।", "2689590877"),
            ("Chiamami al 2757710052", "2757710052"),
            ("0020 2 6220-3047 هو الصحيح.", "0020 2 6220-3047"),
        ] {
            assert_eq!(phones(text), [want], "{text}");
        }
    }

    #[test]
    fn numbers_that_are_not_phones() {
        for text in [
            "order 5551234567 shipped",
            "on 01.02.2024 12:30",
            "pi 0.4201308372063566",
            "ids 100 200 300 400",
            "digits 0123456789",
            "version 1.19.9.155",
            "sha a1b2c3415-555-0132",
            "range 1-415-555-0132-9",
            "cache bytes=7103703021 evictions",
            "id:9315954933",
            "container da6421113588",
            "resourceVersion 305488388",
            "call me on 2024-03-12",
            "phone: 01.02.2024",
        ] {
            assert_eq!(phones(text), Vec::<&str>::new(), "{text}");
        }
    }
}
