// Ligands pasted into (or loaded into) DiffDock's form: one SMILES per line, optionally followed by its name, as a
// SMILES file (.smi) has them and as `phonos dock --ligands FILE.smi` reads them (clients/python/phonos_client/
// inputs.py _smi): one line is one job, several lines one job each (POST /v1/batch), as the sequence box's FASTA
// records are. The API takes SMILES only: a MOL/SDF or MOL2 block is recognised here, so that the form says so
// before anything is sent.

import {MAX_RECORDS, NAME_MAX} from './fasta.js';

export {MAX_RECORDS};

/** The ligands of `text`: [{smiles, name, line}] in order (`line`: the line's text as written, to put it back).
 * Empty lines and `#` comments are skipped, and a first line whose first word is "SMILES" (a spreadsheet's column
 * header), as the CLI skips them. A CXSMILES block (`|...|`) after the SMILES stays with it, not read as a name:
 * the API refuses it with its reason. */
export function ligandRecords(text) {
  const records = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [smiles, ...rest] = line.split(/\s+/);
    if (!records.length && smiles.toLowerCase() === 'smiles') continue;
    const name = rest.join(' ');
    records.push(name.startsWith('|') ? {smiles: line, name: '', line} : {smiles, name, line});
  }
  return records;
}

/** The ligands' job names, in order: each line's name (`ligand<N>`, its place from 1, for a line without one, as the
 * CLI names it), after the form's name (`screen: aspirin`) when one is given. */
export function ligandNames(formName, records) {
  return records.map((record, i) => {
    const id = record.name || `ligand${i + 1}`;
    const name = formName ? `${formName}: ${id}` : id;
    return name.length > NAME_MAX ? `${name.slice(0, NAME_MAX - 1)}…` : name;
  });
}

/** The ligands as lines again (the ones left to fix after a submission). */
export function ligandText(records) {
  return records.map((r) => `${r.line}\n`).join('');
}

/** What kind of structure file `text` is when it is one (a MOL/SDF block, a MOL2 file), else null: pasted or loaded
 * into the SMILES box, it was sent (its lines folded into one by a one-line box) and refused by the API with advice
 * for the command line, its backticks and all. */
export function ligandFileKind(text) {
  if (/^@<TRIPOS>/m.test(text)) return 'MOL2';
  if (/^M {2}END\s*$/m.test(text) || /^\$\$\$\$\s*$/m.test(text) || /\bV[23]000\s*$/m.test(text)) return 'MOL/SDF';
  return null;
}
