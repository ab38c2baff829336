// The dashboard calls the same /v1 API as every client, authenticated by the HttpOnly session
// cookie (the page never sees an API key or the session token). State-changing calls carry the
// session's CSRF token, which GET /auth/status (and /auth/session) hands to same-origin scripts only.

let csrfToken = null;

export class ApiError extends Error {
  constructor(status, body, retryAfter = null) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.error = (body && body.error) || 'Error';
    this.retryAfter = retryAfter; // seconds, from a 429's or 503's Retry-After; null when it named none
  }
}

/** A Retry-After header's seconds (a whole number, as the API sends it), or null. */
function retryAfterOf(response) {
  const seconds = Number(response.headers.get('Retry-After'));
  return Number.isFinite(seconds) && seconds > 0 ? Math.ceil(seconds) : null;
}

// Set in this tab as a session that was open ends (api.js, the job page's stream): the sign-in page says why it is
// there, once. Was a plain sign-in form: a tab left open through "Sign out everywhere" landed there with no word why.
export const SESSION_ENDED_KEY = 'phonos.session_ended';

/** The sign-in page, coming back here after. */
function signInUrl() {
  const next = location.pathname + location.search;
  return '/sign-in' + (next && next !== '/sign-in' ? `?next=${encodeURIComponent(next)}` : '');
}

/** A session that was open ended (expired, signed out in another tab or everywhere, its password changed): to the
 * sign-in page, which says so once. */
export function toSignInAfterSessionEnded() {
  try { sessionStorage.setItem(SESSION_ENDED_KEY, '1'); } catch { /* storage off: the form alone */ }
  location.assign(signInUrl());
}

/** A request that got no answer (the browser offline, the connection refused or cut): fetch's TypeError says only
 * "Failed to fetch", which the pages showed as it was (a tester's "Failed to fetch" after Delete, with no word
 * whether the job was deleted). `changing`: the request would have changed something (not a GET). */
export function unreachable(changing) {
  const offline = typeof navigator !== 'undefined' && navigator.onLine === false;
  const message = offline
    ? `You are offline: nothing was sent${changing ? ', so nothing was changed' : ''}. Try again once the connection is back.`
    : `The server could not be reached (the connection failed)${changing ? ': the change may not have been made' : ''}. `
      + 'Check the connection and try again.';
  return new ApiError(0, {error: offline ? 'Offline' : 'Unreachable', message});
}

/** fetch, with a request that got no answer as an ApiError in words (unreachable) instead of a TypeError. */
async function answered(url, init, changing) {
  try {
    return await fetch(url, init);
  } catch (err) {
    if (err instanceof TypeError) throw unreachable(changing);
    throw err; // an abort the caller asked for
  }
}

export async function request(method, path, {query, body, allow401 = false} = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
  const headers = {Accept: 'application/json'};
  // A session ended while the page was open: the gateway answers this call with a redirect to GET /auth/status (a
  // 200) instead of its 401, which the browser logged in the console as an error before the page went to sign in
  // (gateway/dashboard/signed_out.py). Not where a 401 is an answer the page shows (a wrong password).
  if (!allow401) headers['X-Phonos-If-Signed-Out'] = 'status';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  const response = await answered(url, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin', cache: 'no-store',
  }, method !== 'GET');
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  const ended = response.redirected && new URL(response.url).pathname === '/auth/status';
  if (ended || (response.status === 401 && !allow401)) {
    toSignInAfterSessionEnded(); // the session ended (expired, signed out elsewhere, password changed)
    throw new ApiError(401, ended ? {error: 'Unauthorized', message: 'Your session has ended: sign in again.'} : data);
  }
  if (!response.ok) throw new ApiError(response.status, data, retryAfterOf(response));
  return data;
}

export const api = {
  get: (path, query) => request('GET', path, {query}),
  post: (path, body) => request('POST', path, {body: body === undefined ? {} : body}),
  patch: (path, body) => request('PATCH', path, {body}),
  del: (path) => request('DELETE', path),
};

// A download refused for the downloads in progress from this address (429: several people behind one NAT opening
// pages at once) is asked again after the Retry-After it names, a few times, before the page says it failed.
const DOWNLOAD_TRIES = 4;
const DOWNLOAD_WAIT_MAX_S = 10;

/** Text of a download (PDB, SDF...) with the cookie: a job id (its owner's route) or a download route's path. */
export async function download(jobOrPath, format) {
  const path = jobOrPath.startsWith('/') ? jobOrPath : `/v1/jobs/${encodeURIComponent(jobOrPath)}/download`;
  let response;
  for (let attempt = 1; ; attempt += 1) {
    response = await answered(`${path}?format=${encodeURIComponent(format)}`,
      {credentials: 'same-origin', headers: {'X-Phonos-If-Signed-Out': 'status'}}, false);
    if (response.status !== 429 || attempt >= DOWNLOAD_TRIES) break;
    const wait = Math.min(Number(response.headers.get('Retry-After')) || 1, DOWNLOAD_WAIT_MAX_S);
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
  }
  if (response.redirected && new URL(response.url).pathname === '/auth/status') {
    toSignInAfterSessionEnded(); // the session ended (see request above)
    throw new ApiError(401, {error: 'Unauthorized', message: 'Your session has ended: sign in again.'});
  }
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch { body = null; }
    throw new ApiError(response.status, body);
  }
  return response.text();
}

// Jobs asked after by jobGone, by id: the Input card and Provenance name the same receptor job, asked once.
const gone = new Map();

/** Whether the account's job `id` is gone (deleted since another job named it): true on a 404, false otherwise (a
 * failed look is no news). A job page's links to a receptor job led to "Job not found" once it was deleted. */
export function jobGone(id) {
  if (!gone.has(id)) {
    gone.set(id, api.get(`/v1/jobs/${encodeURIComponent(id)}`).then(() => false,
      (err) => err instanceof ApiError && err.status === 404));
  }
  return gone.get(id);
}

/** The account's newest completed structure predictions (ESMFold and AlphaFold2, up to 100 of each), newest
 * first: a receptor to dock into, a structure to compare with. */
export async function structureJobs() {
  const pages = await Promise.all(['esmfold', 'alphafold2'].map((model) =>
    api.get('/v1/jobs', {model, status: 'completed', limit: 100}).catch(() => ({jobs: []}))));
  return pages.flatMap((p) => p.jobs).sort((a, b) => b.created_at.localeCompare(a.created_at));
}

const STRUCTURE_MODELS = new Set(['esmfold', 'alphafold2']);

/** A structure job named by id (a "Dock this" link, a receptor of "Run again") that structureJobs' newest 100 may
 * not hold: {job} when it is the account's completed structure with its files, else {why} in words. A fold older
 * than the newest 100 was said to be "not available" and another structure was chosen in its place. */
export async function structureJob(id) {
  let job;
  try {
    job = await api.get(`/v1/jobs/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return {why: 'no job of this account has that id (it may have been deleted)'};
    return {why: `it could not be looked up (${err.message.replace(/\.$/, '')})`};
  }
  if (!STRUCTURE_MODELS.has(job.model)) return {why: 'it is not a structure prediction (ESMFold or AlphaFold2)'};
  if (job.status !== 'completed') return {why: `it has not completed (it is ${job.status})`};
  if (job.results_deleted_at) return {why: 'its result files have been deleted'};
  return {job};
}

/** Who is signed in (username, CSRF token), or null for a signed-out browser. Asked of GET /auth/status, which
 * answers 200 either way: GET /auth/session's 401 for a signed-out visitor (the normal first visit) was logged as
 * an error in the browser's console on every page opened on the way to the sign-in page. */
export async function loadSession() {
  const session = await request('GET', '/auth/status');
  if (!session || !session.signed_in) return null;
  csrfToken = session.csrf_token;
  return session;
}

export async function signIn(username, password) {
  const session = await request('POST', '/auth/sign-in', {body: {username, password}, allow401: true});
  csrfToken = session.csrf_token;
  return session;
}

/** The person's own password change. It rotates the session: the response's cookie replaces the old one, whose
 * CSRF token the server no longer accepts, so the new one is kept for the requests that follow. */
export async function changePassword(currentPassword, newPassword) {
  const result = await request('POST', '/auth/password',
    {body: {current_password: currentPassword, new_password: newPassword}});
  csrfToken = result.csrf_token;
  return result;
}

export async function signOut(allSessions = false) {
  await request('POST', '/auth/sign-out', {body: {all_sessions: allSessions}, allow401: true});
  csrfToken = null;
}

export {signInUrl};
