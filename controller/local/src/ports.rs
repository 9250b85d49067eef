//! The driver's ports on the local edge, over its admin API: setting the
//! weight (with the ETag rules a KeyValueStore has) and reading metrics.

use std::time::Duration;

use bytes::Bytes;
use cutover_core::measure::{MeasureError, Measurement, Source, Window};
use cutover_core::ports::{before_write, Clock, EdgeError, EdgePort, MetricsPort, Write};
use cutover_core::units::Weight;
use http::header::{ETAG, IF_MATCH};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::load::{self, LoadClient};

const TIMEOUT: Duration = Duration::from_secs(5);

/// `GET` then `PUT /_cutover/weight` with `If-Match`: a weight written
/// between the two is a [`EdgeError::Conflict`], as a KVS ETag mismatch is.
pub struct LocalEdgePort {
    base: String,
    client: LoadClient,
}

impl LocalEdgePort {
    /// `base` is the edge's address, such as `http://127.0.0.1:8080`.
    pub fn new(base: impl Into<String>) -> LocalEdgePort {
        LocalEdgePort { base: base.into().trim_end_matches('/').to_owned(), client: load::client() }
    }
}

/// One request to the edge's admin API: status, ETag and body.
async fn call(
    client: &LoadClient,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Option<String>, Bytes), String> {
    let uri = request.uri().clone();
    let answer = tokio::time::timeout(TIMEOUT, async {
        let response = client.request(request).await.map_err(|e| format!("{e}"))?;
        let (status, etag) = (response.status(), response.headers().get(ETAG).cloned());
        let body = response.into_body().collect().await.map_err(|e| format!("{e}"))?.to_bytes();
        Ok::<_, String>((status, etag.and_then(|v| v.to_str().ok().map(str::to_owned)), body))
    })
    .await;
    match answer {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(format!("the local edge did not answer {uri}: {e}")),
        Err(_) => Err(format!("the local edge did not answer {uri} within {} s", TIMEOUT.as_secs())),
    }
}

impl LocalEdgePort {
    /// The live weight and its ETag.
    async fn current(&self) -> Result<(Weight, String), EdgeError> {
        let url = format!("{}/_cutover/weight", self.base);
        let get = Request::get(&url).body(Full::default()).map_err(|e| EdgeError::Failed(e.to_string()))?;
        let (status, etag, body) = call(&self.client, get).await.map_err(EdgeError::Failed)?;
        let etag = etag
            .filter(|_| status == StatusCode::OK)
            .ok_or_else(|| EdgeError::Failed(format!("GET {url} answered {status} without an ETag")))?;
        let weight = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("weight_bps").and_then(serde_json::Value::as_u64))
            .and_then(|bps| Weight::from_bps(u16::try_from(bps).ok()?))
            .ok_or_else(|| {
                EdgeError::Failed(format!("GET {url}: no weight_bps in {}", String::from_utf8_lossy(&body)))
            })?;
        Ok((weight, etag))
    }
}

impl EdgePort for LocalEdgePort {
    async fn read(&self) -> Result<Weight, EdgeError> {
        self.current().await.map(|(weight, _)| weight)
    }

    async fn apply(&self, weight: Weight, expected: Weight) -> Result<(), EdgeError> {
        let url = format!("{}/_cutover/weight", self.base);
        let (live, etag) = self.current().await?;
        if before_write(live, weight, expected)? == Write::AlreadyThere {
            return Ok(());
        }
        let body = format!(r#"{{"weight_bps":{}}}"#, weight.bps());
        let put = Request::put(&url)
            .header(IF_MATCH, etag)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| EdgeError::Failed(e.to_string()))?;
        match call(&self.client, put).await.map_err(EdgeError::Failed)? {
            (StatusCode::OK, _, _) => Ok(()),
            (StatusCode::PRECONDITION_FAILED, _, _) => Err(EdgeError::Conflict),
            (status, _, body) => {
                Err(EdgeError::Failed(format!("PUT {url} answered {status}: {}", String::from_utf8_lossy(&body))))
            }
        }
    }
}

/// A window of engine time, read from the edge's recording at the
/// wall-clock times `clock` maps it to. Windows are whole recording slots,
/// so keep the edge's slot well below the plan's interval.
pub struct LocalMetricsPort<C> {
    base: String,
    client: LoadClient,
    clock: C,
}

impl<C: Clock> LocalMetricsPort<C> {
    pub fn new(base: impl Into<String>, clock: C) -> LocalMetricsPort<C> {
        LocalMetricsPort { base: base.into().trim_end_matches('/').to_owned(), client: load::client(), clock }
    }
}

impl<C: Clock> MetricsPort for LocalMetricsPort<C> {
    async fn measure(&self, window: Window) -> Result<Measurement, MeasureError> {
        let fail = |message: String| MeasureError::new(Source::LocalEdge, message);
        let (from, to) = (self.clock.wall_ms(window.from), self.clock.wall_ms(window.to));
        let url = format!("{}/_cutover/metrics?from_ms={from}&to_ms={to}", self.base);
        let get = Request::get(&url).body(Full::default()).map_err(|e| fail(e.to_string()))?;
        match call(&self.client, get).await.map_err(fail)? {
            (StatusCode::OK, _, body) => serde_json::from_slice(&body).map_err(|e| fail(format!("GET {url}: {e}"))),
            (status, _, body) => Err(fail(format!("GET {url} answered {status}: {}", String::from_utf8_lossy(&body)))),
        }
    }
}
