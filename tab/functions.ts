import type { HttpDef } from '../functionDefs';
import { route } from '../http/apiKit';
import { dashboardPage } from './assets';
import { dashboardRun } from './dashboardApi';

/**
 * The instructor dashboard's functions, for `registry.ts` (both hosts):
 *  - `dashboardPage`: GET /api/tab/ (the page; also the Teams tab's content URL), /api/tab/dashboard.js,
 *    /api/tab/dashboard.css. Static and public: the page holds no secret and asks for the key itself.
 *  - `dashboardRun`: GET /api/dashboard/runs/{runId}, the page's read model of a run (instructor key).
 * Both are `anonymous` to the Functions host: the read model checks the workshop API's own key.
 */
export const dashboardFunctions: HttpDef[] = [
  { kind: 'http', name: 'dashboardPage', route: 'tab/{file?}', methods: ['GET'], authLevel: 'anonymous', durableClient: false, handler: route('dashboardPage', dashboardPage) },
  { kind: 'http', name: 'dashboardRun', route: 'dashboard/runs/{runId}', methods: ['GET'], authLevel: 'anonymous', durableClient: true, handler: route('dashboardRun', dashboardRun) },
];
