//! `[target]`: what is cut over, its edge, its cohort key and its metric sources.

use super::values::{check_name, check_url, is_token, starts_with};
use super::{Decoder, Tbl};
use crate::plan::*;

impl Decoder<'_> {
    pub(super) fn target(&mut self, mut t: Tbl) -> Option<Target> {
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

    pub(super) fn cohort(&mut self, mut t: Tbl) -> Option<CohortKey> {
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

    pub(super) fn local(&mut self, mut t: Tbl) -> Option<LocalEdge> {
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

    pub(super) fn cloudfront(&mut self, mut t: Tbl) -> Option<CloudFrontEdge> {
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

    pub(super) fn metrics(&mut self, mut t: Tbl, cohort: Option<&CohortKey>) -> Option<MetricSources> {
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

    pub(super) fn edge_logs(&mut self, mut t: Tbl, cohort: Option<&CohortKey>) -> Option<EdgeLogs> {
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
}
