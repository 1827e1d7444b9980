//! What a value must look like: high-entropy for GENERIC_SECRET, password-like for PASSWORD, and
//! the placeholders, templates and code expressions neither may be.

/// `c * log2(c)` for the counts of a value of up to 256 bytes, computed once.
fn xlogx(c: usize) -> f64 {
    static TABLE: std::sync::OnceLock<[f64; 257]> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let mut t = [0.0; 257];
        for (k, x) in t.iter_mut().enumerate().skip(1) {
            let k = k as f64;
            *x = k * k.log2();
        }
        t
    });
    match t.get(c) {
        Some(&x) => x,
        None => {
            let k = c as f64;
            k * k.log2()
        }
    }
}

/// Shannon entropy in bits per byte: `log2(n) - sum(c log2 c) / n` over the byte counts `c`.
pub(super) fn entropy(v: &[u8]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &c in v {
        counts[usize::from(c)] += 1;
    }
    let n = v.len();
    let sum: f64 = counts
        .iter()
        .filter(|&&k| k > 0)
        .map(|&k| xlogx(k as usize))
        .sum();
    xlogx(n) / n as f64 - sum / n as f64
}

#[derive(Default, Clone, Copy)]
pub(super) struct Classes {
    pub upper: bool,
    pub lower: bool,
    pub digit: bool,
    pub digits: usize,
    pub letters: usize,
    /// ASCII punctuation other than `_ - . '` and `/` (which identifiers, prose and paths use)
    pub symbols: usize,
}

pub(super) fn classes(v: &[u8]) -> Classes {
    let mut k = Classes::default();
    for &c in v {
        if c.is_ascii_uppercase() {
            k.upper = true;
            k.letters += 1;
        } else if c.is_ascii_lowercase() {
            k.lower = true;
            k.letters += 1;
        } else if c.is_ascii_digit() {
            k.digit = true;
            k.digits += 1;
        } else if c >= 0x80 {
            // Part of a non-ASCII letter: counts as a letter (once per byte; only the count's
            // being non-zero matters).
            k.letters += 1;
        } else if c.is_ascii_punctuation() && !b"_-.'/".contains(&c) {
            k.symbols += 1;
        }
    }
    k
}

/// A template or reference to be filled in, not a value: `${VAR}`, `$VAR`, `{name}`, `{{ var }}`,
/// `%s`, `%(name)s`, `<password>`, `[REDACTED]`.
pub(super) fn is_template(v: &[u8]) -> bool {
    let Some(&first) = v.first() else {
        return true;
    };
    (first == b'$' && (v.get(1) == Some(&b'{') || is_identifier(&v[1..])))
        || v.contains(&b'{')
        || v.contains(&b'}')
        || (first == b'<' && v.last() == Some(&b'>'))
        || (first == b'[' && v.last() == Some(&b']'))
        || v.windows(2).any(|w| w == b"%(")
        || memchr::memchr_iter(b'%', v).any(|i| printf_spec(&v[i + 1..]))
}

/// A printf conversion after a `%`: `s`, `d`, `r` ending the value or followed by punctuation a
/// format string would have (`%s`, `%d:`), or flags, width or precision then a conversion letter
/// (`%0.f`, `%-10s`, `%.2f`) — but not a URL escape (`%2F`, `%3d`).
fn printf_spec(rest: &[u8]) -> bool {
    let conv = |c: u8| b"sdrfigxXcoeu".contains(&c);
    match rest {
        [b's' | b'd' | b'r', tail @ ..] => {
            tail.first().is_none_or(|c| b" \"'/:@&;,.=)".contains(c))
        }
        _ => {
            let spec = rest
                .iter()
                .take_while(|c| c.is_ascii_digit() || b"-#0 +.".contains(c))
                .count();
            let url_escape =
                rest.len() >= 2 && rest[0].is_ascii_hexdigit() && rest[1].is_ascii_hexdigit();
            spec > 0 && rest.get(spec).is_some_and(|&c| conv(c)) && !url_escape
        }
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`
pub(super) fn is_identifier(v: &[u8]) -> bool {
    v.first()
        .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_')
        && v.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Masked or filler: `****`, `xxxxxxxx`, `........`, `########`, one character repeated, stars
/// among punctuation (`:****`).
pub(super) fn is_masked(v: &[u8]) -> bool {
    let Some(&first) = v.first() else {
        return true;
    };
    v.iter().all(|&c| c == first)
        || v.iter().all(|c| b"*xX.#-_?".contains(c))
        || (v.contains(&b'*') && !v.iter().any(u8::is_ascii_alphanumeric))
}

/// Words that are placeholders or filler when they are the whole value (compared ASCII
/// case-insensitively).
const STOPWORDS: &[&str] = &[
    "none",
    "null",
    "nil",
    "true",
    "false",
    "undefined",
    "empty",
    "blank",
    "unset",
    "notset",
    "required",
    "optional",
    "str",
    "string",
    "bytes",
    "bytearray",
    "int",
    "integer",
    "float",
    "bool",
    "boolean",
    "dict",
    "list",
    "tuple",
    "char",
    "varchar",
    "text",
    "any",
    "object",
    "secret",
    "secretstr",
    "password",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "pw",
    "redacted",
    "masked",
    "hidden",
    "removed",
    "filtered",
    "sensitive",
    "protected",
    "encrypted",
    "hashed",
    "plaintext",
    "changeme",
    "change_me",
    "change-me",
    "n/a",
    "na",
    "tbd",
    "todo",
    "default",
    "value",
    "example",
    "sample",
    "placeholder",
    "dummy",
    "invalid",
    "incorrect",
    "wrong",
    "missing",
    "unknown",
    "error",
    "mypassword",
    "yourpassword",
    "your_password",
    "my_password",
    "new_password",
    "old_password",
    "user_password",
    "db_password",
    "getpass",
];

pub(super) fn is_stopword(v: &[u8]) -> bool {
    STOPWORDS
        .iter()
        .any(|w| v.eq_ignore_ascii_case(w.as_bytes()))
}

/// Code rather than a value: a call or subscript (`getpass()`, `os.environ["X"]`, `Optional[str]`),
/// an attribute chain of identifiers (`self.password`, `settings.API_KEY`), or a keyword argument
/// passing a variable on (`password=password`).
pub(super) fn is_code(v: &[u8]) -> bool {
    if v.iter().any(|c| b"()[]".contains(c)) {
        return true;
    }
    // identifier(.identifier)+ without digits
    let ident = |p: &[u8]| {
        !p.is_empty()
            && (p[0].is_ascii_alphabetic() || p[0] == b'_')
            && p.iter().all(|&c| c.is_ascii_alphabetic() || c == b'_')
    };
    v.contains(&b'.') && v.split(|&c| c == b'.').all(ident)
}

/// A path: `/etc/x`, `./x`, `../x`, `~/x`, `C:\x`.
pub(super) fn is_path(v: &[u8]) -> bool {
    v.starts_with(b"/")
        || v.starts_with(b"./")
        || v.starts_with(b"../")
        || v.starts_with(b"~/")
        || (v.len() > 2 && v[0].is_ascii_alphabetic() && v[1] == b':' && v[2] == b'\\')
}

/// The (lower-case) first bytes of `has_filler`'s words.
const FILLER_FIRST: [bool; 256] = {
    let mut t = [false; 256];
    let first = b"x*.yepcdsirtfhq";
    let mut i = 0;
    while i < first.len() {
        t[first[i] as usize] = true;
        i += 1;
    }
    t
};

/// Filler inside a longer value: `your_api_key_here`, `sk-xxxxxxxx`, `abcdef123456`, `abc...xyz`.
pub(super) fn has_filler(v: &[u8]) -> bool {
    // Grouped by first byte, so each position is compared with its few candidates only.
    fn words(first: u8) -> &'static [&'static [u8]] {
        match first {
            b'x' => &[b"xxxx"],
            b'*' => &[b"****"],
            b'.' => &[b"..."],
            b'y' => &[b"your"],
            b'e' => &[b"example"],
            b'p' => &[b"placeholder"],
            b'c' => &[b"changeme", b"change_me", b"change-me"],
            b'd' => &[b"dummy"],
            b's' => &[b"sample"],
            b'i' => &[b"insert"],
            b'r' => &[b"replace", b"redacted"],
            b't' => &[b"todo"],
            b'f' => &[b"fixme"],
            b'h' => &[b"here"],
            b'q' => &[b"qwerty"],
            _ => &[],
        }
    }
    let mut up = 1;
    for i in 0..v.len() {
        let c = v[i].to_ascii_lowercase();
        if FILLER_FIRST[usize::from(c)] {
            for w in words(c) {
                if v.len() - i >= w.len() && v[i..i + w.len()].eq_ignore_ascii_case(w) {
                    return true;
                }
            }
        }
        // an ascending run of six: abcdef, 123456
        if i > 0 {
            let p = v[i - 1].to_ascii_lowercase();
            up = if c == p.wrapping_add(1) && p.is_ascii_alphanumeric() {
                up + 1
            } else {
                1
            };
            if up >= 6 {
                return true;
            }
        }
    }
    false
}

fn vowel(c: u8) -> bool {
    matches!(c | 0x20, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// An identifier or phrase rather than random characters: split into words (at non-alphanumerics,
/// letter/digit changes, `aB` and `ABc` case changes), at least 75 % of the letters and digits are in
/// words that look like words (three or more letters, a vowel, one case after the first letter), not
/// counting up to two groups of digits (`_V2`, `_2024`). `SECRET_KEY_V2_PROD`, `myApiKeyValue`,
/// `settings.API_KEY`, `PKCS7PrivateKeyTypes` are (and under 1 % of random 20-character base62
/// strings); `d41d8cd98f00b204`, `aZ3kP9qLmX2vB7nR`,
/// `wJalrXUtnFEMI/K7MDENG` are not.
pub(super) fn is_wordy(v: &[u8]) -> bool {
    // One pass over the words (see `word_ends`), keeping sums only.
    let (mut digit_groups, mut digit_chars, mut total, mut wordlike) = (0, 0, 0, 0);
    let mut start = 0;
    let mut lower_tail = true; // every letter after the first is lower-case
    let mut upper = true; // every letter is upper-case
    let mut vowels = false;
    for i in 0..v.len() {
        let c = v[i];
        if !c.is_ascii_alphanumeric() {
            start = i + 1;
            continue;
        }
        if i > start {
            lower_tail &= c.is_ascii_lowercase();
        } else {
            lower_tail = true;
            upper = true;
            vowels = false;
        }
        upper &= c.is_ascii_uppercase();
        vowels |= vowel(c);
        if word_ends(v, i) {
            let n = i + 1 - start;
            if c.is_ascii_digit() {
                digit_groups += 1;
                digit_chars += n;
            } else {
                total += n;
                if n >= 3 && (lower_tail || upper) && vowels {
                    wordlike += n;
                } else if (total - wordlike) * 4 > v.len() {
                    // More than a quarter of the value is already not words: `total` can only
                    // shrink relative to it, so the share of words stays below 75 %.
                    return false;
                }
            }
            start = i + 1;
        }
    }
    if digit_groups > 2 {
        total += digit_chars;
    }
    total > 0 && wordlike * 4 >= total * 3
}

/// Whether the alphanumeric `v[i]` ends a word: the next byte is not alphanumeric, or letters and
/// digits meet, or `aB`, or `AB` followed by a lower-case letter (`HTTPServer`: `HTTP`, `Server`).
fn word_ends(v: &[u8], i: usize) -> bool {
    let c = v[i];
    let Some(&d) = v.get(i + 1) else {
        return true;
    };
    !d.is_ascii_alphanumeric()
        || c.is_ascii_digit() != d.is_ascii_digit()
        || (c.is_ascii_lowercase() && d.is_ascii_uppercase())
        || (c.is_ascii_uppercase()
            && d.is_ascii_uppercase()
            && v.get(i + 2).is_some_and(u8::is_ascii_lowercase))
}

/// GENERIC_SECRET's value test: 16 to 256 characters; unquoted, `=` only as trailing padding; at
/// least two of upper/lower/digit; none of: path, fewer than 32 hex digits alone, template, masked,
/// dotted name (`fs.s3.enabled`), ARN or URL, filler (`your_…`, `xxxx`, `abcdef`); Shannon entropy of
/// at least 3.0 bits per character and a digit (or both cases and 3.5 bits); not a path of words nor
/// an identifier or phrase (`is_wordy`). Random tokens of 16+ characters pass (hex of 32+, base64,
/// base62, UUIDs: the recall test measures it); names and placeholders do not. The cheap tests come
/// first.
pub(super) fn high_entropy(v: &[u8], quoted: bool) -> bool {
    if !(16..=256).contains(&v.len()) {
        return false;
    }
    // Unquoted, `=` only as base64 padding: `uuid=7f46…` is a field, not a value.
    let padding = v.iter().rev().take_while(|&&c| c == b'=').count();
    if !quoted && v[..v.len() - padding].contains(&b'=') {
        return false;
    }
    let k = classes(v);
    let kinds = usize::from(k.upper) + usize::from(k.lower) + usize::from(k.digit);
    if kinds < 2 {
        return false;
    }
    // A path: `./x`, `~/x`, `C:\x`, or `/…` without the digits and both cases base64 has.
    let path = is_path(v) && (v[0] != b'/' || !(k.digit && k.upper && k.lower));
    // Hex digits alone carry 4 bits each: fewer than 32 (128 bits) are a hash prefix or an id
    // (`48205d4ffd7feba3`), not a key.
    let short_hex = v.len() < 32 && v.iter().all(u8::is_ascii_hexdigit);
    if path
        || short_hex
        || is_template(v)
        || is_masked(v)
        || is_dotted_name(v)
        || scheme_like(v)
        || v.windows(3).any(|w| w == b"://")
        || has_filler(v)
    {
        return false;
    }
    let h = entropy(v);
    h >= 3.0 && (k.digit || (k.upper && k.lower && h >= 3.5)) && !is_word_path(v) && !is_wordy(v)
}

/// A dotted name: identifiers (letters first) joined by dots, `fs.s3.cse.kms.keyId`,
/// `Message.Body.Html.Data`, `auth.HTTPBasicAuth`.
pub(super) fn is_dotted_name(v: &[u8]) -> bool {
    v.contains(&b'.')
        && v.split(|&c| c == b'.').all(|p| {
            p.first().is_some_and(u8::is_ascii_alphabetic)
                && p.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
        })
}

/// A path of words: three or more `/`-separated parts, most of them words or numbers
/// (`mock_access_key/20220524/us-east-1/cognito-idp/aws4_request`, `Policy/Properties/Version`).
pub(super) fn is_word_path(v: &[u8]) -> bool {
    if memchr::memchr_iter(b'/', v).nth(1).is_none() {
        return false;
    }
    let parts: Vec<&[u8]> = v.split(|&c| c == b'/').filter(|p| !p.is_empty()).collect();
    let wordy = parts
        .iter()
        .filter(|p| p.iter().all(u8::is_ascii_digit) || is_wordy(p))
        .count();
    parts.len() >= 3 && wordy * 2 > parts.len()
}

/// An ARN, URN or URL: `arn:aws:iam::…`, `urn:x`, `https:…` (2 to 8 lower-case letters and `:`).
pub(super) fn scheme_like(v: &[u8]) -> bool {
    let n = v
        .iter()
        .take(9)
        .take_while(|c| c.is_ascii_lowercase())
        .count();
    (2..=8).contains(&n) && v.get(n) == Some(&b':') && v.len() > n + 1
}

/// CamelCase words, a type or class name: `SecretStr`, `Optional`, `PasswordField`.
pub(super) fn is_camel_words(v: &[u8]) -> bool {
    let mut i = 0;
    let mut words = 0;
    while i < v.len() {
        if !v[i].is_ascii_uppercase() {
            return false;
        }
        let lower = run_of(&v[i + 1..], u8::is_ascii_lowercase);
        if lower == 0 {
            return false;
        }
        i += 1 + lower;
        words += 1;
    }
    words > 0
}

fn run_of(v: &[u8], f: impl Fn(&u8) -> bool) -> usize {
    v.iter().take_while(|c| f(c)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wordy_separates_names_from_tokens() {
        for w in [
            "SECRET_KEY_V2_PROD",
            "myApiKeyValue",
            "settings.API_KEY",
            "DEFAULT_SECRET_KEY_2024",
        ] {
            assert!(is_wordy(w.as_bytes()), "{w}");
        }
        for t in [
            "d41d8cd98f00b204e9800998ecf8427e",
            "aZ3kP9qLmX2vB7nR4tY8",
            "q8Zt2LmP0xVb7Wc1/Yk4Rn+Ja9",
            "123e4567-e89b-12d3-a456-426614174000",
        ] {
            assert!(!is_wordy(t.as_bytes()), "{t}");
        }
    }

    #[test]
    fn entropy_and_filler() {
        assert!(entropy(b"aaaa") < 0.01);
        assert!((entropy(b"abcd") - 2.0).abs() < 1e-9);
        assert!(has_filler(b"your_api_key_here"));
        assert!(has_filler(b"abcdef98765"));
        assert!(!has_filler(b"q8Zt2LmP0xVb7Wc1"));
        assert!(high_entropy(b"q8Zt2LmP0xVb7Wc1", false));
        assert!(!high_entropy(b"os.environ.get", false));
        assert!(!high_entropy(b"uuid=7f468c16-cb7f-11e1", false));
        assert!(is_template(b"${API_KEY}") && is_template(b"%(pw)s") && is_template(b"<key>"));
        assert!(
            is_template(b"VS%0.f0COMNTOOLS") && is_template(b"user=%s&x") && is_template(b"%s")
        );
        assert!(!is_template(b"abc%2Fdef%3d") && !is_template(b"$Xr$6J2iKd8h"));
        assert!(is_code(b"self.password") && is_code(b"getpass()") && !is_code(b"S3cr3t!"));
    }
}
