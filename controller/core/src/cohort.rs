//! Sticky cohort bucketing: which side a request goes to at a weight.
//!
//! One definition, shared by the CloudFront Function (in JavaScript,
//! `infra/edge-function/function.js`), the local edge, the controller's verification
//! probes and the simulator. A request's cohort key (a header, a cookie,
//! or the client's address) hashes to a bucket in `0..10_000`; the request
//! goes to the serverless side when its bucket is below the weight in basis
//! points. Buckets never move, so raising the weight only moves clients
//! from legacy to serverless, never back and forth, and a rollback to 0
//! moves everybody back.
//!
//! The hash is 32-bit FNV-1a over `salt`, `:` and the key's UTF-8 bytes:
//! a few lines in any language (`Math.imul` in JavaScript), no tables, and
//! the salt lets two cutovers split the same users independently.

use crate::measure::Side;
use crate::units::Weight;

/// Buckets per cohort space: one per basis point of weight.
pub const BUCKETS: u32 = 10_000;

/// The bucket of `key` under `salt`, in `0..10_000`.
pub fn bucket(salt: &str, key: &str) -> u16 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in salt.bytes().chain(std::iter::once(b':')).chain(key.bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash % BUCKETS) as u16
}

/// The weight as the KeyValueStore holds it, read exactly as the CloudFront
/// Function reads it: 1 to 5 ASCII digits, at most 10 000. Anything else
/// (a sign, a space, a decimal, a sixth digit) is no weight, which the
/// function treats as 0. (`u16::from_str` would take `+5` and `000001`.)
pub fn parse_weight(value: &str) -> Option<Weight> {
    let digits = (1..=5).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| value.parse::<u16>().ok()).flatten().and_then(Weight::from_bps)
}

/// The value of the first cookie named `name` across `Cookie` header
/// values (`a=1; b=2`), as CloudFront's `request.cookies[name].value`
/// gives it: pairs split on `;`, trimmed, split at the first `=`.
pub fn cookie<'a>(headers: impl IntoIterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    headers
        .into_iter()
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The side a request in `bucket` goes to when the weight is `weight`.
pub fn side(bucket: u16, weight: Weight) -> Side {
    if bucket < weight.bps() {
        Side::Serverless
    } else {
        Side::Legacy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a's published values, to pin the hash before the modulo.
    #[test]
    fn the_hash_is_fnv1a() {
        fn fnv1a(bytes: &[u8]) -> u32 {
            bytes.iter().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
        }
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
        assert_eq!(bucket("s", "k"), (fnv1a(b"s:k") % BUCKETS) as u16);
    }

    #[test]
    /// The vectors the CloudFront Function is checked against too
    /// (`infra/edge-function/test.mjs`), computed by an independent Python
    /// FNV-1a.
    fn the_shared_vectors_hold() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../../infra/edge-function/vectors.json")).unwrap();
        let buckets = vectors["buckets"].as_array().unwrap();
        assert!(buckets.len() >= 6);
        for v in buckets {
            let (salt, key) = (v["salt"].as_str().unwrap(), v["key"].as_str().unwrap());
            assert_eq!(u64::from(bucket(salt, key)), v["bucket"].as_u64().unwrap(), "bucket({salt:?}, {key:?})");
        }
        let weights = vectors["weights"].as_array().unwrap();
        assert!(weights.len() >= 20);
        for v in weights {
            let expected = v["bps"].as_u64().map(|b| Weight::from_bps(u16::try_from(b).unwrap()).unwrap());
            assert_eq!(parse_weight(v["value"].as_str().unwrap()), expected, "{v}");
        }
        for v in vectors["sides"].as_array().unwrap() {
            let b = u16::try_from(v["bucket"].as_u64().unwrap()).unwrap();
            let weight = Weight::from_bps(u16::try_from(v["weight"].as_u64().unwrap()).unwrap()).unwrap();
            let expected = if v["side"] == "serverless" { Side::Serverless } else { Side::Legacy };
            assert_eq!(side(b, weight), expected, "{v}");
        }
    }

    #[test]
    fn raising_the_weight_only_moves_clients_to_serverless() {
        let weights = [0, 100, 500, 1_000, 2_500, 5_000, 7_500, 10_000].map(|bps| Weight::from_bps(bps).unwrap());
        for n in 0..2_000 {
            let b = bucket("internal-api", &format!("user-{n}"));
            let sides: Vec<Side> = weights.iter().map(|w| side(b, *w)).collect();
            let first_serverless = sides.iter().position(|s| *s == Side::Serverless).unwrap_or(sides.len());
            assert!(sides[first_serverless..].iter().all(|s| *s == Side::Serverless), "user-{n}: {sides:?}");
            assert_eq!(sides[0], Side::Legacy, "weight 0 sends everybody to legacy");
            assert_eq!(sides[weights.len() - 1], Side::Serverless, "weight 100 % sends everybody to serverless");
        }
    }

    /// Over many keys the share on the new side is the weight, within a
    /// binomial 4-sigma band.
    #[test]
    fn the_split_matches_the_weight() {
        let keys = 40_000;
        for bps in [100u16, 1_000, 5_000] {
            let weight = Weight::from_bps(bps).unwrap();
            let on_new =
                (0..keys).filter(|n| side(bucket("internal-api", &format!("u{n}")), weight) == Side::Serverless);
            let p = f64::from(bps) / 10_000.0;
            let expected = p * f64::from(keys);
            let sigma = (f64::from(keys) * p * (1.0 - p)).sqrt();
            let got = on_new.count() as f64;
            assert!((got - expected).abs() < 4.0 * sigma, "{bps} bps: {got} on the new side, expected {expected}");
        }
    }
}
