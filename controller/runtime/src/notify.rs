//! The plan's `[notify] webhooks`: every notified event is POSTed to each
//! webhook as JSON, in the order the engine emitted them, by one background
//! task — the control loop only enqueues.
//!
//! The body carries a `text` line (what Slack-style incoming webhooks show),
//! the event's name, and the record as the audit trail holds it:
//!
//! ```json
//! {"text": "cutover checkout: rolled_back (critical_fail:error_rate): the edge confirmed 0%",
//!  "cutover": "checkout", "event": "rolled_back",
//!  "record": {"cutover_id": "checkout", "version": 41, "kind": {"event": "rolled_back", ...}, ...}}
//! ```
//!
//! Delivery is at most [`ATTEMPTS`] tries per webhook, each bounded by
//! [`ATTEMPT_TIMEOUT`]: a refused connection, a timeout, a 429 or a 5xx is
//! tried again after a pause; any other answer is final. A failure is
//! logged and the next event goes on: the audit trail, not the webhook, is
//! the record.

use std::sync::Arc;
use std::time::Duration;

use cutover_core::engine::Event;
use cutover_core::ports::Notifier;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

/// Tries per webhook and event.
pub const ATTEMPTS: u32 = 3;
/// One try's bound, connection to last byte.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause before the second try; doubled before each later one.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Events waiting for delivery before new ones are dropped (and logged).
const QUEUE: usize = 256;
/// How long [`Notifier::flush`] waits for the queue to drain.
pub const FLUSH_WAIT: Duration = Duration::from_secs(20);

enum Job {
    Deliver(Arc<Event>),
    Flush(oneshot::Sender<()>),
}

/// Delivers notified events to webhooks. With none configured, it only logs.
pub struct Webhooks {
    queue: Option<mpsc::Sender<Job>>,
}

#[derive(Serialize)]
struct Body<'a> {
    text: String,
    cutover: &'a str,
    event: &'a str,
    record: &'a Event,
}

impl Webhooks {
    /// Starts the delivery task on the current tokio runtime (when there is
    /// a webhook to deliver to).
    pub fn new(urls: &[String]) -> Webhooks {
        if urls.is_empty() {
            return Webhooks { queue: None };
        }
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .user_agent(concat!("cutover/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(deliver_all(client, urls.to_vec(), rx));
        Webhooks { queue: Some(tx) }
    }
}

impl Notifier for Webhooks {
    fn notify(&self, event: &Event) {
        let Some(queue) = &self.queue else { return };
        if queue.try_send(Job::Deliver(Arc::new(event.clone()))).is_err() {
            tracing::warn!(
                cutover = %event.cutover_id,
                event = event.kind.name(),
                "notification dropped: {QUEUE} are already waiting for the webhooks"
            );
        }
    }

    async fn flush(&self) {
        let Some(queue) = &self.queue else { return };
        let (done, wait) = oneshot::channel();
        if queue.send(Job::Flush(done)).await.is_ok() && tokio::time::timeout(FLUSH_WAIT, wait).await.is_err() {
            tracing::warn!("webhooks still busy after {} s; leaving the rest undelivered", FLUSH_WAIT.as_secs());
        }
    }
}

async fn deliver_all(client: reqwest::Client, urls: Vec<String>, mut jobs: mpsc::Receiver<Job>) {
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Deliver(event) => {
                let body = Body {
                    text: format!("cutover {}: {}", event.cutover_id, event.describe()),
                    cutover: &event.cutover_id,
                    event: event.kind.name(),
                    record: &event,
                };
                let body = match serde_json::to_vec(&body) {
                    Ok(body) => body,
                    Err(e) => {
                        tracing::warn!(error = %e, "notification not encoded");
                        continue;
                    }
                };
                for url in &urls {
                    deliver(&client, url, &body, &event).await;
                }
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// One event to one webhook, with retries.
async fn deliver(client: &reqwest::Client, url: &str, body: &[u8], event: &Event) {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let sent =
            client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_vec()).send().await;
        let (retry, problem) = match sent {
            Ok(answer) if answer.status().is_success() => {
                tracing::debug!(%url, event = event.kind.name(), attempt, "notified");
                return;
            }
            Ok(answer) => {
                let status = answer.status();
                (status.is_server_error() || status.as_u16() == 429, format!("answered {status}"))
            }
            Err(e) => (true, e.to_string()),
        };
        if !retry || attempt == ATTEMPTS {
            tracing::warn!(
                %url,
                cutover = %event.cutover_id,
                event = event.kind.name(),
                attempt,
                "webhook not notified: {problem}"
            );
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
}
