import {describe, expect, it} from 'vitest'

import {fleetExitCode, readUpgradeAnswer, soakRemainingMs} from '../../../src/lib/fleet/decide.js'
import {fleetUpgrade} from '../../../src/lib/fleet/rollout.js'
import {silentReporter} from '../../../src/lib/ui/reporter.js'
import {FakeFleet, NEW, OLD, sixInstances} from './fake-fleet.js'

const run = (fleet: FakeFleet, extra: Partial<Parameters<typeof fleetUpgrade>[2]> = {}) => fleetUpgrade(fleet.inventory, fleet, {channel: 'stable', reporter: silentReporter, ...extra})

describe('fleetUpgrade', () => {
  it('takes a good release to the canary, then the waves in order, at most `parallel` at once', async () => {
    const fleet = new FakeFleet(sixInstances())
    const result = await run(fleet)
    expect(result).toMatchObject({digest: NEW, exitCode: 0, outcome: 'completed'})
    expect(fleet.upgradedNames()).toEqual(['c1', 'a1', 'a2', 'b1', 'b2', 'b3'])
    expect(fleet.maxInFlight).toBe(2)
    for (const host of fleet.hosts.values()) expect(host.digest).toBe(NEW)
  })

  it('stops at a canary that rolls back: no other instance is upgraded and the digest is rejected everywhere', async () => {
    const fleet = new FakeFleet(sixInstances())
    fleet.host('c1').upgrade = 'rollback'
    const result = await run(fleet)
    expect(result).toMatchObject({exitCode: 10, haltedBy: {name: 'c1', outcome: 'rolled-back'}, outcome: 'halted'})
    expect(fleet.upgradedNames()).toEqual(['c1'])
    for (const [name, host] of fleet.hosts) {
      expect(host.rejected, name).toContain(NEW)
      expect(host.digest, name).toBe(OLD)
    }

    expect(result.rejectedOn.filter((entry) => entry.ok)).toHaveLength(6)
    expect(result.instances.filter((entry) => entry.outcome === 'not-started').map((entry) => entry.name)).toEqual(['a1', 'a2', 'b1', 'b2', 'b3'])
  })

  it('runs the canary with --min-age 0 --retract-on-failure and the waves without; a retraction is in the summary', async () => {
    const fleet = new FakeFleet(sixInstances())
    expect((await run(fleet, {healthTimeoutSeconds: 600})).exitCode).toBe(0)
    expect(fleet.upgradeWords.get('c1')).toEqual(['upgrade', '--channel', 'stable', '--quiet', '--health-timeout', '600', '--min-age', '0', '--retract-on-failure'])
    expect(fleet.upgradeWords.get('b1')).toEqual(['upgrade', '--channel', 'stable', '--quiet', '--health-timeout', '600'])

    const crashing = new FakeFleet(sixInstances())
    crashing.host('c1').upgrade = 'rollback'
    const result = await run(crashing)
    expect(result).toMatchObject({exitCode: 10, retraction: {channelMovedTo: OLD, deprecatedTag: 'deprecated-2026.07.2'}})
    expect(result.message).toContain('stable-2026.07.2 tagged deprecated-2026.07.2 in the registry, stable moved back')
  })

  it('leaves the registry alone with rollout.retractOnFailure: false, or when the option turns it off', async () => {
    const off = new FakeFleet(sixInstances('soak: 0\n  retractOnFailure: false'))
    off.host('c1').upgrade = 'rollback'
    const result = await run(off)
    expect(result.exitCode).toBe(10)
    expect(result.retraction).toBeUndefined()
    expect(off.upgradeWords.get('c1')).not.toContain('--retract-on-failure')

    const overridden = new FakeFleet(sixInstances())
    await run(overridden, {retractOnFailure: false})
    expect(overridden.upgradeWords.get('c1')).toEqual(['upgrade', '--channel', 'stable', '--quiet', '--min-age', '0'])
  })

  it('halts at a wave instance that needs a person (exit 11): later waves never start', async () => {
    const fleet = new FakeFleet(sixInstances('soak: 0\n  parallel: 1'))
    fleet.host('a1').upgrade = 'fail'
    const result = await run(fleet)
    expect(result).toMatchObject({exitCode: 11, haltedBy: {name: 'a1', outcome: 'failed'}, outcome: 'halted'})
    expect(fleet.upgradedNames()).toEqual(['c1', 'a1'])
    expect(fleet.host('b3').rejected).toContain(NEW)
  })

  it('with halt: stop, stops without rejecting the digest elsewhere', async () => {
    const fleet = new FakeFleet(sixInstances('soak: 0\n  halt: stop'))
    fleet.host('c1').upgrade = 'rollback'
    const result = await run(fleet)
    expect(result.exitCode).toBe(10)
    expect(result.rejectedOn).toEqual([])
    expect(fleet.host('a1').rejected).toEqual([])
  })

  it('reports an unreachable instance, carries on with the others, and exits 8', async () => {
    const fleet = new FakeFleet(sixInstances())
    fleet.host('a2').reachable = false
    const result = await run(fleet)
    expect(result).toMatchObject({exitCode: 8, outcome: 'incomplete'})
    expect(result.instances.find((entry) => entry.name === 'a2')).toMatchObject({outcome: 'unreachable'})
    expect(fleet.upgradedNames()).toEqual(['c1', 'a1', 'b1', 'b2', 'b3'])
  })

  it('refuses a remote agnes older than the minimum, per instance', async () => {
    const fleet = new FakeFleet(sixInstances())
    fleet.host('b1').agnesVersion = '0.0.9'
    const result = await run(fleet)
    expect(result.instances.find((entry) => entry.name === 'b1')).toMatchObject({message: expect.stringContaining('older than 0.1.0'), outcome: 'unreachable'})
  })

  it('stops launching on Ctrl-C, waits for those in flight, and a second run resumes where it stopped', async () => {
    const fleet = new FakeFleet(sixInstances('soak: 0\n  parallel: 1'))
    const controller = new AbortController()
    fleet.onUpgrade = (name) => name === 'a1' && controller.abort()
    const first = await run(fleet, {signal: controller.signal})
    expect(first).toMatchObject({exitCode: 130, outcome: 'interrupted'})
    expect(fleet.host('a1').digest).toBe(NEW)
    expect(fleet.host('a2').digest).toBe(OLD)
    fleet.onUpgrade = undefined
    fleet.calls.length = 0
    const second = await run(fleet)
    expect(second.outcome).toBe('completed')
    expect(second.instances.filter((entry) => entry.outcome === 'up-to-date').map((entry) => entry.name)).toEqual(['c1', 'a1'])
    expect(fleet.upgradedNames()).toEqual(['c1', 'a1', 'a2', 'b1', 'b2', 'b3'])
    expect(second.instances.filter((entry) => entry.outcome === 'upgraded').map((entry) => entry.name)).toEqual(['a2', 'b1', 'b2', 'b3'])
  })

  it('after a halt, a second run leaves every instance alone (the release is rejected)', async () => {
    const fleet = new FakeFleet(sixInstances())
    fleet.host('a1').upgrade = 'rollback'
    await run(fleet)
    const second = await run(fleet)
    expect(second).toMatchObject({exitCode: 10, outcome: 'halted'})
    for (const name of ['b1', 'b2', 'b3']) expect(fleet.host(name).digest).toBe(OLD)
  })

  it('never gives a wave a digest the canary did not judge (the channel moved)', async () => {
    const fleet = new FakeFleet(sixInstances())
    fleet.onUpgrade = (name) => {
      if (name === 'c1') fleet.channelDigest = `sha256:${'c'.repeat(64)}`
    }

    const result = await run(fleet)
    expect(result).toMatchObject({exitCode: 75, outcome: 'incomplete'})
    expect(fleet.upgradedNames()).toEqual(['c1'])
    expect(result.instances.filter((entry) => entry.outcome === 'channel-moved')).toHaveLength(5)
  })

  it('soaks the canary, checking health and smoke; a canary that fails the soak is rolled back and the digest rejected', async () => {
    const fleet = new FakeFleet(sixInstances('soak: 10m\n  checkEvery: 1m'))
    let clock = Date.parse('2026-06-01T00:00:00Z')
    const sleeps: number[] = []
    const sleep = async (ms: number) => {
      sleeps.push(ms)
      clock += ms
      if (sleeps.length === 3) fleet.host('c1').healthy = false
    }

    fleet.onUpgrade = () => undefined
    const result = await run(fleet, {now: () => clock, sleep})
    expect(sleeps).toEqual([60_000, 60_000, 60_000])
    expect(result).toMatchObject({exitCode: 10, haltedBy: {name: 'c1', outcome: 'rolled-back'}, outcome: 'halted'})
    expect(fleet.upgradedNames()).toEqual(['c1'])
    expect(fleet.host('c1').digest).toBe(OLD)
    expect(fleet.host('b3').rejected).toContain(NEW)
    // The release is retracted as when it fails the canary's own upgrade.
    expect(fleet.rollbackWords).toEqual([['rollback', '--quiet', '--retract']])
    expect(result).toMatchObject({digest: NEW, retraction: {channelMovedTo: OLD, deprecatedTag: 'deprecated-2026.07.2', digest: NEW}})
    expect(result.message).toContain('stable-2026.07.2 tagged deprecated-2026.07.2 in the registry, stable moved back')
  })

  it('a canary that fails the soak is rolled back without retraction when it is turned off, and by an agnes too old to retract', async () => {
    const failingSoak = (fleet: FakeFleet) => async () => void (fleet.host('c1').healthy = false)
    const off = new FakeFleet(sixInstances('soak: 10m\n  checkEvery: 1m\n  retractOnFailure: false'))
    off.host('c1').healthy = false
    const result = await run(off, {sleep: failingSoak(off)})
    expect(result).toMatchObject({exitCode: 10, haltedBy: {name: 'c1', outcome: 'rolled-back'}})
    expect(result.retraction).toBeUndefined()
    expect(off.rollbackWords).toEqual([['rollback', '--quiet']])

    const old = new FakeFleet(sixInstances('soak: 10m\n  checkEvery: 1m'))
    old.host('c1').rollbackWithoutRetract = true
    old.host('c1').healthy = false
    const fallback = await run(old, {sleep: failingSoak(old)})
    expect(old.rollbackWords).toEqual([['rollback', '--quiet', '--retract'], ['rollback', '--quiet']])
    expect(old.host('c1').digest).toBe(OLD)
    expect(fallback).toMatchObject({exitCode: 10, retraction: {error: expect.stringContaining('rollback --retract')}})
    expect(fallback.message).toContain('retracting it in the registry failed')
  })

  it('a canary that left the release during the soak stops the rollout, and what it runs now is neither rolled back nor retracted', async () => {
    const fleet = new FakeFleet(sixInstances('soak: 10m\n  checkEvery: 1m'))
    // Rolled back by hand (or its cron followed a channel the publisher moved back).
    const result = await run(fleet, {sleep: async () => void (fleet.host('c1').digest = OLD)})
    expect(result).toMatchObject({exitCode: 10, haltedBy: {name: 'c1', outcome: 'rolled-back', reason: expect.stringContaining('not the release')}, outcome: 'halted'})
    expect(result.retraction).toBeUndefined()
    expect(fleet.rollbackWords).toEqual([])
    expect(fleet.upgradedNames()).toEqual(['c1'])
  })

  it('a canary whose lock another run holds is asked again, not reported as a failed rollback', async () => {
    const fleet = new FakeFleet(sixInstances('soak: 10m\n  checkEvery: 1m'))
    let clock = Date.parse('2026-06-01T00:00:00Z')
    fleet.onUpgrade = () => {
      // A backup stops the canary's app during the soak and holds its lock once.
      fleet.host('c1').healthy = false
      fleet.host('c1').rollbackLocked = 1
    }

    const result = await run(fleet, {now: () => clock, sleep: async (ms) => void ((clock += ms), (fleet.host('c1').healthy = true))})
    expect(result).toMatchObject({exitCode: 0, outcome: 'completed'})
    expect(fleet.rollbackWords).toEqual([['rollback', '--quiet', '--retract']])
    expect(fleet.host('c1').digest).toBe(NEW)
  })

  it('a canary that cannot be judged for another soak time after the soak leaves the waves alone (exit 8)', async () => {
    const fleet = new FakeFleet(sixInstances('soak: 10m\n  checkEvery: 5m'))
    let clock = Date.parse('2026-06-01T00:00:00Z')
    fleet.onUpgrade = () => undefined
    const result = await run(fleet, {now: () => clock, sleep: async (ms) => void ((clock += ms), (fleet.host('c1').reachable = false))})
    expect(result).toMatchObject({exitCode: 8, outcome: 'incomplete'})
    expect(result.instances.find((entry) => entry.name === 'c1')).toMatchObject({outcome: 'unreachable', message: expect.stringContaining('could not be judged')})
    expect(fleet.upgradedNames()).toEqual(['c1'])
    expect(clock - Date.parse('2026-06-01T00:00:00Z')).toBeGreaterThanOrEqual(20 * 60_000)
  })

  it('waits the pause between waves that changed something', async () => {
    const fleet = new FakeFleet(sixInstances('soak: 0\n  pause: 2m'))
    const sleeps: number[] = []
    await run(fleet, {sleep: async (ms) => void sleeps.push(ms)})
    expect(sleeps).toEqual([120_000, 120_000])
  })
})

describe('decisions', () => {
  it('maps the fleet outcome to the exit-code contract', () => {
    expect(fleetExitCode('completed', ['upgraded'])).toBe(0)
    expect(fleetExitCode('halted', ['rolled-back'], 'rolled-back')).toBe(10)
    expect(fleetExitCode('halted', ['failed'], 'failed')).toBe(11)
    expect(fleetExitCode('incomplete', ['deferred', 'upgraded'])).toBe(75)
    expect(fleetExitCode('incomplete', ['deferred', 'unreachable'])).toBe(8)
    expect(fleetExitCode('interrupted', [])).toBe(130)
  })

  it('counts the soak from when the canary took the release, so a resumed run waits only the rest', () => {
    const now = Date.parse('2026-06-01T00:10:00Z')
    expect(soakRemainingMs(900_000, '2026-06-01T00:00:00Z', now)).toBe(300_000)
    expect(soakRemainingMs(900_000, '2026-05-01T00:00:00Z', now)).toBe(0)
    expect(soakRemainingMs(900_000, undefined, now)).toBe(900_000)
  })
})

describe('readUpgradeAnswer', () => {
  it('reads a newer remote outcome it does not know as waiting, never as done or failed', () => {
    expect(readUpgradeAnswer({envelope: {ok: true, result: {message: 'eligible at 10:00', outcome: 'soaking'}}, exitCode: 0})).toMatchObject({outcome: 'waiting'})
    expect(readUpgradeAnswer({envelope: {error: {code: 'E_ROLLED_BACK', exitCode: 10, message: 'x'}, ok: false, result: {outcome: 'rolled-back', to: {digest: NEW}}}, exitCode: 10})).toMatchObject({digest: NEW, outcome: 'rolled-back'})
    expect(readUpgradeAnswer({exitCode: 8, problem: 'ssh failed'})).toMatchObject({outcome: 'unreachable'})
  })
})

describe('a pinned canary', () => {
  it('judges nothing, so no wave is started (exit 75)', async () => {
    const fleet = new FakeFleet(sixInstances())
    const original = fleet.agnes.bind(fleet)
    fleet.agnes = async (instance, args) => (instance.name === 'c1' && args[0] === 'upgrade' ? {envelope: {ok: true, result: {message: 'pinned', outcome: 'pinned'}}, exitCode: 0} : original(instance, args))
    const result = await fleetUpgrade(fleet.inventory, fleet, {channel: 'stable', reporter: silentReporter})
    expect(result).toMatchObject({exitCode: 75, outcome: 'incomplete'})
    expect(fleet.upgradedNames()).toEqual([])
  })
})
