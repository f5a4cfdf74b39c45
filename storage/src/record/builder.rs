//! Encoding records into a v2 batch, as a producer does.

use super::batch::{
    self, Attributes, HEADER_LEN, LOG_OVERHEAD, MAGIC, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID, NO_SEQUENCE, TimestampType,
};
use super::varint::{put_unsigned_at, put_varint, put_varlong, varint_len, varlong_len, zigzag32, zigzag64};
use super::{Compression, Header, compression};

/// Builds one record batch. Records are encoded straight into the output buffer behind a
/// header placeholder, so an uncompressed batch is built with no copy; the header and CRC are
/// filled in by [`BatchBuilder::build`].
///
/// ```
/// use storage::record::{BatchBuilder, Compression, decode_records};
/// let mut builder = BatchBuilder::new(Compression::None);
/// builder.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[]);
/// let batch = bytes::Bytes::from(builder.build());
/// let (header, records) = decode_records(&batch, 1 << 20).unwrap();
/// assert_eq!(header.record_count, 1);
/// assert_eq!(records[0].value.as_deref(), Some(&b"v"[..]));
/// ```
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    attributes: Attributes,
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
    /// Set explicitly when rebuilding a compacted batch, whose last slot may be gone.
    last_offset_delta: Option<i32>,
    next_delta: i32,
    count: i32,
    /// `HEADER_LEN` placeholder bytes, then the uncompressed records section.
    buf: Vec<u8>,
}

impl BatchBuilder {
    pub fn new(compression: Compression) -> BatchBuilder {
        BatchBuilder::with_capacity(compression, 1024)
    }

    /// A builder whose buffer starts with room for `records_bytes` of records.
    pub fn with_capacity(compression: Compression, records_bytes: usize) -> BatchBuilder {
        let mut buf = Vec::with_capacity(HEADER_LEN + records_bytes);
        buf.resize(HEADER_LEN, 0);
        BatchBuilder {
            attributes: Attributes {
                compression,
                ..Attributes::default()
            },
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            base_timestamp: None,
            max_timestamp: -1,
            last_offset_delta: None,
            next_delta: 0,
            count: 0,
            buf,
        }
    }

    pub fn with_base_offset(mut self, base_offset: i64) -> Self {
        self.base_offset = base_offset;
        self
    }

    pub fn with_partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Idempotent or transactional producer identity and the sequence of the first record.
    pub fn with_producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    pub fn with_transactional(mut self, transactional: bool) -> Self {
        self.attributes.transactional = transactional;
        self
    }

    pub fn with_control(mut self, control: bool) -> Self {
        self.attributes.control = control;
        self
    }

    pub fn with_timestamp_type(mut self, timestamp_type: TimestampType) -> Self {
        self.attributes.timestamp_type = timestamp_type;
        self
    }

    /// KIP-534: store `horizon_ms` as the base timestamp and flag it. Must be set before the
    /// first record, as record timestamps are encoded relative to it.
    pub fn with_delete_horizon(mut self, horizon_ms: i64) -> Self {
        debug_assert_eq!(self.count, 0, "delete horizon set after records");
        self.attributes.delete_horizon = true;
        self.base_timestamp = Some(horizon_ms);
        self
    }

    /// Keeps a compacted batch's original last offset, so offsets and producer sequences still
    /// line up after records were removed.
    pub fn with_last_offset_delta(mut self, delta: i32) -> Self {
        self.last_offset_delta = Some(delta);
        self
    }

    pub fn count(&self) -> i32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the batch takes so far, before compression.
    #[inline]
    pub fn estimated_size(&self) -> usize {
        self.buf.len()
    }

    /// Appends a record at the next offset; returns its offset delta.
    #[inline]
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> i32 {
        let delta = self.next_delta;
        self.append_at(delta, timestamp, key, value, headers);
        delta
    }

    /// Appends a record at `offset_delta`, which must exceed every delta appended before
    /// (compaction leaves gaps).
    #[inline]
    pub fn append_at(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) {
        debug_assert!(offset_delta >= self.next_delta, "offset deltas must increase");
        let base = *self.base_timestamp.get_or_insert(timestamp);
        self.max_timestamp = self.max_timestamp.max(timestamp);
        let timestamp_delta = timestamp.wrapping_sub(base);

        if headers.is_empty() && key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len) <= SMALL_PAYLOAD {
            encode_small(&mut self.buf, timestamp_delta, offset_delta, key, value);
        } else {
            encode(&mut self.buf, timestamp_delta, offset_delta, key, value, headers);
        }
        self.next_delta = offset_delta.wrapping_add(1);
        self.count += 1;
    }

    /// Finishes the batch: compresses the records if asked, fills in the header and the CRC.
    pub fn build(self) -> Vec<u8> {
        self.finish().into_vec()
    }

    /// [`build`](Self::build), as a [`BuiltBatch`]: a log appends it without walking its
    /// records again ([`Log::append_built`](crate::log::Log::append_built)).
    pub fn finish(self) -> BuiltBatch {
        let mut out = match self.attributes.compression {
            Compression::None => self.buf,
            codec => {
                let mut out = Vec::with_capacity(HEADER_LEN + self.buf.len() / 2);
                out.resize(HEADER_LEN, 0);
                compression::compress(codec, &self.buf[HEADER_LEN..], &mut out);
                out
            }
        };
        let last_offset_delta = self.last_offset_delta.unwrap_or(self.next_delta - 1).max(0);
        let base_timestamp = self.base_timestamp.unwrap_or(-1);
        let h = &mut out[..HEADER_LEN];
        h[batch::BASE_OFFSET..][..8].copy_from_slice(&self.base_offset.to_be_bytes());
        let batch_length = (out.len() - LOG_OVERHEAD) as i32;
        let h = &mut out[..HEADER_LEN];
        h[batch::LENGTH..][..4].copy_from_slice(&batch_length.to_be_bytes());
        h[batch::LEADER_EPOCH..][..4].copy_from_slice(&self.partition_leader_epoch.to_be_bytes());
        h[batch::MAGIC_AT] = MAGIC as u8;
        h[batch::ATTRIBUTES..][..2].copy_from_slice(&self.attributes.to_bits().to_be_bytes());
        h[batch::LAST_OFFSET_DELTA..][..4].copy_from_slice(&last_offset_delta.to_be_bytes());
        h[batch::BASE_TIMESTAMP..][..8].copy_from_slice(&base_timestamp.to_be_bytes());
        h[batch::MAX_TIMESTAMP..][..8].copy_from_slice(&self.max_timestamp.to_be_bytes());
        h[batch::PRODUCER_ID..][..8].copy_from_slice(&self.producer_id.to_be_bytes());
        h[batch::PRODUCER_EPOCH..][..2].copy_from_slice(&self.producer_epoch.to_be_bytes());
        h[batch::BASE_SEQUENCE..][..4].copy_from_slice(&self.base_sequence.to_be_bytes());
        h[batch::RECORD_COUNT..][..4].copy_from_slice(&self.count.to_be_bytes());
        let crc = crc32c::crc32c(&out[batch::ATTRIBUTES..]);
        out[batch::CRC..][..4].copy_from_slice(&crc.to_be_bytes());
        BuiltBatch(out)
    }
}

/// One batch that a [`BatchBuilder`] made, and only that: the type cannot be made from other
/// bytes, nor its bytes changed outside this crate. Its framing, checksum and records are
/// right by construction, so a log appends it after reading its header alone, where a batch
/// from the wire has every record walked first. That walk, over batches this process had
/// just encoded, was 2 % of a word count's time on the embedded cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltBatch(Vec<u8>);

impl BuiltBatch {
    /// The batch's bytes.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }

    /// For the log, which assigns offsets in place.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl std::ops::Deref for BuiltBatch {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// Appends one record in the general way: its length first, worked out from every field.
fn encode(
    buf: &mut Vec<u8>,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) {
    let bytes_len = |b: Option<&[u8]>| match b {
        Some(b) => varint_len(b.len() as i32) + b.len(),
        None => 1,
    };
    let mut body = 1
        + varlong_len(timestamp_delta)
        + varint_len(offset_delta)
        + bytes_len(key)
        + bytes_len(value)
        + varint_len(headers.len() as i32);
    for h in headers {
        body += bytes_len(Some(h.key.as_bytes())) + bytes_len(h.value.as_deref());
    }
    buf.reserve(body + 5);
    put_varint(buf, body as i32);
    buf.push(0); // record attributes: unused
    put_varlong(buf, timestamp_delta);
    put_varint(buf, offset_delta);
    put_bytes(buf, key);
    put_bytes(buf, value);
    put_varint(buf, headers.len() as i32);
    for h in headers {
        put_bytes(buf, Some(h.key.as_bytes()));
        put_bytes(buf, h.value.as_deref());
    }
}

/// The largest key plus value [`encode_small`] takes: with every other field at its widest
/// (attributes 1, timestamp delta 10, offset delta 5, two lengths 5 each, header count 1)
/// the body stays under 64 bytes, so its length is one varint byte, and the whole record
/// fits 64 bytes.
const SMALL_PAYLOAD: usize = 36;

/// The most bytes a record [`encode_small`] takes.
const SMALL_RECORD: usize = 64;

/// Appends a headerless record whose key and value take at most [`SMALL_PAYLOAD`] bytes:
/// the buffer grows by a fixed 64 zero bytes, the record is written into them, and the rest
/// is cut off. The general path computed five varint lengths, pushed a byte at a time (a
/// capacity check each) and called `memcpy` for every key and value of a few bytes; with
/// the sink around it that was a fifth of a word count's stream-thread instructions.
/// (Writing into a stack array and appending that made a wide load read back narrow stores
/// just made: a store-forwarding stall, a fifth of this function's time.) The same bytes
/// as [`encode`] (tested below).
#[inline]
fn encode_small(
    buf: &mut Vec<u8>,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; SMALL_RECORD]);
    let rec = &mut buf[start..];
    // Byte 0 is the length, known at the end; byte 1 the attributes (unused, 0).
    let mut at = 2;
    at += put_unsigned_at(&mut rec[at..], zigzag64(timestamp_delta));
    at += put_unsigned_at(&mut rec[at..], u64::from(zigzag32(offset_delta)));
    for bytes in [key, value] {
        match bytes {
            Some(b) => {
                at += put_unsigned_at(&mut rec[at..], u64::from(zigzag32(b.len() as i32)));
                copy_short(&mut rec[at..], b);
                at += b.len();
            }
            None => {
                rec[at] = 1; // zigzag(-1): null
                at += 1;
            }
        }
    }
    // The header count, 0, is already there.
    at += 1;
    // The body (all but the length byte) is under 64 bytes: its zigzag is one byte.
    rec[0] = ((at - 1) as u8) << 1;
    buf.truncate(start + at);
}

/// Copies `src` to the front of `dst` in fixed-size moves (two overlapping ones for up to 32
/// bytes) rather than a call to `memcpy`: keys and values here are a few bytes each.
#[inline]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if n >= 16 {
        let mut i = 0;
        while i + 16 < n {
            dst[i..i + 16].copy_from_slice(&src[i..i + 16]);
            i += 16;
        }
        dst[n - 16..n].copy_from_slice(&src[n - 16..n]);
    } else if n >= 8 {
        dst[..8].copy_from_slice(&src[..8]);
        dst[n - 8..n].copy_from_slice(&src[n - 8..n]);
    } else if n >= 4 {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..n].copy_from_slice(&src[n - 4..n]);
    } else if n > 0 {
        // 1 to 3 bytes: first, middle and last cover them all (a loop became a `memcpy`).
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    }
}

#[inline]
fn put_bytes(buf: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.extend_from_slice(b);
        }
        None => put_varint(buf, -1),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::record::{BatchHeader, RecordError, decode_records, validate};

    fn sample(codec: Compression) -> Vec<u8> {
        let mut b = BatchBuilder::new(codec)
            .with_base_offset(42)
            .with_producer(7, 1, 100);
        b.append(
            1000,
            Some(b"a"),
            Some(b"one"),
            &[Header::new("h", Some(&b"x"[..]))],
        );
        b.append(1005, None, None, &[]);
        b.append(990, Some(b"c"), Some(b""), &[]);
        b.build()
    }

    #[test]
    fn built_batches_validate_and_decode_for_every_codec() {
        for codec in Compression::ALL {
            let bytes = sample(codec);
            let header = validate(&bytes, true, 1 << 20).unwrap();
            assert_eq!(header.attributes.compression, codec);
            assert_eq!(
                (header.base_offset, header.last_offset_delta, header.record_count),
                (42, 2, 3)
            );
            assert_eq!((header.base_timestamp, header.max_timestamp), (1000, 1005));
            assert_eq!(
                (header.producer_id, header.producer_epoch, header.base_sequence),
                (7, 1, 100)
            );
            let (_, records) = decode_records(&Bytes::from(bytes), 1 << 20).unwrap();
            let offsets: Vec<_> = records.iter().map(|r| (r.offset, r.timestamp)).collect();
            assert_eq!(offsets, [(42, 1000), (43, 1005), (44, 990)]);
            assert_eq!(records[0].headers, [Header::new("h", Some(&b"x"[..]))]);
            assert_eq!(records[1].key, None);
            assert_eq!(records[2].value.as_deref(), Some(&b""[..]));
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_under_the_crc_is_caught() {
        let good = sample(Compression::None);
        for at in 21..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            assert!(
                validate(&bad, true, 1 << 20).is_err(),
                "flip at {at} went unnoticed"
            );
        }
    }

    #[test]
    fn header_faults_have_their_own_errors() {
        let good = sample(Compression::None);
        let mut bad = good.clone();
        bad[16] = 1;
        assert_eq!(BatchHeader::parse(&bad), Err(RecordError::UnsupportedMagic(1)));
        assert!(matches!(
            BatchHeader::parse(&good[..40]),
            Err(RecordError::Truncated { .. })
        ));
        assert!(matches!(
            BatchHeader::parse(&good[..good.len() - 1]),
            Err(RecordError::Truncated { .. })
        ));
        let mut bad = good.clone();
        bad[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert!(matches!(
            BatchHeader::parse(&bad),
            Err(RecordError::BadBatchLength { .. })
        ));
    }

    #[test]
    fn compacted_batches_keep_their_last_offset_and_gaps() {
        let mut b = BatchBuilder::new(Compression::None).with_last_offset_delta(9);
        b.append_at(3, 5, Some(b"k"), Some(b"v"), &[]);
        b.append_at(7, 6, Some(b"k2"), None, &[]);
        let bytes = b.build();
        assert!(
            validate(&bytes, true, 1 << 20).is_err(),
            "gaps are not a fresh producer batch"
        );
        let header = validate(&bytes, false, 1 << 20).unwrap();
        assert_eq!((header.last_offset_delta, header.record_count), (9, 2));
        let (_, records) = decode_records(&Bytes::from(bytes), 1 << 20).unwrap();
        assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), [3, 7]);
    }

    #[test]
    fn the_cursor_reads_headers_back_from_the_run_it_checked() {
        let three = [
            Header::new("a", Some(&b"1"[..])),
            Header::new("", None::<&[u8]>),
            Header::new("trace-id", Some(&b""[..])),
        ];
        let mut b = BatchBuilder::new(Compression::None);
        b.append(1, Some(b"k0"), Some(b"v0"), &[]);
        b.append(2, None, Some(b"v1"), &three);
        b.append(3, Some(b"k2"), None, &three[..1]);
        let batch = Bytes::from(b.build());
        let header = BatchHeader::parse(&batch).unwrap();
        let section = batch.slice(crate::record::HEADER_LEN..header.size());
        let mut cursor = crate::record::RecordCursor::new(header);
        let mut seen = Vec::new();
        while let Some(layout) = cursor.next(&section, true).unwrap() {
            let key = layout.key.clone().map(|r| section.slice(r));
            seen.push((key, Header::from_ranges(&section, layout.headers)));
        }
        assert_eq!(
            seen,
            [
                (Some(Bytes::from_static(b"k0")), vec![]),
                (None, three.to_vec()),
                (Some(Bytes::from_static(b"k2")), three[..1].to_vec()),
            ]
        );

        // A null header key (length -1 where "a" was) is refused.
        let mut one = BatchBuilder::new(Compression::None);
        one.append(1, None, None, &three[..1]);
        let batch = one.build();
        let header = BatchHeader::parse(&batch).unwrap();
        let mut section = batch[crate::record::HEADER_LEN..header.size()].to_vec();
        let at = section.windows(2).position(|w| w == [2, b'a']).unwrap();
        section[at] = 1;
        assert!(matches!(
            crate::record::RecordCursor::new(header).next(&section, true),
            Err(RecordError::MalformedRecord { index: 0, ref reason }) if reason.contains("null header key")
        ));
    }

    #[test]
    fn delete_horizon_is_the_base_timestamp_and_record_times_survive() {
        let mut b = BatchBuilder::new(Compression::None).with_delete_horizon(5_000);
        b.append(1_000, Some(b"k"), None, &[]);
        let bytes = Bytes::from(b.build());
        let (header, records) = decode_records(&bytes, 1 << 20).unwrap();
        assert_eq!(header.delete_horizon_ms(), Some(5_000));
        assert_eq!(records[0].timestamp, 1_000);
    }

    proptest::proptest! {
        /// The small-record path writes exactly the general path's bytes, over the whole
        /// range it takes: every key and value length up to the limit, nulls, negative and
        /// widest timestamp deltas, multi-byte offset deltas; and a builder's batch of such
        /// records decodes to them.
        #[test]
        fn small_records_encode_as_the_general_path_does(
            key in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..=SMALL_PAYLOAD)),
            value_len in 0..=SMALL_PAYLOAD,
            null_value in proptest::prelude::any::<bool>(),
            timestamp_delta in proptest::prelude::any::<i64>(),
            offset_delta in 0..=i32::MAX,
        ) {
            let value: Option<Vec<u8>> = (!null_value)
                .then(|| (0..value_len).map(|i| i as u8 ^ 0x5a).collect())
                .filter(|v: &Vec<u8>| key.as_ref().map_or(0, Vec::len) + v.len() <= SMALL_PAYLOAD);
            let (key, value) = (key.as_deref(), value.as_deref());
            let mut small = vec![7u8];
            encode_small(&mut small, timestamp_delta, offset_delta, key, value);
            let mut general = vec![7u8];
            encode(&mut general, timestamp_delta, offset_delta, key, value, &[]);
            proptest::prop_assert_eq!(&small, &general);

            let mut b = BatchBuilder::new(Compression::None);
            b.append(1_000, key, value, &[]);
            b.append(1_000_i64.wrapping_add(timestamp_delta), value, key, &[]);
            let bytes = Bytes::from(b.build());
            let (_, records) = decode_records(&bytes, 1 << 20).unwrap();
            proptest::prop_assert_eq!(records.len(), 2);
            proptest::prop_assert_eq!(records[0].key.as_deref(), key);
            proptest::prop_assert_eq!(records[0].value.as_deref(), value);
            proptest::prop_assert_eq!(records[1].key.as_deref(), value);
            proptest::prop_assert_eq!(records[1].value.as_deref(), key);
            proptest::prop_assert_eq!(records[1].timestamp, 1_000_i64.wrapping_add(timestamp_delta));
        }
    }

    #[test]
    fn copy_short_copies_every_length_and_nothing_past_it() {
        let src: Vec<u8> = (1..=64).collect();
        for n in 0..=64 {
            let mut dst = [0u8; 64];
            copy_short(&mut dst, &src[..n]);
            assert_eq!(&dst[..n], &src[..n], "length {n}");
            assert!(dst[n..].iter().all(|&b| b == 0), "length {n} wrote past its end");
        }
    }
}
