//! The judge benchmark: judges side by side on the same seeds, on the
//! default traffic (100K requests/day, diurnal), healthy and regressed.

use std::fmt::Write;
use std::time::Duration;

use cutover_core::judge::Judge;
use cutover_core::plan::Plan;
use cutover_core::units::{format_duration, format_hours, Weight};

use crate::model::{Regression, RegressionKind, Scenario};
use crate::summary::{quantile, run_seeds};

/// The regressions of the benchmark, by name.
/// `p99 +50 %` and `p50 +20 %` stay inside the default plan's latency
/// allowances (the new side starts faster than the old: 31 vs 38 ms), so a
/// judge that compares against the old side should *not* roll them back;
/// `p99 ×3` and `p50 ×2` go past the allowances and should be.
pub const KINDS: [(&str, RegressionKind); 7] = [
    ("errors +1 pp", RegressionKind::ErrorsPlusPp(1.0)),
    ("errors +5 pp", RegressionKind::ErrorsPlusPp(5.0)),
    ("p99 +50 %", RegressionKind::P99Times(1.5)),
    ("p50 +20 %", RegressionKind::P50Times(1.2)),
    ("p99 ×3", RegressionKind::P99Times(3.0)),
    ("p50 ×2", RegressionKind::P50Times(2.0)),
    ("outage", RegressionKind::Outage),
];

/// The steps a regression starts in (by weight, in percent).
pub const ONSET_STEPS: [u16; 3] = [5, 10, 50];

/// How far into its step a regression starts (the step's weight is applied
/// and the judge has begun the step's evidence).
pub const ONSET_INTO_STEP: Duration = Duration::from_secs(30 * 60);

#[derive(Clone, Copy, Debug)]
pub struct BenchConfig {
    pub null_runs: u64,
    pub runs: u64,
    pub threads: usize,
}

/// One judge on one scenario.
#[derive(Clone, Debug, Default)]
pub struct Cell {
    pub runs: usize,
    pub false_rollbacks: usize,
    pub detections: Vec<Duration>,
    pub exposed: Vec<u64>,
}

impl Cell {
    fn text(&self, regressed: bool) -> String {
        let pct = |n: usize| 100.0 * n as f64 / self.runs.max(1) as f64;
        if !regressed {
            return format!("{:.1} % ({} of {})", pct(self.false_rollbacks), self.false_rollbacks, self.runs);
        }
        let (Some(median), Some(p90)) = (quantile(&self.detections, 0.5), quantile(&self.detections, 0.9)) else {
            return format!("not caught ({:.0} % false)", pct(self.false_rollbacks));
        };
        let exposed = quantile(&self.exposed, 0.5).unwrap_or(0);
        let round = |d: Duration| match d.as_secs() {
            s if s >= 3600 => format_hours(d),
            s => format_duration(Duration::from_secs(s)),
        };
        format!("{} / {} · {exposed} req · {:.0} %", round(median), round(p90), pct(self.detections.len()))
    }
}

/// A judge's column: the healthy runs, then one cell per (kind, step).
#[derive(Clone, Debug)]
pub struct Column {
    pub judge: String,
    pub null: Cell,
    pub cells: Vec<Cell>,
}

/// Where each regression starts: the step's nominal start plus [`ONSET_INTO_STEP`].
pub fn onsets(plan: &Plan) -> Vec<(u16, Duration)> {
    let timeline = plan.timeline();
    ONSET_STEPS
        .iter()
        .filter_map(|pct| {
            let w = Weight::from_bps(pct * 100)?;
            timeline.iter().find(|r| r.weight == w).map(|r| (*pct, r.starts_at + ONSET_INTO_STEP))
        })
        .collect()
}

/// Runs one judge over the healthy and every regressed scenario.
pub fn column<J: Judge>(
    name: &str,
    plan: &Plan,
    cfg: BenchConfig,
    make_judge: &(dyn Fn(&Plan) -> J + Sync),
    progress: &(dyn Fn(u64) + Sync),
) -> Column {
    let cell = |scenario: &Scenario, runs: u64| {
        let results = run_seeds(plan, scenario, 0..runs, cfg.threads, make_judge, progress);
        let mut c = Cell { runs: results.len(), ..Cell::default() };
        for (_, r) in &results {
            let Ok((r, _)) = r else { continue };
            c.false_rollbacks += usize::from(r.false_rollback());
            if let Some(d) = r.detection() {
                c.detections.push(d);
                c.exposed.push(r.exposed_requests);
            }
        }
        c.detections.sort();
        c.exposed.sort_unstable();
        c
    };
    let null = cell(&Scenario::default(), cfg.null_runs);
    let mut cells = Vec::new();
    for (_, kind) in KINDS {
        for (_, at) in onsets(plan) {
            cells.push(cell(&Scenario { regression: Some(Regression { kind, at }), ..Scenario::default() }, cfg.runs));
        }
    }
    Column { judge: name.to_string(), null, cells }
}

/// The side-by-side table.
pub fn table(plan: &Plan, columns: &[Column]) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["scenario".to_string()];
    header.extend(columns.iter().map(|c| c.judge.clone()));
    rows.push(header);
    let mut null = vec!["false rollbacks, healthy 48 h".to_string()];
    null.extend(columns.iter().map(|c| c.null.text(false)));
    rows.push(null);
    let onsets = onsets(plan);
    let mut i = 0;
    for (name, _) in KINDS {
        for (pct, _) in &onsets {
            let mut row = vec![format!("{name} from the {pct} % step")];
            row.extend(columns.iter().map(|c| c.cells.get(i).map_or_else(String::new, |cell| cell.text(true))));
            rows.push(row);
            i += 1;
        }
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|col| rows.iter().map(|r| r[col].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (n, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
        if n == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            let _ = writeln!(out, "|-{}-|", rule.join("-|-"));
        }
    }
    out
}
