//! Distributed tracing for proxy hops: W3C Trace Context and B3 propagation with sampling
//! ([`context`]), spans named and tagged as Istio's ([`span`]), and OTLP/HTTP export
//! ([`otlp`]).
//!
//! Per hop the proxy calls [`Tracer::start`] with the request headers, [`ProxySpan::inject`]
//! on the upstream request, and [`ProxySpan::finish`] with the response.

pub mod context;
pub mod otlp;
pub mod span;

pub use context::{
    Extracted, OutgoingContext, Propagation, Sampler, Sampling, SpanId, TraceContext, TraceId,
    extract,
};
pub use otlp::{OtlpConfig, OtlpExporter};
pub use span::{
    AttributeValue, HopRequest, HopResponse, NodeInfo, ProxySpan, RouteMatch, Span, SpanKind,
    SpanStatus, Tracer, operation_name,
};
