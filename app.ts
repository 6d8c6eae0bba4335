import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { functions } from './registry';

/**
 * Entry point the Azure Functions host loads (package.json "main"): registers every function of the
 * registry with the Node v4 programming model and durable-functions v3. The local host reads the same
 * registry, so a function cannot exist in one host and not the other.
 */
for (const f of functions) {
  switch (f.kind) {
    case 'orchestration':
      df.app.orchestration(f.name, f.handler);
      break;
    case 'activity':
      df.app.activity(f.name, { handler: f.handler, extraInputs: f.durableClient ? [df.input.durableClient()] : [] });
      break;
    case 'http':
      app.http(f.name, {
        route: f.route,
        methods: f.methods,
        authLevel: f.authLevel,
        extraInputs: f.durableClient ? [df.input.durableClient()] : [],
        handler: f.handler,
      });
      break;
    case 'timer':
      app.timer(f.name, {
        schedule: f.schedule,
        runOnStartup: f.runOnStartup ?? false,
        extraInputs: f.durableClient ? [df.input.durableClient()] : [],
        handler: f.handler,
      });
      break;
  }
}
