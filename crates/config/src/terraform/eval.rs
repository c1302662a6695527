//! Evaluating expressions: references, templates, operators, conditionals, `for`
//! expressions and splats, with the function library in [`super::funcs`].
//!
//! An expression yields a value or its first error, located at the sub-expression that failed
//! (Terraform also stops an expression at its first error). What a root name such as `var`,
//! `local` or `aws_s3_bucket` means is answered by the module being evaluated, through
//! [`Names`]; `count`, `each`, `self` and the variables of `for` expressions and `dynamic`
//! blocks live here.
//!
//! Every evaluation runs against a [`Budget`] of steps and the collection and string limits of
//! [`Limits`], so a configuration that would build a billion-element list or loop for minutes
//! is refused with a message instead.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::did_you_mean;
use crate::node::Span;

use super::syntax::{
    BinaryOperator, Expr, ExprKind, ForExpr, ObjectKey, Part, Traverser, UnaryOperator,
};
use super::value::{MapKind, SeqKind, Type, Value, convert, equal, format_number, type_phrase};

/// Bounds on what one configuration may make the evaluator do.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Elements in any one collection value.
    pub max_collection: usize,
    /// Bytes in any one string value.
    pub max_string: usize,
    /// Evaluation steps for a whole configuration.
    pub max_steps: u64,
    /// Instances of one resource, data source or module (`count`, `for_each`).
    pub max_instances: usize,
    /// Nesting of module calls.
    pub max_module_depth: usize,
    /// Bytes a `file` or `templatefile` call may read.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_collection: 100_000,
            max_string: 16 * 1024 * 1024,
            max_steps: 50_000_000,
            max_instances: 10_000,
            max_module_depth: 16,
            max_file_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Steps left for a whole configuration (shared by every evaluator of one load).
#[derive(Debug)]
pub struct Budget {
    left: Cell<u64>,
    limit: u64,
}

impl Budget {
    /// A budget of `steps`.
    pub fn new(steps: u64) -> Self {
        Self {
            left: Cell::new(steps),
            limit: steps,
        }
    }

    fn spend(&self, n: u64, span: Span) -> Result<(), EvalError> {
        let left = self.left.get();
        if left < n {
            self.left.set(0);
            return Err(EvalError::new(
                span,
                format!(
                    "evaluation stopped after {} steps; the configuration computes too much",
                    self.limit
                ),
            ));
        }
        self.left.set(left - n);
        Ok(())
    }
}

/// An expression that failed, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    /// Where.
    pub span: Span,
    /// What, lower-case.
    pub message: String,
    /// A likely fix.
    pub hint: Option<String>,
    /// Set when the error is in another file than the expression's (a template).
    pub file: Option<Arc<Path>>,
}

impl EvalError {
    /// An error at `span`.
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Self {
            span,
            message: message.into(),
            hint: None,
            file: None,
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }

    /// Adds a "did you mean" hint when a candidate is close.
    #[must_use]
    pub fn suggest<'a>(self, word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        match did_you_mean(word, candidates) {
            Some(c) => self.hint(format!("did you mean \"{c}\"?")),
            None => self,
        }
    }
}

/// What a reference's root names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    /// `var.name`.
    Var(String),
    /// `local.name`.
    Local(String),
    /// `type.name` of a managed resource.
    Resource(String, String),
    /// `data.type.name`.
    Data(String, String),
    /// `module.name`.
    Module(String),
    /// `path.module`, `path.root`, `path.cwd`.
    Path(String),
    /// `terraform.workspace`.
    Terraform(String),
}

impl std::fmt::Display for Ref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ref::Var(n) => write!(f, "var.{n}"),
            Ref::Local(n) => write!(f, "local.{n}"),
            Ref::Resource(t, n) => write!(f, "{t}.{n}"),
            Ref::Data(t, n) => write!(f, "data.{t}.{n}"),
            Ref::Module(n) => write!(f, "module.{n}"),
            Ref::Path(n) => write!(f, "path.{n}"),
            Ref::Terraform(n) => write!(f, "terraform.{n}"),
        }
    }
}

/// Reads a reference's root as a [`Ref`]: how many traversal steps it takes, or why it is not
/// a valid reference. Names the evaluator binds itself (`count`, `each`, `self`, `for`
/// variables) are not references and give `Ok(None)`.
pub fn parse_ref(
    root: &str,
    span: Span,
    ops: &[Traverser],
) -> Result<Option<(Ref, usize)>, EvalError> {
    let attr = |i: usize| match ops.get(i) {
        Some(Traverser::Attr(n, s)) => Some((n.as_str(), *s)),
        _ => None,
    };
    let need = |i: usize, what: &str| {
        attr(i).map(|(n, _)| n.to_owned()).ok_or_else(|| {
            EvalError::new(
                ops.get(i).map_or(span, traverser_span),
                format!("invalid reference: \"{root}\" must be followed by {what}"),
            )
        })
    };
    let r = match root {
        "count" | "each" | "self" => return Ok(None),
        "var" => (Ref::Var(need(0, "a variable name")?), 1),
        "local" => (Ref::Local(need(0, "a local value name")?), 1),
        "module" => (Ref::Module(need(0, "a module name")?), 1),
        "path" => (Ref::Path(need(0, "module, root or cwd")?), 1),
        "terraform" => (Ref::Terraform(need(0, "workspace")?), 1),
        "data" => {
            let t = need(0, "a data source type and name")?;
            let n = need(1, "a data source type and name")?;
            (Ref::Data(t, n), 2)
        }
        _ => {
            let n = need(0, "a resource name (type.name)")?;
            (Ref::Resource(root.to_owned(), n), 1)
        }
    };
    Ok(Some(r))
}

fn traverser_span(t: &Traverser) -> Span {
    match t {
        Traverser::Attr(_, s)
        | Traverser::LegacyIndex(_, s)
        | Traverser::AttrSplat(s)
        | Traverser::FullSplat(s) => *s,
        Traverser::Index(e) => e.span,
    }
}

/// The module side of evaluation: what references are worth.
pub trait Names {
    /// The value of a reference, or why it has none (undeclared, with a suggestion).
    fn lookup(&self, r: &Ref, span: Span) -> Result<Value, EvalError>;
}

/// Where `file` and `templatefile` may read.
#[derive(Debug, Clone)]
pub struct Files {
    /// `path.module`: relative paths start here.
    pub module_dir: PathBuf,
    /// Nothing outside this folder may be read (the root module's folder, canonical).
    pub root: PathBuf,
}

/// Evaluates expressions of one scope.
pub struct Evaluator<'a> {
    names: &'a dyn Names,
    /// `for` and `dynamic` iterator variables, innermost last.
    pub vars: Vec<(String, Value)>,
    /// `count.index`, when the block has `count`.
    pub count_index: Option<i64>,
    /// `each.key` and `each.value`, when the block has `for_each`.
    pub each: Option<(Value, Value)>,
    /// `self` (in provisioners and conditions).
    pub self_value: Option<Value>,
    /// Where files are read from.
    pub files: &'a Files,
    /// Shared step budget.
    pub budget: &'a Budget,
    /// Limits.
    pub limits: &'a Limits,
    /// Set inside a `templatefile` call, which may not call itself.
    pub in_template: bool,
}

impl std::fmt::Debug for Evaluator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("vars", &self.vars)
            .finish_non_exhaustive()
    }
}

impl<'a> Evaluator<'a> {
    /// An evaluator over `names`.
    pub fn new(
        names: &'a dyn Names,
        files: &'a Files,
        budget: &'a Budget,
        limits: &'a Limits,
    ) -> Self {
        Self {
            names,
            vars: Vec::new(),
            count_index: None,
            each: None,
            self_value: None,
            files,
            budget,
            limits,
            in_template: false,
        }
    }

    /// Checks a collection size against the limit.
    pub fn check_len(&self, n: usize, span: Span) -> Result<(), EvalError> {
        if n > self.limits.max_collection {
            return Err(EvalError::new(
                span,
                format!(
                    "a collection of {n} elements is larger than the limit of {}",
                    self.limits.max_collection
                ),
            ));
        }
        Ok(())
    }

    /// Checks a string length against the limit.
    pub fn check_str(&self, n: usize, span: Span) -> Result<(), EvalError> {
        if n > self.limits.max_string {
            return Err(EvalError::new(
                span,
                format!(
                    "a string of {n} bytes is larger than the limit of {} bytes",
                    self.limits.max_string
                ),
            ));
        }
        Ok(())
    }

    /// Evaluates `e`.
    pub fn eval(&mut self, e: &Expr) -> Result<Value, EvalError> {
        self.budget.spend(1, e.span)?;
        match &e.kind {
            ExprKind::Literal(v) => Ok(v.clone()),
            ExprKind::Template(parts) => self.template(parts, e.span),
            ExprKind::Tuple(items) => {
                self.check_len(items.len(), e.span)?;
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.eval(i)?);
                }
                Ok(Value::tuple(out))
            }
            ExprKind::Object(items) => {
                self.check_len(items.len(), e.span)?;
                let mut out = BTreeMap::new();
                for (k, v) in items {
                    let (key, kspan) = match k {
                        ObjectKey::Ident(s, span) => (Value::String(s.clone()), *span),
                        ObjectKey::Expr(x) => (self.eval(x)?, x.span),
                    };
                    let key = match key {
                        Value::Unknown => return Ok(Value::Unknown),
                        Value::Null => {
                            return Err(EvalError::new(kspan, "an object key cannot be null"));
                        }
                        k => k.to_display().ok_or_else(|| {
                            EvalError::new(
                                kspan,
                                format!("an object key must be a string, got {}", k.describe()),
                            )
                        })?,
                    };
                    let val = self.eval(v)?;
                    if out.insert(key.clone(), val).is_some() {
                        return Err(EvalError::new(
                            kspan,
                            format!("duplicate object key \"{key}\""),
                        ));
                    }
                }
                Ok(Value::object(out))
            }
            ExprKind::Var(name) => self.root(name, e.span, &[]),
            ExprKind::Traversal(root, ops) => {
                if let ExprKind::Var(name) = &root.kind {
                    return self.root(name, root.span, ops);
                }
                let v = self.eval(root)?;
                self.traverse(v, ops)
            }
            ExprKind::Call { name, args, expand } => {
                super::funcs::call(self, name, args, *expand, e.span)
            }
            ExprKind::Cond(c, a, b) => {
                let cv = self.eval(c)?;
                match cv {
                    Value::Unknown => Ok(Value::Unknown),
                    Value::Null => Err(EvalError::new(
                        c.span,
                        "the condition is null; it must be true or false",
                    )),
                    v => match convert(&v, &Type::Bool) {
                        Ok(Value::Bool(true)) => self.eval(a),
                        Ok(_) => self.eval(b),
                        Err(_) => Err(EvalError::new(
                            c.span,
                            format!("the condition must be a bool, got {}", v.describe()),
                        )),
                    },
                }
            }
            ExprKind::Unary(op, x) => {
                let v = self.eval(x)?;
                if v == Value::Unknown {
                    return Ok(v);
                }
                match op {
                    UnaryOperator::Neg => Ok(Value::Number(-self.number(&v, x.span)?)),
                    UnaryOperator::Not => Ok(Value::Bool(!self.boolean(&v, x.span)?)),
                }
            }
            ExprKind::Binary(op, l, r) => self.binary(*op, l, r, e.span),
            ExprKind::For(f) => self.for_expr(f, e.span),
            ExprKind::Paren(x) => self.eval(x),
        }
    }

    fn number(&self, v: &Value, span: Span) -> Result<f64, EvalError> {
        match convert(v, &Type::Number) {
            Ok(Value::Number(n)) => Ok(n),
            _ => Err(EvalError::new(
                span,
                format!("expected a number, got {}", v.describe()),
            )),
        }
    }

    fn boolean(&self, v: &Value, span: Span) -> Result<bool, EvalError> {
        match convert(v, &Type::Bool) {
            Ok(Value::Bool(b)) => Ok(b),
            _ => Err(EvalError::new(
                span,
                format!("expected a bool (true or false), got {}", v.describe()),
            )),
        }
    }

    fn binary(
        &mut self,
        op: BinaryOperator,
        l: &Expr,
        r: &Expr,
        span: Span,
    ) -> Result<Value, EvalError> {
        use BinaryOperator as B;
        // `&&` and `||` evaluate both sides in Terraform too (no short-circuit), but an
        // unknown left side must not hide an error on the right.
        let lv = self.eval(l)?;
        let rv = self.eval(r)?;
        match op {
            B::Eq => {
                return Ok(if lv == Value::Unknown || rv == Value::Unknown {
                    Value::Unknown
                } else {
                    Value::Bool(equal(&lv, &rv))
                });
            }
            B::NotEq => {
                return Ok(if lv == Value::Unknown || rv == Value::Unknown {
                    Value::Unknown
                } else {
                    Value::Bool(!equal(&lv, &rv))
                });
            }
            _ => {}
        }
        if matches!(op, B::And | B::Or) {
            let a = if lv == Value::Unknown {
                None
            } else {
                Some(self.boolean(&lv, l.span)?)
            };
            let b = if rv == Value::Unknown {
                None
            } else {
                Some(self.boolean(&rv, r.span)?)
            };
            return Ok(match (op, a, b) {
                (B::And, Some(false), _) | (B::And, _, Some(false)) => Value::Bool(false),
                (B::Or, Some(true), _) | (B::Or, _, Some(true)) => Value::Bool(true),
                (_, Some(x), Some(y)) => Value::Bool(if op == B::And { x && y } else { x || y }),
                _ => Value::Unknown,
            });
        }
        if lv == Value::Unknown || rv == Value::Unknown {
            return Ok(Value::Unknown);
        }
        let a = self.number(&lv, l.span)?;
        let b = self.number(&rv, r.span)?;
        let n = match op {
            B::Plus => a + b,
            B::Minus => a - b,
            B::Mul => a * b,
            B::Div => {
                if b == 0.0 {
                    return Err(EvalError::new(r.span, "division by zero"));
                }
                a / b
            }
            B::Mod => {
                if b == 0.0 {
                    return Err(EvalError::new(r.span, "modulo by zero"));
                }
                a % b
            }
            B::Less => return Ok(Value::Bool(a < b)),
            B::LessEq => return Ok(Value::Bool(a <= b)),
            B::Greater => return Ok(Value::Bool(a > b)),
            B::GreaterEq => return Ok(Value::Bool(a >= b)),
            B::Eq | B::NotEq | B::And | B::Or => unreachable_op(span)?,
        };
        if !n.is_finite() {
            return Err(EvalError::new(span, "the result is not a finite number"));
        }
        Ok(Value::Number(n))
    }

    /// A root name with the traversal steps after it.
    fn root(&mut self, name: &str, span: Span, ops: &[Traverser]) -> Result<Value, EvalError> {
        if let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == name) {
            let v = v.clone();
            return self.traverse(v, ops);
        }
        match name {
            "count" => {
                let Some(Traverser::Attr(a, s)) = ops.first() else {
                    return Err(EvalError::new(span, "invalid reference: use count.index"));
                };
                if a != "index" {
                    return Err(
                        EvalError::new(*s, format!("count has no attribute \"{a}\""))
                            .hint("use count.index"),
                    );
                }
                let Some(i) = self.count_index else {
                    return Err(EvalError::new(
                        span,
                        "count.index is only available in a block that sets count",
                    ));
                };
                #[allow(clippy::cast_precision_loss)]
                let v = Value::Number(i as f64);
                return self.traverse(v, &ops[1..]);
            }
            "each" => {
                let Some(Traverser::Attr(a, s)) = ops.first() else {
                    return Err(EvalError::new(
                        span,
                        "invalid reference: use each.key or each.value",
                    ));
                };
                let Some((k, v)) = &self.each else {
                    return Err(EvalError::new(
                        span,
                        "each.key and each.value are only available in a block that sets for_each",
                    ));
                };
                let v = match a.as_str() {
                    "key" => k.clone(),
                    "value" => v.clone(),
                    _ => {
                        return Err(EvalError::new(*s, format!("each has no attribute \"{a}\""))
                            .suggest(a, ["key", "value"]));
                    }
                };
                return self.traverse(v, &ops[1..]);
            }
            "self" => {
                let Some(v) = self.self_value.clone() else {
                    return Err(EvalError::new(
                        span,
                        "self is only available in provisioners, connections and conditions",
                    ));
                };
                return self.traverse(v, ops);
            }
            _ => {}
        }
        if self.in_template {
            return Err(EvalError::new(span, format!("unknown variable \"{name}\""))
                .hint("pass it in templatefile's variables")
                .suggest(name, self.vars.iter().map(|(n, _)| n.as_str())));
        }
        let Some((r, used)) = parse_ref(name, span, ops)? else {
            return Err(EvalError::new(span, format!("unknown name \"{name}\"")));
        };
        let v = self.names.lookup(&r, span)?;
        self.traverse(v, &ops[used..])
    }

    /// Applies traversal steps to a value.
    pub fn traverse(&mut self, mut v: Value, ops: &[Traverser]) -> Result<Value, EvalError> {
        let mut i = 0;
        while i < ops.len() {
            match &ops[i] {
                Traverser::Attr(name, span) => v = self.get_attr(v, name, *span)?,
                Traverser::Index(e) => {
                    let k = self.eval(e)?;
                    v = self.index(v, &k, e.span)?;
                }
                Traverser::LegacyIndex(n, span) => {
                    #[allow(clippy::cast_precision_loss)]
                    let k = Value::Number(*n as f64);
                    v = self.index(v, &k, *span)?;
                }
                Traverser::AttrSplat(span) | Traverser::FullSplat(span) => {
                    let full = matches!(ops[i], Traverser::FullSplat(_));
                    // The steps the splat applies to each element.
                    let mut j = i + 1;
                    while j < ops.len() && (full || matches!(ops[j], Traverser::Attr(..))) {
                        j += 1;
                    }
                    let rest = &ops[i + 1..j];
                    let items: Vec<Value> = match v {
                        Value::Unknown => return Ok(Value::Unknown),
                        Value::Null => Vec::new(),
                        Value::Seq(SeqKind::Set, _) if full => {
                            return Err(EvalError::new(
                                *span,
                                "cannot use [*] on a set; use a for expression",
                            ));
                        }
                        Value::Seq(_, items) => items.as_ref().clone(),
                        other => vec![other],
                    };
                    self.check_len(items.len(), *span)?;
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        out.push(self.traverse(item, rest)?);
                    }
                    v = Value::tuple(out);
                    i = j;
                    continue;
                }
            }
            i += 1;
        }
        Ok(v)
    }

    fn get_attr(&self, v: Value, name: &str, span: Span) -> Result<Value, EvalError> {
        match v {
            Value::Unknown => Ok(Value::Unknown),
            Value::Null => Err(EvalError::new(
                span,
                format!("cannot read attribute \"{name}\" of a null value"),
            )),
            Value::Map(kind, m) => match m.get(name) {
                Some(x) => Ok(x.clone()),
                None if kind == MapKind::Map => Err(EvalError::new(
                    span,
                    format!("the map has no element \"{name}\""),
                )),
                None => Err(
                    EvalError::new(span, format!("unsupported attribute \"{name}\""))
                        .suggest(name, m.keys().map(String::as_str)),
                ),
            },
            Value::Seq(..) => Err(EvalError::new(
                span,
                format!("cannot read attribute \"{name}\" of a {}", v.type_name()),
            )
            .hint(format!(
                "index one element ([0].{name}) or use a splat ([*].{name})"
            ))),
            other => Err(EvalError::new(
                span,
                format!("cannot read attribute \"{name}\" of {}", other.describe()),
            )),
        }
    }

    fn index(&self, v: Value, k: &Value, span: Span) -> Result<Value, EvalError> {
        if *k == Value::Unknown {
            return Ok(Value::Unknown);
        }
        match v {
            Value::Unknown => Ok(Value::Unknown),
            Value::Null => Err(EvalError::new(span, "cannot index a null value")),
            Value::Seq(SeqKind::Set, _) => Err(EvalError::new(span, "cannot index a set")
                .hint("convert it with tolist() first, or use a for expression")),
            Value::Seq(_, items) => {
                let n = self.number(k, span)?;
                if n.fract() != 0.0 || n < 0.0 {
                    return Err(EvalError::new(
                        span,
                        format!("index {} is not a whole number 0 or more", format_number(n)),
                    ));
                }
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let i = n as usize;
                items.get(i).cloned().ok_or_else(|| {
                    EvalError::new(
                        span,
                        format!(
                            "index {i} is out of range for a list of {} elements",
                            items.len()
                        ),
                    )
                })
            }
            Value::Map(_, m) => {
                let key = k.to_display().ok_or_else(|| {
                    EvalError::new(
                        span,
                        format!("a map key must be a string, got {}", k.describe()),
                    )
                })?;
                m.get(&key).cloned().ok_or_else(|| {
                    EvalError::new(span, format!("no element with key \"{key}\""))
                        .suggest(&key, m.keys().map(String::as_str))
                })
            }
            other => Err(EvalError::new(
                span,
                format!("cannot index {}", other.describe()),
            )),
        }
    }

    /// The (key, value) pairs a `for` expression or `for_each` iterates over.
    pub fn pairs(&self, v: &Value, span: Span) -> Result<Vec<(Value, Value)>, EvalError> {
        match v {
            Value::Seq(SeqKind::Set, items) => {
                self.check_len(items.len(), span)?;
                Ok(items.iter().map(|x| (x.clone(), x.clone())).collect())
            }
            Value::Seq(_, items) => {
                self.check_len(items.len(), span)?;
                #[allow(clippy::cast_precision_loss)]
                Ok(items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (Value::Number(i as f64), x.clone()))
                    .collect())
            }
            Value::Map(_, m) => {
                self.check_len(m.len(), span)?;
                Ok(m.iter()
                    .map(|(k, x)| (Value::String(k.clone()), x.clone()))
                    .collect())
            }
            Value::Null => Err(EvalError::new(span, "cannot iterate over a null value")),
            other => Err(EvalError::new(
                span,
                format!(
                    "cannot iterate over {}; a list, set, map or object is required",
                    other.describe()
                ),
            )),
        }
    }

    fn with_vars<T>(
        &mut self,
        key_var: Option<&str>,
        value_var: &str,
        k: Value,
        v: Value,
        f: impl FnOnce(&mut Self) -> Result<T, EvalError>,
    ) -> Result<T, EvalError> {
        let depth = self.vars.len();
        if let Some(kv) = key_var {
            self.vars.push((kv.to_owned(), k));
        }
        self.vars.push((value_var.to_owned(), v));
        let r = f(self);
        self.vars.truncate(depth);
        r
    }

    fn for_expr(&mut self, f: &ForExpr, span: Span) -> Result<Value, EvalError> {
        let coll = self.eval(&f.collection)?;
        if coll == Value::Unknown {
            return Ok(Value::Unknown);
        }
        let pairs = self.pairs(&coll, f.collection.span)?;
        let key_var = f.key_var.as_deref();
        if let Some(kexpr) = &f.key {
            let mut out: BTreeMap<String, Value> = BTreeMap::new();
            let mut grouped: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for (k, v) in pairs {
                let r = self.with_vars(key_var, &f.value_var, k, v, |ev| {
                    if let Some(c) = &f.cond
                        && !ev.for_cond(c)?
                    {
                        return Ok(None);
                    }
                    let key = ev.eval(kexpr)?;
                    let val = ev.eval(&f.value)?;
                    Ok(Some((key, val)))
                })?;
                let Some((key, val)) = r else { continue };
                if key == Value::Unknown {
                    return Ok(Value::Unknown);
                }
                let key = key.to_display().ok_or_else(|| {
                    EvalError::new(
                        kexpr.span,
                        format!(
                            "a for expression's key must be a string, got {}",
                            key.describe()
                        ),
                    )
                })?;
                if f.grouping {
                    grouped.entry(key).or_default().push(val);
                } else if out.insert(key.clone(), val).is_some() {
                    return Err(EvalError::new(
                        kexpr.span,
                        format!("two elements produced the key \"{key}\""),
                    )
                    .hint("add ... after the value expression to group elements by key"));
                }
                self.check_len(out.len() + grouped.len(), span)?;
            }
            if f.grouping {
                return Ok(Value::object(
                    grouped
                        .into_iter()
                        .map(|(k, v)| (k, Value::tuple(v)))
                        .collect(),
                ));
            }
            Ok(Value::object(out))
        } else {
            let mut out = Vec::new();
            for (k, v) in pairs {
                let r = self.with_vars(key_var, &f.value_var, k, v, |ev| {
                    if let Some(c) = &f.cond
                        && !ev.for_cond(c)?
                    {
                        return Ok(None);
                    }
                    ev.eval(&f.value).map(Some)
                })?;
                if let Some(v) = r {
                    out.push(v);
                }
            }
            Ok(Value::tuple(out))
        }
    }

    fn for_cond(&mut self, c: &Expr) -> Result<bool, EvalError> {
        match self.eval(c)? {
            // An unknown condition keeps the element (the result is unknown either way).
            Value::Unknown => Ok(true),
            v => self.boolean(&v, c.span),
        }
    }

    /// Renders a template to a string.
    pub fn template(&mut self, parts: &[Part], span: Span) -> Result<Value, EvalError> {
        let mut out = String::new();
        if self.render(parts, &mut out)? {
            self.check_str(out.len(), span)?;
            Ok(Value::String(out))
        } else {
            Ok(Value::Unknown)
        }
    }

    /// Appends the rendering of `parts`; false when a part is unknown.
    fn render(&mut self, parts: &[Part], out: &mut String) -> Result<bool, EvalError> {
        for p in parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Interp(e) => {
                    let v = self.eval(e)?;
                    match v {
                        Value::Unknown => return Ok(false),
                        Value::Null => {
                            return Err(EvalError::new(
                                e.span,
                                "cannot include a null value in a string template",
                            ));
                        }
                        v => match v.to_display() {
                            Some(s) => out.push_str(&s),
                            None => {
                                return Err(EvalError::new(
                                    e.span,
                                    format!("cannot include {} in a string template; a string is required", v.describe()),
                                )
                                .hint("use jsonencode() or join() to turn it into a string"));
                            }
                        },
                    }
                }
                Part::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let c = self.eval(cond)?;
                    if c == Value::Unknown {
                        return Ok(false);
                    }
                    let branch = if self.boolean(&c, cond.span)? {
                        then
                    } else {
                        otherwise
                    };
                    if !self.render(branch, out)? {
                        return Ok(false);
                    }
                }
                Part::For {
                    key_var,
                    value_var,
                    collection,
                    body,
                } => {
                    let coll = self.eval(collection)?;
                    if coll == Value::Unknown {
                        return Ok(false);
                    }
                    for (k, v) in self.pairs(&coll, collection.span)? {
                        let known = self.with_vars(key_var.as_deref(), value_var, k, v, |ev| {
                            ev.render(body, out)
                        })?;
                        if !known {
                            return Ok(false);
                        }
                        self.check_str(out.len(), collection.span)?;
                    }
                }
            }
            if out.len() > self.limits.max_string {
                return Err(EvalError::new(
                    Span::default(),
                    format!(
                        "a string longer than the limit of {} bytes",
                        self.limits.max_string
                    ),
                ));
            }
        }
        Ok(true)
    }

    /// Evaluates `e` and converts it to `t`, with the conversion error located at `e`.
    pub fn eval_as(&mut self, e: &Expr, t: &Type) -> Result<Value, EvalError> {
        let v = self.eval(e)?;
        convert(&v, t).map_err(|c| EvalError::new(e.span, c.to_string()))
    }

    /// The phrase for a type, re-exported for function messages.
    pub fn phrase(t: &Type) -> String {
        type_phrase(t)
    }
}

fn unreachable_op(span: Span) -> Result<f64, EvalError> {
    Err(EvalError::new(span, "operator not valid here"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terraform::syntax::parse_expr;

    struct Fixed;
    impl Names for Fixed {
        fn lookup(&self, r: &Ref, span: Span) -> Result<Value, EvalError> {
            match r {
                Ref::Var(n) if n == "list" => Ok(Value::tuple(vec![
                    Value::object([("id".to_owned(), Value::str("a"))].into()),
                    Value::object([("id".to_owned(), Value::str("b"))].into()),
                ])),
                Ref::Var(n) if n == "m" => Ok(Value::object(
                    [
                        ("x".to_owned(), Value::Number(1.0)),
                        ("y".to_owned(), Value::Number(2.0)),
                    ]
                    .into(),
                )),
                Ref::Resource(t, n) if t == "aws_lb" => Ok(Value::object(
                    [(
                        "dns_name".to_owned(),
                        Value::str(format!("{n}.elb.localhost")),
                    )]
                    .into(),
                )),
                _ => Err(EvalError::new(span, format!("reference to undeclared {r}"))),
            }
        }
    }

    fn eval(src: &str) -> Result<Value, EvalError> {
        let e = parse_expr(src, Span::new(1, 1)).expect("parses");
        let files = Files {
            module_dir: PathBuf::from("."),
            root: PathBuf::from("."),
        };
        let limits = Limits::default();
        let budget = Budget::new(limits.max_steps);
        let mut ev = Evaluator::new(&Fixed, &files, &budget, &limits);
        ev.eval(&e)
    }

    fn s(src: &str) -> String {
        match eval(src) {
            Ok(v) => v.to_json().to_string(),
            Err(e) => format!("error {}: {}", e.span, e.message),
        }
    }

    #[test]
    fn references_templates_and_operators() {
        assert_eq!(
            s("\"S3-${aws_lb.main.dns_name}\""),
            "\"S3-main.elb.localhost\""
        );
        assert_eq!(s("1 + 2 * 3"), "7");
        assert_eq!(s("var.m.x < var.m.y ? \"lt\" : \"ge\""), "\"lt\"");
        assert_eq!(s("\"1\" + 1"), "2");
        assert_eq!(s("!true || false"), "false");
    }

    #[test]
    fn splats_and_for_expressions() {
        assert_eq!(s("var.list[*].id"), "[\"a\",\"b\"]");
        assert_eq!(s("var.list.*.id"), "[\"a\",\"b\"]");
        assert_eq!(
            s("[for k, v in var.m : \"${k}=${v}\" if v > 1]"),
            "[\"y=2\"]"
        );
        assert_eq!(
            s("{for x in var.list : x.id => x}"),
            "{\"a\":{\"id\":\"a\"},\"b\":{\"id\":\"b\"}}"
        );
        assert_eq!(s("{for x in [\"a\", \"a\"] : x => 1...}"), "{\"a\":[1,1]}");
    }

    #[test]
    fn errors_are_located_and_suggest() {
        let e = eval("var.list[5]").unwrap_err();
        assert_eq!(
            e.message,
            "index 5 is out of range for a list of 2 elements"
        );
        let e = eval("aws_lb.main.dns_nam").unwrap_err();
        assert_eq!(e.span, Span::new(1, 13));
        assert_eq!(e.message, "unsupported attribute \"dns_nam\"");
        assert_eq!(e.hint.as_deref(), Some("did you mean \"dns_name\"?"));
        let e = eval("{for x in [\"a\", \"a\"] : x => 1}").unwrap_err();
        assert_eq!(e.message, "two elements produced the key \"a\"");
        let e = eval("\"${null}\"").unwrap_err();
        assert_eq!(
            e.message,
            "cannot include a null value in a string template"
        );
    }

    #[test]
    fn template_directives() {
        assert_eq!(
            s("\"%{ for x in var.list }${x.id},%{ endfor }\""),
            "\"a,b,\""
        );
        assert_eq!(s("\"%{ if true }yes%{ else }no%{ endif }\""), "\"yes\"");
    }
}
