//! Terraform's JSON syntax (`.tf.json`), lowered into the same tree as native syntax.
//!
//! JSON has no blocks: `"origin": {...}` may be an argument holding an object or a nested
//! block, and only the schema of the enclosing block can tell. Entries therefore stay raw in
//! [`Body::json`] until [`Body::content`] is called with the block names of the schema. Strings
//! are templates (`"${var.region}"`), as Terraform reads them; the positions of their
//! interpolations are counted from the string's opening quote.

use crate::node::{Node, Resolved, Span, Value as NodeValue};

use super::syntax::{
    Attribute, Block, Body, Expr, ExprKind, ObjectKey, SyntaxError, parse_template, template_kind,
};
use super::value::Value;

/// A key of a JSON object whose meaning waits for a schema.
#[derive(Debug, Clone)]
pub struct JsonEntry {
    /// The key.
    pub key: String,
    /// Where the key is.
    pub span: Span,
    /// The value, unconverted.
    pub value: Node,
}

/// The body a JSON object stands for; errors (a body that is not an object) are returned with
/// it.
pub fn body_of(node: &Node) -> (Body, Vec<SyntaxError>) {
    let mut body = Body {
        span: node.span,
        ..Body::default()
    };
    let mut errors = Vec::new();
    match node.as_map() {
        Some(entries) => {
            for e in entries {
                let key = e.key.as_str().unwrap_or_default();
                // "//" keys are comments in Terraform's JSON syntax.
                if key == "//" {
                    continue;
                }
                body.json.push(JsonEntry {
                    key: key.to_owned(),
                    span: e.key.span,
                    value: e.value.clone(),
                });
            }
        }
        None => errors.push(SyntaxError {
            span: node.span,
            message: format!(
                "expected a JSON object for a body, got {}",
                node.kind_name()
            ),
        }),
    }
    (body, errors)
}

impl JsonEntry {
    /// Adds this entry to `out` as an attribute or as blocks.
    pub(crate) fn lower(&self, labels: &dyn Fn(&str) -> Option<usize>, out: &mut Body) {
        match labels(&self.key) {
            Some(n) => self.blocks(&self.value, n, Vec::new(), out),
            None => match expr(&self.value) {
                Ok(e) => out.attrs.push(Attribute {
                    name: self.key.clone(),
                    span: self.span,
                    expr: e,
                }),
                Err(e) => out.errors.push(e),
            },
        }
    }

    fn blocks(&self, node: &Node, labels_left: usize, labels: Vec<(String, Span)>, out: &mut Body) {
        // An array at any level stands for several blocks of that shape.
        if let Some(items) = node.as_seq() {
            for item in items {
                self.blocks(item, labels_left, labels.clone(), out);
            }
            return;
        }
        let Some(entries) = node.as_map() else {
            out.errors.push(SyntaxError {
                span: node.span,
                message: format!(
                    "expected a JSON object for the \"{}\" block, got {}",
                    self.key,
                    node.kind_name()
                ),
            });
            return;
        };
        if labels_left == 0 {
            let (mut body, errors) = body_of(node);
            out.errors.extend(errors);
            body.span = node.span;
            out.blocks.push(Block {
                ident: self.key.clone(),
                labels,
                span: self.span,
                body,
            });
            return;
        }
        for e in entries {
            let key = e.key.as_str().unwrap_or_default();
            if key == "//" {
                continue;
            }
            let mut l = labels.clone();
            l.push((key.to_owned(), e.key.span));
            self.blocks(&e.value, labels_left - 1, l, out);
        }
    }
}

/// A JSON value as an expression: strings are templates, arrays tuples, objects objects.
pub fn expr(node: &Node) -> Result<Expr, SyntaxError> {
    let span = node.span;
    let kind = match &node.value {
        NodeValue::Seq(items) => ExprKind::Tuple(items.iter().map(expr).collect::<Result<_, _>>()?),
        NodeValue::Map(entries) => ExprKind::Object(
            entries
                .iter()
                .filter(|e| e.key.as_str() != Some("//"))
                .map(|e| {
                    let k = e.key.as_str().unwrap_or_default().to_owned();
                    Ok((ObjectKey::Ident(k, e.key.span), expr(&e.value)?))
                })
                .collect::<Result<_, SyntaxError>>()?,
        ),
        NodeValue::Scalar(..) => match node.resolve() {
            Some(Resolved::Null) | None => ExprKind::Literal(Value::Null),
            Some(Resolved::Bool(b)) => ExprKind::Literal(Value::Bool(b)),
            Some(Resolved::Int(i)) => {
                #[allow(clippy::cast_precision_loss)]
                let n = i as f64;
                ExprKind::Literal(Value::Number(n))
            }
            Some(Resolved::UInt(u)) => {
                #[allow(clippy::cast_precision_loss)]
                let n = u as f64;
                ExprKind::Literal(Value::Number(n))
            }
            Some(Resolved::Float(f)) => ExprKind::Literal(Value::Number(f)),
            Some(Resolved::Str(s)) => {
                if s.contains("${") || s.contains("%{") {
                    // The template starts after the opening quote.
                    template_kind(parse_template(s, Span::new(span.line, span.col + 1))?)
                } else {
                    ExprKind::Literal(Value::String(s.to_owned()))
                }
            }
        },
    };
    Ok(Expr { span, kind })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Limits, parse_stream};

    fn root(text: &str) -> Node {
        parse_stream(text, Limits::default())
            .expect("json")
            .remove(0)
            .root
            .expect("root")
    }

    #[test]
    fn blocks_and_attributes_follow_the_schema() {
        let n = root(
            r#"{"resource": {"aws_s3_bucket": {"a": {"bucket": "x-${var.env}", "versioning": {"enabled": true}}}}}"#,
        );
        let (top, errs) = body_of(&n);
        assert!(errs.is_empty());
        let top = top.content(&|k| (k == "resource").then_some(2));
        let r = &top.blocks[0];
        assert_eq!(r.ident, "resource");
        assert_eq!(r.label(0), "aws_s3_bucket");
        assert_eq!(r.label(1), "a");
        let body = r.body.content(&|k| (k == "versioning").then_some(0));
        assert_eq!(body.attrs[0].name, "bucket");
        assert!(matches!(body.attrs[0].expr.kind, ExprKind::Template(_)));
        assert_eq!(body.blocks[0].ident, "versioning");
    }

    #[test]
    fn arrays_make_several_blocks() {
        let n = root(r#"{"origin": [{"origin_id": "a"}, {"origin_id": "b"}]}"#);
        let (b, _) = body_of(&n);
        let b = b.content(&|k| (k == "origin").then_some(0));
        assert_eq!(b.blocks.len(), 2);
    }
}
