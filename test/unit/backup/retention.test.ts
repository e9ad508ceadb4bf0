import {mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {backupFileName, findBackup, listBackups, pruneBackups, validateBackupId} from '../../../src/lib/backup/retention.js'
import {InvalidInputError, UnsafePathError} from '../../../src/lib/errors.js'

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

/** A backups directory holding the named files, each with its own number of bytes. */
function backupsWith(names: string[]): string {
  const backupsDir = join(dir, 'backups')
  mkdirSync(backupsDir, {recursive: true})
  for (const [index, name] of names.entries()) writeFileSync(join(backupsDir, name), 'x'.repeat(index + 1))
  return backupsDir
}

const SWITCH = '2026-05-01T10-00-00.000Z-0123456789ab.tar'
const MANUAL = '2026-05-02T10-00-00.000Z-manual.tar'
const PRE_RESTORE = '2026-05-03T10-00-00.000Z-pre-restore.tar'

describe('listBackups', () => {
  it('lists backups newest first with id, time, size and who took them, leaving other files and links out', async () => {
    const backupsDir = backupsWith([SWITCH, MANUAL, PRE_RESTORE, 'operator-notes.txt', '.backup-0a1b.tmp'])
    symlinkSync(join(dir, 'elsewhere.tar'), join(backupsDir, '2026-05-04T10-00-00.000Z-manual.tar'))
    expect(await listBackups(backupsDir)).toEqual([
      {createdAt: '2026-05-03T10:00:00.000Z', file: join(backupsDir, PRE_RESTORE), id: '2026-05-03T10-00-00.000Z-pre-restore', kind: 'pre-restore', label: 'pre-restore', size: 3},
      {createdAt: '2026-05-02T10:00:00.000Z', file: join(backupsDir, MANUAL), id: '2026-05-02T10-00-00.000Z-manual', kind: 'manual', label: 'manual', size: 2},
      {createdAt: '2026-05-01T10:00:00.000Z', file: join(backupsDir, SWITCH), id: '2026-05-01T10-00-00.000Z-0123456789ab', kind: 'switch', label: '0123456789ab', size: 1},
    ])
  })

  it('is empty without a backups directory, and refuses one that is a link', async () => {
    expect(await listBackups(join(dir, 'missing'))).toEqual([])
    mkdirSync(join(dir, 'real'))
    symlinkSync(join(dir, 'real'), join(dir, 'linked'))
    await expect(listBackups(join(dir, 'linked'))).rejects.toThrow(UnsafePathError)
  })

  it('names a backup so that its listed time is the time it was taken', async () => {
    const createdAt = '2026-06-07T08:09:10.011Z'
    const backupsDir = backupsWith([backupFileName(createdAt, 'manual')])
    expect((await listBackups(backupsDir))[0]).toMatchObject({createdAt, id: '2026-06-07T08-09-10.011Z-manual', kind: 'manual'})
  })
})

describe('finding a backup by id', () => {
  it('accepts the id with or without .tar', async () => {
    const backupsDir = backupsWith([MANUAL])
    expect((await findBackup(backupsDir, '2026-05-02T10-00-00.000Z-manual')).file).toBe(join(backupsDir, MANUAL))
    expect((await findBackup(backupsDir, MANUAL)).file).toBe(join(backupsDir, MANUAL))
  })

  it('refuses an unknown id with a pointer to the list (exit 3)', async () => {
    const backupsDir = backupsWith([MANUAL])
    const error = await findBackup(backupsDir, '2026-05-02T10-00-00.000Z-pre-restore').catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(InvalidInputError)
    expect(error).toMatchObject({exitCode: 3, hint: expect.stringContaining('agnes backup list')})
  })

  it.each(['../../etc/passwd', '/tmp/2026-05-02T10-00-00.000Z-manual.tar', 'latest', '', '2026-05-02T10-00-00.000Z-', '2026-05-02T10-00-00.000Z-manual/../x'])('refuses %j, which is no backup id', (id) => {
    expect(() => validateBackupId(id)).toThrow(InvalidInputError)
  })
})

describe('retention', () => {
  it('never prunes a manual backup, however many a switch takes', async () => {
    const switches = Array.from({length: 8}, (_, index) => `2026-04-0${index + 1}T00-00-00.000Z-aaaaaaaaaaaa.tar`)
    const backupsDir = backupsWith(['2026-03-01T00-00-00.000Z-manual.tar', ...switches, '2026-04-09T00-00-00.000Z-pre-restore.tar'])
    const removed = await pruneBackups(backupsDir, 5)
    expect(removed.map((file) => file.split('/').pop()).sort()).toEqual(switches.slice(0, 3))
    expect(readdirSync(backupsDir)).toContain('2026-03-01T00-00-00.000Z-manual.tar')
    expect(readdirSync(backupsDir)).toContain('2026-04-09T00-00-00.000Z-pre-restore.tar')
  })

  it('prunes backups of replaced state to the newest ones, keeping the protected and every other kind', async () => {
    const preRestores = Array.from({length: 5}, (_, index) => `2026-04-0${index + 1}T00-00-00.000Z-pre-restore.tar`)
    const backupsDir = backupsWith([MANUAL, SWITCH, ...preRestores])
    const removed = await pruneBackups(backupsDir, 3, [join(backupsDir, preRestores[0])], 'pre-restore')
    expect(removed.map((file) => file.split('/').pop())).toEqual([preRestores[1]])
    expect(readdirSync(backupsDir).sort()).toEqual([SWITCH, MANUAL, preRestores[0], ...preRestores.slice(2)].sort())
  })
})
