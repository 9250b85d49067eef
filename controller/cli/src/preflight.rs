//! `cutover preflight PLAN`: the checklist before a real cutover, a line
//! per check, each failure with its fix; exit 1 on any failure.

use std::path::PathBuf;
use std::process::ExitCode;

#[cfg(feature = "aws")]
use cutover_aws::preflight::{Preflight, PreflightOutcome};
#[cfg(feature = "aws")]
use cutover_aws::Clients;
#[cfg(feature = "aws")]
use cutover_core::plan::EdgeTarget;

use crate::failure::Failure;
use crate::stores::EndpointArgs;

#[derive(clap::Args)]
pub struct PreflightArgs {
    /// The plan whose [target.cloudfront] and [target.metrics] are checked.
    pub plan: PathBuf,
    /// Probe through this URL instead of the distribution's own domain (a staging alias, or a local stand-in).
    #[arg(long)]
    pub edge_url: Option<String>,
    /// A GET route both sides serve, for the probes.
    #[arg(long, default_value = "/api/health")]
    pub probe_path: String,
    /// Unreserved Lambda concurrency in the account below this fails the check.
    #[arg(long, default_value_t = 100)]
    pub min_concurrency: i32,
}

#[cfg(not(feature = "aws"))]
pub async fn run(_: &PreflightArgs, _: &EndpointArgs) -> Result<ExitCode, Failure> {
    Err(Failure::Input(crate::stores::WITHOUT_AWS.into()))
}

#[cfg(feature = "aws")]
pub async fn run(args: &PreflightArgs, aws: &EndpointArgs) -> Result<ExitCode, Failure> {
    let plan = crate::plan::load_plan(&args.plan)?;
    let EdgeTarget::CloudFront(edge) = plan.target.edge.clone() else {
        return Err(Failure::input(format!(
            "{}: the plan's target is local ([target.local]); pre-flight checks a [target.cloudfront] target",
            args.plan.display()
        )));
    };
    let function_code = cutover_core::edge_function::render(&plan.target, &edge)
        .map_err(|e| Failure::input(format!("{}: {e}", args.plan.display())))?;
    let checks = {
        let preflight = Preflight {
            clients: Clients::new(&aws.endpoints()).await,
            edge,
            metrics: plan.target.metrics.clone(),
            cohort: plan.target.cohort.clone(),
            edge_url: args.edge_url.clone(),
            probe_path: args.probe_path.clone(),
            min_unreserved_concurrency: args.min_concurrency,
            function_code,
        };
        preflight.run().await
    };
    println!("pre-flight for {} ({}):", plan.target.name, args.plan.display());
    for check in &checks {
        match &check.outcome {
            PreflightOutcome::Pass(detail) => println!("  ok    {:<20} {detail}", check.name),
            PreflightOutcome::Fail { found, fix } => {
                println!("  FAIL  {:<20} {found}", check.name);
                println!("        {:<20} fix: {fix}", "");
            }
            PreflightOutcome::Skipped(why) => println!("  skip  {:<20} {why}", check.name),
        }
    }
    let failed = checks.iter().filter(|c| c.failed()).count();
    if failed == 0 {
        println!("all {} checks passed: ready for `cutover run`", checks.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{failed} of {} checks failed", checks.len());
        Ok(ExitCode::FAILURE)
    }
}
