/**
 * A process-wide set of secret values. Everything the CLI prints (stdout, stderr, JSON, history, alerts)
 * passes through redact(), so a secret that reached an error message from a server or a subprocess is
 * still never shown.
 */
const secrets = new Set<string>()

/** Values shorter than this are too likely to occur by chance in normal text to be masked safely. */
const MIN_SECRET_LENGTH = 6

export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= MIN_SECRET_LENGTH) secrets.add(value)
}

export function redact(text: string): string {
  let out = text
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(secret)) out = out.split(secret).join('***')
  }
  // Bearer tokens in echoed headers, whatever their value.
  return out.replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/g, '$1***')
}

/** For tests only: forget every registered secret. */
export function clearSecrets(): void {
  secrets.clear()
}
