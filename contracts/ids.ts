import type { PhaseName } from '../machines/phaseMachine';

/**
 * Deterministic instance ids: every instance of a run can be found (and re-created on resume)
 * from the run id, the learner id, the phase and its attempt — no lookup table needed.
 */
export function cohortInstanceId(runId: string): string {
  return `run-${runId}`;
}
/** The run id of a cohort instance id, or undefined for any other instance id. */
export function runIdOfCohortInstanceId(instanceId: string): string | undefined {
  return /^run-[a-z0-9-]+$/.test(instanceId) && !instanceId.includes('-learner-') ? instanceId.slice(4) : undefined;
}
export function journeyInstanceId(runId: string, learnerId: string): string {
  return `run-${runId}-learner-${learnerId}`;
}
export function phaseInstanceId(runId: string, learnerId: string, phase: PhaseName, attempt: number): string {
  return `${journeyInstanceId(runId, learnerId)}-${phase}-${attempt}`;
}

/** Event names the workshop orchestrations listen to. */
export const EVENTS = {
  /** To a phase instance: a PhaseEvent (learner answers, instructor review, EXTEND, SKIP…). */
  phase: 'phaseEvent',
  /** To a journey instance: a JourneyEvent from the instructor (RESUME, SKIP_PHASE, EXTEND, END). */
  journey: 'journeyEvent',
  /** To the cohort instance: progress reports from journeys and instructor commands. */
  cohort: 'cohortEvent',
} as const;
