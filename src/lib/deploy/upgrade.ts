import {writeState} from '../instance/state.js'
import {Channel} from '../image-registry/versions.js'
import {deferWhileBusy} from './busy.js'
import {JournalDeployment} from './journal.js'
import {describe, throwIfFailed} from './outcome.js'
import {RecoveryOutcome} from './recover.js'
import {SessionOptions, withDeploySession} from './session.js'
import {switchVersion} from './switch.js'
import {GateOptions, instanceGates, judgeCandidate} from './gates.js'
import {Retraction} from './retract.js'
import {retractOnFailure} from './retract-on-failure.js'

export type UpgradeOutcome = 'up-to-date' | 'upgraded' | 'pinned' | 'deferred' | 'locked' | 'rolled-back' | 'failed' | 'upgrade-available' | 'soaking' | 'outside-window'

export interface UpgradeResult {
  outcome: UpgradeOutcome
  channel: Channel
  pin?: string
  check: boolean
  from?: JournalDeployment
  to?: JournalDeployment
  durationMs: number
  reason?: string
  /** Rolled back: whether the new version was rejected (false when it was never judged, e.g. the engine restarted). */
  rejected?: boolean
  recovered?: RecoveryOutcome
  /** How long the way back took, when the new version was rolled back. */
  rollbackMs?: number
  deferredSince?: string
  registryRequests?: number
  alert?: {delivered: boolean; error?: string}
  /** Soaking: when this instance first saw the channel digest, and when it may adopt it. */
  firstSeenAt?: string
  eligibleAt?: string
  /** Outside the window: the window and when it opens next. */
  window?: string
  opensAt?: string
  /** The publisher's `deprecated-*` tag of the channel digest (skipped) or of the build that was running (left). */
  deprecatedTag?: string
  /** With --retract-on-failure, after a rejected digest was rolled back: what was changed in the registry. */
  retraction?: Retraction | {error: string}
  message: string
}

export interface UpgradeOptions extends SessionOptions, Omit<GateOptions, 'reporter' | 'signal' | 'force' | 'check'> {
  /** Follow this channel from now on (a channel change is an upgrade like any other). */
  channel?: Channel
  force: boolean
  check: boolean
  maxDeferMs: number
  /** The canary: a rejected digest is tagged deprecated and the channel moved back (retract-on-failure.ts). */
  retractOnFailure?: boolean
}

/**
 * The cron path: follow the channel with health- and smoke-gated automatic rollback. A tick with nothing to
 * do asks the registry once and never opens the engine (docs/design.md#a-quiet-tick-is-cheap).
 */
export async function upgrade(options: UpgradeOptions): Promise<UpgradeResult> {
  const started = Date.now()
  return withDeploySession('upgrade', {...options, recover: !options.check}, async (session) => {
    const {instance} = session
    const {state, paths} = instance
    const base = {check: options.check, channel: options.channel ?? state.channel, pin: state.pin}
    const recovered = options.check ? undefined : await session.recover()
    if (state.pin) {
      return {...base, durationMs: Date.now() - started, message: `pinned to ${state.pin}; nothing to do. Run \`agnes pin --channel ${state.channel}\` to follow the channel again.`, outcome: 'pinned', recovered}
    }

    // A hand-broken AGNES_MIN_AGE or AGNES_UPGRADE_WINDOW in .env is exit 3 before the registry is asked.
    const gates = {...options, ...instanceGates(instance, options)}
    const channel = options.channel ?? state.channel
    const digest = await session.resolve(channel)
    const running = await session.deps.runningApp(instance)
    const runningDigest = running.digest ?? state.current?.digest
    const target: JournalDeployment = {digest, repository: state.repository, tag: channel}
    const common = {...base, channel, durationMs: 0, recovered, registryRequests: session.registryRequests(), to: target}
    if (!running.running) options.reporter.warn('the app container is not running; `agnes up` starts it.')
    const upToDate = async (message: string, channelChanged: boolean): Promise<UpgradeResult> => {
      // An idle tick ends a deferral: the next busy spell starts its own clock.
      if ((channelChanged || state.deferredSince !== undefined) && !options.check) {
        if (channelChanged) state.channel = channel
        delete state.deferredSince
        await writeState(paths, state)
      }

      return {...common, durationMs: Date.now() - started, message, outcome: 'up-to-date'}
    }

    if (digest === runningDigest) return upToDate(`already running ${channel} (${digest.slice(0, 19)}…).`, channel !== state.channel)

    if (state.rejected.includes(digest) && !options.force) {
      options.reporter.warn(`${channel} points at ${digest.slice(0, 19)}…, which failed and was rolled back before; skipping it (use --force to try again).`)
      return upToDate(`${channel} points at a rejected digest; staying on the current version.`, false)
    }

    const gate = await judgeCandidate(session, {channel, digest, runningDigest}, gates)
    const gated = {...common, durationMs: Date.now() - started, registryRequests: session.registryRequests()}
    if (gate.gate === 'outside-window') {
      return {...gated, message: `outside the upgrade window ${gate.window}${gate.opensAt ? `; it opens at ${gate.opensAt}` : ''}.`, opensAt: gate.opensAt, outcome: 'outside-window', window: gate.window}
    }

    if (gate.gate === 'soaking') {
      return {...gated, eligibleAt: gate.eligibleAt, firstSeenAt: gate.firstSeenAt, message: `${channel} (${digest.slice(0, 19)}…) first seen at ${gate.firstSeenAt}; it becomes eligible at ${gate.eligibleAt}.`, outcome: 'soaking'}
    }

    if (gate.gate === 'deprecated') {
      options.reporter.warn(`${channel} points at ${digest.slice(0, 19)}…, which the publisher marked ${gate.deprecatedTag}; skipping it (use --force to deploy it anyway).`)
      return {...gated, deprecatedTag: gate.deprecatedTag, message: `${channel} points at a deprecated build (${gate.deprecatedTag}); staying on the current version.`, outcome: 'up-to-date'}
    }

    if (options.check) {
      return {...common, durationMs: Date.now() - started, message: `would switch to ${channel} (${digest.slice(0, 19)}…).`, outcome: 'upgrade-available'}
    }

    const deferIfBusy = deferWhileBusy({
      deferredResult: (since, why) => ({...common, deferredSince: since, durationMs: Date.now() - started, message: `deferred: ${why}`, outcome: 'deferred'}),
      instance,
      maxDeferMs: options.maxDeferMs,
      reporter: options.reporter,
      signal: options.signal,
    })
    await deferIfBusy()
    let retraction: UpgradeResult['retraction']
    const outcome = await switchVersion(await session.context(), target, {
      action: 'upgrade',
      // A sync may have started during the pull: look again before anything stops.
      afterPull: deferIfBusy,
      alertWebhook: options.alertWebhook,
      allowPull: true,
      healthTimeoutMs: options.healthTimeoutMs,
      onSuccess(next) {
        next.channel = channel
      },
      smoke: options.smoke,
      ...(options.retractOnFailure ? {onRejected: retractOnFailure(session, channel, options.reporter, (outcome) => (retraction = outcome))} : {}),
    })
    const result: UpgradeResult = {
      ...common,
      alert: outcome.alert,
      durationMs: Date.now() - started,
      from: outcome.from,
      message: outcome.outcome === 'upgraded' ? `upgraded ${describe(outcome.from)} → ${describe(outcome.to)}.` : `${outcome.outcome}: ${outcome.reason}`,
      outcome: outcome.outcome,
      reason: outcome.reason,
      registryRequests: session.registryRequests(),
      ...(outcome.outcome === 'rolled-back' ? {rejected: outcome.rejected} : {}),
      rollbackMs: outcome.rollbackMs,
      to: outcome.to,
      ...(gate.runningDeprecated ? {deprecatedTag: gate.runningDeprecated} : {}),
      ...(retraction ? {retraction} : {}),
    }
    throwIfFailed(outcome, result)
    return result
  })
}
