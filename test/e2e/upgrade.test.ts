import {spawnSync} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {CliResult, repoRoot, runAgnes} from '../helpers/run-cli.js'
import {Published, TestInstance, appContainers, destroyInstance, getJson, newInstance, publishStandard, readEnvFile, singleJson} from './fixtures.js'

type Images = typeof import('../standin/images.mjs')
let images: Images
type Variant = Parameters<Images['publish']>[0]['variant']

/** Publishes a release and moves `stable` to it, as the publisher's CI does on every merge. */
async function release(repository: string, tag: string, version: string, options: {variant?: Variant; bootSeconds?: number; schemaVersion?: number} = {}): Promise<string> {
  const {digest} = await images.publish({channel: 'stable', repository, tag, version, ...options})
  await images.moveTag({fromTag: tag, repository, toTag: 'stable'})
  return digest
}

function upgrade(instance: TestInstance, ...args: string[]): Promise<CliResult> {
  return runAgnes(['upgrade', '--json', '--dir', instance.dir, '--smoke-settle', '0', ...args])
}

async function serving(instance: TestInstance): Promise<{version: string; healthy: boolean}> {
  const [version, health] = await Promise.all([getJson(`${instance.url}/api/version`), getJson(`${instance.url}/api/health`)])
  return {healthy: health.body.status === 'ok' && health.body.db_schema === 'ok', version: version.body.version}
}

function adminHeaders(instance: TestInstance): Record<string, string> {
  return {authorization: `Bearer ${readEnvFile(join(instance.dir, '.env')).SCHEDULER_API_TOKEN}`, 'content-type': 'application/json'}
}

/** Writes data through the API, as users would before an upgrade. */
async function writeData(instance: TestInstance, name: string): Promise<void> {
  const response = await getJson(`${instance.url}/api/admin/register-table`, {
    body: JSON.stringify({description: 'written before the upgrade', name, source_type: 'local'}),
    headers: adminHeaders(instance),
    method: 'POST',
  })
  expect(response.status, JSON.stringify(response.body)).toBe(201)
}

async function tableNames(instance: TestInstance): Promise<string[]> {
  const response = await getJson(`${instance.url}/api/admin/registry`, {headers: adminHeaders(instance)})
  expect(response.status).toBe(200)
  return response.body.tables.map((table: {id: string}) => table.id)
}

function state(instance: TestInstance): any {
  return JSON.parse(readFileSync(join(instance.dir, '.agnes', 'state.json'), 'utf8'))
}

async function upInstance(name: string, published: Published, options: {pin?: string} = {}): Promise<TestInstance> {
  const instance = await newInstance(name, {pin: options.pin, repository: published.repository})
  const up = await runAgnes(['up', '--json', '--dir', instance.dir])
  expect(up.exitCode, up.stdout + up.stderr).toBe(0)
  return instance
}

const instances: TestInstance[] = []

beforeAll(async () => {
  images = await import('../standin/images.mjs')
})

afterAll(() => {
  for (const instance of instances) destroyInstance(instance)
})

describe('agnes upgrade follows the channel with gated, automatic rollback', () => {
  let published: Published
  let instance: TestInstance

  beforeAll(async () => {
    published = await publishStandard('upgrade')
    instance = await upInstance('upgrade', published)
    instances.push(instance)
    await writeData(instance, 'kept_orders')
  })

  it('applies a good release, then the next run is up to date with no pull and no container change', async () => {
    const digest = await release(published.repository, 'stable-2026.04.5', '0.84.5')
    // Published from this host: remove it here, so the upgrade pulls it as a customer's host would.
    const reference = `${published.repository}@${digest}`
    const imageId = spawnSync('docker', ['image', 'inspect', '--format', '{{.Id}}', reference], {encoding: 'utf8'}).stdout.trim()
    expect(spawnSync('docker', ['image', 'rm', '--force', imageId]).status).toBe(0)
    const result = await upgrade(instance)
    expect(result.exitCode, result.stderr).toBe(0)
    const layers = Number(spawnSync('docker', ['image', 'inspect', '--format', '{{len .RootFS.Layers}}', reference], {encoding: 'utf8'}).stdout.trim())
    expect(layers).toBeGreaterThan(0)
    expect(result.stderr).toMatch(new RegExp(`Pulled \\S+@${digest} in \\d+\\.\\d s \\(${layers} layers?, `))
    expect(singleJson(result).result).toMatchObject({from: {version: '0.84.2'}, outcome: 'upgraded', to: {digest, version: '0.84.5'}})
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.5'})
    expect(await tableNames(instance)).toContain('kept_orders')

    const container = appContainers(instance.project)[0].id
    const localImages = () => spawnSync('docker', ['images', '--digests', '--no-trunc', '--format', '{{.ID}} {{.Digest}}', published.repository], {encoding: 'utf8'}).stdout.split('\n').sort().join('\n')
    const imagesBefore = localImages()
    const again = await upgrade(instance)
    expect(again.exitCode).toBe(0)
    expect(singleJson(again).result).toMatchObject({outcome: 'up-to-date', registryRequests: 1})
    expect(appContainers(instance.project)[0].id).toBe(container)
    expect(localImages()).toBe(imagesBefore)
    expect(again.stderr).not.toContain('Pulling')
  })

  it.each([
    ['crash', 'stable-2026.04.6', {variant: 'crash' as Variant}, []],
    ['never-healthy', 'stable-2026.04.7', {variant: 'never-healthy' as Variant}, ['--health-timeout', '12']],
    ['schema-mismatch', 'stable-2026.04.8', {variant: 'schema-mismatch' as Variant}, []],
    ['failing-smoke after migrating the schema', 'stable-2026.04.10', {schemaVersion: 122, variant: 'failing-smoke' as Variant}, []],
  ])('a %s release is rolled back (exit 10), the old version serves with its data, and cron does not retry it', async (_name, tag, options, args) => {
    const before = await serving(instance)
    const digest = await release(published.repository, tag, `0.84.${tag.split('.').pop()}`, options)
    const result = await upgrade(instance, ...args)
    const json = singleJson(result)
    expect(result.exitCode, result.stderr).toBe(10)
    expect(json.error.code).toBe('E_ROLLED_BACK')
    expect(json.result).toMatchObject({outcome: 'rolled-back', to: {digest}})
    expect(await serving(instance)).toEqual({healthy: true, version: before.version})
    expect(await tableNames(instance)).toContain('kept_orders')
    expect(state(instance).rejected).toContain(digest)
    expect(existsSync(join(instance.dir, '.agnes', 'journal.json'))).toBe(false)

    const next = await upgrade(instance)
    expect(next.exitCode).toBe(0)
    expect(singleJson(next).result.outcome).toBe('up-to-date')
    expect(singleJson(next).warnings.join(' ')).toContain('rolled back before')
    expect(await serving(instance)).toEqual({healthy: true, version: before.version})
  })

  it('a slow boot within the health timeout is upgraded', async () => {
    await release(published.repository, 'stable-2026.04.11', '0.84.11', {bootSeconds: 8})
    const result = await upgrade(instance, '--health-timeout', '60')
    expect(result.exitCode, result.stderr).toBe(0)
    expect(singleJson(result).result.outcome).toBe('upgraded')
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.11'})
  })

  it('follows the publisher moving stable back to an older build as a deliberate switch', async () => {
    await images.moveTag({fromTag: 'stable-2026.04.5', repository: published.repository, toTag: 'stable'})
    const result = await upgrade(instance)
    expect(result.exitCode, result.stderr).toBe(0)
    expect(singleJson(result).result).toMatchObject({from: {version: '0.84.11'}, outcome: 'upgraded', to: {version: '0.84.5'}})
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.5'})
    expect(await tableNames(instance)).toContain('kept_orders')
    const history = await runAgnes(['history', '--json', '--dir', instance.dir])
    const outcomes = singleJson(history).result.entries.map((entry: {outcome: string}) => entry.outcome)
    expect(outcomes.slice(0, 7)).toEqual(['upgraded', 'upgraded', 'rolled-back', 'rolled-back', 'rolled-back', 'rolled-back', 'upgraded'])
  })
})

describe('upgrade failures before the switch leave the instance untouched', () => {
  let published: Published
  let instance: TestInstance

  beforeAll(async () => {
    published = await publishStandard('untouched')
    instance = await upInstance('untouched', published)
    instances.push(instance)
  })

  it('a missing channel tag is exit 6', async () => {
    const container = appContainers(instance.project)[0].id
    await images.deleteTag({repository: published.repository, tag: 'stable'})
    const result = await upgrade(instance)
    expect(result.exitCode).toBe(6)
    expect(singleJson(result).error.code).toBe('E_NOT_FOUND')
    expect(appContainers(instance.project)[0].id).toBe(container)
    expect((await serving(instance)).healthy).toBe(true)
  })

  it('an unreachable registry is exit 8 after a few retries', async () => {
    const container = appContainers(instance.project)[0].id
    spawnSync('pkill', ['-f', 'docker-registry serve'])
    try {
      const result = await upgrade(instance)
      expect(result.exitCode, result.stdout).toBe(8)
      expect(singleJson(result).error.code).toBe('E_UNREACHABLE')
      expect(appContainers(instance.project)[0].id).toBe(container)
      expect((await serving(instance)).healthy).toBe(true)
    } finally {
      const restarted = spawnSync('bash', [join(repoRoot, 'test', 'infra', 'start-docker.sh')], {encoding: 'utf8'})
      expect(restarted.status, restarted.stderr).toBe(0)
    }
  })
})

describe('cron safety', () => {
  let published: Published
  let instance: TestInstance

  beforeAll(async () => {
    published = await publishStandard('cron')
    instance = await upInstance('cron', published)
    instances.push(instance)
    await writeData(instance, 'kept_customers')
  })

  it('two runs started together: one upgrades, the other exits 75 (locked) at once', async () => {
    await release(published.repository, 'stable-2026.04.5', '0.84.5', {bootSeconds: 2})
    const [first, second] = await Promise.all([upgrade(instance), upgrade(instance)])
    const outcomes = [first, second].map((result) => [result.exitCode, singleJson(result).result?.outcome])
    expect(outcomes).toContainEqual([0, 'upgraded'])
    expect(outcomes).toContainEqual([75, 'locked'])
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.5'})
  })

  it('a run killed with SIGKILL after the switch is recovered by the next run', async () => {
    await release(published.repository, 'stable-2026.04.6', '0.84.6', {bootSeconds: 6})
    const journalPath = join(instance.dir, '.agnes', 'journal.json')
    const killed = await runAgnes(['upgrade', '--json', '--dir', instance.dir, '--smoke-settle', '0'], {
      onSpawn(child) {
        const timer = setInterval(() => {
          if (existsSync(journalPath) && readFileSync(journalPath, 'utf8').includes('"switching"')) {
            clearInterval(timer)
            setTimeout(() => child.kill('SIGKILL'), 500)
          }
        }, 50)
        child.on('exit', () => clearInterval(timer))
      },
    })
    expect(killed.signal).toBe('SIGKILL')
    expect(existsSync(journalPath)).toBe(true)

    const next = await upgrade(instance, '--health-timeout', '60')
    expect([0, 10], next.stdout).toContain(next.exitCode)
    expect(existsSync(journalPath)).toBe(false)
    const now = await serving(instance)
    expect(now.healthy).toBe(true)
    expect(['0.84.5', '0.84.6']).toContain(now.version)
    const recorded = state(instance).current
    expect(recorded.version).toBe(now.version)
    expect(appContainers(instance.project)[0].image).toContain(recorded.digest)
    expect(await tableNames(instance)).toContain('kept_customers')
    const history = singleJson(await runAgnes(['history', '--json', '--dir', instance.dir])).result.entries
    expect(history.some((entry: {action: string}) => entry.action === 'recover')).toBe(true)
  })

  it('defers while a sync runs (exit 75), then proceeds once the maximum deferral has passed', async () => {
    await release(published.repository, 'stable-2026.04.7', '0.84.7')
    const lock = await getJson(`${instance.url}/__standin/sync-lock`, {body: JSON.stringify({locked: true}), headers: {'content-type': 'application/json'}, method: 'POST'})
    expect(lock.status).toBe(200)
    const before = await serving(instance)

    const deferred = await upgrade(instance)
    expect(deferred.exitCode).toBe(75)
    expect(singleJson(deferred).result).toMatchObject({outcome: 'deferred'})
    expect(state(instance).deferredSince).toBeTruthy()
    expect(await serving(instance)).toEqual(before)

    const proceeded = await upgrade(instance, '--max-defer', '0')
    expect(proceeded.exitCode, proceeded.stderr).toBe(0)
    expect(singleJson(proceeded).result.outcome).toBe('upgraded')
    expect(singleJson(proceeded).warnings.join(' ')).toContain('maximum deferral')
    expect(state(instance).deferredSince).toBeUndefined()
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.7'})
  })
  it('Ctrl-C during the switch puts the old version back and exits 130', async () => {
    const digest = await release(published.repository, 'stable-2026.04.8', '0.84.8', {bootSeconds: 6})
    const journalPath = join(instance.dir, '.agnes', 'journal.json')
    const interrupted = await runAgnes(['upgrade', '--json', '--dir', instance.dir, '--smoke-settle', '0'], {
      onSpawn(child) {
        const timer = setInterval(() => {
          if (existsSync(journalPath) && readFileSync(journalPath, 'utf8').includes('"switching"')) {
            clearInterval(timer)
            setTimeout(() => child.kill('SIGINT'), 500)
          }
        }, 50)
        child.on('exit', () => clearInterval(timer))
      },
    })
    expect(interrupted.exitCode, interrupted.stderr).toBe(130)
    expect(singleJson(interrupted).error.code).toBe('E_INTERRUPTED')
    expect(existsSync(journalPath)).toBe(false)
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.7'})
    // An interrupted release was never judged, so the next run tries it again.
    expect(state(instance).rejected).not.toContain(digest)
    expect(await tableNames(instance)).toContain('kept_customers')
  })
})

describe('pin, unpin and rollback', () => {
  let published: Published
  let instance: TestInstance

  beforeAll(async () => {
    published = await publishStandard('pin')
    instance = await upInstance('pin', published)
    instances.push(instance)
    await writeData(instance, 'kept_invoices')
  })

  it('pins a version; upgrade then leaves the instance alone', async () => {
    const pin = await runAgnes(['pin', 'stable-2026.04.1', '--json', '--dir', instance.dir, '--smoke-settle', '0'])
    expect(pin.exitCode, pin.stderr).toBe(0)
    expect(singleJson(pin).result).toMatchObject({outcome: 'pinned', pin: 'stable-2026.04.1'})
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.1'})

    await release(published.repository, 'stable-2026.04.5', '0.84.5')
    const result = await upgrade(instance)
    expect(result.exitCode).toBe(0)
    expect(singleJson(result).result.outcome).toBe('pinned')
    expect(singleJson(result).result.message).toContain('agnes pin --channel stable')
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.1'})
  })

  it('refuses a version that does not exist (exit 6) and changes nothing', async () => {
    const result = await runAgnes(['pin', 'stable-2026.01.999', '--json', '--dir', instance.dir])
    expect(result.exitCode).toBe(6)
    expect(state(instance).pin).toBe('stable-2026.04.1')
  })

  it('pin --channel stable follows the channel again, switching at once', async () => {
    const result = await runAgnes(['pin', '--channel', 'stable', '--json', '--dir', instance.dir, '--smoke-settle', '0'])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(singleJson(result).result).toMatchObject({changed: true, outcome: 'following'})
    expect(state(instance).pin).toBeUndefined()
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.5'})
  })

  it('rollback returns to the previous good version and cron does not re-apply the one left', async () => {
    const result = await runAgnes(['rollback', '--json', '--dir', instance.dir, '--smoke-settle', '0'])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(singleJson(result).result).toMatchObject({from: {version: '0.84.5'}, outcome: 'rolled-back', to: {version: '0.84.1'}})
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.1'})
    expect(await tableNames(instance)).toContain('kept_invoices')
    const next = await upgrade(instance)
    expect(singleJson(next).result.outcome).toBe('up-to-date')
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.1'})
  })

  it('rollback --to a version the registry no longer has works from the local image', async () => {
    await images.deleteTag({repository: published.repository, tag: 'stable-2026.04.2'})
    const result = await runAgnes(['rollback', '--to', 'stable-2026.04.2', '--json', '--dir', instance.dir, '--smoke-settle', '0'])
    expect(result.exitCode, result.stdout + result.stderr).toBe(0)
    expect(singleJson(result).result).toMatchObject({fromLocalImage: true, to: {version: '0.84.2'}})
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.2'})
    expect(await tableNames(instance)).toContain('kept_invoices')
  })
})
