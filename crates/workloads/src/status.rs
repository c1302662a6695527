//! What `meridian ps` and `meridian rollout status` show: a snapshot per replica and per
//! rollout, and the events a CLI renders live.

use std::time::SystemTime;

use meridian_control::endpoints::{PortMapping, WorkloadRef};

/// The lifecycle state of a replica, in the words `kubectl get pods` and `docker service ps`
/// use.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ReplicaState {
    /// It may not run here (placement), with the reason.
    Pending {
        /// Why.
        reason: String,
    },
    /// It cannot run as a process: a container has an image and no command.
    NotRunnable {
        /// What to declare.
        reason: String,
    },
    /// Init containers are running.
    Initializing,
    /// Its process is starting, or running but not (yet) ready.
    Starting,
    /// Running (ready or not: see `ready`).
    Running,
    /// Waiting to restart after a crash (Kubernetes back-off or Swarm `delay`).
    CrashLoopBackOff,
    /// Draining and stopping.
    Terminating,
    /// Stopped for good: it exited and the restart policy says not to restart.
    Completed {
        /// Why it is not restarted.
        reason: String,
    },
    /// Stopped for good after failures (Swarm `max_attempts`).
    Failed {
        /// Why.
        reason: String,
    },
}

impl ReplicaState {
    /// A short word for tables (`Running`, `CrashLoopBackOff`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            ReplicaState::Pending { .. } => "Pending",
            ReplicaState::NotRunnable { .. } => "NotRunnable",
            ReplicaState::Initializing => "Init",
            ReplicaState::Starting => "Starting",
            ReplicaState::Running => "Running",
            ReplicaState::CrashLoopBackOff => "CrashLoopBackOff",
            ReplicaState::Terminating => "Terminating",
            ReplicaState::Completed { .. } => "Completed",
            ReplicaState::Failed { .. } => "Failed",
        }
    }
}

/// How a process last ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LastExit {
    /// Exit code, when it exited.
    pub code: Option<i32>,
    /// Signal name, when it was killed.
    pub signal: Option<String>,
    /// `exit code 3`, `killed by SIGKILL`, or why it could not start.
    pub description: String,
    /// When.
    pub at: SystemTime,
}

/// One replica, for `meridian ps` and the admin API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReplicaStatus {
    /// Replica name.
    pub replica: String,
    /// Its workload.
    pub workload: WorkloadRef,
    /// The `version` label.
    pub version: Option<String>,
    /// The revision it runs.
    pub revision: u64,
    /// Process id of its (first) container, while running.
    pub pid: Option<u32>,
    /// Lifecycle state.
    pub state: ReplicaState,
    /// In the endpoint table as ready.
    pub ready: bool,
    /// Restarts of its containers.
    pub restarts: u32,
    /// When the replica was created.
    pub created: SystemTime,
    /// When its current process started.
    pub started: Option<SystemTime>,
    /// Its ports.
    pub ports: Vec<PortMapping>,
    /// The last problem (OS error at start, probe output, exit), if any.
    pub last_error: Option<String>,
    /// How the process last ended.
    pub last_exit: Option<LastExit>,
    /// The last lines of its log (filled for crash loops and failures).
    pub log_tail: Vec<String>,
    /// Lines of its output dropped because its log could not keep up (noted in the log).
    pub log_lines_dropped: u64,
}

/// Where a rollout is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum RolloutPhase {
    /// Replicas are being replaced or scaled.
    Progressing,
    /// Every replica runs the current revision and is available.
    Complete,
    /// Stopped by Swarm's `failure_action: pause` or `spec.paused`; `rollout resume` goes on.
    Paused {
        /// Why.
        reason: String,
    },
    /// Rolling back after a failure (Swarm `failure_action: rollback`).
    RollingBack {
        /// Why.
        reason: String,
    },
    /// No progress within the deadline (Kubernetes `ProgressDeadlineExceeded`); still trying.
    Stalled {
        /// Why.
        reason: String,
    },
}

/// A workload's rollout, for `meridian rollout status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RolloutStatus {
    /// The workload.
    pub workload: WorkloadRef,
    /// The current revision.
    pub revision: u64,
    /// Desired replicas.
    pub desired: u32,
    /// Replicas of the current revision.
    pub updated: u32,
    /// Ready replicas (all revisions).
    pub ready: u32,
    /// Available replicas (ready for `minReadySeconds`).
    pub available: u32,
    /// Replicas of older revisions still running.
    pub old: u32,
    /// Phase.
    pub phase: RolloutPhase,
}

impl RolloutStatus {
    /// `kubectl rollout status` wording.
    pub fn message(&self) -> String {
        let name = &self.workload.name;
        match &self.phase {
            RolloutPhase::Complete => format!(
                "{name} successfully rolled out (revision {})",
                self.revision
            ),
            RolloutPhase::Paused { reason } => format!("{name} rollout paused: {reason}"),
            RolloutPhase::RollingBack { reason } => format!("{name} rolling back: {reason}"),
            RolloutPhase::Stalled { reason } => format!("{name} rollout stalled: {reason}"),
            RolloutPhase::Progressing if self.old > 0 => format!(
                "Waiting for {name} rollout to finish: {} old replicas are pending termination, {} of {} updated replicas are available...",
                self.old,
                self.available.min(self.updated),
                self.desired
            ),
            RolloutPhase::Progressing => format!(
                "Waiting for {name} rollout to finish: {} of {} updated replicas are available...",
                self.available.min(self.updated),
                self.desired
            ),
        }
    }

    /// True when the rollout no longer progresses on its own (complete, paused or stalled).
    pub fn is_settled(&self) -> bool {
        matches!(
            self.phase,
            RolloutPhase::Complete | RolloutPhase::Paused { .. } | RolloutPhase::Stalled { .. }
        )
    }
}

/// A revision kept for `rollout undo`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RevisionInfo {
    /// Revision number (1, 2, ...).
    pub revision: u64,
    /// The template hash.
    pub hash: String,
    /// When it became current.
    pub created: SystemTime,
    /// What made it (`apply`, `rollout restart`, `rollout undo to 2`).
    pub cause: String,
}

/// Something that happened, for a CLI to render live.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A replica changed state or readiness.
    Replica(Box<ReplicaStatus>),
    /// A replica is gone.
    ReplicaRemoved {
        /// Its workload.
        workload: WorkloadRef,
        /// Its name.
        replica: String,
    },
    /// A rollout made progress.
    Rollout(RolloutStatus),
}
