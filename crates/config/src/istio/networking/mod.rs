//! `networking.istio.io`: VirtualService, DestinationRule, Gateway and ServiceEntry, at
//! `v1`, `v1beta1` and `v1alpha3` (the same schema under three names).

mod destination_rule;
mod gateway;
mod service_entry;
mod virtual_service;

use std::collections::BTreeMap;

pub use destination_rule::*;
pub use gateway::*;
pub use service_entry::*;
pub use virtual_service::*;

use super::validation as v;
use crate::diag::Findings;
use crate::path::FieldPath;

/// `StringMatch`: exactly one of `exact`, `prefix` (case-sensitive) or `regex` (RE2, full
/// match).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StringMatch {
    /// Exact value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// Prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// RE2 regex matching the whole value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

impl StringMatch {
    /// Checks the oneof and the regex. `allow_empty` is for header/query matches, where an
    /// empty `StringMatch` means "present".
    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath, allow_empty: bool) {
        let set = [
            self.exact.is_some(),
            self.prefix.is_some(),
            self.regex.is_some(),
        ]
        .into_iter()
        .filter(|b| *b)
        .count();
        if set > 1 {
            f.error(at, "only one of exact, prefix or regex may be set");
        } else if set == 0 && !allow_empty {
            f.error(at, "one of exact, prefix or regex must be set");
        }
        if let Some(p) = &self.prefix
            && p.is_empty()
        {
            f.error(&at.field("prefix"), "prefix match must not be empty");
        }
        if let Some(r) = &self.regex {
            v::regex(f, &at.field("regex"), r);
        }
    }

    /// True when nothing is set (a header/query "present" match).
    pub fn is_empty(&self) -> bool {
        self.exact.is_none() && self.prefix.is_none() && self.regex.is_none()
    }
}

/// `Destination`: a service (by host), an optional subset and port.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Destination {
    /// Service host: a short name (`myapp`), an FQDN or a ServiceEntry host.
    pub host: Option<String>,
    /// A subset defined by a DestinationRule for the host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    /// The service port; needed when the service has several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<PortSelector>,
}

impl Destination {
    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        match self.host.as_deref() {
            None | Some("") => {
                f.error(&at.field("host"), "destination.host is required");
            }
            Some(h) => {
                if let Some(rest) = v::partial_wildcard(h)
                    && v::check_dns_name(&format!("x{rest}")).is_ok()
                {
                    // Istio accepts `*x` as the first label of a destination host; no
                    // service is ever registered under such a name (a ServiceEntry's
                    // partial wildcard host is not served), so the destination is missing.
                    f.warn(
                        &at.field("host"),
                        format!("a partial wildcard destination (\"{h}\") is accepted, as Istio accepts it, but no service can be it: Meridian's wildcards match whole labels (\"*.example.com\"), so requests routed here are answered 503 (NC, no cluster)"),
                    );
                } else if h == "*" {
                    f.error(&at.field("host"), "invalid destination host *");
                } else if let Err(e) = v::check_wildcard_host(h) {
                    f.error(&at.field("host"), e);
                }
            }
        }
        if let Some(s) = &self.subset
            && let Err(e) = crate::k8s::meta::NameRule::Label.check(s)
        {
            f.error(
                &at.field("subset"),
                format!("subset name \"{s}\" is invalid: {e}"),
            );
        }
        if let Some(p) = &self.port {
            match p.number {
                None | Some(0) => {
                    f.error(&at.field("port"), "port number is required");
                }
                n => v::port(f, &at.field("port").field("number"), n),
            }
        }
    }
}

/// `PortSelector`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortSelector {
    /// Port number.
    pub number: Option<u32>,
}

/// `Percent`: a double in 0..=100.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Percent {
    /// The percentage.
    #[serde(default)]
    pub value: f64,
}

/// `Headers`: operations on request and response headers.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Headers {
    /// On the request forwarded upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<HeaderOperations>,
    /// On the response returned downstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<HeaderOperations>,
}

/// Set, add and remove.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderOperations {
    /// Overwrite these headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Append these headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub add: BTreeMap<String, String>,
    /// Remove these headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

impl Headers {
    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        for (field, ops) in [("request", &self.request), ("response", &self.response)] {
            let Some(ops) = ops else { continue };
            let op = at.field(field);
            for (kind, map) in [("set", &ops.set), ("add", &ops.add)] {
                for (name, value) in map {
                    let hp = op.field(kind).key(name.clone());
                    header_op_name(f, &hp, name, field == "request");
                    if value.contains(['\r', '\n', '\0']) {
                        f.error(&hp, format!("invalid header value for \"{name}\": control characters are not allowed"));
                    } else if let Err(e) = v::check_header_value(value) {
                        f.error(&hp, e).hint("write a literal % as %%");
                    } else if value.contains('%') {
                        f.warn(
                            &hp,
                            format!("Envoy reads % in header values as substitutions (%VARIABLE%, %% for %); Meridian does not: \"{value}\" is sent as written"),
                        );
                    }
                }
            }
            for (i, name) in ops.remove.iter().enumerate() {
                header_op_name(f, &op.field("remove").index(i), name, field == "request");
            }
        }
    }
}

fn header_op_name(f: &mut Findings, at: &FieldPath, name: &str, request: bool) {
    if let Err(e) = v::check_header_name(name) {
        f.error(at, e).at_key();
        return;
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with(':') && !(request && lower == ":authority") {
        f.error(
            at,
            format!("invalid header \"{name}\": pseudo-headers may not be modified"),
        )
        .at_key();
    } else if lower == "host" && !request {
        f.error(
            at,
            "invalid header \"host\": only request headers may set the host",
        )
        .at_key();
    }
}

/// Gateway names in `gateways:`: `mesh`, `name`, or `namespace/name`.
pub(crate) fn gateway_names(f: &mut Findings, at: &FieldPath, names: &[String]) {
    for (i, g) in names.iter().enumerate() {
        let p = at.index(i);
        if g == "mesh" {
            continue;
        }
        let (ns, name) = g.split_once('/').unwrap_or(("", g));
        if !ns.is_empty()
            && let Err(e) = crate::k8s::meta::NameRule::Label.check(ns)
        {
            f.error(&p, format!("invalid gateway namespace in \"{g}\": {e}"));
        }
        if let Err(e) = crate::k8s::meta::NameRule::Subdomain.check(name) {
            f.error(&p, format!("invalid gateway name \"{g}\": {e}"));
        }
    }
}
