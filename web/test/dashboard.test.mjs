// Browser tests of the dashboard: headless Debian Chromium driven by
// playwright-core. Run by tests/e2e/dashboard.sh, which starts the daemon,
// replays a seeded event stream and passes, in the environment:
//   UI     the dashboard's URL (http://HOST:PORT/ui/)
//   ADMIN  the admin API (same origin)
//   TOKEN  the admin token
//   XSS_KEY    a client whose user agent and paths hold markup
//   QUIET_KEY  a client without a decision (blocked and unblocked here)
//   LIVE_KEY, LIVE_EVENTS  a client seen once, and the scanner's events it
//              sends while its page is open (RAMPART send to SOCK)
//   IMG_DIR    where screenshots go (docs/img)
// Each check compares what a page shows with what the API answers.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const UI = process.env.UI;
const ADMIN = process.env.ADMIN;
const TOKEN = process.env.TOKEN;
const IMG_DIR = process.env.IMG_DIR || '';
let passed = 0; let failed = 0;

function ok(what, cond, detail) {
  if (cond) { passed++; console.log(`  ok: ${what}`); } else { failed++; console.log(`  FAIL: ${what}${detail ? ` (${detail})` : ''}`); }
}
async function apiGet(p) {
  const r = await fetch(ADMIN + p);
  if (!r.ok) throw new Error(`${p}: HTTP ${r.status}`);
  return r.json();
}
async function apiStatus(p) { return (await fetch(ADMIN + p)).status; }
const digits = (s) => (s || '').replace(/[^0-9.-]/g, '');
const fmt = (n) => new Intl.NumberFormat('en-US').format(n);

async function shot(page, name) {
  if (!IMG_DIR) return;
  fs.mkdirSync(IMG_DIR, { recursive: true });
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(IMG_DIR, `${name}.png`) });
}
async function text(page, sel) { return (await page.locator(sel).first().textContent({ timeout: 10000 })) || ''; }
async function waitText(page, sel, want, timeout = 10000) {
  const end = Date.now() + timeout; let got = '';
  while (Date.now() < end) {
    got = (await page.locator(sel).first().textContent().catch(() => '')) || '';
    if (got.trim() === want) return got.trim();
    await page.waitForTimeout(100);
  }
  return got.trim();
}
async function go(page, hash) {
  await page.goto(`${UI}${hash}`);
  await page.waitForFunction(() => !document.querySelector('main .state.loading'), null, { timeout: 15000 }).catch(() => {});
}

const suites = {};

suites.overview = async (page) => {
  await go(page, '#/overview');
  const stats = await apiGet('/v1/stats');
  ok('overview: events total matches /v1/stats', await waitText(page, '[data-testid=kpi-events]', fmt(stats.engine.events)) === fmt(stats.engine.events));
  for (const a of ['block', 'throttle', 'monitor']) {
    const got = await text(page, `[data-testid=kpi-incidents-${a}]`);
    ok(`overview: ${a} incidents match /v1/stats (${stats.incidents[a]})`, digits(got) === String(stats.incidents[a]), got);
  }
  ok('overview: active decisions match /v1/stats', digits(await text(page, '[data-testid=kpi-decisions-active]')) === String(stats.table.active));
  const tracked = Object.values(stats.engine.clients || {}).reduce((t, l) => t + (l.tracked || 0), 0);
  ok(`overview: clients tracked match /v1/stats (${tracked})`, digits(await text(page, '[data-testid=kpi-clients]')) === String(tracked));
  // Read again at the same moment as the page's next refresh: every
  // counter it shows is the API's of that moment.
  const loaded = Number(await page.getAttribute('main', 'data-loaded'));
  await page.waitForFunction((n) => Number(document.querySelector('main').dataset.loaded) > n, loaded, { timeout: 12000 });
  const again = await apiGet('/v1/stats');
  const shown = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('[data-testid^=kpi-]')].map((e) => [e.dataset.testid, e.textContent])));
  const want = { 'kpi-events': again.engine.events, 'kpi-incidents-block': again.incidents.block, 'kpi-incidents-throttle': again.incidents.throttle,
    'kpi-incidents-monitor': again.incidents.monitor, 'kpi-decisions-active': again.table.active,
    'kpi-clients': Object.values(again.engine.clients || {}).reduce((t, l) => t + (l.tracked || 0), 0) };
  const differ = Object.entries(want).filter(([id, v]) => digits(shown[id]) !== String(v));
  ok('overview: after a live refresh every counter matches /v1/stats read with it', differ.length === 0,
    differ.map(([id, v]) => `${id} ${shown[id]} vs ${v}`).join(', '));
  const dets = Object.entries(stats.incidents_by_detector).filter(([, n]) => n > 0);
  let same = dets.length > 0;
  for (const [d, n] of dets) {
    const got = await text(page, `[data-testid=det-${d}] [data-testid=count]`).catch(() => '');
    if (digits(got) !== String(n)) same = false;
  }
  ok('overview: incidents per detector match /v1/stats', same);
  if (await apiStatus('/v1/timeseries?minutes=60') === 200) {
    const ts = await apiGet('/v1/timeseries?minutes=60');
    const total = ts.requests.reduce((a, b) => a + b, 0);
    ok('overview: requests in the window match /v1/timeseries', await waitText(page, '[data-testid=kpi-window-requests]', fmt(total)) === fmt(total));
    ok('overview: traffic chart drawn', await page.locator('[data-testid=chart-traffic] canvas').count() === 1);
  } else ok('overview: /v1/timeseries missing is shown as an error state', (await page.locator('[data-testid=error]').count()) > 0);
  if (await apiStatus('/v1/top?minutes=60&limit=10') === 200) {
    const top = await apiGet('/v1/top?minutes=60&limit=10');
    const keys = await page.locator('[data-testid=top-client] [data-testid=client-link]').allTextContents();
    ok('overview: top clients are those of /v1/top', JSON.stringify(keys) === JSON.stringify(top.clients.map((c) => c.key)), `${keys.length} vs ${top.clients.length}`);
    ok('overview: top routes count matches /v1/top', await page.locator('[data-testid=top-route]').count() === top.routes.length);
  }
  await shot(page, 'overview');
};


suites.incidents = async (page) => {
  await go(page, '#/incidents');
  const all = await apiGet('/v1/incidents?group=key&limit=50');
  const steps = await apiGet('/v1/incidents?limit=1000');
  await page.waitForSelector('[data-testid=incidents-total][data-total]');
  ok('incidents: one row per client by default', await page.getAttribute('[data-testid=incidents-total]', 'data-grouped') === 'true');
  ok(`incidents: total clients match /v1/incidents?group=key (${all.total})`, await page.getAttribute('[data-testid=incidents-total]', 'data-total') === String(all.total));
  const distinct = new Set(steps.incidents.map((i) => i.key)).size;
  ok(`incidents: as many rows as keys with incidents (${distinct} keys, ${steps.total} incidents)`, steps.total > 1000 || all.total === distinct);
  const first = await page.locator('[data-testid=incident] [data-testid=client-link]').allTextContents();
  ok('incidents: one row per key of the page, latest first, as the API', first.length === all.incidents.length && new Set(first).size === first.length
    && JSON.stringify(first) === JSON.stringify(all.incidents.map((i) => i.key)));
  const evidence = await page.locator('[data-testid=incident] [data-testid=evidence]').allTextContents();
  ok('incidents: every row has its evidence line, as the API', evidence.length === all.incidents.length && evidence.every((e, i) => e === all.incidents[i].evidence && e.length > 3),
    evidence.slice(0, 2).join(' | '));
  const refused = await page.locator('[data-testid=incident] [data-testid=refused]').allTextContents();
  ok('incidents: the refused count of each row as the API', refused.every((r, i) => {
    const v = all.incidents[i].requests_after_stop; return v === null ? r === '–' : digits(r) === String(v);
  }));
  ok('incidents: the refused count says what it means', /after its first throttle or block/.test(await page.getAttribute('[data-testid=refused]', 'title')));
  await shot(page, 'incidents');
  await page.click('[data-testid=steps-toggle]');
  await page.waitForFunction(() => document.querySelector('[data-testid=incidents-total]')?.dataset.grouped === 'false');
  const per = await apiGet('/v1/incidents?limit=50');
  ok(`incidents: every escalation step on demand, as /v1/incidents (${per.total})`, await page.getAttribute('[data-testid=incidents-total]', 'data-total') === String(per.total)
    && await page.locator('[data-testid=incident]').count() === per.incidents.length);
  await go(page, '#/incidents');
  await page.selectOption('[data-testid=filter-detector]', 'scan');
  await page.selectOption('[data-testid=filter-action]', 'block');
  await page.click('[data-testid=filters] button[type=submit]');
  await page.waitForFunction(() => location.hash.includes('detector=scan'));
  const scan = await apiGet('/v1/incidents?detector=scan&action=block&limit=50');
  await page.waitForSelector('[data-testid=incidents-total][data-total]');
  ok(`incidents: filtered by detector and action as the API (${scan.total})`,
    await page.getAttribute('[data-testid=incidents-total]', 'data-total') === String(scan.total));
  // sort by score, ascending then descending
  await page.click('th:has-text("score")');
  const scores = (await page.locator('[data-testid=incident] td:nth-child(4)').allTextContents()).map(Number);
  ok('incidents: sorting by score', scores.every((v, i) => i === 0 || scores[i - 1] >= v));
  if (scan.total > 0) {
    await page.locator('[data-testid=incident] [data-testid=client-link]').first().click();
    await page.waitForFunction(() => location.hash.startsWith('#/client/'));
    ok('incidents: a row links to its client', (await text(page, '[data-testid=client-key]')).startsWith('ip:'));
  }
};

suites.client = async (page) => {
  const top = await apiGet('/v1/top?minutes=60&limit=10');
  const key = top.clients.length ? top.clients[0].key : process.env.XSS_KEY;
  const c = await apiGet(`/v1/clients/${key}`);
  await go(page, `#/client/${encodeURIComponent(key)}`);
  await page.waitForSelector('[data-testid=findings], [data-testid=not-tracked]');
  ok('client: key shown', (await text(page, '[data-testid=client-key]')) === key);
  const nFeatures = ((c.live && c.live.findings) || []).reduce((n, f) => n + f.features.length, 0);
  ok(`client: one bar per feature (${nFeatures})`, await page.locator('[data-testid=feature]').count() === nFeatures);
  if (c.decision) ok(`client: decision ${c.decision.action} shown`, (await text(page, '[data-testid=decision-actions] >> xpath=.. >> [data-testid=action]')) === c.decision.action);
  if (c.live) ok('client: request count as the API', digits(await text(page, '[data-testid=live-requests]')) === String(c.live.requests));
  const reqs = await apiGet(`/v1/clients/${key}/requests?limit=500`);
  await page.waitForSelector('[data-testid=requests-table], [data-testid=chart-timeline] .state');
  ok('client: timeline drawn', reqs.requests.length === 0 || await page.locator('[data-testid=chart-timeline] canvas').count() === 1);
  ok('client: sample requests listed', await page.locator('[data-testid=request]').count() === Math.min(100, reqs.requests.length));
  await page.waitForSelector('[data-testid=same-subnet]');
  const rel = await apiGet(`/v1/clients/${key}/related`);
  ok('client: related keys of the subnet as the API', await page.locator('[data-testid=same-subnet] [data-testid=client-link]').count() === rel.same_subnet.length);
  await shot(page, 'client');
};

suites.escaping = async (page) => {
  const key = process.env.XSS_KEY;
  const c = await apiGet(`/v1/clients/${key}`);
  await go(page, `#/client/${encodeURIComponent(key)}`);
  await page.waitForSelector('[data-testid=user-agent]');
  ok('escaping: the user agent is shown as text', (await text(page, '[data-testid=user-agent]')) === c.live.user_agent && c.live.user_agent.includes('<script>'));
  await page.waitForSelector('[data-testid=request] [data-testid=path]');
  const paths = await page.locator('[data-testid=request] [data-testid=path]').allTextContents();
  ok('escaping: paths with <script> shown as text', paths.length > 0 && paths.some((p) => p.includes('<script>')), paths[0]);
  await go(page, `#/incidents?key=${encodeURIComponent(key)}`);
  await page.waitForSelector('[data-testid=incidents-total][data-total]');
  const uas = await page.locator('[data-testid=ua]').allTextContents();
  ok('escaping: incidents list shows the user agent as text', uas.length > 0 && uas.every((u) => u.includes('<script>')));
  await go(page, '#/inventory?q=script');
  await page.waitForSelector('[data-testid=route-row], main .state');
  await page.fill('[data-testid=inventory-filter]', 'script');
  const routes = await page.locator('[data-testid=route]').allTextContents();
  ok('escaping: inventory shows the route as text', routes.some((r) => r.includes('<script>')), routes.join(' | '));
  const hit = await page.evaluate(() => ({ xss: window.__xss, scripts: document.querySelectorAll('main script').length,
    imgs: document.querySelectorAll('main img').length }));
  ok('escaping: no injected script ran and no element was created', hit.xss === undefined && hit.scripts === 0 && hit.imgs === 0, JSON.stringify(hit));
};

suites.swarms = async (page) => {
  const sw = await apiGet('/v1/swarms?limit=100&top=5');
  await go(page, '#/swarms');
  await page.waitForSelector('[data-testid=swarms-total][data-total]');
  ok(`swarms: count matches /v1/swarms (${sw.total})`, await page.getAttribute('[data-testid=swarms-total]', 'data-total') === String(sw.total));
  ok('swarms: one row per swarm', await page.locator('[data-testid=swarm]').count() === sw.swarms.length);
  const shown = await page.$$eval('[data-testid=swarm]', (rows) => rows.map((r) => ({
    key: r.querySelector('[data-testid=swarm-key]').textContent,
    members: r.querySelector('[data-testid=swarm-members]').textContent,
    stopped: r.querySelector('[data-testid=swarm-stopped]').textContent,
    requests: r.querySelector('[data-testid=swarm-requests]').textContent,
    ua: r.querySelector('[data-testid=swarm-ua]').textContent,
    links: [...r.querySelectorAll('[data-testid=swarm-top-members] [data-testid=client-link]')].map((a) => a.textContent) })));
  const byKey = Object.fromEntries(shown.map((r) => [r.key, r]));
  let same = sw.swarms.length > 0; let bad = '';
  for (const s of sw.swarms) {
    const r = byKey[s.key];
    const want = { members: fmt(s.members) + (s.members_truncated ? '+' : ''), stopped: `${fmt(s.stopped)} / ${fmt(s.members)}`,
      requests: fmt(s.window.requests), links: JSON.stringify(s.top_members.map((m) => m.key)) };
    if (!r || r.members !== want.members || r.stopped !== want.stopped || r.requests !== want.requests || JSON.stringify(r.links) !== want.links) {
      same = false; bad = `${s.key}: ${JSON.stringify(r)} vs ${JSON.stringify(want)}`; break;
    }
  }
  ok('swarms: members, stopped, requests and top members of every row match /v1/swarms', same, bad);
  const rowsMembers = shown.map((r) => Number(digits(r.members)));
  ok('swarms: biggest swarm first', rowsMembers.every((v, i) => i === 0 || rowsMembers[i - 1] >= v));
  const hostile = sw.swarms.find((s) => (s.user_agent || '').includes('__xss=4'));
  ok('swarms: the swarm with a hostile user agent is listed', !!hostile && hostile.level === 'fingerprint' && hostile.members >= 10, hostile && hostile.key);
  if (!hostile) return;
  ok('swarms: its user agent is shown as text', byKey[hostile.key] && byKey[hostile.key].ua === hostile.user_agent);
  await shot(page, 'swarms');
  // A member link opens that address's client page.
  const member = hostile.top_members[0].key;
  await page.locator('[data-testid=swarm] [data-testid=swarm-top-members] [data-testid=client-link]', { hasText: member }).first().click();
  await page.waitForFunction((k) => decodeURIComponent(location.hash) === `#/client/${k}`, member);
  ok('swarms: a member link opens its client page', (await waitText(page, '[data-testid=client-key]', member)) === member);
  // The member was charged via the swarm: its findings link back to it.
  const mc = await apiGet(`/v1/clients/${member}`);
  if (((mc.live && mc.live.findings) || []).some((f) => /\(via /.test(f.summary))) {
    await page.waitForSelector('[data-testid=via] [data-testid=client-link]');
    ok('swarms: the member\'s finding links to its swarm', (await text(page, '[data-testid=via] [data-testid=client-link]')) === hostile.key);
  }
  // The swarm's own client page lists its members.
  const m = await apiGet(`/v1/clients/${hostile.key}/members?limit=200`);
  await go(page, `#/client/${encodeURIComponent(hostile.key)}`);
  await page.waitForSelector('[data-testid=members-table], [data-testid=members-card] .state');
  ok(`swarm client page: member count as the API (${m.members})`, (await text(page, '[data-testid=members-count]')) === fmt(m.members));
  ok('swarm client page: stopped as the API', (await text(page, '[data-testid=members-stopped]')) === fmt(m.stopped));
  ok('swarm client page: one row per member', await page.locator('[data-testid=member]').count() === m.top_members.length);
  const links = (await page.locator('[data-testid=member] [data-testid=client-link]').allTextContents()).sort();
  ok('swarm client page: the members of /members', JSON.stringify(links) === JSON.stringify(m.top_members.map((x) => x.key).sort()));
  const first = await text(page, '[data-testid=member] [data-testid=client-link]');
  await page.locator('[data-testid=member] [data-testid=client-link]').first().click();
  ok(`swarm client page: a member link opens its client page (${first})`, first.startsWith('ip:') && (await waitText(page, '[data-testid=client-key]', first)) === first);
  const hit = await page.evaluate(() => ({ xss: window.__xss, imgs: document.querySelectorAll('main img').length }));
  ok('swarms: the hostile user agent ran nothing', hit.xss === undefined && hit.imgs === 0, JSON.stringify(hit));
};

async function decisionKeys() { return (await apiGet('/v1/decisions')).decisions.map((d) => `${d.key} ${d.action}`); }
async function setToken(page, t) {
  await page.fill('#token-input', t);
  await page.click('#token-save');
}
async function flashText(page, kind) {
  await page.waitForSelector(`[data-testid=flash-${kind}]:not([hidden])`, { timeout: 10000 });
  return text(page, `[data-testid=flash-${kind}]`);
}

// Fleet mode (docs/cluster.md#fleet-view): the edge's dashboard shows the
// detector's incident, who decided it and the hosts that saw its requests,
// and links its mirrored decision to it; a standalone daemon's pages have
// no such columns.
suites.fleet = async (page) => {
  const FLEET_UI = process.env.FLEET_UI; const FLEET_ADMIN = process.env.FLEET_ADMIN; const key = process.env.FLEET_KEY;
  await go(page, '#/incidents');
  await page.waitForSelector('[data-testid=incidents-total][data-total]');
  ok('fleet: a standalone daemon shows no "decided by" column', await page.locator('[data-testid=incident-node]').count() === 0);
  if (!FLEET_UI) { ok('fleet: FLEET_UI given by dashboard.sh', false); return; }
  const api = await (await fetch(`${FLEET_ADMIN}/v1/incidents?group=key&limit=50`)).json();
  const want = api.incidents.find((i) => i.key === key);
  ok('fleet: the edge\'s API lists the detector\'s incident', want && want.node === 'det-1' && want.hosts.includes('edge-a'), JSON.stringify(want && want.hosts));
  await page.goto(`${FLEET_UI}#/incidents`);
  await page.waitForSelector('[data-testid=incidents-total][data-total]');
  const row = page.locator('[data-testid=incident]', { has: page.locator(`[data-testid=client-link]:text-is("${key}")`) });
  ok('fleet: the edge\'s incidents page has the scanner', await row.count() === 1);
  ok('fleet: decided by det-1, as the API', (await row.locator('[data-testid=incident-node]').textContent()) === want.node);
  const hosts = await row.locator('[data-testid=incident-hosts] .tag').allTextContents();
  ok('fleet: seen on the hosts the API names', JSON.stringify(hosts) === JSON.stringify(want.hosts), hosts.join(','));
  await shot(page, 'fleet-incidents');
  await page.goto(`${FLEET_UI}#/decisions`);
  await page.waitForSelector('[data-testid=decisions-table]');
  const dec = (await (await fetch(`${FLEET_ADMIN}/v1/decisions`)).json()).decisions.find((d) => d.key === key);
  const link = page.locator('[data-testid=decision]', { has: page.locator(`[data-testid=client-link]:text-is("${key}")`) }).locator('[data-testid=decision-incident]');
  ok('fleet: the mirrored decision names its incident and the detector', dec && (await link.textContent()) === `incident #${dec.incident_id} of det-1`);
  await link.click();
  await page.waitForFunction(() => location.hash.startsWith('#/incidents'));
  await page.waitForSelector('[data-testid=incidents-total][data-total]');
  ok('fleet: which links to the incident on this edge', (await page.locator('[data-testid=incident] [data-testid=incident-node]').allTextContents()).join() === 'det-1');
  // The detector's memory window: each recent request with the host that saw it.
  const DET = process.env.DET_ADMIN;
  const reqs = (await (await fetch(`${DET}/v1/clients/${encodeURIComponent(key)}/requests?limit=500`)).json()).requests;
  await page.goto(`${DET}/ui/#/client/${encodeURIComponent(key)}`);
  await page.waitForSelector('[data-testid=requests-table]');
  const hostsShown = await page.locator('[data-testid=request] [data-testid=request-host]').allTextContents();
  ok(`fleet: the detector's client page names the host of each recent request (${reqs.length}, edge-a)`,
    hostsShown.length === Math.min(100, reqs.length) && reqs.length > 0 && hostsShown.every((x) => x === 'edge-a') && reqs.every((q) => q.host === 'edge-a'),
    `${hostsShown.length} shown of ${reqs.length}`);
};

suites.decisions = async (page) => {
  const key = process.env.QUIET_KEY;
  await go(page, `#/client/${encodeURIComponent(key)}`);
  await page.waitForSelector('[data-testid=block]');
  ok('decisions: without a token the page says a token is needed', await page.locator('[data-testid=token-needed]').count() === 1);
  await page.click('[data-testid=block]');
  ok('decisions: block without a token explains', /token is needed/.test(await flashText(page, 'error')));
  await setToken(page, 'wrong-token-wrong-token-wrong');
  await page.waitForSelector('[data-testid=block]:not([disabled])');
  await page.click('[data-testid=block]');
  ok('decisions: a refused token shows a clear 401 message', /refused \(401\)/.test(await flashText(page, 'error')));
  ok('decisions: nothing changed without the right token', !(await decisionKeys()).some((k) => k.startsWith(`${key} `)));
  await page.click('#token-clear');
  await setToken(page, TOKEN);
  await page.waitForSelector('[data-testid=block]:not([disabled])');
  await page.selectOption('[data-testid=duration]', '6h');
  await page.click('[data-testid=block]');
  await page.waitForSelector('[data-testid=decision-expires]');
  ok('decisions: block through the client page reaches the API', (await decisionKeys()).includes(`${key} block`));
  const d = (await apiGet('/v1/decisions')).decisions.find((x) => x.key === key);
  const hours = (Date.parse(d.expires) - Date.parse(d.start)) / 3600e3;
  ok('decisions: for the chosen duration (6 h)', Math.abs(hours - 6) < 0.01, String(hours));

  await go(page, '#/decisions');
  await page.waitForSelector('[data-testid=decisions-table]');
  const api = await apiGet('/v1/decisions');
  ok(`decisions: table lists every active decision (${api.total})`, await page.locator('[data-testid=decision]').count() === api.total);
  const row = page.locator('[data-testid=decision]', { has: page.locator(`[data-testid=client-link]:text-is("${key}")`) });
  ok('decisions: the new block is in the table', await row.count() === 1);
  await row.locator('[data-testid=remove]').click();
  await page.waitForFunction((k) => ![...document.querySelectorAll('[data-testid=decision] [data-testid=client-link]')].some((a) => a.textContent === k), key, { timeout: 10000 });
  ok('decisions: removed through the UI, gone from the API', !(await decisionKeys()).some((k) => k.startsWith(`${key} `)));
  ok('decisions: the table shrank by one', await page.locator('[data-testid=decision]').count() === api.total - 1);

  await page.fill('[data-testid=add-key]', 'ip:198.51.100.200');
  await page.selectOption('[data-testid=add-action]', 'throttle');
  await page.fill('[data-testid=add-reason]', 'partner load test <b>');
  await page.click('[data-testid=add-submit]');
  await page.waitForSelector('[data-testid=decision] [data-testid=client-link]:text-is("ip:198.51.100.200")');
  ok('decisions: added through the form', (await decisionKeys()).includes('ip:198.51.100.200 throttle'));
  const tRow = page.locator('[data-testid=decision]', { has: page.locator('[data-testid=client-link]:text-is("ip:198.51.100.200")') });
  ok('decisions: the active list shows the manual reason as text', (await tRow.locator('[data-testid=decision-reason]').textContent()) === 'partner load test <b>');
  ok('decisions: and its source', (await tRow.locator('[data-testid=decision-source]').textContent()) === 'manual');
  await page.click('[data-testid=history-toggle]');
  await page.waitForSelector('[data-testid=history-table]');
  ok('decisions: history shows the manual reason as text', await page.locator('[data-testid=history-table] td:text-is("partner load test <b>")').count() >= 1);
  await go(page, '#/client/ip%3A198.51.100.200');
  await page.waitForSelector('[data-testid=decision-strip] [data-testid=decision-reason]');
  ok('decisions: the client page shows the manual reason', (await text(page, '[data-testid=decision-strip] [data-testid=decision-reason]')) === 'partner load test <b>');
  await go(page, '#/decisions');
  await page.waitForSelector('[data-testid=decisions-table]');
  await shot(page, 'decisions');
};

// A block decided by the engine while the page is open on the client: the
// page reads the decision again on its own (no reload) and shows it within
// 2 s of the table holding it (/v1/check, which nginx's auth_request asks,
// answering 403 is the moment the block is enforced).
suites.live = async (page) => {
  const key = process.env.LIVE_KEY;
  const ip = key.slice(3);
  await go(page, `#/client/${encodeURIComponent(key)}`);
  await page.waitForSelector('[data-testid=decision-strip]');
  ok('live: the scanner-to-be has no decision yet', await page.getAttribute('[data-testid=decision-strip]', 'data-action') === 'none');
  const navigations = [];
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations.push(f.url()); });
  execFileSync(process.env.RAMPART, ['send', '--quiet', '--socket', process.env.SOCK, process.env.LIVE_EVENTS]);
  let enforcedAt = 0; let shownAt = 0;
  const end = Date.now() + 20000;
  while (Date.now() < end && !(enforcedAt && shownAt)) {
    if (!enforcedAt && (await fetch(`${ADMIN}/v1/check?ip=${ip}`)).status === 403) enforcedAt = Date.now();
    if (!shownAt && await page.getAttribute('[data-testid=decision-strip]', 'data-action') === 'block') shownAt = Date.now();
    await new Promise((r) => setTimeout(r, 20));
  }
  const lag = shownAt - enforcedAt;
  ok('live: the engine blocked the scanner (/v1/check answers 403)', enforcedAt > 0);
  ok(`live: the client page shows the block within 2 s of the engine's decision (${lag} ms)`, enforcedAt > 0 && shownAt > 0 && lag <= 2000, `${enforcedAt} ${shownAt}`);
  console.log(`  measured: engine block -> client page ${lag} ms`);
  ok('live: without a reload', navigations.length === 0, navigations.join(' '));
  const c = await apiGet(`/v1/clients/${key}`);
  ok('live: the page shows the API\'s decision', c.decision && c.decision.action === 'block' && c.decision.source === 'engine'
    && (await page.locator('[data-testid=decision-strip] [data-testid=action]').first().textContent()) === 'block');
};

suites.inventory = async (page) => {
  const inv = await apiGet('/v1/inventory');
  await go(page, '#/inventory');
  await page.waitForSelector('[data-testid=inventory-total][data-total]');
  ok(`inventory: total matches /v1/inventory (${inv.total})`, await page.getAttribute('[data-testid=inventory-total]', 'data-total') === String(inv.total));
  ok('inventory: rows shown', await page.locator('[data-testid=route-row]').count() === Math.min(500, inv.routes.length));
  await page.selectOption('[data-testid=inventory-only]', 'probed');
  const probed = inv.routes.filter((r) => !r.declared && r.flagged > 0).length;
  ok(`inventory: undeclared and probed routes stand out (${probed})`, await page.locator('tr.hot[data-testid=route-row]').count() === Math.min(500, probed));
  await page.selectOption('[data-testid=inventory-only]', '');
  await shot(page, 'inventory');
};

suites.tuning = async (page) => {
  const cfg = await apiGet('/v1/config');
  await go(page, '#/tuning');
  await page.waitForSelector('[data-testid=tune-table]');
  ok('tuning: one row per detector of the profile', await page.locator('[data-testid=tune-table] > tbody > tr').count() === cfg.profiles[0].detectors.length);
  const w = cfg.profiles[0].detectors.find((d) => d.name === 'enumeration');
  ok('tuning: weights as the API', Number(await page.inputValue('[data-testid=weight-enumeration]')) === w.weight);
  await page.fill('[data-testid=reaction-monitor]', '20');
  await page.fill('[data-testid=reaction-throttle]', '30');
  await page.fill('[data-testid=reaction-block]', '45');
  const yaml = await page.inputValue('[data-testid=yaml]');
  ok('tuning: the edits are in the proposed YAML', /block: 45/.test(yaml));
  await page.click('[data-testid=whatif]');
  await page.waitForSelector('[data-testid=whatif-count], [data-testid=whatif-result] .state.error', { timeout: 60000 });
  const r = await fetch(`${ADMIN}/v1/whatif`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ config: yaml }) });
  const wi = await r.json();
  const shown = digits(await text(page, '[data-testid=whatif-count]').catch(() => 'error'));
  ok(`tuning: what-if predicts changes as the API (${(wi.changes || []).length})`, r.ok && shown === String(wi.changes.length) && wi.changes.length > 0, `${r.status} ${shown}`);
  ok('tuning: one row per predicted change', await page.locator('[data-testid=change]').count() === (wi.changes || []).length);
  ok('tuning: blocks after as the API', digits(await text(page, '[data-testid=after-block]')) === String(wi.after.block));
  await page.locator('[data-testid=whatif]').scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollBy(0, 250));
  await shot(page, 'tuning');
  page.once('dialog', (d) => d.accept());
  await page.click('[data-testid=apply]');
  // wait for this answer, not a flash left by an earlier action
  const answer = await page.waitForFunction(() => {
    const t = (id) => { const e = document.querySelector(`[data-testid=${id}]`); return e && !e.hidden ? e.textContent : ''; };
    return /applied/.test(t('flash-ok') + t('flash-error')) ? t('flash-ok') + t('flash-error') : null;
  }, null, { timeout: 10000 }).then((h) => h.jsonValue()).catch(() => '');
  ok('tuning: apply reloads', /Configuration applied and reloaded/.test(answer), answer);
  const now = await apiGet('/v1/config');
  ok('tuning: the configuration in force has the new block threshold', now.profiles[0].reactions.block === 45);
};

async function main() {
  const only = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
  try {
    for (const [name, fn] of Object.entries(suites)) {
      if (only.length && !only.includes(name)) continue;
      console.log(`${name}:`);
      try { await fn(page); } catch (e) { ok(`${name}: ran to the end`, false, e.stack || e.message); }
    }
  } finally { await browser.close(); }
  const real = pageErrors.filter((m) => !/Failed to load resource: the server responded with a status of (401|404|422)/.test(m));
  ok('no script error or CSP violation in the pages', real.length === 0, real.slice(0, 5).join(' | '));
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
main();
