import { BicepRpc, BicepUnavailable, formatDiagnostic, locateBicep, restoreBicep, type CompileResult, type Diagnostic } from '../../tools/bicep/bicep';

/**
 * The Bicep compiler for a test file. The vitest global setup (tests/setup/bicep.ts) restores it once
 * per run when it is missing; here it is only looked up. Without it the Bicep checks are skipped with
 * the reason, except in CI (CI=true), where a missing compiler throws: a failure, never a skip.
 */
export function bicepForTests(): { exe: string; reason?: undefined } | { exe?: undefined; reason: string } {
  let exe = locateBicep();
  let reason = '';
  if (!exe) {
    try {
      exe = restoreBicep();
    } catch (e) {
      if (!(e instanceof BicepUnavailable)) throw e;
      reason = e.message;
    }
  }
  if (exe) return { exe };
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`CI needs the Bicep compiler and it is missing: ${reason}`);
  console.warn(`Skipping the Bicep compiler checks: ${reason}`);
  return { reason };
}

/** Diagnostics as `file:line:col Level CODE: message` lines, for failure text that points at the source. */
export const lines = (ds: Diagnostic[]): string[] => ds.map(formatDiagnostic);

export { BicepRpc, type CompileResult, type Diagnostic };
