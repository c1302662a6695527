//! The supervisor: the handle the binary holds. It keeps every workload's desired state,
//! revisions and replicas, publishes the endpoint table, and answers `ps`, `logs`, `scale`
//! and `rollout` requests.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use meridian_control::endpoints::{
    EndpointPublisher, EndpointTable, EndpointWatch, WorkloadKind, WorkloadRef,
};
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;

use crate::error::WorkloadError;
use crate::logs::{LogFile, LogQuery, LogReader, log_path};
use crate::placement::NodeInfo;
use crate::ports::PortBook;
use crate::process::Spawner;
use crate::replica::{Replica, random_suffix};
use crate::restart::Backoff;
use crate::status::{Event, ReplicaStatus, RevisionInfo, RolloutPhase, RolloutStatus};
use crate::workload::{DesiredState, WorkloadSpec};

/// How the supervisor runs.
#[derive(Debug, Clone)]
pub struct SupervisorOptions {
    /// State folder; logs go to `<state_dir>/logs/<replica>.log`.
    pub state_dir: PathBuf,
    /// This node, for placement.
    pub node: NodeInfo,
    /// Time between taking a replica out of the endpoints (Draining) and its stop signal,
    /// so proxies stop sending it requests first.
    pub drain_delay: Duration,
    /// A log file is rotated (to `.log.1`) past this size.
    pub log_max_bytes: u64,
    /// Kubernetes' crash back-off.
    pub backoff: Backoff,
    /// Replicas inherit Meridian's environment (true by default).
    pub inherit_env: bool,
    /// Folder put first on replicas' `PATH` (the folder of the running executable by
    /// default, so `command: ["meridian", ...]` runs this Meridian).
    pub exe_dir: Option<PathBuf>,
}

impl SupervisorOptions {
    /// Defaults for a state folder: this host as the node, a 1s drain delay, 10 MiB logs,
    /// Kubernetes' back-off.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            node: NodeInfo::local(),
            drain_delay: Duration::from_secs(1),
            log_max_bytes: 10 * 1024 * 1024,
            backoff: Backoff::default(),
            inherit_env: true,
            exe_dir: std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(PathBuf::from)),
        }
    }
}

/// A revision kept for undo.
#[derive(Debug, Clone)]
pub(crate) struct Revision {
    pub(crate) number: u64,
    pub(crate) hash: String,
    pub(crate) spec: Arc<WorkloadSpec>,
    pub(crate) created: SystemTime,
    pub(crate) cause: String,
}

/// One workload's state.
#[derive(Debug)]
pub(crate) struct Workload {
    /// What should run (template of the current revision, replica count, strategy).
    pub(crate) desired: Arc<WorkloadSpec>,
    /// Template hash of `desired`.
    pub(crate) hash: String,
    /// What the last `apply` brought (hash and count), so re-applying the same files keeps
    /// `scale` and `rollout undo` changes.
    pub(crate) applied: (String, u32),
    pub(crate) revisions: Vec<Revision>,
    pub(crate) replicas: Vec<Arc<Replica>>,
    pub(crate) controller: Option<JoinHandle<()>>,
    pub(crate) kick: Arc<Notify>,
    pub(crate) status: RolloutStatus,
    /// Set by Swarm `failure_action: pause`; cleared by `rollout resume` and by a new
    /// revision.
    pub(crate) paused: Option<String>,
    /// Set while a Swarm rollback runs.
    pub(crate) rolling_back: Option<String>,
    pub(crate) progress_since: tokio::time::Instant,
    /// No longer desired: removed once its replicas are gone.
    pub(crate) retired: bool,
}

impl Workload {
    pub(crate) fn revision(&self) -> u64 {
        self.revisions.last().map_or(0, |r| r.number)
    }

    pub(crate) fn spec_for(&self, hash: &str) -> Option<Arc<WorkloadSpec>> {
        self.revisions
            .iter()
            .rev()
            .find(|r| r.hash == hash)
            .map(|r| r.spec.clone())
    }

    /// Makes `spec` the current revision (reusing the number of an equal template, as
    /// Kubernetes moves an old ReplicaSet to the top).
    fn set_template(&mut self, spec: Arc<WorkloadSpec>, cause: String) {
        let hash = spec.template_hash();
        let next = self.revision() + 1;
        self.revisions.retain(|r| r.hash != hash);
        self.revisions.push(Revision {
            number: next,
            hash: hash.clone(),
            spec: spec.clone(),
            created: SystemTime::now(),
            cause,
        });
        let keep = spec.revision_history_limit + 1;
        while self.revisions.len() > keep {
            self.revisions.remove(0);
        }
        self.hash = hash;
        self.desired = spec;
        self.paused = None;
        self.progress_since = tokio::time::Instant::now();
        self.status.phase = RolloutPhase::Progressing;
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) workloads: BTreeMap<WorkloadRef, Workload>,
    pub(crate) shutting_down: bool,
}

/// Shared by the handle, the controllers and the replica tasks.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) opts: SupervisorOptions,
    pub(crate) spawner: Arc<Spawner>,
    pub(crate) ports: PortBook,
    pub(crate) endpoints: EndpointPublisher,
    pub(crate) state: Mutex<State>,
    pub(crate) changed: watch::Sender<u64>,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) log_dir: PathBuf,
    /// Where replicas' roots live (`<state_dir>/replicas/<replica>`, `crate::volumes`).
    pub(crate) root_dir: PathBuf,
    pub(crate) exe_dir: Option<PathBuf>,
    pub(crate) inherited_path: Option<OsString>,
    pub(crate) tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data here (no multi-step
        // invariants span an unwind), so recover the guard rather than stop supervising.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Rebuilds the endpoint table from every replica; sends it when it changed.
    pub(crate) fn publish(&self) {
        let mut replicas: Vec<_> = {
            let st = self.lock();
            st.workloads
                .values()
                .flat_map(|w| w.replicas.iter().map(|r| r.endpoint()))
                .collect()
        };
        replicas.sort_by(|a, b| (&a.workload, &a.replica).cmp(&(&b.workload, &b.replica)));
        self.endpoints.send_if_modified(|table| {
            if table.replicas == replicas {
                return false;
            }
            *table = Arc::new(EndpointTable {
                version: table.version + 1,
                replicas: std::mem::take(&mut replicas),
            });
            true
        });
    }

    /// A replica's state or readiness changed.
    pub(crate) fn replica_changed(&self, r: &Arc<Replica>) {
        self.publish();
        self.changed.send_modify(|n| *n += 1);
        let _ = self.events.send(Event::Replica(Box::new(r.status())));
    }

    /// A replica's task ended: forget it.
    pub(crate) fn replica_finished(&self, r: &Arc<Replica>) {
        if r.spec.has_volumes()
            && let Err(e) = crate::volumes::remove(&self.root_dir.join(&r.name))
        {
            tracing::warn!(replica = %r.name, "cannot remove the replica's root: {e}");
        }
        {
            let mut st = self.lock();
            if let Some(w) = st.workloads.get_mut(r.workload()) {
                w.replicas.retain(|x| !Arc::ptr_eq(x, r));
            }
        }
        self.ports.release(&r.ports);
        self.publish();
        self.changed.send_modify(|n| *n += 1);
        let _ = self.events.send(Event::ReplicaRemoved {
            workload: r.workload().clone(),
            replica: r.name.clone(),
        });
    }

    /// Creates and starts a replica of `spec` (the caller holds the state lock and passes
    /// the workload).
    pub(crate) fn create_replica(
        self: &Arc<Self>,
        w: &mut Workload,
        spec: Arc<WorkloadSpec>,
        hash: &str,
        revision: u64,
        slot: u32,
    ) -> Arc<Replica> {
        let name = match spec.id.kind {
            WorkloadKind::Deployment => format!("{}-{hash}-{}", spec.id.name, random_suffix(5)),
            WorkloadKind::ComposeService => format!("{}.{slot}.{}", spec.id.name, random_suffix(5)),
        };
        let mut spec = spec;
        // The caller's environment is not part of the template: new replicas get the latest.
        if spec.extra_env != w.desired.extra_env {
            let mut s = (*spec).clone();
            s.extra_env = w.desired.extra_env.clone();
            spec = Arc::new(s);
        }
        let mut pending = None;
        if let Some(max) = spec.max_replicas_per_node {
            let here = w
                .replicas
                .iter()
                .filter(|r| {
                    !r.with_rt(|rt| rt.terminating || rt.phase.is_some())
                        .unwrap_or(true)
                })
                .count();
            if here >= max as usize {
                pending = Some(format!(
                    "no suitable node: max_replicas_per_node ({max}) reached on node {}",
                    self.opts.node.hostname
                ));
            }
        }
        let ports = match self.ports.allocate(&spec.containers) {
            Ok(p) => p,
            Err(e) => {
                pending = Some(format!("no free port on 127.0.0.1: {e}"));
                Vec::new()
            }
        };
        let path = log_path(&self.log_dir, &name);
        let log = LogFile::create(path.clone(), self.opts.log_max_bytes).unwrap_or_else(|e| {
            // A replica without a log file still runs; its output is dropped.
            tracing::error!(replica = %name, "cannot open log file {}: {e}", path.display());
            LogFile::disabled()
        });
        let r = Arc::new(Replica::new(
            name,
            spec,
            hash.to_owned(),
            revision,
            slot,
            ports,
            Arc::new(log),
        ));
        w.replicas.push(r.clone());
        let task = tokio::spawn(crate::replica::run(self.clone(), r.clone(), pending));
        self.track(task);
        r
    }

    fn track(&self, task: JoinHandle<()>) {
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(task);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Last resort (the runtime went away without `shutdown`): no replica outlives us.
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        for w in st.workloads.values() {
            for r in &w.replicas {
                if let Some(pids) = r.with_rt(|rt| {
                    rt.containers
                        .iter()
                        .filter_map(|c| c.pid)
                        .collect::<Vec<_>>()
                }) {
                    for p in pids {
                        crate::process::signal_group(p, nix::sys::signal::Signal::SIGKILL);
                    }
                }
            }
        }
    }
}

/// The process supervisor. Cheap to clone; every clone drives the same replicas.
///
/// ```no_run
/// # async fn f() -> Result<(), meridian_workloads::WorkloadError> {
/// use meridian_workloads::{DesiredState, Supervisor, SupervisorOptions};
/// let (publisher, endpoints) = meridian_control::endpoints::channel();
/// let sup = Supervisor::start(SupervisorOptions::new(".meridian"), publisher)?;
/// sup.apply(DesiredState::default())?;
/// for r in sup.status() { println!("{} {}", r.replica, r.state.as_str()); }
/// sup.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

/// What an `apply` changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ApplySummary {
    /// New workloads.
    pub created: Vec<WorkloadRef>,
    /// Workloads whose template changed (a rollout started).
    pub rolled: Vec<WorkloadRef>,
    /// Workloads whose replica count changed.
    pub scaled: Vec<WorkloadRef>,
    /// Workloads no longer desired (their replicas stop).
    pub removed: Vec<WorkloadRef>,
}

impl std::fmt::Display for ApplySummary {
    /// `2 created, 1 rolled`, or `no workload changed`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            (self.created.len(), "created"),
            (self.rolled.len(), "rolled"),
            (self.scaled.len(), "scaled"),
            (self.removed.len(), "removed"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if parts.is_empty() {
            f.write_str("no workload changed")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

impl Supervisor {
    /// Starts a supervisor (within a tokio runtime) that publishes replicas to `endpoints`.
    pub fn start(
        opts: SupervisorOptions,
        endpoints: EndpointPublisher,
    ) -> Result<Self, WorkloadError> {
        let log_dir = opts.state_dir.join("logs");
        std::fs::create_dir_all(&log_dir).map_err(|source| WorkloadError::StateDir {
            path: log_dir.clone(),
            source,
        })?;
        let spawner = Spawner::start(tokio::runtime::Handle::current(), &opts.state_dir)
            .map_err(WorkloadError::Spawner)?;
        let exe_dir = opts.exe_dir.clone();
        let root_dir = opts.state_dir.join("replicas");
        Ok(Self {
            inner: Arc::new(Inner {
                opts,
                spawner: Arc::new(spawner),
                ports: PortBook::default(),
                endpoints,
                state: Mutex::new(State::default()),
                changed: watch::channel(0).0,
                events: broadcast::channel(1024).0,
                log_dir,
                root_dir,
                exe_dir,
                inherited_path: std::env::var_os("PATH"),
                tasks: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The endpoint table, for the data plane.
    pub fn endpoints(&self) -> EndpointWatch {
        self.inner.endpoints.subscribe()
    }

    /// Events as they happen (replica changes, rollout progress).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Makes the running state follow `desired`: new workloads start, changed templates roll
    /// out, changed counts scale, workloads no longer listed stop. Re-applying an unchanged
    /// workload keeps `scale` and `rollout undo` changes made since.
    pub fn apply(&self, desired: DesiredState) -> Result<ApplySummary, WorkloadError> {
        let mut summary = ApplySummary::default();
        let mut to_start = Vec::new();
        let mut refresh: Vec<(PathBuf, Arc<WorkloadSpec>)> = Vec::new();
        {
            let mut st = self.inner.lock();
            if st.shutting_down {
                return Err(WorkloadError::ShuttingDown);
            }
            let wanted: Vec<WorkloadRef> = desired.workloads.iter().map(|w| w.id.clone()).collect();
            for spec in desired.workloads {
                let hash = spec.template_hash();
                let count = spec.replicas;
                let spec = Arc::new(spec);
                match st.workloads.get_mut(&spec.id) {
                    None => {
                        let mut w = Workload {
                            desired: spec.clone(),
                            hash: hash.clone(),
                            applied: (hash.clone(), count),
                            revisions: Vec::new(),
                            replicas: Vec::new(),
                            controller: None,
                            kick: Arc::new(Notify::new()),
                            status: RolloutStatus {
                                workload: spec.id.clone(),
                                revision: 1,
                                desired: count,
                                updated: 0,
                                ready: 0,
                                available: 0,
                                old: 0,
                                phase: RolloutPhase::Progressing,
                            },
                            paused: None,
                            rolling_back: None,
                            progress_since: tokio::time::Instant::now(),
                            retired: false,
                        };
                        w.set_template(spec.clone(), "apply".into());
                        summary.created.push(spec.id.clone());
                        to_start.push(spec.id.clone());
                        st.workloads.insert(spec.id.clone(), w);
                    }
                    Some(w) => {
                        let template_changed = w.applied.0 != hash;
                        let count_changed = w.applied.1 != count;
                        w.applied = (hash.clone(), count);
                        w.retired = false;
                        if template_changed {
                            let mut s = (*spec).clone();
                            if !count_changed {
                                s.replicas = w.desired.replicas;
                            }
                            w.set_template(Arc::new(s), "apply".into());
                            w.rolling_back = None;
                            summary.rolled.push(spec.id.clone());
                        } else {
                            // Same template: take the new count (if it changed), strategy
                            // and extra environment, keep the revision.
                            let mut s = (*spec).clone();
                            s.restart_generation = w.desired.restart_generation;
                            if !count_changed {
                                s.replicas = w.desired.replicas;
                            } else {
                                summary.scaled.push(spec.id.clone());
                            }
                            // An undo or restart made another template current: keep it.
                            if w.hash != hash {
                                let mut cur = (*w.desired).clone();
                                cur.replicas = s.replicas;
                                cur.extra_env = s.extra_env.clone();
                                cur.strategy = s.strategy.clone();
                                s = cur;
                            }
                            w.desired = Arc::new(s);
                            // New ConfigMap or Secret data reaches the running replicas'
                            // volumes in place.
                            for r in &w.replicas {
                                if r.spec.has_volumes() && r.spec.volumes != w.desired.volumes {
                                    refresh.push((
                                        self.inner.root_dir.join(&r.name),
                                        w.desired.clone(),
                                    ));
                                }
                            }
                        }
                        w.kick.notify_one();
                    }
                }
            }
            let gone: Vec<WorkloadRef> = st
                .workloads
                .keys()
                .filter(|k| !wanted.contains(k))
                .cloned()
                .collect();
            for id in gone {
                if let Some(w) = st.workloads.get_mut(&id) {
                    let mut s = (*w.desired).clone();
                    s.replicas = 0;
                    w.desired = Arc::new(s);
                    w.retired = true;
                    w.kick.notify_one();
                    summary.removed.push(id);
                }
            }
            for id in &to_start {
                let task = tokio::spawn(crate::rollout::control(self.inner.clone(), id.clone()));
                if let Some(w) = st.workloads.get_mut(id) {
                    w.controller = Some(task);
                }
            }
        }
        for (root, spec) in refresh {
            tokio::task::spawn_blocking(move || {
                if let Err(e) = crate::volumes::update(&root, &spec.volumes) {
                    tracing::warn!(root = %root.display(), "cannot update the replica's volumes: {e}");
                }
            });
        }
        self.inner.changed.send_modify(|n| *n += 1);
        Ok(summary)
    }

    /// Finds a workload by `name`, `deployment/name`, `service/name` or `namespace/name`.
    pub fn resolve(&self, name: &str) -> Result<WorkloadRef, WorkloadError> {
        let st = self.inner.lock();
        let (prefix, bare) = name
            .split_once('/')
            .map_or((None, name), |(p, n)| (Some(p), n));
        let matches: Vec<&WorkloadRef> = st
            .workloads
            .keys()
            .filter(|k| k.name == bare)
            .filter(|k| match prefix {
                None => true,
                Some("deployment" | "deploy" | "deployments") => k.kind == WorkloadKind::Deployment,
                Some("service" | "svc" | "compose") => k.kind == WorkloadKind::ComposeService,
                Some(ns) => k.namespace == ns,
            })
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(WorkloadError::UnknownWorkload {
                name: name.to_owned(),
                known: st
                    .workloads
                    .keys()
                    .map(|k| k.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
            _ => Err(WorkloadError::AmbiguousWorkload {
                name: bare.to_owned(),
            }),
        }
    }

    fn with_workload<T>(
        &self,
        id: &WorkloadRef,
        f: impl FnOnce(&mut Workload) -> Result<T, WorkloadError>,
    ) -> Result<T, WorkloadError> {
        let mut st = self.inner.lock();
        if st.shutting_down {
            return Err(WorkloadError::ShuttingDown);
        }
        let known = st
            .workloads
            .keys()
            .map(|k| k.name.clone())
            .collect::<Vec<_>>()
            .join(", ");
        let w = st
            .workloads
            .get_mut(id)
            .ok_or_else(|| WorkloadError::UnknownWorkload {
                name: id.name.clone(),
                known,
            })?;
        let out = f(w)?;
        w.kick.notify_one();
        Ok(out)
    }

    /// Sets a workload's replica count (until an `apply` brings a different count).
    pub fn scale(&self, id: &WorkloadRef, replicas: u32) -> Result<(), WorkloadError> {
        let max = meridian_config::k8s::deployment::MAX_REPLICAS;
        if replicas > max {
            return Err(WorkloadError::TooManyReplicas { replicas, max });
        }
        self.with_workload(id, |w| {
            let mut s = (*w.desired).clone();
            s.replicas = replicas;
            w.desired = Arc::new(s);
            w.status.desired = replicas;
            w.status.phase = RolloutPhase::Progressing;
            Ok(())
        })
    }

    /// Replaces every replica with a new one, as a rollout (`rollout restart`). Returns the
    /// new revision.
    pub fn rollout_restart(&self, id: &WorkloadRef) -> Result<u64, WorkloadError> {
        self.with_workload(id, |w| {
            let mut s = (*w.desired).clone();
            s.restart_generation += 1;
            w.set_template(Arc::new(s), "rollout restart".into());
            Ok(w.revision())
        })
    }

    /// Rolls back to a previous revision (the one before the current by default). Returns
    /// the new revision number.
    pub fn rollout_undo(
        &self,
        id: &WorkloadRef,
        to_revision: Option<u64>,
    ) -> Result<u64, WorkloadError> {
        self.with_workload(id, |w| {
            let target = match to_revision {
                Some(n) => w
                    .revisions
                    .iter()
                    .find(|r| r.number == n)
                    .cloned()
                    .ok_or_else(|| WorkloadError::UnknownRevision {
                        workload: id.name.clone(),
                        revision: n,
                        kept: w
                            .revisions
                            .iter()
                            .map(|r| r.number.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?,
                None => {
                    let n = w.revisions.len();
                    if n < 2 {
                        return Err(WorkloadError::NothingToUndo(id.name.clone()));
                    }
                    w.revisions[n - 2].clone()
                }
            };
            let mut s = (*target.spec).clone();
            s.replicas = w.desired.replicas;
            s.strategy = w.desired.strategy.clone();
            s.extra_env = w.desired.extra_env.clone();
            w.set_template(
                Arc::new(s),
                format!("rollout undo to revision {}", target.number),
            );
            Ok(w.revision())
        })
    }

    /// Resumes a rollout paused by Swarm's `failure_action: pause`.
    pub fn rollout_resume(&self, id: &WorkloadRef) -> Result<(), WorkloadError> {
        self.with_workload(id, |w| {
            w.paused = None;
            w.status.phase = RolloutPhase::Progressing;
            Ok(())
        })
    }

    /// Revisions kept for undo, oldest first.
    pub fn rollout_history(&self, id: &WorkloadRef) -> Result<Vec<RevisionInfo>, WorkloadError> {
        self.with_workload(id, |w| {
            Ok(w.revisions
                .iter()
                .map(|r| RevisionInfo {
                    revision: r.number,
                    hash: r.hash.clone(),
                    created: r.created,
                    cause: r.cause.clone(),
                })
                .collect())
        })
    }

    /// Where a workload's rollout is.
    pub fn rollout_status(&self, id: &WorkloadRef) -> Result<RolloutStatus, WorkloadError> {
        self.with_workload(id, |w| Ok(w.status.clone()))
    }

    /// Every workload's rollout status.
    pub fn workloads(&self) -> Vec<RolloutStatus> {
        self.inner
            .lock()
            .workloads
            .values()
            .map(|w| w.status.clone())
            .collect()
    }

    /// Waits until a rollout completes, pauses or stalls (or `timeout` passes), calling
    /// `progress` with each change (for a live CLI).
    pub async fn wait_rollout(
        &self,
        id: &WorkloadRef,
        timeout: Duration,
        mut progress: impl FnMut(&RolloutStatus),
    ) -> Result<RolloutStatus, WorkloadError> {
        let mut changed = self.inner.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last: Option<RolloutStatus> = None;
        loop {
            let s = self.rollout_status(id)?;
            if last.as_ref() != Some(&s) {
                progress(&s);
                last = Some(s.clone());
            }
            if s.is_settled() {
                return Ok(s);
            }
            tokio::select! {
                r = changed.changed() => if r.is_err() { return Ok(s) },
                () = tokio::time::sleep_until(deadline) => return Ok(s),
            }
        }
    }

    /// A snapshot of every replica, for `meridian ps`.
    pub fn status(&self) -> Vec<ReplicaStatus> {
        let replicas: Vec<Arc<Replica>> = self
            .inner
            .lock()
            .workloads
            .values()
            .flat_map(|w| w.replicas.clone())
            .collect();
        let mut out: Vec<ReplicaStatus> = replicas.iter().map(|r| r.status()).collect();
        out.sort_by(|a, b| {
            (&a.workload, a.created, &a.replica).cmp(&(&b.workload, b.created, &b.replica))
        });
        out
    }

    /// Reads a replica's log (also of a replica that is gone, while its file exists).
    pub fn logs(&self, replica: &str, query: &LogQuery) -> Result<LogReader, WorkloadError> {
        let live = self
            .inner
            .lock()
            .workloads
            .values()
            .flat_map(|w| w.replicas.iter())
            .find(|r| r.name == replica)
            .map(|r| r.log.watch());
        let path = log_path(&self.inner.log_dir, replica);
        if live.is_none() && !path.exists() {
            return Err(WorkloadError::UnknownReplica(replica.to_owned()));
        }
        LogReader::open(path.clone(), query, live)
            .map_err(|source| WorkloadError::LogRead { path, source })
    }

    /// Stops every replica (drain, stop signal, SIGKILL after the grace period) and waits for
    /// them. Call it on Ctrl-C and SIGTERM.
    pub async fn shutdown(&self) {
        let replicas: Vec<Arc<Replica>> = {
            let mut st = self.inner.lock();
            st.shutting_down = true;
            for w in st.workloads.values_mut() {
                if let Some(c) = w.controller.take() {
                    c.abort();
                }
            }
            st.workloads
                .values()
                .flat_map(|w| w.replicas.clone())
                .collect()
        };
        for r in &replicas {
            if r.begin_stop() {
                self.inner.publish();
            }
        }
        let tasks: Vec<JoinHandle<()>> = self
            .inner
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for t in tasks {
            let _ = t.await;
        }
        self.inner.publish();
    }
}
