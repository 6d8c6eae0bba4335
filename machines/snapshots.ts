import type { AnyStateMachine, SnapshotFrom, StateValue } from 'xstate';

/**
 * The JSON form of a machine's snapshot (xstate's persisted snapshot), stored as the checkpoint and
 * carried through continue-as-new. `value` and `context` are all a restore needs; `status`/`output`
 * tell a reader whether the machine is done without loading it.
 */
export interface PersistedSnapshot<Context, Output> {
  readonly status: 'active' | 'done' | 'error' | 'stopped';
  readonly value: unknown;
  readonly context: Context;
  readonly output?: Output;
  readonly error?: unknown;
}

/** Persist and restore for one machine; both machines use this, so the two cannot drift apart. */
export function snapshotCodec<M extends AnyStateMachine, P extends PersistedSnapshot<unknown, unknown>>(machine: M, name: string) {
  return {
    persist(snapshot: SnapshotFrom<M>): P {
      // getPersistedSnapshot is typed as an opaque Snapshot<unknown>; for these machines (no child
      // actors, no history states) it is exactly PersistedSnapshot's fields.
      return machine.getPersistedSnapshot(snapshot) as unknown as P;
    },
    /** Rebuild a live snapshot from `persist` output (possibly via JSON) to continue it. */
    restore(persisted: P): SnapshotFrom<M> {
      if (persisted === null || typeof persisted !== 'object' || persisted.value === undefined || !persisted.context) {
        throw new Error(
          `restore ${name} snapshot: expected the object persist${name[0].toUpperCase()}${name.slice(1)}Snapshot returned ({ status, value, context, ... }); ` +
            "got something without value/context — was a different machine's snapshot stored here?",
        );
      }
      return machine.resolveState({
        value: persisted.value as StateValue,
        context: persisted.context,
        status: persisted.status,
        output: persisted.output,
        error: persisted.error,
      }) as SnapshotFrom<M>;
    },
  };
}
