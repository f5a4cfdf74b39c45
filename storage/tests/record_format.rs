//! Property tests of the v2 record-batch format (`storage::record`): our batches round-trip
//! through our own decoder for every codec, agree with an independent implementation
//! (the `kafka-protocol` crate) in both directions and byte for byte, and damaged or arbitrary
//! bytes are refused with an error, never a panic.

use std::collections::HashSet;

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{self as kp, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;
use storage::record::{
    Attributes, BatchBuilder, Compression, HEADER_LEN, Header, LOG_OVERHEAD, MAGIC, Record, TimestampType,
    compression, decode_records, validate,
};

/// Decompression bound handed to the decoder: far above any batch generated here.
const LIMIT: usize = 1 << 20;

/// One record as a producer hands it over: everything but the offset, which is its position.
#[derive(Debug, Clone)]
struct Rec {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    /// Unique keys in insertion order (kafka-protocol keeps headers in a map).
    headers: Vec<(String, Option<Vec<u8>>)>,
}

/// A whole producer batch.
#[derive(Debug, Clone)]
struct Spec {
    base_offset: i64,
    leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    records: Vec<Rec>,
}

// ---------------------------------------------------------------------------------------------
// Strategies

/// Keys, values and header values: either incompressible or low-entropy bytes, so the
/// compressors see both literal runs and real matches.
fn payload(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![vec(any::<u8>(), 0..max_len), vec(0u8..4, 0..max_len)]
}

/// 0–3 headers with unique printable-ASCII keys (the empty key included) in random order.
fn headers() -> impl Strategy<Value = Vec<(String, Option<Vec<u8>>)>> {
    vec(("[ -~]{0,12}", option::of(payload(40))), 0..=3).prop_map(|mut headers| {
        let mut seen = HashSet::new();
        headers.retain(|(key, _)| seen.insert(key.clone()));
        headers
    })
}

/// Timestamps a Kafka client may send: "none" (-1) or milliseconds up to the year 2100. Any two
/// of them differ by far less than `i64::MAX`, which kafka-protocol's unchecked delta needs.
fn kafka_timestamp() -> BoxedStrategy<i64> {
    prop_oneof![1 => Just(-1i64), 9 => 0i64..=4_102_444_800_000].boxed()
}

/// Anything at all: our codec computes deltas with wrapping arithmetic, as Java's longs do.
fn any_timestamp() -> BoxedStrategy<i64> {
    prop_oneof![3 => kafka_timestamp(), 1 => any::<i64>()].boxed()
}

fn record(timestamp: BoxedStrategy<i64>) -> impl Strategy<Value = Rec> {
    (
        timestamp,
        option::of(payload(300)),
        option::of(payload(300)),
        headers(),
    )
        .prop_map(|(timestamp, key, value, headers)| Rec {
            timestamp,
            key,
            value,
            headers,
        })
}

fn spec(count: std::ops::Range<usize>, timestamp: BoxedStrategy<i64>) -> impl Strategy<Value = Spec> {
    (
        // Far from i64::MAX: base + lastOffsetDelta must not overflow.
        0i64..(1 << 62),
        any::<i32>(),
        any::<i64>(),
        any::<i16>(),
        any::<i32>(),
        any::<bool>(),
        vec(record(timestamp), count),
    )
        .prop_map(
            |(
                base_offset,
                leader_epoch,
                producer_id,
                producer_epoch,
                base_sequence,
                transactional,
                records,
            )| Spec {
                base_offset,
                leader_epoch,
                producer_id,
                producer_epoch,
                base_sequence,
                transactional,
                records,
            },
        )
}

/// A batch whose timestamps never decrease, so that the first is also the smallest:
/// kafka-protocol takes baseTimestamp as the minimum, we (and the Java client) as the first.
fn ordered_spec(count: std::ops::Range<usize>) -> impl Strategy<Value = Spec> {
    spec(count, kafka_timestamp()).prop_map(|mut spec| {
        let mut timestamps: Vec<i64> = spec.records.iter().map(|r| r.timestamp).collect();
        timestamps.sort_unstable();
        for (record, timestamp) in spec.records.iter_mut().zip(timestamps) {
            record.timestamp = timestamp;
        }
        spec
    })
}

fn codec() -> impl Strategy<Value = Compression> {
    prop::sample::select(Compression::ALL.to_vec())
}

/// A batch with a well-formed frame — magic 2, a batchLength that spans the buffer and a correct
/// CRC, so that nothing short-circuits — around arbitrary header fields and a records section
/// that is either random bytes or a real (possibly compressed) one with the header's codec.
fn framed_batch() -> impl Strategy<Value = Vec<u8>> {
    // (codec id, records section, how many records it holds)
    let body = prop_oneof![
        (0i16..8, vec(any::<u8>(), 0..200), 0i32..10),
        (codec(), spec(0..8, any_timestamp())).prop_map(|(codec, spec)| {
            let count = i32::try_from(spec.records.len()).expect("small batch");
            (codec.id(), build(&spec, codec)[HEADER_LEN..].to_vec(), count)
        }),
    ];
    // lastOffsetDelta and recordCount: true to the body half the time, else small or anything.
    let tweak =
        || prop_oneof![2 => Just(None), 1 => (-1i32..10).prop_map(Some), 1 => any::<i32>().prop_map(Some)];
    (
        body,
        // Far from i64::MAX: see `an_offset_past_i64_max_is_refused_or_decoded`.
        0i64..(1 << 62),
        any::<i32>(),
        vec(any::<u8>(), HEADER_LEN - 21),
        prop_oneof![3 => Just(0i16), 1 => any::<i16>()],
        tweak(),
        tweak(),
    )
        .prop_map(
            |(
                (codec_id, body, real_count),
                base_offset,
                leader_epoch,
                fields,
                flags,
                last_offset_delta,
                count,
            )| {
                let mut batch = Vec::with_capacity(HEADER_LEN + body.len());
                batch.extend_from_slice(&base_offset.to_be_bytes());
                let length = i32::try_from(HEADER_LEN - LOG_OVERHEAD + body.len()).expect("small batch");
                batch.extend_from_slice(&length.to_be_bytes());
                batch.extend_from_slice(&leader_epoch.to_be_bytes());
                batch.push(2); // magic
                batch.extend_from_slice(&[0; 4]); // CRC, below
                batch.extend_from_slice(&fields);
                batch.extend_from_slice(&body);
                let last_offset_delta = last_offset_delta.unwrap_or((real_count - 1).max(0));
                batch[21..23].copy_from_slice(&((flags & !7) | codec_id).to_be_bytes());
                batch[23..27].copy_from_slice(&last_offset_delta.to_be_bytes());
                batch[57..61].copy_from_slice(&count.unwrap_or(real_count).to_be_bytes());
                let crc = crc32c::crc32c(&batch[21..]);
                batch[17..21].copy_from_slice(&crc.to_be_bytes());
                batch
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Our side

fn build(spec: &Spec, codec: Compression) -> Vec<u8> {
    let mut builder = BatchBuilder::new(codec)
        .with_base_offset(spec.base_offset)
        .with_partition_leader_epoch(spec.leader_epoch)
        .with_producer(spec.producer_id, spec.producer_epoch, spec.base_sequence)
        .with_transactional(spec.transactional);
    for (index, r) in spec.records.iter().enumerate() {
        let headers: Vec<Header> = r
            .headers
            .iter()
            .map(|(key, value)| Header::new(key.clone(), value.clone()))
            .collect();
        let delta = builder.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers);
        assert_eq!(
            usize::try_from(delta).ok(),
            Some(index),
            "offset delta of record {index}"
        );
    }
    builder.build()
}

/// What our decoder must hand back for `spec`.
fn our_records(spec: &Spec) -> Vec<Record> {
    spec.records
        .iter()
        .zip(spec.base_offset..)
        .map(|(r, offset)| Record {
            offset,
            timestamp: r.timestamp,
            key: r.key.clone().map(Bytes::from),
            value: r.value.clone().map(Bytes::from),
            headers: r
                .headers
                .iter()
                .map(|(key, value)| Header::new(key.clone(), value.clone()))
                .collect(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// kafka-protocol's side

fn their_codec(codec: Compression) -> kp::Compression {
    match codec {
        Compression::None => kp::Compression::None,
        Compression::Gzip => kp::Compression::Gzip,
        Compression::Snappy => kp::Compression::Snappy,
        Compression::Lz4 => kp::Compression::Lz4,
        Compression::Zstd => kp::Compression::Zstd,
    }
}

/// `spec` as kafka-protocol models it: batch fields repeated on every record, and the producer
/// sequence of record `i` being `baseSequence + i`.
fn their_records(spec: &Spec) -> Vec<kp::Record> {
    spec.records
        .iter()
        .zip(spec.base_offset..)
        .zip(0i32..)
        .map(|((r, offset), index)| kp::Record {
            transactional: spec.transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: spec.leader_epoch,
            producer_id: spec.producer_id,
            producer_epoch: spec.producer_epoch,
            timestamp_type: kp::TimestampType::Creation,
            offset,
            sequence: spec.base_sequence.wrapping_add(index),
            timestamp: r.timestamp,
            key: r.key.clone().map(Bytes::from),
            value: r.value.clone().map(Bytes::from),
            headers: r
                .headers
                .iter()
                .map(|(key, value)| (StrBytes::from_string(key.clone()), value.clone().map(Bytes::from)))
                .collect(),
        })
        .collect()
}

fn encode_theirs(spec: &Spec, codec: Compression) -> Bytes {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: their_codec(codec),
    };
    RecordBatchEncoder::encode(&mut buf, &their_records(spec), &options)
        .expect("kafka-protocol encodes the batch");
    buf.freeze()
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Property 1: build → validate → decode gives back every record and header field.
    #[test]
    fn every_codec_round_trips_records_and_batch_fields(spec in spec(0..50, any_timestamp())) {
        let expected = our_records(&spec);
        let count = spec.records.len();
        for codec in Compression::ALL {
            let batch = build(&spec, codec);
            let stored_crc = u32::from_be_bytes([batch[17], batch[18], batch[19], batch[20]]);
            let expected_header = |last_offset_delta: i32, base_timestamp: i64, max_timestamp: i64| {
                storage::record::BatchHeader {
                    base_offset: spec.base_offset,
                    batch_length: i32::try_from(batch.len() - LOG_OVERHEAD).expect("batch fits i32"),
                    partition_leader_epoch: spec.leader_epoch,
                    magic: MAGIC,
                    crc: stored_crc,
                    attributes: Attributes {
                        compression: codec,
                        timestamp_type: TimestampType::CreateTime,
                        transactional: spec.transactional,
                        control: false,
                        delete_horizon: false,
                    },
                    last_offset_delta,
                    base_timestamp,
                    max_timestamp,
                    producer_id: spec.producer_id,
                    producer_epoch: spec.producer_epoch,
                    base_sequence: spec.base_sequence,
                    record_count: i32::try_from(count).expect("count fits i32"),
                }
            };
            let header = if count == 0 {
                expected_header(0, -1, -1)
            } else {
                let first = spec.records[0].timestamp;
                // Like Java's MemoryRecordsBuilder, maxTimestamp starts at NO_TIMESTAMP (-1).
                let max = spec.records.iter().map(|r| r.timestamp).fold(-1, i64::max);
                let last = i32::try_from(count - 1).expect("count fits i32");
                expected_header(last, first, max)
            };
            prop_assert_eq!(validate(&batch, false, LIMIT), Ok(header), "{:?}", codec);
            if count == 0 {
                // Well formed, but no producer batch: Kafka's broker refuses a record count of 0.
                prop_assert!(validate(&batch, true, LIMIT).is_err(), "{:?}: empty batch passed", codec);
            } else {
                prop_assert_eq!(validate(&batch, true, LIMIT), Ok(header), "{:?}", codec);
            }
            let (decoded_header, records) =
                decode_records(&Bytes::from(batch), LIMIT).expect("a built batch decodes");
            prop_assert_eq!(decoded_header, header, "{:?}", codec);
            prop_assert_eq!(&records, &expected, "{:?}", codec);
        }
    }

    /// Property 2: kafka-protocol reads our batches, for every codec.
    #[test]
    fn our_batches_decode_with_kafka_protocol(spec in spec(0..50, kafka_timestamp())) {
        let expected = their_records(&spec);
        for codec in Compression::ALL {
            let mut batch = Bytes::from(build(&spec, codec));
            let set = RecordBatchDecoder::decode(&mut batch)
                .map_err(|e| TestCaseError::fail(format!("{codec:?}: kafka-protocol refused our batch: {e:#}")))?;
            prop_assert!(batch.is_empty(), "{:?}: {} bytes left over", codec, batch.len());
            prop_assert_eq!(set.version, 2);
            prop_assert_eq!(set.compression, their_codec(codec));
            prop_assert_eq!(&set.records, &expected, "{:?}", codec);
        }
    }

    /// Property 3: we validate (as a fresh producer batch) and decode kafka-protocol's batches,
    /// for every codec.
    #[test]
    fn kafka_protocol_batches_validate_and_decode_with_ours(spec in spec(1..50, kafka_timestamp())) {
        let expected = our_records(&spec);
        let count = spec.records.len();
        for codec in Compression::ALL {
            let batch = encode_theirs(&spec, codec);
            let header = validate(&batch, true, LIMIT)
                .map_err(|e| TestCaseError::fail(format!("{codec:?}: we refused kafka-protocol's batch: {e}")))?;
            prop_assert_eq!(header.size(), batch.len(), "{:?}: not exactly one batch", codec);
            prop_assert_eq!(header.attributes.compression, codec);
            prop_assert_eq!(header.attributes.transactional, spec.transactional);
            prop_assert_eq!(header.base_offset, spec.base_offset);
            prop_assert_eq!(header.partition_leader_epoch, spec.leader_epoch);
            prop_assert_eq!(
                (header.producer_id, header.producer_epoch, header.base_sequence),
                (spec.producer_id, spec.producer_epoch, spec.base_sequence)
            );
            prop_assert_eq!(usize::try_from(header.record_count).ok(), Some(count));
            prop_assert_eq!(usize::try_from(header.last_offset_delta).ok(), Some(count - 1));
            let timestamps = spec.records.iter().map(|r| r.timestamp);
            prop_assert_eq!(header.base_timestamp, timestamps.clone().min().expect("records"));
            prop_assert_eq!(header.max_timestamp, timestamps.max().expect("records"));
            let (decoded_header, records) =
                decode_records(&batch, LIMIT).expect("a validated batch decodes");
            prop_assert_eq!(decoded_header, header);
            prop_assert_eq!(&records, &expected, "{:?}", codec);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Property 4a: an uncompressed batch is exactly kafka-protocol's bytes.
    #[test]
    fn uncompressed_batches_match_kafka_protocol_byte_for_byte(spec in ordered_spec(1..50)) {
        let ours = build(&spec, Compression::None);
        let theirs = encode_theirs(&spec, Compression::None);
        prop_assert_eq!(&ours[..], &theirs[..]);
    }

    /// Property 4b: with compression the compressed bytes may differ (other codec libraries and
    /// levels), but the header outside length and CRC, and the records once decompressed, don't.
    #[test]
    fn compressed_batches_match_kafka_protocol_once_decompressed(
        spec in ordered_spec(1..50),
        codec in prop::sample::select(Compression::ALL[1..].to_vec()),
    ) {
        let ours = build(&spec, codec);
        let theirs = encode_theirs(&spec, codec);
        // baseOffset; partitionLeaderEpoch and magic; attributes through recordCount.
        for range in [0..8, 12..17, 21..HEADER_LEN] {
            prop_assert_eq!(&ours[range.clone()], &theirs[range.clone()], "{:?}: header bytes {:?}", codec, range);
        }
        let our_section = compression::decompress(codec, &ours[HEADER_LEN..], LIMIT)
            .expect("we decompress our own records");
        let their_section = compression::decompress(codec, &theirs[HEADER_LEN..], LIMIT)
            .expect("we decompress kafka-protocol's records");
        prop_assert_eq!(our_section, their_section, "{:?}", codec);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Property 5a: CRC-32C catches every single-byte error from the magic byte on (baseOffset,
    /// batchLength and partitionLeaderEpoch lie outside the checksum by design).
    #[test]
    fn a_flipped_byte_from_the_magic_on_fails_validation(
        spec in spec(1..20, kafka_timestamp()),
        codec in codec(),
        at in any::<Index>(),
        mask in 1u8..=255,
    ) {
        let good = build(&spec, codec);
        let at = 16 + at.index(good.len() - 16);
        let mut bad = good;
        bad[at] ^= mask;
        prop_assert!(validate(&bad, true, LIMIT).is_err(), "{:?}: flip {:#04x} at byte {} went unnoticed", codec, mask, at);
        prop_assert!(validate(&bad, false, LIMIT).is_err(), "{:?}: flip {:#04x} at byte {} went unnoticed", codec, mask, at);
        // The decoder trusts the checksum to the caller, but must not panic either way.
        let _ = decode_records(&Bytes::from(bad), LIMIT);
    }

    /// Property 5b: every proper prefix of a batch is refused.
    #[test]
    fn a_truncated_batch_fails_validation(
        spec in spec(0..20, kafka_timestamp()),
        codec in codec(),
        cut in any::<Index>(),
    ) {
        let good = build(&spec, codec);
        let cut = cut.index(good.len());
        let prefix = &good[..cut];
        prop_assert!(validate(prefix, false, LIMIT).is_err(), "{:?}: {} of {} bytes passed", codec, cut, good.len());
        prop_assert!(decode_records(&Bytes::copy_from_slice(prefix), LIMIT).is_err(), "{:?}: {} of {} bytes decoded", codec, cut, good.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8192))]

    /// Property 5c: arbitrary bytes give an error or a header, never a panic.
    #[test]
    fn random_bytes_never_panic_the_decoder(garbage in vec(any::<u8>(), 0..200)) {
        let _ = validate(&garbage, true, LIMIT);
        let _ = validate(&garbage, false, LIMIT);
        let _ = decode_records(&Bytes::from(garbage), LIMIT);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Property 5d: garbage that gets past the frame checks is an error, never a panic, and
    /// whatever `validate` accepts `decode_records` decodes.
    #[test]
    fn a_well_framed_batch_of_garbage_never_panics_the_decoder(batch in framed_batch()) {
        let sequential = validate(&batch, true, LIMIT);
        let any_order = validate(&batch, false, LIMIT);
        if let Ok(header) = sequential {
            prop_assert_eq!(any_order.clone(), Ok(header), "sequential batch refused unordered");
        }
        let count = i32::from_be_bytes([batch[57], batch[58], batch[59], batch[60]]);
        // decode_records allocates for recordCount up front: keep to counts a test can afford
        // unless validation vouched for them (see `a_huge_record_count_is_refused_without_allocating`).
        if any_order.is_ok() || (0..=1 << 16).contains(&count) {
            let decoded = decode_records(&Bytes::from(batch), LIMIT);
            if let Ok(header) = any_order {
                let (decoded_header, records) = decoded.map_err(|e| TestCaseError::fail(format!("validated batch does not decode: {e}")))?;
                prop_assert_eq!(decoded_header, header);
                prop_assert_eq!(usize::try_from(header.record_count).ok(), Some(records.len()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: codec bugs the properties above found.

/// `decode_records` used to `Vec::with_capacity(recordCount)` before reading a record: 61 bytes
/// asked for 2^31 records (~223 GB), and the allocation failure aborted the process.
#[test]
fn a_huge_record_count_is_refused_without_allocating() {
    let mut batch = BatchBuilder::new(Compression::None).build(); // the header alone
    batch[23..27].copy_from_slice(&(i32::MAX - 1).to_be_bytes()); // lastOffsetDelta
    batch[57..61].copy_from_slice(&i32::MAX.to_be_bytes()); // recordCount
    assert!(validate(&batch, false, LIMIT).is_err());
    assert!(decode_records(&Bytes::from(batch), LIMIT).is_err());
}

/// baseOffset lies outside the CRC and is whatever a producer sent; a batch whose
/// `baseOffset + offsetDelta` overflowed used to validate and then panic in `decode_records`.
#[test]
fn an_offset_past_i64_max_is_refused_or_decoded() {
    let mut builder = BatchBuilder::new(Compression::None).with_base_offset(i64::MAX);
    builder.append(0, None, None, &[]);
    builder.append(0, None, None, &[]);
    let batch = builder.build();
    let validated = validate(&batch, true, LIMIT);
    let decoded = decode_records(&Bytes::from(batch), LIMIT);
    assert!(
        matches!(
            validated,
            Err(storage::record::RecordError::OffsetOverflow { .. })
        ),
        "{validated:?}"
    );
    assert!(
        matches!(decoded, Err(storage::record::RecordError::OffsetOverflow { .. })),
        "{decoded:?}"
    );
}
