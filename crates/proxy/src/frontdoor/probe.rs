//! A backend's health, as Front Door's health probes decide it, plus what the data plane
//! learns from requests:
//!
//! * A probe is a `HEAD` or `GET` of the probe path on a new connection, with Front Door's
//!   `User-Agent: Edge Health Probe` and `X-FD-HealthProbe: 1`; only `200 OK` succeeds. Its
//!   latency runs from just before sending to the last byte. A probe that does not finish
//!   within the probe timeout (the interval, at most 30 s) failed.
//! * Healthy: at least `successful_samples_required` of the last `sample_size` probes
//!   succeeded. A new backend starts with a full window of successes (Front Door sends
//!   traffic to a new backend before its first probe).
//! * Suspect: a request the backend failed (connect error, reset, timeout) takes it out of
//!   selection at once and wakes its prober; the next successful probe brings it back. Each
//!   failed probe keeps it out for [`SUSPICION`] more; without probes (or once its prober
//!   is gone) that is all, and the next request tries it again.
//!   Front Door itself waits for its probes (about 90 s); this is what makes failover
//!   take one failed request instead. A suspect backend is probed every second.
//! * Only the prober writes the window. A prober that stops (its task ends or panics)
//!   leaves the last verdict in place: a dead checker never turns a healthy backend
//!   unhealthy.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use tokio::sync::Notify;

use crate::body::{RequestBody, ResponseBody};
use crate::pool::{Endpoint, Protocol};
use crate::upstream::{self, SendOptions, Transport};

/// How a pool probes its backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeConfig {
    /// The path probed.
    pub path: String,
    /// `HEAD` or `GET`.
    pub method: Method,
    /// Between probes.
    pub interval: Duration,
    /// Over HTTPS (`protocol = "Https"`), to the backend's HTTPS address with the
    /// verification its requests get.
    pub https: bool,
}

impl ProbeConfig {
    /// A probe that has not answered by then failed.
    pub fn timeout(&self) -> Duration {
        self.interval.min(Duration::from_secs(30))
    }
}

/// How long a failed request, or a failed probe of a suspect backend, keeps it out.
pub(crate) const SUSPICION: Duration = Duration::from_secs(30);
/// The same for a backend without probes, which only requests can bring back.
const UNPROBED_SUSPICION: Duration = Duration::from_secs(5);
/// How often a suspect backend is probed.
const SUSPECT_REPROBE: Duration = Duration::from_secs(1);
/// Probes woken by failed requests are at least this far apart.
const MIN_GAP: Duration = Duration::from_millis(200);

/// One backend's health, read by every request without a lock.
#[derive(Debug)]
pub(crate) struct Health {
    /// The probe window's verdict.
    probed: AtomicBool,
    /// A failed request took the backend out until then (see the module's notes).
    /// Milliseconds since `epoch`, 0 when not.
    suspect_until: AtomicU64,
    /// The last successful probe's latency in microseconds, `u64::MAX` before one.
    latency_us: AtomicU64,
    /// Probes sent and probes failed.
    pub(crate) probes: AtomicU64,
    pub(crate) probe_failures: AtomicU64,
    /// Wakes the prober after a failed request.
    wake: Notify,
    /// The last sample_size outcomes; only the prober writes it.
    window: std::sync::Mutex<VecDeque<bool>>,
    epoch: Instant,
}

impl Health {
    pub(crate) fn new(sample_size: usize) -> Health {
        Health {
            probed: AtomicBool::new(true),
            suspect_until: AtomicU64::new(0),
            latency_us: AtomicU64::new(u64::MAX),
            probes: AtomicU64::new(0),
            probe_failures: AtomicU64::new(0),
            wake: Notify::new(),
            window: std::sync::Mutex::new(std::iter::repeat_n(true, sample_size.max(1)).collect()),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Healthy by its probes.
    pub(crate) fn probed_healthy(&self) -> bool {
        self.probed.load(Ordering::Relaxed)
    }

    /// Taken out by a failed request.
    pub(crate) fn suspect(&self) -> bool {
        let until = self.suspect_until.load(Ordering::Relaxed);
        until != 0 && self.now_ms() < until
    }

    /// Available for selection.
    pub(crate) fn healthy(&self) -> bool {
        self.probed_healthy() && !self.suspect()
    }

    /// The last probe's latency.
    pub(crate) fn latency(&self) -> Option<Duration> {
        match self.latency_us.load(Ordering::Relaxed) {
            u64::MAX => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// A request failed on this backend: out of selection until a probe succeeds, or the
    /// suspicion runs out.
    pub(crate) fn failed_request(&self, probed: bool) {
        self.suspect_for(if probed {
            SUSPICION
        } else {
            UNPROBED_SUSPICION
        });
        self.wake.notify_one();
    }

    fn suspect_for(&self, d: Duration) {
        let until = self
            .now_ms()
            .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .max(1);
        self.suspect_until.store(until, Ordering::Relaxed);
    }

    /// Records a probe's outcome against the window.
    pub(crate) fn record(&self, ok: bool, latency: Duration, required: usize) {
        self.probes.fetch_add(1, Ordering::Relaxed);
        if ok {
            self.latency_us.store(
                u64::try_from(latency.as_micros()).unwrap_or(u64::MAX - 1),
                Ordering::Relaxed,
            );
            self.suspect_until.store(0, Ordering::Relaxed);
        } else {
            self.probe_failures.fetch_add(1, Ordering::Relaxed);
            if self.suspect() {
                self.suspect_for(SUSPICION);
            }
        }
        let verdict = {
            let mut w = self
                .window
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            w.pop_front();
            w.push_back(ok);
            w.iter().filter(|s| **s).count() >= required
        };
        self.probed.store(verdict, Ordering::Relaxed);
    }
}

/// What a prober needs: where, what, and whom to tell.
#[derive(Debug)]
pub(crate) struct Prober {
    pub(crate) endpoint: Arc<Endpoint>,
    pub(crate) host: String,
    pub(crate) config: ProbeConfig,
    pub(crate) required: usize,
    pub(crate) health: Arc<Health>,
}

impl Prober {
    /// Probes until the task is aborted.
    pub(crate) async fn run(self) {
        loop {
            let started = Instant::now();
            let ok = self.probe_once().await;
            self.health.record(ok, started.elapsed(), self.required);
            tokio::time::sleep(MIN_GAP).await;
            // A suspect backend is probed every second until it answers: a blip costs it
            // a second out of rotation, not a whole interval.
            let interval = if self.health.suspect() {
                self.config.interval.min(SUSPECT_REPROBE)
            } else {
                self.config.interval
            };
            let rest = interval.saturating_sub(MIN_GAP);
            tokio::select! {
                () = tokio::time::sleep(rest) => {}
                () = self.health.wake.notified() => {}
            }
        }
    }

    /// One probe: true when it answered `200 OK` within the probe timeout.
    pub(crate) async fn probe_once(&self) -> bool {
        let mut req = Request::new(RequestBody::Empty);
        *req.method_mut() = self.config.method.clone();
        let Ok(uri) = self.config.path.parse() else {
            return false;
        };
        *req.uri_mut() = uri;
        let headers = req.headers_mut();
        if let Ok(h) = HeaderValue::from_str(&self.host) {
            headers.insert(header::HOST, h);
        }
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static("Edge Health Probe"),
        );
        headers.insert("x-fd-healthprobe", HeaderValue::from_static("1"));
        let opts = SendOptions {
            protocol: Protocol::Http1,
            connect_timeout: self.config.timeout(),
            idle_timeout: None,
            // A new connection per probe, as Front Door's.
            max_requests_per_connection: 1,
        };
        let exchange = async {
            let (resp, lease) = upstream::send(&self.endpoint, req, opts).await.ok()?;
            let status = resp.status();
            let (_, body) = resp.into_parts();
            ResponseBody::upstream(body, lease, None)
                .collect()
                .await
                .ok()
                .map(|_| status)
        };
        matches!(
            tokio::time::timeout(self.config.timeout(), exchange).await,
            Ok(Some(StatusCode::OK))
        )
    }
}

/// A standalone endpoint for probes, apart from the pool requests use.
pub(crate) fn endpoint(
    addr: std::net::SocketAddr,
    name: &str,
    transport: Transport,
) -> Arc<Endpoint> {
    Endpoint::standalone(addr, format!("frontdoor-probe|{name}"), transport)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_failures_of_four_turn_unhealthy_with_two_required() {
        let h = Health::new(4);
        let ms = Duration::from_millis(1);
        h.record(false, ms, 2);
        assert!(h.probed_healthy());
        h.record(false, ms, 2);
        assert!(h.probed_healthy(), "2 of 4 still succeed");
        h.record(false, ms, 2);
        assert!(!h.probed_healthy(), "1 of 4");
        h.record(true, ms, 2);
        assert!(!h.probed_healthy(), "1 of 4 again");
        h.record(true, ms, 2);
        assert!(h.probed_healthy(), "2 of 4");
    }

    #[tokio::test(start_paused = true)]
    async fn suspicion_runs_out_without_a_prober_and_failed_probes_extend_it() {
        let h = Health::new(4);
        h.failed_request(true);
        tokio::time::advance(SUSPICION - Duration::from_secs(1)).await;
        assert!(h.suspect());
        // A failed probe while suspect: out for another SUSPICION.
        h.record(false, Duration::ZERO, 2);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(h.suspect());
        // No prober any more: the suspicion runs out and requests try it again.
        tokio::time::advance(SUSPICION).await;
        assert!(!h.suspect() && h.healthy());
        // Without probes, a shorter suspicion.
        h.failed_request(false);
        assert!(h.suspect());
        tokio::time::advance(UNPROBED_SUSPICION).await;
        assert!(!h.suspect());
    }

    #[test]
    fn a_failed_request_suspects_until_a_good_probe() {
        let h = Health::new(4);
        assert!(h.healthy());
        h.failed_request(true);
        assert!(!h.healthy() && h.probed_healthy());
        h.record(false, Duration::ZERO, 2);
        assert!(!h.healthy(), "a failed probe does not clear suspicion");
        h.record(true, Duration::from_millis(3), 2);
        assert!(h.healthy());
        assert_eq!(h.latency(), Some(Duration::from_millis(3)));
    }
}
