//! Local mode: what stands in for AWS on one machine, behind the same
//! traits. [`SqliteStore`] is the embedded store; [`Edge`] the weighted
//! edge, which also records what the metric sources would report;
//! [`LocalEdgePort`] and [`LocalMetricsPort`] are the driver's ports on it.

#![forbid(unsafe_code)]

mod edge;
pub mod load;
mod ports;
mod sqlite;

pub use edge::{Edge, EdgeConfig, Keep, PROBE_HEADER};
pub use ports::{LocalEdgePort, LocalMetricsPort};
pub use sqlite::SqliteStore;
