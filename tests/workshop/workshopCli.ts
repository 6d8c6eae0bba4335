import { spawn } from 'node:child_process';
import path from 'node:path';
import { TEST_KEYS } from './workshopStack';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const root = path.resolve(__dirname, '..', '..');

/** Run the `workshop` command as a user would (its bin script, a child process) with the test stack's instructor key. */
export function runWorkshopCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'cli', 'bin', 'workshop.cjs'), ...args], {
      cwd: root,
      env: { ...process.env, WORKSHOP_INSTRUCTOR_KEY: TEST_KEYS.instructor, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
