//! The CloudFront Function (`infra/edge-function/function.js`) under
//! Node.js, against the shared cohort vectors and its fail-safe rules: the
//! JavaScript half of the proof that the edge and the controller bucket
//! alike (the Rust half is `cutover_core::cohort`'s tests).

use std::process::Command;

#[test]
fn the_cloudfront_function_passes_its_tests_under_node() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/edge-function/test.mjs");
    let out = Command::new("node")
        .arg(script)
        .output()
        .unwrap_or_else(|e| panic!("run node (Node.js must be installed to test the CloudFront Function): {e}"));
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(said.contains("1..11"), "every check ran: {said}");
}
