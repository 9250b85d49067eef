'use strict';
// The cutover dashboard: the control API drawn. Live pages follow a
// cutover's SSE stream (read with fetch, so the token travels in a header)
// and re-read its series when the trail moves; a report carries its data
// inside the document and requests nothing.
(() => {
  const REPORT = JSON.parse(document.getElementById('report').textContent);
  const NS = 'http://www.w3.org/2000/svg';
  const main = document.getElementById('main');
  const conn = document.getElementById('conn');
  const TOKEN_KEY = 'cutover-token';

  // ---- DOM --------------------------------------------------------------
  function set(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
  }
  function add(e, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k === null || k === undefined || k === false) continue;
      e.append(k instanceof Node ? k : String(k));
    }
  }
  const el = (tag, attrs, ...kids) => { const e = document.createElement(tag); set(e, attrs); add(e, kids); return e; };
  // Replaces an element's children; null and false leave nothing (where
  // replaceChildren would write "null").
  const fill = (e, ...kids) => { e.replaceChildren(); add(e, kids); return e; };
  const sv = (tag, attrs, ...kids) => { const e = document.createElementNS(NS, tag); set(e, attrs); add(e, kids); return e; };

  // ---- figures, each at one precision everywhere -------------------------
  const fmt = {
    weight: bps => bps == null ? '–' : `${+(bps / 100).toFixed(2)} %`,
    ms: v => v == null ? '–' : `${v.toFixed(1)} ms`,
    err: v => v == null ? '–' : `${v.toFixed(2)} %`,
    num: v => v == null ? '–' : v.toLocaleString('en-US'),
    e: v => v == null ? '–' : v >= 1e4 ? v.toExponential(1) : v >= 100 ? v.toFixed(0) : v.toPrecision(3),
    usd: v => v == null ? '–' : v >= 100 ? `$${v.toFixed(0)}` : v >= 1 ? `$${v.toFixed(2)}` : `$${v.toFixed(4)}`,
    span(ms) {
      if (ms == null || !isFinite(ms)) return '–';
      const s = Math.max(0, Math.round(ms / 1000));
      const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
      if (d) return `${d}d${h}h`;
      if (h) return `${h}h${String(m).padStart(2, '0')}m`;
      if (m) return `${m}m${String(s % 60).padStart(2, '0')}s`;
      return `${s}s`;
    },
    unit: (v, unit) => v == null ? '–' : `${+v.toFixed(3)}${unit === 'percent' ? ' %' : ` ${unit}`}`,
    time: ms => new Date(ms).toISOString().replace('.000Z', 'Z'),
    phase: v => v.phase.replace('_', ' ') + (v.reason ? ` (${v.reason})` : ''),
  };
  const SYMBOL = { pass: '✓', fail: '✗', error: '!', inconclusive: '…' };
  const verdict = v => el('span', { class: `badge v-${v}`, 'data-verdict': v }, `${SYMBOL[v] || ''} ${v}`);
  const TERMINAL = new Set(['rolled_back', 'completed', 'aborted']);

  // ---- the API -----------------------------------------------------------
  const token = () => sessionStorage.getItem(TOKEN_KEY);
  async function api(path, opts = {}) {
    const headers = { accept: 'application/json', ...(opts.headers || {}) };
    if (token()) headers.authorization = `Bearer ${token()}`;
    const res = await fetch(path, { ...opts, headers, cache: 'no-store' });
    const json = (res.headers.get('content-type') || '').includes('json');
    const body = json ? await res.json() : await res.text();
    if (!res.ok) {
      const err = new Error((json && body.detail) || `${res.status} ${res.statusText}`);
      err.status = res.status;
      throw err;
    }
    return body;
  }
  const enc = encodeURIComponent;

  // A cutover's SSE stream, reconnecting by itself (1 s, doubling to 10 s)
  // and resuming after the last event it saw.
  function follow(id, onEvent, onStatus) {
    let stopped = false, last = null, delay = 1000, ctrl = null, stall = null;
    (async () => {
      while (!stopped) {
        ctrl = new AbortController();
        try {
          const headers = { accept: 'text/event-stream' };
          if (token()) headers.authorization = `Bearer ${token()}`;
          if (last) headers['last-event-id'] = last;
          const res = await fetch(`/v1/cutovers/${enc(id)}/stream`, { headers, signal: ctrl.signal, cache: 'no-store' });
          if (res.status === 401 || res.status === 403) { onStatus('auth'); return; }
          if (!res.ok) throw new Error(`stream: ${res.status}`);
          onStatus('live');
          delay = 1000;
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = '', carry = '';
          // The daemon sends a keep-alive every 15 s: 45 s of silence is a
          // connection gone quiet (a laptop asleep, a NAT's timeout), not
          // a quiet cutover, so reconnect rather than show stale numbers as live.
          const alive = () => { clearTimeout(stall); stall = setTimeout(() => ctrl.abort(), 45000); };
          alive();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            alive();
            // A CR at the end of a chunk may be half of a CRLF: keep it for the next.
            let text = carry + value;
            carry = text.endsWith('\r') ? '\r' : '';
            if (carry) text = text.slice(0, -1);
            buf += text.replace(/\r\n?/g, '\n');
            let end;
            while ((end = buf.indexOf('\n\n')) >= 0) {
              const block = buf.slice(0, end);
              buf = buf.slice(end + 2);
              let event = 'message', data = [], eid = null;
              for (const line of block.split('\n')) {
                const colon = line.indexOf(':');
                if (colon === 0) continue;
                const field = colon < 0 ? line : line.slice(0, colon);
                const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
                if (field === 'event') event = val;
                else if (field === 'data') data.push(val);
                else if (field === 'id') eid = val;
              }
              if (eid) last = eid;
              if (data.length) onEvent(event, data.join('\n'));
            }
          }
        } catch (e) {
          if (stopped) return;
        }
        clearTimeout(stall);
        if (stopped) return;
        onStatus('down', delay);
        await new Promise(r => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10000);
      }
    })();
    return () => { stopped = true; clearTimeout(stall); if (ctrl) ctrl.abort(); };
  }

  function status(state, delay) {
    conn.className = 'conn ' + (state === 'live' ? 'live' : state === 'down' ? 'down' : '');
    conn.textContent = state === 'live' ? 'live'
      : state === 'down' ? `disconnected: reconnecting in ${Math.round(delay / 1000)} s`
      : state === 'auth' ? 'not allowed: give a token' : state;
  }

  // ---- charts ------------------------------------------------------------
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  function hourTicks(x0, x1) {
    const span = (x1 - x0) / 3.6e6;
    const steps = [1 / 60, 5 / 60, 15 / 60, 0.5, 1, 2, 3, 6, 12, 24, 48, 168];
    const step = steps.find(s => span / s <= 8) || 336;
    const out = [];
    for (let h = 0; h <= span + 1e-9; h += step) out.push(x0 + h * 3.6e6);
    return { out, step };
  }
  const hoursLabel = (ms, step) => step < 1 ? `${Math.round(ms / 60000)}m` : `${+(ms / 3.6e6).toFixed(1)}h`;

  // Lines over the cutover's hours: `lines` are {cls, xs, ys, dash, w, label,
  // step}; `marks` are vertical lines with a label; `readout(x)` says what
  // is under the pointer.
  function chart({ title, x0, x1, yMax, unit, lines, marks = [], readout, height = 190, wide = false }) {
    // Half the page on a wide screen (two charts a row) unless `wide`; all of it on a narrow one.
    const width = Math.max(280, Math.floor(main.clientWidth > 900 ? (main.clientWidth - 60) / (wide ? 1 : 2) : main.clientWidth - 40));
    const m = { l: 48, r: 10, t: 18, b: 22 };
    const iw = width - m.l - m.r, ih = height - m.t - m.b;
    const X = t => m.l + (t - x0) / ((x1 - x0) || 1) * iw;
    const Y = v => m.t + ih - Math.min(v, yMax) / yMax * ih;
    const s = sv('svg', { class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title });
    for (let i = 0; i <= 4; i++) {
      const v = yMax * i / 4;
      s.append(sv('line', { class: 'axis', x1: m.l, x2: width - m.r, y1: Y(v), y2: Y(v) }),
        sv('text', { class: 'tick', x: m.l - 4, y: Y(v) + 4, 'text-anchor': 'end', text: `${+v.toFixed(2)}${unit}` }));
    }
    const { out, step } = hourTicks(x0, x1);
    for (const t of out) s.append(sv('text', { class: 'tick', x: X(t), y: height - 6, 'text-anchor': 'middle', text: hoursLabel(t - x0, step) }));
    let lastLabel = { x: -Infinity, row: 0 };
    for (const mk of marks) {
      s.append(sv('line', { class: mk.soft ? 'mark-soft' : 'mark', x1: X(mk.at), x2: X(mk.at), y1: m.t, y2: m.t + ih, 'stroke-dasharray': mk.soft ? '2 3' : null }));
      if (!mk.label) continue;
      // Labels close together go on the next row down instead of on top of each other.
      const row = X(mk.at) - lastLabel.x < 110 ? (lastLabel.row + 1) % 4 : 0;
      lastLabel = { x: X(mk.at), row };
      s.append(sv('text', { class: 'marktext', x: X(mk.at) + 3, y: m.t - 5 + row * 12, text: mk.label }));
    }
    const ends = [];
    for (const line of lines) {
      let pts = [];
      const flush = () => { if (pts.length) s.append(sv('polyline', { class: line.cls, points: pts.join(' '), 'stroke-width': line.w || 1.5, 'stroke-dasharray': line.dash || null, 'stroke-linejoin': 'round' })); pts = []; };
      let prev = null, lastPt = null;
      for (let i = 0; i < line.xs.length; i++) {
        const y = line.ys[i];
        if (y == null) { flush(); prev = null; continue; }
        const px = X(line.xs[i]).toFixed(1), py = Y(y).toFixed(1);
        if (line.step && prev) pts.push(`${px},${prev}`);
        pts.push(`${px},${py}`);
        prev = py; lastPt = [px, py];
      }
      flush();
      if (lastPt && line.label) ends.push({ y: +lastPt[1], x: +lastPt[0], line });
    }
    ends.sort((a, b) => a.y - b.y);
    for (let i = 1; i < ends.length; i++) ends[i].y = Math.max(ends[i].y, ends[i - 1].y + 12);
    for (const end of ends) {
      // Left of the line's end when it fits there, else right of it.
      const left = end.x - 2 - end.line.label.length * 6 >= m.l;
      s.append(sv('text', { class: end.line.cls, x: left ? end.x - 2 : end.x + 4, y: end.y - 4, 'text-anchor': left ? 'end' : 'start', text: end.line.label }));
    }
    const legend = el('div', { class: 'legend' }, lines.map(line => el('span', {},
      sv('svg', { width: 28, height: 10 }, sv('line', { class: line.cls, x1: 0, x2: 28, y1: 5, y2: 5, 'stroke-width': line.w || 1.5, 'stroke-dasharray': line.dash || null })),
      ' ', line.label)));
    const out2 = el('div', { class: 'readout', 'aria-live': 'off' });
    if (readout) {
      const cursor = sv('line', { class: 'cursor', y1: m.t, y2: m.t + ih, x1: -10, x2: -10 });
      s.append(cursor);
      const move = ev => {
        const r = s.getBoundingClientRect();
        const px = (ev.touches ? ev.touches[0].clientX : ev.clientX) - r.left;
        const t = x0 + (px - m.l) / iw * (x1 - x0);
        const said = readout(t);
        if (said) { cursor.setAttribute('x1', said.x != null ? X(said.x) : px); cursor.setAttribute('x2', said.x != null ? X(said.x) : px); out2.textContent = said.text; }
      };
      s.addEventListener('mousemove', move);
      s.addEventListener('touchmove', move, { passive: true });
    }
    return el('div', {}, s, legend, out2);
  }

  // The index of the last x at or before t (binary search).
  function at(xs, t) {
    let lo = 0, hi = xs.length - 1, found = -1;
    while (lo <= hi) { const mid = (lo + hi) >> 1; if (xs[mid] <= t) { found = mid; lo = mid + 1; } else hi = mid - 1; }
    return found;
  }

  // ---- one cutover ---------------------------------------------------------
  function cutoverPage(id, data) {
    const report = !!data;
    let view = data ? data.view : null, series = data ? data.series : null, who = null;
    let milestones = true, stopped = false, fetching = false, again = false, unfollow = null;
    const part = name => el('section', { class: 'card', 'data-part': name });
    // The head is redrawn with every state; its buttons only when the
    // commands they offer change (see actions()).
    const headBody = el('div'), actionsBox = el('div');
    const P = {
      head: el('section', { class: 'card wide', 'data-part': 'head' }, headBody, actionsBox),
      weight: el('section', { class: 'card wide', 'data-part': 'weight' }),
      latency: part('latency'), errors: part('errors'),
      checks: el('section', { class: 'card wide', 'data-part': 'checks' }),
      hops: part('hops'), cost: part('cost'),
      steps: el('section', { class: 'card wide', 'data-part': 'steps' }),
      events: el('section', { class: 'card wide', 'data-part': 'events' }),
    };
    const grid = el('div', { class: 'grid' }, Object.values(P));
    if (report) grid.append(el('section', { class: 'card wide', 'data-part': 'plan' }, el('h2', { text: 'The plan' }),
      el('p', { class: 'note', text: `sha256 ${view.plan_sha256 || '–'}` }), el('pre', { class: 'plan', text: data.plan })));
    fill(main, grid);

    function drawHead() {
      if (!view) return;
      const a = view.analysis;
      const next = TERMINAL.has(view.phase) ? '–' : view.next_weight_bps != null ? fmt.weight(view.next_weight_bps) : 'last step';
      const due = view.next_step_at ? Date.parse(view.next_step_at) - Date.now() : null;
      const edge = view.edge_weight_bps === view.weight_bps ? 'confirmed by the edge'
        : view.edge_weight_bps == null ? 'the edge has not confirmed it' : `the edge holds ${fmt.weight(view.edge_weight_bps)}`;
      const side = (name, s) => el('tr', {}, el('th', { scope: 'row', text: name }),
        el('td', { class: 'n', 'data-field': `${name}-requests`, text: fmt.num(s.requests) }),
        el('td', { class: 'n', 'data-field': `${name}-p50`, text: fmt.ms(s.p50_ms) }),
        el('td', { class: 'n', 'data-field': `${name}-p99`, text: fmt.ms(s.p99_ms) }),
        el('td', { class: 'n', 'data-field': `${name}-errors`, text: fmt.err(s.error_percent) }));
      fill(headBody, 
        el('h1', {}, `${view.id} `, el('span', { class: `badge p-${view.phase}`, 'data-field': 'phase', text: fmt.phase(view) })),
        el('div', { class: 'summary' },
          el('div', { class: 'kv' }, el('span', { text: 'weight on serverless' }), el('span', { class: 'big', 'data-field': 'weight', text: fmt.weight(view.weight_bps) }), el('span', { class: 'muted', text: edge })),
          el('div', { class: 'kv' }, el('span', { text: 'step' }), el('span', { class: 'big', 'data-field': 'step', text: `${view.step} / ${view.steps}` })),
          el('div', { class: 'kv' }, el('span', { text: 'next step' }), el('span', { class: 'big', 'data-field': 'next', text: next }),
            el('span', { class: 'muted', 'data-field': 'due', text: report || TERMINAL.has(view.phase) ? '' : due == null ? 'once confirmed and held' : due > 0 ? `in ${fmt.span(due)} at the earliest` : 'due: waiting for a passing analysis' })),
          el('div', { class: 'kv' }, el('span', { text: 'latest verdict' }), a ? el('span', { 'data-field': 'verdict' }, verdict(a.verdict)) : el('span', { class: 'muted', text: 'no analysis of this step yet' }),
            a ? el('span', { class: 'muted', text: a.shared_failure ? `shared failure: ${a.shared_failure}` : `at ${a.at}` }) : null)),
        view.speed !== 1 ? el('p', { class: 'note', text: `A rehearsal: its clock runs ${view.speed}× real time; charts show the cutover's own hours.` }) : null,
        a ? el('div', { class: 'scroll' }, el('table', { 'aria-label': 'before and after, this step so far' },
          el('thead', {}, el('tr', {}, el('th', { text: 'this step so far' }), el('th', { class: 'n', text: 'requests' }), el('th', { class: 'n', text: 'p50' }), el('th', { class: 'n', text: 'p99' }), el('th', { class: 'n', text: 'errors' }))),
          el('tbody', {}, side('legacy', a.legacy), side('serverless', a.serverless)))) : null);
      actions();
      drawChecks();
    }

    // The buttons are drawn again only when the commands they offer change:
    // a redraw between a press and its release (a state every quarter
    // second in a rehearsal) would otherwise swallow the click.
    let drawnFor = null;
    function actions() {
      const key = report || !who || who.role === 'viewer' || TERMINAL.has(view.phase) ? null
        : JSON.stringify([view.id, view.phase, view.step, view.weight_bps, view.next_weight_bps]);
      if (key === drawnFor) return;
      drawnFor = key;
      fill(actionsBox, key === null ? null : buttons());
    }

    function buttons() {
      const can = {
        pause: view.phase === 'progressing',
        resume: view.phase === 'paused',
        promote: view.phase === 'progressing' || view.phase === 'paused',
        rollback: view.phase !== 'rolling_back',
      };
      const words = {
        pause: `Hold ${view.id} at ${fmt.weight(view.weight_bps)}? Rollbacks still happen while it is paused.`,
        resume: `Resume ${view.id} from step ${view.step}?`,
        promote: `Skip the rest of step ${view.step}'s hold and go to ${fmt.weight(view.next_weight_bps)}? A failing analysis still stops it.`,
        rollback: `Roll ${view.id} back: every user goes to the legacy side (weight 0 %).`,
      };
      return el('div', { class: 'actions', 'data-part': 'actions' }, Object.keys(can).filter(c => can[c]).map(c =>
        el('button', { type: 'button', 'data-command': c, class: c === 'rollback' ? 'danger' : null, onclick: () => ask(c, words[c]) }, c)));
    }

    function ask(command, what) {
      const dialog = document.getElementById('confirm');
      const form = document.getElementById('confirm-form');
      const reason = document.getElementById('confirm-reason');
      const error = document.getElementById('confirm-error');
      document.getElementById('confirm-title').textContent = `${command[0].toUpperCase()}${command.slice(1)} ${view.id}`;
      document.getElementById('confirm-what').textContent = what;
      const ok = document.getElementById('confirm-ok');
      ok.textContent = `Confirm ${command}`;
      ok.className = command === 'rollback' ? 'danger' : '';
      reason.value = ''; error.textContent = '';
      form.onsubmit = async ev => {
        ev.preventDefault();
        if (!reason.value.trim()) { error.textContent = 'Say why: the reason goes into the audit trail.'; return; }
        ok.disabled = true;
        try {
          const r = await api(`/v1/cutovers/${enc(id)}/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ command, reason: reason.value.trim() }) });
          dialog.close();
          conn.textContent = `${command} sent by ${r.actor} (inbox #${r.seq}); the trail shows what the controller does`;
        } catch (e) { error.textContent = e.message; } finally { ok.disabled = false; }
      };
      document.getElementById('confirm-cancel').onclick = () => dialog.close();
      dialog.showModal();
      reason.focus();
    }

    function drawChecks() {
      const a = view && view.analysis;
      if (!a) { fill(P.checks, el('h2', { text: 'Checks' }), el('p', { class: 'muted', text: 'No analysis of this step yet.' })); return; }
      const rows = a.checks.map(c => {
        const share = c.e_value != null && c.e_threshold > 1 ? Math.max(0, Math.min(1, Math.log(Math.max(c.e_value, 1)) / Math.log(c.e_threshold))) : null;
        const bar = share == null ? '–' : el('div', { class: `bar${c.verdict === 'fail' ? ' fail' : ''}`, role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 1, 'aria-valuenow': share.toFixed(2), title: `${Math.round(share * 100)} % of the way to failing (log scale)` }, (() => { const s = el('span'); s.style.width = `${share * 100}%`; return s; })());
        return el('tr', { 'data-check': c.check },
          el('td', {}, c.check, c.critical ? el('span', { class: 'muted', text: ' · critical' }) : null),
          el('td', {}, verdict(c.verdict)),
          el('td', { class: 'n', text: fmt.unit(c.legacy, c.unit) }),
          el('td', { class: 'n', text: fmt.unit(c.serverless, c.unit) }),
          el('td', { class: 'n', text: fmt.unit(c.limit, c.unit) }),
          el('td', { class: 'n', 'data-field': 'e-value', text: `${fmt.e(c.e_value)} / ${fmt.e(c.e_threshold)}` }),
          el('td', {}, bar),
          el('td', { class: 'n', text: `${fmt.num(c.samples_legacy)} / ${fmt.num(c.samples_serverless)}` }),
          el('td', { class: 'hide-narrow', text: c.reason }));
      });
      fill(P.checks, el('h2', { text: 'Checks: the latest verdict of each' }),
        el('div', { class: 'scroll' }, el('table', {},
          el('thead', {}, el('tr', {}, ['check', 'verdict', 'legacy', 'serverless', 'limit', 'e-value / fails at', 'evidence', 'samples old / new', 'why'].map((h, i) => el('th', { class: i >= 2 && i <= 5 || i === 7 ? 'n' : i === 8 ? 'hide-narrow' : null, text: h })))),
          el('tbody', {}, rows))),
        el('p', { class: 'note', text: 'The e-value is the evidence against "the new side is no worse"; a check fails when it reaches its threshold. The bar is how far it is on a log scale.' }));
    }

    function drawSeries() {
      if (!series) return;
      const S = series, A = S.analyses;
      const x0 = S.started_ms ?? A.at_ms[0] ?? S.last_ms ?? Date.now();
      const planEnd = S.planned.length ? S.planned[S.planned.length - 1].at_ms : x0;
      const x1 = Math.max(planEnd, S.last_ms ?? x0, x0 + 60000);
      // Rollbacks, pauses, drift and aborts are drawn loud and named (in
      // words, not colour alone); the rest are faint ticks.
      const NAMED = { rollback_started: 'rollback', paused: 'paused', edge_drift: 'drift', aborted: 'aborted' };
      const marks = S.marks.filter(mk => mk.event !== 'started' || mk.at_ms > x0).map(mk => {
        const loud = mk.event in NAMED || mk.event === 'rolled_back';
        const label = NAMED[mk.event] ? NAMED[mk.event] + (mk.actor !== 'controller' ? ` by ${mk.actor}` : '') : null;
        return { at: mk.at_ms, soft: !loud, label };
      });
      const weightXs = S.weight.map(p => p.at_ms), weightYs = S.weight.map(p => p.bps / 100);
      if (S.weight.length && S.last_ms != null) { weightXs.push(S.last_ms); weightYs.push(weightYs[weightYs.length - 1]); }
      const rel = t => fmt.span(t - x0);
      fill(P.weight, el('h2', { text: 'Weight on serverless: planned and at the edge' }), chart({
        title: 'weight', x0, x1, yMax: 100, unit: '%', height: 170, marks, wide: true,
        lines: [
          { cls: 'planned', xs: S.planned.map(p => p.at_ms), ys: S.planned.map(p => p.bps / 100), step: true, dash: '6 4', label: 'planned' },
          { cls: 'serverless', xs: weightXs, ys: weightYs, step: true, w: 2.5, label: 'at the edge' },
        ],
        readout: t => {
          const i = at(weightXs, t); if (i < 0) return null;
          const mk = S.marks.filter(m => Math.abs(m.at_ms - t) < (x1 - x0) / 100).map(m => ` · ${m.text}`).join('');
          return { text: `+${rel(t)}: ${weightYs[i]} % at the edge${mk}` };
        },
      }));
      const last = xs => xs.length ? xs[xs.length - 1] : null;
      const maxOf = (...cols) => Math.max(0, ...cols.flat().filter(v => v != null));
      const pick = t => { const i = at(A.at_ms, t); return i < 0 ? null : i; };
      fill(P.latency, el('h2', { text: 'Latency: p50 and p99, both sides' }), chart({
        title: 'latency', x0, x1, unit: ' ms', marks, yMax: niceMax(maxOf(A.legacy_p99_ms, A.serverless_p99_ms, A.legacy_p50_ms, A.serverless_p50_ms) * 1.05),
        lines: [
          { cls: 'legacy', xs: A.at_ms, ys: A.legacy_p99_ms, w: 2.5, label: 'legacy p99' },
          { cls: 'serverless', xs: A.at_ms, ys: A.serverless_p99_ms, w: 2.5, dash: '7 4', label: 'serverless p99' },
          { cls: 'legacy', xs: A.at_ms, ys: A.legacy_p50_ms, w: 1.2, label: 'legacy p50' },
          { cls: 'serverless', xs: A.at_ms, ys: A.serverless_p50_ms, w: 1.2, dash: '3 3', label: 'serverless p50' },
        ],
        readout: t => { const i = pick(t); if (i == null) return null; return { x: A.at_ms[i], text: `+${rel(A.at_ms[i])} step ${A.step[i]} (${fmt.weight(A.weight_bps[i])}): p50 ${fmt.ms(A.legacy_p50_ms[i])} → ${fmt.ms(A.serverless_p50_ms[i])}, p99 ${fmt.ms(A.legacy_p99_ms[i])} → ${fmt.ms(A.serverless_p99_ms[i])}, ${A.verdict[i]}` }; },
      }), el('p', { class: 'note', text: 'Each point is the step so far, as the judge compared it. Legacy solid, serverless dashed; p99 thick, p50 thin.' }));
      fill(P.errors, el('h2', { text: 'Errors (5xx), both sides' }), chart({
        title: 'errors', x0, x1, unit: ' %', marks, yMax: niceMax(Math.max(0.5, maxOf(A.legacy_error_percent, A.serverless_error_percent) * 1.1)),
        lines: [
          { cls: 'legacy', xs: A.at_ms, ys: A.legacy_error_percent, w: 2, label: 'legacy' },
          { cls: 'serverless', xs: A.at_ms, ys: A.serverless_error_percent, w: 2, dash: '7 4', label: 'serverless' },
        ],
        readout: t => { const i = pick(t); if (i == null) return null; return { x: A.at_ms[i], text: `+${rel(A.at_ms[i])} step ${A.step[i]}: ${fmt.err(A.legacy_error_percent[i])} of ${fmt.num(A.legacy_requests[i])} → ${fmt.err(A.serverless_error_percent[i])} of ${fmt.num(A.serverless_requests[i])}` }; },
      }), el('p', { class: 'note', 'data-field': 'analyses', 'data-count': A.at_ms.length, text: `${fmt.num(A.at_ms.length)} analyses; the newest ${last(A.at_ms) != null ? `at +${rel(last(A.at_ms))}` : '–'}.` }));
      drawHops(); drawCost(); drawSteps(); drawEvents();
    }

    function drawHops() {
      const H = series.hops;
      const sides = [['legacy', H.legacy], ['serverless', H.serverless]];
      const scale = niceMax(Math.max(1, ...sides.flatMap(([, s]) => s.hops.map(h => h.p99_ms ?? h.p50_ms ?? 0))));
      const unitOf = h => h.source === 'xray' ? 'traces' : h.source === 'probes' ? 'probes' : 'requests';
      const x0 = series.started_ms ?? 0;
      const body = sides.map(([name, side]) => el('div', { 'data-side': name },
        el('h3', { class: name, text: `${name}: ${side.hops.length ? side.hops.map(h => h.name).join(' › ') : 'no hops measured yet'}` }),
        side.hops.map(h => {
          const w = 100, x = v => (v ?? 0) / scale * w;
          return el('div', { class: 'hop', 'data-hop': h.name },
            el('span', { class: 'name', title: `${h.name} (${h.source})`, text: `${'  '.repeat(h.depth)}${h.depth ? '› ' : ''}${h.name}` }),
            el('div', {},
              sv('svg', { viewBox: `0 0 ${w} 12`, preserveAspectRatio: 'none', 'aria-hidden': 'true' },
                sv('rect', { x: 0, y: 2, width: x(h.p50_ms), height: 8, class: `bar-${name}` }),
                h.p99_ms != null ? sv('line', { x1: x(h.p50_ms), x2: x(h.p99_ms), y1: 6, y2: 6, class: name, 'stroke-width': 1.5, 'vector-effect': 'non-scaling-stroke' }) : null),
              el('div', { class: 'muted', text: `p50 ${fmt.ms(h.p50_ms)} · p99 ${fmt.ms(h.p99_ms)} · ${fmt.num(h.samples)} ${unitOf(h)}` })));
        }),
        side.at_ms != null ? el('p', { class: 'note', text: `From the analysis at +${fmt.span(side.at_ms - x0)}.` }) : null));
      fill(P.hops, el('h2', { text: 'Where the time goes (hops, p50 bar to p99 whisker)' }), body,
        el('p', { class: 'note', text: `Scale 0–${scale} ms; serverless bars hatched. Probes give the edge hop in AWS mode, CloudWatch and X-Ray the rest; locally the edge and the origins' Server-Timing.` }));
    }

    function drawCost() {
      const C = series.cost;
      const saving = C.month_legacy_usd > 0 && C.month_serverless_usd != null ? C.month_legacy_usd - C.month_serverless_usd : null;
      fill(P.cost, el('h2', { text: 'Cost of each side' }),
        el('table', {},
          el('thead', {}, el('tr', {}, el('th', { text: '' }), el('th', { class: 'n', text: 'legacy' }), el('th', { class: 'n', text: 'serverless' }))),
          el('tbody', {},
            el('tr', {}, el('th', { scope: 'row', text: 'requests served' }), el('td', { class: 'n', text: fmt.num(C.legacy_requests) }), el('td', { class: 'n', text: fmt.num(C.serverless_requests) })),
            el('tr', {}, el('th', { scope: 'row', text: `cost over ${fmt.span(C.hours * 3.6e6)}` }), el('td', { class: 'n', 'data-field': 'cost-legacy', text: fmt.usd(C.legacy_usd) }), el('td', { class: 'n', 'data-field': 'cost-serverless', text: fmt.usd(C.serverless_usd) })),
            el('tr', {}, el('th', { scope: 'row', text: 'a month of all this traffic' }), el('td', { class: 'n', text: fmt.usd(C.month_legacy_usd) }), el('td', { class: 'n', text: fmt.usd(C.month_serverless_usd) })))),
        el('p', { 'data-field': 'saving', text: saving == null ? 'Not enough traffic measured yet to project a month.' : saving >= 0 ? `All on serverless would save ${fmt.usd(saving)} a month (${Math.round(saving / C.month_legacy_usd * 100)} % of the fleet).` : `All on serverless would cost ${fmt.usd(-saving)} a month more than the fleet.` }),
        el('p', { class: 'note', text: `From the plan's [costs]: API Gateway $${C.prices.api_gateway_per_million}/M, Lambda $${C.prices.lambda_per_million}/M + $${C.prices.lambda_gb_second}/GB-s at ${C.prices.lambda_memory_mb} MB, ${C.lambda_ms != null ? `${C.lambda_ms} ms billed per request (${C.lambda_ms_from})` : 'no Lambda duration measured yet'}; the fleet $${C.prices.legacy_per_hour}/h whatever its share.` }));
    }

    function drawSteps() {
      const x0 = series.started_ms ?? 0;
      const both = (l, s, f) => `${f(l)} → ${f(s)}`;
      fill(P.steps, el('h2', { text: 'Before and after, step by step (each step\'s last analysis)' }),
        el('div', { class: 'scroll' }, el('table', {},
          el('thead', {}, el('tr', {}, ['step', 'weight', 'from', 'for', 'requests old / new', 'p50 old → new', 'p99 old → new', 'errors old → new', 'verdict', 'decision'].map((h, i) => el('th', { class: i >= 1 && i <= 7 ? 'n' : null, text: h })))),
          el('tbody', {}, series.steps.map(r => el('tr', { 'data-step': r.step },
            el('td', { text: r.step }), el('td', { class: 'n', text: fmt.weight(r.weight_bps) }),
            el('td', { class: 'n', text: `+${fmt.span(r.from_ms - x0)}` }), el('td', { class: 'n', text: fmt.span(r.to_ms - r.from_ms) }),
            el('td', { class: 'n', text: `${fmt.num(r.legacy.requests)} / ${fmt.num(r.serverless.requests)}` }),
            el('td', { class: 'n', text: both(r.legacy.p50_ms, r.serverless.p50_ms, fmt.ms) }),
            el('td', { class: 'n', text: both(r.legacy.p99_ms, r.serverless.p99_ms, fmt.ms) }),
            el('td', { class: 'n', text: both(r.legacy.error_percent, r.serverless.error_percent, fmt.err) }),
            el('td', {}, verdict(r.verdict)), el('td', { text: r.decision })))))));
    }

    function drawEvents() {
      const C = series.chain;
      const shown = series.events.filter(e => !milestones || e.milestone).reverse();
      const toggle = el('label', {}, el('input', { type: 'checkbox', checked: milestones, onchange: ev => { milestones = ev.target.checked; drawEvents(); } }), ' only milestones (no intents, no analyses that held)');
      toggle.firstChild.style.width = 'auto';
      fill(P.events, el('h2', { text: 'Audit trail, newest first' }),
        el('p', { 'data-field': 'chain', class: C.intact ? 'chain-ok' : 'chain-broken', title: `head ${C.head}`,
          text: C.intact ? `hash chain intact: ${fmt.num(C.events)} events, head ${C.head.slice(0, 16)}…` : `hash chain BROKEN: ${C.problem}` }),
        report ? null : toggle,
        el('div', { class: 'events' }, el('table', {},
          el('thead', {}, el('tr', {}, el('th', { text: 'at' }), el('th', { text: 'by' }), el('th', { text: 'event' }))),
          el('tbody', {}, shown.map(e => el('tr', { 'data-event': e.event, 'data-place': e.place },
            el('td', { text: fmt.time(e.at_ms) }), el('td', { text: e.actor }), el('td', { text: e.text })))))),
        series.events_omitted ? el('p', { class: 'note', text: `${fmt.num(series.events_omitted)} older events: cutover history ${series.id}` }) : null);
    }

    async function refresh() {
      if (fetching) { again = true; return; }
      fetching = true;
      try {
        do {
          again = false;
          series = await api(`/v1/cutovers/${enc(id)}/series`);
          if (!stopped) drawSeries();
        } while (again && !stopped);
      } catch (e) { if (!stopped) status(`could not read the series: ${e.message}`); } finally { fetching = false; }
    }

    let resizeTimer = null;
    const onResize = () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(drawSeries, 150); };
    window.addEventListener('resize', onResize);
    let tick = null;
    if (report) {
      status(`report, written ${data.generated_at}`);
      drawHead(); drawSeries();
      performance.mark('cutover:drawn');
    } else {
      Promise.all([api('/v1/whoami').catch(() => null), api(`/v1/cutovers/${enc(id)}`), api(`/v1/cutovers/${enc(id)}/series`)])
        .then(([w, v, s]) => {
          if (stopped) return;
          who = w; view = v; series = s;
          drawHead(); drawSeries();
          performance.mark('cutover:drawn');
          // A state frame redraws the head; the series is read again when
          // the trail moved (every change of state comes with its events).
          unfollow = follow(id, (event, body) => {
            if (stopped) return;
            if (event === 'state') { view = JSON.parse(body); drawHead(); }
            if (event === 'audit') refresh();
          }, status);
          tick = setInterval(() => { const due = P.head.querySelector('[data-field=due]'); if (due && view.next_step_at && !TERMINAL.has(view.phase)) { const left = Date.parse(view.next_step_at) - Date.now(); due.textContent = left > 0 ? `in ${fmt.span(left)} at the earliest` : 'due: waiting for a passing analysis'; } }, 1000);
        })
        .catch(e => { if (!stopped) failed(e); });
    }
    return { stop() { stopped = true; if (unfollow) unfollow(); clearInterval(tick); clearTimeout(resizeTimer); window.removeEventListener('resize', onResize); } };
  }

  // ---- the list of cutovers ---------------------------------------------------
  function listPage() {
    const stops = [];
    let stopped = false;
    api('/v1/cutovers').then(list => {
      if (stopped) return;
      const row = v => el('tr', { 'data-cutover': v.id },
        el('td', {}, el('a', { href: `#/cutovers/${enc(v.id)}`, text: v.id })),
        el('td', {}, el('span', { class: `badge p-${v.phase}`, text: fmt.phase(v) })),
        el('td', { class: 'n', text: fmt.weight(v.weight_bps) }),
        el('td', { class: 'n', text: `${v.step} / ${v.steps}` }),
        el('td', { class: 'n', text: v.next_step_at && !TERMINAL.has(v.phase) ? (() => { const left = Date.parse(v.next_step_at) - Date.now(); return left > 0 ? `${fmt.weight(v.next_weight_bps)} in ${fmt.span(left)}` : 'due'; })() : v.next_weight_bps == null ? 'last step' : '–' }),
        el('td', { class: 'hide-narrow', text: v.updated_at }));
      const body = el('tbody', {}, list.map(row));
      fill(main, el('section', { class: 'card' }, el('h1', { text: 'Cutovers' }),
        list.length ? el('div', { class: 'scroll' }, el('table', {},
          el('thead', {}, el('tr', {}, ['cutover', 'phase', 'weight', 'step', 'next step', 'updated'].map((h, i) => el('th', { class: i === 5 ? 'hide-narrow' : i >= 2 ? 'n' : null, text: h })))), body))
          : el('p', { class: 'muted', text: 'No cutovers yet: cutover start ID --plan plan.toml' })));
      // The first few active ones live (a browser keeps 6 connections a host).
      for (const v of list.filter(v => !TERMINAL.has(v.phase)).slice(0, 4)) {
        stops.push(follow(v.id, (event, data) => {
          if (event !== 'state') return;
          const fresh = JSON.parse(data);
          const old = body.querySelector(`[data-cutover="${CSS.escape(fresh.id)}"]`);
          if (old) old.replaceWith(row(fresh));
        }, status));
      }
      if (!stops.length) status('');
    }).catch(e => { if (!stopped) failed(e); });
    return { stop() { stopped = true; stops.forEach(s => s()); } };
  }

  function failed(e) {
    if (e.status === 401 || e.status === 403) return login(e.message);
    fill(main, el('p', { class: 'error', role: 'alert', text: e.message }));
  }

  function login(why) {
    const input = el('input', { type: 'password', id: 'token', autocomplete: 'off', required: true });
    fill(main, el('section', { class: 'card' }, el('h1', { text: 'A token, please' }),
      el('p', { class: 'muted', text: `${why}. Paste a token from the daemon's token file (a viewer's sees; an operator's can also pause and roll back). It stays in this tab only.` }),
      el('form', { onsubmit: ev => { ev.preventDefault(); sessionStorage.setItem(TOKEN_KEY, input.value.trim()); route(); } },
        el('label', { for: 'token', text: 'Token' }), input, el('div', { class: 'actions' }, el('button', { type: 'submit', text: 'Open' })))));
    input.focus();
  }

  // ---- routing: #/ lists, #/cutovers/ID shows one; ?token=... is kept in the tab ----
  let current = null;
  function route() {
    if (current) current.stop();
    const raw = location.hash.slice(1) || '/';
    const [path, query = ''] = raw.split('?');
    // Percent-decoded only (URLSearchParams would read a token's + as a space).
    const decode = v => { try { return decodeURIComponent(v); } catch (e) { return null; } };
    const pairs = query.split('&').filter(Boolean);
    const given = pairs.find(p => p.startsWith('token='));
    if (given) {
      const value = decode(given.slice(6));
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      const rest = pairs.filter(p => p !== given).join('&');
      history.replaceState(null, '', `#${path}${rest ? `?${rest}` : ''}`);
    }
    const m = path.match(/^\/cutovers\/([^/]+)$/);
    const id = m ? decode(m[1]) : null;
    current = id ? cutoverPage(id) : listPage();
    document.title = id ? `${id} · cutover` : 'cutover';
  }

  document.body.append(sv('svg', { width: 0, height: 0, 'aria-hidden': 'true' }, sv('defs', {},
    sv('pattern', { id: 'hatch', width: 4, height: 4, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
      sv('rect', { width: 4, height: 4, class: 'hatch-bg' }), sv('line', { x1: 0, y1: 0, x2: 0, y2: 4, class: 'hatch-line' })))));

  if (REPORT) {
    document.title = `${REPORT.view.id} · cutover report`;
    document.querySelector('.brand').removeAttribute('href');
    cutoverPage(REPORT.view.id, REPORT);
  } else {
    window.addEventListener('hashchange', route);
    route();
    api('/v1/whoami').then(w => { document.getElementById('who').textContent = `${w.name} · ${w.role}`; }).catch(() => {});
  }
})();
