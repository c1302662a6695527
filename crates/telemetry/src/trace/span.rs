//! Spans for proxy hops, named and tagged as Envoy and Istio tag theirs, and the [`Tracer`]
//! the proxy calls at the start and end of each hop.

use super::context::{
    Extracted, OutgoingContext, Propagation, Sampler, Sampling, SpanId, TraceId, extract,
};
use super::otlp::OtlpExporter;
use crate::ResponseFlags;
use http::HeaderMap;
use std::borrow::Cow;
use std::time::SystemTime;

/// OTLP's span kinds, the ones a proxy produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// The inbound side of a hop (the sidecar in front of a workload, a gateway).
    Server,
    /// The outbound side (a sidecar calling another service).
    Client,
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    /// A string; Envoy reports all of its tags as strings.
    String(String),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
}

impl From<&str> for AttributeValue {
    fn from(s: &str) -> Self {
        AttributeValue::String(s.to_owned())
    }
}

impl From<String> for AttributeValue {
    fn from(s: String) -> Self {
        AttributeValue::String(s)
    }
}

/// OTLP's span status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SpanStatus {
    /// Not set (success, or not judged).
    #[default]
    Unset,
    /// Failed, with a message.
    Error(String),
}

/// A finished span, ready for export.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// The trace.
    pub trace_id: TraceId,
    /// This span.
    pub span_id: SpanId,
    /// The caller's span, if any.
    pub parent_span_id: Option<SpanId>,
    /// W3C `tracestate` carried along.
    pub trace_state: Option<String>,
    /// The operation name, e.g. `myapp.default.svc.cluster.local:80/*`.
    pub name: String,
    /// Server or client.
    pub kind: SpanKind,
    /// When the hop started.
    pub start: SystemTime,
    /// When it finished.
    pub end: SystemTime,
    /// Tags.
    pub attributes: Vec<(Cow<'static, str>, AttributeValue)>,
    /// Status.
    pub status: SpanStatus,
}

/// Istio's span name for a route: `host:port` plus the route's path match (`/*` for a
/// prefix `/`, the exact path, or the regex), as pilot's `getRouteOperation` builds it.
pub fn operation_name(host: &str, port: u16, path: RouteMatch<'_>) -> String {
    match path {
        RouteMatch::Prefix(p) => format!("{host}:{port}{p}*"),
        RouteMatch::Exact(p) | RouteMatch::Regex(p) => format!("{host}:{port}{p}"),
        RouteMatch::Any => format!("{host}:{port}/*"),
    }
}

/// How a route matches paths, for [`operation_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMatch<'a> {
    /// No path match.
    Any,
    /// A prefix match.
    Prefix(&'a str),
    /// An exact match.
    Exact(&'a str),
    /// A regex match.
    Regex(&'a str),
}

/// Who this proxy is, for the tags Istio adds to every span and the OTLP resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// Envoy's `node_id`, e.g. `sidecar~127.0.0.1~myapp-v1-0.default~default.svc.cluster.local`.
    pub node_id: String,
    /// `istio.canonical_service` (default `unknown`).
    pub canonical_service: String,
    /// `istio.canonical_revision` (default `latest`).
    pub canonical_revision: String,
    /// `istio.namespace` (default `default`).
    pub namespace: String,
    /// `istio.mesh_id` (default `unknown`).
    pub mesh_id: String,
    /// `istio.cluster_id` (default `unknown`).
    pub cluster_id: String,
}

impl NodeInfo {
    fn or<'a>(v: &'a str, default: &'a str) -> &'a str {
        if v.is_empty() { default } else { v }
    }

    /// The OTLP `service.name` Istio gives a proxy: `<canonical service>.<namespace>`.
    pub fn service_name(&self) -> String {
        format!(
            "{}.{}",
            NodeInfo::or(&self.canonical_service, "unknown"),
            NodeInfo::or(&self.namespace, "default")
        )
    }

    fn tags(&self) -> [(&'static str, String); 7] {
        [
            ("component", "proxy".to_owned()),
            ("node_id", self.node_id.clone()),
            (
                "istio.canonical_service",
                NodeInfo::or(&self.canonical_service, "unknown").to_owned(),
            ),
            (
                "istio.canonical_revision",
                NodeInfo::or(&self.canonical_revision, "latest").to_owned(),
            ),
            (
                "istio.namespace",
                NodeInfo::or(&self.namespace, "default").to_owned(),
            ),
            (
                "istio.mesh_id",
                NodeInfo::or(&self.mesh_id, "unknown").to_owned(),
            ),
            (
                "istio.cluster_id",
                NodeInfo::or(&self.cluster_id, "unknown").to_owned(),
            ),
        ]
    }
}

/// The request side of a hop, for Envoy's request tags.
#[derive(Debug, Clone, Copy, Default)]
pub struct HopRequest<'a> {
    /// `http.method`.
    pub method: &'a str,
    /// `http.url`: scheme, authority and path as received.
    pub url: &'a str,
    /// `http.protocol`: `HTTP/1.1`, `HTTP/2`.
    pub protocol: &'a str,
    /// `user_agent`.
    pub user_agent: Option<&'a str>,
    /// `guid:x-request-id`.
    pub request_id: Option<&'a str>,
    /// `downstream_cluster` (`x-envoy-downstream-service-cluster`), `-` when absent.
    pub downstream_cluster: Option<&'a str>,
    /// `peer.address`: the downstream address.
    pub peer_address: Option<&'a str>,
}

/// The response side of a hop, for Envoy's response tags.
#[derive(Debug, Clone, Copy, Default)]
pub struct HopResponse<'a> {
    /// `http.status_code`; 0 when no response was sent.
    pub status: u16,
    /// `response_flags`.
    pub flags: ResponseFlags,
    /// `request_size`: request body bytes.
    pub request_size: u64,
    /// `response_size`: response body bytes.
    pub response_size: u64,
    /// `upstream_cluster` and `upstream_cluster.name`.
    pub upstream_cluster: Option<&'a str>,
    /// `upstream_address`.
    pub upstream_address: Option<&'a str>,
}

/// Starts and finishes proxy-hop spans. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Tracer {
    sampler: Sampler,
    node: NodeInfo,
    propagation: Propagation,
    exporter: Option<OtlpExporter>,
}

impl Tracer {
    /// A tracer that samples with `sampler` and hands finished spans to `exporter` (none:
    /// propagate only).
    pub fn new(sampler: Sampler, node: NodeInfo, exporter: Option<OtlpExporter>) -> Tracer {
        Tracer {
            sampler,
            node,
            propagation: Propagation::DEFAULT,
            exporter,
        }
    }

    /// Chooses the header formats written upstream (W3C and B3 multi by default).
    pub fn with_propagation(mut self, propagation: Propagation) -> Tracer {
        self.propagation = propagation;
        self
    }

    /// The node this tracer speaks for.
    pub fn node(&self) -> &NodeInfo {
        &self.node
    }

    /// Starts the span of one hop from the request's headers: continues the caller's trace,
    /// or starts one, deciding sampling once. Unsampled spans cost two random ids.
    pub fn start(
        &self,
        headers: &HeaderMap,
        kind: SpanKind,
        operation: &str,
        req: &HopRequest<'_>,
    ) -> ProxySpan {
        let (trace_id, parent, incoming, trace_state) = match extract(headers) {
            Extracted::Context(c) => (c.trace_id, Some(c.span_id), c.sampling, c.trace_state),
            Extracted::SamplingOnly(s) => (TraceId::random(), None, s, None),
            Extracted::None => (TraceId::random(), None, Sampling::Deferred, None),
        };
        let sampling = self.sampler.decide(incoming, trace_id);
        let outgoing = OutgoingContext {
            trace_id,
            span_id: SpanId::random(),
            parent_span_id: parent,
            sampling,
            trace_state,
        };
        let mut attributes = Vec::new();
        if sampling.is_sampled() {
            attributes.reserve(24);
            for (k, v) in self.node.tags() {
                attributes.push((Cow::Borrowed(k), AttributeValue::String(v)));
            }
            let mut tag = |k: &'static str, v: &str| {
                attributes.push((Cow::Borrowed(k), AttributeValue::from(v)))
            };
            tag("http.method", req.method);
            tag("http.url", req.url);
            tag("http.protocol", req.protocol);
            tag("user_agent", req.user_agent.unwrap_or("-"));
            tag("guid:x-request-id", req.request_id.unwrap_or("-"));
            tag("downstream_cluster", req.downstream_cluster.unwrap_or("-"));
            if let Some(peer) = req.peer_address {
                tag("peer.address", peer);
            }
        }
        ProxySpan {
            // Unsampled hops (most, at Istio's 1 %) never need the name.
            name: if sampling.is_sampled() {
                operation.to_owned()
            } else {
                String::new()
            },
            outgoing,
            kind,
            start: SystemTime::now(),
            attributes,
            propagation: self.propagation,
            exporter: if sampling.is_sampled() {
                self.exporter.clone()
            } else {
                None
            },
        }
    }
}

/// A hop in progress. Inject its context upstream, then finish it with the response.
#[derive(Debug)]
pub struct ProxySpan {
    outgoing: OutgoingContext,
    name: String,
    kind: SpanKind,
    start: SystemTime,
    attributes: Vec<(Cow<'static, str>, AttributeValue)>,
    propagation: Propagation,
    exporter: Option<OtlpExporter>,
}

impl ProxySpan {
    /// The context sent upstream (this span as the parent).
    pub fn context(&self) -> &OutgoingContext {
        &self.outgoing
    }

    /// Whether this span will be exported.
    pub fn is_sampled(&self) -> bool {
        self.outgoing.sampling.is_sampled()
    }

    /// Writes the trace headers for the upstream request.
    pub fn inject(&self, headers: &mut HeaderMap) {
        self.outgoing.inject(headers, self.propagation);
    }

    /// Ends the hop: adds the response tags and hands the span to the exporter without
    /// blocking. Returns the span when it is sampled (for tests and `meridian tap`).
    pub fn finish(mut self, resp: &HopResponse<'_>) -> Option<Span> {
        if !self.is_sampled() {
            return None;
        }
        let mut tag = |k: &'static str, v: String| {
            self.attributes
                .push((Cow::Borrowed(k), AttributeValue::String(v)))
        };
        tag("http.status_code", resp.status.to_string());
        tag("response_flags", resp.flags.to_string());
        tag("request_size", resp.request_size.to_string());
        tag("response_size", resp.response_size.to_string());
        if let Some(c) = resp.upstream_cluster {
            tag("upstream_cluster", c.to_owned());
            tag("upstream_cluster.name", c.to_owned());
        }
        if let Some(a) = resp.upstream_address {
            tag("upstream_address", a.to_owned());
        }
        // Envoy marks a hop failed when no response was sent or it was a 5xx.
        let failed = resp.status == 0 || resp.status >= 500;
        if failed {
            self.attributes.push((
                Cow::Borrowed("error"),
                AttributeValue::String("true".into()),
            ));
        }
        let span = Span {
            trace_id: self.outgoing.trace_id,
            span_id: self.outgoing.span_id,
            parent_span_id: self.outgoing.parent_span_id,
            trace_state: self.outgoing.trace_state.clone(),
            name: std::mem::take(&mut self.name),
            kind: self.kind,
            start: self.start,
            end: SystemTime::now(),
            attributes: std::mem::take(&mut self.attributes),
            status: if failed {
                SpanStatus::Error(format!("{} {}", resp.status, resp.flags))
            } else {
                SpanStatus::Unset
            },
        };
        if let Some(exporter) = &self.exporter {
            exporter.export(span.clone());
        }
        Some(span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn operation_names_like_istio() {
        assert_eq!(
            operation_name("details.default.svc.cluster.local", 9080, RouteMatch::Any),
            "details.default.svc.cluster.local:9080/*"
        );
        assert_eq!(
            operation_name("a", 80, RouteMatch::Prefix("/api/")),
            "a:80/api/*"
        );
        assert_eq!(
            operation_name("a", 80, RouteMatch::Exact("/login")),
            "a:80/login"
        );
    }

    #[test]
    fn continues_the_callers_trace_with_envoy_tags() {
        let tracer = Tracer::new(
            Sampler::new(0.0).expect("valid"),
            NodeInfo {
                node_id: "sidecar~127.0.0.1~myapp-v1.default~default.svc.cluster.local".into(),
                canonical_service: "myapp".into(),
                namespace: "default".into(),
                ..Default::default()
            },
            None,
        );
        let mut h = HeaderMap::new();
        h.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let req = HopRequest {
            method: "GET",
            url: "http://myapp/",
            protocol: "HTTP/1.1",
            request_id: Some("abc"),
            ..Default::default()
        };
        let hop = tracer.start(
            &h,
            SpanKind::Server,
            "myapp.default.svc.cluster.local:80/*",
            &req,
        );
        assert!(
            hop.is_sampled(),
            "the caller's decision wins over a 0 % rate"
        );
        let mut up = HeaderMap::new();
        hop.inject(&mut up);
        assert!(
            up["traceparent"]
                .to_str()
                .expect("ascii")
                .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
        );
        assert_eq!(up["x-b3-parentspanid"], "00f067aa0ba902b7");
        let span = hop
            .finish(&HopResponse {
                status: 503,
                flags: ResponseFlags::NO_HEALTHY_UPSTREAM,
                upstream_cluster: Some("outbound|80||myapp.default.svc.cluster.local"),
                ..Default::default()
            })
            .expect("sampled");
        assert_eq!(span.parent_span_id, Some(SpanId(0x00f067aa0ba902b7)));
        let tag = |k: &str| {
            span.attributes
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(tag("component"), Some(AttributeValue::from("proxy")));
        assert_eq!(tag("http.status_code"), Some(AttributeValue::from("503")));
        assert_eq!(tag("response_flags"), Some(AttributeValue::from("UH")));
        assert_eq!(tag("error"), Some(AttributeValue::from("true")));
        assert_eq!(
            tag("istio.canonical_revision"),
            Some(AttributeValue::from("latest"))
        );
        assert_eq!(tag("guid:x-request-id"), Some(AttributeValue::from("abc")));
        assert!(matches!(span.status, SpanStatus::Error(_)));
    }

    #[test]
    fn unsampled_hops_propagate_and_export_nothing() {
        let tracer = Tracer::new(
            Sampler::new(100.0).expect("valid"),
            NodeInfo::default(),
            None,
        );
        let mut h = HeaderMap::new();
        h.insert("b3", HeaderValue::from_static("0"));
        let hop = tracer.start(&h, SpanKind::Client, "x:80/*", &HopRequest::default());
        assert!(!hop.is_sampled());
        let mut up = HeaderMap::new();
        hop.inject(&mut up);
        assert!(up["traceparent"].to_str().expect("ascii").ends_with("-00"));
        assert_eq!(up["x-b3-sampled"], "0");
        assert!(hop.finish(&HopResponse::default()).is_none());
    }
}
