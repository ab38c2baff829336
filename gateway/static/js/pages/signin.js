// Sign in with the account's username and the password set with `.venv/bin/phonos users set-password` (the
// operator's command on the server).

import {SESSION_ENDED_KEY, signIn} from '../api.js';
import {brand} from '../app.js';
import {busy, field, h, replace} from '../dom.js';

function safeNext() {
  // Only a path on this site: never an open redirect to another origin. Read as the browser will read it: it takes
  // "/\evil.example" (a backslash) or "/\t/evil.example" for "//evil.example", another site. The whole URL is
  // returned, not its path: "/.//evil.example" resolves (dot segments removed) to the path "//evil.example",
  // which location.assign read as another site.
  const next = new URLSearchParams(location.search).get('next') || '/jobs';
  try {
    const url = new URL(next, location.origin);
    if (next.startsWith('/') && url.origin === location.origin) return url.href;
  } catch { /* not a URL at all */ }
  return '/jobs';
}

/** A page whose session ended while it was open (api.js toSignInAfterSessionEnded): why it is here, above the form. */
function sessionEnded() {
  let ended = null;
  try {
    ended = sessionStorage.getItem(SESSION_ENDED_KEY);
    sessionStorage.removeItem(SESSION_ENDED_KEY); // said once: a reload, or the next sign-in, is a plain form
  } catch { /* storage off */ }
  if (ended !== '1' || new URLSearchParams(location.search).get('signed_out') === 'everywhere') return null;
  return h('div', {class: 'notice warn', role: 'status', id: 'session-ended', style: {marginTop: '14px'}},
    h('div', {}, h('strong', {}, 'Your session has ended'),
      'It expired, or was signed out here or from another tab or device. Sign in again to go back where you were.'));
}

/** After the Account page's "Sign out everywhere": what happened, above the form. */
function signedOutEverywhere() {
  if (new URLSearchParams(location.search).get('signed_out') !== 'everywhere') return null;
  return h('div', {class: 'notice ok', role: 'status', id: 'signed-out-everywhere', style: {marginTop: '14px'}},
    h('div', {}, h('strong', {}, 'Signed out everywhere'),
      'Every dashboard session of this account has ended, this one included. API keys keep working.'));
}

const SET_PASSWORD = '.venv/bin/phonos users set-password --username NAME';

export async function render(root) {
  document.title = 'Sign in · phonos';
  const error = h('div', {class: 'notice bad form-error', role: 'alert', hidden: true, id: 'sign-in-error'});
  const username = h('input', {type: 'text', name: 'username', id: 'username', autocomplete: 'username', required: true});
  const password = h('input', {type: 'password', name: 'password', id: 'password', autocomplete: 'current-password', required: true});
  const submit = h('button', {class: 'btn primary', type: 'submit'}, 'Sign in');
  const form = h('form', {class: 'fields', novalidate: true, on: {submit: async (event) => {
    event.preventDefault();
    error.hidden = true;
    for (const box of [username, password]) { box.removeAttribute('aria-invalid'); box.removeAttribute('aria-describedby'); }
    if (!username.value.trim() || !password.value) {
      // Said here, as a sentence: the server's answer to an empty form was lower-case ("enter a username and a password").
      replace(error, h('div', {}, h('strong', {}, 'Could not sign in'), 'Enter a username and a password.'));
      error.hidden = false;
      const empty = [username, password].filter((box) => !box.value.trim());
      for (const box of empty) { box.setAttribute('aria-invalid', 'true'); box.setAttribute('aria-describedby', error.id); }
      empty[0].focus();
      return;
    }
    const done = busy(submit);
    submit.textContent = 'Signing in…';
    try {
      await signIn(username.value, password.value);
      location.assign(safeNext());
    } catch (err) {
      replace(error, h('div', {}, h('strong', {}, err.status === 429 ? 'Too many attempts' : 'Could not sign in'), err.message));
      error.hidden = false;
      // Either may be wrong (the server does not say which): both are marked, and described by the message.
      for (const box of [username, password]) { box.setAttribute('aria-invalid', 'true'); box.setAttribute('aria-describedby', error.id); }
      submit.textContent = 'Sign in';
      done();
      password.focus(); // what to type again (the alert is announced meanwhile)
      password.select();
    }
  }}},
  field('Username', username),
  field('Password', password),
  submit);
  replace(root, h('div', {class: 'signin-wrap'},
    h('div', {class: 'signin'},
      h('div', {class: 'card'}, h('div', {class: 'card-body'},
        brand(null), // the sidebar's logo, name and tagline (app.js), not a copy that could drift
        h('h1', {}, 'Sign in'),
        h('div', {class: 'muted'}, 'Use your phonos account to manage jobs, keys and webhooks.'),
        signedOutEverywhere(), sessionEnded(),
        error,
        h('div', {class: 'fields', style: {marginTop: '18px'}}, form))),
      // The operator's command as a fresh install has it (.venv/bin/phonos, not on PATH: the serve banner prints
      // it so, launcher/banner.py), run on the server from the install folder; `phonos users set-password` as
      // printed here answered "command not found". Relative: this page is public, so no server path is shown.
      // Each word unbreakable (a line break fell inside "set-password", at its hyphen), the spaces still break.
      h('div', {class: 'foot'}, 'No password yet? An administrator sets one on the server, from the phonos folder: ',
        h('code', {}, SET_PASSWORD.split(' ').flatMap((word, i) => [i ? ' ' : '', h('span', {}, word)])), '.'))));
  username.focus();
}
