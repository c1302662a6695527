//! No orphans: a supervising process killed with SIGKILL leaves no replica behind. The
//! supervising process is a real child: this test binary in its "supervisor" role.

use std::time::{Duration, Instant};

use meridian_workloads::{Supervisor, SupervisorOptions};

use crate::support::*;

/// The child's job: run 3 replicas, write their pids to a file, wait to be killed.
pub(crate) async fn supervisor_role(args: Vec<String>) -> i32 {
    let [state, pidfile] = args.as_slice() else {
        return 2;
    };
    let (publisher, _endpoints) = meridian_control::endpoints::channel();
    let Ok(sup) = Supervisor::start(SupervisorOptions::new(state), publisher) else {
        return 3;
    };
    // A shell whose child survives it would be an orphan too: `sleep` runs under `sh`.
    let yaml = format!(
        "{}---\n{}",
        Deployment::new("victim").replicas(3).yaml(),
        Deployment::new("shell").program("/bin/sh").yaml().replace(
            "\"role\", \"--exact\", \"--nocapture\", \"-q\"",
            "\"-c\", \"sleep 300; echo done\""
        )
    );
    if sup.apply(manifests(&yaml)).is_err() {
        return 4;
    }
    loop {
        let s = sup.status();
        let pids: Vec<u32> = s.iter().filter_map(|r| r.pid).collect();
        if pids.len() == 4 {
            let _ = std::fs::write(pidfile, serde_json::to_string(&pids).unwrap_or_default());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::future::pending::<i32>().await
}

#[tokio::test]
async fn no_replica_survives_sigkill_of_the_supervisor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("pids.json");
    let args = serde_json::to_string(&[
        dir.path().join("state").display().to_string(),
        pidfile.display().to_string(),
    ])
    .expect("json");
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["role", "--exact", "--nocapture", "-q"])
        .env(ROLE, "supervisor")
        .env(ARGS, args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn the supervising process");
    let deadline = Instant::now() + Duration::from_secs(30);
    let pids: Vec<u32> = loop {
        if let Some(p) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
        {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "the supervising process never reported its replicas"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The shell replica's `sleep` is a grandchild: find it too.
    let grandchildren: Vec<u32> = pids.iter().flat_map(|p| children_of(*p)).collect();
    assert!(
        !grandchildren.is_empty(),
        "sh -c 'sleep 300; echo done' forks sleep"
    );
    let all: Vec<u32> = pids
        .iter()
        .copied()
        .chain(grandchildren.iter().copied())
        .collect();
    assert!(all.iter().all(|p| alive(*p)));

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "replicas outlived the SIGKILLed supervisor: {:?}",
            pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A replica's own children (here `sleep` under `sh`) are not reached by the parent-death
    // signal; the watchdog kills their process group.
    while grandchildren.iter().any(|p| alive(*p)) {
        if Instant::now() >= deadline {
            for p in grandchildren.iter().filter(|p| alive(**p)) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(i32::try_from(*p).unwrap_or(0)),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            panic!("a replica's own child outlived the SIGKILLed supervisor");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn graceful_stop_kills_the_whole_process_group() {
    let h = Harness::start();
    let yaml = Deployment::new("forks").program("/bin/sh").yaml().replace(
        "\"role\", \"--exact\", \"--nocapture\", \"-q\"",
        "\"-c\", \"sleep 300; echo done\"",
    );
    h.sup.apply(manifests(&yaml)).expect("apply");
    let s = h
        .wait_for("running", 30, |s| {
            s.first().is_some_and(|r| r.pid.is_some())
        })
        .await;
    let pid = s[0].pid.expect("pid");
    let deadline = Instant::now() + Duration::from_secs(10);
    let kids = loop {
        let kids = children_of(pid);
        if !kids.is_empty() {
            break kids;
        }
        assert!(Instant::now() < deadline, "sh never forked sleep");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    h.sup.shutdown().await;
    assert!(
        !alive(pid) && kids.iter().all(|k| !alive(*k)),
        "the shell and its sleep are gone"
    );
}

fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Measures how long 100 demo replicas take to become ready, and the supervisor's CPU use
/// at rest afterwards. Run with `cargo test -p meridian-workloads --test supervisor -- --ignored --nocapture bench`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test: run it on purpose"]
async fn bench_100_replicas_until_ready_and_cpu_at_rest() {
    fn cpu_seconds() -> f64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(11) + ticks(12)) / 100.0
    }
    async fn at_rest(what: &str) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (c0, t0) = (cpu_seconds(), Instant::now());
        tokio::time::sleep(Duration::from_secs(10)).await;
        let used = cpu_seconds() - c0;
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "supervisor CPU at rest, {what}: {used:.2}s over {secs:.1}s = {:.2}% of one core",
            100.0 * used / secs
        );
    }
    let h = Harness::start();
    let plain = Deployment::new("plain").replicas(100).yaml();
    let began = Instant::now();
    h.sup.apply(manifests(&plain)).expect("apply");
    h.wait_for("100 running", 300, |s| ready_count(s, "plain") == 100)
        .await;
    println!(
        "100 replicas without a readiness probe ready (running) in {:.2}s",
        began.elapsed().as_secs_f64()
    );
    at_rest("100 replicas, no probes").await;

    let ready = "        ports:\n        - containerPort: 3000\n        readinessProbe:\n          httpGet: {path: /readyz, port: 3000}\n          periodSeconds: 1\n";
    let probed = Deployment::new("probed")
        .replicas(100)
        .container(ready)
        .yaml();
    let began = Instant::now();
    h.sup
        .apply(manifests(&format!("{plain}---\n{probed}")))
        .expect("apply");
    h.wait_for("100 ready", 300, |s| ready_count(s, "probed") == 100)
        .await;
    println!(
        "100 replicas with an HTTP readiness probe (periodSeconds 1) ready in {:.2}s",
        began.elapsed().as_secs_f64()
    );
    at_rest("200 replicas, 100 of them probed over HTTP every second").await;
    let began = Instant::now();
    h.sup.shutdown().await;
    println!(
        "shutdown of 200 replicas took {:.2}s",
        began.elapsed().as_secs_f64()
    );
}
