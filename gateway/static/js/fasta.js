// Sequences pasted into the new-job form: one sequence (with or without its FASTA header) is one job; a FASTA
// file of several records is one job per record, named by its header, as `phonos fold file.fasta` does.

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

/** A record's job name: its header (after the form's name, when one is given), or the name and its number. */
export function recordName(formName, record, index) {
  const header = record.header.replace(/\s+/g, ' ');
  const name = header ? (formName ? `${formName}: ${header}` : header) : `${formName || 'Sequence'} ${index + 1}`;
  return name.length > NAME_MAX ? `${name.slice(0, NAME_MAX - 1)}…` : name;
}

/** The records as FASTA text again (the ones left to fix after a submission). */
export function fastaText(records) {
  return records.map((r) => `>${r.header}\n${r.sequence}\n`).join('');
}
