//! Harness for the observability tests: a real `meridian up` on manifests in a temporary
//! folder, plain HTTP/1.1 clients, outside programs found on PATH (skipped with a message,
//! or a failure when `CI` is set), and bounded waits.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[allow(unused_imports)] // not every test binary that includes this module uses it
pub(crate) use meridian_testkit::tool;

/// The binary under test.
pub(crate) fn meridian() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meridian"))
}

/// Every listener of `meridian up` on a free port, so that tests running at once never share
/// one; the functions' gateways too (a test's own `--gateway-port` for them comes later and
/// wins).
pub(crate) const FREE_PORTS: &[&str] = &[
    "--admin-addr",
    "127.0.0.1:0",
    "--dynamodb-addr",
    "127.0.0.1:0",
    "--s3-addr",
    "127.0.0.1:0",
    "--dns-addr",
    "127.0.0.1:0",
    "--cdn-addr",
    "127.0.0.1:0",
    "--cdn-https-addr",
    "127.0.0.1:0",
    "--frontdoor-addr",
    "127.0.0.1:0",
    "--frontdoor-https-addr",
    "127.0.0.1:0",
    "--cloudfront-addr",
    "127.0.0.1:0",
    "--gateway-port",
    "80=0",
    "--gateway-port",
    "3000=0",
    "--gateway-port",
    "7071=0",
];

/// Spawns `cmd up PATH` in `dir` with [`FREE_PORTS`] and `extra`, its stderr in
/// `dir/up.stderr`; returns the child and its stdout, line by line.
pub(crate) fn spawn_up(
    mut cmd: Command,
    dir: &Path,
    path: &str,
    extra: &[&str],
) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = cmd
        .current_dir(dir)
        .args(["up", path])
        .args(FREE_PORTS)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("up.stderr")).expect("stderr file"))
        .spawn()
        .expect("spawn meridian up");
    let lines = stdout_lines(&mut child);
    (child, lines)
}

/// The child's stdout (piped), line by line, read on a thread of its own so that a test can
/// wait for a line with a deadline.
pub(crate) fn stdout_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// Polls `f` until it gives a value, for at most `limit`; a failure naming `what` then.
pub(crate) fn eventually<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Copies a folder, keeping each file's modification time: the node compares a lock
/// file's with npm's record of the install (`node_modules/.package-lock.json`), and an
/// install done by `.ci/install-test-deps` must still count in the copy.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        let ty = e.file_type().expect("type");
        if ty.is_dir() {
            copy_dir(&e.path(), &dest);
        } else if ty.is_symlink() {
            let target = std::fs::read_link(e.path()).expect("readlink");
            std::os::unix::fs::symlink(target, &dest).expect("symlink");
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
            let modified = e.metadata().and_then(|m| m.modified()).expect("mtime");
            std::fs::File::options()
                .write(true)
                .open(&dest)
                .and_then(|f| f.set_modified(modified))
                .expect("set mtime");
        }
    }
}

/// The course's examples, copied into `dir/examples`.
pub(crate) fn course_examples(dir: &Path) -> PathBuf {
    let to = dir.join("examples");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples"),
        &to,
    );
    to
}

/// A running `meridian up`, killed when dropped.
pub(crate) struct Up {
    pub(crate) child: Child,
    pub(crate) dir: PathBuf,
    pub(crate) gateway: String,
    pub(crate) admin: String,
    /// The stdout lines read so far (the banner first).
    pub(crate) banner: Vec<String>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Up {
    /// The first `scheme` address (`http://`, `https://`) on the banner line containing
    /// `needle`.
    pub(crate) fn banner_address(&self, needle: &str, scheme: &str) -> String {
        let line = self
            .banner
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in the banner: {:#?}", self.banner));
        line.split(|c: char| c.is_whitespace() || c == ';' || c == ')')
            .find(|w| w.starts_with(scheme))
            .unwrap_or_else(|| panic!("no {scheme} address in {line}"))
            .to_owned()
    }

    /// The node's access key, as a user finds it: in the file the banner's `dynamodb` line
    /// names.
    pub(crate) fn access_key(&self) -> (String, String) {
        let line = self
            .banner
            .iter()
            .find(|l| l.contains("  dynamodb "))
            .expect("dynamodb line");
        let file = line
            .split("secrets in ")
            .nth(1)
            .and_then(|r| r.strip_suffix(')'))
            .expect("the key file");
        let keys: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.dir.join(file)).expect("key file"))
                .expect("json");
        let field = |f: &str| keys["keys"][0][f].as_str().expect(f).to_owned();
        (field("access_key_id"), field("secret_access_key"))
    }

    /// Starts `meridian up PATH` in `dir` with free admin and gateway ports, and waits for
    /// its banner.
    pub(crate) fn start(dir: &Path, path: &str, extra: &[&str]) -> Up {
        Up::start_with(meridian(), dir, path, extra)
    }

    /// As [`Up::start`], pinned to one CPU with `taskset` (its replicas inherit it).
    pub(crate) fn start_pinned(dir: &Path, path: &str, extra: &[&str], cpu: u32) -> Up {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", &cpu.to_string(), env!("CARGO_BIN_EXE_meridian")]);
        Up::start_with(cmd, dir, path, extra)
    }

    fn start_with(cmd: Command, dir: &Path, path: &str, extra: &[&str]) -> Up {
        let (child, lines) = spawn_up(cmd, dir, path, extra);
        let mut up = Up {
            child,
            dir: dir.to_path_buf(),
            gateway: String::new(),
            admin: String::new(),
            banner: Vec::new(),
            lines,
        };
        let addr = |line: &str| {
            line.split("http://")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .expect("address")
                .to_owned()
        };
        up.wait_line("watching for changes");
        let banner = up.banner.clone();
        let line = |needle: &str| banner.iter().find(|l| l.contains(needle)).cloned();
        up.gateway = line("  gateway ").map(|l| addr(&l)).unwrap_or_default();
        up.admin = addr(&line("  admin ").expect("the banner names the admin address"));
        up
    }

    /// Waits (bounded) for a stdout line containing `needle`; every line read is kept in
    /// `banner`.
    pub(crate) fn wait_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => {
                    self.banner.push(line.clone());
                    return line;
                }
                Ok(line) => self.banner.push(line),
                Err(e) => panic!(
                    "no {needle:?} from meridian up within 60s: {e}\n{}",
                    std::fs::read_to_string(self.dir.join("up.stderr")).unwrap_or_default()
                ),
            }
        }
    }

    /// Runs a CLI command against this node; returns stdout (panics on failure).
    pub(crate) fn cli(&self, args: &[&str]) -> String {
        let out = meridian()
            .current_dir(&self.dir)
            .args(args)
            .output()
            .expect("run meridian");
        assert!(
            out.status.success(),
            "meridian {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.cli(&a)).expect("json")
    }

    /// The ready replicas of `workload`, as `meridian ps -o json` lists them.
    pub(crate) fn ready_replicas(&self, workload: &str) -> Vec<serde_json::Value> {
        self.cli_json(&["ps"])
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r["workload"]["name"] == workload && r["ready"] == true)
            .collect()
    }

    /// The resident memory of the `meridian up` process, in KiB.
    pub(crate) fn rss_kb(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
            })
            .unwrap_or(0)
    }

    /// Waits until each `(workload, n)` has `n` ready replicas and the data plane has caught
    /// up with them (routing and inbound sidecars: `endpoints.synced`).
    pub(crate) fn wait_ready(&self, wanted: &[(&str, u64)]) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let status: serde_json::Value =
                serde_json::from_str(&get(&self.admin, "/api/v1/status", &[]).1)
                    .unwrap_or_default();
            let ready = |name: &str| {
                status["workloads"]
                    .as_array()
                    .and_then(|ws| {
                        ws.iter()
                            .find(|w| w["workload"]["name"] == name)
                            .and_then(|w| w["ready"].as_u64())
                    })
                    .unwrap_or(0)
            };
            if wanted.iter().all(|(w, n)| ready(w) >= *n) && status["endpoints"]["synced"] == true {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "workloads not ready (or the data plane not in sync) after 90s: {status:#}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The local port a workload's replica uses for `service` (its
    /// `<SERVICE>_SERVICE_PORT`, a sidecar upstream port).
    pub(crate) fn sidecar_port(&self, workload: &str, service: &str) -> String {
        let ps = self.cli_json(&["ps"]);
        let pid = ps
            .as_array()
            .expect("array")
            .iter()
            .find(|r| r["workload"]["name"] == workload && r["pid"].is_u64())
            .and_then(|r| r["pid"].as_u64())
            .expect("a running replica");
        let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
        let var = format!(
            "{}_SERVICE_PORT=",
            service.to_ascii_uppercase().replace('-', "_")
        );
        environ
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .find_map(|v| v.strip_prefix(&var).map(str::to_owned))
            .unwrap_or_else(|| panic!("{var} in the environment of {workload}"))
    }

    /// A variable of a running replica's environment.
    pub(crate) fn env_of(&self, workload: &str, var: &str) -> String {
        let ps = self.cli_json(&["ps"]);
        let pid = ps
            .as_array()
            .expect("array")
            .iter()
            .find(|r| r["workload"]["name"] == workload && r["pid"].is_u64())
            .and_then(|r| r["pid"].as_u64())
            .expect("a running replica");
        let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
        let prefix = format!("{var}=");
        environ
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .find_map(|v| v.strip_prefix(&prefix).map(str::to_owned))
            .unwrap_or_else(|| panic!("{var} in the environment of {workload}"))
    }

    /// `/metrics` of this node.
    pub(crate) fn metrics(&self) -> String {
        let (status, body) = get(&self.admin, "/metrics", &[]);
        assert_eq!(status, 200);
        body
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        // SIGTERM first so replicas are stopped; then make sure.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET over HTTP/1.1 to `addr` with a Host header (the address itself unless given);
/// returns status and body.
pub(crate) fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut req = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).into_owned();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Sends `n` GETs spread over `threads` keep-alive connections; returns how many got each
/// status.
pub(crate) fn load(
    addr: &str,
    host: &str,
    n: usize,
    threads: usize,
) -> std::collections::BTreeMap<u16, usize> {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let addr = addr.to_owned();
            let host = host.to_owned();
            let count = n / threads + usize::from(t < n % threads);
            std::thread::spawn(move || {
                let mut seen = std::collections::BTreeMap::new();
                for _ in 0..count {
                    let (status, _) = get(&addr, "/", &[("Host", &host)]);
                    *seen.entry(status).or_insert(0) += 1;
                }
                seen
            })
        })
        .collect();
    let mut total = std::collections::BTreeMap::new();
    for h in handles {
        for (k, v) in h.join().expect("load thread") {
            *total.entry(k).or_insert(0) += v;
        }
    }
    total
}

/// The value of a sample line whose labels include all of `labels`.
pub(crate) fn sample_sum(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// A Service (port 80 to the replicas' 3000) and a one-replica Deployment of the demo app
/// named `name` (labels `app: name`, `version: v1`), with these extra demo-app flags.
pub(crate) fn demo_service(name: &str, flags: &[&str]) -> String {
    let mut command = vec!["meridian", "demo-app", "--service", name];
    command.extend_from_slice(flags);
    // A JSON array is a YAML flow sequence.
    let command = serde_json::to_string(&command).expect("json");
    format!(
        r#"apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector:
    app: {name}
  ports:
  - port: 80
    name: http
    targetPort: 3000
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
        version: v1
    spec:
      containers:
      - name: {name}
        image: {name}:v1
        command: {command}
        ports:
        - containerPort: 3000
        # Ready once it accepts connections, as a Deployment that routes traffic at once
        # should say: without a probe a replica is ready when started, and a request sent
        # before the app listens fails over to a retry, which the tests would count.
        readinessProbe:
          tcpSocket:
            port: 3000
          periodSeconds: 1
"#
    )
}

/// A Gateway `gateway` serving `host` on port 80 and a VirtualService (named after the
/// service) routing it to `service`.
pub(crate) fn gateway_route(gateway: &str, host: &str, service: &str) -> String {
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: {gateway}
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "{host}"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {service}
spec:
  hosts:
  - "{host}"
  gateways:
  - {gateway}
  http:
  - route:
    - destination:
        host: {service}
"#
    )
}

/// The `web` demo service behind a Gateway for `web.example.com`.
pub(crate) fn web_app() -> String {
    format!(
        "{}---\n{}",
        demo_service("web", &[]),
        gateway_route("web", "web.example.com", "web")
    )
}

/// A temporary folder with `app/<file>` holding `contents` (start `meridian up` on "app").
pub(crate) fn app_dir(file: &str, contents: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(tmp.path().join("app")).expect("mkdir");
    std::fs::write(tmp.path().join("app").join(file), contents).expect("write");
    tmp
}

/// `curl -si ARGS` with the `curl` at `curl`: status, the head's text (lowercase names and
/// values), the body.
pub(crate) fn curl(curl: &Path, args: &[&str]) -> (u16, String, String) {
    let out = Command::new(curl)
        .args(["-s", "-i", "--max-time", "60"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}
