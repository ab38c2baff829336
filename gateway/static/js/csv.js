// CSV files the dashboard builds from the API's JSON (the credit history, daily usage), for a lab's own
// accounting: RFC 4180 quoting, and text cells that a spreadsheet would run as a formula (=, +, -, @ first)
// get a leading apostrophe, so that a job name cannot become one.

const FORMULA = /^[=+\-@\t\r]/;

function cell(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = FORMULA.test(String(value)) ? `'${value}` : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** CSV text: a header of `columns` ([key, title]), then one line per row (objects), CRLF line ends. */
export function csvText(columns, rows) {
  const lines = [columns.map(([, title]) => cell(title)).join(',')];
  for (const row of rows) lines.push(columns.map(([key]) => cell(row[key])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** Saves `text` as `filename` (a download the browser names; nothing leaves the page). */
export function saveCsv(filename, text) {
  const url = URL.createObjectURL(new Blob([text], {type: 'text/csv;charset=utf-8'}));
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
