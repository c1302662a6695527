//! AuthorizationPolicy compiled, and Istio's evaluation of it for one request at one
//! workload: CUSTOM first, then DENY, then ALLOW (a workload with no ALLOW policy allows; with
//! some, a request must match one); AUDIT only marks. Rules are ORed; inside a rule `from`,
//! `to` and `when` must each match (any source, any operation, every condition); inside a
//! source or an operation every field set must match, and each `not*` field must not.
//!
//! String values follow Istio: `abc` exact, `abc*` prefix, `*abc` suffix, `*` any non-empty
//! value; paths also take the `{*}` (one segment) and `{**}` (any segments) templates. A
//! `not*` field or `notValues` is satisfied when the attribute is absent (a plaintext peer has
//! no principal), as in the Envoy RBAC Istio generates.
//!
//! What Meridian cannot evaluate never allows by accident: it has no JWT authentication, so
//! `requestPrincipals` and `request.auth.*` conditions never match (their `not` forms always
//! do); it has no ext-authz client, so a CUSTOM policy whose rules match denies (fail closed,
//! noted in the snapshot); policies attached with `targetRefs` (waypoints, Gateway API
//! gateways) do not apply to sidecars and are noted.

use std::collections::BTreeMap;
use std::net::IpAddr;

use http::HeaderMap;
use meridian_config::Resource;
use meridian_config::istio::security::{
    Action, AuthorizationPolicySpec, Condition, Operation, Source, parse_cidr,
};
use regex::Regex;
use serde::Serialize;

use super::peer_authn::ROOT_NAMESPACE;

/// A policy action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthzAction {
    /// Allow matching requests.
    Allow,
    /// Deny matching requests.
    Deny,
    /// Mark matching requests; no effect on the decision.
    Audit,
    /// An external authorizer Meridian cannot call: matching requests are denied.
    Custom,
}

/// One AuthorizationPolicy, compiled.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzPolicy {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Labels a workload must have; `None` is the whole namespace (the mesh in the root
    /// namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<BTreeMap<String, String>>,
    /// The action.
    pub action: AuthzAction,
    /// The rules; none means the policy never matches.
    pub rules: Vec<AuthzRule>,
}

/// A rule.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzRule {
    /// Sources (any); empty means any source.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<SourceMatch>,
    /// Operations (any); empty means any operation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<OperationMatch>,
    /// Conditions (all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<ConditionMatch>,
}

/// A value pattern of Istio's authorization language.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ValuePattern {
    /// The whole value.
    Exact(String),
    /// `abc*`.
    Prefix(String),
    /// `*abc`.
    Suffix(String),
    /// `*`: any non-empty value.
    Present,
    /// A path template with `{*}` / `{**}`.
    Template(#[serde(serialize_with = "regex_source")] Regex),
}

fn regex_source<S: serde::Serializer>(r: &Regex, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.as_str())
}

impl ValuePattern {
    fn parse(value: &str, templates: bool) -> ValuePattern {
        if value == "*" {
            return ValuePattern::Present;
        }
        if templates
            && (value.contains("{*}") || value.contains("{**}"))
            && let Some(re) = template_regex(value)
        {
            return ValuePattern::Template(re);
        }
        if let Some(p) = value.strip_suffix('*') {
            return ValuePattern::Prefix(p.to_owned());
        }
        if let Some(s) = value.strip_prefix('*') {
            return ValuePattern::Suffix(s.to_owned());
        }
        ValuePattern::Exact(value.to_owned())
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            ValuePattern::Exact(e) => value == e,
            ValuePattern::Prefix(p) => value.starts_with(p.as_str()),
            ValuePattern::Suffix(s) => value.ends_with(s.as_str()),
            ValuePattern::Present => !value.is_empty(),
            ValuePattern::Template(re) => re.is_match(value),
        }
    }

    fn matches_ignore_case(&self, value: &str) -> bool {
        let lower = |s: &str| s.to_ascii_lowercase();
        match self {
            ValuePattern::Exact(e) => value.eq_ignore_ascii_case(e),
            ValuePattern::Prefix(p) => lower(value).starts_with(&lower(p)),
            ValuePattern::Suffix(s) => lower(value).ends_with(&lower(s)),
            other => other.matches(value),
        }
    }
}

/// `/a/{*}/b/{**}` → `^/a/[^/]+/b/.+$` (Istio's path templates).
fn template_regex(value: &str) -> Option<Regex> {
    let mut re = String::from("^");
    let mut rest = value;
    while let Some(i) = rest.find('{') {
        re.push_str(&regex::escape(&rest[..i]));
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("{**}") {
            re.push_str(".+");
            rest = t;
        } else if let Some(t) = tail.strip_prefix("{*}") {
            re.push_str("[^/]+");
            rest = t;
        } else {
            re.push_str(&regex::escape("{"));
            rest = &tail[1..];
        }
    }
    re.push_str(&regex::escape(rest));
    re.push('$');
    Regex::new(&re).ok()
}

/// A field with its `not` form.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Field<T> {
    /// Values, one of which must match (when any is given).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<T>,
    /// Values none of which may match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_values: Vec<T>,
}

impl<T> Default for Field<T> {
    fn default() -> Self {
        Field {
            values: Vec::new(),
            not_values: Vec::new(),
        }
    }
}

impl<T> Field<T> {
    fn check(&self, matches_any: impl Fn(&[T]) -> bool) -> bool {
        (self.values.is_empty() || matches_any(&self.values))
            && (self.not_values.is_empty() || !matches_any(&self.not_values))
    }
}

impl Field<ValuePattern> {
    fn strings(values: &[String], not_values: &[String], templates: bool) -> Self {
        Field {
            values: values
                .iter()
                .map(|v| ValuePattern::parse(v, templates))
                .collect(),
            not_values: not_values
                .iter()
                .map(|v| ValuePattern::parse(v, templates))
                .collect(),
        }
    }

    fn matches(&self, attr: Option<&str>) -> bool {
        self.check(|ps| attr.is_some_and(|a| ps.iter().any(|p| p.matches(a))))
    }
}

/// An IP block (`10.0.0.0/8`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cidr {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
}

impl Cidr {
    fn parse(v: &str) -> Option<Cidr> {
        parse_cidr(v).ok().map(|(addr, len)| Cidr { addr, len })
    }

    /// Whether `ip` is inside the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl Field<Cidr> {
    fn blocks(values: &[String], not_values: &[String]) -> Self {
        Field {
            values: values.iter().filter_map(|v| Cidr::parse(v)).collect(),
            not_values: not_values.iter().filter_map(|v| Cidr::parse(v)).collect(),
        }
    }

    fn matches(&self, ip: IpAddr) -> bool {
        self.check(|blocks| blocks.iter().any(|b| b.contains(ip)))
    }
}

/// `from.source`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceMatch {
    /// Peer principals (`cluster.local/ns/default/sa/sleep`).
    pub principals: Field<ValuePattern>,
    /// JWT principals: never present in Meridian (no JWT authentication).
    pub request_principals: Field<ValuePattern>,
    /// Trust domains of the peer identities (from the principal).
    pub trust_domains: Field<ValuePattern>,
    /// Peer namespaces (from the principal).
    pub namespaces: Field<ValuePattern>,
    /// Peer service accounts as `namespace/name`.
    pub service_accounts: Field<ValuePattern>,
    /// Peer addresses.
    pub ip_blocks: Field<Cidr>,
    /// Original client addresses (`X-Forwarded-For`).
    pub remote_ip_blocks: Field<Cidr>,
}

/// `to.operation`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationMatch {
    /// `Host`/`:authority`, case-insensitive, with or without its port.
    pub hosts: Field<ValuePattern>,
    /// Destination (workload) ports.
    pub ports: Field<u16>,
    /// Methods.
    pub methods: Field<ValuePattern>,
    /// Paths (without the query).
    pub paths: Field<ValuePattern>,
}

/// The attribute a `when` condition reads.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ConditionKey {
    /// `request.headers[name]`.
    Header(String),
    /// `source.ip`.
    SourceIp,
    /// `remote.ip`.
    RemoteIp,
    /// `destination.ip`.
    DestinationIp,
    /// `source.namespace`.
    SourceNamespace,
    /// `source.principal`.
    SourcePrincipal,
    /// `source.trustDomain`.
    SourceTrustDomain,
    /// `source.serviceAccount`.
    SourceServiceAccount,
    /// `destination.port`.
    DestinationPort,
    /// `connection.sni`.
    ConnectionSni,
    /// An attribute Meridian never has (`request.auth.*`, `experimental.*`).
    Unavailable(String),
}

/// A `when` condition.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionMatch {
    /// The attribute.
    pub key: ConditionKey,
    /// String values (headers, principals, namespaces, SNI, ports).
    pub values: Field<ValuePattern>,
    /// Address values (`*.ip`).
    pub blocks: Field<Cidr>,
}

/// What a request looks like to authorization at a workload.
#[derive(Debug, Clone, Copy)]
pub struct AuthzRequest<'a> {
    /// The peer's SPIFFE ID without `spiffe://` (`cluster.local/ns/default/sa/sleep`); `None`
    /// on a plaintext connection.
    pub principal: Option<&'a str>,
    /// The connection's peer address.
    pub source_ip: IpAddr,
    /// The original client (rightmost `X-Forwarded-For`, else the peer).
    pub remote_ip: IpAddr,
    /// The workload's address.
    pub destination_ip: IpAddr,
    /// The workload port.
    pub destination_port: u16,
    /// SNI of the TLS connection.
    pub sni: Option<&'a str>,
    /// `Host`/`:authority`.
    pub host: &'a str,
    /// Method.
    pub method: &'a str,
    /// Path without the query.
    pub path: &'a str,
    /// Request headers.
    pub headers: &'a HeaderMap,
}

impl AuthzRequest<'_> {
    /// The trust domain of the peer's identity: the principal's first segment
    /// (`cluster.local` of `cluster.local/ns/default/sa/sleep`).
    fn trust_domain(&self) -> Option<&str> {
        self.principal?.split('/').next().filter(|t| !t.is_empty())
    }

    fn namespace(&self) -> Option<&str> {
        let p = self.principal?;
        let rest = &p[p.find("/ns/")? + 4..];
        Some(rest.split('/').next().unwrap_or(rest))
    }

    fn service_account(&self) -> Option<String> {
        let p = self.principal?;
        let ns = self.namespace()?;
        let sa = &p[p.find("/sa/")? + 4..];
        Some(format!("{ns}/{sa}"))
    }
}

/// The outcome for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthzDecision {
    /// Let it through.
    Allow,
    /// Refuse it with 403.
    Deny {
        /// Envoy's `%RESPONSE_CODE_DETAILS%`:
        /// `rbac_access_denied_matched_policy[ns[NS]-policy[NAME]-rule[I]]`, or `[none]` when
        /// no ALLOW policy matched.
        details: String,
        /// Whether an unsupported CUSTOM policy decided.
        custom: bool,
    },
}

/// A decision and the AUDIT policies that matched (`ns[NS]-policy[NAME]-rule[I]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzOutcome {
    /// Allow or deny.
    pub decision: AuthzDecision,
    /// AUDIT policies the request matched.
    pub audited: Vec<String>,
}

/// Every AuthorizationPolicy in force.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationPolicies {
    /// In load order.
    pub policies: Vec<AuthzPolicy>,
}

impl AuthorizationPolicies {
    /// Whether there is no policy (every request is allowed).
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// Whether `policy` applies to a workload in `namespace` with `labels`: its own
    /// namespace, or every namespace from the root namespace, narrowed by its selector.
    fn applies(policy: &AuthzPolicy, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        (policy.namespace == namespace || policy.namespace == ROOT_NAMESPACE)
            && policy
                .selector
                .as_ref()
                .is_none_or(|s| s.iter().all(|(k, v)| labels.get(k) == Some(v)))
    }

    /// Istio's decision for `req` at a workload in `namespace` with `labels`.
    pub fn evaluate(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        req: &AuthzRequest<'_>,
    ) -> AuthzOutcome {
        let mut outcome = AuthzOutcome {
            decision: AuthzDecision::Allow,
            audited: Vec::new(),
        };
        if self.policies.is_empty() {
            return outcome;
        }
        let applicable = || {
            self.policies
                .iter()
                .filter(|p| Self::applies(p, namespace, labels))
        };
        let denied = |action: AuthzAction| {
            applicable()
                .filter(|p| p.action == action)
                .find_map(|p| p.matched_rule(req).map(|i| p.rule_id(i)))
        };
        if let Some(id) = denied(AuthzAction::Custom) {
            outcome.decision = AuthzDecision::Deny {
                details: format!("rbac_access_denied_matched_policy[{id}]"),
                custom: true,
            };
            return outcome;
        }
        if let Some(id) = denied(AuthzAction::Deny) {
            outcome.decision = AuthzDecision::Deny {
                details: format!("rbac_access_denied_matched_policy[{id}]"),
                custom: false,
            };
            return outcome;
        }
        outcome.audited = applicable()
            .filter(|p| p.action == AuthzAction::Audit)
            .filter_map(|p| p.matched_rule(req).map(|i| p.rule_id(i)))
            .collect();
        let mut allows = applicable()
            .filter(|p| p.action == AuthzAction::Allow)
            .peekable();
        if allows.peek().is_some() && !allows.any(|p| p.matched_rule(req).is_some()) {
            outcome.decision = AuthzDecision::Deny {
                details: "rbac_access_denied_matched_policy[none]".to_owned(),
                custom: false,
            };
        }
        outcome
    }
}

impl AuthzPolicy {
    fn rule_id(&self, rule: usize) -> String {
        format!("ns[{}]-policy[{}]-rule[{rule}]", self.namespace, self.name)
    }

    /// The index of the first rule `req` matches.
    pub fn matched_rule(&self, req: &AuthzRequest<'_>) -> Option<usize> {
        self.rules.iter().position(|r| r.matches(req))
    }
}

impl AuthzRule {
    /// Whether a request matches: a source, an operation and every condition.
    pub fn matches(&self, req: &AuthzRequest<'_>) -> bool {
        (self.from.is_empty() || self.from.iter().any(|s| s.matches(req)))
            && (self.to.is_empty() || self.to.iter().any(|o| o.matches(req)))
            && self.when.iter().all(|c| c.matches(req))
    }
}

impl SourceMatch {
    fn matches(&self, req: &AuthzRequest<'_>) -> bool {
        self.principals.matches(req.principal)
            && self.request_principals.matches(None)
            && self.trust_domains.matches(req.trust_domain())
            && self.namespaces.matches(req.namespace())
            && self
                .service_accounts
                .matches(req.service_account().as_deref())
            && self.ip_blocks.matches(req.source_ip)
            && self.remote_ip_blocks.matches(req.remote_ip)
    }
}

impl OperationMatch {
    fn matches(&self, req: &AuthzRequest<'_>) -> bool {
        let host_only = super::split_authority(req.host).0;
        self.hosts.check(|ps| {
            ps.iter()
                .any(|p| p.matches_ignore_case(req.host) || p.matches_ignore_case(host_only))
        }) && self.ports.check(|ps| ps.contains(&req.destination_port))
            && self.methods.matches(Some(req.method))
            && self.paths.matches(Some(req.path))
    }
}

impl ConditionMatch {
    fn matches(&self, req: &AuthzRequest<'_>) -> bool {
        let port;
        let sa;
        let text: Option<&str> = match &self.key {
            ConditionKey::SourceIp => return self.blocks.matches(req.source_ip),
            ConditionKey::RemoteIp => return self.blocks.matches(req.remote_ip),
            ConditionKey::DestinationIp => return self.blocks.matches(req.destination_ip),
            ConditionKey::Header(name) => {
                return self.values.check(|ps| {
                    req.headers
                        .get_all(name.as_str())
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .any(|v| ps.iter().any(|p| p.matches(v)))
                });
            }
            ConditionKey::SourceNamespace => req.namespace(),
            ConditionKey::SourcePrincipal => req.principal,
            ConditionKey::SourceTrustDomain => req.trust_domain(),
            ConditionKey::SourceServiceAccount => {
                sa = req.service_account();
                sa.as_deref()
            }
            ConditionKey::DestinationPort => {
                port = req.destination_port.to_string();
                Some(port.as_str())
            }
            ConditionKey::ConnectionSni => req.sni,
            ConditionKey::Unavailable(_) => None,
        };
        self.values.matches(text)
    }
}

/// Compiles every AuthorizationPolicy of a valid bundle; what cannot be enforced is noted.
pub(crate) fn compile<'a>(
    resources: impl Iterator<Item = &'a Resource>,
    notes: &mut Vec<String>,
) -> AuthorizationPolicies {
    let mut out = AuthorizationPolicies::default();
    for r in resources {
        let Resource::AuthorizationPolicy(ap) = r else {
            continue;
        };
        let id = format!("{}/{}", ap.namespace(), ap.name());
        let spec = &ap.spec;
        if spec.target_ref.is_some() || !spec.target_refs.is_empty() {
            notes.push(format!(
                "AuthorizationPolicy {id} ignored: targetRefs attach it to waypoints or Gateway API gateways, which Meridian does not run; use a selector to enforce it at sidecars"
            ));
            continue;
        }
        if spec.action == Action::Custom {
            notes.push(format!(
                "AuthorizationPolicy {id}: action CUSTOM (provider {:?}) is not supported, Meridian has no ext-authz client; requests its rules match are denied (403)",
                spec.provider.as_ref().and_then(|p| p.name.as_deref()).unwrap_or("")
            ));
        }
        out.policies
            .push(compile_one(ap.namespace(), ap.name(), spec));
    }
    out
}

fn compile_one(namespace: &str, name: &str, spec: &AuthorizationPolicySpec) -> AuthzPolicy {
    AuthzPolicy {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        selector: spec.selector.as_ref().and_then(|s| {
            // An empty selector selects every workload, as no selector does.
            (!s.match_labels.is_empty()).then(|| s.match_labels.clone())
        }),
        action: match spec.action {
            Action::Allow => AuthzAction::Allow,
            Action::Deny => AuthzAction::Deny,
            Action::Audit => AuthzAction::Audit,
            Action::Custom => AuthzAction::Custom,
        },
        rules: spec
            .rules
            .iter()
            .map(|r| AuthzRule {
                from: r
                    .from
                    .iter()
                    .filter_map(|f| f.source.as_ref())
                    .map(|s| compile_source(s, namespace))
                    .collect(),
                to: r
                    .to
                    .iter()
                    .filter_map(|t| t.operation.as_ref())
                    .map(compile_operation)
                    .collect(),
                when: r.when.iter().filter_map(compile_condition).collect(),
            })
            .collect(),
    }
}

fn compile_source(s: &Source, namespace: &str) -> SourceMatch {
    // `serviceAccounts: [sa]` means the policy's namespace.
    let qualify = |v: &Vec<String>| -> Vec<String> {
        v.iter()
            .map(|sa| {
                if sa.contains('/') {
                    sa.clone()
                } else {
                    format!("{namespace}/{sa}")
                }
            })
            .collect()
    };
    SourceMatch {
        principals: Field::strings(&s.principals, &s.not_principals, false),
        request_principals: Field::strings(&s.request_principals, &s.not_request_principals, false),
        trust_domains: Field::strings(&s.trust_domains, &s.not_trust_domains, false),
        namespaces: Field::strings(&s.namespaces, &s.not_namespaces, false),
        service_accounts: Field::strings(
            &qualify(&s.service_accounts),
            &qualify(&s.not_service_accounts),
            false,
        ),
        ip_blocks: Field::blocks(&s.ip_blocks, &s.not_ip_blocks),
        remote_ip_blocks: Field::blocks(&s.remote_ip_blocks, &s.not_remote_ip_blocks),
    }
}

fn compile_operation(o: &Operation) -> OperationMatch {
    let ports = |v: &Vec<String>| v.iter().filter_map(|p| p.parse::<u16>().ok()).collect();
    OperationMatch {
        hosts: Field::strings(&o.hosts, &o.not_hosts, false),
        ports: Field {
            values: ports(&o.ports),
            not_values: ports(&o.not_ports),
        },
        methods: Field::strings(&o.methods, &o.not_methods, false),
        paths: Field::strings(&o.paths, &o.not_paths, true),
    }
}

fn compile_condition(c: &Condition) -> Option<ConditionMatch> {
    let key = c.key.as_deref()?;
    let key = match key {
        "source.ip" => ConditionKey::SourceIp,
        "remote.ip" => ConditionKey::RemoteIp,
        "destination.ip" => ConditionKey::DestinationIp,
        "source.namespace" => ConditionKey::SourceNamespace,
        "source.principal" => ConditionKey::SourcePrincipal,
        "source.trustDomain" => ConditionKey::SourceTrustDomain,
        "source.serviceAccount" => ConditionKey::SourceServiceAccount,
        "destination.port" => ConditionKey::DestinationPort,
        "connection.sni" => ConditionKey::ConnectionSni,
        k => match k
            .strip_prefix("request.headers[")
            .and_then(|h| h.strip_suffix(']'))
        {
            Some(h) => ConditionKey::Header(h.to_ascii_lowercase()),
            None => ConditionKey::Unavailable(k.to_owned()),
        },
    };
    let is_ip = matches!(
        key,
        ConditionKey::SourceIp | ConditionKey::RemoteIp | ConditionKey::DestinationIp
    );
    Some(ConditionMatch {
        values: if is_ip {
            Field::default()
        } else {
            Field::strings(&c.values, &c.not_values, false)
        },
        blocks: if is_ip {
            Field::blocks(&c.values, &c.not_values)
        } else {
            Field::default()
        },
        key,
    })
}

#[cfg(test)]
mod tests;
