import type { HttpDef } from '../functionDefs';
import { route } from './apiKit';
import { learnersHandlers } from './learnersApi';
import { runsHandlers } from './runsApi';

/**
 * The workshop API's HTTP functions, for `registry.ts`. Authorisation is the API's own (an
 * `x-api-key` per role, see `apiAuth.ts`), so the Functions host's key check is off (`anonymous`).
 */
export const workshopApiFunctions: HttpDef[] = [
  { kind: 'http', name: 'workshopRuns', route: 'runs', methods: ['GET', 'POST'], authLevel: 'anonymous', durableClient: true, handler: route('workshopRuns', runsHandlers.runs) },
  { kind: 'http', name: 'workshopRunStatus', route: 'runs/{runId}', methods: ['GET'], authLevel: 'anonymous', durableClient: true, handler: route('workshopRunStatus', runsHandlers.runStatus) },
  { kind: 'http', name: 'workshopRunAction', route: 'runs/{runId}/{action}', methods: ['GET', 'POST'], authLevel: 'anonymous', durableClient: true, handler: route('workshopRunAction', runsHandlers.runAction) },
  {
    kind: 'http',
    name: 'workshopLearner',
    route: 'runs/{runId}/learners/{learnerId}/{action?}',
    methods: ['GET', 'POST'],
    authLevel: 'anonymous',
    durableClient: true,
    handler: route('workshopLearner', learnersHandlers.learnerAction),
  },
  { kind: 'http', name: 'workshopScenarios', route: 'scenarios', methods: ['GET'], authLevel: 'anonymous', durableClient: false, handler: route('workshopScenarios', (request) => runsHandlers.scenarios(request)) },
];
