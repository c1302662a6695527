//! Table-driven tests of the compiler on manifests written inline.

use std::collections::BTreeMap;
use std::path::Path;

use http::HeaderMap;
use meridian_config::{LoadOptions, load_str};
use test_case::test_case;

use super::*;

const COURSE: &str = include_str!("../../../../examples/mesh/virtualservice.yaml");
const APP: &str = include_str!("../../../../examples/mesh/app-deployment.yaml");
const GATEWAY: &str = include_str!("../../../../examples/mesh/gateway.yaml");
const BREAKER: &str = include_str!("../../../../examples/mesh/circuit-breaker.yaml");

fn snapshot(yaml: &str) -> Snapshot {
    let bundle = load_str(Path::new("/tmp/test.yaml"), yaml, LoadOptions::default());
    let errors: Vec<String> = bundle.diagnostics().map(|d| format!("{d:?}")).collect();
    compile(&bundle, 1).unwrap_or_else(|e| panic!("{e}: {errors:#?}"))
}

fn course() -> Snapshot {
    snapshot(&[APP, COURSE, GATEWAY, BREAKER].join("\n---\n"))
}

struct Req {
    path: &'static str,
    method: &'static str,
    headers: HeaderMap,
    port: u16,
    labels: BTreeMap<String, String>,
}

fn req(path: &'static str) -> Req {
    Req {
        path,
        method: "GET",
        headers: HeaderMap::new(),
        port: 80,
        labels: BTreeMap::new(),
    }
}

impl Req {
    fn header(mut self, k: &'static str, v: &'static str) -> Req {
        self.headers.insert(k, v.parse().unwrap());
        self
    }

    fn view(&self) -> RequestView<'_> {
        let (path, query) = match self.path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (self.path, None),
        };
        RequestView {
            method: self.method,
            scheme: "http",
            authority: "myapp",
            path,
            query,
            headers: &self.headers,
            port: self.port,
            source_labels: &self.labels,
            source_namespace: "default",
        }
    }
}

/// Routes a request for `host` from a caller in `default`; returns the route.
fn route_in<'a>(s: &'a Snapshot, host: &str, r: &Req) -> Option<&'a HttpRoute> {
    let vh = s.mesh_table("default").lookup(host)?;
    s.route(vh, &r.view()).map(|(route, _)| route)
}

fn subsets(s: &Snapshot, route: &HttpRoute) -> Vec<(Option<String>, u32)> {
    match &route.action {
        RouteAction::Forward(w) => w
            .destinations
            .iter()
            .map(|d| {
                let c = d.target.resolve(80).and_then(|c| s.cluster(c));
                (c.and_then(|c| c.subset.clone()), d.weight)
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn course_canary_and_premium_route() {
    let s = course();
    let premium = req("/").header("user-type", "premium");
    let r = route_in(&s, "myapp", &premium).unwrap();
    assert_eq!(subsets(&s, r), vec![(Some("v2".into()), 100)]);
    let r = route_in(&s, "myapp", &req("/")).unwrap();
    assert_eq!(
        subsets(&s, r),
        vec![(Some("v1".into()), 90), (Some("v2".into()), 10)]
    );
}

#[test_case("myapp"; "short name")]
#[test_case("myapp.default"; "name.namespace")]
#[test_case("myapp.default.svc"; "svc")]
#[test_case("myapp.default.svc.cluster.local"; "fqdn")]
#[test_case("MYAPP.default.svc.cluster.local"; "any case")]
fn mesh_host_aliases(host: &str) {
    let s = course();
    assert!(route_in(&s, host, &req("/")).is_some());
}

#[test]
fn short_names_resolve_in_the_callers_namespace_only() {
    let s = course();
    assert!(s.mesh_table("other").lookup("myapp").is_none());
    assert!(s.mesh_table("other").lookup("myapp.default").is_some());
    assert!(s.mesh_table("unknown-ns").lookup("myapp.default").is_some());
}

#[test]
fn destination_rules_merge_field_by_field() {
    let s = course();
    let c = &s.clusters[s
        .cluster_by_name("outbound|80|v1|myapp.default.svc.cluster.local")
        .unwrap()];
    assert_eq!(c.policy.load_balancer, LoadBalancer::LeastRequest);
    assert_eq!(c.policy.connection_pool.max_connections, 100);
    assert_eq!(c.policy.connection_pool.max_pending_requests, 50);
    assert_eq!(c.policy.connection_pool.max_requests_per_connection, 2);
    let od = c.policy.outlier_detection.as_ref().unwrap();
    assert_eq!(od.consecutive_5xx, 3);
    assert_eq!(od.max_ejection_percent, 50);
    assert_eq!(od.base_ejection_time, std::time::Duration::from_secs(30));
    match &c.endpoints {
        EndpointSource::Replicas {
            selector,
            target_port,
        } => {
            assert_eq!(selector.get("version").map(String::as_str), Some("v1"));
            assert_eq!(selector.get("app").map(String::as_str), Some("myapp"));
            assert_eq!(*target_port, TargetPort::Number(3000));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.protocol, UpstreamProtocol::Http1);
}

#[test]
fn gateway_binds_only_its_hosts() {
    let s = course();
    let g = s.gateway(80).unwrap();
    assert!(!g.tls);
    let vh = g.routes.lookup("myapp.example.com").unwrap();
    let r = s.route(vh, &req("/").view()).unwrap().0;
    assert_eq!(subsets(&s, r), vec![(None, 100)]);
    assert!(g.routes.lookup("other.example.com").is_none());
}

#[test]
fn defaults_are_istios() {
    let s = snapshot(
        "apiVersion: v1\nkind: Service\nmetadata: {name: plain}\nspec:\n  selector: {app: plain}\n  ports: [{port: 8080, name: http}]\n",
    );
    let r = route_in(&s, "plain", &req("/")).unwrap();
    assert_eq!(r.timeout, None);
    assert_eq!(r.retry.attempts, 2);
    assert!(r.retry.previous_hosts);
    assert_eq!(
        r.retry.retry_on.names().collect::<Vec<_>>(),
        vec![
            "connect-failure",
            "refused-stream",
            "retriable-status-codes",
            "cancelled",
            "unavailable"
        ]
    );
    let c = &s.clusters[0];
    assert_eq!(c.policy.load_balancer, LoadBalancer::LeastRequest);
    assert_eq!(
        c.policy.connection_pool.connect_timeout,
        std::time::Duration::from_secs(10)
    );
    assert!(c.policy.outlier_detection.is_none());
    // The single port is used whatever port the caller names.
    assert_eq!(
        match &r.action {
            RouteAction::Forward(w) => w.destinations[0].target.resolve(80),
            _ => None,
        },
        Some(0)
    );
}

const RICH: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec:
  selector: {app: reviews}
  ports: [{port: 9080, name: http}, {port: 9090, name: grpc-api}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer:
      consistentHash:
        httpHeaderName: x-user
        maglev: {tableSize: 1031}
    portLevelSettings:
    - port: {number: 9090}
      loadBalancer: {simple: ROUND_ROBIN}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer: {simple: RANDOM}
  - name: v2
    labels: {version: v2}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match:
    - uri: {regex: "/items/[0-9]+"}
      method: {exact: POST}
    fault:
      abort: {httpStatus: 503, percentage: {value: 25}}
    route:
    - destination: {host: reviews, subset: v1, port: {number: 9080}}
  - match:
    - queryParams: {debug: {exact: "1"}}
    redirect: {uri: /debug, authority: debug.example.com, redirectCode: 302}
  - match:
    - withoutHeaders: {x-user: {}}
      uri: {prefix: /anon}
    directResponse: {status: 403, body: {string: "sign in"}}
  - match:
    - uri: {prefix: /v1}
    rewrite: {uri: /v2}
    timeout: 3s
    retries: {attempts: 4, perTryTimeout: 1s, retryOn: "5xx,429"}
    mirror: {host: reviews, subset: v2, port: {number: 9080}}
    mirrorPercentage: {value: 50}
    corsPolicy:
      allowOrigins: [{exact: "https://a.example"}]
      allowMethods: [GET, POST]
      maxAge: 24h
    headers:
      request: {set: {x-a: "1"}, remove: [x-b]}
      response: {add: {x-c: "2"}}
    route:
    - destination: {host: reviews, subset: v2, port: {number: 9080}}
  - route:
    - destination: {host: reviews, port: {number: 9090}}
"#;

#[test_case("/items/12", "POST", &[], 0; "regex and method")]
#[test_case("/items/12", "GET", &[], 4; "method mismatch falls through")]
#[test_case("/x?debug=1", "GET", &[], 1; "query param")]
#[test_case("/anon/a", "GET", &[], 2; "without header absent")]
#[test_case("/anon/a", "GET", &[("x-user", "u")], 4; "without header present")]
#[test_case("/v1/list", "GET", &[], 3; "prefix")]
fn rich_rule_selection(
    path: &'static str,
    method: &'static str,
    headers: &[(&'static str, &'static str)],
    expected: usize,
) {
    let s = snapshot(RICH);
    let mut r = req(path);
    r.method = method;
    r.port = 9080;
    for (k, v) in headers {
        r = r.header(k, v);
    }
    let route = route_in(&s, "reviews", &r).unwrap();
    assert_eq!(route.origin.index, expected);
}

#[test]
fn rich_rule_contents() {
    let s = snapshot(RICH);
    let vh = s.mesh_table("default").lookup("reviews").unwrap();
    let routes = &s.virtual_hosts[vh].routes;
    let abort = routes[0]
        .fault
        .as_ref()
        .and_then(|f| f.abort.as_ref())
        .unwrap();
    assert_eq!(abort.status, AbortStatus::Http(503));
    assert_eq!(abort.percentage, 25.0);
    match &routes[1].action {
        RouteAction::Redirect(r) => {
            assert_eq!(r.code, 302);
            assert_eq!(r.authority.as_deref(), Some("debug.example.com"));
        }
        other => panic!("{other:?}"),
    }
    match &routes[2].action {
        RouteAction::DirectResponse(d) => {
            assert_eq!(d.status, 403);
            assert_eq!(&d.body[..], b"sign in");
        }
        other => panic!("{other:?}"),
    }
    let r = &routes[3];
    assert_eq!(r.timeout, Some(std::time::Duration::from_secs(3)));
    assert_eq!(r.retry.attempts, 4);
    assert_eq!(r.retry.retriable_status_codes, vec![429]);
    assert!(r.retry.retries_status(502));
    assert_eq!(r.mirrors.len(), 1);
    assert_eq!(r.mirrors[0].percentage, 50.0);
    let cors = r.cors.as_ref().unwrap();
    assert!(cors.allows("https://a.example"));
    assert_eq!(cors.max_age.as_ref().unwrap(), "86400");
    assert_eq!(r.headers.request.set.len(), 1);
    assert_eq!(r.headers.response.add.len(), 1);
    assert_eq!(r.rewrite.as_ref().unwrap().uri.as_deref(), Some("/v2"));
    match &routes[4].action {
        RouteAction::Forward(w) => {
            let c = w.destinations[0].target.resolve(9080).unwrap();
            assert_eq!(s.clusters[c].port, 9090);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn subset_and_port_overrides() {
    let s = snapshot(RICH);
    let lb = |name: &str| {
        s.clusters[s.cluster_by_name(name).unwrap()]
            .policy
            .load_balancer
            .clone()
    };
    assert!(matches!(
        lb("outbound|9080||reviews.default.svc.cluster.local"),
        LoadBalancer::ConsistentHash(ConsistentHash {
            algorithm: HashAlgorithm::Maglev { table_size: 1031 },
            ..
        })
    ));
    assert_eq!(
        lb("outbound|9090||reviews.default.svc.cluster.local"),
        LoadBalancer::RoundRobin
    );
    assert_eq!(
        lb("outbound|9080|v1|reviews.default.svc.cluster.local"),
        LoadBalancer::Random
    );
    assert!(matches!(
        lb("outbound|9080|v2|reviews.default.svc.cluster.local"),
        LoadBalancer::ConsistentHash(_)
    ));
    let grpc = &s.clusters[s
        .cluster_by_name("outbound|9090||reviews.default.svc.cluster.local")
        .unwrap()];
    assert_eq!(grpc.protocol, UpstreamProtocol::Http2);
}

const DELEGATION: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  selector: {app: api}
  ports: [{port: 80, name: http}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.example.com"]
    tls: {httpsRedirect: true}
  - port: {number: 8080, name: http-alt, protocol: HTTP}
    hosts: ["*.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root}
spec:
  hosts: ["shop.example.com"]
  gateways: [edge]
  http:
  - match: [{uri: {prefix: /api}}]
    delegate: {name: api-routes}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api-routes}
spec:
  http:
  - match: [{headers: {x-beta: {exact: "1"}}}]
    route: [{destination: {host: api}}]
    timeout: 2s
  - route: [{destination: {host: api}}]
"#;

#[test]
fn delegates_merge_matches_and_https_redirect_marks_hosts() {
    let s = snapshot(DELEGATION);
    let alt = s.gateway(8080).unwrap();
    let vh = alt.routes.lookup("shop.example.com").unwrap();
    let routes = &s.virtual_hosts[vh].routes;
    assert_eq!(routes.len(), 2);
    assert_eq!(routes[0].timeout, Some(std::time::Duration::from_secs(2)));
    let beta = req("/api/x").header("x-beta", "1");
    assert_eq!(s.route(vh, &beta.view()).unwrap().0.origin.index, 0);
    assert_eq!(
        s.route(vh, &req("/api/x").view()).unwrap().0.origin.index,
        1
    );
    assert!(s.route(vh, &req("/other").view()).is_none());
    let plain = s.gateway(80).unwrap();
    let vh = plain.routes.lookup("anything.example.com").unwrap();
    assert!(s.virtual_hosts[vh].https_redirect);
}

#[test]
fn invalid_bundles_are_refused() {
    let bundle = load_str(
        Path::new("/tmp/bad.yaml"),
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec: {hosts: [a]}\n",
        LoadOptions::default(),
    );
    assert!(matches!(
        compile(&bundle, 2),
        Err(SnapshotError::InvalidBundle(_))
    ));
}

#[test]
fn snapshots_serialize() {
    let s = snapshot(RICH);
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains("outbound|9080|v1|reviews.default.svc.cluster.local"));
    assert!(json.contains("/items/[0-9]+"));
}

/// The Gateway API's Gateway and HTTPRoute are served through the Istio objects they
/// translate to: a listener on the declared port, and the route's rules in precedence order.
#[test]
fn gateway_api_routes_compile_to_a_gateway_listener() {
    let s = snapshot(
        r#"apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: web-v2}
spec:
  selector: {app: web, version: v2}
  ports: [{name: http, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gw}]
  hostnames: [web.example.com]
  rules:
  - backendRefs: [{name: web, port: 80}]
  - matches: [{path: {value: /v2}}]
    backendRefs: [{name: web-v2, port: 80}]
"#,
    );
    assert_eq!(s.gateways.len(), 1);
    let listener = &s.gateways[0];
    assert_eq!(listener.port, 80);
    let vh = listener
        .routes
        .lookup("web.example.com")
        .expect("the route's host");
    let host_of = |path: &'static str| {
        let (route, _) = s.route(vh, &req(path).view()).expect("a route");
        match &route.action {
            RouteAction::Forward(w) => w.destinations[0].host.clone(),
            _ => String::new(),
        }
    };
    assert_eq!(host_of("/v2/x"), "web-v2.default.svc.cluster.local");
    assert_eq!(host_of("/v2"), "web-v2.default.svc.cluster.local");
    assert_eq!(host_of("/v2x"), "web.default.svc.cluster.local");
    assert!(listener.routes.lookup("other.example.com").is_none());
}

/// A VirtualService may name a Gateway API Gateway, as in Istio: its rules are served on that
/// Gateway's listeners.
#[test]
fn a_virtual_service_binds_to_a_gateway_api_gateway_by_name() {
    let s = snapshot(
        r#"apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP, hostname: "*.example.com"}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web.example.com]
  gateways: [gw]
  http:
  - route: [{destination: {host: web}}]
"#,
    );
    let listener = &s.gateways[0];
    assert_eq!(listener.port, 80);
    let vh = listener.routes.lookup("web.example.com").expect("bound");
    assert!(s.route(vh, &req("/").view()).is_some());
}

/// Cipher suites Meridian's TLS cannot serve are left out of what the server offers (as
/// Istio leaves out the names it does not know); with none left it offers its defaults.
#[test_case("[ECDHE-ECDSA-AES128-SHA, ECDHE-ECDSA-AES256-GCM-SHA384, ECDHE-ECDSA-AES256-GCM-SHA384]", &["ECDHE-ECDSA-AES256-GCM-SHA384"]; "unservable and duplicate left out")]
#[test_case("[not-a-cipher-suite, -ECDHE-ECDSA-AES128-SHA]", &[]; "none servable gives the defaults")]
fn a_gateway_offers_the_listed_cipher_suites_it_can_serve(listed: &str, offered: &[&str]) {
    let s = snapshot(&format!(
        r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 443, name: https, protocol: HTTPS}}
    hosts: [api.example.com]
    tls: {{mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem, cipherSuites: {listed}}}
"#
    ));
    let tls = s.gateways[0].servers[0].tls.as_ref().expect("TLS server");
    assert_eq!(tls.cipher_suites, offered);
}

/// A partial wildcard destination (`*foo.example.com`, accepted as Istio accepts it) names
/// no service: no service is registered under such a name, so requests routed there find
/// no cluster (503, `NC`).
#[test]
fn a_partial_wildcard_destination_finds_no_cluster() {
    let s = snapshot(
        r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: partial}
spec:
  hosts: ["*foo.example.com"]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web.example.com]
  http:
  - route: [{destination: {host: "*foo.example.com"}}]
"#,
    );
    let target = only_target(&s, "web.example.com");
    assert!(
        matches!(&target, ClusterTarget::Missing(m) if m == "no service \"*foo.example.com\""),
        "{target:?}"
    );
}

/// The target of the only destination of the route a request to `host` takes.
fn only_target(s: &Snapshot, host: &str) -> ClusterTarget {
    let vh = s.mesh_table("default").lookup(host).expect("the host");
    let (route, _) = s.route(vh, &req("/").view()).expect("a route");
    let RouteAction::Forward(w) = &route.action else {
        panic!("a forward: {:?}", route.action);
    };
    w.destinations[0].target.clone()
}

#[test]
fn a_wildcard_destination_goes_to_the_host_the_request_names() {
    let s = snapshot(
        r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: eu}
spec:
  hosts: ["*.eu.example.com"]
  ports: [{number: 80, name: http, protocol: HTTP}, {number: 8080, name: http-alt, protocol: HTTP}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web.example.com, api.example.com]
  http:
  - match: [{uri: {prefix: /api}}]
    route: [{destination: {host: "*.eu.example.com", port: {number: 8080}}}]
  - route: [{destination: {host: "*.eu.example.com", port: {number: 80}}}]
"#,
    );
    let vh = s
        .mesh_table("default")
        .lookup("web.example.com")
        .expect("host");
    let (api, _) = s.route(vh, &req("/api/x").view()).expect("a route");
    let RouteAction::Forward(w) = &api.action else {
        panic!("a forward: {:?}", api.action);
    };
    assert!(
        matches!(w.destinations[0].target, ClusterTarget::Dynamic(Some(8080))),
        "{:?}",
        w.destinations[0].target
    );
    assert!(matches!(
        only_target(&s, "web.example.com"),
        ClusterTarget::Dynamic(Some(80))
    ));
}

#[test]
fn a_wildcard_service_entry_host_routes_requests_to_the_names_they_give() {
    let s = snapshot(
        r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: eu}
spec:
  hosts: ["*.eu.example.com"]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DYNAMIC_DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: private, namespace: other}
spec:
  hosts: ["*.private.example.com"]
  exportTo: ["."]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: static}
spec:
  hosts: ["*.static.example.com"]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
"#,
    );
    assert!(matches!(
        only_target(&s, "api.eu.example.com"),
        ClusterTarget::Dynamic(None)
    ));
    // Exported to its own namespace only.
    assert!(
        s.mesh_table("default")
            .lookup("a.private.example.com")
            .is_none()
    );
    assert!(
        s.mesh_table("other")
            .lookup("a.private.example.com")
            .is_some()
    );
    // Endpoints of its own: a wildcard name has nothing to connect to.
    assert!(
        s.mesh_table("default")
            .lookup("a.static.example.com")
            .is_none()
    );
}

/// A server bound to a unix domain socket (port 0, accepted as Istio accepts it) is left
/// out with a note; the Gateway's TCP servers are served.
#[test]
fn a_unix_socket_server_is_left_out() {
    let s = snapshot(
        r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 0, name: uds, protocol: HTTP}
    hosts: [uds.example.com]
    bind: unix://@edge
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [web.example.com]
"#,
    );
    let ports: Vec<u16> = s.gateways.iter().map(|g| g.port).collect();
    assert_eq!(ports, [80]);
    assert_eq!(
        s.notes,
        [
            "gateway default/edge port 0: a unix domain socket bind is not served; the server is left out"
        ]
    );
}
