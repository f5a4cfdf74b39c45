//! Comparing Kafka's and Runnel's records and stores, and judging the differences against the
//! allow-list. A difference is named `CASE.PART.KEY@START/END` by the window it is in, so the
//! allow-list can name the windows where a difference is deliberate.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;

use crate::java_support::glob;

/// A record of a topic, as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// `None`: the record has none (Kafka's suppression buffer leaves it to the producer).
    pub timestamp: Option<i64>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// A store entry: the inner key's bytes, the window, the value's bytes, the timestamp (window
/// stores keep the largest record timestamp of the window; session stores none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Vec<u8>,
    pub start: i64,
    pub end: i64,
    pub value: Vec<u8>,
    pub timestamp: Option<i64>,
}

/// A difference between Kafka's and Runnel's records, by name (`CASE.PART.ID`) and what differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    pub name: String,
    pub detail: String,
}

/// How a record key reads, to name the window a difference is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// `key‖start`; the end is start + size.
    TimeWindowed(i64),
    /// `key‖end‖start`.
    SessionWindowed,
    /// A window store's changelog key: `key‖start‖seqnum`.
    WindowStore(i64),
}

/// `KEY@START/END` of a record key (`#SEQ` appended for a window store's non-zero sequence
/// number); the raw key in hex when it does not read.
pub fn window_id(format: KeyFormat, key: Option<&[u8]>) -> String {
    let Some(key) = key else {
        return "(null)".to_owned();
    };
    let long = |b: &[u8]| i64::from_be_bytes(b.try_into().unwrap());
    let (inner, start, end, seq) = match format {
        KeyFormat::TimeWindowed(size) if key.len() >= 8 => {
            let (inner, start) = key.split_at(key.len() - 8);
            (inner, long(start), long(start).saturating_add(size), 0)
        }
        KeyFormat::SessionWindowed if key.len() >= 16 => {
            let (inner, rest) = key.split_at(key.len() - 16);
            (inner, long(&rest[8..]), long(&rest[..8]), 0)
        }
        KeyFormat::WindowStore(size) if key.len() >= 12 => {
            let (inner, rest) = key.split_at(key.len() - 12);
            let seq = i32::from_be_bytes(rest[8..].try_into().unwrap());
            (
                inner,
                long(&rest[..8]),
                long(&rest[..8]).saturating_add(size),
                seq,
            )
        }
        _ => return format!("0x{}", hex(key)),
    };
    let seq = if seq == 0 {
        String::new()
    } else {
        format!("#{seq}")
    };
    format!("{}@{start}/{end}{seq}", inner_key(inner))
}

pub fn entry_id(e: &Entry) -> String {
    format!("{}@{}/{}", inner_key(&e.key), e.start, e.end)
}

pub fn inner_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(s) if !s.contains(['@', '/', '\n']) => s.to_owned(),
        _ => format!("0x{}", hex(key)),
    }
}

/// Compares two record sequences (an output topic, a changelog, a probe's output): per window
/// the sequence of records (value, timestamp, headers) must be equal — each window that
/// differs is a difference `PREFIX.ID` — and across windows the records that agree must come
/// in the same order (else `PREFIX.order`).
///
/// Two kinds of window difference are named apart, so the allow-list can name exactly them
/// and nothing else; their windows still take part in the order check:
/// - `PREFIX.ID.headers-dropped`: the window's records are Kafka's exactly but with no headers
///   at all (Runnel forwards windowed results without the headers of whichever input record
///   updated them last);
/// - `PREFIX.ID.buffer-conventions`: suppression-buffer records that are Kafka's but for
///   Runnel's conventions, and in nothing else ([`crate::buffer::differs_by_runnel_conventions`]).
pub fn compare_records(prefix: &str, format: KeyFormat, kafka: &[Rec], runnel: &[Rec]) -> Vec<Diff> {
    let ids = |records: &[Rec]| -> Vec<String> {
        records
            .iter()
            .map(|r| window_id(format, r.key.as_deref()))
            .collect()
    };
    let (kafka_ids, runnel_ids) = (ids(kafka), ids(runnel));
    let group = |records: &[Rec], ids: &[String]| {
        let mut by_id: BTreeMap<String, Vec<Rec>> = BTreeMap::new();
        for (r, id) in records.iter().zip(ids) {
            by_id.entry(id.clone()).or_default().push(r.clone());
        }
        by_id
    };
    let (kafka_by_id, runnel_by_id) = (group(kafka, &kafka_ids), group(runnel, &runnel_ids));
    let mut seen = HashSet::new();
    let order: Vec<&String> = kafka_ids
        .iter()
        .chain(&runnel_ids)
        .filter(|id| seen.insert(*id))
        .collect();
    let mut diffs = Vec::new();
    let mut differing = HashSet::new();
    for id in order {
        let (k, r) = (kafka_by_id.get(id), runnel_by_id.get(id));
        if k == r {
            continue;
        }
        if headers_dropped(k, r) {
            diffs.push(Diff {
                name: format!("{prefix}.{id}.headers-dropped"),
                detail: format!("Kafka {} / Runnel without headers", render(k)),
            });
            continue;
        }
        if let (Some(k), Some(r)) = (k, r)
            && crate::buffer::differs_by_runnel_conventions(k, r)
        {
            diffs.push(Diff {
                name: format!("{prefix}.{id}.buffer-conventions"),
                detail: format!("Kafka {} / Runnel {}", render(Some(k)), render(Some(r))),
            });
            continue;
        }
        differing.insert(id.clone());
        diffs.push(Diff {
            name: format!("{prefix}.{id}"),
            detail: format!("Kafka {} / Runnel {}", render(k), render(r)),
        });
    }
    let agreed = |ids: &[String]| -> Vec<String> {
        ids.iter()
            .filter(|id| !differing.contains(*id))
            .cloned()
            .collect()
    };
    let (k, r) = (agreed(&kafka_ids), agreed(&runnel_ids));
    if k != r {
        let at = k
            .iter()
            .zip(&r)
            .position(|(a, b)| a != b)
            .unwrap_or(k.len().min(r.len()));
        diffs.push(Diff {
            name: format!("{prefix}.order"),
            detail: format!(
                "the same records in another order, first at record {at}: Kafka {:?} / Runnel {:?}",
                &k[at..(at + 3).min(k.len())],
                &r[at..(at + 3).min(r.len())]
            ),
        });
    }
    diffs
}

/// Whether Runnel's records of a window are Kafka's with every header removed (and Kafka's
/// had some).
fn headers_dropped(kafka: Option<&Vec<Rec>>, runnel: Option<&Vec<Rec>>) -> bool {
    let (Some(kafka), Some(runnel)) = (kafka, runnel) else {
        return false;
    };
    kafka.len() == runnel.len()
        && kafka.iter().zip(runnel).all(|(k, r)| {
            r.headers.is_empty()
                && Rec {
                    headers: Vec::new(),
                    ..k.clone()
                } == *r
        })
}

/// Compares two stores' contents: each window whose value or timestamp differs, or that only
/// one side holds, is a difference `PREFIX.ID`; a window only Runnel holds and that Kafka's
/// store would hide by its retention (`kafka_hides`) is `PREFIX.ID.beyond-kafka-retention`.
pub fn compare_entries(
    prefix: &str,
    kafka: &[Entry],
    runnel: &[Entry],
    kafka_hides: &dyn Fn(&Entry) -> bool,
) -> Vec<Diff> {
    fn by_id(entries: &[Entry]) -> BTreeMap<String, Vec<&Entry>> {
        let mut m: BTreeMap<String, Vec<&Entry>> = BTreeMap::new();
        for e in entries {
            m.entry(entry_id(e)).or_default().push(e);
        }
        m
    }
    let shown = |entries: Option<&Vec<&Entry>>| {
        entries.map(|es| {
            es.iter()
                .map(|e| (value(&e.value), e.timestamp))
                .collect::<Vec<_>>()
        })
    };
    let (k, r) = (by_id(kafka), by_id(runnel));
    let ids: BTreeSet<&String> = k.keys().chain(r.keys()).collect();
    ids.into_iter()
        .filter(|id| shown(k.get(*id)) != shown(r.get(*id)))
        .map(|id| {
            let hidden = !k.contains_key(id) && r.get(id).is_some_and(|es| es.iter().all(|e| kafka_hides(e)));
            let suffix = if hidden { ".beyond-kafka-retention" } else { "" };
            Diff {
                name: format!("{prefix}.{id}{suffix}"),
                detail: format!("Kafka {:?} / Runnel {:?}", shown(k.get(id)), shown(r.get(id))),
            }
        })
        .collect()
}

/// [`compare_records`], checked to be able to fail on this very data: with one record of one
/// side changed (its timestamp moved by a millisecond) the comparison must say something else.
/// Panics when both sides are empty: a comparison of nothing proves nothing.
pub fn compare_records_checked(prefix: &str, format: KeyFormat, kafka: &[Rec], runnel: &[Rec]) -> Vec<Diff> {
    let diffs = compare_records(prefix, format, kafka, runnel);
    let (mut kafka2, mut runnel2) = (kafka.to_vec(), runnel.to_vec());
    let side = if kafka2.is_empty() {
        &mut runnel2
    } else {
        &mut kafka2
    };
    assert!(!side.is_empty(), "{prefix}: nothing to compare on either side");
    let middle = side.len() / 2;
    side[middle].timestamp = Some(side[middle].timestamp.unwrap_or(0) + 1);
    assert_ne!(
        compare_records(prefix, format, &kafka2, &runnel2),
        diffs,
        "{prefix}: the comparison does not see a changed record"
    );
    diffs
}

/// [`compare_entries`], checked as [`compare_records_checked`] is (one entry's value changed).
pub fn compare_entries_checked(
    prefix: &str,
    kafka: &[Entry],
    runnel: &[Entry],
    kafka_hides: &dyn Fn(&Entry) -> bool,
) -> Vec<Diff> {
    let diffs = compare_entries(prefix, kafka, runnel, kafka_hides);
    let (mut kafka2, mut runnel2) = (kafka.to_vec(), runnel.to_vec());
    let side = if kafka2.is_empty() {
        &mut runnel2
    } else {
        &mut kafka2
    };
    assert!(!side.is_empty(), "{prefix}: nothing to compare on either side");
    let middle = side.len() / 2;
    side[middle].value.push(0);
    assert_ne!(
        compare_entries(prefix, &kafka2, &runnel2, kafka_hides),
        diffs,
        "{prefix}: the comparison does not see a changed entry"
    );
    diffs
}

/// A window's records for a report: `value@timestamp`, headers if any; a suppression buffer's
/// value decoded (see [`crate::buffer::render`]).
pub fn render(records: Option<&Vec<Rec>>) -> String {
    let Some(records) = records else {
        return "(none)".to_owned();
    };
    let one = |r: &Rec| {
        let mut s = r.value.as_deref().map_or("null".to_owned(), |v| {
            crate::buffer::render(v).unwrap_or_else(|| value(v))
        });
        match r.timestamp {
            Some(ts) => write!(s, "@{ts}").unwrap(),
            None => s.push_str("@(none)"),
        }
        if !r.headers.is_empty() {
            let hs: Vec<String> = r
                .headers
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_deref().map_or("null".to_owned(), hex)))
                .collect();
            write!(s, " [{}]", hs.join(",")).unwrap();
        }
        s
    };
    format!("[{}]", records.iter().map(one).collect::<Vec<_>>().join(", "))
}

/// A long's 8 bytes as the long; anything else in hex.
pub fn value(bytes: &[u8]) -> String {
    match <[u8; 8]>::try_from(bytes) {
        Ok(b) => i64::from_be_bytes(b).to_string(),
        Err(_) => format!("0x{}", hex(bytes)),
    }
}

/// Counts the differences the allow-list does not name; the report has a line per difference
/// (allowed or not) and per allow-list entry that matched none.
pub fn judge(diffs: &[Diff], allowed: &[(String, String)]) -> (usize, Vec<String>) {
    let mut used = vec![false; allowed.len()];
    let mut report = Vec::new();
    let mut failures = 0;
    for d in diffs {
        match allowed.iter().position(|(pattern, _)| glob(pattern, &d.name)) {
            Some(i) => {
                used[i] = true;
                report.push(format!("  allowed  {}: {}  ({})", d.name, d.detail, allowed[i].1));
            }
            None => {
                failures += 1;
                report.push(format!("  DIFFERS  {}: {}", d.name, d.detail));
            }
        }
    }
    for (i, (pattern, _)) in allowed.iter().enumerate() {
        if !used[i] {
            report.push(format!(
                "  stale allow-list entry (no difference matched it): {pattern}"
            ));
        }
    }
    (failures, report)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::java_support::parse_allow_list;

    fn rec(key: &[u8], start: i64, value: Option<i64>, ts: i64) -> Rec {
        let mut k = key.to_vec();
        k.extend_from_slice(&start.to_be_bytes());
        Rec {
            key: Some(k),
            value: value.map(|v| v.to_be_bytes().to_vec()),
            timestamp: Some(ts),
            headers: vec![],
        }
    }

    fn names(diffs: &[Diff]) -> Vec<&str> {
        diffs.iter().map(|d| d.name.as_str()).collect()
    }

    #[test]
    fn one_changed_record_is_a_difference_named_by_its_window() {
        let fmt = KeyFormat::TimeWindowed(10);
        let kafka = vec![
            rec(b"a", 0, Some(1), 1),
            rec(b"b", 0, Some(1), 2),
            rec(b"a", 0, Some(2), 3),
        ];
        assert!(compare_records("t.output", fmt, &kafka, &kafka).is_empty());

        let mut value = kafka.clone();
        value[2].value = Some(3i64.to_be_bytes().to_vec());
        assert_eq!(
            names(&compare_records("t.output", fmt, &kafka, &value)),
            ["t.output.a@0/10"]
        );

        let mut timestamp = kafka.clone();
        timestamp[1].timestamp = Some(9);
        assert_eq!(
            names(&compare_records("t.output", fmt, &kafka, &timestamp)),
            ["t.output.b@0/10"]
        );

        let mut header = kafka.clone();
        header[1].headers.push(("h".into(), Some(vec![1])));
        assert_eq!(
            names(&compare_records("t.output", fmt, &kafka, &header)),
            ["t.output.b@0/10"]
        );
        // Only headers missing on Runnel's side is a difference of its own...
        assert_eq!(
            names(&compare_records("t.output", fmt, &header, &kafka)),
            ["t.output.b@0/10.headers-dropped"]
        );
        // ...but not when anything else differs too.
        let mut header_and_value = kafka.clone();
        header_and_value[1].value = Some(5i64.to_be_bytes().to_vec());
        assert_eq!(
            names(&compare_records("t.output", fmt, &header, &header_and_value)),
            ["t.output.b@0/10"]
        );
        // Windows that differ only by headers still take part in the order check.
        let swapped_headers = vec![kafka[1].clone(), kafka[0].clone(), kafka[2].clone()];
        let mut with_headers = kafka.clone();
        with_headers[0].headers.push(("h".into(), Some(vec![1])));
        assert_eq!(
            names(&compare_records("t.output", fmt, &with_headers, &swapped_headers)),
            ["t.output.a@0/10.headers-dropped", "t.output.order"]
        );

        let mut tombstone = kafka.clone();
        tombstone[0].value = None;
        assert_eq!(
            names(&compare_records("t.output", fmt, &kafka, &tombstone)),
            ["t.output.a@0/10"]
        );

        let missing = kafka[..2].to_vec();
        assert_eq!(
            names(&compare_records("t.output", fmt, &kafka, &missing)),
            ["t.output.a@0/10"]
        );

        let mut extra = kafka.clone();
        extra.push(rec(b"c", 10, Some(1), 11));
        assert_eq!(
            names(&compare_records("t.output", fmt, &kafka, &extra)),
            ["t.output.c@10/20"]
        );

        let swapped = vec![kafka[1].clone(), kafka[0].clone(), kafka[2].clone()];
        assert_eq!(
            names(&compare_records("t.output", fmt, &kafka, &swapped)),
            ["t.output.order"]
        );
    }

    #[test]
    fn checked_comparisons_prove_they_can_fail_on_the_data_they_get() {
        let fmt = KeyFormat::TimeWindowed(10);
        let records = vec![rec(b"a", 0, Some(1), 1), rec(b"b", 0, None, 2)];
        assert!(compare_records_checked("t.output", fmt, &records, &records).is_empty());
        assert_eq!(
            names(&compare_records_checked("t.output", fmt, &[], &records)),
            ["t.output.a@0/10", "t.output.b@0/10"]
        );
        let nothing = std::panic::catch_unwind(|| compare_records_checked("t.output", fmt, &[], &[]));
        assert!(nothing.is_err(), "comparing nothing must not pass quietly");
    }

    #[test]
    fn store_entries_differ_by_value_timestamp_and_presence() {
        let never = |_: &Entry| false;
        let e = |key: &str, value: i64, ts: i64| Entry {
            key: key.as_bytes().to_vec(),
            start: 0,
            end: 10,
            value: value.to_be_bytes().to_vec(),
            timestamp: Some(ts),
        };
        let kafka = vec![e("a", 1, 5), e("b", 2, 6)];
        // Order within a store is not compared: stores scan in different orders.
        assert!(compare_entries("t.store", &kafka, &[e("b", 2, 6), e("a", 1, 5)], &never).is_empty());
        assert_eq!(
            names(&compare_entries(
                "t.store",
                &kafka,
                &[e("a", 1, 5), e("b", 3, 6)],
                &never
            )),
            ["t.store.b@0/10"]
        );
        assert_eq!(
            names(&compare_entries(
                "t.store",
                &kafka,
                &[e("a", 1, 4), e("b", 2, 6)],
                &never
            )),
            ["t.store.a@0/10"]
        );
        assert_eq!(
            names(&compare_entries("t.store", &kafka, &[e("a", 1, 5)], &never)),
            ["t.store.b@0/10"]
        );
        // A window only Runnel holds is named apart only where Kafka's retention hides it.
        let hides_b = |x: &Entry| x.key == b"b";
        let extra = [e("a", 1, 5), e("b", 2, 6), e("c", 3, 7)];
        assert_eq!(
            names(&compare_entries("t.store", &kafka[..1], &extra, &hides_b)),
            ["t.store.b@0/10.beyond-kafka-retention", "t.store.c@0/10"]
        );
        // Not where Kafka holds the window too, with another value.
        assert_eq!(
            names(&compare_entries(
                "t.store",
                &kafka,
                &[e("a", 1, 5), e("b", 3, 6)],
                &hides_b
            )),
            ["t.store.b@0/10"]
        );
    }

    #[test]
    fn window_ids_read_each_key_format() {
        let mut session = b"k".to_vec();
        session.extend_from_slice(&12i64.to_be_bytes());
        session.extend_from_slice(&10i64.to_be_bytes());
        assert_eq!(window_id(KeyFormat::SessionWindowed, Some(&session)), "k@10/12");
        let mut stored = b"k".to_vec();
        stored.extend_from_slice(&20i64.to_be_bytes());
        stored.extend_from_slice(&0i32.to_be_bytes());
        assert_eq!(window_id(KeyFormat::WindowStore(10), Some(&stored)), "k@20/30");
        assert_eq!(
            window_id(KeyFormat::TimeWindowed(10), Some(b"short")),
            "0x73686f7274"
        );
        assert_eq!(window_id(KeyFormat::TimeWindowed(10), None), "(null)");
        let mut empty = Vec::new();
        empty.extend_from_slice(&0i64.to_be_bytes());
        assert_eq!(window_id(KeyFormat::TimeWindowed(10), Some(&empty)), "@0/10");
    }

    #[test]
    fn unmatched_differences_fail_and_unused_entries_are_reported() {
        let d = |name: &str| Diff {
            name: name.into(),
            detail: String::new(),
        };
        let allowed = parse_allow_list(
            concat!(
                "## `other`: x\n- `a.*`: other section\n",
                "## `windows`: y\n- `sliding.*.dave@40000/50000`: why\n- `zzz`: unused\n",
            ),
            "windows",
        );
        assert_eq!(allowed.len(), 2);
        let (failures, report) = judge(&[d("sliding.output.dave@40000/50000"), d("a.b")], &allowed);
        assert_eq!(failures, 1, "{report:#?}");
        assert!(report.iter().any(|l| l.contains("DIFFERS  a.b")));
        assert!(
            report
                .iter()
                .any(|l| l.contains("stale allow-list entry (no difference matched it): zzz"))
        );
    }
}
