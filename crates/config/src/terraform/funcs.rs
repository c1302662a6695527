//! Terraform's built-in functions, the ones configurations commonly call.
//!
//! Each function checks its arguments as Terraform does and names the function and the
//! argument in its messages. A function whose result Terraform only knows after apply
//! (`timestamp`, `uuid`) returns an unknown value. `file` and `templatefile` read only inside
//! the configuration's folder and only up to a size limit; a template cannot call
//! `templatefile` again.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;

use crate::node::Span;

use super::eval::{EvalError, Evaluator, Files, Names, Ref};
use super::syntax::{Expr, parse_template};
use super::value::{MapKind, Type, Value, convert, equal, format_number};

/// The functions this module implements, for "did you mean".
pub const FUNCTIONS: &[&str] = &[
    "abs",
    "abspath",
    "alltrue",
    "anytrue",
    "base64decode",
    "base64encode",
    "basename",
    "can",
    "ceil",
    "chomp",
    "chunklist",
    "cidrhost",
    "cidrnetmask",
    "cidrsubnet",
    "coalesce",
    "coalescelist",
    "compact",
    "concat",
    "contains",
    "dirname",
    "distinct",
    "element",
    "endswith",
    "file",
    "filebase64",
    "fileexists",
    "flatten",
    "floor",
    "format",
    "formatlist",
    "indent",
    "index",
    "join",
    "jsondecode",
    "jsonencode",
    "keys",
    "length",
    "lookup",
    "lower",
    "max",
    "merge",
    "min",
    "nonsensitive",
    "one",
    "parseint",
    "pow",
    "range",
    "regex",
    "regexall",
    "replace",
    "reverse",
    "sensitive",
    "setintersection",
    "setsubtract",
    "setunion",
    "signum",
    "slice",
    "sort",
    "split",
    "startswith",
    "strcontains",
    "strrev",
    "substr",
    "sum",
    "templatefile",
    "timestamp",
    "title",
    "tobool",
    "tolist",
    "tomap",
    "tonumber",
    "toset",
    "tostring",
    "transpose",
    "trim",
    "trimprefix",
    "trimspace",
    "trimsuffix",
    "try",
    "upper",
    "urlencode",
    "uuid",
    "values",
    "zipmap",
    "matchkeys",
    "log",
];

/// Real Terraform functions Meridian does not implement: named as such rather than unknown.
const NOT_SUPPORTED: &[&str] = &[
    "bcrypt",
    "base64gzip",
    "base64sha256",
    "base64sha512",
    "csvdecode",
    "filebase64sha256",
    "filebase64sha512",
    "filemd5",
    "filesha1",
    "filesha256",
    "filesha512",
    "fileset",
    "formatdate",
    "md5",
    "pathexpand",
    "plantimestamp",
    "rsadecrypt",
    "setproduct",
    "sha1",
    "sha256",
    "sha512",
    "templatestring",
    "textdecodebase64",
    "textencodebase64",
    "timeadd",
    "timecmp",
    "type",
    "uuidv5",
    "yamldecode",
    "yamlencode",
    "ephemeralasnull",
    "issensitive",
];

fn err(span: Span, f: &str, msg: impl std::fmt::Display) -> EvalError {
    EvalError::new(span, format!("{f}: {msg}"))
}

/// Calls `name` with `args`.
pub fn call(
    ev: &mut Evaluator<'_>,
    name: &str,
    args: &[Expr],
    expand: bool,
    span: Span,
) -> Result<Value, EvalError> {
    match name {
        "try" => {
            if args.is_empty() {
                return Err(err(span, "try", "at least one argument is required"));
            }
            let mut last = None;
            for a in args {
                match ev.eval(a) {
                    Ok(v) => return Ok(v),
                    Err(e) if is_budget(&e) => return Err(e),
                    Err(e) => last = Some(e),
                }
            }
            let e = last.map_or_else(String::new, |e| e.message);
            return Err(err(
                span,
                "try",
                format!("no expression succeeded; the last error: {e}"),
            ));
        }
        "can" => {
            let [a] = args else {
                return Err(arity(span, "can", 1, 1, args.len()));
            };
            return match ev.eval(a) {
                Ok(Value::Unknown) => Ok(Value::Unknown),
                Ok(_) => Ok(Value::Bool(true)),
                Err(e) if is_budget(&e) => Err(e),
                Err(_) => Ok(Value::Bool(false)),
            };
        }
        _ => {}
    }
    let Some(&(min, max)) = arities().get(name) else {
        if NOT_SUPPORTED.contains(&name) {
            return Err(EvalError::new(
                span,
                format!("function \"{name}\" is not supported by Meridian"),
            ));
        }
        if let Some(p) = name.strip_prefix("provider::") {
            return Err(EvalError::new(
                span,
                format!("provider function \"{p}\" is not supported by Meridian"),
            ));
        }
        return Err(EvalError::new(span, format!("unknown function \"{name}\""))
            .suggest(name, FUNCTIONS.iter().copied()));
    };
    let mut vals = Vec::with_capacity(args.len());
    let mut spans = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        let v = ev.eval(a)?;
        if expand && i + 1 == args.len() {
            match &v {
                Value::Seq(_, items) => {
                    for x in items.iter() {
                        vals.push(x.clone());
                        spans.push(a.span);
                    }
                }
                Value::Unknown => return Ok(Value::Unknown),
                other => {
                    return Err(EvalError::new(
                        a.span,
                        format!(
                            "{name}: the argument before ... must be a list, got {}",
                            other.describe()
                        ),
                    ));
                }
            }
        } else {
            vals.push(v);
            spans.push(a.span);
        }
    }
    if vals.len() < min || max.is_some_and(|m| vals.len() > m) {
        return Err(arity(
            span,
            name,
            min,
            max.unwrap_or(usize::MAX),
            vals.len(),
        ));
    }
    if name == "templatefile" {
        // The variables may hold unknowns only where the template uses them.
        return templatefile(ev, &vals, &spans, span);
    }
    if !matches!(
        name,
        "coalesce"
            | "length"
            | "keys"
            | "tolist"
            | "toset"
            | "tomap"
            | "sensitive"
            | "nonsensitive"
    ) && vals.iter().any(Value::has_unknown)
    {
        return Ok(Value::Unknown);
    }
    let a = Args {
        name,
        vals: &vals,
        spans: &spans,
        span,
    };
    let v = dispatch(ev, &a)?;
    match &v {
        Value::String(s) => ev.check_str(s.len(), span)?,
        Value::Seq(_, x) => ev.check_len(x.len(), span)?,
        Value::Map(_, m) => ev.check_len(m.len(), span)?,
        _ => {}
    }
    Ok(v)
}

fn is_budget(e: &EvalError) -> bool {
    e.message.starts_with("evaluation stopped after")
}

fn arity(span: Span, f: &str, min: usize, max: usize, got: usize) -> EvalError {
    let want = if min == max {
        format!("{min} argument{}", if min == 1 { "" } else { "s" })
    } else if max == usize::MAX {
        format!("at least {min} argument{}", if min == 1 { "" } else { "s" })
    } else {
        format!("{min} to {max} arguments")
    };
    err(span, f, format!("expected {want}, got {got}"))
}

fn arities() -> &'static BTreeMap<&'static str, (usize, Option<usize>)> {
    static TABLE: std::sync::OnceLock<BTreeMap<&'static str, (usize, Option<usize>)>> =
        std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let one = (1, Some(1));
        let two = (2, Some(2));
        let three = (3, Some(3));
        let var = |n| (n, None);
        [
            ("abs", one),
            ("abspath", one),
            ("alltrue", one),
            ("anytrue", one),
            ("base64decode", one),
            ("base64encode", one),
            ("basename", one),
            ("ceil", one),
            ("chomp", one),
            ("chunklist", two),
            ("cidrhost", two),
            ("cidrnetmask", one),
            ("cidrsubnet", three),
            ("coalesce", var(1)),
            ("coalescelist", var(1)),
            ("compact", one),
            ("concat", var(0)),
            ("contains", two),
            ("dirname", one),
            ("distinct", one),
            ("element", two),
            ("endswith", two),
            ("file", one),
            ("filebase64", one),
            ("fileexists", one),
            ("flatten", one),
            ("floor", one),
            ("format", var(1)),
            ("formatlist", var(1)),
            ("indent", two),
            ("index", two),
            ("join", var(2)),
            ("jsondecode", one),
            ("jsonencode", one),
            ("keys", one),
            ("length", one),
            ("lookup", (2, Some(3))),
            ("lower", one),
            ("max", var(1)),
            ("merge", var(0)),
            ("min", var(1)),
            ("nonsensitive", one),
            ("one", one),
            ("parseint", two),
            ("pow", two),
            ("range", (1, Some(3))),
            ("regex", two),
            ("regexall", two),
            ("replace", three),
            ("reverse", one),
            ("sensitive", one),
            ("setintersection", var(1)),
            ("setsubtract", two),
            ("setunion", var(1)),
            ("signum", one),
            ("slice", three),
            ("sort", one),
            ("split", two),
            ("startswith", two),
            ("strcontains", two),
            ("strrev", one),
            ("substr", three),
            ("sum", one),
            ("templatefile", two),
            ("timestamp", (0, Some(0))),
            ("title", one),
            ("tobool", one),
            ("tolist", one),
            ("tomap", one),
            ("tonumber", one),
            ("toset", one),
            ("tostring", one),
            ("transpose", one),
            ("trim", two),
            ("trimprefix", two),
            ("trimspace", one),
            ("trimsuffix", two),
            ("upper", one),
            ("urlencode", one),
            ("uuid", (0, Some(0))),
            ("values", one),
            ("zipmap", two),
            ("matchkeys", three),
            ("log", two),
        ]
        .into_iter()
        .collect()
    })
}

struct Args<'a> {
    name: &'a str,
    vals: &'a [Value],
    spans: &'a [Span],
    span: Span,
}

impl Args<'_> {
    fn at(&self, i: usize) -> Span {
        self.spans.get(i).copied().unwrap_or(self.span)
    }

    fn fail(&self, i: usize, msg: impl std::fmt::Display) -> EvalError {
        err(self.at(i), self.name, msg)
    }

    fn string(&self, i: usize) -> Result<String, EvalError> {
        match &self.vals[i] {
            Value::Null => Err(self.fail(i, "argument must not be null")),
            v => v
                .to_display()
                .ok_or_else(|| self.fail(i, format!("expected a string, got {}", v.describe()))),
        }
    }

    fn number(&self, i: usize) -> Result<f64, EvalError> {
        match convert(&self.vals[i], &Type::Number) {
            Ok(Value::Number(n)) => Ok(n),
            _ => Err(self.fail(
                i,
                format!("expected a number, got {}", self.vals[i].describe()),
            )),
        }
    }

    fn int(&self, i: usize) -> Result<i64, EvalError> {
        let n = self.number(i)?;
        if n.fract() != 0.0 || n.abs() > 9e15 {
            return Err(self.fail(
                i,
                format!("expected a whole number, got {}", format_number(n)),
            ));
        }
        #[allow(clippy::cast_possible_truncation)]
        Ok(n as i64)
    }

    fn seq(&self, i: usize) -> Result<&[Value], EvalError> {
        match &self.vals[i] {
            Value::Seq(_, v) => Ok(v),
            v => Err(self.fail(i, format!("expected a list, got {}", v.describe()))),
        }
    }

    fn map(&self, i: usize) -> Result<&BTreeMap<String, Value>, EvalError> {
        match &self.vals[i] {
            Value::Map(_, m) => Ok(m),
            v => Err(self.fail(i, format!("expected a map or object, got {}", v.describe()))),
        }
    }
}

fn num(n: f64) -> Value {
    Value::Number(n)
}

#[allow(clippy::cast_precision_loss)]
fn len_value(n: usize) -> Value {
    Value::Number(n as f64)
}

fn dispatch(ev: &mut Evaluator<'_>, a: &Args<'_>) -> Result<Value, EvalError> {
    let v = a.vals;
    Ok(match a.name {
        // Strings.
        "format" => Value::String(format(a, &a.string(0)?, &v[1..], 1)?),
        "formatlist" => formatlist(a)?,
        "join" => {
            let sep = a.string(0)?;
            let mut parts = Vec::new();
            for i in 1..v.len() {
                for x in a.seq(i)? {
                    match x {
                        Value::Null => return Err(a.fail(i, "element is null")),
                        x => parts.push(x.to_display().ok_or_else(|| {
                            a.fail(i, format!("elements must be strings, got {}", x.describe()))
                        })?),
                    }
                }
            }
            let total: usize =
                parts.iter().map(String::len).sum::<usize>() + sep.len() * parts.len();
            ev.check_str(total, a.span)?;
            Value::String(parts.join(&sep))
        }
        "split" => {
            let sep = a.string(0)?;
            let s = a.string(1)?;
            if sep.is_empty() {
                ev.check_len(s.chars().count(), a.span)?;
                Value::list(s.chars().map(|c| Value::String(c.to_string())).collect())
            } else {
                ev.check_len(s.matches(sep.as_str()).count() + 1, a.span)?;
                Value::list(s.split(sep.as_str()).map(Value::str).collect())
            }
        }
        "lower" => Value::String(a.string(0)?.to_lowercase()),
        "upper" => Value::String(a.string(0)?.to_uppercase()),
        "title" => {
            let s = a.string(0)?;
            let mut out = String::with_capacity(s.len());
            let mut start = true;
            for c in s.chars() {
                if start && c.is_alphabetic() {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                start = !c.is_alphanumeric();
            }
            Value::String(out)
        }
        "trimspace" => Value::str(a.string(0)?.trim()),
        "trim" => {
            let cut = a.string(1)?;
            Value::str(a.string(0)?.trim_matches(|c| cut.contains(c)))
        }
        "trimprefix" => {
            let s = a.string(0)?;
            let p = a.string(1)?;
            Value::str(s.strip_prefix(p.as_str()).unwrap_or(&s))
        }
        "trimsuffix" => {
            let s = a.string(0)?;
            let p = a.string(1)?;
            Value::str(s.strip_suffix(p.as_str()).unwrap_or(&s))
        }
        "chomp" => Value::str(a.string(0)?.trim_end_matches(['\n', '\r'])),
        "strrev" => Value::String(a.string(0)?.chars().rev().collect()),
        "indent" => {
            #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
            let n = a.int(0)?.clamp(0, 1024) as usize;
            let pad = " ".repeat(n);
            let s = a.string(1)?;
            ev.check_str(s.len() + s.lines().count() * n, a.span)?;
            Value::String(s.replace('\n', &format!("\n{pad}")))
        }
        "replace" => {
            let s = a.string(0)?;
            let from = a.string(1)?;
            let to = a.string(2)?;
            if from.len() > 1 && from.starts_with('/') && from.ends_with('/') {
                let re = regex_of(a, 1, &from[1..from.len() - 1])?;
                // Terraform's replacement uses $1 for groups, like Go and the regex crate.
                Value::String(re.replace_all(&s, to.as_str()).into_owned())
            } else if from.is_empty() {
                Value::String(s)
            } else {
                let n = s.matches(from.as_str()).count();
                ev.check_str(s.len() + n.saturating_mul(to.len()), a.span)?;
                Value::String(s.replace(from.as_str(), &to))
            }
        }
        "substr" => {
            let s = a.string(0)?;
            let chars: Vec<char> = s.chars().collect();
            let len = i64::try_from(chars.len()).unwrap_or(i64::MAX);
            let mut off = a.int(1)?;
            let mut n = a.int(2)?;
            if off < 0 {
                off += len;
            }
            if off < 0 || off > len {
                return Err(a.fail(1, "offset is out of range"));
            }
            if n < 0 || off + n > len {
                n = len - off;
            }
            #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
            let out: String = chars[off as usize..(off + n) as usize].iter().collect();
            Value::String(out)
        }
        "startswith" => Value::Bool(a.string(0)?.starts_with(&a.string(1)?)),
        "endswith" => Value::Bool(a.string(0)?.ends_with(&a.string(1)?)),
        "strcontains" => Value::Bool(a.string(0)?.contains(&a.string(1)?)),
        "regex" => {
            let re = regex_of(a, 0, &a.string(0)?)?;
            let s = a.string(1)?;
            let Some(c) = re.captures(&s) else {
                return Err(a.fail(1, "pattern did not match any part of the given string"));
            };
            captures_value(&re, &c)
        }
        "regexall" => {
            let re = regex_of(a, 0, &a.string(0)?)?;
            let s = a.string(1)?;
            let mut out = Vec::new();
            for c in re.captures_iter(&s) {
                out.push(captures_value(&re, &c));
                ev.check_len(out.len(), a.span)?;
            }
            Value::list(out)
        }
        "urlencode" => {
            let s = a.string(0)?;
            let mut out = String::new();
            for b in s.bytes() {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                    out.push(char::from(b));
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            Value::String(out)
        }
        "base64encode" => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(a.string(0)?))
        }
        "base64decode" => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(a.string(0)?.as_bytes())
                .map_err(|e| a.fail(0, format!("invalid base64: {e}")))?;
            Value::String(
                String::from_utf8(bytes)
                    .map_err(|_| a.fail(0, "the decoded bytes are not UTF-8"))?,
            )
        }
        "jsonencode" => Value::String(v[0].to_json().to_string()),
        "jsondecode" => {
            let s = a.string(0)?;
            let j: serde_json::Value =
                serde_json::from_str(&s).map_err(|e| a.fail(0, format!("invalid JSON: {e}")))?;
            Value::from_json(&j)
        }
        // Types.
        "tostring" => match &v[0] {
            Value::Null => Value::Null,
            x => Value::String(x.to_display().ok_or_else(|| {
                a.fail(0, format!("cannot convert {} to a string", x.describe()))
            })?),
        },
        "tonumber" => match &v[0] {
            Value::Null => Value::Null,
            x => convert(x, &Type::Number)
                .map_err(|_| a.fail(0, format!("cannot convert {} to a number", x.describe())))?,
        },
        "tobool" => match &v[0] {
            Value::Null => Value::Null,
            x => convert(x, &Type::Bool)
                .map_err(|_| a.fail(0, format!("cannot convert {} to a bool", x.describe())))?,
        },
        "tolist" => match &v[0] {
            Value::Seq(_, x) => Value::list(x.as_ref().clone()),
            Value::Null | Value::Unknown => v[0].clone(),
            x => return Err(a.fail(0, format!("cannot convert {} to a list", x.describe()))),
        },
        "toset" => match &v[0] {
            Value::Seq(_, x) => Value::set(x.as_ref().clone()),
            Value::Null | Value::Unknown => v[0].clone(),
            x => return Err(a.fail(0, format!("cannot convert {} to a set", x.describe()))),
        },
        "tomap" => match &v[0] {
            Value::Map(_, m) => Value::Map(MapKind::Map, m.clone()),
            Value::Null | Value::Unknown => v[0].clone(),
            x => return Err(a.fail(0, format!("cannot convert {} to a map", x.describe()))),
        },
        "sensitive" | "nonsensitive" => v[0].clone(),
        // Collections.
        "length" => match &v[0] {
            Value::Unknown => Value::Unknown,
            Value::String(s) => len_value(s.chars().count()),
            Value::Seq(_, x) => len_value(x.len()),
            Value::Map(_, m) => len_value(m.len()),
            x => return Err(a.fail(0, format!("cannot take the length of {}", x.describe()))),
        },
        "element" => {
            let items = a.seq(0)?;
            if items.is_empty() {
                return Err(a.fail(0, "cannot use element with an empty list"));
            }
            let i = a.int(1)?;
            if i < 0 {
                return Err(a.fail(1, "the index must not be negative"));
            }
            #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
            items[(i as usize) % items.len()].clone()
        }
        "index" => {
            let items = a.seq(0)?;
            match items.iter().position(|x| equal(x, &v[1])) {
                Some(i) => len_value(i),
                None => return Err(a.fail(1, "the value is not in the list")),
            }
        }
        "lookup" => {
            let m = a.map(0)?;
            let k = a.string(1)?;
            match (m.get(&k), v.get(2)) {
                (Some(x), _) => x.clone(),
                (None, Some(d)) => d.clone(),
                (None, None) => {
                    return Err(a.fail(
                        1,
                        format!("the map has no key \"{k}\" and no default was given"),
                    ));
                }
            }
        }
        "merge" => {
            let mut out = BTreeMap::new();
            let mut all_maps = true;
            for (i, x) in v.iter().enumerate() {
                match x {
                    Value::Null => {}
                    Value::Map(kind, m) => {
                        all_maps &= *kind == MapKind::Map;
                        for (k, x) in m.iter() {
                            out.insert(k.clone(), x.clone());
                        }
                        ev.check_len(out.len(), a.span)?;
                    }
                    x => {
                        return Err(a.fail(
                            i,
                            format!("arguments must be maps or objects, got {}", x.describe()),
                        ));
                    }
                }
            }
            if all_maps && !v.is_empty() {
                Value::map(out)
            } else {
                Value::object(out)
            }
        }
        "concat" => {
            let mut out = Vec::new();
            for i in 0..v.len() {
                out.extend(a.seq(i)?.iter().cloned());
                ev.check_len(out.len(), a.span)?;
            }
            Value::tuple(out)
        }
        "keys" => match &v[0] {
            Value::Unknown => Value::Unknown,
            _ => Value::list(a.map(0)?.keys().map(|k| Value::String(k.clone())).collect()),
        },
        "values" => Value::list(a.map(0)?.values().cloned().collect()),
        "contains" => match &v[0] {
            Value::Seq(_, items) => Value::Bool(items.iter().any(|x| equal(x, &v[1]))),
            x => return Err(a.fail(0, format!("expected a list or set, got {}", x.describe()))),
        },
        "range" => range(ev, a)?,
        "flatten" => {
            let mut out = Vec::new();
            flatten_into(ev, a, a.seq(0)?, &mut out, 0)?;
            Value::tuple(out)
        }
        "distinct" => {
            let mut out: Vec<Value> = Vec::new();
            for x in a.seq(0)? {
                if !out.iter().any(|y| equal(x, y)) {
                    out.push(x.clone());
                }
                ev.check_len(out.len(), a.span)?;
            }
            Value::list(out)
        }
        "compact" => Value::list(
            a.seq(0)?
                .iter()
                .filter(|x| !x.is_null() && x.as_str() != Some(""))
                .cloned()
                .collect(),
        ),
        "coalesce" => {
            let mut out = None;
            for x in v {
                match x {
                    Value::Unknown => return Ok(Value::Unknown),
                    Value::Null => {}
                    Value::String(s) if s.is_empty() => {}
                    x => {
                        out = Some(x.clone());
                        break;
                    }
                }
            }
            out.ok_or_else(|| err(a.span, "coalesce", "no non-null, non-empty argument"))?
        }
        "coalescelist" => {
            let mut out = None;
            for (i, x) in v.iter().enumerate() {
                if !a.seq(i)?.is_empty() {
                    out = Some(x.clone());
                    break;
                }
            }
            out.ok_or_else(|| err(a.span, "coalescelist", "no non-empty list argument"))?
        }
        "zipmap" => {
            let ks = a.seq(0)?;
            let vs = a.seq(1)?;
            if ks.len() != vs.len() {
                return Err(a.fail(
                    1,
                    format!("the lists have {} keys and {} values", ks.len(), vs.len()),
                ));
            }
            let mut out = BTreeMap::new();
            for (k, x) in ks.iter().zip(vs) {
                let k = k
                    .to_display()
                    .ok_or_else(|| a.fail(0, "keys must be strings"))?;
                out.insert(k, x.clone());
            }
            Value::object(out)
        }
        "slice" => {
            let items = a.seq(0)?;
            let from = a.int(1)?;
            let to = a.int(2)?;
            let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
            if from < 0 || to > len || from > to {
                return Err(a.fail(
                    1,
                    format!("indexes {from} to {to} are out of range for a list of {len} elements"),
                ));
            }
            #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
            Value::list(items[from as usize..to as usize].to_vec())
        }
        "reverse" => Value::tuple(a.seq(0)?.iter().rev().cloned().collect()),
        "sort" => {
            let mut out = Vec::new();
            for x in a.seq(0)? {
                out.push(x.to_display().ok_or_else(|| {
                    a.fail(0, format!("elements must be strings, got {}", x.describe()))
                })?);
            }
            out.sort();
            Value::list(out.into_iter().map(Value::String).collect())
        }
        "one" => {
            let items = a.seq(0)?;
            match items.len() {
                0 => Value::Null,
                1 => items[0].clone(),
                n => {
                    return Err(a.fail(
                        0,
                        format!("the list has {n} elements; one requires at most one"),
                    ));
                }
            }
        }
        "sum" => {
            let items = a.seq(0)?;
            if items.is_empty() {
                return Err(a.fail(0, "cannot sum an empty list"));
            }
            let mut s = 0.0;
            for x in items {
                s += convert(x, &Type::Number)
                    .ok()
                    .and_then(|x| x.as_f64())
                    .ok_or_else(|| {
                        a.fail(0, format!("elements must be numbers, got {}", x.describe()))
                    })?;
            }
            num(s)
        }
        "alltrue" | "anytrue" => {
            let mut all = true;
            let mut any = false;
            for x in a.seq(0)? {
                let b = convert(x, &Type::Bool)
                    .ok()
                    .and_then(|x| x.as_bool())
                    .ok_or_else(|| {
                        a.fail(0, format!("elements must be bools, got {}", x.describe()))
                    })?;
                all &= b;
                any |= b;
            }
            Value::Bool(if a.name == "alltrue" { all } else { any })
        }
        "chunklist" => {
            let items = a.seq(0)?;
            let n = a.int(1)?;
            if n < 0 {
                return Err(a.fail(1, "the chunk size must not be negative"));
            }
            if n == 0 {
                Value::list(vec![Value::list(items.to_vec())])
            } else {
                #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
                let n = n as usize;
                Value::list(items.chunks(n).map(|c| Value::list(c.to_vec())).collect())
            }
        }
        "setunion" | "setintersection" | "setsubtract" => {
            let mut sets: Vec<Vec<Value>> = Vec::new();
            for i in 0..v.len() {
                sets.push(a.seq(i)?.to_vec());
            }
            let mut out = sets[0].clone();
            for s in &sets[1..] {
                match a.name {
                    "setunion" => out.extend(s.iter().cloned()),
                    "setintersection" => out.retain(|x| s.iter().any(|y| equal(x, y))),
                    _ => out.retain(|x| !s.iter().any(|y| equal(x, y))),
                }
                ev.check_len(out.len(), a.span)?;
            }
            Value::set(out)
        }
        "transpose" => {
            let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for (k, x) in a.map(0)? {
                for s in x
                    .as_seq()
                    .ok_or_else(|| a.fail(0, "values must be lists of strings"))?
                {
                    let s = s
                        .to_display()
                        .ok_or_else(|| a.fail(0, "values must be lists of strings"))?;
                    out.entry(s).or_default().push(Value::String(k.clone()));
                }
            }
            Value::map(out.into_iter().map(|(k, v)| (k, Value::list(v))).collect())
        }
        "matchkeys" => {
            let vals = a.seq(0)?;
            let keys = a.seq(1)?;
            let search = a.seq(2)?;
            if vals.len() != keys.len() {
                return Err(a.fail(1, "the lists of values and keys must have the same length"));
            }
            Value::list(
                vals.iter()
                    .zip(keys)
                    .filter(|(_, k)| search.iter().any(|s| equal(s, k)))
                    .map(|(x, _)| x.clone())
                    .collect(),
            )
        }
        // Numbers.
        "abs" => num(a.number(0)?.abs()),
        "ceil" => num(a.number(0)?.ceil()),
        "floor" => num(a.number(0)?.floor()),
        "signum" => num(a.number(0)?.signum() * f64::from(u8::from(a.number(0)? != 0.0))),
        "pow" => finite(a, a.number(0)?.powf(a.number(1)?))?,
        "log" => finite(a, a.number(0)?.log(a.number(1)?))?,
        "min" | "max" => {
            let mut best: Option<f64> = None;
            for i in 0..v.len() {
                let n = a.number(i)?;
                best = Some(match best {
                    None => n,
                    Some(b) if a.name == "min" => b.min(n),
                    Some(b) => b.max(n),
                });
            }
            num(best.unwrap_or(0.0))
        }
        "parseint" => {
            let s = a.string(0)?;
            let base = a.int(1)?;
            if !(2..=62).contains(&base) {
                return Err(a.fail(1, "the base must be between 2 and 62"));
            }
            #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
            let n = i64::from_str_radix(&s, base as u32)
                .map_err(|_| a.fail(0, format!("cannot parse \"{s}\" as a base {base} integer")))?;
            #[allow(clippy::cast_precision_loss)]
            num(n as f64)
        }
        // Files.
        "file" => Value::String(read_file(ev.files, ev.limits.max_file_bytes, a, 0)?.1),
        "filebase64" => {
            let path = resolve(ev.files, a, 0)?;
            let bytes = read_bounded(&path, ev.limits.max_file_bytes).map_err(|m| a.fail(0, m))?;
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        "fileexists" => {
            let p = a.string(0)?;
            let full = ev.files.module_dir.join(&p);
            match full.canonicalize() {
                Ok(c) if c.starts_with(&ev.files.root) => Value::Bool(c.is_file()),
                Ok(_) => return Err(a.fail(0, outside(&p, &ev.files.root))),
                Err(_) => Value::Bool(false),
            }
        }
        "abspath" => {
            let p = PathBuf::from(a.string(0)?);
            let full = if p.is_absolute() {
                p
            } else {
                std::env::current_dir().unwrap_or_default().join(p)
            };
            Value::String(full.display().to_string())
        }
        "basename" => Value::String(
            Path::new(&a.string(0)?)
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| ".".into()),
        ),
        "dirname" => Value::String(
            Path::new(&a.string(0)?)
                .parent()
                .map(|p| p.display().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| ".".into()),
        ),
        // Network.
        "cidrsubnet" => cidrsubnet(a)?,
        "cidrhost" => cidrhost(a)?,
        "cidrnetmask" => {
            let (net, bits) = parse_cidr(a, 0)?;
            match net {
                Net::V4(_) => {
                    let mask = if bits == 0 {
                        0u32
                    } else {
                        u32::MAX << (32 - bits)
                    };
                    Value::String(Ipv4Addr::from(mask).to_string())
                }
                Net::V6(_) => return Err(a.fail(0, "only IPv4 prefixes have a netmask")),
            }
        }
        // Known only after apply.
        "timestamp" | "uuid" => Value::Unknown,
        other => return Err(err(a.span, other, "not implemented")),
    })
}

fn finite(a: &Args<'_>, n: f64) -> Result<Value, EvalError> {
    if n.is_finite() {
        Ok(num(n))
    } else {
        Err(err(a.span, a.name, "the result is not a finite number"))
    }
}

fn range(ev: &Evaluator<'_>, a: &Args<'_>) -> Result<Value, EvalError> {
    let (start, end, step) = match a.vals.len() {
        1 => (0.0, a.number(0)?, 1.0),
        2 => (a.number(0)?, a.number(1)?, 1.0),
        _ => (a.number(0)?, a.number(1)?, a.number(2)?),
    };
    if step == 0.0 {
        return Err(a.fail(2, "the step must not be zero"));
    }
    if (step > 0.0 && start > end) || (step < 0.0 && start < end) {
        return Err(a.fail(2, "the step goes away from the end"));
    }
    // Terraform's own limit.
    let count = ((end - start) / step).ceil();
    if count > 1024.0 {
        return Err(err(
            a.span,
            "range",
            "more than 1024 values would be generated; decrease the difference between start and end or use a larger step",
        ));
    }
    #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
    let n = count.max(0.0) as usize;
    ev.check_len(n, a.span)?;
    #[allow(clippy::cast_precision_loss)]
    Ok(Value::list(
        (0..n).map(|i| num(start + step * i as f64)).collect(),
    ))
}

fn flatten_into(
    ev: &Evaluator<'_>,
    a: &Args<'_>,
    items: &[Value],
    out: &mut Vec<Value>,
    depth: usize,
) -> Result<(), EvalError> {
    if depth > 64 {
        return Err(a.fail(0, "lists nested deeper than 64 levels"));
    }
    for x in items {
        match x {
            Value::Seq(_, inner) => flatten_into(ev, a, inner, out, depth + 1)?,
            x => {
                out.push(x.clone());
                ev.check_len(out.len(), a.span)?;
            }
        }
    }
    Ok(())
}

fn regex_of(a: &Args<'_>, i: usize, pattern: &str) -> Result<regex::Regex, EvalError> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| a.fail(i, format!("invalid regular expression: {e}")))
}

fn captures_value(re: &regex::Regex, c: &regex::Captures<'_>) -> Value {
    let names: Vec<Option<&str>> = re.capture_names().collect();
    let named = names.iter().any(Option::is_some);
    let group = |i: usize| c.get(i).map_or(Value::Null, |m| Value::str(m.as_str()));
    if named {
        Value::object(
            names
                .iter()
                .enumerate()
                .filter_map(|(i, n)| n.map(|n| (n.to_owned(), group(i))))
                .collect(),
        )
    } else if re.captures_len() > 1 {
        Value::tuple((1..re.captures_len()).map(group).collect())
    } else {
        group(0)
    }
}

/// Go-style `format` with the verbs Terraform documents.
fn format(a: &Args<'_>, spec: &str, vals: &[Value], first: usize) -> Result<String, EvalError> {
    let mut out = String::new();
    let mut chars = spec.chars().peekable();
    let mut next = 0usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if "-+# 0".contains(f) {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            return Err(err(
                a.span,
                a.name,
                "the format string ends with an incomplete verb",
            ));
        };
        let Some(v) = vals.get(next) else {
            return Err(err(
                a.span,
                a.name,
                format!("not enough arguments for the format string (verb %{verb})"),
            ));
        };
        let argi = first + next;
        next += 1;
        let body = match verb {
            'v' => match v {
                Value::Seq(..) | Value::Map(..) => v.to_json().to_string(),
                Value::Null => "null".into(),
                _ => v.to_display().unwrap_or_default(),
            },
            's' => {
                let s = v.to_display().ok_or_else(|| {
                    a.fail(argi, format!("%s needs a string, got {}", v.describe()))
                })?;
                match prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s,
                }
            }
            'q' => {
                let s = v.to_display().ok_or_else(|| {
                    a.fail(argi, format!("%q needs a string, got {}", v.describe()))
                })?;
                serde_json::Value::String(s).to_string()
            }
            't' => match convert(v, &Type::Bool) {
                Ok(Value::Bool(b)) => b.to_string(),
                _ => return Err(a.fail(argi, format!("%t needs a bool, got {}", v.describe()))),
            },
            'd' | 'b' | 'o' | 'x' | 'X' | 'f' | 'e' | 'g' => {
                let n = match convert(v, &Type::Number) {
                    Ok(Value::Number(n)) => n,
                    _ if matches!(verb, 'x' | 'X') && v.as_str().is_some() => {
                        let s = v.as_str().unwrap_or_default();
                        let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
                        out.push_str(&if verb == 'X' { hex.to_uppercase() } else { hex });
                        continue;
                    }
                    _ => {
                        return Err(a.fail(
                            argi,
                            format!("%{verb} needs a number, got {}", v.describe()),
                        ));
                    }
                };
                if matches!(verb, 'd' | 'b' | 'o' | 'x' | 'X') && n.fract() != 0.0 {
                    return Err(a.fail(
                        argi,
                        format!("%{verb} needs a whole number, got {}", format_number(n)),
                    ));
                }
                #[allow(clippy::cast_possible_truncation)]
                let i = n as i64;
                let mut s = match verb {
                    'd' => i.to_string(),
                    'b' => format!("{i:b}"),
                    'o' => format!("{i:o}"),
                    'x' => format!("{i:x}"),
                    'X' => format!("{i:X}"),
                    'f' => format!("{n:.*}", prec.unwrap_or(6)),
                    'e' => format!("{n:.*e}", prec.unwrap_or(6)),
                    _ => format_number(n),
                };
                if flags.contains('+') && n >= 0.0 {
                    s.insert(0, '+');
                }
                s
            }
            other => {
                return Err(err(
                    a.span,
                    a.name,
                    format!("unsupported format verb %{other}"),
                ));
            }
        };
        let w: usize = width.parse().unwrap_or(0).min(1024);
        let len = body.chars().count();
        if len < w {
            let pad = w - len;
            if flags.contains('-') {
                out.push_str(&body);
                out.push_str(&" ".repeat(pad));
            } else if flags.contains('0') && verb != 's' {
                let (sign, digits) = body.split_at(usize::from(body.starts_with(['-', '+'])));
                out.push_str(sign);
                out.push_str(&"0".repeat(pad));
                out.push_str(digits);
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(&body);
            }
        } else {
            out.push_str(&body);
        }
    }
    if next < vals.len() {
        return Err(err(
            a.span,
            a.name,
            format!("too many arguments: {} for {next} verbs", vals.len()),
        ));
    }
    Ok(out)
}

fn formatlist(a: &Args<'_>) -> Result<Value, EvalError> {
    let spec = a.string(0)?;
    let mut n: Option<usize> = None;
    for (i, v) in a.vals.iter().enumerate().skip(1) {
        if let Value::Seq(_, items) = v {
            match n {
                Some(m) if m != items.len() => {
                    return Err(a.fail(
                        i,
                        format!(
                            "all lists must have the same length ({m} and {})",
                            items.len()
                        ),
                    ));
                }
                _ => n = Some(items.len()),
            }
        }
    }
    let n = n.unwrap_or(1);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let row: Vec<Value> = a.vals[1..]
            .iter()
            .map(|v| match v {
                Value::Seq(_, items) => items[i].clone(),
                v => v.clone(),
            })
            .collect();
        out.push(Value::String(format(a, &spec, &row, 1)?));
    }
    Ok(Value::list(out))
}

fn outside(p: &str, root: &Path) -> String {
    format!(
        "\"{p}\" is outside the configuration folder {}; Meridian reads files only under it",
        root.display()
    )
}

fn resolve(files: &Files, a: &Args<'_>, i: usize) -> Result<PathBuf, EvalError> {
    let p = a.string(i)?;
    let full = files.module_dir.join(&p);
    let canon = full
        .canonicalize()
        .map_err(|_| a.fail(i, format!("no file exists at \"{p}\"")))?;
    if !canon.starts_with(&files.root) {
        return Err(a.fail(i, outside(&p, &files.root)));
    }
    if !canon.is_file() {
        return Err(a.fail(i, format!("\"{p}\" is not a file")));
    }
    Ok(canon)
}

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "{} is larger than the {max}-byte limit for files read by a configuration",
            path.display()
        ));
    }
    Ok(bytes)
}

fn read_file(
    files: &Files,
    max: u64,
    a: &Args<'_>,
    i: usize,
) -> Result<(PathBuf, String), EvalError> {
    let path = resolve(files, a, i)?;
    let bytes = read_bounded(&path, max).map_err(|m| a.fail(i, m))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        a.fail(
            i,
            format!(
                "the contents of {} are not valid UTF-8; use filebase64",
                path.display()
            ),
        )
    })?;
    Ok((path, text))
}

/// The names a template sees: only the variables passed to `templatefile`.
struct TemplateNames;

impl Names for TemplateNames {
    fn lookup(&self, r: &Ref, span: Span) -> Result<Value, EvalError> {
        Err(EvalError::new(
            span,
            format!("a template cannot refer to {r}; pass it in templatefile's variables"),
        ))
    }
}

fn templatefile(
    ev: &mut Evaluator<'_>,
    vals: &[Value],
    spans: &[Span],
    span: Span,
) -> Result<Value, EvalError> {
    let a = Args {
        name: "templatefile",
        vals,
        spans,
        span,
    };
    if ev.in_template {
        return Err(err(
            span,
            "templatefile",
            "a template cannot call templatefile",
        ));
    }
    let (path, text) = read_file(ev.files, ev.limits.max_file_bytes, &a, 0)?;
    let vars = match &vals[1] {
        Value::Map(_, m) => m.clone(),
        Value::Unknown => return Ok(Value::Unknown),
        v => {
            return Err(a.fail(
                1,
                format!(
                    "the variables must be a map or object, got {}",
                    v.describe()
                ),
            ));
        }
    };
    let file: Arc<Path> = Arc::from(path.as_path());
    let located = |mut e: EvalError| {
        if e.file.is_none() {
            e.file = Some(file.clone());
        }
        e
    };
    let parts = parse_template(&text, Span::new(1, 1)).map_err(|e| {
        located(EvalError::new(
            e.span,
            format!("template syntax: {}", e.message),
        ))
    })?;
    let mut inner = Evaluator::new(&TemplateNames, ev.files, ev.budget, ev.limits);
    inner.in_template = true;
    for (k, v) in vars.iter() {
        inner.vars.push((k.clone(), v.clone()));
    }
    inner.template(&parts, span).map_err(located)
}

enum Net {
    V4(u32),
    V6(u128),
}

fn parse_cidr(a: &Args<'_>, i: usize) -> Result<(Net, u32), EvalError> {
    let s = a.string(i)?;
    let bad = || {
        a.fail(
            i,
            format!("\"{s}\" is not a CIDR prefix (like 10.0.0.0/16)"),
        )
    };
    let (ip, bits) = s.split_once('/').ok_or_else(bad)?;
    let bits: u32 = bits.parse().map_err(|_| bad())?;
    if let Ok(v4) = ip.parse::<Ipv4Addr>() {
        if bits > 32 {
            return Err(bad());
        }
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        return Ok((Net::V4(u32::from(v4) & mask), bits));
    }
    if let Ok(v6) = ip.parse::<Ipv6Addr>() {
        if bits > 128 {
            return Err(bad());
        }
        let mask = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - bits)
        };
        return Ok((Net::V6(u128::from(v6) & mask), bits));
    }
    Err(bad())
}

fn cidrsubnet(a: &Args<'_>) -> Result<Value, EvalError> {
    let (net, bits) = parse_cidr(a, 0)?;
    let newbits = a.int(1)?;
    let netnum = a.int(2)?;
    let total = match net {
        Net::V4(_) => 32,
        Net::V6(_) => 128,
    };
    if newbits < 0 || bits + u32::try_from(newbits).unwrap_or(u32::MAX) > total {
        return Err(a.fail(
            1,
            format!("{newbits} more bits do not fit a /{bits} prefix"),
        ));
    }
    #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
    let newbits = newbits as u32;
    let newlen = bits + newbits;
    if netnum < 0 || (newbits < 64 && (netnum as u128) >= (1u128 << newbits)) {
        return Err(a.fail(2, format!("{netnum} does not fit in {newbits} bits")));
    }
    #[allow(clippy::cast_sign_loss)]
    let netnum = netnum as u128;
    Ok(Value::String(match net {
        Net::V4(base) => {
            let shift = 32 - newlen;
            let v = u128::from(base) | (netnum << shift);
            #[allow(clippy::cast_possible_truncation)]
            let v = v as u32;
            format!("{}/{newlen}", Ipv4Addr::from(v))
        }
        Net::V6(base) => {
            let shift = 128 - newlen;
            let v = base | netnum.checked_shl(shift).unwrap_or(0);
            format!("{}/{newlen}", Ipv6Addr::from(v))
        }
    }))
}

fn cidrhost(a: &Args<'_>) -> Result<Value, EvalError> {
    let (net, bits) = parse_cidr(a, 0)?;
    let host = a.int(1)?;
    let total = match net {
        Net::V4(_) => 32,
        Net::V6(_) => 128,
    };
    let size: u128 = if total - bits >= 127 {
        u128::MAX
    } else {
        1u128 << (total - bits)
    };
    let h: u128 = if host >= 0 {
        #[allow(clippy::cast_sign_loss)]
        let h = host as u128;
        h
    } else {
        size.wrapping_sub(u128::from(host.unsigned_abs()))
    };
    if h >= size {
        return Err(a.fail(
            1,
            format!("host number {host} does not fit a /{bits} prefix"),
        ));
    }
    Ok(Value::String(match net {
        #[allow(clippy::cast_possible_truncation)]
        Net::V4(base) => Ipv4Addr::from(base | h as u32).to_string(),
        Net::V6(base) => Ipv6Addr::from(base | h).to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terraform::eval::{Budget, Limits};
    use crate::terraform::syntax::parse_expr;

    struct NoNames;
    impl Names for NoNames {
        fn lookup(&self, r: &Ref, span: Span) -> Result<Value, EvalError> {
            Err(EvalError::new(span, format!("undeclared {r}")))
        }
    }

    fn run_in(dir: &Path, src: &str) -> Result<Value, EvalError> {
        let e = parse_expr(src, Span::new(1, 1)).expect("parses");
        let root = dir.canonicalize().expect("dir");
        let files = Files {
            module_dir: root.clone(),
            root,
        };
        let limits = Limits::default();
        let budget = Budget::new(limits.max_steps);
        let mut ev = Evaluator::new(&NoNames, &files, &budget, &limits);
        ev.eval(&e)
    }

    fn s(src: &str) -> String {
        match run_in(Path::new("."), src) {
            Ok(v) => v.to_json().to_string(),
            Err(e) => format!("error: {}", e.message),
        }
    }

    #[test]
    fn string_functions() {
        assert_eq!(
            s("format(\"%s-%03d-%.2f-%q\", \"a\", 7, 1.5, \"x\")"),
            "\"a-007-1.50-\\\"x\\\"\""
        );
        assert_eq!(
            s("formatlist(\"%s=%s\", [\"a\", \"b\"], \"v\")"),
            "[\"a=v\",\"b=v\"]"
        );
        assert_eq!(s("join(\",\", [\"a\", \"b\"], [\"c\"])"), "\"a,b,c\"");
        assert_eq!(s("split(\",\", \"a,b\")"), "[\"a\",\"b\"]");
        assert_eq!(s("replace(\"a-b-c\", \"/-(.)/\", \"_$1\")"), "\"a_b_c\"");
        assert_eq!(s("title(\"hello world\")"), "\"Hello World\"");
        assert_eq!(s("substr(\"hello\", 1, 3)"), "\"ell\"");
        assert_eq!(
            s("regex(\"^(\\\\w+)-(\\\\d+)$\", \"web-12\")"),
            "[\"web\",\"12\"]"
        );
    }

    #[test]
    fn collection_functions() {
        assert_eq!(s("merge({a = 1}, {b = 2}, {a = 3})"), "{\"a\":3,\"b\":2}");
        assert_eq!(s("lookup({a = 1}, \"b\", 9)"), "9");
        assert_eq!(s("concat([1], [2, 3])"), "[1,2,3]");
        assert_eq!(s("flatten([[1, [2]], 3])"), "[1,2,3]");
        assert_eq!(s("distinct([1, 2, 1])"), "[1,2]");
        assert_eq!(s("toset([\"b\", \"a\", \"b\"])"), "[\"a\",\"b\"]");
        assert_eq!(s("keys({b = 1, a = 2})"), "[\"a\",\"b\"]");
        assert_eq!(s("element([\"a\", \"b\"], 3)"), "\"b\"");
        assert_eq!(s("range(1, 4)"), "[1,2,3]");
        assert_eq!(s("coalesce(null, \"\", \"x\")"), "\"x\"");
        assert_eq!(s("zipmap([\"a\"], [1])"), "{\"a\":1}");
        assert_eq!(
            s("jsondecode(jsonencode({a = [1, true]}))"),
            "{\"a\":[1,true]}"
        );
        assert_eq!(s("min(3, 1, 2) + max(1, 5)"), "6");
        assert_eq!(s("length(\"héllo\")"), "5");
    }

    #[test]
    fn try_and_can_catch_errors() {
        assert_eq!(s("try(lookup({}, \"x\"), \"fallback\")"), "\"fallback\"");
        assert_eq!(s("can(tonumber(\"x\"))"), "false");
        assert_eq!(s("can(tonumber(\"1\"))"), "true");
    }

    #[test]
    fn network_functions() {
        assert_eq!(s("cidrsubnet(\"10.0.0.0/16\", 8, 2)"), "\"10.0.2.0/24\"");
        assert_eq!(s("cidrsubnet(\"fd00::/48\", 16, 1)"), "\"fd00:0:0:1::/64\"");
        assert_eq!(s("cidrhost(\"10.0.1.0/24\", 5)"), "\"10.0.1.5\"");
        assert_eq!(s("cidrhost(\"10.0.1.0/24\", -1)"), "\"10.0.1.255\"");
        assert_eq!(s("cidrnetmask(\"10.0.0.0/12\")"), "\"255.240.0.0\"");
    }

    #[test]
    fn unknown_functions_suggest_and_limits_hold() {
        assert_eq!(s("formatt(\"x\")"), "error: unknown function \"formatt\"");
        let e = run_in(Path::new("."), "formatt(\"x\")").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean \"format\"?"));
        assert_eq!(
            s("sha256(\"x\")"),
            "error: function \"sha256\" is not supported by Meridian"
        );
        assert!(s("range(100000)").contains("more than 1024 values"));
        assert_eq!(
            s("join(\",\")"),
            "error: join: expected at least 2 arguments, got 1"
        );
    }

    #[test]
    fn files_stay_inside_the_configuration_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inner = dir.path().join("cfg");
        std::fs::create_dir(&inner).expect("mkdir");
        std::fs::write(dir.path().join("secret.txt"), "no").expect("write");
        std::fs::write(
            inner.join("t.tpl"),
            "hi ${name}%{ for x in xs }, ${x}%{ endfor }",
        )
        .expect("write");
        let v = run_in(
            &inner,
            "templatefile(\"t.tpl\", { name = \"a\", xs = [1, 2] })",
        )
        .expect("renders");
        assert_eq!(v, Value::str("hi a, 1, 2"));
        let e = run_in(&inner, "file(\"../secret.txt\")").unwrap_err();
        assert!(
            e.message
                .starts_with("file: \"../secret.txt\" is outside the configuration folder"),
            "{}",
            e.message
        );
        let e = run_in(&inner, "templatefile(\"../secret.txt\", {})").unwrap_err();
        assert!(
            e.message.contains("outside the configuration folder"),
            "{}",
            e.message
        );
        std::fs::write(inner.join("bad.tpl"), "line one\n${nope}\n").expect("write");
        let e = run_in(&inner, "templatefile(\"bad.tpl\", {})").unwrap_err();
        assert_eq!(e.span, Span::new(2, 3));
        assert!(e.file.as_deref().is_some_and(|f| f.ends_with("bad.tpl")));
    }
}
