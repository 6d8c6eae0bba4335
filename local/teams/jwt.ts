import { generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';

/**
 * RS256 JSON Web Tokens with node:crypto only: what the connector emulator needs to be a token
 * issuer (sign inbound activities, issue the bot's outbound tokens) and to check the bot's tokens.
 * The bot itself never uses this: it validates with the Teams SDK's own validator (jsonwebtoken +
 * jwks-rsa), so the emulator and the bot do not share code that could hide a mistake.
 */
export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export type JwtClaims = Record<string, unknown>;

export function newSigningKey(kid = randomBytes(12).toString('base64url')): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, publicKey };
}

/** The key as a JWKS entry, in the shape the Bot Framework publishes (`endorsements` included). */
export function publicJwk(key: SigningKey): Record<string, unknown> {
  const jwk = key.publicKey.export({ format: 'jwk' }) as { kty: string; n: string; e: string };
  return { kty: jwk.kty, use: 'sig', alg: 'RS256', kid: key.kid, n: jwk.n, e: jwk.e, endorsements: ['msteams'] };
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

export function signJwt(claims: JwtClaims, key: SigningKey): string {
  const head = `${b64({ alg: 'RS256', typ: 'JWT', kid: key.kid, x5t: key.kid })}.${b64(claims)}`;
  return `${head}.${sign('sha256', Buffer.from(head), key.privateKey).toString('base64url')}`;
}

/** Verify signature (with one of `keys`) and expiry (required); returns the claims or why not. */
export function verifyJwt(token: string, keys: SigningKey[], nowSeconds = Math.floor(Date.now() / 1000)): { ok: true; claims: JwtClaims } | { ok: false; reason: string } {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'not a JWT' };
  let header: { alg?: string; kid?: string };
  let claims: JwtClaims;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed JWT' };
  }
  if (header.alg !== 'RS256') return { ok: false, reason: `alg ${header.alg} is not RS256` };
  const key = keys.find((k) => k.kid === header.kid);
  if (!key) return { ok: false, reason: `unknown signing key ${header.kid}` };
  if (!verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), key.publicKey, Buffer.from(parts[2], 'base64url'))) return { ok: false, reason: 'bad signature' };
  // The connector accepts only tokens that expire.
  if (typeof claims.exp !== 'number') return { ok: false, reason: 'no exp claim' };
  if (claims.exp < nowSeconds) return { ok: false, reason: 'expired' };
  return { ok: true, claims };
}
