//! The positioned syntax tree Terraform configurations are evaluated from.
//!
//! Native syntax (`.tf`) is parsed by hcl-edit, which keeps a byte span on every node; this
//! module lowers its tree into a smaller one whose nodes carry `line:col` (what diagnostics
//! print) and nothing else the evaluator does not need. The JSON syntax (`.tf.json`, see
//! [`super::json`]) lowers into the same tree, so everything after this point reads one shape.
//!
//! hcl-edit bounds nesting (64 levels) and chains of binary operators (128) while parsing, so
//! the recursive lowering and evaluation below cannot run out of stack on hostile input.

use std::borrow::Cow;
use std::ops::Range;

use hcl_edit::Span as _;
use hcl_edit::expr::{self as hx, Expression};
use hcl_edit::structure as hs;
use hcl_edit::template as ht;

pub use hcl_edit::expr::{BinaryOperator, UnaryOperator};

use crate::node::Span;

use super::value::Value;

/// A body: the inside of a file or of a block.
#[derive(Debug, Clone, Default)]
pub struct Body {
    /// `name = value` lines, in source order.
    pub attrs: Vec<Attribute>,
    /// Nested blocks, in source order.
    pub blocks: Vec<Block>,
    /// JSON bodies cannot tell an attribute from a block without a schema: their entries wait
    /// here until [`Body::content`] is told which names are blocks.
    pub json: Vec<super::json::JsonEntry>,
    /// Problems met while resolving JSON entries (a block that is not an object).
    pub errors: Vec<SyntaxError>,
    /// Where the body starts (its opening brace, or the file start).
    pub span: Span,
}

/// `name = expr`.
#[derive(Debug, Clone)]
pub struct Attribute {
    /// The name.
    pub name: String,
    /// Where the name is.
    pub span: Span,
    /// The value.
    pub expr: Expr,
}

/// `type "label" ... { body }`.
#[derive(Debug, Clone)]
pub struct Block {
    /// The block type (`resource`, `origin`, ...).
    pub ident: String,
    /// Its labels, with their positions.
    pub labels: Vec<(String, Span)>,
    /// Where the block type is written.
    pub span: Span,
    /// The content.
    pub body: Body,
}

impl Block {
    /// The label at `i`, or "".
    pub fn label(&self, i: usize) -> &str {
        self.labels.get(i).map_or("", |(l, _)| l.as_str())
    }
}

impl Body {
    /// The attribute named `name`.
    pub fn attr(&self, name: &str) -> Option<&Attribute> {
        self.attrs.iter().find(|a| a.name == name)
    }

    /// This body with JSON entries resolved: names for which `labels` answers `Some(n)` are
    /// blocks with `n` labels, every other name an attribute. Native bodies come back as they
    /// are.
    pub fn content(&self, labels: &dyn Fn(&str) -> Option<usize>) -> Cow<'_, Body> {
        if self.json.is_empty() {
            return Cow::Borrowed(self);
        }
        let mut out = Body {
            attrs: self.attrs.clone(),
            blocks: self.blocks.clone(),
            json: Vec::new(),
            errors: self.errors.clone(),
            span: self.span,
        };
        for e in &self.json {
            e.lower(labels, &mut out);
        }
        Cow::Owned(out)
    }
}

/// An expression with its position.
#[derive(Debug, Clone)]
pub struct Expr {
    /// Where it starts.
    pub span: Span,
    /// What it is.
    pub kind: ExprKind,
}

/// The kinds of expression HCL has.
#[derive(Debug, Clone)]
pub enum ExprKind {
    /// `null`, `true`, `42`, or a string without interpolation.
    Literal(Value),
    /// A string with interpolations or directives, or a heredoc.
    Template(Vec<Part>),
    /// `[a, b]`.
    Tuple(Vec<Expr>),
    /// `{ k = v }`.
    Object(Vec<(ObjectKey, Expr)>),
    /// A root name: `var`, `local`, `aws_s3_bucket`, `count`, a `for` variable...
    Var(String),
    /// `expr.attr`, `expr[i]`, `expr[*].x`.
    Traversal(Box<Expr>, Vec<Traverser>),
    /// `name(args)`; `expand` when the last argument ends with `...`.
    Call {
        /// Function name (with its `provider::x::` namespace when one is written).
        name: String,
        /// Arguments.
        args: Vec<Expr>,
        /// The last argument is a list to expand into arguments.
        expand: bool,
    },
    /// `c ? a : b`.
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `-x`, `!x`.
    Unary(UnaryOperator, Box<Expr>),
    /// `a + b`, `a && b`, ...
    Binary(BinaryOperator, Box<Expr>, Box<Expr>),
    /// `[for ...]` or `{for ...}`.
    For(Box<ForExpr>),
    /// `(expr)`.
    Paren(Box<Expr>),
}

/// An object constructor's key.
#[derive(Debug, Clone)]
pub enum ObjectKey {
    /// A bare word: the literal string.
    Ident(String, Span),
    /// An expression (quoted strings and parenthesised expressions).
    Expr(Expr),
}

/// One step of a traversal.
#[derive(Debug, Clone)]
pub enum Traverser {
    /// `.name`.
    Attr(String, Span),
    /// `[expr]`.
    Index(Expr),
    /// `.0` (HIL's legacy index).
    LegacyIndex(u64, Span),
    /// `.*`: the following attribute names apply to every element.
    AttrSplat(Span),
    /// `[*]`: every following step applies to every element.
    FullSplat(Span),
}

/// A `for` expression.
#[derive(Debug, Clone)]
pub struct ForExpr {
    /// `for k, v in`: `k`.
    pub key_var: Option<String>,
    /// `v`.
    pub value_var: String,
    /// The collection.
    pub collection: Expr,
    /// `k => ...` for object results.
    pub key: Option<Expr>,
    /// The element (or value) expression.
    pub value: Expr,
    /// `...` after the value: group values with equal keys.
    pub grouping: bool,
    /// `if cond`.
    pub cond: Option<Expr>,
}

/// A piece of a template.
#[derive(Debug, Clone)]
pub enum Part {
    /// Text.
    Lit(String),
    /// `${expr}`.
    Interp(Expr),
    /// `%{ if c }...%{ else }...%{ endif }`.
    If {
        /// The condition.
        cond: Expr,
        /// When true.
        then: Vec<Part>,
        /// When false.
        otherwise: Vec<Part>,
    },
    /// `%{ for k, v in coll }...%{ endfor }`.
    For {
        /// Key variable.
        key_var: Option<String>,
        /// Value variable.
        value_var: String,
        /// The collection.
        collection: Expr,
        /// Repeated content.
        body: Vec<Part>,
    },
}

impl Expr {
    /// An expression holding a value.
    pub fn literal(span: Span, v: Value) -> Self {
        Self {
            span,
            kind: ExprKind::Literal(v),
        }
    }

    /// The plain string this expression is, if it is one (no interpolation).
    pub fn as_literal_str(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Literal(Value::String(s)) => Some(s),
            ExprKind::Template(parts) => match parts.as_slice() {
                [Part::Lit(s)] => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    /// The traversal `a.b.c` as names, when this is a static reference (no index
    /// expressions, splats or calls): what `depends_on`, `provider` and `ignore_changes` take.
    pub fn static_path(&self) -> Option<Vec<(String, Span)>> {
        match &self.kind {
            ExprKind::Var(n) => Some(vec![(n.clone(), self.span)]),
            ExprKind::Traversal(root, ops) => {
                let mut out = root.static_path()?;
                for op in ops {
                    match op {
                        Traverser::Attr(n, s) => out.push((n.clone(), *s)),
                        Traverser::Index(e) => {
                            let key = match &e.kind {
                                ExprKind::Literal(v) => v.to_display()?,
                                _ => e.as_literal_str()?.to_owned(),
                            };
                            out.push((format!("[{key}]"), e.span));
                        }
                        Traverser::LegacyIndex(i, s) => out.push((format!("[{i}]"), *s)),
                        Traverser::AttrSplat(_) | Traverser::FullSplat(_) => return None,
                    }
                }
                Some(out)
            }
            _ => None,
        }
    }
}

/// Byte offsets to `line:col` (columns in characters, both from 1).
#[derive(Debug, Clone)]
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
    /// Lines that are all ASCII, where a column is a byte count (a megabyte-long line of
    /// ASCII must not cost a character count per node).
    ascii: Vec<bool>,
    /// Added to every line (a JSON string's template starts inside a larger file).
    line_offset: u32,
    /// Added to columns of the first line.
    col_offset: u32,
}

impl<'a> LineIndex<'a> {
    /// An index of `text`.
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let ascii = starts
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let end = starts.get(i + 1).copied().unwrap_or(text.len());
                text.as_bytes()[s..end].is_ascii()
            })
            .collect();
        Self {
            text,
            starts,
            ascii,
            line_offset: 0,
            col_offset: 0,
        }
    }

    /// An index of `text` that starts at `at` of some larger file.
    pub fn nested(text: &'a str, at: Span) -> Self {
        let mut ix = Self::new(text);
        ix.line_offset = at.line.saturating_sub(1);
        ix.col_offset = at.col.saturating_sub(1);
        ix
    }

    /// The position of byte `offset`.
    pub fn pos(&self, offset: usize) -> Span {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1) - 1;
        let start = self.starts[line];
        let col = if self.ascii.get(line).copied().unwrap_or(false) {
            offset - start
        } else {
            self.text
                .get(start..offset)
                .map_or(offset - start, |s| s.chars().count())
        };
        let col = u32::try_from(col + 1).unwrap_or(u32::MAX);
        let col = if line == 0 {
            col.saturating_add(self.col_offset)
        } else {
            col
        };
        Span::new(
            u32::try_from(line + 1)
                .unwrap_or(u32::MAX)
                .saturating_add(self.line_offset),
            col,
        )
    }

    fn of(&self, r: Option<Range<usize>>, fallback: Span) -> Span {
        r.map_or(fallback, |r| self.pos(r.start))
    }
}

/// A syntax error, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where.
    pub span: Span,
    /// What, lower-case.
    pub message: String,
}

/// Parses native syntax into a body.
pub fn parse_body(text: &str) -> Result<Body, SyntaxError> {
    let body = hcl_edit::parser::parse_body(text).map_err(|e| parse_error(&e, None))?;
    let ix = LineIndex::new(text);
    Ok(lower_body(&body, &ix, Span::new(1, 1)))
}

/// Parses one expression (a `-var` value, a variable's type, a JSON `depends_on` entry).
pub fn parse_expr(text: &str, at: Span) -> Result<Expr, SyntaxError> {
    let e = hcl_edit::parser::parse_expr(text).map_err(|e| parse_error(&e, Some(at)))?;
    let ix = LineIndex::nested(text, at);
    Ok(lower_expr(&e, &ix, at))
}

/// Parses a template (a `templatefile` file, a JSON string).
pub fn parse_template(text: &str, at: Span) -> Result<Vec<Part>, SyntaxError> {
    let t = hcl_edit::parser::parse_template(text).map_err(|e| parse_error(&e, Some(at)))?;
    let ix = LineIndex::nested(text, at);
    Ok(lower_template(&t, &ix, at))
}

fn parse_error(e: &hcl_edit::parser::Error, at: Option<Span>) -> SyntaxError {
    let loc = e.location();
    let line = u32::try_from(loc.line()).unwrap_or(u32::MAX);
    let col = u32::try_from(loc.column()).unwrap_or(u32::MAX);
    let span = match at {
        Some(at) if line == 1 => Span::new(at.line, at.col.saturating_add(col - 1)),
        Some(at) => Span::new(at.line.saturating_add(line - 1), col),
        None => Span::new(line, col),
    };
    // hcl-edit quotes tokens with backticks ("expected `\"`, `[`"); quote them the way the
    // rest of Meridian's messages do.
    SyntaxError {
        span,
        message: e.message().replace('`', "'"),
    }
}

fn lower_body(body: &hs::Body, ix: &LineIndex<'_>, at: Span) -> Body {
    let mut out = Body {
        span: at,
        ..Body::default()
    };
    for s in body.iter() {
        match s {
            hs::Structure::Attribute(a) => {
                let span = ix.of(a.key.span(), at);
                out.attrs.push(Attribute {
                    name: a.key.as_str().to_owned(),
                    span,
                    expr: lower_expr(&a.value, ix, span),
                });
            }
            hs::Structure::Block(b) => {
                let span = ix.of(b.ident.span(), at);
                let labels = b
                    .labels
                    .iter()
                    .map(|l| {
                        let s = match l {
                            hs::BlockLabel::Ident(i) => ix.of(i.span(), span),
                            hs::BlockLabel::String(s) => ix.of(s.span(), span),
                        };
                        (l.as_str().to_owned(), s)
                    })
                    .collect();
                // A block's body is located at its header, where Terraform points at a
                // missing argument.
                out.blocks.push(Block {
                    ident: b.ident.as_str().to_owned(),
                    labels,
                    span,
                    body: lower_body(&b.body, ix, span),
                });
            }
        }
    }
    out
}

fn number(n: &hcl_edit::Number) -> Value {
    n.as_f64().map_or(Value::Null, Value::Number)
}

fn lower_expr(e: &Expression, ix: &LineIndex<'_>, parent: Span) -> Expr {
    let span = ix.of(e.span(), parent);
    let kind = match e {
        Expression::Null(_) => ExprKind::Literal(Value::Null),
        Expression::Bool(b) => ExprKind::Literal(Value::Bool(*b.value())),
        Expression::Number(n) => ExprKind::Literal(number(n.value())),
        Expression::String(s) => ExprKind::Literal(Value::String(s.value().clone())),
        Expression::Array(a) => {
            ExprKind::Tuple(a.iter().map(|x| lower_expr(x, ix, span)).collect())
        }
        Expression::Object(o) => ExprKind::Object(
            o.iter()
                .map(|(k, v)| {
                    let key = match k {
                        hx::ObjectKey::Ident(i) => {
                            ObjectKey::Ident(i.as_str().to_owned(), ix.of(i.span(), span))
                        }
                        hx::ObjectKey::Expression(e) => ObjectKey::Expr(lower_expr(e, ix, span)),
                    };
                    (key, lower_expr(v.expr(), ix, span))
                })
                .collect(),
        ),
        Expression::StringTemplate(t) => template_kind(lower_template(t, ix, span)),
        Expression::HeredocTemplate(h) => template_kind(lower_template(&h.template, ix, span)),
        Expression::Parenthesis(p) => ExprKind::Paren(Box::new(lower_expr(p.inner(), ix, span))),
        Expression::Variable(v) => ExprKind::Var(v.as_str().to_owned()),
        Expression::Conditional(c) => ExprKind::Cond(
            Box::new(lower_expr(&c.cond_expr, ix, span)),
            Box::new(lower_expr(&c.true_expr, ix, span)),
            Box::new(lower_expr(&c.false_expr, ix, span)),
        ),
        Expression::FuncCall(f) => {
            let mut name = String::new();
            for ns in &f.name.namespace {
                name.push_str(ns.as_str());
                name.push_str("::");
            }
            name.push_str(f.name.name.as_str());
            ExprKind::Call {
                name,
                args: f.args.iter().map(|a| lower_expr(a, ix, span)).collect(),
                expand: f.args.expand_final(),
            }
        }
        Expression::Traversal(t) => {
            let root = lower_expr(&t.expr, ix, span);
            let ops = t
                .operators
                .iter()
                .map(|op| {
                    let s = ix.of(op.span(), span);
                    match op.value() {
                        hx::TraversalOperator::AttrSplat(_) => Traverser::AttrSplat(s),
                        hx::TraversalOperator::FullSplat(_) => Traverser::FullSplat(s),
                        hx::TraversalOperator::GetAttr(i) => {
                            // The operator's span starts at the dot; the name is what a
                            // reader looks for.
                            Traverser::Attr(i.as_str().to_owned(), ix.of(i.span(), s))
                        }
                        hx::TraversalOperator::Index(e) => Traverser::Index(lower_expr(e, ix, s)),
                        hx::TraversalOperator::LegacyIndex(i) => {
                            Traverser::LegacyIndex(*i.value(), s)
                        }
                    }
                })
                .collect();
            ExprKind::Traversal(Box::new(root), ops)
        }
        Expression::UnaryOp(u) => {
            ExprKind::Unary(*u.operator.value(), Box::new(lower_expr(&u.expr, ix, span)))
        }
        Expression::BinaryOp(b) => ExprKind::Binary(
            *b.operator.value(),
            Box::new(lower_expr(&b.lhs_expr, ix, span)),
            Box::new(lower_expr(&b.rhs_expr, ix, span)),
        ),
        Expression::ForExpr(f) => ExprKind::For(Box::new(ForExpr {
            key_var: f.intro.key_var.as_ref().map(|k| k.as_str().to_owned()),
            value_var: f.intro.value_var.as_str().to_owned(),
            collection: lower_expr(&f.intro.collection_expr, ix, span),
            key: f.key_expr.as_ref().map(|k| lower_expr(k, ix, span)),
            value: lower_expr(&f.value_expr, ix, span),
            grouping: f.grouping,
            cond: f.cond.as_ref().map(|c| lower_expr(&c.expr, ix, span)),
        })),
    };
    Expr { span, kind }
}

/// A template that is one literal is a plain string.
pub(crate) fn template_kind(parts: Vec<Part>) -> ExprKind {
    match parts.as_slice() {
        [] => ExprKind::Literal(Value::String(String::new())),
        [Part::Lit(s)] => ExprKind::Literal(Value::String(s.clone())),
        _ => ExprKind::Template(parts),
    }
}

/// Lowers a template, applying `~` strip markers to the neighbouring literals.
fn lower_template(t: &ht::Template, ix: &LineIndex<'_>, at: Span) -> Vec<Part> {
    let mut parts: Vec<Part> = Vec::new();
    // Whether the next literal loses its leading whitespace (a `~}` before it).
    let mut strip_next = false;
    for el in t.iter() {
        match el {
            ht::Element::Literal(l) => {
                let mut s: &str = l.value();
                if strip_next {
                    s = s.trim_start();
                }
                strip_next = false;
                parts.push(Part::Lit(s.to_owned()));
            }
            ht::Element::Interpolation(i) => {
                if i.strip.strip_start() {
                    strip_prev(&mut parts);
                }
                strip_next = i.strip.strip_end();
                parts.push(Part::Interp(lower_expr(&i.expr, ix, at)));
            }
            ht::Element::Directive(d) => match d.as_ref() {
                ht::Directive::If(d) => {
                    if d.if_expr.strip.strip_start() {
                        strip_prev(&mut parts);
                    }
                    let mut then = lower_template(&d.if_expr.template, ix, at);
                    if d.if_expr.strip.strip_end() {
                        strip_first(&mut then);
                    }
                    let mut otherwise = Vec::new();
                    let end_strip_start = d.endif_expr.strip.strip_start();
                    if let Some(e) = &d.else_expr {
                        if e.strip.strip_start() {
                            strip_prev(&mut then);
                        }
                        otherwise = lower_template(&e.template, ix, at);
                        if e.strip.strip_end() {
                            strip_first(&mut otherwise);
                        }
                        if end_strip_start {
                            strip_prev(&mut otherwise);
                        }
                    } else if end_strip_start {
                        strip_prev(&mut then);
                    }
                    strip_next = d.endif_expr.strip.strip_end();
                    parts.push(Part::If {
                        cond: lower_expr(&d.if_expr.cond_expr, ix, at),
                        then,
                        otherwise,
                    });
                }
                ht::Directive::For(d) => {
                    let f = &d.for_expr;
                    if f.strip.strip_start() {
                        strip_prev(&mut parts);
                    }
                    let mut body = lower_template(&f.template, ix, at);
                    if f.strip.strip_end() {
                        strip_first(&mut body);
                    }
                    if d.endfor_expr.strip.strip_start() {
                        strip_prev(&mut body);
                    }
                    strip_next = d.endfor_expr.strip.strip_end();
                    parts.push(Part::For {
                        key_var: f.key_var.as_ref().map(|k| k.as_str().to_owned()),
                        value_var: f.value_var.as_str().to_owned(),
                        collection: lower_expr(&f.collection_expr, ix, at),
                        body,
                    });
                }
            },
        }
    }
    parts
}

fn strip_prev(parts: &mut [Part]) {
    if let Some(Part::Lit(s)) = parts.last_mut() {
        let t = s.trim_end().len();
        s.truncate(t);
    }
}

fn strip_first(parts: &mut [Part]) {
    if let Some(Part::Lit(s)) = parts.first_mut() {
        *s = s.trim_start().to_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_line_and_character_column() {
        let b = parse_body("resource \"a\" \"b\" {\n  x = \"é${var.y}\"\n}\n").expect("parses");
        let r = &b.blocks[0];
        assert_eq!(r.span, Span::new(1, 1));
        assert_eq!(r.labels[1].1, Span::new(1, 14));
        let x = &r.body.attrs[0];
        assert_eq!(x.span, Span::new(2, 3));
        assert_eq!(x.expr.span, Span::new(2, 7));
        let ExprKind::Template(parts) = &x.expr.kind else {
            panic!("{:?}", x.expr.kind)
        };
        let Part::Interp(e) = &parts[1] else {
            panic!("{parts:?}")
        };
        assert_eq!(e.span, Span::new(2, 11));
    }

    #[test]
    fn strip_markers_trim_whitespace() {
        let b = parse_body("x = \"a  ${~ \"b\" ~}  c\"\n").expect("parses");
        let ExprKind::Template(parts) = &b.attrs[0].expr.kind else {
            panic!()
        };
        assert!(matches!(&parts[0], Part::Lit(s) if s == "a"));
        assert!(matches!(&parts[2], Part::Lit(s) if s == "c"));
    }

    #[test]
    fn syntax_errors_carry_the_parser_position() {
        let e = parse_body("a = 1\nb = = 2\n").unwrap_err();
        assert_eq!(e.span.line, 2);
        assert!(e.message.contains("expected"), "{}", e.message);
        let deep = format!("a = {}1{}\n", "(".repeat(100), ")".repeat(100));
        let e = parse_body(&deep).unwrap_err();
        assert!(
            e.message.contains("at most 64 nested levels"),
            "{}",
            e.message
        );
    }

    #[test]
    fn nested_templates_are_positioned_inside_their_string() {
        let parts = parse_template("ab${x}", Span::new(7, 10)).expect("parses");
        let Part::Interp(e) = &parts[1] else { panic!() };
        assert_eq!(e.span, Span::new(7, 14));
    }
}
