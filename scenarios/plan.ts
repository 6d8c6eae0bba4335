import type { PhaseDef, PhaseName, PhaseStepDef } from '../machines/phaseMachine';
import type { LearnerSubscriptionRef, RunPlan } from '../contracts/messages';
import type { ScenarioPack, Step } from './schema';

export interface PlanOptions {
  /**
   * Multiplies every timebox (a rehearsal at 1/120 runs a 30-minute phase in 15 seconds).
   * Real runs use 1.
   */
  timeScale?: number;
  /** Steps whose failure the learner may resume without the instructor (validation retries). */
  selfResumeKinds?: ReadonlyArray<Step['kind']>;
  /** The learner subscriptions environments are spread over (several: placed by quota headroom). */
  learnerSubscriptions?: LearnerSubscriptionRef[];
}

/**
 * What a run needs to know about a pack, as the machines see it: for each phase the ordered steps
 * with kind, timebox and attempt limit. Prompts, hints and checks stay in the pack, which the
 * activities read by id; the plan travels in orchestration inputs and must stay small.
 */
export function planFromPack(pack: ScenarioPack, options: PlanOptions = {}): RunPlan {
  const scale = options.timeScale ?? 1;
  if (!(scale > 0)) throw new Error(`timeScale must be a positive number, got ${scale}`);
  const selfResume = new Set(options.selfResumeKinds ?? ['validate']);
  const phases = {} as Record<PhaseName, PhaseDef>;
  for (const phase of pack.phases) {
    const steps: PhaseStepDef[] = phase.steps.map((step: Step) => ({
      id: step.id,
      kind: step.kind,
      timeboxMinutes: step.timeboxMinutes * scale,
      ...(step.kind === 'validate' ? { maxAttempts: step.maxAttempts } : {}),
      selfResume: selfResume.has(step.kind),
    }));
    phases[phase.id] = { phase: phase.id, steps };
  }
  return { packId: pack.id, title: pack.title, phases, ...(options.learnerSubscriptions?.length ? { learnerSubscriptions: options.learnerSubscriptions } : {}) };
}
