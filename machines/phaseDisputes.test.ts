import { describe, expect, it } from 'vitest';
import { learnerStateOf } from './progress';
import {
  persistPhaseSnapshot,
  phaseView,
  restorePhaseSnapshot,
  startPhase,
  stepPhase,
  type CheckResult,
  type PhaseCommand,
  type PhaseDef,
  type PhaseEvent,
  type PhaseSnapshot,
  type PhaseTurn,
} from './phaseMachine';

/**
 * Checks a learner can dispute and answers a person can accept: the phase machine decides where a dispute
 * or an answer sent for review waits, what the instructor's decision does, and what is recorded.
 */
const def: PhaseDef = {
  phase: 'implementation',
  steps: [
    { id: 'why', kind: 'question' },
    { id: 'checks', kind: 'validate', maxAttempts: 2 },
    { id: 'after', kind: 'task' },
  ],
};

const failing: CheckResult[] = [
  { checkId: 'ok', passed: true },
  {
    checkId: 'hns',
    passed: false,
    message: 'stlake: properties.isHnsEnabled is false (expected true).',
    evidence: [{ resource: 'stlake', property: 'properties.isHnsEnabled', observed: 'false', expected: 'true' }],
    fix: 'Enable the hierarchical namespace.',
  },
];

function run(events: PhaseEvent[], from: PhaseTurn = startPhase(def)): PhaseTurn {
  return events.reduce((t, e) => stepPhase(t.snapshot, e), from);
}
function ignored(snapshot: PhaseSnapshot, event: PhaseEvent): void {
  const next = stepPhase(snapshot, event);
  expect(next.snapshot).toBe(snapshot);
  expect(next.commands).toEqual([]);
}
const of = <T extends PhaseCommand['type']>(commands: PhaseCommand[], type: T) => commands.filter((c): c is Extract<PhaseCommand, { type: T }> => c.type === type);

/** At the validate step, attempt 1 failed: the learner is in awaitingFix. */
function failedOnce(): PhaseTurn {
  return run([
    { type: 'ANSWER', stepId: 'why', answer: 'because' },
    { type: 'VALIDATION_FAILED', stepId: 'checks', attempt: 1, checks: failing },
  ]);
}

describe('a learner disputes a failed check', () => {
  it('"I did it" puts the failed checks with their evidence before the instructor, tells the learner it is with them, and checkpoints', () => {
    const t = run([{ type: 'DISPUTE', stepId: 'checks', attempt: 1, note: 'HNS is on, see the portal' }], failedOnce());
    const view = phaseView(t.snapshot);
    expect(view.state).toBe('disputed');
    expect(view.accepts).toEqual(['DONE']);
    expect(learnerStateOf(view)).toBe('awaitingReview');
    const [toInstructor] = of(t.commands, 'notifyInstructor');
    expect(toInstructor.params).toEqual({ reason: 'dispute', stepId: 'checks', attempt: 1, note: 'HNS is on, see the portal', checks: [failing[1]] });
    expect(of(t.commands, 'notifyLearner').map((c) => c.params)).toEqual([{ reason: 'withInstructor', stepId: 'checks', about: 'dispute' }]);
    expect(t.commands.at(-1)).toEqual({ type: 'checkpoint' });
    expect(t.snapshot.context.disputes?.checks).toEqual([{ attempt: 1, note: 'HNS is on, see the portal', checks: [failing[1]], outcome: 'open', by: null, reason: null }]);
  });

  it('a dispute of another step, of an attempt that is not the last, or a second dispute while one is open is ignored', () => {
    const t = failedOnce();
    ignored(t.snapshot, { type: 'DISPUTE', stepId: 'why', attempt: 1, note: 'x' });
    ignored(t.snapshot, { type: 'DISPUTE', stepId: 'checks', attempt: 2, note: 'x' });
    const disputed = run([{ type: 'DISPUTE', stepId: 'checks', attempt: 1, note: 'x' }], t);
    ignored(disputed.snapshot, { type: 'DISPUTE', stepId: 'checks', attempt: 1, note: 'again' });
  });

  it('nothing to dispute while the checks pass, run, or before they ran', () => {
    const atValidate = run([{ type: 'ANSWER', stepId: 'why', answer: 'because' }]);
    expect(phaseView(atValidate.snapshot).state).toBe('validating');
    ignored(atValidate.snapshot, { type: 'DISPUTE', stepId: 'checks', attempt: 1, note: 'x' });
    const passed = run([{ type: 'VALIDATION_PASSED', stepId: 'checks', attempt: 1, checks: [] }], atValidate);
    ignored(passed.snapshot, { type: 'DISPUTE', stepId: 'checks', attempt: 1, note: 'x' });
  });

  it('an override passes the step, records who and why, and tells the learner; the result keeps it', () => {
    const t = run(
      [
        { type: 'DISPUTE', stepId: 'checks', attempt: 1, note: 'HNS is on' },
        { type: 'DISPUTE_OVERRIDDEN', stepId: 'checks', attempt: 1, by: 'ines', reason: 'Seen in the portal: HNS on; the emulator lags.' },
      ],
      failedOnce(),
    );
    expect(phaseView(t.snapshot)).toMatchObject({ state: 'awaitingLearner', step: { id: 'after' } });
    const decision = { kind: 'dispute', stepId: 'checks', attempt: 1, outcome: 'overridden', by: 'ines', reason: 'Seen in the portal: HNS on; the emulator lags.', checkIds: ['hns'] };
    expect(of(t.commands, 'recordDecision').map((c) => c.params)).toEqual([decision]);
    expect(of(t.commands, 'notifyLearner').map((c) => c.params)).toContainEqual({ reason: 'decided', stepId: 'checks', decision });
    expect(t.commands.at(-1)).toEqual({ type: 'checkpoint' });
    const done = run([{ type: 'DONE', stepId: 'after' }], t);
    expect(done.snapshot.output?.disputes?.checks).toEqual([expect.objectContaining({ attempt: 1, outcome: 'overridden', by: 'ines' })]);
    // The validation record stays what the checks said: the override is recorded beside it, not over it.
    expect(done.snapshot.output?.validations.checks).toEqual([expect.objectContaining({ attempt: 1, passed: false })]);
  });

  it('a re-run asked by the instructor validates again without using up one of the learner’s attempts', () => {
    const t = run(
      [
        { type: 'DISPUTE', stepId: 'checks', attempt: 1, note: 'HNS is on' },
        { type: 'DISPUTE_RECHECK', stepId: 'checks', attempt: 1, by: 'ines' },
      ],
      failedOnce(),
    );
    expect(phaseView(t.snapshot).state).toBe('validating');
    expect(of(t.commands, 'validate').map((c) => c.params)).toEqual([{ stepId: 'checks', attempt: 2 }]);
    // maxAttempts 2, but the instructor's re-run does not count: attempt 2 failing still leaves the learner one.
    const again = run([{ type: 'VALIDATION_FAILED', stepId: 'checks', attempt: 2, checks: failing }], t);
    expect(phaseView(again.snapshot).state).toBe('awaitingFix');
    expect(of(t.commands, 'recordDecision')[0]?.params).toMatchObject({ outcome: 'rechecked', by: 'ines' });
  });

  it('a returned dispute goes back to the learner with the comment, and the same attempt cannot be disputed again', () => {
    const t = run(
      [
        { type: 'DISPUTE', stepId: 'checks', attempt: 1, note: 'HNS is on' },
        { type: 'DISPUTE_RETURNED', stepId: 'checks', attempt: 1, by: 'ines', comment: 'It is off on stlake; check the account you changed.' },
      ],
      failedOnce(),
    );
    expect(phaseView(t.snapshot)).toMatchObject({ state: 'awaitingFix', accepts: ['DONE'] });
    expect(of(t.commands, 'notifyLearner')[0]?.params).toMatchObject({ reason: 'decided', decision: { outcome: 'returned', reason: 'It is off on stlake; check the account you changed.' } });
    expect(of(t.commands, 'prompt')).toHaveLength(1);
    ignored(t.snapshot, { type: 'DISPUTE', stepId: 'checks', attempt: 1, note: 'really' });
  });

  it('decisions for another attempt, or when no dispute is open, are ignored; the learner re-running the checks withdraws the dispute', () => {
    const disputed = run([{ type: 'DISPUTE', stepId: 'checks', attempt: 1, note: 'x' }], failedOnce());
    ignored(disputed.snapshot, { type: 'DISPUTE_OVERRIDDEN', stepId: 'checks', attempt: 2, by: 'i', reason: 'r' });
    ignored(failedOnce().snapshot, { type: 'DISPUTE_OVERRIDDEN', stepId: 'checks', attempt: 1, by: 'i', reason: 'r' });
    const withdrawn = run([{ type: 'DONE', stepId: 'checks' }], disputed);
    expect(phaseView(withdrawn.snapshot).state).toBe('validating');
    expect(of(withdrawn.commands, 'recordDecision')).toEqual([]);
    expect(withdrawn.snapshot.context.disputes?.checks?.at(-1)).toMatchObject({ outcome: 'withdrawn' });
    ignored(withdrawn.snapshot, { type: 'DISPUTE_OVERRIDDEN', stepId: 'checks', attempt: 1, by: 'i', reason: 'r' });
  });

  it('a dispute survives a checkpoint round trip (persist, JSON, restore) and is decided after it', () => {
    const disputed = run([{ type: 'DISPUTE', stepId: 'checks', attempt: 1, note: 'x' }], failedOnce());
    const restored = restorePhaseSnapshot(JSON.parse(JSON.stringify(persistPhaseSnapshot(disputed.snapshot))));
    expect(phaseView(restored).state).toBe('disputed');
    const t = stepPhase(restored, { type: 'DISPUTE_OVERRIDDEN', stepId: 'checks', attempt: 1, by: 'i', reason: 'r' });
    expect(phaseView(t.snapshot).step?.id).toBe('after');
  });

  it('a snapshot from before disputes (no disputes / answerReviews in context) still takes one', () => {
    const old = persistPhaseSnapshot(failedOnce().snapshot) as unknown as { context: Record<string, unknown> };
    delete old.context.disputes;
    delete old.context.answerReviews;
    const restored = restorePhaseSnapshot(JSON.parse(JSON.stringify(old)));
    expect(phaseView(restored).accepts).toContain('DISPUTE');
    const t = stepPhase(restored, { type: 'DISPUTE', stepId: 'checks', attempt: 1, note: 'x' });
    expect(phaseView(t.snapshot).state).toBe('disputed');
  });
});

describe('checks that failed the phase on their last attempt', () => {
  const exhausted = (): PhaseTurn =>
    run(
      [
        { type: 'DONE', stepId: 'checks' },
        { type: 'VALIDATION_FAILED', stepId: 'checks', attempt: 2, checks: failing },
      ],
      failedOnce(),
    );

  it('the failure tells the instructor what the checks read', () => {
    const t = exhausted();
    expect(phaseView(t.snapshot).state).toBe('failed');
    expect(of(t.commands, 'notifyInstructor')[0]?.params).toMatchObject({ reason: 'failed', failure: { kind: 'validation', stepId: 'checks', checks: [failing[1]] } });
  });

  it('the instructor marks them passed on resume: recorded with who and why, the phase goes on after the step', () => {
    const t = run([{ type: 'RESUME', from: 'failedStep', by: 'instructor', override: { by: 'ines', reason: 'Seen in the portal.' } }], exhausted());
    expect(phaseView(t.snapshot).step?.id).toBe('after');
    expect(of(t.commands, 'validate')).toEqual([]);
    expect(of(t.commands, 'recordDecision').map((c) => c.params)).toEqual([{ kind: 'dispute', stepId: 'checks', attempt: 2, outcome: 'overridden', by: 'ines', reason: 'Seen in the portal.', checkIds: ['hns'] }]);
    expect(t.snapshot.context.disputes?.checks?.at(-1)).toMatchObject({ attempt: 2, outcome: 'overridden', by: 'ines' });
  });

  it('an override is only for failed checks: a provisioning failure resumes as usual', () => {
    const prov = run([{ type: 'PROVISION_FAILED', stepId: 'env', attempt: 1, message: 'quota' }], startPhase({ phase: 'implementation', steps: [{ id: 'env', kind: 'provision' }] }));
    const t = run([{ type: 'RESUME', from: 'failedStep', by: 'instructor', override: { by: 'i', reason: 'r' } }], prov);
    expect(phaseView(t.snapshot).state).toBe('provisioning');
    expect(of(t.commands, 'recordDecision')).toEqual([]);
  });
});

describe('time runs out while the learner waits on the instructor', () => {
  const timed: PhaseDef = { phase: 'requirements', steps: [{ id: 'why', kind: 'question', timeboxMinutes: 10 }] };
  const expiryOf = (t: PhaseTurn) => t.snapshot.context.timebox!.expireId!;

  it('the step is held, not failed, and the instructor is told; once decided, the next expiry fails as usual', () => {
    let t = startPhase(timed);
    t = run([{ type: 'ANSWER_FOR_REVIEW', stepId: 'why', answer: 'mine', missing: ['k'] }], t);
    const first = expiryOf(t);
    t = run([{ type: 'TIMER_FIRED', id: first }], t);
    expect(phaseView(t.snapshot).state).toBe('answerInReview');
    expect(of(t.commands, 'notifyInstructor').map((c) => c.params)).toEqual([{ reason: 'overdue', stepId: 'why', about: 'answer', heldMs: 120_000 }]);
    const held = of(t.commands, 'startTimer');
    expect(held).toEqual([{ type: 'startTimer', params: { id: expiryOf(t), dueInMs: 120_000 } }]);
    expect(expiryOf(t)).not.toBe(first);
    ignored(t.snapshot, { type: 'TIMER_FIRED', id: first });

    t = run([{ type: 'ANSWER_RETURNED', stepId: 'why', round: 1, by: 'i', comment: 'more' }], t);
    t = run([{ type: 'TIMER_FIRED', id: expiryOf(t) }], t);
    expect(phaseView(t.snapshot).state).toBe('failed');
    expect(t.snapshot.context.failure).toMatchObject({ kind: 'timebox', stepId: 'why' });
  });
});

describe('an answer sent to the instructor', () => {
  const sent: PhaseEvent = { type: 'ANSWER_FOR_REVIEW', stepId: 'why', answer: 'In my own words: the lake first.', note: 'the keywords miss my point', missing: ['governance'] };

  it('waits in answerInReview, in the instructor’s queue, with the answer and the unmet criteria', () => {
    const t = run([sent]);
    const view = phaseView(t.snapshot);
    expect(view.state).toBe('answerInReview');
    expect(learnerStateOf(view)).toBe('awaitingReview');
    expect(view.accepts).toEqual(['ANSWER']);
    expect(of(t.commands, 'notifyInstructor')[0]?.params).toEqual({ reason: 'answerReview', stepId: 'why', round: 1, answer: 'In my own words: the lake first.', note: 'the keywords miss my point', missing: ['governance'] });
    expect(of(t.commands, 'notifyLearner')[0]?.params).toEqual({ reason: 'withInstructor', stepId: 'why', about: 'answer' });
  });

  it('accepted: the answer is the step’s, the criteria are marked met by a person (who, why), and the phase moves on', () => {
    const t = run([sent, { type: 'ANSWER_ACCEPTED', stepId: 'why', round: 1, by: 'ines', comment: 'Covers governance in other words.' }]);
    expect(phaseView(t.snapshot).step?.id).toBe('checks');
    expect(t.snapshot.context.answers.why).toBe('In my own words: the lake first.');
    expect(of(t.commands, 'recordDecision').map((c) => c.params)).toEqual([
      { kind: 'answer', stepId: 'why', round: 1, outcome: 'accepted', by: 'ines', reason: 'Covers governance in other words.', criteriaMetByPerson: ['governance'] },
    ]);
  });

  it('returned: back to the learner with the comment, prompted again, nothing recorded as the answer; round 2 is a new review', () => {
    const t = run([sent, { type: 'ANSWER_RETURNED', stepId: 'why', round: 1, by: 'ines', comment: 'Say who owns the data.' }]);
    expect(phaseView(t.snapshot)).toMatchObject({ state: 'awaitingLearner', accepts: ['ANSWER', 'ANSWER_FOR_REVIEW'] });
    expect(t.snapshot.context.answers.why).toBeUndefined();
    expect(of(t.commands, 'notifyLearner')[0]?.params).toMatchObject({ reason: 'decided', decision: { outcome: 'returned', reason: 'Say who owns the data.' } });
    expect(of(t.commands, 'prompt')).toEqual([{ type: 'prompt', params: { stepId: 'why', kind: 'question', attempt: 2 } }]);
    ignored(t.snapshot, { type: 'ANSWER_ACCEPTED', stepId: 'why', round: 1, by: 'i', comment: 'late' });
    const second = run([sent], t);
    expect(of(second.commands, 'notifyInstructor')[0]?.params).toMatchObject({ round: 2 });
  });

  it('an answer that meets the criteria meanwhile goes through and withdraws the review; a late decision is ignored', () => {
    const t = run([sent, { type: 'ANSWER', stepId: 'why', answer: 'with the keywords' }]);
    expect(phaseView(t.snapshot).step?.id).toBe('checks');
    expect(t.snapshot.context.answers.why).toBe('with the keywords');
    expect(t.snapshot.context.answerReviews?.why?.at(-1)).toMatchObject({ outcome: 'withdrawn' });
    ignored(t.snapshot, { type: 'ANSWER_ACCEPTED', stepId: 'why', round: 1, by: 'i', comment: 'late' });
  });

  it('a task or a validate step cannot be sent for review; a decision for a round that is not open is ignored', () => {
    const atTask = startPhase({ phase: 'design', steps: [{ id: 't', kind: 'task' }] });
    ignored(atTask.snapshot, { type: 'ANSWER_FOR_REVIEW', stepId: 't', answer: 'a', missing: [] });
    const inReview = run([sent]);
    ignored(inReview.snapshot, { type: 'ANSWER_ACCEPTED', stepId: 'why', round: 2, by: 'i', comment: 'c' });
    ignored(inReview.snapshot, { type: 'ANSWER_FOR_REVIEW', stepId: 'why', answer: 'twice', missing: [] });
  });
});

describe('a peer reviews a design waiting for the instructor', () => {
  const reviewDef: PhaseDef = { phase: 'design', steps: [{ id: 'diagram', kind: 'deliverable' }, { id: 'rev', kind: 'review' }] };
  const inReview = () => run([{ type: 'SUBMIT', stepId: 'diagram', deliverable: { name: 'd', uri: 'https://e.example/d' } }], startPhase(reviewDef));
  const peer: PhaseEvent = { type: 'PEER_REVIEWED', stepId: 'rev', round: 1, reviewerId: 'grace', notes: 'Cost is missing.', scores: { cost: 'notYet', tradeOffs: 'meets' } };

  it('the notes go to the instructor beside the submission; the design stays with the instructor, who still decides', () => {
    const t = run([peer], inReview());
    expect(phaseView(t.snapshot).state).toBe('awaitingReview');
    expect(of(t.commands, 'notifyInstructor').map((c) => c.params)).toEqual([
      { reason: 'peerReview', stepId: 'rev', round: 1, review: { round: 1, reviewerId: 'grace', notes: 'Cost is missing.', scores: { cost: 'notYet', tradeOffs: 'meets' } }, deliverables: { diagram: [{ name: 'd', uri: 'https://e.example/d' }] } },
    ]);
    expect(t.commands.at(-1)).toEqual({ type: 'checkpoint' });
    const approved = run([{ type: 'REVIEW_APPROVED', stepId: 'rev', round: 1 }], t);
    expect(approved.snapshot.output?.peerReviews?.rev).toEqual([expect.objectContaining({ reviewerId: 'grace', round: 1 })]);
  });

  it('the same peer twice, a peer for another round, or a peer review when no review waits is ignored', () => {
    const t = run([peer], inReview());
    ignored(t.snapshot, peer);
    ignored(t.snapshot, { ...peer, round: 2, reviewerId: 'brian' } as PhaseEvent);
    expect(of(run([{ ...peer, reviewerId: 'brian' } as PhaseEvent], t).commands, 'notifyInstructor')).toHaveLength(1);
    ignored(startPhase(reviewDef).snapshot, peer);
  });
});
