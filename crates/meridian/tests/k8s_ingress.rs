//! A Kubernetes Ingress of Istio's class through a real `meridian up`: two hosts, Exact and
//! Prefix paths and a default backend, each answered by the demo workload it names, checked
//! with curl through the gateway port the Ingress's port 80 maps to.

mod observe_support;

use observe_support::{Up, app_dir, curl, demo_service, tool};

const INGRESS: &str = r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: front
spec:
  ingressClassName: istio
  defaultBackend:
    service:
      name: fallback
      port: {number: 80}
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /api
        pathType: Prefix
        backend:
          service:
            name: api
            port: {name: http}
      - path: /about
        pathType: Exact
        backend:
          service:
            name: web
            port: {number: 80}
  - host: docs.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: docs
            port: {number: 80}
"#;

#[test]
fn an_ingress_routes_by_host_and_path_with_a_default_backend() {
    let Some(curl_bin) = tool("curl", "apt-get install curl") else {
        return;
    };
    let manifests = [
        demo_service("api", &[]),
        demo_service("web", &[]),
        demo_service("docs", &[]),
        demo_service("fallback", &[]),
        INGRESS.to_owned(),
    ]
    .join("---\n");
    let tmp = app_dir("app.yaml", &manifests);
    let up = Up::start(tmp.path(), "app", &[]);
    up.wait_ready(&[("api", 1), ("web", 1), ("docs", 1), ("fallback", 1)]);
    // The Gateway made from the Ingress serves port 80, mapped like any Gateway's.
    assert!(!up.gateway.is_empty(), "no gateway in {:#?}", up.banner);

    // Which service answers `host` + `path`, or the status when none does.
    let answer = |host: &str, path: &str| -> String {
        let url = format!("http://{}{path}", up.gateway);
        let (status, _, body) = curl(&curl_bin, &["-H", &format!("Host: {host}"), &url]);
        if status != 200 {
            return format!("status {status}: {body}");
        }
        let v: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{host}{path}: {e}: {body:?}"));
        assert_eq!(v["path"], path.split('?').next().unwrap_or(path), "{v}");
        v["service"].as_str().unwrap_or_default().to_owned()
    };

    // Prefix: whole path elements.
    assert_eq!(answer("shop.example.com", "/api"), "api");
    assert_eq!(answer("shop.example.com", "/api/"), "api");
    assert_eq!(answer("shop.example.com", "/api/v1/items?page=2"), "api");
    assert_eq!(answer("shop.example.com", "/apiary"), "fallback");
    // Exact: the whole path, nothing below it.
    assert_eq!(answer("shop.example.com", "/about"), "web");
    assert_eq!(answer("shop.example.com", "/about/deep"), "fallback");
    // The other host, with `/` as its prefix.
    assert_eq!(answer("docs.example.com", "/"), "docs");
    assert_eq!(answer("docs.example.com", "/guide/intro"), "docs");
    assert_eq!(answer("docs.example.com", "/api"), "docs");
    // Unmatched paths and hosts go to the default backend.
    assert_eq!(answer("shop.example.com", "/"), "fallback");
    assert_eq!(answer("other.example.com", "/api"), "fallback");
}
