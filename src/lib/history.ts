import {appendFile, mkdir} from 'node:fs/promises'
import {dirname} from 'node:path'

import {InstancePaths} from './instance/paths.js'
import {assertSafePath} from './instance/safe-path.js'
import {readTextIfExists} from './instance/state.js'
import {redact} from './redact.js'

export interface DeploymentRef {
  digest?: string
  version?: string
  tag?: string
}

/** One line of `.agnes/history.jsonl`. Never holds command output: it could carry secrets. */
export interface HistoryEntry {
  time: string
  action: 'up' | 'upgrade' | 'pin' | 'unpin' | 'rollback' | 'recover'
  outcome: string
  from?: DeploymentRef
  to?: DeploymentRef
  durationMs: number
  reason?: string
}

export async function appendHistory(paths: InstancePaths, entry: HistoryEntry): Promise<void> {
  await assertSafePath(paths.historyFile)
  await mkdir(dirname(paths.historyFile), {recursive: true})
  const existing = await readTextIfExists(paths.historyFile)
  // After a crash mid-append the last line has no newline; start a fresh line so this entry survives.
  const separator = existing && !existing.endsWith('\n') ? '\n' : ''
  await appendFile(paths.historyFile, separator + redact(JSON.stringify(entry)) + '\n', {mode: 0o600})
}

/** Entries oldest first; a torn last line (a crash mid-append) is skipped. */
export async function readHistory(paths: InstancePaths): Promise<HistoryEntry[]> {
  const text = (await readTextIfExists(paths.historyFile)) ?? ''
  const entries: HistoryEntry[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    try {
      entries.push(JSON.parse(line) as HistoryEntry)
    } catch {
      // A line cut short by a crash; the rest of the log is still good.
    }
  }

  return entries
}
