import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {readHistory} from '../../../src/lib/deploy/history.js'
import {rejectDigest} from '../../../src/lib/fleet/reject.js'
import {instancePaths} from '../../../src/lib/instance/paths.js'
import {acquireLock} from '../../../src/lib/instance/lock-file.js'

const RUNNING = `sha256:${'1'.repeat(64)}`
const BAD = `sha256:${'2'.repeat(64)}`
let dir: string

const stateOf = () => JSON.parse(readFileSync(join(dir, '.agnes', 'state.json'), 'utf8')) as {rejected: string[]; current: {digest: string}}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agnes-reject-'))
  mkdirSync(join(dir, '.agnes'))
  const state = {channel: 'stable', createdAt: '2026-05-01T00:00:00Z', current: {deployedAt: '2026-05-01T00:00:00Z', digest: RUNNING, repository: 'r'}, knownGood: [], managedFiles: {}, project: 'p', rejected: [], repository: 'r', stateVersion: 1, tls: 'none'}
  writeFileSync(join(dir, '.agnes', 'state.json'), JSON.stringify(state))
  writeFileSync(join(dir, '.env'), 'AGNES_HTTP_PORT=8000\n', {mode: 0o600})
})

afterEach(() => rmSync(dir, {force: true, recursive: true}))

describe('rejectDigest', () => {
  it('adds the digest to the rejected list once, keeping what runs', async () => {
    expect(await rejectDigest(dir, BAD, 'crashed on the canary')).toMatchObject({changed: true, running: false})
    expect(await rejectDigest(dir, BAD)).toMatchObject({changed: false})
    expect(stateOf()).toMatchObject({current: {digest: RUNNING}, rejected: [BAD]})
  })

  it('records the rejection and its reason in history, once', async () => {
    await rejectDigest(dir, BAD, 'crashed on the canary')
    await rejectDigest(dir, BAD, 'again')
    const entries = (await readHistory(instancePaths(dir))).map(({action, outcome, reason, to}) => ({action, outcome, reason, to}))
    expect(entries).toEqual([{action: 'reject', outcome: 'rejected', reason: 'crashed on the canary', to: {digest: BAD}}])
    expect(stateOf().rejected).toEqual([BAD])
  })

  it('says so when the rejected digest is the one running', async () => {
    expect((await rejectDigest(dir, RUNNING)).message).toContain('agnes rollback')
  })

  it('refuses what is not a digest (exit 3) and a locked instance (exit 75), changing nothing', async () => {
    await expect(rejectDigest(dir, 'stable-2026.05.1')).rejects.toMatchObject({exitCode: 3})
    const lock = await acquireLock(join(dir, '.agnes', 'lock'), {command: 'upgrade'})
    try {
      await expect(rejectDigest(dir, BAD)).rejects.toMatchObject({exitCode: 75})
    } finally {
      await lock?.release()
    }

    expect(stateOf().rejected).toEqual([])
  })
})
