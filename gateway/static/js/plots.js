// Small plots drawn with plain SVG and canvas: per-residue pLDDT, the PAE heatmap, usage bars.

import {h, replace, s} from './dom.js';
import {PLDDT_BANDS, num} from './format.js';

// A phone draws its plots in a narrower frame: the SVG shrinks to the card, and text drawn for a
// 560-unit-wide frame would shrink to ~7 px there (its labels would collide if simply enlarged).
const NARROW = '(max-width: 600px)';
const narrow = () => window.matchMedia(NARROW).matches;

/** A plot drawn by `draw()` for the window's width, drawn again when the window crosses the phone's width: a plot
 * drawn wide and then shown in a narrowed window (or a tablet turned upright) kept the wide frame, its labels ~7 px.
 * A table of its values folded open stays open. */
function drawnForTheWidth(draw) {
  const holder = h('div', {class: 'drawn-for-width'}, draw());
  const query = window.matchMedia(NARROW);
  const redraw = () => {
    if (!holder.isConnected) { query.removeEventListener('change', redraw); return; } // its page was left
    const open = [...holder.querySelectorAll('details')].map((d) => d.open);
    replace(holder, draw());
    holder.querySelectorAll('details').forEach((d, i) => { d.open = Boolean(open[i]); });
  };
  query.addEventListener('change', redraw);
  return holder;
}
// A phone or tablet without a mouse: nothing hovers there, so the plots' hints say touch instead.
const touchOnly = () => window.matchMedia('(hover: none)').matches;

/** Lets the keyboard read a plot the pointer reads by hovering (WCAG 2.1.1): `el` becomes a stop of the keyboard's,
 * an application (a screen reader passes the arrow keys to it) named as before and described by `keys`; `move(key)`
 * moves its cursor for a key and says whether it took it. The readout under it is a polite live region only while
 * the plot has the focus, so that a pointer moving over it is not read out. */
function readByKeys(el, readout, keys, move) {
  el.setAttribute('tabindex', '0');
  el.setAttribute('role', 'application');
  el.setAttribute('aria-roledescription', 'plot');
  el.setAttribute('aria-describedby', keys.id);
  // The browser scrolls a plot reached by Tab only until the plot itself is in view: the readout under it stayed
  // below the window's edge (1366x768), so the arrow keys moved a cursor whose value no one saw. It is brought into
  // view too, as little as need be; after the browser's own scroll (a frame later), and not for a click, whose
  // pointer is on the plot already.
  const inView = () => readout.scrollIntoView({block: 'nearest'});
  el.addEventListener('focus', () => {
    readout.setAttribute('aria-live', 'polite');
    move(null);
    if (el.matches(':focus-visible')) requestAnimationFrame(inView);
  });
  el.addEventListener('blur', () => readout.removeAttribute('aria-live'));
  el.addEventListener('keydown', (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || !move(event.key)) return;
    event.preventDefault(); // the page does not scroll...
    inView(); // ...but for the readout
  });
}

/** The index `key` moves `at` to, among `n` (arrows one, Page Up and Down a tenth, Home and End the ends); null for
 * a key that does not move it. `back`/`on`: the keys that go down/up the index. */
function stepped(key, at, n, back = 'ArrowLeft', on = 'ArrowRight') {
  const page = Math.max(1, Math.round(n / 10));
  const to = {[back]: at - 1, [on]: at + 1, PageDown: at - page, PageUp: at + page, Home: 0, End: n - 1}[key];
  return to === undefined ? null : Math.min(n - 1, Math.max(0, to));
}

function niceStep(max, ticks) {
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 5, 10].map((m) => m * power).find((v) => v >= raw) || raw;
  return step;
}

/** A complex's chains along a plot's `n` residues: [{id, start, length}] in residue order, from the result JSON's
 * `chains` ([{id, length, ...}], ESMFold's and AlphaFold2's, chains concatenated in that order). One span with no id
 * for one chain, and for a list that is not one (an older result, a damaged one, lengths that do not add up to `n`):
 * the plot is then numbered 1..n, as a single chain's always is. */
function chainSpans(chains, n) {
  const whole = [{id: '', start: 0, length: n}];
  if (!Array.isArray(chains) || chains.length < 2) return whole;
  const valid = chains.every((c) => c && typeof c.id === 'string' && c.id && Number.isInteger(c.length) && c.length > 0);
  if (!valid || chains.reduce((sum, c) => sum + c.length, 0) !== n) return whole;
  let start = 0;
  return chains.map((c) => {
    const span = {id: c.id, start, length: c.length};
    start += c.length;
    return span;
  });
}

/** Residue `i` (0-based, across the chains) as a person looks it up: "42" in a single chain, "B 12" in a complex,
 * numbered within its chain as the PDB file and the viewer number it. */
function residueName(spans, i) {
  if (spans.length === 1) return String(i + 1);
  const span = spans.findLast((c) => c.start <= i);
  return `${span.id} ${i - span.start + 1}`;
}

/** "chains A (30 residues) and B (25 residues)": what a plot's text alternative adds for a complex. */
function chainsSaid(spans) {
  const each = spans.map((c) => `${c.id} (${c.length} residue${c.length === 1 ? '' : 's'})`);
  return `chains ${each.slice(0, -1).join(', ')} and ${each[each.length - 1]}`;
}

/** Numbered ticks along a residue axis: [{i, label}] (i: 0-based across the chains). Each chain is numbered from 1
 * at the step niceStep chooses for its share of `ticks` (one chain: niceStep(n, ticks), as the axis always was, but
 * a whole residue at least: a 4-residue axis read "0.5", "1.5"). A tick whose label would run into the one before
 * is left out (`at(i)`: where residue i is drawn; `wide(label)`: the room its label takes, in the same units): a
 * short chain's "10" beside its neighbour's "300". */
function residueTicks(spans, ticks, at, wide) {
  const n = spans.reduce((sum, c) => sum + c.length, 0);
  const out = [];
  for (const span of spans) {
    const step = Math.max(1, niceStep(span.length, Math.max(1, Math.round((ticks * span.length) / n))));
    for (let r = step; r <= span.length; r += step) {
      const i = span.start + r - 1;
      const last = out[out.length - 1];
      if (last && at(i) - at(last.i) < (wide(last.label) + wide(String(r))) / 2 + 4) continue;
      out.push({i, label: String(r)});
    }
  }
  return out;
}

/** Where a complex's chain labels go: [{span, centre}], centred on each chain, a label left out where it would run
 * into the one before (a chain a few residues long beside a long one; the readout still names its residues). */
function chainLabels(spans, at, wide) {
  const out = [];
  for (const span of spans) {
    const centre = (at(span.start) + at(span.start + span.length - 1)) / 2;
    const last = out[out.length - 1];
    if (last && centre - last.centre < (wide(last.span.id) + wide(span.id)) / 2 + 4) continue;
    out.push({span, centre});
  }
  return out;
}

/** pLDDT per residue on the four AlphaFold DB bands. `chains`: the result JSON's (a complex's, [{id, length}]): a
 * line between two chains, each chain's name above it and its residues numbered from 1, as AlphaFold's and
 * ColabFold's plots mark them; without it a complex read as one chain of 55 residues. */
export function plddtPlot(values, sequence = '', chains = []) {
  return drawnForTheWidth(() => drawPlddt(values, sequence, chainSpans(chains, values.length)));
}

// The room an SVG label takes in a plot's units: 13-unit digits and capitals, ~0.6 of their size each, and a margin.
const svgWide = (label) => label.length * 8;

function drawPlddt(values, sequence, spans) {
  const small = narrow();
  const complex = spans.length > 1;
  // A complex's chain names get a strip of their own above the plot, which keeps its height.
  const strip = complex ? 18 : 0;
  const W = small ? 340 : 560, H = (small ? 230 : 300) + strip, L = 44, R = 12, T = 12 + strip, B = 36;
  const n = values.length;
  const x = (i) => L + (n <= 1 ? 0 : (i / (n - 1)) * (W - L - R));
  const y = (v) => T + (1 - v / 100) * (H - T - B);
  const bands = PLDDT_BANDS.map((band, i) => {
    const top = i === 0 ? 100 : PLDDT_BANDS[i - 1].min;
    const bottom = Math.max(0, band.min);
    return s('rect', {x: L, y: y(top), width: W - L - R, height: y(bottom) - y(top), fill: band.color, 'fill-opacity': '0.13'});
  });
  const path = values.map((v, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join('');
  const yTicks = [0, 25, 50, 70, 90, 100].map((v) => s('g', {class: 'axis'},
    s('line', {x1: L - 4, x2: L, y1: y(v), y2: y(v)}),
    s('text', {x: L - 7, y: y(v) + 3.5, 'text-anchor': 'end'}, String(v))));
  const xTicks = residueTicks(spans, small ? 5 : 8, x, svgWide).map(({i, label}) => s('g', {class: 'axis'},
    s('line', {x1: x(i), x2: x(i), y1: H - B, y2: H - B + 4}),
    s('text', {x: x(i), y: H - B + 16, 'text-anchor': 'middle'}, label)));
  // Between the last residue of a chain and the first of the next, from the chain names' strip to the axis.
  const boundaries = spans.slice(1).map((c) => {
    const at = (x(c.start - 1) + x(c.start)) / 2;
    return s('line', {class: 'chain-boundary', x1: at, x2: at, y1: T - strip, y2: H - B, stroke: '#14213d',
      'stroke-opacity': '0.7', 'stroke-dasharray': '4 3'});
  });
  const names = complex ? chainLabels(spans, x, svgWide).map(({span, centre}) => {
    const room = x(span.start + span.length - 1) - x(span.start);
    const name = room >= svgWide(`Chain ${span.id}`) ? `Chain ${span.id}` : span.id;
    return s('text', {class: 'chain', x: centre, y: T - 5, 'text-anchor': 'middle'}, name);
  }) : [];
  const cursor = s('line', {x1: 0, x2: 0, y1: T, y2: H - B, stroke: '#14213d', 'stroke-opacity': '0.35', visibility: 'hidden'});
  const readout = h('div', {class: 'small muted', id: 'plddt-readout'}, touchOnly()
    ? 'Touch the plot, or slide along it, to read a residue.'
    : 'Hover the plot, or focus it and press the arrow keys, to read a residue.');
  const keys = h('span', {class: 'sr-only', id: 'plddt-keys'},
    'Left and right arrow keys read one residue after another; Page Up and Page Down jump, Home and End go to the ends.');
  const named = complex ? `pLDDT per residue of ${chainsSaid(spans)}` : 'pLDDT per residue';
  const svg = s('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': named, id: 'plddt-plot'},
    bands,
    s('line', {class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: '#cbd5e1'}),
    yTicks, xTicks, boundaries, names,
    s('path', {d: path, fill: 'none', stroke: '#14213d', 'stroke-width': '1.6', 'stroke-linejoin': 'round'}),
    cursor,
    s('text', {class: 'title', x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle'},
      complex ? 'Residue (numbered within each chain)' : 'Residue'),
    s('text', {class: 'title', x: 12, y: T + (H - T - B) / 2, transform: `rotate(-90 12 ${T + (H - T - B) / 2})`, 'text-anchor': 'middle'}, 'pLDDT'));
  // The result's sequence has ':' between a complex's chains: without them, letter i is residue i's.
  const letters = sequence.replaceAll(':', '');
  let at = 0; // the residue read last
  const show = (i) => {
    at = i;
    cursor.setAttribute('x1', x(i)); cursor.setAttribute('x2', x(i)); cursor.setAttribute('visibility', 'visible');
    readout.textContent = `Residue ${residueName(spans, i)}${letters[i] ? ` (${letters[i]})` : ''}: pLDDT ${values[i].toFixed(1)}`;
  };
  // Pointer events: a mouse's moves, and a finger's touch and slide (a phone sends no mousemove while it slides).
  svg.style.touchAction = 'pan-y'; // a sideways slide reads residues; an upward one still scrolls the page
  const read = (event) => {
    const box = svg.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * W;
    const i = Math.round(((px - L) / (W - L - R)) * (n - 1));
    if (i < 0 || i >= n) return;
    show(i);
  };
  svg.addEventListener('pointermove', read);
  svg.addEventListener('pointerdown', read);
  svg.addEventListener('mouseleave', () => { if (document.activeElement !== svg) cursor.setAttribute('visibility', 'hidden'); });
  svg.addEventListener('blur', () => cursor.setAttribute('visibility', 'hidden'));
  if (n) {
    readByKeys(svg, readout, keys, (key) => {
      const to = key === null ? at : stepped(key, at, n);
      if (to === null) return false;
      show(to);
      return true;
    });
  }
  return h('div', {class: 'plot'}, svg, readout, keys);
}

// AlphaFold DB's PAE colours: dark green (confident, 0 Å) to white (30 Å and more).
const PAE_STOPS = [[0, [12, 79, 34]], [0.45, [121, 192, 123]], [1, [255, 255, 255]]];

function paeColor(t) {
  const k = Math.min(1, Math.max(0, t));
  for (let i = 1; i < PAE_STOPS.length; i++) {
    const [t1, c1] = PAE_STOPS[i];
    const [t0, c0] = PAE_STOPS[i - 1];
    if (k <= t1) {
      const f = (k - t0) / (t1 - t0);
      return c0.map((c, j) => Math.round(c + f * (c1[j] - c)));
    }
  }
  return PAE_STOPS[PAE_STOPS.length - 1][1];
}

/** The PAE matrix (Å): row = aligned residue, column = scored residue. `chains` as plddtPlot's: a complex's chain
 * boundaries are drawn across the map both ways and its chains named along both axes. */
export function paeHeatmap(pae, chains = [], maxPae = 30) {
  return drawnForTheWidth(() => drawPae(pae, chainSpans(chains, pae.length), maxPae));
}

function paeCanvas(pae, maxPae, label) {
  const n = pae.length;
  const canvas = h('canvas', {width: n, height: n, id: 'pae-canvas', role: 'img', 'aria-label': label});
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const [r, g, b] = paeColor(pae[i][j] / maxPae);
      const o = (i * n + j) * 4;
      image.data[o] = r; image.data[o + 1] = g; image.data[o + 2] = b; image.data[o + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

// The room an axis label of the PAE map takes (11 px type, app.css), in px.
const htmlWide = (label) => label.length * 7 + 2;

/** The PAE map's axes, drawn in HTML round the canvas and placed in percent of it, so they follow it as it shrinks:
 * numbered ticks at the cells' centres, as the pLDDT plot's (each chain's numbered from 1), and for a complex the
 * chains' names beside them and a line at each boundary, over the map. Only titles were there: a residue could not
 * be found on the map without the pointer. Hidden from screen readers: the map's name and readout say it in words. */
function paeAxes(spans) {
  const n = spans.reduce((sum, c) => sum + c.length, 0);
  const room = narrow() ? 200 : 360; // the map's width: 360 px at most, about 200 on a phone beside its scale
  const at = (i) => ((i + 0.5) / n) * room;
  const percent = (px) => `${(100 * px) / room}%`;
  const ticks = residueTicks(spans, narrow() ? 4 : 6, at, htmlWide);
  const axis = (cls, side) => h('div', {class: `pae-ticks ${cls}`, 'aria-hidden': 'true'},
    ticks.map(({i, label}) => h('span', {style: {[side]: percent(at(i))}}, label)));
  const complex = spans.length > 1;
  const names = complex ? chainLabels(spans, at, htmlWide) : [];
  const named = (cls, side) => complex ? h('div', {class: `pae-chains ${cls}`, 'aria-hidden': 'true'},
    names.map(({span, centre}) => h('span', {style: {[side]: percent(centre)}}, span.id))) : null;
  const lines = spans.slice(1).map((c) => [
    h('div', {class: 'pae-boundary across', style: {top: `${(100 * c.start) / n}%`}}),
    h('div', {class: 'pae-boundary down', style: {left: `${(100 * c.start) / n}%`}})]);
  return {x: [axis('x', 'left'), named('x', 'left')], y: [named('y', 'top'), axis('y', 'top')], lines};
}

function drawPae(pae, spans, maxPae) {
  const n = pae.length;
  const canvas = paeCanvas(pae, maxPae, spans.length > 1 ? `Predicted aligned error heatmap of ${chainsSaid(spans)}`
    : 'Predicted aligned error heatmap');
  const readout = h('div', {class: 'small muted', id: 'pae-readout'}, touchOnly()
    ? 'Touch the map to read a residue pair.'
    : 'Hover the map, or focus it and press the arrow keys, to read a residue pair.');
  const keys = h('span', {class: 'sr-only', id: 'pae-keys'},
    'Arrow keys move across the scored residues (left, right) and the aligned ones (up, down); Home and End go to the ends of a row.');
  let [ai, aj] = [0, 0]; // the pair read last: aligned (row), scored (column)
  // Where the keyboard is on the map (the pointer needs none: it is there): a square round the pair's cell.
  const mark = h('div', {class: 'pae-mark', hidden: true, style: {width: `${100 / n}%`, height: `${100 / n}%`}});
  const show = (i, j) => {
    [ai, aj] = [i, j];
    Object.assign(mark.style, {left: `${(100 * j) / n}%`, top: `${(100 * i) / n}%`});
    readout.textContent = `Aligned on residue ${residueName(spans, i)}, scored residue ${residueName(spans, j)}: ${pae[i][j].toFixed(1)} Å`;
  };
  const readPair = (event) => {
    const box = canvas.getBoundingClientRect();
    const j = Math.floor(((event.clientX - box.left) / box.width) * n);
    const i = Math.floor(((event.clientY - box.top) / box.height) * n);
    if (i >= 0 && j >= 0 && i < n && j < n) show(i, j);
  };
  canvas.addEventListener('pointermove', readPair); // a finger's slide scrolls the page here (the map is wide)
  canvas.addEventListener('pointerdown', readPair); // and its touch reads the pair
  if (n) {
    canvas.addEventListener('focus', () => { mark.hidden = !canvas.matches(':focus-visible'); });
    canvas.addEventListener('blur', () => { mark.hidden = true; });
    readByKeys(canvas, readout, keys, (key) => {
      if (key === null) { show(ai, aj); return true; }
      mark.hidden = false;
      const row = stepped(key, ai, n, 'ArrowUp', 'ArrowDown');
      const column = stepped(key, aj, n);
      if (key === 'ArrowUp' || key === 'ArrowDown') show(row, aj);
      else if (column !== null) show(ai, column);
      else return false;
      return true;
    });
  }
  const axes = n ? paeAxes(spans) : {x: [], y: [], lines: []};
  return h('div', {}, keys,
    h('div', {class: 'pae'},
      h('div', {class: 'axis-y'}, 'Aligned residue'),
      axes.y,
      h('div', {class: 'pae-map'}, canvas, axes.lines, mark),
      h('div', {class: 'scale'}, h('span', {}, `${maxPae}+\u00a0Å`), h('div', {class: 'bar'}), h('span', {}, '0\u00a0Å')),
      axes.x,
      h('div', {class: 'axis-x'}, 'Scored residue')),
    readout);
}

/** Vertical bars for a daily series. */
export function barChart(points, options = {}) {
  return drawnForTheWidth(() => drawBars(points, options));
}

function drawBars(points, {label = '', format = (v) => num(v), alt = false, id} = {}) {
  const small = narrow();
  const W = small ? 340 : 600, H = small ? 190 : 230, L = 52, R = 10, T = 12, B = 32;
  const max = Math.max(1, ...points.map((p) => p.value));
  const step = Math.max(1, niceStep(max, 4)); // counts: whole-number ticks
  const top = Math.ceil(max / step) * step;
  const y = (v) => T + (1 - v / top) * (H - T - B);
  const slot = (W - L - R) / Math.max(1, points.length);
  const grid = [];
  for (let v = 0; v <= top + 1e-9; v += step) {
    grid.push(s('g', {class: 'grid'}, s('line', {x1: L, x2: W - R, y1: y(v), y2: y(v)})),
      s('text', {x: L - 6, y: y(v) + 3.5, 'text-anchor': 'end'}, format(v)));
  }
  const every = Math.ceil(points.length / (small ? 4 : 8));
  const last = points.length - 1;
  // Labelled days are counted back from the last, today: the day a user looks for first had no label when they were
  // counted from the first (30 days: "3 Dec" stood beside today's bar, and today's had none).
  const labelled = (i) => (last - i) % every === 0;
  const dayLabel = (i) => {
    const at = {y: H - B + 16};
    // The first day's label starts at its bar rather than centred on it: centred, "3 Nov" ran into the y axis's "0"
    // beside it (on a phone the two touched). Today's, on a narrow bar, ends at its bar: centred, it ran past the
    // chart's right edge.
    if (i === 0) Object.assign(at, {x: L + slot * 0.18, 'text-anchor': 'start'});
    else if (i === last && slot < 40) Object.assign(at, {x: L + i * slot + slot * 0.82, 'text-anchor': 'end'});
    else Object.assign(at, {x: L + i * slot + slot / 2, 'text-anchor': 'middle'});
    return s('text', {...at, class: 'day'}, points[i].short || points[i].label);
  };
  const bars = points.map((p, i) => {
    const height = Math.max(p.value > 0 ? 1.5 : 0, y(0) - y(p.value));
    return s('g', {},
      s('rect', {class: ['bar', alt ? 'alt' : ''], x: L + i * slot + slot * 0.18, width: slot * 0.64, y: y(0) - height, height, rx: 2},
        s('title', {}, `${p.label}: ${format(p.value)} ${label}`)),
      labelled(i) ? dayLabel(i) : null);
  });
  // Each day's value was only in a bar's <title>, read by hovering: a keyboard and a screen reader got the chart's
  // name alone. The same values as a table, folded under the chart (a summary the keyboard opens).
  const column = label ? label[0].toUpperCase() + label.slice(1) : 'Value';
  const values = h('details', {class: 'chart-values', id: id ? `${id}-values` : null},
    h('summary', {class: 'small'}, `${column} per day, as a table`),
    h('div', {class: 'table-scroll'}, h('table', {class: 'table'},
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Day'), h('th', {scope: 'col', class: 'num'}, column))),
      h('tbody', {}, points.map((p) => h('tr', {}, h('td', {}, p.label), h('td', {class: 'num'}, format(p.value))))))));
  return h('div', {class: 'chart'}, s('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, id}, grid, bars), values);
}

/** Horizontal bars for a ranking (models, endpoints). */
/** `code`: the labels are names from code (endpoints), in the monospace type; otherwise words ("ESMFold · 40 credits"),
 * in the page's type, as model names are everywhere else. */
export function hbars(items, {format = (v) => num(v), code = true} = {}) {
  const max = Math.max(1, ...items.map((i) => i.value));
  return h('div', {class: 'hbars'}, items.map((item) => h('div', {class: 'item'},
    h('div', {class: code ? 'mono small' : 'small', title: item.label}, item.label),
    h('div', {class: 'track'}, h('div', {class: 'fill', style: {width: `${(100 * item.value) / max}%`}})),
    h('div', {class: 'num'}, format(item.value)))));
}
