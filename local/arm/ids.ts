/**
 * Resource ids and request paths. ARM treats names and types case-insensitively but returns the
 * casing they were created with; the emulator keys everything by the lower-cased id and keeps the
 * original in the record.
 */
export interface ResourcePath {
  subscriptionId: string;
  resourceGroup: string;
  /** Full id of the addressed resource (without a trailing collection or action segment). */
  id: string;
  /** `Microsoft.Storage/storageAccounts/blobServices` — for an extension resource, its own type. */
  type: string;
  /** `account/default` — parent names joined with `/`, as in ARM templates. */
  name: string;
  /** For an extension resource (`{scope}/providers/Microsoft.Insights/diagnosticSettings/x`): the scope's id. */
  scope?: string;
  /** The id of the parent resource for a child (`.../servers/s/databases/d` → `.../servers/s`). */
  parentId?: string;
}

/** A path ending in a type without a name: a collection (GET) or an action (POST). */
export interface CollectionPath {
  /** The resource (or resource group) the collection hangs off. */
  ownerId: string;
  /** Full type of the collection's members. */
  type: string;
  /** The last segment as written, e.g. `start` or `listKeys` for an action. */
  segment: string;
  /** For an extension collection (`{scope}/providers/Microsoft.Insights/diagnosticSettings`). */
  extension: boolean;
}

export const lower = (s: string) => s.toLowerCase();

export function groupId(subscriptionId: string, resourceGroup: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`;
}

/**
 * Parse the provider part of a resource-group-scoped path: `segs` starts at the first `providers`
 * segment. Returns the addressed resource, or the collection the path names when it ends in a type.
 */
export function parseProviderPath(
  subscriptionId: string,
  resourceGroup: string,
  segs: string[],
): { resource?: ResourcePath; collection?: CollectionPath } | undefined {
  let id = groupId(subscriptionId, resourceGroup);
  let type = '';
  let name = '';
  let scope: string | undefined;
  let parentId: string | undefined;
  let i = 0;
  let first = true;
  while (i < segs.length) {
    if (lower(segs[i]) !== 'providers') return undefined;
    const ns = segs[i + 1];
    if (!ns) return undefined;
    if (!first) scope = id;
    const base = id;
    i += 2;
    let t = ns;
    let n = '';
    let pairs = 0;
    let localId = `${base}/providers/${ns}`;
    while (i < segs.length && lower(segs[i]) !== 'providers') {
      const seg = segs[i];
      const nameSeg = segs[i + 1];
      if (nameSeg === undefined || lower(nameSeg) === 'providers') {
        // A trailing type segment (collection), or an action on the resource so far.
        if (pairs === 0) return undefined;
        if (i + 1 < segs.length) return undefined;
        return {
          resource: { subscriptionId, resourceGroup, id: localId, type: t, name: n, scope, parentId: pairs > 1 ? parentOf(localId) : undefined },
          collection: { ownerId: localId, type: `${t}/${seg}`, segment: seg, extension: false },
        };
      }
      t = `${t}/${seg}`;
      n = n ? `${n}/${nameSeg}` : nameSeg;
      localId = `${localId}/${seg}/${nameSeg}`;
      pairs++;
      i += 2;
    }
    if (pairs === 0) {
      // `{scope}/providers/Microsoft.Insights` followed by nothing, or `{scope}/providers/ns/type` — handled above.
      return undefined;
    }
    parentId = pairs > 1 ? parentOf(localId) : undefined;
    id = localId;
    type = t;
    name = n;
    first = false;
  }
  if (!type) return undefined;
  return { resource: { subscriptionId, resourceGroup, id, type, name, scope, parentId } };
}

function parentOf(id: string): string {
  return id.split('/').slice(0, -2).join('/');
}

/** Parse a full resource id (as found in templates and request bodies). */
export function parseResourceId(id: string): ResourcePath | undefined {
  const segs = id.split('/').filter(Boolean);
  if (segs.length < 4 || lower(segs[0]) !== 'subscriptions' || lower(segs[2]) !== 'resourcegroups') return undefined;
  if (segs.length === 4) return undefined;
  const parsed = parseProviderPath(segs[1], segs[3], segs.slice(4));
  return parsed?.collection ? undefined : parsed?.resource;
}

/** Collection paths like `{scope}/providers/Microsoft.Insights/diagnosticSettings` (an extension type on a scope). */
export function parseExtensionCollection(subscriptionId: string, resourceGroup: string, segs: string[]): CollectionPath | undefined {
  // segs ends with `providers/<ns>/<type>` and what comes before is a resource (or nothing: the group).
  if (segs.length < 3 || lower(segs[segs.length - 3]) !== 'providers') return undefined;
  const scopeSegs = segs.slice(0, -3);
  const ns = segs[segs.length - 2];
  const type = segs[segs.length - 1];
  let ownerId = groupId(subscriptionId, resourceGroup);
  if (scopeSegs.length > 0) {
    const scope = parseProviderPath(subscriptionId, resourceGroup, scopeSegs);
    if (!scope?.resource || scope.collection) return undefined;
    ownerId = scope.resource.id;
  }
  return { ownerId, type: `${ns}/${type}`, segment: type, extension: true };
}
