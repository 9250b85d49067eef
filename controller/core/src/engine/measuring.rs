//! Windows asked for and answered, late ones, the baseline, and the analyses they become.

use super::*;
use std::time::Duration;

use crate::judge::{Analysis, Verdict};
use crate::measure::{MeasureError, Measurement, Window};

#[derive(Clone, Debug, Default)]
pub(super) struct MeasureProgress {
    /// The end of the last window asked for.
    pub(super) measured_to: Option<Timestamp>,
    pub(super) in_flight: Option<Window>,
    /// Evidence from before this step that a new leader must read again
    /// (the old side's baseline), and whether it has been asked for.
    pub(super) baseline_wanted: Option<Window>,
    pub(super) baseline_in_flight: bool,
    /// After a failed baseline read: not asked again before this.
    pub(super) baseline_not_before: Option<Timestamp>,
    /// A new leader took over between a step's intent and its confirmation:
    /// the judge's memory is empty, so the baseline is read again once the
    /// edge confirms (from the cutover's start to then).
    pub(super) baseline_on_confirm: bool,
    /// A window the source had not published in full yet, when it first
    /// said so, and when to ask for it again (the same window: a steady
    /// delay would leave a growing one's newest minute unpublished for ever).
    pub(super) late: Option<LateWindow>,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct LateWindow {
    pub(super) window: Window,
    pub(super) since: Timestamp,
    pub(super) retry_at: Timestamp,
}

impl MeasureProgress {
    /// Starts measuring a step afresh from `from`; a baseline still wanted stays wanted.
    pub(super) fn restart_step(&mut self, from: Option<Timestamp>) {
        self.measured_to = from;
        self.in_flight = None;
        self.late = None;
    }
}

/// How long after the source first said a window was not published in
/// full it is asked for again before it is judged an error (`no_data`).
pub const LATE_MAX: Duration = Duration::from_secs(10 * 60);

impl<J: Judge> Engine<J> {
    pub(super) fn on_measured(
        &mut self,
        now: Timestamp,
        window: Window,
        result: Result<Measurement, MeasureError>,
        tx: &mut Txn,
    ) {
        if self.measure.baseline_in_flight && self.measure.baseline_wanted == Some(window) {
            self.measure.baseline_in_flight = false;
            match result {
                Ok(m) => {
                    self.judge.baseline(window, &m);
                    self.measure.baseline_wanted = None;
                }
                // Asked again an interval later, not in a tight loop.
                Err(_) => self.measure.baseline_not_before = Some(now + self.plan.guardrails.interval),
            }
            return;
        }
        match self.measure.in_flight {
            Some(w) if w == window => self.measure.in_flight = None,
            _ => return, // stale: from an earlier step or a timed-out request
        }
        if !self.measuring() {
            return;
        }
        let since = self.measure.late.take().filter(|late| late.window == window).map_or(now, |late| late.since);
        if let Err(e) = &result {
            if e.late && now < since + LATE_MAX {
                // Not published yet: the same window, asked again later.
                let retry_at = now + self.plan.guardrails.interval;
                self.measure.late = Some(LateWindow { window, since, retry_at });
                return;
            }
        }
        let analysis = match result {
            Ok(mut m) => {
                // The breakdown is for the record; judges never read it.
                let (hops, latency_source) = (std::mem::take(&mut m.hops), m.latency_source.take());
                let routes = std::mem::take(&mut m.routes);
                Analysis { hops, latency_source, routes, ..self.judge.judge(window, &m) }
            }
            Err(e) => Analysis::error(window, &e),
        };
        self.on_analysis(now, analysis, tx);
    }

    pub(super) fn on_analysis(&mut self, now: Timestamp, analysis: Analysis, tx: &mut Txn) {
        let s = &mut self.state;
        s.last_verdict = Some(analysis.verdict);
        s.last_samples = analysis.samples;
        s.judged_to = Some(analysis.window.to);
        if analysis.verdict == Verdict::Fail && !analysis.critical {
            s.failures += 1;
        }
        if analysis.verdict == Verdict::Error {
            s.no_data_since.get_or_insert(now);
        } else {
            s.no_data_since = None;
        }
        // A window that could not be measured says nothing either way: the
        // shared failure's clock runs on through it.
        if analysis.shared_failure.is_some() {
            s.shared_failure_since.get_or_insert(now);
        } else if analysis.verdict != Verdict::Error {
            s.shared_failure_since = None;
        }
        let decision = self.decide(now, Some(&analysis));
        tx.record(
            &Actor::Controller,
            EventKind::Analysis {
                step: self.state.step,
                weight: self.state.weight,
                failures: self.state.failures,
                analysis,
                decision,
            },
        );
        self.execute(decision, &Actor::Controller, tx);
    }

    /// What the judge learns the old side from, up to `to`: the plan's
    /// `lookback` before the start (the old side alone, at full load) and
    /// the cutover since. `None` when that is empty.
    pub(super) fn baseline_window(&self, to: Timestamp) -> Option<Window> {
        let started = self.state.started_at?;
        let from = Timestamp::from_ms(started.as_ms().saturating_sub(self.plan.guardrails.lookback.as_millis() as u64));
        (from < to).then_some(Window { from, to })
    }
}
