//! Kafka's suppression-buffer changelog value (format v3, windows-spec §5.4), decoded: to show
//! it in reports, and to tell a buffer record that differs from Kafka's only by Runnel's
//! deliberate conventions from one that differs in what it buffers.

use std::fmt::Write as _;

use crate::compare::{Rec, hex, value};

/// One decoded buffer value: the record context of the latest buffered update, the prior,
/// old and new values, and the time the entry is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferValue {
    pub timestamp: i64,
    pub offset: i64,
    pub topic: String,
    pub partition: i32,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub prior: Option<Vec<u8>>,
    /// The old value, with Kafka's "same as the prior value" (-2) resolved.
    pub old: Option<Vec<u8>>,
    /// Whether the old value was written as -2.
    pub old_is_prior: bool,
    pub new: Option<Vec<u8>>,
    pub time: i64,
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<Vec<u8>> {
        (self.0.len() >= n).then(|| {
            let (head, rest) = self.0.split_at(n);
            self.0 = rest;
            head.to_vec()
        })
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    /// A length-prefixed part: `Some(None)` for -1 (null); `None` for anything malformed.
    fn part(&mut self) -> Option<Option<Vec<u8>>> {
        match self.i32()? {
            -1 => Some(None),
            n if n >= 0 => Some(Some(self.take(n as usize)?)),
            _ => None,
        }
    }
}

/// The value decoded; `None` when the bytes are not one (an aggregate's 8 bytes, say).
pub fn parse(b: &[u8]) -> Option<BufferValue> {
    if b.len() < 40 {
        return None;
    }
    let mut r = Reader(b);
    let (timestamp, offset) = (r.i64()?, r.i64()?);
    let topic = String::from_utf8(r.part()??).ok()?;
    let partition = r.i32()?;
    let mut headers = Vec::new();
    for _ in 0..r.i32()? {
        let name = String::from_utf8(r.part()??).ok()?;
        headers.push((name, r.part()?));
    }
    let prior = r.part()?;
    let (old, old_is_prior) = match Reader(r.0).i32()? {
        -2 => {
            r.i32()?;
            (prior.clone(), true)
        }
        _ => (r.part()?, false),
    };
    let (new, time) = (r.part()?, r.i64()?);
    r.0.is_empty().then_some(BufferValue {
        timestamp,
        offset,
        topic,
        partition,
        headers,
        prior,
        old,
        old_is_prior,
        new,
        time,
    })
}

/// For a report: `{ctx ts/offset/topic-partition [headers]; prior; old; new; time}`.
pub fn render(b: &[u8]) -> Option<String> {
    let v = parse(b)?;
    let part = |p: &Option<Vec<u8>>| p.as_deref().map_or("null".to_owned(), value);
    let headers: Vec<String> = v
        .headers
        .iter()
        .map(|(k, h)| {
            format!(
                "{k}={}",
                h.as_deref()
                    .map_or("null".to_owned(), |h| format!("0x{}", hex(h)))
            )
        })
        .collect();
    let old = if v.old_is_prior {
        "=prior".to_owned()
    } else {
        part(&v.old)
    };
    let mut s = String::new();
    write!(
        s,
        "{{ctx {}/{}/{}-{} [{}]; prior {}; old {old}; new {}; time {}}}",
        v.timestamp,
        v.offset,
        v.topic,
        v.partition,
        headers.join(","),
        part(&v.prior),
        part(&v.new),
        v.time
    )
    .unwrap();
    Some(s)
}

/// Whether Runnel's buffer records of one window are Kafka's but for Runnel's two
/// conventions, and in nothing else (the buffered record context, headers included, is
/// Kafka's exactly):
/// - a new window's old value (and so the buffered prior value) is null, where Kafka without
///   a cache sends its initializer's value (0 for a count);
/// - the changelog record has a timestamp, where Kafka's has none (its producer stamps it).
pub fn differs_by_runnel_conventions(kafka: &[Rec], runnel: &[Rec]) -> bool {
    kafka.len() == runnel.len()
        && kafka
            .iter()
            .zip(runnel)
            .all(|(k, r)| k.timestamp.is_none() && r.timestamp.is_some() && same_but_conventions(k, r))
}

fn same_but_conventions(k: &Rec, r: &Rec) -> bool {
    if k.key != r.key || k.headers != r.headers {
        return false;
    }
    let (kv, rv) = match (&k.value, &r.value) {
        (None, None) => return true,
        (Some(kv), Some(rv)) => (kv, rv),
        _ => return false,
    };
    let (Some(kv), Some(rv)) = (parse(kv), parse(rv)) else {
        return false;
    };
    let initializer = Some(0i64.to_be_bytes().to_vec());
    let old_value = |k: &Option<Vec<u8>>, r: &Option<Vec<u8>>| k == r || (r.is_none() && *k == initializer);
    (kv.timestamp, kv.offset, &kv.topic, kv.partition) == (rv.timestamp, rv.offset, &rv.topic, rv.partition)
        && kv.headers == rv.headers
        && old_value(&kv.prior, &rv.prior)
        && old_value(&kv.old, &rv.old)
        && (kv.new, kv.time) == (rv.new, rv.time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::unhex;

    /// windows-spec §5.4's example: key A, window [0,10), count 1 from a record at 1 (offset 0,
    /// topic "in", header h=[1]); prior 0, old = prior, new 1, buffer time 10.
    fn kafkas_example() -> Vec<u8> {
        unhex(concat!(
            "0000000000000001",
            "0000000000000000",
            "00000002",
            "696e",
            "00000000",
            "00000001",
            "00000001",
            "68",
            "00000001",
            "01",
            "00000008",
            "0000000000000000",
            "fffffffe",
            "00000008",
            "0000000000000001",
            "000000000000000a"
        ))
    }

    #[test]
    fn kafkas_suppression_buffer_value_decodes_for_reports() {
        assert_eq!(
            render(&kafkas_example()).unwrap(),
            "{ctx 1/0/in-0 [h=0x01]; prior 0; old =prior; new 1; time 10}"
        );
        assert_eq!(render(&1i64.to_be_bytes()), None);
    }

    /// `v` encoded as Runnel writes it (old value written out unless it equals the prior).
    fn encode(v: &BufferValue) -> Vec<u8> {
        let mut b = Vec::new();
        let part = |b: &mut Vec<u8>, p: &Option<Vec<u8>>| match p {
            None => b.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(p) => {
                b.extend_from_slice(&(p.len() as i32).to_be_bytes());
                b.extend_from_slice(p);
            }
        };
        b.extend_from_slice(&v.timestamp.to_be_bytes());
        b.extend_from_slice(&v.offset.to_be_bytes());
        part(&mut b, &Some(v.topic.as_bytes().to_vec()));
        b.extend_from_slice(&v.partition.to_be_bytes());
        b.extend_from_slice(&(v.headers.len() as i32).to_be_bytes());
        for (k, h) in &v.headers {
            part(&mut b, &Some(k.as_bytes().to_vec()));
            part(&mut b, h);
        }
        part(&mut b, &v.prior);
        if v.old.is_some() && v.old == v.prior {
            b.extend_from_slice(&(-2i32).to_be_bytes());
        } else {
            part(&mut b, &v.old);
        }
        part(&mut b, &v.new);
        b.extend_from_slice(&v.time.to_be_bytes());
        b
    }

    #[test]
    fn only_runnels_two_conventions_make_a_buffer_record_differ_acceptably() {
        let rec = |value: Vec<u8>, timestamp| Rec {
            key: Some(b"A".to_vec()),
            value: Some(value),
            timestamp,
            headers: vec![("v".into(), Some(vec![3]))],
        };
        let kafka = rec(kafkas_example(), None);
        let mut ours = parse(&kafkas_example()).unwrap();
        ours.prior = None;
        ours.old = None;
        let runnel = rec(encode(&ours), Some(1));
        assert!(differs_by_runnel_conventions(
            std::slice::from_ref(&kafka),
            std::slice::from_ref(&runnel)
        ));
        // Anything else that differs is not a convention.
        let changed = |f: &dyn Fn(&mut BufferValue)| {
            let mut v = ours.clone();
            f(&mut v);
            rec(encode(&v), Some(1))
        };
        for other in [
            changed(&|v| v.new = Some(2i64.to_be_bytes().to_vec())),
            changed(&|v| v.time = 11),
            changed(&|v| v.offset = 1),
            changed(&|v| v.timestamp = 2),
            changed(&|v| v.old = Some(5i64.to_be_bytes().to_vec())),
            changed(&|v| v.headers = vec![("x".into(), None)]),
            changed(&|v| v.headers.clear()),
        ] {
            assert!(!differs_by_runnel_conventions(
                std::slice::from_ref(&kafka),
                std::slice::from_ref(&other)
            ));
        }
        let tombstone = Rec {
            value: None,
            headers: vec![],
            ..kafka.clone()
        };
        assert!(!differs_by_runnel_conventions(
            std::slice::from_ref(&kafka),
            std::slice::from_ref(&tombstone)
        ));
        // A record without a timestamp on Runnel's side, or one more record, is not either.
        let unstamped = Rec {
            timestamp: None,
            ..runnel.clone()
        };
        assert!(!differs_by_runnel_conventions(
            std::slice::from_ref(&kafka),
            std::slice::from_ref(&unstamped)
        ));
        assert!(!differs_by_runnel_conventions(
            std::slice::from_ref(&kafka),
            &[runnel.clone(), runnel]
        ));
    }
}
