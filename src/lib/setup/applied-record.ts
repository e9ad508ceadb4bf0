import {createHash} from 'node:crypto'
import {join} from 'node:path'

import {ConfigureRequest} from '../api/agnes-api.js'
import {writeFileAtomic} from '../fs-atomic.js'
import {readTextIfExists} from '../instance/state.js'

/**
 * `.agnes/setup.json`: a fingerprint of the data-source settings agnes last applied to each URL of the
 * instance. The configure API does not say whether anything changed, so this is how a second identical
 * run knows to report `changed: false`. It holds hashes only, never a secret.
 */
interface AppliedRecord {
  configure: Record<string, {fingerprint: string; appliedAt: string}>
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

export function configureFingerprint(request: ConfigureRequest): string {
  const {confirm_connection_change: _confirm, keboola_token: token, ...rest} = request
  const canonical = Object.fromEntries(Object.entries({...rest, keboola_token: token === undefined ? undefined : sha256(token)}).sort(([a], [b]) => a.localeCompare(b)))
  return sha256(JSON.stringify(canonical))
}

function recordPath(agnesDir: string): string {
  return join(agnesDir, 'setup.json')
}

async function readRecord(agnesDir: string): Promise<AppliedRecord> {
  const text = await readTextIfExists(recordPath(agnesDir))
  if (text === undefined) return {configure: {}}
  try {
    const parsed = JSON.parse(text) as Partial<AppliedRecord>
    return {configure: parsed.configure ?? {}}
  } catch {
    // A damaged record only costs one `changed: true`; it is rewritten below.
    return {configure: {}}
  }
}

export async function lastAppliedFingerprint(agnesDir: string, baseUrl: string): Promise<string | undefined> {
  return (await readRecord(agnesDir)).configure[baseUrl]?.fingerprint
}

export async function recordApplied(agnesDir: string, baseUrl: string, fingerprint: string): Promise<void> {
  const record = await readRecord(agnesDir)
  record.configure[baseUrl] = {appliedAt: new Date().toISOString(), fingerprint}
  await writeFileAtomic(recordPath(agnesDir), JSON.stringify(record, null, 2) + '\n', 0o600)
}
