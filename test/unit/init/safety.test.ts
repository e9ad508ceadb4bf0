import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {EnvFile} from '../../../src/lib/instance/env-file.js'
import {ExitCode, InvalidInputError} from '../../../src/lib/errors.js'
import {applyInit, withInitLock} from '../../../src/lib/init/apply.js'
import {planInit, readExisting} from '../../../src/lib/init/plan.js'
import {DEFAULT_REPOSITORY, type InitSettings} from '../../../src/lib/init/types.js'
import {instancePaths} from '../../../src/lib/instance/paths.js'
import {acquireLock} from '../../../src/lib/instance/lock-file.js'
import {clearSecrets} from '../../../src/lib/secrets/redact.js'

let root: string
let dir: string

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'agnes-init-safety-'))
  dir = join(root, 'agnes')
  mkdirSync(dir)
})

afterEach(() => {
  clearSecrets()
  rmSync(root, {force: true, recursive: true})
})

const settings = (overrides: Partial<InitSettings> = {}): InitSettings => ({
  adminEmail: 'admin@example.com',
  bind: '0.0.0.0',
  channel: 'stable',
  cpus: '2.0',
  dataSource: 'local',
  httpPort: 8000,
  memory: '4g',
  repository: DEFAULT_REPOSITORY,
  tls: 'none',
  ...overrides,
})

async function initialise(project: string, overrides: Partial<InitSettings> = {}) {
  const existing = await readExisting(dir)
  const plan = await planInit(existing, settings(overrides), {}, {force: false, project})
  await applyInit(plan)
  return plan
}

describe('the Compose project name in the instance', () => {
  it('is stored in state and as COMPOSE_PROJECT_NAME in .env, so a hand-run docker compose uses it too', async () => {
    await initialise('agnes-1a2b3c4d')
    expect(JSON.parse(readFileSync(join(dir, '.agnes', 'state.json'), 'utf8')).project).toBe('agnes-1a2b3c4d')
    expect(EnvFile.parse(readFileSync(join(dir, '.env'), 'utf8')).get('COMPOSE_PROJECT_NAME')).toBe('agnes-1a2b3c4d')
  })
})

describe('.env diffs on a re-run of init', () => {
  const operatorSecrets: Record<string, string> = {
    AGNES_OAUTH_ENC_KEY: 'oauth-enc-key-value-7777',
    DATABRICKS_TOKEN: 'dapi-databricks-token-4444',
    MY_DB_PASSWORD: 'my-db-password-2222',
    OPENAI_API_KEY: 'sk-openai-key-value-1111',
    SNOWFLAKE_PASSWORD: 'snowflake-password-3333',
  }

  it("mask every value but agnes's own harmless settings, in context, changed and commented lines", async () => {
    await initialise('agnes')
    const envPath = join(dir, '.env')
    const kept = readFileSync(envPath, 'utf8').split('\n').filter((line) => !/^(AGNES_HTTP_PORT|AGNES_APP_MEM_LIMIT)=/.test(line))
    // Operator keys around the two lines that change, so the diff context shows them all.
    const {AGNES_OAUTH_ENC_KEY, DATABRICKS_TOKEN, MY_DB_PASSWORD, OPENAI_API_KEY, SNOWFLAKE_PASSWORD} = operatorSecrets
    const lines = [
      ...kept,
      `OPENAI_API_KEY=${OPENAI_API_KEY}`,
      `MY_DB_PASSWORD=${MY_DB_PASSWORD}`,
      'AGNES_HTTP_PORT=8000',
      `SNOWFLAKE_PASSWORD=${SNOWFLAKE_PASSWORD}`,
      '# OLD_API_KEY=commented-out-secret-5555',
      'BRAND_NAME=Acme Analytics',
      `DATABRICKS_TOKEN=${DATABRICKS_TOKEN}`,
      'AGNES_APP_MEM_LIMIT=4g',
      `AGNES_OAUTH_ENC_KEY=${AGNES_OAUTH_ENC_KEY}`,
      '',
    ]
    writeFileSync(envPath, lines.join('\n'), {mode: 0o600})

    const plan = await planInit(await readExisting(dir), settings({httpPort: 9000, memory: '6g'}), {}, {force: false, project: 'agnes'})
    const diff = plan.files.find((file) => file.path === '.env')?.diff ?? ''
    expect(diff).toContain('-AGNES_HTTP_PORT=8000')
    expect(diff).toContain('+AGNES_HTTP_PORT=9000')
    expect(diff).toContain('+AGNES_APP_MEM_LIMIT=6g')
    for (const [key, value] of Object.entries(operatorSecrets)) {
      expect(diff, key).toContain(` ${key}=***`)
      expect(diff, key).not.toContain(value)
    }

    expect(diff).toContain(' # OLD_API_KEY=***')
    expect(diff).not.toContain('commented-out-secret-5555')
    // Unknown keys are masked too, even when harmless: agnes cannot tell.
    expect(diff).toContain(' BRAND_NAME=***')
    expect(diff).not.toContain('Acme Analytics')
  })

  it('masks a URL with a password even under a key whose value is otherwise shown', async () => {
    await initialise('agnes', {dataSource: 'keboola', keboolaUrl: 'https://connection.keboola.com'})
    const plan = await planInit(await readExisting(dir), settings({dataSource: 'keboola', keboolaUrl: 'https://user:hunter2-secret@connection.keboola.com'}), {}, {force: false, project: 'agnes'})
    const diff = plan.files.find((file) => file.path === '.env')?.diff ?? ''
    expect(diff).toContain('-KEBOOLA_STACK_URL=https://connection.keboola.com')
    expect(diff).toContain('+KEBOOLA_STACK_URL=***')
    expect(diff).not.toContain('hunter2-secret')
  })
})

describe('config/ that is a file', () => {
  it('is an input error (exit 3) naming it and the way out, and nothing is written', async () => {
    writeFileSync(join(dir, 'config'), 'not a directory\n')
    const error = await readExisting(dir).catch((caught) => caught)
    expect(error).toBeInstanceOf(InvalidInputError)
    expect(error.exitCode).toBe(ExitCode.INVALID)
    expect(error.message).toContain(join(dir, 'config'))
    expect(error.hint).toMatch(/mv /)
    expect(readdirSync(dir)).toEqual(['config'])
  })
})

describe('init under the instance lock', () => {
  it('waits for nobody: a held lock is exit 75 at once and the work never runs', async () => {
    const held = await acquireLock(instancePaths(dir).lockFile, {command: 'upgrade'})
    try {
      let ran = false
      const attempt = withInitLock(dir, async () => {
        ran = true
      })
      await expect(attempt).rejects.toMatchObject({code: 'E_LOCKED', exitCode: ExitCode.TRY_LATER, message: expect.stringContaining('(upgrade)')})
      expect(ran).toBe(false)
    } finally {
      await held?.release()
    }
  })

  it('holds the lock while the work runs and releases it after', async () => {
    const lockFile = instancePaths(dir).lockFile
    await withInitLock(dir, async () => {
      expect(existsSync(lockFile)).toBe(true)
      expect(await acquireLock(lockFile, {command: 'upgrade'})).toBeUndefined()
    })
    expect(existsSync(lockFile)).toBe(false)
  })

  it('a refused init in a new directory leaves no directory behind', async () => {
    const fresh = join(root, 'new', 'agnes')
    await expect(
      withInitLock(fresh, async () => {
        throw new InvalidInputError('refused')
      }),
    ).rejects.toThrow('refused')
    expect(existsSync(join(root, 'new'))).toBe(false)
  })
})
