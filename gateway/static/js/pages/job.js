// One job: live status, metrics, the 3D viewer (structure by pLDDT, or receptor + ranked poses),
// pLDDT and PAE plots, every download and the provenance of the result.

import {ApiError, api, download, jobGone, toSignInAfterSessionEnded} from '../api.js';
import {pageHeader, refreshCredits} from '../app.js';
import {compareCard} from '../compare.js';
import {announce, busy, confirmDialog, copyText, focusIfLost, h, icon, replace, toast, withCode} from '../dom.js';
import {ACTIVE, PLDDT_BANDS, ago, dateTime, modelName, num, plddtBand, shortId} from '../format.js';
import {paeHeatmap, plddtPlot} from '../plots.js';
import {kvRows, provenance} from '../provenance.js';
import {dockingViewer, splitSdf, structureViewer} from '../viewer.js';
import {cancelJob, queuePlace, sayOnJobsList, statusPill} from './jobs.js';
import {shareButton} from '../share.js';

export const title = 'Job';
const POLL_MS = 1500;
const POLL_RETRY_MS = 3000; // after a failed poll: a service restarting is given a moment, not asked every 1.5 s

const FORMAT_INFO = {
  pdb: ['PDB', 'Coordinates (pLDDT in the B-factor column)'],
  cif: ['mmCIF', 'Coordinates with provenance'],
  json: ['JSON', 'Scores: pLDDT, pTM, PAE'], // a docking job's: DOCKING_FORMAT_INFO; one with no PAE: NO_PAE_JSON
  a3m: ['A3M', 'The multiple sequence alignment used'],
  timings: ['Timings', 'Stage timings (JSON)'],
  sdf: ['SDF', 'Every ranked ligand pose'],
  plddt_plot: ['pLDDT plot', 'Per-residue confidence (PNG)'],
  pae: ['PAE', 'Predicted aligned error matrix, AlphaFold DB format (JSON)'],
  pae_plot: ['PAE plot', 'Predicted aligned error heatmap (PNG)'],
  coverage_plot: ['MSA coverage', 'Alignment coverage plot (PNG)'],
  confidence_plot: ['Confidence plot', 'Confidence of every pose (PNG)'],
  zip: ['Bundle', 'Every file, the plots and a README (zip)'],
  relaxed_pdb: ['Relaxed PDB', 'After Amber relax (hydrogens added)'],
  relaxed_cif: ['Relaxed mmCIF', 'After Amber relax, with provenance'],
};
// AlphaFold2's other ranked models: rank_2_pdb, rank_3_relaxed_pdb, ...
function rankedFileInfo(fmt) {
  const match = /^rank_(\d+)_(relaxed_)?pdb$/.exec(fmt);
  return match ? [`Rank ${match[1]}${match[2] ? ' relaxed' : ''} PDB`, `The model ranked ${match[1]}`] : null;
}

// A structure job without PAE (AlphaFold2's monomer and monomer_casp14 presets) has no pTM either: its scores JSON
// was described as "pLDDT, pTM, PAE" while the page said it had no PAE.
const NO_PAE_JSON = {json: ['JSON', 'Scores: per-residue pLDDT']};
const DOCKING_FORMAT_INFO = {pdb: ['PDB', 'Receptor + rank-1 ligand pose'], json: ['JSON', 'Pose confidences and provenance']};

function stat(label, value, note, attrs = {}) {
  return h('div', {class: 'card stat', ...attrs}, h('div', {class: 'label'}, label), h('div', {class: 'value'}, value),
    note ? h('div', {class: 'note'}, note) : null);
}

// A band the report does not give (a damaged report): "not known", as the other pages say of a figure they lack.
function bandWords(band) {
  return !band || band === 'unknown' ? 'not known' : band.replace('-', ' ');
}

function bandChip(band) {
  return h('span', {class: ['band', band || 'unknown']}, bandWords(band));
}

function plddtLegend() {
  return h('div', {class: 'legend', id: 'plddt-legend'}, PLDDT_BANDS.map((b) =>
    h('span', {}, h('span', {class: ['sw', b.key]}), `${b.label} (${b.range})`)));
}

/** Where a job's files come from: a download route (`base`, answering `?format=`), said in `hint`; `shared`: a
 * share link's (pages/shared.js), whose page shows no account's data. */
export function filesAt(base, hint, shared = false) {
  return {shared, hint, url: (fmt) => `${base}?format=${encodeURIComponent(fmt)}`, text: (fmt) => download(base, fmt)};
}

function ownerFiles(jobId) {
  return filesAt(`/v1/jobs/${encodeURIComponent(jobId)}/download`, 'Also at GET /v1/jobs/{id}/download?format=…');
}

function downloads(job, files) {
  const info = job.model === 'diffdock' ? {...FORMAT_INFO, ...DOCKING_FORMAT_INFO}
    : (job.formats || []).includes('pae') ? FORMAT_INFO : {...FORMAT_INFO, ...NO_PAE_JSON};
  return h('div', {class: 'card'}, h('div', {class: 'card-head'}, h('h2', {}, 'Downloads'),
    h('span', {class: 'hint'}, files.hint)),
  h('div', {class: 'card-body downloads', id: 'downloads'}, (job.formats || []).map((fmt) => {
    const [name, what] = info[fmt] || rankedFileInfo(fmt) || [fmt.toUpperCase(), 'Result file'];
    return h('a', {class: 'download', href: files.url(fmt),
      download: '', 'data-format': fmt}, h('span', {class: 'fmt'}, name), h('span', {class: 'what'}, what));
  })));
}

function inputCard(rows) {
  return h('div', {class: 'card', id: 'inputs'}, h('div', {class: 'card-head'}, h('h2', {}, 'Input')),
    h('div', {class: 'card-body'}, h('dl', {class: 'kv'}, rows.filter(Boolean).map(([k, v, cls]) => [h('dt', {}, k), h('dd', {class: cls || ''}, v)]))));
}

function weightsNotice(job) {
  const meta = job.metadata || {};
  const real = meta.real_weights ?? meta.real_prediction;
  if (real === false || real === 'false') {
    return h('div', {class: 'notice warn', id: 'weights-notice'}, h('div', {},
      h('strong', {}, 'Not a real prediction'),
      'This server runs tiny, randomly initialised weights of the real architecture: the structure and scores below mean nothing. Ask the server’s administrator to install the official weights.'));
  }
  return null;
}

/** The job's warnings (metadata.warnings: what the input's preparation changed or left open, e.g. a stereocentre the
 * SMILES leaves unspecified) as a notice near the page's top, one per line. They were only inside Provenance, joined
 * by commas into one line, and their own commas hid where one ended and the next began. */
export function warningsNotice(job) {
  const warnings = job.metadata?.warnings;
  const list = (Array.isArray(warnings) ? warnings : warnings ? [warnings] : []).map(String).filter((w) => w.trim());
  if (!list.length) return null;
  return h('div', {class: 'notice warn', id: 'job-warnings', role: 'note'}, h('div', {},
    h('strong', {}, list.length === 1 ? 'A warning about this job’s input' : `${list.length} warnings about this job’s input`),
    h('ul', {}, list.map((w) => h('li', {}, withCode(w))))));
}

/** An SD property of one SDF record (`> <name>` and the line under it), or null. */
export function sdProperty(record, name) {
  const match = new RegExp(`^>\\s*<${name}>[^\\n]*\\n([^\\n]*)`, 'm').exec(record || '');
  return match ? match[1].trim() : null;
}

/** The ligand's SMILES as the request gave it, for a report that does not say it (a damaged JSON): the job's stored
 * request (GET /v1/jobs/{id}/input), the owner's only; null on a share link's page or when it cannot be read. The
 * job's metadata holds no SMILES (`metadata.ligand` was read, and never there). */
async function requestedSmiles(job, files) {
  if (files.shared) return null;
  try {
    const request = await api.get(`/v1/jobs/${encodeURIComponent(job.job_id)}/input`);
    return request?.params?.ligand_smiles || request?.sequence || null;
  } catch {
    return null;
  }
}

function viewerTools(buttons) {
  return h('div', {class: 'viewer-tools'}, buttons.map(([label, fn, id]) =>
    h('button', {class: 'btn small', type: 'button', id, on: {click: fn}}, label)));
}

/** The job's JSON result (scores, or DiffDock's pose report) as an object, or null when the file is damaged (not
 * JSON, or JSON that is no object). Its parse error ("Unexpected token ... is not valid JSON") was shown as the
 * page's only words, and the structure, which needs no scores, was not shown at all. */
async function jsonResult(files) {
  const text = await files.text('json');
  try {
    const value = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/** What the page says in place of the scores when the JSON result is damaged: what is missing, what still works. */
function damagedNotice(missing, shared) {
  // On a share link's page the reader has no account to run the job with: they were told to run it again.
  return h('div', {class: 'notice warn', id: 'scores-unreadable', role: 'note'}, h('div', {},
    h('strong', {}, 'This job’s scores file could not be read'),
    `The file is damaged (cut short or garbled), so ${missing} cannot be shown. `
      + (shared ? 'The structure and the other downloads below still work; whoever shared the job can run it again for a new scores file.'
        : 'The structure and the other downloads below still work; run the job again for a new scores file.')));
}

/** Whether a PDB text holds any atom to draw. One with none (a damaged file; the inference twin's placeholder)
 * gets a notice in place of the viewer: the viewer drew an empty box, and swapped its buttons in later. */
function hasAtoms(pdb) {
  return /^(ATOM |HETATM)/m.test(pdb);
}

function undrawableNotice() {
  return h('div', {class: 'notice warn', id: 'structure-unreadable', role: 'note'}, h('div', {},
    h('strong', {}, 'This job’s structure file could not be read'),
    'It holds no atoms (it is damaged, or no PDB file), so the structure cannot be drawn. The downloads below still work.'));
}

/** Residues in a PDB text (its Cα atoms): the length when no scores say it. */
function residueCount(pdb) {
  return pdb.split('\n').filter((line) => line.startsWith('ATOM') && line.slice(12, 16).trim() === 'CA').length;
}

// The mean to one decimal, but never rounded up onto its band's upper edge: 49.95 read "50.0" beside a "Very low"
// badge whose legend says "pLDDT < 50". Then two decimals, cut, not rounded ("49.95").
function meanShown(mean, band) {
  if (typeof mean !== 'number') return num(mean, 1);
  const above = PLDDT_BANDS[PLDDT_BANDS.indexOf(band) - 1]; // the next band up (none above "Very high")
  return above && Number(mean.toFixed(1)) >= above.min ? (Math.floor(mean * 100) / 100).toFixed(2) : num(mean, 1);
}

async function structureSection(job, files, query) {
  const [pdb, read] = await Promise.all([files.text('pdb'), jsonResult(files)]);
  const scores = read || {};
  const plddt = scores.plddt || [];
  const mean = job.metrics?.mean_plddt ?? scores.mean_plddt;
  const band = plddtBand(mean);
  const known = typeof mean === 'number'; // no mean (a damaged scores file): no band ("Very low" was shown)
  // Neither file readable (damaged scores, a structure with no atoms): "0 residues" was shown, a length the job never
  // had; it is "not known", as the mean pLDDT beside it is.
  const length = plddt.length || residueCount(pdb);
  // ESMFold's mean pLDDT is over every atom (as esm-fold reports it), its plot the residues' (Cα) values: 50.3 beside
  // a plot averaging 59.0 read as a wrong figure. The residues' mean, when it differs, is said under it.
  const perResidue = scores.mean_plddt_ca;
  const otherMean = known && typeof perResidue === 'number' && Math.abs(perResidue - mean) >= 0.05
    ? h('div', {class: 'small', id: 'plddt-which'}, `all atoms; ${num(perResidue, 1)} over residues (the plot)`) : null;
  const stats = h('div', {class: 'grid stats'},
    stat('Mean pLDDT', meanShown(mean, band), known ? [h('span', {class: ['band', band.cls]}, band.label), otherMean] : 'not known', {id: 'metric-plddt'}),
    job.metrics?.ptm !== undefined ? stat('pTM', num(job.metrics.ptm, 3), 'Predicted TM-score, 0\u2060–\u20601') : null,
    job.metrics?.iptm !== undefined ? stat('ipTM', num(job.metrics.iptm, 3), 'Interface pTM of the complex, 0\u2060–\u20601') : null,
    stat('Length', length ? num(length) : '-', !length ? 'not known'
      : job.metrics?.num_chains ? `residues in ${job.metrics.num_chains} chains` : 'residues', {id: 'metric-length'}),
    // Amber relax (params.relax) of the rank-1 structure: clashing heavy-atom pairs before -> after, and the residues
    // still violating bond, angle or clash limits: "84 → 0" alone read as a sound structure when 13 of 17 were not.
    job.metrics?.clashes_relaxed !== undefined ? stat('Clashes after relax',
      `${num(job.metrics.clashes_unrelaxed)} → ${num(job.metrics.clashes_relaxed)}`,
      [`Clashing atom pairs; RMSD to unrelaxed ${num(job.metrics.relax_rmsd, 2)}\u00a0Å`,
        job.metrics.violations_relaxed > 0 ? h('div', {class: 'warn-text', id: 'relax-violations'},
          `${num(job.metrics.violations_relaxed)} ${job.metrics.violations_relaxed === 1 ? 'residue still violates'
            : 'residues still violate'} bond, angle or clash limits`) : null], {id: 'metric-relax'}) : null,
    files.shared ? null : stat('Credits', num(job.credits_used), modelName(job.model)));
  // A canvas says nothing to a screen reader: the viewer is an image named for what it shows (its buttons, beside
  // it, stay buttons).
  const container = h('div', {class: 'viewer', id: 'viewer', role: 'img',
    'aria-label': 'The structure in 3D, coloured by pLDDT; the plot below gives each residue’s score'});
  const tools = viewerTools([]);
  // Which structure this is when the job has another (Amber relax): the page offered "Relaxed PDB" and never said
  // whether the viewer showed it. It shows the model as predicted, whose pLDDT the colours are.
  const relaxed = (job.formats || []).includes('relaxed_pdb');
  const which = relaxed ? h('div', {class: 'small muted', id: 'structure-which'},
    `${job.model === 'alphafold2' ? 'The rank-1 model' : 'The structure'} as predicted, before Amber relax; the relaxed `
      + 'one is “Relaxed PDB” under Downloads.') : null;
  const viewerCard = h('div', {class: 'card viewer-card'},
    h('div', {class: 'card-head'}, h('h2', {}, 'Structure'), plddtLegend()),
    h('div', {class: 'card-body'}, tools, container, which));
  const plots = h('div', {class: 'grid two'},
    h('div', {class: 'card'}, h('div', {class: 'card-head'}, h('h2', {}, 'pLDDT per residue'), h('span', {class: 'hint'}, 'Local confidence, 0\u2060–\u2060100')),
      h('div', {class: 'card-body'}, plddt.length ? plddtPlot(plddt, scores.sequence || '', scores.chains)
        : h('div', {class: 'muted'}, read ? 'No per-residue scores.' : 'Not shown: the scores file is damaged.'))),
    h('div', {class: 'card', id: 'pae-card'}, h('div', {class: 'card-head'}, h('h2', {}, 'Predicted aligned error'), h('span', {class: 'hint'}, 'Expected position error, Å')),
      h('div', {class: 'card-body'}, scores.pae ? paeHeatmap(scores.pae, scores.chains) : h('div', {class: 'muted', id: 'pae-missing'},
        read ? 'This job has no PAE: AlphaFold2 computes it with the monomer_ptm preset.' : 'Not shown: the scores file is damaged.'))));
  const inputs = inputCard([
    read ? ['Sequence', scores.sequence || '-', 'mono sequence'] : ['Sequence', 'Not shown: the scores file is damaged.'],
    ['Length', length ? `${num(length)} residues` : 'Not known'],
  ]);
  let drawn;
  const viewerReady = new Promise((resolve) => { drawn = resolve; });
  // The Compare card lists the owner's other structures: not on a shared page.
  const drawable = hasAtoms(pdb);
  const section = h('div', {class: 'stack'}, read ? null : damagedNotice('the per-residue pLDDT and PAE plots', files.shared),
    drawable ? null : undrawableNotice(), stats, drawable ? viewerCard : null,
    files.shared || !drawable ? null : compareCard(job, pdb, viewerReady, query), plots, inputs);
  section.dataset.atoms = String(drawable); // showResults: no atoms, nothing to dock a ligand to
  if (drawable) requestAnimationFrame(async () => {
    const view = await structureViewer(container, pdb, plddt);
    drawn(view);
    if (!view) { plainText(container); return; }
    if (view.initial === 'sticks') tools.parentNode.append(sticksNote('Shown as sticks')); // under the viewer
    let spinning = false;
    const showStyle = (name) => {
      view.style(name);
      const note = tools.parentNode.querySelector('#viewer-note');
      if (note) note.replaceWith(sticksNote(name === 'sticks' ? 'Shown as sticks' : 'Shown as a cartoon, as asked', name));
      for (const style of ['cartoon', 'sticks']) tools.querySelector(`#view-${style}`).setAttribute('aria-pressed', String(style === name));
    };
    replace(tools, Array.from(viewerTools([
      ['Cartoon', () => showStyle('cartoon'), 'view-cartoon'],
      ['Sticks', () => showStyle('sticks'), 'view-sticks'],
      ['Spin', (event) => { // a toggle: a screen reader says whether it is on
        spinning = !spinning;
        view.spin(spinning);
        event.currentTarget.setAttribute('aria-pressed', String(spinning));
      }, 'view-spin'],
      ['Reset', () => view.reset(), 'view-reset'],
    ]).childNodes));
    showStyle(view.initial);
    tools.querySelector('#view-spin').setAttribute('aria-pressed', 'false');
    container.dataset.ready = 'true';
  });
  return section;
}

async function dockingSection(job, files) {
  const [complexPdb, sdf, read] = await Promise.all([files.text('pdb'), files.text('sdf'), jsonResult(files)]);
  const report = read || {};
  const records = splitSdf(sdf);
  // A damaged report: the SDF's poses, in its (ranked) order, without confidences.
  const poses = report.poses || (read ? [] : records.map((_, i) => ({rank: i + 1, confidence: null, confidence_band: 'unknown'})));
  const top = poses[0] || {};
  const smiles = report.ligand?.smiles || await requestedSmiles(job, files);
  // The result's key is `heavy_atoms` (phonos_models/diffdock/pipeline.py): `num_heavy_atoms` was read, never there.
  const heavyAtoms = report.ligand?.heavy_atoms;
  // The pose each record holds, as docked: its stereo SMILES (SD property `docked_smiles`; the JSON has none), which
  // says which configuration a SMILES with an unspecified stereocentre was docked as.
  const dockedSmiles = records.map((record) => sdProperty(record, 'docked_smiles'));
  const stats = h('div', {class: 'grid stats'},
    // 3 decimals, as the pose table (0.44 here beside 0.437 there, and -1.50 beside "moderate", whose rule is > -1.5).
    stat('Top confidence', top.confidence === null || top.confidence === undefined ? '-' : num(top.confidence, 3), bandChip(top.confidence_band || 'unknown'), {id: 'metric-confidence'}),
    stat('Poses', num(poses.length), 'ranked by confidence'),
    // No SMILES (a damaged report): a bare small "-" with nothing under it; it is "not known", as a structure's mean
    // pLDDT is, in the figures' type.
    smiles ? stat('Ligand', h('span', {class: 'mono', style: {fontSize: '14px'}}, smiles), heavyAtoms ? `${num(heavyAtoms)} heavy atoms` : '', {id: 'metric-ligand'})
      : stat('Ligand', '-', 'not known', {id: 'metric-ligand'}),
    files.shared ? null : stat('Credits', num(job.credits_used), modelName(job.model)));
  const container = h('div', {class: 'viewer', id: 'viewer', role: 'img',
    'aria-label': 'The receptor and the pose shown, in 3D; the pose table lists every pose'});
  const tools = viewerTools([]);
  // Said as it changes (previous, next, a rank pressed): which pose the viewer shows now.
  const selected = h('div', {class: 'small muted', id: 'pose-selected', 'aria-live': 'polite'});
  const poseSmiles = h('div', {class: 'small', id: 'pose-smiles', hidden: true});
  // A click anywhere on a row shows its pose; the rank is a button so that the keyboard can too.
  const rows = poses.map((pose, i) => h('tr', {class: 'clickable', 'data-rank': pose.rank, on: {click: () => select(i)}},
    h('td', {}, h('button', {class: 'btn link pose-pick', type: 'button', 'aria-label': `Show pose ${pose.rank}`}, `#${pose.rank}`)),
    h('td', {class: 'num'}, pose.confidence === null ? '-' : num(pose.confidence, 3)),
    h('td', {}, bandChip(pose.confidence_band)),
    report.pocket ? h('td', {class: 'num'}, num(pose.pocket_distance, 1)) : null));
  let view = null;
  function select(i) {
    rows.forEach((r, j) => {
      r.classList.toggle('selected', i === j);
      r.querySelector('.pose-pick').setAttribute('aria-pressed', String(i === j));
    });
    const pose = poses[i];
    if (!pose) return; // no poses to show (an empty report)
    selected.textContent = pose.confidence === null || pose.confidence === undefined ? `Showing pose #${pose.rank} · confidence not known`
      : `Showing pose #${pose.rank} · confidence ${num(pose.confidence, 3)} (${bandWords(pose.confidence_band)})`;
    container.dataset.pose = String(pose.rank);
    const docked = dockedSmiles[i];
    poseSmiles.hidden = !docked;
    replace(poseSmiles, docked ? [`Pose #${pose.rank} as docked (its stereo SMILES): `, h('code', {}, docked)] : []);
    if (view) view.show(i);
  }
  const meaning = report.confidence_meaning?.bands || {};
  const side = h('div', {class: 'card'},
    h('div', {class: 'card-head'}, h('h2', {}, 'Poses'),
      h('div', {class: 'row'},
        h('button', {class: 'btn small', type: 'button', id: 'pose-prev', 'aria-label': 'Previous pose', on: {click: () => select(Math.max(0, rowsIndex() - 1))}}, '‹'),
        h('button', {class: 'btn small', type: 'button', id: 'pose-next', 'aria-label': 'Next pose', on: {click: () => select(Math.min(poses.length - 1, rowsIndex() + 1))}}, '›'))),
    h('div', {class: 'card-body flush'}, h('table', {class: report.pocket ? 'table poses with-pocket' : 'table poses', id: 'poses'},
      h('thead', {}, h('tr', {}, h('th', {}, 'Rank'), h('th', {class: 'num'}, 'Confidence'), h('th', {}, 'Band'),
        report.pocket ? h('th', {class: 'num', title: 'ligand centroid to the pocket centre'}, 'Pocket') : null)),
      h('tbody', {}, rows))),
    h('div', {class: 'card-body small muted'},
      h('div', {}, 'Confidence is DiffDock’s raw logit, not a probability or an affinity.'),
      report.pocket ? h('div', {id: 'pocket-note'}, `Pocket: centre (${report.pocket.center.join(', ')})\u00a0Å, radius ${report.pocket.radius}\u00a0Å `
        + '(the translucent sphere in the viewer). Poses start in the pocket; “Pocket” is how far (Å) from the centre each ended (the checkpoints were trained for blind docking).') : null,
      // The report's rules in the signs of print ("confidence <= -1.5" read as code).
      Object.entries(meaning).map(([band, rule]) => h('div', {}, bandChip(band), ' ', String(rule).replaceAll('<=', '≤').replaceAll('>=', '≥')))));
  function rowsIndex() { return Math.max(0, rows.findIndex((r) => r.classList.contains('selected'))); }
  const viewerCard = h('div', {class: 'card viewer-card'},
    h('div', {class: 'card-head'}, h('h2', {}, 'Receptor and ligand pose'), selected),
    h('div', {class: 'card-body'}, tools, container, poseSmiles));
  select(0);
  const drawable = hasAtoms(complexPdb);
  if (drawable) requestAnimationFrame(async () => {
    view = await dockingViewer(container, complexPdb, records, {pocket: report.pocket || job.metadata?.pocket});
    if (!view) { plainText(container); return; }
    view.show(rowsIndex());
    // Which of the two views is on, as Cartoon and Sticks say theirs (the two buttons looked alike, neither pressed).
    const framing = () => {
      tools.querySelector('#view-pocket').setAttribute('aria-pressed', String(view.framing() === 'pose'));
      tools.querySelector('#view-whole').setAttribute('aria-pressed', String(view.framing() === 'whole'));
    };
    replace(tools, Array.from(viewerTools([['Ligand', () => { view.reset(); framing(); }, 'view-pocket'],
      ['Whole complex', () => { view.whole(); framing(); }, 'view-whole']]).childNodes));
    framing();
    container.dataset.receptor = view.receptorStyle;
    container.dataset.hetero = `${view.hetero.sticks} ${view.hetero.ions}`; // atoms drawn as sticks, as ion spheres
    container.dataset.pocket = String(view.pocketDrawn);
    if (view.receptorStyle === 'sticks') tools.parentNode.append(sticksNote('The receptor is shown as sticks'));
    container.dataset.ready = 'true';
  });
  const source = job.metadata?.protein_source || '';
  // A relaxed structure job is docked through its Amber-relaxed PDB (metadata.protein_file): said, as it differs.
  const structure = `${job.metadata?.protein_file === 'relaxed_pdb' ? 'relaxed structure' : 'structure'} of job ${shortId(source.slice(4))}`;
  const receptor = source.startsWith('job:') && files.shared ? structure
    : source.startsWith('job:') ? receptorLink(source.slice(4), structure)
    : 'uploaded PDB';
  const inputs = inputCard([
    smiles ? ['Ligand', smiles, 'mono'] : ['Ligand', 'Not known'],
    ['Receptor', receptor],
    report.receptor?.residues ? ['Receptor size', `${report.receptor.residues} residues`] : null,
  ]);
  return h('div', {class: 'stack'}, read ? null : damagedNotice('the poses’ confidences', files.shared),
    drawable ? null : undrawableNotice(), stats, drawable ? h('div', {class: 'grid main-side'}, viewerCard, side) : side, inputs);
}

/** The docking job's receptor job, linked; once a look finds that job deleted, the words say so instead of a link
 * (it led to "Job not found: this job does not exist in your account", which read as an error of this page). */
function receptorLink(id, words) {
  const link = h('a', {href: `/jobs/${encodeURIComponent(id)}`, id: 'receptor-job'}, words);
  jobGone(id).then((deleted) => {
    if (deleted) link.replaceWith(h('span', {id: 'receptor-job'}, `${words} (deleted since)`));
  });
  return link;
}

/** The viewer's box when it shows why there is no viewer: its words read as words, not hidden inside an image. */
function plainText(container) {
  container.removeAttribute('role');
  container.removeAttribute('aria-label');
}

/** Why a structure is drawn as sticks (viewer.js cartoonDrawable); drawn as a cartoon anyway (`style`), why it
 * shows so little. Was the sticks' words after Cartoon was pressed. */
function sticksNote(what, style = 'sticks') {
  return h('div', {class: 'small muted', id: 'viewer-note'},
    `${what}: most neighbouring Cα atoms here are more than 4.2\u00a0Å or less than 2.6\u00a0Å apart `,
    '(3.8\u00a0Å in a real chain, 2.9\u00a0Å at a cis peptide), ',
    style === 'sticks' ? 'so a cartoon would show almost nothing of a chain. Tiny random weights make such structures.'
      : 'so it shows almost nothing of a chain; Sticks shows every atom. Tiny random weights make such structures.');
}

/** Why the job went back to waiting (the job's `requeue_reason`), in the scientist's words. */
const REQUEUE_REASONS = {
  service_stopped: 'its job service stopped during the run, which does not count against it',
  service_lost: 'its job service stopped responding during the run, and another one took the job over',
  service_restarted: 'its job service stopped during the run, and took the job again when it restarted',
  model_unavailable: 'the model server was unavailable before it could compute, which does not count against it',
  model_restarted: 'the model’s process stopped during the run (a crash of the model server, since restarted)',
};

/** "Attempt 2 of 3: its job service stopped responding during the run…" for a job that went back to waiting or is on
 * a later run; null for a first run. Before, a job whose service died went running -> waiting -> running, unexplained. */
export function attemptText(job) {
  if (!job.requeue_reason && !(job.attempt > 1)) return null;
  const which = `Attempt ${job.attempt || 1}${job.max_attempts ? ` of ${job.max_attempts}` : ''}`;
  const why = REQUEUE_REASONS[job.requeue_reason];
  return why ? `${which}: ${why}.` : `${which}.`;
}

/** The card of a pending or running job, built once and updated in place (the Cancel button keeps focus). */
function statusCard(onCancel) {
  const heading = h('strong', {});
  const note = h('div', {class: 'muted'});
  const place = h('div', {class: 'small', id: 'queue-place', hidden: true});
  const attempt = h('div', {class: 'small', id: 'job-attempt', hidden: true});
  const message = h('div', {class: 'small', id: 'progress-message', hidden: true});
  const bar = h('progress', {class: 'job-progress', id: 'job-progress', hidden: true, 'aria-label': 'Model progress'});
  const card = h('div', {class: 'card', id: 'status-card'}, h('div', {class: 'card-body row'},
    h('div', {class: 'status-text'}, heading, place, note, attempt, message, bar),
    h('div', {class: 'spacer'}),
    h('button', {class: 'btn danger', type: 'button', id: 'cancel-job', on: {click: onCancel}}, 'Cancel job')));
  return {
    card,
    update(job, progress) {
      const running = job.status === 'running' || Boolean(progress); // progress comes only from a running model, maybe before the next poll
      // In the scientist's words; the operator's (which server, which queue) stays in the tooltip and /health.
      heading.textContent = running ? 'Running' : 'Waiting to start';
      heading.title = running ? 'The model server is computing this job.' : 'Queued until the model server has a free slot for this model.';
      note.textContent = running ? `Started ${ago(job.started_at || job.updated_at)}. This page updates by itself.`
        : 'Your job starts as soon as the model is free. This page updates by itself.';
      const where = running ? null : queuePlace(job); // every poll reads it again: the count goes down as jobs start
      place.hidden = !where;
      place.textContent = where || '';
      place.title = where ? 'An estimate: other accounts take turns with yours, one job each.' : '';
      const again = attemptText(job);
      attempt.hidden = !again;
      attempt.textContent = again || '';
      message.hidden = bar.hidden = !(running && progress);
      if (!running || !progress) return;
      message.textContent = progress.message || progress.stage;
      if (progress.total > 0) {
        bar.max = progress.total;
        bar.value = progress.step;
      } else {
        bar.removeAttribute('value'); // unknown length: an indeterminate bar
      }
    },
  };
}

/** The model's progress while the job runs, from the job's event stream (progress is not stored, so polling cannot see it).
 * A session that ends while the page streams (signed out in another tab, the password changed elsewhere) is said in
 * the stream: the job service ends an open stream with an `error` event whose status is 401, and the query parameter
 * asks the gateway to answer a reconnect after that as such an event too, not as a 401 (an EventSource cannot send
 * api.js's header; the 401 was logged in the console as an error and the page kept reconnecting:
 * gateway/dashboard/signed_out.py). Either way the page closes the stream and goes to sign in, keeping its place. */
function watchProgress(jobId, onProgress, onWaiting = () => {}) {
  const source = new EventSource(`/v1/jobs/${encodeURIComponent(jobId)}/events?x-phonos-if-signed-out=event`);
  source.addEventListener('progress', (event) => {
    const {progress} = JSON.parse(event.data);
    if (progress) onProgress(progress);
  });
  // A waiting job's stream says its new place as the jobs ahead start (sooner than the next poll).
  source.addEventListener('state', (event) => {
    const {job} = JSON.parse(event.data);
    if (job?.status === 'pending' && typeof job.jobs_ahead === 'number') onWaiting(job);
  });
  source.addEventListener('error', (event) => {
    // The browser's own `error` (the connection dropped: it reconnects by itself) has no data; the server's has.
    if (!event.data) return;
    let status = null;
    try { ({status} = JSON.parse(event.data)); } catch { status = null; }
    if (status !== 401) return;
    source.close();
    toSignInAfterSessionEnded();
  });
  return source;
}

export async function render(main, {params, query}) {
  const [jobId] = params;
  let job;
  try {
    job = await api.get(`/v1/jobs/${encodeURIComponent(jobId)}`);
  } catch (err) {
    // Only a 404 is "not found": a 503 (the job service restarting) said the job did not exist in the account, and
    // offered no way to try again; the shell shows other failures with "Try again" (app.js).
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
    replace(main, pageHeader('Job not found', {crumbs: h('a', {href: '/jobs'}, '‹ Jobs')}), h('div', {class: 'content'},
      h('div', {class: 'card empty'}, icon('empty'), h('div', {class: 'title'}, 'This job does not exist in your account'),
        h('div', {}, err.message), h('a', {class: 'btn', href: '/jobs'}, 'Back to jobs'))));
    return;
  }
  document.title = `${job.name || `Job ${shortId(job.job_id)}`} · phonos`;
  // The Share panel has a place of its own above the results: prepended to the results, it was wiped out when they
  // finished loading, so a Share clicked at once left the button "expanded" over no panel.
  const panels = h('div', {class: 'stack', id: 'job-panels'});
  // Whether the structure can take a ligand: until its file is read, as most can; not once it is found to hold no
  // atoms (a damaged file; the twin's placeholder), where "Dock a ligand" led to a docking job bound to fail.
  let dockable = true;
  const body = h('div', {class: 'stack', id: 'job-results'});
  const header = () => pageHeader(job.name || `Job ${shortId(job.job_id)}`, {
    crumbs: h('a', {href: '/jobs'}, '‹ Jobs'),
    sub: h('span', {class: 'row'}, statusPill(job.status), h('span', {class: 'chip model'}, modelName(job.model)),
      h('span', {class: 'mono small muted'}, job.job_id),
      h('button', {class: 'btn link small', type: 'button', on: {click: () => copyText(job.job_id)}}, 'Copy id'),
      h('span', {class: 'muted small', id: 'job-submitted', title: dateTime(job.created_at)}, `Submitted ${ago(job.created_at)}`)),
    actions: [
      job.status === 'completed' && job.model !== 'diffdock' && !job.results_deleted_at && dockable
        ? h('a', {class: 'btn', id: 'dock-this', href: `/submit?model=diffdock&receptor=${encodeURIComponent(job.job_id)}`}, 'Dock a ligand to this structure')
        : null,
      h('a', {class: 'btn', id: 'run-again', href: `/submit?model=${encodeURIComponent(job.model)}&from=${encodeURIComponent(job.job_id)}`,
        title: 'A new job with this one’s input, to change what you need'}, 'Run again'),
      job.status === 'completed' && !job.results_deleted_at ? shareButton(job, () => panels) : null,
      ACTIVE.has(job.status) ? null // cancel it first (the status card's button)
        : h('button', {class: 'btn danger', type: 'button', id: 'delete-job', on: {click: (event) => onDelete(event.currentTarget)}}, 'Delete'),
    ].filter(Boolean),
  });
  replace(main, header(), h('div', {class: 'content stack', id: 'job-body'}, panels, body));

  async function onDelete(button) {
    const ok = await confirmDialog({
      title: 'Delete this job?',
      body: 'Its result files, its inputs (sequence, structure, ligand), its name and its scores are deleted for good. The credits it used stay used.',
      confirm: 'Delete job', danger: true,
    });
    if (!ok) return;
    // Disabled while the job is deleted and the jobs list loads: a second press asked again, and its DELETE got a
    // 404 ("not found") toast over the page it was leaving.
    const done = busy(button);
    try {
      await api.del(`/v1/jobs/${encodeURIComponent(job.job_id)}`);
      // The list says it (the bulk bar's "Deleted 2 jobs" had no single-job twin: the page just changed).
      sayOnJobsList(`Deleted ${job.name ? `“${job.name}”` : `job ${shortId(job.job_id)}`}`);
      location.assign('/jobs');
    } catch (err) { toast(err.message); done(); }
  }

  let asking = null; // the Cancel question while it is open: closed if the job ends meanwhile (show())
  let cancelledHere = false; // this page's Cancel was confirmed: its toast says "Cancelled" (not said twice)
  let cancelSent = false; // a confirmed cancel is on its way: Cancel is unavailable (cancelJob's `sending`)
  // This page sent a cancel (from the moment it went, so a poll landing while it is on its way does not say
  // "cancelled" before the toast does); cleared when it cancelled nothing.
  let cancelAsked = false;
  async function onCancel(event) {
    if (cancelSent) return;
    const button = event.currentTarget;
    const sending = (on) => {
      cancelSent = on;
      if (on) cancelAsked = true;
      if (on) button.setAttribute('aria-disabled', 'true'); else button.removeAttribute('aria-disabled');
    };
    asking = new AbortController();
    const {signal} = asking;
    try {
      cancelledHere = await cancelJob(job, {signal, sending});
      if (!cancelledHere) {
        cancelAsked = false;
        // Ended while asked: answering "Cancel job" got the API's refusal ("… is completed; only pending or running
        // jobs can be cancelled") over a page that already showed the results. The question closes; this says why.
        if (signal.aborted) toast(`This job ${signal.reason} meanwhile: there is nothing to cancel`);
        return;
      }
    } catch (err) { cancelAsked = false; toast(err.message); return; } finally {
      if (asking?.signal === signal) asking = null;
    }
    clearTimeout(timer); // polled now instead: one chain of polls, not a second beside the first
    await poll().catch(pollAgain);
  }

  /** A poll that failed (the job service restarting, the network gone a moment): said once, then asked again a little
   * later. The page stopped updating for good at the first failure: a running job stayed "Running" on the page long
   * after it had completed, until the person reloaded it. */
  function pollAgain(err) {
    if (err instanceof ApiError && err.status === 401) return; // the session ended: on its way to sign in
    if (!pollFailed) toast(`Could not update this job: ${err.message.replace(/\.$/, '')}. Trying again.`);
    pollFailed = true;
    clearTimeout(timer);
    timer = setTimeout(() => poll().then(() => { pollFailed = false; }, pollAgain), POLL_RETRY_MS);
  }

  let polls = 0; // polls asked: only the newest one's answer is drawn
  async function poll() {
    const asked = ++polls;
    const fresh = await api.get(`/v1/jobs/${encodeURIComponent(jobId)}`);
    // Cancel's own poll asked after one of the timer's that was still on its way: that older answer ("running"),
    // arriving last, drew the status card again over "Cancelled", its Cancel button back, for a poll's time.
    if (asked !== polls) return;
    const before = job.status;
    job = fresh;
    redrawHeader();
    await show();
    if (job.status !== before) {
      sayStatus(job);
      refreshCredits(); // a refund (failed, cancelled while pending) changes the sidebar's balance
    }
  }

  /** A status change seen by a poll, said once through the page's polite live region (the pill and the card change
   * silently), as the jobs list says its jobs' changes. Not on the first load (the page shows it), not the model's
   * progress (a message at every step would drown the reader), not a cancel this page sent (its toast says it). */
  function sayStatus(now) {
    const name = now.name || `Job ${shortId(now.job_id)}`;
    if (now.status === 'cancelled' && (cancelledHere || cancelAsked)) return;
    const words = {
      pending: `${name} waiting to start`,
      running: `${name} running`,
      completed: `${name} completed`,
      failed: `${name} failed: ${(now.error || 'no reason was recorded').replace(/\.$/, '')}`,
      cancelled: `${name} cancelled`,
    }[now.status];
    if (words) announce(words);
  }

  /** The header drawn again (its status, its actions). It is, at every poll while the job runs: a keyboard user on
   * "Run again" or "Copy id" lost the focus to the page's top every 1.5 s. The focus goes to the same control in
   * the new header (by id, else by its words), or to the title when that control is gone. */
  function redrawHeader() {
    const old = main.firstChild;
    const had = old.contains(document.activeElement) ? document.activeElement : null;
    const fresh = header();
    old.replaceWith(fresh);
    if (!had) return;
    const same = [...fresh.querySelectorAll('a, button')].find((el) => (had.id ? el.id === had.id : el.textContent === had.textContent));
    if (same) same.focus();
    else focusIfLost(fresh.querySelector('h1'));
  }

  let status = null; // the status card while the job is pending or running
  let progress = null; // what the model last reported
  let events = null;
  let timer = null; // the next poll's
  let pollFailed = false; // the last poll failed (its toast said so: one toast for a run of failures)

  async function show() {
    if (ACTIVE.has(job.status)) {
      if (!status) {
        status = statusCard(onCancel);
        replace(body, status.card);
      }
      if (!events) {
        events = watchProgress(jobId, (latest) => { progress = latest; status?.update(job, progress); }, (waiting) => {
          if (job.status !== 'pending') return; // the poll saw it start meanwhile: its state wins
          job = {...job, jobs_ahead: waiting.jobs_ahead, model_running: waiting.model_running};
          status?.update(job, progress);
        });
      }
      status.update(job, progress);
      clearTimeout(timer);
      timer = setTimeout(() => poll().then(() => { pollFailed = false; }, pollAgain), POLL_MS);
      return;
    }
    // The Cancel question closes first: the focus goes back to the card's Cancel button, and on from there below.
    asking?.abort(job.status);
    asking = null;
    // The status card goes now, and its Cancel button with it: the focus, if it was there, goes to what takes the
    // card's place ("Cancelled", the error, the results) rather than falling to the page's top.
    const focusWasOnStatus = body.contains(document.activeElement);
    status = null;
    events?.close();
    events = null;
    await showEnded();
    if (focusWasOnStatus) focusIfLost(body.firstElementChild);
  }

  /** What a job that is no longer pending or running shows. */
  async function showEnded() {
    if (job.status === 'failed') {
      // The job service's error already says what the failure cost ("…; credits were refunded.", "… so its credits
      // are not refunded"): the page says it only for an error that does not, not twice.
      const costSaid = /\bcredits\b/i.test(job.error || '');
      replace(body, h('div', {class: 'notice bad', id: 'job-error'}, h('div', {}, h('strong', {}, 'The job failed'), job.error || 'No reason was recorded.')),
        costSaid ? null : h('div', {class: 'muted'}, job.credits_used ? `${job.credits_used} credits were charged.` : 'Its credits were refunded.'));
      return;
    }
    if (job.status === 'cancelled') {
      replace(body, h('div', {class: 'notice warn', id: 'job-cancelled'}, h('div', {}, h('strong', {}, 'Cancelled'),
        job.credits_used ? `It had started, so it keeps its whole price: ${job.credits_used} credits, not refunded.` : 'It was not running when it was cancelled: its credits were refunded.')));
      return;
    }
    if (job.results_deleted_at) { // result retention (PHONOS_RESULT_RETENTION_DAYS): downloads answer 410
      replace(body, h('div', {class: 'notice warn', id: 'results-deleted'}, h('div', {}, h('strong', {}, 'Results deleted'),
        `This job's result files were deleted on ${dateTime(job.results_deleted_at)}: this server keeps results for a set time after a job completes. Its scores and provenance remain.`)),
      warningsNotice(job),
      h('div', {class: 'card', id: 'scores'}, h('div', {class: 'card-head'}, h('h2', {}, 'Scores')),
        h('div', {class: 'card-body'}, kvRows(job.metrics || {}))),
      provenance(job));
      return;
    }
    const shown = await showResults(body, job, ownerFiles(job.job_id), query);
    if (shown.noAtoms && dockable) {
      // Only the button goes: the header drawn again made a new Share button, which said its open panel was shut.
      dockable = false;
      const dock = main.querySelector('#dock-this');
      const focused = dock === document.activeElement;
      dock?.remove();
      if (focused) focusIfLost(main.querySelector('h1'));
    }
  }
  await show();
}

/** A completed job's results in `body`: the viewer, scores, plots, downloads and provenance (the owner's job page
 * and a share link's page). Says whether its structure was found to hold no atoms (`noAtoms`). */
export async function showResults(body, job, files, query) {
  replace(body, h('div', {class: 'muted'}, 'Loading results…'));
  try {
    const section = job.model === 'diffdock' ? await dockingSection(job, files) : await structureSection(job, files, query);
    replace(body, weightsNotice(job), warningsNotice(job), section, downloads(job, files), provenance(job));
    return {noAtoms: section.dataset.atoms === 'false'};
  } catch (err) {
    // The API's messages are written for people; anything else (a script's TypeError) is not, and is not shown.
    const why = err instanceof ApiError ? err.message
      : 'Its result files could not be read: they may be damaged. The downloads below may still work.';
    replace(body, h('div', {class: 'notice bad', id: 'results-error'}, h('div', {}, h('strong', {}, 'Could not load the results'), why)),
      downloads(job, files));
    return {noAtoms: false};
  }
}
