import {
  ActionSet,
  AdaptiveCard,
  Choice,
  ChoiceSetInput,
  Column,
  ColumnSet,
  Container,
  ExecuteAction,
  Fact,
  FactSet,
  TextBlock,
  TextInput,
  type CardElementArray,
  type IExecuteAction,
} from '@microsoft/teams.cards';

/**
 * Every card the bot shows, as pure functions of plain data, built with the typed card library
 * (`@microsoft/teams.cards`) — no string templates. Buttons are `Action.Execute` (Universal Actions):
 * Teams sends them back as `invoke` activities named `adaptiveCard/action` with `verb` and `data`
 * (+ the card's inputs), which handlers.ts routes. `data` always names the run (and learner), so
 * an action on an old card cannot act on another run.
 */
export const CARD_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';

export type Card = AdaptiveCard;

export interface CardAttachment {
  contentType: typeof CARD_CONTENT_TYPE;
  content: unknown;
}
export function attachment(card: Card): CardAttachment {
  // Plain JSON: the connector (and the Tables row that keeps a card's state) see the wire shape.
  return { contentType: CARD_CONTENT_TYPE, content: JSON.parse(JSON.stringify(card)) };
}

const PHASE_TITLES: Record<string, string> = {
  requirements: 'Requirements Analysis',
  design: 'Architecture Design',
  implementation: 'Implementation',
  validation: 'Validation & Testing',
};
const PHASE_ORDER = ['requirements', 'design', 'implementation', 'validation'];
export const phaseTitle = (phase: string): string => PHASE_TITLES[phase] ?? phase;
const phaseNumber = (phase: string): string => `${PHASE_ORDER.indexOf(phase) + 1}/${PHASE_ORDER.length}`;

function action(title: string, verb: string, data: Record<string, unknown>, opts: Partial<Pick<IExecuteAction, 'style' | 'associatedInputs'>> = {}): ExecuteAction {
  return new ExecuteAction({ title, ...opts }).withVerb(verb).withData(data);
}

// ── learner: the step card ──────────────────────────────────────────────────────────────────

export type StepCardStatus = 'open' | 'answered' | 'submitted' | 'done' | 'checking' | 'withInstructor' | 'closed';

export interface StepNote {
  kind: 'hint' | 'problem' | 'changes' | 'help' | 'helpAnswer' | 'decision' | 'info';
  text: string;
  /** Outbox key or another id, so a retried delivery does not add the same note twice. */
  id: string;
}

/** What a step card shows; kept in BotCards (cardStore.ts) with the card's activity id. */
export interface StepCardState {
  runId: string;
  learnerId: string;
  phase: string;
  stepId: string;
  /** question | task | deliverable (what the learner gives), or the step's own kind (validate, review…). */
  kind: string;
  title: string;
  prompt: string;
  /** The pack's hints for the step; `revealed` of them are shown. */
  hints: string[];
  revealed: number;
  attempt: number;
  stepIndex: number;
  steps: number;
  status: StepCardStatus;
  answer?: string;
  deliverable?: { name: string; uri: string };
  notes: StepNote[];
  /** A check of this step failed and that run has not been disputed yet: the learner may say "I did it". */
  disputable?: boolean;
  /** The keyword criteria refused the learner's answer: the learner may send it to the instructor instead. */
  refusedAnswer?: boolean;
}

const answerVerb: Record<string, { verb: string; title: string }> = {
  question: { verb: 'answer', title: 'Send answer' },
  task: { verb: 'done', title: 'Done' },
  deliverable: { verb: 'submit', title: 'Submit' },
};

export function stepCard(s: StepCardState): Card {
  const data = { runId: s.runId, learnerId: s.learnerId, phase: s.phase, stepId: s.stepId, attempt: s.attempt };
  const body: CardElementArray = [
    new TextBlock(`Phase ${phaseNumber(s.phase)} · ${phaseTitle(s.phase)} — step ${s.stepIndex + 1} of ${s.steps}${s.attempt > 1 ? ` · attempt ${s.attempt}` : ''}`, { size: 'Small', isSubtle: true, wrap: true }),
    new TextBlock(s.title, { size: 'Large', weight: 'Bolder', wrap: true }),
    new TextBlock(s.prompt, { wrap: true }),
  ];
  for (let i = 0; i < s.revealed && i < s.hints.length; i++) body.push(new TextBlock(`💡 Hint ${i + 1}: ${s.hints[i]}`, { wrap: true, color: 'Accent' }));
  for (const n of s.notes) {
    const look = n.kind === 'problem' || n.kind === 'changes' ? { color: 'Warning' as const } : n.kind === 'hint' ? { color: 'Attention' as const } : { color: 'Good' as const };
    const label = { hint: '⚠ Check failed', problem: '✋ Not yet', changes: '✎ Changes requested', help: '🙋 You asked for help', helpAnswer: '💬 Instructor', decision: '🧑‍🏫 Instructor', info: 'ℹ' }[n.kind];
    body.push(new TextBlock(`${label}: ${n.text}`, { wrap: true, ...look }));
  }
  const actions: ExecuteAction[] = [];
  if (s.status === 'open') {
    if (s.kind === 'question') body.push(new TextInput({ id: 'answer', label: 'Your answer', isMultiline: true, isRequired: true, errorMessage: 'Write your answer first', value: s.answer }));
    if (s.kind === 'deliverable') {
      body.push(new TextInput({ id: 'name', label: 'Deliverable', placeholder: 'e.g. Architecture diagram', isRequired: true, value: s.deliverable?.name }));
      body.push(new TextInput({ id: 'uri', label: 'Link', placeholder: 'https://…', isRequired: true, style: 'Url', value: s.deliverable?.uri }));
    }
    const primary = answerVerb[s.kind];
    if (primary) actions.push(action(primary.title, primary.verb, data, { style: 'positive', associatedInputs: 'auto' }));
    if (s.kind === 'question' && s.refusedAnswer) {
      body.push(new TextInput({ id: 'reviewNote', label: 'Covers the points in other words? Tell the instructor why (optional)', isMultiline: true }));
      actions.push(action('Send to the instructor instead', 'reviewAnswer', data, { associatedInputs: 'auto' }));
    }
    if (s.disputable) {
      body.push(new TextInput({ id: 'disputeNote', label: 'Did it and the check disagrees? Say what you did and where to look', isMultiline: true }));
      actions.push(action('I did it — ask the instructor', 'dispute', data, { associatedInputs: 'auto' }));
    }
  } else {
    const outcome: Record<string, string> = {
      answered: `✔ Answer sent${s.answer ? `: “${s.answer.length > 280 ? `${s.answer.slice(0, 277)}…` : s.answer}”` : ''}`,
      submitted: `✔ Submitted${s.deliverable ? `: [${s.deliverable.name}](${s.deliverable.uri})` : ''} — with the instructor for review`,
      done: '✔ Done — checking…',
      checking: '⏳ Checking your environment…',
      withInstructor: '⏳ With the instructor — their decision will appear on this card.',
      closed: '✔ This step is over.',
    };
    body.push(new TextBlock(outcome[s.status] ?? '', { wrap: true, weight: 'Bolder', color: 'Good' }));
  }
  if (s.status !== 'closed') {
    body.push(new TextInput({ id: 'helpMessage', label: 'Stuck? Tell the instructor', placeholder: 'What is blocking you', isMultiline: false }));
    if (s.revealed < s.hints.length) actions.push(action('Hint', 'hint', data, { associatedInputs: 'none' }));
    actions.push(action('Ask for help', 'help', data, { associatedInputs: 'auto' }));
  }
  return new AdaptiveCard(...body).withActions(...actions);
}

// ── learner: the progress card ───────────────────────────────────────────────────────────────

export interface ProgressState {
  runId: string;
  learnerId: string;
  title: string;
  phase: string;
  stepTitle: string;
  stepIndex: number;
  steps: number;
  /** ISO: when the current step's timebox ends; null = no timebox. */
  dueAt: string | null;
  /** ISO: when this card was last updated (the time left is as of then). */
  asOf: string;
  status: string;
}

export function progressCard(p: ProgressState): Card {
  let left = 'no timebox';
  if (p.dueAt) {
    const ms = Date.parse(p.dueAt) - Date.parse(p.asOf);
    left = ms <= 0 ? 'time is up' : `${Math.max(1, Math.round(ms / 60_000))} min left (due ${p.dueAt.slice(11, 16)} UTC)`;
  }
  return new AdaptiveCard(
    new TextBlock(`Your progress — ${p.title}`, { weight: 'Bolder', size: 'Medium', wrap: true }),
    new FactSet(
      new Fact('Phase', `${phaseNumber(p.phase)} ${phaseTitle(p.phase)}`),
      new Fact('Step', `${p.stepIndex + 1} of ${p.steps}: ${p.stepTitle}`),
      new Fact('Time left', left),
      new Fact('Status', p.status),
    ),
    new TextBlock(`Run ${p.runId} · updated ${p.asOf.slice(11, 16)} UTC`, { size: 'Small', isSubtle: true }),
  );
}

// ── instructor cards ─────────────────────────────────────────────────────────────────────────

export interface HelpRequest {
  runId: string;
  learnerId: string;
  learnerName: string;
  phase: string;
  stepId: string | null;
  message: string;
}

export function helpRequestCard(h: HelpRequest, resolved?: string): Card {
  const body: CardElementArray = [
    new TextBlock(`🙋 ${h.learnerName} needs help`, { weight: 'Bolder', size: 'Medium', wrap: true }),
    new FactSet(new Fact('Run', h.runId), new Fact('Phase', phaseTitle(h.phase)), new Fact('Step', h.stepId ?? '—')),
    new TextBlock(`“${h.message}”`, { wrap: true }),
  ];
  if (resolved) return new AdaptiveCard(...body, new TextBlock(resolved, { wrap: true, color: 'Good', weight: 'Bolder' }));
  return new AdaptiveCard(...body, new TextInput({ id: 'answer', label: 'Your answer', isMultiline: true, isRequired: true })).withActions(
    action('Answer', 'helpAnswer', { runId: h.runId, learnerId: h.learnerId, learnerName: h.learnerName, phase: h.phase, stepId: h.stepId, message: h.message }, { style: 'positive', associatedInputs: 'auto' }),
  );
}

/** A learner's step that waits on the instructor, and which round of it. */
export interface LearnerStepRound {
  runId: string;
  learnerId: string;
  learnerName: string;
  phase: string;
  stepId: string;
  round: number;
}

export interface ReviewRequest extends LearnerStepRound {
  deliverables: Array<{ stepId: string; name: string; uri: string }>;
  /** Peers' reviews of this round (a run with peer review): shown beside the submission; the instructor still decides. */
  peerNotes?: Array<{ reviewer: string; notes: string; scores: Record<string, string> }>;
}

export function reviewCard(r: ReviewRequest, resolved?: string): Card {
  const body: CardElementArray = [
    new TextBlock(`📐 Review: ${r.learnerName}'s ${phaseTitle(r.phase).toLowerCase()} (round ${r.round})`, { weight: 'Bolder', size: 'Medium', wrap: true }),
    new TextBlock(`Run ${r.runId}`, { size: 'Small', isSubtle: true }),
    ...r.deliverables.map((d) => new TextBlock(`• [${d.name}](${d.uri}) — ${d.stepId}`, { wrap: true })),
  ];
  if (!r.deliverables.length) body.push(new TextBlock('No deliverables were submitted.', { wrap: true, isSubtle: true }));
  for (const p of r.peerNotes ?? []) {
    body.push(new TextBlock(`👥 Peer review by ${p.reviewer}: “${p.notes}”`, { wrap: true, color: 'Accent' }));
    body.push(new FactSet(...Object.entries(p.scores).map(([criterion, score]) => new Fact(criterion, score === 'meets' ? '✔ meets' : '✗ not yet'))));
  }
  if (resolved) return new AdaptiveCard(...body, new TextBlock(resolved, { wrap: true, color: 'Good', weight: 'Bolder' }));
  const data = { runId: r.runId, learnerId: r.learnerId, learnerName: r.learnerName, phase: r.phase, stepId: r.stepId, round: r.round, deliverables: r.deliverables, ...(r.peerNotes ? { peerNotes: r.peerNotes } : {}) };
  return new AdaptiveCard(...body, new TextInput({ id: 'comment', label: 'Comment (needed to request changes)', isMultiline: true })).withActions(
    action('Approve', 'approve', data, { style: 'positive', associatedInputs: 'auto' }),
    action('Request changes', 'changes', data, { style: 'destructive', associatedInputs: 'auto' }),
  );
}

/** One failed check as the instructor weighs it: what it read, observed beside expected, and the fix. */
export interface DisputedCheck {
  checkId: string;
  message?: string;
  evidence?: Array<{ resource: string; property: string; observed: string; expected: string }>;
  fix?: string;
}

export interface DisputeRequest {
  runId: string;
  learnerId: string;
  learnerName: string;
  phase: string;
  stepId: string;
  attempt: number;
  note: string;
  checks: DisputedCheck[];
}

function evidenceTable(checks: DisputedCheck[]): CardElementArray {
  const cell = (text: string, weight?: 'Bolder') => new Column(new TextBlock(text, { wrap: true, size: 'Small', ...(weight ? { weight } : {}) })).withWidth('stretch');
  const out: CardElementArray = [];
  for (const c of checks) {
    out.push(new TextBlock(`✗ ${c.checkId}${c.message ? ` — ${c.message}` : ''}`, { wrap: true, weight: 'Bolder', color: 'Attention' }));
    if (c.evidence?.length) out.push(new ColumnSet().withColumns(cell('Resource · property', 'Bolder'), cell('Observed', 'Bolder'), cell('Expected', 'Bolder')));
    for (const e of c.evidence ?? []) out.push(new ColumnSet().withColumns(cell(`${e.resource} · ${e.property}`), cell(e.observed), cell(e.expected)));
    if (c.fix) out.push(new TextBlock(`Fix: ${c.fix}`, { wrap: true, isSubtle: true }));
  }
  return out;
}

/** "I did it": the learner's note beside the evidence the checks read; mark passed, re-run, or return. */
export function disputeCard(d: DisputeRequest, resolved?: string): Card {
  const body: CardElementArray = [
    new TextBlock(`🧐 ${d.learnerName} says they did it`, { weight: 'Bolder', size: 'Medium', wrap: true }),
    new FactSet(new Fact('Run', d.runId), new Fact('Phase', phaseTitle(d.phase)), new Fact('Step', `${d.stepId} (validation attempt ${d.attempt})`)),
    new TextBlock(`Learner: “${d.note}”`, { wrap: true }),
    ...evidenceTable(d.checks),
  ];
  if (resolved) return new AdaptiveCard(...body, new TextBlock(resolved, { wrap: true, color: 'Good', weight: 'Bolder' }));
  const data = { runId: d.runId, learnerId: d.learnerId, learnerName: d.learnerName, phase: d.phase, stepId: d.stepId, attempt: d.attempt, note: d.note, checks: d.checks };
  return new AdaptiveCard(...body, new TextInput({ id: 'reason', label: 'Reason (needed to mark passed or to return it)', isMultiline: true })).withActions(
    action('Mark passed', 'disputeOverride', data, { style: 'positive', associatedInputs: 'auto' }),
    action('Re-run the checks', 'disputeRecheck', data, { associatedInputs: 'none' }),
    action('Return to the learner', 'disputeReturn', data, { style: 'destructive', associatedInputs: 'auto' }),
  );
}

export interface AnswerReviewRequest extends LearnerStepRound {
  answer: string;
  note: string | null;
  /** Criteria the keywords did not find, in words. */
  missing: string[];
}

/** An answer the keyword criteria refused, sent by the learner: accept it (criteria met by a person) or return it. */
export function answerReviewCard(a: AnswerReviewRequest, resolved?: string): Card {
  const body: CardElementArray = [
    new TextBlock(`📝 ${a.learnerName} asks you to read an answer (round ${a.round})`, { weight: 'Bolder', size: 'Medium', wrap: true }),
    new FactSet(new Fact('Run', a.runId), new Fact('Phase', phaseTitle(a.phase)), new Fact('Step', a.stepId), new Fact('Not found by the keywords', a.missing.join(', ') || '—')),
    new TextBlock(`“${a.answer}”`, { wrap: true }),
    ...(a.note ? [new TextBlock(`Learner's note: ${a.note}`, { wrap: true, isSubtle: true })] : []),
  ];
  if (resolved) return new AdaptiveCard(...body, new TextBlock(resolved, { wrap: true, color: 'Good', weight: 'Bolder' }));
  const data = { runId: a.runId, learnerId: a.learnerId, learnerName: a.learnerName, phase: a.phase, stepId: a.stepId, round: a.round, answer: a.answer, note: a.note, missing: a.missing };
  return new AdaptiveCard(...body, new TextInput({ id: 'comment', label: 'Why it covers the criteria (accept), or what it misses (return)', isMultiline: true, isRequired: true })).withActions(
    action('Accept', 'answerAccept', data, { style: 'positive', associatedInputs: 'auto' }),
    action('Return with comment', 'answerReturn', data, { style: 'destructive', associatedInputs: 'auto' }),
  );
}

export interface PeerReviewOffer {
  runId: string;
  /** The reviewer (the learner the card is for). */
  learnerId: string;
  reviewee: string;
  revieweeName: string;
  stepId: string;
  round: number;
  deliverables: Array<{ stepId: string; name: string; uri: string }>;
  rubric: Array<{ criterion: string; description: string; meets: string }>;
}

/** A peer's design to review against the pack's rubric: a score per criterion and notes for the instructor. */
export function peerReviewCard(o: PeerReviewOffer, resolved?: string): Card {
  const body: CardElementArray = [
    new TextBlock(`👥 Review ${o.revieweeName}'s design (round ${o.round})`, { weight: 'Bolder', size: 'Medium', wrap: true }),
    new TextBlock('Your notes go to the instructor beside the design; the instructor decides.', { wrap: true, isSubtle: true }),
    ...o.deliverables.map((d) => new TextBlock(`• [${d.name}](${d.uri}) — ${d.stepId}`, { wrap: true })),
  ];
  if (resolved) return new AdaptiveCard(...body, new TextBlock(resolved, { wrap: true, color: 'Good', weight: 'Bolder' }));
  for (const r of o.rubric) {
    body.push(
      new ChoiceSetInput(new Choice({ title: 'Meets the bar', value: 'meets' }), new Choice({ title: 'Not yet', value: 'notYet' }))
        .withId(`score_${r.criterion}`)
        .withLabel(`${r.criterion}: ${r.description} (meets: ${r.meets})`)
        .withIsRequired(true),
    );
  }
  body.push(new TextInput({ id: 'notes', label: 'Notes for the instructor', isMultiline: true, isRequired: true }));
  const data = { runId: o.runId, learnerId: o.learnerId, reviewee: o.reviewee, revieweeName: o.revieweeName, stepId: o.stepId, round: o.round, deliverables: o.deliverables, rubric: o.rubric };
  return new AdaptiveCard(...body).withActions(action('Send my review', 'peerReview', data, { style: 'positive', associatedInputs: 'auto' }));
}

export interface FailureNotice {
  runId: string;
  learnerId: string;
  learnerName: string;
  phase: string;
  stepId: string;
  message: string;
  /** Checks that failed the phase on their last attempt: what they read, so the instructor can mark them passed. */
  checks?: DisputedCheck[];
}

export function failureCard(f: FailureNotice, resolved?: string): Card {
  const body: CardElementArray = [
    new TextBlock(`⛔ ${f.learnerName} is blocked`, { weight: 'Bolder', size: 'Medium', color: 'Attention', wrap: true }),
    new FactSet(new Fact('Run', f.runId), new Fact('Phase', phaseTitle(f.phase)), new Fact('Step', f.stepId)),
    new TextBlock(f.message, { wrap: true }),
    ...evidenceTable(f.checks ?? []),
  ];
  if (resolved) return new AdaptiveCard(...body, new TextBlock(resolved, { wrap: true, color: 'Good', weight: 'Bolder' }));
  const data = { runId: f.runId, learnerId: f.learnerId, learnerName: f.learnerName, phase: f.phase, stepId: f.stepId, message: f.message, ...(f.checks?.length ? { checks: f.checks } : {}) };
  const actions = [action('Resume at the failed step', 'resume', { ...data, from: 'failedStep' }, { style: 'positive' }), action('Restart the phase', 'resume', { ...data, from: 'start' })];
  if (!f.checks?.length) return new AdaptiveCard(...body).withActions(...actions);
  // The checks may be wrong (the learner did it): the instructor marks them passed with a reason, and the phase goes on.
  return new AdaptiveCard(...body, new TextInput({ id: 'reason', label: 'Reason (to mark the checks passed)', isMultiline: true })).withActions(
    ...actions,
    action('Mark passed', 'disputeOverride', { ...data, failure: true }, { associatedInputs: 'auto' }),
  );
}

export interface RunStatusView {
  runId: string;
  title: string;
  runtimeStatus: string;
  paused: boolean;
  learners: Array<{ learnerId: string; name: string; phase: string; state: string; stepId: string | null; since: string | null }>;
  helpQueue: number;
  reviewQueue: number;
  failures: number;
  /** The hot-start pool in a sentence (http/hotStart.ts poolSentence), when the run has one. */
  hotStart?: string;
}

export function runStatusCard(v: RunStatusView): Card {
  const counts = new Map<string, number>();
  for (const l of v.learners) counts.set(l.state, (counts.get(l.state) ?? 0) + 1);
  const body: CardElementArray = [
    new TextBlock(`${v.title} — run ${v.runId}`, { weight: 'Bolder', size: 'Medium', wrap: true }),
    new FactSet(
      new Fact('Status', `${v.runtimeStatus}${v.paused ? ' (paused)' : ''}`),
      new Fact('Learners', [...counts].map(([k, n]) => `${n} ${k}`).join(', ') || 'none yet'),
      new Fact('Help queue', String(v.helpQueue)),
      new Fact('Reviews waiting', String(v.reviewQueue)),
      new Fact('Blocked', String(v.failures)),
      ...(v.hotStart ? [new Fact('Environments', v.hotStart)] : []),
    ),
    new Container(...v.learners.slice(0, 40).map((l) => new TextBlock(`**${l.name}** — ${phaseTitle(l.phase)}, ${l.state}${l.stepId ? ` at ${l.stepId}` : ''}`, { wrap: true, spacing: 'None' }))),
  ];
  if (v.learners.length > 40) body.push(new TextBlock(`…and ${v.learners.length - 40} more (see the dashboard).`, { isSubtle: true }));
  const data = { runId: v.runId };
  return new AdaptiveCard(...body).withActions(action('Refresh', 'status', data), action('Help queue', 'helpQueue', data), action('Reviews', 'reviews', data));
}

export function listCard(title: string, lines: string[], empty: string): Card {
  return new AdaptiveCard(new TextBlock(title, { weight: 'Bolder', size: 'Medium', wrap: true }), ...(lines.length ? lines.map((l) => new TextBlock(l, { wrap: true })) : [new TextBlock(empty, { isSubtle: true, wrap: true })]));
}

export interface StartRunChoices {
  scenarios: Array<{ id: string; title: string }>;
  teamName?: string;
}

export function startRunCard(c: StartRunChoices, error?: string): Card {
  const body: CardElementArray = [
    new TextBlock('Start a workshop run', { weight: 'Bolder', size: 'Medium' }),
    new ChoiceSetInput(...c.scenarios.map((s) => new Choice({ title: s.title, value: s.id }))).withId('scenario').withLabel('Scenario').withIsRequired(true).withValue(c.scenarios[0]?.id ?? ''),
    new ChoiceSetInput(
      ...(c.teamName ? [new Choice({ title: `Members of ${c.teamName}`, value: 'team' })] : []),
      new Choice({ title: 'Paste a roster (CSV: name,email)', value: 'csv' }),
    )
      .withId('rosterSource')
      .withLabel('Learners')
      .withValue(c.teamName ? 'team' : 'csv'),
    new TextInput({ id: 'rosterCsv', label: 'Roster CSV', isMultiline: true, placeholder: 'name,email\nAda Lovelace,ada@contoso.example' }),
    new TextInput({ id: 'instructors', label: 'Co-instructors (UPNs, comma-separated; you are one)', placeholder: 'bob@contoso.example' }),
    new TextInput({ id: 'timeScale', label: 'Time scale (1 = real timeboxes, 0.01 = rehearsal)', value: '1' }),
  ];
  if (error) body.push(new TextBlock(error, { wrap: true, color: 'Attention' }));
  return new AdaptiveCard(...body).withActions(action('Start', 'startRun', {}, { style: 'positive', associatedInputs: 'auto' }));
}

/** A one-line notice with a title (broadcasts, run events) — still a card so it stands out. */
export function noticeCard(title: string, text: string, tone: 'default' | 'good' | 'warning' | 'attention' = 'default'): Card {
  const color = tone === 'good' ? 'Good' : tone === 'warning' ? 'Warning' : tone === 'attention' ? 'Attention' : 'Default';
  return new AdaptiveCard(new TextBlock(title, { weight: 'Bolder', wrap: true, color }), new TextBlock(text, { wrap: true }));
}

export function actionsRow(...actions: ExecuteAction[]): ActionSet {
  return new ActionSet(...actions);
}
