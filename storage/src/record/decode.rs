//! Reading records out of a batch: a zero-allocation walk used for validation, and a decoder
//! that hands out owned [`Record`]s sharing the batch's buffer.

use bytes::Bytes;

use super::batch::{BatchHeader, HEADER_LEN};
use super::varint::{Reader, short_unsigned, unzigzag64};
use super::{Compression, RecordError, compression};

/// A record header: a UTF-8 key (decoded lossily, as the Java client does) and a nullable value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    pub key: String,
    pub value: Option<Bytes>,
}

impl Header {
    /// The headers a [`RecordLayout`] found in `section`; values share `section`'s buffer.
    #[inline]
    pub fn from_ranges(section: &Bytes, ranges: HeaderRanges) -> Vec<Header> {
        // Most records have none: asked for every record a consumer hands out, setting up
        // the walk for an empty run was 2-3 % of a word count's time. Inlined, so that the
        // check costs no call from another crate either.
        if ranges.count == 0 {
            return Vec::new();
        }
        Header::from_run(section, ranges)
    }

    fn from_run(section: &Bytes, ranges: HeaderRanges) -> Vec<Header> {
        ranges
            .iter(section)
            .map(|(k, v)| Header {
                key: String::from_utf8_lossy(&section[k]).into_owned(),
                value: v.map(|v| section.slice(v)),
            })
            .collect()
    }

    pub fn new(key: impl Into<String>, value: Option<impl Into<Bytes>>) -> Header {
        Header {
            key: key.into(),
            value: value.map(Into::into),
        }
    }
}

/// One record with its absolute offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

/// Where a record's parts lie within the records section, as found by [`walk_records`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLayout {
    pub offset_delta: i32,
    pub timestamp_delta: i64,
    pub key: Option<std::ops::Range<usize>>,
    pub value: Option<std::ops::Range<usize>>,
    pub headers: HeaderRanges,
}

/// Where a record's headers lie within the records section: the byte run the cursor checked,
/// read again only when someone asks for the headers. Most records have none, and a record's
/// walk then writes no vector (an empty `Vec` per record cost the walk a store-forwarding
/// stall that was a quarter of its time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRanges {
    /// How many headers the run holds.
    pub count: u32,
    /// Byte positions of the run within the section.
    pub start: usize,
    pub end: usize,
}

impl HeaderRanges {
    /// The (key, value) byte ranges of each header within `section` (the section the cursor
    /// walked; the ranges were checked there, so the reading cannot fail — should `section` be
    /// another buffer, the iterator ends at the first header that does not parse).
    pub fn iter(
        self,
        section: &[u8],
    ) -> impl Iterator<Item = (std::ops::Range<usize>, Option<std::ops::Range<usize>>)> {
        let mut r = Reader::starting_at(&section[..self.end.min(section.len())], self.start);
        (0..self.count).map_while(move |_| {
            let key = r.nullable_bytes().ok()??;
            let value = r.nullable_bytes().ok()?;
            Some((key, value))
        })
    }
}

/// Walks the `header.record_count` records of an uncompressed records section, checking every
/// length and that offset deltas strictly increase within `0..=lastOffsetDelta` (or equal the
/// record index when `sequential`, as a producer must send them). `each` sees every record.
pub fn walk_records(
    section: &[u8],
    header: &BatchHeader,
    sequential: bool,
    mut each: impl FnMut(RecordLayout),
) -> Result<(), RecordError> {
    let mut cursor = RecordCursor::new(*header);
    while let Some(layout) = cursor.next(section, sequential)? {
        each(layout);
    }
    Ok(())
}

/// A position in a batch's records section, reading one record at a time with the checks of
/// [`walk_records`]: a consumer hands out a batch's records a few at a time (`max.poll.records`)
/// without walking it again from the start, or copying records out, at every poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordCursor {
    header: BatchHeader,
    /// Byte position of the next record in the section.
    at: usize,
    /// Index of the next record.
    index: i32,
    previous_delta: i64,
}

impl RecordCursor {
    pub fn new(header: BatchHeader) -> RecordCursor {
        RecordCursor {
            header,
            at: 0,
            index: 0,
            previous_delta: -1,
        }
    }

    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The absolute offset and timestamp of a record this cursor read.
    #[inline]
    pub fn offset_and_timestamp(&self, layout: &RecordLayout) -> (i64, i64) {
        let h = &self.header;
        // With LogAppendTime every record carries the broker's time, kept in maxTimestamp.
        let timestamp = if h.attributes.timestamp_type == super::TimestampType::LogAppendTime {
            h.max_timestamp
        } else {
            h.base_timestamp.wrapping_add(layout.timestamp_delta)
        };
        // `BatchHeader::parse` guarantees base + lastOffsetDelta fits.
        (h.base_offset + i64::from(layout.offset_delta), timestamp)
    }

    /// The next record of `section` (the records section this cursor's batch header heads),
    /// or `None` after the last, when the section must also be used up.
    ///
    /// Inlined across crates (a consumer's per-record loop calls it; without LTO it was
    /// an out-of-line call per record).
    #[inline]
    pub fn next(&mut self, section: &[u8], sequential: bool) -> Result<Option<RecordLayout>, RecordError> {
        if self.index < self.header.record_count
            && let Some(layout) = self.next_small(section, sequential)
        {
            return Ok(Some(layout));
        }
        self.next_general(section, sequential)
    }

    /// The common record, read with fewer checks to make: its length, key and value lengths
    /// one varint byte each, offset and timestamp deltas one or two, no headers. `None` for
    /// anything else, valid or not, and the cursor untouched: [`next_general`] reads it then,
    /// and reports what is wrong. The general path's per-field `Result`s and bounds were
    /// about 200 instructions a record of a word count's repartition topic.
    ///
    /// [`next_general`]: Self::next_general
    #[inline(always)]
    fn next_small(&mut self, section: &[u8], sequential: bool) -> Option<RecordLayout> {
        let &len = section.get(self.at)?;
        // One byte, and not negative (an odd zigzag).
        if len >= 0x80 || len & 1 == 1 {
            return None;
        }
        let start = self.at + 1;
        let end = start + usize::from(len >> 1);
        let body = section.get(start..end)?;
        // Byte 0: the attributes, unused.
        let mut at = 1;
        let timestamp_delta = unzigzag64(short_unsigned(body, &mut at)?);
        let offset_delta = i32::try_from(unzigzag64(short_unsigned(body, &mut at)?)).ok()?;
        let expected_ok = if sequential {
            offset_delta == self.index
        } else {
            i64::from(offset_delta) > self.previous_delta && offset_delta <= self.header.last_offset_delta
        };
        if !expected_ok {
            return None;
        }
        let mut bytes = || -> Option<Option<std::ops::Range<usize>>> {
            let &raw = body.get(at)?;
            at += 1;
            match raw {
                1 => Some(None), // zigzag(-1): null
                raw if raw < 0x80 && raw & 1 == 0 => {
                    let from = at;
                    at += usize::from(raw >> 1);
                    (at <= body.len()).then(|| Some(start + from..start + at))
                }
                _ => None,
            }
        };
        let key = bytes()?;
        let value = bytes()?;
        // No headers, and nothing after the count.
        if body.get(at) != Some(&0) || at + 1 != body.len() {
            return None;
        }
        self.previous_delta = i64::from(offset_delta);
        self.index += 1;
        self.at = end;
        Some(RecordLayout {
            offset_delta,
            timestamp_delta,
            key,
            value,
            headers: HeaderRanges {
                count: 0,
                start: end,
                end,
            },
        })
    }

    /// [`next`](Self::next) for any record, with every check and a precise error.
    fn next_general(
        &mut self,
        section: &[u8],
        sequential: bool,
    ) -> Result<Option<RecordLayout>, RecordError> {
        let header = &self.header;
        let index = self.index;
        if index >= header.record_count {
            if sequential && header.record_count != header.last_offset_delta + 1 {
                return Err(RecordError::RecordCountMismatch {
                    count: header.record_count,
                    last_offset_delta: header.last_offset_delta,
                });
            }
            return match section.len().saturating_sub(self.at) {
                0 => Ok(None),
                extra => Err(RecordError::TrailingBytes { extra }),
            };
        }
        let malformed = |reason: String| RecordError::MalformedRecord { index, reason };
        let mut r = Reader::starting_at(section, self.at);
        let len = r.varint()?;
        if len < 0 {
            return Err(malformed(format!("negative length {len}")));
        }
        let body = r.take(len as usize)?;
        let start = body.start;
        let mut b = Reader::new(&section[body.clone()]);
        let shift = |range: std::ops::Range<usize>| range.start + start..range.end + start;
        let _attributes = b.i8()?;
        let timestamp_delta = b.varlong()?;
        let offset_delta = b.varint()?;
        let expected_ok = if sequential {
            i64::from(offset_delta) == i64::from(index)
        } else {
            i64::from(offset_delta) > self.previous_delta && offset_delta <= header.last_offset_delta
        };
        if !expected_ok {
            return Err(malformed(format!("offset delta {offset_delta} out of order")));
        }
        let key = b.nullable_bytes()?.map(shift);
        let value = b.nullable_bytes()?.map(shift);
        let header_count = b.varint()?;
        if header_count < 0 {
            return Err(malformed(format!("negative header count {header_count}")));
        }
        // Each header takes at least 2 bytes: refuse counts the body cannot hold.
        if header_count as usize > b.remaining() / 2 {
            return Err(malformed(format!("{header_count} headers do not fit")));
        }
        let headers_start = b.position();
        for _ in 0..header_count {
            let at = b.position();
            if b.nullable_bytes()?.is_none() {
                return Err(malformed(format!("null header key at byte {at}")));
            }
            b.nullable_bytes()?;
        }
        if b.remaining() != 0 {
            return Err(malformed(format!("{} bytes past its fields", b.remaining())));
        }
        let headers = HeaderRanges {
            count: header_count as u32,
            start: headers_start + start,
            end: body.end,
        };
        self.previous_delta = i64::from(offset_delta);
        self.index += 1;
        self.at = body.end;
        Ok(Some(RecordLayout {
            offset_delta,
            timestamp_delta,
            key,
            value,
            headers,
        }))
    }
}

/// The records section of a batch, decompressed if needed (at most `limit` bytes); a slice of
/// `batch` when it is not compressed.
pub fn records_section(batch: &Bytes, header: &BatchHeader, limit: usize) -> Result<Bytes, RecordError> {
    let section = batch.slice(HEADER_LEN..header.size());
    match header.attributes.compression {
        Compression::None => Ok(section),
        codec => compression::decompress(codec, &section, limit).map(Bytes::from),
    }
}

/// Fully validates the batch at the start of `batch`: header structure, checksum, and every
/// record (decompressing at most `decompress_limit` bytes). `sequential` requires the record
/// offsets a fresh producer batch has (0, 1, 2, … with none missing).
pub fn validate(batch: &[u8], sequential: bool, decompress_limit: usize) -> Result<BatchHeader, RecordError> {
    let header = BatchHeader::parse(batch)?;
    header.verify_crc(batch)?;
    let section = &batch[HEADER_LEN..header.size()];
    match header.attributes.compression {
        Compression::None => walk_records(section, &header, sequential, |_| ())?,
        codec => {
            let plain = compression::decompress(codec, section, decompress_limit)?;
            walk_records(&plain, &header, sequential, |_| ())?;
        }
    }
    Ok(header)
}

/// Decodes every record of one batch (the first in `batch`). Uncompressed records share
/// `batch`'s buffer; compressed ones share one decompressed buffer.
pub fn decode_records(
    batch: &Bytes,
    decompress_limit: usize,
) -> Result<(BatchHeader, Vec<Record>), RecordError> {
    let header = BatchHeader::parse(batch)?;
    let section = records_section(batch, &header, decompress_limit)?;
    // The count is the sender's word: allocate no more than the section can hold (a record
    // takes at least 7 bytes).
    let mut records = Vec::with_capacity((header.record_count as usize).min(section.len() / 7));
    let mut cursor = RecordCursor::new(header);
    while let Some(layout) = cursor.next(&section, false)? {
        let (offset, timestamp) = cursor.offset_and_timestamp(&layout);
        records.push(Record {
            offset,
            timestamp,
            key: layout.key.map(|r| section.slice(r)),
            value: layout.value.map(|r| section.slice(r)),
            headers: Header::from_ranges(&section, layout.headers),
        });
    }
    Ok((header, records))
}

/// Decodes every record of the whole batches in `batches` (as a read returns them), in order.
pub fn decode_all(batches: &Bytes, decompress_limit: usize) -> Result<Vec<Record>, RecordError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < batches.len() {
        let batch = batches.slice(at..);
        let (header, records) = decode_records(&batch, decompress_limit)?;
        if !header.attributes.control {
            out.extend(records);
        }
        at += header.size();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;
    use crate::record::{BatchBuilder, Compression, HEADER_LEN};

    /// A record for the batch: key, value (`None` is null), timestamp offset, header count.
    type TestRecord = (Option<Vec<u8>>, Option<Vec<u8>>, i64, usize);

    fn record() -> impl Strategy<Value = TestRecord> {
        (
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..80)),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..80)),
            prop_oneof![0i64..100, -10_000i64..10_000, any::<i64>()],
            prop_oneof![4 => Just(0usize), 1 => 1usize..3],
        )
    }

    fn section_of(records: &[TestRecord]) -> (BatchHeader, Vec<u8>) {
        let mut b = BatchBuilder::new(Compression::None);
        let headers = [
            Header {
                key: "h".into(),
                value: Some(Bytes::from_static(b"x")),
            },
            Header {
                key: "n".into(),
                value: None,
            },
        ];
        for (key, value, ts, h) in records {
            b.append(
                1_000_i64.wrapping_add(*ts),
                key.as_deref(),
                value.as_deref(),
                &headers[..*h],
            );
        }
        let batch = b.build();
        let header = BatchHeader::parse(&batch).unwrap();
        (header, batch[HEADER_LEN..header.size()].to_vec())
    }

    /// Every result of a walk: each record or error, until the first error or the end.
    fn walk(
        header: BatchHeader,
        section: &[u8],
        sequential: bool,
        general_only: bool,
    ) -> Vec<Result<Option<RecordLayout>, String>> {
        let mut cursor = RecordCursor::new(header);
        let mut out = Vec::new();
        loop {
            let next = if general_only {
                cursor.next_general(section, sequential)
            } else {
                cursor.next(section, sequential)
            };
            let stop = !matches!(next, Ok(Some(_)));
            out.push(next.map_err(|e| format!("{e:?}")));
            if stop || out.len() > 1_000 {
                return out;
            }
        }
    }

    proptest! {
        /// The fast path for small records changes nothing: over batches mixing small records
        /// and others (long keys and values, headers, nulls, wide timestamp deltas), and the
        /// same batches with a byte corrupted or a header whose last offset delta is short, reading with it gives the same records and the
        /// same errors as the general path alone.
        #[test]
        fn the_small_record_path_reads_as_the_general_path(
            records in proptest::collection::vec(record(), 1..40),
            corrupt in proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
            sequential in any::<bool>(),
            short_header in any::<bool>(),
        ) {
            let (mut header, mut section) = section_of(&records);
            let clean = walk(header, &section, sequential, false);
            prop_assert_eq!(clean.len(), records.len() + 1);
            prop_assert!(matches!(clean.last(), Some(Ok(None))));
            for ((key, value, _, _), got) in records.iter().zip(&clean) {
                let Ok(Some(layout)) = got else { panic!("{got:?}") };
                prop_assert_eq!(layout.key.clone().map(|r| section[r].to_vec()), key.clone());
                prop_assert_eq!(layout.value.clone().map(|r| section[r].to_vec()), value.clone());
            }
            prop_assert_eq!(&clean, &walk(header, &section, sequential, true));
            // A header whose last offset delta is one short of the records'.
            if short_header {
                header.last_offset_delta -= 1;
                let short = walk(header, &section, sequential, false);
                prop_assert!(matches!(short.last(), Some(Err(_))), "{:?}", short.last());
                prop_assert_eq!(short, walk(header, &section, sequential, true));
                header.last_offset_delta += 1;
            }
            if let Some((at, byte)) = corrupt {
                let at = at.index(section.len());
                section[at] = byte;
                prop_assert_eq!(
                    walk(header, &section, sequential, false),
                    walk(header, &section, sequential, true)
                );
            }
        }
    }
}
