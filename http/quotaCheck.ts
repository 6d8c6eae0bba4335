import type { Logger } from 'pino';
import { appSettings } from '../config';
import { loadPackWithTemplate, type PackWithTemplate } from '../scenarios/packFiles';
import { poolCapacity, type LearnerSubscription, type PoolCapacity } from '../activities/subscriptionPool';

/**
 * Whether the learner subscriptions can hold a roster's environments, asked when a run starts: a 1,000-seat
 * event in one subscription meets Azure's default 250 storage accounts per region 90 minutes in, when the
 * learners reach Implementation, and three quarters of the room cannot deploy. Read now, the instructor hears it
 * before anyone is invited, with the numbers.
 */
export interface CapacityVerdict extends PoolCapacity {
  packId: string;
  learners: number;
  location: string;
}

/** The region of a learner's resource group before any learner exists: the pack's `location` / `primaryLocation`, then LEARNER_LOCATION (as provisionEnvironment). */
export function packLocation(pack: PackWithTemplate, runParameters: Record<string, unknown>, fallback = appSettings().LEARNER_LOCATION): string {
  for (const name of ['location', 'primaryLocation']) {
    const p = pack.pack.environment.parameters[name];
    const value = !p ? undefined : p.source === 'fixed' ? p.value : p.source === 'instructor' || p.source === 'learner' ? (runParameters[name] ?? p.default) : undefined;
    if (typeof value === 'string') return value;
  }
  return fallback;
}

/**
 * The capacity for `learners` environments of the pack in the run's subscriptions (absent: LEARNER_SUBSCRIPTION_ID).
 * Undefined when it cannot be known: no learner subscription is configured, or no place's quotas could be read
 * (ARM unreachable) — the run is not refused for what nobody could read.
 */
export async function environmentCapacity(args: { packId: string; learners: number; runParameters: Record<string, unknown>; subscriptions?: LearnerSubscription[]; log: Logger }): Promise<CapacityVerdict | undefined> {
  const settings = appSettings();
  const subscriptions = args.subscriptions ?? (settings.LEARNER_SUBSCRIPTION_ID ? [{ subscriptionId: settings.LEARNER_SUBSCRIPTION_ID }] : []);
  if (!subscriptions.length) return undefined;
  const pack = await loadPackWithTemplate(args.packId);
  const location = packLocation(pack, args.runParameters, settings.LEARNER_LOCATION);
  let capacity: PoolCapacity;
  try {
    capacity = await poolCapacity(subscriptions, location, pack.template, args.log, AbortSignal.timeout(30_000));
  } catch (err) {
    args.log.warn({ err: { message: (err as Error).message }, packId: args.packId }, 'could not read the learner subscriptions\' quotas at run start');
    return undefined;
  }
  if (!capacity.places.length) return undefined;
  return { ...capacity, packId: args.packId, learners: args.learners, location };
}

/** Why the verdict refuses the run, in words for the instructor; undefined when the roster fits. */
export function capacityShortfall(v: CapacityVerdict): string | undefined {
  if (v.fits >= v.learners) return undefined;
  const places = v.places.map((p) => `${p.subscriptionId} in ${p.location}: ${p.fits} (${p.why})`).join('; ');
  return (
    `The learner subscriptions hold ${v.fits} more environment(s) of "${v.packId}" now and the roster has ${v.learners} learners, ` +
    `so ${v.learners - v.fits} could not deploy when they reach Implementation. Per place: ${places}` +
    `${v.unread.length ? `; not read: ${v.unread.join('; ')}` : ''}. ` +
    'Name more subscriptions in learnerSubscriptions (CLI: --learner-subscription), request a quota increase, or split the roster; ' +
    'or set allowQuotaShortfall to start anyway (learners past the quota wait for room in a pool of subscriptions, and fail at deployment in a single one).'
  );
}
