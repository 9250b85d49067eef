//! Each user request's cohort, from CloudFront's real-time logs: what
//! CloudWatch cannot tell (it counts per side), and what the judge needs to
//! leave users who fail on either side out of the error tests (chronic
//! cohorts, see `cutover_core::judge::sequential`).
//!
//! A real-time log configuration on the `/api/*` behaviour (sampling 100 %)
//! writes one tab-separated line per viewer request to a Kinesis stream, the
//! plan's fields in the plan's order, `-` for an empty value. For each line
//! this reads when it was served (`timestamp`, seconds with milliseconds),
//! its status (`sc-status`), whether it was the controller's own probe
//! (`cs-user-agent`, [`PROBE_USER_AGENT`]: probes are their own stratum),
//! and its cohort key as the CloudFront Function takes it: the plan's header
//! (`cs-headers`, URL-encoded `name:value` lines) or cookie (`cs-cookie`),
//! else the viewer's address (`c-ip`). The bucket is the function's hash of
//! that key; the side is the one the weight in force then sent the bucket
//! to ([`WeightTimeline`]). A line whose side is unknown (the weight was
//! moving), whose key cannot be told (a header list cut short) or that has
//! no status is left out and counted.
//!
//! Real-time logs are delivered within seconds but on a best-effort basis:
//! a line may come late or never. A window is read once CloudWatch's
//! [`LAG`](crate::LAG) has passed, every shard from [`ARRIVAL_SLACK`] before
//! it until a record arrived [`ARRIVAL_SLACK`] after it or the shard's end:
//! a line later than that is missing, on either side alike, which the
//! tests can bear (they compare rates). More than [`MAX_LEFT_OUT`] of a
//! window's lines left out and the window has no cohorts: judged as
//! CloudWatch counts it, side against side, and said so.

use std::time::Duration;

use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;
use cutover_api::routes::percent_decode;
use cutover_core::cohort;
use cutover_core::measure::{Cohorts, PerSide};
use cutover_core::plan::{CohortKey, EdgeLogs};
use cutover_runtime::timeline::WeightTimeline;
pub use cutover_runtime::verify::PROBE_USER_AGENT;

use crate::{AwsFailure, FailureKind};

/// The paths that are the API's: the `/api/*` behaviour's.
const API_PREFIX: &str = "/api/";
/// How far either side of a window records are read by arrival.
pub const ARRIVAL_SLACK: Duration = Duration::from_secs(60);
/// `GetRecords` calls per shard and window before the read gives up: at
/// 10 000 records a call, ten million requests a minute.
pub const PAGES_PER_SHARD: usize = 1_000;
/// The share of a window's user lines that may be left out before its
/// cohorts are not used.
pub const MAX_LEFT_OUT: f64 = 0.05;

/// One window of the edge's lines.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EdgeLogRead {
    /// User requests per side and bucket; `None` when more than
    /// [`MAX_LEFT_OUT`] of them were left out.
    pub cohorts: Option<PerSide<Cohorts>>,
    /// Lines in the window.
    pub lines: u64,
    /// The controller's own probes among them.
    pub probes: u64,
    /// Left out: served while the weight moved across their bucket.
    pub side_unknown: u64,
    /// Left out: no status, or a key that cannot be told.
    pub unreadable: u64,
}

/// The reader: a Kinesis client, the plan's stream, fields and cohort key.
pub struct EdgeLogSource {
    client: Client,
    logs: EdgeLogs,
    cols: Columns,
    cohort: CohortKey,
    salt: String,
    timeline: WeightTimeline,
}

/// Where each field sits in a line.
#[derive(Clone, Copy, Debug)]
struct Columns {
    timestamp: usize,
    status: usize,
    path: usize,
    agent: usize,
    ip: usize,
    headers: Option<usize>,
    header_count: Option<usize>,
    cookie: Option<usize>,
}

impl Columns {
    fn of(fields: &[String]) -> Option<Columns> {
        let at = |name: &str| fields.iter().position(|f| f == name);
        Some(Columns {
            timestamp: at("timestamp")?,
            status: at("sc-status")?,
            path: at("cs-uri-stem")?,
            agent: at("cs-user-agent")?,
            ip: at("c-ip")?,
            headers: at("cs-headers"),
            header_count: at("cs-headers-count"),
            cookie: at("cs-cookie"),
        })
    }
}

/// What one line says: when it was served (Unix ms), and what it was.
#[derive(Clone, Debug, PartialEq)]
struct Line {
    at_ms: u64,
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    /// A user request: its bucket, its status.
    User { bucket: u16, status: u16 },
    /// The controller's probe.
    Probe,
    /// Without a status or a key that can be told.
    Unreadable,
    /// Not an `/api/` request.
    Elsewhere,
}

/// `%XX` decoded (the contract's decoder; `+` is kept, CloudFront writes a
/// space as `%20`); a field that does not decode is kept as written.
fn percent_decoded(text: &str) -> String {
    percent_decode(text).unwrap_or_else(|| text.to_owned())
}

fn value(field: &str) -> Option<&str> {
    Some(field).filter(|f| !f.is_empty() && *f != "-")
}

impl EdgeLogSource {
    /// `None` when the plan's fields lack what the cohort key needs (the
    /// plan decoder refuses such a plan).
    pub fn new(
        client: Client,
        logs: EdgeLogs,
        cohort: CohortKey,
        salt: String,
        timeline: WeightTimeline,
    ) -> Option<EdgeLogSource> {
        let cols = Columns::of(&logs.fields)?;
        Some(EdgeLogSource { client, logs, cols, cohort, salt, timeline })
    }

    /// The cohort key the CloudFront Function would take from this line:
    /// `None` when it cannot be told: the header list was cut short before
    /// or inside the header, or the line has no address.
    fn key(&self, fields: &[&str]) -> Option<String> {
        let cols = &self.cols;
        let field = |i: Option<usize>| i.and_then(|i| fields.get(i)).and_then(|f| value(f));
        match &self.cohort {
            CohortKey::Header(name) => {
                // Present, even empty, it is the key (the function takes
                // `headers[name].value`, and an empty header is there).
                let listed = field(cols.headers).map(percent_decoded).unwrap_or_default();
                let count = field(cols.header_count).and_then(|c| c.parse::<usize>().ok());
                let cut = |seen: usize| count.is_none_or(|count| seen < count);
                let lines: Vec<&str> = listed.split('\n').filter(|l| !l.is_empty()).collect();
                for (seen, line) in lines.iter().enumerate().map(|(i, l)| (i + 1, l)) {
                    if let Some((n, v)) = line.split_once(':') {
                        if n.trim().eq_ignore_ascii_case(name) {
                            // The last of a list cut short may be cut too.
                            if seen == lines.len() && cut(seen) {
                                return None;
                            }
                            return Some(v.trim().to_owned());
                        }
                    }
                }
                if cut(lines.len()) {
                    return None;
                }
            }
            CohortKey::Cookie(name) => {
                let jar = field(cols.cookie).map(percent_decoded).unwrap_or_default();
                for pair in jar.split(';') {
                    if let Some((n, v)) = pair.trim().split_once('=') {
                        if n == name {
                            return Some(v.to_owned());
                        }
                    }
                }
            }
            CohortKey::ViewerIp => {}
        }
        field(Some(cols.ip)).map(str::to_owned)
    }

    /// One line of the log; `None` for a line without a time.
    fn line(&self, text: &str) -> Option<Line> {
        let cols = &self.cols;
        let fields: Vec<&str> = text.trim_end_matches(['\n', '\r']).split('\t').collect();
        let seconds: f64 = fields.get(cols.timestamp)?.parse().ok()?;
        if !seconds.is_finite() || seconds < 0.0 {
            return None;
        }
        let at_ms = (seconds * 1000.0).round() as u64;
        // Only the API's requests are users of the cutover (the stream
        // may be shared with other behaviours).
        if !fields.get(cols.path).is_some_and(|p| p.starts_with(API_PREFIX)) {
            return Some(Line { at_ms, kind: Kind::Elsewhere });
        }
        let agent = fields.get(cols.agent).and_then(|f| value(f)).map(percent_decoded);
        if agent.is_some_and(|a| a.starts_with(PROBE_USER_AGENT)) {
            return Some(Line { at_ms, kind: Kind::Probe });
        }
        let status = fields.get(cols.status).and_then(|s| s.parse::<u16>().ok()).filter(|s| (100..600).contains(s));
        let kind = match (status, self.key(&fields)) {
            (Some(status), Some(key)) => Kind::User { bucket: cohort::bucket(&self.salt, &key), status },
            _ => Kind::Unreadable,
        };
        Some(Line { at_ms, kind })
    }

    /// Adds the lines of `text` served within `[from_ms, to_ms)` to `read`.
    fn count(&self, read: &mut EdgeLogRead, from_ms: u64, to_ms: u64, text: &str) {
        let cohorts = read.cohorts.get_or_insert_with(PerSide::default);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Some(Line { at_ms, kind }) = self.line(line).filter(|l| (from_ms..to_ms).contains(&l.at_ms)) else {
                continue;
            };
            match kind {
                Kind::Elsewhere => continue,
                Kind::Probe => read.probes += 1,
                Kind::Unreadable => read.unreadable += 1,
                Kind::User { bucket, status } => match self.timeline.side(at_ms, bucket) {
                    Some(side) => cohorts.get_mut(side).record(bucket, status >= 500, (400..500).contains(&status)),
                    None => read.side_unknown += 1,
                },
            }
            read.lines += 1;
        }
    }

    /// The window `[from_ms, to_ms)` (Unix ms), every shard.
    pub async fn read(&self, from_ms: u64, to_ms: u64) -> Result<EdgeLogRead, AwsFailure> {
        let mut read = EdgeLogRead { cohorts: Some(PerSide::default()), ..EdgeLogRead::default() };
        let slack = ARRIVAL_SLACK.as_millis() as u64;
        let mut next = None;
        let mut shards = Vec::new();
        loop {
            let request = match next.take() {
                // With a token the stream is not named again (the API refuses both).
                Some(token) => self.client.list_shards().next_token(token),
                None => self.client.list_shards().stream_arn(&self.logs.stream_arn),
            };
            let out = request.send().await.map_err(|e| AwsFailure::from_sdk("kinesis:ListShards", &e))?;
            shards.extend(out.shards().iter().map(|s| s.shard_id().to_owned()));
            match out.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                _ => break,
            }
        }
        for shard in shards {
            let out = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.logs.stream_arn)
                .shard_id(&shard)
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(DateTime::from_millis(from_ms.saturating_sub(slack) as i64))
                .send()
                .await
                .map_err(|e| AwsFailure::from_sdk("kinesis:GetShardIterator", &e))?;
            let mut iterator = out.shard_iterator().map(str::to_owned);
            let mut pages = 0;
            while let Some(it) = iterator.take() {
                pages += 1;
                if pages > PAGES_PER_SHARD {
                    return Err(AwsFailure {
                        action: "kinesis:GetRecords",
                        kind: FailureKind::Rejected,
                        code: None,
                        message: format!("shard {shard} holds more than {PAGES_PER_SHARD} pages for one window"),
                    });
                }
                let out = self
                    .client
                    .get_records()
                    .shard_iterator(it)
                    .stream_arn(&self.logs.stream_arn)
                    .send()
                    .await
                    .map_err(|e| AwsFailure::from_sdk("kinesis:GetRecords", &e))?;
                let mut past = false;
                for record in out.records() {
                    let arrived = record.approximate_arrival_timestamp().and_then(|t| t.to_millis().ok());
                    past |= arrived.is_some_and(|a| a > (to_ms + slack) as i64);
                    self.count(&mut read, from_ms, to_ms, &String::from_utf8_lossy(record.data().as_ref()));
                }
                let caught_up = out.records().is_empty() && out.millis_behind_latest().unwrap_or(0) == 0;
                if !(past || caught_up) {
                    iterator = out.next_shard_iterator().map(str::to_owned);
                }
            }
        }
        let users = read.cohorts.as_ref().map_or(0, |c| c.legacy.requests() + c.serverless.requests());
        let left_out = read.side_unknown + read.unreadable;
        if left_out as f64 > MAX_LEFT_OUT * (users + left_out) as f64 {
            read.cohorts = None;
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(cohort: CohortKey, fields: &[&str]) -> EdgeLogSource {
        let conf = aws_sdk_kinesis::Config::builder()
            .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
            .build();
        let logs = EdgeLogs {
            stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/edge".into(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
        };
        EdgeLogSource::new(Client::from_conf(conf), logs, cohort, "internal-api".into(), WeightTimeline::default())
            .unwrap()
    }

    const IP: &[&str] = &["timestamp", "c-ip", "sc-status", "cs-uri-stem", "cs-user-agent"];

    #[test]
    fn a_line_gives_its_time_bucket_and_status() {
        let s = source(CohortKey::ViewerIp, IP);
        let line = s.line("1795867200.541\t192.0.2.10\t503\t/api/health\tMozilla/5.0%20(X11)\n").unwrap();
        let bucket = cohort::bucket("internal-api", "192.0.2.10");
        assert_eq!(line, Line { at_ms: 1_795_867_200_541, kind: Kind::User { bucket, status: 503 } });
        assert_eq!(
            s.line("1795867200.541\t192.0.2.10\t-\t/api/health\tcurl"),
            Some(Line { at_ms: 1_795_867_200_541, kind: Kind::Unreadable })
        );
        assert_eq!(
            s.line("1795867200.541\t192.0.2.10\t200\t/index.html\tcurl"),
            Some(Line { at_ms: 1_795_867_200_541, kind: Kind::Elsewhere })
        );
        assert_eq!(s.line("yesterday\t192.0.2.10\t200\t/api/health\tcurl"), None);
        let probe = format!("1795867200.000\t198.51.100.7\t200\t/api/health\t{}", PROBE_USER_AGENT.replace('/', "%2F"));
        assert_eq!(s.line(&probe), Some(Line { at_ms: 1_795_867_200_000, kind: Kind::Probe }));
    }

    #[test]
    fn the_key_is_taken_as_the_edge_function_takes_it() {
        let fields =
            ["timestamp", "sc-status", "cs-uri-stem", "cs-user-agent", "c-ip", "cs-headers", "cs-headers-count"];
        let s = source(CohortKey::Header("x-user-id".into()), &fields);
        let bucket = |k: &str| cohort::bucket("internal-api", k);
        let at = |headers: &str, count: &str| {
            let line = format!("1795867200.0\t200\t/api/health\tcurl\t192.0.2.10\t{headers}\t{count}");
            match s.line(&line).unwrap() {
                Line { kind: Kind::User { bucket, .. }, .. } => Some(bucket),
                _ => None,
            }
        };
        assert_eq!(at("host:api.example.com%0AX-User-Id:%20u-42%0A", "2"), Some(bucket("u-42")), "any case");
        assert_eq!(at("host:api.example.com%0A", "1"), Some(bucket("192.0.2.10")), "no header: the address");
        assert_eq!(at("host:api.example.com%0A", "3"), None, "the list was cut short: cannot tell");
        assert_eq!(at("x-user-id:%0Ahost:h%0A", "2"), Some(bucket("")), "there but empty: the function's key is \"\"");
        assert_eq!(at("host:h%0Ax-user-id:u-4", "3"), None, "the last of a list cut short may be cut too");
        assert_eq!(at("x-user-id:u-4%0Ahost:h", "3"), Some(bucket("u-4")), "cut after it");
        let s = source(
            CohortKey::Cookie("uid".into()),
            &["timestamp", "sc-status", "cs-uri-stem", "cs-user-agent", "c-ip", "cs-cookie"],
        );
        let line = "1795867200.0\t200\t/api/users/u-7/context\tcurl\t192.0.2.10\ttheme=dark;%20uid=u-7";
        assert!(matches!(s.line(line), Some(Line { kind: Kind::User { bucket: b, .. }, .. }) if b == bucket("u-7")));
        let empty = "1795867200.0\t200\t/api/health\tcurl\t192.0.2.10\tuid=;%20theme=dark";
        assert!(matches!(s.line(empty), Some(Line { kind: Kind::User { bucket: b, .. }, .. }) if b == bucket("")));
    }

    #[test]
    fn each_line_counts_on_the_side_its_bucket_was_on_then() {
        let s = source(CohortKey::ViewerIp, IP);
        s.timeline.observed(0, cutover_core::units::Weight::from_bps(5_000).unwrap());
        let mut read = EdgeLogRead::default();
        let ips: Vec<String> = (0..200).map(|i| format!("10.0.{}.{}", i / 250, i % 250)).collect();
        let mut text = String::new();
        for ip in &ips {
            text += &format!("1000.000\t{ip}\t500\t/api/reports/r1\tcurl\n");
        }
        text += "999.999\t10.9.9.9\t200\t/api/health\tcurl\n1060.000\t10.9.9.9\t200\t/api/health\tcurl\n";
        text += "1000.000\t10.9.9.9\t200\t/favicon.ico\tcurl\n";
        s.count(&mut read, 1_000_000, 1_060_000, &text);
        let c = read.cohorts.unwrap();
        let on_new = ips.iter().filter(|ip| cohort::bucket("internal-api", ip) < 5_000).count() as u64;
        assert_eq!(c.serverless.requests(), on_new);
        assert_eq!(c.legacy.requests(), 200 - on_new);
        assert_eq!(c.legacy.iter().map(|c| c.errors).sum::<u64>(), 200 - on_new);
        assert_eq!(read.lines, 200, "the window's edges: from inclusive, to exclusive");
    }
}
