/**
 * Per-subscription, per-region quotas, as Azure keeps them: a limit per quota (a resource provider's
 * counter, e.g. Microsoft.Storage "StorageAccounts" in westeurope), a usage counted from what exists,
 * exposed where Azure exposes it (`GET /subscriptions/{s}/providers/{namespace}/locations/{loc}/usages`,
 * ARM's "Usages - List" of Network, Storage, Compute and Container Instances) and enforced on every
 * deployment: ARM's preflight refuses a template that would exceed a quota (400 InvalidTemplateDeployment
 * with a `QuotaExceeded` detail, the shape of the compute preflight check), and a resource create that
 * would exceed it fails inside the deployment (two deployments that both passed preflight race for the
 * last unit, as in Azure).
 *
 * Default limits are Azure's defaults ("Azure subscription and service limits, quotas, and constraints",
 * learn.microsoft.com/azure/azure-resource-manager/management/azure-subscription-service-limits), so an
 * unconfigured emulator is never more permissive than a new subscription; a subscription's configuration
 * may lower or raise them (a raised quota is a granted quota request).
 */
import { lower } from './ids';

export interface QuotaDef {
  /** The usage's `name.value` (what the usage API calls it). */
  name: string;
  localizedName: string;
  /** Lower-case resource types that count against it. */
  types: string[];
  /** Azure's default limit. */
  defaultLimit: number;
  /** Counted per region (most) or across the subscription. */
  scope: 'region' | 'subscription';
  /** The provider whose `locations/{loc}/usages` lists it; undefined = no usage API (configured quota). */
  usageProvider?: string;
}

export const QUOTA_DEFS: readonly QuotaDef[] = [
  // Storage: 250 storage accounts per region per subscription (standard endpoints), raisable to 500.
  { name: 'StorageAccounts', localizedName: 'Storage Accounts', types: ['microsoft.storage/storageaccounts'], defaultLimit: 250, scope: 'region', usageProvider: 'Microsoft.Storage' },
  // Networking limits: 1,000 virtual networks and 1,000 public IP addresses per region per subscription.
  { name: 'VirtualNetworks', localizedName: 'Virtual Networks', types: ['microsoft.network/virtualnetworks'], defaultLimit: 1000, scope: 'region', usageProvider: 'Microsoft.Network' },
  { name: 'PublicIPAddresses', localizedName: 'Public IP Addresses', types: ['microsoft.network/publicipaddresses'], defaultLimit: 1000, scope: 'region', usageProvider: 'Microsoft.Network' },
  // Container Instances: 100 standard container groups per region per subscription.
  { name: 'ContainerGroups', localizedName: 'Container Groups', types: ['microsoft.containerinstance/containergroups'], defaultLimit: 100, scope: 'region', usageProvider: 'Microsoft.ContainerInstance' },
  // Cosmos DB: 50 database accounts per subscription (no usage API: configured).
  { name: 'DatabaseAccounts', localizedName: 'Cosmos DB accounts', types: ['microsoft.documentdb/databaseaccounts'], defaultLimit: 50, scope: 'subscription' },
  // Azure SQL Database: 250 logical servers per subscription per region (no usage API: configured).
  { name: 'SqlServers', localizedName: 'SQL logical servers', types: ['microsoft.sql/servers'], defaultLimit: 250, scope: 'region' },
];

/** The providers whose usage API the emulator serves, with the usages it lists even at zero. */
export const USAGE_PROVIDERS = ['microsoft.storage', 'microsoft.network', 'microsoft.containerinstance', 'microsoft.compute'] as const;

/** Compute's regional counters (listed with usage 0: no pack deploys virtual machines). 10 vCPUs is a new pay-as-you-go subscription's regional default. */
const COMPUTE_USAGES = [
  { name: 'cores', localizedName: 'Total Regional vCPUs', limit: 10 },
  { name: 'virtualMachines', localizedName: 'Virtual Machines', limit: 25000 },
];

/** A subscription's own quota: a limit for a resource type, in one region or in every region. */
export interface QuotaSetting {
  /** A resource type (`Microsoft.Purview/accounts`) or a usage name (`StorageAccounts`). */
  quota: string;
  limit: number;
  /** Lower-case region; omitted = every region. */
  location?: string;
}

export interface UsageItem {
  id: string;
  name: { value: string; localizedValue: string };
  currentValue: number;
  limit: number;
  unit: 'Count';
}

export interface CountedResource {
  type: string;
  location?: string;
}

/** The quota definition a setting names: a known usage, or an ad-hoc per-region one for a type (configured). */
export function definitionFor(quota: string): QuotaDef {
  const q = lower(quota);
  const known = QUOTA_DEFS.find((d) => lower(d.name) === q || d.types.includes(q));
  if (known) return known;
  if (!/^[a-z0-9.]+\/[a-z0-9/]+$/i.test(quota)) throw new Error(`ARM emulator quota "${quota}": name a resource type (Microsoft.Purview/accounts) or a usage (${QUOTA_DEFS.map((d) => d.name).join(', ')})`);
  return { name: quota, localizedName: quota, types: [q], defaultLimit: Number.POSITIVE_INFINITY, scope: 'region' };
}

export class QuotaBook {
  private readonly settings: QuotaSetting[];

  constructor(
    readonly subscriptionId: string,
    settings: QuotaSetting[] = [],
  ) {
    for (const s of settings) {
      definitionFor(s.quota);
      if (!(Number.isInteger(s.limit) && s.limit >= 0)) throw new Error(`ARM emulator quota "${s.quota}" of subscription ${subscriptionId}: limit must be a whole number >= 0, got ${s.limit}`);
    }
    this.settings = settings.map((s) => ({ ...s, ...(s.location ? { location: lower(s.location) } : {}) }));
  }

  /** The definitions that apply to the subscription: every known one, and the configured ad-hoc ones. */
  definitions(): QuotaDef[] {
    const defs = [...QUOTA_DEFS];
    for (const s of this.settings) {
      const d = definitionFor(s.quota);
      if (!defs.some((x) => x.name === d.name)) defs.push(d);
    }
    return defs;
  }

  limit(def: QuotaDef, location: string): number {
    const loc = lower(location);
    const matching = this.settings.filter((s) => definitionFor(s.quota).name === def.name);
    const exact = matching.find((s) => s.location === loc);
    const any = matching.find((s) => s.location === undefined);
    return exact?.limit ?? any?.limit ?? def.defaultLimit;
  }

  used(def: QuotaDef, location: string, resources: Iterable<CountedResource>): number {
    let n = 0;
    for (const r of resources) if (def.types.includes(lower(r.type)) && (def.scope === 'subscription' || lower(r.location ?? '') === lower(location))) n++;
    return n;
  }

  /** `GET …/providers/{provider}/locations/{loc}/usages`: the provider's counters in that region. */
  usages(provider: string, location: string, resources: CountedResource[]): UsageItem[] {
    const p = lower(provider);
    const loc = lower(location);
    const id = (name: string) => `/subscriptions/${this.subscriptionId}/providers/${provider}/locations/${loc}/usages/${name}`;
    if (p === 'microsoft.compute') {
      return COMPUTE_USAGES.map((u) => ({ id: id(u.name), name: { value: u.name, localizedValue: u.localizedName }, currentValue: 0, limit: u.limit, unit: 'Count' as const }));
    }
    return this.definitions()
      .filter((d) => d.usageProvider && lower(d.usageProvider) === p)
      .map((d) => ({ id: id(d.name), name: { value: d.name, localizedValue: d.localizedName }, currentValue: this.used(d, loc, resources), limit: this.limit(d, loc), unit: 'Count' as const }));
  }

  /**
   * The first quota `adding` would exceed on top of `existing`, or undefined. `adding` are the resources a
   * deployment creates (ones that already exist are updates and take no new unit).
   */
  exceeded(adding: CountedResource[], existing: CountedResource[]): { def: QuotaDef; location: string; limit: number; used: number; required: number; type: string } | undefined {
    for (const def of this.definitions()) {
      const mine = adding.filter((r) => def.types.includes(lower(r.type)));
      const byLocation = new Map<string, CountedResource[]>();
      for (const r of mine) {
        const key = def.scope === 'subscription' ? '' : lower(r.location ?? '');
        byLocation.set(key, [...(byLocation.get(key) ?? []), r]);
      }
      for (const [loc, rs] of byLocation) {
        const limit = this.limit(def, loc || lower(rs[0].location ?? ''));
        const used = this.used(def, loc, existing);
        if (used + rs.length > limit) return { def, location: loc || lower(rs[0].location ?? ''), limit, used, required: rs.length, type: rs[0].type };
      }
    }
    return undefined;
  }
}
