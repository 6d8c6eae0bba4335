import { existsSync } from 'node:fs';
import path from 'node:path';
import { packsDir } from '../scenarios/packFiles';
import { formatProblem, listPacks, loadPackFile, PACK_EXTENSIONS, PackError, type LoadedPack } from '../scenarios/loadPack';
import type { QuestionStep, ScenarioPack, Step } from '../scenarios/schema';
import { ApiError } from './apiKit';

/**
 * The scenario packs as the API sees them: found by id in the packs folder (SCENARIO_PACKS_DIR or
 * the app's scenarios/packs), read once per process, plus what the API reads from them — the
 * learner-facing text of a step and the answer criteria of a question.
 */
const cache = new Map<string, Promise<LoadedPack>>();

export function packFile(packId: string, dir = packsDir()): string | undefined {
  if (!/^[a-z][a-z0-9-]*$/.test(packId)) return undefined;
  return PACK_EXTENSIONS.map((ext) => path.join(dir, `${packId}${ext}`)).find((f) => existsSync(f));
}

/** The pack, or 400/404 saying which packs there are. */
export async function requirePack(packId: string): Promise<LoadedPack> {
  const dir = packsDir();
  const file = packFile(packId, dir);
  if (!file) {
    const { packs } = await listPacks(dir);
    throw new ApiError(404, `There is no scenario pack "${packId}" in ${dir}. Packs: ${packs.map((p) => p.pack.id).join(', ') || 'none'}.`);
  }
  let loaded = cache.get(file);
  if (!loaded) {
    loaded = loadPackFile(file);
    cache.set(file, loaded);
    loaded.catch(() => cache.delete(file));
  }
  try {
    return await loaded;
  } catch (err) {
    if (err instanceof PackError) {
      throw new ApiError(422, `Scenario pack "${packId}" has problems; fix the file before starting a run:\n${err.problems.map(formatProblem).join('\n')}`, {
        problems: err.problems.map(formatProblem),
      });
    }
    throw err;
  }
}

export function stepOf(pack: ScenarioPack, stepId: string): Step | undefined {
  for (const phase of pack.phases) {
    const step = phase.steps.find((s) => s.id === stepId);
    if (step) return step;
  }
  return undefined;
}

/** What a learner reads for a step: title, prompt, hints. */
export function stepText(pack: ScenarioPack, stepId: string | null): { title: string; prompt: string; hints: string[] } | undefined {
  const step = stepId ? stepOf(pack, stepId) : undefined;
  return step ? { title: step.title, prompt: step.prompt, hints: step.hints ?? [] } : undefined;
}

export interface AnswerGrade {
  ok: boolean;
  words: number;
  minWords: number;
  met: string[];
  missing: Array<{ id: string; description: string }>;
  needed: number;
}

/**
 * Checks an answer against the question's criteria (enough words, and at least `minCriteriaMet` —
 * all when unset — criteria covered by one of their keywords). The API refuses answers that do not
 * meet them, with what is missing, so the learner can improve the answer before it is recorded.
 */
export function gradeAnswer(step: QuestionStep, answer: string): AnswerGrade {
  const words = answer.trim().split(/\s+/).filter(Boolean).length;
  const text = answer.toLowerCase();
  const met: string[] = [];
  const missing: AnswerGrade['missing'] = [];
  for (const c of step.answer.criteria) {
    if (c.keywords.some((k) => text.includes(k.toLowerCase()))) met.push(c.id);
    else missing.push({ id: c.id, description: c.description });
  }
  const needed = step.answer.minCriteriaMet ?? step.answer.criteria.length;
  return { ok: words >= step.answer.minWords && met.length >= needed, words, minWords: step.answer.minWords, met, missing, needed };
}
