//! The binaries' log set-up.

use std::io::IsTerminal;

/// Logs to stderr through `tracing`: human-readable on a terminal, JSON
/// lines otherwise; the level from `CUTOVER_LOG` (an `EnvFilter`
/// directive, `info` by default).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUTOVER_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}
