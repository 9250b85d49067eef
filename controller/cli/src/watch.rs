//! `cutover watch ID`: the dashboard in a terminal (ratatui). The weight and
//! step, each side's p50/p99/error sparklines over the cutover so far, the
//! checks with their e-values, the latest events; keys to pause, resume and
//! roll back, each asking for a reason and a confirmation. Reads the daemon
//! (`--server`) or the store, through the same view and series the web page
//! draws, so both show the same numbers.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use cutover_core::engine::Command;
use cutover_core::ports::Clock as _;
use cutover_core::store::{Request, Store};
use cutover_runtime::ScaledClock;
use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Gauge, Paragraph, Row, Sparkline, Table, Wrap};
use ratatui::Frame;

use crate::client::{Client, ServerArgs};
use crate::failure::Failure;
use crate::series::Series;
use crate::stores::{AnyStore, EndpointArgs, Open, StoreAt};
use crate::view::{CutoverView, SideView};

#[derive(clap::Args)]
pub struct WatchArgs {
    /// The cutover.
    pub id: String,
    /// Where cutovers are recorded: a SQLite file (local mode) or dynamodb://TABLE.
    #[arg(long, env = "CUTOVER_STORE", default_value = ".cutover/cutover.db")]
    pub store: StoreAt,
    /// How often to look for changes, in seconds.
    #[arg(long, default_value_t = 1.0)]
    pub every: f64,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// The trail's newest lines read: more than a terminal shows.
const LINES: usize = 200;

/// Where the cutover is read and commands go.
enum Source {
    Api(Client),
    Store(AnyStore),
}

impl Source {
    async fn version(&self, id: &str) -> Result<u64, Failure> {
        Ok(match self {
            Source::Api(client) => client.get(id).await?.version,
            Source::Store(store) => store.load(id).await?.map_or(0, |s| s.state.version),
        })
    }

    async fn read(&self, id: &str) -> Result<(CutoverView, Series), Failure> {
        match self {
            Source::Api(client) => Ok((client.get(id).await?, client.series(id, Some(LINES)).await?)),
            Source::Store(store) => {
                let data = crate::report::from_store(store, id, LINES)
                    .await?
                    .ok_or_else(|| Failure::input(format!("no cutover {id}; `cutover history` lists them")))?;
                Ok((data.view, data.series))
            }
        }
    }

    /// Sends `command`; what happened, in a line.
    async fn send(&self, id: &str, command: Command, reason: &str) -> Result<String, Failure> {
        let name = command.as_str();
        match self {
            Source::Api(client) => {
                let sent = client.command(id, command, reason).await?;
                Ok(format!(
                    "{name} accepted (#{}, as {}); the trail shows what the controller does",
                    sent.seq, sent.actor
                ))
            }
            Source::Store(store) => {
                let stored = store.load(id).await?.context("the cutover vanished")?;
                let at = ScaledClock::new(stored.time).now();
                let actor = crate::run::operator();
                let request = Request { seq: 0, command, actor, reason: Some(reason.into()), at };
                let seq = store.send(id, &request).await?;
                Ok(format!("{name} queued (#{seq}); the cutover's controller takes it within a second"))
            }
        }
    }
}

/// What the terminal shows, and what it is asking.
pub struct Screen {
    pub view: CutoverView,
    pub series: Series,
    pub mode: Mode,
    /// The last thing that happened (a command sent, a read that failed).
    pub notice: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Watching,
    /// Typing the reason for `command`.
    Reason {
        command: Command,
        text: String,
    },
    /// Asking to confirm `command` with `reason`.
    Confirm {
        command: Command,
        reason: String,
    },
}

/// What a key asks for.
#[derive(Debug, PartialEq)]
pub enum Action {
    Nothing,
    Quit,
    Send { command: Command, reason: String },
}

const REASON_MAX: usize = 500;

impl Screen {
    /// A key, in the current mode.
    pub fn key(&mut self, key: KeyEvent) -> Action {
        if key.kind != KeyEventKind::Press {
            return Action::Nothing;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        match std::mem::replace(&mut self.mode, Mode::Watching) {
            Mode::Watching => {
                let command = match key.code {
                    KeyCode::Char('q') | KeyCode::Esc => return Action::Quit,
                    KeyCode::Char('p') => Command::Pause,
                    KeyCode::Char('u') => Command::Resume,
                    KeyCode::Char('b') => Command::Rollback,
                    _ => return Action::Nothing,
                };
                self.mode = Mode::Reason { command, text: String::new() };
            }
            Mode::Reason { command, mut text } => match key.code {
                KeyCode::Esc => self.notice = format!("{} cancelled", command.as_str()),
                KeyCode::Enter if text.trim().is_empty() => {
                    self.notice = "say why: the reason goes into the audit trail".into();
                    self.mode = Mode::Reason { command, text };
                }
                KeyCode::Enter => self.mode = Mode::Confirm { command, reason: text.trim().to_owned() },
                KeyCode::Backspace => {
                    text.pop();
                    self.mode = Mode::Reason { command, text };
                }
                KeyCode::Char(c) if !c.is_control() && text.chars().count() < REASON_MAX => {
                    text.push(c);
                    self.mode = Mode::Reason { command, text };
                }
                _ => self.mode = Mode::Reason { command, text },
            },
            Mode::Confirm { command, reason } => {
                if key.code == KeyCode::Char('y') {
                    return Action::Send { command, reason };
                }
                self.notice = format!("{} cancelled", command.as_str());
            }
        }
        Action::Nothing
    }
}

fn pct(bps: u16) -> String {
    let text = format!("{:.2}", f64::from(bps) / 100.0);
    format!("{} %", text.trim_end_matches('0').trim_end_matches('.'))
}

fn ms(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.1} ms"))
}

fn err(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.2} %"))
}

fn evalue(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v >= 1e4 => format!("{v:.1e}"),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.3}"),
    }
}

fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m{:02}s", s % 60),
        (0, h, m) => format!("{h}h{m:02}m"),
        (d, h, _) => format!("{d}d{h}h"),
    }
}

const TERMINAL: [&str; 3] = ["rolled_back", "completed", "aborted"];

/// `values` over the cutover's time, squeezed into `width` bars: each bar
/// the newest value in its slice of time (the previous bar's when none).
fn bars(at_ms: &[u64], values: &[Option<f64>], width: usize, scale: f64) -> Vec<Option<u64>> {
    let (Some(&first), Some(&last)) = (at_ms.first(), at_ms.last()) else { return Vec::new() };
    let width = width.max(1);
    let span = (last - first).max(1) as f64;
    let mut out: Vec<Option<u64>> = vec![None; width];
    for (&at, value) in at_ms.iter().zip(values) {
        let slot = (((at - first) as f64 / span) * (width - 1) as f64).round() as usize;
        if let Some(v) = value {
            out[slot.min(width - 1)] = Some((v * scale).round().max(0.0) as u64);
        }
    }
    for i in 1..width {
        if out[i].is_none() {
            out[i] = out[i - 1];
        }
    }
    out
}

/// One row of sparklines: a figure of both sides over the cutover.
struct Figure<'a> {
    name: &'static str,
    columns: [&'a Vec<Option<f64>>; 2],
    /// The latest analysis's value.
    now: fn(&SideView) -> Option<f64>,
    show: fn(Option<f64>) -> String,
    /// Sparklines take whole numbers: tenths of a ms, thousandths of a percent.
    scale: f64,
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, screen: &Screen, now_ms: i64) {
    let v = &screen.view;
    let [head, gauge, sparks, checks, events, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(9),
        Constraint::Length(v.analysis.as_ref().map_or(3, |a| a.checks.len() as u16 + 3)),
        Constraint::Min(3),
        Constraint::Length(2),
    ])
    .areas(frame.area());

    let phase = match &v.reason {
        Some(reason) => format!("{} ({reason})", v.phase.replace('_', " ")),
        None => v.phase.replace('_', " "),
    };
    let next = if TERMINAL.contains(&v.phase.as_str()) {
        String::new()
    } else {
        match (v.next_weight_bps, &v.next_step_at) {
            (Some(next), Some(at)) => {
                let due = cutover_core::units::Timestamp::parse_rfc3339(at).map_or(0, |t| t.as_ms() as i64) - now_ms;
                if due > 0 {
                    format!("next {} in {}", pct(next), span(due))
                } else {
                    format!("next {}: due, waiting for a passing analysis", pct(next))
                }
            }
            (Some(next), None) => format!("next {} once confirmed and held", pct(next)),
            (None, _) => "last step".into(),
        }
    };
    let edge = match v.edge_weight_bps {
        Some(edge) if edge == v.weight_bps => "confirmed by the edge".to_owned(),
        Some(edge) => format!("the edge holds {}", pct(edge)),
        None => "not confirmed by the edge".into(),
    };
    let verdict = v.analysis.as_ref().map_or("no analysis yet".to_owned(), |a| format!("verdict {}", a.verdict));
    let bold = Style::default().add_modifier(Modifier::BOLD);
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(vec![
                Span::styled(format!("cutover {}", v.id), bold),
                Span::raw("  "),
                Span::styled(phase, bold),
                Span::raw(format!("  step {}/{}  ", v.step, v.steps)),
                Span::raw(verdict),
            ]),
            Line::from(format!(
                "{next}{}{}",
                if next.is_empty() { "" } else { " · " },
                if v.speed == 1.0 { edge } else { format!("{edge} · a rehearsal at {}x", v.speed) }
            )),
        ]),
        head,
    );
    frame.render_widget(
        Gauge::default()
            .ratio(f64::from(v.weight_bps) / 10_000.0)
            .label(format!("{} on serverless", pct(v.weight_bps)))
            .use_unicode(true),
        gauge,
    );

    // Sparklines: a row per figure, a column per side, one scale per row.
    let a = &screen.series.analyses;
    let latest = v.analysis.as_ref();
    let rows = Layout::vertical([Constraint::Length(3); 3]).split(sparks);
    let figures = [
        Figure {
            name: "p50",
            columns: [&a.legacy_p50_ms, &a.serverless_p50_ms],
            now: |s| s.p50_ms,
            show: ms,
            scale: 10.0,
        },
        Figure {
            name: "p99",
            columns: [&a.legacy_p99_ms, &a.serverless_p99_ms],
            now: |s| s.p99_ms,
            show: ms,
            scale: 10.0,
        },
        Figure {
            name: "errors",
            columns: [&a.legacy_error_percent, &a.serverless_error_percent],
            now: |s| s.error_percent,
            show: err,
            scale: 1000.0,
        },
    ];
    for (row, figure) in rows.iter().zip(figures) {
        let [left, right] = Layout::horizontal([Constraint::Ratio(1, 2); 2]).areas(*row);
        let width = left.width.saturating_sub(2) as usize;
        let data = figure.columns.map(|c| bars(&a.at_ms, c, width, figure.scale));
        let max = data.iter().flatten().flatten().copied().max().unwrap_or(1).max(1);
        let sides = latest.map(|l| [&l.legacy, &l.serverless]);
        for (i, (area, side)) in [(left, "legacy"), (right, "serverless")].into_iter().enumerate() {
            let value = sides.and_then(|s| (figure.now)(s[i]));
            let title = format!(" {side} {} {} ", figure.name, (figure.show)(value));
            let spark = Sparkline::default()
                .block(Block::default().borders(Borders::ALL).title(title))
                .data(data[i].iter().copied())
                .max(max)
                .absent_value_symbol("·");
            frame.render_widget(spark, area);
        }
    }

    // The checks.
    let block = Block::default().borders(Borders::TOP).title(" checks: verdict, e-value / fails at, samples old/new ");
    match latest {
        None => frame.render_widget(Paragraph::new("no analysis of this step yet").block(block), checks),
        Some(latest) => {
            let rows = latest.checks.iter().map(|c| {
                let verdict = match c.verdict.as_str() {
                    "pass" => "✓ pass",
                    "fail" => "✗ FAIL",
                    "error" => "! error",
                    _ => "… inconclusive",
                };
                Row::new(vec![
                    Cell::from(c.check.clone()),
                    Cell::from(verdict),
                    Cell::from(format!("{} / {}", evalue(c.e_value), evalue(c.e_threshold))),
                    Cell::from(format!("{}/{}", c.samples_legacy, c.samples_serverless)),
                    Cell::from(c.reason.clone()),
                ])
            });
            let widths = [
                Constraint::Length(17),
                Constraint::Length(15),
                Constraint::Length(20),
                Constraint::Length(15),
                Constraint::Min(10),
            ];
            let header = Row::new(["check", "verdict", "e-value / fails at", "samples", "why"]).style(bold);
            frame.render_widget(Table::new(rows, widths).header(header).block(block), checks);
        }
    }

    // The latest events, newest first.
    let lines: Vec<Line> = screen
        .series
        .events
        .iter()
        .rev()
        .filter(|e| e.milestone)
        .take(events.height.saturating_sub(1) as usize)
        .map(|e| {
            let at = cutover_core::units::Timestamp::from_ms(e.at_ms).to_string();
            Line::from(format!("{at}  {:<10}  {}", e.actor, e.text))
        })
        .collect();
    let chain = &screen.series.chain;
    let title = if chain.intact {
        format!(" events (hash chain intact: {} events) ", chain.events)
    } else {
        format!(" events (hash chain BROKEN: {}) ", chain.problem.as_deref().unwrap_or("?"))
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::TOP).title(title)).wrap(Wrap { trim: true }),
        events,
    );

    // Keys, or the question being asked.
    let ask = match &screen.mode {
        Mode::Watching => "keys: p pause · u resume · b roll back · q quit".to_owned(),
        Mode::Reason { command, text } => format!(
            "{} {}: reason (for the audit trail): {text}▏  Enter to go on, Esc to cancel",
            command.as_str(),
            v.id
        ),
        Mode::Confirm { command, reason } => {
            let what = match command {
                Command::Rollback => "every user goes back to the legacy side (0 %)".to_owned(),
                Command::Pause => format!("hold at {}; rollbacks still happen", pct(v.weight_bps)),
                _ => format!("go on from step {}", v.step),
            };
            format!("{} {} ({what}), reason \"{reason}\"? y to confirm, any other key cancels", command.as_str(), v.id)
        }
    };
    frame.render_widget(
        Paragraph::new(vec![Line::styled(ask, bold), Line::from(screen.notice.clone())]).wrap(Wrap { trim: true }),
        foot,
    );
}

pub async fn run(args: &WatchArgs, aws: &EndpointArgs) -> Result<ExitCode, Failure> {
    if !(args.every.is_finite() && (0.1..=60.0).contains(&args.every)) {
        return Err(Failure::input(format!("--every {}: give 0.1 to 60 seconds", args.every)));
    }
    if !std::io::stdout().is_terminal() {
        return Err(Failure::input(format!(
            "cutover watch draws on a terminal; for a script use `cutover status {} --output json`",
            args.id
        )));
    }
    let source = match Client::from_args(&args.server)? {
        Some(client) => Source::Api(client),
        None => {
            let at = &args.store;
            let store = AnyStore::open(at, Open::Existing, aws)
                .await?
                .ok_or_else(|| Failure::input(format!("no store at {at}; pass --store (or set CUTOVER_STORE)")))?;
            Source::Store(store)
        }
    };
    let (view, series) = source.read(&args.id).await?;
    let mut screen = Screen { view, series, mode: Mode::Watching, notice: String::new() };

    // Keys come from a thread of their own (crossterm reads block).
    let (keys_tx, mut keys) = tokio::sync::mpsc::channel::<KeyEvent>(16);
    std::thread::spawn(move || loop {
        match event::poll(Duration::from_millis(200)) {
            Ok(true) => match event::read() {
                Ok(TermEvent::Key(key)) if keys_tx.blocking_send(key).is_err() => return,
                Ok(_) => {}
                Err(_) => return,
            },
            Ok(false) if keys_tx.is_closed() => return,
            Ok(false) => {}
            Err(_) => return,
        }
    });

    let mut terminal = ratatui::init();
    let result = async {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(args.every));
        let mut version = screen.view.version;
        loop {
            terminal
                .draw(|frame| draw(frame, &screen, cutover_base::clock::unix_ms() as i64))
                .context("draw on the terminal")?;
            tokio::select! {
                key = keys.recv() => {
                    let Some(key) = key else { return Ok(()) };
                    match screen.key(key) {
                        Action::Nothing => {}
                        Action::Quit => return Ok(()),
                        Action::Send { command, reason } => {
                            screen.notice = match source.send(&args.id, command, &reason).await {
                                Ok(said) => said,
                                Err(e) => format!("{} failed: {e}", command.as_str()),
                            };
                        }
                    }
                }
                _ = tick.tick() => {
                    // The series is read again only when the cutover moved.
                    match source.version(&args.id).await {
                        Ok(now) if now == version => {}
                        Ok(now) => match source.read(&args.id).await {
                            Ok((view, series)) => {
                                (screen.view, screen.series, version) = (view, series, now);
                            }
                            Err(e) => screen.notice = format!("could not read the cutover: {e}"),
                        },
                        Err(e) => screen.notice = format!("could not read the cutover: {e}"),
                    }
                }
            }
        }
    }
    .await;
    ratatui::restore();
    result.map(|()| ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::{ChainStatus, Columns, CostView, EventLine, Hops};
    use crate::view::{AnalysisView, CheckView};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn screen() -> Screen {
        let side = |p50, p99, errors, requests| SideView {
            requests,
            p50_ms: Some(p50),
            p99_ms: Some(p99),
            error_percent: Some(errors),
        };
        let check = |name: &str, verdict: &str, e: f64, threshold: f64| CheckView {
            check: name.into(),
            verdict: verdict.into(),
            critical: name == "error_rate",
            legacy: None,
            serverless: None,
            limit: None,
            unit: "ms".into(),
            e_value: Some(e),
            e_threshold: Some(threshold),
            samples_legacy: 3128,
            samples_serverless: 62,
            reason: format!("{name} reason"),
        };
        let view = CutoverView {
            id: "c1".into(),
            phase: "progressing".into(),
            reason: None,
            weight_bps: 500,
            edge_weight_bps: Some(500),
            step: 2,
            steps: 7,
            next_weight_bps: Some(1000),
            next_step_at: Some("2026-11-30T06:00:00Z".into()),
            version: 9,
            started_by: Some("ana".into()),
            started_at: None,
            start_at: None,
            scheduled_by: None,
            plan_sha256: None,
            commands_handled: 0,
            updated_at: "2026-11-30T04:00:00Z".into(),
            speed: 1.0,
            analysis: Some(AnalysisView {
                at: "2026-11-30T04:00:00Z".into(),
                verdict: "pass".into(),
                legacy: side(39.6, 71.3, 0.0, 3128),
                serverless: side(31.3, 46.3, 0.25, 62),
                checks: vec![
                    check("error_rate", "pass", 0.501, 5600.0),
                    check("latency_p99", "fail", 61_000.0, 25_000.0),
                ],
                shared_failure: None,
            }),
        };
        let analyses = Columns {
            at_ms: vec![0, 60_000, 120_000],
            legacy_p50_ms: vec![Some(39.0), Some(40.0), Some(39.6)],
            serverless_p50_ms: vec![None, Some(30.0), Some(31.3)],
            ..Columns::default()
        };
        let series = Series {
            id: "c1".into(),
            started_ms: Some(0),
            last_ms: Some(120_000),
            planned: Vec::new(),
            weight: Vec::new(),
            marks: Vec::new(),
            analyses,
            steps: Vec::new(),
            hops: Hops::default(),
            cost: CostView {
                hours: 0.0,
                legacy_requests: 0,
                serverless_requests: 0,
                legacy_usd: 0.0,
                serverless_usd: 0.0,
                lambda_ms: None,
                lambda_ms_from: None,
                month_legacy_usd: None,
                month_serverless_usd: None,
                prices: cutover_core::plan::Costs::default(),
            },
            events: vec![EventLine {
                place: "3.0".into(),
                at_ms: 60_000,
                actor: "ana".into(),
                event: "paused".into(),
                text: "paused (operator) by ana: \"checking\"".into(),
                milestone: true,
            }],
            events_omitted: 0,
            chain: ChainStatus { intact: true, events: 12, head: "ab".into(), problem: None },
        };
        Screen { view, series, mode: Mode::Watching, notice: String::new() }
    }

    fn render(screen: &Screen) -> String {
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
        // 1h02m before the next step is due.
        let now = cutover_core::units::Timestamp::parse_rfc3339("2026-11-30T04:58:00Z").unwrap().as_ms() as i64;
        terminal.draw(|frame| draw(frame, screen, now)).unwrap();
        let buffer = terminal.backend().buffer();
        (0..buffer.area.height)
            .map(|y| (0..buffer.area.width).map(|x| buffer[(x, y)].symbol()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_screen_shows_the_weight_the_sides_the_checks_and_the_events() {
        let text = render(&screen());
        for expected in [
            "cutover c1",
            "progressing",
            "step 2/7",
            "verdict pass",
            "next 10 % in 1h02m",
            "5 % on serverless",
            "legacy p50 39.6 ms",
            "serverless p50 31.3 ms",
            "legacy p99 71.3 ms",
            "serverless errors 0.25 %",
            "error_rate",
            "0.501 / 5600",
            "✗ FAIL",
            "6.1e4 / 2.5e4",
            "3128/62",
            "hash chain intact: 12 events",
            "paused (operator) by ana",
            "p pause · u resume · b roll back · q quit",
        ] {
            assert!(text.contains(expected), "{expected:?} not on the screen:\n{text}");
        }
    }

    #[test]
    fn a_rollback_needs_a_reason_and_a_yes() {
        let key = |c: KeyCode| KeyEvent::new(c, KeyModifiers::NONE);
        let mut s = screen();
        assert_eq!(s.key(key(KeyCode::Char('b'))), Action::Nothing);
        assert_eq!(s.key(key(KeyCode::Enter)), Action::Nothing, "no reason, no question");
        assert!(s.notice.contains("say why"));
        for c in "bad deploy".chars() {
            s.key(key(KeyCode::Char(c)));
        }
        s.key(key(KeyCode::Backspace));
        s.key(key(KeyCode::Char('y')));
        assert!(render(&s).contains("reason (for the audit trail): bad deploy"), "{}", render(&s));
        assert_eq!(s.key(key(KeyCode::Enter)), Action::Nothing);
        assert!(render(&s).contains("y to confirm"));
        assert_eq!(
            s.key(key(KeyCode::Char('y'))),
            Action::Send { command: Command::Rollback, reason: "bad deploy".into() }
        );
        // Anything but y cancels.
        s.key(key(KeyCode::Char('p')));
        s.key(key(KeyCode::Char('x')));
        s.key(key(KeyCode::Enter));
        assert_eq!(s.key(key(KeyCode::Char('n'))), Action::Nothing);
        assert_eq!(s.mode, Mode::Watching);
        assert!(s.notice.contains("pause cancelled"));
        assert_eq!(s.key(key(KeyCode::Char('q'))), Action::Quit);
    }

    #[test]
    fn bars_fill_the_width_with_the_newest_value_per_slice() {
        let at = [0, 10, 20, 30];
        let values = [Some(1.0), None, Some(3.0), Some(4.0)];
        assert_eq!(bars(&at, &values, 4, 1.0), vec![Some(1), Some(1), Some(3), Some(4)]);
        assert_eq!(bars(&at, &values, 2, 1.0), vec![Some(1), Some(4)]);
        assert!(bars(&[], &[], 5, 1.0).is_empty());
    }
}
