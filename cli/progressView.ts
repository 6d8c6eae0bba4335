import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { RunStatusResponse } from '../http/runsApi';

/**
 * Live progress of a run: one bar per phase (learners through it / learners), with what the
 * learners in it are doing. On a terminal the bars redraw in place (cli-progress); elsewhere (CI,
 * a pipe) a line is printed whenever the picture changes.
 */
export const PHASES = ['requirements', 'design', 'implementation', 'validation'] as const;
const LABELS: Record<string, string> = { requirements: 'Requirements  ', design: 'Design        ', implementation: 'Implementation', validation: 'Validation    ' };
const SHORT: Record<string, string> = {
  working: 'working',
  awaitingReview: 'in review',
  changesRequested: 'changes asked',
  helpRequested: 'need help',
  stuck: 'stuck',
  failed: 'FAILED',
  starting: 'starting',
};

export interface PhaseLine {
  phase: string;
  /** Learners past this phase. */
  done: number;
  total: number;
  /** Learners in this phase, by state. */
  here: Record<string, number>;
}

export function phaseLines(status: RunStatusResponse): PhaseLine[] {
  const total = status.learners.length;
  return PHASES.map((phase, i) => {
    const here: Record<string, number> = {};
    let done = 0;
    for (const l of status.learners) {
      const at = PHASES.indexOf(l.phase as (typeof PHASES)[number]);
      if (l.state === 'completed' || at > i) done++;
      else if (at === i && l.state !== 'ended') here[l.state] = (here[l.state] ?? 0) + 1;
    }
    return { phase, done, total, here };
  });
}

function detail(line: PhaseLine): string {
  return Object.entries(line.here)
    .map(([state, n]) => `${n} ${SHORT[state] ?? state}`)
    .join(', ');
}

export function summaryLine(status: RunStatusResponse): string {
  const v = status.view;
  const flags = [v?.paused ? 'PAUSED' : '', v?.ended ? `ENDED (${v.endReason ?? ''})` : '', status.runtimeStatus !== 'Running' ? status.runtimeStatus : ''].filter(Boolean).join(' ');
  const queues = v ? `reviews waiting ${v.reviewQueue.length}, help ${v.helpQueue.length}, stuck ${v.stuck.length}, failed ${v.failures.length}` : 'starting';
  return `${status.runId} ${status.scenario.title}: ${v?.finished ?? 0}/${status.learners.length} finished; ${queues}${flags ? ` — ${flags}` : ''}`;
}

export class ProgressView {
  private bars: MultiBar | undefined;
  private lines = new Map<string, SingleBar>();
  private summary: SingleBar | undefined;
  private lastText = '';

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty = Boolean(out.isTTY),
  ) {}

  update(status: RunStatusResponse): void {
    const lines = phaseLines(status);
    if (!this.tty) {
      const text = `${summaryLine(status)}\n  ${lines.map((l) => `${l.phase} ${l.done}/${l.total}${detail(l) ? ` (${detail(l)})` : ''}`).join(' | ')}`;
      if (text !== this.lastText) this.out.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`);
      this.lastText = text;
      return;
    }
    if (!this.bars) {
      this.bars = new MultiBar(
        { stream: this.out, clearOnComplete: false, hideCursor: true, format: ' {label} [{bar}] {value}/{total} {detail}', barsize: 30, autopadding: true, forceRedraw: true },
        Presets.shades_classic,
      );
      this.summary = this.bars.create(1, 0, { label: '', detail: '' }, { format: ' {detail}' });
      for (const l of lines) this.lines.set(l.phase, this.bars.create(l.total, l.done, { label: LABELS[l.phase], detail: '' }));
    }
    this.summary?.update(0, { detail: summaryLine(status) });
    for (const l of lines) {
      const bar = this.lines.get(l.phase)!;
      bar.setTotal(l.total);
      bar.update(l.done, { label: LABELS[l.phase], detail: detail(l) });
    }
  }

  stop(): void {
    this.bars?.stop();
    this.bars = undefined;
  }
}
