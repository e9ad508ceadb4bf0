const UNITS: Record<string, number> = {h: 3_600_000, m: 60_000, ms: 1, s: 1000}

/** Parses `90s`, `10m`, `1h30m` or `0` into milliseconds; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const value = text.trim()
  if (value === '0') return 0
  if (!/^(\d+(ms|h|m|s))+$/.test(value)) return undefined
  let total = 0
  for (const [, amount, unit] of value.matchAll(/(\d+)(ms|h|m|s)/g)) total += Number(amount) * UNITS[unit]
  return total
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`
  return `${Math.round(ms / 1000)}s`
}
