//! The real function binaries, run as Lambda runs them: against a Runtime
//! API stand-in, with API Gateway HTTP API events, and (for the data
//! routes) DynamoDB served by a moto of the test's own.

mod common;

use std::process::Command;

use common::{moto_with_table, Function, BINARIES};
use cutover_testkit::http::{Answer, Stub};
use cutover_testkit::lambda::{function_env, RuntimeApi};
use serde_json::{json, Value};

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().expect("a text body")).expect("a JSON body")
}

#[test]
fn health_answers_marks_its_cold_start_and_logs_the_ids() {
    let function = Function::start(env!("CARGO_BIN_EXE_health"), "health", &[]);
    let (first, id) = function.call("GET", "/api/health", &[], None);
    assert_eq!(first["statusCode"], 200);
    assert_eq!(body(&first), json!({"status": "ok", "side": "serverless"}));
    assert_eq!(first["headers"]["x-served-by"], "serverless");
    assert_eq!(first["headers"]["x-request-id"], id.as_str());
    assert_eq!(first["headers"]["x-cold-start"], "1");
    assert_eq!(first["isBase64Encoded"], false);
    let (second, _) = function.call("GET", "/api/health", &[], None);
    assert!(second["headers"].get("x-cold-start").is_none(), "only the first answer is a cold start");

    let (other, _) = function.call("GET", "/api/reports/r1", &[], None);
    assert_eq!(other["statusCode"], 404, "a function serves only its own route");

    let logs = function.stop();
    let answered: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "answered")
        .collect();
    assert_eq!(answered.len(), 3, "{logs}");
    assert_eq!(answered[0]["span"]["request_id"], id.as_str());
    assert!(answered[0]["span"]["trace_id"].as_str().unwrap_or_default().starts_with("Root=1-"), "{logs}");
    assert_eq!(answered[0]["status"], 200);
}

/// With `ORIGIN_SECRET` set, only requests carrying it (CloudFront adds it
/// on the API Gateway origin) are served; calling the API's own endpoint
/// directly is a 403 with the usual error body.
#[test]
fn with_an_origin_secret_only_requests_through_the_edge_are_served() {
    let secret = "a-secret-only-cloudfront-knows";
    let function = Function::start(env!("CARGO_BIN_EXE_health"), "health", &[("ORIGIN_SECRET", secret)]);
    let (direct, _) = function.call("GET", "/api/health", &[], None);
    assert_eq!(direct["statusCode"], 403);
    assert_eq!(body(&direct)["error"], "forbidden");
    assert_eq!(direct["headers"]["x-served-by"], "serverless");
    let (guessed, _) =
        function.call("GET", "/api/health", &[("x-origin-verify", "a-secret-only-cloudfront-knew")], None);
    assert_eq!(guessed["statusCode"], 403);
    let (through, _) = function.call("GET", "/api/health", &[("x-origin-verify", secret)], None);
    assert_eq!(through["statusCode"], 200, "{through}");
    function.stop();
}

#[test]
fn a_put_by_one_function_is_read_by_another_through_dynamodb() {
    let moto = moto_with_table("api");
    let env = [("TABLE_NAME", "api"), ("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint())];
    let put = Function::start(env!("CARGO_BIN_EXE_put-user-context"), "put-user-context", &env);
    let get = Function::start(env!("CARGO_BIN_EXE_get-user-context"), "get-user-context", &env);

    let create = [("content-type", "application/json"), ("if-none-match", "*")];
    let (created, _) = put.call("PUT", "/api/users/u-1/context", &create, Some(r#"{"locale":"fr"}"#));
    assert_eq!(created["statusCode"], 201, "{created}");
    assert_eq!(created["headers"]["etag"], "\"1\"");

    let (read, _) = get.call("GET", "/api/users/u-1/context", &[], None);
    assert_eq!((read["statusCode"].as_u64(), body(&read)), (Some(200), json!({"locale": "fr"})));

    let stale = [("content-type", "application/json"), ("if-match", "\"0\"")];
    let (lost, _) = put.call("PUT", "/api/users/u-1/context", &stale, Some("{}"));
    assert_eq!((lost["statusCode"].as_u64(), body(&lost)["error"].as_str()), (Some(412), Some("precondition_failed")));

    let (bad, _) = put.call("PUT", "/api/users/u-1/context", &create, Some("{not json"));
    assert_eq!(bad["statusCode"], 400);
    put.stop();
    get.stop();
}

/// get-metadata with a backend over TLS: its DynamoDB client takes the
/// roots read once for both clients (the SDK gets them as PEM) and still
/// reads the table; the backend's client is built on the same roots.
#[test]
fn with_a_tls_backend_both_clients_share_one_trust_store() {
    let moto = moto_with_table("api");
    let unreachable = format!("https://127.0.0.1:{}", cutover_testkit::free_port());
    let env = [("TABLE_NAME", "api"), ("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint()), ("BACKEND_URL", &unreachable)];
    let function = Function::start(env!("CARGO_BIN_EXE_get-metadata"), "get-metadata", &env);
    let (answer, _) = function.call("GET", "/api/metadata/flags", &[], None);
    // The table answered (a miss, not a store error); the backend could not.
    assert_eq!((answer["statusCode"].as_u64(), body(&answer)["error"].as_str()), (Some(502), Some("backend_error")));
    let logs = function.stop();
    assert!(!logs.contains("trust store was refused"), "{logs}");
}

/// Events shaped as API Gateway sends them behind CloudFront (cookies,
/// query string, path parameters, a base64 body): the functions read the
/// path and body they carry, not only the fields the test helper fills.
#[test]
fn recorded_api_gateway_events_are_understood() {
    let moto = moto_with_table("api");
    let env = [("TABLE_NAME", "api"), ("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint())];
    let put = Function::start(env!("CARGO_BIN_EXE_put-user-context"), "put-user-context", &env);
    let created = put.send(include_str!("data/apigw-http-v2-put-user-context.json").to_owned()).0.json();
    assert_eq!((created["statusCode"].as_u64(), body(&created)), (Some(201), json!({"theme": "dark"})));

    let get = Function::start(env!("CARGO_BIN_EXE_get-user-context"), "get-user-context", &env);
    let read = get.send(include_str!("data/apigw-http-v2-get-user-context.json").to_owned()).0.json();
    assert_eq!((read["statusCode"].as_u64(), body(&read)), (Some(200), json!({"theme": "dark"})));
    assert_eq!(read["headers"]["etag"], "\"1\"");
    put.stop();
    get.stop();
}

#[test]
fn a_backend_that_is_down_is_a_502_with_a_clear_body() {
    let url = format!("http://127.0.0.1:{}", cutover_testkit::free_port());
    let function = Function::start(env!("CARGO_BIN_EXE_get-report"), "get-report", &[("BACKEND_URL", &url)]);
    let (answer, _) = function.call("GET", "/api/reports/r-1", &[], None);
    assert_eq!(answer["statusCode"], 502);
    let error = body(&answer);
    assert_eq!(error["error"], "backend_error");
    assert!(error["message"].as_str().unwrap_or_default().starts_with("the reports backend failed"), "{error}");
    function.stop();
}

#[test]
fn a_missing_setting_stops_init_with_its_name_and_no_panic() {
    let api = RuntimeApi::start();
    let output = Command::new(env!("CARGO_BIN_EXE_get-user-context"))
        .env_clear()
        .envs(function_env(&api, "get-user-context"))
        .output()
        .expect("run the function");
    assert!(!output.status.success());
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(logs.contains("TABLE_NAME is not set: the get-user-context function needs it"), "{logs}");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));

    let outside = Command::new(env!("CARGO_BIN_EXE_health")).env_clear().output().expect("run the function");
    assert!(!outside.status.success());
    assert!(String::from_utf8_lossy(&outside.stdout).contains("AWS_LAMBDA_RUNTIME_API is not set"));
}

/// Each binary names its ports in its type parameters; one whose ports
/// disagree with routes.json stops at init. Every binary, given what its
/// contract needs, starts and answers its own route.
#[test]
fn every_binary_starts_with_the_ports_its_contract_names() {
    let moto = moto_with_table("every");
    let backend = Stub::start(|_| Answer::json(200, r#"{"rows":[]}"#));
    let binaries = BINARIES;
    let routes = &cutover_api::routes::contract().routes;
    assert_eq!(binaries.len(), routes.len(), "one binary per route");
    for route in routes {
        let (name, binary) = binaries.iter().find(|(name, _)| *name == route.function.name()).expect("a binary");
        let mut env = vec![];
        if !route.dynamodb.is_empty() {
            env.extend([("TABLE_NAME", "every"), ("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint())]);
        }
        if route.backend {
            env.push(("BACKEND_URL", backend.base()));
        }
        let function = Function::start(binary, name, &env);
        let path = route.path.replace(['{', '}'], "");
        let (answer, _) = function.call(route.method.as_str(), &path, &[], None);
        let status = answer["statusCode"].as_u64().expect("a status");
        assert!(status < 500, "{name}: {answer}");
        let logs = function.stop();
        assert!(logs.contains(r#""message":"ready""#), "{name}: {logs}");
    }
}
