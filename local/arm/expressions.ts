/**
 * ARM template language expressions: `"[concat(parameters('p'), '-', variables('v').name)]"`.
 * A parser (string → AST, so a template's functions can be checked before anything is deployed)
 * and an evaluator over a host that supplies parameters, variables, scopes and `reference()`.
 */
import { createHash, randomUUID } from 'node:crypto';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export type Expr =
  | { kind: 'lit'; value: string | number }
  | { kind: 'call'; name: string; args: Expr[] }
  | { kind: 'prop'; target: Expr; name: string }
  | { kind: 'index'; target: Expr; index: Expr };

/** A template-language error: deployment preflight turns it into InvalidTemplate. */
export class TemplateError extends Error {}

/** Thrown by `reference()`/`list*()` for a resource of this deployment that is not provisioned yet. */
export class NotReady extends Error {
  constructor(readonly resourceKey: string) {
    super(`resource ${resourceKey} is not provisioned yet`);
  }
}

/** `[...]` is an expression; `[[...` is a literal starting with `[`. */
export function isExpression(s: string): boolean {
  return s.length >= 2 && s.startsWith('[') && s.endsWith(']') && !s.startsWith('[[');
}

export function unescapeLiteral(s: string): string {
  return s.startsWith('[[') ? s.slice(1) : s;
}

// ─── parser ───────────────────────────────────────────────────────────────────────────────────

type Token = { t: 'str'; v: string } | { t: 'num'; v: number } | { t: 'id'; v: string } | { t: 'p'; v: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let v = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new TemplateError(`The language expression '${src}' is not valid: the string literal is not terminated.`);
        if (src[i] === "'") {
          if (src[i + 1] === "'") {
            v += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += src[i++];
      }
      out.push({ t: 'str', v });
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(src[i + 1] ?? ''))) {
      let j = i + 1;
      while (j < src.length && /[0-9]/.test(src[j])) j++;
      out.push({ t: 'num', v: Number(src.slice(i, j)) });
      i = j;
    } else if (/[A-Za-z_$]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[A-Za-z0-9_$]/.test(src[j])) j++;
      out.push({ t: 'id', v: src.slice(i, j) });
      i = j;
    } else if ('(),.[]'.includes(c)) {
      out.push({ t: 'p', v: c });
      i++;
    } else {
      throw new TemplateError(`The language expression '${src}' is not valid: the character '${c}' at position ${i} is not expected.`);
    }
  }
  return out;
}

const parseCache = new Map<string, Expr>();

/** Parse the text of an expression string (with its brackets). */
export function parseExpression(text: string): Expr {
  const cached = parseCache.get(text);
  if (cached) return cached;
  const src = text.slice(1, -1);
  const toks = tokenize(src);
  let pos = 0;
  const fail = (why: string): never => {
    throw new TemplateError(`The language expression '${src}' is not valid: ${why}.`);
  };
  const peek = () => toks[pos];
  const expectP = (v: string) => {
    const t = toks[pos];
    if (!t || t.t !== 'p' || t.v !== v) fail(`expected '${v}'${t ? ` but found '${String(t.v)}'` : ' at the end'}`);
    pos++;
  };
  const primary = (): Expr => {
    const t = toks[pos++];
    if (!t) return fail('the expression ends unexpectedly');
    if (t.t === 'str') return { kind: 'lit', value: t.v };
    if (t.t === 'num') return { kind: 'lit', value: t.v };
    if (t.t === 'id') {
      let name = t.v;
      // user-defined function namespaces: `ns.fn(...)`
      while (peek()?.t === 'p' && peek()!.v === '.' && toks[pos + 1]?.t === 'id' && toks[pos + 2]?.t === 'p' && toks[pos + 2]!.v === '(') {
        name += '.' + String(toks[pos + 1]!.v);
        pos += 2;
      }
      expectP('(');
      const args: Expr[] = [];
      if (!(peek()?.t === 'p' && peek()!.v === ')')) {
        for (;;) {
          args.push(expression());
          const n = peek();
          if (n?.t === 'p' && n.v === ',') {
            pos++;
            continue;
          }
          break;
        }
      }
      expectP(')');
      return { kind: 'call', name, args };
    }
    return fail(`unexpected '${String(t.v)}'`);
  };
  const expression = (): Expr => {
    let e = primary();
    for (;;) {
      const t = peek();
      if (t?.t === 'p' && t.v === '.') {
        const n = toks[pos + 1];
        if (!n || n.t !== 'id') fail('expected a property name after "."');
        e = { kind: 'prop', target: e, name: String(n!.v) };
        pos += 2;
      } else if (t?.t === 'p' && t.v === '[') {
        pos++;
        const index = expression();
        expectP(']');
        e = { kind: 'index', target: e, index };
      } else {
        return e;
      }
    }
  };
  const result = expression();
  if (pos !== toks.length) fail(`unexpected '${String(toks[pos].v)}' after the end of the expression`);
  if (result.kind === 'lit') fail('an expression must be a function call');
  parseCache.set(text, result);
  return result;
}

/** Every function name an expression calls. */
export function functionNames(e: Expr, out: Set<string> = new Set()): Set<string> {
  if (e.kind === 'call') {
    out.add(e.name);
    e.args.forEach((a) => functionNames(a, out));
  } else if (e.kind === 'prop') functionNames(e.target, out);
  else if (e.kind === 'index') {
    functionNames(e.target, out);
    functionNames(e.index, out);
  }
  return out;
}

// ─── evaluation ───────────────────────────────────────────────────────────────────────────────

/** What the template around an expression provides. */
export interface EvalHost {
  parameter(name: string): Json;
  variable(name: string): Json;
  resourceGroup(): Json;
  subscription(): Json;
  deployment(): Json;
  /** copyIndex(loopName?) without offset. */
  copyIndex(loop?: string): number;
  reference(target: string, apiVersion: string | undefined, full: boolean): Json;
  list(action: string, target: string, apiVersion: string, body: Json | undefined): Json;
}

type Fn = (args: Json[], host: EvalHost, raw: Expr[]) => Json;

const str = (v: Json, fn: string, i = 0): string => {
  if (typeof v !== 'string') throw new TemplateError(`The template function '${fn}' expects its parameter ${i + 1} to be a string, got ${describe(v)}.`);
  return v;
};
const int = (v: Json, fn: string, i = 0): number => {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TemplateError(`The template function '${fn}' expects its parameter ${i + 1} to be an integer, got ${describe(v)}.`);
  return v;
};
const arr = (v: Json, fn: string, i = 0): Json[] => {
  if (!Array.isArray(v)) throw new TemplateError(`The template function '${fn}' expects its parameter ${i + 1} to be an array, got ${describe(v)}.`);
  return v;
};
const obj = (v: Json, fn: string, i = 0): { [k: string]: Json } => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TemplateError(`The template function '${fn}' expects its parameter ${i + 1} to be an object, got ${describe(v)}.`);
  return v;
};
const arity = (fn: string, args: unknown[], min: number, max = min) => {
  if (args.length < min || args.length > max) {
    throw new TemplateError(
      `The template language function '${fn}' must have ${min === max ? `${min}` : `${min} to ${max === Infinity ? 'any number of' : max}`} argument(s), got ${args.length}.`,
    );
  }
};

export function describe(v: Json | undefined): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} '${String(v)}'`;
}

function toText(v: Json): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  if (v === null) return '';
  return JSON.stringify(v);
}

function deepEqual(a: Json, b: Json): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** 13 lower-case base32 characters from a 64-bit hash of the arguments — deterministic, like ARM's. */
export function uniqueString(parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('-')).digest();
  let n = digest.readBigUInt64BE(0);
  let out = '';
  for (let i = 0; i < 13; i++) {
    out += BASE32[Number(n & 31n)];
    n >>= 5n;
  }
  return out;
}

/** A name-based (version 5 style) GUID from the arguments — the same input always gives the same GUID. */
export function deterministicGuid(parts: string[]): string {
  const h = createHash('sha1').update('11fb06fb-712d-4ddd-98c7-e71bbd588830').update(parts.join('-')).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** .NET composite formatting as ARM's format(): `{0}`, `{1:D3}`, `{{` and `}}`. */
function dotnetFormat(fmt: string, args: Json[]): string {
  return fmt.replace(/\{\{|\}\}|\{(\d+)(?::([^}]*))?\}/g, (m, idx: string | undefined, spec: string | undefined) => {
    if (m === '{{') return '{';
    if (m === '}}') return '}';
    const i = Number(idx);
    if (i >= args.length) throw new TemplateError(`The template function 'format' has no argument {${i}}: only ${args.length} value(s) follow the format string.`);
    const v = args[i];
    if (spec && typeof v === 'number') {
      const d = /^D(\d+)$/i.exec(spec);
      if (d) return String(Math.abs(v)).padStart(Number(d[1]), '0').replace(/^/, v < 0 ? '-' : '');
      const x = /^(X|x)(\d*)$/.exec(spec);
      if (x) {
        const s = v.toString(16).padStart(Number(x[2] || 0), '0');
        return x[1] === 'X' ? s.toUpperCase() : s;
      }
    }
    return toText(v);
  });
}

const ENVIRONMENT: Json = {
  name: 'AzureCloud',
  gallery: 'https://gallery.azure.com/',
  graph: 'https://graph.windows.net/',
  portal: 'https://portal.azure.com',
  graphAudience: 'https://graph.windows.net/',
  activeDirectoryDataLake: 'https://datalake.azure.net/',
  batch: 'https://batch.core.windows.net/',
  media: 'https://rest.media.azure.net',
  sqlManagement: 'https://management.core.windows.net:8443/',
  vmImageAliasDoc: 'https://raw.githubusercontent.com/Azure/azure-rest-api-specs/main/arm-compute/quickstart-templates/aliases.json',
  resourceManager: 'https://management.azure.com/',
  authentication: {
    loginEndpoint: 'https://login.microsoftonline.com/',
    audiences: ['https://management.core.windows.net/', 'https://management.azure.com/'],
    tenant: 'common',
    identityProvider: 'AAD',
  },
  suffixes: {
    acrLoginServer: '.azurecr.io',
    azureDatalakeAnalyticsCatalogAndJob: 'azuredatalakeanalytics.net',
    azureDatalakeStoreFileSystem: 'azuredatalakestore.net',
    azureFrontDoorEndpointSuffix: 'azurefd.net',
    keyvaultDns: '.vault.azure.net',
    sqlServerHostname: '.database.windows.net',
    storage: 'core.windows.net',
  },
};

const FUNCTIONS: Record<string, Fn> = {
  // deployment values
  parameters: (a, h) => (arity('parameters', a, 1), h.parameter(str(a[0], 'parameters'))),
  variables: (a, h) => (arity('variables', a, 1), h.variable(str(a[0], 'variables'))),
  resourcegroup: (a, h) => (arity('resourceGroup', a, 0), h.resourceGroup()),
  subscription: (a, h) => (arity('subscription', a, 0), h.subscription()),
  deployment: (a, h) => (arity('deployment', a, 0), h.deployment()),
  environment: (a) => (arity('environment', a, 0), ENVIRONMENT),
  tenant: (a, h) => {
    arity('tenant', a, 0);
    const sub = h.subscription() as { tenantId: string };
    return { tenantId: sub.tenantId, countryCode: 'GB', displayName: 'Workshop emulator tenant' };
  },
  copyindex: (a, h) => {
    arity('copyIndex', a, 0, 2);
    const loop = typeof a[0] === 'string' ? a[0] : undefined;
    const offset = typeof a[0] === 'number' ? a[0] : typeof a[1] === 'number' ? a[1] : 0;
    return h.copyIndex(loop) + offset;
  },
  reference: (a, h) => {
    arity('reference', a, 1, 3);
    const full = typeof a[2] === 'string' && a[2].toLowerCase() === 'full';
    return h.reference(str(a[0], 'reference'), a[1] === undefined || a[1] === null ? undefined : str(a[1], 'reference', 1), full);
  },
  // resource ids
  resourceid: (a, h) => resourceIdFn('resourceId', a, h),
  subscriptionresourceid: (a, h) => {
    const sub = (h.subscription() as { subscriptionId: string }).subscriptionId;
    const at = a.findIndex((x) => typeof x === 'string' && x.includes('/'));
    if (at < 0 || at > 1) throw new TemplateError("The template function 'subscriptionResourceId' expects an optional subscription id, then a resource type, then its names.");
    const subscriptionId = at === 1 ? str(a[0], 'subscriptionResourceId') : sub;
    return `/subscriptions/${subscriptionId}${typePath(str(a[at], 'subscriptionResourceId', at), a.slice(at + 1).map((n, i) => str(n, 'subscriptionResourceId', at + 1 + i)))}`;
  },
  tenantresourceid: (a) => typePath(str(a[0], 'tenantResourceId'), a.slice(1).map((n, i) => str(n, 'tenantResourceId', i + 1))),
  extensionresourceid: (a) => {
    if (a.length < 3) throw new TemplateError("The template function 'extensionResourceId' expects a resource id, an extension type and its names.");
    return `${str(a[0], 'extensionResourceId')}${typePath(str(a[1], 'extensionResourceId', 1), a.slice(2).map((n, i) => str(n, 'extensionResourceId', i + 2)))}`;
  },
  // strings
  concat: (a) => {
    if (a.length === 0) throw new TemplateError("The template function 'concat' needs at least one argument.");
    if (Array.isArray(a[0])) return a.flatMap((x, i) => arr(x, 'concat', i));
    return a.map((x) => (x === null ? '' : toText(x))).join('');
  },
  format: (a) => (arity('format', a, 1, Infinity), dotnetFormat(str(a[0], 'format'), a.slice(1))),
  tolower: (a) => (arity('toLower', a, 1), str(a[0], 'toLower').toLowerCase()),
  toupper: (a) => (arity('toUpper', a, 1), str(a[0], 'toUpper').toUpperCase()),
  trim: (a) => (arity('trim', a, 1), str(a[0], 'trim').trim()),
  substring: (a) => {
    arity('substring', a, 1, 3);
    const s = str(a[0], 'substring');
    const start = a.length > 1 ? int(a[1], 'substring', 1) : 0;
    const len = a.length > 2 ? int(a[2], 'substring', 2) : s.length - start;
    if (start < 0 || len < 0 || start + len > s.length) {
      throw new TemplateError(`The index and length parameters must refer to a location within the string. The index parameter: '${start}', the length parameter: '${len}', the length of the string parameter: '${s.length}'.`);
    }
    return s.substr(start, len);
  },
  replace: (a) => (arity('replace', a, 3), str(a[0], 'replace').split(str(a[1], 'replace', 1)).join(str(a[2], 'replace', 2))),
  split: (a) => {
    arity('split', a, 2);
    const s = str(a[0], 'split');
    const seps = Array.isArray(a[1]) ? a[1].map((x, i) => str(x, 'split', i)) : [str(a[1], 'split', 1)];
    return seps.reduce<string[]>((parts, sep) => parts.flatMap((p) => p.split(sep)), [s]);
  },
  join: (a) => (arity('join', a, 2), arr(a[0], 'join').map(toText).join(str(a[1], 'join', 1))),
  padleft: (a) => (arity('padLeft', a, 2, 3), toText(a[0]).padStart(int(a[1], 'padLeft', 1), a[2] === undefined ? ' ' : str(a[2], 'padLeft', 2))),
  startswith: (a) => (arity('startsWith', a, 2), str(a[0], 'startsWith').toLowerCase().startsWith(str(a[1], 'startsWith', 1).toLowerCase())),
  endswith: (a) => (arity('endsWith', a, 2), str(a[0], 'endsWith').toLowerCase().endsWith(str(a[1], 'endsWith', 1).toLowerCase())),
  indexof: (a) => (arity('indexOf', a, 2), Array.isArray(a[0]) ? a[0].findIndex((x) => deepEqual(x, a[1])) : str(a[0], 'indexOf').toLowerCase().indexOf(str(a[1], 'indexOf', 1).toLowerCase())),
  lastindexof: (a) => (arity('lastIndexOf', a, 2), str(a[0], 'lastIndexOf').toLowerCase().lastIndexOf(str(a[1], 'lastIndexOf', 1).toLowerCase())),
  uniquestring: (a) => (arity('uniqueString', a, 1, Infinity), uniqueString(a.map((x, i) => str(x, 'uniqueString', i)))),
  guid: (a) => (arity('guid', a, 1, Infinity), deterministicGuid(a.map((x, i) => str(x, 'guid', i)))),
  newguid: (a) => (arity('newGuid', a, 0), randomUUID()),
  utcnow: (a) => (arity('utcNow', a, 0, 1), new Date().toISOString()),
  base64: (a) => (arity('base64', a, 1), Buffer.from(str(a[0], 'base64'), 'utf8').toString('base64')),
  base64tostring: (a) => (arity('base64ToString', a, 1), Buffer.from(str(a[0], 'base64ToString'), 'base64').toString('utf8')),
  uri: (a) => (arity('uri', a, 2), new URL(str(a[1], 'uri', 1), str(a[0], 'uri')).toString()),
  string: (a) => (arity('string', a, 1), toText(a[0])),
  // conversions and literals
  int: (a) => {
    arity('int', a, 1);
    const n = typeof a[0] === 'number' ? a[0] : Number.parseInt(str(a[0], 'int'), 10);
    if (!Number.isInteger(n)) throw new TemplateError(`The template function 'int' cannot convert ${describe(a[0])} to an integer.`);
    return n;
  },
  bool: (a) => (arity('bool', a, 1), typeof a[0] === 'boolean' ? a[0] : typeof a[0] === 'number' ? a[0] !== 0 : str(a[0], 'bool').toLowerCase() === 'true'),
  json: (a) => {
    arity('json', a, 1);
    try {
      return JSON.parse(str(a[0], 'json')) as Json;
    } catch {
      throw new TemplateError(`The template function 'json' was given text that is not valid JSON: '${String(a[0])}'.`);
    }
  },
  true: (a) => (arity('true', a, 0), true),
  false: (a) => (arity('false', a, 0), false),
  null: (a) => (arity('null', a, 0), null),
  // logic and comparison
  if: () => null, // evaluated lazily in evaluate()
  equals: (a) => (arity('equals', a, 2), JSON.stringify(a[0]) === JSON.stringify(a[1])),
  not: (a) => (arity('not', a, 1), !truthy(a[0], 'not')),
  and: (a) => (arity('and', a, 2, Infinity), a.every((x) => truthy(x, 'and'))),
  or: (a) => (arity('or', a, 2, Infinity), a.some((x) => truthy(x, 'or'))),
  greater: (a) => (arity('greater', a, 2), compare(a[0], a[1], 'greater') > 0),
  less: (a) => (arity('less', a, 2), compare(a[0], a[1], 'less') < 0),
  greaterorequals: (a) => (arity('greaterOrEquals', a, 2), compare(a[0], a[1], 'greaterOrEquals') >= 0),
  lessorequals: (a) => (arity('lessOrEquals', a, 2), compare(a[0], a[1], 'lessOrEquals') <= 0),
  coalesce: (a) => a.find((x) => x !== null) ?? null,
  tryget: (a) => {
    if (a.length < 2) throw new TemplateError(`The template function 'tryGet' expects at least 2 arguments, got ${a.length}.`);
    let cur: Json = a[0];
    for (const k of a.slice(1)) {
      if (cur === null) return null;
      if (Array.isArray(cur)) {
        if (typeof k !== 'number') throw new TemplateError(`tryGet: an array is indexed by an integer, got ${describe(k)}.`);
        cur = cur[k] ?? null;
      } else if (typeof cur === 'object') {
        if (typeof k !== 'string') throw new TemplateError(`tryGet: an object is indexed by a string, got ${describe(k)}.`);
        const key = Object.keys(cur).find((x) => x.toLowerCase() === k.toLowerCase());
        cur = key === undefined ? null : cur[key];
      } else throw new TemplateError(`tryGet: cannot index ${describe(cur)}.`);
    }
    return cur;
  },
  empty: (a) => {
    arity('empty', a, 1);
    const v = a[0];
    return v === null || (typeof v === 'string' && v.length === 0) || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);
  },
  contains: (a) => {
    arity('contains', a, 2);
    const [c, x] = a;
    if (typeof c === 'string') return c.includes(str(x, 'contains', 1));
    if (Array.isArray(c)) return c.some((e) => JSON.stringify(e) === JSON.stringify(x));
    return Object.keys(obj(c, 'contains')).some((k) => k.toLowerCase() === str(x, 'contains', 1).toLowerCase());
  },
  // arrays and objects
  length: (a) => {
    arity('length', a, 1);
    const v = a[0];
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    return Object.keys(obj(v, 'length')).length;
  },
  createarray: (a) => a,
  array: (a) => (arity('array', a, 1), Array.isArray(a[0]) ? a[0] : [a[0]]),
  createobject: (a) => {
    if (a.length % 2 !== 0) throw new TemplateError("The template function 'createObject' expects pairs of keys and values.");
    const o: { [k: string]: Json } = {};
    for (let i = 0; i < a.length; i += 2) o[str(a[i], 'createObject', i)] = a[i + 1];
    return o;
  },
  first: (a) => (arity('first', a, 1), typeof a[0] === 'string' ? a[0].slice(0, 1) : (arr(a[0], 'first')[0] ?? null)),
  last: (a) => (arity('last', a, 1), typeof a[0] === 'string' ? a[0].slice(-1) : (arr(a[0], 'last').at(-1) ?? null)),
  take: (a) => (arity('take', a, 2), typeof a[0] === 'string' ? a[0].slice(0, int(a[1], 'take', 1)) : arr(a[0], 'take').slice(0, Math.max(0, int(a[1], 'take', 1)))),
  skip: (a) => (arity('skip', a, 2), typeof a[0] === 'string' ? a[0].slice(int(a[1], 'skip', 1)) : arr(a[0], 'skip').slice(Math.max(0, int(a[1], 'skip', 1)))),
  union: (a) => {
    if (a.every(Array.isArray)) {
      const out: Json[] = [];
      for (const x of a.flat() as Json[]) if (!out.some((y) => JSON.stringify(y) === JSON.stringify(x))) out.push(x);
      return out;
    }
    return Object.assign({}, ...a.map((x, i) => obj(x, 'union', i))) as Json;
  },
  intersection: (a) => {
    if (a.every(Array.isArray)) return (a[0] as Json[]).filter((x) => a.every((other) => (other as Json[]).some((y) => JSON.stringify(y) === JSON.stringify(x))));
    const [first, ...rest] = a.map((x, i) => obj(x, 'intersection', i));
    return Object.fromEntries(Object.entries(first).filter(([k, v]) => rest.every((o) => JSON.stringify(o[k]) === JSON.stringify(v))));
  },
  items: (a) => (arity('items', a, 1), Object.entries(obj(a[0], 'items')).sort(([x], [y]) => x.localeCompare(y)).map(([key, value]) => ({ key, value }))),
  range: (a) => (arity('range', a, 2), Array.from({ length: int(a[1], 'range', 1) }, (_, i) => int(a[0], 'range') + i)),
  min: (a) => Math.min(...(a.length === 1 && Array.isArray(a[0]) ? a[0] : a).map((x, i) => int(x, 'min', i))),
  max: (a) => Math.max(...(a.length === 1 && Array.isArray(a[0]) ? a[0] : a).map((x, i) => int(x, 'max', i))),
  // numbers
  add: (a) => (arity('add', a, 2), int(a[0], 'add') + int(a[1], 'add', 1)),
  sub: (a) => (arity('sub', a, 2), int(a[0], 'sub') - int(a[1], 'sub', 1)),
  mul: (a) => (arity('mul', a, 2), int(a[0], 'mul') * int(a[1], 'mul', 1)),
  div: (a) => {
    arity('div', a, 2);
    const d = int(a[1], 'div', 1);
    if (d === 0) throw new TemplateError("The template function 'div' cannot divide by zero.");
    return Math.trunc(int(a[0], 'div') / d);
  },
  mod: (a) => (arity('mod', a, 2), int(a[0], 'mod') % int(a[1], 'mod', 1)),
};

/** Functions called `list*` (listKeys, listSecrets, …) are resource-provider actions. */
const LIST_FUNCTION = /^list[A-Za-z]*$/i;

export function isSupportedFunction(name: string): boolean {
  return Object.hasOwn(FUNCTIONS, name.toLowerCase()) || LIST_FUNCTION.test(name);
}

function truthy(v: Json, fn: string): boolean {
  if (typeof v !== 'boolean') throw new TemplateError(`The template function '${fn}' expects boolean arguments, got ${describe(v)}.`);
  return v;
}

function compare(a: Json, b: Json, fn: string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new TemplateError(`The template function '${fn}' compares two integers or two strings, got ${describe(a)} and ${describe(b)}.`);
}

/** `/providers/Ns/t1/n1/t2/n2` from a type and its names. */
export function typePath(type: string, names: string[]): string {
  const [ns, ...types] = type.split('/');
  const flatNames = names.flatMap((n) => n.split('/'));
  if (!ns || types.length === 0 || types.length !== flatNames.length) {
    throw new TemplateError(`Unable to evaluate the template language function 'resourceId': the type '${type}' requires ${types.length} resource name argument(s), got ${flatNames.length}.`);
  }
  return `/providers/${ns}` + types.map((t, i) => `/${t}/${flatNames[i]}`).join('');
}

function resourceIdFn(fn: string, a: Json[], h: EvalHost): string {
  const at = a.findIndex((x) => typeof x === 'string' && /^[A-Za-z0-9]+\.[A-Za-z0-9.]+\//.test(x));
  if (at < 0 || at > 2) throw new TemplateError(`The template function '${fn}' expects [subscriptionId], [resourceGroupName], a resource type such as 'Microsoft.Storage/storageAccounts' and its names.`);
  const rg = h.resourceGroup() as { name: string };
  const sub = (h.subscription() as { subscriptionId: string }).subscriptionId;
  const subscriptionId = at === 2 ? str(a[0], fn) : sub;
  const resourceGroup = at === 2 ? str(a[1], fn, 1) : at === 1 ? str(a[0], fn) : rg.name;
  const names = a.slice(at + 1).map((n, i) => str(n, fn, at + 1 + i));
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}${typePath(str(a[at], fn, at), names)}`;
}

/** Property access as ARM does it: names match case-insensitively; a missing one is an error. */
export function getProperty(target: Json, name: string): Json {
  if (typeof target !== 'object' || target === null || Array.isArray(target)) {
    throw new TemplateError(`The language expression property '${name}' can't be evaluated, property name must be a string and the target an object; the target is ${describe(target)}.`);
  }
  if (Object.hasOwn(target, name)) return target[name];
  const key = Object.keys(target).find((k) => k.toLowerCase() === name.toLowerCase());
  if (key === undefined) {
    throw new TemplateError(`The language expression property '${name}' doesn't exist, available properties are '${Object.keys(target).join(', ')}'.`);
  }
  return target[key];
}

export function evaluate(e: Expr, host: EvalHost): Json {
  switch (e.kind) {
    case 'lit':
      return e.value;
    case 'prop':
      return getProperty(evaluate(e.target, host), e.name);
    case 'index': {
      const target = evaluate(e.target, host);
      const index = evaluate(e.index, host);
      if (Array.isArray(target)) {
        if (typeof index !== 'number' || index < 0 || index >= target.length) {
          throw new TemplateError(`The language expression '[${String(index)}]' is not valid: the array index is out of bounds (length ${target.length}).`);
        }
        return target[index];
      }
      if (typeof index !== 'string') throw new TemplateError(`The language expression index ${describe(index)} cannot be used on ${describe(target)}.`);
      return getProperty(target, index);
    }
    case 'call': {
      const name = e.name.toLowerCase();
      if (name === 'if') {
        arity('if', e.args, 3);
        return truthy(evaluate(e.args[0], host), 'if') ? evaluate(e.args[1], host) : evaluate(e.args[2], host);
      }
      const fn = FUNCTIONS[name];
      if (fn) return fn(e.args.map((a) => evaluate(a, host)), host, e.args);
      if (LIST_FUNCTION.test(e.name)) {
        const args = e.args.map((a) => evaluate(a, host));
        if (args.length < 2) throw new TemplateError(`The template function '${e.name}' expects a resource id and an api-version.`);
        return host.list(e.name, str(args[0], e.name), str(args[1], e.name, 1), args[2]);
      }
      throw unsupported(e.name);
    }
  }
}

export function unsupported(name: string): TemplateError {
  return new TemplateError(`The template function '${name}' is not valid (the local ARM emulator does not implement it). Please see https://aka.ms/arm-functions for usage details.`);
}

/** Evaluate every expression string in a JSON value, recursively. */
export function evaluateDeep(v: unknown, host: EvalHost): Json {
  if (typeof v === 'string') return isExpression(v) ? evaluate(parseExpression(v), host) : unescapeLiteral(v);
  if (Array.isArray(v)) return v.map((x) => evaluateDeep(x, host));
  if (v && typeof v === 'object') {
    const out: { [k: string]: Json } = {};
    for (const [k, x] of Object.entries(v)) out[k] = evaluateDeep(x, host);
    return out;
  }
  return (v ?? null) as Json;
}

/**
 * Check every expression in a JSON value parses and calls only known functions; the first problem is
 * thrown as a TemplateError that names where it is (`path`).
 */
export function checkExpressions(v: unknown, path: string): void {
  if (typeof v === 'string') {
    if (!isExpression(v)) return;
    let parsed: Expr;
    try {
      parsed = parseExpression(v);
    } catch (e) {
      throw new TemplateError(`${(e as Error).message} (at ${path})`);
    }
    for (const name of functionNames(parsed)) {
      if (!isSupportedFunction(name)) throw new TemplateError(`${unsupported(name).message.replace(/ Please see.*$/, '')} (at ${path}). Please see https://aka.ms/arm-functions for usage details.`);
    }
  } else if (Array.isArray(v)) v.forEach((x, i) => checkExpressions(x, `${path}[${i}]`));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) checkExpressions(x, `${path}.${k}`);
}
