//! Each workload's controller: a task that compares the replicas with the desired state and
//! acts — start, drain and stop — following the workload's strategy: Kubernetes'
//! `RollingUpdate` (maxSurge/maxUnavailable, readiness-gated) or `Recreate`, or Swarm's
//! `update_config` (batches of `parallelism`, `order`, `monitor`, `delay`, `failure_action`).
//! Scaling is the same loop with an unchanged template. It wakes on replica changes and on
//! its own timers only.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use meridian_config::compose::{FailureAction, UpdateConfig, UpdateOrder};
use meridian_control::endpoints::{WorkloadKind, WorkloadRef};
use tokio::time::Instant;

use crate::replica::Replica;
use crate::status::{Event, RolloutPhase};
use crate::supervisor::{Inner, Workload};
use crate::workload::Strategy;

/// A replica as the controller sees it.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub(crate) name: String,
    pub(crate) current: bool,
    pub(crate) ready: bool,
    pub(crate) available: bool,
    pub(crate) terminating: bool,
    pub(crate) failed: bool,
    pub(crate) slot: u32,
    /// When it becomes available (ready for minReadySeconds), if it will.
    pub(crate) available_at: Option<Instant>,
}

/// What to do now.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) start: u32,
    pub(crate) stop: Vec<String>,
}

/// Kubernetes' rolling update, one reconcile step (the deployment controller's
/// `reconcileNewReplicaSet` and `reconcileOldReplicaSets`).
pub(crate) fn rolling_step(
    desired: u32,
    max_surge: u32,
    max_unavailable: u32,
    views: &[View],
) -> Plan {
    let live: Vec<&View> = views.iter().filter(|v| !v.terminating).collect();
    let new: Vec<&View> = live.iter().copied().filter(|v| v.current).collect();
    let old: Vec<&View> = live.iter().copied().filter(|v| !v.current).collect();
    let (n_new, n_old) = (count(&new), count(&old));
    let mut plan = Plan::default();
    // Scale the new revision up within the surge.
    if n_new < desired {
        let max_total = desired + max_surge;
        let room = max_total.saturating_sub(n_new + n_old);
        plan.start = room.min(desired - n_new);
    } else if n_new > desired {
        plan.stop = pick_victims(&new, (n_new - desired) as usize);
        return plan;
    }
    if old.is_empty() {
        return plan;
    }
    // Scale old revisions down without going below minAvailable.
    let min_available = desired.saturating_sub(max_unavailable);
    let new_unavailable = count_where(&new, |v| !v.available);
    let all = n_new + n_old;
    let mut budget = all
        .saturating_sub(min_available)
        .saturating_sub(new_unavailable);
    // Unhealthy old replicas go first: they serve nothing.
    for v in old.iter().filter(|v| !v.available) {
        if budget == 0 {
            break;
        }
        plan.stop.push(v.name.clone());
        budget -= 1;
    }
    let available = count_where(&live, |v| v.available);
    let mut can = available.saturating_sub(min_available).min(budget);
    let mut healthy: Vec<&View> = old.iter().copied().filter(|v| v.available).collect();
    healthy.sort_by_key(|v| std::cmp::Reverse(v.slot));
    for v in healthy {
        if can == 0 {
            break;
        }
        plan.stop.push(v.name.clone());
        can -= 1;
    }
    plan
}

/// Kubernetes' `Recreate`: every old replica stops, and only once they are all gone do new
/// ones start.
pub(crate) fn recreate_step(desired: u32, views: &[View]) -> Plan {
    let old: Vec<&View> = views
        .iter()
        .filter(|v| !v.current && !v.terminating)
        .collect();
    if !old.is_empty() {
        return Plan {
            start: 0,
            stop: old.iter().map(|v| v.name.clone()).collect(),
        };
    }
    if views.iter().any(|v| !v.current && v.terminating) {
        return Plan::default();
    }
    scale_step(desired, views)
}

/// Same template, different count.
pub(crate) fn scale_step(desired: u32, views: &[View]) -> Plan {
    let new: Vec<&View> = views
        .iter()
        .filter(|v| v.current && !v.terminating)
        .collect();
    let n = count(&new);
    if n < desired {
        Plan {
            start: desired - n,
            stop: Vec::new(),
        }
    } else {
        Plan {
            start: 0,
            stop: pick_victims(&new, (n - desired) as usize),
        }
    }
}

fn count(v: &[&View]) -> u32 {
    u32::try_from(v.len()).unwrap_or(u32::MAX)
}

fn count_where(v: &[&View], f: impl Fn(&View) -> bool) -> u32 {
    u32::try_from(v.iter().filter(|x| f(x)).count()).unwrap_or(u32::MAX)
}

/// Which replicas to remove on a scale-down: not ready first, then the highest slots / newest.
fn pick_victims(v: &[&View], k: usize) -> Vec<String> {
    let mut sorted: Vec<&View> = v.to_vec();
    sorted.sort_by_key(|x| (x.ready, std::cmp::Reverse(x.slot)));
    sorted.into_iter().take(k).map(|x| x.name.clone()).collect()
}

/// Where a Swarm update is between steps.
#[derive(Debug, Clone, Default)]
enum Batch {
    #[default]
    Idle,
    /// Old replicas of the batch are stopping; then this many start.
    StoppingOld { start: u32 },
    /// New replicas of the batch are starting; once ready, `then_stop` old ones stop.
    Starting {
        names: Vec<String>,
        then_stop: Vec<String>,
    },
    /// Watching the batch for `monitor`.
    Monitoring { names: Vec<String>, until: Instant },
    /// Waiting `delay` before the next batch.
    Delaying { until: Instant },
}

/// A Swarm update's progress.
#[derive(Debug, Default)]
pub(crate) struct SwarmRun {
    hash: String,
    batch: Batch,
    failures: u32,
    updated: u32,
    counted: BTreeSet<String>,
}

enum SwarmOutcome {
    Plan(Plan, Option<Instant>),
    Failure(String),
}

/// One step of a Swarm update (or of scaling, when no old replica is left).
fn swarm_step(
    run: &mut SwarmRun,
    cfg: &UpdateConfig,
    desired: u32,
    views: &[View],
    now: Instant,
) -> SwarmOutcome {
    let by_name = |n: &str| views.iter().find(|v| v.name == n);
    let live_old: Vec<&View> = views
        .iter()
        .filter(|v| !v.current && !v.terminating)
        .collect();
    let new_live = views.iter().filter(|v| v.current && !v.terminating).count();
    let parallel = if cfg.parallelism == 0 {
        usize::MAX
    } else {
        cfg.parallelism as usize
    };
    // Counts a failure of the watched names; true when it exceeds the tolerated ratio.
    let fail_check = |run: &mut SwarmRun, names: &[String]| -> Option<String> {
        let mut first = None;
        for n in names {
            if by_name(n).is_some_and(|v| v.failed) && run.counted.insert(n.clone()) {
                run.failures += 1;
                first.get_or_insert_with(|| n.clone());
            }
        }
        let first = first?;
        let total = (run.updated as usize + names.len()).max(1);
        (f64::from(run.failures) / total as f64 > cfg.max_failure_ratio)
            .then(|| format!("update paused due to failure or early termination of task {first}"))
    };
    for _ in 0..8 {
        match run.batch.clone() {
            Batch::Idle => {
                if live_old.is_empty() {
                    return SwarmOutcome::Plan(scale_step(desired, views), None);
                }
                let mut olds = live_old.clone();
                olds.sort_by_key(|v| (v.ready, v.slot));
                let victims: Vec<String> =
                    olds.iter().take(parallel).map(|v| v.name.clone()).collect();
                let start = u32::try_from(
                    victims
                        .len()
                        .min((desired as usize).saturating_sub(new_live)),
                )
                .unwrap_or(0);
                if start == 0 {
                    return SwarmOutcome::Plan(
                        Plan {
                            start: 0,
                            stop: victims,
                        },
                        None,
                    );
                }
                return match cfg.order {
                    UpdateOrder::StopFirst => {
                        run.batch = Batch::StoppingOld { start };
                        SwarmOutcome::Plan(
                            Plan {
                                start: 0,
                                stop: victims,
                            },
                            None,
                        )
                    }
                    UpdateOrder::StartFirst => {
                        // The names are known once started: the caller fills them in.
                        run.batch = Batch::Starting {
                            names: Vec::new(),
                            then_stop: victims,
                        };
                        SwarmOutcome::Plan(
                            Plan {
                                start,
                                stop: Vec::new(),
                            },
                            None,
                        )
                    }
                };
            }
            Batch::StoppingOld { start } => {
                if views.iter().any(|v| !v.current && v.terminating) {
                    return SwarmOutcome::Plan(Plan::default(), None);
                }
                run.batch = Batch::Starting {
                    names: Vec::new(),
                    then_stop: Vec::new(),
                };
                return SwarmOutcome::Plan(
                    Plan {
                        start,
                        stop: Vec::new(),
                    },
                    None,
                );
            }
            Batch::Starting { names, then_stop } => {
                if let Some(reason) = fail_check(run, &names) {
                    return SwarmOutcome::Failure(reason);
                }
                let settled = names
                    .iter()
                    .all(|n| by_name(n).is_none_or(|v| v.ready || run.counted.contains(n)));
                if !settled {
                    return SwarmOutcome::Plan(Plan::default(), None);
                }
                run.updated += u32::try_from(names.len()).unwrap_or(0);
                run.batch = Batch::Monitoring {
                    names,
                    until: now + cfg.monitor,
                };
                let stop: Vec<String> = then_stop
                    .into_iter()
                    .filter(|n| by_name(n).is_some_and(|v| !v.terminating))
                    .collect();
                if !stop.is_empty() {
                    return SwarmOutcome::Plan(Plan { start: 0, stop }, Some(now + cfg.monitor));
                }
            }
            Batch::Monitoring { names, until } => {
                if let Some(reason) = fail_check(run, &names) {
                    return SwarmOutcome::Failure(reason);
                }
                if now < until {
                    return SwarmOutcome::Plan(Plan::default(), Some(until));
                }
                run.batch = Batch::Delaying {
                    until: now + cfg.delay,
                };
            }
            Batch::Delaying { until } => {
                if now < until {
                    return SwarmOutcome::Plan(Plan::default(), Some(until));
                }
                run.batch = Batch::Idle;
            }
        }
    }
    SwarmOutcome::Plan(Plan::default(), None)
}

fn views(w: &Workload, current: &str, min_ready: Duration, now: Instant) -> Vec<View> {
    w.replicas
        .iter()
        .map(|r| {
            let (ready, terminating, failed, since) = r
                .with_rt(|rt| (rt.ready(), rt.terminating, rt.failed(), rt.ready_since))
                .unwrap_or((false, true, true, None));
            let available_at = since.map(|s| s + min_ready);
            View {
                name: r.name.clone(),
                current: r.hash == current,
                ready,
                available: ready && available_at.is_some_and(|t| t <= now),
                terminating,
                failed,
                slot: r.slot,
                available_at: available_at.filter(|t| *t > now && ready),
            }
        })
        .collect()
}

fn free_slot(w: &Workload, current: &str) -> u32 {
    let used: BTreeSet<u32> = w
        .replicas
        .iter()
        .filter(|r| r.hash == current && !r.with_rt(|rt| rt.terminating).unwrap_or(true))
        .map(|r| r.slot)
        .collect();
    (1..).find(|s| !used.contains(s)).unwrap_or(1)
}

/// Runs a workload's controller until the workload is gone or the supervisor stops.
pub(crate) async fn control(inner: Arc<Inner>, id: WorkloadRef) {
    let mut changed = inner.changed.subscribe();
    let Some(kick) = inner.lock().workloads.get(&id).map(|w| w.kick.clone()) else {
        return;
    };
    let mut swarm = SwarmRun::default();
    loop {
        changed.borrow_and_update();
        let (wake, acted, event, done) = {
            let mut st = inner.lock();
            if st.shutting_down {
                return;
            }
            let Some(w) = st.workloads.get_mut(&id) else {
                return;
            };
            let before = w.status.clone();
            let (wake, acted) = step(&inner, w, &mut swarm);
            let event = (w.status != before).then(|| Event::Rollout(w.status.clone()));
            let done = w.retired && w.replicas.is_empty();
            if done {
                st.workloads.remove(&id);
            }
            (wake, acted, event, done)
        };
        if acted {
            inner.publish();
            inner.changed.send_modify(|n| *n += 1);
        }
        if let Some(e) = event {
            let _ = inner.events.send(e);
        }
        if done {
            return;
        }
        let sleep = async {
            match wake {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = changed.changed() => if r.is_err() { return },
            () = kick.notified() => {}
            () = sleep => {}
        }
    }
}

/// One reconcile step under the state lock; returns when to wake up at the latest and
/// whether replicas were started or stopped.
fn step(inner: &Arc<Inner>, w: &mut Workload, swarm: &mut SwarmRun) -> (Option<Instant>, bool) {
    let now = Instant::now();
    let desired = w.desired.clone();
    // A paused Deployment scales but does not roll out: its newest replicas' template stays.
    let current = if desired.paused {
        w.replicas
            .last()
            .map_or_else(|| w.hash.clone(), |r| r.hash.clone())
    } else {
        w.hash.clone()
    };
    let n = desired.replicas;
    let vs = views(w, &current, desired.min_ready, now);
    let mut wake = vs.iter().filter_map(|v| v.available_at).min();
    let plan = if w.paused.is_some() {
        Plan::default()
    } else {
        match &desired.strategy {
            Strategy::RollingUpdate {
                max_surge,
                max_unavailable,
            } => {
                let surge = max_surge.scaled(n, true).unwrap_or(1);
                let mut unavail = max_unavailable.scaled(n, false).unwrap_or(0);
                if surge == 0 && unavail == 0 {
                    unavail = 1;
                }
                rolling_step(n, surge, unavail, &vs)
            }
            Strategy::Recreate => recreate_step(n, &vs),
            Strategy::Swarm { update, rollback } => {
                if swarm.hash != current {
                    *swarm = SwarmRun {
                        hash: current.clone(),
                        ..SwarmRun::default()
                    };
                }
                let cfg = if w.rolling_back.is_some() {
                    rollback
                } else {
                    update
                };
                match swarm_step(swarm, cfg, n, &vs, now) {
                    SwarmOutcome::Plan(p, t) => {
                        wake = match (wake, t) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                        p
                    }
                    SwarmOutcome::Failure(reason) => {
                        fail(w, cfg.failure_action, reason);
                        Plan::default()
                    }
                }
            }
        }
    };
    let acted = plan.start > 0 || !plan.stop.is_empty();
    for name in &plan.stop {
        if let Some(r) = w.replicas.iter().find(|r| &r.name == name) {
            r.begin_stop();
        }
    }
    if plan.start > 0 {
        let spec = w.spec_for(&current).unwrap_or_else(|| desired.clone());
        let mut spec_now = (*spec).clone();
        spec_now.replicas = n;
        let spec = Arc::new(spec_now);
        let revision = w
            .revisions
            .iter()
            .find(|r| r.hash == current)
            .map_or(w.revision(), |r| r.number);
        let mut names = Vec::new();
        for _ in 0..plan.start {
            let slot = match spec.id.kind {
                WorkloadKind::Deployment => 0,
                WorkloadKind::ComposeService => free_slot(w, &current),
            };
            let r: Arc<Replica> = inner.create_replica(w, spec.clone(), &current, revision, slot);
            names.push(r.name.clone());
        }
        if let Batch::Starting { names: batch, .. } = &mut swarm.batch
            && batch.is_empty()
        {
            *batch = names;
        }
    }
    update_status(w, &current, &vs, plan.start, now);
    (wake, acted)
}

/// Swarm's `failure_action`.
fn fail(w: &mut Workload, action: FailureAction, reason: String) {
    match action {
        FailureAction::Continue => {}
        FailureAction::Pause => w.paused = Some(reason),
        FailureAction::Rollback if w.rolling_back.is_some() => {
            w.paused = Some(format!("rollback failed: {reason}"))
        }
        FailureAction::Rollback => {
            let n = w.revisions.len();
            let Some(prev) = n.checked_sub(2).and_then(|i| w.revisions.get(i)).cloned() else {
                w.paused = Some(format!("{reason}; no previous revision to roll back to"));
                return;
            };
            let mut s = (*prev.spec).clone();
            s.replicas = w.desired.replicas;
            s.strategy = w.desired.strategy.clone();
            s.extra_env = w.desired.extra_env.clone();
            let hash = s.template_hash();
            // Roll back without a new revision number being a new template: Swarm keeps the
            // previous spec as the service's spec again.
            w.revisions.retain(|r| r.hash != hash);
            let next = w.revision() + 1;
            w.revisions.push(crate::supervisor::Revision {
                number: next,
                hash: hash.clone(),
                spec: Arc::new(s.clone()),
                created: std::time::SystemTime::now(),
                cause: format!("rollback: {reason}"),
            });
            w.hash = hash;
            w.desired = Arc::new(s);
            w.rolling_back = Some(reason);
        }
    }
}

fn update_status(w: &mut Workload, current: &str, vs: &[View], starting: u32, now: Instant) {
    let live = || vs.iter().filter(|v| !v.terminating);
    let new = live().filter(|v| v.current).count() as u32 + starting;
    let old = vs.iter().filter(|v| !v.current).count() as u32;
    let ready = live().filter(|v| v.ready).count() as u32;
    let available = live().filter(|v| v.available).count() as u32;
    let new_available = live().filter(|v| v.current && v.available).count() as u32;
    let desired = w.desired.replicas;
    let complete = new == desired
        && new_available == desired
        && old == 0
        && !vs.iter().any(|v| v.terminating)
        && starting == 0;
    let counts = (new, ready, available, old);
    let prev = (
        w.status.updated,
        w.status.ready,
        w.status.available,
        w.status.old,
    );
    if counts != prev {
        w.progress_since = now;
    }
    let phase = if let Some(reason) = &w.paused {
        RolloutPhase::Paused {
            reason: reason.clone(),
        }
    } else if complete {
        w.rolling_back = None;
        RolloutPhase::Complete
    } else if let Some(reason) = &w.rolling_back {
        RolloutPhase::RollingBack {
            reason: reason.clone(),
        }
    } else if now.duration_since(w.progress_since) > w.desired.progress_deadline {
        RolloutPhase::Stalled {
            reason: format!(
                "ProgressDeadlineExceeded: no progress for {}",
                meridian_config::duration::format(w.desired.progress_deadline)
            ),
        }
    } else {
        RolloutPhase::Progressing
    };
    let revision = w
        .revisions
        .iter()
        .find(|r| r.hash == current)
        .map_or(w.revision(), |r| r.number);
    w.status.revision = revision;
    w.status.desired = desired;
    w.status.updated = new;
    w.status.ready = ready;
    w.status.available = available;
    w.status.old = old;
    w.status.phase = phase;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(name: &str, current: bool, ready: bool) -> View {
        View {
            name: name.into(),
            current,
            ready,
            available: ready,
            terminating: false,
            failed: false,
            slot: 0,
            available_at: None,
        }
    }

    #[test]
    fn rolling_update_surges_then_replaces_without_dropping_below_min_available() {
        // 4 replicas, maxSurge 1, maxUnavailable 0: one new at a time, an old one stops only
        // once a new one is available.
        let olds: Vec<View> = (0..4).map(|i| v(&format!("old{i}"), false, true)).collect();
        assert_eq!(
            rolling_step(4, 1, 0, &olds),
            Plan {
                start: 1,
                stop: vec![]
            }
        );
        let mut with_new = olds.clone();
        with_new.push(v("new0", true, false));
        assert_eq!(
            rolling_step(4, 1, 0, &with_new),
            Plan::default(),
            "wait for readiness"
        );
        with_new[4].ready = true;
        with_new[4].available = true;
        let p = rolling_step(4, 1, 0, &with_new);
        assert_eq!((p.start, p.stop.len()), (0, 1));
    }

    #[test]
    fn rolling_update_with_unavailability_replaces_in_parallel() {
        let olds: Vec<View> = (0..4).map(|i| v(&format!("old{i}"), false, true)).collect();
        // maxSurge 0, maxUnavailable 2: two old stop first.
        let p = rolling_step(4, 0, 2, &olds);
        assert_eq!((p.start, p.stop.len()), (0, 2));
    }

    #[test]
    fn unhealthy_old_replicas_go_first() {
        let views = vec![
            v("old-bad", false, false),
            v("old-ok", false, true),
            v("new", true, true),
        ];
        let p = rolling_step(2, 0, 0, &views);
        assert_eq!(p.stop, vec!["old-bad".to_owned()]);
    }

    #[test]
    fn recreate_stops_everything_first() {
        let views = vec![v("old", false, true), v("old2", false, true)];
        assert_eq!(recreate_step(2, &views).stop.len(), 2);
        let mut stopping = views.clone();
        stopping.iter_mut().for_each(|x| x.terminating = true);
        assert_eq!(recreate_step(2, &stopping), Plan::default());
        assert_eq!(
            recreate_step(2, &[]),
            Plan {
                start: 2,
                stop: vec![]
            }
        );
    }

    #[test]
    fn scale_down_removes_unready_then_newest() {
        let mut a = v("a", true, true);
        a.slot = 1;
        let mut b = v("b", true, false);
        b.slot = 2;
        let mut c = v("c", true, true);
        c.slot = 3;
        assert_eq!(
            scale_step(1, &[a, b, c]).stop,
            vec!["b".to_owned(), "c".to_owned()]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn swarm_batches_follow_parallelism_order_and_delay() {
        let cfg = UpdateConfig {
            parallelism: 2,
            delay: Duration::from_secs(10),
            failure_action: FailureAction::Pause,
            monitor: Duration::from_secs(1),
            max_failure_ratio: 0.0,
            order: UpdateOrder::StopFirst,
        };
        let mut run = SwarmRun::default();
        let olds: Vec<View> = (0..4).map(|i| v(&format!("old{i}"), false, true)).collect();
        let now = Instant::now();
        let SwarmOutcome::Plan(p, _) = swarm_step(&mut run, &cfg, 4, &olds, now) else {
            panic!("plan")
        };
        assert_eq!((p.start, p.stop.len()), (0, 2), "stop-first: two old stop");
        let mut vs = olds.clone();
        vs[0].terminating = true;
        vs[1].terminating = true;
        let SwarmOutcome::Plan(p, _) = swarm_step(&mut run, &cfg, 4, &vs, now) else {
            panic!("plan")
        };
        assert_eq!(p, Plan::default(), "waits until they are gone");
        let vs: Vec<View> = olds[2..].to_vec();
        let SwarmOutcome::Plan(p, _) = swarm_step(&mut run, &cfg, 4, &vs, now) else {
            panic!("plan")
        };
        assert_eq!(p.start, 2);
        if let Batch::Starting { names, .. } = &mut run.batch {
            *names = vec!["new0".into(), "new1".into()];
        }
        let mut vs2 = vs.clone();
        vs2.push(v("new0", true, true));
        vs2.push(v("new1", true, true));
        let SwarmOutcome::Plan(_, wake) = swarm_step(&mut run, &cfg, 4, &vs2, now) else {
            panic!("plan")
        };
        assert_eq!(
            wake,
            Some(now + Duration::from_secs(1)),
            "monitors the batch"
        );
        let SwarmOutcome::Plan(_, wake) =
            swarm_step(&mut run, &cfg, 4, &vs2, now + Duration::from_secs(1))
        else {
            panic!("plan")
        };
        assert_eq!(
            wake,
            Some(now + Duration::from_secs(11)),
            "then waits the delay"
        );
        let SwarmOutcome::Plan(p, _) =
            swarm_step(&mut run, &cfg, 4, &vs2, now + Duration::from_secs(11))
        else {
            panic!("plan")
        };
        assert_eq!(p.stop.len(), 2, "next batch");
    }

    #[test]
    fn swarm_failure_pauses() {
        let cfg = UpdateConfig {
            order: UpdateOrder::StartFirst,
            ..UpdateConfig::update_default()
        };
        let mut run = SwarmRun::default();
        let now = Instant::now();
        let olds = vec![v("old0", false, true)];
        let SwarmOutcome::Plan(p, _) = swarm_step(&mut run, &cfg, 1, &olds, now) else {
            panic!("plan")
        };
        assert_eq!(p.start, 1, "start-first starts the new one first");
        if let Batch::Starting { names, .. } = &mut run.batch {
            *names = vec!["new0".into()];
        }
        let mut bad = v("new0", true, false);
        bad.failed = true;
        let vs = vec![v("old0", false, true), bad];
        assert!(matches!(
            swarm_step(&mut run, &cfg, 1, &vs, now),
            SwarmOutcome::Failure(_)
        ));
    }
}
