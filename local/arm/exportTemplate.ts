import { ArmError, type ArmErrorBody } from './errors';
import { lower } from './ids';
import type { Reply } from './emulator';
import type { GroupRecord, ResourceRecord } from './store';

/**
 * Resource Groups - Export Template (`POST /subscriptions/{s}/resourcegroups/{rg}/exportTemplate`): the group's
 * resources as a deployment template, the way ARM captures them.
 *
 * What ARM does and this does too: the body must say which resources (`resources`: `["*"]` or ids of the
 * group's resources) and may give `options` from ARM's four (CSV); read-only state (`provisioningState`, a managed
 * identity's `principalId`/`tenantId`) is left out, and secrets are never exported (GET does not return them
 * either), so a template for a SQL server has no password; extension resources (role assignments, diagnostic
 * settings) are not exported and are named in `error.details` (`ExportTemplateCompletedWithErrors`), as ARM names
 * resource types it cannot export. With `SkipAllParameterization` names are literal; otherwise each top-level
 * resource name becomes a parameter with its value as default when `IncludeParameterDefaultValue` is given
 * (ARM's `<type>_<name>_name` parameters).
 */
const OPTIONS = ['IncludeParameterDefaultValue', 'IncludeComments', 'SkipResourceNameParameterization', 'SkipAllParameterization'];
const TOP_LEVEL_KEYS = ['location', 'tags', 'sku', 'kind', 'zones', 'plan', 'extendedLocation'] as const;

interface ExportRequest {
  resources: string[];
  options: Set<string>;
}

function parseRequest(body: unknown): ExportRequest {
  const b = (body ?? {}) as { resources?: unknown; options?: unknown; outputFormat?: unknown };
  if (!Array.isArray(b.resources) || !b.resources.length || !b.resources.every((r) => typeof r === 'string')) {
    throw new ArmError(400, 'InvalidRequestContent', "The request content was invalid: 'resources' must list the ids of the resources to export, or be [\"*\"] for all of them.");
  }
  if (b.outputFormat !== undefined && b.outputFormat !== 'Json') {
    throw new ArmError(400, 'InvalidRequestContent', `The export output format '${String(b.outputFormat)}' is not supported by this emulator; use 'Json'.`);
  }
  const options = new Set<string>();
  if (b.options !== undefined) {
    if (typeof b.options !== 'string') throw new ArmError(400, 'InvalidRequestContent', "The request content was invalid: 'options' must be a comma-separated string.");
    for (const o of b.options.split(',').map((s) => s.trim()).filter(Boolean)) {
      const known = OPTIONS.find((k) => lower(k) === lower(o));
      if (!known) throw new ArmError(400, 'InvalidExportTemplateOption', `The export template option '${o}' is not valid. Valid options are: ${OPTIONS.join(', ')}.`);
      options.add(known);
    }
  }
  if (options.has('SkipAllParameterization') && options.has('SkipResourceNameParameterization')) {
    throw new ArmError(400, 'InvalidExportTemplateOption', "The export template options 'SkipAllParameterization' and 'SkipResourceNameParameterization' cannot be used together.");
  }
  return { resources: b.resources as string[], options };
}

/** The part of a resource id after the group: `providers/<ns>/<type>/<name>[/<type>/<name>…]`; an extension resource has a second `providers`. */
function providerPart(id: string): string[] {
  const segs = id.split('/').filter(Boolean);
  return segs.slice(4);
}

function isExtension(r: ResourceRecord): boolean {
  return providerPart(r.id).filter((s) => lower(s) === 'providers').length > 1;
}

function leafNames(r: ResourceRecord): string[] {
  const p = providerPart(r.id).slice(2); // drop "providers", "<namespace>"
  const names: string[] = [];
  for (let i = 1; i < p.length; i += 2) names.push(p[i]!);
  return names;
}

function parentId(r: ResourceRecord): string | undefined {
  const segs = r.id.split('/').filter(Boolean);
  return segs.length > 8 ? '/' + segs.slice(0, -2).join('/') : undefined;
}

function strip(value: Record<string, unknown> | undefined, keys: string[]): Record<string, unknown> | undefined {
  if (!value) return undefined;
  const out = structuredClone(value);
  for (const k of keys) delete out[k];
  return out;
}

function templateResource(r: ResourceRecord, inExport: Map<string, ResourceRecord>, nameParam: string | undefined): Record<string, unknown> {
  const names = leafNames(r);
  const out: Record<string, unknown> = { type: r.type, apiVersion: r.apiVersion, name: nameParam ? `[parameters('${nameParam}')]` : names.join('/') };
  for (const k of TOP_LEVEL_KEYS) if (r.body[k] !== undefined) out[k] = structuredClone(r.body[k]);
  const identity = r.body.identity as Record<string, unknown> | undefined;
  if (identity) out.identity = strip(identity, ['principalId', 'tenantId']);
  const properties = strip(r.body.properties as Record<string, unknown> | undefined, ['provisioningState']);
  if (properties) out.properties = properties;
  const parent = parentId(r);
  if (parent && inExport.has(lower(parent))) {
    const p = inExport.get(lower(parent))!;
    out.dependsOn = [`[resourceId('${p.type}', ${leafNames(p).map((n) => `'${n}'`).join(', ')})]`];
  }
  return out;
}

/** POST …/resourcegroups/{rg}/exportTemplate for the group's resource records. */
export function exportGroupTemplate(group: GroupRecord, records: readonly ResourceRecord[], body: unknown): Reply {
  const req = parseRequest(body);
  const all = req.resources.length === 1 && req.resources[0] === '*';
  const byId = new Map(records.map((r) => [lower(r.id), r]));
  if (!all) {
    for (const id of req.resources) {
      if (id === '*') throw new ArmError(400, 'InvalidRequestContent', "'*' exports every resource and cannot be combined with resource ids.");
      if (!byId.has(lower(id))) throw new ArmError(400, 'ResourceNotFound', `The resource '${id}' to export was not found in resource group '${group.name}'.`);
    }
  }
  const chosen = all ? [...records] : req.resources.map((id) => byId.get(lower(id))!);
  const exported = chosen.filter((r) => !isExtension(r)).sort((a, b) => a.id.split('/').length - b.id.split('/').length || a.id.localeCompare(b.id));
  const inExport = new Map(exported.map((r) => [lower(r.id), r]));
  const parameterize = !req.options.has('SkipAllParameterization') && !req.options.has('SkipResourceNameParameterization');
  const parameters: Record<string, Record<string, unknown>> = {};
  const resources = exported.map((r) => {
    let nameParam: string | undefined;
    if (parameterize && !parentId(r)) {
      nameParam = `${r.type.split('/').at(-1)}_${leafNames(r)[0]}_name`.replace(/[^A-Za-z0-9_]/g, '_');
      parameters[nameParam] = { type: 'String', ...(req.options.has('IncludeParameterDefaultValue') ? { defaultValue: leafNames(r)[0] } : {}) };
    }
    return templateResource(r, inExport, nameParam);
  });
  const skipped = chosen.filter(isExtension);
  const template = { $schema: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#', contentVersion: '1.0.0.0', parameters, variables: {}, resources };
  const details: ArmErrorBody[] = skipped.map((r) => ({
    code: 'ExportTemplateProviderError',
    target: r.id,
    message: `Could not get resources of the type '${r.type}'. Resources of this type will not be exported.`,
  }));
  const error: ArmErrorBody | undefined = details.length
    ? { code: 'ExportTemplateCompletedWithErrors', message: 'Export template operation completed with errors. Some resources were not exported. Please see details for more information.', details }
    : undefined;
  return { status: 200, body: { template, ...(error ? { error } : {}) } };
}
