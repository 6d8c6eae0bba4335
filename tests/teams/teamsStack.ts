import { startArmEmulator, type ArmEmulator } from '../../local/arm/emulator';
import { functions } from '../../registry';
import { DEFAULT_USERS, directoryUser, startTeamsEmulator, type DirectoryUser, type StoredActivity, type TeamsEmulator } from '../../local/teams/emulator';
import { exposeTeamsEmulator } from '../../local/teams/localEnv';
import { startStack, type TestStack } from '../helpers/stack';

/**
 * The local stack for the Teams tests: the embedded store, the durable host serving the app's real registry
 * (so /api/messages and the outbox sender timer are the production functions), and the connector
 * emulator the bot is pointed at by configuration only (local/teams/localEnv.ts).
 */
export const TEST_KEYS = { instructor: 'teams-test-instructor-key-0123456789', learner: 'teams-test-learner-signing-key-0123456789' };

export interface TeamsStack {
  stack: TestStack;
  teams: TeamsEmulator;
  url: string;
  instructor: DirectoryUser;
  learners: DirectoryUser[];
  /** With `arm: true`: the ARM emulator learner environments deploy into. */
  arm?: ArmEmulator;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTeamsStack(opts: { learners?: number; arm?: boolean; packsDir?: string } = {}): Promise<TeamsStack> {
  process.env.INSTRUCTOR_API_KEY = TEST_KEYS.instructor;
  process.env.LEARNER_API_KEY = TEST_KEYS.learner;
  process.env.LOG_LEVEL = process.env.TEST_LOG_LEVEL ?? 'silent';
  if (opts.packsDir) process.env.SCENARIO_PACKS_DIR = opts.packsDir;
  const extra = Array.from({ length: Math.max(0, (opts.learners ?? 3) - 3) }, (_, i) => directoryUser(`Learner ${i + 4}`, `learner${i + 4}@contoso.example`, 'learner'));
  const users = [...DEFAULT_USERS, ...extra];
  const teams = await startTeamsEmulator({ users, logger: undefined });
  exposeTeamsEmulator(teams);
  const stack = await startStack(functions, { maxActivities: 16, maxOrchestrators: 16 });
  teams.setBotEndpoint(`${stack.host.url}/api/messages`);
  // Learner environments (provision and validate steps) need ARM: the same settings a deployment uses.
  const arm = opts.arm ? await startArmEmulator({ database: stack.database }) : undefined;
  if (arm) {
    process.env.ARM_ENDPOINT = arm.url;
    process.env.ARM_TOKEN = arm.token;
    process.env.ARM_CA_CERT = arm.caCertPem;
    process.env.LEARNER_SUBSCRIPTION_ID = arm.subscriptionId;
    process.env.ARM_POLL_INTERVAL_MS = '100';
  }
  const s: TeamsStack = {
    stack,
    teams,
    url: stack.host.url,
    instructor: users[0],
    learners: users.slice(1),
    ...(arm ? { arm } : {}),
    restart: async () => {
      await stack.restart();
      s.url = stack.host.url;
      teams.setBotEndpoint(`${stack.host.url}/api/messages`);
    },
    stop: async () => {
      await arm?.stop();
      await stack.stop();
      await teams.stop();
    },
  };
  return s;
}

/** Poll until `check` returns a value (not a wall-clock assertion: the limit only bounds a hang). */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, limitMs = 45_000): Promise<T> {
  const until = Date.now() + limitMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`Timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

export function cardsOf(a: StoredActivity): Array<Record<string, unknown>> {
  return (a.attachments ?? []).filter((x) => x.contentType === 'application/vnd.microsoft.card.adaptive').map((x) => x.content as Record<string, unknown>);
}

export function cardText(a: StoredActivity): string {
  return JSON.stringify(cardsOf(a));
}

export function rosterCsv(users: DirectoryUser[]): string {
  return ['name,email', ...users.map((u) => `${u.name},${u.upn}`)].join('\n');
}
