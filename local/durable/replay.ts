import { InvocationContext } from '@azure/functions';
import { Orchestrator } from 'durable-functions/lib/src/orchestrations/Orchestrator';
import sdkPackage from 'durable-functions/package.json';
import type { OrchestrationHandler } from './functions';
import { EventType, isSchedulingEvent, type HistoryEvent } from './history';

/**
 * The `durable-functions` versions this file was checked against. It drives the SDK's replay through
 * private parts (`Orchestrator.handle`'s state, `taskOrchestrationExecutor`, the action tree), which a
 * release may change without notice, so package.json pins the version and the local host refuses to
 * start on another one instead of replaying wrongly. To upgrade: bump the pin, run tests/durable and
 * tests/crash, and add the version here.
 */
export const VERIFIED_SDK_VERSIONS: readonly string[] = ['3.5.0'];

export function checkSdkVersion(version: string = sdkPackage.version): void {
  if (!VERIFIED_SDK_VERSIONS.includes(version)) {
    throw new Error(
      `The local durable host drives durable-functions ${VERIFIED_SDK_VERSIONS.join(', ')} through its private replay state, ` +
        `but ${version} is installed. Install the pinned version (npm ci), or verify ${version} (tests/durable, tests/crash) ` +
        'and add it to VERIFIED_SDK_VERSIONS in local/durable/replay.ts.',
    );
  }
}
checkSdkVersion();

/**
 * One orchestrator episode through the real `durable-functions` SDK: `Orchestrator.handle` replays the
 * history and returns the actions, exactly as the Functions host's out-of-process shim receives them.
 *
 * The SDK numbers every task it tracks (activities, timers, sub-orchestrations and the retry timers and
 * re-attempts its RetryableTask makes); the Durable extension mirrors that numbering while it replays the
 * actions. Here we read the numbering from the executor the SDK used for this episode (its `openTasks`),
 * which is what the extension's mirror computes, without a second implementation that could drift.
 */

// SDK action types (durable-functions/lib/src/actions/ActionType.js).
const A = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  WhenAny: 11,
  WhenAll: 12,
} as const;

interface SdkAction {
  actionType: number;
  functionName?: string;
  externalEventName?: string;
  input?: unknown;
  instanceId?: string;
  fireAt?: Date;
  isCanceled?: boolean;
  reason?: string;
  retryOptions?: SdkRetryOptions;
  compoundActions?: SdkAction[];
}

export interface SdkRetryOptions {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

// The SDK's task objects, as far as the host reads them.
interface SdkTask {
  id: number | string | false;
  actionObj: SdkAction | string;
  parent?: SdkTask & { children: SdkTask[]; retryOptions?: SdkRetryOptions; actionObj: SdkAction };
}
interface SdkExecutor {
  openTasks: Record<string, SdkTask>;
  openEvents: Record<string, SdkTask[]>;
  /** Results that arrived before anything waited for them (raised events by name), in arrival order. */
  deferredTasks?: Record<string, unknown[]>;
  willContinueAsNew: boolean;
}

/** Work the episode asks for, with the task id the SDK gave it. */
export type Scheduled =
  | { kind: 'activity'; id: number; name: string; input?: string; retryOf?: number; retry?: SdkRetryOptions; attempt: number }
  | { kind: 'timer'; id: number; fireAt: Date; retryOf?: number; canceled: boolean }
  | { kind: 'retryTimer'; id: number; retryOf: number; failures: number; retry: SdkRetryOptions }
  | { kind: 'subOrchestration'; id: number; name: string; input?: string; instanceId?: string; retryOf?: number; attempt: number };

export type EpisodeOutcome =
  | { kind: 'waiting'; open: Scheduled[]; customStatus?: unknown }
  | { kind: 'completed'; output: unknown; customStatus?: unknown }
  | { kind: 'continuedAsNew'; input: unknown; carryOver: HistoryEvent[]; customStatus?: unknown }
  | { kind: 'failed'; reason: string; details?: string; customStatus?: unknown };

const OUT_OF_PROC_LABEL = '\n\n$OutOfProcData$:';

function toSdkEvent(e: HistoryEvent, played: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { ...e, IsPlayed: played, Timestamp: new Date(e.Timestamp) };
  if (e.FireAt) out.FireAt = new Date(e.FireAt);
  if (e.FailureDetails) out.FailureDetails = JSON.parse(e.FailureDetails);
  return out;
}

/**
 * The leaf actions in scheduling order. A task that was scheduled earlier and is raced again in a
 * new Task.any (the smsPhoneVerification pattern: one timeout timer, many waits) appears again inside
 * the new compound action as the same action object; it was scheduled once, so it counts once.
 */
function flattenLeaves(actions: SdkAction[], out: SdkAction[] = [], seen = new Set<SdkAction>()): SdkAction[] {
  for (const a of actions) {
    if (a.actionType === A.WhenAll || a.actionType === A.WhenAny) flattenLeaves(a.compoundActions ?? [], out, seen);
    else if (!seen.has(a)) {
      seen.add(a);
      out.push(a);
    }
  }
  return out;
}

function leafKind(a: SdkAction): { type: EventType; name?: string } | 'skip' | 'unsupported' {
  switch (a.actionType) {
    case A.CallActivity:
    case A.CallActivityWithRetry:
      return { type: EventType.TaskScheduled, name: a.functionName };
    case A.CallSubOrchestrator:
    case A.CallSubOrchestratorWithRetry:
      return { type: EventType.SubOrchestrationInstanceCreated, name: a.functionName };
    case A.CreateTimer:
      return { type: EventType.TimerCreated };
    case A.WaitForExternalEvent:
    case A.ContinueAsNew:
      return 'skip';
    default:
      return 'unsupported';
  }
}

const ACTION_NAMES: Record<number, string> = { 7: 'callEntity', 8: 'callHttp', 9: 'signalEntity', 13: 'lockEntities', 14: 'releaseEntities' };

function describe(type: EventType, name?: string): string {
  return `${EventType[type]}${name ? ` "${name}"` : ''}`;
}

/**
 * Compare what the code scheduled this time with what the history says it scheduled before — the
 * check DTFx makes while replaying. Returns a message naming the first mismatch, or undefined.
 */
function findNonDeterminism(history: HistoryEvent[], leaves: SdkAction[]): string | undefined {
  const recorded = history.filter((e) => isSchedulingEvent(e) && e.RetryOf === undefined).sort((a, b) => a.EventId - b.EventId);
  const issued = leaves.map(leafKind).filter((k): k is { type: EventType; name?: string } => typeof k === 'object');
  for (let i = 0; i < recorded.length; i++) {
    const was = recorded[i];
    const now = issued[i];
    if (!now) {
      return (
        `Non-deterministic workflow detected: the history has ${describe(was.EventType, was.Name)} with EventId ${was.EventId}, ` +
        `but on replay the orchestrator code no longer schedules it (it scheduled ${issued.length} task(s) in all). ` +
        `Orchestrator code must make the same calls in the same order on every replay; deploy changes under a new orchestrator name or version.`
      );
    }
    if (now.type !== was.EventType || (now.name ?? '') !== (was.Name ?? '')) {
      return (
        `Non-deterministic workflow detected: the history has ${describe(was.EventType, was.Name)} with EventId ${was.EventId}, ` +
        `but on replay the orchestrator code scheduled ${describe(now.type, now.name)} in its place. ` +
        `Orchestrator code must make the same calls in the same order on every replay (no Date.now(), Math.random(), I/O or changing inputs); ` +
        `deploy changes under a new orchestrator name or version.`
      );
    }
  }
  return undefined;
}

function jsonText(value: unknown): string | undefined {
  return value === undefined ? undefined : typeof value === 'string' ? value : JSON.stringify(value);
}

/** Sub-orchestration inputs reach the action as plain values (activity inputs are pre-serialised strings). */
function subInput(value: unknown): string | undefined {
  return value === undefined ? undefined : JSON.stringify(value);
}

/** Which open tasks need scheduling, with the SDK's ids. */
function openWork(executor: SdkExecutor): Scheduled[] {
  const out: Scheduled[] = [];
  for (const task of Object.values(executor.openTasks)) {
    if (typeof task.id !== 'number') continue;
    const id = task.id;
    if (typeof task.actionObj === 'string') {
      // A NoOpTask: a RetryableTask's retry timer (odd child) or its next attempt (even child).
      const parent = task.parent;
      if (!parent || !parent.retryOptions) continue;
      const index = parent.children.indexOf(task);
      const first = parent.children[0];
      const retryOf = typeof first.id === 'number' ? first.id : id;
      const action = parent.actionObj;
      if (index % 2 === 1) {
        out.push({ kind: 'retryTimer', id, retryOf, failures: (index + 1) / 2, retry: parent.retryOptions });
      } else if (action.actionType === A.CallActivityWithRetry) {
        out.push({ kind: 'activity', id, name: action.functionName!, input: jsonText(action.input), retryOf, retry: parent.retryOptions, attempt: index / 2 + 1 });
      } else {
        out.push({ kind: 'subOrchestration', id, name: action.functionName!, input: subInput(action.input), instanceId: action.instanceId, retryOf, attempt: index / 2 + 1 });
      }
      continue;
    }
    const action = task.actionObj;
    switch (action.actionType) {
      case A.CallActivity:
      case A.CallActivityWithRetry:
        out.push({ kind: 'activity', id, name: action.functionName!, input: jsonText(action.input), retry: action.retryOptions, attempt: 1 });
        break;
      case A.CallSubOrchestrator:
      case A.CallSubOrchestratorWithRetry:
        out.push({ kind: 'subOrchestration', id, name: action.functionName!, input: subInput(action.input), instanceId: action.instanceId, attempt: 1 });
        break;
      case A.CreateTimer:
        out.push({ kind: 'timer', id, fireAt: new Date(action.fireAt!), canceled: !!action.isCanceled });
        break;
    }
  }
  return out.sort((a, b) => a.id - b.id);
}

/**
 * The raised events a continue-as-new carries into the next execution: those the SDK never read
 * because the orchestrator had already continued as new when it reached them (they came later in the
 * same episode). That is what Durable Functions does on Azure for a JavaScript orchestrator: DTFx
 * carries over events that arrive after the continue-as-new ("Carryover"), while an event the execution
 * had received but not given to any waiter is dropped — the extension's out-of-process shim calls
 * `ContinueAsNew(input)` with `preserveUnprocessedEvents` false, and the JS SDK's continueAsNew has no
 * way to ask otherwise (azure-functions-durable-extension OutOfProcOrchestrationShim.cs). Those dropped
 * events are logged. (Counting waiters instead of reading what the SDK did is wrong when the code races
 * one waiter in several Task.any's: the SDK registers it once per race, so it looked as if fewer events
 * were consumed, and the next execution got events again that the previous one had handled.)
 */
function carriedEvents(history: HistoryEvent[], read: ReadonlySet<HistoryEvent>, executor: SdkExecutor, log: (level: string, message: string) => void): HistoryEvent[] {
  const carry: HistoryEvent[] = [];
  const heldBack = new Map<string, number>();
  for (const e of history) {
    if (e.EventType !== EventType.EventRaised || !e.Name) continue;
    if (!read.has(e)) carry.push(e);
  }
  for (const [name, waiting] of Object.entries(executor.deferredTasks ?? {})) {
    if (waiting.length) heldBack.set(name, waiting.length);
  }
  for (const [name, count] of heldBack) {
    log('warning', `continueAsNew dropped ${count} "${name}" event(s) this execution had received but no waitForExternalEvent took, as Durable Functions does for JavaScript orchestrations; take every event before continuing as new.`);
  }
  return carry;
}

/**
 * The SDK's view of the history, noting which raised events it read: it reads an event's Name when it
 * processes it, and stops reading history once the orchestrator continued as new or finished.
 */
function sdkEvents(args: EpisodeInput, read: Set<HistoryEvent>): Array<Record<string, unknown>> {
  const one = (e: HistoryEvent, played: boolean) => {
    const out = toSdkEvent(e, played);
    if (e.EventType === EventType.EventRaised) {
      // Not enumerable: the SDK walks every enumerable value of the history up front (to parse timestamps).
      Object.defineProperty(out, 'Name', {
        enumerable: false,
        get: () => {
          read.add(e);
          return e.Name;
        },
      });
    }
    return out;
  };
  return [...args.past.map((e) => one(e, true)), ...args.fresh.map((e) => one(e, false))];
}

export interface EpisodeInput {
  name: string;
  instanceId: string;
  parentInstanceId?: string;
  handler: OrchestrationHandler;
  /** Committed history (replayed) and this episode's new events, OrchestratorStarted first. */
  past: HistoryEvent[];
  fresh: HistoryEvent[];
  input: unknown;
  log: (level: string, message: string) => void;
}

export async function runEpisode(args: EpisodeInput): Promise<EpisodeOutcome> {
  const read = new Set<HistoryEvent>();
  const sdkHistory = sdkEvents(args, read);
  const orchestrator = new Orchestrator(args.handler);
  const context = new InvocationContext({
    functionName: args.name,
    invocationId: `${args.instanceId}`,
    logHandler: (level, ...msg) => args.log(level, msg.map(String).join(' ')),
    options: { trigger: { type: 'orchestrationTrigger', name: 'context' }, extraInputs: [], extraOutputs: [] },
  });
  const trigger = {
    history: sdkHistory,
    input: args.input,
    instanceId: args.instanceId,
    isReplaying: args.past.length > 0,
    parentInstanceId: args.parentInstanceId ?? '',
    // No storage-queue visibility limit here, so timers are never split into "long timers".
    maximumShortTimerDuration: '3650.00:00:00',
    longRunningTimerIntervalDuration: '3.00:00:00',
    defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
    upperSchemaVersion: 2, // ReplaySchema.V3: actions keep their Task.all / Task.any structure
  };
  let state: { isDone: boolean; actions: SdkAction[][]; output?: unknown; customStatus?: unknown };
  try {
    state = (await orchestrator.handle(trigger as never, context as never)) as unknown as typeof state;
  } catch (err) {
    // The SDK throws OrchestrationFailureError: "<flag>\n\n$OutOfProcData$:<state JSON>", the real error in state.error.
    const message = err instanceof Error ? err.message : String(err);
    const cut = message.indexOf(OUT_OF_PROC_LABEL);
    let failedState: { error?: string; customStatus?: unknown } = {};
    if (cut >= 0) {
      try {
        failedState = JSON.parse(message.slice(cut + OUT_OF_PROC_LABEL.length)) as typeof failedState;
      } catch {
        failedState = {};
      }
    }
    const reason = failedState.error ?? (cut >= 0 ? message.slice(0, cut) : message);
    return {
      kind: 'failed',
      reason: `Orchestrator function '${args.name}' failed: ${reason}`,
      details: err instanceof Error ? err.stack : undefined,
      customStatus: failedState.customStatus,
    };
  }
  const executor = (orchestrator as unknown as { taskOrchestrationExecutor: SdkExecutor }).taskOrchestrationExecutor;
  const leaves = flattenLeaves(state.actions.flat());
  const unsupported = leaves.find((a) => leafKind(a) === 'unsupported');
  if (unsupported) {
    return {
      kind: 'failed',
      reason: `Orchestrator function '${args.name}' used ${ACTION_NAMES[unsupported.actionType] ?? `action type ${unsupported.actionType}`}, which this app does not use and the local host does not run. Call an activity instead.`,
      customStatus: state.customStatus,
    };
  }
  const replayed = [...args.past, ...args.fresh];
  const mismatch = findNonDeterminism(replayed, leaves);
  if (mismatch) return { kind: 'failed', reason: mismatch, customStatus: state.customStatus };

  if (executor.willContinueAsNew) {
    const action = state.actions.flat().find((a) => a.actionType === A.ContinueAsNew);
    return {
      kind: 'continuedAsNew',
      input: action?.input,
      carryOver: carriedEvents(replayed, read, executor, args.log),
      customStatus: state.customStatus,
    };
  }
  if (state.isDone) return { kind: 'completed', output: state.output, customStatus: state.customStatus };
  return { kind: 'waiting', open: openWork(executor), customStatus: state.customStatus };
}

/** DTFx's retry delay: first * backoff^(failures-1), capped at maxRetryInterval. */
export function retryDelayMs(retry: SdkRetryOptions, failures: number): number {
  const backoff = retry.backoffCoefficient && retry.backoffCoefficient > 0 ? retry.backoffCoefficient : 1;
  const delay = retry.firstRetryIntervalInMilliseconds * Math.pow(backoff, failures - 1);
  const cap = retry.maxRetryIntervalInMilliseconds && retry.maxRetryIntervalInMilliseconds > 0 ? retry.maxRetryIntervalInMilliseconds : Infinity;
  return Math.min(delay, cap);
}
