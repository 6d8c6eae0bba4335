import { describe, expect, it } from 'vitest';
import { learnerStateOf } from './progress';
import {
  PHASE_TAGS,
  phaseMachine,
  phaseView,
  STEP_KINDS,
  STEP_STATE,
  startPhase,
  stepPhase,
  type LearnerAction,
  type PhaseDef,
  type PhaseStepDef,
  type StepKind,
} from './phaseMachine';

/**
 * What people see of a phase comes from the machine's own tags (phaseView), not from state names: these
 * tests pin the positions to the states that carry them, so renaming or retagging a state fails here and
 * not on the dashboard.
 */
function onlyStep(kind: StepKind): PhaseDef {
  return { phase: 'design', steps: [{ id: `a-${kind}`, kind }] };
}

/** Every tag used anywhere in the machine's definition. */
function tagsInMachine(): Set<string> {
  const out = new Set<string>();
  const walk = (node: { tags: readonly string[]; states: Record<string, unknown> }) => {
    for (const t of node.tags) out.add(t);
    for (const child of Object.values(node.states)) walk(child as typeof node);
  };
  walk(phaseMachine.root as unknown as { tags: readonly string[]; states: Record<string, unknown> });
  return out;
}

describe('phaseView: the machine says where a phase is', () => {
  it('every position and status tag is carried by some state of the machine', () => {
    expect([...tagsInMachine()].sort()).toEqual([...PHASE_TAGS].sort());
  });

  /** What a learner can do to each kind of step when it starts (a new kind must say so here too). */
  const LEARNER_DOES: { [K in StepKind]: LearnerAction[] } = {
    question: ['ANSWER', 'ANSWER_FOR_REVIEW'],
    task: ['DONE'],
    deliverable: ['SUBMIT'],
    provision: [],
    validate: [],
    review: [],
  };
  for (const kind of STEP_KINDS) {
    it(`a ${kind} step waits in ${STEP_STATE[kind]}, where the learner may ${LEARNER_DOES[kind].join(', ') || 'do nothing'}`, () => {
      const { snapshot } = startPhase(onlyStep(kind));
      expect(phaseView(snapshot)).toEqual({ state: STEP_STATE[kind], step: expect.objectContaining({ kind }), helpPending: false, accepts: LEARNER_DOES[kind] });
    });
  }

  it('an unknown step kind is rejected with where and what, not routed to a review', () => {
    const def = { phase: 'design', steps: [{ id: 'mystery', kind: 'quiz' as StepKind }] } satisfies { phase: 'design'; steps: PhaseStepDef[] };
    expect(() => startPhase(def)).toThrow(/phase "design": step "mystery" has kind "quiz", which is not one of question, task, deliverable, provision, validate, review/);
  });

  it('awaitingFix, changesRequested, help, failed and completed read as the cohort shows them', () => {
    const def: PhaseDef = { phase: 'design', steps: [{ id: 'chk', kind: 'validate', maxAttempts: 2 }, { id: 'rev', kind: 'review' }] };
    let turn = startPhase(def);
    const failing = [{ checkId: 'x', passed: false }];
    turn = stepPhase(turn.snapshot, { type: 'VALIDATION_FAILED', stepId: 'chk', attempt: 1, checks: failing });
    expect(phaseView(turn.snapshot)).toMatchObject({ state: 'awaitingFix', accepts: ['DONE', 'DISPUTE'] });
    expect(learnerStateOf(phaseView(turn.snapshot))).toBe('working');
    turn = stepPhase(turn.snapshot, { type: 'HELP', message: 'which check?' } as never);
    expect(phaseView(turn.snapshot).helpPending).toBe(true);
    expect(learnerStateOf(phaseView(turn.snapshot))).toBe('helpRequested');
    turn = stepPhase(turn.snapshot, { type: 'DONE', stepId: 'chk' });
    turn = stepPhase(turn.snapshot, { type: 'VALIDATION_PASSED', stepId: 'chk', attempt: 2, checks: [] });
    expect(phaseView(turn.snapshot)).toMatchObject({ state: 'awaitingReview', step: { id: 'rev' } });
    expect(learnerStateOf(phaseView(turn.snapshot))).toBe('awaitingReview');
    turn = stepPhase(turn.snapshot, { type: 'REVIEW_CHANGES_REQUESTED', stepId: 'rev', round: 1, comment: 'cost?' });
    expect(learnerStateOf(phaseView(turn.snapshot))).toBe('changesRequested');
    expect(phaseView(turn.snapshot).accepts).toEqual(['SUBMIT']);
    turn = stepPhase(turn.snapshot, { type: 'SUBMIT', stepId: 'rev', deliverable: { name: 'd', uri: 'https://e.example/d' } } as never);
    turn = stepPhase(turn.snapshot, { type: 'REVIEW_APPROVED', stepId: 'rev', round: 2 });
    expect(phaseView(turn.snapshot).state).toBe('completed');

    let failed = startPhase({ phase: 'design', steps: [{ id: 'env', kind: 'provision' }] });
    failed = stepPhase(failed.snapshot, { type: 'PROVISION_FAILED', stepId: 'env', attempt: 1, message: 'quota' });
    expect(phaseView(failed.snapshot)).toMatchObject({ state: 'failed', accepts: [] });
    expect(learnerStateOf(phaseView(failed.snapshot))).toBe('failed');
  });
});
