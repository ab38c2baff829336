// Usage: requests and credits per day, jobs per model, requests per endpoint (GET /v1/usage).

import {ApiError, api} from '../api.js';
import {pageHeader} from '../app.js';
import {csvText, saveCsv} from '../csv.js';
import {h, icon, replace} from '../dom.js';
import {modelName, num} from '../format.js';
import {barChart, hbars} from '../plots.js';

export const title = 'Usage';

function days(report) {
  // Every day of the window, zero when nothing happened (the API lists only active days).
  const byDate = new Map(report.daily.map((d) => [d.date, d]));
  const out = [];
  const start = new Date(`${report.period.start_date}T00:00:00Z`);
  const end = new Date(`${report.period.end_date}T00:00:00Z`);
  for (let d = start; d <= end; d = new Date(d.getTime() + 86400000)) {
    const date = d.toISOString().slice(0, 10);
    const row = byDate.get(date) || {requests: 0, credits_used: 0};
    out.push({date, short: d.toLocaleDateString('en-GB', {day: 'numeric', month: 'short', timeZone: 'UTC'}), ...row});
  }
  return out;
}

/** "3 Nov 2026": a UTC day as the charts' axes and the rest of the dashboard write dates; the card said "2026-11-03",
 * the API's spelling, over an axis reading "3 Nov". */
function day(iso) {
  return new Date(`${iso}T00:00:00Z`).toLocaleDateString('en-GB', {day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC'});
}

function statCard(label, value, note) {
  return h('div', {class: 'card stat'}, h('div', {class: 'label'}, label), h('div', {class: 'value'}, value), h('div', {class: 'note'}, note));
}

/** The period an address's query names (`?days=7`), 30 days when it names none the page has. */
function periodOf(query) {
  return [7, 30, 90].includes(Number(query.get('days'))) ? Number(query.get('days')) : 30;
}

export async function render(main, {query}) {
  let period = periodOf(query);
  const content = h('div', {class: 'content stack'});
  const picker = h('div', {class: 'segmented', role: 'group', 'aria-label': 'Period'});
  let shown = null; // the report on screen, for "Download CSV"
  const download = h('button', {class: 'btn', type: 'button', id: 'usage-csv', disabled: true,
    title: 'Requests and credits of every day of the period, as a CSV file',
    on: {click: () => saveCsv(`phonos-usage-${shown.period.start_date}-to-${shown.period.end_date}.csv`,
      csvText([['date', 'date'], ['requests', 'requests'], ['credits_used', 'credits_used']], days(shown)))}}, 'Download CSV');
  // The period's buttons are made once and only marked on each load: rebuilt, the one a keyboard user had just
  // pressed was gone from the page, and the focus with it (to the page's top).
  const periods = [7, 30, 90].map((d) => h('button', {type: 'button', dataset: {days: String(d)},
    on: {click: () => {
      // A step of the browser's history: written in place, Back from 7 days skipped the 30 days shown before.
      if (d !== period) history.pushState(null, '', `/usage?days=${d}`);
      period = d;
      load();
    }}}, `${d} days`));
  replace(picker, periods);
  replace(main, pageHeader('Usage', {sub: 'Requests made with your keys and this dashboard, and the credits your jobs used.',
    actions: [picker, download]}), content);

  let loads = 0; // reports asked for: only the newest is drawn
  async function load() {
    // In place: the address as loaded or gone back to, with the period it shows (`/usage` is `/usage?days=30`).
    if (location.pathname + location.search !== `/usage?days=${period}`) history.replaceState(null, '', `/usage?days=${period}`);
    for (const button of periods) {
      const on = Number(button.dataset.days) === period;
      button.classList.toggle('on', on);
      button.setAttribute('aria-pressed', String(on));
    }
    const asked = ++loads;
    let report;
    try {
      report = await api.get('/v1/usage', {days: period});
    } catch (error) {
      if (asked !== loads) return; // a newer press's report (or its failure) is what the page says
      if (error instanceof ApiError && error.status === 401) return; // the session ended: on its way to sign in
      // The report failed (a 503 while the job service restarts, a network blip): the page said nothing (an unhandled
      // rejection) and kept the previous period's figures under the newly pressed period's button. The figures go (they
      // are not this period's), and the notice says why, with a way to ask again.
      shown = null;
      download.disabled = true;
      replace(content, h('div', {class: 'card notice bad', id: 'usage-failed', role: 'alert'},
        h('div', {class: 'grow'}, h('strong', {}, `The usage of the last ${period} days could not load`), String(error.message || error)),
        h('button', {class: 'btn small', type: 'button', id: 'usage-retry', on: {click: retry}}, 'Try again')));
      return;
    }
    // A period pressed while an earlier one's report was on its way: the earlier (slower) answer drew its figures
    // under the newer period's button. The newest press wins.
    if (asked !== loads) return;
    shown = report;
    download.disabled = false;
    const series = days(report);
    const empty = report.totals.requests === 0;
    replace(content,
      h('div', {class: 'grid stats'},
        statCard('Requests', num(report.totals.requests), `API calls ${day(report.period.start_date)} to ${day(report.period.end_date)} (a batch of jobs is one)`),
        statCard('Credits used', num(report.totals.credits_used), 'net of refunds, on the day refunded'),
        statCard('Avg response time', `${num(report.totals.avg_response_time_ms, 1)} ms`, 'server time per request, network excluded'),
        statCard('Jobs submitted', num(report.by_model.reduce((a, m) => a + m.requests, 0)), modelCount(report.by_model.length))),
      empty ? h('div', {class: 'card empty'}, icon('usage'), h('div', {class: 'title'}, 'No requests in this period'),
        h('div', {}, 'Usage appears here as soon as a key or this dashboard calls the API.')) : [
        h('div', {class: 'grid two'},
          h('div', {class: 'card'}, h('div', {class: 'card-head'}, h('h2', {}, 'Requests per day'), h('span', {class: 'hint'}, 'UTC days')),
            h('div', {class: 'card-body'}, barChart(series.map((d) => ({label: d.date, short: d.short, value: d.requests})), {label: 'requests', id: 'chart-requests'}))),
          h('div', {class: 'card'}, h('div', {class: 'card-head'}, h('h2', {}, 'Credits per day'), h('span', {class: 'hint'}, 'UTC days')),
            // Requests but no job in the period (keys listing, downloads): an empty frame with a 0-1 axis looked
            // like a chart that failed to draw; it says so instead.
            h('div', {class: 'card-body'}, series.some((d) => d.credits_used)
              ? barChart(series.map((d) => ({label: d.date, short: d.short, value: d.credits_used})), {label: 'credits', alt: true, id: 'chart-credits'})
              : h('div', {class: 'muted', id: 'chart-credits-empty'}, `No credits used in these ${period} days: jobs use credits when they are submitted.`)))),
        // Jobs by model (a line or two) and the endpoints (a dozen) one above the other, each as tall as its
        // list: side by side, the models' card stood mostly empty, and at 1024 px neither had room for its bars.
        h('div', {class: 'card'}, h('div', {class: 'card-head'}, h('h2', {}, 'Jobs by model'), h('span', {class: 'hint'}, 'submissions · credits')),
          h('div', {class: 'card-body', id: 'by-model'}, report.by_model.length
            ? hbars(report.by_model.map((m) => ({label: `${modelName(m.model)} · ${num(m.credits_used)} credits`, value: m.requests})), {code: false})
            : h('div', {class: 'muted'}, 'No jobs in this period.'))),
        h('div', {class: 'card'}, h('div', {class: 'card-head'}, h('h2', {}, 'Requests by endpoint')),
          h('div', {class: 'card-body', id: 'by-endpoint'}, hbars(report.by_endpoint.map((e) => ({label: e.endpoint, value: e.requests})))))]);
  }
  /** "Try again": its button goes with the notice, so the keyboard's focus goes to the period's button. */
  async function retry() {
    await load();
    if (!document.activeElement || document.activeElement === document.body) periods.find((b) => b.classList.contains('on')).focus();
  }
  // Back or Forward to another period's address (a press pushed it): that period is shown again, pushing nothing.
  // Its button is marked, not rebuilt: the keyboard's focus stays where it was.
  window.addEventListener('popstate', () => {
    if (location.pathname !== '/usage' || !main.contains(content)) return;
    const next = periodOf(new URLSearchParams(location.search));
    if (next === period) return;
    period = next;
    load();
  });
  await load();
}

/** "1 model", "3 models", "no model yet": the card said "3 model(s)", a form's words, not a person's. */
function modelCount(n) {
  return n === 0 ? 'no model yet' : `${n} model${n === 1 ? '' : 's'}`;
}
