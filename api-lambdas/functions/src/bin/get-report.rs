//! `GET /api/reports/{reportId}` as a Lambda function (see api-lambdas/routes.json).

use cutover_api_lambda::{Absent, HttpBackend};

fn main() -> std::process::ExitCode {
    cutover_api_lambda::main::<Absent, HttpBackend>(cutover_api::routes::Function::GetReport)
}
