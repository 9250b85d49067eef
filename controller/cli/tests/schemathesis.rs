//! The control API fuzzed from its own OpenAPI document by schemathesis
//! (installed into .venv by ./tests/run): a few hundred generated requests
//! per run, with an admin token and with none, against a daemon holding one
//! cutover. No answer may be a 5xx, and every answer must be one the
//! document lists, with the content type and body schema it gives.
//! Deterministic generation: the same requests on every run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const ADMIN: &str = "admin-secret-for-fuzzing";

#[test]
fn schemathesis_finds_no_5xx_and_nothing_outside_the_document() {
    let dir = std::env::temp_dir().join(format!("cutover-schemathesis-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("cutover.db");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", db.to_str().unwrap()])
        .env("CUTOVER_TOKENS", format!("fuzz admin {ADMIN}"))
        .env("CUTOVER_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
        .spawn()
        .expect("start cutover serve");
    let mut line = String::new();
    BufReader::new(daemon.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("cutover serve listening on ").expect("the address").to_owned();

    // One cutover, so that the operations on /v1/cutovers/{id} reach it.
    let plan = Command::new(env!("CARGO_BIN_EXE_cutover")).args(["plan", "init"]).output().unwrap().stdout;
    let body = serde_json::json!({ "id": "c1", "plan": String::from_utf8(plan).unwrap() }).to_string();
    let request = format!(
        "POST /v1/cutovers HTTP/1.1\r\nhost: c\r\nconnection: close\r\nauthorization: Bearer {ADMIN}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let created = cutover_testkit::http::raw_request(base.trim_start_matches("http://"), request.as_bytes()).unwrap();
    assert_eq!(created.status, 201);
    let config = dir.join("schemathesis.toml");
    std::fs::write(&config, "[parameters]\n\"path.id\" = \"c1\"\n").unwrap();

    let schemathesis = cutover_testkit::venv().join("bin/schemathesis");
    assert!(schemathesis.exists(), "{} is missing: run ./tests/run (it installs it)", schemathesis.display());
    for token in [Some(ADMIN), None] {
        let mut run = Command::new(&schemathesis);
        run.current_dir(&dir).arg("--config-file").arg(&config).args([
            "run",
            &format!("{base}/v1/openapi.json"),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            // The live stream never ends by design; tests/serve.rs covers it.
            "--exclude-path",
            "/v1/cutovers/{id}/stream",
            "--generation-deterministic",
            "--max-examples",
            "30",
            "--workers",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            "--request-timeout",
            "20",
        ]);
        if let Some(token) = token {
            run.args(["--header", &format!("Authorization: Bearer {token}")]);
        }
        let out = run.output().expect("run schemathesis");
        let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "with token {token:?}:\n{report}");
        assert!(report.contains("passed"), "{report}");
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
}
