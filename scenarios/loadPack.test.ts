import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { formatProblem, listPacks, loadPackFile, packIdsIn, PackError, parsePack, safeParsePack, type PackProblem } from './loadPack.js';

const FIXTURES = join(__dirname, 'fixtures');
const PACKS = join(__dirname, 'packs');
const SHIPPED = packIdsIn().map((id) => `${id}.yaml`);

async function problemsOf(fixture: string): Promise<string[]> {
  const text = await readFile(join(FIXTURES, 'invalid', fixture), 'utf8');
  const result = safeParsePack(text, fixture);
  if (result.ok) throw new Error(`${fixture} unexpectedly parsed`);
  return result.problems.map(formatProblem);
}

describe('problems are reported with file, line:column and path', () => {
  test('a value of the wrong type points at the value', async () => {
    expect(await problemsOf('wrong-type.yaml')).toEqual([
      'wrong-type.yaml:170:22 phases[2].steps[1].maxAttempts: expected a positive integer, got "three"',
    ]);
  });

  test('a missing field points at the mapping that lacks it and says what to add', async () => {
    expect(await problemsOf('missing-field.yaml')).toEqual([
      'missing-field.yaml:164:9 phases[2].steps[1].maxAttempts: required field is missing: expected a positive integer; add `maxAttempts:` here',
      'missing-field.yaml:170:5 phases[3].title: required field is missing: expected text; add `title:` here',
    ]);
  });

  test('a validate step naming an undefined check points at the reference', async () => {
    expect(await problemsOf('unknown-check.yaml')).toEqual([
      'unknown-check.yaml:169:28 phases[2].steps[1].checks[1]: check "adls-tls12" is not defined in environment.checks; define it there or use one of: adls-hns, rg-tagged',
    ]);
  });

  test('a duplicate step id points at the second use and names the first', async () => {
    expect(await problemsOf('duplicate-step-id.yaml')).toEqual([
      'duplicate-step-id.yaml:164:13 phases[2].steps[1].id: step id "impl-deploy" is already used by phases[2].steps[0]; step ids must be unique within the pack — rename one',
    ]);
  });

  test('phases out of order are reported at each misplaced phase id', async () => {
    expect(await problemsOf('phases-out-of-order.yaml')).toEqual([
      'phases-out-of-order.yaml:71:9 phases[0].id: phase "design" is in position 1 but phases run in the fixed order requirements → design → implementation → validation; move it to position 2 so that "requirements" comes here',
      'phases-out-of-order.yaml:136:9 phases[1].id: phase "requirements" is in position 2 but phases run in the fixed order requirements → design → implementation → validation; move it to position 1 so that "design" comes here',
    ]);
  });

  test('a YAML syntax error is reported with its line and column, and nothing else is checked', async () => {
    expect(await problemsOf('syntax-error.yaml')).toEqual([
      'syntax-error.yaml:156:5 (syntax): YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]; check the indentation: items of one list or mapping line up, nested ones are indented further',
    ]);
  });

  test('every problem in a file is reported, in line order, with suggestions for typos', async () => {
    expect(await problemsOf('many-problems.yaml')).toEqual([
      'many-problems.yaml:6:13 complexity: expected one of "intermediate", "advanced", got "expert"',
      'many-problems.yaml:29:35 cost.developmentUsd.max: max (20) is below min (30); a range runs from min up to max — swap the two values',
      'many-problems.yaml:65:7 environment.checks[1].severity: unknown field "severity"; fields allowed here: id, description, resourceType, namePattern, hint, kind, tag, value',
      'many-problems.yaml:106:25 phases[1].steps[1].timeboxMinutes: expected a whole number of minutes, got "ten"',
      'many-problems.yaml:121:15 phases[1].steps[3].kind: expected one of "question", "task", "deliverable", "provision", "validate", "review", got "deliverables"; did you mean "deliverable"?',
      'many-problems.yaml:182:29 phases[3].steps[0].checks[1]: check "rg-taged" is not defined in environment.checks; did you mean "rg-tagged"?',
    ]);
  });

  test('JSON packs are accepted and their problems located the same way', async () => {
    expect(await problemsOf('json-pack.json')).toEqual([
      'json-pack.json:97:9 environment.checks[0].kindd: unknown field "kindd"; did you mean "kind"?',
      'json-pack.json:267:36 phases[2].steps[0].expectedDeployMinutes: the deployment is expected to take 90 min but the step is timeboxed to 60 min; raise timeboxMinutes',
      'json-pack.json:278:26 phases[2].steps[1].maxAttempts: expected a positive integer, got "three"',
    ]);
  });

  test('a repeated key is a syntax error at the second occurrence', () => {
    const result = safeParsePack('schemaVersion: 1\nid: a\ntitle: x\nid: b\n', 'dup.yaml');
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.problems.map(formatProblem)).toEqual([
        'dup.yaml:4:1 (syntax): YAML syntax error: Map keys must be unique; a key may appear only once in a mapping; remove or rename the repeated one',
      ]);
    }
  });

  test('an empty file and a file that is not a mapping are reported at 1:1', () => {
    for (const [text, got] of [
      ['', 'an empty value'],
      ['- a\n- b\n', 'a list of 2 item(s)'],
    ] as const) {
      const result = safeParsePack(text, 'odd.yaml');
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.problems.map(formatProblem)).toEqual([`odd.yaml:1:1 (root): expected a mapping (key: value pairs), got ${got}`]);
    }
  });

  test('a shortened field name suggests the full one', async () => {
    const text = (await readFile(join(FIXTURES, 'valid', 'minimal.yaml'), 'utf8')).replace('    timeboxMinutes: 30\n    objectives: [Verify security]', '    timebox: 30\n    objectives: [Verify security]');
    const result = safeParsePack(text, 'minimal.yaml');
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.problems.map(formatProblem)).toEqual([
        'minimal.yaml:171:5 phases[3].timeboxMinutes: required field is missing: expected a whole number of minutes; add `timeboxMinutes:` here',
        'minimal.yaml:173:5 phases[3].timebox: unknown field "timebox"; did you mean "timeboxMinutes"?',
      ]);
    }
  });

  test('problems carry their parts separately for tools', async () => {
    const text = await readFile(join(FIXTURES, 'invalid', 'wrong-type.yaml'), 'utf8');
    const result = safeParsePack(text, 'wrong-type.yaml');
    expect(result).toEqual({
      ok: false,
      problems: [
        {
          file: 'wrong-type.yaml',
          line: 170,
          column: 22,
          path: 'phases[2].steps[1].maxAttempts',
          message: 'expected a positive integer, got "three"',
        } satisfies PackProblem,
      ],
    });
  });
});

describe('parsePack', () => {
  test('returns the typed pack for a valid file, with defaults applied', async () => {
    const pack = parsePack(await readFile(join(FIXTURES, 'valid', 'minimal.yaml'), 'utf8'), 'minimal.yaml');
    expect(pack.id).toBe('minimal');
    expect(pack.phases.map((p) => p.id)).toEqual(['requirements', 'design', 'implementation', 'validation']);
    const hns = pack.environment.checks.find((c) => c.id === 'adls-hns');
    expect(hns).toMatchObject({ kind: 'propertyEquals', property: 'properties.isHnsEnabled', expected: true });
  });

  test('throws a PackError listing every problem', async () => {
    const text = await readFile(join(FIXTURES, 'invalid', 'missing-field.yaml'), 'utf8');
    let caught: unknown;
    try {
      parsePack(text, 'missing-field.yaml');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PackError);
    if (caught instanceof PackError) {
      expect(caught.problems).toHaveLength(2);
      expect(caught.message).toBe(
        [
          'missing-field.yaml: 2 problems',
          '  missing-field.yaml:164:9 phases[2].steps[1].maxAttempts: required field is missing: expected a positive integer; add `maxAttempts:` here',
          '  missing-field.yaml:170:5 phases[3].title: required field is missing: expected text; add `title:` here',
        ].join('\n'),
      );
    }
  });
});

describe('loading from disk', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scenario-packs-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('loadPackFile resolves the template against the pack asset folder', async () => {
    const loaded = await loadPackFile(join(FIXTURES, 'valid', 'minimal.yaml'));
    expect(loaded.assetDir).toBe(join(FIXTURES, 'valid', 'minimal'));
    expect(loaded.templatePath).toBe(join(FIXTURES, 'valid', 'minimal', 'environment', 'template.json'));
  });

  test('loadPackFile rejects a pack whose id differs from its file name, at the id', async () => {
    const file = join(dir, 'renamed.yaml');
    await copyFile(join(FIXTURES, 'valid', 'minimal.yaml'), file);
    await expect(loadPackFile(file)).rejects.toMatchObject({
      problems: [
        {
          file,
          line: 3,
          column: 5,
          path: 'id',
          message: 'pack id "minimal" does not match the file name "renamed.yaml"; rename the file to minimal.yaml or set id: renamed',
        },
      ],
    });
  });

  test('loadPackFile reports a missing file and an unsupported extension as file problems', async () => {
    const missing = join(dir, 'nope.yaml');
    await expect(loadPackFile(missing)).rejects.toMatchObject({ problems: [{ file: missing, line: 1, column: 1, path: '(file)' }] });
    await expect(loadPackFile(join(dir, 'pack.txt'))).rejects.toMatchObject({
      problems: [{ path: '(file)', message: 'unsupported file type ".txt"; pack files end in .yaml, .yml, .json' }],
    });
  });

  test('listPacks picks up a fifth pack dropped into the folder and reports broken files separately', async () => {
    for (const name of SHIPPED) await copyFile(join(PACKS, name), join(dir, name));
    const fifth: unknown = parse(await readFile(join(PACKS, 'cross-region.yaml'), 'utf8'));
    if (typeof fifth !== 'object' || fifth === null) throw new Error('cross-region.yaml did not parse to a mapping');
    await writeFile(join(dir, 'geo-analytics.json'), JSON.stringify({ ...fifth, id: 'geo-analytics', title: 'Geo Analytics' }, null, 2));
    await copyFile(join(FIXTURES, 'invalid', 'wrong-type.yaml'), join(dir, 'wrong-type.yaml'));
    await writeFile(join(dir, 'README.md'), '# not a pack\n');
    await mkdir(join(dir, 'lakehouse', 'environment'), { recursive: true });

    const folder = await listPacks(dir);

    expect(folder.packs.map((p) => p.pack.id)).toEqual(['cross-region', 'geo-analytics', 'hybrid', 'lakehouse', 'ml-scoring']);
    expect(folder.packs.find((p) => p.pack.id === 'geo-analytics')?.pack.title).toBe('Geo Analytics');
    expect(folder.failures).toEqual([
      {
        file: join(dir, 'wrong-type.yaml'),
        problems: [
          {
            file: join(dir, 'wrong-type.yaml'),
            line: 170,
            column: 22,
            path: 'phases[2].steps[1].maxAttempts',
            message: 'expected a positive integer, got "three"',
          },
        ],
      },
    ]);
  });

  test('listPacks refuses a second file with the same pack id', async () => {
    const text = await readFile(join(FIXTURES, 'valid', 'minimal.yaml'), 'utf8');
    await writeFile(join(dir, 'minimal.yaml'), text);
    await writeFile(join(dir, 'minimal.json'), JSON.stringify(parse(text), null, 2));
    const folder = await listPacks(dir);
    expect(folder.packs.map((p) => p.file)).toEqual([join(dir, 'minimal.json')]);
    expect(folder.failures.map((f) => f.problems.map(formatProblem))).toEqual([
      [`${join(dir, 'minimal.yaml')}:3:5 id: pack id "minimal" is already used by ${join(dir, 'minimal.json')}; keep one of the two files`],
    ]);
  });

  test('a pack written back out as YAML loads to the same data', async () => {
    const original = await loadPackFile(join(PACKS, 'hybrid.yaml'));
    const file = join(dir, 'hybrid.yaml');
    await writeFile(file, stringify(original.pack));
    expect((await loadPackFile(file)).pack).toEqual(original.pack);
  });
});
