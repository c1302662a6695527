//! OTLP/HTTP trace export with protobuf encoding, written by hand over the node's HTTP client.
//!
//! Why not `opentelemetry-otlp`: its HTTP transport brings reqwest (a second HTTP stack beside
//! our hyper) and its SDK brings its own span model and batch processor, while our spans are
//! proxy hops built from headers, not `tracing` spans. The OTLP messages a proxy needs are
//! five small protobuf messages; encoding them is a page of code, and the tests decode them
//! with the official `opentelemetry-proto` definitions.
//!
//! The request path only does a `try_send` into a bounded queue; a full queue drops the span
//! and counts it. A background task batches (by size or interval), posts to the collector with
//! a timeout, and retries twice on 429/502/503/504 or a connection error.

use super::span::{AttributeValue, Span, SpanKind, SpanStatus};
use crate::Error;
use crate::metrics::{Counter, Registry};
use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::Full;
use meridian_http_client::{Connection, Protocol};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Where and how to export.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// The collector's traces URL, e.g. `http://127.0.0.1:4318/v1/traces`. Only `http://`.
    pub endpoint: String,
    /// `service.name` of the resource (Istio: `<canonical service>.<namespace>`).
    pub service_name: String,
    /// More resource attributes.
    pub resource: Vec<(String, String)>,
    /// Spans waiting for export; beyond this, spans are dropped (and counted).
    pub queue_capacity: usize,
    /// Spans per request.
    pub max_batch: usize,
    /// How long a span may wait for a batch to fill.
    pub flush_interval: Duration,
    /// Per request, including connecting.
    pub timeout: Duration,
}

impl OtlpConfig {
    /// Defaults close to the OpenTelemetry batch processor's: 2048 queued, 512 per batch,
    /// flushed every second, 10 s timeout.
    pub fn new(endpoint: &str, service_name: &str) -> OtlpConfig {
        OtlpConfig {
            endpoint: endpoint.to_owned(),
            service_name: service_name.to_owned(),
            resource: Vec::new(),
            queue_capacity: 2048,
            max_batch: 512,
            flush_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        }
    }
}

enum Msg {
    Span(Box<Span>),
    Flush(oneshot::Sender<()>),
}

#[derive(Debug)]
struct Stats {
    exported: Counter,
    dropped_queue_full: Counter,
    dropped_export_failed: Counter,
}

/// A handle for exporting spans; clones share one queue and one background task.
#[derive(Clone)]
pub struct OtlpExporter {
    tx: mpsc::Sender<Msg>,
    stats: Arc<Stats>,
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("stats", &self.stats)
            .finish()
    }
}

impl OtlpExporter {
    /// Validates the endpoint and spawns the export task on the current tokio runtime.
    /// Counts go to `meridian_trace_spans_exported_total` and
    /// `meridian_trace_spans_dropped_total{reason}` in `registry`.
    pub fn spawn(config: OtlpConfig, registry: &Registry) -> Result<OtlpExporter, Error> {
        let target = Target::parse(&config.endpoint)?;
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let t = registry.telemetry();
        let stats = Arc::new(Stats {
            exported: t.spans_exported.clone(),
            dropped_queue_full: t.spans_dropped_queue_full.clone(),
            dropped_export_failed: t.spans_dropped_export_failed.clone(),
        });
        let worker = Worker {
            resource: encode_resource(&config),
            config,
            target,
            conn: None,
            stats: stats.clone(),
        };
        tokio::spawn(worker.run(rx));
        Ok(OtlpExporter { tx, stats })
    }

    /// Queues a finished span; never blocks, never allocates beyond the span's box.
    pub fn export(&self, span: Span) {
        if self.tx.try_send(Msg::Span(Box::new(span))).is_err() {
            self.stats.dropped_queue_full.inc();
        }
    }

    /// Exports everything queued so far and waits for it (not for the request path).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

struct Target {
    authority: String,
    path: String,
}

impl Target {
    fn parse(endpoint: &str) -> Result<Target, Error> {
        let err = |reason| Error::CollectorEndpoint {
            endpoint: endpoint.to_owned(),
            reason,
        };
        let uri: Uri = endpoint.parse().map_err(|_| err("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(err(
                    "https is not supported; export to a local collector over http",
                ));
            }
            _ => return Err(err("the URL must start with http://")),
        }
        let authority = uri.authority().ok_or_else(|| err("the URL has no host"))?;
        let authority = if authority.port().is_some() {
            authority.to_string()
        } else {
            format!("{}:80", authority.host())
        };
        let path = uri.path_and_query().map_or("/v1/traces", |p| p.as_str());
        let path = if path == "/" { "/v1/traces" } else { path };
        Ok(Target {
            authority,
            path: path.to_owned(),
        })
    }
}

struct Worker {
    config: OtlpConfig,
    target: Target,
    resource: Vec<u8>,
    conn: Option<Connection>,
    stats: Arc<Stats>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut batch: Vec<Span> = Vec::with_capacity(self.config.max_batch);
        let mut deadline = tokio::time::Instant::now() + self.config.flush_interval;
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Span(span)) => {
                        if batch.is_empty() {
                            deadline = tokio::time::Instant::now() + self.config.flush_interval;
                        }
                        batch.push(*span);
                        if batch.len() >= self.config.max_batch {
                            self.export(&mut batch).await;
                        }
                    }
                    Some(Msg::Flush(done)) => {
                        while let Ok(Msg::Span(span)) = rx.try_recv() {
                            batch.push(*span);
                            if batch.len() >= self.config.max_batch {
                                self.export(&mut batch).await;
                            }
                        }
                        self.export(&mut batch).await;
                        let _ = done.send(());
                    }
                    None => {
                        self.export(&mut batch).await;
                        return;
                    }
                },
                _ = tokio::time::sleep_until(deadline), if !batch.is_empty() => {
                    self.export(&mut batch).await;
                }
            }
        }
    }

    async fn export(&mut self, batch: &mut Vec<Span>) {
        if batch.is_empty() {
            return;
        }
        let body = Bytes::from(encode_request(&self.resource, batch));
        let n = batch.len() as u64;
        batch.clear();
        let mut backoff = Duration::from_millis(100);
        for attempt in 0..3 {
            match tokio::time::timeout(self.config.timeout, self.post(body.clone())).await {
                Ok(Ok(status)) if (200..300).contains(&status) => {
                    self.stats.exported.add(n);
                    return;
                }
                Ok(Ok(status)) if ![429, 502, 503, 504].contains(&status) => break,
                _ => self.conn = None,
            }
            if attempt < 2 {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        self.stats.dropped_export_failed.add(n);
    }

    async fn post(&mut self, body: Bytes) -> Result<u16, meridian_http_client::Error> {
        let mut conn = match self.conn.take() {
            Some(c) if !c.is_closed() => c,
            _ => Connection::connect(self.target.authority.as_str(), None, Protocol::Http1).await?,
        };
        let req = Request::post(self.target.path.as_str())
            .header(http::header::HOST, self.target.authority.as_str())
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .body(Full::new(body))?;
        // The answer is read whole so that the connection can carry the next batch.
        let status = conn.exchange(req, usize::MAX).await?.status().as_u16();
        self.conn = Some(conn);
        Ok(status)
    }
}

// --- protobuf encoding of opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest ---

fn put_varint(buf: &mut Vec<u8>, v: u64) {
    prost::encoding::encode_varint(v, buf);
}

fn put_key(buf: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(buf, (u64::from(field) << 3) | u64::from(wire));
}

fn put_bytes(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(buf, field, 2);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

fn put_uint(buf: &mut Vec<u8>, field: u32, v: u64) {
    put_key(buf, field, 0);
    put_varint(buf, v);
}

fn put_fixed64(buf: &mut Vec<u8>, field: u32, v: u64) {
    put_key(buf, field, 1);
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_fixed32(buf: &mut Vec<u8>, field: u32, v: u32) {
    put_key(buf, field, 5);
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_message(buf: &mut Vec<u8>, field: u32, f: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    f(&mut inner);
    put_bytes(buf, field, &inner);
}

/// `KeyValue { key = 1; AnyValue value = 2 }`, `AnyValue { string 1 | bool 2 | int64 3 }`.
fn put_attribute(buf: &mut Vec<u8>, field: u32, key: &str, value: &AttributeValue) {
    put_message(buf, field, |kv| {
        put_bytes(kv, 1, key.as_bytes());
        put_message(kv, 2, |any| match value {
            AttributeValue::String(s) => put_bytes(any, 1, s.as_bytes()),
            AttributeValue::Bool(b) => put_uint(any, 2, u64::from(*b)),
            AttributeValue::Int(i) => put_uint(any, 3, *i as u64),
        });
    });
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// `Resource { repeated KeyValue attributes = 1 }`, encoded once per exporter.
fn encode_resource(config: &OtlpConfig) -> Vec<u8> {
    let mut buf = Vec::new();
    put_attribute(
        &mut buf,
        1,
        "service.name",
        &AttributeValue::from(config.service_name.as_str()),
    );
    for (k, v) in &config.resource {
        put_attribute(&mut buf, 1, k, &AttributeValue::from(v.as_str()));
    }
    buf
}

/// `Span` (opentelemetry/proto/trace/v1/trace.proto).
fn encode_span(buf: &mut Vec<u8>, s: &Span) {
    put_bytes(buf, 1, &s.trace_id.to_bytes());
    put_bytes(buf, 2, &s.span_id.to_bytes());
    if let Some(ts) = &s.trace_state {
        put_bytes(buf, 3, ts.as_bytes());
    }
    if let Some(p) = s.parent_span_id {
        put_bytes(buf, 4, &p.to_bytes());
    }
    put_bytes(buf, 5, s.name.as_bytes());
    put_uint(
        buf,
        6,
        match s.kind {
            SpanKind::Server => 2,
            SpanKind::Client => 3,
        },
    );
    put_fixed64(buf, 7, unix_nanos(s.start));
    put_fixed64(buf, 8, unix_nanos(s.end));
    for (k, v) in &s.attributes {
        put_attribute(buf, 9, k, v);
    }
    if let SpanStatus::Error(message) = &s.status {
        put_message(buf, 15, |st| {
            put_bytes(st, 2, message.as_bytes());
            put_uint(st, 3, 2);
        });
    }
    // W3C trace flags: these spans are sampled.
    put_fixed32(buf, 16, 1);
}

/// `ExportTraceServiceRequest { ResourceSpans resource_spans = 1 }` with one resource and one
/// instrumentation scope.
pub(crate) fn encode_request(resource: &[u8], spans: &[Span]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 * spans.len() + resource.len() + 64);
    put_message(&mut out, 1, |rs| {
        put_bytes(rs, 1, resource);
        put_message(rs, 2, |ss| {
            put_message(ss, 1, |scope| {
                put_bytes(scope, 1, b"meridian-proxy");
                put_bytes(scope, 2, env!("CARGO_PKG_VERSION").as_bytes());
            });
            for s in spans {
                put_message(ss, 2, |b| encode_span(b, s));
            }
        });
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{SpanId, TraceId};
    use std::borrow::Cow;

    fn span() -> Span {
        Span {
            trace_id: TraceId(1),
            span_id: SpanId(2),
            parent_span_id: None,
            trace_state: None,
            name: "a".into(),
            kind: SpanKind::Server,
            start: UNIX_EPOCH,
            end: UNIX_EPOCH,
            attributes: vec![(Cow::Borrowed("k"), AttributeValue::from("v"))],
            status: SpanStatus::Unset,
        }
    }

    #[test]
    fn varints() {
        let mut b = Vec::new();
        put_varint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
    }

    #[test]
    fn span_bytes() {
        let mut b = Vec::new();
        encode_span(&mut b, &span());
        let mut expected = vec![0x0a, 16];
        expected.extend_from_slice(&1u128.to_be_bytes());
        expected.extend_from_slice(&[0x12, 8]);
        expected.extend_from_slice(&2u64.to_be_bytes());
        expected.extend_from_slice(&[0x2a, 1, b'a', 0x30, 2, 0x39]);
        expected.extend_from_slice(&[0; 8]);
        expected.push(0x41);
        expected.extend_from_slice(&[0; 8]);
        // attributes: KeyValue{key "k", value AnyValue{string "v"}}
        expected.extend_from_slice(&[0x4a, 8, 0x0a, 1, b'k', 0x12, 3, 0x0a, 1, b'v']);
        expected.extend_from_slice(&[0x85, 0x01, 1, 0, 0, 0]);
        assert_eq!(b, expected);
    }

    #[test]
    fn endpoints() {
        assert!(Target::parse("https://collector:4318/v1/traces").is_err());
        assert!(Target::parse("collector:4318").is_err());
        let t = Target::parse("http://collector/v1/traces").expect("valid");
        assert_eq!(t.authority, "collector:80");
        let t = Target::parse("http://127.0.0.1:4318").expect("valid");
        assert_eq!(t.path, "/v1/traces");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_drops_without_blocking() {
        let registry = Registry::new();
        let mut config = OtlpConfig::new("http://127.0.0.1:9/v1/traces", "test.default");
        config.queue_capacity = 4;
        let exporter = OtlpExporter::spawn(config, &registry).expect("valid");
        // The export task cannot run while this test does not yield: the queue fills.
        for _ in 0..10 {
            exporter.export(span());
        }
        assert_eq!(registry.telemetry().spans_dropped_queue_full.get(), 6);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_unreachable_collector_costs_a_bounded_flush() {
        let registry = Registry::new();
        // A port nobody listens on: connections are refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind");
        let mut config =
            OtlpConfig::new(&format!("http://127.0.0.1:{port}/v1/traces"), "t.default");
        config.timeout = Duration::from_millis(500);
        let exporter = OtlpExporter::spawn(config, &registry).expect("valid");
        exporter.export(span());
        exporter.flush().await;
        assert_eq!(registry.telemetry().spans_dropped_export_failed.get(), 1);
        assert_eq!(registry.telemetry().spans_exported.get(), 0);
    }
}
