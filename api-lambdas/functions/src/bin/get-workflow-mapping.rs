//! `GET /api/workflows/{workflowId}/mapping` as a Lambda function (see api-lambdas/routes.json).

use cutover_api_lambda::{Absent, DynamoItemStore};

fn main() -> std::process::ExitCode {
    cutover_api_lambda::main::<DynamoItemStore, Absent>(cutover_api::routes::Function::GetWorkflowMapping)
}
