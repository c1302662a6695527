//! Outlier detection (passive health checking) with Envoy's algorithm, as Istio configures it
//! from a DestinationRule's `outlierDetection`:
//!
//! * Each endpoint counts consecutive 5xx, consecutive gateway errors (502, 503, 504) and,
//!   with `splitExternalLocalOriginErrors`, consecutive local-origin failures (connect
//!   failures, resets, timeouts) apart. Without the split, a local-origin failure counts as
//!   the status Envoy would answer (503, or 504 for a timeout). Reaching a threshold ejects the
//!   endpoint at once; a success resets the counters.
//! * An ejection is refused when it would take the ejected share of the cluster past
//!   `maxEjectionPercent` (the new ejection counted, as Envoy does).
//! * Every `interval` the detector returns endpoints whose ejection time elapsed: base ×
//!   times ejected, capped at `max(base, 300 s)`. The multiplier grows with each ejection and
//!   shrinks by one for each interval an endpoint stays healthy after its return.
//! * Below `minHealthPercent` healthy endpoints (weighed by Envoy's over-provisioning factor
//!   1.4), the balancer panics and uses every endpoint, ejected or not.
//!
//! Counting is a few atomic operations per response; the lock is taken only to eject or
//! return an endpoint. Ejections and returns are logged and counted.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use meridian_control::snapshot::OutlierDetection;
use tokio::time::Instant;

use crate::pool::Endpoint;

/// Envoy's default over-provisioning factor (140%), used for the panic threshold.
const OVERPROVISIONING: u64 = 140;

/// What an attempt's outcome says of an endpoint's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The endpoint answered with this status.
    Status(u16),
    /// Connecting failed, or the connection was reset before a response.
    ConnectFailed,
    /// No response within the timeout.
    Timeout,
}

/// Why an endpoint was ejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EjectionReason {
    /// `consecutive5xxErrors`.
    Consecutive5xx,
    /// `consecutiveGatewayErrors`.
    ConsecutiveGatewayErrors,
    /// `consecutiveLocalOriginFailures`.
    ConsecutiveLocalOriginFailures,
}

impl EjectionReason {
    /// The name used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            EjectionReason::Consecutive5xx => "consecutive_5xx",
            EjectionReason::ConsecutiveGatewayErrors => "consecutive_gateway_errors",
            EjectionReason::ConsecutiveLocalOriginFailures => "consecutive_local_origin_failures",
        }
    }
}

#[derive(Debug, Default)]
struct Ejection {
    /// The ejection-time multiplier (Envoy's `ejectTimeBackoff`).
    multiplier: u32,
    /// When the current (or last) ejection began.
    ejected_at: Option<Instant>,
    /// When the endpoint last came back.
    returned_at: Option<Instant>,
    /// How long the current ejection lasts.
    duration: Duration,
    reason: Option<EjectionReason>,
}

/// An endpoint's passive-health state.
#[derive(Debug, Default)]
pub(crate) struct HostMonitor {
    consecutive_5xx: AtomicU32,
    consecutive_gateway: AtomicU32,
    consecutive_local: AtomicU32,
    ejected: AtomicBool,
    ejections: AtomicU64,
    ejection: Mutex<Ejection>,
}

impl HostMonitor {
    pub(crate) fn is_ejected(&self) -> bool {
        self.ejected.load(Ordering::Relaxed)
    }

    fn reset(&self) {
        self.consecutive_5xx.store(0, Ordering::Relaxed);
        self.consecutive_gateway.store(0, Ordering::Relaxed);
        self.consecutive_local.store(0, Ordering::Relaxed);
    }

    /// Counts an HTTP status; returns the reason when a threshold was reached.
    fn status(&self, code: u16, cfg: &OutlierDetection) -> Option<EjectionReason> {
        if code < 500 {
            if self.consecutive_5xx.load(Ordering::Relaxed) != 0 {
                self.consecutive_5xx.store(0, Ordering::Relaxed);
            }
            if self.consecutive_gateway.load(Ordering::Relaxed) != 0 {
                self.consecutive_gateway.store(0, Ordering::Relaxed);
            }
            return None;
        }
        let mut reason = None;
        if matches!(code, 502..=504) {
            let n = self.consecutive_gateway.fetch_add(1, Ordering::AcqRel) + 1;
            if cfg.consecutive_gateway_errors > 0 && n == cfg.consecutive_gateway_errors {
                reason = Some(EjectionReason::ConsecutiveGatewayErrors);
            }
        } else {
            self.consecutive_gateway.store(0, Ordering::Relaxed);
        }
        let n = self.consecutive_5xx.fetch_add(1, Ordering::AcqRel) + 1;
        if cfg.consecutive_5xx > 0 && n == cfg.consecutive_5xx {
            reason = Some(EjectionReason::Consecutive5xx);
        }
        reason
    }

    /// Counts an outcome under `cfg`; returns the reason when a threshold was reached.
    fn record(&self, outcome: Outcome, cfg: &OutlierDetection) -> Option<EjectionReason> {
        if !cfg.split_external_local_origin_errors {
            // Local-origin failures count as the status the proxy answers in their place.
            return match outcome {
                Outcome::Status(code) => self.status(code, cfg),
                Outcome::ConnectFailed => self.status(503, cfg),
                Outcome::Timeout => self.status(504, cfg),
            };
        }
        match outcome {
            Outcome::Status(code) => {
                // The connection worked: local-origin failures are no longer consecutive.
                if self.consecutive_local.load(Ordering::Relaxed) != 0 {
                    self.consecutive_local.store(0, Ordering::Relaxed);
                }
                self.status(code, cfg)
            }
            Outcome::ConnectFailed | Outcome::Timeout => {
                let n = self.consecutive_local.fetch_add(1, Ordering::AcqRel) + 1;
                (cfg.consecutive_local_origin_failures > 0
                    && n == cfg.consecutive_local_origin_failures)
                    .then_some(EjectionReason::ConsecutiveLocalOriginFailures)
            }
        }
    }
}

/// Counters of one cluster's detector.
#[derive(Debug, Default)]
struct Counters {
    ejections: AtomicU64,
    consecutive_5xx: AtomicU64,
    gateway: AtomicU64,
    local_origin: AtomicU64,
    overflow: AtomicU64,
    returns: AtomicU64,
}

/// A cluster's outlier detector: its configuration, its members and the ejection state the
/// balancer reads.
#[derive(Debug, Default)]
pub struct Detector {
    config: ArcSwapOption<OutlierDetection>,
    members: Mutex<Vec<Weak<Endpoint>>>,
    ejected: AtomicU32,
    panic: AtomicBool,
    counters: Counters,
    /// Held while an ejection is decided and recorded, so that concurrent ejections count
    /// each other against maxEjectionPercent (ejections are rare; no request waits on it).
    deciding: Mutex<()>,
}

impl Detector {
    /// The configuration in force (`None`: detection is off).
    pub fn config(&self) -> Option<Arc<OutlierDetection>> {
        self.config.load_full()
    }

    /// Puts a configuration in force (a new snapshot).
    pub(crate) fn configure(&self, cfg: Option<&OutlierDetection>) {
        let current = self.config.load();
        if current.as_deref() == cfg {
            return;
        }
        self.config.store(cfg.map(|c| Arc::new(c.clone())));
        if cfg.is_none() {
            // Detection turned off: everyone is back.
            let members = self.live_members();
            for m in &members {
                m.monitor.ejected.store(false, Ordering::Relaxed);
                m.monitor.reset();
            }
            self.ejected.store(0, Ordering::Relaxed);
            self.panic.store(false, Ordering::Relaxed);
        }
    }

    /// The cluster's endpoints now (after a rebuild).
    pub(crate) fn set_members(&self, endpoints: &[Arc<Endpoint>]) {
        if let Ok(mut m) = self.members.lock() {
            *m = endpoints.iter().map(Arc::downgrade).collect();
        }
        self.recount();
    }

    pub(crate) fn live_members(&self) -> Vec<Arc<Endpoint>> {
        self.members
            .lock()
            .map(|m| m.iter().filter_map(Weak::upgrade).collect())
            .unwrap_or_default()
    }

    /// Recomputes the ejected count and the panic state from the members.
    fn recount(&self) {
        let members = self.live_members();
        let total = members.len() as u64;
        let ejected = members.iter().filter(|m| m.monitor.is_ejected()).count() as u64;
        self.ejected.store(
            u32::try_from(ejected).unwrap_or(u32::MAX),
            Ordering::Relaxed,
        );
        let min_health = self
            .config
            .load()
            .as_ref()
            .map_or(0, |c| u64::from(c.min_health_percent));
        let panic = total > 0 && min_health > 0 && {
            let healthy = (OVERPROVISIONING * (total - ejected) / total).min(100);
            healthy < min_health
        };
        if panic != self.panic.swap(panic, Ordering::Relaxed) {
            if panic {
                tracing::warn!(
                    healthy = total - ejected,
                    total,
                    min_health_percent = min_health,
                    "outlier detection: panic mode, balancing across all endpoints"
                );
            } else {
                tracing::info!(
                    healthy = total - ejected,
                    total,
                    "outlier detection: panic mode over"
                );
            }
        }
    }

    /// Whether some endpoint is ejected and the balancer should avoid it.
    pub fn avoids_ejected(&self) -> bool {
        self.ejected.load(Ordering::Relaxed) > 0 && !self.panic.load(Ordering::Relaxed)
    }

    /// Whether the cluster is in panic mode (too few healthy endpoints: all are used).
    pub fn in_panic(&self) -> bool {
        self.panic.load(Ordering::Relaxed)
    }

    /// Endpoints ejected now.
    pub fn ejected_now(&self) -> u32 {
        self.ejected.load(Ordering::Relaxed)
    }

    /// Counts an attempt's outcome on `endpoint` (a member of this cluster), ejecting it when
    /// a threshold is reached.
    pub fn record(&self, endpoint: &Endpoint, outcome: Outcome) {
        let Some(cfg) = &*self.config.load() else {
            return;
        };
        if let Some(reason) = endpoint.monitor.record(outcome, cfg) {
            self.eject(endpoint, reason, cfg, Instant::now());
        }
    }

    fn eject(
        &self,
        endpoint: &Endpoint,
        reason: EjectionReason,
        cfg: &OutlierDetection,
        now: Instant,
    ) {
        let _deciding = self
            .deciding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let monitor = &endpoint.monitor;
        let Ok(mut state) = monitor.ejection.lock() else {
            return;
        };
        if monitor.is_ejected() {
            return;
        }
        // The counter that fired starts over, ejected or not (Envoy resets it so a new bout of
        // errors is needed).
        match reason {
            EjectionReason::Consecutive5xx => monitor.consecutive_5xx.store(0, Ordering::Relaxed),
            EjectionReason::ConsecutiveGatewayErrors => {
                monitor.consecutive_gateway.store(0, Ordering::Relaxed);
            }
            EjectionReason::ConsecutiveLocalOriginFailures => {
                monitor.consecutive_local.store(0, Ordering::Relaxed);
            }
        }
        let total = self
            .members
            .lock()
            .map(|m| m.iter().filter(|w| w.strong_count() > 0).count())
            .unwrap_or(0)
            .max(1);
        // Counted from the members, not the cached count: under `deciding`, every ejection
        // decided before this one is visible here.
        let ejected = self
            .live_members()
            .iter()
            .filter(|m| m.monitor.is_ejected())
            .count();
        // Envoy: the ejection may not take the ejected share past maxEjectionPercent.
        let percent = 100.0 * (ejected + 1) as f64 / total as f64;
        if percent > f64::from(cfg.max_ejection_percent.min(100)) {
            self.counters.overflow.fetch_add(1, Ordering::Relaxed);
            tracing::info!(cluster = %endpoint.cluster().name, endpoint = %endpoint.addr, reason = reason.as_str(), ejected, total, max_ejection_percent = cfg.max_ejection_percent, "outlier not ejected: maxEjectionPercent reached");
            return;
        }
        let base = cfg.base_ejection_time;
        let cap = cfg.max_ejection_time.max(base);
        // The multiplier stops growing once the cap is reached (as Envoy's backoff does).
        if base.saturating_mul(state.multiplier) < cap + base {
            state.multiplier += 1;
        }
        state.duration = base.saturating_mul(state.multiplier).min(cap);
        state.ejected_at = Some(now);
        state.reason = Some(reason);
        monitor.ejected.store(true, Ordering::Relaxed);
        monitor.ejections.fetch_add(1, Ordering::Relaxed);
        let secs = state.duration.as_secs_f64();
        drop(state);
        self.counters.ejections.fetch_add(1, Ordering::Relaxed);
        match reason {
            EjectionReason::Consecutive5xx => &self.counters.consecutive_5xx,
            EjectionReason::ConsecutiveGatewayErrors => &self.counters.gateway,
            EjectionReason::ConsecutiveLocalOriginFailures => &self.counters.local_origin,
        }
        .fetch_add(1, Ordering::Relaxed);
        self.recount();
        tracing::warn!(
            cluster = %endpoint.cluster().name,
            endpoint = %endpoint.addr,
            replica = %endpoint.key,
            reason = reason.as_str(),
            ejection_secs = secs,
            "outlier ejected"
        );
    }

    /// The interval sweep: returns endpoints whose ejection time elapsed, and lowers the
    /// multiplier of those that stayed healthy for an interval.
    pub(crate) fn sweep(&self, now: Instant) {
        let Some(cfg) = self.config.load_full() else {
            return;
        };
        let mut changed = false;
        for m in self.live_members() {
            let monitor = &m.monitor;
            let Ok(mut state) = monitor.ejection.lock() else {
                continue;
            };
            if !monitor.is_ejected() {
                if state.multiplier > 0
                    && state
                        .returned_at
                        .is_some_and(|r| now.duration_since(r) >= cfg.interval)
                {
                    state.multiplier -= 1;
                }
                continue;
            }
            let Some(at) = state.ejected_at else { continue };
            if now.duration_since(at) >= state.duration {
                monitor.ejected.store(false, Ordering::Relaxed);
                monitor.reset();
                state.returned_at = Some(now);
                self.counters.returns.fetch_add(1, Ordering::Relaxed);
                changed = true;
                tracing::info!(cluster = %m.cluster().name, endpoint = %m.addr, replica = %m.key, ejected_secs = now.duration_since(at).as_secs_f64(), "outlier returned");
            }
        }
        if changed {
            self.recount();
        }
    }

    /// Counts for metrics.
    pub fn status(&self) -> DetectorStatus {
        let c = &self.counters;
        DetectorStatus {
            enabled: self.config.load().is_some(),
            ejected: self.ejected_now(),
            panic: self.in_panic(),
            ejections_total: c.ejections.load(Ordering::Relaxed),
            ejections_consecutive_5xx: c.consecutive_5xx.load(Ordering::Relaxed),
            ejections_consecutive_gateway_errors: c.gateway.load(Ordering::Relaxed),
            ejections_consecutive_local_origin_failures: c.local_origin.load(Ordering::Relaxed),
            ejections_overflow: c.overflow.load(Ordering::Relaxed),
            returns_total: c.returns.load(Ordering::Relaxed),
        }
    }

    /// One endpoint's passive-health state.
    pub fn endpoint_status(&self, e: &Endpoint, now: Instant) -> HealthStatus {
        let m = &e.monitor;
        let (multiplier, remaining, reason) = m
            .ejection
            .lock()
            .map(|s| {
                let remaining = match (m.is_ejected(), s.ejected_at) {
                    (true, Some(at)) => Some(s.duration.saturating_sub(now.duration_since(at))),
                    _ => None,
                };
                (s.multiplier, remaining, s.reason)
            })
            .unwrap_or_default();
        HealthStatus {
            ejected: m.is_ejected(),
            ejection_remaining_ms: remaining
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            last_reason: reason,
            ejection_multiplier: multiplier,
            ejections_total: m.ejections.load(Ordering::Relaxed),
            consecutive_5xx: m.consecutive_5xx.load(Ordering::Relaxed),
            consecutive_gateway_errors: m.consecutive_gateway.load(Ordering::Relaxed),
            consecutive_local_origin_failures: m.consecutive_local.load(Ordering::Relaxed),
        }
    }
}

/// A cluster's outlier-detection counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DetectorStatus {
    /// Whether the cluster has `outlierDetection`.
    pub enabled: bool,
    /// Endpoints ejected now.
    pub ejected: u32,
    /// Panic mode (below `minHealthPercent`): every endpoint is used.
    pub panic: bool,
    /// Ejections so far.
    pub ejections_total: u64,
    /// ... for consecutive 5xx.
    pub ejections_consecutive_5xx: u64,
    /// ... for consecutive gateway errors.
    pub ejections_consecutive_gateway_errors: u64,
    /// ... for consecutive local-origin failures.
    pub ejections_consecutive_local_origin_failures: u64,
    /// Ejections refused by `maxEjectionPercent`.
    pub ejections_overflow: u64,
    /// Endpoints returned to service.
    pub returns_total: u64,
}

/// One endpoint's passive-health state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthStatus {
    /// Ejected now.
    pub ejected: bool,
    /// Time left in the current ejection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ejection_remaining_ms: Option<u64>,
    /// Why it was last ejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_reason: Option<EjectionReason>,
    /// The ejection-time multiplier (the next ejection lasts base × (this + 1)).
    pub ejection_multiplier: u32,
    /// Times ejected.
    pub ejections_total: u64,
    /// Consecutive 5xx so far.
    pub consecutive_5xx: u32,
    /// Consecutive gateway errors so far.
    pub consecutive_gateway_errors: u32,
    /// Consecutive local-origin failures so far.
    pub consecutive_local_origin_failures: u32,
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use meridian_control::snapshot::ConnectionPool;
    use test_case::test_case;

    use super::*;
    use crate::pool::ClusterState;
    use crate::upstream::Transport;

    fn config() -> OutlierDetection {
        OutlierDetection {
            consecutive_5xx: 3,
            consecutive_gateway_errors: 0,
            consecutive_local_origin_failures: 5,
            split_external_local_origin_errors: false,
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 100,
            min_health_percent: 0,
        }
    }

    fn cluster(n: usize, cfg: &OutlierDetection) -> (Arc<ClusterState>, Vec<Arc<Endpoint>>) {
        let c = Arc::new(ClusterState::new("c".into(), &ConnectionPool::default()));
        c.detector.configure(Some(cfg));
        let eps: Vec<Arc<Endpoint>> = (0..n)
            .map(|i| {
                Endpoint::in_cluster(
                    SocketAddr::from(([127, 0, 0, 1], 20_000 + i as u16)),
                    format!("r-{i}:3000"),
                    Transport::Plain,
                    c.clone(),
                )
            })
            .collect();
        c.detector.set_members(&eps);
        (c, eps)
    }

    fn fail(c: &ClusterState, e: &Endpoint, n: u32, code: u16) {
        for _ in 0..n {
            c.detector.record(e, Outcome::Status(code));
        }
    }

    #[test_case(500, 3, true; "three 500s eject")]
    #[test_case(500, 2, false; "two do not")]
    #[test_case(503, 3, true; "503 is a 5xx")]
    #[test_case(404, 10, false; "4xx never")]
    fn consecutive_5xx_eject_at_the_threshold(code: u16, n: u32, ejected: bool) {
        let (c, eps) = cluster(2, &config());
        fail(&c, &eps[0], n, code);
        assert_eq!(eps[0].is_ejected(), ejected);
    }

    #[test]
    fn a_success_breaks_the_run() {
        let (c, eps) = cluster(2, &config());
        fail(&c, &eps[0], 2, 500);
        fail(&c, &eps[0], 1, 200);
        fail(&c, &eps[0], 2, 500);
        assert!(!eps[0].is_ejected());
        fail(&c, &eps[0], 1, 500);
        assert!(eps[0].is_ejected());
    }

    #[test]
    fn gateway_errors_count_apart_when_enabled() {
        let cfg = OutlierDetection {
            consecutive_5xx: 0,
            consecutive_gateway_errors: 2,
            ..config()
        };
        let (c, eps) = cluster(2, &cfg);
        fail(&c, &eps[0], 5, 500);
        assert!(!eps[0].is_ejected(), "500 is no gateway error");
        fail(&c, &eps[0], 2, 502);
        assert!(eps[0].is_ejected());
    }

    #[test]
    fn local_origin_failures_count_as_503_without_the_split() {
        let (c, eps) = cluster(2, &config());
        for _ in 0..3 {
            c.detector.record(&eps[0], Outcome::ConnectFailed);
        }
        assert!(eps[0].is_ejected());
    }

    #[test]
    fn split_local_origin_failures_have_their_own_threshold() {
        let cfg = OutlierDetection {
            split_external_local_origin_errors: true,
            consecutive_local_origin_failures: 2,
            ..config()
        };
        let (c, eps) = cluster(2, &cfg);
        c.detector.record(&eps[0], Outcome::ConnectFailed);
        fail(&c, &eps[0], 1, 500);
        c.detector.record(&eps[0], Outcome::Timeout);
        assert!(!eps[0].is_ejected(), "a response in between breaks the run");
        c.detector.record(&eps[0], Outcome::Timeout);
        assert!(eps[0].is_ejected());
        // 5xx responses still count on their own.
        fail(&c, &eps[1], 3, 500);
        assert!(eps[1].is_ejected());
    }

    #[test_case(4, 50, 2; "half of four")]
    #[test_case(3, 50, 1; "one of three: two would be 67%")]
    #[test_case(3, 10, 0; "istio's default 10% ejects none of three")]
    #[test_case(10, 10, 1; "one of ten")]
    fn max_ejection_percent_caps_ejections(n: usize, percent: u32, expected: usize) {
        let cfg = OutlierDetection {
            max_ejection_percent: percent,
            ..config()
        };
        let (c, eps) = cluster(n, &cfg);
        for e in &eps {
            fail(&c, e, 3, 500);
        }
        let ejected = eps.iter().filter(|e| e.is_ejected()).count();
        assert_eq!(ejected, expected);
        assert_eq!(c.detector.ejected_now() as usize, expected);
    }

    #[test]
    fn concurrent_ejections_respect_max_ejection_percent() {
        // Eight endpoints failing at once from eight threads, a cap of 25%: never more than
        // two ejected, however the threads interleave.
        for _ in 0..50 {
            let cfg = OutlierDetection {
                max_ejection_percent: 25,
                ..config()
            };
            let (c, eps) = cluster(8, &cfg);
            let barrier = std::sync::Barrier::new(eps.len());
            std::thread::scope(|scope| {
                for e in &eps {
                    let (c, barrier) = (&c, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        fail(c, e, 3, 500);
                    });
                }
            });
            let ejected = eps.iter().filter(|e| e.is_ejected()).count();
            assert_eq!(ejected, 2);
            assert_eq!(c.detector.ejected_now(), 2);
        }
    }

    #[test_case(4, 2, 50, false; "1.4 x 50% = 70% healthy is above 50")]
    #[test_case(4, 3, 50, true; "1.4 x 25% = 35% is below 50")]
    #[test_case(4, 3, 0, false; "istio's default 0 never panics")]
    fn panic_below_min_health_percent(n: usize, eject: usize, min_health: u32, panic: bool) {
        let cfg = OutlierDetection {
            min_health_percent: min_health,
            ..config()
        };
        let (c, eps) = cluster(n, &cfg);
        for e in eps.iter().take(eject) {
            fail(&c, e, 3, 500);
        }
        assert_eq!(c.detector.in_panic(), panic);
        assert_eq!(c.detector.avoids_ejected(), !panic);
    }

    #[test_case(0, false; "ejected endpoints get no pick")]
    #[test_case(100, true; "panic mode picks every endpoint")]
    fn the_balancer_skips_ejected_endpoints_unless_in_panic(min_health: u32, picked: bool) {
        use crate::balancer::{Balancer, PickContext};
        use meridian_control::snapshot::LoadBalancer;
        let cfg = OutlierDetection {
            min_health_percent: min_health,
            ..config()
        };
        let (c, eps) = cluster(3, &cfg);
        fail(&c, &eps[0], 3, 500);
        for lb in [
            LoadBalancer::LeastRequest,
            LoadBalancer::RoundRobin,
            LoadBalancer::Random,
        ] {
            let b = Balancer::new(eps.clone(), lb, None);
            let hits = (0..300)
                .filter(|_| {
                    b.pick(PickContext::default())
                        .is_some_and(|e| e.addr == eps[0].addr)
                })
                .count();
            assert_eq!(hits > 0, picked, "{hits}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ejection_time_grows_with_each_ejection_and_is_capped() {
        let cfg = OutlierDetection {
            base_ejection_time: Duration::from_secs(100),
            interval: Duration::from_secs(1),
            ..config()
        };
        let (c, eps) = cluster(2, &cfg);
        let e = &eps[0];
        let mut lasted = Vec::new();
        for _ in 0..5 {
            fail(&c, e, 3, 500);
            assert!(e.is_ejected());
            let start = Instant::now();
            while e.is_ejected() {
                tokio::time::advance(Duration::from_secs(1)).await;
                c.detector.sweep(Instant::now());
            }
            lasted.push(Instant::now().duration_since(start).as_secs());
        }
        // base × times ejected: 100, 200, 300, then the 300 s cap.
        assert_eq!(lasted, vec![100, 200, 300, 300, 300]);
    }

    #[tokio::test(start_paused = true)]
    async fn healthy_intervals_bring_the_multiplier_back_down() {
        let cfg = OutlierDetection {
            base_ejection_time: Duration::from_secs(30),
            interval: Duration::from_secs(10),
            ..config()
        };
        let (c, eps) = cluster(2, &cfg);
        let e = &eps[0];
        for _ in 0..2 {
            fail(&c, e, 3, 500);
            while e.is_ejected() {
                tokio::time::advance(Duration::from_secs(10)).await;
                c.detector.sweep(Instant::now());
            }
        }
        let now = Instant::now();
        assert_eq!(c.detector.endpoint_status(e, now).ejection_multiplier, 2);
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(10)).await;
            c.detector.sweep(Instant::now());
        }
        assert_eq!(
            c.detector
                .endpoint_status(e, Instant::now())
                .ejection_multiplier,
            0
        );
        fail(&c, e, 3, 500);
        let status = c.detector.endpoint_status(e, Instant::now());
        assert_eq!(status.ejection_remaining_ms, Some(30_000));
    }
}
