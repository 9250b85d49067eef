//! Property tests of the edge's parsing: the cohort cookie and the weight as
//! the KeyValueStore holds it. Any input: no panic, and the answer the
//! CloudFront Function would give.

use cutover_core::cohort::{bucket, cookie, parse_weight, BUCKETS};
use proptest::prelude::*;

/// A cookie's name (a token: no `=`) and value (no `;`; `=` allowed), as
/// browsers send them.
fn pair() -> impl Strategy<Value = (String, String)> {
    ("[A-Za-z0-9_.-]{1,12}", "[A-Za-z0-9_.=-]{0,12}")
}

proptest! {
    // Failing inputs are kept as named tests, not in files.
    #![proptest_config(ProptestConfig {
        cases: cutover_testkit::fuzz_cases(2000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_cookie_header_parses_without_panic_and_only_to_a_pair_it_holds(
        headers in proptest::collection::vec(any::<String>(), 0..4),
        name in any::<String>(),
    ) {
        if let Some(value) = cookie(headers.iter().map(String::as_str), &name) {
            let pair = format!("{name}={value}");
            prop_assert!(headers.iter().any(|h| h.split(';').any(|p| p.trim() == pair)), "{pair:?} not in {headers:?}");
        }
    }

    #[test]
    fn the_first_cookie_of_the_name_wins(
        pairs in proptest::collection::vec(pair(), 1..8),
        pick in any::<proptest::sample::Index>(),
        split in any::<proptest::sample::Index>(),
    ) {
        let name = &pairs[pick.index(pairs.len())].0;
        let expected = pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        // The pairs over one header line or two, as clients may send them.
        let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let at = split.index(text.len() + 1);
        let lines = [text[..at].join("; "), text[at..].join(";")];
        prop_assert_eq!(cookie(lines.iter().map(String::as_str), name), expected);
    }

    #[test]
    fn a_weight_is_one_to_five_digits_up_to_10000(value in any::<String>()) {
        let canonical = (1..=5).contains(&value.len())
            && value.bytes().all(|b| b.is_ascii_digit())
            && value.parse::<u32>().is_ok_and(|n| n <= 10_000);
        prop_assert_eq!(parse_weight(&value).is_some(), canonical, "{:?}", value);
    }

    #[test]
    fn every_weight_reads_back(bps in 0u16..=10_000, zeros in 0usize..3) {
        let text = format!("{}{bps}", "0".repeat(zeros));
        let parsed = parse_weight(&text).map(|w| w.bps());
        prop_assert_eq!(parsed, (text.len() <= 5).then_some(bps));
    }

    #[test]
    fn any_key_has_a_bucket(salt in any::<String>(), key in any::<String>()) {
        prop_assert!(u32::from(bucket(&salt, &key)) < BUCKETS);
    }
}
