// Rampart dashboard: entry point. Hash routing (#/overview,
// #/incidents?detector=scan, #/swarms, #/client/ip:1.2.3.4, ...) in one page, so
// the daemon only serves static files; each page module renders into
// <main> and returns a cleanup function (timers, charts) run when the
// route changes. The admin token lives in sessionStorage only.
import { token, setToken, flash } from './util.js';
import * as overview from './overview.js';
import * as incidents from './incidents.js';
import * as swarms from './swarms.js';
import * as client from './client.js';
import * as decisions from './decisions.js';
import * as inventory from './inventory.js';
import * as tuning from './tuning.js';

const pages = { overview, incidents, swarms, client, decisions, inventory, tuning };
let cleanup = null;
let seq = 0;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const params = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
  const slash = path.indexOf('/');
  const name = slash >= 0 ? path.slice(0, slash) : path;
  let arg = slash >= 0 ? path.slice(slash + 1) : '';
  try { arg = decodeURIComponent(arg); } catch { /* keep raw */ }
  return { name: name || 'overview', arg, params };
}

function route() {
  const { name, arg, params } = parseHash();
  const page = pages[name] || overview;
  if (cleanup) { try { cleanup(); } catch { /* page already gone */ } cleanup = null; }
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === name);
  const main = document.getElementById('main');
  while (main.firstChild) main.removeChild(main.firstChild);
  main.dataset.page = pages[name] ? name : 'overview';
  const mine = ++seq;
  document.title = `Rampart · ${main.dataset.page}`;
  const c = page.render(main, arg, params, () => mine === seq);
  cleanup = typeof c === 'function' ? c : null;
}

function showToken() {
  const has = !!token();
  const st = document.getElementById('token-state');
  st.textContent = has ? 'token set' : 'read-only';
  st.className = has ? '' : 'muted';
  st.setAttribute('data-testid', 'token-state');
  document.getElementById('token-clear').hidden = !has;
  document.body.classList.toggle('has-token', has);
}

document.getElementById('token-save').addEventListener('click', () => {
  const i = document.getElementById('token-input');
  const t = i.value.trim();
  if (!t) { flash('Enter the admin token first (the content of serve.token_file).', true); return; }
  setToken(t); i.value = ''; showToken(); flash('Token set for this browser tab; changes will use it.');
  window.dispatchEvent(new Event('rampart-token'));
});
document.getElementById('token-input').addEventListener('keydown', (e) => {
  if (e.key === 'Enter') { e.preventDefault(); document.getElementById('token-save').click(); }
});
document.getElementById('token-clear').addEventListener('click', () => {
  setToken(''); showToken(); flash('Token forgotten: the dashboard is read-only.');
  window.dispatchEvent(new Event('rampart-token'));
});
document.getElementById('client-go').addEventListener('submit', (e) => {
  e.preventDefault();
  const k = document.getElementById('client-go-key').value.trim();
  if (k) location.hash = `#/client/${encodeURIComponent(k.includes(':') && !/^[0-9a-f:]+$/i.test(k) ? k : `ip:${k}`)}`;
});

window.addEventListener('hashchange', route);
showToken();
route();
