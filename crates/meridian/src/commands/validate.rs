//! `meridian validate`: every error of every file at once, one line per resource.

use std::path::PathBuf;
use std::process::ExitCode;

use meridian_config::{Bundle, Diagnostic, load_paths};
use serde::Serialize;

use crate::output::{OutputFormat, print_structured};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A manifest file or a folder of them (YAML or JSON; repeat for several).
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR",
        required = true
    )]
    files: Vec<PathBuf>,
    #[command(flatten)]
    vars: crate::commands::terraform::VarArgs,
    /// Refuse objects of kinds Meridian does not run or serve (Ingress, Job, HTTPRoute...),
    /// instead of warning and passing over them.
    #[arg(long)]
    strict: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    valid: bool,
    errors: usize,
    warnings: usize,
    resources: Vec<ResourceReport<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    file_errors: Vec<&'a Diagnostic>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<&'a meridian_config::load::Skipped>,
    /// Compose files: their services, or their problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    compose: Vec<FileReport<'a>>,
    /// SAM templates: their functions, or their problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    templates: Vec<FileReport<'a>>,
    /// Terraform modules: their resources, or their problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    terraform: Vec<FileReport<'a>>,
    /// Azure Functions apps: their functions, or their problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    function_apps: Vec<FileReport<'a>>,
    /// What is accepted but not served.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
}

/// A Compose file or a template, and what it declares.
#[derive(Serialize)]
struct FileReport<'a> {
    file: String,
    valid: bool,
    /// Compose services or function names.
    declares: Vec<String>,
    diagnostics: &'a [Diagnostic],
}

#[derive(Serialize)]
struct ResourceReport<'a> {
    resource: String,
    file: String,
    line: u32,
    valid: bool,
    diagnostics: &'a [Diagnostic],
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let mut load = args.vars.load_options();
    load.strict = args.strict;
    let bundle = load_paths(&args.files, load);
    let ok = bundle.is_valid();
    let notes = if ok { notes(&bundle) } else { Vec::new() };
    match format {
        OutputFormat::Table => {
            print_table(&bundle);
            for n in &notes {
                eprintln!("note: {n}");
            }
        }
        _ => {
            let mut report = report(&bundle);
            report.notes = notes;
            print_structured(format, &report)?
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What the data plane would accept but not serve: the snapshot compiler's notes, from the
/// same compiler `meridian up` runs.
fn notes(bundle: &Bundle) -> Vec<String> {
    match meridian_control::snapshot::compile(bundle, 1) {
        Ok(snapshot) => snapshot.notes,
        Err(e) => vec![format!(
            "the data plane cannot compile this configuration: {e}"
        )],
    }
}

fn report(bundle: &Bundle) -> Report<'_> {
    let warnings = bundle.diagnostics().filter(|d| !d.is_error()).count();
    Report {
        valid: bundle.is_valid(),
        errors: bundle.error_count(),
        warnings,
        resources: bundle
            .docs
            .iter()
            .map(|d| ResourceReport {
                resource: display_name(d),
                file: d.file.display().to_string(),
                line: d.span.line,
                valid: d.is_valid(),
                diagnostics: &d.diagnostics,
            })
            .collect(),
        file_errors: bundle.file_errors.iter().collect(),
        skipped: bundle.skipped.iter().collect(),
        notes: Vec::new(),
        compose: bundle
            .compose
            .iter()
            .map(|c| FileReport {
                file: c
                    .diagnostics
                    .first()
                    .map(|d| d.file.display().to_string())
                    .or_else(|| c.file.as_ref().map(|f| f.path.display().to_string()))
                    .unwrap_or_default(),
                valid: c.is_valid(),
                declares: c
                    .file
                    .iter()
                    .flat_map(|f| {
                        f.services
                            .iter()
                            .map(|s| format!("{}/{}", f.project, s.name))
                    })
                    .collect(),
                diagnostics: &c.diagnostics,
            })
            .collect(),
        templates: bundle
            .templates
            .iter()
            .map(|(path, t)| FileReport {
                file: path.display().to_string(),
                valid: t.is_ok(),
                declares: t
                    .as_ref()
                    .map(|t| t.functions.iter().map(|f| f.name.clone()).collect())
                    .unwrap_or_default(),
                diagnostics: match t {
                    Ok(t) => t.warnings.as_slice(),
                    Err(d) => d.as_slice(),
                },
            })
            .collect(),
        terraform: bundle
            .terraform
            .iter()
            .map(|t| FileReport {
                file: t.dir.display().to_string(),
                valid: t.is_valid(),
                declares: t
                    .module
                    .iter()
                    .flat_map(|m| m.instances.iter().map(|i| i.address.clone()))
                    .collect(),
                diagnostics: &t.diagnostics,
            })
            .collect(),
        function_apps: bundle
            .azure
            .iter()
            .map(|a| FileReport {
                file: a.root.display().to_string(),
                valid: a.valid().is_some(),
                declares: a
                    .app
                    .iter()
                    .flat_map(|app| app.functions.iter().map(|f| f.name.clone()))
                    .collect(),
                diagnostics: &a.diagnostics,
            })
            .collect(),
    }
}

/// `virtualservice.networking.istio.io/myapp`, as kubectl names objects.
pub(crate) fn display_name(doc: &meridian_config::LoadedDoc) -> String {
    match (&doc.id, &doc.ignored) {
        (Some(id), _) => format!("{}/{}", id.kind.qualified_name(), id.name),
        (None, Some(o)) => o.qualified_name(),
        (None, None) => format!("{} (document {})", doc.file.display(), doc.index + 1),
    }
}

fn print_table(bundle: &Bundle) {
    for d in &bundle.file_errors {
        eprintln!("{d}");
    }
    for s in &bundle.skipped {
        eprintln!("skipped {}: {}", s.file.display(), s.reason);
    }
    for doc in &bundle.docs {
        for d in &doc.diagnostics {
            eprintln!("{d}");
        }
        if doc.is_valid() {
            let what = if doc.ignored.is_some() {
                "ignored"
            } else {
                "validated"
            };
            println!("{} {what}", display_name(doc));
        }
    }
    for c in &bundle.compose {
        for d in &c.diagnostics {
            eprintln!("{d}");
        }
        if let Some(file) = c.valid() {
            for s in &file.services {
                println!("compose service {}/{} validated", file.project, s.name);
            }
        }
    }
    for d in bundle.azure.iter().flat_map(|a| a.diagnostics.iter()) {
        eprintln!("{d}");
    }
    for app in bundle.azure.iter().filter_map(|a| a.valid()) {
        for f in &app.functions {
            println!(
                "azure function {}/{} ({}) validated",
                app.name,
                f.name,
                f.origin.file.display()
            );
        }
        if app.functions.is_empty() {
            println!(
                "function app {} ({}, {}) validated; its functions are declared in code",
                app.name,
                app.worker,
                app.root.display()
            );
        }
    }
    for (file, t) in &bundle.templates {
        match t {
            Ok(t) => {
                for d in &t.warnings {
                    eprintln!("{d}");
                }
                for f in &t.functions {
                    println!("function {} ({}) validated", f.name, file.display());
                }
            }
            Err(diags) => {
                for d in diags {
                    eprintln!("{d}");
                }
            }
        }
    }
    for t in &bundle.terraform {
        for d in &t.diagnostics {
            eprintln!("{d}");
        }
        if let Some(m) = t.valid() {
            for i in &m.instances {
                let what = match i.mode {
                    meridian_config::terraform::Mode::Managed => "resource",
                    meridian_config::terraform::Mode::Data => "data source",
                };
                println!(
                    "terraform {what} {} ({}:{}, {}) validated",
                    i.address,
                    i.file.display(),
                    i.span.line,
                    if i.region.is_empty() {
                        "no region"
                    } else {
                        i.region.as_str()
                    }
                );
            }
        }
    }
    let errors = bundle.error_count();
    if errors > 0 {
        let bad = bundle.docs.iter().filter(|d| !d.is_valid()).count()
            + bundle.file_errors.len()
            + bundle.compose.iter().filter(|c| !c.is_valid()).count()
            + bundle.templates.iter().filter(|(_, t)| t.is_err()).count()
            + bundle.terraform.iter().filter(|t| !t.is_valid()).count()
            + bundle.azure.iter().filter(|a| a.valid().is_none()).count();
        eprintln!(
            "error: {errors} error{} in {bad} {}",
            if errors == 1 { "" } else { "s" },
            if bad == 1 { "place" } else { "places" }
        );
    }
}
