//! What travels with a request from proxy to proxy: Istio's peer metadata (the caller's
//! identity, so the destination side can report `source_*` labels) and the trace context of
//! each hop's span.
//!
//! Peer metadata uses Istio's header `x-envoy-peer-metadata-id`, holding the caller proxy's
//! Envoy node id (`sidecar~<ip>~<workload>.<namespace>~<namespace>.svc.cluster.local`, or
//! `router~…` for the gateway). The client side sets it, the server side reads and removes it
//! before the request reaches the application, as Istio's metadata exchange does. The header
//! only names: the recorder trusts it from a peer that proved an identity over mutual TLS,
//! and only for a workload the node runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use http::{HeaderMap, HeaderName, HeaderValue};
use meridian_telemetry::trace::{
    HopRequest, NodeInfo, OtlpConfig, OtlpExporter, ProxySpan, Sampler, SpanKind, Tracer,
};

use super::directory::TRUST_DOMAIN;

/// Istio's peer metadata id header.
pub(crate) static PEER_ID: HeaderName = HeaderName::from_static("x-envoy-peer-metadata-id");

/// Interned peer ids beyond this many are not cached, so ids a client invents cannot grow
/// this map (they are dropped when recorded, see `Observer::record`).
const MAX_PEERS: usize = 1024;

/// The Envoy node id of a workload's proxy.
pub(crate) fn node_id(workload: &str, gateway: bool) -> String {
    let (ns, name) = workload.split_once('/').unwrap_or(("default", workload));
    let kind = if gateway { "router" } else { "sidecar" };
    format!("{kind}~127.0.0.1~{name}.{ns}~{ns}.svc.{TRUST_DOMAIN}")
}

/// `namespace/name` from a node id, if it is one.
pub(crate) fn workload_of_node_id(id: &str) -> Option<String> {
    let mut parts = id.split('~');
    let kind = parts.next()?;
    if kind != "sidecar" && kind != "router" {
        return None;
    }
    let _ip = parts.next()?;
    let pod = parts.next()?;
    let domain = parts.next()?;
    let ns = domain.split('.').next()?;
    let name = pod.strip_suffix(&format!(".{ns}"))?;
    (!name.is_empty() && !ns.is_empty()).then(|| format!("{ns}/{name}"))
}

/// The calling workload (`namespace/name`) named by peer metadata.
#[derive(Debug)]
pub(crate) struct PeerId(pub(crate) Arc<str>);

/// Header values and peer lookups, cached so the request path allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    /// Caller workload → its node id header value.
    outgoing: ArcSwap<HashMap<Arc<str>, HeaderValue>>,
    /// Header value → the calling workload.
    incoming: ArcSwap<HashMap<HeaderValue, Arc<PeerId>>>,
    write: Mutex<()>,
}

impl Peers {
    /// The value a workload's proxy sends.
    pub(crate) fn outgoing(&self, workload: &Arc<str>, gateway: bool) -> Option<HeaderValue> {
        if let Some(v) = self.outgoing.load().get(workload) {
            return Some(v.clone());
        }
        let v = HeaderValue::from_str(&node_id(workload, gateway)).ok()?;
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut map = HashMap::clone(&self.outgoing.load());
        map.insert(workload.clone(), v.clone());
        self.outgoing.store(Arc::new(map));
        Some(v)
    }

    /// The calling workload named by an incoming value (interned: a reference count, no
    /// allocation, once seen).
    pub(crate) fn incoming(&self, value: &HeaderValue) -> Option<Arc<PeerId>> {
        if let Some(w) = self.incoming.load().get(value) {
            return Some(w.clone());
        }
        let w = Arc::new(PeerId(Arc::from(workload_of_node_id(
            value.to_str().ok()?,
        )?)));
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.incoming.load();
        if current.len() < MAX_PEERS {
            let mut map = HashMap::clone(&current);
            map.insert(value.clone(), w.clone());
            self.incoming.store(Arc::new(map));
        }
        Some(w)
    }
}

/// Per-workload tracers sharing one sampling rate; each workload's spans go to its own
/// exporter so that the collector sees one service per proxy (`<app>.<namespace>`), as
/// with Istio.
#[derive(Debug)]
pub(crate) struct Tracing {
    endpoint: String,
    sampler: Sampler,
    registry: meridian_telemetry::metrics::Registry,
    cluster: String,
    tracers: ArcSwap<HashMap<Arc<str>, Tracer>>,
    write: Mutex<()>,
}

impl Tracing {
    pub(crate) fn new(
        endpoint: &str,
        percent: f64,
        registry: &meridian_telemetry::metrics::Registry,
        cluster: &str,
    ) -> anyhow::Result<Tracing> {
        let sampler = Sampler::new(percent).map_err(|e| {
            anyhow::anyhow!("--tracing-sampling: {e}; give a percentage from 0 to 100")
        })?;
        // Validate the endpoint now, so a typo is an error at start, not a silent drop.
        OtlpExporter::spawn(OtlpConfig::new(endpoint, "meridian"), registry)
            .map_err(|e| anyhow::anyhow!("--tracing-endpoint {endpoint}: {e}"))?;
        Ok(Tracing {
            endpoint: endpoint.to_owned(),
            sampler,
            registry: registry.clone(),
            cluster: cluster.to_owned(),
            tracers: ArcSwap::default(),
            write: Mutex::new(()),
        })
    }

    fn tracer(&self, workload: &Arc<str>, gateway: bool, info: Option<NodeInfo>) -> Option<Tracer> {
        if let Some(t) = self.tracers.load().get(workload) {
            return Some(t.clone());
        }
        let (ns, name) = workload.split_once('/').unwrap_or(("default", workload));
        let node = info.unwrap_or_else(|| NodeInfo {
            canonical_service: name.to_owned(),
            namespace: ns.to_owned(),
            ..NodeInfo::default()
        });
        let node = NodeInfo {
            node_id: node_id(workload, gateway),
            mesh_id: TRUST_DOMAIN.to_owned(),
            cluster_id: self.cluster.clone(),
            ..node
        };
        let mut config = OtlpConfig::new(&self.endpoint, &node.service_name());
        config.flush_interval = std::time::Duration::from_millis(500);
        config
            .resource
            .push(("k8s.namespace.name".into(), node.namespace.clone()));
        let exporter = OtlpExporter::spawn(config, &self.registry).ok()?;
        let tracer = Tracer::new(self.sampler, node, Some(exporter));
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut map = HashMap::clone(&self.tracers.load());
        let tracer = map.entry(workload.clone()).or_insert(tracer).clone();
        self.tracers.store(Arc::new(map));
        Some(tracer)
    }

    /// Starts the hop's span and writes its context into the headers sent upstream.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        &self,
        workload: &Arc<str>,
        gateway: bool,
        server: bool,
        operation: &str,
        headers: &mut HeaderMap,
        request: &HopRequest<'_>,
        info: impl FnOnce() -> Option<NodeInfo>,
    ) -> Option<ProxySpan> {
        let tracer = match self.tracers.load().get(workload) {
            Some(t) => t.clone(),
            None => self.tracer(workload, gateway, info())?,
        };
        let kind = if server {
            SpanKind::Server
        } else {
            SpanKind::Client
        };
        let span = tracer.start(headers, kind, operation, request);
        span.inject(headers);
        Some(span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_round_trip() {
        let id = node_id("default/myapp-v2", false);
        assert_eq!(
            id,
            "sidecar~127.0.0.1~myapp-v2.default~default.svc.cluster.local"
        );
        assert_eq!(
            workload_of_node_id(&id).as_deref(),
            Some("default/myapp-v2")
        );
        let gw = node_id("istio-system/istio-ingressgateway", true);
        assert!(gw.starts_with("router~"));
        assert_eq!(
            workload_of_node_id(&gw).as_deref(),
            Some("istio-system/istio-ingressgateway")
        );
        assert_eq!(workload_of_node_id("nonsense"), None);
        assert_eq!(workload_of_node_id("sidecar~1~x.other~ns.svc"), None);
    }

    #[test]
    fn peers_are_interned() {
        let p = Peers::default();
        let w: Arc<str> = Arc::from("default/app");
        let v = p.outgoing(&w, false).expect("value");
        assert_eq!(p.outgoing(&w, false), Some(v.clone()));
        assert_eq!(
            p.incoming(&v).map(|p| p.0.clone()).as_deref(),
            Some("default/app")
        );
        assert!(
            p.incoming(&HeaderValue::from_static("junk")).is_none(),
            "not a node id"
        );
    }
}
