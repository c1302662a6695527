//! Terraform configurations (`.tf`, `.tf.json`): the course's Part 3 as written, read into
//! typed resources the planes serve, with `file:line:col` for every mistake.
//!
//! A folder of `.tf` files is one module, as `terraform` reads it. Loading goes in stages:
//! parse each file (native syntax with hcl-edit, which keeps a span on every node; JSON
//! syntax with the YAML/JSON parser, which does too) into one positioned tree ([`syntax`]);
//! read the blocks into declarations ([`config`]); gather input variables ([`vars`]); then
//! evaluate every declaration in dependency order ([`module`], [`eval`], [`funcs`]), decoding
//! each resource against its provider schema ([`schema`], [`resources`]), and finally check
//! the resources against each other as a running system would ([`check`]).
//!
//! Bounds: files are read up to the loader's size limit, expressions nest at most 64 levels
//! (hcl-edit refuses deeper), collections, strings, instances and evaluation steps are capped
//! ([`eval::Limits`]), and `file`/`templatefile` read only inside the configuration's folder.

pub mod check;
pub mod config;
pub mod eval;
pub mod funcs;
pub mod graph;
pub mod json;
pub mod module;
pub mod resources;
pub mod schema;
pub mod syntax;
pub mod value;
pub mod vars;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diag::Diagnostic;

pub use config::{Config, Mode, Source};
pub use module::{Instance, InstanceKey, Module, Options, OutputValue, ProviderConfig, is_tf};
pub use resources::Spec;
pub use value::Value;
pub use vars::CliInputs;

/// A Terraform root module, loaded: the module when it could be evaluated, and every finding.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The module's folder.
    pub dir: PathBuf,
    /// The evaluated module (present with errors too; use it only when [`Loaded::is_valid`]).
    pub module: Option<Module>,
    /// Errors and warnings, by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// True when there is no error (warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.module.is_some() && !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The module, when valid.
    pub fn valid(&self) -> Option<&Module> {
        self.module.as_ref().filter(|_| self.is_valid())
    }
}

/// Reads the `.tf` and `.tf.json` files of `dir` and loads them as a root module.
pub fn load_dir(dir: &Path, opts: &Options) -> Loaded {
    match module::read_folder(dir) {
        Ok(sources) => load_sources(dir, &sources, opts),
        Err(diagnostics) => Loaded {
            dir: dir.to_path_buf(),
            module: None,
            diagnostics,
        },
    }
}

/// Parses the files of one folder into declarations (the first stage, which also tells which
/// folders other modules call).
pub fn read_config(dir: &Path, sources: &[Source], diags: &mut Vec<Diagnostic>) -> Config {
    config::read(dir, sources, diags)
}

/// Loads files given as text as the root module of `dir` (tests, the fuzzer, `-f -`).
pub fn load_sources(dir: &Path, sources: &[Source], opts: &Options) -> Loaded {
    let mut diags = Vec::new();
    let cfg = config::read(dir, sources, &mut diags);
    evaluate_root(&cfg, diags, opts)
}

/// Evaluates a root module's declarations (read by [`read_config`]).
pub fn evaluate_root(cfg: &Config, mut diags: Vec<Diagnostic>, opts: &Options) -> Loaded {
    let inputs = vars::gather(&cfg.dir, &opts.inputs, &mut diags);
    let budget = eval::Budget::new(opts.limits.max_steps);
    let root = cfg.dir.canonicalize().unwrap_or_else(|_| cfg.dir.clone());
    let cx = module::Ctx {
        opts,
        budget: &budget,
        root: root.clone(),
        stack: vec![root],
    };
    let module = module::evaluate(cfg, cx, String::new(), inputs, HashMap::new(), &mut diags);
    check::module(&module, &mut diags);
    // In file order, as a reader goes through the files; the sort is stable.
    diags.sort_by(|a, b| a.file.cmp(&b.file).then(a.span.cmp(&b.span)));
    diags.dedup();
    Loaded {
        dir: cfg.dir.clone(),
        module: Some(module),
        diagnostics: diags,
    }
}

/// The fuzz target's entry point, shared with the test that replays its corpus.
pub mod fuzz {
    use std::path::{Path, PathBuf};

    use super::{CliInputs, Options, Source, load_sources};

    /// Loads `data` as a module of one file: JSON syntax when it starts with `{`, native
    /// syntax otherwise. The folder does not exist, so nothing else is read.
    pub fn load(data: &[u8]) {
        let Ok(text) = crate::load::decode_utf8(data.to_vec()) else {
            return;
        };
        let name = if text.trim_start().starts_with('{') {
            "fuzz.tf.json"
        } else {
            "fuzz.tf"
        };
        let dir = Path::new("/nonexistent/meridian-fuzz");
        let opts = Options {
            inputs: CliInputs {
                env: Some(Default::default()),
                ..CliInputs::default()
            },
            ..Options::default()
        };
        let src = Source {
            path: PathBuf::from(dir).join(name),
            text,
        };
        let loaded = load_sources(dir, &[src], &opts);
        for d in &loaded.diagnostics {
            let _ = d.to_string();
        }
        if let Some(m) = &loaded.module {
            let _ = super::outputs_json(m).to_string();
        }
    }
}

/// `terraform output -json`: every output with its sensitivity, type and value.
pub fn outputs_json(m: &Module) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for o in &m.outputs {
        out.insert(
            o.name.clone(),
            serde_json::json!({
                "sensitive": o.sensitive,
                "type": o.value.type_json(),
                "value": o.value.to_json(),
            }),
        );
    }
    serde_json::Value::Object(out)
}

#[cfg(test)]
mod tests;
