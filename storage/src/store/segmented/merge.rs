//! One sorted scan out of the scans of several segments.
//!
//! Kafka's `SegmentIterator` concatenates segments, so a key-range fetch from its RocksDB
//! store comes back ordered by segment first and by key only within a segment, while its
//! in-memory store orders by window start first. Our stores both return one global order,
//! the order of the store-key bytes, which takes a merge: a key lives in exactly one segment
//! (its time says which), so the merge never meets the same key twice. Segments are few
//! (`retention / interval + 1`, three with the default interval), so the smallest head is
//! found by a linear pass.

use crate::store::{KvIter, StoreResult};

/// Merges scans each sorted ascending (`forward`) or descending by key.
pub(crate) fn merge<'a>(mut scans: Vec<KvIter<'a>>, forward: bool) -> KvIter<'a> {
    match scans.len() {
        0 => Box::new(std::iter::empty()),
        1 => scans.remove(0),
        _ => Box::new(Merge {
            heads: scans.iter().map(|_| None).collect(),
            scans,
            forward,
            done: false,
        }),
    }
}

struct Merge<'a> {
    scans: Vec<KvIter<'a>>,
    /// The next entry of each scan, once pulled; `None` also once the scan is exhausted.
    heads: Vec<Option<(Vec<u8>, Vec<u8>)>>,
    forward: bool,
    /// Set by an error, which ends the merge as it ends any scan.
    done: bool,
}

impl Merge<'_> {
    /// Pulls a head for every scan that has none. Exhausted scans are removed.
    fn fill(&mut self) -> Result<(), crate::store::StoreError> {
        let mut i = 0;
        while i < self.scans.len() {
            if self.heads[i].is_none() {
                match self.scans[i].next() {
                    Some(Ok(entry)) => self.heads[i] = Some(entry),
                    Some(Err(e)) => return Err(e),
                    None => {
                        drop(self.scans.swap_remove(i));
                        self.heads.swap_remove(i);
                        continue;
                    }
                }
            }
            i += 1;
        }
        Ok(())
    }
}

impl Iterator for Merge<'_> {
    type Item = StoreResult<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Err(e) = self.fill() {
            self.done = true;
            return Some(Err(e));
        }
        let mut best: Option<usize> = None;
        for (i, head) in self.heads.iter().enumerate() {
            let Some((key, _)) = head else { continue };
            let better = match best.and_then(|b| self.heads[b].as_ref()) {
                None => true,
                Some((best_key, _)) => (key < best_key) == self.forward,
            };
            if better {
                best = Some(i);
            }
        }
        best.and_then(|i| self.heads[i].take()).map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    fn scan(keys: &[&[u8]]) -> KvIter<'static> {
        let entries: Vec<_> = keys.iter().map(|k| Ok((k.to_vec(), k.to_vec()))).collect();
        Box::new(entries.into_iter())
    }

    fn keys(merged: KvIter<'_>) -> Vec<Vec<u8>> {
        merged.map(|e| e.unwrap().0).collect()
    }

    #[test]
    fn merges_ascending_scans_into_one_ascending_scan() {
        let merged = merge(
            vec![scan(&[b"a", b"d", b"e"]), scan(&[]), scan(&[b"b", b"c", b"f"])],
            true,
        );
        let expected: Vec<Vec<u8>> = [b"a", b"b", b"c", b"d", b"e", b"f"].map(|k| k.to_vec()).into();
        assert_eq!(keys(merged), expected);
    }

    #[test]
    fn merges_descending_scans_into_one_descending_scan() {
        let merged = merge(vec![scan(&[b"e", b"a"]), scan(&[b"f", b"b"])], false);
        let expected: Vec<Vec<u8>> = [b"f", b"e", b"b", b"a"].map(|k| k.to_vec()).into();
        assert_eq!(keys(merged), expected);
    }

    #[test]
    fn an_error_is_the_last_item() {
        let failing: KvIter<'static> = Box::new(
            vec![
                Ok((b"b".to_vec(), vec![])),
                Err(StoreError::Closed { store: "s".into() }),
            ]
            .into_iter(),
        );
        let mut merged = merge(vec![scan(&[b"a", b"c"]), failing], true);
        assert_eq!(merged.next().unwrap().unwrap().0, b"a");
        assert_eq!(merged.next().unwrap().unwrap().0, b"b");
        assert!(matches!(merged.next(), Some(Err(StoreError::Closed { .. }))));
        assert!(merged.next().is_none());
    }
}
