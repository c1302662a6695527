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
fn a_unix_socket_bind_with_port_zero_is_accepted_with_a_warning() {
    let doc = format!(
        "{GATEWAY}  - hosts: [shop.example.com]\n    port: {{number: 0, name: http, protocol: HTTP}}\n    bind: unix://@shop\n"
    );
    assert_eq!(errors(&doc), vec![]);
    assert_eq!(
        warnings(&doc),
        vec![(
            "8:11".to_owned(),
            "spec.servers[0].bind".to_owned(),
            "a unix domain socket is not served: Meridian's gateways listen on TCP ports, so this server is left out".to_owned()
        )]
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

fn warnings(doc: &str) -> Vec<(String, String, String)> {
    findings(doc, Severity::Warning)
}

fn https_server_with_cipher_suites(suites: &[&str]) -> String {
    let mut doc = format!(
        "{GATEWAY}  - hosts: [shop.example.com]\n    port: {{number: 443, name: https, protocol: HTTPS}}\n    tls:\n      mode: SIMPLE\n      credentialName: shop\n      cipherSuites:\n"
    );
    for s in suites {
        doc.push_str(&format!("      - {s}\n"));
    }
    doc
}

#[test]
fn a_cipher_suite_meridian_cannot_serve_is_left_out_with_a_warning() {
    let doc = https_server_with_cipher_suites(&[
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    ]);
    assert_eq!(errors(&doc), vec![]);
    assert_eq!(
        warnings(&doc),
        vec![
            (
                "12:9".to_owned(),
                "spec.servers[0].tls.cipherSuites[0]".to_owned(),
                "cipher suite \"ECDHE-ECDSA-AES128-SHA\" is not offered: Meridian's TLS does not serve it".to_owned()
            ),
            (
                "14:9".to_owned(),
                "spec.servers[0].tls.cipherSuites[2]".to_owned(),
                "cipher suite \"ECDHE-ECDSA-AES256-GCM-SHA384\" is listed more than once".to_owned()
            ),
        ]
    );
}

#[test_case(&["not-a-cipher-suite"] ; "unknown name")]
#[test_case(&["-ECDHE-ECDSA-AES128-SHA"] ; "cipher list operation")]
#[test_case(&["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES128-SHA"] ; "duplicate cbc suite")]
fn with_no_servable_cipher_suite_the_defaults_are_offered(suites: &[&str]) {
    let doc = https_server_with_cipher_suites(suites);
    assert_eq!(errors(&doc), vec![]);
    let found = warnings(&doc);
    assert!(
        found.iter().any(|(at, field, m)| at == "12:9"
            && field == "spec.servers[0].tls.cipherSuites[0]"
            && m == &format!(
                "cipher suite {:?} is not offered: Meridian's TLS does not serve it",
                suites[0]
            )),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|(at, field, m)| at == "12:9"
            && field == "spec.servers[0].tls.cipherSuites"
            && m.starts_with("none of the listed cipher suites is served: Meridian's TLS offers its default suites instead (ECDHE-ECDSA-AES128-GCM-SHA256, ")),
        "{found:#?}"
    );
}

// ---- VirtualService -----------------------------------------------------------------------

const VIRTUAL_SERVICE: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  hosts: [shop.example.com]
  http:
";

#[test_case("abc%123", "Un-terminated variable expression" ; "unterminated variable")]
#[test_case("%START_TIME%%", "Un-escaped %" ; "trailing percent")]
fn header_values_follow_envoys_syntax(value: &str, message: &str) {
    let doc = format!(
        "{VIRTUAL_SERVICE}  - route: [{{destination: {{host: shop.example.com}}}}]\n    headers:\n      request:\n        set: {{x-shop: \"{value}\"}}\n"
    );
    assert_one_error(
        &doc,
        "10:23",
        "spec.http[0].headers.request.set[x-shop]",
        message,
    );
}

#[test_case("%HOSTNAME%" ; "variable")]
#[test_case("100%%" ; "escaped percent")]
#[test_case("%DOWNSTREAM_PEER_CERT_V_END(%b %d %H:%M:%S %Y %Z)%" ; "variable with arguments")]
fn header_values_istio_accepts_are_accepted_with_a_warning(value: &str) {
    let doc = format!(
        "{VIRTUAL_SERVICE}  - route: [{{destination: {{host: shop.example.com}}}}]\n    headers:\n      request:\n        set: {{x-shop: \"{value}\"}}\n"
    );
    assert_eq!(errors(&doc), vec![]);
    assert!(
        findings(&doc, Severity::Warning)
            .iter()
            .any(|(_, _, m)| m.contains("Meridian does not")),
    );
}

#[test]
fn a_null_header_match_is_refused() {
    let doc = format!(
        "{VIRTUAL_SERVICE}  - route: [{{destination: {{host: shop.example.com}}}}]\n    match:\n    - headers:\n        x-shop: null\n"
    );
    let found = errors(&doc);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].1, "spec.http[0].match[0]");
    assert_eq!(found[0].2, "header match x-shop cannot be null");
}

#[test]
fn the_authority_is_rewritten_in_one_place() {
    let doc = format!(
        "{VIRTUAL_SERVICE}  - route: [{{destination: {{host: shop.example.com}}}}]\n    rewrite: {{authority: a.example.com}}\n    headers:\n      request:\n        set: {{\":authority\": b.example.com}}\n"
    );
    assert_one_error(
        &doc,
        "11:15",
        "spec.http[0].headers.request.set[\":authority\"]",
        "authority header cannot be set multiple times: have \"a.example.com\", attempting to set \"b.example.com\"",
    );
}

#[test_case("{perTryTimeout: 2s}", "8:30", "perTryTimeout" ; "per try timeout")]
#[test_case("{attempts: 0, retryOn: 5xx}", "8:37", "retryOn" ; "retry on")]
#[test_case("{retryRemoteLocalities: false}", "8:38", "retryRemoteLocalities" ; "remote localities")]
fn a_retry_policy_with_zero_attempts_is_refused(retries: &str, at: &str, field: &str) {
    let doc = format!(
        "{VIRTUAL_SERVICE}  - route: [{{destination: {{host: shop.example.com}}}}]\n    retries: {retries}\n"
    );
    assert_one_error(
        &doc,
        at,
        &format!("spec.http[0].retries.{field}"),
        "http retry policy configured when attempts are set to 0 (disabled)",
    );
}

#[test]
fn weights_above_100_are_split_in_proportion() {
    let doc = format!(
        "{VIRTUAL_SERVICE}  - route:\n    - {{destination: {{host: a.example.com}}, weight: 550}}\n    - {{destination: {{host: b.example.com}}, weight: 500}}\n"
    );
    assert_eq!(errors(&doc), vec![]);
}

#[test]
fn status_600_is_a_status_istio_accepts() {
    let doc = format!(
        "{VIRTUAL_SERVICE}  - route: [{{destination: {{host: shop.example.com}}}}]\n    fault: {{abort: {{httpStatus: 600, percentage: {{value: 1}}}}}}\n"
    );
    assert_eq!(errors(&doc), vec![]);
    let doc = format!("{VIRTUAL_SERVICE}  - directResponse: {{status: 601}}\n");
    assert_one_error(
        &doc,
        "7:30",
        "spec.http[0].directResponse.status",
        "status 601 is not in range 200-600",
    );
}

#[test]
fn a_direct_response_over_1_mb_is_refused() {
    let body = "a".repeat(1024 * 1024 + 1);
    let doc = format!(
        "{VIRTUAL_SERVICE}  - directResponse: {{status: 200, body: {{string: \"{body}\"}}}}\n"
    );
    assert_one_error(
        &doc,
        "7:41",
        "spec.http[0].directResponse.body",
        "must be less than 1MB",
    );
    let doc = format!(
        "{VIRTUAL_SERVICE}  - directResponse: {{status: 200, body: {{string: \"{}\"}}}}\n",
        "a".repeat(200 * 1024)
    );
    assert_eq!(errors(&doc), vec![]);
}

#[test_case("  - match: [{uri: {prefix: /shop/}}]\n    redirect: {prefixRewrite: /store/}\n" ; "prefix match")]
#[test_case("  - redirect: {prefixRewrite: /store/, authority: example.org}\n" ; "no match")]
fn a_redirect_prefix_rewrite_istio_accepts(rule: &str) {
    assert_eq!(errors(&format!("{VIRTUAL_SERVICE}{rule}")), vec![]);
}

#[test_case("  - redirect: {uri: /new, prefixRewrite: /store/}\n", "7:42", "redirect may only specify one of uri or prefix_rewrite" ; "with uri")]
#[test_case("  - match: [{uri: {exact: /shop}}]\n    redirect: {prefixRewrite: /store/}\n", "8:31", "redirect prefix_rewrite requires all URI matches to use prefix match type" ; "exact match")]
fn a_redirect_prefix_rewrite_istio_refuses(rule: &str, at: &str, message: &str) {
    assert_one_error(
        &format!("{VIRTUAL_SERVICE}{rule}"),
        at,
        "spec.http[0].redirect.prefixRewrite",
        message,
    );
}

#[test]
fn a_port_selector_without_a_number_is_refused() {
    let doc = format!(
        "{VIRTUAL_SERVICE}  - route: [{{destination: {{host: shop.example.com, port: {{}}}}}}]\n"
    );
    assert_one_error(
        &doc,
        "7:58",
        "spec.http[0].route[0].destination.port",
        "port number is required",
    );
}

#[test_case("*foo.baz" ; "wildcard prefix")]
#[test_case("*-foo.baz" ; "wildcard dash")]
fn a_partial_wildcard_destination_is_accepted_with_a_warning(host: &str) {
    let doc = format!("{VIRTUAL_SERVICE}  - route:\n    - destination:\n        host: '{host}'\n");
    assert_eq!(errors(&doc), vec![]);
    assert_eq!(
        warnings(&doc),
        vec![(
            "9:15".to_owned(),
            "spec.http[0].route[0].destination.host".to_owned(),
            format!(
                "a partial wildcard destination (\"{host}\") is accepted, as Istio accepts it, but no service can be it: Meridian's wildcards match whole labels (\"*.example.com\"), so requests routed here are answered 503 (NC, no cluster)"
            )
        )]
    );
}

#[test]
fn an_ip_address_as_sni_host_is_a_warning() {
    let doc = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  hosts: [shop.example.com]
  tls:
  - match: [{port: 999, sniHosts: [1.1.1.1]}]
    route: [{destination: {host: shop.example.com}}]
";
    assert_eq!(errors(doc), vec![]);
    assert!(
        findings(doc, Severity::Warning)
            .iter()
            .any(|(_, _, m)| m.contains("goes against SNI spec"))
    );
}

fn sni_virtual_service(name: &str, gateways: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: vs, namespace: shop}}
spec:
  gateways: {gateways}
  hosts: [{name}]
  tls:
  - match: [{{sniHosts: [{name}]}}]
    route: [{{destination: {{host: istio.istio-system.svc.cluster.local}}}}]
"
    )
}

#[test]
fn an_auto_passthrough_sni_name_is_accepted_with_a_warning() {
    let name = "outbound_.15010_._.istiod.istio-system.svc.cluster.local";
    let doc = sni_virtual_service(name, "[ns1/gateway]");
    assert_eq!(errors(&doc), vec![]);
    let message = format!(
        "\"{name}\" is the SNI name of Istio's AUTO_PASSTHROUGH (multi-network east-west) gateways, accepted as Istio accepts it, but not served: Meridian runs no AUTO_PASSTHROUGH gateway, so no connection carries this name"
    );
    let found: Vec<_> = warnings(&doc)
        .into_iter()
        .filter(|(_, _, m)| m == &message)
        .map(|(at, field, _)| (at, field))
        .collect();
    assert_eq!(
        found,
        vec![
            ("6:11".to_owned(), "spec.hosts[0]".to_owned()),
            (
                "8:25".to_owned(),
                "spec.tls[0].match[0].sniHosts[0]".to_owned()
            ),
        ]
    );
}

#[test_case("outbound_.http_._.istiod.istio-system.svc.cluster.local", "[ns1/gateway]", "label \"http\" invalid" ; "port without digit")]
#[test_case("outbound_.15010_._.1.2", "[ns1/gateway]", "label \"1.2\" invalid" ; "host without letter")]
#[test_case("outbound_.15010_._.istiod.istio-system.svc.cluster.local", "[mesh]", "label \"outbound_\" must consist of alphanumeric characters" ; "bound to the mesh")]
fn auto_passthrough_sni_names_istio_refuses(name: &str, gateways: &str, message: &str) {
    let doc = sni_virtual_service(name, gateways);
    let found = errors(&doc);
    assert!(!found.is_empty());
    for (at, field, m) in &found {
        assert!(
            m.contains(message),
            "{at} {field}: {m:?} does not hold {message:?}"
        );
    }
}

// ---- DestinationRule ----------------------------------------------------------------------

const DESTINATION_RULE: &str = "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr, namespace: shop}
spec:
  host: shop.example.com
";

#[test_case("trafficPolicy: {}", "6:18", "spec.trafficPolicy", "traffic policy must have at least one field" ; "empty traffic policy")]
#[test_case("trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}}}", "6:88", "spec.trafficPolicy.connectionPool.http.useClientProtocol", "use client protocol must not be true when H2UpgradePolicy is UPGRADE" ; "upgrade and client protocol")]
#[test_case("trafficPolicy: {connectionPool: {http: {http2KeepAlive: {timeout: 5s}}}}", "6:59", "spec.trafficPolicy.connectionPool.http.http2KeepAlive.interval", "http2 keepalive interval is required" ; "keepalive without interval")]
#[test_case("trafficPolicy: {connectionPool: {http: {http2KeepAlive: {interval: 15.000000005s, timeout: 5s}}}}", "6:70", "spec.trafficPolicy.connectionPool.http.http2KeepAlive.interval", "only durations to ms precision are supported" ; "keepalive interval below a millisecond")]
#[test_case("trafficPolicy: {outlierDetection: {consecutiveLocalOriginFailures: 10}}", "6:70", "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures", "split external local origin errors is set to false" ; "local origin failures")]
#[test_case("trafficPolicy: {tls: {mode: SIMPLE, credentialName: shop, insecureSkipVerify: true}}", "6:81", "spec.trafficPolicy.tls.insecureSkipVerify", "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true" ; "insecure skip verify")]
fn destination_rules_istio_refuses(spec: &str, at: &str, field: &str, message: &str) {
    assert_one_error(&format!("{DESTINATION_RULE}  {spec}\n"), at, field, message);
}

#[test_case("[{name: SameSite, value: Strict}, {name: SameSite, value: Lax}]", "9:96", "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[1].name", "duplicate cookie attribute name: SameSite" ; "duplicate")]
#[test_case("[{name: SameSite, value: Strict}, {value: x}]", "9:89", "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[1]", "cookie attribute name cannot be empty" ; "empty")]
fn cookie_attributes(attributes: &str, at: &str, field: &str, message: &str) {
    let doc = format!(
        "{DESTINATION_RULE}  trafficPolicy:\n    loadBalancer:\n      consistentHash:\n        httpCookie: {{name: shop, ttl: 1h, attributes: {attributes}}}\n"
    );
    assert_one_error(&doc, at, field, message);
}

#[test_case("shop", &["."], None ; "dot")]
#[test_case("shop", &[".", "shop"], Some("duplicate entries in exportTo: . and current namespace shop") ; "dot and own namespace")]
#[test_case("shop", &["*"], Some("cannot have exportTo beyond current namespace") ; "public")]
#[test_case("shop", &["other"], Some("cannot have exportTo beyond current namespace") ; "other namespace")]
#[test_case("shop", &[".", "other"], Some("cannot have multiple entries in exportTo") ; "own and other")]
fn export_of_a_destination_rule_with_a_selector(
    namespace: &str,
    export_to: &[&str],
    error: Option<&str>,
) {
    let doc = format!(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: dr, namespace: {namespace}}}\nspec:\n  host: shop.example.com\n  workloadSelector: {{matchLabels: {{app: shop}}}}\n  exportTo: [{}]\n",
        export_to
            .iter()
            .map(|e| format!("\"{e}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let found = errors(&doc);
    match error {
        None => assert_eq!(found, vec![]),
        Some(m) => {
            assert_eq!(found.len(), 1, "{found:#?}");
            assert!(found[0].2.contains(m), "{:?}", found[0]);
        }
    }
}

// ---- ServiceEntry -------------------------------------------------------------------------

const SERVICE_ENTRY: &str = "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se, namespace: shop}
spec:
";

#[test_case("hosts: [\"*.google.com\"]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS\n", "5:11", "spec.hosts[0]", "hosts must be FQDN" ; "dns wildcard without endpoints")]
#[test_case("hosts: [google.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS\n  endpoints: [{address: \"unix:///var/run/google.sock\"}]\n", "8:25", "spec.endpoints[0].address", "is not a valid FQDN or an IP address" ; "dns unix endpoint")]
#[test_case("hosts: [uds.cluster.local]\n  ports: [{number: 80, name: grpc, protocol: GRPC}]\n  resolution: STATIC\n  endpoints: [{address: \"unix://./relative.sock\"}]\n", "8:25", "spec.endpoints[0].address", "is not an absolute path to a file" ; "relative socket path")]
#[test_case("hosts: [uds.cluster.local]\n  ports: [{number: 80, name: grpc, protocol: GRPC}, {number: 81, name: http, protocol: HTTP}]\n  resolution: STATIC\n  endpoints: [{address: \"unix:///run/shop.sock\"}]\n", "8:25", "spec.endpoints[0].address", "exactly 1 service port required for unix endpoints" ; "unix socket and two ports")]
#[test_case("hosts: [google.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DYNAMIC_DNS\n", "5:11", "spec.hosts[0]", "host must be wildcarded for resolution mode DYNAMIC_DNS" ; "dynamic dns without wildcard")]
#[test_case("hosts: [\"*.google.com\"]\n  ports: [{number: 81, name: tcp, protocol: TCP}]\n  resolution: DYNAMIC_DNS\n", "6:45", "spec.ports[0].protocol", "only HTTP, TLS, GRPC, and HTTP2 protocols are supported" ; "dynamic dns tcp")]
#[test_case("hosts: [\"*.google.com\"]\n  addresses: [10.10.10.10]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DYNAMIC_DNS\n", "6:14", "spec.addresses", "addresses cannot be set for resolution type DYNAMIC_DNS" ; "dynamic dns addresses")]
#[test_case("hosts: [\"*.google.com\"]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DYNAMIC_DNS\n  endpoints: [{address: in.google.com}]\n", "8:14", "spec.endpoints", "endpoints cannot be set for resolution type DYNAMIC_DNS" ; "dynamic dns endpoints")]
#[test_case("hosts: [google.com]\n  ports: [{number: 80, name: \"toolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolong\", protocol: HTTP}]\n  resolution: DNS\n", "6:30", "spec.ports[0].name", "invalid port name" ; "long port name")]
fn service_entries_istio_refuses(spec: &str, at: &str, field: &str, message: &str) {
    assert_one_error(&format!("{SERVICE_ENTRY}  {spec}"), at, field, message);
}

#[test]
fn static_without_endpoints_is_a_warning() {
    let doc = format!(
        "{SERVICE_ENTRY}  hosts: [google.com]\n  addresses: [172.1.2.16]\n  ports: [{{number: 80, name: http, protocol: HTTP}}]\n  resolution: STATIC\n"
    );
    assert_eq!(errors(&doc), vec![]);
    assert!(
        findings(&doc, Severity::Warning)
            .iter()
            .any(|(_, f, _)| f == "spec.resolution")
    );
}

#[test]
fn dynamic_dns_inside_the_mesh_is_refused_behind_a_waypoint() {
    let spec = "spec:\n  hosts: [\"*.google.com\"]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DYNAMIC_DNS\n  location: MESH_INTERNAL\n";
    let with = |labels: &str| {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: se, namespace: shop, labels: {labels}}}\n{spec}"
        )
    };
    assert_one_error(
        &with("{istio.io/use-waypoint: waypoint}"),
        "8:13",
        "spec.location",
        "location MESH_INTERNAL with resolution type DYNAMIC_DNS is not supported when using waypoints",
    );
    assert_eq!(errors(&with("{istio.io/use-waypoint: none}")), vec![]);
}

// ---- AuthorizationPolicy ------------------------------------------------------------------

const AUTHZ: &str = "apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: authz, namespace: shop}
spec:
";

#[test_case("action: DENY\n", "5:11", "spec.action", "DENY action without `rules` is meaningless" ; "deny without rules")]
#[test_case("rules: [{from: []}]\n", "5:11", "spec.rules[0]", "`from` must not be empty" ; "from empty")]
#[test_case("rules: [{to: []}]\n", "5:11", "spec.rules[0]", "`to` must not be empty" ; "to empty")]
#[test_case("rules: [{from: [{source: {}}]}]\n", "5:28", "spec.rules[0].from[0].source", "`from.source` must not be empty" ; "source empty")]
#[test_case("rules: [{to: [{operation: {}}]}]\n", "5:29", "spec.rules[0].to[0].operation", "`to.operation` must not be empty" ; "operation empty")]
#[test_case("rules: [{when: [{key: \"request.headers[x-shop]\", values: [v1, \"\"]}]}]\n", "5:65", "spec.rules[0].when[0].values[1]", "empty value is not allowed" ; "empty value")]
#[test_case("action: CUSTOM\n  provider: {name: ext}\n  rules: [{when: [{key: source.principal, values: [a]}]}]\n", "7:25", "spec.rules[0].when[0].key", "source.principal is currently not supported with CUSTOM action" ; "custom on principal")]
#[test_case("action: CUSTOM\n  provider: {name: ext}\n  rules: [{from: [{source: {namespaces: [ns]}}]}]\n", "7:29", "spec.rules[0].from[0].source.namespaces", "from.namespaces is currently not supported with CUSTOM action" ; "custom on namespaces")]
#[test_case("targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: gw, namespace: other}\n  rules: [{}]\n", "5:85", "spec.targetRef.namespace", "targetRef namespace must not be set" ; "target in another namespace")]
fn authorization_policies_istio_refuses(spec: &str, at: &str, field: &str, message: &str) {
    assert_one_error(&format!("{AUTHZ}  {spec}"), at, field, message);
}

#[test_case("ALLOW", "\"true\"", None ; "allow")]
#[test_case("DENY", "\"false\"", None ; "deny")]
#[test_case("ALLOW", "foo", Some("has an invalid value (foo)") ; "not a boolean")]
#[test_case("AUDIT", "\"true\"", Some("only supports action ALLOW/DENY, found action AUDIT") ; "audit")]
fn dry_run_annotation(action: &str, value: &str, error: Option<&str>) {
    let doc = format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: authz\n  namespace: shop\n  annotations: {{istio.io/dry-run: {value}}}\nspec:\n  action: {action}\n  rules: [{{}}]\n"
    );
    let found = errors(&doc);
    match error {
        None => assert_eq!(found, vec![]),
        Some(m) => {
            assert_eq!(found.len(), 1, "{found:#?}");
            assert_eq!(found[0].1, "metadata.annotations[\"istio.io/dry-run\"]");
            assert!(found[0].2.contains(m), "{:?}", found[0]);
        }
    }
}

#[test]
fn zone_aware_balancing_is_accepted_with_a_warning() {
    let doc = format!(
        "{DESTINATION_RULE}  trafficPolicy:\n    loadBalancer:\n      zoneAwareLbSetting:\n        failover: [{{from: us-east, to: eu-west}}]\n"
    );
    assert_eq!(errors(&doc), vec![]);
    assert_eq!(
        warnings(&doc),
        vec![(
            "9:9".to_owned(),
            "spec.trafficPolicy.loadBalancer.zoneAwareLbSetting".to_owned(),
            "not served: every endpoint is in this node's locality, so zone-aware routing and region failover do not apply; requests are balanced over all endpoints".to_owned()
        )]
    );
}

#[test_case("{localityLbSetting: {}, zoneAwareLbSetting: {}}", "6:77", "spec.trafficPolicy.loadBalancer.zoneAwareLbSetting", "only one of localityLbSetting and zoneAwareLbSetting can be set" ; "both settings")]
#[test_case("{zoneAwareLbSetting: {failover: [{from: r1, to: r1}]}}", "6:66", "spec.trafficPolicy.loadBalancer.zoneAwareLbSetting.failover[0]", "zone aware lb failover settings must specify different regions" ; "same region")]
#[test_case("{zoneAwareLbSetting: {failover: [{from: r1/z1, to: r2}]}}", "6:73", "spec.trafficPolicy.loadBalancer.zoneAwareLbSetting.failover[0].from", "zone aware lb failover only specifies region" ; "zone in failover")]
#[test_case("{zoneAwareLbSetting: {failover: [{from: r1, to: '*'}]}}", "6:81", "spec.trafficPolicy.loadBalancer.zoneAwareLbSetting.failover[0].to", "zone aware lb failover region should not contain '*' wildcard" ; "wildcard in failover")]
#[test_case("{zoneAwareLbSetting: {failoverPriority: [version, topology.kubernetes.io/zone]}}", "6:83", "spec.trafficPolicy.loadBalancer.zoneAwareLbSetting.failoverPriority[1]", "'failover_priority' for zone aware lb must not use topology label 'topology.kubernetes.io/zone'" ; "topology label")]
fn zone_aware_balancing_istio_refuses(lb: &str, at: &str, field: &str, message: &str) {
    let doc = format!("{DESTINATION_RULE}  trafficPolicy: {{loadBalancer: {lb}}}\n");
    assert_one_error(&doc, at, field, message);
}

// ---- Wildcard destinations ----------------------------------------------------------------

#[test]
fn a_wildcard_destination_with_retries_is_accepted_without_findings() {
    let doc = "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: eu}
spec:
  hosts: [\"*.eu.example.com\"]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DYNAMIC_DNS
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: eu}
spec:
  hosts: [\"*.eu.example.com\"]
  http:
  - timeout: 5s
    retries: {attempts: 2}
    route: [{destination: {host: \"*.eu.example.com\"}}]
";
    assert!(errors(doc).is_empty(), "{:#?}", errors(doc));
    assert_eq!(findings(doc, Severity::Warning), []);
}

#[test]
fn a_lone_star_is_no_destination() {
    let doc = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: any}
spec:
  hosts: [shop.example.com]
  http:
  - route: [{destination: {host: \"*\"}}]
";
    assert_one_error(
        doc,
        "7:34",
        "spec.http[0].route[0].destination.host",
        "invalid destination host *",
    );
}
