import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { LOCAL_DEFAULT_KEYS } from '../http/apiAuth';
import { functions } from '../registry';
import { SqliteDatabase, StoreOpenError, storeFile, syncModeSetting, writePidFile } from '../storage/sqlite';
import { provisionDelayMs } from './arm/durations';
import { startArmEmulator } from './arm/emulator';
import { armIdentity, exposeArmEmulator } from './arm/localEnv';
import { describeFaults, endFaultsAfter, faultSettings, FaultSettingsError } from './faultSettings';
import { startLocalHost } from './host';
import { startTeamsEmulator } from './teams/emulator';
import { exposeTeamsEmulator } from './teams/localEnv';

/**
 * `npm start`: the whole local stack on one machine, in one process — the embedded store (SQLite, one file in
 * the data directory), the durable host serving the app's registry on 127.0.0.1:7071, the ARM emulator and the
 * Teams connector emulator, all keeping their state in that store.
 */
async function main(): Promise<void> {
  const log = pino({ level: process.env.LOG_LEVEL ?? 'info' });
  const dataDir = path.resolve(process.env.WORKSHOP_DATA_DIR ?? path.join(__dirname, '..', '.data'));
  const port = process.env.PORT ? Number(process.env.PORT) : 7071;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT="${process.env.PORT}" is not a TCP port number.`);
  const faults = faultSettings(); // a bad day on demand (README); a bad value stops here, naming the setting

  // The workshop API's keys: local defaults unless set (the stack listens on loopback only).
  process.env.INSTRUCTOR_API_KEY ??= LOCAL_DEFAULT_KEYS.instructor;
  process.env.LEARNER_API_KEY ??= LOCAL_DEFAULT_KEYS.learner;
  const file = storeFile(dataDir);
  let database: SqliteDatabase;
  try {
    database = SqliteDatabase.open({ file, synchronous: syncModeSetting(), exclusive: true });
  } catch (err) {
    if (!(err instanceof StoreOpenError)) throw err;
    const damaged = /damaged|not an SQLite database/.test(err.message);
    process.stderr.write(
      `npm start: ${err.message}\n` +
        (damaged ? `  To start from an empty store, move it aside: mv '${file}' '${file}.damaged' (and any -wal/-shm beside it), or restore it from a backup.\n` : ''),
    );
    process.exit(2);
  }
  writePidFile(dataDir);
  if (existsSync(path.join(dataDir, 'azurite'))) {
    log.warn(
      { folder: path.join(dataDir, 'azurite') },
      'this data directory also holds an Azurite store from an earlier version; it is no longer read (runs in it are not carried over). Delete the folder when you no longer need it.',
    );
  }
  // The ARM emulator stands in for Azure unless ARM_ENDPOINT points somewhere real (then
  // LEARNER_SUBSCRIPTION_ID and DefaultAzureCredential apply, as in production).
  // Same port, token and CA as the last start of this data directory, so clients told them keep working.
  const armId = process.env.ARM_ENDPOINT ? undefined : await armIdentity(path.join(dataDir, 'arm'));
  const arm = armId
    ? await startArmEmulator({
        database,
        logger: log,
        port: armId.port,
        token: armId.token,
        cert: armId.cert,
        faults: faults.arm,
        ...(faults.armEmulator?.subscriptions ? { subscriptions: faults.armEmulator.subscriptions } : {}),
        ...(faults.armEmulator?.deploymentTimes ? { deploymentTimes: faults.armEmulator.deploymentTimes } : {}),
      })
    : undefined;
  const armCaFile = arm ? exposeArmEmulator(arm, path.join(dataDir, 'arm'), armId?.cert) : undefined;
  // Where `workshop rehearse` finds the emulator (to break and fix learner environments like a learner would).
  const armFile = path.join(dataDir, 'arm', 'emulator.json');
  if (arm) writeFileSync(armFile, JSON.stringify({ url: arm.url, subscriptionId: arm.subscriptionId, subscriptionIds: arm.subscriptionIds, token: arm.token, caFile: armCaFile }, null, 2), { mode: 0o600 });
  // The Teams connector emulator + web chat, unless the bot is configured for real Teams (BOT_APP_ID set).
  const teams = process.env.BOT_APP_ID ? undefined : await startTeamsEmulator({ logger: log, faults: faults.teams, database });
  endFaultsAfter(faults, { arm, teams }, log);
  if (teams) exposeTeamsEmulator(teams);
  const host = await startLocalHost({ database, functions, port, logger: log });
  teams?.setBotEndpoint(`${host.url}/api/messages`);

  process.stdout.write(banner({ host, file, database, arm, armCaFile, armFile, faults, teams }) + '\n');

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    await host.close();
    await teams?.stop();
    await arm?.stop();
    database.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

/** What `npm start` prints once the stack is up: where everything is and how to reach it. */
function banner(o: {
  host: Awaited<ReturnType<typeof startLocalHost>>;
  file: string;
  database: SqliteDatabase;
  arm: Awaited<ReturnType<typeof startArmEmulator>> | undefined;
  armCaFile: string | undefined;
  armFile: string;
  faults: ReturnType<typeof faultSettings>;
  teams: Awaited<ReturnType<typeof startTeamsEmulator>> | undefined;
}): string {
  const { host, file, database, arm, armCaFile, armFile, faults, teams } = o;
  return [
    '',
    'workshop-orchestrator local stack is up',
    `  durable host      ${host.url}   (HTTP functions under /api/, Durable API under /runtime/webhooks/durabletask/)`,
    `  store             ${file}   (SQLite, synchronous=${database.synchronous}; one stack per data directory)`,
    `  task hub          ${host.settings.hubName}`,
    arm
      ? `  ARM emulator      ${arm.url}   subscription ${arm.subscriptionId}, CA cert ${armCaFile}, token in ARM_TOKEN (and ${armFile})`
      : `  Azure (ARM)       ${process.env.ARM_ENDPOINT}   learner subscription ${process.env.LEARNER_SUBSCRIPTION_ID ?? '(LEARNER_SUBSCRIPTION_ID not set)'}`,
    ...(arm && arm.subscriptionIds.length > 1 ? [`  learner subs      ${arm.subscriptionIds.join(', ')}   (name them in a run's learnerSubscriptions)`] : []),
    ...(faults.armEmulator?.deploymentTimes ? [`  ARM timing        Azure's typical deployment times x ${faults.armEmulator.deploymentTimes.scale} (a VPN gateway in ${(provisionDelayMs(faults.armEmulator.deploymentTimes, 'Microsoft.Network/virtualNetworkGateways') / 1000).toFixed(1)} s)`] : []),
    ...(describeFaults(faults) ? [`  FAULTS            ${describeFaults(faults)}`] : []),
    `  workshop API      ${host.url}/api/runs   x-api-key: ${process.env.INSTRUCTOR_API_KEY === LOCAL_DEFAULT_KEYS.instructor ? `${LOCAL_DEFAULT_KEYS.instructor} (local default instructor key)` : 'INSTRUCTOR_API_KEY'}`,
    `                    learner tokens are signed with ${process.env.LEARNER_API_KEY === LOCAL_DEFAULT_KEYS.learner ? `the local default LEARNER_API_KEY (${LOCAL_DEFAULT_KEYS.learner})` : 'LEARNER_API_KEY'}; the CLI: npm run workshop -- --help`,
    `  dashboard         ${host.url}/api/tab/${process.env.INSTRUCTOR_API_KEY === LOCAL_DEFAULT_KEYS.instructor ? `#key=${LOCAL_DEFAULT_KEYS.instructor}` : '   (asks for INSTRUCTOR_API_KEY)'}   (instructor dashboard; also the Teams tab)`,
    teams
      ? `  Teams web chat    ${teams.url}/chat   (connector emulator; the bot is ${host.url}/api/messages, app id ${teams.appId})`
      : `  Teams bot         ${host.url}/api/messages   (BOT_APP_ID ${process.env.BOT_APP_ID}: real Teams)`,
    '',
  ].join('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`npm start failed: ${err instanceof FaultSettingsError ? err.message : ((err as Error).stack ?? err)}\n`);
  process.exit(1);
});
