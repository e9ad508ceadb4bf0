// Every outcome of the cron path (`agnes upgrade`) decided on the fake host (fake-host.ts): no Docker, no build.
import {existsSync} from 'node:fs'
import {afterEach, describe, expect, it} from 'vitest'

import {Journal, writeJournal} from '../../../src/lib/deploy/journal.js'
import {UpgradeOptions, upgrade} from '../../../src/lib/deploy/upgrade.js'
import {InvalidInputError, RolledBackError, TryLaterError} from '../../../src/lib/errors.js'
import {renderCompose, writeManagedFile} from '../../../src/lib/instance/managed-files.js'
import {FakeInstance, NEW, OLD, REPO, fakeInstance, failure} from './fake-host.js'

let instance: FakeInstance

afterEach(async () => {
  await instance?.close()
})

function tick(extra: Partial<UpgradeOptions> = {}): ReturnType<typeof upgrade> {
  return upgrade({check: false, deps: instance.deps, dir: instance.dir, force: false, healthTimeoutMs: 5000, maxDeferMs: 2 * 3600_000, reporter: instance.reporter, ...extra})
}

/** What changed on the host besides looking: pulls, compose runs, engine connections. */
function changes(): string[] {
  return instance.host.calls.filter((call) => call !== 'running app')
}

describe('a quiet tick', () => {
  it('up to date: one registry request, no engine connection, no pull, no compose run', async () => {
    instance = await fakeInstance({tags: {stable: OLD}})
    const result = await tick()
    expect(result.outcome).toBe('up-to-date')
    expect(result.registryRequests).toBe(1)
    expect(instance.registry.requests).toBe(1)
    expect(instance.registry.closed).toBe(true)
    expect(changes()).toEqual([])
  })

  it('pinned: exit 0 with nothing asked of the registry or the engine', async () => {
    instance = await fakeInstance({state: {pin: 'stable-2026.04.1'}, tags: {stable: NEW}})
    const result = await tick()
    expect(result.outcome).toBe('pinned')
    expect(result.message).toContain('agnes pin --channel stable')
    expect(instance.registry.requests).toBe(0)
    expect(instance.host.calls).toEqual([])
  })

  it('a rejected digest is skipped (up-to-date, with a warning) and applied only with --force', async () => {
    instance = await fakeInstance({state: {rejected: [NEW]}, tags: {stable: NEW}})
    const skipped = await tick()
    expect(skipped.outcome).toBe('up-to-date')
    expect(skipped.message).toContain('rejected digest')
    expect(instance.reporter.warnings.join('\n')).toContain('--force')
    expect(changes()).toEqual([])

    const forced = await tick({force: true})
    expect(forced.outcome).toBe('upgraded')
    expect(instance.state().current?.digest).toBe(NEW)
    expect(instance.state().rejected).toEqual([])
  })

  it('--check reports upgrade-available and changes nothing', async () => {
    instance = await fakeInstance({tags: {stable: NEW}})
    const result = await tick({check: true})
    expect(result.outcome).toBe('upgrade-available')
    expect(changes()).toEqual([])
    expect(instance.state().current?.digest).toBe(OLD)
  })

  it('an idle tick ends a deferral', async () => {
    instance = await fakeInstance({state: {deferredSince: new Date(Date.now() - 60_000).toISOString()}, tags: {stable: OLD}})
    expect((await tick()).outcome).toBe('up-to-date')
    expect(instance.state().deferredSince).toBeUndefined()
  })
})

describe('a new digest on the channel', () => {
  it('is pulled once by digest, started, gated and recorded', async () => {
    instance = await fakeInstance({tags: {stable: NEW}})
    const result = await tick()
    expect(result.outcome).toBe('upgraded')
    expect(result.to?.digest).toBe(NEW)
    expect(instance.host.calls.filter((call) => call.startsWith('pull'))).toEqual([`pull ${REPO}@${NEW}`])
    expect(instance.host.app).toMatchObject({digest: NEW, status: 'running'})
    expect(instance.state().current?.digest).toBe(NEW)
    expect(existsSync(instance.paths.journalFile)).toBe(false)
  })

  it('a failed smoke test rolls back (exit 10) and rejects the digest', async () => {
    instance = await fakeInstance({tags: {stable: NEW}})
    const error = await failure(tick({smoke: async () => ({failedStep: 'catalog', passed: false})}))
    expect(error).toBeInstanceOf(RolledBackError)
    expect(error.exitCode).toBe(10)
    expect(instance.host.app).toMatchObject({digest: OLD, status: 'running'})
    expect(instance.state().rejected).toEqual([NEW])
    expect((error.result as {outcome: string}).outcome).toBe('rolled-back')
  })

  it('an AGNES_NOFILE above what the engine grants is refused (exit 3) before anything is pulled or stopped', async () => {
    instance = await fakeInstance({env: 'AGNES_NOFILE=65536\n', tags: {stable: NEW}})
    instance.host.openFileLimit = 4096
    const error = await failure(tick())
    expect(error).toBeInstanceOf(InvalidInputError)
    expect(error.exitCode).toBe(3)
    expect(error.message).toContain('at most 4096 open files')
    expect(error.hint).toContain('AGNES_NOFILE=4096')
    expect(instance.host.calls.filter((call) => /^(pull|stop|up)/.test(call))).toEqual([])
    expect(existsSync(instance.paths.journalFile)).toBe(false)
  })
})

describe('while a sync runs', () => {
  it('the switch is deferred (exit 75, outcome deferred) and the deferral remembered; nothing pulled', async () => {
    instance = await fakeInstance({tags: {stable: NEW}})
    instance.busy.syncLocked = true
    const error = await failure(tick())
    expect(error).toBeInstanceOf(TryLaterError)
    expect(error.exitCode).toBe(75)
    expect(error.code).toBe('E_DEFERRED')
    expect((error.result as {outcome: string}).outcome).toBe('deferred')
    expect(instance.state().deferredSince).toBeDefined()
    expect(changes()).toEqual([])
  })

  it('once the maximum deferral has passed, it upgrades anyway and clears the deferral', async () => {
    instance = await fakeInstance({state: {deferredSince: new Date(Date.now() - 3 * 3600_000).toISOString()}, tags: {stable: NEW}})
    instance.busy.syncLocked = true
    const result = await tick({maxDeferMs: 2 * 3600_000})
    expect(result.outcome).toBe('upgraded')
    expect(instance.reporter.warnings.join('\n')).toContain('maximum deferral has passed')
    expect(instance.state().deferredSince).toBeUndefined()
  })
})

describe('a journal left by a killed run is finished first', () => {
  const journal = (phase: Journal['phase'], extra: Partial<Journal> = {}): Journal => ({
    action: 'upgrade',
    from: {digest: OLD, repository: REPO, tag: 'stable'},
    phase,
    pid: 1,
    startedAt: '2026-04-01T00:00:00.000Z',
    to: {digest: NEW, repository: REPO, tag: 'stable'},
    ...extra,
  })

  it('stopping, the old version still healthy: kept as it is, nothing stopped, the journal cleared', async () => {
    instance = await fakeInstance({tags: {stable: OLD}})
    await writeJournal(instance.paths, journal('stopping'))
    const result = await tick()
    expect(result.recovered?.outcome).toBe('already-running')
    expect(result.outcome).toBe('up-to-date')
    expect(instance.host.calls.filter((call) => call.startsWith('stop'))).toEqual([])
    expect(existsSync(instance.paths.journalFile)).toBe(false)
    expect(instance.state().rejected).toEqual([])
  })

  it('switching, the new version running: given its gates and recorded', async () => {
    instance = await fakeInstance({tags: {stable: NEW}})
    instance.host.images.add(NEW)
    const {paths} = instance
    await writeManagedFile(paths, instance.state(), paths.compose, await renderCompose(`${REPO}@${NEW}`))
    instance.host.app = {digest: NEW, id: 'container-new', restartCount: 0, startedAt: 0, status: 'running'}
    await writeJournal(paths, journal('switching'))
    const result = await tick()
    expect(result.recovered?.outcome).toBe('upgraded')
    expect(result.outcome).toBe('up-to-date')
    expect(instance.state().current?.digest).toBe(NEW)
    expect(existsSync(paths.journalFile)).toBe(false)
  })

  it('switching, nothing running: back to the old version, the unjudged target not rejected', async () => {
    instance = await fakeInstance({tags: {stable: OLD}})
    instance.host.app!.status = 'exited'
    await writeJournal(instance.paths, journal('switching'))
    const result = await tick()
    expect(result.recovered?.outcome).toBe('rolled-back')
    expect(instance.host.app).toMatchObject({digest: OLD, status: 'running'})
    expect(instance.state().rejected).toEqual([])
    expect(existsSync(instance.paths.journalFile)).toBe(false)
  })

  it('rolling back after the target failed its gates: the way back is finished and the target rejected', async () => {
    instance = await fakeInstance({tags: {stable: NEW}})
    instance.host.images.add(NEW)
    instance.host.app = {digest: NEW, id: 'container-new', restartCount: 0, startedAt: 0, status: 'exited'}
    await writeJournal(instance.paths, journal('rolling-back', {reason: 'unhealthy', targetFailed: true}))
    const result = await tick()
    expect(result.recovered?.outcome).toBe('rolled-back')
    // The channel still points at the rejected digest: the tick stays where it is.
    expect(result.outcome).toBe('up-to-date')
    expect(instance.host.app).toMatchObject({digest: OLD, status: 'running'})
    expect(instance.state().rejected).toEqual([NEW])
    expect(instance.host.calls.filter((call) => call.startsWith('pull'))).toEqual([])
  })

  it('rollback-failed: tried again, and the instance ends on the old version', async () => {
    instance = await fakeInstance({tags: {stable: OLD}})
    instance.host.app = undefined
    await writeJournal(instance.paths, journal('rollback-failed', {reason: 'no space left', targetFailed: true}))
    const result = await tick()
    expect(result.recovered?.outcome).toBe('rolled-back')
    expect(instance.host.app).toMatchObject({digest: OLD, status: 'running'})
    expect(existsSync(instance.paths.journalFile)).toBe(false)
  })

  it('--check leaves the journal alone', async () => {
    instance = await fakeInstance({tags: {stable: OLD}})
    await writeJournal(instance.paths, journal('switching'))
    const result = await tick({check: true})
    expect(result.recovered).toBeUndefined()
    expect(existsSync(instance.paths.journalFile)).toBe(true)
    expect(changes()).toEqual([])
  })
})
