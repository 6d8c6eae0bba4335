import { ArmError } from './errors';
import type { EmulatorEnv, Reply, RequestContext } from './emulator';
import { lower } from './ids';
import type { GroupRecord } from './store';

/** Generic resources: GET/PUT/PATCH/DELETE by id, lists, extension resources, resource-provider behaviour. */
export class ResourceService {
  constructor(private readonly env: EmulatorEnv) {}

  async handle(ctx: RequestContext, _rg: GroupRecord, _segs: string[]): Promise<Reply> {
    throw new ArmError(501, 'NotImplemented', `Generic resources are not implemented yet (${ctx.method}).`);
  }

  listGroup(_ctx: RequestContext, rg: GroupRecord): Reply {
    const key = lower(rg.name);
    return { status: 200, body: { value: [...this.env.store.resources.values()].filter((r) => lower(r.resourceGroup) === key).map((r) => r.body) } };
  }

  listSubscription(_ctx: RequestContext): Reply {
    return { status: 200, body: { value: [...this.env.store.resources.values()].map((r) => r.body) } };
  }

  async deleteGroupContents(name: string): Promise<void> {
    const key = lower(name);
    for (const r of [...this.env.store.resources.values()]) if (lower(r.resourceGroup) === key) await this.env.store.deleteResource(r.id);
  }
}
