//! `GET /api/health` as a Lambda function (see api-lambdas/routes.json).

use cutover_api_lambda::Absent;

fn main() -> std::process::ExitCode {
    cutover_api_lambda::main::<Absent, Absent>(cutover_api::routes::Function::Health)
}
