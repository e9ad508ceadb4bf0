// The bad-input e2e table (test/e2e/bad-input.test.ts) trusts this helper to see every change a command makes.
import {chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {diffSnapshots, snapshotTree} from '../helpers/tree-snapshot.js'

describe('snapshotTree / diffSnapshots', () => {
  let root: string
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'agnes-snapshot-'))
    mkdirSync(join(root, '.agnes'), {mode: 0o700})
    writeFileSync(join(root, '.env'), 'A=1\n', {mode: 0o600})
    mkdirSync(join(root, 'elsewhere'))
    writeFileSync(join(root, 'elsewhere', 'target'), 'outside\n')
    symlinkSync(join(root, 'elsewhere', 'target'), join(root, 'link'))
  })
  afterEach(() => rmSync(root, {force: true, recursive: true}))

  it('finds nothing when nothing changed, whatever the times', () => {
    const before = snapshotTree(root)
    writeFileSync(join(root, '.agnes', 'lock'), 'held')
    unlinkSync(join(root, '.agnes', 'lock'))
    expect(diffSnapshots(before, snapshotTree(root))).toEqual([])
  })

  it('sees content, mode, added and removed entries, and a symlink pointed elsewhere', () => {
    const before = snapshotTree(root)
    writeFileSync(join(root, '.env'), 'A=2\n')
    chmodSync(join(root, '.agnes'), 0o755)
    writeFileSync(join(root, '.agnes', 'state.json'), '{}')
    rmSync(join(root, 'elsewhere', 'target'))
    writeFileSync(join(root, 'elsewhere', 'other'), 'x')
    unlinkSync(join(root, 'link'))
    symlinkSync(join(root, 'elsewhere', 'other'), join(root, 'link'))
    const changes = diffSnapshots(before, snapshotTree(root)).join('\n')
    expect(changes).toMatch(/changed \.env: file 600 \w+ → file 600 \w+/)
    expect(changes).toMatch(/changed \.agnes: dir 700 → dir 755/)
    expect(changes).toMatch(/added \.agnes\/state\.json/)
    expect(changes).toMatch(/removed elsewhere\/target/)
    expect(changes).toMatch(/changed link: symlink -> .*target → symlink -> .*other/)
  })

  it('records a symlink as a link, never as what it points at', () => {
    const before = snapshotTree(root)
    writeFileSync(join(root, 'elsewhere', 'target'), 'written through the link\n')
    const changes = diffSnapshots(before, snapshotTree(root))
    expect(changes).toEqual([expect.stringMatching(/^changed elsewhere\/target:/)])
  })
})
