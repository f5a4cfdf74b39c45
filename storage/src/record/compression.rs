//! The four codecs of the record-batch format. The records section of a batch (everything after
//! the 61-byte header) is compressed as one unit; the header stays plain so a broker can read
//! offsets and counts without decompressing.
//!
//! Decompression is always bounded: a batch whose records inflate past the caller's limit is
//! refused rather than allocated (a 1 KiB zip bomb must not cost a gigabyte).

use std::io::{Read, Write};

use super::RecordError;

/// The compression codec of a batch: bits 0–2 of its attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec id stored in the attributes.
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    pub fn from_id(id: i16) -> Option<Compression> {
        Some(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            _ => return None,
        })
    }

    /// Kafka's `compression.type` names.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compression::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("unknown compression type {s:?}"))
    }
}

/// snappy-java's stream header, which the Java producer writes before its blocks.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
/// snappy-java's block size; Kafka's Java producer uses the default.
const XERIAL_BLOCK: usize = 32 * 1024;

fn codec_error(codec: Compression, err: impl std::fmt::Display) -> RecordError {
    RecordError::Decompression {
        codec: codec.name(),
        reason: err.to_string(),
    }
}

/// Compresses `input` with `codec`, appending to `out`.
pub fn compress(codec: Compression, input: &[u8], out: &mut Vec<u8>) {
    match codec {
        Compression::None => out.extend_from_slice(input),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            // Writing into a Vec cannot fail.
            let _ = enc.write_all(input);
            let _ = enc.finish();
        }
        Compression::Snappy => {
            // The Java client writes snappy-java's framing: a 16-byte header, then blocks of
            // [u32 BE compressed length][raw snappy]. Every Kafka client reads it.
            out.extend_from_slice(XERIAL_HEADER);
            let mut encoder = snap::raw::Encoder::new();
            for block in input.chunks(XERIAL_BLOCK) {
                let len_at = out.len();
                out.extend_from_slice(&[0; 4]);
                let start = out.len();
                out.resize(start + snap::raw::max_compress_len(block.len()), 0);
                // Only fails for inputs over 2^32 bytes; a chunk is 32 KiB.
                let written = encoder.compress(block, &mut out[start..]).unwrap_or_default();
                out.truncate(start + written);
                out[len_at..start].copy_from_slice(&(written as u32).to_be_bytes());
            }
        }
        Compression::Lz4 => {
            // Kafka's KafkaLZ4BlockInputStream reads only independent blocks.
            let info = lz4_flex::frame::FrameInfo::new()
                .block_mode(lz4_flex::frame::BlockMode::Independent)
                .block_size(lz4_flex::frame::BlockSize::Max64KB);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
            let _ = enc.write_all(input);
            let _ = enc.finish();
        }
        Compression::Zstd => {
            let mut enc = match zstd::stream::Encoder::new(out, 3) {
                Ok(enc) => enc,
                Err(_) => return,
            };
            let _ = enc.write_all(input);
            let _ = enc.finish();
        }
    }
}

/// Decompresses `input`, refusing to produce more than `limit` bytes.
pub fn decompress(codec: Compression, input: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    fn bounded(mut reader: impl Read, codec: Compression, limit: usize) -> Result<Vec<u8>, RecordError> {
        let mut out = Vec::new();
        let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
        reader
            .by_ref()
            .take(cap)
            .read_to_end(&mut out)
            .map_err(|e| codec_error(codec, e))?;
        if out.len() > limit {
            return Err(RecordError::DecompressedTooLarge { limit });
        }
        Ok(out)
    }
    match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(RecordError::DecompressedTooLarge { limit });
            }
            Ok(input.to_vec())
        }
        Compression::Gzip => bounded(flate2::read::GzDecoder::new(input), codec, limit),
        Compression::Lz4 => bounded(lz4_flex::frame::FrameDecoder::new(input), codec, limit),
        Compression::Zstd => {
            let dec = zstd::stream::Decoder::new(input).map_err(|e| codec_error(codec, e))?;
            bounded(dec, codec, limit)
        }
        Compression::Snappy => decompress_snappy(input, limit),
    }
}

fn decompress_snappy(input: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    let codec = Compression::Snappy;
    let raw_block = |block: &[u8], out: &mut Vec<u8>| -> Result<(), RecordError> {
        let len = snap::raw::decompress_len(block).map_err(|e| codec_error(codec, e))?;
        if out.len() + len > limit {
            return Err(RecordError::DecompressedTooLarge { limit });
        }
        let start = out.len();
        out.resize(start + len, 0);
        snap::raw::Decoder::new()
            .decompress(block, &mut out[start..])
            .map_err(|e| codec_error(codec, e))?;
        Ok(())
    };
    let mut out = Vec::new();
    if !input.starts_with(XERIAL_MAGIC) {
        // librdkafka writes raw snappy; snappy-java falls back to raw without the header too.
        raw_block(input, &mut out)?;
        return Ok(out);
    }
    let mut rest = input
        .get(XERIAL_HEADER.len()..)
        .ok_or_else(|| codec_error(codec, "truncated snappy-java header"))?;
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| codec_error(codec, "truncated snappy-java block length"))?;
        let len = u32::from_be_bytes(*len) as usize;
        let block = tail
            .get(..len)
            .ok_or_else(|| codec_error(codec, "truncated snappy-java block"))?;
        raw_block(block, &mut out)?;
        rest = &tail[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips() {
        let input: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        for codec in Compression::ALL {
            let mut packed = Vec::new();
            compress(codec, &input, &mut packed);
            let unpacked = decompress(codec, &packed, input.len()).map_err(|e| e.to_string());
            assert_eq!(unpacked.as_deref(), Ok(&input[..]), "{codec:?}");
        }
    }

    #[test]
    fn decompression_past_the_limit_is_refused() {
        let bomb = vec![0u8; 10 << 20];
        for codec in Compression::ALL {
            let mut packed = Vec::new();
            compress(codec, &bomb, &mut packed);
            assert!(
                matches!(
                    decompress(codec, &packed, 1 << 20),
                    Err(RecordError::DecompressedTooLarge { .. })
                ),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn raw_snappy_without_framing_is_read() {
        let input = b"hello hello hello hello".repeat(10);
        let raw = snap::raw::Encoder::new().compress_vec(&input).unwrap_or_default();
        assert_eq!(decompress(Compression::Snappy, &raw, 1 << 20).ok(), Some(input));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in Compression::ALL.into_iter().skip(1) {
            assert!(
                decompress(codec, b"\x82SNAPPY\x00garbage-garbage", 1 << 20).is_err(),
                "{codec:?}"
            );
        }
    }
}
