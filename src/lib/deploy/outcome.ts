import {RollbackFailedError, RolledBackError} from '../errors.js'
import {redact} from '../secrets/redact.js'
import {InstanceState} from '../instance/state.js'
import {DeployContext} from './context.js'
import {JournalDeployment, SwitchAction} from './journal.js'

/** The vocabulary of a switch: its options and outcome, shared by the switch, the way back, recovery, up, upgrade, pin and rollback. */

export interface SmokeVerdict {
  passed: boolean
  failedStep?: string
  detail?: string
}

/** The post-health gate; `upgrade` passes the smoke library, tests and `--no-smoke` pass none. */
export type SmokeGate = (ctx: DeployContext) => Promise<SmokeVerdict>

export interface SwitchOptions {
  action: SwitchAction
  healthTimeoutMs: number
  smoke?: SmokeGate
  alertWebhook?: string
  /** When false the target must already be on this host (a rollback to an image the registry lost). */
  allowPull: boolean
  /**
   * A state backup the target wrote before it was left (rollback): restored when the target finds the
   * schema ahead of it (`db_schema: mismatch`), instead of failing.
   */
  restoreOnMismatch?: string
  /**
   * State that belongs to a successful switch (a pin, a channel, a rejection): applied and persisted with
   * the new deployment, before the journal is cleared, so nothing is written after it.
   */
  onSuccess?: (state: InstanceState) => void
  /** Runs after the pull, before anything is stopped: the last chance to back out (a sync started meanwhile). */
  afterPull?: () => Promise<void>
  /** Runs after a rejected target was rolled back, before the alert; what it returns is added to the alert. */
  onRejected?: (rejected: JournalDeployment, restored: JournalDeployment) => Promise<string | undefined>
}

export type SwitchOutcomeName = 'upgraded' | 'rolled-back' | 'failed'

export interface SwitchOutcome {
  outcome: SwitchOutcomeName
  from: JournalDeployment
  to: JournalDeployment
  durationMs: number
  /** Why the new version was rejected (never command output). */
  reason?: string
  /** Rolled back: whether the target was judged and rejected (false when the engine interrupted it, or Ctrl-C). */
  rejected?: boolean
  rollbackError?: string
  /** How long the way back took (stop, restore, start, health), when there was one. */
  rollbackMs?: number
  restoredBackup?: boolean
  backup?: string
  alert?: {delivered: boolean; error?: string}
}

/** The gates and alerting every switching command takes (src/flags/switch.ts builds them from flags). */
export interface CommonSwitchOptions {
  healthTimeoutMs: number
  smoke?: SmokeGate
  alertWebhook?: string
}

export function describe(deployment: JournalDeployment): string {
  return `${deployment.version ?? deployment.tag ?? 'unknown version'} (${deployment.digest.slice(0, 19)}…)`
}

/** A one-line reason for history and alerts: never the container log tail, which may hold secrets. */
export function shortReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return redact(message.split('; its last log lines')[0].split('\n')[0]).slice(0, 300)
}


/** Turns a failed switch into the outcome contract's exit codes (10 rolled back, 11 failed). */
export function throwIfFailed(outcome: SwitchOutcome, result: object): void {
  if (outcome.outcome === 'rolled-back') {
    const verdict = outcome.rejected === false ? 'could not be judged' : 'failed'
    throw new RolledBackError(`${describe(outcome.to)} ${verdict} (${outcome.reason}); rolled back to ${describe(outcome.from)} in ${((outcome.rollbackMs ?? 0) / 1000).toFixed(1)} s, which is running and healthy`, {
      hint:
        outcome.rejected === false
          ? 'It was not rejected: the next `agnes upgrade` tries it again. See `agnes history`.'
          : `That digest will not be applied again by \`agnes upgrade\` unless you pass --force. See \`agnes history\`.`,
      result,
    })
  }

  if (outcome.outcome === 'failed') {
    throw new RollbackFailedError(`${describe(outcome.to)} failed (${outcome.reason}) and the rollback to ${describe(outcome.from)} failed too: ${outcome.rollbackError}`, {
      hint: 'A person is needed: the journal is kept; see `agnes status`, `agnes logs app --tail 100`, then `agnes rollback`.',
      result,
    })
  }
}
