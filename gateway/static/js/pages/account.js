// Account: who you are, credits and their history, job counts, the sign-in session, the browsers signed in to
// the account, the password, and the account's activity log.

import {api, changePassword, request, signOut} from '../api.js';
import {pageHeader} from '../app.js';
import {csvText, saveCsv} from '../csv.js';
import {busy, clearError, confirmDialog, field, fieldError, focusIfLost, h, replace, showError, toast} from '../dom.js';
import {olderPages} from '../pager.js';
import {ago, dateTime, modelName, num, shortId} from '../format.js';
import {describeUserAgent} from '../useragent.js';

export const title = 'Account';

function stat(label, value, note, id) {
  return h('div', {class: 'card stat', id}, h('div', {class: 'label'}, label), h('div', {class: 'value'}, value), note ? h('div', {class: 'note'}, note) : null);
}

const HISTORY_PAGE = 20;
const KINDS = {grant: 'Added', charge: 'Charged', refund: 'Refunded'};

// Why a refunded job failed, in words: the API's note ends with the job's error code ("esmfold job failed
// (model_error)"), which reads as a program's message. Every failure refunded is the service's side
// (jobservice/failures.py); the two charged ones are here too, should a refund ever carry them.
const FAILED_BECAUSE = {
  model_error: 'failed in the model',
  timeout: 'failed: the model server did not answer in time',
  model_unavailable: 'failed: the model server could not be reached',
  internal: 'failed: its result could not be stored',
  interrupted: 'failed: interrupted by repeated service restarts',
  model_removed: 'failed: its model is no longer served',
  invalid_input: 'failed: the model rejected its input',
  compute_limit: 'failed: it used its whole compute limit',
  error: 'failed',
};

// A job's note starts with its model's id ("esmfold job submitted"): the page says the model's name, and a failure's
// error code in words (a code not known here in words too: "failed (some new code)").
function readableNote(note) {
  return (note || '').replace(/^(\w+)(?= job )/, (id) => modelName(id))
    .replace(/ job failed \((\w+)\)$/, (whole, code) => ` job ${FAILED_BECAUSE[code] || `failed (${code.replace(/_/g, ' ')})`}`);
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
  for (let query = {offset: 0}; ;) {
    const page = await api.get('/v1/account/credits', {limit: 100, ...query});
    for (const entry of page.entries) {
      if (!seen.has(entry.id)) { seen.add(entry.id); entries.push(entry); } // a server without cursors: offsets shift
    }
    if (!page.pagination.has_more || !page.entries.length) break;
    // After the last entry read (entries added meanwhile shift nothing); by offset when there is no cursor.
    query = page.pagination.next_starting_after ? {starting_after: page.pagination.next_starting_after}
      : {offset: page.pagination.offset + page.entries.length};
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
    fetch: (page) => api.get('/v1/account/credits', {limit: HISTORY_PAGE, ...page})
      .then((page) => ({items: page.entries, pagination: page.pagination})),
    keyOf: (entry) => entry.id, row: historyRow, body, info, more});
  async function load() {
    try {
      const shown = await loadPage();
      if (shown === null) return; // a newer load draws the list
      table.hidden = pager.hidden = !shown;
      if (!shown) card.append(h('div', {class: 'card-body muted'}, 'No changes yet.'));
    } catch (err) {
      card.append(h('div', {class: 'card-body'}, h('div', {class: 'notice bad'}, h('strong', {}, 'Could not load the credit history'), ' ', err.message)));
    }
  }
  return {card, load};
}

// The account's activity log (GET /v1/account/activity): what changed its access, by whom, from where.
const ACTIVITY_PAGE = 20;

function plural(n, one, many) {
  return `${num(n)} ${n === 1 ? one : many}`;
}

// What an entry says happened, in a sentence (its target, when it names one, follows as a link or an id).
function activityWhat(entry) {
  const d = entry.details || {};
  const key = entry.target && entry.target.key_id ? ` ${entry.target.key_id}` : '';
  switch (entry.action) {
    case 'api_key.created':
      return `API key${d.name ? ` “${d.name}”` : key} created${d.scope === 'read_only' ? ' (read-only)' : ''}`;
    // Named as when it was made (entries written before the name was recorded: by id).
    case 'api_key.revoked': return `API key${d.name ? ` “${d.name}”` : key} revoked`;
    case 'api_key.updated': {
      // A rename says to what (`new_name`, since it was recorded; null: the name cleared); the other fields by name.
      const renamed = 'new_name' in d;
      const changed = (d.changed || []).filter((f) => !(renamed && f === 'name')).map((f) => f.replace('_', ' '));
      const parts = [...(renamed ? [d.new_name ? `renamed to “${d.new_name}”` : 'name cleared'] : []),
        ...(changed.length ? [`changed: ${changed.join(', ')}`] : [])];
      return `API key${d.name ? ` “${d.name}”` : key} ${parts.join('; ') || 'changed'}`;
    }
    case 'session.signed_in': return 'Signed in to the dashboard';
    case 'session.sign_in_failed': return 'Sign-in refused: wrong password';
    case 'session.signed_out': return 'Signed out';
    case 'session.ended': return 'Signed out another browser';
    case 'session.signed_out_everywhere':
      return `Signed out everywhere${d.sessions_ended ? ` (${plural(d.sessions_ended, 'session', 'sessions')})` : ''}`;
    case 'password.changed':
      return d.other_sessions_ended ? `Password changed (${plural(d.other_sessions_ended, 'other session', 'other sessions')} signed out)`
        : 'Password changed';
    case 'password.change_failed': return 'Password change refused: wrong current password';
    case 'webhook.created': return `Webhook added${d.host ? ` (${d.host})` : ''}`;
    case 'webhook.deleted': return 'Webhook removed';
    case 'webhook.secret_rotated': return 'Webhook secret rotated';
    case 'share.created': return `Share link created${d.expires_in_days ? `, for ${plural(d.expires_in_days, 'day', 'days')}` : ''}`;
    case 'share.revoked': return 'Share link revoked';
    case 'credits.added':
      return d.amount < 0 ? `${num(-d.amount)} credits taken back` : `${num(d.amount || 0)} credits added`;
    case 'account.max_rate_limit_changed':
      return `Key rate limits allowed up to ${num(d.to || 0)}/min${d.from ? ` (was ${num(d.from)})` : ''}`;
    default: return entry.action;
  }
}

function activityBy(actor) {
  if (actor.kind === 'api_key') return actor.key_name ? `key “${actor.key_name}”` : `key ${actor.key_id}`;
  if (actor.kind === 'session') return 'the dashboard';
  if (actor.kind === 'operator') return 'an administrator';
  return actor.kind;
}

function activityRow(entry) {
  const job = entry.target && entry.target.job_id
    ? h('a', {class: 'mono small', href: `/jobs/${encodeURIComponent(entry.target.job_id)}`}, ` job ${shortId(entry.target.job_id)}`)
    : null;
  return h('tr', {'data-activity-id': String(entry.id), 'data-action': entry.action},
    h('td', {class: 'when', 'data-label': 'When', title: dateTime(entry.created_at)}, ago(entry.created_at)),
    h('td', {class: 'what', 'data-label': 'What'}, activityWhat(entry), job),
    h('td', {'data-label': 'By'}, activityBy(entry.actor)),
    h('td', {class: 'mono small', 'data-label': 'From', title: entry.user_agent || ''},
      entry.client_address || h('span', {class: 'muted'}, '—')));
}

// The activity card: the newest page, and "Show older" appends the next one.
function activityCard() {
  const body = h('tbody', {id: 'activity-body'});
  const more = h('button', {class: 'btn small', type: 'button', id: 'activity-more'}, 'Show older');
  const info = h('span', {id: 'activity-info'});
  const table = h('div', {class: 'table-scroll', hidden: true}, h('table', {class: 'table stacked activity', id: 'activity-table'},
    h('thead', {}, h('tr', {}, ['When', 'What', 'By', 'From'].map((c) => h('th', {}, c)))), body));
  const pager = h('div', {class: 'pager', hidden: true}, info, more);
  const status = h('div', {class: 'card-body muted', id: 'activity-status', hidden: true});
  const card = h('div', {class: 'card', id: 'activity'},
    h('div', {class: 'card-head'}, h('h2', {}, 'Activity'),
      h('span', {class: 'hint'}, 'Keys, sign-ins, password, webhooks, share links and credits: who changed what, from where')),
    table, pager, status);
  const loadPage = olderPages({
    fetch: (page) => api.get('/v1/account/activity', {limit: ACTIVITY_PAGE, ...page})
      .then((answer) => ({items: answer.entries, pagination: answer.pagination})),
    keyOf: (entry) => entry.id, row: activityRow, body, info, more});
  /** The newest page; again from the newest after an action on this page adds an entry (a browser signed
   * out, the password changed), so the log shows it without a reload. */
  async function load() {
    try {
      const shown = await loadPage({restart: true});
      if (shown === null) return; // a newer load (another action's) draws the list
      table.hidden = pager.hidden = !shown;
      status.hidden = Boolean(shown);
      replace(status, shown ? null : 'Nothing yet.');
    } catch (err) {
      status.hidden = false;
      replace(status, h('div', {class: 'notice bad'}, h('strong', {}, 'Could not load the activity'), ' ', err.message));
    }
  }
  return {card, load};
}

/** Ends this browser's session and goes to sign-in (the Session card's button and this browser's row in the
 * "Signed in" list). */
function signOutHere(event) {
  return leave(event.currentTarget, false);
}

/** Ends this browser's session (`everywhere`: every session of the account) and goes to sign-in; `button` is disabled
 * while it is sent (pressed again it asked again, and got an error toast). */
async function leave(button, everywhere) {
  const done = busy(button);
  try {
    await signOut(everywhere);
  } catch (err) {
    toast(err.message); // the server did not answer: still signed in, the button works again
    done();
    return;
  }
  // Everywhere: the sign-in page says it happened (a bare sign-in form read as if nothing had).
  location.assign(everywhere ? '/sign-in?signed_out=everywhere' : '/sign-in');
}

// What a row's Sign out is called: the browser's name and the times the row shows, so that a screen reader's list of
// buttons tells apart several sessions of one browser (each was "Sign out Chrome on Linux"); this browser's says so.
function sessionLabel(session, what) {
  const active = session.current ? 'active now'
    : session.last_active_at ? `last active ${ago(session.last_active_at)}` : 'last active: not recorded';
  const where = session.client_address ? ` from ${session.client_address}` : '';
  return `${session.current ? 'this browser, ' : ''}${what}${where}, signed in ${ago(session.created_at)}, ${active}`;
}

/** Each session's Sign out name (sessionLabel); names still alike (two sessions of one browser signed in the same
 * minute) end with the exact sign-in time, then with their place among those alike ("2 of 3"). */
function sessionLabels(sessions) {
  const labels = sessions.map((s) => sessionLabel(s, describeUserAgent(s.user_agent)));
  const alike = (list, i) => list.filter((l) => l === list[i]).length > 1;
  const timed = labels.map((l, i) => (alike(labels, i) ? `${l} (signed in at ${dateTime(sessions[i].created_at)})` : l));
  return timed.map((l, i) => {
    if (!alike(timed, i)) return l;
    const same = timed.map((t, k) => [t, k]).filter(([t]) => t === l).map(([, k]) => k);
    return `${l}, ${same.indexOf(i) + 1} of ${same.length}`;
  });
}

// The browsers signed in to the account (GET /auth/sessions), most recently used first: what each is, from
// where, since when and when last used; every other one can be signed out from here (a browser left signed in
// on a shared computer, a lost phone).
function sessionRow(session, reload, label) {
  const what = describeUserAgent(session.user_agent);
  const facts = [
    session.client_address ? h('span', {class: 'mono', 'data-field': 'address'}, session.client_address) : null,
    h('span', {'data-field': 'created', title: dateTime(session.created_at)}, `Signed in ${ago(session.created_at)}`),
    session.current ? h('span', {'data-field': 'active'}, 'Active now')
      : h('span', {'data-field': 'active', title: session.last_active_at ? dateTime(session.last_active_at) : ''},
        session.last_active_at ? `Last active ${ago(session.last_active_at)}` : 'Last active: not recorded'),
  ].filter(Boolean);
  let action = null;
  if (session.current) {
    // This browser's own row signs it out too, as the Session card's button does: a person looking down the list
    // for "sign this one out" finds it where the others' are.
    action = h('button', {class: 'btn small', type: 'button', id: 'sign-out-this', 'aria-label': `Sign out ${label}`,
      on: {click: signOutHere}}, 'Sign out');
  } else {
    const button = h('button', {class: 'btn small', type: 'button', 'aria-label': `Sign out ${label}`}, 'Sign out');
    button.addEventListener('click', async () => {
      const done = busy(button);
      try {
        await request('POST', `/auth/sessions/${encodeURIComponent(session.session_id)}/end`);
        toast(`${what} signed out`);
      } catch (err) {
        // 404: it had ended meanwhile (signed out, expired): the refreshed list no longer shows it.
        if (err.status !== 404) { toast(err.message); done(); return; }
      }
      await reload();
    });
    action = button;
  }
  return h('li', {class: ['session', session.current ? 'current' : null], 'data-session-id': session.session_id},
    h('div', {class: 'session-main'},
      // "This browser" beside its name (on a phone the name keeps its line, not squeezed by a chip and a button).
      h('div', {class: 'session-head'}, h('div', {class: 'session-what', title: session.user_agent || ''}, what),
        session.current ? h('span', {class: 'chip current'}, 'This browser') : null),
      h('div', {class: 'session-facts muted small'}, ...facts.flatMap((fact, i) => i ? [' · ', fact] : [fact]))),
    action);
}

// `changed`: called after a browser is signed out from here (the activity log has a new entry).
function sessionsCard(changed) {
  const list = h('ul', {class: 'sessions', id: 'sessions-list'});
  const status = h('div', {class: 'card-body muted', id: 'sessions-status', hidden: true});
  const heading = h('h2', {}, 'Signed in');
  const card = h('div', {class: 'card', id: 'sessions-card'},
    h('div', {class: 'card-head'}, heading,
      h('span', {class: 'hint'}, 'Browsers signed in to this account: this one, then the most recently used')),
    list, status);
  // Loaded as the page opens, and again after a browser is signed out or the password changed: an earlier answer
  // that came last (the page's first, on a slow network, after a password change's) drew the browsers the change
  // had signed out back into the list, each with its Sign out. The newest load is the one drawn.
  let loads = 0;
  async function load() {
    const asked = ++loads;
    let sessions;
    try {
      ({sessions} = await request('GET', '/auth/sessions'));
    } catch (err) {
      if (asked !== loads) return;
      status.hidden = false;
      replace(status, h('div', {class: 'notice bad'}, h('strong', {}, 'Could not load the signed-in browsers'), ' ', err.message));
      return;
    }
    if (asked !== loads) return;
    status.hidden = true;
    // This browser first (where a person looks for "me"), then the others as listed: most recently used first.
    const ordered = [...sessions.filter((s) => s.current), ...sessions.filter((s) => !s.current)];
    // Another browser signed out from here: its row and the button that had the focus are gone, and the focus fell
    // to the page's top; it goes to the list's heading instead, as after a key's Revoke.
    const labels = sessionLabels(ordered);
    replace(list, ...ordered.map((session, i) => sessionRow(session,
      () => Promise.all([load(), changed()]).then(() => focusIfLost(heading)), labels[i])));
  }
  return {card, load};
}

const MIN_PASSWORD = 10; // jobservice/passwords.py

// The API's sentences start lower-case ("the current password is wrong"): a notice starts with a capital.
function sentence(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

// Change your own password: the current one proves it is you; every other session of the account ends (a
// browser left signed in elsewhere), this one stays. `changed`: called after a change; `refused`: after a wrong
// current password (the activity log records both).
function passwordCard(username, changed, refused) {
  // The account's name in the form, unseen: a password manager files the new password under it (Chrome: "Password
  // forms should have (optionally hidden) username fields"), not under whatever name it guesses, or none.
  const who = h('input', {type: 'text', name: 'username', autocomplete: 'username', value: username, readonly: true,
    hidden: true, tabindex: '-1', 'aria-hidden': 'true', id: 'password-username'});
  const current = h('input', {type: 'password', id: 'password-current', autocomplete: 'current-password'});
  const fresh = h('input', {type: 'password', id: 'password-new', autocomplete: 'new-password'});
  const again = h('input', {type: 'password', id: 'password-again', autocomplete: 'new-password'});
  const error = fieldError('password-error', {role: 'alert'});
  const said = h('div', {class: 'notice ok', id: 'password-changed', role: 'status', hidden: true, style: {marginBottom: '12px'}});
  const button = h('button', {class: 'btn', type: 'submit', id: 'password-change'}, 'Change password');
  const controls = [current, fresh, again];
  const errorSlot = h('div', {}, error); // the error's place when it is about no one field
  // The one error line goes under the field it is about: the server's "current password is wrong" was drawn under
  // "New password again", two fields below the one marked (on a phone a screen away from it).
  const fail = (control, message) => {
    (control ? control.closest('.field') : errorSlot).append(error);
    showError(control, error, message);
    control?.focus();
  };
  const form = h('form', {novalidate: true, id: 'password-form', on: {submit: async (event) => {
    event.preventDefault();
    for (const control of controls) clearError(control, error);
    said.hidden = true;
    if (!current.value) { fail(current, 'Enter your current password.'); return; }
    if (fresh.value.length < MIN_PASSWORD) { fail(fresh, `The new password must be at least ${MIN_PASSWORD} characters.`); return; }
    if (fresh.value !== again.value) { fail(again, 'The two new passwords differ: type the same one twice.'); return; }
    const done = busy(button);
    try {
      const result = await changePassword(current.value, fresh.value);
      for (const control of controls) control.value = '';
      const ended = result.other_sessions_ended || 0;
      said.textContent = ended
        ? `Password changed. ${ended === 1 ? 'Your other session was' : `Your ${ended} other sessions were`} signed out; this one stays signed in.`
        : 'Password changed. This session stays signed in.';
      said.hidden = false;
      changed();
    } catch (err) {
      // A wrong current password is about the first field; the new password's rules about the second.
      const about = /current password|wrong passwords/.test(err.message) ? current : /new password|the password must/.test(err.message) ? fresh : null;
      done();
      fail(about, sentence(err.message)); // after done(): the focus goes to the field to correct, not back to the button
      refused(); // a wrong current password is logged as a refused change
      return;
    }
    done();
  }}},
  who,
  field('Current password', current),
  h('div', {class: 'field-row'},
    field('New password', fresh, {help: `At least ${MIN_PASSWORD} characters; a few unrelated words are easy to remember.`}),
    field('New password again', again)),
  errorSlot,
  h('div', {class: 'row', style: {marginTop: '12px'}}, button));
  return h('div', {class: 'card', id: 'password-card', style: {maxWidth: '720px'}},
    h('div', {class: 'card-head'}, h('h2', {}, 'Password')),
    h('div', {class: 'card-body'},
      h('p', {class: 'muted small'}, 'Your dashboard password. Changing it signs out every other session of this account; API keys keep working.'),
      said, form));
}

export async function render(main, {session}) {
  const account = await api.get('/v1/account');
  const history = creditHistory(account.account.username);
  const activity = activityCard();
  const signedIn = sessionsCard(activity.load);
  const {jobs} = account;
  replace(main, pageHeader('Account', {sub: 'Credits, jobs, your dashboard session, where you’re signed in, your password, and what changed your account’s access.'}),
    h('div', {class: 'content stack'},
      h('div', {class: 'grid stats'},
        stat('Credit balance', num(account.credits.balance), account.credits.currency, 'credit-balance'),
        // Not "all time": deleted jobs are not counted (the usage page's "Jobs submitted" counts them).
        stat('Jobs', num(jobs.total), 'in your account now', 'jobs-total'),
        stat('Completed', num(jobs.completed), null, 'jobs-completed'),
        stat('Active', num(jobs.active), 'pending or running', 'jobs-active'),
        stat('Failed', num(jobs.failed), null, 'jobs-failed'),
        stat('Cancelled', num(jobs.cancelled ?? 0), null, 'jobs-cancelled')),
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
            h('p', {class: 'muted small'}, 'Sessions end on their own; a password change signs out every other session. Credits are added by an administrator.'),
            h('div', {class: 'row'},
              h('button', {class: 'btn', type: 'button', on: {click: signOutHere}}, 'Sign out'),
              h('button', {class: 'btn danger', type: 'button', id: 'sign-out-all', on: {click: async ({currentTarget: button}) => {
                const ok = await confirmDialog({title: 'Sign out everywhere?', body: 'Every dashboard session of this account ends, this one included. API keys keep working.', confirm: 'Sign out everywhere', danger: true});
                if (ok) await leave(button, true);
              }}}, 'Sign out everywhere'))))),
      history.card,
      signedIn.card,
      // A password change signs the other browsers out: the list shows it, and the activity log both.
      passwordCard(account.account.username, () => Promise.all([signedIn.load(), activity.load()]), activity.load),
      activity.card));
  await Promise.all([history.load(), signedIn.load(), activity.load()]);
}
