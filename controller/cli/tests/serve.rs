//! `cutover serve` as operators meet it: real processes (two origins, the
//! edge, one or two daemons) on loopback, driven through the control API.
//!
//! - Two replicas on one store (SQLite, and DynamoDB in a serial moto):
//!   SIGKILL the leader, the other takes the cutover over within the lease
//!   time and goes on with the same step; the trail has every event once,
//!   its hash chain intact, each command under the token's name.
//! - SIGSTOP the leader past its lease, let the other take over, SIGCONT:
//!   the stopped one writes nothing more (store or edge) and says so.
//! - A replica killed with its webhooks' notifications owed (the webhook
//!   was down): the next replica leads the settled cutover again and sends
//!   each of them once, in order.
//! - The live stream: the state at once, events as they are written, and a
//!   reconnection with `Last-Event-ID` resumes after it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cutover_testkit::http::raw_request;
use serde_json::{json, Value};

const OPERATOR: &str = "operator-secret-0001";
const ADMIN: &str = "admin-secret-00000002";
const VIEWER: &str = "viewer-secret-0000003";

fn tokens() -> String {
    format!("ana operator {OPERATOR}, ci admin {ADMIN}, grafana viewer {VIEWER}")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cutover-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `cutover` process; killed when dropped.
struct Proc {
    child: Child,
    /// What its first lines said, after each expected prefix.
    said: Vec<String>,
    log: PathBuf,
}

impl Proc {
    fn start(args: &[&str], env: &[(&str, &str)], log: PathBuf, prefixes: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(args)
            .env("CUTOVER_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start cutover");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let said = prefixes
            .iter()
            .map(|prefix| {
                let line = lines.next().unwrap_or_else(|| panic!("{args:?} ended; see {}", log.display())).unwrap();
                line.strip_prefix(prefix).unwrap_or_else(|| panic!("{prefix} in {line:?}")).to_owned()
            })
            .collect();
        Proc { child, said, log }
    }

    fn signal(&self, name: &str) {
        assert!(Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two origins and the edge in front of them, and the plan that points at them.
struct Stack {
    dir: PathBuf,
    _origins: (Proc, Proc),
    edge: Proc,
    plan: String,
}

impl Stack {
    fn new(dir: &Path) -> Stack {
        let origin = |side: &str| {
            Proc::start(
                &["origin", "--side", side, "--listen", "127.0.0.1:0"],
                &[],
                dir.join(format!("{side}.log")),
                &[&format!("cutover origin ({side}) listening on ")],
            )
        };
        let (legacy, serverless) = (origin("legacy"), origin("serverless"));
        let default = Command::new(env!("CARGO_BIN_EXE_cutover")).args(["plan", "init"]).output().unwrap().stdout;
        let default = String::from_utf8(default).unwrap();
        let upstreams = format!("legacy_url = \"{}\"\nserverless_url = \"{}\"\n", legacy.said[0], serverless.said[0]);
        let local = "legacy_url = \"http://127.0.0.1:8081\"\nserverless_url = \"http://127.0.0.1:8082\"\n";
        let edge_plan = dir.join("edge-plan.toml");
        std::fs::write(&edge_plan, default.replace(local, &upstreams)).unwrap();
        let edge = Proc::start(
            &[
                "edge",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--plan",
                edge_plan.to_str().unwrap(),
            ],
            &[],
            dir.join("edge.log"),
            &["cutover edge listening on ", "cutover edge admin on "],
        );
        let addresses = format!("{upstreams}edge_url = \"{}\"\nadmin_url = \"{}\"\n", edge.said[0], edge.said[1]);
        let plan = default.replace(local, &addresses);
        Stack { dir: dir.to_owned(), _origins: (legacy, serverless), edge, plan }
    }

    /// A `cutover serve` replica on `store`.
    fn replica(&self, name: &str, store: &[&str]) -> Replica {
        self.replica_logging(name, store, "info")
    }

    /// A replica whose log filter is `log` (CUTOVER_LOG).
    fn replica_logging(&self, name: &str, store: &[&str], log: &str) -> Replica {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--lease-ttl", "2", "--holder", name];
        args.extend_from_slice(store);
        let tokens = tokens();
        let proc = Proc::start(
            &args,
            &[("CUTOVER_TOKENS", tokens.as_str()), ("CUTOVER_LOG", log)],
            self.dir.join(format!("{name}.log")),
            &["cutover serve listening on http://"],
        );
        let address = proc.said[0].clone();
        Replica { proc, address }
    }

    /// The edge's weight version (its ETag): it moves with every write.
    fn edge_etag(&self) -> String {
        let admin = self.edge.said[1].trim_start_matches("http://");
        let response =
            raw_request(admin, b"GET /_cutover/weight HTTP/1.1\r\nhost: e\r\nconnection: close\r\n\r\n").unwrap();
        response.header("etag").expect("an ETag").to_owned()
    }
}

struct Replica {
    proc: Proc,
    address: String,
}

impl Replica {
    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut request = format!("{method} {path} HTTP/1.1\r\nhost: cutover\r\nconnection: close\r\n");
        if let Some(token) = token {
            request.push_str(&format!("authorization: Bearer {token}\r\n"));
        }
        request.push_str(&format!("content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()));
        let response = raw_request(&self.address, request.as_bytes()).expect("an answer");
        let text = String::from_utf8_lossy(&response.body).into_owned();
        (response.status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = self.call("GET", path, Some(VIEWER), None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Whether this replica leads `id` now, by its own `/metrics`.
    fn leads(&self, id: &str) -> bool {
        let (_, body) = self.call("GET", "/metrics", Some(VIEWER), None);
        body.as_str().is_some_and(|text| text.contains(&format!("cutover_led{{cutover=\"{id}\"}} 1")))
    }

    fn command(&self, id: &str, command: &str, reason: &str) {
        let body = json!({ "command": command, "reason": reason });
        let (status, answer) = self.call("POST", &format!("/v1/cutovers/{id}/commands"), Some(OPERATOR), Some(&body));
        assert_eq!(status, 202, "{command}: {answer}");
        assert_eq!(answer["actor"], "ana");
    }

    /// The whole trail, page by page, and the chain's status.
    fn trail(&self, id: &str) -> (Vec<Value>, Value) {
        let (mut events, mut after) = (Vec::new(), String::new());
        loop {
            let page = self.get(&format!("/v1/cutovers/{id}/events?limit=50{after}"));
            events.extend(page["events"].as_array().unwrap().iter().cloned());
            match page["next"].as_str() {
                Some(next) => after = format!("&after={next}"),
                None => return (events, page["chain"].clone()),
            }
        }
    }
}

/// Waits up to `limit` for `ready`, polling.
fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn create(replica: &Replica, plan: &str, id: &str) {
    let body = json!({ "id": id, "plan": plan, "start": true, "reason": "moving /api/* to Lambda" });
    let (status, answer) = replica.call("POST", "/v1/cutovers", Some(ADMIN), Some(&body));
    assert_eq!(status, 201, "{answer}");
    assert_eq!((answer["id"].as_str(), answer["steps"].as_u64()), (Some(id), Some(7)));
}

/// The weight the edge confirmed, by the API.
fn confirmed(replica: &Replica, id: &str) -> Option<u64> {
    replica.get(&format!("/v1/cutovers/{id}"))["edge_weight_bps"].as_u64()
}

fn takes_over_after_sigkill(store: &[&str], name: &str) {
    let dir = temp_dir(name);
    let stack = Stack::new(&dir);
    let (a, b) = (stack.replica("replica-a", store), stack.replica("replica-b", store));
    create(&a, &stack.plan, "c1");
    wait_for("the first step confirmed", Duration::from_secs(30), || confirmed(&a, "c1") == Some(100));
    wait_for("a leader", Duration::from_secs(10), || a.leads("c1") || b.leads("c1"));
    let (leader, other) = if a.leads("c1") { (a, b) } else { (b, a) };
    assert!(!other.leads("c1"), "one leader at a time");

    drop(leader); // SIGKILL
    let killed = Instant::now();
    wait_for("the other replica takes over", Duration::from_secs(15), || other.leads("c1"));
    let took = killed.elapsed();
    let view = other.get("/v1/cutovers/c1");
    assert_eq!(
        (view["step"].as_u64(), view["phase"].as_str()),
        (Some(1), Some("progressing")),
        "the same step: {view}"
    );

    // The survivor drives: a promote moves to 5 %, a rollback to 0.
    other.command("c1", "promote", "the 1 % step looks fine");
    wait_for("the second step confirmed", Duration::from_secs(30), || confirmed(&other, "c1") == Some(500));
    other.command("c1", "rollback", "enough for today");
    wait_for("rolled back", Duration::from_secs(30), || other.get("/v1/cutovers/c1")["phase"] == "rolled_back");
    assert_eq!(confirmed(&other, "c1"), Some(0));

    let (events, chain) = other.trail("c1");
    assert_eq!(chain["intact"], true, "{chain}");
    assert_eq!(chain["events"].as_u64(), Some(events.len() as u64), "every event of the chain was paged once");
    let places: Vec<(u64, u64)> =
        events.iter().map(|e| (e["version"].as_u64().unwrap(), e["index"].as_u64().unwrap())).collect();
    assert!(places.windows(2).all(|w| w[0] < w[1]), "no event twice, in order: {places:?}");
    let versions: Vec<u64> = places.iter().map(|p| p.0).collect();
    assert!(versions.windows(2).all(|w| w[1] - w[0] <= 1), "no version lost: {versions:?}");
    let kind = |e: &Value| e["kind"]["event"].as_str().unwrap_or_default().to_owned();
    let by = |name: &str| events.iter().filter(|e| kind(e) == name).collect::<Vec<_>>();
    assert_eq!(by("started").len(), 1, "one cutover, started once");
    assert_eq!(by("started")[0]["actor"], json!({"operator": "ci"}), "the admin token's name");
    for (name, reason) in [("step_advanced", "the 1 % step looks fine"), ("rollback_started", "enough for today")] {
        let event = by(name)[0];
        assert_eq!(event["actor"], json!({"operator": "ana"}), "{name} by the operator token's name");
        assert_eq!(event["reason"], reason);
    }
    eprintln!("{name}: taken over {took:?} after the SIGKILL (lease 2 s)");
}

#[test]
fn a_replica_killed_leaves_its_cutover_to_the_other_sqlite() {
    let dir = temp_dir("kill-sqlite-store");
    let store = dir.join("cutover.db");
    takes_over_after_sigkill(&["--store", store.to_str().unwrap()], "kill-sqlite");
}

#[cfg(feature = "aws")]
#[test]
fn a_replica_killed_leaves_its_cutover_to_the_other_dynamodb() {
    // Serial: moto's threaded server does not isolate conditional writes,
    // and two replicas race for leases.
    let moto = cutover_testkit::Moto::start_serial();
    let store = ["--store", "dynamodb://cutover-replicas", "--endpoint-url-dynamodb", moto.endpoint()];
    takes_over_after_sigkill(&store, "kill-dynamodb");
}

#[test]
fn notifications_owed_by_a_killed_replica_are_sent_by_the_next() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let dir = temp_dir("outbox");
    let store = dir.join("cutover.db");
    let store = ["--store", store.to_str().unwrap()];
    let stack = Stack::new(&dir);
    // The webhook is down (503) until the first replica is dead; then it
    // takes everything, and remembers what it took.
    let (down, taken) = (Arc::new(AtomicBool::new(true)), Arc::new(Mutex::new(Vec::<(String, String)>::new())));
    let hook = {
        let (down, taken) = (down.clone(), taken.clone());
        cutover_testkit::http::Stub::start(move |r| {
            if down.load(Ordering::SeqCst) {
                return cutover_testkit::http::Answer::json(503, "");
            }
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            let key = r.header("idempotency-key").unwrap_or_default().to_owned();
            assert_eq!(body["id"], key.as_str(), "the body's id is the header's key");
            taken.lock().unwrap().push((key, body["event"].as_str().unwrap_or_default().to_owned()));
            cutover_testkit::http::Answer::json(204, "")
        })
    };
    let plan = stack.plan.replace("webhooks = []", &format!("webhooks = [\"{}/hook\"]", hook.base()));
    assert_ne!(plan, stack.plan, "the plan names the webhook");

    let first = stack.replica("replica-a", &store);
    create(&first, &plan, "c1");
    wait_for("the first step confirmed", Duration::from_secs(30), || confirmed(&first, "c1") == Some(100));
    first.command("c1", "rollback", "a test of the outbox");
    wait_for("rolled back", Duration::from_secs(30), || first.get("/v1/cutovers/c1")["phase"] == "rolled_back");
    assert!(first.leads("c1"), "a settled cutover keeps its lease while its webhooks are owed");
    assert!(!first.proc.log().contains("lease released"), "never let go meanwhile");
    drop(first); // SIGKILL, every notification still owed
    assert!(taken.lock().unwrap().is_empty());

    down.store(false, Ordering::SeqCst);
    let second = stack.replica("replica-b", &store);
    let (events, _) = second.trail("c1");
    let owed: Vec<(String, String)> = events
        .iter()
        .map(|e| serde_json::from_value::<cutover_core::engine::Event>(e.clone()).expect("an audit event"))
        .filter(|e| e.kind.notifies())
        .map(|e| (format!("c1/{}/{}", e.version, e.index), e.kind.name().to_owned()))
        .collect();
    assert_eq!(owed.last().map(|(_, kind)| kind.as_str()), Some("rolled_back"), "{owed:?}");
    wait_for("the owed notifications sent", Duration::from_secs(30), || taken.lock().unwrap().len() >= owed.len());
    wait_for("the lease let go once sent", Duration::from_secs(10), || !second.leads("c1"));
    assert_eq!(*taken.lock().unwrap(), owed, "each owed notification once, in the trail's order");
}

/// `--cloudwatch-heartbeat`: the replica's beats, with the longest pause,
/// go to CloudWatch's PutMetricData in the `Cutover` namespace, as the
/// monitoring module's alarms read them. (moto does not speak the SDK's
/// CloudWatch protocol, Smithy RPC v2 CBOR, so a stub takes the calls; the
/// figures are `cutover_aws::heartbeat`'s, tested in controller/aws.)
#[cfg(feature = "aws")]
#[test]
fn the_heartbeat_carries_the_longest_pause_to_cloudwatch() {
    use cutover_testkit::http::{Answer, Stub};
    // An empty CBOR map: PutMetricData's whole answer.
    let cloudwatch = Stub::start(|_| {
        let mut answer = Answer::json(200, vec![0xa0]);
        answer.headers.retain(|(name, _)| name != "content-type");
        answer.with_header("content-type", "application/cbor").with_header("smithy-protocol", "rpc-v2-cbor")
    });
    let dir = temp_dir("heartbeat");
    let stack = Stack::new(&dir);
    let db = dir.join("cutover.db");
    let args = ["--store", db.to_str().unwrap(), "--cloudwatch-heartbeat", "--heartbeat-every", "1"];
    let store = [&args[..], &["--endpoint-url-cloudwatch", cloudwatch.base()]].concat();
    let replica = stack.replica_logging("replica-a", &store, "info,cutover=debug");
    create(&replica, &stack.plan, "c1");
    wait_for("the first step confirmed", Duration::from_secs(30), || confirmed(&replica, "c1") == Some(100));
    replica.command("c1", "pause", "the heartbeat test");
    let beats = || {
        cloudwatch
            .received()
            .into_iter()
            .filter(|r| r.path.ends_with("/operation/PutMetricData"))
            .filter(|r| {
                let body = String::from_utf8_lossy(&r.body);
                ["Cutover", "ControllerHeartbeat", "LongestPauseSeconds"].iter().all(|word| body.contains(word))
            })
            .count()
    };
    let before = beats();
    wait_for("two more heartbeats", Duration::from_secs(20), || beats() >= before + 2);
    // What the beats said: the pause, counted from when it began.
    wait_for("the pause counted", Duration::from_secs(20), || {
        replica.proc.log().lines().filter(|l| l.contains("heartbeat published")).any(|l| {
            let seconds = l.split("longest_pause_s\":").nth(1).and_then(|v| v.split([',', '}']).next());
            seconds.and_then(|v| v.trim().parse::<f64>().ok()).is_some_and(|s| s >= 1.0)
        })
    });
    assert!(!replica.proc.log().contains("could not be published"), "{}", replica.proc.log());
}

/// A client that trickles its headers loses the connection (the header
/// read timeout, 10 s), and the daemon goes on serving others.
#[test]
fn a_trickling_client_does_not_hold_a_connection() {
    let dir = temp_dir("trickle");
    let db = dir.join("cutover.db");
    let tokens = tokens();
    let daemon = Proc::start(
        &["serve", "--listen", "127.0.0.1:0", "--store", db.to_str().unwrap()],
        &[("CUTOVER_TOKENS", tokens.as_str())],
        dir.join("serve.log"),
        &["cutover serve listening on http://"],
    );
    let address = daemon.said[0].clone();
    let mut slow = TcpStream::connect(&address).unwrap();
    slow.write_all(b"GET /v1/cutovers HTTP/1.1\r\nhost: c\r\nx-slow: ").unwrap();
    // A hang's bound, not a measurement: the daemon's own is 10 s.
    slow.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
    let mut said = Vec::new();
    let closed = slow.read_to_end(&mut said);
    assert!(closed.is_ok(), "the daemon still holds the connection: {closed:?}");
    let healthy = raw_request(&address, b"GET /healthz HTTP/1.1\r\nhost: c\r\nconnection: close\r\n\r\n").unwrap();
    assert_eq!(healthy.status, 200);
}

#[test]
fn a_replica_stopped_past_its_lease_is_fenced_and_writes_nothing() {
    let dir = temp_dir("stop");
    let stack = Stack::new(&dir);
    let db = dir.join("cutover.db");
    let store = ["--store", db.to_str().unwrap()];
    let a = stack.replica("replica-a", &store);
    create(&a, &stack.plan, "c1");
    wait_for("a leads", Duration::from_secs(10), || a.leads("c1"));
    wait_for("the first step confirmed", Duration::from_secs(30), || confirmed(&a, "c1") == Some(100));
    let b = stack.replica("replica-b", &store);

    a.proc.signal("STOP");
    wait_for("b takes over", Duration::from_secs(15), || b.leads("c1"));
    // Let b's catch-up settle: at real time its next window is a minute away.
    let settled = || (b.get("/v1/cutovers/c1")["version"].clone(), b.trail("c1").0.len(), stack.edge_etag());
    let mut before = settled();
    wait_for("b settles", Duration::from_secs(20), || {
        std::thread::sleep(Duration::from_secs(1));
        let now = settled();
        std::mem::replace(&mut before, now.clone()) == now
    });

    a.proc.signal("CONT");
    wait_for("a says it was fenced", Duration::from_secs(10), || a.proc.log().contains("fenced"));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(settled(), before, "nothing written by a after SIGCONT: state version, trail, edge");
    assert!(!a.leads("c1"), "a no longer leads");
    assert!(b.leads("c1"), "b still does");
}

/// Reads server-sent events from an open stream until `enough` says stop.
fn read_events(
    stream: &mut TcpStream,
    mut enough: impl FnMut(&[(String, Option<String>, Value)]) -> bool,
) -> Vec<(String, Option<String>, Value)> {
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let (mut buffer, mut events) = (String::new(), Vec::new());
    let mut chunk = [0u8; 4096];
    while !enough(&events) {
        let n = stream.read(&mut chunk).expect("the stream goes on");
        assert!(n > 0, "the stream ended: {buffer}");
        buffer.push_str(&String::from_utf8_lossy(&chunk[..n]));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut name, mut id, mut data) = (String::new(), None, String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_owned();
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            if !name.is_empty() {
                events.push((name, id, serde_json::from_str(&data).unwrap_or(Value::Null)));
            }
        }
    }
    events
}

fn open_stream(replica: &Replica, id: &str, last_event_id: Option<&str>) -> TcpStream {
    let mut stream = TcpStream::connect(&replica.address).unwrap();
    let resume = last_event_id.map(|l| format!("last-event-id: {l}\r\n")).unwrap_or_default();
    let request =
        format!("GET /v1/cutovers/{id}/stream HTTP/1.0\r\nhost: c\r\nauthorization: Bearer {VIEWER}\r\n{resume}\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream
}

#[test]
fn the_stream_shows_the_cutover_live_and_resumes_after_the_last_event() {
    let dir = temp_dir("stream");
    let stack = Stack::new(&dir);
    let db = dir.join("cutover.db");
    let a = stack.replica("replica-a", &["--store", db.to_str().unwrap()]);
    let body = json!({ "id": "c1", "plan": stack.plan, "reason": "stream test" });
    assert_eq!(a.call("POST", "/v1/cutovers", Some(ADMIN), Some(&body)).0, 201);

    let mut stream = open_stream(&a, "c1", None);
    let first = read_events(&mut stream, |events| !events.is_empty());
    assert_eq!((first[0].0.as_str(), first[0].2["phase"].as_str()), ("state", Some("pending")), "the state at once");

    a.command("c1", "start", "go");
    let live = read_events(&mut stream, |events| {
        events.iter().any(|(name, _, data)| name == "state" && data["edge_weight_bps"] == 100)
    });
    let audit: Vec<&(String, Option<String>, Value)> = live.iter().filter(|(name, ..)| name == "audit").collect();
    let kinds: Vec<&str> = audit.iter().map(|(_, _, e)| e["kind"]["event"].as_str().unwrap()).collect();
    assert_eq!(&kinds[..3], ["started", "weight_intent", "weight_confirmed"], "{kinds:?}");
    assert!(audit.iter().all(|(_, id, e)| id.as_deref() == Some(&format!("{}.{}", e["version"], e["index"]))));
    drop(stream);

    // Reconnect after the first event: the next one comes, not it again.
    let after = audit[0].1.clone().unwrap();
    let mut resumed = open_stream(&a, "c1", Some(&after));
    let again = read_events(&mut resumed, |events| events.iter().any(|(name, ..)| name == "audit"));
    let next = again.iter().find(|(name, ..)| name == "audit").unwrap();
    assert_eq!(next.1, audit[1].1, "resumed right after {after}");

    // A stopping daemon ends its streams instead of hanging on them.
    a.proc.signal("TERM");
    let mut rest = Vec::new();
    let _ = resumed.read_to_end(&mut rest);
    let mut proc = a.proc;
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = proc.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "SIGTERM did not stop the daemon");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "a clean stop");
    assert!(proc.log().contains("stopped; lease released"), "{}", proc.log());
}

#[test]
fn the_api_refuses_what_a_token_does_not_allow() {
    let dir = temp_dir("roles");
    let stack = Stack::new(&dir);
    let db = dir.join("cutover.db");
    let a = stack.replica("replica-a", &["--store", db.to_str().unwrap()]);
    let body = json!({ "id": "c1", "plan": stack.plan });
    let (status, problem) = a.call("POST", "/v1/cutovers", None, Some(&body));
    assert_eq!((status, problem["status"].as_u64()), (401, Some(401)), "{problem}");
    let (status, problem) = a.call("POST", "/v1/cutovers", Some(OPERATOR), Some(&body));
    assert_eq!(status, 403, "an operator does not create: {problem}");
    assert!(problem["detail"].as_str().unwrap().contains("ana holds the operator role; this needs admin"));
    let (status, _) = a.call("POST", "/v1/cutovers", Some("not-a-token-at-all-00"), Some(&body));
    assert_eq!(status, 401);

    let broken = json!({ "id": "bad id!", "plan": "[target]\nname = 1\n", "speed": 0 });
    let (status, problem) = a.call("POST", "/v1/cutovers", Some(ADMIN), Some(&broken));
    assert_eq!(status, 422, "{problem}");
    let problems: Vec<&str> = problem["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(problems.iter().any(|p| p.starts_with("id = \"bad id!\"")), "{problems:?}");
    assert!(problems.iter().any(|p| p.starts_with("speed = 0")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("target.name = 1 (line 2)")), "the plan's line: {problems:?}");
    assert_eq!(a.get("/v1/cutovers"), json!([]), "nothing was created");

    assert_eq!(a.call("POST", "/v1/cutovers", Some(ADMIN), Some(&body)).0, 201);
    assert_eq!(a.call("POST", "/v1/cutovers", Some(ADMIN), Some(&body)).0, 409, "the same id twice");
    let rollback = json!({ "command": "rollback", "reason": "x" });
    assert_eq!(a.call("POST", "/v1/cutovers/c1/commands", Some(VIEWER), Some(&rollback)).0, 403);
    assert_eq!(a.call("POST", "/v1/cutovers/nope/commands", Some(OPERATOR), Some(&rollback)).0, 404);
    let empty = json!({ "command": "rollback", "reason": " " });
    assert_eq!(a.call("POST", "/v1/cutovers/c1/commands", Some(OPERATOR), Some(&empty)).0, 422);
    assert!(!a.proc.log().contains(OPERATOR) && !a.proc.log().contains(ADMIN), "no secret in the log");
}

/// `cutover start ID --plan FILE --at TIME` through the daemon: shown as
/// scheduled until its time, then started by itself in the name of the
/// token that scheduled it, the plan's SHA-256 in `started`.
#[test]
fn a_timed_cutover_is_scheduled_then_starts_by_itself() {
    let dir = temp_dir("timed");
    let stack = Stack::new(&dir);
    let db = dir.join("cutover.db");
    let a = stack.replica("replica-a", &["--store", db.to_str().unwrap()]);
    let plan = dir.join("plan.toml");
    std::fs::write(&plan, &stack.plan).unwrap();
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let at = cutover_core::units::Timestamp::from_ms(now_ms + 4_000).to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["start", "t1", "--plan", plan.to_str().unwrap(), "--at", &at, "--reason", "the night window"])
        .env("CUTOVER_SERVER", format!("http://{}", a.address))
        .env("CUTOVER_TOKEN", ADMIN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("scheduled by ci to start at {at}")), "{stdout}");
    let view = a.get("/v1/cutovers/t1");
    assert_eq!((view["phase"].as_str(), view["start_at"].as_str()), (Some("scheduled"), Some(at.as_str())), "{view}");
    assert_eq!(view["weight_bps"], 0);

    wait_for("it starts by itself", Duration::from_secs(20), || confirmed(&a, "t1") == Some(100));
    let (events, _) = a.trail("t1");
    let started = events.iter().find(|e| e["kind"]["event"] == "started").expect("started");
    assert_eq!(started["actor"], json!({"operator": "ci"}));
    assert_eq!(started["reason"], format!("scheduled for {at}"));
    let sha = cutover_core::audit::sha256_hex(stack.plan.as_bytes());
    assert_eq!(started["kind"]["plan_sha256"], sha, "the stored plan's fingerprint");
    let started_ms = started["at"].as_u64().unwrap();
    let at_ms = cutover_core::units::Timestamp::parse_rfc3339(&at).unwrap().as_ms();
    assert!(started_ms >= at_ms, "not before its time: {started_ms} < {at_ms}");

    // Every other command, each recorded under the operator token's name.
    a.command("t1", "pause", "looking at the p99");
    wait_for("paused", Duration::from_secs(10), || a.get("/v1/cutovers/t1")["phase"] == "paused");
    a.command("t1", "resume", "it was the backend");
    wait_for("resumed", Duration::from_secs(10), || a.get("/v1/cutovers/t1")["phase"] == "progressing");
    a.command("t1", "abort", "change freeze announced");
    wait_for("aborted", Duration::from_secs(20), || a.get("/v1/cutovers/t1")["phase"] == "aborted");
    let (events, _) = a.trail("t1");
    for (name, reason) in [
        ("paused", "looking at the p99"),
        ("resumed", "it was the backend"),
        ("rollback_started", "change freeze announced"),
    ] {
        let event = events.iter().find(|e| e["kind"]["event"] == name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!((&event["actor"], &event["reason"]), (&json!({"operator": "ana"}), &json!(reason)), "{name}");
    }
}

/// With a certificate and key the API speaks only TLS (rustls): curl, given
/// the certificate as its trust root, reaches it; plain HTTP does not. A key
/// that is not a key is refused at start, by its flag, with exit 2.
#[test]
fn the_api_is_served_over_tls_when_given_a_certificate() {
    let dir = temp_dir("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let db = dir.join("cutover.db");
    let tokens = tokens();
    let args =
        ["serve", "--listen", "127.0.0.1:0", "--store", db.to_str().unwrap(), "--tls-cert", cert.to_str().unwrap()];
    let serve = Proc::start(
        &[&args[..], &["--tls-key", key.to_str().unwrap()]].concat(),
        &[("CUTOVER_TOKENS", tokens.as_str())],
        dir.join("serve.log"),
        &["cutover serve listening on https://"],
    );
    let url = format!("https://{}/healthz", serve.said[0]);
    let curl = Command::new("curl")
        .args(["-s", "--max-time", "10", "--cacert", cert.to_str().unwrap(), &url])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&curl.stdout),
        r#"{"status":"ok"}"#,
        "{}",
        String::from_utf8_lossy(&curl.stderr)
    );
    let plain = Command::new("curl").args(["-s", "--max-time", "5", &url.replace("https", "http")]).output().unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("ok"), "no plain HTTP");

    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .args(["--tls-key", cert.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--tls-key") && stderr.contains("not a PEM private key"), "{stderr}");
}

/// The dashboard's page and the API beside it: `/` is one HTML document
/// with a Content-Security-Policy naming its own script and style, gzipped
/// for a browser that takes it; `/v1/whoami` tells the page which buttons to
/// show; `/v1/cutovers/{id}/series` and `/plan` are what it and `cutover
/// report` draw.
#[test]
fn the_dashboard_and_what_it_reads_are_served() {
    let dir = temp_dir("page");
    let stack = Stack::new(&dir);
    let db = dir.join("cutover.db");
    let a = stack.replica("replica-a", &["--store", db.to_str().unwrap()]);

    let page = raw_request(&a.address, b"GET / HTTP/1.1\r\nhost: c\r\nconnection: close\r\n\r\n").unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("script-src 'sha256-") && csp.contains("connect-src 'self'"), "{csp}");
    let html = String::from_utf8(page.body.clone()).unwrap();
    assert!(html.contains("<dialog id=\"confirm\"") && html.contains("cutover:drawn"));
    let gzipped = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let response = reqwest::Client::new()
            .get(format!("http://{}/", a.address))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        let encoding = response.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_owned());
        (encoding, response.bytes().await.unwrap().len())
    });
    assert_eq!(gzipped.0.as_deref(), Some("gzip"));
    assert!(gzipped.1 * 3 < page.body.len(), "gzip: {} of {} bytes", gzipped.1, page.body.len());

    assert_eq!(a.get("/v1/whoami"), json!({ "name": "grafana", "role": "viewer" }));
    let (status, me) = a.call("GET", "/v1/whoami", Some(OPERATOR), None);
    assert_eq!((status, me["role"].as_str()), (200, Some("operator")));
    assert_eq!(a.call("GET", "/v1/whoami", None, None).0, 401);

    create(&a, &stack.plan, "c1");
    wait_for("a confirmed weight", Duration::from_secs(30), || confirmed(&a, "c1").is_some());
    let plan = a.get("/v1/cutovers/c1/plan");
    assert_eq!(plan["toml"], stack.plan.as_str());
    assert_eq!(plan["sha256"], a.get("/v1/cutovers/c1")["plan_sha256"]);
    let series = a.get("/v1/cutovers/c1/series?events=1");
    assert_eq!(series["id"], "c1");
    assert_eq!(series["planned"].as_array().unwrap().len(), 8, "7 steps and where the last ends");
    assert_eq!(series["events"].as_array().unwrap().len(), 1);
    assert!(series["events_omitted"].as_u64().unwrap() >= 2);
    assert_eq!(series["chain"]["intact"], true);
    assert_eq!(series["cost"]["prices"]["legacy_per_hour"], 0.1765);
    let all = a.get("/v1/cutovers/c1/series?events=all");
    assert_eq!(all["events_omitted"], 0);
    assert_eq!(all["events"].as_array().unwrap().len() as u64, all["chain"]["events"].as_u64().unwrap());
    for bad in ["events=x", "events=10001", "limit=3"] {
        let (status, problem) = a.call("GET", &format!("/v1/cutovers/c1/series?{bad}"), Some(VIEWER), None);
        assert_eq!(status, 400, "{bad}: {problem}");
    }
    assert_eq!(a.call("GET", "/v1/cutovers/nope/series", Some(VIEWER), None).0, 404);
    assert_eq!(a.call("GET", "/v1/cutovers/nope/plan", Some(VIEWER), None).0, 404);
}
