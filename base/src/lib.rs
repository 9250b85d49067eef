//! What every crate in cutover does the same way, written once.
//!
//! * [`Backoff`]: the doubling wait between tries, capped;
//! * [`clock::unix_ms`]: the one read of the wall clock outside tests (the
//!   core never calls it: its `clippy.toml` forbids it, time reaches the
//!   engine through its `Clock` port);
//! * [`random`]: bytes from the operating system (names, tokens, secrets,
//!   seeds) and [`rng::Rng`], the seedable generator for everything
//!   statistical (the simulator, the fault knobs);
//! * `logs::init` (feature `logs`): the binaries' tracing set-up.
//!
//! Pure apart from `clock` and `random`, and with no dependencies without
//! the `logs` feature, so the core can take [`Backoff`] and stay fast to
//! build.

#![forbid(unsafe_code)]

pub mod backoff;
pub mod clock;
#[cfg(feature = "logs")]
pub mod logs;
pub mod random;
pub mod rng;

pub use backoff::Backoff;
