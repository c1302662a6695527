//! HTTPS from certificates kept in Kubernetes Secrets, through a real `meridian up`: a
//! Kubernetes Ingress whose `tls` names a Secret in `istio-system` (as Istio's ingress reads
//! it) and a Gateway API Gateway whose HTTPS listeners name one in its own namespace and one
//! in another namespace that a ReferenceGrant there allows, each checked with curl, verifying the certificate, through the gateway port it maps to.

mod observe_support;

use std::path::Path;
use std::process::Command;

use observe_support::{Up, app_dir, curl, demo_service, tool};

/// A self-signed certificate for `host` (its own CA for curl's `--cacert`): the PEM files'
/// paths.
fn certificate(dir: &Path, openssl: &Path, host: &str) -> (String, String) {
    let crt = dir.join(format!("{host}.crt"));
    let key = dir.join(format!("{host}.key"));
    let out = Command::new(openssl)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", &format!("/CN={host}")])
        .args(["-addext", &format!("subjectAltName=DNS:{host}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        crt.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    )
}

/// A `kubernetes.io/tls` Secret with the PEM files under `stringData`.
fn tls_secret(name: &str, namespace: &str, crt: &str, key: &str) -> String {
    let indent = |file: &str| {
        std::fs::read_to_string(file)
            .expect("pem")
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {namespace}}}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}\n  tls.key: |\n{}\n",
        indent(crt),
        indent(key)
    )
}

const INGRESS: &str = r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
spec:
  ingressClassName: istio
  tls:
  - hosts: [shop.example.com]
    secretName: shop-cert
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: shop
            port: {number: 80}
"#;

const GATEWAY_API: &str = r#"apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: docs}
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    port: 9443
    protocol: HTTPS
    hostname: docs.example.com
    tls: {certificateRefs: [{name: docs-cert}]}
  - name: wiki
    port: 9444
    protocol: HTTPS
    hostname: wiki.example.com
    tls: {certificateRefs: [{name: wiki-cert, namespace: certs}]}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: gateways, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: default}]
  to: [{group: "", kind: Secret}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: docs}
spec:
  parentRefs: [{name: docs}]
  rules:
  - backendRefs: [{name: docs, port: 80}]
"#;

#[test]
fn certificates_from_secrets_serve_https_for_an_ingress_and_a_gateway_api_listener() {
    let Some(curl_bin) = tool("curl", "apt-get install curl") else {
        return;
    };
    let Some(openssl) = tool("openssl", "apt-get install openssl") else {
        return;
    };
    let certs = tempfile::tempdir().expect("tempdir");
    let (shop_crt, shop_key) = certificate(certs.path(), &openssl, "shop.example.com");
    let (docs_crt, docs_key) = certificate(certs.path(), &openssl, "docs.example.com");
    let (wiki_crt, wiki_key) = certificate(certs.path(), &openssl, "wiki.example.com");
    let manifests = [
        demo_service("shop", &[]),
        demo_service("docs", &[]),
        tls_secret("shop-cert", "istio-system", &shop_crt, &shop_key),
        tls_secret("docs-cert", "default", &docs_crt, &docs_key),
        // The granted Secret in another namespace, and one of the same name in the Gateway's
        // own namespace that must not be the one read.
        tls_secret("wiki-cert", "certs", &wiki_crt, &wiki_key),
        tls_secret("wiki-cert", "default", &docs_crt, &docs_key),
        INGRESS.to_owned(),
        GATEWAY_API.to_owned(),
    ]
    .join("---\n");
    let tmp = app_dir("app.yaml", &manifests);
    let up = Up::start(
        tmp.path(),
        "app",
        &[
            "--gateway-port",
            "443=0",
            "--gateway-port",
            "9443=0",
            "--gateway-port",
            "9444=0",
        ],
    );
    up.wait_ready(&[("shop", 1), ("docs", 1)]);

    // The banner says https for both ports, at the addresses they were given.
    let shop = up.banner_address("Gateway port 443;", "https://");
    let docs = up.banner_address("Gateway port 9443;", "https://");
    let wiki = up.banner_address("Gateway port 9444;", "https://");
    let answer = |base: &str, host: &str, ca: &str| {
        let port = base.rsplit(':').next().unwrap_or_default().to_owned();
        let url = format!("https://{host}:{port}/hello");
        let resolve = format!("{host}:{port}:127.0.0.1");
        let (status, _, body) = curl(&curl_bin, &["--cacert", ca, "--resolve", &resolve, &url]);
        (status, body)
    };
    let service = |body: &str| -> String {
        serde_json::from_str::<serde_json::Value>(body)
            .map(|v| v["service"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_else(|e| panic!("{e}: {body:?}"))
    };

    let (status, body) = answer(&shop, "shop.example.com", &shop_crt);
    assert_eq!(status, 200, "{body}");
    assert_eq!(service(&body), "shop");
    let (status, body) = answer(&docs, "docs.example.com", &docs_crt);
    assert_eq!(status, 200, "{body}");
    assert_eq!(service(&body), "docs");
    // A listener's granted reference to a Secret of another namespace reads that Secret.
    let (status, body) = answer(&wiki, "wiki.example.com", &wiki_crt);
    assert_eq!(status, 200, "{body}");
    assert_eq!(service(&body), "docs");
    // Each listener presents its own Secret's certificate: the other one's CA fails.
    let (status, _) = answer(&docs, "docs.example.com", &shop_crt);
    assert_eq!(
        status, 0,
        "docs.example.com verified against shop's certificate"
    );
}
