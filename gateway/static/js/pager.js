// "Show older" paging of a newest-first list (the credit history, a webhook's deliveries, the account's
// activity): each load appends the next page's rows. The next page is read after the last row shown (the API's
// `starting_after` cursor, `pagination.next_starting_after`), so entries arriving between clicks shift nothing;
// rows already shown are still skipped, for a server that pages by offset only.

import {busy, toast} from './dom.js';
import {num} from './format.js';

/**
 * fetch(page) -> {items, pagination}, where `page` is the query that picks the page: {offset: 0} first, then
 * {starting_after: id} (or {offset: n} when the server gave no cursor); keyOf(item) -> its id; row(item) -> its
 * <tr>, appended to `body`; `info` says "N of TOTAL", `more` is the "Show older" button (hidden when nothing
 * older is left). Returns load({restart}) (restart: from the newest again, e.g. with another filter), which
 * resolves to how many rows are shown, or to null when a restart came while it read (the newer load draws), and
 * rejects with the API's error.
 */
export function olderPages({fetch, keyOf, row, body, info, more}) {
  const shown = new Set();
  let offset = 0;
  let next = null; // the cursor of the page after the last one read
  // Each restart begins a new list: an answer to a load begun before it (another filter's page, an older page of the
  // list before) is dropped. It was appended to the new list: a filter changed twice quickly showed both filters'
  // rows, and "Show older" pressed just before a restart put older rows above the newest.
  let generation = 0;
  async function load({restart = false} = {}) {
    if (restart) { generation += 1; shown.clear(); offset = 0; next = null; body.replaceChildren(); }
    const mine = generation;
    const done = busy(more);
    let first = null; // the first row this load added: where the focus goes when "Show older" goes away
    let stale = false;
    try {
      let page;
      try {
        page = await fetch(next ? {starting_after: next} : {offset});
      } catch (err) {
        if (mine !== generation) { stale = true; return null; }
        // The row the cursor names went away (a delivery purged or deleted with its job): on by offset.
        if (!next || err.status !== 400) throw err;
        next = null;
        page = await fetch({offset});
      }
      if (mine !== generation) { stale = true; return null; }
      const {items, pagination} = page;
      const fresh = items.filter((item) => !shown.has(keyOf(item)));
      fresh.forEach((item) => shown.add(keyOf(item)));
      const rows = fresh.map(row);
      body.append(...rows);
      first = rows[0] || null;
      if (first) first.tabIndex = -1; // focusable by script only: not one more tab stop per row
      offset = pagination.offset + items.length;
      next = pagination.next_starting_after || null;
      info.textContent = shown.size ? `${num(shown.size)} of ${num(pagination.total)}` : '';
      more.hidden = !pagination.has_more;
      return shown.size;
    } finally {
      if (!stale) done(true, first); // a stale load leaves "Show older" to the newer one, still reading
    }
  }
  more.addEventListener('click', () => load().catch((err) => toast(err.message)));
  return load;
}
