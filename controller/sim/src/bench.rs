//! The judge benchmark: judges side by side on the same seeds, on the
//! default traffic (100K requests/day, diurnal), healthy, regressed, and
//! hit by failures that are not the new side's fault.

use std::fmt::Write;
use std::time::Duration;

use cutover_core::judge::Judge;
use cutover_core::plan::Plan;
use cutover_core::units::{Timestamp, Weight};

use crate::model::{Affects, Fault, RegressionKind, Scenario, Shape, Users};
use crate::summary::{quantile, run_seeds, short};

/// How far into its step a fault starts (the step's weight is applied and
/// the judge has begun the step's evidence).
pub const ONSET_INTO_STEP: Duration = Duration::from_secs(30 * 60);

/// One row: a scenario, and whether rolling back is right for it.
#[derive(Clone, Debug)]
pub struct Row {
    pub name: String,
    pub scenario: Scenario,
    /// Healthy, or a failure that is not the new side's fault: any rollback is false.
    pub harmless: bool,
    /// Healthy rows run `null_runs` seeds, the others `runs`.
    pub healthy: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct BenchConfig {
    pub null_runs: u64,
    pub runs: u64,
    pub threads: usize,
}

/// Where a step starts in the default timeline, plus [`ONSET_INTO_STEP`].
pub fn onset(plan: &Plan, percent: u16) -> Option<Duration> {
    let w = Weight::from_bps(percent * 100)?;
    plan.timeline().iter().find(|r| r.weight == w).map(|r| r.starts_at + ONSET_INTO_STEP)
}

/// The benchmark's rows for `plan` (steps the plan lacks are left out).
pub fn rows(plan: &Plan) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut healthy = |name: &str, scenario: Scenario| {
        rows.push(Row { name: name.into(), scenario, harmless: true, healthy: true });
    };
    healthy("false rollbacks, healthy 48 h", Scenario::default());
    // Both sides equally fast, from 03:00 UTC: the baseline is built at
    // night and the afternoon peak (+48 %) is over its allowance.
    let mut loaded = Scenario { latency_load_slope: 0.8, ..Scenario::default() };
    loaded.start = Timestamp::from_ms(loaded.start.as_ms() - 9 * 3_600_000);
    loaded.serverless.latency_ms_p50 = loaded.legacy.latency_ms_p50;
    healthy("false rollbacks, latency +48 % at peak on both sides (equal sides, from 03:00)", loaded);
    healthy(
        "false rollbacks, sticky users, 3 of 300 failing 30 % of their requests",
        Scenario { users: Some(Users { count: 300, sick: 3, sick_error_rate: 0.3 }), ..Scenario::default() },
    );
    let new_side: [(&str, RegressionKind, &[u16]); 9] = [
        ("errors +1 pp", RegressionKind::ErrorsPlusPp(1.0), &[5, 10, 50, 100]),
        ("errors +5 pp", RegressionKind::ErrorsPlusPp(5.0), &[5, 10, 50, 100]),
        ("outage", RegressionKind::Outage, &[1, 5, 10, 50, 100]),
        ("p50 ×2", RegressionKind::P50Times(2.0), &[5, 10, 50, 100]),
        ("p99 ×2", RegressionKind::P99Times(2.0), &[10, 50, 100]),
        ("p99 ×3", RegressionKind::P99Times(3.0), &[10, 50, 100]),
        ("cold-start storm (×20, each under the limit)", RegressionKind::ColdTimes(20.0), &[10, 50, 100]),
        ("p99 +50 % (inside the allowance)", RegressionKind::P99Times(1.5), &[10, 50]),
        ("p50 +20 % (inside the allowance)", RegressionKind::P50Times(1.2), &[10, 50]),
    ];
    for (name, kind, steps) in new_side {
        let harmless = name.contains("inside the allowance");
        for pct in steps {
            let Some(at) = onset(plan, *pct) else { continue };
            let scenario = Scenario::with_faults(vec![Fault::new_side(kind, at)]);
            rows.push(Row { name: format!("{name} from the {pct} % step"), scenario, harmless, healthy: false });
        }
    }
    /// A failure that is not the new side's alone: who, what, how long, in which steps.
    type NotOurs<'a> = (&'a str, Affects, RegressionKind, Option<Duration>, &'a [u16]);
    let not_ours: [NotOurs; 4] = [
        (
            "shared outage, 5 min",
            Affects::Both,
            RegressionKind::Outage,
            Some(Duration::from_secs(300)),
            &[1, 10, 50, 100],
        ),
        (
            "shared 30 % errors, 15 min",
            Affects::Both,
            RegressionKind::ErrorsPlusPp(30.0),
            Some(Duration::from_secs(900)),
            &[1, 10, 50, 100],
        ),
        ("legacy errors +5 pp", Affects::Legacy, RegressionKind::ErrorsPlusPp(5.0), None, &[10, 50]),
        ("legacy p99 ×3", Affects::Legacy, RegressionKind::P99Times(3.0), None, &[10, 50]),
    ];
    for (name, affects, kind, lasts, steps) in not_ours {
        for pct in steps {
            let Some(at) = onset(plan, *pct) else { continue };
            let fault = Fault { affects, kind, at, lasts, shape: Shape::Step };
            let scenario = Scenario::with_faults(vec![fault]);
            rows.push(Row { name: format!("{name} at the {pct} % step"), scenario, harmless: true, healthy: false });
        }
    }
    rows
}

/// One judge on one row.
#[derive(Clone, Debug, Default)]
pub struct Cell {
    pub runs: usize,
    pub false_rollbacks: usize,
    /// Runs still held or paused when time ran out (a day past the plan).
    pub unfinished: usize,
    pub detections: Vec<Duration>,
    pub exposed: Vec<u64>,
}

impl Cell {
    fn text(&self, harmless: bool) -> String {
        let pct = |n: usize| 100.0 * n as f64 / self.runs.max(1) as f64;
        if harmless {
            let rolled_back = self.false_rollbacks + self.detections.len();
            let stuck = match self.unfinished {
                0 => String::new(),
                n => format!(", {:.0} % unfinished", pct(n)),
            };
            return format!("{:.1} % ({rolled_back} of {}) rolled back{stuck}", pct(rolled_back), self.runs);
        }
        let (Some(median), Some(p90)) = (quantile(&self.detections, 0.5), quantile(&self.detections, 0.9)) else {
            return format!("not caught ({:.0} % false)", pct(self.false_rollbacks));
        };
        let exposed = quantile(&self.exposed, 0.5).unwrap_or(0);
        format!("{} / {} · {exposed} req · {:.0} %", short(median), short(p90), pct(self.detections.len()))
    }

    /// Share of runs caught after the onset.
    pub fn caught(&self) -> f64 {
        self.detections.len() as f64 / self.runs.max(1) as f64
    }

    pub fn median(&self) -> Option<Duration> {
        quantile(&self.detections, 0.5)
    }
}

/// A judge's column: one cell per row.
#[derive(Clone, Debug)]
pub struct Column {
    pub judge: String,
    pub cells: Vec<Cell>,
}

/// Runs one judge over every row.
pub fn column<J: Judge>(
    name: &str,
    plan: &Plan,
    rows: &[Row],
    cfg: BenchConfig,
    make_judge: &(dyn Fn(&Plan) -> J + Sync),
    progress: &(dyn Fn(u64) + Sync),
) -> Column {
    let cells = rows
        .iter()
        .map(|row| {
            let runs = if row.healthy { cfg.null_runs } else { cfg.runs };
            cell(plan, &row.scenario, runs, cfg.threads, make_judge, progress)
        })
        .collect();
    Column { judge: name.to_string(), cells }
}

/// One judge on one scenario over seeds `0..runs`.
pub fn cell<J: Judge>(
    plan: &Plan,
    scenario: &Scenario,
    runs: u64,
    threads: usize,
    make_judge: &(dyn Fn(&Plan) -> J + Sync),
    progress: &(dyn Fn(u64) + Sync),
) -> Cell {
    let results = run_seeds(plan, scenario, 0..runs, threads, make_judge, progress);
    let mut c = Cell { runs: results.len(), ..Cell::default() };
    for (_, r) in &results {
        let Ok((r, _)) = r else { continue };
        c.false_rollbacks += usize::from(r.false_rollback());
        c.unfinished += usize::from(r.phase.is_active());
        if let Some(d) = r.detection() {
            c.detections.push(d);
            c.exposed.push(r.exposed_requests);
        }
    }
    c.detections.sort();
    c.exposed.sort_unstable();
    c
}

/// The side-by-side table.
pub fn table(rows: &[Row], columns: &[Column]) -> String {
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["scenario".to_string()];
    header.extend(columns.iter().map(|c| c.judge.clone()));
    lines.push(header);
    for (i, row) in rows.iter().enumerate() {
        let mut line = vec![row.name.clone()];
        line.extend(columns.iter().map(|c| c.cells.get(i).map_or_else(String::new, |cell| cell.text(row.harmless))));
        lines.push(line);
    }
    let widths: Vec<usize> =
        (0..lines[0].len()).map(|col| lines.iter().map(|r| r[col].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (n, line) in lines.iter().enumerate() {
        let cells: Vec<String> = line.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
        if n == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            let _ = writeln!(out, "|-{}-|", rule.join("-|-"));
        }
    }
    out
}
