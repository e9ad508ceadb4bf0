// The release gates of `agnes upgrade` (soak time, publisher's deprecated tags, retraction by the canary) and
// `pin`/`release retract`, decided on the fake host (fake-host.ts): no Docker, no registry.
import {readFileSync} from 'node:fs'
import {afterEach, describe, expect, it} from 'vitest'

import {pin} from '../../../src/lib/deploy/pin.js'
import {releaseRetract} from '../../../src/lib/deploy/retract.js'
import {parseDuration} from '../../../src/lib/deploy/soak.js'
import {UpgradeOptions, UpgradeResult, upgrade} from '../../../src/lib/deploy/upgrade.js'
import {parseWindow} from '../../../src/lib/deploy/window.js'
import {ConflictError, InvalidInputError, RolledBackError} from '../../../src/lib/errors.js'
import {FakeInstance, NEW, OLD, OLDER, fakeInstance, failure} from './fake-host.js'

let instance: FakeInstance
let clock = new Date('2026-12-01T10:00:00Z')
const HOUR = 3_600_000

afterEach(async () => {
  await instance?.close()
})

function tick(extra: Partial<UpgradeOptions> = {}): Promise<UpgradeResult> {
  return upgrade({check: false, deps: instance.deps, dir: instance.dir, force: false, healthTimeoutMs: 5000, maxDeferMs: 2 * HOUR, now: () => clock, reporter: instance.reporter, ...extra})
}

function later(ms: number): void {
  clock = new Date(clock.getTime() + ms)
}

const switched = () => instance.host.calls.filter((call) => /^(pull|stop|up)/.test(call))

describe('--min-age', () => {
  it('parses durations and refuses anything else (exit 3)', () => {
    expect(parseDuration('90m')).toBe(90 * 60_000)
    expect(parseDuration('1h30m')).toBe(90 * 60_000)
    expect(parseDuration('1d')).toBe(24 * HOUR)
    expect(parseDuration('0')).toBe(0)
    for (const bad of ['2 hours', '-1h', 'h', '1.5h', '']) expect(() => parseDuration(bad)).toThrow(InvalidInputError)
  })

  it('a new digest soaks from when this instance first saw it, then is adopted', async () => {
    instance = await fakeInstance({tags: {stable: NEW}})
    const first = await tick({minAgeMs: 2 * HOUR})
    expect(first.outcome).toBe('soaking')
    expect(first.firstSeenAt).toBe(clock.toISOString())
    expect(first.eligibleAt).toBe(new Date(clock.getTime() + 2 * HOUR).toISOString())
    expect(instance.state().channelHead).toEqual({channel: 'stable', digest: NEW, firstSeenAt: clock.toISOString()})
    expect(switched()).toEqual([])

    later(HOUR)
    const second = await tick({minAgeMs: 2 * HOUR})
    expect(second.outcome).toBe('soaking')
    expect(second.eligibleAt).toBe(first.eligibleAt)

    later(HOUR + 1000)
    const third = await tick({minAgeMs: 2 * HOUR})
    expect(third.outcome).toBe('upgraded')
    expect(instance.state().current?.digest).toBe(NEW)
  })

  it('a head that moves again restarts the clock', async () => {
    instance = await fakeInstance({tags: {stable: NEW}})
    await tick({minAgeMs: 2 * HOUR})
    later(90 * 60_000)
    instance.registry.tags.stable = OLDER
    const moved = await tick({minAgeMs: 2 * HOUR})
    expect(moved.outcome).toBe('soaking')
    expect(moved.firstSeenAt).toBe(clock.toISOString())
    expect(moved.eligibleAt).toBe(new Date(clock.getTime() + 2 * HOUR).toISOString())
    later(HOUR)
    expect((await tick({minAgeMs: 2 * HOUR})).outcome).toBe('soaking')
    expect(switched()).toEqual([])
  })

  it('is read from AGNES_MIN_AGE in the instance .env; a broken value there is exit 3 naming the key', async () => {
    instance = await fakeInstance({env: 'AGNES_MIN_AGE=30m\n', tags: {stable: NEW}})
    expect((await tick()).outcome).toBe('soaking')
    expect((await tick({minAgeMs: 0})).outcome).toBe('upgraded')
    await instance.close()

    instance = await fakeInstance({env: 'AGNES_MIN_AGE=soon\n', tags: {stable: NEW}})
    const error = await failure(tick())
    expect(error.exitCode).toBe(3)
    expect(error.message).toContain('AGNES_MIN_AGE in .env')
    expect(instance.registry.requests).toBe(0)
  })

  it('a quiet tick still costs one registry request', async () => {
    instance = await fakeInstance({tags: {stable: OLD}})
    const result = await tick({minAgeMs: HOUR})
    expect(result.outcome).toBe('up-to-date')
    expect(instance.registry.requests).toBe(1)
  })
})

describe('--window', () => {
  it('outside the window: outside-window, exit 0, nothing switched, the next opening named', async () => {
    instance = await fakeInstance({tags: {stable: NEW}})
    clock = new Date('2026-12-05T11:00:00Z') // a Saturday
    const result = await tick({window: parseWindow('Mon-Fri 02:00-05:00 Europe/Prague')})
    expect(result.outcome).toBe('outside-window')
    expect(result.opensAt).toBe('2026-12-07T01:00:00.000Z')
    expect(switched()).toEqual([])

    clock = new Date('2026-12-07T01:30:00Z')
    expect((await tick({window: parseWindow('Mon-Fri 02:00-05:00 Europe/Prague')})).outcome).toBe('upgraded')
  })
})

describe('deprecated builds', () => {
  const deprecatedNew = {'deprecated-2026.12.2': NEW, stable: NEW, 'stable-2026.12.1': OLD, 'stable-2026.12.2': NEW}

  it('a deprecated channel digest is never deployed; it is rejected, so later ticks skip it cheaply', async () => {
    instance = await fakeInstance({tags: deprecatedNew})
    const result = await tick()
    expect(result.outcome).toBe('up-to-date')
    expect(result.deprecatedTag).toBe('deprecated-2026.12.2')
    expect(instance.reporter.warnings.join('\n')).toContain('deprecated-2026.12.2')
    expect(instance.state().rejected).toEqual([NEW])
    expect(switched()).toEqual([])

    instance.registry.requests = 0
    expect((await tick()).outcome).toBe('up-to-date')
    expect(instance.registry.requests).toBe(1)
  })

  it('--force deploys it with a warning', async () => {
    instance = await fakeInstance({tags: deprecatedNew})
    const result = await tick({force: true})
    expect(result.outcome).toBe('upgraded')
    expect(instance.reporter.warnings.join('\n')).toMatch(/marked deprecated-2026\.12\.2.*--force/)
  })

  it('a running build that became deprecated is left for the channel head at once, without the soak', async () => {
    instance = await fakeInstance({state: {current: {deployedAt: '', digest: NEW, repository: '127.0.0.1:5000/unit/agnes', tag: 'stable'}}, tags: {...deprecatedNew, stable: OLD}})
    instance.host.images.add(NEW)
    const result = await tick({minAgeMs: 2 * HOUR})
    expect(result.outcome).toBe('upgraded')
    expect(result.deprecatedTag).toBe('deprecated-2026.12.2')
    expect(instance.state().current?.digest).toBe(OLD)
  })

  it('pin refuses a deprecated version (exit 7) unless --force', async () => {
    instance = await fakeInstance({tags: deprecatedNew})
    const error = await failure(pin({deps: instance.deps, dir: instance.dir, healthTimeoutMs: 5000, reporter: instance.reporter, version: 'stable-2026.12.2'}))
    expect(error).toBeInstanceOf(ConflictError)
    expect(error.hint).toContain('--force')
    expect(switched()).toEqual([])
    const forced = await pin({deps: instance.deps, dir: instance.dir, force: true, healthTimeoutMs: 5000, reporter: instance.reporter, version: 'stable-2026.12.2'})
    expect(forced.changed).toBe(true)
  })
})

describe('retraction', () => {
  const published = {stable: NEW, 'stable-2026.12.1': OLD, 'stable-2026.12.2': NEW}

  it('--retract-on-failure: a rolled-back digest is tagged deprecated and the channel moved back, in history and the result', async () => {
    instance = await fakeInstance({tags: {...published}})
    const error = await failure(tick({retractOnFailure: true, smoke: async () => ({failedStep: 'catalog', passed: false})}))
    expect(error).toBeInstanceOf(RolledBackError)
    expect(instance.registry.tags['deprecated-2026.12.2']).toBe(NEW)
    expect(instance.registry.tags.stable).toBe(OLD)
    expect((error.result as UpgradeResult).retraction).toMatchObject({channelMovedTo: OLD, deprecatedTag: 'deprecated-2026.12.2', version: 'stable-2026.12.2'})
    const history = readFileSync(instance.paths.historyFile, 'utf8')
    expect(history).toMatch(/"action":"retract".*"outcome":"retracted"/)
  })

  it('without push rights the rollback stands (exit 10) and the failed retraction is reported', async () => {
    instance = await fakeInstance({tags: {...published}})
    instance.registry.denyPush = true
    const error = await failure(tick({retractOnFailure: true, smoke: async () => ({failedStep: 'catalog', passed: false})}))
    expect(error.exitCode).toBe(10)
    expect((error.result as UpgradeResult).retraction).toMatchObject({error: expect.stringContaining('HTTP 403')})
    expect(instance.reporter.warnings.join('\n')).toContain('could not retract')
    expect(instance.registry.tags.stable).toBe(NEW)
  })

  it('without the flag nothing in the registry changes', async () => {
    instance = await fakeInstance({tags: {...published}})
    await failure(tick({smoke: async () => ({failedStep: 'catalog', passed: false})}))
    expect(instance.registry.puts).toEqual([])
  })

  it('release retract moves the channel to the newest older version that is not deprecated', async () => {
    instance = await fakeInstance({tags: {'deprecated-2026.12.2': OLD, stable: NEW, 'stable-2026.12.1': OLDER, 'stable-2026.12.2': OLD, 'stable-2026.12.3': NEW}})
    const result = await releaseRetract({deps: instance.deps, dir: instance.dir, version: 'stable-2026.12.3'})
    expect(result).toMatchObject({channelMovedTo: OLDER, deprecatedTag: 'deprecated-2026.12.3', digest: NEW})
    expect(instance.registry.tags.stable).toBe(OLDER)
    expect(instance.registry.tags['deprecated-2026.12.3']).toBe(NEW)
  })

  it('release retract of an older release leaves the channel alone', async () => {
    instance = await fakeInstance({tags: {stable: NEW, 'stable-2026.12.1': OLD, 'stable-2026.12.2': NEW}})
    const result = await releaseRetract({deps: instance.deps, dir: instance.dir, version: 'stable-2026.12.1'})
    expect(result.channelMovedTo).toBeUndefined()
    expect(instance.registry.puts).toEqual([`deprecated-2026.12.1 ${OLD}`])
  })
})

describe('status and doctor on a deprecated running build', () => {
  it('doctor warns with the way off it; status names the next step', async () => {
    const {rejectedFinding} = await import('../../../src/lib/doctor/findings.js')
    const {deprecatedStep} = await import('../../../src/lib/deploy/status.js')
    const finding = rejectedFinding({currentDigest: NEW, deprecatedTag: 'deprecated-2026.12.2', rejected: []})
    expect(finding).toMatchObject({message: expect.stringContaining('marked deprecated-2026.12.2'), status: 'warn'})
    expect(finding.fix).toContain('agnes upgrade')
    expect(rejectedFinding({currentDigest: NEW, deprecatedTag: 'deprecated-2026.12.2', pinned: true, rejected: []}).fix).toContain('agnes pin')
    expect(rejectedFinding({currentDigest: NEW, rejected: []}).status).toBe('ok')
    expect(deprecatedStep('deprecated-2026.12.2', false)).toContain('the next `agnes upgrade` moves to the channel head')
  })
})
