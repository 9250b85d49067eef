//! Per-side latency samples from X-Ray: `GetTraceSummaries` for each side's
//! service over the window, every page. X-Ray samples (by default 1 request
//! a second plus 5 %), so it gives real latency samples but not totals:
//! counts come from CloudWatch, and these samples replace CloudWatch's
//! percentile-rebuilt histogram when there are enough of them.
//!
//! Where the traces start: HTTP APIs send nothing to X-Ray, so the new
//! side's traces start at Lambda; the ALB sends nothing either, so the old
//! side's start at the Express app's own SDK. Both leave out the front door
//! alike. `ResponseTime` is in seconds; it becomes milliseconds here.

use aws_sdk_xray::primitives::DateTime;
use aws_sdk_xray::Client;
use cutover_core::measure::{Histogram, MeasureError, PerSide};

use crate::AwsFailure;

/// Below this many traces a side keeps CloudWatch's histogram.
pub const XRAY_MIN_TRACES: u64 = 30;

/// What one side's traces say over a window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceSample {
    /// Complete traces read (partial ones are left out: their response time is not final).
    pub traces: u64,
    pub partial: u64,
    pub faults: u64,
    pub errors: u64,
    pub throttles: u64,
    /// Response times of the complete traces that did not fault, in ms.
    pub latency_ms: Histogram,
}

pub struct XRaySource {
    client: Client,
    services: PerSide<String>,
}

impl XRaySource {
    /// `services`: each side's X-Ray service name (the plan's
    /// `xray_legacy_service` and `xray_serverless_service`).
    pub fn new(client: Client, services: PerSide<String>) -> XRaySource {
        XRaySource { client, services }
    }

    /// Both sides' samples over `[from_ms, to_ms)` of wall time.
    pub async fn sample(&self, from_ms: u64, to_ms: u64) -> Result<PerSide<TraceSample>, MeasureError> {
        Ok(PerSide {
            legacy: self.side(&self.services.legacy, from_ms, to_ms).await?,
            serverless: self.side(&self.services.serverless, from_ms, to_ms).await?,
        })
    }

    async fn side(&self, service: &str, from_ms: u64, to_ms: u64) -> Result<TraceSample, MeasureError> {
        let fail = |message: String| MeasureError { source_name: "xray".into(), message };
        // Quotes inside the name would end the filter's string early.
        if service.contains('"') {
            return Err(fail(format!("X-Ray service name {service:?} holds a double quote")));
        }
        let mut sample = TraceSample::default();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client
                .get_trace_summaries()
                .start_time(DateTime::from_millis(from_ms as i64))
                .end_time(DateTime::from_millis(to_ms as i64))
                .filter_expression(format!("service(\"{service}\")"))
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| fail(AwsFailure::from_sdk("xray:GetTraceSummaries", &e).message))?;
            for trace in out.trace_summaries() {
                if trace.is_partial() == Some(true) {
                    sample.partial += 1;
                    continue;
                }
                sample.traces += 1;
                let fault = trace.has_fault() == Some(true);
                sample.faults += u64::from(fault);
                sample.errors += u64::from(trace.has_error() == Some(true));
                sample.throttles += u64::from(trace.has_throttle() == Some(true));
                match trace.response_time() {
                    Some(seconds) if !fault && seconds.is_finite() && seconds >= 0.0 => {
                        sample.latency_ms.record(seconds * 1000.0)
                    }
                    _ => {}
                }
            }
            match out.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                _ => return Ok(sample),
            }
        }
    }
}
