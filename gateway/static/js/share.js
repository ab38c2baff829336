// The job page's "Share" panel: read-only links to a completed job's results for people without an account
// (POST/GET/DELETE /v1/jobs/{id}/shares). A new link is shown once, to copy; the list shows the links that
// still work, each with its expiry and a Revoke button. Whoever opens a link sees pages/shared.js.

import {api} from './api.js';
import {busy, confirmDialog, copyText, focusIfLost, h, replace, toast} from './dom.js';
import {dateTime} from './format.js';

const EXPIRY_DAYS = [[1, '1 day'], [7, '7 days'], [30, '30 days'], [90, '90 days'], [365, '1 year']];
const DEFAULT_DAYS = 30;

function sharesPath(job) {
  return `/v1/jobs/${encodeURIComponent(job.job_id)}/shares`;
}

/** The header's Share button; it opens (and closes) the panel in `slot()`, a place the page never redraws. */
export function shareButton(job, slot) {
  let panel = null;
  // aria-controls only while the panel is on the page: a reference to no element is one a screen reader cannot follow.
  const button = h('button', {class: 'btn', type: 'button', id: 'share-job', 'aria-expanded': 'false',
    title: 'A read-only link to these results for people without an account'}, 'Share');
  const close = () => {
    panel.remove();
    button.setAttribute('aria-expanded', 'false');
    button.removeAttribute('aria-controls');
  };
  button.addEventListener('click', () => {
    if (panel && panel.isConnected) {
      close();
      return;
    }
    panel = sharePanel(job);
    // Escape closes it from inside, as the phone's menu closes (menu.js), and the focus goes back to Share: the
    // panel took the focus as it opened, away from the button, and a keyboard user had to find the button again
    // to close it. (A confirm dialog's Escape, its Revoke's, is the dialog's: the dialog is not in the panel.)
    panel.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape' || event.defaultPrevented) return;
      event.preventDefault();
      close();
      button.focus();
    });
    slot().prepend(panel);
    button.setAttribute('aria-expanded', 'true');
    button.setAttribute('aria-controls', panel.id);
    panel.querySelector('#share-expiry').focus();
  });
  return button;
}

function sharePanel(job) {
  const expiry = h('select', {id: 'share-expiry', 'aria-label': 'The link works for'},
    EXPIRY_DAYS.map(([days, label]) => h('option', {value: String(days), selected: days === DEFAULT_DAYS}, label)));
  const created = h('div', {id: 'share-created', 'aria-live': 'polite'});
  let shownShareId = null; // the link whose URL `created` shows (once, to copy)
  const list = h('div', {id: 'share-list'}, h('div', {class: 'muted small'}, 'Loading links…'));
  const create = h('button', {class: 'btn primary', type: 'button', id: 'share-create', on: {click: async () => {
    const done = busy(create);
    try {
      const answer = await api.post(sharesPath(job), {expires_in_days: Number(expiry.value)});
      shownShareId = answer.share.share_id;
      replace(created, newLink(new URL(answer.url, location.origin).href, answer.share.expires_at));
      created.querySelector('#share-url').focus(); // selected, to copy: it is shown only once
      await refresh();
    } catch (err) {
      toast(err.message);
    } finally {
      done();
    }
  }}}, 'Create link');

  // The list is read as the panel opens and again after each Create or Revoke: the first read, slow to come, drew
  // over the list a link created meanwhile had read ("No working links" under the link just made). The newest wins.
  let reads = 0;
  async function refresh() {
    const asked = ++reads;
    try {
      const {shares} = await api.get(sharesPath(job));
      if (asked === reads) replace(list, links(shares || []));
    } catch (err) {
      if (asked === reads) replace(list, h('div', {class: 'notice bad'}, err.message));
    }
  }

  function links(shares) {
    if (!shares.length) return h('div', {class: 'muted small', id: 'share-none'}, 'No working links.');
    // `stacked`: on a phone each row becomes labelled lines (app.css), as the keys and webhooks tables do.
    return h('div', {class: 'table-scroll'}, h('table', {class: 'table stacked', id: 'share-links'},
      // The link's id, not the link (shown once, when made): the column says so, lest someone copy it as the link.
      h('thead', {}, h('tr', {}, h('th', {}, 'Link id'), h('th', {}, 'Created'), h('th', {}, 'Expires'), h('th', {}, ''))),
      h('tbody', {}, shares.map((share) => h('tr', {'data-share': share.share_id},
        h('td', {class: 'mono small', 'data-label': 'Link id'}, share.share_id),
        h('td', {'data-label': 'Created'}, dateTime(share.created_at)),
        h('td', {'data-label': 'Expires'}, dateTime(share.expires_at)),
        // Named with its link's id: a screen reader's list of buttons said "Revoke" once per link.
        h('td', {class: 'num', 'data-label': ''}, h('button', {class: 'btn danger small', type: 'button', 'data-revoke': share.share_id,
          'aria-label': `Revoke link ${share.share_id}`,
          on: {click: (event) => revoke(share, event.currentTarget)}}, 'Revoke')))))));
  }

  async function revoke(share, button) {
    const ok = await confirmDialog({
      title: 'Revoke this link?',
      body: 'Whoever has it can no longer open this job: the link answers “not found” from now on.',
      confirm: 'Revoke link', danger: true,
    });
    if (!ok) return;
    // Disabled while the link is revoked (the list is then read again without it): a second press asked again and
    // got a "not found" toast.
    const done = busy(button);
    try {
      await api.del(`${sharesPath(job)}/${encodeURIComponent(share.share_id)}`);
    } catch (err) {
      done();
      toast(err.message);
      return;
    }
    toast('Link revoked');
    // "Copy it now" about a link that answers "not found" from now on: gone with it, as the keys page's new key is.
    if (share.share_id === shownShareId) { replace(created); shownShareId = null; }
    await refresh();
    focusIfLost(workingLinks); // its Revoke button is gone
  }

  refresh();
  const workingLinks = h('h3', {}, 'Working links');
  return h('div', {class: 'card', id: 'share-panel'},
    h('div', {class: 'card-head'}, h('h2', {}, 'Share a read-only link'),
      h('span', {class: 'hint'}, 'For colleagues without an account')),
    h('div', {class: 'card-body stack'},
      h('div', {class: 'muted'}, 'Anyone with the link sees this job’s results: the structure, plots, scores, '
        + 'files and provenance. They cannot change anything, and see nothing of your account.'),
      h('div', {class: 'row'}, h('label', {for: 'share-expiry'}, 'Works for'), expiry, create),
      created,
      workingLinks,
      list));
}

function newLink(url, expiresAt) {
  const field = h('input', {type: 'text', readonly: true, value: url, id: 'share-url', class: 'mono',
    'aria-label': 'The new link', on: {focus: (event) => event.target.select()}});
  return h('div', {class: 'notice ok'}, h('div', {class: 'grow'},
    h('strong', {}, 'Link created. Copy it now: it is not shown again.'),
    h('div', {class: 'row share-url'}, field,
      h('button', {class: 'btn', type: 'button', id: 'share-copy', on: {click: () => copyText(url)}}, 'Copy')),
    h('div', {class: 'small'}, `It works until ${dateTime(expiresAt)}, or until you revoke it.`)));
}
