//! Log lines of the running node, to stderr; `MERIDIAN_LOG` (or `RUST_LOG`) picks the level.
//! Colours only on a terminal, and never with `NO_COLOR` set (no-color.org).

use tracing_subscriber::EnvFilter;

/// Installs the subscriber once.
pub(crate) fn init() {
    let filter = std::env::var("MERIDIAN_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .try_init();
}
