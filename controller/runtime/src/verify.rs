//! Edge verification: after a weight is written, probe through the edge
//! (the distribution's domain, or the local edge) with cohort keys whose
//! buckets sit just below and just above the new threshold, and see which
//! side answers (`x-served-by`). The step's hold starts only once the edge
//! agrees; a disagreement that outlasts [`Verifier::max_wait`] pauses the
//! cutover with the reason. Works for any [`EdgePort`]: it wraps one.
//!
//! Bucketing is deterministic (`cutover_core::cohort`, the same as the
//! CloudFront Function's), which is what makes this possible: the probe's
//! key decides its side. With the viewer IP as cohort key the probe cannot
//! choose its bucket, so nothing is verified (and the audit says so by
//! carrying no verification).

use std::time::Duration;

use tokio::time::Instant;

use cutover_base::Backoff;
use cutover_core::cohort::{self, BUCKETS};
use cutover_core::engine::Verification;
use cutover_core::measure::Side;
use cutover_core::plan::CohortKey;
use cutover_core::ports::{EdgeError, EdgePort};
use cutover_core::units::Weight;

/// The header every answer of the api-lambdas carries, naming its side.
pub const SERVED_BY: &str = "x-served-by";
/// The header a probe pins its side with (the CloudFront Function obeys it).
pub const PROBE_HEADER: &str = "x-cutover-probe";

/// The side an answer came from, by its `x-served-by`: only the new side
/// must say so; an answer without it is the ALB's (the old app predates it).
pub fn answered_by(served_by: Option<&str>) -> Side {
    if served_by == Some(Side::Serverless.as_str()) {
        Side::Serverless
    } else {
        Side::Legacy
    }
}

/// Probes keys in buckets this close to the threshold.
const NEAR: u16 = 20;
/// The pause between probe rounds that disagree: from 250 ms, doubling, up
/// to 5 s (the edge's change is propagating).
const PROBE_BACKOFF: Backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));

#[derive(Clone, Debug)]
pub struct Verifier {
    /// `https://d123.cloudfront.net` or `http://127.0.0.1:8080`.
    pub base: String,
    /// A cheap GET route both sides serve.
    pub path: String,
    pub cohort: CohortKey,
    pub salt: String,
    /// How long the edge may take to agree (KeyValueStore changes reach
    /// the edge locations in seconds to tens of seconds).
    pub max_wait: Duration,
}

/// An edge whose applies are verified by probes.
pub struct Verified<E> {
    pub inner: E,
    pub verifier: Verifier,
    client: reqwest::Client,
}

impl<E> Verified<E> {
    pub fn new(inner: E, verifier: Verifier) -> Verified<E> {
        Verified { inner, verifier, client: probe_client() }
    }
}

/// What every probe through the edge says it is: sources that see each
/// request (CloudFront's real-time logs) leave these out of the users.
pub const PROBE_USER_AGENT: &str = "cutover-probe/1";

/// The HTTP client every probe through the edge uses: 5 s per request.
/// One per process, shared (a client is a handle): each holds a TLS
/// configuration with the platform's root certificates, about 0.3 MiB, and
/// a daemon leading 20 cutovers would otherwise hold 20 of them.
pub fn probe_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(PROBE_USER_AGENT)
                .timeout(Duration::from_secs(5))
                .pool_idle_timeout(cutover_listen::CLIENT_IDLE_TIMEOUT)
                .build()
                .unwrap_or_else(|_| reqwest::Client::new())
        })
        .clone()
}

/// A cohort key whose bucket lies in `range` under `salt`.
fn key_in(salt: &str, range: std::ops::Range<u16>) -> Option<String> {
    (0..2_000_000u32).map(|n| format!("cutover-probe-{n}")).find(|key| range.contains(&cohort::bucket(salt, key)))
}

impl<E: EdgePort> Verified<E> {
    /// One probe: which side answered and how long it took.
    async fn probe(&self, key: &str) -> Result<(String, Duration), String> {
        let url = format!("{}{}", self.verifier.base.trim_end_matches('/'), self.verifier.path);
        let request = match &self.verifier.cohort {
            CohortKey::Header(name) => self.client.get(&url).header(name.as_str(), key),
            CohortKey::Cookie(name) => self.client.get(&url).header("cookie", format!("{name}={key}")),
            CohortKey::ViewerIp => return Err("the viewer IP cannot be chosen".into()),
        };
        let started = Instant::now();
        let response = request.send().await.map_err(|e| format!("GET {url}: {e}"))?;
        let took = started.elapsed();
        if !response.status().is_success() {
            return Err(format!("GET {url} answered {}", response.status()));
        }
        let side = response.headers().get(SERVED_BY).and_then(|v| v.to_str().ok()).unwrap_or("unknown").to_owned();
        Ok((side, took))
    }

    async fn probe_until_agreed(&self, weight: Weight) -> Result<Option<Verification>, EdgeError> {
        if self.verifier.cohort == CohortKey::ViewerIp {
            return Ok(None);
        }
        let (bps, salt) = (weight.bps(), self.verifier.salt.as_str());
        // Just below the threshold goes serverless; at or just above, legacy.
        let below = (bps > 0).then(|| key_in(salt, bps.saturating_sub(NEAR)..bps)).flatten();
        let above =
            (u32::from(bps) < BUCKETS).then(|| key_in(salt, bps..bps.saturating_add(NEAR).min(10_000))).flatten();
        let started = Instant::now();
        let mut rounds = 0u32;
        loop {
            rounds += 1;
            let pause = PROBE_BACKOFF.after(rounds);
            let mut verification = Verification { rounds, waited_ms: 0, legacy_us: None, serverless_us: None };
            let mut disagreement = None;
            for (key, expect) in [(&below, "serverless"), (&above, "legacy")] {
                let Some(key) = key else { continue };
                match self.probe(key).await {
                    Ok((side, took)) if (side == "serverless") == (expect == "serverless") => {
                        let us = Some(took.as_micros() as u64);
                        if expect == "serverless" {
                            verification.serverless_us = us;
                        } else {
                            verification.legacy_us = us;
                        }
                    }
                    Ok((side, _)) => {
                        let bucket = cohort::bucket(salt, key);
                        disagreement = Some(format!(
                            "key {key} (bucket {bucket}, {} the threshold {bps}) was answered by {side}, not {expect}",
                            if expect == "serverless" { "below" } else { "at or above" }
                        ));
                    }
                    Err(e) => disagreement = Some(e),
                }
            }
            let waited = started.elapsed();
            match disagreement {
                None => {
                    verification.waited_ms = waited.as_millis() as u64;
                    return Ok(Some(verification));
                }
                Some(reason) if waited + pause > self.verifier.max_wait => {
                    return Err(EdgeError::Unverified(format!(
                        "after {rounds} probe rounds over {:.1} s: {reason}",
                        waited.as_secs_f64()
                    )));
                }
                Some(_) => tokio::time::sleep(pause).await,
            }
        }
    }
}

impl<E: EdgePort> EdgePort for Verified<E> {
    async fn apply(&self, weight: Weight, expected: Weight) -> Result<(), EdgeError> {
        self.inner.apply(weight, expected).await
    }

    async fn verify(&self, weight: Weight) -> Result<Option<Verification>, EdgeError> {
        self.probe_until_agreed(weight).await
    }

    async fn read(&self) -> Result<Weight, EdgeError> {
        self.inner.read().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_keys_sit_just_either_side_of_the_threshold() {
        for bps in [1u16, 100, 2_500, 5_000, 9_999] {
            let below = key_in("internal-api", bps.saturating_sub(NEAR)..bps).expect("a key below");
            let above = key_in("internal-api", bps..(bps + NEAR).min(10_000)).expect("a key above");
            let (b, a) = (cohort::bucket("internal-api", &below), cohort::bucket("internal-api", &above));
            assert!(b < bps && bps - b <= NEAR, "{bps}: below {b}");
            assert!(a >= bps && a - bps < NEAR, "{bps}: above {a}");
        }
    }
}
