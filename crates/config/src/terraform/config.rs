//! A module's files read into declarations: variables, locals, outputs, providers, resources,
//! data sources and module calls, as `terraform` reads a folder.
//!
//! Every `.tf` and `.tf.json` file of the folder belongs to one module; their order does not
//! matter. Duplicate names, unknown top-level blocks and malformed meta-arguments are reported
//! here; what the arguments mean is the evaluator's business.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostic, Severity};
use crate::node::{Limits as NodeLimits, Span, parse_stream};
use crate::path::FieldPath;

use super::schema::{Hint, Sink};
use super::syntax::{Block, Body, Expr, ExprKind, parse_body, parse_expr};
use super::value::{ObjectAttr, Type, Value};

/// Top-level block types and how many labels each takes.
const TOP: &[(&str, usize)] = &[
    ("terraform", 0),
    ("provider", 1),
    ("variable", 1),
    ("locals", 0),
    ("output", 1),
    ("module", 1),
    ("resource", 2),
    ("data", 2),
    ("moved", 0),
    ("import", 0),
    ("removed", 0),
    ("check", 1),
];

/// Whether a resource is managed (`resource`) or read (`data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `resource`.
    Managed,
    /// `data`.
    Data,
}

/// A `variable` block.
#[derive(Debug, Clone)]
pub struct Variable {
    /// Name.
    pub name: String,
    /// File.
    pub file: Arc<Path>,
    /// Where the block is.
    pub span: Span,
    /// Type constraint (`any` when not given).
    pub ty: Type,
    /// Default, when declared.
    pub default: Option<Expr>,
    /// `description`.
    pub description: Option<String>,
    /// `sensitive`.
    pub sensitive: bool,
    /// `nullable` (true by default).
    pub nullable: bool,
    /// `validation` blocks: condition and error message.
    pub validations: Vec<(Expr, Expr)>,
}

/// One `name = expr` of a `locals` block.
#[derive(Debug, Clone)]
pub struct Local {
    /// Name.
    pub name: String,
    /// File.
    pub file: Arc<Path>,
    /// Where the name is.
    pub span: Span,
    /// Value.
    pub expr: Expr,
}

/// An `output` block.
#[derive(Debug, Clone)]
pub struct Output {
    /// Name.
    pub name: String,
    /// File.
    pub file: Arc<Path>,
    /// Where the block is.
    pub span: Span,
    /// `value`.
    pub value: Option<Expr>,
    /// `description`.
    pub description: Option<String>,
    /// `sensitive`.
    pub sensitive: bool,
    /// `depends_on`.
    pub depends_on: Vec<Expr>,
    /// `precondition` blocks.
    pub preconditions: Vec<(Expr, Expr)>,
}

/// A `provider` block.
#[derive(Debug, Clone)]
pub struct Provider {
    /// Provider name (`aws`).
    pub name: String,
    /// `alias`, when given.
    pub alias: Option<String>,
    /// File.
    pub file: Arc<Path>,
    /// Where the block is.
    pub span: Span,
    /// The body without `alias`.
    pub body: Body,
}

impl Provider {
    /// `aws` or `aws.west`.
    pub fn address(&self) -> String {
        match &self.alias {
            Some(a) => format!("{}.{a}", self.name),
            None => self.name.clone(),
        }
    }
}

/// A reference to a provider configuration: `aws` or `aws.west`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProviderRef {
    /// Provider name.
    pub name: String,
    /// Alias.
    pub alias: Option<String>,
}

impl std::fmt::Display for ProviderRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.alias {
            Some(a) => write!(f, "{}.{a}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A `resource` or `data` block.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Managed or data.
    pub mode: Mode,
    /// Resource type.
    pub type_name: String,
    /// Name.
    pub name: String,
    /// File.
    pub file: Arc<Path>,
    /// Where the block is.
    pub span: Span,
    /// Where the type label is.
    pub type_span: Span,
    /// The body (meta-arguments included; the evaluator separates them with the schema).
    pub body: Body,
}

impl Resource {
    /// `aws_s3_bucket.x` or `data.aws_region.current`.
    pub fn address(&self) -> String {
        match self.mode {
            Mode::Managed => format!("{}.{}", self.type_name, self.name),
            Mode::Data => format!("data.{}.{}", self.type_name, self.name),
        }
    }
}

/// A `module` block.
#[derive(Debug, Clone)]
pub struct ModuleCall {
    /// Name.
    pub name: String,
    /// File.
    pub file: Arc<Path>,
    /// Where the block is.
    pub span: Span,
    /// `source`, resolved against the calling module's folder, when it is a local path.
    pub source: Option<PathBuf>,
    /// The body (inputs and meta-arguments).
    pub body: Body,
}

/// A `terraform` block's `required_providers` entry.
#[derive(Debug, Clone)]
pub struct RequiredProvider {
    /// Local name.
    pub name: String,
    /// `source` (`hashicorp/aws`).
    pub source: Option<String>,
    /// `version` constraint.
    pub version: Option<String>,
}

/// One module's declarations.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Its folder.
    pub dir: PathBuf,
    /// Its files.
    pub files: Vec<Arc<Path>>,
    /// `variable` blocks.
    pub variables: Vec<Variable>,
    /// Local values.
    pub locals: Vec<Local>,
    /// `output` blocks.
    pub outputs: Vec<Output>,
    /// `provider` blocks.
    pub providers: Vec<Provider>,
    /// `resource` and `data` blocks.
    pub resources: Vec<Resource>,
    /// `module` blocks.
    pub modules: Vec<ModuleCall>,
    /// `required_providers`.
    pub required_providers: Vec<RequiredProvider>,
}

/// A file's text and its name.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path (for messages and relative paths).
    pub path: PathBuf,
    /// Contents.
    pub text: String,
}

fn is_json(p: &Path) -> bool {
    p.to_string_lossy().ends_with(".json")
}

/// Reads `sources` (the files of one folder) into a module's declarations.
pub fn read(dir: &Path, sources: &[Source], diags: &mut Vec<Diagnostic>) -> Config {
    let mut cfg = Config {
        dir: dir.to_path_buf(),
        ..Config::default()
    };
    for src in sources {
        let file: Arc<Path> = Arc::from(src.path.as_path());
        cfg.files.push(file.clone());
        let mut sink = Sink {
            file: file.clone(),
            resource: None,
            out: diags,
        };
        let body = if is_json(&src.path) {
            let docs = match parse_stream(&src.text, NodeLimits::default()) {
                Ok(d) => d,
                Err(e) => {
                    sink.error(e.span, &FieldPath::root(), e.message);
                    continue;
                }
            };
            let Some(root) = docs.into_iter().find_map(|d| d.root) else {
                continue;
            };
            let (body, errors) = super::json::body_of(&root);
            for e in errors {
                sink.error(e.span, &FieldPath::root(), e.message);
            }
            body
        } else {
            match parse_body(&src.text) {
                Ok(b) => b,
                Err(e) => {
                    sink.error(e.span, &FieldPath::root(), e.message);
                    continue;
                }
            }
        };
        let body = body.content(&|n| TOP.iter().find(|(t, _)| *t == n).map(|(_, l)| *l));
        for e in &body.errors {
            sink.error(e.span, &FieldPath::root(), e.message.clone());
        }
        for a in &body.attrs {
            match crate::diag::did_you_mean(&a.name, TOP.iter().map(|(t, _)| *t)) {
                Some(c) => {
                    sink.error(
                        a.span,
                        &FieldPath::root(),
                        format!("unsupported block type \"{}\"", a.name),
                    )
                    .hint(format!("did you mean \"{c}\"?"));
                }
                None => {
                    sink.error(
                        a.span,
                        &FieldPath::root(),
                        format!("an argument named \"{}\" is not expected here", a.name),
                    )
                    .hint("top-level arguments are not allowed; did you mean a locals block?");
                }
            }
        }
        for b in &body.blocks {
            top_block(&mut cfg, &file, b, &mut sink);
        }
    }
    duplicates(&cfg, diags);
    cfg
}

fn labels_ok(b: &Block, want: usize, sink: &mut Sink<'_>) -> bool {
    if b.labels.len() == want {
        return true;
    }
    let msg = match want {
        0 => format!("a {} block takes no labels", b.ident),
        1 => format!("a {} block takes one label (its name)", b.ident),
        _ => format!("a {} block takes two labels (type and name)", b.ident),
    };
    sink.error(b.span, &FieldPath::root(), msg);
    false
}

fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    c.next().is_some_and(|f| f.is_alphabetic() || f == '_')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

fn check_name(b: &Block, i: usize, sink: &mut Sink<'_>) -> bool {
    let (name, span) = &b.labels[i];
    if valid_name(name) {
        return true;
    }
    sink.error(*span, &FieldPath::root(), format!("invalid name \"{name}\""))
        .hint("a name starts with a letter or underscore and holds only letters, digits, underscores and dashes");
    false
}

fn top_block(cfg: &mut Config, file: &Arc<Path>, b: &Block, sink: &mut Sink<'_>) {
    let Some((_, want)) = TOP.iter().find(|(t, _)| *t == b.ident) else {
        let d = sink.error(
            b.span,
            &FieldPath::root(),
            format!("unsupported block type \"{}\"", b.ident),
        );
        d.suggest(&b.ident, TOP.iter().map(|(t, _)| *t));
        return;
    };
    if !labels_ok(b, *want, sink) {
        return;
    }
    match b.ident.as_str() {
        "variable" if check_name(b, 0, sink) => variable(cfg, file, b, sink),
        "locals" => {
            let body = b.body.content(&|_| None);
            for a in &body.attrs {
                cfg.locals.push(Local {
                    name: a.name.clone(),
                    file: file.clone(),
                    span: a.span,
                    expr: a.expr.clone(),
                });
            }
            for x in &body.blocks {
                sink.error(
                    x.span,
                    &FieldPath::root().field("locals"),
                    format!(
                        "blocks are not allowed in locals; \"{}\" is a block",
                        x.ident
                    ),
                );
            }
        }
        "output" if check_name(b, 0, sink) => output(cfg, file, b, sink),
        "provider" => {
            let body = b.body.content(&|n| match n {
                "assume_role"
                | "assume_role_with_web_identity"
                | "default_tags"
                | "endpoints"
                | "ignore_tags"
                | "features" => Some(0),
                _ => None,
            });
            let mut alias = None;
            let mut rest = Body {
                span: body.span,
                ..Body::default()
            };
            for a in &body.attrs {
                if a.name == "alias" {
                    match a.expr.as_literal_str() {
                        Some(s) if valid_name(s) => alias = Some(s.to_owned()),
                        _ => {
                            sink.error(
                                a.expr.span,
                                &FieldPath::root().field("alias"),
                                "alias must be a name in quotes",
                            );
                        }
                    }
                } else {
                    rest.attrs.push(a.clone());
                }
            }
            rest.blocks = body.blocks.clone();
            cfg.providers.push(Provider {
                name: b.label(0).to_owned(),
                alias,
                file: file.clone(),
                span: b.span,
                body: rest,
            });
        }
        "resource" | "data" => {
            if !check_name(b, 1, sink) {
                return;
            }
            cfg.resources.push(Resource {
                mode: if b.ident == "resource" {
                    Mode::Managed
                } else {
                    Mode::Data
                },
                type_name: b.label(0).to_owned(),
                name: b.label(1).to_owned(),
                file: file.clone(),
                span: b.span,
                type_span: b.labels[0].1,
                body: b.body.clone(),
            });
        }
        "module" if check_name(b, 0, sink) => module_call(cfg, file, b, sink),
        "terraform" => terraform_block(cfg, b, sink),
        // State-only and test-only blocks change nothing Meridian serves.
        _ => {}
    }
}

fn literal_string(e: &Expr, field: &FieldPath, sink: &mut Sink<'_>) -> Option<String> {
    match e.as_literal_str() {
        Some(s) => Some(s.to_owned()),
        None => {
            sink.error(
                e.span,
                field,
                "expected a literal string here (no references or functions)",
            );
            None
        }
    }
}

fn literal_bool(e: &Expr, field: &FieldPath, sink: &mut Sink<'_>) -> bool {
    match &e.kind {
        ExprKind::Literal(Value::Bool(b)) => *b,
        ExprKind::Literal(Value::String(s)) if s == "true" || s == "false" => s == "true",
        _ => {
            sink.error(e.span, field, "expected true or false");
            false
        }
    }
}

fn variable(cfg: &mut Config, file: &Arc<Path>, b: &Block, sink: &mut Sink<'_>) {
    let name = b.label(0).to_owned();
    let here = FieldPath::root().field("variable").key(name.clone());
    if matches!(
        name.as_str(),
        "source"
            | "version"
            | "providers"
            | "count"
            | "for_each"
            | "lifecycle"
            | "depends_on"
            | "locals"
    ) {
        sink.error(
            b.labels[0].1,
            &here,
            format!("\"{name}\" is reserved and cannot be a variable name"),
        );
    }
    let body = b.body.content(&|n| (n == "validation").then_some(0));
    let mut v = Variable {
        name,
        file: file.clone(),
        span: b.span,
        ty: Type::Any,
        default: None,
        description: None,
        sensitive: false,
        nullable: true,
        validations: Vec::new(),
    };
    for a in &body.attrs {
        let field = here.field(a.name.clone());
        match a.name.as_str() {
            "type" => {
                if let Some(t) = type_expr(&a.expr, &field, sink, 0) {
                    v.ty = t;
                }
            }
            "default" => v.default = Some(a.expr.clone()),
            "description" => v.description = literal_string(&a.expr, &field, sink),
            "sensitive" => v.sensitive = literal_bool(&a.expr, &field, sink),
            "nullable" => v.nullable = literal_bool(&a.expr, &field, sink),
            "ephemeral" => {
                literal_bool(&a.expr, &field, sink);
            }
            other => {
                sink.error(
                    a.span,
                    &field,
                    format!("unknown argument \"{other}\" in a variable block"),
                )
                .suggest(
                    other,
                    [
                        "type",
                        "default",
                        "description",
                        "sensitive",
                        "nullable",
                        "ephemeral",
                        "validation",
                    ],
                );
            }
        }
    }
    for x in &body.blocks {
        if x.ident != "validation" {
            sink.error(
                x.span,
                &here.field(x.ident.clone()),
                format!("unknown block type \"{}\" in a variable block", x.ident),
            )
            .suggest(&x.ident, ["validation"]);
            continue;
        }
        let vb = x.body.content(&|_| None);
        let cond = vb.attr("condition").map(|a| a.expr.clone());
        let msg = vb.attr("error_message").map(|a| a.expr.clone());
        for a in &vb.attrs {
            if a.name != "condition" && a.name != "error_message" {
                sink.error(
                    a.span,
                    &here.field("validation").field(a.name.clone()),
                    format!("unknown argument \"{}\" in a validation block", a.name),
                )
                .suggest(&a.name, ["condition", "error_message"]);
            }
        }
        match (cond, msg) {
            (Some(c), Some(m)) => v.validations.push((c, m)),
            (None, _) => {
                sink.error(
                    x.span,
                    &here.field("validation"),
                    "required argument \"condition\" is missing",
                );
            }
            (_, None) => {
                sink.error(
                    x.span,
                    &here.field("validation"),
                    "required argument \"error_message\" is missing",
                );
            }
        }
    }
    cfg.variables.push(v);
}

/// Reads a type constraint (`list(object({ name = string }))`).
pub fn type_expr(e: &Expr, field: &FieldPath, sink: &mut Sink<'_>, depth: usize) -> Option<Type> {
    if depth > 32 {
        sink.error(e.span, field, "type constraint nested too deeply");
        return None;
    }
    let bad = |sink: &mut Sink<'_>, what: String| {
        sink.error(e.span, field, format!("invalid type constraint: {what}"))
            .hint("use string, number, bool, any, list(T), set(T), map(T), tuple([...]) or object({...})");
        None
    };
    match &e.kind {
        ExprKind::Var(n) => match n.as_str() {
            "string" => Some(Type::String),
            "number" => Some(Type::Number),
            "bool" => Some(Type::Bool),
            "any" => Some(Type::Any),
            "list" | "set" | "map" => Some(match n.as_str() {
                "list" => Type::List(Box::new(Type::Any)),
                "set" => Type::Set(Box::new(Type::Any)),
                _ => Type::Map(Box::new(Type::Any)),
            }),
            other => bad(sink, format!("unknown type \"{other}\"")),
        },
        ExprKind::Literal(Value::String(s)) => {
            // The JSON syntax writes types as strings; native syntax once allowed "string".
            match parse_expr(s, Span::new(e.span.line, e.span.col + 1)) {
                Ok(inner) if !matches!(inner.kind, ExprKind::Literal(_)) => {
                    type_expr(&inner, field, sink, depth + 1)
                }
                _ => bad(sink, format!("\"{s}\"")),
            }
        }
        ExprKind::Call { name, args, .. } => match (name.as_str(), args.as_slice()) {
            ("list", [t]) => Some(Type::List(Box::new(type_expr(t, field, sink, depth + 1)?))),
            ("set", [t]) => Some(Type::Set(Box::new(type_expr(t, field, sink, depth + 1)?))),
            ("map", [t]) => Some(Type::Map(Box::new(type_expr(t, field, sink, depth + 1)?))),
            ("tuple", [t]) => match &t.kind {
                ExprKind::Tuple(items) => {
                    let mut out = Vec::new();
                    for i in items {
                        out.push(type_expr(i, field, sink, depth + 1)?);
                    }
                    Some(Type::Tuple(out))
                }
                _ => bad(sink, "tuple takes a list of types".into()),
            },
            ("object", [t]) => match &t.kind {
                ExprKind::Object(items) => {
                    let mut attrs = Vec::new();
                    for (k, v) in items {
                        let name = match k {
                            super::syntax::ObjectKey::Ident(n, _) => n.clone(),
                            super::syntax::ObjectKey::Expr(x) => x.as_literal_str()?.to_owned(),
                        };
                        let (ty, optional, default) = match &v.kind {
                            ExprKind::Call { name, args, .. } if name == "optional" => {
                                match args.as_slice() {
                                    [t] => (type_expr(t, field, sink, depth + 1)?, true, None),
                                    [t, d] => {
                                        let dv = literal_value(d);
                                        if dv.is_none() {
                                            sink.error(d.span, field, "an optional attribute's default must be a literal value");
                                        }
                                        (type_expr(t, field, sink, depth + 1)?, true, dv)
                                    }
                                    _ => {
                                        return bad(
                                            sink,
                                            "optional takes a type and an optional default".into(),
                                        );
                                    }
                                }
                            }
                            _ => (type_expr(v, field, sink, depth + 1)?, false, None),
                        };
                        attrs.push(ObjectAttr {
                            name,
                            ty,
                            optional,
                            default,
                        });
                    }
                    Some(Type::Object(attrs))
                }
                _ => bad(sink, "object takes an object of attribute types".into()),
            },
            (other, _) => bad(sink, format!("{other}(...)")),
        },
        _ => bad(sink, "not a type".into()),
    }
}

/// A literal expression's value (no references or calls).
pub fn literal_value(e: &Expr) -> Option<Value> {
    match &e.kind {
        ExprKind::Literal(v) => Some(v.clone()),
        ExprKind::Tuple(items) => Some(Value::tuple(
            items.iter().map(literal_value).collect::<Option<_>>()?,
        )),
        ExprKind::Object(items) => {
            let mut m = std::collections::BTreeMap::new();
            for (k, v) in items {
                let key = match k {
                    super::syntax::ObjectKey::Ident(n, _) => n.clone(),
                    super::syntax::ObjectKey::Expr(x) => x.as_literal_str()?.to_owned(),
                };
                m.insert(key, literal_value(v)?);
            }
            Some(Value::object(m))
        }
        ExprKind::Paren(x) => literal_value(x),
        ExprKind::Unary(super::syntax::UnaryOperator::Neg, x) => match literal_value(x)? {
            Value::Number(n) => Some(Value::Number(-n)),
            _ => None,
        },
        _ => None,
    }
}

fn output(cfg: &mut Config, file: &Arc<Path>, b: &Block, sink: &mut Sink<'_>) {
    let name = b.label(0).to_owned();
    let here = FieldPath::root().field("output").key(name.clone());
    let body = b.body.content(&|n| (n == "precondition").then_some(0));
    let mut o = Output {
        name,
        file: file.clone(),
        span: b.span,
        value: None,
        description: None,
        sensitive: false,
        depends_on: Vec::new(),
        preconditions: Vec::new(),
    };
    for a in &body.attrs {
        let field = here.field(a.name.clone());
        match a.name.as_str() {
            "value" => o.value = Some(a.expr.clone()),
            "description" => o.description = literal_string(&a.expr, &field, sink),
            "sensitive" => o.sensitive = literal_bool(&a.expr, &field, sink),
            "ephemeral" => {
                literal_bool(&a.expr, &field, sink);
            }
            "depends_on" => o.depends_on = depends_on(&a.expr, &field, sink),
            other => {
                sink.error(
                    a.span,
                    &field,
                    format!("unknown argument \"{other}\" in an output block"),
                )
                .suggest(
                    other,
                    [
                        "value",
                        "description",
                        "sensitive",
                        "depends_on",
                        "ephemeral",
                    ],
                );
            }
        }
    }
    for x in &body.blocks {
        if x.ident != "precondition" {
            sink.error(
                x.span,
                &here.field(x.ident.clone()),
                format!("unknown block type \"{}\" in an output block", x.ident),
            )
            .suggest(&x.ident, ["precondition"]);
            continue;
        }
        let pb = x.body.content(&|_| None);
        if let (Some(c), Some(m)) = (pb.attr("condition"), pb.attr("error_message")) {
            o.preconditions.push((c.expr.clone(), m.expr.clone()));
        } else {
            sink.error(
                x.span,
                &here.field("precondition"),
                "a precondition needs condition and error_message",
            );
        }
    }
    if o.value.is_none() {
        sink.error(b.span, &here, "required argument \"value\" is missing");
    }
    cfg.outputs.push(o);
}

/// `depends_on = [a.b, module.c]`: static references only.
pub fn depends_on(e: &Expr, field: &FieldPath, sink: &mut Sink<'_>) -> Vec<Expr> {
    let ExprKind::Tuple(items) = &e.kind else {
        sink.error(e.span, field, "depends_on must be a list of references");
        return Vec::new();
    };
    let mut out = Vec::new();
    for i in items {
        let item = match &i.kind {
            // JSON writes references as strings.
            ExprKind::Literal(Value::String(s)) => {
                match parse_expr(s, Span::new(i.span.line, i.span.col + 1)) {
                    Ok(x) => x,
                    Err(e) => {
                        sink.error(e.span, field, e.message);
                        continue;
                    }
                }
            }
            _ => i.clone(),
        };
        if item.static_path().is_none() {
            sink.error(i.span, field, "depends_on entries must be references to resources or modules, like aws_s3_bucket.x");
            continue;
        }
        out.push(item);
    }
    out
}

fn module_call(cfg: &mut Config, file: &Arc<Path>, b: &Block, sink: &mut Sink<'_>) {
    let name = b.label(0).to_owned();
    let here = FieldPath::root().field("module").key(name.clone());
    let body = b.body.content(&|_| None);
    let mut source = None;
    match body.attr("source") {
        None => {
            sink.error(b.span, &here, "required argument \"source\" is missing");
        }
        Some(a) => {
            if let Some(s) = literal_string(&a.expr, &here.field("source"), sink) {
                if s.starts_with("./") || s.starts_with("../") {
                    let base = file.parent().unwrap_or(Path::new("."));
                    source = Some(base.join(&s));
                } else {
                    sink.error(a.expr.span, &here.field("source"), format!("module source \"{s}\" is not a local path"))
                        .hint("Meridian reads local modules only (./ or ../); copy the module beside the configuration");
                }
            }
        }
    }
    if body.attr("version").is_some() && source.is_some() {
        sink.error(
            body.attr("version").map_or(b.span, |a| a.span),
            &here.field("version"),
            "a local module cannot have a version",
        );
    }
    cfg.modules.push(ModuleCall {
        name,
        file: file.clone(),
        span: b.span,
        source,
        body: b.body.clone(),
    });
}

fn terraform_block(cfg: &mut Config, b: &Block, sink: &mut Sink<'_>) {
    let here = FieldPath::root().field("terraform");
    let body = b.body.content(&|n| match n {
        "required_providers" | "cloud" | "provider_meta" => Some(0),
        "backend" => Some(1),
        _ => None,
    });
    for a in &body.attrs {
        if !matches!(
            a.name.as_str(),
            "required_version" | "experiments" | "language"
        ) {
            sink.error(
                a.span,
                &here.field(a.name.clone()),
                format!("unknown argument \"{}\" in a terraform block", a.name),
            )
            .suggest(&a.name, ["required_version", "experiments"]);
        }
    }
    for x in &body.blocks {
        match x.ident.as_str() {
            "required_providers" => {
                let rp = x.body.content(&|_| None);
                for a in &rp.attrs {
                    let mut r = RequiredProvider {
                        name: a.name.clone(),
                        source: None,
                        version: None,
                    };
                    match literal_value(&a.expr) {
                        Some(Value::String(v)) => r.version = Some(v),
                        Some(Value::Map(_, m)) => {
                            r.source = m.get("source").and_then(|v| v.as_str()).map(str::to_owned);
                            r.version =
                                m.get("version").and_then(|v| v.as_str()).map(str::to_owned);
                        }
                        _ => {
                            sink.error(
                                a.expr.span,
                                &here.field("required_providers").field(a.name.clone()),
                                "expected { source = \"...\", version = \"...\" }",
                            );
                        }
                    }
                    cfg.required_providers.push(r);
                }
            }
            "backend" | "cloud" | "provider_meta" => {}
            other => {
                sink.error(
                    x.span,
                    &here.field(other.to_owned()),
                    format!("unknown block type \"{other}\" in a terraform block"),
                )
                .suggest(other, ["required_providers", "backend", "cloud"]);
            }
        }
    }
}

fn duplicates(cfg: &Config, diags: &mut Vec<Diagnostic>) {
    fn dup<'a>(
        diags: &mut Vec<Diagnostic>,
        items: impl Iterator<Item = (String, &'a Arc<Path>, Span)>,
        what: &str,
    ) {
        let mut seen: HashMap<String, (&Arc<Path>, Span)> = HashMap::new();
        for (name, file, span) in items {
            if let Some((f, s)) = seen.get(&name) {
                diags.push(Diagnostic {
                    severity: Severity::Error,
                    file: file.clone(),
                    span,
                    resource: None,
                    field: FieldPath::root(),
                    message: format!(
                        "duplicate {what} {name}: first declared at {}:{}",
                        f.file_name().map_or_else(
                            || f.display().to_string(),
                            |n| n.to_string_lossy().into_owned()
                        ),
                        s
                    ),
                    hint: Some(format!("{what} names must be unique in a module")),
                    code: None,
                });
            } else {
                seen.insert(name, (file, span));
            }
        }
    }
    dup(
        diags,
        cfg.variables
            .iter()
            .map(|v| (format!("\"{}\"", v.name), &v.file, v.span)),
        "variable",
    );
    dup(
        diags,
        cfg.locals
            .iter()
            .map(|v| (format!("\"{}\"", v.name), &v.file, v.span)),
        "local value",
    );
    dup(
        diags,
        cfg.outputs
            .iter()
            .map(|v| (format!("\"{}\"", v.name), &v.file, v.span)),
        "output",
    );
    dup(
        diags,
        cfg.modules
            .iter()
            .map(|v| (format!("\"{}\"", v.name), &v.file, v.span)),
        "module",
    );
    dup(
        diags,
        cfg.resources.iter().map(|r| (r.address(), &r.file, r.span)),
        "resource",
    );
    dup(
        diags,
        cfg.providers.iter().map(|p| (p.address(), &p.file, p.span)),
        "provider configuration",
    );
}
