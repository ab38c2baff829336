// The 3D viewer: 3Dmol.js (BSD-3-Clause, pinned in package.json, served from node_modules).
// Structures are coloured by pLDDT with AlphaFold DB's four bands; docking shows the receptor as a
// cartoon (sticks where a cartoon would show almost nothing) with one ranked ligand pose at a time and
// the pocket residues around it.

import {h, replace} from './dom.js';
import {plddtBand} from './format.js';

const LIBRARY = '/static/vendor/3dmol/3Dmol.es6-min.js';
let library = null;

async function load() {
  if (library === null) library = import(LIBRARY).catch((error) => { console.error(error); return undefined; });
  return library;
}

function missing(container) {
  replace(container, h('div', {class: 'viewer-missing'},
    h('div', {}, h('strong', {}, '3D viewer unavailable'),
      h('div', {class: 'small', title: 'The 3Dmol.js files under static/vendor are missing: scripts/install.sh installs them.'},
        'Its files are not installed on this server: ask the server’s administrator. The downloads below still work.'))));
}

function create(mol, container) {
  return mol.createViewer(container, {backgroundColor: 'white', antialias: true, id: 'structure-viewer'});
}

/** Fits `sel` to the viewer as it is shown now: centred on the middle of its extent, and zoomed (in or out) until
 * its farthest atom reaches `fill` of the way from the centre to the nearest edge, across or up and down, whichever
 * the viewer's own aspect makes the tighter. 3Dmol's zoomTo fits a sphere round the atoms' mean, which for a
 * lopsided structure (a loose tail) is much larger than the structure seen from the front; the fixed extra zoom
 * that followed it was tuned for a wide viewer and cut by a fixed aspect rule, so a near-square phone viewer drew
 * such a structure in half its height. */
function fitView(viewer, container, sel, fill, turn = null) {
  withoutDrawing(viewer, () => {
    if (turn) viewer.setView([...viewer.getView().slice(0, 4), ...turn]);
    viewer.zoomTo(sel);
    centreOnExtent(viewer, sel);
    fitReach(viewer, container, sel, fill);
  });
  viewer.render();
}

/** Frames the structure again when the viewer's box changes width (a window narrowed, a tablet turned): 3Dmol resizes
 * its canvas on a window's resize but keeps the zoom, so a structure framed for 1,440 px ran off the right edge of a
 * 390-px viewer until Reset. `refit` frames what was framed last (the whole structure, or a docking pose), from the
 * turn the person left it at; a height change alone (a page growing below the viewer) is no reason to refit. */
function refitOnResize(viewer, container, refit) {
  if (typeof ResizeObserver === 'undefined') return;
  let width = container.clientWidth;
  let frame = 0;
  new ResizeObserver(() => {
    if (!container.isConnected || container.clientWidth === width || container.clientWidth === 0) return;
    width = container.clientWidth;
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => {
      viewer.resize();
      refit();
    });
  }).observe(container);
}

/** The view's turn (its rotation quaternion) as the viewer opens: 3Dmol's own start, before any drag or key. A
 * reset fits the structure seen from there again; a fit alone keeps the turn, and Reset or 0 after a drag showed the
 * same turned view, refitted, not the one the page opened with. */
function turnOf(viewer) {
  return viewer.getView().slice(4, 8);
}

/** Runs `work` (a fit's many view changes) with 3Dmol's drawing replaced by the one thing modelToScreen needs
 * from it, the scene's matrices brought up to date. 3Dmol draws the whole scene at every setView and zoom, and a
 * fit makes a dozen: ~1.4 s a fit with software WebGL (a machine without a GPU, a VM, a remote desktop) for
 * pictures nobody sees; the caller draws once at the end. 3Dmol 2.5's own names (pinned in package.json): where
 * they are missing, the fit draws as before. */
function withoutDrawing(viewer, work) {
  const {scene, camera} = viewer;
  if (typeof scene?.updateMatrixWorld !== 'function' || typeof camera?.updateMatrixWorld !== 'function'
      || typeof camera.matrixWorldInverse?.getInverse !== 'function' || typeof viewer.show !== 'function'
      || Object.prototype.hasOwnProperty.call(viewer, 'show')) {
    work();
    return;
  }
  viewer.show = () => { // what 3Dmol's renderer updates before it draws (before a first drawing, the camera too)
    scene.updateMatrixWorld();
    camera.updateMatrixWorld();
    camera.matrixWorldInverse.getInverse(camera.matrixWorld);
  };
  try {
    work();
  } finally {
    delete viewer.show; // the class's own again
  }
}

/** `v` turned by the unit quaternion `q` ({x, y, z, w}); its conjugate turns it back. */
function rotated(q, [x, y, z]) {
  const t = [2 * (q.y * z - q.z * y), 2 * (q.z * x - q.x * z), 2 * (q.x * y - q.y * x)]; // 2 q×v
  return [x + q.w * t[0] + q.y * t[2] - q.z * t[1], y + q.w * t[1] + q.z * t[0] - q.x * t[2],
    z + q.w * t[2] + q.x * t[1] - q.y * t[0]];
}

/** Centres the view on the middle of the atoms' extent as the viewer shows them (in its current turn), not on
 * their mean, where zoomTo centres: a lopsided structure (a long tail, a loose fragment: tiny random weights make
 * such folds) sat off-centre, its tail's side near the edge and wide empty space on the other. The middle also
 * becomes the point the structure turns about. */
function centreOnExtent(viewer, sel) {
  const atoms = viewer.selectedAtoms(sel);
  if (!atoms.length) return;
  const view = viewer.getView(); // [-centre x, y, z, camera distance, rotation quaternion x, y, z, w]
  const q = {x: view[4], y: view[5], z: view[6], w: view[7]};
  const low = [Infinity, Infinity, Infinity];
  const high = [-Infinity, -Infinity, -Infinity];
  for (const atom of atoms) {
    const p = rotated(q, [atom.x, atom.y, atom.z]);
    for (let i = 0; i < 3; i += 1) { low[i] = Math.min(low[i], p[i]); high[i] = Math.max(high[i], p[i]); }
  }
  const middle = rotated({x: -q.x, y: -q.y, z: -q.z, w: q.w}, low.map((l, i) => (l + high[i]) / 2));
  viewer.setView([-middle[0], -middle[1], -middle[2], ...view.slice(3)]);
}

const FIT_SLACK = 0.04; // a reach this close below `fill` is fitted: perspective makes each zoom step approximate

/** How far the farthest atom of `atoms` is drawn from the viewer's centre: 1 at the nearest edge (across or up
 * and down, each against its own half of the viewer). */
function reachOf(viewer, container, atoms) {
  const [width, height] = [container.clientWidth, container.clientHeight];
  const {left, top} = viewer.canvasOffset();
  let reach = 0;
  for (const {x, y} of viewer.modelToScreen(atoms)) {
    reach = Math.max(reach, Math.abs(x - left - width / 2) / (width / 2), Math.abs(y - top - height / 2) / (height / 2));
  }
  return reach;
}

/** Moves the view so that the atoms' drawn extent is centred in the viewer. centreOnExtent centres their extent
 * in the model's space; seen in perspective from close up, the half nearer the camera is drawn larger, and a
 * structure turned with its tail towards the camera sat off-centre once zoomed in. */
function centreOnScreen(viewer, container, atoms) {
  const [width, height] = [container.clientWidth, container.clientHeight];
  const {left, top} = viewer.canvasOffset();
  const points = viewer.modelToScreen(atoms);
  const xs = points.map((p) => p.x - left);
  const ys = points.map((p) => p.y - top);
  const off = [(Math.min(...xs) + Math.max(...xs) - width) / 2, (Math.min(...ys) + Math.max(...ys) - height) / 2];
  const view = viewer.getView();
  const back = {x: -view[4], y: -view[5], z: -view[6], w: view[7]}; // the view's turn undone: screen axes in the model
  const centre = [-view[0], -view[1], -view[2]];
  const axes = [rotated(back, [1, 0, 0]), rotated(back, [0, 1, 0])];
  const at = (v) => ({x: v[0], y: v[1], z: v[2]});
  const [c, px, py] = viewer.modelToScreen([at(centre), ...axes.map((a) => at(centre.map((v, i) => v + a[i])))]);
  const perAngstrom = [px.x - c.x, py.y - c.y]; // pixels that one Å along each screen axis moves, at the centre
  if (!perAngstrom[0] || !perAngstrom[1]) return;
  const moved = centre.map((v, i) => v + (off[0] / perAngstrom[0]) * axes[0][i] + (off[1] / perAngstrom[1]) * axes[1][i]);
  viewer.setView([-moved[0], -moved[1], -moved[2], ...view.slice(3)]);
}

/** Zooms until the farthest atom of `sel` is drawn at `fill` of the way to the nearest edge (never past it),
 * its drawn extent centred. Perspective makes one step approximate: a few more settle it. */
function fitReach(viewer, container, sel, fill) {
  const atoms = viewer.selectedAtoms(sel);
  if (!container.clientWidth || !container.clientHeight || !atoms.length) return;
  for (let step = 0; step < 6; step += 1) {
    centreOnScreen(viewer, container, atoms);
    const reach = reachOf(viewer, container, atoms);
    if (!(reach > 0) || (reach <= fill && reach >= fill - FIT_SLACK)) return;
    // Never closer than NEAREST times the structure's depth: a structure seen end-on (a tail pointing at the
    // camera) is small across but deep, and fitted from close up its near end was drawn huge, past the edges.
    const closest = NEAREST * depthOf(viewer, atoms);
    const distance = viewer.CAMERA_Z - viewer.getView()[3];
    const factor = Math.min(fill / reach, closest > 0 ? distance / closest : Infinity);
    if (Math.abs(factor - 1) < 1e-3) break;
    viewer.zoom(factor);
  }
  centreOnScreen(viewer, container, atoms);
}

const NEAREST = 3; // the camera's least distance from the centre, in the structure's half-depths (near end 1.5× at most)

/** How far the atoms reach towards or away from the camera from the view's centre (Å). */
function depthOf(viewer, atoms) {
  const view = viewer.getView();
  const q = {x: view[4], y: view[5], z: view[6], w: view[7]};
  const centre = rotated(q, [-view[0], -view[1], -view[2]]);
  let depth = 0;
  for (const atom of atoms) depth = Math.max(depth, Math.abs(rotated(q, [atom.x, atom.y, atom.z])[2] - centre[2]));
  return depth;
}

// The keyboard's share of the pointer's turns: a step per key press, about the screen's own axes (3Dmol's "vx"/"vy"),
// as a drag turns it. 15° makes a half turn in 12 presses; a zoom step is a tenth of what a mouse wheel notch does.
const TURN_STEP = 15; // degrees
const ZOOM_STEP = 1.25;
const TURNS = {ArrowLeft: ['vy', -TURN_STEP], ArrowRight: ['vy', TURN_STEP], ArrowUp: ['vx', -TURN_STEP], ArrowDown: ['vx', TURN_STEP]};
const ZOOMS = {'+': ZOOM_STEP, '=': ZOOM_STEP, '-': 1 / ZOOM_STEP, '_': 1 / ZOOM_STEP};

/** Makes the viewer a stop of the keyboard's that turns, zooms and resets the view as the pointer does: a canvas
 * turned only by a mouse or a finger left keyboard users with the Spin button (WCAG 2.1.1). An application (a screen
 * reader passes the arrow keys through to it, not reading on) named as before and described by the keys it takes,
 * which are shown beside it while it has the keyboard's focus. The pointer works as it did. */
function keyboardControls(viewer, container, reset) {
  const keys = h('div', {class: 'viewer-keys', id: `${container.id || 'viewer'}-keys`},
    'Arrow keys turn the molecule, + and − zoom, 0 resets the view.');
  // In the viewer's own box, at its foot: placed by the card, it sat under whatever follows the viewer (the note of
  // a structure shown as sticks), below the screen's edge while the viewer had the focus (a keyboard tester's find).
  container.append(keys);
  // Reached by Tab, the viewer is brought whole into sight where it fits, its keys' note with it (the browser
  // scrolls only until some of it shows).
  container.addEventListener('focus', () => {
    if (container.matches(':focus-visible')) container.scrollIntoView({block: 'nearest'});
  });
  container.tabIndex = 0;
  container.setAttribute('role', 'application');
  container.setAttribute('aria-roledescription', '3D viewer');
  container.setAttribute('aria-describedby', keys.id);
  // 3Dmol's own pointer handling keeps a press from focusing the viewer: a person who turns it with the mouse
  // and then reaches for the keys finds them working (the keys' note stays for the keyboard's focus).
  container.addEventListener('pointerdown', () => container.focus({preventScroll: true}));
  container.addEventListener('keydown', (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return; // the browser's own (zoom the page, history)
    const turn = TURNS[event.key];
    if (turn) viewer.rotate(turn[1], turn[0]);
    else if (ZOOMS[event.key]) viewer.zoom(ZOOMS[event.key]);
    else if (event.key === '0' || event.key === 'Home') reset();
    else return;
    event.preventDefault(); // the page does not scroll under a turn
    viewer.render();
  });
}

/** pLDDT per residue in file order (chain, residue number) → the JSON's per-residue list. */
function residueIndex(atoms) {
  const index = new Map();
  for (const atom of atoms) {
    const key = `${atom.chain}:${atom.resi}`;
    if (!index.has(key)) index.set(key, index.size);
  }
  return index;
}

const CA_BOND_MAX = 4.2; // Å: consecutive Cα atoms of a real chain are 3.8 Å apart (trans) or 2.9 (cis)
const CA_BOND_MIN = 2.6; // Å: closer than a cis peptide's, no chain is there either

/** Whether a cartoon can show this chain: 3Dmol draws no ribbon across Cα–Cα gaps it takes for chain
 * breaks, so a backbone whose neighbouring Cα atoms are mostly too far apart (tiny random weights make such
 * structures) shows as almost nothing; one whose Cα atoms are mostly crowded closer than any peptide (tiny weights
 * make those too) drew as big folded sheets that are no chain at all (a newcomer's "large yellow sheets").
 * `atoms`: objects with chain, resi, atom (its name), hetflag, x, y, z. */
export function cartoonDrawable(atoms) {
  const cas = atoms.filter((a) => a.atom === 'CA' && !a.hetflag);
  let pairs = 0;
  let gaps = 0;
  for (let i = 1; i < cas.length; i += 1) {
    const [a, b] = [cas[i - 1], cas[i]];
    if (a.chain !== b.chain || b.resi !== a.resi + 1) continue; // a chain break in the file itself
    pairs += 1;
    const step = Math.hypot(a.x - b.x, a.y - b.y, a.z - b.z);
    if (step > CA_BOND_MAX || step < CA_BOND_MIN) gaps += 1;
  }
  return pairs === 0 || gaps <= pairs / 4;
}

// The farthest atom's place, as a share of the way from the viewer's centre to its nearest edge: a whole structure
// fills the viewer with a margin for its cartoon's width; a docked pose leaves room for the pocket around it.
const STRUCTURE_FILL = 0.9;
const POSE_FILL = 0.4;

export async function structureViewer(container, pdbText, plddt) {
  const mol = await load();
  if (!mol) { missing(container); return null; }
  const viewer = create(mol, container);
  const model = viewer.addModel(pdbText, 'pdb');
  const atoms = model.selectedAtoms({});
  const index = residueIndex(atoms);
  const maxB = Math.max(...atoms.map((a) => a.b));
  const scoreOf = (atom) => {
    const i = index.get(`${atom.chain}:${atom.resi}`);
    if (plddt && i !== undefined && i < plddt.length) return plddt[i];
    return maxB <= 1 ? atom.b * 100 : atom.b; // the PDB's B-factor column carries pLDDT too
  };
  const color = (atom) => plddtBand(scoreOf(atom)).color;
  const styles = {
    cartoon: {cartoon: {colorfunc: color, arrows: true}},
    sticks: {stick: {colorfunc: color, radius: 0.18}, cartoon: {colorfunc: color, opacity: 0.35}},
  };
  const initial = cartoonDrawable(atoms) ? 'cartoon' : 'sticks';
  const own = {model};
  viewer.setStyle(own, styles[initial]);
  viewer.setHoverable(own, true, (atom, v) => {
    if (!atom.label) atom.label = v.addLabel(`${atom.resn} ${atom.resi} · pLDDT ${scoreOf(atom).toFixed(1)}`,
      {position: atom, backgroundColor: '#14213d', backgroundOpacity: 0.85, fontSize: 12, fontColor: 'white'});
  }, (atom, v) => { if (atom.label) { v.removeLabel(atom.label); delete atom.label; } });
  const home = turnOf(viewer);
  const fit = () => fitView(viewer, container, {}, STRUCTURE_FILL);
  const reset = () => fitView(viewer, container, {}, STRUCTURE_FILL, home);
  fit();
  refitOnResize(viewer, container, fit);
  keyboardControls(viewer, container, reset);
  let current = initial;
  let other = null; // a structure compared with this one, already superposed on it
  const otherStyle = (name) => (name === 'cartoon' && other.drawable
    ? {cartoon: {color: OVERLAY_COLOR, opacity: 0.8}} : {stick: {color: OVERLAY_COLOR, radius: 0.14}});
  return {
    viewer,
    initial, // 'sticks' when a cartoon would show almost nothing (see cartoonDrawable)
    reset, // the view the page opened with: its turn, fitted (to the viewer's size now)
    style: (name) => {
      current = name;
      viewer.setStyle(own, styles[name]);
      if (other) viewer.setStyle({model: other.model}, otherStyle(name));
      viewer.render();
    },
    spin: (on) => viewer.spin(on ? 'y' : false),
    /** Draws `pdbText` (superposed on this structure already) in one colour beside it; null removes it. */
    overlay: (pdbText) => {
      if (other) viewer.removeModel(other.model);
      other = null;
      if (pdbText) {
        const added = viewer.addModel(pdbText, 'pdb');
        other = {model: added, drawable: cartoonDrawable(added.selectedAtoms({}))};
        viewer.setStyle({model: added}, otherStyle(current));
      }
      fit();
    },
  };
}

// The compared structure's colour: purple, apart from every pLDDT band's (blue, cyan, yellow, orange).
export const OVERLAY_COLOR = '#9b5de5';

export function splitSdf(sdf) {
  return sdf.split(/^\$\$\$\$\s*$/m).map((record) => record.replace(/^\s*\n/, '')).filter((r) => r.trim()).map((r) => `${r.trimEnd()}\n$$$$\n`);
}

// The complex's own copy of the rank-1 pose: LIG, or where the receptor held a LIG of its own the name its
// REMARK 250 gives ("rank-1 ligand pose: HETATM residue LG1, chain L, ...").
export function complexLigandName(complexPdb) {
  const said = /^REMARK 250 +rank-1 ligand pose: HETATM residue (\S+), chain/m.exec(complexPdb);
  return said ? said[1] : 'LIG';
}

// Waters: the receptor's preparation drops them; never drawn as a hetero group if a complex holds any.
const WATERS = ['HOH', 'WAT', 'DOD', 'H2O'];

/** The complex's hetero groups other than the ligand pose and water (cofactors, ions kept in the receptor), as atom
 * serials: [sticks, ions], an ion being a hetero residue of one atom. They were styled nowhere, and a pose
 * overlapping its cofactor (docs/diffdock.md) could not be seen. */
export function heteroGroups(atoms, ligand) {
  const residues = new Map();
  for (const atom of atoms) {
    if (!atom.hetflag || atom.resn === ligand || WATERS.includes(atom.resn)) continue;
    const key = `${atom.chain}|${atom.resi}|${atom.resn}`;
    if (!residues.has(key)) residues.set(key, []);
    residues.get(key).push(atom.serial);
  }
  const groups = [...residues.values()];
  return [groups.filter((g) => g.length > 1).flat(), groups.filter((g) => g.length === 1).flat()];
}

/** `pocket`: the job's pocket ({center: [x, y, z], radius} in Å, the complex's frame), drawn as a translucent sphere. */
export async function dockingViewer(container, complexPdb, poseRecords, {pocket = null} = {}) {
  const mol = await load();
  if (!mol) { missing(container); return null; }
  const viewer = create(mol, container);
  const receptor = viewer.addModel(complexPdb, 'pdb');
  const ligand = complexLigandName(complexPdb);
  const protein = {model: receptor, not: {resn: ligand}};
  const [heteroSticks, ions] = heteroGroups(receptor.selectedAtoms({}), ligand);
  const centre = Array.isArray(pocket?.center) && pocket.center.length === 3 && pocket.center.every(Number.isFinite)
    && Number.isFinite(pocket.radius) ? pocket.center : null;
  if (centre) {
    viewer.addSphere({center: {x: centre[0], y: centre[1], z: centre[2]}, radius: pocket.radius, color: '#2f6fd6',
      opacity: 0.2, wireframe: false}); // faint enough to see the pose and the residues inside it
  }
  // A receptor a cartoon cannot draw (a fold of tiny random weights) is drawn as thin sticks instead.
  const receptorStyle = cartoonDrawable(receptor.selectedAtoms({})) ? 'cartoon' : 'sticks';
  const proteinStyle = receptorStyle === 'cartoon' ? {cartoon: {color: '#b8c4d4'}} : {stick: {color: '#b8c4d4', radius: 0.12}};
  let current = -1;
  // Every pose is a model, drawn one at a time (the others have no style). "Whole complex" frames the receptor with
  // the pose shown, and frames them again when a pose picked would be off the canvas (tiny random weights leave
  // poses far from the receptor). Framed with every pose, hidden ones too, the complex opened small and off-centre
  // (a newcomer's "looks broken"); fitted once to the first pose, the next one was off the canvas.
  const poses = poseRecords.map((record) => viewer.addModel(record, 'sdf'));
  for (const model of poses) viewer.setStyle({model}, {}); // a new model is drawn as lines until styled
  let pose = null;
  let framed = null; // what the last fit framed (frameWhole or framePose): a change of width frames it again
  const show = (i) => {
    current = i;
    if (pose) viewer.setStyle({model: pose}, {});
    pose = poses[i];
    viewer.setStyle({model: receptor}, {}); // the complex's own ligand copy is the rank-1 pose: drawn from the SDF instead
    viewer.setStyle(protein, proteinStyle);
    viewer.setStyle({model: receptor, not: {resn: ligand}, byres: true, within: {distance: 5, sel: {model: pose}}},
      {...proteinStyle, stick: {colorscheme: 'lightgreyCarbon', radius: 0.12}});
    // Cofactors as thin sticks (green carbons, apart from the pose's orange), ions as small spheres.
    if (heteroSticks.length) viewer.setStyle({model: receptor, serial: heteroSticks}, {stick: {colorscheme: 'greenCarbon', radius: 0.14}});
    if (ions.length) viewer.setStyle({model: receptor, serial: ions}, {sphere: {scale: 0.35}});
    viewer.setStyle({model: pose}, {stick: {colorscheme: 'orangeCarbon', radius: 0.24}, sphere: {scale: 0.22, colorscheme: 'orangeCarbon'}});
    viewer.render();
    // Framed on the ligand: the pose picked now is framed in its turn. Was: the view stayed on the last pose, and
    // the next one (tiny random weights place them far apart) was off the canvas, the viewer blank.
    if (framed === framePose) framePose();
    else if (opened && !inView({model: pose})) frameWhole();
  };
  let opened = false; // the first view is fitted once every part of the viewer is there
  const inView = (sel) => reachOf(viewer, container, viewer.selectedAtoms(sel)) <= 1;
  const home = turnOf(viewer);
  const complex = () => ({model: [receptor, pose]}); // the receptor and the pose shown, not the hidden poses
  const frameWhole = () => fitView(viewer, container, complex(), STRUCTURE_FILL);
  const framePose = () => fitView(viewer, container, {model: pose}, POSE_FILL);
  framed = frameWhole;
  const whole = () => { framed = frameWhole; frameWhole(); };
  const onPose = () => { framed = framePose; framePose(); };
  show(0);
  whole(); // with real weights the pose sits in its pocket; with random ones it may not
  opened = true;
  refitOnResize(viewer, container, () => framed());
  // 0 returns to the view the page opened with (the pose shown stays); the buttons frame the ligand or the whole
  // complex from where the person has turned it.
  keyboardControls(viewer, container, () => { framed = frameWhole; fitView(viewer, container, complex(), STRUCTURE_FILL, home); });
  return {
    viewer,
    show,
    receptorStyle, // 'sticks' when a cartoon would show almost nothing (see cartoonDrawable)
    hetero: {sticks: heteroSticks.length, ions: ions.length}, // atoms of the cofactors and ions drawn
    pocketDrawn: Boolean(centre),
    current: () => current,
    reset: onPose, // the pose with its pocket round it
    whole,
    framing: () => (framed === framePose ? 'pose' : 'whole'), // which button's view this is (its pressed state)
  };
}
