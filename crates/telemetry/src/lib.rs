//! Meridian's telemetry plane: the Istio standard metrics that the data plane records on every
//! request, `meridian_*` metrics for the other planes, the Prometheus text exposition served at
//! `/metrics` and `/stats/prometheus`, Prometheus-style `/federate`, W3C and B3 trace propagation
//! with spans exported over OTLP/HTTP, and Envoy-format access logs.
//!
//! It sits beside the other planes in the data flow: the proxy, workloads and control planes
//! hold cheap pre-resolved handles ([`metrics::HttpMetrics`], [`metrics::Counter`], ...) and
//! update atomics; the admin listener in the binary hands `/metrics`, `/stats/prometheus` and
//! `/federate` to [`admin::AdminEndpoints`]. Spans go through [`trace::Tracer`], access logs
//! through [`access_log::AccessLogger`].
//!
//! ```
//! use meridian_telemetry::metrics::{HttpRecord, IstioLabels, Registry, Reporter};
//! use meridian_telemetry::ResponseFlags;
//! use std::time::Duration;
//!
//! let registry = Registry::new();
//! // Once per route/peer pair, when the proxy compiles its snapshot:
//! let route = registry.istio().http(&IstioLabels { reporter: Reporter::Source, ..Default::default() });
//! // Per request: a handful of relaxed atomic adds, no lock, no allocation.
//! route.record(&HttpRecord::http(200, ResponseFlags::NONE, Duration::from_millis(3), 0, 512));
//! let mut text = String::new();
//! registry.render_text(&mut text);
//! assert!(text.contains("istio_requests_total{reporter=\"source\""));
//! ```
#![forbid(unsafe_code)]

pub mod access_log;
pub mod admin;
mod error;
pub mod exposition;
pub mod federate;
pub mod metrics;
pub mod process;
mod response_flags;
pub mod selector;
pub mod trace;
pub mod writer;

pub use error::{Error, SelectorErrorKind};
pub use response_flags::ResponseFlags;

#[cfg(test)]
mod tests {
    /// The handles the planes keep are shared across tasks and threads.
    #[test]
    fn handles_are_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<crate::metrics::Registry>();
        check::<crate::metrics::HttpMetrics>();
        check::<crate::metrics::TcpMetrics>();
        check::<crate::metrics::Counter>();
        check::<crate::metrics::Gauge>();
        check::<crate::metrics::Histogram>();
        check::<crate::metrics::ListenerMetrics>();
        check::<crate::metrics::ClusterMetrics>();
        check::<crate::metrics::WorkloadMetrics>();
        check::<crate::admin::AdminEndpoints>();
        check::<crate::trace::Tracer>();
        check::<crate::trace::OtlpExporter>();
        check::<crate::access_log::AccessLogger>();
    }
}
