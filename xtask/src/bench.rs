//! `cargo xtask bench-cold-start`: every start is a fresh process, as a
//! Lambda cold start is. Each function binary (x86_64, the same `lambda`
//! profile as the packages) is started against a Runtime API stand-in with
//! one event queued, DynamoDB served by moto and a stub backend, then
//! killed after its first answer.
//!
//! * init — process start → its first `GET /runtime/invocation/next`
//!   (what Lambda reports as Init Duration);
//! * first answer — process start → the response to that event (init plus
//!   the first invocation, including its DynamoDB or backend call);
//! * peak RSS — `VmHWM` after the first answer.
//!
//! `--baseline DIR` measures the binaries in DIR (an earlier build's
//! `target/lambda`) beside today's, start for start alternately, and
//! prints each function's ratios: a before/after from one run.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use cutover_api::routes::Function;
use cutover_testkit::http::{raw_request, Answer, Stub};
use cutover_testkit::lambda::{apigw_http_event, function_env, RuntimeApi};
use cutover_testkit::Moto;
use serde_json::json;

use crate::package::mebibytes;
use crate::{root, run as run_command};

const TABLE: &str = "cutover-api-bench";

struct Sample {
    init: Duration,
    first_answer: Duration,
    peak_rss_kib: u64,
}

pub fn run(starts: usize, only: &[String], node: bool, baseline: Option<&Path>) -> anyhow::Result<()> {
    ensure!(starts >= 1, "--starts must be at least 1");
    let functions = select(only)?;
    let root = root();
    eprintln!("bench-cold-start: cargo build --profile lambda --package cutover-api-lambda (x86_64)");
    run_command(Command::new("cargo").current_dir(&root).args([
        "build",
        "--quiet",
        "--profile",
        "lambda",
        "--package",
        "cutover-api-lambda",
    ]))?;
    let moto = Moto::start();
    seed(moto.endpoint())?;
    let backend = Stub::start(|_| Answer::json(200, r#"{"rows":[{"day":"2026-11-27","requests":98211}]}"#));

    println!(
        "{starts} cold starts per function (x86_64, profile lambda); p99 is the nearest rank, {} of {starts}\n",
        nearest_rank(starts, 0.99)
    );
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>13} {:>10} {:>10}",
        "function", "bootstrap", "init p50", "init p99", "1st answer p50", "p99", "peak RSS"
    );
    let node_script = if node { Some(node_setup(&root)?) } else { None };
    // Each program in turn for every start, so both see the same machine.
    let measure = |label: &str, function: Function, programs: &[(&Path, &[&str])]| -> anyhow::Result<Vec<Row>> {
        let mut samples: Vec<Vec<Sample>> = programs.iter().map(|_| Vec::with_capacity(starts)).collect();
        for i in 0..starts {
            eprint!("\r{label:<22} start {}/{starts}", i + 1);
            let _ = std::io::stderr().flush();
            for (k, (program, samples)) in programs.iter().zip(&mut samples).enumerate() {
                // Each start its own item: a PUT creates one.
                let n = i * programs.len() + k;
                samples.push(start_once(function, *program, n, moto.endpoint(), backend.base())?);
            }
        }
        eprint!("\r{:<40}\r", "");
        Ok(samples.iter().map(|s| Row::new(s)).collect())
    };
    let size = |binary: &Path| -> anyhow::Result<u64> {
        Ok(std::fs::metadata(binary).with_context(|| format!("{}", binary.display()))?.len())
    };
    let mut all_init = Vec::new();
    let mut all_rss = Vec::new();
    let mut before_init = Vec::new();
    let mut before_rss = Vec::new();
    for function in functions {
        let binary = root.join("target/lambda").join(function.name());
        let mut row = match baseline {
            None => {
                let mut rows = measure(function.name(), function, &[(&binary, &[])])?;
                let mut row = rows.remove(0);
                row.print(function.name(), &mebibytes(size(&binary)? as usize));
                row
            }
            Some(dir) => {
                let old = dir.join(function.name());
                let mut rows = measure(function.name(), function, &[(&old, &[]), (&binary, &[])])?;
                let (mut before, mut after) = (rows.remove(0), rows.remove(0));
                before.print(&format!("{} (before)", function.name()), &mebibytes(size(&old)? as usize));
                after.print(function.name(), &mebibytes(size(&binary)? as usize));
                println!(
                    "  after / before, medians: binary {:.2}x, init {:.2}x, first answer {:.2}x, peak RSS {:.2}x",
                    size(&binary)? as f64 / size(&old)? as f64,
                    after.init_p50().as_secs_f64() / before.init_p50().as_secs_f64(),
                    after.first_p50().as_secs_f64() / before.first_p50().as_secs_f64(),
                    after.rss_p50() as f64 / before.rss_p50() as f64,
                );
                before_init.append(&mut before.init);
                before_rss.append(&mut before.rss);
                after
            }
        };
        if let (Function::GetUserContext, Some(script)) = (function, &node_script) {
            let script = script.to_string_lossy();
            let mut node =
                measure("node get-user-context", function, &[(Path::new("node"), &[script.as_ref()])])?.remove(0);
            node.print("  Node.js 20, SDK v3", "(script)");
            println!(
                "  ratio Node.js / Rust, medians: init {:.1}x, first answer {:.1}x, peak RSS {:.1}x",
                node.init_p50().as_secs_f64() / row.init_p50().as_secs_f64(),
                node.first_p50().as_secs_f64() / row.first_p50().as_secs_f64(),
                node.rss_p50() as f64 / row.rss_p50() as f64,
            );
        }
        all_init.append(&mut row.init);
        all_rss.append(&mut row.rss);
    }
    println!(
        "\nall functions: init median {}, p99 {}; peak RSS median {:.1} MiB, max {:.1} MiB",
        millis(percentile(&mut all_init, 0.5)),
        millis(percentile(&mut all_init, 0.99)),
        percentile(&mut all_rss, 0.5) as f64 / 1024.0,
        all_rss.iter().max().copied().unwrap_or_default() as f64 / 1024.0,
    );
    if baseline.is_some() {
        println!(
            "before:        init median {}, p99 {}; peak RSS median {:.1} MiB, max {:.1} MiB",
            millis(percentile(&mut before_init, 0.5)),
            millis(percentile(&mut before_init, 0.99)),
            percentile(&mut before_rss, 0.5) as f64 / 1024.0,
            before_rss.iter().max().copied().unwrap_or_default() as f64 / 1024.0,
        );
    }
    Ok(())
}

/// One table row: the samples of one function, sorted.
struct Row {
    init: Vec<Duration>,
    first: Vec<Duration>,
    rss: Vec<u64>,
}

impl Row {
    fn new(samples: &[Sample]) -> Row {
        let mut row = Row {
            init: samples.iter().map(|s| s.init).collect(),
            first: samples.iter().map(|s| s.first_answer).collect(),
            rss: samples.iter().map(|s| s.peak_rss_kib).collect(),
        };
        row.init.sort_unstable();
        row.first.sort_unstable();
        row.rss.sort_unstable();
        row
    }

    fn init_p50(&mut self) -> Duration {
        percentile(&mut self.init, 0.5)
    }

    fn first_p50(&mut self) -> Duration {
        percentile(&mut self.first, 0.5)
    }

    fn rss_p50(&mut self) -> u64 {
        percentile(&mut self.rss, 0.5)
    }

    fn print(&mut self, label: &str, size: &str) {
        println!(
            "{label:<22} {size:>10} {:>10} {:>10} {:>13} {:>10} {:>10}",
            millis(self.init_p50()),
            millis(percentile(&mut self.init, 0.99)),
            millis(self.first_p50()),
            millis(percentile(&mut self.first, 0.99)),
            format!("{:.1} MiB", self.rss_p50() as f64 / 1024.0),
        );
    }
}

/// The npm package the Node.js function uses, pinned.
const NODE_SDK: &str = "@aws-sdk/client-dynamodb@3.1169.0";

/// Installs the AWS SDK for JavaScript v3 into `target/node-bench` (once)
/// and puts the Node.js function beside it; returns the script's path.
fn node_setup(root: &Path) -> anyhow::Result<std::path::PathBuf> {
    let dir = root.join("target/node-bench");
    if !dir.join("node_modules/@aws-sdk/client-dynamodb").exists() {
        eprintln!("bench-cold-start: npm install {NODE_SDK} into target/node-bench");
        std::fs::create_dir_all(&dir)?;
        run_command(
            Command::new("npm")
                .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                .arg(&dir)
                .arg(NODE_SDK),
        )?;
    }
    let script = dir.join("get-user-context.mjs");
    std::fs::copy(root.join("xtask/node/get-user-context.mjs"), &script).context("copy the Node.js function")?;
    Ok(script)
}

fn select(only: &[String]) -> anyhow::Result<Vec<Function>> {
    if only.is_empty() {
        return Ok(Function::ALL.to_vec());
    }
    only.iter()
        .map(|name| {
            Function::from_name(name).with_context(|| {
                let known: Vec<_> = Function::ALL.iter().map(|f| f.name()).collect();
                format!("--functions: no function {name:?}; the functions are {}", known.join(", "))
            })
        })
        .collect()
}

/// One fresh process of `program args`, one event, killed after its answer.
fn start_once(
    function: Function,
    (program, args): (&Path, &[&str]),
    n: usize,
    dynamodb: &str,
    backend: &str,
) -> anyhow::Result<Sample> {
    let api = RuntimeApi::start();
    let id = api.invoke(event(function, n));
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(function_env(&api, function.name()))
        .env("TABLE_NAME", TABLE)
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb)
        .env("BACKEND_URL", backend)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start {}", program.display()))?;
    let completion = api.completion(&id, Duration::from_secs(10));
    let peak_rss_kib = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let completion = completion.with_context(|| format!("{} did not answer within 10 s", function.name()))?;
    let status = completion.json()["statusCode"].as_u64().unwrap_or_default();
    if completion.kind != "response" || !(200..300).contains(&status) {
        bail!(
            "{} answered {} {status}: {}",
            function.name(),
            completion.kind,
            String::from_utf8_lossy(&completion.body)
        );
    }
    let first_poll = api.first_poll().context("the function answered without polling")?;
    Ok(Sample {
        init: first_poll.duration_since(started),
        first_answer: completion.at.duration_since(started),
        peak_rss_kib: peak_rss_kib.context("could not read the process's peak RSS")?,
    })
}

/// The event each function gets: its own route, on items seeded in the
/// table; PUTs create a new item each time.
fn event(function: Function, n: usize) -> String {
    let create = [("content-type", "application/json"), ("if-none-match", "*")];
    match function {
        Function::Health => apigw_http_event("GET", "/api/health", &[], None),
        Function::GetUserContext => apigw_http_event("GET", "/api/users/u-1/context", &[], None),
        Function::PutUserContext => {
            apigw_http_event("PUT", &format!("/api/users/bench-{n}/context"), &create, Some(r#"{"theme":"dark"}"#))
        }
        Function::GetMetadata => apigw_http_event("GET", "/api/metadata/flags", &[], None),
        Function::GetWorkflowMapping => apigw_http_event("GET", "/api/workflows/wf-1/mapping", &[], None),
        Function::PutWorkflowMapping => {
            apigw_http_event("PUT", &format!("/api/workflows/bench-{n}/mapping"), &create, Some(r#"{"ingest":"q1"}"#))
        }
        Function::GetReport => apigw_http_event("GET", "/api/reports/r-1", &[], None),
    }
}

/// Creates the table and the items the GET events read, by calling
/// moto's DynamoDB API directly (this task links no AWS SDK).
fn seed(endpoint: &str) -> anyhow::Result<()> {
    let pk = cutover_api::routes::contract().partition_key.as_str();
    call_dynamodb(
        endpoint,
        "CreateTable",
        json!({
            "TableName": TABLE,
            "AttributeDefinitions": [{"AttributeName": pk, "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST"
        }),
    )?;
    for (key, body) in [
        ("user#u-1", r#"{"theme":"dark"}"#),
        ("workflow#wf-1", r#"{"ingest":"q1"}"#),
        ("metadata#flags", r#"{"dark_mode":true}"#),
    ] {
        let item = json!({
            pk: {"S": key}, "body": {"S": body}, "version": {"N": "1"}, "expires_at": {"N": "4102444800"}
        });
        call_dynamodb(endpoint, "PutItem", json!({"TableName": TABLE, "Item": item}))?;
    }
    Ok(())
}

fn call_dynamodb(endpoint: &str, action: &str, body: serde_json::Value) -> anyhow::Result<()> {
    let address = endpoint.trim_start_matches("http://");
    let body = body.to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\ncontent-type: application/x-amz-json-1.0\r\n\
         x-amz-target: DynamoDB_20120810.{action}\r\n\
         authorization: AWS4-HMAC-SHA256 Credential=local/20261128/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    let response = raw_request(address, request.as_bytes()).with_context(|| format!("moto {action}: no answer"))?;
    ensure!(response.status == 200, "moto {action}: {} {}", response.status, String::from_utf8_lossy(&response.body));
    Ok(())
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Nearest-rank position (1-based) of quantile `q` among `n` values.
fn nearest_rank(n: usize, q: f64) -> usize {
    ((q * n as f64).ceil() as usize).clamp(1, n)
}

fn percentile<T: Ord + Copy + Default>(values: &mut [T], q: f64) -> T {
    values.sort_unstable();
    if values.is_empty() {
        return T::default();
    }
    values[nearest_rank(values.len(), q) - 1]
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}
