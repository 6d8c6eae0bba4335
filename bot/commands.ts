import { z } from 'zod';

/**
 * Text commands, parsed at the edge into typed commands (pure; handlers.ts acts on them).
 *
 * Learners:     done · answer <text> · submit <name> <https://link> · hint · help <what is blocking you> · progress · peer review
 * Instructors:  start [<scenario> [team|csv] [scale=<n>] [id=<run-id>] [with <upn>,<upn>]] (CSV on the following lines or attached)
 *               status · runs · use <run-id> · help queue · reviews
 *               approve <learner> [comment] · changes <learner> <comment> · reply <learner> <answer>
 *               resume <learner> [from start] · broadcast <message> · extend <minutes> [<learner>] · end [reason]
 * Anyone:       help (this list)
 */
export const INSTRUCTOR_VERBS = ['start', 'status', 'runs', 'use', 'helpQueue', 'reviews', 'approve', 'changes', 'reply', 'resume', 'broadcast', 'extend', 'end'] as const;
export const LEARNER_VERBS = ['done', 'answer', 'submit', 'hint', 'help', 'progress', 'peerReview'] as const;

export type Command =
  | { verb: 'usage' }
  | { verb: 'done' }
  | { verb: 'answer'; text: string }
  | { verb: 'submit'; name: string; uri: string }
  | { verb: 'hint' }
  | { verb: 'help'; message: string }
  | { verb: 'progress' }
  | { verb: 'peerReview' }
  | { verb: 'start'; scenario?: string; rosterSource?: 'team' | 'csv'; timeScale?: number; runId?: string; instructors: string[]; csv?: string }
  | { verb: 'status'; runId?: string }
  | { verb: 'runs' }
  | { verb: 'use'; runId: string }
  | { verb: 'helpQueue' }
  | { verb: 'reviews' }
  | { verb: 'approve'; learner: string; comment?: string }
  | { verb: 'changes'; learner: string; comment: string }
  | { verb: 'reply'; learner: string; answer: string }
  | { verb: 'resume'; learner: string; from: 'start' | 'failedStep' }
  | { verb: 'broadcast'; message: string }
  | { verb: 'extend'; minutes: number; learner?: string }
  | { verb: 'end'; reason?: string }
  | { verb: 'unknown'; text: string; problem?: string };

export type InstructorVerb = (typeof INSTRUCTOR_VERBS)[number];
export const isInstructorCommand = (c: Command): boolean => (INSTRUCTOR_VERBS as readonly string[]).includes(c.verb);

/** Teams puts `<at>Bot</at>` in channel messages that mention the bot, and may send HTML. */
export function cleanText(text: string): string {
  return text
    .replace(/<at>[^<]*<\/at>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/^[ \t]+/, '')
    .trimEnd();
}

const Url = z.string().url();

export function parseCommand(raw: string): Command {
  const text = cleanText(raw);
  const [firstLine, ...rest] = text.split(/\r?\n/);
  const words = firstLine.trim().split(/\s+/).filter(Boolean);
  const verb = (words[0] ?? '').toLowerCase();
  const tail = firstLine.trim().slice(words[0]?.length ?? 0).trim();
  const more = rest.join('\n').trim();
  const all = [tail, more].filter(Boolean).join('\n');
  switch (verb) {
    case '':
      return { verb: 'usage' };
    case 'help':
    case '?':
    case 'commands':
      if (/^queue$/i.test(tail)) return { verb: 'helpQueue' };
      return all ? { verb: 'help', message: all } : { verb: 'usage' };
    case 'helpqueue':
      return { verb: 'helpQueue' };
    case 'done':
      return { verb: 'done' };
    case 'hint':
      return { verb: 'hint' };
    case 'progress':
      return { verb: 'progress' };
    case 'peer':
    case 'peer-review':
    case 'peerreview':
      return verb !== 'peer' || /^reviews?$/i.test(tail) ? { verb: 'peerReview' } : { verb: 'unknown', text, problem: 'Did you mean "peer review"?' };
    case 'answer':
      return all ? { verb: 'answer', text: all } : { verb: 'unknown', text, problem: 'Write your answer after "answer", e.g. "answer The customer needs …".' };
    case 'submit': {
      const uri = words.slice(1).find((w) => Url.safeParse(w).success);
      const name = words.slice(1).filter((w) => w !== uri).join(' ');
      return uri && name ? { verb: 'submit', name, uri } : { verb: 'unknown', text, problem: 'Give the deliverable’s name and link: "submit Architecture diagram https://…".' };
    }
    case 'start': {
      const opts = words.slice(1);
      const cmd: Extract<Command, { verb: 'start' }> = { verb: 'start', instructors: [] };
      for (let i = 0; i < opts.length; i++) {
        const w = opts[i];
        const lower = w.toLowerCase();
        if (lower === 'team' || lower === 'csv') cmd.rosterSource = lower;
        else if (lower.startsWith('scale=')) cmd.timeScale = Number(w.slice(6));
        else if (lower.startsWith('id=')) cmd.runId = w.slice(3);
        else if (lower === 'with' && opts[i + 1]) cmd.instructors.push(...opts[++i].split(',').filter(Boolean));
        else if (!cmd.scenario) cmd.scenario = w;
        else return { verb: 'unknown', text, problem: `"${w}" is not a start option; use: start <scenario> [team|csv] [scale=<n>] [id=<run-id>] [with <upn>,<upn>]` };
      }
      if (cmd.timeScale !== undefined && !(cmd.timeScale > 0)) return { verb: 'unknown', text, problem: 'scale must be a positive number, e.g. scale=0.01 for a rehearsal.' };
      if (more) {
        cmd.csv = more;
        cmd.rosterSource ??= 'csv';
      }
      return cmd;
    }
    case 'status':
      return { verb: 'status', ...(words[1] ? { runId: words[1] } : {}) };
    case 'runs':
      return { verb: 'runs' };
    case 'use':
      return words[1] ? { verb: 'use', runId: words[1] } : { verb: 'unknown', text, problem: 'Name the run: "use <run-id>" (see "runs").' };
    case 'reviews':
      return { verb: 'reviews' };
    case 'approve':
      return words[1] ? { verb: 'approve', learner: words[1], ...(words.length > 2 ? { comment: all.slice(words[1].length).trim() } : {}) } : { verb: 'unknown', text, problem: 'Name the learner: "approve <learner> [comment]".' };
    case 'changes': {
      const comment = all.slice((words[1] ?? '').length).trim();
      return words[1] && comment ? { verb: 'changes', learner: words[1], comment } : { verb: 'unknown', text, problem: 'Say what to change: "changes <learner> <comment>".' };
    }
    case 'reply': {
      const answer = all.slice((words[1] ?? '').length).trim();
      return words[1] && answer ? { verb: 'reply', learner: words[1], answer } : { verb: 'unknown', text, problem: 'Answer a help request: "reply <learner> <answer>".' };
    }
    case 'resume':
      return words[1] ? { verb: 'resume', learner: words[1], from: /\bstart\b/i.test(words.slice(2).join(' ')) ? 'start' : 'failedStep' } : { verb: 'unknown', text, problem: 'Name the learner: "resume <learner> [from start]".' };
    case 'broadcast':
    case 'announce':
      return all ? { verb: 'broadcast', message: all } : { verb: 'unknown', text, problem: 'Write the message: "broadcast <message>".' };
    case 'extend': {
      const minutes = Number(words[1]);
      return minutes > 0 && minutes <= 600 ? { verb: 'extend', minutes, ...(words[2] ? { learner: words[2] } : {}) } : { verb: 'unknown', text, problem: 'Give minutes (1-600): "extend 15 [learner]".' };
    }
    case 'end':
      return { verb: 'end', ...(all ? { reason: all } : {}) };
    default:
      return { verb: 'unknown', text };
  }
}

export const LEARNER_USAGE = [
  '**done** — the current task is done',
  '**answer** <text> — answer the current question',
  '**submit** <name> <https://link> — hand in a deliverable',
  '**hint** — the next hint for this step',
  '**help** <what is blocking you> — ask the instructor',
  '**progress** — where you are and how much time is left',
  '**peer review** — review a peer’s design against the rubric (when your instructor allows it)',
];

export const INSTRUCTOR_USAGE = [
  '**start** [<scenario> [team|csv] [scale=<n>] [with <upn>,…]] — start a run (no arguments: a form); CSV roster on the next lines',
  '**status** [run] · **runs** · **use** <run> — the run and its learners',
  '**help queue** · **reviews** — what learners are waiting for',
  '**approve** <learner> [comment] · **changes** <learner> <comment> — the architecture review',
  '**reply** <learner> <answer> — answer a help request',
  '**resume** <learner> [from start] — resume a blocked learner',
  '**broadcast** <message> · **extend** <minutes> [learner] · **end** [reason]',
];
