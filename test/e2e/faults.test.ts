import {createHash} from 'node:crypto'
import {existsSync, readFileSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import {join, relative} from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {ensureDockerAndRegistry, makeReadOnly, mountSmallDisk, restartDockerDaemon, undoMounts, unmount} from '../helpers/host-faults.js'
import {RegistryGate, startRegistryGate} from '../helpers/registry-gate.js'
import {CliResult, runAgnes} from '../helpers/run-cli.js'
import {
  Published,
  REGISTRY,
  TestInstance,
  appContainers,
  destroyInstance,
  journalPath,
  publishStandard,
  readInstanceState,
  registerTable,
  registeredTables,
  releaseStable,
  runningInstance,
  servingNow,
  singleJson,
  stateFilePath,
} from './fixtures.js'

/**
 * Faults of the host and the operator, not of a release. Each scenario ends with a
 * version serving, the data written before it intact, a documented exit code, and a next run that works.
 */

type Images = typeof import('../standin/images.mjs')
let images: Images

const OLD = {healthy: true, version: '0.84.2'}
const NEW = {healthy: true, version: '0.84.5'}
const DOCUMENTED_EXITS = [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 75, 130]

function upgrade(instance: TestInstance, ...args: string[]): Promise<CliResult> {
  return runAgnes(['upgrade', '--json', '--dir', instance.dir, '--smoke-settle', '0', ...args])
}

/** The error's message and hint, where a person reads what went wrong and what to do. */
function errorText(result: CliResult): string {
  const {error} = singleJson(result)
  return `${error?.message ?? ''}\n${error?.hint ?? ''}`
}

interface Keepsakes {
  table: string
  file: string
  content: string
}

/** Data written before the fault: a table registered through the app, and a file of the operator's in /data/state. */
async function writeKeepsakes(instance: TestInstance): Promise<Keepsakes> {
  const keepsakes = {content: `written before the fault at ${new Date().toISOString()}\n`, file: stateFilePath(instance, 'operator-note.txt'), table: 'kept_before_fault'}
  await registerTable(instance, keepsakes.table)
  writeFileSync(keepsakes.file, keepsakes.content)
  return keepsakes
}

async function expectKeepsakes(instance: TestInstance, keepsakes: Keepsakes): Promise<void> {
  expect(await registeredTables(instance)).toContain(keepsakes.table)
  expect(readFileSync(stateFilePath(instance, 'operator-note.txt'), 'utf8')).toBe(keepsakes.content)
}

/** The old version still serves, from the same container (nothing was stopped), and no recovery state was left. */
async function expectUntouched(instance: TestInstance, containerBefore: string, rejectedDigest: string): Promise<void> {
  expect(await servingNow(instance)).toEqual(OLD)
  expect(appContainers(instance.project).map((container) => [container.id, container.state])).toEqual([[containerBefore, 'running']])
  expect(existsSync(journalPath(instance)), 'a journal was left behind').toBe(false)
  expect(readInstanceState(instance).rejected).not.toContain(rejectedDigest)
}

/** The next run applies the release, keeps the data, and the one after has nothing to do. */
async function expectNextRunsWork(instance: TestInstance, keepsakes: Keepsakes): Promise<void> {
  const next = await upgrade(instance)
  expect(next.exitCode, next.stdout + next.stderr).toBe(0)
  expect(singleJson(next).result).toMatchObject({outcome: 'upgraded', to: {version: NEW.version}})
  expect(await servingNow(instance)).toEqual(NEW)
  expect(existsSync(journalPath(instance))).toBe(false)
  await expectKeepsakes(instance, keepsakes)
  const after = await upgrade(instance)
  expect(after.exitCode, after.stdout).toBe(0)
  expect(singleJson(after).result.outcome).toBe('up-to-date')
}

/** sha256 over every path, mode and content under a directory: equal before and after means nothing changed. */
function treeHash(dir: string): string {
  const hash = createHash('sha256')
  const walk = (path: string): void => {
    const stat = statSync(path)
    hash.update(`${relative(dir, path)}\0${stat.mode}\0`)
    if (stat.isDirectory()) for (const name of readdirSync(path).sort()) walk(join(path, name))
    else hash.update(readFileSync(path))
  }

  walk(dir)
  return hash.digest('hex')
}

beforeAll(async () => {
  images = await import('../standin/images.mjs')
})

afterEach(() => undoMounts())

describe('a broken file made before a switch fails the upgrade up front and leaves nothing behind', () => {
  let published: Published
  let newDigest: string
  const instances: TestInstance[] = []

  beforeAll(async () => {
    published = await publishStandard('broken-file')
    newDigest = (await images.publish({channel: 'stable', repository: published.repository, tag: 'stable-2026.04.5', version: NEW.version})).digest
  })

  afterAll(() => {
    for (const instance of instances) destroyInstance(instance)
  })

  /** break(dir) damages a file and returns how to repair it. */
  const cases: Array<[string, string, number[], (dir: string) => () => void]> = [
    ['a .env line agnes cannot parse', '.env', [3], (dir) => edit(join(dir, '.env'), (text) => `${text}this line is not KEY=value\n`)],
    ['a .env value Compose rejects', '.env', [3, 9], (dir) => edit(join(dir, '.env'), (text) => text.replace(/^AGNES_NOFILE=.*$/m, 'AGNES_NOFILE=lots'))],
    ['invalid YAML in docker-compose.override.yml', 'docker-compose.override.yml', [3, 9], (dir) => edit(join(dir, 'docker-compose.override.yml'), (text) => `${text}\nservices: [unclosed\n`)],
    ['invalid YAML in the managed docker-compose.yml', 'docker-compose.yml', [3, 9], (dir) => edit(join(dir, 'docker-compose.yml'), (text) => `${text}\n  app: {image: [unclosed\n`)],
    // Valid YAML, so Compose accepts it: only agnes's own hand-edit check can stop the switch (a conflict, 7).
    ['a hand edit of the managed docker-compose.yml', 'docker-compose.yml', [3, 7, 9], (dir) => edit(join(dir, 'docker-compose.yml'), (text) => text.replace('restart: unless-stopped', 'restart: always'))],
  ]

  it.each(cases)('%s: a clear exit naming the file, the old version serving, no journal, not rejected; fixed, the next run applies it', async (_name, file, exits, breakFile) => {
    await images.moveTag({fromTag: 'stable-2026.04.2', repository: published.repository, toTag: 'stable'})
    const instance = await runningInstance('broken-file', published.repository)
    instances.push(instance)
    const keepsakes = await writeKeepsakes(instance)
    await images.moveTag({fromTag: 'stable-2026.04.5', repository: published.repository, toTag: 'stable'})
    const container = appContainers(instance.project)[0].id

    const repair = breakFile(instance.dir)
    const failed = await upgrade(instance)
    expect(exits, failed.stdout + failed.stderr).toContain(failed.exitCode)
    expect(singleJson(failed).ok).toBe(false)
    expect(errorText(failed)).toContain(file)
    await expectUntouched(instance, container, newDigest)

    // A second tick on the still-broken file says the same, and is not "recovering an interrupted upgrade".
    const again = await upgrade(instance)
    expect(again.exitCode, again.stdout).toBe(failed.exitCode)
    await expectUntouched(instance, container, newDigest)

    repair()
    await expectKeepsakes(instance, keepsakes)
    await expectNextRunsWork(instance, keepsakes)
  })
})

/** Rewrites a file and returns a function that puts the original bytes back. */
function edit(path: string, change: (text: string) => string): () => void {
  const original = readFileSync(path, 'utf8')
  const changed = change(original)
  if (changed === original) throw new Error(`the edit did not change ${path}`)
  writeFileSync(path, changed)
  return () => writeFileSync(path, original)
}

describe('the disk holding .agnes/backups is full', () => {
  let published: Published
  const instances: TestInstance[] = []

  beforeAll(async () => {
    published = await publishStandard('disk-full')
    await images.publish({channel: 'stable', repository: published.repository, tag: 'stable-2026.04.5', version: NEW.version})
  })

  afterAll(() => {
    for (const instance of instances) destroyInstance(instance)
  })

  // [name, size of the disk, bytes of state]. The first state cannot fit on the disk at all; the second
  // leaves room enough to start a backup (more than agnes asks for up front when there is no earlier backup)
  // but fills the disk half-way through it.
  it.each([
    ['with too little room to start a backup', '1m', 3 * 1024 ** 2],
    ['half-way through the backup', '80m', 100 * 1024 ** 2],
  ])('%s: a clear error naming the place, the old version serving, no journal, no partial backup; once space is back the next run upgrades', async (_name, diskSize, stateBytes) => {
    await images.moveTag({fromTag: 'stable-2026.04.2', repository: published.repository, toTag: 'stable'})
    const instance = await runningInstance('disk-full', published.repository)
    instances.push(instance)
    const keepsakes = await writeKeepsakes(instance)
    const ballast = Buffer.alloc(stateBytes, 'agnes state ')
    writeFileSync(stateFilePath(instance, 'ballast.bin'), ballast)
    const backupsDir = join(instance.dir, '.agnes', 'backups')
    mountSmallDisk(backupsDir, diskSize)
    const digest = (await images.moveTag({fromTag: 'stable-2026.04.5', repository: published.repository, toTag: 'stable'})).digest

    const failed = await upgrade(instance)
    expect([3, 9], failed.stdout + failed.stderr).toContain(failed.exitCode)
    expect.soft(errorText(failed), 'the error says where space is missing').toContain(backupsDir)
    expect.soft(errorText(failed)).toMatch(/space|full/i)
    expect(await servingNow(instance)).toEqual(OLD)
    expect(existsSync(journalPath(instance)), 'a journal was left behind').toBe(false)
    expect(readInstanceState(instance).rejected).not.toContain(digest)
    expect(readdirSync(backupsDir), 'a partial backup was left on the full disk').toEqual([])

    unmount(backupsDir)
    await expectNextRunsWork(instance, keepsakes)
    expect(readFileSync(stateFilePath(instance, 'ballast.bin')).equals(ballast)).toBe(true)
    expect(readdirSync(backupsDir).filter((name) => name.endsWith('.tar'))).toHaveLength(1)
  })
})

describe('the registry goes away between resolve and pull', () => {
  let gate: RegistryGate
  let published: Published
  let instance: TestInstance

  beforeAll(async () => {
    gate = await startRegistryGate()
    published = await publishStandard('registry-gone')
    instance = await runningInstance('registry-gone', published.repository.replace(REGISTRY, gate.host))
  })

  afterAll(async () => {
    destroyInstance(instance)
    await gate.close()
  })

  it('exit 8, the old version serving, no journal, nothing rejected; with the registry back the next run upgrades', async () => {
    const keepsakes = await writeKeepsakes(instance)
    const digest = await releaseStable(published.repository, 'stable-2026.04.5', NEW.version)
    const container = appContainers(instance.project)[0].id

    const closed = gate.closeAfterNextManifest()
    const failed = await upgrade(instance)
    await closed
    expect(gate.manifestRequests(), 'the channel was resolved through the registry before it went away').toBe(1)
    expect(failed.exitCode, failed.stdout + failed.stderr).toBe(8)
    expect(singleJson(failed).error.code).toBe('E_UNREACHABLE')
    await expectUntouched(instance, container, digest)

    await gate.reopen()
    await expectNextRunsWork(instance, keepsakes)
  })
})

describe('the instance directory is read-only', () => {
  let published: Published
  let instance: TestInstance

  beforeAll(async () => {
    published = await publishStandard('read-only')
    instance = await runningInstance('read-only', published.repository)
  })

  afterAll(() => destroyInstance(instance))

  it('upgrade fails clearly (not exit 1) and changes nothing; writable again, the next run upgrades', async () => {
    const keepsakes = await writeKeepsakes(instance)
    const digest = await releaseStable(published.repository, 'stable-2026.04.5', NEW.version)
    const container = appContainers(instance.project)[0].id
    const before = treeHash(instance.dir)
    makeReadOnly(instance.dir)

    const failed = await upgrade(instance)
    expect([3, 9], failed.stdout + failed.stderr).toContain(failed.exitCode)
    expect(errorText(failed)).toContain(instance.dir)
    expect(errorText(failed)).toMatch(/read-only|not writable/i)
    await expectUntouched(instance, container, digest)
    const status = await runAgnes(['status', '--json', '--dir', instance.dir])
    expect(status.exitCode, status.stdout).toBe(0)
    expect(singleJson(status).result).toMatchObject({healthy: true, journal: null})

    unmount(instance.dir)
    expect(treeHash(instance.dir)).toBe(before)
    await expectNextRunsWork(instance, keepsakes)
  })
})

// Last in the file: restarting the daemon stops every container on the engine.
describe('the Docker daemon restarts in the middle of a switch', () => {
  let published: Published
  let instance: TestInstance
  let digest: string

  beforeAll(async () => {
    published = await publishStandard('daemon-restart')
    instance = await runningInstance('daemon-restart', published.repository)
  })

  afterAll(async () => {
    await ensureDockerAndRegistry()
    destroyInstance(instance)
  })

  it('the run ends with a documented exit, the next run brings the instance back to a healthy, recorded version with its data', async () => {
    const keepsakes = await writeKeepsakes(instance)
    digest = await releaseStable(published.repository, 'stable-2026.04.5', NEW.version, {bootSeconds: 10})
    let restart: Promise<void> | undefined
    const interrupted = await runAgnes(['upgrade', '--json', '--dir', instance.dir, '--smoke-settle', '0', '--health-timeout', '120'], {
      onSpawn(child) {
        // While the new version boots (10 s): the journal says "switching" and the new app container runs.
        // Two seconds in, its process handles SIGTERM; before that, as PID 1 without a handler it would
        // ignore it and the daemon would wait out the 60 s stop grace period.
        const timer = setInterval(() => {
          const journal = existsSync(journalPath(instance)) ? readFileSync(journalPath(instance), 'utf8') : ''
          const booting = appContainers(instance.project).some((container) => container.image.includes(digest) && container.state === 'running')
          if (journal.includes('"switching"') && booting) {
            clearInterval(timer)
            restart = new Promise((resolve) => setTimeout(resolve, 2000)).then(() => restartDockerDaemon())
          }
        }, 100)
        child.on('exit', () => clearInterval(timer))
      },
    })
    expect(restart, 'the daemon was restarted during the switch').toBeDefined()
    await restart
    expect(DOCUMENTED_EXITS, interrupted.stdout + interrupted.stderr).toContain(interrupted.exitCode)
    expect(interrupted.exitCode).not.toBe(1)
    singleJson(interrupted)

    const status = await runAgnes(['status', '--json', '--dir', instance.dir])
    expect(status.exitCode, status.stdout + status.stderr).toBe(0)
    expect(singleJson(status).result.docker.reachable).toBe(true)

    const next = await upgrade(instance, '--health-timeout', '120')
    expect([0, 10], next.stdout + next.stderr).toContain(next.exitCode)
    expect(existsSync(journalPath(instance))).toBe(false)
    const now = await servingNow(instance)
    expect(now.healthy).toBe(true)
    expect([OLD.version, NEW.version]).toContain(now.version)
    const recorded = readInstanceState(instance).current
    expect(recorded.version).toBe(now.version)
    expect(appContainers(instance.project).find((container) => container.state === 'running')?.image).toContain(recorded.digest)
    await expectKeepsakes(instance, keepsakes)

    const after = await upgrade(instance, '--health-timeout', '120')
    expect(after.exitCode, after.stdout + after.stderr).toBe(0)
    expect(['up-to-date', 'upgraded']).toContain(singleJson(after).result.outcome)
    expect((await servingNow(instance)).healthy).toBe(true)
    await expectKeepsakes(instance, keepsakes)
  })

  it('the release the daemon interrupted was never judged: it is not rejected, and cron applies it', async () => {
    // docs/design.md#roll-back-on-any-failure-after-the-switch: only a release that started and failed its own gates is rejected; a daemon restart is not that.
    expect(readInstanceState(instance).rejected).not.toContain(digest)
    expect(await servingNow(instance)).toEqual(NEW)
  })
})
