//! The serverless side's behaviour, with no runtime in it.
//!
//! * [`routes`] — the route contract (`api-lambdas/routes.json`), parsed once.
//! * [`domain`] — what a valid id and body are.
//! * [`openapi`] — the contract as an OpenAPI document (for fuzzing).
//! * [`App`] — the handlers, generic over a [`store::ItemStore`] and a
//!   [`backend::Backend`]; `cutover-api-lambda` runs them in Lambda, one
//!   function per route, and `api-local` serves them all over HTTP.
//!
//! Nothing here does I/O itself: the DynamoDB store and the HTTP backend
//! client live in `cutover-api-aws`.

#![forbid(unsafe_code)]

pub mod backend;
pub mod domain;
pub mod openapi;
pub mod routes;
pub mod store;

mod app;
mod error;

pub use app::{unix_now, App, Config, Invocation, CACHE, COLD_START, REQUEST_ID, SERVED_BY, TRACE_ID};
pub use error::ApiError;
pub use store::Absent;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Polls every future to completion on the caller's task, so that their
/// I/O overlaps, and returns their outputs in order.
pub(crate) async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.into_iter().map(Box::pin).map(Some).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx: &mut Context<'_>| {
        for (slot, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot.as_mut() {
                if let Poll::Ready(value) = Pin::as_mut(future).poll(cx) {
                    *output = Some(value);
                    *slot = None;
                }
            }
        }
        if pending.iter().all(Option::is_none) {
            Poll::Ready(outputs.iter_mut().map(|o| o.take().expect("every future finished")).collect())
        } else {
            Poll::Pending
        }
    })
    .await
}
