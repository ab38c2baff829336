// Sequences pasted into the new-job form: one sequence (with or without its FASTA header) is one job; a FASTA
// file of several records is one job per record, named by its record's id, as `phonos fold file.fasta` does.

export const MAX_RECORDS = 100; // per submission from the form: ten batches of the API's ten jobs
export const NAME_MAX = 200; // the API's limit on a job name

/** The FASTA records of `text`: [{header, sequence}] in order, lines joined. Text before the first header
 * is a record without one; text with no header at all is one record. */
export function fastaRecords(text) {
  const records = [];
  let current = null;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('>')) {
      current = {header: line.slice(1).trim(), sequence: ''};
      records.push(current);
    } else if (line) {
      if (!current) {
        current = {header: '', sequence: ''};
        records.push(current);
      }
      current.sequence += line;
    }
  }
  return records;
}

// A record's id as `phonos fold FILE.fasta` names its job (clients/python/phonos_client/inputs.py, file_id and
// unique): the header's first word, runs of characters unsafe in a file name as one `_`, at most 80 characters,
// `seq<N>` (its place, from 1) when nothing is left, `_2`, `_3`... (the first not taken, ignoring case) after a
// repeated one. The same file gives the same job names from the CLI and from the form, and the CLI's result
// files are named the same.
const UNSAFE = /[^A-Za-z0-9._-]+/g;
const MAX_ID = 80;

function recordId(header, number) {
  const first = header.trim().split(/\s+/)[0] || '';
  const cleaned = first.replace(UNSAFE, '_').replace(/^[._]+|[._]+$/g, '').slice(0, MAX_ID);
  return cleaned || `seq${number}`;
}

/** The records' job names, in order: each one's id, after the form's name (`screen: sp_P69905_HBA_HUMAN`) when
 * one is given, so that a search for the name finds the whole submission. */
export function recordNames(formName, records) {
  const taken = new Set(); // lower-cased: `A` and `a` are one file name on macOS and Windows
  return records.map((record, i) => {
    const base = recordId(record.header, i + 1);
    let id = base;
    for (let repeat = 2; taken.has(id.toLowerCase()); repeat += 1) id = `${base}_${repeat}`;
    taken.add(id.toLowerCase());
    const name = formName ? `${formName}: ${id}` : id;
    return name.length > NAME_MAX ? `${name.slice(0, NAME_MAX - 1)}…` : name;
  });
}

/** The records as FASTA text again (the ones left to fix after a submission). */
export function fastaText(records) {
  return records.map((r) => `>${r.header}\n${r.sequence}\n`).join('');
}
