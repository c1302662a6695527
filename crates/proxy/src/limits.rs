//! What one client may hold: the bounds every listener enforces, so that no client (slow,
//! idle, or many at once) can exhaust the node. Two sets: the edge's, for the gateway and the
//! ports that face users, after nginx's and Envoy's edge recommendations; and the mesh's, for
//! sidecar listeners whose clients are Meridian's own pools, with Envoy's defaults.
//!
//! * `request_head_timeout`: the whole request head, from its first byte (or from accept, for
//!   a connection's first request) to its last; not per read, so a client that trickles a
//!   byte at a time is cut at the deadline (Envoy's `request_headers_timeout`, nginx's
//!   `client_header_timeout`).
//! * `idle_timeout`: a connection with no request in flight and no byte moving is closed
//!   (HTTP/1.1 keep-alive, HTTP/2 with GOAWAY; Envoy's `idle_timeout`, nginx's
//!   `keepalive_timeout`).
//! * `tls_handshake_timeout`: the TLS handshake (and a PROXY protocol header) must finish in
//!   time.
//! * `max_connections`: connections open at once per listener; past it, new connections are
//!   closed at accept and the refusal is logged (at most every ten seconds, with a count).
//! * `max_concurrent_streams`: HTTP/2 streams open at once per connection (Envoy's edge
//!   recommendation: 100).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bounds on client connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time to receive a whole request head.
    pub request_head_timeout: Duration,
    /// Time a connection may stay idle.
    pub idle_timeout: Duration,
    /// Time to finish a TLS handshake (and read a PROXY protocol header).
    pub tls_handshake_timeout: Duration,
    /// Connections open at once, per listener.
    pub max_connections: usize,
    /// HTTP/2 streams open at once, per connection.
    pub max_concurrent_streams: u32,
}

impl ConnectionLimits {
    /// Listeners that face users: the gateway and published ports. Head timeout 10 s and
    /// 100 streams (Envoy's edge recommendations), keep-alive idle 75 s (nginx's default),
    /// handshake 10 s, 16,384 connections per listener.
    pub const EDGE: ConnectionLimits = ConnectionLimits {
        request_head_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(75),
        tls_handshake_timeout: Duration::from_secs(10),
        max_connections: 16_384,
        max_concurrent_streams: 100,
    };

    /// Sidecar listeners, whose clients are the mesh's pools: Envoy's defaults (idle one
    /// hour, so pooled connections are not cut under the pools' own idle timeouts), a head
    /// timeout of 60 s, 1,024 streams.
    pub const MESH: ConnectionLimits = ConnectionLimits {
        request_head_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(3600),
        tls_handshake_timeout: Duration::from_secs(10),
        max_connections: 16_384,
        max_concurrent_streams: 1_024,
    };
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits::EDGE
    }
}

/// A listener's open-connection budget.
#[derive(Debug)]
pub(crate) struct ConnectionBudget {
    permits: Arc<Semaphore>,
    max: usize,
    refused: AtomicU64,
    log: LogThrottle,
}

impl ConnectionBudget {
    pub(crate) fn new(max: usize) -> ConnectionBudget {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        ConnectionBudget {
            permits: Arc::new(Semaphore::new(max)),
            max,
            refused: AtomicU64::new(0),
            log: LogThrottle::new(),
        }
    }

    /// A permit for one more connection; `None` (and a log line, rate limited) at the limit.
    pub(crate) fn admit(&self, listener: &str) -> Option<OwnedSemaphorePermit> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Some(p);
        }
        let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        if self.log.due().is_some() {
            tracing::warn!(
                listener,
                limit = self.max,
                refused_total = refused,
                "listener at its connection limit: new connections are closed at accept"
            );
        }
        None
    }

    /// Connections refused so far.
    #[cfg(test)]
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// How often a throttled event is logged at most.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// At most one log line per ten seconds for an event that a client can repeat at will (a
/// refused connection, a port scan): the first is logged, then one per interval saying how
/// many were not.
#[derive(Debug)]
pub(crate) struct LogThrottle {
    /// Milliseconds since `epoch` when a line was last logged (0: never).
    logged_at: AtomicU64,
    suppressed: AtomicU64,
    epoch: std::time::Instant,
}

impl LogThrottle {
    pub(crate) fn new() -> LogThrottle {
        LogThrottle {
            logged_at: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            epoch: std::time::Instant::now(),
        }
    }

    /// `Some(n)` when a line is due now (n: the events not logged since the last one);
    /// `None` when this one should not be logged.
    pub(crate) fn due(&self) -> Option<u64> {
        let now = u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let last = self.logged_at.load(Ordering::Relaxed);
        let interval = u64::try_from(LOG_EVERY.as_millis()).unwrap_or(u64::MAX);
        let due = last == 0 || now.saturating_sub(last) >= interval;
        if due
            && self
                .logged_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_admits_up_to_its_limit_and_again_after_a_release() {
        let b = ConnectionBudget::new(2);
        let one = b.admit("test").expect("first");
        let _two = b.admit("test").expect("second");
        assert!(b.admit("test").is_none());
        assert!(b.admit("test").is_none());
        assert_eq!(b.refused(), 2);
        drop(one);
        assert!(b.admit("test").is_some());
    }

    #[test]
    fn a_throttled_log_says_how_many_it_left_out() {
        let t = LogThrottle::new();
        assert_eq!(t.due(), Some(0), "the first is logged");
        assert_eq!(t.due(), None);
        assert_eq!(t.due(), None);
        // A line is due again once the interval has passed.
        t.logged_at.store(1, Ordering::Relaxed);
        let later = LogThrottle {
            epoch: std::time::Instant::now() - LOG_EVERY * 2,
            ..t
        };
        assert_eq!(later.due(), Some(2));
    }
}
