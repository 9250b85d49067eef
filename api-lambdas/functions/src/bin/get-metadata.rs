//! `GET /api/metadata/{key}` as a Lambda function (see api-lambdas/routes.json).

use cutover_api_lambda::{DynamoItemStore, HttpBackend};

fn main() -> std::process::ExitCode {
    cutover_api_lambda::main::<DynamoItemStore, HttpBackend>(cutover_api::routes::Function::GetMetadata)
}
