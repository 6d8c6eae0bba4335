import { ArmError } from './errors';
import type { EmulatorEnv, Reply, RequestContext } from './emulator';
import type { ResourceService } from './resources';
import type { GroupRecord } from './store';

/** Microsoft.Resources/deployments: PUT (LRO), GET, validate, operation status, operations. */
export class DeploymentService {
  constructor(
    private readonly env: EmulatorEnv,
    private readonly resources: ResourceService,
  ) {}

  async handle(ctx: RequestContext, _rg: GroupRecord, _segs: string[]): Promise<Reply> {
    throw new ArmError(501, 'NotImplemented', `Deployments are not implemented yet (${ctx.method}).`);
  }

  async cancelGroup(_name: string): Promise<void> {}

  resumeAfterRestart(): void {}

  async pause(): Promise<void> {}
}
