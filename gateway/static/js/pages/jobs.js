// Jobs: the account's jobs, newest first, filtered by model and status, paged, updated live; jobs of a page
// can be selected and cancelled or deleted together (after a FASTA file's twenty folds, say).

import {api} from '../api.js';
import {pageHeader, refreshCredits} from '../app.js';
import {announce, confirmDialog, h, icon, replace, toast} from '../dom.js';
import {ACTIVE, STATUSES, ago, dateTime, duration, modelName, shortId} from '../format.js';

export const title = 'Jobs';
const PAGE_SIZE = 20;
// A job's id as the API writes it (a UUID): searched for as an id when no job's name holds it.
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FAST_POLL_MS = 2000; // while a job on screen is pending or running
const SLOW_POLL_MS = 10000; // to notice jobs submitted elsewhere
// A screen reader hears the jobs' status changes (the pills change silently), at most once in this long: a job
// that goes running then completed within it is said once, as completed; many at once are counted, not listed.
const ANNOUNCE_GAP_MS = 3000;
const ANNOUNCE_LIST_MAX = 3; // more changes than this at once: "5 jobs changed status: 3 completed, 2 failed"

export function statusPill(status) {
  return h('span', {class: ['pill', status], 'data-status': status}, status);
}

function placeNote(text) {
  return text ? h('div', {class: 'queue-place small muted', title: 'An estimate: other accounts take turns with yours, one job each.'}, text) : null;
}

/** Where a pending job stands in its model's queue, as GET /v1/jobs/{id} says (`jobs_ahead`: an estimate by the fair
 * share between accounts); null for any other job, or where the server said nothing (an older server). */
export function queuePlace(job) {
  if (job.status !== 'pending' || typeof job.jobs_ahead !== 'number') return null;
  if (job.jobs_ahead === 0) return 'Queued · next to start';
  return `Queued · ${job.jobs_ahead} ${job.jobs_ahead === 1 ? 'job' : 'jobs'} ahead`;
}

/** Asks, then cancels `job`; false when not confirmed. `signal`: aborted when the job ends while the question is
 * open (the page's poll saw it), which closes the question unanswered. `sending(on)`: told when the confirmed
 * cancel is sent (true) and when it failed (false): the page marks its Cancel unavailable meanwhile (pressed again,
 * it asked again and got a 409). aria-disabled, not disabled: a disabled button loses the keyboard's focus, which
 * goes on to what takes the cancelled job's place. */
export async function cancelJob(job, {signal = null, sending = null, returnTo = null} = {}) {
  const ok = await confirmDialog({signal, returnTo,
    title: 'Cancel this job?',
    body: job.status === 'pending'
      ? 'It has not started: its credits are refunded.'
      : 'It is running: the model stops at its next check. A job that has started keeps its whole price: its credits are not refunded.',
    confirm: 'Cancel job', dismiss: 'Keep it', danger: true, // not "Cancel" beside "Cancel job"
  });
  if (!ok) return false;
  sending?.(true);
  let result;
  try {
    result = await api.post(`/v1/jobs/${encodeURIComponent(job.job_id)}/cancel`);
  } catch (err) {
    sending?.(false);
    throw err;
  }
  toast(result.credits_refunded ? `Cancelled; ${result.credits_refunded} credits refunded` : 'Cancelled');
  return true;
}

// What a first job can be, naming only the models this server serves (GET /v1/models, as the New job page
// reads them): "Fold ... with ESMFold or AlphaFold2" on a server serving ESMFold alone promised a model it has not.
export function whatToRun(models) {
  const names = (type) => models.filter((m) => m.type === type).map((m) => m.name);
  const either = (list) => list.length > 1 ? `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}` : list[0];
  const folds = names('structure_prediction');
  const docks = names('docking');
  const others = models.filter((m) => m.type !== 'structure_prediction' && m.type !== 'docking').map((m) => m.name);
  const parts = [folds.length ? `fold a sequence with ${either(folds)}` : '', docks.length ? `dock a ligand with ${either(docks)}` : '',
    others.length ? `run ${either(others)}` : ''].filter(Boolean);
  if (!parts.length) return 'No models are served here yet: ask the server\u2019s operator.';
  const text = parts.length > 1 ? `${parts.slice(0, -1).join(', ')}, or ${parts[parts.length - 1]}` : parts[0];
  return `${text[0].toUpperCase()}${text.slice(1)}.`;
}

/** The list's filters and page as an address's query names them (on load, and on Back or Forward). */
function readState(query, models) {
  const state = {
    model: query.get('model') || '',
    status: query.get('status') || '',
    name: query.get('name') || '',
    offset: Math.max(0, parseInt(query.get('offset') || '0', 10) || 0),
  };
  // A filter the address names that no control can show (`?status=bogus&model=nope`: hand-edited, or a model no
  // longer served) is dropped (refresh() writes the address again without it, in place): the API refused the whole
  // list and the page said only "Could not load jobs", no status button pressed.
  if (!STATUSES.includes(state.status)) state.status = '';
  if (!models.some((m) => m.id === state.model)) state.model = '';
  return state;
}

/** The address of the list under `state`. */
function address(state) {
  const params = new URLSearchParams();
  if (state.model) params.set('model', state.model);
  if (state.status) params.set('status', state.status);
  if (state.name) params.set('name', state.name);
  if (state.offset) params.set('offset', String(state.offset));
  return '/jobs' + (params.toString() ? `?${params}` : '');
}

// "Took": how long the job's latest run took, started_at to completed_at. A job that never started (cancelled or
// failed while it waited) took none: "-". Was: submission to its last change, so a job cancelled after 2.5 min
// in the queue read "2 min 34 s" beside 0 credits, as if it had computed that long (found by a tester).
export function tookText(job) {
  if (job.status === 'running') return '…';
  if (job.status === 'pending' || !job.started_at || !job.completed_at) return '-';
  const ran = (Date.parse(job.completed_at) - Date.parse(job.started_at)) / 1000;
  return ran < 1 ? '< 1 s' : duration(job.started_at, job.completed_at);
}

// The cell's title: the time in the queue, which "Took" leaves out.
export function waitedText(job) {
  if (job.started_at) return `Waited ${duration(job.created_at, job.started_at)} to start`;
  if (job.completed_at) return `Never started: ${job.status} after ${duration(job.created_at, job.completed_at)} waiting`;
  return 'Not started yet';
}

// What a page that leaves for the jobs list had to say (a job deleted on its own page): the list says it as it opens.
// A full page load separates the two, so it waits in sessionStorage (this tab only), said once.
const SAY_ON_ARRIVAL = 'phonos.jobs.say';

export function sayOnJobsList(message) {
  try { sessionStorage.setItem(SAY_ON_ARRIVAL, message); } catch { /* storage off: the list opens without it */ }
}

function saidOnArrival() {
  try {
    const message = sessionStorage.getItem(SAY_ON_ARRIVAL);
    sessionStorage.removeItem(SAY_ON_ARRIVAL);
    return message;
  } catch { return null; }
}

export async function render(main, {query}) {
  const models = (await api.get('/v1/models')).models;
  const arrival = saidOnArrival();
  if (arrival) toast(arrival);
  const state = readState(query, models);
  // A person's change of page, filter or search is a step of the browser's history: it was written in place, and
  // Back from the second page (or a filter) skipped the list's earlier states, to the page before the list.
  // The name search is one step however many keys it took: the first search that settles pushes, the next ones
  // (still typing, the focus still in the box) replace it; Back does not take a name away one letter at a time.
  let searchStep = false; // the address now shown was pushed by the search box, which may still rewrite it
  function go({search = false} = {}) {
    const to = address(state);
    if (to !== location.pathname + location.search) {
      if (search && searchStep) history.replaceState(null, '', to);
      else { history.pushState(null, '', to); searchStep = search; }
    }
    if (!search) searchStep = false;
    refresh(true);
  }
  const modelSelect = h('select', {id: 'filter-model', 'aria-label': 'Model', on: {change: () => {
    state.model = modelSelect.value; state.offset = 0; go();
  }}}, h('option', {value: ''}, 'All models'), models.map((m) => h('option', {value: m.id}, m.name)));
  modelSelect.value = state.model;
  let typing = null; // a search runs once the typing pauses, not on every key
  const nameInput = h('input', {type: 'search', id: 'filter-name', placeholder: 'Search names or job ids', maxlength: '200',
    'aria-label': 'Search job names or job ids', on: {
      input: () => {
        clearTimeout(typing);
        typing = setTimeout(() => { state.name = nameInput.value.trim(); state.offset = 0; go({search: true}); }, 250);
      },
      // Leaving the box ends the search: typing in it again later is a new step of the history.
      blur: () => { searchStep = false; },
    }});
  nameInput.value = state.name;
  const statusButtons = ['', ...STATUSES].map((status) => h('button', {type: 'button', 'data-status': status || 'all',
    on: {click: () => { state.status = status; state.offset = 0; go(); }}},
  status ? status[0].toUpperCase() + status.slice(1) : 'All'));
  const tableBody = h('tbody', {id: 'jobs-body'});
  const pager = h('div', {class: 'pager'});
  // Until the first page of jobs comes: the card said nothing under its filters, as if there were no jobs.
  const listArea = h('div', {id: 'jobs-list'}, h('div', {class: 'card-body page-loading', role: 'status'}, 'Loading jobs…'));
  const selected = new Map(); // job id -> job, of the page shown: what the bulk bar acts on
  let bulkRunning = false; // a bulk cancel or delete is sending its requests
  const bulkBar = h('div', {class: 'bulk-bar', id: 'bulk-bar', role: 'region', 'aria-label': 'Selected jobs', hidden: true});
  // What a bulk action could not do, until the next one: a toast (gone in seconds) is too short to read a list.
  const bulkFailed = h('div', {id: 'bulk-failed', role: 'alert'});
  const selectAll = h('input', {type: 'checkbox', id: 'select-all', 'aria-label': 'Select every job on this page',
    on: {change: () => {
      if (selectAll.checked) for (const job of shownJobs) selected.set(job.job_id, job); else selected.clear();
      redrawPicks();
    }}});
  // On a phone the header row is hidden (each job is a block of its own) but for this cell: the box, then
  // "Select all on this page" instead of the "Name" column's title.
  const selectAllCell = h('label', {class: 'select-all'}, selectAll, h('span', {class: 'column'}, 'Name'),
    h('span', {class: 'phone', 'aria-hidden': 'true'}, 'Select all on this page'));
  let shownJobs = []; // the page's jobs, as last drawn
  const said = statusAnnouncer();
  replace(main,
    pageHeader('Jobs', {sub: 'Every prediction and docking job of this account, newest first.',
      actions: [h('a', {class: 'btn primary', href: '/submit'}, '+ New job')]}),
    h('div', {class: 'content'},
      h('div', {class: 'card'},
        h('div', {class: 'card-head'},
          h('div', {class: 'row'}, h('div', {class: 'segmented', role: 'group', 'aria-label': 'Status'}, statusButtons)),
          h('div', {class: 'row'}, h('div', {class: 'search'}, nameInput), h('div', {style: {width: '180px'}}, modelSelect))),
        bulkBar, bulkFailed, listArea)));

  const jobWord = (n) => `${n} job${n === 1 ? '' : 's'}`;

  /** The bar over the table while jobs are selected: how many, and what can be done to them. */
  function showBulkBar() {
    const jobs = Array.from(selected.values());
    const active = jobs.filter((job) => ACTIVE.has(job.status));
    const finished = jobs.filter((job) => !ACTIVE.has(job.status));
    bulkBar.hidden = !jobs.length;
    selectAll.checked = jobs.length > 0 && jobs.length === tableBody.rows.length;
    selectAll.indeterminate = jobs.length > 0 && !selectAll.checked;
    // While a bulk action runs (one request a job) its buttons stay disabled, drawn again by the live refresh too: a
    // second press meanwhile asked again and sent every request twice, the second round refused job by job.
    replace(bulkBar, h('strong', {id: 'selected-count'}, `${jobWord(jobs.length)} selected`),
      active.length ? h('button', {class: 'btn small danger', type: 'button', id: 'bulk-cancel', disabled: bulkRunning,
        on: {click: () => bulk('cancel', active)}}, `Cancel ${jobWord(active.length)}`) : null,
      finished.length ? h('button', {class: 'btn small danger', type: 'button', id: 'bulk-delete', disabled: bulkRunning,
        on: {click: () => bulk('delete', finished)}}, `Delete ${jobWord(finished.length)}`) : null,
      h('button', {class: 'btn small', type: 'button', id: 'bulk-clear', on: {click: () => { selected.clear(); redrawPicks(); }}}, 'Clear selection'));
  }

  function redrawPicks() {
    for (const tr of tableBody.rows) tr.querySelector('input.pick').checked = selected.has(tr.dataset.jobId);
    showBulkBar();
  }

  /** Cancel or delete `jobs`, one request after another, then say what happened (and what did not). */
  async function bulk(action, jobs) {
    // The live refresh draws the bar again while the question is open (every 2 or 10 s): the button that opened it
    // is gone when it closes, and the focus fell to the page. It goes to the same button in the bar drawn since, or
    // to the bar's first action (the jobs may have ended meanwhile), else the list's select-all box.
    const returnTo = () => document.getElementById(`bulk-${action}`) || bulkBar.querySelector('button:not(:disabled)')
      || (selectAll.isConnected ? selectAll : nameInput);
    const ok = await confirmDialog(action === 'cancel' ? {returnTo,
      title: `Cancel ${jobWord(jobs.length)}?`,
      body: 'Jobs that have not started get their credits back. Running ones stop at their next check and keep their whole price: their credits are not refunded.',
      confirm: `Cancel ${jobWord(jobs.length)}`, danger: true,
    } : {returnTo,
      title: `Delete ${jobWord(jobs.length)}?`,
      body: 'Their result files, inputs (sequences, structures, ligands), names and scores are deleted for good. The credits they used stay used.',
      confirm: `Delete ${jobWord(jobs.length)}`, danger: true,
    });
    if (!ok || bulkRunning) return;
    bulkRunning = true;
    showBulkBar();
    try {
      await bulkRun(action, jobs);
    } finally {
      bulkRunning = false;
    }
    showBulkBar();
    // The button pressed went with its jobs, and a keyboard user's focus with it (to the page): it moves to the
    // bar's next action, else back to the list (its select-all box, or the search when no job is left).
    if (!document.activeElement || document.activeElement === document.body) {
      (bulkBar.hidden ? (selectAll.isConnected ? selectAll : nameInput) : bulkBar.querySelector('button'))?.focus();
    }
  }

  async function bulkRun(action, jobs) {
    replace(bulkFailed);
    let done = 0;
    let refunded = 0;
    const failed = [];
    for (const job of jobs) {
      const path = `/v1/jobs/${encodeURIComponent(job.job_id)}`;
      try {
        const answer = action === 'cancel' ? await api.post(`${path}/cancel`) : await api.del(path);
        refunded += answer?.credits_refunded || 0;
        done += 1;
        if (action === 'cancel') said.expect(job.job_id, 'cancelled'); // the toast says it
        selected.delete(job.job_id);
      } catch (err) {
        failed.push(h('li', {}, h('b', {}, job.name || `Job ${shortId(job.job_id)}`), `: ${err.message}`));
      }
    }
    const verb = action === 'cancel' ? 'Cancelled' : 'Deleted';
    toast(`${verb} ${jobWord(done)}${refunded ? `; ${refunded} credits refunded` : ''}`);
    if (failed.length) {
      replace(bulkFailed, h('div', {class: 'card-body'}, h('div', {class: 'notice bad'}, h('div', {},
        h('strong', {}, `${jobWord(failed.length)} not ${verb.toLowerCase()}`), h('ul', {}, failed)))));
    }
    // A refresh in flight (the live poll) may have asked before these jobs went: its answer would draw them again.
    while (inFlight) await new Promise((resolve) => { setTimeout(resolve, 50); });
    await refresh(false);
  }

  // A row's Cancel asks first; the live refresh may meanwhile find the job completed or failed. The question was left
  // open over the new row, and answering it "Cancel job" got the API's refusal ("… is completed; only pending or
  // running jobs can be cancelled"): it closes now, and the page says what happened instead.
  const confirming = new Map(); // job id -> AbortController of its open Cancel question
  const cancelling = new Set(); // job ids whose confirmed cancel is on its way

  function endedMeanwhile(job) {
    toast(`${job.name || `Job ${shortId(job.job_id)}`} ${job.status} meanwhile: there is nothing to cancel`);
    // The question's opener (the row's Cancel) went with the old row: the keyboard goes on from the new row's Open.
    const open = tableBody.querySelector(`tr[data-job-id="${CSS.escape(job.job_id)}"] a.btn`);
    if (open && (!document.activeElement || document.activeElement === document.body)) open.focus();
  }

  let timer = null;
  let inFlight = false;
  let drawn = null; // what the last answer showed (the jobs, their states and costs): a change asks the balance again
  let again = false; // a filter or page change arrived while a request was in flight: run once more

  function row(job) {
    const active = ACTIVE.has(job.status);
    const link = `/jobs/${encodeURIComponent(job.job_id)}`;
    const name = job.name || `Job ${shortId(job.job_id)}`;
    const pick = h('input', {type: 'checkbox', class: 'pick', 'aria-label': `Select ${name}`, checked: selected.has(job.job_id),
      on: {change: () => {
        if (pick.checked) selected.set(job.job_id, job); else selected.delete(job.job_id);
        showBulkBar();
      }}});
    return h('tr', {'data-job-id': job.job_id},
      // The box in a label of its own: the label's padding is what a click or a finger may hit round it (24 px).
      // A finished job's name and its Open go to the same page: one Tab stop (Open, named with the job), not two (a
      // keyboard tester needed 77 presses to reach the pager). A running job's name is its only link: a stop.
      h('td', {class: 'name'}, h('label', {class: 'pick-hit'}, pick), h('a', {href: link, tabindex: active ? false : '-1'}, name),
        h('span', {class: 'id', title: job.job_id}, job.job_id)),
      h('td', {class: 'model'}, h('span', {class: 'chip model'}, modelName(job.model))),
      // A waiting job's place in its model's queue, as this refresh read it ("Queued · 2 jobs ahead").
      h('td', {class: 'status-cell'}, statusPill(job.status), placeNote(queuePlace(job))),
      h('td', {class: 'submitted', title: dateTime(job.created_at)}, ago(job.created_at)), // local time, as elsewhere,
      // data-label: a phone's card names the two figures (app.css), as the wide table's header does.
      h('td', {class: 'num took', title: waitedText(job), 'data-label': 'Took'}, tookText(job)),
      h('td', {class: 'num credits', 'data-label': 'Credits'}, String(job.credits_used)),
      h('td', {class: 'num action'}, active
        // Named with the job (the visible word first): a screen reader's list said "Open, Open, Open".
        // Unavailable while its cancel is sent, in the rows the live refresh draws meanwhile too (cancelJob's `sending`).
        ? h('button', {class: 'btn small danger', type: 'button', 'data-action': 'cancel', 'aria-label': `Cancel ${name}`,
          'aria-disabled': cancelling.has(job.job_id) ? 'true' : false, on: {click: async () => {
            if (cancelling.has(job.job_id)) return;
            const asking = new AbortController();
            confirming.set(job.job_id, asking);
            const sending = (on) => {
              if (on) cancelling.add(job.job_id); else cancelling.delete(job.job_id);
              const now = tableBody.querySelector(`tr[data-job-id="${CSS.escape(job.job_id)}"] [data-action="cancel"]`);
              if (now) { if (on) now.setAttribute('aria-disabled', 'true'); else now.removeAttribute('aria-disabled'); }
            };
            try {
              // The row drawn again while the question was open: its Cancel (or Open, the job ended) takes the focus back.
              const returnTo = () => tableBody.querySelector(`tr[data-job-id="${CSS.escape(job.job_id)}"] .btn`);
              if (await cancelJob(job, {signal: asking.signal, sending, returnTo})) {
                said.expect(job.job_id, 'cancelled'); // the toast says it
                cancelling.delete(job.job_id); // the refresh draws it cancelled (or, refused, the toast said why)
                refresh(false);
              } else if (asking.signal.aborted) endedMeanwhile(asking.signal.reason);
            } catch (err) { toast(err.message); } finally {
              if (confirming.get(job.job_id) === asking) confirming.delete(job.job_id);
            }
          }}}, 'Cancel')
        : h('a', {class: 'btn small', href: link, 'aria-label': `Open ${name}`}, 'Open')));
  }

  function emptyState(byId = null) {
    const filtered = state.model || state.status || state.name;
    return h('div', {class: 'empty'}, icon('empty'),
      h('div', {class: 'title'}, filtered ? 'No jobs match these filters' : 'No jobs yet'),
      byId ? jobWithThatId(byId)
        : h('div', {}, filtered ? 'Try another name, model or status.' : whatToRun(models)),
      filtered ? h('button', {class: 'btn', type: 'button', id: 'clear-filters', on: {click: clearFilters}}, 'Show all jobs')
        : models.length ? h('a', {class: 'btn primary', href: '/submit'}, 'Submit your first job') : null);
  }

  /** The search was a job's id (pasted from a webhook, a log or the CLI), not a name: the job, one click away. */
  function jobWithThatId(job) {
    const label = job.name ? `“${job.name}”` : `${modelName(job.model)} job`;
    return h('div', {id: 'found-by-id'}, `No job is named that, but it is the id of ${label} (${job.status}). `,
      h('a', {href: `/jobs/${encodeURIComponent(job.job_id)}`, id: 'open-found-job'}, 'Open the job'));
  }

  /** The account's job whose id the search box holds (whatever the model and status filters), or null. */
  async function jobNamedById(text) {
    if (!JOB_ID.test(text)) return null;
    try { return await api.get(`/v1/jobs/${encodeURIComponent(text.toLowerCase())}`); } catch { return null; }
  }

  /** "Show all jobs" under a filter that matches nothing: the way back was to undo the name, the model and the status
   * one by one (three controls, one of them a text box). The button goes with the empty state: the keyboard's focus
   * goes to "All", the filters' first control, not to the page's top. */
  function clearFilters() {
    Object.assign(state, {model: '', status: '', name: '', offset: 0});
    modelSelect.value = '';
    nameInput.value = '';
    statusButtons[0].focus();
    go();
  }

  // The live refresh redraws the rows: a keyboard user's focus (a row's Open or Cancel) moves to the
  // same control of the same job's new row instead of falling back to the page.
  function focusedControl() {
    const el = document.activeElement;
    const tr = el && tableBody.contains(el) ? el.closest('tr[data-job-id]') : null;
    return tr ? {jobId: tr.dataset.jobId, tag: el.tagName, index: Array.from(tr.querySelectorAll('a, button')).indexOf(el)} : null;
  }

  function restoreFocus(focus) {
    if (!focus) return;
    const tr = Array.from(tableBody.rows).find((r) => r.dataset.jobId === focus.jobId);
    const controls = tr ? Array.from(tr.querySelectorAll('a, button')) : [];
    const same = controls[focus.index]?.tagName === focus.tag ? controls[focus.index]
      : controls.find((c) => c.classList.contains('btn')); // Cancel became Open when the job ended
    if (same) same.focus();
  }

  async function refresh(userAction) {
    if (inFlight) { again = again || userAction; return; }
    if (userAction) replace(bulkFailed); // about jobs of another search or page
    inFlight = true;
    clearTimeout(timer);
    // In place: the address as loaded or gone back to, less what it named that the list cannot show (a person's
    // change was pushed by go() already; this writes the same address then).
    const here = address(state);
    if (here !== location.pathname + location.search) history.replaceState(null, '', here);
    statusButtons.forEach((b) => {
      const on = (b.dataset.status === 'all' ? '' : b.dataset.status) === state.status;
      b.classList.toggle('on', on);
      b.setAttribute('aria-pressed', String(on));
    });
    let page;
    let byId = null; // the job whose id was searched for, when no name matched
    try {
      page = await api.get('/v1/jobs', {model: state.model, status: state.status, name: state.name, limit: PAGE_SIZE,
        offset: state.offset});
      byId = !page.jobs.length && state.name ? await jobNamedById(state.name) : null;
    } catch (err) {
      replace(listArea, h('div', {class: 'card-body'}, h('div', {class: 'notice bad'}, h('div', {}, h('strong', {}, 'Could not load jobs'), err.message))));
      inFlight = false;
      if (again) { again = false; return refresh(true); }
      timer = setTimeout(() => refresh(false), SLOW_POLL_MS);
      return;
    }
    inFlight = false;
    if (again) { again = false; return refresh(true); } // the answer is for stale filters
    if (!page.jobs.length && state.offset > 0 && page.pagination.total > 0) {
      state.offset = Math.max(0, page.pagination.total - PAGE_SIZE);
      return refresh(userAction);
    }
    said.seen(page.jobs);
    const showing = `${page.pagination.total}|${page.jobs.map((j) => `${j.job_id}:${j.status}:${j.credits_used ?? ''}`)}`;
    if (drawn !== null && showing !== drawn) refreshCredits(); // new jobs charged, ended ones refunded
    drawn = showing;
    if (!page.jobs.length) {
      selected.clear();
      showBulkBar();
      replace(listArea, emptyState(byId));
    } else {
      const focus = focusedControl();
      // A person's new filter or page starts a new selection; a live refresh keeps it, with each job's new state.
      const shown = new Map(page.jobs.map((job) => [job.job_id, job]));
      for (const id of Array.from(selected.keys())) {
        if (userAction || !shown.has(id)) selected.delete(id); else selected.set(id, shown.get(id));
      }
      shownJobs = page.jobs;
      replace(tableBody, page.jobs.map(row));
      for (const [id, asking] of confirming) {
        const now = shown.get(id);
        if (now && !ACTIVE.has(now.status)) asking.abort(now);
      }
      showBulkBar();
      restoreFocus(focus);
      const {total, offset} = page.pagination;
      // The pager is drawn again at each answer (a page turned, the live refresh): the keyboard's focus on "Older ›"
      // fell to the page's top, so a keyboard user turned one page and had to Tab back down the whole list. It stays
      // on the same button, or goes to the other one when this one is now disabled (the last page, the first).
      const pagerFocus = pager.contains(document.activeElement) ? document.activeElement.id : null;
      replace(pager,
        h('span', {id: 'page-info'}, `${offset + 1}–${offset + page.jobs.length} of ${total}`),
        h('div', {class: 'row'},
          h('button', {class: 'btn small', type: 'button', disabled: offset === 0, id: 'page-prev',
            on: {click: () => { state.offset = Math.max(0, offset - PAGE_SIZE); go(); }}}, '‹ Newer'),
          h('button', {class: 'btn small', type: 'button', disabled: !page.pagination.has_more, id: 'page-next',
            on: {click: () => { state.offset = offset + PAGE_SIZE; go(); }}}, 'Older ›')));
      if (pagerFocus) {
        const same = document.getElementById(pagerFocus);
        (same && !same.disabled ? same : pager.querySelector('button:not(:disabled)'))?.focus();
      }
      if (!listArea.contains(tableBody)) {
        replace(listArea, h('div', {class: 'table-scroll'}, h('table', {class: 'table jobs', id: 'jobs-table'},
          h('thead', {}, h('tr', {}, ['Name', 'Model', 'Status', 'Submitted', 'Took', 'Credits', ''].map((c, i) =>
            h('th', {class: [i >= 4 ? 'num' : '', i === 5 ? 'credits' : '']}, i === 0 ? selectAllCell : c)))), tableBody)), pager);
      }
    }
    const anyActive = page.jobs.some((job) => ACTIVE.has(job.status));
    // A hidden tab is not polled: visibilitychange refreshes it when the person comes back.
    if (!document.hidden) timer = setTimeout(() => refresh(false), anyActive ? FAST_POLL_MS : SLOW_POLL_MS);
  }

  /** What says the jobs' status changes: `seen(jobs)` after each answer compares each job with its status when
   * last seen (a job seen for the first time, on the first load or another filter's page, says nothing). */
  function statusAnnouncer() {
    const known = new Map(); // job id -> status, as last seen
    const changed = new Map(); // job id -> {job}, not said yet
    let last = 0;
    let timer = null;
    const say = () => {
      timer = null;
      const jobs = Array.from(changed.values());
      changed.clear();
      if (!jobs.length) return;
      last = Date.now();
      const named = (job) => `${job.name || `Job ${shortId(job.job_id)}…`} ${job.status}`;
      if (jobs.length <= ANNOUNCE_LIST_MAX) { announce(jobs.map(named).join('; ')); return; }
      const counts = new Map();
      for (const job of jobs) counts.set(job.status, (counts.get(job.status) || 0) + 1);
      announce(`${jobs.length} jobs changed status: ${Array.from(counts, ([status, n]) => `${n} ${status}`).join(', ')}`);
    };
    return {
      /** The person's own action's outcome, which its toast says already. */
      expect(jobId, status) { known.set(jobId, status); },
      seen(jobs) {
        for (const job of jobs) {
          const before = known.get(job.job_id);
          known.set(job.job_id, job.status);
          if (before !== undefined && before !== job.status) changed.set(job.job_id, job);
        }
        if (!changed.size || timer) return;
        timer = setTimeout(say, Math.max(0, last + ANNOUNCE_GAP_MS - Date.now()));
      },
    };
  }

  // Back or Forward to another of the list's addresses (pushed by go()): the list is drawn again for it, as on load,
  // pushing nothing. The focus stays where it was when its control is still there (a status button, the pager's,
  // the search box); when it went with the rows it was on, it goes to the list's first control, not the page's top.
  window.addEventListener('popstate', async () => {
    if (location.pathname !== '/jobs' || !main.contains(listArea)) return;
    const next = readState(new URLSearchParams(location.search), models);
    if (address(next) === address(state)) return; // a change of the address's #fragment alone
    clearTimeout(typing); // a search typed but not yet run was undone with the rest
    searchStep = false;
    Object.assign(state, next);
    modelSelect.value = state.model;
    if (nameInput.value.trim() !== state.name) nameInput.value = state.name;
    const card = listArea.closest('.card');
    const hadFocus = card.contains(document.activeElement);
    await refresh(true);
    if (hadFocus && !card.contains(document.activeElement)) {
      (selectAll.isConnected ? selectAll : statusButtons.find((b) => b.classList.contains('on')))?.focus();
    }
  });
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(false); });
  await refresh(true);
}
