// `agnes init` through the built CLI (no terminal) where the engine is absent, the instance is locked or the
// directory is odd: the project name it chooses, its exit codes, and that a refused run changes nothing.
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {readEnvFile} from '../e2e/fixtures.js'
import {repoRoot, runAgnes} from '../helpers/run-cli.js'
import {instancePaths} from '../../src/lib/instance/paths.js'
import {pathUniqueProjectName} from '../../src/lib/instance/project.js'
import {acquireLock} from '../../src/lib/instance/lock-file.js'

let root: string
let dir: string
// No engine at all: init must still work, and must not fall back to a name every host shares.
const noEngine = {DOCKER_HOST: 'unix:///nonexistent/docker.sock'}
const initArgs = (target: string) => ['init', '--non-interactive', '--json', '--dir', target, '--admin-email', 'admin@example.com']

beforeAll(() => {
  if (!existsSync(join(repoRoot, 'dist', 'commands', 'init.js'))) throw new Error('build the CLI first: npm run build')
})

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'agnes-init-project-'))
  dir = join(root, 'srv', 'agnes')
  mkdirSync(dir, {recursive: true})
})

afterEach(() => rmSync(root, {force: true, recursive: true}))

describe('agnes init and the Compose project', () => {
  it('with the engine unreachable, picks the path-unique name, says so, and records it in state and .env', async () => {
    const result = await runAgnes(initArgs(dir), {env: noEngine})
    expect(result.exitCode, result.stderr).toBe(0)
    const expected = pathUniqueProjectName(dir)
    expect(result.json.result.project).toBe(expected)
    expect(result.json.warnings.join('\n')).toMatch(/not reachable.*unique to this directory's path/)
    expect(JSON.parse(readFileSync(join(dir, '.agnes', 'state.json'), 'utf8')).project).toBe(expected)
    expect(readEnvFile(join(dir, '.env')).COMPOSE_PROJECT_NAME).toBe(expected)

    // A re-run keeps the name, whatever the engine says now.
    const again = await runAgnes(initArgs(dir), {env: noEngine})
    expect(again.exitCode, again.stderr).toBe(0)
    expect(again.json.result.project).toBe(expected)
  })

  it('a bad --project is exit 3 and writes nothing', async () => {
    const result = await runAgnes([...initArgs(dir), '--project', 'Not_OK!'], {env: noEngine})
    expect(result.exitCode).toBe(3)
    expect(result.json.error.message).toContain('--project')
    expect(readdirSync(dir)).toEqual([])
  })
})

describe('agnes init under the instance lock', () => {
  it('while another run holds the lock: exit 75 at once, nothing written', async () => {
    const lock = await acquireLock(instancePaths(dir).lockFile, {command: 'upgrade'})
    try {
      const result = await runAgnes(initArgs(dir), {env: noEngine})
      expect(result.exitCode).toBe(75)
      expect(result.json.error.code).toBe('E_LOCKED')
      expect(readdirSync(dir)).toEqual(['.agnes'])
      expect(readdirSync(join(dir, '.agnes'))).toEqual(['lock'])
    } finally {
      await lock?.release()
    }
  })
})

describe('agnes init with config/ that is a file', () => {
  it('is exit 3 naming config, and the directory stays as it was', async () => {
    writeFileSync(join(dir, 'config'), 'a file, not a directory\n')
    const result = await runAgnes(initArgs(dir), {env: noEngine})
    expect(result.exitCode).toBe(3)
    expect(result.json.error.message).toContain(join(dir, 'config'))
    expect(result.json.error.hint).toContain('mv ')
    expect(readdirSync(dir)).toEqual(['config'])
  })
})
