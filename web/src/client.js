// Client: everything known about one key. The decision and its buttons
// (its own, the one enforced on its requests and those of the keys that
// cover it -- read from the decision table every second, so an engine
// block shows without a reload),
// each detector's features against their thresholds (a bar per feature,
// the threshold marked), the score over time (its incidents plus the live
// score), the request timeline (a point per request, coloured by status
// class), sample requests, related keys, the member addresses of an
// aggregate key (a swarm) and the decision history. Each
// block loads on its own, so a missing endpoint leaves the others intact.
import { h, replace, state, api, qs, num, fixed, badge, clientLink, when, untilText, table, flash, toMs, keyPath, bytes } from './util.js';
import { lineChart, scatterChart } from './charts.js';
import { addDecision, removeDecision, needToken } from './decisions.js';

const STATUS = [['2xx', '#2e7d32'], ['3xx', '#2f6fd6'], ['4xx', '#b86e00'], ['5xx', '#c62828']];

function featureBar(f) {
  const v = Number(f.value) || 0; const t = Number(f.threshold) || 0;
  const scale = Math.max(v, t) * 1.25 || 1;
  const fill = h('div', { class: `fill${f.crossed ? ' crossed' : ''}` });
  fill.style.width = `${Math.min(100, (v / scale) * 100)}%`;
  const mark = h('div', { class: 'threshold', title: `threshold ${t}` });
  mark.style.left = `${Math.min(100, (t / scale) * 100)}%`;
  return h('div', { class: 'feature', testid: 'feature' },
    h('span', { class: 'mono', testid: 'feature-name' }, f.name),
    h('div', { class: 'bar', title: `${f.name}: ${v} (threshold ${t})` }, fill, mark),
    h('span', { testid: 'feature-value' }, `${fixed(v, v % 1 ? 2 : 0)} / ${fixed(t, t % 1 ? 2 : 0)}`,
      f.normal !== null && f.normal !== undefined ? h('span', { class: 'note' }, ` (normal ${fixed(f.normal, 1)})`) : null));
}

// A finding charged with a swarm's score names the swarm: "via" from the
// incidents API, or the "(via KEY)" the engine ends the summary with.
function viaOf(f) {
  if (f.via) return f.via;
  const m = /\(via ((?:fingerprint|subnet|username|token|session):[0-9a-fA-F.:/@]+)(?:;[^()]*)?\)$/.exec(f.summary || '');
  return m ? m[1] : null;
}
function viaLink(f) {
  const v = viaOf(f);
  return v ? h('span', { class: 'via', testid: 'via' }, '→ swarm ', clientLink(v)) : null;
}

function findingsBlock(live) {
  const fs = (live && live.findings) || [];
  if (!fs.length) return state.empty('No detector has anything to say about this key right now.');
  return h('div', { class: 'bars', testid: 'findings' }, fs.map((f) => h('div', { class: 'detector', testid: `finding-${f.detector}` },
    h('div', { class: 'row' }, h('strong', null, f.detector), h('span', { class: 'note' }, `score ${fixed(f.score, 2)} × weight ${fixed(f.weight, 0)} = ${fixed(f.points, 1)} points`),
      (f.threats || []).map((x) => h('span', { class: 'tag' }, x))),
    h('p', { class: 'note', testid: 'summary' }, f.summary, viaLink(f)),
    (f.features || []).map(featureBar))));
}

export function render(main, key, _params, current) {
  if (!key) { replace(main, h('h1', null, 'Client'), state.empty('Open a client from a list, or type its key at the top.')); return null; }
  const head = h('div', { class: 'card' }, state.loading('the client'));
  const findings = h('div', { class: 'card' }, h('h2', null, 'Detectors: features against thresholds'), state.loading('findings'));
  const scoreEl = h('div', { class: 'chart', testid: 'chart-score' });
  const timelineEl = h('div', { class: 'chart', testid: 'chart-timeline' });
  const samples = h('div', null, state.loading('requests'));
  const related = h('div', null, state.loading('related keys'));
  const history = h('div', null, state.loading('history'));
  const aggregate = !/^ip:/.test(key) && key.includes(':');
  const members = aggregate ? h('div', null, state.loading('members')) : null;
  const charts = [];
  replace(main, h('h1', null, 'Client ', h('span', { class: 'mono', testid: 'client-key' }, key)), head, findings,
    h('div', { class: 'grid two' },
      h('div', { class: 'card' }, h('h2', null, 'Score over time'), scoreEl, h('p', { class: 'legend-note' }, 'Score of each incident of this key, and the live score now.')),
      h('div', { class: 'card' }, h('h2', null, 'Request timeline (status code)'), timelineEl,
        h('p', { class: 'legend-dots' }, STATUS.map(([l, c]) => { const d = h('span', { class: 'dot' }); d.style.background = c; return h('span', null, d, l); })))),
    h('div', { class: 'grid two' },
      h('div', { class: 'card' }, h('h2', null, 'Requests'), samples),
      h('div', { class: 'card' }, h('h2', null, 'Related keys'), related)),
    members ? h('div', { class: 'card', testid: 'members-card' }, h('h2', null, 'Member addresses (swarm)'), members) : null,
    h('div', { class: 'card' }, h('h2', null, 'Decision history'), history));

  let client = null;
  let scoreChart = null;
  // The decision strip: what the table enforces on this client, read again
  // every LIVE_MS (the engine blocks without the page knowing).
  const strip = h('div', { class: 'decision-strip', testid: 'decision-strip' });
  // The card is rebuilt when the client reloads (after a change, a token
  // change): the duration the operator chose must survive that.
  let chosenDuration = '1h';
  function decisionCard() {
    const d = client && client.decision;
    const live = client && client.live;
    const dur = h('select', { testid: 'duration', 'aria-label': 'Duration', on: { change: (e) => { chosenDuration = e.target.value; } } },
      [['15m', '15 min'], ['1h', '1 hour'], ['6h', '6 hours'], ['1d', '1 day'], ['7d', '7 days']].map(([v, t]) => h('option', { value: v, selected: v === chosenDuration ? 'selected' : null }, t)));
    const act = (action) => async (e) => {
      e.target.disabled = true;
      try { await addDecision(key, action, dur.value, `dashboard: ${action} for ${dur.value}`); } catch (err) { flash(`Could not ${action} ${key}: ${err.message}`, true); }
      loadClient();
    };
    const remove = async (e) => {
      e.target.disabled = true;
      try { await removeDecision(key); } catch (err) { flash(`Could not remove the decision: ${err.message}`, true); }
      loadClient();
    };
    renderStrip();
    return [
      strip,
      h('dl', { class: 'kv' },
        h('dt', null, 'level'), h('dd', null, (client && client.level) || key.split(':')[0]),
        h('dt', null, 'tracked'), h('dd', { testid: 'tracked' }, client ? (client.tracked ? 'yes' : 'no') : 'no (unknown to the engine)'),
        live ? [h('dt', null, 'live score'), h('dd', { testid: 'live-score' }, `${fixed(live.score, 1)} → `, badge(live.action)),
          h('dt', null, 'requests'), h('dd', { testid: 'live-requests' }, num(live.requests)),
          h('dt', null, 'seen'), h('dd', null, `${when(live.first_seen)} – ${when(live.last_seen)}`),
          h('dt', null, 'route'), h('dd', { class: 'mono' }, live.route || '–'),
          h('dt', null, 'profile'), h('dd', null, live.profile || 'default'),
          h('dt', null, 'user agent'), h('dd', { class: 'mono', testid: 'user-agent' }, live.user_agent || '–')] : null),
      h('div', { class: 'actions', testid: 'decision-actions' },
        h('button', { type: 'button', class: 'danger', testid: 'block', on: { click: act('block') } }, 'Block'),
        h('button', { type: 'button', testid: 'throttle', on: { click: act('throttle') } }, 'Throttle'),
        h('span', null, 'for'), dur,
        h('button', { type: 'button', testid: 'allow', on: { click: act('allow') } }, 'Allow'),
        d ? h('button', { type: 'button', testid: 'remove', on: { click: remove } }, 'Remove decision') : null),
      needToken(),
    ];
  }

  // A decision's origin: its incident, or who decided it and why.
  function origin(d, on) {
    return [d.incident_id ? h('a', { href: `#/incidents${qs({ key: on })}` }, `incident #${d.incident_id}`)
      : h('span', { class: 'note' }, d.source || 'manual'),
    d.reason ? [' ', h('span', { class: 'reason', testid: 'decision-reason', title: 'reason given with the decision' }, d.reason)] : null];
  }
  function renderStrip() {
    const d = client && client.decision;
    const f = client && client.in_force;
    const cover = (client && client.covering) || [];
    strip.dataset.action = f ? f.action : 'none';
    strip.dataset.on = f ? f.key : '';
    replace(strip,
      h('div', { class: 'row' }, h('strong', null, 'Decision:'),
        d ? [badge(d.action), h('span', { testid: 'decision-expires' }, `until ${when(d.expires)} (${untilText(d.expires)})`), origin(d, key)]
          : h('span', { testid: 'decision-none', class: 'muted' }, f ? 'none on this key' : 'none')),
      f && f.key !== key ? h('div', { class: 'row', testid: 'decision-in-force' }, h('strong', null, 'Enforced on its requests:'), badge(f.action),
        h('span', null, ' on '), clientLink(f.key), f.on_route ? h('span', { class: 'note' }, ' (its requests under that route)') : null,
        h('span', null, ` until ${when(f.expires)}`), origin(f, f.key)) : null,
      cover.length ? h('div', { class: 'note', testid: 'covering' }, 'Decisions covering this client: ',
        cover.map((c) => h('span', { class: 'covering', testid: 'covering-decision' }, badge(c.action), ' ', clientLink(c.key), c.reason ? ` (${c.reason})` : '', ' '))) : null);
  }
  // Poll the client's decision (the table, as nginx reads it) and redraw
  // the strip; the whole card only when its own decision came or went
  // (its Remove button depends on it).
  const LIVE_MS = 1000;
  let liveTimer = 0;
  async function liveDecision() {
    if (!current()) return;
    try {
      const next = await api.get(`v1/clients/${keyPath(key)}`);
      if (!current()) return;
      const had = !!(client && client.decision);
      const wasKnown = !!client;
      client = next;
      if (!wasKnown || had !== !!next.decision) replace(head, decisionCard()); else renderStrip();
    } catch { /* a 404 or a daemon away: keep what is shown, try again */ }
    if (current()) liveTimer = setTimeout(liveDecision, LIVE_MS);
  }

  async function loadClient() {
    try { client = await api.get(`v1/clients/${keyPath(key)}`); } catch (e) {
      if (!current()) return;
      client = null;
      if (e.status === 404) {
        replace(head, h('p', { class: 'state empty', testid: 'not-tracked' }, 'This key is not tracked by the engine and has no decision.'), decisionCard());
        replace(findings, h('h2', null, 'Detectors'), state.empty('Nothing known about this key.'));
      } else replace(head, state.error('Client unavailable', e));
      return;
    }
    if (!current()) return;
    replace(head, decisionCard());
    replace(findings, h('h2', null, 'Detectors: features against thresholds'), findingsBlock(client.live));
    loadScore();
    loadHistory();
  }

  async function loadScore() {
    try {
      const r = await api.get(`v1/incidents${qs({ key, order: 'asc', limit: 1000 })}`);
      if (!current()) return;
      const pts = (r.incidents || []).map((i) => [toMs(i.decided_at) / 1000, i.score]);
      if (client && client.live && client.live.last_seen) pts.push([toMs(client.live.last_seen) / 1000, client.live.score]);
      pts.sort((a, b) => a[0] - b[0]);
      if (scoreChart) { scoreChart.destroy(); scoreChart = null; }
      replace(scoreEl);
      if (!pts.length) { scoreEl.appendChild(state.empty('No score recorded for this key.')); return; }
      const c = lineChart(scoreEl, { series: [{ label: 'score', colour: '#c62828' }], yLabel: 'score', height: 200 });
      c.u.setScale('y', { min: 0, max: 100 });
      c.set([pts.map((p) => p[0]), pts.map((p) => p[1])]);
      scoreChart = c;
    } catch (e) { if (current()) replace(scoreEl, state.error('Scores unavailable', e)); }
  }

  async function loadRequests() {
    try {
      const r = await api.get(`v1/clients/${keyPath(key)}/requests?limit=500`);
      if (!current()) return;
      const reqs = r.requests || [];
      samples.dataset.count = String(reqs.length);
      if (!reqs.length) { replace(samples, state.empty('No request of this key in the memory window.')); replace(timelineEl, state.empty('No request in the memory window.')); return; }
      const xs = reqs.map((q) => q.t / 1000);
      const cols = STATUS.map((_, i) => reqs.map((q) => (Math.floor(q.status / 100) === i + 2 ? q.status : null)));
      replace(timelineEl);
      const c = scatterChart(timelineEl, { series: STATUS.map(([l, col]) => ({ label: l, colour: col })), yLabel: 'status', height: 200, yRange: () => [100, 600] });
      c.set([xs, ...cols]);
      charts.push(c);
      const last = reqs.slice(-100).reverse();
      replace(samples, h('p', { class: 'note' }, `${num(reqs.length)} requests in memory since ${when(r.window_start)}; the last ${last.length}:`),
        h('div', { class: 'scroll' }, table([
          { label: 'time', value: (q) => q.t, render: (q) => when(q.t) },
          { label: 'method', value: (q) => q.method },
          { label: 'path', value: (q) => q.path, render: (q) => h('span', { class: 'mono', testid: 'path' }, q.path + (q.query ? `?${q.query}` : '')), wrap: true },
          { label: 'status', value: (q) => q.status, num: true },
          { label: 'bytes', value: (q) => q.bytes, render: (q) => bytes(q.bytes), num: true },
          // fleet mode (docs/cluster.md#fleet-view): the host (edge) that saw it
          ...('host' in (reqs[0] || {}) ? [{ label: 'host', value: (q) => q.host || '', render: (q) => h('span', { class: 'mono', testid: 'request-host' }, q.host || '–') }] : []),
        ], last, { testid: 'requests-table', rowTestid: 'request' })));
    } catch (e) {
      if (!current()) return;
      replace(timelineEl, state.error('Timeline unavailable', e));
      const s = client && client.live && client.live.samples;
      replace(samples, state.error('Recent requests unavailable', e), s && s.length ? [h('p', { class: 'note' }, 'Samples kept with the live state:'),
        table([{ label: 'time', value: (q) => q.time, render: (q) => when(q.time) }, { label: 'method', value: (q) => q.method },
          { label: 'path', value: (q) => q.path, render: (q) => h('span', { class: 'mono', testid: 'path' }, q.path), wrap: true },
          { label: 'status', value: (q) => q.status, num: true }], s, { rowTestid: 'sample' })] : null);
    }
  }

  async function loadRelated() {
    try {
      const r = await api.get(`v1/clients/${keyPath(key)}/related`);
      if (!current()) return;
      const list = (label, keys, id) => h('div', { testid: id }, h('p', null, h('strong', null, label), ` (${(keys || []).length})`),
        (keys || []).length ? h('p', null, keys.map((k) => [clientLink(k), ' '])) : state.empty('none'));
      replace(related,
        h('dl', { class: 'kv' }, h('dt', null, 'fingerprint'), h('dd', null, r.fingerprint ? clientLink(r.fingerprint) : '–'),
          h('dt', null, 'subnet'), h('dd', null, r.subnet ? clientLink(r.subnet) : '–')),
        list('Other addresses with the same fingerprint', r.same_fingerprint, 'same-fingerprint'),
        list('Other addresses in the subnet', r.same_subnet, 'same-subnet'));
    } catch (e) { if (current()) replace(related, state.error('Related keys unavailable', e)); }
  }

  async function loadMembers() {
    try {
      const r = await api.get(`v1/clients/${keyPath(key)}/members?limit=200`);
      if (!current()) return;
      const rows = r.top_members || [];
      members.dataset.count = String(r.members);
      const head = h('p', { class: 'note', testid: 'members-summary' },
        h('strong', { testid: 'members-count' }, num(r.members)), r.members_truncated ? '+' : '', ` addresses act under this key in the memory window (since ${when(r.window_start)}): `,
        h('strong', { testid: 'members-stopped' }, num(r.stopped)), ` stopped now (${num(r.blocked)} blocked, ${num(r.throttled)} throttled); ${num(r.window.requests)} requests.`,
        rows.length < r.members ? ` The ${num(rows.length)} busiest:` : '');
      if (!rows.length) { replace(members, head, state.empty('No member address in the memory window.')); return; }
      const mix = (m) => ['2xx', '3xx', '4xx', '5xx'].filter((c) => m.status[c]).map((c) => `${c} ${num(m.status[c])}`).join(' · ') || '–';
      replace(members, head, h('div', { class: 'scroll' }, table([
        { label: 'address', value: (m) => m.key, render: (m) => clientLink(m.key) },
        { label: 'requests', value: (m) => m.requests, render: (m) => num(m.requests), num: true },
        { label: '4xx', value: (m) => m.status['4xx'], render: (m) => num(m.status['4xx']), num: true },
        { label: 'status mix', value: (m) => mix(m), render: (m) => h('span', { class: 'note' }, mix(m)) },
        { label: 'action now', value: (m) => ['none', 'monitor', 'throttle', 'block', 'allow'].indexOf(m.action), render: (m) => [badge(m.action),
          m.decided_on && m.decided_on !== m.key ? h('span', { class: 'note' }, ` on ${m.decided_on}`) : null] },
        { label: 'incident', value: (m) => m.incident_id || 0, render: (m) => (m.incident_id ? h('a', { href: `#/incidents${qs({ key: m.decided_on || m.key })}` }, `#${m.incident_id}`) : '–') },
        { label: 'seen', value: (m) => m.last_seen, render: (m) => h('span', { class: 'note' }, `${when(m.first_seen)} – ${when(m.last_seen)}`) },
      ], rows, { testid: 'members-table', rowTestid: 'member' })));
    } catch (e) { if (current()) replace(members, state.error('Members unavailable', e)); }
  }

  async function loadHistory() {
    try {
      const r = await api.get(`v1/decisions${qs({ history: 1, key, limit: 50 })}`);
      if (!current()) return;
      const rows = r.decisions || [];
      replace(history, rows.length ? table([
        { label: 'action', value: (d) => d.action, render: (d) => badge(d.action) },
        { label: 'source', value: (d) => d.source },
        { label: 'start', value: (d) => d.start, render: (d) => when(d.start) },
        { label: 'expires', value: (d) => d.expires, render: (d) => when(d.expires) },
        { label: 'ended', value: (d) => d.ended_at || '', render: (d) => (d.ended_at ? `${when(d.ended_at)} by ${d.ended_by || '?'}` : d.active ? 'active' : 'expired') },
        { label: 'reason', value: (d) => d.reason || '', render: (d) => d.reason || (d.incident_id ? `incident #${d.incident_id}` : '–') },
      ], rows, { testid: 'client-history' }) : state.empty('No decision on this key so far.'));
    } catch (e) { if (current()) replace(history, state.error('History unavailable', e)); }
  }

  const onToken = () => { if (client !== undefined) loadClient(); };
  window.addEventListener('rampart-token', onToken);
  loadClient().then(() => { if (!client) { loadScore(); loadHistory(); } liveTimer = setTimeout(liveDecision, LIVE_MS); });
  loadRequests();
  loadRelated();
  if (members) loadMembers();
  return () => { clearTimeout(liveTimer); window.removeEventListener('rampart-token', onToken); for (const c of charts) c.destroy(); if (scoreChart) scoreChart.destroy(); };
}
