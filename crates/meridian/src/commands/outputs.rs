//! `meridian outputs`: the outputs of the Terraform modules in the given paths, like
//! `terraform output` (`-o json` gives `terraform output -json`).

use std::path::PathBuf;
use std::process::ExitCode;

use meridian_config::load_paths;

use crate::commands::terraform::{VarArgs, outputs_json, show};
use crate::output::{OutputFormat, print_structured};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Folders of .tf files (or files and folders holding them).
    #[arg(value_name = "PATH", default_value = ".")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    vars: VarArgs,
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let bundle = load_paths(&args.paths, args.vars.load_options());
    let errors: Vec<String> = bundle
        .terraform
        .iter()
        .flat_map(|t| t.diagnostics.iter())
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("{e}");
        }
        eprintln!(
            "error: {} error(s); no outputs until they are fixed",
            errors.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    if bundle.terraform.is_empty() {
        eprintln!("error: no Terraform configuration (.tf files) in the given paths");
        return Ok(ExitCode::FAILURE);
    }
    match format {
        OutputFormat::Table => {
            if bundle.terraform_modules().all(|m| m.outputs.is_empty()) {
                eprintln!("no outputs: the configuration declares no output blocks");
            }
            let many = bundle.terraform.len() > 1;
            for m in bundle.terraform_modules() {
                if many {
                    println!("# {}", m.dir.display());
                }
                for o in &m.outputs {
                    let v = if o.sensitive {
                        "<sensitive>".to_owned()
                    } else {
                        show(&o.value)
                    };
                    println!("{} = {v}", o.name);
                }
            }
        }
        _ => print_structured(format, &outputs_json(bundle.terraform_modules()))?,
    }
    Ok(ExitCode::SUCCESS)
}
