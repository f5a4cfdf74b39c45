//! Response frames that keep stored batches where they lie.
//!
//! A fetch response is mostly record batches: megabytes the log holds in its segment files.
//! Reading them into a buffer and encoding that into a response buffer copies every byte
//! twice and faults in fresh buffers of the response's size for each fetch, while librdkafka
//! waits for the answer before it sends the next fetch (measured: see
//! `docs/performance.md#sendfile`). [`SplicingBuf`] encodes everything else as
//! usual and, when the encoder writes one of the runs it was given ([`Splice`]), records the
//! run's real content instead of copying it: a file slice, sent with `sendfile(2)` as Kafka
//! sends its `FileRecords` with `transferTo`, or `Bytes` already in memory. The frame goes
//! out as vectored writes of the copied parts and `sendfile` for the slices.

use std::io::IoSlice;
use std::ops::Range;
use std::os::fd::AsRawFd;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::buf::ByteBufMut;
use socket2::SockRef;
use storage::FileSlice;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

/// Byte runs shorter than this are copied: a run of its own costs an iovec (or a
/// `sendfile`) and bookkeeping.
pub(super) const SPLICE_MIN: usize = 4096;

/// Runs per `sendmsg`: Linux refuses more than `IOV_MAX` (1024) with EINVAL.
const MAX_IOVECS: usize = 1024;

/// Bytes per `sendfile` call; Linux sends at most 0x7ffff000 per call anyway.
const MAX_SENDFILE: usize = 1 << 30;

/// One run of a frame: bytes in memory, or whole batches in a segment file.
#[derive(Debug, Clone)]
pub(super) enum Part {
    Bytes(Bytes),
    File(FileSlice),
}

impl Part {
    fn len(&self) -> usize {
        match self {
            Part::Bytes(bytes) => bytes.len(),
            Part::File(slice) => slice.len(),
        }
    }
}

/// A run the encoder will write (`stand_in`) and what goes on the wire in its place.
///
/// For bytes in memory the two are the same `Bytes`; for a file slice the stand-in is a
/// placeholder of the slice's length (see [`super::stand_in`]) that is never sent.
#[derive(Debug, Clone)]
pub(super) struct Splice {
    pub stand_in: Bytes,
    pub part: Part,
}

impl Splice {
    pub(super) fn bytes(bytes: Bytes) -> Splice {
        Splice {
            stand_in: bytes.clone(),
            part: Part::Bytes(bytes),
        }
    }
}

/// A response frame (length prefix included) as consecutive runs.
#[derive(Debug, Clone)]
pub(super) struct ResponseFrame {
    parts: Vec<Part>,
}

impl ResponseFrame {
    pub(super) fn len(&self) -> usize {
        self.parts.iter().map(Part::len).sum()
    }

    /// The frame's bytes in one buffer (tests compare frames by content).
    #[cfg(test)]
    pub(super) fn to_vec(&self) -> Vec<u8> {
        self.parts
            .iter()
            .flat_map(|p| match p {
                Part::Bytes(b) => b.to_vec(),
                Part::File(f) => f.read().unwrap().to_vec(),
            })
            .collect()
    }

    #[cfg(test)]
    pub(super) fn runs(&self) -> usize {
        self.parts.len()
    }

    /// Writes the whole frame: runs of bytes with vectored writes, file slices with
    /// `sendfile`.
    ///
    /// Bytes go with `MSG_NOSIGNAL`: tokio's `write_vectored` is a plain `writev`, which
    /// raises SIGPIPE when the peer has gone, and a process that keeps SIGPIPE's default
    /// action (as the `runnel` CLI does for its printing commands) would die of one client
    /// hanging up. `sendfile` takes no such flag: the server relies on SIGPIPE being ignored,
    /// as the Rust runtime sets it up for every binary and `runnel serve` keeps it; a program
    /// that restores the default must not serve.
    pub(super) async fn write_to(&self, stream: &mut OwnedWriteHalf) -> std::io::Result<()> {
        let socket: &TcpStream = stream.as_ref();
        let mut at = 0;
        while at < self.parts.len() {
            let run: Vec<&[u8]> = self.parts[at..]
                .iter()
                .map_while(|p| match p {
                    Part::Bytes(b) => Some(&b[..]),
                    Part::File(_) => None,
                })
                .collect();
            if run.is_empty() {
                if let Part::File(slice) = &self.parts[at] {
                    send_file(socket, slice).await?;
                }
                at += 1;
            } else {
                at += run.len();
                send_bytes(socket, &run, at < self.parts.len()).await?;
            }
        }
        Ok(())
    }
}

/// Writes `parts` (a run of [`Part::Bytes`]) with vectored sends; `more`: a file slice
/// follows, so the kernel may hold a partial segment for it (`MSG_MORE`).
async fn send_bytes(socket: &TcpStream, bytes: &[&[u8]], more: bool) -> std::io::Result<()> {
    let flags = libc::MSG_NOSIGNAL | if more { libc::MSG_MORE } else { 0 };
    let mut part = 0;
    let mut offset = 0;
    while part < bytes.len() {
        let slices: Vec<IoSlice<'_>> = std::iter::once(&bytes[part][offset..])
            .chain(bytes[part + 1..].iter().copied())
            .take(MAX_IOVECS)
            .map(IoSlice::new)
            .collect();
        let mut written = loop {
            socket.writable().await?;
            match socket.try_io(Interest::WRITABLE, || {
                SockRef::from(socket).send_vectored_with_flags(&slices, flags)
            }) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                result => break result?,
            }
        };
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while part < bytes.len() && written > 0 {
            let left = bytes[part].len() - offset;
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

/// Sends a file slice with `sendfile(2)`: page cache to socket, no copy through the broker.
///
/// A file that ends before the slice does (a segment truncated under the fetch) is an error:
/// the frame's length is already on the wire, so the connection must close.
async fn send_file(socket: &TcpStream, slice: &FileSlice) -> std::io::Result<()> {
    let too_far = || std::io::Error::other("file slice beyond the largest file offset");
    let mut offset = libc::off_t::try_from(slice.position()).map_err(|_| too_far())?;
    let end = slice
        .position()
        .checked_add(slice.len() as u64)
        .and_then(|end| libc::off_t::try_from(end).ok())
        .ok_or_else(too_far)?;
    let file = slice.file().as_raw_fd();
    while offset < end {
        let count = usize::try_from(end - offset).map_or(MAX_SENDFILE, |n| n.min(MAX_SENDFILE));
        socket.writable().await?;
        let sent = socket.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors are open for the call (the socket borrowed, the file
            // held by the slice's `Arc`); `offset` is a valid `off_t` the kernel advances.
            #[allow(unsafe_code)]
            let n = unsafe { libc::sendfile(socket.as_raw_fd(), file, &mut offset, count) };
            if n < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(n)
            }
        });
        match sent {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "segment file ended before the fetched batches did",
                ));
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// An encoding buffer that splices in given runs instead of copying them.
///
/// A run is spliced only when the encoder writes exactly that run (same address, same
/// length): `kafka-protocol` writes a `bytes` field with one `put_slice` of the whole value,
/// so the runs handed to [`SplicingBuf::new`] are recognised and anything else is copied.
/// Every given run must be met exactly once, or the frame is refused: a stand-in copied
/// would put placeholder bytes on the wire.
pub(super) struct SplicingBuf<'a> {
    head: BytesMut,
    done: Vec<Part>,
    /// Bytes in `done`.
    base: usize,
    splice: &'a [Splice],
    /// Runs of `splice` met so far.
    met: usize,
    /// Set when the encoder tried to go back into a run already handed off; the frame is
    /// then refused rather than sent wrong. (Message encoders never seek; only the record
    /// batch encoder does, and it writes into its own buffer.)
    rewound: bool,
    scratch: Vec<u8>,
}

impl<'a> SplicingBuf<'a> {
    /// `capacity`: what the copied part is expected to need.
    pub(super) fn new(capacity: usize, splice: &'a [Splice]) -> SplicingBuf<'a> {
        SplicingBuf {
            head: BytesMut::with_capacity(capacity),
            done: Vec::new(),
            base: 0,
            splice,
            met: 0,
            rewound: false,
            scratch: Vec::new(),
        }
    }

    /// The frame, or `None` if the encoder went back into a spliced run or did not write
    /// every given run once.
    pub(super) fn finish(mut self) -> Option<ResponseFrame> {
        if self.rewound || self.met != self.splice.len() {
            return None;
        }
        if !self.head.is_empty() || self.done.is_empty() {
            self.done.push(Part::Bytes(self.head.freeze()));
        }
        Some(ResponseFrame { parts: self.done })
    }

    fn spliceable(&self, src: &[u8]) -> Option<&Part> {
        if src.len() < SPLICE_MIN {
            return None;
        }
        self.splice
            .iter()
            .find(|s| s.stand_in.len() == src.len() && std::ptr::eq(s.stand_in.as_ptr(), src.as_ptr()))
            .map(|s| &s.part)
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
            self.met += 1;
            if !copied.is_empty() {
                self.done.push(Part::Bytes(copied));
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
    use storage::record::{BatchBuilder, Compression};
    use storage::{Log, LogConfig};

    fn splices(runs: &[Bytes]) -> Vec<Splice> {
        runs.iter().cloned().map(Splice::bytes).collect()
    }

    /// A log of `batches` batches of `records` records each, and the file slice holding all
    /// of them.
    fn logged_batches(dir: &std::path::Path, batches: usize, records: usize) -> (Log, FileSlice) {
        let mut log = Log::open(dir, LogConfig::default()).unwrap();
        for b in 0..batches {
            let mut builder = BatchBuilder::new(Compression::None);
            for r in 0..records {
                let value = format!("batch {b} record {r} {}", "x".repeat(80));
                builder.append(1_700_000_000_000, None, Some(value.as_bytes()), &[]);
            }
            log.append(&mut builder.build(), 0).unwrap();
        }
        let end = log.log_end_offset();
        let slice = log.locate_up_to(0, usize::MAX, end).unwrap().unwrap();
        (log, slice)
    }

    #[test]
    fn a_given_run_is_referenced_and_everything_else_copied() {
        let batch = Bytes::from(vec![7u8; SPLICE_MIN]);
        let other = vec![9u8; SPLICE_MIN];
        let splice = splices(std::slice::from_ref(&batch));
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
            matches!(&frame.parts[1], Part::Bytes(b) if std::ptr::eq(b.as_ptr(), batch.as_ptr())),
            "not copied"
        );
    }

    #[test]
    fn an_equal_copy_or_a_short_run_is_not_spliced_and_the_frame_is_refused() {
        let batch = Bytes::from(vec![7u8; SPLICE_MIN]);
        let copy = batch.to_vec();
        let short = Bytes::from_static(b"abc");
        let splice = splices(&[batch]);
        let mut buf = SplicingBuf::new(16, &splice);
        buf.put_slice(&copy);
        buf.put_slice(&short);
        assert!(buf.finish().is_none(), "the given run was never written");
        let mut buf = SplicingBuf::new(16, &[]);
        buf.put_slice(&copy);
        buf.put_slice(&short);
        assert_eq!(buf.finish().unwrap().runs(), 1);
    }

    #[test]
    fn going_back_into_a_spliced_run_refuses_the_frame() {
        let batch = Bytes::from(vec![7u8; SPLICE_MIN]);
        let splice = splices(std::slice::from_ref(&batch));
        let mut buf = SplicingBuf::new(16, &splice);
        buf.put_i32(0);
        buf.put_slice(&batch);
        buf.range(0..4).copy_from_slice(&[1, 2, 3, 4]);
        assert!(buf.finish().is_none());
    }

    #[test]
    fn gaps_after_the_last_splice_work_as_in_a_bytes_mut() {
        let batch = Bytes::from(vec![7u8; SPLICE_MIN]);
        let splice = splices(std::slice::from_ref(&batch));
        let mut buf = SplicingBuf::new(16, &splice);
        buf.put_slice(&batch);
        let at = buf.offset();
        buf.seek(at + 2);
        buf.range(at..at + 2).copy_from_slice(&[1, 2]);
        let frame = buf.finish().unwrap();
        assert_eq!(&frame.to_vec()[SPLICE_MIN..], &[1, 2]);
    }

    #[test]
    fn a_stand_in_is_replaced_by_its_file_slice() {
        let dir = tempfile::tempdir().unwrap();
        let (_log, slice) = logged_batches(dir.path(), 3, 50);
        let stand_in = super::super::stand_in::stand_in(0, slice.len()).unwrap();
        let splice = [Splice {
            stand_in: stand_in.clone(),
            part: Part::File(slice.clone()),
        }];
        let mut buf = SplicingBuf::new(16, &splice);
        buf.put_i32(1);
        buf.put_slice(&stand_in);
        let frame = buf.finish().unwrap();
        let mut expected = 1i32.to_be_bytes().to_vec();
        expected.extend_from_slice(&slice.read().unwrap());
        assert_eq!(
            frame.to_vec(),
            expected,
            "the file's batches, not the stand-in's zeros"
        );
    }

    /// Writes `frame` to a real loopback socket and returns what the peer read.
    async fn sent(frame: &ResponseFrame) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            socket.read_to_end(&mut got).await.unwrap();
            got
        });
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (read, mut write) = stream.into_split();
        frame.write_to(&mut write).await.unwrap();
        drop(write);
        drop(read);
        reader.await.unwrap()
    }

    #[tokio::test]
    async fn a_frame_in_many_runs_arrives_whole() {
        // Large runs, so the socket buffer fills and writes come back partial.
        let parts: Vec<Part> = (0..6u8)
            .map(|i| Part::Bytes(Bytes::from(vec![i; 3 * 1024 * 1024 + usize::from(i)])))
            .collect();
        let frame = ResponseFrame { parts };
        assert_eq!(sent(&frame).await, frame.to_vec());
    }

    #[tokio::test]
    async fn file_slices_between_bytes_arrive_whole_and_in_place() {
        let dir = tempfile::tempdir().unwrap();
        // About 10 MB of batches, so sendfile fills the socket buffer and comes back partial.
        let (_log, slice) = logged_batches(dir.path(), 100, 1000);
        assert!(slice.len() > 8 << 20, "{}", slice.len());
        let frame = ResponseFrame {
            parts: vec![
                Part::Bytes(Bytes::from_static(b"head")),
                Part::File(slice.clone()),
                Part::Bytes(Bytes::from_static(b"middle")),
                Part::File(slice.clone()),
            ],
        };
        let got = sent(&frame).await;
        let batches = slice.read().unwrap();
        let mut expected = b"head".to_vec();
        expected.extend_from_slice(&batches);
        expected.extend_from_slice(b"middle");
        expected.extend_from_slice(&batches);
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "the bytes sent differ from the file's");
    }

    #[tokio::test]
    async fn a_file_shorter_than_its_slice_is_an_error_not_a_short_frame() {
        let dir = tempfile::tempdir().unwrap();
        let (_log, slice) = logged_batches(dir.path(), 4, 100);
        let segment = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "log"))
            .unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(&segment).unwrap();
        file.set_len(slice.position() + slice.len() as u64 / 2).unwrap();
        let frame = ResponseFrame {
            parts: vec![Part::File(slice)],
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move { listener.accept().await.unwrap() });
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _peer = accept.await.unwrap();
        let (_read, mut write) = stream.into_split();
        let error = frame.write_to(&mut write).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof, "{error}");
    }
}
