// Submit: one form per model with the documented params and limits. The browser does not second-
// guess the API: the form is sent as is and the API's own 400 message is shown beside its field.
// Several FASTA records in the sequence box are one job each (POST /v1/batch, ten at a time).

import {api, structureJob, structureJobs} from '../api.js';
import {pageHeader} from '../app.js';
import {busy, clearError, field as labelled, fieldError, fieldGroup, h, replace, showError, toast, withCode} from '../dom.js';
import {MAX_RECORDS, fastaRecords, fastaText, recordNames} from '../fasta.js';
import {jobChoiceLabel, num, shortId} from '../format.js';
import {ligandFileKind, ligandNames, ligandRecords, ligandText} from '../ligands.js';

export const title = 'New job';

const EXAMPLE_SEQUENCE = 'MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ';
const EXAMPLE_LIGAND = 'CC(=O)Oc1ccccc1C(=O)O'; // aspirin

// Field definitions: [key, label, kind, options]. `param: true` fields go into `params`.
const FORMS = {
  esmfold: {
    blurb: 'Single-sequence structure prediction: fast, no MSA.',
    fields: [
      ['sequence', 'Protein sequence', 'sequence', {help: 'One-letter amino-acid codes (X for unknown); whitespace is ignored. The first word of a FASTA header (its id) names the job, after the name when one is given; several FASTA records are one job each.'}],
      ['num_recycles', 'Recycles', 'int', {param: true, min: 1, max: 24, placeholder: '4', help: '1–24, default 4. More recycles can help, and take longer.'}],
      ['chunk_size', 'Chunk size', 'int', {param: true, min: 0, max: 4096, placeholder: '128', help: '0–4096 residues, default 128. Lower it if the server runs out of memory.'}],
      ['relax', 'Amber relax', 'select', {param: true, choices: ['none', 'best'], labels: {none: 'No', best: 'Yes: relax the structure'}, help: 'Removes clashes; the relaxed PDB/mmCIF come next to the unrelaxed ones. Takes seconds to minutes.'}],
    ],
  },
  alphafold2: {
    blurb: 'Structure prediction with an MSA (search, your own A3M, or single sequence).',
    fields: [
      ['sequence', 'Protein sequence', 'sequence', {help: 'One-letter amino-acid codes; the query of the MSA. A complex: its chains separated by colons (MKT…:GSH…). Several FASTA records are one job each.'}],
      // Server default first: the API picks monomer for one chain and multimer for a complex, so a complex pasted
      // into the box runs without a choice made (the list held only monomer presets, and a complex was refused).
      ['model_preset', 'Model preset', 'select', {param: true, choices: ['', 'monomer', 'monomer_ptm', 'monomer_casp14', 'multimer'],
        labels: {'': 'Server default (monomer; multimer for a complex)', multimer: 'multimer (AlphaFold-Multimer v3)'},
        help: 'monomer_ptm adds pTM and the PAE map; multimer is the only preset for a complex (pTM, ipTM, PAE).'}],
      ['msa_mode', 'MSA', 'select', {param: true, choices: ['', 'single_sequence', 'a3m', 'search'], labels: {'': 'Server default', single_sequence: 'Single sequence', a3m: 'Upload an A3M', search: 'Search the server’s databases'}, help: 'Default: search when the server has sequence databases, else single sequence.'}],
      ['a3m', 'A3M file', 'file', {param: true, accept: '.a3m,.txt', help: 'Your own alignment (MSA “Upload an A3M”, or the default); its first record must be the query.'}],
      ['max_msa_seqs', 'Max MSA sequences', 'int', {param: true, min: 1, max: 10000, placeholder: '512', help: '1–10000, default 512 (multimer 508).'}],
      ['num_recycles', 'Recycles', 'int', {param: true, min: 0, max: 24, placeholder: '3', help: '0–24, default 3 (multimer 20, stopping early once the structure settles).'}],
      ['num_models', 'Models', 'int', {param: true, min: 1, max: 5, placeholder: '1', help: '1–5, ranked by mean pLDDT (a complex by 0.8·ipTM + 0.2·pTM).'}],
      ['random_seed', 'Random seed', 'int', {param: true, min: 0, max: 2147483647, placeholder: '0'}],
      ['use_templates', 'Use templates', 'bool', {param: true, help: 'Needs a template database on the server.'}],
      ['relax', 'Amber relax', 'select', {param: true, choices: ['none', 'best', 'all'], labels: {none: 'No', best: 'Rank 1 only', all: 'Every model'}, help: 'Removes clashes; relaxed files come next to the unrelaxed ones.'}],
    ],
  },
  diffdock: {
    blurb: 'Dock a small molecule into a protein: ranked poses with confidence.',
    fields: [
      // Words as the placeholder, as the sequence box's: a grey SMILES in the box read as a ligand already given, and
      // Submit then answered "DiffDock needs a ligand" under it. The example is a click away instead.
      // Several lines (a .smi file's) are one job each, as the sequence box's FASTA records are: the box took one line,
      // and two pasted SMILES were folded into one and refused as "a SMILES followed by more text".
      ['ligand_smiles', 'Ligand (SMILES)', 'ligand', {param: true, placeholder: 'Paste SMILES, one per line',
        example: EXAMPLE_LIGAND, help: 'One molecule per line, optionally followed by its name (as in a .smi file); several lines are one job each.'}],
      ['protein_pdb', 'Receptor', 'receptor', {param: true}],
      ['inference_steps', 'Diffusion steps', 'int', {param: true, min: 10, max: 40, placeholder: '20', help: '10–40, default 20.'}],
      ['samples_per_complex', 'Poses', 'int', {param: true, min: 1, max: 40, placeholder: '10', help: 'Poses generated and ranked, default 10.'}],
      // `fresh`: Run again leaves it empty (new sampling), the earlier run's seed a click away (seedNote).
      ['random_seed', 'Random seed', 'int', {param: true, min: 0, max: 4294967295, placeholder: 'random', fresh: true,
        help: 'Fix it to reproduce a run; empty, a new one is drawn.'}],
      ['pocket', 'Pocket (optional)', 'pocket', {param: true, help: 'Blind docking when empty. Residue ids such as A:45,A:48 (A#2:45: the file’s second chain A; :45 in a file without chain ids), or a centre x, y, z in Å (the PDB’s frame); radius 3–30 Å (default: 10 for a centre, from the residues’ spread otherwise).'}],
    ],
  },
};

const CENTRE = /^\s*(-?\d+(?:\.\d*)?)\s*[,\s]\s*(-?\d+(?:\.\d*)?)\s*[,\s]\s*(-?\d+(?:\.\d*)?)\s*$/;

/** The pocket text + radius as `params.pocket` (three numbers: a centre; anything else: residue ids). */
function pocketValue(text, radius) {
  if (!text.trim() && radius === '') return undefined;
  const centre = text.match(CENTRE);
  const pocket = centre ? {center: centre.slice(1, 4).map(Number)} : {residues: text.trim()};
  if (radius !== '') pocket.radius = Number(radius);
  return pocket;
}

const ATOM_RECORD = /^(ATOM  |HETATM)/m;

/** What the form says itself, before a request: `title` and `message` as the API's errors have them. */
class FormError extends Error {
  constructor(title, message, field) {
    super(message);
    this.title = title;
    this.field = field; // the field it is about (`inputs`' key)
  }
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsText(file);
  });
}

/** Which field an API message is about ("params.num_recycles must be…", "sequence contains…"). */
function fieldOf(message, model) {
  const param = message.match(/params\.(\w+)/);
  if (param) return param[1];
  if (/^name\b/.test(message)) return 'name';
  if (model === 'diffdock') {
    if (/ligand|SMILES|molecule/i.test(message)) return 'ligand_smiles';
    if (/receptor|protein/i.test(message)) return 'protein_pdb';
  }
  if (/sequence/i.test(message)) return 'sequence';
  if (/a3m|MSA/i.test(message)) return 'a3m';
  return null;
}

/** The API's message in the form's words: "params.num_recycles must be…" → "“Recycles” must be…"; a field named
 * bare with a choice ('when msa_mode is "a3m"') → 'when “MSA” is “Upload an A3M”'. */
export function inFormWords(message, spec) {
  const labels = Object.fromEntries(spec.fields.map(([key, label]) => [key, label]));
  const choices = Object.fromEntries(spec.fields.map(([key, , , opts]) => [key, opts?.labels || {}]));
  const said = message.replace(/params\.(\w+)/g, (whole, key) => (labels[key] ? `“${labels[key]}”` : whole))
    // Only names with an underscore, which are no English word ("sequence" is both, and reads as it is).
    .replace(/\b([a-z][a-z0-9]*_[a-z0-9_]+)( is "([^"]*)")?/g, (whole, key, is, value) => {
      if (!labels[key]) return whole;
      const choice = is ? ` is ${choices[key][value] ? `“${choices[key][value]}”` : `"${value}"`}` : '';
      return `“${labels[key]}”${choice}`;
    });
  // The API's other way to give DiffDock its ligand (the request's `sequence`) is no box of this form.
  return labels.sequence ? said : said.replace(/\s*\(or put the SMILES in sequence\)/, '');
}

/** The notice under the form when the account's balance (as read when the page opened: `balance`, null when unknown)
 * is below what Submit would cost (`total` credits for `jobs` jobs): the API refuses it (402) only after the click,
 * while the button offered "Submit · 10 credits" beside a sidebar saying 0. The button stays usable (credits may have
 * been added since) and is described by the notice. Empty when the balance covers it. */
function balanceShortWords(balance, total, jobs) {
  if (balance === null || total === undefined || balance >= total) return null;
  const what = jobs > 1 ? `These ${num(jobs)} jobs cost ${num(total)} credits` : `This job costs ${num(total)} credits`;
  return [h('strong', {}, 'Not enough credits'),
    `${what} and your balance is ${num(balance)}: the server will refuse ${jobs > 1 ? 'them' : 'it'} unless credits are added. `
    + 'Ask the server’s operator for more (an account cannot add its own).'];
}

async function buildForm(model, {query, models, earlier, earlierJob, balance = null}) {
  const spec = FORMS[model];
  const inputs = {};
  const setters = {};  // key -> fills the field with a value from an earlier job's request ("Run again")
  const errors = {};
  const formError = h('div', {class: 'notice bad form-error', role: 'alert', hidden: true, id: 'form-error'});
  const fileText = {};

  function field(key, label, input, help) {
    errors[key] = fieldError(`error-${key}`);
    return labelled(label, input, {help, error: errors[key]});
  }

  async function receptorField(key) {
    const jobs = await structureJobs();
    const wanted = query.get('receptor');
    // "Run again" of a job docked into an earlier job's structure (metadata.protein_source "job:<id>"): that job is
    // chosen again, not its PDB text as an anonymous upload (the new job's provenance lost the link to the fold).
    const source = String(earlierJob?.metadata?.protein_source || '');
    const rerunOf = source.startsWith('job:') ? source.slice(4) : null;
    // The job a link or Run again names, looked up on its own when the list (the newest 100 of each model) lacks it:
    // an older fold was said to be "not available" and the newest one was chosen in its place.
    const lookUp = async (id) => {
      const listed = jobs.find((j) => j.job_id === id);
      if (listed) return {job: listed};
      const found = await structureJob(id);
      if (found.job) jobs.push(found.job);
      return found;
    };
    const [linked, rerun] = await Promise.all([wanted ? lookUp(wanted) : null, rerunOf && !wanted ? lookUp(rerunOf) : null]);
    jobs.sort((a, b) => b.created_at.localeCompare(a.created_at));
    const upload = h('input', {type: 'file', id: `f-${key}-file`, accept: '.pdb,.ent,.txt', 'aria-label': 'PDB file', on: {change: () => {
      fileText[key] = upload.files[0] ? readFile(upload.files[0]) : undefined; // a promise: Submit waits for it
      if (upload.files[0]) { fromFile.checked = true; sync(); }
    }}});
    // No structure is chosen for the person: a SMILES typed and submitted docked into the newest fold, one they never
    // picked. The list starts on "Choose a structure" unless a link or Run again names one.
    const select = h('select', {id: `f-${key}-job`, 'aria-label': 'Earlier job', on: {change: () => {
      if (select.value) { fromJob.checked = true; sync(); }
    }}}, jobs.length
      ? [h('option', {value: ''}, 'Choose a structure…'), jobs.map((j) => h('option', {value: j.job_id}, jobChoiceLabel(j)))]
      : h('option', {value: ''}, 'No completed ESMFold or AlphaFold2 job yet'));
    const chosen = linked?.job || rerun?.job || null;
    if (chosen) select.value = chosen.job_id;
    // A "Dock this" link to a job since deleted (or not this account's, or not a finished structure): nothing is
    // chosen in its place (another protein was, silently), and the field says why.
    const missing = Boolean(wanted) && !linked.job;
    // The address no longer names it either: it was kept, and a reload or a copied link said the same again.
    if (missing) { query.delete('receptor'); history.replaceState(null, '', `/submit?model=${model}`); }
    const missingNote = missing ? h('div', {class: 'help', id: `f-${key}-missing`, role: 'status'},
      `The job in the link (${shortId(wanted)}) is not available: ${linked.why}. `
      + (jobs.length ? 'Choose a structure or upload a PDB file.' : 'Upload a PDB file.')) : null;
    const fromJob = h('input', {type: 'radio', name: 'receptor-source', value: 'job', id: 'receptor-from-job', checked: Boolean(chosen)});
    // No structure to choose from: the upload is the only way, so it is the one chosen.
    const fromFile = h('input', {type: 'radio', name: 'receptor-source', value: 'file', id: 'receptor-from-file', checked: !jobs.length});
    // Neither chosen yet: both controls open, and using one chooses it.
    const sync = () => { select.disabled = fromFile.checked; upload.disabled = fromJob.checked; };
    fromJob.addEventListener('change', sync); fromFile.addEventListener('change', sync); sync();
    setters[key] = (pdb) => {
      if (rerun?.job) return; // the earlier job's structure job is chosen above: its PDB text is that job's
      fileText[key] = pdb; fromFile.checked = true; fromJob.checked = false; sync(); kept(upload);
    };
    // `el` (the control an error marks and focuses) follows the radio chosen at submission, not at build time.
    inputs[key] = {value: async () => {
      if (fromJob.checked) {
        if (!select.value) throw new FormError('No receptor chosen', 'Choose the structure to dock into from the list, or upload a PDB file.', key);
        return select.value;
      }
      if (!fromFile.checked) throw new FormError('No receptor chosen', 'Choose the receptor: a structure from an earlier job, or a PDB file to upload.', key);
      const text = await fileText[key];
      const file = upload.files[0];
      // Nothing uploaded (a new account's first visit, where the upload is the choice made for it): the API's
      // refusal spoke of setting "Receptor" to PDB text or a job_id, neither of which this form has.
      if (text === undefined && !file) {
        throw new FormError('No receptor chosen', jobs.length
          ? 'Upload the receptor’s PDB file, or choose a structure from an earlier job.'
          : 'Upload the receptor’s PDB file, or fold the protein first (New job, ESMFold) and dock into its structure.', key);
      }
      // A file with no atom records (a text file, a ligand's SDF, an mmCIF) is said by its name here: the API's
      // refusal speaks to API callers ("PDB file content or the job_id of a completed job; file paths and URLs
      // are not accepted"), which read as nonsense beside a file the person had just chosen.
      if (file && text !== undefined && !ATOM_RECORD.test(text)) {
        throw new FormError('Not a PDB file', `${file.name} has no ATOM or HETATM records: choose the receptor's PDB file (mmCIF, SDF and other formats cannot be read here).`, key);
      }
      return text;
    }, get el() { return fromFile.checked ? upload : fromJob.checked || jobs.length ? select : upload; }};
    errors[key] = fieldError(`error-${key}`);
    return fieldGroup('Receptor', h('div', {class: 'fields'},
      h('div', {}, h('label', {class: 'check'}, fromJob, 'A structure from an earlier job (fold, then dock)'), h('div', {style: {marginTop: '6px'}}, select), missingNote),
      h('div', {}, h('label', {class: 'check'}, fromFile, 'Upload a PDB file'), h('div', {style: {marginTop: '6px'}}, upload))),
    {id: `f-${key}`, help: 'Protein atoms of the first model are used; waters and hydrogens are dropped.', error: errors[key]});
  }

  // A file box whose text comes from the earlier job: said beside it; choosing a file replaces the text.
  function kept(box) {
    const note = h('div', {class: 'help kept-file'}, 'The earlier job’s file is kept; choose a file to replace it.');
    box.after(note);
    box.addEventListener('change', () => note.remove(), {once: true});
  }
  // "Run again" of a docking job: its seed was filled in, and a re-run without a thought gave byte-identical poses for
  // another 30 credits. The stored request does not say whether the seed was the person's or drawn by the server (it
  // keeps the one used either way), so the box starts empty: new sampling, what running again is for. The earlier
  // seed is a click away, to reproduce the run.
  function seedNote(row, box, seed) {
    const note = h('div', {class: 'help', id: `${box.id}-earlier`});
    box.setAttribute('aria-describedby', [box.getAttribute('aria-describedby'), note.id].filter(Boolean).join(' '));
    const say = () => {
      if (box.value === String(seed)) {
        replace(note, `Seed ${seed} from the earlier run: the same poses again. Clear it for new sampling.`);
        return;
      }
      replace(note, `The earlier run used seed ${seed}; left empty, a new one is drawn (new poses). `,
        h('button', {class: 'btn link small', type: 'button', id: 'use-earlier-seed', on: {click: () => {
          box.value = String(seed);
          say();
          box.focus();
        }}}, `Use seed ${seed} to reproduce it`));
    };
    box.addEventListener('input', say);
    say();
    row.querySelector('.error').before(note);
  }

  let ligandBox = null; // DiffDock's SMILES box, whose lines may be several jobs
  const ligandCount = h('div', {class: 'help', id: 'ligand-count', 'aria-live': 'polite', hidden: true});

  /** The SMILES box: one line per ligand, a .smi or .txt file loadable into it, and a structure file (MOL/SDF,
   * MOL2) said to be one, with the ways to SMILES, as soon as it is pasted or chosen. */
  function ligandField(key, label, opt) {
    const box = h('textarea', {id: `f-${key}`, rows: 3, class: 'ligand-box', placeholder: opt.placeholder, spellcheck: 'false'});
    ligandBox = box;
    const format = h('div', {class: 'notice warn', id: `f-${key}-format`, role: 'status', hidden: true});
    const sayFormat = (kind, fileName) => {
      format.hidden = !kind;
      if (!kind) { replace(format); return; }
      const file = fileName || (kind === 'MOL2' ? 'ligand.mol2' : 'ligands.sdf');
      replace(format, h('div', {},
        h('strong', {}, `${fileName ? `${fileName} is a ${kind} file` : `This is a ${kind} file, not SMILES`}: the dashboard docks SMILES`),
        'Convert it to SMILES (one per line) with Open Babel, ', h('code', {}, `obabel ${file} -osmi`),
        ', or RDKit’s ', h('code', {}, 'Chem.MolToSmiles(mol)'), '. ',
        kind === 'MOL2' ? 'The command line reads .smi, .csv and .sdf files.'
          : ['Or dock every record of the file from the command line: ', h('code', {}, `phonos dock --ligands ${file}`), '.']));
    };
    const load = h('input', {type: 'file', id: `f-${key}-file`, accept: '.smi,.smiles,.txt,.sdf,.sd,.mol,.mol2', on: {change: async () => {
      const file = load.files[0];
      if (!file) return;
      let text;
      try { text = await readFile(file); } catch (err) {
        showErrors({error: 'Could not read the file', message: String(err?.message || err), field: key});
        return;
      }
      const kind = ligandFileKind(text);
      sayFormat(kind, file.name);
      if (kind) return; // the box keeps what it had: a structure file in it would only be refused
      box.value = text.trim();
      recount();
    }}});
    box.addEventListener('input', () => { sayFormat(ligandFileKind(box.value)); recount(); });
    inputs[key] = {value: () => {
      const kind = ligandFileKind(box.value);
      if (kind) {
        throw new FormError(`Not SMILES: a ${kind} file`, `The dashboard docks SMILES, one per line: convert the file with \`obabel FILE -osmi\` `
          + 'or RDKit’s MolToSmiles, or dock an SDF’s every record with `phonos dock --ligands FILE.sdf`.', key);
      }
      return ligandRecords(box.value)[0]?.smiles; // one line: its SMILES (its name names the job); several: a batch
    }, el: box};
    setters[key] = (v) => { box.value = String(v); recount(); };
    errors[key] = fieldError(`error-${key}`);
    return labelled(label, box, {help: [opt.help, ' ', h('button', {class: 'btn link small', type: 'button', id: 'use-example',
      on: {click: () => { box.value = opt.example; sayFormat(null); recount(); box.focus(); }}}, 'Use an example')],
    error: errors[key], body: h('div', {}, box, ligandCount, format,
      h('div', {class: 'row ligand-load'}, h('label', {class: 'small', for: load.id}, 'Or load a SMILES file (.smi, .txt):'), load))});
  }

  const rows = [];
  const rowOf = {};  // a field's row by its key, for fields shown only with another field's choice
  const name = h('input', {type: 'text', id: 'f-name', maxlength: 400, placeholder: 'e.g. Lysozyme, run 3'});
  inputs.name = {value: () => name.value.trim() || undefined, el: name};
  rows.push(field('name', 'Job name', name, 'Optional, up to 200 characters; shown in the jobs table.'));
  const numbers = [];
  const cost = models.find((m) => m.id === model)?.cost_credits;
  const submit = h('button', {class: 'btn primary', type: 'submit', id: 'submit-job'}, `Submit · ${cost ?? '?'} credits`);
  const short = h('div', {class: 'notice warn', id: 'balance-short', role: 'status', hidden: true, style: {marginTop: '20px'}});
  /** The balance notice for `jobs` jobs, the Submit button described by it while it shows. */
  function sayBalance(jobs) {
    const words = jobs ? balanceShortWords(balance, cost === undefined ? undefined : cost * jobs, jobs) : null;
    short.hidden = !words;
    replace(short, words ? h('div', {}, words) : null);
    if (words) submit.setAttribute('aria-describedby', short.id);
    else submit.removeAttribute('aria-describedby');
  }
  sayBalance(1);
  let sequenceBox = null; // the sequence textarea, whose FASTA records may be several jobs
  const recordCount = h('div', {class: 'help', id: 'sequence-count', 'aria-live': 'polite', hidden: true});
  for (const [key, label, kind, opt] of spec.fields) {
    let input;
    if (kind === 'sequence') {
      // Not a sequence as the placeholder: grey letters in the box read as a sequence already there.
      input = h('textarea', {id: `f-${key}`, rows: 5, placeholder: 'Paste one-letter amino-acid codes or a FASTA record', spellcheck: 'false'});
      inputs[key] = {value: () => fastaRecords(input.value).map((r) => r.sequence).join(''), el: input}; // FASTA header(s) left out
      const area = input;
      sequenceBox = area;
      setters[key] = (v) => { area.value = v; recount(); };
      const box = input;
      rows.push(field(key, label, input, [opt.help, ' ', h('button', {class: 'btn link small', type: 'button', id: 'use-example',
        on: {click: () => { box.value = EXAMPLE_SEQUENCE; recount(); box.focus(); }}}, 'Use an example')]));
      area.after(recordCount);
      area.addEventListener('input', () => recount());
      continue;
    } else if (kind === 'text') {
      input = h('input', {type: 'text', id: `f-${key}`, placeholder: opt.placeholder || '', spellcheck: 'false'});
      inputs[key] = {value: () => input.value.trim() || undefined, el: input};
      const box = input;
      setters[key] = (v) => { box.value = String(v); };
      if (opt.example) {
        // The same "Use an example" as the sequence box's: every model's form can be tried without a file at hand.
        rows.push(field(key, label, input, [opt.help, ' ', h('button', {class: 'btn link small', type: 'button', id: 'use-example',
          on: {click: () => { box.value = opt.example; box.focus(); }}}, 'Use an example')]));
        continue;
      }
    } else if (kind === 'int') {
      input = h('input', {type: 'number', id: `f-${key}`, min: opt.min, max: opt.max, step: 1, placeholder: opt.placeholder || ''});
      inputs[key] = {value: () => (input.value === '' ? undefined : Number(input.value)), el: input};
      const box = input;
      const row = field(key, label, input, opt.help);
      setters[key] = opt.fresh ? (v) => seedNote(row, box, v) : (v) => { box.value = String(v); };
      numbers.push(row);
      continue;
    } else if (kind === 'ligand') {
      rows.push(ligandField(key, label, opt));
      continue;
    } else if (kind === 'select') {
      input = h('select', {id: `f-${key}`}, opt.choices.map((c) => h('option', {value: c}, (opt.labels && opt.labels[c]) || c)));
      inputs[key] = {value: () => input.value || undefined, el: input};
      const box = input;
      setters[key] = (v) => { if (opt.choices.includes(v)) box.value = v; };
    } else if (kind === 'bool') {
      input = h('select', {id: `f-${key}`}, h('option', {value: ''}, 'Server default'), h('option', {value: 'true'}, 'Yes'), h('option', {value: 'false'}, 'No'));
      inputs[key] = {value: () => (input.value === '' ? undefined : input.value === 'true'), el: input};
      const box = input;
      setters[key] = (v) => { box.value = v ? 'true' : 'false'; };
    } else if (kind === 'file') {
      input = h('input', {type: 'file', id: `f-${key}`, accept: opt.accept, on: {change: () => {
        fileText[key] = input.files[0] ? readFile(input.files[0]) : undefined; // a promise: Submit waits for it
      }}});
      inputs[key] = {value: () => fileText[key], el: input};
      const box = input;
      setters[key] = (v) => { fileText[key] = v; kept(box); };
    } else if (kind === 'pocket') {
      // Residues or a centre's coordinates (the help below gives both in full): an example centre with its numbers,
      // 32 characters, was cut after "12.5, -3" in a phone's box, beside the radius.
      const text = h('input', {type: 'text', id: `f-${key}`, placeholder: 'A:45,A:48  or  x, y, z', spellcheck: 'false'});
      const radius = h('input', {type: 'number', id: `f-${key}-radius`, min: 3, max: 30, step: 'any', placeholder: 'radius Å',
        'aria-label': 'Pocket radius (Å)', 'aria-describedby': `f-${key}-help`});
      inputs[key] = {value: () => pocketValue(text.value, radius.value), el: text};
      setters[key] = (v) => {
        text.value = v.center ? v.center.join(', ') : String(v.residues || '');
        if (v.radius !== undefined) radius.value = String(v.radius);
      };
      errors[key] = fieldError(`error-${key}`);
      rows.push(labelled(label, text, {help: opt.help, error: errors[key], body: h('div', {class: 'row pocket-row'}, text, radius)}));
      continue;
    } else if (kind === 'receptor') {
      rows.push(await receptorField(key));
      continue;
    }
    rowOf[key] = field(key, label, input, opt.help);
    rows.push(rowOf[key]);
  }
  if (earlier) {
    // "Run again": every field the earlier request set, its files kept until another is chosen.
    name.value = earlier.name || '';
    if (setters.sequence && earlier.sequence) setters.sequence(earlier.sequence);
    for (const [key, value] of Object.entries(earlier.params || {})) {
      if (value !== null && value !== undefined && setters[key]) setters[key](value);
    }
  }
  if (rowOf.a3m && inputs.msa_mode) {
    // The server reads an A3M with MSA "Upload an A3M", or with the default (a file given means upload);
    // single sequence and search refuse one (a 400): the file box hides with them, and a file picked before
    // switching to them is not sent.
    const mode = inputs.msa_mode.el;
    const file = inputs.a3m.value;
    const takesA3m = () => mode.value === '' || mode.value === 'a3m';
    inputs.a3m.value = () => (takesA3m() ? file() : undefined);
    const sync = () => { rowOf.a3m.hidden = !takesA3m(); };
    mode.addEventListener('change', sync);
    sync();
  }

  /** The sequence box's record count (the SMILES box's lines) beside it, and the jobs and credits on the button. */
  function recount() {
    // A structure file in the SMILES box is no ligands at all (the notice under it says so): its lines were counted as
    // "10 SMILES lines: 10 jobs" on a "Submit 10 jobs" button beside the notice that it cannot be sent.
    const ligandLines = ligandBox && !ligandFileKind(ligandBox.value) ? ligandRecords(ligandBox.value).length : 1;
    const records = sequenceBox ? fastaRecords(sequenceBox.value).length : ligandLines;
    const many = records > 1;
    const count = sequenceBox ? recordCount : ligandCount;
    count.hidden = !many;
    // More records than the form sends: the button offers no submission it would refuse ("Submit 2000 jobs · 20000
    // credits" beside a box saying at most 100); a click still says why, beside the box.
    const over = records > MAX_RECORDS;
    count.textContent = !many ? '' : sequenceBox ? (over
      ? `${num(records)} FASTA records: the form submits at most ${MAX_RECORDS} at once (phonos fold FILE.fasta takes any number).`
      : `${num(records)} FASTA records: ${num(records)} jobs, each named by its FASTA id.`)
      : over ? `${num(records)} SMILES lines: the form submits at most ${MAX_RECORDS} at once (phonos dock --ligands FILE.smi takes any number).`
        : `${num(records)} SMILES lines: ${num(records)} jobs, each named by the name after its SMILES (ligand1, ligand2… where none is given).`;
    sayBalance(over ? 0 : records);
    submit.textContent = over ? `Too many ${sequenceBox ? 'records' : 'ligands'}: at most ${MAX_RECORDS}`
      : many ? `Submit ${num(records)} jobs · ${cost === undefined ? '?' : num(cost * records)} credits`
        : `Submit · ${cost ?? '?'} credits`;
  }

  function showErrors(err) {
    const shown = Object.values(errors);
    shown.forEach((e) => { e.hidden = true; });
    form.querySelectorAll('.invalid').forEach((el) => shown.forEach((e) => clearError(el, e))); // both receptor controls too
    formError.hidden = true;
    formError.classList.replace('warn', 'bad');
    const key = err.field || (err.status === 400 ? fieldOf(err.message, model) : null);
    if (key && errors[key]) {
      // A screen reader hears the message with the field it lands on (its description), not only a red border.
      const el = inputs[key]?.el;
      showError(el, errors[key], inFormWords(err.message, spec));
      el?.focus();
    } else {
      replace(formError, h('div', {}, h('strong', {}, err.error || 'Could not submit'), withCode(err.message)));
      formError.hidden = false;
      if (err.status === 402) short.hidden = true; // the server's refusal says it now, with the balance it read
    }
  }

  /** One job per FASTA record, ten to a batch (submitBatch). */
  async function submitRecords(body, records) {
    if (records.length > MAX_RECORDS) {
      showErrors({status: 400, error: 'Too many sequences',
        message: `${records.length} FASTA records: the form submits at most ${MAX_RECORDS} at once (phonos fold FILE.fasta takes any number)`});
      return;
    }
    const names = recordNames(body.name, records);
    const items = records.map((record, i) => ({model: body.model, sequence: record.sequence, name: names[i],
      params: body.params}));
    await submitBatch(body, items, 'sequences', (left) => { sequenceBox.value = fastaText(left.map((k) => records[k])); });
  }

  /** One docking job per SMILES line, as the FASTA records are: each line's SMILES with the form's receptor and
   * settings, named by the line's name. */
  async function submitLigands(body, ligands) {
    if (ligands.length > MAX_RECORDS) {
      showErrors({status: 400, error: 'Too many ligands', field: 'ligand_smiles',
        message: `${ligands.length} SMILES lines: the form submits at most ${MAX_RECORDS} at once (phonos dock --ligands FILE.smi takes any number)`});
      return;
    }
    const names = ligandNames(body.name, ligands);
    const items = ligands.map((ligand, i) => ({model: body.model, sequence: '', name: names[i],
      params: {...body.params, ligand_smiles: ligand.smiles}}));
    await submitBatch(body, items, 'ligands', (left) => { ligandBox.value = ligandText(left.map((k) => ligands[k])); });
  }

  /** `items` (jobs), ten to a batch. What was not submitted (refused by the API, or after a batch that was refused
   * whole) is put back in the box (`putBack`, with the items' indices) with the reasons, to fix and submit again. */
  async function submitBatch(body, items, what, putBack) {
    const left = []; // [index, why]
    let submitted = 0;
    let stopped = null; // a batch refused whole: it and the ones after it were not sent
    for (let start = 0; start < items.length && !stopped; start += 10) {
      try {
        const answer = await api.post('/v1/batch', {jobs: items.slice(start, start + 10)});
        for (const result of answer.results) {
          if (result.success) submitted += 1;
          else left.push([start + result.index, result.message || result.error]);
        }
      } catch (err) {
        stopped = err;
        for (let k = start; k < items.length; k += 1) left.push([k, null]);
      }
    }
    if (!left.length) {
      location.assign(body.name ? `/jobs?name=${encodeURIComponent(body.name)}` : '/jobs');
      return;
    }
    // The records go back as they were pasted, and the name stays: submitted again, they get the names they
    // were given (the form's name, then the record's id).
    putBack(left.map(([k]) => k));
    recount();
    const refused = left.filter(([, why]) => why);
    replace(formError, h('div', {},
      h('strong', {}, `Submitted ${submitted} of ${items.length} jobs`),
      submitted ? h('div', {}, h('a', {href: body.name ? `/jobs?name=${encodeURIComponent(body.name)}` : '/jobs'}, 'See them in Jobs')) : null,
      refused.length ? h('ul', {id: 'records-refused'}, refused.map(([k, why]) => h('li', {}, h('b', {}, items[k].name), ': ', withCode(inFormWords(why, spec))))) : null,
      stopped ? h('div', {id: 'records-stopped'}, `${left.length - refused.length} not sent: `, withCode(stopped.message)) : null,
      h('div', {}, `The ${what} not submitted are left in the box: fix them and submit again.`)));
    formError.classList.replace('bad', submitted ? 'warn' : 'bad'); // some went through: a warning, not a failure
    formError.hidden = false;
    formError.scrollIntoView({block: 'nearest'});
  }

  const form = h('form', {novalidate: true, id: `form-${model}`, on: {submit: async (event) => {
    event.preventDefault();
    const done = busy(submit); // back on the button after: it has the keyboard's focus if it was pressed
    const body = {model, sequence: '', params: {}};
    try {
      for (const [key, input] of Object.entries(inputs)) {
        // A file still being read (chosen a moment before Submit) is waited for: it was sent as absent before, and
        // an A3M chosen just before Submit made a job that searched (or ran without) an MSA instead of the file's.
        const value = await input.value();
        if (value === undefined) continue;
        const def = spec.fields.find((f) => f[0] === key);
        if (def && def[3].param) body.params[key] = value;
        else body[key] = value;
      }
    } catch (err) { // a file the browser could not read (removed, no permission), or not one the field takes
      showErrors(err instanceof FormError ? {error: err.title, message: err.message, field: err.field}
        : {error: 'Could not read the file', message: String(err?.message || err)});
      done();
      return;
    }
    // Several FASTA records (SMILES lines) are one job each; one with a header (a name after its SMILES) is named by it.
    const [records, named, names, submitMany] = sequenceBox ? [fastaRecords(sequenceBox.value), (r) => r.header, recordNames, submitRecords]
      : ligandBox ? [ligandRecords(ligandBox.value), (r) => r.name, ligandNames, submitLigands] : [[]];
    if (records.length === 1 && named(records[0])) body.name = names(body.name, records)[0];
    if (records.length > 1) {
      await submitMany(body, records);
      done();
      return;
    }
    try {
      const job = await api.post('/v1/predict', body);
      location.assign(`/jobs/${encodeURIComponent(job.job_id)}`);
    } catch (err) {
      showErrors(err);
      done();
    }
  }}},
  h('div', {class: 'fields'}, rows, numbers.length ? h('div', {class: 'field-row'}, numbers) : null),
  formError,
  short,
  h('div', {class: 'row', style: {marginTop: '20px'}}, submit, h('span', {class: 'muted small'}, 'Credits are taken when the job is accepted and refunded if it cannot run.')));
  // The job's own id is the ?from= one (its request carries none, so that it posts back as it is).
  const earlierId = earlier ? query.get('from').toLowerCase() : '';
  const from = earlier ? h('div', {class: 'notice ok', id: 'run-again', style: {marginBottom: '16px'}}, h('div', {}, h('strong', {}, 'Filled in from job ',
    h('a', {class: 'mono', href: `/jobs/${encodeURIComponent(earlierId)}`}, shortId(earlierId))),
  h('div', {}, 'Change what you need and submit: it runs as a new job.'))) : null;
  return h('div', {}, h('p', {class: 'muted', style: {marginTop: 0}}, spec.blurb), from, form);
}

export async function render(main, {query}) {
  // The balance, as the sidebar reads it: a job it does not cover is said before Submit (buildForm's notice). Not
  // known (the request failed): no notice, the API still says it on Submit.
  const [{models: served}, balance] = await Promise.all([api.get('/v1/models'),
    api.get('/v1/account').then((account) => account.credits.balance, () => null)]);
  const models = served.filter((m) => FORMS[m.id]);
  let current = models.some((m) => m.id === query.get('model')) ? query.get('model') : (models[0]?.id || 'esmfold');
  // ?from=JOB_ID ("Run again" on a job's page): the form starts from that job's request.
  let earlier = null;
  let earlierJob = null; // the job itself: its metadata says what its request does not (a receptor job's id)
  if (query.get('from')) {
    const from = encodeURIComponent(query.get('from'));
    try {
      [earlier, earlierJob] = await Promise.all([api.get(`/v1/jobs/${from}/input`), api.get(`/v1/jobs/${from}`).catch(() => null)]);
      if (models.some((m) => m.id === earlier.model)) current = earlier.model;
    } catch (err) {
      toast(`Could not start from that job: ${err.message}`);
    }
  }
  const body = h('div', {class: 'card-body'});
  const tabs = h('div', {class: 'tabs', role: 'tablist', 'aria-label': 'Model'});
  // The model tabs follow the ARIA tabs pattern: one tab stop (the selected tab), arrow keys, Home and End
  // move between models, and the form is the tab panel the selected tab names.
  function onTabKey(event) {
    const step = {ArrowRight: 1, ArrowLeft: -1}[event.key];
    const at = models.findIndex((m) => m.id === current);
    const next = step ? (at + step + models.length) % models.length : event.key === 'Home' ? 0 : event.key === 'End' ? models.length - 1 : -1;
    if (next < 0) return;
    event.preventDefault();
    show(models[next].id, {focus: true});
  }
  // The keyboard's focus is put on the selected tab as soon as it is drawn, and again once its form is: it was put on
  // the tab pressed to once that tab's form came, so that a form superseded meanwhile (DiffDock's, slow: it waits for
  // the account's structures) took it to its own tab, no longer the selected one; until then it had fallen to the
  // page, and a second arrow key went nowhere.
  const selectedTab = () => tabs.querySelector('[aria-selected="true"]');
  async function show(model, {focus = false} = {}) {
    current = model;
    const onTabs = focus || tabs.contains(document.activeElement);
    history.replaceState(null, '', `/submit?model=${model}${query.get('receptor') ? `&receptor=${encodeURIComponent(query.get('receptor'))}` : ''}`);
    replace(tabs, models.map((m) => h('button', {type: 'button', role: 'tab', class: m.id === model ? 'on' : '', id: `tab-${m.id}`,
      'aria-selected': m.id === model ? 'true' : 'false', 'aria-controls': 'model-panel', tabindex: m.id === model ? '0' : '-1',
      'aria-label': `${m.name}, ${m.cost_credits} credits`, // not "ESMFold10 credits"
      // A space between the name and the price in the text too: the tab's text read "ESMFold10 credits" (the gap was
      // a margin), not the words of its name, which a speech user says to press it (WCAG 2.5.3, axe's
      // label-content-name-mismatch). The space stands for part of the margin (css .tabs .cost).
      on: {click: () => show(m.id), keydown: onTabKey}}, m.name, ' ', h('span', {class: 'cost'}, `${m.cost_credits} credits`))));
    if (onTabs && tabs.isConnected) selectedTab().focus();
    const asked = ++shown;
    const again = earlier && earlier.model === model;
    const form = await buildForm(model, {query, models, earlier: again ? earlier : null, earlierJob: again ? earlierJob : null,
      balance});
    // DiffDock's form waits for the account's structures (its receptor list): a tab chosen meanwhile was drawn first,
    // and this slower form then replaced it, the person's typing with it, under the other tab's name.
    if (asked !== shown) return;
    const keep = tabs.contains(document.activeElement); // drawn again below, the tabs lose the focus
    replace(body, tabs, h('div', {role: 'tabpanel', id: 'model-panel', 'aria-labelledby': `tab-${model}`}, form));
    if (keep) selectedTab().focus();
  }
  let shown = 0; // the newest tab chosen: only its form is drawn
  replace(main, pageHeader('New job', {sub: 'Predict a structure or dock a ligand. Results appear in Jobs as they finish.'}),
    h('div', {class: 'content'}, h('div', {class: 'card', style: {maxWidth: '860px'}}, body)));
  if (!models.length) {
    replace(body, h('div', {class: 'empty'}, h('div', {class: 'title'}, 'No models are served here')));
    return;
  }
  await show(current);
}
