//! Response frames that keep stored batches where they lie.
//!
//! A fetch response is mostly record batches read from the log: megabytes of `Bytes` the
//! broker already holds. Encoding them into one response buffer copies every byte once more
//! and faults in a fresh buffer of the response's size for each fetch (perf, kcat consuming
//! 1 M × 100 B from 4 partitions: `memmove` 10% and page faults with `clear_page` 20% of the
//! broker's samples, while librdkafka waits for the answer before it sends the next fetch).
//! [`SplicingBuf`] encodes everything else as usual and, when the encoder writes one of the
//! batches it was given, records a reference to that `Bytes` instead of copying it. The
//! frame goes out as a list of runs with a vectored write.

use std::io::IoSlice;
use std::ops::Range;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::buf::ByteBufMut;
use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

/// Byte runs shorter than this are copied: a run of its own costs an iovec and bookkeeping.
pub(super) const SPLICE_MIN: usize = 4096;

/// Runs per `sendmsg`: Linux refuses more than `IOV_MAX` (1024) with EINVAL.
const MAX_IOVECS: usize = 1024;

/// A response frame (length prefix included) as consecutive runs of bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ResponseFrame {
    parts: Vec<Bytes>,
}

impl ResponseFrame {
    pub(super) fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    /// The frame's bytes in one buffer (tests compare frames by content).
    #[cfg(test)]
    pub(super) fn to_vec(&self) -> Vec<u8> {
        self.parts.iter().flat_map(|p| p.iter().copied()).collect()
    }

    #[cfg(test)]
    pub(super) fn runs(&self) -> usize {
        self.parts.len()
    }

    /// Writes the whole frame with vectored writes (one `sendmsg` for the usual fetch).
    ///
    /// Sent with `MSG_NOSIGNAL`: tokio's `write_vectored` is a plain `writev`, which raises
    /// SIGPIPE when the peer has gone, and a process that keeps SIGPIPE's default action
    /// (as the `runnel` CLI does for its printing commands) would die of one client hanging
    /// up. Plain writes in std and tokio already pass the flag.
    pub(super) async fn write_to(&self, stream: &mut OwnedWriteHalf) -> std::io::Result<()> {
        let socket: &TcpStream = stream.as_ref();
        let mut part = 0;
        let mut offset = 0;
        while part < self.parts.len() {
            let slices: Vec<IoSlice<'_>> = std::iter::once(&self.parts[part][offset..])
                .chain(self.parts[part + 1..].iter().map(|p| &p[..]))
                .take(MAX_IOVECS)
                .map(IoSlice::new)
                .collect();
            let mut written = loop {
                socket.writable().await?;
                match socket.try_io(Interest::WRITABLE, || {
                    SockRef::from(socket).send_vectored_with_flags(&slices, libc::MSG_NOSIGNAL)
                }) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    result => break result?,
                }
            };
            if written == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            while part < self.parts.len() && written > 0 {
                let left = self.parts[part].len() - offset;
                if written >= left {
                    written -= left;
                    part += 1;
                    offset = 0;
                } else {
                    offset += written;
                    written = 0;
                }
            }
        }
        Ok(())
    }
}

/// An encoding buffer that splices in given `Bytes` instead of copying them.
///
/// A run is spliced only when the encoder writes exactly that run (same address, same
/// length): `kafka-protocol` writes a `bytes` field with one `put_slice` of the whole value,
/// so the batches handed to [`SplicingBuf::new`] are recognised and anything else is copied.
pub(super) struct SplicingBuf<'a> {
    head: BytesMut,
    done: Vec<Bytes>,
    /// Bytes in `done`.
    base: usize,
    splice: &'a [Bytes],
    /// Set when the encoder tried to go back into a run already handed off; the frame is
    /// then refused rather than sent wrong. (Message encoders never seek; only the record
    /// batch encoder does, and it writes into its own buffer.)
    rewound: bool,
    scratch: Vec<u8>,
}

impl<'a> SplicingBuf<'a> {
    /// `capacity`: what the copied part is expected to need.
    pub(super) fn new(capacity: usize, splice: &'a [Bytes]) -> SplicingBuf<'a> {
        SplicingBuf {
            head: BytesMut::with_capacity(capacity),
            done: Vec::new(),
            base: 0,
            splice,
            rewound: false,
            scratch: Vec::new(),
        }
    }

    /// The frame, or `None` if the encoder went back into a spliced run.
    pub(super) fn finish(mut self) -> Option<ResponseFrame> {
        if self.rewound {
            return None;
        }
        if !self.head.is_empty() || self.done.is_empty() {
            self.done.push(self.head.freeze());
        }
        Some(ResponseFrame { parts: self.done })
    }

    fn spliceable(&self, src: &[u8]) -> Option<&Bytes> {
        if src.len() < SPLICE_MIN {
            return None;
        }
        self.splice
            .iter()
            .find(|b| b.len() == src.len() && std::ptr::eq(b.as_ptr(), src.as_ptr()))
    }
}

// `BufMut` is an unsafe trait; `kafka-protocol` encodes only into a `ByteBufMut`, which
// requires it.
// SAFETY: every method delegates to `head`, a `BytesMut`, whose own `BufMut` contract holds;
// `put_slice` either does the same or leaves `head` untouched.
#[allow(unsafe_code)]
unsafe impl BufMut for SplicingBuf<'_> {
    fn remaining_mut(&self) -> usize {
        self.head.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller initialised `cnt` bytes of the chunk `head` handed out.
        unsafe { self.head.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.head.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        if let Some(run) = self.spliceable(src).cloned() {
            let copied = self.head.split().freeze();
            self.base += copied.len() + run.len();
            if !copied.is_empty() {
                self.done.push(copied);
            }
            self.done.push(run);
        } else {
            self.head.put_slice(src);
        }
    }
}

impl ByteBufMut for SplicingBuf<'_> {
    fn offset(&self) -> usize {
        self.base + self.head.len()
    }

    fn seek(&mut self, offset: usize) {
        match offset.checked_sub(self.base) {
            Some(local) => self.head.resize(local, 0),
            None => self.rewound = true,
        }
    }

    fn range(&mut self, r: Range<usize>) -> &mut [u8] {
        if r.start >= self.base {
            return &mut self.head[r.start - self.base..r.end - self.base];
        }
        self.rewound = true;
        self.scratch.resize(r.len(), 0);
        &mut self.scratch[..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_run_is_referenced_and_everything_else_copied() {
        let batch = Bytes::from(vec![7u8; SPLICE_MIN]);
        let other = vec![9u8; SPLICE_MIN];
        let splice = [batch.clone()];
        let mut buf = SplicingBuf::new(16, &splice);
        buf.put_i32(5);
        buf.put_slice(&batch);
        buf.put_slice(&other);
        buf.put_u8(1);
        let frame = buf.finish().unwrap();
        assert_eq!(frame.runs(), 3, "head, the batch, the rest");
        let mut expected = 5i32.to_be_bytes().to_vec();
        expected.extend_from_slice(&batch);
        expected.extend_from_slice(&other);
        expected.push(1);
        assert_eq!(frame.to_vec(), expected);
        assert_eq!(frame.len(), expected.len());
        assert!(
            std::ptr::eq(frame.parts[1].as_ptr(), batch.as_ptr()),
            "not copied"
        );
    }

    #[test]
    fn an_equal_copy_or_a_short_run_is_not_spliced() {
        let batch = Bytes::from(vec![7u8; SPLICE_MIN]);
        let copy = batch.to_vec();
        let short = Bytes::from_static(b"abc");
        let splice = [batch, short.clone()];
        let mut buf = SplicingBuf::new(16, &splice);
        buf.put_slice(&copy);
        buf.put_slice(&short);
        assert_eq!(buf.finish().unwrap().runs(), 1);
    }

    #[test]
    fn going_back_into_a_spliced_run_refuses_the_frame() {
        let batch = Bytes::from(vec![7u8; SPLICE_MIN]);
        let splice = [batch.clone()];
        let mut buf = SplicingBuf::new(16, &splice);
        buf.put_i32(0);
        buf.put_slice(&batch);
        buf.range(0..4).copy_from_slice(&[1, 2, 3, 4]);
        assert!(buf.finish().is_none());
    }

    #[test]
    fn gaps_after_the_last_splice_work_as_in_a_bytes_mut() {
        let batch = Bytes::from(vec![7u8; SPLICE_MIN]);
        let splice = [batch.clone()];
        let mut buf = SplicingBuf::new(16, &splice);
        buf.put_slice(&batch);
        let at = buf.offset();
        buf.seek(at + 2);
        buf.range(at..at + 2).copy_from_slice(&[1, 2]);
        let frame = buf.finish().unwrap();
        assert_eq!(&frame.to_vec()[SPLICE_MIN..], &[1, 2]);
    }

    #[tokio::test]
    async fn a_frame_in_many_runs_arrives_whole() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Large runs, so the socket buffer fills and writes come back partial.
        let parts: Vec<Bytes> = (0..6u8)
            .map(|i| Bytes::from(vec![i; 3 * 1024 * 1024 + usize::from(i)]))
            .collect();
        let frame = ResponseFrame { parts };
        let expected = frame.to_vec();
        let reader = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            socket.read_to_end(&mut got).await.unwrap();
            got
        });
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (_read, mut write) = stream.into_split();
        frame.write_to(&mut write).await.unwrap();
        drop(write);
        drop(_read);
        assert_eq!(reader.await.unwrap(), expected);
    }
}
