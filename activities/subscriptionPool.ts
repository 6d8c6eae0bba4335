import type { Logger } from 'pino';
import { z } from 'zod';
import { appTable } from '../storage/appTables';
import type { TablePort } from '../storage/tables';
import { armClientsFor, lastWriteBudget, type ArmClients } from '../azure/armClients';
import { PermanentArmError, TransientArmError } from '../azure/armErrors';
import { notify } from './notify';
import { drainReason, environmentsThatFit, placeEnvironment, type PlacementCandidate, type PlacementDecision, type QuotaHeadroom, type SubscriptionHealth } from '../azure/placement';
import { isStatus, packJson, unpackJson } from '../storage/workshopTables';

/**
 * A run's pool of learner subscriptions, the I/O around the placement rule (placement.ts): the headroom of
 * each subscription and region, read where Azure exposes it (the providers' "Usages - List" APIs, through
 * the same ARM pipeline as the deployments) or counted against the run's configured limits; what the run
 * remembers of each subscription (failures in a row, the last 429, environments placed); and where each
 * learner's environment went, so a retry, the checks and the teardown find it.
 *
 * The run's record is one row of the `LearnerPlacements` table (PartitionKey runId, RowKey "pool"), written
 * with its ETag: two placements at the same moment (in one process or two) cannot both take the last unit
 * of a quota; the loser reads the row again and places with the other's reservation counted. A placement
 * whose deployment has not finished reserves its environment's need on top of what the usage APIs count
 * (its resources are not there yet); finished, its resources are counted by the usage APIs instead.
 */
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export const LearnerSubscription = z.object({
  subscriptionId: z.string().regex(GUID, { message: 'subscriptionId must be a subscription GUID' }),
  locations: z.array(z.string().regex(/^[a-z0-9]+$/, { message: 'locations are region names such as "westeurope"' })).min(1).max(20).optional(),
  /** Limits of resource types with no usage API in Azure, e.g. { "Microsoft.DocumentDB/databaseAccounts": 50 }. */
  quotas: z.record(z.string().regex(/^[A-Za-z0-9.]+\/[A-Za-z0-9/]+$/, { message: 'quota keys are resource types such as Microsoft.DocumentDB/databaseAccounts' }), z.number().int().min(0)).optional(),
});
export type LearnerSubscription = z.infer<typeof LearnerSubscription>;
export const LearnerSubscriptions = z
  .array(LearnerSubscription)
  .min(1)
  .max(50)
  .refine((subs) => new Set(subs.map((s) => s.subscriptionId.toLowerCase())).size === subs.length, { message: 'a subscription is listed twice' });

export const PLACEMENTS_TABLE = 'LearnerPlacements';
const POOL_ROW = 'pool';

/**
 * Azure's usage counters for the resource types the packs deploy: the provider whose
 * `locations/{loc}/usages` lists it and the usage's `name.value`.
 */
const USAGE_COUNTERS: Record<string, { provider: string; name: string; apiVersion: string }> = {
  'microsoft.storage/storageaccounts': { provider: 'Microsoft.Storage', name: 'StorageAccounts', apiVersion: '2023-05-01' },
  'microsoft.network/virtualnetworks': { provider: 'Microsoft.Network', name: 'VirtualNetworks', apiVersion: '2024-05-01' },
  'microsoft.network/publicipaddresses': { provider: 'Microsoft.Network', name: 'PublicIPAddresses', apiVersion: '2024-05-01' },
  'microsoft.containerinstance/containergroups': { provider: 'Microsoft.ContainerInstance', name: 'ContainerGroups', apiVersion: '2023-05-01' },
};

export interface Placement {
  subscriptionId: string;
  location: string;
  /** ISO. */
  placedAt: string;
  status: 'deploying' | 'ready' | 'failed';
  /** Units of each quota this environment takes (reserved while it deploys). */
  need: Record<string, number>;
  reason: string;
}

interface PoolState {
  subscriptions: Record<string, SubscriptionHealth & { drainedAt?: string; drainReason?: string }>;
  placements: Record<string, Placement>;
}

async function placementsTable(): Promise<TablePort> {
  return appTable(PLACEMENTS_TABLE);
}

async function readPool(runId: string): Promise<{ state: PoolState; etag?: string }> {
  const table = await placementsTable();
  try {
    const row = await table.getEntity<Record<string, unknown>>(runId, POOL_ROW);
    return { state: unpackJson<PoolState>('Pool', row) ?? { subscriptions: {}, placements: {} }, etag: row.etag as string | undefined };
  } catch (err) {
    if (isStatus(err, 404)) return { state: { subscriptions: {}, placements: {} } };
    throw err;
  }
}

/** Write the pool row if nobody changed it since `etag` was read; false when somebody did (read again). */
async function writePool(runId: string, state: PoolState, etag: string | undefined): Promise<boolean> {
  const table = await placementsTable();
  const entity = { partitionKey: runId, rowKey: POOL_ROW, ...packJson('Pool', state) };
  try {
    if (etag === undefined) await table.createEntity(entity);
    else await table.updateEntity(entity, 'Replace', { etag });
    return true;
  } catch (err) {
    if (isStatus(err, 409, 412)) return false;
    throw err;
  }
}

/** Read-modify-write of the pool row, retried when another writer got there first. */
async function updatePool<T>(runId: string, change: (state: PoolState) => T): Promise<T> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const { state, etag } = await readPool(runId);
    const result = change(state);
    if (await writePool(runId, state, etag)) return result;
  }
  throw new TransientArmError(`The learner placements of run ${runId} kept changing under this write (50 tries); trying the step again.`, 'PlacementContention', 1);
}

/** Where the learner's environment is (its subscription), when the run placed it; undefined = LEARNER_SUBSCRIPTION_ID. */
export async function placementOf(runId: string, learnerId: string): Promise<Placement | undefined> {
  return (await readPool(runId)).state.placements[learnerId];
}

/** Clients for the subscription holding the learner's environment (the run's placement, else LEARNER_SUBSCRIPTION_ID). */
export async function clientsForLearner(runId: string | undefined, learnerId: string | undefined, fallback: () => ArmClients): Promise<ArmClients> {
  if (!runId || !learnerId) return fallback();
  const placed = await placementOf(runId, learnerId);
  return placed ? armClientsFor(placed.subscriptionId) : fallback();
}

/** Every learner subscription any run placed an environment in (the sweeper looks there too). */
export async function poolSubscriptionIds(): Promise<string[]> {
  const table = await placementsTable();
  const ids = new Set<string>();
  for await (const row of table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `RowKey eq '${POOL_ROW}'` } })) {
    const state = unpackJson<PoolState>('Pool', row);
    for (const p of Object.values(state?.placements ?? {})) ids.add(p.subscriptionId.toLowerCase());
    for (const id of Object.keys(state?.subscriptions ?? {})) ids.add(id.toLowerCase());
  }
  return [...ids];
}

/** After a teardown: the learner has no environment in the pool any more (no write when the run has no pool). */
export async function forgetPlacement(runId: string, learnerId: string): Promise<void> {
  if (!(await placementOf(runId, learnerId))) return;
  await updatePool(runId, (state) => {
    delete state.placements[learnerId];
  });
}

// ─── what one environment needs ──────────────────────────────────────────────────────────────

type TemplateResource = { type?: unknown; resources?: unknown; copy?: { count?: unknown } };

/** Resources of each (lower-case) type one deployment of the template creates; a copy loop counts its literal count, else 1. */
export function environmentNeed(template: { resources?: unknown }): Record<string, number> {
  const need: Record<string, number> = {};
  const walk = (resources: unknown, parent?: string) => {
    const list = Array.isArray(resources) ? resources : resources && typeof resources === 'object' ? Object.values(resources) : [];
    for (const r of list as TemplateResource[]) {
      if (typeof r?.type !== 'string') continue;
      const type = (parent && !r.type.includes('/') ? `${parent}/${r.type}` : r.type).toLowerCase();
      const count = typeof r.copy?.count === 'number' ? r.copy.count : 1;
      need[type] = (need[type] ?? 0) + count;
      walk(r.resources, type);
    }
  };
  walk(template.resources);
  return need;
}

// ─── headroom ────────────────────────────────────────────────────────────────────────────────

type UsageItem = { name?: { value?: string }; currentValue?: number; limit?: number };

/** The quotas one environment would take in this subscription and region, with their limits and usage. */
async function readHeadroom(clients: ArmClients, sub: LearnerSubscription, location: string, need: Record<string, number>, signal?: AbortSignal): Promise<QuotaHeadroom[]> {
  const out: QuotaHeadroom[] = [];
  const byProvider = new Map<string, Array<{ type: string; counter: (typeof USAGE_COUNTERS)[string] }>>();
  for (const type of Object.keys(need)) {
    const counter = USAGE_COUNTERS[type];
    if (counter) byProvider.set(counter.provider, [...(byProvider.get(counter.provider) ?? []), { type, counter }]);
  }
  for (const [provider, wanted] of byProvider) {
    const path = `/subscriptions/${sub.subscriptionId}/providers/${provider}/locations/${location}/usages`;
    const items = (await clients.rest.list<UsageItem>(path, wanted[0].counter.apiVersion, {}, signal)) ?? [];
    for (const { type, counter } of wanted) {
      const item = items.find((i) => i.name?.value?.toLowerCase() === counter.name.toLowerCase());
      if (item && typeof item.limit === 'number') out.push({ quota: counter.name, limit: item.limit, used: item.currentValue ?? 0, need: need[type], source: 'usage-api' });
    }
  }
  for (const [type, limit] of Object.entries(sub.quotas ?? {})) {
    const units = need[type.toLowerCase()];
    if (!units) continue;
    const listed = (await clients.rest.list<{ location?: string }>(`/subscriptions/${sub.subscriptionId}/resources`, '2025-04-01', { $filter: `resourceType eq '${type}'` }, signal)) ?? [];
    const used = listed.filter((r) => (r.location ?? '').replace(/\s+/g, '').toLowerCase() === location).length;
    out.push({ quota: type, limit, used, need: units, source: 'configured' });
  }
  return out;
}

/** Units the run's unfinished placements hold in this subscription and region, per quota name. */
function reservedBy(state: PoolState, subscriptionId: string, location: string): Record<string, number> {
  const held: Record<string, number> = {};
  for (const p of Object.values(state.placements)) {
    if (p.status !== 'deploying' || p.subscriptionId.toLowerCase() !== subscriptionId.toLowerCase() || p.location !== location) continue;
    for (const [quota, n] of Object.entries(p.need)) held[quota] = (held[quota] ?? 0) + n;
  }
  return held;
}

interface Observed {
  sub: LearnerSubscription;
  location: string;
  quotas: QuotaHeadroom[];
  unavailable?: string;
}

/** Every (subscription, region) of the pool with its headroom, read once per placement. */
async function observe(subs: LearnerSubscription[], defaultLocation: string, need: Record<string, number>, signal: AbortSignal | undefined, log: Logger): Promise<Observed[]> {
  const out: Observed[] = [];
  for (const sub of subs) {
    const clients = armClientsFor(sub.subscriptionId);
    for (const location of sub.locations ?? [defaultLocation]) {
      try {
        out.push({ sub, location, quotas: await readHeadroom(clients, sub, location, need, signal) });
      } catch (err) {
        if (signal?.aborted) throw err;
        const message = (err as Error).message;
        log.warn({ subscriptionId: sub.subscriptionId, location, err: { message } }, 'could not read the quotas of a learner subscription');
        out.push({ sub, location, quotas: [], unavailable: `could not read its quotas: ${message.slice(0, 200)}` });
      }
    }
  }
  return out;
}

function candidates(observed: Observed[], state: PoolState): PlacementCandidate[] {
  return observed.map((o) => {
    const held = reservedBy(state, o.sub.subscriptionId, o.location);
    const health = state.subscriptions[o.sub.subscriptionId.toLowerCase()] ?? { consecutiveFailures: 0, placed: 0 };
    const writes = lastWriteBudget(o.sub.subscriptionId);
    return {
      subscriptionId: o.sub.subscriptionId,
      location: o.location,
      quotas: o.quotas.map((q) => ({ ...q, used: q.used + (held[q.quota] ?? 0) })),
      health,
      ...(writes !== undefined ? { writesRemaining: writes } : {}),
      ...(o.unavailable ? { unavailable: o.unavailable } : {}),
    };
  });
}

// ─── placing and recording ───────────────────────────────────────────────────────────────────

export interface PlaceRequest {
  runId: string;
  learnerId: string;
  subscriptions: LearnerSubscription[];
  /** The region when a subscription names none (the pack's location). */
  defaultLocation: string;
  template: { resources?: unknown };
  /** ARM writes one environment costs, against the reported write budget. */
  writesPerEnvironment: number;
  /** The resource group name: an environment an earlier attempt created is found by it. */
  resourceGroupName: string;
  signal?: AbortSignal;
  log: Logger;
}

export interface PlaceResult {
  subscriptionId: string;
  location: string;
  clients: ArmClients;
  /** The decision, when this call placed the environment (not when an earlier attempt had). */
  decision?: PlacementDecision;
  reason: string;
}

/**
 * Where the learner's environment goes: where an earlier attempt put it (the run's record, or a resource
 * group of that name found in one of the subscriptions), else where the placement rule says, reserved in
 * the run's record before the deployment starts.
 */
export async function placeLearnerEnvironment(req: PlaceRequest): Promise<PlaceResult> {
  const earlier = await findEarlier(req);
  if (earlier) return earlier;
  const need = environmentNeed(req.template);
  const observed = await observe(req.subscriptions, req.defaultLocation, need, req.signal, req.log);
  const now = new Date().toISOString();
  const decided = await updatePool(req.runId, (state) => {
    const known = state.placements[req.learnerId];
    if (known && keeps(state, known)) return { known };
    const decision = placeEnvironment(candidates(observed, state), { now, writesPerEnvironment: req.writesPerEnvironment });
    if (!decision.choice) return { decision };
    const choice = decision.choice;
    const quotaNeed = Object.fromEntries(observed.find((o) => o.sub.subscriptionId === choice.subscriptionId && o.location === choice.location)!.quotas.map((q) => [q.quota, q.need]));
    state.placements[req.learnerId] = { subscriptionId: choice.subscriptionId, location: choice.location, placedAt: now, status: 'deploying', need: quotaNeed, reason: choice.why };
    const health = (state.subscriptions[choice.subscriptionId.toLowerCase()] ??= { consecutiveFailures: 0, placed: 0 });
    health.placed++;
    return { decision };
  });
  if ('known' in decided && decided.known) return placed(decided.known, undefined);
  const decision = decided.decision!;
  await tellInstructorOfDrains(req.runId, decision, req.log);
  if (!decision.choice) {
    req.log.warn({ ranked: decision.ranked }, 'no learner subscription can take the environment');
    if (decision.ranked.length > 0 && decision.ranked.every((r) => r.why.startsWith('drained'))) throw new PermanentArmError(decision.refusal!, 'AllSubscriptionsDrained');
    throw new TransientArmError(decision.refusal!, 'NoSubscriptionHeadroom', 60);
  }
  req.log.info(
    { subscriptionId: decision.choice.subscriptionId, location: decision.choice.location, reason: decision.choice.why, ranked: decision.ranked.map((r) => `${r.subscriptionId}/${r.location}: ${r.why}`) },
    'environment placed',
  );
  return placed({ subscriptionId: decision.choice.subscriptionId, location: decision.choice.location, reason: decision.choice.why }, decision);
}

function placed(p: Pick<Placement, 'subscriptionId' | 'location' | 'reason'>, decision: PlacementDecision | undefined): PlaceResult {
  return { subscriptionId: p.subscriptionId, location: p.location, clients: armClientsFor(p.subscriptionId), reason: p.reason, ...(decision ? { decision } : {}) };
}

/** A placement to keep: anything but a failed one in a subscription drained since (the learner moves on; its old group stays for the sweeper). */
function keeps(state: PoolState, p: Placement | undefined): boolean {
  return p !== undefined && !(p.status === 'failed' && state.subscriptions[p.subscriptionId.toLowerCase()]?.drainedAt);
}

async function findEarlier(req: PlaceRequest): Promise<PlaceResult | undefined> {
  const { state } = await readPool(req.runId);
  const known = state.placements[req.learnerId];
  if (known && keeps(state, known)) {
    // Deploying again where it failed: its need is reserved again until this attempt ends.
    if (known.status === 'failed') {
      await updatePool(req.runId, (fresh) => {
        const p = fresh.placements[req.learnerId];
        if (p?.status === 'failed') p.status = 'deploying';
      });
    }
    return placed(known, undefined);
  }
  if (known) req.log.warn({ subscriptionId: known.subscriptionId }, 'the environment failed in a subscription drained since; placing it elsewhere (its old resource group is left to the sweeper)');
  // A crash between creating the group and recording the placement: the group says where it went.
  for (const sub of req.subscriptions) {
    if (state.subscriptions[sub.subscriptionId.toLowerCase()]?.drainedAt) continue;
    const clients = armClientsFor(sub.subscriptionId);
    const rg = await clients.resources.resourceGroups.get(req.resourceGroupName, { abortSignal: req.signal }).catch((err: { statusCode?: number }) => {
      if (err.statusCode === 404) return undefined;
      throw err;
    });
    if (!rg) continue;
    const location = rg.location ?? req.defaultLocation;
    const p: Placement = { subscriptionId: sub.subscriptionId, location, placedAt: new Date().toISOString(), status: 'deploying', need: {}, reason: 'its resource group was already there (an earlier attempt)' };
    await updatePool(req.runId, (fresh) => {
      if (!keeps(fresh, fresh.placements[req.learnerId])) fresh.placements[req.learnerId] = p;
    });
    return placed(p, undefined);
  }
  return undefined;
}

/** The instructor hears once per subscription that it was drained, and why. */
async function tellInstructorOfDrains(runId: string, decision: PlacementDecision, log: Logger): Promise<void> {
  for (const d of decision.drained) {
    log.warn({ subscriptionId: d.subscriptionId, reason: d.reason }, 'learner subscription drained');
    await notify({ runId, key: `${runId}:subscription-drained:${d.subscriptionId.toLowerCase()}`, to: { role: 'instructor' }, kind: 'subscriptionDrained', body: { subscriptionId: d.subscriptionId, reason: d.reason } });
  }
}

export type PlacementOutcome = { ok: true } | { ok: false; throttled: boolean; error: string };

/** After the deployment: the placement is ready or failed, and the subscription's record learns how it went. */
export async function recordPlacementOutcome(runId: string, learnerId: string, outcome: PlacementOutcome, log: Logger): Promise<void> {
  const newlyDrained = await updatePool(runId, (state) => {
    const p = state.placements[learnerId];
    if (!p) return undefined;
    const key = p.subscriptionId.toLowerCase();
    const health = (state.subscriptions[key] ??= { consecutiveFailures: 0, placed: 0 });
    if (outcome.ok) {
      p.status = 'ready';
      health.consecutiveFailures = 0;
      return undefined;
    }
    if (outcome.throttled) {
      health.lastThrottledAt = new Date().toISOString();
      return undefined;
    }
    // The learner's next attempt goes to the same place (its resource group is there, as with one subscription);
    // a subscription that keeps failing takes no new environments (drained), and the instructor is told.
    p.status = 'failed';
    health.consecutiveFailures++;
    health.lastError = outcome.error.slice(0, 500);
    const reason = drainReason(health);
    if (!reason || health.drainedAt) return undefined;
    health.drainedAt = new Date().toISOString();
    health.drainReason = reason;
    return { subscriptionId: p.subscriptionId, reason };
  });
  if (newlyDrained) await tellInstructorOfDrains(runId, { ranked: [], drained: [newlyDrained] }, log);
}

/** The pool's record for a run: where every learner went and each subscription's health (for reports and tests). */
export async function poolOf(runId: string): Promise<PoolState> {
  return (await readPool(runId)).state;
}

// ─── capacity, before a run starts ───────────────────────────────────────────────────────────

export interface PoolCapacity {
  /** More environments of the template the places hold now, summed (Infinity when no quota applies anywhere). */
  fits: number;
  /** Each place read, with its count and the quotas behind it in words. */
  places: Array<{ subscriptionId: string; location: string; fits: number; why: string }>;
  /** Places whose quotas could not be read, and why (left out of `fits`). */
  unread: string[];
}

/**
 * How many more environments of `template` the subscriptions' quotas hold now, read the way a placement reads
 * them (the usage APIs, else the configured limits counted against the resources list). A drained or throttled
 * subscription still counts: capacity is about quotas, not health.
 */
export async function poolCapacity(subs: LearnerSubscription[], defaultLocation: string, template: { resources?: unknown }, log: Logger, signal?: AbortSignal): Promise<PoolCapacity> {
  const observed = await observe(subs, defaultLocation, environmentNeed(template), signal, log);
  const out: PoolCapacity = { fits: 0, places: [], unread: [] };
  for (const o of observed) {
    if (o.unavailable) {
      out.unread.push(`${o.sub.subscriptionId}/${o.location}: ${o.unavailable}`);
      continue;
    }
    const fits = environmentsThatFit(o.quotas);
    const why = o.quotas.length ? o.quotas.map((q) => `${q.quota} ${q.used}/${q.limit} used, ${q.need} per environment`).join('; ') : 'no quota applies';
    out.fits += fits;
    out.places.push({ subscriptionId: o.sub.subscriptionId, location: o.location, fits, why });
  }
  return out;
}
