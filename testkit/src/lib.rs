//! Test support shared by the workspace's tests: servers a test starts for
//! itself and stops when it ends, so no test assumes one is running, and
//! a stand-in for the Lambda Runtime API ([`lambda`]).

#![forbid(unsafe_code)]

pub mod http;
pub mod lambda;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The project's virtualenv, where `./tests/run` installs moto
/// (`CUTOVER_VENV` overrides it).
pub fn venv() -> PathBuf {
    match std::env::var_os("CUTOVER_VENV") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv"),
    }
}

/// Cases per property-based (fuzz) test: `default` in `./tests/run`,
/// `CUTOVER_FUZZ_CASES` for a longer hunt (`cargo xtask fuzz`).
pub fn fuzz_cases(default: u32) -> u32 {
    std::env::var("CUTOVER_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A `moto_server` of this test's own: an AWS emulator, faithful for
/// DynamoDB (conditional writes, transactions). Stopped when dropped.
pub struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    ///
    /// # Panics
    /// If moto is not installed (run `./tests/run`, which installs it into
    /// `.venv`) or does not start within 30 seconds.
    pub fn start() -> Moto {
        Moto::launch(false)
    }

    /// A moto that serves one request at a time. moto's threaded server
    /// does not isolate concurrent `TransactWriteItems` (it checks the
    /// conditions and writes without a lock), which DynamoDB does: races
    /// between transactions are tested against this one, where the
    /// outcome depends only on the conditions the code wrote.
    pub fn start_serial() -> Moto {
        Moto::launch(true)
    }

    fn launch(serial: bool) -> Moto {
        let program = venv().join("bin/moto_server");
        assert!(
            program.exists(),
            "{} is missing: run ./tests/run once (it installs moto into .venv), or set CUTOVER_VENV",
            program.display()
        );
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut command = if serial {
                let mut python = Command::new(venv().join("bin/python"));
                python.args(["-c", SERIAL_MOTO, &port.to_string()]);
                python
            } else {
                let mut server = Command::new(&program);
                server.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
                server
            };
            let mut child = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if wait_for_port(addr, Duration::from_secs(30)) {
                return Moto { child, endpoint: format!("http://{addr}") };
            }
            last_error = match child.try_wait() {
                Ok(Some(status)) => format!("moto_server exited with {status}"),
                _ => "moto_server did not listen within 30 s".into(),
            };
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start moto: {last_error}");
    }

    /// `http://127.0.0.1:PORT`: give it to an SDK client as its endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

/// moto's own server (`moto.server.main`), one request at a time.
const SERIAL_MOTO: &str = "
import os, sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
os.environ['MOTO_PORT'] = sys.argv[1]
run_simple('127.0.0.1', int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False)
";

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
