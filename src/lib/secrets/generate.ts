import {randomBytes, randomInt} from 'node:crypto'

/** 32 random bytes as 64 hex characters (JWT_SECRET_KEY, SESSION_SECRET, SCHEDULER_API_TOKEN need ≥32). */
export function generateHexSecret(): string {
  return randomBytes(32).toString('hex')
}

/** A Fernet key: 32 random bytes, URL-safe base64 with padding, 44 characters (AGNES_VAULT_KEY). */
export function generateFernetKey(): string {
  return randomBytes(32).toString('base64url') + '='
}

export function isFernetKey(value: string): boolean {
  return /^[A-Za-z0-9_-]{43}=$/.test(value) && Buffer.from(value, 'base64url').length === 32
}

/** A password a person can type: 20 characters from an unambiguous alphabet. */
export function generatePassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789'
  return Array.from({length: 20}, () => alphabet[randomInt(alphabet.length)]).join('')
}
