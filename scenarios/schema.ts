/**
 * Scenario pack schema: the workshop content (four phases, their steps, the learner environment and
 * its checks, costs) as data that crosses a boundary — packs are written by hand as YAML/JSON, so
 * they are parsed here once and trusted everywhere else (machines, orchestrations, activities).
 *
 * Every message below is phrased as "expected …" because the loader appends ", got <value>" and
 * prefixes the file, line:column and path; cross-field rules (bottom of the file) write complete
 * sentences that also say what to do.
 *
 * Asset layout: a pack file `<dir>/<id>.yaml` keeps its files (ARM templates, sample data) in
 * `<dir>/<id>/`; `environment.template` and provision steps' `template` are relative to that folder.
 */
import { STEP_KINDS, type StepKind } from '../machines/phaseMachine';
import { z } from 'zod';
import { closest } from './suggest.js';

// ─── fixed vocabulary ─────────────────────────────────────────────────────────────────────────

export const PHASE_IDS = ['requirements', 'design', 'implementation', 'validation'] as const;
export type PhaseId = (typeof PHASE_IDS)[number];

/**
 * The catalogue's workshop format: Requirements Analysis 30 min, Architecture Design 60 min,
 * Implementation 3–5 h, Validation & Testing 30 min. The implementation floor is 2 h rather than
 * the catalogue's 3 h because Cross-Region Data Replication is listed at 3–4 h in total, which
 * leaves at most 2 h once the other three phases (2 h together) are taken out.
 */
export const PHASE_TIMEBOX_MINUTES: Readonly<Record<PhaseId, { readonly min: number; readonly max: number }>> = {
  requirements: { min: 30, max: 30 },
  design: { min: 60, max: 60 },
  implementation: { min: 120, max: 300 },
  validation: { min: 30, max: 30 },
};

// The step kinds are the machine's (machines/phaseMachine.ts): a pack can only name a kind the engine runs.
export { STEP_KINDS, type StepKind };

export const CHECK_KINDS = [
  'exists',
  'propertyEquals',
  'propertyMatches',
  'tagPresent',
  'diagnosticSetting',
  'privateEndpoint',
  'roleAssignment',
] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

/** The four design-phase deliverables of the catalogue, then the validation-phase ones. */
export const DESIGN_DELIVERABLES = [
  'architectureDiagram',
  'integrationPatterns',
  'securityPlan',
  'implementationRoadmap',
] as const;
export const DELIVERABLE_TYPES = [...DESIGN_DELIVERABLES, 'testReport', 'operationalRunbook'] as const;
export type DeliverableType = (typeof DELIVERABLE_TYPES)[number];

/** The catalogue's "Deep Architecture Analysis" topics; an architecture review scores all five. */
export const REVIEW_CRITERIA = ['tradeOffs', 'alternatives', 'scalability', 'cost', 'operationalReadiness'] as const;
export type ReviewCriterion = (typeof REVIEW_CRITERIA)[number];

export const COST_OPTIMISATION_KINDS = [
  'autoPause',
  'autoScale',
  'serverless',
  'lifecycle',
  'teardown',
  'spot',
  'reservedCapacity',
  'resourceSharing',
  'budgetAlert',
] as const;

/** Resource types a check may target without a matching entry in `services`. */
export const IMPLICIT_RESOURCE_TYPES = ['Microsoft.Resources/resourceGroups'] as const;

// ─── field helpers ────────────────────────────────────────────────────────────────────────────

const SLUG = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
const RESOURCE_TYPE = /^[A-Z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)+(?:\/[A-Za-z0-9]+)+$/;
const PROPERTY_PATH = /^[A-Za-z_$][\w$]*(?:\[\d+\])*(?:\.[A-Za-z_$][\w$]*(?:\[\d+\])*)*$/;
const TEMPLATE_PATH = /^(?![/\\])(?!.*(?:^|\/)\.\.(?:\/|$))[\w.\-/]+\.json$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const slug = (what: string) =>
  z
    .string({ error: `expected ${what} (text)` })
    .regex(SLUG, {
      error: `expected ${what}: lowercase letters, digits and single hyphens, starting with a letter (e.g. "design-review")`,
    });

const text = (min = 1) =>
  z
    .string({ error: 'expected text' })
    .min(min, { error: min === 1 ? 'expected non-empty text' : `expected at least ${min} characters of text` })
    .regex(/\S/, { error: 'expected text that is not just whitespace' });

const positiveInt = () =>
  z
    .number({ error: 'expected a positive integer' })
    .int({ error: 'expected a positive integer' })
    .positive({ error: 'expected a positive integer' });

const minutes = () =>
  z
    .number({ error: 'expected a whole number of minutes' })
    .int({ error: 'expected a whole number of minutes' })
    .positive({ error: 'expected a whole number of minutes greater than 0' });

const usd = () =>
  z
    .number({ error: 'expected an amount in US dollars (a number)' })
    .nonnegative({ error: 'expected an amount in US dollars that is 0 or more' });

const list = <T extends z.ZodType>(item: T, what: string, plural = `${what}s`) =>
  z.array(item, { error: `expected a list of ${plural}` }).min(1, { error: `expected at least one ${what}` });

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `expected one of ${values.map((v) => `"${v}"`).join(', ')}` });

const resourceType = () =>
  z
    .string({ error: 'expected an ARM resource type (text)' })
    .regex(RESOURCE_TYPE, { error: 'expected an ARM resource type such as "Microsoft.Storage/storageAccounts"' });

const regexSource = () =>
  text().refine(isValidRegex, { error: 'expected a valid JavaScript regular expression' });

function isValidRegex(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/** A `{min, max}` range with `min <= max`; the unit is in the name of the field holding it. */
const range = (value: () => z.ZodNumber) =>
  z.strictObject({ min: value(), max: value() }).superRefine((r, ctx) => {
    if (r.min > r.max) {
      ctx.addIssue({
        code: 'custom',
        path: ['max'],
        message: `max (${r.max}) is below min (${r.min}); a range runs from min up to max — swap the two values`,
      });
    }
  });

const hours = () =>
  z.number({ error: 'expected a number of hours' }).positive({ error: 'expected a number of hours greater than 0' });

// ─── pack header ──────────────────────────────────────────────────────────────────────────────

export const serviceSchema = z.strictObject({
  name: text(),
  resourceType: resourceType(),
  /** What the service does in this architecture (shown to learners in the service-selection step). */
  role: text(10),
});

export const businessContextSchema = z.strictObject({
  organisation: text(),
  narrative: text(80),
  goals: list(text(), 'business goal'),
  constraints: list(text(), 'constraint'),
});

export const industryUseCaseSchema = z.strictObject({
  industry: text(),
  useCase: text(),
  relevance: text(20),
});

export const successMetricSchema = z.strictObject({
  id: slug('a metric id'),
  category: oneOf(['technical', 'learning']),
  name: text(),
  target: text(),
  howMeasured: text(20),
});

export const costOptimisationSchema = z.strictObject({
  kind: oneOf(COST_OPTIMISATION_KINDS),
  description: text(20),
  /** Resource types the optimisation is applied to; each must be a declared service (or a child type of one). */
  appliesTo: z.array(resourceType(), { error: 'expected a list of ARM resource types' }).optional(),
});

export const costGuardSchema = z.strictObject({
  /** The engine tears the environment down this long after provisioning, finished or not. */
  maxEnvironmentHours: hours(),
  /** Tear down after this long without learner activity. */
  idleTeardownMinutes: minutes(),
  /** Notify the instructor when a learner's environment has cost this much. */
  alertAtUsd: usd(),
});

export const costModelSchema = z.strictObject({
  developmentUsd: range(usd),
  productionMonthlyUsd: range(usd),
  notes: text(),
  guard: costGuardSchema,
  optimisations: list(costOptimisationSchema, 'cost optimisation'),
});

// ─── environment and checks ───────────────────────────────────────────────────────────────────

const jsonValue = z.union([
  z.string(),
  z.number(),
  z.boolean(),
  z.array(z.unknown()),
  z.record(z.string(), z.unknown()),
]);

export const PARAMETER_TYPES = ['string', 'securestring', 'int', 'bool', 'array', 'object'] as const;

export const environmentParameterSchema = z
  .strictObject({
    type: oneOf(PARAMETER_TYPES),
    description: text(),
    /**
     * fixed: `value` is passed as is; generated: the engine creates it per learner with `generator`;
     * instructor / learner: asked for when the cohort run starts or when the learner provisions.
     */
    source: oneOf(['fixed', 'generated', 'instructor', 'learner']),
    value: jsonValue.optional(),
    default: jsonValue.optional(),
    /** addressSpace: a private /16 unique within the cohort, so every learner's VNet can reach one shared on-premises site. */
    generator: oneOf(['namePrefix', 'password', 'sharedKey', 'learnerObjectId', 'addressSpace']).optional(),
  })
  .superRefine((p, ctx) => {
    const need = (field: 'value' | 'generator', why: string) =>
      ctx.addIssue({ code: 'custom', path: [field], message: why });
    if (p.source === 'fixed' && p.value === undefined) {
      need('value', 'a parameter with source "fixed" needs a `value`; add one or pick another source');
    }
    if (p.source !== 'fixed' && p.value !== undefined) {
      need('value', `only source "fixed" takes a \`value\` (this one is "${p.source}"); use \`default\` for a suggestion`);
    }
    if (p.source === 'generated' && p.generator === undefined) {
      need('generator', 'a parameter with source "generated" needs a `generator` (namePrefix, password, sharedKey, learnerObjectId or addressSpace)');
    }
    if (p.source !== 'generated' && p.generator !== undefined) {
      need('generator', `only source "generated" takes a \`generator\` (this one is "${p.source}"); remove it or set source: generated`);
    }
    if (p.default !== undefined && p.source !== 'instructor' && p.source !== 'learner') {
      ctx.addIssue({
        code: 'custom',
        path: ['default'],
        message: `only sources "instructor" and "learner" take a \`default\` (this one is "${p.source}")`,
      });
    }
    if (p.type === 'securestring' && (p.value !== undefined || p.default !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [p.value !== undefined ? 'value' : 'default'],
        message: 'a securestring must never be written into a pack; use source "generated" (password or sharedKey) or "instructor"',
      });
    }
    for (const field of ['value', 'default'] as const) {
      const v = p[field];
      if (v !== undefined && !matchesParameterType(p.type, v)) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `${field} ${JSON.stringify(v)} does not fit parameter type "${p.type}"; change the value or the type`,
        });
      }
    }
  });

function matchesParameterType(type: (typeof PARAMETER_TYPES)[number], v: unknown): boolean {
  switch (type) {
    case 'string':
    case 'securestring':
      return typeof v === 'string';
    case 'int':
      return Number.isInteger(v);
    case 'bool':
      return typeof v === 'boolean';
    case 'array':
      return Array.isArray(v);
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
  }
}

/** Shown to the learner when the check fails: what the failure means, then what to do about it. */
export const checkHintSchema = z.strictObject({
  meaning: text(20),
  action: text(20),
});

const checkBase = {
  id: slug('a check id'),
  description: text(),
  resourceType: resourceType(),
  /**
   * Narrows the check to resources whose name matches; child resources are named `parent/child`
   * as in ARM templates (e.g. `stcontosopri/default` for a blob service).
   */
  namePattern: regexSource().optional(),
  hint: checkHintSchema,
};

const propertyPath = () =>
  z
    .string({ error: 'expected a property path (text)' })
    .regex(PROPERTY_PATH, { error: 'expected a property path such as "properties.isHnsEnabled" or "properties.locations[1].locationName"' });

export const existsCheckSchema = z.strictObject({
  ...checkBase,
  kind: z.literal('exists'),
  minCount: positiveInt().default(1),
});

export const propertyEqualsCheckSchema = z.strictObject({
  ...checkBase,
  kind: z.literal('propertyEquals'),
  property: propertyPath(),
  expected: z.union([z.string(), z.number(), z.boolean(), z.null()], {
    error: 'expected a scalar value to compare with (text, number, true/false or null)',
  }),
});

export const propertyMatchesCheckSchema = z.strictObject({
  ...checkBase,
  kind: z.literal('propertyMatches'),
  property: propertyPath(),
  /** Tested against `String(value)`, so numbers can be range-checked with a pattern too. */
  pattern: regexSource(),
});

export const tagPresentCheckSchema = z.strictObject({
  ...checkBase,
  kind: z.literal('tagPresent'),
  tag: text(),
  value: text().optional(),
});

export const diagnosticSettingCheckSchema = z.strictObject({
  ...checkBase,
  kind: z.literal('diagnosticSetting'),
  /** Log categories that must be enabled and sent to the environment's Log Analytics workspace. */
  categories: list(text(), 'log category', 'log categories'),
});

export const privateEndpointCheckSchema = z.strictObject({
  ...checkBase,
  kind: z.literal('privateEndpoint'),
  /** Private Link sub-resource, e.g. `sqlServer`, `blob`, `dfs`, `vault`. */
  groupId: text(),
  privateDnsZone: text().optional(),
  requireApproved: z.boolean({ error: 'expected true or false' }).default(true),
});

export const roleAssignmentCheckSchema = z.strictObject({
  ...checkBase,
  kind: z.literal('roleAssignment'),
  /** The resource whose managed identity must hold the role on `resourceType` (see {@link checkSchema}). */
  principalResourceType: resourceType(),
  role: text(),
  roleDefinitionId: z
    .string({ error: 'expected a role definition GUID (text)' })
    .regex(GUID, { error: 'expected a lowercase role definition GUID such as "ba92f5b4-2d11-453d-a403-e96b0029c9fe"' })
    .optional(),
});

/**
 * What each check asserts about the learner's resource group ("matching" = of `resourceType` and, if
 * given, with a name matching `namePattern`):
 * - exists: at least `minCount` matching resources;
 * - propertyEquals / propertyMatches: at least one matching resource, and on every one the value at
 *   `property` equals `expected` / `String(value)` matches `pattern` (a missing property fails);
 * - tagPresent: every matching resource has `tag` (with `value`, if given);
 * - diagnosticSetting: every matching resource has a diagnostic setting enabling all `categories`
 *   and sending them to a Log Analytics workspace;
 * - privateEndpoint: every matching resource has a private endpoint connection for `groupId`,
 *   approved when `requireApproved`, registered in `privateDnsZone` when given;
 * - roleAssignment: every resource of `principalResourceType` — its managed identity, or the identity
 *   itself for `Microsoft.ManagedIdentity/userAssignedIdentities` — holds `role` on a matching resource.
 */
export const checkSchema = z.discriminatedUnion('kind', [
  existsCheckSchema,
  propertyEqualsCheckSchema,
  propertyMatchesCheckSchema,
  tagPresentCheckSchema,
  diagnosticSettingCheckSchema,
  privateEndpointCheckSchema,
  roleAssignmentCheckSchema,
]);

export const costLineSchema = z.strictObject({
  service: text(),
  usdPerHour: usd(),
  basis: text(10),
});

export const environmentSchema = z.strictObject({
  template: z
    .string({ error: 'expected a template path (text)' })
    .regex(TEMPLATE_PATH, {
      error: 'expected a relative path to an ARM JSON template inside the pack folder, e.g. "environment/template.json" (no leading "/", no "..")',
    }),
  parameters: z.record(
    z.string().regex(/^[A-Za-z][A-Za-z0-9]*$/, { error: 'expected an ARM parameter name (letters and digits)' }),
    environmentParameterSchema,
    { error: 'expected a mapping of parameter name to parameter definition' },
  ),
  /** Estimated cost of one learner's environment per hour while provisioned (USD, list prices). */
  hourlyCostUsd: usd(),
  costBreakdown: list(costLineSchema, 'cost line'),
  checks: list(checkSchema, 'check'),
});

// ─── steps ────────────────────────────────────────────────────────────────────────────────────

const stepBase = {
  id: slug('a step id'),
  title: text(),
  /** Markdown shown to the learner. */
  prompt: text(20),
  timeboxMinutes: minutes(),
  hints: z.array(text(), { error: 'expected a list of hints' }).optional(),
  /** Success metric ids this step produces evidence for. */
  measures: z.array(slug('a metric id'), { error: 'expected a list of metric ids' }).optional(),
};

export const answerCriterionSchema = z.strictObject({
  id: slug('a criterion id'),
  description: text(),
  /** Any one of these (case-insensitive) in the answer counts as covering the criterion. */
  keywords: list(text(), 'keyword'),
});

export const questionStepSchema = z
  .strictObject({
    ...stepBase,
    kind: z.literal('question'),
    answer: z.strictObject({
      minWords: positiveInt(),
      criteria: list(answerCriterionSchema, 'answer criterion', 'answer criteria'),
      /** How many criteria a passing answer covers; all of them when absent. */
      minCriteriaMet: positiveInt().optional(),
    }),
  })
  .superRefine((step, ctx) => {
    const { criteria, minCriteriaMet } = step.answer;
    if (minCriteriaMet !== undefined && minCriteriaMet > criteria.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['answer', 'minCriteriaMet'],
        message: `minCriteriaMet is ${minCriteriaMet} but the question has only ${criteria.length} criteria; lower it or add criteria`,
      });
    }
    reportDuplicates(
      criteria.map((c) => c.id),
      (i) => ['answer', 'criteria', i, 'id'],
      (id, first) => `answer criterion id "${id}" is already used by criteria[${first}]; give each criterion its own id`,
      ctx,
    );
  });

export const taskStepSchema = z.strictObject({
  ...stepBase,
  kind: z.literal('task'),
  /** What the learner posts to show the task is done (a screenshot, a query result, a link). */
  evidence: text().optional(),
});

export const deliverableStepSchema = z.strictObject({
  ...stepBase,
  kind: z.literal('deliverable'),
  deliverable: z.strictObject({
    type: oneOf(DELIVERABLE_TYPES),
    format: oneOf(['link', 'markdown', 'file']),
    acceptanceCriteria: list(text(10), 'acceptance criterion', 'acceptance criteria'),
  }),
});

export const provisionStepSchema = z
  .strictObject({
    ...stepBase,
    kind: z.literal('provision'),
    template: environmentSchema.shape.template,
    /** Typical ARM deployment time; the engine's readiness monitor gives up after the step's timebox. */
    expectedDeployMinutes: minutes(),
  })
  .superRefine((step, ctx) => {
    if (step.expectedDeployMinutes > step.timeboxMinutes) {
      ctx.addIssue({
        code: 'custom',
        path: ['expectedDeployMinutes'],
        message: `the deployment is expected to take ${step.expectedDeployMinutes} min but the step is timeboxed to ${step.timeboxMinutes} min; raise timeboxMinutes`,
      });
    }
  });

export const validateStepSchema = z.strictObject({
  ...stepBase,
  kind: z.literal('validate'),
  /** Ids from `environment.checks`, run together; the step passes when all pass. */
  checks: list(slug('a check id'), 'check id'),
  maxAttempts: positiveInt(),
});

export const rubricCriterionSchema = z.strictObject({
  criterion: oneOf(REVIEW_CRITERIA),
  description: text(20),
  /** What an answer that "meets" the bar looks like. */
  meets: text(20),
});

export const reviewStepSchema = z
  .strictObject({
    ...stepBase,
    kind: z.literal('review'),
    reviewer: oneOf(['instructor', 'peer']),
    /** Ids of the deliverable steps under review. */
    reviews: list(slug('a step id'), 'reviewed step id'),
    rubric: list(rubricCriterionSchema, 'rubric criterion', 'rubric criteria'),
    /** Rubric criteria that must be met for the learner to pass the gate. */
    minCriteriaMet: positiveInt(),
  })
  .superRefine((step, ctx) => {
    if (step.minCriteriaMet > step.rubric.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['minCriteriaMet'],
        message: `minCriteriaMet is ${step.minCriteriaMet} but the rubric has ${step.rubric.length} criteria; lower it`,
      });
    }
    reportDuplicates(
      step.rubric.map((r) => r.criterion),
      (i) => ['rubric', i, 'criterion'],
      (c, first) => `rubric criterion "${c}" already appears at rubric[${first}]; each criterion is scored once`,
      ctx,
    );
    const missing = REVIEW_CRITERIA.filter((c) => !step.rubric.some((r) => r.criterion === c));
    if (missing.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['rubric'],
        message: `an architecture review scores all of ${REVIEW_CRITERIA.join(', ')}; add rubric entries for ${missing.join(', ')}`,
      });
    }
  });

/** One schema per step kind: a kind added to STEP_KINDS does not compile until it has its schema here. */
const STEP_SCHEMAS = {
  question: questionStepSchema,
  task: taskStepSchema,
  deliverable: deliverableStepSchema,
  provision: provisionStepSchema,
  validate: validateStepSchema,
  review: reviewStepSchema,
} as const satisfies { [K in StepKind]: z.ZodType<{ kind: K }> };

export const stepSchema = z.discriminatedUnion('kind', [
  STEP_SCHEMAS.question,
  STEP_SCHEMAS.task,
  STEP_SCHEMAS.deliverable,
  STEP_SCHEMAS.provision,
  STEP_SCHEMAS.validate,
  STEP_SCHEMAS.review,
]);
// …and every kind is in the union: a kind left out here fails to compile.
const everyKindParses: StepKind extends z.infer<typeof stepSchema>['kind'] ? true : never = true;
void everyKindParses;

export const phaseSchema = z.strictObject({
  id: oneOf(PHASE_IDS),
  title: text(),
  timeboxMinutes: minutes(),
  objectives: list(text(), 'objective'),
  steps: list(stepSchema, 'step'),
});

// ─── the pack ─────────────────────────────────────────────────────────────────────────────────

const scenarioPackShape = z.strictObject({
  schemaVersion: z.literal(1, { error: 'expected schemaVersion 1 (the only version this loader understands)' }),
  id: slug('a pack id'),
  title: text(),
  summary: text(),
  complexity: oneOf(['intermediate', 'advanced']),
  durationHours: range(hours),
  /** The catalogue's "N+ Azure services": the least number of services the solution uses. */
  serviceCount: positiveInt(),
  services: list(serviceSchema, 'service'),
  businessContext: businessContextSchema,
  industryUseCases: list(industryUseCaseSchema, 'industry use case'),
  successMetrics: list(successMetricSchema, 'success metric'),
  cost: costModelSchema,
  environment: environmentSchema,
  phases: z.array(phaseSchema, { error: 'expected a list of the four phases' }),
});

export const scenarioPackSchema = scenarioPackShape.superRefine(
  (value, ctx) => {
    // Runs even when fields elsewhere failed (see `when`), on a lenient view of the same data, so one
    // pass reports both the field errors and the broken cross-references.
    const view = packView.safeParse(value);
    if (view.success) checkPackRules(view.data, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
  },
  { when: (payload) => typeof payload.value === 'object' && payload.value !== null && !Array.isArray(payload.value) },
);

export type ScenarioPack = z.infer<typeof scenarioPackSchema>;
export type ScenarioPackInput = z.input<typeof scenarioPackSchema>;
export type Service = z.infer<typeof serviceSchema>;
export type BusinessContext = z.infer<typeof businessContextSchema>;
export type IndustryUseCase = z.infer<typeof industryUseCaseSchema>;
export type SuccessMetric = z.infer<typeof successMetricSchema>;
export type CostModel = z.infer<typeof costModelSchema>;
export type CostGuard = z.infer<typeof costGuardSchema>;
export type CostOptimisation = z.infer<typeof costOptimisationSchema>;
export type Environment = z.infer<typeof environmentSchema>;
export type EnvironmentParameter = z.infer<typeof environmentParameterSchema>;
export type CostLine = z.infer<typeof costLineSchema>;
export type Check = z.infer<typeof checkSchema>;
export type CheckHint = z.infer<typeof checkHintSchema>;
export type Phase = z.infer<typeof phaseSchema>;
export type Step = z.infer<typeof stepSchema>;
export type QuestionStep = z.infer<typeof questionStepSchema>;
export type AnswerCriterion = z.infer<typeof answerCriterionSchema>;
export type TaskStep = z.infer<typeof taskStepSchema>;
export type DeliverableStep = z.infer<typeof deliverableStepSchema>;
export type ProvisionStep = z.infer<typeof provisionStepSchema>;
export type ValidateStep = z.infer<typeof validateStepSchema>;
export type ReviewStep = z.infer<typeof reviewStepSchema>;
export type RubricCriterion = z.infer<typeof rubricCriterionSchema>;
export type StepOf<K extends StepKind> = Extract<Step, { kind: K }>;

// ─── cross-field rules ────────────────────────────────────────────────────────────────────────

type IssuePath = (string | number)[];
type Report = (path: IssuePath, message: string) => void;

function reportDuplicates(
  ids: readonly (string | undefined)[],
  pathOf: (index: number) => IssuePath,
  message: (id: string, firstIndex: number) => string,
  ctx: { addIssue: (issue: { code: 'custom'; path: IssuePath; message: string }) => void },
): void {
  const first = new Map<string, number>();
  ids.forEach((id, i) => {
    if (id === undefined) return;
    const seen = first.get(id);
    if (seen === undefined) first.set(id, i);
    else ctx.addIssue({ code: 'custom', path: pathOf(i), message: message(id, seen) });
  });
}

/*
 * The view holds just what the rules read, each field falling back to `undefined` (or the element
 * to `null`) when it has the wrong shape, so the rules can run on a pack that also has field errors
 * without tripping over them — those are reported by the schema itself.
 */
const lenient = <T extends z.ZodType>(schema: T) => schema.optional().catch(undefined);
const lenientList = <T extends z.ZodType>(item: T) => lenient(z.array(item.nullable().catch(null)));

const stepView = z.looseObject({
  id: lenient(z.string()),
  // An unknown kind is already reported by the schema; as `undefined` it keeps the placement rules quiet.
  kind: lenient(z.enum(STEP_KINDS)),
  timeboxMinutes: lenient(z.number()),
  checks: lenientList(z.string()),
  template: lenient(z.string()),
  reviews: lenientList(z.string()),
  measures: lenientList(z.string()),
  deliverable: lenient(z.looseObject({ type: lenient(z.string()) })),
});
const phaseView = z.looseObject({
  id: lenient(z.enum(PHASE_IDS)),
  timeboxMinutes: lenient(z.number()),
  steps: lenientList(stepView),
});
const checkView = z.looseObject({
  id: lenient(z.string()),
  resourceType: lenient(z.string()),
  principalResourceType: lenient(z.string()),
});
const numberRange = lenient(z.looseObject({ min: lenient(z.number()), max: lenient(z.number()) }));
const packView = z.looseObject({
  durationHours: numberRange,
  serviceCount: lenient(z.number()),
  services: lenientList(z.looseObject({ resourceType: lenient(z.string()) })),
  successMetrics: lenientList(z.looseObject({ id: lenient(z.string()) })),
  cost: lenient(
    z.looseObject({
      developmentUsd: numberRange,
      guard: lenient(z.looseObject({ maxEnvironmentHours: lenient(z.number()), alertAtUsd: lenient(z.number()) })),
      optimisations: lenientList(z.looseObject({ kind: lenient(z.string()), appliesTo: lenientList(z.string()) })),
    }),
  ),
  environment: lenient(
    z.looseObject({
      template: lenient(z.string()),
      hourlyCostUsd: lenient(z.number()),
      costBreakdown: lenientList(z.looseObject({ usdPerHour: lenient(z.number()) })),
      checks: lenientList(checkView),
    }),
  ),
  phases: lenientList(phaseView),
});
type PackView = z.infer<typeof packView>;
type StepView = z.infer<typeof stepView>;

interface LocatedStep {
  readonly step: StepView;
  readonly phaseIndex: number;
  readonly stepIndex: number;
  readonly phaseId: string | undefined;
  readonly path: IssuePath;
}

const pathText = (path: IssuePath) =>
  path.map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : i === 0 ? seg : `.${seg}`)).join('');

const present = <T>(v: T | null | undefined): v is T => v !== null && v !== undefined;

function checkPackRules(pack: PackView, report: Report): void {
  const phases = pack.phases ?? [];
  const steps: LocatedStep[] = [];
  phases.forEach((phase, phaseIndex) => {
    (phase?.steps ?? []).forEach((step, stepIndex) => {
      if (step) steps.push({ step, phaseIndex, stepIndex, phaseId: phase?.id, path: ['phases', phaseIndex, 'steps', stepIndex] });
    });
  });

  if (pack.phases !== undefined) checkPhaseOrder(phases, report);
  checkTimeboxes(pack, phases, report);
  checkStepIds(steps, report);
  checkStepPlacement(pack, phases, steps, report);
  checkCheckReferences(pack, steps, report);
  checkMetrics(pack, steps, report);
  checkServicesAndCost(pack, report);
}

function checkPhaseOrder(phases: NonNullable<PackView['phases']>, report: Report): void {
  const order = PHASE_IDS.join(' → ');
  if (phases.length !== PHASE_IDS.length) {
    const ids = phases.map((p) => p?.id).filter(present);
    const missing = PHASE_IDS.filter((id) => !ids.includes(id));
    report(
      ['phases'],
      `expected exactly ${PHASE_IDS.length} phases (${order}), got ${phases.length}` +
        (missing.length > 0 ? `; add ${missing.map((m) => `"${m}"`).join(', ')}` : '; remove the extra phase'),
    );
  }
  phases.forEach((phase, i) => {
    const expected = PHASE_IDS[i];
    if (expected === undefined || phase?.id === undefined || phase.id === expected) return;
    report(
      ['phases', i, 'id'],
      `phase "${phase.id}" is in position ${i + 1} but phases run in the fixed order ${order}; ` +
        `move it to position ${PHASE_IDS.indexOf(phase.id) + 1} so that "${expected}" comes here`,
    );
  });
}

function checkTimeboxes(pack: PackView, phases: NonNullable<PackView['phases']>, report: Report): void {
  let total = 0;
  let complete = true;
  phases.forEach((phase, i) => {
    const box = phase?.timeboxMinutes;
    if (phase === null || box === undefined) {
      complete = false;
      return;
    }
    total += box;
    const limits = phase.id === undefined ? undefined : PHASE_TIMEBOX_MINUTES[phase.id];
    if (limits && (box < limits.min || box > limits.max)) {
      const allowed = limits.min === limits.max ? `${limits.min} min` : `${limits.min}–${limits.max} min`;
      report(
        ['phases', i, 'timeboxMinutes'],
        `the ${phase.id} phase is timeboxed to ${allowed} in the workshop format, got ${box} min; set timeboxMinutes within that`,
      );
    }
    const stepBoxes = (phase.steps ?? []).map((s) => s?.timeboxMinutes);
    if (stepBoxes.length > 0 && stepBoxes.every((b): b is number => b !== undefined)) {
      const sum = stepBoxes.reduce((a, b) => a + b, 0);
      if (sum > box) {
        report(
          ['phases', i, 'timeboxMinutes'],
          `the ${phase.id ?? 'phase'} steps add up to ${sum} min but the phase is timeboxed to ${box} min; shorten steps so they fit`,
        );
      } else if (sum * 2 < box) {
        report(
          ['phases', i, 'timeboxMinutes'],
          `the ${phase.id ?? 'phase'} steps add up to only ${sum} min of the phase's ${box} min; give the steps at least half the phase (their timeboxes drive the learner's timers)`,
        );
      }
    }
  });
  const min = pack.durationHours?.min;
  const max = pack.durationHours?.max;
  if (complete && phases.length === PHASE_IDS.length && min !== undefined && max !== undefined && min <= max) {
    if (total < min * 60 || total > max * 60) {
      const impl = phases.findIndex((p) => p?.id === 'implementation');
      report(
        impl >= 0 ? ['phases', impl, 'timeboxMinutes'] : ['durationHours'],
        `the phase timeboxes add up to ${total} min (${+(total / 60).toFixed(2)} h) but the scenario lasts ${min}–${max} h; ` +
          'adjust the implementation timebox or durationHours',
      );
    }
  }
}

function checkStepIds(steps: readonly LocatedStep[], report: Report): void {
  const first = new Map<string, LocatedStep>();
  for (const s of steps) {
    const id = s.step.id;
    if (id === undefined) continue;
    const seen = first.get(id);
    if (seen === undefined) first.set(id, s);
    else report([...s.path, 'id'], `step id "${id}" is already used by ${pathText(seen.path)}; step ids must be unique within the pack — rename one`);
  }
}

function checkStepPlacement(
  pack: PackView,
  phases: NonNullable<PackView['phases']>,
  steps: readonly LocatedStep[],
  report: Report,
): void {
  const byId = new Map(steps.filter((s) => s.step.id !== undefined).map((s) => [s.step.id, s] as const));
  const phaseIndex = (id: PhaseId) => phases.findIndex((p) => p?.id === id);
  const phaseSteps = (id: PhaseId) => steps.filter((s) => s.phaseId === id);
  // A step whose kind is invalid is reported by the schema; rules about "which kinds are where" would
  // only repeat that error in other words, so they wait until every kind in scope is known.
  const kindsKnown = (list: readonly LocatedStep[]) => list.every((s) => s.step.kind !== undefined);

  const requirements = phaseIndex('requirements');
  const requirementSteps = phaseSteps('requirements');
  if (requirements >= 0 && kindsKnown(requirementSteps) && !requirementSteps.some((s) => s.step.kind === 'question')) {
    report(['phases', requirements, 'steps'], 'the requirements phase needs at least one `question` step (business requirements, constraints, success criteria)');
  }

  const design = phaseIndex('design');
  const designSteps = phaseSteps('design');
  if (design >= 0 && kindsKnown(designSteps)) {
    const types = designSteps.filter((s) => s.step.kind === 'deliverable').map((s) => s.step.deliverable?.type);
    const missing = DESIGN_DELIVERABLES.filter((t) => !types.includes(t));
    if (missing.length > 0 && types.every((t) => t !== undefined)) {
      report(['phases', design, 'steps'], `the design phase must collect all four deliverables; add deliverable steps of type ${missing.join(', ')}`);
    }
    const last = designSteps[designSteps.length - 1];
    if (last !== undefined && last.step.kind !== 'review') {
      report([...last.path, 'kind'], 'the design phase ends with its architecture review gate; make the last design step a `review` step');
    }
  }

  const provisions = steps.filter((s) => s.step.kind === 'provision');
  for (const s of provisions) {
    if (s.phaseId !== undefined && s.phaseId !== 'implementation') {
      report([...s.path, 'kind'], `provision steps belong to the implementation phase (foundation deployment), not "${s.phaseId}"; move the step`);
    }
    const template = pack.environment?.template;
    if (s.step.template !== undefined && template !== undefined && s.step.template !== template) {
      report([...s.path, 'template'], `provision step deploys "${s.step.template}" but environment.template is "${template}"; a pack has one environment — use the same path`);
    }
  }
  const firstImpl = phaseSteps('implementation')[0];
  if (firstImpl !== undefined && firstImpl.step.kind !== undefined && firstImpl.step.kind !== 'provision') {
    report([...firstImpl.path, 'kind'], 'implementation starts with the foundation deployment; make its first step a `provision` step');
  }
  if (kindsKnown(steps)) {
    const firstProvision = provisions[0];
    for (const s of steps) {
      if (s.step.kind !== 'validate') continue;
      if (firstProvision === undefined || steps.indexOf(s) < steps.indexOf(firstProvision)) {
        report([...s.path, 'kind'], 'this validate step runs before any provision step, so there is no environment to check yet; move it after the foundation deployment');
      }
    }
  }
  const validation = phaseIndex('validation');
  const validationSteps = phaseSteps('validation');
  if (validation >= 0 && kindsKnown(validationSteps) && !validationSteps.some((s) => s.step.kind === 'validate')) {
    report(['phases', validation, 'steps'], 'the validation phase needs at least one `validate` step (security verification against the live environment)');
  }

  for (const s of steps) {
    if (s.step.kind !== 'review') continue;
    (s.step.reviews ?? []).forEach((ref, i) => {
      if (ref === null) return;
      const target = byId.get(ref);
      const path = [...s.path, 'reviews', i];
      if (target === undefined) {
        report(path, `review refers to step "${ref}", which does not exist; use the id of a deliverable step`);
      } else if (target.step.kind !== undefined && target.step.kind !== 'deliverable') {
        report(path, `review refers to step "${ref}", which is a ${target.step.kind} step; a review assesses deliverable steps`);
      } else if (steps.indexOf(target) > steps.indexOf(s)) {
        report(path, `review refers to deliverable "${ref}", which comes after the review; move the deliverable before it`);
      }
    });
  }
}

function checkCheckReferences(pack: PackView, steps: readonly LocatedStep[], report: Report): void {
  const checks = pack.environment?.checks ?? [];
  const first = new Map<string, number>();
  checks.forEach((c, i) => {
    if (c?.id === undefined) return;
    const seen = first.get(c.id);
    if (seen === undefined) first.set(c.id, i);
    else report(['environment', 'checks', i, 'id'], `check id "${c.id}" is already used by environment.checks[${seen}]; rename one`);
  });
  const known = [...first.keys()];
  const used = new Set<string>();
  for (const s of steps) {
    if (s.step.kind !== 'validate') continue;
    (s.step.checks ?? []).forEach((ref, i) => {
      if (ref === null) return;
      used.add(ref);
      if (!first.has(ref)) {
        const close = closest(ref, known);
        report(
          [...s.path, 'checks', i],
          `check "${ref}" is not defined in environment.checks` +
            (close ? `; did you mean "${close}"?` : `; define it there or use one of: ${known.join(', ')}`),
        );
      }
    });
  }
  checks.forEach((c, i) => {
    if (c?.id !== undefined && !used.has(c.id) && first.get(c.id) === i) {
      report(['environment', 'checks', i, 'id'], `check "${c.id}" is not run by any validate step; reference it from one or delete it`);
    }
  });
}

function checkMetrics(pack: PackView, steps: readonly LocatedStep[], report: Report): void {
  const metrics = pack.successMetrics ?? [];
  const ids = new Map<string, number>();
  metrics.forEach((m, i) => {
    if (m?.id === undefined) return;
    const seen = ids.get(m.id);
    if (seen === undefined) ids.set(m.id, i);
    else report(['successMetrics', i, 'id'], `metric id "${m.id}" is already used by successMetrics[${seen}]; rename one`);
  });
  const measured = new Set<string>();
  for (const s of steps) {
    (s.step.measures ?? []).forEach((ref, i) => {
      if (ref === null) return;
      measured.add(ref);
      if (!ids.has(ref)) {
        report([...s.path, 'measures', i], `metric "${ref}" is not defined in successMetrics; define it or use one of: ${[...ids.keys()].join(', ')}`);
      }
    });
  }
  for (const [id, i] of ids) {
    if (!measured.has(id)) {
      report(['successMetrics', i, 'id'], `metric "${id}" is never measured; list it in the \`measures\` of the step that produces its evidence`);
    }
  }
}

function checkServicesAndCost(pack: PackView, report: Report): void {
  const services = (pack.services ?? []).filter(present);
  if (pack.serviceCount !== undefined && pack.services && pack.services.length < pack.serviceCount) {
    report(['services'], `serviceCount says ${pack.serviceCount}+ services but only ${pack.services.length} are listed; list every service the solution uses`);
  }
  const declared = services.map((s) => s.resourceType).filter(present);
  const isDeclared = (type: string) =>
    (IMPLICIT_RESOURCE_TYPES as readonly string[]).includes(type) ||
    declared.some((d) => type.toLowerCase() === d.toLowerCase() || type.toLowerCase().startsWith(`${d.toLowerCase()}/`));
  const undeclared = (type: string) =>
    `resource type "${type}" is not provided by any entry in \`services\` (nor a child type of one); add the service or fix the type`;

  (pack.environment?.checks ?? []).forEach((c, i) => {
    if (c?.resourceType !== undefined && !isDeclared(c.resourceType)) report(['environment', 'checks', i, 'resourceType'], undeclared(c.resourceType));
    if (c?.principalResourceType !== undefined && !isDeclared(c.principalResourceType)) {
      report(['environment', 'checks', i, 'principalResourceType'], undeclared(c.principalResourceType));
    }
  });

  const cost = pack.cost;
  const env = pack.environment;
  (cost?.optimisations ?? []).forEach((o, i) => {
    (o?.appliesTo ?? []).forEach((t, j) => {
      if (t !== null && !isDeclared(t)) report(['cost', 'optimisations', i, 'appliesTo', j], undeclared(t));
    });
  });
  if (cost?.optimisations && !cost.optimisations.some((o) => o?.kind === 'teardown')) {
    report(['cost', 'optimisations'], 'the engine guards spend by tearing environments down; add a `teardown` optimisation describing when and how');
  }

  const lines = env?.costBreakdown ?? [];
  const hourly = env?.hourlyCostUsd;
  if (hourly !== undefined && lines.length > 0 && lines.every((l) => l?.usdPerHour !== undefined)) {
    const sum = lines.reduce((a, l) => a + (l?.usdPerHour ?? 0), 0);
    if (Math.abs(sum - hourly) > 0.005) {
      report(['environment', 'hourlyCostUsd'], `hourlyCostUsd is ${hourly} but costBreakdown adds up to ${sum.toFixed(2)}; make them agree`);
    }
  }

  const guard = cost?.guard;
  const dev = cost?.developmentUsd;
  const maxHours = pack.durationHours?.max;
  if (guard?.maxEnvironmentHours !== undefined && maxHours !== undefined && guard.maxEnvironmentHours < maxHours) {
    report(['cost', 'guard', 'maxEnvironmentHours'], `environments would be torn down after ${guard.maxEnvironmentHours} h but the scenario can last ${maxHours} h; raise maxEnvironmentHours`);
  }
  if (guard?.maxEnvironmentHours !== undefined && hourly !== undefined && dev?.max !== undefined) {
    const worst = hourly * guard.maxEnvironmentHours;
    if (worst > dev.max) {
      report(
        ['cost', 'guard', 'maxEnvironmentHours'],
        `one environment left up for ${guard.maxEnvironmentHours} h at $${hourly}/h costs $${worst.toFixed(2)}, above the development budget of $${dev.max}; lower maxEnvironmentHours or the hourly cost`,
      );
    }
  }
  if (guard?.alertAtUsd !== undefined && dev?.max !== undefined && guard.alertAtUsd > dev.max) {
    report(['cost', 'guard', 'alertAtUsd'], `the spend alert at $${guard.alertAtUsd} would fire only above the development budget of $${dev.max}; lower it`);
  }
}
