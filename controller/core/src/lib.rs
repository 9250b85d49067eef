//! The pure core of cutover: plan, domain types, engine and judge interface.
//!
//! Contract: deterministic and sans-IO. No tokio, no AWS SDK, no network, no
//! file system, no clock: `now` is always a parameter and side effects are
//! returned as data ([`engine::Effect`]) for a driver to carry out. Everything
//! that decides is testable in microseconds without mocks.
//!
//! Start reading at [`engine`]; the plan a user writes is in [`plan`]; what a
//! measurement is and how it is judged are in [`measure`] and [`judge`].

#![forbid(unsafe_code)]

pub mod audit;
pub mod cohort;
pub mod dashboard;
pub mod edge_function;
pub mod engine;
pub mod judge;
pub mod measure;
pub mod plan;
pub mod ports;
pub mod store;
pub mod units;
