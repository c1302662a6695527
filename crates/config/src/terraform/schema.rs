//! Resource schemas, as providers declare them, and decoding a block body against one.
//!
//! A schema lists a block's arguments (type, required or optional, default, validation, or
//! computed: set by the provider, never by the user) and its nested blocks (how many may
//! appear). Decoding evaluates every argument, converts it to its type with Terraform's rules,
//! applies defaults and validation, expands `dynamic` blocks, and reports what `terraform
//! validate` reports: an unknown argument or block (with "did you mean"), a missing required
//! argument, too few or too many blocks, a value of the wrong type, a value the provider's
//! validation refuses. Every finding is collected; decoding never stops at the first.
//!
//! The result is an object value holding every argument (unset optional ones as `null` or
//! their default) and every nested block as a list of objects, which is also what other
//! blocks see when they refer to the resource.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use crate::diag::{Diagnostic, Severity, did_you_mean};
use crate::node::Span;
use crate::path::FieldPath;

use super::eval::{EvalError, Evaluator};
use super::syntax::{Block, Body};
use super::value::{Type, Value, convert};

/// The type of an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// `string`.
    Str,
    /// `number`.
    Num,
    /// A whole number.
    Int,
    /// `bool`.
    Bool,
    /// `list(string)`.
    ListStr,
    /// `set(string)`.
    SetStr,
    /// `map(string)`.
    MapStr,
    /// `list(number)`.
    ListNum,
    /// `set(number)`.
    SetNum,
    /// A string that must hold a JSON document (policies).
    Json,
    /// Any value.
    Any,
}

impl Ty {
    fn ty(self) -> Type {
        match self {
            Ty::Str | Ty::Json => Type::String,
            Ty::Num | Ty::Int => Type::Number,
            Ty::Bool => Type::Bool,
            Ty::ListStr => Type::List(Box::new(Type::String)),
            Ty::SetStr => Type::Set(Box::new(Type::String)),
            Ty::MapStr => Type::Map(Box::new(Type::String)),
            Ty::ListNum => Type::List(Box::new(Type::Number)),
            Ty::SetNum => Type::Set(Box::new(Type::Number)),
            Ty::Any => Type::Any,
        }
    }
}

/// Whether an argument must, may or cannot be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Must be set.
    Required,
    /// May be set.
    Optional,
    /// Set by the provider; the configuration cannot set it.
    Computed,
    /// May be set; the provider decides when it is not.
    OptionalComputed,
}

/// A default value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dflt {
    /// None.
    None,
    /// A string.
    Str(&'static str),
    /// A whole number.
    Int(i64),
    /// A bool.
    Bool(bool),
}

impl Dflt {
    fn value(self) -> Value {
        match self {
            Dflt::None => Value::Null,
            Dflt::Str(s) => Value::str(s),
            #[allow(clippy::cast_precision_loss)]
            Dflt::Int(i) => Value::Number(i as f64),
            Dflt::Bool(b) => Value::Bool(b),
        }
    }
}

/// A validation rule of the provider.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// Any value.
    None,
    /// One of these strings (for lists and sets: every element).
    OneOf(&'static [&'static str]),
    /// A whole number in this range, inclusive.
    Range(i64, i64),
    /// A string of this many characters, inclusive.
    Len(usize, usize),
    /// A custom rule: the message when it fails.
    Fn(fn(&Value) -> Result<(), String>),
}

/// An argument.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub ty: Ty,
    /// Required, optional or computed.
    pub mode: Mode,
    /// Its default.
    pub default: Dflt,
    /// Its validation.
    pub check: Check,
    /// Set when the provider deprecates it: what to use instead.
    pub deprecated: Option<&'static str>,
}

/// A required argument.
pub const fn req(name: &'static str, ty: Ty) -> Attr {
    Attr {
        name,
        ty,
        mode: Mode::Required,
        default: Dflt::None,
        check: Check::None,
        deprecated: None,
    }
}

/// An optional argument.
pub const fn opt(name: &'static str, ty: Ty) -> Attr {
    Attr {
        mode: Mode::Optional,
        ..req(name, ty)
    }
}

/// A computed (read-only) attribute.
pub const fn computed(name: &'static str, ty: Ty) -> Attr {
    Attr {
        mode: Mode::Computed,
        ..req(name, ty)
    }
}

/// An optional argument the provider fills in when unset.
pub const fn optc(name: &'static str, ty: Ty) -> Attr {
    Attr {
        mode: Mode::OptionalComputed,
        ..req(name, ty)
    }
}

impl Attr {
    /// With a string default.
    pub const fn dstr(self, s: &'static str) -> Self {
        Self {
            default: Dflt::Str(s),
            ..self
        }
    }

    /// With a number default.
    pub const fn dint(self, i: i64) -> Self {
        Self {
            default: Dflt::Int(i),
            ..self
        }
    }

    /// With a bool default.
    pub const fn dbool(self, b: bool) -> Self {
        Self {
            default: Dflt::Bool(b),
            ..self
        }
    }

    /// Must be one of these.
    pub const fn one_of(self, v: &'static [&'static str]) -> Self {
        Self {
            check: Check::OneOf(v),
            ..self
        }
    }

    /// Must be in this range.
    pub const fn range(self, lo: i64, hi: i64) -> Self {
        Self {
            check: Check::Range(lo, hi),
            ..self
        }
    }

    /// Must have this many characters.
    pub const fn len(self, lo: usize, hi: usize) -> Self {
        Self {
            check: Check::Len(lo, hi),
            ..self
        }
    }

    /// Must pass this rule.
    pub const fn check(self, f: fn(&Value) -> Result<(), String>) -> Self {
        Self {
            check: Check::Fn(f),
            ..self
        }
    }

    /// Deprecated by the provider in favour of `instead`.
    pub const fn deprecated(self, instead: &'static str) -> Self {
        Self {
            deprecated: Some(instead),
            ..self
        }
    }
}

/// A nested block type.
#[derive(Debug, Clone, Copy)]
pub struct Nested {
    /// Its name.
    pub name: &'static str,
    /// Fewest blocks.
    pub min: usize,
    /// Most blocks (0: no limit).
    pub max: usize,
    /// Its content.
    pub schema: &'static Schema,
    /// Set when the provider deprecates it: what to use instead.
    pub deprecated: Option<&'static str>,
}

/// Any number of `name` blocks.
pub const fn block(name: &'static str, schema: &'static Schema) -> Nested {
    Nested {
        name,
        min: 0,
        max: 0,
        schema,
        deprecated: None,
    }
}

impl Nested {
    /// At most `n`.
    pub const fn max(self, n: usize) -> Self {
        Self { max: n, ..self }
    }

    /// At least `n`.
    pub const fn min(self, n: usize) -> Self {
        Self { min: n, ..self }
    }

    /// Exactly one.
    pub const fn one(self) -> Self {
        Self {
            min: 1,
            max: 1,
            ..self
        }
    }

    /// Deprecated by the provider in favour of `instead`.
    pub const fn deprecated(self, instead: &'static str) -> Self {
        Self {
            deprecated: Some(instead),
            ..self
        }
    }
}

/// An argument or block named `*` accepts any name: for provider settings whose names are
/// open-ended (`endpoints`, `features`).
pub const OPEN: &str = "*";

/// A block's arguments and nested blocks.
#[derive(Debug)]
pub struct Schema {
    /// Arguments and computed attributes.
    pub attrs: &'static [Attr],
    /// Nested block types.
    pub blocks: &'static [Nested],
}

impl Schema {
    /// The argument `name`.
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs
            .iter()
            .find(|a| a.name == name)
            .or_else(|| self.attrs.iter().find(|a| a.name == OPEN))
    }

    /// The block type `name`.
    pub fn block(&self, name: &str) -> Option<&Nested> {
        self.blocks
            .iter()
            .find(|b| b.name == name)
            .or_else(|| self.blocks.iter().find(|b| b.name == OPEN))
    }

    /// How JSON bodies of this schema tell blocks from arguments.
    pub fn labels(&self, name: &str) -> Option<usize> {
        if name == "dynamic" {
            return Some(1);
        }
        self.block(name).map(|_| 0)
    }
}

/// Where findings go: the file and resource they are about.
#[derive(Debug)]
pub struct Sink<'a> {
    /// The file of the block being read.
    pub file: Arc<Path>,
    /// `aws_s3_bucket.name`, for messages.
    pub resource: Option<String>,
    /// Collected diagnostics.
    pub out: &'a mut Vec<Diagnostic>,
}

impl Sink<'_> {
    /// Records a finding; returns it for a hint.
    pub fn push(
        &mut self,
        severity: Severity,
        span: Span,
        field: &FieldPath,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.out.push(Diagnostic {
            severity,
            file: self.file.clone(),
            span,
            resource: self.resource.clone(),
            field: field.clone(),
            message: message.into(),
            hint: None,
            code: None,
        });
        let n = self.out.len() - 1;
        &mut self.out[n]
    }

    /// Records an error.
    pub fn error(
        &mut self,
        span: Span,
        field: &FieldPath,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Error, span, field, message)
    }

    /// Records a warning.
    pub fn warn(
        &mut self,
        span: Span,
        field: &FieldPath,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Warning, span, field, message)
    }

    /// Records an expression's error (in its own file when it came from a template).
    pub fn eval_error(&mut self, field: &FieldPath, e: EvalError) {
        let file = e.file.clone();
        let d = self.error(e.span, field, e.message);
        d.hint = e.hint;
        if let Some(f) = file {
            d.file = f;
        }
    }
}

/// Adds a hint to a diagnostic (chained after [`Sink::error`]).
pub trait Hint {
    /// Sets the hint.
    fn hint(&mut self, h: impl Into<String>);
    /// Sets a "did you mean" hint when a candidate is close.
    fn suggest<'c>(&mut self, word: &str, candidates: impl IntoIterator<Item = &'c str>);
}

impl Hint for Diagnostic {
    fn hint(&mut self, h: impl Into<String>) {
        self.hint = Some(h.into());
    }

    fn suggest<'c>(&mut self, word: &str, candidates: impl IntoIterator<Item = &'c str>) {
        if let Some(c) = did_you_mean(word, candidates) {
            self.hint = Some(format!("did you mean \"{c}\"?"));
        }
    }
}

/// Positions of an instance's arguments and blocks by field path (`origin[0].origin_id`), for
/// checks that run after decoding.
#[derive(Debug, Clone, Default)]
pub struct Spans(HashMap<String, Span>);

impl Spans {
    /// Records where `path` is.
    pub fn insert(&mut self, path: &FieldPath, span: Span) {
        self.0.insert(path.to_string(), span);
    }

    /// True when the configuration sets `path`.
    pub fn has(&self, path: &str) -> bool {
        self.0.contains_key(path)
    }

    /// Where `path` is, or where its closest recorded parent is, or `fallback`.
    pub fn at(&self, path: &str, fallback: Span) -> Span {
        let mut p = path;
        loop {
            if let Some(s) = self.0.get(p) {
                return *s;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return fallback,
            }
        }
    }
}

/// Meta-arguments every resource block takes, suggested for typos at the top level.
const META_ARGS: &[&str] = &["count", "for_each", "provider", "depends_on"];
/// Meta-blocks every resource block takes.
const META_BLOCKS: &[&str] = &["lifecycle", "provisioner", "connection", "dynamic"];

/// Decodes a body against a schema; `path` names the body in messages.
pub fn decode(
    ev: &mut Evaluator<'_>,
    sink: &mut Sink<'_>,
    spans: &mut Spans,
    body: &Body,
    schema: &Schema,
    path: &FieldPath,
) -> Value {
    let body = body.content(&|n| schema.labels(n));
    for e in &body.errors {
        sink.error(e.span, path, e.message.clone());
    }
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for a in &body.attrs {
        let field = path.field(a.name.clone());
        if let Some(first) = seen.insert(a.name.as_str(), a.span) {
            sink.error(
                a.span,
                &field,
                format!(
                    "argument \"{}\" is already set at line {}",
                    a.name, first.line
                ),
            );
            continue;
        }
        let Some(spec) = schema.attr(&a.name) else {
            if schema.block(&a.name).is_some() {
                sink.error(
                    a.span,
                    &field,
                    format!("\"{}\" is a block, not an argument", a.name),
                )
                .hint(format!("write it as a block: {} {{ ... }}", a.name));
            } else {
                let d = sink.error(a.span, &field, format!("unknown argument \"{}\"", a.name));
                let meta: &[&str] = if path.is_root() { META_ARGS } else { &[] };
                d.suggest(
                    &a.name,
                    schema
                        .attrs
                        .iter()
                        .filter(|x| x.mode != Mode::Computed)
                        .map(|x| x.name)
                        .chain(schema.blocks.iter().map(|b| b.name))
                        .chain(meta.iter().copied()),
                );
            }
            continue;
        };
        if spec.mode == Mode::Computed {
            sink.error(
                a.span,
                &field,
                format!("cannot set \"{}\": the provider computes it", a.name),
            );
            continue;
        }
        spans.insert(&field, a.expr.span);
        if let Some(instead) = spec.deprecated {
            sink.warn(a.span, &field, format!("\"{}\" is deprecated", a.name))
                .hint(instead);
        }
        let v = match ev.eval(&a.expr) {
            Ok(v) => v,
            Err(e) => {
                sink.eval_error(&field, e);
                out.insert(a.name.clone(), Value::Unknown);
                continue;
            }
        };
        match check_value(&v, spec) {
            Ok(v) => {
                out.insert(a.name.clone(), v);
            }
            Err((msg, hint)) => {
                let d = sink.error(a.expr.span, &field, msg);
                d.hint = hint;
                out.insert(a.name.clone(), Value::Unknown);
            }
        }
    }
    // Required arguments and defaults.
    for spec in schema.attrs {
        if spec.name == OPEN || out.contains_key(spec.name) {
            continue;
        }
        match spec.mode {
            Mode::Required => {
                sink.error(
                    body.span,
                    path,
                    format!("required argument \"{}\" is missing", spec.name),
                );
                out.insert(spec.name.to_owned(), Value::Unknown);
            }
            _ => {
                out.insert(spec.name.to_owned(), spec.default.value());
            }
        }
    }
    // Nested blocks.
    let mut lists: BTreeMap<&'static str, Vec<Value>> =
        schema.blocks.iter().map(|b| (b.name, Vec::new())).collect();
    let mut first_span: HashMap<&'static str, Span> = HashMap::new();
    for b in &body.blocks {
        if b.ident == "dynamic" {
            dynamic(
                ev,
                sink,
                spans,
                b,
                schema,
                path,
                &mut lists,
                &mut first_span,
            );
            continue;
        }
        let Some(nested) = schema.block(&b.ident) else {
            let field = path.field(b.ident.clone());
            if schema.attr(&b.ident).is_some() {
                sink.error(
                    b.span,
                    &field,
                    format!("\"{}\" is an argument, not a block", b.ident),
                )
                .hint(format!("assign it: {} = ...", b.ident));
            } else {
                let d = sink.error(
                    b.span,
                    &field,
                    format!("unknown block type \"{}\"", b.ident),
                );
                let meta: &[&str] = if path.is_root() { META_BLOCKS } else { &[] };
                d.suggest(
                    &b.ident,
                    schema
                        .blocks
                        .iter()
                        .map(|x| x.name)
                        .chain(
                            schema
                                .attrs
                                .iter()
                                .filter(|x| x.mode != Mode::Computed)
                                .map(|x| x.name),
                        )
                        .chain(meta.iter().copied()),
                );
            }
            continue;
        };
        if !b.labels.is_empty() {
            sink.error(
                b.labels[0].1,
                &path.field(nested.name),
                format!("a \"{}\" block takes no labels", nested.name),
            );
        }
        one_block(
            ev,
            sink,
            spans,
            &b.body,
            b.span,
            nested,
            path,
            &mut lists,
            &mut first_span,
        );
    }
    for nested in schema.blocks.iter().filter(|b| b.name != OPEN) {
        let n = lists.get(nested.name).map_or(0, Vec::len);
        let field = path.field(nested.name);
        if n < nested.min {
            let what = if nested.min == 1 {
                format!("a \"{}\" block is required", nested.name)
            } else {
                format!(
                    "at least {} \"{}\" blocks are required, got {n}",
                    nested.min, nested.name
                )
            };
            sink.error(body.span, path, what);
        }
        if nested.max > 0 && n > nested.max {
            let at = first_span.get(nested.name).copied().unwrap_or(body.span);
            let what = if nested.max == 1 {
                format!("only one \"{}\" block is allowed, got {n}", nested.name)
            } else {
                format!(
                    "at most {} \"{}\" blocks are allowed, got {n}",
                    nested.max, nested.name
                )
            };
            sink.error(at, &field, what);
        }
    }
    for (name, items) in lists {
        out.insert(name.to_owned(), Value::list(items));
    }
    Value::object(out)
}

#[allow(clippy::too_many_arguments)]
fn one_block(
    ev: &mut Evaluator<'_>,
    sink: &mut Sink<'_>,
    spans: &mut Spans,
    body: &Body,
    span: Span,
    nested: &Nested,
    path: &FieldPath,
    lists: &mut BTreeMap<&'static str, Vec<Value>>,
    first_span: &mut HashMap<&'static str, Span>,
) {
    let list = lists.entry(nested.name).or_default();
    let field = if nested.max == 1 {
        path.field(nested.name)
    } else {
        path.field(nested.name).index(list.len())
    };
    if let Some(instead) = nested.deprecated
        && list.is_empty()
    {
        sink.warn(
            span,
            &field,
            format!("the \"{}\" block is deprecated", nested.name),
        )
        .hint(instead);
    }
    first_span.entry(nested.name).or_insert(span);
    // Report the second block of a max-one type where it is.
    if nested.max == 1 && !list.is_empty() {
        first_span.insert(nested.name, span);
    }
    spans.insert(&field, span);
    let v = decode(ev, sink, spans, body, nested.schema, &field);
    if let Some(l) = lists.get_mut(nested.name) {
        l.push(v);
    }
}

#[allow(clippy::too_many_arguments)]
fn dynamic(
    ev: &mut Evaluator<'_>,
    sink: &mut Sink<'_>,
    spans: &mut Spans,
    b: &Block,
    schema: &Schema,
    path: &FieldPath,
    lists: &mut BTreeMap<&'static str, Vec<Value>>,
    first_span: &mut HashMap<&'static str, Span>,
) {
    let name = b.label(0);
    let field = path.field(name.to_owned());
    let Some(nested) = schema.block(name) else {
        let span = b.labels.first().map_or(b.span, |l| l.1);
        let d = sink.error(span, &field, format!("unknown block type \"{name}\""));
        d.suggest(name, schema.blocks.iter().map(|x| x.name));
        return;
    };
    let body = b.body.content(&|n| (n == "content").then_some(0));
    let mut for_each = None;
    let mut iterator = name.to_owned();
    for a in &body.attrs {
        match a.name.as_str() {
            "for_each" => for_each = Some(&a.expr),
            "iterator" => match a.expr.static_path() {
                Some(p) if p.len() == 1 => iterator = p[0].0.clone(),
                _ => {
                    sink.error(
                        a.expr.span,
                        &field.field("iterator"),
                        "iterator must be a single name",
                    );
                }
            },
            "labels" => {}
            other => {
                sink.error(
                    a.span,
                    &field.field(other.to_owned()),
                    format!("unknown argument \"{other}\" in a dynamic block"),
                )
                .suggest(other, ["for_each", "iterator", "labels"]);
            }
        }
    }
    let contents: Vec<&Block> = body
        .blocks
        .iter()
        .filter(|c| c.ident == "content")
        .collect();
    let Some(for_each) = for_each else {
        sink.error(b.span, &field, "a dynamic block needs for_each");
        return;
    };
    let [content] = contents.as_slice() else {
        sink.error(
            b.span,
            &field,
            "a dynamic block needs exactly one content block",
        );
        return;
    };
    let coll = match ev.eval(for_each) {
        Ok(Value::Unknown) => return,
        Ok(v) => v,
        Err(e) => {
            sink.eval_error(&field.field("for_each"), e);
            return;
        }
    };
    let pairs = match ev.pairs(&coll, for_each.span) {
        Ok(p) => p,
        Err(e) => {
            sink.eval_error(&field.field("for_each"), e);
            return;
        }
    };
    for (k, v) in pairs {
        let it = Value::object([("key".to_owned(), k), ("value".to_owned(), v)].into());
        ev.vars.push((iterator.clone(), it));
        one_block(
            ev,
            sink,
            spans,
            &content.body,
            b.span,
            nested,
            path,
            lists,
            first_span,
        );
        ev.vars.pop();
    }
}

/// Converts and validates a value for an argument: the value, or the message and a hint.
pub fn check_value(v: &Value, spec: &Attr) -> Result<Value, (String, Option<String>)> {
    if matches!(v, Value::Unknown | Value::Null) {
        return Ok(v.clone());
    }
    let v = convert(v, &spec.ty.ty()).map_err(|e| (e.to_string(), None))?;
    if v.has_unknown() {
        return Ok(v);
    }
    if spec.ty == Ty::Int
        && let Some(n) = v.as_f64()
        && n.fract() != 0.0
    {
        return Err((format!("expected a whole number, got {n}"), None));
    }
    if spec.ty == Ty::Json
        && let Some(s) = v.as_str()
        && let Err(e) = serde_json::from_str::<serde_json::Value>(s)
    {
        return Err((
            format!("\"{}\" is not valid JSON: {e}", spec.name),
            Some("build it with jsonencode()".into()),
        ));
    }
    match spec.check {
        Check::None => {}
        Check::OneOf(allowed) => {
            let items: Vec<&Value> = match &v {
                Value::Seq(_, items) => items.iter().collect(),
                v => vec![v],
            };
            for x in items {
                let s = x.as_str().unwrap_or_default();
                if !allowed.contains(&s) {
                    let list = allowed
                        .iter()
                        .map(|a| format!("\"{a}\""))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let hint = did_you_mean(s, allowed.iter().copied())
                        .map(|c| format!("did you mean \"{c}\"?"));
                    return Err((format!("expected one of {list}, got \"{s}\""), hint));
                }
            }
        }
        Check::Range(lo, hi) => {
            if let Some(n) = v.as_f64() {
                #[allow(clippy::cast_precision_loss)]
                if n < lo as f64 || n > hi as f64 {
                    return Err((
                        format!(
                            "expected a value from {lo} to {hi}, got {}",
                            super::value::format_number(n)
                        ),
                        None,
                    ));
                }
            }
        }
        Check::Len(lo, hi) => {
            if let Some(s) = v.as_str() {
                let n = s.chars().count();
                if n < lo || n > hi {
                    return Err((format!("expected {lo} to {hi} characters, got {n}"), None));
                }
            }
        }
        Check::Fn(f) => f(&v).map_err(|m| (m, None))?,
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terraform::eval::{Budget, Files, Limits, Names, Ref};
    use crate::terraform::syntax::parse_body;

    struct NoNames;
    impl Names for NoNames {
        fn lookup(&self, r: &Ref, span: Span) -> Result<Value, EvalError> {
            Err(EvalError::new(span, format!("undeclared {r}")))
        }
    }

    static COOKIES: Schema = Schema {
        attrs: &[req("forward", Ty::Str).one_of(&["all", "none", "whitelist"])],
        blocks: &[],
    };
    static BEHAVIOR: Schema = Schema {
        attrs: &[
            req("target_origin_id", Ty::Str),
            opt("min_ttl", Ty::Int).dint(0).range(0, 31_536_000),
            opt("compress", Ty::Bool).dbool(false),
        ],
        blocks: &[block("cookies", &COOKIES).max(1)],
    };
    static DIST: Schema = Schema {
        attrs: &[
            req("enabled", Ty::Bool),
            computed("arn", Ty::Str),
            opt("aliases", Ty::SetStr),
        ],
        blocks: &[
            block("default_cache_behavior", &BEHAVIOR).one(),
            block("origin", &COOKIES),
        ],
    };

    fn run(src: &str) -> (Value, Vec<String>) {
        let body = parse_body(src).expect("parses");
        let files = Files {
            module_dir: ".".into(),
            root: ".".into(),
        };
        let limits = Limits::default();
        let budget = Budget::new(limits.max_steps);
        let mut ev = Evaluator::new(&NoNames, &files, &budget, &limits);
        let mut out = Vec::new();
        let mut sink = Sink {
            file: Arc::from(Path::new("main.tf")),
            resource: Some("aws_cloudfront_distribution.cdn".into()),
            out: &mut out,
        };
        let mut spans = Spans::default();
        let v = decode(
            &mut ev,
            &mut sink,
            &mut spans,
            &body,
            &DIST,
            &FieldPath::root(),
        );
        (v, out.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_valid_body_gets_defaults() {
        let (v, d) =
            run("enabled = \"true\"\ndefault_cache_behavior {\n  target_origin_id = 1\n}\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(v.get("enabled"), Some(&Value::Bool(true)));
        let b = &v
            .get("default_cache_behavior")
            .and_then(Value::as_seq)
            .expect("list")[0];
        assert_eq!(b.get("target_origin_id"), Some(&Value::str("1")));
        assert_eq!(b.get("min_ttl"), Some(&Value::Number(0.0)));
        assert_eq!(v.get("arn"), Some(&Value::Null));
    }

    #[test]
    fn every_problem_is_reported_at_its_line() {
        let (_, d) = run(concat!(
            "enabled = \"maybe\"\n",
            "arn = \"x\"\n",
            "aliasez = []\n",
            "default_cache_behavior {\n",
            "  min_ttl = -1\n",
            "  cookies { forward = \"nones\" }\n",
            "}\n",
            "default_cache_behavior {\n",
            "  target_origin_id = \"a\"\n",
            "}\n",
            "origin = {}\n",
        ));
        assert_eq!(
            d,
            vec![
                "main.tf:1:11: aws_cloudfront_distribution.cdn: enabled: expected a bool (true or false), got string \"maybe\"",
                "main.tf:2:1: aws_cloudfront_distribution.cdn: arn: cannot set \"arn\": the provider computes it",
                "main.tf:3:1: aws_cloudfront_distribution.cdn: aliasez: unknown argument \"aliasez\" (did you mean \"aliases\"?)",
                "main.tf:11:1: aws_cloudfront_distribution.cdn: origin: \"origin\" is a block, not an argument (write it as a block: origin { ... })",
                "main.tf:5:13: aws_cloudfront_distribution.cdn: default_cache_behavior.min_ttl: expected a value from 0 to 31536000, got -1",
                "main.tf:4:1: aws_cloudfront_distribution.cdn: default_cache_behavior: required argument \"target_origin_id\" is missing",
                "main.tf:6:23: aws_cloudfront_distribution.cdn: default_cache_behavior.cookies.forward: expected one of \"all\", \"none\", \"whitelist\", got \"nones\" (did you mean \"none\"?)",
                "main.tf:8:1: aws_cloudfront_distribution.cdn: default_cache_behavior: only one \"default_cache_behavior\" block is allowed, got 2",
            ]
        );
    }

    #[test]
    fn dynamic_blocks_expand() {
        let (v, d) = run(concat!(
            "enabled = true\n",
            "default_cache_behavior { target_origin_id = \"a\" }\n",
            "dynamic \"origin\" {\n",
            "  for_each = [\"all\", \"none\"]\n",
            "  content { forward = origin.value }\n",
            "}\n",
        ));
        assert!(d.is_empty(), "{d:?}");
        let o = v.get("origin").and_then(Value::as_seq).expect("origins");
        assert_eq!(o.len(), 2);
        assert_eq!(o[1].get("forward"), Some(&Value::str("none")));
    }
}
