import {mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {pruneBackups} from '../../../src/lib/backup/retention.js'
import {InvalidInputError} from '../../../src/lib/errors.js'

let dir: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agnes-backup-test-'))
})

afterEach(() => {
  rmSync(dir, {force: true, recursive: true})
})

describe('pruneBackups', () => {
  it('keeps the newest backups, other files, and a backup still being written', async () => {
    const backupsDir = join(dir, 'backups')
    mkdirSync(backupsDir)
    const names = Array.from({length: 8}, (_, index) => `2026-05-0${index + 1}T10-15-30.123Z-abcdef012345.tar`)
    for (const name of [...names].reverse()) writeFileSync(join(backupsDir, name), '')
    writeFileSync(join(backupsDir, 'operator-notes.txt'), '')
    writeFileSync(join(backupsDir, '.backup-fresh.tmp'), '')
    writeFileSync(join(backupsDir, '.backup-killed.tmp'), '')
    const yesterday = new Date(Date.now() - 24 * 60 * 60 * 1000)
    utimesSync(join(backupsDir, '.backup-killed.tmp'), yesterday, yesterday)

    const removed = await pruneBackups(backupsDir, 5)
    expect(removed.sort()).toEqual([...names.slice(0, 3), '.backup-killed.tmp'].map((name) => join(backupsDir, name)).sort())
    expect(readdirSync(backupsDir).sort()).toEqual(['.backup-fresh.tmp', ...names.slice(3), 'operator-notes.txt'].sort())
    expect(await pruneBackups(join(dir, 'missing'))).toEqual([])
    await expect(pruneBackups(backupsDir, 0)).rejects.toThrow(InvalidInputError)
  })
})
