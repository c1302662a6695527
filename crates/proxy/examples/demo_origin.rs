//! The demo app (`meridian demo-app`) as a standalone origin for load tests, on one thread:
//! `cargo run --release -p meridian-proxy --example demo_origin -- --port 8000`. Same code as
//! the binary's subcommand, without building the whole binary.

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let code = rt.block_on(meridian_demo::run(std::env::args().skip(1)))?;
    std::process::exit(code);
}
