/**
 * Reads scenario packs (YAML or JSON) and reports every problem with where it is in the file:
 * `lakehouse.yaml:41:7 phases[2].steps[3].maxAttempts: expected a positive integer, got "three"`.
 *
 * Both formats go through the `yaml` parser (JSON is YAML's flow syntax), which keeps the source
 * range of every node; a zod issue path is walked through the document's nodes to find its line.
 */
import { readdirSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { isAlias, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { scenarioPackSchema, type ScenarioPack } from './schema.js';
import { closest } from './suggest.js';

export const PACK_EXTENSIONS: readonly string[] = ['.yaml', '.yml', '.json'];

/** The folder of the packs this app ships. */
export const SHIPPED_PACKS_DIR = join(__dirname, 'packs');

/**
 * The ids of the packs in a folder (by file name, sorted), the shipped ones by default. Tests iterate over
 * these rather than keeping their own lists, so a fifth pack is covered by dropping its file in.
 */
export function packIdsIn(dir: string = SHIPPED_PACKS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => PACK_EXTENSIONS.includes(extname(f)))
    .map((f) => basename(f, extname(f)))
    .sort();
}

export interface PackProblem {
  /** The file name as given to the loader (a path for files read from disk). */
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
  /** Where in the pack, e.g. `phases[2].steps[3].maxAttempts`; `(syntax)` / `(file)` for problems outside the data. */
  readonly path: string;
  readonly message: string;
}

export function formatProblem(p: PackProblem): string {
  return `${p.file}:${p.line}:${p.column} ${p.path}: ${p.message}`;
}

export class PackError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly PackProblem[],
  ) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`${file}: ${count}\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
    this.name = 'PackError';
  }
}

export type PackParseResult =
  | { readonly ok: true; readonly pack: ScenarioPack }
  | { readonly ok: false; readonly problems: readonly PackProblem[] };

export interface LoadedPack {
  readonly pack: ScenarioPack;
  readonly file: string;
  /** `<dir>/<id>/`: the folder that `environment.template` and other pack assets are relative to. */
  readonly assetDir: string;
  /** `environment.template` resolved against `assetDir`. */
  readonly templatePath: string;
}

export interface PackFailure {
  readonly file: string;
  readonly problems: readonly PackProblem[];
}

export interface PackFolder {
  /** Valid packs, in file-name order. */
  readonly packs: readonly LoadedPack[];
  readonly failures: readonly PackFailure[];
}

/** Parses and validates pack text; never throws for problems in the text. */
export function safeParsePack(text: string, fileName: string): PackParseResult {
  const result = analyse(text, fileName);
  return result.pack !== undefined ? { ok: true, pack: result.pack } : { ok: false, problems: result.problems };
}

/** Parses and validates pack text; throws a {@link PackError} listing every problem. */
export function parsePack(text: string, fileName: string): ScenarioPack {
  const result = analyse(text, fileName);
  if (result.pack === undefined) throw new PackError(fileName, result.problems);
  return result.pack;
}

/**
 * Loads one pack file. Besides the schema, the pack id must equal the file name without its
 * extension, because the id names the pack's asset folder next to it.
 */
export async function loadPackFile(file: string): Promise<LoadedPack> {
  const ext = extname(file).toLowerCase();
  if (!PACK_EXTENSIONS.includes(ext)) {
    throw new PackError(file, [
      fileProblem(file, `unsupported file type "${ext || '(none)'}"; pack files end in ${PACK_EXTENSIONS.join(', ')}`),
    ]);
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new PackError(file, [fileProblem(file, `cannot read the file (${reason}); check the path and its permissions`)]);
  }
  const result = analyse(text, file);
  if (result.pack === undefined) throw new PackError(file, result.problems);
  const pack = result.pack;
  const expected = basename(file, extname(file));
  if (pack.id !== expected) {
    throw new PackError(file, [
      result.problemAt(['id'], `pack id "${pack.id}" does not match the file name "${basename(file)}"; rename the file to ${pack.id}${ext} or set id: ${expected}`),
    ]);
  }
  const assetDir = join(dirname(file), pack.id);
  return { pack, file, assetDir, templatePath: join(assetDir, pack.environment.template) };
}

/**
 * Loads every pack file (`.yaml`, `.yml`, `.json`) directly in `dir`; other files, dot-files and
 * folders (the packs' asset folders) are skipped. A broken file does not stop the others loading.
 */
export async function listPacks(dir: string): Promise<PackFolder> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = entries
    .filter((e) => e.isFile() && !e.name.startsWith('.') && PACK_EXTENSIONS.includes(extname(e.name).toLowerCase()))
    .map((e) => e.name)
    .sort();
  const packs: LoadedPack[] = [];
  const failures: PackFailure[] = [];
  for (const name of files) {
    const file = join(dir, name);
    try {
      const loaded = await loadPackFile(file);
      const clash = packs.find((p) => p.pack.id === loaded.pack.id);
      if (clash) {
        const text = await readFile(file, 'utf8');
        failures.push({
          file,
          problems: [
            analyse(text, file).problemAt(['id'], `pack id "${loaded.pack.id}" is already used by ${clash.file}; keep one of the two files`),
          ],
        });
      } else {
        packs.push(loaded);
      }
    } catch (err) {
      if (!(err instanceof PackError)) throw err;
      failures.push({ file, problems: err.problems });
    }
  }
  return { packs, failures };
}

// ─── analysis ─────────────────────────────────────────────────────────────────────────────────

type DataPath = readonly (string | number)[];

interface Analysis {
  readonly pack?: ScenarioPack;
  readonly problems: readonly PackProblem[];
  problemAt(path: DataPath, message: string): PackProblem;
}

function analyse(text: string, fileName: string): Analysis {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const problem = (path: DataPath, offset: number, message: string): PackProblem => ({
    file: fileName,
    ...at(offset),
    path: formatPath(path),
    message,
  });
  const problemAt = (path: DataPath, message: string) => problem(path, locate(doc, path, 'value'), message);

  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e): PackProblem => {
      const pos = e.linePos?.[0];
      const { line, column } = pos ? { line: pos.line, column: pos.col } : at(e.pos[0]);
      return { file: fileName, line, column, path: '(syntax)', message: syntaxMessage(e.code, e.message) };
    });
    return { problems: sortProblems(problems), problemAt };
  }

  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  const parsed = scenarioPackSchema.safeParse(data, { error: packErrorMap });
  if (parsed.success) return { pack: parsed.data, problems: [], problemAt };

  const problems = parsed.error.issues.flatMap((issue) => describeIssue(issue, data, doc, problem));
  return { problems: sortProblems(dedupe(problems)), problemAt };
}

function describeIssue(
  issue: z.core.$ZodIssue,
  data: unknown,
  doc: Document,
  problem: (path: DataPath, offset: number, message: string) => PackProblem,
): PackProblem[] {
  const path = issue.path.filter((seg): seg is string | number => typeof seg === 'string' || typeof seg === 'number');

  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedKeysAt(path, data);
    return issue.keys.map((key) => {
      const guess = allowed ? closest(key, allowed) : undefined;
      const message =
        `unknown field "${key}"` +
        (guess ? `; did you mean "${guess}"?` : allowed ? `; fields allowed here: ${allowed.join(', ')}` : '; remove it');
      return problem([...path, key], locate(doc, [...path, key], 'key'), message);
    });
  }

  const target = valueAt(data, path);
  if (issue.code === 'custom') {
    return [problem(path, locate(doc, path, target.found ? 'value' : 'missing'), issue.message)];
  }
  if (!target.found) {
    const field = path[path.length - 1];
    const add = typeof field === 'string' ? `; add \`${field}:\` here` : '';
    return [problem(path, locate(doc, path, 'missing'), `required field is missing: ${issue.message}${add}`)];
  }
  const allowed = issue.code === 'invalid_value' ? issue.values : issue.code === 'invalid_union' ? unionOptions(issue) : [];
  const guess =
    typeof target.value === 'string' ? closest(target.value, allowed.filter((v): v is string => typeof v === 'string')) : undefined;
  const suffix = guess !== undefined ? `; did you mean "${guess}"?` : '';
  return [problem(path, locate(doc, path, 'value'), `${issue.message}, got ${describeValue(target.value)}${suffix}`)];
}

/** The discriminator values of a discriminated union (zod puts them on the issue as `options`). */
function unionOptions(issue: object): readonly unknown[] {
  return 'options' in issue && Array.isArray(issue.options) ? issue.options : [];
}

/** Default wording for issues whose schema does not set its own message: "expected …". */
const packErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${describeExpected(issue.expected)}`;
    case 'invalid_value':
      return issue.values.length === 1
        ? `expected ${JSON.stringify(issue.values[0])}`
        : `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union': {
      const options = unionOptions(issue);
      return options.length > 0
        ? `expected one of ${options.map((v) => JSON.stringify(v)).join(', ')}`
        : 'expected a value of one of the allowed forms';
    }
    case 'too_small':
      return boundMessage(issue.origin, issue.minimum, issue.inclusive, 'at least', '>');
    case 'too_big':
      return boundMessage(issue.origin, issue.maximum, issue.inclusive, 'at most', '<');
    case 'invalid_format':
      return issue.format === 'regex' && issue.pattern ? `expected text matching ${issue.pattern}` : `expected a valid ${issue.format}`;
    case 'invalid_key':
      return 'expected a valid key';
    default:
      return undefined;
  }
};

function describeExpected(expected: string): string {
  switch (expected) {
    case 'object':
      return 'a mapping (key: value pairs)';
    case 'array':
      return 'a list';
    case 'string':
      return 'text';
    case 'number':
      return 'a number';
    case 'int':
      return 'an integer';
    case 'boolean':
      return 'true or false';
    default:
      return expected;
  }
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  if (Array.isArray(value)) return `a list of ${value.length} item(s)`;
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    return keys.length === 0 ? 'an empty mapping' : `a mapping with ${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', ...' : ''}`;
  }
  return String(value);
}

const SYNTAX_ADVICE: Readonly<Record<string, string>> = {
  DUPLICATE_KEY: 'a key may appear only once in a mapping; remove or rename the repeated one',
  BAD_INDENT: 'check the indentation: items of one list or mapping line up, nested ones are indented further',
  TAB_AS_INDENT: 'indent with spaces, not tabs',
  MISSING_CHAR: 'a character is missing here: a closing quote or bracket, or the "- " of a list item',
  MULTIPLE_DOCS: 'a pack file holds one document; remove the extra "---"',
  MULTILINE_IMPLICIT_KEY: 'a key and its colon must be on one line; quote text that contains ": "',
  BLOCK_AS_IMPLICIT_KEY: 'a key and its colon must be on one line; quote text that contains ": "',
  UNEXPECTED_TOKEN: 'check the indentation and quoting around this point',
};

function syntaxMessage(code: string, message: string): string {
  const first = (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?\s*$/, '');
  return `YAML syntax error: ${first}; ${SYNTAX_ADVICE[code] ?? 'fix the syntax at this point'}`;
}

// ─── paths → nodes → offsets ──────────────────────────────────────────────────────────────────

/** `phases[2].steps[3].maxAttempts`; keys that are not identifiers are quoted: `parameters["a-b"]`. */
export function formatPath(path: DataPath): string {
  if (path.length === 0) return '(root)';
  return path
    .map((seg, i) => {
      if (typeof seg === 'number') return `[${seg}]`;
      if (!/^[A-Za-z_$][\w$]*$/.test(seg)) return `[${JSON.stringify(seg)}]`;
      return i === 0 ? seg : `.${seg}`;
    })
    .join('');
}

/**
 * Source offset for a problem at `path`. `value` points at the value (or its key when the value is
 * empty), `key` at the key itself (unknown fields), `missing` at the mapping that lacks the field.
 * If the path leaves the document early, the deepest node reached is used.
 */
function locate(doc: Document, path: DataPath, mode: 'value' | 'key' | 'missing'): number {
  let current: unknown = doc.contents;
  let keyNode: YamlNode | undefined;
  let deepest: YamlNode | undefined = isNode(current) ? current : undefined;
  for (const seg of path) {
    if (isAlias(current)) current = current.resolve(doc);
    let next: unknown;
    let nextKey: YamlNode | undefined;
    if (isMap(current)) {
      const pair = current.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair === undefined) return start(deepest);
      nextKey = isNode(pair.key) ? pair.key : undefined;
      next = pair.value;
    } else if (isSeq(current) && typeof seg === 'number') {
      next = current.items[seg];
      if (next === undefined) return start(deepest);
    } else {
      return start(keyNode ?? deepest);
    }
    keyNode = nextKey;
    current = next;
    if (isNode(current)) deepest = current;
    else if (keyNode) deepest = keyNode;
  }
  if (mode === 'missing') return start(deepest);
  if (mode === 'key') return start(keyNode ?? deepest);
  const valueNode = isNode(current) ? current : undefined;
  const empty = valueNode?.range ? valueNode.range[0] === valueNode.range[1] : true;
  return start(empty ? (keyNode ?? valueNode ?? deepest) : valueNode);
}

function start(node: YamlNode | undefined): number {
  return node?.range?.[0] ?? 0;
}

function valueAt(data: unknown, path: DataPath): { found: boolean; value: unknown } {
  let current = data;
  for (const seg of path) {
    if (Array.isArray(current) && typeof seg === 'number' && seg < current.length) current = current[seg];
    else if (isRecord(current) && typeof seg === 'string' && Object.hasOwn(current, seg)) current = current[seg];
    else return { found: false, value: undefined };
  }
  return { found: true, value: current };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ─── schema walking (for "fields allowed here" / "did you mean") ──────────────────────────────

type AnySchema = z.core.$ZodType;

/** The field names the schema allows for the object at `path`, choosing union members by the data. */
function allowedKeysAt(path: DataPath, data: unknown): string[] | undefined {
  let schema: AnySchema | undefined = scenarioPackSchema;
  let current = data;
  for (const seg of path) {
    schema = resolveSchema(schema, current);
    if (schema instanceof z.ZodObject && typeof seg === 'string') {
      const shape: Readonly<Record<string, AnySchema>> = schema.shape;
      schema = shape[seg];
    } else if (schema instanceof z.ZodArray && typeof seg === 'number') {
      schema = schema.element;
    } else if (schema instanceof z.ZodRecord && typeof seg === 'string') {
      schema = schema.valueType;
    } else {
      return undefined;
    }
    current = valueAt(current, [seg]).value;
  }
  schema = resolveSchema(schema, current);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : undefined;
}

function resolveSchema(schema: AnySchema | undefined, data: unknown): AnySchema | undefined {
  let s = schema;
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodDefault || s instanceof z.ZodCatch) {
      s = s.unwrap();
    } else if (s instanceof z.ZodPipe) {
      s = s.in;
    } else if (s instanceof z.ZodDiscriminatedUnion) {
      const key = s.def.discriminator;
      const tag = isRecord(data) ? data[key] : undefined;
      const options: readonly AnySchema[] = s.options;
      return options.find((o) => {
        if (!(o instanceof z.ZodObject)) return false;
        const shape: Readonly<Record<string, AnySchema>> = o.shape;
        const field = shape[key];
        return field instanceof z.ZodLiteral && [...field.values].some((v) => v === tag);
      });
    } else {
      return s;
    }
  }
}

// ─── helpers ──────────────────────────────────────────────────────────────────────────────────

function fileProblem(file: string, message: string): PackProblem {
  return { file, line: 1, column: 1, path: '(file)', message };
}

function sortProblems(problems: readonly PackProblem[]): PackProblem[] {
  return [...problems].sort((a, b) => a.line - b.line || a.column - b.column || a.path.localeCompare(b.path));
}

function dedupe(problems: readonly PackProblem[]): PackProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = formatProblem(p);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** "expected at least 3 item(s)", "expected at most 40 character(s)", "expected a value >= 1". */
function boundMessage(origin: string, limit: number | bigint, inclusive: boolean | undefined, words: 'at least' | 'at most', op: '>' | '<'): string {
  if (origin === 'array') return `expected ${words} ${limit} item(s)`;
  if (origin === 'string') return `expected ${words} ${limit} character(s)`;
  return `expected a value ${inclusive ? `${op}=` : op} ${limit}`;
}
