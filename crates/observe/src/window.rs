//! Golden signals over a sliding window, as `linkerd viz stat` shows them: requests per second,
//! success rate and latency percentiles over the last minute.
//!
//! The request path only adds to cumulative atomics ([`Golden::record`]). Once a second a
//! ticker copies every counter set into its ring of snapshots; a window is the difference
//! between the newest snapshot and the one `window` seconds older, so reading never races
//! with recording and nothing is reset under a writer's feet.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Latency bucket upper bounds in microseconds: 100 µs × 1.25ⁱ, about 100 µs to 30 s.
const BUCKETS: usize = 58;

fn bounds() -> &'static [u64; BUCKETS] {
    static BOUNDS: std::sync::OnceLock<[u64; BUCKETS]> = std::sync::OnceLock::new();
    BOUNDS.get_or_init(|| {
        let mut b = [0u64; BUCKETS];
        let mut v = 100.0f64;
        for slot in &mut b {
            *slot = v.round() as u64;
            v *= 1.25;
        }
        b
    })
}

/// A latency's bucket, found once per request for all the keys it counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyBucket(usize);

impl LatencyBucket {
    /// The bucket of `latency` (index `BUCKETS` is "slower than every bound").
    #[inline]
    pub fn of(latency: Duration) -> LatencyBucket {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let b = bounds();
        // Index from the geometric series (one log), checked against the table.
        let guess = if us <= b[0] {
            0
        } else {
            ((us as f64 / 100.0).ln() / 1.25f64.ln()).ceil() as usize
        };
        let mut i = guess.min(BUCKETS);
        while i > 0 && i < BUCKETS && us <= b[i - 1] {
            i -= 1;
        }
        while i < BUCKETS && us > b[i] {
            i += 1;
        }
        LatencyBucket(i)
    }
}

/// Snapshots kept: a minute of history plus the newest.
const HISTORY: usize = 61;

/// Cumulative counters of one stat key (a workload, a service, a route, an edge).
#[derive(Debug)]
pub struct Golden {
    requests: AtomicU64,
    failures: AtomicU64,
    latency: [AtomicU64; BUCKETS],
    /// Overflow: slower than the last bound.
    slow: AtomicU64,
    history: Mutex<VecDeque<Snap>>,
}

#[derive(Debug, Clone)]
struct Snap {
    at: Instant,
    requests: u64,
    failures: u64,
    latency: Box<[u64]>,
}

/// What a window shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Signals {
    /// Requests in the window.
    pub requests: u64,
    /// Failed requests (5xx or no response) in the window.
    pub failures: u64,
    /// Requests per second.
    pub rps: f64,
    /// Share of requests that did not fail, 0 to 1 (`None` without requests).
    pub success_rate: Option<f64>,
    /// Latency percentiles in milliseconds.
    pub p50_ms: Option<f64>,
    /// The 95th percentile latency in milliseconds.
    pub p95_ms: Option<f64>,
    /// The 99th percentile latency in milliseconds.
    pub p99_ms: Option<f64>,
    /// Seconds the window really covers (less than asked just after start).
    pub seconds: f64,
}

impl Golden {
    pub(crate) fn new() -> Golden {
        Golden {
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            slow: AtomicU64::new(0),
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
        }
    }

    /// Counts one request: three relaxed adds.
    #[inline]
    pub fn record(&self, failed: bool, latency: LatencyBucket) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        match self.latency.get(latency.0) {
            Some(c) => c.fetch_add(1, Ordering::Relaxed),
            None => self.slow.fetch_add(1, Ordering::Relaxed),
        };
    }

    fn snap(&self, at: Instant) -> Snap {
        let mut latency: Vec<u64> = self
            .latency
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        latency.push(self.slow.load(Ordering::Relaxed));
        Snap {
            at,
            requests: self.requests.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            latency: latency.into_boxed_slice(),
        }
    }

    /// Keeps a snapshot (the ticker calls this once a second).
    pub fn tick(&self, at: Instant) {
        let snap = self.snap(at);
        let mut h = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        if h.len() == HISTORY {
            h.pop_front();
        }
        h.push_back(snap);
    }

    /// The signals over (at most) the last `window`, ending now.
    pub fn window(&self, window: Duration) -> Signals {
        let now = Instant::now();
        let newest = self.snap(now);
        let h = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        let base = h
            .iter()
            .find(|s| now.duration_since(s.at) <= window + Duration::from_millis(500))
            .cloned();
        drop(h);
        let Some(base) = base else {
            return Signals::default();
        };
        diff(&newest, &base)
    }
}

fn diff(new: &Snap, old: &Snap) -> Signals {
    let requests = new.requests.saturating_sub(old.requests);
    let failures = new.failures.saturating_sub(old.failures);
    let seconds = new.at.duration_since(old.at).as_secs_f64();
    let latency: Vec<u64> = new
        .latency
        .iter()
        .zip(old.latency.iter())
        .map(|(a, b)| a.saturating_sub(*b))
        .collect();
    let counted: u64 = latency.iter().sum();
    Signals {
        requests,
        failures,
        rps: if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        },
        success_rate: (requests > 0).then(|| 1.0 - failures as f64 / requests as f64),
        p50_ms: quantile(&latency, counted, 0.50),
        p95_ms: quantile(&latency, counted, 0.95),
        p99_ms: quantile(&latency, counted, 0.99),
        seconds,
    }
}

/// The `q` quantile in milliseconds, interpolated inside its bucket as Prometheus'
/// `histogram_quantile` does.
fn quantile(counts: &[u64], total: u64, q: f64) -> Option<f64> {
    if total == 0 {
        return None;
    }
    let b = bounds();
    let rank = q * total as f64;
    let mut seen = 0u64;
    for (i, c) in counts.iter().enumerate() {
        if *c == 0 {
            continue;
        }
        if (seen + c) as f64 >= rank {
            let lower = if i == 0 { 0 } else { b[i - 1] } as f64;
            let Some(upper) = b.get(i).map(|u| *u as f64) else {
                // Slower than every bound: report the last bound, as Prometheus does.
                return Some(b[BUCKETS - 1] as f64 / 1000.0);
            };
            let within = (rank - seen as f64) / *c as f64;
            return Some((lower + (upper - lower) * within) / 1000.0);
        }
        seen += c;
    }
    Some(b[BUCKETS - 1] as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_grow_geometrically_and_cover_thirty_seconds() {
        let b = bounds();
        assert_eq!(b[0], 100);
        assert!(b[BUCKETS - 1] > 25_000_000, "{}", b[BUCKETS - 1]);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn window_is_the_difference_of_snapshots() {
        let g = Golden::new();
        let t0 = Instant::now();
        g.tick(t0);
        for i in 0..100u64 {
            g.record(i % 10 == 0, LatencyBucket::of(Duration::from_millis(2)));
        }
        let s = g.window(Duration::from_secs(60));
        assert_eq!(s.requests, 100);
        assert_eq!(s.failures, 10);
        assert_eq!(s.success_rate, Some(0.9));
        let p50 = s.p50_ms.expect("p50");
        assert!((1.5..=2.5).contains(&p50), "{p50}");
    }

    #[test]
    fn quantiles_follow_the_distribution() {
        let g = Golden::new();
        g.tick(Instant::now());
        for _ in 0..90 {
            g.record(false, LatencyBucket::of(Duration::from_millis(1)));
        }
        for _ in 0..10 {
            g.record(false, LatencyBucket::of(Duration::from_millis(100)));
        }
        let s = g.window(Duration::from_secs(60));
        assert!(s.p50_ms.expect("p50") < 1.5);
        assert!(s.p99_ms.expect("p99") > 70.0);
        assert!(g.window(Duration::from_secs(60)).p95_ms.is_some());
    }

    #[test]
    fn every_latency_lands_in_the_bucket_that_bounds_it() {
        let b = bounds();
        for us in [0u64, 1, 99, 100, 101, 124, 125, 126, 5000, 40_000_000] {
            let g = Golden::new();
            g.record(false, LatencyBucket::of(Duration::from_micros(us)));
            let i = g
                .latency
                .iter()
                .position(|c| c.load(Ordering::Relaxed) == 1)
                .unwrap_or(BUCKETS);
            if i < BUCKETS {
                assert!(us <= b[i], "{us} in bucket {i} ({})", b[i]);
                assert!(i == 0 || us > b[i - 1], "{us} should be below bucket {i}");
            } else {
                assert!(us > b[BUCKETS - 1]);
            }
        }
    }
}
