// The navigation's menu button on narrow screens (below 980 px the sidebar is a bar on top and its
// links and "Sign out" fold behind one button). A disclosure: the button says aria-expanded, the
// panel follows it in tab order, Escape or a click or focus elsewhere closes it. At 980 px and up
// the stylesheet hides the button and always shows the panel, so none of this has any effect there.

/** Wires `button` to show and hide `panel`, both inside `bar` (which carries the "menu-open" class). */
export function disclosure(bar, button, panel) {
  const isOpen = () => button.getAttribute('aria-expanded') === 'true';
  const shown = () => button.offsetParent !== null; // the button is display:none on wide screens
  const setOpen = (open) => {
    button.setAttribute('aria-expanded', String(open));
    bar.classList.toggle('menu-open', open);
  };
  button.setAttribute('aria-controls', panel.id);
  setOpen(false);
  button.addEventListener('click', () => setOpen(!isOpen()));
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || !isOpen() || !shown()) return;
    const hadFocus = bar.contains(document.activeElement);
    setOpen(false);
    if (hadFocus) button.focus(); // back to where the keyboard user opened it, not to the page's top
  });
  document.addEventListener('click', (event) => {
    if (isOpen() && !bar.contains(event.target)) setOpen(false);
  });
  bar.addEventListener('focusout', (event) => {
    // Tabbing past the last item closes it; focus going nowhere (a click on plain text) does not.
    if (isOpen() && event.relatedTarget && !bar.contains(event.relatedTarget)) setOpen(false);
  });
}
