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

export type SwitchAction = 'up' | 'upgrade' | 'pin' | 'unpin' | 'rollback'

/** The commands that stop the app without changing its version (src/lib/backup/app-pause.ts): from and to are the same deployment. */
export type PauseAction = 'backup' | 'restore'

/**
 * `.agnes/journal.json`: written before the running version is stopped and removed only once the instance
 * is back in a healthy, recorded state. A run that finds it knows the previous run was killed mid-switch, or
 * while `backup`/`restore` had the app stopped (phases paused, restoring, restored).
 */
export interface Journal {
  action: SwitchAction | PauseAction
  phase: 'stopping' | 'switching' | 'rolling-back' | 'rollback-failed' | 'paused' | 'restoring' | 'restored'
  from: JournalDeployment
  to: JournalDeployment
  /** The state backup taken from the stopped old version, once taken; for a restore, the copy of the state it replaces. */
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

/** The journal of a switch between two versions (not of a pause by backup or restore). */
export type SwitchJournal = Journal & {action: SwitchAction}

export function isSwitchJournal(journal: Journal): journal is SwitchJournal {
  return journal.action !== 'backup' && journal.action !== 'restore'
}
