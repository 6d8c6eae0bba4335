import type { HttpHandler, HttpMethod, InvocationContext, Timer } from '@azure/functions';
import type * as df from 'durable-functions';

/**
 * The one description of every function the app has. `app.ts` hands it to the Azure Functions host
 * (`@azure/functions` + `durable-functions`), the local host (`local/`) reads the same list.
 */
export type OrchestrationHandler = df.OrchestrationHandler;
export type ActivityHandler = (input: unknown, context: InvocationContext) => unknown;

export interface OrchestrationDef {
  kind: 'orchestration';
  name: string;
  handler: OrchestrationHandler;
}
export interface ActivityDef {
  kind: 'activity';
  name: string;
  handler: ActivityHandler;
  /** Gets a DurableClient input binding, e.g. to raise an event to another instance. */
  durableClient?: boolean;
}
export interface HttpDef {
  kind: 'http';
  name: string;
  route: string;
  methods: HttpMethod[];
  authLevel: 'anonymous' | 'function' | 'admin';
  /** Gets a DurableClient input binding (`df.input.durableClient()`). */
  durableClient: boolean;
  handler: HttpHandler;
}
export interface TimerDef {
  kind: 'timer';
  name: string;
  /** NCRONTAB with seconds, as Azure Functions: "{second} {minute} {hour} {day} {month} {day-of-week}". */
  schedule: string;
  runOnStartup?: boolean;
  /** Durable timer functions get a DurableClient input binding (`df.input.durableClient()`). */
  durableClient?: boolean;
  handler: (timer: Timer, context: InvocationContext) => unknown;
}
export type FunctionDef = OrchestrationDef | ActivityDef | HttpDef | TimerDef;
