import {describeTarget, parseInventory, type FleetInstance, type Inventory} from '../../../src/lib/fleet/inventory.js'
import type {RemoteAnswer, Transport} from '../../../src/lib/fleet/transport.js'

export const OLD = `sha256:${'a'.repeat(64)}`
export const NEW = `sha256:${'b'.repeat(64)}`

export interface FakeHost {
  digest: string
  rejected: string[]
  /** How `upgrade` goes when the channel digest is new here. */
  upgrade: 'good' | 'rollback' | 'fail' | 'deferred'
  reachable: boolean
  agnesVersion: string
  healthy: boolean
  deployedAt: string
  /** An agnes from before `rollback --retract`: that flag is a usage error (exit 2). */
  rollbackWithoutRetract?: boolean
  /** This many rollbacks find the lock held by another run (exit 75). */
  rollbackLocked?: number
  /** False: the directory holds no agnes instance. */
  isInstance: boolean
}

/** A fleet of instances behind a fake transport: each answers like a remote `agnes … --json` would. */
export class FakeFleet implements Transport {
  readonly hosts = new Map<string, FakeHost>()
  readonly calls: string[] = []
  /** The words of each instance's last `agnes upgrade` (not --check). */
  readonly upgradeWords = new Map<string, string[]>()
  /** The words of each `agnes rollback`, in order. */
  readonly rollbackWords: string[][] = []
  channelDigest = NEW
  inFlight = 0
  maxInFlight = 0
  /** Called when an upgrade starts (before it answers). */
  onUpgrade?: (name: string) => void
  /** Targets (as describeTarget writes them) that ssh cannot reach. */
  readonly unreachableTargets = new Set<string>()
  /** Targets whose agnes predates `fleet host-status`. */
  readonly olderAgnes = new Set<string>()
  /** The instances whose host was asked `agnes --version`. */
  readonly versionAsked: string[] = []
  hostsInFlight = 0
  maxHostsInFlight = 0

  constructor(readonly inventory: Inventory) {
    for (const instance of inventory.instances) {
      this.hosts.set(instance.name, {agnesVersion: '0.1.0', deployedAt: '2026-01-01T00:00:00Z', digest: OLD, healthy: true, isInstance: true, reachable: true, rejected: [], upgrade: 'good'})
    }
  }

  host(name: string): FakeHost {
    return this.hosts.get(name)!
  }

  upgradedNames(): string[] {
    return this.calls.filter((call) => call.endsWith(' upgrade')).map((call) => call.split(' ')[0])
  }

  async version(instance: FleetInstance) {
    this.versionAsked.push(instance.name)
    const host = this.host(instance.name)
    return host.reachable && !this.unreachableTargets.has(describeTarget(instance.target)) ? {version: host.agnesVersion} : {problem: 'ssh to it failed: Connection refused'}
  }

  /** What `agnes status --json` answers for the instance. */
  statusOf(host: FakeHost): object {
    const lastHistory = {action: 'upgrade', durationMs: 1, outcome: 'upgraded', time: host.deployedAt, to: {digest: host.digest}}
    return {following: 'channel stable', healthy: host.healthy, journal: null, journalProblem: null, lastHistory, recorded: {deployedAt: host.deployedAt, digest: host.digest}, rejected: host.rejected, running: {digest: host.digest}}
  }

  /** Only `fleet host-status <dir>…`, as an agnes that knows it answers (or one that does not). */
  async agnesOnHost(instance: FleetInstance, args: string[]): Promise<RemoteAnswer> {
    const target = describeTarget(instance.target)
    this.calls.push(`${target} ${args.slice(0, 2).join(' ')}`)
    if (this.unreachableTargets.has(target)) return {exitCode: 8, problem: `ssh to ${target} failed: Connection refused`}
    if (this.olderAgnes.has(target)) return {envelope: {error: {code: 'E_USAGE', exitCode: 2, message: 'Unknown command fleet host-status'}, ok: false}, exitCode: 2}
    this.hostsInFlight++
    this.maxHostsInFlight = Math.max(this.maxHostsInFlight, this.hostsInFlight)
    await new Promise((resolve) => setTimeout(resolve, 5))
    this.hostsInFlight--
    const instances = args.slice(2).map((dir) => {
      const row = this.inventory.instances.find((each) => each.dir === dir && describeTarget(each.target) === target)
      const host = row && this.host(row.name)
      if (!host?.isInstance) return {dir, error: {code: 'E_INVALID', exitCode: 3, message: `${dir} is not an agnes instance (no .agnes/state.json)`}, ok: false}
      return {dir, ok: true, result: this.statusOf(host)}
    })
    return {envelope: {ok: true, result: {agnesVersion: this.host(instance.name).agnesVersion, instances}}, exitCode: 0}
  }

  async close() {}

  async agnes(instance: {name: string}, args: string[]): Promise<RemoteAnswer> {
    const host = this.host(instance.name)
    if (!host.reachable) return {exitCode: 8, problem: 'ssh failed'}
    const ok = (result: object): RemoteAnswer => ({envelope: {ok: true, result}, exitCode: 0})
    const fail = (exitCode: number, message: string, result?: object): RemoteAnswer => ({envelope: {error: {code: 'E', exitCode, message}, ok: false, result}, exitCode})
    const command = args[0] === 'upgrade' && args.includes('--check') ? 'check' : args[0]
    this.calls.push(`${instance.name} ${command}`)
    const to = {digest: this.channelDigest}
    switch (command) {
      case 'status': {
        return host.isInstance ? ok(this.statusOf(host)) : fail(3, `${instance.name} is not an agnes instance`)
      }

      case 'check': {
        return ok({message: '', outcome: host.digest === this.channelDigest ? 'up-to-date' : 'upgrade-available', to})
      }

      case 'upgrade': {
        this.upgradeWords.set(instance.name, args)
        if (host.digest === this.channelDigest || host.rejected.includes(this.channelDigest)) return ok({message: 'already', outcome: 'up-to-date', to})
        this.inFlight++
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
        this.onUpgrade?.(instance.name)
        await new Promise((resolve) => setTimeout(resolve, 5))
        this.inFlight--
        if (host.upgrade === 'deferred') return fail(75, 'a sync runs', {outcome: 'deferred', to})
        if (host.upgrade === 'rollback') {
          host.rejected.push(this.channelDigest)
          const retraction = args.includes('--retract-on-failure') ? {retraction: {channel: 'stable', channelHead: OLD, channelMovedTo: OLD, deprecatedTag: 'deprecated-2026.07.2', digest: this.channelDigest, version: 'stable-2026.07.2'}} : {}
          return fail(10, 'crashed; rolled back', {outcome: 'rolled-back', to, ...retraction})
        }

        if (host.upgrade === 'fail') return fail(11, 'crashed; rollback failed', {outcome: 'failed', to})
        host.digest = this.channelDigest
        host.deployedAt = new Date().toISOString()
        return ok({message: 'upgraded', outcome: 'upgraded', to})
      }

      case 'smoke': {
        return host.healthy ? ok({}) : fail(3, 'health failed')
      }

      case 'rollback': {
        this.rollbackWords.push(args)
        if (host.rollbackLocked) {
          host.rollbackLocked--
          return fail(75, 'locked by pid 7 (backup)', {outcome: 'locked'})
        }

        const retract = args.includes('--retract')
        if (retract && host.rollbackWithoutRetract) return fail(2, 'Nonexistent flag: --retract')
        const left = host.digest
        host.rejected.push(left)
        host.digest = OLD
        host.healthy = true
        const retraction = retract ? {retraction: {channel: 'stable', channelHead: OLD, channelMovedTo: OLD, deprecatedTag: 'deprecated-2026.07.2', digest: left, version: 'stable-2026.07.2'}} : {}
        return ok({message: 'rolled back', outcome: 'rolled-back', to: {digest: OLD}, ...retraction})
      }

      case 'reject': {
        if (!host.rejected.includes(args[1])) host.rejected.push(args[1])
        return ok({message: 'rejected'})
      }

      default: {
        return fail(2, `unknown ${command}`)
      }
    }
  }
}

export function sixInstances(rollout = 'soak: 0\n  parallel: 2'): Inventory {
  return parseInventory(
    `rollout:
  ${rollout}
waves: [w1, w2]
instances:
  - {name: c1, target: local, dir: /i/c1, group: canary}
  - {name: a1, target: local, dir: /i/a1, group: w1}
  - {name: a2, target: local, dir: /i/a2, group: w1}
  - {name: b1, target: local, dir: /i/b1, group: w2}
  - {name: b2, target: local, dir: /i/b2, group: w2}
  - {name: b3, target: local, dir: /i/b3, group: w2}
`,
    'fleet.yaml',
  )
}
