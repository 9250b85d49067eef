//! `[schedule]`: the steps and the freeze window.

use std::ops::Range;

use super::{Decoder, Tbl, Val};
use crate::plan::*;

impl Decoder<'_> {
    pub(super) fn schedule(&mut self, mut t: Tbl) -> Option<Schedule> {
        let steps = match self.array(&mut t, "steps") {
            None => None,
            Some(None) => {
                self.missing(&t, "steps", "add [[schedule.steps]] tables, each with weight and hold");
                None
            }
            Some(Some(items)) => self.steps(&t.key_path("steps"), &t.span, items),
        };
        let freeze = match self.array(&mut t, "freeze") {
            None => None,
            Some(None) => Some(Vec::new()),
            Some(Some(items)) => {
                let path = t.key_path("freeze");
                let mut out = Some(Vec::new());
                for (i, v) in items.iter().enumerate() {
                    let w = self.as_table(format!("{path}[{i}]"), v).and_then(|w| self.freeze(w));
                    match (w, out.as_mut()) {
                        (Some(w), Some(out)) => out.push(w),
                        _ => out = None,
                    }
                }
                out
            }
        };
        self.finish(t);
        Some(Schedule { steps: steps?, freeze: freeze? })
    }

    pub(super) fn steps(&mut self, path: &str, span: &Range<usize>, items: &[Val]) -> Option<Vec<Step>> {
        if items.is_empty() {
            self.problem(path, span, false, "a schedule needs at least one step");
            return None;
        }
        if items.len() > STEPS_MAX {
            self.problem(path, span, false, format!("at most {STEPS_MAX} steps"));
            return None;
        }
        let mut steps = Some(Vec::new());
        let mut previous: Option<Weight> = None;
        for (i, v) in items.iter().enumerate() {
            let Some(mut s) = self.as_table(format!("{path}[{i}]"), v) else {
                steps = None;
                continue;
            };
            let weight = match self.number(&mut s, "weight") {
                None => None,
                Some(None) => {
                    self.missing(&s, "weight", "add weight = PERCENT, e.g. weight = 5");
                    None
                }
                Some(Some((n, span))) => match Weight::from_percent(n) {
                    Ok(w) if w == Weight::ZERO => {
                        self.problem(
                            s.key_path("weight"),
                            &span,
                            true,
                            "a step's weight is above 0 (0 is where a cutover starts)",
                        );
                        None
                    }
                    Ok(w) => {
                        if let Some(p) = previous.filter(|p| w < *p) {
                            let msg = format!("weights never go down; the step before is at {p}");
                            self.problem(s.key_path("weight"), &span, true, msg);
                        }
                        previous = Some(w);
                        Some(w)
                    }
                    Err(msg) => {
                        self.problem(s.key_path("weight"), &span, true, msg);
                        None
                    }
                },
            };
            let hold = match self.duration(&mut s, "hold", "a hold") {
                Some(None) => {
                    self.missing(&s, "hold", "add hold = \"2h\" (how long the step lasts at least)");
                    None
                }
                other => other.flatten(),
            };
            self.finish(s);
            match (weight, hold, steps.as_mut()) {
                (Some(weight), Some(hold), Some(out)) => out.push(Step { weight, hold }),
                _ => steps = None,
            }
        }
        steps
    }

    pub(super) fn freeze(&mut self, mut t: Tbl) -> Option<FreezeWindow> {
        let from = self.int_in(&mut t, "from_hour", 0, 23, "an hour (UTC)");
        let to = self.int_in(&mut t, "to_hour", 0, 24, "an hour (UTC)");
        let (from, to) = (from?, to?);
        for (k, v) in [("from_hour", from), ("to_hour", to)] {
            if v.is_none() {
                self.missing(&t, k, "add from_hour and to_hour, UTC hours 0-23");
            }
        }
        let span = t.span.clone();
        let path = t.path.clone();
        self.finish(t);
        let (from, to) = (from? as u8, to? as u8 % 24);
        if from == to {
            self.problem(path, &span, false, "from_hour equals to_hour: the window is empty; remove it or widen it");
            return None;
        }
        Some(FreezeWindow { from_hour: from, to_hour: to })
    }
}
