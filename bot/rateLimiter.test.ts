import { describe, expect, it } from 'vitest';
import { parseCommand } from './commands';
import { backoffMs, retryAfterMs, SlidingWindowLimiter, TEAMS_CONVERSATION_LIMITS } from './rateLimiter';

describe('SlidingWindowLimiter (Teams per-conversation limits)', () => {
  it('allows 7 sends in a second, then waits until the oldest leaves the window', () => {
    const l = new SlidingWindowLimiter(TEAMS_CONVERSATION_LIMITS);
    for (let i = 0; i < 7; i++) {
      expect(l.waitMs(1000 + i)).toBe(0);
      l.take(1000 + i);
    }
    expect(l.waitMs(1010)).toBe(990); // the send at t=1000 leaves the 1 s window at t=2000
  });

  it('also holds the 8-per-2-seconds window', () => {
    const l = new SlidingWindowLimiter(TEAMS_CONVERSATION_LIMITS);
    for (let i = 0; i < 7; i++) l.take(0);
    l.take(1500);
    expect(l.waitMs(1600)).toBe(400); // 8 sends in (0, 2000]: wait until the t=0 sends leave at 2000
  });

  it('a 429 blocks until the given time, whatever the windows say', () => {
    const l = new SlidingWindowLimiter([{ ms: 1000, max: 50 }]);
    l.block(5000);
    expect(l.waitMs(1000)).toBe(4000);
    expect(l.waitMs(6000)).toBe(0);
  });

  it('forgets sends older than its longest window', () => {
    const l = new SlidingWindowLimiter([{ ms: 1000, max: 1 }]);
    l.take(0);
    expect(l.waitMs(500)).toBe(500);
    expect(l.waitMs(1001)).toBe(0);
  });
});

describe('429 back-off', () => {
  it('never waits less than Retry-After and doubles on repeated 429s up to the cap', () => {
    expect(backoffMs(1, 2000)).toBe(2000);
    expect(backoffMs(2, 2000)).toBe(4000);
    expect(backoffMs(1, undefined)).toBe(500);
    expect(backoffMs(3, 200)).toBe(1000);
    expect(backoffMs(20, 200)).toBe(10_000);
    expect(backoffMs(1, 30_000)).toBe(30_000); // a long Retry-After beats the cap
  });
  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('1.5')).toBe(1500);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs(undefined)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
  });
});

describe('text commands', () => {
  it('parse learner and instructor commands', () => {
    expect(parseCommand('<at>Workshop</at> done')).toEqual({ verb: 'done' });
    expect(parseCommand('help queue')).toEqual({ verb: 'helpQueue' });
    expect(parseCommand('help my deployment is stuck')).toEqual({ verb: 'help', message: 'my deployment is stuck' });
    expect(parseCommand('help')).toEqual({ verb: 'usage' });
    expect(parseCommand('submit Architecture diagram https://contoso.example/d.png')).toEqual({ verb: 'submit', name: 'Architecture diagram', uri: 'https://contoso.example/d.png' });
    expect(parseCommand('approve ada nice work')).toEqual({ verb: 'approve', learner: 'ada', comment: 'nice work' });
    expect(parseCommand('changes ada add the DR region')).toEqual({ verb: 'changes', learner: 'ada', comment: 'add the DR region' });
    expect(parseCommand('resume ada from start')).toEqual({ verb: 'resume', learner: 'ada', from: 'start' });
    expect(parseCommand('extend 15 ada')).toEqual({ verb: 'extend', minutes: 15, learner: 'ada' });
    expect(parseCommand('peer review')).toEqual({ verb: 'peerReview' });
    expect(parseCommand('peer-review')).toEqual({ verb: 'peerReview' });
    expect(parseCommand('start lakehouse scale=0.01 with bob@x.example\nname,email\nA,a@x.example')).toEqual({
      verb: 'start',
      scenario: 'lakehouse',
      timeScale: 0.01,
      instructors: ['bob@x.example'],
      csv: 'name,email\nA,a@x.example',
      rosterSource: 'csv',
    });
  });
  it('say what is wrong with a malformed command', () => {
    expect(parseCommand('extend lots')).toMatchObject({ verb: 'unknown', problem: expect.stringMatching(/minutes/) });
    expect(parseCommand('submit my diagram')).toMatchObject({ verb: 'unknown', problem: expect.stringMatching(/name and link/) });
    expect(parseCommand('peer pressure')).toMatchObject({ verb: 'unknown', problem: expect.stringMatching(/peer review/) });
    expect(parseCommand('start lakehouse bogus')).toMatchObject({ verb: 'unknown', problem: expect.stringMatching(/"bogus" is not a start option/) });
  });
});
