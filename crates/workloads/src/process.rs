//! Starting and stopping replica processes.
//!
//! Every process is the leader of its own process group, so a stop reaches the children it
//! forked too. Every process also gets `PR_SET_PDEATHSIG(SIGKILL)`: if Meridian dies, even by
//! SIGKILL, the kernel kills its replicas. The parent-death signal fires when the *thread*
//! that forked the child ends, not the process, so all forks happen on one dedicated thread
//! that lives as long as the supervisor; and the child re-checks its parent after `prctl`,
//! in case Meridian died between `fork` and `prctl`.
//!
//! The parent-death signal reaches only the process Meridian forked, not the children *it*
//! forks (a shell running `sleep`). For those, a watchdog (`/bin/sh`, in its own process
//! group) reads a pipe whose other end only Meridian holds: when Meridian dies, however it
//! dies, the kernel closes the pipe and the watchdog kills every process group listed in
//! `<state>/process-groups`, which the supervisor keeps current.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

struct Job {
    cmd: Command,
    reply: oneshot::Sender<io::Result<Child>>,
}

/// Kills the listed process groups when Meridian dies (see the module docs).
#[derive(Debug)]
pub(crate) struct Watchdog {
    file: PathBuf,
    groups: Mutex<BTreeSet<u32>>,
    /// Held, never written: its closing is the signal.
    _pipe: Option<std::process::ChildStdin>,
    _child: Option<std::process::Child>,
}

/// The watchdog's script: wait for end of input, then kill every listed group, then its
/// own group.
const WATCHDOG: &str = "while read -r _; do :; done; for g in $(cat \"$1\" 2>/dev/null); do kill -9 -\"$g\" 2>/dev/null; done";

impl Watchdog {
    fn start(state_dir: &Path) -> Self {
        use std::os::unix::process::CommandExt;
        let file = state_dir.join("process-groups");
        let _ = std::fs::write(&file, "");
        let child = std::process::Command::new("/bin/sh")
            .args(["-c", WATCHDOG, "meridian-watchdog"])
            .arg(&file)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn();
        let (pipe, child) = match child {
            Ok(mut c) => (c.stdin.take(), Some(c)),
            Err(e) => {
                tracing::warn!(
                    "no watchdog for replicas' own children (cannot run /bin/sh: {e}); a SIGKILL of Meridian may leave them running"
                );
                (None, None)
            }
        };
        Self {
            file,
            groups: Mutex::new(BTreeSet::new()),
            _pipe: pipe,
            _child: child,
        }
    }

    fn write(&self, groups: &BTreeSet<u32>) {
        let text: String = groups.iter().map(|g| format!("{g}\n")).collect();
        let tmp = self.file.with_extension("tmp");
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &self.file);
        }
    }

    fn add(&self, pgid: u32) {
        if let Ok(mut g) = self.groups.lock() {
            g.insert(pgid);
            self.write(&g);
        }
    }

    fn remove(&self, pgid: u32) {
        if let Ok(mut g) = self.groups.lock() {
            g.remove(&pgid);
            self.write(&g);
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(c) = self._child.as_mut() {
            // Closing the pipe ends it; reap it so it is not left a zombie.
            self._pipe = None;
            let _ = c.wait();
        }
    }
}

/// A running process group. Dropping it kills whatever is left of the group (a container
/// ends with its main process) and forgets it.
#[derive(Debug)]
pub(crate) struct Group {
    pgid: u32,
    watchdog: Arc<Watchdog>,
}

impl Drop for Group {
    fn drop(&mut self) {
        signal_group(self.pgid, Signal::SIGKILL);
        self.watchdog.remove(self.pgid);
    }
}

/// Enforces a container's `resources.limits.memory` (or a Compose service's
/// `deploy.resources.limits.memory`) as `RLIMIT_DATA` on its process and what it starts:
/// past the limit allocations fail and the program reports it (Python's `MemoryError`,
/// Node's "heap out of memory"), where Kubernetes' cgroup would OOM-kill it.
pub(crate) fn limit_memory(cmd: &mut Command, bytes: u64) {
    crate::pre_exec::limit_data(cmd, bytes);
}

/// Forks processes from one long-lived thread (see the module docs).
#[derive(Debug)]
pub(crate) struct Spawner {
    jobs: std::sync::Mutex<mpsc::Sender<Job>>,
    watchdog: Arc<Watchdog>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").finish_non_exhaustive()
    }
}

impl Spawner {
    /// Starts the spawner thread, which forks within the given runtime (children are reaped
    /// by it). The thread ends when the spawner is dropped.
    pub(crate) fn start(handle: tokio::runtime::Handle, state_dir: &Path) -> io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("meridian-spawner".into())
            .spawn(move || {
                let _runtime = handle.enter();
                while let Ok(mut job) = rx.recv() {
                    let child = job.cmd.spawn();
                    let _ = job.reply.send(child);
                }
            })?;
        Ok(Self {
            jobs: std::sync::Mutex::new(tx),
            watchdog: Arc::new(Watchdog::start(state_dir)),
        })
    }

    /// Starts `cmd` as the leader of a new process group that dies with Meridian; the
    /// group is killed when the returned [`Group`] is dropped.
    pub(crate) async fn spawn(&self, mut cmd: Command) -> io::Result<(Child, Group)> {
        cmd.process_group(0).kill_on_drop(true);
        crate::pre_exec::die_with_parent(&mut cmd);
        crate::pre_exec::restore_open_files(&mut cmd);
        let (reply, rx) = oneshot::channel();
        {
            let jobs = self
                .jobs
                .lock()
                .map_err(|_| io::Error::other("spawner lock poisoned"))?;
            jobs.send(Job { cmd, reply })
                .map_err(|_| io::Error::other("the spawner thread has stopped"))?;
        }
        let child = rx
            .await
            .map_err(|_| io::Error::other("the spawner thread has stopped"))??;
        let pgid = child.id().unwrap_or(0);
        self.watchdog.add(pgid);
        Ok((
            child,
            Group {
                pgid,
                watchdog: self.watchdog.clone(),
            },
        ))
    }
}

/// Sends a signal to a process group; a group that is already gone is not an error.
pub(crate) fn signal_group(pgid: u32, sig: Signal) {
    // 0 would mean our own group, 1 init: never a replica.
    if pgid <= 1 {
        return;
    }
    if let Ok(p) = i32::try_from(pgid) {
        let _ = killpg(Pid::from_raw(p), sig);
    }
}

/// Parses a signal name (`SIGTERM`).
pub(crate) fn parse_signal(name: &str) -> Signal {
    name.parse().unwrap_or(Signal::SIGTERM)
}

/// How a stop went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// It exited within the grace period.
    Gracefully(ExitStatus),
    /// It had to be killed.
    Killed(ExitStatus),
}

/// Stops a process group: `sig`, then SIGKILL after `grace`; reaps the leader and kills any
/// member still left.
pub(crate) async fn terminate(
    child: &mut Child,
    sig: Signal,
    grace: Duration,
) -> io::Result<Stopped> {
    let Some(pgid) = child.id() else {
        // Already reaped.
        return child.wait().await.map(Stopped::Gracefully);
    };
    signal_group(pgid, sig);
    let result = match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status.map(Stopped::Gracefully),
        Err(_) => {
            signal_group(pgid, Signal::SIGKILL);
            child.wait().await.map(Stopped::Killed)
        }
    };
    signal_group(pgid, Signal::SIGKILL);
    result
}

/// `exit 3`, `killed by SIGKILL`.
pub(crate) fn describe_exit(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => match Signal::try_from(s) {
            Ok(sig) => format!("killed by {}", sig.as_str()),
            Err(_) => format!("killed by signal {s}"),
        },
        _ => "exited".into(),
    }
}
