// Account: who you are, credits and their history, job counts, and the sign-in session.

import {api, signOut} from '../api.js';
import {pageHeader} from '../app.js';
import {csvText, saveCsv} from '../csv.js';
import {busy, confirmDialog, h, replace, toast} from '../dom.js';
import {olderPages} from '../pager.js';
import {ago, dateTime, modelName, num, shortId} from '../format.js';

export const title = 'Account';

function stat(label, value, note, id) {
  return h('div', {class: 'card stat', id}, h('div', {class: 'label'}, label), h('div', {class: 'value'}, value), note ? h('div', {class: 'note'}, note) : null);
}

const HISTORY_PAGE = 20;
const KINDS = {grant: 'Added', charge: 'Charged', refund: 'Refunded'};

// A job's note starts with its model's id ("esmfold job submitted"): the page says the model's name.
function readableNote(note) {
  return (note || '').replace(/^(\w+)(?= job )/, (id) => modelName(id));
}

// One change of the balance: when, how much (+/−), the balance after it, and why (its job linked while the
// job exists; a deleted job's charge stays, unlinked).
function historyRow(entry) {
  const kind = entry.kind === 'grant' && entry.amount < 0 ? 'Taken back' : KINDS[entry.kind] || entry.kind;
  const job = !entry.job_id ? null : entry.job_deleted
    ? h('span', {class: 'muted small', 'data-job-deleted': entry.job_id}, ` · job ${shortId(entry.job_id)} (deleted)`)
    : h('a', {class: 'mono small', href: `/jobs/${encodeURIComponent(entry.job_id)}`}, ` job ${shortId(entry.job_id)}`);
  return h('tr', {'data-entry-id': String(entry.id), 'data-kind': entry.kind},
    h('td', {class: 'when', 'data-label': 'When', title: dateTime(entry.created_at)}, ago(entry.created_at)),
    h('td', {class: ['num', 'change', entry.amount < 0 ? 'out' : 'in'], 'data-label': 'Change'},
      `${entry.amount < 0 ? '−' : '+'}${num(Math.abs(entry.amount))}`),
    h('td', {class: 'num balance', 'data-label': 'Balance'}, num(entry.balance_after)),
    h('td', {class: 'why', 'data-label': 'Why'}, h('span', {class: ['chip', 'credit', entry.kind]}, kind),
      readableNote(entry.note), job));
}

const CSV_COLUMNS = [['id', 'entry_id'], ['created_at', 'created_at'], ['kind', 'kind'], ['amount', 'amount'],
  ['balance_after', 'balance_after'], ['job_id', 'job_id'], ['job_deleted', 'job_deleted'], ['note', 'note']];

/** Every entry of the credit history as a CSV file (pages of 100, oldest last, as the API lists them). */
async function downloadHistory(username) {
  const seen = new Set();
  const entries = [];
  for (let offset = 0; ;) {
    const page = await api.get('/v1/account/credits', {limit: 100, offset});
    for (const entry of page.entries) {
      if (!seen.has(entry.id)) { seen.add(entry.id); entries.push(entry); } // a newer entry shifted the pages
    }
    if (!page.pagination.has_more || !page.entries.length) break;
    offset = page.pagination.offset + page.entries.length;
  }
  saveCsv(`phonos-credits-${username}-${new Date().toISOString().slice(0, 10)}.csv`, csvText(CSV_COLUMNS, entries));
}

// The credit history card: the newest page, and "Show older" appends the next one.
function creditHistory(username) {
  const body = h('tbody', {id: 'credit-history-body'});
  const more = h('button', {class: 'btn small', type: 'button', id: 'credit-history-more'}, 'Show older');
  const info = h('span', {id: 'credit-history-info'});
  const table = h('div', {class: 'table-scroll', hidden: true}, h('table', {class: 'table stacked credits', id: 'credit-history-table'},
    h('thead', {}, h('tr', {}, ['When', 'Change', 'Balance', 'Why'].map((c, i) => h('th', {class: i === 1 || i === 2 ? 'num' : ''}, c)))),
    body));
  const pager = h('div', {class: 'pager', hidden: true}, info, more);
  const card = h('div', {class: 'card', id: 'credit-history'},
    h('div', {class: 'card-head'}, h('h2', {}, 'Credit history'), h('div', {class: 'row'},
      h('span', {class: 'hint'}, 'Every change of the balance, newest first'),
      h('button', {class: 'btn small', type: 'button', id: 'credit-history-csv',
        title: 'Every entry as a CSV file (for a spreadsheet or your accounting)',
        on: {click: async (event) => {
          // A long history is read page by page: one download at a time, and the button says it is working.
          const button = event.currentTarget;
          const done = busy(button);
          button.textContent = 'Preparing CSV…';
          try { await downloadHistory(username); } catch (err) { toast(err.message); }
          button.textContent = 'Download CSV';
          done();
        }}}, 'Download CSV'))),
    table, pager);
  const loadPage = olderPages({
    fetch: (offset) => api.get('/v1/account/credits', {limit: HISTORY_PAGE, offset})
      .then((page) => ({items: page.entries, pagination: page.pagination})),
    keyOf: (entry) => entry.id, row: historyRow, body, info, more});
  async function load() {
    try {
      const shown = await loadPage();
      table.hidden = pager.hidden = !shown;
      if (!shown) card.append(h('div', {class: 'card-body muted'}, 'No changes yet.'));
    } catch (err) {
      card.append(h('div', {class: 'card-body'}, h('div', {class: 'notice bad'}, h('strong', {}, 'Could not load the credit history'), ' ', err.message)));
    }
  }
  return {card, load};
}

export async function render(main, {session}) {
  const account = await api.get('/v1/account');
  const history = creditHistory(account.account.username);
  const {jobs} = account;
  replace(main, pageHeader('Account', {sub: 'Credits, jobs and your dashboard session.'}),
    h('div', {class: 'content stack'},
      h('div', {class: 'grid stats'},
        stat('Credit balance', num(account.credits.balance), account.credits.currency, 'credit-balance'),
        stat('Jobs', num(jobs.total), 'all time', 'jobs-total'),
        stat('Completed', num(jobs.completed), null, 'jobs-completed'),
        stat('Active', num(jobs.active), 'pending or running', 'jobs-active'),
        stat('Failed', num(jobs.failed), null, 'jobs-failed')),
      h('div', {class: 'grid two'},
        h('div', {class: 'card'}, h('div', {class: 'card-head'}, h('h2', {}, 'Profile')),
          h('div', {class: 'card-body'}, h('dl', {class: 'kv snug', id: 'account-profile'},
            h('dt', {}, 'Username'), h('dd', {id: 'account-username'}, account.account.username),
            h('dt', {}, 'Email'), h('dd', {}, account.account.email || h('span', {class: 'muted'}, 'not set')),
            h('dt', {}, 'Account id'), h('dd', {class: 'mono'}, String(account.account.id)),
            h('dt', {}, 'Member since'), h('dd', {}, dateTime(account.account.created_at))))),
        h('div', {class: 'card'}, h('div', {class: 'card-head'}, h('h2', {}, 'Session')),
          h('div', {class: 'card-body'},
            h('dl', {class: 'kv snug', id: 'account-session'}, h('dt', {}, 'Signed in as'), h('dd', {}, session.username),
              h('dt', {}, 'Session ends'), h('dd', {}, dateTime(session.expires_at))),
            h('p', {class: 'muted small'}, 'Sessions end on their own; a password change signs out every session. Credits are added by an administrator.'),
            h('div', {class: 'row'},
              h('button', {class: 'btn', type: 'button', on: {click: async () => { await signOut(false); location.assign('/sign-in'); }}}, 'Sign out'),
              h('button', {class: 'btn danger', type: 'button', id: 'sign-out-all', on: {click: async () => {
                const ok = await confirmDialog({title: 'Sign out everywhere?', body: 'Every dashboard session of this account ends, this one included. API keys keep working.', confirm: 'Sign out everywhere', danger: true});
                if (ok) { await signOut(true); location.assign('/sign-in'); }
              }}}, 'Sign out everywhere'))))),
      history.card));
  await history.load();
}
