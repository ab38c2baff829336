// Webhooks: list (with how each one's job events are received: its last delivery, "Failing since"), create (the signing secret is shown once), send a test event, rotate the signing secret (the new
// one shown once, the old one signing beside it for a day), delete, and each one's delivery log (what was sent,
// what the receiver answered), where a delivered or failed event is sent again.

import {api} from '../api.js';
import {pageHeader} from '../app.js';
import {announce, busy, clearError, confirmDialog, copyText, field, fieldError, fieldGroup, focusIfLost, h, icon, replace, showError, toast} from '../dom.js';
import {ago, dateTime, shortId} from '../format.js';
import {olderPages} from '../pager.js';

export const title = 'Webhooks';
// The seed's three are ticked, as the API's default; job.cancelled is opt-in (the API sends it only to a webhook that
// lists it), so it is offered unticked, with a line saying when it comes.
const EVENTS = [
  {name: 'job.started', ticked: true},
  {name: 'job.completed', ticked: true},
  {name: 'job.failed', ticked: true},
  {name: 'job.cancelled', ticked: false, note: 'sent when a job is cancelled (queued or running); only when ticked.'},
];
const DELIVERY_PAGE = 20;
const DELIVERY_STATUSES = ['', 'failed', 'pending', 'delivered'];
const PILL = {delivered: 'completed', failed: 'failed', pending: 'pending'};  // the jobs page's colours
// How long a rotated-out secret keeps signing (the API's default, said in the confirm): a day to deploy the new one.
const OVERLAP_S = 86400;
const NEVER_TESTED = 'Never tested';

// What the receiver made of a delivery's last attempt, in a line.
function answer(d) {
  if (d.status === 'delivered') return `HTTP ${d.last_status_code}`;
  const last = d.last_error || (d.attempts ? '' : 'Not sent yet');
  if (d.status !== 'pending' || !d.next_attempt_at) return last;
  const when = ago(d.next_attempt_at);  // a future time: "in 5 minutes"
  return `${last}${last ? ' · ' : ''}next attempt ${when === 'just now' ? 'soon' : when}`;
}

function deliveryRow(d, redeliver) {
  // Named for the delivery it resends ("Send again, Send again" is all a list of them said), its visible words first.
  const what = `${d.event}${d.job_id ? ` of job ${shortId(d.job_id)}` : ''}, ${ago(d.created_at)}`;
  // A test is sent once: the server refuses to send it again (Send test sends a new one).
  const again = d.status === 'pending' || d.event === 'webhook.test' ? null : h('button', {class: 'btn small', type: 'button', 'data-action': 'redeliver',
    'aria-label': `Send again ${what}`, on: {click: (event) => redeliver(d, event.currentTarget)}}, 'Send again');
  return h('tr', {'data-delivery-id': d.delivery_id, 'data-status': d.status},
    h('td', {'data-label': 'When', title: dateTime(d.created_at)}, ago(d.created_at)),
    h('td', {'data-label': 'Event'}, h('span', {class: 'chip'}, d.event)),
    h('td', {'data-label': 'Job'}, d.job_id
      ? h('a', {class: 'mono small', href: `/jobs/${encodeURIComponent(d.job_id)}`}, shortId(d.job_id)) : '-'),
    h('td', {'data-label': 'Status'}, h('span', {class: ['pill', PILL[d.status] || 'pending'], 'data-status': d.status}, d.status)),
    h('td', {class: 'num', 'data-label': 'Attempts'}, String(d.attempts)),
    h('td', {class: 'answer small', 'data-label': 'Answer',
      title: d.last_attempt_at ? `last attempt ${dateTime(d.last_attempt_at)}` : ''}, answer(d)),
    h('td', {class: 'num actions'}, again));
}

// One webhook's delivery log: newest first, a status filter, "Show older", and "Send again".
function deliveryLog(hook) {
  const body = h('tbody', {id: 'deliveries-body'});
  const info = h('span', {id: 'deliveries-info'});
  const more = h('button', {class: 'btn small', type: 'button', id: 'deliveries-more', hidden: true}, 'Show older');
  const filter = h('select', {id: 'deliveries-status', 'aria-label': 'Delivery status'},
    DELIVERY_STATUSES.map((st) => h('option', {value: st}, st ? st[0].toUpperCase() + st.slice(1) : 'All')));
  const table = h('div', {class: 'table-scroll'}, h('table', {class: 'table stacked', id: 'deliveries-table'},
    h('thead', {}, h('tr', {}, ['When', 'Event', 'Job', 'Status', 'Attempts', 'Receiver answered', ''].map(
      (c, i) => h('th', {class: i === 4 ? 'num' : ''}, c)))), body));
  const empty = h('div', {class: 'card-body muted', id: 'deliveries-empty', hidden: true});
  const pager = h('div', {class: 'pager', id: 'deliveries-pager'}, info, more);
  const card = h('div', {class: 'card', id: 'deliveries-card'},
    h('div', {class: 'card-head'}, h('h2', {}, 'Deliveries'),
      h('span', {class: 'hint mono', style: {wordBreak: 'break-all'}}, hook.url), filter),
    table, empty, pager);
  const loadPage = olderPages({
    fetch: (page) => api.get(`/v1/webhooks/${encodeURIComponent(hook.webhook_id)}/deliveries`,
      {limit: DELIVERY_PAGE, ...page, ...(filter.value ? {status: filter.value} : {})})
      .then((page) => ({items: page.deliveries, pagination: page.pagination})),
    keyOf: (d) => d.delivery_id, row: (d) => deliveryRow(d, redeliver), body, info, more});

  async function redeliver(d, button) {
    const done = busy(button);
    try {
      const {delivery} = await api.post(`/v1/webhooks/${encodeURIComponent(hook.webhook_id)}/deliveries/${encodeURIComponent(d.delivery_id)}/redeliver`);
      toast(`Sent again as delivery ${delivery.delivery_id}`);
      await load({restart: true});
      done(true, body.querySelector('tr')); // the list starts again: the focus goes to its newest row, the new delivery
    } catch (err) {
      toast(err.message);
      done();
    }
  }

  async function load(options) {
    const shown = await loadPage(options);
    if (shown === null) return; // another filter chosen meanwhile: its load draws the list
    table.hidden = !shown;
    pager.hidden = !shown; // nothing to count or page through: no empty ruled strip under "No deliveries yet"
    empty.hidden = !!shown;
    empty.textContent = filter.value ? `No ${filter.value} deliveries.` : 'No deliveries yet: events are queued here as jobs start, complete or fail.';
  }
  filter.addEventListener('change', () => load({restart: true}).catch((e) => toast(e.message)));
  return {card, load};
}

/** A webhook rotated not long ago: the secret it replaced still signs its deliveries (a second v1= and v2=) until the API's
 * `previous_secret_expires_at`, absent once only the current one signs. Said in words under the receiver's URL
 * (the pill a cue for the eye), so a screen reader and a phone (no tooltips) get the time too: a receiver still on
 * the old secret must switch before then. */
function overlapLine(hook) {
  const until = hook.previous_secret_expires_at;
  if (!until) return null;
  return h('div', {class: 'access-line secret-overlap', 'data-field': 'secret-overlap'},
    h('span', {class: 'access'}, h('span', {class: 'pill expired'}, 'rotating'),
      h('span', {class: 'small'}, 'Old secret still signs until ',
        h('time', {datetime: until, title: dateTime(until)}, dateTime(until)), ` (${ago(until)})`)));
}

/** A receiver whose newest job events keep failing (the API's `failing_since`, cleared by the next delivered one):
 * said in words under its URL, as the overlap is, so a broken receiver shows on the list rather than only in each
 * webhook's delivery log; the pill a cue for the eye, the time in words for a screen reader and a phone. */
function failingLine(hook) {
  const since = hook.failing_since;
  if (!since) return null;
  // In the page's own font and broken at spaces, not the URL's mono break-anywhere (app.css does it for the overlap;
  // set here to keep the change to this page).
  return h('div', {class: 'access-line failing', 'data-field': 'failing-since',
    style: {fontFamily: 'var(--sans)', wordBreak: 'normal'}},
    h('span', {class: 'access'}, h('span', {class: 'pill failed'}, 'failing'),
      h('span', {class: 'small'}, 'Failing since ',
        h('time', {datetime: since, title: dateTime(since)}, dateTime(since)), ` (${ago(since)})`)));
}

/** When a pending delivery's next attempt is due (the log's `next_attempt_at`), in words: "in ~40 s", "in 5 minutes";
 * "due now" once the time has come (the sender picks it up within a moment). */
function nextTryText(iso) {
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  if (!(seconds > 0)) return 'due now';
  return seconds < 60 ? `in ~${Math.ceil(seconds)} s` : ago(iso);
}

/** The pill's word for a delivery's state: a pending one that has had an attempt is being retried ("pending" beside
 * the failure's words read as if nothing had been tried), one with none is queued. */
function stateWord(last) {
  if (last.status !== 'pending') return last.status;
  return last.status_code || last.error ? 'retrying' : 'queued';
}

/** The newest job-event delivery's outcome (the API's `last_delivery`; test events are in "Last test"): its state
 * as the log's pill ("retrying" while a failed one waits for its next attempt), the receiver's answer, when, and
 * for a retry when the next attempt is due (the delivery log's `next_attempt_at`: the listing does not carry it);
 * "No job event sent yet" before the first. Parts apart with " · ", and a colon after the pill for a screen reader: the
 * state, the failure's words and the time ran together ("Pending the receiver could not be reached … just now"). A
 * line under the URL as the failing mark is, not a column of its own: a sixth column pushed the row's buttons out of
 * its card beside the sidebar at 1024 px. */
function lastDeliveryLine(hook) {
  const last = hook.last_delivery;
  const line = h('div', {class: 'access-line last-delivery small', 'data-field': 'last-delivery',
    style: {fontFamily: 'var(--sans)', wordBreak: 'normal'}});
  if (!last) {
    line.append(h('span', {class: 'muted'}, 'No job event sent yet'));
    return line;
  }
  const said = last.status_code ? `HTTP ${last.status_code}` : (last.error || 'not sent yet');
  const state = stateWord(last);
  line.dataset.status = last.status;
  line.append(h('span', {class: 'muted'}, 'Last delivery '),
    h('span', {class: ['pill', PILL[last.status] || 'pending'], 'data-status': last.status, 'data-state': state}, state),
    h('span', {class: 'sr-only'}, ':'), ' ',
    h('span', {'data-field': 'answer', title: last.error || ''}, said), h('span', {class: 'muted'}, ' · '),
    h('time', {class: 'muted', datetime: last.at, title: dateTime(last.at)}, ago(last.at)));
  if (state === 'retrying') nextTry(hook, line);
  return line;
}

/** A retried last delivery's next attempt, from the delivery log (the newest pending ones: it is among them while it
 * waits), appended to its line; nothing when the log has it no longer pending (delivered or given up meanwhile). */
async function nextTry(hook, line) {
  let delivery;
  try {
    const {deliveries} = await api.get(`/v1/webhooks/${encodeURIComponent(hook.webhook_id)}/deliveries`,
      {status: 'pending', limit: 10});
    delivery = deliveries.find((d) => d.delivery_id === hook.last_delivery.delivery_id);
  } catch {
    return; // the line keeps what the listing said
  }
  if (!delivery?.next_attempt_at || !line.isConnected) return;
  line.append(h('span', {class: 'muted'}, ' · '), h('span', {'data-field': 'next-try', title: dateTime(delivery.next_attempt_at)},
    `next try ${nextTryText(delivery.next_attempt_at)}`));
}

/** How a receiver checks a delivery: by its `v2=`, which signs the delivery id too (a captured delivery sent again
 * under another id is refused), and `v1=`, the older form without the id, still sent for receivers written before
 * `v2=`. The dashboard serves no docs of its own: docs/webhooks.md is named as the repository's file it is. */
function verifyNote() {
  const code = (text) => h('code', {style: {overflowWrap: 'anywhere'}}, text);
  return h('span', {id: 'verify-note'}, 'Verify the ', code('X-Phonos-Signature'), ' header by its ', code('v2='), ': hex HMAC-SHA256 of ',
    code('"<t>.<X-Phonos-Delivery>.<raw body>"'), ' with the secret. It signs the delivery id too, so a captured ',
    'delivery sent again under another id is refused (the Python SDK: ', code('verify_webhook(…, delivery_id=…)'),
    '). The older ', code('v1='), ', over ', code('"<t>.<raw body>"'), ' without the id, still comes for receivers ',
    'written before it. Both, with examples: ', code('docs/webhooks.md'), ' in the phonos repository.');
}

export function secretCallout(titleText, secret, usage, note = 'Copy it now: it is not shown again.') {
  return h('div', {class: 'notice ok', id: 'secret-callout'}, h('div', {style: {flex: '1'}},
    h('strong', {}, titleText),
    h('div', {}, note),
    h('div', {class: 'secret'}, h('code', {id: 'secret-value'}, secret),
      h('button', {class: 'btn small', type: 'button', on: {click: () => copyText(secret)}}, icon('copy'), 'Copy')),
    usage ? h('div', {class: 'small', style: {marginTop: '8px'}}, usage) : null));
}

export async function render(main) {
  const callout = h('div', {});
  let calloutOf = null; // the webhook whose new secret the callout shows
  const listCard = h('div', {class: 'card'});
  const url = h('input', {type: 'url', id: 'webhook-url', placeholder: 'https://example.org/phonos-hook', spellcheck: 'false'});
  const boxes = EVENTS.map((e) => h('input', {type: 'checkbox', value: e.name, checked: e.ticked, id: `event-${e.name}`,
    'aria-describedby': e.note ? `event-${e.name}-note` : null}));
  // A note is a line under the boxes, outside the labels: the box is named by its event alone, the note describes it.
  const notes = EVENTS.filter((e) => e.note).map((e) => h('div', {class: 'help', id: `event-${e.name}-note`}, `${e.name}: ${e.note}`));
  const error = fieldError('webhook-error', {role: 'alert'});
  const eventsError = fieldError('webhook-events-error', {role: 'alert'}); // beside the boxes, not under the URL
  const eventsGroup = fieldGroup('Events', [boxes.map((b) => h('label', {class: 'check'}, b, b.value)), notes],
    {id: 'webhook-events', error: eventsError});
  const add = h('button', {class: 'btn primary', type: 'submit', id: 'webhook-add'}, 'Add webhook');
  const form = h('form', {novalidate: true, id: 'webhook-form', on: {submit: async (event) => {
    event.preventDefault();
    clearError(url, error);
    clearError(eventsGroup, eventsError);
    const events = boxes.filter((b) => b.checked).map((b) => b.value);
    if (!events.length) {
      // The API reads an empty list as "the default events": the opposite of every box unticked.
      showError(eventsGroup, eventsError, 'Tick at least one event.');
      boxes[0].focus(); // the field to correct, not Add webhook again
      return;
    }
    const done = busy(add);
    try {
      const created = await api.post('/v1/webhooks', {url: url.value.trim(), events});
      calloutOf = created.webhook?.webhook_id ?? null;
      replace(callout, secretCallout('Webhook created: here is its signing secret', created.secret, verifyNote()));
      callout.querySelector('button').focus(); // its Copy, as on the keys page: the secret is what to take next
      url.value = '';
      await load();
    } catch (err) {
      showError(url, error, err.message);
      url.focus(); // the field to correct (the focus stayed on Add webhook), as the New job form does
    }
    done();
  }}},
  field('Receiver URL', url, {help: 'HTTPS on a public host. Each event is POSTed as signed JSON and retried with backoff until it gets a 2xx.', error}),
  eventsGroup,
  h('div', {style: {marginTop: '16px'}}, add));

  const logSlot = h('div', {id: 'deliveries-slot'}); // what each row's Deliveries shows and hides (aria-controls)
  replace(main, pageHeader('Webhooks', {sub: 'Get a POST when a job starts, completes or fails, instead of polling.'}),
    h('div', {class: 'content stack'}, callout, listCard, logSlot,
      // As wide as the cards above it (a card of its own width ended 8 px short of them at 1024 px); the form
      // inside keeps a readable width on a wide screen (app.css, #webhook-form).
      h('div', {class: 'card'}, h('div', {class: 'card-head'}, h('h2', {}, 'Add a webhook'),
        h('span', {class: 'hint'}, 'At most 5 per account')), h('div', {class: 'card-body'}, form))));

  // The webhooks whose test event is on its way. The list is drawn again after any action (a webhook added, a secret
  // rotated): the answer was written into the row drawn before, gone from the page, and the new row said "Never
  // tested" with its Send test enabled, the answer never seen. A row drawn while its test is out says "Sending…"
  // (its button disabled), and the answer goes to the row on the page when it comes.
  const testing = new Set();
  const rowOf = (hook) => listCard.querySelector(`tr[data-webhook-id="${CSS.escape(hook.webhook_id)}"]`);

  async function test(hook, button) {
    if (testing.has(hook.webhook_id)) return;
    testing.add(hook.webhook_id);
    const done = busy(button); // one test event per click: the receiver may take seconds to answer
    replace(rowOf(hook).querySelector('.test-result'), h('span', {class: 'muted'}, 'Sending…'));
    let said;
    let words; // the outcome, said by the live region: the cell changed silently
    try {
      const result = await api.post(`/v1/webhooks/${encodeURIComponent(hook.webhook_id)}/test`);
      // A 2xx says when, as the cell says after a reload (lastTest): its message only repeats the badge ("HTTP 204
      // Receiver answered HTTP 204"). A failure keeps its words: what was expected, why there was no answer.
      const sentAt = new Date().toISOString();
      const when = result.success
        ? h('time', {class: 'small muted', datetime: sentAt, title: dateTime(sentAt)}, ago(sentAt))
        : h('span', {class: 'small muted'}, result.message);
      said = [h('span', {class: ['band', result.success ? 'high' : 'very-low'], 'data-status-code': String(result.status_code)},
        result.status_code ? `HTTP ${result.status_code}` : 'unreachable'), ' ', when];
      words = result.success ? `Test to ${hook.url}: delivered, HTTP ${result.status_code}`
        : `Test to ${hook.url}: ${result.status_code ? `failed, HTTP ${result.status_code}` : 'unreachable'}${result.message ? `. ${result.message}` : ''}`;
    } catch (err) {
      said = h('span', {class: 'band very-low'}, err.message);
      words = `Test to ${hook.url} not sent: ${err.message}`;
    }
    announce(words);
    testing.delete(hook.webhook_id);
    const row = rowOf(hook); // the row drawn since, when the list was drawn again meanwhile (none: deleted)
    if (row) {
      replace(row.querySelector('.test-result'), said);
      row.querySelector('[data-action="test"]').disabled = false;
    }
    done();
  }

  // The webhook's newest test event, from the server's delivery log: a test sent through the API, the SDK or
  // another browser shows here too (the column was only what this page's own click had answered, "-" after a
  // reload). A click's answer, drawn by test(), is the newer one: a slower log read does not draw over it.
  async function lastTest(hook, cell) {
    let delivery;
    try {
      ({deliveries: [delivery]} = await api.get(`/v1/webhooks/${encodeURIComponent(hook.webhook_id)}/deliveries`,
        {event: 'webhook.test', limit: 1}));
    } catch {
      return; // the column stays "Never tested": the list itself is what the page is for
    }
    if (!delivery || cell.textContent !== NEVER_TESTED) return;
    const code = delivery.last_status_code;
    const ok = delivery.status === 'delivered';
    replace(cell, h('span', {class: ['band', ok ? 'high' : 'very-low'], 'data-status-code': String(code || 0),
      title: ok ? '' : delivery.last_error || ''}, code ? `HTTP ${code}` : 'unreachable'), ' ',
    h('time', {class: 'small muted', datetime: delivery.created_at, title: dateTime(delivery.created_at)}, ago(delivery.created_at)));
  }

  // Deliveries pressed on one webhook, then on another before the first log came: the slower first one was drawn
  // last, over the log asked for. The newest press wins.
  let logAsked = 0;
  let logOf = null; // the webhook whose log is shown
  let logLoading = null; // the webhook whose log is on its way (the newest press)
  // Each row's Deliveries says whether its log is shown (aria-expanded); pressed again, it hides it.
  function markShown() {
    for (const button of listCard.querySelectorAll('[data-action="deliveries"]')) {
      button.setAttribute('aria-expanded', String(button.closest('tr')?.dataset.webhookId === logOf));
    }
  }
  async function showLog(hook) {
    const asked = ++logAsked;
    if (logOf === hook.webhook_id) {
      replace(logSlot);
      logOf = null;
      markShown();
      return;
    }
    const log = deliveryLog(hook);
    logLoading = hook.webhook_id;
    await log.load();
    if (asked !== logAsked) return;
    logLoading = null;
    logOf = hook.webhook_id;
    replace(logSlot, log.card);
    markShown();
    log.card.scrollIntoView({block: 'nearest'});
  }

  // A new secret, shown once as creation shows it; the current one keeps signing beside it until the time shown,
  // so a receiver that accepts either (docs/webhooks.md) misses nothing while it is switched over.
  async function rotate(hook, button) {
    const ok = await confirmDialog({title: 'Rotate this webhook\u2019s signing secret?',
      body: `A new secret is made and shown once. For the next 24 hours deliveries to ${hook.url} are signed with both ` +
        'the new and the current secret, so your receiver can switch to the new one; after that only the new one signs.',
      confirm: 'Rotate secret'});
    if (!ok) return;
    const done = busy(button);
    try {
      const rotated = await api.post(`/v1/webhooks/${encodeURIComponent(hook.webhook_id)}/rotate-secret`,
        {expire_current_after_s: OVERLAP_S});
      const until = rotated.previous_secret_expires_at;
      calloutOf = hook.webhook_id;
      replace(callout, secretCallout(`New signing secret for ${hook.url}`, rotated.secret,
        h('span', {}, 'The previous secret also signs deliveries until ',
          h('time', {id: 'secret-overlap-end', datetime: until}, dateTime(until)),
          ` (${ago(until)}): accept either until then, then only this one.`)));
      await load(); // the row says the overlap too, and still does after the callout is gone (a reload)
      done(true);
      callout.querySelector('button').focus(); // its Copy: the secret is what to take next
      callout.scrollIntoView({block: 'nearest'});
    } catch (err) {
      toast(err.message);
      done();
    }
  }

  async function remove(hook, button) {
    const ok = await confirmDialog({title: 'Delete this webhook?', body: `Events stop going to ${hook.url}; deliveries not yet sent are dropped.`,
      confirm: 'Delete', danger: true});
    if (!ok) return;
    // Disabled while the webhook is deleted (the list is then drawn again without it): a second press asked again
    // and got a 404 toast.
    const done = busy(button);
    try {
      await api.del(`/v1/webhooks/${encodeURIComponent(hook.webhook_id)}`);
    } catch (err) {
      done();
      throw err;
    }
    toast('Webhook deleted');
    // Its log goes, shown or on its way; another webhook's stays (even one still loading: bumping `logAsked` for any
    // delete dropped it).
    if (logOf === hook.webhook_id) { replace(logSlot); logOf = null; }
    if (logLoading === hook.webhook_id) { logAsked += 1; logLoading = null; }
    // "Copy it now" under "No webhooks yet": a secret of a receiver that is gone, as the keys page's revoked key's.
    if (calloutOf === hook.webhook_id) { replace(callout); calloutOf = null; }
    await load();
    focusIfLost(listCard.querySelector('h2, .title')); // its row is gone
  }

  async function load() {
    const {webhooks} = await api.get('/v1/webhooks');
    if (!webhooks.length) {
      replace(listCard, h('div', {class: 'empty'}, icon('webhooks'), h('div', {class: 'title'}, 'No webhooks yet'),
        h('div', {}, 'Add a receiver below to hear about jobs as they finish.')));
      return;
    }
    replace(listCard, h('div', {class: 'card-head'}, h('h2', {}, 'Receivers'), h('span', {class: 'hint'}, `${webhooks.length} of 5`)),
      h('div', {class: 'table-scroll'}, h('table', {class: 'table stacked', id: 'webhooks-table'},
        h('thead', {}, h('tr', {}, ['URL', 'Events', 'Created', 'Last test', ''].map((c) => h('th', {}, c)))),
        h('tbody', {}, webhooks.map((hook) => {
          // Each row's buttons named with its receiver (the visible word first, WCAG 2.5.3), as the keys page's are:
          // a screen reader's list of buttons said "Delete, Delete, Delete".
          const named = (verb) => `${verb} ${hook.url}`;
          // "Never tested" in words: a lone "-" read as a missing value or a failure.
          const out = testing.has(hook.webhook_id); // its test is on its way (test())
          const result = h('td', {class: 'test-result', 'data-label': 'Last test'},
            h('span', {class: 'muted'}, out ? 'Sending…' : NEVER_TESTED));
          if (!out) lastTest(hook, result);
          return h('tr', {'data-webhook-id': hook.webhook_id},
            h('td', {class: 'mono small url', 'data-label': 'URL', style: {wordBreak: 'break-all'}}, h('span', {class: 'hook-url'}, hook.url), failingLine(hook), lastDeliveryLine(hook),
              overlapLine(hook)),
            h('td', {'data-label': 'Events'}, hook.events.map((e) => h('span', {class: 'chip'}, e))),
            h('td', {'data-label': 'Created', title: dateTime(hook.created_at)}, ago(hook.created_at)),
            result,
            h('td', {class: 'num actions'}, h('div', {class: 'row row-end'},
              h('button', {class: 'btn small', type: 'button', 'data-action': 'test', 'aria-label': named('Send test to'),
                disabled: out, on: {click: (event) => test(hook, event.currentTarget)}}, 'Send test'),
              h('button', {class: 'btn small', type: 'button', 'data-action': 'deliveries', 'aria-label': named('Deliveries to'),
                'aria-expanded': String(logOf === hook.webhook_id), 'aria-controls': 'deliveries-slot',
                on: {click: () => showLog(hook).catch((e) => toast(e.message))}}, 'Deliveries'),
              h('button', {class: 'btn small', type: 'button', 'data-action': 'rotate', 'aria-label': named('Rotate secret of'),
                on: {click: (event) => rotate(hook, event.currentTarget).catch((e) => toast(e.message))}}, 'Rotate secret'),
              h('button', {class: 'btn small danger', type: 'button', 'data-action': 'delete', 'aria-label': named('Delete webhook'),
                on: {click: (event) => remove(hook, event.currentTarget).catch((e) => toast(e.message))}}, 'Delete'))));
        })))));
  }
  await load();
}
