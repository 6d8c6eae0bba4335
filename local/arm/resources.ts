/**
 * Generic resources, the way Resource Manager routes them to resource providers: PUT/PATCH/GET/
 * HEAD/DELETE by id, child collections (`.../virtualNetworks/v/subnets`), extension resources
 * (`{scope}/providers/Microsoft.Insights/diagnosticSettings/{name}`, role assignments), actions
 * (`POST .../listKeys`, `.../start`), list by resource group and by subscription, and provider
 * metadata (`GET /subscriptions/{id}/providers/{namespace}` with api-versions per type).
 *
 * Every write — from a REST call or from a deployment — goes through `put()`, so a learner who
 * changes a resource by hand and the template engine see the same provider behaviour (`providers.ts`).
 */
import { ArmError } from './errors';
import { methodNotAllowed, checkTags, normaliseLocation, type EmulatorEnv, type Reply, type RequestContext } from './emulator';
import { deterministicGuid } from './expressions';
import { lower, parseExtensionCollection, parseProviderPath, parseResourceId, type ResourcePath } from './ids';
import { apiVersionError, behaviourOf, knownApiVersions, missingRequired, requiresLocation, TRACKED_CHILD_TYPES, type TypeBehaviour } from './providers';
import type { GroupRecord, ResourceRecord } from './store';

/** Top-level request fields that are not part of the resource (template-only or routing). */
const NOT_RESOURCE_FIELDS = new Set(['id', 'name', 'type', 'apiversion', 'dependson', 'condition', 'copy', 'scope', 'comments', 'resources', 'metadata']);

export class ResourceService {
  constructor(readonly env: EmulatorEnv) {}

  // ─── lookups used by providers and deployments ───────────────────────────────────────────

  get(id: string): ResourceRecord | undefined {
    return this.env.store.resources.get(lower(id));
  }

  /** Direct children of `parentId` of full type `type`. */
  children(parentId: string, type: string): ResourceRecord[] {
    const prefix = lower(parentId) + '/';
    const t = lower(type);
    return [...this.env.store.resources.values()].filter((r) => {
      const id = lower(r.id);
      return id.startsWith(prefix) && lower(r.type) === t && !id.slice(prefix.length).includes('/providers/') && id.slice(prefix.length).split('/').length === 2;
    });
  }

  /** Store a record as a provider would (no request validation; used for side effects). */
  setInternal(rec: ResourceRecord): Promise<void> {
    return this.env.store.setResource(rec);
  }

  newRecord(path: ResourcePath, apiVersion: string, body: Record<string, unknown>, existing?: ResourceRecord): ResourceRecord {
    const now = new Date().toISOString();
    return { id: existing?.id ?? path.id, resourceGroup: path.resourceGroup, type: existing?.type ?? path.type, apiVersion, body, createdAt: existing?.createdAt ?? now, changedAt: now };
  }

  // ─── REST ────────────────────────────────────────────────────────────────────────────────

  async handle(ctx: RequestContext, rg: GroupRecord, segs: string[]): Promise<Reply> {
    const parsed = parseProviderPath(this.env.subscriptionId, rg.name, segs);
    if (parsed?.collection) {
      const { resource, collection } = parsed;
      const versionError = apiVersionError(resource && ctx.method === 'POST' ? resource.type : collection.type, ctx.apiVersion);
      if (versionError) throw versionError;
      if (ctx.method === 'POST' && resource) return this.action(ctx, resource, collection.segment);
      if (ctx.method === 'GET') {
        this.requireExists(resource!);
        return { status: 200, body: { value: this.children(collection.ownerId, collection.type).map((r) => r.body) } };
      }
      throw methodNotAllowed(ctx.method);
    }
    if (!parsed?.resource) {
      const ext = parseExtensionCollection(this.env.subscriptionId, rg.name, segs);
      if (ext && ctx.method === 'GET') return this.listExtensions(ctx, ext.ownerId, ext.type);
      throw new ArmError(400, 'InvalidResourceType', `The resource path '/${segs.join('/')}' is not a valid resource id or collection.`);
    }
    const path = parsed.resource;
    const versionError = apiVersionError(path.type, ctx.apiVersion);
    if (versionError) throw versionError;
    switch (ctx.method) {
      case 'GET':
        return { status: 200, body: this.requireExists(path).body };
      case 'HEAD':
        return { status: this.get(path.id) ? 204 : 404 };
      case 'PUT': {
        const { status, record } = await this.put(path, ctx.body, ctx.apiVersion, rg);
        return { status, body: record.body };
      }
      case 'PATCH':
        return this.patch(path, ctx.body, ctx.apiVersion, rg);
      case 'DELETE':
        return (await this.delete(path.id)) ? { status: 200 } : { status: 204 };
      default:
        throw methodNotAllowed(ctx.method);
    }
  }

  requireExists(path: ResourcePath): ResourceRecord {
    const rec = this.get(path.id);
    if (!rec) throw resourceNotFound(path);
    return rec;
  }

  listGroup(ctx: RequestContext, rg: GroupRecord): Reply {
    const key = lower(rg.name);
    return this.list(ctx, [...this.env.store.resources.values()].filter((r) => lower(r.resourceGroup) === key));
  }

  /** Every resource with the location it counts against quotas in (what the usage APIs count). */
  countedResources(): Array<{ type: string; location?: string; id: string }> {
    return [...this.env.store.resources.values()].map((r) => ({ id: r.id, type: r.type, ...(typeof r.body.location === 'string' ? { location: normaliseLocation(r.body.location) } : {}) }));
  }

  listSubscription(ctx: RequestContext): Reply {
    return this.list(ctx, [...this.env.store.resources.values()]);
  }

  /**
   * ARM's generic list: tracked resources only (those with a location: top-level ones and the child
   * types ARM tracks, such as SQL databases), without `properties` — GET each by id for those.
   */
  private list(ctx: RequestContext, records: ResourceRecord[]): Reply {
    const filter = parseListFilter(ctx.query.get('$filter'));
    const expand = new Set((ctx.query.get('$expand') ?? '').split(',').map((s) => lower(s.trim())));
    const value = records
      .filter((r) => isTracked(r))
      .filter((r) => !filter.type || lower(r.type) === lower(filter.type))
      .filter((r) => !filter.tagName || Object.entries((r.body.tags ?? {}) as Record<string, string>).some(([k, v]) => lower(k) === lower(filter.tagName!) && (filter.tagValue === undefined || v === filter.tagValue)))
      .map((r) => {
        const b = r.body;
        const out: Record<string, unknown> = { id: r.id, name: fullName(r.id), type: r.type };
        for (const k of ['kind', 'location', 'managedBy', 'sku', 'identity', 'plan', 'tags', 'zones', 'extendedLocation']) if (b[k] !== undefined) out[k] = b[k];
        if (expand.has('createdtime')) out.createdTime = r.createdAt;
        if (expand.has('changedtime')) out.changedTime = r.changedAt;
        if (expand.has('provisioningstate')) out.provisioningState = (b.properties as Record<string, unknown> | undefined)?.provisioningState ?? 'Succeeded';
        return out;
      });
    return { status: 200, body: { value } };
  }

  /** `{scope}/providers/<extension type>`: role assignments include those inherited from the group. */
  private listExtensions(ctx: RequestContext, ownerId: string, type: string): Reply {
    const owner = lower(ownerId);
    const t = lower(type);
    if (owner.includes('/providers/') && !this.get(ownerId)) {
      const path = parseResourceId(ownerId);
      if (path) throw resourceNotFound(path);
    }
    let records = [...this.env.store.resources.values()].filter((r) => lower(r.type) === t);
    if (t === 'microsoft.authorization/roleassignments') {
      records = records.filter((r) => {
        const scope = lower(String((r.body.properties as Record<string, unknown>).scope ?? ''));
        return owner === scope || owner.startsWith(scope + '/');
      });
      const filter = ctx.query.get('$filter');
      const principal = filter ? /principalId\s+eq\s+'([^']+)'/i.exec(filter)?.[1] ?? /assignedTo\('([^']+)'\)/i.exec(filter)?.[1] : undefined;
      if (principal) records = records.filter((r) => lower(String((r.body.properties as Record<string, unknown>).principalId)) === lower(principal));
    } else {
      records = records.filter((r) => lower(r.id).startsWith(owner + '/providers/'));
    }
    return { status: 200, body: { value: records.map((r) => r.body) } };
  }

  private async action(ctx: RequestContext, path: ResourcePath, action: string): Promise<Reply> {
    const rec = this.requireExists(path);
    const behaviour = behaviourOf(rec.type);
    const fn = Object.entries(behaviour.actions ?? {}).find(([k]) => lower(k) === lower(action))?.[1];
    if (!fn) throw new ArmError(404, 'NotFound', `The action '${action}' on resource type '${rec.type}' is not supported by the local ARM emulator.`);
    return fn(rec, ctx.body, this);
  }

  /**
   * Run a `list*` action for the template engine (`listKeys(resourceId, apiVersion)`). Template
   * functions are synchronous, and list actions only read, so they answer synchronously.
   */
  invokeList(id: string, action: string, body: unknown): unknown {
    const path = parseResourceId(id);
    if (!path) throw new ArmError(400, 'InvalidResourceId', `'${id}' is not a valid resource id.`);
    const rec = this.requireExists(path);
    const fn = Object.entries(behaviourOf(rec.type).actions ?? {}).find(([k]) => lower(k) === lower(action))?.[1];
    if (!fn) throw new ArmError(400, 'InvalidTemplate', `The template function '${action}' is not supported for resource type '${rec.type}' by the local ARM emulator.`);
    const reply = fn(rec, body, this);
    if (reply instanceof Promise) throw new ArmError(400, 'InvalidTemplate', `'${action}' on '${rec.type}' changes the resource and cannot be called from a template.`);
    return reply.body;
  }

  // ─── writes ──────────────────────────────────────────────────────────────────────────────

  /** PUT a resource (REST or deployment): validation, provider behaviour, side effects. */
  async put(path: ResourcePath, requestBody: unknown, apiVersion: string, rg: GroupRecord, opts: { provisioningState?: string } = {}): Promise<{ status: 200 | 201; record: ResourceRecord }> {
    if (!requestBody || typeof requestBody !== 'object' || Array.isArray(requestBody)) {
      throw new ArmError(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized: the body must be a JSON object.');
    }
    if (rg.body.properties.provisioningState === 'Deleting') {
      throw new ArmError(409, 'ResourceGroupBeingDeleted', `The resource group '${rg.name}' is in deprovisioning state and cannot perform this operation.`);
    }
    const request = requestBody as Record<string, unknown>;
    // Deployments call put directly, past the REST handler's check.
    const versionError = apiVersionError(path.type, apiVersion, typeof request.location === 'string' ? request.location : '');
    if (versionError) throw versionError;
    if (path.parentId && !this.get(path.parentId)) {
      throw new ArmError(404, 'ParentResourceNotFound', `Can not perform requested operation on nested resource. Parent resource '${fullName(path.parentId)}' not found.`);
    }
    if (path.scope && lower(path.scope).includes('/providers/') && !this.get(path.scope)) {
      const scopePath = parseResourceId(path.scope);
      if (scopePath) throw resourceNotFound(scopePath);
    }
    const behaviour = behaviourOf(path.type);
    const renamed = behaviour.rename?.(path);
    if (renamed) {
      const id = `${path.id.split('/').slice(0, -1).join('/')}/${renamed}`;
      path = { ...path, id, name: [...path.name.split('/').slice(0, -1), renamed].join('/') };
    }
    const existing = this.get(path.id);
    const lastName = path.name.split('/').at(-1)!;
    const nameError = behaviour.validateName?.(lastName, path);
    if (nameError) throw nameError;

    const body: Record<string, unknown> = { id: existing?.id ?? path.id, name: lastName, type: existing?.type ?? path.type };
    for (const [k, v] of Object.entries(request)) if (!NOT_RESOURCE_FIELDS.has(lower(k)) && v !== undefined && v !== null) body[k] = structuredClone(v);
    const topLevel = !path.parentId && !path.scope;
    const needsLocation = requiresLocation(path.type, topLevel);
    if (typeof body.location === 'string') {
      body.location = normaliseLocation(body.location);
    } else if (needsLocation) {
      throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.');
    } else {
      delete body.location;
    }
    if (behaviour.global && body.location !== 'global') {
      throw new ArmError(400, 'LocationNotAvailableForResourceType', `The provided location '${String(body.location)}' is not available for resource type '${path.type}'. List of available regions for the resource type is 'global'.`);
    }
    const missing = missingRequired(path.type, body);
    if (missing.length) {
      throw new ArmError(
        400,
        'InvalidRequestContent',
        `The request content was invalid and could not be deserialized: required propert${missing.length > 1 ? 'ies' : 'y'} ${missing.map((m) => `'${m}'`).join(', ')} not found in the ${path.type} (api-version ${apiVersion}) '${path.name}'.`,
      );
    }
    if (body.tags !== undefined) body.tags = checkTags(body.tags);
    const properties = (body.properties ?? {}) as Record<string, unknown>;
    if (typeof properties !== 'object' || Array.isArray(properties)) throw new ArmError(400, 'InvalidRequestContent', "The request content was invalid and could not be deserialized: 'properties' must be an object.");
    body.properties = properties;
    if (body.identity !== undefined) body.identity = this.identity(body.identity, path.id);

    const record = this.newRecord(path, apiVersion, body, existing);
    record.secrets = { ...(existing?.secrets ?? {}) };
    for (const p of behaviour.keep ?? []) {
      const old = getPath(existing?.body, p);
      if (old !== undefined && getPath(body, p) === undefined) setPath(body, p, structuredClone(old));
    }
    for (const p of behaviour.secrets ?? []) {
      const v = getPath(body, p);
      if (v !== undefined) {
        record.secrets[p] = v;
        deletePath(body, p);
      }
    }
    await behaviour.shape?.(body, { path, rg, existing, record, svc: this, env: this.env });
    properties.provisioningState = opts.provisioningState ?? behaviour.provisioningState ?? 'Succeeded';
    // Keep `properties` last, as ARM's responses list it.
    const { properties: props, ...head } = body;
    record.body = { ...head, properties: props };
    await this.env.store.setResource(record);
    await behaviour.afterPut?.(record, { path, rg, existing, record, svc: this, env: this.env });
    return { status: existing ? 200 : 201, record: this.get(path.id) ?? record };
  }

  private async patch(path: ResourcePath, patchBody: unknown, apiVersion: string, rg: GroupRecord): Promise<Reply> {
    const existing = this.requireExists(path);
    if (!patchBody || typeof patchBody !== 'object' || Array.isArray(patchBody)) {
      throw new ArmError(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized: the body must be a JSON object.');
    }
    const merged = mergePatch(structuredClone(existing.body), patchBody) as Record<string, unknown>;
    // ARM replaces `tags` as a whole on PATCH (it is not merged key by key).
    if ((patchBody as Record<string, unknown>).tags !== undefined) merged.tags = structuredClone((patchBody as Record<string, unknown>).tags);
    // Values the provider hides (a shared key) are not in the body; keep them unless the patch sets them.
    for (const [p, v] of Object.entries(existing.secrets ?? {})) if (getPath(merged, p) === undefined) setPath(merged, p, v);
    const { record } = await this.put(path, merged, apiVersion, rg);
    return { status: 200, body: record.body };
  }

  /** Delete a resource with its children and the extension resources on it; false if it was not there. */
  async delete(id: string): Promise<boolean> {
    const rec = this.get(id);
    if (!rec) return false;
    const prefix = lower(id) + '/';
    const under = [...this.env.store.resources.values()].filter((r) => lower(r.id).startsWith(prefix));
    // Role assignments live at their scope's id too (…/providers/Microsoft.Authorization/roleAssignments/x), so the prefix covers them.
    for (const r of under.sort((a, b) => b.id.length - a.id.length)) {
      await this.env.store.deleteResource(r.id);
      await behaviourOf(r.type).afterDelete?.(r, this);
    }
    await this.env.store.deleteResource(rec.id);
    await behaviourOf(rec.type).afterDelete?.(rec, this);
    return true;
  }

  async deleteGroupContents(name: string): Promise<void> {
    const key = lower(name);
    const records = [...this.env.store.resources.values()].filter((r) => lower(r.resourceGroup) === key).sort((a, b) => b.id.length - a.id.length);
    for (const r of records) await this.env.store.deleteResource(r.id);
  }

  // ─── identities ──────────────────────────────────────────────────────────────────────────

  private identity(identity: unknown, id: string): Record<string, unknown> {
    if (!identity || typeof identity !== 'object') throw new ArmError(400, 'InvalidIdentity', "The 'identity' property must be an object.");
    const given = identity as { type?: string; userAssignedIdentities?: Record<string, unknown> };
    const kinds = lower(String(given.type ?? 'None')).split(',').map((s) => s.trim());
    const allowed = ['none', 'systemassigned', 'userassigned'];
    const bad = kinds.find((k) => !allowed.includes(k));
    if (bad) throw new ArmError(400, 'InvalidIdentityType', `The identity type '${given.type}' is not valid. It must be 'None', 'SystemAssigned', 'UserAssigned' or 'SystemAssigned,UserAssigned'.`);
    const out: Record<string, unknown> = { type: given.type };
    if (kinds.includes('systemassigned')) {
      out.principalId = principalIdOf(id);
      out.tenantId = this.env.tenantId;
    }
    if (kinds.includes('userassigned')) {
      const ids = Object.keys(given.userAssignedIdentities ?? {});
      if (ids.length === 0) throw new ArmError(400, 'BadRequest', "The identity type 'UserAssigned' needs at least one entry in 'userAssignedIdentities'.");
      const uai: Record<string, unknown> = {};
      for (const uid of ids) {
        const rec = this.get(uid);
        if (!rec) {
          throw new ArmError(
            400,
            'FailedIdentityOperation',
            `Identity operation for resource '${id}' failed with error 'Failed to perform resource identity operation. Status: 'NotFound'. Response: '{"error":{"code":"NotFound","message":"Resource '${uid}' was not found."}}'.'.`,
          );
        }
        const p = rec.body.properties as Record<string, unknown>;
        uai[rec.id] = { principalId: p.principalId, clientId: p.clientId };
      }
      out.userAssignedIdentities = uai;
    }
    return out;
  }

  // ─── provider metadata ───────────────────────────────────────────────────────────────────

  /** `GET /subscriptions/{id}/providers[/{namespace}]` */
  providers(ctx: RequestContext, namespace: string | undefined): Reply {
    const table = knownApiVersions();
    const namespaces = new Map<string, Array<{ resourceType: string; apiVersions: string[]; locations: string[] }>>();
    for (const [type, versions] of Object.entries(table)) {
      const [ns, ...rest] = type.split('/');
      const list = namespaces.get(ns) ?? [];
      list.push({ resourceType: rest.join('/'), apiVersions: [...versions].sort().reverse(), locations: [] });
      namespaces.set(ns, list);
    }
    const provider = (ns: string) => ({ id: `/subscriptions/${this.env.subscriptionId}/providers/${ns}`, namespace: ns, registrationState: 'Registered', registrationPolicy: 'RegistrationRequired', resourceTypes: namespaces.get(ns) ?? [] });
    if (namespace === undefined) return { status: 200, body: { value: [...namespaces.keys()].map(provider) } };
    const ns = [...namespaces.keys()].find((k) => lower(k) === lower(namespace));
    if (!ns) throw new ArmError(404, 'InvalidResourceNamespace', `The resource namespace '${namespace}' is invalid.`);
    void ctx;
    return { status: 200, body: provider(ns) };
  }
}

export type ProviderCtx = { path: ResourcePath; rg: GroupRecord; existing?: ResourceRecord; record: ResourceRecord; svc: ResourceService; env: EmulatorEnv };
export type { TypeBehaviour };

export function principalIdOf(id: string): string {
  return deterministicGuid(['principal', lower(id)]);
}

export function resourceNotFound(path: ResourcePath): ArmError {
  return new ArmError(
    404,
    'ResourceNotFound',
    `The Resource '${path.type.split('/')[0]}/${typePathWithNames(path)}' under resource group '${path.resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  );
}

function typePathWithNames(path: ResourcePath): string {
  const types = path.type.split('/').slice(1);
  const names = path.name.split('/');
  return types.map((t, i) => `${t}/${names[i] ?? ''}`).join('/');
}

/** `parent/child` from an id — the name form the packs' checks match (`namePattern`). */
export function fullName(id: string): string {
  const segs = id.split('/').filter(Boolean);
  const p = segs.map(lower).lastIndexOf('providers');
  return segs.slice(p + 2).filter((_, i) => i % 2 === 1).join('/');
}

function isTracked(r: ResourceRecord): boolean {
  if (typeof r.body.location !== 'string') return false;
  const path = parseResourceId(r.id);
  if (!path || path.scope) return false;
  return !path.parentId || TRACKED_CHILD_TYPES.has(lower(r.type));
}

function parseListFilter(filter: string | null): { type?: string; tagName?: string; tagValue?: string } {
  if (!filter) return {};
  const type = /resourceType\s+eq\s+'([^']+)'/i.exec(filter)?.[1];
  const tagName = /tagName\s+eq\s+'([^']+)'/i.exec(filter)?.[1];
  const tagValue = /tagValue\s+eq\s+'([^']+)'/i.exec(filter)?.[1];
  if (!type && !tagName) throw new ArmError(400, 'InvalidFilterInQueryString', `Invalid $filter '${filter}' specified in the query string. The emulator supports resourceType eq '...' and tagName/tagValue eq '...'.`);
  return { type, tagName, tagValue };
}

/** RFC 7396 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch);
  const out = target && typeof target === 'object' && !Array.isArray(target) ? (target as Record<string, unknown>) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export function getPath(o: unknown, path: string): unknown {
  let cur = o;
  for (const seg of path.split('.')) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

export function setPath(o: Record<string, unknown>, path: string, v: unknown): void {
  const segs = path.split('.');
  let cur = o;
  for (const seg of segs.slice(0, -1)) {
    if (!cur[seg] || typeof cur[seg] !== 'object') cur[seg] = {};
    cur = cur[seg] as Record<string, unknown>;
  }
  cur[segs.at(-1)!] = v;
}

function deletePath(o: Record<string, unknown>, path: string): void {
  const segs = path.split('.');
  let cur: unknown = o;
  for (const seg of segs.slice(0, -1)) {
    if (!cur || typeof cur !== 'object') return;
    cur = (cur as Record<string, unknown>)[seg];
  }
  if (cur && typeof cur === 'object') delete (cur as Record<string, unknown>)[segs.at(-1)!];
}
