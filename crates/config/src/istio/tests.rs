//! The rules of Istio's validation webhook, each on a small document: the error Istio gives
//! (its words, at Meridian's `line:col`), or the acceptance where Istio accepts.

use test_case::test_case;

use crate::diag::Severity;

/// `(line:col, field, message)` of each diagnostic of `severity` that concerns the object
/// alone (cross-object checks carry an `istioctl analyze` code and are left out).
fn findings(doc: &str, severity: Severity) -> Vec<(String, String, String)> {
    let bundle = crate::load::load_str(
        std::path::Path::new("istio.yaml"),
        doc,
        crate::LoadOptions::default(),
    );
    bundle
        .diagnostics()
        .filter(|d| d.severity == severity && d.code.is_none())
        .map(|d| (d.span.to_string(), d.field.to_string(), d.message.clone()))
        .collect()
}

fn errors(doc: &str) -> Vec<(String, String, String)> {
    findings(doc, Severity::Error)
}

/// Asserts exactly one error, at `at` (`line:col`) on `field`, whose message holds `message`.
fn assert_one_error(doc: &str, at: &str, field: &str, message: &str) {
    let found = errors(doc);
    assert_eq!(found.len(), 1, "{found:#?}");
    let (span, f, m) = &found[0];
    assert_eq!((span.as_str(), f.as_str()), (at, field), "{m}");
    assert!(m.contains(message), "{m:?} does not hold {message:?}");
}

// ---- Gateway ------------------------------------------------------------------------------

const GATEWAY: &str = "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  servers:
";

#[test_case("~/shop.example.com", "invalid namespace value \"~\"" ; "tilde namespace")]
#[test_case("shop", "short names (non FQDN) are not allowed" ; "short name")]
#[test_case("ns1/shop", "short names (non FQDN) are not allowed" ; "short name after namespace")]
fn gateway_hosts_istio_refuses(host: &str, message: &str) {
    let doc = format!(
        "{GATEWAY}  - hosts: [\"{host}\"]\n    port: {{number: 80, name: http, protocol: HTTP}}\n"
    );
    assert_one_error(&doc, "6:13", "spec.servers[0].hosts[0]", message);
}

#[test]
fn a_unix_socket_bind_needs_port_zero() {
    let doc = format!(
        "{GATEWAY}  - hosts: [shop.example.com]\n    port: {{number: 7, name: http, protocol: HTTP}}\n    bind: unix://@shop\n"
    );
    assert_one_error(
        &doc,
        "7:20",
        "spec.servers[0].port.number",
        "port number must be 0 for unix domain socket",
    );
}

#[test]
fn https_redirect_on_an_https_server_is_a_warning() {
    let doc = format!(
        "{GATEWAY}  - hosts: [shop.example.com]\n    port: {{number: 443, name: https, protocol: HTTPS}}\n    tls: {{httpsRedirect: true}}\n"
    );
    assert_eq!(errors(&doc), vec![]);
    let warnings = findings(&doc, Severity::Warning);
    assert!(
        warnings
            .iter()
            .any(|(_, f, m)| f == "spec.servers[0].tls.httpsRedirect"
                && m == "tls.httpsRedirect should only be used with http servers"),
        "{warnings:#?}"
    );
}

#[test_case("mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem, credentialName: shop" ; "files and credentialName")]
#[test_case("mode: MUTUAL, serverCertificate: /c.pem, privateKey: /k.pem, caCertificates: /ca.pem, credentialNames: [shop]" ; "files and credentialNames")]
#[test_case("mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem, tlsCertificates: [{serverCertificate: /c.pem, privateKey: /k.pem}]" ; "files and tlsCertificates")]
fn one_certificate_source(tls: &str) {
    let doc = format!(
        "{GATEWAY}  - hosts: [shop.example.com]\n    port: {{number: 443, name: https, protocol: HTTPS}}\n    tls: {{{tls}}}\n"
    );
    assert_one_error(
        &doc,
        "8:10",
        "spec.servers[0].tls",
        "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified",
    );
}

#[test]
fn mutual_tls_certificates_still_need_a_client_ca() {
    let doc = format!(
        "{GATEWAY}  - hosts: [shop.example.com]\n    port: {{number: 443, name: https, protocol: HTTPS}}\n    tls: {{mode: MUTUAL, tlsCertificates: [{{serverCertificate: /c.pem, privateKey: /k.pem}}]}}\n"
    );
    assert_one_error(
        &doc,
        "8:10",
        "spec.servers[0].tls.caCertificates",
        "MUTUAL TLS requires CA certificates",
    );
}

#[test]
fn more_than_two_tls_certificates_is_a_warning() {
    let doc = format!(
        "{GATEWAY}  - hosts: [shop.example.com]\n    port: {{number: 443, name: https, protocol: HTTPS}}\n    tls:\n      mode: SIMPLE\n      tlsCertificates:\n      - {{serverCertificate: /a.pem, privateKey: /a.key}}\n      - {{serverCertificate: /b.pem, privateKey: /b.key}}\n      - {{serverCertificate: /c.pem, privateKey: /c.key}}\n"
    );
    assert_eq!(errors(&doc), vec![]);
    assert!(
        findings(&doc, Severity::Warning)
            .iter()
            .any(|(_, _, m)| m == "SIMPLE TLS can support up to 2 server certificates")
    );
}
