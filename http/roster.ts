import { z } from 'zod';
import type { Learner } from '../orchestrations/workshopTypes';
import { MAX_LEARNERS_PER_RUN } from './cohortLimit';

/**
 * Rosters: who takes part in a run. Instructors bring them as CSV (a spreadsheet export) or JSON;
 * both become the same `Learner[]`, and every problem is reported with its row and column so the
 * instructor can fix the file: `roster.csv row 14, column email: "bob@" is not an address`.
 *
 * Rows are counted as a spreadsheet shows them: the CSV header is row 1, the first learner row 2;
 * a JSON roster's first entry is row 1.
 */

/** Learner ids become parts of instance ids, table keys and resource group names: keep them plain. */
export const LEARNER_ID = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
const EMAIL = z.email();
/** Control characters (C0, DEL, C1) and the bidirectional overrides/isolates that can disguise a name. */
const CONTROL = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;
const COLUMNS = ['name', 'email', 'learnerId'] as const;
type Column = (typeof COLUMNS)[number];
const COLUMN_ALIASES: Record<string, Column> = { name: 'name', email: 'email', 'e-mail': 'email', mail: 'email', learnerid: 'learnerId', learner: 'learnerId', id: 'learnerId' };

export interface RosterProblem {
  row: number;
  column?: string;
  message: string;
}

export class RosterError extends Error {
  constructor(
    readonly file: string,
    readonly problems: RosterProblem[],
  ) {
    super(problems.map((p) => formatRosterProblem(file, p)).join('\n'));
    this.name = 'RosterError';
  }
}

export function formatRosterProblem(file: string, p: RosterProblem): string {
  return `${file} row ${p.row}${p.column ? `, column ${p.column}` : ''}: ${p.message}`;
}

interface RawRow {
  row: number;
  cells: Partial<Record<Column, string>>;
}

/**
 * Parse a roster. `file` names it in messages; its extension (or the first character of the text)
 * says whether it is CSV or JSON. Throws a RosterError listing every problem found.
 */
export function parseRoster(text: string, file = 'roster'): Learner[] {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  const isJson = /\.json$/i.test(file) || trimmed.startsWith('[') || trimmed.startsWith('{');
  const rows = isJson ? jsonRows(trimmed, file) : csvRows(trimmed, file);
  return toLearners(rows, file);
}

/** Learners given as objects (a JSON body): same checks as a file. */
export function rosterFromObjects(entries: unknown[], file = 'roster'): Learner[] {
  return toLearners(objectRows(entries, file), file);
}

function jsonRows(text: string, file: string): RawRow[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new RosterError(file, [{ row: 1, message: `is not valid JSON (${(err as Error).message}); a JSON roster is a list like [{"name": "Ada Lovelace", "email": "ada@example.com"}]` }]);
  }
  const list = Array.isArray(data) ? data : (data as { learners?: unknown })?.learners;
  if (!Array.isArray(list)) throw new RosterError(file, [{ row: 1, message: 'a JSON roster is a list of learners (or {"learners": [...]})' }]);
  return objectRows(list, file);
}

function objectRows(list: unknown[], file: string): RawRow[] {
  const problems: RosterProblem[] = [];
  const rows: RawRow[] = [];
  list.forEach((entry, i) => {
    const row = i + 1;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push({ row, message: 'expected an object with name and email' });
      return;
    }
    const cells: RawRow['cells'] = {};
    for (const [key, value] of Object.entries(entry)) {
      const column = COLUMN_ALIASES[key.toLowerCase()];
      if (!column) {
        problems.push({ row, column: key, message: `unknown field; a learner has ${COLUMNS.join(', ')}` });
        continue;
      }
      if (typeof value !== 'string') {
        problems.push({ row, column, message: `expected text, got ${JSON.stringify(value)}` });
        continue;
      }
      cells[column] = value;
    }
    rows.push({ row, cells });
  });
  if (problems.length) throw new RosterError(file, problems);
  return rows;
}

/** Records of a CSV text; `unterminated` says where a quoted value opened that never closed. */
export type CsvRecords = Array<{ line: number; fields: string[] }> & { unterminated?: { line: number; field: number } };

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and line breaks. */
export function splitCsv(text: string, delimiter = ','): CsvRecords {
  const out: CsvRecords = [];
  let opened = { line: 1, field: 0 };
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && field.trim() === '') {
      quoted = true;
      opened = { line: recordLine, field: fields.length };
      field = '';
    } else if (c === delimiter) {
      fields.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      fields.push(field);
      out.push({ line: recordLine, fields });
      fields = [];
      field = '';
      line++;
      recordLine = line;
    } else field += c;
  }
  fields.push(field);
  out.push({ line: recordLine, fields });
  const records: CsvRecords = out.filter((r) => r.fields.some((f) => f.trim() !== ''));
  // Left open, the quote swallowed the rest of the file into one value: that is the problem to report.
  if (quoted) records.unterminated = opened;
  return records;
}

function csvRows(text: string, file: string): RawRow[] {
  // Spreadsheets in many locales export with semicolons; the header row tells which.
  const firstLine = text.split(/\r?\n/, 1)[0];
  const delimiter = firstLine.includes(';') && !firstLine.includes(',') ? ';' : ',';
  const records = splitCsv(text, delimiter);
  if (records.length === 0) throw new RosterError(file, [{ row: 1, message: 'is empty; the first row names the columns: name,email (learnerId optional)' }]);
  const [header, ...body] = records;
  if (records.unterminated) {
    const { line, field } = records.unterminated;
    const named = line === header.line ? undefined : header.fields[field]?.trim();
    const column = named ? (COLUMN_ALIASES[named.toLowerCase()] ?? named) : line === header.line ? undefined : `${field + 1}`;
    throw new RosterError(file, [
      { row: line, ...(column ? { column } : {}), message: 'the quoted value opened here is never closed, so the rest of the file was read into it; add the closing " (a quote inside a quoted value is written "")' },
    ]);
  }
  const problems: RosterProblem[] = [];
  const columns: Array<Column | undefined> = header.fields.map((h) => {
    const column = COLUMN_ALIASES[h.trim().toLowerCase()];
    if (!column) problems.push({ row: header.line, column: h.trim() || '(empty)', message: `unknown column; the header names ${COLUMNS.join(', ')} (learnerId optional)` });
    return column;
  });
  for (const required of ['name', 'email'] as const) {
    if (!columns.includes(required)) problems.push({ row: header.line, column: required, message: `missing column; the header row must name ${required}` });
  }
  if (problems.length) throw new RosterError(file, problems);
  const rows = body.map((r): RawRow => {
    const cells: RawRow['cells'] = {};
    if (r.fields.length > columns.length) problems.push({ row: r.line, message: `has ${r.fields.length} fields but the header has ${columns.length} columns; quote values that contain commas` });
    columns.forEach((c, i) => {
      if (c && r.fields[i] !== undefined) cells[c] = r.fields[i];
    });
    return { row: r.line, cells };
  });
  if (problems.length) throw new RosterError(file, problems);
  return rows;
}

function slugFor(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 32)
    .replace(/-+$/, '');
}

function toLearners(rows: RawRow[], file: string): Learner[] {
  const problems: RosterProblem[] = [];
  const learners: Learner[] = [];
  const ids = new Map<string, number>();
  const emails = new Map<string, number>();
  if (rows.length === 0) problems.push({ row: 1, message: 'names no learners' });
  // Ids given in the file are reserved first, so a derived id never takes one a later row names.
  const reserved = new Set(rows.map((r) => (r.cells.learnerId ?? '').trim()).filter(Boolean));
  if (rows.length > MAX_LEARNERS_PER_RUN) problems.push({ row: rows[MAX_LEARNERS_PER_RUN].row, message: `a run takes at most ${MAX_LEARNERS_PER_RUN} learners (the largest cohort tested and benchmarked); split the cohort into several runs` });
  for (const { row, cells } of rows) {
    const name = (cells.name ?? '').trim();
    const email = (cells.email ?? '').trim();
    const given = (cells.learnerId ?? '').trim();
    let ok = true;
    const control = CONTROL.exec(name);
    if (!name) {
      problems.push({ row, column: 'name', message: 'empty; every learner needs a name' });
      ok = false;
    } else if (control) {
      const code = control[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
      problems.push({ row, column: 'name', message: `contains a control character (U+${code}) at position ${control.index + 1}; names are shown in cards and chats, so remove it` });
      ok = false;
    } else if (name.length > 100) {
      problems.push({ row, column: 'name', message: `is ${name.length} characters; keep it under 100` });
      ok = false;
    }
    if (!email) {
      problems.push({ row, column: 'email', message: 'empty; every learner needs an address' });
      ok = false;
    } else if (!EMAIL.safeParse(email).success) {
      problems.push({ row, column: 'email', message: `"${email}" is not an address` });
      ok = false;
    } else if (emails.has(email.toLowerCase())) {
      problems.push({ row, column: 'email', message: `"${email}" is already on row ${emails.get(email.toLowerCase())}` });
      ok = false;
    }
    let learnerId = given;
    if (given && !LEARNER_ID.test(given)) {
      problems.push({ row, column: 'learnerId', message: `"${given}" is not a learner id: 1-40 lowercase letters, digits and inner hyphens` });
      ok = false;
    } else if (given && ids.has(given)) {
      problems.push({ row, column: 'learnerId', message: `"${given}" is already used on row ${ids.get(given)}` });
      ok = false;
    }
    if (!ok) continue;
    emails.set(email.toLowerCase(), row);
    if (!learnerId) {
      const base = slugFor(email.split('@')[0]) || slugFor(name) || 'learner';
      learnerId = base;
      for (let n = 2; ids.has(learnerId) || reserved.has(learnerId); n++) learnerId = `${base}-${n}`;
    }
    ids.set(learnerId, row);
    learners.push({ learnerId, name, email });
  }
  if (problems.length) throw new RosterError(file, problems);
  return learners;
}
