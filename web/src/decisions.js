// Decisions: the active deny/throttle/allow entries of the shared table,
// a form to add one and a button per row to end it (both need the token),
// and the stored history with who ended what. After a change the table is
// read again from the API, so the page shows what the daemon holds.
import { h, replace, state, api, qs, badge, clientLink, when, untilText, table, flash, token, keyPath } from './util.js';

export async function addDecision(key, action, duration, reason) {
  await api.post('v1/decisions', { key, action, duration, reason: reason || undefined });
  flash(`${action} ${key} for ${duration}: done.`);
}
export async function removeDecision(key) {
  await api.del(`v1/decisions/${keyPath(key)}`);
  flash(`Decision on ${key} removed.`);
}
export function needToken() {
  return token() ? null : h('p', { class: 'note', testid: 'token-needed' }, 'Changes need the admin token: enter it at the top right.');
}

export function render(main, _arg, params, current) {
  const activeBox = h('div', null, state.loading('decisions'));
  const historyBox = h('div');
  const count = h('span', { class: 'note', testid: 'decisions-total' });
  const showHistory = params.get('history') === '1';
  const keyIn = h('input', { name: 'key', testid: 'add-key', placeholder: 'ip:203.0.113.7', required: 'required', spellcheck: 'false' });
  const actionIn = h('select', { name: 'action', testid: 'add-action' }, ['block', 'throttle', 'allow'].map((a) => h('option', { value: a }, a)));
  const durIn = h('select', { name: 'duration', testid: 'add-duration' },
    [['15m', '15 min'], ['1h', '1 hour'], ['6h', '6 hours'], ['1d', '1 day'], ['7d', '7 days']].map(([v, t]) => h('option', { value: v, selected: v === '1h' ? 'selected' : null }, t)));
  const reasonIn = h('input', { name: 'reason', testid: 'add-reason', placeholder: 'ticket 4711', maxlength: '200' });
  const tokenNote = h('div');
  const form = h('form', { class: 'filters', testid: 'add-form', autocomplete: 'off' },
    h('label', null, 'key', keyIn), h('label', null, 'action', actionIn), h('label', null, 'for', durIn),
    h('label', null, 'reason', reasonIn), h('button', { type: 'submit', class: 'primary', testid: 'add-submit' }, 'Add decision'));
  replace(main, h('div', { class: 'row' }, h('h1', null, 'Decisions'), count),
    h('div', { class: 'card' }, h('h2', null, 'Add a decision'), form, tokenNote,
      h('p', { class: 'note' }, 'allow bypasses detection and wins over block; a block answers 403, a throttle 429 with Retry-After.')),
    h('div', { class: 'card' }, h('h2', null, 'Active'), activeBox),
    h('div', { class: 'card' }, h('div', { class: 'row' }, h('h2', null, 'History'),
      h('a', { href: showHistory ? '#/decisions' : '#/decisions?history=1', testid: 'history-toggle' }, showHistory ? 'hide' : 'show')), historyBox));
  const showNote = () => replace(tokenNote, needToken());
  showNote();
  window.addEventListener('rampart-token', showNote);

  async function load() {
    try {
      const r = await api.get('v1/decisions');
      if (!current()) return;
      const rows = r.decisions || [];
      count.textContent = `${r.total} active`;
      count.dataset.total = String(r.total);
      if (!rows.length) { replace(activeBox, state.empty('No active decision.')); return; }
      replace(activeBox, h('div', { class: 'scroll' }, table([
        { label: 'client', value: (d) => d.key, render: (d) => clientLink(d.key) },
        { label: 'level', value: (d) => d.level },
        { label: 'action', value: (d) => d.action, render: (d) => badge(d.action) },
        { label: 'since', value: (d) => d.start, render: (d) => when(d.start) },
        { label: 'expires', value: (d) => d.expires, render: (d) => [when(d.expires), ' ', h('span', { class: 'note' }, untilText(d.expires))] },
        { label: 'source', value: (d) => d.source || (d.incident_id ? 'engine' : 'manual'), render: (d) => h('span', { testid: 'decision-source' }, d.source || (d.incident_id ? 'engine' : 'manual')) },
        { label: 'reason', value: (d) => d.reason || (d.incident_id ? `incident ${d.incident_id}` : ''),
          render: (d) => [d.reason ? h('span', { class: 'reason', testid: 'decision-reason' }, d.reason) : null,
            d.incident_id ? [d.reason ? ' ' : null, h('a', { href: `#/incidents${qs({ key: d.key })}`, testid: 'decision-incident' },
              `incident #${d.incident_id}${d.incident_node ? ` of ${d.incident_node}` : ''}`)] : null,
            !d.reason && !d.incident_id ? '–' : null], wrap: true },
        { label: '', sort: false, value: () => '', render: (d) => h('button', { type: 'button', class: 'danger', testid: 'remove',
          on: { click: async (e) => {
            e.target.disabled = true;
            try { await removeDecision(d.key); } catch (err) { flash(`Could not remove ${d.key}: ${err.message}`, true); }
            load();
          } } }, 'Remove') },
      ], rows, { testid: 'decisions-table', rowTestid: 'decision' })));
    } catch (e) { if (current()) replace(activeBox, state.error('Decisions unavailable', e)); }
    if (showHistory) loadHistory();
  }
  async function loadHistory() {
    try {
      const r = await api.get('v1/decisions?history=1&limit=200');
      if (!current()) return;
      const rows = r.decisions || [];
      replace(historyBox, rows.length ? h('div', { class: 'scroll' }, table([
        { label: 'client', value: (d) => d.key, render: (d) => clientLink(d.key) },
        { label: 'action', value: (d) => d.action, render: (d) => badge(d.action) },
        { label: 'source', value: (d) => d.source },
        { label: 'start', value: (d) => d.start, render: (d) => when(d.start) },
        { label: 'expires', value: (d) => d.expires, render: (d) => when(d.expires) },
        { label: 'ended', value: (d) => d.ended_at || '', render: (d) => (d.ended_at ? `${when(d.ended_at)} by ${d.ended_by || '?'}` : d.active ? 'active' : 'expired') },
        { label: 'reason', value: (d) => d.reason || '', render: (d) => d.reason || (d.incident_id ? `incident #${d.incident_id}` : '–') },
      ], rows, { testid: 'history-table' })) : state.empty('No decision in the history.'));
    } catch (e) { if (current()) replace(historyBox, state.error('History unavailable', e)); }
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = keyIn.value.trim();
    if (!key) return;
    try { await addDecision(key, actionIn.value, durIn.value, reasonIn.value.trim()); keyIn.value = ''; reasonIn.value = ''; } catch (err) { flash(`Could not add: ${err.message}`, true); }
    load();
  });
  load();
  const timer = setInterval(load, 15000);
  return () => { clearInterval(timer); window.removeEventListener('rampart-token', showNote); };
}
