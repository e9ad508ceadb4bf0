// The deploy path's decisions against a fake host (fake-host.ts): a fake engine and Compose that run one app
// container from the image named in the managed docker-compose.yml, and a tiny HTTP server that answers
// /api/health for it. Nothing here touches Docker.
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {pruneBackups} from '../../../src/lib/backup/retention.js'
import {writeTar} from '../../../src/lib/backup/tar.js'
import {appContainerWatcher} from '../../../src/lib/deploy/app-container.js'
import {DeployContext} from '../../../src/lib/deploy/context.js'
import {rollbackHealthTimeoutMs} from '../../../src/lib/deploy/start.js'
import {EnvFile} from '../../../src/lib/instance/env-file.js'
import {readHistory} from '../../../src/lib/deploy/history.js'
import {renderCompose, writeManagedFile} from '../../../src/lib/instance/managed-files.js'
import {instancePaths, InstancePaths} from '../../../src/lib/instance/paths.js'
import {Deployment, InstanceState, writeState} from '../../../src/lib/instance/state.js'
import {RecordingReporter} from '../../../src/lib/ui/reporter.js'
import {instanceStatus, nextSteps} from '../../../src/lib/deploy/status.js'
import {Journal, readJournal, writeJournal} from '../../../src/lib/deploy/journal.js'
import {pinAfterRollback} from '../../../src/lib/deploy/rollback.js'
import {SwitchOptions} from '../../../src/lib/deploy/outcome.js'
import {recoverFromJournal} from '../../../src/lib/deploy/recover.js'
import {switchVersion} from '../../../src/lib/deploy/switch.js'
import {AppContainer, Host, NEW, OLD, OLDER, REPO, imageIdOf, failure} from './fake-host.js'

let dir: string
let paths: InstancePaths
let host: Host
let server: Server
let ctx: DeployContext
let reporter: RecordingReporter

function deployment(digest: string, extra: Partial<Deployment> = {}): Deployment {
  return {deployedAt: '2026-04-01T00:00:00.000Z', digest, repository: REPO, tag: 'stable', ...extra}
}

function options(extra: Partial<SwitchOptions> = {}): SwitchOptions {
  return {action: 'upgrade', allowPull: true, healthTimeoutMs: 5000, ...extra}
}

function stateOnDisk(): InstanceState {
  return JSON.parse(readFileSync(paths.stateFile, 'utf8')) as InstanceState
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agnes-deploy-safety-'))
  paths = instancePaths(dir)
  mkdirSync(paths.agnesDir, {recursive: true})
  host = new Host(paths)
  server = createServer((request, response) => {
    const body = request.url === '/api/health' ? (host.healthy() ? {current: 7, db_schema: 'ok', status: 'ok'} : {current: 7, db_schema: 'unknown', status: 'starting'}) : {version: host.app?.digest === NEW ? '0.2.0' : '0.1.0'}
    response.writeHead(host.healthy() || request.url !== '/api/health' ? 200 : 503, {'content-type': 'application/json'})
    response.end(JSON.stringify(body))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as {port: number}).port
  const state: InstanceState = {channel: 'stable', createdAt: '', current: deployment(OLD), knownGood: [deployment(OLD)], managedFiles: {}, project: 'unit', rejected: [], repository: REPO, stateVersion: 1, tls: 'none'}
  await writeManagedFile(paths, state, paths.compose, await renderCompose(`${REPO}@${OLD}`))
  await writeState(paths, state)
  host.images.add(OLD)
  host.app = {digest: OLD, id: 'container-old', restartCount: 0, startedAt: 0, status: 'running'}
  reporter = new RecordingReporter()
  ctx = {baseUrl: `http://127.0.0.1:${port}`, compose: host.compose(), engine: host.engine(), engineOpenFileLimit: () => ({limit: host.openFileLimit}), instance: {env: EnvFile.parse(`AGNES_HTTP_PORT=${port}\n`), paths, state}, reporter}
})

afterEach(async () => {
  await new Promise((resolve) => server.close(resolve))
  rmSync(dir, {force: true, recursive: true})
})

/** Nothing stopped, no journal, the old version serving, the target not rejected. */
function leftNothingBehind(): void {
  expect(host.calls.filter((call) => call.startsWith('stop'))).toEqual([])
  expect(existsSync(paths.journalFile)).toBe(false)
  expect(host.app).toMatchObject({digest: OLD, status: 'running'})
  expect(ctx.instance.state.rejected).not.toContain(NEW)
}

describe('a failure before the new version starts leaves nothing behind', () => {
  it('an override Compose cannot parse: exit 3 naming the file, nothing stopped, no journal', async () => {
    host.composeBroken = true
    const error = await failure(switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options()))
    expect(error.exitCode).toBe(3)
    expect(error.message).toContain('docker-compose.override.yml')
    leftNothingBehind()
  })

  it('an override that is not YAML, where Compose v2 names no file: the message names it', async () => {
    host.composeBroken = true
    host.composeSays = "yaml: line 2: did not find expected ',' or ']'"
    writeFileSync(paths.override, 'services:\n  app:\n    environment: [unclosed\n')
    const error = await failure(switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options()))
    expect(error.exitCode).toBe(3)
    expect(error.message).toMatch(/docker-compose\.override\.yml is not valid YAML/)
    leftNothingBehind()
  })

  it('a hand-edited docker-compose.yml: exit 3, nothing stopped, no journal', async () => {
    writeFileSync(paths.compose, readFileSync(paths.compose, 'utf8') + '\n# my change\n')
    const error = await failure(switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options()))
    expect(error.exitCode).toBe(3)
    expect(error.message).toContain('docker-compose.yml was edited by hand')
    leftNothingBehind()
  })

  it('an engine that stopped answering: exit 9, nothing stopped, no journal', async () => {
    host.engineDown = true
    const error = await failure(switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options()))
    expect(error.exitCode).toBe(9)
    leftNothingBehind()
  })

  it('a target image that is still not on the host after the pull: exit 9, nothing stopped', async () => {
    ctx.engine.pull = async () => {}
    const error = await failure(switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options()))
    expect(error.exitCode).toBe(9)
    expect(error.message).toContain('not on this host after the pull')
    leftNothingBehind()
  })

  it('no room for the state backup where .agnes/backups lives: exit 9, nothing stopped', async () => {
    mkdirSync(paths.backupsDir, {recursive: true})
    // The last backup (sparse) says the next one needs more than any test disk has.
    const last = join(paths.backupsDir, '2026-04-01T00-00-00.000Z-aaaaaaaaaaaa.tar')
    writeFileSync(last, '')
    const {truncateSync} = await import('node:fs')
    truncateSync(last, 4 * 1024 ** 4)
    const error = await failure(switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options()))
    expect(error.code).toBe('E_DISK_FULL')
    expect(error.exitCode).toBe(9)
    expect(error.message).toContain(paths.backupsDir)
    leftNothingBehind()
  })

  it('a sync that started during the pull (afterPull backs out): nothing stopped, no journal', async () => {
    const {TryLaterError} = await import('../../../src/lib/errors.js')
    const error = await failure(
      switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options({
        async afterPull() {
          throw new TryLaterError('E_DEFERRED', 'the instance is busy (a sync holds the sync lock); the upgrade is deferred')
        },
      })),
    )
    expect(error.exitCode).toBe(75)
    expect(host.calls).toContain(`pull ${REPO}@${NEW}`)
    leftNothingBehind()
  })

  it('a backup that fails after the stop: the old version is started again, the journal cleared, the target not rejected', async () => {
    host.failBackup = true
    const error = await failure(switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options()))
    expect(error.exitCode).toBe(9)
    expect(error.message).toContain('no space left on device')
    expect(existsSync(paths.journalFile)).toBe(false)
    expect(host.app).toMatchObject({digest: OLD, status: 'running'})
    expect(host.schedulerRunning).toBe(true)
    expect(host.composeDigest()).toBe(OLD)
    expect(stateOnDisk().rejected).toEqual([])
  })
})

describe('recovery looks at what runs first', () => {
  const journal = (phase: Journal['phase'], extra: Partial<Journal> = {}): Journal => ({action: 'upgrade', from: {digest: OLD, repository: REPO, tag: 'stable'}, phase, pid: 1, startedAt: '', to: {digest: NEW, repository: REPO, tag: 'stable'}, ...extra})

  it.each(['stopping', 'rollback-failed'] as const)('a %s journal while the old version runs healthy: cleared, nothing stopped or restored, the target not rejected', async (phase) => {
    host.images.add(NEW)
    host.schedulerRunning = false
    await writeJournal(paths, journal(phase, {backup: join(paths.backupsDir, 'x.tar')}))
    const recovered = await recoverFromJournal(ctx, (await readJournal(paths))!, {healthTimeoutMs: 5000})
    expect(recovered.outcome).toBe('already-running')
    expect(host.calls.filter((call) => call.startsWith('stop'))).toEqual([])
    expect(host.app).toMatchObject({digest: OLD, id: 'container-old', status: 'running'})
    expect(host.schedulerRunning).toBe(true)
    expect(existsSync(paths.journalFile)).toBe(false)
    expect(stateOnDisk().rejected).toEqual([])
    expect((await readHistory(paths)).at(-1)).toMatchObject({action: 'recover', outcome: 'already-running'})
  })

  it('a recovery that confirms the new version starts the scheduler again', async () => {
    host.images.add(NEW)
    await writeManagedFile(paths, ctx.instance.state, paths.compose, await renderCompose(`${REPO}@${NEW}`))
    await writeState(paths, ctx.instance.state)
    host.app = {digest: NEW, id: 'container-new', restartCount: 0, startedAt: 0, status: 'running'}
    host.schedulerRunning = false
    await writeJournal(paths, journal('switching'))
    const recovered = await recoverFromJournal(ctx, (await readJournal(paths))!, {healthTimeoutMs: 5000})
    expect(recovered.outcome).toBe('upgraded')
    expect(host.schedulerRunning).toBe(true)
    expect(stateOnDisk().current?.digest).toBe(NEW)
    expect(existsSync(paths.journalFile)).toBe(false)
  })

  it('a run killed while switching back from an interrupted (never judged) target does not reject it; one that failed its gates does', async () => {
    host.images.add(NEW)
    host.app!.status = 'exited'
    await writeJournal(paths, journal('switching'))
    await recoverFromJournal(ctx, (await readJournal(paths))!, {healthTimeoutMs: 5000})
    expect(stateOnDisk().rejected).toEqual([])

    host.app!.status = 'exited'
    await writeJournal(paths, journal('rolling-back', {reason: 'interrupted'}))
    await recoverFromJournal(ctx, (await readJournal(paths))!, {healthTimeoutMs: 5000})
    expect(stateOnDisk().rejected).toEqual([])

    host.app!.status = 'exited'
    await writeJournal(paths, journal('rolling-back', {targetFailed: true}))
    await recoverFromJournal(ctx, (await readJournal(paths))!, {healthTimeoutMs: 5000})
    expect(stateOnDisk().rejected).toEqual([NEW])
  })
})

describe('the way back has its own budget', () => {
  it('waits at least the recorded boot time with a margin, and never less than the floor', () => {
    const state = {current: deployment(NEW), knownGood: [deployment(OLD, {bootMs: 90_000})]} as InstanceState
    expect(rollbackHealthTimeoutMs(state, OLD, 1000)).toBe(210_000)
    expect(rollbackHealthTimeoutMs(state, OLDER, 1000)).toBe(120_000)
    expect(rollbackHealthTimeoutMs(state, OLDER, 600_000)).toBe(600_000)
  })

  it('a 1 s --health-timeout fails the new version but the old one, slower than that, is rolled back to (exit 10, not 11)', async () => {
    host.bootMs.set(NEW, Number.POSITIVE_INFINITY)
    host.bootMs.set(OLD, 2500)
    const outcome = await switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options({healthTimeoutMs: 1000}))
    expect(outcome.outcome).toBe('rolled-back')
    expect(outcome.rollbackMs).toBeGreaterThanOrEqual(2500)
    expect(host.app).toMatchObject({digest: OLD, status: 'running'})
    expect(stateOnDisk().rejected).toEqual([NEW])
    expect(stateOnDisk().current?.bootMs).toBeGreaterThanOrEqual(2500)
    expect(existsSync(paths.journalFile)).toBe(false)
  }, 20_000)

  it('records the boot time of a version that passes its gate', async () => {
    host.bootMs.set(NEW, 600)
    const outcome = await switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options())
    expect(outcome.outcome).toBe('upgraded')
    expect(stateOnDisk().current).toMatchObject({digest: NEW})
    expect(stateOnDisk().current!.bootMs).toBeGreaterThanOrEqual(600)
  })
})

/** Does `change` to the app container once the target runs (while it boots), as the engine would. */
function whenTargetRuns(change: (app: AppContainer) => void): void {
  const timer = setInterval(() => {
    if (host.app?.digest === NEW && host.app.status === 'running') {
      clearInterval(timer)
      change(host.app)
    }
  }, 20)
}

describe('only a release that started and failed its gates is rejected, not one the Docker engine interrupted', () => {
  beforeEach(() => {
    host.restartPolicy = 'unless-stopped'
    host.bootMs.set(NEW, 2000)
  })

  it('the engine stopped the booting app (exit 0; its restart policy would have restarted a crash): rolled back (exit 10), not rejected', async () => {
    whenTargetRuns((app) => (app.status = 'exited'))
    const outcome = await switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options())
    expect(outcome).toMatchObject({outcome: 'rolled-back', rejected: false})
    expect(outcome.reason).toContain('was stopped from outside')
    expect(outcome.reason).toContain('not judged')
    expect(host.app).toMatchObject({digest: OLD, status: 'running'})
    expect(stateOnDisk().rejected).toEqual([])
    expect(existsSync(paths.journalFile)).toBe(false)
    expect(reporter.warnings.join(' ')).toContain('was not judged')
  })

  it('the engine stopped answering mid-gate: waits for it, rolls back, not rejected', async () => {
    whenTargetRuns(() => {
      host.engineGone = true
      setTimeout(() => (host.engineGone = false), 1500)
    })
    const outcome = await switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options())
    expect(outcome).toMatchObject({outcome: 'rolled-back', rejected: false})
    expect(outcome.reason).toContain('the Docker engine stopped answering')
    expect(stateOnDisk().rejected).toEqual([])
    expect(reporter.lines.join(' ')).toContain('Waiting up to 120 s for the Docker engine')
  }, 20_000)

  it('the engine brought the app back (started again, no restart of its own): not rejected', async () => {
    whenTargetRuns((app) => setTimeout(() => (app.startedAt = Date.now()), 600))
    const outcome = await switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options())
    expect(outcome).toMatchObject({outcome: 'rolled-back', rejected: false})
    expect(outcome.reason).toContain('started again by the Docker engine')
    expect(stateOnDisk().rejected).toEqual([])
  })

  // A crash leaves no schema seen, so the way back restores the backup, which this fake engine cannot do:
  // the verdict is read from the journal the failed way back keeps.
  it.each([
    ['a crash on start (exit 1)', 'unless-stopped', 1],
    ['an exit 0 without a restart policy', 'no', 0],
  ])('%s is still judged: the target is marked failed, to be rejected', async (_name, policy, exitCode) => {
    host.restartPolicy = policy
    host.exitCode = exitCode
    whenTargetRuns((app) => (app.status = 'exited'))
    const outcome = await switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options())
    expect(outcome.reason).toBe(`the app container exited with code ${exitCode}`)
    expect((await readJournal(paths))?.targetFailed).toBe(true)
  })

  it('a smoke test that fails because the engine stopped the app is not a verdict either', async () => {
    host.bootMs.set(NEW, 0)
    const outcome = await switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options({
      async smoke() {
        host.app!.status = 'exited'
        return {detail: 'connection refused', failedStep: 'health', passed: false}
      },
    }))
    expect(outcome).toMatchObject({outcome: 'rolled-back', rejected: false})
    expect(outcome.reason).toContain('during the smoke test')
    expect(stateOnDisk().rejected).toEqual([])
  })

  it('recovery of a journal the interrupted run left (rollback failed while the engine was down) does not reject', async () => {
    const journal: Journal = {action: 'upgrade', from: {digest: OLD, repository: REPO, tag: 'stable'}, phase: 'rollback-failed', pid: 1, reason: 'the app container could not be watched', startedAt: '', to: {digest: NEW, repository: REPO, tag: 'stable'}}
    host.images.add(NEW)
    await writeManagedFile(paths, ctx.instance.state, paths.compose, await renderCompose(`${REPO}@${NEW}`))
    host.app = {digest: NEW, id: 'container-new', restartCount: 0, startedAt: Date.now(), status: 'running'}
    await writeJournal(paths, journal)
    const recovered = await recoverFromJournal(ctx, journal, {healthTimeoutMs: 5000})
    expect(recovered.outcome).toBe('rolled-back')
    expect(host.app).toMatchObject({digest: OLD, status: 'running'})
    expect(stateOnDisk().rejected).toEqual([])
  })
})

describe('the rest of the deploy path', () => {
  it('a long-running container with past restarts passes the gate; a restart during the gate fails it', async () => {
    host.app!.restartCount = 4
    const watcher = appContainerWatcher(ctx, {id: 'container-old', restartCount: 4})
    expect(await watcher()).toMatchObject({fatal: false})
    host.app!.restartCount = 5
    expect(await watcher()).toMatchObject({description: expect.stringContaining('crashed 1 time'), fatal: true})
  })

  it('a rollback clears deferredSince', async () => {
    ctx.instance.state.deferredSince = '2026-04-01T00:00:00.000Z'
    host.bootMs.set(NEW, Number.POSITIVE_INFINITY)
    const outcome = await switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options({healthTimeoutMs: 500}))
    expect(outcome.outcome).toBe('rolled-back')
    expect(stateOnDisk().deferredSince).toBeUndefined()
  })

  it('Ctrl-C during a switch whose rollback fails exits 11, not 130', async () => {
    const controller = new AbortController()
    ctx.signal = controller.signal
    host.failUpDigest = OLD
    const error = await failure(
      switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options({
        healthTimeoutMs: 500,
        async smoke() {
          controller.abort()
          throw new Error('interrupted')
        },
      })),
    )
    expect(error.exitCode).toBe(11)
    expect((await readJournal(paths))?.phase).toBe('rollback-failed')
    expect(stateOnDisk().rejected).toEqual([])
  })

  it('what a switch sets on success (a pin) is persisted before the journal is cleared', async () => {
    let stateWhenJournalGone: InstanceState | undefined
    ctx.engine.api.listContainers = (async () => {
      if (!existsSync(paths.journalFile)) stateWhenJournalGone = stateOnDisk()
      return []
    }) as never
    // A full known-good list, so that one image drops out and pruning (which runs after the journal is gone) looks.
    ctx.instance.state.knownGood.push(...['c', 'd', 'e', 'f'].map((hex) => deployment(`sha256:${hex.repeat(64)}`)))
    const outcome = await switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable-2026.04.2'}, options({onSuccess: (state) => (state.pin = 'stable-2026.04.2')}))
    expect(outcome.outcome).toBe('upgraded')
    expect(stateWhenJournalGone?.pin).toBe('stable-2026.04.2')
  })
})

describe('image pruning after an upgrade', () => {
  it('removes only images this instance deployed and dropped, never one a container uses or another instance keeps', async () => {
    const other = mkdtempSync(join(tmpdir(), 'agnes-other-instance-'))
    try {
      const inUse = `sha256:${'d'.repeat(64)}`
      const keptElsewhere = `sha256:${'e'.repeat(64)}`
      const dropped = `sha256:${'f'.repeat(64)}`
      const foreign = `sha256:${'9'.repeat(64)}`
      for (const digest of [inUse, keptElsewhere, dropped, foreign]) host.images.add(digest)
      // Five known-good deployments: the upgrade pushes the oldest out of the list.
      host.images.add(OLDER)
      host.otherContainers = [
        {Id: 'stopped-elsewhere', ImageID: imageIdOf(inUse), Labels: {}},
        {Id: 'other-app', ImageID: 'sha256:other', Labels: {'com.docker.compose.project.working_dir': other}},
      ]
      mkdirSync(join(other, '.agnes'))
      writeFileSync(join(other, '.agnes', 'state.json'), JSON.stringify({current: {digest: 'sha256:x'}, knownGood: [{digest: keptElsewhere}]}))
      ctx.instance.state.knownGood = [deployment(OLD), deployment(dropped), deployment(inUse), deployment(keptElsewhere), deployment(OLDER)]
      const outcome = await switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options())
      expect(outcome.outcome).toBe('upgraded')
      // knownGood is now NEW, OLD, dropped, inUse, keptElsewhere: OLDER dropped out, and it is the only one removed.
      expect(host.removed).toEqual([OLDER])
      expect(host.images.has(foreign)).toBe(true)
    } finally {
      rmSync(other, {force: true, recursive: true})
    }
  })

  it('keeps a dropped image a container still uses and one another instance keeps for rollback', async () => {
    const other = mkdtempSync(join(tmpdir(), 'agnes-other-instance-'))
    try {
      const usedByStopped = `sha256:${'d'.repeat(64)}`
      const keptElsewhere = `sha256:${'e'.repeat(64)}`
      host.images.add(usedByStopped)
      host.images.add(keptElsewhere)
      ctx.instance.state.rejected = [usedByStopped, keptElsewhere]
      host.otherContainers = [
        {Id: 'stopped', ImageID: imageIdOf(usedByStopped), Labels: {}},
        {Id: 'other-app', ImageID: 'sha256:other', Labels: {'com.docker.compose.project.working_dir': other}},
      ]
      mkdirSync(join(other, '.agnes'))
      writeFileSync(join(other, '.agnes', 'state.json'), JSON.stringify({knownGood: [{digest: keptElsewhere}]}))
      expect((await switchVersion(ctx, {digest: NEW, repository: REPO, tag: 'stable'}, options())).outcome).toBe('upgraded')
      expect(host.removed).toEqual([])
    } finally {
      rmSync(other, {force: true, recursive: true})
    }
  })
})

describe('backup pruning never removes a backup a rollback needs', () => {
  it('keeps protected backups however many newer failed attempts there are', async () => {
    mkdirSync(paths.backupsDir, {recursive: true})
    const names = Array.from({length: 8}, (_, index) => `2026-04-0${index + 1}T00-00-00.000Z-aaaaaaaaaaaa.tar`)
    for (const name of names) writeFileSync(join(paths.backupsDir, name), 'x')
    const needed = join(paths.backupsDir, names[0])
    const removed = await pruneBackups(paths.backupsDir, 5, [needed, undefined])
    expect(removed.map((file) => file.split('/').pop())).toEqual([names[2], names[1]])
    expect(existsSync(needed)).toBe(true)
  })
})

describe('a pin follows a rollback', () => {
  it('moves to the target version tag when known, else is removed; an unpinned instance stays unpinned', () => {
    expect(pinAfterRollback({pin: 'stable-2026.04.9'}, {tag: 'stable', versionTag: 'stable-2026.04.2'})).toBe('stable-2026.04.2')
    expect(pinAfterRollback({pin: 'stable-2026.04.9'}, {tag: 'stable-2026.04.1'})).toBe('stable-2026.04.1')
    expect(pinAfterRollback({pin: 'stable-2026.04.9'}, {tag: 'stable'})).toBeUndefined()
    expect(pinAfterRollback({}, {tag: 'stable', versionTag: 'stable-2026.04.2'})).toBeUndefined()
  })
})

describe('status and history with damaged files', () => {
  it('a torn journal.json: status still works and says what to do', async () => {
    writeFileSync(paths.env, 'AGNES_HTTP_PORT=1\n')
    writeFileSync(paths.journalFile, '{"action":"upgrade","pha')
    const status = await instanceStatus(dir)
    expect(status.journal).toBeNull()
    expect(status.journalProblem).toContain('journal.json')
    expect(status.nextSteps.join(' ')).toContain('agnes up')
  })

  it('after an exit 11, status names the state and the commands that finish it', () => {
    const steps = nextSteps({
      dir: '/i',
      healthy: false,
      journal: {action: 'pin', backup: '/i/.agnes/backups/b.tar', from: {digest: OLD, repository: REPO, version: '0.1.0'}, phase: 'rollback-failed', pid: 1, reason: 'never healthy', startedAt: '', to: {digest: NEW, repository: REPO, version: '0.2.0'}},
      journalProblem: null,
      running: null,
    }).join('\n')
    expect(steps).toContain('switching back failed too (exit 11)')
    expect(steps).toContain('no app container runs')
    expect(steps).toContain('agnes logs app --tail 100 --dir /i')
    expect(steps).toContain('`agnes up`')
    expect(steps).toContain('agnes rollback --to')
  })

  it('history skips lines that are JSON but not entries', async () => {
    const good = {action: 'up', durationMs: 1, outcome: 'deployed', time: '2026-04-01T00:00:00.000Z'}
    writeFileSync(paths.historyFile, ['42', '"junk"', '{"foo":1}', 'null', '[1]', JSON.stringify(good), '{"action":"up","outcome":"x","time":"t","durationMs":"slow"}'].join('\n') + '\n')
    expect(await readHistory(paths)).toEqual([good])
  })
})

describe('the instance lock is taken before state is read', () => {
  it('upgrade, pin, rollback and up report `locked` (75) while another run holds the lock, without reading state it may be rewriting', async () => {
    const {acquireLock} = await import('../../../src/lib/instance/lock-file.js')
    const {upgrade} = await import('../../../src/lib/deploy/upgrade.js')
    const {pin} = await import('../../../src/lib/deploy/pin.js')
    const {rollback} = await import('../../../src/lib/deploy/rollback.js')
    const {up} = await import('../../../src/lib/deploy/up.js')
    writeFileSync(paths.env, 'AGNES_HTTP_PORT=1\n')
    const held = await acquireLock(paths.lockFile, {command: 'upgrade'})
    try {
      // The holder is halfway through rewriting state.json.
      writeFileSync(paths.stateFile, '{"stateVersion": 1, "proj')
      const common = {dir, healthTimeoutMs: 1000, reporter, signal: undefined}
      for (const run of [
        () => upgrade({...common, check: false, force: false, maxDeferMs: 0}),
        () => pin({...common, version: 'stable-2026.04.1'}),
        () => rollback(common),
        () => up({...common, force: false}),
      ]) {
        const error = await failure(run())
        expect(error.exitCode).toBe(75)
        expect(error.code).toBe('E_LOCKED')
      }
    } finally {
      await held?.release()
    }
  })

  it('a directory that is not an instance is refused (exit 3) without creating .agnes/ in it', async () => {
    const {upgrade} = await import('../../../src/lib/deploy/upgrade.js')
    const empty = mkdtempSync(join(tmpdir(), 'agnes-not-an-instance-'))
    try {
      const error = await failure(upgrade({check: false, dir: empty, force: false, healthTimeoutMs: 1000, maxDeferMs: 0, reporter}))
      expect(error.exitCode).toBe(3)
      expect(existsSync(join(empty, '.agnes'))).toBe(false)
    } finally {
      rmSync(empty, {force: true, recursive: true})
    }
  })
})
