//! `GET /api/reports/{reportId}` as a Lambda function (see api-lambdas/routes.json).

fn main() -> std::process::ExitCode {
    cutover_api_lambda::main(cutover_api::routes::Function::GetReport)
}
