//! Cross-resource checks, after `istioctl analyze`: references that point nowhere (hosts,
//! subsets, gateways, delegates, ports, selectors), objects that conflict, and duplicates.
//! Each finding lands on the document and field it is about, with Istio's message code.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::diag::{Finding, Findings, Severity};
use crate::istio::networking::{Destination, DestinationRuleSpec, VirtualServiceSpec};
use crate::istio::security::MtlsMode;
use crate::k8s::meta::IntOrString;
use crate::load::Bundle;
use crate::path::FieldPath;
use crate::resource::{Kind, Object, Resource};

/// The namespace whose mesh-wide policies apply everywhere (Istio's root namespace).
pub const ROOT_NAMESPACE: &str = "istio-system";

/// The cluster domain of fully qualified service names.
pub const CLUSTER_DOMAIN: &str = "svc.cluster.local";

/// Gateway selectors that mean Meridian's built-in ingress gateway.
pub fn is_builtin_gateway_selector(selector: &BTreeMap<String, String>) -> bool {
    selector.is_empty()
        || selector.get("istio").is_some_and(|v| v == "ingressgateway")
        || selector
            .get("app")
            .is_some_and(|v| v == "istio-ingressgateway")
}

/// Expands a host as Istio does (`ResolveShortnameToFQDN`): a name without dots is a Service
/// in the rule's namespace; any other name is taken as written.
pub fn qualify_host(host: &str, namespace: &str) -> String {
    let h = host.to_ascii_lowercase();
    if h == "*" || h.contains('.') {
        h
    } else {
        format!("{h}.{namespace}.{CLUSTER_DOMAIN}")
    }
}

struct Sink<'a> {
    per_doc: Vec<Findings>,
    _bundle: std::marker::PhantomData<&'a ()>,
}

impl Sink<'_> {
    fn push(
        &mut self,
        doc: usize,
        severity: Severity,
        field: FieldPath,
        message: String,
        code: impl Into<Option<&'static str>>,
    ) -> &mut Finding {
        let f = &mut self.per_doc[doc];
        let finding = match severity {
            Severity::Error => f.error(&field, message),
            Severity::Warning => f.warn(&field, message),
        };
        // Checks of Meridian's own (merged DestinationRules, PeerAuthentication conflicts)
        // carry no code: `istioctl analyze` has none for them (IST0104 and IST0113 are
        // retired).
        match code.into() {
            Some(code) => finding.code(code),
            None => finding,
        }
    }
}

/// The pod spec of a Deployment's template, or none for a Pod (a kind Meridian passes over
/// but whose labels Services, Gateways and subsets select).
type PodSpecRef<'a> = Option<&'a crate::k8s::deployment::PodSpec>;

/// Pod templates of every Deployment and the labels of every Pod, indexed by label so that
/// selecting them is not a scan of all workloads per selector (10,000-resource bundles have
/// thousands of each).
#[derive(Default)]
struct Workloads<'a> {
    all: Vec<(&'a str, &'a BTreeMap<String, String>, PodSpecRef<'a>)>,
    by_label: HashMap<(&'a str, &'a str), Vec<usize>>,
}

impl<'a> Workloads<'a> {
    fn add(&mut self, ns: &'a str, labels: &'a BTreeMap<String, String>, pod: PodSpecRef<'a>) {
        let i = self.all.len();
        for (k, v) in labels {
            self.by_label
                .entry((k.as_str(), v.as_str()))
                .or_default()
                .push(i);
        }
        self.all.push((ns, labels, pod));
    }

    fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Workloads (in any namespace) whose labels include every selector entry.
    fn selected_by<'s>(
        &'s self,
        selector: &'s BTreeMap<String, String>,
    ) -> impl Iterator<Item = &'s (&'a str, &'a BTreeMap<String, String>, PodSpecRef<'a>)> + 's
    {
        let candidates: Box<dyn Iterator<Item = usize> + 's> = match selector.iter().next() {
            Some((k, v)) => Box::new(
                self.by_label
                    .get(&(k.as_str(), v.as_str()))
                    .into_iter()
                    .flatten()
                    .copied(),
            ),
            None => Box::new(0..self.all.len()),
        };
        candidates
            .map(|i| &self.all[i])
            .filter(move |(_, labels, _)| selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
    }
}

/// The labels of every Pod in the files (namespace, labels), with the topology labels the
/// mesh adds from the Pod's Node (region, zone, subzone and hostname), as Istio does before
/// matching subsets.
fn pod_labels(bundle: &Bundle) -> Vec<(String, BTreeMap<String, String>)> {
    const LOCALITY: [&str; 3] = [
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "topology.istio.io/subzone",
    ];
    let string_map = |n: Option<&crate::node::Node>| -> BTreeMap<String, String> {
        n.and_then(crate::node::Node::as_map)
            .into_iter()
            .flatten()
            .filter_map(|e| Some((e.key.as_str()?.to_owned(), e.value.as_str()?.to_owned())))
            .collect()
    };
    let passed_over = |kind: &'static str| {
        bundle.docs.iter().filter_map(move |d| {
            let o = d.ignored.as_ref()?;
            (o.kind == kind && o.api_version == "v1").then_some((o, d.node.as_deref()?))
        })
    };
    let nodes: HashMap<&str, BTreeMap<String, String>> = passed_over("Node")
        .map(|(o, n)| {
            (
                o.name.as_str(),
                string_map(n.get("metadata").and_then(|m| m.get("labels"))),
            )
        })
        .collect();
    passed_over("Pod")
        .map(|(o, n)| {
            let mut labels = string_map(n.get("metadata").and_then(|m| m.get("labels")));
            let node_name = n
                .get("spec")
                .and_then(|s| s.get("nodeName"))
                .and_then(crate::node::Node::as_str);
            if let Some(node_name) = node_name {
                if let Some(node) = nodes.get(node_name) {
                    for key in LOCALITY {
                        if let Some(v) = node.get(key).filter(|v| !v.is_empty()) {
                            labels.insert(key.to_owned(), v.clone());
                        }
                    }
                }
                labels.insert("kubernetes.io/hostname".to_owned(), node_name.to_owned());
            }
            (o.namespace.clone(), labels)
        })
        .collect()
}

/// A service the mesh knows: from a Service or a ServiceEntry.
struct KnownHost {
    /// Service ports (number, name, target port).
    ports: Vec<(u32, Option<String>, Option<IntOrString>)>,
    /// Pod selector, for Services.
    selector: Option<BTreeMap<String, String>>,
}

/// The annotation that limits where a Service is visible, as `exportTo` does for Istio kinds.
const EXPORT_TO_ANNOTATION: &str = "networking.istio.io/exportTo";

/// The scope of an object visible in every namespace.
const ALL_NAMESPACES: &str = "*";

/// The namespaces an object is visible in, from its `exportTo` (`.` is its own namespace);
/// `["*"]` when the list is empty or holds `*`.
fn export_scopes<'a>(export_to: impl IntoIterator<Item = &'a str>, ns: &'a str) -> Vec<&'a str> {
    let mut scopes: Vec<&str> = Vec::new();
    for e in export_to {
        let e = if e == "." { ns } else { e };
        if e == ALL_NAMESPACES {
            return vec![ALL_NAMESPACES];
        }
        if !scopes.contains(&e) {
            scopes.push(e);
        }
    }
    if scopes.is_empty() {
        scopes.push(ALL_NAMESPACES);
    }
    scopes
}

/// Expands a host as `istioctl analyze` does: a name without dots (and not a wildcard) is a
/// Service in `namespace`; any other name is taken as written.
fn fqdn(host: &str, namespace: &str) -> String {
    let h = host.to_ascii_lowercase();
    if h.starts_with('*') || h.contains('.') {
        h
    } else {
        format!("{h}.{namespace}.{CLUSTER_DOMAIN}")
    }
}

/// Whether two hosts, either possibly a wildcard (`*.x`), have a name in common.
fn hosts_overlap(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(a), Some(b)) => a.ends_with(b) || b.ends_with(a),
        (Some(a), None) => b.ends_with(a),
        (None, Some(b)) => a.ends_with(b),
        (None, None) => a == b,
    }
}

/// Every host a destination may name, by the namespace it is visible in (`*`: all).
#[derive(Default)]
struct Registry {
    known: Vec<KnownHost>,
    by_scope: HashMap<(String, String), usize>,
    /// Wildcard hosts (`*.example.com`), with their scope, for the suffix scan.
    wildcards: Vec<(String, String, usize)>,
}

impl Registry {
    fn add(&mut self, scopes: &[&str], fqdn: String, host: KnownHost) {
        let i = self.known.len();
        self.known.push(host);
        for scope in scopes {
            if fqdn.starts_with('*') {
                self.wildcards.push(((*scope).to_owned(), fqdn.clone(), i));
            }
            self.by_scope.insert(((*scope).to_owned(), fqdn.clone()), i);
        }
    }

    /// The service `host` names for an object of namespace `ns` whose own `exportTo` is
    /// `export_to`: one visible everywhere, then one visible where the object is exported
    /// (its own namespace when it names none), then a wildcard host visible everywhere or
    /// in `ns` whose suffix the host ends with. These are `istioctl analyze`'s rules.
    fn lookup(&self, ns: &str, export_to: &[String], host: &str) -> Option<&KnownHost> {
        let name = fqdn(host, ns);
        let get = |scope: &str| {
            self.by_scope
                .get(&(scope.to_owned(), name.clone()))
                .map(|&i| &self.known[i])
        };
        if let Some(k) = get(ALL_NAMESPACES) {
            return Some(k);
        }
        let found = if export_to.is_empty() {
            get(ns)
        } else {
            export_to
                .iter()
                .find_map(|e| get(if e == "." { ns } else { e.as_str() }))
        };
        if found.is_some() {
            return found;
        }
        let bare = host.trim_start_matches('*').to_ascii_lowercase();
        self.wildcards
            .iter()
            .filter(|(scope, _, _)| scope == ALL_NAMESPACES || scope == ns)
            .find(|(_, w, _)| bare.ends_with(w.trim_start_matches('*')))
            .map(|&(_, _, i)| &self.known[i])
    }
}

/// Runs every cross-resource check and adds findings to the documents they are about.
pub fn analyze(bundle: &mut Bundle) {
    crate::gateway_api::translate(bundle);
    let mut sink = Sink {
        per_doc: bundle.docs.iter().map(|_| Findings::new()).collect(),
        _bundle: std::marker::PhantomData,
    };
    let docs: Vec<(usize, &Resource)> = bundle
        .docs
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.resource.as_ref().map(|r| (i, r)))
        .collect();

    duplicates(bundle, &mut sink);

    // The registry: every host a destination may name, where it is visible.
    let mut registry = Registry::default();
    let mut workloads = Workloads::default();
    let pods = pod_labels(bundle);
    for (ns, labels) in &pods {
        workloads.add(ns, labels, None);
    }
    for (_, r) in &docs {
        match r {
            Resource::Service(s) => {
                let ns = s.namespace();
                let scopes = export_scopes(
                    s.metadata
                        .annotations
                        .get(EXPORT_TO_ANNOTATION)
                        .map(|a| a.split(',').map(str::trim).filter(|e| !e.is_empty()))
                        .into_iter()
                        .flatten(),
                    ns,
                );
                registry.add(
                    &scopes,
                    format!("{}.{ns}.{CLUSTER_DOMAIN}", s.name()),
                    KnownHost {
                        ports: s
                            .spec
                            .ports
                            .iter()
                            .filter_map(|p| {
                                p.port
                                    .map(|n| (u32::from(n), p.name.clone(), p.target_port.clone()))
                            })
                            .collect(),
                        selector: Some(s.spec.selector.clone()),
                    },
                );
            }
            Resource::ServiceEntry(se) => {
                let ns = se.namespace();
                let scopes = export_scopes(se.spec.export_to.iter().map(String::as_str), ns);
                for h in &se.spec.hosts {
                    let ports = se
                        .spec
                        .ports
                        .iter()
                        .filter_map(|p| p.number.map(|n| (n, p.name.clone(), None)))
                        .collect();
                    registry.add(
                        &scopes,
                        fqdn(h, ns),
                        KnownHost {
                            ports,
                            selector: None,
                        },
                    );
                }
            }
            Resource::Deployment(d) => {
                if let Some(t) = &d.spec.template
                    && let Some(pod) = &t.spec
                {
                    workloads.add(d.namespace(), &t.metadata.labels, Some(pod));
                }
            }
            _ => {}
        }
    }

    // Subsets by host.
    let mut subsets: HashMap<String, Vec<(&str, usize)>> = HashMap::new();
    let mut rules_by_host: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in &docs {
        if let Resource::DestinationRule(dr) = r
            && let Some(h) = &dr.spec.host
        {
            let fqdn = fqdn(h, dr.namespace());
            rules_by_host.entry(fqdn.clone()).or_default().push(*i);
            for s in &dr.spec.subsets {
                if let Some(n) = &s.name {
                    subsets.entry(fqdn.clone()).or_default().push((n, *i));
                }
            }
        }
    }

    let gateways: HashMap<
        (String, String),
        (usize, &Object<crate::istio::networking::GatewaySpec>),
    > = docs
        .iter()
        .filter_map(|(i, r)| match r {
            Resource::Gateway(g) => {
                Some(((g.namespace().to_owned(), g.name().to_owned()), (*i, g)))
            }
            _ => None,
        })
        .collect();
    let api_gateways = api_gateway_listeners(bundle);
    let virtual_services: HashMap<(String, String), (usize, &Object<VirtualServiceSpec>)> = docs
        .iter()
        .filter_map(|(i, r)| match r {
            Resource::VirtualService(v) => {
                Some(((v.namespace().to_owned(), v.name().to_owned()), (*i, v)))
            }
            _ => None,
        })
        .collect();

    // A destination of a VirtualService of namespace `ns` exported to `export_to`: its host
    // must be visible there, its subset defined by a DestinationRule for the host, and its
    // port one of the service's (required when the service has several).
    let check_destination = |sink: &mut Sink<'_>,
                             doc: usize,
                             at: FieldPath,
                             d: &Destination,
                             ns: &str,
                             export_to: &[String]| {
        let Some(host) = d.host.as_deref() else {
            return;
        };
        if let Some(subset) = &d.subset {
            let name = fqdn(host, ns);
            let defined = subsets
                .get(&name)
                .is_some_and(|s| s.iter().any(|(n, _)| n == subset));
            if !defined {
                let known: Vec<&str> = subsets
                    .get(&name)
                    .map(|s| s.iter().map(|(n, _)| *n).collect())
                    .unwrap_or_default();
                let hint = if known.is_empty() {
                    format!(
                        "no DestinationRule defines subsets for \"{host}\"; add one with `subsets: [{{name: {subset}, labels: ...}}]`"
                    )
                } else {
                    crate::diag::did_you_mean(subset, known.iter().copied())
                        .map(|c| format!("did you mean \"{c}\"?"))
                        .unwrap_or_else(|| format!("defined subsets: {}", known.join(", ")))
                };
                sink.push(
                    doc,
                    Severity::Error,
                    at.field("subset"),
                    format!(
                        "Referenced host+subset in destinationrule not found: \"{host}+{subset}\""
                    ),
                    "IST0101",
                )
                .hint(hint);
            }
        }
        let Some(known) = registry.lookup(ns, export_to, host) else {
            sink.push(
                doc,
                Severity::Error,
                at.field("host"),
                format!("Referenced host not found: \"{host}\""),
                "IST0101",
            )
            .hint(if export_to.is_empty() {
                format!("declare a Service with this name, or a ServiceEntry for an outside host, visible in namespace \"{ns}\" (see their `exportTo`)")
            } else {
                format!("declare a Service with this name, or a ServiceEntry for an outside host, visible in namespace \"{ns}\" or where this VirtualService is exported ({})", export_to.join(", "))
            });
            return;
        };
        match d.port.and_then(|p| p.number) {
            Some(port) if !known.ports.iter().any(|(n, _, _)| *n == port) => {
                let list: Vec<String> = known.ports.iter().map(|(n, _, _)| n.to_string()).collect();
                sink.push(
                    doc,
                    Severity::Error,
                    at.field("port").field("number"),
                    format!(
                        "Referenced port {port} not found on host \"{host}\" (ports: {})",
                        list.join(", ")
                    ),
                    "IST0101",
                );
            }
            None if known.ports.len() > 1 => {
                sink.push(
                    doc,
                    Severity::Error,
                    at.clone(),
                    format!("This VirtualService routes to a service \"{host}\" with more than one port, but does not specify which to use"),
                    "IST0112",
                )
                .hint("add `port: {number: N}` to the destination");
            }
            _ => {}
        }
    };

    // VirtualServices.
    let mut mesh_hosts: MeshHosts = BTreeMap::new();
    for (i, r) in &docs {
        let Resource::VirtualService(vs) = r else {
            continue;
        };
        let ns = vs.namespace();
        let spec = &vs.spec;
        let at = FieldPath::root().field("spec");
        for (ri, route) in spec.http.iter().enumerate() {
            let rp = at.field("http").index(ri);
            for (di, d) in route.route.iter().enumerate() {
                if let Some(dest) = &d.destination {
                    check_destination(
                        &mut sink,
                        *i,
                        rp.field("route").index(di).field("destination"),
                        dest,
                        ns,
                        &spec.export_to,
                    );
                }
            }
            if let Some(m) = &route.mirror {
                check_destination(&mut sink, *i, rp.field("mirror"), m, ns, &spec.export_to);
            }
            for (mi, m) in route.mirrors.iter().enumerate() {
                if let Some(dest) = &m.destination {
                    check_destination(
                        &mut sink,
                        *i,
                        rp.field("mirrors").index(mi).field("destination"),
                        dest,
                        ns,
                        &spec.export_to,
                    );
                }
            }
            if let Some(del) = &route.delegate
                && let Some(name) = &del.name
            {
                let dns = del.namespace.as_deref().unwrap_or(ns);
                match virtual_services.get(&(dns.to_owned(), name.clone())) {
                    None => {
                        sink.push(
                            *i,
                            Severity::Error,
                            rp.field("delegate").field("name"),
                            format!(
                                "Referenced delegate VirtualService not found: \"{dns}/{name}\""
                            ),
                            "IST0101",
                        );
                    }
                    Some((_, target)) if !target.spec.is_delegate() => {
                        sink.push(
                            *i,
                            Severity::Error,
                            rp.field("delegate").field("name"),
                            format!(
                                "VirtualService \"{dns}/{name}\" cannot be a delegate: it has hosts"
                            ),
                            "IST0101",
                        )
                        .hint("a delegate VirtualService has no `hosts`");
                    }
                    Some(_) => {}
                }
            }
        }
        for (kind, routes) in [
            ("tcp", spec.tcp.iter().map(|r| &r.route).collect::<Vec<_>>()),
            ("tls", spec.tls.iter().map(|r| &r.route).collect()),
        ] {
            for (ri, route) in routes.into_iter().enumerate() {
                for (di, d) in route.iter().enumerate() {
                    if let Some(dest) = &d.destination {
                        check_destination(
                            &mut sink,
                            *i,
                            at.field(kind)
                                .index(ri)
                                .field("route")
                                .index(di)
                                .field("destination"),
                            dest,
                            ns,
                            &spec.export_to,
                        );
                    }
                }
            }
        }
        // Gateways referenced: each must exist, and serve at least one of the hosts.
        for (gi, g) in spec.gateways.iter().enumerate() {
            // `~` marks a Gateway generated from a Gateway API one, which validation already
            // refuses to name.
            if g == "mesh" || g.contains('~') {
                continue;
            }
            let (gns, gname) = g.split_once('/').unwrap_or((ns, g));
            let key = (gns.to_owned(), gname.to_owned());
            let served = match (gateways.get(&key), api_gateways.get(&key)) {
                (Some((_, gw)), _) => gw
                    .spec
                    .servers
                    .iter()
                    .any(|server| gateway_serves(&server.hosts, gns, ns, &spec.hosts)),
                (None, Some(listeners)) => listeners.iter().any(|l| match l {
                    None => true,
                    Some(l) => spec.hosts.iter().any(|h| hosts_overlap(l, h)),
                }),
                (None, None) => {
                    let known: Vec<&str> = gateways.keys().map(|(_, n)| n.as_str()).collect();
                    let f = sink.push(
                        *i,
                        Severity::Error,
                        at.field("gateways").index(gi),
                        format!("Referenced gateway not found: \"{g}\""),
                        "IST0101",
                    );
                    if let Some(c) = crate::diag::did_you_mean(gname, known) {
                        f.hint(format!("did you mean \"{c}\"?"));
                    }
                    false
                }
            };
            if !served {
                sink.push(
                    *i,
                    Severity::Warning,
                    at.field("gateways").index(gi),
                    format!(
                        "one or more host [{}] defined in VirtualService {ns}/{} not found in Gateway {gns}/{gname}",
                        spec.hosts.join(", "),
                        vs.name()
                    ),
                    "IST0132",
                )
                .hint("none of these hosts is among the hosts of the Gateway's servers visible from this namespace: the Gateway routes none of their requests here");
            }
        }
        if spec.applies_to_mesh() {
            let scopes = export_scopes(spec.export_to.iter().map(String::as_str), ns);
            for (hi, h) in spec.hosts.iter().enumerate() {
                for scope in &scopes {
                    mesh_hosts
                        .entry(((*scope).to_owned(), fqdn(h, ns)))
                        .or_default()
                        .push((*i, hi, format!("{ns}/{}", vs.name())));
                }
            }
        }
    }
    mesh_host_conflicts(&mut sink, &mesh_hosts);

    // DestinationRules: host known, several rules for one host, subsets that select nothing.
    for (i, r) in &docs {
        let Resource::DestinationRule(dr) = r else {
            continue;
        };
        let at = FieldPath::root().field("spec");
        let Some(host) = &dr.spec.host else { continue };
        let name = fqdn(host, dr.namespace());
        let known = registry.lookup(dr.namespace(), &dr.spec.export_to, host);
        // A wildcard rule (`*.example.com`) applies to whatever hosts it covers, if any.
        if known.is_none() && !name.starts_with('*') {
            sink.push(
                *i,
                Severity::Warning,
                at.field("host"),
                format!("host \"{host}\" matches no Service or ServiceEntry visible in namespace \"{}\"", dr.namespace()),
                "IST0174",
            )
            .hint("the rule has no effect until a Service or ServiceEntry with this host is visible in its namespace");
        }
        if let Some(others) = rules_by_host.get(&name)
            && others.len() > 1
            && others[0] != *i
        {
            merged_rule_conflicts(bundle, &mut sink, *i, others, host);
        }
        if let Some(known) = known {
            subsets_select_something(&mut sink, *i, dr, known, &workloads);
        }
    }

    // Gateways: the selector must match a gateway workload.
    for (i, r) in &docs {
        let Resource::Gateway(g) = r else { continue };
        if is_builtin_gateway_selector(&g.spec.selector) {
            continue;
        }
        let selected = workloads.selected_by(&g.spec.selector).next().is_some();
        if !selected {
            let sel: Vec<String> = g
                .spec
                .selector
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            sink.push(
                *i,
                Severity::Error,
                FieldPath::root().field("spec").field("selector"),
                format!("Referenced selector not found: \"{}\"", sel.join(",")),
                "IST0101",
            )
            .hint("use `istio: ingressgateway` for Meridian's built-in gateway, or label a Deployment to run this gateway");
        }
    }

    // Services: the selector should select a workload, and its target ports should exist.
    for (i, r) in &docs {
        let Resource::Service(s) = r else { continue };
        if s.spec.selector.is_empty() {
            continue;
        }
        let at = FieldPath::root().field("spec");
        let selected: Vec<PodSpecRef<'_>> = workloads
            .selected_by(&s.spec.selector)
            .filter(|(ns, _, _)| *ns == s.namespace())
            .map(|(_, _, pod)| *pod)
            .collect();
        if selected.is_empty() {
            if !docs
                .iter()
                .any(|(_, r)| matches!(r, Resource::Deployment(_)))
            {
                continue;
            }
            sink.push(
                *i,
                Severity::Warning,
                at.field("selector"),
                format!("Service {} selects no workload", s.name()),
                "IST0101",
            )
            .hint("the selector must match the pod template labels of a Deployment");
            continue;
        }
        // Target ports are checked against the Deployments' containers; a Pod's are not read.
        let selected: Vec<&crate::k8s::deployment::PodSpec> =
            selected.into_iter().flatten().collect();
        if selected.is_empty() {
            continue;
        }
        for (pi, p) in s.spec.ports.iter().enumerate() {
            let Some(port) = p.port else { continue };
            let target = p
                .target_port
                .clone()
                .unwrap_or(IntOrString::Int(i64::from(port)));
            let declared = selected.iter().any(|pod| {
                pod.containers.iter().any(|c| match &target {
                    IntOrString::Int(n) => c
                        .ports
                        .iter()
                        .any(|cp| cp.container_port.map(i64::from) == Some(*n)),
                    IntOrString::String(name) => c.port_named(name).is_some(),
                })
            });
            let any_ports = selected
                .iter()
                .any(|pod| pod.containers.iter().any(|c| !c.ports.is_empty()));
            if !declared && any_ports {
                let mut declared_list: Vec<String> = Vec::new();
                for n in selected
                    .iter()
                    .flat_map(|pod| pod.containers.iter())
                    .flat_map(|c| c.ports.iter())
                    .filter_map(|cp| cp.container_port)
                {
                    let n = n.to_string();
                    if !declared_list.contains(&n) {
                        declared_list.push(n);
                    }
                }
                let field = if p.target_port.is_some() {
                    "targetPort"
                } else {
                    "port"
                };
                let they = declared_list.join(", ");
                // Kubernetes sends the traffic to that port of the pod whether a container
                // declares it or not (and `istioctl analyze` says nothing); a replica here
                // is given only its declared ports, so say which change fits which app.
                let (message, hint) = match &target {
                    IntOrString::String(name) => (
                        format!(
                            "Service {} sends port {port} to target port \"{name}\", which no selected container names (they declare {they}); Kubernetes accepts this, but no replica is an endpoint of this port",
                            s.name()
                        ),
                        format!(
                            "name the container port the app serves this Service on (`name: {name}`)"
                        ),
                    ),
                    IntOrString::Int(n) => {
                        let fix = match declared_list.as_slice() {
                            [one] => format!(
                                "if the app listens on the port it is given in $PORT, set `targetPort: {one}`"
                            ),
                            _ => format!(
                                "set `targetPort` to the one of {they} that the app serves this Service on"
                            ),
                        };
                        (
                            format!(
                                "Service {} sends port {port} to target port {n}, which no selected container declares (they declare {they}); Kubernetes accepts this, but a replica is given only its declared ports",
                                s.name()
                            ),
                            format!(
                                "{fix}; if it listens on {n} itself, declare `containerPort: {n}`"
                            ),
                        )
                    }
                };
                sink.per_doc[*i]
                    .warn(&at.field("ports").index(pi).field(field), message)
                    .hint(hint);
            }
        }
    }

    service_accounts(&docs, &mut sink);
    config_references(&docs, &mut sink);
    peer_authentications(bundle, &docs, &mut sink);

    for (i, findings) in sink.per_doc.into_iter().enumerate() {
        let doc = &mut bundle.docs[i];
        // A document where values failed to decode holds placeholders for them; what the
        // cross-checks say about it would be noise until those are fixed. One that decoded
        // but breaks a rule of its own is still checked against the others, as
        // `istioctl analyze` does, so that every error shows at once.
        if findings.is_empty() || !doc.complete {
            continue;
        }
        let Some(node) = &doc.node else { continue };
        let label = doc.id.as_ref().map(ToString::to_string);
        let mut located = findings.locate(&doc.file, node, label.as_deref());
        doc.diagnostics.append(&mut located);
        doc.diagnostics.sort_by_key(|d| d.span);
    }
}

/// A pod's `serviceAccountName` is its identity (`spiffe://.../ns/<ns>/sa/<name>`), which
/// AuthorizationPolicies match. Kubernetes creates no pod whose ServiceAccount does not exist;
/// when the files declare ServiceAccounts in a namespace, a name that is none of them is most
/// likely a slip, and policies written for the declared name would not match.
fn service_accounts(docs: &[(usize, &Resource)], sink: &mut Sink<'_>) {
    let declared: Vec<(&str, &str)> = docs
        .iter()
        .filter_map(|(_, r)| match r {
            Resource::ServiceAccount(sa) => Some((sa.namespace(), sa.name())),
            _ => None,
        })
        .collect();
    for (i, r) in docs {
        let Resource::Deployment(d) = r else { continue };
        let Some(pod) = d.spec.template.as_ref().and_then(|t| t.spec.as_ref()) else {
            continue;
        };
        let ns = d.namespace();
        let sa = pod.service_account();
        let in_ns: Vec<&str> = declared
            .iter()
            .filter(|(n, _)| *n == ns)
            .map(|(_, name)| *name)
            .collect();
        if sa == "default" || in_ns.is_empty() || in_ns.contains(&sa) {
            continue;
        }
        let field = if pod.service_account_name.is_some() {
            "serviceAccountName"
        } else {
            "serviceAccount"
        };
        let finding = sink.per_doc[*i].warn(
            &FieldPath::root()
                .field("spec")
                .field("template")
                .field("spec")
                .field(field),
            format!(
                "ServiceAccount \"{sa}\" is not declared in namespace \"{ns}\" (the files declare {}); Kubernetes would create no pod until it exists",
                in_ns.join(", ")
            ),
        );
        match crate::diag::did_you_mean(sa, in_ns.iter().copied()) {
            Some(c) => finding.hint(format!("did you mean \"{c}\"?")),
            None => finding.hint(format!(
                "declare it: it names the replicas' identity, ns/{ns}/sa/{sa}"
            )),
        };
    }
}

/// `configMapKeyRef`, `secretKeyRef` and `envFrom` name a ConfigMap or Secret of the pod's
/// namespace. Kubernetes holds a pod back until a reference that is not `optional` resolves;
/// Meridian starts the replicas without the variable, so say which one.
fn config_references(docs: &[(usize, &Resource)], sink: &mut Sink<'_>) {
    use crate::k8s::deployment::Container;
    let config_map = |ns: &str, name: &str| {
        docs.iter().find_map(|(_, r)| match r {
            Resource::ConfigMap(c) if c.namespace() == ns && c.name() == name => Some(c),
            _ => None,
        })
    };
    let secret = |ns: &str, name: &str| {
        docs.iter().find_map(|(_, r)| match r {
            Resource::Secret(s) if s.namespace() == ns && s.name() == name => Some(s),
            _ => None,
        })
    };
    for (i, r) in docs {
        let Resource::Deployment(d) = r else { continue };
        let Some(pod) = d.spec.template.as_ref().and_then(|t| t.spec.as_ref()) else {
            continue;
        };
        let ns = d.namespace();
        let at = FieldPath::root()
            .field("spec")
            .field("template")
            .field("spec");
        let lists: [(&str, &Vec<Container>); 2] = [
            ("initContainers", &pod.init_containers),
            ("containers", &pod.containers),
        ];
        for (list, containers) in lists {
            for (ci, c) in containers.iter().enumerate() {
                let cp = at.field(list).index(ci);
                for (ei, e) in c.env.iter().enumerate() {
                    let Some(src) = &e.value_from else { continue };
                    let var = e.name.as_deref().unwrap_or_default();
                    for (field, what, r) in [
                        ("configMapKeyRef", "ConfigMap", &src.config_map_key_ref),
                        ("secretKeyRef", "Secret", &src.secret_key_ref),
                    ] {
                        let Some(r) = r else { continue };
                        let (Some(name), Some(key)) = (r.name.as_deref(), r.key.as_deref()) else {
                            continue;
                        };
                        if r.optional == Some(true) {
                            continue;
                        }
                        let rp = cp.field("env").index(ei).field("valueFrom").field(field);
                        let has_key = if what == "ConfigMap" {
                            config_map(ns, name).map(|c| c.spec.get(key).is_some())
                        } else {
                            secret(ns, name).map(|s| s.spec.data.contains_key(key))
                        };
                        let (path, message) = match has_key {
                            None => (
                                rp.field("name"),
                                format!(
                                    "{what} \"{name}\" is not declared in namespace \"{ns}\": Kubernetes would hold the pods back until it exists; Meridian starts them without {var}"
                                ),
                            ),
                            Some(false) => (
                                rp.field("key"),
                                format!(
                                    "{what} \"{name}\" has no key \"{key}\": Kubernetes would hold the pods back; Meridian starts them without {var}"
                                ),
                            ),
                            Some(true) => continue,
                        };
                        sink.per_doc[*i]
                            .warn(&path, message)
                            .hint("declare it, or mark the reference `optional: true`");
                    }
                }
                for (ei, e) in c.env_from.iter().enumerate() {
                    for (field, what, r) in [
                        ("configMapRef", "ConfigMap", &e.config_map_ref),
                        ("secretRef", "Secret", &e.secret_ref),
                    ] {
                        let Some(r) = r else { continue };
                        let Some(name) = r.name.as_deref() else {
                            continue;
                        };
                        let declared = if what == "ConfigMap" {
                            config_map(ns, name).is_some()
                        } else {
                            secret(ns, name).is_some()
                        };
                        if declared || r.optional == Some(true) {
                            continue;
                        }
                        sink.per_doc[*i]
                            .warn(
                                &cp.field("envFrom").index(ei).field(field).field("name"),
                                format!("{what} \"{name}\" is not declared in namespace \"{ns}\": Kubernetes would hold the pods back until it exists; Meridian starts them without its variables"),
                            )
                            .hint("declare it, or mark the reference `optional: true`");
                    }
                }
            }
        }
        for (vi, v) in pod.volumes.iter().enumerate() {
            let config_map = |name: &str| config_map(ns, name).map(|c| c.spec.files());
            let secret = |name: &str| secret(ns, name).map(|s| s.spec.data.clone());
            let (_, problems) = crate::k8s::volume::volume_files(v, &config_map, &secret);
            for p in problems {
                sink.per_doc[*i]
                    .warn(
                        &at.field("volumes").index(vi),
                        format!("{p} in namespace \"{ns}\": Kubernetes would hold the pods back until it exists; Meridian starts them without its files"),
                    )
                    .hint("declare it, or mark the source `optional: true`");
            }
        }
    }
}

/// VirtualService hosts bound to the mesh, by (scope, host): the namespace they are exported
/// to (`*`: all) and the host, qualified. Each holds (document, host index, `ns/name`).
type MeshHosts = BTreeMap<(String, String), Vec<MeshHost>>;

/// A host of a VirtualService bound to the mesh: (document, host index, `ns/name`).
type MeshHost = (usize, usize, String);

/// Two VirtualServices bound to the mesh that a namespace sees both of, for one host, leave
/// which one applies undefined. A host exported everywhere conflicts with the same host
/// exported everywhere, and with any host it overlaps (`*.x` and `a.x`) exported to a
/// namespace. Each VirtualService is reported once, at its first host in conflict.
fn mesh_host_conflicts(sink: &mut Sink<'_>, mesh_hosts: &MeshHosts) {
    // Hosts exported everywhere, by name, and those of them that are wildcards: a host kept
    // to a namespace is looked up here rather than compared with every other host, as
    // bundles may hold thousands of namespace-private VirtualServices.
    let everywhere: BTreeMap<&str, &Vec<MeshHost>> = mesh_hosts
        .iter()
        .filter(|((scope, _), _)| scope == ALL_NAMESPACES)
        .map(|((_, host), list)| (host.as_str(), list))
        .collect();
    let wildcards: Vec<(&str, &Vec<MeshHost>)> = everywhere
        .iter()
        .filter(|(host, _)| host.starts_with('*'))
        .map(|(host, list)| (*host, *list))
        .collect();
    let mut reported: HashSet<usize> = HashSet::new();
    for ((scope, host), list) in mesh_hosts {
        let mut list: Vec<&MeshHost> = list.iter().collect();
        if scope != ALL_NAMESPACES {
            if host.starts_with('*') {
                for (other, more) in &everywhere {
                    if hosts_overlap(host, other) {
                        list.extend(more.iter());
                    }
                }
            } else {
                if let Some(more) = everywhere.get(host.as_str()) {
                    list.extend(more.iter());
                }
                for (other, more) in &wildcards {
                    if hosts_overlap(host, other) {
                        list.extend(more.iter());
                    }
                }
            }
        }
        if list.len() < 2 {
            continue;
        }
        let mut names: Vec<&str> = list.iter().map(|(_, _, n)| n.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let names = names.join(",");
        for (doc, hi, _) in list {
            if !reported.insert(*doc) {
                continue;
            }
            let seen_in = if scope == ALL_NAMESPACES {
                String::new()
            } else {
                format!(" (as namespace \"{scope}\" sees them)")
            };
            sink.push(
                *doc,
                Severity::Error,
                FieldPath::root().field("spec").field("hosts").index(*hi),
                format!("The VirtualServices {names} associated with mesh define the same host {host}{seen_in} which can lead to undefined behavior"),
                "IST0109",
            )
            .hint("merge the rules into one VirtualService per host, or narrow their `exportTo`");
        }
    }
}

/// Whether a server of a Gateway of namespace `gw_ns` serves one of `vs_hosts` for a
/// VirtualService of namespace `vs_ns`: its hosts are `ns/host` (`.` is the Gateway's
/// namespace, `*` any), and only those of the VirtualService's namespace or `*` count.
fn gateway_serves(server_hosts: &[String], gw_ns: &str, vs_ns: &str, vs_hosts: &[String]) -> bool {
    server_hosts.iter().any(|h| {
        let visible = match h.split_once('/') {
            None => Some(h.as_str()),
            Some(("*", host)) => Some(host),
            Some((".", host)) => (gw_ns == vs_ns).then_some(host),
            Some((ns, host)) => (ns == vs_ns).then_some(host),
        };
        visible.is_some_and(|g| {
            let g = g.to_ascii_lowercase();
            vs_hosts
                .iter()
                .any(|v| hosts_overlap(&g, &v.to_ascii_lowercase()))
        })
    })
}

/// The listeners of each Gateway API Gateway (VirtualServices may bind to it by name, as in
/// Istio): its hostnames, `None` for a listener without one (it accepts every host).
fn api_gateway_listeners(bundle: &Bundle) -> HashMap<(String, String), Vec<Option<String>>> {
    bundle
        .docs
        .iter()
        .filter_map(|d| match d.resource.as_ref()? {
            Resource::KubernetesGateway(g) => {
                let listeners = g
                    .spec
                    .listeners
                    .iter()
                    .map(|l| {
                        l.hostname
                            .as_deref()
                            .filter(|h| !h.is_empty())
                            .map(str::to_ascii_lowercase)
                    })
                    .collect();
                Some(((g.namespace().to_owned(), g.name().to_owned()), listeners))
            }
            _ => None,
        })
        .collect()
}

fn duplicates(bundle: &Bundle, sink: &mut Sink<'_>) {
    let mut first: HashMap<(Kind, &str, &str), usize> = HashMap::new();
    for (i, d) in bundle.docs.iter().enumerate() {
        let Some(r) = &d.resource else { continue };
        let m = r.metadata();
        let key = (r.kind(), m.namespace(), m.name());
        if let Some(&j) = first.get(&key) {
            let prev = &bundle.docs[j];
            sink.push(
                i,
                Severity::Error,
                FieldPath::root().field("metadata").field("name"),
                format!(
                    "{} is defined twice; first at {}:{}",
                    r.id(),
                    prev.file.display(),
                    prev.span.line
                ),
                "IST0101",
            )
            .hint("rename one of them, or delete the copy");
        } else {
            first.insert(key, i);
        }
    }
}

/// Several DestinationRules for one host are merged, in load order (file path, then position):
/// subsets are combined, and each traffic policy field comes from the rule that sets it.
/// Istio keeps only the first rule's whole `trafficPolicy`, which silently drops the others
/// (the course's `myapp` and `myapp-cb` rules are an example); Meridian merges field by field
/// and refuses a field set twice.
fn merged_rule_conflicts(
    bundle: &Bundle,
    sink: &mut Sink<'_>,
    doc: usize,
    group: &[usize],
    host: &str,
) {
    let rule = |i: usize| match bundle.docs[i].resource.as_ref() {
        Some(Resource::DestinationRule(dr)) => Some(dr),
        _ => None,
    };
    let Some(this) = rule(doc) else { return };
    let at = FieldPath::root().field("spec");
    let mut merged_with = Vec::new();
    for &prev in group.iter().take_while(|&&j| j != doc) {
        let Some(other) = rule(prev) else { continue };
        let where_ = format!(
            "{} at {}:{}",
            other.name(),
            bundle.docs[prev].file.display(),
            bundle.docs[prev].span.line
        );
        merged_with.push(other.name().to_owned());
        for (si, s) in this.spec.subsets.iter().enumerate() {
            if other.spec.subsets.iter().any(|o| o.name == s.name) {
                sink.push(doc, Severity::Error, at.field("subsets").index(si).field("name"),
                    format!("subset \"{}\" of host \"{host}\" is also defined by DestinationRule {where_}", s.name.as_deref().unwrap_or_default()), None);
            }
        }
        if let (Some(a), Some(b)) = (&this.spec.traffic_policy, &other.spec.traffic_policy) {
            let fields = [
                (
                    "loadBalancer",
                    a.load_balancer.is_some() && b.load_balancer.is_some(),
                ),
                (
                    "connectionPool",
                    a.connection_pool.is_some() && b.connection_pool.is_some(),
                ),
                (
                    "outlierDetection",
                    a.outlier_detection.is_some() && b.outlier_detection.is_some(),
                ),
                ("tls", a.tls.is_some() && b.tls.is_some()),
                (
                    "portLevelSettings",
                    !a.port_level_settings.is_empty() && !b.port_level_settings.is_empty(),
                ),
                ("tunnel", a.tunnel.is_some() && b.tunnel.is_some()),
                (
                    "proxyProtocol",
                    a.proxy_protocol.is_some() && b.proxy_protocol.is_some(),
                ),
                (
                    "retryBudget",
                    a.retry_budget.is_some() && b.retry_budget.is_some(),
                ),
            ];
            for (field, both) in fields {
                if both {
                    sink.push(doc, Severity::Error, at.field("trafficPolicy").field(field),
                        format!("trafficPolicy.{field} for host \"{host}\" is also set by DestinationRule {where_}"), None)
                        .hint("set each policy field in one DestinationRule per host");
                }
            }
        }
    }
    if this.spec.traffic_policy.is_some()
        && group
            .iter()
            .take_while(|&&j| j != doc)
            .any(|&j| rule(j).is_some_and(|r| r.spec.traffic_policy.is_some()))
    {
        sink.push(doc, Severity::Warning, at.field("trafficPolicy"),
            format!("this rule is merged with DestinationRule {} for host \"{host}\": Meridian combines their traffic policies field by field, where Istio would keep only the first rule's trafficPolicy", merged_with.join(", ")), None);
    }
}

/// Every subset should select a workload of its host: requests routed to one that selects
/// none get 503 UH (no healthy upstream).
fn subsets_select_something(
    sink: &mut Sink<'_>,
    doc: usize,
    dr: &Object<DestinationRuleSpec>,
    known: &KnownHost,
    workloads: &Workloads<'_>,
) {
    let Some(selector) = &known.selector else {
        return;
    };
    if workloads.is_empty() {
        return;
    }
    let backing: Vec<&BTreeMap<String, String>> = workloads
        .selected_by(selector)
        .map(|(_, l, _)| *l)
        .collect();
    for (si, s) in dr.spec.subsets.iter().enumerate() {
        if s.labels.is_empty() {
            continue;
        }
        let any = backing
            .iter()
            .any(|labels| s.labels.iter().all(|(k, v)| labels.get(k) == Some(v)));
        if !any {
            sink.push(
                doc,
                Severity::Warning,
                FieldPath::root().field("spec").field("subsets").index(si).field("labels"),
                format!("subset \"{}\" selects no workload of \"{}\": requests routed to it get 503 (no healthy upstream)", s.name.as_deref().unwrap_or_default(), dr.spec.host.as_deref().unwrap_or_default()),
                "IST0173",
            );
        }
    }
}

fn peer_authentications(bundle: &Bundle, docs: &[(usize, &Resource)], sink: &mut Sink<'_>) {
    // One mesh-wide (root namespace, no selector) and one namespace-wide policy per namespace;
    // Istio silently ignores the newer ones, Meridian refuses them.
    let mut wide: HashMap<&str, usize> = HashMap::new();
    type SelectorKey<'a> = (&'a str, Vec<(&'a String, &'a String)>);
    let mut by_selector: HashMap<SelectorKey<'_>, usize> = HashMap::new();
    for (i, r) in docs {
        let Resource::PeerAuthentication(pa) = r else {
            continue;
        };
        let ns = pa.namespace();
        match pa
            .spec
            .selector
            .as_ref()
            .filter(|s| !s.match_labels.is_empty())
        {
            None => {
                if let Some(&j) = wide.get(ns) {
                    let prev = &bundle.docs[j];
                    let scope = if ns == ROOT_NAMESPACE {
                        "mesh-wide".to_owned()
                    } else {
                        format!("namespace-wide policy for \"{ns}\"")
                    };
                    sink.push(
                        *i,
                        Severity::Error,
                        FieldPath::root().field("metadata").field("name"),
                        format!(
                            "conflicting PeerAuthentication: {scope} is already set by {} at {}:{}",
                            prev.id
                                .as_ref()
                                .map(ToString::to_string)
                                .unwrap_or_default(),
                            prev.file.display(),
                            prev.span.line
                        ),
                        None,
                    )
                    .hint("keep one PeerAuthentication without selector per namespace");
                } else {
                    wide.insert(ns, *i);
                }
            }
            Some(sel) => {
                let key = (ns, sel.match_labels.iter().collect::<Vec<_>>());
                if let Some(&j) = by_selector.get(&key) {
                    let prev = &bundle.docs[j];
                    sink.push(
                        *i,
                        Severity::Error,
                        FieldPath::root().field("spec").field("selector"),
                        format!("conflicting PeerAuthentication: the same workloads are selected by {} at {}:{}", prev.id.as_ref().map(ToString::to_string).unwrap_or_default(), prev.file.display(), prev.span.line),
                        None,
                    );
                } else {
                    by_selector.insert(key, *i);
                }
            }
        }
        if pa.spec.selector.is_some() && ns == ROOT_NAMESPACE {
            sink.push(
                *i,
                Severity::Warning,
                FieldPath::root().field("spec").field("selector"),
                "policies with a selector are ignored in the root namespace".into(),
                None,
            );
        }
        // DISABLE at a port while the workload's mode is STRICT is legal; a DestinationRule
        // that turns TLS off towards a STRICT namespace is the classic trap.
        let strict = pa
            .spec
            .mtls
            .as_ref()
            .is_some_and(|m| m.mode == MtlsMode::Strict);
        if strict && pa.spec.selector.is_none() {
            for (j, r2) in docs {
                let Resource::DestinationRule(dr) = r2 else {
                    continue;
                };
                let host = dr.spec.host.as_deref().unwrap_or_default();
                let fqdn = qualify_host(host, dr.namespace());
                let in_scope =
                    ns == ROOT_NAMESPACE || fqdn.ends_with(&format!(".{ns}.{CLUSTER_DOMAIN}"));
                let disabled = dr
                    .spec
                    .traffic_policy
                    .as_ref()
                    .and_then(|t| t.tls.as_ref())
                    .is_some_and(|t| t.mode == crate::istio::networking::ClientTlsMode::Disable);
                if in_scope && disabled {
                    sink.push(
                        *j,
                        Severity::Error,
                        FieldPath::root().field("spec").field("trafficPolicy").field("tls").field("mode"),
                        format!("TLS is DISABLEd towards \"{host}\" but PeerAuthentication {} requires STRICT mTLS: every request would be refused", pa.name()),
                        None,
                    )
                    .hint("use ISTIO_MUTUAL, or drop the tls block to let Meridian pick mTLS automatically");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(code, Kind/name)` of every finding with a code, in file order.
    fn codes(yaml: &str) -> Vec<(&'static str, String)> {
        let bundle = crate::load::load_str(
            std::path::Path::new("case.yaml"),
            yaml,
            crate::LoadOptions::default(),
        );
        bundle
            .diagnostics()
            .filter_map(|d| Some((d.code?, d.resource.clone().unwrap_or_default())))
            .collect()
    }

    fn count(found: &[(&str, String)], code: &str, resource: &str) -> usize {
        found
            .iter()
            .filter(|(c, r)| *c == code && r == resource)
            .count()
    }

    #[test]
    fn objects_that_break_a_rule_of_their_own_are_still_cross_checked() {
        // No servers and no routes are errors of their own; the missing Gateway, and the
        // hosts no server serves, are still said.
        let found = codes(
            "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: empty}
spec:
  selector: {istio: ingressgateway}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bound}
spec:
  hosts: [\"*\"]
  gateways: [empty]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: typo}
spec:
  hosts: [\"*\"]
  gateways: [emtpy]
",
        );
        assert_eq!(count(&found, "IST0132", "VirtualService/bound"), 1);
        assert_eq!(count(&found, "IST0101", "VirtualService/typo"), 1);
        assert_eq!(count(&found, "IST0132", "VirtualService/typo"), 1);
    }

    const RATINGS_ROUTE: &str = "  http:
  - route:
    - destination: {host: ratings.a.svc.cluster.local}
";

    #[test]
    fn mesh_host_conflicts_follow_export_to() {
        let vs = |ns: &str, name: &str, hosts: &str, export: &str| {
            format!(
                "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {ns}}}
spec:
  hosts: {hosts}
  exportTo: {export}
{RATINGS_ROUTE}---
"
            )
        };
        let mut yaml = String::new();
        // The same host, both exported everywhere: a conflict, said once per rule even
        // though they share two hosts.
        yaml += &vs("a", "shared", "[ratings, ratings.example.com]", "[]");
        yaml += &vs(
            "b",
            "shared",
            "[ratings.a.svc.cluster.local, ratings.example.com]",
            "[\"*\"]",
        );
        // Each kept to its own namespace: no namespace sees both.
        yaml += &vs("c", "private", "[api.example.com]", "[.]");
        yaml += &vs("d", "private", "[api.example.com]", "[.]");
        // Kept to namespace e, but a rule exported everywhere covers the host there.
        yaml += &vs("e", "narrow", "[\"*.shop.example.org\"]", "[.]");
        yaml += &vs("f", "wide", "[\"*.example.org\"]", "[\"*\"]");
        let found = codes(&yaml);
        for r in ["a/shared", "b/shared", "e/narrow", "f/wide"] {
            assert_eq!(
                count(&found, "IST0109", &format!("VirtualService/{r}")),
                1,
                "{r}: {found:?}"
            );
        }
        for r in ["c/private", "d/private"] {
            assert_eq!(
                count(&found, "IST0109", &format!("VirtualService/{r}")),
                0,
                "{r}"
            );
        }
    }

    #[test]
    fn destination_hosts_must_be_visible_where_the_route_is() {
        let found = codes(
            "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: everything, namespace: hidden}
spec:
  hosts: [\"*\"]
  exportTo: [.]
  ports: [{number: 80, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: partner, namespace: other}
spec:
  hosts: [api.partner.com]
  exportTo: [shop]
  ports: [{number: 443, name: https, protocol: HTTPS}]
---
apiVersion: v1
kind: Service
metadata:
  name: stock
  namespace: shop
  annotations: {networking.istio.io/exportTo: \"., ops\"}
spec:
  ports: [{port: 80, name: http}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: outside, namespace: shop}
spec:
  hosts: [outside]
  http:
  - route:
    - destination: {host: api.partner.com}
    - destination: {host: nowhere.example.com}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: stock, namespace: ops}
spec:
  hosts: [stock-ops]
  http:
  - route:
    - destination: {host: stock.shop.svc.cluster.local}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: stock, namespace: web}
spec:
  hosts: [stock-web]
  http:
  - route:
    - destination: {host: stock.shop.svc.cluster.local}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: exported-elsewhere, namespace: shop}
spec:
  hosts: [stock-elsewhere]
  exportTo: [web]
  http:
  - route:
    - destination: {host: stock}
",
        );
        // The namespace-private `*` of namespace hidden covers nothing elsewhere.
        assert_eq!(
            count(&found, "IST0101", "VirtualService/shop/outside"),
            1,
            "{found:?}"
        );
        assert_eq!(count(&found, "IST0101", "VirtualService/ops/stock"), 0);
        assert_eq!(count(&found, "IST0101", "VirtualService/web/stock"), 1);
        // A rule exported elsewhere looks its hosts up where it is exported.
        assert_eq!(
            count(&found, "IST0101", "VirtualService/shop/exported-elsewhere"),
            1
        );
    }

    #[test]
    fn subsets_are_checked_whether_the_host_is_known_or_not() {
        let found = codes(
            "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v2}
    mirror: {host: reviews, subset: v3}
",
        );
        // Two subsets not found, one host not found twice; and the rule's host is unknown.
        assert_eq!(
            count(&found, "IST0101", "VirtualService/reviews"),
            4,
            "{found:?}"
        );
        assert_eq!(count(&found, "IST0174", "DestinationRule/reviews"), 1);
    }

    #[test]
    fn a_gateway_needs_to_serve_one_host_of_each_bound_rule_in_its_namespace() {
        let gateway = |name: &str, host: &str| {
            format!(
                "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: {name}, namespace: edge}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: [\"{host}\"]
---
"
            )
        };
        let vs = |ns: &str, name: &str, gw: &str, hosts: &str| {
            format!(
                "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {ns}}}
spec:
  hosts: {hosts}
  gateways: [edge/{gw}]
{RATINGS_ROUTE}---
"
            )
        };
        let mut yaml = gateway("own", "./shop.example.com");
        yaml += &gateway("any", "*/shop.example.com");
        yaml += &gateway("web", "web/*.example.com");
        yaml += &vs("edge", "own-here", "own", "[shop.example.com]");
        yaml += &vs("web", "own-elsewhere", "own", "[shop.example.com]");
        yaml += &vs("web", "any", "any", "[shop.example.com, other.example.org]");
        yaml += &vs("web", "web-ok", "web", "[a.example.com]");
        yaml += &vs("ops", "web-other-ns", "web", "[a.example.com]");
        let found = codes(&yaml);
        let n = |r: &str| count(&found, "IST0132", &format!("VirtualService/{r}"));
        assert_eq!(n("edge/own-here"), 0, "{found:?}");
        assert_eq!(n("web/own-elsewhere"), 1);
        // One host of the rule served is enough.
        assert_eq!(n("web/any"), 0);
        assert_eq!(n("web/web-ok"), 0);
        assert_eq!(n("ops/web-other-ns"), 1);
    }

    #[test]
    fn rules_may_bind_to_gateway_api_gateways() {
        let found = codes(
            "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: sites}
spec:
  hosts: [shop.example.com, blog.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, hostname: shop.example.com, port: 80, protocol: HTTP}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: served}
spec:
  hosts: [shop.example.com]
  gateways: [public]
  http:
  - route:
    - destination: {host: shop.example.com}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: not-served}
spec:
  hosts: [blog.example.com]
  gateways: [default/public]
  http:
  - route:
    - destination: {host: blog.example.com}
",
        );
        assert_eq!(
            count(&found, "IST0132", "VirtualService/served"),
            0,
            "{found:?}"
        );
        assert_eq!(count(&found, "IST0132", "VirtualService/not-served"), 1);
        // The Gateway exists, and the destinations are known.
        assert!(!found.iter().any(|(c, _)| *c == "IST0101"), "{found:?}");
    }

    #[test]
    fn pods_and_their_node_topology_count_as_workloads() {
        let found = codes(
            "apiVersion: v1
kind: Service
metadata: {name: httpbin}
spec:
  ports: [{name: http, port: 8000}]
  selector: {app: httpbin}
---
apiVersion: v1
kind: Pod
metadata:
  name: httpbin-1
  labels: {app: httpbin, version: v1}
spec:
  nodeName: node-a
  containers: [{name: httpbin, image: httpbin}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: other}
spec:
  selector: {matchLabels: {app: other}}
  template:
    metadata: {labels: {app: other}}
    spec:
      containers: [{name: other, image: other}]
---
apiVersion: v1
kind: Node
metadata:
  name: node-a
  labels: {topology.kubernetes.io/region: eu-west-1, topology.kubernetes.io/zone: \"\"}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: eu, labels: {topology.kubernetes.io/region: eu-west-1}}
  - {name: no-zone, labels: {topology.kubernetes.io/zone: \"\"}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: private}
spec:
  selector: {app: httpbin}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [\"*\"]
",
        );
        // An empty topology label of the Node is not added to the Pod's.
        assert_eq!(
            count(&found, "IST0173", "DestinationRule/httpbin"),
            2,
            "{found:?}"
        );
        assert_eq!(count(&found, "IST0101", "Gateway/private"), 0);
        // The Service selects the Pod, though the files also declare a Deployment.
        assert_eq!(count(&found, "IST0101", "Service/httpbin"), 0);
    }

    #[test]
    fn hosts_qualify_like_istio() {
        assert_eq!(
            qualify_host("myapp", "default"),
            "myapp.default.svc.cluster.local"
        );
        assert_eq!(
            qualify_host("myapp.prod.svc.cluster.local", "default"),
            "myapp.prod.svc.cluster.local"
        );
        assert_eq!(
            qualify_host("myapp.prod", "default"),
            "myapp.prod",
            "dotted names are taken as written"
        );
        assert_eq!(
            qualify_host("api.example.com", "default"),
            "api.example.com"
        );
        assert!(hosts_overlap("*.example.com", "api.example.com"));
        assert!(hosts_overlap("*.example.com", "*.api.example.com"));
        assert!(!hosts_overlap("*.example.com", "example.com"));
        assert!(hosts_overlap("*", "example.com"));
    }
}
