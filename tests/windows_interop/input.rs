//! The differential test's input: a hand-picked part that walks every window type across its
//! boundaries (and into the places where Kafka Streams loses data, windows-spec §10), then a
//! seeded pseudo-random tail over several keys; and the probe piped after it.

use std::fmt::Write as _;
use std::path::Path;

use super::compare::hex;

/// One input record: a string key (`None`: null), a long value, a timestamp, headers.
#[derive(Debug, Clone)]
pub struct Input {
    pub key: Option<String>,
    pub value: i64,
    pub timestamp: i64,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// The hand-picked part of the input: (key, value, timestamp, a header `h` with this byte).
/// Stream time is shared by all keys (one partition), so each block starts later than the last.
/// Windows: tumbling 10 s + grace 5 s; hopping 10 s / 5 s + grace 2 s; sliding 10 s + grace 5 s;
/// session gap 5 s + grace 2 s. S is stream time after the record.
#[rustfmt::skip]
const SCRIPTED: &[(Option<&str>, i64, i64, Option<u8>)] = &[
    // Near the epoch: early sliding records (t < 10 s go to [0, 10 s]); hopping windows never
    // start before 0; the tumbling window [0, 10 s) up to and past its close at S = 15 s.
    (Some("alice"), 1, 1_000, Some(1)),
    (Some("bob"), 2, 3_000, None),
    (Some("alice"), 3, 7_000, None),
    (Some("alice"), 4, 7_000, None),      // same timestamp: sliding's duplicate path; session [t,t] rewritten
    (Some("bob"), 5, 9_999, None),        // last millisecond of [0, 10 s)
    (Some("alice"), 6, 10_000, Some(2)),  // first of [10 s, 20 s); sliding: t == time difference, not early
    (Some("carol"), 7, 4_000, None),      // out of order, within grace
    (Some("bob"), 8, 14_999, None),       // S = 14 999
    (Some("alice"), 9, 9_999, None),      // tumbling [0,10 s) takes it; hopping [0,10 s) not
    (Some("bob"), 10, 15_000, None),      // S = 15 s: tumbling [0, 10 s) closes; the suppressed case emits it
    (Some("alice"), 11, 9_998, None),     // too late for tumbling [0,10 s); not for hopping [5,15 s)
    (None, 12, 1_000_000, None),          // null key: dropped, and must not move stream time
    (Some("carol"), 13, 12_000, Some(3)), // accepted only if the null key left stream time alone
    // Sliding windows, Kafka losing a record at the grace boundary (windows-spec §10 #2): erin's
    // right window [55 s, 65 s] moves the store's clock to 55 s, which hides dave's [30 s, 40 s];
    // Kafka then counts dave's [40 s, 50 s] as 1 (it holds 40 s and 50 s) and never creates
    // [40 001, 50 001].
    (Some("dave"), 1, 40_000, None),
    (Some("erin"), 2, 54_999, None),
    (Some("erin"), 3, 55_000, None),
    (Some("dave"), 4, 50_000, None),      // S = 55 s; its left window ends exactly at the close (50 s)
    // Sessions, Kafka's store hiding a session its processor still merges into (§10 #1):
    // gina@77 s moves the store's clock so frank[70 s, 70 s] is hidden; Kafka starts a new
    // session [73 s, 73 s] where frank's session should grow to [70 s, 73 s].
    (Some("frank"), 1, 70_000, None),
    (Some("gina"), 2, 77_000, None),
    (Some("frank"), 3, 73_000, None),
    // Sessions merging and splitting.
    (Some("alice"), 1, 100_000, None),
    (Some("alice"), 2, 104_000, None),    // merges: tombstone [100 s], [100 s, 104 s] = 2
    (Some("alice"), 3, 110_000, Some(4)), // 6 s later: a session of its own
    (Some("alice"), 4, 107_000, None),    // bridges both: two tombstones, [100 s, 110 s] = 4
    (Some("bob"), 5, 109_000, None),
    (Some("bob"), 6, 116_000, None),      // S = 116 s: session close 109 s
    (Some("alice"), 7, 112_500, None),    // extends [100 s, 110 s] to [100 s, 112.5 s]
    (Some("alice"), 8, 105_000, None),    // late alone, inside an open session: tombstone + re-put
    (Some("carol"), 9, 101_000, None),    // late; sliding: record test passes (boundary), window's fails
    (Some("bob"), 10, 122_000, None),     // S = 122 s
    (Some("bob"), 11, 119_000, None),     // merges bob[116 s] and bob[122 s]
    // Hopping and tumbling boundaries.
    (Some("carol"), 1, 200_000, None),
    (Some("carol"), 2, 204_999, None),
    (Some("carol"), 3, 205_000, None),
    (Some("dave"), 4, 212_000, None),     // S = 212 s: hopping [200 s, 210 s) closes
    (Some("carol"), 5, 207_000, Some(5)), // hopping: not into [200 s, 210 s), into [205 s, 215 s)
    (Some("dave"), 6, 214_999, None),
    (Some("carol"), 7, 209_999, None),    // tumbling [200 s, 210 s) still open (210 s > 209 999)
    (Some("dave"), 8, 215_000, None),     // S = 215 s: tumbling [200 s, 210 s) closes
    (Some("carol"), 9, 205_000, None),    // tumbling: dropped; hopping [205 s, 215 s): kept
];

/// Keys of the seeded tail: an empty key (not a null one) and a non-ASCII one among them.
const TAIL_KEYS: [&str; 6] = ["alice", "bob", "carol", "dave", "", "zoë"];

pub fn input() -> Vec<Input> {
    let mut out: Vec<Input> = SCRIPTED
        .iter()
        .map(|&(key, value, timestamp, header)| Input {
            key: key.map(str::to_owned),
            value,
            timestamp,
            headers: header.map(|h| ("h".to_owned(), vec![h])).into_iter().collect(),
        })
        .collect();
    out.extend(tail(0x0005_eed0_f0a1_1ced, 240, 300_000));
    out
}

/// `n` records from `from` on: stream time creeps forward, about a third of the records are
/// out of order (up to 9 s back, mostly within grace), one in twenty is far behind (30 s:
/// late everywhere), one in ten carries a header. xorshift64* with a fixed seed, so the input
/// is the same on every run and machine.
fn tail(seed: u64, n: usize, from: i64) -> Vec<Input> {
    let mut state = seed;
    let mut next = move |bound: u64| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) % bound
    };
    let mut base = from;
    (0..n)
        .map(|i| {
            base += next(1_500) as i64;
            let timestamp = match next(20) {
                0 => base - 30_000,
                1..=6 => base - next(9_000) as i64,
                _ => base,
            };
            let key = TAIL_KEYS[next(TAIL_KEYS.len() as u64) as usize].to_owned();
            let headers = match next(10) {
                0 => vec![("trace".to_owned(), vec![i as u8])],
                _ => vec![],
            };
            Input {
                key: Some(key),
                value: next(56) as i64 - 5,
                timestamp,
                headers,
            }
        })
        .collect()
}

/// Piped after the input and after the stores are read: far beyond every window, so it closes
/// them all and the suppression buffer flushes what it holds.
pub fn probe(input: &[Input]) -> Vec<Input> {
    let last = input.iter().map(|r| r.timestamp).max().unwrap();
    vec![Input {
        key: Some("probe".to_owned()),
        value: 1,
        timestamp: last + 1_000_000,
        headers: vec![],
    }]
}

pub fn write_input(path: &Path, records: &[Input]) {
    let mut text = String::new();
    for r in records {
        let headers: Vec<(&str, String)> = r.headers.iter().map(|(k, v)| (k.as_str(), hex(v))).collect();
        let line = serde_json::json!({
            "key": r.key, "value": r.value, "timestamp": r.timestamp, "headers": headers,
        });
        writeln!(text, "{line}").unwrap();
    }
    std::fs::write(path, text).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_holds_what_it_claims() {
        let input = input();
        assert!(input.iter().any(|r| r.key.is_none()), "a null key");
        assert!(input.iter().any(|r| r.key.as_deref() == Some("")), "an empty key");
        assert!(
            input.iter().any(|r| r.key.as_deref() == Some("zoë")),
            "a key beyond ASCII"
        );
        assert!(
            input.iter().filter(|r| !r.headers.is_empty()).count() >= 5,
            "headers"
        );
        // Out of order (behind stream time) and late beyond every grace (15 s at most: tumbling's
        // 10 s window + 5 s; the sliding record test's 10 s + 5 s).
        let (mut max, mut behind, mut late) = (i64::MIN, 0, 0);
        for r in input.iter().filter(|r| r.key.is_some()) {
            behind += usize::from(r.timestamp < max);
            late += usize::from(r.timestamp + 15_000 < max);
            max = max.max(r.timestamp);
        }
        assert!(behind >= 40, "records out of order: {behind}");
        assert!(late >= 5, "records late beyond every grace: {late}");
        // Deterministic: the seeded tail is the same each time.
        let again = super::input();
        assert!(
            input
                .iter()
                .zip(&again)
                .all(|(a, b)| (a.timestamp, a.value, &a.key) == (b.timestamp, b.value, &b.key))
        );
    }
}
