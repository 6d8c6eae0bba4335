/**
 * The `default:` of a switch that covers every member of a union: the call only compiles while every
 * member has its case, so adding one (a command, a step kind, a position) makes the compiler point here.
 * At run time it rejects what the types ruled out (data from an older or newer version).
 */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}
