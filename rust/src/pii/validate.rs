//! The validators `checks/pii.py` runs on candidates, ported check for check. Every value they see
//! was matched by an ASCII-only pattern, so they work on bytes.

fn digits(value: &str) -> Vec<u8> {
    value
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

fn number(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |n, &d| n * 10 + u32::from(d))
}

fn luhn(n: &[u8]) -> bool {
    let total: u32 = n
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            match (i % 2, d * 2) {
                (0, _) => d,
                (_, x) if x > 9 => x - 9,
                (_, x) => x,
            }
        })
        .sum();
    total.is_multiple_of(10)
}

fn card_issuer_ok(n: &[u8]) -> bool {
    let len = n.len();
    if n[0] == 4 {
        return matches!(len, 13 | 16 | 19);
    }
    let (p2, p3, p4, p6) = (
        number(&n[..2]),
        number(&n[..3]),
        number(&n[..4]),
        number(&n[..6]),
    );
    if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) {
        return len == 16;
    }
    if p2 == 34 || p2 == 37 {
        return len == 15;
    }
    if p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) || (622126..=622925).contains(&p6) {
        return (16..=19).contains(&len);
    }
    if (3528..=3589).contains(&p4) {
        return (16..=19).contains(&len);
    }
    if (300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39) {
        return (14..=19).contains(&len);
    }
    false
}

pub(super) fn card(value: &str) -> bool {
    let n = digits(value);
    (13..=19).contains(&n.len()) && card_issuer_ok(&n) && luhn(&n)
}

pub(super) fn ssn(value: &str) -> bool {
    let n = digits(value);
    if n.len() != 9 {
        return false;
    }
    let area = number(&n[..3]);
    area != 0 && area != 666 && area < 900 && n[3..5] != [0, 0] && n[5..] != [0, 0, 0, 0]
}

pub(super) fn ipv4(value: &str) -> bool {
    value.split('.').all(|octet| number(&digits(octet)) <= 255)
}

/// `ipaddress.IPv6Address(value)` succeeds (Python 3.11), for values of hex digits and colons only
/// (the pattern's charset, so the IPv4-suffix and scope-id forms cannot occur), and the value is more
/// than colons.
pub(super) fn ipv6(value: &str) -> bool {
    if value.bytes().all(|b| b == b':') {
        return false; // a bare "::" in prose is punctuation, not an address
    }
    const HEXTETS: usize = 8;
    let mut split = [""; HEXTETS + 1];
    let mut count = 0;
    for part in value.split(':') {
        if count == split.len() {
            return false;
        }
        split[count] = part;
        count += 1;
    }
    let parts = &split[..count];
    if parts.len() < 3 {
        return false;
    }
    let mut skip = None;
    for (i, part) in parts.iter().enumerate().take(parts.len() - 1).skip(1) {
        if part.is_empty() {
            if skip.is_some() {
                return false;
            }
            skip = Some(i);
        }
    }
    let (hi, lo) = match skip {
        Some(i) => {
            let (mut hi, mut lo) = (i, parts.len() - i - 1);
            if parts[0].is_empty() {
                hi -= 1;
                if hi != 0 {
                    return false;
                }
            }
            if parts[parts.len() - 1].is_empty() {
                lo -= 1;
                if lo != 0 {
                    return false;
                }
            }
            if hi + lo >= HEXTETS {
                return false;
            }
            (hi, lo)
        }
        None => {
            if parts.len() != HEXTETS || parts[0].is_empty() || parts[HEXTETS - 1].is_empty() {
                return false;
            }
            (parts.len(), 0)
        }
    };
    // `_parse_hextet`: the pattern allows only hex digits, so what remains is `int("", 16)` failing.
    let hextet_ok = |p: &&str| !p.is_empty() && p.len() <= 4;
    parts[..hi].iter().all(hextet_ok) && parts[parts.len() - lo..].iter().all(hextet_ok)
}

pub(super) fn phone(value: &str) -> bool {
    let n = digits(value).len();
    if value.starts_with('+') {
        (8..=15).contains(&n)
    } else {
        n == 10 || n == 11
    }
}

pub(super) fn iban(value: &str) -> bool {
    let s: Vec<u8> = value.bytes().filter(|&b| b != b' ').collect();
    if !(15..=34).contains(&s.len()) {
        return false;
    }
    // int("".join(str(int(c, 36)) for c in moved)) % 97, one base-36 digit at a time.
    let rem = s[4..].iter().chain(&s[..4]).fold(0u32, |rem, &c| {
        if c.is_ascii_digit() {
            (rem * 10 + u32::from(c - b'0')) % 97
        } else {
            (rem * 100 + u32::from(c.to_ascii_uppercase() - b'A') + 10) % 97
        }
    });
    rem == 1
}

pub(super) fn date(value: &str) -> bool {
    let nums: Vec<u32> = value
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| number(&digits(s)))
        .collect();
    match nums[..] {
        [y, m, d] if y > 999 => (1..=12).contains(&m) && (1..=31).contains(&d),
        [a, b, _] => {
            ((1..=12).contains(&a) && (1..=31).contains(&b))
                || ((1..=12).contains(&b) && (1..=31).contains(&a))
        }
        [day, _] => (1..=31).contains(&day),
        _ => false,
    }
}

/// Real secret keys mix cases and digits; a 40-letter word run is prose.
pub(super) fn secret(value: &str) -> bool {
    value
        .bytes()
        .any(|b| b.is_ascii_digit() || b == b'/' || b == b'+')
        && value.bytes().any(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards() {
        assert!(card("4111 1111 1111 1111"));
        assert!(!card("4111 1111 1111 1112"));
        assert!(card("3782 822463 10005"));
        assert!(card("2221-0000-0000-0009"));
        assert!(!card("1234567812345670"));
    }

    #[test]
    fn ssns() {
        assert!(ssn("123-45-6789"));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert!(!ssn(bad), "{bad}");
        }
    }

    #[test]
    fn ipv6_follows_ipaddress() {
        // Expected values from Python 3.11's ipaddress.IPv6Address.
        for good in [
            "::1",
            "fe80::1",
            "1::",
            "1:2:3:4:5:6:7:8",
            "1::8",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "1:2:3:4:5:6::8",
            "::2:3:4:5:6:7",
            "::1:2:3:4:5:6:7",
        ] {
            assert!(ipv6(good), "{good}");
        }
        for bad in [
            "::",
            ":::",
            "1:2",
            "1:2:3",
            ":1:2:3:4:5:6:7",
            "1::2::3",
            "1:2:3:4:5:6:7:8:9",
            "::1:2:3:4:5:6:7:8",
            "1::2:",
            ":1::2",
            "10:30:45",
            "1:2:3:4:5:6:7:",
            "1:2:3:4:5:6:7::8",
        ] {
            assert!(!ipv6(bad), "{bad}");
        }
    }

    #[test]
    fn ibans_dates_secrets_phones() {
        assert!(iban("GB82 WEST 1234 5698 7654 32"));
        assert!(!iban("GB82 WEST 1234 5698 7654 33"));
        assert!(iban("DE89370400440532013000"));
        assert!(date("1990-01-02") && date("02/03/1985") && date("March 3, 1990"));
        assert!(!date("1990-13-02") && !date("13/13/1985"));
        assert!(secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"));
        assert!(!secret("abcdefghijabcdefghijabcdefghijabcdefghij"));
        assert!(phone("+44 20 7946 0958") && phone("555-123-4567") && !phone("+1 23"));
        assert!(ipv4("192.168.0.1") && !ipv4("999.1.1.1"));
    }
}
