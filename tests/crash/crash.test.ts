import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/ports';
import {
  EVENTS,
  failsFirst,
  mix,
  stepValue,
  timerMs,
  type EventName,
  type EventPayload,
  type ExecutionRecord,
  type WorkflowInput,
  type WorkflowOutput,
} from './crashFunctions';
import { HostProcess, hostEnv, persist, send, sleep, tail, type KillRecord } from './harness';
import { prng } from '../../local/prng';

/**
 * Crash test: the durable host runs as a child process and is killed with SIGKILL at random moments
 * while ≥ 20 orchestrations run (activities, retries, timers, raised events, sub-orchestrations). After
 * the last restart every instance must complete with the right output, every raised event must have
 * been seen exactly once, and activities may only have re-run because a kill interrupted them.
 *
 * Only HTTP (management API) and files are used to observe the host; the engine is never imported here.
 * Reproduce a schedule with CRASH_SEED=<n>; TEST_LOG_LEVEL=info makes the child host log to
 * <tmp>/host-stderr.log (kept when the test fails).
 */

const SEED = Number(process.env.CRASH_SEED ?? 20_261_126);
const INSTANCES = 24;
const MAX_ACTIVITIES = 6;
const MAX_ORCHESTRATORS = 6;
const START_WINDOW_MS = 3_000;
const EVENT_WINDOW_MS = 16_000;
const COMPLETION_TIMEOUT_MS = Number(process.env.CRASH_COMPLETION_TIMEOUT_MS ?? 120_000);
/**
 * An activity whose execution started this long before the kill of its host should have had its result
 * stored already; if it ran again after the restart, its result was lost (not just interrupted).
 */
const RESULT_STORED_WITHIN_MS = 3_000;

// ---- seeded randomness ----------------------------------------------------------------------------

const rand = prng(SEED);
const between = (lo: number, hi: number): number => Math.floor(lo + rand() * (hi - lo + 1));

// ---- history checks ---------------------------------------------------------------------------------

interface HistoryRow {
  EventType: string;
  EventId: number;
  Name?: string;
  TaskScheduledId?: number;
  TimerId?: number;
  InstanceId?: string;
}
interface StatusReply {
  runtimeStatus: string;
  output: unknown;
  historyEvents?: Array<HistoryRow | null>;
}

function countBy<T>(items: T[], key: (t: T) => string | number | undefined): Map<string | number | undefined, number> {
  const m = new Map<string | number | undefined, number>();
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
  return m;
}

/** Structural invariants of one completed instance's history; returns a list of problems. */
function historyProblems(id: string, rows: Array<HistoryRow | null> | undefined, expectEvents: boolean): string[] {
  const p: string[] = [];
  if (!rows) return [`${id}: no history returned`];
  if (rows.some((r) => r === null || r === undefined)) p.push(`${id}: history has holes (missing rows)`);
  const h = rows.filter((r): r is HistoryRow => !!r);
  const of = (t: string): HistoryRow[] => h.filter((e) => e.EventType === t);
  if (of('ExecutionStarted').length !== 1) p.push(`${id}: ${of('ExecutionStarted').length} ExecutionStarted events`);
  if (of('ExecutionCompleted').length !== 1) p.push(`${id}: ${of('ExecutionCompleted').length} ExecutionCompleted events`);
  if (h[h.length - 1]?.EventType !== 'OrchestratorCompleted' || h[h.length - 2]?.EventType !== 'ExecutionCompleted') p.push(`${id}: history does not end with ExecutionCompleted, OrchestratorCompleted`);
  if (of('OrchestratorStarted').length !== of('OrchestratorCompleted').length) p.push(`${id}: ${of('OrchestratorStarted').length} OrchestratorStarted vs ${of('OrchestratorCompleted').length} OrchestratorCompleted`);
  const scheduling = [...of('TaskScheduled'), ...of('TimerCreated'), ...of('SubOrchestrationInstanceCreated')];
  for (const [eventId, n] of countBy(scheduling, (e) => e.EventId)) if (n > 1) p.push(`${id}: EventId ${eventId} scheduled ${n} times`);
  const scheduledIds = new Set(of('TaskScheduled').map((e) => e.EventId));
  const results = [...of('TaskCompleted'), ...of('TaskFailed')];
  for (const [tid, n] of countBy(results, (e) => e.TaskScheduledId)) {
    if (n > 1) p.push(`${id}: task ${tid} has ${n} results`);
    if (!scheduledIds.has(tid as number)) p.push(`${id}: result for task ${tid}, which was never scheduled`);
  }
  for (const [tid, n] of countBy(of('TimerFired'), (e) => e.TimerId)) if (n > 1) p.push(`${id}: timer ${tid} fired ${n} times`);
  const subResults = [...of('SubOrchestrationInstanceCompleted'), ...of('SubOrchestrationInstanceFailed')];
  for (const [tid, n] of countBy(subResults, (e) => e.TaskScheduledId)) if (n > 1) p.push(`${id}: sub-orchestration ${tid} has ${n} results`);
  if (expectEvents) {
    const raised = countBy(of('EventRaised'), (e) => e.Name);
    for (const name of EVENTS) if (raised.get(name) !== 1) p.push(`${id}: event ${name} is in the history ${raised.get(name) ?? 0} times`);
    if (of('EventRaised').length !== EVENTS.length) p.push(`${id}: ${of('EventRaised').length} EventRaised events`);
    if (of('SubOrchestrationInstanceCreated').length !== 1 || of('SubOrchestrationInstanceCompleted').length !== 1) p.push(`${id}: expected one sub-orchestration created and completed`);
  }
  return p;
}

/** On failure: the full status and history (with payloads) of the instances involved, and of their children. */
async function dumpDiagnostics(api: string, dir: string, ids: string[], kills: KillRecord[], base: number): Promise<void> {
  const out: Record<string, unknown> = { base, kills };
  const queue = [...ids];
  while (queue.length) {
    const id = queue.shift()!;
    try {
      const r = await send('GET', `${api}/instances/${encodeURIComponent(id)}?showHistory=true&showHistoryOutput=true`);
      const body = JSON.parse(r.text) as StatusReply;
      out[id] = body;
      for (const e of body.historyEvents ?? []) if (e?.EventType === 'SubOrchestrationInstanceCreated' && e.InstanceId && !(e.InstanceId in out)) queue.push(e.InstanceId);
    } catch (err) {
      out[id] = { error: (err as Error).message };
    }
  }
  writeFileSync(path.join(dir, 'diagnostics.json'), JSON.stringify(out, null, 2));
  console.log(`crash test: status and history of ${ids.join(', ')} written to ${path.join(dir, 'diagnostics.json')}`);
}

// ---- expectations -----------------------------------------------------------------------------------

function expectedOutput(id: string, index: number, nonces: Record<EventName, string>): WorkflowOutput {
  const s0 = mix(id, 'seq0', 0);
  const s1 = mix(id, 'seq1', s0);
  const s2 = mix(id, 'seq2', s1);
  const owner = `${id}/child`;
  const c0 = mix(owner, 'c0', 0);
  return {
    id,
    seq: [s0, s1, s2],
    fan: [0, 1, 2].map((k) => mix(id, `fan${k}`, s2)),
    flaky: stepValue(id, 'flaky'),
    timerMs: timerMs(index),
    events: Object.fromEntries(EVENTS.map((name) => [name, nonces[name]])) as Record<EventName, string>,
    extra: null,
    child: [c0, mix(owner, 'c1', c0)],
  };
}

/** Every activity execution key the run must produce, with whether a planned failure adds an attempt. */
function expectedKeys(id: string, index: number): Array<{ key: string; plannedFailure: boolean }> {
  const k = (owner: string, activity: string, key: string): string => `${owner}|${activity}|${key}`;
  return [
    ...['seq0', 'seq1', 'seq2', 'fan0', 'fan1', 'fan2'].map((key) => ({ key: k(id, 'crashStep', key), plannedFailure: false })),
    { key: k(id, 'crashFlaky', 'flaky'), plannedFailure: failsFirst(index) },
    ...['c0', 'c1'].map((key) => ({ key: k(`${id}/child`, 'crashStep', key), plannedFailure: false })),
  ];
}

// ---- the test ---------------------------------------------------------------------------------------

describe('durable host crash safety', () => {
  let host: HostProcess | undefined;
  let dir = '';
  let passed = false;

  afterAll(async () => {
    await host?.kill9().catch(() => undefined);
    if (passed && dir && !process.env.CRASH_KEEP) rmSync(dir, { recursive: true, force: true });
    else if (dir) console.log(`crash test artifacts kept in ${dir}`);
  });

  it('loses nothing when the host is killed with SIGKILL at random moments', { timeout: 240_000 }, async () => {
    const t0 = Date.now();
    dir = mkdtempSync(path.join(tmpdir(), 'crash-test-'));
    const port = await freePort();
    const hub = `Crash${process.pid}`;
    const api = `http://127.0.0.1:${port}/runtime/webhooks/durabletask`;
    const stderrFile = path.join(dir, 'host-stderr.log');
    host = new HostProcess(hostEnv({ dataDir: path.join(dir, 'data'), port, hub, dir, maxActivities: MAX_ACTIVITIES, maxOrchestrators: MAX_ORCHESTRATORS }), stderrFile);
    const h = host;
    await h.start();
    const setupMs = Date.now() - t0;

    // The whole schedule comes from the seed: start times, event times and nonces, kill delays.
    const plan = Array.from({ length: INSTANCES }, (_, index) => {
      const id = `crash-${SEED}-${String(index).padStart(2, '0')}`;
      const startAt = between(0, START_WINDOW_MS);
      const events = EVENTS.map((name) => ({
        name,
        at: between(startAt + 200, EVENT_WINDOW_MS),
        nonce: `${id}:${name}:${Math.floor(rand() * 2 ** 32).toString(16)}`,
        resend: rand() < 0.35, // deliberately send it a second time with the same Idempotency-Key
      }));
      return { id, index, startAt, events };
    });
    const killCount = between(6, 8);
    // Most kills come 300-1500 ms after the host is ready; some right after recovery (30-250 ms), and
    // some the instant the host acknowledges a start or an event (whatever it acknowledged must survive).
    const kills = Array.from({ length: killCount }, () => {
      const r = rand();
      return { delay: r < 0.25 ? between(30, 250) : between(300, 1500), onAck: r >= 0.7, downtime: between(0, 400) };
    });
    let ackHook: (() => void) | undefined;
    const acked = (): void => {
      const hook = ackHook;
      ackHook = undefined;
      hook?.();
    };

    const problems: string[] = [];
    const sent = new Map<string, Record<EventName, string>>();
    const stats = { startRetries: 0, raiseRetries: 0, resends: 0, resendsGone: 0 };
    const base = Date.now();
    const at = (ms: number): Promise<void> => sleep(Math.max(0, base + ms - Date.now()));

    const driver = Promise.all(
      plan.map(async (p) => {
        await at(p.startAt);
        const input: WorkflowInput = { index: p.index };
        const started = await persist(
          `start ${p.id}`,
          () => send('POST', `${api}/orchestrators/crashWorkflow/${encodeURIComponent(p.id)}`, input),
          // 409 means an earlier try that we never heard back from did create it.
          (r, _attempt, ambiguous) => (r.status === 202 || (r.status === 409 && ambiguous) ? 'ok' : 'fail'),
        );
        if (started.reply.status === 202) acked();
        stats.startRetries += started.attempts - 1;
        const nonces = {} as Record<EventName, string>;
        sent.set(p.id, nonces);
        await Promise.all(
          p.events.map(async (e) => {
            await at(e.at);
            const url = `${api}/instances/${encodeURIComponent(p.id)}/raiseEvent/${e.name}`;
            const headers = { 'Idempotency-Key': `${p.id}:${e.name}` };
            const payload: EventPayload = { nonce: e.nonce };
            const raised = await persist(`raise ${e.name} to ${p.id}`, () => send('POST', url, payload, headers), (r) => (r.status === 202 ? 'ok' : 'fail'));
            acked();
            stats.raiseRetries += raised.attempts - 1;
            nonces[e.name] = e.nonce;
            if (e.resend) {
              // A client retry after a success: must be deduplicated (202) or, if the instance has
              // already finished, refused with 410. The payload differs, so a second delivery would show.
              stats.resends++;
              const again = await persist(`resend ${e.name} to ${p.id}`, () => send('POST', url, { nonce: `${e.nonce}:resent` }, headers), (r) =>
                r.status === 202 || r.status === 410 ? 'ok' : 'fail',
              );
              if (again.reply.status === 410) stats.resendsGone++;
            }
          }),
        );
      }),
    ).catch((err: unknown) => {
      problems.push(`driver: ${(err as Error).message}`);
    });

    const killer = (async () => {
      for (const k of kills) {
        await sleep(k.delay);
        if (k.onAck) {
          // Kill synchronously inside the driver's continuation after a 202, or after 2 s without one.
          await new Promise<void>((resolve) => {
            const fallback = setTimeout(() => {
              ackHook = undefined;
              void h.kill9('timer').then(resolve);
            }, 2_000);
            ackHook = () => {
              clearTimeout(fallback);
              void h.kill9('ack').then(resolve);
            };
          });
        } else {
          await h.kill9();
        }
        await sleep(k.downtime);
        await h.start();
      }
    })();

    await killer;
    const killPhaseMs = Date.now() - base;
    writeFileSync(path.join(dir, 'kills.json'), JSON.stringify({ base, kills: h.kills }, null, 2));
    // A host that died on its own would leave the driver retrying forever: bring it back and report it.
    const keepAlive = setInterval(() => {
      if (!h.alive) void h.start().catch(() => undefined);
    }, 1000);
    try {
      await driver;
      expect(problems, problems.join('\n')).toEqual([]);
      expect(h.unexpectedExits, h.unexpectedExits.join('\n')).toEqual([]);

      // Wait for every instance to finish.
      const deadline = Date.now() + COMPLETION_TIMEOUT_MS;
      const final = new Map<string, StatusReply>();
      for (const p of plan) {
        for (;;) {
          let s: StatusReply | undefined;
          try {
            const r = await send('GET', `${api}/instances/${encodeURIComponent(p.id)}?showHistory=true`);
            if (r.status < 500) s = JSON.parse(r.text) as StatusReply;
          } catch {
            s = undefined;
          }
          if (s && (s.runtimeStatus === 'Completed' || s.runtimeStatus === 'Failed' || s.runtimeStatus === 'Terminated')) {
            final.set(p.id, s);
            break;
          }
          if (Date.now() > deadline) {
            await dumpDiagnostics(api, dir, [p.id], h.kills, base);
            throw new Error(
              `instance ${p.id} did not finish within ${COMPLETION_TIMEOUT_MS} ms after the last restart; last status: ${JSON.stringify(s)?.slice(0, 3000)}\n` +
                `host exits not caused by the test: ${h.unexpectedExits.join('; ') || 'none'}\nhost log tail:\n${tail(stderrFile)}`,
            );
          }
          await sleep(200);
        }
      }
      const completedMs = Date.now() - base;

      // (a) outputs and (b) events seen exactly once.
      const outputProblems: string[] = [];
      const suspects = new Set<string>();
      for (const p of plan) {
        const s = final.get(p.id)!;
        if (s.runtimeStatus !== 'Completed') {
          outputProblems.push(`${p.id}: ${s.runtimeStatus}: ${JSON.stringify(s.output)}`);
          suspects.add(p.id);
          continue;
        }
        const want = expectedOutput(p.id, p.index, sent.get(p.id)!);
        if (JSON.stringify(s.output) !== JSON.stringify(want)) {
          outputProblems.push(`${p.id}: output ${JSON.stringify(s.output)}\n  expected ${JSON.stringify(want)}`);
          suspects.add(p.id);
        }
      }
      if (suspects.size) await dumpDiagnostics(api, dir, [...suspects], h.kills, base);
      expect(outputProblems, outputProblems.join('\n')).toEqual([]);

      // (d) history invariants of every instance and its sub-orchestration.
      const histProblems: string[] = [];
      for (const p of plan) {
        const s = final.get(p.id)!;
        histProblems.push(...historyProblems(p.id, s.historyEvents, true));
        const childId = (s.historyEvents ?? []).find((e) => e?.EventType === 'SubOrchestrationInstanceCreated')?.InstanceId;
        if (!childId) {
          histProblems.push(`${p.id}: no sub-orchestration in the history`);
          continue;
        }
        const r = await send('GET', `${api}/instances/${encodeURIComponent(childId)}?showHistory=true`);
        const cs = JSON.parse(r.text) as StatusReply;
        if (cs.runtimeStatus !== 'Completed') histProblems.push(`${childId}: child is ${cs.runtimeStatus}`);
        histProblems.push(...historyProblems(childId, cs.historyEvents, false));
      }
      const open = await send('GET', `${api}/instances?runtimeStatus=Pending,Running,Suspended,ContinuedAsNew`);
      const openItems = JSON.parse(open.text) as Array<{ instanceId: string; runtimeStatus: string }>;
      if (openItems.length) histProblems.push(`instances still open after completion: ${openItems.map((i) => `${i.instanceId}=${i.runtimeStatus}`).join(', ')}`);
      expect(histProblems, histProblems.join('\n')).toEqual([]);

      // (c) activity executions: re-runs only across kills, each bounded by the kills that could cause it.
      const lines = readFileSync(path.join(dir, 'executions.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as ExecutionRecord);
      const records = lines.filter((r) => r.phase === 'start');
      const finished = new Map(lines.filter((r) => r.phase === 'done').map((r) => [r.run, r.ts]));
      const byKey = new Map<string, ExecutionRecord[]>();
      for (const r of records) {
        const key = `${r.owner}|${r.activity}|${r.key}`;
        byKey.set(key, [...(byKey.get(key) ?? []), r]);
      }
      const execProblems: string[] = [];
      // A kill can only interrupt the activity functions running at that moment: at most maxConcurrentActivityFunctions.
      for (const k of h.kills) {
        const running = records.filter((r) => r.pid === k.pid && !finished.has(r.run));
        if (running.length > MAX_ACTIVITIES) execProblems.push(`${running.length} activity functions were running when pid ${k.pid} was killed; the limit is ${MAX_ACTIVITIES}`);
      }
      const expected = new Set<string>();
      let reruns = 0;
      let rerunsOfRunning = 0;
      let rerunsOfUnrecorded = 0;
      let maxPerKey = 0;
      for (const p of plan) {
        for (const { key, plannedFailure } of expectedKeys(p.id, p.index)) {
          expected.add(key);
          const all = (byKey.get(key) ?? []).sort((a, b) => a.ts - b.ts);
          maxPerKey = Math.max(maxPerKey, all.length);
          // The planned failing first attempt is a legitimate extra execution (in any host generation).
          const runs = plannedFailure ? all.filter((r) => r.attempt !== 1) : all;
          if (runs.length === 0) {
            execProblems.push(`${key}: never ran (apart from a planned failure; ${all.length} executions)`);
            continue;
          }
          reruns += runs.length - 1;
          const first = all[0].ts;
          const last = all[all.length - 1].ts;
          const killsInWindow = h.kills.filter((k) => k.at >= first - 50 && k.at <= last).length;
          const allowed = (plannedFailure ? 2 : 1) + killsInWindow;
          if (all.length > allowed) execProblems.push(`${key}: ran ${all.length} times, allowed ${allowed} (kills in its window: ${killsInWindow})`);
          for (const [pid, n] of countBy(runs, (r) => r.pid)) if (n > 1) execProblems.push(`${key}: ran ${n} times in one host process (pid ${pid}) — a re-run without a crash`);
          // Each run that was repeated must have been cut short by the kill of its host: still running, or
          // finished so shortly before the kill that storing its result can have been cut off.
          for (const r of runs.slice(0, -1)) {
            const kill = h.kills.find((k) => k.pid === r.pid);
            const end = finished.get(r.run);
            if (!kill) execProblems.push(`${key}: ran again although its execution in pid ${r.pid} was not interrupted by a kill`);
            else if (end === undefined) rerunsOfRunning++;
            else if (kill.at - end > RESULT_STORED_WITHIN_MS) execProblems.push(`${key}: ran again after a restart although its run in pid ${r.pid} finished ${kill.at - end} ms before the kill (its result was lost)`);
            else rerunsOfUnrecorded++;
          }
        }
      }
      for (const key of byKey.keys()) if (!expected.has(key)) execProblems.push(`unexpected activity execution ${key}`);
      if (rerunsOfRunning > h.kills.length * MAX_ACTIVITIES) execProblems.push(`${rerunsOfRunning} re-runs of interrupted activities for ${h.kills.length} kills exceeds kills × maxConcurrentActivityFunctions`);
      expect(execProblems, execProblems.join('\n')).toEqual([]);

      // The run must really have been disturbed.
      expect(h.kills.length).toBeGreaterThanOrEqual(5);
      expect(h.unexpectedExits, h.unexpectedExits.join('\n')).toEqual([]);

      console.log(
        [
          `crash test seed=${SEED}: ${INSTANCES} instances (+${INSTANCES} sub-orchestrations), ${h.kills.length} kills, ${h.generation} host generations`,
          `  kills at ${h.kills.map((k) => `+${k.at - base}ms (${k.trigger === 'ack' ? 'on an ack, ' : ''}${k.sinceReadyMs}ms after READY)`).join(', ')}`,
          `  activity executions: ${records.length}, re-runs caused by kills: ${reruns} (${rerunsOfRunning} interrupted, ${rerunsOfUnrecorded} finished but result not yet stored), max executions of one key: ${maxPerKey}`,
          `  start retries: ${stats.startRetries}, raise retries: ${stats.raiseRetries}, deliberate duplicate raises: ${stats.resends} (${stats.resendsGone} answered 410)`,
          `  artifacts: ${dir}${process.env.CRASH_KEEP ? ' (kept)' : ''}`,
          `  setup ${setupMs} ms, kill phase ${killPhaseMs} ms, all completed at +${completedMs} ms`,
        ].join('\n'),
      );
      passed = true;
    } finally {
      clearInterval(keepAlive);
    }
  });
});
