// The dashboard shell: who is signed in, the navigation, and which page module renders the URL.

import {ApiError, api, loadSession, signInUrl, signOut} from './api.js';
import {h, icon, replace} from './dom.js';
import {disclosure} from './menu.js';
import {num} from './format.js';

const PAGES = [
  {path: /^\/jobs\/([^/]+)$/, module: './pages/job.js', nav: 'jobs'},
  {path: /^\/jobs$/, module: './pages/jobs.js', nav: 'jobs'},
  {path: /^\/submit$/, module: './pages/submit.js', nav: 'submit'},
  {path: /^\/usage$/, module: './pages/usage.js', nav: 'usage'},
  {path: /^\/webhooks$/, module: './pages/webhooks.js', nav: 'webhooks'},
  {path: /^\/keys$/, module: './pages/keys.js', nav: 'keys'},
  {path: /^\/account$/, module: './pages/account.js', nav: 'account'},
];

const NAV = [
  {section: 'Work'},
  {id: 'jobs', href: '/jobs', label: 'Jobs'},
  {id: 'submit', href: '/submit', label: 'New job'},
  {section: 'Account'},
  {id: 'usage', href: '/usage', label: 'Usage'},
  {id: 'keys', href: '/keys', label: 'API keys'},
  {id: 'webhooks', href: '/webhooks', label: 'Webhooks'},
  {id: 'account', href: '/account', label: 'Account'},
];

// What phonos does, under its name: short enough for one line beside the logo in the 232 px sidebar ("Structure
// prediction & docking", 169 px wide in DejaVu Sans, wrapped there at every width). The sign-in page shows this brand.
const TAGLINE = 'Protein folding & docking';

/** The logo and name: a link to the jobs, or plain (`href` null) where there is no account to go to (a share link). */
export function brand(href = '/jobs') {
  return h(href ? 'a' : 'div', {class: 'brand', href},
    h('img', {src: '/static/img/logo.svg', alt: ''}),
    h('div', {}, h('div', {class: 'brand-name'}, 'phonos'), h('div', {class: 'brand-tag'}, TAGLINE)));
}

function showBalance(credits, failed = () => {}) {
  api.get('/v1/account').then((account) => {
    replace(credits, `${num(account.credits.balance)} credits`);
  }).catch(failed);
}

/** The sidebar's balance asked again. It was read once per page load, so it went stale while the jobs list drew new
 * jobs by itself (submitted with a key, 200 credits later the sidebar still said the old balance) or a job page saw
 * its job refunded; those pages call this when what they show changes. A failed ask keeps the figure shown. */
export function refreshCredits() {
  const credits = document.getElementById('side-credits');
  if (credits) showBalance(credits);
}

function shell(session, active) {
  const credits = h('div', {class: 'credits', id: 'side-credits'}, '…');
  const toggle = h('button', {class: 'btn ghost menu-toggle', type: 'button', id: 'menu-toggle'},
    icon('menu'), 'Menu');
  const menu = h('div', {class: 'side-menu', id: 'side-menu'},
    h('nav', {class: 'nav', 'aria-label': 'Main'}, NAV.map((item) => item.section
      ? h('div', {class: 'nav-section'}, item.section)
      : h('a', {href: item.href, class: item.id === active ? 'active' : '', 'aria-current': item.id === active ? 'page' : false},
        icon(item.id), item.label))),
    h('div', {class: 'side-foot'},
      h('div', {class: 'who', id: 'side-user'}, session.username),
      credits,
      h('button', {class: 'btn ghost small', type: 'button', id: 'sign-out', on: {click: async () => {
        await signOut(false);
        location.assign('/sign-in');
      }}}, 'Sign out')));
  const side = h('aside', {class: 'side'}, brand(), toggle, menu);
  disclosure(side, toggle, menu);
  // tabindex -1: the skip link's target takes the focus, so the next Tab goes on from the page's content.
  const main = h('main', {class: 'main', id: 'main', tabindex: '-1'});
  showBalance(credits, () => replace(credits, ''));
  // The first thing a keyboard reaches: past the navigation's eight stops to the page itself (WCAG 2.4.1).
  const skip = h('a', {class: 'skip-link', href: '#main', on: {click: (event) => {
    event.preventDefault();
    main.focus();
  }}}, 'Skip to content');
  return {root: h('div', {class: 'shell'}, skip, side, main), main};
}

/** The page header: title, optional subtitle and actions on the right. */
export function pageHeader(title, {sub, crumbs, actions} = {}) {
  return h('div', {class: 'topbar'},
    h('div', {},
      crumbs ? h('div', {class: 'crumbs'}, crumbs) : null,
      h('h1', {}, title),
      sub ? h('div', {class: 'sub'}, sub) : null),
    h('div', {class: 'row'}, actions || []));
}

async function start() {
  const app = document.getElementById('app');
  app.removeAttribute('aria-busy');
  app.className = '';
  if (location.pathname === '/sign-in') {
    const page = await import('./pages/signin.js');
    await page.render(app);
    return;
  }
  // A share link: no session, no navigation (pages/shared.js). Anything under /shared/ is a share link's: the
  // page, or its JSON or files opened in a browser (the gateway answers a link that does not work with this
  // shell): a stranger holding a link is never sent to sign in, and sees the link's page or "Link not found".
  const shared = /^\/shared(?:$|\/([^/]*))/.exec(location.pathname);
  if (shared) {
    let token = '';
    try { token = decodeURIComponent(shared[1] || ''); } catch { token = ''; } // `%zz`: no link can be that
    if (token && location.pathname !== `/shared/${shared[1]}`) history.replaceState(null, '', `/shared/${shared[1]}`);
    const page = await import('./pages/shared.js');
    await page.render(app, token);
    return;
  }
  const route = PAGES.find((p) => p.path.test(location.pathname));
  const session = await loadSession();
  if (!session) { location.replace(signInUrl()); return; } // signed out (never signed in, or the session ended)
  const {root, main} = shell(session, route ? route.nav : '');
  replace(app, root);
  // An address whose parts are not valid percent-encoding (`/jobs/%E0%A4%A`): decodeURIComponent threw, and the
  // whole dashboard said "URI malformed" with no way on. No page has that address.
  const params = route ? decodedParams(location.pathname.match(route.path).slice(1)) : null;
  if (!params) {
    notFound(main);
    return;
  }
  // While the page's code and its first answers come (seconds on a phone's slow network): words, not a blank page.
  replace(main, h('div', {class: 'page-loading', id: 'page-loading', role: 'status'}, 'Loading…'));
  const page = await import(route.module);
  document.title = `${page.title || 'phonos'} · phonos`;
  try {
    await page.render(main, {session, params, query: new URLSearchParams(location.search)});
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // the session ended: on its way to sign in
    if (!(error instanceof ApiError)) console.error(error); // a bug, not an answer: its stack for whoever looks
    replace(main, pageHeader(page.title || 'phonos'), h('div', {class: 'content'}, loadFailed(error)));
  }
}

/** The address's parts decoded, or null when one is not valid percent-encoding. */
function decodedParams(parts) {
  try {
    return parts.map(decodeURIComponent);
  } catch {
    return null;
  }
}

/** The page of an address no dashboard page has (a mistyped one, or one that could not be decoded). */
function notFound(main) {
  document.title = 'Page not found · phonos'; // the tab and the history list say it too, as every page's do
  replace(main, pageHeader('Page not found'), h('div', {class: 'content'},
    // It said only "There is nothing here": not which address, nor why. The share link's page says why; so does this.
    h('div', {class: 'card empty', id: 'not-found'}, icon('empty'), h('div', {class: 'title'}, 'There is nothing here'),
      h('div', {}, 'No dashboard page has the address ', h('span', {class: 'mono'}, location.pathname),
        ': it may be mistyped, or a link to a page that has moved.'),
      h('a', {class: 'btn', href: '/jobs'}, 'Go to jobs'))));
}

/** What a page whose first calls failed shows (the job service restarting, a 503): the page's own words and a way to
 * try again, inside the navigation. It replaced the whole dashboard with a bare card before, the links and Sign out
 * gone, and only the browser's reload button to go on with. */
function loadFailed(error, what = 'This page') {
  const retry = h('button', {class: 'btn small', type: 'button', id: 'load-retry', on: {click: () => location.reload()}}, 'Try again');
  // A rate limit (429) or a restart (503) that says when: the wait, counted down on the button, which works from
  // then on (it said only "exceeded the rate limit", and a press at once was refused again).
  let wait = error instanceof ApiError && error.retryAfter ? error.retryAfter : 0;
  const text = String(error.message || error);
  const said = wait ? `${/[.!?]$/.test(text) ? '' : '.'} It can be asked again in ${wait} s.` : '';
  if (wait) {
    retry.disabled = true;
    const tick = () => {
      retry.textContent = wait > 0 ? `Try again in ${wait} s` : 'Try again';
      if (wait <= 0) { retry.disabled = false; return; }
      wait -= 1;
      setTimeout(tick, 1000);
    };
    tick();
  }
  return h('div', {class: 'card notice bad', id: 'load-failed', role: 'alert'},
    h('div', {class: 'grow'}, h('strong', {}, `${what} could not load`), text + said),
    retry);
}

start().catch((error) => {
  console.error(error);
  const app = document.getElementById('app');
  replace(app, h('div', {class: 'signin-wrap'}, loadFailed(error, 'The dashboard')));
});
