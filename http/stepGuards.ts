import { ApiError } from './apiKit';
import type { PhasePosition } from './position';

/** How the learner routes refuse an event the learner's current step cannot take: 409, where they are, nothing changed. */
export function where(p: PhasePosition): string {
  return `phase "${p.phase}" is at step "${p.stepId}" (${p.stepKind}, ${p.state})`;
}

/** The step the learner's event is for: the named one, which must be the current one. */
export function targetStep(p: PhasePosition, named: string | undefined, verb: string): string {
  const current = p.stepId!;
  if (named && named !== current) {
    throw new ApiError(409, `Step "${named}" is not the current step: ${where(p)}. A "${verb}" for an earlier step is a repeat and was ignored; nothing was changed.`, { position: p });
  }
  return current;
}

export function refuse(p: PhasePosition, verb: string, hint: string): never {
  throw new ApiError(409, `Cannot ${verb} now: ${where(p)}; ${hint}. Nothing was changed.`, { position: p });
}

