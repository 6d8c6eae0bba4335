import { armClients } from '../../azure/armClients';
import { learnerResourceGroupName } from '../../azure/environmentNames';

/**
 * A learner changing their own environment as with the portal or the CLI, through the ARM API the stack's
 * emulator serves (the app settings point armClients at it): here, the storage account's minimum TLS version.
 * Returns the account's name.
 */
export async function setStorageMinimumTls(runId: string, learnerId: string, version: 'TLS1_0' | 'TLS1_2'): Promise<string> {
  const clients = armClients();
  const rg = learnerResourceGroupName(runId, learnerId);
  const accounts = [];
  for await (const r of clients.resources.resources.listByResourceGroup(rg)) if (r.type === 'Microsoft.Storage/storageAccounts') accounts.push(r);
  if (accounts.length !== 1) throw new Error(`expected one storage account in ${rg}, found ${accounts.length}`);
  const account = accounts[0]!;
  const apiVersion = '2023-05-01';
  const current = await clients.rest.get<Record<string, unknown> & { properties?: Record<string, unknown> }>(account.id!, apiVersion);
  const body = { ...current.body, properties: { ...(current.body.properties ?? {}), minimumTlsVersion: version } };
  await clients.resources.resources.createOrUpdate(rg, 'Microsoft.Storage', '', 'storageAccounts', account.name!, apiVersion, body).pollUntilDone();
  return account.name!;
}
