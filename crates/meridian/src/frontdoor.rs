//! The front door at `meridian up`: the Terraform modules' `azurerm_frontdoor`s served by
//! the data plane's front door ([`meridian_proxy::frontdoor`]) on one HTTP and one HTTPS
//! listener, in front of the regions' gateways.
//!
//! Regions on one machine. The DNS plane answers every load balancer (`aws_lb`, placed in a
//! region by its provider) with this machine's address, and treats this node's gateway as
//! its `--region`'s (`us-east` is `us-east-1`'s). The front door needs an address per
//! region, so each region its backends name gets a gateway listener of its own here: the
//! same Gateway servers and routes as the node's gateway, on `127.0.0.1:<free>`, started and
//! stopped apart from the others. A backend's region comes from its address:
//! `app-eastus.azurewebsites.net` names Azure's `eastus`, which is AWS's `us-east-1` (the
//! table below: the nearest AWS region, so that `--region us-east`, the DNS's load balancers
//! and the front door's backends agree); a load balancer's DNS name names its region. A
//! backend on `*.azurewebsites.net` is an App Service or Functions app: when the node serves
//! Azure Functions apps it reaches their Gateway port (7071), else the Gateway port of its
//! `http_port` (or the first one). An IP address or `localhost` is reached as it is.
//!
//! A rule with caching (classic `cache_enabled`, a route's `cache` block) is served through
//! the edge cache with Front Door's rules (`meridian_proxy::cache::front_door`). A rule
//! forwarding over HTTPS reaches an address on this machine on its `https_port`, verifying
//! the certificate against Meridian's CA and the system's roots (its name too with the name
//! check on); a region's gateway serves HTTP only, so backends in regions stay on HTTP and
//! a note says so.
//!
//! Regions sharing a machine are equally far from a client: backends get the same latency,
//! so Front Door's latency band holds them all and the weights decide (the course's 50/50).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use meridian_config::terraform::resources::Spec;
use meridian_config::terraform::resources::azure::{FrontDoor as TfFrontDoor, FrontDoorPart};
use meridian_proxy::cache::QueryKeys;
use meridian_proxy::cache::front_door::Caching;
use meridian_proxy::frontdoor::{
    Action, BackendConfig, BackendTls, Forwarding, FrontDoor, FrontDoorConfig, FrontDoors,
    Frontend, PoolConfig, ProbeConfig, RouteCache, Rule,
};
use tokio::sync::watch;

use crate::node::Node;

/// Azure regions and the AWS region nearest each: the name a backend's region takes here.
const AZURE_REGIONS: &[(&str, &str)] = &[
    ("eastus", "us-east-1"),
    ("eastus2", "us-east-2"),
    ("centralus", "us-east-2"),
    ("northcentralus", "us-east-2"),
    ("southcentralus", "us-east-2"),
    ("westus", "us-west-1"),
    ("westus2", "us-west-2"),
    ("westus3", "us-west-2"),
    ("westcentralus", "us-west-2"),
    ("canadacentral", "ca-central-1"),
    ("brazilsouth", "sa-east-1"),
    ("northeurope", "eu-west-1"),
    ("uksouth", "eu-west-2"),
    ("francecentral", "eu-west-3"),
    ("westeurope", "eu-central-1"),
    ("germanywestcentral", "eu-central-1"),
    ("swedencentral", "eu-north-1"),
    ("centralindia", "ap-south-1"),
    ("southeastasia", "ap-southeast-1"),
    ("australiaeast", "ap-southeast-2"),
    ("japaneast", "ap-northeast-1"),
    ("koreacentral", "ap-northeast-2"),
];

/// Where a backend is reached on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A region's gateway, on this Gateway port.
    Region { region: String, declared: u16 },
    /// An address on this machine.
    Direct(SocketAddr),
}

/// A region's gateway on this machine: a listener of the node's gateway for one declared
/// port, which a failover drill stops and starts.
#[derive(Debug)]
pub(crate) struct RegionGateway {
    /// AWS-style (`us-east-1`).
    pub(crate) region: String,
    /// The Gateway port it serves.
    pub(crate) declared: u16,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// Set to true to stop it; `None` while it is out.
    stop: Option<watch::Sender<bool>>,
}

/// A Front Door as served: what the banner and `meridian global frontdoor` say.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Served {
    /// The Front Door's name.
    pub(crate) name: String,
    /// Its frontend hosts.
    pub(crate) hosts: Vec<String>,
    /// Backends: declared address, region, where reached.
    pub(crate) backends: Vec<(String, Option<String>, SocketAddr)>,
}

/// The front door's listeners, the Front Doors they serve and the regions' gateways.
#[derive(Debug)]
pub(crate) struct FrontDoorPlane {
    pub(crate) doors: Arc<FrontDoors>,
    pub(crate) http: SocketAddr,
    pub(crate) https: Option<SocketAddr>,
    regions: tokio::sync::Mutex<Vec<RegionGateway>>,
    /// How backends are reached over HTTPS.
    backend_tls: Option<BackendTls>,
    served: std::sync::Mutex<Vec<Served>>,
    notes: std::sync::Mutex<Vec<String>>,
}

/// The TLS configuration of the front door's HTTPS listener: a certificate from Meridian's
/// CA for `localhost`, `127.0.0.1`, `*.azurefd.net`, `*.azurefd.localhost` and the
/// frontend hosts of the first revision.
pub(crate) fn tls_config(
    ca: &meridian_identity::CertificateAuthority,
    bundle: &meridian_config::Bundle,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "*.azurefd.net".to_owned(),
        "*.azurefd.localhost".to_owned(),
    ];
    for d in front_doors(bundle) {
        for (_, host, _) in &d.frontend_endpoints {
            if !names.contains(host) && !host.ends_with(".azurefd.net") {
                names.push(host.clone());
            }
        }
    }
    crate::edge::server_tls(ca, &names)
}

/// How the front door reaches backends over HTTPS: their certificates verified against
/// Meridian's CA (what `meridian` issues on this machine) and the system's roots.
pub(crate) fn backend_tls(
    ca: &meridian_identity::CertificateAuthority,
) -> anyhow::Result<BackendTls> {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for r in ca.trust_bundle().roots() {
        roots.add(r.cert)?;
    }
    // Debian's bundle; a machine without one trusts Meridian's CA alone.
    if let Ok(iter) =
        rustls_pki_types::CertificateDer::pem_file_iter("/etc/ssl/certs/ca-certificates.crt")
    {
        let (added, ignored) = roots.add_parsable_certificates(iter.flatten());
        tracing::debug!(added, ignored, "front door: system roots for backends");
    }
    Ok(BackendTls::new(roots)?)
}

/// A rule's caching as the front door serves it.
fn route_cache(c: &meridian_config::terraform::resources::azure::RouteCaching) -> RouteCache {
    RouteCache {
        query: match c.query_string_caching_behavior.as_str() {
            "UseQueryString" => QueryKeys::All,
            "IgnoreSpecifiedQueryStrings" => QueryKeys::Except(c.query_strings.clone()),
            "IncludeSpecifiedQueryStrings" => QueryKeys::Whitelist(c.query_strings.clone()),
            _ => QueryKeys::Whitelist(Vec::new()),
        },
        compression: c.compression,
        caching: Caching {
            min_duration: c.duration_seconds,
            content_types: c.content_types_to_compress.clone(),
        },
    }
}

/// The Front Doors of a bundle's Terraform modules: the classic ones, and each Front Door
/// Standard/Premium profile with its endpoints, origin groups, origins and routes in the same
/// shape (an endpoint is a frontend, an origin group a backend pool, a route a rule).
pub(crate) fn front_doors(bundle: &meridian_config::Bundle) -> Vec<TfFrontDoor> {
    let insts: Vec<&meridian_config::terraform::Instance> = bundle
        .terraform_modules()
        .flat_map(|m| m.instances.iter())
        .collect();
    let mut out: Vec<TfFrontDoor> = insts
        .iter()
        .filter_map(|i| match &i.spec {
            Spec::FrontDoor(d) => Some((**d).clone()),
            _ => None,
        })
        .collect();
    let parts: Vec<&FrontDoorPart> = insts
        .iter()
        .filter_map(|i| match &i.spec {
            Spec::FrontDoorPart(p) => Some(p),
            _ => None,
        })
        .collect();
    for p in &parts {
        let FrontDoorPart::Profile {
            id,
            name,
            response_timeout_seconds,
            ..
        } = p
        else {
            continue;
        };
        out.push(standard_profile(
            id,
            name,
            *response_timeout_seconds,
            &parts,
        ));
    }
    out
}

/// A Front Door Standard/Premium profile in the classic shape.
fn standard_profile(
    profile: &str,
    name: &str,
    response_timeout: i64,
    parts: &[&FrontDoorPart],
) -> TfFrontDoor {
    use meridian_config::terraform::resources::azure::{Backend, BackendPool, RoutingRule};
    /// An origin group of the profile: id, probe, load balancing, affinity.
    struct Group<'a> {
        id: &'a String,
        probe: &'a Option<(String, String, String, i64)>,
        balancing: (i64, i64, i64),
        sticky: bool,
    }
    let groups: Vec<Group<'_>> = parts
        .iter()
        .filter_map(|p| match p {
            FrontDoorPart::OriginGroup {
                id,
                profile_id,
                probe,
                load_balancing,
                session_affinity,
            } if profile_id == profile => Some(Group {
                id,
                probe,
                balancing: *load_balancing,
                sticky: *session_affinity,
            }),
            _ => None,
        })
        .collect();
    let backend_pools: Vec<BackendPool> = groups
        .iter()
        .map(|g| BackendPool {
            name: g.id.clone(),
            backends: parts
                .iter()
                .filter_map(|p| match p {
                    FrontDoorPart::Origin {
                        origin_group_id,
                        host_name,
                        host_header,
                        http_port,
                        https_port,
                        priority,
                        weight,
                        enabled,
                        certificate_name_check,
                        ..
                    } if origin_group_id == g.id => Some(Backend {
                        address: host_name.clone(),
                        host_header: host_header.clone().unwrap_or_else(|| host_name.clone()),
                        http_port: *http_port,
                        https_port: *https_port,
                        priority: *priority,
                        weight: *weight,
                        enabled: *enabled,
                        certificate_name_check: *certificate_name_check,
                    }),
                    _ => None,
                })
                .collect(),
            sample_size: g.balancing.0,
            successful_samples_required: g.balancing.1,
            additional_latency_ms: g.balancing.2,
            probe_path: g.probe.as_ref().map_or_else(|| "/".into(), |p| p.1.clone()),
            probe_protocol: g
                .probe
                .as_ref()
                .map_or_else(|| "Http".into(), |p| p.0.clone()),
            probe_method: g
                .probe
                .as_ref()
                .map_or_else(|| "HEAD".into(), |p| p.2.clone()),
            probe_interval: g.probe.as_ref().map_or(100, |p| p.3),
            probe_enabled: g.probe.is_some(),
        })
        .collect();
    let endpoints: Vec<(&String, &String)> = parts
        .iter()
        .filter_map(|p| match p {
            FrontDoorPart::Endpoint {
                id,
                profile_id,
                host_name,
                enabled: true,
            } if profile_id == profile => Some((id, host_name)),
            _ => None,
        })
        .collect();
    let mut routing_rules = Vec::new();
    let mut affinity = Vec::new();
    for p in parts {
        let FrontDoorPart::Route {
            id,
            endpoint_id,
            origin_group_id,
            patterns,
            supported_protocols,
            forwarding_protocol,
            https_redirect,
            cache,
            ..
        } = p
        else {
            continue;
        };
        if !endpoints.iter().any(|(e, _)| *e == endpoint_id) {
            continue;
        }
        if groups.iter().any(|g| g.id == origin_group_id && g.sticky) {
            affinity.push(endpoint_id.clone());
        }
        let https = supported_protocols.iter().any(|p| p == "Https");
        let redirect = *https_redirect && https;
        // HTTP to HTTPS: a redirect rule for Http (301, as Front Door's documentation
        // advises for it), the forwarding rule for Https.
        if redirect {
            routing_rules.push(RoutingRule {
                name: format!("{id}#https-redirect"),
                frontend_endpoints: vec![endpoint_id.clone()],
                accepted_protocols: vec!["Http".into()],
                patterns: patterns.clone(),
                enabled: true,
                forward: None,
                cache: None,
                redirect: Some(("HttpsOnly".into(), "Moved".into(), None)),
                custom_forwarding_path: None,
                redirect_custom: (None, None, None),
            });
        }
        routing_rules.push(RoutingRule {
            name: id.clone(),
            frontend_endpoints: vec![endpoint_id.clone()],
            accepted_protocols: supported_protocols
                .iter()
                .filter(|p| !(redirect && *p == "Http"))
                .cloned()
                .collect(),
            patterns: patterns.clone(),
            enabled: true,
            forward: Some((origin_group_id.clone(), forwarding_protocol.clone())),
            cache: cache.clone(),
            redirect: None,
            custom_forwarding_path: None,
            redirect_custom: (None, None, None),
        });
    }
    TfFrontDoor {
        name: name.to_owned(),
        resource_group: String::new(),
        cname: String::new(),
        frontend_endpoints: endpoints
            .iter()
            .map(|(id, host)| ((*id).clone(), (*host).clone(), affinity.contains(id)))
            .collect(),
        routing_rules,
        backend_pools,
        send_receive_timeout_seconds: response_timeout,
        session_affinity_ttl_seconds: Vec::new(),
    }
}

/// Whether two region names are the same region (`us-east` is `us-east-1`'s prefix).
pub(crate) fn same_region(a: &str, b: &str) -> bool {
    let under = |short: &str, long: &str| {
        long.strip_prefix(short)
            .is_some_and(|t| t.is_empty() || t.starts_with('-'))
    };
    under(a, b) || under(b, a)
}

/// A region as the user may name it (`eastus`, `us-east`, `us-east-1`), AWS-style.
pub(crate) fn canonical_region(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    AZURE_REGIONS
        .iter()
        .find(|(azure, _)| *azure == lower)
        .map_or(lower, |(_, aws)| (*aws).to_owned())
}

/// The region a backend address names, if any.
fn region_of(address: &str, load_balancers: &[(String, String)]) -> Option<String> {
    let host = address.trim_end_matches('.').to_ascii_lowercase();
    if let Some((_, region)) = load_balancers.iter().find(|(dns, _)| *dns == host) {
        return Some(region.clone());
    }
    let app = host.strip_suffix(".azurewebsites.net")?;
    let (_, suffix) = app.rsplit_once('-')?;
    AZURE_REGIONS
        .iter()
        .find(|(azure, _)| *azure == suffix)
        .map(|(_, aws)| (*aws).to_owned())
}

impl FrontDoorPlane {
    /// Binds the front door's listeners.
    pub(crate) async fn start(
        proxy: &meridian_proxy::Proxy,
        http: SocketAddr,
        https: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
        backend_tls: Option<BackendTls>,
    ) -> anyhow::Result<FrontDoorPlane> {
        let doors = Arc::new(FrontDoors::default());
        let (http, https) = crate::edge::bind_listeners(
            http,
            https,
            ["--frontdoor-addr", "--frontdoor-https-addr"],
            |a, t| proxy.start_front_door(doors.clone(), a, t),
        )
        .await?;
        Ok(FrontDoorPlane {
            doors,
            http,
            https,
            regions: tokio::sync::Mutex::new(Vec::new()),
            backend_tls,
            served: std::sync::Mutex::new(Vec::new()),
            notes: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Puts the bundle's Front Doors in force, starting a gateway for each region their
    /// backends name; a Front Door whose configuration did not change keeps its health.
    pub(crate) async fn apply(
        &self,
        bundle: &meridian_config::Bundle,
        proxy: &meridian_proxy::Proxy,
        probe_interval: Option<Duration>,
    ) {
        let snapshot = proxy.snapshot();
        let gateway_ports: Vec<u16> = snapshot.gateways.iter().map(|g| g.port).collect();
        let azure_port = crate::node::AZURE_FUNCTIONS_PORT;
        let load_balancers: Vec<(String, String)> = bundle
            .terraform_modules()
            .flat_map(|m| m.instances.iter())
            .filter_map(|i| match &i.spec {
                Spec::LoadBalancer(lb) => {
                    Some((lb.dns_name.to_ascii_lowercase(), lb.region.clone()))
                }
                _ => None,
            })
            .collect();
        let mut notes = Vec::new();
        let mut list = Vec::new();
        let mut served = Vec::new();
        for d in front_doors(bundle) {
            let mut pools = Vec::new();
            let mut backends_served = Vec::new();
            for p in &d.backend_pools {
                let mut backends = Vec::new();
                for b in &p.backends {
                    let port = u16::try_from(b.http_port).unwrap_or(80);
                    let target = match b.address.parse::<IpAddr>() {
                        Ok(ip) => Some(Target::Direct(SocketAddr::new(ip, port))),
                        Err(_) if b.address.eq_ignore_ascii_case("localhost") => {
                            Some(Target::Direct(SocketAddr::from(([127, 0, 0, 1], port))))
                        }
                        Err(_) => region_of(&b.address, &load_balancers).and_then(|region| {
                            let app = b
                                .address
                                .to_ascii_lowercase()
                                .ends_with(".azurewebsites.net");
                            let declared = if app && gateway_ports.contains(&azure_port) {
                                Some(azure_port)
                            } else if gateway_ports.contains(&port) {
                                Some(port)
                            } else {
                                gateway_ports.first().copied()
                            };
                            declared.map(|declared| Target::Region { region, declared })
                        }),
                    };
                    let addr = match &target {
                        Some(Target::Direct(a)) => Some(*a),
                        Some(Target::Region { region, declared }) => {
                            self.region_gateway(proxy, region, *declared).await
                        }
                        None => None,
                    };
                    let Some(addr) = addr else {
                        notes.push(format!(
                            "frontdoor: {} backend {}: no region's gateway or address on this machine answers it (a region comes from *-<azure region>.azurewebsites.net or an aws_lb's name, and needs a Gateway); left out",
                            d.name, b.address
                        ));
                        continue;
                    };
                    let region = match &target {
                        Some(Target::Region { region, .. }) => Some(region.clone()),
                        _ => None,
                    };
                    let host_header = if b.host_header.is_empty() {
                        b.address.clone()
                    } else {
                        b.host_header.clone()
                    };
                    if let Some(Target::Region { declared, .. }) = &target
                        && let Some(g) = snapshot.gateway(*declared)
                    {
                        let hosts: Vec<&String> = g.servers.iter().flat_map(|s| &s.hosts).collect();
                        let h = host_header.to_ascii_lowercase();
                        let served = hosts.iter().any(|pat| {
                            let pat = pat.rsplit_once('/').map_or(pat.as_str(), |(_, h)| h);
                            pat == "*"
                                || *pat == h
                                || pat
                                    .strip_prefix('*')
                                    .is_some_and(|suffix| h.ends_with(suffix))
                        });
                        if !served {
                            notes.push(format!(
                                "frontdoor: {} backend {}: the Gateway on port {declared} serves {}, not host \"{host_header}\"; requests reach it and get 404 (bind a VirtualService to that host, or set host_header to a served one)",
                                d.name,
                                b.address,
                                hosts.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(", ")
                            ));
                        }
                    }
                    // An address on this machine is reached on its HTTPS port too; a region's
                    // gateway serves HTTP only.
                    let https_addr = match &target {
                        Some(Target::Direct(a)) => u16::try_from(b.https_port)
                            .ok()
                            .map(|p| SocketAddr::new(a.ip(), p)),
                        _ => None,
                    };
                    backends_served.push((b.address.clone(), region, addr));
                    backends.push(BackendConfig {
                        name: b.address.clone(),
                        host_header,
                        addr,
                        https_addr,
                        certificate_name_check: b.certificate_name_check,
                        priority: u8::try_from(b.priority.clamp(1, 5)).unwrap_or(1),
                        weight: u32::try_from(b.weight.clamp(1, 1000)).unwrap_or(50),
                        enabled: b.enabled,
                        latency: Some(Duration::ZERO),
                    });
                }
                let method = if p.probe_method.eq_ignore_ascii_case("HEAD") {
                    Method::HEAD
                } else {
                    Method::GET
                };
                let interval = probe_interval.unwrap_or_else(|| {
                    Duration::from_secs(u64::try_from(p.probe_interval.max(1)).unwrap_or(120))
                });
                let probe_https = p.probe_protocol.eq_ignore_ascii_case("Https");
                let http_only = backends.iter().any(|b| b.https_addr.is_none());
                if probe_https && http_only {
                    notes.push(format!(
                        "frontdoor: {} pool {}: probes of the backends in regions go over HTTP (the regions' gateways on this machine serve HTTP)",
                        d.name, p.name
                    ));
                }
                pools.push(PoolConfig {
                    name: p.name.clone(),
                    backends,
                    sample_size: usize::try_from(p.sample_size.max(1)).unwrap_or(4),
                    successful_samples_required: usize::try_from(
                        p.successful_samples_required.max(0),
                    )
                    .unwrap_or(2),
                    additional_latency: Duration::from_millis(
                        u64::try_from(p.additional_latency_ms.max(0)).unwrap_or(0),
                    ),
                    probe: p.probe_enabled.then(|| ProbeConfig {
                        path: if p.probe_path.starts_with('/') {
                            p.probe_path.clone()
                        } else {
                            format!("/{}", p.probe_path)
                        },
                        method,
                        interval,
                        https: probe_https,
                    }),
                });
            }
            let default_host = format!("{}.azurefd.net", d.name);
            let frontends: Vec<Frontend> = d
                .frontend_endpoints
                .iter()
                .map(|(name, host, affinity)| {
                    let mut hosts = vec![host.to_ascii_lowercase()];
                    if *host == default_host && !d.cname.is_empty() {
                        hosts.push(d.cname.to_ascii_lowercase());
                    }
                    let ttl = d
                        .session_affinity_ttl_seconds
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or(0, |(_, t)| *t);
                    Frontend {
                        name: name.clone(),
                        hosts,
                        session_affinity: *affinity,
                        affinity_ttl: (ttl > 0)
                            .then(|| Duration::from_secs(u64::try_from(ttl).unwrap_or(0))),
                    }
                })
                .collect();
            let mut rules = Vec::new();
            for r in d.routing_rules.iter().filter(|r| r.enabled) {
                let action = if let Some((pool, protocol)) = &r.forward {
                    let Some(pool) = d.backend_pools.iter().position(|p| p.name == *pool) else {
                        continue;
                    };
                    let protocol = match protocol.as_str() {
                        "HttpsOnly" => Forwarding::HttpsOnly,
                        "MatchRequest" => Forwarding::MatchRequest,
                        _ => Forwarding::HttpOnly,
                    };
                    let in_regions = pools
                        .get(pool)
                        .is_some_and(|p| p.backends.iter().any(|b| b.https_addr.is_none()));
                    if protocol != Forwarding::HttpOnly && in_regions {
                        notes.push(format!(
                            "frontdoor: {} rule {}: forwarding_protocol {protocol:?}: the backends in regions are reached over HTTP (the regions' gateways on this machine serve HTTP); addresses on this machine over HTTPS",
                            d.name, r.name
                        ));
                    }
                    Action::Forward {
                        pool,
                        path: r.custom_forwarding_path.clone().filter(|p| !p.is_empty()),
                        protocol,
                        cache: r.cache.as_ref().map(route_cache),
                    }
                } else if let Some((protocol, kind, host)) = &r.redirect {
                    Action::Redirect {
                        scheme: match protocol.as_str() {
                            "HttpOnly" => Some("http"),
                            "HttpsOnly" => Some("https"),
                            _ => None,
                        },
                        status: match kind.as_str() {
                            "Moved" => StatusCode::MOVED_PERMANENTLY,
                            "TemporaryRedirect" => StatusCode::TEMPORARY_REDIRECT,
                            "PermanentRedirect" => StatusCode::PERMANENT_REDIRECT,
                            _ => StatusCode::FOUND,
                        },
                        host: host.clone().filter(|h| !h.is_empty()),
                        path: r.redirect_custom.0.clone().filter(|p| !p.is_empty()),
                        query: r.redirect_custom.1.clone().filter(|q| !q.is_empty()),
                        fragment: r.redirect_custom.2.clone().filter(|f| !f.is_empty()),
                    }
                } else {
                    continue;
                };
                rules.push(Rule {
                    name: r.name.clone(),
                    frontends: r.frontend_endpoints.clone(),
                    http: r
                        .accepted_protocols
                        .iter()
                        .any(|p| p.eq_ignore_ascii_case("Http")),
                    https: r
                        .accepted_protocols
                        .iter()
                        .any(|p| p.eq_ignore_ascii_case("Https")),
                    patterns: r.patterns.clone(),
                    action,
                });
            }
            let cfg = FrontDoorConfig {
                name: d.name.clone(),
                id: front_door_id(&d.resource_group, &d.name),
                frontends,
                rules,
                pools,
                connect_timeout: Duration::from_secs(3),
                // 0 is not a timeout Front Door would run with: its default, 60 s.
                timeout: Duration::from_secs(
                    u64::try_from(d.send_receive_timeout_seconds)
                        .ok()
                        .filter(|t| *t > 0)
                        .unwrap_or(60),
                ),
                backend_tls: self.backend_tls.clone(),
            };
            served.push(Served {
                name: d.name.clone(),
                hosts: cfg.frontends.iter().flat_map(|f| f.hosts.clone()).collect(),
                backends: backends_served,
            });
            let door = match self.doors.by_name(&d.name) {
                Some(old) if *old.config() == cfg => old,
                _ => FrontDoor::start(cfg),
            };
            list.push(door);
        }
        self.doors.set(list);
        if let Ok(mut s) = self.served.lock() {
            *s = served;
        }
        if let Ok(mut n) = self.notes.lock() {
            *n = notes;
        }
    }

    /// The gateway of `region` for the Gateway port `declared`, started on first use.
    async fn region_gateway(
        &self,
        proxy: &meridian_proxy::Proxy,
        region: &str,
        declared: u16,
    ) -> Option<SocketAddr> {
        let mut regions = self.regions.lock().await;
        if let Some(g) = regions
            .iter()
            .find(|g| g.region == region && g.declared == declared)
        {
            return Some(g.addr);
        }
        let (stop, rx) = watch::channel(false);
        match proxy
            .start_gateway_replica(declared, SocketAddr::from(([127, 0, 0, 1], 0)), rx)
            .await
        {
            Ok(addr) => {
                regions.push(RegionGateway {
                    region: region.to_owned(),
                    declared,
                    addr,
                    stop: Some(stop),
                });
                Some(addr)
            }
            Err(e) => {
                tracing::warn!(region, error = %e, "no gateway for the region");
                None
            }
        }
    }

    /// Stops (out) or restarts (in) the gateways of `region`; their addresses.
    pub(crate) async fn set_region(
        &self,
        proxy: &meridian_proxy::Proxy,
        region: &str,
        out: bool,
    ) -> anyhow::Result<Vec<SocketAddr>> {
        let mut regions = self.regions.lock().await;
        let mut addrs = Vec::new();
        for g in regions
            .iter_mut()
            .filter(|g| same_region(&g.region, region))
        {
            addrs.push(g.addr);
            if out {
                if let Some(stop) = g.stop.take() {
                    let _ = stop.send(true);
                }
            } else if g.stop.is_none() {
                // The port was just released: bind it again (bounded).
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    let (stop, rx) = watch::channel(false);
                    match proxy.start_gateway_replica(g.declared, g.addr, rx).await {
                        Ok(_) => {
                            g.stop = Some(stop);
                            break;
                        }
                        Err(e) if Instant::now() < deadline => {
                            tracing::debug!(error = %e, "region gateway: rebinding");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(e) => anyhow::bail!(
                            "cannot bring the gateway of {region} back on {}: {e}",
                            g.addr
                        ),
                    }
                }
            }
        }
        Ok(addrs)
    }

    /// The regions with a gateway here, and whether each is in.
    pub(crate) async fn regions(&self) -> Vec<(String, u16, SocketAddr, bool)> {
        self.regions
            .lock()
            .await
            .iter()
            .map(|g| (g.region.clone(), g.declared, g.addr, g.stop.is_some()))
            .collect()
    }

    /// The Front Doors served.
    pub(crate) fn served(&self) -> Vec<Served> {
        self.served.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// What the Front Doors accept but this machine serves differently.
    pub(crate) fn notes(&self) -> Vec<String> {
        self.notes.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Front Door's id (`X-Azure-FDID`): a GUID, stable for a resource group and name.
fn front_door_id(group: &str, name: &str) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in group.bytes().chain([0]).chain(name.bytes()) {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    let x = format!("{h:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// The Front Doors' backends in Prometheus' text format 0.0.4.
pub(crate) fn metrics_text(plane: &FrontDoorPlane) -> String {
    use std::fmt::Write as _;
    let all: Vec<_> = plane.doors.all().iter().flat_map(|d| d.status()).collect();
    if all.is_empty() {
        return String::new();
    }
    let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
    let labels = |b: &meridian_proxy::frontdoor::BackendStatus| {
        format!(
            "front_door=\"{}\",pool=\"{}\",backend=\"{}\"",
            esc(&b.front_door),
            esc(&b.pool),
            esc(&b.backend)
        )
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP meridian_frontdoor_backend_healthy Front Door backends in selection: 1 healthy by its probes and not suspected after a failed request, 0 not."
    );
    let _ = writeln!(out, "# TYPE meridian_frontdoor_backend_healthy gauge");
    for b in &all {
        let _ = writeln!(
            out,
            "meridian_frontdoor_backend_healthy{{{}}} {}",
            labels(b),
            u8::from(b.probed_healthy && !b.suspect)
        );
    }
    let _ = writeln!(
        out,
        "# HELP meridian_frontdoor_backend_requests_total Requests sent to a Front Door backend, by result (failed ones went to the next backend when they could)."
    );
    let _ = writeln!(
        out,
        "# TYPE meridian_frontdoor_backend_requests_total counter"
    );
    for b in &all {
        for (result, n) in [("served", b.served), ("failed", b.failed)] {
            let _ = writeln!(
                out,
                "meridian_frontdoor_backend_requests_total{{{},result=\"{result}\"}} {n}",
                labels(b)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP meridian_frontdoor_backend_probes_total Health probes sent to a Front Door backend, by result."
    );
    let _ = writeln!(
        out,
        "# TYPE meridian_frontdoor_backend_probes_total counter"
    );
    for b in &all {
        for (result, n) in [
            ("success", b.probes.saturating_sub(b.probe_failures)),
            ("failure", b.probe_failures),
        ] {
            let _ = writeln!(
                out,
                "meridian_frontdoor_backend_probes_total{{{},result=\"{result}\"}} {n}",
                labels(b)
            );
        }
    }
    let caches: Vec<(String, String, meridian_proxy::cache::CacheStats)> = plane
        .doors
        .all()
        .iter()
        .flat_map(|d| {
            let name = d.config().name.clone();
            d.cache_stats()
                .into_iter()
                .map(move |(rule, s)| (name.clone(), rule, s))
        })
        .collect();
    if !caches.is_empty() {
        let _ = writeln!(
            out,
            "# HELP meridian_frontdoor_cache_requests_total GET requests of Front Door rules with caching, by result: hit (TCP_HIT), miss (a backend answered), revalidated (a backend said 304), collapsed (waited for another request's fetch), error (no backend answered)."
        );
        let _ = writeln!(
            out,
            "# TYPE meridian_frontdoor_cache_requests_total counter"
        );
        for (door, rule, s) in &caches {
            for (result, n) in [
                ("hit", s.hits),
                ("miss", s.misses),
                ("revalidated", s.refresh_hits),
                ("collapsed", s.collapsed),
                ("error", s.errors),
            ] {
                let _ = writeln!(
                    out,
                    "meridian_frontdoor_cache_requests_total{{front_door=\"{}\",rule=\"{}\",result=\"{result}\"}} {n}",
                    esc(door),
                    esc(rule)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP meridian_frontdoor_cache_bytes Bytes stored in the memory tier of a Front Door rule's cache."
        );
        let _ = writeln!(out, "# TYPE meridian_frontdoor_cache_bytes gauge");
        for (door, rule, s) in &caches {
            let _ = writeln!(
                out,
                "meridian_frontdoor_cache_bytes{{front_door=\"{}\",rule=\"{}\"}} {}",
                esc(door),
                esc(rule),
                s.memory.bytes
            );
        }
    }
    out
}

/// What a failover drill measured.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct DrillReport {
    /// The region taken out.
    pub(crate) region: String,
    /// Its gateways' addresses.
    pub(crate) gateways: Vec<SocketAddr>,
    /// Front Doors with backends in the region.
    pub(crate) front_door: Vec<FrontDoorDrill>,
    /// DNS names whose answer follows the region's load balancers.
    pub(crate) dns: Vec<DnsDrill>,
    /// Milliseconds from the gateway's return until every Front Door used it again.
    pub(crate) back_ms: Option<f64>,
}

/// The front door's side of a drill.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct FrontDoorDrill {
    /// The Front Door.
    pub(crate) name: String,
    /// Its backends in the region.
    pub(crate) backends: Vec<String>,
    /// Milliseconds from the region going out until no request was sent to it.
    pub(crate) routed_around_ms: Option<f64>,
    /// Requests the drill sent through the front door meanwhile, and those that failed.
    pub(crate) requests: u64,
    /// Requests that got a 5xx.
    pub(crate) failed: u64,
    /// Statuses seen, with counts.
    pub(crate) statuses: Vec<(u16, u64)>,
}

/// The DNS side of a drill.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct DnsDrill {
    /// The name.
    pub(crate) name: String,
    /// Why it answered before.
    pub(crate) before: String,
    /// Why it answered after.
    pub(crate) after: String,
    /// Milliseconds until the answer changed, when it did.
    pub(crate) changed_ms: Option<f64>,
    /// The answer's TTL: how long resolvers may keep the old answer.
    pub(crate) ttl: Option<u32>,
}

/// How long a drill waits for each side.
const DRILL_BOUND: Duration = Duration::from_secs(30);

/// Takes `region`'s gateways out, measures how long the DNS answers and the Front Doors
/// take to route around it, and puts it back.
pub(crate) async fn failover_test(node: &Node, region: &str) -> anyhow::Result<DrillReport> {
    // One drill at a time: two would put each other's regions back.
    static DRILL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let Ok(_one) = DRILL.try_lock() else {
        anyhow::bail!("a failover test is already running; try again when it has finished");
    };
    let region = canonical_region(region);
    let names = dns_names(node, &region);
    let doors: Vec<(Arc<FrontDoor>, Vec<String>, String, &'static str)> = match &node.frontdoor {
        Some(plane) => {
            let in_region: Vec<SocketAddr> = plane
                .regions()
                .await
                .into_iter()
                .filter(|(r, ..)| same_region(r, &region))
                .map(|(_, _, a, _)| a)
                .collect();
            plane
                .doors
                .all()
                .into_iter()
                .filter_map(|d| {
                    let backends: Vec<String> = d
                        .status()
                        .into_iter()
                        .filter(|s| in_region.contains(&s.addr))
                        .map(|s| s.backend)
                        .collect();
                    let cfg = d.config();
                    let host = cfg.frontends.first()?.hosts.first()?.clone();
                    // A protocol the rules accept: Https when no rule takes Http.
                    let scheme = if cfg.rules.iter().any(|r| r.http) {
                        "http"
                    } else {
                        "https"
                    };
                    (!backends.is_empty()).then(|| (d.clone(), backends, host, scheme))
                })
                .collect()
        }
        None => Vec::new(),
    };
    if doors.is_empty() && names.is_empty() {
        let mut known: Vec<String> = match &node.frontdoor {
            Some(p) => p.regions().await.into_iter().map(|(r, ..)| r).collect(),
            None => Vec::new(),
        };
        known.extend(load_balancer_regions(node));
        known.sort();
        known.dedup();
        anyhow::bail!(
            "no Front Door backend or load balancer is in region \"{region}\"; regions here: {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    }
    let before: Vec<(String, String, Option<u32>)> =
        names.iter().map(|n| dns_answer(node, n)).collect();

    // Out.
    let gateways = match &node.frontdoor {
        Some(p) => p.set_region(&node.proxy, &region, true).await?,
        None => Vec::new(),
    };
    let out = Instant::now();
    node.set_region_out(&region, true);

    let dns_watch = async {
        let mut changed: Vec<Option<f64>> = vec![None; names.len()];
        while out.elapsed() < Duration::from_secs(10) && changed.iter().any(Option::is_none) {
            for (i, n) in names.iter().enumerate() {
                if changed[i].is_none() && dns_answer(node, n).0 != before[i].0 {
                    changed[i] = Some(out.elapsed().as_secs_f64() * 1000.0);
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        changed
    };
    let door_watch = async {
        let mut results = Vec::new();
        for (door, backends, host, scheme) in &doors {
            let gone = |d: &FrontDoor| {
                d.status()
                    .iter()
                    .filter(|s| backends.contains(&s.backend))
                    .all(|s| s.suspect || !s.probed_healthy)
            };
            let (mut requests, mut failed) = (0u64, 0u64);
            let mut statuses: Vec<(u16, u64)> = Vec::new();
            let mut routed = None;
            // Steady requests, as clients would send them, until the region is left out
            // and a few more after.
            let mut after = 0;
            while out.elapsed() < DRILL_BOUND && after < 20 {
                let status = door.drill(host, scheme, "/").await;
                requests += 1;
                if status.is_server_error() {
                    failed += 1;
                }
                match statuses.iter_mut().find(|(s, _)| *s == status.as_u16()) {
                    Some((_, n)) => *n += 1,
                    None => statuses.push((status.as_u16(), 1)),
                }
                if routed.is_none() && gone(door) {
                    routed = Some(out.elapsed().as_secs_f64() * 1000.0);
                }
                if routed.is_some() {
                    after += 1;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            results.push(FrontDoorDrill {
                name: door.config().name.clone(),
                backends: backends.clone(),
                routed_around_ms: routed,
                requests,
                failed,
                statuses,
            });
        }
        results
    };
    let (changed, front_door) = tokio::join!(dns_watch, door_watch);
    let dns: Vec<DnsDrill> = names
        .iter()
        .zip(before)
        .zip(changed)
        .map(|((name, (before, _, ttl)), changed_ms)| DnsDrill {
            name: name.clone(),
            after: dns_answer(node, name).1,
            before,
            changed_ms,
            ttl,
        })
        .collect();

    // Back.
    if let Some(p) = &node.frontdoor {
        p.set_region(&node.proxy, &region, false).await?;
    }
    node.set_region_out(&region, false);
    let back = Instant::now();
    let mut back_ms = None;
    while back.elapsed() < DRILL_BOUND && !doors.is_empty() {
        let all_in = doors.iter().all(|(door, backends, ..)| {
            door.status()
                .iter()
                .filter(|s| backends.contains(&s.backend))
                .all(|s| !s.suspect && s.probed_healthy)
        });
        if all_in {
            back_ms = Some(back.elapsed().as_secs_f64() * 1000.0);
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(DrillReport {
        region,
        gateways,
        front_door,
        dns,
        back_ms,
    })
}

/// The names of the Route 53 records whose alias is a load balancer of `region`.
fn dns_names(node: &Node, region: &str) -> Vec<String> {
    let rev = node.revision();
    let mut lbs = Vec::new();
    let mut zones = std::collections::HashMap::new();
    for i in rev
        .bundle
        .terraform_modules()
        .flat_map(|m| m.instances.iter())
    {
        match &i.spec {
            Spec::LoadBalancer(lb) if same_region(&lb.region, region) => {
                lbs.push(lb.dns_name.to_ascii_lowercase());
            }
            Spec::Zone(z) => {
                zones.insert(z.zone_id.clone(), z.name.clone());
            }
            _ => {}
        }
    }
    let mut names = Vec::new();
    for i in rev
        .bundle
        .terraform_modules()
        .flat_map(|m| m.instances.iter())
    {
        let Spec::Record(r) = &i.spec else { continue };
        let Some(alias) = &r.alias else { continue };
        if !lbs.contains(&alias.name.trim_end_matches('.').to_ascii_lowercase()) {
            continue;
        }
        let name = r.name.trim_end_matches('.').to_ascii_lowercase();
        let name = match zones.get(&r.zone_id) {
            Some(z) if !name.ends_with(&z.to_ascii_lowercase()) => format!("{name}.{z}"),
            _ => name,
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

fn load_balancer_regions(node: &Node) -> Vec<String> {
    node.revision()
        .bundle
        .terraform_modules()
        .flat_map(|m| m.instances.iter())
        .filter_map(|i| match &i.spec {
            Spec::LoadBalancer(lb) => Some(lb.region.clone()),
            _ => None,
        })
        .collect()
}

/// A name's answer as a comparable key, why it answered, and its TTL.
fn dns_answer(node: &Node, name: &str) -> (String, String, Option<u32>) {
    match node.global.query(
        name,
        meridian_global::RecordType::A,
        IpAddr::from([127, 0, 0, 1]),
    ) {
        Some(a) => {
            let why = a.trace.join("; ");
            let key = format!(
                "{}|{}",
                a.answers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                why
            );
            (key, why, a.answers.first().map(|r| r.ttl))
        }
        None => (String::new(), String::new(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_name_their_regions() {
        let lbs = vec![(
            "app-alb-primary-123.us-east-1.elb.localhost".to_owned(),
            "us-east-1".to_owned(),
        )];
        assert_eq!(
            region_of("app-eastus.azurewebsites.net", &lbs).as_deref(),
            Some("us-east-1")
        );
        assert_eq!(
            region_of("App-WestUS.azurewebsites.net", &lbs).as_deref(),
            Some("us-west-1")
        );
        assert_eq!(
            region_of("app-alb-primary-123.us-east-1.elb.localhost", &lbs).as_deref(),
            Some("us-east-1")
        );
        assert_eq!(region_of("example.com", &lbs), None);
        assert_eq!(region_of("app-nowhere.azurewebsites.net", &lbs), None);
    }

    #[test]
    fn route_caching_maps_to_the_cache_key() {
        use meridian_config::terraform::resources::azure::RouteCaching;
        let names = vec!["id".to_owned()];
        for (behaviour, want) in [
            ("IgnoreQueryString", QueryKeys::Whitelist(Vec::new())),
            ("UseQueryString", QueryKeys::All),
            (
                "IgnoreSpecifiedQueryStrings",
                QueryKeys::Except(names.clone()),
            ),
            (
                "IncludeSpecifiedQueryStrings",
                QueryKeys::Whitelist(names.clone()),
            ),
        ] {
            let c = route_cache(&RouteCaching {
                query_string_caching_behavior: behaviour.into(),
                query_strings: names.clone(),
                compression: true,
                content_types_to_compress: vec!["text/html".into()],
                duration_seconds: Some(300),
            });
            assert_eq!(c.query, want, "{behaviour}");
            assert!(c.compression);
            assert_eq!(c.caching.min_duration, Some(300));
            assert_eq!(c.caching.content_types, vec!["text/html".to_owned()]);
        }
    }

    #[test]
    fn regions_match_as_the_dns_matches_them() {
        assert!(same_region("us-east", "us-east-1"));
        assert!(same_region("us-east-1", "us-east"));
        assert!(!same_region("us-east", "us-east2-1"));
        assert!(!same_region("us-west-1", "us-west-2"));
        assert_eq!(canonical_region("eastus"), "us-east-1");
        assert_eq!(canonical_region("US-East"), "us-east");
    }
}
