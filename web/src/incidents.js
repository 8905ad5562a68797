// Incidents: one row per client (its strongest incident, its evidence
// line, how many incidents and requests refused), or every escalation
// step with ?steps=1; filtered on the server (time range,
// detector, action, threat, route, key) and paged; the current page sorts
// by any column in the browser. The filters live in the hash
// (#/incidents?detector=scan&action=block), so a filtered list is a link.
import { h, replace, state, api, qs, num, fixed, badge, clientLink, when, table } from './util.js';

const DETECTORS = ['rate', 'auth', 'scan', 'enumeration', 'uniqueness', 'consumption', 'signature', 'interval'];
const THREATS = ['credential_stuffing', 'brute_force', 'password_spraying', 'account_takeover', 'flood', 'scanner',
  'scraping', 'enumeration', 'undeclared_probe', 'consumption', 'automation'];
const RANGES = [['', 'all time'], ['900', 'last 15 min'], ['3600', 'last hour'], ['21600', 'last 6 h'], ['86400', 'last 24 h'], ['604800', 'last 7 days']];
const LIMIT = 50;
// Fleet mode (docs/cluster.md#fleet-view): which node decided, and the
// hosts (edges) that saw the client's requests. Shown when the incidents
// carry them (a standalone daemon's do not).
const FLEET_COLUMNS = [
  { label: 'decided by', value: (i) => i.node || '', render: (i) => h('span', { class: 'mono', testid: 'incident-node' }, i.node || '–') },
  { label: 'seen on', value: (i) => (i.hosts || []).join(','),
    render: (i) => h('span', { testid: 'incident-hosts', title: 'the hosts (edges) that saw this client\'s requests up to the decision' },
      (i.hosts || []).length ? (i.hosts || []).map((x) => h('span', { class: 'tag nowrap' }, x)) : '–', i.hosts_more ? ' and more' : '') },
];
const REFUSED_HELP = 'Requests this client sent after its first throttle or block, as of its latest stored incident: '
  + 'the ones nginx refused (403) or throttled (429) while the decision was in force, and any after it expired. '
  + 'A lower bound: the count is written when the incident escalates or closes. – when it was never stopped.';

function select(name, label, options, value) {
  return h('label', null, label, h('select', { name, testid: `filter-${name}` },
    options.map(([v, t]) => h('option', { value: v, selected: v === value ? 'selected' : null }, t))));
}
function input(name, label, value, placeholder) {
  return h('label', null, label, h('input', { name, testid: `filter-${name}`, value: value || '', placeholder, spellcheck: 'false' }));
}

export function render(main, _arg, params, current) {
  const p = Object.fromEntries(params.entries());
  const form = h('form', { class: 'filters', testid: 'filters', autocomplete: 'off' },
    select('range', 'time', RANGES, p.range || ''),
    select('detector', 'detector', [['', 'any'], ...DETECTORS.map((d) => [d, d])], p.detector || ''),
    select('action', 'action', [['', 'any'], ['monitor', 'monitor'], ['throttle', 'throttle'], ['block', 'block']], p.action || ''),
    select('threat', 'threat', [['', 'any'], ...THREATS.map((d) => [d, d])], p.threat || ''),
    input('route', 'route contains', p.route, 'POST /api/login'),
    input('key', 'client key', p.key, 'ip:203.0.113.7'),
    select('order', 'order', [['desc', 'newest first'], ['asc', 'oldest first']], p.order || 'desc'),
    h('button', { type: 'submit', class: 'primary' }, 'Apply'),
    h('button', { type: 'button', class: 'link', on: { click: () => { location.hash = '#/incidents'; } } }, 'Clear'));
  const summary = h('p', { class: 'note', testid: 'incidents-total' });
  const body = h('div', null, state.loading('incidents'));
  const offset = Math.max(0, Number(p.offset) || 0);
  replace(main, h('h1', null, 'Incidents'), form, summary, h('div', { class: 'card' }, body));

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const next = {};
    for (const [k, v] of f.entries()) if (v && !(k === 'order' && v === 'desc')) next[k] = String(v).trim();
    if (p.steps) next.steps = p.steps;
    location.hash = `#/incidents${qs(next)}`;
  });
  function pageTo(off) { location.hash = `#/incidents${qs({ ...p, offset: off || '' })}`; }

  // One row per client (group=key) unless every escalation step is asked
  // for (steps=1): a client that went monitor → throttle → block is one
  // actor, shown with its strongest incident.
  const steps = p.steps === '1';
  const query = { detector: p.detector, action: p.action, threat: p.threat, route: p.route, key: p.key,
    order: p.order, limit: LIMIT, offset: offset || '', group: steps ? '' : 'key' };
  if (p.range) query.since = Math.floor(Date.now() / 1000) - Number(p.range);
  api.get(`v1/incidents${qs(query)}`).then((r) => {
    if (!current()) return;
    const rows = r.incidents || [];
    replace(summary, `${num(r.total)} ${steps ? 'incidents' : 'clients with incidents'} match${r.total > LIMIT ? `; showing ${num(offset + 1)}–${num(offset + rows.length)}` : ''}. `,
      h('a', { href: `#/incidents${qs({ ...p, offset: '', steps: steps ? '' : '1' })}`, testid: 'steps-toggle' },
        steps ? 'One row per client' : 'Every escalation step'));
    summary.dataset.total = String(r.total);
    summary.dataset.grouped = String(!steps);
    if (!rows.length) { replace(body, state.empty('No incident matches these filters.')); return; }
    const fleet = rows.some((i) => i.node) ? FLEET_COLUMNS : [];
    const t = steps ? table([
      { label: 'decided', value: (i) => i.decided_at || '', render: (i) => when(i.decided_at) },
      { label: 'client', value: (i) => i.key, render: (i) => clientLink(i.key) },
      { label: 'action', value: (i) => ['monitor', 'throttle', 'block'].indexOf(i.action), render: (i) => badge(i.action) },
      { label: 'score', value: (i) => i.score, render: (i) => fixed(i.score, 1), num: true },
      { label: 'threats', value: (i) => (i.threats || []).join(','), render: (i) => (i.threats || []).map((x) => h('span', { class: 'tag' }, x)) },
      { label: 'detectors', value: (i) => (i.findings || []).map((f) => f.detector).join(','),
        render: (i) => (i.findings || []).map((f) => h('span', { class: 'tag', title: f.summary }, `${f.detector} ${fixed(f.points, 0)}`)) },
      { label: 'route', value: (i) => i.route || '', render: (i) => h('span', { class: 'mono' }, i.route || '–'), wrap: true },
      { label: 'requests', value: (i) => i.requests, render: (i) => num(i.requests), num: true },
      { label: 'user agent', value: (i) => i.user_agent || '', render: (i) => h('span', { class: 'mono', testid: 'ua' }, i.user_agent || '–'), wrap: true },
      ...fleet,
    ], rows, { testid: 'incidents-table', rowTestid: 'incident' }) : table([
      { label: 'latest', value: (i) => i.latest_decided_at || '', render: (i) => when(i.latest_decided_at) },
      { label: 'client', value: (i) => i.key, render: (i) => clientLink(i.key) },
      { label: 'action', value: (i) => ['monitor', 'throttle', 'block'].indexOf(i.action), render: (i) => badge(i.action) },
      { label: 'score', value: (i) => i.score, render: (i) => fixed(i.score, 1), num: true },
      { label: 'evidence', value: (i) => i.evidence || '', render: (i) => h('span', { class: 'evidence', testid: 'evidence' }, i.evidence || '–'), wrap: true },
      { label: 'threats', value: (i) => (i.threats || []).join(','), render: (i) => (i.threats || []).map((x) => h('span', { class: 'tag' }, x)) },
      { label: 'incidents', value: (i) => i.incidents, render: (i) => h('a', { href: `#/incidents${qs({ key: i.key, steps: 1 })}`, testid: 'incident-count', title: 'every escalation step of this client' }, num(i.incidents)), num: true },
      { label: 'refused', value: (i) => i.requests_after_stop ?? -1,
        render: (i) => h('span', { testid: 'refused', title: REFUSED_HELP }, i.requests_after_stop === null || i.requests_after_stop === undefined ? '–' : num(i.requests_after_stop)), num: true },
      { label: 'route', value: (i) => i.route || '', render: (i) => h('span', { class: 'mono' }, i.route || '–'), wrap: true },
      { label: 'user agent', value: (i) => i.user_agent || '', render: (i) => h('span', { class: 'mono', testid: 'ua' }, i.user_agent || '–'), wrap: true },
      ...fleet,
    ], rows, { testid: 'incidents-table', rowTestid: 'incident' });
    const pager = h('div', { class: 'pager' },
      h('button', { type: 'button', disabled: offset === 0 ? 'disabled' : null, on: { click: () => pageTo(Math.max(0, offset - LIMIT)) } }, '← previous'),
      h('button', { type: 'button', disabled: offset + rows.length >= r.total ? 'disabled' : null, on: { click: () => pageTo(offset + LIMIT) } }, 'next →'));
    replace(body, h('div', { class: 'scroll' }, t), pager);
  }).catch((e) => { if (current()) { replace(body, state.error('Incidents unavailable', e)); summary.textContent = ''; } });
}
