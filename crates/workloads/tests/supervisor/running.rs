//! Replicas as processes: ports, environment, endpoints, logs, scaling, bad input.

use std::time::Duration;

use meridian_control::endpoints::EndpointState;
use meridian_workloads::{LogQuery, ReplicaState, Stream};

use crate::support::*;

const PORTS: &str = "        ports:\n        - containerPort: 3000\n          name: http\n        readinessProbe:\n          httpGet: {path: /readyz, port: http}\n          periodSeconds: 1\n";

#[tokio::test]
async fn replicas_get_ports_and_environment_and_become_endpoints() {
    let h = Harness::start();
    let yaml = Deployment::new("myapp")
        .replicas(3)
        .env(
            "SERVICE_NAME",
            "valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}",
        )
        .env(
            "VERSION",
            "value: $(MERIDIAN_VERSION)-$(UPSTREAM_SERVICE_PORT)",
        )
        .container(PORTS)
        .yaml();
    let desired =
        manifests(&yaml).with_extra_env(|_| env_map(&[("UPSTREAM_SERVICE_PORT", "8080")]));
    h.sup.apply(desired).expect("apply");
    let s = h
        .wait_for("3 ready replicas", 30, |s| ready_count(s, "myapp") == 3)
        .await;
    let table = h.table();
    assert_eq!(table.replicas.len(), 3);
    for r in &table.replicas {
        assert_eq!(r.state, EndpointState::Ready);
        assert_eq!(r.labels.get("version").map(String::as_str), Some("v1"));
        assert_eq!(r.ports.len(), 1);
        assert_eq!(
            (r.ports[0].declared, r.ports[0].name.as_deref()),
            (3000, Some("http"))
        );
        let actual = r.port_for(3000).expect("mapped");
        let v = get_json(actual, "/hello").await;
        assert_eq!(
            v["replica"],
            r.replica.as_str(),
            "POD_NAME is the replica name"
        );
        assert_eq!(v["service"], "myapp", "fieldRef metadata.labels['app']");
        assert_eq!(
            v["version"], "v1-8080",
            "$(VAR) expansion of Meridian's and the caller's variables"
        );
    }
    let ports: std::collections::BTreeSet<u16> =
        table.replicas.iter().map(|r| r.ports[0].actual).collect();
    assert_eq!(ports.len(), 3, "every replica has its own port");
    assert!(
        s.iter()
            .all(|r| r.pid.is_some() && r.version.as_deref() == Some("v1"))
    );
    h.sup.shutdown().await;
}

#[tokio::test]
async fn image_without_command_is_reported_while_others_run() {
    let h = Harness::start();
    let course = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: imageonly\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: imageonly}\n  template:\n    metadata:\n      labels: {app: imageonly}\n    spec:\n      containers:\n      - name: myapp\n        image: tu-usuario/myapp:v1\n        ports:\n        - containerPort: 3000\n";
    let yaml = format!("{course}---\n{}", Deployment::new("runs").yaml());
    h.sup.apply(manifests(&yaml)).expect("apply");
    let s = h
        .wait_for(
            "the runnable one ready and the image-only ones reported",
            30,
            |s| {
                ready_count(s, "runs") == 1
                    && of(s, "imageonly")
                        .iter()
                        .filter(|r| matches!(r.state, ReplicaState::NotRunnable { .. }))
                        .count()
                        == 2
            },
        )
        .await;
    let r = of(&s, "imageonly")[0];
    let ReplicaState::NotRunnable { reason } = &r.state else {
        panic!("not runnable")
    };
    assert!(
        reason.contains("has image \"tu-usuario/myapp:v1\" but has no command"),
        "{reason}"
    );
    assert!(
        reason.contains("spec.template.spec.containers[0].command"),
        "{reason}"
    );
    let mut log = h.sup.logs(&r.replica, &LogQuery::default()).expect("log");
    let line = log.next_line().await.expect("a line");
    assert_eq!(line.stream, Stream::Meridian);
    assert!(line.text.starts_with("not runnable: "), "{}", line.text);
    h.sup.shutdown().await;
}

#[tokio::test]
async fn a_missing_program_shows_the_os_error_and_nothing_else_stops() {
    let h = Harness::start();
    let broken = Deployment::new("broken")
        .program("/nonexistent/prog")
        .yaml();
    let yaml = format!("{broken}---\n{}", Deployment::new("fine").yaml());
    h.sup.apply(manifests(&yaml)).expect("apply");
    let s = h
        .wait_for("the broken one to report its error", 30, |s| {
            ready_count(s, "fine") == 1
                && of(s, "broken")
                    .first()
                    .is_some_and(|r| r.last_error.is_some())
        })
        .await;
    let err = of(&s, "broken")[0].last_error.clone().unwrap_or_default();
    assert!(
        err.contains("cannot start \"/nonexistent/prog\"") && err.contains("No such file"),
        "{err}"
    );
    h.sup.shutdown().await;
}

#[tokio::test]
async fn scale_follows_replicas_and_logs_follow() {
    let h = Harness::start();
    h.sup
        .apply(manifests(&Deployment::new("web").yaml()))
        .expect("apply");
    h.wait_for("1 ready", 30, |s| ready_count(s, "web") == 1)
        .await;
    let id = h.sup.resolve("web").expect("resolve");
    h.sup.scale(&id, 4).expect("scale");
    h.wait_for("4 ready", 30, |s| ready_count(s, "web") == 4)
        .await;
    h.sup.scale(&id, 2).expect("scale");
    let s = h
        .wait_for("2 replicas", 30, |s| {
            of(s, "web").len() == 2 && ready_count(s, "web") == 2
        })
        .await;
    // Re-applying the same file keeps the scale (as kubectl scale until the file changes).
    h.sup
        .apply(manifests(&Deployment::new("web").yaml()))
        .expect("apply");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(of(&h.sup.status(), "web").len(), 2);

    let name = s[0].replica.clone();
    let q = LogQuery {
        follow: true,
        ..Default::default()
    };
    let mut log = h.sup.logs(&name, &q).expect("logs");
    let first = log.next_line().await.expect("line");
    assert!(
        first.text.starts_with("started web (pid "),
        "{}",
        first.text
    );
    // Stopping the replica writes more lines, then the follow ends.
    h.sup.scale(&id, 0).expect("scale");
    let mut rest = Vec::new();
    while let Ok(Some(l)) = tokio::time::timeout(Duration::from_secs(20), log.next_line()).await {
        rest.push(l.text);
    }
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
    assert!(matches!(
        h.sup.logs("nope", &LogQuery::default()),
        Err(meridian_workloads::WorkloadError::UnknownReplica(_))
    ));
    h.sup.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_every_replica_and_kills_those_ignoring_sigterm() {
    let h = Harness::start();
    let yaml = Deployment::new("stubborn")
        .replicas(2)
        .args(&["--ignore-sigterm"])
        .yaml();
    h.sup.apply(manifests(&yaml)).expect("apply");
    let s = h
        .wait_for("2 ready", 30, |s| ready_count(s, "stubborn") == 2)
        .await;
    let pids: Vec<u32> = s.iter().filter_map(|r| r.pid).collect();
    assert!(pids.iter().all(|p| alive(*p)));
    let began = std::time::Instant::now();
    h.sup.shutdown().await;
    let took = began.elapsed();
    assert!(pids.iter().all(|p| !alive(*p)), "all stopped");
    assert!(
        took >= Duration::from_secs(2),
        "waited the 2s grace period before SIGKILL: {took:?}"
    );
    assert!(h.table().replicas.is_empty());
}

#[tokio::test]
async fn compose_depends_on_waits_and_removed_workloads_stop() {
    let h = Harness::start();
    let db = format!(
        "  db:\n{}    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 1s\n",
        compose_command(&[])
    );
    let web = format!(
        "  web:\n{}    depends_on:\n      db: {{condition: service_healthy}}\n",
        compose_command(&[])
    );
    h.sup
        .apply(compose(&format!("services:\n{web}{db}")))
        .expect("apply");
    h.wait_for("web waiting for db", 10, |s| {
        of(s, "web").first().is_some_and(|r| matches!(&r.state, ReplicaState::Pending { reason } if reason == "waiting for service db to be healthy (depends_on)"))
    })
    .await;
    h.wait_for("both ready", 30, |s| {
        ready_count(s, "web") == 1 && ready_count(s, "db") == 1
    })
    .await;
    let summary = h
        .sup
        .apply(compose(&format!("services:\n{db}")))
        .expect("apply");
    assert_eq!(
        summary
            .removed
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>(),
        ["web"]
    );
    assert!(
        summary.rolled.is_empty() && summary.created.is_empty(),
        "{summary:?}"
    );
    h.wait_for("web gone, db untouched", 30, |s| {
        of(s, "web").is_empty() && ready_count(s, "db") == 1
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while h.sup.resolve("web").is_ok() {
        assert!(std::time::Instant::now() < deadline, "web still known");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.sup.shutdown().await;
}

#[tokio::test]
async fn memory_limits_cap_what_a_replica_can_allocate() {
    let h = Harness::start();
    let limited = |name: &str, limit: &str| {
        Deployment::new(name)
            .role("hog")
            .args(&["256"])
            .container(&format!(
                "        resources:\n          limits:\n            memory: {limit}\n"
            ))
            .yaml()
    };
    let all = format!(
        "{}---\n{}",
        limited("small", "64Mi"),
        limited("roomy", "1Gi")
    );
    h.sup.apply(manifests(&all)).expect("apply");
    // The small one's allocation is refused (the role exits 3 then); the roomy one holds it.
    let s = h
        .wait_for("the small one refused, the roomy one running", 30, |s| {
            of(s, "small")
                .first()
                .is_some_and(|r| r.last_error.as_deref() == Some("small exited: exit code 3"))
                && of(s, "roomy")
                    .first()
                    .is_some_and(|r| r.state == ReplicaState::Running)
        })
        .await;
    let said = |replica: String, what: &'static str| {
        let h = &h;
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            loop {
                let mut log = h.sup.logs(&replica, &LogQuery::default()).expect("log");
                while let Some(l) = log.next_line().await {
                    if l.text.contains(what) {
                        return true;
                    }
                }
                if std::time::Instant::now() > deadline {
                    return false;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    let small = of(&s, "small")[0].replica.clone();
    let roomy = of(&s, "roomy")[0].replica.clone();
    assert!(
        said(small, "cannot allocate 256 MiB").await,
        "{}",
        describe(&s)
    );
    assert!(said(roomy, "allocated 256 MiB").await, "{}", describe(&s));
    assert_eq!(of(&s, "roomy")[0].restarts, 0, "{}", describe(&s));
    h.sup.shutdown().await;
}
