// Inventory: the routes the engine has seen, declared (OpenAPI or config)
// and learned, with traffic and abuse per route. Undeclared routes that
// flagged clients touch are the probes of hidden endpoints: they are
// highlighted and sorted first by default. Filtering is in the browser
// (the route table is bounded by engine.max_routes).
import { h, replace, state, api, num, fixed, table } from './util.js';

function share(r) { return r.requests ? r.flagged / r.requests : 0; }
function probed(r) { return !r.declared && r.flagged > 0; }

export function render(main, _arg, params, current) {
  const filter = h('input', { testid: 'inventory-filter', placeholder: 'filter: /api/users', value: params.get('q') || '', spellcheck: 'false' });
  const only = h('select', { testid: 'inventory-only' }, [['', 'all routes'], ['undeclared', 'undeclared only'], ['probed', 'undeclared and probed'], ['flagged', 'with flagged traffic']]
    .map(([v, t]) => h('option', { value: v }, t)));
  const summary = h('p', { class: 'note', testid: 'inventory-total' });
  const body = h('div', null, state.loading('routes'));
  replace(main, h('h1', null, 'Inventory'),
    h('div', { class: 'filters' }, h('label', null, 'route contains', filter), h('label', null, 'show', only)),
    summary, h('div', { class: 'card' }, body,
      h('p', { class: 'legend-note' }, 'flagged: requests from clients that the engine scored at monitor or above. Highlighted: undeclared routes with flagged traffic (probes of endpoints the API does not document).')));
  let routes = [];
  let total = 0;
  function draw() {
    const q = filter.value.trim().toLowerCase();
    const o = only.value;
    const rows = routes.filter((r) => (!q || `${r.method} ${r.template}`.toLowerCase().includes(q)) &&
      (!o || (o === 'undeclared' && !r.declared) || (o === 'probed' && probed(r)) || (o === 'flagged' && r.flagged > 0)));
    const nProbed = routes.filter(probed).length;
    summary.textContent = `${num(total)} routes (${num(routes.filter((r) => r.declared).length)} declared, ${num(routes.filter((r) => !r.declared).length)} undeclared, ${num(nProbed)} undeclared and probed); ${num(rows.length)} shown`;
    summary.dataset.total = String(total);
    if (!rows.length) { replace(body, state.empty(routes.length ? 'No route matches the filter.' : 'No route seen yet.')); return; }
    rows.sort((a, b) => (probed(b) - probed(a)) || (b.flagged - a.flagged) || (b.requests - a.requests));
    replace(body, h('div', { class: 'scroll' }, table([
      { label: 'method', value: (r) => r.method },
      { label: 'route', value: (r) => r.template, render: (r) => h('span', { class: 'mono', testid: 'route' }, r.template), wrap: true },
      { label: 'declared', value: (r) => (r.declared ? 1 : 0), render: (r) => (r.declared ? 'declared' : h('span', { class: 'badge undeclared' }, 'undeclared')) },
      { label: 'class', value: (r) => r.class },
      { label: 'profile', value: (r) => r.profile || '–' },
      { label: 'requests', value: (r) => r.requests, render: (r) => num(r.requests), num: true },
      { label: 'errors', value: (r) => r.errors, render: (r) => num(r.errors), num: true },
      { label: 'clients', value: (r) => r.clients, render: (r) => num(r.clients), num: true },
      { label: 'flagged', value: (r) => r.flagged, render: (r) => num(r.flagged), num: true },
      { label: 'flagged %', value: share, render: (r) => `${fixed(share(r) * 100, 1)} %`, num: true },
    ], rows.slice(0, 500), { testid: 'inventory-table', rowTestid: 'route-row', rowClass: (r) => (probed(r) ? 'hot' : null) })),
    rows.length > 500 ? h('p', { class: 'note' }, `the first 500 of ${num(rows.length)}; narrow with the filter`) : null);
  }
  filter.addEventListener('input', draw);
  only.addEventListener('change', draw);
  api.get('v1/inventory').then((r) => {
    if (!current()) return;
    routes = r.routes || []; total = r.total ?? routes.length;
    draw();
  }).catch((e) => { if (current()) replace(body, state.error('Inventory unavailable', e)); });
}
