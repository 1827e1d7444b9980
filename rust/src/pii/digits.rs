//! The runs of ASCII digits of a text, found once per scan and shared by every rule anchored on
//! digits (numeric PII, the context windows of SSN and DATE_OF_BIRTH, IBAN). Code and logs are one
//! sixth digits: searching for the next digit again at every run, in every rule, cost more than the
//! rules themselves.
//!
//! Sixteen bytes at a time with SSE2 on x86-64 (part of the baseline, so no run-time detection);
//! eight at a time with a word-sized bit trick elsewhere.

/// A maximal run of ASCII digits, `[start, end)` (clipped to where the search began).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Run {
    pub(super) fn len(self) -> usize {
        self.end - self.start
    }
}

/// Every run of ASCII digits in `b[from..]`, in order; a run containing `from` starts at `from`.
pub(super) fn digit_runs(b: &[u8], from: usize) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut open: Option<usize> = None;
    let mut i = from.min(b.len());
    let mut feed = |base: usize, mut mask: u64, width: u32, runs: &mut Vec<Run>| {
        // Bits of `mask` are the digits of the block at `base`; `width` bits are valid.
        let full = if width == 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        loop {
            if let Some(start) = open {
                let zeros = !mask & full;
                if zeros == 0 {
                    return;
                }
                let z = zeros.trailing_zeros();
                runs.push(Run {
                    start,
                    end: base + z as usize,
                });
                open = None;
                mask &= !((1u64 << z) - 1);
            } else {
                if mask == 0 {
                    return;
                }
                let o = mask.trailing_zeros();
                open = Some(base + o as usize);
                // Set the bits below `o` so that the next search finds the run's end.
                mask |= (1u64 << o) - 1;
            }
        }
    };
    while i + 64 <= b.len() {
        feed(i, mask64(&b[i..i + 64]), 64, &mut runs);
        i += 64;
    }
    if i < b.len() {
        let tail = &b[i..];
        let mask = tail
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_ascii_digit())
            .fold(0u64, |m, (k, _)| m | 1 << k);
        feed(i, mask, tail.len() as u32, &mut runs);
    }
    if let Some(start) = open {
        runs.push(Run {
            start,
            end: b.len(),
        });
    }
    runs
}

/// The digits of a 64-byte block as bits.
#[cfg(target_arch = "x86_64")]
fn mask64(block: &[u8]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_set1_epi8,
        _mm_sub_epi8,
    };
    debug_assert_eq!(block.len(), 64);
    let mut mask = 0u64;
    for k in 0..4 {
        // SAFETY: SSE2 is part of the x86-64 baseline; the load reads 16 bytes of `block`, which
        // holds 64 (an unaligned load).
        let bits = unsafe {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast::<__m128i>());
            let t = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
            // `t <= 9` unsigned: the digits.
            let digit = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(9)), t);
            _mm_movemask_epi8(digit) as u16
        };
        mask |= u64::from(bits) << (16 * k);
    }
    mask
}

#[cfg(not(target_arch = "x86_64"))]
fn mask64(block: &[u8]) -> u64 {
    mask64_words(block)
}

/// The digits of a 64-byte block as bits, eight bytes at a time in a `u64` (any target).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn mask64_words(block: &[u8]) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x80 * ONES;
    let mut mask = 0u64;
    for (k, chunk) in block.chunks_exact(8).enumerate() {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // Per byte, on the low seven bits (no carry crosses a byte): `>= '0'` and `<= '9'`; bytes
        // with the top bit set are never digits.
        let y = x & !HIGH;
        let ge = y + (0x80 - 0x30) * ONES;
        let le = (0x80 + 0x39) * ONES - y;
        let high = ge & le & !x & HIGH;
        // One bit per byte, gathered into the low eight bits.
        let bits = ((high >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56;
        mask |= bits << (8 * k);
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(b: &[u8], from: usize) -> Vec<Run> {
        let mut out = Vec::new();
        let mut i = from;
        while i < b.len() {
            if b[i].is_ascii_digit() {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                out.push(Run { start, end: i });
            } else {
                i += 1;
            }
        }
        out
    }

    #[test]
    fn both_block_masks_agree() {
        let block: Vec<u8> = (0..=255u8).chain(b"0123456789/:".iter().copied()).collect();
        for w in block.windows(64) {
            assert_eq!(mask64(w), mask64_words(w), "{w:?}");
        }
    }

    #[test]
    fn runs_agree_with_a_plain_search() {
        let mut texts: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"7".to_vec(),
            "x 1 22 333 /:9\u{e9}\u{660}8".as_bytes().to_vec(),
            b"0123456789".repeat(20),
        ];
        // Runs ending at, starting at and crossing every block boundary; bytes around '0' and '9'.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in [63usize, 64, 65, 127, 128, 129, 300] {
            for density in [2u64, 5, 50] {
                let t: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        if seed % 100 < density * 2 {
                            [b'/', b':', 0xb0, 0xb9, 0xff][(seed >> 8) as usize % 5]
                        } else if seed % 100 < 100 - density {
                            b'0' + (seed >> 16) as u8 % 10
                        } else {
                            b'a'
                        }
                    })
                    .collect();
                texts.push(t);
            }
        }
        for t in &texts {
            for from in [0, 1, 7, 63, 64, 65, t.len()] {
                if from <= t.len() {
                    assert_eq!(digit_runs(t, from), plain(t, from), "{t:?} from {from}");
                }
            }
        }
    }
}
