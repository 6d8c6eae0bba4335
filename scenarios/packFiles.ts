import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { appSettings } from '../config';
import { loadPackFile, PACK_EXTENSIONS, type LoadedPack } from './loadPack';
import { PermanentArmError } from '../azure/armErrors';

/**
 * Packs and their ARM templates as the environment activities read them: by id, from
 * `SCENARIO_PACKS_DIR` or the app's own `scenarios/packs`, parsed once per process. A missing or broken
 * pack is a {@link PermanentArmError}: an activity that meets one stops instead of being retried.
 */
export interface PackWithTemplate extends LoadedPack {
  template: ArmTemplate;
}

/** The parts of an ARM template the activities look at. */
export interface ArmTemplate {
  parameters?: Record<string, { type?: string; defaultValue?: unknown }>;
  resources?: ArmTemplateResource[] | Record<string, ArmTemplateResource>;
  [key: string]: unknown;
}
export interface ArmTemplateResource {
  type?: string;
  apiVersion?: string;
  resources?: ArmTemplateResource[];
  [key: string]: unknown;
}

const cache = new Map<string, Promise<PackWithTemplate>>();

export function packsDir(): string {
  const configured = appSettings().SCENARIO_PACKS_DIR;
  if (configured) return path.resolve(configured);
  // Source tree (tsx, vitest: scenarios/packs beside this file) or the deployment package (build.ts: one
  // bundle, dist/app.js, with dist/scenarios/packs beside it).
  const candidates = [path.resolve(__dirname, 'packs'), path.resolve(__dirname, 'scenarios', 'packs')];
  return candidates.find((d) => existsSync(d)) ?? candidates[0]!;
}

export function loadPackWithTemplate(packId: string): Promise<PackWithTemplate> {
  const dir = packsDir();
  const key = `${dir}|${packId}`;
  let p = cache.get(key);
  if (!p) {
    p = load(dir, packId);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

async function load(dir: string, packId: string): Promise<PackWithTemplate> {
  if (!/^[a-z][a-z0-9-]*$/.test(packId)) throw new PermanentArmError(`"${packId}" is not a pack id (lowercase letters, digits, hyphens).`, 'UnknownPack');
  const file = PACK_EXTENSIONS.map((ext) => path.join(dir, `${packId}${ext}`)).find((f) => existsSync(f));
  if (!file) throw new PermanentArmError(`There is no scenario pack "${packId}" in ${dir}: start the run with one of the shipped packs.`, 'UnknownPack');
  const loaded = await loadPackFile(file);
  let text: string;
  try {
    text = await readFile(loaded.templatePath, 'utf8');
  } catch (err) {
    throw new PermanentArmError(
      `Pack "${packId}" has no ARM template at ${loaded.templatePath} (${(err as Error).message}): add the template or fix environment.template.`,
      'TemplateMissing',
    );
  }
  let template: ArmTemplate;
  try {
    template = JSON.parse(text) as ArmTemplate;
  } catch (err) {
    throw new PermanentArmError(`Pack "${packId}": ${loaded.templatePath} is not valid JSON (${(err as Error).message}); fix the template.`, 'InvalidTemplate');
  }
  return { ...loaded, template };
}

/** api-version per resource type as the template declares them (child resources by their full type). */
export function templateApiVersions(template: ArmTemplate): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (list: ArmTemplateResource[] | undefined, parentType?: string): void => {
    for (const r of list ?? []) {
      if (typeof r.type !== 'string') continue;
      const type = parentType && !r.type.includes('/') ? `${parentType}/${r.type}` : r.type;
      if (typeof r.apiVersion === 'string' && !out.has(type.toLowerCase())) out.set(type.toLowerCase(), r.apiVersion);
      visit(r.resources, type);
    }
  };
  const resources = template.resources;
  visit(Array.isArray(resources) ? resources : resources ? Object.values(resources) : []);
  return out;
}
