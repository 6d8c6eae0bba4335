/** Cross-field rules of the pack schema, checked on data (paths only; loadPack.test.ts covers lines). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { formatPath } from './loadPack.js';
import { scenarioPackSchema, type ScenarioPack, type Step, type StepOf } from './schema.js';

const minimal: ScenarioPack = scenarioPackSchema.parse(parse(readFileSync(join(__dirname, 'fixtures', 'valid', 'minimal.yaml'), 'utf8')));

/** A fresh copy of the minimal valid pack to break in one place. */
const pack = (): ScenarioPack => structuredClone(minimal);

function issues(data: unknown): { path: string; message: string }[] {
  const result = scenarioPackSchema.safeParse(data);
  if (result.success) return [];
  return result.error.issues.map((i) => ({
    path: formatPath(i.path.filter((seg): seg is string | number => typeof seg !== 'symbol')),
    message: i.message,
  }));
}

function step<K extends Step['kind']>(p: ScenarioPack, id: string, kind: K): StepOf<K> {
  const found = p.phases.flatMap((ph) => ph.steps).find((s) => s.id === id);
  if (found?.kind !== kind) throw new Error(`step ${id} is not a ${kind} step`);
  return found as StepOf<K>; // narrowed by the kind comparison above; TS cannot link `kind` to K
}

function phase(p: ScenarioPack, index: number): ScenarioPack['phases'][number] {
  const found = p.phases[index];
  if (!found) throw new Error(`no phase ${index}`);
  return found;
}

test('the minimal fixture is valid', () => {
  expect(issues(pack())).toEqual([]);
});

describe('phases', () => {
  test('a missing phase is reported with the phase to add', () => {
    const p = pack();
    p.phases = p.phases.filter((ph) => ph.id !== 'validation');
    expect(issues(p)).toContainEqual({
      path: 'phases',
      message: 'expected exactly 4 phases (requirements → design → implementation → validation), got 3; add "validation"',
    });
  });

  test('a phase timebox outside the workshop format is reported at the phase', () => {
    const p = pack();
    phase(p, 0).timeboxMinutes = 45;
    expect(issues(p)).toContainEqual({
      path: 'phases[0].timeboxMinutes',
      message: 'the requirements phase is timeboxed to 30 min in the workshop format, got 45 min; set timeboxMinutes within that',
    });
  });

  test('steps that overrun their phase are reported at the phase timebox', () => {
    const p = pack();
    step(p, 'req-drivers', 'question').timeboxMinutes = 40;
    expect(issues(p)).toEqual([
      { path: 'phases[0].timeboxMinutes', message: 'the requirements steps add up to 40 min but the phase is timeboxed to 30 min; shorten steps so they fit' },
    ]);
  });

  test('phase timeboxes that do not fit the scenario duration are reported at the implementation timebox', () => {
    const p = pack();
    p.durationHours = { min: 5, max: 6 };
    expect(issues(p)).toContainEqual({
      path: 'phases[2].timeboxMinutes',
      message: 'the phase timeboxes add up to 240 min (4 h) but the scenario lasts 5–6 h; adjust the implementation timebox or durationHours',
    });
  });
});

describe('steps and references', () => {
  test('a validate step before the provision step is reported, as is implementation not starting with provision', () => {
    const p = pack();
    const impl = phase(p, 2);
    impl.steps = [...impl.steps].reverse();
    expect(issues(p)).toEqual([
      { path: 'phases[2].steps[0].kind', message: 'implementation starts with the foundation deployment; make its first step a `provision` step' },
      {
        path: 'phases[2].steps[0].kind',
        message: 'this validate step runs before any provision step, so there is no environment to check yet; move it after the foundation deployment',
      },
    ]);
  });

  test('a provision step must deploy the environment template', () => {
    const p = pack();
    step(p, 'impl-deploy', 'provision').template = 'environment/other.json';
    expect(issues(p)).toEqual([
      {
        path: 'phases[2].steps[0].template',
        message: 'provision step deploys "environment/other.json" but environment.template is "environment/template.json"; a pack has one environment — use the same path',
      },
    ]);
  });

  test('the design phase must collect all four deliverables', () => {
    const p = pack();
    step(p, 'design-roadmap', 'deliverable').deliverable.type = 'testReport';
    expect(issues(p)).toEqual([
      { path: 'phases[1].steps', message: 'the design phase must collect all four deliverables; add deliverable steps of type implementationRoadmap' },
    ]);
  });

  test('a review must score all five criteria and only review deliverables', () => {
    const p = pack();
    const review = step(p, 'design-review', 'review');
    review.rubric = review.rubric.filter((r) => r.criterion !== 'cost');
    review.reviews = [...review.reviews, 'req-drivers'];
    expect(issues(p)).toEqual([
      {
        path: 'phases[1].steps[4].rubric',
        message: 'an architecture review scores all of tradeOffs, alternatives, scalability, cost, operationalReadiness; add rubric entries for cost',
      },
      { path: 'phases[1].steps[4].reviews[4]', message: 'review refers to step "req-drivers", which is a question step; a review assesses deliverable steps' },
    ]);
  });

  test('a question cannot require more criteria than it has', () => {
    const p = pack();
    step(p, 'req-drivers', 'question').answer.minCriteriaMet = 2;
    expect(issues(p)).toEqual([
      { path: 'phases[0].steps[0].answer.minCriteriaMet', message: 'minCriteriaMet is 2 but the question has only 1 criteria; lower it or add criteria' },
    ]);
  });

  test('a check no validate step runs is reported at its id', () => {
    const p = pack();
    p.environment.checks.push({ ...structuredClone(p.environment.checks[1]!), id: 'rg-tagged-twice' }); // index 1 exists in the fixture
    expect(issues(p)).toEqual([
      { path: 'environment.checks[2].id', message: 'check "rg-tagged-twice" is not run by any validate step; reference it from one or delete it' },
    ]);
  });

  test('a check on a resource type no service provides is reported', () => {
    const p = pack();
    const check = p.environment.checks[0];
    if (check === undefined) throw new Error('fixture has no checks');
    check.resourceType = 'Microsoft.Sql/servers';
    expect(issues(p)).toEqual([
      {
        path: 'environment.checks[0].resourceType',
        message: 'resource type "Microsoft.Sql/servers" is not provided by any entry in `services` (nor a child type of one); add the service or fix the type',
      },
    ]);
  });

  test('a success metric no step measures is reported', () => {
    const p = pack();
    p.successMetrics.push({ id: 'reliability', category: 'technical', name: 'Reliability', target: '99.9%', howMeasured: 'Run success ratio from the logs.' });
    expect(issues(p)).toEqual([
      { path: 'successMetrics[1].id', message: 'metric "reliability" is never measured; list it in the `measures` of the step that produces its evidence' },
    ]);
  });

  test('cross-field rules still run when a field elsewhere has the wrong type', () => {
    const p: unknown = {
      ...pack(),
      title: 42,
      phases: pack().phases.map((ph) =>
        ph.id === 'validation' ? { ...ph, steps: ph.steps.map((s) => (s.kind === 'validate' ? { ...s, checks: ['rg-tagged', 'nope'] } : s)) } : ph,
      ),
    };
    expect(issues(p)).toEqual([
      { path: 'title', message: 'expected text' },
      { path: 'phases[3].steps[0].checks[1]', message: 'check "nope" is not defined in environment.checks; define it there or use one of: adls-hns, rg-tagged' },
    ]);
  });
});

describe('environment and cost', () => {
  test('a secret may not be written into a pack', () => {
    const p = pack();
    p.environment.parameters.adminPassword = { type: 'securestring', description: 'SQL admin', source: 'instructor', default: 'P@ssw0rd!' };
    expect(issues(p)).toEqual([
      {
        path: 'environment.parameters.adminPassword.default',
        message: 'a securestring must never be written into a pack; use source "generated" (password or sharedKey) or "instructor"',
      },
    ]);
  });

  test('a fixed parameter needs a value of its declared type', () => {
    const p = pack();
    p.environment.parameters.nodeCount = { type: 'int', description: 'Nodes', source: 'fixed', value: 'three' };
    p.environment.parameters.sku = { type: 'string', description: 'SKU', source: 'fixed' };
    expect(issues(p)).toEqual([
      { path: 'environment.parameters.nodeCount.value', message: 'value "three" does not fit parameter type "int"; change the value or the type' },
      { path: 'environment.parameters.sku.value', message: 'a parameter with source "fixed" needs a `value`; add one or pick another source' },
    ]);
  });

  test('the hourly estimate must equal its breakdown', () => {
    const p = pack();
    p.environment.hourlyCostUsd = 1.5;
    expect(issues(p)).toEqual([{ path: 'environment.hourlyCostUsd', message: 'hourlyCostUsd is 1.5 but costBreakdown adds up to 1.00; make them agree' }]);
  });

  test('the cost guard must outlast the workshop and stay within the development budget', () => {
    const p = pack();
    p.cost.guard.maxEnvironmentHours = 3;
    expect(issues(p)).toEqual([
      { path: 'cost.guard.maxEnvironmentHours', message: 'environments would be torn down after 3 h but the scenario can last 4 h; raise maxEnvironmentHours' },
    ]);
    p.cost.guard.maxEnvironmentHours = 30;
    expect(issues(p)).toEqual([
      {
        path: 'cost.guard.maxEnvironmentHours',
        message: 'one environment left up for 30 h at $1/h costs $30.00, above the development budget of $20; lower maxEnvironmentHours or the hourly cost',
      },
    ]);
  });

  test('a pack without a teardown optimisation is refused', () => {
    const p = pack();
    p.cost.optimisations = [{ kind: 'autoPause', description: 'Pause the compute when nobody uses it.' }];
    expect(issues(p)).toEqual([
      { path: 'cost.optimisations', message: 'the engine guards spend by tearing environments down; add a `teardown` optimisation describing when and how' },
    ]);
  });

  test('an invalid regular expression in a check is refused', () => {
    const p = pack();
    p.environment.checks[0] = { ...structuredClone(p.environment.checks[0]!), namePattern: '([a-z' }; // index 0 exists in the fixture
    expect(issues(p)).toEqual([{ path: 'environment.checks[0].namePattern', message: 'expected a valid JavaScript regular expression' }]);
  });
});
