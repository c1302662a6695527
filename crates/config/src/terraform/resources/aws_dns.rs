//! Route 53: hosted zones, records with every routing policy, and health checks. What the
//! global plane's DNS answers.

use super::{Inst, Kind, LOCAL_DOMAIN, Spec, UPPER, check_region};
use crate::terraform::schema::{Schema, Sink, Ty, block, computed, opt, optc, req};
use crate::terraform::value::Value;

static VPC: Schema = Schema {
    attrs: &[req("vpc_id", Ty::Str), optc("vpc_region", Ty::Str)],
    blocks: &[],
};
static ZONE_SCHEMA: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        opt("comment", Ty::Str).dstr("Managed by Terraform"),
        opt("delegation_set_id", Ty::Str),
        opt("force_destroy", Ty::Bool).dbool(false),
        opt("tags", Ty::MapStr),
        computed("tags_all", Ty::MapStr),
        computed("zone_id", Ty::Str),
        computed("id", Ty::Str),
        computed("arn", Ty::Str),
        computed("name_servers", Ty::ListStr),
        computed("primary_name_server", Ty::Str),
    ],
    blocks: &[block("vpc", &VPC)],
};

/// A hosted zone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Zone {
    /// Zone id.
    pub zone_id: String,
    /// Domain name, without the trailing dot.
    pub name: String,
    /// Private (associated with VPCs).
    pub private: bool,
    /// Name servers.
    pub name_servers: Vec<String>,
}

/// `aws_route53_zone`.
pub static ZONE: Kind = Kind {
    name: "aws_route53_zone",
    schema: &ZONE_SCHEMA,
    computed: |c| {
        let name = c
            .s("name")
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_lowercase();
        let id = format!("Z{}", c.ident("zone", 20, UPPER));
        c.set("name", name);
        c.set("zone_id", id.clone());
        c.set("arn", format!("arn:aws:route53:::hostedzone/{id}"));
        c.set("id", id);
        let ns: Vec<Value> = (1..=4)
            .map(|n| Value::str(format!("ns-{n}.route53.{LOCAL_DOMAIN}")))
            .collect();
        c.set(
            "primary_name_server",
            format!("ns-1.route53.{LOCAL_DOMAIN}"),
        );
        c.set("name_servers", Value::list(ns));
        c.tags_all();
    },
    spec: |i, _| {
        let r = i.r();
        Spec::Zone(Zone {
            zone_id: r.s("zone_id"),
            name: r.s("name"),
            private: !r.blocks("vpc").is_empty(),
            name_servers: r.list("name_servers"),
        })
    },
    deprecated: None,
};

const RECORD_TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "DS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "TXT",
    "TLSA", "SSHFP", "SVCB", "HTTPS",
];

static ALIAS: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        req("zone_id", Ty::Str),
        req("evaluate_target_health", Ty::Bool),
    ],
    blocks: &[],
};
static FAILOVER: Schema = Schema {
    attrs: &[req("type", Ty::Str).one_of(&["PRIMARY", "SECONDARY"])],
    blocks: &[],
};
static GEOLOCATION: Schema = Schema {
    attrs: &[
        opt("continent", Ty::Str),
        opt("country", Ty::Str),
        opt("subdivision", Ty::Str),
    ],
    blocks: &[],
};
static LATENCY: Schema = Schema {
    attrs: &[req("region", Ty::Str).check(check_region)],
    blocks: &[],
};
static WEIGHTED: Schema = Schema {
    attrs: &[req("weight", Ty::Int).range(0, 255)],
    blocks: &[],
};
static COORDINATES: Schema = Schema {
    attrs: &[req("latitude", Ty::Str), req("longitude", Ty::Str)],
    blocks: &[],
};
static GEOPROXIMITY: Schema = Schema {
    attrs: &[
        opt("aws_region", Ty::Str),
        opt("bias", Ty::Int).range(-99, 99),
        opt("local_zone_group", Ty::Str),
    ],
    blocks: &[block("coordinates", &COORDINATES)],
};
static CIDR: Schema = Schema {
    attrs: &[req("collection_id", Ty::Str), req("location_name", Ty::Str)],
    blocks: &[],
};
static RECORD_SCHEMA: Schema = Schema {
    attrs: &[
        req("zone_id", Ty::Str),
        req("name", Ty::Str),
        req("type", Ty::Str).one_of(RECORD_TYPES),
        opt("ttl", Ty::Int).range(0, 2_147_483_647),
        opt("records", Ty::SetStr),
        opt("set_identifier", Ty::Str),
        opt("health_check_id", Ty::Str),
        opt("multivalue_answer_routing_policy", Ty::Bool),
        optc("allow_overwrite", Ty::Bool),
        computed("fqdn", Ty::Str),
        computed("id", Ty::Str),
    ],
    blocks: &[
        block("alias", &ALIAS).max(1),
        block("failover_routing_policy", &FAILOVER).max(1),
        block("geolocation_routing_policy", &GEOLOCATION).max(1),
        block("latency_routing_policy", &LATENCY).max(1),
        block("weighted_routing_policy", &WEIGHTED).max(1),
        block("geoproximity_routing_policy", &GEOPROXIMITY).max(1),
        block("cidr_routing_policy", &CIDR).max(1),
    ],
};

/// How a record is chosen among records of the same name and type.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "policy", rename_all = "snake_case")]
pub enum Policy {
    /// One record set.
    Simple,
    /// Share by weight.
    Weighted {
        /// 0 to 255.
        weight: i64,
    },
    /// Lowest latency to the resolver.
    Latency {
        /// The record's AWS region.
        region: String,
    },
    /// Primary while healthy, then secondary.
    Failover {
        /// PRIMARY (else SECONDARY).
        primary: bool,
    },
    /// By the resolver's location.
    Geolocation {
        /// Continent code.
        continent: Option<String>,
        /// Country code (`*` is the default record).
        country: Option<String>,
        /// Subdivision (US state).
        subdivision: Option<String>,
    },
    /// Up to eight healthy records.
    Multivalue,
    /// By distance, with a bias.
    Geoproximity {
        /// AWS region of the resource.
        region: Option<String>,
        /// -99 to 99.
        bias: i64,
    },
    /// By the resolver's IP range.
    Cidr {
        /// Collection id.
        collection_id: String,
        /// Location name.
        location_name: String,
    },
}

impl Policy {
    /// The policy's name, for messages.
    pub fn word(&self) -> &'static str {
        match self {
            Policy::Simple => "simple",
            Policy::Weighted { .. } => "weighted",
            Policy::Latency { .. } => "latency",
            Policy::Failover { .. } => "failover",
            Policy::Geolocation { .. } => "geolocation",
            Policy::Multivalue => "multivalue",
            Policy::Geoproximity { .. } => "geoproximity",
            Policy::Cidr { .. } => "cidr",
        }
    }
}

/// An alias target.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Alias {
    /// The target's DNS name.
    pub name: String,
    /// The target's hosted zone id.
    pub zone_id: String,
    /// Answer only while the target is healthy.
    pub evaluate_target_health: bool,
}

/// A record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Record {
    /// Zone id.
    pub zone_id: String,
    /// Name as written.
    pub name: String,
    /// Record type.
    pub record_type: String,
    /// TTL, seconds (none for aliases).
    pub ttl: Option<i64>,
    /// Values.
    pub records: Vec<String>,
    /// `set_identifier`.
    pub set_identifier: Option<String>,
    /// `health_check_id`.
    pub health_check_id: Option<String>,
    /// Routing policy.
    pub policy: Policy,
    /// Alias target.
    pub alias: Option<Alias>,
}

#[allow(clippy::too_many_lines)]
fn record_spec(i: &Inst<'_>, sink: &mut Sink<'_>) -> Spec {
    let r = i.r();
    let mut policies: Vec<(&str, Policy)> = Vec::new();
    if let Some(w) = r.block("weighted_routing_policy") {
        policies.push((
            "weighted_routing_policy",
            Policy::Weighted {
                weight: w.i("weight"),
            },
        ));
    }
    if let Some(l) = r.block("latency_routing_policy") {
        policies.push((
            "latency_routing_policy",
            Policy::Latency {
                region: l.s("region"),
            },
        ));
    }
    if let Some(f) = r.block("failover_routing_policy") {
        policies.push((
            "failover_routing_policy",
            Policy::Failover {
                primary: f.s("type") == "PRIMARY",
            },
        ));
    }
    if let Some(g) = r.block("geolocation_routing_policy") {
        let p = Policy::Geolocation {
            continent: g.os("continent"),
            country: g.os("country"),
            subdivision: g.os("subdivision"),
        };
        if g.os("continent").is_none() && g.os("country").is_none() {
            i.error(
                sink,
                "geolocation_routing_policy",
                "a geolocation policy needs continent or country (\"*\" for the default record)",
            );
        }
        if g.os("continent").is_some() && g.os("country").is_some() {
            i.error(
                sink,
                "geolocation_routing_policy.country",
                "a geolocation policy takes continent or country, not both",
            );
        }
        policies.push(("geolocation_routing_policy", p));
    }
    if let Some(g) = r.block("geoproximity_routing_policy") {
        policies.push((
            "geoproximity_routing_policy",
            Policy::Geoproximity {
                region: g.os("aws_region"),
                bias: g.i("bias"),
            },
        ));
    }
    if let Some(c) = r.block("cidr_routing_policy") {
        policies.push((
            "cidr_routing_policy",
            Policy::Cidr {
                collection_id: c.s("collection_id"),
                location_name: c.s("location_name"),
            },
        ));
    }
    if r.b("multivalue_answer_routing_policy") {
        policies.push(("multivalue_answer_routing_policy", Policy::Multivalue));
    }
    if policies.len() > 1 {
        i.error(
            sink,
            policies[1].0,
            format!(
                "{} and {} cannot both be set on one record",
                policies[0].0, policies[1].0
            ),
        );
    }
    let policy = policies.first().map_or(Policy::Simple, |p| p.1.clone());
    let set_id = r.os("set_identifier");
    if policy != Policy::Simple && set_id.is_none() {
        i.error(
            sink,
            policies[0].0,
            format!("a record with {} needs set_identifier", policies[0].0),
        )
        .hint = Some("set_identifier tells records of one name and type apart".into());
    }
    if policy == Policy::Simple && set_id.is_some() {
        i.error(
            sink,
            "set_identifier",
            "set_identifier is only for records with a routing policy",
        );
    }
    let alias = r.block("alias").map(|a| Alias {
        name: a.s("name").trim_end_matches('.').to_lowercase(),
        zone_id: a.s("zone_id"),
        evaluate_target_health: a.b("evaluate_target_health"),
    });
    let records = r.list("records");
    let ttl = r.oi("ttl");
    let rtype = r.s("type");
    match &alias {
        Some(_) => {
            if !records.is_empty() {
                i.error(sink, "records", "records and alias cannot both be set");
            }
            if ttl.is_some() {
                i.error(
                    sink,
                    "ttl",
                    "an alias record takes no ttl (it uses the target's)",
                );
            }
            if policy == Policy::Multivalue {
                i.error(
                    sink,
                    "alias",
                    "a multivalue answer record cannot be an alias",
                );
            }
        }
        None => {
            if records.is_empty() && !r.unknown("records") {
                i.error(
                    sink,
                    "",
                    "a record needs records (with a ttl) or an alias block",
                );
            } else if ttl.is_none() {
                i.error(sink, "records", "ttl is required with records");
            }
        }
    }
    for v in &records {
        let ok = match rtype.as_str() {
            "A" => v.parse::<std::net::Ipv4Addr>().is_ok(),
            "AAAA" => v.parse::<std::net::Ipv6Addr>().is_ok(),
            _ => true,
        };
        if !ok {
            i.error(
                sink,
                "records",
                format!(
                    "\"{v}\" is not an address for {} {rtype} record",
                    article(&rtype)
                ),
            );
        }
    }
    if rtype == "CNAME" && records.len() > 1 {
        i.error(sink, "records", "a CNAME record holds exactly one value");
    }
    Spec::Record(Record {
        zone_id: r.s("zone_id"),
        name: r.s("name").trim_end_matches('.').to_lowercase(),
        record_type: rtype,
        ttl,
        records,
        set_identifier: set_id,
        health_check_id: r.os("health_check_id"),
        policy,
        alias,
    })
}

/// `aws_route53_record`.
pub static RECORD: Kind = Kind {
    name: "aws_route53_record",
    schema: &RECORD_SCHEMA,
    computed: |c| {
        let name = c
            .s("name")
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_lowercase();
        let mut id = format!(
            "{}_{}_{}",
            c.s("zone_id").unwrap_or_default(),
            name,
            c.s("type").unwrap_or_default()
        );
        if let Some(s) = c.s("set_identifier") {
            id = format!("{id}_{s}");
        }
        c.set("fqdn", name);
        c.set("id", id);
        c.fill("allow_overwrite", false);
    },
    spec: record_spec,
    deprecated: None,
};

static HEALTH_CHECK_SCHEMA: Schema = Schema {
    attrs: &[
        req("type", Ty::Str).one_of(&[
            "HTTP",
            "HTTPS",
            "HTTP_STR_MATCH",
            "HTTPS_STR_MATCH",
            "TCP",
            "CALCULATED",
            "CLOUDWATCH_METRIC",
            "RECOVERY_CONTROL",
        ]),
        opt("fqdn", Ty::Str),
        opt("ip_address", Ty::Str),
        optc("port", Ty::Int).range(1, 65535),
        opt("resource_path", Ty::Str),
        optc("failure_threshold", Ty::Int).range(1, 10),
        opt("request_interval", Ty::Int).dint(30),
        opt("search_string", Ty::Str),
        opt("measure_latency", Ty::Bool).dbool(false),
        opt("invert_healthcheck", Ty::Bool).dbool(false),
        opt("disabled", Ty::Bool).dbool(false),
        optc("enable_sni", Ty::Bool),
        opt("child_healthchecks", Ty::SetStr),
        opt("child_health_threshold", Ty::Int).range(0, 256),
        opt("cloudwatch_alarm_name", Ty::Str),
        opt("cloudwatch_alarm_region", Ty::Str),
        opt("insufficient_data_health_status", Ty::Str).one_of(&[
            "Healthy",
            "Unhealthy",
            "LastKnownStatus",
        ]),
        opt("regions", Ty::SetStr),
        opt("reference_name", Ty::Str),
        opt("routing_control_arn", Ty::Str),
        opt("triggers", Ty::MapStr),
        opt("tags", Ty::MapStr),
        computed("tags_all", Ty::MapStr),
        computed("id", Ty::Str),
        computed("arn", Ty::Str),
    ],
    blocks: &[],
};

/// A health check the DNS consults.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HealthCheck {
    /// Id.
    pub id: String,
    /// `type`.
    pub check_type: String,
    /// `fqdn`.
    pub fqdn: Option<String>,
    /// `ip_address`.
    pub ip_address: Option<String>,
    /// Port (80 or 443 by default).
    pub port: i64,
    /// `resource_path`.
    pub resource_path: String,
    /// Seconds between checks (10 or 30).
    pub request_interval: i64,
    /// Consecutive results that flip the status (3 by default).
    pub failure_threshold: i64,
    /// `search_string`.
    pub search_string: Option<String>,
    /// `invert_healthcheck`.
    pub invert: bool,
    /// `disabled`.
    pub disabled: bool,
    /// `child_healthchecks` of a CALCULATED check.
    pub children: Vec<String>,
    /// `child_health_threshold`.
    pub child_health_threshold: i64,
}

fn health_check_spec(i: &Inst<'_>, sink: &mut Sink<'_>) -> Spec {
    let r = i.r();
    let t = r.s("type");
    let interval = r.i("request_interval");
    if interval != 10 && interval != 30 {
        i.error(
            sink,
            "request_interval",
            format!("request_interval must be 10 or 30, got {interval}"),
        );
    }
    let endpoint = matches!(
        t.as_str(),
        "HTTP" | "HTTPS" | "HTTP_STR_MATCH" | "HTTPS_STR_MATCH" | "TCP"
    );
    if endpoint && r.os("fqdn").is_none() && r.os("ip_address").is_none() && !r.unknown("fqdn") {
        i.error(
            sink,
            "type",
            format!("{} {t} health check needs fqdn or ip_address", article(&t)),
        );
    }
    if t.ends_with("STR_MATCH") && r.os("search_string").is_none() {
        i.error(
            sink,
            "type",
            format!("{} {t} health check needs search_string", article(&t)),
        );
    }
    if t == "TCP" && r.oi("port").is_none() {
        i.error(sink, "type", "a TCP health check needs port");
    }
    if t == "CALCULATED" && r.list("child_healthchecks").is_empty() {
        i.error(
            sink,
            "type",
            "a CALCULATED health check needs child_healthchecks",
        );
    }
    if let Some(ip) = r.os("ip_address")
        && ip.parse::<std::net::IpAddr>().is_err()
    {
        i.error(sink, "ip_address", format!("\"{ip}\" is not an IP address"));
    }
    let port = r
        .oi("port")
        .unwrap_or(if t.starts_with("HTTPS") { 443 } else { 80 });
    Spec::HealthCheck(HealthCheck {
        id: r.s("id"),
        check_type: t,
        fqdn: r.os("fqdn"),
        ip_address: r.os("ip_address"),
        port,
        resource_path: r.os("resource_path").unwrap_or_else(|| "/".into()),
        request_interval: interval,
        failure_threshold: r.oi("failure_threshold").unwrap_or(3),
        search_string: r.os("search_string"),
        invert: r.b("invert_healthcheck"),
        disabled: r.b("disabled"),
        children: r.list("child_healthchecks"),
        child_health_threshold: r.i("child_health_threshold"),
    })
}

/// "a" or "an" before an upper-case name, as it is read aloud (an A record, an HTTP check).
fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('A' | 'E' | 'F' | 'H' | 'I' | 'L' | 'M' | 'N' | 'O' | 'R' | 'S' | 'X') => "an",
        _ => "a",
    }
}

/// `aws_route53_health_check`.
pub static HEALTH_CHECK: Kind = Kind {
    name: "aws_route53_health_check",
    schema: &HEALTH_CHECK_SCHEMA,
    computed: |c| {
        let id = format!(
            "{}-{}-{}-{}-{}",
            c.ident("a", 8, b"0123456789abcdef"),
            c.ident("b", 4, b"0123456789abcdef"),
            c.ident("c", 4, b"0123456789abcdef"),
            c.ident("d", 4, b"0123456789abcdef"),
            c.ident("e", 12, b"0123456789abcdef")
        );
        c.set("arn", format!("arn:aws:route53:::healthcheck/{id}"));
        c.set("id", id);
        c.tags_all();
    },
    spec: health_check_spec,
    deprecated: None,
};

static CIDR_COLLECTION_SCHEMA: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        computed("id", Ty::Str),
        computed("arn", Ty::Str),
        computed("version", Ty::Int),
    ],
    blocks: &[],
};

/// A CIDR collection: named locations of CIDR blocks that IP-based records route by.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CidrCollection {
    /// Its id (what `cidr_routing_policy.collection_id` names).
    pub id: String,
    /// Its name.
    pub name: String,
}

/// `aws_route53_cidr_collection`.
pub static CIDR_COLLECTION: Kind = Kind {
    name: "aws_route53_cidr_collection",
    schema: &CIDR_COLLECTION_SCHEMA,
    computed: |c| {
        let id = format!(
            "{}-{}-{}-{}-{}",
            c.ident("a", 8, b"0123456789abcdef"),
            c.ident("b", 4, b"0123456789abcdef"),
            c.ident("c", 4, b"0123456789abcdef"),
            c.ident("d", 4, b"0123456789abcdef"),
            c.ident("e", 12, b"0123456789abcdef")
        );
        c.set("arn", format!("arn:aws:route53:::cidrcollection/{id}"));
        c.set("id", id);
        c.set("version", Value::from_json(&serde_json::json!(1)));
    },
    spec: |i, _| {
        let r = i.r();
        Spec::CidrCollection(CidrCollection {
            id: r.s("id"),
            name: r.s("name"),
        })
    },
    deprecated: None,
};

static CIDR_LOCATION_SCHEMA: Schema = Schema {
    attrs: &[
        req("cidr_collection_id", Ty::Str),
        req("name", Ty::Str),
        req("cidr_blocks", Ty::SetStr),
        computed("id", Ty::Str),
    ],
    blocks: &[],
};

/// One location of a CIDR collection: the blocks a querier must be in to get its records.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CidrLocation {
    /// The collection's id.
    pub collection_id: String,
    /// The location's name (`cidr_routing_policy.location_name`).
    pub name: String,
    /// Its CIDR blocks, as written.
    pub cidr_blocks: Vec<String>,
}

/// Whether `s` is an IPv4 or IPv6 CIDR block (`192.0.2.0/24`, `2001:db8::/48`).
fn is_cidr(s: &str) -> bool {
    let Some((addr, len)) = s.split_once('/') else {
        return false;
    };
    let max = match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => 32,
        Ok(std::net::IpAddr::V6(_)) => 128,
        Err(_) => return false,
    };
    len.parse::<u8>().is_ok_and(|l| l <= max)
}

/// `aws_route53_cidr_location`.
pub static CIDR_LOCATION: Kind = Kind {
    name: "aws_route53_cidr_location",
    schema: &CIDR_LOCATION_SCHEMA,
    computed: |c| {
        let id = format!(
            "{},{}",
            c.s("cidr_collection_id").unwrap_or_default(),
            c.s("name").unwrap_or_default()
        );
        c.set("id", id);
    },
    spec: |i, sink| {
        let r = i.r();
        let name = r.s("name");
        if name == "*" {
            i.error(
                sink,
                "name",
                "\"*\" is the default location of every collection; a location cannot take it",
            );
        }
        let cidr_blocks = r.list("cidr_blocks");
        for b in &cidr_blocks {
            if !is_cidr(b) {
                i.error(sink, "cidr_blocks", format!("\"{b}\" is not a CIDR block"));
            }
        }
        Spec::CidrLocation(CidrLocation {
            collection_id: r.s("cidr_collection_id"),
            name,
            cidr_blocks,
        })
    },
    deprecated: None,
};
