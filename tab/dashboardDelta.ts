import { createHash } from 'node:crypto';
import type { DashboardLearner, DashboardRun } from './dashboardTypes';

/**
 * Incremental answers for the dashboard's poll. At 1,000 learners some learner moves between almost
 * every two polls, so a whole-answer ETag alone rarely earns a 304 and each poll would carry every
 * learner again (hundreds of KB, and a re-render of every row). The page instead sends the ETag of the
 * answer it holds as `?since=`; when this process still remembers that version it answers with the
 * learners that changed since (plus the run's small parts whole) — RFC 3229's delta encoding, by hand.
 * A version it does not remember (another instance, a restart, too old) gets the full answer, so a
 * delta is only ever an optimisation: correctness never depends on this memory.
 */

/** One answer's identity: its ETag and a digest per learner. */
export interface ReadModelVersion {
  etag: string;
  learners: Map<string, string>;
}

const digest = (text: string) => createHash('sha1').update(text).digest('base64url');

/** The answer's ETag (over everything but `serverTime`) and each learner's digest. */
export function versionOf(body: DashboardRun): ReadModelVersion {
  const { serverTime: _time, learners, delta: _delta, ...rest } = body;
  const perLearner = new Map(learners.map((l) => [l.learnerId, digest(JSON.stringify(l))] as const));
  const etag = `"${digest(`${JSON.stringify(rest)}\n${learners.map((l) => `${l.learnerId}=${perLearner.get(l.learnerId)}`).join('\n')}`)}"`;
  return { etag, learners: perLearner };
}

/** `body` as a delta against `base`: only the learners whose digest differs, and the ids gone since. */
export function deltaOf(body: DashboardRun, current: ReadModelVersion, base: ReadModelVersion): DashboardRun {
  const changed: DashboardLearner[] = body.learners.filter((l) => base.learners.get(l.learnerId) !== current.learners.get(l.learnerId));
  const removed = [...base.learners.keys()].filter((id) => !current.learners.has(id));
  return { ...body, learners: changed, delta: { since: base.etag, removed, total: body.learners.length } };
}

/**
 * The versions this process answered lately, per run: enough for every open dashboard polling every
 * 2 s to find the one it holds, bounded so memory does not grow with time (a learner digest is ~40 bytes;
 * 1,000 learners × KEEP_VERSIONS is a few hundred KB per run).
 */
const KEEP_VERSIONS = 8;
const KEEP_RUNS = 20;

export class ReadModelVersions {
  private readonly runs = new Map<string, ReadModelVersion[]>();

  remember(runId: string, version: ReadModelVersion): void {
    const list = this.runs.get(runId) ?? [];
    if (list.at(-1)?.etag !== version.etag) list.push(version);
    if (list.length > KEEP_VERSIONS) list.shift();
    this.runs.delete(runId); // re-inserted last: the map's order is least recently answered first
    this.runs.set(runId, list);
    if (this.runs.size > KEEP_RUNS) this.runs.delete(this.runs.keys().next().value!);
  }

  find(runId: string, etag: string): ReadModelVersion | undefined {
    return this.runs.get(runId)?.find((v) => v.etag === etag);
  }
}
