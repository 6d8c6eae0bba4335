import type { DashboardHotStart, DashboardRun } from '../dashboardTypes';
import { $, h } from './dom';
import { formatUsd } from './model';

/**
 * The hot-start panel: the run's pool of environments deployed ahead — ready (waiting for their learner),
 * deploying, claimed (how many were ready when their learner arrived) — and what the idle ones cost.
 * Hidden for a run without hot start. Its own section of the page (dashboard.html `#hotStart`).
 */
export function renderHotStart(run: DashboardRun): void {
  const panel = $('hotStart');
  const hs = run.hotStart;
  panel.hidden = !hs;
  if (!hs) return;
  $('hotStartText').textContent = headline(hs);
  const stats: Array<[string, string]> = [
    ['Ready, unclaimed', String(hs.ready)],
    ['Deploying', String(hs.deploying + hs.queued)],
    ['Claimed', `${hs.claimed} (${hs.claimedReady} were ready)`],
  ];
  if (hs.failed) stats.push(['Failed (deployed on demand)', String(hs.failed)]);
  if (hs.tornDown) stats.push(['Unclaimed, torn down', String(hs.tornDown)]);
  stats.push(['Idle cost', `${formatUsd(hs.idleCostUsd)}${hs.idleUsdPerHour ? ` · ${formatUsd(hs.idleUsdPerHour)}/h now` : ''}`]);
  $('hotStartStats').replaceChildren(...stats.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
}

function headline(hs: DashboardHotStart): string {
  if (hs.size === 0) {
    return Date.parse(hs.provisionAt) > Date.now()
      ? `Environments start deploying ${new Date(hs.provisionAt).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })}${hs.startsAt ? ` for the session at ${new Date(hs.startsAt).toLocaleTimeString([], { timeStyle: 'short' })}` : ''}.`
      : 'Taking the pool from the roster…';
  }
  return `${hs.size} environment${hs.size === 1 ? '' : 's'} deployed ahead of Implementation.`;
}
