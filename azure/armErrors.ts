/**
 * What went wrong with a Resource Manager call, in the two kinds the orchestration acts on:
 * transient (retry, after `retryAfterSeconds` when ARM said so) and permanent (stop and tell the
 * instructor what to do). Pure: no I/O, so orchestrations import {@link armFailureOf} from here.
 *
 * Why names *and* text: an activity's exception reaches the orchestration as a TaskFailedError whose
 * `failureDetails.errorType` is the error's name on the local host, but on the Azure Functions host
 * the name may only survive inside the message. So the class name is the error's `name`, the
 * message says "(retry after N s)" when ARM sent Retry-After, and {@link armFailureOf} reads all of it.
 */

export type ArmFailureKind = 'transient' | 'permanent';
/** Either kind; `kind` tells them apart. */
export type ArmError = TransientArmError | PermanentArmError;

/**
 * A failed Resource Manager call (provisioning, validation, teardown alike), of one of the two kinds.
 * The kind is in the class name because the name is what survives the trip through the durable runtime.
 */
abstract class ArmCallError extends Error {
  abstract readonly kind: ArmFailureKind;
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly retryAfterSeconds?: number,
  ) {
    super(retryAfterSeconds !== undefined ? `${message} (retry after ${retryAfterSeconds} s)` : message);
  }
}

export class TransientArmError extends ArmCallError {
  override readonly name = 'TransientArmError';
  readonly kind = 'transient';
}

export class PermanentArmError extends ArmCallError {
  override readonly name = 'PermanentArmError';
  readonly kind = 'permanent';
  constructor(message: string, code: string | undefined) {
    super(message, code);
  }
}

export interface ArmFailure {
  kind: ArmFailureKind | 'unknown';
  /** ARM throttled the subscription (429): back every learner off, not just this one. */
  throttled: boolean;
  retryAfterSeconds?: number;
  /** The message without the error-type prefix the durable runtime adds. */
  message: string;
}

// `…ProvisioningError` is the name earlier versions gave deployment failures; histories of instances
// still running may carry it.
const NAME = /\b(Transient|Permanent)(Provisioning|Arm)Error\b/;
const RETRY_AFTER = /\(retry after (\d+(?:\.\d+)?) s\)/;

/**
 * Reads an activity failure as the orchestration sees it (TaskFailedError, or the original error
 * when called directly). Unknown failures are neither: the caller decides (usually: retry a few times).
 */
export function armFailureOf(err: unknown): ArmFailure {
  const e = err as { name?: string; message?: string; failureDetails?: { errorType?: string; errorMessage?: string } } | undefined;
  const type = e?.failureDetails?.errorType ?? '';
  const raw = e?.failureDetails?.errorMessage ?? e?.message ?? String(err);
  const text = `${type} ${e?.name ?? ''} ${raw}`;
  const m = NAME.exec(text);
  const ra = RETRY_AFTER.exec(raw);
  const message = raw.replace(/^Activity function '[^']*' failed: /, '').replace(/^(Transient|Permanent)(Provisioning|Arm)Error: /, '');
  const kind = m ? (m[1] === 'Transient' ? 'transient' : 'permanent') : 'unknown';
  return {
    kind,
    throttled: kind === 'transient' && /\bHTTP 429\b|throttled the learner subscription/.test(message),
    ...(ra ? { retryAfterSeconds: Number(ra[1]) } : {}),
    message,
  };
}

// ─── classification of ARM errors ────────────────────────────────────────────────────────────

/** ARM error body: `{ code, message, details?: [...] }` (deployment errors nest, sometimes as JSON text). */
export interface ArmErrorBody {
  code?: string;
  message?: string;
  target?: string;
  details?: ArmErrorBody[];
}

/** Where the failure happened, so the instructor's message names the place. */
export interface FailureContext {
  /** e.g. `deploying pack "lakehouse" for learner "ada"`. */
  what: string;
  location?: string;
  resourceGroupName?: string;
}

const TRANSIENT_CODES = new Set(
  [
    'TooManyRequests',
    'SubscriptionRequestsThrottled',
    'ResourceGroupRequestsThrottled',
    'TenantRequestsThrottled',
    'RetryableError',
    'RetryableErrorDueToAnotherOperation',
    'InternalServerError',
    'InternalError',
    'ServerTimeout',
    'GatewayTimeout',
    'ServiceUnavailable',
    'ServerBusy',
    'OperationTimedOut',
    'DeploymentActive',
    'AnotherOperationInProgress',
    'OperationNotAllowedDueToAnotherOperation',
    'ResourceGroupBeingDeleted',
    'ResourceNotReady',
    'Canceled',
  ].map((c) => c.toLowerCase()),
);

const QUOTA_CODES = new Set(['quotaexceeded', 'operationnotallowed', 'skunotavailable', 'regionalquotaexceeded', 'corequotaexceeded', 'zonalallocationfailed', 'allocationfailed']);

/** Classify an error thrown by an SDK call (RestError), a raw call ({@link armHttpError}), or the network. */
export function classifyArmError(err: unknown, ctx: FailureContext): TransientArmError | PermanentArmError {
  if (err instanceof TransientArmError || err instanceof PermanentArmError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string; details?: { error?: ArmErrorBody }; response?: { headers?: { get?(n: string): string | undefined } }; retryAfterSeconds?: number; name?: string };
  const status = e?.statusCode;
  const body: ArmErrorBody = e?.details?.error ?? { code: e?.code, message: e?.message };
  const retryAfter = e?.retryAfterSeconds ?? parseRetryAfter(e?.response?.headers?.get?.('retry-after'));
  const code = body.code ?? e?.code;
  const text = body.message ?? e?.message ?? String(err);

  if (e?.name === 'AbortError') throw err; // not ours to classify: the caller cancelled
  if (status === undefined) {
    // No HTTP status: the request never got an answer (DNS, reset, TLS, timeout) → worth retrying.
    return new TransientArmError(`Resource Manager could not be reached while ${ctx.what}: ${text}`, code ?? 'REQUEST_SEND_ERROR', retryAfter);
  }
  if (status === 429) {
    return new TransientArmError(`Resource Manager throttled the learner subscription while ${ctx.what} (HTTP 429 ${code ?? ''}).`.replace(' )', ')'), code ?? 'TooManyRequests', retryAfter ?? 30);
  }
  if (status >= 500 || status === 408) {
    return new TransientArmError(`Resource Manager answered HTTP ${status}${code ? ` ${code}` : ''} while ${ctx.what}: ${text}`, code, retryAfter);
  }
  if (status === 409 && (code === undefined || TRANSIENT_CODES.has(code.toLowerCase()) || /conflict/i.test(code))) {
    return new TransientArmError(`Another operation is running on the learner's resources while ${ctx.what} (HTTP 409 ${code ?? 'Conflict'}): ${text}`, code, retryAfter);
  }
  // ARM's preflight answers 400 InvalidTemplateDeployment with the real cause (a quota, a policy) inside.
  const leaves = e?.details?.error ? leafErrors({ ...body, code: code ?? `HTTP${status}` }) : [{ code: code ?? `HTTP${status}`, message: text }];
  return permanentFor(leaves, ctx);
}

/**
 * Classify a failed deployment's `properties.error`. Any permanent leaf makes the whole failure
 * permanent (retrying cannot fix a template error or a quota); all-transient leaves are retried.
 */
export function classifyDeploymentError(error: ArmErrorBody | undefined, ctx: FailureContext): TransientArmError | PermanentArmError {
  const leaves = leafErrors(error ?? { code: 'DeploymentFailed', message: 'The deployment failed without an error description.' });
  const permanent = leaves.filter((l) => !TRANSIENT_CODES.has((l.code ?? '').toLowerCase()));
  if (permanent.length === 0) {
    const first = leaves[0];
    return new TransientArmError(`The deployment hit a transient Azure error while ${ctx.what}: ${first?.code}: ${first?.message}`, first?.code);
  }
  return permanentFor(permanent, ctx);
}

function permanentFor(leaves: ArmErrorBody[], ctx: FailureContext): PermanentArmError {
  const where = ctx.location ? ` in ${ctx.location}` : '';
  const first = leaves[0] ?? {};
  const code = first.code ?? 'Unknown';
  const lc = code.toLowerCase();
  const msg = first.message ?? '';
  const quota = leaves.find((l) => QUOTA_CODES.has((l.code ?? '').toLowerCase()) || /quota/i.test(l.message ?? ''));
  if (quota) {
    const sku = /\b(Standard_[A-Za-z0-9_]+|Basic_[A-Za-z0-9_]+|[A-Z][A-Za-z]+ ?v?Cores?|VpnGw\d\w*)\b/.exec(quota.message ?? '')?.[1];
    return new PermanentArmError(
      `Quota exceeded${sku ? ` for ${sku}` : ''}${where} while ${ctx.what}: request a quota increase for the learner subscription ` +
        `(Azure portal → Quotas) or move the run to another region. Azure said: ${quota.code}: ${quota.message}`,
      quota.code,
    );
  }
  const policy = leaves.find((l) => /RequestDisallowedByPolicy|PolicyViolation|DisallowedByPolicy/i.test(l.code ?? ''));
  if (policy) {
    return new PermanentArmError(
      `An Azure Policy assignment denied a resource while ${ctx.what}: ask the owner of the learner subscription to exempt the workshop's ` +
        `resource groups or allow the resource, or adjust the pack's template. Azure said: ${policy.code}: ${policy.message}`,
      policy.code,
    );
  }
  if (/^(AuthorizationFailed|LinkedAuthorizationFailed|InvalidAuthenticationToken|AuthenticationFailed)$/i.test(code)) {
    return new PermanentArmError(
      `The app's identity is not allowed to do this while ${ctx.what}: grant it Contributor and User Access Administrator on the learner subscription. Azure said: ${code}: ${msg}`,
      code,
    );
  }
  if (/^MissingSubscriptionRegistration$/i.test(code)) {
    return new PermanentArmError(
      `A resource provider is not registered in the learner subscription while ${ctx.what}: register it (az provider register --namespace …) and start the step again. Azure said: ${msg}`,
      code,
    );
  }
  if (/AlreadyExists|AlreadyTaken|NameNotAvailable|NameUnavailable|NotUnique/i.test(code)) {
    return new PermanentArmError(
      `A globally unique resource name is already taken while ${ctx.what}: provision again with a different name prefix. Azure said: ${code}: ${msg}`,
      code,
    );
  }
  if (/template|InvalidRequestContent|InvalidDeployment|InvalidParameter|BadRequest|ValidationError|UnsupportedFunction|Unsupported/i.test(lc)) {
    return new PermanentArmError(
      `The pack's ARM template was rejected while ${ctx.what}: fix the template or its parameters (the pack author's job) and start the step again. Azure said: ${code}: ${msg}`,
      code,
    );
  }
  const all = [...new Set(leaves.map((l) => `${l.code}: ${(l.message ?? '').replace(/\.+$/, '')}`))].join('; ');
  return new PermanentArmError(
    `Azure refused the deployment while ${ctx.what}${where}: ${all}. Open the resource group's Deployments blade for the failing operation, fix the cause and start the step again.`,
    code,
  );
}

/** The innermost errors of an ARM error tree; a message that is itself JSON (ARM nests them) is opened. */
export function leafErrors(error: ArmErrorBody): ArmErrorBody[] {
  const nested = parseNested(error.message);
  const details = [...(error.details ?? []), ...(nested ? [nested] : [])];
  if (details.length === 0) return [error];
  return details.flatMap(leafErrors);
}

function parseNested(message: string | undefined): ArmErrorBody | undefined {
  if (!message || !message.trimStart().startsWith('{')) return undefined;
  try {
    const v = JSON.parse(message) as { error?: ArmErrorBody } & ArmErrorBody;
    return v.error ?? (v.code ? v : undefined);
  } catch {
    return undefined;
  }
}

export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = Number(value);
  if (Number.isFinite(n)) return Math.max(0, n);
  return undefined;
}
