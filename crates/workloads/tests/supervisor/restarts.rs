//! Restart policies with real crashing processes: Kubernetes' back-off and crash loop, and
//! Swarm's conditions and max_attempts.

use std::time::Duration;

use meridian_workloads::ReplicaState;

use crate::support::*;

#[tokio::test]
async fn crash_loops_back_off_and_show_the_exit_and_log() {
    let h = Harness::start();
    let yaml = Deployment::new("crashy")
        .args(&["--exit-after", "100ms", "--exit-code", "3"])
        .yaml();
    h.sup.apply(manifests(&yaml)).expect("apply");
    let s = h
        .wait_for("CrashLoopBackOff after two restarts", 40, |s| {
            of(s, "crashy")
                .first()
                .is_some_and(|r| r.restarts >= 2 && r.state == ReplicaState::CrashLoopBackOff)
        })
        .await;
    let r = &s[0];
    let exit = r.last_exit.clone().expect("last exit");
    assert_eq!(exit.code, Some(3));
    assert_eq!(exit.description, "exit code 3");
    assert!(!r.log_tail.is_empty(), "the last log lines are shown");
    assert!(
        r.log_tail.iter().any(|l| l.contains("back-off")),
        "{:?}",
        r.log_tail
    );

    // The back-off doubles: 300ms, 600ms, 1.2s (the harness' scaled-down Kubernetes
    // back-off). Read the start times from the log once there are four.
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let starts = loop {
        let mut log = h.sup.logs(&r.replica, &Default::default()).expect("log");
        let mut starts = Vec::new();
        while let Some(l) = log.next_line().await {
            if l.text.starts_with("started ") {
                starts.push(l.system_time().expect("time"));
            }
        }
        if starts.len() >= 4 {
            break starts;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} starts",
            starts.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let gaps: Vec<Duration> = starts
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).unwrap_or_default())
        .collect();
    assert!(gaps.len() >= 3, "{gaps:?}");
    assert!(
        gaps[1] > gaps[0] && gaps[2] > gaps[1] + Duration::from_millis(300),
        "back-off grows: {gaps:?}"
    );
    h.sup.shutdown().await;
}

#[tokio::test]
async fn swarm_restart_policies() {
    let h = Harness::start();
    let yaml = format!(
        "services:\n  limited:\n{c1}    deploy:\n      restart_policy: {{condition: on-failure, delay: 100ms, max_attempts: 2}}\n  once:\n{c2}    deploy:\n      restart_policy: {{condition: none}}\n  clean:\n{c3}    deploy:\n      restart_policy: {{condition: on-failure, delay: 100ms}}\n",
        c1 = compose_command(&["--exit-after", "100ms", "--exit-code", "1"]),
        c2 = compose_command(&["--exit-after", "100ms", "--exit-code", "1"]),
        c3 = compose_command(&["--exit-after", "100ms", "--exit-code", "0"]),
    );
    h.sup.apply(compose(&yaml)).expect("apply");
    let s = h
        .wait_for("all three settled", 40, |s| {
            let settled = |w: &str| {
                of(s, w).first().is_some_and(|r| {
                    matches!(
                        r.state,
                        ReplicaState::Failed { .. } | ReplicaState::Completed { .. }
                    )
                })
            };
            settled("limited") && settled("once") && settled("clean")
        })
        .await;
    let limited = of(&s, "limited")[0];
    assert_eq!(limited.restarts, 2);
    assert_eq!(
        limited.state,
        ReplicaState::Failed {
            reason: "restart_policy max_attempts (2) reached".into()
        }
    );
    let once = of(&s, "once")[0];
    assert_eq!((once.restarts, once.state.as_str()), (0, "Failed"));
    let clean = of(&s, "clean")[0];
    assert_eq!((clean.restarts, clean.state.as_str()), (0, "Completed"));
    h.sup.shutdown().await;
}
