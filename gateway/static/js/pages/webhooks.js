// Webhooks: list, create (the signing secret is shown once), send a test event, delete.

import {api} from '../api.js';
import {pageHeader} from '../app.js';
import {clearError, confirmDialog, copyText, field, fieldError, fieldGroup, h, icon, replace, showError, toast} from '../dom.js';
import {ago} from '../format.js';

export const title = 'Webhooks';
const EVENTS = ['job.started', 'job.completed', 'job.failed'];

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
  const listCard = h('div', {class: 'card'});
  const url = h('input', {type: 'url', id: 'webhook-url', placeholder: 'https://example.org/phonos-hook', spellcheck: 'false'});
  const boxes = EVENTS.map((e) => h('input', {type: 'checkbox', value: e, checked: true, id: `event-${e}`}));
  const error = fieldError('webhook-error', {role: 'alert'});
  const eventsError = fieldError('webhook-events-error', {role: 'alert'}); // beside the boxes, not under the URL
  const eventsGroup = fieldGroup('Events', boxes.map((b) => h('label', {class: 'check'}, b, b.value)), {id: 'webhook-events', error: eventsError});
  const add = h('button', {class: 'btn primary', type: 'submit', id: 'webhook-add'}, 'Add webhook');
  const form = h('form', {novalidate: true, id: 'webhook-form', on: {submit: async (event) => {
    event.preventDefault();
    clearError(url, error);
    clearError(eventsGroup, eventsError);
    const events = boxes.filter((b) => b.checked).map((b) => b.value);
    if (!events.length) {
      // The API reads an empty list as "every event": the opposite of three unticked boxes.
      showError(eventsGroup, eventsError, 'Tick at least one event.');
      return;
    }
    add.disabled = true;
    try {
      const created = await api.post('/v1/webhooks', {url: url.value.trim(), events});
      replace(callout, secretCallout('Webhook created: here is its signing secret', created.secret,
        'Verify X-Phonos-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>.'));
      url.value = '';
      await load();
    } catch (err) {
      showError(url, error, err.message);
    }
    add.disabled = false;
  }}},
  field('Receiver URL', url, {help: 'HTTPS on a public host. Each event is POSTed as signed JSON and retried with backoff until it gets a 2xx.', error}),
  eventsGroup,
  h('div', {style: {marginTop: '16px'}}, add));

  replace(main, pageHeader('Webhooks', {sub: 'Get a POST when a job starts, completes or fails, instead of polling.'}),
    h('div', {class: 'content stack'}, callout, listCard,
      h('div', {class: 'card', style: {maxWidth: '720px'}}, h('div', {class: 'card-head'}, h('h2', {}, 'Add a webhook'),
        h('span', {class: 'hint'}, 'At most 5 per account')), h('div', {class: 'card-body'}, form))));

  async function test(hook, cell) {
    replace(cell, h('span', {class: 'muted'}, 'Sending…'));
    try {
      const result = await api.post(`/v1/webhooks/${encodeURIComponent(hook.webhook_id)}/test`);
      replace(cell, h('span', {class: ['band', result.success ? 'high' : 'very-low'], 'data-status-code': String(result.status_code)},
        result.status_code ? `HTTP ${result.status_code}` : 'unreachable'), ' ', h('span', {class: 'small muted'}, result.message));
    } catch (err) {
      replace(cell, h('span', {class: 'band very-low'}, err.message));
    }
  }

  async function remove(hook) {
    const ok = await confirmDialog({title: 'Delete this webhook?', body: `Events stop going to ${hook.url}; deliveries not yet sent are dropped.`,
      confirm: 'Delete', danger: true});
    if (!ok) return;
    await api.del(`/v1/webhooks/${encodeURIComponent(hook.webhook_id)}`);
    toast('Webhook deleted');
    await load();
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
          const result = h('td', {class: 'test-result', 'data-label': 'Last test'}, h('span', {class: 'muted'}, '-'));
          return h('tr', {'data-webhook-id': hook.webhook_id},
            h('td', {class: 'mono small', 'data-label': 'URL', style: {wordBreak: 'break-all'}}, hook.url),
            h('td', {'data-label': 'Events'}, hook.events.map((e) => h('span', {class: 'chip'}, e))),
            h('td', {'data-label': 'Created'}, ago(hook.created_at)),
            result,
            h('td', {class: 'num actions'}, h('div', {class: 'row row-end'},
              h('button', {class: 'btn small', type: 'button', 'data-action': 'test', on: {click: () => test(hook, result)}}, 'Send test'),
              h('button', {class: 'btn small danger', type: 'button', 'data-action': 'delete', on: {click: () => remove(hook).catch((e) => toast(e.message))}}, 'Delete'))));
        })))));
  }
  await load();
}
