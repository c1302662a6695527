//! Large cached bodies kept once, in sealed memory files: the bytes go into a `memfd` that is
//! then sealed against every change, the code that reads them (ranges, compression, the disk
//! tier, TLS and HTTP/2 connections) sees them through a read-only mapping of that file, and
//! plain HTTP/1.1 connections have the kernel send them with `sendfile(2)`
//! ([`crate::h1::server`]), so a hit's body is not copied from user memory into the socket.
//! nginx sends its cache files the same way.
//!
//! Each sealed body holds a file descriptor. At most a quarter of the process's descriptor
//! limit is used for them; past that, and for bodies under [`SEAL_MIN`] (which go out behind
//! their head in one write anyway), bodies stay in ordinary memory.
//!
//! The one `unsafe` of the crate is here: mapping the sealed file and viewing the mapping as
//! bytes. The argument for it is at each block.
#![allow(unsafe_code)]

use std::fs::File;
use std::io::{self, Write as _};
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};

/// Bodies from this size on are sealed.
pub(crate) const SEAL_MIN: usize = 64 * 1024;

/// Sealed bodies alive now.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// A body in a sealed memory file: its content can no longer change, grow or shrink.
#[derive(Debug)]
pub struct SealedFile {
    fd: OwnedFd,
    len: usize,
}

impl SealedFile {
    /// The file, for `sendfile(2)`.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for SealedFile {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `body` moved into a sealed memory file when it is large enough and descriptors are to
/// spare: the same bytes, now read from the file's mapping, and the file. Otherwise `body`
/// as it is, and no file.
pub(crate) fn seal(body: Bytes) -> (Bytes, Option<Arc<SealedFile>>) {
    if body.len() < SEAL_MIN {
        return (body, None);
    }
    if LIVE.fetch_add(1, Ordering::Relaxed) >= cap() {
        LIVE.fetch_sub(1, Ordering::Relaxed);
        return (body, None);
    }
    match sealed_copy(&body) {
        Ok((bytes, file)) => (bytes, Some(file)),
        Err(e) => {
            LIVE.fetch_sub(1, Ordering::Relaxed);
            tracing::debug!(error = %e, "cached body kept in memory: no sealed file");
            (body, None)
        }
    }
}

/// How many bodies may be sealed at once: a quarter of the descriptor limit.
fn cap() -> usize {
    static CAP: OnceLock<usize> = OnceLock::new();
    *CAP.get_or_init(|| {
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(256, |(soft, _)| {
                usize::try_from(soft / 4).unwrap_or(usize::MAX)
            })
    })
}

/// Writes `body` into a new memory file, seals it, and maps it read-only.
fn sealed_copy(body: &[u8]) -> io::Result<(Bytes, Arc<SealedFile>)> {
    let len = NonZeroUsize::new(body.len()).ok_or(io::ErrorKind::InvalidInput)?;
    let fd = memfd_create(
        c"meridian-cache",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )?;
    let mut file = File::from(fd);
    file.write_all(body)?;
    fcntl(
        &file,
        FcntlArg::F_ADD_SEALS(
            SealFlag::F_SEAL_SHRINK
                | SealFlag::F_SEAL_GROW
                | SealFlag::F_SEAL_WRITE
                | SealFlag::F_SEAL_SEAL,
        ),
    )?;
    // SAFETY: `mmap` itself only asks that the arguments describe a mapping the kernel can
    // make; with no address hint it cannot replace an existing mapping. What makes the
    // mapping safe to read as `&[u8]` later (see `Mapping::as_ref`) is established here:
    // the file holds exactly `len` bytes and is sealed against shrinking, growing and
    // writing, and the seals themselves are sealed, so no process (this one or another with
    // the descriptor) can truncate it (which would make reads fault) or change its bytes
    // while mapped. The mapping is read-only.
    let ptr = unsafe {
        mmap(
            None,
            len,
            ProtFlags::PROT_READ,
            MapFlags::MAP_SHARED,
            &file,
            0,
        )?
    };
    let mapping = Mapping {
        ptr,
        len: len.get(),
    };
    let file = Arc::new(SealedFile {
        fd: OwnedFd::from(file),
        len: len.get(),
    });
    Ok((Bytes::from_owner(mapping), file))
}

/// A read-only mapping of a sealed file, unmapped when the last `Bytes` viewing it drops.
struct Mapping {
    ptr: NonNull<std::ffi::c_void>,
    len: usize,
}

// SAFETY: the mapping is read-only memory whose content never changes (the file is sealed
// against writes), so sharing or moving the pointer between threads cannot race; the only
// mutation is `munmap` in `Drop`, which runs once, with exclusive access.
unsafe impl Send for Mapping {}
// SAFETY: as for `Send`: `&Mapping` gives only reads of immutable memory.
unsafe impl Sync for Mapping {}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` is the start of a live mapping of `len` readable bytes (it is
        // unmapped only in `Drop`, and the returned slice borrows `self`); `len` came from a
        // slice, so it is at most `isize::MAX`; `u8` needs no alignment; and the bytes are
        // never written for the mapping's life, by anyone, because the file is sealed
        // against writes and truncation before it is mapped (see `sealed_copy`).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<u8>(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are those of a mapping made by `mmap` and not unmapped
        // before: this is its only `munmap`, and no slice of it outlives `self` (`Bytes`
        // drops its owner after its last view).
        let _ = unsafe { munmap(self.ptr, self.len) };
    }
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping").field("len", &self.len).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_body_is_sealed_and_reads_back_the_same() {
        let body: Bytes = (0..SEAL_MIN * 2).map(|i| (i % 251) as u8).collect();
        let (bytes, file) = seal(body.clone());
        let file = file.expect("sealed");
        assert_eq!(bytes, body);
        assert_eq!(file.len(), body.len());
        assert_eq!(bytes.slice(10..20), body.slice(10..20));
        // The file refuses writes and truncation: what the mapping's soundness rests on.
        let mut f = File::from(file.fd().try_clone_to_owned().expect("dup"));
        assert!(f.write_all(b"x").is_err());
        assert!(f.set_len(1).is_err());
        assert!(f.set_len((SEAL_MIN * 4) as u64).is_err());
    }

    #[test]
    fn a_small_body_stays_in_memory() {
        let body = Bytes::from_static(b"small");
        let (bytes, file) = seal(body.clone());
        assert!(file.is_none());
        assert_eq!(bytes, body);
    }
}
