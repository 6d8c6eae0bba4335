import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { templateApiVersions, type ArmTemplate } from '../scenarios/packFiles';
import { loadPackFile, PACK_EXTENSIONS, type LoadedPack } from '../scenarios/loadPack';

/**
 * Packs as the CLI reads them: from `--packs-dir`, SCENARIO_PACKS_DIR or the app's scenarios/packs
 * (the CLI runs beside the app, without its storage settings).
 */
export function cliPacksDir(dir?: string): string {
  return path.resolve(dir ?? process.env.SCENARIO_PACKS_DIR ?? path.join(__dirname, '..', 'scenarios', 'packs'));
}

export async function loadCliPack(packId: string, dir?: string): Promise<LoadedPack & { apiVersions: Map<string, string>; template: ArmTemplate | undefined }> {
  const base = cliPacksDir(dir);
  const file = PACK_EXTENSIONS.map((ext) => path.join(base, `${packId}${ext}`)).find((f) => existsSync(f));
  if (!file) throw new Error(`There is no scenario pack "${packId}" in ${base}; see "workshop scenarios list".`);
  const loaded = await loadPackFile(file);
  const template = existsSync(loaded.templatePath) ? (JSON.parse(await readFile(loaded.templatePath, 'utf8')) as ArmTemplate) : undefined;
  return { ...loaded, apiVersions: template ? templateApiVersions(template) : new Map(), template };
}
