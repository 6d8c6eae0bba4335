import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiCallError, WorkshopApi, type Message } from '../../cli/apiClient';
import { RehearsalArm } from '../../cli/rehearsalArm';
import { freePort } from '../../local/ports';
import { prng } from '../../local/prng';
import { LearnerDriver, until } from '../workshop/learnerDriver';
import { HostProcess, REPO, sleep, tail } from './harness';

/**
 * The whole local stack — `npm start`'s own entry point (local/start.ts: the embedded store, the durable host
 * with the app's registry, the ARM emulator, the Teams connector emulator) — as a child process group, killed
 * with SIGKILL at seeded random moments and right after 2xx answers, while four learners and their instructor
 * are driven through the workshop API. After every restart, every write the API acknowledged is still there:
 * the run; each learner's messages (prompts) and checkpoint (never older than before the kill); and at the end
 * every learner has finished with no manual resume, every step was prompted, duplicates are at most the kills,
 * and every learner's ARM deployment exists.
 *
 * STACK_CRASH_SEED picks another schedule (the failing seed is printed).
 */
const SEED = Number(process.env.STACK_CRASH_SEED ?? 20261203);
const LEARNERS = ['ada', 'grace', 'alan', 'barbara'];
const KILLS = 10;
const KEYS = { instructor: 'stack-crash-instructor-key-0123456789', learner: 'stack-crash-learner-signing-key-0123456789' };

interface Seen {
  messageKeys: Set<string>;
  /** The checkpoint's last write (every write stamps it). */
  checkpoint: string;
}

describe('whole-stack crash safety', () => {
  let stack: HostProcess | undefined;
  let dir = '';
  let passed = false;

  afterAll(async () => {
    await stack?.kill9().catch(() => undefined);
    if (passed && dir && !process.env.CRASH_KEEP) rmSync(dir, { recursive: true, force: true });
    else if (dir) console.log(`stack crash test (seed ${SEED}) artifacts kept in ${dir}`);
  });

  it('every acknowledged write survives SIGKILL of every process of the stack, and every learner finishes without a manual resume', { timeout: 600_000 }, async () => {
    const random = prng(SEED);
    dir = mkdtempSync(path.join(tmpdir(), 'stack-crash-'));
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      WORKSHOP_DATA_DIR: path.join(dir, 'data'),
      INSTRUCTOR_API_KEY: KEYS.instructor,
      LEARNER_API_KEY: KEYS.learner,
      SCENARIO_PACKS_DIR: path.join(REPO, 'tests', 'workshop', 'packs'),
      ARM_POLL_INTERVAL_MS: '100',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    };
    process.env.SCENARIO_PACKS_DIR = env.SCENARIO_PACKS_DIR; // the drivers read the same pack
    for (const k of ['ARM_ENDPOINT', 'ARM_TOKEN', 'ARM_CA_CERT', 'LEARNER_SUBSCRIPTION_ID', 'BOT_APP_ID', 'AzureWebJobsStorage']) delete env[k];
    stack = new HostProcess(env, path.join(dir, 'stack-stderr.log'), path.join(REPO, 'local', 'start.ts'), { ready: 'local stack is up', group: true });
    const s = stack;
    await s.start();

    let pendingAckKill = false;
    let acks = 0;
    // Every answer the API gives passes here: a 2xx to a write may be followed by a kill at once.
    const watchingFetch: typeof fetch = async (input, init) => {
      // People take a moment before they act: the run lasts long enough for the kills to land mid-workshop.
      if (init?.method === 'POST') await sleep(800 + Math.random() * 1400);
      const res = await fetch(input, init);
      if (init?.method === 'POST' && res.ok) {
        acks++;
        if (random() < 0.12) pendingAckKill = true;
      }
      return res;
    };
    const api = new WorkshopApi({ url: `http://127.0.0.1:${port}`, instructorKey: KEYS.instructor, fetch: watchingFetch });

    // 1. The reported case: 202 for a new run, then the whole stack killed within 100 ms.
    const roster = LEARNERS.map((id) => ({ name: id[0]!.toUpperCase() + id.slice(1), email: `${id}@example.com`, learnerId: id }));
    const started = await api.startRun({ runId: 'crash', scenario: 'drill', roster, instructors: ['ian'], timeScale: 1 });
    expect(started.runId).toBe('crash');
    await s.kill9('ack');
    await s.start();
    expect((await api.runStatus('crash')).runId ?? 'crash').toBe('crash');

    // 2. Learners and the instructor at work while the stack is killed again and again.
    const drivers = await Promise.all(LEARNERS.map((id) => LearnerDriver.create(api, 'crash', id, 'drill')));
    let finished = false;
    // Barbara stops at a task after her environment is deployed until it has been seen across a kill, so an ARM
    // deployment's survival is always checked (the drill's environments otherwise live only a few seconds).
    let environmentCrossedAKill = false;
    const barbara = drivers[3]!;
    const walking = Promise.all([
      ...drivers.slice(0, 3).map((d) => d.finish(480_000)),
      (async () => {
        await barbara.walkTo('impl-harden', 'awaitingLearner', 480_000);
        await until('barbara\'s environment seen across a kill', async () => environmentCrossedAKill, 480_000, 100);
        return barbara.finish(480_000);
      })(),
    ]);
    walking.then(
      () => (finished = true),
      () => (finished = true),
    );
    const helper = (async () => {
      // One help request and its answer, both acknowledged across kills.
      await until('grace asks for help', async () => api.help('crash', 'grace', 'Which region should the landing zone use?').then(() => true), 120_000, 250);
      await until('the instructor answers', async () => api.answerHelp('crash', 'grace', 'West Europe.').then(() => true).catch((e: unknown) => {
        if (e instanceof ApiCallError && e.status === 409) return true;
        throw e;
      }), 120_000, 250);
    })();

    const seen = new Map<string, Seen>(LEARNERS.map((id) => [id, { messageKeys: new Set<string>(), checkpoint: '' }]));
    // The ARM emulator's address, token and CA, as `npm start` publishes them for this data directory (re-read after each start).
    const arm = (): RehearsalArm => {
      const e = JSON.parse(readFileSync(path.join(env.WORKSHOP_DATA_DIR!, 'arm', 'emulator.json'), 'utf8')) as { url: string; token: string; caFile: string; subscriptionId: string };
      return new RehearsalArm({ url: e.url, token: e.token, caCert: readFileSync(e.caFile, 'utf8'), subscriptionId: e.subscriptionId });
    };
    const groupsSeen = new Set<string>();
    let deploymentsChecked = 0;
    const observe = async (afterRestart = false): Promise<void> => {
      // Learner environments (ARM deployments) that existed stay until their learner finishes and they are torn down.
      const groups = new Set((await arm().runGroups('crash')).map((g) => g.toLowerCase()));
      for (const id of LEARNERS) {
        const detail = await api.learnerDetail('crash', id);
        const rg = detail.environment.resourceGroupName.toLowerCase();
        if (groups.has(rg)) {
          if (groupsSeen.has(rg) && afterRestart) {
            deploymentsChecked++;
            environmentCrossedAKill = true;
          }
          groupsSeen.add(rg);
        } else if (groupsSeen.has(rg)) {
          expect(detail.journey?.state, `${id}'s resource group ${rg} vanished while ${id} was still working`).toBe('completed');
        }
      }
      for (const id of LEARNERS) {
        const detail = (await api.learnerDetail('crash', id)) as Awaited<ReturnType<WorkshopApi['learnerDetail']>> & { checkpoint?: { updatedAt: string } | null };
        const msgs = (await api.learnerMessages('crash', id)).messages;
        const was = seen.get(id)!;
        for (const k of was.messageKeys) expect(msgs.some((m: Message) => m.key === k), `${id}'s message ${k}, seen before the kill, is still there`).toBe(true);
        for (const m of msgs) was.messageKeys.add(m.key);
        const at = detail.checkpoint?.updatedAt ?? '';
        expect(at >= was.checkpoint, `${id}'s checkpoint never goes back: ${at} after ${was.checkpoint}`).toBe(true);
        was.checkpoint = at;
      }
    };

    let kills = 1;
    // At least KILLS kills; the schedule goes on until everyone has finished.
    while (!finished) {
      const wait = 300 + random() * 1700;
      const until_ = Date.now() + wait;
      while (Date.now() < until_ && !pendingAckKill && !finished) await sleep(20);
      if (finished) break;
      await observe().catch(() => undefined); // what is visible now must survive the kill
      const trigger = pendingAckKill ? 'ack' : 'timer';
      pendingAckKill = false;
      await s.kill9(trigger);
      kills++;
      await s.start();
      await until('the API answers after the restart', () => api.runStatus('crash').then(() => true), 60_000, 100);
      await observe(true);
    }
    try {
      await walking;
      await helper;
    } catch (err) {
      throw new Error(`seed ${SEED}: ${(err as Error).message}\n--- stack stderr ---\n${tail(s.stderrFile)}`);
    }
    expect(s.unexpectedExits).toEqual([]);
    expect(kills, `the stack was killed at least ${KILLS} times before everyone finished (seed ${SEED}); acks seen: ${acks}`).toBeGreaterThanOrEqual(KILLS);

    // 3. After all of it: every step prompted, duplicates at most the kills, environments deployed.
    const pack = drivers[0]!.pack;
    // The steps a person is asked to act on (provision/validate run by themselves, a review goes to the instructor).
    const stepIds = pack.phases.flatMap((ph) => ph.steps.filter((st) => st.kind === 'question' || st.kind === 'deliverable' || st.kind === 'task').map((st) => st.id));
    expect(stepIds.length).toBeGreaterThan(4);
    let duplicates = 0;
    for (const id of LEARNERS) {
      const msgs = (await api.learnerMessages('crash', id)).messages.filter((m) => m.kind === 'prompt');
      const prompted = new Map<string, number>();
      for (const m of msgs) {
        const step = String((m.body as { stepId?: string }).stepId ?? '');
        prompted.set(step, (prompted.get(step) ?? 0) + 1);
      }
      const missing = stepIds.filter((st) => !prompted.has(st));
      expect(missing, `${id} was prompted for every step`).toEqual([]);
      for (const n of prompted.values()) duplicates += n - 1;
      const detail = await api.learnerDetail('crash', id);
      expect(detail.journey?.state, `${id} finished`).toBe('completed');
    }
    expect(duplicates, `duplicate prompts (${duplicates}) are at most the kills (${kills})`).toBeLessThanOrEqual(kills);
    const help = (await api.instructorMessages('crash')).messages.filter((m) => m.kind === 'help');
    expect(help.length, 'the help request reached the instructor').toBeGreaterThanOrEqual(1);
    expect(deploymentsChecked, 'a learner environment (ARM deployment) was checked across a kill').toBeGreaterThan(0);
    console.log(`stack crash test: seed ${SEED}, ${kills} kills (${s.kills.filter((k) => k.trigger === 'ack').length} right after a 2xx), ${acks} acknowledged writes, ${duplicates} duplicate prompts, ${deploymentsChecked} environment checks across kills`);
    passed = true;
  });
});
