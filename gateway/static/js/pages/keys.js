// API keys: list (never the secrets), create (the key is shown once; optionally expiring or read-only), change rate
// limits, revoke.
// The browser itself never stores a key: this page uses the session cookie.

import {api} from '../api.js';
import {pageHeader} from '../app.js';
import {busy, clearError, confirmDialog, field, fieldError, focusIfLost, h, icon, replace, showError, toast} from '../dom.js';
import {ago, dateTime} from '../format.js';
import {secretCallout} from './webhooks.js';

export const title = 'API keys';
const MAX_NAME = 100; // the job service's MAX_KEY_NAME

/** The API's message about a key in the page's words: "rate_limit must be…" named the API's field, not the box. */
function inFormWords(message) {
  return message.replace(/^rate_limit\b/, 'The rate limit').replace(/\brate_limit\b/g, 'the rate limit');
}
const EXPIRY_CHOICES = [['', 'Never'], ['30', 'In 30 days'], ['90', 'In 90 days'], ['365', 'In 1 year']];

/** An inline editor in `cell`: `control`, then Save and Cancel; Enter saves and Escape cancels; a refusal shows
 * under it in the API's words. `save()` does the work (and redraws the table); `cancel()` puts the cell back.
 * `name` goes into the Save button's data-action and the error's data-error ("name", "expiry"). Saved or
 * cancelled, the editor is gone, and the keyboard's focus with it: it goes back to the button that opened it
 * (`opener(key)` finds it in the table as drawn again), not to the page's top. */
function inlineEditor(cell, control, {name, save, cancel, rowClass, opener, focus = true, errorId}) {
  const note = h('div', {});
  const back = () => {
    if (document.activeElement && document.activeElement !== document.body) return;
    opener()?.focus(); // a button: in the tab order already (focusIfLost would take it out)
  };
  const submit = async () => {
    try {
      await save();
      back();
    } catch (err) {
      // Tied to the control (aria-invalid, aria-describedby), as a form's errors are.
      const error = fieldError(errorId, {role: 'alert', 'data-error': name});
      replace(note, error);
      showError(control, error, err.message);
    }
  };
  const stop = () => { cancel(); back(); };
  control.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') { event.preventDefault(); submit(); }
    if (event.key === 'Escape') { event.preventDefault(); stop(); }
  });
  replace(cell, h('div', {class: rowClass ? ['row', rowClass] : 'row'}, control,
    h('button', {class: 'btn small', type: 'button', 'data-action': `save-${name}`, on: {click: submit}}, 'Save'),
    h('button', {class: 'btn small', type: 'button', on: {click: stop}}, 'Cancel')), note);
  if (focus) control.focus(); // not when the table is drawn again under an editor left open (drafts below)
}

/** What a person has open or typed in the keys table and not saved (a rename, an expiry being changed, a rate limit
 * typed), by key id. The table is drawn again after every action (another key's Save, a Revoke, a new key): an
 * editor left open on another row was closed by it, and the words typed in it lost. Drawn again, each row opens
 * them again from here; Cancel or a Save that worked forgets them. */
function draftsOf() {
  const drafts = new Map(); // key id -> {name?, expiry?, limit?}
  return {
    get: (key, field) => drafts.get(key.key_id)?.[field],
    set: (key, field, value) => drafts.set(key.key_id, {...drafts.get(key.key_id), [field]: value}),
    forget: (key, field) => { const d = drafts.get(key.key_id); if (d) delete d[field]; },
  };
}

/** Where the keyboard's focus is in the keys table (its key's row, the control, the caret), to put it back in the
 * table drawn again. */
function focusInTable() {
  const el = document.activeElement;
  const tr = el?.closest?.('#keys-table tr[data-key-id]');
  if (!tr) return null;
  const which = ['data-action', 'data-field'].map((a) => el.getAttribute(a) && `[${a}="${el.getAttribute(a)}"]`).find(Boolean)
    || (el.classList.contains('limit') ? 'input.limit' : null);
  const caret = typeof el.selectionStart === 'number' && el.type !== 'number' ? [el.selectionStart, el.selectionEnd] : null;
  return which ? {keyId: tr.dataset.keyId, which, caret} : null;
}

function refocus(focus) {
  if (!focus || (document.activeElement && document.activeElement !== document.body)) return;
  const el = document.querySelector(`#keys-table tr[data-key-id="${CSS.escape(focus.keyId)}"] ${focus.which}`);
  if (!el) return;
  el.focus();
  if (focus.caret) el.setSelectionRange(...focus.caret);
}

/** The button `action` ("rename", "expiry") of the key's row as the table shows it now. */
function rowButton(key, action) {
  return document.querySelector(`#keys-table tr[data-key-id="${CSS.escape(key.key_id)}"] [data-action="${action}"]`);
}

/** A key's scope and expiry, a line under its name: "read-only" / "full access", "expires <date>" / "expired";
 * a key not revoked has "Change" (an expired key works again once its new expiry is in the future). Under the
 * name rather than a column of its own: beside the sidebar at 1024 px a seventh column left the names ~160 px. */
function accessLine(key, saveExpiry, drafts) {
  const scope = key.scope === 'read_only'
    ? h('span', {class: 'pill read-only', 'data-field': 'scope'}, 'read-only')
    : h('span', {class: 'muted', 'data-field': 'scope'}, 'full access');
  let expiry = h('span', {class: 'small muted', 'data-field': 'expiry'}, 'never expires');
  // When it expired, in words as well as in the pill's tooltip (which a phone never shows).
  if (key.revoked) expiry = null; // a revoked key's expiry means nothing any more ("revoked" beside "expires 2 Jan")
  else if (key.expired) {
    expiry = [h('span', {class: 'pill expired', 'data-field': 'expiry', title: dateTime(key.expires_at)}, 'expired'),
      h('span', {class: 'small muted', 'data-field': 'expired-at'}, `on ${dateTime(key.expires_at)}`)];
  }
  else if (key.expires_at) expiry = h('span', {class: 'small', 'data-field': 'expiry', title: dateTime(key.expires_at)}, `expires ${dateTime(key.expires_at)}`);
  const cell = h('div', {class: 'access-line'});
  const show = () => replace(cell, h('div', {class: 'access'}, scope, expiry, key.revoked ? null
    : h('button', {class: 'btn link small', type: 'button', 'data-action': 'expiry', on: {click: () => edit()},
      'aria-label': `Change when ${key.name || key.key_id} expires`}, key.expired ? 'Renew' : 'Change')));
  function edit(draft) {
    const choice = h('select', {'data-field': 'new-expiry', 'aria-label': 'Expires'},
      EXPIRY_CHOICES.map(([value, label]) => h('option', {value}, label)));
    // Not "Never" first: Save on it would change nothing for a key that never expires, and would make a key
    // renewed in a hurry never expire.
    choice.value = draft ?? '30';
    drafts.set(key, 'expiry', choice.value);
    choice.addEventListener('change', () => drafts.set(key, 'expiry', choice.value));
    inlineEditor(cell, choice, {name: 'expiry', cancel: () => { drafts.forget(key, 'expiry'); show(); },
      opener: () => rowButton(key, 'expiry'), focus: draft === undefined, errorId: `expiry-error-${key.key_id}`,
      save: () => saveExpiry(key, choice.value === '' ? 0 : Number(choice.value))}); // '' (Never): 0 days
  }
  const draft = key.revoked ? undefined : drafts.get(key, 'expiry');
  if (draft !== undefined) edit(draft); else show();
  return cell;
}

export async function render(main) {
  const drafts = draftsOf();
  const callout = h('div', {});
  let shownKeyId = null; // the key whose secret the callout shows
  const listCard = h('div', {class: 'card'});
  // No maxlength: a 150-character name pasted in was cut to 100 without a word; it is refused, saying why (submit).
  const name = h('input', {type: 'text', id: 'key-name', placeholder: 'e.g. lab workstation'});
  const limit = h('input', {type: 'number', id: 'key-rate-limit', min: 1, step: 1});
  const error = fieldError('key-error', {role: 'alert'});
  const errorSlot = h('div', {}, error); // the error's place when it is about no one field
  // The one error line goes under the field it is about (the refused rate limit's was drawn at the form's foot,
  // under Expires and Access, while its box turned red), and that field takes the focus.
  const fail = (control, message) => {
    (control ? control.closest('.field') : errorSlot).append(error);
    showError(control, error, message);
    control?.focus(); // the field to correct (the focus stayed on Create key), as the New job form does
  };
  const limitHelp = h('span', {});
  const expiry = h('select', {id: 'key-expiry'}, EXPIRY_CHOICES.map(([value, label]) => h('option', {value}, label)));
  const readOnly = h('input', {type: 'checkbox', id: 'key-read-only', 'aria-describedby': 'key-read-only-help'});
  const create = h('button', {class: 'btn primary', type: 'submit', id: 'key-create'}, 'Create key');
  const form = h('form', {novalidate: true, id: 'key-form', on: {submit: async (event) => {
    event.preventDefault();
    clearError(name, error);
    clearError(limit, error);
    if (name.value.trim().length > MAX_NAME) {
      fail(name, `A key name has at most ${MAX_NAME} characters; this one has ${name.value.trim().length}.`);
      return;
    }
    const done = busy(create);
    try {
      const body = {};
      if (name.value.trim()) body.name = name.value.trim();
      if (limit.value !== '') body.rate_limit = Number(limit.value);
      if (expiry.value) body.expires_in_days = Number(expiry.value);
      if (readOnly.checked) body.scope = 'read_only';
      const created = await api.post('/v1/keys', body);
      shownKeyId = created.key.key_id;
      replace(callout, secretCallout(`New key ${created.key.name ? `“${created.key.name}”` : created.key.key_id}`, created.api_key,
        h('span', {}, 'Use it as ', h('code', {}, 'Authorization: Bearer <key>'), '.'),
        'Copy it now: it is not shown again (phonos stores only its SHA-256).'));
      callout.querySelector('button').focus(); // its Copy: what comes next, rather than Create again
      name.value = '';
      limit.value = ''; // the form starts again, every box of it (the rate limit's kept its number)
      expiry.value = '';
      readOnly.checked = false;
      await load();
    } catch (err) {
      // role=alert announces it; the field it is about is also marked invalid and described by it.
      const invalid = /rate_limit/.test(err.message) ? limit : /^name\b/.test(err.message) ? name : null;
      done();
      fail(invalid, inFormWords(err.message)); // after done(): the focus goes to the field, not back to Create key
      return;
    }
    done();
  }}},
  h('div', {class: 'field-row'},
    field('Name', name, {help: `To recognise the key later; up to ${MAX_NAME} characters.`}),
    field('Rate limit (requests/min)', limit, {help: limitHelp})),
  h('div', {class: 'field-row', style: {marginTop: '12px'}},
    field('Expires', expiry, {help: 'The key stops working then; requests get a 401 that says it expired.'}),
    h('div', {class: 'field'}, h('span', {class: 'label'}, 'Access'),
      h('label', {class: 'check'}, readOnly, 'Read-only'),
      h('div', {class: 'help', id: 'key-read-only-help'},
        'Can list and download jobs and read the account and usage; cannot submit, cancel, delete or change anything (403).'))),
  errorSlot,
  h('div', {style: {marginTop: '16px'}}, create));

  replace(main, pageHeader('API keys', {sub: 'Keys authenticate scripts and pipelines against the /v1 API and gRPC.'}),
    h('div', {class: 'content stack'}, callout, listCard,
      h('div', {class: 'card', style: {maxWidth: '720px'}}, h('div', {class: 'card-head'}, h('h2', {}, 'Create a key')), h('div', {class: 'card-body'}, form))));

  async function revoke(key, activeCount, button) {
    const last = activeCount <= 1 && !key.expired; // revoking an expired key loses nothing
    const ok = await confirmDialog({
      title: `Revoke ${key.name ? `“${key.name}”` : key.key_id}?`,
      body: last
        ? 'This is the account’s last active key: scripts using it stop working at once and no key will work until you create a new one here.'
        : 'Requests made with this key are refused from the very next one, on every route and over gRPC. This cannot be undone.',
      confirm: 'Revoke key', danger: true,
    });
    if (!ok) return;
    // Disabled while the key is revoked (the table is then drawn again without it): a second press asked again and
    // got the API's refusal of a key already revoked.
    const done = busy(button);
    try {
      await api.post(`/v1/keys/${encodeURIComponent(key.key_id)}/revoke`, {confirm_last_key: last});
    } catch (err) {
      done();
      throw err;
    }
    toast('Key revoked');
    if (key.key_id === shownKeyId) replace(callout); // "copy it now" about a key that no longer works
    await load();
    focusIfLost(listCard.querySelector('h2, .title')); // its Revoke button is gone
  }

  async function saveExpiry(key, days) {
    await api.patch(`/v1/keys/${encodeURIComponent(key.key_id)}`, {expires_in_days: days});
    drafts.forget(key, 'expiry');
    toast(days ? `The key now expires in ${days} days` : 'The key no longer expires');
    await load();
  }

  async function saveLimit(key, input, cell) {
    // The table is drawn again: the keyboard's focus goes back to the box or the Save button it was on (it fell to
    // the page's top), in the key's new row.
    const on = document.activeElement === input ? 'input.limit' : '[data-action="save-limit"]';
    try {
      await api.patch(`/v1/keys/${encodeURIComponent(key.key_id)}`, {rate_limit: Number(input.value)});
      drafts.forget(key, 'limit');
      toast('Rate limit saved');
      await load();
      if (!document.activeElement || document.activeElement === document.body) {
        document.querySelector(`#keys-table tr[data-key-id="${CSS.escape(key.key_id)}"] ${on}`)?.focus();
      }
    } catch (err) {
      // Tied to its box (aria-invalid, aria-describedby), as the form's errors are; it wraps under the box (app.css)
      // rather than widening the table past its card.
      const error = fieldError(`limit-error-${key.key_id}`, {role: 'alert', 'data-error': 'rate-limit'});
      replace(cell, error);
      showError(input.isConnected ? input : null, error, inFormWords(err.message));
    }
  }

  function nameCell(key) {
    const cell = h('td', {class: 'name', 'data-label': 'Key'});
    const access = accessLine(key, saveExpiry, drafts);
    const show = () => replace(cell, h('span', {}, key.name || 'Unnamed key'),
      key.revoked ? null : h('button', {class: 'btn link small rename', type: 'button', 'data-action': 'rename',
        'aria-label': `Rename ${key.name || key.key_id}`, on: {click: () => edit()}}, 'Rename'),
      // The secret's first characters (what a person finds in a script) beside the id the API and CLI use.
      h('span', {class: 'id'}, h('span', {'data-field': 'prefix'}, `${key.prefix}…`), ` · ${key.key_id}`), access);
    function edit(draft) {
      const input = h('input', {type: 'text', value: draft ?? (key.name || ''), maxlength: MAX_NAME, 'data-field': 'name',
        'aria-label': 'Key name'});
      drafts.set(key, 'name', input.value);
      input.addEventListener('input', () => drafts.set(key, 'name', input.value));
      inlineEditor(cell, input, {name: 'name', rowClass: 'rename-row', cancel: () => { drafts.forget(key, 'name'); show(); },
        opener: () => rowButton(key, 'rename'), focus: draft === undefined, errorId: `name-error-${key.key_id}`,
        save: async () => {
          // A blank name clears the key's name (the API's answer has none then): "Key renamed" over a row that says
          // "Unnamed key" misled.
          const {key: saved} = await api.patch(`/v1/keys/${encodeURIComponent(key.key_id)}`, {name: input.value.trim()});
          drafts.forget(key, 'name');
          toast(saved?.name ? 'Key renamed' : 'Key name cleared');
          await load();
        }});
      if (draft === undefined) input.select();
    }
    const draft = key.revoked ? undefined : drafts.get(key, 'name');
    if (draft !== undefined) edit(draft); else show();
    return cell;
  }

  async function load() {
    const {keys, max_rate_limit: max} = await api.get('/v1/keys');
    limit.max = String(max);
    limit.placeholder = String(Math.min(60, max));
    limitHelp.textContent = `1 to ${max}: this account’s maximum.`;
    const active = keys.filter((k) => !k.revoked && !k.expired).length; // keys that work
    const focus = focusInTable(); // in a row left as it was (an editor still open): it stays there
    if (!keys.length) {
      replace(listCard, h('div', {class: 'empty'}, icon('keys'), h('div', {class: 'title'}, 'No keys yet'), h('div', {}, 'Create one below.')));
      return;
    }
    replace(listCard, h('div', {class: 'card-head'}, h('h2', {}, 'Keys'), h('span', {class: 'hint'}, `${active} active · up to ${max} requests/min each`)),
      h('div', {class: 'table-scroll'}, h('table', {class: 'table stacked', id: 'keys-table'},
        h('thead', {}, h('tr', {}, ['Key', 'Created', 'Last used', 'Rate limit', ''].map((c) => h('th', {}, c)))),
        h('tbody', {}, keys.map((key) => {
          const note = h('div', {});
          // Which key a row's box and Save act on: a screen reader's list said "Save, Save, Save".
          const which = key.name || key.key_id; // as its Rename, Change and Revoke name it
          // Enter in the box saves, as in the rename and expiry editors (it did nothing: no form round it).
          const input = h('input', {type: 'number', min: 1, max, value: drafts.get(key, 'limit') ?? key.rate_limit, class: 'limit',
            disabled: key.revoked, 'aria-label': `Rate limit of ${which}, requests per minute`,
            on: {keydown: (event) => { if (event.key === 'Enter') { event.preventDefault(); saveLimit(key, input, note); } },
              input: () => drafts.set(key, 'limit', input.value)}});
          return h('tr', {'data-key-id': key.key_id, 'data-revoked': String(key.revoked)},
            nameCell(key),
            h('td', {'data-label': 'Created', title: dateTime(key.created_at)}, ago(key.created_at)),
            h('td', {'data-label': 'Last used', title: key.last_used_at ? dateTime(key.last_used_at) : ''}, key.last_used_at ? ago(key.last_used_at) : h('span', {class: 'muted'}, 'never')),
            // The box's number has its unit beside it ("60 /min"), as the revoked key's text does: the column said
            // only "Rate limit", and 60 could be per second, minute or hour.
            h('td', {'data-label': 'Rate limit'}, key.revoked ? `${key.rate_limit}/min` : h('div', {class: 'row'}, input,
              h('span', {class: 'unit muted small', 'aria-hidden': 'true'}, '/min'),
              h('button', {class: 'btn small', type: 'button', 'data-action': 'save-limit', 'aria-label': `Save rate limit of ${which}`,
                on: {click: () => saveLimit(key, input, note)}}, 'Save')), note),
            // An active key's Revoke button, or a revoked key's badge: the row of green "active" pills said nothing.
            h('td', {class: 'num actions'}, key.revoked
              ? [h('span', {class: 'pill revoked'}, 'revoked'), ' ', h('span', {class: 'small muted', 'data-field': 'revoked-at', title: key.revoked_at ? dateTime(key.revoked_at) : ''}, key.revoked_at ? ago(key.revoked_at) : '')]
              : h('button', {class: 'btn small danger', type: 'button', 'data-action': 'revoke', 'aria-label': `Revoke ${key.name || key.key_id}`,
                on: {click: (event) => revoke(key, active, event.currentTarget).catch((e) => toast(e.message))}}, 'Revoke')));
        })))));
    refocus(focus);
  }
  await load();
}
