//! Azure Functions route templates: ASP.NET Core's routing syntax, as the Functions host
//! reads the `route` of an `httpTrigger` (`products/{category:alpha}/{id:int?}`).
//!
//! A template is segments separated by `/`; a segment is literal text, parameters
//! (`{name}`), or both (`{file}.{ext}`). A parameter may have constraints (`:int`,
//! `:minlength(3)`, `:regex(^a+$)`), be optional (`?`) or have a default (`=value`); the last
//! segment may be a catch-all (`{*rest}`). Literals match without regard to case; values are
//! percent-decoded before constraints see them.

use std::collections::BTreeMap;
use std::fmt;

/// A parsed route template.
#[derive(Debug, Clone)]
pub struct RouteTemplate {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone)]
enum Segment {
    /// A whole-segment literal.
    Literal(String),
    /// Literal text and parameters mixed (`{file}.{ext}`), or a lone parameter.
    Parts(Vec<Part>),
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Param(Param),
}

#[derive(Debug, Clone)]
struct Param {
    name: String,
    constraints: Vec<Constraint>,
    optional: bool,
    default: Option<String>,
    catch_all: bool,
}

#[derive(Debug, Clone)]
enum Constraint {
    Int,
    Long,
    Bool,
    Double,
    Decimal,
    DateTime,
    Guid,
    Alpha,
    Required,
    MinLength(usize),
    MaxLength(usize),
    Length(usize, usize),
    Min(i64),
    Max(i64),
    Range(i64, i64),
    Regex(regex::Regex),
}

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError(pub String);

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const CONSTRAINTS: &[&str] = &[
    "int",
    "long",
    "bool",
    "double",
    "float",
    "decimal",
    "datetime",
    "guid",
    "alpha",
    "required",
    "minlength",
    "maxlength",
    "length",
    "min",
    "max",
    "range",
    "regex",
];

impl RouteTemplate {
    /// Parses a template (a leading `/` or `~/` is allowed and ignored, as ASP.NET does).
    pub fn parse(text: &str) -> Result<Self, RouteError> {
        let body = text
            .strip_prefix("~/")
            .or_else(|| text.strip_prefix('/'))
            .unwrap_or(text);
        if body.contains('?') && !body.contains('{') {
            return Err(RouteError(
                "the route template cannot contain a '?' character outside a parameter".into(),
            ));
        }
        let mut segments = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let raw: Vec<&str> = if body.is_empty() {
            Vec::new()
        } else {
            split_segments(body)?
        };
        let count = raw.len();
        for (i, seg) in raw.iter().enumerate() {
            if seg.is_empty() {
                return Err(RouteError(
                    "the route template separator character '/' cannot appear consecutively".into(),
                ));
            }
            let parts = parse_segment(seg)?;
            let params: Vec<&Param> = parts
                .iter()
                .filter_map(|p| match p {
                    Part::Param(p) => Some(p),
                    Part::Literal(_) => None,
                })
                .collect();
            for p in &params {
                if names.iter().any(|n| n.eq_ignore_ascii_case(&p.name)) {
                    return Err(RouteError(format!(
                        "the route parameter name '{}' appears more than one time in the route template",
                        p.name
                    )));
                }
                names.push(p.name.clone());
                if p.catch_all && i + 1 != count {
                    return Err(RouteError(
                        "a catch-all parameter can only appear as the last segment of the route template"
                            .into(),
                    ));
                }
                if (p.catch_all || p.optional) && parts.len() > 1 {
                    return Err(RouteError(format!(
                        "in segment '{seg}', the optional or catch-all parameter '{}' must be alone in its segment",
                        p.name
                    )));
                }
            }
            for w in parts.windows(2) {
                if matches!(w, [Part::Param(_), Part::Param(_)]) {
                    return Err(RouteError(format!(
                        "in segment '{seg}', a path segment cannot contain two consecutive parameters; they must be separated by a '/' or by a literal string"
                    )));
                }
            }
            segments.push(match parts.as_slice() {
                [Part::Literal(l)] => Segment::Literal(l.clone()),
                _ => Segment::Parts(parts),
            });
        }
        // An optional parameter may only be followed by optional ones.
        let mut seen_optional = false;
        for s in &segments {
            let optional = matches!(s, Segment::Parts(p) if matches!(p.as_slice(), [Part::Param(p)] if p.optional || p.default.is_some() || p.catch_all));
            if seen_optional && !optional {
                return Err(RouteError(
                    "an optional parameter must be at the end of the route template".into(),
                ));
            }
            seen_optional |= optional;
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parameter names, in order.
    pub fn parameters(&self) -> Vec<&str> {
        self.segments
            .iter()
            .flat_map(|s| match s {
                Segment::Literal(_) => Vec::new(),
                Segment::Parts(p) => p
                    .iter()
                    .filter_map(|p| match p {
                        Part::Param(p) => Some(p.name.as_str()),
                        Part::Literal(_) => None,
                    })
                    .collect(),
            })
            .collect()
    }

    /// Matches a request path (without the route prefix, no leading `/`), giving the route
    /// parameters (defaults filled in; an absent optional parameter is left out).
    pub fn matches(&self, path: &str) -> Option<BTreeMap<String, String>> {
        let path = path.trim_start_matches('/');
        let path = path.strip_suffix('/').unwrap_or(path);
        let given: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        let mut out = BTreeMap::new();
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Literal(l) => {
                    let g = given.get(i)?;
                    if !decode(g).eq_ignore_ascii_case(l) {
                        return None;
                    }
                }
                Segment::Parts(parts) => {
                    if let [Part::Param(p)] = parts.as_slice() {
                        if p.catch_all {
                            let rest = given.get(i..).unwrap_or_default().join("/");
                            let rest = decode(&rest);
                            if rest.is_empty() {
                                if let Some(d) = &p.default {
                                    out.insert(p.name.clone(), d.clone());
                                }
                            } else if p.accepts(&rest) {
                                out.insert(p.name.clone(), rest);
                            } else {
                                return None;
                            }
                            return Some(out);
                        }
                        match given.get(i) {
                            Some(g) => {
                                let v = decode(g);
                                if v.is_empty() || !p.accepts(&v) {
                                    return None;
                                }
                                out.insert(p.name.clone(), v);
                            }
                            None if p.optional => {}
                            None => {
                                out.insert(p.name.clone(), p.default.clone()?);
                            }
                        }
                        continue;
                    }
                    let g = decode(given.get(i)?);
                    if !match_parts(parts, &g, &mut out) {
                        return None;
                    }
                }
            }
        }
        (given.len() <= self.segments.len()).then_some(out)
    }

    /// How specific the template is, to order routes as ASP.NET does: segment by segment,
    /// literals before mixed segments, constrained parameters before plain ones, catch-alls
    /// last. Smaller sorts first.
    pub fn precedence(&self) -> Vec<u8> {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(_) => 1,
                Segment::Parts(p) => match p.as_slice() {
                    [Part::Param(p)] if p.catch_all => 5,
                    [Part::Param(p)] if !p.constraints.is_empty() => 3,
                    [Part::Param(_)] => 4,
                    _ => 2,
                },
            })
            .collect()
    }
}

fn split_segments(body: &str) -> Result<Vec<&str>, RouteError> {
    // `/` inside braces (a regex constraint) does not split.
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            '/' if depth == 0 => {
                out.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&body[start..]);
    Ok(out)
}

fn parse_segment(seg: &str) -> Result<Vec<Part>, RouteError> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = seg.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().is_some_and(|&(_, n)| n == '{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek().is_some_and(|&(_, n)| n == '}') => {
                chars.next();
                lit.push('}');
            }
            '{' => {
                // The parameter ends at the first `}` not doubled and not inside `(...)`.
                let mut depth = 0usize;
                let mut end = None;
                for (j, c) in chars.by_ref() {
                    match c {
                        '(' => depth += 1,
                        ')' => depth = depth.saturating_sub(1),
                        '}' if depth == 0 => {
                            end = Some(j);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or_else(|| {
                    RouteError(format!(
                        "there is an incomplete parameter in the route template segment '{seg}'; check that each '{{' character has a matching '}}' character"
                    ))
                })?;
                if !lit.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut lit)));
                }
                parts.push(Part::Param(parse_param(&seg[i + 1..end])?));
            }
            '}' => {
                return Err(RouteError(format!(
                    "there is an incomplete parameter in the route template segment '{seg}'; check that each '{{' character has a matching '}}' character"
                )));
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        parts.push(Part::Literal(lit));
    }
    Ok(parts)
}

fn parse_param(text: &str) -> Result<Param, RouteError> {
    let (catch_all, rest) = match text.strip_prefix("**").or_else(|| text.strip_prefix('*')) {
        Some(r) => (true, r),
        None => (false, text),
    };
    let name_end = rest.find([':', '=', '?']).unwrap_or(rest.len());
    let name = rest[..name_end].trim().to_owned();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(RouteError(format!(
            "the route parameter name '{name}' is invalid; a parameter name is letters, digits and '_'"
        )));
    }
    let mut rest = &rest[name_end..];
    let mut constraints = Vec::new();
    while let Some(r) = rest.strip_prefix(':') {
        // A constraint runs to the next `:`, `=` or `?` outside parentheses.
        let mut depth = 0usize;
        let mut end = r.len();
        for (i, c) in r.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                ':' | '=' | '?' if depth == 0 => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        constraints.push(parse_constraint(&r[..end], &name)?);
        rest = &r[end..];
    }
    let mut optional = false;
    let mut default = None;
    if let Some(d) = rest.strip_prefix('=') {
        default = Some(d.to_owned());
    } else if rest == "?" {
        optional = true;
    } else if !rest.is_empty() {
        return Err(RouteError(format!(
            "the route parameter '{name}' has text after it that is no constraint, default or '?': '{rest}'"
        )));
    }
    if catch_all && optional {
        return Err(RouteError(
            "a catch-all parameter cannot be marked optional".into(),
        ));
    }
    Ok(Param {
        name,
        constraints,
        optional,
        default,
        catch_all,
    })
}

fn parse_constraint(text: &str, param: &str) -> Result<Constraint, RouteError> {
    let (kind, args) = match text.split_once('(') {
        Some((k, a)) => match a.strip_suffix(')') {
            Some(a) => (k, Some(a)),
            None => {
                return Err(RouteError(format!(
                    "the constraint '{text}' of parameter '{param}' has no closing ')'"
                )));
            }
        },
        None => (text, None),
    };
    let bad = || {
        RouteError(format!(
            "the constraint '{text}' of parameter '{param}' has invalid arguments"
        ))
    };
    let nums = |n: usize| -> Result<Vec<i64>, RouteError> {
        let v: Vec<i64> = args
            .unwrap_or_default()
            .split(',')
            .map(|a| a.trim().parse::<i64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        if v.len() == n { Ok(v) } else { Err(bad()) }
    };
    let len = |v: i64| usize::try_from(v).map_err(|_| bad());
    let c = match kind.to_ascii_lowercase().as_str() {
        "int" => Constraint::Int,
        "long" => Constraint::Long,
        "bool" => Constraint::Bool,
        "double" | "float" => Constraint::Double,
        "decimal" => Constraint::Decimal,
        "datetime" => Constraint::DateTime,
        "guid" => Constraint::Guid,
        "alpha" => Constraint::Alpha,
        "required" => Constraint::Required,
        "minlength" => Constraint::MinLength(len(nums(1)?[0])?),
        "maxlength" => Constraint::MaxLength(len(nums(1)?[0])?),
        "length" => match args.map(|a| a.split(',').count()) {
            Some(2) => {
                let v = nums(2)?;
                Constraint::Length(len(v[0])?, len(v[1])?)
            }
            _ => {
                let v = len(nums(1)?[0])?;
                Constraint::Length(v, v)
            }
        },
        "min" => Constraint::Min(nums(1)?[0]),
        "max" => Constraint::Max(nums(1)?[0]),
        "range" => {
            let v = nums(2)?;
            Constraint::Range(v[0], v[1])
        }
        "regex" => {
            // Braces in the pattern are doubled in a template (`{{2}}`).
            let expr = args.ok_or_else(bad)?.replace("{{", "{").replace("}}", "}");
            // ASP.NET matches case-insensitively and without anchoring unless the pattern
            // anchors itself.
            Constraint::Regex(
                regex::RegexBuilder::new(&expr)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| {
                        RouteError(format!(
                            "the regex constraint of parameter '{param}' does not compile: {e}"
                        ))
                    })?,
            )
        }
        other => {
            let hint = crate::diag::did_you_mean(other, CONSTRAINTS.iter().copied())
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            return Err(RouteError(format!(
                "the constraint '{other}' of parameter '{param}' is not a route constraint{hint}; known: {}",
                CONSTRAINTS.join(", ")
            )));
        }
    };
    Ok(c)
}

impl Param {
    fn accepts(&self, v: &str) -> bool {
        self.constraints.iter().all(|c| c.accepts(v))
    }
}

impl Constraint {
    fn accepts(&self, v: &str) -> bool {
        let int = || v.parse::<i64>().ok();
        match self {
            Constraint::Int => v.parse::<i32>().is_ok(),
            Constraint::Long => int().is_some(),
            Constraint::Bool => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
            Constraint::Double | Constraint::Decimal => v.parse::<f64>().is_ok_and(f64::is_finite),
            Constraint::DateTime => is_datetime(v),
            Constraint::Guid => is_guid(v),
            Constraint::Alpha => !v.is_empty() && v.chars().all(|c| c.is_ascii_alphabetic()),
            Constraint::Required => !v.is_empty(),
            Constraint::MinLength(n) => v.chars().count() >= *n,
            Constraint::MaxLength(n) => v.chars().count() <= *n,
            Constraint::Length(a, b) => (*a..=*b).contains(&v.chars().count()),
            Constraint::Min(n) => int().is_some_and(|i| i >= *n),
            Constraint::Max(n) => int().is_some_and(|i| i <= *n),
            Constraint::Range(a, b) => int().is_some_and(|i| (*a..=*b).contains(&i)),
            Constraint::Regex(r) => r.is_match(v),
        }
    }
}

fn is_guid(v: &str) -> bool {
    let v = v
        .strip_prefix('{')
        .and_then(|v| v.strip_suffix('}'))
        .or_else(|| v.strip_prefix('(').and_then(|v| v.strip_suffix(')')))
        .unwrap_or(v);
    let hex = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_hexdigit());
    let groups: Vec<&str> = v.split('-').collect();
    match groups.as_slice() {
        [a] => hex(a, 32),
        [a, b, c, d, e] => hex(a, 8) && hex(b, 4) && hex(c, 4) && hex(d, 4) && hex(e, 12),
        _ => false,
    }
}

fn is_datetime(v: &str) -> bool {
    use time::format_description::well_known::Rfc3339;
    if time::OffsetDateTime::parse(v, &Rfc3339).is_ok() {
        return true;
    }
    // A date alone, or a date and a time without offset.
    let fmt_date = time::macros::format_description!("[year]-[month]-[day]");
    let fmt_dt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::Date::parse(v, fmt_date).is_ok() || time::PrimitiveDateTime::parse(v, fmt_dt).is_ok()
}

/// Matches a mixed segment (`{file}.{ext}`): literals anchor, each parameter takes at least
/// one character; like ASP.NET, the last occurrence of a literal is preferred.
fn match_parts(parts: &[Part], text: &str, out: &mut BTreeMap<String, String>) -> bool {
    fn go(parts: &[Part], text: &str, acc: &mut Vec<(String, String)>) -> bool {
        match parts.split_first() {
            None => text.is_empty(),
            Some((Part::Literal(l), rest)) => {
                let n = l.len();
                text.len() >= n
                    && text.is_char_boundary(n)
                    && text[..n].eq_ignore_ascii_case(l)
                    && go(rest, &text[n..], acc)
            }
            Some((Part::Param(p), rest)) => {
                // Longest first, so the following literal is its last occurrence.
                let ends: Vec<usize> = text
                    .char_indices()
                    .map(|(i, c)| i + c.len_utf8())
                    .rev()
                    .collect();
                for end in ends {
                    let v = &text[..end];
                    if !p.accepts(v) {
                        continue;
                    }
                    acc.push((p.name.clone(), v.to_owned()));
                    if go(rest, &text[end..], acc) {
                        return true;
                    }
                    acc.pop();
                }
                false
            }
        }
    }
    let mut acc = Vec::new();
    if go(parts, text, &mut acc) {
        out.extend(acc);
        true
    } else {
        false
    }
}

/// Percent-decodes a path segment (invalid escapes stay as they are).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                b.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            // Two hex digits make one byte.
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(t: &str, p: &str) -> Option<Vec<(String, String)>> {
        RouteTemplate::parse(t)
            .map_err(|e| panic!("{t}: {e}"))
            .ok()?
            .matches(p)
            .map(|m| m.into_iter().collect())
    }

    fn kv(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn literal_and_parameters() {
        assert_eq!(m("products", "Products"), kv(&[]));
        assert_eq!(m("products", "products/1"), None);
        assert_eq!(
            m("products/{category:alpha}/{id:int?}", "products/tools/42"),
            kv(&[("category", "tools"), ("id", "42")])
        );
        assert_eq!(
            m("products/{category:alpha}/{id:int?}", "products/tools"),
            kv(&[("category", "tools")])
        );
        assert_eq!(
            m("products/{category:alpha}/{id:int?}", "products/t00ls"),
            None
        );
        assert_eq!(
            m("products/{category:alpha}/{id:int?}", "products/tools/x"),
            None
        );
        assert_eq!(m("items/{id=7}", "items"), kv(&[("id", "7")]));
        assert_eq!(m("hello/{name}", "hello/Ada%20L"), kv(&[("name", "Ada L")]));
    }

    #[test]
    fn constraints() {
        assert!(m("a/{x:int}", "a/2147483648").is_none());
        assert!(m("a/{x:long}", "a/2147483648").is_some());
        assert!(m("a/{x:bool}", "a/TRUE").is_some());
        assert!(m("a/{x:guid}", "a/8f6c7d2e-1b3a-4c5d-9e8f-0a1b2c3d4e5f").is_some());
        assert!(m("a/{x:guid}", "a/8f6c7d2e").is_none());
        assert!(m("a/{x:minlength(3)}", "a/ab").is_none());
        assert!(m("a/{x:length(2,3)}", "a/abc").is_some());
        assert!(m("a/{x:range(1,10)}", "a/11").is_none());
        assert!(m("a/{x:min(5):max(6)}", "a/6").is_some());
        assert!(m("a/{x:regex(^[a-z]{{2}}\\d$)}", "a/ab1").is_some());
        assert!(m("a/{x:regex(^\\d+$)}", "a/ab1").is_none());
        assert!(m("a/{x:datetime}", "a/2026-12-06").is_some());
        assert!(m("a/{x:double}", "a/1.5").is_some());
    }

    #[test]
    fn catch_all_and_complex_segments() {
        assert_eq!(
            m("files/{*path}", "files/a/b/c.txt"),
            kv(&[("path", "a/b/c.txt")])
        );
        assert_eq!(m("files/{*path}", "files"), kv(&[]));
        assert_eq!(
            m("img/{name}.{ext}", "img/logo.min.png"),
            kv(&[("ext", "png"), ("name", "logo.min")])
        );
        assert_eq!(m("img/{name}.{ext}", "img/logo"), None);
    }

    #[test]
    fn invalid_templates_say_why() {
        for (t, want) in [
            ("a/{id", "incomplete parameter"),
            ("a/{id:imt}", "did you mean 'int'?"),
            (
                "{*rest}/a",
                "catch-all parameter can only appear as the last segment",
            ),
            ("a//b", "cannot appear consecutively"),
            ("{id}/{id}", "appears more than one time"),
            ("{a}{b}", "two consecutive parameters"),
            ("{a?}/b", "optional parameter must be at the end"),
            ("a/{x:regex([a-)}", "does not compile"),
        ] {
            match RouteTemplate::parse(t) {
                Ok(_) => panic!("{t} parsed"),
                Err(e) => assert!(e.0.contains(want), "{t}: {e}"),
            }
        }
    }

    #[test]
    fn precedence_orders_literals_first() {
        let p = |t: &str| RouteTemplate::parse(t).map(|r| r.precedence()).ok();
        assert!(p("products/new") < p("products/{id:int}"));
        assert!(p("products/{id:int}") < p("products/{id}"));
        assert!(p("products/{id}") < p("products/{*rest}"));
    }
}
