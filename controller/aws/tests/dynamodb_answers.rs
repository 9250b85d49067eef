//! The DynamoDB store's answers to what moto does not stage (aws-smithy-mocks
//! at the SDK boundary): transactions cancelled by contention, throttling
//! or an invalid item, and the idempotency token every transaction carries.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::transact_write_items::{TransactWriteItemsError, TransactWriteItemsOutput};
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_sdk_dynamodb::types::CancellationReason;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use cutover_aws::DynamoStore;
use cutover_core::engine::CutoverState;
use cutover_core::store::{Store, StoreError, TimeScale};
use cutover_core::units::Timestamp;

/// A cancellation whose items failed for `codes` (`None` for an item that was fine).
fn cancelled(codes: &[&str]) -> TransactWriteItemsError {
    let reasons =
        codes.iter().map(|code| CancellationReason::builder().code(*code).message(format!("{code} here")).build());
    TransactWriteItemsError::TransactionCanceledException(
        TransactionCanceledException::builder()
            .message("Transaction cancelled, please refer cancellation reasons for specific reasons")
            .set_cancellation_reasons(Some(reasons.collect()))
            .build(),
    )
}

/// Creates cutover `id` through a store whose transactions answer, in order, `answers`
/// (`None` for success); the tokens each try carried.
async fn create(answers: Vec<Option<Vec<&'static str>>>) -> (Result<(), StoreError>, Vec<String>) {
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let rules: Vec<_> = answers
        .into_iter()
        .map(|answer| {
            let seen = tokens.clone();
            let rule = mock!(Client::transact_write_items).match_requests(move |r| {
                seen.lock().unwrap().push(r.client_request_token().unwrap_or_default().to_owned());
                true
            });
            match answer {
                None => rule.then_output(|| TransactWriteItemsOutput::builder().build()),
                Some(codes) => rule.then_error(move || cancelled(&codes)),
            }
        })
        .collect();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, &rules.iter().collect::<Vec<_>>());
    let store = DynamoStore::new(client, "cutover");
    let state = CutoverState::new("answers", Timestamp::from_ms(0));
    let time = TimeScale { speed: 1.0, anchor: Timestamp::from_ms(0) };
    let result = store.create("plan", time, &state, &[]).await;
    let tokens = tokens.lock().unwrap().clone();
    (result, tokens)
}

#[tokio::test]
async fn contention_and_throttling_are_tried_again_with_a_fresh_token() {
    let (result, tokens) =
        create(vec![Some(vec!["None", "TransactionConflict"]), Some(vec!["ThrottlingError", "None"]), None]).await;
    assert_eq!(result, Ok(()));
    assert_eq!(tokens.len(), 3, "{tokens:?}");
    assert!(tokens.iter().all(|t| (1..=36).contains(&t.len())), "DynamoDB takes 1 to 36 characters: {tokens:?}");
    assert_ne!(tokens[0], tokens[1], "a cancelled try's token would answer as it did");
    assert_eq!(tokens[0][..32], tokens[2][..32], "one write, one seed");
}

/// A try DynamoDB is still running may yet commit: asked again with the
/// same token, which answers as that try does.
#[tokio::test]
async fn a_transaction_still_in_progress_is_asked_again_with_its_token() {
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let seen = tokens.clone();
    let record = move |r: &aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput| {
        seen.lock().unwrap().push(r.client_request_token().unwrap_or_default().to_owned());
        true
    };
    let busy = mock!(Client::transact_write_items).match_requests(record.clone()).then_error(|| {
        TransactWriteItemsError::TransactionInProgressException(
            aws_sdk_dynamodb::types::error::TransactionInProgressException::builder().message("in progress").build(),
        )
    });
    let done = mock!(Client::transact_write_items)
        .match_requests(record)
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, &[&busy, &done]);
    let state = CutoverState::new("answers", Timestamp::from_ms(0));
    let time = TimeScale { speed: 1.0, anchor: Timestamp::from_ms(0) };
    assert_eq!(DynamoStore::new(client, "cutover").create("plan", time, &state, &[]).await, Ok(()));
    let tokens = tokens.lock().unwrap().clone();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0], tokens[1]);
}

#[tokio::test]
async fn a_failed_condition_is_the_callers_to_answer() {
    let (result, tokens) = create(vec![Some(vec!["ConditionalCheckFailed", "None"])]).await;
    assert_eq!(result, Err(StoreError::Exists("answers".into())));
    assert_eq!(tokens.len(), 1, "a race lost is not tried again");
}

#[tokio::test]
async fn an_invalid_item_is_reported_as_such_and_not_tried_again() {
    let (result, tokens) = create(vec![Some(vec!["ValidationError", "None"])]).await;
    let Err(StoreError::Unavailable { message, retryable: false }) = result else { panic!("{result:?}") };
    assert!(message.contains("invalid") && message.contains("ValidationError here"), "{message}");
    assert!(message.contains("nothing was written"), "{message}");
    assert_eq!(tokens.len(), 1);
}

#[tokio::test]
async fn contention_that_lasts_is_a_retryable_error_naming_it() {
    let (result, tokens) = create(vec![Some(vec!["TransactionConflict"]); 5]).await;
    let Err(StoreError::Unavailable { message, retryable: true }) = result else { panic!("{result:?}") };
    assert!(message.contains("5 times") && message.contains("TransactionConflict"), "{message}");
    assert_eq!(tokens.len(), 5);
}

/// The same write asks for the same token, whatever the order its items'
/// attributes happen to be built in: a retry of a lost answer is a no-op.
#[tokio::test]
async fn the_same_write_carries_the_same_token() {
    let (_, first) = create(vec![None]).await;
    let (_, second) = create(vec![None]).await;
    assert!(!first.is_empty() && first.iter().all(|t| !t.is_empty()), "a token is sent: {first:?}");
    assert_eq!(first, second);
}
