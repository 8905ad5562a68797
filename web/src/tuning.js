// Tuning: per profile, the reactions and each detector's weight and
// thresholds, edited in a form. The edits become a proposed configuration:
// the file in force with its top-level `profiles:` block replaced by one
// that writes every value of every profile explicitly (so nothing depends
// on presets or key order). "What if" posts it to /v1/whatif, which
// replays the daemon's memory window through the current and the proposed
// settings and lists the clients whose verdict would change; "Apply" posts
// it to /v1/config (validate, write, reload). Both need the token; the
// proposed YAML stays editable for anything the form does not cover.
import { h, replace, state, api, num, fixed, badge, clientLink, flash, token } from './util.js';

const REACTIONS = [['monitor', 'monitor at', 'score'], ['throttle', 'throttle at', 'score'], ['block', 'block at', 'score'],
  ['throttle_for_s', 'throttle for', 's'], ['block_for_s', 'block for', 's'], ['escalation', 'escalation', 'x'],
  ['max_duration_s', 'max duration', 's'], ['escalate_after', 'escalate after', 'throttles']];
const YAML_NAME = { throttle_for_s: 'throttle_for', block_for_s: 'block_for', max_duration_s: 'max_duration' };

const yname = (s) => (/^[A-Za-z0-9_.-]+$/.test(s) ? s : JSON.stringify(s));
const yval = (v) => (typeof v === 'boolean' ? String(v) : typeof v === 'number' ? String(v) : JSON.stringify(String(v)));

// The profiles block for the edited settings, every value written out.
export function profilesYaml(profiles) {
  const out = ['profiles:'];
  for (const p of profiles) {
    out.push(`  ${yname(p.name)}:`);
    if (p.tolerance) out.push(`    tolerance: ${yname(p.tolerance)}`);
    const r = p.reactions || {};
    const rs = REACTIONS.filter(([k]) => r[k] !== undefined && r[k] !== null).map(([k]) => `${YAML_NAME[k] || k}: ${yval(r[k])}`);
    if (rs.length) out.push(`    reactions: { ${rs.join(', ')} }`);
    if ((p.detectors || []).length) {
      out.push('    detectors:');
      for (const d of p.detectors) {
        const fields = [`enabled: ${d.enabled ? 'true' : 'false'}`, `weight: ${yval(d.weight)}`,
          ...Object.entries(d.params || {}).map(([k, v]) => `${yname(k)}: ${yval(v)}`)];
        out.push(`      ${yname(d.name)}: { ${fields.join(', ')} }`);
      }
    }
  }
  return `${out.join('\n')}\n`;
}

// The configuration text with its top-level profiles block replaced.
export function spliceProfiles(yaml, block) {
  const lines = (yaml || '').split('\n');
  const kept = [];
  let skipping = false;
  for (const line of lines) {
    if (/^profiles\s*:/.test(line)) { skipping = true; continue; }
    if (skipping && /^[^\s#]/.test(line)) skipping = false;
    if (!skipping) kept.push(line);
  }
  let text = kept.join('\n').replace(/\s+$/, '');
  if (text) text += '\n\n';
  return text + block;
}

const clone = (x) => JSON.parse(JSON.stringify(x));

export function render(main, _arg, _params, current) {
  const body = h('div', null, state.loading('the configuration'));
  replace(main, h('h1', null, 'Tuning'), body);
  let cfg = null; let edited = null; let profileIdx = 0; let yamlDirty = false;
  const yamlBox = h('textarea', { class: 'yaml', testid: 'yaml', spellcheck: 'false', 'aria-label': 'Proposed configuration' });
  const result = h('div', { testid: 'whatif-result' });
  const formBox = h('div');
  const tokenNote = h('div');

  function catalog(name) { return (cfg.detectors || []).find((d) => d.name === name) || { params: [] }; }
  function regenerate() { if (!yamlDirty) yamlBox.value = spliceProfiles(cfg.yaml, profilesYaml(edited.profiles)); }

  function numInput(get, set, orig, attrs) {
    const i = h('input', { type: 'number', step: 'any', value: get(), ...attrs });
    const td = h('td', { class: get() !== orig ? 'changed' : null }, i);
    i.addEventListener('input', () => {
      const v = i.value === '' ? orig : Number(i.value);
      set(v); td.classList.toggle('changed', v !== orig); yamlDirty = false; regenerate();
    });
    return td;
  }

  function drawForm() {
    const p = edited.profiles[profileIdx]; const o = cfg.profiles[profileIdx];
    const reactions = REACTIONS.filter(([k]) => p.reactions && p.reactions[k] !== undefined);
    const rows = p.detectors.map((d, di) => {
      const od = o.detectors[di]; const cat = catalog(d.name);
      const en = h('input', { type: 'checkbox', checked: d.enabled, testid: `enabled-${d.name}` });
      const enTd = h('td', null, en);
      en.addEventListener('change', () => { d.enabled = en.checked; enTd.classList.toggle('changed', d.enabled !== od.enabled); regenerate(); });
      const params = Object.keys(d.params || {}).map((name) => {
        const meta = (cat.params || []).find((x) => x.name === name) || {};
        const orig = od.params[name];
        const i = h('input', { type: 'number', step: 'any', value: d.params[name], testid: `param-${d.name}-${name}`, min: meta.min, max: meta.max });
        const box = h('label', { class: `param${d.params[name] !== orig ? ' changed' : ''}`, title: meta.help || '' },
          h('span', null, h('span', { class: 'mono' }, name), meta.unit ? h('span', { class: 'note' }, ` (${meta.unit})`) : null), i);
        i.addEventListener('input', () => {
          const v = i.value === '' ? orig : Number(i.value);
          d.params[name] = v; box.classList.toggle('changed', v !== orig); yamlDirty = false; regenerate();
        });
        return box;
      });
      return h('tr', { testid: `tune-${d.name}` }, h('td', null, h('strong', null, d.name), h('div', { class: 'note' }, cat.description || '')), enTd,
        numInput(() => d.weight, (v) => { d.weight = v; }, od.weight, { testid: `weight-${d.name}`, min: 0, max: 100 }),
        h('td', null, h('div', { class: 'params' }, params)));
    });
    replace(formBox,
      h('div', { class: 'card' }, h('h2', null, `Reactions of profile ${p.name}`, p.tolerance ? ` (tolerance ${p.tolerance})` : ''),
        h('table', { class: 'tune-table' }, h('thead', null, h('tr', null, reactions.map(([, l, u]) => h('th', null, `${l} (${u})`)))),
          h('tbody', null, h('tr', null, reactions.map(([k]) => numInput(() => p.reactions[k], (v) => { p.reactions[k] = v; }, o.reactions[k], { testid: `reaction-${k}` }))))),
        h('p', { class: 'note' }, 'Scores are 0..100 (a value above 100 turns the reaction off); monitor ≤ throttle ≤ block.')),
      h('div', { class: 'card' }, h('h2', null, 'Detectors'),
        h('table', { class: 'tune-table', testid: 'tune-table' }, h('thead', null, h('tr', null, ['detector', 'on', 'weight', 'thresholds'].map((x) => h('th', null, x)))), h('tbody', null, rows))));
  }

  async function whatif() {
    replace(result, state.loading('the replay (it runs the memory window through two engines)'));
    try {
      const r = await api.post('v1/whatif', { config: yamlBox.value });
      if (!current()) return;
      const acts = ['block', 'throttle', 'monitor'];
      const ch = r.changes || [];
      replace(result,
        h('p', { testid: 'whatif-summary' }, `Replayed ${num(r.events)} events of the memory window: `, h('strong', { testid: 'whatif-count' }, num(ch.length)), ' clients would change verdict.'),
        h('table', { testid: 'whatif-totals' }, h('thead', null, h('tr', null, h('th', null, ''), acts.map((a) => h('th', { class: 'num' }, a)))),
          h('tbody', null, ['before', 'after'].map((w) => h('tr', null, h('th', null, w === 'before' ? 'in force' : 'proposed'),
            acts.map((a) => h('td', { class: 'num', testid: `${w}-${a}` }, num(((r[w] || {})[a]) || 0))))))),
        ch.length ? h('div', { class: 'scroll' }, h('table', { testid: 'whatif-changes' },
          h('thead', null, h('tr', null, ['client', 'in force', 'proposed', 'score in force', 'score proposed'].map((x, i) => h('th', { class: i > 2 ? 'num' : null }, x)))),
          h('tbody', null, ch.map((c) => h('tr', { testid: 'change' }, h('td', null, clientLink(c.key)), h('td', null, badge(c.before)),
            h('td', null, badge(c.after)), h('td', { class: 'num' }, fixed(c.score_before, 1)), h('td', { class: 'num' }, fixed(c.score_after, 1)))))))
          : state.empty('No client would change verdict.'));
    } catch (e) { if (current()) replace(result, state.error('What-if failed', e)); }
  }
  async function apply() {
    if (!window.confirm('Write this configuration to the daemon\'s file and reload it?')) return;
    try {
      await api.post('v1/config', { config: yamlBox.value });
      flash('Configuration applied and reloaded.');
      load();
    } catch (e) { flash(`Not applied: ${e.message}`, true); }
  }

  function showNote() { replace(tokenNote, token() ? null : h('p', { class: 'note', testid: 'token-needed' }, 'What-if and apply need the admin token: enter it at the top right.')); }
  window.addEventListener('rampart-token', showNote);

  async function load() {
    try { cfg = await api.get('v1/config'); } catch (e) { if (current()) replace(body, state.error('Configuration unavailable', e)); return; }
    if (!current()) return;
    if (!(cfg.profiles || []).length) { replace(body, state.empty('The daemon reports no profile.')); return; }
    edited = clone(cfg); profileIdx = 0; yamlDirty = false;
    const pick = h('select', { testid: 'profile' }, cfg.profiles.map((p, i) => h('option', { value: i }, p.name)));
    pick.addEventListener('change', () => { profileIdx = Number(pick.value); drawForm(); });
    yamlBox.addEventListener('input', () => { yamlDirty = true; });
    showNote();
    drawForm(); regenerate();
    replace(body, h('div', { class: 'row' }, h('label', null, 'profile ', pick),
      h('span', { class: 'note' }, `configuration: ${cfg.path || 'built-in defaults (no file)'}`)), formBox,
    h('div', { class: 'card' }, h('h2', null, 'Proposed configuration'), yamlBox,
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', testid: 'whatif', on: { click: whatif } }, 'What if? (preview)'),
        h('button', { type: 'button', testid: 'apply', on: { click: apply } }, 'Apply (reload)'),
        h('button', { type: 'button', class: 'link', testid: 'reset', on: { click: () => load() } }, 'Reset edits')),
      tokenNote, result));
  }
  load();
  return () => window.removeEventListener('rampart-token', showNote);
}
