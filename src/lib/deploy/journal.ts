import {rm} from 'node:fs/promises'

import {writeFileAtomic} from '../fs-atomic.js'
import {InstancePaths} from '../instance/paths.js'
import {readTextIfExists} from '../instance/state.js'

export interface JournalDeployment {
  repository: string
  digest: string
  tag?: string
  version?: string
}

/**
 * `.agnes/journal.json`: written before the running version is stopped and removed only once the instance
 * is back in a healthy, recorded state. A run that finds it knows the previous run was killed mid-switch.
 */
export interface Journal {
  action: 'up' | 'upgrade' | 'pin' | 'unpin' | 'rollback'
  phase: 'stopping' | 'switching' | 'rolling-back' | 'rollback-failed'
  from: JournalDeployment
  to: JournalDeployment
  /** The state backup taken from the stopped old version, once taken. */
  backup?: string
  /** The schema version the old version reported before the switch, to tell whether it moved. */
  fromSchema?: number | string
  reason?: string
  /** Set once the target started and failed its gates: only then is it rejected (recovery keeps the verdict). */
  targetFailed?: boolean
  startedAt: string
  pid: number
}

export async function readJournal(paths: InstancePaths): Promise<Journal | undefined> {
  const text = await readTextIfExists(paths.journalFile)
  if (text === undefined) return undefined
  try {
    return JSON.parse(text) as Journal
  } catch {
    // A journal cut short by a crash while it was first written: the switch had not started yet.
    return undefined
  }
}

export async function writeJournal(paths: InstancePaths, journal: Journal): Promise<void> {
  await writeFileAtomic(paths.journalFile, JSON.stringify(journal, null, 2) + '\n', 0o600)
}

export async function clearJournal(paths: InstancePaths): Promise<void> {
  await rm(paths.journalFile, {force: true})
}
