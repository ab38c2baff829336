// A share link's page (/shared/<token>): the job page's results, read-only, for whoever holds the link. No
// session and no navigation to account pages; nothing says whose job it is. The job and its files come from
// GET /shared/<token>/job and /shared/<token>/download, which need no key.

import {brand, pageHeader} from '../app.js';
import {h, icon, replace} from '../dom.js';
import {dateTime, modelName, shortId} from '../format.js';
import {statusPill} from './jobs.js';
import {filesAt, showResults} from './job.js';


function layout(app, ...children) {
  const top = h('header', {class: 'shared-top'}, brand(null),
    h('div', {class: 'shared-banner', id: 'shared-banner'}, icon('empty'), h('span', {}, 'Shared job · read-only')));
  const main = h('main', {class: 'main shared-main', id: 'main'}, children);
  replace(app, h('div', {class: 'shared-shell'}, top, main));
  return main;
}

/** What a link that does not work shows (never why: revoked, expired, unknown and deleted look the same). */
function unavailable(app, title, text) {
  document.title = `${title} · phonos`;
  layout(app, pageHeader(title), h('div', {class: 'content'},
    h('div', {class: 'card empty', id: 'shared-missing'}, icon('empty'), h('div', {class: 'title'}, title), h('div', {}, text))));
}

const NOT_FOUND = ['Link not found', 'This share link does not work: it may have been revoked or have expired. '
  + 'Ask whoever sent it for a new one.'];

export async function render(app, token) {
  if (!token) { // /shared/ with the token cut off
    unavailable(app, ...NOT_FOUND);
    return;
  }
  const response = await fetch(`/shared/${encodeURIComponent(token)}/job`,
    {headers: {Accept: 'application/json'}, credentials: 'omit', cache: 'no-store'});
  const data = await response.json().catch(() => null);
  if (response.status === 404) {
    unavailable(app, ...NOT_FOUND);
    return;
  }
  if (response.status === 410) {
    unavailable(app, 'Results deleted', data?.message || 'The result files of this job were deleted.');
    return;
  }
  if (!response.ok) {
    unavailable(app, 'The shared job could not load', data?.message || `HTTP ${response.status}`);
    return;
  }
  const {job} = data;
  const title = job.name || `Job ${shortId(job.job_id)}`;
  document.title = `${title} (shared) · phonos`;
  const body = h('div', {class: 'content stack', id: 'job-body'});
  layout(app, pageHeader(title, {
    sub: h('span', {class: 'row'}, statusPill(job.status), h('span', {class: 'chip model'}, modelName(job.model)),
      h('span', {class: 'mono small muted'}, job.job_id),
      h('span', {class: 'muted small', id: 'shared-expiry'}, `Shared link, works until ${dateTime(data.expires_at)}`)),
  }), body);
  await showResults(body, job, filesAt(`/shared/${encodeURIComponent(token)}/download`,
    'Read-only copies, through this link', true), new URLSearchParams());
}
