//! A new cutover, made the same way by every path that makes one: the
//! API's `POST /v1/cutovers`, `cutover start --plan` and `cutover run`.

use cutover_core::engine::{Command, CutoverState};
use cutover_core::plan::{EdgeTarget, Plan};
use cutover_core::ports::Clock;
use cutover_core::store::{Request, Store, StoreError, TimeScale};
use cutover_core::units::Timestamp;
use cutover_runtime::{system_now, ScaledClock};

use crate::failure::Failure;

/// What is wrong with running `plan` at `speed` from `at`, each as the
/// field it is about (`speed`, `at`) and the value and fix: a flag's
/// `--speed 0: …` on the command line, `speed = 0: …` in the API.
/// Without a plan (it did not parse) only what does not depend on it.
pub fn problems(plan: Option<&Plan>, speed: f64, at: Option<Timestamp>) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    let cloudfront = plan.is_some_and(|plan| matches!(plan.target.edge, EdgeTarget::CloudFront(_)));
    if !(speed.is_finite() && speed > 0.0 && speed <= 100_000.0) {
        problems.push(("speed", format!("{speed}: give a factor above 0 and at most 100000 (1 is real time)")));
    } else if cloudfront && speed != 1.0 {
        let fix = "a CloudFront target runs at real time (CloudWatch's clock is the wall's); leave the speed out";
        problems.push(("speed", format!("{speed}: {fix}")));
    }
    if let Some(at) = at.filter(|at| *at <= system_now()) {
        problems.push(("at", format!("{at}: that time has passed; start it now instead")));
    }
    problems
}

/// [`problems`] as a command line says them: `--speed 0: …`, exit 2.
pub fn check_flags(plan: &Plan, speed: f64, at: Option<Timestamp>) -> Result<(), Failure> {
    let said: Vec<String> =
        problems(Some(plan), speed, at).into_iter().map(|(flag, fix)| format!("--{flag} {fix}")).collect();
    match said.is_empty() {
        true => Ok(()),
        false => Err(Failure::Input(said.join("; "))),
    }
}

/// A cutover about to be created.
pub struct New<'a> {
    pub id: &'a str,
    /// The plan's text, stored with it (its SHA-256 is recorded).
    pub plan: &'a str,
    pub speed: f64,
    /// Start by itself then, in `actor`'s name; or `start` now; or neither
    /// (Pending, for `start`).
    pub at: Option<Timestamp>,
    pub start: bool,
    pub actor: &'a str,
    pub reason: Option<String>,
}

/// Creates it (checked by [`problems`] first), and sends `start` when
/// asked. Returns the time scale it runs on.
pub async fn create<S: Store>(store: &S, new: New<'_>) -> Result<TimeScale, StoreError> {
    let scale = ScaledClock::starting_now(new.speed);
    let clock = ScaledClock::new(scale);
    let mut state = CutoverState::for_plan(new.id, clock.now(), new.plan);
    if let Some(at) = new.at {
        state.start_at = Some(scale.engine_time(at));
        state.scheduled_by = Some(new.actor.to_owned());
    }
    store.create(new.plan, scale, &state, &[]).await?;
    if new.start {
        let request = Request {
            seq: 0,
            command: Command::Start,
            actor: new.actor.to_owned(),
            reason: new.reason,
            at: clock.now(),
        };
        store.send(new.id, &request).await?;
    }
    Ok(scale)
}
