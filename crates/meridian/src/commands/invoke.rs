//! `meridian invoke FUNCTION [-e event.json]`: runs a function of a SAM template once, like
//! `sam local invoke`, without a container: the result goes to stdout, the function's logs
//! (START/END/REPORT lines included) to stderr. Exits 1 on a function error.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use meridian_config::sam::{TemplateOptions, load_template};
use meridian_functions::{FunctionHost, HostConfig};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The function: its name or its logical id in the template (optional when the template
    /// has a single function).
    function: Option<String>,
    /// The event: a JSON file, or `-` for stdin (default: `{}`).
    #[arg(short, long, value_name = "FILE")]
    event: Option<PathBuf>,
    /// The SAM template.
    #[arg(short, long, value_name = "FILE", default_value = "template.yaml")]
    template: PathBuf,
    /// A template parameter override, `Name=Value` (repeat).
    #[arg(long = "parameter-override", value_name = "NAME=VALUE")]
    parameter_overrides: Vec<String>,
    /// Where execution environments keep their files.
    #[arg(long, value_name = "DIR", default_value = ".meridian")]
    state_dir: PathBuf,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut opts = TemplateOptions::default();
    for p in &args.parameter_overrides {
        let (k, v) = p
            .split_once('=')
            .with_context(|| format!("\"{p}\" is not Name=Value"))?;
        opts.parameter_overrides.insert(k.to_owned(), v.to_owned());
    }
    let mut template = match load_template(&args.template, &opts) {
        Ok(t) => t,
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    let name = match (&args.function, template.functions.as_slice()) {
        (Some(n), _) => n.clone(),
        (None, [only]) => only.name.clone(),
        (None, fns) => {
            let names: Vec<&str> = fns.iter().map(|f| f.name.as_str()).collect();
            anyhow::bail!(
                "the template has several functions; name one of: {}",
                names.join(", ")
            );
        }
    };
    let event = match &args.event {
        None => b"{}".to_vec(),
        Some(p) if p.as_os_str() == "-" => {
            let mut v = Vec::new();
            std::io::stdin().read_to_end(&mut v)?;
            v
        }
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
    };
    serde_json::from_slice::<serde_json::Value>(&event).context("the event is not valid JSON")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // As `sam local invoke` after `sam build`, and as `up` prepares them: the packages
        // installed, the builds run, a missing interpreter version said.
        for outcome in meridian_functions::dependencies::install(&template.functions).await {
            if let meridian_functions::dependencies::Install::Failed { dir, reason } = outcome {
                eprintln!(
                    "warning: {}: packages not installed: {reason}",
                    dir.display()
                );
            }
        }
        let out = args.state_dir.join("build");
        for outcome in meridian_functions::build::run(&mut template.functions, &out).await {
            if let meridian_functions::build::Built::Failed { function, reason } = outcome {
                eprintln!("warning: {function}: not built, its unbuilt code runs: {reason}");
            }
        }
        for f in template.functions.iter().filter(|f| f.name == name) {
            if let Some(what) = meridian_functions::bootstrap::runtime_substitute(f.runtime) {
                eprintln!(
                    "{}:{}:{}: warning: {}: Properties.Runtime: {what}",
                    f.origin.file.display(),
                    f.runtime_at.line,
                    f.runtime_at.col,
                    f.logical_id
                );
            }
        }
        let host = FunctionHost::new(HostConfig::new(&args.state_dir))?;
        host.load_template(&template)?;
        if host.function(&name).is_none() {
            let names: Vec<String> = template.functions.iter().map(|f| f.name.clone()).collect();
            anyhow::bail!(
                "no function \"{name}\" in {}; functions: {}",
                args.template.display(),
                names.join(", ")
            );
        }
        let outcome = meridian_functions::local::invoke_once(
            &host,
            &name,
            event.into(),
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        )
        .await;
        host.shutdown();
        let outcome = outcome?;
        Ok(if outcome.is_error() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
}
