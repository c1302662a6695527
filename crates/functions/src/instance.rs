//! An execution environment: one runtime process with its own Runtime API, serving one
//! invocation at a time, reused while warm, killed on timeout, crash or idleness.
//!
//! The process runs in its own process group with a parent-death signal, so it never
//! outlives Meridian; dropping the last handle to an instance kills the group.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use meridian_telemetry::writer::Writer;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::invocation::{
    Dispatch, InvokeRequest, InvokeResult, Outcome, RuntimeReply, new_trace_id,
};
use crate::logs::{self, LogMsg, PATIENCE, Pump, Report};
use crate::memory::{InstanceCgroup, MemoryEnforcement, peak_rss};
use crate::runtime_api::RuntimeApi;

/// Everything needed to start environments of one function version.
#[derive(Debug)]
pub(crate) struct Blueprint {
    pub runtime_label: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    /// Environment without the per-instance variables.
    pub env: Vec<(String, String)>,
    pub arn: String,
    pub memory_mb: u32,
    pub timeout: Duration,
    pub log_file: PathBuf,
    pub echo_logs: bool,
    /// The function's count of log lines dropped.
    pub log_dropped: Arc<AtomicU64>,
    pub memory: MemoryEnforcement,
    pub idle_timeout: Duration,
    /// Where each environment's AWS credentials come from, when the node issues them.
    pub session: Option<crate::credentials::Session>,
}

const BUSY: u8 = 0;
const IDLE: u8 = 1;
const GONE: u8 = 2;

/// One execution environment.
#[derive(Debug)]
pub(crate) struct Instance {
    state: AtomicU8,
    last_used: AtomicU64,
    epoch: Instant,
    tx: mpsc::Sender<Dispatch>,
    pid: u32,
    exit: watch::Receiver<Option<String>>,
    log: Writer<LogMsg>,
    /// The readers of the runtime's stdout and stderr.
    pumps: Vec<Pump>,
    cgroup: Option<InstanceCgroup>,
    api_task: JoinHandle<()>,
    spawned_at: Instant,
    dead: AtomicBool,
    /// Decremented once when the instance dies (the pool's live count).
    live: Arc<std::sync::atomic::AtomicUsize>,
    memory_mb: u32,
    timeout: Duration,
    /// Retired at its next acquisition once this old (its credentials are about to expire).
    max_age: Option<Duration>,
}

/// Why an environment could not start; reported as Lambda's `Runtime.InvalidEntrypoint`.
#[derive(Debug)]
pub(crate) struct SpawnFailure(pub String);

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(9) => "signal: killed".into(),
        Some(6) => "signal: aborted".into(),
        Some(11) => "signal: segmentation fault".into(),
        Some(15) => "signal: terminated".into(),
        Some(n) => format!("signal: {n}"),
        None => "unknown exit".into(),
    }
}

fn log_stream_name(id: u64) -> String {
    let now = time::OffsetDateTime::now_utc();
    let r: u128 = rand::random();
    format!(
        "{:04}/{:02}/{:02}/[$LATEST]{:032x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        r ^ u128::from(id)
    )
}

impl Instance {
    /// Starts an environment. It is busy (reserved for the invocation that asked for it).
    pub(crate) async fn spawn(
        bp: &Blueprint,
        id: u64,
        live: Arc<std::sync::atomic::AtomicUsize>,
    ) -> Result<Arc<Self>, SpawnFailure> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| SpawnFailure(format!("cannot listen for the runtime api: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| SpawnFailure(format!("cannot listen for the runtime api: {e}")))?;
        let (tx, rx) = mpsc::channel(1);
        let api = Arc::new(RuntimeApi::new(rx, &bp.arn));
        let api_task = tokio::spawn(api.serve(listener));

        let log =
            match logs::spawn_writer(bp.log_file.clone(), bp.echo_logs, bp.log_dropped.clone()) {
                Ok(w) => w,
                Err(e) => {
                    api_task.abort();
                    return Err(SpawnFailure(format!("cannot start the log writer: {e}")));
                }
            };
        let stream = log_stream_name(id);
        let mut cmd = Command::new(&bp.program);
        cmd.args(&bp.args)
            .current_dir(&bp.cwd)
            .env_clear()
            .envs(bp.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_LOG_STREAM_NAME", &stream)
            .envs(
                bp.session
                    .iter()
                    .flat_map(|s| s.source.issue(&s.function).env()),
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let cgroup = match &bp.memory {
            MemoryEnforcement::CgroupV2 { parent } => {
                InstanceCgroup::create(parent, &format!("i{id}"), bp.memory_mb)
            }
            MemoryEnforcement::Rlimit => None,
        };
        let data_limit = cgroup
            .is_none()
            .then(|| u64::from(bp.memory_mb) * 1024 * 1024);
        meridian_workloads::pre_exec::die_with_parent(&mut cmd);
        meridian_workloads::pre_exec::restore_open_files(&mut cmd);
        if let Some(bytes) = data_limit {
            meridian_workloads::pre_exec::limit_data(&mut cmd, bytes);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                api_task.abort();
                return Err(SpawnFailure(format!(
                    "fork/exec {}: {e}",
                    bp.program.display()
                )));
            }
        };
        let pid = child.id().unwrap_or(0);
        if let Some(cg) = &cgroup {
            cg.add(pid);
        }
        log.try_write(LogMsg::Platform(format!(
            "INIT_START Runtime Version: {} Log Stream: {stream}",
            bp.runtime_label
        )));
        let mut pumps = Vec::with_capacity(2);
        if let Some(out) = child.stdout.take() {
            pumps.push(logs::pump(out, log.clone()));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(logs::pump(err, log.clone()));
        }
        let (exit_tx, exit_rx) = watch::channel(None);
        tokio::spawn(async move {
            let status = child.wait().await;
            let text = match status {
                Ok(s) => describe_exit(s),
                Err(e) => format!("wait failed: {e}"),
            };
            let _ = exit_tx.send(Some(text));
        });
        live.fetch_add(1, Ordering::AcqRel);
        let now = Instant::now();
        let inst = Arc::new(Self {
            state: AtomicU8::new(BUSY),
            last_used: AtomicU64::new(0),
            epoch: now,
            tx,
            pid,
            exit: exit_rx,
            log,
            pumps,
            cgroup,
            api_task,
            spawned_at: now,
            dead: AtomicBool::new(false),
            live,
            memory_mb: bp.memory_mb,
            timeout: bp.timeout,
            max_age: bp
                .session
                .as_ref()
                .map(crate::credentials::Session::max_age),
        });
        Self::reaper(Arc::downgrade(&inst), bp.idle_timeout);
        Ok(inst)
    }

    /// Retires the instance once it has been idle for `idle`.
    fn reaper(weak: Weak<Self>, idle: Duration) {
        tokio::spawn(async move {
            let mut wait = idle;
            loop {
                tokio::time::sleep(wait).await;
                let Some(inst) = weak.upgrade() else { return };
                if inst.dead.load(Ordering::Acquire) {
                    return;
                }
                let idle_for = inst.idle_for();
                if inst.state.load(Ordering::Acquire) != IDLE {
                    // Busy: it cannot be idle for `idle` before that long from now.
                    wait = idle;
                } else if idle_for >= idle {
                    if inst
                        .state
                        .compare_exchange(IDLE, GONE, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        inst.kill();
                        return;
                    }
                    wait = idle;
                } else {
                    wait = (idle - idle_for).max(Duration::from_millis(5));
                }
            }
        });
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_used.load(Ordering::Acquire));
        self.epoch.elapsed().saturating_sub(last)
    }

    /// Takes an idle instance for an invocation. False if it was retired meanwhile, or is
    /// retired now because its credentials are about to expire.
    pub(crate) fn try_acquire(&self) -> bool {
        if self
            .max_age
            .is_some_and(|age| self.spawned_at.elapsed() >= age)
        {
            if self
                .state
                .compare_exchange(IDLE, GONE, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.kill();
            }
            return false;
        }
        self.state
            .compare_exchange(IDLE, BUSY, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Marks a busy instance idle again.
    pub(crate) fn release(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_used.store(now, Ordering::Release);
        let _ = self
            .state
            .compare_exchange(BUSY, IDLE, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Kills the process group (idempotent).
    pub(crate) fn kill(&self) {
        self.state.store(GONE, Ordering::Release);
        if self.dead.swap(true, Ordering::AcqRel) {
            return;
        }
        self.live.fetch_sub(1, Ordering::AcqRel);
        if let Ok(pid) = i32::try_from(self.pid)
            && pid > 0
        {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        self.api_task.abort();
    }

    fn max_memory_used_mb(&self) -> u64 {
        let bytes = self
            .cgroup
            .as_ref()
            .and_then(InstanceCgroup::peak)
            .or_else(|| peak_rss(self.pid))
            .unwrap_or(0);
        bytes.div_ceil(1024 * 1024)
    }

    /// Runs one invocation. Returns its result and whether the instance can serve again.
    pub(crate) async fn run(
        &self,
        req: &InvokeRequest,
        request_id: String,
        cold: bool,
    ) -> (InvokeResult, bool) {
        let (started_tx, started_rx) = oneshot::channel();
        let (reply_tx, mut reply_rx) = oneshot::channel();
        let dispatch = Dispatch {
            request_id: request_id.clone(),
            payload: if req.payload.is_empty() {
                Bytes::from_static(b"{}")
            } else {
                req.payload.clone()
            },
            timeout: self.timeout,
            trace_id: req.trace_id.clone().unwrap_or_else(new_trace_id),
            client_context: req.client_context.clone(),
            cognito_identity: req.cognito_identity.clone(),
            started: started_tx,
            reply: reply_tx,
        };
        let mut exit = self.exit.clone();
        let begin = Instant::now();
        let mut init_duration = None;
        let mut alive = true;
        let mut duration = Duration::ZERO;
        let mut content_type = None;

        let outcome = 'run: {
            if self.tx.send(dispatch).await.is_err() {
                alive = false;
                break 'run self.crash_outcome(&request_id);
            }
            // Phase 1: the runtime takes the event (after its init on a cold start).
            let budget = if cold {
                self.timeout.max(Duration::from_secs(10))
            } else {
                self.timeout
            };
            /// How phase 1 ended.
            enum Taken {
                Started(crate::invocation::Deadline),
                Answered(Option<RuntimeReply>),
                Crashed,
                TimedOut,
            }
            let taken = tokio::select! {
                biased;
                r = &mut reply_rx => Taken::Answered(r.ok()),
                d = started_rx => d.map_or(Taken::Crashed, Taken::Started),
                _ = exit.wait_for(Option::is_some) => Taken::Crashed,
                () = tokio::time::sleep(budget) => Taken::TimedOut,
            };
            let deadline = match taken {
                Taken::Started(d) => d,
                Taken::Answered(r) => {
                    alive = false;
                    self.log_start(&request_id, req.azure.clone()).await;
                    break 'run self.reply_outcome(r, &request_id, &mut alive, &mut content_type);
                }
                Taken::Crashed => {
                    alive = false;
                    self.log_start(&request_id, req.azure.clone()).await;
                    break 'run self.crash_outcome(&request_id);
                }
                Taken::TimedOut => {
                    alive = false;
                    self.log_start(&request_id, req.azure.clone()).await;
                    break 'run self.timeout_outcome(&request_id, req.azure.as_ref());
                }
            };
            if cold {
                init_duration =
                    Some(begin.saturating_duration_since(self.spawned_at) + begin.elapsed());
            }
            self.log_start(&request_id, req.azure.clone()).await;
            let invoked = Instant::now();
            // Phase 2: the handler runs until the deadline.
            let o = tokio::select! {
                biased;
                r = &mut reply_rx => self.reply_outcome(r.ok(), &request_id, &mut alive, &mut content_type),
                _ = exit.wait_for(Option::is_some) => {
                    alive = false;
                    self.crash_outcome(&request_id)
                }
                () = tokio::time::sleep_until(deadline.at) => {
                    alive = false;
                    self.timeout_outcome(&request_id, req.azure.as_ref())
                }
            };
            duration = invoked.elapsed();
            o
        };
        if !alive {
            self.kill();
        }
        let report = Report {
            duration,
            memory_mb: self.memory_mb,
            max_memory_used_mb: self.max_memory_used_mb(),
            init_duration,
        };
        let (logs_tx, logs_rx) = if req.want_logs {
            let (t, r) = oneshot::channel();
            (Some(t), Some(r))
        } else {
            (None, None)
        };
        // What the runtime printed before it answered belongs to this invocation.
        for p in &self.pumps {
            p.sync().await;
        }
        self.log
            .write(
                LogMsg::End {
                    request_id: request_id.clone(),
                    report,
                    azure: req.azure.clone(),
                    failed: outcome.is_error(),
                    logs: logs_tx,
                },
                PATIENCE,
            )
            .await;
        let logs = match logs_rx {
            Some(rx) => tokio::time::timeout(Duration::from_millis(500), rx)
                .await
                .ok()
                .and_then(Result::ok),
            None => None,
        };
        (
            InvokeResult {
                request_id,
                outcome,
                logs,
                cold_start: cold,
                init_duration,
                duration,
                content_type,
            },
            alive,
        )
    }

    async fn log_start(&self, request_id: &str, azure: Option<crate::invocation::AzureLabel>) {
        let start = LogMsg::Start {
            request_id: request_id.to_owned(),
            azure,
        };
        self.log.write(start, PATIENCE).await;
    }

    fn reply_outcome(
        &self,
        reply: Option<RuntimeReply>,
        request_id: &str,
        alive: &mut bool,
        content_type: &mut Option<String>,
    ) -> Outcome {
        match reply {
            Some(RuntimeReply::Response {
                body,
                content_type: ct,
            }) => {
                *content_type = ct;
                Outcome::Success(body)
            }
            Some(RuntimeReply::Error { error_type, body }) => Outcome::FunctionError {
                error_type,
                payload: body,
            },
            Some(RuntimeReply::InitError { error_type, body }) => {
                *alive = false;
                self.log.try_write(LogMsg::Platform(format!(
                    "INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: error\tError Type: {error_type}",
                    self.spawned_at.elapsed().as_secs_f64() * 1000.0
                )));
                Outcome::FunctionError {
                    error_type,
                    payload: body,
                }
            }
            None => {
                *alive = false;
                self.crash_outcome(request_id)
            }
        }
    }

    fn crash_outcome(&self, request_id: &str) -> Outcome {
        let how = self
            .exit
            .borrow()
            .clone()
            .unwrap_or_else(|| "the runtime stopped answering".into());
        let used = self.max_memory_used_mb();
        let error_type = if used + 2 >= u64::from(self.memory_mb)
            || how.contains("killed") && self.cgroup.is_some()
        {
            "Runtime.OutOfMemory"
        } else {
            "Runtime.ExitError"
        };
        let message = format!("Runtime exited with error: {how}");
        self.log.try_write(LogMsg::Platform(format!(
            "RequestId: {request_id} Error: {message}\n{error_type}"
        )));
        Outcome::platform_error(error_type, request_id, &message)
    }

    fn timeout_outcome(
        &self,
        request_id: &str,
        azure: Option<&crate::invocation::AzureLabel>,
    ) -> Outcome {
        let secs = self.timeout.as_secs_f64();
        let line = match azure {
            Some(a) => {
                let s = self.timeout.as_secs();
                format!(
                    "Timeout value of {:02}:{:02}:{:02} exceeded by function '{}' (Id: '{request_id}'). Initiating cancellation.",
                    s / 3600,
                    (s / 60) % 60,
                    s % 60,
                    a.function
                )
            }
            None => {
                let ts = time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                format!("{ts} {request_id} Task timed out after {secs:.2} seconds")
            }
        };
        self.log.try_write(LogMsg::Platform(line));
        Outcome::platform_error(
            "Sandbox.Timedout",
            request_id,
            &format!("Task timed out after {secs:.2} seconds"),
        )
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}
