// The stand-in's request pipeline (JSON parse → auth → OpenAPI validation → handler), health/version
// endpoints and the test-only /__standin/* endpoints.
import {randomUUID} from 'node:crypto'
import {HttpError, Router, parseJsonBody, readBody, reply, sendJson, validationError} from './http-kit.mjs'
import {findOperation, validateQueryParams, validateRequestBody} from './validate.mjs'
import {authenticate, isAdmin, registerAuthRoutes, seedUsers} from './auth.mjs'
import {registerAdminRoutes} from './admin.mjs'
import {registerSyncRoutes} from './sync-jobs.mjs'

const REQUEST_LOG_LIMIT = 1000
const SECRET_FIELD = /token|password|secret|authorization|api_key/i
const REDACTED = '<redacted>'

/** A deep copy with every secret-looking field replaced, so the request log never holds a secret. */
function redactSecrets(value) {
  if (Array.isArray(value)) return value.map(redactSecrets)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.entries(value).map(([key, item]) =>
    [key, SECRET_FIELD.test(key) && item !== null && item !== '' ? REDACTED : redactSecrets(item)]))
}

function worstStatus(statuses) {
  if (statuses.includes('error')) return 'unhealthy'
  if (statuses.includes('warning')) return 'degraded'
  return 'healthy'
}

/**
 * @param {{config, store, schemaCheck, log}} options schemaCheck is the boot-time result of the state's schema rule.
 * @returns {{handleRequest(request, response): Promise<void>, shutdown(): void}}
 */
export function createApp({config, store, schemaCheck, log}) {
  const state = store.data
  const startedAt = new Date().toISOString()
  const timers = new Set()
  const requestLog = []
  const schedule = (delayMs, callback) => {
    const timer = setTimeout(() => {
      timers.delete(timer)
      callback()
    }, Math.max(0, delayMs))
    timers.add(timer)
  }
  const context = {config, state, persist: () => store.save(), log, schedule}

  const versionHeaders = {'x-agnes-latest-version': config.version, 'x-agnes-min-version': '0.0.0', 'x-agnes-accepts': 'session-gzip'}

  function databaseSchema() {
    if (config.variant === 'never-healthy') {
      return {db_schema: 'unreachable', detail: 'system database unreachable: could not set lock on file system.duckdb'}
    }
    if (config.variant === 'schema-mismatch') {
      return {db_schema: 'mismatch', current: config.expectedSchemaVersion + 1, expected: config.expectedSchemaVersion}
    }
    return schemaCheck
  }

  const router = new Router()

  router.add('GET', '/api/health', () => {
    const schema = databaseSchema()
    return reply(200, {status: schema.db_schema === 'ok' ? 'ok' : 'unhealthy', vault_key_configured: config.vaultKeyConfigured, ...schema})
  })

  router.add('GET', '/api/health/detailed', ({principal, query}) => {
    const admin = isAdmin(principal.user)
    const schema = databaseSchema()
    const services = {
      duckdb_state: schema.db_schema === 'unreachable'
        ? {status: 'error', audience: 'operator', detail: schema.detail}
        : {status: 'ok', audience: 'operator'},
      data: {
        status: 'ok', audience: 'analyst', tables: state.tables.length,
        total_rows: state.tables.reduce((sum, table) => sum + (table.rows ?? 0), 0), stale_tables: [],
      },
      users: {status: 'ok', audience: 'operator', count: state.users.length},
    }
    if (query.include.split(',').map((item) => item.trim()).includes('schema')) {
      services.db_schema = {status: schema.db_schema === 'ok' ? 'ok' : 'error', audience: 'operator', ...schema}
    }
    const visible = Object.fromEntries(Object.entries(services).map(([name, check]) =>
      [name, admin || check.audience === 'analyst' ? check : {status: check.status, audience: check.audience}]))
    const statuses = Object.values(services).map((check) => check.status)
    const analystStatuses = Object.values(services).filter((check) => check.audience === 'analyst').map((check) => check.status)
    return reply(200, {
      status: worstStatus(statuses),
      overall_analyst: worstStatus(analystStatuses),
      caller_role: admin ? 'admin' : 'analyst',
      version: config.version,
      channel: config.channel,
      ...(admin ? {image_tag: config.imageTag, commit_sha: config.commitSha} : {}),
      schema_version: config.expectedSchemaVersion,
      deployed_at: startedAt,
      timestamp: new Date().toISOString(),
      services: visible,
    })
  }, {auth: 'user'})

  router.add('GET', '/api/version', () =>
    reply(200, {version: config.version, channel: config.channel, image_tag: config.imageTag, deployed_at: startedAt}))

  // Caddy's forward_auth before it sends a table's parquet itself (templates/Caddyfile): only the access check is the app's.
  router.add('GET', '/api/data/{table_id}/check-access', ({params}) => reply(200, {table_id: params.table_id, allowed: true}), {auth: 'user'})

  router.add('GET', '/healthz', () => reply(200, {status: 'alive'}))

  router.add('GET', '/readyz', () => {
    const ready = databaseSchema().db_schema !== 'unreachable'
    return reply(ready ? 200 : 503, {
      status: ready ? 'ready' : 'not_ready', failed_checks: ready ? [] : ['write_canary'], canary_ready: ready,
      consecutive_failures: ready ? 0 : 3, last_canary_at: ready ? null : new Date().toISOString(),
    })
  })

  router.add('GET', '/__standin/requests', () => reply(200, {requests: requestLog}))
  router.add('DELETE', '/__standin/requests', () => {
    requestLog.length = 0
    return reply(204, undefined)
  })
  router.add('GET', '/__standin/state', () => reply(200, redactSecrets({
    ...state,
    users: state.users.map(({password_hash, ...user}) => ({...user, has_password: Boolean(password_hash)})),
  })))

  registerAuthRoutes(router, context)
  registerAdminRoutes(router, context)
  registerSyncRoutes(router, context)
  seedUsers(context)

  async function dispatch(request, url, requestId, exchange) {
    const matched = router.match(request.method, url.pathname)
    if (!matched.route) {
      if (matched.allowedMethods.length > 0) throw new HttpError(405, 'Method Not Allowed', {allow: matched.allowedMethods.join(', ')})
      throw new HttpError(404, 'Not Found')
    }
    const {route, params} = matched
    const body = parseJsonBody(await readBody(request))
    exchange.body = body
    route.options.guard?.()
    let principal
    if (route.options.auth) {
      principal = authenticate(context, request)
      exchange.auth = principal.kind
      if (route.options.auth === 'admin' && !isAdmin(principal.user)) throw new HttpError(403, 'Admin access required')
    }
    let query = Object.fromEntries(url.searchParams)
    if (findOperation(request.method, url.pathname)) {
      const queryCheck = validateQueryParams(request.method, url.pathname, url.searchParams)
      const bodyCheck = validateRequestBody(request.method, url.pathname, body)
      const errors = [...queryCheck.errors, ...bodyCheck.errors]
      if (errors.length > 0) throw validationError(errors)
      query = queryCheck.values
    }
    return route.handler({request, params, query, body, principal, requestId})
  }

  async function handleRequest(request, response) {
    const started = Date.now()
    const requestId = randomUUID().replaceAll('-', '')
    const url = new URL(request.url, 'http://standin.invalid')
    const exchange = {body: undefined, auth: request.headers.authorization ? 'unverified' : 'none'}
    let result
    try {
      result = await dispatch(request, url, requestId, exchange)
    } catch (error) {
      if (error instanceof HttpError) {
        result = reply(error.status, {detail: error.detail}, error.headers)
      } else {
        log.error(`Unhandled error in ${request.method} ${url.pathname} (request ${requestId}): ${error.stack}`)
        result = reply(500, {detail: 'Internal server error', request_id: requestId})
      }
    }
    const apiHeaders = url.pathname.startsWith('/api/') ? versionHeaders : {}
    sendJson(response, {...result, headers: {...result.headers, ...apiHeaders, 'x-request-id': requestId}})
    if (!url.pathname.startsWith('/__standin/')) {
      requestLog.push({
        at: new Date(started).toISOString(), method: request.method, path: url.pathname,
        query: Object.fromEntries(url.searchParams), body: redactSecrets(exchange.body), status: result.status, auth: exchange.auth,
      })
      if (requestLog.length > REQUEST_LOG_LIMIT) requestLog.shift()
    }
    log.info(`${request.method} ${url.pathname} ${result.status} ${Date.now() - started}ms`)
  }

  function shutdown() {
    for (const timer of timers) clearTimeout(timer)
    timers.clear()
    store.save()
  }

  return {handleRequest, shutdown}
}
