/**
 * `npm run bicep -- <bicep arguments>`: the project's pinned Bicep CLI (restored from NuGet on first
 * use), e.g. `npm run bicep -- build infra/main.bicep` or `npm run bicep -- lint infra/main.bicep`.
 *
 * `npm run bicep:restore` (also the postinstall step) only makes sure the compiler is there. Without
 * the .NET SDK it prints what to install and leaves `npm install` successful, because everything but
 * the Bicep checks works without it; the tests then skip those checks with the same message, except
 * in CI (CI=true), where a missing compiler fails them.
 */
import { spawnSync } from 'node:child_process';
import { BicepUnavailable, ensureBicep, pinnedVersion } from './bicep';

const args = process.argv.slice(2);
const log = (line: string) => process.stderr.write(`${line}\n`);

if (args[0] === '--restore-only' || args[0] === '--postinstall') {
  try {
    const exe = ensureBicep(log);
    log(`Bicep CLI ${pinnedVersion()}: ${exe}`);
  } catch (e) {
    if (!(e instanceof BicepUnavailable)) throw e;
    log(`\n⚠ Bicep CLI not installed: ${e.message}\n`);
    // postinstall never fails npm install over it; an explicit restore does.
    process.exit(args[0] === '--postinstall' ? 0 : 1);
  }
} else {
  let exe: string;
  try {
    exe = ensureBicep(log);
  } catch (e) {
    if (!(e instanceof BicepUnavailable)) throw e;
    log(e.message);
    process.exit(1);
  }
  const r = spawnSync(exe, args, { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
