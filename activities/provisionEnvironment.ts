import { randomBytes, randomInt } from 'node:crypto';
import type { DeploymentExtended, DeploymentParameter } from '@azure/arm-resourcesdeployments';
import type { ResourceGroup } from '@azure/arm-resources';
import type { Logger } from 'pino';
import { z } from 'zod';
import { defineActivity } from './activity';
import { appSettings } from '../config';
import type { EnvironmentParameter } from '../scenarios/schema';
import { armClients, armErrorBodyOf, armLogger, sleep, type ArmClients } from '../azure/armClients';
import {
  armFailureOf,
  classifyArmError,
  classifyDeploymentError,
  leafErrors,
  type ArmErrorBody,
  PermanentArmError,
  TransientArmError,
  type FailureContext,
} from '../azure/armErrors';
import { addressSpaceFor, deploymentName, learnerResourceGroupName, namePrefixFor, TAGS } from '../azure/environmentNames';
import { loadPackWithTemplate, type PackWithTemplate } from '../scenarios/packFiles';
import { LearnerSubscriptions, placeLearnerEnvironment, recordPlacementOutcome } from './subscriptionPool';

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export const ProvisionEnvironmentInput = z.object({
  /** Instance id + step. Names the deployment, so every retry of the step finds the same one. */
  idempotencyKey: z.string().min(1).max(400),
  runId: z.string().min(1).max(200),
  learnerId: z.string().min(1).max(200),
  packId: z.string().regex(/^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/, { message: 'packId must be a pack id such as "lakehouse"' }),
  /** Region of the resource group; default: the pack's `location` / `primaryLocation` parameter, then LEARNER_LOCATION. */
  location: z.string().regex(/^[a-z0-9]+$/).optional(),
  /** The learner's place in the cohort (0-based): picks the learner's private address space. */
  cohortIndex: z.number().int().min(0).default(0),
  /** Entra object id of the learner, for packs with a `learnerObjectId` parameter. */
  learnerObjectId: z.string().regex(GUID, { message: 'learnerObjectId must be an Entra object id (GUID)' }).optional(),
  /** Values for the pack's `instructor` / `learner` parameters (their defaults apply otherwise). */
  parameters: z.record(z.string(), z.unknown()).default({}),
  /** When the sweeper may delete the group regardless of the run; default: now + the pack's cost.guard.maxEnvironmentHours. */
  expiresAt: z.string().datetime({ offset: true }).optional(),
  /** Override of the deterministic `ws-<run>-<learner>-<hash>` group name. */
  resourceGroupName: z.string().regex(/^[-\w.()]{1,89}[-\w()]$/, { message: 'resourceGroupName: 1–90 letters, digits, - _ . ( ), not ending in "."' }).optional(),
  /** The run's learner subscriptions (and regions): the environment goes where the placement rule says (subscriptionPool.ts). */
  subscriptions: LearnerSubscriptions.optional(),
});
export type ProvisionEnvironmentInput = z.input<typeof ProvisionEnvironmentInput>;

export interface ProvisionEnvironmentResult {
  /** The learner subscription the environment is in. */
  subscriptionId: string;
  /** Why it went there, when the run has a pool of subscriptions. */
  placement?: { reason: string };
  resourceGroupName: string;
  resourceGroupId: string;
  location: string;
  deploymentName: string;
  deploymentId: string;
  /** Every resource the deployment created or updated (its `outputResources`). */
  resourceIds: string[];
  /** The template's outputs (values only; secure outputs are never returned by ARM). */
  outputs: Record<string, unknown>;
  /** True when an earlier attempt's deployment was found (running or done) and adopted, not started again. */
  adopted: boolean;
  expiresAt: string;
  hourlyCostUsd: number;
}

export interface ProvisionOptions {
  abortSignal?: AbortSignal;
  clients?: ArmClients;
  log?: Logger;
}

const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);
/** The api-version `@azure/arm-resourcesdeployments` speaks, for the one raw call below. */
const DEPLOYMENTS_API_VERSION = '2026-06-01';

/**
 * Creates (or finds) the learner's resource group and runs the pack's ARM deployment in it.
 * Idempotent: the deployment is named from the idempotency key, so a retry after a crash adopts
 * the deployment that is still running (or already done) instead of starting a second one.
 * Throws TransientArmError (retry; "(retry after N s)" when ARM said so) or
 * PermanentArmError (a message for the instructor).
 */
export const provisionEnvironment = defineActivity(ProvisionEnvironmentInput, async function provisionEnvironment(input, _context?: unknown, options: ProvisionOptions = {}): Promise<ProvisionEnvironmentResult> {
  const log = (options.log ?? armLogger()).child({ runId: input.runId, learnerId: input.learnerId, packId: input.packId, key: input.idempotencyKey });
  const settings = appSettings();
  const pack = await loadPackWithTemplate(input.packId);
  const rgName = input.resourceGroupName ?? learnerResourceGroupName(input.runId, input.learnerId);
  const parameters = resolveParameters(pack, input);
  let location = input.location ?? stringParam(parameters, 'location') ?? stringParam(parameters, 'primaryLocation') ?? settings.LEARNER_LOCATION;
  const ctx: FailureContext = { what: `deploying pack "${input.packId}" for learner "${input.learnerId}" (resource group ${rgName})`, location, resourceGroupName: rgName };
  const signal = options.abortSignal;
  const pooled = !options.clients && input.subscriptions !== undefined;
  let clients = options.clients;
  let placement: ProvisionEnvironmentResult['placement'];
  try {
    if (pooled) {
      const place = await placeLearnerEnvironment({
        runId: input.runId,
        learnerId: input.learnerId,
        subscriptions: input.subscriptions!,
        defaultLocation: location,
        template: pack.template,
        writesPerEnvironment: 2 + Object.values(pack.template.resources ?? {}).length,
        resourceGroupName: rgName,
        signal,
        log,
      });
      clients = place.clients;
      placement = { reason: place.reason };
      // The pack's region follows the placement: quotas are per region, so the resources must go where the headroom is.
      const regionParameter = ['location', 'primaryLocation'].find((name) => stringParam(parameters, name) !== undefined);
      if (place.location !== location && regionParameter) parameters[regionParameter] = { value: place.location };
      location = ctx.location = place.location;
    }
    clients ??= armClients(settings);
    const result = await deployEnvironment(clients, pack, input, rgName, location, parameters, ctx, signal, log);
    if (pooled) await recordPlacementOutcome(input.runId, input.learnerId, { ok: true }, log);
    return { ...result, ...(placement ? { placement } : {}) };
  } catch (err) {
    if (signal?.aborted) throw err;
    const classified = err instanceof PermanentArmError || err instanceof TransientArmError ? err : classify(err, ctx);
    log.warn({ err: { name: classified.name, code: classified.code, message: classified.message } }, 'provisioning failed');
    if (pooled && clients) {
      // The failure is what the caller needs; a record that could not be written is only logged.
      await recordPlacementOutcome(input.runId, input.learnerId, { ok: false, throttled: armFailureOf(classified).throttled, error: `${classified.code}: ${classified.message}` }, log).catch((e: unknown) =>
        log.error({ err: { message: (e as Error).message } }, 'could not record the failed placement'),
      );
    }
    throw classified;
  }
});

function classify(err: unknown, ctx: FailureContext): PermanentArmError | TransientArmError {
  const body = armErrorBodyOf(err);
  return classifyArmError(body && !(err as { details?: unknown }).details ? Object.assign(err as object, { details: { error: body } }) : err, ctx);
}

/** The group, then the deployment: adopted when an earlier attempt started it, else started and followed. */
async function deployEnvironment(
  clients: ArmClients,
  pack: PackWithTemplate,
  input: z.infer<typeof ProvisionEnvironmentInput>,
  rgName: string,
  location: string,
  parameters: Record<string, DeploymentParameter>,
  ctx: FailureContext,
  signal: AbortSignal | undefined,
  log: Logger,
): Promise<ProvisionEnvironmentResult> {
  const depName = deploymentName(input.packId, input.idempotencyKey);
  const group = await ensureResourceGroup(clients, rgName, location, pack, input, ctx, log);
  const existing = await getDeployment(clients, rgName, depName, signal);
  let deployment: DeploymentExtended | undefined;
  let adopted = false;
  const state = existing?.properties?.provisioningState?.toLowerCase();
  if (existing && state && !TERMINAL.has(state)) {
    log.info({ deployment: depName, state }, 'adopting the running deployment of an earlier attempt');
    adopted = true;
    deployment = await waitForDeployment(clients, rgName, depName, signal);
  } else if (existing && state === 'succeeded') {
    log.info({ deployment: depName }, 'deployment already succeeded in an earlier attempt');
    adopted = true;
    deployment = existing;
  } else if (existing && state === 'failed') {
    const verdict = classifyDeploymentError(await deploymentError(clients, rgName, depName, existing), ctx);
    if (verdict instanceof PermanentArmError) throw verdict;
    log.warn({ deployment: depName, code: verdict.code }, 'earlier attempt failed transiently; deploying again under the same name');
  }
  if (!deployment) deployment = await startAndPoll(clients, rgName, depName, pack, parameters, ctx, signal, log);

  const finalState = deployment.properties?.provisioningState?.toLowerCase();
  if (finalState !== 'succeeded') {
    if (finalState === 'failed') throw classifyDeploymentError(await deploymentError(clients, rgName, depName, deployment), ctx);
    throw new TransientArmError(`The deployment ended "${deployment.properties?.provisioningState}" while ${ctx.what}; deploying again.`, 'Canceled');
  }
  const result: ProvisionEnvironmentResult = {
    subscriptionId: clients.subscriptionId,
    resourceGroupName: rgName,
    resourceGroupId: group.id ?? `/subscriptions/${clients.subscriptionId}/resourceGroups/${rgName}`,
    location: group.location ?? location,
    deploymentName: depName,
    deploymentId: deployment.id ?? `/subscriptions/${clients.subscriptionId}/resourceGroups/${rgName}/providers/Microsoft.Resources/deployments/${depName}`,
    resourceIds: [...new Set((deployment.properties?.outputResources ?? []).map((r) => r.id).filter((id): id is string => !!id))],
    outputs: outputValues(deployment.properties?.outputs),
    adopted,
    expiresAt: group.tags?.[TAGS.expires] ?? expiryFor(pack, input),
    hourlyCostUsd: pack.pack.environment.hourlyCostUsd,
  };
  log.info({ deployment: depName, subscriptionId: clients.subscriptionId, resources: result.resourceIds.length, adopted }, 'environment provisioned');
  return result;
}

async function ensureResourceGroup(
  clients: ArmClients,
  name: string,
  location: string,
  pack: PackWithTemplate,
  input: z.infer<typeof ProvisionEnvironmentInput>,
  ctx: FailureContext,
  log: Logger,
): Promise<ResourceGroup> {
  const rgs = clients.resources.resourceGroups;
  const existing = await rgs.get(name).catch((err: { statusCode?: number }) => {
    if (err.statusCode === 404) return undefined;
    throw err;
  });
  if (existing?.properties?.provisioningState?.toLowerCase() === 'deleting') {
    throw new TransientArmError(`Resource group ${name} is still being deleted (a teardown of an earlier environment) while ${ctx.what}.`, 'ResourceGroupBeingDeleted', 30);
  }
  if (existing) {
    const tags = existing.tags ?? {};
    if (tags[TAGS.pack] !== undefined && tags[TAGS.pack] !== input.packId) {
      throw new PermanentArmError(
        `Resource group ${name} already holds pack "${tags[TAGS.pack]}", not "${input.packId}": tear the learner's environment down before provisioning another scenario.`,
        'PackMismatch',
      );
    }
    if (tags[TAGS.pack] === input.packId && tags[TAGS.run] === input.runId && tags[TAGS.learner] === input.learnerId) return existing;
  }
  const created = existing?.tags?.[TAGS.created] ?? new Date().toISOString();
  const tags: Record<string, string> = {
    ...(existing?.tags ?? {}),
    [TAGS.pack]: input.packId,
    [TAGS.run]: input.runId,
    [TAGS.learner]: input.learnerId,
    [TAGS.scenario]: pack.pack.title.slice(0, 256),
    [TAGS.created]: created,
    [TAGS.expires]: existing?.tags?.[TAGS.expires] ?? expiryFor(pack, input, created),
    [TAGS.hourlyUsd]: String(pack.pack.environment.hourlyCostUsd),
    [TAGS.budgetUsd]: String(pack.pack.cost.developmentUsd.max),
  };
  log.info({ resourceGroup: name, location }, existing ? 'tagging the existing resource group' : 'creating the resource group');
  return rgs.createOrUpdate(name, { location: existing?.location ?? location, tags });
}

function expiryFor(pack: PackWithTemplate, input: z.infer<typeof ProvisionEnvironmentInput>, from = new Date().toISOString()): string {
  if (input.expiresAt) return new Date(input.expiresAt).toISOString();
  return new Date(new Date(from).getTime() + pack.pack.cost.guard.maxEnvironmentHours * 3_600_000).toISOString();
}

async function getDeployment(clients: ArmClients, rg: string, name: string, abortSignal?: AbortSignal): Promise<DeploymentExtended | undefined> {
  return clients.deployments.deployments.get(rg, name, { abortSignal }).catch((err: { statusCode?: number }) => {
    if (err.statusCode === 404) return undefined;
    throw err;
  });
}

/** PUT the deployment and follow its long-running operation with the SDK poller. */
async function startAndPoll(
  clients: ArmClients,
  rg: string,
  name: string,
  pack: PackWithTemplate,
  parameters: Record<string, DeploymentParameter>,
  ctx: FailureContext,
  abortSignal: AbortSignal | undefined,
  log: Logger,
): Promise<DeploymentExtended> {
  log.info({ deployment: name }, 'starting deployment');
  const poller = clients.deployments.deployments.createOrUpdate(
    rg,
    name,
    { properties: { mode: 'Incremental', template: pack.template, parameters } },
    { abortSignal, updateIntervalInMs: clients.pollIntervalMs },
  );
  try {
    return await poller.pollUntilDone({ abortSignal });
  } catch (err) {
    if (abortSignal?.aborted) throw err;
    // A failed LRO's error keeps only the outer "DeploymentFailed"; the deployment has the detail.
    if (/long-running operation has failed/i.test((err as Error).message ?? '')) {
      const dep = await getDeployment(clients, rg, name, abortSignal);
      if (dep?.properties?.provisioningState?.toLowerCase() === 'failed') throw classifyDeploymentError(await deploymentError(clients, rg, name, dep), ctx);
    }
    throw err;
  }
}

/**
 * A failed deployment's error, with each failed operation's error named by its resource
 * ("Microsoft.Purview/accounts 'wabc123pview': …") — the deployment's own error only says which
 * operation failed in general terms.
 */
async function deploymentError(clients: ArmClients, rg: string, name: string, dep: DeploymentExtended): Promise<ArmErrorBody | undefined> {
  const own = dep.properties?.error;
  try {
    const failedOps: ArmErrorBody[] = [];
    for (const op of await deploymentOperations(clients, rg, name)) {
      const p = op.properties;
      if (p?.provisioningState?.toLowerCase() !== 'failed' || !p.statusMessage?.error) continue;
      const where = p.targetResource?.resourceType ? `${p.targetResource.resourceType} '${p.targetResource.resourceName ?? '?'}': ` : '';
      for (const leaf of leafErrors(p.statusMessage.error)) failedOps.push({ code: leaf.code, message: `${where}${leaf.message ?? ''}` });
    }
    if (failedOps.length > 0) return { code: own?.code ?? 'DeploymentFailed', message: own?.message, details: failedOps };
  } catch {
    // The operations are a nicety; the deployment's own error still classifies the failure.
  }
  return own;
}

type DeploymentOperationLike = { properties?: { provisioningState?: string; statusMessage?: { error?: ArmErrorBody }; targetResource?: { resourceType?: string; resourceName?: string } } };

/** The SDK's list (legacy `/resourcegroups/{rg}/deployments/{name}/operations` route), else the same list by resource id. */
async function deploymentOperations(clients: ArmClients, rg: string, name: string): Promise<DeploymentOperationLike[]> {
  try {
    const ops: DeploymentOperationLike[] = [];
    for await (const op of clients.deployments.deploymentOperations.list(rg, name)) ops.push(op);
    return ops;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    const id = `/subscriptions/${clients.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Resources/deployments/${name}/operations`;
    return (await clients.rest.list<DeploymentOperationLike>(id, DEPLOYMENTS_API_VERSION)) ?? [];
  }
}

/** Follow a deployment started by an earlier attempt (its poller died with that attempt). */
async function waitForDeployment(clients: ArmClients, rg: string, name: string, abortSignal?: AbortSignal): Promise<DeploymentExtended> {
  const interval = clients.pollIntervalMs ?? 5_000;
  for (;;) {
    const dep = await getDeployment(clients, rg, name, abortSignal);
    if (!dep) throw new TransientArmError(`Deployment ${name} disappeared from ${rg} while it was being followed.`, 'DeploymentNotFound');
    if (TERMINAL.has(dep.properties?.provisioningState?.toLowerCase() ?? '')) return dep;
    await sleep(interval, abortSignal);
  }
}

// ─── parameters ──────────────────────────────────────────────────────────────────────────────

/**
 * The pack's template parameters for one learner: fixed values, the engine's generated ones
 * (deterministic where a retry must agree, random for secrets) and instructor/learner values.
 */
export function resolveParameters(pack: PackWithTemplate, input: z.infer<typeof ProvisionEnvironmentInput>): Record<string, DeploymentParameter> {
  const out: Record<string, DeploymentParameter> = {};
  const missing: string[] = [];
  const declared = pack.template.parameters ?? {};
  for (const [name, p] of Object.entries(pack.pack.environment.parameters)) {
    const value = parameterValue(name, p, input);
    if (value !== undefined) out[name] = { value };
    // The template's own defaultValue applies when the engine has nothing (e.g. no learner object id).
    else if (!(declared[name] && 'defaultValue' in declared[name])) missing.push(`${name} (${p.source}: ${p.description})`);
  }
  // Template parameters the pack does not list (e.g. `deployReferenceSolution` for rehearsals) may be set by the run.
  const unknown: string[] = [];
  for (const [name, value] of Object.entries(input.parameters)) {
    if (name in pack.pack.environment.parameters) continue;
    if (name in declared) out[name] = { value };
    else unknown.push(name);
  }
  if (unknown.length > 0) {
    throw new PermanentArmError(
      `The run gives parameter(s) ${unknown.join(', ')} that pack "${input.packId}"'s template does not declare; remove them or fix their names (the template has ${Object.keys(declared).join(', ')}).`,
      'UnknownParameters',
    );
  }
  if (missing.length > 0) {
    throw new PermanentArmError(
      `Pack "${input.packId}" needs values the run did not give for learner "${input.learnerId}": ${missing.join('; ')}. ` +
        'Supply them in the run\'s parameters (or the roster for learnerObjectId) and start the step again.',
      'MissingParameters',
    );
  }
  return out;
}

function parameterValue(name: string, p: EnvironmentParameter, input: z.infer<typeof ProvisionEnvironmentInput>): unknown {
  switch (p.source) {
    case 'fixed':
      return p.value;
    case 'instructor':
    case 'learner':
      return input.parameters[name] ?? p.default;
    case 'generated':
      switch (p.generator) {
        case 'namePrefix':
          return namePrefixFor(input.runId, input.learnerId);
        case 'addressSpace':
          return addressSpaceFor(input.cohortIndex);
        case 'learnerObjectId':
          return input.learnerObjectId ?? input.parameters[name];
        case 'password':
          return password();
        case 'sharedKey':
          return randomBytes(24).toString('base64url').replace(/[-_]/g, 'x');
        default:
          return undefined;
      }
  }
}

/** 20 characters with every class Azure's password rules ask for. */
function password(): string {
  const sets = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789', '!@#%^*-_=+'];
  const chars = sets.flatMap((s) => Array.from({ length: 5 }, () => s[randomInt(s.length)]!));
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}

function stringParam(parameters: Record<string, DeploymentParameter>, name: string): string | undefined {
  const v = parameters[name]?.value;
  return typeof v === 'string' ? v : undefined;
}

function outputValues(outputs: unknown): Record<string, unknown> {
  if (!outputs || typeof outputs !== 'object') return {};
  return Object.fromEntries(
    Object.entries(outputs as Record<string, { type?: string; value?: unknown }>)
      .filter(([, o]) => !/^secure/i.test(o?.type ?? ''))
      .map(([k, o]) => [k, o?.value]),
  );
}
