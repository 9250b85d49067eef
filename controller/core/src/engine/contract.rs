//! What crosses the engine's boundary: its inputs, and the effects it asks of the driver.

use super::{CutoverState, Event, Verification};
use crate::measure::{MeasureError, Measurement, Window};
use crate::units::Weight;

// Inputs are handled one at a time and never stored in bulk: boxing the
// measurement would only add an allocation per window.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Time has passed; the engine re-evaluates (level-triggered).
    Tick,
    /// The answer to an [`Effect::Measure`].
    Measured { window: Window, result: Result<Measurement, MeasureError> },
    /// The answer to an [`Effect::ApplyWeight`].
    Edge(EdgeResult),
    /// The answer to an [`Effect::ReadEdge`]: the weight there, or why it
    /// could not be read (ignored: measuring covers an unreachable side).
    EdgeRead(Result<Weight, String>),
    /// An operator's command, as the store's inbox numbered it. The write
    /// that handles it (its events, or [`EventKind::CommandRefused`])
    /// records `seq` in [`CutoverState::commands_handled`]; a command at or
    /// below that number was handled before and is ignored, so one read
    /// again (after a crash, by a new leader) is never handled twice.
    Command {
        seq: u64,
        command: Command,
        actor: String,
        /// Why, in the operator's words; recorded on the events it causes.
        reason: Option<String>,
    },
    /// This engine now holds the lease: it may act. `epoch` is the lease's
    /// fencing token, higher than any earlier holder's.
    LeaseGained { epoch: u64 },
    /// Another controller may act now: stop at once.
    LeaseLost,
}

/// Names one apply: unique across restarts because the epoch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApplyId {
    pub epoch: u64,
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EdgeResult {
    Applied {
        id: ApplyId,
        weight: Weight,
    },
    Failed {
        id: ApplyId,
        weight: Weight,
        error: String,
    },
    /// The edge's version changed under us (KVS ETag mismatch); retried.
    Conflict {
        id: ApplyId,
        weight: Weight,
    },
    /// The edge holds `found`, which this cutover did not write: not applied.
    Drift {
        id: ApplyId,
        weight: Weight,
        found: Weight,
    },
    /// Applied, and probes through the edge agree: as `Applied`, recorded
    /// with how it was verified.
    Verified {
        id: ApplyId,
        weight: Weight,
        verification: Verification,
    },
    /// Applied, but probes through the edge kept disagreeing.
    Unverified {
        id: ApplyId,
        weight: Weight,
        reason: String,
    },
}

impl EdgeResult {
    pub fn id(&self) -> ApplyId {
        match self {
            EdgeResult::Applied { id, .. }
            | EdgeResult::Failed { id, .. }
            | EdgeResult::Conflict { id, .. }
            | EdgeResult::Drift { id, .. }
            | EdgeResult::Verified { id, .. }
            | EdgeResult::Unverified { id, .. } => *id,
        }
    }
}

/// What an operator can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Begin at the first step (also after a rollback).
    Start,
    Pause,
    Resume,
    Rollback,
    /// Skip the rest of the hold (never past a failing verdict).
    Promote,
    /// Weight back to 0 and stop for good.
    Abort,
}

impl Command {
    pub const ALL: [Command; 6] =
        [Command::Start, Command::Pause, Command::Resume, Command::Rollback, Command::Promote, Command::Abort];

    /// The inverse of [`Command::as_str`].
    pub fn parse(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Command::Start => "start",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Rollback => "rollback",
            Command::Promote => "promote",
            Command::Abort => "abort",
        }
    }
}

/// Work for the driver, in the order given.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Write the state and its events atomically, conditioned on
    /// `state.version - 1` being the stored version.
    Persist { state: CutoverState, events: Vec<Event> },
    /// Set the edge's weight (its intent is already persisted). `expected`
    /// is the weight the cutover last wrote there: finding anything else
    /// but it or `weight` is drift ([`EdgeResult::Drift`]), except that a
    /// weight of 0 (a rollback) is always applied.
    ApplyWeight { id: ApplyId, weight: Weight, expected: Weight },
    /// Read the weight the edge holds now, answered with
    /// [`Input::EdgeRead`]: asked with every window while a step holds, so
    /// drift is seen within one interval.
    ReadEdge,
    /// Measure both sides over the window.
    Measure { window: Window },
    /// Tell people (webhooks) about an event that was just persisted (one
    /// that [`EventKind::notifies`]). The trail is the outbox: a driver
    /// that dies before sending it, the next leader sends it from there.
    Notify { event: Event },
}

#[derive(Clone, Debug, Default, PartialEq)]
#[must_use]
pub struct Output {
    pub effects: Vec<Effect>,
    /// Why a command was refused, when it was.
    pub rejected: Option<String>,
}
