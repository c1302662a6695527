//! What every command that reads Terraform shares: the `--var`/`--var-file` flags (Terraform's
//! `-var`/`-var-file`; `TF_VAR_*` is read from the environment as Terraform does), and the
//! lines that say what a module declares.

use std::path::PathBuf;

use meridian_config::LoadOptions;
use meridian_config::terraform::{self, Module, Value};

/// Terraform input variables.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct VarArgs {
    /// Set a Terraform variable, `NAME=VALUE` (repeat; like terraform's -var).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Read Terraform variables from a .tfvars or .tfvars.json file (repeat; like
    /// terraform's -var-file).
    #[arg(long = "var-file", value_name = "FILE")]
    var_files: Vec<PathBuf>,
}

impl VarArgs {
    /// Load options carrying these inputs.
    pub(crate) fn load_options(&self) -> LoadOptions {
        let mut o = LoadOptions::default();
        o.terraform.inputs.vars.clone_from(&self.vars);
        o.terraform.inputs.var_files.clone_from(&self.var_files);
        o
    }
}

/// A value as `terraform output` prints it (strings quoted, collections as HCL-like JSON).
pub(crate) fn show(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::Value::String(s.clone()).to_string(),
        Value::Unknown => "(known after apply)".into(),
        other => other.to_json().to_string(),
    }
}

/// `terraform output -json` for the modules loaded: one module gives terraform's own shape;
/// several give that shape per module folder.
pub(crate) fn outputs_json<'a>(modules: impl Iterator<Item = &'a Module>) -> serde_json::Value {
    let all: Vec<&Module> = modules.collect();
    if let [one] = all.as_slice() {
        return terraform::outputs_json(one);
    }
    serde_json::Value::Object(
        all.iter()
            .map(|m| (m.dir.display().to_string(), terraform::outputs_json(m)))
            .collect(),
    )
}
