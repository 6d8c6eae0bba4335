import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Just enough of Bicep's lexical grammar to read infra/ without a Bicep compiler (there is none on
 * npm): comments are dropped, strings become single tokens (their text, whether they interpolate,
 * and the tokens of their `${…}` expressions), brackets can be matched. Used by tests/infra/*.test.ts.
 */
export interface Token {
  kind: 'ident' | 'string' | 'number' | 'punct' | 'newline';
  text: string;
  /** 1-based line of the token's first character. */
  line: number;
  /** string: true when it contains `${…}`. */
  interpolated?: boolean;
  /** string: tokens of the expressions inside `${…}`. */
  inner?: Token[];
}

export const ROOT = path.resolve(__dirname, '..', '..');
export const INFRA = path.join(ROOT, 'infra');

export function lex(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  const at = (s: string) => src.startsWith(s, i);
  const advance = (n: number) => {
    for (let k = 0; k < n; k++) if (src[i + k] === '\n') line++;
    i += n;
  };
  while (i < src.length) {
    const c = src[i];
    if (c === '\n') {
      tokens.push({ kind: 'newline', text: '\n', line });
      advance(1);
    } else if (c === ' ' || c === '\t' || c === '\r') {
      advance(1);
    } else if (at('//')) {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (at('/*')) {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new Error(`unterminated /* comment at line ${line}`);
      advance(end + 2 - i);
    } else if (at("'''")) {
      const end = src.indexOf("'''", i + 3);
      if (end < 0) throw new Error(`unterminated ''' string at line ${line}`);
      tokens.push({ kind: 'string', text: src.slice(i + 3, end), line, interpolated: false, inner: [] });
      advance(end + 3 - i);
    } else if (c === "'") {
      const startLine = line;
      let text = '';
      let interpolated = false;
      const inner: Token[] = [];
      advance(1);
      for (;;) {
        if (i >= src.length) throw new Error(`unterminated string at line ${startLine}`);
        const d = src[i];
        if (d === '\\') {
          const e = src[i + 1];
          text += e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : e;
          advance(2);
        } else if (d === "'") {
          advance(1);
          break;
        } else if (d === '$' && src[i + 1] === '{') {
          // An interpolation: an expression up to the matching '}', which may itself hold strings and braces.
          interpolated = true;
          advance(2);
          const exprStart = i;
          let depth = 1;
          while (depth > 0) {
            if (i >= src.length) throw new Error(`unterminated interpolation at line ${startLine}`);
            if (src[i] === "'") {
              // skip a nested string (escapes included)
              advance(1);
              while (src[i] !== "'") advance(src[i] === '\\' ? 2 : 1);
              advance(1);
              continue;
            }
            if (src[i] === '{') depth++;
            if (src[i] === '}') depth--;
            if (depth > 0) advance(1);
          }
          const expr = src.slice(exprStart, i);
          inner.push(...lex(expr).map((t) => ({ ...t, line: t.line + startLine - 1 })));
          text += '${' + expr + '}';
          advance(1);
        } else {
          text += d;
          advance(1);
        }
      }
      tokens.push({ kind: 'string', text, line: startLine, interpolated, inner });
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      tokens.push({ kind: 'ident', text: m[0], line });
      advance(m[0].length);
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?/.exec(src.slice(i))!;
      tokens.push({ kind: 'number', text: m[0], line });
      advance(m[0].length);
    } else {
      tokens.push({ kind: 'punct', text: c, line });
      advance(1);
    }
  }
  return tokens;
}

const OPEN = new Set(['{', '[', '(']);
const CLOSE = new Set(['}', ']', ')']);
const DECLARATIONS = new Set(['var', 'param', 'resource', 'module', 'output', 'type', 'func', 'import', 'targetScope', 'metadata', 'extension', 'using']);

/** Index of the bracket closing the one at `open`. */
export function matching(tokens: Token[], open: number): number {
  let depth = 0;
  for (let k = open; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.kind !== 'punct') continue;
    if (OPEN.has(t.text)) depth++;
    if (CLOSE.has(t.text)) depth--;
    if (depth === 0) return k;
  }
  throw new Error(`unbalanced bracket at line ${tokens[open].line}`);
}

/** A top-level declaration: its keyword, name, and tokens [start, end). */
export interface Declaration {
  keyword: string;
  name: string;
  /** decorator names, e.g. ['secure', 'description'] */
  decorators: string[];
  start: number;
  end: number;
  line: number;
}

/** Top-level declarations, each running to the newline (at bracket depth 0) before the next declaration or decorator. */
export function declarations(tokens: Token[]): Declaration[] {
  const out: Declaration[] = [];
  let depth = 0;
  let pendingDecorators: string[] = [];
  let current: Declaration | undefined;
  let atLineStart = true;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.kind === 'newline') {
      atLineStart = depth === 0;
      continue;
    }
    if (depth === 0 && atLineStart && ((t.kind === 'ident' && DECLARATIONS.has(t.text)) || (t.kind === 'punct' && t.text === '@'))) {
      if (current) {
        current.end = k;
        out.push(current);
        current = undefined;
      }
      if (t.text === '@') {
        pendingDecorators.push(tokens[k + 1]?.text ?? '');
      } else {
        const next = tokens[k + 1];
        current = { keyword: t.text, name: next?.kind === 'ident' ? next.text : '', decorators: pendingDecorators, start: k, end: tokens.length, line: t.line };
        pendingDecorators = [];
      }
    }
    atLineStart = false;
    if (t.kind === 'punct' && OPEN.has(t.text)) depth++;
    if (t.kind === 'punct' && CLOSE.has(t.text)) depth--;
  }
  if (current) out.push(current);
  return out;
}

/** Identifiers used in tokens [start, end), those inside string interpolations included. */
export function identifiers(tokens: Token[], start = 0, end = tokens.length): Set<string> {
  const ids = new Set<string>();
  for (let k = start; k < end; k++) {
    const t = tokens[k];
    if (t.kind === 'ident') ids.add(t.text);
    if (t.kind === 'string') for (const id of identifiers(t.inner ?? [])) ids.add(id);
  }
  return ids;
}

/** The top-level keys of the object literal whose '{' is at `open` (identifiers or plain quoted strings before ':'). */
export function objectKeys(tokens: Token[], open: number): Array<{ key: string; line: number }> {
  const close = matching(tokens, open);
  const keys: Array<{ key: string; line: number }> = [];
  let depth = 0;
  for (let k = open; k < close; k++) {
    const t = tokens[k];
    if (t.kind === 'punct' && OPEN.has(t.text)) depth++;
    if (t.kind === 'punct' && CLOSE.has(t.text)) depth--;
    if (depth !== 1 || k === open) continue;
    const prev = tokens[k - 1];
    const next = tokens[k + 1];
    const startsEntry = prev.kind === 'newline' || (prev.kind === 'punct' && (prev.text === ',' || k - 1 === open));
    if (!startsEntry || next?.kind !== 'punct' || next.text !== ':') continue;
    if (t.kind === 'ident' || (t.kind === 'string' && !t.interpolated)) keys.push({ key: t.text, line: t.line });
    else if (t.kind === 'string') throw new Error(`line ${t.line}: an interpolated key ('${t.text}') cannot be checked; use a plain name`);
  }
  return keys;
}

/** The first top-level property `name:` of the object at `open`: index of its first value token, or -1. */
export function propertyValue(tokens: Token[], open: number, name: string, wantDepth = 1): number {
  const close = matching(tokens, open);
  let depth = 0;
  for (let k = open; k < close; k++) {
    const t = tokens[k];
    if (t.kind === 'punct' && OPEN.has(t.text)) depth++;
    if (t.kind === 'punct' && CLOSE.has(t.text)) depth--;
    if (depth === wantDepth && t.kind === 'ident' && t.text === name && tokens[k + 1]?.text === ':') return k + 2;
  }
  return -1;
}

/** Index of the first '{' of a declaration (a resource's or module's body, a var's object literal). */
export function bodyStart(tokens: Token[], decl: Declaration): number {
  for (let k = decl.start; k < decl.end; k++) if (tokens[k].kind === 'punct' && tokens[k].text === '{') return k;
  return -1;
}

export interface BicepFile {
  file: string;
  /** path relative to the repository root, for messages */
  rel: string;
  text: string;
  tokens: Token[];
  decls: Declaration[];
}

export function readBicep(file: string): BicepFile {
  const text = readFileSync(file, 'utf8');
  const tokens = lex(text);
  return { file, rel: path.relative(ROOT, file), text, tokens, decls: declarations(tokens) };
}

export function listFiles(dir: string, ext?: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && (!ext || e.name.endsWith(ext)))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

export const allBicep = (): BicepFile[] => listFiles(INFRA, '.bicep').map(readBicep);

/** The resource type (without API version) of a `resource` declaration. */
export function resourceType(f: BicepFile, d: Declaration): string {
  const t = f.tokens[d.start + 2];
  return t?.kind === 'string' ? t.text.split('@')[0] : '';
}
