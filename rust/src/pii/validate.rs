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

/// Issuer prefixes and lengths (ISO/IEC 7812 ranges as the networks publish them).
fn card_issuer_ok(n: &[u8]) -> bool {
    let len = n.len();
    let p = |k: usize| number(&n[..k]);
    let (p1, p2, p3, p4) = (n[0], p(2), p(3), p(4));
    let any = |lo: usize, hi: usize| (lo..=hi).contains(&len);
    match () {
        // Visa
        () if p1 == 4 => matches!(len, 13 | 16 | 19),
        // Mir 2200-2204
        () if (2200..=2204).contains(&p4) => any(16, 19),
        // Mastercard 51-55, 2221-2720
        () if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) => len == 16,
        // American Express
        () if p2 == 34 || p2 == 37 => len == 15,
        // JCB 1800, 2131 (15 digits, 16 on newer cards); JCB's 35
        () if p4 == 1800 || p4 == 2131 => any(15, 16),
        () if p2 == 35 => any(15, 19),
        // Maestro's legacy 0604
        () if p4 == 604 => any(12, 19),
        // Diners Club 300-305, 36, 38, 39
        () if (300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39) => any(14, 19),
        // Troy 9792
        () if p4 == 9792 => len == 16,
        // RuPay 60, 65, 81, 82, 508; Discover 6011, 644-649, 65; UnionPay 62 (incl. 622126-622925);
        // Maestro 50, 56-69 (12 to 19 digits)
        () if p1 == 6 || p2 == 50 || (56..=58).contains(&p2) => any(12, 19),
        () if p2 == 81 || p2 == 82 || p3 == 508 => len == 16,
        () => false,
    }
}

/// A card number's digits (values 0-9): a known issuer's prefix and length, and Luhn.
pub(super) fn card_digits(n: &[u8]) -> bool {
    (12..=19).contains(&n.len()) && card_issuer_ok(n) && luhn(n)
}

#[cfg(test)]
fn card(value: &str) -> bool {
    card_digits(&digits(value))
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

/// A special-purpose address (RFC 6890) that names no host of anyone's: "this network" `0.0.0.0/8`,
/// loopback `127.0.0.0/8`, the broadcast `255.255.255.255`, the documentation ranges `192.0.2.0/24`,
/// `198.51.100.0/24`, `203.0.113.0/24`; IPv6 `::`, `::1` and documentation `2001:db8::/32`.
/// Private ranges stay addresses: they map an organisation's network.
pub(super) fn ip_special(value: &str) -> bool {
    if value.contains(':') {
        return match value.parse::<std::net::Ipv6Addr>() {
            Ok(a) => {
                let seg = a.segments();
                a.is_unspecified() || a.is_loopback() || (seg[0] == 0x2001 && seg[1] == 0x0db8)
            }
            Err(_) => false,
        };
    }
    let mut octets = [0u32; 4];
    for (o, part) in octets.iter_mut().zip(value.split('.')) {
        *o = number(&digits(part));
    }
    matches!(
        octets,
        [0 | 127, ..]
            | [255, 255, 255, 255]
            | [192, 0, 2, _]
            | [198, 51, 100, _]
            | [203, 0, 113, _]
    )
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

/// IBAN lengths by country (the SWIFT IBAN registry).
const IBAN_LENGTHS: [(&[u8; 2], usize); 87] = [
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
];

/// The length of the IBANs of a country (its two letters in either case).
pub(super) fn iban_length(country: [u8; 2]) -> Option<usize> {
    let country = country.map(|c| c.to_ascii_uppercase());
    IBAN_LENGTHS
        .iter()
        .find(|(c, _)| **c == country)
        .map(|&(_, len)| len)
}

pub(super) fn iban(value: &str) -> bool {
    let s: Vec<u8> = value.bytes().filter(|&b| b != b' ' && b != b'-').collect();
    if !(15..=34).contains(&s.len()) {
        return false;
    }
    let country = [s[0].to_ascii_uppercase(), s[1].to_ascii_uppercase()];
    let length_ok = IBAN_LENGTHS
        .iter()
        .any(|&(c, len)| *c == country && s.len() == len);
    // One case throughout: `gb82west…` or `GB82WEST…`, not an identifier in mixed case.
    let lower = s.iter().any(u8::is_ascii_lowercase);
    let upper = s.iter().any(u8::is_ascii_uppercase);
    if !length_ok || (lower && upper) {
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
        assert!(card("2200 0000 0000 0004") && card("9792 0000 0000 0003"));
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
        assert!(ipv4("192.168.0.1") && !ipv4("999.1.1.1"));
    }
}
