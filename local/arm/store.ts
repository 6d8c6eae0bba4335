import type { SqliteDatabase } from '../../storage/sqlite';

/**
 * The emulator's state, in the embedded store so it survives a restart: one row per resource group
 * (partition = subscription id), resource and deployment (partition = `<subscription>|<lower-case group>`),
 * each the record as JSON. Templates can be megabytes, so these rows are not Table entities: no 32K
 * property limit applies to them.
 *
 * The emulator owns its subscription's rows: it loads them once at start and writes through. A write stores
 * the *latest* in-memory value when its transaction runs, and writes commit in the order they were asked for,
 * so a burst of updates cannot land out of order.
 */
const KINDS = { groups: 'groups', resources: 'resources', deployments: 'deployments' } as const;
type Kind = (typeof KINDS)[keyof typeof KINDS];

const SCHEMA = `CREATE TABLE IF NOT EXISTS arm_records (kind TEXT NOT NULL, pk TEXT NOT NULL, rk TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (kind, pk, rk))`;

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

export class ArmStore {
  readonly groups = new Map<string, GroupRecord>();
  readonly resources = new Map<string, ResourceRecord>();
  readonly deployments = new Map<string, DeploymentRecord>();
  private readonly pending = new Set<Promise<void>>();

  private constructor(
    private readonly db: SqliteDatabase,
    readonly subscriptionId: string,
  ) {}

  static async open(db: SqliteDatabase, subscriptionId: string): Promise<ArmStore> {
    const store = new ArmStore(db, subscriptionId);
    db.ensureSchema(SCHEMA);
    const sub = subscriptionId.toLowerCase();
    for (const r of db.all<{ json: string }>('SELECT json FROM arm_records WHERE kind = ? AND pk = ?', KINDS.groups, sub)) {
      const rec = JSON.parse(r.json) as GroupRecord;
      store.groups.set(rec.name.toLowerCase(), rec);
    }
    const range = (kind: Kind) => db.all<{ json: string }>('SELECT json FROM arm_records WHERE kind = ? AND pk >= ? AND pk < ?', kind, sub + '|', sub + '}');
    for (const r of range(KINDS.resources)) {
      const rec = JSON.parse(r.json) as ResourceRecord;
      store.resources.set(rec.id.toLowerCase(), rec);
    }
    for (const r of range(KINDS.deployments)) {
      const rec = JSON.parse(r.json) as DeploymentRecord;
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
    return this.persist(KINDS.groups, this.subscriptionId.toLowerCase(), key, () => this.groups.get(key));
  }

  deleteGroup(name: string): Promise<void> {
    const key = name.toLowerCase();
    this.groups.delete(key);
    return this.persist(KINDS.groups, this.subscriptionId.toLowerCase(), key, () => this.groups.get(key));
  }

  setResource(rec: ResourceRecord): Promise<void> {
    const key = rec.id.toLowerCase();
    this.resources.set(key, rec);
    return this.persist(KINDS.resources, this.partition(rec.resourceGroup), key, () => this.resources.get(key));
  }

  deleteResource(id: string): Promise<void> {
    const key = id.toLowerCase();
    const rec = this.resources.get(key);
    if (!rec) return Promise.resolve();
    this.resources.delete(key);
    return this.persist(KINDS.resources, this.partition(rec.resourceGroup), key, () => this.resources.get(key));
  }

  setDeployment(rec: DeploymentRecord): Promise<void> {
    const key = rec.id.toLowerCase();
    this.deployments.set(key, rec);
    return this.persist(KINDS.deployments, this.partition(rec.resourceGroup), key, () => this.deployments.get(key));
  }

  deleteDeployment(id: string): Promise<void> {
    const key = id.toLowerCase();
    const rec = this.deployments.get(key);
    if (!rec) return Promise.resolve();
    this.deployments.delete(key);
    return this.persist(KINDS.deployments, this.partition(rec.resourceGroup), key, () => this.deployments.get(key));
  }

  /** Resolves when every write asked for so far is on disk. */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private persist(kind: Kind, pk: string, rk: string, current: () => object | undefined): Promise<void> {
    const write = this.db.write(() => {
      const value = current();
      if (value === undefined) this.db.prepare('DELETE FROM arm_records WHERE kind = ? AND pk = ? AND rk = ?').run(kind, pk, rk);
      else this.db.prepare('INSERT OR REPLACE INTO arm_records (kind, pk, rk, json) VALUES (?, ?, ?, ?)').run(kind, pk, rk, JSON.stringify(value));
    });
    this.pending.add(write);
    void write.catch(() => undefined).finally(() => this.pending.delete(write));
    return write;
  }
}
