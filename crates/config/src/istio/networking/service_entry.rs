//! ServiceEntry: services outside the mesh registry (external APIs, VMs) added by hand.

use std::collections::BTreeMap;

use super::v;
use crate::diag::Findings;
use crate::k8s::meta::validate_labels;
use crate::path::FieldPath;

/// `spec` of a ServiceEntry.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceEntrySpec {
    /// Host names.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Virtual IPs or CIDRs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    /// Inside or outside the mesh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// How endpoints are found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// Static endpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<WorkloadEntry>,
    /// Endpoints are the mesh workloads with these labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<EntryWorkloadSelector>,
    /// Namespaces that see it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    /// Identities the endpoints' certificates must carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
}

/// A ServiceEntry port.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePort {
    /// Number.
    pub number: Option<u32>,
    /// Protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Port on the endpoints (defaults to `number`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
}

/// `location`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Location {
    /// Outside the mesh (no mTLS).
    MeshExternal,
    /// Part of the mesh.
    MeshInternal,
}

/// `resolution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Resolution {
    /// Forward to the original destination address.
    None,
    /// The listed endpoint addresses.
    Static,
    /// Resolve names by DNS, balance across all answers.
    Dns,
    /// Resolve names by DNS, use the first answer.
    DnsRoundRobin,
    /// Dynamic DNS.
    DynamicDns,
}

/// A static endpoint.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadEntry {
    /// IP, host name or `unix://` socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Port name to endpoint port.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<String, u32>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Locality (`region/zone/subzone`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// Load balancing weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Service account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
}

/// A ServiceEntry's `workloadSelector` (`labels`, unlike other selectors' `matchLabels`).
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntryWorkloadSelector {
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl ServiceEntrySpec {
    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        let resolution = self.resolution.unwrap_or(Resolution::None);
        if self.hosts.is_empty() {
            f.error(
                &at.field("hosts"),
                "service entry must have at least one host",
            );
        }
        for (i, h) in self.hosts.iter().enumerate() {
            let hp = at.field("hosts").index(i);
            if h == "*" {
                f.error(&hp, "hostname cannot be wildcard");
            } else if let Some(rest) = v::partial_wildcard(h) {
                // Istio's ValidatePartialWildCardDomain lets a ServiceEntry's first label be
                // `*x`; routing matches wildcards by whole labels only.
                match v::check_dns_name(&format!("x{rest}")) {
                    Err(e) => {
                        f.error(&hp, format!("invalid host \"{h}\": {e}"));
                    }
                    Ok(()) => {
                        f.warn(
                            &hp,
                            format!("a partial wildcard (\"{h}\") is accepted, as Istio accepts it, but not served: Meridian's wildcards match whole labels (\"*.example.com\"), so no request matches this host"),
                        );
                    }
                }
            } else if let Err(e) = v::check_wildcard_host(h) {
                f.error(&hp, e);
            }
        }
        for (i, a) in self.addresses.iter().enumerate() {
            let ap = at.field("addresses").index(i);
            match crate::istio::security::parse_cidr(a) {
                Err(e) => {
                    f.error(&ap, e);
                }
                Ok(_)
                    if a.contains('/')
                        && !matches!(resolution, Resolution::None | Resolution::Static) =>
                {
                    f.error(
                        &ap,
                        "CIDR addresses are allowed only for NONE/STATIC resolution types",
                    );
                }
                Ok(_) => {}
            }
        }
        let mut names: Vec<&str> = Vec::new();
        let mut numbers: Vec<u32> = Vec::new();
        for (i, p) in self.ports.iter().enumerate() {
            let pp = at.field("ports").index(i);
            match p.number {
                None => {
                    f.error(&pp.field("number"), "required field \"number\" is missing");
                }
                Some(n) => {
                    if !(1..=65535).contains(&n) {
                        f.error(&pp.field("number"), "port must be between 1-65535");
                    }
                    if numbers.contains(&n) {
                        f.error(&pp.field("number"), "port number cannot be duplicated");
                    }
                    numbers.push(n);
                }
            }
            match p.name.as_deref() {
                None | Some("") => {
                    f.error(&pp.field("name"), "required field \"name\" is missing");
                }
                Some(n) => {
                    if names.contains(&n) {
                        f.error(
                            &pp.field("name"),
                            format!("port names must be unique: \"{n}\""),
                        );
                    }
                    if let Err(e) = crate::k8s::meta::NameRule::Label.check(n) {
                        f.error(&pp.field("name"), format!("invalid port name: {n}: {e}"));
                    }
                    names.push(n);
                }
            }
            if let Some(t) = p.target_port
                && !(1..=65535).contains(&t)
            {
                f.error(&pp.field("targetPort"), "port must be between 1-65535");
            }
        }
        if self.workload_selector.is_some() && !self.endpoints.is_empty() {
            f.error(
                &at.field("workloadSelector"),
                "only one of WorkloadSelector or Endpoints can be set",
            );
        }
        if let Some(ws) = &self.workload_selector {
            validate_labels(f, &at.field("workloadSelector").field("labels"), &ws.labels);
        }
        match resolution {
            Resolution::None if !self.endpoints.is_empty() => {
                f.error(&at.field("endpoints"), "NONE mode cannot set endpoints");
            }
            Resolution::DnsRoundRobin if self.endpoints.len() > 1 => {
                f.error(
                    &at.field("endpoints"),
                    "DNS_ROUND_ROBIN mode cannot have multiple endpoints",
                );
            }
            Resolution::Static if self.endpoints.is_empty() && self.workload_selector.is_none() => {
                f.warn(
                    &at.field("resolution"),
                    "resolution STATIC without endpoints or workloadSelector: no endpoint serves these hosts (503)",
                )
                .hint("list the endpoints, or select workloads with workloadSelector");
            }
            Resolution::Dns | Resolution::DnsRoundRobin if self.endpoints.is_empty() => {
                // The hosts themselves are resolved: each must be a name DNS can answer.
                if let Some((i, h)) = self.hosts.iter().enumerate().find(|(_, h)| h.contains('*')) {
                    f.error(
                        &at.field("hosts").index(i),
                        format!("hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode {}: \"{h}\" is a wildcard", resolution_name(resolution)),
                    )
                    .hint("list endpoints to resolve, or use resolution NONE or DYNAMIC_DNS for a wildcard host");
                }
            }
            Resolution::DynamicDns => {
                for (i, h) in self.hosts.iter().enumerate() {
                    if !h.starts_with('*') {
                        f.error(
                            &at.field("hosts").index(i),
                            format!(
                                "host must be wildcarded for resolution mode DYNAMIC_DNS: \"{h}\""
                            ),
                        );
                    }
                }
                if !self.addresses.is_empty() {
                    f.error(&at.field("addresses"), "addresses cannot be set for resolution type DYNAMIC_DNS. HTTP route domains will only be generated for hosts");
                }
                if !self.endpoints.is_empty() {
                    f.error(&at.field("endpoints"), "endpoints cannot be set for resolution type DYNAMIC_DNS. Destination IP address determined from hosts");
                }
                for (i, p) in self.ports.iter().enumerate() {
                    let proto = p
                        .protocol
                        .as_deref()
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    if !matches!(proto.as_str(), "HTTP" | "TLS" | "GRPC" | "HTTP2") {
                        f.error(
                            &at.field("ports").index(i).field("protocol"),
                            "only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type DYNAMIC_DNS",
                        );
                    }
                }
            }
            _ => {}
        }
        for (i, e) in self.endpoints.iter().enumerate() {
            let ep = at.field("endpoints").index(i);
            match e.address.as_deref() {
                None | Some("") if e.network.is_none() => {
                    f.error(&ep.field("address"), "Address is required");
                }
                Some(addr) => {
                    let is_ip = addr.parse::<std::net::IpAddr>().is_ok();
                    if let Some(path) = addr.strip_prefix("unix://") {
                        if resolution != Resolution::Static {
                            f.error(&ep.field("address"), format!("endpoint address \"{addr}\" is not a valid FQDN or an IP address"))
                                .hint("a unix domain socket endpoint needs resolution STATIC");
                        } else if !path.starts_with('@')
                            && (!path.starts_with('/') || path.ends_with('/'))
                        {
                            f.error(
                                &ep.field("address"),
                                format!("{path} is not an absolute path to a file"),
                            );
                        }
                        if !e.ports.is_empty() {
                            f.error(&ep.field("ports"), "UDS may not include ports");
                        }
                        if self.ports.len() != 1 {
                            f.error(
                                &ep.field("address"),
                                "exactly 1 service port required for unix endpoints",
                            );
                        }
                    } else if resolution == Resolution::Static && !is_ip {
                        f.error(&ep.field("address"), format!("endpoint address \"{addr}\" is not a valid IP address (resolution STATIC)"));
                    } else if !is_ip && let Err(err) = v::check_dns_name(addr) {
                        f.error(&ep.field("address"), err);
                    }
                }
                _ => {}
            }
            for (name, port) in &e.ports {
                let pp = ep.field("ports").key(name.clone());
                if !names.contains(&name.as_str()) {
                    f.error(&pp, format!("endpoint port map must contain port name of ServiceEntry: \"{name}\" is not a port name"))
                        .at_key();
                }
                if !(1..=65535).contains(port) {
                    f.error(&pp, "port must be between 1-65535");
                }
            }
            validate_labels(f, &ep.field("labels"), &e.labels);
        }
        v::export_to(f, &at.field("exportTo"), &self.export_to);
    }
}

impl ServiceEntrySpec {
    /// The wildcard hosts (`*.example.com`) whose requests go to the host they name,
    /// resolved by DNS: with `resolution: NONE` or `DYNAMIC_DNS` and neither endpoints nor
    /// a workload selector, as Envoy's original-destination and dynamic forward proxy
    /// clusters serve them. Other wildcard hosts have no name to connect to.
    pub fn named_by_request(&self) -> impl Iterator<Item = (usize, &str)> {
        let dynamic = matches!(
            self.resolution,
            Some(Resolution::None | Resolution::DynamicDns)
        ) && self.endpoints.is_empty()
            && self.workload_selector.is_none();
        self.hosts
            .iter()
            .enumerate()
            .filter(move |(_, h)| dynamic && h.starts_with("*."))
            .map(|(i, h)| (i, h.as_str()))
    }

    /// DYNAMIC_DNS inside the mesh is served by sidecars only, not by a waypoint (the
    /// `istio.io/use-waypoint` label, unless it is `none`).
    pub(crate) fn validate_waypoint(
        &self,
        f: &mut Findings,
        at: &FieldPath,
        labels: &std::collections::BTreeMap<String, String>,
    ) {
        let waypoint = labels
            .get("istio.io/use-waypoint")
            .is_some_and(|w| !w.is_empty() && !w.eq_ignore_ascii_case("none"));
        if waypoint
            && self.resolution == Some(Resolution::DynamicDns)
            && self.location == Some(Location::MeshInternal)
        {
            f.error(
                &at.field("location"),
                "location MESH_INTERNAL with resolution type DYNAMIC_DNS is not supported when using waypoints",
            );
        }
    }
}

fn resolution_name(r: Resolution) -> &'static str {
    match r {
        Resolution::None => "NONE",
        Resolution::Static => "STATIC",
        Resolution::Dns => "DNS",
        Resolution::DnsRoundRobin => "DNS_ROUND_ROBIN",
        Resolution::DynamicDns => "DYNAMIC_DNS",
    }
}
