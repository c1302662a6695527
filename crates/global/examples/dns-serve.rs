//! Serves the Route 53 zones of a Terraform folder, as `meridian up` does, on one thread:
//! the server `bench/dns.sh` measures against Knot DNS and NSD.
//!
//! `dns-serve DIR ADDR [CHECK_INTERVAL_SECS]`

use std::time::Duration;

use meridian_config::{LoadOptions, load_paths};
use meridian_global::server::Listener;
use meridian_global::{Network, Plane};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(addr)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: dns-serve DIR ADDR [CHECK_INTERVAL_SECS]");
    };
    let interval = args
        .next()
        .map(|s| s.parse().map(Duration::from_secs))
        .transpose()?;
    let bundle = load_paths(&[dir.into()], LoadOptions::default());
    for d in bundle.diagnostics() {
        eprintln!("{d}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let plane = Plane::new(Network::default(), interval);
        let summary = plane.apply(bundle.terraform_modules());
        for n in &summary.notes {
            eprintln!("note: {n}");
        }
        let listener = Listener::bind(addr.parse()?, plane.shared()).await?;
        println!(
            "dns-serve: {} on {} ({} records, {} checks)",
            summary.zones.join(", "),
            listener.addr,
            summary.records,
            summary.checks
        );
        tokio::signal::ctrl_c().await?;
        Ok(())
    })
}
