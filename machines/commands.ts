/**
 * Shared plumbing for "machines decide, orchestrations execute".
 *
 * A machine's side effects are *declared*, never performed: each command is an xstate action whose
 * implementation is a no-op and whose name + resolved params are the instruction. `transition()`
 * hands those back as executable action objects that also carry xstate internals (`info` holds the
 * live context and event, `exec` a function); neither belongs in an orchestration's history or a
 * checkpoint, so `toCommands` reduces them to plain `{ type, params }` data and refuses anything
 * outside the machine's vocabulary — an unknown action means the machine and its interpreter
 * disagree, which must fail loudly rather than be skipped.
 */

/** A command as the orchestration sees it: a name plus JSON-safe params. */
export interface CommandShape {
  readonly type: string;
  readonly params?: unknown;
}

/** Params of the command named `K` in the vocabulary `C`. */
export type ParamsOf<C extends CommandShape, K extends C['type']> = Extract<C, { type: K }>['params'];

/**
 * The no-op implementation of a declared command. The params type is what `satisfies` checks
 * against the exported vocabulary, so a command cannot drift from its documented shape.
 */
export function declared<P>(): (_args: unknown, _params: P) => void {
  return () => undefined;
}

/** What `transition()` / `initialTransition()` return per action (the parts we read). */
export interface ExecutableLike {
  readonly type: string;
  readonly params?: unknown;
}

/**
 * Reduce xstate executable actions to plain commands, in order, rejecting anything not in
 * `vocabulary`. Params are deep-copied so a command never aliases the snapshot's context.
 */
export function toCommands<C extends CommandShape>(
  machineId: string,
  actions: readonly ExecutableLike[],
  vocabulary: ReadonlySet<C['type']>,
): C[] {
  return actions.map((action) => {
    if (!vocabulary.has(action.type)) {
      throw new Error(
        `${machineId} machine declared action "${action.type}", which is not in its command vocabulary ` +
          `(${[...vocabulary].join(', ')}); add it to the vocabulary or stop declaring it`,
      );
    }
    // The vocabulary check above is the runtime proof that this is one of C's members.
    return (action.params === undefined
      ? { type: action.type }
      : { type: action.type, params: structuredClone(action.params) }) as C;
  });
}
