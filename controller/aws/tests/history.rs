//! `cutover plan advise --from-cloudwatch`: the ALB's request history read
//! at the SDK boundary (aws-smithy-mocks; the SDK speaks CBOR to
//! CloudWatch, which moto does not), then simulated on by the advisor.

use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{MetricDataResult, StatusCode};
use aws_sdk_cloudwatch::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use cutover_core::plan::Plan;
use cutover_core::units::Timestamp;
use cutover_sim::advise::advise;
use cutover_sim::{Scenario, Traffic};

/// 2026-11-14T00:00:00Z, a whole day.
const FROM: u64 = 1_794_614_400_000;
const MINUTE: u64 = 60_000;
const DAY: u64 = 1440;

/// A day of traffic shaped like a working day: busy from 08:00 to 18:00,
/// near silent at night; one page per day, newest datapoint first, and no
/// datapoint for a minute without requests (as CloudWatch sends it).
fn day_page(day: u64, last: bool) -> GetMetricDataOutput {
    let mut r = MetricDataResult::builder().id("requests").label("RequestCount").status_code(StatusCode::Complete);
    for m in (0..DAY).rev() {
        let hour = m / 60;
        let n = match hour {
            8..=17 => 120.0,
            0..=5 => 0.0,
            _ => 20.0,
        };
        if n > 0.0 {
            r = r.timestamps(DateTime::from_millis((FROM + (day * DAY + m) * MINUTE) as i64)).values(n);
        }
    }
    let out = GetMetricDataOutput::builder().metric_data_results(r.build());
    if last { out } else { out.next_token(format!("day-{}", day + 1)) }.build()
}

#[tokio::test]
async fn the_history_is_read_page_by_page_and_quiet_minutes_count_zero() {
    let days = 3;
    let pages: Vec<_> = (0..days)
        .map(|d| {
            let page = day_page(d, d + 1 == days);
            mock!(Client::get_metric_data)
                .match_requests(move |r| {
                    let q = &r.metric_data_queries()[0];
                    let stat = q.metric_stat().unwrap();
                    let dims = stat.metric().unwrap().dimensions();
                    let token_ok = match d {
                        0 => r.next_token().is_none(),
                        _ => r.next_token() == Some(format!("day-{d}").as_str()),
                    };
                    token_ok
                        && stat.metric().unwrap().metric_name() == Some("RequestCount")
                        && stat.period() == Some(60)
                        && dims[0].value() == Some("app/internal-api/50dc6c495c0c9188")
                })
                .then_output(move || page.clone())
        })
        .collect();
    let refs: Vec<&aws_smithy_mocks::Rule> = pages.iter().collect();
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, refs.as_slice());
    let minutes = cutover_aws::request_history(
        &client,
        "app/internal-api/50dc6c495c0c9188",
        FROM + 30_000,
        FROM + days * DAY * MINUTE,
    )
    .await
    .unwrap();
    assert_eq!(minutes.len() as u64, days * DAY, "whole minutes from the first");
    assert_eq!(minutes[0], 0.0, "midnight is silent");
    assert_eq!(minutes[9 * 60], 120.0);
    assert_eq!(minutes[DAY as usize + 20 * 60], 20.0);
    let total: f64 = minutes.iter().sum();
    assert_eq!(total, days as f64 * (600.0 * 120.0 + 480.0 * 20.0));

    // The advisor simulates the default plan on it: the nights are silent,
    // so some step is flagged and given a longer hold.
    let plan = Plan::default_plan();
    let base = Scenario {
        traffic: Traffic::recorded(minutes, Timestamp::from_ms(FROM)),
        start: Timestamp::from_ms(FROM),
        ..Scenario::default()
    };
    let advice = advise(&plan, &base, 4, 2, &|_| {});
    assert_eq!(advice.steps.len(), plan.schedule.steps.len());
    assert!(advice.steps.iter().any(|s| !s.flags.is_empty()), "{advice:#?}");
    assert!(advice.steps.iter().any(|s| s.suggested_hold > s.hold), "{advice:#?}");
    assert!(advice.suggested.duration() > plan.duration());
}
