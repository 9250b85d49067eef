//! `GET /api/metadata/{key}` as a Lambda function (see api-lambdas/routes.json).

use cutover_api_lambda::{DynamoStore, HttpBackend};

fn main() -> std::process::ExitCode {
    cutover_api_lambda::main::<DynamoStore, HttpBackend>(cutover_api::routes::Function::GetMetadata)
}
