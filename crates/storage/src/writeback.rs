//! Writing a file's dirty pages back in steps, so that a large sync does not fill the disk's
//! queue ahead of small, urgent writes.
//!
//! A sync of the database file writes every page dirtied since the last one, tens of
//! megabytes for a table that grows, and hands them to the disk at once: a commit's journal
//! write issued meanwhile waits behind all of them (on a virtual disk served one request at
//! a time, for milliseconds). Written back a step at a time and waited for, the sync keeps
//! at most one step in the disk's queue, and a journal write waits behind that step only.
//! The final `fdatasync` then finds little left to write and makes it all durable; the
//! steps themselves promise nothing (`sync_file_range(2)` writes no metadata and flushes
//! no cache), they only spread the writing out.
//!
//! The one `unsafe` of the crate is here: the call itself, which no safe wrapper offers.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

use nix::libc;

/// How much of the file one step writes back at most.
pub(crate) const STEP: u64 = 256 * 1024;

/// Writes back the dirty pages of `file` in the steps `steps` names (step `i` covers bytes
/// `i * STEP .. (i + 1) * STEP`), each waited for before the next begins.
///
/// An error means the pages' writeback failed, and the kernel reports such an error once
/// per open file: the caller must treat it as a failed sync, since an `fdatasync` after it
/// may not report it again. A kernel or filesystem without the call is not an error: the
/// sync after does all the work, as it would have.
pub(crate) fn in_steps(file: &File, steps: impl IntoIterator<Item = u64>) -> io::Result<()> {
    let fd = file.as_raw_fd();
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
        | libc::SYNC_FILE_RANGE_WRITE
        | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    for step in steps {
        let Some(offset) = step.checked_mul(STEP).and_then(|o| i64::try_from(o).ok()) else {
            // Past what a file offset can be: nothing there to write.
            break;
        };
        // SAFETY: `sync_file_range` takes a descriptor, two integers and flags, and reads
        // or writes no memory of ours. `fd` is open for the whole call: it belongs to
        // `file`, which the caller holds by reference. The flags are the documented ones.
        let rc = unsafe { libc::sync_file_range(fd, offset, STEP as i64, flags) };
        if rc == 0 {
            continue;
        }
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP | libc::ESPIPE) => Ok(()),
            Some(libc::EINTR) => continue,
            _ => Err(e),
        };
    }
    Ok(())
}

/// The steps of a file written to since they were last taken: a bit per [`STEP`].
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    bits: Vec<u64>,
}

impl Dirty {
    /// Notes a write of `len` bytes at `offset`.
    pub(crate) fn mark(&mut self, offset: u64, len: u64) {
        if len == 0 {
            return;
        }
        let first = offset / STEP;
        let last = offset.saturating_add(len - 1) / STEP;
        for step in first..=last {
            let (word, bit) = ((step / 64) as usize, step % 64);
            if word >= self.bits.len() {
                self.bits.resize(word + 1, 0);
            }
            self.bits[word] |= 1 << bit;
        }
    }

    /// The steps marked, in order.
    pub(crate) fn steps(&self) -> impl Iterator<Item = u64> + '_ {
        self.bits.iter().enumerate().flat_map(|(w, &word)| {
            (0..64)
                .filter(move |b| word & (1 << b) != 0)
                .map(move |b| w as u64 * 64 + b)
        })
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_writes_name_the_steps_they_touch_once_each_in_order() {
        let mut dirty = Dirty::default();
        assert!(dirty.is_empty());
        dirty.mark(70 * STEP + 5, 10);
        dirty.mark(STEP - 1, 2);
        dirty.mark(3 * STEP, STEP);
        dirty.mark(3 * STEP + 1, 1);
        dirty.mark(9 * STEP, 0);
        assert!(!dirty.is_empty());
        assert_eq!(dirty.steps().collect::<Vec<_>>(), vec![0, 1, 3, 70]);
    }

    #[test]
    fn dirty_pages_written_back_in_steps_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let mut dirty = Dirty::default();
        let data: Vec<u8> = (0..3 * STEP as usize + 100)
            .map(|i| (i % 251) as u8)
            .collect();
        std::os::unix::fs::FileExt::write_all_at(&file, &data, 0).unwrap();
        dirty.mark(0, data.len() as u64);
        // Steps past the end of the file are fine too.
        in_steps(&file, dirty.steps().chain([1_000, u64::MAX / STEP])).unwrap();
        file.sync_data().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }
}
