/**
 * The real Bicep compiler, brought by NuGet: `tools/bicep/bicep.csproj` downloads the package
 * `Azure.Bicep.CommandLine.linux-x64` (it carries the native `bicep` executable) into the NuGet global
 * packages folder on `dotnet restore`, and this module finds it there through the restore's own record
 * (`obj/project.assets.json`: which folders, which version), so a custom NUGET_PACKAGES works too.
 *
 * Everything that compiles Bicep in this repository goes through here: `npm run bicep`, the
 * postinstall restore, the pack-template generator and the tests (which talk to one long-lived
 * `bicep jsonrpc --stdio` process per test file instead of paying the compiler's start-up per file).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const PROJECT = path.join(__dirname, 'bicep.csproj');
const ASSETS = path.join(__dirname, 'obj', 'project.assets.json');
export const PACKAGE = 'Azure.Bicep.CommandLine.linux-x64';

/** The compiler version the project pins (bicep.csproj's BicepVersion). */
export function pinnedVersion(): string {
  const m = /<BicepVersion>([^<]+)<\/BicepVersion>/.exec(readFileSync(PROJECT, 'utf8'));
  if (!m) throw new Error(`${path.relative(ROOT, PROJECT)} has no <BicepVersion>; it must pin the Bicep CLI version.`);
  return m[1].trim();
}

/** Why the compiler is not available, and what to do about it. */
export class BicepUnavailable extends Error {
  override name = 'BicepUnavailable';
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The executable a previous restore put in place, or undefined when there was none (or it is gone). */
export function locateBicep(): string | undefined {
  if (!existsSync(ASSETS)) return undefined;
  const version = pinnedVersion();
  let assets: { packageFolders?: Record<string, unknown> };
  try {
    assets = JSON.parse(readFileSync(ASSETS, 'utf8'));
  } catch {
    return undefined;
  }
  for (const folder of Object.keys(assets.packageFolders ?? {})) {
    const exe = path.join(folder, PACKAGE.toLowerCase(), version, 'tools', 'bicep');
    if (isExecutable(exe)) return exe;
  }
  return undefined;
}

const INSTALL_HINT =
  'The Bicep compiler comes from NuGet through the .NET SDK: install the .NET SDK 10 (the `dotnet` command; on Debian the ' +
  "`dotnet-sdk-10.0` package from Microsoft's package feed), then run `npm install` again (or `npm run bicep:restore`).";

/** Run `dotnet restore` of the tiny project; returns the executable or throws BicepUnavailable saying why. */
export function restoreBicep(log: (line: string) => void = () => {}): string {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new BicepUnavailable(
      `The Bicep checks use the NuGet package ${PACKAGE}, which runs on Linux x64 only; this is ${process.platform}-${process.arch}. ` +
        'Run the suite on a Linux x64 machine (or in CI), or add the matching Azure.Bicep.CommandLine.<rid> package to tools/bicep/bicep.csproj.',
    );
  }
  const probe = spawnSync('dotnet', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new BicepUnavailable(`No .NET SDK on this machine (\`dotnet --version\`: ${probe.error?.message ?? probe.stderr.trim()}). ${INSTALL_HINT}`);
  }
  log(`Restoring the Bicep CLI ${pinnedVersion()} (${PACKAGE}) with dotnet ${probe.stdout.trim()} …`);
  const r = spawnSync('dotnet', ['restore', PROJECT, '--nologo', '--verbosity', 'quiet'], { encoding: 'utf8', env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' } });
  if (r.error || r.status !== 0) {
    throw new BicepUnavailable(
      `\`dotnet restore ${path.relative(ROOT, PROJECT)}\` failed (exit ${r.status ?? r.error?.message}): ${(r.stdout + r.stderr).trim()}\n` +
        `It downloads ${PACKAGE} ${pinnedVersion()} from the NuGet feed; check that the feed is reachable (\`dotnet nuget list source\`).`,
    );
  }
  const exe = locateBicep();
  if (!exe) throw new BicepUnavailable(`\`dotnet restore\` succeeded but ${PACKAGE} ${pinnedVersion()}/tools/bicep is not in the folders ${ASSETS} names.`);
  return exe;
}

/** The compiler, restoring it first when this machine does not have it yet. */
export function ensureBicep(log?: (line: string) => void): string {
  return locateBicep() ?? restoreBicep(log);
}

// ─── diagnostics ───────────────────────────────────────────────────────────────────────────────

export interface Diagnostic {
  /** Absolute path of the file the diagnostic is in (a module of the compiled file, possibly). */
  source: string;
  /** 0-based, as the JSON-RPC interface gives them. */
  range: { start: { line: number; char: number }; end: { line: number; char: number } };
  level: 'Error' | 'Warning' | 'Info' | 'Off' | string;
  code: string;
  message: string;
}

/** `infra/main.bicep:12:5 Error BCP037: …` — file relative to the repository, 1-based line and column like the CLI. */
export function formatDiagnostic(d: Diagnostic): string {
  const file = path.relative(ROOT, d.source) || d.source;
  return `${file}:${d.range.start.line + 1}:${d.range.start.char + 1} ${d.level} ${d.code}: ${d.message}`;
}

export interface CompileResult {
  success: boolean;
  diagnostics: Diagnostic[];
  /** The ARM JSON `bicep build` writes, byte for byte (undefined when compilation failed). */
  contents?: string;
}

// ─── JSON-RPC ──────────────────────────────────────────────────────────────────────────────────

/**
 * One `bicep jsonrpc --stdio` process (the CLI's programmatic interface: Content-Length framed
 * JSON-RPC 2.0, methods `bicep/version`, `bicep/compile`, …). Compiling through it gives the same
 * template text as `bicep build` plus every diagnostic (compiler and linter) with its position, and
 * costs the .NET start-up once instead of once per file.
 */
export class BicepRpc {
  private buf = Buffer.alloc(0);
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited: Error | undefined;
  private stderr = '';

  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    proc.stdout.on('data', (d: Buffer) => this.onData(d));
    proc.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    const fail = (e: Error) => {
      this.exited = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    proc.on('error', fail);
    proc.on('exit', (code, signal) => fail(new Error(`bicep jsonrpc exited (${signal ?? code}); stderr: ${this.stderr.trim() || '(none)'}`)));
  }

  static start(exe = ensureBicep()): BicepRpc {
    return new BicepRpc(spawn(exe, ['jsonrpc', '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1' } }));
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const headerEnd = this.buf.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const m = /Content-Length:\s*(\d+)/i.exec(this.buf.subarray(0, headerEnd).toString('ascii'));
      if (!m) throw new Error(`bicep jsonrpc sent a frame without Content-Length: ${this.buf.subarray(0, headerEnd).toString()}`);
      const len = Number(m[1]);
      if (this.buf.length < headerEnd + 4 + len) return;
      const msg = JSON.parse(this.buf.subarray(headerEnd + 4, headerEnd + 4 + len).toString('utf8')) as { id?: number; result?: unknown; error?: { message: string } };
      this.buf = this.buf.subarray(headerEnd + 4 + len);
      const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
      if (!p) continue;
      this.pending.delete(msg.id!);
      if (msg.error) p.reject(new Error(`bicep jsonrpc: ${msg.error.message}`));
      else p.resolve(msg.result);
    }
  }

  private call<T>(method: string, params: unknown): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    const id = ++this.nextId;
    const body = JSON.stringify({ jsonrpc: '2.0', id, method, params });
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.stdin.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  }

  async version(): Promise<string> {
    return (await this.call<{ version: string }>('bicep/version', {})).version;
  }

  /** Compile a .bicep file on disk (modules and bicepconfig.json are found from its path). */
  async compile(file: string): Promise<CompileResult> {
    const r = await this.call<{ success: boolean; diagnostics: Diagnostic[]; contents?: string | null }>('bicep/compile', { path: path.resolve(file) });
    return { success: r.success, diagnostics: r.diagnostics, contents: r.contents ?? undefined };
  }

  close(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.proc.once('exit', () => resolve());
      this.proc.stdin.end();
    });
  }
}
