/**
 * Deterministic names and the tags of a learner environment. Pure (no I/O, no clock), so an
 * orchestration can compute the same names an activity uses.
 */

/** Tags every learner resource group carries; the cost guard, the sweeper and teardown rely on them. */
export const TAGS = {
  /** `workshop-pack=<id>`: marks a group as a workshop environment (nothing without it is ever deleted). */
  pack: 'workshop-pack',
  run: 'workshop-run',
  learner: 'workshop-learner',
  /** The scenario's title, for people reading the portal. */
  scenario: 'workshop-scenario',
  /** ISO time after which the sweeper deletes the group whatever the run's state. */
  expires: 'workshop-expires',
  /** ISO time the group was first created; spend is counted from here. */
  created: 'workshop-created',
  /** The pack's estimated cost of the environment per hour (USD). */
  hourlyUsd: 'workshop-hourly-usd',
  /** The pack's development-cost maximum for one environment (USD): a run's default budget share. */
  budgetUsd: 'workshop-budget-usd',
} as const;

/** 32-bit FNV-1a as 7 base-36 characters: short, stable, good enough to keep names apart. */
export function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36).padStart(7, '0');
}

function slugify(text: string, max: number): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, max)
    .replace(/-$/, '');
}

/** `ws-<run>-<learner>-<hash>`: readable, unique per (run, learner), within ARM's 90 characters. */
export function learnerResourceGroupName(runId: string, learnerId: string): string {
  return `ws-${slugify(runId, 30) || 'run'}-${slugify(learnerId, 30) || 'learner'}-${shortHash(`${runId}\u0000${learnerId}`)}`;
}

/** One deployment name per idempotency key (instance id + step): a retry finds the deployment it started. */
export function deploymentName(packId: string, idempotencyKey: string): string {
  return `ws-${slugify(packId, 20)}-${slugify(idempotencyKey, 24) || 'k'}-${shortHash(idempotencyKey)}`.slice(0, 64);
}

/** Lowercase letter + 7 alphanumerics: fits storage-account rules with room for each pack's suffixes. */
export function namePrefixFor(runId: string, learnerId: string): string {
  return `w${shortHash(`prefix\u0000${runId}\u0000${learnerId}`)}`;
}

/** A private /16 per learner index (10.1.0.0/16 …), distinct within a cohort of up to 250. */
export function addressSpaceFor(cohortIndex: number): string {
  return `10.${(cohortIndex % 250) + 1}.0.0/16`;
}
