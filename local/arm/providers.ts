/**
 * What each resource provider does on top of storing the request: read-only properties it computes
 * (endpoints, principal ids, instance views), values it keeps but never returns (passwords, shared
 * keys), values only it changes (a job's state, a trigger's runtime state — changed through actions),
 * name rules, and side effects on other resources (a private endpoint adds a connection to its target;
 * a VNet's inline subnets are also child resources). Types not listed are stored as sent.
 *
 * The properties match what the real providers return at the api-versions in the scenario templates,
 * as far as the scenario checks and the activities read them.
 */
import { ArmError } from './errors';
import type { Reply } from './emulator';
import { deterministicGuid } from './expressions';
import { lower, parseResourceId, type ResourcePath } from './ids';
import type { ResourceRecord } from './store';
import { fullName, getPath, principalIdOf, type ProviderCtx, type ResourceService } from './resources';

export interface TypeBehaviour {
  /** Default: top-level resources and tracked children (TRACKED_CHILD_TYPES) need a location, other children and extension resources do not. */
  requiresLocation?: boolean;
  /** Location must be `global` (Traffic Manager, private DNS). */
  global?: boolean;
  validateName?(name: string, path: ResourcePath): ArmError | undefined;
  /** A new name the provider gives the resource (object replication policies PUT as `default`). */
  rename?(path: ResourcePath): string | undefined;
  /** Dotted paths (from the resource root) the provider owns: kept from the stored resource when a PUT omits them. */
  keep?: string[];
  /** Dotted paths kept in the record but removed from what GET returns. */
  secrets?: string[];
  /** provisioningState after a successful write (default Succeeded). */
  provisioningState?: string;
  shape?(body: Record<string, unknown>, ctx: ProviderCtx): void | Promise<void>;
  afterPut?(record: ResourceRecord, ctx: ProviderCtx): Promise<void>;
  afterDelete?(record: ResourceRecord, svc: ResourceService): Promise<void>;
  /** POST actions (`listKeys`, `start`, …) by name. */
  actions?: Record<string, (record: ResourceRecord, body: unknown, svc: ResourceService) => Reply | Promise<Reply>>;
}

/** Child types ARM tracks (they have a location and show up in a resource group's resource list). */
export const TRACKED_CHILD_TYPES = new Set(
  [
    'Microsoft.Sql/servers/databases',
    'Microsoft.Sql/servers/elasticPools',
    'Microsoft.Synapse/workspaces/bigDataPools',
    'Microsoft.Synapse/workspaces/sqlPools',
    'Microsoft.Network/privateDnsZones/virtualNetworkLinks',
    'Microsoft.Web/sites/slots',
    'Microsoft.MachineLearningServices/workspaces/computes',
  ].map(lower),
);

const props = (body: Record<string, unknown>) => body.properties as Record<string, unknown>;
const hash = (...parts: string[]) => deterministicGuid(parts);
const key64 = (...parts: string[]) => Buffer.from(hash(...parts) + hash('k', ...parts), 'utf8').toString('base64').slice(0, 86) + '==';
const ok = (body: unknown): Reply => ({ status: 200, body });

function nameRule(pattern: RegExp, code: string, message: (n: string) => string) {
  return (name: string) => (pattern.test(name) ? undefined : new ArmError(400, code, message(name)));
}

/** A private IP in the subnet's prefix for the n-th address handed out. */
function ipInPrefix(prefix: string | undefined, n: number): string {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/\d+$/.exec(prefix ?? '');
  if (!m) return `10.0.0.${4 + n}`;
  return `${m[1]}.${m[2]}.${m[3]}.${Number(m[4]) + 4 + n}`;
}

function publicIp(id: string): string {
  const h = hash('ip', lower(id));
  const b = Buffer.from(h.replace(/-/g, ''), 'hex');
  return `20.${b[0] % 200}.${b[1]}.${(b[2] % 250) + 2}`;
}

// ─── inline collections that are also child resources ──────────────────────────────────────────

/**
 * A VNet's `properties.subnets` and a Traffic Manager profile's `properties.endpoints` are both inline
 * and addressable children. Writing the parent writes the children; writing a child updates the parent.
 */
function inlineChildren(collection: string, childType: (item: Record<string, unknown>, parentType: string) => string, shapeChild: (child: Record<string, unknown>, parent: ResourceRecord, index: number) => void): Pick<TypeBehaviour, 'shape' | 'afterPut'> {
  return {
    shape(body, ctx) {
      const items = (props(body)[collection] ?? (ctx.existing ? [] : [])) as Array<Record<string, unknown>>;
      if (!Array.isArray(items)) throw new ArmError(400, 'InvalidRequestFormat', `'properties.${collection}' must be an array.`);
      items.forEach((item, i) => {
        const type = childType(item, ctx.path.type);
        item.id = `${ctx.path.id}/${type.split('/').at(-1)}/${String(item.name)}`;
        item.type = type;
        item.properties = { ...((item.properties ?? {}) as Record<string, unknown>) };
        shapeChild(item, ctx.record, i);
        (item.properties as Record<string, unknown>).provisioningState = 'Succeeded';
      });
      props(body)[collection] = items;
    },
    async afterPut(record, ctx) {
      const items = (props(record.body)[collection] ?? []) as Array<Record<string, unknown>>;
      const keep = new Set(items.map((i) => lower(String(i.id))));
      const types = new Set(items.map((i) => String(i.type)));
      if (ctx.existing) for (const i of (props(ctx.existing.body)[collection] ?? []) as Array<Record<string, unknown>>) types.add(String(i.type));
      for (const t of types) for (const old of ctx.svc.children(record.id, t)) if (!keep.has(lower(old.id))) await ctx.env.store.deleteResource(old.id);
      for (const item of items) {
        const path = parseResourceId(String(item.id))!;
        const child = ctx.svc.newRecord(path, record.apiVersion, { id: item.id, name: item.name, type: item.type, properties: item.properties }, ctx.svc.get(String(item.id)));
        await ctx.svc.setInternal(child);
      }
    },
  };
}

/** The child side: a PUT/DELETE of `vnet/subnets/x` updates the parent's inline list. */
function inlineChild(collection: string): Pick<TypeBehaviour, 'afterPut' | 'afterDelete'> {
  const sync = async (svc: ResourceService, child: ResourceRecord, remove: boolean) => {
    const parentId = child.id.split('/').slice(0, -2).join('/');
    const parent = svc.get(parentId);
    if (!parent) return;
    const list = ((props(parent.body)[collection] ?? []) as Array<Record<string, unknown>>).filter((i) => lower(String(i.id)) !== lower(child.id));
    if (!remove) list.push({ id: child.id, name: child.body.name, type: child.type, properties: child.body.properties });
    const updated = structuredClone(parent);
    props(updated.body)[collection] = list;
    updated.changedAt = new Date().toISOString();
    await svc.setInternal(updated);
  };
  return {
    afterPut: (record, ctx) => sync(ctx.svc, record, false),
    afterDelete: (record, svc) => sync(svc, record, true),
  };
}

// ─── private endpoints ─────────────────────────────────────────────────────────────────────────

async function linkPrivateEndpoint(pe: ResourceRecord, ctx: ProviderCtx): Promise<void> {
  const conns = [
    ...((props(pe.body).privateLinkServiceConnections ?? []) as Array<Record<string, unknown>>),
    ...((props(pe.body).manualPrivateLinkServiceConnections ?? []) as Array<Record<string, unknown>>),
  ];
  for (const c of conns) {
    const cp = (c.properties ?? {}) as Record<string, unknown>;
    const targetId = String(cp.privateLinkServiceId ?? '');
    const target = ctx.svc.get(targetId);
    if (!target) continue;
    const connName = `${String(pe.body.name)}.${hash('pec', lower(pe.id)).slice(0, 8)}`;
    const connection = {
      id: `${target.id}/privateEndpointConnections/${connName}`,
      name: connName,
      type: `${target.type}/privateEndpointConnections`,
      properties: {
        privateEndpoint: { id: pe.id },
        groupIds: cp.groupIds ?? [],
        privateLinkServiceConnectionState: cp.privateLinkServiceConnectionState,
        provisioningState: 'Succeeded',
      },
    };
    const updated = structuredClone(target);
    const list = ((props(updated.body).privateEndpointConnections ?? []) as Array<Record<string, unknown>>).filter(
      (x) => lower(String((x.properties as Record<string, unknown>)?.privateEndpoint && ((x.properties as Record<string, { id: string }>).privateEndpoint.id))) !== lower(pe.id),
    );
    list.push(connection);
    props(updated.body).privateEndpointConnections = list;
    await ctx.svc.setInternal(updated);
    const path = parseResourceId(connection.id)!;
    await ctx.svc.setInternal(ctx.svc.newRecord(path, target.apiVersion, connection, ctx.svc.get(connection.id)));
  }
}

async function unlinkPrivateEndpoint(pe: ResourceRecord, svc: ResourceService): Promise<void> {
  for (const target of [...svc.env.store.resources.values()]) {
    const list = props(target.body)?.privateEndpointConnections as Array<Record<string, unknown>> | undefined;
    if (!Array.isArray(list)) continue;
    const isThis = (x: Record<string, unknown>) => lower(String(getPath(x, 'properties.privateEndpoint.id') ?? '')) === lower(pe.id);
    const mine = list.filter(isThis);
    if (mine.length === 0) continue;
    const updated = structuredClone(target);
    props(updated.body).privateEndpointConnections = list.filter((x) => !isThis(x));
    await svc.setInternal(updated);
    for (const m of mine) await svc.env.store.deleteResource(String(m.id));
  }
}

// ─── the providers ─────────────────────────────────────────────────────────────────────────────

const storageAccount: TypeBehaviour = {
  validateName: nameRule(/^[a-z0-9]{3,24}$/, 'AccountNameInvalid', (n) => `${n} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.`),
  keep: ['properties.privateEndpointConnections', 'properties.creationTime'],
  shape(body, ctx) {
    const p = props(body);
    const name = String(body.name);
    if (!body.sku) throw new ArmError(400, 'InvalidRequestContent', "The request content was invalid and could not be deserialized: 'Required property 'sku' not found in JSON.'");
    if (!body.kind) throw new ArmError(400, 'InvalidRequestContent', "The request content was invalid and could not be deserialized: 'Required property 'kind' not found in JSON.'");
    if (ctx.existing && Boolean(getPath(ctx.existing.body, 'properties.isHnsEnabled')) !== Boolean(p.isHnsEnabled) && p.isHnsEnabled !== undefined) {
      throw new ArmError(400, 'HnsUpdateNotSupported', 'Hierarchical namespace cannot be changed on an existing account by an update; use the account migration (upgrade) instead.');
    }
    const kind = String(body.kind);
    if ((kind === 'StorageV2' || kind === 'BlobStorage') && p.accessTier === undefined) p.accessTier = 'Hot';
    const endpoints = (sfx: string) => ({
      blob: `https://${name}${sfx}.blob.core.windows.net/`,
      queue: `https://${name}${sfx}.queue.core.windows.net/`,
      table: `https://${name}${sfx}.table.core.windows.net/`,
      file: `https://${name}${sfx}.file.core.windows.net/`,
      web: `https://${name}${sfx}.z6.web.core.windows.net/`,
      dfs: `https://${name}${sfx}.dfs.core.windows.net/`,
    });
    p.primaryEndpoints = endpoints('');
    p.primaryLocation = body.location;
    p.statusOfPrimary = 'available';
    p.creationTime ??= new Date().toISOString();
    const skuName = String((body.sku as Record<string, unknown>).name ?? '');
    if (/GRS|GZRS/.test(skuName)) {
      p.secondaryLocation = pairedRegion(String(body.location));
      p.statusOfSecondary = 'available';
      if (/^Standard_RA/.test(skuName)) p.secondaryEndpoints = endpoints('-secondary');
    }
    p.encryption ??= { services: { blob: { enabled: true, keyType: 'Account' }, file: { enabled: true, keyType: 'Account' } }, keySource: 'Microsoft.Storage' };
  },
  async afterPut(record, ctx) {
    // Every account has its blob service singleton from the start (containers can be created at once).
    await ensureSingleton(ctx, `${record.id}/blobServices/default`, 'Microsoft.Storage/storageAccounts/blobServices', { cors: { corsRules: [] }, deleteRetentionPolicy: { enabled: false } }, { sku: record.body.sku });
  },
  actions: {
    listKeys: (r) => ok({ keys: [{ keyName: 'key1', value: key64('key1', r.id), permissions: 'FULL' }, { keyName: 'key2', value: key64('key2', r.id), permissions: 'FULL' }] }),
  },
};

function onlyDefault(what: string) {
  return (name: string) => (name === 'default' ? undefined : new ArmError(400, 'InvalidResourceName', `The name of a ${what} must be 'default', got '${name}'.`));
}

const PAIRS: Record<string, string> = {
  eastus: 'westus', westus: 'eastus', eastus2: 'centralus', centralus: 'eastus2', westeurope: 'northeurope', northeurope: 'westeurope',
  uksouth: 'ukwest', ukwest: 'uksouth', westus2: 'westcentralus', westus3: 'eastus', southcentralus: 'northcentralus', northcentralus: 'southcentralus',
  francecentral: 'francesouth', germanywestcentral: 'germanynorth', swedencentral: 'swedensouth', australiaeast: 'australiasoutheast', japaneast: 'japanwest',
};
const pairedRegion = (loc: string) => PAIRS[loc] ?? 'westus';

const BEHAVIOURS: Record<string, TypeBehaviour> = {
  'Microsoft.Storage/storageAccounts': storageAccount,
  'Microsoft.Storage/storageAccounts/blobServices': { validateName: onlyDefault('blob service') },
  'Microsoft.Resources/tags': {
    // At resource-group scope `Microsoft.Resources/tags/default` replaces the group's tags.
    requiresLocation: false,
    validateName: onlyDefault('tags resource'),
    async afterPut(record, ctx) {
      const tags = (getPath(record.body, 'properties.tags') ?? {}) as Record<string, string>;
      const group = ctx.env.store.groups.get(lower(ctx.path.resourceGroup));
      if (!group || ctx.path.scope) return;
      const updated = structuredClone(group);
      updated.body.tags = { ...tags };
      await ctx.env.store.setGroup(updated);
    },
  },
  'Microsoft.Storage/storageAccounts/managementPolicies': { validateName: onlyDefault('management policy') },
  'Microsoft.Storage/storageAccounts/blobServices/containers': {
    validateName: nameRule(/^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, 'ContainerOperationFailure', (n) => `The specified container name '${n}' is not valid: use 3-63 lower-case letters, digits and single hyphens.`),
    shape: (body) => void (props(body).publicAccess ??= 'None'),
  },
  'Microsoft.Storage/storageAccounts/objectReplicationPolicies': {
    // On the destination the policy is PUT as `default` and the provider names it with the policy id
    // it assigns; the source account is then given a policy with that id.
    rename: (path) => (lower(path.name.split('/').at(-1)!) === 'default' ? hash('orp', lower(path.id)) : undefined),
    shape(body, ctx) {
      const p = props(body);
      p.policyId = String(body.name);
      p.enabledTime ??= new Date().toISOString();
      for (const [i, rule] of ((p.rules ?? []) as Array<Record<string, unknown>>).entries()) rule.ruleId ??= hash('orr', lower(ctx.path.id), String(i));
    },
  },

  'Microsoft.DocumentDB/databaseAccounts': {
    validateName: nameRule(/^[a-z0-9][a-z0-9-]{1,42}[a-z0-9]$/, 'InvalidResourceName', (n) => `Database account name '${n}' is invalid: 3-44 lower-case letters, digits and hyphens, not starting or ending with a hyphen.`),
    keep: ['properties.privateEndpointConnections'],
    shape(body) {
      const p = props(body);
      const name = String(body.name);
      const locations = ((p.locations ?? [{ locationName: body.location, failoverPriority: 0 }]) as Array<Record<string, unknown>>).map((l) => ({ ...l }));
      locations.forEach((l) => {
        l.locationName = String(l.locationName);
        l.id = `${name}-${lower(String(l.locationName)).replace(/\s+/g, '')}`;
        l.documentEndpoint = `https://${name}-${lower(String(l.locationName)).replace(/\s+/g, '')}.documents.azure.com:443/`;
        l.failoverPriority = Number(l.failoverPriority ?? 0);
        l.isZoneRedundant = Boolean(l.isZoneRedundant);
        l.provisioningState = 'Succeeded';
      });
      const priorities = locations.map((l) => l.failoverPriority).sort();
      if (priorities.some((v, i) => v !== i)) throw new ArmError(400, 'BadRequest', `Failover priorities must be unique and run from 0 without gaps; got ${priorities.join(', ')}.`);
      const ordered = [...locations].sort((a, b) => Number(a.failoverPriority) - Number(b.failoverPriority));
      p.locations = ordered;
      p.writeLocations = ordered.slice(0, p.enableMultipleWriteLocations ? ordered.length : 1);
      p.readLocations = ordered;
      p.failoverPolicies = ordered.map((l) => ({ id: l.id, locationName: l.locationName, failoverPriority: l.failoverPriority }));
      p.documentEndpoint = `https://${name}.documents.azure.com:443/`;
      p.databaseAccountOfferType ??= 'Standard';
      p.consistencyPolicy ??= { defaultConsistencyLevel: 'Session', maxIntervalInSeconds: 5, maxStalenessPrefix: 100 };
      p.enableAutomaticFailover ??= false;
      p.minimalTlsVersion ??= 'Tls12';
      p.disableLocalAuth ??= false;
      p.publicNetworkAccess ??= 'Enabled';
    },
    actions: {
      listKeys: (r) => ok({ primaryMasterKey: key64('cm1', r.id), secondaryMasterKey: key64('cm2', r.id), primaryReadonlyMasterKey: key64('cr1', r.id), secondaryReadonlyMasterKey: key64('cr2', r.id) }),
    },
  },
  'Microsoft.DocumentDB/databaseAccounts/sqlDatabases': {
    shape(body) {
      const p = props(body);
      const resource = { ...((p.resource ?? {}) as Record<string, unknown>) };
      resource._rid = hash('rid', String(body.id)).slice(0, 8);
      resource._etag = `"${hash('etag', String(body.id))}"`;
      p.resource = resource;
      delete p.options;
    },
  },
  'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers': {
    shape(body) {
      const p = props(body);
      const resource = { ...((p.resource ?? {}) as Record<string, unknown>) };
      if (!resource.partitionKey) throw new ArmError(400, 'BadRequest', 'A container needs resource.partitionKey (for example { "paths": ["/id"], "kind": "Hash" }).');
      resource._rid = hash('rid', String(body.id)).slice(0, 8);
      resource.indexingPolicy ??= { indexingMode: 'consistent', automatic: true, includedPaths: [{ path: '/*' }], excludedPaths: [{ path: '/"_etag"/?' }] };
      p.resource = resource;
      delete p.options;
    },
  },
  'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments': {
    validateName: (n) => (isGuid(n) ? undefined : new ArmError(400, 'BadRequest', `The role assignment id '${n}' must be a GUID.`)),
    shape(body) {
      const p = props(body);
      if (!isGuid(String(p.principalId ?? ''))) throw new ArmError(400, 'BadRequest', `principalId '${String(p.principalId)}' is not a valid GUID.`);
      if (!p.roleDefinitionId || !p.scope) throw new ArmError(400, 'BadRequest', 'A Cosmos DB SQL role assignment needs roleDefinitionId, principalId and scope.');
    },
  },

  'Microsoft.Web/serverfarms': {
    shape(body) {
      const p = props(body);
      p.status = 'Ready';
      p.numberOfSites ??= 0;
      p.reserved ??= lower(String(body.kind ?? '')).includes('linux');
    },
  },
  'Microsoft.Web/sites': {
    validateName: nameRule(/^[A-Za-z0-9][A-Za-z0-9-]{0,58}[A-Za-z0-9]$/, 'InvalidResourceName', (n) => `The site name '${n}' is invalid: 2-60 letters, digits and hyphens.`),
    keep: ['properties.privateEndpointConnections'],
    shape(body, ctx) {
      const p = props(body);
      const name = String(body.name);
      if (!p.serverFarmId) throw new ArmError(400, 'BadRequest', "A site needs 'properties.serverFarmId' (its App Service plan).");
      if (!ctx.svc.get(String(p.serverFarmId))) throw new ArmError(404, 'NotFound', `Server farm with name '${String(p.serverFarmId).split('/').at(-1)}' not found.`);
      p.defaultHostName = `${name}.azurewebsites.net`;
      p.hostNames = [p.defaultHostName];
      p.enabledHostNames = [p.defaultHostName, `${name}.scm.azurewebsites.net`];
      p.state ??= 'Running';
      p.enabled ??= true;
      p.httpsOnly ??= false;
      p.usageState = 'Normal';
      p.availabilityState = 'Normal';
    },
    async afterPut(record, ctx) {
      // The site's siteConfig is what GET .../config/web returns.
      const siteConfig = (props(record.body).siteConfig ?? {}) as Record<string, unknown>;
      const id = `${record.id}/config/web`;
      const existing = ctx.svc.get(id);
      const base = existing ? (existing.body.properties as Record<string, unknown>) : { ftpsState: 'FtpsOnly', minTlsVersion: '1.2', http20Enabled: true, alwaysOn: false, scmMinTlsVersion: '1.2' };
      const config = { id, name: 'web', type: 'Microsoft.Web/sites/config', location: record.body.location, properties: { ...base, ...siteConfig } };
      await ctx.svc.setInternal(ctx.svc.newRecord(parseResourceId(id)!, record.apiVersion, config, existing));
    },
  },
  'Microsoft.Web/sites/config': {
    validateName: (n) => (['web', 'appsettings', 'connectionstrings', 'authsettingsv2', 'logs', 'metadata'].includes(lower(n)) ? undefined : new ArmError(400, 'BadRequest', `'${n}' is not a site configuration name (web, appsettings, connectionstrings, logs, …).`)),
    async shape(body, ctx) {
      if (lower(String(body.name)) !== 'web') return;
      const existing = ctx.existing ? (ctx.existing.body.properties as Record<string, unknown>) : {};
      body.properties = { ...existing, ...props(body) };
    },
  },

  'Microsoft.Network/trafficManagerProfiles': {
    global: true,
    ...withShape(trafficManagerShape, inlineChildren(
      'endpoints',
      (item, parentType) => (String(item.type ?? '').includes('/') ? String(item.type) : `${parentType}/${String(item.type ?? 'azureEndpoints')}`),
      (item) => {
        const p = item.properties as Record<string, unknown>;
        p.endpointStatus ??= 'Enabled';
        p.endpointMonitorStatus = p.endpointStatus === 'Enabled' ? 'Online' : 'Disabled';
      },
    )),
    validateName: nameRule(/^[A-Za-z0-9][A-Za-z0-9-]{0,61}[A-Za-z0-9]$/, 'BadRequest', (n) => `The profile name '${n}' is invalid.`),
  },
  'Microsoft.Network/trafficManagerProfiles/azureEndpoints': { ...inlineChild('endpoints'), shape: endpointShape },
  'Microsoft.Network/trafficManagerProfiles/externalEndpoints': { ...inlineChild('endpoints'), shape: endpointShape },

  'Microsoft.Network/virtualNetworks': {
    ...inlineChildren(
      'subnets',
      () => 'Microsoft.Network/virtualNetworks/subnets',
      (item) => {
        const p = item.properties as Record<string, unknown>;
        p.privateEndpointNetworkPolicies ??= 'Disabled';
        p.privateLinkServiceNetworkPolicies ??= 'Enabled';
      },
    ),
  },
  'Microsoft.Network/virtualNetworks/subnets': {
    ...inlineChild('subnets'),
    shape(body) {
      const p = props(body);
      if (!p.addressPrefix && !p.addressPrefixes) throw new ArmError(400, 'InvalidRequestFormat', 'A subnet needs addressPrefix.');
      p.privateEndpointNetworkPolicies ??= 'Disabled';
    },
  },
  'Microsoft.Network/publicIPAddresses': {
    keep: ['properties.ipAddress'],
    shape(body) {
      const p = props(body);
      p.publicIPAllocationMethod ??= 'Static';
      p.publicIPAddressVersion ??= 'IPv4';
      p.ipAddress ??= publicIp(String(body.id));
    },
  },
  'Microsoft.Network/virtualNetworkGateways': {
    shape(body, ctx) {
      const p = props(body);
      if (!p.gatewayType) throw new ArmError(400, 'InvalidRequestFormat', 'A virtual network gateway needs gatewayType (Vpn or ExpressRoute).');
      for (const cfg of (p.ipConfigurations ?? []) as Array<Record<string, unknown>>) {
        const subnetId = String(getPath(cfg, 'properties.subnet.id') ?? '');
        if (subnetId && lower(subnetId.split('/').at(-1)!) !== 'gatewaysubnet') {
          throw new ArmError(400, 'GatewaySubnet', `Subnet with id '${subnetId}' is not valid for a virtual network gateway: the subnet must be named GatewaySubnet.`);
        }
        if (subnetId && !ctx.svc.get(subnetId)) throw new ArmError(400, 'InvalidResourceReference', `Resource ${subnetId} referenced by resource ${String(body.id)} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`);
        (cfg as Record<string, unknown>).id = `${String(body.id)}/ipConfigurations/${String(cfg.name)}`;
      }
      p.bgpSettings ??= { asn: 65515, bgpPeeringAddress: '10.0.255.30', peerWeight: 0 };
      p.vpnGatewayGeneration ??= 'Generation1';
    },
  },
  'Microsoft.Network/localNetworkGateways': {
    shape(body) {
      const p = props(body);
      if (!p.gatewayIpAddress && !p.fqdn) throw new ArmError(400, 'InvalidRequestFormat', 'A local network gateway needs gatewayIpAddress or fqdn.');
    },
  },
  'Microsoft.Network/connections': {
    secrets: ['properties.sharedKey'],
    shape(body, ctx) {
      const p = props(body);
      const type = String(p.connectionType ?? '');
      if (!['IPsec', 'Vnet2Vnet', 'ExpressRoute', 'VPNClient'].includes(type)) throw new ArmError(400, 'InvalidRequestFormat', `connectionType '${type}' is not one of IPsec, Vnet2Vnet, ExpressRoute, VPNClient.`);
      const gw = String(getPath(p, 'virtualNetworkGateway1.id') ?? '');
      const lng = String(getPath(p, 'localNetworkGateway2.id') ?? '');
      const key = ctx.record.secrets?.['properties.sharedKey'];
      const connected = type === 'IPsec' && Boolean(gw && ctx.svc.get(gw)) && Boolean(lng && ctx.svc.get(lng)) && typeof key === 'string' && key.length > 0;
      p.connectionStatus = connected ? 'Connected' : 'NotConnected';
      p.ingressBytesTransferred = 0;
      p.egressBytesTransferred = 0;
      p.connectionProtocol ??= 'IKEv2';
    },
  },
  'Microsoft.Network/privateEndpoints': {
    shape(body, ctx) {
      const p = props(body);
      const subnetId = String(getPath(p, 'subnet.id') ?? '');
      const subnet = ctx.svc.get(subnetId);
      if (!subnet) throw new ArmError(400, 'InvalidResourceReference', `Resource ${subnetId} referenced by resource ${String(body.id)} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`);
      const conns = [...((p.privateLinkServiceConnections ?? []) as Array<Record<string, unknown>>), ...((p.manualPrivateLinkServiceConnections ?? []) as Array<Record<string, unknown>>)];
      const manual = new Set((p.manualPrivateLinkServiceConnections ?? []) as unknown[]);
      const ip = ipInPrefix(String(getPath(subnet.body, 'properties.addressPrefix') ?? ''), 0);
      const dns: Array<Record<string, unknown>> = [];
      for (const c of conns) {
        const cp = (c.properties ?? {}) as Record<string, unknown>;
        c.properties = cp;
        const target = ctx.svc.get(String(cp.privateLinkServiceId ?? ''));
        if (!target) {
          throw new ArmError(400, 'InvalidResourceReference', `Resource ${String(cp.privateLinkServiceId)} referenced by resource ${String(body.id)} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`);
        }
        c.id = `${String(body.id)}/privateLinkServiceConnections/${String(c.name)}`;
        c.type = 'Microsoft.Network/privateEndpoints/privateLinkServiceConnections';
        cp.privateLinkServiceConnectionState = manual.has(c)
          ? { status: 'Pending', description: String(cp.requestMessage ?? ''), actionsRequired: 'None' }
          : { status: 'Approved', description: 'Auto-Approved', actionsRequired: 'None' };
        cp.provisioningState = 'Succeeded';
        for (const g of (cp.groupIds ?? []) as string[]) dns.push({ fqdn: privateFqdn(target, g), ipAddresses: [ip] });
      }
      p.networkInterfaces = [{ id: `/subscriptions/${ctx.env.subscriptionId}/resourceGroups/${ctx.path.resourceGroup}/providers/Microsoft.Network/networkInterfaces/${String(body.name)}.nic.${hash('nic', lower(String(body.id))).slice(0, 8)}` }];
      p.customDnsConfigs = dns;
      p.ipConfigurations ??= [];
    },
    afterPut: (record, ctx) => linkPrivateEndpoint(record, ctx),
    afterDelete: (record, svc) => unlinkPrivateEndpoint(record, svc),
  },
  'Microsoft.Network/privateEndpoints/privateDnsZoneGroups': {
    async afterPut(record, ctx) {
      // Register the endpoint's names as A records in each zone (what the zone group automates).
      const peId = record.id.split('/').slice(0, -2).join('/');
      const pe = ctx.svc.get(peId);
      if (!pe) return;
      const configs = (props(pe.body).customDnsConfigs ?? []) as Array<{ fqdn: string; ipAddresses: string[] }>;
      for (const z of (props(record.body).privateDnsZoneConfigs ?? []) as Array<Record<string, unknown>>) {
        const zoneId = String(getPath(z, 'properties.privateDnsZoneId') ?? '');
        const zone = ctx.svc.get(zoneId);
        if (!zone) throw new ArmError(400, 'InvalidResourceReference', `Private DNS zone ${zoneId} referenced by resource ${record.id} was not found.`);
        const zoneName = lower(String(zone.body.name));
        for (const c of configs) {
          const host = lower(c.fqdn).replace(/\.(privatelink\.)?[^.]+(\..+)$/, '');
          const recordId = `${zone.id}/A/${host}`;
          const rec = { id: recordId, name: host, type: 'Microsoft.Network/privateDnsZones/A', properties: { fqdn: `${host}.${zoneName}.`, ttl: 10, aRecords: c.ipAddresses.map((ipv4Address) => ({ ipv4Address })), isAutoRegistered: false } };
          await ctx.svc.setInternal(ctx.svc.newRecord(parseResourceId(recordId)!, '2024-06-01', rec, ctx.svc.get(recordId)));
        }
        (z as Record<string, unknown>).properties = { ...((z.properties ?? {}) as Record<string, unknown>), recordSets: configs.map((c) => ({ recordType: 'A', fqdn: c.fqdn, ipAddresses: c.ipAddresses, provisioningState: 'Succeeded' })) };
      }
      await ctx.svc.setInternal({ ...record });
    },
  },
  'Microsoft.Network/privateDnsZones': {
    global: true,
    shape(body) {
      const p = props(body);
      p.maxNumberOfRecordSets = 25000;
      p.maxNumberOfVirtualNetworkLinks = 1000;
      p.internalId = hash('zone', lower(String(body.id)));
    },
  },
  'Microsoft.Network/privateDnsZones/virtualNetworkLinks': {
    global: true,
    requiresLocation: true,
    shape(body, ctx) {
      const p = props(body);
      const vnet = String(getPath(p, 'virtualNetwork.id') ?? '');
      if (!ctx.svc.get(vnet)) throw new ArmError(400, 'BadRequest', `Virtual network ${vnet} linked by ${String(body.id)} was not found.`);
      p.registrationEnabled ??= false;
      p.virtualNetworkLinkState = 'Completed';
    },
  },

  'Microsoft.Sql/servers': {
    validateName: nameRule(/^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$/, 'InvalidResourceName', (n) => `Invalid value given for parameter ServerName '${n}'. Specify a valid parameter value: lower-case letters, digits and hyphens, 1-63 characters.`),
    keep: ['properties.privateEndpointConnections'],
    secrets: ['properties.administratorLoginPassword'],
    shape(body, ctx) {
      const p = props(body);
      const entraOnly = getPath(p, 'administrators.azureADOnlyAuthentication') === true;
      const hasPassword = ctx.record.secrets?.['properties.administratorLoginPassword'] !== undefined;
      if (!entraOnly && (!p.administratorLogin || !hasPassword)) {
        throw new ArmError(400, 'InvalidParameterValue', 'Invalid value given for parameter Login. Specify a valid parameter value, or enable Microsoft Entra-only authentication with an Entra administrator.');
      }
      p.fullyQualifiedDomainName = `${String(body.name)}.database.windows.net`;
      p.state = 'Ready';
      p.version ??= '12.0';
      p.publicNetworkAccess ??= 'Enabled';
      p.minimalTlsVersion ??= 'None';
      if (p.administrators) (p.administrators as Record<string, unknown>).tenantId ??= ctx.env.tenantId;
    },
    async afterPut(record, ctx) {
      // A server's auditing settings exist from the start, disabled.
      await ensureSingleton(ctx, `${record.id}/auditingSettings/default`, 'Microsoft.Sql/servers/auditingSettings', { state: 'Disabled', retentionDays: 0, isAzureMonitorTargetEnabled: false, auditActionsAndGroups: [] });
    },
  },
  'Microsoft.Sql/servers/databases': {
    shape(body) {
      const p = props(body);
      const sku = (body.sku ?? { name: 'GP_S_Gen5', tier: 'GeneralPurpose', family: 'Gen5', capacity: 1 }) as Record<string, unknown>;
      body.sku = sku;
      p.status = 'Online';
      p.databaseId = hash('db', lower(String(body.id)));
      p.currentServiceObjectiveName = sku.name;
      p.requestedServiceObjectiveName = sku.name;
      p.collation ??= 'SQL_Latin1_General_CP1_CI_AS';
      if (/_S_/.test(String(sku.name))) {
        p.autoPauseDelay ??= 60;
        p.minCapacity ??= 0.5;
      }
      p.kind = 'v12.0,user,vcore,serverless';
    },
  },
  'Microsoft.Sql/servers/auditingSettings': { validateName: (n) => (n === 'default' ? undefined : new ArmError(400, 'InvalidResourceName', `Auditing settings must be named 'default', got '${n}'.`)) },

  'Microsoft.KeyVault/vaults': {
    validateName: nameRule(/^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/, 'VaultNameNotValid', (n) => `The vault name '${n}' is invalid. A vault's name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens.`),
    keep: ['properties.privateEndpointConnections'],
    shape(body) {
      const p = props(body);
      if (!p.tenantId) throw new ArmError(400, 'BadRequest', "A vault needs 'properties.tenantId'.");
      if (!p.sku) throw new ArmError(400, 'BadRequest', "A vault needs 'properties.sku' ({ family: 'A', name: 'standard' }).");
      p.vaultUri = `https://${String(body.name)}.vault.azure.net/`;
      p.enableSoftDelete ??= true;
      p.softDeleteRetentionInDays ??= 90;
      p.enableRbacAuthorization ??= false;
      p.accessPolicies ??= [];
      p.publicNetworkAccess ??= 'Enabled';
    },
  },
  'Microsoft.KeyVault/vaults/secrets': {
    secrets: ['properties.value'],
    shape(body, ctx) {
      const p = props(body);
      const vault = ctx.path.id.split('/').slice(0, -2).join('/');
      p.secretUri = `https://${vault.split('/').at(-1)}.vault.azure.net/secrets/${String(body.name)}`;
      p.secretUriWithVersion = `${String(p.secretUri)}/${hash('v', lower(ctx.path.id), new Date().toISOString()).replace(/-/g, '')}`;
      p.attributes = { enabled: true, created: Math.floor(Date.now() / 1000), updated: Math.floor(Date.now() / 1000) };
    },
  },

  'Microsoft.OperationalInsights/workspaces': {
    keep: ['properties.customerId'],
    shape(body) {
      const p = props(body);
      p.customerId ??= hash('law', lower(String(body.id)));
      p.sku ??= { name: 'PerGB2018' };
      p.retentionInDays ??= 30;
      p.publicNetworkAccessForIngestion ??= 'Enabled';
      p.publicNetworkAccessForQuery ??= 'Enabled';
    },
    actions: {
      sharedKeys: (r) => ok({ primarySharedKey: key64('law1', r.id), secondarySharedKey: key64('law2', r.id) }),
      listKeys: (r) => ok({ primarySharedKey: key64('law1', r.id), secondarySharedKey: key64('law2', r.id) }),
    },
  },
  'Microsoft.Insights/components': {
    keep: ['properties.InstrumentationKey', 'properties.AppId'],
    shape(body) {
      const p = props(body);
      p.InstrumentationKey ??= hash('ikey', lower(String(body.id)));
      p.AppId ??= hash('appid', lower(String(body.id)));
      p.ApplicationId = String(body.name);
      p.Application_Type ??= 'web';
      p.ConnectionString = `InstrumentationKey=${String(p.InstrumentationKey)};IngestionEndpoint=https://${String(body.location)}-0.in.applicationinsights.azure.com/;LiveEndpoint=https://${String(body.location)}.livediagnostics.monitor.azure.com/`;
      p.IngestionMode = p.WorkspaceResourceId ? 'LogAnalytics' : 'ApplicationInsights';
    },
  },
  'Microsoft.Insights/diagnosticSettings': {
    requiresLocation: false,
    shape(body) {
      const p = props(body);
      if (!p.workspaceId && !p.storageAccountId && !p.eventHubAuthorizationRuleId && !p.marketplacePartnerId) {
        throw new ArmError(400, 'BadRequest', 'A diagnostic setting needs at least one destination: workspaceId, storageAccountId or eventHubAuthorizationRuleId.');
      }
      for (const l of (p.logs ?? []) as Array<Record<string, unknown>>) {
        if (!l.category && !l.categoryGroup) throw new ArmError(400, 'BadRequest', 'Each entry of logs needs a category or a categoryGroup.');
        l.enabled = Boolean(l.enabled);
      }
    },
  },
  'Microsoft.Authorization/roleAssignments': {
    requiresLocation: false,
    validateName: (n) => (isGuid(n) ? undefined : new ArmError(400, 'InvalidRoleAssignmentId', `The role assignment ID '${n}' is not valid. The role assignment ID must be a GUID.`)),
    shape(body, ctx) {
      const p = props(body);
      if (!isGuid(String(p.principalId ?? ''))) throw new ArmError(400, 'InvalidPrincipalId', `A valid principal ID must be provided for role assignment; got '${String(p.principalId)}'.`);
      const roleDefinitionId = String(p.roleDefinitionId ?? '');
      if (!/\/providers\/Microsoft\.Authorization\/roleDefinitions\/[0-9a-f-]{36}$/i.test(roleDefinitionId)) {
        throw new ArmError(400, 'InvalidRoleDefinitionId', `The role definition ID '${roleDefinitionId}' is not valid.`);
      }
      const scope = ctx.path.scope ?? ctx.path.id.split('/providers/Microsoft.Authorization/')[0];
      p.scope = scope;
      p.principalType ??= 'User';
      p.createdOn ??= new Date().toISOString();
      p.updatedOn = new Date().toISOString();
      const clash = [...ctx.env.store.resources.values()].find(
        (r) =>
          lower(r.type) === 'microsoft.authorization/roleassignments' &&
          lower(r.id) !== lower(ctx.path.id) &&
          lower(String(getPath(r.body, 'properties.scope'))) === lower(scope) &&
          lower(String(getPath(r.body, 'properties.principalId'))) === lower(String(p.principalId)) &&
          lower(String(getPath(r.body, 'properties.roleDefinitionId')).split('/').at(-1)!) === lower(roleDefinitionId.split('/').at(-1)!),
      );
      if (clash) throw new ArmError(409, 'RoleAssignmentExists', `The role assignment already exists. The ID of the existing role assignment is ${clash.id.split('/').at(-1)}.`);
    },
  },
  'Microsoft.ManagedIdentity/userAssignedIdentities': {
    shape(body, ctx) {
      const p = props(body);
      p.principalId = principalIdOf(String(body.id));
      p.clientId = hash('client', lower(String(body.id)));
      p.tenantId = ctx.env.tenantId;
    },
  },

  'Microsoft.EventHub/namespaces': {
    validateName: nameRule(/^[A-Za-z][A-Za-z0-9-]{4,48}[A-Za-z0-9]$/, 'BadRequest', (n) => `The specified namespace name '${n}' is invalid: 6-50 letters, digits and hyphens, starting with a letter and ending with a letter or digit.`),
    keep: ['properties.privateEndpointConnections'],
    shape(body) {
      const p = props(body);
      const name = String(body.name);
      body.sku ??= { name: 'Standard', tier: 'Standard', capacity: 1 };
      p.serviceBusEndpoint = `https://${name}.servicebus.windows.net:443/`;
      p.metricId = `${hash('sub')}:${name}`;
      p.status = 'Active';
      p.disableLocalAuth ??= false;
      p.minimumTlsVersion ??= '1.2';
      p.kafkaEnabled = String((body.sku as Record<string, unknown>).name) !== 'Basic';
    },
  },
  'Microsoft.EventHub/namespaces/eventhubs': {
    shape(body, ctx) {
      const p = props(body);
      const count = Number(p.partitionCount ?? 4);
      const ns = ctx.svc.get(ctx.path.parentId!);
      const tier = String(getPath(ns?.body, 'sku.name') ?? 'Standard');
      const before = ctx.existing ? Number(getPath(ctx.existing.body, 'properties.partitionCount')) : undefined;
      if (before !== undefined && before !== count && (tier === 'Basic' || tier === 'Standard')) {
        throw new ArmError(400, 'BadRequest', `The partition count of an event hub in a ${tier} namespace cannot be changed (it is ${before}); delete the event hub and create it again with ${count} partitions.`);
      }
      p.partitionCount = count;
      p.partitionIds = Array.from({ length: count }, (_, i) => String(i));
      p.status ??= 'Active';
      p.messageRetentionInDays ??= 1;
      p.createdAt ??= new Date().toISOString();
    },
  },
  'Microsoft.EventHub/namespaces/authorizationRules': {
    actions: { listKeys: (r) => eventHubKeys(r) },
  },
  'Microsoft.EventHub/namespaces/eventhubs/authorizationRules': {
    actions: { listKeys: (r) => eventHubKeys(r) },
  },

  'Microsoft.StreamAnalytics/streamingjobs': {
    keep: ['properties.jobState', 'properties.jobId', 'properties.createdDate'],
    shape(body) {
      const p = props(body);
      p.jobState ??= 'Created';
      p.jobId ??= hash('asa', lower(String(body.id)));
      p.createdDate ??= new Date().toISOString();
      p.jobType ??= 'Cloud';
      p.eventsOutOfOrderPolicy ??= 'Adjust';
    },
    actions: {
      start: (r, _b, svc) => setRuntimeState(svc, r, 'properties.jobState', 'Running'),
      stop: (r, _b, svc) => setRuntimeState(svc, r, 'properties.jobState', 'Stopped'),
    },
  },

  'Microsoft.DataFactory/factories': {
    validateName: nameRule(/^[A-Za-z0-9](?!.*--)[A-Za-z0-9-]{1,61}[A-Za-z0-9]$/, 'InvalidResourceName', (n) => `Invalid factory name '${n}': 3-63 letters, digits and hyphens, starting and ending with a letter or digit.`),
    shape(body) {
      const p = props(body);
      p.createTime ??= new Date().toISOString();
      p.version = '2018-06-01';
      p.publicNetworkAccess ??= 'Enabled';
    },
  },
  'Microsoft.DataFactory/factories/triggers': {
    keep: ['properties.runtimeState'],
    shape(body, ctx) {
      const p = props(body);
      if (ctx.existing && getPath(ctx.existing.body, 'properties.runtimeState') === 'Started') {
        throw new ArmError(400, 'TriggerEnabledCannotUpdate', `Cannot update enabled Trigger; the trigger '${String(body.name)}' needs to be stopped first.`);
      }
      p.runtimeState ??= 'Stopped';
    },
    actions: {
      start: (r, _b, svc) => setRuntimeState(svc, r, 'properties.runtimeState', 'Started'),
      stop: (r, _b, svc) => setRuntimeState(svc, r, 'properties.runtimeState', 'Stopped'),
    },
  },
  'Microsoft.DataFactory/factories/integrationRuntimes': {
    shape(body) {
      const p = props(body);
      if (!p.type) throw new ArmError(400, 'BadRequest', "An integration runtime needs 'properties.type' (Managed or SelfHosted).");
      p.typeProperties ??= {};
    },
    actions: {
      listAuthKeys: (r) => ok({ authKey1: `IR@${hash('ir1', r.id)}@${String(r.body.name)}@ServiceEndpoint=emulator.servicebus.windows.net@${key64('ir1', r.id)}`, authKey2: `IR@${hash('ir2', r.id)}@${String(r.body.name)}@ServiceEndpoint=emulator.servicebus.windows.net@${key64('ir2', r.id)}` }),
      getStatus: (r) => ok({ name: r.body.name, properties: { type: getPath(r.body, 'properties.type'), state: getPath(r.body, 'properties.type') === 'SelfHosted' ? 'NeedRegistration' : 'Online' } }),
    },
  },

  'Microsoft.Synapse/workspaces': {
    validateName: nameRule(/^[a-z0-9](?!.*-ondemand$)[a-z0-9-]{0,48}[a-z0-9]$/, 'WorkspaceNameInvalid', (n) => `The workspace name '${n}' is invalid: 1-50 lower-case letters, digits and hyphens, not ending in '-ondemand'.`),
    keep: ['properties.privateEndpointConnections', 'properties.workspaceUID'],
    secrets: ['properties.sqlAdministratorLoginPassword'],
    shape(body) {
      const p = props(body);
      const name = String(body.name);
      if (!getPath(p, 'defaultDataLakeStorage.accountUrl') || !getPath(p, 'defaultDataLakeStorage.filesystem')) {
        throw new ArmError(400, 'ValidationFailed', 'A Synapse workspace needs defaultDataLakeStorage.accountUrl and defaultDataLakeStorage.filesystem (an ADLS Gen2 account and file system).');
      }
      p.connectivityEndpoints = {
        web: `https://web.azuresynapse.net?workspace=%2fsubscriptions%2f${String(body.id).split('/')[2]}%2fresourceGroups%2f${String(body.id).split('/')[4]}%2fproviders%2fMicrosoft.Synapse%2fworkspaces%2f${name}`,
        dev: `https://${name}.dev.azuresynapse.net`,
        sqlOnDemand: `${name}-ondemand.sql.azuresynapse.net`,
        sql: `${name}.sql.azuresynapse.net`,
      };
      p.managedResourceGroupName ??= `synapseworkspace-managedrg-${hash('mrg', lower(String(body.id)))}`;
      p.workspaceUID ??= hash('uid', lower(String(body.id)));
    },
  },
  'Microsoft.Synapse/workspaces/bigDataPools': {
    shape(body) {
      const p = props(body);
      p.autoPause ??= { enabled: false, delayInMinutes: 15 };
      p.creationDate ??= new Date().toISOString();
    },
  },
  'Microsoft.Synapse/workspaces/firewallRules': {},
  /**
   * A dedicated SQL pool: billed per DWU-hour while Online, storage only while Paused. `POST …/pause` and `…/resume`
   * (SqlPools_Pause / SqlPools_Resume, api-version 2021-06-01) move it between the two; a pool not in the state the
   * action starts from is refused, so a caller must read `properties.status` first.
   */
  'Microsoft.Synapse/workspaces/sqlPools': {
    keep: ['properties.status', 'properties.creationDate'],
    shape(body) {
      const p = props(body);
      p.status ??= 'Online';
      p.creationDate ??= new Date().toISOString();
      p.collation ??= 'SQL_Latin1_General_CP1_CI_AS';
      p.maxSizeBytes ??= 263_882_790_666_240;
    },
    actions: {
      pause: (r, _b, svc) => sqlPoolTransition(svc, r, 'Online', 'Paused'),
      resume: (r, _b, svc) => sqlPoolTransition(svc, r, 'Paused', 'Online'),
    },
  },

  'Microsoft.MachineLearningServices/workspaces': {
    keep: ['properties.workspaceId'],
    shape(body, ctx) {
      const p = props(body);
      for (const k of ['storageAccount', 'keyVault']) {
        const ref = String(p[k] ?? '');
        if (!ref) throw new ArmError(400, 'ValidationError', `A workspace needs properties.${k} (the id of its ${k === 'keyVault' ? 'key vault' : 'storage account'}).`);
        if (!ctx.svc.get(ref)) throw new ArmError(400, 'ValidationError', `The ${k} '${ref}' of workspace '${String(body.name)}' was not found.`);
      }
      for (const k of ['applicationInsights', 'containerRegistry']) {
        const ref = p[k];
        if (ref && !ctx.svc.get(String(ref))) throw new ArmError(400, 'ValidationError', `The ${k} '${String(ref)}' of workspace '${String(body.name)}' was not found.`);
      }
      p.workspaceId ??= hash('mlw', lower(String(body.id)));
      p.discoveryUrl = `https://${String(body.location)}.api.azureml.ms/discovery`;
      p.mlFlowTrackingUri = `azureml://${String(body.location)}.api.azureml.ms/mlflow/v1.0${String(body.id)}`;
      p.hbiWorkspace ??= false;
      p.publicNetworkAccess ??= 'Enabled';
    },
  },
  'Microsoft.MachineLearningServices/workspaces/computes': {},

  'Microsoft.Purview/accounts': {
    shape(body) {
      const p = props(body);
      const name = String(body.name);
      p.endpoints = { catalog: `https://${name}.purview.azure.com/catalog`, guardian: `https://${name}.purview.azure.com/guardian`, scan: `https://${name}.purview.azure.com/scan` };
      p.friendlyName ??= name;
      p.managedResourceGroupName ??= `managed-rg-${name}`;
      p.publicNetworkAccess ??= 'Enabled';
      p.createdAt ??= new Date().toISOString();
    },
  },

  'Microsoft.ContainerRegistry/registries': {
    validateName: nameRule(/^[a-zA-Z0-9]{5,50}$/, 'RegistryNameInvalid', (n) => `The registry name '${n}' is invalid: 5-50 letters and digits.`),
    keep: ['properties.privateEndpointConnections', 'properties.creationDate'],
    shape(body) {
      const p = props(body);
      if (!body.sku) throw new ArmError(400, 'BadRequest', "A registry needs 'sku' ({ name: 'Basic' | 'Standard' | 'Premium' }).");
      p.loginServer = `${lower(String(body.name))}.azurecr.io`;
      p.adminUserEnabled ??= false;
      p.creationDate ??= new Date().toISOString();
      p.publicNetworkAccess ??= 'Enabled';
    },
  },
  'Microsoft.ContainerInstance/containerGroups': {
    secrets: ['properties.diagnostics.logAnalytics.workspaceKey'],
    shape(body) {
      const p = props(body);
      if (!p.osType) throw new ArmError(400, 'InvalidOsType', "The 'osType' property is required (Linux or Windows).");
      const containers = (p.containers ?? []) as Array<Record<string, unknown>>;
      if (containers.length === 0) throw new ArmError(400, 'NoContainersSpecified', 'At least one container must be specified in the container group.');
      const started = new Date().toISOString();
      for (const c of containers) {
        const cp = (c.properties ?? {}) as Record<string, unknown>;
        if (!cp.image) throw new ArmError(400, 'InvalidContainerImage', `The container '${String(c.name)}' needs an image.`);
        cp.instanceView = { restartCount: 0, currentState: { state: 'Running', startTime: started, detailStatus: '' }, events: [] };
      }
      p.instanceView = { state: 'Running', events: [] };
      p.restartPolicy ??= 'Always';
      p.sku ??= 'Standard';
      if (p.ipAddress) (p.ipAddress as Record<string, unknown>).ip ??= publicIp(String(body.id));
    },
    actions: {
      stop: (r, _b, svc) => setRuntimeState(svc, r, 'properties.instanceView.state', 'Stopped'),
      start: (r, _b, svc) => setRuntimeState(svc, r, 'properties.instanceView.state', 'Running'),
      restart: (r, _b, svc) => setRuntimeState(svc, r, 'properties.instanceView.state', 'Running'),
    },
  },
};

/** Create a provider-owned singleton child (`blobServices/default`) unless it exists. */
async function ensureSingleton(ctx: ProviderCtx, id: string, type: string, properties: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<void> {
  if (ctx.svc.get(id)) return;
  const body = { id, name: id.split('/').at(-1), type, ...extra, properties };
  await ctx.svc.setInternal(ctx.svc.newRecord(parseResourceId(id)!, ctx.record.apiVersion, body));
}

/** Run `first` before a behaviour's own shape. */
function withShape(first: NonNullable<TypeBehaviour['shape']>, b: Pick<TypeBehaviour, 'shape' | 'afterPut'>): Pick<TypeBehaviour, 'shape' | 'afterPut'> {
  return {
    ...b,
    async shape(body, ctx) {
      await first(body, ctx);
      await b.shape?.(body, ctx);
    },
  };
}

function trafficManagerShape(body: Record<string, unknown>): void {
  const p = props(body);
  const dns = (p.dnsConfig ?? {}) as Record<string, unknown>;
  if (!dns.relativeName) throw new ArmError(400, 'BadRequest', "A Traffic Manager profile needs 'dnsConfig.relativeName'.");
  p.dnsConfig = { ...dns, fqdn: `${lower(String(dns.relativeName))}.trafficmanager.net`, ttl: dns.ttl ?? 60 };
  if (!['Performance', 'Priority', 'Weighted', 'Geographic', 'MultiValue', 'Subnet'].includes(String(p.trafficRoutingMethod))) {
    throw new ArmError(400, 'BadRequest', `trafficRoutingMethod '${String(p.trafficRoutingMethod)}' is not one of Performance, Priority, Weighted, Geographic, MultiValue, Subnet.`);
  }
  p.profileStatus ??= 'Enabled';
  if (p.monitorConfig) p.monitorConfig = { ...(p.monitorConfig as Record<string, unknown>), profileMonitorStatus: 'Online' };
}

function endpointShape(body: Record<string, unknown>): void {
  const p = props(body);
  p.endpointStatus ??= 'Enabled';
  p.endpointMonitorStatus = p.endpointStatus === 'Enabled' ? 'Online' : 'Disabled';
}

function eventHubKeys(r: ResourceRecord): Reply {
  const ns = r.id.split('/')[8];
  return ok({
    primaryKey: key64('ehp', r.id),
    secondaryKey: key64('ehs', r.id),
    keyName: r.body.name,
    primaryConnectionString: `Endpoint=sb://${ns}.servicebus.windows.net/;SharedAccessKeyName=${String(r.body.name)};SharedAccessKey=${key64('ehp', r.id)}`,
    secondaryConnectionString: `Endpoint=sb://${ns}.servicebus.windows.net/;SharedAccessKeyName=${String(r.body.name)};SharedAccessKey=${key64('ehs', r.id)}`,
  });
}

async function sqlPoolTransition(svc: ResourceService, r: ResourceRecord, from: string, to: string): Promise<Reply> {
  const status = String(getPath(r.body, 'properties.status') ?? 'Online');
  if (status !== from) {
    throw new ArmError(409, 'Conflict', `The SQL pool '${String(r.body.name)}' is ${status}; it can be ${to === 'Paused' ? 'paused' : 'resumed'} only when it is ${from}.`);
  }
  await setRuntimeState(svc, r, 'properties.status', to);
  return ok({ ...structuredClone(r.body), properties: { ...(r.body.properties as Record<string, unknown>), status: to } });
}

async function setRuntimeState(svc: ResourceService, r: ResourceRecord, path: string, value: string): Promise<Reply> {
  const updated = structuredClone(r);
  const segs = path.split('.');
  let cur = updated.body as Record<string, unknown>;
  for (const s of segs.slice(0, -1)) cur = (cur[s] ??= {}) as Record<string, unknown>;
  cur[segs.at(-1)!] = value;
  updated.changedAt = new Date().toISOString();
  await svc.setInternal(updated);
  return { status: 200 };
}

function privateFqdn(target: ResourceRecord, groupId: string): string {
  const name = lower(String(target.body.name));
  switch (lower(target.type)) {
    case 'microsoft.sql/servers':
      return `${name}.database.windows.net`;
    case 'microsoft.storage/storageaccounts':
      return `${name}.${lower(groupId)}.core.windows.net`;
    case 'microsoft.keyvault/vaults':
      return `${name}.vault.azure.net`;
    case 'microsoft.documentdb/databaseaccounts':
      return `${name}.documents.azure.com`;
    case 'microsoft.eventhub/namespaces':
      return `${name}.servicebus.windows.net`;
    default:
      return `${name}.${lower(groupId)}.privatelink.azure.net`;
  }
}

const isGuid = (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

const LOWER_BEHAVIOURS = new Map(Object.entries(BEHAVIOURS).map(([k, v]) => [lower(k), v]));

export function behaviourOf(type: string): TypeBehaviour {
  return LOWER_BEHAVIOURS.get(lower(type)) ?? {};
}

/**
 * The resource types the emulator serves and their api-versions (newest first): what
 * `GET /providers/{namespace}` reports, and the only versions a request or a template may use — any
 * other is refused as Azure refuses it (NoRegisteredProviderFound; an unknown type InvalidResourceType).
 * Every version here must be one the Bicep compiler has types for (it reads Azure's published REST
 * specifications): tests/arm/providersAgainstBicep.test.ts holds this table to the compiler.
 */
export function knownApiVersions(): Record<string, string[]> {
  return {
    'Microsoft.Resources/tags': ['2024-03-01', '2022-09-01'],
    'Microsoft.Network/trafficManagerProfiles/externalEndpoints': ['2022-04-01'],
    'Microsoft.EventHub/namespaces/authorizationRules': ['2024-01-01', '2021-11-01'],
    'Microsoft.EventHub/namespaces/eventhubs/authorizationRules': ['2024-01-01', '2021-11-01'],
    'Microsoft.Resources/resourceGroups': ['2025-04-01', '2024-03-01', '2022-09-01'],
    'Microsoft.Resources/deployments': ['2026-06-01', '2025-04-01', '2024-03-01'],
    'Microsoft.Storage/storageAccounts': ['2024-01-01', '2023-05-01', '2023-01-01'],
    'Microsoft.Storage/storageAccounts/blobServices': ['2024-01-01', '2023-05-01'],
    'Microsoft.Storage/storageAccounts/blobServices/containers': ['2024-01-01', '2023-05-01'],
    'Microsoft.Storage/storageAccounts/managementPolicies': ['2024-01-01', '2023-05-01'],
    'Microsoft.Storage/storageAccounts/objectReplicationPolicies': ['2024-01-01', '2023-05-01'],
    'Microsoft.DocumentDB/databaseAccounts': ['2024-11-15', '2024-08-15', '2024-05-15'],
    'Microsoft.DocumentDB/databaseAccounts/sqlDatabases': ['2024-11-15', '2024-08-15'],
    'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers': ['2024-11-15', '2024-08-15'],
    'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments': ['2024-11-15', '2024-08-15'],
    'Microsoft.Web/serverfarms': ['2024-04-01', '2023-12-01'],
    'Microsoft.Web/sites': ['2024-04-01', '2023-12-01'],
    'Microsoft.Web/sites/config': ['2024-04-01', '2023-12-01'],
    'Microsoft.Network/trafficManagerProfiles': ['2022-04-01'],
    'Microsoft.Network/trafficManagerProfiles/azureEndpoints': ['2022-04-01'],
    'Microsoft.Network/virtualNetworks': ['2024-05-01', '2024-01-01', '2023-11-01'],
    'Microsoft.Network/virtualNetworks/subnets': ['2024-05-01', '2024-01-01'],
    'Microsoft.Network/publicIPAddresses': ['2024-05-01', '2024-01-01'],
    'Microsoft.Network/virtualNetworkGateways': ['2024-05-01', '2024-01-01'],
    'Microsoft.Network/localNetworkGateways': ['2024-05-01', '2024-01-01'],
    'Microsoft.Network/connections': ['2024-05-01', '2024-01-01'],
    'Microsoft.Network/privateEndpoints': ['2024-05-01', '2024-01-01', '2023-11-01'],
    'Microsoft.Network/privateEndpoints/privateDnsZoneGroups': ['2024-05-01', '2024-01-01'],
    'Microsoft.Network/privateDnsZones': ['2024-06-01', '2020-06-01'],
    'Microsoft.Network/privateDnsZones/virtualNetworkLinks': ['2024-06-01', '2020-06-01'],
    'Microsoft.Network/privateDnsZones/A': ['2024-06-01', '2020-06-01'],
    'Microsoft.Sql/servers': ['2023-08-01', '2021-11-01'],
    'Microsoft.Sql/servers/databases': ['2023-08-01', '2021-11-01'],
    'Microsoft.Sql/servers/auditingSettings': ['2023-08-01', '2021-11-01'],
    'Microsoft.Sql/servers/privateEndpointConnections': ['2023-08-01', '2021-11-01'],
    'Microsoft.KeyVault/vaults': ['2024-11-01', '2023-07-01'],
    'Microsoft.KeyVault/vaults/secrets': ['2024-11-01', '2023-07-01'],
    'Microsoft.OperationalInsights/workspaces': ['2023-09-01', '2022-10-01'],
    'Microsoft.Insights/components': ['2020-02-02'],
    'Microsoft.Insights/diagnosticSettings': ['2021-05-01-preview'],
    'Microsoft.Authorization/roleAssignments': ['2022-04-01'],
    'Microsoft.ManagedIdentity/userAssignedIdentities': ['2023-01-31'],
    'Microsoft.EventHub/namespaces': ['2024-01-01', '2021-11-01'],
    'Microsoft.EventHub/namespaces/eventhubs': ['2024-01-01', '2021-11-01'],
    'Microsoft.EventHub/namespaces/eventhubs/consumergroups': ['2024-01-01', '2021-11-01'],
    'Microsoft.StreamAnalytics/streamingjobs': ['2021-10-01-preview', '2020-03-01'],
    'Microsoft.DataFactory/factories': ['2018-06-01'],
    'Microsoft.DataFactory/factories/triggers': ['2018-06-01'],
    'Microsoft.DataFactory/factories/integrationRuntimes': ['2018-06-01'],
    'Microsoft.DataFactory/factories/linkedservices': ['2018-06-01'],
    'Microsoft.DataFactory/factories/pipelines': ['2018-06-01'],
    'Microsoft.Synapse/workspaces': ['2021-06-01'],
    'Microsoft.Synapse/workspaces/bigDataPools': ['2021-06-01'],
    'Microsoft.Synapse/workspaces/sqlPools': ['2021-06-01'],
    'Microsoft.Synapse/workspaces/firewallRules': ['2021-06-01'],
    'Microsoft.MachineLearningServices/workspaces': ['2024-10-01', '2024-04-01'],
    'Microsoft.MachineLearningServices/workspaces/computes': ['2024-10-01', '2024-04-01'],
    'Microsoft.Purview/accounts': ['2021-12-01', '2021-07-01'],
    'Microsoft.ContainerRegistry/registries': ['2023-07-01', '2023-11-01-preview'],
    'Microsoft.ContainerInstance/containerGroups': ['2023-05-01'],
  };
}

export { fullName };

const LOWER_VERSIONS = new Map(Object.entries(knownApiVersions()).map(([k, v]) => [lower(k), { type: k, versions: v }]));

/**
 * Azure's answer to a request or template resource whose type or api-version the provider does not
 * have: `InvalidResourceType` (400) for a type its namespace lacks, `NoRegisteredProviderFound` (400)
 * for a version the type lacks — with the supported versions, as ARM lists them. Undefined when fine.
 */
export function apiVersionError(type: string, apiVersion: string, location = ''): ArmError | undefined {
  const known = LOWER_VERSIONS.get(lower(type));
  const [namespace, ...rest] = type.split('/');
  if (!known) {
    return new ArmError(400, 'InvalidResourceType', `The resource type '${rest.join('/')}' could not be found in the namespace '${namespace}' for api version '${apiVersion}'.`);
  }
  if (known.versions.some((v) => lower(v) === lower(apiVersion))) return undefined;
  return new ArmError(
    400,
    'NoRegisteredProviderFound',
    `No registered resource provider found for location '${location}' and API version '${apiVersion}' for type '${rest.join('/')}'. The supported api-versions are '${known.versions.join(', ')}'. The supported locations are ''.`,
  );
}

/**
 * What each type requires in a PUT body besides `location` (which follows `requiresLocation`): top-level
 * names and `properties.<name>`, as the Bicep compiler's types for the api-versions above mark them
 * required (BCP035; BCP078 for a discriminator such as a trigger's `type`). Held to the compiler by
 * tests/arm/providersAgainstBicep.test.ts; types not listed require nothing else.
 */
export const REQUIRED_PROPERTIES: Record<string, string[]> = {
  'Microsoft.Resources/deployments': ['properties.mode'],
  'Microsoft.Storage/storageAccounts': ['kind', 'sku'],
  'Microsoft.Storage/storageAccounts/managementPolicies': ['properties.policy'],
  'Microsoft.Storage/storageAccounts/objectReplicationPolicies': ['properties.destinationAccount', 'properties.sourceAccount'],
  'Microsoft.DocumentDB/databaseAccounts': ['properties.databaseAccountOfferType', 'properties.locations'],
  'Microsoft.DocumentDB/databaseAccounts/sqlDatabases': ['properties.resource'],
  'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers': ['properties.resource'],
  'Microsoft.Network/connections': ['properties.connectionType', 'properties.virtualNetworkGateway1'],
  'Microsoft.Sql/servers/auditingSettings': ['properties.state'],
  'Microsoft.KeyVault/vaults': ['properties.sku', 'properties.tenantId'],
  'Microsoft.Insights/components': ['kind', 'properties.Application_Type'],
  'Microsoft.Authorization/roleAssignments': ['properties.principalId', 'properties.roleDefinitionId'],
  'Microsoft.DataFactory/factories/triggers': ['properties.type'],
  'Microsoft.DataFactory/factories/integrationRuntimes': ['properties.type'],
  'Microsoft.DataFactory/factories/linkedservices': ['properties.type'],
  'Microsoft.MachineLearningServices/workspaces/computes': ['properties.computeType'],
  'Microsoft.ContainerRegistry/registries': ['sku'],
  'Microsoft.ContainerInstance/containerGroups': ['properties.containers', 'properties.osType'],
  'Microsoft.EventHub/namespaces/authorizationRules': ['properties.rights'],
  'Microsoft.EventHub/namespaces/eventhubs/authorizationRules': ['properties.rights'],
};
const LOWER_REQUIRED = new Map(Object.entries(REQUIRED_PROPERTIES).map(([k, v]) => [lower(k), v]));

/** The required paths (see REQUIRED_PROPERTIES) a PUT body lacks; property names match case-insensitively, as in ARM. */
export function missingRequired(type: string, body: Record<string, unknown>): string[] {
  const get = (o: unknown, key: string): unknown => {
    if (!o || typeof o !== 'object' || Array.isArray(o)) return undefined;
    const k = Object.keys(o).find((x) => lower(x) === lower(key));
    return k === undefined ? undefined : (o as Record<string, unknown>)[k];
  };
  return (LOWER_REQUIRED.get(lower(type)) ?? []).filter((p) => {
    const v = p.split('.').reduce<unknown>((o, k) => get(o, k), body);
    return v === undefined || v === null;
  });
}

/** Whether a PUT of `type` must carry a location (`topLevel`: not a child, not an extension resource). */
export function requiresLocation(type: string, topLevel: boolean): boolean {
  return behaviourOf(type).requiresLocation ?? (topLevel || TRACKED_CHILD_TYPES.has(lower(type)));
}
