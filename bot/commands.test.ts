import { describe, expect, it } from 'vitest';
import { parseCommand, type Command } from './commands';

/** Every verb, its aliases and each way of getting it wrong: what the Teams handlers receive. */
const CASES: Array<[string, Command]> = [
  ['', { verb: 'usage' }],
  ['<at>Workshop</at> ', { verb: 'usage' }],
  ['help', { verb: 'usage' }],
  ['?', { verb: 'usage' }],
  ['help queue', { verb: 'helpQueue' }],
  ['commands queue', { verb: 'helpQueue' }],
  ['HelpQueue', { verb: 'helpQueue' }],
  ['help my deployment fails\nwith a quota error', { verb: 'help', message: 'my deployment fails\nwith a quota error' }],
  ['done', { verb: 'done' }],
  ['<at>Workshop</at> DONE', { verb: 'done' }],
  ['hint', { verb: 'hint' }],
  ['progress', { verb: 'progress' }],
  ['answer The customer needs &amp; wants', { verb: 'answer', text: 'The customer needs & wants' }],
  ['answer', { verb: 'unknown', text: 'answer', problem: 'Write your answer after "answer", e.g. "answer The customer needs …".' }],
  ['submit Architecture diagram https://example.com/d.png', { verb: 'submit', name: 'Architecture diagram', uri: 'https://example.com/d.png' }],
  ['submit https://example.com/d.png', { verb: 'unknown', text: 'submit https://example.com/d.png', problem: 'Give the deliverable’s name and link: "submit Architecture diagram https://…".' }],
  ['start', { verb: 'start', instructors: [] }],
  ['start lakehouse team scale=0.01 id=run-1 with a@x.com,b@x.com', { verb: 'start', scenario: 'lakehouse', rosterSource: 'team', timeScale: 0.01, runId: 'run-1', instructors: ['a@x.com', 'b@x.com'] }],
  ['start lakehouse\nname,email\nAda,ada@x.com', { verb: 'start', scenario: 'lakehouse', instructors: [], csv: 'name,email\nAda,ada@x.com', rosterSource: 'csv' }],
  ['start lakehouse team\nname,email', { verb: 'start', scenario: 'lakehouse', rosterSource: 'team', instructors: [], csv: 'name,email' }],
  ['start lakehouse extra', { verb: 'unknown', text: 'start lakehouse extra', problem: '"extra" is not a start option; use: start <scenario> [team|csv] [scale=<n>] [id=<run-id>] [hot[=<share>]] [with <upn>,<upn>]' }],
  ['start hybrid hot', { verb: 'start', scenario: 'hybrid', instructors: [], hotStart: 1 }],
  ['start hybrid csv hot=0.7', { verb: 'start', scenario: 'hybrid', instructors: [], rosterSource: 'csv', hotStart: 0.7 }],
  ['start hybrid hot=70%', { verb: 'unknown', text: 'start hybrid hot=70%', problem: 'hot takes a share of the roster above 0 and at most 1, e.g. hot=0.7 (environments deployed ahead for 70 % of the learners); "hot" alone is everyone.' }],
  ['start lakehouse scale=0', { verb: 'unknown', text: 'start lakehouse scale=0', problem: 'scale must be a positive number, e.g. scale=0.01 for a rehearsal.' }],
  ['status', { verb: 'status' }],
  ['status run-1', { verb: 'status', runId: 'run-1' }],
  ['runs', { verb: 'runs' }],
  ['use run-1', { verb: 'use', runId: 'run-1' }],
  ['use', { verb: 'unknown', text: 'use', problem: 'Name the run: "use <run-id>" (see "runs").' }],
  ['reviews', { verb: 'reviews' }],
  ['approve ada', { verb: 'approve', learner: 'ada' }],
  ['approve ada looks good', { verb: 'approve', learner: 'ada', comment: 'looks good' }],
  ['approve', { verb: 'unknown', text: 'approve', problem: 'Name the learner: "approve <learner> [comment]".' }],
  ['changes ada add a private endpoint', { verb: 'changes', learner: 'ada', comment: 'add a private endpoint' }],
  ['changes ada', { verb: 'unknown', text: 'changes ada', problem: 'Say what to change: "changes <learner> <comment>".' }],
  ['reply ada try the other region\nand redeploy', { verb: 'reply', learner: 'ada', answer: 'try the other region\nand redeploy' }],
  ['reply', { verb: 'unknown', text: 'reply', problem: 'Answer a help request: "reply <learner> <answer>".' }],
  ['resume ada', { verb: 'resume', learner: 'ada', from: 'failedStep' }],
  ['resume ada from start', { verb: 'resume', learner: 'ada', from: 'start' }],
  ['resume', { verb: 'unknown', text: 'resume', problem: 'Name the learner: "resume <learner> [from start]".' }],
  ['broadcast Lunch at noon', { verb: 'broadcast', message: 'Lunch at noon' }],
  ['announce Lunch at noon', { verb: 'broadcast', message: 'Lunch at noon' }],
  ['broadcast', { verb: 'unknown', text: 'broadcast', problem: 'Write the message: "broadcast <message>".' }],
  ['extend 15', { verb: 'extend', minutes: 15 }],
  ['extend 15 ada', { verb: 'extend', minutes: 15, learner: 'ada' }],
  ['extend 601', { verb: 'unknown', text: 'extend 601', problem: 'Give minutes (1-600): "extend 15 [learner]".' }],
  ['end', { verb: 'end' }],
  ['end time is up', { verb: 'end', reason: 'time is up' }],
  ['constructor', { verb: 'unknown', text: 'constructor' }],
  ['dance', { verb: 'unknown', text: 'dance' }],
];

describe('parseCommand', () => {
  it.each(CASES)('%j', (text, expected) => {
    expect(parseCommand(text)).toEqual(expected);
  });
});
