/**
 * Microsoft.Resources/deployments at resource-group scope, as ARM runs them:
 *  - PUT validates the template first (400 InvalidTemplate / InvalidTemplateDeployment, nothing
 *    deployed), then answers 201 with provisioningState Accepted and an `Azure-AsyncOperation` URL;
 *    the deployment goes Accepted → Running → Succeeded | Failed | Canceled in the background.
 *  - A PUT for a deployment that is still Accepted/Running is refused with 409 `DeploymentActive`,
 *    exactly as ARM does; a caller that retries adopts the running deployment by GETting it (or polling
 *    its operation status) instead of starting another. A PUT for a finished deployment re-runs it.
 *  - GET / HEAD / DELETE a deployment, list a group's deployments, `validate`, `cancel`,
 *    `exportTemplate`, `operations` (one per resource) and `operationStatuses/{id}`.
 * Resources are written through the same code as a REST PUT, so provider behaviour is identical.
 * Deployments Running when the emulator stops carry on from the start (resources are PUT again —
 * idempotent) when it starts again on the same storage.
 */
import { randomUUID } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ArmError, invalidTemplate, toErrorBody, type ArmErrorBody } from './errors';
import { methodNotAllowed, normaliseLocation, type EmulatorEnv, type Reply, type RequestContext } from './emulator';
import type { Json } from './expressions';
import { groupId, lower, parseResourceId } from './ids';
import type { ResourceService } from './resources';
import { checkPlanLimits, checkTemplateShape } from './limits';
import { provisionDelayMs } from './durations';
import type { QuotaBook } from './quotas';
import type { DeploymentRecord, GroupRecord } from './store';
import { NotReady, TemplateError, outputType, prepareTemplate, type Plan, type PlannedResource, type RuntimeHooks } from './template';

const ACTIVE = new Set(['Accepted', 'Running']);
const DEPLOYMENT_NAME = /^[-\w._()]{1,64}$/;
const TEMPLATE_ONLY = new Set(['type', 'name', 'apiversion', 'dependson', 'condition', 'copy', 'scope', 'comments', 'metadata']);

type Outcome = 'succeeded' | 'failed' | 'skipped' | 'aborted';

interface Run {
  id: string;
  done: Promise<void>;
  cancel: boolean;
  wake: Set<() => void>;
}

/** One run of a deployment's resources: what each resource waits on and how each settled. */
interface Execution {
  id: string;
  operationId: string;
  plan: Plan;
  rg: GroupRecord;
  run: Run;
  stopped: () => boolean;
  outcomes: Map<string, Promise<Outcome>>;
  settled: Map<string, Outcome>;
  /** Each resource's dependencies, declared and found (a reference() to a resource not yet deployed). */
  waits: Map<string, Set<string>>;
  errors: ArmErrorBody[];
  byKey: Map<string, PlannedResource>;
}

export class DeploymentService {
  private readonly runs = new Map<string, Run>();
  private paused = false;
  /** Creates past their quota check and not yet written: they hold a unit, so a racing create cannot take it too. */
  private readonly reserved = new Map<string, { id: string; type: string; location: string }>();

  constructor(
    private readonly env: EmulatorEnv,
    private readonly resources: ResourceService,
  ) {}

  async handle(ctx: RequestContext, rg: GroupRecord, segs: string[]): Promise<Reply> {
    const { method } = ctx;
    if (segs.length === 0) {
      if (method !== 'GET') throw methodNotAllowed(method);
      const rgKey = lower(rg.name);
      return { status: 200, body: { value: [...this.env.store.deployments.values()].filter((d) => lower(d.resourceGroup) === rgKey).map((d) => d.body) } };
    }
    const name = segs[0];
    const id = `${groupId(this.env.subscriptionId, rg.name)}/providers/Microsoft.Resources/deployments/${name}`;
    const rec = this.env.store.deployments.get(lower(id));
    const sub = segs[1] === undefined ? undefined : lower(segs[1]);
    if (sub === undefined) {
      switch (method) {
        case 'PUT':
          return this.put(ctx, rg, name, id);
        case 'GET':
          return { status: 200, body: this.require(rec, name).body };
        case 'HEAD':
          return { status: rec ? 204 : 404 };
        case 'DELETE': {
          if (!rec) return { status: 204 };
          if (ACTIVE.has(rec.body.properties.provisioningState)) throw deploymentActive(rec);
          await this.env.store.deleteDeployment(rec.id);
          return { status: 200 };
        }
        default:
          throw methodNotAllowed(method);
      }
    }
    if (sub === 'validate' && method === 'POST') return this.validate(ctx, rg, name, id);
    if (sub === 'whatif') throw new ArmError(400, 'NotSupported', 'whatIf is not supported by the local ARM emulator; use validate.');
    const d = this.require(rec, name);
    if (sub === 'operationstatuses' && segs.length === 3 && method === 'GET') {
      const status = d.body.properties.provisioningState;
      const body: Record<string, unknown> = { status };
      if (d.body.properties.error) body.error = d.body.properties.error;
      return { status: 200, body, headers: ACTIVE.has(status) ? { 'Retry-After': '0' } : {} };
    }
    if (sub === 'operations' && method === 'GET') {
      if (segs.length === 2) return { status: 200, body: { value: d.operations } };
      const op = d.operations.find((o) => o.operationId === segs[2]);
      if (!op) throw new ArmError(404, 'DeploymentOperationNotFound', `Deployment operation '${segs[2]}' of deployment '${name}' could not be found.`);
      return { status: 200, body: op };
    }
    if (sub === 'cancel' && method === 'POST') {
      if (!ACTIVE.has(d.body.properties.provisioningState)) {
        throw new ArmError(409, 'DeploymentCannotBeCancelled', `The deployment '${name}' cannot be cancelled because it is in '${d.body.properties.provisioningState}' state.`);
      }
      await this.cancel(d.id);
      return { status: 204 };
    }
    if (sub === 'exporttemplate' && method === 'POST') return { status: 200, body: { template: requestProperties(d).template } };
    throw new ArmError(404, 'NotFound', `No route for ${method} .../deployments/${segs.join('/')}.`);
  }

  private require(rec: DeploymentRecord | undefined, name: string): DeploymentRecord {
    if (!rec) throw new ArmError(404, 'DeploymentNotFound', `Deployment '${name}' could not be found.`);
    return rec;
  }

  // ─── PUT / validate ──────────────────────────────────────────────────────────────────────

  private preflight(rg: GroupRecord, name: string, body: unknown): { plan: Plan; properties: Record<string, unknown> } {
    if (!DEPLOYMENT_NAME.test(name)) throw new ArmError(400, 'InvalidDeploymentName', `The deployment name '${name}' is invalid: up to 64 letters, digits, '-', '.', '_' and parentheses.`);
    if (!body || typeof body !== 'object') throw new ArmError(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized: the body must be a JSON object.');
    const properties = ((body as Record<string, unknown>).properties ?? undefined) as Record<string, unknown> | undefined;
    if (!properties || typeof properties !== 'object') throw new ArmError(400, 'InvalidRequestContent', "The request content was invalid and could not be deserialized: 'Required property 'properties' not found in JSON.'");
    const mode = String(properties.mode ?? '');
    if (mode !== 'Incremental' && mode !== 'Complete') {
      throw new ArmError(400, 'InvalidDeploymentMode', `The deployment mode '${mode}' is not valid; use 'Incremental' or 'Complete'.`);
    }
    if (properties.templateLink || properties.parametersLink) {
      throw invalidTemplate('templateLink and parametersLink are not supported by the local ARM emulator; pass properties.template and properties.parameters inline');
    }
    if (!properties.template) throw invalidTemplate("The deployment needs 'properties.template'");
    checkTemplateShape(properties.template, properties.parameters);
    let plan: Plan;
    try {
      plan = prepareTemplate(properties.template, properties.parameters, {
        subscriptionId: this.env.subscriptionId,
        tenantId: this.env.tenantId,
        resourceGroup: { id: rg.body.id, name: rg.name, location: rg.body.location, ...(rg.body.tags ? { tags: rg.body.tags } : {}), ...(rg.body.managedBy ? { managedBy: rg.body.managedBy } : {}) },
        deploymentName: name,
        mode,
      });
    } catch (e) {
      if (e instanceof TemplateError) throw invalidTemplate(e.message);
      throw e;
    }
    checkPlanLimits(plan);
    for (const r of plan.resources) {
      const q = r.condition ? this.env.faults.quotaFor(r.type, 'preflight') : undefined;
      if (q) {
        throw new ArmError(
          400,
          'InvalidTemplateDeployment',
          `The template deployment '${name}' is not valid according to the validation procedure. The tracking id is '${randomUUID()}'. See inner errors for details.`,
          [quotaError(q.code ?? 'QuotaExceeded', r.type, String(rg.body.location), q.limit ?? 10, r.id)],
        );
      }
    }
    this.checkQuotas(plan, rg, name);
    return { plan, properties };
  }

  /**
   * ARM's preflight quota check: the resources this template would create (not the ones it updates), on top
   * of what the subscription already has, against its quotas.
   */
  private checkQuotas(plan: Plan, rg: GroupRecord, name: string): void {
    const existing = this.countedWithReserved();
    const have = new Set(existing.map((r) => lower(r.id)));
    const adding = plan.resources
      .filter((r) => r.condition && !have.has(lower(r.id)))
      .map((r) => ({ type: r.type, location: this.plannedLocation(plan, r, rg) }));
    const over = this.env.quotas.exceeded(adding, existing);
    if (!over) return;
    this.countQuotaRefusal();
    throw new ArmError(
      400,
      'InvalidTemplateDeployment',
      `The template deployment '${name}' is not valid according to the validation procedure. The tracking id is '${randomUUID()}'. See inner errors for details.`,
      [quotaExceeded(over, plan.resources.find((r) => lower(r.type) === lower(over.type))?.id ?? rg.body.id)],
    );
  }

  /** A resource's region as preflight sees it: its literal or parameter-only `location`, else the group's. */
  private plannedLocation(plan: Plan, r: PlannedResource, rg: GroupRecord): string {
    try {
      const v = plan.evaluateValue(r.def.location, plan.hostFor(r, NO_RUNTIME));
      if (typeof v === 'string' && v) return normaliseLocation(v);
    } catch {
      // `location` uses reference()/list*() (known only at deploy time): the group's region, as ARM's own preflight assumes.
    }
    return rg.body.location;
  }

  /** What counts against quotas: the resources there, and the creates past their check (once each: a create stays reserved until its operation is recorded). */
  private countedWithReserved(): Array<{ id: string; type: string; location?: string }> {
    const counted = this.resources.countedResources();
    const ids = new Set(counted.map((r) => lower(r.id)));
    return [...counted, ...[...this.reserved.entries()].filter(([key]) => !ids.has(key)).map(([, r]) => r)];
  }

  private countQuotaRefusal(): void {
    const key = lower(this.env.subscriptionId);
    this.env.stats.quotaRefusals[key] = (this.env.stats.quotaRefusals[key] ?? 0) + 1;
  }

  private async put(ctx: RequestContext, rg: GroupRecord, name: string, id: string): Promise<Reply> {
    if (rg.body.properties.provisioningState === 'Deleting') {
      throw new ArmError(409, 'ResourceGroupBeingDeleted', `The resource group '${rg.name}' is in deprovisioning state and cannot perform this operation.`);
    }
    const existing = this.env.store.deployments.get(lower(id));
    if (existing && ACTIVE.has(existing.body.properties.provisioningState)) throw deploymentActive(existing);
    const { plan, properties } = this.preflight(rg, name, ctx.body);
    const now = new Date().toISOString();
    const operationId = randomUUID().replace(/-/g, '').toUpperCase().slice(0, 16);
    const tags = (ctx.body as Record<string, unknown>).tags as Record<string, string> | undefined;
    const rec: DeploymentRecord = {
      id: existing?.id ?? id,
      resourceGroup: rg.name,
      name: existing?.name ?? name,
      operationId,
      request: packRequest({ template: properties.template, parameters: properties.parameters ?? {}, mode: properties.mode }),
      body: {
        id: existing?.id ?? id,
        name: existing?.name ?? name,
        type: 'Microsoft.Resources/deployments',
        ...(tags ? { tags } : {}),
        properties: {
          templateHash: plan.templateHash,
          parameters: echoParameters(plan),
          mode: String(properties.mode),
          provisioningState: 'Accepted',
          timestamp: now,
          duration: 'PT0S',
          correlationId: randomUUID(),
          providers: providersOf(plan),
          dependencies: dependenciesOf(plan),
        },
      },
      operations: [],
    };
    try {
      await this.env.store.setDeployment(rec);
    } catch (e) {
      // Nothing half-created: the store still holds the previous record (or none), so the map must too.
      if (existing) this.env.store.deployments.set(lower(existing.id), existing);
      else this.env.store.deployments.delete(lower(rec.id));
      throw e;
    }
    this.start(rec, plan, rg);
    const asyncOp = `${ctx.baseUrl}${rec.id}/operationStatuses/${operationId}?api-version=${ctx.apiVersion}`;
    return { status: 201, body: rec.body, headers: { 'Azure-AsyncOperation': asyncOp, 'Retry-After': '0' } };
  }

  private validate(ctx: RequestContext, rg: GroupRecord, name: string, id: string): Reply {
    try {
      const { plan, properties } = this.preflight(rg, name, ctx.body);
      return {
        status: 200,
        body: {
          id,
          name,
          type: 'Microsoft.Resources/deployments',
          properties: {
            templateHash: plan.templateHash,
            parameters: echoParameters(plan),
            mode: String(properties.mode),
            provisioningState: 'Succeeded',
            timestamp: new Date().toISOString(),
            duration: 'PT0S',
            correlationId: randomUUID(),
            providers: providersOf(plan),
            dependencies: dependenciesOf(plan),
            validatedResources: plan.resources.filter((r) => r.condition).map((r) => ({ id: r.id })),
          },
        },
      };
    } catch (e) {
      if (e instanceof ArmError && e.status === 400) return { status: 400, body: e.body() };
      throw e;
    }
  }

  // ─── running ─────────────────────────────────────────────────────────────────────────────

  private start(rec: DeploymentRecord, plan: Plan, rg: GroupRecord): void {
    const stats = this.env.stats;
    stats.activeDeployments++;
    stats.deploymentsStarted++;
    const sub = lower(this.env.subscriptionId);
    stats.deploymentsBySubscription[sub] = (stats.deploymentsBySubscription[sub] ?? 0) + 1;
    stats.maxConcurrentDeployments = Math.max(stats.maxConcurrentDeployments, stats.activeDeployments);
    const run: Run = { id: rec.id, cancel: false, wake: new Set(), done: Promise.resolve() };
    run.done = this.execute(rec.id, rec.operationId, plan, rg, run)
      .catch((e: unknown) => this.env.log?.error({ err: e, deployment: rec.id }, 'ARM emulator: deployment run failed'))
      .finally(() => {
        stats.activeDeployments--;
        if (this.runs.get(lower(rec.id)) === run) this.runs.delete(lower(rec.id));
      });
    this.runs.set(lower(rec.id), run);
  }

  private current(id: string, operationId: string): DeploymentRecord | undefined {
    const rec = this.env.store.deployments.get(lower(id));
    return rec && rec.operationId === operationId ? rec : undefined;
  }

  private async update(id: string, operationId: string, change: (rec: DeploymentRecord) => void): Promise<void> {
    const rec = this.current(id, operationId);
    if (!rec) return;
    const next = structuredClone(rec);
    change(next);
    await this.env.store.setDeployment(next);
  }

  private sleep(ms: number, run: Run): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        run.wake.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      run.wake.add(wake);
    });
  }

  private async execute(id: string, operationId: string, plan: Plan, rg: GroupRecord, run: Run): Promise<void> {
    await new Promise((r) => setImmediate(r));
    const stopped = () => this.paused || run.cancel || !this.current(id, operationId);
    if (stopped()) return this.finishStopped(id, operationId, run);
    const started = Date.now();
    // ARM holds a new deployment in Accepted for a few seconds (queued, preflight) before it runs.
    await this.sleep(provisionDelayMs(this.env.times(), 'Microsoft.Resources/deployments', undefined), run);
    if (stopped()) return this.finishStopped(id, operationId, run);
    await this.update(id, operationId, (r) => (r.body.properties.provisioningState = 'Running'));

    const ex: Execution = {
      id,
      operationId,
      plan,
      rg,
      run,
      stopped,
      outcomes: new Map(),
      settled: new Map(),
      waits: new Map(plan.resources.map((r) => [r.key, new Set(r.dependsOn)])),
      errors: [],
      byKey: new Map(plan.resources.map((r) => [r.key, r])),
    };
    for (const r of plan.resources) {
      const p = this.deployOne(ex, r).then((o) => {
        ex.settled.set(r.key, o);
        return o;
      });
      ex.outcomes.set(r.key, p);
    }
    const all = await Promise.all(plan.resources.map((r) => ex.outcomes.get(r.key)!));
    if (all.includes('aborted') || stopped()) return this.finishStopped(id, operationId, run);
    await this.finishDeployment(ex, started);
  }

  /** Whether `from` waits (directly or through others) on `to`: a reference back along that path is circular. */
  private reaches(ex: Execution, from: string, to: string, seen = new Set<string>()): boolean {
    if (from === to) return true;
    if (seen.has(from)) return false;
    seen.add(from);
    return [...(ex.waits.get(from) ?? [])].some((n) => this.reaches(ex, n, to, seen));
  }

  /** reference() and list*() for a resource's expressions, answered from what this deployment has settled so far. */
  private hooks(ex: Execution, res: PlannedResource | undefined): RuntimeHooks {
    return {
      reference: (target, _apiVersion, full) => {
        const rec = this.lookup(ex.plan, target, ex.settled, res);
        return (full ? { ...rec.body, apiVersion: rec.apiVersion } : (rec.body.properties ?? {})) as Json;
      },
      list: (action, target, _apiVersion, body) => {
        const rec = this.lookup(ex.plan, target, ex.settled, res);
        try {
          return this.resources.invokeList(rec.id, action, body) as Json;
        } catch (e) {
          if (e instanceof ArmError) throw new TemplateError(e.message);
          throw e;
        }
      },
    };
  }

  /** One resource of the deployment: after its dependencies, evaluate, wait its provisioning time, check quota, create. */
  private async deployOne(ex: Execution, res: PlannedResource): Promise<Outcome> {
    await Promise.resolve();
    const depOutcomes = await Promise.all(res.dependsOn.map((k) => ex.outcomes.get(k)!));
    if (depOutcomes.includes('aborted') || ex.stopped()) return 'aborted';
    if (depOutcomes.some((o) => o === 'failed')) return 'failed';
    if (!res.condition) return 'skipped';
    const opStarted = Date.now();
    const body = await this.bodyWhenReady(ex, res, opStarted);
    if (typeof body === 'string') return body;
    await this.provisioningTime(ex, res, body);
    if (ex.stopped()) return 'aborted';
    const quota = this.env.faults.quotaFor(res.type, 'provision');
    if (quota) {
      const q = quotaError(quota.code ?? 'QuotaExceeded', res.type, String(body.location ?? ex.rg.body.location), quota.limit ?? 10, res.id);
      return this.fail(ex.id, ex.operationId, res, opStarted, ex.errors, q.code, q.message, 'Conflict');
    }
    const path = parseResourceId(res.id);
    if (!path) return this.fail(ex.id, ex.operationId, res, opStarted, ex.errors, 'InvalidTemplate', `'${res.id}' is not a resource id the emulator can deploy (only resource-group scope).`);
    // Another deployment may have taken the last unit since preflight: the create fails as in Azure.
    const existing = this.countedWithReserved();
    const creating = { id: res.id, type: res.type, location: normaliseLocation(String(body.location ?? ex.rg.body.location)) };
    if (!existing.some((r) => lower(r.id) === lower(res.id))) {
      const over = this.env.quotas.exceeded([creating], existing);
      if (over) {
        this.countQuotaRefusal();
        const q = quotaExceeded(over, res.id);
        return this.fail(ex.id, ex.operationId, res, opStarted, ex.errors, q.code, q.message, 'Conflict');
      }
      this.reserved.set(lower(res.id), creating);
    }
    return this.create(ex, res, path, body, opStarted);
  }

  /**
   * The resource's body with its expressions evaluated, or the outcome if that cannot be done. A reference to a
   * resource not yet deployed adds a wait on it and tries again once it settles (unless that wait is circular).
   */
  private async bodyWhenReady(ex: Execution, res: PlannedResource, opStarted: number): Promise<Record<string, unknown> | Outcome> {
    for (;;) {
      try {
        return this.evaluateBody(ex.plan, res, this.hooks(ex, res));
      } catch (e) {
        if (e instanceof NotReady) {
          if (this.reaches(ex, e.resourceKey, res.key)) {
            return this.fail(ex.id, ex.operationId, res, opStarted, ex.errors, 'InvalidTemplate', `Circular dependency detected on resource: '${res.id}' (it references '${ex.byKey.get(e.resourceKey)!.id}', which depends on it).`);
          }
          ex.waits.get(res.key)!.add(e.resourceKey);
          const o = await ex.outcomes.get(e.resourceKey)!;
          if (o === 'aborted' || ex.stopped()) return 'aborted';
          if (o !== 'succeeded') {
            return this.fail(ex.id, ex.operationId, res, opStarted, ex.errors, 'InvalidTemplate', `The template resource '${res.name}' references resource '${ex.byKey.get(e.resourceKey)!.id}', which was not deployed.`);
          }
          continue;
        }
        const message = e instanceof TemplateError || e instanceof ArmError ? e.message : String(e);
        const code = e instanceof ArmError ? e.code : 'InvalidTemplate';
        return this.fail(ex.id, ex.operationId, res, opStarted, ex.errors, code, `Unable to process template language expressions for resource '${res.id}'. ${message}`);
      }
    }
  }

  /** Waits out the resource's provisioning time (or until the deployment stops). */
  private async provisioningTime(ex: Execution, res: PlannedResource, body: Record<string, unknown>): Promise<void> {
    // The delay is re-read when faults or deployment times change, so a test can hold deployments and then release them.
    const waitFrom = Date.now();
    for (;;) {
      const delay = Math.max(this.env.faults.provisionDelayMs(res.type), provisionDelayMs(this.env.times(), res.type, body));
      const left = delay - (Date.now() - waitFrom);
      if (left <= 0 || ex.stopped()) break;
      await this.sleep(left, ex.run);
    }
  }

  /** Writes the resource (Failed when a fault says so) and records its operation; releases its quota reservation. */
  private async create(ex: Execution, res: PlannedResource, path: NonNullable<ReturnType<typeof parseResourceId>>, body: Record<string, unknown>, opStarted: number): Promise<Outcome> {
    const failing = this.env.faults.failsToProvision(res.type);
    try {
      const group = this.env.store.groups.get(lower(ex.rg.name)) ?? ex.rg;
      const { status } = await this.resources.put(path, body, res.apiVersion, group, failing ? { provisioningState: 'Failed' } : {});
      if (failing) {
        return this.fail(ex.id, ex.operationId, res, opStarted, ex.errors, 'ResourceDeploymentFailure', "The resource write operation failed to complete successfully, because it reached terminal provisioning state 'Failed'.", 'Conflict');
      }
      await this.recordOperation(ex.id, ex.operationId, res, opStarted, status === 201 ? 'Created' : 'OK');
      return 'succeeded';
    } catch (e) {
      if (!(e instanceof ArmError)) throw e;
      return this.fail(ex.id, ex.operationId, res, opStarted, ex.errors, e.code, e.message, statusText(e.status), e.details);
    } finally {
      this.reserved.delete(lower(res.id));
    }
  }

  /** Every resource settled: evaluate the outputs, apply Complete mode, and end the deployment Succeeded or Failed. */
  private async finishDeployment(ex: Execution, started: number): Promise<void> {
    const { plan, rg, errors, settled } = ex;
    let outputs: Record<string, unknown> | undefined;
    if (errors.length === 0) {
      try {
        outputs = this.evaluateOutputs(plan, this.hooks(ex, undefined));
      } catch (e) {
        errors.push({ code: 'DeploymentOutputEvaluationFailed', message: `Unable to evaluate template outputs: ${(e as Error).message}` });
      }
    }
    if (errors.length === 0 && plan.scope.mode === 'Complete') await this.completeMode(plan, rg);
    const deployed = plan.resources.filter((r) => settled.get(r.key) === 'succeeded').map((r) => ({ id: r.id }));
    await this.update(ex.id, ex.operationId, (r) => {
      const p = r.body.properties;
      p.provisioningState = errors.length === 0 ? 'Succeeded' : 'Failed';
      p.duration = isoDuration(Date.now() - started);
      p.timestamp = new Date().toISOString();
      p.outputResources = deployed;
      if (outputs) p.outputs = outputs;
      if (errors.length > 0) {
        p.error = {
          code: 'DeploymentFailed',
          message: 'At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.',
          details: errors,
        };
      }
    });
  }

  /** A stop (pause) leaves the deployment Running in storage, to resume; a cancel ends it Canceled. */
  private async finishStopped(id: string, operationId: string, run: Run): Promise<void> {
    if (!run.cancel || this.paused) return;
    await this.update(id, operationId, (r) => {
      r.body.properties.provisioningState = 'Canceled';
      r.body.properties.timestamp = new Date().toISOString();
    });
  }

  private lookup(plan: Plan, target: string, settled: Map<string, Outcome>, from: PlannedResource | undefined) {
    const planned = plan.find(target);
    if (planned && planned.condition) {
      const o = settled.get(planned.key);
      if (o === undefined) {
        if (from === undefined) throw new TemplateError(`The resource '${planned.id}' has not been deployed.`);
        throw new NotReady(planned.key);
      }
      if (o !== 'succeeded') throw new TemplateError(`The resource '${planned.id}' referenced by the template was not deployed.`);
    }
    const id = planned?.id ?? target;
    const rec = this.resources.get(id);
    if (!rec) {
      const path = parseResourceId(id);
      throw new TemplateError(
        path
          ? `The Resource '${path.type}/${path.name}' under resource group '${path.resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`
          : `The resource '${target}' is not defined in the template and is not a resource id.`,
      );
    }
    return rec;
  }

  private evaluateBody(plan: Plan, res: PlannedResource, hooks: RuntimeHooks): Record<string, unknown> {
    const host = plan.hostFor(res, hooks);
    const body: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(res.def)) {
      if (TEMPLATE_ONLY.has(lower(k))) continue;
      body[k] = dropNulls(plan.evaluateValue(v, host));
    }
    return body;
  }

  private evaluateOutputs(plan: Plan, hooks: RuntimeHooks): Record<string, unknown> {
    const host = plan.hostFor(undefined, hooks);
    const out: Record<string, unknown> = {};
    for (const [name, def] of Object.entries(plan.outputs)) {
      const d = (def ?? {}) as Record<string, unknown>;
      if (d.condition !== undefined && plan.evaluateValue(d.condition, host) !== true) continue;
      const type = outputType(d.type);
      if (type === 'SecureString' || type === 'SecureObject') {
        out[name] = { type };
        continue;
      }
      out[name] = { type, value: d.copy ? plan.evaluateValue({ copy: [{ ...(d.copy as object), name: '__output' }] }, host) : plan.evaluateValue(d.value, host) };
      if (d.copy) (out[name] as Record<string, unknown>).value = ((out[name] as Record<string, unknown>).value as Record<string, unknown>).__output;
    }
    return out;
  }

  private async completeMode(plan: Plan, rg: GroupRecord): Promise<void> {
    const keep = new Set(plan.resources.filter((r) => r.condition).map((r) => lower(r.id)));
    const rgKey = lower(rg.name);
    for (const r of [...this.env.store.resources.values()]) {
      if (lower(r.resourceGroup) !== rgKey || keep.has(lower(r.id))) continue;
      const path = parseResourceId(r.id);
      if (path && !path.parentId && !path.scope) await this.resources.delete(r.id);
    }
  }

  private async fail(
    id: string,
    operationId: string,
    res: PlannedResource,
    started: number,
    errors: ArmErrorBody[],
    code: string,
    message: string,
    status = 'BadRequest',
    details?: ArmErrorBody[],
  ): Promise<Outcome> {
    const error: ArmErrorBody = { code, message, target: res.id, ...(details?.length ? { details } : {}) };
    errors.push(error);
    await this.recordOperation(id, operationId, res, started, status, error);
    return 'failed';
  }

  private async recordOperation(id: string, operationId: string, res: PlannedResource, started: number, statusCode: string, error?: ArmErrorBody): Promise<void> {
    const opId = randomUUID().replace(/-/g, '').toUpperCase().slice(0, 16);
    await this.update(id, operationId, (r) => {
      r.operations.push({
        id: `${r.id}/operations/${opId}`,
        operationId: opId,
        properties: {
          provisioningOperation: 'Create',
          provisioningState: error ? 'Failed' : 'Succeeded',
          timestamp: new Date().toISOString(),
          duration: isoDuration(Date.now() - started),
          trackingId: randomUUID(),
          statusCode,
          ...(error ? { statusMessage: { status: 'Failed', error } } : {}),
          targetResource: { id: res.id, resourceType: res.type, resourceName: res.name, apiVersion: res.apiVersion },
        },
      });
    });
  }

  // ─── lifecycle ───────────────────────────────────────────────────────────────────────────

  /** Ends a deployment Canceled, whether or not a run is attached to it (a deployment left Accepted with no run must still be cancellable). */
  private async cancel(id: string): Promise<void> {
    const run = this.runs.get(lower(id));
    if (!run) {
      const rec = this.env.store.deployments.get(lower(id));
      if (rec) {
        await this.update(rec.id, rec.operationId, (r) => {
          r.body.properties.provisioningState = 'Canceled';
          r.body.properties.timestamp = new Date().toISOString();
        });
      }
      return;
    }
    run.cancel = true;
    [...run.wake].forEach((w) => w());
    await run.done;
  }

  /** Cancel every running deployment of a group (before the group is deleted). */
  async cancelGroup(name: string): Promise<void> {
    const prefix = lower(`${groupId(this.env.subscriptionId, name)}/`);
    await Promise.all([...this.env.store.deployments.values()].filter((d) => lower(d.id).startsWith(prefix) && ACTIVE.has(d.body.properties.provisioningState)).map((d) => this.cancel(d.id)));
  }

  /** Start again the deployments that were running when the emulator last stopped. */
  resumeAfterRestart(): void {
    for (const rec of [...this.env.store.deployments.values()]) {
      if (!ACTIVE.has(rec.body.properties.provisioningState)) continue;
      const rg = this.env.store.groups.get(lower(rec.resourceGroup));
      if (!rg) continue;
      try {
        const { plan } = this.preflight(rg, rec.name, { properties: requestProperties(rec) });
        this.start(rec, plan, rg);
      } catch (e) {
        const error = e instanceof ArmError ? toErrorBody(e) : { code: 'InternalServerError', message: String(e) };
        void this.update(rec.id, rec.operationId, (r) => {
          r.body.properties.provisioningState = 'Failed';
          r.body.properties.error = error;
        });
      }
    }
  }

  /** Faults changed: sleeping resources re-read their provisioning delay. */
  faultsChanged(): void {
    for (const run of this.runs.values()) [...run.wake].forEach((w) => w());
  }

  /** Stop running deployments where they are (they stay Running in storage and resume at the next start). */
  async pause(): Promise<void> {
    this.paused = true;
    for (const run of this.runs.values()) [...run.wake].forEach((w) => w());
    await Promise.all([...this.runs.values()].map((r) => r.done));
  }
}

function deploymentActive(rec: DeploymentRecord): ArmError {
  const since = String(rec.body.properties.timestamp);
  const expires = new Date(Date.parse(since) + 7 * 24 * 3600 * 1000).toISOString();
  return new ArmError(
    409,
    'DeploymentActive',
    `Unable to edit or replace deployment '${rec.name}': previous deployment from '${since}' is still active (expiration time is '${expires}'). Please see https://aka.ms/arm-deploy for usage details.`,
  );
}

export function quotaError(code: string, resourceType: string, location: string, limit: number, target: string): ArmErrorBody {
  const family = resourceType.split('/').slice(1).join('/');
  return {
    code,
    target,
    message:
      `Operation could not be completed as it results in exceeding approved ${family} quota. Additional details - Deployment Model: Resource Manager, ` +
      `Location: ${location}, Current Limit: ${limit}, Current Usage: ${limit}, Additional Required: 1, (Minimum) New Limit Required: ${limit + 1}. ` +
      `Submit a request for Quota increase at https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView by specifying parameters listed in the 'Details' section for deployment to succeed. ` +
      'Please read more about quota limits at https://docs.microsoft.com/en-us/azure/azure-supportability/per-vm-quota-requests',
  };
}

/** Runtime hooks for preflight: reference()/list*() are not known before the deployment runs. */
const NO_RUNTIME: RuntimeHooks = {
  reference: () => {
    throw new TemplateError('reference() is evaluated at deploy time');
  },
  list: () => {
    throw new TemplateError('list*() is evaluated at deploy time');
  },
};

/** ARM's quota error for a configured or usage-API quota: the counter, its region, limit, usage and what was asked. */
function quotaExceeded(over: NonNullable<ReturnType<QuotaBook['exceeded']>>, target: string): ArmErrorBody {
  const where = over.def.scope === 'subscription' ? 'in this subscription' : `in location '${over.location}'`;
  return {
    code: 'QuotaExceeded',
    target,
    message:
      `Operation could not be completed as it results in exceeding approved ${over.def.name} quota. Additional details - Deployment Model: Resource Manager, ` +
      `Location: ${over.location || '(all)'}, Current Limit: ${over.limit}, Current Usage: ${over.used}, Additional Required: ${over.required}, (Minimum) New Limit Required: ${over.used + over.required}. ` +
      `${over.def.localizedName} (${over.type}) ${where} are at the subscription's quota. Submit a request for Quota increase at https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView ` +
      'or deploy into another subscription or region.',
  };
}

function echoParameters(plan: Plan): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, p] of Object.entries(plan.parameters)) out[k] = p.type.startsWith('Secure') ? { type: p.type } : { type: p.type, value: p.value };
  return out;
}

function providersOf(plan: Plan): Array<Record<string, unknown>> {
  const byNs = new Map<string, Map<string, Set<string>>>();
  for (const r of plan.resources) {
    const [ns, ...rest] = r.type.split('/');
    const types = byNs.get(ns) ?? new Map<string, Set<string>>();
    const locs = types.get(rest.join('/')) ?? new Set<string>();
    const loc = r.def.location;
    if (typeof loc === 'string' && !loc.startsWith('[')) locs.add(loc);
    types.set(rest.join('/'), locs);
    byNs.set(ns, types);
  }
  return [...byNs].map(([namespace, types]) => ({ namespace, resourceTypes: [...types].map(([resourceType, locs]) => ({ resourceType, locations: [...locs] })) }));
}

function dependenciesOf(plan: Plan): Array<Record<string, unknown>> {
  const byKey = new Map(plan.resources.map((r) => [r.key, r]));
  return plan.resources
    .filter((r) => r.dependsOn.length > 0)
    .map((r) => ({
      id: r.id,
      resourceType: r.type,
      resourceName: r.name,
      dependsOn: r.dependsOn.map((k) => byKey.get(k)!).map((d) => ({ id: d.id, resourceType: d.type, resourceName: d.name })),
    }));
}

/** `if(cond, value, null())` leaves a null; providers treat a null property as one not given. */
function dropNulls(v: Json): Json {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, dropNulls(x)]));
  return v;
}

function isoDuration(ms: number): string {
  return `PT${(ms / 1000).toFixed(3).replace(/\.?0+$/, '') || '0'}S`;
}

function statusText(status: number): string {
  return { 400: 'BadRequest', 404: 'NotFound', 409: 'Conflict', 429: 'TooManyRequests', 500: 'InternalServerError' }[status] ?? String(status);
}

/**
 * What was PUT, kept compressed: ARM measures templates compressed (a 4 MB template of ordinary JSON is a
 * few hundred KB), and so does the emulator's record, so a template ARM takes fits the store.
 */
function packRequest(properties: Record<string, unknown>): Record<string, unknown> {
  return { gzip: gzipSync(JSON.stringify(properties)).toString('base64') };
}

export function requestProperties(rec: DeploymentRecord): Record<string, unknown> {
  const r = rec.request as { gzip?: unknown; properties?: Record<string, unknown> };
  if (typeof r.gzip === 'string') return JSON.parse(gunzipSync(Buffer.from(r.gzip, 'base64')).toString('utf8')) as Record<string, unknown>;
  return r.properties ?? {};
}

