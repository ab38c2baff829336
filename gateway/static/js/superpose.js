// Comparing two predicted structures in the browser: Cα atoms read from their PDB files, residues paired by
// sequence, then the Cα RMSD (optimal superposition over every pair) and the TM-score (Zhang & Skolnick 2004,
// normalised by the first structure's length, with the superposition that maximises it found as the TM-score
// program searches: superpose on fragments, then iterate over the pairs closer than a cut-off).
// Pure functions, no DOM: the job page draws what `compareStructures` returns.

const ONE_LETTER = {
  ALA: 'A', ARG: 'R', ASN: 'N', ASP: 'D', CYS: 'C', GLN: 'Q', GLU: 'E', GLY: 'G', HIS: 'H', ILE: 'I',
  LEU: 'L', LYS: 'K', MET: 'M', PHE: 'F', PRO: 'P', SER: 'S', THR: 'T', TRP: 'W', TYR: 'Y', VAL: 'V',
  MSE: 'M', SEC: 'U', PYL: 'O',
};

// Global alignment costs about this many cells of memory and time: two 5,000-residue complexes at most.
export const MAX_ALIGNMENT_CELLS = 25e6;

/** Cα atoms of the first model's amino-acid residues, in file order: [{chain, resi, aa, x, y, z}]. */
export function caTrace(pdbText) {
  const residues = [];
  const seen = new Set();
  for (const line of pdbText.split('\n')) {
    if (line.startsWith('ENDMDL')) break;
    const record = line.slice(0, 6);
    if (record !== 'ATOM  ' && record !== 'HETATM') continue;
    if (line.slice(12, 16).trim() !== 'CA') continue;
    const resn = line.slice(17, 20).trim();
    if (record === 'HETATM' && !(resn in ONE_LETTER)) continue; // a calcium ion is "CA" too
    const altLoc = line[16];
    if (altLoc !== ' ' && altLoc !== 'A' && altLoc !== undefined) continue;
    const key = line.slice(21, 27); // chain id, residue number, insertion code
    if (seen.has(key)) continue;
    seen.add(key);
    const [x, y, z] = [line.slice(30, 38), line.slice(38, 46), line.slice(46, 54)].map(Number);
    if (![x, y, z].every(Number.isFinite)) continue;
    residues.push({chain: line[21].trim(), resi: line.slice(22, 27).trim(), aa: ONE_LETTER[resn] || 'X', x, y, z});
  }
  return residues;
}

/** Pairs of residue indices [i in a, j in b]. Identical sequences pair one to one; otherwise a global
 * alignment (match +2, mismatch -1, gap -2, gaps at either end free, so a fragment lines up inside the
 * whole) pairs every aligned position, mismatches included: a point mutant lines up residue for residue. */
export function pairResidues(seqA, seqB) {
  if (seqA === seqB) return Array.from(seqA, (_, i) => [i, i]);
  const n = seqA.length;
  const m = seqB.length;
  if (n * m > MAX_ALIGNMENT_CELLS) {
    throw new Error(`${n} and ${m} residues are too many to align in the browser`);
  }
  const GAP = -2;
  const width = m + 1;
  const move = new Uint8Array((n + 1) * width); // 0 diagonal, 1 up (gap in b), 2 left (gap in a)
  let previous = new Float64Array(width); // row 0: a leading gap in a is free
  let current = new Float64Array(width);
  for (let j = 1; j <= m; j += 1) move[j] = 2;
  for (let i = 1; i <= n; i += 1) {
    current[0] = 0; // a leading gap in b is free
    move[i * width] = 1;
    const last = i === n;
    for (let j = 1; j <= m; j += 1) {
      const diagonal = previous[j - 1] + (seqA[i - 1] === seqB[j - 1] ? 2 : -1);
      const up = previous[j] + (j === m ? 0 : GAP); // trailing gaps in b (the end of b passed) are free
      const left = current[j - 1] + (last ? 0 : GAP); // trailing gaps in a are free
      if (diagonal >= up && diagonal >= left) {
        current[j] = diagonal;
        move[i * width + j] = 0;
      } else if (up >= left) {
        current[j] = up;
        move[i * width + j] = 1;
      } else {
        current[j] = left;
        move[i * width + j] = 2;
      }
    }
    [previous, current] = [current, previous];
  }
  const pairs = [];
  let i = n;
  let j = m;
  while (i > 0 && j > 0) {
    const step = move[i * width + j];
    if (step === 0) {
      pairs.push([i - 1, j - 1]);
      i -= 1;
      j -= 1;
    } else if (step === 1) {
      i -= 1;
    } else {
      j -= 1;
    }
  }
  return pairs.reverse();
}

/** Eigenvector of the largest eigenvalue of a symmetric 4x4 matrix (cyclic Jacobi rotations). */
function topEigenvector(matrix) {
  const a = matrix.map((row) => row.slice());
  const v = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
  for (let sweep = 0; sweep < 50; sweep += 1) {
    let off = 0;
    for (let p = 0; p < 3; p += 1) for (let q = p + 1; q < 4; q += 1) off += a[p][q] * a[p][q];
    if (off < 1e-22) break;
    for (let p = 0; p < 3; p += 1) {
      for (let q = p + 1; q < 4; q += 1) {
        if (Math.abs(a[p][q]) < 1e-300) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < 4; k += 1) { // columns p and q
          const [akp, akq] = [a[k][p], a[k][q]];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < 4; k += 1) { // rows p and q
          const [apk, aqk] = [a[p][k], a[q][k]];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < 4; k += 1) {
          const [vkp, vkq] = [v[k][p], v[k][q]];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  let best = 0;
  for (let k = 1; k < 4; k += 1) if (a[k][k] > a[best][best]) best = k;
  return [v[0][best], v[1][best], v[2][best], v[3][best]];
}

/** The rotation and translation that move `mobile` onto `target` with the least squared deviation over
 * the listed pairs (Horn's quaternion method). Points: {x, y, z}; pairs: [target index, mobile index]. */
export function superpose(target, mobile, pairs) {
  const n = pairs.length;
  let [tx, ty, tz, mx, my, mz] = [0, 0, 0, 0, 0, 0];
  for (const [i, j] of pairs) {
    tx += target[i].x; ty += target[i].y; tz += target[i].z;
    mx += mobile[j].x; my += mobile[j].y; mz += mobile[j].z;
  }
  [tx, ty, tz, mx, my, mz] = [tx / n, ty / n, tz / n, mx / n, my / n, mz / n];
  let [sxx, sxy, sxz, syx, syy, syz, szx, szy, szz] = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  for (const [i, j] of pairs) {
    const [px, py, pz] = [mobile[j].x - mx, mobile[j].y - my, mobile[j].z - mz];
    const [qx, qy, qz] = [target[i].x - tx, target[i].y - ty, target[i].z - tz];
    sxx += px * qx; sxy += px * qy; sxz += px * qz;
    syx += py * qx; syy += py * qy; syz += py * qz;
    szx += pz * qx; szy += pz * qy; szz += pz * qz;
  }
  const [q0, q1, q2, q3] = topEigenvector([
    [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
    [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
    [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
    [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz],
  ]);
  const rotation = [
    [q0 * q0 + q1 * q1 - q2 * q2 - q3 * q3, 2 * (q1 * q2 - q0 * q3), 2 * (q1 * q3 + q0 * q2)],
    [2 * (q1 * q2 + q0 * q3), q0 * q0 - q1 * q1 + q2 * q2 - q3 * q3, 2 * (q2 * q3 - q0 * q1)],
    [2 * (q1 * q3 - q0 * q2), 2 * (q2 * q3 + q0 * q1), q0 * q0 - q1 * q1 - q2 * q2 + q3 * q3],
  ];
  const moved = apply({rotation, translation: [0, 0, 0]}, {x: mx, y: my, z: mz});
  return {rotation, translation: [tx - moved.x, ty - moved.y, tz - moved.z]};
}

/** A point moved by {rotation, translation}. */
export function apply({rotation: r, translation: t}, {x, y, z}) {
  return {
    x: r[0][0] * x + r[0][1] * y + r[0][2] * z + t[0],
    y: r[1][0] * x + r[1][1] * y + r[1][2] * z + t[1],
    z: r[2][0] * x + r[2][1] * y + r[2][2] * z + t[2],
  };
}

function distances(target, mobile, pairs, transform) {
  return pairs.map(([i, j]) => {
    const p = apply(transform, mobile[j]);
    return Math.hypot(p.x - target[i].x, p.y - target[i].y, p.z - target[i].z);
  });
}

/** TM-score's distance scale for a structure of `length` residues (0.5 Å at 21 residues or fewer). */
export function tmD0(length) {
  return length > 21 ? Math.max(0.5, 1.24 * Math.cbrt(length - 15) - 1.8) : 0.5;
}

/** The TM-score of the pairs under the best superposition found, normalised by `length` residues of the
 * target: seeds on the whole alignment and on fragments of half, a quarter... of it (at most 40 starts each),
 * each extended by superposing on the pairs closer than d0 (at least 4.5 Å, at most 8) until they settle. */
export function tmScore(target, mobile, pairs, length) {
  const d0 = tmD0(length);
  const cutoff = Math.min(8, Math.max(4.5, d0));
  const scoreOf = (ds) => ds.reduce((sum, d) => sum + 1 / (1 + (d / d0) ** 2), 0) / length;
  let best = {tm: 0, transform: null};
  const n = pairs.length;
  if (n < 3) return best;
  const tried = new Set();
  for (let size = n; size >= 4; size = Math.floor(size / 2)) {
    const step = Math.max(1, Math.floor((n - size) / 40));
    for (let start = 0; start + size <= n; start += step) {
      let selection = pairs.slice(start, start + size);
      for (let round = 0; round < 20; round += 1) {
        const signature = selection.map(([i]) => i).join(',');
        if (round > 0 && tried.has(signature)) break; // this selection was refined from another seed already
        tried.add(signature);
        const transform = superpose(target, mobile, selection);
        const ds = distances(target, mobile, pairs, transform);
        const tm = scoreOf(ds);
        if (tm > best.tm) best = {tm, transform};
        let limit = cutoff;
        let next = pairs.filter((_, k) => ds[k] < limit);
        while (next.length < 3 && limit < 4 * cutoff) {
          limit += 0.5;
          next = pairs.filter((_, k) => ds[k] < limit);
        }
        if (next.length < 3 || next.length === selection.length && next.every((p, k) => p === selection[k])) break;
        selection = next;
      }
    }
  }
  return best;
}

/** Everything the job page shows about how `otherPdb` compares with `thisPdb`. */
export function compareStructures(thisPdb, otherPdb) {
  const a = caTrace(thisPdb);
  const b = caTrace(otherPdb);
  if (!b.length) {
    throw new Error('no residue with a Cα atom in the other structure: is it a PDB file (ATOM records)? mmCIF is not read here');
  }
  if (a.length < 3 || b.length < 3) throw new Error('each structure needs at least 3 residues with a Cα atom');
  const seqA = a.map((r) => r.aa).join('');
  const seqB = b.map((r) => r.aa).join('');
  const pairs = pairResidues(seqA, seqB);
  if (pairs.length < 3) {
    // Said as what it means for a person: unrelated proteins (the usual cause) cannot be paired this way.
    throw new Error('the two sequences have fewer than 3 residues that line up: residues are paired by sequence, '
      + 'so Compare superposes structures of one protein (another prediction, a mutant, a fragment, an experimental '
      + 'structure), not of unrelated proteins');
  }
  const identical = pairs.filter(([i, j]) => seqA[i] === seqB[j]).length;
  const fit = superpose(a, b, pairs);
  const ds = distances(a, b, pairs, fit);
  const rmsd = Math.sqrt(ds.reduce((sum, d) => sum + d * d, 0) / ds.length);
  const {tm, transform} = tmScore(a, b, pairs, a.length);
  return {
    tm, rmsd, transform: transform || fit,
    aligned: pairs.length, identity: identical / pairs.length, sameSequence: seqA === seqB,
    lengthThis: a.length, lengthOther: b.length,
  };
}

/** The PDB text with every atom moved by `transform` (the comparison's superposition), for the viewer. */
export function movePdb(pdbText, transform) {
  return pdbText.split('\n').map((line) => {
    if (!(line.startsWith('ATOM  ') || line.startsWith('HETATM')) || line.length < 54) return line;
    const [x, y, z] = [line.slice(30, 38), line.slice(38, 46), line.slice(46, 54)].map(Number);
    if (![x, y, z].every(Number.isFinite)) return line;
    const p = apply(transform, {x, y, z});
    return line.slice(0, 30) + [p.x, p.y, p.z].map((v) => v.toFixed(3).padStart(8)).join('') + line.slice(54);
  }).join('\n');
}
