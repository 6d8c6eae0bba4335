/**
 * ARM JSON templates: parameter binding and checks, variables, resources expanded from `copy` loops
 * and nested `resources`, their ids, `dependsOn` resolved to an order — everything ARM does before it
 * deploys anything (its "preflight"). A problem here is a 400 InvalidTemplate on the deployment PUT.
 *
 * What is evaluated at run time (properties, location, tags, sku, identity… which may call
 * `reference()` or `listKeys()`), is evaluated by the deployment runner through `hostFor()`.
 */
import { createHash } from 'node:crypto';
import {
  TemplateError,
  checkExpressions,
  evaluate,
  isExpression,
  parseExpression,
  typePath,
  unescapeLiteral,
  type EvalHost,
  type Json,
} from './expressions';
import { apiVersionError } from './providers';

export { NotReady, TemplateError } from './expressions';

export interface TemplateScope {
  subscriptionId: string;
  tenantId: string;
  resourceGroup: { id: string; name: string; location: string; tags?: Record<string, string>; managedBy?: string };
  deploymentName: string;
  mode: string;
}

export interface PlannedResource {
  /** Position in the template: `resources[3]`, `resources[3][copy 2]`, `resources[1].resources[0]`. */
  key: string;
  /** The definition (nested `resources` and `copy` removed). */
  def: Record<string, unknown>;
  type: string;
  apiVersion: string;
  /** Full name, parents included (`account/default`). */
  name: string;
  id: string;
  /** The scope an extension resource is attached to (a resource id). */
  scope?: string;
  condition: boolean;
  copy?: { name: string; index: number };
  dependsOn: string[];
  /** Runtime-only value in the deploy: did it succeed? */
}

export interface RuntimeHooks {
  /** `reference(target)`: `target` is an id or a name of a resource in this template. */
  reference(target: string, apiVersion: string | undefined, full: boolean, from: PlannedResource | undefined): Json;
  list(action: string, target: string, apiVersion: string, body: Json | undefined, from: PlannedResource | undefined): Json;
}

export interface Plan {
  scope: TemplateScope;
  resources: PlannedResource[];
  /** Declared parameters with the values bound (securestrings included — never echoed). */
  parameters: Record<string, { type: string; value: Json }>;
  outputs: Record<string, unknown>;
  contentVersion: string;
  templateHash: string;
  /** The evaluation host for a resource (or for outputs when `resource` is undefined). */
  hostFor(resource: PlannedResource | undefined, hooks: RuntimeHooks): EvalHost;
  /** Evaluate a template value (property copy loops included). */
  evaluateValue(v: unknown, host: EvalHost): Json;
  /** Find a planned resource by id, or by name when `target` is not an id. */
  find(target: string): PlannedResource | undefined;
}

const PARAM_TYPES: Record<string, string> = {
  string: 'String',
  securestring: 'SecureString',
  int: 'Int',
  bool: 'Bool',
  array: 'Array',
  object: 'Object',
  secureobject: 'SecureObject',
};

/** A copy-loop frame: resource loops and property/variable loops share the stack. */
interface LoopFrame {
  name: string;
  index: number;
}

export function prepareTemplate(
  templateIn: unknown,
  parametersIn: unknown,
  scope: TemplateScope,
): Plan {
  if (!templateIn || typeof templateIn !== 'object' || Array.isArray(templateIn)) throw new TemplateError('The template must be a JSON object.');
  const template = templateIn as Record<string, unknown>;
  const rawResources = template.resources;
  if (!Array.isArray(rawResources)) {
    throw new TemplateError(
      template.languageVersion ? `Template languageVersion '${String(template.languageVersion)}' (symbolic resource names) is not supported by the local ARM emulator; use an array of resources.` : "The template must have a 'resources' array.",
    );
  }
  for (const section of ['functions'] as const) {
    if (Array.isArray(template[section]) && (template[section] as unknown[]).length > 0) throw new TemplateError(`User-defined functions are not supported by the local ARM emulator (template '${section}').`);
  }
  const paramDefs = (template.parameters ?? {}) as Record<string, Record<string, unknown>>;
  const variableDefs = (template.variables ?? {}) as Record<string, unknown>;
  const outputs = (template.outputs ?? {}) as Record<string, unknown>;

  // Every expression must parse and call known functions — ARM rejects the template otherwise.
  checkExpressions(paramDefs, 'parameters');
  checkExpressions(variableDefs, 'variables');
  checkExpressions(rawResources, 'resources');
  checkExpressions(outputs, 'outputs');

  const planner = new TemplatePlanner(template, paramDefs, variableDefs, bindProvided(parametersIn, paramDefs), scope);
  for (const key of Object.keys(paramDefs)) if (!planner.parameters[key]) planner.bindParameter(key);
  // Expand resources: nested children flattened, copy loops unrolled.
  planner.expand(rawResources, 'resources');
  planner.resolveDependencies();
  checkCycles(planner.resources);

  const templateHash = BigInt.asUintN(64, createHash('sha256').update(JSON.stringify(template)).digest().readBigUInt64BE(0)).toString();
  return {
    scope,
    resources: planner.resources,
    parameters: planner.parameters,
    outputs,
    contentVersion: String(template.contentVersion ?? '1.0.0.0'),
    templateHash,
    hostFor: (resource, hooks) => planner.staticHost(resource?.copy ? [resource.copy] : [], hooks, resource),
    evaluateValue: (v, host) => planner.evaluateValue(v, host),
    find: (target) => planner.find(target),
  };
}

type ParentResource = { type: string; name: string; key: string; loops: LoopFrame[] };

/**
 * The state prepareTemplate builds: parameters bound on first use, variables evaluated once (cycles refused),
 * resources expanded with their dependencies. Its evaluation host serves the plan after preparation too.
 */
class TemplatePlanner {
  readonly parameters: Record<string, { type: string; value: Json }> = {};
  readonly resources: PlannedResource[] = [];
  private readonly loopMembers = new Map<string, string[]>();
  private readonly pendingDeps: Array<{ res: PlannedResource; raw: string[]; parentKey?: string; serialAfter?: string[] }> = [];
  private readonly variableCache = new Map<string, Json>();
  private readonly evaluating = new Set<string>();

  constructor(
    private readonly template: Record<string, unknown>,
    private readonly paramDefs: Record<string, Record<string, unknown>>,
    private readonly variableDefs: Record<string, unknown>,
    private readonly provided: ReturnType<typeof bindProvided>,
    private readonly scope: TemplateScope,
  ) {}

  private parameterKey(name: string): string | undefined {
    return Object.keys(this.paramDefs).find((k) => k.toLowerCase() === name.toLowerCase());
  }

  staticHost(loops: LoopFrame[], hooks?: RuntimeHooks, from?: PlannedResource): EvalHost {
    const { scope, template } = this;
    return {
      parameter: (name) => {
        const key = this.parameterKey(name);
        if (key === undefined) throw new TemplateError(`The template parameter '${name}' is not found. Please see https://aka.ms/arm-syntax-parameters for usage details.`);
        if (!this.parameters[key]) this.bindParameter(key);
        return this.parameters[key].value;
      },
      variable: (name) => this.variable(name),
      resourceGroup: () => ({ ...scope.resourceGroup, type: 'Microsoft.Resources/resourceGroups', properties: { provisioningState: 'Succeeded' } }) as Json,
      subscription: () => ({ id: `/subscriptions/${scope.subscriptionId}`, subscriptionId: scope.subscriptionId, tenantId: scope.tenantId, displayName: 'Workshop ARM emulator' }),
      deployment: () => ({ name: scope.deploymentName, properties: { template: { contentVersion: String(template.contentVersion ?? '1.0.0.0') }, mode: scope.mode } }),
      copyIndex: (loop) => {
        if (loop !== undefined) {
          const frame = [...loops].reverse().find((f) => f.name.toLowerCase() === loop.toLowerCase());
          if (!frame) throw new TemplateError(`The template function 'copyIndex' refers to the copy loop '${loop}', which is not in scope here.`);
          return frame.index;
        }
        const frame = loops[0];
        if (!frame) throw new TemplateError("The template function 'copyIndex' is not expected at this location: it can only be used in a resource or property with a copy loop.");
        return frame.index;
      },
      reference: (target, apiVersion, full) => {
        if (!hooks) throw new TemplateError("The template function 'reference' is not expected at this location (resource names, types, conditions, dependsOn, scopes and variables are evaluated before deployment). Please see https://aka.ms/arm-functions for usage details.");
        return hooks.reference(target, apiVersion, full, from);
      },
      list: (action, target, apiVersion, body) => {
        if (!hooks) throw new TemplateError(`The template function '${action}' is not expected at this location. Please see https://aka.ms/arm-functions for usage details.`);
        return hooks.list(action, target, apiVersion, body, from);
      },
    };
  }

  evaluateValue(v: unknown, host: EvalHost, loops: LoopFrame[] = []): Json {
    if (typeof v === 'string') return isExpression(v) ? evaluate(parseExpression(v), host) : unescapeLiteral(v);
    if (Array.isArray(v)) return v.map((x) => this.evaluateValue(x, host, loops));
    if (v && typeof v === 'object') {
      const out: { [k: string]: Json } = {};
      for (const [k, x] of Object.entries(v)) {
        if (k === 'copy' && Array.isArray(x)) {
          // property copy loops: copy: [{ name, count, input }] produces the property `name`
          for (const loop of x as Array<Record<string, unknown>>) {
            const name = String(loop.name);
            const count = this.evaluateValue(loop.count, host, loops);
            if (typeof count !== 'number' || count < 0 || count > 800) throw new TemplateError(`The copy count of property loop '${name}' must be a whole number from 0 to 800, got ${String(count)}.`);
            const items: Json[] = [];
            for (let i = 0; i < count; i++) {
              const frames = [...loops, { name, index: i }];
              items.push(this.evaluateValue(loop.input, withLoops(host, frames), frames));
            }
            out[name] = items;
          }
          continue;
        }
        // ARM evaluates expressions in property names too (`userAssignedIdentities: { "[resourceId(...)]": {} }`).
        const name = isExpression(k) ? evaluate(parseExpression(k), host) : unescapeLiteral(k);
        if (typeof name !== 'string') throw new TemplateError(`The property name expression '${k}' must evaluate to a string.`);
        out[name] = this.evaluateValue(x, host, loops);
      }
      return out;
    }
    return (v ?? null) as Json;
  }

  private variable(name: string): Json {
    if (name.toLowerCase() === 'copy') throw new TemplateError("'copy' is not a variable name; variable copy loops define the variables they name.");
    const key = Object.keys(this.variableDefs).find((k) => k.toLowerCase() === name.toLowerCase());
    const copyLoops = Array.isArray(this.variableDefs.copy) ? (this.variableDefs.copy as Array<Record<string, unknown>>) : [];
    const loop = copyLoops.find((l) => String(l.name).toLowerCase() === name.toLowerCase());
    if (key === undefined && !loop) throw new TemplateError(`The template variable '${name}' is not found. Please see https://aka.ms/arm-syntax-variables for usage details.`);
    const cacheKey = name.toLowerCase();
    if (this.variableCache.has(cacheKey)) return this.variableCache.get(cacheKey)!;
    if (this.evaluating.has(cacheKey)) throw new TemplateError(`The template variable '${name}' refers to itself (a circular reference between variables).`);
    this.evaluating.add(cacheKey);
    let value: Json;
    if (loop) {
      value = (this.evaluateValue({ copy: [{ ...loop, name: String(loop.name) }] }, this.staticHost([])) as { [k: string]: Json })[String(loop.name)] ?? [];
    } else {
      value = this.evaluateValue(this.variableDefs[key!], this.staticHost([]));
    }
    this.evaluating.delete(cacheKey);
    this.variableCache.set(cacheKey, value);
    return value;
  }

  bindParameter(key: string): void {
    const def = this.paramDefs[key];
    const type = String(def.type ?? '').toLowerCase();
    if (!PARAM_TYPES[type]) throw new TemplateError(`The template parameter '${key}' has type '${String(def.type)}', which is not one of ${Object.values(PARAM_TYPES).join(', ')}.`);
    let value: Json;
    if (this.provided.has(key.toLowerCase())) value = this.provided.get(key.toLowerCase())!;
    else if (def.defaultValue !== undefined) value = this.evaluateValue(def.defaultValue, this.staticHost([]));
    else throw new TemplateError(`The value for the template parameter '${key}' is not provided. Please see https://aka.ms/arm-create-parameter-file for usage details.`);
    checkParameter(key, type, def, value);
    this.parameters[key] = { type: PARAM_TYPES[type], value };
  }

  /** Resources from `defs` into the plan: nested children flattened, copy loops unrolled (serial ones in batches). */
  expand(defs: unknown[], path: string, parent?: ParentResource): void {
    defs.forEach((d, i) => {
      if (!d || typeof d !== 'object' || Array.isArray(d)) throw new TemplateError(`${path}[${i}] must be a resource object.`);
      const def = d as Record<string, unknown>;
      const copy = def.copy as Record<string, unknown> | undefined;
      const loops = parent?.loops ?? [];
      if (copy) {
        if (parent) throw new TemplateError(`${path}[${i}]: copy loops are not supported on nested child resources; define the child at the top level.`);
        const loopName = String(copy.name ?? '');
        if (!loopName) throw new TemplateError(`${path}[${i}].copy needs a name.`);
        const count = this.evaluateValue(copy.count, this.staticHost(loops));
        if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > 800) throw new TemplateError(`The copy count of '${loopName}' must be a whole number from 0 to 800, got ${String(count)}.`);
        const serial = String(copy.mode ?? 'parallel').toLowerCase() === 'serial';
        const batch = serial ? Math.max(1, Number(this.evaluateValue(copy.batchSize ?? 1, this.staticHost(loops)))) : Infinity;
        const keys: string[] = [];
        for (let c = 0; c < count; c++) {
          const frames = [{ name: loopName, index: c }];
          const key = `${path}[${i}][copy ${c}]`;
          const previousBatch = serial && c >= batch ? keys.slice(Math.floor(c / batch - 1) * batch, Math.floor(c / batch) * batch) : [];
          this.addOne(def, key, frames, parent, { name: loopName, index: c }, previousBatch);
          keys.push(key);
        }
        if (this.loopMembers.has(loopName.toLowerCase())) throw new TemplateError(`The copy loop name '${loopName}' is used more than once in the template.`);
        this.loopMembers.set(loopName.toLowerCase(), keys);
      } else {
        this.addOne(def, `${path}[${i}]`, loops, parent, undefined, []);
      }
    });
  }

  private addOne(
    def: Record<string, unknown>,
    key: string,
    loops: LoopFrame[],
    parent: ParentResource | undefined,
    copy: { name: string; index: number } | undefined,
    serialAfter: string[],
  ): void {
    const scope = this.scope;
    const host = this.staticHost(loops);
    const ev = (v: unknown, what: string): Json => {
      try {
        return this.evaluateValue(v, host, loops);
      } catch (e) {
        if (e instanceof TemplateError) throw new TemplateError(`The template resource at ${key} is not valid: ${what}: ${e.message}`);
        throw e;
      }
    };
    let type = ev(def.type, 'type');
    let name = ev(def.name, 'name');
    const apiVersion = ev(def.apiVersion, 'apiVersion');
    if (typeof type !== 'string' || !type) throw new TemplateError(`The template resource at ${key} needs a 'type'.`);
    if (typeof name !== 'string' || !name) throw new TemplateError(`The template resource at ${key} (${type}) needs a 'name'.`);
    if (typeof apiVersion !== 'string' || !/^\d{4}-\d{2}-\d{2}(-[a-z]+)?$/i.test(apiVersion)) {
      throw new TemplateError(`The template resource '${name}' of type '${type}' needs an 'apiVersion' such as '2023-05-01', got ${JSON.stringify(apiVersion)}.`);
    }
    if (type.toLowerCase() === 'microsoft.resources/deployments') {
      throw new TemplateError(`The template resource '${name}' is a nested deployment (Microsoft.Resources/deployments), which the local ARM emulator does not support; flatten it into the main template.`);
    }
    if (parent) {
      if (!/^[A-Za-z0-9]+\.[A-Za-z0-9.]+\//.test(type)) {
        type = `${parent.type}/${type}`;
        name = `${parent.name}/${name}`;
      }
    }
    const typeSegs = type.split('/');
    const nameSegs = name.split('/');
    const scopeValue = def.scope === undefined ? undefined : ev(def.scope, 'scope');
    let scopeId: string | undefined;
    if (scopeValue !== undefined && scopeValue !== null) {
      if (typeof scopeValue !== 'string') throw new TemplateError(`The template resource '${name}' has a 'scope' that is not a string.`);
      scopeId = scopeValue.startsWith('/') ? scopeValue : resolveRelativeScope(scopeValue, scope);
    }
    if (typeSegs.length !== nameSegs.length + 1) {
      throw new TemplateError(
        `The template resource '${name}' for type '${type}' has incorrect segment lengths. A nested resource type must have identical number of segments as its resource name. A root resource type must have segment length one greater than its resource name. Please see https://aka.ms/arm-syntax-resources for usage details.`,
      );
    }
    // Preflight, as in ARM: a type or api-version the provider does not have fails the whole deployment before
    // anything is written, whatever the resource's condition (an ArmError, not InvalidTemplate: ARM's own code).
    const versionError = apiVersionError(type, apiVersion);
    if (versionError) throw versionError;
    const base = scopeId ?? `/subscriptions/${scope.subscriptionId}/resourceGroups/${scope.resourceGroup.name}`;
    const id = `${base}${typePath(type, nameSegs)}`;
    const conditionValue = def.condition === undefined ? true : ev(def.condition, 'condition');
    if (typeof conditionValue !== 'boolean') throw new TemplateError(`The template resource '${name}' has a condition that is not true or false.`);
    const rawDeps = def.dependsOn === undefined ? [] : ev(def.dependsOn, 'dependsOn');
    if (!Array.isArray(rawDeps) || rawDeps.some((x) => typeof x !== 'string')) throw new TemplateError(`The template resource '${name}' has a 'dependsOn' that is not a list of strings.`);
    const { resources: nested, copy: _copy, ...rest } = def;
    const res: PlannedResource = { key, def: rest, type, apiVersion, name, id, scope: scopeId, condition: parent ? conditionValue && this.resources.find((r) => r.key === parent.key)!.condition : conditionValue, copy, dependsOn: [] };
    if (this.resources.some((r) => r.id.toLowerCase() === id.toLowerCase())) {
      throw new TemplateError(`The resource '${id}' is defined multiple times in a template. Please see https://aka.ms/arm-syntax-resources for usage details.`);
    }
    this.resources.push(res);
    this.pendingDeps.push({ res, raw: rawDeps as string[], parentKey: parent?.key, serialAfter });
    if (Array.isArray(nested)) this.expand(nested, `${key}.resources`, { type, name, key, loops });
  }

  find(target: string): PlannedResource | undefined {
    const t = target.toLowerCase();
    if (t.startsWith('/')) return this.resources.find((r) => r.id.toLowerCase() === t);
    const byName = this.resources.filter((r) => r.name.toLowerCase() === t);
    if (byName.length === 1) return byName[0];
    // `Microsoft.Storage/storageAccounts/name` form
    const m = /^([A-Za-z0-9]+\.[A-Za-z0-9.]+)\/(.+)$/.exec(target);
    if (m) {
      const segs = m[2].split('/');
      const typeLen = Math.ceil(segs.length / 2);
      const type = [m[1], ...segs.slice(0, typeLen)].join('/').toLowerCase();
      const name = segs.slice(typeLen).join('/').toLowerCase();
      return this.resources.find((r) => r.type.toLowerCase() === type && r.name.toLowerCase() === name);
    }
    return undefined;
  }

  /** Each resource's dependsOn as plan keys: its parent, the previous serial batch, and the resources or loops it names. */
  resolveDependencies(): void {
    for (const { res, raw, parentKey, serialAfter } of this.pendingDeps) {
      const deps = new Set<string>(serialAfter);
      if (parentKey) deps.add(parentKey);
      for (const d of raw) {
        const loop = this.loopMembers.get(d.toLowerCase());
        if (loop) {
          loop.forEach((k) => deps.add(k));
          continue;
        }
        const hit = this.find(d);
        if (!hit) throw new TemplateError(`The resource '${d}' is not defined in the template. Please see https://aka.ms/arm-syntax for usage details.`);
        // ARM refuses a resource that names itself in dependsOn: a cycle of one.
        if (hit.key === res.key) throw new TemplateError(`Circular dependency detected on resource: '${res.id}'. Please see https://aka.ms/arm-syntax-resources for usage details. The cycle: ${res.name} -> ${res.name}.`);
        deps.add(hit.key);
      }
      // A copy-loop member that depends on its own loop waits for the other members, not for itself.
      deps.delete(res.key);
      res.dependsOn = [...deps];
    }
  }
}

/** The host with property/variable copy-loop frames on top: a named copyIndex() finds its loop, an unnamed one the resource's. */
function withLoops(host: EvalHost, loops: LoopFrame[]): EvalHost {
  return {
    ...host,
    copyIndex: (loop) => {
      if (loop === undefined) {
        // Unnamed: the resource's loop; in output and variable loops (no resource loop), the loop itself.
        try {
          return host.copyIndex(undefined);
        } catch (e) {
          if (e instanceof TemplateError && loops.length > 0) return loops[loops.length - 1].index;
          throw e;
        }
      }
      const frame = [...loops].reverse().find((f) => f.name.toLowerCase() === loop.toLowerCase());
      return frame ? frame.index : host.copyIndex(loop);
    },
  };
}

function resolveRelativeScope(scopeValue: string, scope: TemplateScope): string {
  // `Microsoft.Storage/storageAccounts/acct` (Bicep's form in JSON) → a resource id in this group.
  const segs = scopeValue.split('/');
  if (segs.length < 3 || segs.length % 2 === 0) throw new TemplateError(`The scope '${scopeValue}' is neither a resource id nor of the form '<namespace>/<type>/<name>'.`);
  const ns = segs[0];
  const rest = segs.slice(1);
  const pairs: string[] = [];
  for (let i = 0; i < rest.length; i += 2) pairs.push(`${rest[i]}/${rest[i + 1]}`);
  return `/subscriptions/${scope.subscriptionId}/resourceGroups/${scope.resourceGroup.name}/providers/${ns}/${pairs.join('/')}`;
}

function checkCycles(resources: PlannedResource[]): void {
  const byKey = new Map(resources.map((r) => [r.key, r]));
  const state = new Map<string, 1 | 2>();
  const visit = (r: PlannedResource, trail: PlannedResource[]) => {
    const s = state.get(r.key);
    if (s === 2) return;
    if (s === 1) {
      const cycle = [...trail.slice(trail.indexOf(r)), r].map((x) => x.name);
      throw new TemplateError(`Circular dependency detected on resource: '${r.id}'. Please see https://aka.ms/arm-syntax-resources for usage details. The cycle: ${cycle.join(' -> ')}.`);
    }
    state.set(r.key, 1);
    for (const d of r.dependsOn) visit(byKey.get(d)!, [...trail, r]);
    state.set(r.key, 2);
  };
  resources.forEach((r) => visit(r, []));
}

function bindProvided(parametersIn: unknown, defs: Record<string, Record<string, unknown>>): Map<string, Json> {
  const out = new Map<string, Json>();
  if (parametersIn === undefined || parametersIn === null) return out;
  if (typeof parametersIn !== 'object' || Array.isArray(parametersIn)) throw new TemplateError("The deployment's parameters must be an object of { \"name\": { \"value\": ... } }.");
  const unknown: string[] = [];
  for (const [name, p] of Object.entries(parametersIn as Record<string, unknown>)) {
    if (!Object.keys(defs).some((k) => k.toLowerCase() === name.toLowerCase())) {
      unknown.push(name);
      continue;
    }
    if (!p || typeof p !== 'object' || Array.isArray(p)) throw new TemplateError(`The template parameter '${name}' must be given as { "value": ... }.`);
    const v = p as Record<string, unknown>;
    if (v.reference !== undefined) throw new TemplateError(`The template parameter '${name}' is a Key Vault reference, which the local ARM emulator does not resolve; pass the value.`);
    if (!('value' in v)) throw new TemplateError(`The template parameter '${name}' must be given as { "value": ... }.`);
    out.set(name.toLowerCase(), v.value as Json);
  }
  if (unknown.length > 0) {
    throw new TemplateError(
      `The template parameters '${unknown.join(', ')}' in the parameters file are not valid; they are not present in the original template and can therefore not be provided at deployment time. The only supported parameters for this template are '${Object.keys(defs).join(', ')}'. Please see https://aka.ms/arm-pass-parameter-values for usage details.`,
    );
  }
  return out;
}

function checkParameter(name: string, type: string, def: Record<string, unknown>, value: Json): void {
  const expected = PARAM_TYPES[type];
  const got = value === null ? 'Null' : Array.isArray(value) ? 'Array' : typeof value === 'object' ? 'Object' : typeof value === 'number' ? 'Integer' : typeof value === 'boolean' ? 'Boolean' : 'String';
  const ok =
    ((type === 'string' || type === 'securestring') && typeof value === 'string') ||
    (type === 'int' && typeof value === 'number' && Number.isInteger(value)) ||
    (type === 'bool' && typeof value === 'boolean') ||
    (type === 'array' && Array.isArray(value)) ||
    ((type === 'object' || type === 'secureobject') && got === 'Object');
  if (!ok) {
    throw new TemplateError(`Template parameter '${name}' was provided an invalid value. Expected a value of type '${expected === 'Int' ? 'Integer' : expected}', but received a value of type '${got}'. Please see https://aka.ms/arm-create-parameter-file for usage details.`);
  }
  const allowed = def.allowedValues as Json[] | undefined;
  if (Array.isArray(allowed)) {
    const values = Array.isArray(value) && type === 'array' ? value : [value];
    const bad = values.find((v) => !allowed.some((a) => JSON.stringify(a) === JSON.stringify(v)));
    if (bad !== undefined) {
      throw new TemplateError(`The provided value for the template parameter '${name}' is not valid. The value '${typeof bad === 'string' ? bad : JSON.stringify(bad)}' is not part of the allowed value(s): '${allowed.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(',')}'.`);
    }
  }
  const len = typeof value === 'string' || Array.isArray(value) ? value.length : undefined;
  if (len !== undefined && typeof def.minLength === 'number' && len < def.minLength) {
    throw new TemplateError(`The provided value for the template parameter '${name}' is not valid. Length of the value should be greater than or equal to '${def.minLength}'.`);
  }
  if (len !== undefined && typeof def.maxLength === 'number' && len > def.maxLength) {
    throw new TemplateError(`The provided value for the template parameter '${name}' is not valid. Length of the value should be less than or equal to '${def.maxLength}'.`);
  }
  if (typeof value === 'number' && typeof def.minValue === 'number' && value < def.minValue) {
    throw new TemplateError(`The provided value for the template parameter '${name}' is not valid. The value should be greater than or equal to '${def.minValue}'.`);
  }
  if (typeof value === 'number' && typeof def.maxValue === 'number' && value > def.maxValue) {
    throw new TemplateError(`The provided value for the template parameter '${name}' is not valid. The value should be less than or equal to '${def.maxValue}'.`);
  }
}

/** Output types as ARM reports them. */
export function outputType(t: unknown): string {
  return PARAM_TYPES[String(t ?? '').toLowerCase()] ?? String(t);
}
