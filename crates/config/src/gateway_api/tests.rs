//! Reading Gateway API objects (positions of what is wrong) and their translation into
//! Istio's model.

use std::path::Path;

use crate::diag::{Diagnostic, Severity};
use crate::istio::networking as net;
use crate::{Bundle, Kind, LoadOptions, Resource, load_str};

fn load(text: &str) -> Bundle {
    load_str(Path::new("gw.yaml"), text, LoadOptions::default())
}

/// `line:col severity field: message` of every finding, for readable assertions.
fn said(b: &Bundle) -> Vec<String> {
    b.diagnostics()
        .map(|d: &Diagnostic| {
            format!(
                "{}:{} {} {}: {}",
                d.span.line,
                d.span.col,
                if d.severity == Severity::Error {
                    "error"
                } else {
                    "warning"
                },
                d.field,
                d.message
            )
        })
        .collect()
}

fn translated(b: &Bundle) -> Vec<&Resource> {
    b.docs.iter().flat_map(|d| d.translated.iter()).collect()
}

fn virtual_services(b: &Bundle) -> Vec<&crate::Object<net::VirtualServiceSpec>> {
    translated(b)
        .into_iter()
        .filter_map(|r| match r {
            Resource::VirtualService(v) => Some(v),
            _ => None,
        })
        .collect()
}

const SERVICES: &str = r#"apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: other}
spec:
  selector: {app: api}
  ports: [{port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP, hostname: "*.example.com"}
"#;

#[test]
fn the_group_tells_the_two_gateways_apart() {
    let b = load(
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n---\n\
         apiVersion: gateway.networking.k8s.io/v1beta1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  gatewayClassName: istio\n  listeners: [{name: http, port: 81, protocol: HTTP}]\n",
    );
    assert!(b.is_valid(), "{:?}", said(&b));
    let kinds: Vec<Kind> = b.resources().map(Resource::kind).collect();
    assert_eq!(kinds, [Kind::Gateway, Kind::KubernetesGateway]);
    assert_eq!(
        Kind::KubernetesGateway.qualified_name(),
        "gateway.gateway.networking.k8s.io"
    );
}

#[test]
fn a_misspelled_field_and_a_wrong_enum_value_are_named_at_their_line() {
    let b = load(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches:
    - path: {type: Prefix, value: /api}
    backendRef: [{name: web, port: 80}]
"#,
    );
    let s = said(&b);
    assert!(
        s.iter().any(|l| l.starts_with(
            "8:20 error spec.rules[0].matches[0].path.type: unsupported value \"Prefix\""
        )),
        "{s:?}"
    );
    assert!(
        s.iter()
            .any(|l| l
                .starts_with("9:5 error spec.rules[0].backendRef: unknown field \"backendRef\"")),
        "{s:?}"
    );
    let hints: Vec<&str> = b.diagnostics().filter_map(|d| d.hint.as_deref()).collect();
    assert!(
        hints.contains(&"one of: Exact, PathPrefix, RegularExpression"),
        "{hints:?}"
    );
    assert!(
        hints.contains(&"did you mean \"backendRefs\"?"),
        "{hints:?}"
    );
}

#[test]
fn the_api_servers_rules_are_checked() {
    let b = load(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches:
    - path: {type: Exact, value: api}
    filters:
    - type: RequestRedirect
      urlRewrite: {hostname: a.example.com}
    backendRefs: [{name: web}]
"#,
    );
    let s = said(&b);
    for want in [
        "8:34 error spec.rules[0].matches[0].path.value: Invalid value: \"api\": value must be an absolute path",
        "10:7 error spec.rules[0].filters[0].requestRedirect: Required value: filter.requestRedirect must be specified for RequestRedirect filter.type",
        "11:19 error spec.rules[0].filters[0].urlRewrite: Forbidden: filter.urlRewrite must be nil",
        "12:19 error spec.rules[0].backendRefs[0].port: Required value: must have port for Service reference",
    ] {
        assert!(s.iter().any(|l| l.starts_with(want)), "{want}\n{s:#?}");
    }
}

#[test]
fn a_gateway_and_route_become_an_istio_gateway_and_an_ordered_virtual_service() {
    let b = load(&format!(
        "{SERVICES}---\n{}",
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gw}]
  hostnames: [a.example.com, other.org]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs: [{name: web, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /api/}}, {path: {type: PathPrefix, value: /api/v2}}]
    backendRefs: [{name: web, port: 80, weight: 3}]
  - matches: [{path: {type: Exact, value: /login}, method: POST}]
    backendRefs: [{name: web, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /none}}]
"#
    ));
    assert!(b.is_valid(), "{:?}", said(&b));
    let gateways: Vec<&crate::Object<net::GatewaySpec>> = translated(&b)
        .into_iter()
        .filter_map(|r| match r {
            Resource::Gateway(g) => Some(g),
            _ => None,
        })
        .collect();
    assert_eq!(gateways.len(), 1);
    assert_eq!(
        gateways[0].name(),
        "gw-istio-autogenerated-k8s-gateway-http"
    );
    let server = &gateways[0].spec.servers[0];
    assert_eq!(server.port.as_ref().and_then(|p| p.number), Some(80));
    assert_eq!(server.hosts, ["*/*.example.com"]);

    let vs = virtual_services(&b);
    assert_eq!(vs.len(), 1, "other.org is not the listener's");
    assert_eq!(vs[0].spec.hosts, ["a.example.com"]);
    assert_eq!(
        vs[0].spec.gateways,
        ["default/gw-istio-autogenerated-k8s-gateway-http"]
    );
    let uris: Vec<String> = vs[0]
        .spec
        .http
        .iter()
        .map(|r| {
            let u = r.matches[0].uri.as_ref().expect("uri");
            format!(
                "{}{}",
                if u.exact.is_some() { "=" } else { "^" },
                u.exact.clone().or(u.prefix.clone()).unwrap_or_default()
            )
        })
        .collect();
    // Exact first, then prefixes longest first (each as the prefix itself and below it), `/`
    // last.
    assert_eq!(
        uris,
        [
            "=/login",
            "=/api/v2",
            "^/api/v2/",
            "=/none",
            "^/none/",
            "=/api",
            "^/api/",
            "^/"
        ]
    );
    assert_eq!(
        vs[0].spec.http[0].matches[0]
            .method
            .as_ref()
            .and_then(|m| m.exact.as_deref()),
        Some("POST")
    );
    // A rule without backends answers 500.
    assert_eq!(
        vs[0].spec.http[3]
            .direct_response
            .as_ref()
            .and_then(|d| d.status),
        Some(500)
    );
    let dest = vs[0].spec.http[1].route[0]
        .destination
        .as_ref()
        .expect("destination");
    assert_eq!(dest.host.as_deref(), Some("web.default.svc.cluster.local"));
    assert_eq!(vs[0].spec.http[1].route[0].weight, Some(3));
}

#[test]
fn another_namespace_needs_a_reference_grant_there() {
    let route = r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{name: api, namespace: other, port: 8080}]
"#;
    let b = load(&format!("{SERVICES}---\n{route}"));
    let s = said(&b);
    assert!(
        s.iter().any(|l| l.starts_with("29:42 warning spec.rules[0].backendRefs[0].namespace: backend Service other/api is in another namespace and no ReferenceGrant there allows it (RefNotPermitted)")),
        "{s:#?}"
    );
    let vs = virtual_services(&b);
    assert_eq!(
        vs[0].spec.http[0]
            .direct_response
            .as_ref()
            .and_then(|d| d.status),
        Some(500)
    );

    let grant = r#"apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: from-default, namespace: other}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}]
  to: [{group: "", kind: Service, name: api}]
"#;
    let b = load(&format!("{SERVICES}---\n{route}---\n{grant}"));
    assert!(said(&b).is_empty(), "{:?}", said(&b));
    let vs = virtual_services(&b);
    let dest = vs[0].spec.http[0].route[0]
        .destination
        .as_ref()
        .expect("destination");
    assert_eq!(dest.host.as_deref(), Some("api.other.svc.cluster.local"));
}

#[test]
fn what_does_not_attach_says_why() {
    let b = load(&format!(
        "{SERVICES}---\n{}",
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gw}, {name: gw, sectionName: https}, {name: gateway}]
  hostnames: [other.org]
  rules:
  - backendRefs: [{name: wbe, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: elsewhere, namespace: other}
spec:
  parentRefs: [{name: gw, namespace: default}]
  rules:
  - backendRefs: [{name: api, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: theirs}
spec:
  gatewayClassName: nginx
  listeners: [{name: http, port: 8081, protocol: HTTP}]
"#
    ));
    let s = said(&b);
    for want in [
        "warning spec.hostnames: none of the route's hostnames matches a listener of Gateway default/gw (NoMatchingListenerHostname)",
        "warning spec.parentRefs[1]: Gateway default/gw has no listener \"https\" (NoMatchingParent)",
        "warning spec.parentRefs[2].name: parent Gateway default/gateway not found (NoMatchingParent)",
        "warning spec.parentRefs[0]: no listener of Gateway default/gw allows HTTPRoute from namespace \"other\" (NotAllowedByListeners)",
        "warning spec.gatewayClassName: Gateway default/theirs of class \"nginx\" is not served",
    ] {
        assert!(s.iter().any(|l| l.contains(want)), "{want}\n{s:#?}");
    }
    assert!(b.is_valid(), "warnings only");
    assert!(virtual_services(&b).is_empty());
}

#[test]
fn a_grpc_method_is_a_path() {
    let b = load(&format!(
        "{SERVICES}---\n{}",
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: echo}
spec:
  parentRefs: [{name: gw}]
  hostnames: [grpc.example.com]
  rules:
  - matches: [{method: {service: echo.Echo, method: Say}}]
    backendRefs: [{name: web, port: 80}]
  - matches: [{method: {type: RegularExpression, method: "S.*"}}]
    backendRefs: [{name: web, port: 80}]
"#
    ));
    assert!(b.is_valid(), "{:?}", said(&b));
    let vs = virtual_services(&b);
    let uri = |i: usize| vs[0].spec.http[i].matches[0].uri.clone().expect("uri");
    assert_eq!(uri(0).exact.as_deref(), Some("/echo.Echo/Say"));
    assert_eq!(uri(1).regex.as_deref(), Some("/[^/]+/S.*"));
}

#[test]
fn a_route_to_a_service_is_a_mesh_route() {
    let b = load(&format!(
        "{SERVICES}---\n{}",
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web-split}
spec:
  parentRefs: [{group: "", kind: Service, name: web, port: 80}]
  rules:
  - backendRefs: [{name: web, port: 80}]
"#
    ));
    assert!(b.is_valid(), "{:?}", said(&b));
    let vs = virtual_services(&b);
    assert_eq!(vs[0].spec.hosts, ["web.default.svc.cluster.local"]);
    assert!(vs[0].spec.gateways.is_empty(), "bound to the mesh");
    assert_eq!(vs[0].spec.http[0].matches[0].port, Some(80));
}

#[test]
fn prefix_rewrites_replace_whole_segments() {
    let b = load(&format!(
        "{SERVICES}---\n{}",
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {value: /api}}]
    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v1}}}]
    backendRefs: [{name: web, port: 80}]
"#
    ));
    assert!(b.is_valid(), "{:?}", said(&b));
    let vs = virtual_services(&b);
    let rewrites: Vec<Option<String>> = vs[0]
        .spec
        .http
        .iter()
        .map(|r| r.rewrite.as_ref().and_then(|w| w.uri.clone()))
        .collect();
    // `/api` → `/v1`, `/api/x` → `/v1/x`.
    assert_eq!(rewrites, [Some("/v1".to_owned()), Some("/v1/".to_owned())]);
}

#[test]
fn an_invalid_backend_beside_valid_ones_gives_them_its_share() {
    let b = load(&format!(
        "{SERVICES}---\n{}",
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{name: web, port: 80}, {name: gone, port: 80}, {name: web, port: 81}]
    filters:
    - type: CORS
      cors: {allowOrigins: ["https://*.example.com"], allowMethods: [GET], maxAge: 60}
"#
    ));
    let s = said(&b);
    assert!(
        s.iter().any(|l| l.contains("backendRefs[1].name: backend Service default/gone not found (BackendNotFound): its share of requests goes to the rule's other backends")),
        "{s:#?}"
    );
    assert!(
        s.iter()
            .any(|l| l.contains("backendRefs[2].port: Service default/web has no port 81")),
        "{s:#?}"
    );
    let vs = virtual_services(&b);
    let rule = &vs[0].spec.http[0];
    assert_eq!(rule.route.len(), 1);
    let cors = rule.cors_policy.as_ref().expect("cors");
    assert_eq!(
        cors.allow_origins[0].regex.as_deref(),
        Some(r"https://.*\.example\.com")
    );
    assert_eq!(
        cors.max_age.as_ref().map(ToString::to_string).as_deref(),
        Some("60s")
    );
}

#[test]
fn an_https_listener_takes_its_certificate_secret_as_credential_name() {
    let b = load(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    hostname: web.example.com
    tls: {certificateRefs: [{name: web-cert}]}
  - name: other
    port: 8443
    protocol: HTTPS
    tls: {certificateRefs: [{name: cert, namespace: certs}]}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: gateways, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: default}]
  to: [{group: "", kind: Secret}]
"#,
    );
    let tls: Vec<(u32, Option<String>)> = translated(&b)
        .into_iter()
        .filter_map(|r| match r {
            Resource::Gateway(g) => Some(g),
            _ => None,
        })
        .flat_map(|g| g.spec.servers.iter())
        .map(|s| {
            (
                s.port.as_ref().and_then(|p| p.number).unwrap_or_default(),
                s.tls.as_ref().and_then(|t| t.credential_name.clone()),
            )
        })
        .collect();
    assert_eq!(
        tls,
        [
            (443, Some("web-cert".to_owned())),
            (8443, Some("kubernetes-gateway://certs/cert".to_owned()))
        ]
    );
    assert!(said(&b).is_empty(), "{:#?}", said(&b));
}
