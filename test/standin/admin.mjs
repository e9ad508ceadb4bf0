// Instance configuration, table registry, catalog and query endpoints (the Agnes server's; schemas in openapi-subset.json).
import {isIP} from 'node:net'
import {join} from 'node:path'
import {HttpError, reply} from './http-kit.mjs'
import {isAdmin} from './auth.mjs'
import {writeFileAtomic} from './state-store.mjs'
import {resolveAddresses} from './dns-lookup.mjs'

const CONFIGURABLE_SOURCES = ['keboola', 'bigquery', 'local']
const SOURCE_TYPES = ['keboola', 'bigquery', 'jira', 'local', 'databricks', 'snowflake']
const QUERY_MODES = ['local', 'remote', 'materialized']
const SYNC_STRATEGIES = ['full_refresh', 'incremental', 'partitioned']
const PARTITION_GRANULARITIES = ['day', 'month', 'year']
const TABLE_ID_PATTERN = /^[a-z_][a-z0-9_]*$/
// The leaves of data_source.<source> that decide which upstream answers (app/connection_identity.py).
const CONNECTION_IDENTITY_LEAVES = {keboola: ['stack_url', 'token_env'], bigquery: ['location', 'project']}
const DNS_TIMEOUT_MS = 1500
const SAMPLE_TABLES = 5

// What the simulated Keboola project holds; `rows` is what a sync "extracts".
export const SIMULATED_KEBOOLA_TABLES = [
  {bucket: 'in.c-crm', table: 'orders', rows: 1200},
  {bucket: 'in.c-crm', table: 'customers', rows: 300},
  {bucket: 'in.c-finance', table: 'invoices', rows: 450},
]

const REGISTRY_FIELDS = [
  'description', 'folder', 'bucket', 'source_table', 'source_query', 'primary_key', 'sync_schedule', 'where_filters',
  'partition_by', 'partition_granularity', 'incremental_column', 'incremental_window_days', 'max_history_days',
  'initial_load_chunk_days', 'bq_fqn', 'server_only', 'connection_id',
]

export function primarySourceType(state) {
  return state.instance.data_source?.type ?? 'local'
}

export function simulatedRowCount(table) {
  const match = SIMULATED_KEBOOLA_TABLES.find((candidate) => candidate.bucket === table.bucket && candidate.table === table.source_table)
  return match ? match.rows : 0
}

function isPrivateIPv4(address) {
  const [a, b] = address.split('.').map(Number)
  return a === 0 || a === 10 || a === 127 || a >= 224 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168)
}

function isPrivateAddress(address) {
  if (isIP(address) === 4) return isPrivateIPv4(address)
  const lowered = address.toLowerCase()
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lowered)
  if (mapped) return isPrivateIPv4(mapped[1])
  return lowered === '::' || lowered === '::1' || /^f[cd]/.test(lowered) || /^fe[89ab]/.test(lowered) || lowered.startsWith('ff')
}

/** The SSRF guard of app/instance_config.py: no localhost / private / reserved targets unless allowlisted. */
async function assertPublicUrl(rawUrl, fieldName, allowedHosts) {
  let url
  try {
    url = new URL(rawUrl)
  } catch {
    throw new HttpError(400, `${fieldName} is not a valid URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HttpError(400, `${fieldName} must be an http(s) URL`)
  const hostname = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (allowedHosts.has(hostname) || allowedHosts.has(url.host.toLowerCase())) return
  const isLocalhost = hostname === 'localhost' || hostname.endsWith('.localhost')
  if (isLocalhost || (await resolveAddresses(hostname, DNS_TIMEOUT_MS)).some(isPrivateAddress)) {
    throw new HttpError(400, `${fieldName} host '${hostname}' resolves to a private, loopback or reserved address; ` +
      'add it to AGNES_SSRF_ALLOWED_HOSTS (security.ssrf_allowed_hosts) if this is intended')
  }
}

function identityChanges(source, before, after) {
  const changes = []
  for (const field of CONNECTION_IDENTITY_LEAVES[source] ?? []) {
    if (after?.[field] === undefined) continue
    if (before?.[field] !== after[field]) changes.push({field, before: before?.[field] ?? null, after: after[field]})
  }
  return changes
}

function writeEnvOverlay(stateDir, values) {
  const text = Object.entries(values).map(([key, value]) => `${key}=${value}`).join('\n')
  writeFileAtomic(join(stateDir, '.env_overlay'), `${text}\n`)
}

function normalizeTableId(name) {
  return name.trim().toLowerCase().replaceAll(' ', '_')
}

function requireOneOf(value, allowed, field) {
  if (!allowed.includes(value)) throw new HttpError(422, `Invalid ${field} '${value}'. Allowed: ${allowed.join(', ')}`)
}

function registryRow(table) {
  return {
    ...table,
    last_sync_status: table.last_sync_status ?? 'pending',
    last_sync_error: table.last_sync_error ?? null,
    last_sync: table.last_sync ?? null,
    last_sync_display: table.last_sync ? table.last_sync.replace('T', ' ').slice(0, 16) : 'never',
    rows: table.rows ?? null,
    file_size_bytes: table.file_size_bytes ?? null,
  }
}

function catalogItem({id, name, description, source_type, sync_strategy, query_mode}) {
  return {id, name, description: description ?? null, source_type, sync_strategy, query_mode}
}

// A tiny SQL front: literal SELECTs, and count(*) / plain reads of registered tables.
const LITERAL_ITEM = /^(-?\d+(?:\.\d+)?|'(?:[^']|'')*'|true|false|null)(?:\s+(?:as\s+)?"?(\w+)"?)?$/i
const COUNT_QUERY = /^select\s+count\s*\(\s*\*\s*\)(?:\s+(?:as\s+)?"?(\w+)"?)?\s+from\s+("[^"]+"|[\w.-]+)$/i
const FROM_CLAUSE = /\bfrom\s+("[^"]+"|[\w.-]+)/i

function literalValue(text) {
  if (/^'/.test(text)) return text.slice(1, -1).replaceAll("''", "'")
  const lowered = text.toLowerCase()
  if (lowered === 'true' || lowered === 'false') return lowered === 'true'
  if (lowered === 'null') return null
  return Number(text)
}

function unquote(identifier) {
  return identifier.replace(/^"|"$/g, '')
}

function runQuery(state, sql) {
  const findTable = (identifier) => {
    const wanted = unquote(identifier).toLowerCase()
    const table = state.tables.find((candidate) => candidate.id === wanted || candidate.name.toLowerCase() === wanted)
    if (!table) throw new HttpError(400, `Catalog Error: Table with name ${unquote(identifier)} does not exist!`)
    return table
  }
  const count = COUNT_QUERY.exec(sql)
  if (count) return {columns: [count[1] ?? 'count_star()'], rows: [[findTable(count[2]).rows ?? 0]]}
  const from = FROM_CLAUSE.exec(sql)
  if (from) {
    findTable(from[1])
    return {columns: [], rows: []}
  }
  const selectList = sql.replace(/^select\s+/i, '')
  const items = selectList.split(',').map((item) => LITERAL_ITEM.exec(item.trim()))
  if (items.some((item) => !item)) throw new HttpError(400, 'Parser Error: the Agnes stand-in only evaluates literal SELECTs and SELECT count(*) FROM <table>')
  return {columns: items.map((item) => item[2] ?? item[1]), rows: [items.map((item) => literalValue(item[1]))]}
}

export function registerAdminRoutes(router, context) {
  const {config, state, persist, log} = context

  router.add('POST', '/api/admin/configure', async ({body}) => {
    const source = body.data_source
    if (!CONFIGURABLE_SOURCES.includes(source)) throw new HttpError(400, "data_source must be 'keboola', 'bigquery', or 'local'")

    const next = {type: source}
    if (source === 'keboola') {
      if (!body.keboola_token || !body.keboola_url) throw new HttpError(400, 'keboola_token and keboola_url are required for Keboola data source')
      await assertPublicUrl(body.keboola_url, 'keboola_url', config.ssrfAllowedHosts)
      // Simulated KeboolaClient.test_connection(): the token "invalid" is the one Keboola rejects.
      if (body.keboola_token.trim() === '' || body.keboola_token === 'invalid') {
        log.error('Keboola connection validation failed (simulated): the Storage API rejected the token')
        throw new HttpError(400, 'Keboola connection failed. Check your token and URL.')
      }
      next.keboola = {stack_url: body.keboola_url, token_env: 'KEBOOLA_STORAGE_TOKEN'}
    } else if (source === 'bigquery') {
      if (!body.bigquery_project) throw new HttpError(400, 'bigquery_project is required for BigQuery data source')
      next.bigquery = {project: body.bigquery_project, location: body.bigquery_location || 'us'}
    }

    const previous = state.instance.data_source
    if (previous?.type === source && !body.confirm_connection_change) {
      const changes = identityChanges(source, previous[source], next[source])
      const affected = state.tables.filter((table) => table.source_type === source).map((table) => table.id)
      if (changes.length > 0 && affected.length > 0) {
        throw new HttpError(409, {
          error: 'connection_change_affects_registrations',
          source,
          changes,
          affected_tables: affected.length,
          sample_tables: affected.slice(0, SAMPLE_TABLES),
          hint: `${affected.length} registered ${source} table(s) resolve against this connection. ` +
            'Re-send with confirm_connection_change: true to repoint them anyway.',
        })
      }
    }

    state.instance.data_source = next
    if (body.instance_name) state.instance.instance = {...state.instance.instance, name: body.instance_name}
    if (body.allowed_domain) state.instance.auth = {...state.instance.auth, allowed_domain: body.allowed_domain}
    persist()
    if (source === 'keboola') writeEnvOverlay(config.stateDir, {KEBOOLA_STORAGE_TOKEN: body.keboola_token, KEBOOLA_STACK_URL: body.keboola_url})
    log.info(`Configured data source ${source}`)
    return reply(200, {status: 'ok', data_source: source, connection: source === 'local' ? 'local' : 'verified'})
  }, {auth: 'admin'})

  router.add('POST', '/api/admin/discover-and-register', ({query, principal}) => {
    const source = primarySourceType(state)
    const dryRun = query.dry_run
    const result = {registered: 0, skipped: 0, errors: 0, drifted: 0, tables: [], drift: [], invalid: [], source, dry_run: dryRun}
    if (dryRun) result.would_register = []
    if (source !== 'keboola') return reply(200, result)

    const planned = []
    for (const {bucket, table} of SIMULATED_KEBOOLA_TABLES) {
      const fullId = `${bucket}.${table}`
      const id = fullId.toLowerCase().replace(/[. ]/g, '_')
      const existing = state.tables.find((candidate) => candidate.id === id)
      if (!existing) {
        planned.push({
          id, name: table, source_type: 'keboola', bucket, source_table: table, query_mode: 'materialized',
          sync_strategy: 'full_refresh', description: `Auto-discovered from Keboola: ${fullId}`,
          registered_by: principal.user.email, registered_at: new Date().toISOString(),
        })
        continue
      }
      result.skipped += 1
      if (existing.bucket !== bucket || existing.source_table !== table) {
        result.drift.push({id, registry: {bucket: existing.bucket, source_table: existing.source_table}, discovered: {bucket, source_table: table}})
      }
    }
    result.drifted = result.drift.length
    if (dryRun) {
      result.would_register = planned.map((row) => row.id)
    } else {
      state.tables.push(...planned)
      persist()
      result.registered = planned.length
      result.tables = planned.map((row) => row.id)
    }
    return reply(200, result)
  }, {auth: 'admin'})

  router.add('POST', '/api/admin/register-table', ({body, principal}) => {
    const id = normalizeTableId(body.name)
    if (!TABLE_ID_PATTERN.test(id)) {
      throw new HttpError(422, `Invalid table name '${body.name}': the id '${id}' must match [a-z_][a-z0-9_]*`)
    }
    const sourceType = body.source_type ?? primarySourceType(state)
    requireOneOf(sourceType, SOURCE_TYPES, 'source_type')
    let queryMode = body.query_mode ?? 'local'
    requireOneOf(queryMode, QUERY_MODES, 'query_mode')
    const syncStrategy = body.sync_strategy ?? 'full_refresh'
    requireOneOf(syncStrategy, SYNC_STRATEGIES, 'sync_strategy')
    if (body.partition_granularity != null) requireOneOf(body.partition_granularity, PARTITION_GRANULARITIES, 'partition_granularity')
    if (body.source_query != null && queryMode !== 'materialized') throw new HttpError(422, 'source_query is only allowed with query_mode=materialized')
    if (body.server_only && queryMode === 'remote') throw new HttpError(422, 'server_only cannot be combined with query_mode=remote')
    if ((sourceType === 'databricks' || sourceType === 'snowflake') && queryMode === 'local') {
      throw new HttpError(422, `${sourceType} tables support only query_mode=materialized or remote`)
    }
    if (sourceType === 'bigquery' && queryMode !== 'materialized') queryMode = 'remote'
    const primary = primarySourceType(state)
    if (sourceType !== primary && primary !== 'local') {
      throw new HttpError(422, `source_type '${sourceType}' is not configured on this instance (configured: ${primary})`)
    }
    if (body.connection_id != null) throw new HttpError(400, `Unknown connection_id '${body.connection_id}'`)
    if (state.tables.some((table) => table.id === id)) throw new HttpError(409, `Table '${id}' already registered`)

    const row = {id, name: body.name.trim(), source_type: sourceType, query_mode: queryMode, sync_strategy: syncStrategy}
    for (const field of REGISTRY_FIELDS) if (body[field] !== undefined) row[field] = body[field]
    row.registered_by = principal.user.email
    row.registered_at = new Date().toISOString()
    state.tables.push(row)
    persist()

    const registered = {id, name: row.name, status: 'registered'}
    if (sourceType !== 'bigquery') return reply(201, registered)
    if (queryMode === 'materialized') return reply(201, {...registered, view_name: id, message: 'Registered; the view is built on the next sync'})
    if (body.defer_rebuild) return reply(202, {...registered, view_name: id, message: 'Registered; call POST /api/admin/registry/rebuild to build the views'})
    return reply(200, {...registered, status: 'ok', view_name: id})
  }, {auth: 'admin'})

  router.add('GET', '/api/admin/registry', () =>
    reply(200, {tables: state.tables.map(registryRow), count: state.tables.length}), {auth: 'admin'})

  // Non-admins see nothing until resource grants exist, and the stand-in has no grants.
  router.add('GET', '/api/catalog/tables', ({principal}) => {
    const tables = isAdmin(principal.user) ? state.tables.map(catalogItem) : []
    return reply(200, {tables, count: tables.length})
  }, {auth: 'user'})

  router.add('POST', '/api/query', ({body, requestId}) => {
    const sql = body.sql.trim().replace(/;\s*$/, '').trim()
    if (sql.includes(';') || !/^(select|with)\b/i.test(sql)) throw new HttpError(400, 'Only single SELECT queries are allowed')
    if (config.variant === 'failing-smoke') {
      log.error(`Query failed (variant failing-smoke), request ${requestId}`)
      return reply(500, {detail: 'Internal server error', request_id: requestId})
    }
    const limit = body.limit === undefined || body.limit <= 0 ? 1000 : Math.min(body.limit, config.maxQueryRows)
    const {columns, rows} = runQuery(state, sql)
    return reply(200, {columns, rows: rows.slice(0, limit), row_count: Math.min(rows.length, limit), truncated: rows.length > limit, bytes_scanned: null, row_scope: null})
  }, {auth: 'user'})
}
