// Tests of the Agnes stand-in server itself (test/standin/server.mjs), run as local processes.
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, describe, expect, it} from 'vitest'
import {validateQueryParams, validateRequestBody, validateSchema} from '../standin/validate.mjs'

const SERVER = fileURLToPath(new URL('../standin/server.mjs', import.meta.url))
const JWT_SECRET = randomBytes(32).toString('hex')
const SCHEDULER_TOKEN = randomBytes(24).toString('hex')
const BOOTSTRAP_TOKEN = randomBytes(24).toString('hex')
const VAULT_KEY = randomBytes(32).toString('base64url') + '='

type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any

interface Standin {
  url: string
  dataDir: string
  output(): string
  stop(): Promise<number | null>
}

const dataDirs: string[] = []
const running = new Set<Standin>()

async function newDataDir(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'agnes-standin-test-'))
  dataDirs.push(directory)
  return directory
}

function baseEnv(dataDir: string, env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    PORT: '0',
    DATA_DIR: dataDir,
    JWT_SECRET_KEY: JWT_SECRET,
    SCHEDULER_API_TOKEN: SCHEDULER_TOKEN,
    STANDIN_SYNC_SECONDS: '0.4',
    STANDIN_TRIGGER_HOLD_SECONDS: '0.2',
    ...env,
  }
}

/** Start the stand-in on a random port and wait until it listens. */
async function startStandin(env: Record<string, string> = {}, dataDir?: string): Promise<Standin> {
  const directory = dataDir ?? (await newDataDir())
  const child = spawn(process.execPath, [SERVER], {env: baseEnv(directory, env), stdio: ['ignore', 'pipe', 'pipe']})
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setInterval(() => {
      const match = /Listening on http:\/\/0\.0\.0\.0:(\d+)/.exec(output)
      if (match) {
        clearInterval(timer)
        resolve(Number(match[1]))
      }
    }, 10)
    exited.then((code) => {
      clearInterval(timer)
      reject(new Error(`stand-in exited with ${code} before listening:\n${output}`))
    })
  })
  const standin: Standin = {
    url: `http://127.0.0.1:${port}`,
    dataDir: directory,
    output: () => output,
    async stop() {
      running.delete(standin)
      if (child.exitCode === null) child.kill('SIGTERM')
      return exited
    },
  }
  running.add(standin)
  return standin
}

/** Run the stand-in expecting it to exit on its own. */
async function runUntilExit(env: Record<string, string>): Promise<{code: number | null; output: string}> {
  const child = spawn(process.execPath, [SERVER], {env: baseEnv(await newDataDir(), env), stdio: ['ignore', 'pipe', 'pipe']})
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  return {code, output}
}

async function call(
  standin: Standin,
  method: string,
  path: string,
  options: {token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string>} = {},
): Promise<{status: number; body: Json; headers: Headers}> {
  const headers: Record<string, string> = {...options.headers}
  if (options.token) headers.authorization = `Bearer ${options.token}`
  let payload: string | undefined = options.rawBody
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json'
    payload = JSON.stringify(options.body)
  }
  const response = await fetch(`${standin.url}${path}`, {method, headers, body: payload})
  const text = await response.text()
  return {status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers}
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function bootstrapAdmin(standin: Standin, email = 'admin@example.com', password = 'a-long-password'): Promise<string> {
  const response = await call(standin, 'POST', '/auth/bootstrap', {body: {email, password}})
  expect(response.status).toBe(200)
  return response.body.access_token
}

afterAll(async () => {
  await Promise.all([...running].map((standin) => standin.stop()))
  await Promise.all(dataDirs.map((directory) => rm(directory, {recursive: true, force: true})))
})

describe('stand-in startup', () => {
  it('refuses to start without a JWT_SECRET_KEY of at least 32 characters', async () => {
    for (const secret of ['', 'short-secret']) {
      const {code, output} = await runUntilExit({JWT_SECRET_KEY: secret})
      expect(code).toBe(1)
      expect(output).toMatch(/JWT_SECRET_KEY is missing or shorter than 32 characters/)
    }
  })

  it('logs the Agnes boot line and stops cleanly on SIGTERM', async () => {
    const standin = await startStandin({AGNES_VERSION: '0.84.2', RELEASE_CHANNEL: 'stable', STANDIN_SCHEMA_VERSION: '121'})
    expect(standin.output()).toContain('Agnes 0.84.2 | channel: stable | schema v121')
    expect(await standin.stop()).toBe(0)
    expect(standin.output()).toContain('Shutdown complete')
  })
})

describe('health and version', () => {
  it('answers /api/health, /api/version, /healthz and /readyz like Agnes', async () => {
    const standin = await startStandin({AGNES_VERSION: '0.84.2', RELEASE_CHANNEL: 'stable', AGNES_TAG: 'stable-2026.04.2', AGNES_VAULT_KEY: VAULT_KEY})
    const health = await call(standin, 'GET', '/api/health')
    expect(health.status).toBe(200)
    expect(health.body).toEqual({status: 'ok', vault_key_configured: true, db_schema: 'ok', current: 121, expected: 121})
    expect(health.headers.get('x-agnes-latest-version')).toBe('0.84.2')

    const version = await call(standin, 'GET', '/api/version')
    expect(version.body).toEqual({version: '0.84.2', channel: 'stable', image_tag: 'stable-2026.04.2', deployed_at: expect.any(String)})
    expect((await call(standin, 'GET', '/healthz')).body).toEqual({status: 'alive'})
    expect((await call(standin, 'GET', '/readyz')).body).toMatchObject({status: 'ready', failed_checks: []})

    const detailed = await call(standin, 'GET', '/api/health/detailed?include=schema', {token: SCHEDULER_TOKEN})
    expect(detailed.body).toMatchObject({
      status: 'healthy', caller_role: 'admin', version: '0.84.2', channel: 'stable', image_tag: 'stable-2026.04.2', schema_version: 121,
    })
    expect(detailed.body.services.db_schema).toMatchObject({db_schema: 'ok', current: 121, expected: 121})
  })

  it('reports vault_key_configured false for a key that is not a Fernet key', async () => {
    const standin = await startStandin({AGNES_VAULT_KEY: 'not-a-fernet-key'})
    expect((await call(standin, 'GET', '/api/health')).body.vault_key_configured).toBe(false)
  })
})

describe('authentication', () => {
  it('applies the bearer rules: missing, invalid, scheduler token, session JWT', async () => {
    const standin = await startStandin()
    const missing = await call(standin, 'GET', '/api/admin/registry')
    expect(missing).toMatchObject({status: 401, body: {detail: 'Missing or invalid Authorization header'}})
    const malformed = await call(standin, 'GET', '/api/admin/registry', {headers: {authorization: 'Token abc'}})
    expect(malformed.body.detail).toBe('Missing or invalid Authorization header')
    const invalid = await call(standin, 'GET', '/api/admin/registry', {token: 'not-a-valid-token'})
    expect(invalid).toMatchObject({status: 401, body: {detail: 'Invalid or expired token'}})

    expect((await call(standin, 'GET', '/api/admin/registry', {token: SCHEDULER_TOKEN})).status).toBe(200)
    const session = await bootstrapAdmin(standin)
    expect((await call(standin, 'GET', '/api/admin/registry', {token: session})).status).toBe(200)
  })

  it('does not accept a scheduler token shorter than 32 characters', async () => {
    const shortToken = 'too-short-scheduler-token'
    const standin = await startStandin({SCHEDULER_API_TOKEN: shortToken})
    expect((await call(standin, 'GET', '/api/admin/registry', {token: shortToken})).status).toBe(401)
  })

  it('bootstraps once, then locks (403) unless X-Bootstrap-Token matches', async () => {
    const standin = await startStandin({AGNES_BOOTSTRAP_TOKEN: BOOTSTRAP_TOKEN})
    const badEmail = await call(standin, 'POST', '/auth/bootstrap', {body: {email: 'no-at-sign'}})
    expect(badEmail).toMatchObject({status: 422, body: {detail: 'A valid email address is required'}})

    const first = await call(standin, 'POST', '/auth/bootstrap', {body: {email: 'Admin@Example.com', password: 'pw-123456'}})
    expect(first.status).toBe(200)
    expect(validateSchema('TokenResponse', first.body).ok).toBe(true)
    expect(first.body).toMatchObject({token_type: 'bearer', email: 'admin@example.com', role: 'admin'})

    const locked = await call(standin, 'POST', '/auth/bootstrap', {body: {email: 'other@example.com'}})
    expect(locked.status).toBe(403)
    expect(locked.body.detail).toMatch(/^Bootstrap disabled — this instance is already initialised/)
    const wrongToken = await call(standin, 'POST', '/auth/bootstrap', {body: {email: 'other@example.com'}, headers: {'x-bootstrap-token': 'wrong'}})
    expect(wrongToken.status).toBe(403)
    const bypass = await call(standin, 'POST', '/auth/bootstrap', {body: {email: 'other@example.com'}, headers: {'x-bootstrap-token': BOOTSTRAP_TOKEN}})
    expect(bypass.status).toBe(200)

    const login = await call(standin, 'POST', '/auth/token', {body: {email: 'admin@example.com', password: 'pw-123456'}})
    expect(login).toMatchObject({status: 200, body: {role: 'admin'}})
    expect((await call(standin, 'POST', '/auth/token', {body: {email: 'admin@example.com', password: 'wrong'}})).body.detail).toBe('Invalid password')
    expect((await call(standin, 'POST', '/auth/token', {body: {email: 'nobody@example.com', password: 'x'}})).body.detail).toBe('User not found')
    expect((await call(standin, 'POST', '/auth/token', {body: {email: 'other@example.com', password: 'x'}})).body.detail)
      .toMatch(/external authentication/)
  })

  it('locks bootstrap from the first boot when SEED_ADMIN_EMAIL is set', async () => {
    const standin = await startStandin({SEED_ADMIN_EMAIL: 'seed@example.com'})
    expect((await call(standin, 'POST', '/auth/bootstrap', {body: {email: 'seed@example.com'}})).status).toBe(403)
  })

  it('answers 404 on /auth/token when the password provider is not allowed', async () => {
    const standin = await startStandin({AGNES_AUTH_PROVIDERS: 'google'})
    expect(await call(standin, 'POST', '/auth/token', {body: {}})).toMatchObject({status: 404, body: {detail: 'Not Found'}})
  })

  it('mints personal access tokens from a session only', async () => {
    const standin = await startStandin()
    const session = await bootstrapAdmin(standin)
    const created = await call(standin, 'POST', '/auth/tokens', {token: session, body: {name: 'ci'}})
    expect(created.status).toBe(201)
    expect(validateSchema('CreateTokenResponse', created.body).ok).toBe(true)
    expect((await call(standin, 'GET', '/api/admin/registry', {token: created.body.token})).status).toBe(200)
    expect((await call(standin, 'POST', '/auth/tokens', {token: SCHEDULER_TOKEN, body: {name: 'x'}})).status).toBe(403)
    expect((await call(standin, 'DELETE', `/auth/tokens/${created.body.id}`, {token: session})).status).toBe(204)
    expect(await call(standin, 'GET', '/api/admin/registry', {token: created.body.token})).toMatchObject({status: 401, body: {detail: 'Token revoked'}})
  })
})

describe('request validation', () => {
  it('answers 422 with a pydantic-style list for schema-invalid bodies', async () => {
    const standin = await startStandin()
    const wrongType = await call(standin, 'POST', '/api/admin/configure', {token: SCHEDULER_TOKEN, body: {data_source: 5}})
    expect(wrongType.status).toBe(422)
    expect(wrongType.body.detail).toEqual([expect.objectContaining({loc: ['body', 'data_source'], msg: 'Input should be a valid string', type: 'string_type'})])
    expect(validateSchema('HTTPValidationError', wrongType.body).ok).toBe(true)

    const missing = await call(standin, 'POST', '/api/admin/register-table', {token: SCHEDULER_TOKEN, body: {}})
    expect(missing.body.detail[0]).toMatchObject({loc: ['body', 'name'], type: 'missing'})
    const noBody = await call(standin, 'POST', '/api/query', {token: SCHEDULER_TOKEN})
    expect(noBody.body.detail[0]).toMatchObject({loc: ['body'], type: 'missing'})
    const badJson = await call(standin, 'POST', '/api/query', {token: SCHEDULER_TOKEN, rawBody: '{"sql":', headers: {'content-type': 'application/json'}})
    expect(badJson.body.detail[0]).toMatchObject({type: 'json_invalid'})
    const badLimit = await call(standin, 'GET', '/api/jobs?limit=501', {token: SCHEDULER_TOKEN})
    expect(badLimit.body.detail[0]).toMatchObject({loc: ['query', 'limit'], type: 'less_than_equal'})
  })

  it('validates bodies and query parameters offline through validate.mjs', () => {
    expect(validateRequestBody('POST', '/api/admin/configure', {data_source: 'keboola', keboola_token: null}).ok).toBe(true)
    expect(validateRequestBody('POST', '/api/admin/register-table', {name: 'x', primary_key: ['a', 1]}).errors)
      .toEqual([{loc: ['body', 'primary_key', 1], msg: 'Input should be a valid string', type: 'string_type'}])
    expect(validateRequestBody('POST', '/api/sync/trigger', undefined).ok).toBe(true)
    expect(validateRequestBody('POST', '/api/admin/tables', {}).errors[0].type).toBe('unknown_operation')
    expect(validateRequestBody('GET', '/api/jobs/abc?x=1', undefined).ok).toBe(true)
    expect(validateSchema('QueryRequest', {sql: 'SELECT 1', limit: 1.5}).errors[0].type).toBe('int_from_float')
    const query = validateQueryParams('POST', '/api/admin/discover-and-register', new URLSearchParams('dry_run=true'))
    expect(query).toMatchObject({ok: true, values: {dry_run: true}})
  })
})

describe('admin configuration and tables', () => {
  it('configures Keboola, discovers tables and guards a connection change with 409', async () => {
    const standin = await startStandin()
    const token = SCHEDULER_TOKEN
    const keboola = {data_source: 'keboola', keboola_token: 'kbc-token-value', keboola_url: 'https://connection.keboola.com'}
    expect(await call(standin, 'POST', '/api/admin/configure', {token, body: keboola}))
      .toMatchObject({status: 200, body: {status: 'ok', data_source: 'keboola', connection: 'verified'}})

    const dryRun = await call(standin, 'POST', '/api/admin/discover-and-register?dry_run=true', {token})
    expect(dryRun.body).toMatchObject({registered: 0, dry_run: true, would_register: ['in_c-crm_orders', 'in_c-crm_customers', 'in_c-finance_invoices']})
    const discovered = await call(standin, 'POST', '/api/admin/discover-and-register', {token})
    expect(discovered.body).toMatchObject({registered: 3, skipped: 0, errors: 0, drifted: 0, source: 'keboola', dry_run: false})
    expect((await call(standin, 'POST', '/api/admin/discover-and-register', {token})).body).toMatchObject({registered: 0, skipped: 3})

    const repoint = {...keboola, keboola_url: 'https://connection.eu-central-1.keboola.com'}
    const conflict = await call(standin, 'POST', '/api/admin/configure', {token, body: repoint})
    expect(conflict.status).toBe(409)
    expect(conflict.body.detail).toMatchObject({
      error: 'connection_change_affects_registrations', source: 'keboola', affected_tables: 3,
      changes: [{field: 'stack_url', before: 'https://connection.keboola.com', after: repoint.keboola_url}],
    })
    expect(conflict.body.detail.hint).toContain('confirm_connection_change')
    expect((await call(standin, 'POST', '/api/admin/configure', {token, body: {...repoint, confirm_connection_change: true}})).status).toBe(200)

    expect(standin.output()).not.toContain('kbc-token-value')
    const log = await call(standin, 'GET', '/__standin/requests')
    expect(JSON.stringify(log.body)).not.toContain('kbc-token-value')
    expect(log.body.requests[0]).toMatchObject({method: 'POST', path: '/api/admin/configure', body: {keboola_token: '<redacted>'}, auth: 'scheduler'})
  })

  it('rejects bad configure input with string details', async () => {
    const standin = await startStandin({AGNES_SSRF_ALLOWED_HOSTS: 'kbc.internal.test'})
    const configure = (body: object) => call(standin, 'POST', '/api/admin/configure', {token: SCHEDULER_TOKEN, body})
    expect((await configure({data_source: 'csv'})).body.detail).toBe("data_source must be 'keboola', 'bigquery', or 'local'")
    expect((await configure({data_source: 'keboola', keboola_url: 'https://connection.keboola.com'})).body.detail)
      .toBe('keboola_token and keboola_url are required for Keboola data source')
    expect(await configure({data_source: 'keboola', keboola_token: 't', keboola_url: 'http://127.0.0.1:8080'}))
      .toMatchObject({status: 400, body: {detail: expect.stringMatching(/private, loopback or reserved/)}})
    expect((await configure({data_source: 'keboola', keboola_token: 't', keboola_url: 'http://localhost'})).status).toBe(400)
    expect((await configure({data_source: 'keboola', keboola_token: 'invalid', keboola_url: 'https://connection.keboola.com'})).body.detail)
      .toBe('Keboola connection failed. Check your token and URL.')
    expect((await configure({data_source: 'keboola', keboola_token: 't', keboola_url: 'http://kbc.internal.test:8080'})).status).toBe(200)
    expect((await configure({data_source: 'bigquery'})).body.detail).toBe('bigquery_project is required for BigQuery data source')
    expect((await configure({data_source: 'local'})).body).toEqual({status: 'ok', data_source: 'local', connection: 'local'})
  })

  it('registers tables: 201, 409 on duplicates, 422 on bad names or unconfigured sources', async () => {
    const standin = await startStandin()
    const token = SCHEDULER_TOKEN
    const register = (body: object) => call(standin, 'POST', '/api/admin/register-table', {token, body})
    expect(await register({name: ' Orders 90d '})).toMatchObject({status: 201, body: {id: 'orders_90d', status: 'registered'}})
    expect(await register({name: 'orders_90d'})).toMatchObject({status: 409, body: {detail: "Table 'orders_90d' already registered"}})
    expect(await register({name: '9lives'})).toMatchObject({status: 422, body: {detail: expect.any(String)}})

    await call(standin, 'POST', '/api/admin/configure', {token, body: {data_source: 'bigquery', bigquery_project: 'acme'}})
    expect((await register({name: 'kbc_only', source_type: 'keboola'})).status).toBe(422)
    expect(await register({name: 'bq_remote', source_type: 'bigquery', bucket: 'sales', source_table: 'orders'}))
      .toMatchObject({status: 200, body: {status: 'ok', view_name: 'bq_remote'}})
    expect((await register({name: 'bq_deferred', source_type: 'bigquery', defer_rebuild: true})).status).toBe(202)

    const catalog = await call(standin, 'GET', '/api/catalog/tables', {token})
    expect(validateSchema('CatalogTablesResponse', catalog.body).ok).toBe(true)
    expect(catalog.body.count).toBe(3)
    const registry = await call(standin, 'GET', '/api/admin/registry', {token})
    expect(registry.body.tables.find((table: Json) => table.id === 'bq_remote')).toMatchObject({query_mode: 'remote', last_sync_status: 'pending'})
  })

  it('runs single SELECT queries only', async () => {
    const standin = await startStandin()
    const query = (sql: string) => call(standin, 'POST', '/api/query', {token: SCHEDULER_TOKEN, body: {sql}})
    const one = await query('SELECT 1 as test;')
    expect(one.body).toEqual({columns: ['test'], rows: [[1]], row_count: 1, truncated: false, bytes_scanned: null, row_scope: null})
    expect(validateSchema('QueryResponse', one.body).ok).toBe(true)
    expect((await query('DROP TABLE x')).body.detail).toBe('Only single SELECT queries are allowed')
    expect((await query('SELECT 1; SELECT 2')).status).toBe(400)
    await call(standin, 'POST', '/api/admin/register-table', {token: SCHEDULER_TOKEN, body: {name: 'orders'}})
    expect((await query('select count(*) from orders')).body.rows).toEqual([[0]])
    expect((await query('select count(*) from missing')).status).toBe(400)
  })
})

describe('sync and jobs', () => {
  it('triggers a data-refresh job, answers 409 while it runs, and reports the lock', async () => {
    const standin = await startStandin({STANDIN_TRIGGER_HOLD_SECONDS: '0'})
    const token = SCHEDULER_TOKEN
    expect((await call(standin, 'POST', '/api/sync/trigger', {token: 'x'.repeat(40)})).status).toBe(401)
    const triggered = await call(standin, 'POST', '/api/sync/trigger', {token, body: {tables: ['orders']}})
    expect(triggered.body).toMatchObject({status: 'triggered', tables: ['orders'], source: 'all', job_id: expect.any(String)})
    const jobId = triggered.body.job_id

    const conflict = await call(standin, 'POST', '/api/sync/trigger', {token})
    expect(conflict).toMatchObject({status: 409, body: {detail: {error: 'sync_already_in_progress', job_id: jobId}}})
    await sleep(200)
    expect((await call(standin, 'GET', '/api/sync/status')).body).toEqual({locked: true})
    expect((await call(standin, 'GET', '/api/jobs?kind=data-refresh&status=running&limit=1', {token})).body.jobs).toHaveLength(1)

    await sleep(400)
    expect((await call(standin, 'GET', `/api/jobs/${jobId}`, {token})).body.job).toMatchObject({id: jobId, kind: 'data-refresh', status: 'done', attempts: 1})
    expect((await call(standin, 'GET', '/api/sync/status')).body).toEqual({locked: false})
    expect(await call(standin, 'GET', '/api/jobs/nope', {token})).toMatchObject({status: 404, body: {detail: 'job_not_found'}})
    expect((await call(standin, 'POST', '/api/sync/trigger', {token, body: {tables: 'orders'}})).status).toBe(422)
    expect((await call(standin, 'POST', '/api/sync/trigger?source=nosuch', {token})).status).toBe(422)
  })

  it('holds the lock after a trigger, on demand, and can answer the legacy 409', async () => {
    const standin = await startStandin({STANDIN_TRIGGER_HOLD_SECONDS: '5', STANDIN_SYNC_SECONDS: '0', STANDIN_LEGACY_SYNC_409: '1'})
    expect((await call(standin, 'POST', '/api/sync/trigger', {token: SCHEDULER_TOKEN})).status).toBe(200)
    await sleep(50)
    expect((await call(standin, 'GET', '/api/sync/status')).body).toEqual({locked: true})

    const other = await startStandin({STANDIN_LEGACY_SYNC_409: '1'})
    const held = await call(other, 'POST', '/__standin/sync-lock', {body: {locked: true, with_running_job: true}})
    expect(held.body).toMatchObject({locked: true, running_job_id: expect.any(String)})
    expect((await call(other, 'GET', '/api/sync/status')).body).toEqual({locked: true})
    expect(await call(other, 'POST', '/api/sync/trigger', {token: SCHEDULER_TOKEN})).toMatchObject({status: 409, body: {detail: 'sync_already_in_progress'}})
    await call(other, 'POST', '/__standin/sync-lock', {body: {locked: false}})
    expect((await call(other, 'GET', '/api/sync/status')).body).toEqual({locked: false})
    expect((await call(other, 'GET', '/api/jobs?status=running', {token: SCHEDULER_TOKEN})).body.jobs).toEqual([])
  })
})

describe('state', () => {
  it('survives a restart and migrates an older schema with a .pre-migrate snapshot', async () => {
    const first = await startStandin()
    const session = await bootstrapAdmin(first)
    await call(first, 'POST', '/api/admin/register-table', {token: session, body: {name: 'orders'}})
    expect(await first.stop()).toBe(0)

    const statePath = join(first.dataDir, 'state', 'standin-state.json')
    const saved = JSON.parse(await readFile(statePath, 'utf8'))
    await writeFile(statePath, JSON.stringify({...saved, schema_version: 119}))

    const second = await startStandin({}, first.dataDir)
    expect(second.output()).toContain('Migrated state schema v119 -> v121')
    expect(existsSync(`${statePath}.pre-migrate`)).toBe(true)
    expect((await call(second, 'GET', '/api/admin/registry', {token: session})).body.count).toBe(1)
    expect((await call(second, 'POST', '/auth/bootstrap', {body: {email: 'late@example.com'}})).status).toBe(403)
    expect((await call(second, 'GET', '/api/health')).body.db_schema).toBe('ok')
  })

  it('reports a schema mismatch when the state is ahead of the build', async () => {
    const newer = await startStandin({STANDIN_SCHEMA_VERSION: '122'})
    await newer.stop()
    const older = await startStandin({STANDIN_SCHEMA_VERSION: '121'}, newer.dataDir)
    expect((await call(older, 'GET', '/api/health')).body).toEqual({
      status: 'unhealthy', vault_key_configured: false, db_schema: 'mismatch', current: 122, expected: 121,
    })
  })
})

describe('variants', () => {
  it('crash: logs an error and exits 1', async () => {
    const {code, output} = await runUntilExit({STANDIN_VARIANT: 'crash'})
    expect(code).toBe(1)
    expect(output).toMatch(/ERROR Fatal error during startup/)
  })

  it('never-healthy: serves, but health is unhealthy with db_schema unreachable', async () => {
    const standin = await startStandin({STANDIN_VARIANT: 'never-healthy'})
    const health = await call(standin, 'GET', '/api/health')
    expect(health).toMatchObject({status: 200, body: {status: 'unhealthy', db_schema: 'unreachable'}})
    expect((await call(standin, 'GET', '/readyz')).status).toBe(503)
  })

  it('schema-mismatch: health reports current > expected', async () => {
    const standin = await startStandin({STANDIN_VARIANT: 'schema-mismatch', STANDIN_SCHEMA_VERSION: '121'})
    expect((await call(standin, 'GET', '/api/health')).body).toMatchObject({status: 'unhealthy', db_schema: 'mismatch', current: 122, expected: 121})
  })

  it('failing-smoke: healthy, but POST /api/query answers 500', async () => {
    const standin = await startStandin({STANDIN_VARIANT: 'failing-smoke'})
    expect((await call(standin, 'GET', '/api/health')).body.status).toBe('ok')
    const query = await call(standin, 'POST', '/api/query', {token: SCHEDULER_TOKEN, body: {sql: 'SELECT 1 as test'}})
    expect(query).toMatchObject({status: 500, body: {detail: 'Internal server error', request_id: expect.any(String)}})
  })

  it('slow-boot: listens only after STANDIN_BOOT_SECONDS', async () => {
    const started = Date.now()
    const standin = await startStandin({STANDIN_VARIANT: 'slow-boot', STANDIN_BOOT_SECONDS: '1'})
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
    expect((await call(standin, 'GET', '/api/health')).body.status).toBe('ok')
  })
})

describe('secrets', () => {
  it('never writes a secret to its log', async () => {
    const standin = await startStandin({AGNES_BOOTSTRAP_TOKEN: BOOTSTRAP_TOKEN, SEED_ADMIN_EMAIL: 'seed@example.com', SEED_ADMIN_PASSWORD: 'seed-password-1'})
    await call(standin, 'POST', '/auth/token', {body: {email: 'seed@example.com', password: 'seed-password-1'}})
    await call(standin, 'POST', '/auth/bootstrap', {body: {email: 'x@example.com', password: 'bootstrap-pw'}, headers: {'x-bootstrap-token': BOOTSTRAP_TOKEN}})
    await call(standin, 'GET', '/api/admin/registry', {token: SCHEDULER_TOKEN})
    await standin.stop()
    for (const secret of [JWT_SECRET, SCHEDULER_TOKEN, BOOTSTRAP_TOKEN, 'seed-password-1', 'bootstrap-pw']) {
      expect(standin.output()).not.toContain(secret)
    }
  })
})
