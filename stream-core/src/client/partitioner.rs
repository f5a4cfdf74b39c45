//! Kafka's default partitioner: murmur2 of the key, exactly as the Java client computes it, so
//! a key lands on the same partition whichever client wrote it; keyless records stick to one
//! partition until a batch's worth has gone there (KIP-480, KIP-794).

/// The Java client's `Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client's default partitioner picks for `key`:
/// `toPositive(murmur2(key)) % numPartitions`.
///
/// For a power-of-two count the remainder of the (non-negative) hash is its low bits: the same
/// partition, without the integer division that was a sixth of a producer's per-record append
/// (a stream thread sends every repartitioned word through here).
#[inline]
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    let hash = murmur2(key) & 0x7fff_ffff;
    let n = num_partitions.max(1);
    if n & (n - 1) == 0 {
        hash & (n - 1)
    } else {
        hash % n
    }
}

/// A small xorshift generator for choosing sticky partitions; seeded per process.
#[derive(Debug, Clone)]
pub(crate) struct Xorshift(u64);

impl Xorshift {
    pub fn seeded() -> Xorshift {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(0);
        Xorshift(h.finish() | 1)
    }

    pub fn below(&mut self, n: i32) -> i32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's own vectors, from the Java client's `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_the_java_client() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            (b"abc", 479470107),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key), want, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn keys_map_to_the_java_clients_partitions() {
        // toPositive(-973932308) % 6 = 1173551340 % 6 = 0; and so on, computed from the
        // vectors above as the Java client's BuiltInPartitioner.partitionForKey does.
        assert_eq!(partition_for_key(b"21", 6), (-973932308i32 & 0x7fffffff) % 6);
        assert_eq!(partition_for_key(b"foobar", 4), (-790332482i32 & 0x7fffffff) % 4);
        assert_eq!(partition_for_key(b"abc", 3), 479470107 % 3);
        for n in 1..50 {
            assert!((0..n).contains(&partition_for_key(b"any key", n)));
        }
    }

    #[test]
    fn power_of_two_counts_pick_the_remainders_partition() {
        for i in 0..2000u32 {
            let key = format!("key-{i}");
            let hash = murmur2(key.as_bytes()) & 0x7fff_ffff;
            for shift in 0..31 {
                let n = 1i32 << shift;
                assert_eq!(partition_for_key(key.as_bytes(), n), hash % n, "{key} over {n}");
            }
        }
    }
}
