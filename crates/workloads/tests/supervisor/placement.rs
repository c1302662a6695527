//! Placement by node labels: Swarm constraints, nodeSelector, max_replicas_per_node.

use meridian_workloads::{NodeInfo, ReplicaState};

use crate::support::*;

fn constrained(constraint: &str, replicas: u32, max_per_node: Option<u32>) -> String {
    let max = max_per_node
        .map(|m| format!("        max_replicas_per_node: {m}\n"))
        .unwrap_or_default();
    format!(
        "services:\n  app:\n{}    deploy:\n      replicas: {replicas}\n      placement:\n        constraints: [\"{constraint}\"]\n{max}",
        compose_command(&[])
    )
}

#[tokio::test]
async fn constraints_decide_where_replicas_run() {
    let east = Harness::with_node(NodeInfo::local().with_label("region", "us-east"));
    let west = Harness::with_node(NodeInfo::local().with_label("region", "eu-west"));
    let file = constrained("node.labels.region == us-east", 2, None);
    east.sup.apply(compose(&file)).expect("apply");
    west.sup.apply(compose(&file)).expect("apply");
    east.wait_for("2 ready on us-east", 30, |s| ready_count(s, "app") == 2)
        .await;
    let s = west
        .wait_for("2 pending on eu-west", 30, |s| {
            of(s, "app")
                .iter()
                .filter(|r| matches!(r.state, ReplicaState::Pending { .. }))
                .count()
                == 2
        })
        .await;
    let ReplicaState::Pending { reason } = &s[0].state else {
        panic!("pending")
    };
    assert!(
        reason.contains("constraint \"node.labels.region == us-east\" does not hold")
            && reason.contains("--label region=us-east"),
        "{reason}"
    );
    assert_eq!(west.ready_endpoints("app"), 0);
    east.sup.shutdown().await;
    west.sup.shutdown().await;
}

#[tokio::test]
async fn the_course_or_constraint_and_max_replicas_per_node() {
    let h = Harness::with_node(NodeInfo::local().with_label("region", "eu-west"));
    h.sup
        .apply(compose(&constrained(
            "node.labels.region == us-east || node.labels.region == eu-west",
            3,
            Some(2),
        )))
        .expect("apply");
    let s = h
        .wait_for("2 ready and 1 pending", 30, |s| {
            ready_count(s, "app") == 2
                && of(s, "app")
                    .iter()
                    .any(|r| matches!(r.state, ReplicaState::Pending { .. }))
        })
        .await;
    let pending = s
        .iter()
        .find(|r| matches!(r.state, ReplicaState::Pending { .. }))
        .expect("pending");
    assert!(
        pending
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("max_replicas_per_node (2)")),
        "{:?}",
        pending.last_error
    );
    h.sup.shutdown().await;
}

#[tokio::test]
async fn node_selector_uses_node_labels() {
    let h = Harness::with_node(NodeInfo::local().with_label("disk", "ssd"));
    let ssd = Deployment::new("fast").spec("").yaml().replace(
        "      terminationGracePeriodSeconds: 2\n",
        "      terminationGracePeriodSeconds: 2\n      nodeSelector: {disk: ssd}\n",
    );
    let hdd = Deployment::new("slow").yaml().replace(
        "      terminationGracePeriodSeconds: 2\n",
        "      terminationGracePeriodSeconds: 2\n      nodeSelector: {disk: hdd}\n",
    );
    h.sup
        .apply(manifests(&format!("{ssd}---\n{hdd}")))
        .expect("apply");
    let s = h
        .wait_for("fast ready, slow pending", 30, |s| {
            ready_count(s, "fast") == 1
                && of(s, "slow")
                    .first()
                    .is_some_and(|r| r.state.as_str() == "Pending")
        })
        .await;
    let ReplicaState::Pending { reason } = &of(&s, "slow")[0].state else {
        panic!("pending")
    };
    assert!(
        reason.contains("nodeSelector disk=hdd") && reason.contains("has disk=ssd"),
        "{reason}"
    );
    h.sup.shutdown().await;
}
