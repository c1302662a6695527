//! `meridian up`: load, validate and run everything declared in the given paths, and keep it
//! in step with them until stopped.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use meridian_control::store::{Change, FileStore, Revision};
use meridian_telemetry::federate::Federation;

use crate::node::{Node, NodeOptions};
use crate::output::OutputFormat;
use crate::run_file::RunFile;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Files and folders to run (folders are read recursively).
    #[arg(value_name = "PATH", default_value = ".")]
    paths: Vec<PathBuf>,
    /// Where Meridian keeps its state (logs, certificates, the run file).
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".meridian",
        env = "MERIDIAN_STATE_DIR"
    )]
    state_dir: PathBuf,
    /// Address of the admin API and metrics (`127.0.0.1:0` picks a free port).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:15000",
        env = "MERIDIAN_ADMIN_ADDR"
    )]
    admin_addr: SocketAddr,
    /// This node's region (a node label, used by placement and as the metrics' `region`).
    #[arg(long)]
    region: Option<String>,
    /// A node label, `key=value` (repeat for several), for placement constraints.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("\"{s}\" is not key=value"))?;
    if k.is_empty() {
        return Err(format!("\"{s}\" has an empty key"));
    }
    Ok((k.to_owned(), v.to_owned()))
}

pub(crate) fn run(args: &Args, format: OutputFormat) -> anyhow::Result<ExitCode> {
    crate::logging::init();
    let store = FileStore::new(args.paths.clone());
    let bundle = store.load();
    for d in bundle.diagnostics() {
        eprintln!("{d}");
    }
    if !bundle.is_valid() {
        eprintln!(
            "error: refusing to start: {} error(s); fix them and run `meridian up` again",
            bundle.error_count()
        );
        return Ok(ExitCode::FAILURE);
    }
    let mut labels: BTreeMap<String, String> = args.labels.iter().cloned().collect();
    if let Some(r) = &args.region {
        labels.insert("region".into(), r.clone());
    }
    let state_dir = args.state_dir.clone();
    let options = NodeOptions {
        state_dir: state_dir.clone(),
        labels: labels.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("meridian")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = crate::admin::bind(args.admin_addr).await?;
        let admin_addr = listener.local_addr()?;
        let revision = Arc::new(Revision { number: 1, bundle });
        let node = Node::start(options, revision.clone())?;
        let external: Vec<(&str, &str)> = labels
            .get("region")
            .map(|r| vec![("region", r.as_str())])
            .unwrap_or_default();
        let federation = Federation::new(&external).context("invalid federation labels")?;
        crate::admin::serve(listener, node.clone(), federation);
        let run_file = RunFile::write(&state_dir, admin_addr)?;
        print_banner(&node, admin_addr, &store, format);

        let mut changes = store
            .watch(1)
            .context("cannot watch the files for changes")?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Some(Change::Accepted(rev)) => {
                        let n = rev.number;
                        match node.apply(rev) {
                            Ok(()) => println!("applied revision {n}"),
                            Err(e) => eprintln!("error: revision {n} not applied: {e:#}"),
                        }
                    }
                    Some(Change::Refused(diags)) => {
                        for d in &diags {
                            eprintln!("{d}");
                        }
                        eprintln!(
                            "error: change refused ({} error(s)); still serving revision {}",
                            diags.len(),
                            node.revision().number
                        );
                    }
                    None => break,
                },
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
            }
        }
        eprintln!("stopping: draining replicas");
        node.shutdown().await;
        run_file.remove();
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn print_banner(node: &Node, admin: SocketAddr, store: &FileStore, format: OutputFormat) {
    if format != OutputFormat::Table {
        return;
    }
    let rev = node.revision();
    let paths: Vec<String> = store
        .paths()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    println!(
        "meridian up: {} resources from {} (revision {})",
        rev.bundle.resources().count(),
        paths.join(", "),
        rev.number
    );
    println!("  admin     http://{admin}  (/metrics, /api/v1/status)");
    for w in node.supervisor.workloads() {
        println!(
            "  workload  {}/{}  {} replica(s)",
            w.workload.namespace, w.workload.name, w.desired
        );
    }
    println!("watching for changes; Ctrl-C stops (`meridian ps` in another terminal)");
}
