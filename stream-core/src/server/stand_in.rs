//! Placeholder bytes that stand for batches sent from a file.
//!
//! `kafka-protocol` encodes a fetch response only from `Bytes` it holds, but batches sent
//! with `sendfile(2)` are never read into memory. Each such batch run is given to the
//! encoder as a *stand-in*: a `Bytes` of the right length whose address the splicing buffer
//! ([`super::frame::SplicingBuf`]) recognises and replaces by the file slice. The encoder
//! only measures a `bytes` field and hands it to one `put_slice`, so the stand-in's content
//! is never read.
//!
//! The stand-ins are windows into one read-only anonymous mapping, reserved once and never
//! touched: address space, no memory (a page of it is only ever backed by the shared zero
//! page, and only if something reads it). Stand-in `i` starts `i` bytes into the mapping, so
//! the stand-ins of one response have distinct addresses whatever their lengths.

use std::sync::OnceLock;

use bytes::Bytes;

/// Covers any run a fetch can send: a run is at most one partition's answer, below 2 GiB
/// (the frame's length is an `i32`).
const MAX_LEN: usize = 1 << 31;

/// Distinct stand-ins per response: one per partition sent from a file.
const MAX_COUNT: usize = 1 << 16;

struct Mapping {
    base: usize,
}

/// The mapping, or `None` if the kernel refused it (then batches are read into memory).
fn mapping() -> Option<&'static Mapping> {
    static MAPPING: OnceLock<Option<Mapping>> = OnceLock::new();
    MAPPING.get_or_init(reserve).as_ref()
}

#[allow(unsafe_code)]
fn reserve() -> Option<Mapping> {
    // SAFETY: a fresh private anonymous mapping at an address of the kernel's choice aliases
    // nothing; it is never unmapped, so slices into it may be `'static`.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            MAX_LEN + MAX_COUNT,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "no address space for fetch stand-ins; fetched batches are read into memory"
        );
        return None;
    }
    Some(Mapping { base: base as usize })
}

/// Stand-in number `index` of `len` bytes, or `None` if there is none that large (the caller
/// then reads the batches).
pub(super) fn stand_in(index: usize, len: usize) -> Option<Bytes> {
    if index >= MAX_COUNT || len > MAX_LEN {
        return None;
    }
    let mapping = mapping()?;
    // SAFETY: `index + len <= MAX_COUNT + MAX_LEN`, inside the mapping, which is readable
    // (PROT_READ, zero-filled on demand) and lives as long as the process.
    #[allow(unsafe_code)]
    let slice: &'static [u8] =
        unsafe { std::slice::from_raw_parts((mapping.base + index) as *const u8, len) };
    Some(Bytes::from_static(slice))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_ins_have_the_asked_length_and_distinct_addresses() {
        let a = stand_in(0, 10 << 20).unwrap();
        let b = stand_in(1, 10 << 20).unwrap();
        assert_eq!(a.len(), 10 << 20);
        assert_ne!(a.as_ptr(), b.as_ptr());
        // Readable (zero pages), though nothing in the server reads them.
        assert_eq!(a[a.len() - 1], 0);
        assert!(stand_in(MAX_COUNT, 1).is_none());
        assert!(stand_in(0, MAX_LEN + 1).is_none());
    }
}
