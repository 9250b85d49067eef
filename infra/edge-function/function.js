// cutover's CloudFront Function (runtime cloudfront-js-2.0, viewer-request,
// on the /api/* cache behaviour). It sends each request to the ALB (the
// behaviour's own origin) or to API Gateway, by sticky cohort:
//
//   bucket = FNV-1a-32(salt + ":" + cohort key, UTF-8) % 10000
//   serverless if bucket < weight (basis points, read from the KeyValueStore)
//
// The same bucketing is cutover_core::cohort in Rust; both are checked
// against vectors.json. Buckets never move, so raising the weight only moves
// clients from the ALB to API Gateway; weight 0 moves everybody back.
//
// Fail-safe: a missing key, a KVS error or a value that is not a whole
// number from 0 to 10000 sends the request to the side the plan's
// `when_store_unreadable` names: the ALB until the cutover completes, API
// Gateway once it has (and before the ALB is retired:
// runbooks/decommission.md).
//
// Probes: the controller pins its probes to a side with x-cutover-probe,
// and proves it is the controller with x-cutover-probe-token, which must
// equal the KeyValueStore's value under the probe token key (at least 16
// characters; rotate it by writing a new one there). Without a valid
// token the pin is ignored and the request is bucketed like any other.
// Neither header reaches an origin.
//
// Terraform renders this file with templatefile(), and `cutover plan
// edge-function` renders it the same way from a plan: the quoted
// dollar-brace names below are its variables, and nothing else here may
// use that syntax (not even a comment, which templatefile() would read).
// No JavaScript template literals, so the two syntaxes never meet.

import cf from 'cloudfront';

const WEIGHT_KEY = '${weight_key}';
const SERVERLESS_ORIGIN_ID = '${serverless_origin_id}';
const SALT = '${salt}';
const COHORT_HEADER = '${cohort_header}';
const COHORT_COOKIE = '${cohort_cookie}';
const PROBE_TOKEN_KEY = '${probe_token_key}';
// 'legacy' or 'serverless': where a request goes when the weight cannot be read.
const WHEN_STORE_UNREADABLE = '${when_store_unreadable}';
// Synthetic probes pin themselves to one side, whatever the weight.
const PROBE_HEADER = 'x-cutover-probe';
const PROBE_TOKEN_HEADER = 'x-cutover-probe-token';
const PROBE_TOKEN_MIN = 16;

const kvs = cf.kvs();

function fnv1a(text) {
    const bytes = Buffer.from(text, 'utf8');
    let hash = 0x811c9dc5;
    for (let i = 0; i < bytes.length; i++) {
        hash ^= bytes[i];
        // hash * 16777619 (0x01000193) mod 2^32, without Math.imul.
        hash = (hash + (hash << 1) + (hash << 4) + (hash << 7) + (hash << 8) + (hash << 24)) >>> 0;
    }
    return hash >>> 0;
}

function bucket(salt, key) {
    return fnv1a(salt + ':' + key) % 10000;
}

function cohortKey(event) {
    const request = event.request;
    if (COHORT_HEADER !== '' && request.headers[COHORT_HEADER]) {
        return request.headers[COHORT_HEADER].value;
    }
    if (COHORT_COOKIE !== '' && request.cookies[COHORT_COOKIE]) {
        return request.cookies[COHORT_COOKIE].value;
    }
    return event.viewer.ip;
}

// The weight in basis points, or null for anything but a whole number 0..10000.
function parseWeight(value) {
    if (typeof value !== 'string' || !/^[0-9]{1,5}$/.test(value)) {
        return null;
    }
    const weight = parseInt(value, 10);
    return weight <= 10000 ? weight : null;
}

// Whether `presented` is the probe token in the KeyValueStore, compared in
// time that does not depend on where they differ.
async function probeTokenValid(presented) {
    let expected;
    try {
        expected = await kvs.get(PROBE_TOKEN_KEY);
    } catch (err) {
        return false;
    }
    if (typeof expected !== 'string' || expected.length < PROBE_TOKEN_MIN || presented.length !== expected.length) {
        return false;
    }
    let diff = 0;
    for (let i = 0; i < expected.length; i++) {
        diff |= expected.charCodeAt(i) ^ presented.charCodeAt(i);
    }
    return diff === 0;
}

async function handler(event) {
    const request = event.request;
    const probe = request.headers[PROBE_HEADER];
    const token = request.headers[PROBE_TOKEN_HEADER];
    delete request.headers[PROBE_HEADER];
    delete request.headers[PROBE_TOKEN_HEADER];
    if (probe && token && (probe.value === 'serverless' || probe.value === 'legacy')) {
        if (await probeTokenValid(token.value)) {
            if (probe.value === 'serverless') {
                cf.selectRequestOriginById(SERVERLESS_ORIGIN_ID);
            }
            return request;
        }
    }
    let value;
    try {
        value = await kvs.get(WEIGHT_KEY);
    } catch (err) {
        value = undefined;
    }
    const weight = parseWeight(value);
    if (weight === null) {
        if (WHEN_STORE_UNREADABLE === 'serverless') {
            cf.selectRequestOriginById(SERVERLESS_ORIGIN_ID);
        }
        return request;
    }
    if (weight > 0 && bucket(SALT, cohortKey(event)) < weight) {
        cf.selectRequestOriginById(SERVERLESS_ORIGIN_ID);
    }
    return request;
}
