//! `meridian up` on the course's examples, as a user runs it: the binary, real replicas,
//! the admin API, `meridian ps`, a live config change, an invalid change refused, and a
//! clean stop with no process left behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod observe_support;

use observe_support::{FREE_PORTS, copy_dir, spawn_up};

fn meridian() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meridian"))
}

/// A running `meridian up`, stopped (SIGTERM) when dropped.
struct Up {
    child: Child,
    dir: PathBuf,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every stdout line read so far.
    seen: Vec<String>,
}

impl Up {
    fn start(dir: &Path, extra: &[&str]) -> Up {
        let (child, lines) = spawn_up(meridian(), dir, "examples", extra);
        Up {
            child,
            dir: dir.to_path_buf(),
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (bounded) for a stdout line containing `needle`, skipping earlier lines.
    fn wait_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    panic!("no {needle:?} within 60s")
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let stderr =
                        std::fs::read_to_string(self.dir.join("up.stderr")).unwrap_or_default();
                    panic!("meridian up exited before printing {needle:?}; its stderr:\n{stderr}")
                }
            }
        }
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

/// A GET over plain HTTP/1.1 with a Host header; returns status and body.
fn get(addr: &str, host: &str, headers: &[(&str, &str)]) -> (u16, String) {
    get_path(addr, "/", host, headers)
}

fn get_path(addr: &str, path: &str, host: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Whether the line holds Rust's Debug form of a struct: `Name { field: ...`.
fn struct_dump(line: &str) -> bool {
    line.match_indices(" { ").any(|(i, _)| {
        let name = line[..i].rsplit(|c: char| !c.is_alphanumeric()).next();
        let field = line[i + 3..].split(": ").next();
        name.is_some_and(|n| n.starts_with(|c: char| c.is_ascii_uppercase()))
            && field.is_some_and(|f| {
                !f.is_empty() && f.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })
    })
}

#[test]
fn struct_dumps_are_recognised() {
    assert!(struct_dump(
        "INFO ready ca=CertificateAuthority { trust_domain: \"cluster.local\" }"
    ));
    assert!(!struct_dump("applied revision 2: 1 created"));
    assert!(!struct_dump("spec: { ports: [80] }"));
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
    let gateway_line = up.wait_line("gateway");
    let gateway = gateway_line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("gateway address")
        .to_owned();
    let function_line = up.wait_line("(GET /hello -> MyFunction)");
    let hello = function_line
        .split_whitespace()
        .nth(1)
        .and_then(|u| u.strip_prefix("http://"))
        .expect("function URL")
        .to_owned();
    let (api, path) = hello.split_once('/').expect("host/path");
    let path = format!("/{path}");
    // The course's Front Door, in front of both regions' gateways.
    let frontdoor_line = up.wait_line("  frontdoor ");
    assert!(
        frontdoor_line.contains("app-eastus.azurewebsites.net -> us-east-1 gateway 127.0.0.1:")
            && frontdoor_line
                .contains("app-westus.azurewebsites.net -> us-west-1 gateway 127.0.0.1:"),
        "{frontdoor_line}"
    );
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

    // The course's Gateway: myapp.example.com reaches myapp, another host gets Envoy's 404.
    let (status, body) = get(&gateway, "myapp.example.com", &[]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"service\":\"myapp\""), "{body}");
    let (status, _) = get(&gateway, "other.example.com", &[]);
    assert_eq!(status, 404);

    // Inside the mesh, the course's VirtualService applies: premium users reach v2.
    let app = ps
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["workload"]["name"] == "app")
        .expect("app");
    let environ = std::fs::read(format!("/proc/{}/environ", app["pid"])).expect("environ");
    let env: Vec<String> = environ
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    let sidecar = env
        .iter()
        .find_map(|v| v.strip_prefix("MYAPP_SERVICE_PORT="))
        .expect("MYAPP_SERVICE_PORT in the replica's environment");
    assert!(
        env.iter()
            .any(|v| v.starts_with("HTTP_PROXY=http://127.0.0.1:")),
        "{env:?}"
    );
    for _ in 0..20 {
        let (status, body) = get(
            &format!("127.0.0.1:{sidecar}"),
            "myapp",
            &[("user-type", "premium")],
        );
        assert_eq!(status, 200);
        assert!(
            body.contains("\"version\":\"v2\""),
            "premium went to {body}"
        );
    }

    // The course's Lambda function, unmodified, behind its API (through the gateway).
    let (status, body) = get_path(api, &path, "localhost", &[]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Hello from Lambda!"), "{body}");
    // A file that is no configuration, written into a watched folder, makes no revision.
    std::fs::write(up.dir.join("examples/mesh/notes.log"), "a log line\n").expect("write");
    std::thread::sleep(Duration::from_secs(1));
    // Editing the handler's code reaches new invocations.
    let handler = up.dir.join("examples/lambda/app/index.js");
    let code = std::fs::read_to_string(&handler).expect("read");
    std::fs::write(&handler, code.replace("Hello from Lambda!", "Hello again!")).expect("write");
    let applied = up.wait_line("applied revision");
    assert!(applied.starts_with("applied revision 2: "), "{applied}");
    let (status, body) = get_path(api, &path, "localhost", &[]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Hello again!"), "{body}");

    // A valid change rolls out; an invalid one is refused and the old revision keeps serving.
    let deploy = up.dir.join("examples/mesh/app-deployment.yaml");
    let text = std::fs::read_to_string(&deploy).expect("read");
    std::fs::write(&deploy, text.replacen("replicas: 1\n", "replicas: 2\n", 1)).expect("write");
    up.wait_line("applied revision 3");
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
    // Output to files is for people: no colour codes, no struct dumps.
    let stderr = std::fs::read_to_string(up.dir.join("up.stderr")).expect("stderr");
    for line in stderr.lines().chain(up.seen.iter().map(String::as_str)) {
        assert!(!line.contains('\x1b'), "escape code in {line:?}");
        assert!(!struct_dump(line), "struct dump in {line:?}");
    }
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

/// Kinds Meridian does not run are warnings for `up` (it starts), and `--strict` refuses them
/// before anything starts.
#[test]
fn strict_up_refuses_kinds_it_does_not_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("job.yaml"),
        "apiVersion: batch/v1\n\
         kind: Job\n\
         metadata: {name: web}\n\
         spec: {}\n",
    )
    .expect("write");
    let mut child = meridian()
        .current_dir(dir.path())
        .args(["up", "job.yaml", "--strict"])
        .args(FREE_PORTS)
        .args(["--state-dir", "state"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn meridian up");
    // Bounded: a node that started instead of refusing is stopped and the test fails.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let status = status.expect("meridian up --strict kept running");
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("job.yaml:2:7: Job/web: kind: Job is not run"),
        "{stderr}"
    );
    assert!(stderr.contains("refusing to start"), "{stderr}");
}
