//! `cutover origin`: one of the local demo's two origins — the serverless
//! side's handlers (in memory) with a latency profile and fault knobs, for
//! either side. The legacy side stands in for the Express app on EC2.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use cutover_api::store::MemoryItemStore;
use cutover_api::{App, Config};
use cutover_api_server::{Faults, Server};
use cutover_core::measure::Side;

use crate::failure::Failure;

#[derive(clap::Args)]
pub struct OriginArgs {
    /// Which side this origin plays.
    #[arg(long, value_enum)]
    side: SideArg,
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Median added latency, ms; by default the reference paths' (legacy 38, serverless 31).
    #[arg(long)]
    latency_ms: Option<f64>,
    /// Share of requests answered 500, 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share of requests that are cold starts; by default 0.2 % on serverless, none on legacy.
    #[arg(long)]
    cold_start_rate: Option<f64>,
    /// Extra latency of a cold start, ms (measured Rust Lambda init is ~12 ms; see api-lambdas).
    #[arg(long, default_value_t = 20.0)]
    cold_start_ms: f64,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SideArg {
    Legacy,
    Serverless,
}

pub async fn run(args: &OriginArgs) -> Result<ExitCode, Failure> {
    let side = match args.side {
        SideArg::Legacy => Side::Legacy,
        SideArg::Serverless => Side::Serverless,
    };
    let faults = Faults {
        latency_ms: args.latency_ms.unwrap_or(if side == Side::Legacy { 38.0 } else { 31.0 }),
        error_rate: args.error_rate,
        outage: false,
        cold_start_rate: args.cold_start_rate.unwrap_or(if side == Side::Legacy { 0.0 } else { 0.002 }),
        cold_start_ms: args.cold_start_ms,
    };
    if let Err(problem) = faults.check() {
        return Err(Failure::input(format!("--{}", problem.replacen('_', "-", 2).replacen(" = ", " ", 1))));
    }
    let config = Config { side: side.as_str().into(), ..Config::default() };
    let server = Arc::new(Server::new(App::new(MemoryItemStore::new(), NeverBackend, config), faults));
    {
        let listener =
            tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("listen on {}", args.listen))?;
        let stop = crate::edge::shutdown_signal();
        println!("cutover origin ({}) listening on http://{}", side.as_str(), listener.local_addr()?);
        cutover_api_server::serve(listener, server, stop).await;
        Ok(ExitCode::SUCCESS)
    }
}

/// The demo's origins have no backend: the metadata and report routes
/// answer 502 on both sides, so the demo's traffic leaves them out.
pub struct NeverBackend;

impl cutover_api::backend::Backend for NeverBackend {
    async fn get(
        &self,
        _path: &str,
        _trace: &cutover_api::backend::Trace,
    ) -> Result<cutover_api::backend::BackendResponse, cutover_api::backend::BackendError> {
        Err(cutover_api::backend::BackendError::NotConfigured("the demo origins have no backend".into()))
    }
}
