//! Serves the Route 53 zones of a Terraform folder, as `meridian up` does, on one thread:
//! the server `bench/dns.sh` measures against Knot DNS and NSD.
//!
//! `dns-serve DIR ADDR [CHECK_INTERVAL_SECS] [--rate-limit ANSWERS_PER_SECOND]`
//!
//! Response rate limiting is off unless `--rate-limit` is given (Knot and NSD run without
//! it in the benchmark, and dnsperf asks from one address).

use std::time::Duration;

use meridian_config::{LoadOptions, load_paths};
use meridian_global::server::{Listener, Options, RateLimit};
use meridian_global::{Network, Plane};

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut rate_limit = RateLimit::off();
    if let Some(i) = args.iter().position(|a| a == "--rate-limit") {
        let Some(n) = args.get(i + 1) else {
            anyhow::bail!("--rate-limit needs a number of answers per second");
        };
        rate_limit.responses_per_second = n.parse()?;
        args.drain(i..i + 2);
    }
    let mut args = args.into_iter();
    let (Some(dir), Some(addr)) = (args.next(), args.next()) else {
        anyhow::bail!(
            "usage: dns-serve DIR ADDR [CHECK_INTERVAL_SECS] [--rate-limit ANSWERS_PER_SECOND]"
        );
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
        let listener =
            Listener::bind_with(addr.parse()?, plane.shared(), Options { rate_limit }).await?;
        println!(
            "dns-serve: {} on {} ({} records, {} checks)",
            summary.zones.join(", "),
            listener.addr,
            summary.records,
            summary.checks
        );
        tokio::signal::ctrl_c().await?;
        let s = listener.stats();
        eprintln!(
            "dns-serve: {} UDP answers, {} rate limited ({} slipped)",
            s.answered.load(std::sync::atomic::Ordering::Relaxed),
            s.rate_limited.load(std::sync::atomic::Ordering::Relaxed),
            s.slipped.load(std::sync::atomic::Ordering::Relaxed)
        );
        Ok(())
    })
}
