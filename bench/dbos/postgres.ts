/**
 * A throwaway PostgreSQL cluster for the DBOS benchmark peer: Debian's packaged server (installed with
 * apt when missing), `initdb` into a temp directory owned by the bench, started on a free loopback port
 * with its unix socket in that directory, stopped and removed at the end. Durability settings are left
 * at PostgreSQL's defaults (fsync on, synchronous_commit on, full_page_writes on) — the point of the
 * peer is a durable engine next to ours, so nothing here may relax them.
 *
 * Only node builtins: the bench process imports this file without loading DBOS or `pg`.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { freePort } from '../../local/ports';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Prefix of the temp directories this module creates; a stale one (owner gone) is cleaned up on the next start. */
const TMP_PREFIX = 'workshop-bench-pg-';
/** Settings reported next to the figures: the durability ones and what else shapes commit cost. */
const REPORTED_SETTINGS = ['fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'wal_level', 'commit_delay', 'shared_buffers', 'max_connections', 'wal_buffers', 'checkpoint_timeout', 'max_wal_size'];

export interface PostgresCluster {
  /** e.g. "15.18 (Debian 15.18-0+deb12u1)" */
  version: string;
  binDir: string;
  dataDir: string;
  /** Directory holding the unix socket `.s.PGSQL.<port>`. */
  socketDir: string;
  port: number;
  /** A libpq/`pg` URL for `database` as the `postgres` superuser: over the unix socket, or TCP loopback. */
  url(database: string, transport?: 'unix' | 'tcp'): string;
  /** Run SQL with psql over the socket; returns psql's unaligned, tuples-only output. */
  psql(database: string, sql: string): string;
  /** `name → setting` for REPORTED_SETTINGS, read from the running server. */
  settings(): Record<string, string>;
  /** PIDs of the postmaster and every backend / auxiliary process under it (for CPU accounting). */
  pids(): number[];
  /** Run a cluster binary (pgbench, …) as the cluster's OS user; throws with its stderr on failure. */
  run(binary: string, args: string[], opts?: { timeoutMs?: number }): string;
  /** Stop the server (fast shutdown) and delete the temp directory. Idempotent. */
  stop(): void;
}

export interface StartOptions {
  /** Progress lines (install, initdb, start); default: none. */
  log?: (line: string) => void;
}

/** `/usr/lib/postgresql/<highest version>/bin`, or undefined when no server package is installed. */
function findBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => /^\d+(\.\d+)?$/.test(v) && existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0], 'bin') : undefined;
}

function ensureInstalled(log: (line: string) => void): string {
  const found = findBinDir();
  if (found) return found;
  if (process.getuid?.() !== 0) {
    throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql/<version>/bin and this process is not root, so it cannot apt-get them: run `sudo apt-get install -y postgresql postgresql-contrib`, then `npm run bench` again.');
  }
  log('PostgreSQL not installed: apt-get install -y postgresql postgresql-contrib (this also creates and starts Debian\'s default cluster, which the bench leaves alone)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql', 'postgresql-contrib'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  let r = install();
  if (r.status !== 0) {
    // A fresh image often has no package lists yet.
    spawnSync('apt-get', ['update'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    r = install();
  }
  const bin = findBinDir();
  if (r.status !== 0 || !bin) throw new Error(`apt-get install -y postgresql failed (exit ${r.status ?? r.signal}); install it by hand and run the bench again.`);
  return bin;
}

/** The uid/gid cluster binaries run as: `postgres` when we are root (initdb refuses root), else ourselves. */
function clusterUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root but there is no `postgres` OS user to run the cluster as (initdb refuses root); reinstall the postgresql package, which creates it.');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}


function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A bench killed with SIGKILL cannot stop its cluster; the next start does it: every temp directory of
 * ours whose owner PID is gone gets its server stopped (immediate) and is deleted.
 */
function reapStale(binDir: string, log: (line: string) => void): void {
  let entries: string[];
  try {
    entries = readdirSync(tmpdir()).filter((e) => e.startsWith(TMP_PREFIX));
  } catch {
    return;
  }
  const user = clusterUser();
  for (const e of entries) {
    const dir = join(tmpdir(), e);
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8').trim());
    } catch {
      // No owner file: a start that died before writing it — only reap it once it is clearly old.
      try {
        if (Date.now() - statSync(dir).mtimeMs < 10 * 60_000) continue;
      } catch {
        continue;
      }
    }
    if (Number.isInteger(owner) && owner > 0 && pidAlive(owner)) continue;
    const dataDir = join(dir, 'data');
    if (existsSync(join(dataDir, 'postmaster.pid'))) {
      spawnSync(join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], { stdio: 'ignore', ...(user ?? {}) });
    }
    rmSync(dir, { recursive: true, force: true });
    log(`removed a stale bench cluster left by a killed run: ${dir}`);
  }
}

export async function startThrowawayPostgres(opts: StartOptions = {}): Promise<PostgresCluster> {
  const log = opts.log ?? (() => {});
  const binDir = ensureInstalled(log);
  reapStale(binDir, log);
  const user = clusterUser();
  const asUser: SpawnSyncOptions = { ...(user ?? {}), env: { ...process.env, LC_ALL: 'C', LANG: 'C' }, encoding: 'utf8' };
  const runBin = (binary: string, args: string[], timeoutMs = 120_000): string => {
    const r = spawnSync(join(binDir, binary), args, { ...asUser, timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) {
      const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
      throw new Error(`${binary} ${args.join(' ')} failed (${why}): ${String(r.stderr ?? '').trim() || String(r.stdout ?? '').trim()}`);
    }
    return String(r.stdout ?? '');
  };

  const dir = mkdtempSync(join(tmpdir(), TMP_PREFIX));
  writeFileSync(join(dir, 'owner.pid'), String(process.pid));
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'sock');
  mkdirSync(socketDir);
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chownSync(socketDir, user.uid, user.gid);
  }

  let started = false;
  const stop = () => {
    if (started) {
      spawnSync(join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop'], { ...asUser, stdio: 'ignore' });
      started = false;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    log(`initdb ${dataDir} (${binDir})`);
    // trust auth: the server listens on loopback and a 0700 socket directory only, and lives for one bench run.
    runBin('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C']);
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      // Only where the server listens; every durability and memory setting stays at its default.
      appendFileSync(
        join(dataDir, 'postgresql.conf'),
        `\n# workshop bench: throwaway cluster\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${socketDir}'\n`,
      );
      try {
        runBin('pg_ctl', ['-D', dataDir, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
        started = true;
        break;
      } catch (err) {
        // The port may have been taken between probing and binding; the later line in the file wins on retry.
        if (attempt >= 3) throw new Error(`${(err as Error).message}\nserver log:\n${readLog(dir)}`);
      }
    }
    log(`PostgreSQL started on 127.0.0.1:${port}, socket in ${socketDir}`);

    const psql = (database: string, sql: string): string =>
      runBin('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', socketDir, '-p', String(port), '-U', 'postgres', '-d', database, '-At', '-c', sql]).trim();
    const version = psql('postgres', 'SHOW server_version');
    return {
      version,
      binDir,
      dataDir,
      socketDir,
      port,
      url: (database, transport = 'unix') =>
        transport === 'tcp'
          ? `postgresql://postgres@127.0.0.1:${port}/${database}`
          : // `pg` takes a socket directory in `host`; the hostname is only there because DBOS's URL check wants one.
            `postgresql://postgres@localhost:${port}/${database}?host=${encodeURIComponent(socketDir)}`,
      psql,
      settings: () => {
        const out = psql('postgres', `SELECT name, setting, coalesce(unit, '') FROM pg_settings WHERE name IN (${REPORTED_SETTINGS.map((s) => `'${s}'`).join(',')}) ORDER BY name`);
        const settings: Record<string, string> = {};
        for (const line of out.split('\n')) {
          const [name, setting, unit] = line.split('|');
          if (name) settings[name] = unit ? `${setting} × ${unit}` : setting;
        }
        return settings;
      },
      pids: () => postmasterTree(dataDir),
      run: (binary, args, o) => runBin(binary, args, o?.timeoutMs),
      stop,
    };
  } catch (err) {
    stop();
    throw err;
  }
}

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'server.log'), 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no server log)';
  }
}

/** The postmaster (first line of postmaster.pid) and its children, from /proc. */
function postmasterTree(dataDir: string): number[] {
  let root: number;
  try {
    root = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return [];
  }
  const out = [root];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === root) out.push(Number(e));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}
