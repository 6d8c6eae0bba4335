import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { freePort } from './ports';
import path from 'node:path';

/**
 * Azurite, the Azure Storage emulator: the suite runs the app's table code on it (the Azure Tables adapter).
 * The local stack itself keeps everything in the embedded store (storage/sqlite.ts).
 */

/** The well-known Azurite development account (public, documented by Microsoft; not a secret). */
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export function tableConnectionString(port: number): string {
  return `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};TableEndpoint=http://127.0.0.1:${port}/${DEV_ACCOUNT};`;
}

export interface AzuriteHandle {
  port: number;
  connectionString: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

// Runs Azurite's table server in a child that also exits when its parent dies (so a killed host
// does not leave an orphan holding the data folder).
const CHILD = `
const parent = Number(process.env.AZURITE_PARENT_PID);
setInterval(() => { try { process.kill(parent, 0); } catch { process.kill(process.pid, 'SIGTERM'); } }, 1000).unref();
process.argv = [process.argv[0], 'azurite-table', ...JSON.parse(process.env.AZURITE_ARGS)];
require(process.env.AZURITE_MAIN);
`;

/**
 * Start Azurite (Table service) on a free loopback port. `location` keeps data on disk across
 * restarts; without it the data lives in memory (tests).
 */
export async function startAzurite(opts: { location?: string; parentPid?: number } = {}): Promise<AzuriteHandle> {
  const main = require.resolve('azurite/dist/src/table/main.js');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = ['--tableHost', '127.0.0.1', '--tablePort', String(port), '--skipApiVersionCheck', '--loose', '--silent', '--disableTelemetry'];
    if (opts.location) {
      mkdirSync(opts.location, { recursive: true });
      args.push('--location', path.resolve(opts.location));
    } else {
      args.push('--inMemoryPersistence');
    }
    const child = spawn(process.execPath, ['-e', CHILD], {
      env: { ...process.env, AZURITE_ARGS: JSON.stringify(args), AZURITE_MAIN: main, AZURITE_PARENT_PID: String(opts.parentPid ?? process.pid) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const ready = await new Promise<boolean>((resolve) => {
      const onData = (d: Buffer) => {
        output += d.toString();
        if (output.includes('successfully started') || output.includes('successfully listening')) resolve(true);
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', () => resolve(false));
      setTimeout(() => resolve(false), 30_000);
    });
    if (ready) {
      child.stdout!.resume();
      child.stderr!.resume();
      return {
        port,
        connectionString: tableConnectionString(port),
        process: child,
        stop: () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 5000).unref();
          }),
      };
    }
    child.kill('SIGKILL');
    if (attempt >= 3) throw new Error(`Azurite did not start on 127.0.0.1:${port} after ${attempt} attempts. Its output:\n${output}`);
  }
}
