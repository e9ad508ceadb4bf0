/**
 * Warnings about the instance's own files (e.g. a key defined twice in .env), noticed wherever a file is
 * read, deep below the command. The running command routes them to its reporter (base-command.ts); each
 * distinct warning is given once per run, however often the file is read.
 */
let sink: ((message: string) => void) | undefined
const given = new Set<string>()

export function setFileWarningSink(next: ((message: string) => void) | undefined): void {
  sink = next
  given.clear()
}

export function warnAboutFile(message: string): void {
  if (given.has(message)) return
  given.add(message)
  sink?.(message)
}
