// "Show older" paging of a newest-first list (the credit history, a webhook's deliveries): each load appends
// the next page's rows. Rows already shown are skipped: new ones arriving between clicks shift the offsets.

import {busy, toast} from './dom.js';
import {num} from './format.js';

/**
 * fetch(offset) -> {items, pagination}; keyOf(item) -> its id; row(item) -> its <tr>, appended to `body`;
 * `info` says "N of TOTAL", `more` is the "Show older" button (hidden when nothing older is left).
 * Returns load({restart}) (restart: from the newest again, e.g. with another filter), which resolves to how
 * many rows are shown and rejects with the API's error.
 */
export function olderPages({fetch, keyOf, row, body, info, more}) {
  const shown = new Set();
  let offset = 0;
  async function load({restart = false} = {}) {
    if (restart) { shown.clear(); offset = 0; body.replaceChildren(); }
    const done = busy(more);
    let first = null; // the first row this load added: where the focus goes when "Show older" goes away
    try {
      const {items, pagination} = await fetch(offset);
      const fresh = items.filter((item) => !shown.has(keyOf(item)));
      fresh.forEach((item) => shown.add(keyOf(item)));
      const rows = fresh.map(row);
      body.append(...rows);
      first = rows[0] || null;
      if (first) first.tabIndex = -1; // focusable by script only: not one more tab stop per row
      offset = pagination.offset + items.length;
      info.textContent = shown.size ? `${num(shown.size)} of ${num(pagination.total)}` : '';
      more.hidden = !pagination.has_more;
      return shown.size;
    } finally {
      done(true, first);
    }
  }
  more.addEventListener('click', () => load().catch((err) => toast(err.message)));
  return load;
}
