//! Whether, and when, a stopped process starts again: Kubernetes' `restartPolicy: Always`
//! with its crash back-off, and Swarm's `restart_policy`.

use std::collections::VecDeque;
use std::time::Duration;

use meridian_config::compose::{RestartCondition, RestartPolicy};
use tokio::time::Instant;

use crate::workload::RestartRule;

/// Kubernetes' crash back-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay (10s in Kubernetes).
    pub initial: Duration,
    /// Longest delay (300s).
    pub max: Duration,
    /// A process that ran this long resets the back-off (10 minutes).
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
            reset_after: Duration::from_secs(600),
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Exit code 0.
    Success,
    /// Non-zero exit, a signal, a failed start, or a failed probe.
    Failure,
}

/// The decision after a process stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Start again after this delay.
    Restart(Duration),
    /// Do not start again; the reason is shown in `ps`.
    GiveUp(String),
}

/// Restart bookkeeping for one container.
#[derive(Debug)]
pub(crate) struct Restarts {
    rule: RestartRule,
    backoff: Backoff,
    /// Consecutive crashes since the back-off last reset.
    streak: u32,
    /// Swarm: times of restarts (for `window`).
    history: VecDeque<Instant>,
    /// Restarts so far.
    pub(crate) count: u32,
}

impl Restarts {
    pub(crate) fn new(rule: RestartRule, backoff: Backoff) -> Self {
        Self {
            rule,
            backoff,
            streak: 0,
            history: VecDeque::new(),
            count: 0,
        }
    }

    /// Decides what to do after a process that ran for `ran` ended.
    pub(crate) fn decide(&mut self, ending: Ending, ran: Duration, now: Instant) -> Decision {
        match &self.rule {
            RestartRule::Always => {
                if ran >= self.backoff.reset_after {
                    self.streak = 0;
                }
                // 10s, 20s, 40s, ... capped: doubling from the first crash.
                let shift = self.streak.min(16);
                let delay = self
                    .backoff
                    .initial
                    .saturating_mul(1u32 << shift)
                    .min(self.backoff.max);
                self.streak += 1;
                self.count += 1;
                Decision::Restart(delay)
            }
            RestartRule::Swarm(p) => self.swarm(p.clone(), ending, now),
        }
    }

    fn swarm(&mut self, p: RestartPolicy, ending: Ending, now: Instant) -> Decision {
        match (p.condition, ending) {
            (RestartCondition::None, _) => {
                return Decision::GiveUp("restart_policy condition is none".into());
            }
            (RestartCondition::OnFailure, Ending::Success) => {
                return Decision::GiveUp(
                    "exited successfully (restart_policy condition on-failure)".into(),
                );
            }
            _ => {}
        }
        if let Some(max) = p.max_attempts {
            if let Some(w) = p.window {
                while self
                    .history
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > w)
                {
                    self.history.pop_front();
                }
            }
            if self.history.len() >= max as usize {
                let within = p
                    .window
                    .map(|w| format!(" within {}", meridian_config::duration::format(w)))
                    .unwrap_or_default();
                return Decision::GiveUp(format!(
                    "restart_policy max_attempts ({max}) reached{within}"
                ));
            }
        }
        self.history.push_back(now);
        self.count += 1;
        Decision::Restart(p.delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn kubernetes_backoff_doubles_caps_and_resets() {
        let mut r = Restarts::new(RestartRule::Always, Backoff::default());
        let now = Instant::now();
        let delays: Vec<Decision> = (0..7)
            .map(|_| r.decide(Ending::Failure, secs(1), now))
            .collect();
        let want: Vec<Decision> = [10, 20, 40, 80, 160, 300, 300]
            .into_iter()
            .map(|s| Decision::Restart(secs(s)))
            .collect();
        assert_eq!(delays, want);
        assert_eq!(
            r.decide(Ending::Success, secs(601), now),
            Decision::Restart(secs(10)),
            "ten minutes of running resets it"
        );
        assert_eq!(r.count, 8);
    }

    fn swarm(
        condition: RestartCondition,
        max_attempts: Option<u32>,
        window: Option<Duration>,
    ) -> Restarts {
        Restarts::new(
            RestartRule::Swarm(RestartPolicy {
                condition,
                delay: secs(5),
                max_attempts,
                window,
            }),
            Backoff::default(),
        )
    }

    #[test]
    fn swarm_conditions() {
        let now = Instant::now();
        let mut none = swarm(RestartCondition::None, None, None);
        assert!(matches!(
            none.decide(Ending::Failure, secs(1), now),
            Decision::GiveUp(_)
        ));
        let mut on_failure = swarm(RestartCondition::OnFailure, None, None);
        assert!(matches!(
            on_failure.decide(Ending::Success, secs(1), now),
            Decision::GiveUp(_)
        ));
        assert_eq!(
            on_failure.decide(Ending::Failure, secs(1), now),
            Decision::Restart(secs(5))
        );
        let mut any = swarm(RestartCondition::Any, None, None);
        assert_eq!(
            any.decide(Ending::Success, secs(1), now),
            Decision::Restart(secs(5))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn swarm_max_attempts_counts_within_the_window() {
        let mut r = swarm(RestartCondition::Any, Some(2), Some(secs(60)));
        let t0 = Instant::now();
        assert!(matches!(
            r.decide(Ending::Failure, secs(1), t0),
            Decision::Restart(_)
        ));
        assert!(matches!(
            r.decide(Ending::Failure, secs(1), t0 + secs(10)),
            Decision::Restart(_)
        ));
        assert_eq!(
            r.decide(Ending::Failure, secs(1), t0 + secs(20)),
            Decision::GiveUp("restart_policy max_attempts (2) reached within 1m0s".into())
        );
        // Once the first restarts leave the window, attempts are available again.
        tokio::time::advance(secs(120)).await;
        assert!(matches!(
            r.decide(Ending::Failure, secs(1), Instant::now()),
            Decision::Restart(_)
        ));
        let mut forever = swarm(RestartCondition::Any, Some(1), None);
        assert!(matches!(
            forever.decide(Ending::Failure, secs(1), t0),
            Decision::Restart(_)
        ));
        assert!(matches!(
            forever.decide(Ending::Failure, secs(1), t0 + secs(3600)),
            Decision::GiveUp(_)
        ));
    }
}
