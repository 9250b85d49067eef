//! `cutover dashboard cloudwatch --plan p.toml`: the CloudWatch dashboard
//! body for the plan's AWS target (`cutover_core::dashboard`), on stdout,
//! for `aws cloudwatch put-dashboard --dashboard-body file://…` or Terraform.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::failure::Failure;
use crate::plan::load_plan;

#[derive(Subcommand)]
pub enum DashboardCmd {
    /// The CloudWatch dashboard body (JSON) for a [target.cloudfront] plan.
    Cloudwatch {
        /// The plan whose target the dashboard shows.
        #[arg(long)]
        plan: PathBuf,
        /// The region of the ALB, the HTTP API and the functions.
        #[arg(long, env = "AWS_REGION")]
        region: Option<String>,
    },
}

pub fn run(command: &DashboardCmd) -> Result<ExitCode, Failure> {
    match command {
        DashboardCmd::Cloudwatch { plan: path, region } => {
            let plan = load_plan(path)?;
            let region = region.as_deref().unwrap_or_default();
            let body = cutover_core::dashboard::cloudwatch(&plan.target, region)
                .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
            let text = serde_json::to_string_pretty(&body).map_err(|e| Failure::Other(e.into()))?;
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
