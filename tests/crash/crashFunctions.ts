import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as df from 'durable-functions';
import type { FunctionDef } from '../../local/durable/functions';

/**
 * The crash test's functions. They run inside the child host process (crashHost.ts); the test process
 * only imports the pure helpers (`stepValue`, `mix`, `timerMs`, …) to compute expected outputs.
 *
 * Every activity execution is appended to `$CRASH_DIR/executions.jsonl` *before* it does anything
 * else, with `fs.appendFileSync`, so the count survives `kill -9` (at-least-once counting); a second
 * line with the same `run` marks that the function returned (or threw).
 */

export const EVENTS = ['e1', 'e2', 'e3'] as const;
export type EventName = (typeof EVENTS)[number];

export interface StepInput {
  /** Namespace of the execution key: the parent instance id (or `<id>/child`). */
  owner: string;
  key: string;
  prev: number;
}
export interface FlakyInput {
  owner: string;
  key: string;
  failFirst: boolean;
}
export interface WorkflowInput {
  index: number;
}
export interface ChildInput {
  owner: string;
  index: number;
}
export interface EventPayload {
  nonce: string;
}

export interface ExecutionRecord {
  /** 'start' when the function begins, 'done' when it returns or throws. */
  phase: 'start' | 'done';
  /** One execution: `<pid>.<n>`, the same on its start and done lines. */
  run: string;
  owner: string;
  activity: string;
  key: string;
  pid: number;
  ts: number;
  attempt?: number;
}

export interface WorkflowOutput {
  id: string;
  seq: number[];
  fan: number[];
  flaky: number;
  timerMs: number;
  events: Record<EventName, string | null>;
  /** A second event that arrived after e1, e2 and e3 were consumed: must stay null. */
  extra: { name: string; payload: unknown } | null;
  child: number[];
}

/** FNV-1a, 32 bit: a stable hash for deterministic values and durations. */
export function fnv(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function stepValue(owner: string, key: string): number {
  return fnv(`${owner}/${key}`) % 100_000;
}

/** What crashStep returns: chains the previous result in, so a mixed-up result shows in the output. */
export function mix(owner: string, key: string, prev: number): number {
  return (stepValue(owner, key) + prev * 31) % 1_000_003;
}

export function activityDurationMs(owner: string, key: string): number {
  return 20 + (fnv(`${owner}/${key}/duration`) % 131); // 20..150 ms
}

export function timerMs(index: number): number {
  return 300 + ((index * 97) % 501); // 300..800 ms
}

export function failsFirst(index: number): boolean {
  return index % 3 !== 2; // two of three instances see a failed first attempt
}

/** How long the orchestration keeps listening for a duplicate event after e1..e3. */
export const DUPLICATE_WINDOW_MS = 600;

function crashDir(): string {
  const dir = process.env.CRASH_DIR;
  if (!dir) throw new Error('CRASH_DIR is not set: the crash functions record executions there.');
  return dir;
}

let runs = 0;

/** Record the start of an execution; returns the function that records its end. */
function record(r: Omit<ExecutionRecord, 'pid' | 'ts' | 'phase' | 'run'>): () => void {
  const run = `${process.pid}.${++runs}`;
  const write = (phase: ExecutionRecord['phase']): void => {
    const line: ExecutionRecord = { phase, run, ...r, pid: process.pid, ts: Date.now() };
    appendFileSync(path.join(crashDir(), 'executions.jsonl'), JSON.stringify(line) + '\n');
  };
  write('start');
  return () => write('done');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function crashStep(input: unknown): Promise<number> {
  const i = input as StepInput;
  const done = record({ owner: i.owner, activity: 'crashStep', key: i.key });
  await sleep(activityDurationMs(i.owner, i.key));
  done();
  return mix(i.owner, i.key, i.prev);
}

/** Fails its first attempt when asked to; the attempt counter is a file, so it survives restarts. */
async function crashFlaky(input: unknown): Promise<number> {
  const i = input as FlakyInput;
  const counterDir = path.join(crashDir(), 'flaky');
  mkdirSync(counterDir, { recursive: true });
  const counter = path.join(counterDir, encodeURIComponent(`${i.owner}/${i.key}`));
  appendFileSync(counter, 'x');
  const attempt = readFileSync(counter, 'utf8').length;
  const done = record({ owner: i.owner, activity: 'crashFlaky', key: i.key, attempt });
  await sleep(activityDurationMs(i.owner, i.key));
  done();
  if (i.failFirst && attempt === 1) throw new Error(`planned failure of ${i.owner}/${i.key} (attempt ${attempt})`);
  return stepValue(i.owner, i.key);
}

type Gen = Generator<df.Task, unknown, unknown>;

function* crashChild(context: df.OrchestrationContext): Gen {
  const input = context.df.getInput() as ChildInput;
  const a = (yield context.df.callActivity('crashStep', { owner: input.owner, key: 'c0', prev: 0 } satisfies StepInput)) as number;
  yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 100 + (input.index % 5) * 40));
  const b = (yield context.df.callActivity('crashStep', { owner: input.owner, key: 'c1', prev: a } satisfies StepInput)) as number;
  return [a, b];
}

/**
 * Sequence of 3 → fan-out of 3 → retried flaky activity → timer → e1, e2, e3 (in any order) → a window
 * in which a duplicate e1/e2/e3 would be consumed and reported → sub-orchestration with 2 activities.
 */
function* crashWorkflow(context: df.OrchestrationContext): Gen {
  const { index } = context.df.getInput() as WorkflowInput;
  const id = context.df.instanceId;
  const seq: number[] = [];
  let prev = 0;
  for (let k = 0; k < 3; k++) {
    prev = (yield context.df.callActivity('crashStep', { owner: id, key: `seq${k}`, prev } satisfies StepInput)) as number;
    seq.push(prev);
  }
  const fan = (yield context.df.Task.all([0, 1, 2].map((k) => context.df.callActivity('crashStep', { owner: id, key: `fan${k}`, prev } satisfies StepInput)))) as number[];
  const flaky = (yield context.df.callActivityWithRetry('crashFlaky', new df.RetryOptions(200, 4), { owner: id, key: 'flaky', failFirst: failsFirst(index) } satisfies FlakyInput)) as number;
  const wait = timerMs(index);
  yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + wait));

  const waits = EVENTS.map((name) => context.df.waitForExternalEvent(name));
  const payloads = (yield context.df.Task.all(waits)) as Array<EventPayload | undefined>;
  const events = Object.fromEntries(EVENTS.map((name, i) => [name, payloads[i]?.nonce ?? null])) as Record<EventName, string | null>;

  const again = EVENTS.map((name) => context.df.waitForExternalEvent(name));
  const window = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + DUPLICATE_WINDOW_MS));
  const winner = (yield context.df.Task.any([...again, window])) as df.Task;
  let extra: WorkflowOutput['extra'] = null;
  const dup = again.findIndex((t) => t === winner);
  if (dup >= 0) {
    extra = { name: EVENTS[dup], payload: again[dup].result };
    window.cancel();
  }

  const child = (yield context.df.callSubOrchestrator('crashChild', { owner: `${id}/child`, index } satisfies ChildInput)) as number[];
  const output: WorkflowOutput = { id, seq, fan, flaky, timerMs: wait, events, extra, child };
  return output;
}

export const crashFunctions: FunctionDef[] = [
  { kind: 'orchestration', name: 'crashWorkflow', handler: crashWorkflow },
  { kind: 'orchestration', name: 'crashChild', handler: crashChild },
  { kind: 'activity', name: 'crashStep', handler: crashStep },
  { kind: 'activity', name: 'crashFlaky', handler: crashFlaky },
];
