// The instance directory is not a doorway, and bad paths are exit 3 naming the path: through the built CLI, as root's cron would run it, with --json and without.
import {createHash} from 'node:crypto'
import {appendFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'
import {afterAll, beforeEach, describe, expect, it} from 'vitest'

import {runAgnes} from '../helpers/run-cli.js'

const roots: string[] = []
let root: string
let dir: string
/** Where links point: it must receive nothing. */
let outside: string

afterAll(() => {
  for (const path of roots) rmSync(path, {force: true, recursive: true})
})

/** Every file under a directory with its content hash and mode, to prove nothing changed. */
function snapshot(path: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (current: string) => {
    for (const entry of readdirSync(current, {withFileTypes: true})) {
      const full = join(current, entry.name)
      const mode = (statSync(full).mode & 0o7777).toString(8)
      if (entry.isDirectory()) {
        out[`${relative(path, full)}/`] = mode
        walk(full)
      } else {
        out[relative(path, full)] = `${mode} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`
      }
    }
  }

  walk(path)
  return out
}

async function initInstance(target: string) {
  const result = await runAgnes(['init', '--non-interactive', '--dir', target, '--admin-email', 'admin@example.com'], {env: {AGNES_ADMIN_PASSWORD: 'doorway-admin-pw-5521'}})
  expect(result.exitCode, result.stderr).toBe(0)
}

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'agnes-doorway-'))
  roots.push(root)
  dir = join(root, 'instance')
  outside = join(root, 'outside')
  mkdirSync(outside)
  await initInstance(dir)
})

/** Moves a managed path out of the instance and leaves a link to it in its place. */
function replaceWithLink(name: string): string {
  const target = join(outside, name.replaceAll('/', '_'))
  renameSync(join(dir, name), target)
  symlinkSync(target, join(dir, name))
  return target
}

function expectUnsafe(result: Awaited<ReturnType<typeof runAgnes>>, path: string) {
  expect(result.exitCode, result.stderr).toBe(3)
  expect(result.json.error.code).toBe('E_UNSAFE_PATH')
  expect(result.json.error.message).toContain(path)
}

describe('managed paths that are symbolic links are refused with exit 3, and nothing goes through them', () => {
  it.each([
    ['.env'],
    ['docker-compose.yml'],
    ['docker-compose.override.yml'],
    ['config'],
    ['config/instance.yaml'],
    ['.agnes'],
    ['.agnes/state.json'],
  ])('%s as a link: init, status and history refuse it', async (name) => {
    replaceWithLink(name)
    const before = snapshot(outside)
    for (const command of [['init', '--non-interactive', '--admin-email', 'admin@example.com'], ['status'], ['history']]) {
      const result = await runAgnes([...command, '--dir', dir, '--json'], {env: {AGNES_ADMIN_PASSWORD: 'doorway-admin-pw-5521'}})
      expectUnsafe(result, join(dir, name))
    }

    expect(snapshot(outside)).toEqual(before)
  })

  it.each([['.agnes/backups'], ['.agnes/history.jsonl'], ['.agnes/lock'], ['.agnes/journal.json'], ['.agnes/secrets.env'], ['.agnes/backups/x.tar']])(
    '%s as a link (created in the instance or pointing elsewhere) is refused by every command that loads the instance',
    async (name) => {
      const target = join(outside, 'target')
      if (name.endsWith('.tar')) mkdirSync(join(dir, '.agnes', 'backups'), {recursive: true})
      if (name.endsWith('backups')) mkdirSync(target)
      else writeFileSync(target, '')
      rmSync(join(dir, name), {force: true, recursive: true})
      symlinkSync(target, join(dir, name))
      const before = snapshot(outside)
      for (const command of [['status'], ['history'], ['rollback', '--yes']]) {
        const result = await runAgnes([...command, '--dir', dir, '--json'])
        expectUnsafe(result, join(dir, name))
      }

      expect(snapshot(outside)).toEqual(before)
    },
  )

  it('says so for a person too, naming the path and what to do', async () => {
    replaceWithLink('.env')
    const result = await runAgnes(['status', '--dir', dir])
    expect(result.exitCode).toBe(3)
    expect(result.stderr).toContain(`${join(dir, '.env')} is a symbolic link`)
    expect(result.stderr).toMatch(/Hint: Replace the link/)
  })

  it('an instance directory reached through a link works, and is reported under its real path', async () => {
    const link = join(root, 'opt-agnes')
    symlinkSync(dir, link)
    const result = await runAgnes(['init', '--non-interactive', '--dir', link, '--admin-email', 'admin@example.com', '--json'])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.json.result.dir).toBe(dir)
    const history = await runAgnes(['history', '--dir', link, '--json'])
    expect(history.exitCode, history.stderr).toBe(0)
  })
})

describe('bad instance paths are exit 3 naming the path (never exit 1)', () => {
  it('--dir that is a file, or lies under a file', async () => {
    const file = join(root, 'a-file')
    writeFileSync(file, 'x')
    for (const target of [file, join(file, 'instance')]) {
      for (const command of [['init', '--non-interactive', '--admin-email', 'admin@example.com'], ['status'], ['history'], ['up']]) {
        const result = await runAgnes([...command, '--dir', target, '--json'])
        expect(result.exitCode, `${command[0]} ${target}: ${result.stdout}`).toBe(3)
        expect(result.json.error.message).toContain(file)
        expect(result.json.error.message).toMatch(/is a file/)
      }
    }

    const viaEnv = await runAgnes(['status', '--json'], {env: {AGNES_DIR: file}})
    expect(viaEnv.exitCode).toBe(3)
    expect(viaEnv.json.error.hint).toContain('--dir')
  })

  it('.env that is a directory, and config/ that is a file', async () => {
    rmSync(join(dir, '.env'))
    mkdirSync(join(dir, '.env'))
    for (const command of [['status'], ['history'], ['init', '--non-interactive', '--admin-email', 'admin@example.com']]) {
      const result = await runAgnes([...command, '--dir', dir, '--json'])
      expect(result.exitCode, result.stdout).toBe(3)
      expect(result.json.error.message).toBe(`${join(dir, '.env')} is a directory, but agnes needs a regular file there`)
    }

    rmSync(join(dir, '.env'), {recursive: true})
    await initInstance(dir)
    rmSync(join(dir, 'config'), {recursive: true})
    writeFileSync(join(dir, 'config'), '')
    const result = await runAgnes(['init', '--non-interactive', '--admin-email', 'admin@example.com', '--dir', dir, '--json'])
    expect(result.exitCode, result.stdout).toBe(3)
    expect(result.json.error.message).toContain(`${join(dir, 'config')} is a file, but agnes needs a directory there`)
  })
})

describe('a key defined twice in .env: the last definition wins, as in Docker Compose, with a warning', () => {
  it('reads the last one, warns naming the key and the lines, and updates the last one', async () => {
    const envFile = join(dir, '.env')
    const firstLine = readFileSync(envFile, 'utf8').split('\n').indexOf('AGNES_HTTP_PORT=8000') + 1
    appendFileSync(envFile, 'AGNES_HTTP_PORT=8123\n')
    const lastLine = readFileSync(envFile, 'utf8').trimEnd().split('\n').length
    const warning = `${envFile} defines AGNES_HTTP_PORT on lines ${firstLine} and ${lastLine}; Docker Compose uses the last one (line ${lastLine}), and so does agnes. Delete the other line.`

    const plan = await runAgnes(['init', '--non-interactive', '--dry-run', '--dir', dir, '--json'], {env: {NODE_ENV: 'production'}})
    expect(plan.exitCode, plan.stdout).toBe(0)
    expect(plan.json.result.settings.httpPort).toBe(8123)
    expect(plan.json.warnings).toContain(warning)

    const status = await runAgnes(['status', '--dir', dir], {env: {DOCKER_HOST: `unix://${join(root, 'no-docker.sock')}`, NODE_ENV: 'production'}})
    expect(status.stderr).toContain(`Warning: ${warning}`)
    expect(status.stderr.split(warning)).toHaveLength(2)

    const update = await runAgnes(['init', '--non-interactive', '--http-port', '8200', '--dir', dir, '--json'])
    expect(update.exitCode, update.stdout).toBe(0)
    const lines = readFileSync(envFile, 'utf8').split('\n')
    expect(lines[firstLine - 1]).toBe('AGNES_HTTP_PORT=8000')
    expect(lines[lastLine - 1]).toBe('AGNES_HTTP_PORT=8200')
  })
})
