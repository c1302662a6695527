//! The stat keys `meridian stat`, `top` and the dashboard read: per workload (inbound), per
//! replica, per service and per route (client side), and the graph's edges. Each key owns a
//! [`Golden`] resolved once per route/peer pair; the table is locked only to resolve a new
//! key, to tick and to read, never per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::window::Golden;

/// What a [`Golden`] counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatKey {
    /// Requests a workload served (destination side), by `namespace/name`.
    Deploy(String),
    /// Requests a replica served.
    Replica(String),
    /// Requests sent to a service (client side), by FQDN.
    Service(String),
    /// Requests sent to a cluster (a service port and subset), by its name.
    Route(String),
    /// A client workload calling a service.
    ClientEdge {
        /// `namespace/name` of the caller.
        source: String,
        /// Service FQDN.
        service: String,
    },
    /// A service's requests landing on a workload.
    ServiceEdge {
        /// Service FQDN.
        service: String,
        /// `namespace/name` of the workload.
        destination: String,
    },
}

/// Every stat key seen so far.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    table: Mutex<HashMap<StatKey, Arc<Golden>>>,
}

impl Stats {
    /// The counters of `key`, created on first use.
    pub(crate) fn golden(&self, key: StatKey) -> Arc<Golden> {
        let mut t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        t.entry(key)
            .or_insert_with(|| {
                let g = Arc::new(Golden::new());
                // A first snapshot, so the first window starts at the key's creation.
                g.tick(Instant::now());
                g
            })
            .clone()
    }

    /// Snapshots every key (once a second).
    pub(crate) fn tick(&self) {
        let now = Instant::now();
        for g in self.all() {
            g.1.tick(now);
        }
    }

    /// Every key with its counters, sorted by key.
    pub(crate) fn all(&self) -> Vec<(StatKey, Arc<Golden>)> {
        let t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<(StatKey, Arc<Golden>)> =
            t.iter().map(|(k, g)| (k.clone(), g.clone())).collect();
        drop(t);
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}
