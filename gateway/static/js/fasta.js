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

// A record's id as `phonos fold FILE.fasta` names its job (clients/python/phonos_client/inputs.py, unique and
// _named): the header's first word as written (`sp|P69905|HBA_HUMAN`; two `>dup` records are two jobs named `dup`),
// `seq<N>` (its place, from 1) for a record without one. The same file gives the same job names from the CLI and
// from the form, so a search for the id finds the job whichever made it. (Was: made file-safe, `sp_P69905_HBA_HUMAN`,
// `dup_2`: the CLI's file names, which a search for the id does not find.)
function recordId(header, number) {
  return header.trim().split(/\s+/)[0] || `seq${number}`;
}

/** The records' job names, in order: each one's id, after the form's name (`screen: sp|P69905|HBA_HUMAN`) when
 * one is given, so that a search for the name finds the whole submission. */
export function recordNames(formName, records) {
  return records.map((record, i) => {
    const id = recordId(record.header, i + 1);
    const name = formName ? `${formName}: ${id}` : id;
    return name.length > NAME_MAX ? `${name.slice(0, NAME_MAX - 1)}…` : name;
  });
}

/** The records as FASTA text again (the ones left to fix after a submission). */
export function fastaText(records) {
  return records.map((r) => `>${r.header}\n${r.sequence}\n`).join('');
}
