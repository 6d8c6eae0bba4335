import { randomBytes } from 'node:crypto';
import type * as df from 'durable-functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FunctionDef } from '../../local/durable/functions';
import { MAX_PAYLOAD_CHARS } from '../../local/durable/store';
import { raise, startInstance, startStack, status, waitFor, type TestStack } from '../helpers/stack';

/**
 * Large payloads: up to MAX_PAYLOAD_CHARS (the Durable Task Scheduler's 1 MB per payload) round-trip through
 * the task hub, across continue-as-new and a restart; what is larger is refused with a clear error (413 at the
 * API, a failed task or instance naming the payload when an orchestrator or activity produced it).
 */
type Gen = Generator<df.Task, unknown, unknown>;

interface Learner {
  id: string;
  name: string;
  email: string;
  phase: string;
  state: string;
  stepId: string;
  since: string;
  helpCount: number;
}
/** Roster-like JSON with multi-byte names (Azurite once corrupted these in large single-entity writes). */
function learners(n: number, tag: string): Learner[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${tag}-learner-${i}`,
    name: `Åsa Ødegård-Müller ${i} 🚀`,
    email: `learner${i}.${tag}@contoso.example`,
    phase: 'implementation',
    state: i % 5 === 0 ? 'helpRequested' : 'working',
    stepId: 'deploy-foundation',
    since: `2026-11-26T10:${String(i % 60).padStart(2, '0')}:00.000Z`,
    helpCount: i % 3,
  }));
}
const randomText = (chars: number): string => randomBytes(chars).toString('base64').slice(0, chars);

interface BigInput {
  round: number;
  rounds: number;
  learners: Learner[];
}

const functions: FunctionDef[] = [
  {
    kind: 'orchestration',
    name: 'bigState',
    handler: function* (ctx: df.OrchestrationContext): Gen {
      const input = ctx.df.getInput() as BigInput;
      const echoed = (yield ctx.df.callActivity('bigEcho', input.learners.length)) as Learner[];
      ctx.df.setCustomStatus({ round: input.round, learners: input.learners.length });
      if (input.round < input.rounds) {
        ctx.df.continueAsNew({ ...input, round: input.round + 1, learners: [...input.learners, ...echoed.slice(0, 20)] });
        return undefined;
      }
      const roster = (yield ctx.df.waitForExternalEvent('roster')) as Learner[];
      return { round: input.round, learners: input.learners, echoed, roster };
    },
  },
  { kind: 'activity', name: 'bigEcho', handler: (n: unknown) => learners(n as number, 'echo') },
  {
    kind: 'orchestration',
    name: 'growsIncompressible',
    handler: function* (ctx: df.OrchestrationContext): Gen {
      const input = ctx.df.getInput() as { text: string };
      const more = (yield ctx.df.callActivity('randomChunk', 300_000)) as string;
      if (input.text.length > 0) ctx.df.continueAsNew({ text: input.text + more });
      else ctx.df.continueAsNew({ text: more });
      return undefined;
    },
  },
  { kind: 'activity', name: 'randomChunk', handler: (n: unknown) => randomText(n as number) },
  {
    kind: 'orchestration',
    name: 'statusOfSize',
    handler: function* (ctx: df.OrchestrationContext): Gen {
      const chars = ctx.df.getInput() as number;
      ctx.df.setCustomStatus('s'.repeat(chars - 2)); // its JSON is `chars` long
      yield ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 10));
      return 'done';
    },
  },
  {
    kind: 'orchestration',
    name: 'incompressibleResult',
    handler: function* (ctx: df.OrchestrationContext): Gen {
      try {
        return { ok: yield ctx.df.callActivity('randomChunk', MAX_PAYLOAD_CHARS) };
      } catch (err) {
        return { failed: (err as Error).message };
      }
    },
  },
];

let stack: TestStack;
let api: string;
let hub: string;
beforeAll(async () => {
  stack = await startStack(functions, { hubName: `Large${process.pid}` });
  api = stack.api;
  hub = `Large${process.pid}`;
});
afterAll(async () => {
  await stack?.stop();
});

function historyRows(instanceId: string): number {
  return stack.database.get<{ n: number }>('SELECT count(*) AS n FROM dt_history WHERE hub = ? AND instance_id = ?', hub, instanceId)!.n;
}

describe('large payloads', () => {
  it('a 60 KB+ input carried through continue-as-new, a large activity result and event data round-trip, also across a restart', async () => {
    const initial = learners(400, 'roster');
    // Over twice what one Azure Table property holds: the old Table-shaped task hub had to compress this.
    expect(JSON.stringify(initial).length).toBeGreaterThan(64_000);
    const id = await startInstance(api, 'bigState', { round: 1, rounds: 3, learners: initial } satisfies BigInput, 'big-state-1');
    const waiting = await waitFor(api, id, (s) => s.runtimeStatus === 'Running' && (s.customStatus as { round?: number } | null)?.round === 3, 60_000);
    expect((waiting.input as BigInput).learners).toHaveLength(440);

    // A new host reads it all back from storage and the instance goes on.
    await stack.restart();
    api = stack.api;
    const reloaded = await waitFor(api, id, ['Running']);
    expect(reloaded.customStatus).toEqual({ round: 3, learners: 440 });
    expect(reloaded.input).toEqual(waiting.input);
    const roster = learners(300, 'event');
    expect(await raise(api, id, 'roster', roster)).toBe(202);
    const done = await waitFor(api, id, ['Completed'], 60_000);
    const output = done.output as { round: number; learners: Learner[]; echoed: Learner[]; roster: Learner[] };
    expect(output.round).toBe(3);
    expect(output.learners).toEqual([...initial, ...learners(20, 'echo'), ...learners(20, 'echo')]);
    expect(output.echoed).toEqual(learners(440, 'echo'));
    expect(output.roster).toEqual(roster);
    expect(output.learners[7]!.name).toBe('Åsa Ødegård-Müller 7 🚀');
  });

  it('an input over the payload limit is refused with 413, saying so, and nothing is stored', async () => {
    const res = await fetch(`${api}/orchestrators/bigState/too-big-1`, { method: 'POST', body: JSON.stringify({ round: 1, rounds: 1, learners: [], noise: randomText(MAX_PAYLOAD_CHARS) }) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toMatch(new RegExp(`the limit is ${MAX_PAYLOAD_CHARS}`));
    expect(await status(api, 'too-big-1')).toBeUndefined();
    expect(historyRows('too-big-1')).toBe(0);
  });

  it('an orchestration whose continue-as-new input outgrows the task hub fails, naming it, instead of stalling', async () => {
    const id = await startInstance(api, 'growsIncompressible', { text: '' }, 'grows-1');
    const failed = await waitFor(api, id, ['Failed'], 60_000);
    expect(String(failed.output)).toMatch(/continue-as-new input is \d+ characters; the limit is/);
    // The last execution that fit is what the instance shows as its input.
    expect((failed.input as { text: string }).text.length).toBe(900_000);
  });

  it('an activity result that does not fit fails the task with PayloadTooLarge, which the orchestrator can catch', async () => {
    const id = await startInstance(api, 'incompressibleResult', null, 'result-1');
    const done = await waitFor(api, id, ['Completed'], 60_000);
    expect((done.output as { failed?: string }).failed).toMatch(new RegExp(`its result is ${MAX_PAYLOAD_CHARS + 2} characters; the limit is`));
  });

  it('a custom status over 16 KB of UTF-16 fails the orchestration as Durable Functions does; one just under is kept', async () => {
    const ok = await startInstance(api, 'statusOfSize', 8_700, 'status-ok');
    expect((await waitFor(api, ok, ['Completed'])).customStatus).toHaveLength(8_698);
    const id = await startInstance(api, 'statusOfSize', 8_800, 'status-big');
    const failed = await waitFor(api, id, ['Failed']);
    expect(String(failed.output)).toMatch(/custom status is too large: The UTF-16 size of the JSON-serialized payload must not exceed 16 KB\. The current payload size is 17 KB/);
  });
});
