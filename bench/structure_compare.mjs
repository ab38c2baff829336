// How long the dashboard's structure comparison (gateway/static/js/superpose.js) takes in a JavaScript engine,
// by size: similar structures (one sequence, 3 Å of noise), unrelated ones (two random walks) and ones of
// different lengths (a global alignment first). Run: node bench/structure_compare.mjs
// Coordinates are made up (a helix laid in rows, random walks): they time the maths, not a prediction.

import {compareStructures} from '../gateway/static/js/superpose.js';

function random(seed) {
  let state = seed;
  return () => ((state = (state * 16807) % 2147483647) / 2147483647);
}

function pdbLine(i, resn, x, y, z) {
  const f = (v) => v.toFixed(3).padStart(8);
  return `ATOM  ${String(i + 1).padStart(5)}  CA  ${resn} A${String((i % 9999) + 1).padStart(4)}    ${f(x)}${f(y)}${f(z)}  1.00 50.00           C`;
}

function helices(n, seed, noise) {
  const rnd = random(seed);
  return Array.from({length: n}, (_, i) => {
    const t = (i * 100 * Math.PI) / 180;
    return pdbLine(i, 'ALA', 2.3 * Math.cos(t) + (i % 50) * 0.5 + noise * (rnd() - 0.5),
      2.3 * Math.sin(t) + Math.floor(i / 50) * 10 + noise * (rnd() - 0.5), 1.5 * (i % 50) + noise * (rnd() - 0.5));
  }).join('\n');
}

function walk(n, seed) {
  const rnd = random(seed);
  let [x, y, z] = [0, 0, 0];
  return Array.from({length: n}, (_, i) => {
    const [dx, dy, dz] = [rnd() - 0.5, rnd() - 0.5, rnd() - 0.5];
    const scale = Math.hypot(dx, dy, dz) / 3.8;
    [x, y, z] = [x + dx / scale, y + dy / scale, z + dz / scale];
    return pdbLine(i, i % 3 ? 'ALA' : 'GLY', x, y, z);
  }).join('\n');
}

function timed(a, b) {
  const start = performance.now();
  const found = compareStructures(a, b);
  return `${(performance.now() - start).toFixed(0).padStart(5)} ms (TM ${found.tm.toFixed(3)})`;
}

compareStructures(helices(50, 1, 0), helices(50, 2, 3)); // the engine compiles the code once
console.log('residues   similar              unrelated            17 fewer (aligned)');
for (const n of [100, 300, 1000, 2500]) {
  console.log(`${String(n).padStart(8)}   ${timed(helices(n, 1, 0), helices(n, 2, 3))}   ${timed(walk(n, 1), walk(n, 7))}   `
    + `${timed(walk(n, 1), walk(n - 17, 9))}`);
}
