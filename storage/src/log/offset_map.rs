//! The cleaner's key → latest-offset map, in a fixed amount of memory.
//!
//! Like Kafka's `SkimpyOffsetMap`, it stores a hash of each key rather than the key: 16 bytes
//! of XXH3-128 plus an 8-byte offset per slot, open addressing with linear probing, filled up
//! to a load factor. Two keys share a slot only if their 128-bit hashes collide.

/// A fixed-capacity map from key hash to the latest offset seen for that key.
#[derive(Debug)]
pub(crate) struct OffsetMap {
    /// 0 marks an empty slot; a real hash of 0 is stored as 1.
    hashes: Vec<u128>,
    offsets: Vec<i64>,
    mask: usize,
    len: usize,
    max_len: usize,
}

impl OffsetMap {
    /// A map taking at most `memory_bytes`, filled to `load_factor` at most.
    pub fn with_memory(memory_bytes: usize, load_factor: f64) -> OffsetMap {
        let per_slot = std::mem::size_of::<u128>() + std::mem::size_of::<i64>();
        let slots = (memory_bytes / per_slot).max(2);
        let slots = if slots.is_power_of_two() {
            slots
        } else {
            slots.next_power_of_two() / 2
        };
        let max_len = ((slots as f64) * load_factor.clamp(0.1, 0.95)) as usize;
        OffsetMap {
            hashes: vec![0; slots],
            offsets: vec![0; slots],
            mask: slots - 1,
            len: 0,
            max_len: max_len.max(1),
        }
    }

    fn hash(key: &[u8]) -> u128 {
        xxhash_rust::xxh3::xxh3_128(key).max(1)
    }

    fn slot(&self, hash: u128) -> usize {
        let mut i = (hash as usize) & self.mask;
        loop {
            let h = self.hashes[i];
            if h == 0 || h == hash {
                return i;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Room for `n` more keys?
    pub fn has_room_for(&self, n: usize) -> bool {
        self.len + n <= self.max_len
    }

    /// Records `offset` as the latest for `key`. The caller checks room first.
    pub fn put(&mut self, key: &[u8], offset: i64) {
        let hash = Self::hash(key);
        let i = self.slot(hash);
        if self.hashes[i] == 0 {
            self.hashes[i] = hash;
            self.len += 1;
        }
        self.offsets[i] = offset;
    }

    pub fn get(&self, key: &[u8]) -> Option<i64> {
        let hash = Self::hash(key);
        let i = self.slot(hash);
        (self.hashes[i] != 0).then(|| self.offsets[i])
    }

    pub fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.max_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_offsets_replace_earlier_ones_and_capacity_is_bounded() {
        let mut map = OffsetMap::with_memory(24 * 64, 0.75);
        assert_eq!(map.capacity(), 48);
        for i in 0..40i64 {
            map.put(format!("k{i}").as_bytes(), i);
        }
        map.put(b"k3", 100);
        assert_eq!(map.get(b"k3"), Some(100));
        assert_eq!(map.get(b"k39"), Some(39));
        assert_eq!(map.get(b"nope"), None);
        assert_eq!(map.len(), 40);
        assert!(map.has_room_for(8));
        assert!(!map.has_room_for(9));
    }
}
