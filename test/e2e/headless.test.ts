// The headless setup flow against the real container: init → up → configure --discover --sync --wait →
// register-table → smoke, then the failures that need a running instance.
import {appendFileSync, mkdirSync, readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {CliResult, repoRoot, runAgnes} from '../helpers/run-cli.js'
import {Published, TestInstance, destroyInstance, getJson, newInstance, publishStandard, readEnvFile, secretsLedger, singleJson} from './fixtures.js'

const ADMIN_PASSWORD = 'e2e-headless-admin-password-3c9b1f'
const KEBOOLA_TOKEN = 'e2e-headless-kbc-token-8e4d27a1'
const OTHER_ADMIN_PASSWORD = 'e2e-headless-other-password-55d0'
const KEBOOLA_URL = 'https://connection.keboola.com'
const OTHER_KEBOOLA_URL = 'https://connection.eu-central-1.keboola.com'
/** The secrets these tests give or the instances generate, for test/e2e/secrets-scan.test.ts (one "label<TAB>secret" a line). */
const GENERATED_KEYS = ['JWT_SECRET_KEY', 'SESSION_SECRET', 'SCHEDULER_API_TOKEN', 'AGNES_VAULT_KEY', 'KEBOOLA_STORAGE_TOKEN']

function recordSecrets(entries: Array<[string, string | undefined]>): void {
  mkdirSync(dirname(secretsLedger), {recursive: true})
  appendFileSync(secretsLedger, entries.filter(([, secret]) => secret).map(([label, secret]) => `${label}\t${secret}\n`).join(''))
}

recordSecrets([
  ['headless admin password', ADMIN_PASSWORD],
  ['headless Keboola token', KEBOOLA_TOKEN],
  ['headless second admin password', OTHER_ADMIN_PASSWORD],
])

/** An instance of the stand-in image with a Keboola data source (token in .env) and quick syncs. */
async function keboolaInstance(name: string, options: {repository: string; pin?: string}): Promise<TestInstance> {
  const instance = await newInstance(name, {
    ...options,
    env: {AGNES_KEBOOLA_TOKEN: KEBOOLA_TOKEN},
    extraArgs: ['--data-source', 'keboola', '--keboola-url', KEBOOLA_URL],
  })
  // Operator keys for the stand-in: accept the Keboola hosts whatever DNS says here, and sync in a second.
  appendFileSync(join(instance.dir, '.env'), `AGNES_SSRF_ALLOWED_HOSTS=connection.keboola.com,connection.eu-central-1.keboola.com\nSTANDIN_SYNC_SECONDS=1\n`)
  const env = readEnvFile(join(instance.dir, '.env'))
  recordSecrets(GENERATED_KEYS.map((key) => [`${key} of ${instance.name}`, env[key]]))
  return instance
}

async function agnes(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const result = await runAgnes(args, {env: {AGNES_TOKEN: undefined, CI: '1', ...env}})
  if (args.includes('--json')) singleJson(result)
  return result
}

/** What the stand-in received, without Docker's own healthcheck probes (GET /api/health every 2 s). */
async function standinRequests(instance: TestInstance): Promise<Array<{method: string; path: string}>> {
  const requests: Array<{method: string; path: string}> = (await getJson(`${instance.url}/__standin/requests`)).body.requests
  return requests.filter((request) => !(request.method === 'GET' && request.path === '/api/health'))
}

describe('headless setup against the real container', () => {
  let published: Published
  let instance: TestInstance
  const instances: TestInstance[] = []
  const withPassword = {AGNES_ADMIN_PASSWORD: ADMIN_PASSWORD}

  beforeAll(async () => {
    published = await publishStandard('headless')
    instance = await keboolaInstance('headless', {repository: published.repository})
    instances.push(instance)
  })

  afterAll(() => {
    for (const each of instances) destroyInstance(each)
  })

  it('before up, nothing answers: configure and smoke are exit 8 (unreachable)', async () => {
    const configure = await agnes(['configure', '--dir', instance.dir, '--json', '--boot-wait', '1'], withPassword)
    expect(configure.exitCode).toBe(8)
    expect(singleJson(configure).error.hint).toContain('agnes up')
    const smoke = await agnes(['smoke', '--dir', instance.dir, '--json', '--boot-wait', '0'])
    expect(smoke.exitCode).toBe(8)
    expect(singleJson(smoke).result.failedSteps).toEqual(['health'])
  })

  it('up, then configure --discover --sync --wait sets up the admin, Keboola, the tables and the first sync', async () => {
    const up = await agnes(['up', '--dir', instance.dir, '--json'])
    expect(up.exitCode, up.stderr).toBe(0)

    const configure = await agnes(['configure', '--dir', instance.dir, '--json', '--discover', '--sync', '--wait'], withPassword)
    expect(configure.exitCode, configure.stderr).toBe(0)
    expect(singleJson(configure).result).toMatchObject({
      admin: {changed: true, email: 'admin@example.com', status: 'created'},
      changed: true,
      dataSource: {connection: 'verified', status: 'configured', type: 'keboola'},
      discovery: {registered: 3, source: 'keboola'},
      sync: {outcome: 'done', trigger: 'triggered'},
    })

    const again = await agnes(['configure', '--dir', instance.dir, '--json', '--discover'], withPassword)
    expect(again.exitCode, again.stderr).toBe(0)
    expect(singleJson(again).result).toMatchObject({admin: {status: 'exists'}, changed: false, dataSource: {status: 'unchanged'}, discovery: {registered: 0}})
  })

  it('register-table: 201, then 7 for the duplicate, 0 with --if-not-exists, 3 for a bad name with nothing sent', async () => {
    const args = ['register-table', '--dir', instance.dir, '--json', '--name', 'crm_orders', '--source-type', 'keboola', '--table', 'in.c-crm.orders', '--primary-key', 'id']
    const created = await agnes(args)
    expect(created.exitCode, created.stderr).toBe(0)
    expect(singleJson(created).result.tables[0]).toMatchObject({httpStatus: 201, id: 'crm_orders', status: 'registered'})
    expect((await agnes(args)).exitCode).toBe(7)
    expect((await agnes([...args, '--if-not-exists'])).exitCode).toBe(0)

    await fetch(`${instance.url}/__standin/requests`, {method: 'DELETE'})
    const invalid = await agnes(['register-table', '--dir', instance.dir, '--json', '--name', 'orders; drop table users', '--source-type', 'keboola', '--table', 'in.c-crm.orders'])
    expect(invalid.exitCode).toBe(3)
    expect(await standinRequests(instance)).toEqual([])
  })

  it('smoke passes', async () => {
    const smoke = await agnes(['smoke', '--dir', instance.dir, '--json', '--settle', '2'])
    expect(smoke.exitCode, smoke.stderr).toBe(0)
    expect(singleJson(smoke).result).toMatchObject({failedSteps: [], passed: true, version: '0.84.2'})
  })

  it('a wrong token is exit 5', async () => {
    const wrong = {AGNES_TOKEN: 'not-the-token-'.repeat(3)}
    expect((await agnes(['smoke', '--dir', instance.dir, '--json', '--settle', '0'], wrong)).exitCode).toBe(5)
    expect((await agnes(['register-table', '--dir', instance.dir, '--json', '--name', 'x_y', '--source-type', 'keboola', '--table', 'in.c-crm.orders'], wrong)).exitCode).toBe(5)
  })

  it('bootstrap when an admin exists: another admin is a conflict (7), nothing changes', async () => {
    const other = await agnes(['configure', '--dir', instance.dir, '--json', '--admin-email', 'someone-else@example.com'], {AGNES_ADMIN_PASSWORD: OTHER_ADMIN_PASSWORD})
    expect(other.exitCode).toBe(7)
    expect(singleJson(other).error.message).toContain('already has an admin')
  })

  it('the 409 connection change: exit 7 with the list, then applied with --confirm-connection-change', async () => {
    const refused = await agnes(['configure', '--dir', instance.dir, '--json', '--keboola-url', OTHER_KEBOOLA_URL], withPassword)
    expect(refused.exitCode).toBe(7)
    const error = singleJson(refused).error
    expect(error.message).toContain(`stack_url: ${KEBOOLA_URL} → ${OTHER_KEBOOLA_URL}`)
    expect(error.hint).toContain('--confirm-connection-change')

    const confirmed = await agnes(['configure', '--dir', instance.dir, '--json', '--keboola-url', OTHER_KEBOOLA_URL, '--confirm-connection-change'], withPassword)
    expect(confirmed.exitCode, confirmed.stderr).toBe(0)
    expect(singleJson(confirmed).result.dataSource.connectionChange.changes).toEqual([{after: OTHER_KEBOOLA_URL, before: KEBOOLA_URL, field: 'stack_url'}])
  })

  it('a release whose query endpoint fails: smoke exits 3 and names the query step', async () => {
    const images = await import('../standin/images.mjs')
    await images.publish({channel: 'stable', repository: published.repository, tag: 'stable-2026.04.9', variant: 'failing-smoke', version: '0.84.9'})
    const failing = await keboolaInstance('headless-failing', {pin: 'stable-2026.04.9', repository: published.repository})
    instances.push(failing)
    expect((await agnes(['up', '--dir', failing.dir, '--json'])).exitCode).toBe(0)
    expect((await agnes(['configure', '--dir', failing.dir, '--json', '--discover'], withPassword)).exitCode).toBe(0)

    const smoke = await agnes(['smoke', '--dir', failing.dir, '--json', '--settle', '0'])
    expect(smoke.exitCode).toBe(3)
    const document = singleJson(smoke)
    expect(document.error.code).toBe('E_SMOKE_FAILED')
    expect(document.error.message).toContain('query')
    expect(document.result.failedSteps).toEqual(['query'])
  })

  it('no output of this file contains a secret of its instances', () => {
    const transcript = readFileSync(join(repoRoot, '.e2e-tmp', 'transcript.log'), 'utf8')
    for (const each of instances) {
      const env = readEnvFile(join(each.dir, '.env'))
      for (const key of GENERATED_KEYS) expect(transcript.includes(env[key]), `${key} of ${each.name}`).toBe(false)
    }

    expect(transcript).not.toContain(ADMIN_PASSWORD)
    expect(transcript).not.toContain(KEBOOLA_TOKEN)
  })
})
