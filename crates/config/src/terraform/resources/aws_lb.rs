//! Elastic Load Balancing v2: load balancers, listeners and target groups. A region's entry
//! point: Meridian places each load balancer in front of its region's gateway.

use super::{Computed, Inst, Kind, LOCAL_DOMAIN, LOWER, Spec};
use crate::terraform::schema::{Schema, Sink, Ty, block, computed, opt, optc, req};
use crate::terraform::value::Value;

fn check_lb_name(v: &Value) -> Result<(), String> {
    let s = v.as_str().unwrap_or_default();
    if s.len() > 32 {
        return Err(format!("name \"{s}\" is longer than 32 characters"));
    }
    if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!(
            "name \"{s}\" may hold only letters, digits and hyphens"
        ));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(format!("name \"{s}\" cannot start or end with a hyphen"));
    }
    if s.starts_with("internal-") {
        return Err(format!("name \"{s}\" cannot start with \"internal-\""));
    }
    Ok(())
}

static ACCESS_LOGS: Schema = Schema {
    attrs: &[
        req("bucket", Ty::Str),
        opt("enabled", Ty::Bool).dbool(false),
        opt("prefix", Ty::Str),
    ],
    blocks: &[],
};
static SUBNET_MAPPING: Schema = Schema {
    attrs: &[
        req("subnet_id", Ty::Str),
        opt("allocation_id", Ty::Str),
        opt("ipv6_address", Ty::Str),
        opt("private_ipv4_address", Ty::Str),
    ],
    blocks: &[],
};
static LB_SCHEMA: Schema = Schema {
    attrs: &[
        optc("name", Ty::Str).check(check_lb_name),
        opt("name_prefix", Ty::Str).len(1, 6),
        optc("internal", Ty::Bool),
        opt("load_balancer_type", Ty::Str)
            .dstr("application")
            .one_of(&["application", "network", "gateway"]),
        optc("security_groups", Ty::SetStr),
        optc("subnets", Ty::SetStr),
        opt("enable_deletion_protection", Ty::Bool).dbool(false),
        opt("enable_http2", Ty::Bool).dbool(true),
        opt("idle_timeout", Ty::Int).dint(60).range(1, 4000),
        optc("ip_address_type", Ty::Str).one_of(&[
            "ipv4",
            "dualstack",
            "dualstack-without-public-ipv4",
        ]),
        opt("drop_invalid_header_fields", Ty::Bool).dbool(false),
        optc("enable_cross_zone_load_balancing", Ty::Bool),
        opt("desync_mitigation_mode", Ty::Str)
            .dstr("defensive")
            .one_of(&["monitor", "defensive", "strictest"]),
        opt("preserve_host_header", Ty::Bool).dbool(false),
        opt("customer_owned_ipv4_pool", Ty::Str),
        opt("enable_waf_fail_open", Ty::Bool).dbool(false),
        opt("enable_tls_version_and_cipher_suite_headers", Ty::Bool).dbool(false),
        opt("enable_xff_client_port", Ty::Bool).dbool(false),
        opt("xff_header_processing_mode", Ty::Str)
            .dstr("append")
            .one_of(&["append", "preserve", "remove"]),
        opt("client_keep_alive", Ty::Int).dint(3600),
        optc("dns_record_client_routing_policy", Ty::Str),
        optc(
            "enforce_security_group_inbound_rules_on_private_link_traffic",
            Ty::Str,
        ),
        optc("enable_zonal_shift", Ty::Bool),
        opt("tags", Ty::MapStr),
        computed("tags_all", Ty::MapStr),
        computed("id", Ty::Str),
        computed("arn", Ty::Str),
        computed("arn_suffix", Ty::Str),
        computed("dns_name", Ty::Str),
        computed("zone_id", Ty::Str),
        computed("vpc_id", Ty::Str),
    ],
    blocks: &[
        block("access_logs", &ACCESS_LOGS).max(1),
        block("connection_logs", &ACCESS_LOGS).max(1),
        block("subnet_mapping", &SUBNET_MAPPING),
    ],
};

/// The canonical hosted zone of application (`app`) and network (`net`) load balancers per
/// region, as AWS publishes them: alias records name these.
pub fn lb_zone(region: &str, network: bool) -> &'static str {
    match (region, network) {
        ("us-east-1", false) => "Z35SXDOTRQ7X7K",
        ("us-east-1", true) => "Z26RNL4JYFTOTI",
        ("us-east-2", false) => "Z3AADJGX6KTTL2",
        ("us-east-2", true) => "ZLMOA37VPKANP",
        ("us-west-1", false) => "Z368ELLRRE2KJ0",
        ("us-west-1", true) => "Z24FKFUX50B4VW",
        ("us-west-2", false) => "Z1H1FL5HABSF5",
        ("us-west-2", true) => "Z18D5FSROUN65G",
        ("eu-west-1", false) => "Z32O12XQLNTSW2",
        ("eu-west-1", true) => "Z2IFOLAFXWLO4F",
        ("eu-west-2", false) => "ZHURV8PSTC4K8",
        ("eu-west-2", true) => "ZD4D7Y8KGAS4G",
        ("eu-central-1", false) => "Z215JYRZR1TBD5",
        ("eu-central-1", true) => "Z3F0SRJ5LGBH90",
        ("ap-southeast-1", false) => "Z1LMS91P8CMLE5",
        ("ap-northeast-1", false) => "Z14GRHDCWA56QT",
        ("ap-southeast-2", false) => "Z1GM3OXH4ZPM65",
        ("sa-east-1", false) => "Z2P70J7HTTTPLU",
        (_, false) => "Z35SXDOTRQ7X7K",
        (_, true) => "Z26RNL4JYFTOTI",
    }
}

fn lb_computed(c: &mut Computed<'_>) {
    let name = match (c.s("name"), c.s("name_prefix")) {
        (Some(n), _) => n,
        (None, Some(p)) => format!("{p}{}", c.ident("name", 26 - p.len().min(26), LOWER)),
        (None, None) => format!("tf-lb-{}", c.ident("name", 20, LOWER)),
    };
    let ty = c
        .s("load_balancer_type")
        .unwrap_or_else(|| "application".into());
    let short = match ty.as_str() {
        "network" => "net",
        "gateway" => "gwy",
        _ => "app",
    };
    let suffix = c.ident("arn", 16, b"0123456789abcdef");
    let internal = c
        .obj
        .get("internal")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let region = c.region.to_owned();
    let digits = c.ident("dns", 10, b"0123456789");
    let host = format!(
        "{}{name}-{digits}.{region}.elb.{LOCAL_DOMAIN}",
        if internal { "internal-" } else { "" }
    );
    let arn = format!(
        "arn:aws:elasticloadbalancing:{region}:{}:loadbalancer/{short}/{name}/{suffix}",
        c.account
    );
    c.set("name", name.clone());
    c.set("arn_suffix", format!("{short}/{name}/{suffix}"));
    c.set("id", arn.clone());
    c.set("arn", arn);
    c.set("dns_name", host);
    c.set("zone_id", lb_zone(&region, ty == "network"));
    c.set(
        "vpc_id",
        format!("vpc-{}", c.ident("vpc", 17, b"0123456789abcdef")),
    );
    c.fill("internal", false);
    c.fill("ip_address_type", "ipv4");
    c.fill("enable_cross_zone_load_balancing", ty == "application");
    c.tags_all();
}

/// A load balancer: a region's entry point.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadBalancer {
    /// `name`.
    pub name: String,
    /// `arn`.
    pub arn: String,
    /// `dns_name`: the host it answers under here.
    pub dns_name: String,
    /// `zone_id`.
    pub zone_id: String,
    /// `application`, `network` or `gateway`.
    pub load_balancer_type: String,
    /// `internal`.
    pub internal: bool,
    /// `idle_timeout`, seconds.
    pub idle_timeout: i64,
    /// `enable_http2`.
    pub http2: bool,
    /// Its region.
    pub region: String,
}

fn lb_spec(i: &Inst<'_>, sink: &mut Sink<'_>) -> Spec {
    let r = i.r();
    if i.spans.has("name") && i.spans.has("name_prefix") {
        i.error(
            sink,
            "name_prefix",
            "name and name_prefix cannot both be set",
        );
    }
    Spec::LoadBalancer(LoadBalancer {
        name: r.s("name"),
        arn: r.s("arn"),
        dns_name: r.s("dns_name"),
        zone_id: r.s("zone_id"),
        load_balancer_type: r.s("load_balancer_type"),
        internal: r.b("internal"),
        idle_timeout: r.i("idle_timeout"),
        http2: r.b("enable_http2"),
        region: i.region.to_owned(),
    })
}

/// `aws_lb`.
pub static LB: Kind = Kind {
    name: "aws_lb",
    schema: &LB_SCHEMA,
    computed: lb_computed,
    spec: lb_spec,
    deprecated: None,
};

/// `aws_alb`, the older name of `aws_lb`.
pub static ALB: Kind = Kind {
    name: "aws_alb",
    schema: &LB_SCHEMA,
    computed: lb_computed,
    spec: lb_spec,
    deprecated: None,
};

static TG_REF: Schema = Schema {
    attrs: &[
        req("arn", Ty::Str),
        opt("weight", Ty::Int).dint(1).range(0, 999),
    ],
    blocks: &[],
};
static STICKY: Schema = Schema {
    attrs: &[
        req("duration", Ty::Int).range(1, 604_800),
        opt("enabled", Ty::Bool).dbool(false),
    ],
    blocks: &[],
};
static FORWARD: Schema = Schema {
    attrs: &[],
    blocks: &[
        block("target_group", &TG_REF).min(1).max(5),
        block("stickiness", &STICKY).max(1),
    ],
};
static REDIRECT: Schema = Schema {
    attrs: &[
        opt("host", Ty::Str).dstr("#{host}"),
        opt("path", Ty::Str).dstr("/#{path}"),
        opt("port", Ty::Str).dstr("#{port}"),
        opt("protocol", Ty::Str).dstr("#{protocol}"),
        opt("query", Ty::Str).dstr("#{query}"),
        req("status_code", Ty::Str).one_of(&["HTTP_301", "HTTP_302"]),
    ],
    blocks: &[],
};
static FIXED: Schema = Schema {
    attrs: &[
        req("content_type", Ty::Str).one_of(&[
            "text/plain",
            "text/css",
            "text/html",
            "application/javascript",
            "application/json",
        ]),
        opt("message_body", Ty::Str),
        optc("status_code", Ty::Str),
    ],
    blocks: &[],
};
static ACTION: Schema = Schema {
    attrs: &[
        req("type", Ty::Str).one_of(&[
            "forward",
            "redirect",
            "fixed-response",
            "authenticate-cognito",
            "authenticate-oidc",
        ]),
        opt("target_group_arn", Ty::Str),
        optc("order", Ty::Int).range(1, 50_000),
    ],
    blocks: &[
        block("forward", &FORWARD).max(1),
        block("redirect", &REDIRECT).max(1),
        block("fixed_response", &FIXED).max(1),
    ],
};
static LISTENER_SCHEMA: Schema = Schema {
    attrs: &[
        req("load_balancer_arn", Ty::Str),
        optc("port", Ty::Int).range(1, 65535),
        optc("protocol", Ty::Str).one_of(&[
            "HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE", "QUIC", "TCP_QUIC",
        ]),
        optc("ssl_policy", Ty::Str),
        opt("certificate_arn", Ty::Str),
        opt("alpn_policy", Ty::Str),
        opt("tags", Ty::MapStr),
        computed("tags_all", Ty::MapStr),
        computed("id", Ty::Str),
        computed("arn", Ty::Str),
    ],
    blocks: &[block("default_action", &ACTION).min(1)],
};

/// What a listener does with a request.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Action {
    /// Forward to target groups, by weight.
    Forward {
        /// Target group ARNs and weights.
        targets: Vec<(String, i64)>,
    },
    /// Redirect.
    Redirect {
        /// `status_code` (HTTP_301/HTTP_302).
        status: String,
        /// Host, path, port, protocol, query templates.
        location: (String, String, String, String, String),
    },
    /// A fixed response.
    FixedResponse {
        /// Status code.
        status: String,
        /// Content type.
        content_type: String,
        /// Body.
        body: String,
    },
    /// Authentication actions, read but not served.
    Authenticate,
}

/// A listener.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listener {
    /// `load_balancer_arn`.
    pub load_balancer_arn: String,
    /// Port.
    pub port: i64,
    /// Protocol.
    pub protocol: String,
    /// `certificate_arn`.
    pub certificate_arn: Option<String>,
    /// Default actions, in order.
    pub actions: Vec<Action>,
}

fn listener_spec(i: &Inst<'_>, sink: &mut Sink<'_>) -> Spec {
    let r = i.r();
    let protocol = r.os("protocol").unwrap_or_else(|| "HTTP".into());
    if (protocol == "HTTPS" || protocol == "TLS") && r.os("certificate_arn").is_none() {
        let article = if protocol == "HTTPS" { "an" } else { "a" };
        i.error(
            sink,
            "protocol",
            format!("{article} {protocol} listener needs certificate_arn"),
        );
    }
    let mut actions = Vec::new();
    for (n, a) in r.blocks("default_action").iter().enumerate() {
        let p = format!("default_action[{n}]");
        let t = a.s("type");
        let action = match t.as_str() {
            "forward" => {
                let mut targets: Vec<(String, i64)> = a
                    .os("target_group_arn")
                    .map(|t| vec![(t, 1)])
                    .unwrap_or_default();
                if let Some(f) = a.block("forward") {
                    targets.extend(
                        f.blocks("target_group")
                            .iter()
                            .map(|t| (t.s("arn"), t.i("weight"))),
                    );
                }
                if targets.is_empty() && !a.unknown("target_group_arn") {
                    i.error(
                        sink,
                        &p,
                        "a forward action needs target_group_arn or a forward block",
                    );
                }
                Action::Forward { targets }
            }
            "redirect" => match a.block("redirect") {
                Some(x) => Action::Redirect {
                    status: x.s("status_code"),
                    location: (
                        x.s("host"),
                        x.s("path"),
                        x.s("port"),
                        x.s("protocol"),
                        x.s("query"),
                    ),
                },
                None => {
                    i.error(sink, &p, "a redirect action needs a redirect block");
                    continue;
                }
            },
            "fixed-response" => match a.block("fixed_response") {
                Some(x) => Action::FixedResponse {
                    status: x.os("status_code").unwrap_or_else(|| "200".into()),
                    content_type: x.s("content_type"),
                    body: x.s("message_body"),
                },
                None => {
                    i.error(
                        sink,
                        &p,
                        "a fixed-response action needs a fixed_response block",
                    );
                    continue;
                }
            },
            _ => Action::Authenticate,
        };
        actions.push(action);
    }
    Spec::Listener(Listener {
        load_balancer_arn: r.s("load_balancer_arn"),
        port: r
            .oi("port")
            .unwrap_or(if protocol == "HTTPS" { 443 } else { 80 }),
        protocol,
        certificate_arn: r.os("certificate_arn"),
        actions,
    })
}

/// `aws_lb_listener`.
pub static LISTENER: Kind = Kind {
    name: "aws_lb_listener",
    schema: &LISTENER_SCHEMA,
    computed: |c| {
        let lb = c.s("load_balancer_arn").unwrap_or_default();
        let arn = format!(
            "{}/{}",
            lb.replace(":loadbalancer/", ":listener/"),
            c.ident("l", 16, b"0123456789abcdef")
        );
        c.set("id", arn.clone());
        c.set("arn", arn);
        c.tags_all();
    },
    spec: listener_spec,
    deprecated: None,
};

static HEALTH: Schema = Schema {
    attrs: &[
        opt("enabled", Ty::Bool).dbool(true),
        opt("healthy_threshold", Ty::Int).dint(3).range(2, 10),
        opt("interval", Ty::Int).dint(30).range(5, 300),
        optc("matcher", Ty::Str),
        optc("path", Ty::Str),
        opt("port", Ty::Str).dstr("traffic-port"),
        opt("protocol", Ty::Str)
            .dstr("HTTP")
            .one_of(&["HTTP", "HTTPS", "TCP"]),
        optc("timeout", Ty::Int).range(2, 120),
        opt("unhealthy_threshold", Ty::Int).dint(3).range(2, 10),
    ],
    blocks: &[],
};
static STICKINESS: Schema = Schema {
    attrs: &[
        req("type", Ty::Str).one_of(&[
            "lb_cookie",
            "app_cookie",
            "source_ip",
            "source_ip_dest_ip",
            "source_ip_dest_ip_proto",
        ]),
        opt("cookie_duration", Ty::Int).dint(86_400),
        opt("cookie_name", Ty::Str),
        opt("enabled", Ty::Bool).dbool(true),
    ],
    blocks: &[],
};
static TG_SCHEMA: Schema = Schema {
    attrs: &[
        optc("name", Ty::Str).check(check_lb_name),
        opt("name_prefix", Ty::Str).len(1, 6),
        opt("port", Ty::Int).range(1, 65535),
        opt("protocol", Ty::Str)
            .one_of(&["HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE"]),
        optc("protocol_version", Ty::Str).one_of(&["HTTP1", "HTTP2", "GRPC"]),
        opt("vpc_id", Ty::Str),
        opt("target_type", Ty::Str)
            .dstr("instance")
            .one_of(&["instance", "ip", "lambda", "alb"]),
        opt("deregistration_delay", Ty::Int)
            .dint(300)
            .range(0, 3600),
        opt("slow_start", Ty::Int).dint(0).range(0, 900),
        optc("load_balancing_algorithm_type", Ty::Str).one_of(&[
            "round_robin",
            "least_outstanding_requests",
            "weighted_random",
        ]),
        optc("load_balancing_anomaly_mitigation", Ty::Str),
        optc("load_balancing_cross_zone_enabled", Ty::Str),
        opt("lambda_multi_value_headers_enabled", Ty::Bool).dbool(false),
        optc("preserve_client_ip", Ty::Str),
        opt("proxy_protocol_v2", Ty::Bool).dbool(false),
        optc("connection_termination", Ty::Bool),
        optc("ip_address_type", Ty::Str).one_of(&["ipv4", "ipv6"]),
        opt("tags", Ty::MapStr),
        computed("tags_all", Ty::MapStr),
        computed("id", Ty::Str),
        computed("arn", Ty::Str),
        computed("arn_suffix", Ty::Str),
        computed("load_balancer_arns", Ty::SetStr),
    ],
    blocks: &[
        block("health_check", &HEALTH).max(1),
        block("stickiness", &STICKINESS).max(1),
    ],
};

/// A target group's health check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetHealthCheck {
    /// Path (`/` by default for HTTP).
    pub path: String,
    /// `traffic-port` or a port.
    pub port: String,
    /// Protocol.
    pub protocol: String,
    /// Seconds between checks.
    pub interval: i64,
    /// Seconds before a check fails.
    pub timeout: i64,
    /// Successes that make a target healthy.
    pub healthy_threshold: i64,
    /// Failures that make it unhealthy.
    pub unhealthy_threshold: i64,
    /// Status codes counted as healthy.
    pub matcher: String,
}

/// A target group.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetGroup {
    /// `name`.
    pub name: String,
    /// `arn`.
    pub arn: String,
    /// `port`.
    pub port: Option<i64>,
    /// `protocol`.
    pub protocol: Option<String>,
    /// `target_type`.
    pub target_type: String,
    /// `deregistration_delay`, seconds.
    pub deregistration_delay: i64,
    /// `load_balancing_algorithm_type`.
    pub algorithm: String,
    /// `health_check` (enabled).
    pub health_check: Option<TargetHealthCheck>,
}

fn tg_spec(i: &Inst<'_>, sink: &mut Sink<'_>) -> Spec {
    let r = i.r();
    let tt = r.s("target_type");
    if matches!(tt.as_str(), "instance" | "ip" | "alb") {
        for k in ["port", "protocol", "vpc_id"] {
            if r.os(k).is_none() && !r.unknown(k) {
                i.error(
                    sink,
                    "target_type",
                    format!("a target group of type {tt} needs {k}"),
                );
            }
        }
    }
    let hc = r.block("health_check").filter(|h| h.b("enabled")).map(|h| {
        let protocol = h.s("protocol");
        TargetHealthCheck {
            path: h.os("path").unwrap_or_else(|| {
                if protocol == "TCP" {
                    String::new()
                } else {
                    "/".into()
                }
            }),
            port: h.s("port"),
            interval: h.i("interval"),
            timeout: h
                .oi("timeout")
                .unwrap_or(if protocol == "TCP" { 10 } else { 5 }),
            healthy_threshold: h.i("healthy_threshold"),
            unhealthy_threshold: h.i("unhealthy_threshold"),
            matcher: h.os("matcher").unwrap_or_else(|| "200".into()),
            protocol,
        }
    });
    if let Some(h) = &hc
        && h.timeout >= h.interval
    {
        i.error(
            sink,
            "health_check.timeout",
            format!(
                "health_check timeout ({}) must be less than interval ({})",
                h.timeout, h.interval
            ),
        );
    }
    Spec::TargetGroup(TargetGroup {
        name: r.s("name"),
        arn: r.s("arn"),
        port: r.oi("port"),
        protocol: r.os("protocol"),
        target_type: tt,
        deregistration_delay: r.i("deregistration_delay"),
        algorithm: r
            .os("load_balancing_algorithm_type")
            .unwrap_or_else(|| "round_robin".into()),
        health_check: hc,
    })
}

/// `aws_lb_target_group`.
pub static TARGET_GROUP: Kind = Kind {
    name: "aws_lb_target_group",
    schema: &TG_SCHEMA,
    computed: |c| {
        let name = match (c.s("name"), c.s("name_prefix")) {
            (Some(n), _) => n,
            (None, Some(p)) => format!("{p}{}", c.ident("name", 20, LOWER)),
            (None, None) => format!("tf-{}", c.ident("name", 26, LOWER)),
        };
        let suffix = c.ident("arn", 16, b"0123456789abcdef");
        let arn = format!(
            "arn:aws:elasticloadbalancing:{}:{}:targetgroup/{name}/{suffix}",
            c.region, c.account
        );
        c.set("name", name.clone());
        c.set("arn_suffix", format!("targetgroup/{name}/{suffix}"));
        c.set("id", arn.clone());
        c.set("arn", arn);
        c.set("load_balancer_arns", Value::set(Vec::new()));
        c.tags_all();
    },
    spec: tg_spec,
    deprecated: None,
};
