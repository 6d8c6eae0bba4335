/**
 * What the two benchmarks share (`npm run bench`, `npm run bench:cohort`): percentiles, number formats, the
 * plain-text table, and what the kernel says about CPU and memory of a process group.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
export const median = (xs: number[]) => pct(xs, 50);

export const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
export const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
export const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
export const mb = (bytes: number) => (Number.isFinite(bytes) ? `${(bytes / 1048576).toFixed(0)} MB` : 'n/a');
export const load = () => loadavg().map((x) => x.toFixed(2)).join(', ');

/** A plain-text table; the first column left-aligned, the others right-aligned (numbers) unless `align` is 'left'. */
export function table(rows: string[][], align: 'right' | 'left' = 'right'): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r, ri) => r.map((c, i) => (i === 0 || align === 'left' ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ') + (ri === 0 ? '\n' + widths.map((w) => '-'.repeat(w)).join('  ') : ''))
    .join('\n');
}

export let CLK_TCK = 100;
try {
  CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  CLK_TCK = 100;
}

/** Busy CPU seconds of the whole machine (all processes), from /proc/stat. */
export function machineBusySeconds(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
    return (total - f[3]! - f[4]!) / CLK_TCK;
  } catch {
    return NaN;
  }
}

export interface ProcMemory {
  rss: number;
  hwm: number;
  processes: number;
  /** "node 430 MB + esbuild 9 MB": RSS by process (tsx runs an esbuild service beside node). */
  detail: string;
}

/** The processes of a process group: pid and the fields of /proc/<pid>/stat after the command name. */
function groupProcesses(pgid: number): Array<{ pid: string; fields: string[] }> {
  const out: Array<{ pid: string; fields: string[] }> = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) out.push({ pid, fields }); // pgrp
    } catch {
      // exited while being read
    }
  }
  return out;
}

/** VmRSS and VmHWM summed over every process of a process group (the stack is one process today; this stays true if it forks). */
export function groupMemory(pgid: number): ProcMemory {
  let rss = 0;
  let hwm = 0;
  let processes = 0;
  const parts: string[] = [];
  for (const { pid } of groupProcesses(pgid)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const own = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? 0) * 1024;
      rss += own;
      hwm += Number(/VmHWM:\s+(\d+)\s+kB/.exec(status)?.[1] ?? 0) * 1024;
      processes++;
      parts.push(`${/Name:\s+(\S+)/.exec(status)?.[1] ?? pid} ${mb(own)}`);
    } catch {
      // exited while being read
    }
  }
  return { rss, hwm, processes, detail: parts.join(' + ') };
}

/** CPU time (user + system, ms) of every process of a process group so far, from /proc/<pid>/stat. */
export function groupCpuMs(pgid: number): number {
  // utime, stime: fields 14 and 15 of stat.
  const ticks = groupProcesses(pgid).reduce((t, { fields }) => t + Number(fields[11]) + Number(fields[12]), 0);
  return (ticks / CLK_TCK) * 1000;
}
