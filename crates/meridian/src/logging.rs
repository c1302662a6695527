//! Log lines of the running node, to stderr; `MERIDIAN_LOG` (or `RUST_LOG`) picks the level.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber once.
pub(crate) fn init() {
    let filter = std::env::var("MERIDIAN_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
