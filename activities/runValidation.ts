import type { Logger } from 'pino';
import { z } from 'zod';
import { assertNever } from '../machines/assertNever';
import type { CheckEvidence } from '../machines/phaseMachine';
import { defineActivity } from './activity';
import type { Check, ScenarioPack } from '../scenarios/schema';
import { armClients, armHttpError, armLogger, type ArmClients } from '../azure/armClients';
import { classifyArmError, PermanentArmError, TransientArmError } from '../azure/armErrors';
import { learnerResourceGroupName } from '../azure/environmentNames';
import { loadPackWithTemplate, templateApiVersions } from '../scenarios/packFiles';
import { clientsForLearner } from './subscriptionPool';

export const RunValidationInput = z
  .object({
    /** Instance id + step (validation only reads, so it is naturally idempotent; the key is for the logs). */
    idempotencyKey: z.string().min(1).max(400).optional(),
    packId: z.string().regex(/^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/),
    /** The learner's group; default: the deterministic name from runId + learnerId (as provisionEnvironment made it). */
    resourceGroupName: z.string().min(1).max(90).optional(),
    runId: z.string().min(1).max(200).optional(),
    learnerId: z.string().min(1).max(200).optional(),
    /** A validate step of the pack: runs that step's checks. */
    stepId: z.string().min(1).optional(),
    /** Explicit check ids (win over stepId); all of the pack's checks when neither is given. */
    checkIds: z.array(z.string().min(1)).min(1).optional(),
    attempt: z.number().int().min(1).optional(),
  })
  .refine((i) => i.resourceGroupName || (i.runId && i.learnerId), { message: 'give resourceGroupName, or runId and learnerId' });
export type RunValidationInput = z.input<typeof RunValidationInput>;

/** pass; fail (the resource is there but wrong); missing (no resource the check could look at). */
export type CheckStatus = 'pass' | 'fail' | 'missing';

/** One check's outcome; also a `CheckResult` of the phase machine (checkId, passed, message, hint). */
export interface CheckOutcome {
  checkId: string;
  kind: Check['kind'];
  description: string;
  status: CheckStatus;
  passed: boolean;
  /** What was found, in words: names the resources and values involved ("Resource missing: …" for missing). */
  message: string;
  /** The pack's hint for the learner (what it means, then what to do), on fail and missing. */
  hint?: string;
  /**
   * On fail and missing: per resource looked at, the property read, what was observed and what was expected —
   * what a learner who disputes the check and the instructor who decides it look at side by side.
   */
  evidence?: CheckEvidence[];
  /** On fail and missing: how to fix it (the pack's action). */
  fix?: string;
}

export interface RunValidationResult {
  resourceGroupName: string;
  passed: boolean;
  counts: Record<CheckStatus, number>;
  checks: CheckOutcome[];
}

export interface ValidationOptions {
  abortSignal?: AbortSignal;
  clients?: ArmClients;
  log?: Logger;
}

/** api-versions of ARM extension types that no pack template declares. */
const EXTENSION_API = {
  diagnosticSettings: '2021-05-01-preview',
  roleAssignments: '2022-04-01',
  roleDefinitions: '2022-04-01',
} as const;
const RG_TYPE = 'microsoft.resources/resourcegroups';

/**
 * Runs a pack's checks against the learner's live resource group and says, per check, pass /
 * fail / missing with the pack's hint. Reads only; ARM errors while reading are thrown as
 * TransientArmError / PermanentArmError (the learner's result would be meaningless).
 */
export const runValidation = defineActivity(RunValidationInput, async function runValidation(input, _context?: unknown, options: ValidationOptions = {}): Promise<RunValidationResult> {
  const clients = options.clients ?? (await clientsForLearner(input.runId, input.learnerId, () => armClients()));
  const log = (options.log ?? armLogger()).child({ runId: input.runId, learnerId: input.learnerId, packId: input.packId, key: input.idempotencyKey });
  const pack = await loadPackWithTemplate(input.packId);
  const all = pack.pack.environment.checks;
  const rgName = input.resourceGroupName ?? learnerResourceGroupName(input.runId!, input.learnerId!);
  const wanted = input.checkIds ?? (input.stepId ? stepCheckIds(pack.pack, input.stepId) : undefined);
  const unknown = (wanted ?? []).filter((id) => !all.some((c) => c.id === id));
  if (unknown.length > 0) {
    throw new PermanentArmError(`Pack "${input.packId}" has no check(s) ${unknown.join(', ')}; use ids from environment.checks (${all.map((c) => c.id).join(', ')}).`, 'UnknownCheck');
  }
  const checks = wanted ? all.filter((c) => wanted.includes(c.id)) : all;
  const inv = new Inventory(clients, rgName, templateApiVersions(pack.template), options.abortSignal);
  try {
    const results: CheckOutcome[] = [];
    if (!(await inv.group())) {
      for (const c of checks) results.push(missing(c, `Resource group ${rgName} does not exist (not provisioned yet, or already torn down).`, `resource group ${rgName}`, 'the subscription'));
    } else {
      for (const c of checks) results.push(await evaluate(inv, c, rgName));
    }
    const counts = { pass: 0, fail: 0, missing: 0 };
    for (const r of results) counts[r.status]++;
    log.info({ resourceGroup: rgName, counts }, 'validation ran');
    return { resourceGroupName: rgName, passed: counts.fail === 0 && counts.missing === 0, counts, checks: results };
  } catch (err) {
    if (options.abortSignal?.aborted || err instanceof PermanentArmError || err instanceof TransientArmError) throw err;
    const classified = classifyArmError(err, { what: `validating resource group ${rgName}` });
    log.warn({ err: { name: classified.name, code: classified.code, message: classified.message } }, 'validation could not read the environment');
    throw classified;
  }
});

function result(check: Check, status: CheckStatus, detail: string, evidence: CheckEvidence[] = []): CheckOutcome {
  return {
    checkId: check.id,
    kind: check.kind,
    description: check.description,
    status,
    passed: status === 'pass',
    message: status === 'missing' ? `Resource missing: ${detail}` : detail,
    ...(status === 'pass' ? {} : { hint: `${check.hint.meaning} ${check.hint.action}`, evidence, fix: check.hint.action }),
  };
}

/** What one failed check found wrong: the sentence for the message and the evidence for the dispute, kept together. */
class Wrong {
  readonly texts: string[] = [];
  readonly evidence: CheckEvidence[] = [];
  add(text: string, resource: string, property: string, observed: string, expected: string): void {
    this.texts.push(text);
    this.evidence.push({ resource, property, observed, expected });
  }
  get any(): boolean {
    return this.texts.length > 0;
  }
}

/** No resource the check could read: the evidence names what was looked for, and where. */
function missing(check: Check, detail: string, resource: string, where: string): CheckOutcome {
  return result(check, 'missing', detail, [{ resource, property: '(exists)', observed: `none in ${where}`, expected: 'at least one' }]);
}

/** The check ids of a pack's validate step. */
function stepCheckIds(pack: ScenarioPack, stepId: string): string[] {
  for (const phase of pack.phases) {
    const step = phase.steps.find((s) => s.id === stepId);
    if (step?.kind === 'validate') return step.checks;
    if (step) throw new PermanentArmError(`Step "${stepId}" of pack "${pack.id}" is a ${step.kind} step, not a validate step; it has no checks to run.`, 'NotAValidateStep');
  }
  throw new PermanentArmError(`Pack "${pack.id}" has no step "${stepId}"; give the id of one of its validate steps.`, 'UnknownStep');
}

// ─── the checks ──────────────────────────────────────────────────────────────────────────────

async function evaluate(inv: Inventory, check: Check, rgName: string): Promise<CheckOutcome> {
  const matching = await inv.matching(check.resourceType, check.namePattern);
  const what = `${check.resourceType}${check.namePattern ? ` named /${check.namePattern}/` : ''}`;
  const none = (): CheckOutcome => missing(check, `No ${what} in the resource group.`, what, `resource group ${rgName}`);
  switch (check.kind) {
    case 'exists': {
      if (matching.length === 0) return none();
      if (matching.length < check.minCount) {
        return result(check, 'fail', `Found ${matching.length} ${what} (${names(matching)}); need at least ${check.minCount}.`, [
          { resource: what, property: '(count)', observed: `${matching.length} (${names(matching)})`, expected: `at least ${check.minCount}` },
        ]);
      }
      return result(check, 'pass', `Found ${names(matching)}.`);
    }
    case 'propertyEquals':
    case 'propertyMatches': {
      if (matching.length === 0) return none();
      const wrong = new Wrong();
      const want = check.kind === 'propertyEquals' ? `${JSON.stringify(check.expected)}` : `a match for /${check.pattern}/`;
      for (const r of matching) {
        const body = (await inv.full(r.id)) ?? {};
        const v = valueAt(body, check.property);
        if (!v.found) wrong.add(`${r.name}: ${check.property} is not set`, r.name, check.property, '(not set)', want);
        else if (check.kind === 'propertyEquals' ? !sameScalar(v.value, check.expected) : !new RegExp(check.pattern).test(String(v.value))) {
          wrong.add(`${r.name}: ${check.property} is ${JSON.stringify(v.value)}`, r.name, check.property, JSON.stringify(v.value), want);
        }
      }
      return wrong.any ? result(check, 'fail', `${wrong.texts.join('; ')} (expected ${want}).`, wrong.evidence) : result(check, 'pass', `${check.property} is ${want} on ${names(matching)}.`);
    }
    case 'tagPresent': {
      if (matching.length === 0) return none();
      const wrong = new Wrong();
      const want = check.value !== undefined ? `${check.tag}=${check.value}` : check.tag;
      const property = `tags.${check.tag}`;
      for (const r of matching) {
        const tags = (r.tags ?? ((await inv.full(r.id)) as { tags?: Record<string, string> } | undefined)?.tags) ?? {};
        const key = Object.keys(tags).find((k) => k.toLowerCase() === check.tag.toLowerCase());
        if (key === undefined) wrong.add(`${r.name} has no tag ${check.tag}`, r.name, property, '(no such tag)', check.value ?? '(present)');
        else if (check.value !== undefined && tags[key] !== check.value) wrong.add(`${r.name}: tag ${check.tag}=${JSON.stringify(tags[key])}`, r.name, property, JSON.stringify(tags[key]), JSON.stringify(check.value));
      }
      return wrong.any ? result(check, 'fail', `${wrong.texts.join('; ')} (expected ${want}).`, wrong.evidence) : result(check, 'pass', `${names(matching)} tagged ${want}.`);
    }
    case 'diagnosticSetting':
      return matching.length === 0 ? none() : diagnosticOutcome(inv, check, matching);
    case 'privateEndpoint': {
      if (matching.length === 0) return none();
      const wrong = new Wrong();
      const want = `${check.requireApproved ? 'an approved' : 'a'} private endpoint for ${check.groupId}${check.privateDnsZone ? ` registered in ${check.privateDnsZone}` : ''}`;
      for (const r of matching) {
        const problem = await privateEndpointProblem(inv, r, check.groupId, check.requireApproved, check.privateDnsZone);
        if (problem) wrong.add(problem, r.name, 'privateEndpointConnections', problem.startsWith(`${r.name}`) ? problem.slice(r.name.length).replace(/^'s /, '').trim() : problem, want);
      }
      return wrong.any
        ? result(check, 'fail', `${wrong.texts.join('; ')}.`, wrong.evidence)
        : result(check, 'pass', `${names(matching)} reached through an approved private endpoint for ${check.groupId}${check.privateDnsZone ? ` in ${check.privateDnsZone}` : ''}.`);
    }
    case 'roleAssignment':
      return matching.length === 0 ? none() : roleAssignmentOutcome(inv, check, matching);
    default:
      return assertNever(check, 'check kind');
  }
}

/** Every matching resource sends the check's log categories to a Log Analytics workspace. */
async function diagnosticOutcome(inv: Inventory, check: Extract<Check, { kind: 'diagnosticSetting' }>, matching: readonly ArmRef[]): Promise<CheckOutcome> {
  const wrong = new Wrong();
  const want = `${check.categories.join(', ')} sent to a Log Analytics workspace`;
  for (const r of matching) {
    const settings = await inv.diagnosticSettings(r.id);
    const good = settings.find((s) => sendsToWorkspace(s) && missingCategories(s, check.categories).length === 0);
    if (!good) {
      const best = settings.filter(sendsToWorkspace).map((s) => missingCategories(s, check.categories));
      const add = (text: string, observed: string) => wrong.add(text, r.name, 'diagnosticSettings', observed, want);
      if (settings.length === 0) add(`${r.name} has no diagnostic setting`, '(none)');
      else if (best.length === 0) add(`${r.name}'s diagnostic settings send nothing to a Log Analytics workspace`, `${settings.length} setting(s), none to Log Analytics`);
      else {
        const gap = best.sort((a, b) => a.length - b.length)[0]!;
        add(`${r.name} does not send ${gap.join(', ')} to Log Analytics`, `not sent: ${gap.join(', ')}`);
      }
    }
  }
  return wrong.any
    ? result(check, 'fail', `${wrong.texts.join('; ')}.`, wrong.evidence)
    : result(check, 'pass', `${names(matching)} send ${check.categories.join(', ')} to Log Analytics.`);
}

/** Every principal of the check's type holds the role on the matching resources. */
async function roleAssignmentOutcome(inv: Inventory, check: Extract<Check, { kind: 'roleAssignment' }>, matching: readonly ArmRef[]): Promise<CheckOutcome> {
  const principals = await inv.matching(check.principalResourceType);
  if (principals.length === 0) return missing(check, `No ${check.principalResourceType} in the resource group to hold ${check.role}.`, check.principalResourceType, 'the resource group');
  const roleIds = check.roleDefinitionId ? [check.roleDefinitionId.toLowerCase()] : await inv.roleDefinitionIds(check.role);
  const wrong = new Wrong();
  const want = `${check.role} on ${names(matching)}`;
  for (const p of principals) {
    const principalIds = principalIdsOf(((await inv.full(p.id)) ?? {}) as Record<string, unknown>, check.principalResourceType);
    if (principalIds.length === 0) {
      wrong.add(`${p.name} has no managed identity`, p.name, 'identity', '(no managed identity)', `a managed identity holding ${want}`);
      continue;
    }
    let holds = false;
    for (const target of matching) {
      const assignments = await inv.roleAssignments(target.id);
      if (assignments.some((a) => grants(a, target.id, principalIds, roleIds))) {
        holds = true;
        break;
      }
    }
    if (!holds) wrong.add(`${p.name}'s identity does not hold ${check.role} on ${names(matching)}`, p.name, 'roleAssignments', `no ${check.role} assignment`, want);
  }
  return wrong.any ? result(check, 'fail', `${wrong.texts.join('; ')}.`, wrong.evidence) : result(check, 'pass', `${names(principals)} hold ${check.role} on ${names(matching)}.`);
}

function names(list: readonly ArmRef[]): string {
  const shown = list.slice(0, 5).map((r) => r.name);
  return shown.join(', ') + (list.length > 5 ? ` and ${list.length - 5} more` : '');
}

function sameScalar(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // ARM echoes some numbers as strings ("1.2", "3") and booleans as "true"; compare their text.
  return (typeof a === 'string' || typeof a === 'number' || typeof a === 'boolean') && b !== null && String(a) === String(b);
}

interface DiagnosticSetting {
  properties?: { workspaceId?: string; logs?: Array<{ category?: string | null; categoryGroup?: string | null; enabled?: boolean }> };
}
function sendsToWorkspace(s: DiagnosticSetting): boolean {
  return /\/providers\/microsoft\.operationalinsights\/workspaces\//i.test(s.properties?.workspaceId ?? '');
}
function missingCategories(s: DiagnosticSetting, wanted: readonly string[]): string[] {
  const logs = (s.properties?.logs ?? []).filter((l) => l.enabled);
  if (logs.some((l) => (l.categoryGroup ?? '').toLowerCase() === 'alllogs')) return [];
  return wanted.filter((c) => !logs.some((l) => (l.category ?? '').toLowerCase() === c.toLowerCase()));
}

/**
 * A private endpoint for `groupId` on `target`, seen from either side: an endpoint in the group whose
 * Private Link connection points at the target, or the target's own `privateEndpointConnections`
 * (the side that carries the approval). DNS: the endpoint's zone group names the zone, or the zone
 * holds an A record for the target.
 */
async function privateEndpointProblem(inv: Inventory, target: ArmRef, groupId: string, requireApproved: boolean, zone: string | undefined): Promise<string | undefined> {
  const sameId = (a: string | undefined, b: string) => (a ?? '').toLowerCase() === b.toLowerCase();
  const hasGroup = (ids: string[] | undefined) => (ids ?? []).some((g) => g.toLowerCase() === groupId.toLowerCase());
  const targetBody = ((await inv.full(target.id)) ?? {}) as { properties?: { privateEndpointConnections?: TargetConnection[] } };
  const targetSide = targetBody.properties?.privateEndpointConnections ?? [];
  const found: Array<{ peId?: string; status: string }> = [];

  for (const pe of await inv.matching('Microsoft.Network/privateEndpoints')) {
    const body = ((await inv.full(pe.id)) ?? {}) as { properties?: Record<string, unknown> };
    const auto = (body.properties?.privateLinkServiceConnections as PlsConnection[] | undefined) ?? [];
    const manual = (body.properties?.manualPrivateLinkServiceConnections as PlsConnection[] | undefined) ?? [];
    for (const [list, defaultStatus] of [
      [auto, 'Approved'],
      [manual, 'Pending'],
    ] as const) {
      for (const c of list) {
        const p = c.properties ?? {};
        if (!sameId(p.privateLinkServiceId, target.id) || !hasGroup(p.groupIds)) continue;
        const fromTarget = targetSide.find((x) => sameId(x.properties?.privateEndpoint?.id, pe.id));
        found.push({ peId: pe.id, status: fromTarget?.properties?.privateLinkServiceConnectionState?.status ?? p.privateLinkServiceConnectionState?.status ?? defaultStatus });
      }
    }
  }
  for (const c of targetSide) {
    const peId = c.properties?.privateEndpoint?.id;
    if (found.some((f) => f.peId && peId && sameId(f.peId, peId))) continue;
    if (c.properties?.groupIds && !hasGroup(c.properties.groupIds)) continue;
    found.push({ ...(peId ? { peId } : {}), status: c.properties?.privateLinkServiceConnectionState?.status ?? 'Pending' });
  }

  if (found.length === 0) return `${target.name} has no private endpoint for ${groupId}`;
  const approved = found.filter((f) => f.status.toLowerCase() === 'approved');
  if (requireApproved && approved.length === 0) return `${target.name}'s private endpoint connection is ${found[0]!.status}, not Approved`;
  if (!zone) return undefined;

  for (const f of requireApproved ? approved : found) {
    const pe = f.peId ? (await inv.matching('Microsoft.Network/privateEndpoints')).find((e) => sameId(e.id, f.peId!)) : undefined;
    if (!pe) continue;
    for (const g of await inv.children(pe, 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups')) {
      const body = ((await inv.full(g.id)) ?? {}) as { properties?: { privateDnsZoneConfigs?: Array<{ properties?: { privateDnsZoneId?: string } }> } };
      if ((body.properties?.privateDnsZoneConfigs ?? []).some((c) => (c.properties?.privateDnsZoneId ?? '').toLowerCase().endsWith(`/privatednszones/${zone.toLowerCase()}`))) return undefined;
    }
  }
  const zones = (await inv.matching('Microsoft.Network/privateDnsZones')).filter((z) => z.name.toLowerCase() === zone.toLowerCase());
  const shortName = target.name.split('/')[0]!.toLowerCase();
  for (const z of zones) {
    const records = await inv.children(z, 'Microsoft.Network/privateDnsZones/A');
    if (records.some((r) => r.name.split('/').pop()!.toLowerCase() === shortName)) return undefined;
  }
  return `${target.name}'s private endpoint is not registered in the private DNS zone ${zone}`;
}
interface TargetConnection {
  properties?: { privateEndpoint?: { id?: string }; groupIds?: string[]; privateLinkServiceConnectionState?: { status?: string } };
}
interface PlsConnection {
  properties?: { privateLinkServiceId?: string; groupIds?: string[]; privateLinkServiceConnectionState?: { status?: string } };
}

function principalIdsOf(body: Record<string, unknown>, type: string): string[] {
  const ids: string[] = [];
  if (type.toLowerCase() === 'microsoft.managedidentity/userassignedidentities') {
    const p = (body.properties as { principalId?: string } | undefined)?.principalId;
    if (p) ids.push(p);
  }
  const identity = body.identity as { principalId?: string; userAssignedIdentities?: Record<string, { principalId?: string }> } | undefined;
  if (identity?.principalId) ids.push(identity.principalId);
  for (const u of Object.values(identity?.userAssignedIdentities ?? {})) if (u?.principalId) ids.push(u.principalId);
  return ids.map((i) => i.toLowerCase());
}

interface RoleAssignment {
  id?: string;
  properties?: { principalId?: string; roleDefinitionId?: string; scope?: string };
}
function grants(a: RoleAssignment, targetId: string, principalIds: string[], roleIds: string[]): boolean {
  const p = a.properties ?? {};
  if (!principalIds.includes((p.principalId ?? '').toLowerCase())) return false;
  const role = (p.roleDefinitionId ?? '').toLowerCase();
  if (!roleIds.some((r) => role === r || role.endsWith(`/${r}`))) return false;
  const scope = (p.scope ?? (a.id ?? '').replace(/\/providers\/microsoft\.authorization\/roleassignments\/[^/]+$/i, '')).toLowerCase().replace(/\/+$/, '');
  const t = targetId.toLowerCase();
  // An assignment on the resource or on any scope above it (group, subscription) grants the role on it.
  return scope === t || t.startsWith(`${scope}/`) || scope === '/';
}

// ─── reading the resource group ──────────────────────────────────────────────────────────────

export interface ArmRef {
  id: string;
  /** ARM name: `parent/child` for child resources. */
  name: string;
  /** Full type, e.g. `Microsoft.Network/virtualNetworks/subnets`. */
  type: string;
  tags?: Record<string, string>;
}

/** Type and `parent/child` name of an ARM resource id (the last provider section, for extension resources). */
export function parseResourceId(id: string): { type: string; name: string } | undefined {
  const m = /\/providers\/([^/]+)\/(.+)$/i.exec(id.replace(/\/+$/, ''));
  if (!m) return /\/resourceGroups\/([^/]+)$/i.test(id) ? { type: 'Microsoft.Resources/resourceGroups', name: /\/resourceGroups\/([^/]+)$/i.exec(id)![1]! } : undefined;
  const [ns, rest] = [m[1]!, m[2]!];
  const last = rest.lastIndexOf('/providers/');
  if (last >= 0) return parseResourceId(`/x/providers/${rest.slice(last + '/providers/'.length)}`);
  const parts = rest.split('/');
  const types: string[] = [];
  const names: string[] = [];
  for (let i = 0; i < parts.length; i += 2) {
    types.push(parts[i]!);
    if (parts[i + 1] !== undefined) names.push(parts[i + 1]!);
  }
  return { type: [ns, ...types].join('/'), name: names.join('/') };
}

/**
 * A lazily read, cached view of one resource group. Child resources are found the way ARM offers
 * them: the child collection under each parent (`…/virtualNetworks/v/subnets`), else children
 * embedded in the parent's properties (Traffic Manager endpoints, inline subnets), plus any
 * deployment's output resources of that type.
 */
class Inventory {
  private groupBody: Promise<{ id: string; tags?: Record<string, string> } | undefined> | undefined;
  private top: Promise<ArmRef[]> | undefined;
  private deployed: Promise<string[]> | undefined;
  private readonly bodies = new Map<string, Promise<unknown>>();
  private readonly byType = new Map<string, Promise<ArmRef[]>>();
  private readonly providerVersions = new Map<string, Promise<Map<string, string>>>();
  private readonly lists = new Map<string, Promise<unknown[]>>();

  constructor(
    private readonly clients: ArmClients,
    private readonly rg: string,
    private readonly templateVersions: Map<string, string>,
    private readonly signal: AbortSignal | undefined,
  ) {}

  group(): Promise<{ id: string; tags?: Record<string, string> } | undefined> {
    this.groupBody ??= this.clients.resources.resourceGroups
      .get(this.rg, { abortSignal: this.signal })
      .then((g) => ({ id: g.id ?? `/subscriptions/${this.clients.subscriptionId}/resourceGroups/${this.rg}`, tags: g.tags }))
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode === 404) return undefined;
        throw err;
      });
    return this.groupBody;
  }

  async matching(type: string, namePattern?: string): Promise<ArmRef[]> {
    const all = await this.ofType(type);
    if (!namePattern) return all;
    const re = new RegExp(namePattern);
    return all.filter((r) => re.test(r.name));
  }

  ofType(type: string): Promise<ArmRef[]> {
    const key = type.toLowerCase();
    let p = this.byType.get(key);
    if (!p) {
      p = this.load(type);
      this.byType.set(key, p);
    }
    return p;
  }

  private async load(type: string): Promise<ArmRef[]> {
    const key = type.toLowerCase();
    if (key === RG_TYPE) {
      const g = await this.group();
      return g ? [{ id: g.id, name: this.rg, type: 'Microsoft.Resources/resourceGroups', tags: g.tags ?? {} }] : [];
    }
    const segments = type.split('/');
    const found = new Map<string, ArmRef>();
    const add = (r: ArmRef): void => {
      if (!found.has(r.id.toLowerCase())) found.set(r.id.toLowerCase(), r);
    };
    for (const r of await this.topLevel()) if (r.type.toLowerCase() === key) add(r);
    if (segments.length > 2) {
      const parentType = segments.slice(0, -1).join('/');
      for (const parent of await this.ofType(parentType)) for (const c of await this.children(parent, type)) add(c);
    }
    // A deployment's output resources are history: count them only if they still exist (the learner may have deleted one).
    for (const id of await this.deployedIds()) {
      const parsed = parseResourceId(id);
      if (!parsed || parsed.type.toLowerCase() !== key || found.has(id.toLowerCase())) continue;
      if (await this.full(id)) add({ id, name: parsed.name, type: parsed.type });
    }
    return [...found.values()];
  }

  /** Children of `parent` of the full child `type`. */
  async children(parent: ArmRef, type: string): Promise<ArmRef[]> {
    const leaf = type.split('/').pop()!;
    const out = new Map<string, ArmRef>();
    const listed = await this.listOrUndefined(`${parent.id}/${leaf}`, await this.apiVersion(type));
    if (listed) {
      for (const item of listed as Array<{ id?: string; tags?: Record<string, string> }>) {
        if (!item.id) continue;
        this.bodies.set(item.id.toLowerCase(), Promise.resolve(item));
        const parsed = parseResourceId(item.id);
        out.set(item.id.toLowerCase(), { id: item.id, name: parsed?.name ?? item.id, type, tags: item.tags });
      }
    } else {
      // No child collection: look for the children inline in the parent (ARM embeds some, e.g. TM endpoints).
      const body = (await this.full(parent.id)) as { properties?: Record<string, unknown> } | undefined;
      for (const v of Object.values(body?.properties ?? {})) {
        if (!Array.isArray(v)) continue;
        for (const item of v as Array<{ id?: string; type?: string }>) {
          if (!item?.id || (item.type ?? parseResourceId(item.id)?.type ?? '').toLowerCase() !== type.toLowerCase()) continue;
          this.bodies.set(item.id.toLowerCase(), Promise.resolve(item));
          out.set(item.id.toLowerCase(), { id: item.id, name: parseResourceId(item.id)?.name ?? item.id, type });
        }
      }
    }
    return [...out.values()];
  }

  /** The resource as ARM returns it; undefined when it does not exist. */
  full(id: string): Promise<unknown> {
    const key = id.toLowerCase();
    let p = this.bodies.get(key);
    if (!p) {
      p = (async () => {
        const type = parseResourceId(id)?.type ?? '';
        const res = await this.clients.rest.get(id, await this.apiVersion(type), {}, this.signal);
        if (res.status === 404) return undefined;
        if (res.status < 200 || res.status > 299) throw armHttpError(res, `GET ${id}`);
        return res.body;
      })();
      this.bodies.set(key, p);
    }
    return p;
  }

  async diagnosticSettings(resourceId: string): Promise<DiagnosticSetting[]> {
    const listed = await this.listOrUndefined(`${resourceId}/providers/Microsoft.Insights/diagnosticSettings`, EXTENSION_API.diagnosticSettings);
    if (listed) return listed as DiagnosticSetting[];
    return this.extensionFallback(resourceId, 'microsoft.insights/diagnosticsettings') as Promise<DiagnosticSetting[]>;
  }

  async roleAssignments(resourceId: string): Promise<RoleAssignment[]> {
    const listed = await this.listOrUndefined(`${resourceId}/providers/Microsoft.Authorization/roleAssignments`, EXTENSION_API.roleAssignments);
    if (listed) return listed as RoleAssignment[];
    return this.extensionFallback(resourceId, 'microsoft.authorization/roleassignments') as Promise<RoleAssignment[]>;
  }

  /** Role definition ids named `role` (for checks that give a role name only). */
  async roleDefinitionIds(role: string): Promise<string[]> {
    const defs = (await this.listOrUndefined(`/subscriptions/${this.clients.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions`, EXTENSION_API.roleDefinitions, {
      $filter: `roleName eq '${role.replace(/'/g, "''")}'`,
    })) as Array<{ id?: string; name?: string }> | undefined;
    return (defs ?? []).map((d) => (d.name ?? d.id ?? '').toLowerCase()).filter(Boolean);
  }

  /** Extension resources known from deployments when the scope's collection cannot be listed. */
  private async extensionFallback(resourceId: string, type: string): Promise<unknown[]> {
    const group = await this.group();
    const prefixes = [resourceId, group?.id ?? ''].filter(Boolean).map((p) => `${p.toLowerCase()}/providers/`);
    const ids = (await this.deployedIds()).filter((id) => parseResourceId(id)?.type.toLowerCase() === type && prefixes.some((p) => id.toLowerCase().startsWith(p)));
    return (await Promise.all(ids.map((id) => this.full(id)))).filter((b) => b !== undefined);
  }

  private topLevel(): Promise<ArmRef[]> {
    this.top ??= (async () => {
      const out: ArmRef[] = [];
      for await (const r of this.clients.resources.resources.listByResourceGroup(this.rg, { abortSignal: this.signal })) {
        if (!r.id) continue;
        const parsed = parseResourceId(r.id);
        out.push({ id: r.id, name: parsed?.name ?? r.name ?? r.id, type: r.type ?? parsed?.type ?? '', tags: r.tags ?? {} });
      }
      return out;
    })();
    return this.top;
  }

  private deployedIds(): Promise<string[]> {
    this.deployed ??= (async () => {
      const ids: string[] = [];
      for await (const d of this.clients.deployments.deployments.listByResourceGroup(this.rg, { abortSignal: this.signal })) {
        for (const r of d.properties?.outputResources ?? []) if (r.id) ids.push(r.id);
      }
      return [...new Set(ids)];
    })();
    return this.deployed;
  }

  private listOrUndefined(path: string, apiVersion: string, query?: Record<string, string>): Promise<unknown[] | undefined> {
    const key = `${path.toLowerCase()}?${JSON.stringify(query ?? {})}`;
    let p = this.lists.get(key) as Promise<unknown[] | undefined> | undefined;
    if (!p) {
      p = this.clients.rest.list(path, apiVersion, query, this.signal);
      this.lists.set(key, p as Promise<unknown[]>);
    }
    return p;
  }

  /** The template's api-version for the type, else its parent's, else the provider's newest stable one. */
  async apiVersion(type: string): Promise<string> {
    const segments = type.split('/');
    for (let n = segments.length; n >= 2; n--) {
      const v = this.templateVersions.get(segments.slice(0, n).join('/').toLowerCase());
      if (v) return v;
    }
    const ns = segments[0] ?? '';
    let p = this.providerVersions.get(ns.toLowerCase());
    if (!p) {
      p = this.clients.resources.providers.get(ns, { abortSignal: this.signal }).then(
        (prov) =>
          new Map(
            (prov.resourceTypes ?? []).map((rt) => {
              const versions = rt.apiVersions ?? [];
              return [`${ns}/${rt.resourceType}`.toLowerCase(), versions.find((v) => !v.includes('preview')) ?? versions[0] ?? ''] as const;
            }),
          ),
        () => new Map<string, string>(),
      );
      this.providerVersions.set(ns.toLowerCase(), p);
    }
    const map = await p;
    for (let n = segments.length; n >= 2; n--) {
      const v = map.get(segments.slice(0, n).join('/').toLowerCase());
      if (v) return v;
    }
    throw new PermanentArmError(`No api-version is known for ${type}: add the type to the pack's template or register its provider in the learner subscription.`, 'NoApiVersion');
  }
}

/** The value at a property path such as `properties.locations[1].locationName`. */
export function valueAt(body: unknown, path: string): { found: boolean; value?: unknown } {
  let current: unknown = body;
  for (const token of path.match(/[^.[\]]+/g) ?? []) {
    if (current === null || typeof current !== 'object') return { found: false };
    const obj = current as Record<string, unknown>;
    if (Array.isArray(obj)) {
      const i = Number(token);
      if (!Number.isInteger(i) || i >= obj.length) return { found: false };
      current = obj[i];
    } else {
      // ARM property names are case-insensitive in practice (WorkspaceResourceId vs workspaceResourceId).
      const key = token in obj ? token : Object.keys(obj).find((k) => k.toLowerCase() === token.toLowerCase());
      if (key === undefined) return { found: false };
      current = obj[key];
    }
  }
  return current === undefined ? { found: false } : { found: true, value: current };
}
