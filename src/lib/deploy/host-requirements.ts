/** What the host must offer an instance; `agnes up` (preflight.ts) and `agnes doctor` (src/lib/doctor/findings.ts) both judge by these. */

/** Free space an image pull needs under the engine's root directory. */
export const MIN_FREE_DISK = 2 * 1024 ** 3

/** Bytes of a Docker memory size such as 4g or 512m. */
export function memoryBytes(value: string | undefined): number | undefined {
  const match = /^(\d+(?:\.\d+)?)([kmg])b?$/i.exec(value ?? '')
  if (!match) return undefined
  return Number(match[1]) * {g: 1024 ** 3, k: 1024, m: 1024 ** 2}[match[2].toLowerCase() as 'g' | 'k' | 'm']
}
