import {appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {appendHistory, type HistoryEntry, readHistory} from '../../../src/lib/deploy/history.js'
import {type InstancePaths, instancePaths} from '../../../src/lib/instance/paths.js'
import {clearSecrets, registerSecret} from '../../../src/lib/secrets/redact.js'

let dir: string
let paths: InstancePaths

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agnes-history-test-'))
  paths = instancePaths(dir)
})

afterEach(() => {
  clearSecrets()
  rmSync(dir, {force: true, recursive: true})
})

function entry(overrides: Partial<HistoryEntry> = {}): HistoryEntry {
  return {
    action: 'upgrade',
    durationMs: 1234,
    from: {digest: 'sha256:' + 'a'.repeat(64), tag: 'stable', version: 'stable-2026.04.2'},
    outcome: 'upgraded',
    time: '2026-04-03T10:00:00.000Z',
    to: {digest: 'sha256:' + 'b'.repeat(64), tag: 'stable', version: 'stable-2026.04.3'},
    ...overrides,
  }
}

describe('history', () => {
  it('reads nothing when there is no log yet', async () => {
    expect(await readHistory(paths)).toEqual([])
  })

  it('round-trips entries oldest first, creating .agnes/ with a 0600 file', async () => {
    const first = entry()
    const second = entry({action: 'rollback', outcome: 'rolled-back', reason: 'health gate failed', time: '2026-04-03T10:05:00.000Z'})
    const third = entry({action: 'pin', from: undefined, outcome: 'pinned', to: {version: 'stable-2026.04.1'}})
    await appendHistory(paths, first)
    await appendHistory(paths, second)
    await appendHistory(paths, third)
    expect(await readHistory(paths)).toEqual([first, second, JSON.parse(JSON.stringify(third))])
    expect(statSync(paths.historyFile).mode & 0o777).toBe(0o600)
    // One JSON document per line.
    const lines = readFileSync(paths.historyFile, 'utf8').split('\n')
    expect(lines).toHaveLength(4)
    expect(lines[3]).toBe('')
  })

  it('skips a torn last line (a crash mid-append) and keeps the rest', async () => {
    await appendHistory(paths, entry({outcome: 'one'}))
    await appendHistory(paths, entry({outcome: 'two'}))
    appendFileSync(paths.historyFile, '{"time":"2026-04-03T11:00:00.000Z","action":"upgr')
    expect((await readHistory(paths)).map((e) => e.outcome)).toEqual(['one', 'two'])
  })

  it('skips a corrupt line in the middle and blank lines', async () => {
    mkdirSync(paths.agnesDir, {recursive: true})
    writeFileSync(paths.historyFile, `${JSON.stringify(entry({outcome: 'one'}))}\n\nnot json\n   \n${JSON.stringify(entry({outcome: 'two'}))}\n`)
    expect((await readHistory(paths)).map((e) => e.outcome)).toEqual(['one', 'two'])
  })

  it('keeps the first entry written after a crash that tore the last line', async () => {
    await appendHistory(paths, entry({outcome: 'before-crash'}))
    appendFileSync(paths.historyFile, '{"time":"2026-04-03T11:00:00.000Z","action":"upgr')
    await appendHistory(paths, entry({action: 'recover', outcome: 'recovered'}))
    expect((await readHistory(paths)).map((e) => e.outcome)).toEqual(['before-crash', 'recovered'])
  })

  it('redacts registered secrets before anything reaches the file', async () => {
    const secret = 'SCHEDULER-TOKEN-abcdef0123456789'
    registerSecret(secret)
    await appendHistory(paths, entry({outcome: 'failed', reason: `POST /api/admin failed with token ${secret}; Authorization: Bearer ${'x'.repeat(20)}`}))
    const raw = readFileSync(paths.historyFile, 'utf8')
    expect(raw).not.toContain(secret)
    expect(raw).not.toContain('x'.repeat(20))
    const [read] = await readHistory(paths)
    expect(read.reason).toBe('POST /api/admin failed with token ***; Authorization: Bearer ***')
  })
})
