//! Checks shared by Istio's kinds: host names, header names, durations, percentages, ports,
//! `exportTo`, regexes.

use std::time::Duration;

use crate::diag::Findings;
use crate::duration::DurationText;
use crate::path::FieldPath;

/// Istio's limit on regex length.
pub(crate) const MAX_REGEX_LEN: usize = 1024;

/// A DNS name or a name with a leading wildcard (`*.example.com`, or `*` alone).
pub fn check_wildcard_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("empty domain name not allowed".into());
    }
    if host == "*" {
        return Ok(());
    }
    let rest = host.strip_prefix("*.").unwrap_or(host);
    if rest.contains('*') {
        return Err(format!(
            "invalid host \"{host}\": a wildcard is only allowed as the left-most label (\"*.example.com\")"
        ));
    }
    check_dns_name(rest).map_err(|e| format!("invalid host \"{host}\": {e}"))
}

/// The rest of a host whose first label is a partial wildcard (`*x.example.com` gives
/// `x.example.com`'s part after the `*`), as Istio's ValidatePartialWildCardDomain allows.
pub(crate) fn partial_wildcard(host: &str) -> Option<&str> {
    let rest = host.strip_prefix('*')?;
    (!rest.is_empty() && !rest.starts_with('.') && !rest.contains('*')).then_some(rest)
}

/// Istio's check of the SNI names its AUTO_PASSTHROUGH gateways carry
/// (`outbound_.<PORT>_._.<HOSTNAME>`), which a VirtualService bound to a gateway may match
/// on; `None` when `domain` is not such a name.
pub(crate) fn auto_passthrough_sni(domain: &str) -> Option<Result<(), String>> {
    const FORMAT: &str = "outbound_.<PORT>_._.<HOSTNAME>";
    if !domain.starts_with("outbound_") {
        return None;
    }
    let parts: Vec<&str> = domain.split('_').collect();
    let [_, port, _, hostname, ..] = parts.as_slice() else {
        return Some(Err(format!(
            "domain name {domain} invalid, should follow '{FORMAT}' format"
        )));
    };
    let (port, hostname) = (port.trim_matches('.'), hostname.trim_matches('.'));
    if !port.bytes().any(|b| b.is_ascii_digit()) {
        return Some(Err(format!(
            "domain name {domain:?} invalid (label {port:?} invalid). should follow {FORMAT} format"
        )));
    }
    if !hostname.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Some(Err(format!(
            "domain name {domain:?} invalid (label {hostname:?} invalid). should follow {FORMAT} format"
        )));
    }
    Some(Ok(()))
}

/// A header value as Envoy reads it: no control characters but tab, and each `%` either
/// doubled (`%%`) or opening a `%VARIABLE%` / `%VARIABLE(args)%` expression (Istio's check).
pub(crate) fn check_header_value(value: &str) -> Result<(), String> {
    if value
        .chars()
        .any(|c| (c.is_ascii_control() && c != '\t') || c == '\u{7f}')
    {
        return Err(format!("header value configuration {value} is invalid"));
    }
    #[derive(PartialEq)]
    enum State {
        Literal,
        Name,
        ExpectArray,
        ExpectString,
        InString,
        ExpectDelimiterOrEnd,
        ExpectArgsEnd,
        ExpectVariableEnd,
    }
    let bad = |why: &str| {
        Err(format!(
            "header value configuration: invalid header configuration. {why}"
        ))
    };
    let bytes = value.as_bytes();
    let mut state = State::Literal;
    let mut pos = 0;
    while pos < bytes.len() {
        let ch = bytes[pos];
        let next = bytes.get(pos + 1).copied();
        match state {
            State::Literal => {
                if ch == b'%' {
                    match next {
                        None => return bad("Un-escaped %"),
                        Some(b'%') => pos += 1,
                        Some(_) => state = State::Name,
                    }
                }
            }
            State::Name => {
                if ch == b'%' {
                    state = State::Literal;
                } else if ch == b'(' {
                    state = State::ExpectArray;
                }
            }
            State::ExpectArray => {
                if ch == b'[' {
                    state = State::ExpectString;
                } else if ch != b' ' {
                    state = State::InString;
                }
            }
            State::ExpectDelimiterOrEnd => match ch {
                b',' => state = State::ExpectString,
                b']' => state = State::ExpectArgsEnd,
                b' ' => {}
                _ => return bad("Expecting ',', ']', or whitespace"),
            },
            State::ExpectString => match ch {
                b'"' => state = State::InString,
                b' ' => {}
                _ => return bad("Expecting '\"'"),
            },
            State::InString => match ch {
                b'\\' => {
                    if next.is_none() {
                        return bad("Un-terminated backslash in JSON string");
                    }
                    pos += 1;
                }
                b')' => state = State::ExpectVariableEnd,
                b'"' => state = State::ExpectDelimiterOrEnd,
                _ => {}
            },
            State::ExpectArgsEnd => match ch {
                b')' => state = State::ExpectVariableEnd,
                b' ' => {}
                _ => return bad("Expecting ')' or whitespace"),
            },
            State::ExpectVariableEnd => match ch {
                b'%' => state = State::Literal,
                b' ' => {}
                _ => return bad("Expecting '%' or whitespace"),
            },
        }
        pos += 1;
    }
    if state != State::Literal {
        return bad(&format!("Un-terminated variable expression '{value}'"));
    }
    Ok(())
}

/// A DNS name: labels of letters, digits and `-`, up to 63 characters each and 255 in all.
pub fn check_dns_name(name: &str) -> Result<(), String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err("empty domain name not allowed".into());
    }
    if name.len() > 255 {
        return Err(format!(
            "domain name too long (max 255, got {})",
            name.len()
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label in domain name".into());
        }
        if label.len() > 63 {
            return Err(format!("label \"{label}\" is longer than 63 characters"));
        }
        let ok = label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "label \"{label}\" must consist of alphanumeric characters or '-', and start and end with an alphanumeric character"
            ));
        }
    }
    Ok(())
}

/// An HTTP header name (an RFC 7230 token), lower-case as HTTP/2 requires.
pub fn check_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name must not be empty".into());
    }
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let body = name.strip_prefix(':').unwrap_or(name);
    if body.is_empty() || !body.chars().all(token) {
        return Err(format!("invalid header name \"{name}\""));
    }
    Ok(())
}

/// Parses a duration field, reporting bad text, and (as Istio's `ValidateDuration`) values
/// under 1 ms or finer than milliseconds.
pub(crate) fn duration(
    f: &mut Findings,
    at: &FieldPath,
    d: Option<&DurationText>,
) -> Option<Duration> {
    let d = d?;
    match d.parse() {
        Err(e) => {
            f.error(at, e.to_string())
                .hint("use Go duration syntax such as \"30s\", \"1.5s\", \"100ms\" or \"1h\"");
            None
        }
        Ok(v) if v < Duration::from_millis(1) => {
            f.error(at, format!("duration \"{d}\" must be at least 1ms"));
            None
        }
        Ok(v) if v.subsec_nanos() % 1_000_000 != 0 => {
            f.error(
                at,
                format!("duration \"{d}\": only durations to ms precision are supported"),
            );
            None
        }
        Ok(v) => Some(v),
    }
}

/// Like [`duration`], but zero is allowed (it means "disabled" in timeouts).
pub(crate) fn duration_or_zero(
    f: &mut Findings,
    at: &FieldPath,
    d: Option<&DurationText>,
) -> Option<Duration> {
    match d?.parse() {
        Ok(Duration::ZERO) => Some(Duration::ZERO),
        _ => duration(f, at, d),
    }
}

/// A port number: 1 to 65535.
pub(crate) fn port(f: &mut Findings, at: &FieldPath, p: Option<u32>) {
    if let Some(p) = p
        && !(1..=65535).contains(&p)
    {
        f.error(at, format!("port number {p} must be in the range 1..65535"));
    }
}

/// A percentage: 0 to 100.
pub(crate) fn percent(f: &mut Findings, at: &FieldPath, v: f64) {
    if !(0.0..=100.0).contains(&v) || v.is_nan() {
        f.error(at, format!("percentage {v} is not in range 0..100"));
    }
}

/// A regex: RE2 syntax, full match, at most 1024 characters.
pub(crate) fn regex(f: &mut Findings, at: &FieldPath, re: &str) {
    if re.is_empty() {
        f.error(at, "regex must not be empty");
    } else if re.len() > MAX_REGEX_LEN {
        f.error(
            at,
            format!("regex is too large, max length allowed is {MAX_REGEX_LEN}"),
        );
    } else if let Err(e) = regex::Regex::new(re) {
        let msg = e.to_string();
        let last = msg.lines().last().unwrap_or_default().trim().to_owned();
        f.error(
            at,
            format!("\"{re}\" is not a valid regex (RE2 syntax): {last}"),
        );
    }
}

/// `exportTo`: `.`, `*`, or namespace names; `*` alone.
pub(crate) fn export_to(f: &mut Findings, at: &FieldPath, list: &[String]) {
    let mut seen: Vec<&str> = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let p = at.index(i);
        if seen.contains(&e.as_str()) {
            f.error(&p, format!("duplicate entry in exportTo: \"{e}\""));
        }
        seen.push(e);
        if e != "."
            && e != "*"
            && e != "~"
            && let Err(err) = crate::k8s::meta::NameRule::Label.check(e)
        {
            f.error(&p, format!("invalid exportTo value \"{e}\": {err}"));
        }
    }
    if seen.contains(&"*") && seen.len() > 1 {
        f.error(
            at,
            "cannot have both public (*) and non-public exportTo values for a resource",
        );
    }
    if seen.contains(&"~") && seen.len() > 1 {
        f.error(
            at,
            "if ~ is specified in exportTo, nothing else can be specified",
        );
    }
}

/// The `exportTo` rules that need the object's namespace: `.` is that namespace, so naming
/// both is a duplicate; a DestinationRule with a `workloadSelector` applies to workloads of its
/// own namespace only, so it may be exported nowhere else.
pub(crate) fn export_to_in_namespace(
    f: &mut Findings,
    at: &FieldPath,
    list: &[String],
    namespace: &str,
    selector_rule: bool,
) {
    let own = |e: &str| e == "." || e == namespace;
    if list.iter().any(|e| e == ".") && list.iter().any(|e| e == namespace) {
        let i = list.iter().rposition(|e| own(e)).unwrap_or(0);
        f.error(
            &at.index(i),
            format!("duplicate entries in exportTo: . and current namespace {namespace}"),
        );
    }
    if selector_rule && !list.is_empty() {
        if !list.iter().any(|e| own(e)) {
            f.error(
                at,
                "destination rule with workload selector cannot have exportTo beyond current namespace",
            )
            .hint("remove exportTo, or export to \".\" only");
        } else if list.iter().any(|e| !own(e)) {
            f.error(
                at,
                "destination rule with workload selector cannot have multiple entries in exportTo",
            )
            .hint("remove exportTo, or export to \".\" only");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("myapp", true)]
    #[test_case("myapp.example.com", true)]
    #[test_case("*.example.com", true)]
    #[test_case("*", true)]
    #[test_case("foo.*.com", false)]
    #[test_case("-bad.com", false)]
    #[test_case("", false)]
    fn hosts(h: &str, ok: bool) {
        assert_eq!(check_wildcard_host(h).is_ok(), ok, "{h}");
    }

    #[test_case("user-type", true)]
    #[test_case(":authority", true)]
    #[test_case("bad header", false)]
    #[test_case("", false)]
    fn header_names(h: &str, ok: bool) {
        assert_eq!(check_header_name(h).is_ok(), ok, "{h}");
    }
}
