//! AuthorizationPolicy: who may call what, evaluated at every sidecar (DENY first, then ALLOW).

use std::net::IpAddr;

use super::{PolicyTargetReference, WorkloadSelector};
use crate::diag::{Findings, did_you_mean};
use crate::path::FieldPath;

/// `spec` of an AuthorizationPolicy.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationPolicySpec {
    /// Workloads it applies to; absent means the namespace (or the mesh in the root
    /// namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// Deprecated single form of `targetRefs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<PolicyTargetReference>,
    /// Objects it attaches to instead of a selector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<PolicyTargetReference>,
    /// Rules; any matching rule makes the policy match. No rules: never matches (an ALLOW
    /// policy with no rules denies everything).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// ALLOW (default), DENY, AUDIT or CUSTOM.
    #[serde(default)]
    pub action: Action,
    /// The external authorizer for CUSTOM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<ExtensionProvider>,
}

/// Policy actions.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    /// Allow matching requests.
    #[default]
    Allow,
    /// Deny matching requests.
    Deny,
    /// Mark matching requests for auditing; no effect on the decision.
    Audit,
    /// Ask an external authorizer.
    Custom,
}

/// `provider`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtensionProvider {
    /// Name of the provider in the mesh config.
    pub name: Option<String>,
}

/// A rule: `from` AND `to` AND `when`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// Sources; any may match (absent: any source; `[]` is refused).
    #[serde(
        default,
        deserialize_with = "non_empty_from",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub from: Vec<From>,
    /// Operations; any may match (absent: any operation; `[]` is refused).
    #[serde(
        default,
        deserialize_with = "non_empty_to",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub to: Vec<To>,
    /// Conditions; all must match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Condition>,
}

/// `from: []` would read as "any source" like an absent `from`; Istio refuses it, as it
/// most likely means a list left unfinished.
fn non_empty_from<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<From>, D::Error> {
    non_empty(d, "from")
}

/// As [`non_empty_from`], for `to`.
fn non_empty_to<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<To>, D::Error> {
    non_empty(d, "to")
}

fn non_empty<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
    field: &str,
) -> Result<Vec<T>, D::Error> {
    use serde::de::Error as _;
    let list = <Vec<T> as serde::Deserialize>::deserialize(d)?;
    if list.is_empty() {
        return Err(D::Error::custom(format!("`{field}` must not be empty")));
    }
    Ok(list)
}

/// `from`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct From {
    /// The source.
    pub source: Option<Source>,
}

/// `to`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct To {
    /// The operation.
    pub operation: Option<Operation>,
}

/// Who is calling. Fields are ANDed; values within a field are ORed.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    /// Peer identities (`cluster.local/ns/default/sa/myapp`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Peer identities that do not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_principals: Vec<String>,
    /// JWT principals (`iss/sub`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_principals: Vec<String>,
    /// JWT principals that do not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_request_principals: Vec<String>,
    /// Trust domains of the peer identities (`cluster.local`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_domains: Vec<String>,
    /// Trust domains that do not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_trust_domains: Vec<String>,
    /// Peer namespaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Peer namespaces that do not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_namespaces: Vec<String>,
    /// Peer service accounts (`ns/sa` or `sa`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_accounts: Vec<String>,
    /// Peer service accounts that do not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_service_accounts: Vec<String>,
    /// Peer addresses (IP or CIDR).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_blocks: Vec<String>,
    /// Peer addresses that do not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ip_blocks: Vec<String>,
    /// Original client addresses (`X-Forwarded-For`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_ip_blocks: Vec<String>,
    /// Original client addresses that do not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_remote_ip_blocks: Vec<String>,
}

/// What is being called. Fields are ANDed; values within a field are ORed.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Operation {
    /// Hosts (`Host` header), with `*` prefix/suffix matching.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Hosts that do not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_hosts: Vec<String>,
    /// Destination ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// Ports that do not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ports: Vec<String>,
    /// HTTP methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Methods that do not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_methods: Vec<String>,
    /// Paths, with `*` prefix/suffix matching.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Paths that do not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_paths: Vec<String>,
}

/// `when`: a condition on a request attribute.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    /// The attribute (`request.headers[x-token]`, `source.ip`, `destination.port`, ...).
    pub key: Option<String>,
    /// Values that match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Values that do not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_values: Vec<String>,
}

/// Attribute keys a `when` condition may use (Istio's "Authorization Policy Conditions").
const CONDITION_KEYS: &[&str] = &[
    "request.headers",
    "source.ip",
    "remote.ip",
    "source.namespace",
    "source.principal",
    "source.trustDomain",
    "source.serviceAccount",
    "request.auth.principal",
    "request.auth.audiences",
    "request.auth.presenter",
    "request.auth.claims",
    "destination.ip",
    "destination.port",
    "connection.sni",
];

impl AuthorizationPolicySpec {
    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        if let Some(s) = &self.selector {
            s.validate(f, &at.field("selector"));
        }
        let has_targets = self.target_ref.is_some() || !self.target_refs.is_empty();
        if self.selector.is_some() && has_targets {
            f.error(
                &at.field("selector"),
                "only one of targetRefs or selector can be set",
            );
        }
        if self.target_ref.is_some() && !self.target_refs.is_empty() {
            f.error(
                &at.field("targetRef"),
                "only one of targetRefs or targetRef can be set",
            );
        }
        if let Some(t) = &self.target_ref {
            t.validate(f, &at.field("targetRef"));
        }
        for (i, t) in self.target_refs.iter().enumerate() {
            t.validate(f, &at.field("targetRefs").index(i));
        }
        match (self.action, &self.provider) {
            (Action::Custom, None) => {
                f.error(
                    &at.field("provider"),
                    "a CUSTOM policy must specify a provider",
                );
            }
            (Action::Custom, Some(p)) if p.name.as_deref().is_none_or(str::is_empty) => {
                f.error(
                    &at.field("provider").field("name"),
                    "required field \"name\" is missing",
                );
            }
            (Action::Custom, Some(_)) => {}
            (_, Some(_)) => {
                f.error(
                    &at.field("provider"),
                    "provider may only be set when action is CUSTOM",
                );
            }
            (_, None) => {}
        }
        if self.rules.is_empty() && matches!(self.action, Action::Deny | Action::Custom) {
            let action = if self.action == Action::Deny {
                "DENY"
            } else {
                "CUSTOM"
            };
            f.error(
                &at.field("action"),
                format!("{action} action without `rules` is meaningless as it will never be triggered, add an empty rule `{{}}` if you want it be triggered for every request"),
            );
        }
        if self.action == Action::Custom {
            self.validate_custom_rules(f, at);
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let rp = at.field("rules").index(i);
            for (j, from) in rule.from.iter().enumerate() {
                let fp = rp.field("from").index(j);
                match &from.source {
                    None => {
                        f.error(&fp.field("source"), "required field \"source\" is missing");
                    }
                    Some(s) => s.validate(f, &fp.field("source")),
                }
            }
            for (j, to) in rule.to.iter().enumerate() {
                let tp = rp.field("to").index(j);
                match &to.operation {
                    None => {
                        f.error(
                            &tp.field("operation"),
                            "required field \"operation\" is missing",
                        );
                    }
                    Some(o) => o.validate(f, &tp.field("operation")),
                }
            }
            for (j, c) in rule.when.iter().enumerate() {
                c.validate(f, &rp.field("when").index(j));
            }
        }
    }
}

impl AuthorizationPolicySpec {
    /// The external authorizer sees the request before the peer's identity and the request's
    /// JWT are known to it, so CUSTOM rules may not match on them (Istio's rule).
    fn validate_custom_rules(&self, f: &mut Findings, at: &FieldPath) {
        for (i, rule) in self.rules.iter().enumerate() {
            let rp = at.field("rules").index(i);
            for (j, from) in rule.from.iter().enumerate() {
                let Some(src) = &from.source else { continue };
                let sp = rp.field("from").index(j).field("source");
                for (field, set) in [
                    ("namespaces", !src.namespaces.is_empty()),
                    ("notNamespaces", !src.not_namespaces.is_empty()),
                    ("serviceAccounts", !src.service_accounts.is_empty()),
                    ("notServiceAccounts", !src.not_service_accounts.is_empty()),
                    ("trustDomains", !src.trust_domains.is_empty()),
                    ("notTrustDomains", !src.not_trust_domains.is_empty()),
                    ("principals", !src.principals.is_empty()),
                    ("notPrincipals", !src.not_principals.is_empty()),
                    ("requestPrincipals", !src.request_principals.is_empty()),
                    (
                        "notRequestPrincipals",
                        !src.not_request_principals.is_empty(),
                    ),
                ] {
                    if set {
                        f.error(
                            &sp.field(field),
                            format!("from.{field} is currently not supported with CUSTOM action"),
                        )
                        .at_key();
                    }
                }
            }
            for (j, c) in rule.when.iter().enumerate() {
                let Some(key) = c.key.as_deref() else {
                    continue;
                };
                if matches!(
                    key,
                    "source.namespace"
                        | "source.serviceAccount"
                        | "source.trustDomain"
                        | "source.principal"
                ) || key.starts_with("request.auth.")
                {
                    f.error(
                        &rp.field("when").index(j).field("key"),
                        format!("{key} is currently not supported with CUSTOM action"),
                    );
                }
            }
        }
    }
}

/// `istio.io/dry-run` on an AuthorizationPolicy: `true` or `false`, and only for ALLOW and
/// DENY policies (Istio's rule).
pub(crate) fn validate_dry_run(
    f: &mut Findings,
    spec: &AuthorizationPolicySpec,
    annotations: &std::collections::BTreeMap<String, String>,
) {
    const DRY_RUN: &str = "istio.io/dry-run";
    let Some(value) = annotations.get(DRY_RUN) else {
        return;
    };
    let at = FieldPath::root()
        .field("metadata")
        .field("annotations")
        .key(DRY_RUN.to_string());
    match spec.action {
        Action::Allow | Action::Deny => {
            if !matches!(
                value.as_str(),
                "1" | "t"
                    | "T"
                    | "TRUE"
                    | "true"
                    | "True"
                    | "0"
                    | "f"
                    | "F"
                    | "FALSE"
                    | "false"
                    | "False"
            ) {
                f.error(
                    &at,
                    format!(
                        "annotation {DRY_RUN} has an invalid value ({value}): it is true or false"
                    ),
                );
            }
        }
        Action::Audit | Action::Custom => {
            let action = if spec.action == Action::Audit {
                "AUDIT"
            } else {
                "CUSTOM"
            };
            f.error(
                &at,
                format!("the annotation {DRY_RUN} currently only supports action ALLOW/DENY, found action {action}"),
            )
            .at_key();
        }
    }
}

fn non_empty_values(f: &mut Findings, at: &FieldPath, field: &'static str, values: &[String]) {
    for (i, v) in values.iter().enumerate() {
        if v.is_empty() {
            f.error(
                &at.field(field).index(i),
                format!("empty value is not allowed, found in {field}"),
            );
        }
    }
}

fn ip_blocks(f: &mut Findings, at: &FieldPath, field: &'static str, values: &[String]) {
    for (i, v) in values.iter().enumerate() {
        if let Err(e) = parse_cidr(v) {
            f.error(&at.field(field).index(i), e);
        }
    }
}

/// Parses an IP address or CIDR block.
pub fn parse_cidr(v: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = match v.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (v, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("invalid IP address or CIDR block \"{v}\""))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| format!("invalid CIDR prefix length in \"{v}\" (0 to {max})"))?,
    };
    Ok((ip, len))
}

impl Source {
    fn validate(&self, f: &mut Findings, at: &FieldPath) {
        let lists = [
            &self.principals,
            &self.not_principals,
            &self.request_principals,
            &self.not_request_principals,
            &self.trust_domains,
            &self.not_trust_domains,
            &self.namespaces,
            &self.not_namespaces,
            &self.service_accounts,
            &self.not_service_accounts,
            &self.ip_blocks,
            &self.not_ip_blocks,
            &self.remote_ip_blocks,
            &self.not_remote_ip_blocks,
        ];
        if lists.iter().all(|l| l.is_empty()) {
            f.error(at, "`from.source` must not be empty")
                .hint("name the sources to match, or remove `from` to match any source");
        }
        if !self.service_accounts.is_empty() || !self.not_service_accounts.is_empty() {
            let conflict = !self.namespaces.is_empty()
                || !self.not_namespaces.is_empty()
                || !self.principals.is_empty()
                || !self.not_principals.is_empty();
            if conflict {
                f.error(
                    at,
                    "Cannot set serviceAccounts with namespaces or principals",
                );
            }
        }
        for (field, values) in [
            ("principals", &self.principals),
            ("notPrincipals", &self.not_principals),
            ("requestPrincipals", &self.request_principals),
            ("notRequestPrincipals", &self.not_request_principals),
            ("trustDomains", &self.trust_domains),
            ("notTrustDomains", &self.not_trust_domains),
            ("namespaces", &self.namespaces),
            ("notNamespaces", &self.not_namespaces),
            ("serviceAccounts", &self.service_accounts),
            ("notServiceAccounts", &self.not_service_accounts),
        ] {
            non_empty_values(f, at, field, values);
        }
        for (field, values) in [
            ("ipBlocks", &self.ip_blocks),
            ("notIpBlocks", &self.not_ip_blocks),
            ("remoteIpBlocks", &self.remote_ip_blocks),
            ("notRemoteIpBlocks", &self.not_remote_ip_blocks),
        ] {
            ip_blocks(f, at, field, values);
        }
        for (i, p) in self
            .principals
            .iter()
            .chain(&self.not_principals)
            .enumerate()
        {
            if p.starts_with("spiffe://") {
                let field = if i < self.principals.len() {
                    "principals"
                } else {
                    "notPrincipals"
                };
                let idx = if i < self.principals.len() {
                    i
                } else {
                    i - self.principals.len()
                };
                f.error(
                    &at.field(field).index(idx),
                    format!("principal \"{p}\" must not include the spiffe:// prefix"),
                )
                .hint(format!("write \"{}\"", p.trim_start_matches("spiffe://")));
            }
        }
    }
}

impl Operation {
    fn validate(&self, f: &mut Findings, at: &FieldPath) {
        let lists = [
            &self.hosts,
            &self.not_hosts,
            &self.ports,
            &self.not_ports,
            &self.methods,
            &self.not_methods,
            &self.paths,
            &self.not_paths,
        ];
        if lists.iter().all(|l| l.is_empty()) {
            f.error(at, "`to.operation` must not be empty")
                .hint("name the operations to match, or remove `to` to match any operation");
        }
        for (field, values) in [
            ("hosts", &self.hosts),
            ("notHosts", &self.not_hosts),
            ("methods", &self.methods),
            ("notMethods", &self.not_methods),
            ("paths", &self.paths),
            ("notPaths", &self.not_paths),
        ] {
            non_empty_values(f, at, field, values);
        }
        for (field, values) in [("ports", &self.ports), ("notPorts", &self.not_ports)] {
            for (i, p) in values.iter().enumerate() {
                if p.parse::<u16>().ok().filter(|p| *p > 0).is_none() {
                    f.error(
                        &at.field(field).index(i),
                        format!("invalid port \"{p}\": must be a number between 1 and 65535"),
                    );
                }
            }
        }
        for (field, values) in [("paths", &self.paths), ("notPaths", &self.not_paths)] {
            for (i, p) in values.iter().enumerate() {
                let inner = p.trim_start_matches('*').trim_end_matches('*');
                if inner.contains('*') && !p.contains("{*}") && !p.contains("{**}") {
                    f.error(
                        &at.field(field).index(i),
                        format!("invalid path \"{p}\": `*` is only allowed as a prefix or suffix"),
                    );
                }
            }
        }
    }
}

impl Condition {
    fn validate(&self, f: &mut Findings, at: &FieldPath) {
        match self.key.as_deref() {
            None | Some("") => {
                f.error(&at.field("key"), "required field \"key\" is missing");
            }
            Some(key) => {
                let base = key.split('[').next().unwrap_or(key);
                let bracketed = key.contains('[');
                let known = CONDITION_KEYS.contains(&base)
                    || key.starts_with("experimental.envoy.filters.");
                if !known {
                    let hint = did_you_mean(base, CONDITION_KEYS.iter().copied())
                        .map(|k| format!("did you mean \"{k}\"?"));
                    let e = f.error(&at.field("key"), format!("unknown attribute: {key}"));
                    if let Some(h) = hint {
                        e.hint(h);
                    }
                } else if matches!(base, "request.headers" | "request.auth.claims")
                    && (!bracketed || !key.ends_with(']') || key.len() <= base.len() + 2)
                {
                    f.error(
                        &at.field("key"),
                        format!("invalid key \"{key}\": expected {base}[<name>]"),
                    );
                }
                non_empty_values(f, at, "values", &self.values);
                non_empty_values(f, at, "notValues", &self.not_values);
                if self.values.is_empty() && self.not_values.is_empty() {
                    f.error(
                        at,
                        format!("at least one of values or notValues must be set for key: {key}"),
                    );
                }
                if matches!(base, "source.ip" | "remote.ip" | "destination.ip") {
                    ip_blocks(f, at, "values", &self.values);
                    ip_blocks(f, at, "notValues", &self.not_values);
                }
                if base == "destination.port" {
                    for (field, values) in
                        [("values", &self.values), ("notValues", &self.not_values)]
                    {
                        for (i, v) in values.iter().enumerate() {
                            if v.parse::<u16>().is_err() {
                                f.error(&at.field(field).index(i), format!("invalid port \"{v}\""));
                            }
                        }
                    }
                }
            }
        }
    }
}
