// Rampart dashboard: shared helpers (DOM building, formatting, the API).
//
// Every value from the API reaches the page through text nodes or
// attribute setters built here: there is no innerHTML and no handler built
// from data, so a user agent or path holding markup is shown as text. Links
// are only ever built from our own hash routes.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'testid') el.setAttribute('data-testid', v);
      else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      else if (k === 'value') el.value = v;
      else if (k === 'checked') el.checked = !!v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
export function replace(el, ...children) { clear(el); append(el, children); return el; }

export const state = {
  loading: (what) => h('p', { class: 'state loading' }, `Loading ${what}…`),
  empty: (what) => h('p', { class: 'state empty' }, what),
  error: (what, err) => h('p', { class: 'state error', testid: 'error' }, `${what}: ${errText(err)}`),
};

export function errText(err) {
  if (!err) return 'unknown error';
  if (err.status === 404 && err.missing) return 'this daemon does not offer the endpoint yet (404)';
  return err.message || String(err);
}

// --- formatting ------------------------------------------------------------
const nf = new Intl.NumberFormat('en-US');
export function num(v) { return v === null || v === undefined || Number.isNaN(v) ? '–' : nf.format(v); }
export function fixed(v, d) { return v === null || v === undefined ? '–' : Number(v).toFixed(d); }
export function rate(v) {
  if (v === null || v === undefined) return '–';
  return v >= 100 ? nf.format(Math.round(v)) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}
export function bytes(v) {
  if (v === null || v === undefined) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0; let x = v;
  while (x >= 1024 && i < u.length - 1) { x /= 1024; i++; }
  return `${i ? x.toFixed(1) : x} ${u[i]}`;
}
// Times from the API are ISO 8601 strings, epoch seconds or epoch ms.
export function toMs(t) {
  if (t === null || t === undefined || t === '') return null;
  if (typeof t === 'number') return t > 1e12 ? t : t * 1000;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : ms;
}
const pad = (n) => String(n).padStart(2, '0');
export function when(t) {
  const ms = toMs(t);
  if (ms === null) return '–';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
export function duration(s) {
  if (s === null || s === undefined) return '–';
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ''}`.trim();
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}
export function untilText(t) {
  const ms = toMs(t);
  if (ms === null) return '–';
  const left = (ms - Date.now()) / 1000;
  return left <= 0 ? 'expired' : `in ${duration(left)}`;
}

export function badge(action) {
  const a = action || 'none';
  return h('span', { class: `badge ${a}`, testid: 'action' }, a);
}
export function clientHref(key) { return `#/client/${encodeURIComponent(key)}`; }
export function clientLink(key) { return h('a', { href: clientHref(key), class: 'mono', testid: 'client-link' }, key); }

// Colours for detectors and threats: stable by name, readable on white.
const PALETTE = ['#2f6fd6', '#c62828', '#b86e00', '#2e7d32', '#7b3fb3', '#00838f', '#ad1457',
  '#5d6b00', '#37474f', '#ef6c00', '#1565c0', '#6d4c41'];
export function colour(name, names) {
  const i = names ? names.indexOf(name) : -1;
  if (i >= 0) return PALETTE[i % PALETTE.length];
  let x = 0;
  for (const ch of String(name)) x = (x * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[x % PALETTE.length];
}

// --- the API -----------------------------------------------------------------
// Relative to /ui/: the API is on the same origin, one level up.
const API = '../';
const TOKEN_KEY = 'rampart.token';
export function token() { try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; } }
export function setToken(t) {
  try { if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY); } catch { /* private mode */ }
}

export class ApiError extends Error {
  constructor(status, message, missing) { super(message); this.status = status; this.missing = missing; }
}

async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  const opts = { method, headers, cache: 'no-store', credentials: 'same-origin' };
  if (method !== 'GET') {
    const t = token();
    if (!t) throw new ApiError(0, 'a token is needed for changes: enter the admin token at the top right');
    headers.Authorization = `Bearer ${t}`;
  }
  if (body !== undefined) { headers['Content-Type'] = 'application/json'; opts.body = JSON.stringify(body); }
  let res;
  try { res = await fetch(API + path, opts); } catch (e) {
    throw new ApiError(0, `the daemon did not answer (${e.message})`);
  }
  let data = null;
  const text = await res.text();
  if (text) { try { data = JSON.parse(text); } catch { data = null; } }
  if (res.ok) return data;
  const msg = data && typeof data.error === 'string' ? data.error : `HTTP ${res.status}`;
  if (res.status === 401) throw new ApiError(401, `the token was refused (401): check the admin token — ${msg}`);
  if (res.status === 403 && method !== 'GET') throw new ApiError(403, `changes are refused (403): ${msg}`);
  throw new ApiError(res.status, msg, res.status === 404 && /no such endpoint/.test(msg));
}
export const api = {
  get: (path) => request('GET', path),
  post: (path, body) => request('POST', path, body),
  del: (path) => request('DELETE', path),
};
export function qs(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === '') continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}
export function keyPath(key) { return encodeURIComponent(key).replace(/%3A/gi, ':'); }

// Flash messages: one line under the header, for the result of a change.
let flashTimer = 0;
export function flash(text, isError) {
  const el = document.getElementById('flash');
  el.textContent = text;
  el.className = isError ? 'flash error' : 'flash';
  el.setAttribute('data-testid', isError ? 'flash-error' : 'flash-ok');
  el.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { el.hidden = true; }, isError ? 12000 : 6000);
}

// A sortable table: columns [{label, value(row), render(row)?, num?, sort?}].
// Sorting happens on the rows given (the page already filtered them).
export function table(columns, rows, opts = {}) {
  let sortCol = opts.sortCol ?? -1;
  let sortDir = opts.sortDir ?? 'desc';
  const tbody = h('tbody');
  const heads = columns.map((c, i) => h('th', {
    class: `${c.num ? 'num ' : ''}${c.sort === false ? '' : 'sortable'}`,
    on: c.sort === false ? null : { click: () => { sortDir = sortCol === i && sortDir === 'desc' ? 'asc' : 'desc'; sortCol = i; draw(); } },
  }, c.label));
  function draw() {
    heads.forEach((th, i) => { th.classList.toggle('sorted-asc', i === sortCol && sortDir === 'asc'); th.classList.toggle('sorted-desc', i === sortCol && sortDir === 'desc'); });
    let r = rows.slice();
    if (sortCol >= 0) {
      const v = columns[sortCol].value;
      r.sort((a, b) => {
        const x = v(a); const y = v(b);
        const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x ?? '').localeCompare(String(y ?? ''));
        return sortDir === 'asc' ? c : -c;
      });
    }
    clear(tbody);
    for (const row of r) {
      const tr = h('tr', { testid: opts.rowTestid || 'row', class: opts.rowClass ? opts.rowClass(row) : null },
        columns.map((c) => h('td', { class: c.num ? 'num' : c.wrap ? 'wrap' : null }, c.render ? c.render(row) : c.value(row))));
      tbody.appendChild(tr);
    }
  }
  draw();
  return h('table', { testid: opts.testid || null }, h('thead', null, h('tr', null, heads)), tbody);
}
