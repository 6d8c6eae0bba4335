/**
 * The OData `$filter` subset that Azure Table storage evaluates, for the SQLite adapter: comparisons
 * (eq ne gt ge lt le) of a property with a literal (string, datetime'…', guid'…', number, number L, true/false),
 * joined by and / or / not and parentheses. Like the service, a comparison between values of different types
 * is false, and a missing property compares false. Anything else is a 400, as the service answers it.
 */

export type FilterValue = string | number | boolean | Date | { guid: string } | { int64: bigint };

type Node =
  | { kind: 'cmp'; op: 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le'; prop: string; value: FilterValue }
  | { kind: 'and' | 'or'; left: Node; right: Node }
  | { kind: 'not'; inner: Node }
  | { kind: 'const'; value: boolean };

export class FilterSyntaxError extends Error {
  readonly statusCode = 400;
  readonly code = 'InvalidInput';
  constructor(filter: string, at: number, what: string) {
    super(`The filter ${JSON.stringify(filter)} is not valid at character ${at + 1}: ${what}`);
    this.name = 'FilterSyntaxError';
  }
}

interface Token {
  t: 'ident' | 'lit' | '(' | ')';
  v: string;
  value?: FilterValue;
  at: number;
}

function tokenize(filter: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < filter.length) {
    const c = filter[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '(' || c === ')') {
      out.push({ t: c, v: c, at: i });
      i++;
      continue;
    }
    const typed = /^(datetime|guid|X|binary)'/.exec(filter.slice(i));
    if (c === "'" || typed) {
      const start = i;
      i += typed ? typed[0].length : 1;
      let s = '';
      for (;;) {
        if (i >= filter.length) throw new FilterSyntaxError(filter, start, 'the quoted literal is not closed');
        if (filter[i] === "'") {
          if (filter[i + 1] === "'") {
            s += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += filter[i];
        i++;
      }
      let value: FilterValue = s;
      if (typed?.[1] === 'datetime') {
        const d = new Date(s);
        if (Number.isNaN(d.getTime())) throw new FilterSyntaxError(filter, start, `datetime'${s}' is not a date`);
        value = d;
      } else if (typed?.[1] === 'guid') value = { guid: s.toLowerCase() };
      else if (typed) throw new FilterSyntaxError(filter, start, `${typed[1]} literals are not supported here`);
      out.push({ t: 'lit', v: s, value, at: start });
      continue;
    }
    const num = /^-?\d+(\.\d+)?([eE][-+]?\d+)?(L)?/.exec(filter.slice(i));
    if (num) {
      const value: FilterValue = num[3] ? { int64: BigInt(num[0].slice(0, -1)) } : Number(num[0]);
      out.push({ t: 'lit', v: num[0], value, at: i });
      i += num[0].length;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(filter.slice(i));
    if (word) {
      const w = word[0];
      if (w === 'true' || w === 'false') out.push({ t: 'lit', v: w, value: w === 'true', at: i });
      else out.push({ t: 'ident', v: w, at: i });
      i += w.length;
      continue;
    }
    throw new FilterSyntaxError(filter, i, `unexpected ${JSON.stringify(c)}`);
  }
  return out;
}

export function parseFilter(filter: string): Node {
  const tokens = tokenize(filter);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const fail = (what: string): never => {
    throw new FilterSyntaxError(filter, peek()?.at ?? filter.length, what);
  };
  const primary = (): Node => {
    const tok = peek();
    if (!tok) return fail('the expression ends too early');
    if (tok.t === '(') {
      pos++;
      const inner = or();
      if (peek()?.t !== ')') fail('")" expected');
      pos++;
      return inner;
    }
    if (tok.t === 'ident' && tok.v === 'not') {
      pos++;
      return { kind: 'not', inner: primary() };
    }
    if (tok.t === 'lit' && typeof tok.value === 'boolean' && (tokens[pos + 1] === undefined || tokens[pos + 1]!.t === ')' || ['and', 'or'].includes(tokens[pos + 1]!.v))) {
      pos++;
      return { kind: 'const', value: tok.value };
    }
    if (tok.t !== 'ident') return fail('a property name expected');
    pos++;
    const opTok = peek();
    if (!opTok || opTok.t !== 'ident' || !['eq', 'ne', 'gt', 'ge', 'lt', 'le'].includes(opTok.v)) return fail('a comparison (eq, ne, gt, ge, lt, le) expected');
    pos++;
    const lit = peek();
    if (!lit || lit.t !== 'lit') return fail('a literal value expected');
    pos++;
    return { kind: 'cmp', op: opTok.v as 'eq', prop: tok.v, value: lit.value! };
  };
  const and = (): Node => {
    let left = primary();
    while (peek()?.t === 'ident' && peek()!.v === 'and') {
      pos++;
      left = { kind: 'and', left, right: primary() };
    }
    return left;
  };
  const or = (): Node => {
    let left = and();
    while (peek()?.t === 'ident' && peek()!.v === 'or') {
      pos++;
      left = { kind: 'or', left, right: and() };
    }
    return left;
  };
  const tree = or();
  if (pos < tokens.length) fail(`unexpected ${JSON.stringify(peek()!.v)}`);
  return tree;
}

function compare(a: unknown, b: FilterValue): number | undefined {
  if (b instanceof Date) {
    const t = a instanceof Date ? a.getTime() : undefined;
    return t === undefined ? undefined : t - b.getTime();
  }
  if (typeof b === 'object' && 'guid' in b) {
    return typeof a === 'object' && a !== null && 'guid' in a ? String((a as { guid: string }).guid).localeCompare(b.guid) : undefined;
  }
  if (typeof b === 'object' && 'int64' in b) {
    if (typeof a === 'number' && Number.isInteger(a)) return Number(BigInt(a) - b.int64);
    return undefined;
  }
  if (typeof a !== typeof b) return undefined;
  if (typeof b === 'string') return (a as string) < b ? -1 : (a as string) > b ? 1 : 0;
  if (typeof b === 'number') return (a as number) - b;
  if (typeof b === 'boolean') return (a === b ? 0 : a ? 1 : -1);
  return undefined;
}

export function evaluate(node: Node, entity: Record<string, unknown>): boolean {
  switch (node.kind) {
    case 'const':
      return node.value;
    case 'not':
      return !evaluate(node.inner, entity);
    case 'and':
      return evaluate(node.left, entity) && evaluate(node.right, entity);
    case 'or':
      return evaluate(node.left, entity) || evaluate(node.right, entity);
    case 'cmp': {
      const c = compare(entity[node.prop], node.value);
      if (c === undefined) return false;
      switch (node.op) {
        case 'eq':
          return c === 0;
        case 'ne':
          return c !== 0;
        case 'gt':
          return c > 0;
        case 'ge':
          return c >= 0;
        case 'lt':
          return c < 0;
        case 'le':
          return c <= 0;
      }
    }
  }
}

/** The bounds a filter puts on PartitionKey at its top level (conjuncts only), so a query reads only that range. */
export function partitionBounds(node: Node): { eq?: string; lower?: { v: string; inclusive: boolean }; upper?: { v: string; inclusive: boolean } } {
  const out: ReturnType<typeof partitionBounds> = {};
  const visit = (n: Node): void => {
    if (n.kind === 'and') {
      visit(n.left);
      visit(n.right);
      return;
    }
    if (n.kind !== 'cmp' || n.prop !== 'PartitionKey' || typeof n.value !== 'string') return;
    if (n.op === 'eq') out.eq = n.value;
    if (n.op === 'ge' || n.op === 'gt') out.lower = { v: n.value, inclusive: n.op === 'ge' };
    if (n.op === 'le' || n.op === 'lt') out.upper = { v: n.value, inclusive: n.op === 'le' };
  };
  visit(node);
  return out;
}
