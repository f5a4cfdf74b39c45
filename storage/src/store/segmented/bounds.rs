//! Byte bounds of a key-range scan over store keys `key ++ fixed-size suffix` (Kafka's
//! `OrderedBytes`).
//!
//! The trap: store keys of different keys interleave when one key is a prefix of another.
//! `"a" ++ suffix` can sort above `"a\0\0" ++ suffix`, because the suffix's first bytes are
//! compared with the longer key's last ones. So `[from ++ min suffix, to ++ max suffix]` is
//! not the right byte range for the keys `from..=to`; these bounds cover every store key of
//! such a key, and the scan filters out the other keys' entries that fall inside them, as
//! Kafka's `HasNextCondition` does.

use std::cmp::Ordering;

/// The smallest store key of any key `k >= key_from`: `key_from ++ 0x00 * suffix_len`.
/// A key above `key_from` either differs from it at a larger byte or extends it, and any
/// suffix is at least all zeros.
pub(crate) fn lower_bound(key_from: &[u8], suffix_len: usize) -> Vec<u8> {
    let mut bound = Vec::with_capacity(key_from.len() + suffix_len);
    bound.extend_from_slice(key_from);
    bound.resize(key_from.len() + suffix_len, 0);
    bound
}

/// The largest store key `k ++ s` of any key `k <= key_to` and suffix `s <= max_suffix`.
///
/// A key below `key_to` that is not a prefix of it differs at a smaller byte, so its store
/// keys sort below `key_to ++ anything`. A prefix `key_to[..i]` is the dangerous case: its
/// store keys reach up to `key_to[..i] ++ max_suffix`, which can exceed `key_to ++ max_suffix`.
/// The bound is the largest of these `len + 1` candidates. (Kafka's `OrderedBytes.upperRange`
/// computes a cheaper bound that assumes keys of at least one byte.)
pub(crate) fn upper_bound(key_to: &[u8], max_suffix: &[u8]) -> Vec<u8> {
    let candidate = |i: usize| key_to[..i].iter().chain(max_suffix);
    let mut best = key_to.len();
    for i in 0..key_to.len() {
        if candidate(i).cmp(candidate(best)) == Ordering::Greater {
            best = i;
        }
    }
    let mut bound = Vec::with_capacity(best + max_suffix.len());
    bound.extend_from_slice(&key_to[..best]);
    bound.extend_from_slice(max_suffix);
    bound
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_key(key: &[u8], suffix: &[u8]) -> Vec<u8> {
        [key, suffix].concat()
    }

    /// Every key over a small alphabet up to length 3, and every 2-byte suffix over it.
    fn keys() -> Vec<Vec<u8>> {
        let alphabet = [0x00u8, 0x01, 0x7f, 0xff];
        let mut keys = vec![vec![]];
        for len in 1..=3 {
            let mut next = Vec::new();
            for key in keys.iter().filter(|k| k.len() == len - 1) {
                for b in alphabet {
                    let mut k = key.clone();
                    k.push(b);
                    next.push(k);
                }
            }
            keys.extend(next);
        }
        keys
    }

    #[test]
    fn bounds_cover_every_store_key_of_the_key_range() {
        let keys = keys();
        let suffixes: Vec<Vec<u8>> = keys.iter().filter(|k| k.len() == 2).cloned().collect();
        for from in &keys {
            let lower = lower_bound(from, 2);
            for to in keys.iter().filter(|to| *to >= from) {
                for max_suffix in &suffixes {
                    let upper = upper_bound(to, max_suffix);
                    for k in keys.iter().filter(|k| *k >= from && *k <= to) {
                        for s in suffixes.iter().filter(|s| *s <= max_suffix) {
                            let sk = store_key(k, s);
                            assert!(
                                sk >= lower && sk <= upper,
                                "from {from:?} to {to:?} max {max_suffix:?}: {k:?}++{s:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn upper_bound_of_a_key_with_small_bytes_is_a_shorter_prefix() {
        // "a" ++ (0x00, 0x7f) sorts above "a\0\0" ++ anything: the bound must reach it.
        assert_eq!(upper_bound(b"a\x00\x00", &[0x00, 0x7f]), b"a\x00\x7f");
        // And the empty key, a prefix of every key, above all of them when the suffix starts
        // with a byte above the key's first.
        assert_eq!(upper_bound(b"a\x00\x00", &[0x7f, 0x7f]), b"\x7f\x7f");
        assert_eq!(
            upper_bound(b"\x00", &[0x7f]),
            b"\x7f",
            "the empty key is a prefix too"
        );
        assert_eq!(upper_bound(b"\xff\xff", &[0x7f]), b"\xff\xff\x7f");
        assert_eq!(upper_bound(b"", &[0x01]), b"\x01");
    }
}
