import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
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
 */
export function exposeArmEmulator(arm: ArmEmulator, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, arm.caCertPem);
  process.env.ARM_ENDPOINT = arm.url;
  process.env.LEARNER_SUBSCRIPTION_ID = arm.subscriptionId;
  process.env.ARM_TOKEN = arm.token;
  process.env.ARM_CA_CERT = arm.caCertPem;
  return caFile;
}
