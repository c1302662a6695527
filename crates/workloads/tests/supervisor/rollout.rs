//! Rolling updates observed through the endpoint table, Swarm update_config, undo.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use meridian_control::endpoints::EndpointState;
use meridian_workloads::RolloutPhase;

use crate::support::*;

/// Records, for every version of the endpoint table, how many replicas of `workload` are
/// Ready, and whether a Draining one was seen.
fn observe(h: &Harness, workload: &'static str) -> Arc<Mutex<(Vec<usize>, bool)>> {
    let seen = Arc::new(Mutex::new((Vec::new(), false)));
    let mut rx = h.endpoints.clone();
    let out = seen.clone();
    tokio::spawn(async move {
        loop {
            {
                let t = rx.borrow_and_update();
                let ready = t
                    .replicas
                    .iter()
                    .filter(|r| r.workload.name == workload && r.state == EndpointState::Ready)
                    .count();
                let draining = t
                    .replicas
                    .iter()
                    .any(|r| r.workload.name == workload && r.state == EndpointState::Draining);
                let mut s = out.lock().expect("lock");
                s.0.push(ready);
                s.1 |= draining;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    });
    seen
}

const READY: &str = "        ports:\n        - containerPort: 3000\n        readinessProbe:\n          httpGet: {path: /readyz, port: 3000}\n          periodSeconds: 1\n";

#[tokio::test]
async fn rolling_update_never_has_fewer_ready_replicas_than_allowed() {
    let h = Harness::start();
    let strategy = "  strategy:\n    rollingUpdate: {maxSurge: 1, maxUnavailable: 1}\n";
    let v1 = Deployment::new("roll")
        .replicas(4)
        .args(&["--ready-after", "300ms"])
        .container(READY)
        .spec(strategy);
    h.sup.apply(manifests(&v1.yaml())).expect("apply");
    h.wait_for("4 ready v1", 40, |s| ready_count(s, "roll") == 4)
        .await;
    let seen = observe(&h, "roll");
    let v2 = v1.clone().version("v2");
    let summary = h.sup.apply(manifests(&v2.yaml())).expect("apply v2");
    assert_eq!(summary.rolled.len(), 1);
    let id = h.sup.resolve("roll").expect("resolve");
    let mut phases = Vec::new();
    let done = h
        .sup
        .wait_rollout(&id, Duration::from_secs(60), |s| phases.push(s.message()))
        .await
        .expect("status");
    assert_eq!(done.phase, RolloutPhase::Complete, "{phases:#?}");
    assert!(
        phases.len() > 2,
        "progress is reported as it goes: {phases:#?}"
    );
    let s = h
        .wait_for("4 ready v2, old gone", 40, |s| {
            of(s, "roll").len() == 4
                && of(s, "roll")
                    .iter()
                    .all(|r| r.ready && r.version.as_deref() == Some("v2"))
        })
        .await;
    assert_eq!(s[0].revision, 2);
    let (counts, draining) = seen.lock().expect("lock").clone();
    let min = counts.iter().copied().min().unwrap_or(0);
    assert!(
        min >= 3,
        "ready replicas dipped to {min} (maxUnavailable 1 of 4): {counts:?}"
    );
    assert!(
        draining,
        "old replicas drained (Draining in the table) before they stopped"
    );

    // Undo goes back to v1 as a new revision.
    let rev = h.sup.rollout_undo(&id, None).expect("undo");
    assert_eq!(rev, 3);
    h.wait_for("4 ready v1 again", 60, |s| {
        of(s, "roll").len() == 4
            && of(s, "roll")
                .iter()
                .all(|r| r.ready && r.version.as_deref() == Some("v1"))
    })
    .await;
    let history = h.sup.rollout_history(&id).expect("history");
    assert_eq!(
        history.iter().map(|r| r.revision).collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!(history[1].cause, "rollout undo to revision 1");
    h.sup.shutdown().await;
}

#[tokio::test]
async fn recreate_and_rollout_restart() {
    let h = Harness::start();
    let d = Deployment::new("rec")
        .replicas(2)
        .spec("  strategy: {type: Recreate}\n");
    h.sup.apply(manifests(&d.yaml())).expect("apply");
    let before = h
        .wait_for("2 ready", 30, |s| ready_count(s, "rec") == 2)
        .await;
    let id = h.sup.resolve("deployment/rec").expect("resolve");
    let rev = h.sup.rollout_restart(&id).expect("restart");
    assert_eq!(rev, 2);
    let after = h
        .wait_for("2 new ready", 40, |s| {
            of(s, "rec").len() == 2 && of(s, "rec").iter().all(|r| r.ready && r.revision == 2)
        })
        .await;
    assert!(
        after
            .iter()
            .all(|a| before.iter().all(|b| a.replica != b.replica)),
        "every replica was replaced"
    );
    h.sup.shutdown().await;
}

fn swarm_service(replicas: u32, version: &str, args: &[&str], update: &str) -> String {
    format!(
        "services:\n  api:\n{}    labels: {{version: {version}}}\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 100ms\n    deploy:\n      replicas: {replicas}\n      update_config: {update}\n      restart_policy: {{condition: any, delay: 100ms}}\n",
        compose_command(args)
    )
}

#[tokio::test]
async fn swarm_start_first_update_keeps_every_replica_serving() {
    let h = Harness::start();
    let update = "{parallelism: 1, order: start-first, monitor: 100ms, delay: 50ms}";
    h.sup
        .apply(compose(&swarm_service(3, "v1", &[], update)))
        .expect("apply");
    h.wait_for("3 ready", 30, |s| ready_count(s, "api") == 3)
        .await;
    let seen = observe(&h, "api");
    h.sup
        .apply(compose(&swarm_service(3, "v2", &[], update)))
        .expect("apply v2");
    h.wait_for("3 ready v2", 60, |s| {
        of(s, "api").len() == 3
            && of(s, "api")
                .iter()
                .all(|r| r.ready && r.version.as_deref() == Some("v2"))
    })
    .await;
    let (counts, _) = seen.lock().expect("lock").clone();
    assert!(
        counts.iter().all(|c| *c >= 3),
        "start-first never drops below 3 ready: {counts:?}"
    );
    h.sup.shutdown().await;
}

#[tokio::test]
async fn swarm_failed_update_rolls_back() {
    let h = Harness::start();
    let update = "{parallelism: 1, failure_action: rollback, monitor: 2s}";
    h.sup
        .apply(compose(&swarm_service(2, "v1", &[], update)))
        .expect("apply");
    h.wait_for("2 ready", 30, |s| ready_count(s, "api") == 2)
        .await;
    h.sup
        .apply(compose(&swarm_service(
            2,
            "v2",
            &["--exit-after", "300ms"],
            update,
        )))
        .expect("apply bad v2");
    let id = h.sup.resolve("api").expect("resolve");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !h
        .sup
        .rollout_history(&id)
        .expect("history")
        .last()
        .is_some_and(|r| r.cause.starts_with("rollback"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no rollback: {:?}",
            h.sup.rollout_status(&id)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.wait_for("rolled back to 2 ready v1", 60, |s| {
        of(s, "api").len() == 2
            && of(s, "api")
                .iter()
                .all(|r| r.ready && r.version.as_deref() == Some("v1"))
    })
    .await;
    let history = h.sup.rollout_history(&id).expect("history");
    let last = history.last().expect("a revision");
    assert!(
        last.cause.starts_with(
            "rollback: update paused due to failure or early termination of task api."
        ),
        "{}",
        last.cause
    );
    h.sup.shutdown().await;
}
