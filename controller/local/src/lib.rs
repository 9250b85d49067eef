//! Local mode: what stands in for AWS on one machine, behind the same
//! traits. [`SqliteStore`] is the embedded store.

mod sqlite;

pub use sqlite::SqliteStore;
