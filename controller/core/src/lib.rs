//! The pure core of cutover: plan, domain types, engine and judge interface.
pub mod plan;
pub mod units;
