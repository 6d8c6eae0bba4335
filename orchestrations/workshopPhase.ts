import type * as df from 'durable-functions';
import type { PhaseInput, PhaseOutput } from '../contracts/messages';
import { persistPhaseSnapshot, phaseView, startPhase, stepPhase, type PhaseEvent, type PhaseResult, type PhaseTurn } from '../machines/phaseMachine';
import { learnerStateOf } from '../machines/progress';
import { PhaseEffects } from './phaseEffects';

/** What the cohort's progress shows for a learner whose check dispute or answer is with the instructor. */
const WAITING_ON_INSTRUCTOR: Partial<Record<string, string>> = { disputed: 'disputes a failed check', answerInReview: 'answer sent for review' };

/** Events handled per execution before continuing as new (bounded history). */
const EVENTS_PER_EXECUTION = 40;

/**
 * One learner, one phase: interprets the phase machine. Ask the machine what to do, do it (PhaseEffects
 * turns its commands into activities and timers), feed what happened back as the next event. Returns the
 * phase result, or the failure with the snapshot to resume from.
 */
export function* workshopPhase(context: df.OrchestrationContext): Generator<df.Task, PhaseOutput, unknown> {
  const input = context.df.getInput() as PhaseInput;
  const effects = new PhaseEffects(context, input);
  let turn: PhaseTurn = startPhase(input.def, input.snapshot, input.resume);
  for (let handled = 0; ; ) {
    const { snapshot } = turn;
    for (const command of turn.commands) effects.execute(command, snapshot);
    const view = phaseView(snapshot);
    // The journey reports how a phase ends (next phase, failure, completion); the phase reports the way there.
    if (view.state === 'completed' || view.state === 'failed') {
      yield* effects.settle();
      return view.state === 'completed'
        ? { status: 'completed', result: snapshot.output as PhaseResult }
        : { status: 'failed', failure: snapshot.context.failure!, snapshot: persistPhaseSnapshot(snapshot) };
    }
    effects.report(learnerStateOf(view), view.step?.id ?? null, snapshot, WAITING_ON_INSTRUCTOR[view.state]);

    if (handled >= EVENTS_PER_EXECUTION && effects.idle) {
      context.df.continueAsNew(effects.continueInput(snapshot));
      return undefined as never;
    }
    const event = yield* effects.next();
    if (!event) {
      turn = { snapshot, commands: [] };
      continue;
    }
    handled++;
    turn = feed(context, effects.self, turn, event);
  }
}

function feed(context: df.OrchestrationContext, self: string, turn: PhaseTurn, event: PhaseEvent): PhaseTurn {
  try {
    return stepPhase(turn.snapshot, event);
  } catch (err) {
    // A malformed event must not kill the phase; the API validates, this is the last line.
    context.log(`phase ${self}: ignored event ${JSON.stringify(event).slice(0, 200)}: ${(err as Error).message}`);
    return { snapshot: turn.snapshot, commands: [] };
  }
}
