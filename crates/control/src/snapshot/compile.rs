//! Bundle → snapshot. Assumes validation has run (it refuses invalid bundles) but never
//! panics on odd input: whatever cannot be served is skipped and noted.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use meridian_config::analyze::{is_builtin_gateway_selector, qualify_host};
use meridian_config::istio::networking as net;
use meridian_config::k8s::config_map::SecretData;
use meridian_config::k8s::meta::IntOrString;
use meridian_config::{Bundle, Object, Resource};

use super::cluster::{
    Cluster, EndpointSource, LoadBalancer, PolicyLayers, TargetPort, UpstreamProtocol, cluster_name,
};
use super::gateway::{
    Credential, GatewayListener, GatewayServer, ServerTls, ServerTlsMode, TlsVersion,
};
use super::matcher::{
    HeaderMatcher, Pattern, QueryMatcher, RequestMatch, StringMatcher, UriMatcher,
};
use super::route::{
    AbortStatus, ClusterTarget, CorsPolicy, DirectResponse, Fault, FaultAbort, FaultDelay,
    HeaderOps, HeaderRules, HttpRoute, Mirror, Redirect, RedirectPort, RegexRewrite, RetryOn,
    RetryPolicy, Rewrite, RouteAction, RouteDestination, RouteOrigin, UnmatchedPreflights,
    WeightedDestinations,
};
use super::table::{RouteTable, VirtualHost};
use super::{ServiceInfo, ServicePortInfo, Snapshot, SnapshotError};

const MESH: &str = "mesh";

/// Compiles a valid bundle into a snapshot with the given version.
pub fn compile(bundle: &Bundle, version: u64) -> Result<Snapshot, SnapshotError> {
    if !bundle.is_valid() {
        return Err(SnapshotError::InvalidBundle(bundle.error_count()));
    }
    let mut c = Compiler::default();
    c.snapshot.version = version;
    // Gateway API objects are served as the Istio objects they translate to. A
    // VirtualService may name a Gateway API Gateway, as in Istio: it binds to the Istio
    // Gateways made of its listeners.
    for doc in &bundle.docs {
        let dir = doc.file.parent().map(Path::to_path_buf);
        for r in doc.resource.iter().chain(&doc.translated) {
            c.resources.push((r, dir.clone()));
        }
        if let Some(Resource::KubernetesGateway(g)) = &doc.resource {
            let made = doc.translated.iter().filter_map(|t| match t {
                Resource::Gateway(i) => Some(format!("{}/{}", i.namespace(), i.name())),
                _ => None,
            });
            c.api_gateways
                .entry(format!("{}/{}", g.namespace(), g.name()))
                .or_default()
                .extend(made);
        }
    }
    c.collect_destination_rules();
    c.build_clusters();
    c.compile_virtual_services();
    c.build_mesh_tables();
    c.build_gateways();
    let notes = &mut c.snapshot.notes;
    c.snapshot.peer_authentication = super::peer_authn::compile(bundle.resources(), notes);
    c.snapshot.authorization = super::authz::compile(bundle.resources(), notes);
    Ok(c.snapshot)
}

/// A VirtualService rule before it is specialised for one gateway context.
struct Rule {
    route: HttpRoute,
    /// Each match with the gateways it applies to (empty: the VirtualService's).
    matches: Vec<(RequestMatch, Vec<String>)>,
    delegate: Option<String>,
}

struct CompiledVs {
    id: String,
    namespace: String,
    hosts: Vec<String>,
    gateways: Vec<String>,
    export_to: Vec<String>,
    rules: Vec<Rule>,
}

impl CompiledVs {
    fn visible_from(&self, namespace: &str) -> bool {
        self.export_to.is_empty()
            || self
                .export_to
                .iter()
                .any(|e| e == "*" || e == namespace || (e == "." && self.namespace == namespace))
    }

    fn bound_to(&self, context: &str) -> bool {
        self.gateways.iter().any(|g| g == context)
            || self.rules.iter().any(|r| {
                r.matches
                    .iter()
                    .any(|(_, g)| g.iter().any(|g| g == context))
            })
    }
}

#[derive(Default)]
struct Compiler<'a> {
    resources: Vec<(&'a Resource, Option<std::path::PathBuf>)>,
    snapshot: Snapshot,
    /// FQDN → merged DestinationRule.
    rules: BTreeMap<String, net::DestinationRuleSpec>,
    /// Wildcard DestinationRule hosts (`*.example.com`), in load order.
    wildcard_rules: Vec<(String, net::DestinationRuleSpec)>,
    /// FQDN → (port → subset → cluster).
    clusters: HashMap<String, BTreeMap<u16, BTreeMap<Option<String>, usize>>>,
    virtual_services: Vec<CompiledVs>,
    delegates: HashMap<String, usize>,
    namespaces: BTreeSet<String>,
    /// `namespace/name` of each Gateway API Gateway → its Istio Gateways.
    api_gateways: HashMap<String, Vec<String>>,
}

impl<'a> Compiler<'a> {
    fn collect_destination_rules(&mut self) {
        for (r, _) in &self.resources {
            self.namespaces.insert(r.metadata().namespace().to_owned());
            let Resource::DestinationRule(dr) = r else {
                continue;
            };
            let Some(host) = dr.spec.host.as_deref() else {
                continue;
            };
            let fqdn = qualify_host(host, dr.namespace());
            if fqdn.starts_with('*') {
                self.wildcard_rules.push((fqdn, dr.spec.clone()));
                continue;
            }
            match self.rules.get_mut(&fqdn) {
                None => {
                    self.rules.insert(fqdn, dr.spec.clone());
                }
                Some(merged) => merge_rule(merged, &dr.spec),
            }
        }
        self.namespaces.insert("default".to_owned());
    }

    fn rule_for(&self, fqdn: &str) -> Option<&net::DestinationRuleSpec> {
        if let Some(r) = self.rules.get(fqdn) {
            return Some(r);
        }
        self.wildcard_rules
            .iter()
            .filter(|(h, _)| h == "*" || h.strip_prefix('*').is_some_and(|s| fqdn.ends_with(s)))
            .max_by_key(|(h, _)| h.len())
            .map(|(_, r)| r)
    }

    fn build_clusters(&mut self) {
        let mut services = Vec::new();
        for (r, _) in &self.resources {
            match r {
                Resource::Service(svc) => services.push(service_ports(svc)),
                Resource::ServiceEntry(se) => services.extend(entry_ports(se)),
                _ => {}
            }
        }
        for svc in services {
            let rule = self.rule_for(&svc.fqdn).cloned();
            let mut info = ServiceInfo {
                name: svc.name.clone(),
                namespace: svc.namespace.clone(),
                ports: Vec::new(),
            };
            for port in &svc.ports {
                let mut layers = PolicyLayers::default();
                if let Some(tp) = rule.as_ref().and_then(|r| r.traffic_policy.as_ref()) {
                    layers.overlay(tp, port.port);
                }
                let mut subsets: Vec<(Option<String>, BTreeMap<String, String>, PolicyLayers)> =
                    vec![(None, BTreeMap::new(), layers.clone())];
                for s in rule.iter().flat_map(|r| r.subsets.iter()) {
                    let Some(name) = &s.name else { continue };
                    let mut l = layers.clone();
                    if let Some(tp) = &s.traffic_policy {
                        l.overlay(tp, port.port);
                    }
                    subsets.push((Some(name.clone()), s.labels.clone(), l));
                }
                for (subset, labels, layers) in subsets {
                    let policy = layers.resolve();
                    let protocol = protocol_of(&port.protocol, &policy);
                    let endpoints = match &svc.source {
                        PortSource::Selector(selector) => {
                            let mut selector = selector.clone();
                            selector.extend(labels);
                            EndpointSource::Replicas {
                                selector,
                                target_port: port.target.clone(),
                            }
                        }
                        PortSource::Static(addresses) => EndpointSource::Static {
                            addresses: addresses
                                .iter()
                                .map(|a| {
                                    if a.contains(':') {
                                        a.clone()
                                    } else {
                                        format!("{a}:{}", port.endpoint_port)
                                    }
                                })
                                .collect(),
                        },
                    };
                    let cluster = Cluster {
                        name: cluster_name(&svc.fqdn, port.port, subset.as_deref()),
                        service: svc.fqdn.clone(),
                        namespace: svc.namespace.clone(),
                        port: port.port,
                        subset: subset.clone(),
                        endpoints,
                        protocol,
                        policy,
                    };
                    if self.snapshot.cluster_by_name(&cluster.name).is_some() {
                        continue;
                    }
                    let index = self.snapshot.push_cluster(cluster);
                    if subset.is_none() {
                        info.ports.push(ServicePortInfo {
                            port: port.port,
                            name: port.name.clone(),
                            protocol: port.protocol.clone(),
                            cluster: index,
                        });
                    }
                    self.clusters
                        .entry(svc.fqdn.clone())
                        .or_default()
                        .entry(port.port)
                        .or_default()
                        .insert(subset, index);
                }
            }
            self.snapshot
                .services
                .entry(svc.fqdn.clone())
                .or_insert(info);
        }
    }

    fn compile_virtual_services(&mut self) {
        let mut out = Vec::new();
        for (r, _) in &self.resources {
            let Resource::VirtualService(vs) = r else {
                continue;
            };
            out.push(self.compile_vs(vs));
        }
        for (i, vs) in out.iter().enumerate() {
            self.delegates.insert(vs.id.clone(), i);
        }
        self.virtual_services = out;
    }

    fn compile_vs(&self, vs: &Object<net::VirtualServiceSpec>) -> CompiledVs {
        let ns = vs.namespace();
        let id = format!("{ns}/{}", vs.name());
        let gateways: Vec<String> = if vs.spec.gateways.is_empty() {
            vec![MESH.to_owned()]
        } else {
            vs.spec
                .gateways
                .iter()
                .flat_map(|g| self.gateway_ids(g, ns))
                .collect()
        };
        let rules = vs
            .spec
            .http
            .iter()
            .enumerate()
            .map(|(index, r)| self.compile_rule(r, ns, &id, index))
            .collect();
        CompiledVs {
            id,
            namespace: ns.to_owned(),
            hosts: vs.spec.hosts.iter().map(|h| qualify_host(h, ns)).collect(),
            gateways,
            export_to: vs.spec.export_to.clone(),
            rules,
        }
    }

    fn compile_rule(&self, r: &net::HttpRoute, ns: &str, vs_id: &str, index: usize) -> Rule {
        let matches = r
            .matches
            .iter()
            .map(|m| {
                (
                    compile_match(m),
                    m.gateways
                        .iter()
                        .flat_map(|g| self.gateway_ids(g, ns))
                        .collect(),
                )
            })
            .collect();
        let action = if let Some(redirect) = &r.redirect {
            RouteAction::Redirect(compile_redirect(redirect))
        } else if let Some(dr) = &r.direct_response {
            RouteAction::DirectResponse(compile_direct(dr))
        } else {
            let destinations: Vec<RouteDestination> = r
                .route
                .iter()
                .filter_map(|d| {
                    let dest = d.destination.as_ref()?;
                    let weight = match (d.weight, r.route.len()) {
                        (Some(w), _) => u32::try_from(w.max(0)).unwrap_or(0),
                        (None, 1) => 100,
                        (None, _) => 0,
                    };
                    Some(self.destination(dest, ns, weight, d.headers.as_ref()))
                })
                .collect();
            let total_weight = destinations.iter().map(|d| d.weight).sum::<u32>();
            RouteAction::Forward(WeightedDestinations {
                destinations,
                total_weight,
            })
        };
        let hashing = match &action {
            RouteAction::Forward(w) => w.destinations.iter().any(|d| self.hashes(&d.target)),
            _ => false,
        };
        let mut mirrors = Vec::new();
        if let Some(m) = &r.mirror {
            let percentage = r
                .mirror_percentage
                .map(|p| p.value)
                .or(r.mirror_percent.map(f64::from))
                .unwrap_or(100.0);
            mirrors.push(Mirror {
                destination: self.destination(m, ns, 100, None),
                percentage,
            });
        }
        for m in &r.mirrors {
            let Some(d) = &m.destination else { continue };
            mirrors.push(Mirror {
                destination: self.destination(d, ns, 100, None),
                percentage: m.percentage.map(|p| p.value).unwrap_or(100.0),
            });
        }
        let route = HttpRoute {
            name: r.name.clone(),
            origin: RouteOrigin {
                virtual_service: vs_id.to_owned(),
                index,
            },
            matches: Vec::new(),
            action,
            rewrite: r.rewrite.as_ref().map(compile_rewrite),
            timeout: r
                .timeout
                .as_ref()
                .and_then(|t| t.parse().ok())
                .filter(|d: &Duration| !d.is_zero()),
            retry: compile_retry(r.retries.as_ref(), hashing),
            fault: r.fault.as_ref().and_then(compile_fault),
            mirrors,
            cors: r.cors_policy.as_ref().map(compile_cors),
            headers: compile_headers(r.headers.as_ref()),
        };
        Rule {
            route,
            matches,
            delegate: r.delegate.as_ref().and_then(|d| {
                Some(format!(
                    "{}/{}",
                    d.namespace.as_deref().unwrap_or(ns),
                    d.name.as_deref()?
                ))
            }),
        }
    }

    /// The gateways a VirtualService's `gateways` entry names: the Istio Gateway, or the
    /// Istio Gateways made of a Gateway API Gateway of that name.
    fn gateway_ids(&self, g: &str, ns: &str) -> Vec<String> {
        let id = qualify_gateway(g, ns);
        match self.api_gateways.get(&id) {
            Some(made) => made.clone(),
            None => vec![id],
        }
    }

    fn hashes(&self, target: &ClusterTarget) -> bool {
        let is_hash = |c: usize| {
            self.snapshot
                .cluster(c)
                .is_some_and(|c| matches!(c.policy.load_balancer, LoadBalancer::ConsistentHash(_)))
        };
        match target {
            ClusterTarget::Cluster(c) => is_hash(*c),
            ClusterTarget::ByPort(ports) => ports.iter().any(|(_, c)| is_hash(*c)),
            ClusterTarget::Missing(_) | ClusterTarget::Dynamic(_) => false,
        }
    }

    fn destination(
        &self,
        d: &net::Destination,
        ns: &str,
        weight: u32,
        headers: Option<&net::Headers>,
    ) -> RouteDestination {
        let host = qualify_host(d.host.as_deref().unwrap_or_default(), ns);
        let port = d
            .port
            .and_then(|p| p.number)
            .and_then(|p| u16::try_from(p).ok());
        let subset = d.subset.clone();
        let target = match self.clusters.get(&host) {
            // A whole-label wildcard; a partial one (`*x.example.com`) names no host.
            None if host.starts_with("*.") => ClusterTarget::Dynamic(port),
            None => ClusterTarget::Missing(format!("no service \"{host}\"")),
            Some(ports) => {
                let pick =
                    |by_subset: &BTreeMap<Option<String>, usize>| by_subset.get(&subset).copied();
                match port {
                    Some(p) => match ports.get(&p).and_then(pick) {
                        Some(c) => ClusterTarget::Cluster(c),
                        None => ClusterTarget::Missing(missing(&host, Some(p), subset.as_deref())),
                    },
                    None => {
                        let all: Vec<(u16, usize)> = ports
                            .iter()
                            .filter_map(|(p, s)| pick(s).map(|c| (*p, c)))
                            .collect();
                        if all.is_empty() {
                            ClusterTarget::Missing(missing(&host, None, subset.as_deref()))
                        } else {
                            ClusterTarget::ByPort(all)
                        }
                    }
                }
            }
        };
        RouteDestination {
            host,
            subset,
            target,
            weight,
            headers: compile_headers(headers),
        }
    }

    /// The rules of a VirtualService that apply in `context` (`mesh` or a gateway), with
    /// per-match gateways applied and delegates expanded.
    fn routes_for(&self, vs: &CompiledVs, context: &str) -> Vec<HttpRoute> {
        let mut out = Vec::new();
        for rule in &vs.rules {
            let applies_whole = vs.gateways.iter().any(|g| g == context);
            let matches: Vec<RequestMatch> = rule
                .matches
                .iter()
                .filter(|(_, g)| {
                    if g.is_empty() {
                        applies_whole
                    } else {
                        g.iter().any(|g| g == context)
                    }
                })
                .map(|(m, _)| m.clone())
                .collect();
            if rule.matches.is_empty() && !applies_whole {
                continue;
            }
            if !rule.matches.is_empty() && matches.is_empty() {
                continue;
            }
            if let Some(delegate) = &rule.delegate {
                let Some(d) = self
                    .delegates
                    .get(delegate)
                    .and_then(|i| self.virtual_services.get(*i))
                else {
                    continue;
                };
                for dr in &d.rules {
                    let mut route = dr.route.clone();
                    let delegate_matches: Vec<&RequestMatch> =
                        dr.matches.iter().map(|(m, _)| m).collect();
                    route.matches = match (matches.is_empty(), delegate_matches.is_empty()) {
                        (true, _) => delegate_matches.into_iter().cloned().collect(),
                        (false, true) => matches.clone(),
                        (false, false) => matches
                            .iter()
                            .flat_map(|root| delegate_matches.iter().map(|d| root.merged_with(d)))
                            .collect(),
                    };
                    out.push(route);
                }
                continue;
            }
            let mut route = rule.route.clone();
            route.matches = matches;
            out.push(route);
        }
        out
    }

    fn push_host(&mut self, name: String, routes: Vec<HttpRoute>, https_redirect: bool) -> usize {
        self.snapshot.virtual_hosts.push(VirtualHost {
            name,
            routes,
            https_redirect,
        });
        self.snapshot.virtual_hosts.len() - 1
    }

    fn default_route(&self, fqdn: &str) -> HttpRoute {
        let ports: Vec<(u16, usize)> = self
            .snapshot
            .services
            .get(fqdn)
            .map(|s| s.ports.iter().map(|p| (p.port, p.cluster)).collect())
            .unwrap_or_default();
        let target = if ports.is_empty() {
            ClusterTarget::Missing(format!("no port on \"{fqdn}\""))
        } else {
            ClusterTarget::ByPort(ports)
        };
        let hashing = self.hashes(&target);
        forward_route(fqdn, target, hashing)
    }

    /// Wildcard hosts of ServiceEntries whose requests go where they name (`resolution:
    /// NONE` or `DYNAMIC_DNS`, no endpoints): host, namespace and `exportTo`.
    fn dynamic_hosts(&self) -> Vec<(String, String, Vec<String>)> {
        let mut out = Vec::new();
        for (r, _) in &self.resources {
            let Resource::ServiceEntry(se) = r else {
                continue;
            };
            for (_, h) in se.spec.named_by_request() {
                let host = h.to_ascii_lowercase();
                out.push((host, se.namespace().to_owned(), se.spec.export_to.clone()));
            }
        }
        out
    }

    fn build_mesh_tables(&mut self) {
        // (host, VirtualService index or none) → virtual host, so namespaces share them.
        let mut built: HashMap<(String, Option<usize>), usize> = HashMap::new();
        let dynamic_hosts = self.dynamic_hosts();
        let mesh_vs: Vec<usize> = (0..self.virtual_services.len())
            .filter(|i| {
                let vs = &self.virtual_services[*i];
                !vs.hosts.is_empty() && vs.bound_to(MESH)
            })
            .collect();
        let namespaces: Vec<String> = self.namespaces.iter().cloned().collect();
        let services: Vec<(String, String, String)> = self
            .snapshot
            .services
            .iter()
            .map(|(fqdn, s)| (fqdn.clone(), s.name.clone(), s.namespace.clone()))
            .collect();
        for ns in namespaces.iter().map(Some).chain([None]) {
            let mut table = RouteTable::default();
            let visible = |vs: &CompiledVs| ns.is_none_or(|n| vs.visible_from(n));
            for (fqdn, name, svc_ns) in &services {
                let vs = mesh_vs
                    .iter()
                    .copied()
                    .filter(|i| visible(&self.virtual_services[*i]))
                    .find(|i| self.virtual_services[*i].hosts.iter().any(|h| h == fqdn))
                    .or_else(|| {
                        mesh_vs
                            .iter()
                            .copied()
                            .filter(|i| visible(&self.virtual_services[*i]))
                            .filter_map(|i| {
                                self.virtual_services[i]
                                    .hosts
                                    .iter()
                                    .filter_map(|h| h.strip_prefix('*'))
                                    .filter(|s| fqdn.ends_with(s))
                                    .map(|s| s.len())
                                    .max()
                                    .map(|len| (i, len))
                            })
                            .max_by_key(|(_, len)| *len)
                            .map(|(i, _)| i)
                    });
                let key = (fqdn.clone(), vs);
                let vh = match built.get(&key) {
                    Some(v) => *v,
                    None => {
                        let routes = match vs {
                            Some(i) => self.routes_for(&self.virtual_services[i], MESH),
                            None => vec![self.default_route(fqdn)],
                        };
                        let v = self.push_host(fqdn.clone(), routes, false);
                        built.insert(key, v);
                        v
                    }
                };
                table.insert(fqdn, vh);
                table.insert(&format!("{name}.{svc_ns}"), vh);
                table.insert(&format!("{name}.{svc_ns}.svc"), vh);
                if ns == Some(svc_ns) {
                    table.insert(name, vh);
                }
            }
            // VirtualService hosts that are not services (external names, wildcards).
            for &i in &mesh_vs {
                if !visible(&self.virtual_services[i]) {
                    continue;
                }
                for h in self.virtual_services[i].hosts.clone() {
                    if self.snapshot.services.contains_key(&h) || table.get(&h).is_some() {
                        continue;
                    }
                    let key = (h.clone(), Some(i));
                    let vh = match built.get(&key) {
                        Some(v) => *v,
                        None => {
                            let routes = self.routes_for(&self.virtual_services[i], MESH);
                            let v = self.push_host(h.clone(), routes, false);
                            built.insert(key, v);
                            v
                        }
                    };
                    table.insert(&h, vh);
                }
            }
            // ServiceEntry wildcard hosts that no VirtualService routes.
            for (h, se_ns, export_to) in &dynamic_hosts {
                let exported = export_to.is_empty()
                    || export_to.iter().any(|e| {
                        e == "*" || (e == "." && ns.is_none_or(|n| n == se_ns)) || ns == Some(e)
                    });
                if !exported || table.get(h).is_some() {
                    continue;
                }
                let key = (h.clone(), None);
                let vh = match built.get(&key) {
                    Some(v) => *v,
                    None => {
                        let v = self.push_host(
                            h.clone(),
                            vec![forward_route(h, ClusterTarget::Dynamic(None), false)],
                            false,
                        );
                        built.insert(key, v);
                        v
                    }
                };
                table.insert(h, vh);
            }
            match ns {
                Some(ns) => {
                    self.snapshot.mesh.insert(ns.clone(), table);
                }
                None => self.snapshot.mesh_fallback = table,
            }
        }
    }

    fn build_gateways(&mut self) {
        struct Port {
            tls: bool,
            servers: Vec<GatewayServer>,
            bindings: Vec<Binding>,
        }
        /// A server's hosts with their namespace filters, its gateway, and httpsRedirect.
        type Binding = (Vec<(String, String)>, String, bool);
        let mut ports: BTreeMap<u16, Port> = BTreeMap::new();
        let mut notes = Vec::new();
        for (r, dir) in &self.resources {
            let Resource::Gateway(gw) = r else { continue };
            let id = format!("{}/{}", gw.namespace(), gw.name());
            if !is_builtin_gateway_selector(&gw.spec.selector) {
                notes.push(format!(
                    "gateway {id}: its selector names no built-in gateway; only `istio: ingressgateway` is served"
                ));
                continue;
            }
            for s in &gw.spec.servers {
                let Some(port) = s.port.as_ref() else {
                    continue;
                };
                let Some(number) = port.number.and_then(|n| u16::try_from(n).ok()) else {
                    continue;
                };
                if s.bind.as_deref().is_some_and(|b| b.starts_with("unix://")) {
                    notes.push(format!(
                        "gateway {id} port {number}: a unix domain socket bind is not served; the server is left out"
                    ));
                    continue;
                }
                let protocol = port.protocol_upper();
                let secret = |ns: &str, name: &str| find_secret(&self.resources, ns, name);
                let tls = match server_tls(s, dir.as_deref(), gw.namespace(), &secret) {
                    Ok(t) => t,
                    Err(note) => {
                        notes.push(format!("gateway {id} port {number}: {note}"));
                        continue;
                    }
                };
                if !matches!(
                    protocol.as_str(),
                    "HTTP" | "HTTPS" | "HTTP2" | "GRPC" | "GRPC-WEB" | "TLS"
                ) {
                    notes.push(format!(
                        "gateway {id} port {number}: protocol {protocol} is not served yet"
                    ));
                    continue;
                }
                let https_redirect = s
                    .tls
                    .as_ref()
                    .is_some_and(|t| t.https_redirect == Some(true))
                    && tls.is_none();
                let hosts: Vec<(String, String)> = s
                    .hosts
                    .iter()
                    .map(|h| match h.split_once('/') {
                        Some((ns, host)) => (ns.to_owned(), host.to_ascii_lowercase()),
                        None => ("*".to_owned(), h.to_ascii_lowercase()),
                    })
                    .collect();
                let entry = ports.entry(number).or_insert_with(|| Port {
                    tls: tls.is_some(),
                    servers: Vec::new(),
                    bindings: Vec::new(),
                });
                if entry.tls != tls.is_some() {
                    notes.push(format!(
                        "gateway {id} port {number}: mixes TLS and plaintext servers on one port; the first server's choice is kept"
                    ));
                    continue;
                }
                entry.servers.push(GatewayServer {
                    gateway: id.clone(),
                    name: s.name.clone(),
                    protocol,
                    hosts: hosts.iter().map(|(_, h)| h.clone()).collect(),
                    tls,
                });
                entry.bindings.push((hosts, id.clone(), https_redirect));
            }
        }
        for (number, port) in ports {
            let mut table = RouteTable::default();
            let mut hosts: BTreeMap<String, (Vec<HttpRoute>, bool)> = BTreeMap::new();
            let mut order: Vec<String> = Vec::new();
            for (server_hosts, gw_id, https_redirect) in &port.bindings {
                let gw_ns = gw_id.split('/').next().unwrap_or_default();
                for vs in &self.virtual_services {
                    if vs.hosts.is_empty() || !vs.bound_to(gw_id) {
                        continue;
                    }
                    let routes = self.routes_for(vs, gw_id);
                    for vs_host in &vs.hosts {
                        for (ns_filter, server_host) in server_hosts {
                            let ns_ok = ns_filter == "*"
                                || (ns_filter == "." && vs.namespace == gw_ns)
                                || *ns_filter == vs.namespace;
                            if !ns_ok {
                                continue;
                            }
                            let Some(domain) = intersect(vs_host, server_host) else {
                                continue;
                            };
                            let slot = hosts.entry(domain.clone()).or_insert_with(|| {
                                order.push(domain.clone());
                                (Vec::new(), false)
                            });
                            slot.0.extend(routes.iter().cloned());
                            slot.1 |= *https_redirect;
                        }
                    }
                }
                if *https_redirect {
                    for (_, server_host) in server_hosts {
                        let slot = hosts.entry(server_host.clone()).or_insert_with(|| {
                            order.push(server_host.clone());
                            (Vec::new(), false)
                        });
                        slot.1 = true;
                    }
                }
            }
            for domain in order {
                let Some((routes, redirect)) = hosts.remove(&domain) else {
                    continue;
                };
                let vh = self.push_host(format!("{domain}:{number}"), routes, redirect);
                table.insert(&domain, vh);
            }
            self.snapshot.gateways.push(GatewayListener {
                port: number,
                tls: port.tls,
                servers: port.servers,
                routes: table,
            });
        }
        self.snapshot.notes.extend(notes);
    }
}

/// The domain a VirtualService host and a Gateway server host both cover (the more specific
/// of the two), if any.
fn intersect(vs_host: &str, server_host: &str) -> Option<String> {
    let covers = |pattern: &str, host: &str| {
        pattern == "*"
            || pattern.eq_ignore_ascii_case(host)
            || pattern.strip_prefix('*').is_some_and(|suffix| {
                let body = host.strip_prefix('*').unwrap_or(host);
                body.len() > suffix.len() && body.ends_with(suffix)
                    || (host.starts_with('*') && body == suffix)
            })
    };
    if covers(server_host, vs_host) {
        Some(vs_host.to_owned())
    } else if covers(vs_host, server_host) {
        Some(server_host.to_owned())
    } else {
        None
    }
}

fn qualify_gateway(g: &str, ns: &str) -> String {
    if g == MESH || g.contains('/') {
        g.to_owned()
    } else {
        format!("{ns}/{g}")
    }
}

fn missing(host: &str, port: Option<u16>, subset: Option<&str>) -> String {
    match (port, subset) {
        (_, Some(s)) => {
            format!("no subset \"{s}\" for \"{host}\" (define it in a DestinationRule)")
        }
        (Some(p), None) => format!("\"{host}\" has no port {p}"),
        (None, None) => format!("\"{host}\" has no port"),
    }
}

fn merge_rule(merged: &mut net::DestinationRuleSpec, next: &net::DestinationRuleSpec) {
    for s in &next.subsets {
        if !merged.subsets.iter().any(|m| m.name == s.name) {
            merged.subsets.push(s.clone());
        }
    }
    match (&mut merged.traffic_policy, &next.traffic_policy) {
        (_, None) => {}
        (slot @ None, Some(tp)) => *slot = Some(tp.clone()),
        (Some(m), Some(tp)) => {
            if m.load_balancer.is_none() {
                m.load_balancer.clone_from(&tp.load_balancer);
            }
            if m.connection_pool.is_none() {
                m.connection_pool.clone_from(&tp.connection_pool);
            }
            if m.outlier_detection.is_none() {
                m.outlier_detection.clone_from(&tp.outlier_detection);
            }
            if m.tls.is_none() {
                m.tls.clone_from(&tp.tls);
            }
            if m.tunnel.is_none() {
                m.tunnel.clone_from(&tp.tunnel);
            }
            if m.proxy_protocol.is_none() {
                m.proxy_protocol.clone_from(&tp.proxy_protocol);
            }
            if m.retry_budget.is_none() {
                m.retry_budget.clone_from(&tp.retry_budget);
            }
            m.port_level_settings
                .extend(tp.port_level_settings.iter().cloned());
        }
    }
}

enum PortSource {
    Selector(BTreeMap<String, String>),
    Static(Vec<String>),
}

struct PortSpec {
    port: u16,
    name: Option<String>,
    protocol: String,
    target: TargetPort,
    endpoint_port: u16,
}

struct ServiceSpec {
    fqdn: String,
    name: String,
    namespace: String,
    ports: Vec<PortSpec>,
    source: PortSource,
}

fn service_ports(svc: &Object<meridian_config::k8s::service::ServiceSpec>) -> ServiceSpec {
    let ns = svc.namespace();
    let ports = svc
        .spec
        .ports
        .iter()
        .filter_map(|p| {
            let port = p.port?;
            let target = match &p.target_port {
                None => TargetPort::Number(port),
                Some(IntOrString::Int(n)) => TargetPort::Number(u16::try_from(*n).ok()?),
                Some(IntOrString::String(s)) => match s.parse::<u16>() {
                    Ok(n) => TargetPort::Number(n),
                    Err(_) => TargetPort::Name(s.clone()),
                },
            };
            Some(PortSpec {
                port,
                name: p.name.clone(),
                protocol: p.istio_protocol().to_ascii_uppercase(),
                target,
                endpoint_port: port,
            })
        })
        .collect();
    ServiceSpec {
        fqdn: qualify_host(svc.name(), ns),
        name: svc.name().to_owned(),
        namespace: ns.to_owned(),
        ports,
        source: PortSource::Selector(svc.spec.selector.clone()),
    }
}

/// A host's route when no VirtualService routes it: every request to `target`, with
/// Istio's default retry policy.
fn forward_route(host: &str, target: ClusterTarget, hashing: bool) -> HttpRoute {
    HttpRoute {
        name: Some("default".to_owned()),
        origin: RouteOrigin {
            virtual_service: "default".to_owned(),
            index: 0,
        },
        matches: Vec::new(),
        action: RouteAction::Forward(WeightedDestinations {
            destinations: vec![RouteDestination {
                host: host.to_owned(),
                subset: None,
                target,
                weight: 100,
                headers: HeaderRules::default(),
            }],
            total_weight: 100,
        }),
        rewrite: None,
        timeout: None,
        retry: compile_retry(None, hashing),
        fault: None,
        mirrors: Vec::new(),
        cors: None,
        headers: HeaderRules::default(),
    }
}

fn entry_ports(se: &Object<net::ServiceEntrySpec>) -> Vec<ServiceSpec> {
    let ns = se.namespace();
    se.spec
        .hosts
        .iter()
        .filter(|h| !h.starts_with('*'))
        .map(|host| {
            let ports = se
                .spec
                .ports
                .iter()
                .filter_map(|p| {
                    let port = u16::try_from(p.number?).ok()?;
                    let endpoint_port = p
                        .target_port
                        .and_then(|t| u16::try_from(t).ok())
                        .unwrap_or(port);
                    Some(PortSpec {
                        port,
                        name: p.name.clone(),
                        protocol: p
                            .protocol
                            .clone()
                            .unwrap_or_else(|| "TCP".to_owned())
                            .to_ascii_uppercase(),
                        target: TargetPort::Number(endpoint_port),
                        endpoint_port,
                    })
                })
                .collect();
            let source = match &se.spec.workload_selector {
                Some(ws) => PortSource::Selector(ws.labels.clone()),
                None if se.spec.endpoints.is_empty() => PortSource::Static(vec![host.clone()]),
                None => PortSource::Static(
                    se.spec
                        .endpoints
                        .iter()
                        .filter_map(|e| e.address.clone())
                        .collect(),
                ),
            };
            let fqdn = qualify_host(host, ns);
            ServiceSpec {
                name: fqdn.clone(),
                fqdn,
                namespace: ns.to_owned(),
                ports,
                source,
            }
        })
        .collect()
}

fn protocol_of(istio_protocol: &str, policy: &super::ClusterPolicy) -> UpstreamProtocol {
    if policy.use_client_protocol {
        return UpstreamProtocol::Client;
    }
    match istio_protocol {
        "HTTP" if policy.h2_upgrade => UpstreamProtocol::Http2,
        "HTTP" => UpstreamProtocol::Http1,
        "HTTP2" | "GRPC" | "GRPC-WEB" => UpstreamProtocol::Http2,
        _ => UpstreamProtocol::Client,
    }
}

fn string_matcher(m: &net::StringMatch) -> Option<StringMatcher> {
    if let Some(e) = &m.exact {
        return Some(StringMatcher::Exact(e.clone()));
    }
    if let Some(p) = &m.prefix {
        return Some(StringMatcher::Prefix(p.clone()));
    }
    m.regex
        .as_ref()
        .and_then(|r| Pattern::full(r).ok())
        .map(StringMatcher::Regex)
}

const PSEUDO_HEADER_KEYS: [&str; 4] = ["uri", "scheme", "method", "authority"];

fn compile_match(m: &net::HttpMatchRequest) -> RequestMatch {
    let mut headers = Vec::new();
    for (invert, map) in [(false, &m.headers), (true, &m.without_headers)] {
        for (name, sm) in map {
            let lower = name.to_ascii_lowercase();
            if PSEUDO_HEADER_KEYS.contains(&lower.as_str()) {
                continue;
            }
            let Ok(name) = HeaderName::from_bytes(lower.as_bytes()) else {
                continue;
            };
            headers.push(HeaderMatcher {
                name,
                value: if sm.is_empty() {
                    None
                } else {
                    string_matcher(sm)
                },
                invert,
            });
        }
    }
    RequestMatch {
        name: m.name.clone(),
        uri: m
            .uri
            .as_ref()
            .and_then(string_matcher)
            .map(|matcher| UriMatcher {
                matcher,
                ignore_case: m.ignore_uri_case.unwrap_or(false),
            }),
        scheme: m.scheme.as_ref().and_then(string_matcher),
        method: m.method.as_ref().and_then(string_matcher),
        authority: m.authority.as_ref().and_then(string_matcher),
        headers,
        query_params: m
            .query_params
            .iter()
            .map(|(k, v)| QueryMatcher {
                name: k.clone(),
                value: if v.is_empty() {
                    None
                } else {
                    string_matcher(v)
                },
            })
            .collect(),
        port: m.port.and_then(|p| u16::try_from(p).ok()),
        source_labels: m
            .source_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        source_namespace: m.source_namespace.clone(),
    }
}

fn compile_redirect(r: &net::HttpRedirect) -> Redirect {
    let port = match (r.port.and_then(|p| u16::try_from(p).ok()), r.derive_port) {
        (Some(p), _) => RedirectPort::Port(p),
        (None, Some(net::RedirectPortSelection::FromProtocolDefault)) => {
            RedirectPort::ProtocolDefault
        }
        (None, Some(net::RedirectPortSelection::FromRequestPort)) => RedirectPort::RequestPort,
        (None, None) => RedirectPort::Keep,
    };
    Redirect {
        uri: r.uri.clone(),
        prefix_rewrite: r.prefix_rewrite.clone(),
        authority: r.authority.clone(),
        scheme: r.scheme.clone(),
        port,
        code: r
            .redirect_code
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(301),
    }
}

fn compile_direct(d: &net::HttpDirectResponse) -> DirectResponse {
    let body = match &d.body {
        Some(b) => match (&b.string, &b.bytes) {
            (Some(s), _) => Bytes::from(s.clone()),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(Bytes::from)
                .unwrap_or_default(),
            (None, None) => Bytes::new(),
        },
        None => Bytes::new(),
    };
    DirectResponse {
        status: d.status.and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
        body,
    }
}

fn compile_rewrite(r: &net::HttpRewrite) -> Rewrite {
    Rewrite {
        uri: r.uri.clone(),
        uri_regex: r.uri_regex_rewrite.as_ref().and_then(|rr| {
            Some(RegexRewrite {
                pattern: Pattern::search(rr.pattern.as_deref()?).ok()?,
                replacement: re2_replacement(rr.rewrite.as_deref().unwrap_or_default()),
            })
        }),
        authority: r
            .authority
            .as_deref()
            .and_then(|a| HeaderValue::from_str(a).ok()),
    }
}

/// Turns RE2's `\1` into the regex crate's `${1}` and escapes `$`.
fn re2_replacement(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push_str("${");
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    out.push(d);
                    chars.next();
                }
                out.push('}');
            }
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

fn compile_retry(r: Option<&net::HttpRetry>, hashing: bool) -> RetryPolicy {
    let mut p = RetryPolicy::istio_default();
    if hashing {
        p.previous_hosts = false;
    }
    let Some(r) = r else { return p };
    let attempts = r.attempts.unwrap_or(0);
    if attempts <= 0 {
        return RetryPolicy::disabled();
    }
    p.attempts = u32::try_from(attempts).unwrap_or(0);
    if let Some(text) = r.retry_on.as_deref().filter(|t| !t.trim().is_empty()) {
        let (on, codes) = RetryOn::parse(text);
        p.retry_on = on;
        p.retriable_status_codes = codes;
    }
    if let Some(d) = r.per_try_timeout.as_ref().and_then(|d| d.parse().ok()) {
        p.per_try_timeout = Some(d);
    }
    if r.retry_ignore_previous_hosts == Some(false) {
        p.previous_hosts = false;
    }
    if let Some(d) = r.backoff.as_ref().and_then(|d| d.parse().ok()) {
        let d: Duration = d;
        p.backoff_base = d;
        p.backoff_max = d.saturating_mul(10);
    }
    p
}

fn compile_fault(f: &net::HttpFaultInjection) -> Option<Fault> {
    let delay = f.delay.as_ref().and_then(|d| {
        Some(FaultDelay {
            duration: d.fixed_delay.as_ref()?.parse().ok()?,
            percentage: percentage(d.percentage, d.percent),
        })
    });
    let abort = f.abort.as_ref().and_then(|a| {
        let status = match (a.http_status, &a.grpc_status) {
            (Some(s), _) => AbortStatus::Http(u16::try_from(s).ok()?),
            (None, Some(g)) => AbortStatus::Grpc(
                u32::try_from(
                    net::GRPC_STATUS_NAMES
                        .iter()
                        .position(|n| n.eq_ignore_ascii_case(g))?,
                )
                .ok()?,
            ),
            (None, None) => return None,
        };
        Some(FaultAbort {
            status,
            percentage: percentage(a.percentage, None),
        })
    });
    (delay.is_some() || abort.is_some()).then_some(Fault { delay, abort })
}

/// `percentage.value`, else the deprecated integer `percent`, else 0 (Istio's translation).
fn percentage(p: Option<net::Percent>, percent: Option<i32>) -> f64 {
    p.map(|p| p.value)
        .or(percent.map(f64::from))
        .unwrap_or(0.0)
        .clamp(0.0, 100.0)
}

fn compile_cors(c: &net::CorsPolicy) -> CorsPolicy {
    let join = |items: &[String]| {
        (!items.is_empty())
            .then(|| HeaderValue::from_str(&items.join(",")).ok())
            .flatten()
    };
    let mut allow_origins: Vec<StringMatcher> =
        c.allow_origins.iter().filter_map(string_matcher).collect();
    allow_origins.extend(c.allow_origin.iter().map(|o| {
        if o == "*" {
            StringMatcher::Prefix(String::new())
        } else {
            StringMatcher::Exact(o.clone())
        }
    }));
    CorsPolicy {
        allow_origins,
        allow_methods: join(&c.allow_methods),
        allow_headers: join(&c.allow_headers),
        expose_headers: join(&c.expose_headers),
        max_age: c
            .max_age
            .as_ref()
            .and_then(|d| d.parse().ok())
            .map(|d: Duration| HeaderValue::from(d.as_secs())),
        allow_credentials: c.allow_credentials.unwrap_or(false),
        unmatched_preflights: match c.unmatched_preflights {
            Some(net::UnmatchedPreflights::Ignore) => UnmatchedPreflights::Ignore,
            _ => UnmatchedPreflights::Forward,
        },
    }
}

fn compile_ops(ops: Option<&net::HeaderOperations>, request: bool) -> HeaderOps {
    let mut out = HeaderOps::default();
    let Some(ops) = ops else { return out };
    let pair = |(n, v): (&String, &String)| {
        Some((
            HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes()).ok()?,
            HeaderValue::from_str(v).ok()?,
        ))
    };
    for (n, v) in &ops.set {
        let lower = n.to_ascii_lowercase();
        if request && (lower == "host" || lower == ":authority") {
            out.authority = HeaderValue::from_str(v).ok();
            continue;
        }
        if let Some(p) = pair((n, v)) {
            out.set.push(p);
        }
    }
    out.add = ops.add.iter().filter_map(pair).collect();
    out.remove = ops
        .remove
        .iter()
        .filter_map(|n| HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes()).ok())
        .collect();
    out
}

fn compile_headers(h: Option<&net::Headers>) -> HeaderRules {
    HeaderRules {
        request: compile_ops(h.and_then(|h| h.request.as_ref()), true),
        response: compile_ops(h.and_then(|h| h.response.as_ref()), false),
    }
}

/// A Secret of the bundle by namespace and name.
fn find_secret<'r>(
    resources: &[(&'r Resource, Option<std::path::PathBuf>)],
    namespace: &str,
    name: &str,
) -> Option<&'r Object<SecretData>> {
    resources.iter().find_map(|(r, _)| match r {
        Resource::Secret(s) if s.namespace() == namespace && s.name() == name => Some(s),
        _ => None,
    })
}

/// Where Istio's ingress gateway runs, and where its documentation puts the Secrets that
/// `credentialName` names.
const GATEWAY_NAMESPACE: &str = "istio-system";

/// The credential a server's `credentialName` names, as Istio's gateway reads it: a Secret in
/// the Gateway's namespace (else in `istio-system`) with `tls.crt`/`tls.key` (or Istio's
/// generic `cert`/`key`), and for client certificates `ca.crt` (or `cacert`) in it or in the
/// Secret `<name>-cacert`.
fn credential<'r>(
    name: &str,
    namespace: &str,
    mutual: bool,
    secret: &dyn Fn(&str, &str) -> Option<&'r Object<SecretData>>,
) -> Result<Credential, String> {
    // `kubernetes-gateway://NAMESPACE/NAME` (a Gateway API listener's granted reference to
    // another namespace) names exactly one Secret; a plain name is looked up in the Gateway's
    // namespace, then in istio-system.
    let exact = name
        .strip_prefix(meridian_config::gateway_api::CROSS_NAMESPACE_CREDENTIAL)
        .and_then(|r| r.split_once('/'));
    let found = |n: &str| match exact {
        Some((ns, _)) => secret(ns, n),
        None => secret(namespace, n).or_else(|| secret(GATEWAY_NAMESPACE, n)),
    };
    let (name, looked_in) = match exact {
        Some((ns, n)) => (n, ns.to_owned()),
        None => (name, format!("{namespace} or {GATEWAY_NAMESPACE}")),
    };
    let s = found(name).ok_or_else(|| {
        format!(
            "credentialName \"{name}\": no Secret \"{name}\" in namespace {looked_in}; the server is not served"
        )
    })?;
    let id = format!("{}/{}", s.namespace(), s.name());
    let key = |obj: &Object<SecretData>, keys: &[&str]| {
        keys.iter().find_map(|k| obj.spec.data.get(*k).cloned())
    };
    let certificate_chain = key(s, &["tls.crt", "cert"])
        .ok_or_else(|| format!("Secret {id} has no tls.crt (or cert); the server is not served"))?;
    let private_key = key(s, &["tls.key", "key"])
        .ok_or_else(|| format!("Secret {id} has no tls.key (or key); the server is not served"))?;
    let ca_certificates = key(s, &["ca.crt", "cacert"])
        .or_else(|| found(&format!("{name}-cacert")).and_then(|ca| key(ca, &["ca.crt", "cacert"])));
    if mutual && ca_certificates.is_none() {
        return Err(format!(
            "Secret {id} has no ca.crt (nor is there a Secret {name}-cacert) for MUTUAL; the server is not served"
        ));
    }
    Ok(Credential {
        secret: id,
        certificate_chain,
        private_key,
        ca_certificates,
    })
}

fn server_tls<'r>(
    s: &net::Server,
    dir: Option<&Path>,
    namespace: &str,
    secret: &dyn Fn(&str, &str) -> Option<&'r Object<SecretData>>,
) -> Result<Option<ServerTls>, String> {
    let Some(t) = &s.tls else { return Ok(None) };
    let mode = match t.mode {
        None if t.server_certificate.is_none() && t.credential_name.is_none() => return Ok(None),
        None | Some(net::ServerTlsMode::Simple) => ServerTlsMode::Simple,
        Some(net::ServerTlsMode::Mutual) => ServerTlsMode::Mutual,
        Some(net::ServerTlsMode::OptionalMutual) => ServerTlsMode::OptionalMutual,
        Some(other) => return Err(format!("TLS mode {other:?} is not served yet")),
    };
    let resolve = |p: &str| match dir {
        Some(d) if Path::new(p).is_relative() => d.join(p).to_string_lossy().into_owned(),
        _ => p.to_owned(),
    };
    let pair = t
        .server_certificate
        .as_deref()
        .zip(t.private_key.as_deref())
        .or_else(|| {
            t.tls_certificates.iter().find_map(|c| {
                c.server_certificate
                    .as_deref()
                    .zip(c.private_key.as_deref())
            })
        });
    let credential_name = t.credential_name.as_ref().or(t.credential_names.first());
    let (cert, key, ca, credential) = match (pair, credential_name) {
        (Some((cert, key)), _) => (
            resolve(cert),
            resolve(key),
            t.ca_certificates.as_deref().map(resolve),
            None,
        ),
        (None, Some(name)) => {
            let c = credential(name, namespace, mode != ServerTlsMode::Simple, secret)?;
            let label = |k: &str| format!("Secret {} ({k})", c.secret);
            (
                label("tls.crt"),
                label("tls.key"),
                c.ca_certificates.is_some().then(|| label("ca.crt")),
                Some(std::sync::Arc::new(c)),
            )
        }
        (None, None) => return Err("TLS needs serverCertificate and privateKey".to_owned()),
    };
    Ok(Some(ServerTls {
        mode,
        server_certificate: cert,
        private_key: key,
        ca_certificates: ca,
        ca_crl: t.ca_crl.as_deref().map(resolve),
        subject_alt_names: t.subject_alt_names.clone(),
        // Validation refused malformed hashes; none is dropped here.
        verify_certificate_spki: t
            .verify_certificate_spki
            .iter()
            .filter_map(|h| net::decode_spki_hash(h))
            .collect(),
        verify_certificate_hash: t
            .verify_certificate_hash
            .iter()
            .filter_map(|h| net::decode_cert_hash(h))
            .collect(),
        min_protocol_version: match t.min_protocol_version {
            Some(net::TlsProtocol::Tlsv13) => TlsVersion::Tls13,
            _ => TlsVersion::Tls12,
        },
        max_protocol_version: match t.max_protocol_version {
            Some(net::TlsProtocol::Tlsv12) => TlsVersion::Tls12,
            _ => TlsVersion::Tls13,
        },
        // Validation warned about the suites Meridian's TLS cannot serve; they are left out,
        // and with none left the server offers its defaults.
        cipher_suites: net::served_cipher_suites(&t.cipher_suites),
        credential,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("myapp.example.com", "myapp.example.com", Some("myapp.example.com"); "equal")]
    #[test_case("*", "myapp.example.com", Some("myapp.example.com"); "vs star takes the server host")]
    #[test_case("a.example.com", "*.example.com", Some("a.example.com"); "server wildcard")]
    #[test_case("*.example.com", "a.example.com", Some("a.example.com"); "vs wildcard")]
    #[test_case("example.com", "*.example.com", None; "wildcard needs a label")]
    #[test_case("other.org", "myapp.example.com", None; "disjoint")]
    fn gateway_host_binding(vs: &str, server: &str, expected: Option<&str>) {
        assert_eq!(intersect(vs, server).as_deref(), expected);
    }

    #[test_case(r"/v2/\1", "/v2/${1}"; "group")]
    #[test_case(r"/\10/x", "/${10}/x"; "two digits")]
    #[test_case("/$x", "/$$x"; "dollar escaped")]
    fn replacements(re2: &str, expected: &str) {
        assert_eq!(re2_replacement(re2), expected);
    }
}
