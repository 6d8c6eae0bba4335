/**
 * Resource Manager's error envelope: every non-2xx answer (and a failed deployment's `error`) is
 * `{"error": {"code", "message", "target"?, "details"?: [...]}}`, the shape `@azure/core-rest-pipeline`
 * turns into a `RestError` with `code` and the SDKs expose as `details`.
 */
export interface ArmErrorBody {
  code: string;
  message: string;
  target?: string;
  details?: ArmErrorBody[];
  additionalInfo?: Array<{ type: string; info: unknown }>;
}

export class ArmError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: ArmErrorBody[],
    readonly headers: Record<string, string> = {},
    readonly target?: string,
  ) {
    super(message);
  }

  body(): { error: ArmErrorBody } {
    return { error: toErrorBody(this) };
  }
}

export function toErrorBody(e: ArmError): ArmErrorBody {
  const body: ArmErrorBody = { code: e.code, message: e.message };
  if (e.target) body.target = e.target;
  if (e.details?.length) body.details = e.details;
  return body;
}

/** A template problem found before anything is deployed: ARM answers 400 InvalidTemplate. */
export function invalidTemplate(message: string, target?: string): ArmError {
  return new ArmError(400, 'InvalidTemplate', `Deployment template validation failed: '${message}'.`, undefined, {}, target);
}

export const notFound = (what: string, message: string) => new ArmError(404, what, message);
