//! The embedded, crash-safe engine under every storage API: one redb file in the state
//! directory, written by one thread that commits in groups.
//!
//! Why redb: pure Rust (no C toolchain), ACID with a checksummed commit that is durable when
//! `commit()` returns (`Durability::Immediate`, one fsync), MVCC so readers never wait for the
//! writer, and many named tables in one atomic transaction, which is what an item plus its
//! index entries plus its stream record need. Its one writer at a time suits a single writer
//! thread; fjall writes faster in bulk but only fsyncs when asked to, which makes "durable
//! before acknowledged" a rule every caller has to remember instead of a property of commit.
//!
//! redb writes through [`crate::journal`]: a commit is durable once its pages are appended to
//! the journal in one write and the journal is synced; the database file itself is synced
//! at checkpoints.
//!
//! Group commit: a durable commit still costs one fsync (a tenth of a millisecond to a
//! millisecond, more on a cloud disk), so a commit per request would cap writes at that rate. Write jobs queue
//! on a bounded channel; the writer thread takes every job waiting (up to [`MAX_GROUP`]), runs
//! them in one write transaction, commits once, and only then answers each job. A job checks
//! everything it refuses on (conditions, sizes) before it changes anything, so a refused job
//! leaves the transaction as it found it and the rest of the group commits. A storage failure
//! aborts the whole group and every job in it is told.
//!
//! Keyspace: redb table names are `<plane>/<table>`, so each plane owns a namespace in the one
//! file and a transaction can span planes (an item and its replication record commit
//! together):
//!
//! | table | key → value |
//! |---|---|
//! | `dynamo/catalog` | table name → table description |
//! | `dynamo/items/<uid>` | encoded primary key → item |
//! | `dynamo/index/<uid>/<index>` | encoded index key → encoded primary key |
//! | `dynamo/tokens` | ClientRequestToken → request digest and answer |
//! | `dynamo/exports`, `dynamo/imports` | export or import ARN → its description |
//! | `dynamo/backups` | backup ARN → its details and the table's definition, count and size |
//! | `dynamo/backup/<id>` | encoded primary key → item, as the backup's snapshot held it |
//! | `s3/...` | bucket metadata and object index (the S3 plane) |
//! | `log/...` | the replication log (the global plane) |
//!
//! `<uid>` is fixed when a DynamoDB table is created, so a table deleted and created again
//! under the same name never sees the old rows.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use redb::{Database, ReadTransaction, WriteTransaction};

use crate::journal::{Journaled, OpenError};
use tokio::sync::{mpsc, oneshot};

/// The most jobs one commit carries.
pub const MAX_GROUP: usize = 512;
/// Jobs that may wait for the writer before senders wait too.
const QUEUE: usize = 4096;

/// The planes that keep data in the engine; each owns the tables named `<plane>/...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    /// DynamoDB-compatible tables.
    Dynamo,
    /// S3-compatible buckets.
    S3,
    /// The replication log.
    Log,
}

impl Plane {
    /// The namespace prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dynamo => "dynamo",
            Self::S3 => "s3",
            Self::Log => "log",
        }
    }

    /// The redb table name for `name` in this plane.
    pub fn table(self, name: &str) -> String {
        format!("{}/{name}", self.as_str())
    }
}

/// A failure of the engine itself (not a refusal by an API).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The database file could not be opened.
    #[error("cannot open {path}: {message}")]
    Open {
        /// The file.
        path: PathBuf,
        /// redb's reason, with the likely fix.
        message: String,
    },
    /// A read, write or commit failed.
    #[error("{0}")]
    Storage(String),
    /// Stored bytes that do not decode.
    #[error("corrupt record in {table}: {reason}")]
    Corrupt {
        /// The redb table.
        table: String,
        /// What did not decode.
        reason: String,
    },
    /// The writer thread is gone (the engine is shutting down).
    #[error("the storage engine is shut down")]
    Closed,
}

macro_rules! storage_error {
    ($($t:ty),*) => {$(
        impl From<$t> for EngineError {
            fn from(e: $t) -> Self {
                EngineError::Storage(e.to_string())
            }
        }
    )*};
}
storage_error!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// What a job hands back to the writer: `Err` means the transaction may hold part of the
/// job's writes and the group must not commit.
type Completion = Box<dyn FnOnce(Result<(), EngineError>) + Send>;
type Job = Box<dyn FnOnce(&WriteTransaction) -> (bool, Completion) + Send>;

/// The engine's own page cache. redb's default (1 GiB) makes the process grow with the
/// data until it holds that much; a bounded cache keeps memory flat as tables grow, and
/// pages beyond it come from the operating system's file cache.
pub const CACHE_BYTES: usize = 128 * 1024 * 1024;

const ALREADY_OPEN: &str =
    "another Meridian process has it open; stop it or pass another --state-dir";

/// A handle on the engine; cheap to clone.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    jobs: mpsc::Sender<Job>,
    path: PathBuf,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("path", &self.path).finish()
    }
}

impl Engine {
    /// Opens (or creates) the database at `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<Self, EngineError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| EngineError::Open {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        }
        let open_error = |message: String| EngineError::Open {
            path: path.to_owned(),
            message,
        };
        let (backend, recovery) = Journaled::open(path).map_err(|e| {
            open_error(match e {
                OpenError::Locked => ALREADY_OPEN.to_owned(),
                other => other.to_string(),
            })
        })?;
        if recovery.batches > 0 {
            tracing::info!(
                path = %path.display(),
                commits = recovery.batches,
                bytes = recovery.bytes,
                "replayed the journal's commits into the database file"
            );
        }
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create_with_backend(backend)
            .map_err(|e| {
                open_error(match e {
                    redb::DatabaseError::DatabaseAlreadyOpen => ALREADY_OPEN.to_owned(),
                    other => other.to_string(),
                })
            })?;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer_db = db.clone();
        thread::Builder::new()
            .name("storage-writer".into())
            .spawn(move || writer(&writer_db, rx))
            .map_err(|e| EngineError::Open {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                jobs: tx,
                path: path.to_owned(),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `job` in the next group commit and answers once that commit is durable.
    ///
    /// The job returns `Ok(Err(refusal))` for a refusal, having written nothing;
    /// `Err(storage)` aborts the group.
    pub async fn write<T, E, F>(&self, job: F) -> Result<Result<T, E>, EngineError>
    where
        F: FnOnce(&WriteTransaction) -> Result<Result<T, E>, EngineError> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let boxed: Job = Box::new(move |txn| {
            let outcome = job(txn);
            let failed = outcome.is_err();
            let completion: Completion = Box::new(move |commit| {
                let answer = match (outcome, commit) {
                    (Err(e), _) | (Ok(_), Err(e)) => Err(e),
                    (Ok(v), Ok(())) => Ok(v),
                };
                let _ = tx.send(answer);
            });
            (failed, completion)
        });
        self.inner
            .jobs
            .send(boxed)
            .await
            .map_err(|_| EngineError::Closed)?;
        rx.await.map_err(|_| EngineError::Closed)?
    }

    /// Runs `f` on a consistent snapshot, on the blocking pool (never on a runtime worker).
    pub async fn read<T, F>(&self, f: F) -> Result<T, EngineError>
    where
        F: FnOnce(&ReadTransaction) -> Result<T, EngineError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.inner.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = redb::ReadableDatabase::begin_read(&*db)?;
            f(&txn)
        })
        .await
        .map_err(|e| EngineError::Storage(format!("read task failed: {e}")))?
    }

    /// Runs a point read `f` (a lookup or two) on a snapshot in place, on the runtime's
    /// thread: a B-tree descent over pages the engine's cache or the OS's holds takes
    /// microseconds, less than handing it to the blocking pool and back (two thread
    /// switches a request). Scans and anything unbounded go through [`Engine::read`].
    pub fn read_point<T>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        self.read_blocking(f)
    }

    /// Runs `f` on a snapshot on the calling thread (for callers already off the runtime).
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let txn = redb::ReadableDatabase::begin_read(&*self.inner.db)?;
        f(&txn)
    }
}

/// The writer thread: one group per commit, until every sender is gone.
fn writer(db: &Database, mut rx: mpsc::Receiver<Job>) {
    let mut group: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = rx.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        commit_group(db, &mut group);
    }
}

fn commit_group(db: &Database, group: &mut Vec<Job>) {
    let txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => {
            let err = EngineError::from(e);
            tracing::error!(error = %err, "cannot begin a write transaction");
            // Dropping a job drops its answer channel: each caller is told the engine
            // could not take the write.
            group.clear();
            return;
        }
    };
    let mut completions = Vec::with_capacity(group.len());
    let mut poisoned = false;
    for job in group.drain(..) {
        let (failed, completion) = job(&txn);
        poisoned |= failed;
        completions.push(completion);
    }
    let result = if poisoned {
        let _ = txn.abort();
        Err(EngineError::Storage(
            "a write in the same commit failed; nothing was written".into(),
        ))
    } else {
        txn.commit().map_err(EngineError::from)
    };
    if let Err(e) = &result {
        tracing::error!(error = %e, "group commit failed");
    }
    for completion in completions {
        completion(result.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{ReadableDatabase as _, ReadableTable, ReadableTableMetadata, TableDefinition};

    const T: TableDefinition<&str, u64> = TableDefinition::new("test/counters");

    #[tokio::test]
    async fn concurrent_writes_commit_in_groups_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        {
            let engine = Engine::open(&path).unwrap();
            let mut tasks = Vec::new();
            for i in 0..200u64 {
                let engine = engine.clone();
                tasks.push(tokio::spawn(async move {
                    engine
                        .write(move |txn| {
                            let mut t = txn.open_table(T)?;
                            t.insert(format!("k{i}").as_str(), i)?;
                            Ok(Ok::<_, ()>(()))
                        })
                        .await
                }));
            }
            for t in tasks {
                t.await.unwrap().unwrap().unwrap();
            }
        }
        // The writer thread holds the database until its channel closes; wait for the file
        // lock to be released, bounded.
        let db = {
            let mut tries = 0;
            loop {
                match Database::open(&path) {
                    Ok(db) => break db,
                    Err(_) if tries < 200 => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        };
        let txn = db.begin_read().unwrap();
        let t = txn.open_table(T).unwrap();
        assert_eq!(t.len().unwrap(), 200);
        assert_eq!(t.get("k7").unwrap().unwrap().value(), 7);
    }

    #[tokio::test]
    async fn a_refused_job_writes_nothing_and_others_commit() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(&dir.path().join("db.redb")).unwrap();
        let refused = engine
            .write(|txn| {
                let t = txn.open_table(T)?;
                let _ = t.get("missing")?;
                Ok(Err::<(), _>("condition failed"))
            })
            .await
            .unwrap();
        assert_eq!(refused, Err("condition failed"));
        engine
            .write(|txn| {
                txn.open_table(T)?.insert("a", 1)?;
                Ok(Ok::<_, ()>(()))
            })
            .await
            .unwrap()
            .unwrap();
        let n = engine
            .read(|txn| {
                let t = txn.open_table(T)?;
                Ok(t.len()?)
            })
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
}
