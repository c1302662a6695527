//! Chaos on loopback: steady load through the gateway of a real `meridian up` to the
//! course's myapp while one replica is SIGKILLed every 10 s and a rolling update runs. The
//! client must see zero failed requests; the RSS of the Meridian process is reported at the
//! start and the end of the load.
//!
//! The short form (15 s) runs with the other tests; `MERIDIAN_CHAOS_SECS=60` lengthens it, and
//! `cargo test -p meridian --test chaos -- --ignored --nocapture` runs the full 60 s form.
//!
//! The course's files are used as they are, with one addition a user would make for this: the
//! gateway route retries (`retries: {attempts: 3, retryOn: 5xx,reset,connect-failure}`). A
//! request in flight inside a process that is SIGKILLed is lost in any mesh unless the route
//! retries resets; Istio's default policy does not.

mod observe_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use observe_support::Up;

/// A keep-alive HTTP/1.1 client that reads `Content-Length` and chunked bodies. Any error or
/// non-2xx status is a failed request.
struct Client {
    addr: String,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    fn get(&mut self, host: &str, path: &str) -> Result<u16, String> {
        if self.conn.is_none() {
            let s = TcpStream::connect(&self.addr).map_err(|e| format!("connect: {e}"))?;
            s.set_read_timeout(Some(Duration::from_secs(15)))
                .map_err(|e| e.to_string())?;
            let _ = s.set_nodelay(true);
            self.conn = Some(BufReader::new(s));
        }
        let r = self.exchange(host, path);
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    fn exchange(&mut self, host: &str, path: &str) -> Result<u16, String> {
        let conn = self.conn.as_mut().ok_or("no connection")?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        conn.get_mut()
            .write_all(req.as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let mut line = String::new();
        conn.read_line(&mut line)
            .map_err(|e| format!("read: {e}"))?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {line:?}"))?;
        let (mut length, mut chunked, mut close) = (0usize, false, false);
        loop {
            let mut h = String::new();
            conn.read_line(&mut h)
                .map_err(|e| format!("read head: {e}"))?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            } else if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
        }
        if chunked {
            loop {
                let mut size = String::new();
                conn.read_line(&mut size)
                    .map_err(|e| format!("chunk: {e}"))?;
                let n = usize::from_str_radix(size.trim(), 16).map_err(|e| e.to_string())?;
                let mut buf = vec![0; n + 2];
                conn.read_exact(&mut buf)
                    .map_err(|e| format!("chunk body: {e}"))?;
                if n == 0 {
                    break;
                }
            }
        } else {
            let mut buf = vec![0; length];
            conn.read_exact(&mut buf)
                .map_err(|e| format!("body: {e}"))?;
        }
        if close {
            self.conn = None;
        }
        Ok(status)
    }
}

fn copy_mesh_examples(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mesh");
    let dest = to.join("examples/mesh");
    std::fs::create_dir_all(&dest).expect("mkdir");
    for e in std::fs::read_dir(&from).expect("examples/mesh") {
        let e = e.expect("entry");
        let mut text = std::fs::read_to_string(e.path()).expect("read");
        if e.file_name() == "gateway.yaml" {
            text.push_str(
                "    retries:\n      attempts: 3\n      retryOn: 5xx,reset,connect-failure,refused-stream\n",
            );
        }
        std::fs::write(dest.join(e.file_name()), text).expect("write");
    }
}

fn chaos(seconds: u64) {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_mesh_examples(tmp.path());
    let up = Up::start(
        tmp.path(),
        "examples",
        &["--gateway-port", "3000=0", "--gateway-port", "7071=0"],
    );
    let gateway = up.gateway.clone();
    up.wait_ready(&[("myapp", 3), ("myapp-v2", 1)]);
    // The route answers before the load starts.
    let mut probe = Client {
        addr: gateway.clone(),
        conn: None,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while probe.get("myapp.example.com", "/") != Ok(200) {
        assert!(Instant::now() < deadline, "the gateway never answered 200");
        std::thread::sleep(Duration::from_millis(100));
    }
    let rss_start = up.rss_kb();

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed, notes, gateway) = (
                stop.clone(),
                ok.clone(),
                failed.clone(),
                first_failures.clone(),
                gateway.clone(),
            );
            std::thread::spawn(move || {
                let mut c = Client {
                    addr: gateway,
                    conn: None,
                };
                while !stop.load(Ordering::Relaxed) {
                    match c.get("myapp.example.com", "/") {
                        Ok(s) if (200..300).contains(&s) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        other => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut n) = notes.lock()
                                && n.len() < 10
                            {
                                n.push(format!("{other:?}"));
                            }
                        }
                    }
                    // Steady, not flat out: about 250 requests/s per client at most.
                    std::thread::sleep(Duration::from_millis(4));
                }
            })
        })
        .collect();

    let start = Instant::now();
    let mut next_kill = Duration::from_secs(5);
    let rollout_at = Duration::from_secs(seconds / 2);
    let mut rolled = false;
    let mut kills = 0;
    while start.elapsed() < Duration::from_secs(seconds) {
        if start.elapsed() >= next_kill {
            let victims = up.ready_replicas("myapp");
            if let Some(pid) = victims.first().and_then(|r| r["pid"].as_u64()) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                kills += 1;
                eprintln!(
                    "chaos: t={:?} SIGKILL myapp replica pid {pid}",
                    start.elapsed()
                );
            }
            next_kill += Duration::from_secs(10);
        }
        if !rolled && start.elapsed() >= rollout_at {
            up.cli(&["rollout", "restart", "myapp"]);
            eprintln!("chaos: t={:?} rolling update of myapp", start.elapsed());
            rolled = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The rolling update completes under load before the load stops.
    up.wait_ready(&[("myapp", 3)]);
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    let rss_end = up.rss_kb();
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!(
        "chaos: {seconds} s, {kills} replicas killed, one rolling update: {ok} ok, {failed} failed; \
         meridian RSS {} MB at the start, {} MB at the end",
        rss_start / 1024,
        rss_end / 1024
    );
    assert!(kills >= 1 && rolled);
    assert!(ok > 100, "too little load got through: {ok}");
    assert_eq!(
        failed,
        0,
        "the client saw failed requests: {:?}",
        first_failures.lock().map(|n| n.clone()).unwrap_or_default()
    );
}

#[test]
fn chaos_short_form_loses_no_request() {
    let seconds = std::env::var("MERIDIAN_CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    chaos(seconds);
}

#[test]
#[ignore = "the full 60 s form; run by hand"]
fn chaos_full_sixty_seconds_loses_no_request() {
    chaos(60);
}
