//! Local mode: what stands in for AWS on one machine, behind the same
//! traits. [`SqliteStore`] is the embedded store; [`Edge`] the weighted
//! edge, which also records what the metric sources would report.

mod edge;
pub mod load;
mod sqlite;

pub use edge::{Edge, EdgeConfig, PROBE_HEADER};
pub use sqlite::SqliteStore;
