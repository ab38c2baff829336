// Account: who you are, credits, job counts, and the sign-in session.

import {api, signOut} from '../api.js';
import {pageHeader} from '../app.js';
import {confirmDialog, h, replace} from '../dom.js';
import {dateTime, num} from '../format.js';

export const title = 'Account';

function stat(label, value, note, id) {
  return h('div', {class: 'card stat', id}, h('div', {class: 'label'}, label), h('div', {class: 'value'}, value), note ? h('div', {class: 'note'}, note) : null);
}

export async function render(main, {session}) {
  const account = await api.get('/v1/account');
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
          h('div', {class: 'card-body'}, h('dl', {class: 'kv'},
            h('dt', {}, 'Username'), h('dd', {id: 'account-username'}, account.account.username),
            h('dt', {}, 'Email'), h('dd', {}, account.account.email || h('span', {class: 'muted'}, 'not set')),
            h('dt', {}, 'Account id'), h('dd', {class: 'mono'}, String(account.account.id)),
            h('dt', {}, 'Member since'), h('dd', {}, dateTime(account.account.created_at))))),
        h('div', {class: 'card'}, h('div', {class: 'card-head'}, h('h2', {}, 'Session')),
          h('div', {class: 'card-body'},
            h('dl', {class: 'kv'}, h('dt', {}, 'Signed in as'), h('dd', {}, session.username),
              h('dt', {}, 'Session ends'), h('dd', {}, dateTime(session.expires_at))),
            h('p', {class: 'muted small'}, 'Sessions end on their own; a password change signs out every session. Credits are added by an administrator.'),
            h('div', {class: 'row'},
              h('button', {class: 'btn', type: 'button', on: {click: async () => { await signOut(false); location.assign('/sign-in'); }}}, 'Sign out'),
              h('button', {class: 'btn danger', type: 'button', id: 'sign-out-all', on: {click: async () => {
                const ok = await confirmDialog({title: 'Sign out everywhere?', body: 'Every dashboard session of this account ends, this one included. API keys keep working.', confirm: 'Sign out everywhere', danger: true});
                if (ok) { await signOut(true); location.assign('/sign-in'); }
              }}}, 'Sign out everywhere')))))));
}
