//! Azure: resource groups, Front Door classic (`azurerm_frontdoor`, the course's) and the
//! current Front Door resources (`azurerm_cdn_frontdoor_*`). What the front door plane serves.

use super::{Computed, Inst, Kind, LOCAL_DOMAIN, LOWER, Spec};
use crate::terraform::schema::{Hint, Schema, Sink, Ty, block, computed, opt, optc, req};
use crate::terraform::value::Value;

/// The subscription computed ids live in.
pub const SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000000";

static RG_SCHEMA: Schema = Schema {
    attrs: &[
        req("name", Ty::Str).len(1, 90),
        req("location", Ty::Str),
        opt("managed_by", Ty::Str),
        opt("tags", Ty::MapStr),
        computed("id", Ty::Str),
    ],
    blocks: &[],
};

/// A resource group.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResourceGroup {
    /// Name.
    pub name: String,
    /// Location, normalised (`westeurope`).
    pub location: String,
}

/// `azurerm_resource_group`.
pub static RESOURCE_GROUP: Kind = Kind {
    name: "azurerm_resource_group",
    schema: &RG_SCHEMA,
    computed: |c| {
        let name = c.s("name").unwrap_or_default();
        c.set(
            "id",
            format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{name}"),
        );
    },
    spec: |i, _| {
        let r = i.r();
        Spec::ResourceGroup(ResourceGroup {
            name: r.s("name"),
            location: i.region.to_owned(),
        })
    },
    deprecated: None,
};

static FORWARDING: Schema = Schema {
    attrs: &[
        req("backend_pool_name", Ty::Str),
        opt("cache_enabled", Ty::Bool).dbool(false),
        opt("cache_use_dynamic_compression", Ty::Bool).dbool(false),
        opt("cache_query_parameter_strip_directive", Ty::Str)
            .dstr("StripAll")
            .one_of(&["StripAll", "StripNone", "StripOnly", "StripAllExcept"]),
        opt("cache_query_parameters", Ty::ListStr),
        opt("cache_duration", Ty::Str),
        opt("custom_forwarding_path", Ty::Str),
        opt("forwarding_protocol", Ty::Str)
            .dstr("HttpsOnly")
            .one_of(&["HttpOnly", "HttpsOnly", "MatchRequest"]),
    ],
    blocks: &[],
};
static REDIRECT: Schema = Schema {
    attrs: &[
        opt("custom_host", Ty::Str),
        req("redirect_protocol", Ty::Str).one_of(&["HttpOnly", "HttpsOnly", "MatchRequest"]),
        req("redirect_type", Ty::Str).one_of(&[
            "Moved",
            "Found",
            "TemporaryRedirect",
            "PermanentRedirect",
        ]),
        opt("custom_fragment", Ty::Str),
        opt("custom_path", Ty::Str),
        opt("custom_query_string", Ty::Str),
    ],
    blocks: &[],
};
static ROUTING_RULE: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        req("frontend_endpoints", Ty::ListStr),
        req("accepted_protocols", Ty::ListStr).one_of(&["Http", "Https"]),
        req("patterns_to_match", Ty::ListStr),
        opt("enabled", Ty::Bool).dbool(true),
        computed("id", Ty::Str),
    ],
    blocks: &[
        block("forwarding_configuration", &FORWARDING).max(1),
        block("redirect_configuration", &REDIRECT).max(1),
    ],
};
static LOAD_BALANCING: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        opt("sample_size", Ty::Int).dint(4),
        opt("successful_samples_required", Ty::Int).dint(2),
        opt("additional_latency_milliseconds", Ty::Int).dint(0),
        computed("id", Ty::Str),
    ],
    blocks: &[],
};
static HEALTH_PROBE: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        opt("enabled", Ty::Bool).dbool(true),
        opt("path", Ty::Str).dstr("/"),
        opt("protocol", Ty::Str)
            .dstr("Http")
            .one_of(&["Http", "Https"]),
        opt("probe_method", Ty::Str)
            .dstr("GET")
            .one_of(&["GET", "HEAD"]),
        opt("interval_in_seconds", Ty::Int).dint(120),
        computed("id", Ty::Str),
    ],
    blocks: &[],
};
static BACKEND: Schema = Schema {
    attrs: &[
        opt("enabled", Ty::Bool).dbool(true),
        req("address", Ty::Str),
        req("http_port", Ty::Int).range(1, 65535),
        req("https_port", Ty::Int).range(1, 65535),
        opt("weight", Ty::Int).dint(50).range(1, 1000),
        opt("priority", Ty::Int).dint(1).range(1, 5),
        req("host_header", Ty::Str),
    ],
    blocks: &[],
};
static BACKEND_POOL: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        req("load_balancing_name", Ty::Str),
        req("health_probe_name", Ty::Str),
        computed("id", Ty::Str),
    ],
    blocks: &[block("backend", &BACKEND).min(1).max(500)],
};
static FRONTEND: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        req("host_name", Ty::Str),
        opt("session_affinity_enabled", Ty::Bool).dbool(false),
        opt("session_affinity_ttl_seconds", Ty::Int).dint(0),
        opt("web_application_firewall_policy_link_id", Ty::Str),
        computed("id", Ty::Str),
    ],
    blocks: &[],
};
static POOL_SETTINGS: Schema = Schema {
    attrs: &[
        req("enforce_backend_pools_certificate_name_check", Ty::Bool),
        opt("backend_pools_send_receive_timeout_seconds", Ty::Int)
            .dint(60)
            .range(0, 240),
    ],
    blocks: &[],
};
static FRONTDOOR_SCHEMA: Schema = Schema {
    attrs: &[
        req("name", Ty::Str).len(5, 64),
        req("resource_group_name", Ty::Str),
        optc("location", Ty::Str).deprecated("Front Door is global; remove location"),
        opt("load_balancer_enabled", Ty::Bool).dbool(true),
        opt("friendly_name", Ty::Str),
        opt("tags", Ty::MapStr),
        computed("id", Ty::Str),
        computed("cname", Ty::Str),
        computed("header_frontdoor_id", Ty::Str),
        computed("explicit_resource_order", Ty::Any),
        computed("backend_pool_health_probes", Ty::MapStr),
        computed("backend_pool_load_balancing_settings", Ty::MapStr),
        computed("backend_pools", Ty::MapStr),
        computed("frontend_endpoints", Ty::MapStr),
        computed("routing_rules", Ty::MapStr),
    ],
    blocks: &[
        block("routing_rule", &ROUTING_RULE).min(1).max(500),
        block("backend_pool_load_balancing", &LOAD_BALANCING).min(1),
        block("backend_pool_health_probe", &HEALTH_PROBE).min(1),
        block("backend_pool", &BACKEND_POOL).min(1),
        block("frontend_endpoint", &FRONTEND).min(1).max(500),
        block("backend_pool_settings", &POOL_SETTINGS).max(1),
    ],
};

fn names_map(c: &Computed<'_>, block: &str, kind: &str, base: &str) -> Value {
    let mut m = std::collections::BTreeMap::new();
    if let Some(items) = c.obj.get(block).and_then(Value::as_seq) {
        for b in items {
            if let Some(n) = b.get("name").and_then(Value::as_str) {
                m.insert(n.to_owned(), Value::str(format!("{base}/{kind}/{n}")));
            }
        }
    }
    Value::map(m)
}

fn frontdoor_computed(c: &mut Computed<'_>) {
    let name = c.s("name").unwrap_or_default();
    let rg = c.s("resource_group_name").unwrap_or_default();
    let id = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/Microsoft.Network/frontDoors/{name}"
    );
    let maps = [
        (
            "backend_pool_health_probes",
            "backend_pool_health_probe",
            "healthProbeSettings",
        ),
        (
            "backend_pool_load_balancing_settings",
            "backend_pool_load_balancing",
            "loadBalancingSettings",
        ),
        ("backend_pools", "backend_pool", "backendPools"),
        (
            "frontend_endpoints",
            "frontend_endpoint",
            "frontendEndpoints",
        ),
        ("routing_rules", "routing_rule", "routingRules"),
    ];
    for (attr, block, kind) in maps {
        let v = names_map(c, block, kind, &id);
        c.set(attr, v);
    }
    c.set("cname", format!("{name}.azurefd.{LOCAL_DOMAIN}"));
    let g = c.ident("fdid", 32, b"0123456789abcdef");
    c.set(
        "header_frontdoor_id",
        format!(
            "{}-{}-{}-{}-{}",
            &g[..8],
            &g[8..12],
            &g[12..16],
            &g[16..20],
            &g[20..]
        ),
    );
    c.set("explicit_resource_order", Value::list(Vec::new()));
    c.set("id", id);
    c.fill("location", "global");
}

/// A Front Door (classic).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FrontDoor {
    /// Name.
    pub name: String,
    /// Resource group.
    pub resource_group: String,
    /// The host it answers under here (`<name>.azurefd.localhost`).
    pub cname: String,
    /// Frontend endpoints: name, host name, session affinity.
    pub frontend_endpoints: Vec<(String, String, bool)>,
    /// Routing rules.
    pub routing_rules: Vec<RoutingRule>,
    /// Backend pools.
    pub backend_pools: Vec<BackendPool>,
    /// How long a backend may take to answer (`backend_pools_send_receive_timeout_seconds`).
    pub send_receive_timeout_seconds: i64,
    /// `session_affinity_ttl_seconds` by frontend endpoint name (0: a session cookie).
    pub session_affinity_ttl_seconds: Vec<(String, i64)>,
}

/// A routing rule.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RoutingRule {
    /// Name.
    pub name: String,
    /// Frontend endpoint names it applies to.
    pub frontend_endpoints: Vec<String>,
    /// `Http`, `Https`.
    pub accepted_protocols: Vec<String>,
    /// Path patterns.
    pub patterns: Vec<String>,
    /// Enabled.
    pub enabled: bool,
    /// Forwarding: backend pool, protocol.
    pub forward: Option<(String, String)>,
    /// Caching, when the rule enables it.
    pub cache: Option<RouteCaching>,
    /// Redirect: protocol, type, host.
    pub redirect: Option<(String, String, Option<String>)>,
    /// `forwarding_configuration.custom_forwarding_path`.
    pub custom_forwarding_path: Option<String>,
    /// `redirect_configuration`'s `custom_path`, `custom_query_string`, `custom_fragment`.
    pub redirect_custom: (Option<String>, Option<String>, Option<String>),
}

/// A routing rule's or route's caching, in Standard/Premium's words (classic's settings
/// mapped: `StripAll` is `IgnoreQueryString`, `StripNone` `UseQueryString`, `StripOnly`
/// `IgnoreSpecifiedQueryStrings`, `StripAllExcept` `IncludeSpecifiedQueryStrings`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RouteCaching {
    /// `IgnoreQueryString`, `UseQueryString`, `IgnoreSpecifiedQueryStrings` or
    /// `IncludeSpecifiedQueryStrings`.
    pub query_string_caching_behavior: String,
    /// The query strings those two name.
    pub query_strings: Vec<String>,
    /// Compression (`compression_enabled`, classic `cache_use_dynamic_compression`).
    pub compression: bool,
    /// `content_types_to_compress` (Front Door's list when empty).
    pub content_types_to_compress: Vec<String>,
    /// Classic `cache_duration`, in seconds.
    pub duration_seconds: Option<u64>,
}

/// An ISO 8601 duration as classic `cache_duration` takes it (`P1DT2H`, `PT30M`):
/// days, then hours, minutes and seconds after `T`; seconds.
pub fn iso8601_seconds(text: &str) -> Option<u64> {
    let rest = text.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut total: u64 = 0;
    let mut parse = |part: &str, units: &[(char, u64)]| -> Option<()> {
        let mut num = String::new();
        let mut last = 0;
        for c in part.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let at = units.iter().position(|(u, _)| *u == c)?;
            if num.is_empty() || (last > 0 && at < last) {
                return None;
            }
            last = at + 1;
            let n: u64 = num.parse().ok()?;
            total = total.checked_add(n.checked_mul(units[at].1)?)?;
            num.clear();
        }
        num.is_empty().then_some(())
    };
    parse(date, &[('D', 86_400)])?;
    if let Some(t) = time {
        parse(t, &[('H', 3_600), ('M', 60), ('S', 1)])?;
    }
    (date.len() + time.map_or(0, str::len) > 0).then_some(total)
}

/// A backend pool with its balancing and probe settings resolved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackendPool {
    /// Name.
    pub name: String,
    /// Backends.
    pub backends: Vec<Backend>,
    /// Probes considered (`sample_size`).
    pub sample_size: i64,
    /// Successful probes for healthy.
    pub successful_samples_required: i64,
    /// Latency sensitivity, milliseconds.
    pub additional_latency_ms: i64,
    /// Probe path.
    pub probe_path: String,
    /// Probe protocol.
    pub probe_protocol: String,
    /// Probe method.
    pub probe_method: String,
    /// Seconds between probes.
    pub probe_interval: i64,
    /// Probing on.
    pub probe_enabled: bool,
}

/// A backend.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Backend {
    /// Address.
    pub address: String,
    /// Host header sent.
    pub host_header: String,
    /// HTTP port.
    pub http_port: i64,
    /// HTTPS port.
    pub https_port: i64,
    /// 1 (first) to 5.
    pub priority: i64,
    /// 1 to 1000.
    pub weight: i64,
    /// Enabled.
    pub enabled: bool,
    /// Its HTTPS certificate must name its host header (classic
    /// `enforce_backend_pools_certificate_name_check`, an origin's
    /// `certificate_name_check_enabled`).
    pub certificate_name_check: bool,
}

#[allow(clippy::too_many_lines)]
fn frontdoor_spec(i: &Inst<'_>, sink: &mut Sink<'_>) -> Spec {
    let r = i.r();
    let name = r.s("name");
    let names =
        |block: &str| -> Vec<String> { r.blocks(block).iter().map(|b| b.s("name")).collect() };
    let frontends = names("frontend_endpoint");
    let pools = names("backend_pool");
    let lbs = names("backend_pool_load_balancing");
    let probes = names("backend_pool_health_probe");
    for (block, list) in [
        ("frontend_endpoint", &frontends),
        ("backend_pool", &pools),
        ("backend_pool_load_balancing", &lbs),
        ("backend_pool_health_probe", &probes),
        ("routing_rule", &names("routing_rule")),
    ] {
        for (n, x) in list.iter().enumerate() {
            if list[..n].contains(x) {
                i.error(
                    sink,
                    &format!("{block}[{n}].name"),
                    format!("two {block} blocks are named \"{x}\""),
                );
            }
        }
    }
    let default_host = format!("{name}.azurefd.net");
    let fe: Vec<(String, String, bool)> = r
        .blocks("frontend_endpoint")
        .iter()
        .map(|f| {
            (
                f.s("name"),
                f.s("host_name"),
                f.b("session_affinity_enabled"),
            )
        })
        .collect();
    if !fe.iter().any(|(_, h, _)| h == &default_host) && !r.unknown("name") {
        i.error(sink, "frontend_endpoint[0].host_name", format!("one frontend_endpoint must have host_name \"{default_host}\" (the Front Door's own name)"));
    }
    let mut rules = Vec::new();
    for (n, rr) in r.blocks("routing_rule").iter().enumerate() {
        for (k, f) in rr.list("frontend_endpoints").iter().enumerate() {
            if !frontends.contains(f) {
                i.error(
                    sink,
                    &format!("routing_rule[{n}].frontend_endpoints"),
                    format!("frontend endpoint \"{f}\" is not declared in this Front Door"),
                )
                .suggest(f, frontends.iter().map(String::as_str));
                let _ = k;
            }
        }
        let fwd = rr.block("forwarding_configuration");
        let red = rr.block("redirect_configuration");
        if fwd.is_some() == red.is_some() {
            i.error(sink, &format!("routing_rule[{n}]"), "a routing rule needs exactly one of forwarding_configuration and redirect_configuration");
        }
        if let Some(f) = fwd {
            let pool = f.s("backend_pool_name");
            if !pools.contains(&pool) {
                i.error(
                    sink,
                    &format!("routing_rule[{n}].forwarding_configuration.backend_pool_name"),
                    format!("backend pool \"{pool}\" is not declared in this Front Door"),
                )
                .suggest(&pool, pools.iter().map(String::as_str));
            }
        }
        rules.push(RoutingRule {
            name: rr.s("name"),
            frontend_endpoints: rr.list("frontend_endpoints"),
            accepted_protocols: rr.list("accepted_protocols"),
            patterns: rr.list("patterns_to_match"),
            enabled: rr.b("enabled"),
            forward: fwd.map(|f| (f.s("backend_pool_name"), f.s("forwarding_protocol"))),
            cache: fwd.filter(|f| f.b("cache_enabled")).map(|f| {
                let duration = f.os("cache_duration");
                let duration_seconds = duration.as_deref().and_then(|d| {
                    let secs = iso8601_seconds(d).filter(|s| *s < 366 * 86_400);
                    if secs.is_none() {
                        i.error(
                            sink,
                            &format!("routing_rule[{n}].forwarding_configuration.cache_duration"),
                            format!("cache_duration \"{d}\" is not an ISO 8601 duration under 366 days (e.g. P1DT2H, PT30M)"),
                        );
                    }
                    secs
                });
                RouteCaching {
                    query_string_caching_behavior: match f
                        .s("cache_query_parameter_strip_directive")
                        .as_str()
                    {
                        "StripNone" => "UseQueryString",
                        "StripOnly" => "IgnoreSpecifiedQueryStrings",
                        "StripAllExcept" => "IncludeSpecifiedQueryStrings",
                        _ => "IgnoreQueryString",
                    }
                    .to_owned(),
                    query_strings: f.list("cache_query_parameters"),
                    compression: f.b("cache_use_dynamic_compression"),
                    content_types_to_compress: Vec::new(),
                    duration_seconds,
                }
            }),
            redirect: red.map(|x| {
                (
                    x.s("redirect_protocol"),
                    x.s("redirect_type"),
                    x.os("custom_host"),
                )
            }),
            custom_forwarding_path: fwd.and_then(|f| f.os("custom_forwarding_path")),
            redirect_custom: red.map_or((None, None, None), |x| {
                (
                    x.os("custom_path"),
                    x.os("custom_query_string"),
                    x.os("custom_fragment"),
                )
            }),
        });
    }
    // Front Door enforces the name check unless told otherwise.
    let name_check = r
        .block("backend_pool_settings")
        .is_none_or(|b| b.b("enforce_backend_pools_certificate_name_check"));
    let mut backend_pools = Vec::new();
    for (n, p) in r.blocks("backend_pool").iter().enumerate() {
        let lb_name = p.s("load_balancing_name");
        let probe_name = p.s("health_probe_name");
        let lb = r
            .blocks("backend_pool_load_balancing")
            .into_iter()
            .find(|b| b.s("name") == lb_name);
        let probe = r
            .blocks("backend_pool_health_probe")
            .into_iter()
            .find(|b| b.s("name") == probe_name);
        if lb.is_none() {
            i.error(
                sink,
                &format!("backend_pool[{n}].load_balancing_name"),
                format!("backend_pool_load_balancing \"{lb_name}\" is not declared"),
            )
            .suggest(&lb_name, lbs.iter().map(String::as_str));
        }
        if probe.is_none() {
            i.error(
                sink,
                &format!("backend_pool[{n}].health_probe_name"),
                format!("backend_pool_health_probe \"{probe_name}\" is not declared"),
            )
            .suggest(&probe_name, probes.iter().map(String::as_str));
        }
        backend_pools.push(BackendPool {
            name: p.s("name"),
            backends: p
                .blocks("backend")
                .iter()
                .map(|b| Backend {
                    address: b.s("address"),
                    host_header: b.s("host_header"),
                    http_port: b.i("http_port"),
                    https_port: b.i("https_port"),
                    priority: b.i("priority"),
                    weight: b.i("weight"),
                    enabled: b.b("enabled"),
                    certificate_name_check: name_check,
                })
                .collect(),
            sample_size: lb.map_or(4, |l| l.i("sample_size")),
            successful_samples_required: lb.map_or(2, |l| l.i("successful_samples_required")),
            additional_latency_ms: lb.map_or(0, |l| l.i("additional_latency_milliseconds")),
            probe_path: probe.map_or_else(|| "/".into(), |x| x.s("path")),
            probe_protocol: probe.map_or_else(|| "Http".into(), |x| x.s("protocol")),
            probe_method: probe.map_or_else(|| "GET".into(), |x| x.s("probe_method")),
            probe_interval: probe.map_or(120, |x| x.i("interval_in_seconds")),
            probe_enabled: probe.is_none_or(|x| x.b("enabled")),
        });
    }
    for (n, l) in r.blocks("backend_pool_load_balancing").iter().enumerate() {
        if l.i("successful_samples_required") > l.i("sample_size") {
            i.error(
                sink,
                &format!("backend_pool_load_balancing[{n}].successful_samples_required"),
                "successful_samples_required cannot exceed sample_size",
            );
        }
    }
    Spec::FrontDoor(Box::new(FrontDoor {
        name,
        resource_group: r.s("resource_group_name"),
        cname: r.s("cname"),
        frontend_endpoints: fe,
        routing_rules: rules,
        backend_pools,
        send_receive_timeout_seconds: r
            .block("backend_pool_settings")
            .map_or(60, |b| b.i("backend_pools_send_receive_timeout_seconds")),
        session_affinity_ttl_seconds: r
            .blocks("frontend_endpoint")
            .iter()
            .map(|f| (f.s("name"), f.i("session_affinity_ttl_seconds")))
            .collect(),
    }))
}

/// `azurerm_frontdoor`.
pub static FRONTDOOR: Kind = Kind {
    name: "azurerm_frontdoor",
    schema: &FRONTDOOR_SCHEMA,
    computed: frontdoor_computed,
    spec: frontdoor_spec,
    deprecated: Some(
        "Front Door classic: azurerm 4.0 removed this resource; the azurerm_cdn_frontdoor_* resources replace it",
    ),
};

/// A part of a Front Door Standard/Premium profile.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "part", rename_all = "snake_case")]
pub enum FrontDoorPart {
    /// `azurerm_cdn_frontdoor_profile`.
    Profile {
        /// Id.
        id: String,
        /// Name.
        name: String,
        /// SKU.
        sku: String,
        /// Origin response timeout, seconds.
        response_timeout_seconds: i64,
    },
    /// `azurerm_cdn_frontdoor_endpoint`.
    Endpoint {
        /// Id.
        id: String,
        /// The profile's id.
        profile_id: String,
        /// The host it answers under here.
        host_name: String,
        /// Enabled.
        enabled: bool,
    },
    /// `azurerm_cdn_frontdoor_origin_group`.
    OriginGroup {
        /// Id.
        id: String,
        /// The profile's id.
        profile_id: String,
        /// Probe: protocol, path, method, interval seconds (none when probing is off).
        probe: Option<(String, String, String, i64)>,
        /// Sample size, successful samples required, additional latency ms.
        load_balancing: (i64, i64, i64),
        /// Session affinity.
        session_affinity: bool,
    },
    /// `azurerm_cdn_frontdoor_origin`.
    Origin {
        /// Id.
        id: String,
        /// The origin group's id.
        origin_group_id: String,
        /// Host name.
        host_name: String,
        /// Host header sent.
        host_header: Option<String>,
        /// HTTP port.
        http_port: i64,
        /// HTTPS port.
        https_port: i64,
        /// 1 to 5.
        priority: i64,
        /// 1 to 1000.
        weight: i64,
        /// Enabled.
        enabled: bool,
        /// `certificate_name_check_enabled`.
        certificate_name_check: bool,
    },
    /// `azurerm_cdn_frontdoor_route`.
    Route {
        /// Id.
        id: String,
        /// The endpoint's id.
        endpoint_id: String,
        /// The origin group's id.
        origin_group_id: String,
        /// Origin ids.
        origin_ids: Vec<String>,
        /// Path patterns.
        patterns: Vec<String>,
        /// `Http`, `Https`.
        supported_protocols: Vec<String>,
        /// `HttpOnly`, `HttpsOnly`, `MatchRequest`.
        forwarding_protocol: String,
        /// Redirect HTTP to HTTPS.
        https_redirect: bool,
        /// Caching, when on.
        cache: Option<RouteCaching>,
    },
}

static IDENTITY: Schema = Schema {
    attrs: &[
        req("type", Ty::Str),
        opt("identity_ids", Ty::SetStr),
        computed("principal_id", Ty::Str),
        computed("tenant_id", Ty::Str),
    ],
    blocks: &[],
};
static PROFILE_SCHEMA: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        req("resource_group_name", Ty::Str),
        req("sku_name", Ty::Str).one_of(&["Standard_AzureFrontDoor", "Premium_AzureFrontDoor"]),
        opt("response_timeout_seconds", Ty::Int)
            .dint(120)
            .range(16, 240),
        opt("tags", Ty::MapStr),
        computed("id", Ty::Str),
        computed("resource_guid", Ty::Str),
    ],
    blocks: &[block("identity", &IDENTITY).max(1)],
};

/// `azurerm_cdn_frontdoor_profile`.
pub static FD_PROFILE: Kind = Kind {
    name: "azurerm_cdn_frontdoor_profile",
    schema: &PROFILE_SCHEMA,
    computed: |c| {
        let name = c.s("name").unwrap_or_default();
        let rg = c.s("resource_group_name").unwrap_or_default();
        c.set("id", format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/Microsoft.Cdn/profiles/{name}"));
        let g = c.ident("guid", 32, b"0123456789abcdef");
        c.set(
            "resource_guid",
            format!(
                "{}-{}-{}-{}-{}",
                &g[..8],
                &g[8..12],
                &g[12..16],
                &g[16..20],
                &g[20..]
            ),
        );
    },
    spec: |i, _| {
        let r = i.r();
        Spec::FrontDoorPart(FrontDoorPart::Profile {
            id: r.s("id"),
            name: r.s("name"),
            sku: r.s("sku_name"),
            response_timeout_seconds: r.i("response_timeout_seconds"),
        })
    },
    deprecated: None,
};

static ENDPOINT_SCHEMA: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        req("cdn_frontdoor_profile_id", Ty::Str),
        opt("enabled", Ty::Bool).dbool(true),
        opt("tags", Ty::MapStr),
        computed("id", Ty::Str),
        computed("host_name", Ty::Str),
    ],
    blocks: &[],
};

/// `azurerm_cdn_frontdoor_endpoint`.
pub static FD_ENDPOINT: Kind = Kind {
    name: "azurerm_cdn_frontdoor_endpoint",
    schema: &ENDPOINT_SCHEMA,
    computed: |c| {
        let name = c.s("name").unwrap_or_default();
        let profile = c.s("cdn_frontdoor_profile_id").unwrap_or_default();
        c.set("id", format!("{profile}/afdEndpoints/{name}"));
        c.set(
            "host_name",
            format!(
                "{name}-{}.z01.azurefd.{LOCAL_DOMAIN}",
                c.ident("host", 16, LOWER)
            ),
        );
    },
    spec: |i, _| {
        let r = i.r();
        Spec::FrontDoorPart(FrontDoorPart::Endpoint {
            id: r.s("id"),
            profile_id: r.s("cdn_frontdoor_profile_id"),
            host_name: r.s("host_name"),
            enabled: r.b("enabled"),
        })
    },
    deprecated: None,
};

static OG_LB: Schema = Schema {
    attrs: &[
        opt("additional_latency_in_milliseconds", Ty::Int)
            .dint(50)
            .range(0, 1000),
        opt("sample_size", Ty::Int).dint(4).range(0, 255),
        opt("successful_samples_required", Ty::Int)
            .dint(3)
            .range(0, 255),
    ],
    blocks: &[],
};
static OG_PROBE: Schema = Schema {
    attrs: &[
        req("protocol", Ty::Str).one_of(&["Http", "Https"]),
        req("interval_in_seconds", Ty::Int).range(5, 31_536_000),
        opt("request_type", Ty::Str)
            .dstr("HEAD")
            .one_of(&["GET", "HEAD"]),
        opt("path", Ty::Str).dstr("/"),
    ],
    blocks: &[],
};
static OG_SCHEMA: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        req("cdn_frontdoor_profile_id", Ty::Str),
        opt("session_affinity_enabled", Ty::Bool).dbool(true),
        opt(
            "restore_traffic_time_to_healed_or_new_endpoint_in_minutes",
            Ty::Int,
        )
        .dint(10)
        .range(0, 50),
        computed("id", Ty::Str),
    ],
    blocks: &[
        block("load_balancing", &OG_LB).one(),
        block("health_probe", &OG_PROBE).max(1),
    ],
};

/// `azurerm_cdn_frontdoor_origin_group`.
pub static FD_ORIGIN_GROUP: Kind = Kind {
    name: "azurerm_cdn_frontdoor_origin_group",
    schema: &OG_SCHEMA,
    computed: |c| {
        let name = c.s("name").unwrap_or_default();
        let profile = c.s("cdn_frontdoor_profile_id").unwrap_or_default();
        c.set("id", format!("{profile}/originGroups/{name}"));
    },
    spec: |i, _| {
        let r = i.r();
        let lb = r.block("load_balancing");
        Spec::FrontDoorPart(FrontDoorPart::OriginGroup {
            id: r.s("id"),
            profile_id: r.s("cdn_frontdoor_profile_id"),
            probe: r.block("health_probe").map(|p| {
                (
                    p.s("protocol"),
                    p.s("path"),
                    p.s("request_type"),
                    p.i("interval_in_seconds"),
                )
            }),
            load_balancing: lb.map_or((4, 3, 50), |l| {
                (
                    l.i("sample_size"),
                    l.i("successful_samples_required"),
                    l.i("additional_latency_in_milliseconds"),
                )
            }),
            session_affinity: r.b("session_affinity_enabled"),
        })
    },
    deprecated: None,
};

static PRIVATE_LINK: Schema = Schema {
    attrs: &[
        opt("request_message", Ty::Str),
        opt("target_type", Ty::Str),
        req("location", Ty::Str),
        req("private_link_target_id", Ty::Str),
    ],
    blocks: &[],
};
static ORIGIN_SCHEMA: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        req("cdn_frontdoor_origin_group_id", Ty::Str),
        req("host_name", Ty::Str),
        req("certificate_name_check_enabled", Ty::Bool),
        opt("enabled", Ty::Bool).dbool(true),
        opt("http_port", Ty::Int).dint(80).range(1, 65535),
        opt("https_port", Ty::Int).dint(443).range(1, 65535),
        opt("origin_host_header", Ty::Str),
        opt("priority", Ty::Int).dint(1).range(1, 5),
        opt("weight", Ty::Int).dint(500).range(1, 1000),
        computed("id", Ty::Str),
    ],
    blocks: &[block("private_link", &PRIVATE_LINK).max(1)],
};

/// `azurerm_cdn_frontdoor_origin`.
pub static FD_ORIGIN: Kind = Kind {
    name: "azurerm_cdn_frontdoor_origin",
    schema: &ORIGIN_SCHEMA,
    computed: |c| {
        let name = c.s("name").unwrap_or_default();
        let og = c.s("cdn_frontdoor_origin_group_id").unwrap_or_default();
        c.set("id", format!("{og}/origins/{name}"));
    },
    spec: |i, _| {
        let r = i.r();
        Spec::FrontDoorPart(FrontDoorPart::Origin {
            id: r.s("id"),
            origin_group_id: r.s("cdn_frontdoor_origin_group_id"),
            host_name: r.s("host_name"),
            host_header: r.os("origin_host_header"),
            http_port: r.i("http_port"),
            https_port: r.i("https_port"),
            priority: r.i("priority"),
            weight: r.i("weight"),
            enabled: r.b("enabled"),
            certificate_name_check: r.b("certificate_name_check_enabled"),
        })
    },
    deprecated: None,
};

static ROUTE_CACHE: Schema = Schema {
    attrs: &[
        opt("query_string_caching_behavior", Ty::Str)
            .dstr("IgnoreQueryString")
            .one_of(&[
                "IgnoreQueryString",
                "UseQueryString",
                "IgnoreSpecifiedQueryStrings",
                "IncludeSpecifiedQueryStrings",
            ]),
        opt("query_strings", Ty::ListStr),
        opt("compression_enabled", Ty::Bool).dbool(false),
        opt("content_types_to_compress", Ty::ListStr),
    ],
    blocks: &[],
};
static ROUTE_SCHEMA: Schema = Schema {
    attrs: &[
        req("name", Ty::Str),
        req("cdn_frontdoor_endpoint_id", Ty::Str),
        req("cdn_frontdoor_origin_group_id", Ty::Str),
        req("cdn_frontdoor_origin_ids", Ty::ListStr),
        req("patterns_to_match", Ty::ListStr),
        req("supported_protocols", Ty::SetStr).one_of(&["Http", "Https"]),
        opt("forwarding_protocol", Ty::Str)
            .dstr("MatchRequest")
            .one_of(&["HttpOnly", "HttpsOnly", "MatchRequest"]),
        opt("https_redirect_enabled", Ty::Bool).dbool(true),
        opt("link_to_default_domain", Ty::Bool).dbool(true),
        opt("enabled", Ty::Bool).dbool(true),
        opt("cdn_frontdoor_custom_domain_ids", Ty::ListStr),
        opt("cdn_frontdoor_origin_path", Ty::Str),
        opt("cdn_frontdoor_rule_set_ids", Ty::ListStr),
        computed("id", Ty::Str),
    ],
    blocks: &[block("cache", &ROUTE_CACHE).max(1)],
};

fn route_spec(i: &Inst<'_>, sink: &mut Sink<'_>) -> Spec {
    let r = i.r();
    let protocols = r.list("supported_protocols");
    if r.b("https_redirect_enabled")
        && !(protocols.contains(&"Http".to_owned()) && protocols.contains(&"Https".to_owned()))
    {
        i.error(
            sink,
            "https_redirect_enabled",
            "https_redirect_enabled needs both Http and Https in supported_protocols",
        );
    }
    for (n, p) in r.list("patterns_to_match").iter().enumerate() {
        if !p.starts_with('/') {
            i.error(
                sink,
                "patterns_to_match",
                format!("pattern {n} \"{p}\" must start with /"),
            );
        }
    }
    Spec::FrontDoorPart(FrontDoorPart::Route {
        id: r.s("id"),
        endpoint_id: r.s("cdn_frontdoor_endpoint_id"),
        origin_group_id: r.s("cdn_frontdoor_origin_group_id"),
        origin_ids: r.list("cdn_frontdoor_origin_ids"),
        patterns: r.list("patterns_to_match"),
        supported_protocols: protocols,
        forwarding_protocol: r.s("forwarding_protocol"),
        https_redirect: r.b("https_redirect_enabled"),
        cache: r.block("cache").map(|c| RouteCaching {
            query_string_caching_behavior: c.s("query_string_caching_behavior"),
            query_strings: c.list("query_strings"),
            compression: c.b("compression_enabled"),
            content_types_to_compress: c.list("content_types_to_compress"),
            duration_seconds: None,
        }),
    })
}

/// `azurerm_cdn_frontdoor_route`.
pub static FD_ROUTE: Kind = Kind {
    name: "azurerm_cdn_frontdoor_route",
    schema: &ROUTE_SCHEMA,
    computed: |c| {
        let name = c.s("name").unwrap_or_default();
        let ep = c.s("cdn_frontdoor_endpoint_id").unwrap_or_default();
        c.set("id", format!("{ep}/routes/{name}"));
    },
    spec: route_spec,
    deprecated: None,
};

#[cfg(test)]
mod tests {
    use super::iso8601_seconds;

    #[test]
    fn cache_durations_read_as_iso_8601() {
        assert_eq!(iso8601_seconds("P1DT2H"), Some(93_600));
        assert_eq!(iso8601_seconds("PT30M"), Some(1_800));
        assert_eq!(iso8601_seconds("PT1H2M3S"), Some(3_723));
        assert_eq!(iso8601_seconds("P365D"), Some(365 * 86_400));
        for bad in [
            "", "P", "PT", "1D", "P1H", "PT1D", "PT2M1H", "P1DT", "PTH", "P1.5D",
        ] {
            assert_eq!(iso8601_seconds(bad), None, "{bad}");
        }
    }
}
