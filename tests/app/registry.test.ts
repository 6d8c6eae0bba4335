import Module from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functions } from '../../registry';
import { startStack, type TestStack } from '../helpers/stack';

/**
 * "One registry, two hosts": what app.ts registers with the Azure Functions worker (captured at the
 * worker boundary, `@azure/functions-core`, which the real worker injects) must be exactly what the
 * local host serves — names, kinds and bindings.
 */
interface CoreMetadata {
  name: string;
  bindings: Record<string, { type: string; direction: string; route?: string; methods?: string[]; authLevel?: string }>;
}
const registered: CoreMetadata[] = [];
let stack: TestStack;

beforeAll(async () => {
  const fakeCore = {
    registerFunction: (metadata: CoreMetadata) => {
      registered.push(metadata);
      return { dispose: () => undefined };
    },
    setProgrammingModel: () => undefined,
    getProgrammingModel: () => undefined,
    registerHook: () => ({ dispose: () => undefined }),
  };
  // The Functions worker provides '@azure/functions-core' the same way: by resolving the module itself.
  const loader = Module as unknown as { _load: (request: string, parent: unknown, isMain: boolean) => unknown };
  const original = loader._load;
  loader._load = function (request, parent, isMain) {
    if (request === '@azure/functions-core') return fakeCore;
    return original.call(this, request, parent, isMain);
  };
  try {
    await import('../../app.js');
  } finally {
    loader._load = original;
  }
  stack = await startStack(functions);
});
afterAll(async () => {
  await stack?.stop();
});

describe('function registry', () => {
  it('app.ts registers every registry function with the Azure Functions worker, with the right trigger', () => {
    expect(registered.map((m) => m.name).sort()).toEqual(functions.map((f) => f.name).sort());
    for (const f of functions) {
      const meta = registered.find((m) => m.name === f.name)!;
      const triggers = Object.values(meta.bindings).filter((b) => b.direction === 'in' && b.type.endsWith('Trigger'));
      expect(triggers).toHaveLength(1);
      const expected = { orchestration: 'orchestrationTrigger', activity: 'activityTrigger', http: 'httpTrigger', timer: 'timerTrigger' }[f.kind];
      expect(triggers[0].type).toBe(expected);
      if (f.kind === 'http') {
        expect(triggers[0].route).toBe(f.route);
        expect(triggers[0].methods).toEqual(f.methods);
      }
      const clientBinding = Object.values(meta.bindings).some((b) => b.type === 'durableClient');
      expect(clientBinding).toBe(f.kind !== 'orchestration' && !!f.durableClient);
    }
  });

  it('the local host serves the same functions as the Azure registration', async () => {
    const res = await fetch(`${stack.host.url}/admin/host/status`);
    const body = (await res.json()) as { functions: Array<{ name: string; kind: string }> };
    const local = body.functions.map((f) => `${f.kind}:${f.name}`).sort();
    const azure = registered
      .map((m) => {
        const trigger = Object.values(m.bindings).find((b) => b.type.endsWith('Trigger'))!.type;
        const kind = { orchestrationTrigger: 'orchestration', activityTrigger: 'activity', httpTrigger: 'http', timerTrigger: 'timer' }[trigger];
        return `${kind}:${m.name}`;
      })
      .sort();
    expect(local).toEqual(azure);
  });
});
