import type { DashboardAnswerItem, DashboardDecision, DashboardDisputeItem, DashboardFailureItem, DashboardReport, DashboardReviewItem } from '../dashboardTypes';
import { actions } from './api';
import { h } from './dom';

/**
 * The dispute, answer-review and peer-review panels of the queues and the run report (issue 15 items 4 and 6).
 * Each queue entry is a form of real buttons with a labelled comment: everything is done by keyboard, and a
 * decision that needs a reason says so beside the field (role="alert") instead of sending an empty one, which
 * the API would refuse anyway. Entries are keyed by learner and attempt/round (main.ts's syncList), so a refresh
 * never clears what the instructor is typing.
 */
export interface PanelHost {
  /** Runs an action once (main.ts's `act`): buttons disabled meanwhile, the outcome said in #feedback, then a poll. */
  act(busyKey: string, buttons: HTMLButtonElement[], call: (key: string, runId: string) => Promise<{ data: unknown }>, done: string): Promise<void>;
  /** Who decides, as the run's record names them. */
  who(): string;
  /** The entry as the last answer has it (a newer attempt or round than the one the form was made for). */
  currentDispute(learnerId: string): DashboardDisputeItem | undefined;
  currentAnswer(learnerId: string): DashboardAnswerItem | undefined;
}

let seq = 0;

/** A labelled comment field, its buttons and the place its error is said: the shape of every decision form here. */
function decisionForm(label: string, ariaLabel: string, buttons: HTMLButtonElement[]) {
  const id = `decide-${++seq}`;
  const comment = h('textarea', { id, name: 'comment', rows: '2' });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'q-form', 'aria-label': ariaLabel }, h('label', { for: id }, label), comment, h('div', { class: 'row' }, ...buttons), error);
  /** The trimmed comment, or null after saying it is needed and putting the keyboard on it. */
  const required = (why: string): string | null => {
    const text = comment.value.trim();
    if (text) {
      error.textContent = '';
      comment.removeAttribute('aria-invalid');
      return text;
    }
    error.textContent = why;
    comment.setAttribute('aria-invalid', 'true');
    comment.focus();
    return null;
  };
  return { form, comment, required };
}

const submitter = (e: Event) => ((e as SubmitEvent).submitter as HTMLButtonElement | null)?.value ?? '';

// ── disputes ───────────────────────────────────────────────────────────────────────────────────

export function createDispute(host: PanelHost, q: DashboardDisputeItem): HTMLElement {
  const pass = h('button', { type: 'submit', value: 'override' }, 'Mark passed');
  const rerun = h('button', { type: 'submit', value: 'recheck', class: 'secondary' }, 'Re-run check');
  const back = h('button', { type: 'submit', value: 'return', class: 'secondary' }, 'Return with comment');
  const buttons = [pass, rerun, back];
  const { form, required } = decisionForm('Reason or comment (required to mark passed or return)', `Decide ${q.name}'s dispute`, buttons);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const decision = submitter(e) as 'override' | 'recheck' | 'return';
    const reason = decision === 'recheck' ? '' : required(decision === 'override' ? 'Say why the check counts as passed before marking it passed.' : 'Say what the learner should fix before returning the dispute.');
    if (reason === null) return;
    const current = host.currentDispute(q.learnerId) ?? q;
    const done = { override: `Marked ${q.name}'s check passed.`, recheck: `Re-running ${q.name}'s check.`, return: `Returned ${q.name}'s dispute with your comment.` }[decision];
    void host.act(`dispute:${q.learnerId}`, buttons, (key, runId) => actions.decideDispute(key, runId, q.learnerId, decision, current.attempt, host.who(), reason || undefined), done);
  });
  const side = h('div', { class: 'side-by-side' }, h('div', { class: 'says' }, h('h3', {}, 'Learner says'), h('blockquote', { class: 'note' })), h('div', { class: 'found' }, h('h3', {}, 'The check found'), h('div', { class: 'evidence' })));
  return h('li', { 'data-learner': q.learnerId, class: 'dispute' }, h('div', { class: 'q-head' }, h('strong', { class: 'q-name' }, q.name), h('span', { class: 'q-since meta' })), h('p', { class: 'q-text' }), side, form);
}

export function updateDispute(li: HTMLElement, q: DashboardDisputeItem): void {
  const note = li.querySelector('.note')!;
  if (note.textContent !== q.note) note.textContent = q.note;
  const box = li.querySelector<HTMLElement>('.evidence')!;
  const text = JSON.stringify(q.checks);
  if (box.dataset.text === text) return;
  box.dataset.text = text;
  box.replaceChildren(...q.checks.map((c) => evidenceTable(q.attempt, c)));
}

/**
 * One failed check: resource · property · observed · expected · fix. A field a row (a column per resource read), so
 * it stays legible in the queues' narrow column and a screen reader says each value with its name.
 */
function evidenceTable(attempt: number, c: DashboardDisputeItem['checks'][number]): HTMLElement {
  const read = c.evidence.length ? c.evidence : [{ resource: '—', property: '—', observed: c.message ?? 'the check recorded nothing it read', expected: '—' }];
  const field = (name: string, cls: string, value: (e: (typeof read)[number]) => Node | string) => h('tr', { class: cls }, h('th', { scope: 'row' }, name), ...read.map((e) => h('td', {}, value(e))));
  return h(
    'table',
    { class: 'evidence-table', 'data-check': c.checkId },
    h('caption', {}, `${c.checkId} — validation attempt ${attempt}`),
    h(
      'tbody',
      {},
      field('Resource', 'resource', (e) => e.resource),
      field('Property', 'property', (e) => h('code', {}, e.property)),
      field('Observed', 'observed', (e) => e.observed),
      field('Expected', 'expected', (e) => e.expected),
      h('tr', { class: 'fix' }, h('th', { scope: 'row' }, 'Fix'), h('td', { colspan: String(read.length) }, c.fix ?? '—')),
    ),
  );
}

// ── checks that failed a phase on their last attempt ─────────────────────────────────────────────

/**
 * A failure by checks: their evidence and "Mark passed" (a reason required) beside Resume (which re-runs them) and
 * Restart — nobody disputes a phase that has failed, so the instructor may still override it from here.
 */
export function updateFailedChecks(host: PanelHost, li: HTMLElement, q: DashboardFailureItem): void {
  if (!q.checks.length || q.attempt === null) return;
  let box = li.querySelector<HTMLElement>('.failed-checks');
  if (!box) {
    const attempt = q.attempt;
    const pass = h('button', { type: 'submit', value: 'override' }, 'Mark passed');
    const { form, required } = decisionForm('Reason (required to mark the checks passed)', `Mark ${q.name}'s failed checks passed`, [pass]);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const reason = required('Say why the checks count as passed before marking them passed.');
      if (reason === null) return;
      void host.act(`resume:${q.learnerId}`, [pass], (key, runId) => actions.decideDispute(key, runId, q.learnerId, 'override', attempt, host.who(), reason), `Marked ${q.name}'s checks passed; the phase goes on after the step.`);
    });
    box = h('div', { class: 'failed-checks' }, h('div', { class: 'evidence' }));
    li.append(box, form);
  }
  const evidence = box.querySelector<HTMLElement>('.evidence')!;
  const text = JSON.stringify(q.checks);
  if (evidence.dataset.text === text) return;
  evidence.dataset.text = text;
  evidence.replaceChildren(...q.checks.map((c) => evidenceTable(q.attempt!, c)));
}

// ── answers sent for review ────────────────────────────────────────────────────────────────────

export function createAnswer(host: PanelHost, q: DashboardAnswerItem): HTMLElement {
  const accept = h('button', { type: 'submit', value: 'accept' }, 'Accept');
  const back = h('button', { type: 'submit', value: 'return', class: 'secondary' }, 'Return with comment');
  const buttons = [accept, back];
  const { form, required } = decisionForm('Comment (required: why it covers the criteria, or what it is missing)', `Decide ${q.name}'s answer`, buttons);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const decision = submitter(e) === 'return' ? 'return' : 'accept';
    const comment = required(decision === 'accept' ? 'Say why the answer covers the criteria before accepting it.' : 'Say what the answer is missing before returning it.');
    if (comment === null) return;
    const current = host.currentAnswer(q.learnerId) ?? q;
    const done = decision === 'accept' ? `Accepted ${q.name}'s answer.` : `Returned ${q.name}'s answer with your comment.`;
    void host.act(`answer:${q.learnerId}`, buttons, (key, runId) => actions.decideAnswer(key, runId, q.learnerId, decision, current.round, host.who(), comment), done);
  });
  return h(
    'li',
    { 'data-learner': q.learnerId, class: 'answer' },
    h('div', { class: 'q-head' }, h('strong', { class: 'q-name' }, q.name), h('span', { class: 'q-since meta' })),
    h('p', { class: 'q-text' }),
    h('div', { class: 'side-by-side' }, h('div', {}, h('h3', {}, 'Answer'), h('blockquote', { class: 'answer-text' }), h('p', { class: 'learner-note meta' })), h('div', {}, h('h3', {}, 'Criteria'), h('ul', { class: 'criteria' }))),
    form,
  );
}

export function updateAnswer(li: HTMLElement, q: DashboardAnswerItem): void {
  const text = JSON.stringify([q.answer, q.note, q.criteria, q.minWords, q.tooShort]);
  if (li.dataset.text === text) return;
  li.dataset.text = text;
  li.querySelector('.answer-text')!.textContent = q.answer;
  li.querySelector('.learner-note')!.textContent = q.note ? `Learner's note: ${q.note}` : '';
  const items = q.criteria.map((c) => h('li', { class: c.metByKeywords ? 'met' : 'missing', 'data-criterion': c.id }, h('span', { class: `badge ${c.metByKeywords ? 'passed' : 'awaitingReview'}` }, c.metByKeywords ? 'Met by keywords' : 'Not found by keywords'), ` ${c.description}`));
  if (q.minWords) items.push(h('li', { class: q.tooShort ? 'missing' : 'met' }, h('span', { class: `badge ${q.tooShort ? 'awaitingReview' : 'passed'}` }, q.tooShort ? 'Too short' : 'Long enough'), ` at least ${q.minWords} words`));
  li.querySelector('.criteria')!.replaceChildren(...items);
}

// ── peer reviews beside a design ───────────────────────────────────────────────────────────────

export function updatePeerReviews(li: HTMLElement, q: DashboardReviewItem): void {
  let box = li.querySelector<HTMLElement>('.peer-reviews');
  const text = JSON.stringify(q.peerReviews);
  if (box?.dataset.text === text) return;
  if (!box) {
    box = h('div', { class: 'peer-reviews' });
    li.querySelector('.deliverables')!.after(box);
  }
  box.dataset.text = text;
  if (!q.peerReviews.length) return box.replaceChildren();
  box.replaceChildren(
    h('h3', {}, `Peer reviews (${q.peerReviews.length})`),
    ...q.peerReviews.map((r) =>
      h(
        'div',
        { class: 'peer-review', 'data-reviewer': r.reviewerId },
        h('p', {}, h('strong', {}, r.reviewerName), ': ', r.notes),
        h('ul', { class: 'scores' }, ...Object.entries(r.scores).map(([criterion, score]) => h('li', {}, `${criterion}: `, h('span', { class: `badge ${score === 'meets' ? 'passed' : 'awaitingReview'}` }, score === 'meets' ? 'meets' : 'not yet')))),
      ),
    ),
  );
}

// ── the run report ─────────────────────────────────────────────────────────────────────────────

export type ReportFilter = 'all' | DashboardDecision['outcome'];

const OUTCOME_LABELS: Record<DashboardDecision['outcome'], string> = { overridden: 'Marked passed', rechecked: 'Re-run', returned: 'Returned', accepted: 'Accepted' };

/** The decisions table (filtered by outcome) and the summary line; rebuilt only when the report or the filter changed. */
export function renderReport(report: DashboardReport, filter: ReportFilter, phaseTitle: (phase: string) => string, time: (iso: string) => string): void {
  const body = document.getElementById('reportBody')!;
  const key = JSON.stringify([report, filter]);
  if (body.dataset.text === key) return;
  body.dataset.text = key;
  const c = report.counts;
  const summary = `${report.total} decision${report.total === 1 ? '' : 's'}: ${c.overridden} check${c.overridden === 1 ? '' : 's'} marked passed, ${c.rechecked} re-run, ${c.returned} returned, ${c.accepted} answer${c.accepted === 1 ? '' : 's'} accepted` +
    (report.total > report.decisions.length ? ` · the latest ${report.decisions.length} shown; the whole record is the run report of GET /api/runs/{runId}` : '');
  document.getElementById('reportSummary')!.textContent = summary;
  const f = report.final;
  document.getElementById('reportFinal')!.textContent = f ? `Run ended ${time(f.endedAt)}${f.endReason ? ` (${f.endReason})` : ''}: ${f.completed} of ${f.learners} learners completed, ${f.ended} ended early.` : '';
  const rows = report.decisions.filter((d) => filter === 'all' || d.outcome === filter);
  body.replaceChildren(
    ...(rows.length
      ? rows.map((d) =>
          h(
            'tr',
            { 'data-learner': d.learnerId, 'data-outcome': d.outcome, 'data-kind': d.kind },
            h('td', {}, time(d.at)),
            h('th', { scope: 'row' }, d.name),
            h('td', {}, `${phaseTitle(d.phase)} · ${d.stepTitle}`),
            h('td', {}, h('span', { class: `badge ${d.outcome === 'overridden' || d.outcome === 'accepted' ? 'passed' : 'awaitingReview'}` }, OUTCOME_LABELS[d.outcome]), ` ${d.kind === 'dispute' ? `check attempt ${d.attempt}` : `answer round ${d.attempt}`}${d.items.length ? ` (${d.items.join(', ')})` : ''}`),
            h('td', {}, d.by),
            h('td', { class: 'reason' }, d.reason),
          ),
        )
      : [h('tr', {}, h('td', { colspan: '6', class: 'none' }, report.total ? 'No decision of that kind.' : 'No decisions on disputes or answers yet.'))]),
  );
}
