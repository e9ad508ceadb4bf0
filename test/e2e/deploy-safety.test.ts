// Issue 7, items 1, 3 and 4 on the real engine: a failure before the new version starts leaves nothing
// behind; the way back has its own health budget; `up` and `rollback` go through the same safe switch.
import {spawnSync} from 'node:child_process'
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {CliResult, runAgnes} from '../helpers/run-cli.js'
import {Published, TestInstance, appContainers, destroyInstance, getJson, newInstance, publishStandard, singleJson} from './fixtures.js'

type Images = typeof import('../standin/images.mjs')
let images: Images

const instances: TestInstance[] = []

beforeAll(async () => {
  images = await import('../standin/images.mjs')
})

afterAll(() => {
  for (const instance of instances) destroyInstance(instance)
})

function agnes(instance: TestInstance, command: string, ...args: string[]): Promise<CliResult> {
  return runAgnes([command, '--json', '--dir', instance.dir, ...(['up', 'upgrade', 'pin', 'rollback'].includes(command) ? ['--smoke-settle', '0'] : []), ...args])
}

async function serving(instance: TestInstance): Promise<{version: string; healthy: boolean}> {
  const [version, health] = await Promise.all([getJson(`${instance.url}/api/version`), getJson(`${instance.url}/api/health`)])
  return {healthy: health.body.status === 'ok' && health.body.db_schema === 'ok', version: version.body.version}
}

function state(instance: TestInstance): any {
  return JSON.parse(readFileSync(join(instance.dir, '.agnes', 'state.json'), 'utf8'))
}

function writeState(instance: TestInstance, change: (state: any) => void): void {
  const next = state(instance)
  change(next)
  writeFileSync(join(instance.dir, '.agnes', 'state.json'), JSON.stringify(next, null, 2) + '\n')
}

const journalPath = (instance: TestInstance) => join(instance.dir, '.agnes', 'journal.json')

function serviceStates(project: string): Record<string, string> {
  const out = spawnSync('docker', ['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Label "com.docker.compose.service"}} {{.State}}'], {encoding: 'utf8'}).stdout.trim()
  return Object.fromEntries(out.split('\n').filter(Boolean).map((line) => line.split(' ')))
}

async function upInstance(name: string, repository: string, options: {pin?: string} = {}): Promise<TestInstance> {
  const instance = await newInstance(name, {pin: options.pin, repository})
  instances.push(instance)
  const up = await agnes(instance, 'up')
  expect(up.exitCode, up.stdout + up.stderr).toBe(0)
  return instance
}

describe('a bad --health-timeout is a usage error (2) for every switching command', () => {
  it.each(['up', 'upgrade', 'pin', 'rollback'])('%s --health-timeout 100000 and 0 exit 2', async (command) => {
    for (const value of ['100000', '0']) {
      const result = await runAgnes([command, ...(command === 'pin' ? ['stable-2026.04.1'] : []), '--json', '--dir', '/nonexistent-agnes-dir', '--health-timeout', value])
      expect(result.exitCode, result.stdout).toBe(2)
      expect(singleJson(result).error.message).toContain('health-timeout')
    }
  })
})

describe('a failure before the new version starts leaves nothing behind', () => {
  let published: Published
  let instance: TestInstance

  beforeAll(async () => {
    published = await publishStandard('nothing-behind')
    instance = await upInstance('nothing-behind', published.repository)
  })

  it('an invalid override: exit 3 naming the file, no journal, the old version serving; fixed, the release is applied', async () => {
    const {digest} = await images.publish({channel: 'stable', repository: published.repository, tag: 'stable-2026.04.5', version: '0.84.5'})
    await images.moveTag({fromTag: 'stable-2026.04.5', repository: published.repository, toTag: 'stable'})
    const override = join(instance.dir, 'docker-compose.override.yml')
    const original = readFileSync(override, 'utf8')
    const container = appContainers(instance.project)[0].id
    writeFileSync(override, 'services:\n  app:\n    environment: [unclosed\n')

    for (let tick = 0; tick < 2; tick++) {
      const result = await agnes(instance, 'upgrade')
      expect(result.exitCode, result.stdout).toBe(3)
      expect(singleJson(result).error.message).toContain('docker-compose.override.yml')
      expect(existsSync(journalPath(instance))).toBe(false)
      expect(appContainers(instance.project)[0].id).toBe(container)
      expect(await serving(instance)).toEqual({healthy: true, version: '0.84.2'})
    }

    writeFileSync(override, original)
    const fixed = await agnes(instance, 'upgrade')
    expect(fixed.exitCode, fixed.stdout + fixed.stderr).toBe(0)
    expect(singleJson(fixed).result).toMatchObject({outcome: 'upgraded', to: {digest}})
    expect(state(instance).rejected).not.toContain(digest)
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.5'})
  })

  it('a hand-edited docker-compose.yml: exit 3 before anything stops, no journal', async () => {
    await images.publish({channel: 'stable', repository: published.repository, tag: 'stable-2026.04.6', version: '0.84.6'})
    await images.moveTag({fromTag: 'stable-2026.04.6', repository: published.repository, toTag: 'stable'})
    const compose = join(instance.dir, 'docker-compose.yml')
    const original = readFileSync(compose, 'utf8')
    const container = appContainers(instance.project)[0].id
    writeFileSync(compose, original + '\n# a hand edit\n')
    try {
      const result = await agnes(instance, 'upgrade')
      expect(result.exitCode, result.stdout).toBe(3)
      expect(singleJson(result).error.message).toContain('docker-compose.yml was edited by hand')
      expect(existsSync(journalPath(instance))).toBe(false)
      expect(appContainers(instance.project)[0].id).toBe(container)
      expect(await serving(instance)).toEqual({healthy: true, version: '0.84.5'})
    } finally {
      writeFileSync(compose, original)
    }
  })
})

describe('the way back has its own budget', () => {
  it('pin --health-timeout 1 to a slow release rolls back to a version slower than 1 s: exit 10, scheduler running', async () => {
    const published = await publishStandard('budget')
    await images.publish({bootSeconds: 3, channel: 'stable', repository: published.repository, tag: 'stable-2026.05.1', version: '0.86.1'})
    await images.moveTag({fromTag: 'stable-2026.05.1', repository: published.repository, toTag: 'stable'})
    const instance = await upInstance('budget', published.repository)
    const {digest} = await images.publish({bootSeconds: 5, channel: 'stable', repository: published.repository, tag: 'stable-2026.05.2', version: '0.86.2'})

    const result = await agnes(instance, 'pin', 'stable-2026.05.2', '--health-timeout', '1')
    const json = singleJson(result)
    expect(result.exitCode, result.stderr).toBe(10)
    expect(json.result).toMatchObject({outcome: 'rolled-back', to: {digest}})
    expect(json.result.rollbackMs).toBeGreaterThanOrEqual(3000)
    expect(json.error.message).toMatch(/rolled back to .* in \d+\.\d s/)
    expect(await serving(instance)).toEqual({healthy: true, version: '0.86.1'})
    expect(serviceStates(instance.project)).toMatchObject({app: 'running', scheduler: 'running'})
    expect(existsSync(journalPath(instance))).toBe(false)
    expect(state(instance).pin).toBeUndefined()
    expect(state(instance).current.bootMs).toBeGreaterThanOrEqual(3000)
  })
})

describe('up and rollback go through the same safe switch', () => {
  let published: Published
  let instance: TestInstance
  let pinnedDigest: string

  beforeAll(async () => {
    published = await publishStandard('up-switch')
    instance = await upInstance('up-switch', published.repository)
    pinnedDigest = published.digests['stable-2026.04.1']
  })

  it('pin, then rollback: the pin follows what runs, and up keeps it (it does not redeploy the version left)', async () => {
    const pin = await agnes(instance, 'pin', 'stable-2026.04.1')
    expect(pin.exitCode, pin.stderr).toBe(0)
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.1'})

    const rollback = await agnes(instance, 'rollback')
    expect(rollback.exitCode, rollback.stderr).toBe(0)
    expect(singleJson(rollback).result).toMatchObject({outcome: 'rolled-back', to: {version: '0.84.2'}})
    const after = state(instance)
    expect(after.rejected).toContain(pinnedDigest)
    expect(after.pin).not.toBe('stable-2026.04.1')
    expect([undefined, after.current.versionTag]).toContain(after.pin)
    expect(singleJson(rollback).result.pin).toBe(after.pin ?? null)

    const container = appContainers(instance.project)[0].id
    const up = await agnes(instance, 'up')
    expect(up.exitCode, up.stdout + up.stderr).toBe(0)
    expect(singleJson(up).result).toMatchObject({changed: false, switched: false})
    expect(appContainers(instance.project)[0].id).toBe(container)
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.2'})
  })

  it('up finishes a pending journal first', async () => {
    const current = state(instance).current
    writeFileSync(journalPath(instance), JSON.stringify({action: 'upgrade', from: {digest: current.digest, repository: current.repository}, phase: 'stopping', pid: 1, startedAt: new Date().toISOString(), to: {digest: pinnedDigest, repository: current.repository}}))
    const container = appContainers(instance.project)[0].id
    const up = await agnes(instance, 'up')
    expect(up.exitCode, up.stdout + up.stderr).toBe(0)
    expect(singleJson(up).result.recovered).toMatchObject({outcome: 'already-running'})
    expect(existsSync(journalPath(instance))).toBe(false)
    expect(appContainers(instance.project)[0].id).toBe(container)
  })

  it('up refuses a rejected digest (exit 7, nothing changed); with --force it switches through backup and gates', async () => {
    writeState(instance, (next) => (next.pin = 'stable-2026.04.1'))
    const container = appContainers(instance.project)[0].id
    const refused = await agnes(instance, 'up')
    expect(refused.exitCode, refused.stdout).toBe(7)
    expect(singleJson(refused).error.hint).toContain('--force')
    expect(appContainers(instance.project)[0].id).toBe(container)

    const backupsBefore = readdirSync(join(instance.dir, '.agnes', 'backups')).length
    const forced = await agnes(instance, 'up', '--force')
    expect(forced.exitCode, forced.stdout + forced.stderr).toBe(0)
    expect(singleJson(forced).result).toMatchObject({changed: true, digest: pinnedDigest, switched: true})
    expect(readdirSync(join(instance.dir, '.agnes', 'backups')).length).toBe(backupsBefore + 1)
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.1'})
    expect(state(instance).rejected).not.toContain(pinnedDigest)
  })

  it('up to a release that crashes is rolled back (exit 10), not left broken', async () => {
    const {digest} = await images.publish({channel: 'stable', repository: published.repository, tag: 'stable-2026.04.9', variant: 'crash', version: '0.84.9'})
    writeState(instance, (next) => (next.pin = 'stable-2026.04.9'))
    const up = await agnes(instance, 'up')
    expect(up.exitCode, up.stdout + up.stderr).toBe(10)
    expect(singleJson(up).result).toMatchObject({outcome: 'rolled-back', to: {digest}})
    expect(await serving(instance)).toEqual({healthy: true, version: '0.84.1'})
    expect(state(instance).rejected).toContain(digest)
  })
})
