import { activities } from './activities';
import { environmentSweeper, SWEEPER_SCHEDULE } from './timers/environmentSweeper';
import type { FunctionDef } from './functionDefs';
import { cohortRun } from './orchestrations/cohortRun';
import { hostSelfCheck } from './orchestrations/hostSelfCheck';
import { learnerJourney } from './orchestrations/learnerJourney';
import { workshopPhase } from './orchestrations/workshopPhase';
import { poolEnvironment } from './orchestrations/poolEnvironment';
import { httpStart } from './http/httpStart';
import { workshopApiFunctions } from './http/workshopRoutes';
import { botFunctions } from './bot/functions';
import { dashboardFunctions } from './tab/functions';

/**
 * Every function of the app, once. `app.ts` registers this list with the Azure Functions host;
 * the local host (`local/`) serves the same list. Add a function here and both hosts have it.
 */
export const functions: FunctionDef[] = [
  { kind: 'orchestration', name: 'hostSelfCheck', handler: hostSelfCheck },
  { kind: 'orchestration', name: 'cohortRun', handler: cohortRun },
  { kind: 'orchestration', name: 'learnerJourney', handler: learnerJourney },
  { kind: 'orchestration', name: 'workshopPhase', handler: workshopPhase },
  { kind: 'orchestration', name: 'poolEnvironment', handler: poolEnvironment },
  ...Object.entries(activities).map(([name, a]): FunctionDef => ({ kind: 'activity', name, handler: a.run, durableClient: 'durableClient' in a && a.durableClient })),
  {
    kind: 'http',
    name: 'httpStart',
    route: 'orchestrators/{orchestratorName}/{instanceId?}',
    methods: ['POST'],
    authLevel: 'function',
    durableClient: true,
    handler: httpStart,
  },
  ...workshopApiFunctions,
  ...botFunctions,
  ...dashboardFunctions,
  { kind: 'timer', name: 'environmentSweeper', schedule: SWEEPER_SCHEDULE, handler: environmentSweeper },
];
