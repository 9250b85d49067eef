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

/// Sends `rate` requests a second for `duration`, request `n` made by
/// `make(n)`; each request may take up to `timeout`.
pub async fn open_loop(
    client: &LoadClient,
    rate: f64,
    duration: Duration,
    timeout: Duration,
    make: impl Fn(u64) -> Request<Full<Bytes>>,
) -> LoadReport {
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        tokio::time::sleep_until(start + Duration::from_secs_f64(n as f64 / rate)).await;
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
    let mut report = LoadReport { sent: total, ..LoadReport::default() };
    while let Some(joined) = tasks.join_next().await {
        let (ok, micros) = joined.unwrap_or((false, None));
        if ok {
            report.ok += 1;
        } else {
            report.failed += 1;
        }
        report.latencies_us.extend(micros);
    }
    report.latencies_us.sort_unstable();
    report
}
