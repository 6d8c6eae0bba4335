/**
 * What peer.ts and its forked worker.ts say to each other. Kept apart from worker.ts so that importing
 * peer.ts (from `npm run bench`) type-checks without bench/dbos's node_modules installed.
 */
import { z } from 'zod';

export const WorkerInput = z.object({
  systemDatabaseUrl: z.string().min(1),
  workflows: z.number().int().positive(),
  steps: z.number().int().positive(),
  concurrency: z.number().int().positive(),
  warmupWorkflows: z.number().int().nonnegative(),
  /** DBOS's system-database pool; undefined keeps DBOS's default (10). */
  poolSize: z.number().int().positive().optional(),
});
export type WorkerInput = z.infer<typeof WorkerInput>;

export interface WorkerResult {
  type: 'result';
  dbosVersion: string;
  workflows: number;
  steps: number;
  durationMs: number;
  /** CPU of the DBOS process over the measured window, % of one core. */
  cpuPct: number;
  /** Under CPU contention a loop waiting for a core counts as busy, so read this next to cpuPct. */
  eventLoopUtilization: number;
  /** Workflow latency start → result, ms. */
  p50Ms: number;
  p99Ms: number;
  peakRssBytes: number;
}

/**
 * Worker → parent, over the IPC channel: `phase` around the measured window (the parent reads
 * PostgreSQL's CPU and counters at exactly those points), then one `result` or `error`.
 */
export type WorkerMessage = WorkerResult | { type: 'phase'; phase: 'measure-start' | 'measure-end' } | { type: 'error'; message: string };
