import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { TEST_KEYS } from './workshopStack';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A `workshop` command under way: the child process, and what it printed once it has exited. */
export interface CliProcess {
  child: ChildProcess;
  done: Promise<CliResult>;
}

const root = path.resolve(__dirname, '..', '..');
const WORKSHOP_BIN = path.join(root, 'cli', 'bin', 'workshop.cjs');

/** This process's environment with the test stack's instructor key, then `extra` over both. */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, WORKSHOP_INSTRUCTOR_KEY: TEST_KEYS.instructor, ...extra };
}

/**
 * Starts the `workshop` command as a user would (its bin script, a child process, from the repository root)
 * with exactly `env`; every test and drill that runs the CLI goes through here.
 */
export function startWorkshopCli(args: readonly string[], env: NodeJS.ProcessEnv = cliEnv()): CliProcess {
  const child = spawn(process.execPath, [WORKSHOP_BIN, ...args], { cwd: root, env });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Runs the `workshop` command to its end with the test stack's instructor key (`env` adds to it). */
export function runWorkshopCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return startWorkshopCli(args, cliEnv(env)).done;
}
