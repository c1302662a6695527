//! What the tables' and the buckets' test harnesses share: the test key, finding the real
//! clients (a missing one skips a test, except under CI), their environment, and the
//! plane's binary as a process of its own.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[allow(unused_imports)] // not every test binary that includes this module uses it
pub use meridian_testkit::{missing, tool};

pub const ACCESS_KEY: &str = "AKIDTESTKEY";
pub const SECRET_KEY: &str = "test/secret/key";

/// Whether python3 can import boto3 (a failure under CI when it cannot).
pub fn boto3() -> Option<PathBuf> {
    let python = tool("python3", "apt-get install python3")?;
    let ok = Command::new(&python)
        .args(["-c", "import boto3"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        missing("boto3 is not importable (pip install boto3; .ci/install-test-deps installs it)");
        return None;
    }
    Some(python)
}

/// The environment every AWS client gets: the test key, a region, no shared config.
pub fn aws_env(cmd: &mut Command, home: &Path) {
    meridian_testkit::aws_env(cmd, home, ACCESS_KEY, SECRET_KEY);
}

/// Runs a Python script with boto3 pointed at `url` (`ENDPOINT`); returns its stdout, panics
/// with its stderr when it fails.
pub async fn run_python(python: &Path, url: &str, script: &str) -> String {
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(script).env("ENDPOINT", url);
    aws_env(&mut cmd, home.path());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed:\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A plane's binary (`meridian-tables`, `meridian-buckets`) as a process of its own.
pub struct Process {
    pub child: Child,
    pub url: String,
    /// The buckets endpoint a process serves beside its tables, when it says.
    pub buckets: Option<String>,
}

impl Process {
    /// Starts `program` on `state` with the test key and `flags`, and waits (bounded) for
    /// its `listening` line.
    pub fn spawn(program: &str, state: &Path, flags: &[&str]) -> Self {
        let name = Path::new(program)
            .file_name()
            .map_or_else(|| program.to_owned(), |n| n.to_string_lossy().into_owned());
        let mut child = Command::new(program)
            .arg("--state-dir")
            .arg(state)
            .arg("--key")
            .arg(format!("{ACCESS_KEY}:{SECRET_KEY}"))
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buckets = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("buckets ") {
                    buckets = Some(url.to_owned());
                }
                if let Some(url) = line.strip_prefix("listening ") {
                    let _ = tx.send((url.to_owned(), buckets.take()));
                }
            }
        });
        let (url, buckets) = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{name} did not start within 30 s"));
        Self {
            child,
            url,
            buckets,
        }
    }

    /// `kill -9`, and wait for the process to be gone.
    pub fn kill9(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("kill -9");
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
