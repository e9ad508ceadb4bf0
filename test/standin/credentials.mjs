// Session JWTs (HS256), password hashes and constant-time secret comparison, as real Agnes does them.
import {createHash, createHmac, randomBytes, scryptSync, timingSafeEqual} from 'node:crypto'

export const SESSION_TTL_SECONDS = 30 * 24 * 3600
const MIN_SECRET_LENGTH = 32

export function isUsableSecret(secret) {
  return typeof secret === 'string' && secret.length >= MIN_SECRET_LENGTH
}

/** Compare two strings in constant time (hashing first hides the length difference). */
export function secretsEqual(given, expected) {
  const digest = (text) => createHash('sha256').update(text, 'utf8').digest()
  return timingSafeEqual(digest(given), digest(expected))
}

/** A Fernet key is 32 bytes, urlsafe-base64 encoded with padding: 44 characters. */
export function isFernetKey(key) {
  return typeof key === 'string' && /^[A-Za-z0-9_-]{43}=$/.test(key) && Buffer.from(key, 'base64url').length === 32
}

function base64UrlJson(value) {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

function sign(input, secret) {
  return createHmac('sha256', secret).update(input).digest('base64url')
}

export function signJwt(claims, secret) {
  const signingInput = `${base64UrlJson({alg: 'HS256', typ: 'JWT'})}.${base64UrlJson(claims)}`
  return `${signingInput}.${sign(signingInput, secret)}`
}

/** Verify an HS256 JWT's signature and (when present) its expiry; returns its claims or undefined. */
export function verifyJwt(token, secret, nowSeconds = Math.floor(Date.now() / 1000)) {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  const [header, payload, signature] = parts
  const expected = sign(`${header}.${payload}`, secret)
  if (signature.length !== expected.length || !timingSafeEqual(Buffer.from(signature), Buffer.from(expected))) return undefined
  try {
    if (JSON.parse(Buffer.from(header, 'base64url').toString()).alg !== 'HS256') return undefined
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    if (claims.exp !== undefined && !(typeof claims.exp === 'number' && claims.exp > nowSeconds)) return undefined
    return claims
  } catch {
    return undefined
  }
}

export function hashPassword(password) {
  const salt = randomBytes(16)
  return `scrypt$${salt.toString('base64')}$${scryptSync(password, salt, 32).toString('base64')}`
}

export function passwordMatches(password, storedHash) {
  const [scheme, salt, hash] = storedHash.split('$')
  if (scheme !== 'scrypt') return false
  return timingSafeEqual(scryptSync(password, Buffer.from(salt, 'base64'), 32), Buffer.from(hash, 'base64'))
}

export function fingerprint(secret) {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
}
