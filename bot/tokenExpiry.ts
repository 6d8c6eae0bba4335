/**
 * The Bot Framework refuses an inbound token that does not expire (its validator sets
 * `requireExpirationTime`); the Teams SDK's validator (jsonwebtoken) only checks `exp` when the token
 * has one. This is the missing half, applied before the SDK sees the request: a bearer token whose
 * payload has no numeric `exp` is refused. Signature, audience, issuer and expiry itself stay the SDK's.
 */
export function missingExpiry(authorization: string | undefined): string | undefined {
  const m = /^Bearer\s+([^.\s]+)\.([^.\s]+)\.[^.\s]*$/i.exec(authorization?.trim() ?? '');
  // Not a JWT at all: the SDK refuses it with its own message.
  if (!m) return undefined;
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(m[2], 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const exp = (claims as { exp?: unknown } | null)?.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'The bearer token has no expiry (exp claim); the Bot Connector only accepts tokens that expire.';
  return undefined;
}
