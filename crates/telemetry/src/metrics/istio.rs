//! Istio's standard metrics, with Istio's names, labels, label order and buckets.
//!
//! A caller resolves the labels that are fixed for a route/peer pair once ([`IstioMetrics::http`],
//! [`IstioMetrics::tcp`]) and keeps the handle. The labels that vary per request
//! (`request_protocol`, `response_code`, `grpc_response_status`, `response_flags`) select a
//! series inside the handle through a small lock-free table: a hash picks one of 16 slots, each
//! a `OnceLock` that is filled once; after that a lookup is one atomic load and a compare.

use super::histogram::{Cells, Layout};
use super::{Collect, LabelText, MetricFamily, MetricKind, Sample, push_histogram};
use crate::{Error, ResponseFlags};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

/// Which proxy reports: the client side (`source`, also gateways) or the server side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Reporter {
    /// The client-side proxy or a gateway.
    #[default]
    Source,
    /// The server-side proxy.
    Destination,
}

impl Reporter {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reporter::Source => "source",
            Reporter::Destination => "destination",
        }
    }
}

/// The `request_protocol` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RequestProtocol {
    /// HTTP/1.1 or HTTP/2 that is not gRPC.
    #[default]
    Http,
    /// gRPC (`content-type: application/grpc*`).
    Grpc,
    /// Plain TCP.
    Tcp,
}

impl RequestProtocol {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestProtocol::Http => "http",
            RequestProtocol::Grpc => "grpc",
            RequestProtocol::Tcp => "tcp",
        }
    }
}

/// The `connection_security_policy` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConnectionSecurityPolicy {
    /// Peer and local identities were both present (destination reporter only).
    MutualTls,
    /// The destination saw no mutual TLS.
    None,
    /// Reported by the source, which cannot know the server's policy.
    #[default]
    Unknown,
}

impl ConnectionSecurityPolicy {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionSecurityPolicy::MutualTls => "mutual_tls",
            ConnectionSecurityPolicy::None => "none",
            ConnectionSecurityPolicy::Unknown => "unknown",
        }
    }
}

/// The labels describing one workload (source or destination). Empty fields are reported as
/// `"unknown"`, except `canonical_revision`, reported as `"latest"` as Istio does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct WorkloadLabels {
    /// `*_workload`: the Deployment or Compose service name.
    pub workload: String,
    /// `*_workload_namespace`.
    pub namespace: String,
    /// `*_principal`: the SPIFFE id, as Istio prints it (`spiffe://cluster.local/ns/x/sa/y`).
    pub principal: String,
    /// `*_app`: the workload's `app` label.
    pub app: String,
    /// `*_version`: the workload's `version` label.
    pub version: String,
    /// `*_canonical_service`.
    pub canonical_service: String,
    /// `*_canonical_revision`.
    pub canonical_revision: String,
    /// `*_cluster`: the cluster (for us, the region or node group) of the workload.
    pub cluster: String,
}

/// The labels describing the destination service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ServiceLabels {
    /// `destination_service`: the host, e.g. `details.default.svc.cluster.local`.
    pub host: String,
    /// `destination_service_name`, e.g. `details`.
    pub name: String,
    /// `destination_service_namespace`.
    pub namespace: String,
}

/// The labels fixed for one route/peer pair; resolve them once into a handle.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct IstioLabels {
    /// `reporter`.
    pub reporter: Reporter,
    /// `source_*`.
    pub source: WorkloadLabels,
    /// `destination_*` (workload part).
    pub destination: WorkloadLabels,
    /// `destination_service*`.
    pub service: ServiceLabels,
    /// `connection_security_policy`.
    pub security: ConnectionSecurityPolicy,
}

/// Validated buckets of the three Istio histograms.
#[derive(Debug, Clone)]
pub struct IstioBuckets {
    duration: Arc<Layout>,
    request_bytes: Arc<Layout>,
    response_bytes: Arc<Layout>,
}

/// Nanoseconds per millisecond: durations are recorded in nanoseconds.
const DURATION_SCALE: f64 = 1e6;
/// Byte sizes are recorded in thousandths of a byte so that fractional bounds (Envoy's 0.5)
/// compare exactly.
const BYTES_SCALE: f64 = 1e3;

impl IstioBuckets {
    /// Buckets for `istio_request_duration_milliseconds` (ms), `istio_request_bytes` and
    /// `istio_response_bytes` (bytes). Each list must be finite, non-negative and strictly
    /// increasing.
    pub fn new(
        duration_ms: &[f64],
        request_bytes: &[f64],
        response_bytes: &[f64],
    ) -> Result<IstioBuckets, Error> {
        let layout = |metric: &str, b: &[f64], scale: f64| {
            Layout::new(b, scale)
                .map(Arc::new)
                .ok_or_else(|| Error::InvalidBuckets {
                    metric: metric.to_owned(),
                    buckets: b.to_vec(),
                })
        };
        Ok(IstioBuckets {
            duration: layout(
                "istio_request_duration_milliseconds",
                duration_ms,
                DURATION_SCALE,
            )?,
            request_bytes: layout("istio_request_bytes", request_bytes, BYTES_SCALE)?,
            response_bytes: layout("istio_response_bytes", response_bytes, BYTES_SCALE)?,
        })
    }
}

impl Default for IstioBuckets {
    /// What Istio emits by default: Envoy's default buckets for all three histograms.
    fn default() -> Self {
        let layout = |scale: f64| {
            Arc::new(Layout {
                bounds: super::ENVOY_DEFAULT_BUCKETS.into(),
                scaled: super::ENVOY_DEFAULT_BUCKETS
                    .iter()
                    .map(|b| (b * scale).floor() as u64)
                    .collect(),
                scale,
            })
        };
        IstioBuckets {
            duration: layout(DURATION_SCALE),
            request_bytes: layout(BYTES_SCALE),
            response_bytes: layout(BYTES_SCALE),
        }
    }
}

/// What is known about one finished HTTP or gRPC request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpRecord {
    /// `http` or `grpc`.
    pub protocol: RequestProtocol,
    /// The HTTP status sent downstream; 0 when no response was sent (Istio's convention).
    pub response_code: u16,
    /// The gRPC status, for gRPC requests that have one.
    pub grpc_status: Option<u8>,
    /// Envoy response flags.
    pub flags: ResponseFlags,
    /// From the first request byte to the last response byte.
    pub duration: Duration,
    /// Request body bytes.
    pub request_bytes: u64,
    /// Response body bytes.
    pub response_bytes: u64,
}

impl HttpRecord {
    /// A plain HTTP request.
    pub fn http(
        response_code: u16,
        flags: ResponseFlags,
        duration: Duration,
        request_bytes: u64,
        response_bytes: u64,
    ) -> HttpRecord {
        HttpRecord {
            protocol: RequestProtocol::Http,
            response_code,
            grpc_status: None,
            flags,
            duration,
            request_bytes,
            response_bytes,
        }
    }

    /// The series key: everything that varies per request, packed.
    #[inline]
    fn key(&self) -> u64 {
        let grpc = self.grpc_status.map_or(0, |s| u64::from(s) + 1);
        let protocol = match self.protocol {
            RequestProtocol::Http => 0u64,
            RequestProtocol::Grpc => 1,
            RequestProtocol::Tcp => 2,
        };
        (u64::from(self.response_code) << 48)
            | (grpc << 40)
            | (protocol << 32)
            | u64::from(self.flags.bits())
    }
}

const SLOTS: usize = 16;

/// A small map from a packed key to a series: 16 write-once slots probed linearly, then a
/// locked overflow list for handles that see more than 16 distinct keys.
struct SeriesTable<T> {
    slots: [OnceLock<Box<(u64, T)>>; SLOTS],
    overflow: RwLock<Vec<Arc<(u64, T)>>>,
}

impl<T> SeriesTable<T> {
    fn new() -> SeriesTable<T> {
        SeriesTable {
            slots: std::array::from_fn(|_| OnceLock::new()),
            overflow: RwLock::new(Vec::new()),
        }
    }

    #[inline]
    fn with<R>(&self, key: u64, make: impl Fn() -> T, f: impl FnOnce(&T) -> R) -> R {
        // Fibonacci hashing; the top 4 bits pick the first slot.
        let start = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize;
        for i in 0..SLOTS {
            let slot = &self.slots[(start + i) % SLOTS];
            let entry = match slot.get() {
                Some(e) => e,
                None => {
                    // Losing a race here is fine: the winner's entry is read back below.
                    let _ = slot.set(Box::new((key, make())));
                    match slot.get() {
                        Some(e) => e,
                        None => continue,
                    }
                }
            };
            if entry.0 == key {
                return f(&entry.1);
            }
        }
        self.with_overflow(key, make, f)
    }

    #[cold]
    fn with_overflow<R>(&self, key: u64, make: impl Fn() -> T, f: impl FnOnce(&T) -> R) -> R {
        let found = self
            .overflow
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|e| e.0 == key)
            .cloned();
        let entry = match found {
            Some(e) => e,
            None => {
                let mut list = self
                    .overflow
                    .write()
                    .unwrap_or_else(PoisonError::into_inner);
                match list.iter().find(|e| e.0 == key) {
                    Some(e) => e.clone(),
                    None => {
                        let e = Arc::new((key, make()));
                        list.push(e.clone());
                        e
                    }
                }
            }
        };
        f(&entry.1)
    }

    fn for_each(&self, mut f: impl FnMut(u64, &T)) {
        let mut seen: Vec<(u64, &T)> = self
            .slots
            .iter()
            .filter_map(|s| s.get())
            .map(|e| (e.0, &e.1))
            .collect();
        seen.sort_by_key(|(k, _)| *k);
        for (k, t) in seen {
            f(k, t);
        }
        let overflow = self.overflow.read().unwrap_or_else(PoisonError::into_inner);
        for e in overflow.iter() {
            f(e.0, &e.1);
        }
    }
}

/// One HTTP series: fixed labels of the route plus one value of the per-request labels.
struct HttpSeries {
    protocol: LabelText,
    code: LabelText,
    grpc: LabelText,
    flags: LabelText,
    requests: AtomicU64,
    duration: Cells,
    request_bytes: Cells,
    response_bytes: Cells,
}

struct HttpRoute {
    labels: Box<[(LabelText, LabelText)]>,
    security: (LabelText, LabelText),
    buckets: IstioBuckets,
    series: SeriesTable<HttpSeries>,
}

/// A pre-resolved handle for the HTTP metrics of one route/peer pair.
///
/// `record` costs a packed-key lookup and seven relaxed atomic adds; no lock, no allocation
/// once a (code, flags, protocol) combination has been seen.
#[derive(Clone)]
pub struct HttpMetrics {
    route: Arc<HttpRoute>,
}

impl fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpMetrics")
            .field("labels", &self.route.labels)
            .finish()
    }
}

impl HttpMetrics {
    /// Records one finished request into `istio_requests_total`,
    /// `istio_request_duration_milliseconds`, `istio_request_bytes` and `istio_response_bytes`.
    #[inline]
    pub fn record(&self, r: &HttpRecord) {
        let route = &*self.route;
        let nanos = u64::try_from(r.duration.as_nanos()).unwrap_or(u64::MAX);
        route.series.with(
            r.key(),
            || HttpSeries::new(route, r),
            |s| {
                s.requests.fetch_add(1, Ordering::Relaxed);
                s.duration.observe(&route.buckets.duration, nanos);
                s.request_bytes.observe(
                    &route.buckets.request_bytes,
                    r.request_bytes.saturating_mul(1000),
                );
                s.response_bytes.observe(
                    &route.buckets.response_bytes,
                    r.response_bytes.saturating_mul(1000),
                );
            },
        );
    }
}

impl HttpSeries {
    fn new(route: &HttpRoute, r: &HttpRecord) -> HttpSeries {
        HttpSeries {
            protocol: LabelText::from(r.protocol.as_str()),
            code: LabelText::from(r.response_code.to_string()),
            grpc: LabelText::from(r.grpc_status.map(|s| s.to_string()).unwrap_or_default()),
            flags: LabelText::from(r.flags.to_string()),
            requests: AtomicU64::new(0),
            duration: Cells::new(&route.buckets.duration),
            request_bytes: Cells::new(&route.buckets.request_bytes),
            response_bytes: Cells::new(&route.buckets.response_bytes),
        }
    }
}

struct TcpSeries {
    flags: LabelText,
    opened: AtomicU64,
    closed: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
}

struct TcpRoute {
    labels: Box<[(LabelText, LabelText)]>,
    security: (LabelText, LabelText),
    series: SeriesTable<TcpSeries>,
}

/// A pre-resolved handle for the TCP metrics of one route/peer pair. The response flags of a
/// connection select the series, as in Istio.
#[derive(Clone)]
pub struct TcpMetrics {
    route: Arc<TcpRoute>,
}

impl fmt::Debug for TcpMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpMetrics")
            .field("labels", &self.route.labels)
            .finish()
    }
}

impl TcpMetrics {
    #[inline]
    fn with(&self, flags: ResponseFlags, f: impl FnOnce(&TcpSeries)) {
        self.route.series.with(
            u64::from(flags.bits()),
            || TcpSeries {
                flags: LabelText::from(flags.to_string()),
                opened: AtomicU64::new(0),
                closed: AtomicU64::new(0),
                sent: AtomicU64::new(0),
                received: AtomicU64::new(0),
            },
            f,
        );
    }

    /// `istio_tcp_connections_opened_total` += 1.
    #[inline]
    pub fn connection_opened(&self, flags: ResponseFlags) {
        self.with(flags, |s| {
            s.opened.fetch_add(1, Ordering::Relaxed);
        });
    }

    /// `istio_tcp_connections_closed_total` += 1.
    #[inline]
    pub fn connection_closed(&self, flags: ResponseFlags) {
        self.with(flags, |s| {
            s.closed.fetch_add(1, Ordering::Relaxed);
        });
    }

    /// Adds bytes sent downstream and received from downstream since the last call.
    #[inline]
    pub fn bytes(&self, flags: ResponseFlags, sent: u64, received: u64) {
        self.with(flags, |s| {
            s.sent.fetch_add(sent, Ordering::Relaxed);
            s.received.fetch_add(received, Ordering::Relaxed);
        });
    }
}

/// Istio's standard metrics. Cheap to clone.
#[derive(Clone)]
pub struct IstioMetrics {
    inner: Arc<IstioInner>,
}

impl fmt::Debug for IstioMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IstioMetrics").finish_non_exhaustive()
    }
}

struct IstioInner {
    buckets: IstioBuckets,
    http: RwLock<HashMap<IstioLabels, Arc<HttpRoute>>>,
    tcp: RwLock<HashMap<IstioLabels, Arc<TcpRoute>>>,
}

fn or_default<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.is_empty() { default } else { value }
}

/// The fixed labels in Istio's order (as its stats filter pushes them), up to
/// `destination_cluster`.
fn fixed_labels(l: &IstioLabels) -> Box<[(LabelText, LabelText)]> {
    let u = "unknown";
    let s = &l.source;
    let d = &l.destination;
    let pairs: [(&str, &str); 20] = [
        ("reporter", l.reporter.as_str()),
        ("source_workload", or_default(&s.workload, u)),
        (
            "source_canonical_service",
            or_default(&s.canonical_service, u),
        ),
        (
            "source_canonical_revision",
            or_default(&s.canonical_revision, "latest"),
        ),
        ("source_workload_namespace", or_default(&s.namespace, u)),
        ("source_principal", or_default(&s.principal, u)),
        ("source_app", or_default(&s.app, u)),
        ("source_version", or_default(&s.version, u)),
        ("source_cluster", or_default(&s.cluster, u)),
        ("destination_workload", or_default(&d.workload, u)),
        (
            "destination_workload_namespace",
            or_default(&d.namespace, u),
        ),
        ("destination_principal", or_default(&d.principal, u)),
        ("destination_app", or_default(&d.app, u)),
        ("destination_version", or_default(&d.version, u)),
        ("destination_service", or_default(&l.service.host, u)),
        (
            "destination_canonical_service",
            or_default(&d.canonical_service, u),
        ),
        (
            "destination_canonical_revision",
            or_default(&d.canonical_revision, "latest"),
        ),
        ("destination_service_name", or_default(&l.service.name, u)),
        (
            "destination_service_namespace",
            or_default(&l.service.namespace, u),
        ),
        ("destination_cluster", or_default(&d.cluster, u)),
    ];
    pairs
        .iter()
        .map(|(k, v)| (LabelText::from(*k), LabelText::from(*v)))
        .collect()
}

fn security_label(l: &IstioLabels) -> (LabelText, LabelText) {
    (
        LabelText::from("connection_security_policy"),
        LabelText::from(l.security.as_str()),
    )
}

impl IstioMetrics {
    /// The families this collector emits.
    pub(crate) const FAMILY_NAMES: [&'static str; 8] = [
        "istio_requests_total",
        "istio_request_duration_milliseconds",
        "istio_request_bytes",
        "istio_response_bytes",
        "istio_tcp_sent_bytes_total",
        "istio_tcp_received_bytes_total",
        "istio_tcp_connections_opened_total",
        "istio_tcp_connections_closed_total",
    ];

    pub(crate) fn new(buckets: &IstioBuckets) -> IstioMetrics {
        IstioMetrics {
            inner: Arc::new(IstioInner {
                buckets: buckets.clone(),
                http: RwLock::new(HashMap::new()),
                tcp: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// The HTTP handle for these labels, created on first use. Takes a lock: call it when a
    /// route or peer is set up, not per request.
    pub fn http(&self, labels: &IstioLabels) -> HttpMetrics {
        if let Some(route) = self
            .inner
            .http
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(labels)
        {
            return HttpMetrics {
                route: route.clone(),
            };
        }
        let mut map = self
            .inner
            .http
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let route = map
            .entry(labels.clone())
            .or_insert_with(|| {
                Arc::new(HttpRoute {
                    labels: fixed_labels(labels),
                    security: security_label(labels),
                    buckets: self.inner.buckets.clone(),
                    series: SeriesTable::new(),
                })
            })
            .clone();
        HttpMetrics { route }
    }

    /// The TCP handle for these labels, created on first use.
    pub fn tcp(&self, labels: &IstioLabels) -> TcpMetrics {
        if let Some(route) = self
            .inner
            .tcp
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(labels)
        {
            return TcpMetrics {
                route: route.clone(),
            };
        }
        let mut map = self
            .inner
            .tcp
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let route = map
            .entry(labels.clone())
            .or_insert_with(|| {
                Arc::new(TcpRoute {
                    labels: fixed_labels(labels),
                    security: security_label(labels),
                    series: SeriesTable::new(),
                })
            })
            .clone();
        TcpMetrics { route }
    }
}

fn family(name: &str, help: &str, kind: MetricKind) -> MetricFamily {
    MetricFamily {
        name: name.to_owned(),
        help: help.to_owned(),
        kind,
        samples: Vec::new(),
    }
}

impl Collect for IstioMetrics {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        let mut requests = family(
            "istio_requests_total",
            "Requests handled by a Meridian proxy, per Istio's standard labels.",
            MetricKind::Counter,
        );
        let mut duration = family(
            "istio_request_duration_milliseconds",
            "Request duration in milliseconds, from the first request byte to the last response byte.",
            MetricKind::Histogram,
        );
        let mut req_bytes = family(
            "istio_request_bytes",
            "HTTP request body sizes in bytes.",
            MetricKind::Histogram,
        );
        let mut resp_bytes = family(
            "istio_response_bytes",
            "HTTP response body sizes in bytes.",
            MetricKind::Histogram,
        );
        let b = &self.inner.buckets;
        {
            let routes = self
                .inner
                .http
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            let mut routes: Vec<&Arc<HttpRoute>> = routes.values().collect();
            routes.sort_by(|a, b| a.labels.cmp(&b.labels));
            for route in routes {
                route.series.for_each(|_, s| {
                    let mut labels = Vec::with_capacity(route.labels.len() + 5);
                    labels.extend(route.labels.iter().cloned());
                    labels.push((LabelText::from("request_protocol"), s.protocol.clone()));
                    labels.push((LabelText::from("response_code"), s.code.clone()));
                    labels.push((LabelText::from("grpc_response_status"), s.grpc.clone()));
                    labels.push((LabelText::from("response_flags"), s.flags.clone()));
                    labels.push(route.security.clone());
                    requests.samples.push(Sample {
                        suffix: "",
                        labels: labels.clone(),
                        value: s.requests.load(Ordering::Relaxed) as f64,
                    });
                    push_histogram(
                        &mut duration.samples,
                        labels.clone(),
                        &s.duration,
                        &b.duration,
                    );
                    push_histogram(
                        &mut req_bytes.samples,
                        labels.clone(),
                        &s.request_bytes,
                        &b.request_bytes,
                    );
                    push_histogram(
                        &mut resp_bytes.samples,
                        labels,
                        &s.response_bytes,
                        &b.response_bytes,
                    );
                });
            }
        }
        let mut sent = family(
            "istio_tcp_sent_bytes_total",
            "Bytes sent to the downstream peer on TCP connections.",
            MetricKind::Counter,
        );
        let mut received = family(
            "istio_tcp_received_bytes_total",
            "Bytes received from the downstream peer on TCP connections.",
            MetricKind::Counter,
        );
        let mut opened = family(
            "istio_tcp_connections_opened_total",
            "TCP connections opened.",
            MetricKind::Counter,
        );
        let mut closed = family(
            "istio_tcp_connections_closed_total",
            "TCP connections closed.",
            MetricKind::Counter,
        );
        {
            let routes = self
                .inner
                .tcp
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            let mut routes: Vec<&Arc<TcpRoute>> = routes.values().collect();
            routes.sort_by(|a, b| a.labels.cmp(&b.labels));
            for route in routes {
                route.series.for_each(|_, s| {
                    let mut labels = Vec::with_capacity(route.labels.len() + 3);
                    labels.extend(route.labels.iter().cloned());
                    labels.push((LabelText::from("request_protocol"), LabelText::from("tcp")));
                    labels.push((LabelText::from("response_flags"), s.flags.clone()));
                    labels.push(route.security.clone());
                    for (fam, cell) in [
                        (&mut sent, &s.sent),
                        (&mut received, &s.received),
                        (&mut opened, &s.opened),
                        (&mut closed, &s.closed),
                    ] {
                        fam.samples.push(Sample {
                            suffix: "",
                            labels: labels.clone(),
                            value: cell.load(Ordering::Relaxed) as f64,
                        });
                    }
                });
            }
        }
        out.extend([
            requests, duration, req_bytes, resp_bytes, sent, received, opened, closed,
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> IstioLabels {
        IstioLabels {
            reporter: Reporter::Destination,
            source: WorkloadLabels {
                workload: "gateway".into(),
                namespace: "default".into(),
                ..Default::default()
            },
            destination: WorkloadLabels {
                workload: "myapp-v1".into(),
                namespace: "default".into(),
                app: "myapp".into(),
                version: "v1".into(),
                canonical_service: "myapp".into(),
                canonical_revision: "v1".into(),
                ..Default::default()
            },
            service: ServiceLabels {
                host: "myapp.default.svc.cluster.local".into(),
                name: "myapp".into(),
                namespace: "default".into(),
            },
            security: ConnectionSecurityPolicy::MutualTls,
        }
    }

    #[test]
    fn response_code_selects_a_series_within_one_handle() {
        let m = IstioMetrics::new(&IstioBuckets::default());
        let h = m.http(&labels());
        for code in [200, 200, 503, 404] {
            let flags = if code == 503 {
                ResponseFlags::NO_HEALTHY_UPSTREAM
            } else {
                ResponseFlags::NONE
            };
            h.record(&HttpRecord::http(
                code,
                flags,
                Duration::from_millis(2),
                10,
                20,
            ));
        }
        let mut out = Vec::new();
        m.collect(&mut out);
        let requests = &out[0];
        assert_eq!(requests.name, "istio_requests_total");
        let by_code: Vec<(String, String, f64)> = requests
            .samples
            .iter()
            .map(|s| {
                let get = |n: &str| {
                    s.labels
                        .iter()
                        .find(|(k, _)| &**k == n)
                        .map(|(_, v)| v.to_string())
                        .unwrap_or_default()
                };
                (get("response_code"), get("response_flags"), s.value)
            })
            .collect();
        assert!(by_code.contains(&("200".into(), "-".into(), 2.0)));
        assert!(by_code.contains(&("503".into(), "UH".into(), 1.0)));
        assert!(by_code.contains(&("404".into(), "-".into(), 1.0)));
    }

    #[test]
    fn labels_follow_istio_names_order_and_defaults() {
        let m = IstioMetrics::new(&IstioBuckets::default());
        m.http(&labels()).record(&HttpRecord::http(
            200,
            ResponseFlags::NONE,
            Duration::ZERO,
            0,
            0,
        ));
        let mut out = Vec::new();
        m.collect(&mut out);
        let s = &out[0].samples[0];
        let names: Vec<&str> = s.labels.iter().map(|(k, _)| &**k).collect();
        assert_eq!(
            names,
            [
                "reporter",
                "source_workload",
                "source_canonical_service",
                "source_canonical_revision",
                "source_workload_namespace",
                "source_principal",
                "source_app",
                "source_version",
                "source_cluster",
                "destination_workload",
                "destination_workload_namespace",
                "destination_principal",
                "destination_app",
                "destination_version",
                "destination_service",
                "destination_canonical_service",
                "destination_canonical_revision",
                "destination_service_name",
                "destination_service_namespace",
                "destination_cluster",
                "request_protocol",
                "response_code",
                "grpc_response_status",
                "response_flags",
                "connection_security_policy",
            ]
        );
        let value = |n: &str| {
            s.labels
                .iter()
                .find(|(k, _)| &**k == n)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        };
        assert_eq!(value("source_principal"), "unknown");
        assert_eq!(value("source_canonical_revision"), "latest");
        assert_eq!(value("grpc_response_status"), "");
        assert_eq!(value("connection_security_policy"), "mutual_tls");
    }

    #[test]
    fn more_than_sixteen_keys_spill_into_the_overflow_list() {
        let m = IstioMetrics::new(&IstioBuckets::default());
        let h = m.http(&labels());
        for code in 200..240u16 {
            h.record(&HttpRecord::http(
                code,
                ResponseFlags::NONE,
                Duration::ZERO,
                0,
                0,
            ));
            h.record(&HttpRecord::http(
                code,
                ResponseFlags::NONE,
                Duration::ZERO,
                0,
                0,
            ));
        }
        let mut out = Vec::new();
        m.collect(&mut out);
        assert_eq!(out[0].samples.len(), 40);
        assert!(out[0].samples.iter().all(|s| s.value == 2.0));
    }

    #[test]
    fn tcp_series_per_flags() {
        let m = IstioMetrics::new(&IstioBuckets::default());
        let t = m.tcp(&labels());
        t.connection_opened(ResponseFlags::NONE);
        t.bytes(ResponseFlags::NONE, 100, 40);
        t.connection_closed(ResponseFlags::NONE);
        t.connection_opened(ResponseFlags::UPSTREAM_CONNECTION_FAILURE);
        let mut out = Vec::new();
        m.collect(&mut out);
        let sent = out
            .iter()
            .find(|f| f.name == "istio_tcp_sent_bytes_total")
            .expect("family");
        assert_eq!(sent.samples.len(), 2);
        assert!(sent.samples.iter().any(|s| s.value == 100.0));
        let opened = out
            .iter()
            .find(|f| f.name == "istio_tcp_connections_opened_total")
            .expect("family");
        assert!(opened.samples.iter().all(|s| s.value == 1.0));
        assert!(
            !sent.samples[0]
                .labels
                .iter()
                .any(|(k, _)| &**k == "response_code")
        );
    }

    #[test]
    fn concurrent_first_use_counts_every_request() {
        let m = IstioMetrics::new(&IstioBuckets::default());
        let h = m.http(&labels());
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let h = h.clone();
                scope.spawn(move || {
                    for i in 0..1000u16 {
                        let code = 200 + i % 30;
                        h.record(&HttpRecord::http(
                            code,
                            ResponseFlags::NONE,
                            Duration::ZERO,
                            1,
                            1,
                        ));
                    }
                });
            }
        });
        let mut out = Vec::new();
        m.collect(&mut out);
        let total: f64 = out[0].samples.iter().map(|s| s.value).sum();
        assert_eq!(total, 4000.0);
        assert_eq!(
            out[0].samples.len(),
            30,
            "no duplicate series from racing inserts"
        );
    }
}
