//! Writing a file's dirty pages back in steps, so that a large sync does not fill the disk's
//! queue ahead of small, urgent writes.
//!
//! A sync of the database file writes every page dirtied since the last one, tens of
//! megabytes for a table that grows, and hands them to the disk at once: a commit's journal
//! write issued meanwhile waits behind all of them (on a virtual disk served one request at
//! a time, for milliseconds). Written back a range at a time, each waited for, where each
//! range holds about [`BATCH`] bytes of writes however scattered they are, the sync keeps
//! about that much in the disk's queue, and a journal write waits behind that only. The
//! final `fdatasync` then finds little left to write and makes it all durable; the ranges
//! themselves promise nothing (`sync_file_range(2)` writes no metadata and flushes no
//! cache), they only spread the writing out.
//!
//! The one `unsafe` of the crate is here: the call itself, which no safe wrapper offers.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

use nix::libc;

/// The grain of the map of where a file was written.
pub(crate) const STEP: u64 = 256 * 1024;

/// About how many written bytes one call writes back: the most a journal write issued
/// meanwhile waits behind.
pub(crate) const BATCH: u64 = 256 * 1024;

/// Writes back the dirty pages of `file` in each of `ranges` (byte offsets, start and end),
/// one range after the other, each waited for before the next begins.
///
/// An error means the pages' writeback failed, and the kernel reports such an error once
/// per open file: the caller must treat it as a failed sync, since an `fdatasync` after it
/// may not report it again. A kernel or filesystem without the call is not an error: the
/// sync after does all the work, as it would have.
pub(crate) fn in_ranges(
    file: &File,
    ranges: impl IntoIterator<Item = (u64, u64)>,
) -> io::Result<()> {
    let fd = file.as_raw_fd();
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
        | libc::SYNC_FILE_RANGE_WRITE
        | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    for (start, end) in ranges {
        let (Ok(offset), Ok(len)) = (
            i64::try_from(start),
            i64::try_from(end.saturating_sub(start)),
        ) else {
            // Past what a file offset can be: nothing there to write.
            break;
        };
        loop {
            // SAFETY: `sync_file_range` takes a descriptor, two integers and flags, and
            // reads or writes no memory of ours. `fd` is open for the whole call: it belongs
            // to `file`, which the caller holds by reference. The flags are documented ones.
            let rc = unsafe { libc::sync_file_range(fd, offset, len, flags) };
            if rc == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP | libc::ESPIPE) => {
                    return Ok(());
                }
                _ => return Err(e),
            }
        }
    }
    Ok(())
}

/// The steps a map covers at most.
const MAX_STEPS: usize = 1 << 24;

/// Where a file was written since the map was last taken: the bytes written in each
/// [`STEP`] of it (a page written twice counts twice, which only makes the ranges smaller).
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    written: Vec<u32>,
}

impl Dirty {
    /// Notes a write of `len` bytes at `offset`.
    pub(crate) fn mark(&mut self, offset: u64, len: u64) {
        let end = offset.saturating_add(len);
        let mut at = offset;
        while at < end {
            let step = at / STEP;
            let upto = (step + 1).saturating_mul(STEP).min(end);
            // Writes past 4 TiB go unmapped (the map would take 64 MiB): the sync after
            // the steps still writes them.
            let Some(i) = usize::try_from(step).ok().filter(|&i| i < MAX_STEPS) else {
                return;
            };
            if i >= self.written.len() {
                self.written.resize(i + 1, 0);
            }
            let n = u32::try_from(upto - at).unwrap_or(u32::MAX);
            self.written[i] = self.written[i].saturating_add(n);
            at = upto;
        }
    }

    /// The ranges to write back, in the file's order: whole steps, each range ending once
    /// the bytes written in it reach [`BATCH`] (so the pages one range holds are about
    /// that many, however scattered), the gaps between written steps inside it.
    pub(crate) fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut first = None;
        let mut sum = 0u64;
        let last = self.written.iter().rposition(|&n| n > 0);
        self.written
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .filter_map(move |(i, &n)| {
                let start = *first.get_or_insert(i as u64);
                sum += u64::from(n);
                if sum >= BATCH || Some(i) == last {
                    first = None;
                    sum = 0;
                    Some((start * STEP, (i as u64 + 1) * STEP))
                } else {
                    None
                }
            })
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.written.iter().all(|&n| n == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_bytes_group_into_ranges_of_about_a_batch_in_file_order() {
        let mut dirty = Dirty::default();
        assert!(dirty.is_empty());
        assert_eq!(dirty.ranges().count(), 0);
        const K: u64 = 1024;
        dirty.mark(10 * STEP, 4 * STEP); // steps 10 to 13, a full step each
        dirty.mark(900 * STEP + 8 * K, 4 * K);
        dirty.mark(0, 100 * K);
        dirty.mark(STEP, 200 * K);
        dirty.mark(5 * STEP + 4 * K, 4 * K);
        dirty.mark(7 * STEP, 0);
        dirty.mark(u64::MAX - 10, 100); // past any file: not mapped
        assert!(!dirty.is_empty());
        assert_eq!(
            dirty.ranges().collect::<Vec<_>>(),
            vec![
                (0, 2 * STEP),          // 100 + 200 KiB
                (5 * STEP, 11 * STEP),  // 4 KiB, then step 10's 256 KiB
                (11 * STEP, 12 * STEP), // a full step each
                (12 * STEP, 13 * STEP),
                (13 * STEP, 14 * STEP),
                (900 * STEP, 901 * STEP), // the rest, however little
            ]
        );
    }

    #[test]
    fn scattered_small_writes_share_a_range_until_they_add_up_to_a_batch() {
        let mut dirty = Dirty::default();
        let pages = 2 * BATCH / 4096;
        for p in 0..pages {
            dirty.mark(p * 10 * STEP, 4096);
        }
        let ranges: Vec<_> = dirty.ranges().collect();
        assert_eq!(
            ranges,
            vec![
                (0, ((pages / 2 - 1) * 10 + 1) * STEP),
                ((pages / 2) * 10 * STEP, ((pages - 1) * 10 + 1) * STEP),
            ]
        );
    }

    #[test]
    fn a_file_written_back_in_ranges_reads_back_the_same() {
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
        // Ranges past the end of the file, or past what an offset can be, are fine too.
        let beyond = [(1_000 * STEP, 1_001 * STEP), (u64::MAX - 1, u64::MAX)];
        in_ranges(&file, dirty.ranges().chain(beyond)).unwrap();
        file.sync_data().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }
}
