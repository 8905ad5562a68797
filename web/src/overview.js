// Overview: what is hitting the site right now. Counters from /v1/stats,
// series from /v1/timeseries, worst clients and routes from /v1/top; all
// refreshed every 5 s in place (charts keep their objects, tables are
// rebuilt). Each block shows its own loading/empty/error state, so a
// daemon without one endpoint still shows the rest.
import { h, replace, state, api, qs, num, rate, fixed, badge, clientLink, colour, when } from './util.js';
import { lineChart } from './charts.js';

const REFRESH_MS = 5000;

function kpi(label, id, cls) {
  const value = h('span', { testid: `kpi-${id}` }, '–');
  const unit = h('span', { class: 'unit' });
  const card = h('div', { class: `card kpi ${cls || ''}` }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value, unit));
  return { card, set(v, u) { value.textContent = v; unit.textContent = u || ''; } };
}

function sum(a) { let s = 0; for (const v of a || []) s += v || 0; return s; }
function lastMinute(ts, col) {
  if (!ts || !col || !col.length) return null;
  const n = Math.max(1, Math.round(60 / ts.step_s));
  return sum(col.slice(-n)) / (n * ts.step_s);
}

export function render(main, _arg, params, current) {
  let minutes = Number(params.get('minutes')) || 60;
  const k = {
    rps: kpi('Requests / s', 'rps'), blocked: kpi('Blocked / s', 'blocked-rps', 'block'),
    throttled: kpi('Throttled / s', 'throttled-rps', 'throttle'), window: kpi('Requests in window', 'window-requests'),
    events: kpi('Events total', 'events'), block: kpi('Block incidents', 'incidents-block', 'block'),
    throttle: kpi('Throttle incidents', 'incidents-throttle', 'throttle'), monitor: kpi('Monitor incidents', 'incidents-monitor'),
    active: kpi('Active decisions', 'decisions-active'), clients: kpi('Clients tracked', 'clients'), lag: kpi('Engine lag', 'lag'),
  };
  const sel = h('select', { testid: 'window', 'aria-label': 'Time window' },
    [15, 60].map((m) => h('option', { value: m, selected: m === minutes ? 'selected' : null }, `last ${m} min`)));
  const updated = h('span', { class: 'note', testid: 'updated' }, '');
  const trafficEl = h('div', { class: 'chart', testid: 'chart-traffic' });
  const detEl = h('div', { class: 'chart', testid: 'chart-detectors' });
  const threatEl = h('div', { class: 'chart', testid: 'chart-threats' });
  const seriesState = h('div');
  const detTotals = h('div', { testid: 'detector-totals' }, state.loading('counters'));
  const topClients = h('div', { testid: 'top-clients' }, state.loading('top clients'));
  const topRoutes = h('div', { testid: 'top-routes' }, state.loading('top routes'));
  const statsState = h('div');

  replace(main,
    h('div', { class: 'row' }, h('h1', null, 'Overview'), sel, updated),
    statsState,
    h('div', { class: 'grid kpis' }, Object.values(k).map((x) => x.card)),
    seriesState,
    h('div', { class: 'grid two' },
      h('div', { class: 'card' }, h('h2', null, 'Traffic (requests/s)'), trafficEl,
        h('p', { class: 'legend-note' }, 'Blocked and throttled: requests from clients that had that decision in force.')),
      h('div', { class: 'card' }, h('h2', null, 'Incidents by detector (per 10 s)'), detEl),
      h('div', { class: 'card' }, h('h2', null, 'Incidents by threat kind (per 10 s)'), threatEl),
      h('div', { class: 'card' }, h('h2', null, 'Incidents by detector since start'), detTotals)),
    h('div', { class: 'grid two' },
      h('div', { class: 'card' }, h('h2', null, 'Top offending clients'), topClients),
      h('div', { class: 'card' }, h('h2', null, 'Top attacked routes'), topRoutes)));

  const charts = {};
  function chart(name, el, labels, yLabel, extra) {
    const sig = labels.join('|');
    if (charts[name] && charts[name].sig === sig) return charts[name].c;
    if (charts[name]) charts[name].c.destroy();
    replace(el);
    if (!labels.length) { el.appendChild(state.empty('No incidents in this window.')); charts[name] = null; return null; }
    const c = lineChart(el, { series: labels.map((l, i) => ({ label: l, colour: extra ? extra[i] : colour(l) })), yLabel });
    charts[name] = { sig, c };
    return c;
  }

  function showStats(s) {
    k.events.set(num(s.engine.events));
    for (const a of ['block', 'throttle', 'monitor']) k[a].set(num((s.incidents || {})[a] || 0));
    k.active.set(num((s.table || {}).active || 0));
    k.clients.set(num(Object.values(s.engine.clients || {}).reduce((t, l) => t + (l.tracked || 0), 0)));
    k.lag.set(fixed(s.engine.lag_s, 1), 's');
    const dets = Object.entries(s.incidents_by_detector || {}).sort((a, b) => b[1] - a[1]);
    replace(detTotals, dets.length ? h('table', null, h('tbody', null, dets.map(([d, n]) => h('tr', { testid: `det-${d}` },
      h('td', null, h('span', { class: 'dot', style: null }), h('a', { href: `#/incidents?detector=${encodeURIComponent(d)}` }, d)),
      h('td', { class: 'num', testid: 'count' }, num(n)))))) : state.empty('No detector has contributed to an incident yet.'));
    for (const tr of detTotals.querySelectorAll('tr')) tr.querySelector('.dot').style.background = colour(tr.dataset.testid.slice(4));
  }

  function showSeries(full) {
    // A daemon younger than the window has only zeros before its start:
    // drop the leading empty steps (keeping a minute) so its traffic shows.
    const cols = [full.requests, ...Object.values(full.by_detector || {}), ...Object.values(full.by_threat || {})];
    let first = (full.t || []).findIndex((_, i) => cols.some((c) => c && c[i]));
    first = first < 0 ? 0 : Math.max(0, first - 6);
    const cut = (c) => (c || []).slice(first);
    const cutMap = (m) => Object.fromEntries(Object.entries(m || {}).map(([k2, v]) => [k2, cut(v)]));
    const ts = { ...full, t: cut(full.t), requests: cut(full.requests), throttled: cut(full.throttled), blocked: cut(full.blocked),
      by_detector: cutMap(full.by_detector), by_threat: cutMap(full.by_threat) };
    const t = ts.t;
    const per = (col) => (col || []).map((v) => (v || 0) / ts.step_s);
    k.rps.set(rate(lastMinute(ts, ts.requests)));
    k.blocked.set(rate(lastMinute(ts, ts.blocked)));
    k.throttled.set(rate(lastMinute(ts, ts.throttled)));
    k.window.set(num(sum(ts.requests)));
    const tc = chart('traffic', trafficEl, ['requests', 'throttled', 'blocked'], 'req/s', ['#2f6fd6', '#b86e00', '#c62828']);
    tc.set([t, per(ts.requests), per(ts.throttled), per(ts.blocked)]);
    const dn = Object.keys(ts.by_detector || {}).filter((d) => sum(ts.by_detector[d]) > 0);
    const dc = chart('det', detEl, dn, 'incidents');
    if (dc) dc.set([t, ...dn.map((d) => ts.by_detector[d])]);
    const tn = Object.keys(ts.by_threat || {}).filter((d) => sum(ts.by_threat[d]) > 0);
    const thc = chart('threat', threatEl, tn, 'incidents');
    if (thc) thc.set([t, ...tn.map((d) => ts.by_threat[d])]);
  }

  function showTop(top) {
    const cl = top.clients || [];
    replace(topClients, cl.length ? h('table', { testid: 'top-clients-table' },
      h('thead', null, h('tr', null, ['client', 'action', 'score', 'requests', 'threats', 'last seen'].map((x, i) => h('th', { class: i === 2 || i === 3 ? 'num' : null }, x)))),
      h('tbody', null, cl.map((c) => h('tr', { testid: 'top-client' },
        h('td', null, clientLink(c.key)), h('td', null, badge(c.action)), h('td', { class: 'num' }, fixed(c.score, 1)),
        h('td', { class: 'num' }, num(c.requests)), h('td', null, (c.threats || []).map((x) => h('span', { class: 'tag' }, x))),
        h('td', null, when(c.last_seen)))))) : state.empty('No offending client in this window.'));
    const rt = top.routes || [];
    replace(topRoutes, rt.length ? h('table', { testid: 'top-routes-table' },
      h('thead', null, h('tr', null, ['route', 'class', 'requests', 'errors', 'from throttled/blocked'].map((x, i) => h('th', { class: i >= 2 ? 'num' : null }, x)))),
      h('tbody', null, rt.map((r) => h('tr', { testid: 'top-route' },
        h('td', { class: 'mono wrap' }, `${r.method} ${r.template}`, r.declared ? null : [' ', h('span', { class: 'badge undeclared' }, 'undeclared')]),
        h('td', null, r.class), h('td', { class: 'num' }, num(r.requests)), h('td', { class: 'num' }, num(r.errors)),
        h('td', { class: 'num' }, num(r.flagged)))))) : state.empty('No route attacked in this window.'));
  }

  let timer = 0;
  async function refresh() {
    const [s, ts, top] = await Promise.allSettled([api.get('v1/stats'), api.get(`v1/timeseries${qs({ minutes })}`),
      api.get(`v1/top${qs({ minutes, limit: 10 })}`)]);
    if (!current()) return;
    if (s.status === 'fulfilled') { replace(statsState); showStats(s.value); } else replace(statsState, state.error('Counters unavailable', s.reason));
    if (ts.status === 'fulfilled') { replace(seriesState); showSeries(ts.value); } else replace(seriesState, state.error('Time series unavailable', ts.reason));
    if (top.status === 'fulfilled') showTop(top.value);
    else { replace(topClients, state.error('Top clients unavailable', top.reason)); replace(topRoutes, state.error('Top routes unavailable', top.reason)); }
    updated.textContent = `updated ${when(Date.now())}, every ${REFRESH_MS / 1000} s`;
    main.dataset.loaded = String(Number(main.dataset.loaded || 0) + 1);
  }
  sel.addEventListener('change', () => { minutes = Number(sel.value); refresh(); });
  const loop = async () => { await refresh().catch(() => {}); if (current()) timer = setTimeout(loop, REFRESH_MS); };
  loop();
  return () => { clearTimeout(timer); for (const c of Object.values(charts)) if (c) c.c.destroy(); };
}
