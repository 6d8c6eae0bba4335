import { z } from 'zod';
import { deploymentEstimateMs, hotStartLeadMs, MINUTE } from '../azure/deploymentTimes';
import type { HotStartPlan, HotStartView, RunPlan } from '../contracts/messages';
import { DEFAULT_SCHEDULER_CONFIG } from '../orchestrations/provisioningScheduler';
import type { ScenarioPack } from '../scenarios/schema';
import { loadPackWithTemplate } from '../scenarios/packFiles';
import { ApiError } from './apiKit';

/**
 * Hot start at the API's edge (POST /api/runs `hotStart`, `startsAt`): the option's shapes, and the plan the
 * cohort gets — which provision step, how many environments, when they start deploying — with what the
 * instructor is told about it (orchestrations/hotStart.ts runs it).
 */
const HOT_START_HELP = 'hotStart is true (an environment for every learner), a fraction of the roster such as 0.7, or { "fraction": 0.7 } / { "poolSize": 140 }';

/** The option as given: true/false, a fraction, or an object with one of fraction / poolSize. */
export const HotStartOption = z.unknown().transform((v, ctx): { fraction?: number; poolSize?: number } | undefined => {
  const bad = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  const fraction = (f: unknown, where: string) => {
    if (typeof f !== 'number' || !Number.isFinite(f)) return bad(`${where} must be a number, got ${JSON.stringify(f)}; ${HOT_START_HELP}`);
    if (f <= 0 || f > 1) return bad(`${where} is a share of the roster above 0 and at most 1 (0.7 = 70 %), got ${f}; for a number of environments give { "poolSize": n }`);
    return f;
  };
  if (v === false) return undefined;
  if (v === true) return { fraction: 1 };
  if (typeof v === 'number') return { fraction: fraction(v, 'hotStart') };
  if (!v || typeof v !== 'object' || Array.isArray(v)) return bad(`got ${JSON.stringify(v)}; ${HOT_START_HELP}`);
  const o = v as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => k !== 'fraction' && k !== 'poolSize');
  if (unknown.length) return bad(`unknown field ${unknown.map((k) => `"${k}"`).join(', ')}; ${HOT_START_HELP}`);
  if (o.fraction !== undefined && o.poolSize !== undefined) return bad('give fraction or poolSize, not both');
  if (o.poolSize !== undefined) {
    if (!Number.isInteger(o.poolSize) || (o.poolSize as number) < 1) return bad(`hotStart.poolSize is a whole number of environments (1 or more), got ${JSON.stringify(o.poolSize)}`);
    return { poolSize: o.poolSize as number };
  }
  return { fraction: o.fraction === undefined ? 1 : fraction(o.fraction, 'hotStart.fraction') };
});

export const StartsAt = z.iso.datetime({ offset: true, error: 'startsAt is an ISO date-time with a zone, e.g. "2026-12-04T09:00:00+01:00"' });

/** How far ahead a session may be scheduled. */
const MAX_AHEAD_MS = 30 * 24 * 60 * MINUTE;

export interface HotStartSummary {
  poolSize: number;
  stepId: string;
  provisionAt: string;
  leadMinutes: number;
  /** One deployment of the pack, typically (the slowest chain of its template), in the run's time scale. */
  deploymentMinutes: number;
  /**
   * When the last pool environment should be ready, and when learners who use the phases before the provision step
   * to their end reach it (faster ones come earlier: a pool of several waves is not all ready for them).
   */
  readyBy: string;
  needed: string;
  warning?: string;
}

/** The run's session start, checked: in the future and not more than 30 days ahead. */
export function sessionStart(startsAt: string | undefined, now: Date): string | undefined {
  if (startsAt === undefined) return undefined;
  const t = Date.parse(startsAt);
  if (t < now.getTime() - MINUTE) throw new ApiError(400, `startsAt ${startsAt} is in the past (now ${now.toISOString()}); give the session's start, or leave startsAt out to start now.`);
  if (t > now.getTime() + MAX_AHEAD_MS) throw new ApiError(400, `startsAt ${startsAt} is more than 30 days ahead; start the run closer to the session.`);
  return new Date(t).toISOString();
}

/**
 * The cohort's hot-start plan: the first provision step of the workshop, the pool's size (a fraction of the
 * roster rounds up), and when it starts deploying — now, or `startsAt` minus the lead time from the pack's
 * template (azure/deploymentTimes.ts), never before now.
 */
export function hotStartPlan(
  option: { fraction?: number; poolSize?: number },
  args: { pack: ScenarioPack; template: { resources?: unknown }; plan: RunPlan; learners: number; timeScale: number; startsAt?: string; now: Date; concurrent?: number },
): { plan: HotStartPlan; summary: HotStartSummary } {
  const { pack, plan, timeScale, now } = args;
  const phaseIndex = pack.phases.findIndex((p) => plan.phases[p.id]?.steps.some((s) => s.kind === 'provision'));
  if (phaseIndex < 0) throw new ApiError(400, `hotStart: scenario "${pack.id}" deploys no environment (no provision step), so there is nothing to deploy ahead; leave hotStart out.`);
  const stepId = plan.phases[pack.phases[phaseIndex]!.id]!.steps.find((s) => s.kind === 'provision')!.id;
  const poolSize = option.poolSize !== undefined ? option.poolSize : Math.ceil(args.learners * (option.fraction ?? 1));
  if (poolSize > args.learners) throw new ApiError(400, `hotStart.poolSize ${poolSize} is more than the roster's ${args.learners} learners; environments are deployed ahead for learners of the roster.`);
  const concurrent = args.concurrent ?? DEFAULT_SCHEDULER_CONFIG.maxConcurrentDeployments;
  const leadMs = hotStartLeadMs(args.template, poolSize, concurrent, timeScale);
  const session = args.startsAt ? Date.parse(args.startsAt) : now.getTime();
  const provisionAt = Math.max(now.getTime(), session - leadMs);
  const deployMs = deploymentEstimateMs(args.template) * timeScale;
  const readyBy = provisionAt + Math.ceil(poolSize / concurrent) * deployMs;
  const beforeMs = pack.phases.slice(0, phaseIndex).reduce((a, p) => a + p.timeboxMinutes * MINUTE * timeScale, 0);
  const needed = session + beforeMs;
  const summary: HotStartSummary = {
    poolSize,
    stepId,
    provisionAt: new Date(provisionAt).toISOString(),
    leadMinutes: Math.round((leadMs / MINUTE) * 10) / 10,
    deploymentMinutes: Math.round((deployMs / MINUTE) * 10) / 10,
    readyBy: new Date(readyBy).toISOString(),
    needed: new Date(needed).toISOString(),
    ...(readyBy > needed
      ? {
          warning:
            `The pool needs about ${Math.round((readyBy - provisionAt) / MINUTE)} min to deploy ${poolSize} environments (${concurrent} at a time, ${Math.round(deployMs / MINUTE)} min each) ` +
            `but learners reach "${stepId}" ${Math.round((needed - session) / MINUTE)} min into the session at the latest (faster ones earlier); those whose environment is not ready yet wait for it. Schedule the session with startsAt so the pool starts earlier, or pool fewer.`,
        }
      : {}),
  };
  return { plan: { poolSize, stepId, provisionAt: summary.provisionAt, leadMs }, summary };
}

/** What POST /api/runs adds to the cohort's input and to its answer for `hotStart` / `startsAt`. */
export async function hotStartFor(
  body: { hotStart?: { fraction?: number; poolSize?: number }; startsAt?: string; timeScale: number },
  pack: ScenarioPack,
  plan: RunPlan,
  learners: number,
): Promise<{ input: { hotStart?: HotStartPlan; startsAt?: string }; response: { hotStart?: HotStartSummary; startsAt?: string } }> {
  const now = new Date();
  const startsAt = sessionStart(body.startsAt, now);
  if (!body.hotStart) return { input: startsAt ? { startsAt } : {}, response: startsAt ? { startsAt } : {} };
  const { template } = await loadPackWithTemplate(pack.id);
  const hot = hotStartPlan(body.hotStart, { pack, template, plan, learners, timeScale: body.timeScale, now, ...(startsAt ? { startsAt } : {}) });
  return { input: { hotStart: hot.plan, ...(startsAt ? { startsAt } : {}) }, response: { hotStart: hot.summary, ...(startsAt ? { startsAt } : {}) } };
}

/** The pool in one line, for the instructor (CLI status, Teams): "Hot start: 12 ready, 3 deploying, 40 claimed (38 ready) of 60 · idle $4.20 ($2.52/h)". */
export function poolSentence(h: HotStartView, now = new Date()): string {
  if (h.size === 0) {
    const at = Date.parse(h.provisionAt);
    return at > now.getTime() ? `Hot start: the pool starts deploying at ${h.provisionAt}${h.startsAt ? ` (the session starts ${h.startsAt})` : ''}.` : 'Hot start: the pool is being taken from the roster.';
  }
  const parts = [`${h.ready} ready`, `${h.deploying + h.queued} deploying`, `${h.claimed} claimed (${h.claimedReady} already ready)`];
  if (h.failed) parts.push(`${h.failed} failed (deployed on demand)`);
  if (h.tornDown) parts.push(`${h.tornDown} unclaimed torn down`);
  return `Hot start: ${parts.join(', ')} of ${h.size} · idle cost so far $${h.idleCostUsd.toFixed(2)}${h.idleUsdPerHour ? ` (now $${h.idleUsdPerHour.toFixed(2)}/h)` : ''}`;
}

/** What `workshop run start` says of the hot start it asked for. */
export function hotStartLines(s: HotStartSummary): string[] {
  return [
    `Hot start: ${s.poolSize} environment${s.poolSize === 1 ? '' : 's'} (step "${s.stepId}") deploy from ${s.provisionAt} (lead ${s.leadMinutes} min; one deployment ~${s.deploymentMinutes} min); ready by ~${s.readyBy}, needed from ${s.needed}.`,
    ...(s.warning ? [`  WARNING: ${s.warning}`] : []),
  ];
}
