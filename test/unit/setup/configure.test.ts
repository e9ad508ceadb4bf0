// runConfigure, registerTables and connectToInstance against a scripted in-process Agnes: the connection-change
// decision, the generated password's lifecycle, partial results on failure, the statuses register-table reports,
// and where the token comes from.
import {readFileSync} from 'node:fs'
import {IncomingMessage, createServer} from 'node:http'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {AgnesApi} from '../../../src/lib/api/agnes-api.js'
import {ApiClient} from '../../../src/lib/api/client.js'
import {connectToInstance, instanceOrigins} from '../../../src/lib/api/connect.js'
import {AgnesError} from '../../../src/lib/errors.js'
import {loadInstance, readTextIfExists} from '../../../src/lib/instance/state.js'
import {RecordingReporter} from '../../../src/lib/ui/reporter.js'
import {ConfigureResult, runConfigure} from '../../../src/lib/setup/configure.js'
import {ConfigureSettings} from '../../../src/lib/setup/configure-settings.js'
import {registerTables, validateTables} from '../../../src/lib/setup/tables.js'
import {validateRequestBody} from '../../standin/validate.mjs'

const SCHEDULER_TOKEN = 's'.repeat(48)

interface Call {
  method: string
  path: string
  body: any
  authorization?: string
}

type Route = (body: any, request: IncomingMessage) => [number, unknown]

let dir: string
const closers: Array<() => Promise<unknown>> = []

async function fake(routes: Record<string, Route>): Promise<{url: string; port: number; calls: Call[]}> {
  const calls: Call[] = []
  const server = createServer((request, response) => {
    let text = ''
    request.on('data', (chunk: Buffer) => (text += chunk.toString()))
    request.on('end', () => {
      const path = request.url?.split('?')[0] ?? ''
      const body = text ? JSON.parse(text) : undefined
      calls.push({authorization: request.headers.authorization, body, method: request.method ?? '', path})
      const [status, answer] = routes[`${request.method} ${path}`]?.(body, request) ?? [404, {detail: 'Not Found'}]
      response.writeHead(status, {'content-type': 'application/json'})
      response.end(JSON.stringify(answer))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closers.push(() => new Promise((resolve) => server.close(resolve)))
  const {port} = server.address() as AddressInfo
  return {calls, port, url: `http://127.0.0.1:${port}`}
}

function api(url: string): AgnesApi {
  const client = new ApiClient({baseUrl: url, bootWaitMs: 0, token: SCHEDULER_TOKEN})
  closers.push(() => client.close())
  return new AgnesApi(client)
}

function settings(overrides: Partial<ConfigureSettings> = {}): ConfigureSettings {
  return {
    confirmConnectionChange: false,
    dataSource: {data_source: 'keboola', keboola_token: 'kbc-token-abcdef', keboola_url: 'https://connection.eu-central-1.keboola.com'},
    discover: false,
    dryRun: false,
    revealPassword: false,
    sync: false,
    tables: [],
    wait: false,
    waitTimeoutMs: 10_000,
    ...overrides,
  }
}

const CONNECTION_CHANGE = {
  detail: {
    affected_tables: 2,
    changes: [{after: 'https://connection.eu-central-1.keboola.com', before: 'https://connection.keboola.com', field: 'stack_url'}],
    error: 'connection_change_affects_registrations',
    hint: 'Re-send with confirm_connection_change: true',
    sample_tables: ['orders', 'customers'],
    source: 'keboola',
  },
}

const configureRoute: Route = (body) => (body.confirm_connection_change ? [200, {connection: 'verified', data_source: 'keboola', status: 'ok'}] : [409, CONNECTION_CHANGE])

async function rejected(promise: Promise<unknown>): Promise<AgnesError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(AgnesError)
    return error as AgnesError
  }

  throw new Error('expected an error')
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agnes-setup-configure-'))
})

afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()))
  await rm(dir, {force: true, recursive: true})
})

describe('the connection change decision', () => {
  it('asks the hook with a readable list, and re-sends with confirmation when it says yes', async () => {
    const server = await fake({'POST /api/admin/configure': configureRoute})
    const asked: string[][] = []
    const result = await runConfigure(api(server.url), settings(), {
      confirmConnectionChange: async (_change, description) => {
        asked.push(description)
        return true
      },
    })
    expect(asked[0][1]).toBe('  - stack_url: https://connection.keboola.com → https://connection.eu-central-1.keboola.com')
    expect(server.calls.map((call) => call.body.confirm_connection_change ?? false)).toEqual([false, true])
    expect(result.dataSource).toMatchObject({changed: true, connectionChange: {affectedTables: 2}, status: 'configured'})
    for (const call of server.calls) expect(validateRequestBody(call.method, call.path, call.body).ok).toBe(true)
  })

  it('without a yes it is exit 7, sent once, nothing changed', async () => {
    const server = await fake({'POST /api/admin/configure': configureRoute})
    const error = await rejected(runConfigure(api(server.url), settings(), {confirmConnectionChange: async () => false}))
    expect(error.exitCode).toBe(7)
    expect(error.message).toContain('2 registered table(s)')
    expect(error.message).toContain('Nothing was changed')
    expect(server.calls).toHaveLength(1)
  })

  it('with the flag it does not ask', async () => {
    const server = await fake({'POST /api/admin/configure': configureRoute})
    const result = await runConfigure(api(server.url), settings({confirmConnectionChange: true}), {
      confirmConnectionChange: async () => {
        throw new Error('must not ask')
      },
    })
    expect(result.dataSource.changed).toBe(true)
  })
})

describe('the generated password', () => {
  const admin = {email: 'admin@example.com', password: 'Gen3ratedPassw0rdXYZ', passwordOrigin: 'generated' as const}
  const okConfigure: Route = () => [200, {connection: 'local', data_source: 'local', status: 'ok'}]

  it('is kept in secrets.env before bootstrap and announced once the admin exists', async () => {
    const secretsFile = join(dir, '.agnes', 'secrets.env')
    let storedAtBootstrap = ''
    const server = await fake({
      'POST /api/admin/configure': okConfigure,
      'POST /auth/bootstrap': () => {
        storedAtBootstrap = readFileSync(secretsFile, 'utf8')
        return [200, {access_token: 'jwt', email: 'admin@example.com', role: 'admin', token_type: 'bearer', user_id: 'u1'}]
      },
    })
    const announced: string[] = []
    const result = await runConfigure(api(server.url), settings({admin, dataSource: {data_source: 'local'}, secretsFile}), {
      onPasswordGenerated: (email, password, savedTo) => announced.push(`${email} ${password} ${savedTo}`),
    })
    expect(storedAtBootstrap).toContain(`AGNES_ADMIN_PASSWORD=${admin.password}`)
    expect(await readFile(secretsFile, 'utf8')).toBe(storedAtBootstrap)
    expect(announced).toEqual([`admin@example.com ${admin.password} ${secretsFile}`])
    expect(result.admin).toMatchObject({passwordGenerated: true, passwordSavedTo: secretsFile, status: 'created'})
    expect(result.admin).not.toHaveProperty('password')
    expect(server.calls[0].body).toEqual({email: 'admin@example.com', password: admin.password})
  })

  it('is put into the result only when revealed', async () => {
    const server = await fake({
      'POST /api/admin/configure': okConfigure,
      'POST /auth/bootstrap': () => [200, {access_token: 'jwt', email: 'admin@example.com', role: 'admin', user_id: 'u1'}],
    })
    const result = await runConfigure(api(server.url), settings({admin, dataSource: {data_source: 'local'}, revealPassword: true}))
    expect(result.admin).toMatchObject({password: admin.password, passwordGenerated: true})
    expect(result.admin).not.toHaveProperty('passwordSavedTo')
  })

  it('is taken back out of secrets.env when bootstrap turns out to be locked', async () => {
    const secretsFile = join(dir, '.agnes', 'secrets.env')
    await mkdir(join(dir, '.agnes'))
    await writeFile(secretsFile, '# mine\nOTHER=1\n')
    const server = await fake({
      'POST /api/admin/configure': okConfigure,
      'POST /auth/bootstrap': () => [403, {detail: 'Bootstrap disabled — this instance is already initialised'}],
    })
    const reporter = new RecordingReporter()
    const result = await runConfigure(api(server.url), settings({admin, dataSource: {data_source: 'local'}, secretsFile}), {reporter})
    expect(await readFile(secretsFile, 'utf8')).toBe('# mine\nOTHER=1\n')
    expect(result.admin).toMatchObject({changed: false, status: 'exists-unverified'})
    expect(reporter.warnings.join()).toContain('the generated password was not used')
  })
})

describe('the password generated because none was given (no terminal)', () => {
  const admin = {email: 'admin@example.com', keptOnly: true, password: 'KeptOnlyPassw0rdXYZ1', passwordOrigin: 'generated' as const}
  const okConfigure: Route = () => [200, {connection: 'local', data_source: 'local', status: 'ok'}]

  it('is kept in secrets.env and named in the result, but never announced', async () => {
    const secretsFile = join(dir, '.agnes', 'secrets.env')
    const server = await fake({
      'POST /api/admin/configure': okConfigure,
      'POST /auth/bootstrap': () => [200, {access_token: 'jwt', email: 'admin@example.com', role: 'admin', user_id: 'u1'}],
    })
    const announced: string[] = []
    const result = await runConfigure(api(server.url), settings({admin, dataSource: {data_source: 'local'}, secretsFile}), {onPasswordGenerated: (email) => announced.push(email)})
    expect(announced).toEqual([])
    expect(result.admin).toMatchObject({passwordGenerated: true, passwordSavedTo: secretsFile, status: 'created'})
    expect(await readFile(secretsFile, 'utf8')).toContain(`AGNES_ADMIN_PASSWORD=${admin.password}`)
  })

  it('stays kept when the bootstrap answer is a server error, since the admin may exist with it', async () => {
    const secretsFile = join(dir, '.agnes', 'secrets.env')
    const server = await fake({'POST /auth/bootstrap': () => [500, {detail: 'Internal server error'}]})
    await rejected(runConfigure(api(server.url), settings({admin, dataSource: {data_source: 'local'}, secretsFile})))
    expect(await readFile(secretsFile, 'utf8')).toContain(`AGNES_ADMIN_PASSWORD=${admin.password}`)
  })

  it('is taken back out when the instance refused the request (a 4xx), so the next run starts clean', async () => {
    const secretsFile = join(dir, '.agnes', 'secrets.env')
    const server = await fake({'POST /auth/bootstrap': () => [422, {detail: [{loc: ['body', 'email'], msg: 'value is not a valid email address'}]}]})
    await rejected(runConfigure(api(server.url), settings({admin, dataSource: {data_source: 'local'}, secretsFile})))
    expect(await readTextIfExists(secretsFile)).toBeUndefined()
  })
})

describe('partial results', () => {
  it('a failing later step keeps what was done in the error result', async () => {
    const server = await fake({
      'POST /api/admin/configure': () => [200, {connection: 'local', data_source: 'local', status: 'ok'}],
      'POST /api/admin/discover-and-register': () => [500, {detail: 'Discovery and registration failed: boom', request_id: 'r9'}],
      'POST /auth/bootstrap': () => [200, {access_token: 'jwt', email: 'admin@example.com', role: 'admin', user_id: 'u1'}],
    })
    const error = await rejected(
      runConfigure(api(server.url), settings({admin: {email: 'admin@example.com', password: 'long-enough-pw', passwordOrigin: 'env'}, dataSource: {data_source: 'local'}, discover: true})),
    )
    expect(error.exitCode).toBe(8)
    expect(error.message).toContain('Discovery and registration failed: boom')
    expect((error.result as ConfigureResult).admin.status).toBe('created')
    expect((error.result as ConfigureResult).dataSource.status).toBe('configured')
  })

  it('a failed sync job is exit 3 with the job error, and the rest of the result', async () => {
    const server = await fake({
      'GET /api/jobs/j1': () => [200, {job: {error: 'Keboola: 401 Unauthorized', id: 'j1', kind: 'data-refresh', status: 'failed'}}],
      'POST /api/admin/configure': () => [200, {connection: 'local', data_source: 'local', status: 'ok'}],
      'POST /api/sync/trigger': () => [200, {job_id: 'j1', status: 'triggered', tables: 'all'}],
    })
    const error = await rejected(runConfigure(api(server.url), settings({dataSource: {data_source: 'local'}, sync: true, wait: true})))
    expect([error.exitCode, error.code]).toEqual([3, 'E_SYNC_FAILED'])
    expect(error.message).toContain('Keboola: 401 Unauthorized')
    expect(error.result).toMatchObject({dataSource: {type: 'local'}, sync: {jobId: 'j1', outcome: 'failed'}})
  })
})

describe('connectToInstance', () => {
  async function instanceDir(port: number, token = SCHEDULER_TOKEN, extraEnv = '', tls = 'none'): Promise<string> {
    const instance = join(dir, 'instance')
    await mkdir(join(instance, '.agnes'), {recursive: true})
    await writeFile(join(instance, '.env'), `AGNES_HTTP_PORT=${port}\nSCHEDULER_API_TOKEN=${token}\n${extraEnv}`)
    await writeFile(
      join(instance, '.agnes', 'state.json'),
      JSON.stringify({channel: 'stable', createdAt: '', knownGood: [], managedFiles: {}, project: 'p', rejected: [], repository: 'r', stateVersion: 1, tls}),
    )
    return instance
  }

  const health: Record<string, Route> = {'GET /api/admin/registry': () => [200, {count: 0, tables: []}]}

  it('uses the instance port and its SCHEDULER_API_TOKEN', async () => {
    const server = await fake(health)
    const connection = await connectToInstance({dir: await instanceDir(server.port), env: {}})
    closers.push(() => connection.close())
    await connection.api.registry()
    expect(connection.baseUrl).toBe(server.url)
    expect(connection.credential).toBe('instance-env')
    expect(server.calls[0].authorization).toBe(`Bearer ${SCHEDULER_TOKEN}`)
  })

  it('AGNES_TOKEN and --token-file override the instance token', async () => {
    const server = await fake(health)
    const instance = await instanceDir(server.port)
    const fromEnv = await connectToInstance({dir: instance, env: {AGNES_TOKEN: 'env-token-123456'}})
    closers.push(() => fromEnv.close())
    await fromEnv.api.registry()
    await writeFile(join(dir, 'token'), 'file-token-123456\n')
    const fromFile = await connectToInstance({dir: instance, env: {AGNES_TOKEN: 'env-token-123456'}, tokenFile: join(dir, 'token')})
    closers.push(() => fromFile.close())
    await fromFile.api.registry()
    expect(server.calls.map((call) => call.authorization)).toEqual(['Bearer env-token-123456', 'Bearer file-token-123456'])
    expect([fromEnv.credential, fromFile.credential]).toEqual(['AGNES_TOKEN', 'token-file'])
  })

  it('sends the instance token only where the instance is published; another URL needs its own token (exit 3)', async () => {
    const instance = await instanceDir(8123, SCHEDULER_TOKEN, 'DOMAIN=agnes.example.com\n', 'acme')
    for (const url of ['https://elsewhere.example.com', 'https://agnes.example.com:8443', 'http://127.0.0.1:8124', 'http://localhost:8124']) {
      const error = await rejected(connectToInstance({dir: instance, env: {}, url}))
      expect(error.exitCode, url).toBe(3)
      expect(error.hint).toContain('--token-file')
      expect(error.hint).toContain('AGNES_TOKEN')
    }

    for (const url of ['https://agnes.example.com', 'https://AGNES.example.com:443/', 'http://localhost:8123']) {
      const own = await connectToInstance({dir: instance, env: {}, url})
      expect([own.credential, own.ownInstance], url).toEqual(['instance-env', true])
    }

    const explicit = await connectToInstance({dir: instance, env: {AGNES_TOKEN: 'other-token-123456'}, url: 'https://elsewhere.example.com'})
    expect([explicit.credential, explicit.ownInstance]).toEqual(['AGNES_TOKEN', false])
    const unauthenticated = await connectToInstance({dir: join(dir, 'nowhere'), env: {}, requireToken: false, url: 'https://elsewhere.example.com'})
    expect(unauthenticated.credential).toBe('none')
  })

  it('with TLS off, DOMAIN is not the instance; no credential goes over plain HTTP off loopback (exit 3)', async () => {
    const instance = await instanceDir(8123, SCHEDULER_TOKEN, 'DOMAIN=agnes.example.com\n')
    expect((await rejected(connectToInstance({dir: instance, env: {}, url: 'https://agnes.example.com'}))).exitCode).toBe(3)
    for (const env of [{}, {AGNES_TOKEN: 'other-token-123456'}]) {
      const error = await rejected(connectToInstance({dir: instance, env, url: 'http://agnes.example.com:8123'}))
      expect([error.exitCode, error.message]).toEqual([3, 'refusing to send the API token over plain HTTP to agnes.example.com:8123'])
    }
  })

  it('knows the origins the instance is published on from AGNES_HTTP_PORT, AGNES_HTTP_BIND, DOMAIN and TLS', async () => {
    const origins = async (env: string, tls = 'none') => instanceOrigins(await loadInstance(await instanceDir(8123, SCHEDULER_TOKEN, env, tls)))
    expect(await origins('AGNES_HTTP_BIND=0.0.0.0\n')).toEqual(['http://127.0.0.1:8123', 'http://localhost:8123'])
    expect(await origins('AGNES_HTTP_BIND=127.0.0.1\nDOMAIN=agnes.example.com\n', 'acme')).toEqual(['http://127.0.0.1:8123', 'http://localhost:8123', 'https://agnes.example.com'])
    expect(await origins('AGNES_HTTP_BIND=::\n')).toEqual(['http://127.0.0.1:8123', 'http://localhost:8123', 'http://[::1]:8123'])
    expect(await origins('AGNES_HTTP_BIND=127.0.0.5\n')).toEqual(['http://127.0.0.1:8123', 'http://127.0.0.5:8123'])
  })

  it('explains a directory that is no instance, and a short scheduler token (exit 3)', async () => {
    expect((await rejected(connectToInstance({dir: join(dir, 'nowhere'), env: {}}))).exitCode).toBe(3)
    const short = await rejected(connectToInstance({dir: await instanceDir(1, 'short'), env: {}}))
    expect(short.exitCode).toBe(3)
    expect(short.message).toContain('shorter than 32 characters')
  })

  it('rejects a bad --url (exit 3)', async () => {
    expect((await rejected(connectToInstance({dir, env: {AGNES_TOKEN: 'x'.repeat(10)}, url: 'ftp://agnes'}))).exitCode).toBe(3)
  })
})

describe('registerTables reports what the instance returned', () => {
  const tables = (names: string[]) => validateTables(names.map((name) => ({input: {name, sourceType: 'bigquery', bucket: 'analytics', table: name}})))

  it('201, 200, 202 and a 500 rebuild_failed each keep their status; rebuild_failed warns', async () => {
    const answers: Record<string, [number, unknown]> = {
      a: [201, {id: 'a', name: 'a', status: 'registered', view_name: 'a'}],
      b: [200, {id: 'b', name: 'b', status: 'ok', view_name: 'b'}],
      c: [202, {id: 'c', name: 'c', status: 'accepted'}],
      d: [500, {detail: 'view rebuild failed: BigQuery said no', errors: ['boom'], id: 'd', name: 'd', status: 'rebuild_failed'}],
    }
    const server = await fake({
      'GET /api/admin/registry': () => [200, {count: 0, tables: []}],
      'POST /api/admin/register-table': (body) => answers[body.name],
    })
    const reporter = new RecordingReporter()
    const results = await registerTables(api(server.url), tables(['a', 'b', 'c', 'd']), {ifNotExists: false, reporter})
    expect(results.map((result) => [result.id, result.httpStatus, result.status])).toEqual([
      ['a', 201, 'registered'],
      ['b', 200, 'ok'],
      ['c', 202, 'accepted'],
      ['d', 500, 'rebuild_failed'],
    ])
    expect(reporter.warnings.join()).toContain('view rebuild failed: BigQuery said no')
  })

  it('a duplicate found in the registry fails before anything is registered', async () => {
    const server = await fake({'GET /api/admin/registry': () => [200, {count: 1, tables: [{id: 'b', name: 'b'}]}]})
    const error = await rejected(registerTables(api(server.url), tables(['a', 'b']), {ifNotExists: false}))
    expect(error.exitCode).toBe(7)
    expect(server.calls.map((call) => call.method)).toEqual(['GET'])
  })

  it('a 409 from a concurrent registration is skipped with ifNotExists, and otherwise names what was already done', async () => {
    const server = await fake({
      'GET /api/admin/registry': () => [200, {count: 0, tables: []}],
      'POST /api/admin/register-table': (body) => (body.name === 'a' ? [201, {id: 'a', name: 'a', status: 'registered'}] : [409, {detail: "Table 'b' already registered"}]),
    })
    const skipped = await registerTables(api(server.url), tables(['a', 'b']), {ifNotExists: true})
    expect(skipped.map((result) => result.status)).toEqual(['registered', 'exists'])
    const error = await rejected(registerTables(api(server.url), tables(['a', 'b']), {ifNotExists: false}))
    expect(error.exitCode).toBe(7)
    expect(error.message).toContain('Already done before the failure: a (registered)')
    expect(error.result).toMatchObject({tables: [{id: 'a'}]})
  })

  it('a 500 that is not rebuild_failed is exit 8', async () => {
    const server = await fake({
      'GET /api/admin/registry': () => [200, {count: 0, tables: []}],
      'POST /api/admin/register-table': () => [500, {detail: 'Internal server error', request_id: 'x'}],
    })
    expect((await rejected(registerTables(api(server.url), tables(['a']), {ifNotExists: false}))).exitCode).toBe(8)
  })
})
