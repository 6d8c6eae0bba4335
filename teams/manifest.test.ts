import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildPackage, renderManifest, validateManifest } from './package';

const VALUES = { BOT_APP_ID: '2f1c3d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f', PUBLIC_HOST: 'workshop-demo.azurewebsites.net' };

/** Files of a zip, read with its central directory (enough for the zips package.ts writes). */
function unzip(buf: Buffer): Record<string, Buffer> {
  const end = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = buf.readUInt16LE(end + 10);
  let p = buf.readUInt32LE(end + 16);
  const out: Record<string, Buffer> = {};
  for (let i = 0; i < count; i++) {
    const size = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28);
    const extra = buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    const dataAt = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    out[name] = inflateRawSync(buf.subarray(dataAt, dataAt + size));
    p += 46 + nameLen + extra;
  }
  return out;
}

const pngSize = (b: Buffer) => ({ w: b.readUInt32BE(16), h: b.readUInt32BE(20) });

describe('Teams app package', () => {
  it('the manifest validates against the vendored v1.22 JSON schema', () => {
    const manifest = renderManifest(VALUES);
    expect(validateManifest(manifest)).toEqual([]);
    expect(manifest.manifestVersion).toBe('1.22');
    const bot = (manifest.bots as Array<{ botId: string; scopes: string[] }>)[0];
    expect(bot.botId).toBe(VALUES.BOT_APP_ID);
    expect(bot.scopes).toEqual(['personal', 'team']);
    expect((manifest.staticTabs as Array<{ contentUrl: string }>)[0].contentUrl).toBe('https://workshop-demo.azurewebsites.net/api/tab/?host=teams');
    expect(manifest.validDomains).toEqual(['workshop-demo.azurewebsites.net']);
  });

  it('the schema check catches a broken manifest (so the check is real)', () => {
    const manifest = renderManifest(VALUES);
    const broken = { ...manifest, id: 'not-a-guid', bots: [{ botId: VALUES.BOT_APP_ID, scopes: ['everywhere'] }] };
    const problems = validateManifest(broken);
    expect(problems.join('\n')).toMatch(/\/id/);
    expect(problems.join('\n')).toMatch(/\/bots\/0\/scopes\/0/);
  });

  it('the zip has the manifest and the two icons at the sizes Teams wants', () => {
    const { zip } = buildPackage(VALUES);
    const files = unzip(zip);
    expect(Object.keys(files).sort()).toEqual(['color.png', 'manifest.json', 'outline.png']);
    expect(JSON.parse(files['manifest.json'].toString('utf8')).id).toBe(VALUES.BOT_APP_ID);
    expect(pngSize(files['color.png'])).toEqual({ w: 192, h: 192 });
    expect(pngSize(files['outline.png'])).toEqual({ w: 32, h: 32 });
  });

  it('npm run package:teams writes the zip (and says what is missing without settings)', () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'teams-pkg-')), 'app.zip');
    const tsx = path.join(__dirname, '..', 'node_modules', '.bin', 'tsx');
    execFileSync(tsx, [path.join(__dirname, 'package.ts')], { env: { ...process.env, ...VALUES, TEAMS_PACKAGE_OUT: out }, stdio: 'pipe' });
    expect(Object.keys(unzip(readFileSync(out)))).toContain('manifest.json');
    let message = '';
    try {
      execFileSync(tsx, [path.join(__dirname, 'package.ts')], { env: { ...process.env, BOT_APP_ID: '', PUBLIC_HOST: '' }, stdio: 'pipe' });
    } catch (err) {
      message = String((err as { stderr: Buffer }).stderr);
    }
    expect(message).toMatch(/package:teams needs BOT_APP_ID and PUBLIC_HOST/);
  });
});
