//! TOML → [`Plan`], collecting every problem with its path and line.
//!
//! This walks the spanned document by hand instead of deriving `Deserialize`:
//! serde stops at the first error and knows no line numbers for semantic
//! rules (weights going down), and a user fixing a plan wants the whole list.

mod guardrails;
mod schedule;
mod target;
mod values;

use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::*;
use values::check_webhook;

/// One thing wrong with a plan, located by TOML path and 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanProblem {
    pub path: String,
    pub line: usize,
    /// The offending value as written, when there is one.
    pub value: Option<String>,
    pub message: String,
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{} = {} (line {}): {}", self.path, v, self.line, self.message),
            None => write!(f, "{} (line {}): {}", self.path, self.line, self.message),
        }
    }
}

/// Every problem found in a plan, in line order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PlanError {
    pub problems: Vec<PlanProblem>,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

type Val<'i> = Spanned<DeValue<'i>>;

struct Decoder<'s> {
    src: &'s str,
    problems: Vec<PlanProblem>,
    /// A plan stored with a cutover by an earlier version: the rules added
    /// since are relaxed (see [`decode_stored`]).
    stored: bool,
}

/// A table being read: reports keys nobody asked for when dropped via `finish`.
struct Tbl<'t, 'i> {
    path: String,
    span: Range<usize>,
    table: &'t DeTable<'i>,
    known: Vec<&'static str>,
}

impl<'t, 'i> Tbl<'t, 'i> {
    fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&mut self, key: &'static str) -> Option<&'t Val<'i>> {
        if !self.known.contains(&key) {
            self.known.push(key);
        }
        self.table.iter().find(|(k, _)| k.get_ref().as_ref() == key).map(|(_, v)| v)
    }
}

pub(super) fn decode(text: &str) -> Result<Plan, PlanError> {
    decode_with(text, false)
}

/// A plan as stored beside a running cutover, perhaps by an earlier version:
/// a rule added since must not leave that cutover unable to resume or roll
/// back. Relaxed: an upper-case cohort header is lower-cased, a
/// `xray_serverless_service` is ignored, and a plan without
/// `xray_legacy_service` is judged on CloudWatch alone, as it was.
pub(super) fn decode_stored(text: &str) -> Result<Plan, PlanError> {
    decode_with(text, true)
}

fn decode_with(text: &str, stored: bool) -> Result<Plan, PlanError> {
    let mut d = Decoder { src: text, problems: Vec::new(), stored };
    let plan = match DeTable::parse_recoverable(text) {
        (root, errors) if errors.is_empty() => d.plan(&root),
        (_, errors) => {
            for e in errors {
                let line = e.span().map_or(1, |s| d.line(s.start));
                let message = e.message().trim().to_string();
                d.problems.push(PlanProblem { path: "(syntax)".into(), line, value: None, message });
            }
            None
        }
    };
    match plan {
        Some(plan) if d.problems.is_empty() => Ok(plan),
        _ => {
            d.problems.sort_by_key(|p| p.line);
            if d.problems.is_empty() {
                // Unreachable by construction: every `None` above pushed a problem.
                d.problems.push(PlanProblem {
                    path: "(plan)".into(),
                    line: 1,
                    value: None,
                    message: "invalid plan".into(),
                });
            }
            Err(PlanError { problems: d.problems })
        }
    }
}

impl Decoder<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.src.len());
        self.src.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
    }

    fn written(&self, span: &Range<usize>) -> String {
        let text = self.src.get(span.clone()).unwrap_or("").trim();
        let first = text.lines().next().unwrap_or("");
        if first.chars().count() > 60 || first.len() < text.len() {
            format!("{}…", first.chars().take(60).collect::<String>())
        } else {
            first.to_string()
        }
    }

    fn problem(&mut self, path: impl Into<String>, span: &Range<usize>, value: bool, message: impl Into<String>) {
        let value = value.then(|| self.written(span));
        let line = self.line(span.start);
        self.problems.push(PlanProblem { path: path.into(), line, value, message: message.into() });
    }

    fn root<'t, 'i>(&mut self, root: &'t Spanned<DeTable<'i>>) -> Tbl<'t, 'i> {
        Tbl { path: String::new(), span: root.span(), table: root.get_ref(), known: Vec::new() }
    }

    /// Reports every key of `t` that its reader never asked for.
    fn finish(&mut self, t: Tbl<'_, '_>) {
        for (k, _) in t.table.iter() {
            let key = k.get_ref().as_ref();
            if !t.known.contains(&key) {
                let hint = match closest(key, &t.known) {
                    Some(near) => format!("unknown key; did you mean `{near}`?"),
                    None => format!("unknown key; expected one of: {}", t.known.join(", ")),
                };
                self.problem(t.key_path(key), &k.span(), false, hint);
            }
        }
    }

    fn missing(&mut self, t: &Tbl, key: &str, fix: &str) {
        let span = t.span.clone();
        self.problem(t.key_path(key), &span, false, format!("missing; {fix}"));
    }

    fn sub<'t, 'i>(&mut self, t: &mut Tbl<'t, 'i>, key: &'static str) -> Option<Tbl<'t, 'i>> {
        let v = t.get(key)?;
        let path = t.key_path(key);
        self.as_table(path, v)
    }

    fn as_table<'t, 'i>(&mut self, path: String, v: &'t Val<'i>) -> Option<Tbl<'t, 'i>> {
        match v.get_ref() {
            DeValue::Table(table) => Some(Tbl { path, span: v.span(), table, known: Vec::new() }),
            other => {
                let msg = format!("expected a table, found {}", other.type_str());
                self.problem(path, &v.span(), true, msg);
                None
            }
        }
    }

    fn plan(&mut self, root: &Spanned<DeTable<'_>>) -> Option<Plan> {
        let mut r = self.root(root);
        let target = match self.sub(&mut r, "target") {
            Some(t) => self.target(t),
            None => {
                if r.get("target").is_none() {
                    self.missing(&r, "target", "add a [target] table naming what is cut over");
                }
                None
            }
        };
        let schedule = match self.sub(&mut r, "schedule") {
            Some(t) => self.schedule(t),
            None => {
                if r.get("schedule").is_none() {
                    self.missing(&r, "schedule", "add [[schedule.steps]] tables, each with weight and hold");
                }
                None
            }
        };
        let guardrails = match self.sub(&mut r, "guardrails") {
            Some(t) => self.guardrails(t),
            None if r.get("guardrails").is_none() => Some(Guardrails::default()),
            None => None,
        };
        let notify = match self.sub(&mut r, "notify") {
            Some(t) => self.notify(t),
            None if r.get("notify").is_none() => Some(Notify::default()),
            None => None,
        };
        let costs = match self.sub(&mut r, "costs") {
            Some(t) => self.costs(t),
            None if r.get("costs").is_none() => Some(Costs::default()),
            None => None,
        };
        self.finish(r);
        Some(Plan { target: target?, schedule: schedule?, guardrails: guardrails?, notify: notify?, costs: costs? })
    }

    fn notify(&mut self, mut t: Tbl) -> Option<Notify> {
        let webhooks = match self.array(&mut t, "webhooks") {
            None => None,
            Some(None) => Some(Vec::new()),
            Some(Some(items)) => {
                let path = t.key_path("webhooks");
                let mut out = Some(Vec::new());
                if items.len() > WEBHOOKS_MAX {
                    let span = t.get("webhooks").map(|v| v.span()).unwrap_or_default();
                    self.problem(path.clone(), &span, false, format!("at most {WEBHOOKS_MAX} webhooks"));
                    out = None;
                }
                for (i, v) in items.iter().enumerate() {
                    let checked = match v.get_ref() {
                        DeValue::String(s) => check_webhook(s).map(|()| s.to_string()),
                        other => Err(format!("expected a URL string, found {}", other.type_str())),
                    };
                    match (checked, out.as_mut()) {
                        (Ok(url), Some(out)) => out.push(url),
                        (Ok(_), None) => {}
                        (Err(msg), _) => {
                            self.problem(format!("{path}[{i}]"), &v.span(), true, msg);
                            out = None;
                        }
                    }
                }
                out
            }
        };
        self.finish(t);
        Some(Notify { webhooks: webhooks? })
    }

    fn costs(&mut self, mut t: Tbl) -> Option<Costs> {
        let d = Costs::default();
        let mut price = |key: &'static str, default: f64, what: &str| {
            self.num_in(&mut t, key, 0.0, 1e6, what).map(|v| v.unwrap_or(default))
        };
        let api_gateway_per_million = price("api_gateway_per_million", d.api_gateway_per_million, "a price in USD");
        let lambda_per_million = price("lambda_per_million", d.lambda_per_million, "a price in USD");
        let lambda_gb_second = price("lambda_gb_second", d.lambda_gb_second, "a price in USD");
        let legacy_per_hour = price("legacy_per_hour", d.legacy_per_hour, "a price in USD");
        let lambda_memory_mb = self.int_in(&mut t, "lambda_memory_mb", 128, 10_240, "Lambda's memory size (MB)");
        self.finish(t);
        Some(Costs {
            api_gateway_per_million: api_gateway_per_million?,
            lambda_per_million: lambda_per_million?,
            lambda_gb_second: lambda_gb_second?,
            lambda_memory_mb: lambda_memory_mb?.map_or(d.lambda_memory_mb, |mb| mb as f64),
            legacy_per_hour: legacy_per_hour?,
        })
    }
}

/// The known key within edit distance 2, for "did you mean".
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known.iter().map(|k| (edit_distance(key, k), *k)).filter(|(d, _)| *d <= 2).min().map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
