/**
 * The ARM emulator's deployment times: each resource waits Azure's typical create time for its type
 * (azure/deploymentTimes.ts, shared with the product's hot-start lead time) times the emulator's scale.
 */
import { typicalProvisionMs } from '../../azure/deploymentTimes';

export { DEFAULT_MS, TYPICAL_PROVISION, typicalProvisionMs } from '../../azure/deploymentTimes';

/** The emulator's deployment-time setting: off (undefined or scale 0) = today's speed. */
export interface DeploymentTimes {
  /** Multiplies the typical durations: 1 = Azure's own, 0.01 = a rehearsal at 1/100 (a VPN gateway in 21 s). */
  scale: number;
}

export function validateDeploymentTimes(t: DeploymentTimes | undefined): void {
  if (t && !(Number.isFinite(t.scale) && t.scale >= 0)) throw new Error(`ARM emulator deploymentTimes.scale must be a number >= 0, got ${t.scale}`);
}

/** How long the emulator holds this resource before writing it (0 when deployment times are off). */
export function provisionDelayMs(times: DeploymentTimes | undefined, resourceType: string, body?: Record<string, unknown>): number {
  if (!times || times.scale <= 0) return 0;
  return Math.round(typicalProvisionMs(resourceType, body) * times.scale);
}
