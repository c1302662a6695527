//! A redo journal under the engine's file: what makes a commit durable is one sequential
//! append, not the B-tree's scattered pages.
//!
//! redb commits by writing the pages a transaction dirtied (a leaf, the branches above it,
//! the allocator's state, the header), wherever they sit in the file, and then syncing the
//! file. Syncing eight scattered 4 KiB pages costs two to three times what syncing the same
//! bytes written contiguously does, and a single writer waits for it on every request.
//!
//! [`Journaled`] is the storage backend redb writes through. Every write still goes to the
//! database file at once (so reads see it, through the OS's cache) and is also copied into a
//! pending batch. When redb asks for durability (`sync_data`, once per commit), the batch
//! goes to the end of the journal in one direct, synchronous write (`O_DIRECT | O_DSYNC`:
//! no copy into the OS's cache, no writeback, no separate `fdatasync`), and only the journal
//! is synced.
//!
//! The journal is two halves, used in turn: a generation's batches fill one half, and when
//! the next batch does not fit, the next generation starts at the start of the other. The
//! database file is synced in the background then (a checkpoint, on its own thread): once
//! it holds the full generation durably, a header naming the next generation as the first
//! to replay is written, and the full half may be overwritten. Commits go on into the new
//! half while the database file is synced; they wait only if that half fills before the
//! sync ends. A sync of the database file takes as long as the pages dirtied since the last
//! one (tens of milliseconds once the file is some tens of megabytes, and growing with it),
//! which would otherwise stall every writer at once. The checkpoint writes back the parts
//! of the file its generation wrote a range at a time before that sync (`writeback.rs`),
//! so that a commit's journal write queues behind one range, not behind the whole sync.
//! Overwriting a half's blocks is the cheapest sync a filesystem offers: no allocation, no
//! size change.
//!
//! After a crash the database file holds everything up to the generation before the one
//! the header names, and any subset of the later writes. Opening replays the named
//! generation's whole batches and then the next one's, in order, over it and syncs the
//! file, which brings back every write redb was told is durable; writes after the last sync
//! may or may not be there, as with a plain file, and redb's own commit checksums deal with
//! those. A batch is taken only whole: its header names the generation, its sequence number
//! in that generation and its length, and a CRC covers all of it, so a torn or stale batch
//! ends a generation's replay. A synchronous checkpoint (when the database is opened or
//! closed, or for a transaction larger than a half) syncs the file and names the next
//! generation at once.
//!
//! Layout of `<database>.journal`:
//!
//! | bytes | content |
//! |---|---|
//! | 0..40 and 512..552 | two header slots (the newest readable one counts): magic, the first generation to replay, the database file's length when it was synced for it, the size of a half, CRC |
//! | 4096.. | two halves (generation `g` in half `g % 2`) of batches, each padded to 4 KiB: magic, generation, sequence, body length, CRC, body |
//!
//! A journal written before the halves (header magic `MRDNJRNL`, 32-byte slots) held one
//! generation from byte 4096 on; it is replayed as such once, and opening rewrites it in
//! this layout.
//!
//! A clean close checkpoints, so the journal only has batches to replay after a crash. If
//! the database file is empty when the checkpoint says it had content, it was deleted on
//! purpose: the journal is kept aside as `<database>.journal.orphaned` and not replayed.
//!
//! A body is a list of records: `3, offset, length, kept, bytes` (a write of `length` bytes
//! whose last `length - kept` are zeros, which the record leaves out: a B-tree page is
//! seldom full, and the journal's bytes are what a commit waits for), `1, offset, length,
//! bytes` (a write in full, as journals before the trimmed record have it) or `2, length`
//! (the file resized).
//!
//! A header slot is written in one sector, the two slots in turn. If the newest is torn,
//! the other is used: it names the generation before, whose half is not overwritten until
//! the newer header is durable, so its replay, followed by the next generation's, ends with
//! the same pages. The header written when opening goes in the slot other than the one it
//! replayed from (it names a generation of the other parity), so a tear there falls back to
//! the replay just done.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::ops::Bound;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::writeback::{self, Dirty};

/// The journal's size: two halves used in turn, each synced into the database file in the
/// background when it fills.
pub const CAPACITY: u64 = 128 * 1024 * 1024;

const SLOT_MAGIC: [u8; 8] = *b"MRDNJRN2";
const SLOT_LEN: usize = 40;
/// The header of a journal written before the halves: one generation from `FIRST_BATCH`.
const SINGLE_MAGIC: [u8; 8] = *b"MRDNJRNL";
const SINGLE_SLOT_LEN: usize = 32;
const SLOTS: [u64; 2] = [0, 512];
const BATCH_MAGIC: [u8; 8] = *b"MRDNBTCH";
const BATCH_HEADER: usize = 40;
const FIRST_BATCH: u64 = 4096;
const BLOCK: usize = 4096;
const WRITE: u8 = 1;
const SET_LEN: u8 = 2;
const WRITE_TRIMMED: u8 = 3;

/// The journal that belongs to the database file `db`.
pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process holds the journal's lock.
    #[error("another process has it open")]
    Locked,
    /// The journal has batches but no readable header, so which of them are current is
    /// unknown; replaying none could lose acknowledged writes.
    #[error(
        "{path}: the journal's header is unreadable; refusing to guess which writes are current"
    )]
    Header {
        /// The journal.
        path: PathBuf,
    },
    /// A batch passed its checksum but its records do not parse.
    #[error("{path}: batch at byte {offset} is malformed: {reason}")]
    Batch {
        /// The journal.
        path: PathBuf,
        /// Where the batch starts.
        offset: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Reading or writing either file failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// A storage backend that makes writes durable through the journal (see the module's docs).
#[derive(Debug)]
pub struct Journaled {
    db: FileBackend,
    journal: Mutex<Journal>,
    checkpoints: Arc<Checkpoints>,
    /// The thread that syncs the database file when a half of the journal fills.
    checkpointer: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Journal {
    /// The journal through the OS's cache: header slots, and batches where direct I/O is
    /// not available. Shared with the checkpointer, which writes the header slots.
    file: Arc<File>,
    /// The same file opened for direct, synchronous writes (`O_DIRECT | O_DSYNC`): a batch
    /// goes from its buffer to the disk in one request and is durable when the write
    /// returns, without the copy into the page cache, the writeback machinery and a
    /// separate `fdatasync`. `None` on filesystems that refuse direct I/O.
    direct: Option<File>,
    /// The generation being written, in half `generation % 2`.
    generation: u64,
    sequence: u64,
    /// Where the next batch goes.
    tail: u64,
    /// The batch being gathered: a header's worth of room, then the records.
    pending: Batch,
    /// The batch outgrew a half: the next sync is a synchronous checkpoint instead.
    overflow: bool,
    /// A write or sync of the journal failed: what is on disk is unknown, so nothing more
    /// is acknowledged until the database is opened again (and replays what is whole).
    failed: bool,
    /// The size of a half, a multiple of [`BLOCK`].
    half: u64,
    /// How far each half is written (zeros past its last batch), so a batch below this
    /// overwrites blocks the filesystem already holds. Each half grows on its own: the
    /// first generation may be in the second half, and filling the first one with zeros
    /// for it would write up to half the journal before the first commit.
    written: [u64; 2],
    /// Where the database file was written in this generation: its checkpoint writes those
    /// parts back a range at a time before it syncs the file.
    dirty: Dirty,
}

/// The checkpoints asked of the checkpointer thread, and how they went.
#[derive(Debug, Default)]
struct Checkpoints {
    state: Mutex<CheckpointState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct CheckpointState {
    /// The checkpoint asked for and not yet done: it names this generation as the first to
    /// replay, once the database file is synced.
    asked: Option<u64>,
    /// The checkpointer is working on `asked`.
    running: bool,
    /// A checkpoint failed: the journal's older half still holds what the database file may
    /// lack, so nothing may overwrite it; the writer fails at its next switch.
    failed: Option<String>,
    stop: bool,
    /// Where the asked checkpoint's generation wrote the database file.
    dirty: Dirty,
    /// Commits that waited for a checkpoint to free a half: the disk is slower than the
    /// writes. Counted, and told to the operator at most once a minute.
    waits: Waits,
    /// Tests hold the checkpointer back to see what a crash leaves mid-checkpoint.
    #[cfg(test)]
    paused: bool,
    /// A commit is waiting for the checkpoint (tests let a held-back checkpointer go only
    /// then).
    #[cfg(test)]
    held_up: bool,
    /// What the database file holds for certain after the last finished checkpoint.
    #[cfg(test)]
    durable_image: Vec<u8>,
    /// What the database file held at the switch that asked for the current checkpoint.
    #[cfg(test)]
    asked_image: Vec<u8>,
}

/// Commits held up at a switch because the checkpoint before had not ended.
#[derive(Debug, Default)]
struct Waits {
    total: u64,
    /// Since the last report: how many, and the longest.
    unreported: u64,
    longest: Duration,
    reported: Option<Instant>,
}

/// How often at most a slow disk is reported.
const WAITS_REPORTED_EVERY: Duration = Duration::from_secs(60);

impl Checkpoints {
    /// Counts a commit that waited `waited` for the checkpoint before, and tells the
    /// operator once a minute at most.
    fn note_wait(&self, waited: Duration) {
        let mut state = self.lock();
        let waits = &mut state.waits;
        waits.total += 1;
        waits.unreported += 1;
        waits.longest = waits.longest.max(waited);
        if waits
            .reported
            .is_none_or(|at| at.elapsed() >= WAITS_REPORTED_EVERY)
        {
            tracing::warn!(
                commits = waits.unreported,
                longest_ms = waits.longest.as_millis() as u64,
                "commits waited for the database file's sync: the disk is slower than the writes"
            );
            waits.unreported = 0;
            waits.longest = Duration::ZERO;
            waits.reported = Some(Instant::now());
        }
    }

    fn lock(&self) -> MutexGuard<'_, CheckpointState> {
        // The state is plain data changed in single assignments; a poisoned lock still
        // guards consistent state.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until no checkpoint is asked for or running; fails if one failed. Returns
    /// how long it waited, if it did.
    fn settle(&self) -> Result<Option<Duration>, BackendError> {
        let mut state = self.lock();
        let mut since = None;
        while state.asked.is_some() && state.failed.is_none() {
            since.get_or_insert_with(Instant::now);
            #[cfg(test)]
            {
                state.held_up = true;
                self.changed.notify_all();
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        #[cfg(test)]
        {
            state.held_up = false;
        }
        match &state.failed {
            Some(e) => Err(BackendError::Io(io::Error::other(format!(
                "a checkpoint of the database file failed: {e}; reopen the database"
            )))),
            None => Ok(since.map(|s| s.elapsed())),
        }
    }
}

/// The checkpointer: syncs the database file, then names the next generation in the
/// journal's header, for each checkpoint asked.
fn checkpointer(checkpoints: &Checkpoints, db: &File, journal: &File, half: u64) {
    loop {
        let (next, dirty) = {
            let mut state = checkpoints.lock();
            loop {
                #[cfg(test)]
                let paused = state.paused;
                #[cfg(not(test))]
                let paused = false;
                if state.stop {
                    return;
                }
                if let Some(next) = state.asked
                    && !paused
                    && state.failed.is_none()
                {
                    state.running = true;
                    break (next, std::mem::take(&mut state.dirty));
                }
                state = checkpoints
                    .changed
                    .wait(state)
                    .unwrap_or_else(|p| p.into_inner());
            }
        };
        let done = writeback::in_ranges(db, dirty.ranges())
            .and_then(|()| db.sync_data())
            .and_then(|()| db.metadata())
            .and_then(|m| write_slot(journal, next, m.len(), half));
        let mut state = checkpoints.lock();
        state.running = false;
        match done {
            Ok(()) => {
                state.asked = None;
                #[cfg(test)]
                {
                    state.durable_image = std::mem::take(&mut state.asked_image);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "checkpoint of the database file failed");
                state.failed = Some(e.to_string());
            }
        }
        checkpoints.changed.notify_all();
    }
}

/// Writes the header slot naming `generation` as the first to replay and syncs it.
fn write_slot(journal: &File, generation: u64, db_len: u64, half: u64) -> io::Result<()> {
    let mut slot = [0u8; SLOT_LEN];
    slot[..8].copy_from_slice(&SLOT_MAGIC);
    slot[8..16].copy_from_slice(&generation.to_le_bytes());
    slot[16..24].copy_from_slice(&db_len.to_le_bytes());
    slot[24..32].copy_from_slice(&half.to_le_bytes());
    let crc = crc32fast::hash(&slot[..32]);
    slot[32..36].copy_from_slice(&crc.to_le_bytes());
    journal.write_all_at(&slot, SLOTS[(generation % 2) as usize])?;
    journal.sync_data()
}

/// Where half `generation % 2` starts.
fn half_start(generation: u64, half: u64) -> u64 {
    FIRST_BATCH + (generation % 2) * half
}

/// The journal grows by this much zeros ahead of its tail, up to its capacity.
const PREALLOCATE: u64 = 4 * 1024 * 1024;

/// What opening found in the journal.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// Whole batches replayed over the database file.
    pub batches: u64,
    /// Bytes of page writes they held.
    pub bytes: u64,
}

impl Journaled {
    /// Opens the database file at `path` and its journal, replays the journal's current
    /// batches over the file, syncs it, and starts a new generation.
    pub fn open(path: &Path) -> Result<(Self, Recovery), OpenError> {
        Self::open_with_capacity(path, CAPACITY)
    }

    fn open_with_capacity(path: &Path, capacity: u64) -> Result<(Self, Recovery), OpenError> {
        let journal_path = path_for(path);
        let journal_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&journal_path)?;
        // Replaying into a file another process is writing would corrupt it: the lock is
        // taken before anything is read, and held as long as the file is open.
        match journal_file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(OpenError::Locked),
            Err(TryLockError::Error(e)) => return Err(e.into()),
        }
        let db_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;

        let checkpoint = match current_checkpoint(&journal_file)? {
            Some(c) => c,
            None if journal_file.metadata()?.len() > FIRST_BATCH => {
                return Err(OpenError::Header { path: journal_path });
            }
            None => Checkpoint::default(),
        };
        let recovery = if checkpoint.db_len > 0 && db_file.metadata()?.len() == 0 {
            // The database file had content at the checkpoint and has none now: it was
            // deleted or emptied on purpose, and the journal's pages belong to the file that
            // was. Replaying them would build a database out of fragments.
            let mut kept = journal_path.as_os_str().to_owned();
            kept.push(".orphaned");
            let kept = PathBuf::from(kept);
            std::fs::copy(&journal_path, &kept)?;
            tracing::warn!(
                journal = %journal_path.display(),
                kept = %kept.display(),
                "the database file is gone or empty; its journal is not replayed"
            );
            Recovery::default()
        } else {
            let mut recovery = Recovery::default();
            match checkpoint.half {
                // A journal from before the halves: one generation from the first batch on.
                None => {
                    let end = journal_file.metadata()?.len();
                    let at = (FIRST_BATCH, end);
                    replay(
                        &journal_file,
                        &journal_path,
                        &db_file,
                        checkpoint.generation,
                        at,
                        &mut recovery,
                    )?;
                }
                // The generation the header names, then the next one if it was begun.
                Some(half) => {
                    for generation in [checkpoint.generation, checkpoint.generation + 1] {
                        let start = half_start(generation, half);
                        let at = (start, start + half);
                        replay(
                            &journal_file,
                            &journal_path,
                            &db_file,
                            generation,
                            at,
                            &mut recovery,
                        )?;
                    }
                }
            }
            recovery
        };
        // The new generation's batches will be replayed over what is on disk now, so the
        // file must hold on disk exactly what redb is about to read: the replayed pages, and
        // any writes a killed process left in the OS's cache, which redb may take as its
        // last commit.
        db_file.sync_data()?;
        let journal_len = journal_file.metadata()?.len();
        let direct = match OpenOptions::new()
            .write(true)
            .custom_flags((nix::fcntl::OFlag::O_DIRECT | nix::fcntl::OFlag::O_DSYNC).bits())
            .open(&journal_path)
        {
            Ok(file) => Some(file),
            Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => None,
            Err(e) => return Err(e.into()),
        };
        let half = ((capacity.saturating_sub(FIRST_BATCH) / 2) / BLOCK as u64 * BLOCK as u64)
            .max(BLOCK as u64);
        let journal_file = Arc::new(journal_file);
        let mut journal = Journal {
            file: journal_file.clone(),
            direct,
            generation: 0,
            sequence: 0,
            tail: FIRST_BATCH,
            pending: Batch::new(),
            overflow: false,
            failed: false,
            half,
            written: [0, 1]
                .map(|h| journal_len.clamp(half_start(h, half), half_start(h, half) + half)),
            dirty: Dirty::default(),
        };
        // Past both generations the journal may hold, so that none of their batches can be
        // taken for the new generation's; and of the other parity, so that the new header
        // goes in the other slot: if writing it is torn, the header just replayed is still
        // there, and replaying it again (before any batch of the new generation is written)
        // gives the same file. Overwriting that header instead would leave an older one,
        // whose replay would lay older pages over the ones just replayed.
        journal.start(checkpoint.generation + 3, db_file.metadata()?.len())?;
        let checkpoints = Arc::new(Checkpoints::default());
        #[cfg(test)]
        {
            checkpoints.lock().durable_image = std::fs::read(path)?;
        }
        let checkpointer = {
            let checkpoints = checkpoints.clone();
            let db = db_file.try_clone()?;
            std::thread::Builder::new()
                .name("storage-checkpoint".into())
                .spawn(move || checkpointer(&checkpoints, &db, &journal_file, half))?
        };
        Ok((
            Self {
                db: FileBackend::new(db_file),
                journal: Mutex::new(journal),
                checkpoints,
                checkpointer: Some(checkpointer),
            },
            recovery,
        ))
    }

    /// The journal, unless an earlier failure left it in an unknown state.
    fn journal(&self) -> Result<MutexGuard<'_, Journal>, BackendError> {
        // The journal's state is only changed under the lock by code that cannot panic
        // midway; a poisoned lock still guards consistent state.
        let journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        if journal.failed {
            return Err(BackendError::Io(io::Error::other(
                "an earlier write to the journal failed; reopen the database",
            )));
        }
        Ok(journal)
    }
}

impl Journal {
    /// Starts `generation` as the first to replay: batches of the previous ones are never
    /// read again. The database file must be durable up to here, `db_len` bytes long, and
    /// no checkpoint running, before this is called.
    fn start(&mut self, generation: u64, db_len: u64) -> io::Result<()> {
        write_slot(&self.file, generation, db_len, self.half)?;
        self.begin(generation);
        Ok(())
    }

    /// Goes on writing batches as `generation`, in its half, from the half's start.
    fn begin(&mut self, generation: u64) {
        self.generation = generation;
        self.sequence = 0;
        self.tail = half_start(generation, self.half);
    }

    fn reset_pending(&mut self) {
        self.pending.reset();
        self.overflow = false;
    }

    fn has_pending(&self) -> bool {
        self.overflow || self.pending.len() > BATCH_HEADER
    }

    /// Adds a record, or gives up gathering when the batch could never fit.
    fn record(&mut self, parts: &[&[u8]]) {
        if self.overflow {
            return;
        }
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if (self.pending.len() + len) as u64 > self.half {
            self.overflow = true;
            self.pending.reset();
            return;
        }
        for part in parts {
            self.pending.extend(part);
        }
    }

    /// Makes sure the file is written with zeros at least up to `end`: a sync of a write
    /// that extends a file also commits the filesystem's metadata (its size, its new
    /// blocks), which costs about as much again as the data; a write over blocks already
    /// written does not. The zeros are synced with the batch that needed them, once per
    /// [`PREALLOCATE`] bytes, and the file keeps them across restarts.
    fn preallocate(&mut self, end: u64) -> io::Result<()> {
        let h = (self.generation % 2) as usize;
        let written = self.written[h];
        if end <= written {
            return Ok(());
        }
        let half_end = half_start(self.generation, self.half) + self.half;
        let target = (written + PREALLOCATE).max(end).min(half_end.max(end));
        let zeros = vec![Block::ZERO; 256];
        let zeros = zeros.as_bytes();
        // From a block's start, as direct I/O wants (what lies between the tail and
        // `written` is zeros or stale batches either way).
        let mut at = written / BLOCK as u64 * BLOCK as u64;
        while at < target {
            let n = (target - at).min(zeros.len() as u64);
            write_durably(&mut self.direct, &self.file, &zeros[..n as usize], at)?;
            at += n;
        }
        self.written[h] = target;
        Ok(())
    }

    /// Appends the pending batch and syncs the journal. Returns false (having written
    /// nothing) when it does not fit in the current half.
    fn append(&mut self) -> io::Result<bool> {
        if self.overflow {
            return Ok(false);
        }
        let body_len = self.pending.len() - BATCH_HEADER;
        let padded = self.pending.padded().len();
        if self.tail + padded as u64 > half_start(self.generation, self.half) + self.half {
            return Ok(false);
        }
        let mut header = [0u8; BATCH_HEADER];
        header[..8].copy_from_slice(&BATCH_MAGIC);
        header[8..16].copy_from_slice(&self.generation.to_le_bytes());
        header[16..24].copy_from_slice(&self.sequence.to_le_bytes());
        header[24..32].copy_from_slice(&(body_len as u64).to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header[8..32]);
        crc.update(&self.pending.bytes()[BATCH_HEADER..]);
        header[32..36].copy_from_slice(&crc.finalize().to_le_bytes());
        self.pending.set_header(&header);
        self.preallocate(self.tail + padded as u64)?;
        write_durably(
            &mut self.direct,
            &self.file,
            self.pending.padded(),
            self.tail,
        )?;
        self.tail += padded as u64;
        self.sequence += 1;
        self.reset_pending();
        Ok(true)
    }
}

/// How much of `data` is left once its trailing zeros are taken off.
fn without_trailing_zeros(data: &[u8]) -> usize {
    let mut end = data.len();
    while end >= 8 && data[end - 8..end] == [0u8; 8] {
        end -= 8;
    }
    while end > 0 && data[end - 1] == 0 {
        end -= 1;
    }
    end
}

/// Writes `bytes` at `at` (both block-aligned) and returns once they are on disk: directly
/// if it can, else through `file` and a sync. A device that wants larger blocks than ours
/// refuses direct writes (`EINVAL`): the journal then stays buffered.
fn write_durably(direct: &mut Option<File>, file: &File, bytes: &[u8], at: u64) -> io::Result<()> {
    if let Some(d) = direct {
        match d.write_all_at(bytes, at) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => {
                tracing::warn!(error = %e, "direct writes to the journal refused; writing through the OS's cache");
                *direct = None;
            }
            Err(e) => return Err(e),
        }
    }
    file.write_all_at(bytes, at)?;
    file.sync_data()
}

/// One block of the journal, aligned in memory as direct I/O requires of its buffers.
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C, align(4096))]
struct Block([u8; BLOCK]);

impl Block {
    const ZERO: Self = Self([0; BLOCK]);
}

/// A batch being gathered: room for its header, then its records, in whole blocks of
/// aligned memory that are kept between batches.
#[derive(Default)]
struct Batch {
    blocks: Vec<Block>,
    len: usize,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("len", &self.len).finish()
    }
}

impl Batch {
    fn new() -> Self {
        let mut batch = Self::default();
        batch.reset();
        batch
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Empties the batch down to its header's room.
    fn reset(&mut self) {
        // A large transaction's batch is not kept allocated afterwards.
        if self.blocks.len() > 1024 {
            self.blocks = Vec::with_capacity(16);
        }
        if self.blocks.is_empty() {
            self.blocks.push(Block::ZERO);
        }
        self.len = BATCH_HEADER;
    }

    fn extend(&mut self, data: &[u8]) {
        let end = self.len + data.len();
        let blocks = end.div_ceil(BLOCK);
        if blocks > self.blocks.len() {
            self.blocks.resize(blocks.next_power_of_two(), Block::ZERO);
        }
        self.blocks.as_mut_bytes()[self.len..end].copy_from_slice(data);
        self.len = end;
    }

    /// Writes the header and zeros the rest of the last block.
    fn set_header(&mut self, header: &[u8; BATCH_HEADER]) {
        let end = self.len.div_ceil(BLOCK) * BLOCK;
        let bytes = self.blocks.as_mut_bytes();
        bytes[..BATCH_HEADER].copy_from_slice(header);
        bytes[self.len..end].fill(0);
    }

    fn bytes(&self) -> &[u8] {
        &self.blocks.as_bytes()[..self.len]
    }

    /// The batch up to its last block's end.
    fn padded(&self) -> &[u8] {
        &self.blocks.as_bytes()[..self.len.div_ceil(BLOCK) * BLOCK]
    }
}

/// What a header slot records.
#[derive(Debug, Default, Clone, Copy)]
struct Checkpoint {
    /// The first generation to replay.
    generation: u64,
    /// The database file's length when it was synced for this checkpoint.
    db_len: u64,
    /// The size of a half; `None` for a journal from before the halves.
    half: Option<u64>,
}

/// The newest readable header slot.
fn current_checkpoint(journal: &File) -> io::Result<Option<Checkpoint>> {
    let mut best: Option<Checkpoint> = None;
    for at in SLOTS {
        let mut slot = [0u8; SLOT_LEN];
        let read = journal.read_at(&mut slot, at)?;
        let found = if read >= SLOT_LEN && slot[..8] == SLOT_MAGIC {
            let crc = u32::from_le_bytes([slot[32], slot[33], slot[34], slot[35]]);
            let half = u64_at(&slot, 24);
            if crc32fast::hash(&slot[..32]) != crc
                || half == 0
                || !half.is_multiple_of(BLOCK as u64)
            {
                continue;
            }
            Checkpoint {
                generation: u64_at(&slot, 8),
                db_len: u64_at(&slot, 16),
                half: Some(half),
            }
        } else if read >= SINGLE_SLOT_LEN && slot[..8] == SINGLE_MAGIC {
            let crc = u32::from_le_bytes([slot[24], slot[25], slot[26], slot[27]]);
            if crc32fast::hash(&slot[..24]) != crc {
                continue;
            }
            Checkpoint {
                generation: u64_at(&slot, 8),
                db_len: u64_at(&slot, 16),
                half: None,
            }
        } else {
            continue;
        };
        if best.is_none_or(|b| found.generation > b.generation) {
            best = Some(found);
        }
    }
    Ok(best)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Applies the whole batches of `generation` found from `start` on, before `end`, in order,
/// to the database file.
fn replay(
    journal: &File,
    journal_path: &Path,
    db: &File,
    generation: u64,
    (start, end): (u64, u64),
    recovery: &mut Recovery,
) -> Result<(), OpenError> {
    let end = end.min(journal.metadata()?.len());
    let mut at = start;
    let mut sequence = 0;
    let mut body = Vec::new();
    while at + BATCH_HEADER as u64 <= end {
        let mut header = [0u8; BATCH_HEADER];
        journal.read_exact_at(&mut header, at)?;
        if header[..8] != BATCH_MAGIC
            || u64_at(&header, 8) != generation
            || u64_at(&header, 16) != sequence
        {
            break;
        }
        let body_len = u64_at(&header, 24);
        if body_len > end - at - BATCH_HEADER as u64 {
            break;
        }
        body.resize(body_len as usize, 0);
        journal.read_exact_at(&mut body, at + BATCH_HEADER as u64)?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header[8..32]);
        crc.update(&body);
        if crc.finalize() != u32::from_le_bytes([header[32], header[33], header[34], header[35]]) {
            break;
        }
        recovery.bytes += apply(&body, db).map_err(|reason| match reason {
            Apply::Io(e) => OpenError::Io(e),
            Apply::Malformed(reason) => OpenError::Batch {
                path: journal_path.to_owned(),
                offset: at,
                reason,
            },
        })?;
        recovery.batches += 1;
        sequence += 1;
        at += (BATCH_HEADER as u64 + body_len).div_ceil(BLOCK as u64) * BLOCK as u64;
    }
    Ok(())
}

enum Apply {
    Io(io::Error),
    Malformed(&'static str),
}

/// Applies one batch's records; returns the bytes written.
fn apply(mut body: &[u8], db: &File) -> Result<u64, Apply> {
    let mut written = 0;
    while let Some((&tag, rest)) = body.split_first() {
        match tag {
            WRITE => {
                if rest.len() < 16 {
                    return Err(Apply::Malformed("a write record is cut short"));
                }
                let offset = u64_at(rest, 0);
                let len = u64_at(rest, 8);
                let data = rest[16..]
                    .get(..len as usize)
                    .ok_or(Apply::Malformed("a write record's bytes are cut short"))?;
                db.write_all_at(data, offset).map_err(Apply::Io)?;
                written += len;
                body = &rest[16 + len as usize..];
            }
            WRITE_TRIMMED => {
                if rest.len() < 24 {
                    return Err(Apply::Malformed("a write record is cut short"));
                }
                let offset = u64_at(rest, 0);
                let len = u64_at(rest, 8);
                let kept = u64_at(rest, 16);
                if kept > len {
                    return Err(Apply::Malformed("a write record keeps more than it writes"));
                }
                let data = rest[24..]
                    .get(..kept as usize)
                    .ok_or(Apply::Malformed("a write record's bytes are cut short"))?;
                db.write_all_at(data, offset).map_err(Apply::Io)?;
                let mut at = offset + kept;
                let zeros = [0u8; BLOCK];
                while at < offset + len {
                    let n = (offset + len - at).min(BLOCK as u64) as usize;
                    db.write_all_at(&zeros[..n], at).map_err(Apply::Io)?;
                    at += n as u64;
                }
                written += len;
                body = &rest[24 + kept as usize..];
            }
            SET_LEN => {
                if rest.len() < 8 {
                    return Err(Apply::Malformed("a resize record is cut short"));
                }
                db.set_len(u64_at(rest, 0)).map_err(Apply::Io)?;
                body = &rest[8..];
            }
            _ => return Err(Apply::Malformed("unknown record type")),
        }
    }
    Ok(written)
}

impl Journaled {
    /// Syncs the database file, which holds every write so far, and starts a new
    /// generation of the journal as the first to replay, once any checkpoint running in the
    /// background is done.
    fn checkpoint(&self, journal: &mut Journal) -> Result<(), BackendError> {
        self.checkpoints.settle()?;
        self.db.sync_data()?;
        journal.dirty = Dirty::default();
        let len = self.db.len()?;
        journal
            .start(journal.generation + 1, len)
            .map_err(BackendError::Io)?;
        journal.reset_pending();
        Ok(())
    }

    /// Makes the pending batch durable: appended to the current half, or, when it does not
    /// fit, to the other half as the next generation (the checkpoint before must have freed
    /// it), with the database file synced in the background for the full half.
    fn sync_pending(&self, journal: &mut Journal) -> Result<(), BackendError> {
        if journal.append()? {
            return Ok(());
        }
        if journal.overflow {
            // Larger than a half: the database file holds every write, its sync makes them
            // durable.
            return self.checkpoint(journal);
        }
        if let Some(waited) = self.checkpoints.settle()? {
            self.checkpoints.note_wait(waited);
        }
        let next = journal.generation + 1;
        // What the database file holds as the full half's generation ends: the state a power
        // cut may leave once its checkpoint is done.
        #[cfg(test)]
        let image = {
            let mut image = vec![0; self.db.len()? as usize];
            self.db.read(0, &mut image)?;
            image
        };
        let dirty = std::mem::take(&mut journal.dirty);
        journal.begin(next);
        if !journal.append()? {
            return Err(BackendError::Io(io::Error::other(
                "a batch smaller than half the journal did not fit in an empty half",
            )));
        }
        let mut state = self.checkpoints.lock();
        state.asked = Some(next);
        state.dirty = dirty;
        #[cfg(test)]
        {
            state.asked_image = image;
        }
        drop(state);
        self.checkpoints.changed.notify_all();
        Ok(())
    }
}

impl Drop for Journaled {
    fn drop(&mut self) {
        self.checkpoints.lock().stop = true;
        self.checkpoints.changed.notify_all();
        if let Some(thread) = self.checkpointer.take() {
            let _ = thread.join();
        }
    }
}

impl StorageBackend for Journaled {
    fn len(&self) -> Result<u64, BackendError> {
        self.db.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), BackendError> {
        self.db.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), BackendError> {
        let mut journal = self.journal()?;
        self.db.set_len(len)?;
        journal.record(&[&[SET_LEN], &len.to_le_bytes()]);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), BackendError> {
        let mut journal = self.journal()?;
        if !journal.has_pending() {
            return Ok(());
        }
        let synced = self.sync_pending(&mut journal);
        if synced.is_err() {
            journal.failed = true;
        }
        synced
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        let mut journal = self.journal()?;
        self.db.write(offset, data)?;
        journal.dirty.mark(offset, data.len() as u64);
        let kept = &data[..without_trailing_zeros(data)];
        journal.record(&[
            &[WRITE_TRIMMED],
            &offset.to_le_bytes(),
            &(data.len() as u64).to_le_bytes(),
            &(kept.len() as u64).to_le_bytes(),
            kept,
        ]);
        Ok(())
    }

    fn close(&self) -> Result<(), BackendError> {
        // A clean close leaves the journal with nothing to replay.
        let checkpointed = match self.journal() {
            Ok(mut journal) => self.checkpoint(&mut journal),
            Err(e) => Err(e),
        };
        let closed = self.db.close();
        checkpointed.and(closed)
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.db.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.db.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.db.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.db.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.db.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.db.query_lock_range(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{Database, ReadableDatabase as _, TableDefinition};

    const T: TableDefinition<u64, &[u8]> = TableDefinition::new("t");

    fn open(path: &Path, capacity: u64) -> (Database, Recovery) {
        let (backend, recovery) = Journaled::open_with_capacity(path, capacity).unwrap();
        let db = Database::builder().create_with_backend(backend).unwrap();
        (db, recovery)
    }

    fn put(db: &Database, key: u64) {
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(T).unwrap();
            t.insert(key, vec![key as u8; 300].as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }

    fn keys(db: &Database) -> Vec<u64> {
        let txn = db.begin_read().unwrap();
        let Ok(t) = txn.open_table(T) else {
            return Vec::new();
        };
        redb::ReadableTable::iter(&t)
            .unwrap()
            .map(|e| {
                let (k, v) = e.unwrap();
                assert_eq!(v.value(), vec![k.value() as u8; 300].as_slice());
                k.value()
            })
            .collect()
    }

    /// The state a power cut leaves: the database file as it was last synced (here: empty,
    /// before redb even created it) and the journal as it is now.
    fn crash_copy(dir: &Path, db: &Path, stale: &[u8], name: &str) -> PathBuf {
        let copy = dir.join(name);
        std::fs::write(&copy, stale).unwrap();
        std::fs::copy(path_for(db), path_for(&copy)).unwrap();
        copy
    }

    #[test]
    fn a_database_file_never_synced_is_rebuilt_from_the_journal() {
        rebuilt_from_the_journal(true);
    }

    /// As above, with the journal written through the OS's cache, as on a filesystem that
    /// refuses direct I/O.
    #[test]
    fn a_buffered_journal_rebuilds_the_database_file_too() {
        rebuilt_from_the_journal(false);
    }

    fn rebuilt_from_the_journal(direct: bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let (backend, _) = Journaled::open(&path).unwrap();
        if !direct {
            backend.journal.lock().unwrap().direct = None;
        }
        let stale = std::fs::read(&path).unwrap();
        let db = Database::builder().create_with_backend(backend).unwrap();
        for key in 0..50 {
            put(&db, key);
        }
        let copy = crash_copy(dir.path(), &path, &stale, "copy.redb");
        drop(db);

        let (db, recovery) = open(&copy, CAPACITY);
        assert!(recovery.batches >= 50, "{recovery:?}");
        assert_eq!(keys(&db), (0..50).collect::<Vec<_>>());
        put(&db, 50);
        drop(db);
        let (db, _) = open(&copy, CAPACITY);
        assert_eq!(keys(&db), (0..51).collect::<Vec<_>>());
    }

    #[test]
    fn a_torn_or_corrupt_last_batch_is_not_replayed_and_the_rest_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let (backend, _) = Journaled::open(&path).unwrap();
        let stale = std::fs::read(&path).unwrap();
        let db = Database::builder().create_with_backend(backend).unwrap();
        for key in 0..20 {
            put(&db, key);
        }
        put(&db, 20);
        // Where the last batch starts: the journal is written with zeros ahead of its tail,
        // so its length does not say.
        let journal = std::fs::read(path_for(&path)).unwrap();
        let before_last = (FIRST_BATCH as usize..journal.len())
            .step_by(BLOCK)
            .rfind(|&at| journal[at..].starts_with(&BATCH_MAGIC))
            .unwrap() as u64;

        let torn = crash_copy(dir.path(), &path, &stale, "torn.redb");
        let file = OpenOptions::new()
            .write(true)
            .open(path_for(&torn))
            .unwrap();
        file.set_len(before_last + 100).unwrap();
        let corrupt = crash_copy(dir.path(), &path, &stale, "corrupt.redb");
        let file = OpenOptions::new()
            .write(true)
            .open(path_for(&corrupt))
            .unwrap();
        file.write_all_at(&[0xff; 8], before_last + 2000).unwrap();
        drop(db);

        for copy in [torn, corrupt] {
            let (db, _) = open(&copy, CAPACITY);
            assert_eq!(keys(&db), (0..20).collect::<Vec<_>>(), "{}", copy.display());
            // And the database goes on taking writes.
            put(&db, 99);
            drop(db);
            let (db, _) = open(&copy, CAPACITY);
            let mut want: Vec<u64> = (0..20).collect();
            want.push(99);
            assert_eq!(keys(&db), want);
        }
    }

    #[test]
    fn a_full_journal_checkpoints_and_starts_over_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let capacity = 256 * 1024;
        let (db, _) = open(&path, capacity);
        for key in 0..300 {
            put(&db, key);
        }
        let journal = std::fs::metadata(path_for(&path)).unwrap().len();
        assert!(journal <= capacity, "the journal grew to {journal} bytes");
        // A crash now: the database file as the OS holds it, the journal since the last
        // checkpoint.
        let copy = dir.path().join("copy.redb");
        std::fs::copy(&path, &copy).unwrap();
        std::fs::copy(path_for(&path), path_for(&copy)).unwrap();
        drop(db);
        let (db, _) = open(&copy, capacity);
        assert_eq!(keys(&db), (0..300).collect::<Vec<_>>());
    }

    /// Holds the checkpointer back, once any checkpoint it is running is done, until
    /// dropped (so that a failing assertion does not leave a close waiting for it).
    struct Paused(Arc<Checkpoints>);

    fn pause(checkpoints: &Arc<Checkpoints>) -> Paused {
        let mut state = checkpoints.lock();
        state.paused = true;
        while state.running {
            state = checkpoints.changed.wait(state).unwrap();
        }
        Paused(checkpoints.clone())
    }

    impl Drop for Paused {
        fn drop(&mut self) {
            self.0.lock().paused = false;
            self.0.changed.notify_all();
        }
    }

    /// A database on a journal of `capacity` bytes, and its checkpointer's state.
    fn journaled(path: &Path, capacity: u64) -> (Database, Arc<Checkpoints>) {
        let (backend, _) = Journaled::open_with_capacity(path, capacity).unwrap();
        let checkpoints = backend.checkpoints.clone();
        (
            Database::builder().create_with_backend(backend).unwrap(),
            checkpoints,
        )
    }

    /// Puts keys from 0 until a half fills (the next generation starts in the other half
    /// and the checkpoint of the full one is asked for), then one more; returns how many.
    fn fill_a_half(db: &Database, checkpoints: &Checkpoints) -> u64 {
        let mut key = 0;
        while checkpoints.lock().asked.is_none() {
            put(db, key);
            key += 1;
            assert!(key < 1000, "no half filled");
        }
        put(db, key);
        key + 1
    }

    /// A power cut now: the database file as the last finished checkpoint made it durable,
    /// the journal as it is.
    fn power_cut(dir: &Path, db: &Path, checkpoints: &Checkpoints, name: &str) -> PathBuf {
        let image = checkpoints.lock().durable_image.clone();
        crash_copy(dir, db, &image, name)
    }

    #[test]
    fn commits_go_on_while_the_database_file_is_synced_and_a_crash_then_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let capacity = 256 * 1024;
        let (db, checkpoints) = journaled(&path, capacity);
        let paused = pause(&checkpoints);
        let mut key = fill_a_half(&db, &checkpoints);
        let copy = power_cut(dir.path(), &path, &checkpoints, "mid.redb");
        let (recovered, recovery) = open(&copy, capacity);
        assert_eq!(keys(&recovered), (0..key).collect::<Vec<_>>());
        assert!(recovery.batches >= key, "{recovery:?}");
        drop(recovered);

        drop(paused);
        checkpoints.settle().unwrap();
        put(&db, key);
        key += 1;
        let copy = power_cut(dir.path(), &path, &checkpoints, "after.redb");
        drop(db);
        let (recovered, _) = open(&copy, capacity);
        assert_eq!(keys(&recovered), (0..key).collect::<Vec<_>>());
    }

    #[test]
    fn a_checkpoint_is_handed_the_parts_of_the_database_file_its_half_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let (db, checkpoints) = journaled(&path, 256 * 1024);
        let paused = pause(&checkpoints);
        fill_a_half(&db, &checkpoints);
        let len = std::fs::metadata(&path).unwrap().len();
        let ranges: Vec<(u64, u64)> = checkpoints.lock().dirty.ranges().collect();
        // Every commit writes redb's header, at the file's start; nothing is named past
        // the file's end.
        assert_eq!(ranges.first().map(|r| r.0), Some(0), "{ranges:?}");
        assert!(
            ranges.iter().all(|&(start, _)| start < len),
            "{ranges:?} past {len} bytes"
        );
        drop(paused);
        checkpoints.settle().unwrap();
        assert!(checkpoints.lock().dirty.is_empty());
    }

    #[test]
    fn commits_held_up_by_a_checkpoint_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let capacity = 128 * 1024;
        let (db, checkpoints) = journaled(&path, capacity);
        // Commits that find their checkpoint done do not count.
        for key in 0..100 {
            put(&db, key);
            checkpoints.settle().unwrap();
        }
        assert_eq!(checkpoints.lock().waits.total, 0);

        // The checkpoint of a full half is held back while the other fills: the switch
        // after it waits until the checkpointer is let go.
        let paused = pause(&checkpoints);
        fill_a_half(&db, &checkpoints);
        let mut key = 1000;
        let held = checkpoints.clone();
        let letting_go = std::thread::spawn(move || {
            let mut state = held.lock();
            while !state.held_up {
                state = held.changed.wait(state).unwrap();
            }
            drop(state);
            drop(paused);
        });
        while checkpoints.lock().waits.total == 0 {
            put(&db, key);
            key += 1;
            assert!(key < 3000, "no commit waited");
        }
        letting_go.join().unwrap();
        assert_eq!(checkpoints.lock().waits.total, 1);
        drop(db);
        let (db, _) = open(&path, capacity);
        let want: Vec<u64> = (0..100).chain(1000..key).collect();
        assert_eq!(keys(&db), want);
    }

    #[test]
    fn a_header_torn_while_opening_leaves_the_one_it_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let capacity = 256 * 1024;
        let (db, checkpoints) = journaled(&path, capacity);
        let paused = pause(&checkpoints);
        let key = fill_a_half(&db, &checkpoints);
        let copy = power_cut(dir.path(), &path, &checkpoints, "copy.redb");
        drop(paused);
        drop(db);

        // Opening replays both generations and writes its header; the power fails while
        // that header is written, before anything else.
        let (backend, _) = Journaled::open_with_capacity(&copy, capacity).unwrap();
        drop(backend);
        let journal = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path_for(&copy))
            .unwrap();
        let newest = current_checkpoint(&journal).unwrap().unwrap().generation;
        journal
            .write_all_at(&[0xff; 4], SLOTS[(newest % 2) as usize] + 8)
            .unwrap();
        assert!(current_checkpoint(&journal).unwrap().unwrap().generation < newest);

        let (db, _) = open(&copy, capacity);
        assert_eq!(keys(&db), (0..key).collect::<Vec<_>>());
    }

    #[test]
    fn background_checkpoints_keep_every_acknowledged_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let capacity = 256 * 1024;
        let (db, checkpoints) = journaled(&path, capacity);
        for key in 0..400 {
            put(&db, key);
        }
        let journal = std::fs::metadata(path_for(&path)).unwrap().len();
        assert!(journal <= capacity, "the journal grew to {journal} bytes");
        let paused = pause(&checkpoints);
        assert!(
            checkpoints.lock().durable_image.len() > 4096,
            "no checkpoint ran in the background"
        );
        let copy = power_cut(dir.path(), &path, &checkpoints, "copy.redb");
        drop(paused);
        drop(db);
        let (db, _) = open(&copy, capacity);
        assert_eq!(keys(&db), (0..400).collect::<Vec<_>>());
    }

    /// Power cuts at many points of many switches: whatever the checkpointer was doing
    /// (done, or asked and not begun), the database file as it last made it durable and
    /// the journal as it is bring back every committed key.
    #[test]
    fn a_power_cut_at_any_point_of_the_halves_loses_nothing() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |below: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % below
        };
        for (round, capacity) in [64 * 1024, 96 * 1024, 160 * 1024, 256 * 1024]
            .into_iter()
            .enumerate()
        {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("db.redb");
            let (db, checkpoints) = journaled(&path, capacity);
            let mut copies = Vec::new();
            let mut key = 0;
            let mut mid_checkpoint = 0;
            while copies.len() < 8 {
                // Half the time the checkpointer is held back from the start, and the burst
                // stops at the switch: the cut then finds a checkpoint asked and not begun
                // (a second switch would wait for it).
                let held = next(2) == 0;
                let paused = held.then(|| pause(&checkpoints));
                for _ in 0..=next(40) {
                    if held && checkpoints.lock().asked.is_some() {
                        break;
                    }
                    put(&db, key);
                    key += 1;
                }
                let paused = paused.unwrap_or_else(|| pause(&checkpoints));
                mid_checkpoint += usize::from(checkpoints.lock().asked.is_some());
                let name = format!("cut-{round}-{}.redb", copies.len());
                copies.push((power_cut(dir.path(), &path, &checkpoints, &name), key));
                drop(paused);
            }
            drop(db);
            assert!(mid_checkpoint > 0, "no cut found a checkpoint under way");
            for (copy, keys_then) in copies {
                let (db, _) = open(&copy, capacity);
                assert_eq!(
                    keys(&db),
                    (0..keys_then).collect::<Vec<_>>(),
                    "{}",
                    copy.display()
                );
            }
        }
    }

    /// A batch of one write record, as the journal holds it.
    fn batch(generation: u64, sequence: u64, offset: u64, data: &[u8]) -> Vec<u8> {
        let mut body = vec![WRITE];
        body.extend_from_slice(&offset.to_le_bytes());
        body.extend_from_slice(&(data.len() as u64).to_le_bytes());
        body.extend_from_slice(data);
        let mut header = [0u8; BATCH_HEADER];
        header[..8].copy_from_slice(&BATCH_MAGIC);
        header[8..16].copy_from_slice(&generation.to_le_bytes());
        header[16..24].copy_from_slice(&sequence.to_le_bytes());
        header[24..32].copy_from_slice(&(body.len() as u64).to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header[8..32]);
        crc.update(&body);
        header[32..36].copy_from_slice(&crc.finalize().to_le_bytes());
        let mut out = header.to_vec();
        out.extend_from_slice(&body);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        out
    }

    #[test]
    fn a_journal_from_before_the_halves_is_replayed_and_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        std::fs::write(&path, vec![0u8; 3 * BLOCK]).unwrap();
        // One generation (7, an odd one) from the first batch on, as the single-ring layout
        // wrote it.
        let mut journal = vec![0u8; FIRST_BATCH as usize];
        let mut slot = [0u8; SINGLE_SLOT_LEN];
        slot[..8].copy_from_slice(&SINGLE_MAGIC);
        slot[8..16].copy_from_slice(&7u64.to_le_bytes());
        slot[16..24].copy_from_slice(&(3 * BLOCK as u64).to_le_bytes());
        let crc = crc32fast::hash(&slot[..24]);
        slot[24..28].copy_from_slice(&crc.to_le_bytes());
        journal[SLOTS[1] as usize..][..SINGLE_SLOT_LEN].copy_from_slice(&slot);
        journal.extend(batch(7, 0, 100, b"first"));
        journal.extend(batch(7, 1, 5000, b"second"));
        // A stale batch of the generation before ends the replay.
        journal.extend(batch(6, 2, 9000, b"stale"));
        std::fs::write(path_for(&path), &journal).unwrap();

        let (backend, recovery) = Journaled::open_with_capacity(&path, 256 * 1024).unwrap();
        assert_eq!(
            recovery,
            Recovery {
                batches: 2,
                bytes: 11
            }
        );
        let db = std::fs::read(&path).unwrap();
        assert_eq!(&db[100..105], b"first");
        assert_eq!(&db[5000..5006], b"second");
        assert_eq!(&db[9000..9005], &[0u8; 5]);
        drop(backend);
        let header = current_checkpoint(&File::open(path_for(&path)).unwrap())
            .unwrap()
            .unwrap();
        assert!(header.half.is_some() && header.generation > 7, "{header:?}");
    }

    #[test]
    fn both_live_generations_are_replayed_in_order_and_no_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        std::fs::write(&path, vec![0u8; 3 * BLOCK]).unwrap();
        let half = 16 * BLOCK as u64;
        let mut journal = vec![0u8; (FIRST_BATCH + 2 * half) as usize];
        write_slot_into(&mut journal, 10, half);
        let mut place = |at: u64, bytes: Vec<u8>| {
            journal[at as usize..][..bytes.len()].copy_from_slice(&bytes);
        };
        // Generation 10 in half 0, then 11 in half 1 writing the same place later; after
        // 11's last batch, a stale batch of generation 9.
        let first = half_start(10, half);
        place(first, batch(10, 0, 100, b"ten-a"));
        place(first + BLOCK as u64, batch(10, 1, 200, b"ten-b"));
        let second = half_start(11, half);
        place(second, batch(11, 0, 100, b"11-aa"));
        place(second + BLOCK as u64, batch(9, 1, 300, b"stale"));
        std::fs::write(path_for(&path), &journal).unwrap();

        let (backend, recovery) = Journaled::open_with_capacity(&path, 256 * 1024).unwrap();
        assert_eq!(recovery.batches, 3);
        let db = std::fs::read(&path).unwrap();
        assert_eq!(&db[100..105], b"11-aa");
        assert_eq!(&db[200..205], b"ten-b");
        assert_eq!(&db[300..305], &[0u8; 5]);
        drop(backend);
    }

    #[test]
    fn a_trimmed_write_puts_back_its_zeros_over_what_the_file_held() {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("db");
        std::fs::write(&db_path, vec![0xaa; 300]).unwrap();
        let db = OpenOptions::new().write(true).open(&db_path).unwrap();
        let mut body = vec![WRITE_TRIMMED];
        for n in [100u64, 150, 5] {
            body.extend_from_slice(&n.to_le_bytes());
        }
        body.extend_from_slice(b"kept!");
        assert_eq!(apply(&body, &db).ok(), Some(150));
        let after = std::fs::read(&db_path).unwrap();
        assert_eq!(&after[100..105], b"kept!");
        assert!(after[105..250].iter().all(|&b| b == 0));
        assert_eq!((after[99], after[250]), (0xaa, 0xaa));

        // Keeping more than the write's length, or fewer bytes than it says it keeps.
        body[17..25].copy_from_slice(&151u64.to_le_bytes());
        assert!(matches!(apply(&body, &db), Err(Apply::Malformed(_))));
        body[17..25].copy_from_slice(&6u64.to_le_bytes());
        body[9..17].copy_from_slice(&10u64.to_le_bytes());
        assert!(matches!(apply(&body, &db), Err(Apply::Malformed(_))));
    }

    #[test]
    fn trailing_zeros_are_counted_to_the_byte() {
        assert_eq!(without_trailing_zeros(&[]), 0);
        assert_eq!(without_trailing_zeros(&[0; 4096]), 0);
        for end in [1, 7, 8, 9, 15, 16, 17, 4095, 4096] {
            let mut page = vec![0u8; 4096];
            page[end - 1] = 1;
            page[0] = 1;
            assert_eq!(without_trailing_zeros(&page), end, "{end}");
        }
    }

    fn write_slot_into(journal: &mut [u8], generation: u64, half: u64) {
        let file = tempfile::tempfile().unwrap();
        write_slot(&file, generation, 3 * BLOCK as u64, half).unwrap();
        let at = SLOTS[(generation % 2) as usize] as usize;
        file.read_exact_at(&mut journal[at..at + SLOT_LEN], at as u64)
            .unwrap();
    }

    #[test]
    fn a_transaction_larger_than_the_journal_is_made_durable_by_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let capacity = 64 * 1024;
        let (db, _) = open(&path, capacity);
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(T).unwrap();
            for key in 0..2000u64 {
                t.insert(key, vec![key as u8; 300].as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
        assert!(std::fs::metadata(path_for(&path)).unwrap().len() <= capacity);
        drop(db);
        let (db, _) = open(&path, capacity);
        assert_eq!(keys(&db), (0..2000).collect::<Vec<_>>());
    }

    #[test]
    fn a_new_journal_writes_only_around_its_first_batches() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let (db, _) = open(&path, CAPACITY);
        put(&db, 1);
        drop(db);
        // Whichever half the first generation is in, the other is not filled with zeros
        // for it: the file holds a few megabytes, not half the journal.
        let allocated = std::fs::metadata(path_for(&path)).unwrap().blocks() * 512;
        assert!(allocated <= 2 * PREALLOCATE, "{allocated} bytes allocated");
        let (db, _) = open(&path, CAPACITY);
        assert_eq!(keys(&db), vec![1]);
    }

    #[test]
    fn a_clean_close_leaves_nothing_to_replay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let (db, _) = open(&path, CAPACITY);
        put(&db, 1);
        drop(db);
        let (db, recovery) = open(&path, CAPACITY);
        assert_eq!(recovery, Recovery::default());
        assert_eq!(keys(&db), vec![1]);
    }

    #[test]
    fn a_deleted_database_file_does_not_get_its_journal_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let (db, _) = open(&path, CAPACITY);
        put(&db, 1);
        drop(db);
        let (db, _) = open(&path, CAPACITY);
        put(&db, 2);
        // The operator deletes the database file after a crash, leaving the journal.
        let copy = crash_copy(dir.path(), &path, b"", "copy.redb");
        drop(db);
        let (db, recovery) = open(&copy, CAPACITY);
        assert_eq!(recovery, Recovery::default());
        assert_eq!(keys(&db), Vec::<u64>::new());
        assert!(dir.path().join("copy.redb.journal.orphaned").exists());
    }

    #[test]
    fn a_second_opener_is_refused_before_it_touches_anything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let (db, _) = open(&path, CAPACITY);
        put(&db, 1);
        assert!(matches!(Journaled::open(&path), Err(OpenError::Locked)));
        assert_eq!(keys(&db), vec![1]);
    }

    #[test]
    fn batches_without_a_readable_header_are_refused_not_guessed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let (db, _) = open(&path, CAPACITY);
        put(&db, 1);
        let copy = dir.path().join("copy.redb");
        std::fs::copy(&path, &copy).unwrap();
        std::fs::copy(path_for(&path), path_for(&copy)).unwrap();
        drop(db);
        let file = OpenOptions::new()
            .write(true)
            .open(path_for(&copy))
            .unwrap();
        file.write_all_at(&[0u8; 1024], 0).unwrap();
        let err = Journaled::open(&copy).unwrap_err();
        assert!(
            err.to_string()
                .contains("the journal's header is unreadable"),
            "{err}"
        );
    }
}
