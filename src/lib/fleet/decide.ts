import type {Retraction} from '../deploy/retract.js'
import type {RemoteAnswer} from './transport.js'

/** What one remote `agnes upgrade --json` did, read from its exit code and envelope. */
export type InstanceOutcome = 'upgraded' | 'up-to-date' | 'pinned' | 'deferred' | 'locked' | 'rolled-back' | 'failed' | 'unreachable' | 'error' | 'channel-moved' | 'waiting' | 'not-started'

export interface UpgradeAnswer {
  outcome: InstanceOutcome
  exitCode: number
  /** The digest the instance's channel pointed at (the release), when it said. */
  digest?: string
  message: string
  /** The canary's `--retract-on-failure`: what it changed in the registry after its rollback. */
  retraction?: Retraction | {error: string}
}

interface UpgradeResultShape {
  outcome?: string
  message?: string
  to?: {digest?: string}
  retraction?: UpgradeAnswer['retraction']
}

export function readUpgradeAnswer(answer: RemoteAnswer): UpgradeAnswer {
  const {envelope, exitCode} = answer
  if (!envelope) return {exitCode, message: answer.problem ?? `exit ${exitCode}`, outcome: exitCode === 8 ? 'unreachable' : 'error'}
  // A failed upgrade keeps its result next to the error (src/cli-errors.ts).
  const result = envelope.result as UpgradeResultShape | undefined
  const digest = result?.to?.digest
  const message = envelope.ok ? (result?.message ?? '') : (envelope.error?.message ?? '')
  const known = ['upgraded', 'up-to-date', 'pinned', 'deferred', 'locked', 'rolled-back', 'failed']
  if (result?.outcome && known.includes(result.outcome)) return {digest, exitCode, message, outcome: result.outcome as InstanceOutcome, ...(result.retraction ? {retraction: result.retraction} : {})}
  if (exitCode === 10) return {digest, exitCode, message, outcome: 'rolled-back'}
  if (exitCode === 11) return {digest, exitCode, message, outcome: 'failed'}
  if (exitCode === 75) return {digest, exitCode, message, outcome: 'deferred'}
  // An outcome this agnes does not know, from a newer remote (its own soak or window): not done yet, no failure.
  if (exitCode === 0 && result?.outcome) return {digest, exitCode, message: `${result.outcome}: ${message}`, outcome: 'waiting'}
  return {digest, exitCode, message, outcome: exitCode === 8 ? 'unreachable' : 'error'}
}

/** One line on what the canary's retraction did in the registry. */
export function describeRetraction(channel: string, retraction: NonNullable<UpgradeAnswer['retraction']>): string {
  if ('error' in retraction) return `retracting it in the registry failed (${retraction.error}); run \`agnes release retract <version>\` where the push credentials are`
  const moved = retraction.channelMovedTo ? `${channel} moved back to ${retraction.channelMovedTo.slice(0, 19)}…` : `${channel} no longer pointed at it`
  return `${retraction.version} tagged ${retraction.deprecatedTag} in the registry, ${moved}`
}

/** Outcomes that stop the rollout: the release failed on this instance. */
export function haltsRollout(outcome: InstanceOutcome): boolean {
  return outcome === 'rolled-back' || outcome === 'failed'
}

/** Outcomes after which the instance runs the release (or deliberately does not: a pin). */
export function isDone(outcome: InstanceOutcome): boolean {
  return outcome === 'upgraded' || outcome === 'up-to-date' || outcome === 'pinned'
}

export type FleetOutcome = 'completed' | 'halted' | 'incomplete' | 'interrupted'

/**
 * The fleet's exit code: interrupted 130; halted by a rollback 10, by an instance that needs a person 11;
 * incomplete (deferred, locked, the channel moved) 75, or 8 when an instance could not be reached or read.
 */
export function fleetExitCode(outcome: FleetOutcome, outcomes: InstanceOutcome[], haltedBy?: InstanceOutcome): number {
  if (outcome === 'interrupted') return 130
  if (outcome === 'halted') return haltedBy === 'failed' ? 11 : 10
  if (outcome === 'incomplete') return outcomes.some((each) => each === 'unreachable' || each === 'error') ? 8 : 75
  return 0
}

/** Soak time still to wait, from when the canary started running the release. */
export function soakRemainingMs(soakMs: number, deployedAt: string | undefined, now: number): number {
  const since = deployedAt ? Date.parse(deployedAt) : Number.NaN
  if (Number.isNaN(since)) return soakMs
  return Math.max(0, Math.min(soakMs, since + soakMs - now))
}
