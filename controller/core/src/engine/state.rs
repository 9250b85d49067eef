//! The cutover's recorded state and its audit events: what is persisted.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::judge::{Analysis, CheckName, Verdict};
use crate::measure::PerSide;
use crate::units::{Timestamp, Weight};

/// Where a cutover is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Created, weight 0, waiting for an operator to start it.
    Pending,
    /// Stepping through the schedule.
    Progressing,
    /// Holding the current step until resumed; rollbacks still happen.
    Paused { reason: PauseReason },
    /// Weight 0 is intended and retried until the edge confirms it.
    RollingBack { reason: RollbackReason },
    /// The edge confirmed weight 0. Only an operator's `start` raises it again.
    RolledBack { reason: RollbackReason },
    /// The last step held and passed.
    Completed,
    /// Stopped for good by an operator, at weight 0.
    Aborted,
}

impl Phase {
    /// A phase in which the controller drives the edge.
    pub fn is_active(self) -> bool {
        matches!(self, Phase::Progressing | Phase::Paused { .. } | Phase::RollingBack { .. })
    }

    /// A phase with nothing more to do: Completed, RolledBack or Aborted
    /// (only an operator's rollback or start moves it on).
    pub fn is_settled(self) -> bool {
        matches!(self, Phase::Completed | Phase::RolledBack { .. } | Phase::Aborted)
    }

    pub fn name(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Progressing => "Progressing",
            Phase::Paused { .. } => "Paused",
            Phase::RollingBack { .. } => "RollingBack",
            Phase::RolledBack { .. } => "RolledBack",
            Phase::Completed => "Completed",
            Phase::Aborted => "Aborted",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Paused { reason } => write!(f, "Paused({})", reason.as_str()),
            Phase::RollingBack { reason } | Phase::RolledBack { reason } => {
                write!(f, "{}({})", self.name(), reason)
            }
            _ => f.write_str(self.name()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    Operator,
    /// The no-data policy ran out with `then = "pause"`.
    NoData,
    /// The edge holds a weight this cutover did not write.
    Drift,
    /// Probes through the edge kept disagreeing with the applied weight.
    Unverified,
    /// Both sides kept failing together for longer than
    /// `guardrails.shared_failure.max_hold`: not the new side's fault, but
    /// no time to advance either.
    SharedFailure,
}

impl PauseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PauseReason::Operator => "operator",
            PauseReason::NoData => "no_data",
            PauseReason::Drift => "drift",
            PauseReason::Unverified => "unverified",
            PauseReason::SharedFailure => "shared_failure",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RollbackReason {
    /// A critical check failed.
    CriticalFail { check: CheckName },
    /// Non-critical failures in one step reached the failure limit.
    FailureLimit,
    /// A source could not be read for longer than the no-data policy allows.
    NoData,
    /// An operator asked for it.
    Operator,
    /// An operator aborted the cutover.
    Abort,
}

impl fmt::Display for RollbackReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RollbackReason::CriticalFail { check } => write!(f, "critical_fail:{}", check.as_str()),
            RollbackReason::FailureLimit => f.write_str("failure_limit"),
            RollbackReason::NoData => f.write_str("no_data"),
            RollbackReason::Operator => f.write_str("operator"),
            RollbackReason::Abort => f.write_str("abort"),
        }
    }
}

/// Why a step is not advancing right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// The edge has not confirmed this step's weight yet.
    EdgePending,
    /// The step's hold has not elapsed.
    HoldTime,
    /// No analysis yet covers the end of the hold.
    NotJudged,
    /// Not enough data for a verdict.
    Inconclusive,
    /// A source could not be read.
    NoData,
    /// The latest analysis failed (below the failure limit).
    Failing,
    /// Inside a freeze window.
    Frozen,
    /// Paused.
    Paused,
    /// The old side is failing in the same minutes as the new one.
    SharedFailure,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::EdgePending => "edge_pending",
            HoldReason::HoldTime => "hold_time",
            HoldReason::NotJudged => "not_judged",
            HoldReason::Inconclusive => "inconclusive",
            HoldReason::NoData => "no_data",
            HoldReason::Failing => "failing",
            HoldReason::Frozen => "frozen",
            HoldReason::Paused => "paused",
            HoldReason::SharedFailure => "shared_failure",
        }
    }
}

/// The recorded state of one cutover: one item in the store, replaced
/// atomically with the events that explain each change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CutoverState {
    pub id: String,
    /// Bumped by one with every persisted change (the store's write condition).
    pub version: u64,
    pub phase: Phase,
    /// Index into the plan's steps; meaningful once started.
    pub step: usize,
    /// The weight intended at the edge. Persisted *before* it is applied.
    pub weight: Weight,
    /// The last weight the edge confirmed; `None` when unknown.
    pub edge_weight: Option<Weight>,
    /// The last weight this cutover saw confirmed at the edge, kept through
    /// failed applies (0 before the first): anything else found there was
    /// written by someone else, which is drift.
    #[serde(default = "zero_weight")]
    pub written: Weight,
    /// The weight found at the edge when drift paused the cutover: an
    /// operator's `resume` accepts it as the starting point.
    #[serde(default)]
    pub drift_found: Option<Weight>,
    /// When the edge confirmed this step's weight: the hold counts from here.
    pub step_started_at: Option<Timestamp>,
    /// Non-critical failed analyses in this step.
    pub failures: u32,
    pub last_verdict: Option<Verdict>,
    pub last_samples: PerSide<u64>,
    /// The end of the window the latest analysis covered.
    pub judged_to: Option<Timestamp>,
    /// Since when every analysis has been Error (could not measure).
    pub no_data_since: Option<Timestamp>,
    /// Since when every analysis has seen the old side failing with the new
    /// one (a shared failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_failure_since: Option<Timestamp>,
    pub started_by: Option<String>,
    /// When an operator last started it: the old side's baseline begins here.
    pub started_at: Option<Timestamp>,
    /// Since when the cutover has been paused, whatever the reason (kept
    /// while the pause's reason changes; `None` when not paused): the
    /// controller's heartbeat publishes the longest pause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_since: Option<Timestamp>,
    pub updated_at: Timestamp,
    /// A Pending cutover with this set starts by itself then (or at the
    /// end of a freeze window it falls in), as `scheduled_by`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_by: Option<String>,
    /// SHA-256 of the plan text stored with the cutover, in hex: every
    /// replica drives that plan, and `started` records which it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_sha256: Option<String>,
    /// The inbox number of the last operator command handled, written with
    /// what it caused: the inbox keeps every command above it, so a command
    /// whose write never happened (a crash in between) is handled by
    /// whoever leads next, and none is handled twice.
    #[serde(default, skip_serializing_if = "crate::measure::is_zero")]
    pub commands_handled: u64,
}

/// How probes through the edge saw a new weight take effect: a cohort key
/// just below the threshold answered by the serverless side, one at or
/// just above it by the legacy side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Probe rounds until both agreed (1: at once).
    pub rounds: u32,
    /// Wall time from the write to the agreeing round.
    pub waited_ms: u64,
    /// Each side's answer time in the agreeing round, as a client sees it
    /// through the edge (none for a side the weight leaves no room for).
    pub legacy_us: Option<u64>,
    pub serverless_us: Option<u64>,
}

fn zero_weight() -> Weight {
    Weight::ZERO
}

impl CutoverState {
    pub fn new(id: impl Into<String>, now: Timestamp) -> CutoverState {
        CutoverState {
            id: id.into(),
            version: 0,
            phase: Phase::Pending,
            step: 0,
            weight: Weight::ZERO,
            edge_weight: None,
            written: Weight::ZERO,
            drift_found: None,
            step_started_at: None,
            failures: 0,
            last_verdict: None,
            last_samples: PerSide::default(),
            judged_to: None,
            no_data_since: None,
            shared_failure_since: None,
            started_by: None,
            started_at: None,
            paused_since: None,
            updated_at: now,
            start_at: None,
            scheduled_by: None,
            plan_sha256: None,
            commands_handled: 0,
        }
    }

    /// A new cutover for the plan `text`, recording its hash.
    pub fn for_plan(id: impl Into<String>, now: Timestamp, text: &str) -> CutoverState {
        CutoverState { plan_sha256: Some(crate::audit::sha256_hex(text.as_bytes())), ..CutoverState::new(id, now) }
    }
}

/// Who caused an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Controller,
    Operator(String),
}

/// What the controller decided after an analysis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Hold {
        reason: HoldReason,
    },
    Advance {
        to_step: usize,
    },
    Complete,
    Rollback {
        reason: RollbackReason,
    },
    Pause {
        #[serde(default = "no_data_reason")]
        reason: PauseReason,
    },
}

impl Decision {
    /// `hold (inconclusive)`, `advance to step 3`, `rollback (critical_fail:error_rate)`.
    pub fn describe(&self) -> String {
        match self {
            Decision::Hold { reason } => format!("hold ({})", reason.as_str()),
            Decision::Advance { to_step } => format!("advance to step {}", to_step + 1),
            Decision::Complete => "complete".into(),
            Decision::Rollback { reason } => format!("rollback ({reason})"),
            Decision::Pause { reason } => format!("pause ({})", reason.as_str()),
        }
    }
}

/// What a `pause` decision recorded before it carried a reason meant.
fn no_data_reason() -> PauseReason {
    PauseReason::NoData
}

/// One append-only audit record. Events are written in the same atomic write
/// as the state change they explain; `version` is the state version they
/// belong to and `index` orders the events within it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub cutover_id: String,
    pub version: u64,
    pub index: u16,
    pub at: Timestamp,
    pub actor: Actor,
    pub kind: EventKind,
    /// The operator's own words, on the events their command caused
    /// (`cutover rollback --reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    Started {
        steps: usize,
        /// The stored plan's SHA-256 (hex), when the cutover was created with it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan_sha256: Option<String>,
    },
    /// Write-ahead: the weight about to be applied at the edge.
    WeightIntent {
        from: Weight,
        to: Weight,
        step: usize,
    },
    WeightConfirmed {
        weight: Weight,
        /// How the edge was seen to agree, when it was probed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verification: Option<Verification>,
    },
    EdgeFailed {
        weight: Weight,
        attempt: u32,
        error: String,
    },
    /// The edge holds a weight this cutover did not write: `expected` is
    /// what it last wrote, `found` what is there, `wanted` what it was about
    /// to apply (the current intent). Never overwritten blindly: the
    /// cutover pauses until an operator resumes or rolls back.
    EdgeDrift {
        expected: Weight,
        found: Weight,
        wanted: Weight,
    },
    /// The edge took the weight but probes through it kept disagreeing.
    EdgeUnverified {
        weight: Weight,
        reason: String,
    },
    /// A verdict, the numbers behind it, and what was decided.
    Analysis {
        step: usize,
        weight: Weight,
        failures: u32,
        analysis: Analysis,
        decision: Decision,
    },
    StepAdvanced {
        from_step: usize,
        to_step: usize,
        weight: Weight,
        promoted: bool,
    },
    Paused {
        reason: PauseReason,
    },
    Resumed,
    RollbackStarted {
        reason: RollbackReason,
    },
    RolledBack {
        reason: RollbackReason,
    },
    Completed,
    Aborted,
    /// An operator's command the cutover could not carry out as it stood,
    /// and why: recorded, so the command counts as handled.
    CommandRefused {
        command: crate::engine::Command,
        why: String,
    },
}

impl EventKind {
    /// Whether people hear of it (the plan's webhooks): the events they act
    /// on, never the routine of steps, intents and analyses.
    pub fn notifies(&self) -> bool {
        match self {
            EventKind::Started { .. }
            | EventKind::EdgeDrift { .. }
            | EventKind::EdgeUnverified { .. }
            | EventKind::Paused { .. }
            | EventKind::Resumed
            | EventKind::RollbackStarted { .. }
            | EventKind::RolledBack { .. }
            | EventKind::Completed
            | EventKind::Aborted => true,
            EventKind::WeightIntent { .. }
            | EventKind::WeightConfirmed { .. }
            | EventKind::EdgeFailed { .. }
            | EventKind::Analysis { .. }
            | EventKind::StepAdvanced { .. }
            | EventKind::CommandRefused { .. } => false,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Started { .. } => "started",
            EventKind::WeightIntent { .. } => "weight_intent",
            EventKind::WeightConfirmed { .. } => "weight_confirmed",
            EventKind::EdgeFailed { .. } => "edge_failed",
            EventKind::EdgeDrift { .. } => "edge_drift",
            EventKind::EdgeUnverified { .. } => "edge_unverified",
            EventKind::Analysis { .. } => "analysis",
            EventKind::StepAdvanced { .. } => "step_advanced",
            EventKind::Paused { .. } => "paused",
            EventKind::Resumed => "resumed",
            EventKind::RollbackStarted { .. } => "rollback_started",
            EventKind::RolledBack { .. } => "rolled_back",
            EventKind::Completed => "completed",
            EventKind::Aborted => "aborted",
            EventKind::CommandRefused { .. } => "command_refused",
        }
    }
}

impl Event {
    /// One line a person can read, in the audit vocabulary.
    pub fn describe(&self) -> String {
        match &self.reason {
            Some(reason) => format!("{}: \"{reason}\"", self.describe_kind()),
            None => self.describe_kind(),
        }
    }

    fn describe_kind(&self) -> String {
        let who = match &self.actor {
            Actor::Controller => String::new(),
            Actor::Operator(name) => format!(" by {name}"),
        };
        match &self.kind {
            EventKind::Started { steps, plan_sha256 } => match plan_sha256 {
                Some(hash) => format!("started{who}: {steps} steps, plan sha256 {}", &hash[..hash.len().min(12)]),
                None => format!("started{who}: {steps} steps"),
            },
            EventKind::WeightIntent { from, to, step } => format!("weight_intent {from} → {to} (step {})", step + 1),
            EventKind::WeightConfirmed { weight, verification: None } => format!("weight_confirmed {weight} at the edge"),
            EventKind::WeightConfirmed { weight, verification: Some(v) } => format!(
                "weight_confirmed {weight} at the edge, verified by probes after {} round(s) in {} ms (legacy {}, serverless {})",
                v.rounds,
                v.waited_ms,
                v.legacy_us.map_or("-".into(), |us| format!("{:.1} ms", us as f64 / 1e3)),
                v.serverless_us.map_or("-".into(), |us| format!("{:.1} ms", us as f64 / 1e3))
            ),
            EventKind::EdgeUnverified { weight, reason } => format!("edge_unverified at {weight}: {reason}"),
            EventKind::EdgeFailed { weight, attempt, error } => {
                format!("edge_failed applying {weight} (attempt {attempt}): {error}")
            }
            EventKind::EdgeDrift { expected, found, wanted } => {
                format!("edge_drift: the edge holds {found}, not {expected} as last written (about to apply {wanted})")
            }
            EventKind::Analysis { analysis, decision, .. } => {
                let worst = analysis.checks.iter().filter(|c| c.verdict == analysis.verdict).map(|c| c.reason.as_str());
                let why: Vec<&str> = analysis.shared_failure.as_deref().into_iter().chain(worst).collect();
                format!(
                    "analysis {}: {} [samples legacy {} / serverless {}] → {}",
                    analysis.verdict.as_str(),
                    why.join("; "),
                    analysis.samples.legacy,
                    analysis.samples.serverless,
                    decision.describe()
                )
            }
            EventKind::StepAdvanced { to_step, weight, promoted, .. } => {
                format!(
                    "step_advanced to step {} ({weight}){}{who}",
                    to_step + 1,
                    if *promoted { ", promoted" } else { "" }
                )
            }
            EventKind::Paused { reason } => format!("paused ({}){who}", reason.as_str()),
            EventKind::Resumed => format!("resumed{who}"),
            EventKind::RollbackStarted { reason } => format!("rollback_started ({reason}){who}"),
            EventKind::RolledBack { reason } => format!("rolled_back ({reason}): the edge confirmed 0%"),
            EventKind::Completed => format!("completed{who}"),
            EventKind::Aborted => format!("aborted{who}"),
            EventKind::CommandRefused { command, why } => format!("{} refused{who}: {why}", command.as_str()),
        }
    }

    /// Events worth a line in a timeline: everything but intents (the
    /// decision beside them says it) and analyses that passed or waited.
    pub fn is_milestone(&self) -> bool {
        match &self.kind {
            EventKind::WeightIntent { .. } => false,
            EventKind::Analysis { analysis, decision, .. } => {
                analysis.verdict == Verdict::Fail
                    || analysis.shared_failure.is_some()
                    || !matches!(decision, Decision::Hold { .. })
            }
            _ => true,
        }
    }
}
