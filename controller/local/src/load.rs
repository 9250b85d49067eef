//! An open-loop load generator: requests leave on a fixed schedule whether
//! or not earlier ones have been answered, as users' requests do. Used by
//! `cutover bench edge` and the local demo.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The generator's own HTTP client: keep-alive connections, no delay.
pub type LoadClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> LoadClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .pool_idle_timeout(cutover_listen::CLIENT_IDLE_TIMEOUT)
        .build(connector)
}

/// What a run saw.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub sent: u64,
    /// Answers with a status below 500.
    pub ok: u64,
    /// 5xx answers, failed connections and timeouts.
    pub failed: u64,
    /// Latency of every answered request, send to last body byte, sorted.
    pub latencies_us: Vec<u32>,
}

impl LoadReport {
    /// The nearest-rank quantile, in microseconds.
    pub fn quantile_us(&self, q: f64) -> Option<u32> {
        let n = self.latencies_us.len();
        (n > 0).then(|| self.latencies_us[((q * n as f64).ceil() as usize).clamp(1, n) - 1])
    }

    pub fn merge(&mut self, other: LoadReport) {
        self.sent += other.sent;
        self.ok += other.ok;
        self.failed += other.failed;
        self.latencies_us.extend(other.latencies_us);
        self.latencies_us.sort_unstable();
    }
}

/// Whether a run keeps every answered request's latency (for quantiles)
/// or only counts answers (memory that does not grow with the run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Latencies {
    Keep,
    CountOnly,
}

/// Sends `rate` requests a second for `duration`, request `n` made by
/// `make(n)`; each request may take up to `timeout`. Answers are tallied
/// as they come, so what a run holds is its requests in flight (and, with
/// [`Latencies::Keep`], 4 bytes per answer).
pub async fn open_loop(
    client: &LoadClient,
    rate: f64,
    duration: Duration,
    timeout: Duration,
    latencies: Latencies,
    make: impl Fn(u64) -> Request<Full<Bytes>>,
) -> LoadReport {
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut report = LoadReport { sent: total, ..LoadReport::default() };
    let mut tally = |joined: Result<(bool, Option<u32>), tokio::task::JoinError>| {
        let (ok, micros) = joined.unwrap_or((false, None));
        if ok {
            report.ok += 1;
        } else {
            report.failed += 1;
        }
        if latencies == Latencies::Keep {
            report.latencies_us.extend(micros);
        }
    };
    for n in 0..total {
        tokio::time::sleep_until(start + Duration::from_secs_f64(n as f64 / rate)).await;
        // A finished request's task is freed now, not at the end of the run.
        while let Some(joined) = tasks.try_join_next() {
            tally(joined);
        }
        let (client, request) = (client.clone(), make(n));
        tasks.spawn(async move {
            let sent = Instant::now();
            let answer = tokio::time::timeout(timeout, async {
                let response = client.request(request).await.ok()?;
                let status = response.status();
                response.into_body().collect().await.ok()?;
                Some(status)
            })
            .await;
            let micros = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
            match answer {
                Ok(Some(status)) => (status.as_u16() < 500, Some(micros)),
                _ => (false, None),
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        tally(joined);
    }
    report.latencies_us.sort_unstable();
    report
}
