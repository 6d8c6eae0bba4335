import { TableClient, odata, type TableEntity } from '@azure/data-tables';

/**
 * The emulator's state, in Azure Table storage (Azurite locally) so it survives a restart:
 *  - `ArmResourceGroups`: PartitionKey = subscription id, RowKey = lower-case group name;
 *  - `ArmResources`:      PartitionKey = `<subscription>|<lower-case group>`, RowKey = base64url of the lower-case resource id;
 *  - `ArmDeployments`:    same keys as resources (a deployment is a resource of type Microsoft.Resources/deployments).
 * Each row holds the record as JSON, split over `Json0..JsonN` because a Table string property holds
 * at most 32K characters (templates are bigger).
 *
 * The emulator owns its subscription's rows: it loads them once at start and writes through. Writes to
 * one row are serialised and always store the *latest* in-memory value, so a burst of updates cannot
 * land out of order.
 */
export const TABLES = { groups: 'ArmResourceGroups', resources: 'ArmResources', deployments: 'ArmDeployments' } as const;
type TableName = (typeof TABLES)[keyof typeof TABLES];

const CHUNK = 30_000;
/** The longest record (as JSON) one Table entity holds here; the deployment service checks against it before creating. */
export const MAX_RECORD_CHARS = 900_000;

export interface GroupRecord {
  name: string;
  /** The resource group as ARM returns it. */
  body: {
    id: string;
    name: string;
    type: 'Microsoft.Resources/resourceGroups';
    location: string;
    managedBy?: string;
    tags?: Record<string, string>;
    properties: { provisioningState: 'Succeeded' | 'Deleting' };
  };
  /** Id of the asynchronous delete, while one runs. */
  deleteOperation?: string;
}

export interface ResourceRecord {
  id: string;
  resourceGroup: string;
  type: string;
  apiVersion: string;
  /** The resource as GET returns it. */
  body: Record<string, unknown>;
  /** Values the resource provider keeps but never returns (e.g. a VPN shared key). */
  secrets?: Record<string, unknown>;
  createdAt: string;
  changedAt: string;
}

export interface DeploymentRecord {
  id: string;
  resourceGroup: string;
  name: string;
  /** The operation id in the `Azure-AsyncOperation` URL of the PUT that started the current run. */
  operationId: string;
  /** What was PUT: `properties.template`, `properties.parameters`, `properties.mode`, … */
  request: Record<string, unknown>;
  /** The deployment as GET returns it. */
  body: Record<string, unknown> & { properties: Record<string, unknown> & { provisioningState: string } };
  /** Operations (one per resource) as `.../deployments/{name}/operations` lists them. */
  operations: Array<Record<string, unknown>>;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

export class ArmStore {
  readonly groups = new Map<string, GroupRecord>();
  readonly resources = new Map<string, ResourceRecord>();
  readonly deployments = new Map<string, DeploymentRecord>();
  private readonly clients: Record<TableName, TableClient>;
  private readonly chains = new Map<string, Promise<void>>();

  private constructor(
    connectionString: string,
    readonly subscriptionId: string,
  ) {
    const client = (t: TableName) => TableClient.fromConnectionString(connectionString, t, { allowInsecureConnection: true });
    this.clients = { [TABLES.groups]: client(TABLES.groups), [TABLES.resources]: client(TABLES.resources), [TABLES.deployments]: client(TABLES.deployments) } as Record<TableName, TableClient>;
  }

  static async open(connectionString: string, subscriptionId: string): Promise<ArmStore> {
    const store = new ArmStore(connectionString, subscriptionId);
    await Promise.all(Object.values(store.clients).map((c) => c.createTable()));
    const sub = subscriptionId.toLowerCase();
    for await (const e of store.clients[TABLES.groups].listEntities({ queryOptions: { filter: odata`PartitionKey eq ${sub}` } })) {
      const rec = readJson<GroupRecord>(e);
      store.groups.set(rec.name.toLowerCase(), rec);
    }
    const range = { filter: odata`PartitionKey ge ${sub + '|'} and PartitionKey lt ${sub + '}'}` };
    for await (const e of store.clients[TABLES.resources].listEntities({ queryOptions: range })) {
      const rec = readJson<ResourceRecord>(e);
      store.resources.set(rec.id.toLowerCase(), rec);
    }
    for await (const e of store.clients[TABLES.deployments].listEntities({ queryOptions: range })) {
      const rec = readJson<DeploymentRecord>(e);
      store.deployments.set(rec.id.toLowerCase(), rec);
    }
    return store;
  }

  private partition(resourceGroup: string): string {
    return `${this.subscriptionId.toLowerCase()}|${resourceGroup.toLowerCase()}`;
  }

  setGroup(rec: GroupRecord): Promise<void> {
    const key = rec.name.toLowerCase();
    this.groups.set(key, rec);
    return this.persist(TABLES.groups, this.subscriptionId.toLowerCase(), key, () => this.groups.get(key));
  }

  deleteGroup(name: string): Promise<void> {
    const key = name.toLowerCase();
    this.groups.delete(key);
    return this.persist(TABLES.groups, this.subscriptionId.toLowerCase(), key, () => this.groups.get(key));
  }

  setResource(rec: ResourceRecord): Promise<void> {
    const key = rec.id.toLowerCase();
    this.resources.set(key, rec);
    return this.persist(TABLES.resources, this.partition(rec.resourceGroup), b64(key), () => this.resources.get(key));
  }

  deleteResource(id: string): Promise<void> {
    const key = id.toLowerCase();
    const rec = this.resources.get(key);
    if (!rec) return Promise.resolve();
    this.resources.delete(key);
    return this.persist(TABLES.resources, this.partition(rec.resourceGroup), b64(key), () => this.resources.get(key));
  }

  setDeployment(rec: DeploymentRecord): Promise<void> {
    const key = rec.id.toLowerCase();
    this.deployments.set(key, rec);
    return this.persist(TABLES.deployments, this.partition(rec.resourceGroup), b64(key), () => this.deployments.get(key));
  }

  deleteDeployment(id: string): Promise<void> {
    const key = id.toLowerCase();
    const rec = this.deployments.get(key);
    if (!rec) return Promise.resolve();
    this.deployments.delete(key);
    return this.persist(TABLES.deployments, this.partition(rec.resourceGroup), b64(key), () => this.deployments.get(key));
  }

  /** Resolves when every write queued so far has reached storage. */
  async flush(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  private persist(table: TableName, partitionKey: string, rowKey: string, current: () => object | undefined): Promise<void> {
    const chainKey = `${table}/${partitionKey}/${rowKey}`;
    const previous = this.chains.get(chainKey) ?? Promise.resolve();
    const next = previous.then(async () => {
      const value = current();
      const client = this.clients[table];
      if (value === undefined) {
        await client.deleteEntity(partitionKey, rowKey).catch((e: { statusCode?: number }) => {
          if (e.statusCode !== 404) throw e;
        });
      } else {
        await client.upsertEntity(toEntity(partitionKey, rowKey, value), 'Replace');
      }
    });
    // The map holds the settled form of the chain; compare against that one, or no entry is ever removed and flush() spins forever.
    const settled = next.catch(() => undefined);
    const tracked = next.finally(() => {
      if (this.chains.get(chainKey) === settled) this.chains.delete(chainKey);
    });
    this.chains.set(chainKey, settled);
    return tracked;
  }
}

function toEntity(partitionKey: string, rowKey: string, value: object): TableEntity {
  const json = JSON.stringify(value);
  const entity: TableEntity<Record<string, unknown>> = { partitionKey, rowKey, Chunks: Math.max(1, Math.ceil(json.length / CHUNK)) };
  for (let i = 0; i * CHUNK < json.length || i === 0; i++) entity[`Json${i}`] = json.slice(i * CHUNK, (i + 1) * CHUNK);
  if (json.length > MAX_RECORD_CHARS) throw new Error(`ARM emulator: record ${rowKey} is ${json.length} characters, above what one Table entity holds (1 MiB)`);
  return entity;
}

function readJson<T>(e: Record<string, unknown>): T {
  const n = Number(e.Chunks ?? 1);
  let json = '';
  for (let i = 0; i < n; i++) json += String(e[`Json${i}`] ?? '');
  return JSON.parse(json) as T;
}
