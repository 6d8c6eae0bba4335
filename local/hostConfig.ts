import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** The parts of host.json the local host honours, with the Functions host's defaults. */
const HostJsonSchema = z.object({
  version: z.string().optional(),
  extensions: z
    .object({
      durableTask: z
        .object({
          hubName: z.string().regex(/^[A-Za-z][A-Za-z0-9]{2,44}$/, 'hubName must start with a letter and be 3-45 letters or digits').default('TestHubName'),
          maxConcurrentActivityFunctions: z.number().int().positive().default(10),
          maxConcurrentOrchestratorFunctions: z.number().int().positive().default(10),
        })
        .partial()
        .default({}),
    })
    .partial()
    .default({}),
});

export interface DurableSettings {
  hubName: string;
  maxConcurrentActivityFunctions: number;
  maxConcurrentOrchestratorFunctions: number;
}

export function durableSettings(hostJson: unknown): DurableSettings {
  const parsed = HostJsonSchema.safeParse(hostJson);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`host.json ${issue.path.join('.')}: ${issue.message}`);
  }
  const dt = parsed.data.extensions?.durableTask ?? {};
  return {
    hubName: dt.hubName ?? 'TestHubName',
    maxConcurrentActivityFunctions: dt.maxConcurrentActivityFunctions ?? 10,
    maxConcurrentOrchestratorFunctions: dt.maxConcurrentOrchestratorFunctions ?? 10,
  };
}

export function readHostJson(dir = path.resolve(__dirname, '..')): unknown {
  const file = path.join(dir, 'host.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
}
