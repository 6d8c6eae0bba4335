import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Harness of the crash tests: the durable host as a child process that can be killed with SIGKILL and
 * started again (same port, same store), and HTTP calls that ride out a host that is down.
 */

export const REPO = path.resolve(__dirname, '..', '..');
/** CRASH_HOST_SCRIPT runs a modified copy of the host instead (mutation experiments: does the test notice?). */
export const HOST_SCRIPT = process.env.CRASH_HOST_SCRIPT ? path.resolve(process.env.CRASH_HOST_SCRIPT) : path.join(__dirname, 'crashHost.ts');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The environment crashHost.ts reads. */
export function hostEnv(opts: { dataDir: string; port: number; hub: string; dir: string; maxActivities: number; maxOrchestrators: number }): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CRASH_DATA_DIR: opts.dataDir,
    CRASH_PORT: String(opts.port),
    CRASH_HUB: opts.hub,
    CRASH_DIR: opts.dir,
    CRASH_MAX_ACTIVITIES: String(opts.maxActivities),
    CRASH_MAX_ORCHESTRATORS: String(opts.maxOrchestrators),
    CRASH_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
  };
}

export interface KillRecord {
  at: number;
  pid: number;
  generation: number;
  sinceReadyMs: number;
  /** 'ack': fired the moment the host acknowledged a start or raised event (tests "stored before told"). */
  trigger: 'timer' | 'ack';
}

export class HostProcess {
  child?: ChildProcess;
  generation = 0;
  readyAt = 0;
  /** pids that exited without being killed by the test (a host that dies on its own is a bug). */
  readonly unexpectedExits: string[] = [];
  readonly kills: KillRecord[] = [];
  /** What the current generation printed on stdout (the local stack prints its emulators' addresses). */
  stdout = '';
  private killing = false;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    readonly stderrFile: string,
    private readonly script = HOST_SCRIPT,
    /**
     * `ready`: what the process prints on stdout once it serves; `group`: run it as the leader of its own
     * process group and kill the whole group (every process of the stack).
     */
    private readonly opts: { ready?: string; group?: boolean } = {},
  ) {}

  get alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    this.generation++;
    appendFileSync(this.stderrFile, `\n===== generation ${this.generation} starting at ${new Date().toISOString()} =====\n`);
    const fd = openSync(this.stderrFile, 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', this.script], { cwd: REPO, env: this.env, stdio: ['ignore', 'pipe', fd], detached: !!this.opts.group });
    closeSync(fd);
    this.child = child;
    const generation = this.generation;
    child.once('exit', (code, signal) => {
      if (!(this.killing && this.child === child)) {
        this.unexpectedExits.push(`generation ${generation} (pid ${child.pid}) exited by itself: code=${code} signal=${signal}`);
      }
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`host generation ${generation} printed no READY within 120 s; see ${this.stderrFile}`)), 120_000);
      this.stdout = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (this.child === child) this.stdout += d.toString();
        if (out.includes(this.opts.ready ?? 'READY ')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`host generation ${generation} exited before READY (code=${code} signal=${signal}); see ${this.stderrFile}:\n${tail(this.stderrFile)}`));
      });
    });
    this.readyAt = Date.now();
  }

  /** kill -9 and wait until the process is gone. */
  async kill9(trigger: KillRecord['trigger'] = 'timer'): Promise<void> {
    const child = this.child;
    if (!child || !this.alive) return;
    this.killing = true;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    this.kills.push({ at: Date.now(), pid: child.pid!, generation: this.generation, sinceReadyMs: Date.now() - this.readyAt, trigger });
    // Synchronous: the signal is sent before this returns. A group leader takes its whole group with it.
    if (this.opts.group) process.kill(-child.pid!, 'SIGKILL');
    else child.kill('SIGKILL');
    await exited;
    this.killing = false;
  }
}

export function tail(file: string, chars = 4000): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.slice(-chars);
  } catch {
    return '';
  }
}

// ---- HTTP with retries ------------------------------------------------------------------------------

export interface Reply {
  status: number;
  text: string;
}

export async function send(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, text: await res.text() };
}

export type Verdict = 'ok' | 'retry' | 'fail';

/**
 * Repeat a request until `judge` accepts it. Connection errors, timeouts and 5xx are retried (the host
 * may be down or restarting); `attempt` lets the judge know whether an earlier try may have landed.
 */
export async function persist(
  what: string,
  doIt: () => Promise<Reply>,
  judge: (r: Reply, attempt: number, ambiguous: boolean) => Verdict,
  deadlineMs = 90_000,
): Promise<{ reply: Reply; attempts: number }> {
  const deadline = Date.now() + deadlineMs;
  let ambiguous = false;
  let last = '';
  for (let attempt = 1; Date.now() < deadline; attempt++) {
    let reply: Reply;
    try {
      reply = await doIt();
    } catch (err) {
      ambiguous = true; // the request may have been processed before the connection broke
      last = `${(err as Error).message} ${String((err as { cause?: unknown }).cause ?? '')}`;
      await sleep(40 + Math.random() * 80);
      continue;
    }
    if (reply.status >= 500) {
      ambiguous = true;
      last = `HTTP ${reply.status} ${reply.text.slice(0, 300)}`;
      await sleep(40 + Math.random() * 80);
      continue;
    }
    const v = judge(reply, attempt, ambiguous);
    if (v === 'ok') return { reply, attempts: attempt };
    if (v === 'fail') throw new Error(`${what}: unexpected HTTP ${reply.status} ${reply.text.slice(0, 500)} (attempt ${attempt})`);
    last = `HTTP ${reply.status}`;
    await sleep(40 + Math.random() * 80);
  }
  throw new Error(`${what}: gave up after ${deadlineMs} ms; last: ${last}`);
}

