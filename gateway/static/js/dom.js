// DOM building without HTML strings: every string becomes a text node or an attribute value.
// Nothing in the dashboard assigns innerHTML, so a job name like <img src=x onerror=...> is just text.

const SVG_NS = 'http://www.w3.org/2000/svg';

function apply(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    else if (key === 'style') Object.assign(el.style, value); // CSSOM: allowed by the CSP, unlike style="..."
    else if (key === 'on') for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'props') Object.assign(el, value);
    else if (key === 'href' && !isSafeHref(String(value))) throw new Error(`refusing href ${value}`);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

// Only same-site paths and blob/data downloads are ever linked: never javascript: URLs.
function isSafeHref(href) {
  return href.startsWith('/') || href.startsWith('#') || href.startsWith('blob:') || href.startsWith('https://') || href.startsWith('http://');
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** h('a', {href: '/jobs', class: 'btn'}, 'Jobs') */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  return append(el, children);
}

/** SVG elements (charts, icons). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  return append(el, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

// Icons: simple strokes drawn with SVG elements (no icon font, no external sprite).
const ICONS = {
  jobs: ['M4 6h16', 'M4 12h16', 'M4 18h10'],
  submit: ['M12 5v14', 'M5 12h14'],
  usage: ['M5 19V11', 'M12 19V5', 'M19 19v-6'],
  webhooks: ['M6 16v-5a6 6 0 1 1 12 0v5l2 2H4l2-2z', 'M10 20a2 2 0 0 0 4 0'],
  keys: ['M8 20a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M10.8 13.2L20 4', 'M17 7l3 3', 'M14.5 9.5l2 2'],
  account: ['M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M4 20c1.5-4 4.5-6 8-6s6.5 2 8 6'],
  empty: ['M4 7l8-4 8 4-8 4-8-4z', 'M4 7v10l8 4 8-4V7', 'M12 11v10'],
  copy: ['M9 9h10v10H9z', 'M5 15V5h10'],
  menu: ['M4 6h16', 'M4 12h16', 'M4 18h16'],
};

export function icon(name) {
  return s('svg', {viewBox: '0 0 24 24', fill: 'none', stroke: 'currentColor', 'stroke-width': '1.8',
    'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true'},
  (ICONS[name] || []).map((d) => s('path', {d})));
}

/** A modal built on <dialog>; resolves true when confirmed. Never window.confirm (blocked in some embeds).
 * `signal` (an AbortSignal) closes it unconfirmed when what it asks about is gone (a job that ended meanwhile). */
// `dismiss`: the other button's words; "Cancel" beside "Cancel job" read as two ways to cancel it.
export function confirmDialog({title, body, confirm = 'Confirm', dismiss = 'Cancel', danger = false, signal = null,
  returnTo = null}) {
  return new Promise((resolve) => {
    // Named by its title and described by its text (a screen reader says both as it opens); modal, so the
    // keyboard stays inside it; when it closes the focus goes back to what opened it (where it is still shown).
    const dialog = h('dialog', {class: 'modal', 'aria-labelledby': 'modal-title', 'aria-describedby': 'modal-body'});
    const opener = document.activeElement;
    const done = (value) => {
      dialog.close();
      dialog.remove();
      // `returnTo()`: where the focus goes when the opener is gone, drawn again meanwhile (the jobs list's live
      // refresh rebuilds its rows every 2 s, a row's Cancel with them): the focus fell to the page.
      const shown = (el) => el && el !== document.body && el.isConnected && el.getClientRects().length;
      const back = shown(opener) ? opener : returnTo?.();
      if (shown(back)) back.focus();
      resolve(value);
    };
    append(dialog, [h('div', {class: 'card-body'},
      h('h2', {id: 'modal-title'}, title),
      h('div', {class: 'muted', id: 'modal-body'}, body),
      h('div', {class: 'actions'},
        h('button', {class: 'btn', type: 'button', 'data-dismiss': true, on: {click: () => done(false)}}, dismiss),
        h('button', {class: ['btn', danger ? 'danger solid' : 'primary'], type: 'button', 'data-confirm': true,
          on: {click: () => done(true)}}, confirm)))]);
    dialog.addEventListener('cancel', (event) => { event.preventDefault(); done(false); }); // Escape
    // Tab from the last button goes round to the first (and Shift+Tab back): a modal <dialog> makes the page inert,
    // but the browser still lets the focus out to its own address bar, and a screen reader user lost the dialog.
    dialog.addEventListener('keydown', (event) => {
      if (event.key !== 'Tab') return;
      const stops = [...dialog.querySelectorAll('button, a[href], input, select, textarea')].filter((el) => !el.disabled);
      const [first, last] = [stops[0], stops[stops.length - 1]];
      if (event.shiftKey ? document.activeElement === first : document.activeElement === last) {
        event.preventDefault();
        (event.shiftKey ? last : first).focus();
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    signal?.addEventListener('abort', () => { if (dialog.isConnected) done(false); }, {once: true});
  });
}

/** Disables `button` while its work runs (no second click meanwhile); returns what enables it again (or not:
 * `enabled` false). A disabled button loses the keyboard focus to the page: it gets it back if it had it and
 * nothing else has taken it since, or `instead` gets it when the button is gone (hidden, removed: "Show older"
 * with nothing older left), so that a keyboard or screen-reader user keeps their place. */
export function busy(button) {
  const focused = document.activeElement === button;
  button.disabled = true;
  return (enabled = true, instead = null) => {
    button.disabled = !enabled;
    if (!focused || (document.activeElement && document.activeElement !== document.body)) return;
    const shown = button.isConnected && button.getClientRects().length > 0;
    const target = enabled && shown ? button : instead;
    if (target) target.focus();
  };
}

/** After an action whose control is gone from the page (a key's Revoke, a webhook's Delete: the list drawn again
 * without it), the keyboard's focus had fallen to the page's top; it goes to `target` instead (a heading of the
 * list, focusable by script only), so that Tab goes on from there. Nothing changes if something has the focus. */
export function focusIfLost(target) {
  if (!target || (document.activeElement && document.activeElement !== document.body)) return;
  if (!target.hasAttribute('tabindex')) target.setAttribute('tabindex', '-1');
  target.focus();
}

// One polite live region for the page, made as the dashboard loads and kept: a screen reader says what is written
// into a region it already knows, while a region inserted with its words already in it (a toast used to be one) is
// often not said at all. Visually hidden: what it says is on the screen already (a toast, a status pill).
const announcer = h('div', {class: 'sr-only', id: 'announcer', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true'});
document.body.append(announcer);
let announcing = null;
let waiting = []; // messages not written yet

/** Says `message` politely (after what the screen reader is saying). Emptied first, and written a moment later,
 * so that the same words twice ("Deleted 1 job", again) are said twice; what comes meanwhile is said with it. */
export function announce(message) {
  if (!announcer.isConnected) document.body.append(announcer); // a page that replaced the body's children
  clearTimeout(announcing);
  announcer.textContent = '';
  waiting.push(message);
  announcing = setTimeout(() => {
    announcer.textContent = waiting.join('. ');
    waiting = [];
  }, 100);
}

// Toasts stack in one column (css .toasts: bottom right; the width of a phone's screen at its bottom), newest at the
// bottom: each used to sit at the same fixed place, so that two at once ("Copied", an error) were drawn one over
// the other and neither could be read. The column is not a live region: the page's announcer says each message.
const toasts = h('div', {class: 'toasts', id: 'toasts'});
const TOAST_MS = 5000; // long enough to read two lines; paused while the pointer or the keyboard is on the toast
const MAX_TOASTS = 4; // the oldest goes first: the column stays short (a phone's screen)

// While toasts are shown, a control the keyboard moves to under them is scrolled up above them (WCAG 2.4.11, the
// focus not hidden): on a phone's screen the column is as wide as the page, and Tab went on under it to the form's
// Submit button unseen. The browser scrolls a control into view only when it is off the screen, whatever covers it
// (scroll-padding did not change that), so the page does it. `room`: space as tall as the column under the page,
// so that the last control (nothing under it to scroll to) can go above the column too.
const room = h('div', {class: 'toast-room', 'aria-hidden': 'true'});
const FOCUS_GAP = 8; // px between the focused control and the column

function overlapOf(rect, column) {
  const across = rect.left < column.right && column.left < rect.right;
  return across && rect.bottom > column.top - FOCUS_GAP && rect.top < column.bottom ? rect.bottom - column.top + FOCUS_GAP : 0;
}

function keepFocusClear() {
  if (!room.isConnected) document.body.append(room);
  room.style.height = toasts.childElementCount ? `${Math.ceil(toasts.getBoundingClientRect().height)}px` : '0px';
}

// Only the keyboard's moves: a click on a label in a table focuses <main> (the nearest focusable box) at mousedown,
// and scrolling then moved the page under the pointer before mouseup, so that the click missed its label.
let byKeyboard = false;
document.addEventListener('keydown', () => { byKeyboard = true; }, true);
document.addEventListener('pointerdown', () => { byKeyboard = false; }, true);

document.addEventListener('focusin', (event) => {
  const target = event.target;
  if (!byKeyboard || !toasts.childElementCount || !(target instanceof Element) || toasts.contains(target)) return;
  const rect = target.getBoundingClientRect();
  if (rect.height > window.innerHeight / 2) return; // a region (<main>, a skip link's target), not a control
  const by = Math.min(overlapOf(rect, toasts.getBoundingClientRect()), rect.top); // a tall box keeps its top shown
  if (by > 0) window.scrollBy({top: by, behavior: 'instant'});
});

/** The newest toast says how many older ones are behind it ("+2", data-behind). On a screen 600 px wide or less the column
 * shows the newest alone (css .toasts): three toasts of two lines each took a quarter of a phone's screen until they
 * went, over the page's content. Dismissing it shows the one before (each still goes after its own time). */
function recount() {
  const all = [...toasts.children];
  all.forEach((t, i) => {
    const more = t.querySelector('.toast-more');
    const behind = i === all.length - 1 ? all.length - 1 : 0;
    // Drawn by the CSS from the attribute (`+2`), not as text: a wide screen shows every toast and no count, and
    // a toast's words stay its message's. The live region has said each message already.
    if (behind) more.dataset.behind = String(behind);
    else delete more.dataset.behind;
    more.title = behind ? `${behind} more: dismiss this one to see the one before` : '';
  });
}

/** A message shown for a few seconds, with a button that dismisses it, and said by a screen reader (through the
 * page's live region). */
export function toast(message) {
  if (!toasts.isConnected) document.body.append(toasts); // a page that replaced the body's children
  const close = h('button', {class: 'toast-close', type: 'button', 'aria-label': 'Dismiss', title: 'Dismiss'}, '×');
  // How many older toasts wait behind this one: shown on a phone's screen only, where only the newest is drawn.
  const more = h('span', {class: 'toast-more', 'aria-hidden': 'true'});
  const el = h('div', {class: 'toast'}, h('span', {class: 'toast-text'}, message), more, close);
  el.dismiss = () => dismiss(); // for the stack's limit below
  let timer = null;
  const dismiss = () => {
    clearTimeout(timer);
    if (!el.isConnected) return;
    // The keyboard's focus was on this toast's button: it goes to the next toast's (or the previous one's), else to
    // the page's content, not to the page's top.
    const had = el.contains(document.activeElement);
    const next = el.nextElementSibling || el.previousElementSibling;
    el.remove();
    recount();
    keepFocusClear();
    if (had) (next ? next.querySelector('.toast-close') : document.getElementById('main'))?.focus();
  };
  const wait = () => { clearTimeout(timer); timer = setTimeout(dismiss, TOAST_MS); };
  const hold = () => clearTimeout(timer);
  close.addEventListener('click', dismiss);
  el.addEventListener('mouseenter', hold);
  el.addEventListener('mouseleave', () => { if (!el.contains(document.activeElement)) wait(); });
  el.addEventListener('focusin', hold);
  el.addEventListener('focusout', (event) => { if (!el.contains(event.relatedTarget) && !el.matches(':hover')) wait(); });
  el.addEventListener('keydown', (event) => { if (event.key === 'Escape') dismiss(); });
  toasts.append(el);
  while (toasts.children.length > MAX_TOASTS) toasts.firstElementChild.dismiss();
  recount();
  keepFocusClear();
  announce(message);
  wait();
  return el;
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied to the clipboard');
  } catch {
    toast('Select the text and copy it');
  }
}

// Form fields. The <label> holds only the field's name: help and error text sit beside it and are tied to
// the control with aria-describedby, so a screen reader says "Recycles, spin button" and then the help,
// not the whole paragraph as the field's name. An error, when shown, is described first.

/** A labelled control with optional help under it; `error` (from fieldError) goes last. `body`: what is
 * shown in place of the control when it comes with others (the pocket's radius beside its residues). */
export function field(label, control, {help, error, body} = {}) {
  const helpEl = help ? h('div', {class: 'help', id: `${control.id}-help`}, help) : null;
  if (helpEl) control.setAttribute('aria-describedby', helpEl.id);
  return h('div', {class: 'field'}, h('label', {class: 'label', for: control.id}, label), body || control, helpEl, error);
}

/** A group of controls (radios, checkboxes) named by a legend, with optional help and error. */
export function fieldGroup(legend, controls, {help, error, id} = {}) {
  const helpEl = help ? h('div', {class: 'help', id: `${id}-help`}, help) : null;
  return h('fieldset', {class: 'field', id, 'aria-describedby': helpEl ? helpEl.id : null},
    h('legend', {class: 'label'}, legend), controls, helpEl, error);
}

/** The (hidden) element that shows a field's error; pass it to field() and to showError(). */
export function fieldError(id, attrs = {}) {
  return h('div', {class: 'error', id, hidden: true, ...attrs});
}

function describedBy(control) {
  return (control.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
}

/** A server's message as nodes: what it puts between backticks (a command, `obabel ligand.sdf -osmi`) in <code>,
 * as text nodes (never HTML); the backticks themselves were shown in the forms as they came. An odd number of
 * backticks is no markup: the text as it is. */
export function withCode(message) {
  const parts = String(message ?? '').split('`');
  if (parts.length < 3 || parts.length % 2 === 0) return [String(message ?? '')];
  return parts.map((part, i) => (i % 2 ? h('code', {}, part) : part)).filter((part) => part !== '');
}

/** Shows `message` under the field and marks `control` invalid, described by the message. */
export function showError(control, errorEl, message) {
  replace(errorEl, withCode(message));
  errorEl.hidden = false;
  if (!control) return;
  control.classList.add('invalid');
  control.setAttribute('aria-invalid', 'true');
  control.setAttribute('aria-describedby', [errorEl.id, ...describedBy(control).filter((i) => i !== errorEl.id)].join(' '));
}

/** Undoes showError (the help stays in the description). */
export function clearError(control, errorEl) {
  if (errorEl) errorEl.hidden = true;
  if (!control) return;
  control.classList.remove('invalid');
  control.removeAttribute('aria-invalid');
  const rest = describedBy(control).filter((i) => !errorEl || i !== errorEl.id);
  if (rest.length) control.setAttribute('aria-describedby', rest.join(' '));
  else control.removeAttribute('aria-describedby');
}
