import type { DashboardAnswerItem, DashboardDisputeItem, DashboardFailureItem, DashboardLearner, DashboardQueueItem, DashboardReviewItem, DashboardRun, RunListItem } from '../dashboardTypes';
import { actions, ApiProblem, listRuns, loadDashboard } from './api';
import { createAnswer, createDispute, renderReport, updateAnswer, updateDispute, updateFailedChecks, updatePeerReviews, type PanelHost, type ReportFilter } from './decisionPanels';
import { $, badge, h } from './dom';
import {
  applyDelta,
  canExtend,
  canResume,
  elapsedMs,
  formatDuration,
  formatUsd,
  funnel,
  learnersText,
  phaseStateLabel,
  selectLearners,
  STATE_FILTERS,
  stateLabel,
  stuckReasons,
  type LearnerQuery,
  type SortKey,
  type StateFilter,
  type StuckReason,
} from './model';
import { renderHotStart } from './hotStartPanel';
import { detectHost, offerTabConfiguration, readKey, saveKey, type Host } from './teamsHost';
import { VirtualRows } from './virtualRows';

/**
 * The instructor dashboard page. Live by polling the run's read model every POLL_MS with
 * If-None-Match and `?since=` (an unchanged run costs a 304 and no rendering; a changed one brings only
 * the learners that changed) — see the README for why polling rather than server-sent events on Azure
 * Functions. The table holds only the rows in view (virtualRows.ts), updated in place and keyed by
 * learner, so focus, typed comments and scroll position survive every refresh.
 */
const POLL_MS = 2_000;
const RUNS_EVERY_MS = 30_000;
const MAX_BACKOFF_MS = 15_000;

const state = {
  host: { kind: 'browser' } as Host,
  key: null as string | null,
  runs: [] as RunListItem[],
  runId: null as string | null,
  run: null as DashboardRun | null,
  etag: null as string | null,
  offsetMs: 0,
  lastOkAt: 0,
  errors: 0,
  pollTimer: 0 as number,
  runsAt: 0,
  busy: new Set<string>(),
};

// ── feedback ────────────────────────────────────────────────────────────────────────────────

function say(text: string, bad = false): void {
  const f = $('feedback');
  f.textContent = text;
  f.classList.toggle('bad', bad);
}

function setLive(text: string, bad = false): void {
  const live = $('live');
  live.textContent = text;
  live.classList.toggle('bad', bad);
}

/** "14:05" today, "Dec 8, 14:05" on another day. */
function shortTime(iso: string): string {
  const d = new Date(iso);
  const today = d.toDateString() === new Date().toDateString();
  return today ? d.toLocaleTimeString([], { timeStyle: 'short' }) : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

function who(): string {
  return state.host.kind === 'teams' && state.host.userPrincipalName ? state.host.userPrincipalName : 'instructor (dashboard)';
}

// ── key ─────────────────────────────────────────────────────────────────────────────────────

function showKeyPanel(error?: string): void {
  stopPolling();
  $('keyPanel').hidden = false;
  $('runView').hidden = true;
  $('noRuns').hidden = true;
  $('runField').hidden = true;
  $('changeKey').hidden = true;
  $('keyError').textContent = error ?? '';
  setLive('');
  $<HTMLInputElement>('keyInput').focus();
}

async function useKey(key: string): Promise<void> {
  state.key = key;
  try {
    state.runs = await listRuns(key);
  } catch (err) {
    if (err instanceof ApiProblem && (err.status === 401 || err.status === 403)) {
      saveKey(null);
      state.key = null;
      showKeyPanel(err.status === 403 ? 'That is a learner token, not the instructor key.' : 'The workshop app does not know that key.');
      return;
    }
    showKeyPanel((err as Error).message);
    return;
  }
  saveKey(key);
  $('keyPanel').hidden = true;
  $('changeKey').hidden = false;
  state.runsAt = Date.now();
  renderRunPicker();
  const wanted = new URLSearchParams(location.hash.replace(/^#/, '')).get('run') ?? (state.host.kind === 'teams' ? state.host.subPageId : null);
  const pick = state.runs.find((r) => r.runId === wanted) ?? state.runs.find((r) => r.status === 'running') ?? state.runs[0];
  selectRun(pick?.runId ?? null);
}

// ── runs ────────────────────────────────────────────────────────────────────────────────────

function renderRunPicker(): void {
  const picker = $<HTMLSelectElement>('runPicker');
  $('runField').hidden = state.runs.length === 0;
  $('noRuns').hidden = state.runs.length !== 0 || state.runId !== null;
  const options = state.runs.map((r) => {
    return h('option', { value: r.runId }, `${r.runId}${r.status === 'ended' ? ' (ended)' : ''}${r.startedAt ? ` · ${shortTime(r.startedAt)}` : ''}`);
  });
  picker.replaceChildren(...options);
  if (state.runId) picker.value = state.runId;
}

function selectRun(runId: string | null): void {
  stopPolling();
  state.runId = runId;
  state.run = null;
  state.etag = null;
  rowsOf().clear();
  seenQueues.clear();
  for (const id of ['stuckList', 'failuresList', 'reviewList', 'helpList', 'disputeList', 'answerList', 'reportBody']) $(id).replaceChildren();
  delete $('reportBody').dataset.text;
  $('runView').hidden = true;
  $('noRuns').hidden = runId !== null;
  if (!runId) {
    setLive('');
    schedule(POLL_MS); // keeps looking for runs: the first one started is opened by itself
    return;
  }
  $<HTMLSelectElement>('runPicker').value = runId;
  const hash = new URLSearchParams(location.hash.replace(/^#/, ''));
  hash.set('run', runId);
  history.replaceState(null, '', `${location.pathname}${location.search}#${hash.toString()}`);
  setLive('Loading…');
  void poll();
}

// ── polling ─────────────────────────────────────────────────────────────────────────────────

function stopPolling(): void {
  if (state.pollTimer) clearTimeout(state.pollTimer);
  state.pollTimer = 0;
}

function schedule(ms: number): void {
  stopPolling();
  state.pollTimer = window.setTimeout(() => void poll(), ms);
}

async function poll(): Promise<void> {
  const { key, runId } = state;
  if (!key) return;
  if (!runId) return waitForRuns(key);
  if (document.visibilityState === 'hidden') return schedule(POLL_MS); // nobody is looking: no requests
  try {
    if (Date.now() - state.runsAt > RUNS_EVERY_MS) {
      state.runsAt = Date.now();
      state.runs = await listRuns(key);
      renderRunPicker();
    }
    const r = await loadDashboard(key, runId, state.etag);
    if (runId !== state.runId) return; // the instructor picked another run meanwhile
    if (r.run) {
      let run: DashboardRun;
      try {
        run = applyDelta(state.run && state.etag ? { run: state.run, etag: state.etag } : null, r.run);
      } catch {
        state.etag = null; // not the answer it was a delta to: ask for the whole run
        return schedule(0);
      }
      state.run = run;
      state.etag = r.etag;
      state.offsetMs = Date.parse(run.serverTime) - Date.now();
      render(run, r.run.delta ? r.run.learners.length : 'all');
    }
    if (state.errors) say('Connected again.');
    state.errors = 0;
    state.lastOkAt = Date.now();
    setLive(`Live · updated ${new Date().toLocaleTimeString()}`);
    schedule(POLL_MS);
  } catch (err) {
    if (err instanceof ApiProblem && (err.status === 401 || err.status === 403)) {
      saveKey(null);
      showKeyPanel('The key is no longer accepted; enter the instructor key again.');
      return;
    }
    if (err instanceof ApiProblem && err.status === 404) {
      say(err.message, true);
      return selectRun(null);
    }
    state.errors++;
    const wait = Math.min(MAX_BACKOFF_MS, POLL_MS * 2 ** Math.min(state.errors, 4));
    setLive(`Not updating — retrying in ${Math.round(wait / 1000)} s`, true);
    if (state.errors === 1) say(`Lost contact with the workshop app: ${(err as Error).message}`, true);
    schedule(wait);
  }
}

/** No run is open: look for one every few seconds and open the first that is running. */
async function waitForRuns(key: string): Promise<void> {
  if (document.visibilityState !== 'hidden' && Date.now() - state.runsAt >= 5_000) {
    state.runsAt = Date.now();
    try {
      state.runs = await listRuns(key);
    } catch (err) {
      if (err instanceof ApiProblem && (err.status === 401 || err.status === 403)) return showKeyPanel('The key is no longer accepted; enter the instructor key again.');
    }
    if (state.key !== key || state.runId) return;
    renderRunPicker();
    const pick = state.runs.find((r) => r.status === 'running') ?? state.runs[0];
    if (pick) return selectRun(pick.runId);
  }
  schedule(POLL_MS);
}

// ── rendering ───────────────────────────────────────────────────────────────────────────────

interface Row {
  tr: HTMLTableRowElement;
  name: HTMLElement;
  sub: HTMLElement;
  phases: HTMLTableCellElement[];
  time: HTMLTableCellElement;
  resume: HTMLButtonElement;
  extend: HTMLButtonElement;
  /** The learner object and extension minutes the row shows (a refresh replaces changed learners only). */
  shows: DashboardLearner | null;
  minutes: number;
  timeText: string;
}

/** What the table shows: the query, the order, and who is stuck right now (worked out every second). */
const view = {
  query: { phase: 'all', state: 'all', text: '' } as LearnerQuery,
  sort: 'attention' as SortKey,
  stuck: new Map<string, StuckReason[]>(),
  stuckKey: '',
  list: [] as DashboardLearner[],
  /** Learner ids in table order while a row holds the keyboard focus: rows do not move under it. */
  frozen: null as string[] | null,
  firstRender: true,
  /** Compact rows are the default for a big room (COMPACT_FROM learners) until the instructor chooses. */
  compactChosen: false,
};
const COMPACT_FROM = 40;

function setCompact(on: boolean): void {
  $<HTMLInputElement>('compact').checked = on;
  if ($('learners').classList.contains('compact') === on) return;
  $('learners').classList.toggle('compact', on);
  rowsOf().remeasure();
}

let grid: VirtualRows<DashboardLearner, Row> | null = null;

function rowsOf(): VirtualRows<DashboardLearner, Row> {
  grid ??= new VirtualRows<DashboardLearner, Row>($('tableScroll'), $('gridBody'), $('learners'), {
    columns: 7,
    key: (l) => l.learnerId,
    create: (l) => createRow(l),
    update: (row, l) => state.run && updateRow(row, l, state.run),
    estimate: () => ($('learners').classList.contains('compact') ? 34 : 75),
  });
  return grid;
}

function render(run: DashboardRun, changed: number | 'all'): void {
  const t0 = performance.now();
  $('runView').hidden = false;
  $('noRuns').hidden = true;
  renderSummary(run);
  renderHotStart(run);
  renderGrid(run);
  renderQueues(run);
  renderReport(run.report, reportFilter(), phaseTitle, shortTime);
  tick();
  // Figures for anyone profiling a big run (DevTools' Performance panel, the browser test).
  performance.measure('dashboard render', { start: t0, detail: { learners: run.learners.length, changed } });
  if (view.firstRender) {
    view.firstRender = false;
    performance.measure('dashboard first render', { start: 0, detail: { learners: run.learners.length } });
  }
}

function renderSummary(run: DashboardRun): void {
  $('runTitle').textContent = run.scenario.title;
  const status = run.ended ? `ended${run.endReason ? ` (${run.endReason})` : ''}` : run.paused ? 'paused' : run.runtimeStatus === 'Running' ? 'running' : run.runtimeStatus.toLowerCase();
  $('runMeta').textContent = `Run ${run.runId} · ${status}${run.startedAt ? ` · started ${new Date(run.startedAt).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })}` : ''}`;
  const p = run.provisioning;
  const stats: Array<[string, string]> = [
    ['Learners', String(run.counts.learners)],
    ['Started', String(run.counts.started)],
    ['Finished', String(run.counts.finished)],
    ['Reviews waiting', String(run.reviewQueue.length)],
    ['Disputes', String(run.disputeQueue.length)],
    ['Answers for review', String(run.answerQueue.length)],
    ['Asking for help', String(run.helpQueue.length)],
    ['Failed', String(run.failures.length)],
  ];
  if (p) stats.push(['Environments', `${p.deploying} deploying, ${p.queued} queued, ${p.retrying} retrying, ${p.succeeded} ready${p.failed ? `, ${p.failed} failed` : ''}`]);
  $('runStats').replaceChildren(...stats.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
  renderCost(run);
}

function renderCost(run: DashboardRun): void {
  const cost = run.cost;
  const meter = $('costMeter');
  const bar = meter.firstElementChild as HTMLElement;
  if (cost.available) {
    const pct = Math.round(cost.fraction * 100);
    $('costText').textContent = `${formatUsd(cost.spentUsd)} of ${formatUsd(cost.budgetUsd)} (${pct} %)`;
    meter.hidden = false;
    meter.setAttribute('aria-valuenow', String(Math.min(100, pct)));
    meter.setAttribute('aria-valuetext', `${pct} % of the budget spent`);
    meter.classList.toggle('warn', cost.warn && cost.fraction < 1);
    meter.classList.toggle('over', cost.fraction >= 1);
    bar.style.width = `${Math.min(100, pct)}%`;
    const source = cost.budgetSource === 'run' ? "the run's budget" : cost.budgetSource === 'setting' ? 'RUN_BUDGET_USD' : "the pack's development cost per learner";
    $('costNote').textContent =
      `${cost.running} environment${cost.running === 1 ? '' : 's'} running, ${formatUsd(cost.burnUsdPerHour)}/h` +
      `${cost.budgetReachedAt ? ` · at this rate the budget lasts until ${shortTime(cost.budgetReachedAt)}` : ''} · budget: ${source}`;
  } else {
    $('costText').textContent = 'Not available';
    meter.hidden = true;
    $('costNote').textContent = cost.reason;
  }
}

function renderGrid(run: DashboardRun): void {
  const head = $('gridHead');
  if (!head.childElementCount) {
    head.append(
      h('th', { scope: 'col' }, 'Learner'),
      ...run.phases.map((p, i) => h('th', { scope: 'col' }, `${i + 1}. ${p.title}`)),
      h('th', { scope: 'col' }, 'Time in state'),
      h('th', { scope: 'col' }, 'Actions'),
    );
    const phaseFilter = $<HTMLSelectElement>('phaseFilter');
    phaseFilter.replaceChildren(h('option', { value: 'all' }, 'Every phase'), ...run.phases.map((p, i) => h('option', { value: p.id }, `${i + 1}. ${p.title}`)));
    phaseFilter.value = view.query.phase;
  }
  if (!view.compactChosen) setCompact(run.learners.length >= COMPACT_FROM);
  refreshList();
}

/** Filter and sort the learners again and show the window of them that is in view. */
function refreshList(): void {
  const run = state.run;
  if (!run) return;
  const stuckIds = new Set(view.stuck.keys());
  if (view.frozen) {
    const byId = new Map(run.learners.map((l) => [l.learnerId, l] as const));
    view.list = view.frozen.flatMap((id) => byId.get(id) ?? []);
  } else {
    view.list = selectLearners(run.learners, view.query, view.sort, stuckIds);
  }
  rowsOf().setItems(view.list);
  const total = run.learners.length;
  const filtered = view.query.phase !== 'all' || view.query.state !== 'all' || view.query.text.trim() !== '';
  const shown = filtered ? `Showing ${view.list.length.toLocaleString('en-US')} of ${learnersText(total)}` : `${learnersText(total)}`;
  if ($('shown').textContent !== shown) $('shown').textContent = shown;
  renderFunnel(run, stuckIds);
}

function createRow(l: DashboardLearner): Row {
  const name = h('span', { class: 'name' }, l.name);
  const sub = h('span', { class: 'sub' }, l.learnerId);
  const th = h('th', { scope: 'row' }, name, sub);
  const phases = PHASE_COLUMNS.map(() => h('td', { class: 'phase' }));
  const time = h('td', { class: 'time' });
  const resume = h('button', { type: 'button', class: 'secondary' }, 'Resume');
  const extend = h('button', { type: 'button', class: 'secondary' }, 'Extend');
  resume.addEventListener('click', () => void resumeLearner(l.learnerId));
  extend.addEventListener('click', () => void extendLearner(l.learnerId));
  const acts = h('td', { class: 'acts' }, resume, extend);
  const tr = h('tr', { 'data-learner': l.learnerId }, th, ...phases, time, acts);
  return { tr, name, sub, phases, time, resume, extend, shows: null, minutes: 0, timeText: '' };
}
const PHASE_COLUMNS = [0, 1, 2, 3];

function phaseCell(l: DashboardLearner, cell: DashboardLearner['cells'][number]): { parts: Node[]; title: string } {
  if (cell.state === 'notStarted') return { parts: [h('span', { class: 'none' }, 'Not started')], title: '' };
  if (cell.state === 'passed') return { parts: [badge('passed', 'Passed')], title: '' };
  if (cell.state === 'skipped') return { parts: [badge('skipped', 'Skipped')], title: '' };
  const parts: Node[] = [badge(cell.state === 'failed' ? 'failed' : l.state, cell.state === 'failed' ? 'Failed' : stateLabel(l.state))];
  const lines: string[] = [];
  if (l.stepTitle) {
    const where = [l.stepNumber && l.steps ? `step ${l.stepNumber}/${l.steps}` : null, phaseStateLabel(l.phaseState)].filter(Boolean).join(', ');
    parts.push(h('span', { class: 'step' }, l.stepTitle, where ? h('span', { class: 'sub' }, ` — ${where}`) : null));
    lines.push(`${l.stepTitle}${where ? ` — ${where}` : ''}`);
  }
  if (cell.state === 'failed' && l.failure) {
    parts.push(h('span', { class: 'step why' }, l.failure.message));
    lines.push(l.failure.message);
  }
  // Compact rows cut long text short; the whole of it is the cell's tooltip.
  return { parts, title: lines.join('\n') };
}

function updateRow(row: Row, l: DashboardLearner, run: DashboardRun): void {
  const minutes = extensionMinutes();
  if (row.shows === l && row.minutes === minutes) return; // unchanged since the last refresh
  row.shows = l;
  row.minutes = minutes;
  row.name.textContent = l.name;
  row.sub.textContent = l.email ?? l.learnerId;
  row.sub.title = l.email ? `${l.email} (learner id ${l.learnerId})` : l.learnerId;
  l.cells.forEach((cell, i) => {
    const td = row.phases[i];
    if (!td) return;
    const { parts, title } = phaseCell(l, cell);
    const text = parts.map((p) => p.textContent).join('|');
    if (td.dataset.text !== text) {
      td.dataset.text = text;
      td.replaceChildren(...parts);
      td.title = title;
    }
    td.setAttribute('data-phase', run.phases[i].id);
    td.setAttribute('data-state', cell.state === 'current' ? l.state : cell.state);
  });
  const resumable = canResume(l);
  row.resume.disabled = !resumable || state.busy.has(`resume:${l.learnerId}`);
  row.resume.setAttribute('aria-label', `Resume ${l.name}${resumable ? ` at the failed step` : ' (not failed)'}`);
  const extendable = canExtend(l);
  row.extend.disabled = !extendable || state.busy.has(`extend:${l.learnerId}`);
  row.extend.setAttribute('aria-label', `Extend ${l.name}'s step by ${minutes} minutes`);
  paintTime(row, l, Date.now());
}

function paintTime(row: Row, l: DashboardLearner, now: number): void {
  const elapsed = elapsedMs(l.since, now, state.offsetMs);
  const reasons = view.stuck.get(l.learnerId) ?? [];
  const text = `${elapsed === null ? '—' : formatDuration(elapsed)}|${l.timeboxMs}|${reasons.map((r) => r.kind).join()}|${l.state}`;
  if (row.timeText === text) return;
  row.timeText = text;
  const parts: Array<Node | string> = [h('span', { class: 'elapsed' }, elapsed === null ? '—' : formatDuration(elapsed))];
  if (l.timeboxMs && (l.state === 'working' || l.state === 'stuck')) parts.push(h('span', { class: 'sub' }, `of ${formatDuration(l.timeboxMs)}`));
  for (const r of reasons) parts.push(h('span', { class: 'sub' }, badge(r.kind, r.kind === 'timebox' ? 'Over time' : 'Failing checks')));
  row.time.replaceChildren(...parts);
  row.tr.classList.toggle('attention', reasons.length > 0);
  row.tr.classList.toggle('failed', l.state === 'failed');
}

/**
 * Every second, from the last answer and the server's clock: who is stuck (for all learners — a
 * comparison each), the time in state of the rows in view, the stuck list; the table is re-sorted only
 * when who is stuck changed.
 */
function tick(): void {
  const run = state.run;
  if (!run) return;
  const now = Date.now();
  const stuck = new Map<string, StuckReason[]>();
  for (const l of run.learners) {
    const reasons = stuckReasons(l, elapsedMs(l.since, now, state.offsetMs));
    if (reasons.length) stuck.set(l.learnerId, reasons);
  }
  view.stuck = stuck;
  const key = [...stuck.entries()].map(([id, r]) => `${id}:${r.map((x) => x.kind).join()}`).join('|');
  if (key !== view.stuckKey) {
    view.stuckKey = key;
    refreshList();
  }
  for (const [l, row] of rowsOf().rendered()) paintTime(row, l, now);
  renderStuck(run, now);
}

function renderStuck(run: DashboardRun, now: number): void {
  const byId = new Map(run.learners.map((l) => [l.learnerId, l] as const));
  const stuck = [...view.stuck.entries()]
    .map(([id, reasons]) => ({ l: byId.get(id)!, reasons, elapsed: elapsedMs(byId.get(id)!.since, now, state.offsetMs) ?? 0 }))
    .sort((a, b) => b.elapsed - a.elapsed);
  syncList(
    $('stuckList'),
    stuck,
    (s) => s.l.learnerId,
    (s) => h('li', { 'data-learner': s.l.learnerId }, h('div', { class: 'q-head' }, h('strong', {}, s.l.name)), h('p', { class: 'q-text' })),
    (li, s) => {
      const text = `${run.phases.find((p) => p.id === s.l.phase)?.title ?? s.l.phase}${s.l.stepTitle ? `, ${s.l.stepTitle}` : ''}: ${s.reasons.map((r) => r.text).join('; ')}`;
      const p = li.querySelector('.q-text')!;
      if (p.textContent !== text) p.textContent = text;
    },
    'Nobody is over time or failing checks.',
  );
  $('stuckCount').textContent = `(${stuck.length})`;
}

/** One bar per phase: done, working, needs you, failed, not started — as widths and written out. */
function renderFunnel(run: DashboardRun, stuck: ReadonlySet<string>): void {
  const ol = $('funnel');
  const rows = funnel(run.learners, run.phases, stuck);
  const total = Math.max(1, run.learners.length);
  if (ol.childElementCount !== rows.length) {
    ol.replaceChildren(
      ...rows.map((r, i) => {
        const button = h('button', { type: 'button', class: 'f-phase quiet-button', 'aria-pressed': 'false', 'data-phase': r.phase }, `${i + 1}. ${r.title}`);
        button.addEventListener('click', () => setPhaseFilter(view.query.phase === r.phase ? 'all' : r.phase));
        const bar = h('div', { class: 'f-bar', 'aria-hidden': 'true' }, ...['done', 'working', 'needs', 'failed'].map((k) => h('span', { class: `seg ${k}` })));
        return h('li', { 'data-phase': r.phase }, button, bar, h('p', { class: 'f-nums' }));
      }),
    );
  }
  rows.forEach((r, i) => {
    const li = ol.children[i] as HTMLElement;
    const segs = li.querySelectorAll<HTMLElement>('.seg');
    [r.done, r.working, r.needsYou, r.failed].forEach((n, j) => (segs[j].style.width = `${(100 * n) / total}%`));
    const parts = [`${r.done} done`, `${r.working} working`, `${r.needsYou} need you`, `${r.failed} failed`, `${r.notStarted} not started`];
    const text = parts.join(' · ');
    const nums = li.querySelector('.f-nums')!;
    if (nums.textContent !== text) nums.textContent = text;
    li.querySelector('button')!.setAttribute('aria-pressed', String(view.query.phase === r.phase));
  });
}

function setPhaseFilter(phase: LearnerQuery['phase']): void {
  view.query.phase = phase;
  $<HTMLSelectElement>('phaseFilter').value = phase;
  requery();
}

/** A new search, filter or order shows its result from the top. */
function requery(): void {
  $('tableScroll').scrollTop = 0;
  refreshList();
}

/** A row with the focus keeps the table still: re-sorting under a keyboard user would move their place. */
function watchFocus(): void {
  const body = $('gridBody');
  body.addEventListener('focusin', () => (view.frozen ??= view.list.map((l) => l.learnerId)));
  body.addEventListener('focusout', (e) => {
    if (body.contains(e.relatedTarget as Node | null)) return;
    view.frozen = null;
    refreshList();
  });
}

function wireFilters(): void {
  const stateFilter = $<HTMLSelectElement>('stateFilter');
  stateFilter.replaceChildren(...STATE_FILTERS.map(([v, label]) => h('option', { value: v }, label)));
  $('filters').addEventListener('submit', (e) => e.preventDefault());
  $<HTMLInputElement>('search').addEventListener('input', (e) => {
    view.query.text = (e.target as HTMLInputElement).value;
    requery();
  });
  $('phaseFilter').addEventListener('change', (e) => setPhaseFilter((e.target as HTMLSelectElement).value as LearnerQuery['phase']));
  stateFilter.addEventListener('change', () => {
    view.query.state = stateFilter.value as StateFilter;
    requery();
  });
  $('sortBy').addEventListener('change', (e) => {
    view.sort = (e.target as HTMLSelectElement).value as SortKey;
    requery();
  });
  $('compact').addEventListener('change', (e) => {
    view.compactChosen = true;
    setCompact((e.target as HTMLInputElement).checked);
  });
  // "/" jumps to the search from anywhere but a text field, as on GitHub and MDN.
  document.addEventListener('keydown', (e) => {
    const t = e.target as HTMLElement;
    if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey || t.closest('input, textarea, select, [contenteditable]')) return;
    if ($('runView').hidden) return;
    e.preventDefault();
    $<HTMLInputElement>('search').focus();
  });
  watchFocus();
}

function renderQueues(run: DashboardRun): void {
  $('failuresCount').textContent = `(${run.failures.length})`;
  $('reviewCount').textContent = `(${run.reviewQueue.length})`;
  $('helpCount').textContent = `(${run.helpQueue.length})`;
  $('disputeCount').textContent = `(${run.disputeQueue.length})`;
  $('answerCount').textContent = `(${run.answerQueue.length})`;
  syncList($('failuresList'), run.failures, (f) => `${f.learnerId}|${f.since}`, createFailure, updateFailureItem, 'No failures.');
  syncList($('disputeList'), run.disputeQueue, (d) => `${d.learnerId}|${d.attempt}`, (d) => createDispute(panelHost, d), updateDisputeItem, 'No disputed checks.');
  syncList($('answerList'), run.answerQueue, (a) => `${a.learnerId}|${a.round}`, (a) => createAnswer(panelHost, a), updateAnswerItem, 'No answers waiting for review.');
  syncList($('reviewList'), run.reviewQueue, (r) => `${r.learnerId}|${r.round}`, createReview, updateReview, 'No designs waiting for review.');
  syncList($('helpList'), run.helpQueue, (q) => `${q.learnerId}|${q.since}`, createHelp, updateQueueItem, 'Nobody is waiting for help.');
  announceQueues(run);
}

/** The queue entries seen so far in this run, per queue: what is new since is announced. */
const seenQueues = new Map<string, Set<string>>();

/**
 * Tells a screen reader, politely and once, who newly asked for help, handed in a design or failed.
 * Not on the run's first answer (that is the page, not a change), and in one sentence per queue however
 * many arrived at once — at 1,000 learners a name per entry would never stop talking.
 */
function announceQueues(run: DashboardRun): void {
  const first = seenQueues.size === 0;
  const said: string[] = [];
  const queues: Array<[string, DashboardQueueItem[], (names: string, n: number) => string]> = [
    ['help', run.helpQueue, (names, n) => (n === 1 ? `${names} asked for help` : `${n} new help requests: ${names}`)],
    ['review', run.reviewQueue, (names, n) => (n === 1 ? `${names}'s design is waiting for review` : `${n} new designs waiting for review: ${names}`)],
    ['dispute', run.disputeQueue, (names, n) => (n === 1 ? `${names} disputes a failed check` : `${n} new disputed checks: ${names}`)],
    ['answer', run.answerQueue, (names, n) => (n === 1 ? `${names} sent an answer for review` : `${n} new answers for review: ${names}`)],
    ['failures', run.failures, (names, n) => (n === 1 ? `${names} failed` : `${n} learners failed: ${names}`)],
  ];
  for (const [queue, items, sentence] of queues) {
    const seen = seenQueues.get(queue) ?? new Set<string>();
    const fresh = items.filter((q) => !seen.has(`${q.learnerId}|${q.since}`));
    seenQueues.set(queue, new Set(items.map((q) => `${q.learnerId}|${q.since}`)));
    if (first || !fresh.length) continue;
    const names = fresh.slice(0, 3).map((q) => q.name).join(', ') + (fresh.length > 3 ? ` and ${fresh.length - 3} more` : '');
    said.push(sentence(names, fresh.length));
  }
  if (said.length) $('announce').textContent = `${said.join('. ')}.`;
}

/** A queue shows this many entries until the instructor asks for all (a long list is better filtered). */
const LIST_LIMIT = 25;
const expandedLists = new Set<string>();

/** Keyed list update: items keep their element (and anything typed into it) while they stay. */
function syncList<T>(ul: HTMLElement, all: T[], key: (t: T) => string, create: (t: T) => HTMLElement, update: (li: HTMLElement, t: T) => void, empty: string): void {
  const items = expandedLists.has(ul.id) ? all : all.slice(0, LIST_LIMIT);
  const existing = new Map<string, HTMLElement>();
  for (const li of Array.from(ul.children) as HTMLElement[]) {
    if (li.dataset.key) existing.set(li.dataset.key, li);
    else if (!li.classList.contains('more')) li.remove();
  }
  let prev: HTMLElement | null = null;
  for (const item of items) {
    const k = key(item);
    let li = existing.get(k);
    if (li) existing.delete(k);
    else {
      li = create(item);
      li.dataset.key = k;
    }
    update(li, item);
    const want: ChildNode | null = prev ? prev.nextSibling : ul.firstChild;
    if (want !== li) ul.insertBefore(li, want);
    prev = li;
  }
  for (const li of existing.values()) li.remove();
  if (!all.length) ul.replaceChildren(h('li', { class: 'empty' }, empty));
  else if (items.length < all.length) {
    const more = moreItem(ul, all.length - items.length);
    if (ul.lastElementChild !== more) ul.append(more); // moved only when it must: moving it would drop its focus
  } else moreItems.get(ul.id)?.li.remove();
}

/** "12 more not shown. [Show all 37]" — one element per list, kept across refreshes so its focus stays. */
const moreItems = new Map<string, { li: HTMLElement; text: Text; button: HTMLButtonElement }>();

function moreItem(ul: HTMLElement, hidden: number): HTMLElement {
  let m = moreItems.get(ul.id);
  if (!m) {
    const text = document.createTextNode('');
    const button = h('button', { type: 'button', class: 'secondary' });
    button.addEventListener('click', () => {
      expandedLists.add(ul.id);
      if (state.run) (renderQueues(state.run), tick());
      // The button is gone: the keyboard carries on at the first entry that was hidden.
      const next = ul.children[LIST_LIMIT] as HTMLElement | undefined;
      next?.setAttribute('tabindex', '-1');
      next?.focus();
    });
    m = { li: h('li', { class: 'more' }, text, button), text, button };
    moreItems.set(ul.id, m);
  }
  m.text.data = `${hidden} more not shown. `;
  m.button.textContent = `Show all ${hidden + LIST_LIMIT}`;
  return m.li;
}

function queueHead(q: DashboardQueueItem): HTMLElement {
  return h('div', { class: 'q-head' }, h('strong', { class: 'q-name' }, q.name), h('span', { class: 'q-since meta' }));
}

function updateQueueItem(li: HTMLElement, q: DashboardQueueItem): void {
  const phase = state.run?.phases.find((p) => p.id === q.phase)?.title ?? q.phase;
  const since = q.since ? shortTime(q.since) : '';
  li.querySelector('.q-name')!.textContent = q.name;
  li.querySelector('.q-since')!.textContent = `${phase}${since ? ` · since ${since}` : ''}`;
  const t = li.querySelector('.q-text')!;
  if (t.textContent !== q.text) t.textContent = q.text;
}

function createFailure(q: DashboardQueueItem): HTMLElement {
  const resume = h('button', { type: 'button', 'aria-label': `Resume ${q.name} at the failed step` }, 'Resume');
  const restart = h('button', { type: 'button', class: 'secondary', 'aria-label': `Restart ${q.name}'s phase from its first step` }, 'Restart phase');
  resume.addEventListener('click', () => void resumeLearner(q.learnerId, 'failedStep'));
  restart.addEventListener('click', () => void resumeLearner(q.learnerId, 'start'));
  return h('li', { 'data-learner': q.learnerId }, queueHead(q), h('p', { class: 'q-text' }), h('div', { class: 'q-form' }, h('div', { class: 'row' }, resume, restart)));
}

let formSeq = 0;

function createReview(q: DashboardReviewItem): HTMLElement {
  const id = `review-${++formSeq}`;
  const comment = h('textarea', { id, name: 'comment', rows: '2' });
  const approve = h('button', { type: 'submit', value: 'approve' }, 'Approve');
  const changes = h('button', { type: 'submit', value: 'changes', class: 'secondary' }, 'Request changes');
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h(
    'form',
    { class: 'q-form', 'aria-label': `Review of ${q.name}` },
    h('label', { for: id }, 'Comment (required to request changes)'),
    comment,
    h('div', { class: 'row' }, approve, changes),
    error,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const decision = ((e as SubmitEvent).submitter as HTMLButtonElement | null)?.value === 'changes' ? 'changes' : 'approve';
    const text = comment.value.trim();
    if (decision === 'changes' && !text) {
      error.textContent = 'Say what to change before requesting changes.';
      comment.setAttribute('aria-invalid', 'true');
      comment.focus();
      return;
    }
    error.textContent = '';
    comment.removeAttribute('aria-invalid');
    const current = state.run?.reviewQueue.find((r) => r.learnerId === q.learnerId);
    void review(q.learnerId, q.name, current?.round ?? q.round, decision, text, [approve, changes]);
  });
  return h('li', { 'data-learner': q.learnerId }, queueHead(q), h('p', { class: 'q-text' }), h('ul', { class: 'deliverables' }), form);
}

function updateDisputeItem(li: HTMLElement, q: DashboardDisputeItem): void {
  updateQueueItem(li, q);
  updateDispute(li, q);
}

function updateFailureItem(li: HTMLElement, q: DashboardFailureItem): void {
  updateQueueItem(li, q);
  updateFailedChecks(panelHost, li, q);
}

function updateAnswerItem(li: HTMLElement, q: DashboardAnswerItem): void {
  updateQueueItem(li, q);
  updateAnswer(li, q);
}

/** What the dispute and answer panels need of the page (decisionPanels.ts). */
const panelHost: PanelHost = {
  act: (busyKey, buttons, call, done) => act(busyKey, buttons, () => call(state.key!, state.runId!), done),
  who: () => who(),
  currentDispute: (learnerId) => state.run?.disputeQueue.find((d) => d.learnerId === learnerId),
  currentAnswer: (learnerId) => state.run?.answerQueue.find((a) => a.learnerId === learnerId),
};

function phaseTitle(phase: string): string {
  return state.run?.phases.find((p) => p.id === phase)?.title ?? phase;
}

function reportFilter(): ReportFilter {
  return $<HTMLSelectElement>('reportFilter').value as ReportFilter;
}

/** "Show" in the queues: every queue, or one of them (at 1,000 learners the one being worked through). */
function wireQueueFilters(): void {
  const queues = $<HTMLSelectElement>('queueFilter');
  queues.addEventListener('change', () => {
    for (const section of Array.from($('queueSections').children) as HTMLElement[]) section.hidden = queues.value !== 'all' && section.dataset.queue !== queues.value;
  });
  $('reportFilter').addEventListener('change', () => state.run && renderReport(state.run.report, reportFilter(), phaseTitle, shortTime));
  // A skip link to a queue the filter hides shows every queue again: the link never leads nowhere.
  for (const a of Array.from(document.querySelectorAll<HTMLAnchorElement>('.skips a'))) {
    a.addEventListener('click', () => {
      const target = document.querySelector<HTMLElement>(a.getAttribute('href')!);
      if (target?.hidden && target.parentElement?.id === 'queueSections') {
        queues.value = 'all';
        queues.dispatchEvent(new Event('change'));
      }
    });
  }
}

function updateReview(li: HTMLElement, q: DashboardReviewItem): void {
  updateQueueItem(li, q);
  updatePeerReviews(li, q);
  const list = li.querySelector('.deliverables')!;
  const text = JSON.stringify(q.deliverables);
  if ((list as HTMLElement).dataset.text === text) return;
  (list as HTMLElement).dataset.text = text;
  list.replaceChildren(
    ...(q.deliverables.length
      ? q.deliverables.map((d) => h('li', {}, `${d.step}: `, /^https?:\/\//i.test(d.uri) ? h('a', { href: d.uri, target: '_blank', rel: 'noopener noreferrer' }, d.name) : d.name))
      : [h('li', { class: 'none' }, 'No deliverables submitted.')]),
  );
}

function createHelp(q: DashboardQueueItem): HTMLElement {
  const id = `help-${++formSeq}`;
  const answer = h('textarea', { id, name: 'answer', rows: '2', required: '' });
  const send = h('button', { type: 'submit' }, 'Send answer');
  const form = h('form', { class: 'q-form', 'aria-label': `Answer ${q.name}` }, h('label', { for: id }, 'Answer'), answer, h('div', { class: 'row' }, send));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = answer.value.trim();
    if (!text) return answer.focus();
    void act(`help:${q.learnerId}`, [send], () => actions.answerHelp(state.key!, state.runId!, q.learnerId, text), `Answer sent to ${q.name}.`);
  });
  return h('li', { 'data-learner': q.learnerId }, queueHead(q), h('p', { class: 'q-text' }), form);
}

// ── actions ─────────────────────────────────────────────────────────────────────────────────

async function act(busyKey: string, buttons: HTMLButtonElement[], call: () => Promise<{ data: unknown }>, done: string): Promise<void> {
  if (state.busy.has(busyKey) || !state.key || !state.runId) return;
  state.busy.add(busyKey);
  buttons.forEach((b) => (b.disabled = true));
  try {
    const r = await call();
    const detail = (r.data as { detail?: string; message?: string } | null)?.detail;
    say(`${done}${detail ? ` (${detail})` : ''}`);
  } catch (err) {
    say(err instanceof ApiProblem ? err.message : `The action failed: ${(err as Error).message}`, true);
    buttons.forEach((b) => (b.disabled = false));
  } finally {
    state.busy.delete(busyKey);
    // The next answer may well be a 304: the rows' buttons follow `busy` now, not at the next change.
    for (const [, row] of rowsOf().rendered()) row.shows = null;
    refreshList();
    void poll();
  }
}

function learnerName(learnerId: string): string {
  return state.run?.learners.find((l) => l.learnerId === learnerId)?.name ?? learnerId;
}

function resumeLearner(learnerId: string, from: 'failedStep' | 'start' = 'failedStep'): Promise<void> {
  const row = rowsOf().row(learnerId);
  return act(`resume:${learnerId}`, row ? [row.resume] : [], () => actions.resume(state.key!, state.runId!, learnerId, from), `Resuming ${learnerName(learnerId)}.`);
}

function extensionMinutes(): number {
  const v = Number($<HTMLInputElement>('extendRunMinutes').value);
  return Number.isFinite(v) && v > 0 ? Math.min(600, v) : 10;
}

function extendLearner(learnerId: string): Promise<void> {
  const row = rowsOf().row(learnerId);
  const minutes = extensionMinutes();
  return act(`extend:${learnerId}`, row ? [row.extend] : [], () => actions.extendLearner(state.key!, state.runId!, learnerId, minutes, who()), `Extended ${learnerName(learnerId)}'s step by ${minutes} min.`);
}

function review(learnerId: string, name: string, round: number | null, decision: 'approve' | 'changes', comment: string, buttons: HTMLButtonElement[]): Promise<void> {
  return act(
    `review:${learnerId}`,
    buttons,
    () => (decision === 'approve' ? actions.approve(state.key!, state.runId!, learnerId, round, comment || undefined) : actions.requestChanges(state.key!, state.runId!, learnerId, round, comment)),
    decision === 'approve' ? `Approved ${name}'s design.` : `Asked ${name} for changes.`,
  );
}

// ── start ───────────────────────────────────────────────────────────────────────────────────

function applyTheme(theme: string): void {
  document.documentElement.dataset.theme = theme === 'dark' || theme === 'contrast' ? theme : 'default';
}

async function boot(): Promise<void> {
  $('keyForm').addEventListener('submit', (e) => {
    e.preventDefault();
    const key = $<HTMLInputElement>('keyInput').value.trim();
    if (key) void useKey(key);
  });
  $('changeKey').addEventListener('click', () => {
    saveKey(null);
    state.key = null;
    showKeyPanel();
  });
  $('runPicker').addEventListener('change', (e) => selectRun((e.target as HTMLSelectElement).value || null));
  $('extendRunForm').addEventListener('submit', (e) => {
    e.preventDefault();
    const minutes = extensionMinutes();
    const button = (e.target as HTMLFormElement).querySelector('button')!;
    void act('extend:*', [button], () => actions.extendRun(state.key!, state.runId!, minutes, who()), `Extended every learner's current step by ${minutes} min.`).then(() => (button.disabled = false));
  });
  $('extendRunMinutes').addEventListener('input', () => refreshList());
  wireFilters();
  wireQueueFilters();
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && state.runId && state.key) void poll();
  });
  setInterval(tick, 1_000);

  setLive('Starting…');
  state.host = await detectHost(applyTheme);
  if (state.host.kind === 'teams') applyTheme(state.host.theme);
  $('host').textContent = state.host.kind === 'teams' ? `In Microsoft Teams${state.host.hostName ? ` (${state.host.hostName})` : ''}` : '';
  document.documentElement.dataset.host = state.host.kind;
  if (/\/configure\/?$/.test(location.pathname)) {
    $('configPanel').hidden = false;
    setLive('');
    if (state.host.kind === 'teams') {
      offerTabConfiguration();
      $('configStatus').textContent = 'Select Save to add the dashboard to this team.';
    } else {
      $('configStatus').append('This is the page Teams shows when the tab is added to a team. The dashboard itself is ', h('a', { href: './' }, 'here'), '.');
    }
    return;
  }
  const key = readKey();
  if (key) await useKey(key);
  else showKeyPanel();
}

void boot();
