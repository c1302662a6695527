//! `meridian up` on the course's examples, as a user runs it: the binary, real replicas,
//! the admin API, `meridian ps`, a live config change, an invalid change refused, and a
//! clean stop with no process left behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn meridian() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meridian"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).expect("copy");
        }
    }
}

/// A running `meridian up`, stopped (SIGTERM) when dropped.
struct Up {
    child: Child,
    dir: PathBuf,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Up {
    fn start(dir: &Path, extra: &[&str]) -> Up {
        let mut child = meridian()
            .current_dir(dir)
            .args(["up", "examples", "--admin-addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn meridian up");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Up {
            child,
            dir: dir.to_path_buf(),
            stdout,
        }
    }

    /// Reads stdout until a line contains `needle` (bounded).
    fn wait_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut line = String::new();
        while Instant::now() < deadline {
            line.clear();
            if self.stdout.read_line(&mut line).expect("read") == 0 {
                panic!("meridian up exited before printing {needle:?}");
            }
            if line.contains(needle) {
                return line;
            }
        }
        panic!("no {needle:?} within 60s");
    }

    fn ps_json(&self) -> serde_json::Value {
        let out = meridian()
            .current_dir(&self.dir)
            .args(["ps", "-o", "json"])
            .output()
            .expect("ps");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    }

    /// Waits until `workload` has `n` ready replicas.
    fn wait_ready(&self, workload: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ps = self.ps_json();
            let ready = ps
                .as_array()
                .expect("array")
                .iter()
                .filter(|r| r["workload"]["name"] == workload && r["ready"] == true)
                .count();
            if ready == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{workload}: {ready}/{n} ready after 60s: {ps:#}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop(&mut self) -> std::process::ExitStatus {
        let _ = nix_kill(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "meridian up did not stop within 60s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nix_kill(pid: u32, sig: &str) -> std::io::Result<std::process::ExitStatus> {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
}

fn alive(pid: u64) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn up_runs_the_course_examples_and_follows_changes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples"),
        &tmp.path().join("examples"),
    );
    let mut up = Up::start(tmp.path(), &["--region", "us-east"]);
    let admin_line = up.wait_line("admin");
    assert!(admin_line.contains("http://127.0.0.1:"), "{admin_line}");
    up.wait_line("watching for changes");

    // The course's v1 (3 replicas), the v2 canary, and the Compose stack's 6 (placed here
    // because this node is in us-east).
    up.wait_ready("myapp", 3);
    up.wait_ready("myapp-v2", 1);
    up.wait_ready("app", 6);
    let ps = up.ps_json();
    let v2 = ps
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["workload"]["name"] == "myapp-v2")
        .expect("v2");
    assert_eq!(v2["version"], "v2");
    let table = meridian()
        .current_dir(&up.dir)
        .arg("ps")
        .output()
        .expect("ps");
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.starts_with("REPLICA"), "{table}");

    // A valid change rolls out; an invalid one is refused and the old revision keeps serving.
    let deploy = up.dir.join("examples/mesh/app-deployment.yaml");
    let text = std::fs::read_to_string(&deploy).expect("read");
    std::fs::write(&deploy, text.replacen("replicas: 1\n", "replicas: 2\n", 1)).expect("write");
    up.wait_line("applied revision 2");
    up.wait_ready("myapp-v2", 2);
    let vs = up.dir.join("examples/mesh/virtualservice.yaml");
    let text = std::fs::read_to_string(&vs).expect("read");
    std::fs::write(&vs, text.replace("weight: 10", "weigth: 10")).expect("write");
    std::thread::sleep(Duration::from_secs(2));
    up.wait_ready("myapp-v2", 2);

    let pids: Vec<u64> = up
        .ps_json()
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["pid"].as_u64())
        .collect();
    assert!(pids.len() >= 11, "{pids:?}");
    let status = up.stop();
    assert!(status.success(), "{status:?}");
    assert!(
        !up.dir.join(".meridian/run.json").exists(),
        "the run file is removed on stop"
    );
    let left: Vec<u64> = pids.into_iter().filter(|p| alive(*p)).collect();
    assert!(
        left.is_empty(),
        "replicas still running after stop: {left:?}"
    );
}
