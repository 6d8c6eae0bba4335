import { z } from 'zod';
import type { Logger } from 'pino';
import type { ArmFaults } from './arm/faults';
import { DEFAULT_SUBSCRIPTION_ID, type DeploymentTimes, type EmulatedSubscription, type QuotaSetting } from './arm/emulator';
import { definitionFor } from './arm/quotas';
import type { Faults as TeamsFaults } from './teams/emulator';

/**
 * A bad day on demand: the fault settings `npm start` hands to its emulators, so an instructor can
 * rehearse under throttling and a tester can reproduce a report (same seed, same faults for the same
 * requests). Environment variables, all optional; unset = no faults. README "A bad day on demand".
 *
 * These are the local stack's own settings, not the app's: nothing in Azure reads them (the real ARM
 * and Teams throttle on their own), which is why they live here and not in config.ts's app settings.
 */
const fraction = (name: string) =>
  z.coerce
    .number({ message: `${name} must be a number between 0 and 1 (a share of requests)` })
    .min(0, { message: `${name} must be between 0 and 1 (a share of requests)` })
    .max(1, { message: `${name} must be between 0 and 1 (a share of requests)` });
const wholeNumber = (name: string, min: number, what: string) =>
  z.coerce
    .number({ message: `${name} must be ${what}` })
    .int({ message: `${name} must be ${what}` })
    .min(min, { message: `${name} must be ${what}` });

export const FaultSettingsSchema = z
  .object({
    /** Share (0..1) of the ARM emulator's write requests (PUT, PATCH, DELETE, POST) answered 429 SubscriptionRequestsThrottled. */
    ARM_FAULT_THROTTLE_FRACTION: fraction('ARM_FAULT_THROTTLE_FRACTION').optional(),
    /** Retry-After (whole seconds, as ARM sends it) of those 429s; default 1. */
    ARM_FAULT_THROTTLE_RETRY_AFTER_SECONDS: wholeNumber('ARM_FAULT_THROTTLE_RETRY_AFTER_SECONDS', 0, 'a whole number of seconds >= 0').optional(),
    /** `writes` (default, as ARM's write budget) or `all` (reads and polls too). */
    ARM_FAULT_THROTTLE_SCOPE: z.enum(['writes', 'all'], { message: 'ARM_FAULT_THROTTLE_SCOPE must be "writes" or "all"' }).optional(),
    /** 500 bursts: of every ARM_FAULT_500_EVERY write requests, the first ARM_FAULT_500_LENGTH answer 500 InternalServerError. */
    ARM_FAULT_500_EVERY: wholeNumber('ARM_FAULT_500_EVERY', 1, 'a whole number >= 1 (a burst repeats every this many write requests)').optional(),
    ARM_FAULT_500_LENGTH: wholeNumber('ARM_FAULT_500_LENGTH', 1, 'a whole number >= 1 (requests failing in a row)').optional(),
    /** Slow deployments: every resource of a deployment takes this long to provision (ms). */
    ARM_FAULT_SLOW_DEPLOYMENT_MS: wholeNumber('ARM_FAULT_SLOW_DEPLOYMENT_MS', 0, 'a whole number of milliseconds >= 0').optional(),
    /** Share (0..1) of the bot's sends, updates and conversation creates the connector emulator answers 429. */
    TEAMS_FAULT_THROTTLE_FRACTION: fraction('TEAMS_FAULT_THROTTLE_FRACTION').optional(),
    /** Retry-After (seconds, fractions allowed) of those 429s; default 1. */
    TEAMS_FAULT_RETRY_AFTER_SECONDS: z.coerce
      .number({ message: 'TEAMS_FAULT_RETRY_AFTER_SECONDS must be a number of seconds > 0' })
      .positive({ message: 'TEAMS_FAULT_RETRY_AFTER_SECONDS must be a number of seconds > 0' })
      .optional(),
    /** Faults stop this many seconds after the stack started (each start counts again); unset = until the stack stops. */
    FAULT_DURATION_SECONDS: z.coerce
      .number({ message: 'FAULT_DURATION_SECONDS must be a number of seconds > 0' })
      .positive({ message: 'FAULT_DURATION_SECONDS must be a number of seconds > 0' })
      .optional(),
    /** Seed of the fault dice (both emulators): the same seed and the same requests give the same faults. Default 1. */
    FAULT_SEED: wholeNumber('FAULT_SEED', 0, 'a whole number >= 0').optional(),
    /**
     * Not a fault: realistic deployment times (local/arm/durations.ts) times this scale — 1 = Azure's typical
     * durations (a VPN gateway in 35 min), 0.01 = a rehearsal at 1/100. Unset or 0 = off (today's speed).
     */
    ARM_DEPLOYMENT_TIME_SCALE: z.coerce
      .number({ message: 'ARM_DEPLOYMENT_TIME_SCALE must be a number >= 0 (1 = Azure\'s typical deployment times, 0.01 = 1/100 of them, 0 = off)' })
      .min(0, { message: 'ARM_DEPLOYMENT_TIME_SCALE must be a number >= 0 (1 = Azure\'s typical deployment times, 0.01 = 1/100 of them, 0 = off)' })
      .optional(),
    /** Not a fault: how many learner subscriptions the ARM emulator serves (default 1); their ids are printed at start. */
    ARM_EMULATOR_SUBSCRIPTIONS: z.coerce
      .number({ message: 'ARM_EMULATOR_SUBSCRIPTIONS must be a whole number from 1 to 20' })
      .int({ message: 'ARM_EMULATOR_SUBSCRIPTIONS must be a whole number from 1 to 20' })
      .min(1, { message: 'ARM_EMULATOR_SUBSCRIPTIONS must be a whole number from 1 to 20' })
      .max(20, { message: 'ARM_EMULATOR_SUBSCRIPTIONS must be a whole number from 1 to 20' })
      .optional(),
    /**
     * Not a fault: quotas of the emulated subscriptions, `<subscription number>:<quota>[@<region>]=<limit>` separated
     * by commas, e.g. `2:StorageAccounts@westeurope=3,3:Microsoft.DocumentDB/databaseAccounts=1`. Unset = Azure's defaults.
     */
    ARM_EMULATOR_QUOTAS: z.string().optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.ARM_FAULT_500_EVERY === undefined) !== (s.ARM_FAULT_500_LENGTH === undefined)) {
      ctx.addIssue({ code: 'custom', path: [s.ARM_FAULT_500_EVERY === undefined ? 'ARM_FAULT_500_EVERY' : 'ARM_FAULT_500_LENGTH'], message: 'ARM_FAULT_500_EVERY and ARM_FAULT_500_LENGTH go together: set both (e.g. 50 and 5: five 500s, then 45 answers, repeated)' });
    }
    if (s.ARM_FAULT_500_EVERY !== undefined && s.ARM_FAULT_500_LENGTH !== undefined && s.ARM_FAULT_500_LENGTH > s.ARM_FAULT_500_EVERY) {
      ctx.addIssue({ code: 'custom', path: ['ARM_FAULT_500_LENGTH'], message: `ARM_FAULT_500_LENGTH (${s.ARM_FAULT_500_LENGTH}) must not exceed ARM_FAULT_500_EVERY (${s.ARM_FAULT_500_EVERY})` });
    }
    if (s.ARM_EMULATOR_QUOTAS !== undefined) {
      for (const problem of parseQuotas(s.ARM_EMULATOR_QUOTAS, s.ARM_EMULATOR_SUBSCRIPTIONS ?? 1).problems) ctx.addIssue({ code: 'custom', path: ['ARM_EMULATOR_QUOTAS'], message: problem });
    }
  });

/** The n-th emulated subscription's id (1-based): the first is the emulator's default, the others follow it. */
export function emulatedSubscriptionId(n: number): string {
  if (n === 1) return DEFAULT_SUBSCRIPTION_ID;
  return `00000000-0000-4000-8000-${(0xa2e0 + n - 1).toString(16).padStart(12, '0')}`;
}

const QUOTA_ENTRY = /^(\d+):([A-Za-z0-9./]+)(?:@([a-z0-9]+))?=(\d+)$/;

function parseQuotas(text: string, subscriptions: number): { problems: string[]; bySubscription: Map<number, QuotaSetting[]> } {
  const problems: string[] = [];
  const bySubscription = new Map<number, QuotaSetting[]>();
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const m = QUOTA_ENTRY.exec(entry);
    if (!m) {
      problems.push(`ARM_EMULATOR_QUOTAS entry "${entry}" is not <subscription number>:<quota>[@<region>]=<limit> (e.g. 2:StorageAccounts@westeurope=3)`);
      continue;
    }
    const n = Number(m[1]);
    if (n < 1 || n > subscriptions) problems.push(`ARM_EMULATOR_QUOTAS entry "${entry}": subscription ${n} does not exist (ARM_EMULATOR_SUBSCRIPTIONS is ${subscriptions})`);
    try {
      definitionFor(m[2]);
    } catch (e) {
      problems.push(`ARM_EMULATOR_QUOTAS entry "${entry}": ${(e as Error).message}`);
    }
    bySubscription.set(n, [...(bySubscription.get(n) ?? []), { quota: m[2], limit: Number(m[4]), ...(m[3] ? { location: m[3] } : {}) }]);
  }
  return { problems, bySubscription };
}

export const FAULT_SETTING_NAMES = Object.keys(FaultSettingsSchema.shape) as Array<keyof z.infer<typeof FaultSettingsSchema>>;

export interface FaultSettings {
  /** For the ARM emulator (undefined: none). */
  arm?: ArmFaults;
  /** For the connector emulator (undefined: none). */
  teams?: TeamsFaults;
  durationSeconds?: number;
  seed: number;
  /** Not faults: the ARM emulator's subscriptions (with quotas) and realistic deployment times, when set. */
  armEmulator?: { subscriptions?: EmulatedSubscription[]; deploymentTimes?: DeploymentTimes };
}

export class FaultSettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`Fault settings (README "A bad day on demand"):\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'FaultSettingsError';
  }
}

/** Reads the fault settings from the environment; a bad value is an error naming the setting and what it got. */
export function faultSettings(env: NodeJS.ProcessEnv = process.env): FaultSettings {
  const given = Object.fromEntries(FAULT_SETTING_NAMES.filter((n) => env[n] !== undefined && env[n]!.trim() !== '').map((n) => [n, env[n]!.trim()]));
  const parsed = FaultSettingsSchema.safeParse(given);
  if (!parsed.success) {
    throw new FaultSettingsError(
      parsed.error.issues.map((i) => {
        const name = String(i.path[0] ?? '');
        const got = name in given ? ` (got "${given[name]}")` : '';
        return `${i.message}${got}`;
      }),
    );
  }
  const s = parsed.data;
  const seed = s.FAULT_SEED ?? 1;
  const arm: ArmFaults = {
    seed,
    ...(s.ARM_FAULT_THROTTLE_FRACTION ? { throttle: { fraction: s.ARM_FAULT_THROTTLE_FRACTION, retryAfterSeconds: s.ARM_FAULT_THROTTLE_RETRY_AFTER_SECONDS ?? 1, scope: s.ARM_FAULT_THROTTLE_SCOPE ?? 'writes' } } : {}),
    ...(s.ARM_FAULT_500_EVERY !== undefined && s.ARM_FAULT_500_LENGTH !== undefined ? { serverErrors: { every: s.ARM_FAULT_500_EVERY, length: s.ARM_FAULT_500_LENGTH } } : {}),
    ...(s.ARM_FAULT_SLOW_DEPLOYMENT_MS ? { slowDeployment: { perResourceMs: s.ARM_FAULT_SLOW_DEPLOYMENT_MS } } : {}),
  };
  const teams: TeamsFaults | undefined = s.TEAMS_FAULT_THROTTLE_FRACTION ? { rate429: s.TEAMS_FAULT_THROTTLE_FRACTION, retryAfterSeconds: s.TEAMS_FAULT_RETRY_AFTER_SECONDS ?? 1, seed } : undefined;
  const armEmulator = emulatorSettings(s);
  return {
    ...(arm.throttle || arm.serverErrors || arm.slowDeployment ? { arm } : {}),
    ...(armEmulator ? { armEmulator } : {}),
    ...(teams ? { teams } : {}),
    ...(s.FAULT_DURATION_SECONDS ? { durationSeconds: s.FAULT_DURATION_SECONDS } : {}),
    seed,
  };
}

function emulatorSettings(s: z.infer<typeof FaultSettingsSchema>): FaultSettings['armEmulator'] {
  const count = s.ARM_EMULATOR_SUBSCRIPTIONS ?? 1;
  const quotas = s.ARM_EMULATOR_QUOTAS ? parseQuotas(s.ARM_EMULATOR_QUOTAS, count).bySubscription : new Map<number, QuotaSetting[]>();
  const deploymentTimes = s.ARM_DEPLOYMENT_TIME_SCALE ? { scale: s.ARM_DEPLOYMENT_TIME_SCALE } : undefined;
  if (count === 1 && quotas.size === 0 && !deploymentTimes) return undefined;
  const subscriptions = Array.from({ length: count }, (_, i) => ({ id: emulatedSubscriptionId(i + 1), ...(quotas.get(i + 1) ? { quotas: quotas.get(i + 1)! } : {}) }));
  return { ...(count > 1 || quotas.size > 0 ? { subscriptions } : {}), ...(deploymentTimes ? { deploymentTimes } : {}) };
}

/** One line for the start banner: what goes wrong today, and until when. */
export function describeFaults(f: FaultSettings): string | undefined {
  const parts: string[] = [];
  if (f.arm?.throttle) parts.push(`ARM 429 on ${Math.round(f.arm.throttle.fraction * 100)}% of ${f.arm.throttle.scope === 'all' ? 'requests' : 'writes'} (Retry-After ${f.arm.throttle.retryAfterSeconds} s)`);
  if (f.arm?.serverErrors) parts.push(`ARM 500 x${f.arm.serverErrors.length} every ${f.arm.serverErrors.every} writes`);
  if (f.arm?.slowDeployment) parts.push(`ARM deployments ${f.arm.slowDeployment.perResourceMs} ms per resource`);
  if (f.teams) parts.push(`Teams 429 on ${Math.round((f.teams.rate429 ?? 0) * 100)}% of sends (Retry-After ${f.teams.retryAfterSeconds} s)`);
  if (!parts.length) return undefined;
  return `${parts.join('; ')}; ${f.durationSeconds ? `for ${f.durationSeconds} s` : 'until stopped'}; seed ${f.seed}`;
}

/**
 * Ends the faults after `durationSeconds` (each emulator back to no faults). Returns a cancel for
 * the timer, which does not hold the process open.
 */
export function endFaultsAfter(
  f: FaultSettings,
  emulators: { arm?: { setFaults(faults: ArmFaults): void }; teams?: { setFaults(faults: TeamsFaults): void } },
  log?: Logger,
): () => void {
  if (!f.durationSeconds || (!f.arm && !f.teams)) return () => undefined;
  const timer = setTimeout(() => {
    if (f.arm) emulators.arm?.setFaults({});
    if (f.teams) emulators.teams?.setFaults({ rate429: 0 });
    log?.info({ afterSeconds: f.durationSeconds }, 'fault settings: faults over, the emulators answer normally again');
  }, f.durationSeconds * 1000);
  timer.unref();
  return () => clearTimeout(timer);
}
