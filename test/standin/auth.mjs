// Users, credential resolution and the /auth/* endpoints (the Agnes server's, as its OpenAPI schemas in openapi-subset.json say).
import {randomUUID} from 'node:crypto'
import {HttpError, reply} from './http-kit.mjs'
import {SESSION_TTL_SECONDS, hashPassword, passwordMatches, secretsEqual, signJwt, verifyJwt} from './credentials.mjs'

export const SCHEDULER_EMAIL = 'scheduler@system.local'
const ADMIN_GROUP = 'Admin'
const EVERYONE_GROUP = 'Everyone'

const BOOTSTRAP_LOCKED_DETAIL =
  'Bootstrap disabled — this instance is already initialised (an admin or a password-holding user exists). ' +
  'Provision the first admin via SEED_ADMIN_EMAIL / sign in and manage admins under /admin/access, ' +
  'or present a valid X-Bootstrap-Token header when AGNES_BOOTSTRAP_TOKEN is configured.'
const EXTERNAL_AUTH_DETAIL = 'This account uses external authentication. Please log in via your configured provider.'
const PAT_SCOPES = ['general', 'bootstrap-analyst']
const PAT_SURFACES = ['all', 'stack']
const BOOTSTRAP_ANALYST_MAX_SECONDS = 3600
const MAX_PAT_DAYS = 3650

export function isAdmin(user) {
  return user.groups.includes(ADMIN_GROUP)
}

function normalizeEmail(email) {
  return email.trim().toLowerCase()
}

function findUserByEmail(state, email) {
  const wanted = normalizeEmail(email)
  return state.users.find((user) => user.email === wanted)
}

function createUser(state, email, name, passwordHash) {
  const user = {
    id: randomUUID(),
    email: normalizeEmail(email),
    name,
    password_hash: passwordHash,
    groups: [],
    active: true,
    must_change_password: false,
    created_at: new Date().toISOString(),
  }
  state.users.push(user)
  return user
}

function addGroups(user, groups) {
  for (const group of groups) if (!user.groups.includes(group)) user.groups.push(group)
}

function humanAdminExists(state) {
  return state.users.some((user) => isAdmin(user) && user.email !== SCHEDULER_EMAIL)
}

function unauthorized(detail) {
  return new HttpError(401, detail, {'www-authenticate': 'Bearer'})
}

/** Boot-time users, like the real lifespan: the scheduler service user and the SEED_ADMIN_EMAIL admin. */
export function seedUsers({config, state, persist, log}) {
  if (config.schedulerToken && !findUserByEmail(state, SCHEDULER_EMAIL)) {
    addGroups(createUser(state, SCHEDULER_EMAIL, 'Scheduler', null), [ADMIN_GROUP])
  }
  if (config.seedAdminEmail) {
    let seed = findUserByEmail(state, config.seedAdminEmail)
    if (!seed) {
      seed = createUser(state, config.seedAdminEmail, config.seedAdminEmail.split('@')[0], null)
      log.info(`Seeded admin user ${seed.email}`)
    }
    if (config.seedAdminPassword && !seed.password_hash) {
      seed.password_hash = hashPassword(config.seedAdminPassword)
      seed.must_change_password = true
    }
    addGroups(seed, [ADMIN_GROUP, EVERYONE_GROUP])
  }
  persist()
  if (!humanAdminExists(state)) {
    log.warn('No admin exists yet: POST /auth/bootstrap is reachable without authentication until one is created')
  }
}

function cookieValue(cookieHeader, name) {
  for (const part of (cookieHeader ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=')
    if (key === name) return value.join('=')
  }
  return undefined
}

/** Resolve the caller from `Authorization: Bearer` (or the access_token cookie): {user, kind}. */
export function authenticate({config, state}, request) {
  const header = request.headers.authorization
  let token
  if (header === undefined) {
    token = cookieValue(request.headers.cookie, 'access_token')
  } else {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (!match) throw unauthorized('Missing or invalid Authorization header')
    token = match[1]
  }
  if (!token) throw unauthorized('Missing or invalid Authorization header')

  if (config.schedulerToken && secretsEqual(token, config.schedulerToken)) {
    const scheduler = findUserByEmail(state, SCHEDULER_EMAIL)
    if (!scheduler) throw unauthorized('Scheduler user not provisioned')
    return {user: scheduler, kind: 'scheduler'}
  }

  const claims = verifyJwt(token, config.jwtSecret)
  if (!claims) throw unauthorized('Invalid or expired token')
  if (claims.typ === 'pat') {
    const record = state.access_tokens.find((candidate) => candidate.id === claims.jti)
    if (!record) throw unauthorized('Token unknown')
    if (record.revoked_at) throw unauthorized('Token revoked')
    if (record.expires_at && Date.parse(record.expires_at) <= Date.now()) throw unauthorized('Token expired')
    record.last_used_at = new Date().toISOString()
  } else if (claims.typ !== 'session' || typeof claims.exp !== 'number') {
    throw unauthorized('Invalid or expired token')
  }
  const user = state.users.find((candidate) => candidate.id === claims.sub)
  if (!user) throw unauthorized('User not found')
  if (!user.active) throw unauthorized('Account deactivated')
  return {user, kind: claims.typ}
}

function issueSessionToken(config, user) {
  const now = Math.floor(Date.now() / 1000)
  return signJwt({sub: user.id, email: user.email, typ: 'session', iat: now, exp: now + SESSION_TTL_SECONDS, jti: randomUUID()}, config.jwtSecret)
}

function tokenResponse(config, user) {
  return {
    access_token: issueSessionToken(config, user),
    token_type: 'bearer',
    user_id: user.id,
    email: user.email,
    role: isAdmin(user) ? 'admin' : 'user',
  }
}

function createRateLimiter(enabled) {
  const hitsByKey = new Map()
  return function enforce(name, perMinute, request) {
    if (!enabled) return
    const key = `${name}:${request.socket.remoteAddress}`
    const now = Date.now()
    const recent = (hitsByKey.get(key) ?? []).filter((at) => now - at < 60_000)
    if (recent.length >= perMinute) {
      throw new HttpError(429, 'Too many requests — slow down and retry in a minute.', {'retry-after': '60'})
    }
    recent.push(now)
    hitsByKey.set(key, recent)
  }
}

function tokenListItem(record) {
  const {id, name, prefix, created_at, expires_at, last_used_at, revoked_at, surface} = record
  return {id, name, prefix, created_at, expires_at, last_used_at, revoked_at, surface}
}

function patExpiry(body) {
  const scope = body.scope ?? 'general'
  let seconds = null
  if (body.ttl_seconds !== undefined && body.ttl_seconds !== null) {
    if (body.ttl_seconds <= 0) throw new HttpError(400, 'ttl_seconds must be positive')
    seconds = body.ttl_seconds
  } else {
    const days = body.expires_in_days === undefined ? 90 : body.expires_in_days
    if (days !== null) {
      if (days < 1 || days > MAX_PAT_DAYS) throw new HttpError(400, `expires_in_days must be between 1 and ${MAX_PAT_DAYS}, or null for no expiry`)
      seconds = days * 86_400
    }
  }
  if (scope === 'bootstrap-analyst') seconds = Math.min(seconds ?? BOOTSTRAP_ANALYST_MAX_SECONDS, BOOTSTRAP_ANALYST_MAX_SECONDS)
  return seconds
}

export function registerAuthRoutes(router, context) {
  const {config, state, persist, log} = context
  const enforceRateLimit = createRateLimiter(config.rateLimitEnabled)

  router.add('POST', '/auth/bootstrap', ({request, body}) => {
    enforceRateLimit('bootstrap', 3, request)
    const initialised = humanAdminExists(state) || state.users.some((user) => user.password_hash)
    const presentedToken = request.headers['x-bootstrap-token'] ?? ''
    const bypass = Boolean(config.bootstrapToken) && secretsEqual(presentedToken, config.bootstrapToken)
    if (initialised && !bypass) throw new HttpError(403, BOOTSTRAP_LOCKED_DETAIL)

    const email = normalizeEmail(body.email)
    const at = email.indexOf('@')
    if (at <= 0 || at === email.length - 1) throw new HttpError(422, 'A valid email address is required')

    const passwordHash = body.password ? hashPassword(body.password) : null
    let user = findUserByEmail(state, email)
    if (user) user.password_hash = passwordHash
    else user = createUser(state, email, body.name || email.split('@')[0], passwordHash)
    addGroups(user, [ADMIN_GROUP, EVERYONE_GROUP])
    persist()
    log.info(`Bootstrap: ${user.email} is now an admin${bypass ? ' (X-Bootstrap-Token bypass)' : ''}`)
    return reply(200, tokenResponse(config, user))
  })

  router.add('POST', '/auth/token', ({request, body}) => {
    enforceRateLimit('token', 10, request)
    const user = findUserByEmail(state, body.email)
    if (!user) throw unauthorized('User not found')
    if (!body.password) throw unauthorized(user.password_hash ? 'Password required' : EXTERNAL_AUTH_DETAIL)
    if (!user.password_hash) throw unauthorized(EXTERNAL_AUTH_DETAIL)
    if (!passwordMatches(body.password, user.password_hash)) throw unauthorized('Invalid password')
    if (!user.active) throw unauthorized('Account deactivated')
    return reply(200, tokenResponse(config, user))
  }, {
    // The provider allowlist answers 404 before the body is even validated.
    guard() {
      if (config.authProviders && !config.authProviders.has('password')) throw new HttpError(404, 'Not Found')
    },
  })

  router.add('POST', '/auth/tokens', ({body, principal}) => {
    if (principal.kind !== 'session') {
      throw new HttpError(403, 'Personal access tokens can only be created from an interactive session: this credential is not a service token')
    }
    const name = body.name.trim()
    if (!name) throw new HttpError(400, 'Token name is required')
    if (!PAT_SCOPES.includes(body.scope ?? 'general')) throw new HttpError(400, `scope must be one of: ${PAT_SCOPES.join(', ')}`)
    if (!PAT_SURFACES.includes(body.surface ?? 'all')) throw new HttpError(400, `surface must be one of: ${PAT_SURFACES.join(', ')}`)
    const lifetimeSeconds = patExpiry(body)
    const id = randomUUID()
    const now = Math.floor(Date.now() / 1000)
    const claims = {sub: principal.user.id, typ: 'pat', jti: id, iat: now, ...(lifetimeSeconds === null ? {} : {exp: now + lifetimeSeconds})}
    const record = {
      id,
      user_id: principal.user.id,
      name,
      prefix: id.slice(0, 8),
      scope: body.scope ?? 'general',
      surface: body.surface ?? 'all',
      created_at: new Date(now * 1000).toISOString(),
      expires_at: lifetimeSeconds === null ? null : new Date((now + lifetimeSeconds) * 1000).toISOString(),
      last_used_at: null,
      revoked_at: null,
    }
    state.access_tokens.push(record)
    persist()
    const {prefix, created_at, expires_at} = record
    return reply(201, {id, name, prefix, token: signJwt(claims, config.jwtSecret), expires_at, created_at})
  }, {auth: 'user'})

  const ownToken = (principal, tokenId) => {
    const record = state.access_tokens.find((candidate) => candidate.id === tokenId && candidate.user_id === principal.user.id)
    if (!record) throw new HttpError(404, 'Token not found')
    return record
  }

  router.add('GET', '/auth/tokens', ({principal}) =>
    reply(200, state.access_tokens.filter((record) => record.user_id === principal.user.id).map(tokenListItem)), {auth: 'user'})

  router.add('GET', '/auth/tokens/{token_id}', ({principal, params}) =>
    reply(200, tokenListItem(ownToken(principal, params.token_id))), {auth: 'user'})

  router.add('DELETE', '/auth/tokens/{token_id}', ({principal, params}) => {
    const record = ownToken(principal, params.token_id)
    record.revoked_at ??= new Date().toISOString()
    persist()
    return reply(204, undefined)
  }, {auth: 'user'})
}
