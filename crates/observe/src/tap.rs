//! Live requests, as `linkerd viz tap` streams them: one event per request and reporter,
//! built only while someone is watching (an atomic count of watchers is checked per request;
//! the broadcast channel's own count takes a lock).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::broadcast;

/// One request as seen by one proxy.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct TapEvent {
    /// Unix time in milliseconds when the request arrived.
    pub time_ms: u64,
    /// `source` (client side, gateway) or `destination` (server side).
    pub reporter: String,
    /// Calling workload, `namespace/name` (`unknown` when the caller is not meshed).
    pub source: String,
    /// Serving workload, `namespace/name`.
    pub destination: String,
    /// Serving replica, when known.
    pub replica: Option<String>,
    /// Destination service FQDN.
    pub service: String,
    /// Cluster (`outbound|80|v2|myapp.default.svc.cluster.local`), client side.
    pub route: Option<String>,
    /// The request method.
    pub method: String,
    /// The request's authority (`Host`).
    pub authority: String,
    /// The request path.
    pub path: String,
    /// The response status (0 when there was none).
    pub status: u16,
    /// Envoy response flags, `-` when none.
    pub flags: String,
    /// Time from arrival to the end of the response, in milliseconds.
    pub latency_ms: f64,
    /// The upstream address the request went to, if any.
    pub upstream: Option<String>,
    /// `x-request-id`, if any.
    pub request_id: Option<String>,
}

impl TapEvent {
    /// Whether the request failed as golden metrics count it (5xx or no response).
    pub fn failed(&self) -> bool {
        self.status == 0 || self.status >= 500
    }
}

/// What a watcher wants to see.
#[derive(Debug, Default, Clone)]
pub struct TapFilter {
    /// Requests from or to this workload (`name` or `namespace/name`).
    pub workload: Option<String>,
    /// Requests to this service (short name or FQDN) or workload.
    pub to: Option<String>,
    /// HTTP method.
    pub method: Option<String>,
    /// Path prefix.
    pub path: Option<String>,
    /// Only failed requests.
    pub errors: bool,
    /// Only this reporter.
    pub reporter: Option<String>,
}

fn names(id: &str, wanted: &str) -> bool {
    id == wanted
        || id.rsplit_once('/').is_some_and(|(_, n)| n == wanted)
        || id.split('.').next() == Some(wanted)
}

impl TapFilter {
    /// Whether `e` passes.
    pub fn matches(&self, e: &TapEvent) -> bool {
        if let Some(w) = &self.workload
            && !(names(&e.source, w) || names(&e.destination, w))
        {
            return false;
        }
        if let Some(t) = &self.to
            && !(names(&e.service, t) || names(&e.destination, t))
        {
            return false;
        }
        if let Some(m) = &self.method
            && !m.eq_ignore_ascii_case(&e.method)
        {
            return false;
        }
        if let Some(p) = &self.path
            && !e.path.starts_with(p.as_str())
        {
            return false;
        }
        if self.errors && !e.failed() {
            return false;
        }
        if let Some(r) = &self.reporter
            && r != &e.reporter
        {
            return false;
        }
        true
    }
}

/// The stream of tap events.
#[derive(Debug)]
pub struct Tap {
    tx: broadcast::Sender<Arc<TapEvent>>,
    watchers: Arc<AtomicUsize>,
}

/// A watcher; the count drops with it.
#[derive(Debug)]
pub struct Watcher {
    /// The events, from the moment of watching.
    pub rx: broadcast::Receiver<Arc<TapEvent>>,
    watchers: Arc<AtomicUsize>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for Tap {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(4096);
        Tap {
            tx,
            watchers: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Tap {
    /// Whether anyone watches (one atomic load).
    #[inline]
    pub fn watched(&self) -> bool {
        self.watchers.load(Ordering::Relaxed) > 0
    }

    /// Hands an event to every watcher (none may be listening).
    pub fn send(&self, e: Arc<TapEvent>) {
        let _ = self.tx.send(e);
    }

    /// A new watcher.
    pub fn watch(&self) -> Watcher {
        self.watchers.fetch_add(1, Ordering::Relaxed);
        Watcher {
            rx: self.tx.subscribe(),
            watchers: self.watchers.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> TapEvent {
        TapEvent {
            time_ms: 0,
            reporter: "source".into(),
            source: "default/app".into(),
            destination: "default/myapp-v2".into(),
            replica: None,
            service: "myapp.default.svc.cluster.local".into(),
            route: None,
            method: "GET".into(),
            authority: "myapp".into(),
            path: "/api/x".into(),
            status: 503,
            flags: "UH".into(),
            latency_ms: 1.0,
            upstream: None,
            request_id: None,
        }
    }

    #[test]
    fn filters_by_names_method_path_and_errors() {
        let e = event();
        let f = |f: TapFilter| f.matches(&e);
        assert!(f(TapFilter::default()));
        assert!(f(TapFilter {
            workload: Some("app".into()),
            ..Default::default()
        }));
        assert!(f(TapFilter {
            to: Some("myapp".into()),
            method: Some("get".into()),
            path: Some("/api".into()),
            errors: true,
            ..Default::default()
        }));
        assert!(!f(TapFilter {
            to: Some("ratings".into()),
            ..Default::default()
        }));
        assert!(!f(TapFilter {
            reporter: Some("destination".into()),
            ..Default::default()
        }));
    }

    #[test]
    fn watchers_are_counted() {
        let tap = Tap::default();
        assert!(!tap.watched());
        let w = tap.watch();
        assert!(tap.watched());
        drop(w);
        assert!(!tap.watched());
    }
}
