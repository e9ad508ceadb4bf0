// configure, register-table and smoke through the built CLI (bin/run.js, no terminal) against the Agnes
// stand-in running as a local process: exit codes, one JSON document on stdout, nothing sent for bad input,
// no secret in any output, and every request body valid against the OpenAPI subset.
import {ChildProcess, spawn} from 'node:child_process'
import {existsSync, statSync} from 'node:fs'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {freePort, readEnvFile} from '../e2e/fixtures.js'
import {CliResult, repoRoot, runAgnes} from '../helpers/run-cli.js'
import {validateQueryParams, validateRequestBody} from '../standin/validate.mjs'

const SERVER = join(repoRoot, 'test', 'standin', 'server.mjs')
const ADMIN_PASSWORD = 'headless-admin-password-7f3a'
const KEBOOLA_TOKEN = 'kbc-headless-token-59d1e2'
const KEBOOLA_URL = 'https://connection.keboola.com'
const OTHER_KEBOOLA_URL = 'https://connection.eu-central-1.keboola.com'

interface LoggedRequest {
  method: string
  path: string
  query: Record<string, string>
  body: unknown
  status: number
}

interface Standin {
  url: string
  child: ChildProcess
  output(): string
  requests(): Promise<LoggedRequest[]>
  clearRequests(): Promise<void>
  stop(): Promise<void>
}

interface Instance {
  dir: string
  url: string
  env: Record<string, string>
  standin: Standin
}

const cleanups: Array<() => Promise<unknown>> = []
const secrets = new Set<string>([ADMIN_PASSWORD, KEBOOLA_TOKEN])
const allStandins: Standin[] = []

async function startStandin(port: number, env: Record<string, string>): Promise<Standin> {
  const dataDir = await mkdtemp(join(tmpdir(), 'agnes-headless-data-'))
  cleanups.push(() => rm(dataDir, {force: true, recursive: true}))
  const child = spawn(process.execPath, [SERVER], {
    env: {AGNES_SSRF_ALLOWED_HOSTS: 'connection.keboola.com,connection.eu-central-1.keboola.com', DATA_DIR: dataDir, PATH: process.env.PATH, PORT: String(port), STANDIN_SYNC_SECONDS: '0.5', STANDIN_TRIGGER_HOLD_SECONDS: '0.5', ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  const deadline = Date.now() + 10_000
  while (!output.includes('Listening on')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the stand-in did not start:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }

  const url = `http://127.0.0.1:${port}`
  const standin: Standin = {
    child,
    async clearRequests() {
      await fetch(`${url}/__standin/requests`, {method: 'DELETE'})
    },
    output: () => output,
    async requests() {
      return ((await (await fetch(`${url}/__standin/requests`)).json()) as {requests: LoggedRequest[]}).requests
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
    },
    url,
  }
  allStandins.push(standin)
  cleanups.push(() => standin.stop())
  return standin
}

/** `agnes init` for a fresh directory, then the stand-in started with that instance's secrets on its port. */
async function newInstance(options: {keboola?: boolean; standinEnv?: Record<string, string>} = {}): Promise<Instance> {
  const dir = await mkdtemp(join(tmpdir(), 'agnes-headless-'))
  cleanups.push(() => rm(dir, {force: true, recursive: true}))
  const port = await freePort()
  const source = options.keboola ? ['--data-source', 'keboola', '--keboola-url', KEBOOLA_URL] : ['--data-source', 'local']
  const init = await runAgnes(['init', '--non-interactive', '--json', '--dir', dir, '--admin-email', 'admin@example.com', '--http-port', String(port), ...source], {
    env: {AGNES_KEBOOLA_TOKEN: KEBOOLA_TOKEN},
  })
  expect(init.exitCode, init.stderr).toBe(0)
  const env = readEnvFile(join(dir, '.env'))
  for (const key of ['JWT_SECRET_KEY', 'SESSION_SECRET', 'SCHEDULER_API_TOKEN', 'AGNES_VAULT_KEY']) secrets.add(env[key])
  const standin = await startStandin(port, {JWT_SECRET_KEY: env.JWT_SECRET_KEY, SCHEDULER_API_TOKEN: env.SCHEDULER_API_TOKEN, ...options.standinEnv})
  return {dir, env, standin, url: standin.url}
}

/** The environment of every CLI run: none of the tester's own AGNES_* settings leak in. */
function cliEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const cleared = Object.fromEntries(Object.keys(process.env).filter((key) => key.startsWith('AGNES_')).map((key) => [key, undefined]))
  return {...cleared, CI: '1', ...extra}
}

const outputs: CliResult[] = []

async function agnes(args: string[], extraEnv: Record<string, string> = {}, input?: string): Promise<CliResult> {
  const result = await runAgnes(args, {env: cliEnv(extraEnv), input})
  outputs.push(result)
  if (args.includes('--json')) {
    expect(result.json, `stdout must be exactly one JSON document:\n${result.stdout}\n--- stderr\n${result.stderr}`).toBeDefined()
    expect(result.json.ok).toBe(result.exitCode === 0)
    if (result.exitCode !== 0) expect(result.json.error.exitCode).toBe(result.exitCode)
  }

  return result
}

const withPassword = {AGNES_ADMIN_PASSWORD: ADMIN_PASSWORD}

beforeAll(() => {
  if (!existsSync(join(repoRoot, 'dist', 'commands', 'configure.js'))) throw new Error('build the CLI first: npm run build')
})

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

describe('the happy path: configure --discover --sync --wait, register-table, smoke', () => {
  let instance: Instance

  beforeAll(async () => {
    instance = await newInstance({keboola: true})
  })

  it('configures everything in one run, then changes nothing the second time', async () => {
    const args = ['configure', '--dir', instance.dir, '--json', '--discover', '--sync', '--wait']
    const first = await agnes(args, withPassword)
    expect(first.exitCode, first.stderr).toBe(0)
    expect(first.json.result).toMatchObject({
      admin: {changed: true, email: 'admin@example.com', status: 'created'},
      changed: true,
      dataSource: {changed: true, connection: 'verified', status: 'configured', type: 'keboola'},
      discovery: {registered: 3, source: 'keboola'},
      sync: {outcome: 'done', trigger: 'triggered'},
    })
    expect(first.stderr).toContain('sync done')

    const second = await agnes(['configure', '--dir', instance.dir, '--json', '--discover'], withPassword)
    expect(second.exitCode, second.stderr).toBe(0)
    expect(second.json.result).toMatchObject({
      admin: {changed: false, status: 'exists'},
      changed: false,
      dataSource: {changed: false, status: 'unchanged'},
      discovery: {registered: 0, skipped: 3},
    })
  }, 60_000)

  it('registers a table (201), refuses the duplicate (7) unless --if-not-exists (0)', async () => {
    const args = ['register-table', '--dir', instance.dir, '--json', '--name', 'crm_orders', '--source-type', 'keboola', '--table', 'in.c-crm.orders', '--primary-key', 'id']
    const created = await agnes(args)
    expect(created.exitCode, created.stderr).toBe(0)
    expect(created.json.result.tables).toEqual([{changed: true, httpStatus: 201, id: 'crm_orders', name: 'crm_orders', status: 'registered'}])

    const duplicate = await agnes(args)
    expect(duplicate.exitCode).toBe(7)
    expect(duplicate.json.error.message).toContain('already registered: crm_orders')
    expect(duplicate.json.error.hint).toContain('--if-not-exists')

    const skipped = await agnes([...args, '--if-not-exists'])
    expect(skipped.exitCode).toBe(0)
    expect(skipped.json.result).toMatchObject({changed: false, tables: [{id: 'crm_orders', status: 'exists'}]})
  }, 30_000)

  it('rejects an invalid table name with exit 3 and sends nothing', async () => {
    await instance.standin.clearRequests()
    for (const name of ['Orders; DROP TABLE users', '1st', 'a-b']) {
      const result = await agnes(['register-table', '--dir', instance.dir, '--json', '--name', name, '--source-type', 'keboola', '--table', 'in.c-crm.orders'])
      expect(result.exitCode).toBe(3)
      expect(result.json.error.hint).toContain('Nothing was sent')
    }

    const injected = await agnes(['register-table', '--dir', instance.dir, '--json', '--name', 'ok_name', '--source-type', 'keboola', '--bucket', 'in.c-crm"; --', '--table', 'orders'])
    expect(injected.exitCode).toBe(3)
    expect(await instance.standin.requests()).toEqual([])
  }, 30_000)

  it('registers from a file, reporting each table', async () => {
    const file = join(instance.dir, 'tables.yaml')
    await writeFile(file, 'tables:\n  - {name: finance_invoices, source-type: keboola, bucket: in.c-finance, table: invoices}\n  - {name: crm_orders, source-type: keboola, table: in.c-crm.orders}\n')
    const result = await agnes(['register-table', '--dir', instance.dir, '--json', '--from-file', file, '--if-not-exists'])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.json.result.tables.map((table: {id: string; status: string}) => [table.id, table.status])).toEqual([
      ['finance_invoices', 'registered'],
      ['crm_orders', 'exists'],
    ])
  })

  it('passes the smoke test, human and JSON', async () => {
    const human = await agnes(['smoke', '--dir', instance.dir, '--settle', '1'])
    expect(human.exitCode, human.stderr).toBe(0)
    expect(human.stdout).toContain('Smoke test passed')
    const json = await agnes(['smoke', '--dir', instance.dir, '--json', '--settle', '0'])
    expect(json.exitCode).toBe(0)
    expect(json.json.result.passed).toBe(true)
    expect(json.json.result.steps.map((step: {name: string}) => step.name)).toEqual(['health', 'auth', 'catalog', 'query', 'sync', 'settle', 'health-after'])
  }, 30_000)

  it('a 409 connection change needs confirmation: exit 7 with the list and nothing changed, then applied', async () => {
    const refused = await agnes(['configure', '--dir', instance.dir, '--json', '--keboola-url', OTHER_KEBOOLA_URL], withPassword)
    expect(refused.exitCode).toBe(7)
    expect(refused.json.error.message).toContain(`stack_url: ${KEBOOLA_URL} → ${OTHER_KEBOOLA_URL}`)
    expect(refused.json.error.message).toMatch(/\d+ registered table\(s\)/)
    expect(refused.json.error.hint).toContain('--confirm-connection-change')
    const state = (await (await fetch(`${instance.url}/__standin/state`)).json()) as {instance: {data_source?: {keboola?: {stack_url?: string}}}}
    expect(state.instance.data_source?.keboola?.stack_url).toBe(KEBOOLA_URL)

    const confirmed = await agnes(['configure', '--dir', instance.dir, '--json', '--keboola-url', OTHER_KEBOOLA_URL, '--confirm-connection-change'], withPassword)
    expect(confirmed.exitCode, confirmed.stderr).toBe(0)
    expect(confirmed.json.result.dataSource).toMatchObject({changed: true, connectionChange: {changes: [{after: OTHER_KEBOOLA_URL, before: KEBOOLA_URL, field: 'stack_url'}]}})
  }, 30_000)

  it('a dry run changes nothing and shows what discovery would register', async () => {
    await instance.standin.clearRequests()
    const result = await agnes(['configure', '--dir', instance.dir, '--json', '--discover', '--dry-run', '--sync'], withPassword)
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.json.result).toMatchObject({admin: {status: 'would-bootstrap'}, dataSource: {request: {keboola_token: '***'}, status: 'would-configure'}, discovery: {dryRun: true}, dryRun: true, sync: {trigger: 'would-trigger'}})
    const sent = (await instance.standin.requests()).map((request) => `${request.method} ${request.path}?${new URLSearchParams(request.query)}`)
    expect(sent).toEqual(['POST /api/admin/discover-and-register?dry_run=true'])
  })

  it('every request body the CLI sent validates against the OpenAPI subset', async () => {
    const requests = (await Promise.all(allStandins.map((standin) => standin.requests()))).flat()
    expect(requests.length).toBeGreaterThan(0)
    for (const request of requests) {
      const label = `${request.method} ${request.path}`
      expect(validateRequestBody(request.method, request.path, request.body ?? undefined), label).toEqual({errors: [], ok: true})
      expect(validateQueryParams(request.method, request.path, request.query).errors, label).toEqual([])
    }
  })
})

describe('failures', () => {
  it('a wrong token is exit 5 for every command', async () => {
    const instance = await newInstance()
    const wrong = {AGNES_TOKEN: 'w'.repeat(40), ...withPassword}
    const configure = await agnes(['configure', '--dir', instance.dir, '--json'], wrong)
    // Bootstrap needs no token; the data source step is the first to use it.
    expect([configure.exitCode, configure.json.error.code]).toEqual([5, 'E_AUTH'])
    expect(configure.json.error.hint).toContain('AGNES_TOKEN')
    expect((await agnes(['register-table', '--dir', instance.dir, '--json', '--name', 'x', '--source-type', 'local'], wrong)).exitCode).toBe(5)
    expect((await agnes(['smoke', '--dir', instance.dir, '--json', '--settle', '0'], wrong)).exitCode).toBe(5)
  }, 30_000)

  it('an unreachable instance is exit 8 for every command', async () => {
    const instance = await newInstance()
    await instance.standin.stop()
    for (const args of [
      ['configure', '--dir', instance.dir, '--json'],
      ['register-table', '--dir', instance.dir, '--json', '--name', 'x', '--source-type', 'local'],
      ['smoke', '--dir', instance.dir, '--json'],
    ]) {
      const result = await agnes([...args, '--boot-wait', '0'], withPassword)
      expect(result.exitCode, args[0]).toBe(8)
      expect(result.json.error.message).toContain('connection refused')
      expect(result.json.error.hint).toContain('agnes up')
    }
  }, 30_000)

  it('bootstrap when another admin exists: a conflict (7) that changes nothing; the existing admin is fine (0)', async () => {
    const seedPassword = 'seeded-admin-password-1'
    secrets.add(seedPassword)
    const instance = await newInstance({standinEnv: {SEED_ADMIN_EMAIL: 'boss@example.com', SEED_ADMIN_PASSWORD: seedPassword}})
    const conflict = await agnes(['configure', '--dir', instance.dir, '--json'], withPassword)
    expect(conflict.exitCode).toBe(7)
    expect(conflict.json.error.message).toContain('already has an admin')
    expect(conflict.json.error.hint).toContain('AGNES_BOOTSTRAP_TOKEN')
    const state = (await (await fetch(`${instance.url}/__standin/state`)).json()) as {instance: {data_source?: {keboola?: {stack_url?: string}}}}
    expect(state.instance.data_source).toBeUndefined()

    const same = await agnes(['configure', '--dir', instance.dir, '--json', '--admin-email', 'boss@example.com'], {AGNES_ADMIN_PASSWORD: seedPassword})
    expect(same.exitCode, same.stderr).toBe(0)
    expect(same.json.result.admin).toMatchObject({changed: false, email: 'boss@example.com', status: 'exists'})
  }, 30_000)

  it('X-Bootstrap-Token bypasses the lock when it matches, and is exit 5 when it does not', async () => {
    const bootstrapToken = 'bootstrap-token-' + 'b'.repeat(24)
    secrets.add(bootstrapToken)
    const instance = await newInstance({standinEnv: {AGNES_BOOTSTRAP_TOKEN: bootstrapToken, SEED_ADMIN_EMAIL: 'boss@example.com'}})
    const wrong = await agnes(['configure', '--dir', instance.dir, '--json'], {...withPassword, AGNES_BOOTSTRAP_TOKEN: 'not-the-bootstrap-token'})
    expect(wrong.exitCode).toBe(5)
    const right = await agnes(['configure', '--dir', instance.dir, '--json'], {...withPassword, AGNES_BOOTSTRAP_TOKEN: bootstrapToken})
    expect(right.exitCode, right.stderr).toBe(0)
    expect(right.json.result.admin.status).toBe('created')
  }, 30_000)

  it('a failing query endpoint fails the smoke test with exit 3, naming the step', async () => {
    const instance = await newInstance({standinEnv: {STANDIN_VARIANT: 'failing-smoke'}})
    expect((await agnes(['register-table', '--dir', instance.dir, '--name', 'orders', '--source-type', 'local'])).exitCode).toBe(0)
    const json = await agnes(['smoke', '--dir', instance.dir, '--json', '--settle', '0'])
    expect(json.exitCode).toBe(3)
    expect(json.json.error.code).toBe('E_SMOKE_FAILED')
    expect(json.json.error.message).toContain('query')
    expect(json.json.result.failedSteps).toEqual(['query'])
    const human = await agnes(['smoke', '--dir', instance.dir, '--settle', '0'])
    expect(human.exitCode).toBe(3)
    expect(human.stdout).toMatch(/FAIL\s+query/)
    expect(human.stderr).toContain('E_SMOKE_FAILED')
  }, 30_000)

  it('an unhealthy schema fails the health step (exit 3)', async () => {
    const instance = await newInstance({standinEnv: {STANDIN_VARIANT: 'schema-mismatch'}})
    const result = await agnes(['smoke', '--dir', instance.dir, '--json', '--settle', '0', '--min-tables', '0'])
    expect(result.exitCode).toBe(3)
    expect(result.json.result.failedSteps).toEqual(['health'])
  })

  it('a sync already running is not a failure, in the pre-0.75 409 shape too, and --wait follows it', async () => {
    const instance = await newInstance({standinEnv: {STANDIN_LEGACY_SYNC_409: '1'}})
    const lock = await fetch(`${instance.url}/__standin/sync-lock`, {body: JSON.stringify({locked: true, with_running_job: true}), headers: {'content-type': 'application/json'}, method: 'POST'})
    const {running_job_id: jobId} = (await lock.json()) as {running_job_id: string}
    // The lock is let go once the CLI has met it (its trigger answered 409), however long it took to get there.
    const release = (async () => {
      await vi.waitFor(async () => expect((await instance.standin.requests()).some((request) => request.path === '/api/sync/trigger')).toBe(true), {interval: 100, timeout: 25_000})
      await new Promise((resolve) => setTimeout(resolve, 500))
      await fetch(`${instance.url}/__standin/sync-lock`, {body: JSON.stringify({locked: false}), headers: {'content-type': 'application/json'}, method: 'POST'})
    })()
    const result = await agnes(['configure', '--dir', instance.dir, '--json', '--sync', '--wait'], withPassword)
    await release
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.json.result.sync).toMatchObject({jobId, outcome: 'done', trigger: 'already-running'})
  }, 30_000)

  it('bad setup files are exit 3 and send nothing', async () => {
    const instance = await newInstance()
    const file = join(instance.dir, 'setup.yaml')
    await writeFile(file, 'data-source: local\nadmin-pasword-file: x\ntables:\n  - {name: "9lives"}\n')
    await instance.standin.clearRequests()
    const unknownKey = await agnes(['configure', '--dir', instance.dir, '--json', '--from-file', file], withPassword)
    expect(unknownKey.exitCode).toBe(3)
    expect(unknownKey.json.error.message).toContain('did you mean "admin-password-file"')
    await writeFile(file, 'data-source: local\ntables:\n  - {name: "9lives"}\n')
    const badTable = await agnes(['configure', '--dir', instance.dir, '--json', '--from-file', file], withPassword)
    expect(badTable.exitCode).toBe(3)
    expect(badTable.json.error.message).toContain('tables[0]: name')
    expect(await instance.standin.requests()).toEqual([])
  }, 30_000)

  it('a missing value is exit 4 naming the flag, without a terminal', async () => {
    const instance = await newInstance()
    const result = await agnes(['configure', '--dir', instance.dir, '--json', '--data-source', 'keboola', '--keboola-url', KEBOOLA_URL])
    expect(result.exitCode).toBe(4)
    expect(result.json.error.message).toContain('--keboola-token-file')
    expect(await instance.standin.requests()).toEqual([])
  })
})

describe('the Quick start: a bare configure without a terminal', () => {
  it('generates the admin password once, keeps it in .agnes/secrets.env (0600) without printing it, and reuses it', async () => {
    const instance = await newInstance()
    const secretsFile = join(instance.dir, '.agnes', 'secrets.env')
    const first = await agnes(['configure', '--dir', instance.dir])
    expect(first.exitCode, first.stderr).toBe(0)
    const kept = readEnvFile(secretsFile).AGNES_ADMIN_PASSWORD
    secrets.add(kept)
    expect(kept).toHaveLength(20)
    expect(statSync(secretsFile).mode & 0o777).toBe(0o600)
    expect(first.stdout).toContain(`its generated password is AGNES_ADMIN_PASSWORD in ${secretsFile}`)
    expect(first.stdout + first.stderr).not.toContain(kept)
    const bootstrap = (await instance.standin.requests()).filter((request) => request.path === '/auth/bootstrap')
    expect(bootstrap.map((request) => [request.status, (request.body as {email: string}).email])).toEqual([[200, 'admin@example.com']])

    const second = await agnes(['configure', '--dir', instance.dir, '--json'])
    expect(second.exitCode, second.stderr).toBe(0)
    // "exists" means the instance accepted the kept password for that admin.
    expect(second.json.result.admin).toMatchObject({changed: false, status: 'exists'})
    expect(readEnvFile(secretsFile).AGNES_ADMIN_PASSWORD).toBe(kept)
    expect(second.stdout + second.stderr).not.toContain(kept)
  }, 30_000)
})

describe('the declarative setup file and the generated password', () => {
  it('configures from setup.yaml, with tables, idempotently', async () => {
    const instance = await newInstance()
    const file = join(instance.dir, 'setup.yaml')
    await writeFile(file, 'admin-email: admin@example.com\ndata-source: local\ninstance-name: Acme Analytics\ntables:\n  - {name: orders, source-type: local}\nsync: true\nwait: true\n')
    const first = await agnes(['configure', '--dir', instance.dir, '--json', '--from-file', file], withPassword)
    expect(first.exitCode, first.stderr).toBe(0)
    expect(first.json.result).toMatchObject({changed: true, sync: {outcome: 'done'}, tables: [{id: 'orders', status: 'registered'}]})
    const second = await agnes(['configure', '--dir', instance.dir, '--json', '--from-file', file], withPassword)
    expect(second.exitCode, second.stderr).toBe(0)
    expect(second.json.result).toMatchObject({changed: false, tables: [{id: 'orders', status: 'exists'}]})
  }, 30_000)

  it('shows a generated password once on stderr, keeps it in .agnes/secrets.env, and uses it next time', async () => {
    const instance = await newInstance()
    const first = await agnes(['configure', '--dir', instance.dir, '--generate-password'])
    expect(first.exitCode, first.stderr).toBe(0)
    const stored = readEnvFile(join(instance.dir, '.agnes', 'secrets.env')).AGNES_ADMIN_PASSWORD
    expect(stored).toHaveLength(20)
    expect(first.stderr).toContain(`Generated password for the admin admin@example.com: ${stored}`)
    expect(first.stdout).not.toContain(stored)
    const second = await agnes(['configure', '--dir', instance.dir, '--generate-password', '--json'])
    expect(second.exitCode).toBe(0)
    expect(second.json.result.admin).toMatchObject({changed: false, status: 'exists'})
    expect(second.stdout + second.stderr).not.toContain(stored)
  }, 30_000)

  it('under --json the generated password appears only with --reveal-password', async () => {
    const hidden = await newInstance()
    const quiet = await agnes(['configure', '--dir', hidden.dir, '--generate-password', '--json'])
    const kept = readEnvFile(join(hidden.dir, '.agnes', 'secrets.env')).AGNES_ADMIN_PASSWORD
    expect(quiet.json.result.admin).toMatchObject({passwordGenerated: true, passwordSavedTo: join(hidden.dir, '.agnes', 'secrets.env'), status: 'created'})
    expect(quiet.stdout + quiet.stderr).not.toContain(kept)

    const revealed = await newInstance()
    const shown = await agnes(['configure', '--dir', revealed.dir, '--generate-password', '--reveal-password', '--json'])
    expect(shown.json.result.admin.password).toBe(readEnvFile(join(revealed.dir, '.agnes', 'secrets.env')).AGNES_ADMIN_PASSWORD)
  }, 30_000)
})

describe('secrets', () => {
  it('no output of any run above contains a secret the instances generated or the tests gave', async () => {
    expect(outputs.length).toBeGreaterThan(20)
    for (const secret of secrets) {
      for (const output of outputs) {
        expect(output.stdout.includes(secret) || output.stderr.includes(secret), `a secret leaked in:\n${output.stdout}\n${output.stderr}`).toBe(false)
      }
    }

    const logs = allStandins.map((standin) => standin.output()).join('\n')
    expect(logs).not.toContain(ADMIN_PASSWORD)
    expect(await readFile(join(repoRoot, '.e2e-tmp', 'transcript.log'), 'utf8')).not.toContain(ADMIN_PASSWORD)
  })
})
