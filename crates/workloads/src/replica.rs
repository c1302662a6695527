//! One replica: its ports, log and processes, and the task that runs them — placement and
//! runnability checks, init containers, then every container under its probes and restart
//! rule, until the replica is told to stop (drain, stop signal, SIGKILL after the grace
//! period).

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use meridian_control::endpoints::{EndpointState, PortMapping, ReplicaEndpoint, WorkloadRef};
use nix::sys::signal::Signal;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::environment::{ReplicaFacts, container_env, expand};
use crate::logs::{LogFile, Stream};
use crate::probe::{ProbeSink, ProbeTarget, supervise};
use crate::process::{Stopped, describe_exit, parse_signal, signal_group, terminate};
use crate::restart::{Decision, Ending, Restarts};
use crate::status::{LastExit, ReplicaState, ReplicaStatus};
use crate::supervisor::Inner;
use crate::workload::{ContainerSpec, RestartRule, WorkloadSpec};

/// Where one container is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ContainerPhase {
    Waiting,
    Running,
    BackOff,
    Done(String),
    Failed(String),
}

#[derive(Debug, Clone)]
pub(crate) struct ContainerRt {
    pub(crate) phase: ContainerPhase,
    pub(crate) ready: bool,
    pub(crate) pid: Option<u32>,
    pub(crate) restarts: u32,
}

/// What changes while a replica lives.
#[derive(Debug)]
pub(crate) struct Runtime {
    /// A replica-wide state that overrides the containers' (pending, not runnable, init).
    pub(crate) phase: Option<ReplicaState>,
    pub(crate) containers: Vec<ContainerRt>,
    pub(crate) terminating: bool,
    pub(crate) started: Option<SystemTime>,
    pub(crate) ready_since: Option<Instant>,
    pub(crate) last_error: Option<String>,
    /// True when `last_error` is a probe failure of the running process (cleared once the
    /// process is ready); false when it says why the previous process ended.
    pub(crate) error_is_probe: bool,
    pub(crate) last_exit: Option<LastExit>,
}

impl Runtime {
    pub(crate) fn state(&self) -> ReplicaState {
        if self.terminating {
            return ReplicaState::Terminating;
        }
        if let Some(p) = &self.phase {
            return p.clone();
        }
        if let Some(ContainerPhase::Failed(r)) = self
            .containers
            .iter()
            .map(|c| &c.phase)
            .find(|p| matches!(p, ContainerPhase::Failed(_)))
        {
            return ReplicaState::Failed { reason: r.clone() };
        }
        if self
            .containers
            .iter()
            .any(|c| c.phase == ContainerPhase::BackOff)
        {
            return ReplicaState::CrashLoopBackOff;
        }
        if let Some(ContainerPhase::Done(r)) = self
            .containers
            .iter()
            .map(|c| &c.phase)
            .find(|p| matches!(p, ContainerPhase::Done(_)))
        {
            return ReplicaState::Completed { reason: r.clone() };
        }
        if !self.containers.is_empty()
            && self
                .containers
                .iter()
                .all(|c| c.phase == ContainerPhase::Running)
        {
            return ReplicaState::Running;
        }
        ReplicaState::Starting
    }

    pub(crate) fn ready(&self) -> bool {
        !self.terminating
            && self.phase.is_none()
            && !self.containers.is_empty()
            && self
                .containers
                .iter()
                .all(|c| c.ready && c.phase == ContainerPhase::Running)
    }

    /// Started, or gave up, in a way a rollout counts as a failure.
    pub(crate) fn failed(&self) -> bool {
        matches!(
            self.state(),
            ReplicaState::CrashLoopBackOff
                | ReplicaState::Failed { .. }
                | ReplicaState::NotRunnable { .. }
                | ReplicaState::Completed { .. }
        ) || self.containers.iter().any(|c| c.restarts > 0)
    }
}

/// A replica.
#[derive(Debug)]
pub(crate) struct Replica {
    pub(crate) name: String,
    pub(crate) spec: Arc<WorkloadSpec>,
    pub(crate) hash: String,
    pub(crate) revision: u64,
    pub(crate) slot: u32,
    pub(crate) uid: String,
    pub(crate) ports: Vec<PortMapping>,
    pub(crate) created: SystemTime,
    pub(crate) log: Arc<LogFile>,
    pub(crate) rt: Mutex<Runtime>,
    pub(crate) stop: watch::Sender<bool>,
}

impl Replica {
    pub(crate) fn new(
        name: String,
        spec: Arc<WorkloadSpec>,
        hash: String,
        revision: u64,
        slot: u32,
        ports: Vec<PortMapping>,
        log: Arc<LogFile>,
    ) -> Self {
        let containers = spec
            .containers
            .iter()
            .map(|_| ContainerRt {
                phase: ContainerPhase::Waiting,
                ready: false,
                pid: None,
                restarts: 0,
            })
            .collect();
        Self {
            uid: random_suffix(16),
            name,
            spec,
            hash,
            revision,
            slot,
            ports,
            created: SystemTime::now(),
            log,
            rt: Mutex::new(Runtime {
                phase: None,
                containers,
                terminating: false,
                started: None,
                ready_since: None,
                last_error: None,
                error_is_probe: false,
                last_exit: None,
            }),
            stop: watch::channel(false).0,
        }
    }

    pub(crate) fn workload(&self) -> &WorkloadRef {
        &self.spec.id
    }

    /// Changes the runtime and returns whether readiness or state changed.
    pub(crate) fn update(&self, f: impl FnOnce(&mut Runtime)) -> bool {
        let Ok(mut rt) = self.rt.lock() else {
            return false;
        };
        let before = (rt.state(), rt.ready());
        f(&mut rt);
        let ready = rt.ready();
        if ready && rt.ready_since.is_none() {
            rt.ready_since = Some(Instant::now());
        } else if !ready {
            rt.ready_since = None;
        }
        before != (rt.state(), ready)
    }

    pub(crate) fn with_rt<T>(&self, f: impl FnOnce(&Runtime) -> T) -> Option<T> {
        self.rt.lock().ok().map(|rt| f(&rt))
    }

    pub(crate) fn endpoint(&self) -> ReplicaEndpoint {
        let (ready, terminating) = self
            .with_rt(|rt| (rt.ready(), rt.terminating))
            .unwrap_or((false, true));
        ReplicaEndpoint {
            workload: self.spec.id.clone(),
            replica: self.name.clone(),
            labels: self.spec.labels.clone(),
            service_account: self.spec.service_account.clone(),
            ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            ports: self.ports.clone(),
            state: if terminating {
                EndpointState::Draining
            } else if ready {
                EndpointState::Ready
            } else {
                EndpointState::NotReady
            },
        }
    }

    pub(crate) fn status(&self) -> ReplicaStatus {
        let fallback = ReplicaState::Failed {
            reason: "internal lock poisoned".into(),
        };
        let (state, ready, pid, restarts, started, last_error, last_exit) = self
            .with_rt(|rt| {
                (
                    rt.state(),
                    rt.ready(),
                    rt.containers.iter().find_map(|c| c.pid),
                    rt.containers.iter().map(|c| c.restarts).sum(),
                    rt.started,
                    rt.last_error.clone(),
                    rt.last_exit.clone(),
                )
            })
            .unwrap_or((fallback, false, None, 0, None, None, None));
        let show_tail = matches!(
            state,
            ReplicaState::CrashLoopBackOff
                | ReplicaState::Failed { .. }
                | ReplicaState::Completed { .. }
        );
        ReplicaStatus {
            replica: self.name.clone(),
            workload: self.spec.id.clone(),
            version: self.spec.version().map(str::to_owned),
            revision: self.revision,
            pid,
            state,
            ready,
            restarts,
            created: self.created,
            started,
            ports: self.ports.clone(),
            last_error,
            last_exit,
            log_tail: if show_tail {
                self.log.tail()
            } else {
                Vec::new()
            },
            log_lines_dropped: self.log.dropped(),
        }
    }

    /// Asks the replica to drain and stop. Returns false if it was already stopping.
    pub(crate) fn begin_stop(&self) -> bool {
        let mut first = false;
        self.update(|rt| {
            first = !rt.terminating;
            rt.terminating = true;
        });
        self.stop.send_replace(true);
        first
    }
}

/// Lower-case letters and digits Kubernetes uses for generated names.
pub(crate) fn random_suffix(n: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// The reason a container cannot run as a process, with how to fix it.
pub(crate) fn not_runnable(spec: &WorkloadSpec) -> Option<String> {
    let (i, c) = spec
        .containers
        .iter()
        .chain(&spec.init_containers)
        .enumerate()
        .find(|(_, c)| c.argv.is_none())?;
    let image = c
        .image
        .as_deref()
        .map(|i| format!(" has image \"{i}\" but"))
        .unwrap_or_default();
    let field = match spec.id.kind {
        meridian_control::endpoints::WorkloadKind::Deployment => {
            format!("spec.template.spec.containers[{i}].command")
        }
        meridian_control::endpoints::WorkloadKind::ComposeService => {
            format!("services.{}.command", spec.id.name)
        }
    };
    Some(format!(
        "container \"{}\"{image} has no command: Meridian runs processes, not images; declare the program in {field}, e.g. command: [\"meridian\", \"demo-app\"] or [\"node\", \"server.js\"]",
        c.name
    ))
}

struct Sink<'a> {
    inner: &'a Arc<Inner>,
    replica: &'a Arc<Replica>,
    index: usize,
}

impl ProbeSink for Sink<'_> {
    fn set_ready(&self, ready: bool) {
        let i = self.index;
        if self.replica.update(|rt| {
            if let Some(c) = rt.containers.get_mut(i) {
                c.ready = ready;
            }
            // A probe's complaint about this process is over once it is ready; why the
            // previous process ended stays.
            if ready && rt.error_is_probe && rt.containers.iter().all(|c| c.ready) {
                rt.last_error = None;
                rt.error_is_probe = false;
            }
        }) {
            let word = if ready { "ready" } else { "not ready" };
            self.replica.log.line(
                Stream::Meridian,
                &format!(
                    "container {} is {word}",
                    self.replica.spec.containers[i].name
                ),
            );
            self.inner.replica_changed(self.replica);
        }
    }

    fn set_started(&self) {}

    fn probe_failed(&self, which: &'static str, message: &str) {
        let text = format!("{which} probe failed: {message}");
        self.replica.log.line(Stream::Meridian, &text);
        self.replica.update(|rt| {
            rt.last_error = Some(text);
            rt.error_is_probe = true;
        });
    }
}

/// Runs a replica until it is stopped, then removes it.
pub(crate) async fn run(inner: Arc<Inner>, r: Arc<Replica>, pending: Option<String>) {
    let mut stop = r.stop.subscribe();
    // A manifest that cannot run anywhere is reported before where it could run.
    let blocked = not_runnable(&r.spec)
        .map(|reason| ReplicaState::NotRunnable { reason })
        .or_else(|| pending.map(|reason| ReplicaState::Pending { reason }))
        .or_else(|| {
            crate::placement::unfit(&r.spec, &inner.opts.node)
                .map(|reason| ReplicaState::Pending { reason })
        });
    if let Some(state) = blocked {
        let text = match &state {
            ReplicaState::Pending { reason } => format!("pending: {reason}"),
            ReplicaState::NotRunnable { reason } => format!("not runnable: {reason}"),
            _ => String::new(),
        };
        tracing::warn!(replica = %r.name, "{text}");
        r.log.line(Stream::Meridian, &text);
        r.update(|rt| {
            rt.phase = Some(state);
            rt.last_error = Some(text);
            rt.error_is_probe = false;
        });
        inner.replica_changed(&r);
        stopped(&mut stop).await;
        inner.replica_finished(&r);
        return;
    }
    if !r.spec.depends_on.is_empty() && !wait_dependencies(&inner, &r, &mut stop).await {
        inner.replica_finished(&r);
        return;
    }
    if r.spec.has_volumes() {
        let root = inner.root_dir.join(&r.name);
        let spec = r.spec.clone();
        let laid_out = tokio::task::spawn_blocking(move || {
            crate::volumes::prepare(&root, &spec).map(|()| root)
        })
        .await;
        let text = match laid_out {
            Ok(Ok(root)) => format!(
                "volumes are under {} ($MERIDIAN_ROOT): a mountPath such as /etc/config is $MERIDIAN_ROOT/etc/config",
                root.display()
            ),
            Ok(Err(e)) => format!("cannot lay out the replica's volumes: {e}"),
            Err(e) => format!("cannot lay out the replica's volumes: {e}"),
        };
        r.log.line(Stream::Meridian, &text);
    }
    if !r.spec.init_containers.is_empty() {
        r.update(|rt| rt.phase = Some(ReplicaState::Initializing));
        inner.replica_changed(&r);
        if !run_init(&inner, &r, &mut stop).await {
            inner.replica_finished(&r);
            return;
        }
        r.update(|rt| rt.phase = None);
        inner.replica_changed(&r);
    }
    let mut set = tokio::task::JoinSet::new();
    for i in 0..r.spec.containers.len() {
        set.spawn(container_loop(
            inner.clone(),
            r.clone(),
            i,
            r.stop.subscribe(),
        ));
    }
    while set.join_next().await.is_some() {}
    inner.replica_finished(&r);
}

fn facts<'a>(inner: &'a Inner, r: &'a Replica) -> ReplicaFacts<'a> {
    ReplicaFacts {
        spec: &r.spec,
        replica: &r.name,
        uid: &r.uid,
        node_name: &inner.opts.node.hostname,
        ports: &r.ports,
        root: r.spec.has_volumes().then(|| inner.root_dir.join(&r.name)),
    }
}

fn command(
    inner: &Inner,
    r: &Replica,
    c: &ContainerSpec,
    env: &BTreeMap<String, String>,
) -> Option<tokio::process::Command> {
    let argv: Vec<String> = c.argv.as_ref()?.iter().map(|a| expand(a, env)).collect();
    let (prog, args) = argv.split_first()?;
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if !inner.opts.inherit_env {
        cmd.env_clear();
    }
    cmd.envs(env);
    if let Some(d) = &c.working_dir {
        cmd.current_dir(d);
    }
    if let Some(bytes) = c.memory_limit {
        crate::process::limit_memory(&mut cmd, bytes);
    }
    let _ = r;
    Some(cmd)
}

/// Why a spawn failed, in an operator's words.
fn spawn_error(c: &ContainerSpec, e: &std::io::Error) -> String {
    let prog = c
        .argv
        .as_ref()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_default();
    match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "cannot start \"{prog}\": {e} (is it installed and on PATH? relative paths start from {})",
            c.working_dir.as_ref().map_or_else(
                || "Meridian's working directory".to_owned(),
                |d| d.display().to_string()
            )
        ),
        std::io::ErrorKind::PermissionDenied => {
            format!("cannot start \"{prog}\": {e} (is it executable? chmod +x)")
        }
        _ => format!("cannot start \"{prog}\": {e}"),
    }
}

fn exit_info(status: &std::process::ExitStatus) -> LastExit {
    LastExit {
        code: status.code(),
        signal: status
            .signal()
            .and_then(|s| Signal::try_from(s).ok())
            .map(|s| s.as_str().to_owned()),
        description: describe_exit(status),
        at: SystemTime::now(),
    }
}

/// Runs init containers in order; false if the replica was stopped (or gave up) first.
async fn run_init(inner: &Arc<Inner>, r: &Arc<Replica>, stop: &mut watch::Receiver<bool>) -> bool {
    let mut restarts = Restarts::new(RestartRule::Always, inner.opts.backoff);
    'again: loop {
        for c in &r.spec.init_containers {
            let env = container_env(
                c,
                &facts(inner, r),
                inner.exe_dir.as_deref(),
                inner.inherited_path.clone(),
            );
            let Some(cmd) = command(inner, r, c, &env) else {
                return false;
            };
            let began = Instant::now();
            let ok = match inner.spawner.spawn(cmd).await {
                Ok((mut child, _group)) => {
                    pump_output(r, &mut child);
                    tokio::select! {
                        status = child.wait() => match status {
                            Ok(s) if s.success() => true,
                            Ok(s) => {
                                let text = format!("init container {} failed: {}", c.name, describe_exit(&s));
                                r.log.line(Stream::Meridian, &text);
                                r.update(|rt| { rt.last_error = Some(text); rt.error_is_probe = false; rt.last_exit = Some(exit_info(&s)); });
                                false
                            }
                            Err(_) => false,
                        },
                        () = stopped(stop) => {
                            let _ = terminate(&mut child, parse_signal(&r.spec.stop_signal), r.spec.grace).await;
                            return false;
                        }
                    }
                }
                Err(e) => {
                    let text = spawn_error(c, &e);
                    r.log.line(Stream::Meridian, &text);
                    r.update(|rt| {
                        rt.last_error = Some(text);
                        rt.error_is_probe = false;
                    });
                    false
                }
            };
            if !ok {
                let Decision::Restart(delay) =
                    restarts.decide(Ending::Failure, began.elapsed(), Instant::now())
                else {
                    return false;
                };
                r.update(|rt| rt.phase = Some(ReplicaState::CrashLoopBackOff));
                inner.replica_changed(r);
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stopped(stop) => return false,
                }
                r.update(|rt| rt.phase = Some(ReplicaState::Initializing));
                inner.replica_changed(r);
                continue 'again;
            }
        }
        return true;
    }
}

fn pump_output(r: &Arc<Replica>, child: &mut tokio::process::Child) {
    if let Some(out) = child.stdout.take() {
        let log = r.log.clone();
        tokio::spawn(async move { log.pump(out, Stream::Stdout).await });
    }
    if let Some(err) = child.stderr.take() {
        let log = r.log.clone();
        tokio::spawn(async move { log.pump(err, Stream::Stderr).await });
    }
}

async fn container_loop(
    inner: Arc<Inner>,
    r: Arc<Replica>,
    i: usize,
    mut stop: watch::Receiver<bool>,
) {
    let c = &r.spec.containers[i];
    let mut restarts = Restarts::new(r.spec.restart.clone(), inner.opts.backoff);
    let stop_signal = parse_signal(&r.spec.stop_signal);
    loop {
        if *stop.borrow() {
            return;
        }
        let env = container_env(
            c,
            &facts(&inner, &r),
            inner.exe_dir.as_deref(),
            inner.inherited_path.clone(),
        );
        let Some(cmd) = command(&inner, &r, c, &env) else {
            return;
        };
        let began = Instant::now();
        let ending = match inner.spawner.spawn(cmd).await {
            Err(e) => {
                let text = spawn_error(c, &e);
                tracing::warn!(replica = %r.name, "{text}");
                r.log.line(Stream::Meridian, &text);
                r.update(|rt| {
                    rt.last_error = Some(text);
                    rt.error_is_probe = false;
                    rt.last_exit = Some(LastExit {
                        code: None,
                        signal: None,
                        description: format!("could not start: {e}"),
                        at: SystemTime::now(),
                    });
                });
                Ending::Failure
            }
            Ok((mut child, _group)) => {
                let pid = child.id();
                pump_output(&r, &mut child);
                let argv = c.argv.clone().unwrap_or_default().join(" ");
                r.log.line(
                    Stream::Meridian,
                    &format!("started {} (pid {}): {argv}", c.name, pid.unwrap_or(0)),
                );
                r.update(|rt| {
                    rt.started = Some(SystemTime::now());
                    if let Some(cr) = rt.containers.get_mut(i) {
                        cr.phase = ContainerPhase::Running;
                        cr.pid = pid;
                        cr.ready = false;
                    }
                });
                inner.replica_changed(&r);
                let target = ProbeTarget {
                    ports: r.ports.clone(),
                    env: env.clone(),
                    inherit_env: inner.opts.inherit_env,
                    working_dir: c.working_dir.clone(),
                    spawner: inner.spawner.clone(),
                };
                let sink = Sink {
                    inner: &inner,
                    replica: &r,
                    index: i,
                };
                let probes = supervise(
                    c.startup.as_ref(),
                    c.readiness.as_ref(),
                    c.liveness.as_ref(),
                    c.healthcheck.as_ref(),
                    began,
                    &target,
                    &sink,
                );
                tokio::select! {
                    status = child.wait() => {
                        if let Some(p) = pid {
                            // The leader is gone; so is the "container": kill what it left.
                            signal_group(p, Signal::SIGKILL);
                        }
                        match status {
                            Ok(s) => {
                                let text = format!("{} exited: {}", c.name, describe_exit(&s));
                                r.log.line(Stream::Meridian, &text);
                                let success = s.success();
                                r.update(|rt| {
                                    rt.last_exit = Some(exit_info(&s));
                                    if !success {
                                        rt.last_error = Some(text);
                                        rt.error_is_probe = false;
                                    }
                                });
                                if success { Ending::Success } else { Ending::Failure }
                            }
                            Err(_) => Ending::Failure,
                        }
                    }
                    reason = probes => {
                        r.log.line(Stream::Meridian, &format!("restarting {}: {}", c.name, reason.message));
                        r.update(|rt| {
                            rt.last_error = Some(reason.message.clone());
                            rt.error_is_probe = false;
                            if let Some(cr) = rt.containers.get_mut(i) { cr.ready = false; }
                        });
                        inner.replica_changed(&r);
                        let status = terminate(&mut child, stop_signal, reason.grace.unwrap_or(r.spec.grace)).await;
                        if let Ok(Stopped::Gracefully(s) | Stopped::Killed(s)) = status {
                            r.update(|rt| rt.last_exit = Some(exit_info(&s)));
                        }
                        Ending::Failure
                    }
                    () = stopped(&mut stop) => {
                        // Out of the endpoints already (Draining); let in-flight requests end.
                        if r.with_rt(|rt| rt.ready_since.is_some() || rt.started.is_some()).unwrap_or(false) {
                            tokio::time::sleep(inner.opts.drain_delay).await;
                        }
                        let stopped = terminate(&mut child, stop_signal, r.spec.grace).await;
                        let text = match stopped {
                            Ok(Stopped::Gracefully(s)) => format!("{} stopped: {}", c.name, describe_exit(&s)),
                            Ok(Stopped::Killed(_)) => format!("{} did not stop within {}s of {}: killed", c.name, r.spec.grace.as_secs_f64(), stop_signal.as_str()),
                            Err(e) => format!("{} stop failed: {e}", c.name),
                        };
                        r.log.line(Stream::Meridian, &text);
                        r.update(|rt| if let Some(cr) = rt.containers.get_mut(i) { cr.pid = None; cr.ready = false; });
                        return;
                    }
                }
            }
        };
        let ran = began.elapsed();
        r.update(|rt| {
            if let Some(cr) = rt.containers.get_mut(i) {
                cr.pid = None;
                cr.ready = false;
                cr.phase = ContainerPhase::Waiting;
            }
        });
        match restarts.decide(ending, ran, Instant::now()) {
            Decision::Restart(delay) => {
                if !delay.is_zero() {
                    let tail = r.log.tail().join(" | ");
                    r.log.line(
                        Stream::Meridian,
                        &format!("back-off {}s restarting {}", delay.as_secs_f64(), c.name),
                    );
                    tracing::warn!(replica = %r.name, delay = ?delay, last = %tail, "container crashed; restarting after back-off");
                    r.update(|rt| {
                        if let Some(cr) = rt.containers.get_mut(i) {
                            cr.phase = ContainerPhase::BackOff;
                        }
                    });
                }
                inner.replica_changed(&r);
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stopped(&mut stop) => return,
                }
                r.update(|rt| {
                    if let Some(cr) = rt.containers.get_mut(i) {
                        cr.restarts = restarts.count;
                        cr.phase = ContainerPhase::Waiting;
                    }
                });
                inner.replica_changed(&r);
            }
            Decision::GiveUp(reason) => {
                r.log.line(
                    Stream::Meridian,
                    &format!("not restarting {}: {reason}", c.name),
                );
                r.update(|rt| {
                    if let Some(cr) = rt.containers.get_mut(i) {
                        cr.phase = if ending == Ending::Success && !reason.contains("max_attempts")
                        {
                            ContainerPhase::Done(reason.clone())
                        } else {
                            ContainerPhase::Failed(reason.clone())
                        };
                    }
                });
                inner.replica_changed(&r);
                stopped(&mut stop).await;
                return;
            }
        }
    }
}

/// Resolves once the replica is told to stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The first `depends_on` condition that does not hold yet, in words.
fn unmet_dependency(inner: &Inner, spec: &WorkloadSpec) -> Option<String> {
    use meridian_config::compose::DependencyCondition as C;
    let st = inner.lock();
    for d in &spec.depends_on {
        let met = st
            .workloads
            .iter()
            .filter(|(id, _)| {
                id.kind == meridian_control::endpoints::WorkloadKind::ComposeService
                    && id.name == d.service
            })
            .flat_map(|(_, w)| w.replicas.iter())
            .any(|r| {
                r.with_rt(|rt| match d.condition {
                    C::ServiceStarted => matches!(rt.state(), ReplicaState::Running),
                    C::ServiceHealthy => rt.ready(),
                    C::ServiceCompletedSuccessfully => {
                        matches!(rt.state(), ReplicaState::Completed { .. })
                    }
                })
                .unwrap_or(false)
            });
        if !met {
            let what = match d.condition {
                C::ServiceStarted => "to start",
                C::ServiceHealthy => "to be healthy",
                C::ServiceCompletedSuccessfully => "to complete successfully",
            };
            return Some(format!(
                "waiting for service {} {what} (depends_on)",
                d.service
            ));
        }
    }
    None
}

/// Waits until every `depends_on` condition holds; false if the replica was stopped first.
async fn wait_dependencies(
    inner: &Arc<Inner>,
    r: &Arc<Replica>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut changed = inner.changed.subscribe();
    loop {
        changed.borrow_and_update();
        let Some(reason) = unmet_dependency(inner, &r.spec) else {
            if r.update(|rt| rt.phase = None) {
                inner.replica_changed(r);
            }
            return true;
        };
        let state = ReplicaState::Pending { reason };
        if r.update(|rt| rt.phase = Some(state)) {
            inner.replica_changed(r);
        }
        tokio::select! {
            res = changed.changed() => if res.is_err() { return false },
            () = stopped(stop) => return false,
        }
    }
}
