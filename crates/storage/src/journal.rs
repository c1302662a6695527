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
//! is synced. The database file is synced at a checkpoint: when the journal is full, when a
//! batch would not fit, and when the database is opened or closed. A checkpoint starts a new
//! generation, after which older batches are never read again, so the journal is rewritten
//! in place from its start (overwriting written blocks is the cheapest sync a filesystem
//! offers: no allocation, no size change).
//!
//! After a crash the database file holds everything up to the last checkpoint and any subset
//! of the later writes. Opening replays the current generation's whole batches, in order,
//! over it and syncs the file, which brings back every write redb was told is durable;
//! writes after the last sync may or may not be there, as with a plain file, and redb's own
//! commit checksums deal with those. A batch is taken only whole: its header names the
//! generation, its sequence number in that generation and its length, and a CRC covers all
//! of it, so a torn or stale batch ends the replay.
//!
//! Layout of `<database>.journal`:
//!
//! | bytes | content |
//! |---|---|
//! | 0..32 and 512..544 | two header slots (the current generation is in slot `generation % 2`): magic, generation, the database file's length at that checkpoint, CRC |
//! | 4096.. | batches, each padded to 4 KiB: magic, generation, sequence, body length, CRC, body |
//!
//! A clean close checkpoints, so the journal only has batches to replay after a crash. If
//! the database file is empty when the checkpoint says it had content, it was deleted on
//! purpose: the journal is kept aside as `<database>.journal.orphaned` and not replayed.
//!
//! A body is a list of records: `1, offset, length, bytes` (a write) or `2, length` (the file
//! resized). Writing a header slot is a single-sector write; if one is torn, the other slot
//! (the previous generation) is used, whose batches are all in the database file already or
//! are older versions of pages the interrupted checkpoint had been syncing: replaying them is
//! the same as losing writes that were never acknowledged.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::ops::Bound;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The journal's size before it wraps around to its start (with a checkpoint).
pub const CAPACITY: u64 = 64 * 1024 * 1024;

const SLOT_MAGIC: [u8; 8] = *b"MRDNJRNL";
const SLOT_LEN: usize = 32;
const SLOTS: [u64; 2] = [0, 512];
const BATCH_MAGIC: [u8; 8] = *b"MRDNBTCH";
const BATCH_HEADER: usize = 40;
const FIRST_BATCH: u64 = 4096;
const BLOCK: usize = 4096;
const WRITE: u8 = 1;
const SET_LEN: u8 = 2;

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
}

#[derive(Debug)]
struct Journal {
    /// The journal through the OS's cache: header slots, and batches where direct I/O is
    /// not available.
    file: File,
    /// The same file opened for direct, synchronous writes (`O_DIRECT | O_DSYNC`): a batch
    /// goes from its buffer to the disk in one request and is durable when the write
    /// returns, without the copy into the page cache, the writeback machinery and a
    /// separate `fdatasync`. `None` on filesystems that refuse direct I/O.
    direct: Option<File>,
    generation: u64,
    sequence: u64,
    /// Where the next batch goes.
    tail: u64,
    /// The batch being gathered: a header's worth of room, then the records.
    pending: Batch,
    /// The batch outgrew the journal: the next sync is a checkpoint instead.
    overflow: bool,
    /// A write or sync of the journal failed: what is on disk is unknown, so nothing more
    /// is acknowledged until the database is opened again (and replays what is whole).
    failed: bool,
    capacity: u64,
    /// How far the file is written (zeros past the last batch), so a batch below this
    /// overwrites blocks the filesystem already holds.
    written: u64,
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

        let Checkpoint { generation, db_len } = match current_checkpoint(&journal_file)? {
            Some(c) => c,
            None if journal_file.metadata()?.len() > FIRST_BATCH => {
                return Err(OpenError::Header { path: journal_path });
            }
            None => Checkpoint::default(),
        };
        let recovery = if db_len > 0 && db_file.metadata()?.len() == 0 {
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
            replay(&journal_file, &journal_path, &db_file, generation)?
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
        let mut journal = Journal {
            file: journal_file,
            direct,
            generation,
            sequence: 0,
            tail: FIRST_BATCH,
            pending: Batch::new(),
            overflow: false,
            failed: false,
            capacity: capacity.max(FIRST_BATCH + BLOCK as u64),
            written: journal_len,
        };
        journal.checkpoint(db_file.metadata()?.len())?;
        Ok((
            Self {
                db: FileBackend::new(db_file),
                journal: Mutex::new(journal),
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
    /// Starts the next generation: batches of the previous ones are never read again.
    /// The database file must be durable up to here, `db_len` bytes long, before this is
    /// called.
    fn checkpoint(&mut self, db_len: u64) -> io::Result<()> {
        self.generation += 1;
        let mut slot = [0u8; SLOT_LEN];
        slot[..8].copy_from_slice(&SLOT_MAGIC);
        slot[8..16].copy_from_slice(&self.generation.to_le_bytes());
        slot[16..24].copy_from_slice(&db_len.to_le_bytes());
        let crc = crc32fast::hash(&slot[..24]);
        slot[24..28].copy_from_slice(&crc.to_le_bytes());
        let at = SLOTS[(self.generation % 2) as usize];
        self.file.write_all_at(&slot, at)?;
        self.file.sync_data()?;
        self.sequence = 0;
        self.tail = FIRST_BATCH;
        self.reset_pending();
        Ok(())
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
        if (self.pending.len() + len) as u64 > self.capacity - FIRST_BATCH {
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
        if end <= self.written {
            return Ok(());
        }
        let target = (self.written + PREALLOCATE)
            .max(end)
            .min(self.capacity.max(end));
        let zeros = vec![Block::ZERO; 256];
        let zeros = zeros.as_bytes();
        // Never over the header slots; from a block's start, as direct I/O wants (what lies
        // between the tail and `written` is zeros or stale batches either way).
        let mut at = self.written.max(FIRST_BATCH) / BLOCK as u64 * BLOCK as u64;
        while at < target {
            let n = (target - at).min(zeros.len() as u64);
            write_durably(&mut self.direct, &self.file, &zeros[..n as usize], at)?;
            at += n;
        }
        self.written = target;
        Ok(())
    }

    /// Appends the pending batch and syncs the journal. Returns false (having written
    /// nothing) when it does not fit: the caller checkpoints instead.
    fn append(&mut self) -> io::Result<bool> {
        if self.overflow {
            return Ok(false);
        }
        let body_len = self.pending.len() - BATCH_HEADER;
        let padded = self.pending.padded().len();
        if self.tail + padded as u64 > self.capacity {
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
    generation: u64,
    /// The database file's length when it was synced for this checkpoint.
    db_len: u64,
}

/// The newest readable header slot.
fn current_checkpoint(journal: &File) -> io::Result<Option<Checkpoint>> {
    let mut best: Option<Checkpoint> = None;
    for at in SLOTS {
        let mut slot = [0u8; SLOT_LEN];
        match journal.read_exact_at(&mut slot, at) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => continue,
            Err(e) => return Err(e),
        }
        if slot[..8] != SLOT_MAGIC {
            continue;
        }
        let crc = u32::from_le_bytes([slot[24], slot[25], slot[26], slot[27]]);
        if crc32fast::hash(&slot[..24]) != crc {
            continue;
        }
        let found = Checkpoint {
            generation: u64_at(&slot, 8),
            db_len: u64_at(&slot, 16),
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

/// Applies the whole batches of `generation`, in order, to the database file.
fn replay(
    journal: &File,
    journal_path: &Path,
    db: &File,
    generation: u64,
) -> Result<Recovery, OpenError> {
    let end = journal.metadata()?.len();
    let mut recovery = Recovery::default();
    let mut at = FIRST_BATCH;
    let mut body = Vec::new();
    while at + BATCH_HEADER as u64 <= end {
        let mut header = [0u8; BATCH_HEADER];
        journal.read_exact_at(&mut header, at)?;
        if header[..8] != BATCH_MAGIC
            || u64_at(&header, 8) != generation
            || u64_at(&header, 16) != recovery.batches
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
        at += (BATCH_HEADER as u64 + body_len).div_ceil(BLOCK as u64) * BLOCK as u64;
    }
    Ok(recovery)
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
    /// generation of the journal.
    fn checkpoint(&self, journal: &mut Journal) -> Result<(), BackendError> {
        self.db.sync_data()?;
        let len = self.db.len()?;
        journal.checkpoint(len).map_err(BackendError::Io)
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
        let synced = match journal.append() {
            Ok(true) => Ok(()),
            // Every write so far is in the database file: syncing it makes them all
            // durable, and the journal can start over.
            Ok(false) => self.checkpoint(&mut journal),
            Err(e) => Err(BackendError::Io(e)),
        };
        if synced.is_err() {
            journal.failed = true;
        }
        synced
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        let mut journal = self.journal()?;
        self.db.write(offset, data)?;
        journal.record(&[
            &[WRITE],
            &offset.to_le_bytes(),
            &(data.len() as u64).to_le_bytes(),
            data,
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
