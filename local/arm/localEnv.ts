import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { generateEmulatorCert, reusableCert, type EmulatorCert } from './cert';
import type { ArmEmulator } from './emulator';

/**
 * The settings through which code in this process (the activities, run by the local host) finds the
 * emulator. They live in this process's environment only; the CA certificate is also written to
 * `<dir>/ca.pem` so `curl --cacert` (and nothing else) can trust it. Returns that file's path.
 *
 * - `ARM_ENDPOINT`            https://127.0.0.1:<port> (unset in Azure: the SDK default, management.azure.com)
 * - `LEARNER_SUBSCRIPTION_ID` the emulator's subscription
 * - `ARM_TOKEN`               the bearer token it accepts (used instead of DefaultAzureCredential when set)
 * - `ARM_CA_CERT`             its self-signed certificate, for the clients' `tlsOptions.ca`
 * The same settings the app reads in Azure (where only the subscription is set): one set of names.
 *
 * It also remembers the emulator's port, token and certificate in `<dir>/identity.json` (mode 0600),
 * which `armIdentity` reads at the next start of the same data directory.
 */
export function exposeArmEmulator(arm: ArmEmulator, dir: string, cert?: EmulatorCert): string {
  mkdirSync(dir, { recursive: true });
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, arm.caCertPem);
  process.env.ARM_ENDPOINT = arm.url;
  process.env.LEARNER_SUBSCRIPTION_ID = arm.subscriptionId;
  process.env.ARM_TOKEN = arm.token;
  process.env.ARM_CA_CERT = arm.caCertPem;
  if (cert && cert.cert === arm.caCertPem) writeAtomically(identityFile(dir), JSON.stringify({ port: arm.port, token: arm.token, key: cert.key, cert: cert.cert } satisfies SavedIdentity, null, 2));
  return caFile;
}

const SavedIdentity = z.object({ port: z.number().int().min(1).max(65535), token: z.string().min(16), key: z.string(), cert: z.string() });
type SavedIdentity = z.infer<typeof SavedIdentity>;

function identityFile(dir: string): string {
  return path.join(dir, 'identity.json');
}

/** Write-then-rename, so a reader (or a kill mid-write) never sees half a file. */
function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}

/** Whether 127.0.0.1:`port` can be listened on right now (another process may hold it). */
async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

export interface ArmIdentity {
  /** The port of the last start, when it is free; else undefined (a free port, and `emulator.json` says which). */
  port?: number;
  token: string;
  cert: EmulatorCert;
  /** What was kept from the last start of this data directory. */
  kept: { port: boolean; token: boolean; cert: boolean };
}

/**
 * The emulator's identity for this data directory: the port, token and certificate of its last
 * start, so clients that were told them (a running `workshop rehearse`, a browser that trusted the CA,
 * `curl --cacert .data/arm/ca.pem`) keep working across restarts. A first start, an unreadable file
 * or an expiring certificate gets new ones; a port taken by another process gets a free one.
 * Pass the result's `port`, `token` and `cert` to `startArmEmulator`, then `cert` to `exposeArmEmulator`.
 */
export async function armIdentity(dir: string): Promise<ArmIdentity> {
  let saved: SavedIdentity | undefined;
  try {
    const parsed = SavedIdentity.safeParse(JSON.parse(readFileSync(identityFile(dir), 'utf8')));
    if (parsed.success) saved = parsed.data;
  } catch {
    saved = undefined; // first start of this data directory (or a damaged file): a new identity
  }
  const keptCert = reusableCert(saved);
  const cert = keptCert ?? (await generateEmulatorCert());
  const port = saved && (await portFree(saved.port)) ? saved.port : undefined;
  return {
    ...(port ? { port } : {}),
    token: saved?.token ?? `arm-emulator.${randomBytes(24).toString('base64url')}`,
    cert,
    kept: { port: port !== undefined, token: saved !== undefined, cert: keptCert !== undefined },
  };
}
