//! The plan's `[notify] webhooks`, delivered at least once.
//!
//! **The audit trail is the outbox.** The events people act on
//! ([`EventKind::notifies`](cutover_core::engine::EventKind::notifies)) are written with the state like every other
//! event, so nothing more is written for a notification to be owed. Per
//! webhook the store keeps one mark: the place `(version, index)` of the last
//! event sent ([`Store::delivered`]). While a controller leads a cutover, one
//! task per webhook reads the trail after that mark, POSTs each event that
//! notifies, in order, and moves the mark past it. A controller killed
//! between an event and its delivery leaves the mark behind it, and whoever
//! leads next sends it; a settled cutover whose last leader died that way is
//! led again for its outbox alone ([`undelivered`]).
//!
//! A receiver may so hear of an event twice (sent, then killed before the
//! mark moved). Each POST carries the event's place as `Idempotency-Key:
//! {cutover}/{version}/{index}`, and the same in the body's `id`:
//!
//! ```json
//! {"id": "checkout/41/2",
//!  "text": "cutover checkout: rolled_back (critical_fail:error_rate): the edge confirmed 0%",
//!  "cutover": "checkout", "event": "rolled_back",
//!  "record": {"cutover_id": "checkout", "version": 41, "index": 2, "kind": {"event": "rolled_back", ...}, ...}}
//! ```
//!
//! A refused connection, a timeout ([`ATTEMPT_TIMEOUT`]), a 408, a 429 or a
//! 5xx is tried again after a pause that doubles from 0.5 s to a minute
//! ([`BACKOFF`]), for as long as the controller leads: later events wait
//! behind it, so a webhook hears them in order. Any other answer is final: a
//! 4xx says the receiver will never take this body, so it is logged and the
//! mark moves on.

use std::time::Duration;

use cutover_base::Backoff;
use cutover_core::engine::Event;
use cutover_core::ports::Notifier;
use cutover_core::store::{webhook_key, Store, StoreError};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One try's bound, connection to last byte.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause before the second try; doubled before each later one, up to a
/// minute.
pub const BACKOFF: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
/// How long [`Notifier::flush`] waits for the outbox to drain.
pub const FLUSH_WAIT: Duration = Duration::from_secs(20);
/// Events read from the trail at a time.
const PAGE: usize = 200;
/// How often the trail is read again with nothing notified meanwhile (an
/// event written by a controller whose notification never came).
const REREAD: Duration = Duration::from_secs(30);

/// A place in a cutover's trail: `(version, index)`.
type Place = (u64, u16);

/// What the driver asks of the senders: lead (send the backlog), and send
/// everything up to `through` (the newest event notified in this process).
#[derive(Clone, Copy, Debug, Default)]
struct Wanted {
    leading: bool,
    through: Option<Place>,
}

/// One webhook's sender: the trail is sent up to `sent` (`None` until its
/// first read of the trail).
struct Sender {
    sent: watch::Receiver<Option<Option<Place>>>,
    task: JoinHandle<()>,
}

/// Delivers a cutover's notifications to its webhooks, from the store's
/// trail. With no webhooks it does nothing.
pub struct Webhooks {
    wanted: watch::Sender<Wanted>,
    senders: Vec<Sender>,
}

impl Drop for Webhooks {
    fn drop(&mut self) {
        self.senders.iter().for_each(|sender| sender.task.abort());
    }
}

#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    text: String,
    cutover: &'a str,
    event: &'a str,
    record: &'a Event,
}

/// The key a receiver can drop a repeat by: the event's place in its trail.
pub fn idempotency_key(event: &Event) -> String {
    format!("{}/{}/{}", event.cutover_id, event.version, event.index)
}

impl Webhooks {
    /// Senders for cutover `id`'s `urls`, on the current tokio runtime.
    /// They read nothing before [`Notifier::lead`]: only a leader sends.
    pub fn new<S: Store + Clone + 'static>(store: &S, id: &str, urls: &[String]) -> Webhooks {
        let (wanted, _) = watch::channel(Wanted::default());
        if urls.is_empty() {
            return Webhooks { wanted, senders: Vec::new() };
        }
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .user_agent(concat!("cutover/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let senders = urls
            .iter()
            .map(|url| {
                let (report, sent) = watch::channel(None);
                let outbox =
                    Outbox { store: store.clone(), id: id.to_owned(), url: url.clone(), client: client.clone() };
                let task = tokio::spawn(outbox.run(wanted.subscribe(), report));
                Sender { sent, task }
            })
            .collect();
        Webhooks { wanted, senders }
    }
}

/// Whether every sender has read the trail and sent it up to `through`.
fn caught_up(sent: &Option<Option<Place>>, through: Option<Place>) -> bool {
    sent.is_some_and(|sent| sent >= through)
}

impl Notifier for Webhooks {
    fn lead(&self) {
        self.wanted.send_modify(|wanted| wanted.leading = true);
    }

    fn notify(&self, event: &Event) {
        let place = Some((event.version, event.index));
        self.wanted.send_if_modified(|wanted| {
            let newer = place > wanted.through;
            wanted.through = wanted.through.max(place);
            newer
        });
    }

    fn drained(&self) -> bool {
        let through = self.wanted.borrow().through;
        self.senders.iter().all(|sender| caught_up(&sender.sent.borrow(), through))
    }

    async fn flush(&self) {
        let wanted = *self.wanted.borrow();
        if !wanted.leading {
            return;
        }
        let all = futures_util::future::join_all(self.senders.iter().map(|sender| {
            let mut sent = sender.sent.clone();
            async move {
                let _ = sent.wait_for(|sent| caught_up(sent, wanted.through)).await;
            }
        }));
        if tokio::time::timeout(FLUSH_WAIT, all).await.is_err() {
            tracing::warn!(
                "webhooks still owed notifications after {} s; the next leader sends them",
                FLUSH_WAIT.as_secs()
            );
        }
    }
}

/// One webhook's share of one cutover's outbox.
struct Outbox<S> {
    store: S,
    id: String,
    url: String,
    client: reqwest::Client,
}

impl<S: Store> Outbox<S> {
    async fn run(self, mut wanted: watch::Receiver<Wanted>, sent: watch::Sender<Option<Option<Place>>>) {
        if wanted.wait_for(|wanted| wanted.leading).await.is_err() {
            return;
        }
        let key = webhook_key(&self.url);
        let mark = self.retried("read where its deliveries stand", || self.store.delivered(&self.id, &key)).await;
        // A first mark before the first delivery: this cutover's outbox is
        // in use, so a settled cutover with no mark is one from before
        // outboxes (never sent again) and one with a mark is watched.
        let mut read_to = match mark {
            Some(mark) => Some(mark),
            None => {
                self.retried("mark its outbox", || self.store.mark_delivered(&self.id, &key, (0, 0))).await;
                None
            }
        };
        loop {
            let page = self.retried("read the trail", || self.store.history_after(&self.id, read_to, PAGE)).await;
            let whole = page.len() < PAGE;
            for event in page {
                let place = (event.version, event.index);
                if event.kind.notifies() && !self.sent_by_another(&key, place).await {
                    self.send(&event).await;
                    if let Err(e) = self.store.mark_delivered(&self.id, &key, place).await {
                        // Sent: at worst the next leader sends it again.
                        tracing::warn!(cutover = %self.id, error = %e, "the delivery of {} was not recorded", idempotency_key(&event));
                    }
                }
                read_to = Some(place);
            }
            if !whole {
                continue;
            }
            sent.send_replace(Some(read_to));
            tokio::select! {
                changed = wanted.wait_for(|wanted| wanted.through > read_to) => if changed.is_err() { return },
                () = tokio::time::sleep(REREAD) => {}
            }
        }
    }

    /// Whether the mark has passed `place` already: another controller sent
    /// it (a lease that changed hands while this sender was retrying).
    async fn sent_by_another(&self, key: &str, place: Place) -> bool {
        matches!(self.store.delivered(&self.id, key).await, Ok(Some(mark)) if mark >= place)
    }

    /// `call`'s answer, tried again (with backoff) until the store gives one.
    async fn retried<T, F: std::future::Future<Output = Result<T, StoreError>>>(
        &self,
        what: &str,
        call: impl Fn() -> F,
    ) -> T {
        let mut failures = 0u32;
        loop {
            match call().await {
                Ok(answer) => return answer,
                Err(e) => tracing::warn!(cutover = %self.id, error = %e, "notifications: cannot {what}; trying again"),
            }
            failures = failures.saturating_add(1);
            tokio::time::sleep(BACKOFF.after(failures)).await;
        }
    }

    /// POSTs `event` until it is taken or refused for good.
    async fn send(&self, event: &Event) {
        let key = idempotency_key(event);
        let body = Body {
            id: &key,
            text: format!("cutover {}: {}", event.cutover_id, event.describe()),
            cutover: &event.cutover_id,
            event: event.kind.name(),
            record: event,
        };
        let body = match serde_json::to_vec(&body) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(cutover = %self.id, error = %e, "notification {key} not encoded; skipped");
                return;
            }
        };
        for attempt in 1.. {
            let sent = self
                .client
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("idempotency-key", &key)
                .body(body.clone())
                .send()
                .await;
            let problem = match sent {
                Ok(answer) if answer.status().is_success() => {
                    tracing::debug!(url = %self.url, %key, attempt, "notified");
                    return;
                }
                Ok(answer) if !retried(answer.status()) => {
                    tracing::warn!(
                        url = %self.url,
                        %key,
                        event = event.kind.name(),
                        "webhook refused the notification ({}); not sent again",
                        answer.status()
                    );
                    return;
                }
                Ok(answer) => format!("answered {}", answer.status()),
                Err(e) => e.to_string(),
            };
            let backoff = BACKOFF.after(attempt);
            tracing::warn!(url = %self.url, %key, attempt, "webhook not notified yet: {problem}; trying again in {:?}", backoff);
            tokio::time::sleep(backoff).await;
        }
    }
}

/// Whether an answer with this status is worth sending again.
fn retried(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || matches!(status.as_u16(), 408 | 429)
}

/// Whether cutover `id` owes `urls` a notification: some webhook's mark
/// (once its outbox is in use) lies before an event that notifies. What the
/// daemon asks of a settled cutover, to lead it again for its outbox.
pub async fn undelivered<S: Store>(store: &S, id: &str, urls: &[String]) -> Result<bool, StoreError> {
    for url in urls {
        let Some(mut after) = store.delivered(id, &webhook_key(url)).await? else { continue };
        loop {
            let page = store.history_after(id, Some(after), PAGE).await?;
            if page.iter().any(|event| event.kind.notifies()) {
                return Ok(true);
            }
            match page.last() {
                Some(last) if page.len() == PAGE => after = (last.version, last.index),
                _ => break,
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_answers_are_tried_again() {
        for status in [500, 502, 503, 504, 408, 429] {
            assert!(retried(reqwest::StatusCode::from_u16(status).unwrap()), "{status}");
        }
        for status in [400, 401, 403, 404, 410, 413, 301] {
            assert!(!retried(reqwest::StatusCode::from_u16(status).unwrap()), "{status}");
        }
    }

    #[test]
    fn a_sender_is_caught_up_only_after_reading_the_trail() {
        assert!(!caught_up(&None, None), "not read yet");
        assert!(caught_up(&Some(None), None), "an empty trail, nothing notified");
        assert!(!caught_up(&Some(Some((3, 0))), Some((3, 1))));
        assert!(caught_up(&Some(Some((4, 0))), Some((3, 1))));
    }
}
