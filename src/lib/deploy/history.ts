import {appendFile, mkdir} from 'node:fs/promises'
import {dirname} from 'node:path'

import {InstancePaths} from '../instance/paths.js'
import {assertSafePath} from '../instance/safe-path.js'
import {readTextIfExists} from '../instance/state.js'
import {redact} from '../secrets/redact.js'

export interface DeploymentRef {
  digest?: string
  version?: string
  tag?: string
}

/** One line of `.agnes/history.jsonl`. Never holds command output: it could carry secrets. */
export interface HistoryEntry {
  time: string
  action: 'up' | 'upgrade' | 'pin' | 'unpin' | 'rollback' | 'recover' | 'retract' | 'reject'
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

const ACTIONS = new Set<string>(['up', 'upgrade', 'pin', 'unpin', 'rollback', 'recover', 'retract', 'reject'])

function isDeploymentRef(value: unknown): boolean {
  if (value === undefined) return true
  if (typeof value !== 'object' || value === null) return false
  return ['digest', 'version', 'tag'].every((key) => ['undefined', 'string'].includes(typeof (value as Record<string, unknown>)[key]))
}

/** A line is an entry only when it has the shape agnes writes; anything else is junk, never a deployment. */
function isHistoryEntry(value: unknown): value is HistoryEntry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const entry = value as Record<string, unknown>
  return (
    typeof entry.time === 'string' &&
    typeof entry.action === 'string' &&
    ACTIONS.has(entry.action) &&
    typeof entry.outcome === 'string' &&
    typeof entry.durationMs === 'number' &&
    ['undefined', 'string'].includes(typeof entry.reason) &&
    isDeploymentRef(entry.from) &&
    isDeploymentRef(entry.to)
  )
}

export interface HistoryRead {
  /** Oldest first. */
  entries: HistoryEntry[]
  /** 1-based numbers of the lines that were not entries (torn by a crash, or edited by hand). */
  skippedLines: number[]
}

/** Reads the log, skipping every line that is not an entry (and saying which). */
export async function readHistoryReport(paths: InstancePaths): Promise<HistoryRead> {
  const text = (await readTextIfExists(paths.historyFile)) ?? ''
  const entries: HistoryEntry[] = []
  const skippedLines: number[] = []
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      value = undefined
    }

    if (isHistoryEntry(value)) entries.push(value)
    else skippedLines.push(index + 1)
  }

  return {entries, skippedLines}
}

/** Entries oldest first; a torn last line (a crash mid-append) or a malformed one is skipped. */
export async function readHistory(paths: InstancePaths): Promise<HistoryEntry[]> {
  return (await readHistoryReport(paths)).entries
}
