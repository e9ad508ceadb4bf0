import type {StatusResult} from '../deploy/status.js'
import {Reporter} from '../ui/reporter.js'
import {FleetOutcome, InstanceOutcome, UpgradeAnswer, describeRetraction, fleetExitCode, haltsRollout, isDone, readUpgradeAnswer, soakRemainingMs} from './decide.js'
import {formatDuration} from './duration.js'
import {CANARY, FleetInstance, Inventory, describeTarget} from './inventory.js'
import {inPool} from './pool.js'
import {checkRemoteAgnes} from './status.js'
import {Transport} from './transport.js'

export interface InstanceReport extends UpgradeAnswer {
  name: string
  group: string
  target: string
}

export interface FleetUpgradeResult {
  outcome: FleetOutcome
  exitCode: number
  channel: string
  /** The release: the digest the canary took. */
  digest?: string
  groups: Array<{name: string; instances: string[]}>
  instances: InstanceReport[]
  /** The instance that stopped the rollout, and why. */
  haltedBy?: {name: string; outcome: InstanceOutcome; reason: string}
  /** Where the failed digest was marked rejected (halt policy reject-fleet). */
  rejectedOn: Array<{name: string; ok: boolean; message: string}>
  /** What the canary that rolled back changed in the registry (`upgrade --retract-on-failure`). */
  retraction?: UpgradeAnswer['retraction']
  message: string
}

export interface RolloutOptions {
  channel: string
  reporter: Reporter
  /** Passed to every instance's `agnes upgrade --health-timeout`; unset: each instance's own default. */
  healthTimeoutSeconds?: number
  /** Overrides the inventory's `rollout.retractOnFailure` for the canary group. */
  retractOnFailure?: boolean
  signal?: AbortSignal
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
  now?: () => number
}

async function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }

    signal?.addEventListener('abort', done, {once: true})
  })
}

/**
 * The canary's verdict during the soak: healthy and running the release, and a smoke test that passes. A
 * host that cannot be reached is asked again at the next check, not judged. A canary that runs another
 * digest has left the release (rolled back by hand, or its cron followed a channel the publisher moved
 * back): the rollout stops, but what it runs now is not rolled back or retracted.
 */
async function canaryHolds(transport: Transport, canary: FleetInstance, digest: string): Promise<{holds: boolean | undefined; reason: string; left?: boolean}> {
  const status = await transport.agnes(canary, ['status'])
  if (!status.envelope) return {holds: undefined, reason: status.problem ?? 'no answer'}
  const result = status.envelope.result as StatusResult | undefined
  if (result?.running?.digest && result.running.digest !== digest) return {holds: false, left: true, reason: `runs ${result.running.digest.slice(0, 19)}…, not the release, any more`}
  if (!status.envelope.ok || !result?.healthy) return {holds: false, reason: 'not healthy during the soak'}
  const smoke = await transport.agnes(canary, ['smoke', '--settle', '0', '--no-sync'])
  if (!smoke.envelope) return {holds: undefined, reason: smoke.problem ?? 'no answer'}
  return smoke.envelope.ok ? {holds: true, reason: ''} : {holds: false, reason: `smoke failed during the soak: ${smoke.envelope.error?.message ?? ''}`}
}

/**
 * `agnes fleet upgrade`: the canary group, the soak while it holds, then the waves in order with a pause
 * between them and at most `parallel` in flight. The first instance that rolls back or fails stops the
 * rollout and (halt policy reject-fleet) the digest is rejected on every instance. Instances already up to
 * date answer at once, so a second run resumes where the first stopped.
 */
/**
 * The remote `agnes upgrade` words. The canary takes the release at once (`--min-age 0`: the fleet's soak
 * follows it) and, by default, retracts a release it rolls back, so the channel never keeps a build that
 * failed there.
 */
function upgradeWords(instance: FleetInstance, inventory: Inventory, options: Pick<RolloutOptions, 'channel' | 'healthTimeoutSeconds' | 'retractOnFailure'>): string[] {
  const words = ['upgrade', '--channel', options.channel, '--quiet']
  if (options.healthTimeoutSeconds !== undefined) words.push('--health-timeout', String(options.healthTimeoutSeconds))
  if (instance.group !== CANARY) return words
  words.push('--min-age', '0')
  if (options.retractOnFailure ?? inventory.rollout.retractOnFailure) words.push('--retract-on-failure')
  return words
}

export async function fleetUpgrade(inventory: Inventory, transport: Transport, options: RolloutOptions): Promise<FleetUpgradeResult> {
  const {channel, reporter, signal} = options
  const sleep = options.sleep ?? abortableSleep
  const now = options.now ?? Date.now
  const {rollout} = inventory
  const reports: InstanceReport[] = []
  const stop = new AbortController()
  const halting = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal
  let digest: string | undefined
  let haltedBy: FleetUpgradeResult['haltedBy']
  const report = (instance: FleetInstance, answer: UpgradeAnswer): InstanceReport => {
    const entry = {...answer, group: instance.group || '-', name: instance.name, target: describeTarget(instance.target)}
    const earlier = reports.findIndex((each) => each.name === entry.name)
    if (earlier === -1) reports.push(entry)
    else reports[earlier] = entry
    reporter.progress(`${instance.name}: ${answer.outcome}${answer.message ? ` — ${answer.message}` : ''}`)
    if (haltsRollout(answer.outcome) && !haltedBy) {
      haltedBy = {name: instance.name, outcome: answer.outcome, reason: answer.message}
      digest ??= answer.digest
      stop.abort()
    }

    return entry
  }

  const upgradeOne = async (instance: FleetInstance): Promise<void> => {
    const agnes = await checkRemoteAgnes(transport, instance)
    if (agnes.problem) return void report(instance, {exitCode: 8, message: agnes.problem, outcome: 'unreachable'})
    if (digest && instance.group !== CANARY) {
      // The channel may have moved since the canary took the release: never give a wave an unsoaked digest.
      const check = readUpgradeAnswer(await transport.agnes(instance, ['upgrade', '--check', '--channel', channel]))
      if (check.digest && check.digest !== digest && check.outcome !== 'pinned') {
        return void report(instance, {...check, exitCode: 75, message: `${channel} now points at ${check.digest.slice(0, 19)}…, not the release the canary judged; run again to roll that one out`, outcome: 'channel-moved'})
      }
    }

    reporter.progress(`${instance.name}: upgrading (${describeTarget(instance.target)} ${instance.dir})…`)
    report(instance, readUpgradeAnswer(await transport.agnes(instance, upgradeWords(instance, inventory, options))))
  }

  let previousChanged = false
  for (const [index, group] of inventory.groups.entries()) {
    if (halting.aborted) break
    if (index > 0 && previousChanged && rollout.pauseMs > 0) {
      reporter.progress(`Pausing ${formatDuration(rollout.pauseMs)} before ${group.name}…`)
      await sleep(rollout.pauseMs, halting)
      if (halting.aborted) break
    }

    reporter.progress(`Group ${group.name}: ${group.instances.map((instance) => instance.name).join(', ')}`)
    const before = reports.length
    await inPool(group.instances, rollout.parallel, upgradeOne, halting)
    const mine = reports.slice(before)
    previousChanged = mine.some((entry) => entry.outcome === 'upgraded')
    if (group.name !== CANARY) continue
    const judged = mine.filter((entry) => entry.outcome !== 'pinned' && entry.digest)
    digest ??= judged[0]?.digest
    if (mine.some((entry) => !isDone(entry.outcome))) break
    if (!digest) {
      reporter.warn('every canary is pinned, so none judged the release: the waves are left alone. Unpin a canary (`agnes pin --channel …`).')
      break
    }

    if (digest && index < inventory.groups.length - 1 && !halting.aborted) await soak(group.instances.filter((instance) => judged.some((entry) => entry.name === instance.name)))
  }

  async function soak(canaries: FleetInstance[]): Promise<void> {
    if (!digest || canaries.length === 0) return
    const first = (await transport.agnes(canaries[0], ['status'])).envelope?.result as StatusResult | undefined
    if (first?.rejected.includes(digest)) {
      // A second run after a halt: the canary stays on the version before and the waves must not move.
      haltedBy = {name: canaries[0].name, outcome: 'rolled-back', reason: `${channel} still points at ${digest.slice(0, 19)}…, which was rejected`}
      stop.abort()
      return
    }

    if (rollout.soakMs === 0) return
    const recorded = first?.recorded
    const deadline = now() + soakRemainingMs(rollout.soakMs, recorded?.digest === digest ? recorded.deployedAt : undefined, now())
    reporter.progress(`Soaking the canary until ${new Date(deadline).toISOString()} (checks every ${formatDuration(rollout.checkEveryMs)})…`)
    while (!halting.aborted) {
      // The soak ends only after a round in which every canary held; one not judged for another soak time stops the rollout.
      let unjudged: {canary: FleetInstance; reason: string} | undefined
      for (const canary of canaries) {
        const {holds, left, reason} = await canaryHolds(transport, canary, digest)
        if (holds === false && left) {
          report(canary, {digest, exitCode: 10, message: `${reason}; left as it is`, outcome: 'rolled-back'})
          return
        }

        if (holds === false) {
          const rollback = await rollBackCanary(canary)
          if (rollback.exitCode === 75) {
            // Another run (a backup, say) holds the canary's lock, which may be why it looked unwell: ask again.
            reporter.warn(`${canary.name}: ${reason}, but another agnes run holds it (${rollback.message}); checking again`)
            unjudged = {canary, reason: `${reason}, and another agnes run holds it`}
            continue
          }

          const back = rollback.exitCode === 0 ? 'rolled back' : `the rollback failed too (${rollback.message})`
          report(canary, {digest, exitCode: rollback.exitCode === 0 ? 10 : 11, message: `${reason}; ${back}`, outcome: rollback.exitCode === 0 ? 'rolled-back' : 'failed', ...(rollback.retraction ? {retraction: rollback.retraction} : {})})
          return
        }

        if (holds === undefined) {
          reporter.warn(`${canary.name}: could not be checked during the soak (${reason}); asking again`)
          unjudged = {canary, reason}
        }
      }

      if (now() >= deadline && !unjudged) return
      if (unjudged && now() >= deadline + rollout.soakMs) {
        report(unjudged.canary, {digest, exitCode: 8, message: `could not be judged at the end of the soak (${unjudged.reason}); the waves were left alone`, outcome: 'unreachable'})
        stop.abort()
        return
      }

      await sleep(now() >= deadline ? rollout.checkEveryMs : Math.min(rollout.checkEveryMs, deadline - now()), halting)
    }
  }

  /**
   * A canary that stops holding during the soak goes back to the version before; with retraction on, its
   * `rollback --retract` also deprecates the release in the registry, as `upgrade --retract-on-failure` does for
   * a release that fails its own upgrade. An agnes there too old for --retract (usage error) still rolls back.
   */
  async function rollBackCanary(canary: FleetInstance): Promise<UpgradeAnswer> {
    if (!(options.retractOnFailure ?? rollout.retractOnFailure)) return readUpgradeAnswer(await transport.agnes(canary, ['rollback', '--quiet']))
    const retracting = readUpgradeAnswer(await transport.agnes(canary, ['rollback', '--quiet', '--retract']))
    if (retracting.exitCode !== 2) return retracting
    const plain = readUpgradeAnswer(await transport.agnes(canary, ['rollback', '--quiet']))
    return {...plain, retraction: {error: `the agnes on ${canary.name} does not know \`rollback --retract\``}}
  }

  const rejectedOn: FleetUpgradeResult['rejectedOn'] = []
  if (haltedBy && digest && rollout.halt === 'reject-fleet') {
    reporter.progress(`Rejecting ${digest.slice(0, 19)}… on every instance…`)
    const reason = `failed on ${haltedBy.name} during agnes fleet upgrade`
    const answers = await inPool(inventory.instances, Math.max(rollout.parallel, 4), (instance) => transport.agnes(instance, ['reject', digest as string, '--reason', reason]))
    for (const {item, value} of answers) {
      const message = value.envelope?.ok ? ((value.envelope.result as {message?: string}).message ?? '') : (value.problem ?? value.envelope?.error?.message ?? `exit ${value.exitCode}`)
      rejectedOn.push({message, name: item.name, ok: value.envelope?.ok === true})
    }
  }

  const started = new Set(reports.map((entry) => entry.name))
  for (const instance of inventory.instances) {
    if (!started.has(instance.name)) reports.push({exitCode: 0, group: instance.group || '-', message: '', name: instance.name, outcome: 'not-started', target: describeTarget(instance.target)})
  }

  const outcomes = reports.map((entry) => entry.outcome)
  const outcome: FleetOutcome = haltedBy ? 'halted' : signal?.aborted ? 'interrupted' : outcomes.every((each) => isDone(each)) ? 'completed' : 'incomplete'
  const exitCode = fleetExitCode(outcome, outcomes, haltedBy?.outcome)
  const count = (name: InstanceOutcome) => outcomes.filter((each) => each === name).length
  const tally = `${count('upgraded')} upgraded, ${count('up-to-date')} up to date, ${count('pinned')} pinned, ${count('not-started')} not started`
  const message = {
    completed: `every instance runs the release (${tally})`,
    halted: `halted: ${haltedBy?.name} ${haltedBy?.outcome} (${haltedBy?.reason}); ${rejectedOn.length > 0 ? `${digest?.slice(0, 19)}… rejected on ${rejectedOn.filter((entry) => entry.ok).length} of ${rejectedOn.length} instances; ` : ''}${tally}`,
    incomplete: `incomplete: ${outcomes.length - outcomes.filter((each) => isDone(each)).length} instance(s) not done (${tally}); run again to resume`,
    interrupted: `interrupted: no new instance was started; those in flight finished (${tally}); run again to resume`,
  }[outcome]
  const groups = inventory.groups.map((group) => ({instances: group.instances.map((instance) => instance.name), name: group.name}))
  const retraction = reports.find((entry) => entry.name === haltedBy?.name)?.retraction
  return {channel, digest, exitCode, groups, haltedBy, instances: reports, message: retraction ? `${message}; ${describeRetraction(channel, retraction)}` : message, outcome, rejectedOn, ...(retraction ? {retraction} : {})}
}
