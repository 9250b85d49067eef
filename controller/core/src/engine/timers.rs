//! Every deadline the engine keeps, in one place.
//!
//! After quinn's `TimerTable`, with one difference: nothing here is
//! stored. Each deadline is derived from the state it belongs to (a
//! step's hold from when the edge confirmed it, a retry from its
//! backoff, a policy's limit from when its condition began), so a timer
//! cannot outlive what armed it: a rollback that clears a step clears
//! its timers with it. [`Engine::next_wake`] is the earliest of them;
//! the handlers ask [`Engine::due`] rather than compare times themselves.

use super::*;

/// One reason for the engine to wake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// A scheduled cutover starts (after the freeze window its time falls in).
    Start,
    /// The awaited edge write is tried again, after the backoff of a failure.
    EdgeRetry,
    /// The old side's baseline is asked for: at once, or an interval after
    /// a failed read.
    Baseline,
    /// The next window is asked for: an interval after the last one ended,
    /// or a late window again at its own time.
    Window,
    /// The step's hold ends.
    HoldEnd,
    /// The sources have given no data for `guardrails.no_data.max_hold`.
    NoData,
    /// Both sides have failed alike for `guardrails.shared_failure.max_hold`.
    SharedFailure,
    /// A step held only by a freeze window looks again at the next UTC hour.
    Unfreeze,
}

impl Timer {
    const ALL: [Timer; 8] = [
        Timer::Start,
        Timer::EdgeRetry,
        Timer::Baseline,
        Timer::Window,
        Timer::HoldEnd,
        Timer::NoData,
        Timer::SharedFailure,
        Timer::Unfreeze,
    ];
}

impl<J: Judge> Engine<J> {
    /// When `timer` fires, or `None` while nothing arms it. Times are
    /// those of the call being handled (`self.now`).
    pub(super) fn deadline(&self, timer: Timer) -> Option<Timestamp> {
        let (g, m) = (&self.plan.guardrails, &self.measure);
        // The step's own timers run only once the edge has confirmed it.
        let step = |t: Option<Timestamp>| t.filter(|_| self.measuring());
        match timer {
            Timer::Start => self.scheduled_start(),
            // Everything else belongs to a cutover under way.
            _ if !self.state.phase.is_active() => None,
            Timer::EdgeRetry => self.edge.retry_at.filter(|_| !self.edge.in_flight),
            Timer::Baseline => {
                m.baseline_wanted.filter(|_| !m.baseline_in_flight).map(|_| m.baseline_not_before.unwrap_or(self.now))
            }
            Timer::Window => step(m.measured_to)
                .filter(|_| m.in_flight.is_none())
                .map(|to| m.late.map_or(to + g.interval, |late| late.retry_at)),
            Timer::HoldEnd => step(self.state.step_started_at).map(|t| t + self.hold()),
            Timer::NoData => step(self.state.no_data_since).map(|t| t + g.no_data.max_hold),
            Timer::SharedFailure => step(self.state.shared_failure_since).map(|t| t + g.shared_failure.max_hold),
            Timer::Unfreeze => (self.measuring() && self.readiness(self.now) == Err(HoldReason::Frozen))
                .then(|| self.now.next_utc_hour()),
        }
    }

    /// Whether `timer` has fired by now.
    pub(super) fn due(&self, timer: Timer) -> bool {
        self.deadline(timer).is_some_and(|t| self.now >= t)
    }

    /// When the engine next wants a [`Input::Tick`]; `None` when it waits only
    /// for inputs (not the leader, or nothing in progress).
    pub fn next_wake(&self) -> Option<Timestamp> {
        if !self.leader {
            return None;
        }
        Timer::ALL.into_iter().filter_map(|timer| self.deadline(timer)).filter(|t| *t > self.now).min()
    }

    /// When a scheduled cutover starts: its time, or the end of the freeze
    /// window its time falls in (starting raises the weight, which a freeze
    /// forbids).
    fn scheduled_start(&self) -> Option<Timestamp> {
        let at = self.state.start_at.filter(|_| self.state.phase == Phase::Pending)?;
        let mut due = at.max(self.now);
        if !self.plan.is_frozen_hour(due.utc_hour()) {
            return Some(at);
        }
        // The first hour outside the window (within a day: a plan frozen
        // round the clock waits a day at a time, as it would to advance).
        for _ in 0..24 {
            due = due.next_utc_hour();
            if !self.plan.is_frozen_hour(due.utc_hour()) {
                break;
            }
        }
        Some(due)
    }
}
