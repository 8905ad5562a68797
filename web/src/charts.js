// Rampart dashboard: small wrappers around uPlot (loaded as a classic
// script, global `uPlot`). Charts size themselves to their card and are
// redrawn on window resize; a page destroys its charts when it is left.

const live = new Set();
let resizeTimer = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { for (const c of live) c.fit(); }, 120);
});

function widthOf(el) { return Math.max(300, (el.clientWidth || el.parentElement.clientWidth || 600) - 4); }

function make(el, opts, data) {
  const u = new window.uPlot({ ...opts, width: widthOf(el), height: opts.height || 220 }, data, el);
  const handle = {
    u,
    fit() { u.setSize({ width: widthOf(el), height: opts.height || 220 }); },
    set(d) { u.setData(d); },
    destroy() { live.delete(handle); u.destroy(); },
  };
  live.add(handle);
  return handle;
}

// Lines over time. series: [{label, colour, fill?}], data: [t[], col1[], ...]
export function lineChart(el, { series, yLabel, height, stacked }) {
  const data = [[], ...series.map(() => [])];
  return make(el, {
    height,
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [{ stroke: '#5b6578', grid: { stroke: '#eceff4' } },
      { stroke: '#5b6578', grid: { stroke: '#eceff4' }, label: yLabel, size: 60 }],
    series: [{ label: 'time' }, ...series.map((s) => ({
      label: s.label, stroke: s.colour, width: 1.6,
      fill: s.fill || (stacked ? `${s.colour}22` : undefined),
      // points show where a line cannot: a series with one non-zero step
      points: { show: (u, si) => (u.data[si] || []).filter((v) => v).length <= 3, size: 5, fill: s.colour },
    }))],
  }, data);
}

// One point per item: series [{label, colour}], data: [x[], y-per-series[] (null where absent)]
export function scatterChart(el, { series, yLabel, height, yRange }) {
  const data = [[], ...series.map(() => [])];
  return make(el, {
    height,
    mode: 1,
    legend: { live: false },
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true }, y: { range: yRange || ((u, min, max) => [0, Math.max(1, max * 1.1)]) } },
    axes: [{ stroke: '#5b6578', grid: { stroke: '#eceff4' } },
      { stroke: '#5b6578', grid: { stroke: '#eceff4' }, label: yLabel, size: 60 }],
    series: [{ label: 'time' }, ...series.map((s) => ({
      label: s.label, stroke: s.colour, fill: s.colour, width: 0,
      paths: () => null,
      points: { show: true, size: 6, stroke: s.colour, fill: s.colour },
    }))],
  }, data);
}
