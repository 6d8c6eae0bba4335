import { BicepUnavailable, ensureBicep } from '../../tools/bicep/bicep';

/**
 * vitest globalSetup: restore the Bicep CLI once per run, before the test files start, so parallel
 * test files never race two `dotnet restore`s (a machine that ran `npm install` has it already and
 * this is one file lookup). A missing .NET SDK is reported by the Bicep test files themselves
 * (skip with the reason, or fail in CI), not here, so the rest of the suite still runs.
 */
export default function setup(): void {
  try {
    ensureBicep((line) => console.log(line));
  } catch (e) {
    if (!(e instanceof BicepUnavailable)) throw e;
  }
}
