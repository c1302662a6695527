//! The API server's checks of each Gateway API object on its own: the CRDs' required fields,
//! ranges, patterns and CEL rules, with the CRDs' own wording where it helps a search. What
//! is accepted and not served is a warning here too, at its field.

use std::collections::HashSet;

use super::spec::*;
use crate::diag::Findings;
use crate::istio::validation as v;
use crate::path::FieldPath;

const REQUIRED: &str = "Required value";

fn required(f: &mut Findings, at: &FieldPath) {
    f.error(at, REQUIRED);
}

/// A hostname of a listener or route: a DNS name, a leading `*.` wildcard allowed, never an
/// IP address.
fn hostname(f: &mut Findings, at: &FieldPath, h: &str) {
    if h.parse::<std::net::IpAddr>().is_ok() {
        f.error(
            at,
            format!("Invalid value: \"{h}\": must be a hostname, not an IP address"),
        );
        return;
    }
    if h == "*" {
        f.error(
            at,
            format!("Invalid value: \"{h}\": a bare `*` is not a hostname; omit the field to accept every host"),
        );
        return;
    }
    if let Err(e) = v::check_wildcard_host(h) {
        f.error(at, format!("Invalid value: {e}"));
    }
}

/// Gateway API durations: `^([0-9]{1,5}(h|m|s|ms)){1,4}$`.
pub(crate) fn gateway_duration(text: &str) -> Option<std::time::Duration> {
    let mut rest = text;
    let mut total = std::time::Duration::ZERO;
    let mut parts = 0;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if !(1..=5).contains(&digits) {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (std::time::Duration::from_millis(n), 2)
        } else if rest.starts_with('h') {
            (std::time::Duration::from_secs(n * 3600), 1)
        } else if rest.starts_with('m') {
            (std::time::Duration::from_secs(n * 60), 1)
        } else if rest.starts_with('s') {
            (std::time::Duration::from_secs(n), 1)
        } else {
            return None;
        };
        rest = &rest[len..];
        total += unit;
        parts += 1;
    }
    (1..=4).contains(&parts).then_some(total)
}

fn duration(f: &mut Findings, at: &FieldPath, d: &crate::duration::DurationText) {
    if gateway_duration(&d.0).is_none() {
        f.error(
            at,
            format!("Invalid value: \"{d}\": should match '^([0-9]{{1,5}}(h|m|s|ms)){{1,4}}$'"),
        )
        .hint("write a Gateway API duration such as \"10s\", \"500ms\" or \"1h30m\"");
    }
}

impl GatewayClassSpec {
    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        if self.controller_name.as_deref().is_none_or(str::is_empty) {
            required(f, &at.field("controllerName"));
        }
    }
}

impl GatewaySpec {
    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        if self.gateway_class_name.as_deref().is_none_or(str::is_empty) {
            required(f, &at.field("gatewayClassName"));
        }
        if self.listeners.is_empty() {
            f.error(
                &at.field("listeners"),
                "Required value: at least one listener",
            );
        }
        let mut names = HashSet::new();
        let mut combos = HashSet::new();
        for (i, l) in self.listeners.iter().enumerate() {
            let lp = at.field("listeners").index(i);
            match l.name.as_deref() {
                None | Some("") => required(f, &lp.field("name")),
                Some(n) => {
                    if let Err(e) = crate::k8s::meta::NameRule::Subdomain.check(n) {
                        f.error(&lp.field("name"), format!("Invalid value: \"{n}\": {e}"));
                    }
                    if !names.insert(n) {
                        f.error(
                            &lp.field("name"),
                            format!("Duplicate value: \"{n}\": listener names must be unique within the Gateway"),
                        );
                    }
                }
            }
            match l.port {
                None => required(f, &lp.field("port")),
                Some(p) => v::port(f, &lp.field("port"), Some(p)),
            }
            let protocol = l.protocol.as_deref().unwrap_or_default();
            if protocol.is_empty() {
                required(f, &lp.field("protocol"));
            }
            if let Some(h) = &l.hostname {
                hostname(f, &lp.field("hostname"), h);
            }
            if !combos.insert((l.port, protocol, l.hostname.as_deref())) {
                f.error(
                    &lp,
                    "Invalid value: combination of port, protocol and hostname must be unique for each listener",
                );
            }
            match (protocol, &l.tls) {
                ("HTTP" | "TCP" | "UDP", Some(_)) => {
                    f.error(
                        &lp.field("tls"),
                        "Forbidden: tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']",
                    );
                }
                ("HTTPS" | "TLS", None) => {
                    f.error(
                        &lp.field("tls"),
                        "Required value: tls mode must be set for protocols ['HTTPS', 'TLS']",
                    );
                }
                _ => {}
            }
            if let Some(tls) = &l.tls {
                let terminate = tls.mode.is_none_or(|m| m == TlsModeType::Terminate);
                if terminate && tls.certificate_refs.is_empty() && tls.options.is_empty() {
                    f.error(
                        &lp.field("tls").field("certificateRefs"),
                        "Required value: certificateRefs or options must be specified when mode is Terminate",
                    );
                }
                for (c, r) in tls.certificate_refs.iter().enumerate() {
                    if r.name.as_deref().is_none_or(str::is_empty) {
                        required(
                            f,
                            &lp.field("tls")
                                .field("certificateRefs")
                                .index(c)
                                .field("name"),
                        );
                    }
                }
                if tls.frontend_validation.is_some() {
                    f.warn(
                        &lp.field("tls").field("frontendValidation"),
                        "not served yet: the gateway does not ask clients for certificates on Gateway API listeners",
                    );
                }
            }
            if let Some(ns) = l
                .allowed_routes
                .as_ref()
                .and_then(|a| a.namespaces.as_ref())
            {
                let np = lp.field("allowedRoutes").field("namespaces");
                match (ns.from, &ns.selector) {
                    (Some(FromNamespaces::Selector), None) => {
                        f.error(
                            &np.field("selector"),
                            "Required value: selector must be specified when from is Selector",
                        );
                    }
                    (_, Some(s)) => s.validate(f, &np.field("selector")),
                    _ => {}
                }
            }
        }
        if !self.addresses.is_empty() {
            f.warn(
                &at.field("addresses"),
                "not applied: Meridian's gateway listens on the node's addresses (`meridian up --gateway-port`)",
            );
        }
        if self
            .infrastructure
            .as_ref()
            .is_some_and(|i| i.parameters_ref.is_some())
        {
            f.warn(
                &at.field("infrastructure").field("parametersRef"),
                "not applied: Meridian's gateway is built in and takes no deployment parameters",
            );
        }
        if self.backend_tls.is_some() {
            f.warn(
                &at.field("backendTLS"),
                "not served yet: the gateway presents no client certificate to backends",
            );
        }
        if self.allowed_listeners.is_some() {
            f.warn(
                &at.field("allowedListeners"),
                "not served yet: ListenerSets are not read",
            );
        }
    }
}

impl ReferenceGrantSpec {
    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        if self.from.is_empty() {
            f.error(&at.field("from"), "Required value: at least one entry");
        }
        if self.to.is_empty() {
            f.error(&at.field("to"), "Required value: at least one entry");
        }
        for (i, e) in self.from.iter().enumerate() {
            let p = at.field("from").index(i);
            if e.group.is_none() {
                required(f, &p.field("group"));
            }
            if e.kind.as_deref().is_none_or(str::is_empty) {
                required(f, &p.field("kind"));
            }
            if e.namespace.as_deref().is_none_or(str::is_empty) {
                required(f, &p.field("namespace"));
            }
        }
        for (i, e) in self.to.iter().enumerate() {
            let p = at.field("to").index(i);
            if e.group.is_none() {
                required(f, &p.field("group"));
            }
            if e.kind.as_deref().is_none_or(str::is_empty) {
                required(f, &p.field("kind"));
            }
        }
    }
}

fn parent_refs(f: &mut Findings, at: &FieldPath, refs: &[ParentReference]) {
    for (i, r) in refs.iter().enumerate() {
        let p = at.field("parentRefs").index(i);
        if r.name.as_deref().is_none_or(str::is_empty) {
            required(f, &p.field("name"));
        }
        if let Some(port) = r.port {
            v::port(f, &p.field("port"), Some(port));
        }
    }
}

fn hostnames(f: &mut Findings, at: &FieldPath, hosts: &[String]) {
    for (i, h) in hosts.iter().enumerate() {
        hostname(f, &at.field("hostnames").index(i), h);
    }
}

fn header_matches(f: &mut Findings, at: &FieldPath, field: &'static str, m: &[HttpHeaderMatch]) {
    let mut seen = HashSet::new();
    for (i, h) in m.iter().enumerate() {
        let p = at.field(field).index(i);
        match h.name.as_deref() {
            None | Some("") => required(f, &p.field("name")),
            Some(n) => {
                if field == "headers"
                    && let Err(e) = v::check_header_name(n)
                {
                    f.error(&p.field("name"), format!("Invalid value: {e}"));
                }
                let key = if field == "headers" {
                    n.to_ascii_lowercase()
                } else {
                    n.to_owned()
                };
                if !seen.insert(key) {
                    f.error(
                        &p.field("name"),
                        format!("Invalid value: \"{n}\": {field} must have unique names"),
                    );
                }
            }
        }
        match h.value.as_deref() {
            None => required(f, &p.field("value")),
            Some(val) => {
                if h.kind == Some(ValueMatchType::RegularExpression) {
                    v::regex(f, &p.field("value"), val);
                }
            }
        }
    }
}

fn backend_ref(f: &mut Findings, p: &FieldPath, b: &BackendRef) {
    if b.name.as_deref().is_none_or(str::is_empty) {
        required(f, &p.field("name"));
    }
    let service = b.group.as_deref().unwrap_or_default().is_empty()
        && b.kind.as_deref().unwrap_or("Service") == "Service";
    match b.port {
        None if service => {
            f.error(
                &p.field("port"),
                "Required value: must have port for Service reference",
            );
        }
        Some(port) => v::port(f, &p.field("port"), Some(port)),
        None => {}
    }
}

fn header_modifier(f: &mut Findings, p: &FieldPath, m: &HeaderModifier) {
    for (field, list) in [("set", &m.set), ("add", &m.add)] {
        let mut seen = HashSet::new();
        for (i, h) in list.iter().enumerate() {
            let hp = p.field(field).index(i);
            match h.name.as_deref() {
                None | Some("") => required(f, &hp.field("name")),
                Some(n) => {
                    if let Err(e) = v::check_header_name(n) {
                        f.error(&hp.field("name"), format!("Invalid value: {e}"));
                    } else if !seen.insert(n.to_ascii_lowercase()) {
                        f.error(
                            &hp.field("name"),
                            format!(
                                "Invalid value: \"{n}\": {field} must have unique header names"
                            ),
                        );
                    }
                }
            }
            if h.value.is_none() {
                required(f, &hp.field("value"));
            }
        }
    }
    for (i, n) in m.remove.iter().enumerate() {
        if let Err(e) = v::check_header_name(n) {
            f.error(&p.field("remove").index(i), format!("Invalid value: {e}"));
        }
    }
}

fn path_modifier(f: &mut Findings, p: &FieldPath, m: &HttpPathModifier) {
    match m.kind {
        None => required(f, &p.field("type")),
        Some(PathModifierType::ReplaceFullPath) => {
            if m.replace_full_path.is_none() {
                f.error(
                    &p.field("replaceFullPath"),
                    "Required value: replaceFullPath must be specified when type is set to 'ReplaceFullPath'",
                );
            }
            if m.replace_prefix_match.is_some() {
                f.error(
                    &p.field("replacePrefixMatch"),
                    "Forbidden: type must be 'ReplacePrefixMatch' when replacePrefixMatch is set",
                );
            }
        }
        Some(PathModifierType::ReplacePrefixMatch) => {
            if m.replace_prefix_match.is_none() {
                f.error(
                    &p.field("replacePrefixMatch"),
                    "Required value: replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'",
                );
            }
            if m.replace_full_path.is_some() {
                f.error(
                    &p.field("replaceFullPath"),
                    "Forbidden: type must be 'ReplaceFullPath' when replaceFullPath is set",
                );
            }
        }
    }
    for (field, value) in [
        ("replaceFullPath", &m.replace_full_path),
        ("replacePrefixMatch", &m.replace_prefix_match),
    ] {
        if let Some(val) = value
            && !val.is_empty()
            && !val.starts_with('/')
        {
            f.error(
                &p.field(field),
                format!("Invalid value: \"{val}\": must start with '/'"),
            );
        }
    }
}

/// Filters of a rule (`grpc`: a GRPCRoute's, which allow fewer types).
fn filters(f: &mut Findings, at: &FieldPath, list: &[HttpRouteFilter], grpc: bool) {
    for (i, filter) in list.iter().enumerate() {
        let p = at.field("filters").index(i);
        let Some(kind) = filter.kind else {
            required(f, &p.field("type"));
            continue;
        };
        if grpc
            && !matches!(
                kind,
                FilterType::RequestHeaderModifier
                    | FilterType::ResponseHeaderModifier
                    | FilterType::RequestMirror
                    | FilterType::ExtensionRef
            )
        {
            f.error(
                &p.field("type"),
                format!("Unsupported value: \"{}\": supported values: \"ResponseHeaderModifier\", \"RequestHeaderModifier\", \"RequestMirror\", \"ExtensionRef\"", kind.as_str()),
            );
            continue;
        }
        let set = [
            (
                FilterType::RequestHeaderModifier,
                filter.request_header_modifier.is_some(),
            ),
            (
                FilterType::ResponseHeaderModifier,
                filter.response_header_modifier.is_some(),
            ),
            (FilterType::RequestMirror, filter.request_mirror.is_some()),
            (
                FilterType::RequestRedirect,
                filter.request_redirect.is_some(),
            ),
            (FilterType::UrlRewrite, filter.url_rewrite.is_some()),
            (FilterType::Cors, filter.cors.is_some()),
            (FilterType::ExternalAuth, filter.external_auth.is_some()),
            (FilterType::ExtensionRef, filter.extension_ref.is_some()),
        ];
        for (t, present) in set {
            if t == kind && !present {
                f.error(
                    &p.field(t.field()),
                    format!(
                        "Required value: filter.{} must be specified for {} filter.type",
                        t.field(),
                        t.as_str()
                    ),
                );
            } else if t != kind && present {
                f.error(
                    &p.field(t.field()),
                    format!(
                        "Forbidden: filter.{} must be nil if the filter.type is not {}",
                        t.field(),
                        t.as_str()
                    ),
                );
            }
        }
        if let Some(m) = &filter.request_header_modifier {
            header_modifier(f, &p.field("requestHeaderModifier"), m);
        }
        if let Some(m) = &filter.response_header_modifier {
            header_modifier(f, &p.field("responseHeaderModifier"), m);
        }
        if let Some(m) = &filter.request_mirror {
            let mp = p.field("requestMirror");
            match &m.backend_ref {
                None => required(f, &mp.field("backendRef")),
                Some(b) => backend_ref(f, &mp.field("backendRef"), b),
            }
            if m.percent.is_some() && m.fraction.is_some() {
                f.error(
                    &mp,
                    "Invalid value: only one of percent or fraction may be specified",
                );
            }
            if let Some(pc) = m.percent
                && pc > 100
            {
                f.error(
                    &mp.field("percent"),
                    format!("Invalid value: {pc}: must be at most 100"),
                );
            }
            if let Some(fr) = m.fraction {
                let d = fr.denominator.unwrap_or(100);
                match fr.numerator {
                    None => required(f, &mp.field("fraction").field("numerator")),
                    Some(n) if n > d || d == 0 => {
                        f.error(
                            &mp.field("fraction"),
                            "Invalid value: numerator must be less than or equal to denominator",
                        );
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(r) = &filter.request_redirect {
            let rp = p.field("requestRedirect");
            if let Some(h) = &r.hostname {
                hostname(f, &rp.field("hostname"), h);
            }
            if let Some(port) = r.port {
                v::port(f, &rp.field("port"), Some(port));
            }
            if let Some(code) = r.status_code
                && !matches!(code, 301 | 302)
            {
                f.error(
                    &rp.field("statusCode"),
                    format!("Unsupported value: {code}: supported values: \"301\", \"302\""),
                );
            }
            if let Some(m) = &r.path {
                path_modifier(f, &rp.field("path"), m);
            }
        }
        if let Some(r) = &filter.url_rewrite {
            let rp = p.field("urlRewrite");
            if let Some(h) = &r.hostname {
                hostname(f, &rp.field("hostname"), h);
            }
            if let Some(m) = &r.path {
                path_modifier(f, &rp.field("path"), m);
            }
        }
    }
    let has = |t: FilterType| list.iter().any(|x| x.kind == Some(t));
    if has(FilterType::RequestRedirect) && has(FilterType::UrlRewrite) {
        f.error(
            &at.field("filters"),
            "Invalid value: May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both",
        );
    }
    for t in [
        FilterType::RequestHeaderModifier,
        FilterType::ResponseHeaderModifier,
        FilterType::RequestRedirect,
        FilterType::UrlRewrite,
    ] {
        if list.iter().filter(|x| x.kind == Some(t)).count() > 1 {
            f.error(
                &at.field("filters"),
                format!("Invalid value: {} filter cannot be repeated", t.as_str()),
            );
        }
    }
}

fn backend_refs(f: &mut Findings, at: &FieldPath, refs: &[HttpBackendRef], grpc: bool) {
    for (i, b) in refs.iter().enumerate() {
        let p = at.field("backendRefs").index(i);
        backend_ref(f, &p, &b.backend());
        if let Some(w) = b.weight
            && !(0..=1_000_000).contains(&w)
        {
            f.error(
                &p.field("weight"),
                format!("Invalid value: {w}: must be between 0 and 1000000"),
            );
        }
        filters(f, &p, &b.filters, grpc);
    }
}

fn session_persistence(f: &mut Findings, at: &FieldPath, s: Option<&SessionPersistence>) {
    if s.is_some() {
        f.warn(
            &at.field("sessionPersistence"),
            "not served yet: requests are balanced without session affinity; use a DestinationRule's consistentHash for affinity",
        );
    }
}

impl HttpRouteSpec {
    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        parent_refs(f, at, &self.parent_refs);
        hostnames(f, at, &self.hostnames);
        for (ri, rule) in self.rules.iter().enumerate() {
            let rp = at.field("rules").index(ri);
            for (mi, m) in rule.matches.iter().enumerate() {
                let mp = rp.field("matches").index(mi);
                if let Some(path) = &m.path {
                    let value = path.value.as_deref().unwrap_or("/");
                    match path.kind.unwrap_or(PathMatchType::PathPrefix) {
                        PathMatchType::RegularExpression => {
                            v::regex(f, &mp.field("path").field("value"), value);
                        }
                        PathMatchType::Exact | PathMatchType::PathPrefix => {
                            if !value.starts_with('/') {
                                f.error(
                                    &mp.field("path").field("value"),
                                    format!("Invalid value: \"{value}\": value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']"),
                                );
                            } else if value.contains("//")
                                || value.contains("/./")
                                || value.contains("/../")
                                || value.contains('#')
                            {
                                f.error(
                                    &mp.field("path").field("value"),
                                    format!("Invalid value: \"{value}\": must not contain '//', '/./', '/../' or '#' when type one of ['Exact', 'PathPrefix']"),
                                );
                            }
                        }
                    }
                }
                header_matches(f, &mp, "headers", &m.headers);
                header_matches(f, &mp, "queryParams", &m.query_params);
            }
            filters(f, &rp, &rule.filters, false);
            let prefix_rewrite = rule.filters.iter().any(|x| {
                [
                    x.url_rewrite.as_ref().and_then(|r| r.path.as_ref()),
                    x.request_redirect.as_ref().and_then(|r| r.path.as_ref()),
                ]
                .into_iter()
                .flatten()
                .any(|p| p.kind == Some(PathModifierType::ReplacePrefixMatch))
            });
            if prefix_rewrite {
                let one_prefix = rule.matches.len() <= 1
                    && rule.matches.first().is_none_or(|m| {
                        m.path.as_ref().is_none_or(|p| {
                            p.kind.unwrap_or(PathMatchType::PathPrefix) == PathMatchType::PathPrefix
                        })
                    });
                if !one_prefix {
                    f.error(
                        &rp.field("matches"),
                        "Invalid value: When using URL Rewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified",
                    );
                }
            }
            backend_refs(f, &rp, &rule.backend_refs, false);
            if let Some(t) = &rule.timeouts {
                let tp = rp.field("timeouts");
                if let Some(d) = &t.request {
                    duration(f, &tp.field("request"), d);
                }
                if let Some(d) = &t.backend_request {
                    duration(f, &tp.field("backendRequest"), d);
                }
                let parsed = |d: &Option<crate::duration::DurationText>| {
                    d.as_ref().and_then(|d| gateway_duration(&d.0))
                };
                if let (Some(r), Some(b)) = (parsed(&t.request), parsed(&t.backend_request))
                    && !r.is_zero()
                    && b > r
                {
                    f.error(
                        &tp.field("backendRequest"),
                        "Invalid value: backendRequest timeout cannot be longer than request timeout",
                    );
                }
            }
            if let Some(r) = &rule.retry {
                if let Some(b) = &r.backoff {
                    duration(f, &rp.field("retry").field("backoff"), b);
                }
                for (ci, c) in r.codes.iter().enumerate() {
                    if !(400..=599).contains(c) {
                        f.error(
                            &rp.field("retry").field("codes").index(ci),
                            format!("Invalid value: {c}: must be between 400 and 599"),
                        );
                    }
                }
            }
            session_persistence(f, &rp, rule.session_persistence.as_ref());
        }
    }
}

impl GrpcRouteSpec {
    pub(crate) fn validate(&self, f: &mut Findings, at: &FieldPath) {
        parent_refs(f, at, &self.parent_refs);
        hostnames(f, at, &self.hostnames);
        for (ri, rule) in self.rules.iter().enumerate() {
            let rp = at.field("rules").index(ri);
            for (mi, m) in rule.matches.iter().enumerate() {
                let mp = rp.field("matches").index(mi);
                if let Some(method) = &m.method {
                    let p = mp.field("method");
                    if method.service.is_none() && method.method.is_none() {
                        f.error(
                            &p,
                            "Invalid value: One or both of 'service' or 'method' must be specified",
                        );
                    }
                    for (field, value) in [("service", &method.service), ("method", &method.method)]
                    {
                        let Some(val) = value else { continue };
                        match method.kind.unwrap_or(ValueMatchType::Exact) {
                            ValueMatchType::RegularExpression => v::regex(f, &p.field(field), val),
                            ValueMatchType::Exact => {
                                let ok = !val.is_empty()
                                    && !val.contains('/')
                                    && (field == "service" || !val.contains('.'));
                                if !ok {
                                    f.error(
                                        &p.field(field),
                                        format!("Invalid value: \"{val}\": must be a gRPC {field} name (no '/'{})", if field == "method" { " or '.'" } else { "" }),
                                    );
                                }
                            }
                        }
                    }
                }
                header_matches(f, &mp, "headers", &m.headers);
            }
            filters(f, &rp, &rule.filters, true);
            backend_refs(f, &rp, &rule.backend_refs, true);
            session_persistence(f, &rp, rule.session_persistence.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("10s", Some(10_000); "seconds")]
    #[test_case("1h30m", Some(5_400_000); "hours and minutes")]
    #[test_case("500ms", Some(500); "millis")]
    #[test_case("0s", Some(0); "zero")]
    #[test_case("1.5s", None; "no fractions")]
    #[test_case("123456s", None; "six digits")]
    #[test_case("10", None; "no unit")]
    #[test_case("", None; "empty")]
    fn durations(text: &str, millis: Option<u128>) {
        assert_eq!(gateway_duration(text).map(|d| d.as_millis()), millis);
    }
}
