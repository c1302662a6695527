//! Probes of each kind, with Kubernetes' semantics, and Compose's healthcheck.

use meridian_control::endpoints::EndpointState;
use meridian_workloads::ReplicaState;

use crate::support::*;

fn readiness(handler: &str) -> String {
    format!(
        "        ports:\n        - containerPort: 3000\n          name: http\n        readinessProbe:\n          {handler}\n          periodSeconds: 1\n"
    )
}

#[tokio::test]
async fn http_readiness_gates_the_endpoint() {
    let h = Harness::start();
    let yaml = Deployment::new("slow")
        .args(&["--ready-after", "1500ms"])
        .container(&readiness("httpGet: {path: /readyz, port: 3000}"))
        .yaml();
    h.sup.apply(manifests(&yaml)).expect("apply");
    h.wait_for("running, not ready", 30, |s| {
        of(s, "slow")
            .first()
            .is_some_and(|r| r.state == ReplicaState::Running && !r.ready)
    })
    .await;
    assert_eq!(
        h.table().replicas[0].state,
        EndpointState::NotReady,
        "running but not ready: not an endpoint"
    );
    let s = h
        .wait_for("ready", 30, |s| ready_count(s, "slow") == 1)
        .await;
    assert_eq!(h.ready_endpoints("slow"), 1);
    assert!(
        s[0].last_error.as_deref().is_some_and(
            |e| e.contains("readiness probe failed: HTTP probe failed with statuscode: 503")
        ),
        "{:?}",
        s[0].last_error
    );
    h.sup.shutdown().await;
}

#[tokio::test]
async fn tcp_and_exec_readiness() {
    let h = Harness::start();
    let tcp = Deployment::new("tcp")
        .container(&readiness("tcpSocket: {port: http}"))
        .yaml();
    let exec_ok = Deployment::new("execok")
        .container(&readiness(
            "exec: {command: [\"sh\", \"-c\", \"test -n \\\"$POD_NAME\\\"\"]}",
        ))
        .yaml();
    let exec_bad = Deployment::new("execbad")
        .container(&readiness(
            "exec: {command: [\"sh\", \"-c\", \"echo not yet; exit 1\"]}",
        ))
        .yaml();
    h.sup
        .apply(manifests(&format!("{tcp}---\n{exec_ok}---\n{exec_bad}")))
        .expect("apply");
    let s = h
        .wait_for("tcp and exec ready, failing exec reported", 30, |s| {
            ready_count(s, "tcp") == 1
                && ready_count(s, "execok") == 1
                && of(s, "execbad")
                    .first()
                    .is_some_and(|r| r.last_error.is_some())
        })
        .await;
    let bad = of(&s, "execbad")[0];
    assert!(!bad.ready);
    assert_eq!(bad.state, ReplicaState::Running);
    let err = bad.last_error.clone().unwrap_or_default();
    assert!(
        err.contains("command sh failed: exit code 1: not yet"),
        "{err}"
    );
    h.sup.shutdown().await;
}

#[tokio::test]
async fn failing_liveness_restarts_the_replica() {
    let h = Harness::start();
    let live = "        ports:\n        - containerPort: 3000\n        livenessProbe:\n          httpGet: {path: /healthz, port: 3000}\n          periodSeconds: 1\n          failureThreshold: 2\n";
    let yaml = Deployment::new("sick")
        .args(&["--unhealthy-after", "1s"])
        .container(live)
        .yaml();
    h.sup.apply(manifests(&yaml)).expect("apply");
    let s = h
        .wait_for("a restart by liveness", 40, |s| {
            of(s, "sick").first().is_some_and(|r| r.restarts >= 1)
        })
        .await;
    let err = s[0].last_error.clone().unwrap_or_default();
    assert!(err.contains("liveness probe failed"), "{err}");
    h.sup.shutdown().await;
}

#[tokio::test]
async fn failing_startup_probe_restarts_and_holds_readiness() {
    let h = Harness::start();
    let startup = "        startupProbe:\n          exec: {command: [\"false\"]}\n          periodSeconds: 1\n          failureThreshold: 2\n";
    let yaml = Deployment::new("nostart").container(startup).yaml();
    h.sup.apply(manifests(&yaml)).expect("apply");
    let s = h
        .wait_for("a restart by the startup probe", 40, |s| {
            of(s, "nostart").first().is_some_and(|r| r.restarts >= 1)
        })
        .await;
    assert!(!s[0].ready, "never ready while the startup probe fails");
    assert!(
        s[0].last_error
            .as_deref()
            .is_some_and(|e| e.contains("startup probe failed")),
        "{:?}",
        s[0].last_error
    );
    h.sup.shutdown().await;
}

#[tokio::test]
async fn compose_healthcheck_gates_readiness_and_replaces_unhealthy_replicas() {
    let h = Harness::start();
    let yaml = format!(
        "services:\n  healthy:\n{}    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 200ms\n  sick:\n{}    healthcheck:\n      test: exit 1\n      interval: 200ms\n      retries: 2\n    deploy:\n      restart_policy: {{condition: any, delay: 100ms}}\n",
        compose_command(&[]),
        compose_command(&[])
    );
    h.sup.apply(compose(&yaml)).expect("apply");
    let s = h
        .wait_for("healthy ready, sick replaced", 30, |s| {
            ready_count(s, "healthy") == 1 && of(s, "sick").first().is_some_and(|r| r.restarts >= 1)
        })
        .await;
    let sick = of(&s, "sick")[0];
    assert!(
        sick.last_error
            .as_deref()
            .is_some_and(|e| e.contains("healthcheck")),
        "{:?}",
        sick.last_error
    );
    assert!(
        sick.replica.starts_with("sick.1."),
        "Swarm-style task name: {}",
        sick.replica
    );
    h.sup.shutdown().await;
}
