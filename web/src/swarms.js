// Swarms: aggregate keys (a header fingerprint, a subnet, a login username;
// a token or session shared by many addresses) whose behaviour as one actor
// crossed a threshold, from /v1/swarms. Each row says how many addresses
// act under the key in the recent window, how many of them are stopped
// now, and lists the busiest ones; the key opens its client page, where
// the whole member list is. Sorted by member count by default; any column
// sorts. Every value is text (a swarm's user agent is attacker-chosen).
import { h, replace, state, api, qs, num, fixed, badge, clientLink, when, table } from './util.js';

const LEVELS = [['', 'all levels'], ['fingerprint', 'fingerprint'], ['subnet', 'subnet'], ['username', 'username'],
  ['token', 'token'], ['session', 'session']];

function stoppedCell(s) {
  const el = h('span', { testid: 'swarm-stopped' }, `${num(s.stopped)} / ${num(s.members)}`);
  if (s.members && s.stopped === s.members) el.className = 'all-stopped';
  return [el, s.blocked || s.throttled ? h('span', { class: 'note' }, ` (${num(s.blocked)} blocked, ${num(s.throttled)} throttled)`) : null];
}

function membersCell(s) {
  const top = s.top_members || [];
  if (!top.length) return h('span', { class: 'muted' }, 'none in the memory window');
  return h('div', { class: 'members', testid: 'swarm-top-members' }, top.map((m) => h('span', { class: 'member' },
    clientLink(m.key), ' ', h('span', { class: 'note' }, `${num(m.requests)} req`), ' ', badge(m.action))),
  s.members > top.length ? h('span', { class: 'note' }, ` … and ${num(s.members - top.length)} more`) : null);
}

export function render(main, _arg, params, current) {
  const level = h('select', { testid: 'swarms-level', 'aria-label': 'Level' },
    LEVELS.map(([v, t]) => h('option', { value: v, selected: v === (params.get('level') || '') ? 'selected' : null }, t)));
  const summary = h('p', { class: 'note', testid: 'swarms-total' });
  const body = h('div', null, state.loading('swarms'));
  replace(main, h('h1', null, 'Swarms'),
    h('div', { class: 'filters' }, h('label', null, 'level', level)),
    summary,
    h('div', { class: 'card' }, body,
      h('p', { class: 'legend-note' }, 'A swarm is an aggregate key whose addresses act as one. Its incident watches; its members are charged its score for their own requests and stopped on their own keys (a fingerprint on one route, fingerprint:FP@ROUTE, is stopped on that route itself). Members, stopped and the busiest members come from the daemon\'s recent-events window.')));
  level.addEventListener('change', () => { location.hash = `#/swarms${qs({ level: level.value })}`; });

  api.get('v1/swarms?limit=100&top=5').then((r) => {
    if (!current()) return;
    const all = r.swarms || [];
    const want = level.value;
    const rows = want ? all.filter((s) => s.level === want) : all;
    summary.textContent = `${num(all.length)} swarms with incidents${want ? `, ${num(rows.length)} at level ${want}` : ''}; members from the memory window since ${when(r.window_start)} (${num(r.window_events)} events)`;
    summary.dataset.total = String(all.length);
    if (!rows.length) { replace(body, state.empty(all.length ? 'No swarm at this level.' : 'No swarm so far: no aggregate key (fingerprint, subnet, username) has an incident.')); return; }
    const t = table([
      { label: 'swarm', value: (s) => s.key, render: (s) => [h('span', { testid: 'swarm-key', class: 'swarm-key' }, clientLink(s.key)), h('div', { class: 'note' }, s.level)] },
      { label: 'members', value: (s) => s.members, render: (s) => h('span', { testid: 'swarm-members' }, num(s.members), s.members_truncated ? '+' : ''), num: true },
      { label: 'stopped now', value: (s) => s.stopped, render: stoppedCell, num: true },
      { label: 'requests', value: (s) => s.window.requests, render: (s) => h('span', { testid: 'swarm-requests' }, num(s.window.requests)), num: true },
      { label: 'seen', value: (s) => s.last_seen || '', render: (s) => h('span', { class: 'note nowrap' }, when(s.first_seen), h('br'), `– ${when(s.last_seen)}`) },
      { label: 'incident', value: (s) => s.score, render: (s) => [h('div', { class: 'nowrap' }, badge(s.action), ' ', h('a', { href: `#/incidents${qs({ key: s.key })}`, testid: 'swarm-incidents' },
        s.incidents.length > 1 ? `${s.incidents.length} incidents` : `#${s.incidents[0].id}`), h('span', { class: 'note' }, ` score ${fixed(s.score, 0)}`)),
        h('p', { class: 'note summary', testid: 'swarm-summary' }, s.summary)] },
      { label: 'user agent', value: (s) => s.user_agent || '', render: (s) => h('span', { class: 'mono ua', testid: 'swarm-ua' }, s.user_agent || '–') },
      { label: 'busiest members', value: (s) => s.members, render: membersCell, sort: false },
    ], rows, { testid: 'swarms-table', rowTestid: 'swarm', sortCol: 1, sortDir: 'desc' });
    t.classList.add('swarms');
    replace(body, h('div', { class: 'scroll' }, t));
  }).catch((e) => { if (current()) { replace(body, state.error('Swarms unavailable', e)); summary.textContent = ''; } });
}
