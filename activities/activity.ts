import type { z } from 'zod';

/**
 * An activity: a function that parses its raw input with its own zod schema (the boundary: the input
 * arrives from an orchestration's history as JSON) and carries that schema, so callers' input types are
 * derived from it (`z.input`) and a call with the wrong input is a compile error, not a ZodError at run time.
 * Extra parameters after the input (the InvocationContext, test options) pass through unchanged.
 */
export interface Activity<S extends z.ZodType, R, Rest extends unknown[]> {
  (raw: unknown, ...rest: Rest): Promise<R>;
  readonly input: S;
}

export function defineActivity<S extends z.ZodType, R, Rest extends unknown[] = []>(
  input: S,
  run: (input: z.output<S>, ...rest: Rest) => Promise<R>,
): Activity<S, R, Rest> {
  const activity = async (raw: unknown, ...rest: Rest): Promise<R> => run(input.parse(raw), ...rest);
  return Object.assign(activity, { input });
}
