//! A function binary run as Lambda runs it (against a Runtime API stand-in),
//! and a moto with the table made: shared by the runtime tests and the
//! fuzzing of the functions' events.

#![allow(dead_code)] // each test file uses its own share

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cutover_api_aws::{DynamoItemStore, Endpoint};
use cutover_testkit::lambda::{apigw_http_event, function_env, Completion, RuntimeApi};
use cutover_testkit::Moto;
use serde_json::Value;

/// Every function binary, by its name in routes.json.
pub const BINARIES: [(&str, &str); 7] = [
    ("health", env!("CARGO_BIN_EXE_health")),
    ("get-user-context", env!("CARGO_BIN_EXE_get-user-context")),
    ("put-user-context", env!("CARGO_BIN_EXE_put-user-context")),
    ("get-metadata", env!("CARGO_BIN_EXE_get-metadata")),
    ("get-workflow-mapping", env!("CARGO_BIN_EXE_get-workflow-mapping")),
    ("put-workflow-mapping", env!("CARGO_BIN_EXE_put-workflow-mapping")),
    ("get-report", env!("CARGO_BIN_EXE_get-report")),
];

pub struct Function {
    child: Child,
    api: RuntimeApi,
    /// Its log lines, read as they come: a pipe nobody reads fills after
    /// about 64 KB (some 170 answers), and the function then blocks on its
    /// next log line and answers nothing more.
    logs: std::thread::JoinHandle<String>,
}

impl Function {
    pub fn start(binary: &str, name: &str, extra_env: &[(&str, &str)]) -> Function {
        let api = RuntimeApi::start();
        let mut command = Command::new(binary);
        command.env_clear().envs(function_env(&api, name)).stdout(Stdio::piped()).stderr(Stdio::null());
        command.envs(extra_env.iter().copied());
        let mut child = command.spawn().expect("start the function");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let logs = std::thread::spawn(move || {
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            out
        });
        Function { child, api, logs }
    }

    /// Sends one event as it is; returns what the function posted back, and
    /// the request id.
    pub fn send(&self, event: String) -> (Completion, String) {
        let id = self.api.invoke(event);
        let completion = self.api.completion(&id, Duration::from_secs(20)).expect("the function answers");
        (completion, id)
    }

    /// Sends one event; what the function posted back, if it did within `limit`.
    pub fn answer(&self, event: String, limit: Duration) -> Option<Completion> {
        let id = self.api.invoke(event);
        self.api.completion(&id, limit)
    }

    /// Sends one event; returns the API Gateway response and its request id.
    pub fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> (Value, String) {
        let (completion, id) = self.send(apigw_http_event(method, path, headers, body));
        assert_eq!(completion.kind, "response", "{}", String::from_utf8_lossy(&completion.body));
        (completion.json(), id)
    }

    /// Whether the process still runs (else how it ended).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops the process and returns what it logged.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.logs.join().expect("read the logs")
    }
}

/// A moto of the test's own, with the table made.
pub fn moto_with_table(table: &str) -> Moto {
    let moto = Moto::start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let store = DynamoItemStore::connect(&Endpoint::Url(moto.endpoint().into()), table).await;
        store.create_table().await.expect("create the table");
    });
    moto
}
