//! The Kubernetes Gateway API through a real `meridian up`: a Gateway of class `istio` and an
//! HTTPRoute to demo workloads, served by Meridian's gateway as Istio serves them — weighted
//! backends, path and header matches, a redirect, header modifiers, a prefix rewrite, and a
//! backend in another namespace with and without a ReferenceGrant there, and a mesh route
//! (an HTTPRoute whose parent is a Service) that a replica's calls follow.

mod observe_support;

use std::collections::BTreeMap;

use observe_support::{Up, app_dir, curl, get, tool};

/// A demo Deployment and its Service (port 80 → the replica's 3000); its pods are labelled
/// `tier: <service>` too.
fn workload(name: &str, namespace: &str, service: &str, version: &str, extra: &str) -> String {
    format!(
        r#"---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: 3000}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}, tier: {service}}}}}
    spec:
      containers:
      - name: app
        command: [meridian, demo-app, --service, {service}, --version, {version}{extra}]
        ports: [{{containerPort: 3000}}]
        readinessProbe: {{httpGet: {{path: /readyz, port: 3000}}, periodSeconds: 1}}
"#
    )
}

const ROUTES: &str = r#"---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: Namespace
metadata: {name: vault}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: istio
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes: {namespaces: {from: Same}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gw}]
  hostnames: [web.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /split}}]
    backendRefs:
    - {name: web-v1, port: 80, weight: 80}
    - {name: web-v2, port: 80, weight: 20}
  - matches:
    - path: {type: PathPrefix, value: /v2}
    - headers: [{name: x-version, value: v2}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-route, value: v2}]}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {add: [{name: x-served-by, value: meridian}]}
    backendRefs: [{name: web-v2, port: 80}]
  - matches: [{path: {type: Exact, value: /old}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /new}, statusCode: 301}
  - matches: [{path: {type: PathPrefix, value: /api}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}
    backendRefs: [{name: api, namespace: other, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /secret}}]
    backendRefs: [{name: secret, namespace: vault, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /client}}]
    backendRefs: [{name: client, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /slow}}]
    backendRefs: [{name: slow, port: 80}]
    timeouts: {request: 300ms}
  - backendRefs: [{name: web-v1, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {tier: web}
  ports: [{name: http, port: 80, targetPort: 3000}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web-mesh}
spec:
  parentRefs: [{group: "", kind: Service, name: web, port: 80}]
  rules:
  - backendRefs: [{name: web-v2, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: routes-from-default, namespace: other}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}]
  to: [{group: "", kind: Service}]
"#;

fn manifests() -> String {
    let mut m = String::new();
    m.push_str(&workload("web-v1", "default", "web", "v1", ""));
    m.push_str(&workload("web-v2", "default", "web", "v2", ""));
    m.push_str(&workload("api", "other", "api", "v1", ""));
    m.push_str(&workload("secret", "vault", "secret", "v1", ""));
    m.push_str(&workload(
        "client",
        "default",
        "client",
        "v1",
        ", --call, \"http://web/\"",
    ));
    m.push_str(&workload(
        "slow",
        "default",
        "slow",
        "v1",
        ", --latency, 3s",
    ));
    m.push_str(ROUTES);
    m
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn an_http_route_is_served_by_the_gateway_as_istio_serves_it() {
    let Some(curl_bin) = tool("curl", "apt-get install curl") else {
        return;
    };
    let tmp = app_dir("gateway-api.yaml", &manifests());

    // What `meridian validate` says first: the backend without a ReferenceGrant, at its line.
    let out = observe_support::meridian()
        .current_dir(tmp.path())
        .args(["validate", "-f", "app/gateway-api.yaml"])
        .output()
        .expect("validate runs");
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    let line = said
        .lines()
        .find(|l| l.contains("RefNotPermitted"))
        .unwrap_or_else(|| panic!("no RefNotPermitted warning in {said}"));
    assert!(
        line.contains("app/gateway-api.yaml:")
            && line.contains("warning: HTTPRoute/web: spec.rules[4].backendRefs[0].namespace")
            && line.contains("vault/secret"),
        "{line}"
    );
    assert_eq!(
        said.matches("RefNotPermitted").count(),
        1,
        "the backend in `other`, granted, is not refused: {said}"
    );

    let up = Up::start(tmp.path(), "app", &[]);
    up.wait_ready(&[
        ("web-v1", 1),
        ("web-v2", 1),
        ("api", 1),
        ("secret", 1),
        ("client", 1),
        ("slow", 1),
    ]);
    assert!(!up.gateway.is_empty(), "a gateway line: {:#?}", up.banner);
    let gw = up.gateway.clone();
    let host = [("Host", "web.example.com")];
    let version = |path: &str, headers: &[(&str, &str)]| {
        let (status, body) = get(&gw, path, headers);
        assert_eq!(status, 200, "{path}: {body}");
        json(&body)["version"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    // Readiness reaches the gateway a moment after the status says so.
    observe_support::eventually(
        "the route answers",
        std::time::Duration::from_secs(30),
        || (get(&gw, "/", &host).0 == 200).then_some(()),
    );

    // Weights: 80/20 between the two versions.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..100 {
        *seen.entry(version("/split", &host)).or_default() += 1;
    }
    let (v1, v2) = (seen.get("v1").copied(), seen.get("v2").copied());
    assert!(
        v1.unwrap_or(0) > v2.unwrap_or(0)
            && v2.unwrap_or(0) > 0
            && v1.unwrap_or(0) + v2.unwrap_or(0) == 100,
        "80/20 split: {seen:?}"
    );

    // A path prefix matches whole segments; a header match alone routes too.
    assert_eq!(version("/v2/anything", &host), "v2");
    assert_eq!(version("/v2", &host), "v2");
    assert_eq!(version("/v2x", &host), "v1", "/v2x is not under /v2");
    assert_eq!(
        version("/", &[("Host", "web.example.com"), ("x-version", "v2")]),
        "v2"
    );
    assert_eq!(version("/", &host), "v1", "the rule without matches");

    // Header modifiers: on the request the backend sees, and on the response.
    let url = format!("http://{gw}/v2/echo");
    let (status, head, body) = curl(&curl_bin, &["-H", "Host: web.example.com", &url]);
    assert_eq!(status, 200, "{head}{body}");
    assert_eq!(json(&body)["headers"]["x-route"], "v2", "{body}");
    assert!(head.contains("x-served-by: meridian"), "{head}");

    // A redirect answers without a backend.
    let url = format!("http://{gw}/old?q=1");
    let (status, head, _) = curl(&curl_bin, &["-H", "Host: web.example.com", &url]);
    assert_eq!(status, 301, "{head}");
    assert!(
        head.contains("location: http://web.example.com/new?q=1"),
        "{head}"
    );

    // Another namespace: allowed by the ReferenceGrant there, the prefix replaced by `/`.
    let (status, body) = get(&gw, "/api/items", &host);
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["service"], "api", "{v}");
    assert_eq!(v["path"], "/items", "{v}");

    // Another namespace without a ReferenceGrant: not served, 500 as the specification says.
    let (status, body) = get(&gw, "/secret", &host);
    assert_eq!(status, 500, "{body}");

    // A mesh route: the client's calls to the Service `web` (both versions behind it) all go
    // to v2, as the HTTPRoute whose parent is that Service says.
    for _ in 0..10 {
        let (status, body) = get(&gw, "/client", &host);
        assert_eq!(status, 200, "{body}");
        let v = json(&body);
        assert_eq!(v["service"], "client", "{v}");
        assert_eq!(v["upstream"][0]["status"], 200, "{v}");
        assert_eq!(v["upstream"][0]["body"]["version"], "v2", "{v}");
    }

    // `timeouts.request`: a backend slower than the rule allows is answered 504 in time.
    let started = std::time::Instant::now();
    let (status, body) = get(&gw, "/slow", &host);
    assert_eq!(status, 504, "{body}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // A host no route names.
    let (status, _) = get(&gw, "/", &[("Host", "other.example.com")]);
    assert_eq!(status, 404);
}
