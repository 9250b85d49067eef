//! TOML → [`Plan`], collecting every problem with its path and line.
//!
//! This walks the spanned document by hand instead of deriving `Deserialize`:
//! serde stops at the first error and knows no line numbers for semantic
//! rules (weights going down), and a user fixing a plan wants the whole list.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::*;
use crate::units::{format_duration, parse_duration};

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

impl<'s> Decoder<'s> {
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

    fn string(&mut self, t: &mut Tbl, key: &'static str) -> Option<Option<String>> {
        let Some(v) = t.get(key) else {
            return Some(None);
        };
        match v.get_ref() {
            DeValue::String(s) => Some(Some(s.to_string())),
            other => {
                let msg = format!("expected a string, found {}", other.type_str());
                self.problem(t.key_path(key), &v.span(), true, msg);
                None
            }
        }
    }

    /// A required, non-empty string whose shape `check` accepts.
    fn req_string(
        &mut self,
        t: &mut Tbl,
        key: &'static str,
        fix: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        match self.string(t, key)? {
            None => {
                self.missing(t, key, fix);
                None
            }
            Some(s) => {
                let span = t.get(key).map(|v| v.span()).unwrap_or_default();
                let shape = if s.trim().is_empty() { Err("must not be empty".into()) } else { check(&s) };
                match shape {
                    Ok(()) => Some(s),
                    Err(msg) => {
                        self.problem(t.key_path(key), &span, true, msg);
                        None
                    }
                }
            }
        }
    }

    fn number(&mut self, t: &mut Tbl, key: &'static str) -> Option<Option<(f64, Range<usize>)>> {
        let Some(v) = t.get(key) else {
            return Some(None);
        };
        let n = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok().map(|n| n as f64),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok().filter(|x| x.is_finite()),
            _ => None,
        };
        match n {
            Some(n) => Some(Some((n, v.span()))),
            None => {
                let msg = format!("expected a finite number, found {}", v.get_ref().type_str());
                self.problem(t.key_path(key), &v.span(), true, msg);
                None
            }
        }
    }

    /// An optional number in `range` (inclusive).
    fn num_in(&mut self, t: &mut Tbl, key: &'static str, lo: f64, hi: f64, what: &str) -> Option<Option<f64>> {
        match self.number(t, key)? {
            None => Some(None),
            Some((n, _)) if (lo..=hi).contains(&n) => Some(Some(n)),
            Some((_, span)) => {
                self.problem(t.key_path(key), &span, true, format!("{what} is between {lo} and {hi}"));
                None
            }
        }
    }

    fn int_in(&mut self, t: &mut Tbl, key: &'static str, lo: u64, hi: u64, what: &str) -> Option<Option<u64>> {
        let Some((n, span)) = self.number(t, key)? else {
            return Some(None);
        };
        let is_int = matches!(t.get(key).map(|v| v.get_ref()), Some(DeValue::Integer(_)));
        if is_int && n >= lo as f64 && n <= hi as f64 {
            Some(Some(n as u64))
        } else {
            self.problem(t.key_path(key), &span, true, format!("{what} is a whole number from {lo} to {hi}"));
            None
        }
    }

    fn boolean(&mut self, t: &mut Tbl, key: &'static str) -> Option<Option<bool>> {
        let Some(v) = t.get(key) else {
            return Some(None);
        };
        match v.get_ref() {
            DeValue::Boolean(b) => Some(Some(*b)),
            other => {
                let msg = format!("expected true or false, found {}", other.type_str());
                self.problem(t.key_path(key), &v.span(), true, msg);
                None
            }
        }
    }

    fn duration(&mut self, t: &mut Tbl, key: &'static str, what: &str) -> Option<Option<Duration>> {
        self.duration_up_to(t, key, what, false, HOLD_MAX)
    }

    /// A duration, zero allowed or not, of at most `max`.
    fn duration_up_to(
        &mut self,
        t: &mut Tbl,
        key: &'static str,
        what: &str,
        zero: bool,
        max: Duration,
    ) -> Option<Option<Duration>> {
        let Some(v) = t.get(key) else {
            return Some(None);
        };
        let parsed = match v.get_ref() {
            DeValue::String(s) => parse_duration(s),
            other => Err(format!("expected a duration string like \"2h\", found {}", other.type_str())),
        };
        let checked = parsed.and_then(|d| {
            if d.is_zero() && !zero {
                Err(format!("{what} must be longer than zero"))
            } else if d > max {
                Err(format!("{what} is at most {}", format_duration(max)))
            } else {
                Ok(d)
            }
        });
        match checked {
            Ok(d) => Some(Some(d)),
            Err(msg) => {
                self.problem(t.key_path(key), &v.span(), true, msg);
                None
            }
        }
    }

    fn array<'t, 'i>(&mut self, t: &mut Tbl<'t, 'i>, key: &'static str) -> Option<Option<&'t [Val<'i>]>> {
        let Some(v) = t.get(key) else {
            return Some(None);
        };
        match v.get_ref() {
            DeValue::Array(a) => Some(Some(&a[..])),
            other => {
                let msg = format!("expected an array, found {}", other.type_str());
                self.problem(t.key_path(key), &v.span(), true, msg);
                None
            }
        }
    }

    // ---- the plan itself -------------------------------------------------

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

    fn target(&mut self, mut t: Tbl) -> Option<Target> {
        let name = self.req_string(&mut t, "name", "add name = \"my-api\"", check_name);
        let salt = match self.string(&mut t, "salt") {
            Some(Some(salt)) if salt.is_empty() || salt.len() > 64 => {
                let span = t.get("salt").map(|v| v.span()).unwrap_or_default();
                self.problem(
                    t.key_path("salt"),
                    &span,
                    true,
                    "a salt is 1 to 64 characters; leave it out to use the name",
                );
                None
            }
            other => other,
        };
        let cohort = match t.get("cohort") {
            None => Some(CohortKey::ViewerIp),
            Some(v) => {
                let path = t.key_path("cohort");
                self.as_table(path, v).and_then(|c| self.cohort(c))
            }
        };
        let local = self.sub(&mut t, "local");
        let cloudfront = self.sub(&mut t, "cloudfront");
        let has_metrics = t.get("metrics").is_some();
        let metrics = self.sub(&mut t, "metrics");
        let edge = match (local, cloudfront) {
            (Some(l), None) => {
                if let Some(m) = metrics {
                    self.problem(
                        m.path.clone(),
                        &m.span,
                        false,
                        "local mode measures its own edge; remove [target.metrics] or use [target.cloudfront]",
                    );
                }
                self.local(l).map(|e| (EdgeTarget::Local(e), None))
            }
            (None, Some(c)) => {
                let edge = self.cloudfront(c);
                let metrics = match metrics {
                    Some(m) => self.metrics(m, cohort.as_ref()),
                    None => {
                        if !has_metrics {
                            self.missing(
                                &t,
                                "metrics",
                                "AWS mode reads CloudWatch and X-Ray; add a [target.metrics] table",
                            );
                        }
                        None
                    }
                };
                Some((EdgeTarget::CloudFront(edge?), Some(metrics?)))
            }
            (Some(_), Some(c)) => {
                self.problem(
                    c.path.clone(),
                    &c.span,
                    false,
                    "a target has one edge; keep [target.local] or [target.cloudfront], not both",
                );
                None
            }
            (None, None) => {
                if t.get("local").is_none() && t.get("cloudfront").is_none() {
                    self.missing(&t, "local", "add [target.local] (one machine) or [target.cloudfront] (AWS)");
                }
                None
            }
        };
        self.finish(t);
        let (edge, metrics) = edge?;
        let name = name?;
        let salt = salt?.unwrap_or_else(|| name.clone());
        Some(Target { name, edge, cohort: cohort?, salt, metrics })
    }

    fn cohort(&mut self, mut t: Tbl) -> Option<CohortKey> {
        let header = self.string(&mut t, "header");
        let cookie = self.string(&mut t, "cookie");
        let span = t.span.clone();
        let path = t.path.clone();
        self.finish(t);
        match (header?, cookie?) {
            // CloudFront Functions see header names lower-cased, and the
            // function is rendered with this very name: `X-User-Id` there
            // would never match, and everybody would be bucketed by IP.
            (Some(h), None) if is_token(&h) && self.stored => Some(CohortKey::Header(h.to_ascii_lowercase())),
            (Some(h), None) if is_token(&h) && h.bytes().any(|b| b.is_ascii_uppercase()) => {
                let fix = format!(
                    "write the header name in lower case, {:?}: CloudFront Functions see header names lower-cased",
                    h.to_ascii_lowercase()
                );
                self.problem(path, &span, true, fix);
                None
            }
            (Some(h), None) if is_token(&h) => Some(CohortKey::Header(h)),
            (None, Some(c)) if is_token(&c) => Some(CohortKey::Cookie(c)),
            (Some(_), Some(_)) => {
                self.problem(path, &span, true, "name one cohort source: header or cookie, not both");
                None
            }
            (None, None) => {
                self.problem(path, &span, true, "name a header or a cookie, e.g. { header = \"x-user-id\" }; leave cohort out to bucket by viewer IP");
                None
            }
            _ => {
                self.problem(path, &span, true, "a header or cookie name is letters, digits and - _ . only");
                None
            }
        }
    }

    fn local(&mut self, mut t: Tbl) -> Option<LocalEdge> {
        let legacy = self.req_string(&mut t, "legacy_url", "add legacy_url = \"http://127.0.0.1:8081\"", check_url);
        let serverless =
            self.req_string(&mut t, "serverless_url", "add serverless_url = \"http://127.0.0.1:8082\"", check_url);
        let mut url_or = |t: &mut Tbl, key: &'static str, default: &str| match self.string(t, key)? {
            None => Some(default.to_owned()),
            Some(s) => match check_url(&s) {
                Ok(()) => Some(s),
                Err(msg) => {
                    let span = t.get(key).map(|v| v.span()).unwrap_or_default();
                    self.problem(t.key_path(key), &span, true, msg);
                    None
                }
            },
        };
        let edge_url = url_or(&mut t, "edge_url", LocalEdge::EDGE_URL);
        let admin_url = url_or(&mut t, "admin_url", LocalEdge::ADMIN_URL);
        let probes = self.int_in(&mut t, "probes_per_minute", 0, 600, "probes_per_minute (per side; 0 for none)");
        self.finish(t);
        Some(LocalEdge {
            legacy_url: legacy?,
            serverless_url: serverless?,
            edge_url: edge_url?,
            admin_url: admin_url?,
            probes_per_minute: probes?.map_or(PROBES_PER_MINUTE, |n| n as u32),
        })
    }

    fn cloudfront(&mut self, mut t: Tbl) -> Option<CloudFrontEdge> {
        let distribution_id =
            self.req_string(&mut t, "distribution_id", "add the distribution id, e.g. \"E2QWRUHAPOMQZL\"", |s| {
                if s.len() <= 32 && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
                    Ok(())
                } else {
                    Err("a distribution id is upper-case letters and digits, like E2QWRUHAPOMQZL".into())
                }
            });
        let kvs_arn = self.req_string(&mut t, "kvs_arn", "add the KeyValueStore ARN", |s| {
            if s.starts_with("arn:aws:cloudfront::") && s.contains(":key-value-store/") {
                Ok(())
            } else {
                Err("expected arn:aws:cloudfront::ACCOUNT:key-value-store/ID".into())
            }
        });
        let weight_key = self.req_string(&mut t, "weight_key", "add weight_key = \"my-api/weight\"", |s| {
            if s.len() <= 512 {
                Ok(())
            } else {
                Err("a KeyValueStore key is at most 512 characters".into())
            }
        });
        let origin =
            self.req_string(&mut t, "serverless_origin_id", "add the origin id of the API Gateway origin", |_| Ok(()));
        let token_key = self.string(&mut t, "probe_token_key");
        if let Some(Some(key)) = &token_key {
            if key.is_empty() || key.len() > 512 {
                let span = t.get("probe_token_key").map(|v| v.span()).unwrap_or_default();
                self.problem(t.key_path("probe_token_key"), &span, true, "a KeyValueStore key is 1 to 512 characters");
            }
        }
        let probes = self.int_in(&mut t, "probes_per_minute", 0, 600, "probes_per_minute (per side; 0 for none)");
        let unreadable = match self.string(&mut t, "when_store_unreadable") {
            None => None,
            Some(None) => Some(Side::Legacy),
            Some(Some(side)) => match Side::parse(&side) {
                Some(side) => Some(side),
                None => {
                    let span = t.get("when_store_unreadable").map(|v| v.span()).unwrap_or_default();
                    let path = t.key_path("when_store_unreadable");
                    self.problem(
                        path,
                        &span,
                        true,
                        "expected \"legacy\" (until the cutover completes) or \"serverless\"",
                    );
                    None
                }
            },
        };
        self.finish(t);
        let weight_key = weight_key?;
        Some(CloudFrontEdge {
            distribution_id: distribution_id?,
            kvs_arn: kvs_arn?,
            probe_token_key: token_key?
                .filter(|k| !k.is_empty() && k.len() <= 512)
                .unwrap_or_else(|| CloudFrontEdge::default_probe_token_key(&weight_key)),
            weight_key,
            serverless_origin_id: origin?,
            probes_per_minute: probes?.map_or(PROBES_PER_MINUTE, |n| n as u32),
            when_store_unreadable: unreadable?,
        })
    }

    fn metrics(&mut self, mut t: Tbl, cohort: Option<&CohortKey>) -> Option<MetricSources> {
        let lb = self.req_string(
            &mut t,
            "alb_load_balancer",
            "add the ALB dimension, e.g. \"app/name/50dc6c495c0c9188\"",
            starts_with("app/", "the LoadBalancer dimension starts with app/ (the end of the ALB ARN)"),
        );
        let tg = self.req_string(
            &mut t,
            "alb_target_group",
            "add the TargetGroup dimension, e.g. \"targetgroup/name/73e2d6bc24d8a067\"",
            starts_with("targetgroup/", "the TargetGroup dimension starts with targetgroup/"),
        );
        let api_id = self.req_string(&mut t, "api_id", "add the HTTP API id", |_| Ok(()));
        let stage = self.req_string(&mut t, "api_stage", "add the stage, e.g. \"$default\"", |_| Ok(()));
        let functions = self.names(&mut t, "lambda_functions", "expected a Lambda function name");
        let xl = if self.stored && t.get("xray_legacy_service").is_none() {
            Some(String::new())
        } else {
            self.req_string(
                &mut t,
                "xray_legacy_service",
                "add xray_legacy_service = \"my-app\", the old side's X-Ray service: both sides' latency samples \
             and the new side's cold starts come from X-Ray (CloudWatch has no cold-start metric)",
                |s| if s.contains('"') { Err("an X-Ray service name has no double quote".into()) } else { Ok(()) },
            )
        };
        let alb_shared = self.boolean(&mut t, "alb_shared");
        let edge_logs = match self.sub(&mut t, "edge_logs") {
            None if t.get("edge_logs").is_some() => None,
            None => Some(None),
            Some(logs) => self.edge_logs(logs, cohort).map(Some),
        };
        // Taken either way (a stored plan may still carry it), refused in a new one.
        if let Some(span) = t.get("xray_serverless_service").map(|v| v.span()) {
            if !self.stored {
                self.problem(
                    t.key_path("xray_serverless_service"),
                    &span,
                    true,
                    "each Lambda function is its own X-Ray service: remove this key; the new side's traces are read \
                     from every function in lambda_functions",
                );
            }
            let _ = self.string(&mut t, "xray_serverless_service");
        }
        if !self.stored && matches!(&functions, Some(f) if f.is_empty()) {
            match t.get("lambda_functions").map(|v| v.span()) {
                Some(span) => self.problem(
                    t.key_path("lambda_functions"),
                    &span,
                    true,
                    "name the new side's functions: their errors, throttles and traces are the new side's",
                ),
                None => self.missing(
                    &t,
                    "lambda_functions",
                    "add lambda_functions = [\"my-api-get-user\", ...], every function behind the API",
                ),
            }
        }
        self.finish(t);
        Some(MetricSources {
            alb_load_balancer: lb?,
            alb_target_group: tg?,
            api_id: api_id?,
            api_stage: stage?,
            lambda_functions: functions?,
            alb_shared: alb_shared?.unwrap_or(false),
            xray_legacy_service: xl?,
            edge_logs: edge_logs?,
        })
    }

    /// A list of non-empty strings; empty when the key is absent.
    fn names(&mut self, t: &mut Tbl, key: &'static str, what: &str) -> Option<Vec<String>> {
        let items = self.array(t, key)?.unwrap_or_default();
        let path = t.key_path(key);
        let mut names = Some(Vec::new());
        for (i, v) in items.iter().enumerate() {
            match (v.get_ref(), names.as_mut()) {
                (DeValue::String(s), Some(names)) if !s.is_empty() => names.push(s.to_string()),
                (DeValue::String(s), None) if !s.is_empty() => {}
                _ => {
                    self.problem(format!("{path}[{i}]"), &v.span(), true, what);
                    names = None;
                }
            }
        }
        names
    }

    fn edge_logs(&mut self, mut t: Tbl, cohort: Option<&CohortKey>) -> Option<EdgeLogs> {
        let stream = self.req_string(
            &mut t,
            "stream_arn",
            "add the Kinesis stream the real-time log configuration writes to, \
             e.g. \"arn:aws:kinesis:us-east-1:123456789012:stream/internal-api-edge-logs\"",
            |s| match s.split(':').collect::<Vec<_>>()[..] {
                ["arn", _, "kinesis", region, account, name]
                    if !region.is_empty() && account.len() == 12 && name.starts_with("stream/") && name.len() > 7 =>
                {
                    Ok(())
                }
                _ => Err("expected arn:aws:kinesis:REGION:ACCOUNT:stream/NAME".into()),
            },
        );
        let path = t.key_path("fields");
        let span = t.get("fields").map(|v| v.span()).unwrap_or_else(|| t.span.clone());
        let fields = match self.names(&mut t, "fields", "expected a log field name") {
            Some(f) if f.is_empty() && t.get("fields").is_none() => {
                self.missing(&t, "fields", "add fields = [...], the real-time log configuration's fields in its order");
                None
            }
            other => other,
        };
        self.finish(t);
        let fields = fields?;
        if let Some(cohort) = cohort {
            let missing: Vec<_> =
                EdgeLogs::required_fields(cohort).into_iter().filter(|f| !fields.iter().any(|g| g == f)).collect();
            if !missing.is_empty() {
                let names = missing.iter().map(|f| format!("\"{f}\"")).collect::<Vec<_>>().join(", ");
                self.problem(
                    path,
                    &span,
                    true,
                    format!(
                        "add {names} to the real-time log configuration and here, in its order: \
                         the controller reads each request's cohort from them"
                    ),
                );
                return None;
            }
        }
        Some(EdgeLogs { stream_arn: stream?, fields })
    }

    fn schedule(&mut self, mut t: Tbl) -> Option<Schedule> {
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

    fn steps(&mut self, path: &str, span: &Range<usize>, items: &[Val]) -> Option<Vec<Step>> {
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

    fn freeze(&mut self, mut t: Tbl) -> Option<FreezeWindow> {
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

    fn guardrails(&mut self, mut t: Tbl) -> Option<Guardrails> {
        let d = Guardrails::default();
        let interval = self.duration(&mut t, "interval", "an interval");
        let min_samples = self.int_in(&mut t, "min_samples", 1, 1_000_000, "min_samples");
        let failure_limit = self.int_in(&mut t, "failure_limit", 1, 1000, "failure_limit");
        let alpha = self.num_in(&mut t, "alpha", 1e-9, 0.5, "alpha");
        let lookback = self.duration_up_to(
            &mut t,
            "lookback",
            "lookback (the old side's history before the start; \"0s\" for none)",
            true,
            LOOKBACK_MAX,
        );
        let errors = self.error_check(&mut t, "errors", d.errors);
        let client_errors = self.error_check(&mut t, "client_errors", d.client_errors);
        let (p50, p99) = match self.sub(&mut t, "latency") {
            Some(mut l) => {
                let p50 = self.latency(&mut l, "p50", d.latency_p50);
                let p99 = self.latency(&mut l, "p99", d.latency_p99);
                self.finish(l);
                (p50, p99)
            }
            None if t.get("latency").is_none() => (Some(d.latency_p50), Some(d.latency_p99)),
            None => (None, None),
        };
        let cold_start = match self.sub(&mut t, "cold_start") {
            Some(mut c) => {
                let max = self.num_in(&mut c, "max_p99_ms", 1.0, 900_000.0, "max_p99_ms");
                let share = self.num_in(&mut c, "max_share", 0.0001, 0.5, "max_share (a share: 0.05 is 5 %)");
                let critical = self.boolean(&mut c, "critical");
                self.finish(c);
                (|| {
                    Some(ColdStartCheck {
                        max_p99_ms: max?.unwrap_or(d.cold_start.max_p99_ms),
                        max_share: share?.unwrap_or(d.cold_start.max_share),
                        critical: critical?.unwrap_or(d.cold_start.critical),
                    })
                })()
            }
            None if t.get("cold_start").is_none() => Some(d.cold_start),
            None => None,
        };
        let no_data = match self.sub(&mut t, "no_data") {
            Some(mut n) => {
                let max_hold = self.duration(&mut n, "max_hold", "max_hold");
                let then = match self.string(&mut n, "then") {
                    None => None,
                    Some(None) => Some(d.no_data.then),
                    Some(Some(s)) => match s.as_str() {
                        "rollback" => Some(NoDataAction::Rollback),
                        "pause" => Some(NoDataAction::Pause),
                        _ => {
                            let span = n.get("then").map(|v| v.span()).unwrap_or_default();
                            self.problem(n.key_path("then"), &span, true, "expected \"rollback\" or \"pause\"");
                            None
                        }
                    },
                };
                self.finish(n);
                (|| Some(NoDataPolicy { max_hold: max_hold?.unwrap_or(d.no_data.max_hold), then: then? }))()
            }
            None if t.get("no_data").is_none() => Some(d.no_data),
            None => None,
        };
        let shared_failure = match self.sub(&mut t, "shared_failure") {
            Some(mut f) => {
                let max_hold = self.duration(&mut f, "max_hold", "max_hold");
                self.finish(f);
                max_hold.map(|h| SharedFailurePolicy { max_hold: h.unwrap_or(d.shared_failure.max_hold) })
            }
            None if t.get("shared_failure").is_none() => Some(d.shared_failure),
            None => None,
        };
        self.finish(t);
        Some(Guardrails {
            interval: interval?.unwrap_or(d.interval),
            min_samples: min_samples?.unwrap_or(d.min_samples),
            failure_limit: failure_limit?.unwrap_or(u64::from(d.failure_limit)) as u32,
            alpha: alpha?.unwrap_or(d.alpha),
            errors: errors?,
            client_errors: client_errors?,
            latency_p50: p50?,
            latency_p99: p99?,
            cold_start: cold_start?,
            no_data: no_data?,
            shared_failure: shared_failure?,
            lookback: lookback?.unwrap_or(d.lookback),
        })
    }

    /// An `[guardrails.errors]`-shaped table (`max_increase_pp`, `critical`),
    /// `default` where a key or the table is left out.
    fn error_check(&mut self, t: &mut Tbl, key: &'static str, default: ErrorCheck) -> Option<ErrorCheck> {
        let Some(mut e) = self.sub(t, key) else {
            return t.get(key).is_none().then_some(default);
        };
        let pp = self.num_in(&mut e, "max_increase_pp", 0.0, 100.0, "max_increase_pp");
        let critical = self.boolean(&mut e, "critical");
        self.finish(e);
        // `?` inside a closure: a bad value here must not stop the tables
        // after it from being read and their problems reported.
        (|| {
            Some(ErrorCheck {
                max_increase_pp: pp?.unwrap_or(default.max_increase_pp),
                critical: critical?.unwrap_or(default.critical),
            })
        })()
    }

    fn latency(&mut self, l: &mut Tbl, key: &'static str, default: LatencyCheck) -> Option<LatencyCheck> {
        let Some(mut c) = self.sub(l, key) else {
            return l.get(key).is_none().then_some(default);
        };
        let ratio = self.num_in(&mut c, "max_ratio", 1.0, 100.0, "max_ratio");
        let extra = self.num_in(&mut c, "max_extra_ms", 0.0, 600_000.0, "max_extra_ms");
        let critical = self.boolean(&mut c, "critical");
        let (span, path) = (c.span.clone(), c.path.clone());
        self.finish(c);
        let (ratio, extra) = (ratio?, extra?);
        if ratio.is_none() && extra.is_none() {
            self.problem(path, &span, false, "give max_ratio, max_extra_ms, or both");
            return None;
        }
        Some(LatencyCheck { max_ratio: ratio, max_extra_ms: extra, critical: critical?.unwrap_or(default.critical) })
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
}

impl Decoder<'_> {
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

fn check_name(s: &str) -> Result<(), String> {
    if s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        Ok(())
    } else {
        Err("a name is at most 64 letters, digits, - or _".into())
    }
}

/// A shape check: the value starts with `prefix`, or `message` says what is wrong.
fn starts_with(prefix: &'static str, message: &'static str) -> impl Fn(&str) -> Result<(), String> {
    move |s| if s.starts_with(prefix) { Ok(()) } else { Err(message.into()) }
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// `scheme://host[:port][/path]` with a non-empty host.
fn url_host(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once(':').map_or(authority, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            authority
        }
    });
    (!host.is_empty() && !host.contains(char::is_whitespace)).then_some((scheme, host))
}

fn check_url(s: &str) -> Result<(), String> {
    match url_host(s) {
        Some(("http" | "https", _)) => Ok(()),
        _ => Err("expected an http:// or https:// URL with a host".into()),
    }
}

fn check_webhook(s: &str) -> Result<(), String> {
    match url_host(s) {
        Some(("https", _)) => Ok(()),
        Some(("http", "127.0.0.1" | "localhost" | "[::1]")) => Ok(()),
        Some(("http", _)) => Err("a webhook leaves this machine: use https://".into()),
        _ => Err("expected an https:// URL with a host".into()),
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
