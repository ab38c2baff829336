// Formatting shared by the pages: times, numbers, ids, model names, pLDDT bands.

export const MODEL_NAMES = {esmfold: 'ESMFold', alphafold2: 'AlphaFold2', diffdock: 'DiffDock'};
export const STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'];
export const ACTIVE = new Set(['pending', 'running']);

export function modelName(id) {
  return MODEL_NAMES[id] || id;
}

export function shortId(id) {
  return id ? id.slice(0, 8) : '';
}

/** A finished structure as a choice in a list (a receptor, a structure to compare with): its short id, model and
 * name, the name last: a phone's native select cuts what does not fit, and a long name put first cut the id that
 * tells two runs of one name apart. A job with no name is already called by its id ("Job 3db1a163 · AlphaFold2"),
 * said once. */
export function jobChoiceLabel(job) {
  return job.name ? `${shortId(job.job_id)} · ${modelName(job.model)} · ${job.name}`
    : `Job ${shortId(job.job_id)} · ${modelName(job.model)}`;
}

const RTF = new Intl.RelativeTimeFormat('en', {numeric: 'auto'});

export function ago(iso) {
  if (!iso) return '-';
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  const abs = Math.abs(seconds);
  if (abs < 45) return 'just now';
  if (abs < 3600) return RTF.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return RTF.format(Math.round(seconds / 3600), 'hour');
  if (abs < 86400 * 30) return RTF.format(Math.round(seconds / 86400), 'day');
  return dateTime(iso);
}

/** A moment in the browser's time zone, named ("2 Dec 2026, 07:10 UTC", "…, 08:10 CET"): a time without its zone
 * (a session's end, a share link's expiry, a key's) read as the server's, or as the lab's for a colleague abroad,
 * and the API's own times are UTC. */
export function dateTime(iso) {
  if (!iso) return '-';
  return new Date(iso).toLocaleString('en-GB', {year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
    timeZoneName: 'short'});
}

export function duration(fromIso, toIso) {
  const s = Math.max(0, (Date.parse(toIso) - Date.parse(fromIso)) / 1000);
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export function num(value, digits = 0) {
  if (value === undefined || value === null || Number.isNaN(value)) return '-';
  return Number(value).toLocaleString('en-US', {minimumFractionDigits: digits, maximumFractionDigits: digits});
}

// pLDDT bands (AlphaFold DB): >90 very high, 70-90 confident, 50-70 low, <50 very low.
export const PLDDT_BANDS = [
  {key: 'vh', cls: 'very-high', label: 'Very high', range: 'pLDDT > 90', min: 90, color: '#0053d6'},
  {key: 'c', cls: 'confident', label: 'Confident', range: '90 > pLDDT > 70', min: 70, color: '#65cbf3'},
  {key: 'l', cls: 'low', label: 'Low', range: '70 > pLDDT > 50', min: 50, color: '#ffdb13'},
  {key: 'vl', cls: 'very-low', label: 'Very low', range: 'pLDDT < 50', min: -Infinity, color: '#ff7d45'},
];

export function plddtBand(value) {
  return PLDDT_BANDS.find((band) => value > band.min) || PLDDT_BANDS[3];
}
