//! `infra/controller-policy.json` grants every IAM action the adapters call:
//! each action an error can name (`AwsFailure::from_sdk("xray:BatchGetTraces", …)`
//! and the store's own) is read from the source and looked up in the policy.

use std::collections::BTreeSet;
use std::path::Path;

const SERVICES: &[&str] =
    &["dynamodb", "cloudfront", "cloudfront-keyvaluestore", "cloudwatch", "lambda", "xray", "apigateway", "kinesis"];
/// Called only against an emulator (Terraform makes the table in AWS).
const EMULATOR_ONLY: &[&str] = &["dynamodb:CreateTable", "dynamodb:DescribeTable"];

fn actions_in_source() -> BTreeSet<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut actions = BTreeSet::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        // Every stretch between two quotes (escaped quotes put alternation
        // out of step); only `service:Action` shapes are kept.
        // A quoted stretch may name several (`"dynamodb:PutItem, dynamodb:UpdateItem
        // and …"`, as IAM authorises a transaction by its parts).
        let words = text.split('"').flat_map(|quoted| quoted.split([' ', ',', '(', ')']));
        for word in words {
            let Some((service, action)) = word.split_once(':') else { continue };
            let is_action = action.starts_with(|c: char| c.is_ascii_uppercase())
                && action.chars().all(|c| c.is_ascii_alphanumeric());
            if SERVICES.contains(&service) && is_action {
                actions.insert(word.to_owned());
            }
        }
    }
    actions
}

fn actions_granted() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/controller-policy.json");
    let policy: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    let action_lists = statements.iter().filter_map(|s| s["Action"].as_array());
    action_lists.flatten().map(|a| a.as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_policy_grants_every_action_the_adapters_call() {
    let called = actions_in_source();
    assert!(called.len() >= 16 && called.contains("xray:BatchGetTraces"), "the scan finds them: {called:?}");
    let granted = actions_granted();
    let missing: Vec<&String> =
        called.iter().filter(|a| !granted.contains(*a) && !EMULATOR_ONLY.contains(&a.as_str())).collect();
    assert!(missing.is_empty(), "add to infra/controller-policy.json: {missing:?}");
}

/// And nothing more: an action granted but never called is a permission an
/// attacker with the controller's role gets for free (`dynamodb:Scan` was one).
#[test]
fn the_policy_grants_nothing_the_adapters_do_not_call() {
    let called = actions_in_source();
    let unused: Vec<String> = actions_granted().into_iter().filter(|a| !called.contains(a)).collect();
    assert!(unused.is_empty(), "remove from infra/controller-policy.json: {unused:?}");
}
