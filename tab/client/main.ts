import type { DashboardLearner, DashboardQueueItem, DashboardReviewItem, DashboardRun, RunListItem } from '../dashboardTypes';
import { actions, ApiProblem, listRuns, loadDashboard } from './api';
import { canExtend, canResume, elapsedMs, formatDuration, formatUsd, phaseStateLabel, stateLabel, stuckReasons } from './model';
import { detectHost, offerTabConfiguration, readKey, saveKey, type Host } from './teamsHost';

/**
 * The instructor dashboard page. Live by polling the run's read model every POLL_MS with
 * If-None-Match (an unchanged run costs a 304 and no rendering) — see the README for why polling
 * rather than server-sent events on Azure Functions. The DOM is updated in place, keyed by learner,
 * so focus, typed comments and scroll position survive every refresh.
 */
const POLL_MS = 2_000;
const RUNS_EVERY_MS = 30_000;
const MAX_BACKOFF_MS = 15_000;

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`dashboard.html has no #${id}`);
  return el as T;
};

function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<Record<string, string>> = {}, ...children: Array<Node | string | null>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) if (v !== undefined) el.setAttribute(k, v);
  for (const c of children) if (c !== null) el.append(c);
  return el;
}

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
  rows.clear();
  $('gridBody').replaceChildren();
  for (const id of ['stuckList', 'failuresList', 'reviewList', 'helpList']) $(id).replaceChildren();
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
      state.run = r.run;
      state.etag = r.etag;
      state.offsetMs = Date.parse(r.run.serverTime) - Date.now();
      render(r.run);
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
}
const rows = new Map<string, Row>();

function badge(cls: string, text: string): HTMLElement {
  return h('span', { class: `badge ${cls}` }, text);
}

function render(run: DashboardRun): void {
  $('runView').hidden = false;
  $('noRuns').hidden = true;
  renderSummary(run);
  renderGrid(run);
  renderQueues(run);
  tick();
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
    ['Asking for help', String(run.helpQueue.length)],
    ['Failed', String(run.failures.length)],
  ];
  if (p) stats.push(['Environments', `${p.deploying} deploying, ${p.queued} queued, ${p.retrying} retrying, ${p.succeeded} ready${p.failed ? `, ${p.failed} failed` : ''}`]);
  $('runStats').replaceChildren(...stats.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));

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
  }
  const body = $('gridBody');
  const seen = new Set<string>();
  for (const l of run.learners) {
    seen.add(l.learnerId);
    let row = rows.get(l.learnerId);
    if (!row) {
      row = createRow(l, run);
      rows.set(l.learnerId, row);
      body.append(row.tr);
    }
    updateRow(row, l, run);
  }
  for (const [id, row] of rows) if (!seen.has(id)) (row.tr.remove(), rows.delete(id));
}

function createRow(l: DashboardLearner, run: DashboardRun): Row {
  const name = h('span', {}, l.name);
  const sub = h('span', { class: 'sub' }, l.learnerId);
  const th = h('th', { scope: 'row' }, name, sub);
  const phases = run.phases.map(() => h('td', { class: 'phase' }));
  const time = h('td', { class: 'time' });
  const resume = h('button', { type: 'button', class: 'secondary' }, 'Resume');
  const extend = h('button', { type: 'button', class: 'secondary' }, 'Extend');
  resume.addEventListener('click', () => void resumeLearner(l.learnerId));
  extend.addEventListener('click', () => void extendLearner(l.learnerId));
  const acts = h('td', { class: 'acts' }, resume, extend);
  const tr = h('tr', { 'data-learner': l.learnerId }, th, ...phases, time, acts);
  return { tr, name, sub, phases, time, resume, extend };
}

function updateRow(row: Row, l: DashboardLearner, run: DashboardRun): void {
  row.name.textContent = l.name;
  row.sub.textContent = l.email ?? l.learnerId;
  row.sub.title = l.email ? `${l.email} (learner id ${l.learnerId})` : l.learnerId;
  l.cells.forEach((cell, i) => {
    const td = row.phases[i];
    const parts: Node[] = [];
    if (cell.state === 'notStarted') parts.push(h('span', { class: 'none' }, 'Not started'));
    else if (cell.state === 'passed') parts.push(badge('passed', 'Passed'));
    else if (cell.state === 'skipped') parts.push(badge('skipped', 'Skipped'));
    else {
      parts.push(badge(cell.state === 'failed' ? 'failed' : l.state, cell.state === 'failed' ? 'Failed' : stateLabel(l.state)));
      if (l.stepTitle) {
        const where = [l.stepNumber && l.steps ? `step ${l.stepNumber}/${l.steps}` : null, phaseStateLabel(l.phaseState)].filter(Boolean).join(', ');
        parts.push(h('span', { class: 'step' }, l.stepTitle, where ? h('span', { class: 'sub' }, ` — ${where}`) : null));
      }
      if (cell.state === 'failed' && l.failure) parts.push(h('span', { class: 'step' }, l.failure.message));
    }
    const text = parts.map((p) => p.textContent).join('|');
    if (td.dataset.text !== text) {
      td.dataset.text = text;
      td.replaceChildren(...parts);
    }
    td.setAttribute('data-phase', run.phases[i].id);
    td.setAttribute('data-state', cell.state === 'current' ? l.state : cell.state);
  });
  const resumable = canResume(l);
  row.resume.disabled = !resumable || state.busy.has(`resume:${l.learnerId}`);
  row.resume.setAttribute('aria-label', `Resume ${l.name}${resumable ? ` at the failed step` : ' (not failed)'}`);
  const extendable = canExtend(l);
  row.extend.disabled = !extendable || state.busy.has(`extend:${l.learnerId}`);
  row.extend.setAttribute('aria-label', `Extend ${l.name}'s step by ${extensionMinutes()} minutes`);
}

/** Time in state and stuck marks: every second, from the last answer and the server's clock. */
function tick(): void {
  const run = state.run;
  if (!run) return;
  const now = Date.now();
  const stuck: Array<{ l: DashboardLearner; reasons: ReturnType<typeof stuckReasons> }> = [];
  for (const l of run.learners) {
    const row = rows.get(l.learnerId);
    if (!row) continue;
    const elapsed = elapsedMs(l.since, now, state.offsetMs);
    const reasons = stuckReasons(l, elapsed);
    if (reasons.length) stuck.push({ l, reasons });
    const parts: Array<Node | string> = [];
    parts.push(elapsed === null ? '—' : formatDuration(elapsed));
    if (l.timeboxMs && (l.state === 'working' || l.state === 'stuck')) parts.push(h('span', { class: 'sub' }, `timebox ${formatDuration(l.timeboxMs)}`));
    for (const r of reasons) parts.push(h('span', { class: 'sub' }, badge(r.kind, r.kind === 'timebox' ? 'Over time' : 'Failing checks')));
    row.time.replaceChildren(...parts);
    row.tr.classList.toggle('attention', reasons.length > 0);
    row.tr.classList.toggle('failed', l.state === 'failed');
  }
  syncList(
    $('stuckList'),
    stuck,
    (s) => s.l.learnerId,
    (s) => h('li', {}, h('div', { class: 'q-head' }, h('strong', {}, s.l.name)), h('p', { class: 'q-text' })),
    (li, s) => {
      const text = `${run.phases.find((p) => p.id === s.l.phase)?.title ?? s.l.phase}${s.l.stepTitle ? `, ${s.l.stepTitle}` : ''}: ${s.reasons.map((r) => r.text).join('; ')}`;
      const p = li.querySelector('.q-text')!;
      if (p.textContent !== text) p.textContent = text;
    },
    'Nobody is over time or failing checks.',
  );
  $('stuckCount').textContent = `(${stuck.length})`;
}

function renderQueues(run: DashboardRun): void {
  $('failuresCount').textContent = `(${run.failures.length})`;
  $('reviewCount').textContent = `(${run.reviewQueue.length})`;
  $('helpCount').textContent = `(${run.helpQueue.length})`;
  syncList($('failuresList'), run.failures, (f) => `${f.learnerId}|${f.since}`, createFailure, updateQueueItem, 'No failures.');
  syncList($('reviewList'), run.reviewQueue, (r) => `${r.learnerId}|${r.round}`, createReview, updateReview, 'No designs waiting for review.');
  syncList($('helpList'), run.helpQueue, (q) => `${q.learnerId}|${q.since}`, createHelp, updateQueueItem, 'Nobody is waiting for help.');
}

/** Keyed list update: items keep their element (and anything typed into it) while they stay. */
function syncList<T>(ul: HTMLElement, items: T[], key: (t: T) => string, create: (t: T) => HTMLElement, update: (li: HTMLElement, t: T) => void, empty: string): void {
  const existing = new Map<string, HTMLElement>();
  for (const li of Array.from(ul.children) as HTMLElement[]) {
    if (li.dataset.key) existing.set(li.dataset.key, li);
    else li.remove();
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
  if (!items.length) ul.replaceChildren(h('li', { class: 'empty' }, empty));
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

function updateReview(li: HTMLElement, q: DashboardReviewItem): void {
  updateQueueItem(li, q);
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
    state.etag = null;
    void poll();
  }
}

function learnerName(learnerId: string): string {
  return state.run?.learners.find((l) => l.learnerId === learnerId)?.name ?? learnerId;
}

function resumeLearner(learnerId: string, from: 'failedStep' | 'start' = 'failedStep'): Promise<void> {
  const row = rows.get(learnerId);
  return act(`resume:${learnerId}`, row ? [row.resume] : [], () => actions.resume(state.key!, state.runId!, learnerId, from), `Resuming ${learnerName(learnerId)}.`);
}

function extensionMinutes(): number {
  const v = Number($<HTMLInputElement>('extendRunMinutes').value);
  return Number.isFinite(v) && v > 0 ? Math.min(600, v) : 10;
}

function extendLearner(learnerId: string): Promise<void> {
  const row = rows.get(learnerId);
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
  $('extendRunMinutes').addEventListener('input', () => state.run && renderGrid(state.run));
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
