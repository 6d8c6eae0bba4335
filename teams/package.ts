import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { crc32, deflateRawSync, deflateSync } from 'node:zlib';
import Ajv from 'ajv-draft-04';
import addFormats from 'ajv-formats';

/**
 * `npm run package:teams`: the Teams app package (a zip with manifest.json and the two icons) for
 * sideloading or the Teams admin center.
 *
 * manifest.json here is a template: {{BOT_APP_ID}}, {{TEAMS_APP_ID}}, {{PUBLIC_HOST}} and
 * {{APP_VERSION}} are filled from the environment (BOT_APP_ID; TEAMS_APP_ID, default the bot's id;
 * PUBLIC_HOST, the app's host name, e.g. the Function App's <name>.azurewebsites.net; the version
 * from package.json). The result is validated against the manifest's JSON schema, vendored in
 * schema/ (MicrosoftTeams.schema.json v1.22, MIT, from the npm package @microsoft/app-manifest),
 * so packaging needs no network. The icons are drawn here (no binary files in the repository).
 */
const DIR = __dirname;
export const SCHEMA_FILE = path.join(DIR, 'schema', 'MicrosoftTeams.v1.22.schema.json');
export const TEMPLATE_FILE = path.join(DIR, 'manifest.json');

export interface ManifestValues {
  BOT_APP_ID: string;
  TEAMS_APP_ID?: string;
  PUBLIC_HOST: string;
  APP_VERSION?: string;
}

export function renderManifest(values: ManifestValues, template = readFileSync(TEMPLATE_FILE, 'utf8')): Record<string, unknown> {
  const filled: Record<string, string> = {
    BOT_APP_ID: values.BOT_APP_ID,
    TEAMS_APP_ID: values.TEAMS_APP_ID ?? values.BOT_APP_ID,
    PUBLIC_HOST: values.PUBLIC_HOST.replace(/^https?:\/\//, '').replace(/\/+$/, ''),
    APP_VERSION: values.APP_VERSION ?? (JSON.parse(readFileSync(path.join(DIR, '..', 'package.json'), 'utf8')) as { version: string }).version,
  };
  const text = template.replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const v = filled[name];
    if (v === undefined) throw new Error(`teams/manifest.json uses {{${name}}}, which nothing fills.`);
    return v;
  });
  return JSON.parse(text) as Record<string, unknown>;
}

/** Schema problems as "path: message" lines (empty = valid). */
export function validateManifest(manifest: unknown): string[] {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')));
  if (validate(manifest)) return [];
  return (validate.errors ?? []).map((e) => `manifest.json ${e.instancePath || '(root)'}: ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
}

// ── icons: PNGs drawn from rectangles ───────────────────────────────────────────────────────

type Rgba = [number, number, number, number];

function png(size: number, pixel: (x: number, y: number) => Rgba): Buffer {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    for (let x = 0; x < size; x++) raw.set(pixel(x, y), y * (size * 4 + 1) + 1 + x * 4);
  }
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Three rising bars (a workshop's phases) in a frame, on `size` pixels; true where the glyph is. */
function glyph(x: number, y: number, size: number): boolean {
  const u = size / 32;
  const inRect = (x0: number, y0: number, x1: number, y1: number) => x >= x0 * u && x < x1 * u && y >= y0 * u && y < y1 * u;
  const frame = inRect(4, 4, 28, 28) && !inRect(6, 6, 26, 26);
  return frame || inRect(9, 18, 13, 23) || inRect(14, 14, 18, 23) || inRect(19, 10, 23, 23);
}

export function colorIcon(): Buffer {
  return png(192, (x, y) => (glyph(x, y, 192) ? [255, 255, 255, 255] : [0x46, 0x47, 0x75, 255]));
}
export function outlineIcon(): Buffer {
  return png(32, (x, y) => (glyph(x, y, 32) ? [255, 255, 255, 255] : [0, 0, 0, 0]));
}

// ── zip (stored names, deflated data) ───────────────────────────────────────────────────────

export function zip(files: Record<string, Buffer>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const nameBuf = Buffer.from(name, 'utf8');
    const packed = deflateRawSync(data);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt32LE(0, 10); // time/date: 1980-01-00, so the zip is reproducible
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(0, 12);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, packed);
    centrals.push(central, nameBuf);
    offset += local.length + nameBuf.length + packed.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

export function buildPackage(values: ManifestValues): { manifest: Record<string, unknown>; zip: Buffer } {
  const manifest = renderManifest(values);
  const problems = validateManifest(manifest);
  if (problems.length) throw new Error(`The Teams manifest does not match its schema:\n${problems.join('\n')}`);
  return { manifest, zip: zip({ 'manifest.json': Buffer.from(JSON.stringify(manifest, null, 2)), 'color.png': colorIcon(), 'outline.png': outlineIcon() }) };
}

function main(): void {
  const env = process.env;
  const missing = ['BOT_APP_ID', 'PUBLIC_HOST'].filter((k) => !env[k]);
  if (missing.length) {
    process.stderr.write(
      `package:teams needs ${missing.join(' and ')}: BOT_APP_ID is the bot's Microsoft Entra app id, PUBLIC_HOST the host Teams reaches the app at (e.g. myworkshop.azurewebsites.net).\n` +
        '  BOT_APP_ID=00000000-0000-0000-0000-000000000000 PUBLIC_HOST=myworkshop.azurewebsites.net npm run package:teams\n',
    );
    process.exit(2);
  }
  const { zip: data } = buildPackage({ BOT_APP_ID: env.BOT_APP_ID!, TEAMS_APP_ID: env.TEAMS_APP_ID, PUBLIC_HOST: env.PUBLIC_HOST! });
  const out = path.resolve(env.TEAMS_PACKAGE_OUT ?? path.join(DIR, 'out', 'workshop-teams-app.zip'));
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, data);
  process.stdout.write(`Teams app package: ${out} (manifest v1.22, validated)\n`);
}

if (require.main === module) main();
