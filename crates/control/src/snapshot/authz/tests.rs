//! Istio's evaluation, case by case: actions, scopes, sources, operations, conditions.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use test_case::test_case;

use super::*;

fn compiled(yaml: &str) -> (AuthorizationPolicies, Vec<String>) {
    let bundle = meridian_config::load_str(
        Path::new("/tmp/authz.yaml"),
        yaml,
        meridian_config::LoadOptions::default(),
    );
    let errors: Vec<String> = bundle.diagnostics().map(|d| d.message.clone()).collect();
    assert!(bundle.is_valid(), "{errors:#?}");
    let mut notes = Vec::new();
    (compile(bundle.resources(), &mut notes), notes)
}

fn policy(ns: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{spec}\n---\n"
    )
}

struct Req {
    principal: Option<&'static str>,
    method: &'static str,
    path: &'static str,
    host: &'static str,
    port: u16,
    source: IpAddr,
    remote: IpAddr,
    headers: HeaderMap,
}

fn req() -> Req {
    Req {
        principal: Some("cluster.local/ns/default/sa/sleep"),
        method: "GET",
        path: "/",
        host: "myapp",
        port: 3000,
        source: IpAddr::V4(Ipv4Addr::LOCALHOST),
        remote: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)),
        headers: HeaderMap::new(),
    }
}

impl Req {
    fn view(&self) -> AuthzRequest<'_> {
        AuthzRequest {
            principal: self.principal,
            source_ip: self.source,
            remote_ip: self.remote,
            destination_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            destination_port: self.port,
            sni: Some("outbound_.80_._.myapp.default.svc.cluster.local"),
            host: self.host,
            method: self.method,
            path: self.path,
            headers: &self.headers,
        }
    }
}

fn labels(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_owned(), app.to_owned())])
}

fn allowed(policies: &AuthorizationPolicies, r: &Req) -> bool {
    policies
        .evaluate("default", &labels("myapp"), &r.view())
        .decision
        == AuthzDecision::Allow
}

#[test]
fn evaluation_order_and_empty_forms() {
    let (none, _) = compiled("");
    assert!(allowed(&none, &req()));

    // ALLOW with no rules denies everything; `rules: [{}]` allows everything.
    let (deny_all, _) = compiled(&policy("default", "deny-all", "  {}"));
    let out = deny_all.evaluate("default", &labels("myapp"), &req().view());
    assert_eq!(
        out.decision,
        AuthzDecision::Deny {
            details: "rbac_access_denied_matched_policy[none]".into(),
            custom: false
        }
    );
    let (allow_all, _) = compiled(&policy("default", "allow-all", "  rules: [{}]"));
    assert!(allowed(&allow_all, &req()));

    // DENY wins over ALLOW, and names its rule.
    let yaml = policy("default", "allow-all", "  rules: [{}]")
        + &policy(
            "default",
            "no-post",
            "  action: DENY\n  rules: [{to: [{operation: {methods: [POST]}}]}]",
        );
    let (p, _) = compiled(&yaml);
    assert!(allowed(&p, &req()));
    let mut post = req();
    post.method = "POST";
    assert_eq!(
        p.evaluate("default", &labels("myapp"), &post.view())
            .decision,
        AuthzDecision::Deny {
            details: "rbac_access_denied_matched_policy[ns[default]-policy[no-post]-rule[0]]"
                .into(),
            custom: false
        }
    );

    // AUDIT never decides.
    let (audit, _) = compiled(&policy(
        "default",
        "watch",
        "  action: AUDIT\n  rules: [{to: [{operation: {paths: [/admin*]}}]}]",
    ));
    let mut admin = req();
    admin.path = "/admin/users";
    let out = audit.evaluate("default", &labels("myapp"), &admin.view());
    assert_eq!(out.decision, AuthzDecision::Allow);
    assert_eq!(out.audited, vec!["ns[default]-policy[watch]-rule[0]"]);
}

#[test]
fn custom_fails_closed_and_is_noted() {
    let (p, notes) = compiled(&policy(
        "default",
        "ext",
        "  action: CUSTOM\n  provider: {name: opa}\n  rules: [{to: [{operation: {paths: [/secret]}}]}]",
    ));
    assert!(notes[0].contains("CUSTOM"), "{notes:?}");
    assert!(allowed(&p, &req()));
    let mut secret = req();
    secret.path = "/secret";
    assert!(matches!(
        p.evaluate("default", &labels("myapp"), &secret.view())
            .decision,
        AuthzDecision::Deny { custom: true, .. }
    ));
}

#[test]
fn scope_selector_namespace_and_root() {
    let yaml = policy(
        "default",
        "only-other",
        "  selector: {matchLabels: {app: other}}\n  {}",
    )
    .replace("\n  {}", "")
        + &policy("prod", "prod-deny-all", "  {}")
        + &policy(
            "istio-system",
            "mesh-no-delete",
            "  action: DENY\n  rules: [{to: [{operation: {methods: [DELETE]}}]}]",
        );
    let (p, _) = compiled(&yaml);
    // A selector for another app leaves myapp alone; another namespace's policy too.
    assert!(allowed(&p, &req()));
    assert!(
        p.evaluate("default", &labels("other"), &req().view())
            .decision
            != AuthzDecision::Allow
    );
    assert!(p.evaluate("prod", &labels("myapp"), &req().view()).decision != AuthzDecision::Allow);
    // The root namespace's policy applies everywhere.
    let mut delete = req();
    delete.method = "DELETE";
    assert!(!allowed(&p, &delete));
}

#[test_case("principals: [cluster.local/ns/default/sa/sleep]", true; "principal exact")]
#[test_case("principals: [cluster.local/ns/default/*]", true; "principal prefix")]
#[test_case("principals: [\"*/sa/sleep\"]", true; "principal suffix")]
#[test_case("principals: [\"*\"]", true; "any authenticated principal")]
#[test_case("principals: [cluster.local/ns/default/sa/other]", false; "other principal")]
#[test_case("notPrincipals: [cluster.local/ns/default/sa/sleep]", false; "not principal")]
#[test_case("trustDomains: [cluster.local]", true; "trust domain")]
#[test_case("trustDomains: [example.org]", false; "other trust domain")]
#[test_case("notTrustDomains: [cluster.local]", false; "not trust domain")]
#[test_case("namespaces: [default]", true; "namespace")]
#[test_case("notNamespaces: [default]", false; "not namespace")]
#[test_case("serviceAccounts: [sleep]", true; "service account in the policy namespace")]
#[test_case("serviceAccounts: [prod/sleep]", false; "service account of another namespace")]
#[test_case("ipBlocks: [127.0.0.0/8]", true; "ip block")]
#[test_case("notIpBlocks: [127.0.0.1]", false; "not ip block")]
#[test_case("remoteIpBlocks: [203.0.113.0/24]", true; "remote ip block")]
#[test_case("requestPrincipals: [\"*\"]", false; "no jwt: request principals never match")]
#[test_case("notRequestPrincipals: [\"*\"]", true; "no jwt: not request principals always match")]
fn sources(source: &str, expected: bool) {
    let (p, _) = compiled(&policy(
        "default",
        "p",
        &format!("  rules: [{{from: [{{source: {{{source}}}}}]}}]"),
    ));
    assert_eq!(allowed(&p, &req()), expected);
}

#[test]
fn plaintext_peers_have_no_principal() {
    let mut plain = req();
    plain.principal = None;
    for (source, expected) in [
        ("principals: [\"*\"]", false),
        ("notPrincipals: [cluster.local/ns/default/sa/sleep]", true),
        ("namespaces: [default]", false),
        ("notNamespaces: [default]", true),
        ("trustDomains: [cluster.local]", false),
    ] {
        let (p, _) = compiled(&policy(
            "default",
            "p",
            &format!("  rules: [{{from: [{{source: {{{source}}}}}]}}]"),
        ));
        assert_eq!(allowed(&p, &plain), expected, "{source}");
    }
}

#[test_case("methods: [GET]", "GET", "/", true; "method")]
#[test_case("methods: [POST]", "GET", "/", false; "other method")]
#[test_case("notMethods: [GET]", "GET", "/", false; "not method")]
#[test_case("paths: [/api/*]", "GET", "/api/users", true; "path prefix")]
#[test_case("paths: [\"*.json\"]", "GET", "/data.json", true; "path suffix")]
#[test_case("paths: [/api]", "GET", "/api/users", false; "path exact")]
#[test_case("notPaths: [/admin*]", "GET", "/admin", false; "not path")]
#[test_case("paths: [\"/users/{*}/profile\"]", "GET", "/users/7/profile", true; "one segment template")]
#[test_case("paths: [\"/users/{*}/profile\"]", "GET", "/users/7/8/profile", false; "one segment only")]
#[test_case("paths: [\"/files/{**}\"]", "GET", "/files/a/b/c", true; "many segments template")]
#[test_case("hosts: [MyApp]", "GET", "/", true; "host ignores case")]
#[test_case("hosts: [\"*.example.com\"]", "GET", "/", false; "host suffix")]
#[test_case("ports: [\"3000\"]", "GET", "/", true; "port")]
#[test_case("notPorts: [\"3000\"]", "GET", "/", false; "not port")]
#[test_case("methods: [GET]\n          paths: [/x]", "GET", "/", false; "fields are anded")]
fn operations(op: &str, method: &'static str, path: &'static str, expected: bool) {
    let (p, _) = compiled(&policy(
        "default",
        "p",
        &format!("  rules:\n  - to:\n    - operation:\n          {op}"),
    ));
    let mut r = req();
    r.method = method;
    r.path = path;
    r.host = "myapp:80";
    assert_eq!(allowed(&p, &r), expected);
}

#[test_case("request.headers[x-token]", "[secret]", true; "header")]
#[test_case("request.headers[x-token]", "[other]", false; "other header value")]
#[test_case("request.headers[x-missing]", "[\"*\"]", false; "absent header")]
#[test_case("source.ip", "[127.0.0.1]", true; "source ip")]
#[test_case("remote.ip", "[10.0.0.0/8]", false; "remote ip")]
#[test_case("source.namespace", "[default]", true; "source namespace")]
#[test_case("source.trustDomain", "[cluster.local]", true; "source trust domain")]
#[test_case("source.trustDomain", "[example.org]", false; "other source trust domain")]
#[test_case("source.principal", "[cluster.local/ns/default/sa/sleep]", true; "source principal")]
#[test_case("source.serviceAccount", "[default/sleep]", true; "source service account")]
#[test_case("destination.port", "[\"3000\"]", true; "destination port")]
#[test_case("connection.sni", "[\"outbound_.80_*\"]", true; "sni")]
#[test_case("request.auth.claims[iss]", "[\"*\"]", false; "no jwt claims")]
fn conditions(key: &str, values: &str, expected: bool) {
    let (p, _) = compiled(&policy(
        "default",
        "p",
        &format!("  rules: [{{when: [{{key: \"{key}\", values: {values}}}]}}]"),
    ));
    let mut r = req();
    r.headers.insert("x-token", "secret".parse().unwrap());
    assert_eq!(allowed(&p, &r), expected);
}

#[test]
fn not_values_and_all_conditions() {
    let (p, _) = compiled(&policy(
        "default",
        "p",
        "  rules: [{when: [{key: \"request.headers[x-env]\", notValues: [prod]}, {key: source.namespace, values: [default]}]}]",
    ));
    let mut r = req();
    assert!(allowed(&p, &r), "absent header satisfies notValues");
    r.headers.insert("x-env", "prod".parse().unwrap());
    assert!(!allowed(&p, &r));
    r.headers.insert("x-env", "dev".parse().unwrap());
    r.principal = Some("cluster.local/ns/prod/sa/sleep");
    assert!(!allowed(&p, &r), "every condition must hold");
}

#[test]
fn cidr_containment() {
    let c = Cidr::parse("10.1.0.0/16").unwrap();
    assert!(c.contains("10.1.200.3".parse().unwrap()));
    assert!(!c.contains("10.2.0.1".parse().unwrap()));
    assert!(c.contains("::ffff:10.1.0.9".parse().unwrap()));
    assert!(
        Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap())
    );
    assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
}
