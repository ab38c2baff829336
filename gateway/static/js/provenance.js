// A job's metadata and metrics as a person reads them: the job page's Provenance card (weights, settings,
// per-chain facts, timings) and its metrics list. Scalars are key/value rows, nested objects headed groups, and
// a list of objects (ESMFold's and AlphaFold2's chains, AlphaFold2's per-model weights, its databases) one
// small table: a row per item, a column per key.

import {jobGone} from './api.js';
import {h, withCode} from './dom.js';
import {dateTime, duration, shortId} from './format.js';

// Keys that name models (AlphaFold2's `msa_stacks`, `recycles`, `timings.models`: model_1, model_2_ptm,
// model_1_multimer_v3_pred_0). The metadata comes through a protobuf Struct, whose map keeps no order (Provenance
// listed MSA stacks as model 3, 4, 2, 5, 1), so a map keyed by models only is shown in the models' own order,
// numbers read as numbers (model_2 before model_10, _pred_2 before _pred_10).
const MODEL_NAME = /^model_\d/;
const naturally = new Intl.Collator('en', {numeric: true}).compare;

/** The object's entries, in the models' order when every key names a model, else as they come. */
function entriesOf(object) {
  const entries = Object.entries(object);
  return entries.length > 1 && entries.every(([key]) => MODEL_NAME.test(key))
    ? entries.sort(([a], [b]) => naturally(a, b)) : entries;
}

function show(value) {
  if (Array.isArray(value)) return value.length ? value.map(show).join(', ') : 'none';
  if (typeof value === 'number') return String(+value.toFixed(4));
  if (value && typeof value === 'object') return entriesOf(value).map(([k, v]) => `${label(k)}: ${show(v)}`).join(' · ') || 'none';
  // An empty text is "none" as an empty list is (DiffDock's `altloc_kept` with no altlocs: a row with no value);
  // a null is a value the model did not know.
  if (value === '') return 'none';
  if (value === null || value === undefined) return 'not known';
  return String(value);
}

// Lengths in Å: DiffDock's receptor centre and a pocket's centre and radius ("Center -11.387, -12.031, 1.937" said
// no unit). A no-break space keeps the unit on the number's line.
const IN_ANGSTROM = new Set(['center', 'centre', 'radius']);

function showWithUnit(key, value) {
  const said = show(value);
  const numeric = typeof value === 'number' || (Array.isArray(value) && value.length && value.every((v) => typeof v === 'number'));
  return IN_ANGSTROM.has(key) && numeric ? `${said}\u00a0Å` : said;
}

// A value naming another job ("job:<uuid>", DiffDock's `protein_source` when the receptor was a job's structure): a link
// to that job, its short id as the text, as the Input card's receptor is ("Protein source job:3db1a163-...-..." was
// raw). Not on a share link's page (/shared/<token>): its visitor has no account there, the job's page is not theirs.
const JOB_REFERENCE = /^job:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

function valueNode(key, value) {
  // Warnings one per line: joined with commas, a warning's own commas hid where the next one began.
  if (key === 'warnings' && Array.isArray(value) && value.length) {
    return h('ul', {class: 'warnings'}, value.map((w) => h('li', {}, withCode(String(w)))));
  }
  const referenced = typeof value === 'string' ? JOB_REFERENCE.exec(value) : null;
  if (!referenced) return showWithUnit(key, value);
  const id = referenced[1];
  const text = shortId(id);
  if (location.pathname.startsWith('/shared/')) return `job ${text}`;
  const link = h('a', {href: `/jobs/${encodeURIComponent(id)}`, class: 'mono', title: id, 'data-job-ref': id}, text);
  // Deleted since: its id without a link (the link led to "Job not found"), as the Input card says it.
  jobGone(id).then((deleted) => {
    if (deleted) link.replaceWith(h('span', {class: 'mono', title: id, 'data-job-gone': id}, text), ' (deleted since)');
  });
  return ['job ', link];
}

const isObject = (v) => Boolean(v) && typeof v === 'object' && !Array.isArray(v);

// An empty object is a scalar "none", not a heading with nothing under it (e.g. a receptor with no renamed chains).
const isGroup = (v) => v && typeof v === 'object'
  && (Array.isArray(v) ? v.some((x) => x && typeof x === 'object') : Object.keys(v).length > 0);

// A list whose every item is an object with keys: a table. (A list mixing objects and scalars keeps numbered groups.)
const isTable = (v) => Array.isArray(v) && v.length > 0 && v.every((x) => isObject(x) && Object.keys(x).length > 0);

// Words of a key that are names or symbols, as a scientist writes them ("sha256" read "Sha256", "residues without
// ca" a lower-case ca for the Cα atom).
const WORDS = {sha256: 'SHA-256', ca: 'Cα', pdb: 'PDB', pdbqt: 'PDBQT', esm: 'ESM', msa: 'MSA', rmsd: 'RMSD', nan: 'NaN',
  pae: 'PAE', ptm: 'pTM', iptm: 'ipTM', plddt: 'pLDDT', gpu: 'GPU', cpu: 'CPU', smiles: 'SMILES', mmcif: 'mmCIF'};

// Keys named after the machinery, in a scientist's words ("Model instance" is the server's word for a loaded copy).
const LABELS = {model_instance: 'model loading'};

function label(key) {
  if (LABELS[key]) return LABELS[key];
  // A key in seconds says so as a unit ("load_s" read "Load s").
  const seconds = key.endsWith('_s');
  const words = key.replace(/_s$/, '').split('_').map((word) => WORDS[word] || word).join(' ');
  return seconds ? `${words} (s)` : words;
}

const valueClass = (key) => (/sha256|hash/.test(key) ? 'mono small' : '');

// A value that reads as a mistake beside another, explained after it: DiffDock runs one step fewer than the
// `inference_steps` asked for ("Steps run 9" beside "Inference steps 10" with no word why). The noise-free end is run:
// the last step taken jumps to t = 0 (docs/diffdock.md); "the last, noise-free step is not run" said the opposite.
const NOTES = {steps_run: 'one fewer than the inference steps asked for, as in DiffDock: the last one run is noise-free and jumps to t = 0',
  // The model instance's one-time load: it was a job stage ("model load"), paid by no job.
  load_s: 'once, when the model server loaded the model; no job waits for it'};

function noted(key, node) {
  return NOTES[key] ? [node, h('span', {class: 'muted small', 'data-note': key}, ` (${NOTES[key]})`)] : node;
}

/** One row per item, one column per key (in the order the items first name them); a key an item lacks shows
 * a dash. On a phone the table stacks: each cell under its column's name (`.table.stacked`). */
function itemsTable(key, items) {
  const columns = [...new Set(items.flatMap((item) => Object.keys(item)))];
  return h('div', {class: 'table-scroll'}, h('table', {class: 'table stacked items', 'data-items': key},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {scope: 'col'}, label(c))))),
    // A hash's mono type on its own span: the cell's label on a phone (td::before) keeps the page's type.
    h('tbody', {}, items.map((item) => h('tr', {}, columns.map((c) => h('td', {'data-label': label(c)},
      c in item ? h('span', {class: valueClass(c)}, valueNode(c, item[c])) : h('span', {class: 'muted'}, '—'))))))));
}

/** Scalars as key/value rows; nested objects (weights, sampling...) each under their own heading; lists of
 * objects (chains, per-model weights) as a table under theirs. */
export function kvRows(object, depth = 0) {
  // Lists mixing objects with scalars become numbered groups.
  const entries = entriesOf(object).flatMap(([k, v]) => (Array.isArray(v) && isGroup(v) && !isTable(v)
    ? v.map((item, i) => [v.length > 1 ? `${k} ${i + 1}` : k, item]) : [[k, v]]));
  const scalars = entries.filter(([, v]) => !isGroup(v));
  const groups = entries.filter(([, v]) => isGroup(v));
  return [
    scalars.length ? h('dl', {class: 'kv'}, scalars.map(([k, v]) =>
      [h('dt', {}, label(k)), h('dd', {class: valueClass(k)}, noted(k, valueNode(k, v)))])) : null,
    groups.map(([k, v]) => h('div', {class: 'kv-group', 'data-group': k},
      h(depth ? 'h4' : 'h3', {}, label(k)),
      // Deeper than two levels: the value in one line under its heading. A <div>, not a <dd> outside any <dl> (a
      // screen reader announced a definition with no list and no term; axe's dlitem rule).
      isTable(v) ? itemsTable(k, v) : depth < 2 ? kvRows(v, depth + 1) : h('div', {class: 'kv-deep'}, show(v)))),
  ];
}

function elapsed(job) {
  const s = (Date.parse(job.updated_at) - Date.parse(job.created_at)) / 1000;
  return s < 1 ? 'within a second of submission' : `${duration(job.created_at, job.updated_at)} after submission`;
}

export function provenance(job) {
  const meta = {...(job.metadata || {})};
  // DiffDock jobs stored before its stages moved into `timings` keep them under `timings_s`: show both.
  const timings = {...(meta.timings_s || {}), ...(meta.timings || {})};
  delete meta.timings;
  delete meta.timings_s;
  return h('div', {class: 'card', id: 'provenance'},
    h('div', {class: 'card-head'}, h('h2', {}, 'Provenance'), h('span', {class: 'hint'}, 'Weights, settings and timings that produced this result')),
    h('div', {class: 'card-body'},
      h('dl', {class: 'kv'},
        h('dt', {}, 'Job id'), h('dd', {class: 'mono'}, job.job_id),
        h('dt', {}, 'Submitted'), h('dd', {}, dateTime(job.created_at)),
        h('dt', {}, 'Finished'), h('dd', {}, `${dateTime(job.updated_at)} (${elapsed(job)})`)),
      kvRows(meta),
      Object.keys(timings).length ? h('div', {class: 'kv-group'}, h('h3', {}, 'Timings'),
        h('dl', {class: 'kv', id: 'timings'}, timingRows(timings))) : null));
}

// Timing stages named after the machinery, in words a scientist reads (the key stays in the tooltip).
const TIMING_NAMES = {queued: 'waiting to start', triton_call: 'on the model server', store: 'saving the results',
  service_total: 'total, start to results saved',
  // ESMFold's result files (PDB, mmCIF, plots) are written by worker processes: "files" and "files wait" said neither.
  files: 'writing the result files', files_wait: 'waiting for a file writer',
  // DiffDock's own whole, beside the service's: two rows read "Total" and "Total, start to results saved".
  total: 'total in the model',
  // AlphaFold2: XLA's compiling is inside its models' seconds (0 once compiled); the setup a process's first job pays.
  compile: 'of which compiling (XLA)', model_setup: 'setting up the model (a model server\'s first job)'};

// The service's stages around the model's, in the order a job lives them: waiting, the call to the model server
// (the model's own stages, as it lists them, come next), saving the results, the whole. The stored order is the
// order the service and the model happened to write them ("model load", "total", "waiting to start", ...).
const TIMING_RANK = {queued: 0, triton_call: 1, store: 3, service_total: 4};
const timingRank = (key) => TIMING_RANK[key.replace(/_s$/, '')] ?? 2;

function timingRows(timings, prefix = '') {
  const ordered = entriesOf(timings).sort(([a], [b]) => timingRank(a) - timingRank(b)); // stable: ties keep theirs
  return ordered.flatMap(([k, v]) => {
    const stage = k.replace(/_s$/, ''); // every row is in seconds: its value says so
    const name = `${prefix}${TIMING_NAMES[stage] || label(stage)}`;
    if (v && typeof v === 'object') return timingRows(v, `${name} · `);
    return [[h('dt', {title: k}, name), h('dd', {}, typeof v === 'number' ? `${v.toFixed(v < 10 ? 3 : 1)} s` : String(v))]];
  });
}
