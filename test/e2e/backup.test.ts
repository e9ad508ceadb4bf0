import {randomBytes} from 'node:crypto'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import type Dockerode from 'dockerode'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {backupState, restoreState} from '../../src/lib/backup/snapshots.js'
import {type TarEntry, readTar, writeTar} from '../../src/lib/backup/tar.js'
import {DockerEngine} from '../../src/lib/docker/engine.js'
import {runAgnes} from '../helpers/run-cli.js'
import {TestInstance, appContainers, destroyInstance, publishStandard, registerTable, registeredTables, runningInstance, servingNow, singleJson} from './fixtures.js'

async function entriesOf(source: AsyncIterable<Uint8Array>): Promise<TarEntry[]> {
  const entries: TarEntry[] = []
  for await (const entry of readTar(source, {content: true})) entries.push(entry)
  return entries
}

describe('backupState and restoreState on a real engine', () => {
  const suffix = randomBytes(4).toString('hex')
  const image = `agnes-backup-test:${suffix}`
  const volume = `agnes-backup-test-${suffix}`
  let api: Dockerode
  let container: Dockerode.Container | undefined
  let dir: string

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agnes-backup-e2e-'))
    api = (await DockerEngine.connect()).api
    // FROM scratch plus one file: the container is never started, so it needs no program.
    const rootfs = writeTar([{name: 'marker', type: 'file', content: 'agnes backup test\n'}])
    const stream = await api.importImage(Readable.from([rootfs]), {repo: 'agnes-backup-test', tag: suffix})
    await new Promise((resolve, reject) => api.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve(undefined))))
    await api.createVolume({Labels: {'agnes.test': 'backup'}, Name: volume})
    container = await api.createContainer({Cmd: ['/marker'], HostConfig: {Binds: [`${volume}:/data`]}, Image: image, Labels: {'agnes.test': 'backup'}})
  })

  afterAll(async () => {
    await container?.remove({force: true, v: true}).catch(() => {})
    await api?.getVolume(volume).remove().catch(() => {})
    await api?.getImage(image).remove({force: true}).catch(() => {})
    rmSync(dir, {force: true, recursive: true})
  })

  async function stateFiles(): Promise<Map<string, TarEntry>> {
    const archive = (await container!.getArchive({path: '/data/state'})) as unknown as AsyncIterable<Uint8Array>
    return new Map((await entriesOf(archive)).filter((entry) => entry.type === 'file').map((entry) => [entry.name, entry]))
  }

  it('backs up /data/state and makes it equal to the backup again', async () => {
    const database = randomBytes(300_000)
    const owned = {gid: 999, mode: 0o600, uid: 999}
    await container!.putArchive(
      writeTar([
        {name: 'state', type: 'directory', ...owned, mode: 0o700},
        {name: 'state/system.duckdb', type: 'file', content: database, ...owned},
        {name: 'state/.jwt_secret', type: 'file', content: 'jwt', ...owned},
        {name: 'state/db-jobs', type: 'directory', ...owned, mode: 0o700},
        {name: `state/db-jobs/${'j'.repeat(120)}.json`, type: 'file', content: '{}', ...owned},
      ]),
      {path: '/data'},
    )

    const backupsDir = join(dir, 'backups')
    const backup = await backupState(api, container!.id, backupsDir, 'sha256:0123456789ab')
    expect(backup.file).toMatch(/\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z-sha256-0123456789ab\.tar$/)
    expect(statSync(backup.file).size).toBe(backup.bytes)
    expect(statSync(backup.file).mode & 0o777).toBe(0o600)
    expect(statSync(backupsDir).mode & 0o777).toBe(0o700)
    expect(readdirSync(backupsDir)).toHaveLength(1)

    // What a newer version does: migrate the database, leave a WAL, add files of its own.
    await container!.putArchive(
      writeTar([
        {name: 'state/system.duckdb', type: 'file', content: 'migrated', ...owned},
        {name: 'state/system.duckdb.wal', type: 'file', content: 'newer WAL', ...owned},
        {name: 'state/.jwt_secret', type: 'file', content: 'jwt', ...owned},
        {name: 'state/new-feature', type: 'directory', ...owned},
        {name: 'state/new-feature/cache.bin', type: 'file', content: randomBytes(1000), ...owned},
      ]),
      {path: '/data'},
    )

    await restoreState(api, container!.id, backup.file)
    const files = await stateFiles()
    expect([...files.keys()].sort()).toEqual(['state/.jwt_secret', `state/db-jobs/${'j'.repeat(120)}.json`, 'state/new-feature/cache.bin', 'state/system.duckdb', 'state/system.duckdb.wal'])
    expect(files.get('state/system.duckdb')?.content).toEqual(database)
    expect(files.get('state/.jwt_secret')?.content?.toString()).toBe('jwt')
    expect(files.get('state/system.duckdb.wal')).toMatchObject({gid: 999, mode: 0o600, size: 0, uid: 999})
    expect(files.get('state/new-feature/cache.bin')?.size).toBe(0)
  })
})
describe('agnes backup, agnes backup list and agnes restore against the stand-in', () => {
  let instance: TestInstance
  let backupsDir: string

  beforeAll(async () => {
    const published = await publishStandard('backup')
    instance = await runningInstance('backup', published.repository)
    backupsDir = join(instance.dir, '.agnes', 'backups')
    await registerTable(instance, 'before_backup')
  })

  afterAll(() => destroyInstance(instance))

  const agnes = (...args: string[]) => runAgnes([...args, '--dir', instance.dir])
  const appNow = () => appContainers(instance.project).map((container) => [container.id, container.state])
  /** Runs agnes and kills it with SIGKILL as soon as `when` holds. */
  const agnesUntil = (args: string[], when: () => boolean) =>
    runAgnes([...args, '--dir', instance.dir], {
      onSpawn(child) {
        const timer = setInterval(() => {
          if (!when()) return
          clearInterval(timer)
          child.kill('SIGKILL')
        }, 10)
        child.on('exit', () => clearInterval(timer))
      },
    })

  async function manualBackup(): Promise<{id: string; file: string; size: number; kind: string; label: string; createdAt: string}> {
    const taken = await agnes('backup', '--json')
    expect(taken.exitCode, taken.stdout + taken.stderr).toBe(0)
    return singleJson(taken).result.backup
  }

  it('lists no backups before the first one, as an empty JSON array', async () => {
    const listed = await agnes('backup', 'list', '--json')
    expect(listed.exitCode, listed.stderr).toBe(0)
    expect(singleJson(listed)).toMatchObject({ok: true, result: []})
  })

  it('takes a manual backup and the app is healthy again', async () => {
    const backup = await manualBackup()
    expect(backup).toMatchObject({kind: 'manual', label: 'manual'})
    expect(backup.id).toMatch(/^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z-manual$/)
    expect(statSync(backup.file).size).toBe(backup.size)
    expect(statSync(backup.file).mode & 0o777).toBe(0o600)
    expect(await servingNow(instance)).toMatchObject({healthy: true})
    expect(await registeredTables(instance)).toContain('before_backup')

    const listed = singleJson(await agnes('backup', 'list', '--json')).result
    expect(listed).toEqual([backup])
    const human = await agnes('backup', 'list')
    expect(human.stdout).toContain(backup.id)
    expect(human.stdout).toContain('manual')
  })

  it('restores a backup: the data written since is gone, the state it replaced is kept, health is green', async () => {
    const [backup] = singleJson(await agnes('backup', 'list', '--json')).result
    await registerTable(instance, 'after_backup')
    const restored = await agnes('restore', backup.id, '--yes', '--json')
    expect(restored.exitCode, restored.stdout + restored.stderr).toBe(0)
    const result = singleJson(restored).result
    expect(result).toMatchObject({outcome: 'restored', restored: {id: backup.id, kind: 'manual'}, kept: {kind: 'pre-restore', label: 'pre-restore'}})
    expect(existsSync(result.kept.file)).toBe(true)
    expect(await servingNow(instance)).toMatchObject({healthy: true})
    const tables = await registeredTables(instance)
    expect(tables).toContain('before_backup')
    expect(tables).not.toContain('after_backup')

    const listed = singleJson(await agnes('backup', 'list', '--json')).result
    expect(listed.map((entry: {id: string}) => entry.id)).toEqual([result.kept.id, backup.id])

    // The kept state undoes the restore.
    const undone = await agnes('restore', result.kept.id, '--yes')
    expect(undone.exitCode, undone.stdout + undone.stderr).toBe(0)
    expect(undone.stdout).toContain(`Restored ${result.kept.id}`)
    expect(await registeredTables(instance)).toContain('after_backup')
  })

  const journalPhase = (): string | undefined => (existsSync(journalPath()) ? JSON.parse(readFileSync(journalPath(), 'utf8')).phase : undefined)
  const journalPath = () => join(instance.dir, '.agnes', 'journal.json')

  it('a backup killed with SIGKILL while the app is stopped: the next cron tick starts the app again with its data', async () => {
    const tables = await registeredTables(instance)
    const killed = await agnesUntil(['backup', '--json'], () => journalPhase() === 'paused' && appNow()[0]?.[1] !== 'running')
    expect(killed.signal).toBe('SIGKILL')
    expect(journalPhase()).toBe('paused')
    expect(appNow()[0][1]).not.toBe('running')
    const status = singleJson(await agnes('status', '--json')).result
    expect(status.journal).toMatchObject({action: 'backup', phase: 'paused'})
    expect(status.nextSteps.join(' ')).toContain('agnes up')
    // The next backup refuses until the journal is finished (exit 7), changing nothing.
    expect((await agnes('backup', '--json')).exitCode).toBe(7)

    const tick = await agnes('upgrade', '--json', '--health-timeout', '60')
    expect(tick.exitCode, tick.stdout + tick.stderr).toBe(0)
    expect(singleJson(tick).result).toMatchObject({outcome: 'up-to-date', recovered: {outcome: 'restarted'}})
    expect(existsSync(journalPath())).toBe(false)
    expect(await servingNow(instance)).toMatchObject({healthy: true})
    expect(await registeredTables(instance)).toEqual(tables)
  })

  it('a restore killed with SIGKILL while it replaces the state: the next `agnes up` leaves a whole state, never a half one', async () => {
    const [backup] = singleJson(await agnes('backup', 'list', '--json')).result.filter((entry: {kind: string}) => entry.kind === 'manual')
    await registerTable(instance, 'before_killed_restore')
    const tables = await registeredTables(instance)
    const killed = await agnesUntil(['restore', backup.id, '--yes', '--json'], () => journalPhase() === 'restoring')
    expect(killed.signal).toBe('SIGKILL')
    // What the killed run reached decides: mid-replace, the replaced state comes back; replaced, the restore stands.
    const phase = journalPhase()
    expect(['restoring', 'restored']).toContain(phase)

    const up = await agnes('up', '--json', '--health-timeout', '60')
    expect(up.exitCode, up.stdout + up.stderr).toBe(0)
    expect(singleJson(up).result.recovered).toMatchObject({outcome: phase === 'restoring' ? 'rolled-back' : 'restarted'})
    expect(existsSync(journalPath())).toBe(false)
    expect(await servingNow(instance)).toMatchObject({healthy: true})
    const now = await registeredTables(instance)
    if (phase === 'restoring') expect(now).toEqual(tables)
    else expect(now).not.toContain('before_killed_restore')
  })

  it('refuses an unknown id (exit 3, pointing at the list) and a missing --yes without a terminal (exit 4), changing nothing', async () => {
    const before = {app: appNow(), backups: readdirSync(backupsDir).sort()}
    const unknown = await agnes('restore', '2020-01-01T00-00-00.000Z-manual', '--yes', '--json')
    expect(unknown.exitCode).toBe(3)
    expect(singleJson(unknown).error).toMatchObject({exitCode: 3, hint: expect.stringContaining('agnes backup list')})

    const [backup] = singleJson(await agnes('backup', 'list', '--json')).result
    const unconfirmed = await agnes('restore', backup.id)
    expect(unconfirmed.exitCode).toBe(4)
    expect(unconfirmed.stderr).toContain('--yes')
    expect({app: appNow(), backups: readdirSync(backupsDir).sort()}).toEqual(before)
    expect(before.app).toEqual([[expect.any(String), 'running']])
  })

  it('puts back the replaced state when the restored one fails its health gate (exit 10)', async () => {
    const [good] = singleJson(await agnes('backup', 'list', '--json')).result.filter((entry: {kind: string}) => entry.kind === 'manual')
    // A backup whose state schema is ahead of this build: the stand-in reports db_schema mismatch on it.
    const entries = await entriesOf(Readable.from([readFileSync(good.file)]))
    const ahead = entries.map((entry) => {
      if (!entry.name.endsWith('standin-state.json')) return {...entry, type: entry.type === 'directory' ? ('directory' as const) : ('file' as const)}
      const data = JSON.parse(entry.content!.toString('utf8'))
      return {...entry, content: JSON.stringify({...data, schema_version: 9999}), type: 'file' as const}
    })
    const badId = '2021-01-01T00-00-00.000Z-manual'
    writeFileSync(join(backupsDir, `${badId}.tar`), writeTar(ahead), {mode: 0o600})
    const tablesBefore = await registeredTables(instance)

    const failed = await agnes('restore', badId, '--yes', '--json', '--health-timeout', '60')
    expect(failed.exitCode, failed.stdout + failed.stderr).toBe(10)
    expect(singleJson(failed).error).toMatchObject({code: 'E_ROLLED_BACK', exitCode: 10})
    expect(await servingNow(instance)).toMatchObject({healthy: true})
    expect(await registeredTables(instance)).toEqual(tablesBefore)
    expect(appNow()).toEqual([[expect.any(String), 'running']])
  })
})
