//! Deterministic simulation of whole cutovers.
//!
//! A virtual clock, a traffic model (requests/day with a diurnal cycle, per
//! side latency, errors and cold starts), injected regressions, and seeded
//! fakes for every port (edge, sources, store, crashes) drive the real
//! [`cutover_core::engine::Engine`] through a whole plan in milliseconds.
//! [`check::Checker`] verifies the engine's invariants after every step.
//! The same seed always gives the same run.

#![forbid(unsafe_code)]

pub mod advise;
pub mod baseline;
pub mod bench;
pub mod check;
pub mod model;
pub use cutover_base::rng;
pub mod run;
pub mod script;
pub mod summary;
pub mod world;

pub use model::{
    Affects, Fault, Port, PortFaults, Regression, RegressionKind, Scenario, Shape, SideModel, Traffic, Users,
};
pub use run::{run, PortCounts, RunReport, Scripted};
pub use summary::{run_seeds, Summary};
