import type { Logger } from 'pino';
import { z } from 'zod';
import { defineActivity } from './activity';
import { armClients, armClientsFor, armLogger, type ArmClients } from '../azure/armClients';
import { classifyArmError, PermanentArmError, TransientArmError } from '../azure/armErrors';
import { learnerResourceGroupName } from '../azure/environmentNames';
import { readLearnerPark, writeLearnerPark, type LearnerParkRow, type RuntimeAction } from '../storage/parkTable';
import { restoreExtensions, saveExtensions, templateResourceIds } from '../azure/parkExtensions';
import { provisionEnvironment, ProvisionEnvironmentInput } from './provisionEnvironment';
import { clientsForLearner } from './subscriptionPool';
import { teardown } from './teardown';

/**
 * Save & resume across days (issue 15 item 5), the environment's half: at park time the learner's resource group
 * is captured with ARM's own "export template" (every resource as the learner left it — their own
 * Implementation work included — minus secrets, which ARM never exports) and the runtime state a template
 * cannot carry (started Stream Analytics jobs and Data Factory triggers), stored in WorkshopParking, and then
 * the group is deleted: cost stops. The next morning `restoreEnvironment` deploys the pack's foundation again
 * (it carries the secrets the export lacks: passwords are generated afresh), then the exported template over
 * it in incremental mode (the learner's changes win), then replays the runtime actions.
 *
 * Both are idempotent per (run, learner, park number): a re-run after a crash finds the saved export and
 * only finishes the teardown, or finds the environment restored and does nothing.
 */

export const ParkEnvironmentInput = z.object({
  runId: z.string().min(1).max(200),
  learnerId: z.string().min(1).max(200),
  /** The run's park number (WorkshopParking `~run` row): a later park saves afresh. */
  seq: z.number().int().positive(),
  /**
   * False for a learner whose deployment was running at park time: a half-built group is not worth saving; the
   * phase deploys it again from its step the next day. Any export already saved for this park is kept.
   */
  save: z.boolean().default(true),
});
export type ParkEnvironmentInput = z.input<typeof ParkEnvironmentInput>;

export interface ParkEnvironmentResult {
  saved: boolean;
  /** Compute stopped before the delete (SQL pools paused, Stream Analytics jobs stopped). */
  paused: number;
  resources: number;
  /** True when this call deleted the group (false: it was gone already). */
  tornDown: boolean;
}

export interface ParkOptions {
  clients?: ArmClients;
  log?: Logger;
}

/**
 * Runtime state a deployment cannot set (read-only in a template): replayed after the restore with the resource's
 * own action (`restore`), and, for the compute that bills by the hour, stopped before the group is deleted
 * (`pause`) — a Synapse workspace takes many minutes to delete, and a delete that fails leaves nothing running.
 */
const RUNTIME_STATE: Array<{ type: string; path: [string, string]; value: string; restore: RuntimeAction['action']; pause?: string }> = [
  { type: 'microsoft.streamanalytics/streamingjobs', path: ['properties', 'jobState'], value: 'Running', restore: 'start', pause: 'stop' },
  { type: 'microsoft.datafactory/factories/triggers', path: ['properties', 'runtimeState'], value: 'Started', restore: 'start' },
  // A fresh pool is Online: one the learner had paused is paused again; one that was Online is paused for the night.
  { type: 'microsoft.synapse/workspaces/sqlpools', path: ['properties', 'status'], value: 'Paused', restore: 'pause' },
  { type: 'microsoft.synapse/workspaces/sqlpools', path: ['properties', 'status'], value: 'Online', restore: 'start', pause: 'pause' },
];

interface RuntimeResource {
  resourceId: string;
  apiVersion: string;
  rule: (typeof RUNTIME_STATE)[number];
}

function runtimeResources(template: Record<string, unknown>, subscriptionId: string, rg: string): RuntimeResource[] {
  const out: RuntimeResource[] = [];
  for (const r of (template.resources ?? []) as Array<Record<string, unknown>>) {
    const state = (rule: (typeof RUNTIME_STATE)[number]) => (r[rule.path[0]] as Record<string, unknown> | undefined)?.[rule.path[1]];
    const rule = RUNTIME_STATE.find((x) => x.type === String(r.type).toLowerCase() && state(x) === x.value);
    if (!rule) continue;
    const [ns, ...types] = String(r.type).split('/');
    const names = String(r.name).split('/');
    const path = types.map((t, i) => `${t}/${names[i]}`).join('/');
    out.push({ resourceId: `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/${ns}/${path}`, apiVersion: String(r.apiVersion), rule });
  }
  return out;
}

/** What the restore replays: only the non-default states (a pool is created Online, so an Online one needs nothing). */
function runtimeActions(resources: RuntimeResource[]): RuntimeAction[] {
  return resources.filter((r) => !(r.rule.restore === 'start' && r.rule.type.endsWith('sqlpools'))).map((r) => ({ resourceId: r.resourceId, apiVersion: r.apiVersion, action: r.rule.restore }));
}

/** Stop the hourly compute before the delete; a failure is logged (the delete follows and ends the cost anyway). */
async function pauseCompute(clients: ArmClients, resources: RuntimeResource[], log: Logger): Promise<number> {
  let paused = 0;
  for (const r of resources) {
    if (!r.rule.pause) continue;
    const res = await clients.rest.post(`${r.resourceId}/${r.rule.pause}`, r.apiVersion).catch((err: Error) => ({ status: 0, body: err.message }));
    if (res.status >= 200 && res.status < 300) paused++;
    else log.warn({ resourceId: r.resourceId, status: res.status, body: JSON.stringify(res.body).slice(0, 300) }, `park: could not ${r.rule.pause} before the delete`);
  }
  return paused;
}

async function exportGroup(clients: ArmClients, rg: string, log: Logger): Promise<{ template: Record<string, unknown>; notExported: string[] }> {
  const result = await clients.resources.resourceGroups.exportTemplate(rg, { resources: ['*'], options: 'SkipAllParameterization' }, { updateIntervalInMs: clients.pollIntervalMs }).pollUntilDone();
  if (!result.template) throw new TransientArmError(`ARM returned no template for resource group ${rg}${result.error ? `: ${result.error.message}` : ''}; try again.`, 'ExportTemplateFailed');
  const notExported = (result.error?.details ?? []).map((d) => d.target ?? d.message ?? '?');
  if (notExported.length) log.warn({ resourceGroup: rg, notExported }, 'park: ARM did not export some resources (extension resources); they are not restored');
  return { template: result.template, notExported };
}

/** Save the learner's environment (unless told not to) and delete it. */
export const parkEnvironment = defineActivity(ParkEnvironmentInput, async function parkEnvironment(input, _context?: unknown, options: ParkOptions = {}): Promise<ParkEnvironmentResult> {
  const { runId, learnerId, seq } = input;
  const log = (options.log ?? armLogger()).child({ runId, learnerId, park: seq });
  const rgName = learnerResourceGroupName(runId, learnerId);
  const clients = options.clients ?? (await clientsForLearner(runId, learnerId, () => armClients()));
  const before = await readLearnerPark(runId, learnerId);
  const mine = before?.seq === seq ? before : undefined;
  let row: LearnerParkRow = mine ?? { seq, state: 'parked', saved: false, parkedAt: new Date().toISOString() };
  try {
    const rg = await clients.resources.resourceGroups.get(rgName).catch((err: { statusCode?: number }) => {
      if (err.statusCode === 404) return undefined;
      throw err;
    });
    if (rg && input.save && !row.saved) {
      const { template, notExported } = await exportGroup(clients, rgName, log);
      const resources = ((template.resources ?? []) as unknown[]).length;
      const runtime = runtimeResources(template, clients.subscriptionId, rgName);
      const extensions = await saveExtensions(clients, template, rgName);
      const kept = new Set(extensions.map((e) => e.id.toLowerCase()));
      // What neither the export nor the extension read kept: named in the parking report.
      const lost = notExported.filter((id) => !kept.has(id.toLowerCase()));
      row = { ...row, state: 'saving', saved: true, subscriptionId: clients.subscriptionId, resourceGroup: rgName, location: rg.location, template, actions: runtimeActions(runtime), extensions, resources, notExported: lost };
      // Saved before the delete: a crash between the two finds the export and only deletes.
      await writeLearnerPark(runId, learnerId, row);
      row.paused = await pauseCompute(clients, runtime, log);
    }
    const down = rg ? await teardown({ runId, learnerId, reason: `parked (park ${seq})` }, undefined, { clients, log }) : undefined;
    row = { ...row, state: 'parked', tornDown: row.tornDown || (down?.deleted ?? false) };
    await writeLearnerPark(runId, learnerId, row);
    log.info({ saved: row.saved, resources: row.resources ?? 0, paused: row.paused ?? 0, tornDown: down?.deleted ?? false }, 'park: environment saved and torn down');
    return { saved: row.saved, paused: row.paused ?? 0, resources: row.resources ?? 0, tornDown: down?.deleted ?? false };
  } catch (err) {
    if (err instanceof PermanentArmError || err instanceof TransientArmError) throw err;
    throw classifyArmError(err, { what: `parking the environment of learner "${learnerId}" (resource group ${rgName})`, resourceGroupName: rgName });
  }
});

export const RestoreEnvironmentInput = ProvisionEnvironmentInput.extend({ seq: z.number().int().positive() });
export type RestoreEnvironmentInput = z.input<typeof RestoreEnvironmentInput>;

export interface RestoreEnvironmentResult {
  restored: boolean;
  resources: number;
  /** Wall time of this restore (foundation + saved template + actions), ms; 0 when nothing was restored. */
  ms: number;
}

/** Deploy the saved template into a fresh group and replay the runtime actions: the state the learner parked with. */
async function deploySaved(clients: ArmClients, rg: string, seq: number, saved: LearnerParkRow, log: Logger): Promise<void> {
  const name = `park-restore-${seq}`;
  // The morning's placement may pick another subscription (or group name): the saved ids follow it.
  const row = rebase(rebase(saved, `/subscriptions/${saved.subscriptionId}/`, `/subscriptions/${clients.subscriptionId}/`), `/resourceGroups/${saved.resourceGroup}/`, `/resourceGroups/${rg}/`);
  log.info({ deployment: name, resources: row.resources, extensions: row.extensions?.length ?? 0 }, 'restore: deploying the saved template');
  await clients.deployments.deployments.createOrUpdate(rg, name, { properties: { mode: 'Incremental', template: row.template! } }, { updateIntervalInMs: clients.pollIntervalMs }).pollUntilDone();
  const versions = new Map(templateResourceIds(row.template!, clients.subscriptionId, rg).map((r) => [r.id.toLowerCase(), r.apiVersion]));
  await restoreExtensions(clients, row.extensions ?? [], (id) => versions.get(id.toLowerCase()));
  for (const a of row.actions ?? []) {
    const res = await clients.rest.post(`${a.resourceId}/${a.action}`, a.apiVersion);
    if (res.status >= 300) throw new TransientArmError(`POST ${a.resourceId}/${a.action} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`, 'RuntimeActionFailed');
  }
}

/** The saved state with every id moved from one subscription (or group) to another: a JSON text replace, case-insensitive. */
function rebase<T>(value: T, from: string, to: string): T {
  if (from.toLowerCase() === to.toLowerCase()) return value;
  const escaped = from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return JSON.parse(JSON.stringify(value).replace(new RegExp(escaped, 'gi'), to)) as T;
}

/** Restore the learner's parked environment; a learner with nothing saved for this park gets nothing (restored: false). */
export const restoreEnvironment = defineActivity(RestoreEnvironmentInput, async function restoreEnvironment(input, context?: unknown, options: ParkOptions = {}): Promise<RestoreEnvironmentResult> {
  const { runId, learnerId, seq } = input;
  const log = (options.log ?? armLogger()).child({ runId, learnerId, park: seq });
  const row = await readLearnerPark(runId, learnerId);
  if (!row || row.seq !== seq || !row.saved || !row.template) return { restored: false, resources: 0, ms: 0 };
  if (row.state === 'restored') return { restored: true, resources: row.restoredResources ?? 0, ms: row.restoreMs ?? 0 };
  const started = Date.now();
  await writeLearnerPark(runId, learnerId, { ...row, state: 'restoring' });
  const { seq: _seq, ...provision } = input;
  const rgName = learnerResourceGroupName(runId, learnerId);
  try {
    // The foundation, under its own key (a retry adopts it): the secrets the export cannot carry, the group's cost tags.
    const env = await provisionEnvironment({ ...provision, idempotencyKey: `${runId}:${learnerId}:restore:${seq}` }, context, options.clients ? { clients: options.clients } : {});
    const clients = options.clients ?? armClientsFor(env.subscriptionId);
    await deploySaved(clients, env.resourceGroupName, seq, row, log);
    const ms = Date.now() - started;
    await writeLearnerPark(runId, learnerId, { ...row, state: 'restored', restoredAt: new Date().toISOString(), restoreMs: ms, restoredResources: row.resources ?? 0 });
    log.info({ resources: row.resources, ms }, 'restore: environment restored');
    return { restored: true, resources: row.resources ?? 0, ms };
  } catch (err) {
    if (err instanceof PermanentArmError || err instanceof TransientArmError) throw err;
    throw classifyArmError(err, { what: `restoring the parked environment of learner "${learnerId}" (resource group ${rgName})`, resourceGroupName: rgName });
  }
});
