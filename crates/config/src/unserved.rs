//! What Meridian accepts because Istio does, but does not serve yet. Each is a warning at its
//! field, so that a valid configuration is never silently half-applied: the user reads what
//! runs and what does not before the first request.

use crate::diag::Findings;
use crate::istio::networking::{LoadBalancerSettings, Location, Resolution, TrafficPolicy};
use crate::path::FieldPath;
use crate::resource::Resource;

/// Warns about every field of `resource` that is accepted but not served.
pub(crate) fn check(resource: &Resource, f: &mut Findings) {
    let spec = FieldPath::root().field("spec");
    match resource {
        Resource::VirtualService(vs) => {
            for (i, _) in vs.spec.tcp.iter().enumerate() {
                f.warn(
                    &spec.field("tcp").index(i),
                    "TCP routes are not served yet: Meridian's sidecars and gateway route HTTP, HTTP/2 and gRPC; connections this route matches are not forwarded",
                );
            }
            for (i, _) in vs.spec.tls.iter().enumerate() {
                f.warn(
                    &spec.field("tls").index(i),
                    "TLS (SNI) routes are not served yet: Meridian's sidecars and gateway route HTTP, HTTP/2 and gRPC; connections this route matches are not forwarded",
                );
            }
            for (i, route) in vs.spec.http.iter().enumerate() {
                let at = spec.field("http").index(i);
                for (j, m) in route.matches.iter().enumerate() {
                    if m.stat_prefix.is_some() {
                        f.warn(
                            &at.field("match").index(j).field("statPrefix"),
                            "not served: the route's metrics carry the route's name, no per-match prefix",
                        );
                    }
                }
                if route
                    .retries
                    .as_ref()
                    .is_some_and(|r| r.retry_remote_localities.is_some())
                {
                    f.warn(
                        &at.field("retries").field("retryRemoteLocalities"),
                        "not served: every endpoint is in this node's locality, so retries go to any endpoint",
                    );
                }
                if route
                    .fault
                    .as_ref()
                    .and_then(|fault| fault.abort.as_ref())
                    .is_some_and(|a| a.http2_error.is_some())
                {
                    f.warn(
                        &at.field("fault").field("abort").field("http2Error"),
                        "not served (Istio does not support it either): the abort answers with httpStatus or grpcStatus only",
                    );
                }
            }
        }
        Resource::DestinationRule(dr) => {
            if exported_narrowly(&dr.spec.export_to) {
                f.warn(
                    &spec.field("exportTo"),
                    "not served: the rule applies to the sidecars of every namespace",
                );
            }
            if dr.spec.workload_selector.is_some() {
                f.warn(
                    &spec.field("workloadSelector"),
                    "not served: the rule applies to every workload's sidecar that calls the host",
                );
            }
            if let Some(tp) = &dr.spec.traffic_policy {
                traffic_policy(tp, &spec.field("trafficPolicy"), f);
            }
            for (i, subset) in dr.spec.subsets.iter().enumerate() {
                if let Some(tp) = &subset.traffic_policy {
                    traffic_policy(
                        tp,
                        &spec.field("subsets").index(i).field("trafficPolicy"),
                        f,
                    );
                }
            }
        }
        Resource::Gateway(gw) => {
            for (i, s) in gw.spec.servers.iter().enumerate() {
                let at = spec.field("servers").index(i);
                // A unix socket bind has its own warning (the server is left out).
                if s.bind.as_deref().is_some_and(|b| !b.starts_with("unix://")) {
                    f.warn(
                        &at.field("bind"),
                        "not served: the gateway listens on Meridian's gateway address, not on this one",
                    );
                }
                if s.default_endpoint.is_some() {
                    f.warn(
                        &at.field("defaultEndpoint"),
                        "not served: the gateway forwards to the destinations of the routes bound to it",
                    );
                }
                if s.port.as_ref().is_some_and(|p| p.target_port.is_some()) {
                    f.warn(
                        &at.field("port").field("targetPort"),
                        "not served: the gateway listens on the port's number",
                    );
                }
            }
        }
        Resource::AuthorizationPolicy(ap) => {
            if ap.spec.target_ref.is_some() {
                f.warn(
                    &spec.field("targetRef"),
                    "not served: targetRef attaches the policy to a waypoint or Gateway API gateway, which Meridian does not run, so the policy is ignored; use a selector to enforce it at sidecars",
                );
            }
            if !ap.spec.target_refs.is_empty() {
                f.warn(
                    &spec.field("targetRefs"),
                    "not served: targetRefs attach the policy to waypoints or Gateway API gateways, which Meridian does not run, so the policy is ignored; use a selector to enforce it at sidecars",
                );
            }
            if ap.spec.provider.is_some() {
                f.warn(
                    &spec.field("provider"),
                    "not served: Meridian has no external authorizer client, so requests a CUSTOM policy's rules match are denied (403)",
                );
            }
        }
        Resource::ServiceEntry(se) => {
            if exported_narrowly(&se.spec.export_to) {
                f.warn(
                    &spec.field("exportTo"),
                    "not served: the entry is visible from every namespace",
                );
            }
            if se.spec.location == Some(Location::MeshInternal) {
                f.warn(
                    &spec.field("location"),
                    "not read: Meridian reaches these endpoints the same way whether they are inside or outside the mesh",
                );
            }
            if !se.spec.subject_alt_names.is_empty() {
                f.warn(
                    &spec.field("subjectAltNames"),
                    "not served: the endpoints' certificates are checked by the DestinationRule's tls settings only",
                );
            }
            for (i, e) in se.spec.endpoints.iter().enumerate() {
                let at = spec.field("endpoints").index(i);
                for (field, set, what) in [
                    (
                        "ports",
                        !e.ports.is_empty(),
                        "each endpoint is reached on the service port's targetPort (or number)",
                    ),
                    (
                        "labels",
                        !e.labels.is_empty(),
                        "DestinationRule subsets do not select ServiceEntry endpoints",
                    ),
                    (
                        "network",
                        e.network.is_some(),
                        "every endpoint is reached directly, with no network gateway",
                    ),
                    (
                        "locality",
                        e.locality.is_some(),
                        "every endpoint is in this node's locality",
                    ),
                    (
                        "weight",
                        e.weight.is_some(),
                        "requests are balanced over the endpoints by the DestinationRule's load balancer, without weights",
                    ),
                    (
                        "serviceAccount",
                        e.service_account.is_some(),
                        "the endpoint's identity is not checked against it",
                    ),
                ] {
                    if set {
                        f.warn(&at.field(field), format!("not served: {what}"));
                    }
                }
            }
            let served: Vec<usize> = se.spec.named_by_request().map(|(i, _)| i).collect();
            for (i, h) in se.spec.hosts.iter().enumerate() {
                if h.starts_with('*') && !served.contains(&i) {
                    f.warn(
                        &spec.field("hosts").index(i),
                        format!(
                            "wildcard host \"{h}\" is not served: Meridian needs a name to connect to, so a wildcard host is served only with resolution NONE or DYNAMIC_DNS and no endpoints (each request then goes to the host it names)"
                        ),
                    );
                }
            }
            if !se.spec.addresses.is_empty() {
                f.warn(
                    &spec.field("addresses"),
                    "not served: Meridian's sidecars take traffic by host name (HTTP_PROXY and the service's port variables), not by capturing IP addresses",
                );
            }
            if se.spec.resolution == Some(Resolution::None) && se.spec.endpoints.is_empty() {
                f.warn(
                    &spec.field("resolution"),
                    "NONE forwards to the original destination, which Meridian does not capture: the hosts are resolved by DNS instead",
                );
            }
        }
        _ => {}
    }
}

/// True when `exportTo` hides the object from some namespace (empty and `*` hide nothing).
fn exported_narrowly(export_to: &[String]) -> bool {
    !export_to.is_empty() && !export_to.iter().any(|e| e == "*")
}

fn traffic_policy(tp: &TrafficPolicy, at: &FieldPath, f: &mut Findings) {
    if tp
        .connection_pool
        .as_ref()
        .and_then(|c| c.http.as_ref())
        .is_some_and(|h| h.http2_keep_alive.is_some())
    {
        f.warn(
            &at.field("connectionPool")
                .field("http")
                .field("http2KeepAlive"),
            "not served yet: upstream HTTP/2 connections are not pinged; an idle one closes after idleTimeout",
        );
    }
    if tp.tunnel.is_some() {
        f.warn(
            &at.field("tunnel"),
            "not served yet: requests go to the endpoints directly, not through a CONNECT tunnel",
        );
    }
    if tp.proxy_protocol.is_some() {
        f.warn(
            &at.field("proxyProtocol"),
            "not served yet: no PROXY protocol header is sent to the upstream",
        );
    }
    if tp.retry_budget.is_some() {
        f.warn(
            &at.field("retryBudget"),
            "not served yet: retries are bounded by each route's attempts and the node's concurrent-retry limit",
        );
    }
    if let Some(lb) = &tp.load_balancer {
        load_balancer(lb, &at.field("loadBalancer"), f);
    }
    for (i, p) in tp.port_level_settings.iter().enumerate() {
        if let Some(lb) = &p.load_balancer {
            load_balancer(
                lb,
                &at.field("portLevelSettings").index(i).field("loadBalancer"),
                f,
            );
        }
    }
}

fn load_balancer(lb: &LoadBalancerSettings, at: &FieldPath, f: &mut Findings) {
    if lb.locality_lb_setting.is_some() {
        f.warn(
            &at.field("localityLbSetting"),
            "not served: every endpoint is in this node's locality, so locality weights and failover do not apply",
        );
    }
    if lb.zone_aware_lb_setting.is_some() {
        f.warn(
            &at.field("zoneAwareLbSetting"),
            "not served: every endpoint is in this node's locality, so zone-aware routing and region failover do not apply; requests are balanced over all endpoints",
        );
    }
    if lb
        .consistent_hash
        .as_ref()
        .and_then(|c| c.http_cookie.as_ref())
        .is_some_and(|c| !c.attributes.is_empty())
    {
        f.warn(
            &at.field("consistentHash")
                .field("httpCookie")
                .field("attributes"),
            "not served yet: a generated cookie carries Path and Max-Age only",
        );
    }
}
