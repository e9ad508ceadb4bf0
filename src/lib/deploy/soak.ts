import {InvalidInputError} from '../errors.js'
import {Channel} from '../image-registry/versions.js'
import {InstanceState} from '../instance/state.js'

const UNIT_MS: Record<string, number> = {d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000}

/** `90m`, `2h`, `1h30m`, `1d`, `0` (no soak): the `--min-age` syntax; anything else is exit 3. */
export function parseDuration(text: string, what = '--min-age'): number {
  const trimmed = text.trim()
  if (trimmed === '0') return 0
  if (!/^(\d+[dhms])+$/.test(trimmed)) {
    throw new InvalidInputError(`${what} "${text}" is not a duration`, {hint: 'Give a number with a unit (s, m, h, d), e.g. 30m, 2h, 1h30m or 1d; 0 turns the soak off.'})
  }

  let total = 0
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)([dhms])/g)) total += Number(amount) * UNIT_MS[unit]
  return total
}

/**
 * Records when this instance first saw `digest` at the head of `channel`: a head that moved (to any other
 * digest) restarts the clock. Returns whether the record changed (and must be written).
 */
export function noteChannelHead(state: InstanceState, channel: Channel, digest: string, now: Date): boolean {
  const seen = state.channelHead
  if (seen?.channel === channel && seen.digest === digest) return false
  state.channelHead = {channel, digest, firstSeenAt: now.toISOString()}
  return true
}

/** When the recorded head has been seen for `minAgeMs`; undefined when it already has (or there is no soak). */
export function soakingUntil(state: InstanceState, minAgeMs: number, now: Date): Date | undefined {
  if (minAgeMs <= 0 || !state.channelHead) return undefined
  const eligible = new Date(Date.parse(state.channelHead.firstSeenAt) + minAgeMs)
  return eligible.getTime() > now.getTime() ? eligible : undefined
}
