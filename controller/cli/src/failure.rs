//! How a command fails, and which exit code each failure is: decided here
//! and nowhere else. A command returns `Ok(code)` for outcomes people act
//! on (0 completed, 3 rolled back, 4 aborted, 5 a broken audit chain) and a
//! [`Failure`] otherwise.

use std::process::ExitCode;

use cutover_core::store::StoreError;
use cutover_runtime::DriverError;

/// Bad input: a flag, a plan, a file, a request the daemon refused as such.
pub const EXIT_INPUT: u8 = 2;
/// The cutover ended rolled back.
pub const EXIT_ROLLED_BACK: u8 = 3;
/// An operator aborted the cutover.
pub const EXIT_ABORTED: u8 = 4;
/// `history --verify` found the audit trail's hash chain broken.
pub const EXIT_BROKEN_CHAIN: u8 = 5;

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad input, said with its fix.
    #[error("{0}")]
    Input(String),
    /// Bad input whose problems were printed already, one per line.
    #[error("the input has problems (printed above)")]
    Said,
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Other(e.into())
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Failure {
        Failure::Other(e.into())
    }
}

impl Failure {
    pub fn input(message: impl Into<String>) -> Failure {
        Failure::Input(message.into())
    }

    /// Says what went wrong (unless said already) and gives the exit code.
    pub fn exit(self) -> ExitCode {
        match self {
            Failure::Said => ExitCode::from(EXIT_INPUT),
            Failure::Input(message) => {
                eprintln!("error: {message}");
                ExitCode::from(EXIT_INPUT)
            }
            other => {
                eprintln!("error: {:#}", anyhow::Error::from(other));
                ExitCode::FAILURE
            }
        }
    }
}
