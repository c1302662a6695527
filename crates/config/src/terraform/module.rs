//! Evaluating a module: every declaration in dependency order, each resource decoded against
//! its schema, instances expanded from `count` and `for_each`, child modules evaluated in
//! their own scope, outputs computed.
//!
//! A declaration that fails (or sits in a cycle) leaves an unknown value behind, so what
//! refers to it is not reported again: each mistake is reported once, where it is.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostic, did_you_mean};
use crate::node::Span;
use crate::path::FieldPath;

use super::config::{self, Config, Mode, ProviderRef, Source};
use super::eval::{Budget, EvalError, Evaluator, Files, Limits, Names, Ref};
use super::graph;
use super::resources::{self, Computed, Inst, Spec};
use super::schema::{self, Hint, Sink, Spans};
use super::syntax::{Body, Expr, ExprKind};
use super::value::{Value, convert};
use super::vars::{CliInputs, Input};

/// How to read a configuration.
#[derive(Debug, Clone)]
pub struct Options {
    /// `-var`, `-var-file` and the environment.
    pub inputs: CliInputs,
    /// The AWS account id computed ARNs carry.
    pub account_id: String,
    /// The AWS region of a provider configuration that names none.
    pub default_region: String,
    /// Evaluation limits.
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            inputs: CliInputs::default(),
            account_id: "123456789012".into(),
            default_region: "us-east-1".into(),
            limits: Limits::default(),
        }
    }
}

/// An instance key: `[0]` or `["name"]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum InstanceKey {
    /// From `count`.
    Index(usize),
    /// From `for_each`.
    Key(String),
}

impl std::fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstanceKey::Index(i) => write!(f, "[{i}]"),
            InstanceKey::Key(k) => write!(f, "[{k:?}]"),
        }
    }
}

/// One instance of a resource or data source.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Instance {
    /// Full address: `module.a.aws_s3_bucket.b["k"]`.
    pub address: String,
    /// Managed or data.
    pub mode: Mode,
    /// Resource type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Name label.
    pub name: String,
    /// The instance key, with `count` or `for_each`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<InstanceKey>,
    /// File.
    #[serde(serialize_with = "ser_path")]
    pub file: Arc<Path>,
    /// Where the block is.
    pub span: Span,
    /// The provider configuration (`aws.us_east_1`).
    pub provider: String,
    /// The region it is placed in (an AWS region, an Azure location, or `global`).
    pub region: String,
    /// Every attribute, computed ones included.
    pub attributes: Value,
    /// Positions of its arguments.
    #[serde(skip)]
    pub spans: Spans,
    /// The typed resource.
    pub spec: Spec,
}

fn ser_path<S: serde::Serializer>(p: &Arc<Path>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&p.display())
}

/// An output's value.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutputValue {
    /// Name.
    pub name: String,
    /// Value.
    pub value: Value,
    /// `sensitive`.
    pub sensitive: bool,
    /// `description`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An evaluated provider configuration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProviderConfig {
    /// `aws` or `aws.west`.
    pub address: String,
    /// Its region (AWS) when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `default_tags`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub default_tags: BTreeMap<String, String>,
}

/// An evaluated module (the root one holds its children's instances too).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Module {
    /// Its folder.
    pub dir: PathBuf,
    /// Its files.
    #[serde(skip)]
    pub files: Vec<Arc<Path>>,
    /// Every resource and data source instance.
    pub instances: Vec<Instance>,
    /// Outputs, by name.
    pub outputs: Vec<OutputValue>,
    /// Provider configurations.
    pub providers: Vec<ProviderConfig>,
    /// Input variables.
    pub variables: BTreeMap<String, Value>,
}

/// What a whole load shares: limits, the step budget and the module call stack.
pub(crate) struct Ctx<'a> {
    pub opts: &'a Options,
    pub budget: &'a Budget,
    /// Canonical root folder: nothing outside it is read.
    pub root: PathBuf,
    /// Folders of the modules being evaluated, outermost first.
    pub stack: Vec<PathBuf>,
}

/// Values given to a module: variable name → value, with where it was given.
pub(crate) type ModuleInputs = HashMap<String, Input>;

struct Values<'c> {
    cfg: &'c Config,
    vars: HashMap<String, Value>,
    locals: HashMap<String, Value>,
    resources: HashMap<(Mode, String, String), Value>,
    modules: HashMap<String, Value>,
    path_module: String,
    path_root: String,
}

impl Names for Values<'_> {
    fn lookup(&self, r: &Ref, span: Span) -> Result<Value, EvalError> {
        let cfg = self.cfg;
        match r {
            Ref::Var(n) => {
                if cfg.variables.iter().any(|v| &v.name == n) {
                    return Ok(self.vars.get(n).cloned().unwrap_or(Value::Unknown));
                }
                Err(EvalError::new(
                    span,
                    format!("reference to undeclared input variable \"{n}\""),
                )
                .suggest(n, cfg.variables.iter().map(|v| v.name.as_str())))
            }
            Ref::Local(n) => {
                if cfg.locals.iter().any(|v| &v.name == n) {
                    return Ok(self.locals.get(n).cloned().unwrap_or(Value::Unknown));
                }
                Err(
                    EvalError::new(span, format!("reference to undeclared local value \"{n}\""))
                        .suggest(n, cfg.locals.iter().map(|v| v.name.as_str())),
                )
            }
            Ref::Resource(t, n) => self.resource(Mode::Managed, t, n, span),
            Ref::Data(t, n) => self.resource(Mode::Data, t, n, span),
            Ref::Module(n) => {
                if cfg.modules.iter().any(|m| &m.name == n) {
                    return Ok(self.modules.get(n).cloned().unwrap_or(Value::Unknown));
                }
                Err(
                    EvalError::new(span, format!("reference to undeclared module \"{n}\""))
                        .suggest(n, cfg.modules.iter().map(|m| m.name.as_str())),
                )
            }
            Ref::Path(a) => match a.as_str() {
                "module" => Ok(Value::str(self.path_module.clone())),
                "root" => Ok(Value::str(self.path_root.clone())),
                "cwd" => Ok(Value::str(
                    std::env::current_dir()
                        .map(|d| d.display().to_string())
                        .unwrap_or_default(),
                )),
                other => Err(
                    EvalError::new(span, format!("path has no attribute \"{other}\""))
                        .suggest(other, ["module", "root", "cwd"]),
                ),
            },
            Ref::Terraform(a) => match a.as_str() {
                "workspace" => Ok(Value::str("default")),
                other => Err(EvalError::new(
                    span,
                    format!("terraform has no attribute \"{other}\""),
                )
                .suggest(other, ["workspace"])),
            },
        }
    }
}

impl Values<'_> {
    fn resource(&self, mode: Mode, t: &str, n: &str, span: Span) -> Result<Value, EvalError> {
        let cfg = self.cfg;
        if cfg
            .resources
            .iter()
            .any(|r| r.mode == mode && r.type_name == t && r.name == n)
        {
            return Ok(self
                .resources
                .get(&(mode, t.to_owned(), n.to_owned()))
                .cloned()
                .unwrap_or(Value::Unknown));
        }
        let what = if mode == Mode::Data {
            "data source"
        } else {
            "resource"
        };
        let addr = if mode == Mode::Data {
            format!("data.{t}.{n}")
        } else {
            format!("{t}.{n}")
        };
        let same_type: Vec<&str> = cfg
            .resources
            .iter()
            .filter(|r| r.mode == mode && r.type_name == t)
            .map(|r| r.name.as_str())
            .collect();
        let e = EvalError::new(span, format!("reference to undeclared {what} {addr}"));
        if let Some(c) = did_you_mean(n, same_type.iter().copied()) {
            return Err(e.hint(format!("did you mean {t}.{c}?")));
        }
        if !same_type.is_empty() {
            return Err(e.hint(format!("declared {t} {what}s: {}", same_type.join(", "))));
        }
        // Another type with this name (aws_lb.web for aws_alb.web).
        let same_name: Vec<&str> = cfg
            .resources
            .iter()
            .filter(|r| r.mode == mode && r.name == n)
            .map(|r| r.type_name.as_str())
            .collect();
        if let Some(c) = did_you_mean(t, same_name.iter().copied()) {
            return Err(e.hint(format!("did you mean {c}.{n}?")));
        }
        Err(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Var(usize),
    Local(usize),
    Provider(usize),
    Res(usize),
    Module(usize),
    Output(usize),
}

/// Meta-arguments every resource block may have, as block names with their label counts.
fn meta_labels(n: &str) -> Option<usize> {
    match n {
        "lifecycle" | "connection" => Some(0),
        "provisioner" | "dynamic" => Some(1),
        _ => None,
    }
}

fn provider_of(body: &Body, type_name: &str) -> (ProviderRef, Option<Span>) {
    let default = ProviderRef {
        name: type_name.split('_').next().unwrap_or(type_name).to_owned(),
        alias: None,
    };
    let body = body.content(&meta_labels);
    let Some(a) = body.attr("provider") else {
        return (default, None);
    };
    let path = match &a.expr.kind {
        ExprKind::Literal(Value::String(s)) => super::syntax::parse_expr(s, a.expr.span)
            .ok()
            .and_then(|e| e.static_path()),
        _ => a.expr.static_path(),
    };
    match path.as_deref() {
        Some([(n, _)]) => (
            ProviderRef {
                name: n.clone(),
                alias: None,
            },
            Some(a.expr.span),
        ),
        Some([(n, _), (al, _)]) => (
            ProviderRef {
                name: n.clone(),
                alias: Some(al.clone()),
            },
            Some(a.expr.span),
        ),
        _ => (default, Some(a.expr.span)),
    }
}

struct Eval<'c, 'a, 'x> {
    cfg: &'c Config,
    cx: Ctx<'a>,
    prefix: String,
    values: Values<'c>,
    files: Files,
    inputs: ModuleInputs,
    /// Provider configurations visible here: own blocks, then those passed by the parent.
    providers: HashMap<ProviderRef, ProviderConfig>,
    inherited: HashMap<ProviderRef, ProviderConfig>,
    diags: &'x mut Vec<Diagnostic>,
    out: Module,
    is_root: bool,
}

/// Evaluates a module. `inputs` are its variables' values; `inherited` the provider
/// configurations its caller passes.
pub(crate) fn evaluate(
    cfg: &Config,
    cx: Ctx<'_>,
    prefix: String,
    inputs: ModuleInputs,
    inherited: HashMap<ProviderRef, ProviderConfig>,
    diags: &mut Vec<Diagnostic>,
) -> Module {
    let dir = cfg.dir.canonicalize().unwrap_or_else(|_| cfg.dir.clone());
    let is_root = prefix.is_empty();
    let files = Files {
        module_dir: dir.clone(),
        root: cx.root.clone(),
    };
    let rel = |p: &Path| {
        let cwd = std::env::current_dir().unwrap_or_default();
        p.strip_prefix(&cwd).map_or_else(
            |_| p.display().to_string(),
            |r| {
                let s = r.display().to_string();
                if s.is_empty() { ".".into() } else { s }
            },
        )
    };
    let values = Values {
        cfg,
        vars: HashMap::new(),
        locals: HashMap::new(),
        resources: HashMap::new(),
        modules: HashMap::new(),
        path_module: rel(&dir),
        path_root: rel(&cx.root),
    };
    let mut e = Eval {
        cfg,
        cx,
        prefix,
        values,
        files,
        inputs,
        providers: HashMap::new(),
        inherited,
        diags,
        out: Module {
            dir: cfg.dir.clone(),
            files: cfg.files.clone(),
            ..Module::default()
        },
        is_root,
    };
    e.run();
    e.out
}

impl<'c, 'a, 'x> Eval<'c, 'a, 'x> {
    fn sink(&mut self, file: &Arc<Path>, resource: Option<String>) -> Sink<'_> {
        Sink {
            file: file.clone(),
            resource,
            out: self.diags,
        }
    }

    fn run(&mut self) {
        let cfg = self.cfg;
        if self.is_root {
            self.undeclared_inputs();
        }
        // Nodes and their names.
        let mut nodes: Vec<Node> = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for (i, v) in cfg.variables.iter().enumerate() {
            by_name.insert(format!("var.{}", v.name), nodes.len());
            nodes.push(Node::Var(i));
        }
        for (i, l) in cfg.locals.iter().enumerate() {
            by_name
                .entry(format!("local.{}", l.name))
                .or_insert(nodes.len());
            nodes.push(Node::Local(i));
        }
        for (i, p) in cfg.providers.iter().enumerate() {
            by_name
                .entry(format!("provider.{}", p.address()))
                .or_insert(nodes.len());
            nodes.push(Node::Provider(i));
        }
        for (i, r) in cfg.resources.iter().enumerate() {
            by_name.entry(r.address()).or_insert(nodes.len());
            nodes.push(Node::Res(i));
        }
        for (i, m) in cfg.modules.iter().enumerate() {
            by_name
                .entry(format!("module.{}", m.name))
                .or_insert(nodes.len());
            nodes.push(Node::Module(i));
        }
        for i in 0..cfg.outputs.len() {
            nodes.push(Node::Output(i));
        }
        // Edges, with where each reference is written.
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        let mut edge_spans: HashMap<(usize, usize), Span> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            let mut refs: Vec<(Ref, Span)> = Vec::new();
            let mut bound = Vec::new();
            match *n {
                Node::Var(v) => {
                    for (c, m) in &cfg.variables[v].validations {
                        graph::refs(c, &mut bound, &mut refs);
                        graph::refs(m, &mut bound, &mut refs);
                    }
                }
                Node::Local(l) => graph::refs(&cfg.locals[l].expr, &mut bound, &mut refs),
                Node::Provider(p) => {
                    graph::body_refs(&cfg.providers[p].body, &mut bound, &mut refs)
                }
                Node::Res(r) => {
                    let res = &cfg.resources[r];
                    graph::body_refs(&res.body, &mut bound, &mut refs);
                    let (pref, _) = provider_of(&res.body, &res.type_name);
                    if let Some(&p) = by_name.get(&format!("provider.{pref}")) {
                        edges[i].push(p);
                    }
                }
                Node::Module(m) => graph::body_refs(&cfg.modules[m].body, &mut bound, &mut refs),
                Node::Output(o) => {
                    let out = &cfg.outputs[o];
                    if let Some(v) = &out.value {
                        graph::refs(v, &mut bound, &mut refs);
                    }
                    for d in &out.depends_on {
                        graph::refs(d, &mut bound, &mut refs);
                    }
                }
            }
            for (r, span) in refs {
                let key = match &r {
                    Ref::Var(n) => format!("var.{n}"),
                    Ref::Local(n) => format!("local.{n}"),
                    Ref::Resource(t, n) => format!("{t}.{n}"),
                    Ref::Data(t, n) => format!("data.{t}.{n}"),
                    Ref::Module(n) => format!("module.{n}"),
                    Ref::Path(_) | Ref::Terraform(_) => continue,
                };
                if let Some(&j) = by_name.get(&key) {
                    // A variable's validation refers to the variable itself: not a cycle.
                    if j == i && matches!(n, Node::Var(_)) {
                        continue;
                    }
                    edges[i].push(j);
                    edge_spans.entry((i, j)).or_insert(span);
                }
            }
        }
        for comps in graph::order(nodes.len(), &edges) {
            let cyclic = comps.len() > 1 || edges[comps[0]].contains(&comps[0]);
            if cyclic {
                self.report_cycle(&comps, &nodes, &edges, &edge_spans);
                continue;
            }
            match nodes[comps[0]] {
                Node::Var(i) => self.variable(i),
                Node::Local(i) => self.local(i),
                Node::Provider(i) => self.provider(i),
                Node::Res(i) => self.resource(i),
                Node::Module(i) => self.module_call(i),
                Node::Output(i) => self.output(i),
            }
        }
        self.out.outputs.sort_by(|a, b| a.name.cmp(&b.name));
        self.out.variables = self
            .values
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut providers: Vec<ProviderConfig> = self.providers.values().cloned().collect();
        providers.sort_by(|a, b| a.address.cmp(&b.address));
        self.out.providers = providers;
    }

    fn node_name(&self, n: Node) -> (String, Arc<Path>, Span) {
        let cfg = self.cfg;
        match n {
            Node::Var(i) => (
                format!("var.{}", cfg.variables[i].name),
                cfg.variables[i].file.clone(),
                cfg.variables[i].span,
            ),
            Node::Local(i) => (
                format!("local.{}", cfg.locals[i].name),
                cfg.locals[i].file.clone(),
                cfg.locals[i].span,
            ),
            Node::Provider(i) => (
                format!("provider.{}", cfg.providers[i].address()),
                cfg.providers[i].file.clone(),
                cfg.providers[i].span,
            ),
            Node::Res(i) => (
                cfg.resources[i].address(),
                cfg.resources[i].file.clone(),
                cfg.resources[i].span,
            ),
            Node::Module(i) => (
                format!("module.{}", cfg.modules[i].name),
                cfg.modules[i].file.clone(),
                cfg.modules[i].span,
            ),
            Node::Output(i) => (
                format!("output.{}", cfg.outputs[i].name),
                cfg.outputs[i].file.clone(),
                cfg.outputs[i].span,
            ),
        }
    }

    fn report_cycle(
        &mut self,
        comp: &[usize],
        nodes: &[Node],
        edges: &[Vec<usize>],
        spans: &HashMap<(usize, usize), Span>,
    ) {
        // Start the cycle at the declaration that comes first in the files.
        let mut comp = comp.to_vec();
        comp.sort_by_key(|&i| {
            let (_, f, s) = self.node_name(nodes[i]);
            (f, s)
        });
        let path = graph::cycle_path(&comp, edges);
        let names: Vec<String> = path.iter().map(|&i| self.node_name(nodes[i]).0).collect();
        let (first, file, decl_span) = self.node_name(nodes[path[0]]);
        let span = path
            .get(1)
            .and_then(|&j| spans.get(&(path[0], j)).copied())
            .unwrap_or(decl_span);
        let msg = if path.len() == 2 {
            format!("{first} refers to itself")
        } else {
            format!("cycle: {}", names.join(" → "))
        };
        let prefix = self.prefix.clone();
        let mut sink = self.sink(&file, Some(format!("{prefix}{first}")));
        sink.error(span, &FieldPath::root(), msg)
            .hint("break the cycle: a value cannot depend on itself, directly or through others");
    }

    fn undeclared_inputs(&mut self) {
        let cfg = self.cfg;
        let mut names: Vec<(&String, &Input)> = self.inputs.iter().collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        let mut found = Vec::new();
        for (name, input) in names {
            if cfg.variables.iter().any(|v| &v.name == name)
                || input.file.as_ref() == Path::new("<environment>")
            {
                continue;
            }
            found.push((name.clone(), input.clone()));
        }
        for (name, input) in found {
            let mut sink = self.sink(&input.file, None);
            let field = FieldPath::root().field(name.clone());
            let msg = format!("value for undeclared variable \"{name}\"");
            let d = if input.from_file {
                sink.warn(input.span, &field, msg)
            } else {
                sink.error(input.span, &field, msg)
            };
            d.suggest(&name, cfg.variables.iter().map(|v| v.name.as_str()));
        }
    }

    fn evaluator(&self) -> Evaluator<'_> {
        Evaluator::new(
            &self.values,
            &self.files,
            self.cx.budget,
            &self.cx.opts.limits,
        )
    }

    fn variable(&mut self, i: usize) {
        let v = &self.cfg.variables[i];
        let field = FieldPath::root().field("var").field(v.name.clone());
        // The value, and where it was given (for messages about it).
        let given = self.inputs.get(&v.name).cloned();
        let (raw, at_file, at_span): (Result<Value, EvalError>, Arc<Path>, Span) = match &given {
            Some(input) => (input.value(&v.ty), input.file.clone(), input.span),
            None => match &v.default {
                Some(d) => (super::vars::constant(d), v.file.clone(), d.span),
                // The calling module block already reported the missing argument.
                None if !self.is_root => {
                    self.values.vars.insert(v.name.clone(), Value::Unknown);
                    return;
                }
                None => {
                    let what = if self.is_root {
                        "set it in terraform.tfvars, with -var, or with TF_VAR_".to_owned()
                            + &v.name
                    } else {
                        "pass it in the module block".to_owned()
                    };
                    let mut sink = self.sink(&v.file, None);
                    sink.error(
                        v.span,
                        &field,
                        format!("no value for required variable \"{}\"", v.name),
                    )
                    .hint(what);
                    return;
                }
            },
        };
        let value = match raw
            .and_then(|x| convert(&x, &v.ty).map_err(|e| EvalError::new(at_span, e.to_string())))
        {
            Ok(x) => x,
            Err(e) => {
                let mut sink = self.sink(&at_file, None);
                let d = sink.error(
                    e.span,
                    &field,
                    format!("invalid value for variable \"{}\": {}", v.name, e.message),
                );
                if e.message.starts_with("expected") {
                    d.hint(format!("the variable's type is {}", v.ty));
                }
                return;
            }
        };
        if value.is_null() && !v.nullable {
            let mut sink = self.sink(&at_file, None);
            sink.error(
                at_span,
                &field,
                format!("variable \"{}\" must not be null", v.name),
            );
            return;
        }
        self.values.vars.insert(v.name.clone(), value);
        // Validation rules see the value.
        let mut failures = Vec::new();
        {
            let mut ev = self.evaluator();
            for (cond, msg) in &v.validations {
                match ev.eval(cond) {
                    Ok(Value::Bool(true) | Value::Unknown) => {}
                    Ok(Value::Bool(false)) => {
                        let m = ev
                            .eval(msg)
                            .ok()
                            .and_then(|m| m.to_display())
                            .unwrap_or_default();
                        failures.push(Ok((m, cond.span)));
                    }
                    Ok(other) => failures.push(Err(EvalError::new(
                        cond.span,
                        format!(
                            "a validation condition must be true or false, got {}",
                            other.describe()
                        ),
                    ))),
                    Err(e) => failures.push(Err(e)),
                }
            }
        }
        for f in failures {
            match f {
                Ok((m, cond_span)) => {
                    let file_name = v
                        .file
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let mut sink = self.sink(&at_file, None);
                    sink.error(
                        at_span,
                        &field,
                        format!("invalid value for variable \"{}\": {m}", v.name),
                    )
                    .hint(format!("the rule is at {file_name}:{cond_span}"));
                }
                Err(e) => {
                    let file = v.file.clone();
                    self.sink(&file, None).eval_error(&field, e);
                }
            }
            self.values.vars.insert(v.name.clone(), Value::Unknown);
        }
    }

    fn local(&mut self, i: usize) {
        let l = &self.cfg.locals[i];
        let r = self.evaluator().eval(&l.expr);
        match r {
            Ok(v) => {
                self.values.locals.insert(l.name.clone(), v);
            }
            Err(e) => {
                let field = FieldPath::root().field("local").field(l.name.clone());
                let file = l.file.clone();
                self.sink(&file, None).eval_error(&field, e);
            }
        }
    }

    fn provider(&mut self, i: usize) {
        let p = &self.cfg.providers[i];
        let address = p.address();
        let schema = resources::providers::schema(&p.name);
        let file = p.file.clone();
        let Some(schema) = schema else {
            let mut sink = self.sink(&file, Some(format!("provider.{address}")));
            sink.warn(
                p.span,
                &FieldPath::root(),
                format!(
                    "provider \"{}\" is not served by Meridian; its resources load as not served",
                    p.name
                ),
            );
            self.providers.insert(
                ProviderRef {
                    name: p.name.clone(),
                    alias: p.alias.clone(),
                },
                ProviderConfig {
                    address,
                    region: None,
                    default_tags: BTreeMap::new(),
                },
            );
            return;
        };
        let mut spans = Spans::default();
        let obj = {
            let values = &self.values;
            let ev_files = &self.files;
            let mut ev = Evaluator::new(values, ev_files, self.cx.budget, &self.cx.opts.limits);
            let mut sink = Sink {
                file: file.clone(),
                resource: Some(format!("provider.{address}")),
                out: self.diags,
            };
            schema::decode(
                &mut ev,
                &mut sink,
                &mut spans,
                &p.body,
                schema,
                &FieldPath::root(),
            )
        };
        let r = resources::R(&obj);
        let region = if p.name == "aws" {
            Some(
                r.os("region")
                    .unwrap_or_else(|| self.cx.opts.default_region.clone()),
            )
        } else {
            None
        };
        let default_tags = r
            .block("default_tags")
            .map(|t| t.map("tags"))
            .unwrap_or_default();
        self.providers.insert(
            ProviderRef {
                name: p.name.clone(),
                alias: p.alias.clone(),
            },
            ProviderConfig {
                address,
                region,
                default_tags,
            },
        );
    }

    /// The configuration a resource uses, or why there is none.
    fn provider_config(&self, pref: &ProviderRef) -> Result<ProviderConfig, String> {
        if let Some(p) = self
            .providers
            .get(pref)
            .or_else(|| self.inherited.get(pref))
        {
            return Ok(p.clone());
        }
        if pref.alias.is_none() {
            // No provider block: Terraform configures the provider with no arguments.
            let region = (pref.name == "aws").then(|| self.cx.opts.default_region.clone());
            return Ok(ProviderConfig {
                address: pref.name.clone(),
                region,
                default_tags: BTreeMap::new(),
            });
        }
        Err(format!("provider configuration {pref} is not declared"))
    }

    #[allow(clippy::too_many_lines)]
    fn resource(&mut self, i: usize) {
        let cfg = self.cfg;
        let decl = &cfg.resources[i];
        let kind = match decl.mode {
            Mode::Managed => resources::managed(&decl.type_name),
            Mode::Data => resources::data(&decl.type_name),
        };
        let address = format!("{}{}", self.prefix, decl.address());
        let file = decl.file.clone();
        let labels = |n: &str| meta_labels(n).or_else(|| kind.and_then(|k| k.schema.labels(n)));
        let content = decl.body.content(&labels);
        let mut body = Body {
            span: content.span,
            ..Body::default()
        };
        let mut count = None;
        let mut for_each = None;
        {
            let mut sink = Sink {
                file: file.clone(),
                resource: Some(address.clone()),
                out: self.diags,
            };
            for e in &content.errors {
                sink.error(e.span, &FieldPath::root(), e.message.clone());
            }
            for a in &content.attrs {
                match a.name.as_str() {
                    "count" => count = Some(a.expr.clone()),
                    "for_each" => for_each = Some(a.expr.clone()),
                    "provider" => {}
                    "depends_on" => {
                        let field = FieldPath::root().field("depends_on");
                        let deps = config::depends_on(&a.expr, &field, &mut sink);
                        check_depends(&self.values, &deps, &field, &mut sink);
                    }
                    _ => body.attrs.push(a.clone()),
                }
            }
            let mut warned = false;
            for b in &content.blocks {
                match b.ident.as_str() {
                    "lifecycle" => lifecycle(b, decl.mode, &mut sink),
                    "provisioner" | "connection" if decl.mode == Mode::Managed => {
                        if !warned {
                            sink.warn(
                                b.span,
                                &FieldPath::root().field(b.ident.clone()),
                                "provisioners are not run by Meridian",
                            );
                            warned = true;
                        }
                    }
                    _ => body.blocks.push(b.clone()),
                }
            }
            if count.is_some() && for_each.is_some() {
                sink.error(
                    decl.span,
                    &FieldPath::root(),
                    "count and for_each cannot both be set",
                );
                return;
            }
            match kind {
                None => {
                    let what = if decl.mode == Mode::Data {
                        "data source"
                    } else {
                        "resource type"
                    };
                    let d = sink.warn(
                        decl.type_span,
                        &FieldPath::root(),
                        format!("{what} \"{}\" is not served by Meridian; it is loaded, and what refers to it sees unknown values", decl.type_name),
                    );
                    // Only a near miss (a typo) gets a suggestion: aws_instance is a real type,
                    // not a misspelt aws_db_instance.
                    if decl.mode == Mode::Managed
                        && let Some(c) = resources::managed_names()
                            .find(|c| strsim::levenshtein(c, &decl.type_name) <= 2)
                    {
                        d.hint(format!("did you mean \"{c}\"?"));
                    }
                }
                Some(k) => {
                    if let Some(instead) = k.deprecated {
                        sink.warn(
                            decl.type_span,
                            &FieldPath::root(),
                            format!("\"{}\" is deprecated", decl.type_name),
                        )
                        .hint(instead);
                    }
                }
            }
        }
        // The provider configuration, and the region it places the resource in.
        let (pref, pspan) = provider_of(&decl.body, &decl.type_name);
        let pconf = match self.provider_config(&pref) {
            Ok(p) => p,
            Err(msg) => {
                let declared: Vec<String> = self
                    .providers
                    .keys()
                    .chain(self.inherited.keys())
                    .filter(|k| k.name == pref.name)
                    .map(ToString::to_string)
                    .collect();
                let mut sink = self.sink(&file, Some(address.clone()));
                let d = sink.error(
                    pspan.unwrap_or(decl.span),
                    &FieldPath::root().field("provider"),
                    msg,
                );
                d.suggest(&pref.to_string(), declared.iter().map(String::as_str));
                if d.hint.is_none() && !declared.is_empty() {
                    d.hint(format!("declared: {}", declared.join(", ")));
                }
                return;
            }
        };
        // Instances.
        let keys = match self.instance_keys(count.as_ref(), for_each.as_ref(), &file, &address) {
            Some(k) => k,
            None => return,
        };
        let mut values = Vec::new();
        let mut by_key = BTreeMap::new();
        let many = count.is_some() || for_each.is_some();
        for (key, count_index, each) in keys {
            let inst_address = match &key {
                Some(k) => format!("{address}{k}"),
                None => address.clone(),
            };
            let mut spans = Spans::default();
            let (mut obj, ok) = {
                let values_ref = &self.values;
                let mut ev = Evaluator::new(
                    values_ref,
                    &self.files,
                    self.cx.budget,
                    &self.cx.opts.limits,
                );
                ev.count_index = count_index;
                ev.each = each.clone();
                let mut sink = Sink {
                    file: file.clone(),
                    resource: Some(inst_address.clone()),
                    out: self.diags,
                };
                let before = sink.out.iter().filter(|d| d.is_error()).count();
                let obj = match kind {
                    Some(k) => schema::decode(
                        &mut ev,
                        &mut sink,
                        &mut spans,
                        &body,
                        k.schema,
                        &FieldPath::root(),
                    ),
                    None => {
                        unserved(&mut ev, &mut sink, &body);
                        Value::Unknown
                    }
                };
                let ok = sink.out.iter().filter(|d| d.is_error()).count() == before;
                (obj, ok)
            };
            let region = match pref.name.as_str() {
                "aws" => pconf
                    .region
                    .clone()
                    .unwrap_or_else(|| self.cx.opts.default_region.clone()),
                "azurerm" => azure_region(&obj),
                _ => String::new(),
            };
            let mut spec = Spec::NotServed;
            if let (Some(k), Value::Map(kindm, m)) = (kind, &mut obj) {
                let _ = kindm;
                let m = Arc::make_mut(m);
                let mut c = Computed {
                    name: &decl.name,
                    address: &inst_address,
                    region: &region,
                    account: &self.cx.opts.account_id,
                    obj: m,
                };
                (k.computed)(&mut c);
                if !pconf.default_tags.is_empty()
                    && let Some(Value::Map(_, all)) = m.get_mut("tags_all")
                {
                    let all = Arc::make_mut(all);
                    for (tk, tv) in &pconf.default_tags {
                        all.entry(tk.clone())
                            .or_insert_with(|| Value::str(tv.clone()));
                    }
                }
                if ok {
                    let inst = Inst {
                        address: &inst_address,
                        obj: &obj,
                        spans: &spans,
                        span: decl.span,
                        region: &region,
                    };
                    let mut sink = Sink {
                        file: file.clone(),
                        resource: Some(inst_address.clone()),
                        out: self.diags,
                    };
                    spec = (k.spec)(&inst, &mut sink);
                }
            }
            match &key {
                Some(InstanceKey::Key(k)) => {
                    by_key.insert(k.clone(), obj.clone());
                }
                _ => values.push(obj.clone()),
            }
            self.out.instances.push(Instance {
                address: inst_address,
                mode: decl.mode,
                type_name: decl.type_name.clone(),
                name: decl.name.clone(),
                key,
                file: file.clone(),
                span: decl.span,
                provider: pconf.address.clone(),
                region,
                attributes: obj,
                spans,
                spec,
            });
        }
        let value = if for_each.is_some() {
            Value::object(by_key)
        } else if many {
            Value::tuple(values)
        } else {
            values.into_iter().next().unwrap_or(Value::Unknown)
        };
        self.values.resources.insert(
            (decl.mode, decl.type_name.clone(), decl.name.clone()),
            value,
        );
    }

    /// The instances `count` or `for_each` ask for: key, `count.index`, `each`.
    #[allow(clippy::type_complexity)]
    fn instance_keys(
        &mut self,
        count: Option<&Expr>,
        for_each: Option<&Expr>,
        file: &Arc<Path>,
        address: &str,
    ) -> Option<Vec<(Option<InstanceKey>, Option<i64>, Option<(Value, Value)>)>> {
        let max = self.cx.opts.limits.max_instances;
        if let Some(c) = count {
            let r = self.evaluator().eval(c);
            let mut sink = self.sink(file, Some(address.to_owned()));
            let field = FieldPath::root().field("count");
            let n = match r {
                // An unknown that comes from an earlier error is that error's business.
                Ok(Value::Unknown) if sink.out.iter().any(Diagnostic::is_error) => return None,
                Ok(Value::Unknown) => {
                    sink.error(c.span, &field, "count depends on a value Meridian cannot know")
                        .hint("count must be known before anything is created; it may not depend on a resource type Meridian does not serve");
                    return None;
                }
                Ok(v) => match convert(&v, &super::value::Type::Number)
                    .ok()
                    .and_then(|x| x.as_f64())
                {
                    Some(n) if n >= 0.0 && n.fract() == 0.0 => n,
                    _ => {
                        sink.error(
                            c.span,
                            &field,
                            format!(
                                "count must be a whole number 0 or more, got {}",
                                v.describe()
                            ),
                        );
                        return None;
                    }
                },
                Err(e) => {
                    sink.eval_error(&field, e);
                    return None;
                }
            };
            #[allow(clippy::cast_precision_loss)]
            if n > max as f64 {
                sink.error(
                    c.span,
                    &field,
                    format!("count is {n}; at most {max} instances of one resource are accepted"),
                );
                return None;
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = n as usize;
            return Some(
                (0..n)
                    .map(|i| (Some(InstanceKey::Index(i)), i64::try_from(i).ok(), None))
                    .collect(),
            );
        }
        if let Some(f) = for_each {
            let r = self.evaluator().eval(f);
            let mut sink = self.sink(file, Some(address.to_owned()));
            let field = FieldPath::root().field("for_each");
            let v = match r {
                Ok(Value::Unknown) if sink.out.iter().any(Diagnostic::is_error) => return None,
                Ok(Value::Unknown) => {
                    sink.error(
                        f.span,
                        &field,
                        "for_each depends on a value Meridian cannot know",
                    )
                    .hint("for_each keys must be known before anything is created");
                    return None;
                }
                Ok(v) => v,
                Err(e) => {
                    sink.eval_error(&field, e);
                    return None;
                }
            };
            let n = match &v {
                Value::Map(_, m) => m.len(),
                Value::Seq(super::value::SeqKind::Set, s) => s.len(),
                Value::Seq(_, _) => {
                    sink.error(
                        f.span,
                        &field,
                        format!(
                            "for_each must be a map or a set of strings, got {}",
                            v.describe()
                        ),
                    )
                    .hint("convert the list with toset()");
                    return None;
                }
                other => {
                    sink.error(
                        f.span,
                        &field,
                        format!(
                            "for_each must be a map or a set of strings, got {}",
                            other.describe()
                        ),
                    );
                    return None;
                }
            };
            if n > max {
                sink.error(f.span, &field, format!("for_each has {n} elements; at most {max} instances of one resource are accepted"));
                return None;
            }
            let mut out = Vec::with_capacity(n);
            match &v {
                Value::Map(_, m) => {
                    for (k, x) in m.iter() {
                        out.push((
                            Some(InstanceKey::Key(k.clone())),
                            None,
                            Some((Value::str(k.clone()), x.clone())),
                        ));
                    }
                }
                Value::Seq(_, s) => {
                    for x in s.iter() {
                        let Some(k) = x.as_str() else {
                            sink.error(
                                f.span,
                                &field,
                                format!("a for_each set must hold strings, got {}", x.describe()),
                            );
                            return None;
                        };
                        out.push((
                            Some(InstanceKey::Key(k.to_owned())),
                            None,
                            Some((x.clone(), x.clone())),
                        ));
                    }
                }
                _ => {}
            }
            return Some(out);
        }
        Some(vec![(None, None, None)])
    }

    fn output(&mut self, i: usize) {
        let o = &self.cfg.outputs[i];
        let Some(expr) = &o.value else { return };
        let r = self.evaluator().eval(expr);
        let field = FieldPath::root().field("output").field(o.name.clone());
        let file = o.file.clone();
        let value = match r {
            Ok(v) => v,
            Err(e) => {
                self.sink(&file, None).eval_error(&field, e);
                Value::Unknown
            }
        };
        let mut failed = Vec::new();
        {
            let mut ev = self.evaluator();
            for (c, m) in &o.preconditions {
                if let Ok(Value::Bool(false)) = ev.eval(c) {
                    let msg = ev
                        .eval(m)
                        .ok()
                        .and_then(|m| m.to_display())
                        .unwrap_or_default();
                    failed.push((c.span, msg));
                }
            }
        }
        for (span, msg) in failed {
            self.sink(&file, None).error(
                span,
                &field,
                format!("output precondition failed: {msg}"),
            );
        }
        self.out.outputs.push(OutputValue {
            name: o.name.clone(),
            value,
            sensitive: o.sensitive,
            description: o.description.clone(),
        });
    }

    #[allow(clippy::too_many_lines)]
    fn module_call(&mut self, i: usize) {
        let m = &self.cfg.modules[i];
        let file = m.file.clone();
        let address = format!("{}module.{}", self.prefix, m.name);
        let Some(source) = m.source.clone() else {
            return;
        };
        let here = FieldPath::root();
        let dir = match source.canonicalize() {
            Ok(d) if d.is_dir() => d,
            _ => {
                let span = m.body.attr("source").map_or(m.span, |a| a.expr.span);
                self.sink(&file, Some(address)).error(
                    span,
                    &here.field("source"),
                    format!("module folder {} does not exist", source.display()),
                );
                return;
            }
        };
        if self.cx.stack.contains(&dir) {
            let span = m.body.attr("source").map_or(m.span, |a| a.expr.span);
            self.sink(&file, Some(address)).error(
                span,
                &here.field("source"),
                "module calls itself (through its source folder)",
            );
            return;
        }
        if self.cx.stack.len() >= self.cx.opts.limits.max_module_depth {
            let msg = format!(
                "modules nested more than {} deep",
                self.cx.opts.limits.max_module_depth
            );
            self.sink(&file, Some(address)).error(m.span, &here, msg);
            return;
        }
        if !dir.starts_with(&self.cx.root) {
            let span = m.body.attr("source").map_or(m.span, |a| a.expr.span);
            let msg = format!(
                "module folder {} is outside the configuration folder {}",
                source.display(),
                self.cx.root.display()
            );
            self.sink(&file, Some(address))
                .error(span, &here.field("source"), msg);
            return;
        }
        let child_cfg = {
            let sources = match read_folder(&dir) {
                Ok(s) => s,
                Err(d) => {
                    self.diags.extend(d);
                    return;
                }
            };
            config::read(&source, &sources, self.diags)
        };
        let body = m.body.content(&|_| None);
        let mut count = None;
        let mut for_each = None;
        let mut provider_map: Vec<(ProviderRef, ProviderRef, Span)> = Vec::new();
        let mut args = Vec::new();
        {
            let mut sink = Sink {
                file: file.clone(),
                resource: Some(address.clone()),
                out: self.diags,
            };
            for b in &body.blocks {
                sink.error(
                    b.span,
                    &here.field(b.ident.clone()),
                    format!(
                        "blocks are not allowed in a module block; \"{}\" is a block",
                        b.ident
                    ),
                );
            }
            for a in &body.attrs {
                match a.name.as_str() {
                    "source" | "version" => {}
                    "count" => count = Some(a.expr.clone()),
                    "for_each" => for_each = Some(a.expr.clone()),
                    "depends_on" => {
                        let field = here.field("depends_on");
                        let deps = config::depends_on(&a.expr, &field, &mut sink);
                        check_depends(&self.values, &deps, &field, &mut sink);
                    }
                    "providers" => match &a.expr.kind {
                        ExprKind::Object(items) => {
                            for (k, v) in items {
                                let child = match k {
                                    super::syntax::ObjectKey::Ident(n, _) => {
                                        Some(vec![(n.clone(), a.span)])
                                    }
                                    super::syntax::ObjectKey::Expr(x) => x.static_path(),
                                };
                                let parent = v.static_path();
                                let to_ref = |p: Vec<(String, Span)>| ProviderRef {
                                    name: p[0].0.clone(),
                                    alias: p.get(1).map(|x| x.0.clone()),
                                };
                                match (child, parent) {
                                    (Some(c), Some(p)) if !c.is_empty() && !p.is_empty() => {
                                        provider_map.push((to_ref(c), to_ref(p), v.span))
                                    }
                                    _ => {
                                        sink.error(v.span, &here.field("providers"), "providers maps provider names to provider configurations, like { aws = aws.west }");
                                    }
                                }
                            }
                        }
                        _ => {
                            sink.error(
                                a.expr.span,
                                &here.field("providers"),
                                "providers must be an object, like { aws = aws.west }",
                            );
                        }
                    },
                    _ => {
                        if child_cfg.variables.iter().any(|v| v.name == a.name) {
                            args.push(a.clone());
                        } else {
                            sink.error(
                                a.span,
                                &here.field(a.name.clone()),
                                format!("module \"{}\" has no variable \"{}\"", m.name, a.name),
                            )
                            .suggest(&a.name, child_cfg.variables.iter().map(|v| v.name.as_str()));
                        }
                    }
                }
            }
            if count.is_some() && for_each.is_some() {
                sink.error(m.span, &here, "count and for_each cannot both be set");
                return;
            }
            for v in &child_cfg.variables {
                if v.default.is_none() && !body.attrs.iter().any(|a| a.name == v.name) {
                    sink.error(
                        m.span,
                        &here,
                        format!(
                            "required variable \"{}\" of module \"{}\" is not set",
                            v.name, m.name
                        ),
                    );
                }
            }
        }
        // Providers passed down: the default ones, then the explicit map.
        let mut inherited: HashMap<ProviderRef, ProviderConfig> = HashMap::new();
        for (k, v) in self.inherited.iter().chain(self.providers.iter()) {
            if k.alias.is_none() {
                inherited.insert(k.clone(), v.clone());
            }
        }
        for (child, parent, span) in provider_map {
            match self.provider_config(&parent) {
                Ok(p) => {
                    inherited.insert(child, p);
                }
                Err(msg) => {
                    self.sink(&file, Some(address.clone())).error(
                        span,
                        &here.field("providers"),
                        msg,
                    );
                }
            }
        }
        let Some(keys) = self.instance_keys(count.as_ref(), for_each.as_ref(), &file, &address)
        else {
            return;
        };
        let many = count.is_some() || for_each.is_some();
        let mut list = Vec::new();
        let mut map = BTreeMap::new();
        for (key, count_index, each) in keys {
            let mut inputs: ModuleInputs = HashMap::new();
            let mut arg_errors = Vec::new();
            {
                let mut ev = self.evaluator();
                ev.count_index = count_index;
                ev.each = each.clone();
                for a in &args {
                    match ev.eval(&a.expr) {
                        Ok(v) => {
                            inputs.insert(
                                a.name.clone(),
                                Input {
                                    given: super::vars::Given::Value(v),
                                    file: file.clone(),
                                    span: a.expr.span,
                                    from_file: false,
                                },
                            );
                        }
                        Err(e) => arg_errors.push((a.name.clone(), e)),
                    }
                }
            }
            for (n, e) in arg_errors {
                self.sink(&file, Some(address.clone()))
                    .eval_error(&here.field(n), e);
            }
            let prefix = match &key {
                Some(k) => format!("{address}{k}."),
                None => format!("{address}."),
            };
            let mut stack = self.cx.stack.clone();
            stack.push(dir.clone());
            let cx = Ctx {
                opts: self.cx.opts,
                budget: self.cx.budget,
                root: self.cx.root.clone(),
                stack,
            };
            let child = evaluate(
                &child_cfg,
                cx,
                prefix,
                inputs,
                inherited.clone(),
                self.diags,
            );
            let outputs = Value::object(
                child
                    .outputs
                    .iter()
                    .map(|o| (o.name.clone(), o.value.clone()))
                    .collect(),
            );
            self.out.instances.extend(child.instances);
            match key {
                Some(InstanceKey::Key(k)) => {
                    map.insert(k, outputs);
                }
                _ => list.push(outputs),
            }
        }
        let value = if for_each.is_some() {
            Value::object(map)
        } else if many {
            Value::tuple(list)
        } else {
            list.into_iter().next().unwrap_or(Value::Unknown)
        };
        self.values.modules.insert(m.name.clone(), value);
    }
}

/// Each `depends_on` entry must name something declared.
fn check_depends(values: &Values<'_>, deps: &[Expr], field: &FieldPath, sink: &mut Sink<'_>) {
    for d in deps {
        let Some(path) = d.static_path() else {
            continue;
        };
        let ops: Vec<super::syntax::Traverser> = path[1..]
            .iter()
            .map(|(n, s)| super::syntax::Traverser::Attr(n.clone(), *s))
            .collect();
        match super::eval::parse_ref(&path[0].0, path[0].1, &ops) {
            Ok(Some((r, _))) => {
                if let Err(e) = values.lookup(&r, d.span) {
                    sink.eval_error(field, e);
                }
            }
            Ok(None) => {
                sink.error(
                    d.span,
                    field,
                    format!("depends_on cannot refer to {}", path[0].0),
                );
            }
            Err(e) => sink.eval_error(field, e),
        }
    }
}

fn azure_region(obj: &Value) -> String {
    match obj.get("location").and_then(Value::as_str) {
        Some(l) => l.to_lowercase().replace(' ', ""),
        None => "global".into(),
    }
}

/// The arguments of a resource type Meridian does not know are still evaluated, so mistakes in
/// them are reported.
fn unserved(ev: &mut Evaluator<'_>, sink: &mut Sink<'_>, body: &Body) {
    let body = body.content(&|_| None);
    for a in &body.attrs {
        if let Err(e) = ev.eval(&a.expr) {
            sink.eval_error(&FieldPath::root().field(a.name.clone()), e);
        }
    }
    for b in &body.blocks {
        unserved(ev, sink, &b.body);
    }
}

fn lifecycle(b: &super::syntax::Block, mode: Mode, sink: &mut Sink<'_>) {
    let here = FieldPath::root().field("lifecycle");
    let body = b
        .body
        .content(&|n| matches!(n, "precondition" | "postcondition").then_some(0));
    let managed_only = [
        "create_before_destroy",
        "prevent_destroy",
        "ignore_changes",
        "replace_triggered_by",
    ];
    for a in &body.attrs {
        if mode == Mode::Managed && managed_only.contains(&a.name.as_str()) {
            continue;
        }
        sink.error(
            a.span,
            &here.field(a.name.clone()),
            format!("unknown argument \"{}\" in a lifecycle block", a.name),
        )
        .suggest(&a.name, managed_only);
    }
    for x in &body.blocks {
        if !matches!(x.ident.as_str(), "precondition" | "postcondition") {
            sink.error(
                x.span,
                &here.field(x.ident.clone()),
                format!("unknown block type \"{}\" in a lifecycle block", x.ident),
            )
            .suggest(&x.ident, ["precondition", "postcondition"]);
        }
    }
}

/// The `.tf` and `.tf.json` files of a folder, read.
pub(crate) fn read_folder(dir: &Path) -> Result<Vec<Source>, Vec<Diagnostic>> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && is_tf(p))
            .collect(),
        Err(e) => {
            return Err(vec![Diagnostic {
                severity: crate::Severity::Error,
                file: Arc::from(dir),
                span: Span::default(),
                resource: None,
                field: FieldPath::root(),
                message: format!("cannot read folder: {e}"),
                hint: None,
                code: None,
            }]);
        }
    };
    paths.sort();
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for p in paths {
        match crate::load::read_text(&p) {
            Ok(text) => out.push(Source { path: p, text }),
            Err(d) => errs.push(d),
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

/// A Terraform configuration file (`.tf` or `.tf.json`), not a variables file.
pub fn is_tf(p: &Path) -> bool {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    !n.starts_with('.') && (n.ends_with(".tf") || n.ends_with(".tf.json"))
}
