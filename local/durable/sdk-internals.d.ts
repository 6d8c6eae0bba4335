// The SDK ships no typings for its internal Orchestrator class, which the local host drives directly
// (the same entry point `df.app.orchestration` wraps for the Functions worker).
declare module 'durable-functions/lib/src/orchestrations/Orchestrator' {
  export class Orchestrator {
    constructor(fn: import("durable-functions").OrchestrationHandler);
    handle(trigger: unknown, context: unknown): Promise<unknown>;
  }
}

// The SDK's DurableClient class (what `df.getClient` returns), constructed directly by tests from a client input.
declare module 'durable-functions/lib/src/durableClient/DurableClient' {
  export const DurableClient: new (clientData: unknown) => import('durable-functions').DurableClient;
}
