//! Input variable values, from every place Terraform takes them, in its order of precedence
//! (later wins): `TF_VAR_name` environment variables, `terraform.tfvars`,
//! `terraform.tfvars.json`, `*.auto.tfvars` and `*.auto.tfvars.json` in name order, then
//! `-var-file` and `-var` in the order given on the command line.
//!
//! Values given as plain text (`-var`, `TF_VAR_`) are strings for variables of primitive
//! type and HCL expressions for lists, maps and objects, as Terraform parses them. A `.tfvars`
//! file may hold only values: a reference to anything is an error there.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::Diagnostic;
use crate::node::Span;
use crate::path::FieldPath;

use super::eval::{Budget, EvalError, Evaluator, Files, Limits, Names, Ref};
use super::schema::Sink;
use super::syntax::{Expr, parse_body, parse_expr};
use super::value::{Type, Value};

/// What the command line and environment give.
#[derive(Debug, Clone, Default)]
pub struct CliInputs {
    /// `-var name=value`, in order.
    pub vars: Vec<String>,
    /// `-var-file path`, in order.
    pub var_files: Vec<PathBuf>,
    /// The environment to read `TF_VAR_*` from; the process environment when `None`.
    pub env: Option<BTreeMap<String, String>>,
}

/// A value given for a variable.
#[derive(Debug, Clone)]
pub enum Given {
    /// Text from `-var` or the environment: its meaning depends on the variable's type.
    Text(String),
    /// A value from a `.tfvars` file.
    Value(Value),
}

/// A value given for a variable, and where it was given.
#[derive(Debug, Clone)]
pub struct Input {
    /// The value.
    pub given: Given,
    /// Where (a `.tfvars` file, or a pseudo-path such as `<command line>`).
    pub file: Arc<Path>,
    /// Position in that file.
    pub span: Span,
    /// A `.tfvars` file (undeclared names are warnings there) or the command line (errors).
    pub from_file: bool,
}

impl Input {
    /// The value for a variable of type `ty`, or why the text does not parse.
    pub fn value(&self, ty: &Type) -> Result<Value, EvalError> {
        match &self.given {
            Given::Value(v) => Ok(v.clone()),
            Given::Text(t) => match ty {
                Type::String | Type::Number | Type::Bool | Type::Any => {
                    Ok(Value::String(t.clone()))
                }
                _ => {
                    let e =
                        parse_expr(t, self.span).map_err(|e| EvalError::new(e.span, e.message))?;
                    constant(&e)
                }
            },
        }
    }
}

/// Names are not allowed in variable values.
struct NoRefs;

impl Names for NoRefs {
    fn lookup(&self, r: &Ref, span: Span) -> Result<Value, EvalError> {
        Err(EvalError::new(
            span,
            format!("a variable value cannot refer to {r}; only literal values are allowed here"),
        ))
    }
}

pub(crate) fn constant(e: &Expr) -> Result<Value, EvalError> {
    let files = Files {
        module_dir: PathBuf::from("."),
        root: PathBuf::from("/nonexistent"),
    };
    let limits = Limits::default();
    let budget = Budget::new(1_000_000);
    let mut ev = Evaluator::new(&NoRefs, &files, &budget, &limits);
    ev.eval(e)
}

/// Every input of the root module, by variable name.
pub fn gather(dir: &Path, cli: &CliInputs, diags: &mut Vec<Diagnostic>) -> HashMap<String, Input> {
    let mut out = HashMap::new();
    let env_file: Arc<Path> = Arc::from(Path::new("<environment>"));
    let env: Vec<(String, String)> = match &cli.env {
        Some(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        None => std::env::vars().collect(),
    };
    for (k, v) in env {
        if let Some(name) = k.strip_prefix("TF_VAR_") {
            out.insert(
                name.to_owned(),
                Input {
                    given: Given::Text(v),
                    file: env_file.clone(),
                    span: Span::new(1, 1),
                    from_file: true,
                },
            );
        }
    }
    let mut auto: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    n.ends_with(".auto.tfvars") || n.ends_with(".auto.tfvars.json")
                })
                .collect()
        })
        .unwrap_or_default();
    auto.sort();
    let mut files = vec![
        dir.join("terraform.tfvars"),
        dir.join("terraform.tfvars.json"),
    ];
    files.retain(|p| p.is_file());
    files.extend(auto);
    for f in files {
        read_file(&f, &mut out, diags);
    }
    for f in &cli.var_files {
        if !f.is_file() {
            diags.push(error(
                Arc::from(f.as_path()),
                Span::default(),
                format!("cannot read variables file {}", f.display()),
            ));
            continue;
        }
        read_file(f, &mut out, diags);
    }
    let cmd: Arc<Path> = Arc::from(Path::new("<command line>"));
    for (i, v) in cli.vars.iter().enumerate() {
        let col = u32::try_from(i + 1).unwrap_or(u32::MAX);
        match v.split_once('=') {
            Some((k, val)) if !k.is_empty() => {
                out.insert(
                    k.trim().to_owned(),
                    Input {
                        given: Given::Text(val.to_owned()),
                        file: cmd.clone(),
                        span: Span::new(1, col),
                        from_file: false,
                    },
                );
            }
            _ => diags.push(error(
                cmd.clone(),
                Span::new(1, col),
                format!("-var \"{v}\" is not name=value"),
            )),
        }
    }
    out
}

fn error(file: Arc<Path>, span: Span, message: String) -> Diagnostic {
    Diagnostic {
        severity: crate::diag::Severity::Error,
        file,
        span,
        resource: None,
        field: FieldPath::root(),
        message,
        hint: None,
        code: None,
    }
}

fn read_file(path: &Path, out: &mut HashMap<String, Input>, diags: &mut Vec<Diagnostic>) {
    let file: Arc<Path> = Arc::from(path);
    let text = match crate::load::read_text(path) {
        Ok(t) => t,
        Err(d) => {
            diags.push(d);
            return;
        }
    };
    let mut sink = Sink {
        file: file.clone(),
        resource: None,
        out: diags,
    };
    if path.to_string_lossy().ends_with(".json") {
        let json: serde_json::Value = match serde_json::from_str(&text) {
            Ok(j) => j,
            Err(e) => {
                let span = Span::new(
                    u32::try_from(e.line()).unwrap_or(1),
                    u32::try_from(e.column()).unwrap_or(1),
                );
                sink.error(span, &FieldPath::root(), format!("invalid JSON: {e}"));
                return;
            }
        };
        let Some(obj) = json.as_object() else {
            sink.error(
                Span::new(1, 1),
                &FieldPath::root(),
                "a .tfvars.json file must hold one JSON object",
            );
            return;
        };
        // serde_json keeps no positions; name each key at the top of the file.
        for (k, v) in obj {
            out.insert(
                k.clone(),
                Input {
                    given: Given::Value(Value::from_json(v)),
                    file: file.clone(),
                    span: Span::new(1, 1),
                    from_file: true,
                },
            );
        }
        return;
    }
    let body = match parse_body(&text) {
        Ok(b) => b,
        Err(e) => {
            sink.error(e.span, &FieldPath::root(), e.message);
            return;
        }
    };
    for b in &body.blocks {
        sink.error(
            b.span,
            &FieldPath::root(),
            format!(
                "blocks are not allowed in a variables file; \"{}\" is a block",
                b.ident
            ),
        );
    }
    for a in &body.attrs {
        match constant(&a.expr) {
            Ok(v) => {
                out.insert(
                    a.name.clone(),
                    Input {
                        given: Given::Value(v),
                        file: file.clone(),
                        span: a.span,
                        from_file: true,
                    },
                );
            }
            Err(e) => {
                sink.eval_error(&FieldPath::root().field(a.name.clone()), e);
                // The variable is given, wrongly: it must not also be reported as missing.
                out.insert(
                    a.name.clone(),
                    Input {
                        given: Given::Value(Value::Unknown),
                        file: file.clone(),
                        span: a.span,
                        from_file: true,
                    },
                );
            }
        }
    }
}
