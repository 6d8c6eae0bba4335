import { z } from 'zod';

/**
 * Text commands, parsed at the edge into typed commands (pure; handlers.ts acts on them).
 *
 * Learners:     done · answer <text> · submit <name> <https://link> · hint · help <what is blocking you> · progress · peer review
 * Instructors:  start [<scenario> [team|csv] [scale=<n>] [id=<run-id>] [hot[=<share>]] [with <upn>,<upn>]] (CSV on the following lines or attached)
 *               status · runs · use <run-id> · help queue · reviews
 *               approve <learner> [comment] · changes <learner> <comment> · reply <learner> <answer>
 *               resume <learner> [from start] · broadcast <message> · extend <minutes> [<learner>] · end [reason]
 * Anyone:       help (this list)
 */
export const INSTRUCTOR_VERBS = ['start', 'status', 'runs', 'use', 'helpQueue', 'reviews', 'approve', 'changes', 'reply', 'resume', 'broadcast', 'extend', 'end', 'park', 'unpark'] as const;
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
  | { verb: 'start'; scenario?: string; rosterSource?: 'team' | 'csv'; timeScale?: number; runId?: string; instructors: string[]; csv?: string; hotStart?: number }
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
  | { verb: 'park' }
  | { verb: 'unpark' }
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

/** A command message taken apart: its first line's words, what follows the verb on that line, the lines below. */
interface CommandText {
  text: string;
  words: string[];
  /** The first line after the verb. */
  tail: string;
  /** The lines after the first (a pasted CSV, a long message). */
  more: string;
  /** `tail` and `more` together. */
  all: string;
}

const unknown = (t: CommandText, problem: string): Command => ({ verb: 'unknown', text: t.text, problem });
/** What follows the command's first argument (a learner): the comment, the answer. */
const afterFirstWord = (t: CommandText): string => t.all.slice((t.words[1] ?? '').length).trim();

function parseHelp(t: CommandText): Command {
  if (/^queue$/i.test(t.tail)) return { verb: 'helpQueue' };
  return t.all ? { verb: 'help', message: t.all } : { verb: 'usage' };
}

function parseSubmit(t: CommandText): Command {
  const uri = t.words.slice(1).find((w) => Url.safeParse(w).success);
  const name = t.words.slice(1).filter((w) => w !== uri).join(' ');
  return uri && name ? { verb: 'submit', name, uri } : unknown(t, 'Give the deliverable’s name and link: "submit Architecture diagram https://…".');
}

function parseStart(t: CommandText): Command {
  const opts = t.words.slice(1);
  const cmd: Extract<Command, { verb: 'start' }> = { verb: 'start', instructors: [] };
  for (let i = 0; i < opts.length; i++) {
    const w = opts[i];
    const lower = w.toLowerCase();
    if (lower === 'team' || lower === 'csv') cmd.rosterSource = lower;
    else if (lower.startsWith('scale=')) cmd.timeScale = Number(w.slice(6));
    else if (lower.startsWith('id=')) cmd.runId = w.slice(3);
    else if (lower === 'hot' || lower.startsWith('hot=')) cmd.hotStart = lower === 'hot' ? 1 : Number(w.slice(4));
    else if (lower === 'with' && opts[i + 1]) cmd.instructors.push(...opts[++i].split(',').filter(Boolean));
    else if (!cmd.scenario) cmd.scenario = w;
    else return unknown(t, `"${w}" is not a start option; use: start <scenario> [team|csv] [scale=<n>] [id=<run-id>] [hot[=<share>]] [with <upn>,<upn>]`);
  }
  if (cmd.timeScale !== undefined && !(cmd.timeScale > 0)) return unknown(t, 'scale must be a positive number, e.g. scale=0.01 for a rehearsal.');
  if (cmd.hotStart !== undefined && !(cmd.hotStart > 0 && cmd.hotStart <= 1)) return unknown(t, 'hot takes a share of the roster above 0 and at most 1, e.g. hot=0.7 (environments deployed ahead for 70 % of the learners); "hot" alone is everyone.');
  if (t.more) {
    cmd.csv = t.more;
    cmd.rosterSource ??= 'csv';
  }
  return cmd;
}

function parseApprove(t: CommandText): Command {
  const [, learner] = t.words;
  if (!learner) return unknown(t, 'Name the learner: "approve <learner> [comment]".');
  return { verb: 'approve', learner, ...(t.words.length > 2 ? { comment: t.all.slice(learner.length).trim() } : {}) };
}

function parseChanges(t: CommandText): Command {
  const comment = afterFirstWord(t);
  return t.words[1] && comment ? { verb: 'changes', learner: t.words[1], comment } : unknown(t, 'Say what to change: "changes <learner> <comment>".');
}

function parseReply(t: CommandText): Command {
  const answer = afterFirstWord(t);
  return t.words[1] && answer ? { verb: 'reply', learner: t.words[1], answer } : unknown(t, 'Answer a help request: "reply <learner> <answer>".');
}

function parseResume(t: CommandText): Command {
  if (!t.words[1]) return unknown(t, 'Name the learner: "resume <learner> [from start]".');
  return { verb: 'resume', learner: t.words[1], from: /\bstart\b/i.test(t.words.slice(2).join(' ')) ? 'start' : 'failedStep' };
}

function parseExtend(t: CommandText): Command {
  const minutes = Number(t.words[1]);
  return minutes > 0 && minutes <= 600 ? { verb: 'extend', minutes, ...(t.words[2] ? { learner: t.words[2] } : {}) } : unknown(t, 'Give minutes (1-600): "extend 15 [learner]".');
}

const broadcast = (t: CommandText): Command => (t.all ? { verb: 'broadcast', message: t.all } : unknown(t, 'Write the message: "broadcast <message>".'));

/** Each word a message may start with (lower case), and how the rest of it becomes a command. */
const PARSERS = new Map<string, (t: CommandText) => Command>([
  ['help', parseHelp],
  ['?', parseHelp],
  ['commands', parseHelp],
  ['helpqueue', () => ({ verb: 'helpQueue' })],
  ['done', () => ({ verb: 'done' })],
  ['hint', () => ({ verb: 'hint' })],
  ['progress', () => ({ verb: 'progress' })],
  ['peer', (t) => (/^reviews?$/i.test(t.tail) ? { verb: 'peerReview' } : unknown(t, 'Did you mean "peer review"?'))],
  ['peer-review', () => ({ verb: 'peerReview' })],
  ['peerreview', () => ({ verb: 'peerReview' })],
  ['answer', (t) => (t.all ? { verb: 'answer', text: t.all } : unknown(t, 'Write your answer after "answer", e.g. "answer The customer needs …".'))],
  ['submit', parseSubmit],
  ['start', parseStart],
  ['status', (t) => ({ verb: 'status', ...(t.words[1] ? { runId: t.words[1] } : {}) })],
  ['runs', () => ({ verb: 'runs' })],
  ['use', (t) => (t.words[1] ? { verb: 'use', runId: t.words[1] } : unknown(t, 'Name the run: "use <run-id>" (see "runs").'))],
  ['reviews', () => ({ verb: 'reviews' })],
  ['approve', parseApprove],
  ['changes', parseChanges],
  ['reply', parseReply],
  ['resume', parseResume],
  ['broadcast', broadcast],
  ['announce', broadcast],
  ['extend', parseExtend],
  ['end', (t) => ({ verb: 'end', ...(t.all ? { reason: t.all } : {}) })],
  ['park', () => ({ verb: 'park' })],
  ['unpark', () => ({ verb: 'unpark' })],
]);

export function parseCommand(raw: string): Command {
  const text = cleanText(raw);
  const [firstLine, ...rest] = text.split(/\r?\n/);
  const words = firstLine.trim().split(/\s+/).filter(Boolean);
  const verb = (words[0] ?? '').toLowerCase();
  if (verb === '') return { verb: 'usage' };
  const tail = firstLine.trim().slice(words[0]?.length ?? 0).trim();
  const more = rest.join('\n').trim();
  const parse = PARSERS.get(verb);
  return parse ? parse({ text, words, tail, more, all: [tail, more].filter(Boolean).join('\n') }) : { verb: 'unknown', text };
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
  '**start** [<scenario> [team|csv] [scale=<n>] [hot[=<share>]] [with <upn>,…]] — start a run (no arguments: a form); CSV roster on the next lines; hot: environments deployed ahead while learners do Requirements and Design',
  '**status** [run] · **runs** · **use** <run> — the run and its learners',
  '**help queue** · **reviews** — what learners are waiting for',
  '**approve** <learner> [comment] · **changes** <learner> <comment> — the architecture review',
  '**reply** <learner> <answer> — answer a help request',
  '**resume** <learner> [from start] — resume a blocked learner',
  '**broadcast** <message> · **extend** <minutes> [learner] · **end** [reason]',
  '**park** — park the run for the night (everyone holds at their step, environments saved and torn down) · **unpark** — resume it',
];
