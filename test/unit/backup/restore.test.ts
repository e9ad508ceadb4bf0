import {existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import type {OpenContext} from '../../../src/lib/backup/app-pause.js'
import {takeBackup} from '../../../src/lib/backup/manual.js'
import {restoreBackup} from '../../../src/lib/backup/restore.js'
import {listBackups} from '../../../src/lib/backup/retention.js'
import {readTar, writeTar} from '../../../src/lib/backup/tar.js'
import type {DeployContext} from '../../../src/lib/deploy/context.js'
import {type Journal, readJournal} from '../../../src/lib/deploy/journal.js'
import {recoverFromJournal} from '../../../src/lib/deploy/recover.js'
import type {Compose} from '../../../src/lib/docker/compose.js'
import type {DockerEngine} from '../../../src/lib/docker/engine.js'
import {AgnesError} from '../../../src/lib/errors.js'
import {renderCompose, writeManagedFile} from '../../../src/lib/instance/managed-files.js'
import {instancePaths, type InstancePaths} from '../../../src/lib/instance/paths.js'
import {type InstanceState, loadInstance, writeState} from '../../../src/lib/instance/state.js'
import {RecordingReporter} from '../../../src/lib/ui/reporter.js'

const REPO = '127.0.0.1:5000/unit/agnes'
const DIGEST = `sha256:${'a'.repeat(64)}`

/**
 * A fake engine and Compose around one app container whose /data/state is a map of files. The app is
 * healthy while it runs, unless its state holds a schema ahead of it.
 */
class Host {
  files = new Map<string, string>([['state/system.duckdb', 'current database']])
  running = true
  calls: string[] = []
  /** Where a run "is killed": that call never returns, leaving on disk what a SIGKILL there would. */
  hangAt?: 'copy state' | 'put state' | 'up app'

  healthy(): boolean {
    return this.running && this.files.get('state/schema') !== 'ahead'
  }

  engine(): DockerEngine {
    const host = this
    const container = {
      async getArchive() {
        if (host.hangAt === 'copy state') {
          host.calls.push('copy state')
          return hang()
        }

        return Readable.from([writeTar([{name: 'state', type: 'directory'}, ...[...host.files].map(([name, content]) => ({content, name, type: 'file' as const}))])])
      },
      async inspect() {
        return {HostConfig: {RestartPolicy: {Name: 'no'}}, State: {OOMKilled: false, Restarting: false, Running: host.running}}
      },
      async putArchive(archive: Readable) {
        host.calls.push('put state')
        for await (const entry of readTar(archive, {content: true})) {
          if (entry.type !== 'file') continue
          host.files.set(entry.name, entry.content!.toString())
          if (host.hangAt === 'put state') return hang()
        }
      },
    }
    return {
      api: {getContainer: () => container, ping: async () => {}},
      containerState: async () => ({exitCode: 0, restartCount: 0, restarting: false, running: host.running, startedAt: 'now', status: host.running ? 'running' : 'exited'}),
      logTail: async () => '',
      projectContainers: async () => [{id: 'app-1', state: host.running ? 'running' : 'exited'}],
    } as unknown as DockerEngine
  }

  compose(): Compose {
    const host = this
    return {
      activeServices: async () => ['app', 'scheduler'],
      exec: async () => ({exitCode: 0, stderr: '', stdout: ''}),
      async stop(services: string[]) {
        host.calls.push(`stop ${services.join(' ')}`)
        if (services.includes('app')) host.running = false
      },
      async up(services: string[]) {
        host.calls.push(`up ${services.join(' ')}`)
        if (host.hangAt === 'up app' && services.includes('app')) return hang()
        if (services.includes('app')) host.running = true
      },
    } as unknown as Compose
  }
}

const hang = () => new Promise<never>(() => {})

let dir: string
let paths: InstancePaths
let host: Host
let server: Server
let openContext: OpenContext
let reporter: RecordingReporter

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agnes-restore-test-'))
  paths = instancePaths(dir)
  host = new Host()
  server = createServer((_request, response) => {
    response.writeHead(200, {'content-type': 'application/json'})
    response.end(JSON.stringify(host.healthy() ? {db_schema: 'ok', status: 'ok'} : {db_schema: 'mismatch', status: 'unhealthy'}))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as {port: number}).port
  writeFileSync(paths.env, `AGNES_HTTP_PORT=${port}\n`, {mode: 0o600})
  const current = {deployedAt: '2026-05-01T00:00:00.000Z', digest: DIGEST, repository: REPO, tag: 'stable'}
  const state: InstanceState = {channel: 'stable', createdAt: '', current, knownGood: [current], managedFiles: {}, project: 'unit', rejected: [], repository: REPO, stateVersion: 1, tls: 'none'}
  await writeManagedFile(paths, state, paths.compose, await renderCompose(`${REPO}@${DIGEST}`))
  await writeState(paths, state)
  reporter = new RecordingReporter()
  openContext = async (instance) => ({baseUrl: `http://127.0.0.1:${port}`, compose: host.compose(), engine: host.engine(), engineOpenFileLimit: () => ({}), instance, reporter}) as DeployContext
})

afterEach(async () => {
  await new Promise((resolve) => server.close(resolve))
  rmSync(dir, {force: true, recursive: true})
})

const restore = (id: string, extra: {yes?: boolean; ask?: (message: string) => Promise<boolean>} = {yes: true}) =>
  restoreBackup({dir, healthTimeoutMs: 1500, id, openContext, reporter, yes: false, ...extra})

async function failure(promise: Promise<unknown>): Promise<AgnesError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught)
  expect(error).toBeInstanceOf(AgnesError)
  return error as AgnesError
}

describe('agnes backup', () => {
  it('stops the app, copies its state into a manual backup and starts it again', async () => {
    const result = await takeBackup({dir, healthTimeoutMs: 1500, openContext, reporter})
    expect(result.backup).toMatchObject({kind: 'manual', label: 'manual'})
    expect(await listBackups(paths.backupsDir)).toEqual([result.backup])
    expect(host.calls).toEqual(['stop scheduler app', 'up app', 'up scheduler'])
    expect(host.running).toBe(true)
  })
})

describe('agnes restore', () => {
  it('backs up the state it replaces, restores, and starts the app on the restored state', async () => {
    const {backup} = await takeBackup({dir, healthTimeoutMs: 1500, openContext, reporter})
    host.files.set('state/system.duckdb', 'newer database')
    host.files.set('state/system.duckdb.wal', 'newer WAL')
    host.calls = []

    const result = await restore(backup.id)
    expect(host.files.get('state/system.duckdb')).toBe('current database')
    expect(host.files.get('state/system.duckdb.wal')).toBe('')
    expect(host.calls).toEqual(['stop scheduler app', 'put state', 'up app', 'up scheduler'])
    expect(result).toMatchObject({deployment: {digest: DIGEST}, kept: {kind: 'pre-restore'}, outcome: 'restored', restored: {id: backup.id}})

    // The kept backup holds the replaced state: restoring it undoes the restore.
    await restore(result.kept.id)
    expect(host.files.get('state/system.duckdb')).toBe('newer database')
    expect(host.files.get('state/system.duckdb.wal')).toBe('newer WAL')
  })

  it('puts the replaced state back and starts the app again when the restored state fails the health gate (exit 10)', async () => {
    // A backup whose schema is ahead of the running version: the app never becomes healthy on it.
    mkdirSync(paths.backupsDir, {recursive: true})
    const ahead = {id: '2026-01-02T00-00-00.000Z-manual'}
    writeFileSync(join(paths.backupsDir, `${ahead.id}.tar`), writeTar([{name: 'state', type: 'directory'}, {content: 'old database', name: 'state/system.duckdb', type: 'file'}, {content: 'ahead', name: 'state/schema', type: 'file'}]))
    host.files.set('state/system.duckdb', 'database of today')

    const error = await failure(restore(ahead.id))
    expect(error.exitCode).toBe(10)
    expect(host.files.get('state/system.duckdb')).toBe('database of today')
    // A file the replaced state lacked is truncated, never deleted (snapshots.ts).
    expect(host.files.get('state/schema')).toBe('')
    expect(host.running).toBe(true)
    expect(host.healthy()).toBe(true)
  })

  it('changes nothing when the prompt is declined, and needs --yes without one (exit 4)', async () => {
    const {backup} = await takeBackup({dir, healthTimeoutMs: 1500, openContext, reporter})
    host.calls = []
    const asked: string[] = []
    const declined = await failure(restore(backup.id, {ask: async (message) => (asked.push(message), false)}))
    expect(declined.exitCode).toBe(130)
    expect(asked[0]).toContain(backup.id)
    const unconfirmed = await failure(restore(backup.id, {}))
    expect(unconfirmed).toMatchObject({exitCode: 4, message: expect.stringContaining('--yes')})
    expect(host.calls).toEqual([])
    expect(readdirSync(paths.backupsDir)).toEqual([`${backup.id}.tar`])
    expect(existsSync(paths.lockFile)).toBe(false)
  })

  it('refuses an unknown id (exit 3) before stopping anything', async () => {
    const error = await failure(restore('2026-01-01T00-00-00.000Z-manual'))
    expect(error).toMatchObject({exitCode: 3, hint: expect.stringContaining('agnes backup list')})
    expect(host.calls).toEqual([])
  })
})

describe('a backup or restore killed while the app is stopped', () => {
  /** Starts `run` until it reaches the host's hangAt call, as far as a SIGKILL there; returns the journal it left. */
  async function killedAt(hangAt: Host['hangAt'], run: () => Promise<unknown>, phase: string): Promise<Journal> {
    host.hangAt = hangAt
    void run()
    await vi.waitFor(async () => expect((await readJournal(paths))?.phase).toBe(phase))
    await vi.waitFor(() => expect(host.calls.at(-1)).toBe(hangAt))
    host.hangAt = undefined
    // A killed run's lock is stale: the next run takes it over (instance/lock.ts); this one's pid lives on.
    rmSync(paths.lockFile)
    return (await readJournal(paths))!
  }

  /** What the next `agnes up` or `upgrade` does first (deploy/session.ts), without the lock the "killed" run still holds. */
  async function nextRun(journal: Journal) {
    const ctx = await openContext(await loadInstance(dir), reporter)
    return recoverFromJournal(ctx, journal, {healthTimeoutMs: 1500})
  }

  it('a backup: the next run starts the same deployment again and clears the journal', async () => {
    const journal = await killedAt('copy state', () => takeBackup({dir, healthTimeoutMs: 1500, openContext, reporter}), 'paused')
    expect(journal).toMatchObject({action: 'backup', from: {digest: DIGEST}})
    expect(host.running).toBe(false)
    await expect(takeBackup({dir, healthTimeoutMs: 1500, openContext, reporter})).rejects.toMatchObject({exitCode: 7})

    expect(await nextRun(journal)).toMatchObject({outcome: 'restarted'})
    expect(host.healthy()).toBe(true)
    expect(await readJournal(paths)).toBeUndefined()
    expect(readFileSync(paths.historyFile, 'utf8')).toMatch(/"action":"recover".*"outcome":"restarted"/)
  })

  it('a restore killed while it replaced the state: the next run puts back the state it replaced', async () => {
    const {backup} = await takeBackup({dir, healthTimeoutMs: 1500, openContext, reporter})
    host.files.set('state/system.duckdb', 'newer database')
    host.files.set('state/system.duckdb.wal', 'newer WAL')
    const journal = await killedAt('put state', () => restore(backup.id), 'restoring')
    expect(journal.backup).toMatch(/pre-restore\.tar$/)
    expect(host.files.get('state/system.duckdb')).toBe('current database')
    expect(host.files.get('state/system.duckdb.wal')).toBe('newer WAL')

    expect(await nextRun(journal)).toMatchObject({outcome: 'rolled-back'})
    expect(host.files.get('state/system.duckdb')).toBe('newer database')
    expect(host.files.get('state/system.duckdb.wal')).toBe('newer WAL')
    expect(host.healthy()).toBe(true)
    expect(await readJournal(paths)).toBeUndefined()
  })

  it('a restore killed after the state was replaced keeps it when the app is healthy on it, else puts the replaced one back', async () => {
    const {backup} = await takeBackup({dir, healthTimeoutMs: 1500, openContext, reporter})
    host.files.set('state/system.duckdb', 'newer database')
    const kept = await killedAt('up app', () => restore(backup.id), 'restored')
    expect(await nextRun(kept)).toMatchObject({outcome: 'restarted'})
    expect(host.files.get('state/system.duckdb')).toBe('current database')
    expect(host.healthy()).toBe(true)

    writeFileSync(join(paths.backupsDir, '2026-01-02T00-00-00.000Z-manual.tar'), writeTar([{name: 'state', type: 'directory'}, {content: 'old database', name: 'state/system.duckdb', type: 'file'}, {content: 'ahead', name: 'state/schema', type: 'file'}]))
    const putBack = await killedAt('up app', () => restore('2026-01-02T00-00-00.000Z-manual'), 'restored')
    expect(host.files.get('state/schema')).toBe('ahead')
    expect(await nextRun(putBack)).toMatchObject({outcome: 'rolled-back'})
    expect(host.files.get('state/system.duckdb')).toBe('current database')
    expect(host.healthy()).toBe(true)
    expect(await readJournal(paths)).toBeUndefined()
  })
})
