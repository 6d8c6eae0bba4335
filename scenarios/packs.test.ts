/**
 * The four shipped packs against the workshop catalogue page (../shared/seed/000_f20713bae02e0476.txt):
 * durations, service counts, cost table, workshop format, success metrics and industry use cases.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { listPacks, type LoadedPack } from './loadPack.js';
import { DESIGN_DELIVERABLES, PHASE_IDS, REVIEW_CRITERIA, type Check, type ScenarioPack, type Step, type StepOf } from './schema.js';

const PACKS_DIR = join(__dirname, 'packs');

interface CatalogueEntry {
  readonly title: string;
  readonly hours: readonly [number, number];
  readonly serviceCount: number;
  readonly complexity: 'intermediate' | 'advanced';
  readonly developmentUsd: readonly [number, number];
  readonly productionMonthlyUsd: readonly [number, number];
  readonly costNotes: string;
  /** Resource types the brief names for the scenario, with how many services of each at least. */
  readonly services: Readonly<Record<string, number>>;
}

const CATALOGUE: Readonly<Record<string, CatalogueEntry>> = {
  lakehouse: {
    title: 'Enterprise Data Lakehouse',
    hours: [6, 8],
    serviceCount: 8,
    complexity: 'advanced',
    developmentUsd: [100, 200],
    productionMonthlyUsd: [2000, 5000],
    costNotes: 'Depends on data volume and compute.',
    services: {
      'Microsoft.Storage/storageAccounts': 1,
      'Microsoft.DataFactory/factories': 1,
      'Microsoft.EventHub/namespaces': 1,
      'Microsoft.StreamAnalytics/streamingjobs': 1,
      'Microsoft.Synapse/workspaces': 1,
      'Microsoft.MachineLearningServices/workspaces': 1,
      'Microsoft.Purview/accounts': 1,
      'Microsoft.KeyVault/vaults': 1,
      'Microsoft.OperationalInsights/workspaces': 1,
    },
  },
  'ml-scoring': {
    title: 'Real-Time ML Scoring Pipeline',
    hours: [4, 5],
    serviceCount: 6,
    complexity: 'advanced',
    developmentUsd: [50, 100],
    productionMonthlyUsd: [500, 1500],
    costNotes: 'Varies with inference volume.',
    services: {
      'Microsoft.EventHub/namespaces': 1,
      'Microsoft.StreamAnalytics/streamingjobs': 1,
      'Microsoft.Synapse/workspaces': 1,
      'Microsoft.MachineLearningServices/workspaces': 1,
      'Microsoft.ContainerRegistry/registries': 1,
      'Microsoft.ContainerInstance/containerGroups': 1,
      'Microsoft.DocumentDB/databaseAccounts': 1,
      'Microsoft.Insights/components': 1,
    },
  },
  'cross-region': {
    title: 'Cross-Region Data Replication',
    hours: [3, 4],
    serviceCount: 5,
    complexity: 'intermediate',
    developmentUsd: [75, 150],
    productionMonthlyUsd: [1000, 3000],
    costNotes: '2x single region costs.',
    services: {
      'Microsoft.Storage/storageAccounts': 2,
      'Microsoft.DocumentDB/databaseAccounts': 1,
      'Microsoft.Web/sites': 2,
      'Microsoft.Network/trafficManagerProfiles': 1,
    },
  },
  hybrid: {
    title: 'Hybrid On-Premises Integration',
    hours: [5, 6],
    serviceCount: 7,
    complexity: 'advanced',
    developmentUsd: [100, 250],
    productionMonthlyUsd: [800, 2000],
    costNotes: 'VPN and gateway costs.',
    services: {
      'Microsoft.Network/virtualNetworks': 1,
      'Microsoft.Network/virtualNetworkGateways': 1,
      'Microsoft.Network/localNetworkGateways': 1,
      'Microsoft.Network/connections': 1,
      'Microsoft.Network/privateEndpoints': 1,
      'Microsoft.Network/privateDnsZones': 1,
      'Microsoft.Sql/servers': 1,
      'Microsoft.DataFactory/factories': 1,
      'Microsoft.KeyVault/vaults': 1,
      'Microsoft.OperationalInsights/workspaces': 1,
    },
  },
};

/** The catalogue's "Success Metrics" section: five technical, five learning. */
const CATALOGUE_METRICS = {
  technical: ['Integration Points', 'Performance', 'Security', 'Reliability', 'Scalability'],
  learning: ['Architecture Comprehension', 'Troubleshooting', 'Optimization', 'Documentation', 'Knowledge Transfer'],
};

/** The catalogue's "Industry Use Cases", by industry. */
const CATALOGUE_USE_CASES: Readonly<Record<string, readonly string[]>> = {
  'Financial Services': [
    'Real-time fraud detection with ML scoring',
    'Regulatory reporting with automated compliance',
    'Risk analytics with multi-region processing',
  ],
  'Retail & E-commerce': [
    'Customer 360 with integrated customer data',
    'Supply chain optimization with IoT integration',
    'Personalization engines with real-time ML',
  ],
  Healthcare: [
    'Patient data integration with privacy controls',
    'Clinical trial analytics with secure multi-party computation',
    'Population health monitoring with streaming analytics',
  ],
  Manufacturing: [
    'Predictive maintenance with IoT and ML integration',
    'Quality analytics with computer vision',
    'Supply chain visibility with partner data integration',
  ],
};

let loaded: readonly LoadedPack[] = [];
const packById = (id: string): ScenarioPack => {
  const found = loaded.find((p) => p.pack.id === id);
  if (!found) throw new Error(`pack ${id} was not loaded`);
  return found.pack;
};
const allSteps = (pack: ScenarioPack): Step[] => pack.phases.flatMap((p) => p.steps);
const stepsOf = <K extends Step['kind']>(steps: readonly Step[], kind: K): StepOf<K>[] =>
  steps.filter((s): s is StepOf<K> => s.kind === kind);
const checksOf = (pack: ScenarioPack, step: StepOf<'validate'>): Check[] =>
  step.checks.map((id) => {
    const check = pack.environment.checks.find((c) => c.id === id);
    if (!check) throw new Error(`check ${id} missing`);
    return check;
  });

beforeAll(async () => {
  const folder = await listPacks(PACKS_DIR);
  expect(folder.failures).toEqual([]);
  loaded = folder.packs;
});

test('the packs folder holds exactly the four catalogue scenarios, all valid', () => {
  expect(loaded.map((p) => p.pack.id).sort()).toEqual(Object.keys(CATALOGUE).sort());
});

describe.each(Object.entries(CATALOGUE))('%s', (id, entry) => {
  test('title, duration, complexity and service count match the catalogue', () => {
    const pack = packById(id);
    expect(pack.title).toBe(entry.title);
    expect([pack.durationHours.min, pack.durationHours.max]).toEqual(entry.hours);
    expect(pack.complexity).toBe(entry.complexity);
    expect(pack.serviceCount).toBe(entry.serviceCount);
    expect(pack.services.length).toBeGreaterThanOrEqual(entry.serviceCount);
  });

  test('lists the services the scenario is built from', () => {
    const pack = packById(id);
    for (const [type, count] of Object.entries(entry.services)) {
      expect(pack.services.filter((s) => s.resourceType === type).length, type).toBeGreaterThanOrEqual(count);
    }
  });

  test('cost ranges and notes match the catalogue cost table', () => {
    const { cost } = packById(id);
    expect([cost.developmentUsd.min, cost.developmentUsd.max]).toEqual(entry.developmentUsd);
    expect([cost.productionMonthlyUsd.min, cost.productionMonthlyUsd.max]).toEqual(entry.productionMonthlyUsd);
    expect(cost.notes).toBe(entry.costNotes);
    expect(cost.optimisations.map((o) => o.kind)).toContain('teardown');
  });

  test('one full workshop run costs less than the low end of the development estimate', () => {
    const pack = packById(id);
    expect(pack.environment.hourlyCostUsd).toBeGreaterThan(0);
    expect(pack.environment.hourlyCostUsd * pack.durationHours.max).toBeLessThan(pack.cost.developmentUsd.min);
  });

  test('runs the four phases in order with the catalogue timeboxes', () => {
    const pack = packById(id);
    expect(pack.phases.map((p) => p.id)).toEqual([...PHASE_IDS]);
    const box = Object.fromEntries(pack.phases.map((p) => [p.id, p.timeboxMinutes]));
    expect(box).toMatchObject({ requirements: 30, design: 60, validation: 30 });
    expect(box.implementation).toBeLessThanOrEqual(300);
    const total = pack.phases.reduce((sum, p) => sum + p.timeboxMinutes, 0);
    expect(total).toBeGreaterThanOrEqual(pack.durationHours.min * 60);
    expect(total).toBeLessThanOrEqual(pack.durationHours.max * 60);
  });

  test('requirements are questions on business requirements, constraints and success criteria', () => {
    const [requirements] = packById(id).phases;
    const questions = stepsOf(requirements?.steps ?? [], 'question');
    expect(questions.map((q) => q.title)).toEqual(['Business requirements', expect.stringContaining('constraints'), 'Success criteria']);
    for (const q of questions) expect(q.answer.criteria.length).toBeGreaterThanOrEqual(3);
  });

  test('design collects the four deliverables and ends with a full architecture review', () => {
    const design = packById(id).phases[1];
    const steps = design?.steps ?? [];
    expect(stepsOf(steps, 'deliverable').map((d) => d.deliverable.type).sort()).toEqual([...DESIGN_DELIVERABLES].sort());
    const last = steps[steps.length - 1];
    expect(last?.kind).toBe('review');
    if (last?.kind === 'review') {
      expect(last.rubric.map((r) => r.criterion).sort()).toEqual([...REVIEW_CRITERIA].sort());
      expect(last.reviews).toHaveLength(4);
    }
    expect(stepsOf(steps, 'question').map((q) => q.title)).toContain('Service selection and justification');
  });

  test('implementation deploys the foundation first, then checks connections, data flow and monitoring', () => {
    const pack = packById(id);
    const steps = pack.phases[2]?.steps ?? [];
    const [first] = steps;
    expect(first?.kind).toBe('provision');
    if (first?.kind === 'provision') expect(first.template).toBe('environment/template.json');
    const validateKinds = stepsOf(steps, 'validate').map((v) => checksOf(pack, v).map((c) => c.kind));
    expect(validateKinds.some((kinds) => kinds.includes('roleAssignment'))).toBe(true);
    expect(validateKinds.some((kinds) => kinds.includes('diagnosticSetting'))).toBe(true);
    expect(stepsOf(steps, 'validate').every((v) => v.maxAttempts >= 1)).toBe(true);
  });

  test('validation covers end-to-end testing, performance, security checks and the success metrics', () => {
    const pack = packById(id);
    const steps = pack.phases[3]?.steps ?? [];
    const measured = new Set(steps.flatMap((s) => s.measures ?? []));
    for (const metric of ['integration-points', 'performance', 'security', 'reliability', 'scalability']) {
      expect(measured, metric).toContain(metric);
    }
    const security = stepsOf(steps, 'validate');
    expect(security.length).toBeGreaterThanOrEqual(1);
    expect(security.flatMap((v) => checksOf(pack, v)).length).toBeGreaterThanOrEqual(4);
  });

  test('carries all ten success metrics of the catalogue', () => {
    const { successMetrics } = packById(id);
    expect(successMetrics.filter((m) => m.category === 'technical').map((m) => m.name)).toEqual(CATALOGUE_METRICS.technical);
    expect(successMetrics.filter((m) => m.category === 'learning').map((m) => m.name)).toEqual(CATALOGUE_METRICS.learning);
  });

  test('industry use cases are taken from the catalogue, starting with the scenario itself', () => {
    const { industryUseCases } = packById(id);
    expect(industryUseCases.length).toBeGreaterThanOrEqual(3);
    for (const u of industryUseCases) expect(CATALOGUE_USE_CASES[u.industry], u.useCase).toContain(u.useCase);
  });

  test("every check's hint says what a failure means and what to do, in more than a few words", () => {
    for (const c of packById(id).environment.checks) {
      expect(c.hint.meaning.length, c.id).toBeGreaterThan(40);
      expect(c.hint.action.length, c.id).toBeGreaterThan(40);
      expect(c.hint.action, c.id).not.toBe(c.description);
    }
  });

  test('the template and its parameters are declared for the ARM author', () => {
    const found = loaded.find((p) => p.pack.id === id);
    expect(found?.templatePath).toBe(join(PACKS_DIR, id, 'environment', 'template.json'));
    const params = found?.pack.environment.parameters ?? {};
    expect(params.namePrefix).toMatchObject({ source: 'generated', generator: 'namePrefix' });
    expect(params.workshopPack).toMatchObject({ source: 'fixed', value: id });
    for (const [name, p] of Object.entries(params)) {
      if (p.type === 'securestring') expect(p.source, name).not.toBe('fixed');
    }
  });
});

test('the lakehouse checks the lake is ADLS Gen2 and Capture lands raw events in it', () => {
  const checks = packById('lakehouse').environment.checks;
  expect(checks).toContainEqual(
    expect.objectContaining({ kind: 'propertyEquals', resourceType: 'Microsoft.Storage/storageAccounts', property: 'properties.isHnsEnabled', expected: true }),
  );
  expect(checks).toContainEqual(expect.objectContaining({ resourceType: 'Microsoft.EventHub/namespaces/eventhubs', property: 'properties.captureDescription.enabled' }));
});

test('cross-region checks two Cosmos DB regions, priority routing and blob replication', () => {
  const checks = packById('cross-region').environment.checks;
  expect(checks).toContainEqual(expect.objectContaining({ id: 'cosmos-two-regions', property: 'properties.failoverPolicies[1].failoverPriority', expected: 1 }));
  expect(checks).toContainEqual(expect.objectContaining({ property: 'properties.trafficRoutingMethod', expected: 'Priority' }));
  expect(checks).toContainEqual(expect.objectContaining({ resourceType: 'Microsoft.Storage/storageAccounts/objectReplicationPolicies', kind: 'exists' }));
  expect(checks).toContainEqual(expect.objectContaining({ resourceType: 'Microsoft.Web/sites', kind: 'exists', minCount: 2 }));
});

test('hybrid checks the gateway subnet, the tunnel, the self-hosted runtime and the private endpoint', () => {
  const checks = packById('hybrid').environment.checks;
  expect(checks).toContainEqual(expect.objectContaining({ resourceType: 'Microsoft.Network/virtualNetworks/subnets', namePattern: '/GatewaySubnet$' }));
  expect(checks).toContainEqual(expect.objectContaining({ resourceType: 'Microsoft.Network/connections', property: 'properties.connectionStatus', expected: 'Connected' }));
  expect(checks).toContainEqual(expect.objectContaining({ resourceType: 'Microsoft.DataFactory/factories/integrationRuntimes', expected: 'SelfHosted' }));
  expect(checks).toContainEqual(
    expect.objectContaining({ kind: 'privateEndpoint', resourceType: 'Microsoft.Sql/servers', groupId: 'sqlServer', privateDnsZone: 'privatelink.database.windows.net' }),
  );
  const provision = stepsOf(allSteps(packById('hybrid')), 'provision')[0];
  // A VPN gateway takes 30–45 minutes to deploy; the readiness monitor must wait that long.
  expect(provision?.expectedDeployMinutes).toBeGreaterThanOrEqual(40);
});

test('ml-scoring deploys champion and challenger scoring containers', () => {
  const checks = packById('ml-scoring').environment.checks;
  expect(checks).toContainEqual(expect.objectContaining({ resourceType: 'Microsoft.ContainerInstance/containerGroups', kind: 'exists', minCount: 2 }));
  expect(checks).toContainEqual(expect.objectContaining({ kind: 'roleAssignment', role: 'AcrPull', resourceType: 'Microsoft.ContainerRegistry/registries' }));
});
