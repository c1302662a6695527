//! `meridian functions ls`: the functions of the running node and their execution
//! environments (warm, busy), invocations, errors and cold starts; `meridian functions keys`:
//! the Azure Functions apps' keys, listed and rotated.

use std::process::ExitCode;

use std::collections::BTreeMap;

use meridian_admin::request::AdminRequest;

use crate::client::Target;
use crate::output::{OutputFormat, print_structured};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// List the functions.
    Ls,
    /// The Azure Functions apps' keys (master, host and function keys), as `?code=` or
    /// `x-functions-key` take them; `keys rotate APP [FUNCTION]` replaces one.
    Keys {
        #[command(subcommand)]
        action: Option<KeysAction>,
    },
}

#[derive(Debug, clap::Subcommand)]
enum KeysAction {
    /// Replace a key: a function's (APP FUNCTION), a host key (APP), or the master key
    /// (APP --name _master). The old key stops working at once.
    Rotate {
        /// The function app.
        app: String,
        /// The function; without it, a host key (or the master key with `--name _master`).
        function: Option<String>,
        /// The key's name.
        #[arg(long, default_value = "default")]
        name: String,
    },
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    match &args.action {
        Action::Ls => {
            let v = args.target.json("GET", "/api/v1/functions")?;
            if format == OutputFormat::Table {
                let rows: Vec<meridian_functions::FunctionStatus> = serde_json::from_value(v)?;
                print!("{}", meridian_functions::local::status_table(&rows));
            } else {
                print_structured(format, &v)?;
            }
        }
        Action::Keys { action: None } => {
            let v = args.target.call(&AdminRequest::FunctionKeys)?;
            if format == OutputFormat::Table {
                let apps: BTreeMap<String, meridian_functions::azure::Keys> =
                    serde_json::from_value(v)?;
                print!("{}", keys_table(&apps));
            } else {
                print_structured(format, &v)?;
            }
        }
        Action::Keys {
            action:
                Some(KeysAction::Rotate {
                    app,
                    function,
                    name,
                }),
        } => {
            let v = args.target.call(&AdminRequest::RotateFunctionKey {
                app: app.clone(),
                function: function.clone(),
                name: name.clone(),
            })?;
            if format == OutputFormat::Table {
                println!("{}", v["value"].as_str().unwrap_or_default());
            } else {
                print_structured(format, &v)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per key: app, function (`(host)` for host keys, `(master)`), name, key.
fn keys_table(apps: &BTreeMap<String, meridian_functions::azure::Keys>) -> String {
    use std::fmt::Write as _;
    let mut out = format!("{:<16} {:<24} {:<10} KEY\n", "APP", "FUNCTION", "NAME");
    for (app, k) in apps {
        let _ = writeln!(
            out,
            "{app:<16} {:<24} {:<10} {}",
            "(master)", "_master", k.master
        );
        for (n, key) in &k.host {
            let _ = writeln!(out, "{app:<16} {:<24} {n:<10} {key}", "(host)");
        }
        for (f, ks) in &k.functions {
            for (n, key) in ks {
                let _ = writeln!(out, "{app:<16} {f:<24} {n:<10} {key}");
            }
        }
    }
    out
}
