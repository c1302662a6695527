//! CloudFront: distributions and the policies, origin access controls and functions they
//! use. What the edge plane serves.

use std::collections::BTreeMap;

use super::{Computed, Inst, Kind, LOCAL_DOMAIN, LOWER, R, Spec, UPPER};
use crate::terraform::schema::{Hint, Schema, Sink, Ty, block, computed, opt, optc, req};

const METHOD_SETS: &[&[&str]] = &[
    &["GET", "HEAD"],
    &["GET", "HEAD", "OPTIONS"],
    &["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"],
];

static COOKIES: Schema = Schema {
    attrs: &[
        req("forward", Ty::Str).one_of(&["all", "none", "whitelist"]),
        opt("whitelisted_names", Ty::SetStr),
    ],
    blocks: &[],
};
static FORWARDED_VALUES: Schema = Schema {
    attrs: &[
        opt("headers", Ty::SetStr),
        req("query_string", Ty::Bool),
        opt("query_string_cache_keys", Ty::ListStr),
    ],
    blocks: &[block("cookies", &COOKIES).one()],
};
static FUNCTION_ASSOCIATION: Schema = Schema {
    attrs: &[
        req("event_type", Ty::Str).one_of(&["viewer-request", "viewer-response"]),
        req("function_arn", Ty::Str),
    ],
    blocks: &[],
};
static LAMBDA_ASSOCIATION: Schema = Schema {
    attrs: &[
        req("event_type", Ty::Str).one_of(&[
            "viewer-request",
            "origin-request",
            "viewer-response",
            "origin-response",
        ]),
        req("lambda_arn", Ty::Str),
        opt("include_body", Ty::Bool).dbool(false),
    ],
    blocks: &[],
};
static GRPC: Schema = Schema {
    attrs: &[req("enabled", Ty::Bool)],
    blocks: &[],
};

macro_rules! behavior_attrs {
    ($($extra:expr),*) => {
        &[
            $($extra,)*
            req("allowed_methods", Ty::SetStr).one_of(&["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]),
            req("cached_methods", Ty::SetStr).one_of(&["GET", "HEAD", "OPTIONS"]),
            opt("cache_policy_id", Ty::Str),
            opt("compress", Ty::Bool).dbool(false),
            optc("default_ttl", Ty::Int).range(0, 3_153_600_000),
            opt("field_level_encryption_id", Ty::Str),
            optc("max_ttl", Ty::Int).range(0, 3_153_600_000),
            opt("min_ttl", Ty::Int).dint(0).range(0, 3_153_600_000),
            opt("origin_request_policy_id", Ty::Str),
            opt("realtime_log_config_arn", Ty::Str),
            opt("response_headers_policy_id", Ty::Str),
            opt("smooth_streaming", Ty::Bool),
            req("target_origin_id", Ty::Str),
            optc("trusted_key_groups", Ty::ListStr),
            optc("trusted_signers", Ty::ListStr),
            req("viewer_protocol_policy", Ty::Str).one_of(&["allow-all", "https-only", "redirect-to-https"]),
        ]
    };
}

const BEHAVIOR_BLOCKS: &[crate::terraform::schema::Nested] = &[
    block("forwarded_values", &FORWARDED_VALUES).max(1),
    block("function_association", &FUNCTION_ASSOCIATION).max(2),
    block("lambda_function_association", &LAMBDA_ASSOCIATION).max(4),
    block("grpc_config", &GRPC).max(1),
];

static DEFAULT_BEHAVIOR: Schema = Schema {
    attrs: behavior_attrs!(),
    blocks: BEHAVIOR_BLOCKS,
};
static ORDERED_BEHAVIOR: Schema = Schema {
    attrs: behavior_attrs!(req("path_pattern", Ty::Str)),
    blocks: BEHAVIOR_BLOCKS,
};
static CUSTOM_HEADER: Schema = Schema {
    attrs: &[req("name", Ty::Str), req("value", Ty::Str)],
    blocks: &[],
};
static CUSTOM_ORIGIN: Schema = Schema {
    attrs: &[
        req("http_port", Ty::Int).range(1, 65535),
        req("https_port", Ty::Int).range(1, 65535),
        opt("origin_keepalive_timeout", Ty::Int)
            .dint(5)
            .range(1, 180),
        req("origin_protocol_policy", Ty::Str).one_of(&["http-only", "https-only", "match-viewer"]),
        opt("origin_read_timeout", Ty::Int).dint(30).range(1, 180),
        req("origin_ssl_protocols", Ty::SetStr).one_of(&["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2"]),
        optc("ip_address_type", Ty::Str).one_of(&["ipv4", "ipv6", "dualstack"]),
    ],
    blocks: &[],
};
static SHIELD: Schema = Schema {
    attrs: &[
        req("enabled", Ty::Bool),
        opt("origin_shield_region", Ty::Str),
    ],
    blocks: &[],
};
static S3_ORIGIN: Schema = Schema {
    attrs: &[req("origin_access_identity", Ty::Str)],
    blocks: &[],
};
static VPC_ORIGIN: Schema = Schema {
    attrs: &[
        req("vpc_origin_id", Ty::Str),
        opt("origin_keepalive_timeout", Ty::Int).dint(5),
        opt("origin_read_timeout", Ty::Int).dint(30),
    ],
    blocks: &[],
};
static ORIGIN: Schema = Schema {
    attrs: &[
        opt("connection_attempts", Ty::Int).dint(3).range(1, 3),
        opt("connection_timeout", Ty::Int).dint(10).range(1, 10),
        req("domain_name", Ty::Str),
        opt("origin_access_control_id", Ty::Str),
        req("origin_id", Ty::Str),
        opt("origin_path", Ty::Str).dstr(""),
    ],
    blocks: &[
        block("custom_header", &CUSTOM_HEADER),
        block("custom_origin_config", &CUSTOM_ORIGIN).max(1),
        block("origin_shield", &SHIELD).max(1),
        block("s3_origin_config", &S3_ORIGIN).max(1),
        block("vpc_origin_config", &VPC_ORIGIN).max(1),
    ],
};
static FAILOVER: Schema = Schema {
    attrs: &[req("status_codes", Ty::SetNum)],
    blocks: &[],
};
static MEMBER: Schema = Schema {
    attrs: &[req("origin_id", Ty::Str)],
    blocks: &[],
};
static ORIGIN_GROUP: Schema = Schema {
    attrs: &[req("origin_id", Ty::Str)],
    blocks: &[
        block("failover_criteria", &FAILOVER).one(),
        block("member", &MEMBER).min(2).max(2),
    ],
};
static GEO: Schema = Schema {
    attrs: &[
        optc("locations", Ty::SetStr),
        req("restriction_type", Ty::Str).one_of(&["none", "whitelist", "blacklist"]),
    ],
    blocks: &[],
};
static RESTRICTIONS: Schema = Schema {
    attrs: &[],
    blocks: &[block("geo_restriction", &GEO).one()],
};
static VIEWER_CERT: Schema = Schema {
    attrs: &[
        opt("acm_certificate_arn", Ty::Str),
        opt("cloudfront_default_certificate", Ty::Bool),
        opt("iam_certificate_id", Ty::Str),
        opt("minimum_protocol_version", Ty::Str).dstr("TLSv1"),
        opt("ssl_support_method", Ty::Str).one_of(&["sni-only", "vip", "static-ip"]),
    ],
    blocks: &[],
};
static ERROR_RESPONSE: Schema = Schema {
    attrs: &[
        opt("error_caching_min_ttl", Ty::Int),
        req("error_code", Ty::Int).range(400, 599),
        opt("response_code", Ty::Int),
        opt("response_page_path", Ty::Str),
    ],
    blocks: &[],
};
static LOGGING: Schema = Schema {
    attrs: &[
        req("bucket", Ty::Str),
        opt("include_cookies", Ty::Bool).dbool(false),
        opt("prefix", Ty::Str).dstr(""),
    ],
    blocks: &[],
};

static DISTRIBUTION_SCHEMA: Schema = Schema {
    attrs: &[
        opt("aliases", Ty::SetStr),
        opt("anycast_ip_list_id", Ty::Str),
        opt("comment", Ty::Str).len(0, 128),
        optc("continuous_deployment_policy_id", Ty::Str),
        opt("default_root_object", Ty::Str),
        req("enabled", Ty::Bool),
        opt("http_version", Ty::Str).dstr("http2").one_of(&[
            "http1.1",
            "http2",
            "http2and3",
            "http3",
        ]),
        opt("is_ipv6_enabled", Ty::Bool).dbool(false),
        opt("price_class", Ty::Str).dstr("PriceClass_All").one_of(&[
            "PriceClass_All",
            "PriceClass_200",
            "PriceClass_100",
        ]),
        opt("retain_on_delete", Ty::Bool).dbool(false),
        opt("staging", Ty::Bool).dbool(false),
        opt("tags", Ty::MapStr),
        computed("tags_all", Ty::MapStr),
        opt("wait_for_deployment", Ty::Bool).dbool(true),
        opt("web_acl_id", Ty::Str),
        computed("arn", Ty::Str),
        computed("caller_reference", Ty::Str),
        computed("domain_name", Ty::Str),
        computed("etag", Ty::Str),
        computed("hosted_zone_id", Ty::Str),
        computed("id", Ty::Str),
        computed("in_progress_validation_batches", Ty::Int),
        computed("last_modified_time", Ty::Str),
        computed("status", Ty::Str),
        computed("trusted_key_groups", Ty::Any),
        computed("trusted_signers", Ty::Any),
    ],
    blocks: &[
        block("custom_error_response", &ERROR_RESPONSE),
        block("default_cache_behavior", &DEFAULT_BEHAVIOR).one(),
        block("logging_config", &LOGGING).max(1),
        block("ordered_cache_behavior", &ORDERED_BEHAVIOR),
        block("origin", &ORIGIN).min(1),
        block("origin_group", &ORIGIN_GROUP),
        block("restrictions", &RESTRICTIONS).one(),
        block("viewer_certificate", &VIEWER_CERT).one(),
    ],
};

/// The hosted zone id of every CloudFront distribution (what AWS returns).
pub const CLOUDFRONT_ZONE: &str = "Z2FDTNDATAQYW2";

fn distribution_computed(c: &mut Computed<'_>) {
    let id = format!("E{}", c.ident("id", 13, UPPER));
    let host = format!("d{}", c.ident("domain", 13, LOWER));
    c.set(
        "arn",
        format!("arn:aws:cloudfront::{}:distribution/{id}", c.account),
    );
    c.set("id", id);
    c.set("domain_name", format!("{host}.cloudfront.{LOCAL_DOMAIN}"));
    c.set("hosted_zone_id", CLOUDFRONT_ZONE);
    c.set("etag", c.ident("etag", 14, UPPER));
    c.set(
        "caller_reference",
        format!("terraform-{}", c.ident("ref", 20, LOWER)),
    );
    c.set("status", "Deployed");
    c.set("in_progress_validation_batches", 0i64);
    c.set("last_modified_time", "1970-01-01T00:00:00Z");
    c.set(
        "trusted_key_groups",
        crate::terraform::value::Value::list(Vec::new()),
    );
    c.set(
        "trusted_signers",
        crate::terraform::value::Value::list(Vec::new()),
    );
    c.tags_all();
}

/// A distribution: what the edge serves.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Distribution {
    /// `id`.
    pub id: String,
    /// `arn`.
    pub arn: String,
    /// `domain_name`: the host it is served under here.
    pub domain_name: String,
    /// `enabled`.
    pub enabled: bool,
    /// `aliases`: other hosts it answers for.
    pub aliases: Vec<String>,
    /// `comment`.
    pub comment: Option<String>,
    /// `default_root_object`.
    pub default_root_object: Option<String>,
    /// `price_class`.
    pub price_class: String,
    /// `http_version`.
    pub http_version: String,
    /// `is_ipv6_enabled`.
    pub ipv6: bool,
    /// Origins.
    pub origins: Vec<Origin>,
    /// Origin groups (failover pairs).
    pub origin_groups: Vec<OriginGroup>,
    /// `default_cache_behavior`.
    pub default_behavior: Behavior,
    /// `ordered_cache_behavior`s, in order.
    pub ordered_behaviors: Vec<Behavior>,
    /// `custom_error_response`s.
    pub custom_error_responses: Vec<ErrorResponse>,
    /// `restrictions.geo_restriction`: type and country codes.
    pub geo_restriction: (String, Vec<String>),
    /// `viewer_certificate`.
    pub viewer_certificate: ViewerCertificate,
    /// `logging_config`: bucket (its domain name), prefix, `include_cookies`.
    pub logging: Option<(String, String, bool)>,
}

/// An origin.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Origin {
    /// `origin_id`.
    pub id: String,
    /// `domain_name`.
    pub domain_name: String,
    /// `origin_path`.
    pub path: String,
    /// `origin_access_control_id`.
    pub origin_access_control_id: Option<String>,
    /// `s3_origin_config.origin_access_identity`.
    pub origin_access_identity: Option<String>,
    /// `custom_origin_config`.
    pub custom: Option<CustomOrigin>,
    /// `custom_header`s.
    pub custom_headers: BTreeMap<String, String>,
    /// `connection_attempts`.
    pub connection_attempts: i64,
    /// `connection_timeout`, seconds.
    pub connection_timeout: i64,
    /// `origin_shield.origin_shield_region` when enabled.
    pub shield_region: Option<String>,
}

/// `custom_origin_config`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CustomOrigin {
    /// `http_port`.
    pub http_port: i64,
    /// `https_port`.
    pub https_port: i64,
    /// `origin_protocol_policy`.
    pub protocol_policy: String,
    /// `origin_ssl_protocols`.
    pub ssl_protocols: Vec<String>,
    /// `origin_read_timeout`, seconds.
    pub read_timeout: i64,
    /// `origin_keepalive_timeout`, seconds.
    pub keepalive_timeout: i64,
}

/// An origin group.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OriginGroup {
    /// `origin_id`.
    pub id: String,
    /// Members, primary first.
    pub members: Vec<String>,
    /// Status codes that fail over.
    pub status_codes: Vec<i64>,
}

/// A cache behaviour.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Behavior {
    /// `path_pattern` (none for the default behaviour).
    pub path_pattern: Option<String>,
    /// `target_origin_id`.
    pub target_origin_id: String,
    /// `viewer_protocol_policy`.
    pub viewer_protocol_policy: String,
    /// `allowed_methods`.
    pub allowed_methods: Vec<String>,
    /// `cached_methods`.
    pub cached_methods: Vec<String>,
    /// `compress`.
    pub compress: bool,
    /// `min_ttl`, seconds.
    pub min_ttl: i64,
    /// `default_ttl`, seconds (86400 when unset, as CloudFront does).
    pub default_ttl: i64,
    /// `max_ttl`, seconds (31536000 when unset).
    pub max_ttl: i64,
    /// `cache_policy_id`.
    pub cache_policy_id: Option<String>,
    /// `origin_request_policy_id`.
    pub origin_request_policy_id: Option<String>,
    /// `response_headers_policy_id`.
    pub response_headers_policy_id: Option<String>,
    /// `forwarded_values`.
    pub forwarded_values: Option<ForwardedValues>,
    /// `function_association`s: event type and function ARN.
    pub functions: Vec<(String, String)>,
    /// `lambda_function_association`s: event type and Lambda ARN.
    pub lambdas: Vec<(String, String)>,
}

/// `forwarded_values` (the legacy cache key settings).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ForwardedValues {
    /// `query_string`.
    pub query_string: bool,
    /// `query_string_cache_keys`.
    pub query_string_cache_keys: Vec<String>,
    /// `headers`.
    pub headers: Vec<String>,
    /// `cookies.forward`.
    pub cookies: String,
    /// `cookies.whitelisted_names`.
    pub cookie_names: Vec<String>,
}

/// `custom_error_response`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ErrorResponse {
    /// `error_code`.
    pub error_code: i64,
    /// `response_code`.
    pub response_code: Option<i64>,
    /// `response_page_path`.
    pub response_page_path: Option<String>,
    /// `error_caching_min_ttl` (10 when unset, as CloudFront does).
    pub error_caching_min_ttl: i64,
}

/// `viewer_certificate`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ViewerCertificate {
    /// `cloudfront_default_certificate`.
    pub cloudfront_default: bool,
    /// `acm_certificate_arn`.
    pub acm_certificate_arn: Option<String>,
    /// `iam_certificate_id`.
    pub iam_certificate_id: Option<String>,
    /// `minimum_protocol_version`.
    pub minimum_protocol_version: String,
    /// `ssl_support_method`.
    pub ssl_support_method: Option<String>,
}

fn behavior(i: &Inst<'_>, sink: &mut Sink<'_>, b: R<'_>, path: &str) -> Behavior {
    let allowed = {
        let mut v = b.list("allowed_methods");
        v.sort();
        v
    };
    let cached = {
        let mut v = b.list("cached_methods");
        v.sort();
        v
    };
    if !b.unknown("allowed_methods")
        && !METHOD_SETS
            .iter()
            .any(|s| s.iter().copied().eq(allowed.iter().map(String::as_str)))
    {
        i.error(
            sink,
            &format!("{path}.allowed_methods"),
            format!("allowed_methods {allowed:?} is not one of CloudFront's sets"),
        )
        .hint("use [\"GET\", \"HEAD\"], [\"GET\", \"HEAD\", \"OPTIONS\"] or all seven methods");
    }
    if !b.unknown("cached_methods") {
        let ok = cached.iter().map(String::as_str).eq(["GET", "HEAD"])
            || cached
                .iter()
                .map(String::as_str)
                .eq(["GET", "HEAD", "OPTIONS"]);
        if !ok {
            i.error(sink, &format!("{path}.cached_methods"), format!("cached_methods {cached:?} must be [\"GET\", \"HEAD\"] or [\"GET\", \"HEAD\", \"OPTIONS\"]"));
        } else if cached.iter().any(|m| !allowed.contains(m)) {
            i.error(
                sink,
                &format!("{path}.cached_methods"),
                "cached_methods must be a subset of allowed_methods",
            );
        }
    }
    let fv = b.block("forwarded_values");
    let policy = b.os("cache_policy_id");
    if fv.is_none() && policy.is_none() && !b.unknown("cache_policy_id") {
        i.error(
            sink,
            path,
            "a cache behavior needs cache_policy_id or a forwarded_values block",
        );
    }
    if fv.is_some() && policy.is_some() {
        i.error(
            sink,
            &format!("{path}.cache_policy_id"),
            "cache_policy_id and forwarded_values cannot both be set",
        );
    }
    let min = b.i("min_ttl");
    let default = b.oi("default_ttl").unwrap_or(86_400.max(min));
    let max = b.oi("max_ttl").unwrap_or(31_536_000.max(default));
    if policy.is_none() && (min > default || default > max) {
        i.error(
            sink,
            &format!("{path}.default_ttl"),
            format!(
                "TTLs must satisfy min_ttl <= default_ttl <= max_ttl, got {min}, {default}, {max}"
            ),
        );
    }
    let functions: Vec<(String, String)> = b
        .blocks("function_association")
        .iter()
        .map(|f| (f.s("event_type"), f.s("function_arn")))
        .collect();
    if functions.len() == 2 && functions[0].0 == functions[1].0 {
        i.error(
            sink,
            &format!("{path}.function_association[1].event_type"),
            format!("two functions for the event \"{}\"", functions[0].0),
        );
    }
    Behavior {
        path_pattern: b.os("path_pattern"),
        target_origin_id: b.s("target_origin_id"),
        viewer_protocol_policy: b.s("viewer_protocol_policy"),
        allowed_methods: allowed,
        cached_methods: cached,
        compress: b.b("compress"),
        min_ttl: min,
        default_ttl: default,
        max_ttl: max,
        cache_policy_id: policy,
        origin_request_policy_id: b.os("origin_request_policy_id"),
        response_headers_policy_id: b.os("response_headers_policy_id"),
        forwarded_values: fv.map(|f| {
            let c = f.block("cookies");
            ForwardedValues {
                query_string: f.b("query_string"),
                query_string_cache_keys: f.list("query_string_cache_keys"),
                headers: f.list("headers"),
                cookies: c.map(|c| c.s("forward")).unwrap_or_else(|| "none".into()),
                cookie_names: c.map(|c| c.list("whitelisted_names")).unwrap_or_default(),
            }
        }),
        functions,
        lambdas: b
            .blocks("lambda_function_association")
            .iter()
            .map(|f| (f.s("event_type"), f.s("lambda_arn")))
            .collect(),
    }
}

#[allow(clippy::too_many_lines)]
fn distribution_spec(i: &Inst<'_>, sink: &mut Sink<'_>) -> Spec {
    let r = i.r();
    let mut origins = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for (n, o) in r.blocks("origin").iter().enumerate() {
        let id = o.s("origin_id");
        if ids.contains(&id) {
            i.error(
                sink,
                &format!("origin[{n}].origin_id"),
                format!("two origins have the id \"{id}\""),
            );
        }
        ids.push(id.clone());
        if o.block("s3_origin_config").is_some() && o.block("custom_origin_config").is_some() {
            i.error(
                sink,
                &format!("origin[{n}]"),
                "an origin takes s3_origin_config or custom_origin_config, not both",
            );
        }
        let path = o.s("origin_path");
        if !path.is_empty() && (!path.starts_with('/') || path.ends_with('/')) {
            i.error(
                sink,
                &format!("origin[{n}].origin_path"),
                format!("origin_path \"{path}\" must start with / and not end with /"),
            );
        }
        origins.push(Origin {
            id,
            domain_name: o.s("domain_name"),
            path,
            origin_access_control_id: o.os("origin_access_control_id"),
            origin_access_identity: o
                .block("s3_origin_config")
                .and_then(|s| s.os("origin_access_identity")),
            custom: o.block("custom_origin_config").map(|c| CustomOrigin {
                http_port: c.i("http_port"),
                https_port: c.i("https_port"),
                protocol_policy: c.s("origin_protocol_policy"),
                ssl_protocols: c.list("origin_ssl_protocols"),
                read_timeout: c.i("origin_read_timeout"),
                keepalive_timeout: c.i("origin_keepalive_timeout"),
            }),
            custom_headers: o
                .blocks("custom_header")
                .iter()
                .map(|h| (h.s("name"), h.s("value")))
                .collect(),
            connection_attempts: o.i("connection_attempts"),
            connection_timeout: o.i("connection_timeout"),
            shield_region: o
                .block("origin_shield")
                .filter(|s| s.b("enabled"))
                .and_then(|s| s.os("origin_shield_region")),
        });
    }
    let mut groups = Vec::new();
    for (n, g) in r.blocks("origin_group").iter().enumerate() {
        let members: Vec<String> = g
            .blocks("member")
            .iter()
            .map(|m| m.s("origin_id"))
            .collect();
        for (k, m) in members.iter().enumerate() {
            if !ids.contains(m) {
                i.error(
                    sink,
                    &format!("origin_group[{n}].member[{k}].origin_id"),
                    format!("origin group member \"{m}\" is not an origin of this distribution"),
                )
                .suggest(m, ids.iter().map(String::as_str));
            }
        }
        groups.push(OriginGroup {
            id: g.s("origin_id"),
            members,
            status_codes: g
                .block("failover_criteria")
                .and_then(|f| {
                    f.0.get("status_codes")
                        .and_then(|v| v.as_seq())
                        .map(|v| v.iter().filter_map(|x| x.as_i64()).collect())
                })
                .unwrap_or_default(),
        });
    }
    let default = r
        .block("default_cache_behavior")
        .map(|b| behavior(i, sink, b, "default_cache_behavior"));
    let ordered: Vec<Behavior> = r
        .blocks("ordered_cache_behavior")
        .iter()
        .enumerate()
        .map(|(n, b)| behavior(i, sink, *b, &format!("ordered_cache_behavior[{n}]")))
        .collect();
    // Every behaviour targets a declared origin or origin group.
    let targets: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .chain(groups.iter().map(|g| g.id.as_str()))
        .collect();
    let mut targeted: Vec<String> = Vec::new();
    let all: Vec<(String, &Behavior)> = default
        .iter()
        .map(|b| ("default_cache_behavior.target_origin_id".to_owned(), b))
        .chain(
            ordered
                .iter()
                .enumerate()
                .map(|(n, b)| (format!("ordered_cache_behavior[{n}].target_origin_id"), b)),
        )
        .collect();
    for (path, b) in &all {
        if b.target_origin_id.is_empty() {
            continue;
        }
        if targets.contains(&b.target_origin_id.as_str()) {
            targeted.push(b.target_origin_id.clone());
            if let Some(g) = groups.iter().find(|g| g.id == b.target_origin_id) {
                targeted.extend(g.members.iter().cloned());
            }
        } else {
            i.error(
                sink,
                path,
                format!(
                    "target_origin_id \"{}\" is not an origin of this distribution",
                    b.target_origin_id
                ),
            )
            .suggest(&b.target_origin_id, targets.iter().copied());
        }
    }
    for (n, o) in origins.iter().enumerate() {
        if !targeted.contains(&o.id) {
            i.warn(
                sink,
                &format!("origin[{n}].origin_id"),
                format!(
                    "no cache behavior targets origin \"{}\"; it receives no requests",
                    o.id
                ),
            )
            .hint("set a behavior's target_origin_id to it, or remove it");
        }
    }
    let mut seen_patterns: Vec<&str> = Vec::new();
    for (n, b) in ordered.iter().enumerate() {
        let p = b.path_pattern.as_deref().unwrap_or_default();
        if seen_patterns.contains(&p) {
            i.error(
                sink,
                &format!("ordered_cache_behavior[{n}].path_pattern"),
                format!("two cache behaviors have the path pattern \"{p}\""),
            );
        }
        seen_patterns.push(p);
    }
    let root_object = r.os("default_root_object");
    if let Some(o) = &root_object
        && o.starts_with('/')
    {
        i.error(
            sink,
            "default_root_object",
            format!("default_root_object \"{o}\" must not start with /"),
        )
        .hint(format!("write \"{}\"", o.trim_start_matches('/')));
    }
    let geo = r
        .block("restrictions")
        .and_then(|x| x.block("geo_restriction"));
    let geo_type = geo
        .map(|g| g.s("restriction_type"))
        .unwrap_or_else(|| "none".into());
    let locations = geo.map(|g| g.list("locations")).unwrap_or_default();
    if geo_type == "none" && !locations.is_empty() {
        i.error(
            sink,
            "restrictions.geo_restriction.locations",
            "locations must be empty when restriction_type is \"none\"",
        );
    }
    if geo_type != "none" && locations.is_empty() {
        i.error(
            sink,
            "restrictions.geo_restriction.locations",
            format!("restriction_type \"{geo_type}\" needs locations"),
        );
    }
    let vc = r.block("viewer_certificate");
    let cert = ViewerCertificate {
        cloudfront_default: vc.is_some_and(|v| v.b("cloudfront_default_certificate")),
        acm_certificate_arn: vc.and_then(|v| v.os("acm_certificate_arn")),
        iam_certificate_id: vc.and_then(|v| v.os("iam_certificate_id")),
        minimum_protocol_version: vc
            .map(|v| v.s("minimum_protocol_version"))
            .unwrap_or_default(),
        ssl_support_method: vc.and_then(|v| v.os("ssl_support_method")),
    };
    let kinds = usize::from(cert.cloudfront_default)
        + usize::from(cert.acm_certificate_arn.is_some())
        + usize::from(cert.iam_certificate_id.is_some());
    if vc.is_some() && kinds != 1 {
        i.error(sink, "viewer_certificate", "viewer_certificate needs exactly one of cloudfront_default_certificate = true, acm_certificate_arn or iam_certificate_id");
    }
    if (cert.acm_certificate_arn.is_some() || cert.iam_certificate_id.is_some())
        && cert.ssl_support_method.is_none()
    {
        i.error(
            sink,
            "viewer_certificate",
            "a custom certificate needs ssl_support_method",
        );
    }
    let aliases = r.list("aliases");
    if !aliases.is_empty() && cert.cloudfront_default {
        i.error(sink, "aliases", "aliases need a custom certificate (acm_certificate_arn), not the CloudFront default certificate");
    }
    Spec::Distribution(Box::new(Distribution {
        id: r.s("id"),
        arn: r.s("arn"),
        domain_name: r.s("domain_name"),
        enabled: r.b("enabled"),
        aliases,
        comment: r.os("comment"),
        default_root_object: root_object,
        price_class: r.s("price_class"),
        http_version: r.s("http_version"),
        ipv6: r.b("is_ipv6_enabled"),
        origins,
        origin_groups: groups,
        default_behavior: default.unwrap_or_else(|| Behavior {
            path_pattern: None,
            target_origin_id: String::new(),
            viewer_protocol_policy: "allow-all".into(),
            allowed_methods: Vec::new(),
            cached_methods: Vec::new(),
            compress: false,
            min_ttl: 0,
            default_ttl: 86_400,
            max_ttl: 31_536_000,
            cache_policy_id: None,
            origin_request_policy_id: None,
            response_headers_policy_id: None,
            forwarded_values: None,
            functions: Vec::new(),
            lambdas: Vec::new(),
        }),
        ordered_behaviors: ordered,
        custom_error_responses: r
            .blocks("custom_error_response")
            .iter()
            .map(|e| ErrorResponse {
                error_code: e.i("error_code"),
                response_code: e.oi("response_code"),
                response_page_path: e.os("response_page_path"),
                error_caching_min_ttl: e.oi("error_caching_min_ttl").unwrap_or(10),
            })
            .collect(),
        geo_restriction: (geo_type, locations),
        viewer_certificate: cert,
        logging: r
            .block("logging_config")
            .map(|l| (l.s("bucket"), l.s("prefix"), l.b("include_cookies"))),
    }))
}

/// `aws_cloudfront_distribution`.
pub static DISTRIBUTION: Kind = Kind {
    name: "aws_cloudfront_distribution",
    schema: &DISTRIBUTION_SCHEMA,
    computed: distribution_computed,
    spec: distribution_spec,
    deprecated: None,
};

static OAC_SCHEMA: Schema = Schema {
    attrs: &[
        req("name", Ty::Str).len(1, 64),
        opt("description", Ty::Str)
            .dstr("Managed by Terraform")
            .len(0, 256),
        req("origin_access_control_origin_type", Ty::Str).one_of(&[
            "s3",
            "mediastore",
            "lambda",
            "mediapackagev2",
        ]),
        req("signing_behavior", Ty::Str).one_of(&["always", "never", "no-override"]),
        req("signing_protocol", Ty::Str).one_of(&["sigv4"]),
        computed("id", Ty::Str),
        computed("arn", Ty::Str),
        computed("etag", Ty::Str),
    ],
    blocks: &[],
};

fn id_e(c: &mut Computed<'_>, what: &str) {
    let id = format!("E{}", c.ident("id", 13, UPPER));
    c.set(
        "arn",
        format!("arn:aws:cloudfront::{}:{what}/{id}", c.account),
    );
    c.set("id", id);
    c.set("etag", c.ident("etag", 14, UPPER));
}

/// An origin access control: how the edge signs requests to a bucket.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OriginAccessControl {
    /// `id`.
    pub id: String,
    /// `name`.
    pub name: String,
    /// `origin_access_control_origin_type`.
    pub origin_type: String,
    /// `signing_behavior`.
    pub signing_behavior: String,
    /// `signing_protocol`.
    pub signing_protocol: String,
}

/// `aws_cloudfront_origin_access_control`.
pub static OAC: Kind = Kind {
    name: "aws_cloudfront_origin_access_control",
    schema: &OAC_SCHEMA,
    computed: |c| id_e(c, "origin-access-control"),
    spec: |i, _| {
        let r = i.r();
        Spec::OriginAccessControl(OriginAccessControl {
            id: r.s("id"),
            name: r.s("name"),
            origin_type: r.s("origin_access_control_origin_type"),
            signing_behavior: r.s("signing_behavior"),
            signing_protocol: r.s("signing_protocol"),
        })
    },
    deprecated: None,
};

static ITEMS: Schema = Schema {
    attrs: &[opt("items", Ty::SetStr)],
    blocks: &[],
};
static CP_COOKIES: Schema = Schema {
    attrs: &[req("cookie_behavior", Ty::Str).one_of(&["none", "whitelist", "allExcept", "all"])],
    blocks: &[block("cookies", &ITEMS).max(1)],
};
static CP_HEADERS: Schema = Schema {
    attrs: &[opt("header_behavior", Ty::Str).one_of(&["none", "whitelist"])],
    blocks: &[block("headers", &ITEMS).max(1)],
};
static CP_QUERY: Schema = Schema {
    attrs: &[req("query_string_behavior", Ty::Str).one_of(&[
        "none",
        "whitelist",
        "allExcept",
        "all",
    ])],
    blocks: &[block("query_strings", &ITEMS).max(1)],
};
static CP_PARAMS: Schema = Schema {
    attrs: &[
        opt("enable_accept_encoding_brotli", Ty::Bool),
        opt("enable_accept_encoding_gzip", Ty::Bool),
    ],
    blocks: &[
        block("cookies_config", &CP_COOKIES).one(),
        block("headers_config", &CP_HEADERS).one(),
        block("query_strings_config", &CP_QUERY).one(),
    ],
};
static CACHE_POLICY_SCHEMA: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        opt("comment", Ty::Str),
        opt("default_ttl", Ty::Int).dint(86_400),
        opt("max_ttl", Ty::Int).dint(31_536_000),
        opt("min_ttl", Ty::Int).dint(0),
        computed("id", Ty::Str),
        computed("arn", Ty::Str),
        computed("etag", Ty::Str),
    ],
    blocks: &[block(
        "parameters_in_cache_key_and_forwarded_to_origin",
        &CP_PARAMS,
    )
    .one()],
};

/// A cache policy: TTLs and the cache key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CachePolicy {
    /// `id`.
    pub id: String,
    /// `name`.
    pub name: String,
    /// TTLs: min, default, max.
    pub ttls: (i64, i64, i64),
    /// Cookies in the key: behaviour and names.
    pub cookies: (String, Vec<String>),
    /// Headers in the key: behaviour and names.
    pub headers: (String, Vec<String>),
    /// Query strings in the key: behaviour and names.
    pub query_strings: (String, Vec<String>),
    /// `enable_accept_encoding_gzip`.
    pub gzip: bool,
    /// `enable_accept_encoding_brotli`.
    pub brotli: bool,
}

fn items(b: Option<R<'_>>, behavior: &str, list: &str) -> (String, Vec<String>) {
    match b {
        Some(b) => (
            b.os(behavior).unwrap_or_else(|| "none".into()),
            b.block(list).map(|l| l.list("items")).unwrap_or_default(),
        ),
        None => ("none".into(), Vec::new()),
    }
}

fn cache_policy_spec(i: &Inst<'_>, sink: &mut Sink<'_>) -> Spec {
    let r = i.r();
    let p = r.block("parameters_in_cache_key_and_forwarded_to_origin");
    let (min, def, max) = (r.i("min_ttl"), r.i("default_ttl"), r.i("max_ttl"));
    if min > def || def > max {
        i.error(
            sink,
            "default_ttl",
            format!("TTLs must satisfy min_ttl <= default_ttl <= max_ttl, got {min}, {def}, {max}"),
        );
    }
    Spec::CachePolicy(CachePolicy {
        id: r.s("id"),
        name: r.s("name"),
        ttls: (min, def, max),
        cookies: items(
            p.and_then(|p| p.block("cookies_config")),
            "cookie_behavior",
            "cookies",
        ),
        headers: items(
            p.and_then(|p| p.block("headers_config")),
            "header_behavior",
            "headers",
        ),
        query_strings: items(
            p.and_then(|p| p.block("query_strings_config")),
            "query_string_behavior",
            "query_strings",
        ),
        gzip: p.is_some_and(|p| p.b("enable_accept_encoding_gzip")),
        brotli: p.is_some_and(|p| p.b("enable_accept_encoding_brotli")),
    })
}

/// `aws_cloudfront_cache_policy`.
pub static CACHE_POLICY: Kind = Kind {
    name: "aws_cloudfront_cache_policy",
    schema: &CACHE_POLICY_SCHEMA,
    computed: |c| id_e(c, "cache-policy"),
    spec: cache_policy_spec,
    deprecated: None,
};

static ORP_COOKIES: Schema = Schema {
    attrs: &[req("cookie_behavior", Ty::Str).one_of(&["none", "whitelist", "all", "allExcept"])],
    blocks: &[block("cookies", &ITEMS).max(1)],
};
static ORP_HEADERS: Schema = Schema {
    attrs: &[opt("header_behavior", Ty::Str).one_of(&[
        "none",
        "whitelist",
        "allViewer",
        "allViewerAndWhitelistCloudFront",
        "allExcept",
    ])],
    blocks: &[block("headers", &ITEMS).max(1)],
};
static ORP_QUERY: Schema = Schema {
    attrs: &[req("query_string_behavior", Ty::Str).one_of(&[
        "none",
        "whitelist",
        "all",
        "allExcept",
    ])],
    blocks: &[block("query_strings", &ITEMS).max(1)],
};
static ORP_SCHEMA: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        opt("comment", Ty::Str),
        computed("id", Ty::Str),
        computed("arn", Ty::Str),
        computed("etag", Ty::Str),
    ],
    blocks: &[
        block("cookies_config", &ORP_COOKIES).one(),
        block("headers_config", &ORP_HEADERS).one(),
        block("query_strings_config", &ORP_QUERY).one(),
    ],
};

/// An origin request policy: what is forwarded to the origin beyond the cache key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OriginRequestPolicy {
    /// `id`.
    pub id: String,
    /// `name`.
    pub name: String,
    /// Cookies: behaviour and names.
    pub cookies: (String, Vec<String>),
    /// Headers: behaviour and names.
    pub headers: (String, Vec<String>),
    /// Query strings: behaviour and names.
    pub query_strings: (String, Vec<String>),
}

/// `aws_cloudfront_origin_request_policy`.
pub static ORIGIN_REQUEST_POLICY: Kind = Kind {
    name: "aws_cloudfront_origin_request_policy",
    schema: &ORP_SCHEMA,
    computed: |c| id_e(c, "origin-request-policy"),
    spec: |i, _| {
        let r = i.r();
        Spec::OriginRequestPolicy(OriginRequestPolicy {
            id: r.s("id"),
            name: r.s("name"),
            cookies: items(r.block("cookies_config"), "cookie_behavior", "cookies"),
            headers: items(r.block("headers_config"), "header_behavior", "headers"),
            query_strings: items(
                r.block("query_strings_config"),
                "query_string_behavior",
                "query_strings",
            ),
        })
    },
    deprecated: None,
};

static FUNCTION_SCHEMA: Schema = Schema {
    attrs: &[
        req("name", Ty::Str).len(1, 64),
        req("runtime", Ty::Str).one_of(&["cloudfront-js-1.0", "cloudfront-js-2.0"]),
        req("code", Ty::Str),
        opt("comment", Ty::Str),
        opt("publish", Ty::Bool).dbool(true),
        opt("key_value_store_associations", Ty::SetStr),
        computed("id", Ty::Str),
        computed("arn", Ty::Str),
        computed("etag", Ty::Str),
        computed("live_stage_etag", Ty::Str),
        computed("status", Ty::Str),
    ],
    blocks: &[],
};

/// A CloudFront function (JavaScript run at the viewer events).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Function {
    /// `name`.
    pub name: String,
    /// `arn`.
    pub arn: String,
    /// `runtime`.
    pub runtime: String,
    /// `code`.
    pub code: String,
    /// `publish`.
    pub publish: bool,
}

/// `aws_cloudfront_function`.
pub static FUNCTION: Kind = Kind {
    name: "aws_cloudfront_function",
    schema: &FUNCTION_SCHEMA,
    computed: |c| {
        let name = c.s("name").unwrap_or_default();
        c.set(
            "arn",
            format!("arn:aws:cloudfront::{}:function/{name}", c.account),
        );
        c.set("id", name);
        c.set("etag", c.ident("etag", 14, UPPER));
        c.set("live_stage_etag", c.ident("live", 14, UPPER));
        c.set("status", "UNASSOCIATED");
    },
    spec: |i, _| {
        let r = i.r();
        Spec::CloudFrontFunction(Function {
            name: r.s("name"),
            arn: r.s("arn"),
            runtime: r.s("runtime"),
            code: r.s("code"),
            publish: r.b("publish"),
        })
    },
    deprecated: None,
};
