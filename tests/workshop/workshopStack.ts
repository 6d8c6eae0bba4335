import { startArmEmulator, type ArmEmulator, type EmulatedSubscription } from '../../local/arm/emulator';
import { functions } from '../../registry';
import { WorkshopApi } from '../../cli/apiClient';
import { startStack, type TestStack } from '../helpers/stack';

/**
 * The whole local stack for the workshop's end-to-end tests: the embedded store, the durable host serving the
 * app's real registry (the workshop API included), and the ARM emulator the environment activities
 * talk to — configured through the same app settings a deployment uses.
 */
export const TEST_KEYS = {
  instructor: 'test-instructor-key-0123456789abcdef',
  learnerSecret: 'test-learner-signing-secret-0123456789',
};

export interface WorkshopStack {
  stack: TestStack;
  arm: ArmEmulator;
  url: string;
  api: WorkshopApi;
  /** The Durable management API base (…/runtime/webhooks/durabletask). */
  durable: string;
  armSettings: { url: string; token: string; caCertPem: string; subscriptionId: string };
  stop(): Promise<void>;
}

export async function startWorkshopStack(opts: { maxActivities?: number; maxOrchestrators?: number; packsDir?: string; appTables?: 'embedded' | 'azure'; armSubscriptions?: EmulatedSubscription[] } = {}): Promise<WorkshopStack> {
  process.env.INSTRUCTOR_API_KEY = TEST_KEYS.instructor;
  process.env.LEARNER_API_KEY = TEST_KEYS.learnerSecret;
  process.env.LOG_LEVEL = process.env.TEST_LOG_LEVEL ?? 'silent';
  if (opts.packsDir) process.env.SCENARIO_PACKS_DIR = opts.packsDir;
  const stack = await startStack(functions, { maxActivities: opts.maxActivities ?? 16, maxOrchestrators: opts.maxOrchestrators ?? 16, appTables: opts.appTables });
  const arm = await startArmEmulator({ database: stack.database, ...(opts.armSubscriptions ? { subscriptions: opts.armSubscriptions } : {}) });
  process.env.ARM_ENDPOINT = arm.url;
  process.env.ARM_TOKEN = arm.token;
  process.env.ARM_CA_CERT = arm.caCertPem;
  process.env.LEARNER_SUBSCRIPTION_ID = arm.subscriptionId;
  process.env.ARM_POLL_INTERVAL_MS = '100';
  return {
    stack,
    arm,
    url: stack.host.url,
    api: new WorkshopApi({ url: stack.host.url, instructorKey: TEST_KEYS.instructor }),
    durable: stack.api,
    armSettings: { url: arm.url, token: arm.token, caCertPem: arm.caCertPem, subscriptionId: arm.subscriptionId },
    stop: async () => {
      await arm.stop();
      await stack.stop();
    },
  };
}
