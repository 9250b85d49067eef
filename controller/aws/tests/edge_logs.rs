//! The edge's real-time logs read back from Kinesis in moto (started and
//! stopped by this test): lines written as CloudFront writes them, spread
//! over two shards, come back as each user's requests on the side the
//! weight sent them to, the probes and the lines outside the window left
//! out.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use cutover_aws::{Clients, EdgeLogSource, Endpoints, WeightTimeline, PROBE_USER_AGENT};
use cutover_core::cohort;
use cutover_core::measure::Side;
use cutover_core::plan::{CohortKey, EdgeLogs};
use cutover_core::units::Weight;
use cutover_testkit::Moto;

const STREAM: &str = "internal-api-edge-logs";
const SALT: &str = "internal-api";
/// The order a real-time log configuration might list them in.
const FIELDS: [&str; 7] = ["timestamp", "c-ip", "time-taken", "sc-status", "cs-uri-stem", "cs-user-agent", "cs-cookie"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_user_line_in_the_window_counts_once_on_its_side() {
    let moto = Moto::start();
    let endpoints = Endpoints { kinesis: Some(moto.endpoint().to_owned()), ..Endpoints::default() };
    let kinesis = Clients::new(&endpoints).await.kinesis;
    kinesis.create_stream().stream_name(STREAM).shard_count(2).send().await.expect("create the stream");
    let arn = kinesis.describe_stream_summary().stream_name(STREAM).send().await.unwrap();
    let arn = arn.stream_description_summary().unwrap().stream_arn().to_owned();

    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let (from, to) = (now_ms / 60_000 * 60_000 - 120_000, now_ms / 60_000 * 60_000 - 60_000);
    let timeline = WeightTimeline::default();
    timeline.observed(from - 3_600_000, Weight::from_bps(1_000).unwrap());

    // 300 users by cookie, 40 without the cookie (bucketed by address), a
    // request each every 2 s over three minutes; user 7 fails a third of
    // the time. The controller's probes say who they are.
    let mut lines = Vec::new();
    let mut expected: BTreeMap<(Side, u16), (u64, u64)> = BTreeMap::new();
    for user in 0..340u64 {
        let ip = format!("198.51.{}.{}", user / 200, user % 200 + 1);
        let (cookie, key) = match user {
            0..300 => (format!("theme=dark;%20uid=u-{user}"), format!("u-{user}")),
            _ => ("-".to_owned(), ip.clone()),
        };
        let bucket = cohort::bucket(SALT, &key);
        let side = if bucket < 1_000 { Side::Serverless } else { Side::Legacy };
        for (n, at) in (from - 60_000..to + 60_000).step_by(2_000).enumerate() {
            let at = at + user % 2_000;
            let status = if user == 7 && n % 3 == 0 { 502 } else { 200 };
            lines.push(format!(
                "{}.{:03}\t{ip}\t0.012\t{status}\t/api/health\tMozilla/5.0\t{cookie}\n",
                at / 1000,
                at % 1000
            ));
            if (from..to).contains(&at) {
                let e = expected.entry((side, bucket)).or_default();
                e.0 += 1;
                e.1 += u64::from(status >= 500);
            }
        }
    }
    for at in (from..to).step_by(3_000) {
        let agent = PROBE_USER_AGENT.replace('/', "%2F");
        lines.push(format!("{}.000\t203.0.113.9\t0.020\t200\t/api/health\t{agent}\t-\n", at / 1000));
        lines.push(format!("{}.000\t203.0.113.9\t0.002\t200\t/assets/app.js\tMozilla/5.0\t-\n", at / 1000));
    }
    for (i, batch) in lines.chunks(500).enumerate() {
        let entries = batch
            .iter()
            .enumerate()
            .map(|(j, line)| {
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("{i}-{j}"))
                    .data(Blob::new(line.as_bytes()))
                    .build()
                    .unwrap()
            })
            .collect::<Vec<_>>();
        let out = kinesis.put_records().stream_name(STREAM).set_records(Some(entries)).send().await.unwrap();
        assert_eq!(out.failed_record_count(), Some(0));
    }

    let logs = EdgeLogs { stream_arn: arn, fields: FIELDS.iter().map(|f| f.to_string()).collect() };
    let source = EdgeLogSource::new(kinesis, logs, CohortKey::Cookie("uid".into()), SALT.into(), timeline).unwrap();
    let read = source.read(from, to).await.expect("read the window");
    assert_eq!(read.probes, 20, "one probe every 3 s");
    assert_eq!((read.side_unknown, read.unreadable), (0, 0));
    let cohorts = read.cohorts.expect("cohorts");
    let mut got = BTreeMap::new();
    for side in Side::BOTH {
        for c in cohorts.get(side).iter() {
            got.insert((side, c.bucket), (c.requests, c.errors));
        }
    }
    assert_eq!(got, expected, "each user's requests and errors, on the side of their bucket");
    assert!(got.keys().any(|(s, _)| *s == Side::Serverless) && got.keys().any(|(s, _)| *s == Side::Legacy));
    assert_eq!(read.lines, 340 * 30 + 20);
}
