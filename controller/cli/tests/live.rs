//! The live views against a real cutover: `cutover demo --keep` runs one
//! (origins, edge, daemon, traffic) and each test watches and commands it.
//!
//! * The web page in a real browser: `tests/browser/dashboard.py` drives
//!   Debian's chromium through Playwright — the numbers shown equal the
//!   API's, a new analysis shows within 2 s, a phone's width fits, a viewer
//!   has no buttons, the rollback button rolls the cutover back and the edge
//!   ends at 0. Screenshots: target/tmp/live-dashboard/.
//! * `cutover watch` as a process in tmux: it draws the cutover, `p` pauses
//!   it and `b` rolls it back (each with a reason and a `y`), `q` quits.
//!
//! Each ends with the demo's report and its exit code for a rolled-back
//! cutover (3). Needs `cargo xtask setup` (chromium, tmux, Playwright in
//! .venv); `./tests/run` does it.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A demo cutover kept serving, and what it printed.
struct Demo {
    child: Child,
    lines: Receiver<String>,
    printed: Vec<String>,
    out: PathBuf,
    server: String,
    id: String,
    operator: String,
    viewer: String,
    edge_admin: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        // The demo leads its own process group: origins, edge and daemon go with it.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

impl Demo {
    fn start(name: &str) -> Demo {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("live-{name}"));
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        let store = out.join("cutover.db");
        let mut child = Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(["demo", "--speed", "240", "--rate", "200", "--keep", "--store", store.to_str().unwrap()])
            .env("CUTOVER_LOG", "warn")
            .current_dir(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start cutover demo");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut demo = Demo {
            child,
            lines,
            printed: Vec::new(),
            out,
            server: String::new(),
            id: String::new(),
            operator: String::new(),
            viewer: String::new(),
            edge_admin: String::new(),
        };
        demo.read_until(|l| l.trim_start().starts_with("read-only"), Duration::from_secs(90));
        let find = |prefix: &str| {
            demo.printed
                .iter()
                .find_map(|l| l.trim_start().strip_prefix(prefix).map(|rest| rest.trim().to_owned()))
                .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{}", demo.printed.join("\n")))
        };
        let token = |url: &str| url.split("?token=").nth(1).unwrap().to_owned();
        let dashboard = find("dashboard");
        let viewer = token(&find("read-only"));
        let (server, rest) = dashboard.split_once("/#/cutovers/").unwrap();
        demo.edge_admin = demo
            .printed
            .iter()
            .find_map(|l| l.split("(admin ").nth(1).and_then(|r| r.split(')').next()))
            .map(|a| format!("http://{a}"))
            .expect("the edge's admin address");
        demo.server = server.to_owned();
        demo.id = rest.split('?').next().unwrap().to_owned();
        demo.operator = token(&dashboard);
        demo.viewer = viewer;
        demo
    }

    fn read_until(&mut self, done: impl Fn(&str) -> bool, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.printed.iter().any(|l| done(l)) {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => self.printed.push(line),
                Err(_) => panic!("the demo did not print what was awaited:\n{}", self.printed.join("\n")),
            }
        }
    }

    /// The cutover as the API gives it.
    fn view(&self) -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(["status", &self.id, "--output", "json", "--server", &self.server])
            .env("CUTOVER_TOKEN", &self.operator)
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)))
    }

    fn wait_for_phase(&self, phase: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let view = self.view();
            if view["phase"] == phase {
                return view;
            }
            assert!(Instant::now() < deadline, "the cutover never became {phase}: {view}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// After an operator's rollback: the demo's report, then on SIGTERM
    /// the exit code of a rolled-back cutover.
    fn ends_rolled_back(mut self, reason: &str) {
        self.read_until(|l| l.starts_with("still serving"), Duration::from_secs(60));
        let report = self.printed.iter().find(|l| l.starts_with("wrote ")).expect("the demo wrote its report");
        assert!(report.contains("hash chain intact"), "{report}");
        let html = std::fs::read_to_string(self.out.join(format!("cutover-report-{}.html", self.id))).unwrap();
        assert!(html.contains(reason), "the report has the operator's reason");
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the demo did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(1)) {
            self.printed.push(line);
        }
        assert_eq!(status.code(), Some(3), "a rolled-back demo exits 3:\n{}", self.printed.join("\n"));
        assert!(self.printed.iter().any(|l| l.contains("RolledBack(operator)")), "{}", self.printed.join("\n"));
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

#[test]
fn the_web_page_shows_the_cutover_live_and_rolls_it_back() {
    let python = root().join(".venv/bin/python");
    assert!(
        python.exists() && Path::new("/usr/bin/chromium").exists(),
        "the browser test needs .venv (Playwright) and /usr/bin/chromium: run `cargo xtask setup` (./tests/run does)"
    );
    let demo = Demo::start("dashboard");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/dashboard.py");
    let run = Command::new(&python)
        .arg(&script)
        .args([&demo.server, &demo.id, &demo.operator, &demo.viewer, &demo.edge_admin])
        .arg(&demo.out)
        .output()
        .expect("run the browser script");
    let said = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "the browser test failed:\n{said}");
    assert!(said.contains("all checks passed"), "{said}");
    for shot in ["dashboard.png", "phone.png", "viewer.png", "rolled-back.png"] {
        assert!(std::fs::metadata(demo.out.join(shot)).is_ok_and(|m| m.len() > 10_000), "no screenshot {shot}");
    }
    demo.ends_rolled_back("browser test: rollback from the dashboard");
}

/// A tmux server of this test's own, so nobody's sessions are touched.
struct Tmux(String);

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").arg("-L").arg(&self.0).args(args).output().expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "watch"])
    }

    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(Instant::now() < deadline, "{text:?} never appeared on the terminal:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn keys(&self, keys: &[&str]) {
        for key in keys {
            self.run(&["send-keys", "-t", "watch", key]);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

#[test]
fn cutover_watch_in_a_terminal_pauses_and_rolls_back() {
    assert!(Command::new("tmux").arg("-V").output().is_ok(), "needs tmux: run `cargo xtask setup` (./tests/run does)");
    let demo = Demo::start("watch");
    let tmux = Tmux(format!("cutover-test-{}", std::process::id()));
    let watch = format!(
        "CUTOVER_TOKEN={} {} watch {} --server {} --every 0.2",
        demo.operator,
        env!("CARGO_BIN_EXE_cutover"),
        demo.id,
        demo.server
    );
    tmux.run(&["new-session", "-d", "-s", "watch", "-x", "140", "-y", "45", &watch]);
    tmux.wait_for(&format!("cutover {}", demo.id));
    // Redrawn as analyses are written.
    let screen = tmux.wait_for("latency_p99");
    for expected in ["progressing", "on serverless", "legacy p50", "serverless p99", "error_rate", "b roll back"] {
        assert!(screen.contains(expected), "{expected:?} not on the terminal:\n{screen}");
    }

    // Pause: a reason, then y.
    tmux.keys(&["p"]);
    tmux.wait_for("reason (for the audit trail)");
    tmux.keys(&["-l", "tmux test pause"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("y to confirm");
    tmux.keys(&["y"]);
    let paused = demo.wait_for_phase("paused", Duration::from_secs(30));
    assert_eq!(paused["reason"], "operator");
    tmux.wait_for("paused (operator)");

    // Roll back.
    tmux.keys(&["b"]);
    tmux.wait_for("reason (for the audit trail)");
    tmux.keys(&["-l", "tmux test rollback"]);
    tmux.keys(&["Enter", "y"]);
    let rolled = demo.wait_for_phase("rolled_back", Duration::from_secs(60));
    assert_eq!(rolled["edge_weight_bps"], 0);
    tmux.wait_for("rolled back (operator)");

    // q quits and gives the terminal back: the session ends with it.
    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.run(&["list-sessions"]).contains("watch") {
        assert!(Instant::now() < deadline, "cutover watch did not quit on q");
        std::thread::sleep(Duration::from_millis(100));
    }
    demo.ends_rolled_back("tmux test rollback");
}

/// Every runbook says when to use it before anything else, and ends by
/// saying how to know it worked.
#[test]
fn every_runbook_says_when_and_how_to_know_it_worked() {
    let dir = root().join("runbooks");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.extension().is_none_or(|e| e != "md") || name == "README.md" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text.split("\n## ").next().unwrap_or_default();
        assert!(first.contains("**When:**"), "{name}: say **When:** to use it before its first section");
        let last = text.rsplit("\n## ").next().unwrap_or_default();
        assert!(last.contains("How to know it worked"), "{name}: end with how to know it worked");
        checked += 1;
    }
    assert!(checked >= 9, "{checked} runbooks");
}

/// A shell block of a runbook marked `sh runnable` or `sh aws`.
struct Block {
    at: String,
    text: String,
}

/// The blocks of `runbooks/*.md` whose fence says `sh <kind>`, by file.
fn runbook_blocks(kind: &str) -> Vec<(String, Vec<Block>)> {
    let dir = root().join("runbooks");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let fence = format!("```sh {kind}");
    let mut out = Vec::new();
    for path in files.into_iter().filter(|p| p.extension().is_some_and(|e| e == "md")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut blocks = Vec::new();
        let mut open: Option<(usize, String)> = None;
        for (i, line) in text.lines().enumerate() {
            match &mut open {
                None if line.trim() == fence => open = Some((i + 1, String::new())),
                None => {}
                Some((start, body)) if line.trim() == "```" => {
                    blocks.push(Block { at: format!("{name}:{start}"), text: std::mem::take(body) });
                    open = None;
                }
                Some((_, body)) => {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
        if !blocks.is_empty() {
            out.push((name, blocks));
        }
    }
    out
}

/// Every `sh runnable` block of the runbooks, run against a demo's daemon,
/// origins and edge with its placeholders filled; a runbook's blocks run in
/// order on a cutover of their own; each `# expect: TEXT` must be printed.
#[test]
fn the_runbooks_runnable_blocks_do_what_they_say() {
    let runbooks = runbook_blocks("runnable");
    assert!(runbooks.len() >= 3, "runbooks with runnable blocks: {}", runbooks.len());
    let demo = Demo::start("runbooks");
    // `cutover` on PATH is the binary under test.
    let bin = demo.out.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let _ = std::fs::remove_file(bin.join("cutover"));
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_cutover"), bin.join("cutover")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let plan = demo.out.join(format!("{}.plan.toml", demo.id));
    // A runbook's `plan.toml` is the demo's (its local target, the demo's origins).
    std::fs::copy(&plan, demo.out.join("plan.toml")).unwrap();
    let edge = demo.edge_admin.trim_start_matches("http://").to_owned();
    // A time to schedule at: an hour from now.
    let later = Command::new("date").args(["-u", "-d", "+1 hour", "+%Y-%m-%dT%H:%M:%SZ"]).output().unwrap();
    let later = String::from_utf8(later.stdout).unwrap().trim().to_owned();
    // One cutover on the edge at a time: the demo's own goes back to 0 first,
    // and whatever a runbook leaves running goes back after it (two
    // controllers on one edge would see each other's writes as drift).
    let settle_all = || {
        let listed = Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(["history", "--output", "json", "--server", &demo.server])
            .env("CUTOVER_TOKEN", &demo.operator)
            .output()
            .unwrap();
        let listed: Value = serde_json::from_slice(&listed.stdout).unwrap_or_default();
        for cutover in listed.as_array().into_iter().flatten() {
            let phase = cutover["phase"]["phase"].as_str().unwrap_or_default();
            if matches!(phase, "progressing" | "paused" | "pending" | "rolling_back") {
                let id = cutover["id"].as_str().unwrap_or_default();
                let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
                    .args(["rollback", id, "--reason", "runbook test: one cutover at a time", "--server", &demo.server])
                    .env("CUTOVER_TOKEN", &demo.operator)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "rollback {id}: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
    };
    settle_all();
    for (n, (name, blocks)) in runbooks.iter().enumerate() {
        let id = format!("runbook-{n}");
        let started = Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(["start", &id, "--plan", plan.to_str().unwrap(), "--speed", "240", "--reason", "runbook test"])
            .args(["--server", &demo.server])
            .env("CUTOVER_TOKEN", &demo.operator)
            .output()
            .unwrap();
        assert!(started.status.success(), "{name}: start {id}: {}", String::from_utf8_lossy(&started.stderr));
        for block in blocks {
            let script = block
                .text
                .replace("<ID>", &id)
                .replace("<your operator token>", &demo.operator)
                .replace("<your token>", &demo.operator)
                .replace("<admin token>", &demo.operator)
                .replace("<a UTC time, RFC 3339>", &later)
                .replace("http://127.0.0.1:7300", &demo.server)
                .replace("localhost:8079", &edge);
            // Bounded: a block that hangs fails here instead of holding CI.
            let out = Command::new("timeout")
                .args(["300", "bash", "-euo", "pipefail", "-c", &script])
                .env("PATH", &path)
                .env("CUTOVER_SERVER", &demo.server)
                .env("CUTOVER_TOKEN", &demo.operator)
                .env("CUTOVER_LOG", "warn")
                .current_dir(&demo.out)
                .output()
                .unwrap();
            let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "{}: the block failed:\n{script}\n---\n{said}", block.at);
            for expected in script.lines().filter_map(|l| l.trim().strip_prefix("# expect: ")) {
                assert!(said.contains(expected), "{}: {expected:?} not printed:\n{said}", block.at);
            }
        }
        settle_all();
    }
}

/// Every `sh aws` block of the runbooks, run against the AWS CLI's own
/// model with no account: each `aws` call is sent to a closed port, so a
/// command the CLI parses ends at "could not connect" (or asks for the
/// optional CRT signer), and a misspelt command, option or missing
/// argument fails here instead of during an incident.
#[test]
fn the_runbooks_aws_commands_are_ones_the_aws_cli_takes() {
    let aws = root().join(".venv-tools/bin/aws");
    assert!(aws.exists(), "needs the AWS CLI in .venv-tools: run `cargo xtask setup` (./tests/run does)");
    let runbooks = runbook_blocks("aws");
    assert!(!runbooks.is_empty());
    // `aws` as a function: the real CLI, pointed nowhere; a call it parsed
    // answers a stand-in ETag so the block goes on.
    let wrapper = format!(
        r#"aws() {{
  local said
  if said=$("{aws}" "$@" --endpoint-url http://127.0.0.1:9 2>&1); then echo "$said"; return 0; fi
  case "$said" in
    *"Could not connect to the endpoint URL"*|*"Missing Dependency"*) echo E2ETAGSTANDIN ;;
    *) echo "$said" >&2; return 1 ;;
  esac
}}
"#,
        aws = aws.display()
    );
    // A runbook's blocks in one shell, in order: a later block uses what
    // an earlier one set (FN=…, KVS=…), as the person following it does.
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("runbooks-aws");
    std::fs::create_dir_all(&scratch).unwrap();
    for (name, blocks) in runbooks {
        let text: String = blocks.iter().map(|b| b.text.as_str()).collect();
        let out = Command::new("timeout")
            .args(["300", "bash", "-euo", "pipefail", "-c", &format!("{wrapper}{text}")])
            .current_dir(&scratch)
            .env_remove("AWS_PROFILE")
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .output()
            .unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let at: Vec<&str> = blocks.iter().map(|b| b.at.as_str()).collect();
        assert!(out.status.success(), "{name} ({}): the AWS CLI refused it:\n{text}\n---\n{said}", at.join(", "));
    }
    // The check can fail: a misspelt option is refused, by the CLI.
    let out = Command::new("bash")
        .args([
            "-c",
            &format!("{wrapper}aws cloudfront-keyvaluestore put-key --kvs-arn a --key k --valeu 0 --if-match E"),
        ])
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a misspelt option passed");
    assert!(said.contains("the following arguments are required: --value"), "refused for another reason: {said}");
}
