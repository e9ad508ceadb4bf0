import {Channel} from '../image-registry/versions.js'
import {Instance, writeState} from '../instance/state.js'
import {Reporter} from '../ui/reporter.js'
import {deprecatedAmong} from './deprecation.js'
import {DeploySession} from './session.js'
import {noteChannelHead, parseDuration, soakingUntil} from './soak.js'
import {UpgradeWindow, isInsideWindow, nextOpening, parseWindow} from './window.js'

/** The release gates an upgrade passes before it switches: window, publisher's deprecation, soak time. */
export interface GateOptions {
  /** `--min-age`; when undefined, AGNES_MIN_AGE in the instance's .env. */
  minAgeMs?: number
  /** `--window`; when undefined, AGNES_UPGRADE_WINDOW in the instance's .env. */
  window?: UpgradeWindow
  force: boolean
  check: boolean
  reporter: Reporter
  signal?: AbortSignal
  /** The clock; tests pass their own. */
  now?: () => Date
}

export type GateDecision =
  | {gate: 'open'; runningDeprecated?: string}
  | {gate: 'outside-window'; window: string; opensAt?: string}
  | {gate: 'soaking'; firstSeenAt: string; eligibleAt: string}
  | {gate: 'deprecated'; deprecatedTag: string}

/** The soak time and window for this instance: the flag (or its env twin) first, then the instance's .env. */
export function instanceGates(instance: Instance, options: Pick<GateOptions, 'minAgeMs' | 'window'>): {minAgeMs: number; window?: UpgradeWindow} {
  const minAge = instance.env.get('AGNES_MIN_AGE')
  const window = instance.env.get('AGNES_UPGRADE_WINDOW')
  return {
    minAgeMs: options.minAgeMs ?? (minAge ? parseDuration(minAge, 'AGNES_MIN_AGE in .env') : 0),
    window: options.window ?? (window ? parseWindow(window) : undefined),
  }
}

/**
 * Judges a channel digest that differs from the running one. The first-seen time is recorded on every such
 * tick (a head that moves restarts the clock); the deprecation check costs one tag listing plus a HEAD per
 * recent `deprecated-*` tag (deprecation.ts). A deprecated candidate is added to the rejected digests, so
 * later ticks skip it without asking; a deprecated running build skips the soak, to get off it at once.
 */
export async function judgeCandidate(session: DeploySession, target: {channel: Channel; digest: string; runningDigest?: string}, options: GateOptions): Promise<GateDecision> {
  const {state, paths, repository} = {...session.instance, repository: session.instance.state.repository}
  const now = options.now?.() ?? new Date()
  const {minAgeMs, window} = instanceGates(session.instance, options)
  if (noteChannelHead(state, target.channel, target.digest, now) && !options.check) await writeState(paths, state)
  if (window && !isInsideWindow(window, now)) return {gate: 'outside-window', opensAt: nextOpening(window, now)?.toISOString(), window: window.text}

  const digests = [target.digest, ...(target.runningDigest ? [target.runningDigest] : [])]
  const deprecated = await deprecatedAmong(session.registry(), repository, digests, options.signal)
  const candidateTag = deprecated.get(target.digest)
  if (candidateTag && !options.force) {
    if (!options.check && !state.rejected.includes(target.digest)) {
      state.rejected.push(target.digest)
      await writeState(paths, state)
    }

    return {deprecatedTag: candidateTag, gate: 'deprecated'}
  }

  if (candidateTag) options.reporter.warn(`${target.channel} points at ${target.digest.slice(0, 19)}…, which the publisher marked ${candidateTag}; deploying it anyway (--force).`)
  const runningDeprecated = target.runningDigest ? deprecated.get(target.runningDigest) : undefined
  if (runningDeprecated) {
    options.reporter.warn(`the running build was marked ${runningDeprecated} by the publisher; moving to the ${target.channel} head now, without the soak time.`)
    return {gate: 'open', runningDeprecated}
  }

  const eligible = soakingUntil(state, minAgeMs, now)
  if (eligible) return {eligibleAt: eligible.toISOString(), firstSeenAt: state.channelHead!.firstSeenAt, gate: 'soaking'}
  return {gate: 'open'}
}
