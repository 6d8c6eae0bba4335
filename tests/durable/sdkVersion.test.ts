import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSdkVersion, VERIFIED_SDK_VERSIONS } from '../../local/durable/replay';

/**
 * The local host reads durable-functions' private replay state, so it runs only on a version it was
 * checked against; package.json pins exactly that version.
 */
const root = path.resolve(__dirname, '..', '..');

describe('durable-functions version pin', () => {
  it('the installed SDK is a verified version (the host loaded, so the check at import passed)', () => {
    const installed = (JSON.parse(readFileSync(path.join(root, 'node_modules', 'durable-functions', 'package.json'), 'utf8')) as { version: string }).version;
    expect(VERIFIED_SDK_VERSIONS).toContain(installed);
    expect(() => checkSdkVersion(installed)).not.toThrow();
  });

  it('package.json pins durable-functions to an exact verified version, not a range', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(VERIFIED_SDK_VERSIONS).toContain(pkg.dependencies['durable-functions']);
  });

  it('an unknown version is refused with what to do', () => {
    expect(() => checkSdkVersion('3.6.0')).toThrow(/drives durable-functions 3\.5\.0 .* but 3\.6\.0 is installed\. Install the pinned version \(npm ci\)/);
  });
});
