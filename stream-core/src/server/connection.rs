//! Framing: a Kafka request is a 4-byte big-endian length followed by that many bytes.
//!
//! Frames are read into one `BytesMut` and split off only once complete, so a parser never sees
//! half a request. The length is checked before anything is reserved for it: a frame claiming
//! 2 GiB, or a negative size, closes the connection having cost nothing, and the buffer grows
//! only as bytes actually arrive (a slow sender of a large frame holds what it sent, no more).

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::frame::ResponseFrame;

/// How much the read buffer grows by at most per read while a large frame arrives.
const READ_CHUNK: usize = 64 * 1024;

/// Why a connection stopped yielding frames.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {size} is negative")]
    NegativeLength { size: i32 },
    #[error("frame length {size} exceeds socket.request.max.bytes ({max})")]
    TooLarge { size: i32, max: usize },
    #[error("the peer closed the connection in the middle of a frame ({buffered} bytes buffered)")]
    Truncated { buffered: usize },
    #[error("socket read failed")]
    Io(#[source] std::io::Error),
}

/// The reading half of a connection, yielding whole frames.
#[derive(Debug)]
pub(super) struct FrameReader {
    stream: OwnedReadHalf,
    buffer: BytesMut,
    max_frame: usize,
}

impl FrameReader {
    pub(super) fn new(stream: OwnedReadHalf, max_frame: usize) -> FrameReader {
        FrameReader {
            stream,
            buffer: BytesMut::with_capacity(8 * 1024),
            max_frame,
        }
    }

    /// The next frame's bytes (without the length prefix), or `None` when the peer closed the
    /// connection between frames.
    pub(super) async fn read_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            if let Some(frame) = self.parse_frame()? {
                return Ok(Some(frame));
            }
            // Grow by what the frame still needs, capped, so a claimed size is never reserved
            // up front.
            let wanted = self.missing().clamp(1, READ_CHUNK);
            self.buffer.reserve(wanted);
            let read = self
                .stream
                .read_buf(&mut self.buffer)
                .await
                .map_err(FrameError::Io)?;
            if read == 0 {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated {
                        buffered: self.buffer.len(),
                    })
                };
            }
        }
    }

    /// Splits a complete frame off the buffer; `Ok(None)` while it is incomplete.
    fn parse_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        let Some(size) = self.declared_size()? else {
            return Ok(None);
        };
        if self.buffer.len() < 4 + size {
            return Ok(None);
        }
        self.buffer.advance(4);
        Ok(Some(self.buffer.split_to(size).freeze()))
    }

    /// The length prefix, validated, once its four bytes are in.
    fn declared_size(&self) -> Result<Option<usize>, FrameError> {
        let Some(prefix) = self.buffer.first_chunk::<4>() else {
            return Ok(None);
        };
        let size = i32::from_be_bytes(*prefix);
        let Ok(len) = usize::try_from(size) else {
            return Err(FrameError::NegativeLength { size });
        };
        if len > self.max_frame {
            return Err(FrameError::TooLarge {
                size,
                max: self.max_frame,
            });
        }
        Ok(Some(len))
    }

    /// Bytes still missing from the frame being read (at least the prefix's).
    fn missing(&self) -> usize {
        match self.declared_size() {
            Ok(Some(size)) => (4 + size).saturating_sub(self.buffer.len()),
            _ => 4usize.saturating_sub(self.buffer.len()),
        }
    }
}

/// The writing half: whole responses, length prefix included by the encoder.
#[derive(Debug)]
pub(super) struct FrameWriter {
    stream: OwnedWriteHalf,
}

impl FrameWriter {
    pub(super) fn new(stream: OwnedWriteHalf) -> FrameWriter {
        FrameWriter { stream }
    }

    /// Writes one response frame (already carrying its length prefix).
    pub(super) async fn write_frame(&mut self, frame: &ResponseFrame) -> std::io::Result<()> {
        frame.write_to(&mut self.stream).await
    }
}
