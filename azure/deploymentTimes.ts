/**
 * How long Azure takes to create one resource of a type, and from that how long a pack's deployment takes:
 * what both the product (hot start's lead time, http/hotStart.ts) and the local ARM emulator (which sleeps
 * these times × its scale, local/arm/durations.ts) need, so it lives here, beneath both. Pure: no I/O, no clock.
 *
 * The figures are typical create times (not worst cases), from the sources named beside each. Where no
 * published figure was found the entry says "estimate" and gives the reasoning; change it when a run
 * against Azure measures better (the deployment operations' `duration` is the number to read).
 * Keys are lower-case resource types; a type not listed takes DEFAULT_MS.
 */
export const MINUTE = 60_000;

interface TypicalDuration {
  ms: number;
  source: string;
}

export const TYPICAL_PROVISION: Readonly<Record<string, TypicalDuration>> = {
  // Not a resource: the deployment itself sits in Accepted (queued, preflight) before it runs.
  'microsoft.resources/deployments': { ms: 5_000, source: 'estimate: seconds between the PUT\'s 201 Accepted and Running in the portal and the CLI.' },
  'microsoft.network/virtualnetworkgateways': {
    ms: 35 * MINUTE,
    source:
      'AZ-700 notes on Microsoft Learn\'s VPN Gateway module (qisltd.co.uk/vpn-gateway): "Creating a VPN gateway may take up to 45 minutes"; Learn\'s VPN Gateway portal tutorial says 45 minutes or more by SKU (recalled, not re-read here). 35 min = the usual case under that bound.',
  },
  'microsoft.network/connections': { ms: 2 * MINUTE, source: 'estimate: an IPsec connection is configured on the already-running gateway instances; minutes, not the gateway\'s tens of minutes.' },
  'microsoft.network/localnetworkgateways': { ms: 15_000, source: 'estimate: a metadata-only resource (the on-premises address space), like a route table.' },
  'microsoft.network/publicipaddresses': { ms: 10_000, source: 'estimate: an address allocation; seconds in the portal and the CLI.' },
  'microsoft.network/virtualnetworks': { ms: 15_000, source: 'estimate: seconds in the portal and the CLI (no data-plane instances).' },
  'microsoft.network/privateendpoints': { ms: 2 * MINUTE, source: 'estimate: a NIC plus the private link approval on the target service.' },
  'microsoft.network/trafficmanagerprofiles': { ms: 30_000, source: 'estimate: DNS-level profile, no instances.' },
  'microsoft.documentdb/databaseaccounts': {
    ms: 10 * MINUTE,
    source:
      'hashicorp/terraform-provider-azurerm#4271: "provisioning time for a Cosmos DB account grows linearly with the number of regions (10-15 minutes per region)". 10 min per region in `properties.locations` (see perRegion below).',
  },
  'microsoft.synapse/workspaces': {
    ms: 8 * MINUTE,
    source: 'pulumi/examples azure-ts-synapse: workspace + pools + storage, "13 created, Duration: 10m53s"; the workspace (managed resource group, managed identity, SQL endpoints) is most of it.',
  },
  'microsoft.synapse/workspaces/bigdatapools': { ms: 3 * MINUTE, source: 'estimate: the Spark pool definition (the nodes start on first use, not at create); part of the pulumi example\'s 10m53s.' },
  'microsoft.machinelearningservices/workspaces': {
    ms: 5 * MINUTE,
    source: 'estimate: MicrosoftDocs/azure-docs#86122 and Azure/terraform-azurerm-avm-res-machinelearningservices-workspace#138 show creates near the 30-minute Terraform timeout only on bad days; a few minutes is the usual portal experience.',
  },
  'microsoft.eventhub/namespaces': { ms: 3 * MINUTE, source: 'estimate: a messaging namespace like Service Bus, whose create ran past 6 min in elastic/apm-agent-dotnet#1565\'s CI log; 3 min is the usual case.' },
  'microsoft.sql/servers': { ms: 2 * MINUTE, source: 'estimate: Azure/azure-cli#3783 (server create near the CLI\'s synchronous timeout before async polling); logical server, no compute.' },
  'microsoft.sql/servers/databases': { ms: 3 * MINUTE, source: 'estimate: a serverless/General Purpose database takes minutes (compute allocation).' },
  'microsoft.storage/storageaccounts': { ms: 30_000, source: 'estimate: hashicorp/terraform-provider-azurerm#7895\'s log shows a storage account still creating after 10 s; tens of seconds is usual.' },
  'microsoft.keyvault/vaults': { ms: 30_000, source: 'estimate: tens of seconds in the portal and the CLI.' },
  'microsoft.operationalinsights/workspaces': { ms: 30_000, source: 'estimate: tens of seconds.' },
  'microsoft.insights/components': { ms: 20_000, source: 'estimate: tens of seconds (workspace-based Application Insights).' },
  'microsoft.purview/accounts': { ms: 10 * MINUTE, source: 'estimate: Purview creates a managed storage account and Event Hubs namespace of its own; about ten minutes.' },
  'microsoft.datafactory/factories': { ms: 30_000, source: 'estimate: tens of seconds.' },
  'microsoft.datafactory/factories/integrationruntimes': { ms: 1 * MINUTE, source: 'estimate: a self-hosted runtime definition (no nodes until registered).' },
  'microsoft.streamanalytics/streamingjobs': { ms: 1 * MINUTE, source: 'estimate: a job definition; it does not start at create.' },
  'microsoft.containerregistry/registries': { ms: 1 * MINUTE, source: 'estimate: about a minute.' },
  'microsoft.containerinstance/containergroups': { ms: 2 * MINUTE, source: 'estimate: image pull and start of the group; minutes.' },
  'microsoft.web/serverfarms': { ms: 30_000, source: 'estimate: tens of seconds.' },
  'microsoft.web/sites': { ms: 1 * MINUTE, source: 'estimate: about a minute.' },
};

/** Child resources, role assignments, diagnostic settings, tags, …: a metadata write. */
export const DEFAULT_MS = 5_000;

/** Types whose create time grows with the regions they span (`properties.locations`). */
const PER_REGION = new Set(['microsoft.documentdb/databaseaccounts']);

/** The typical time Azure takes to create this resource (unscaled). `body`: the resource as PUT, for per-region types. */
export function typicalProvisionMs(resourceType: string, body?: Record<string, unknown>): number {
  const type = resourceType.toLowerCase();
  const base = TYPICAL_PROVISION[type]?.ms ?? DEFAULT_MS;
  if (!PER_REGION.has(type)) return base;
  const locations = (body?.properties as { locations?: unknown } | undefined)?.locations;
  const regions = Array.isArray(locations) && locations.length > 0 ? locations.length : 1;
  return base * regions;
}


/**
 * How long one deployment of `template` takes, typically: the deployment's own accepted time, then the
 * slowest chain of its dependency graph (as the emulator and ARM run it: a resource waits for its
 * `dependsOn`, independent ones overlap). A `dependsOn` entry is matched by the resource type its
 * `resourceId('<type>', …)` names (every resource of that type: an upper bound when a template holds several);
 * nested child `resources` wait for their parent. Conditions are ignored (counted as deployed).
 */
export function deploymentEstimateMs(template: { resources?: unknown }): number {
  const flat: Array<{ type: string; body: Record<string, unknown>; deps: string[] }> = [];
  const walk = (resources: unknown, parent?: { type: string }) => {
    const list = Array.isArray(resources) ? resources : resources && typeof resources === 'object' ? Object.values(resources) : [];
    for (const r of list as Array<Record<string, unknown>>) {
      if (typeof r?.type !== 'string') continue;
      const type = (parent && !r.type.includes('/') ? `${parent.type}/${r.type}` : r.type).toLowerCase();
      const deps = (Array.isArray(r.dependsOn) ? r.dependsOn : []).map(dependencyType).filter((d): d is string => !!d);
      flat.push({ type, body: r, deps: parent ? [...deps, parent.type] : deps });
      walk(r.resources, { type });
    }
  };
  walk(template.resources);
  const done = new Map<number, number>();
  const finish = (i: number, seen: Set<number>): number => {
    const known = done.get(i);
    if (known !== undefined) return known;
    if (seen.has(i)) return 0; // a cycle: the emulator refuses it at preflight; no estimate to add
    seen.add(i);
    const r = flat[i]!;
    let start = 0;
    flat.forEach((other, j) => {
      if (j !== i && r.deps.includes(other.type)) start = Math.max(start, finish(j, seen));
    });
    const end = start + typicalProvisionMs(r.type, r.body);
    done.set(i, end);
    return end;
  };
  let slowest = 0;
  for (let i = 0; i < flat.length; i++) slowest = Math.max(slowest, finish(i, new Set()));
  return TYPICAL_PROVISION['microsoft.resources/deployments']!.ms + slowest;
}

/** The resource type a `dependsOn` entry names: `[resourceId('Microsoft.Web/sites', …)]` or a plain resource id. */
function dependencyType(entry: unknown): string | undefined {
  if (typeof entry !== 'string') return undefined;
  const call = /resourceId\(\s*'([^']+)'/i.exec(entry);
  if (call) return call[1]!.toLowerCase();
  const id = /providers\/([^/]+\/[^/]+)/i.exec(entry);
  return id ? id[1]!.toLowerCase() : undefined;
}

/** Margin on the estimate for a pool's lead time: throttling, a retried deployment, a slow day in the region. */
export const LEAD_MARGIN = 1.25;

/**
 * How long before the session a hot-start pool of `poolSize` environments should start deploying, at
 * `concurrent` deployments at once: each wave of deployments takes the template's slowest chain
 * (deploymentEstimateMs), with a margin (LEAD_MARGIN), rounded up to whole minutes. `scale` compresses it like
 * every other duration of a rehearsal (the run's time scale).
 */
export function hotStartLeadMs(template: { resources?: unknown }, poolSize: number, concurrent: number, scale = 1): number {
  const waves = Math.max(1, Math.ceil(poolSize / Math.max(1, concurrent)));
  const lead = waves * deploymentEstimateMs(template) * LEAD_MARGIN * scale;
  return scale >= 1 ? Math.ceil(lead / MINUTE) * MINUTE : Math.ceil(lead);
}
