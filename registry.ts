import { activities, durableClientActivities, type ActivityName } from './activities';
import type { FunctionDef } from './local/durable/functions';
import { hostSelfCheck } from './orchestrations/hostSelfCheck';
import { httpStart } from './http/httpStart';

/**
 * Every function of the app, once. `app.ts` registers this list with the Azure Functions host;
 * the local host (`local/`) serves the same list. Add a function here and both hosts have it.
 */
export const functions: FunctionDef[] = [
  { kind: 'orchestration', name: 'hostSelfCheck', handler: hostSelfCheck },
  ...Object.entries(activities).map(
    ([name, handler]): FunctionDef => ({ kind: 'activity', name, handler, durableClient: durableClientActivities.has(name as ActivityName) }),
  ),
  {
    kind: 'http',
    name: 'httpStart',
    route: 'orchestrators/{orchestratorName}/{instanceId?}',
    methods: ['POST'],
    authLevel: 'function',
    durableClient: true,
    handler: httpStart,
  },
];
