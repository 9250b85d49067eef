// Runs the CloudFront Function (function.js) under Node.js with a stand-in
// for the `cloudfront` module, rendered the way Terraform's templatefile()
// renders it, and checks it against the shared vectors (vectors.json) and
// the fail-safe rules. Run: node infra/edge-function/test.mjs
// (the Rust test suite runs it: controller/aws/tests/edge_function.rs).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import vm from 'node:vm';
import assert from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
const vectors = JSON.parse(readFileSync(join(here, 'vectors.json'), 'utf8'));
const source = readFileSync(join(here, 'function.js'), 'utf8');

// Renders like templatefile(): every ${name} must have a value, and no
// other dollar-brace may appear (templatefile() would fail on it).
function render(vars) {
    assert.equal((source.match(/\$\{/g) || []).length, (source.match(/\$\{[a-z_]+\}/g) || []).length,
        'every dollar-brace is a template variable');
    return source.replace(/\$\{([a-z_]+)\}/g, (_, name) => {
        assert.ok(name in vars, 'template variable without a value: ' + name);
        return vars[name];
    });
}

// Loads the rendered function with a `cloudfront` module whose KVS answers
// with `kvsGet`; returns the handler, the bucket function and what the
// function selected.
function load(vars, kvsGet) {
    const selected = [];
    const cf = {
        kvs: () => ({ get: kvsGet }),
        selectRequestOriginById: (id) => selected.push(id),
    };
    const code = render(vars).replace("import cf from 'cloudfront';", '');
    assert.ok(!/\bimport\b/.test(code), 'the function imports only cloudfront');
    const context = vm.createContext({ cf, Buffer });
    vm.runInContext(code + '\n;globalThis.__exports = { handler, bucket, parseWeight };', context);
    return { ...context.__exports, selected };
}

const VARS = {
    weight_key: 'internal-api/weight',
    probe_token_key: 'internal-api/probe-token',
    when_store_unreadable: 'legacy',
    serverless_origin_id: 'api-gateway',
    salt: 'internal-api',
    cohort_header: 'x-user-id',
    cohort_cookie: '',
};

function event({ header, cookie, ip = '198.51.100.7', probe, token } = {}) {
    const headers = {};
    if (header !== undefined) headers['x-user-id'] = { value: header };
    if (probe !== undefined) headers['x-cutover-probe'] = { value: probe };
    if (token !== undefined) headers['x-cutover-probe-token'] = { value: token };
    const cookies = cookie === undefined ? {} : { session: { value: cookie } };
    return { request: { method: 'GET', uri: '/api/health', headers, cookies, querystring: {} }, viewer: { ip } };
}

async function route(vars, kvsGet, ev) {
    const fn = load(vars, kvsGet);
    const request = await fn.handler(ev);
    assert.equal(request, ev.request, 'the request passes on');
    assert.ok(fn.selected.length <= 1);
    return fn.selected.length === 1 ? fn.selected[0] : 'alb';
}

const weightIs = (value) => async (key) => {
    assert.equal(key, VARS.weight_key);
    return value;
};

const TOKEN = 'b5f1c0de9a7e4b2f8c3d6e1a0f9b8c7d';

// The weight and the probe token, each a value or a function that throws.
const store = (weight, token = TOKEN) => async (key) => {
    const value = key === VARS.weight_key ? weight : key === VARS.probe_token_key ? token : undefined;
    assert.ok(value !== undefined, 'an unexpected key: ' + key);
    if (typeof value === 'function') return value();
    return value;
};

let checks = 0;
async function check(name, body) {
    await body();
    checks++;
    console.log('ok ' + checks + ' - ' + name);
}

await check('buckets match the shared vectors', async () => {
    for (const v of vectors.buckets) {
        const { bucket } = load({ ...VARS, salt: v.salt }, weightIs('0'));
        assert.equal(bucket(v.salt, v.key), v.bucket, JSON.stringify(v));
    }
});

await check('weight -> side matches the shared vectors', async () => {
    const { bucket } = load(VARS, weightIs('0'));
    const keyFor = new Map();
    for (let i = 0; keyFor.size < vectors.sides.length && i < 1_000_000; i++) {
        const b = bucket(VARS.salt, 'k' + i);
        if (vectors.sides.some((s) => s.bucket === b) && !keyFor.has(b)) keyFor.set(b, 'k' + i);
    }
    for (const s of vectors.sides) {
        const key = keyFor.get(s.bucket);
        assert.ok(key, 'a key in bucket ' + s.bucket);
        const side = await route(VARS, weightIs(String(s.weight)), event({ header: key }));
        assert.equal(side === 'api-gateway' ? 'serverless' : 'legacy', s.side, JSON.stringify(s));
    }
});

await check('weights parse as the shared vectors say (as cutover_core::cohort::parse_weight)', async () => {
    const { parseWeight } = load(VARS, weightIs('0'));
    assert.ok(vectors.weights.length >= 20);
    for (const v of vectors.weights) {
        assert.equal(parseWeight(v.value), v.bps, JSON.stringify(v));
    }
});

await check('a missing key or a KVS error keeps the ALB', async () => {
    const missing = async () => { throw new Error('KeyNotFound'); };
    assert.equal(await route(VARS, missing, event({ header: 'user-1' })), 'alb');
    const failing = async () => { throw new Error('KVS unavailable'); };
    assert.equal(await route(VARS, failing, event({ header: 'user-1' })), 'alb');
});

await check('after completion, an unreadable weight sends everybody to API Gateway', async () => {
    const done = { ...VARS, when_store_unreadable: 'serverless' };
    const missing = async () => { throw new Error('KeyNotFound'); };
    for (const kvs of [missing, weightIs('garbage'), weightIs('10001')]) {
        assert.equal(await route(done, kvs, event({ header: 'user-1' })), 'api-gateway');
    }
    assert.equal(await route(done, weightIs('0'), event({ header: 'user-1' })), 'alb', 'a weight read is obeyed');
});

await check('a weight that is not a whole number 0..10000 keeps the ALB', async () => {
    for (const bad of ['', 'abc', '10001', '-1', '1.5', ' 5000', '5000 ', '1e4', '99999999', undefined, null]) {
        assert.equal(await route(VARS, weightIs(bad), event({ header: 'user-1' })), 'alb', String(bad));
    }
});

await check('10000 sends everybody to API Gateway, 0 nobody', async () => {
    for (let i = 0; i < 200; i++) {
        assert.equal(await route(VARS, weightIs('10000'), event({ header: 'u' + i })), 'api-gateway');
        assert.equal(await route(VARS, weightIs('0'), event({ header: 'u' + i })), 'alb');
    }
});

await check('the cohort key: header, then cookie, then viewer IP', async () => {
    // user-1 is bucket 4196, 198.51.100.7 is 1077 (vectors.json).
    const at = (w) => weightIs(String(w));
    assert.equal(await route(VARS, at(4197), event({ header: 'user-1' })), 'api-gateway');
    assert.equal(await route(VARS, at(4196), event({ header: 'user-1' })), 'alb');
    assert.equal(await route(VARS, at(1078), event({})), 'api-gateway', 'no header: the viewer IP');
    assert.equal(await route(VARS, at(1077), event({})), 'alb');
    const byCookie = { ...VARS, cohort_header: '', cohort_cookie: 'session' };
    assert.equal(await route(byCookie, at(4197), event({ cookie: 'user-1' })), 'api-gateway');
    assert.equal(await route(byCookie, at(4196), event({ cookie: 'user-1' })), 'alb');
});

await check('probes with the token pin themselves to a side', async () => {
    assert.equal(await route(VARS, store('0'), event({ probe: 'serverless', token: TOKEN })), 'api-gateway');
    assert.equal(await route(VARS, store('10000'), event({ probe: 'legacy', token: TOKEN })), 'alb');
});

await check('without the token a pin is ignored and the request bucketed', async () => {
    const down = () => { throw new Error('KVS unavailable'); };
    const cases = [
        ['no token', store('10000'), undefined],
        ['a wrong token', store('10000'), TOKEN.replace('b', 'c')],
        ['a prefix of the token', store('10000'), TOKEN.slice(0, 20)],
        ['no token in the store', store('10000', () => { throw new Error('KeyNotFound'); }), TOKEN],
        ['a stored token too short to trust', store('10000', 'short'), 'short'],
        ['an empty stored token', store('10000', ''), ''],
        ['the store down for the token', store('10000', down), TOKEN],
    ];
    for (const [name, kvs, token] of cases) {
        // At 100 % everybody is bucketed to API Gateway: a pin to the ALB that holds would show.
        assert.equal(await route(VARS, kvs, event({ header: 'user-1', probe: 'legacy', token })), 'api-gateway', name);
    }
    assert.equal(await route(VARS, store('0'), event({ probe: 'serverless' })), 'alb', 'no token at 0 %');
});

await check('neither probe header reaches an origin', async () => {
    for (const token of [TOKEN, 'wrong', undefined]) {
        const ev = event({ header: 'user-1', probe: 'serverless', token });
        await route(VARS, store('5000'), ev);
        assert.deepEqual(Object.keys(ev.request.headers), ['x-user-id'], String(token));
    }
});

console.log('1..' + checks);
