// `agnes pin`, `agnes rollback` and `agnes up` on the fake host (fake-host.ts): their decisions without Docker.
import {readFileSync} from 'node:fs'
import {afterEach, describe, expect, it} from 'vitest'

import {pin} from '../../../src/lib/deploy/pin.js'
import {rollback} from '../../../src/lib/deploy/rollback.js'
import {up} from '../../../src/lib/deploy/up.js'
import {InvalidInputError, NotFoundError} from '../../../src/lib/errors.js'
import {Deployment} from '../../../src/lib/instance/state.js'
import {FakeInstance, NEW, OLD, OLDER, REPO, fakeInstance, failure} from './fake-host.js'

let instance: FakeInstance

afterEach(async () => {
  await instance?.close()
})

const common = () => ({deps: instance.deps, dir: instance.dir, healthTimeoutMs: 5000, reporter: instance.reporter})

const known = (digest: string, extra: Partial<Deployment> = {}): Deployment => ({deployedAt: '2026-03-01T00:00:00.000Z', digest, repository: REPO, tag: 'stable', ...extra})

describe('pin', () => {
  it('switches to the version by its digest and stops following the channel', async () => {
    instance = await fakeInstance({tags: {stable: OLD, 'stable-2026.04.2': NEW}})
    const result = await pin({...common(), version: 'stable-2026.04.2'})
    expect(result).toMatchObject({changed: true, outcome: 'pinned', pin: 'stable-2026.04.2'})
    expect(instance.host.app).toMatchObject({digest: NEW, status: 'running'})
    expect(instance.state()).toMatchObject({current: {digest: NEW}, pin: 'stable-2026.04.2'})
    // The digest, and whether the publisher deprecated that version (its deprecated- twin).
    expect(instance.registry.requests).toBe(2)
  })

  it('a version the running digest already is: recorded as the pin, no pull, no container change', async () => {
    instance = await fakeInstance({tags: {'stable-2026.04.1': OLD}})
    const result = await pin({...common(), version: 'stable-2026.04.1'})
    expect(result).toMatchObject({changed: false, outcome: 'pinned'})
    expect(instance.state().pin).toBe('stable-2026.04.1')
    expect(instance.host.calls.filter((call) => call !== 'running app')).toEqual([])
  })

  it('a version the registry does not have: exit 6, nothing changed', async () => {
    instance = await fakeInstance({tags: {stable: OLD}})
    const error = await failure(pin({...common(), version: 'stable-2026.04.9'}))
    expect(error).toBeInstanceOf(NotFoundError)
    expect(error.exitCode).toBe(6)
    expect(instance.state().pin).toBeUndefined()
    expect(instance.host.calls).toEqual([])
  })

  it('a channel name instead of a version: exit 3 before the lock or the registry', async () => {
    instance = await fakeInstance()
    const error = await failure(pin({...common(), version: 'stable'}))
    expect(error.exitCode).toBe(3)
    expect(instance.registry.requests).toBe(0)
  })

  it('--channel unpins and follows the channel again', async () => {
    instance = await fakeInstance({state: {pin: 'stable-2026.04.1'}, tags: {stable: OLD}})
    const result = await pin({...common(), channel: 'stable'})
    expect(result).toMatchObject({changed: false, outcome: 'following'})
    expect(instance.state().pin).toBeUndefined()
  })
})

describe('rollback', () => {
  it('goes back to the previous known-good deployment from the local image: no registry, no pull; the one left is rejected', async () => {
    instance = await fakeInstance({state: {current: known(NEW), knownGood: [known(NEW), known(OLD)]}})
    instance.host.images.add(NEW)
    instance.host.app = {digest: NEW, id: 'container-new', restartCount: 0, startedAt: 0, status: 'running'}
    const result = await rollback(common())
    expect(result).toMatchObject({fromLocalImage: true, outcome: 'rolled-back', rejected: NEW, to: {digest: OLD}})
    expect(instance.registry.requests).toBe(0)
    expect(instance.host.calls.filter((call) => call.startsWith('pull'))).toEqual([])
    expect(instance.host.app).toMatchObject({digest: OLD, status: 'running'})
    expect(instance.state().rejected).toEqual([NEW])
  })

  it('with no earlier known-good deployment: exit 6, nothing stopped', async () => {
    instance = await fakeInstance()
    const error = await failure(rollback(common()))
    expect(error).toBeInstanceOf(NotFoundError)
    expect(error.exitCode).toBe(6)
    expect(instance.host.calls.filter((call) => call.startsWith('stop'))).toEqual([])
  })

  it('--to a version tag that is not known here is resolved through the registry and pulled', async () => {
    instance = await fakeInstance({tags: {'stable-2026.03.1': OLDER}})
    const result = await rollback({...common(), to: 'stable-2026.03.1'})
    expect(result).toMatchObject({fromLocalImage: false, to: {digest: OLDER}})
    expect(instance.registry.requests).toBe(1)
    expect(instance.host.calls).toContain(`pull ${REPO}@${OLDER}`)
  })

  it('--retract also tags the version left deprecated and moves the channel back to what runs now (the canary after a failed soak)', async () => {
    instance = await fakeInstance({state: {current: known(NEW), knownGood: [known(NEW), known(OLD)]}, tags: {stable: NEW, 'stable-2026.12.1': OLD, 'stable-2026.12.2': NEW}})
    instance.host.images.add(NEW)
    instance.host.app = {digest: NEW, id: 'container-new', restartCount: 0, startedAt: 0, status: 'running'}
    const result = await rollback({...common(), retract: true})
    expect(result).toMatchObject({rejected: NEW, retraction: {channelMovedTo: OLD, deprecatedTag: 'deprecated-2026.12.2', digest: NEW}, to: {digest: OLD}})
    expect(result.message).toContain('Retracted stable-2026.12.2 in the registry: tagged deprecated-2026.12.2, stable moved back')
    expect(instance.registry.tags).toMatchObject({'deprecated-2026.12.2': NEW, stable: OLD})
    expect(readFileSync(instance.paths.historyFile, 'utf8')).toMatch(/"action":"retract".*"outcome":"retracted"/)
  })

  it('--retract without push rights: the rollback stands and the result says why nothing changed in the registry', async () => {
    instance = await fakeInstance({state: {current: known(NEW), knownGood: [known(NEW), known(OLD)]}, tags: {stable: NEW, 'stable-2026.12.1': OLD, 'stable-2026.12.2': NEW}})
    instance.registry.denyPush = true
    instance.host.images.add(NEW)
    instance.host.app = {digest: NEW, id: 'container-new', restartCount: 0, startedAt: 0, status: 'running'}
    const result = await rollback({...common(), retract: true})
    expect(result).toMatchObject({outcome: 'rolled-back', retraction: {error: expect.stringContaining('HTTP 403')}, to: {digest: OLD}})
    expect(instance.host.app).toMatchObject({digest: OLD, status: 'running'})
    expect(instance.registry.tags.stable).toBe(NEW)
  })

  it('--to something that is neither a version tag nor a digest: exit 3', async () => {
    instance = await fakeInstance()
    const error = await failure(rollback({...common(), to: 'latest'}))
    expect(error).toBeInstanceOf(InvalidInputError)
    expect(instance.host.calls).toEqual([])
  })
})

describe('up', () => {
  it('on a healthy instance changes nothing and asks the registry nothing', async () => {
    instance = await fakeInstance()
    const result = await up({...common(), force: false})
    expect(result).toMatchObject({changed: false, digest: OLD, pulled: false, switched: false})
    expect(instance.registry.requests).toBe(0)
  })

  it('refuses an AGNES_NOFILE the engine cannot grant (exit 3, naming the limit) before starting anything', async () => {
    instance = await fakeInstance({env: 'AGNES_NOFILE=65536\n'})
    instance.host.openFileLimit = 4096
    instance.host.app = undefined
    const error = await failure(up({...common(), force: false}))
    expect(error).toBeInstanceOf(InvalidInputError)
    expect(error.exitCode).toBe(3)
    expect(error.message).toContain('AGNES_NOFILE=65536, but the Docker engine can grant at most 4096 open files')
    expect(error.hint).toBe("Set AGNES_NOFILE=4096 in .env (or raise the engine's LimitNOFILE).")
    expect(instance.host.calls.filter((call) => /^(pull|stop|up)/.test(call))).toEqual([])
  })

  it('an AGNES_NOFILE within the engine limit passes', async () => {
    instance = await fakeInstance({env: 'AGNES_NOFILE=4096\n'})
    instance.host.openFileLimit = 4096
    expect((await up({...common(), force: false})).changed).toBe(false)
  })

  it('an engine whose limit cannot be known here (a remote engine) is not refused', async () => {
    instance = await fakeInstance({env: 'AGNES_NOFILE=1048577\n'})
    const deps = {...instance.deps, engineOpenFileLimit: () => ({why: 'the Docker engine is not on this host'})}
    expect((await up({...common(), deps, force: false})).changed).toBe(false)
  })
})
