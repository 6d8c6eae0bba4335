import type { ArmClients } from './armClients';
import { TransientArmError } from './armErrors';

/** An extension resource as saved at park time (storage/parkTable.ts keeps it as is). */
export interface SavedExtension {
  id: string;
  type: string;
  apiVersion: string;
  properties: Record<string, unknown>;
  /** A role assignment for a managed identity of the environment: that resource's id. */
  principalOf?: string;
}

/**
 * What ARM's export-template leaves out and a learner's Implementation work is largely made of: role assignments
 * (a managed identity allowed onto the lake) and diagnostic settings. They are extension resources, read here scope by
 * scope (the group and every exported resource) and PUT back after the restore. A role assignment for a managed
 * identity of the environment names that identity's resource, not its principal id: a re-created resource gets a new
 * principal in Azure, so the morning's assignment is made for the new one.
 */
const ROLE_ASSIGNMENTS = { type: 'Microsoft.Authorization/roleAssignments', apiVersion: '2022-04-01' } as const;
const DIAGNOSTIC_SETTINGS = { type: 'Microsoft.Insights/diagnosticSettings', apiVersion: '2021-05-01-preview' } as const;
const ROLE_FIELDS = ['roleDefinitionId', 'principalId', 'principalType', 'description', 'condition', 'conditionVersion'];

interface ArmItem {
  id?: string;
  identity?: { principalId?: string };
  properties?: Record<string, unknown>;
}

const lower = (s: string) => s.toLowerCase();

/** The ids of the exported template's resources (its names are literal: SkipAllParameterization). */
export function templateResourceIds(template: Record<string, unknown>, subscriptionId: string, rg: string): Array<{ id: string; apiVersion: string }> {
  return ((template.resources ?? []) as Array<Record<string, unknown>>).map((r) => {
    const [ns, ...types] = String(r.type).split('/');
    const names = String(r.name).split('/');
    return { id: `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/${ns}/${types.map((t, i) => `${t}/${names[i]}`).join('/')}`, apiVersion: String(r.apiVersion) };
  });
}

async function principals(clients: ArmClients, scopes: Array<{ id: string; apiVersion: string }>): Promise<Map<string, string>> {
  const byPrincipal = new Map<string, string>();
  for (const s of scopes) {
    const res = await clients.rest.get<ArmItem>(s.id, s.apiVersion);
    const principal = res.status === 200 ? (res.body.identity?.principalId ?? (res.body.properties?.principalId as string | undefined)) : undefined;
    if (principal) byPrincipal.set(lower(principal), s.id);
  }
  return byPrincipal;
}

/** Role assignments made at each scope (not inherited ones) and each resource's diagnostic settings. */
export async function saveExtensions(clients: ArmClients, template: Record<string, unknown>, rg: string): Promise<SavedExtension[]> {
  const resources = templateResourceIds(template, clients.subscriptionId, rg);
  const groupScope = `/subscriptions/${clients.subscriptionId}/resourceGroups/${rg}`;
  const owners = await principals(clients, resources);
  const saved: SavedExtension[] = [];
  for (const scope of [groupScope, ...resources.map((r) => r.id)]) {
    const assignments = (await clients.rest.list<ArmItem>(`${scope}/providers/${ROLE_ASSIGNMENTS.type}`, ROLE_ASSIGNMENTS.apiVersion, { $filter: 'atScope()' })) ?? [];
    for (const a of assignments) {
      if (!a.id || lower(String(a.properties?.scope ?? '')) !== lower(scope)) continue;
      const properties = Object.fromEntries(ROLE_FIELDS.filter((k) => a.properties?.[k] !== undefined).map((k) => [k, a.properties![k]]));
      const owner = owners.get(lower(String(a.properties?.principalId ?? '')));
      saved.push({ id: a.id, ...ROLE_ASSIGNMENTS, properties, ...(owner ? { principalOf: owner } : {}) });
    }
    if (scope === groupScope) continue;
    for (const d of (await clients.rest.list<ArmItem>(`${scope}/providers/${DIAGNOSTIC_SETTINGS.type}`, DIAGNOSTIC_SETTINGS.apiVersion)) ?? []) {
      if (d.id) saved.push({ id: d.id, ...DIAGNOSTIC_SETTINGS, properties: d.properties ?? {} });
    }
  }
  return saved;
}

/** PUT the saved extension resources again; role assignments for the environment's identities go to their new principals. */
export async function restoreExtensions(clients: ArmClients, saved: readonly SavedExtension[], apiVersionOf: (id: string) => string | undefined): Promise<number> {
  const owners = [...new Set(saved.flatMap((e) => (e.principalOf ? [e.principalOf] : [])))];
  const now = new Map<string, string>();
  for (const [principal, id] of await principals(clients, owners.map((id) => ({ id, apiVersion: apiVersionOf(id) ?? '' })))) now.set(lower(id), principal);
  for (const e of saved) {
    const properties = e.principalOf && now.has(lower(e.principalOf)) ? { ...e.properties, principalId: now.get(lower(e.principalOf)) } : e.properties;
    try {
      await clients.resources.resources.createOrUpdateById(e.id, e.apiVersion, { properties }, { updateIntervalInMs: clients.pollIntervalMs }).pollUntilDone();
    } catch (err) {
      // The same principal, role and scope under another name (the foundation made it): already there.
      if ((err as { code?: string }).code === 'RoleAssignmentExists') continue;
      throw new TransientArmError(`restoring ${e.type} ${e.id}: ${(err as Error).message}`, 'ExtensionRestoreFailed');
    }
  }
  return saved.length;
}
