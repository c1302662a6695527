//! The supervisor's errors: what an operator did or asked for that cannot be done, each with
//! the likely fix.

use std::path::PathBuf;

/// Errors of the workloads plane.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkloadError {
    /// No workload by that name.
    #[error("no workload named \"{name}\" (running: {known})")]
    UnknownWorkload {
        /// The name asked for.
        name: String,
        /// Names that exist, comma-separated.
        known: String,
    },
    /// The name matches a Deployment and a Compose service.
    #[error(
        "\"{name}\" is both a Deployment and a Compose service; say deployment/{name} or service/{name}"
    )]
    AmbiguousWorkload {
        /// The name asked for.
        name: String,
    },
    /// No replica by that name.
    #[error("no replica named \"{0}\" (see `meridian ps`)")]
    UnknownReplica(String),
    /// More replicas than one node runs.
    #[error("{replicas} replicas is more than one node runs (at most {max} per workload)")]
    TooManyReplicas {
        /// Asked for.
        replicas: u32,
        /// The bound.
        max: u32,
    },
    /// `rollout undo --to-revision N` with an N that is not kept.
    #[error("workload {workload} has no revision {revision} (kept: {kept})")]
    UnknownRevision {
        /// The workload.
        workload: String,
        /// The revision asked for.
        revision: u64,
        /// Revisions kept, comma-separated.
        kept: String,
    },
    /// `rollout undo` with only one revision.
    #[error("workload {0} has no previous revision to roll back to")]
    NothingToUndo(String),
    /// The state directory cannot be created or written.
    #[error(
        "cannot use state directory {path}: {source} (pass another state directory, or fix its permissions)"
    )]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A log file cannot be read.
    #[error("cannot read log {path}: {source}")]
    LogRead {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The process-spawning thread could not start.
    #[error("cannot start the process spawner thread: {0}")]
    Spawner(std::io::Error),
    /// The supervisor is stopping and takes no more changes.
    #[error("the supervisor is shutting down")]
    ShuttingDown,
}
