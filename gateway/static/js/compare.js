// The job page's "Compare" card: another of the account's predicted structures, another of this AlphaFold2
// job's ranked models, or a PDB file from the person's computer (an experimental structure, say) superposed on
// this one in the viewer, with its TM-score and Cα RMSD (superpose.js). The file is read in the browser only.
// `?compare=<job id>` (or `?compare=rank_2_pdb`) in the page's address opens with that comparison, so a
// comparison can be shared as a link.

import {download, structureJobs} from './api.js';
import {busy, h, replace} from './dom.js';
import {jobChoiceLabel, num, shortId} from './format.js';
import {compareStructures, movePdb} from './superpose.js';
import {OVERLAY_COLOR} from './viewer.js';

// Xu & Zhang (2010): above 0.5 two structures share a fold; near 0.17, as similar as unrelated proteins.
function tmMeaning(tm) {
  if (tm >= 0.5) return 'the same fold (above 0.5)';
  if (tm > 0.17) return 'partly similar (0.17 to 0.5)';
  return 'no more alike than unrelated proteins (0.17 or less)';
}

/** This job's other ranked models (AlphaFold2's rank_2_pdb...), as choices: [{value, label, jobId, format, own}]. */
function ownRanks(job) {
  return (job.formats || []).map((fmt) => /^rank_(\d+)_pdb$/.exec(fmt)).filter(Boolean)
    .map(([fmt, rank]) => ({value: fmt, label: `Rank ${rank} of this job`, jobId: job.job_id, format: fmt, own: true}));
}

function figure(label, value, note, id) {
  return h('div', {class: 'compare-figure', id}, h('div', {class: 'label'}, label), h('div', {class: 'value'}, value),
    h('div', {class: 'note'}, note));
}

/** The card; `drawn` resolves to the structure viewer once it is drawn (null when 3Dmol is missing). */
export function compareCard(job, thisPdb, drawn, query) {
  const select = h('select', {id: 'compare-with', 'aria-label': 'Structure to compare with', disabled: true},
    h('option', {value: ''}, 'Loading your structures…'));
  const go = h('button', {class: 'btn', type: 'button', id: 'compare-go', disabled: true}, 'Compare');
  const stop = h('button', {class: 'btn', type: 'button', id: 'compare-stop', hidden: true}, 'Stop comparing');
  const file = h('input', {type: 'file', id: 'compare-file', accept: '.pdb,.ent,.txt', 'aria-label': 'A PDB file to compare with'});
  const result = h('div', {id: 'compare-result', 'aria-live': 'polite'});
  let choices = []; // [{value, label, jobId, format, own?}]: own for this job's other ranks

  function showAddress(otherId) {
    const address = new URL(location.href);
    if (otherId) address.searchParams.set('compare', otherId); else address.searchParams.delete('compare');
    history.replaceState(history.state, '', address);
  }

  async function compare() {
    const other = choices.find((c) => c.value === select.value);
    if (other) await superposeOn(other, () => download(other.jobId, other.format));
  }

  /** Superposes the structure `text()` gives on this one; `other`: its label, and its job's id or its value in
   * the address (none for a file: a file cannot be linked). */
  let latest = 0; // the newest comparison asked for: an older one still downloading must not overwrite it
  async function superposeOn(other, text) {
    const asked = ++latest;
    const done = busy(go);
    replace(result, h('div', {class: 'muted'}, `Superposing ${other.label}…`));
    try {
      const otherPdb = await text();
      const found = compareStructures(thisPdb, otherPdb);
      const viewer = await drawn;
      if (asked !== latest) return; // a file chosen (or another job) while this one downloaded: that one shows
      viewer?.overlay(movePdb(otherPdb, found.transform));
      replace(result, outcome(other, found));
      stop.hidden = false;
      showAddress(other.value || null);
    } catch (err) {
      const viewer = await drawn;
      if (asked !== latest) return;
      viewer?.overlay(null); // the previous comparison is gone too: nothing to stop, nothing to link
      stop.hidden = true;
      showAddress(null);
      replace(result, h('div', {class: 'notice bad', id: 'compare-error'}, h('div', {},
        h('strong', {}, 'Could not compare'), err.message)));
    } finally {
      if (asked === latest) done(Boolean(select.value));
    }
  }

  function outcome(other, found) {
    const identity = found.sameSequence ? 'the same sequence'
      : `${Math.round(found.identity * 100)}% identical over the ${num(found.aligned)} residues aligned`;
    return h('div', {class: 'stack'},
      h('div', {class: 'legend', id: 'compare-legend'},
        // Against one of its own ranks, "this job" is its rank 1 model: the one drawn, and the one a download gives.
        h('span', {}, other.own ? 'This job’s rank 1 model: coloured by pLDDT' : 'This job: coloured by pLDDT'),
        h('span', {}, h('span', {class: 'sw', style: {background: OVERLAY_COLOR}}), 'Compared: ',
          other.jobId && !other.own ? h('a', {href: `/jobs/${encodeURIComponent(other.jobId)}`}, other.label) : other.label)),
      h('div', {class: 'compare-figures'},
        figure('TM-score', num(found.tm, 3), `0\u2060–\u20601, over this job’s ${num(found.lengthThis)} residues: ${tmMeaning(found.tm)}`, 'compare-tm'),
        figure('Cα RMSD', `${num(found.rmsd, 2)}\u00a0Å`, `over ${num(found.aligned)} paired residues, after the best fit of all of them`, 'compare-rmsd'),
        figure('Sequences', found.sameSequence ? 'Same' : `${Math.round(found.identity * 100)}%`,
          `${identity}; the other has ${num(found.lengthOther)} residues`, 'compare-identity')),
      h('div', {class: 'small muted'}, 'Residues are paired by sequence (a global alignment when the sequences differ). ',
        'The viewer shows the other structure superposed for the TM-score; the RMSD uses its own best fit.'));
  }

  go.addEventListener('click', compare);
  file.addEventListener('change', () => {
    const chosen = file.files[0];
    if (!chosen) return;
    select.value = '';
    superposeOn({label: `file ${chosen.name}`}, () => chosen.text()).finally(() => { file.value = ''; });
  });
  select.addEventListener('change', () => { go.disabled = !select.value; });
  stop.addEventListener('click', async () => {
    (await drawn)?.overlay(null);
    replace(result);
    stop.hidden = true;
    showAddress(null);
  });

  structureJobs().then((found) => {
    const ranks = ownRanks(job);
    const others = found.filter((j) => j.job_id !== job.job_id && !j.results_deleted_at)
      .map((j) => ({value: j.job_id, label: jobChoiceLabel(j), jobId: j.job_id, format: 'pdb'}));
    choices = [...ranks, ...others];
    const options = (list) => list.map((c) => h('option', {value: c.value}, c.label));
    replace(select, choices.length ? [h('option', {value: ''}, 'Choose a structure…'),
      ranks.length ? h('optgroup', {label: 'This job’s other models'}, options(ranks)) : null,
      others.length ? h('optgroup', {label: ranks.length ? 'Your other jobs' : 'Your jobs'}, options(others)) : null]
      // Short enough for a phone's select (320 px), which cuts what does not fit ("No other completed ESMFold or Alpha").
      : h('option', {value: ''}, 'No other structure yet'));
    select.disabled = !choices.length;
    const wanted = query?.get('compare');
    if (wanted && choices.some((c) => c.value === wanted)) {
      select.value = wanted;
      compare();
    } else if (wanted) { // a link to a job since deleted, or of another account, or to a rank this job lacks
      const rank = /^rank_(\d+)_pdb$/.exec(wanted);
      replace(result, h('div', {class: 'muted', id: 'compare-missing'}, rank
        ? `This job has no rank ${rank[1]} model (only AlphaFold2 jobs rank several): choose a structure above.`
        : `Job ${shortId(wanted)} is not one of your completed ESMFold or AlphaFold2 jobs: choose a structure above.`));
    }
  });

  return h('div', {class: 'card', id: 'compare-card'},
    h('div', {class: 'card-head'}, h('h2', {}, 'Compare'),
      h('span', {class: 'hint'}, ownRanks(job).length ? 'Superpose another of this job’s models, or of your predictions, on this one'
        : 'Superpose another of your predictions on this one')),
    h('div', {class: 'card-body stack'}, h('div', {class: 'row compare-pick'}, select, go, stop),
      h('div', {class: 'row small muted compare-file'}, h('label', {for: 'compare-file'}, 'Or a PDB file (an experimental structure, say):'), file),
      result));
}
