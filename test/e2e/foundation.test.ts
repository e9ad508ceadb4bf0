import {appendFileSync, existsSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runAgnes} from '../helpers/run-cli.js'
import {Published, TestInstance, appContainers, destroyInstance, getJson, instancesRoot, newInstance, publishStandard, readEnvFile, singleJson} from './fixtures.js'

const FERNET = /^[A-Za-z0-9_-]{43}=$/

describe('init, up and status against a real Docker engine', () => {
  let published: Published
  const instances: TestInstance[] = []

  beforeAll(async () => {
    published = await publishStandard('foundation')
  })

  afterAll(() => {
    for (const instance of instances) destroyInstance(instance)
  })

  it('init --non-interactive writes a complete instance with secure secrets', async () => {
    const instance = await newInstance('init-files', {repository: published.repository})
    instances.push(instance)
    const result = singleJson(instance.init)
    expect(result.ok).toBe(true)
    expect(result.result.generatedSecrets).toEqual(['JWT_SECRET_KEY', 'SESSION_SECRET', 'SCHEDULER_API_TOKEN', 'AGNES_VAULT_KEY'])
    for (const file of ['docker-compose.yml', 'docker-compose.override.yml', '.env', 'config/instance.yaml', '.agnes/state.json']) {
      expect(existsSync(join(instance.dir, file)), file).toBe(true)
    }

    expect(statSync(join(instance.dir, '.env')).mode & 0o777).toBe(0o600)
    const env = readEnvFile(join(instance.dir, '.env'))
    expect(env.JWT_SECRET_KEY.length).toBeGreaterThanOrEqual(32)
    expect(env.SCHEDULER_API_TOKEN.length).toBeGreaterThanOrEqual(32)
    expect(env.SESSION_SECRET.length).toBeGreaterThanOrEqual(32)
    expect(env.AGNES_VAULT_KEY).toMatch(FERNET)
    expect(Buffer.from(env.AGNES_VAULT_KEY, 'base64url')).toHaveLength(32)
    expect(new Set([env.JWT_SECRET_KEY, env.SESSION_SECRET, env.SCHEDULER_API_TOKEN]).size).toBe(3)
    expect(readFileSync(join(instance.dir, 'docker-compose.yml'), 'utf8')).toMatch(/^# Managed by agnes/)
    expect(readFileSync(join(instance.dir, 'docker-compose.override.yml'), 'utf8')).toContain('./custom-connectors:/app/connectors/custom:ro')
    expect(readFileSync(join(instance.dir, 'config', 'instance.yaml'), 'utf8')).toContain('config_version: 1')
    const state = JSON.parse(readFileSync(join(instance.dir, '.agnes', 'state.json'), 'utf8'))
    expect(state).toMatchObject({channel: 'stable', repository: published.repository})
    // No secret reached the output.
    for (const secret of [env.JWT_SECRET_KEY, env.SCHEDULER_API_TOKEN, env.AGNES_VAULT_KEY, env.SESSION_SECRET]) {
      expect(instance.init.stdout + instance.init.stderr).not.toContain(secret)
    }
  })

  it('re-running init keeps secrets, operator keys and comments and the override file, and shows a diff', async () => {
    const instance = await newInstance('reinit', {repository: published.repository})
    instances.push(instance)
    const envPath = join(instance.dir, '.env')
    appendFileSync(envPath, '# my brand text, with $dollars, `backticks` and "quotes"\nBRAND_PREAMBLE=\'Hello $USER `whoami` "x"\'\n')
    const overridePath = join(instance.dir, 'docker-compose.override.yml')
    writeFileSync(overridePath, readFileSync(overridePath, 'utf8') + '# mine\n')
    const before = readEnvFile(envPath)
    const overrideBefore = readFileSync(overridePath, 'utf8')

    const rerun = await runAgnes(['init', '--non-interactive', '--json', '--dir', instance.dir, '--memory', '768m'])
    const json = singleJson(rerun)
    expect(rerun.exitCode, rerun.stderr).toBe(0)
    expect(json.result.generatedSecrets).toEqual([])
    const envFile = json.result.files.find((file: {path: string}) => file.path === '.env')
    expect(envFile.action).toBe('update')
    expect(envFile.diff).toContain('+AGNES_APP_MEM_LIMIT=768m')
    expect(envFile.diff).not.toContain(before.JWT_SECRET_KEY)
    const after = readEnvFile(envPath)
    for (const key of ['JWT_SECRET_KEY', 'SESSION_SECRET', 'SCHEDULER_API_TOKEN', 'AGNES_VAULT_KEY', 'BRAND_PREAMBLE', 'AGNES_HEALTHCHECK_INTERVAL']) {
      expect(after[key], key).toBe(before[key])
    }

    expect(readFileSync(envPath, 'utf8')).toContain('# my brand text, with $dollars')
    expect(readFileSync(overridePath, 'utf8')).toBe(overrideBefore)
    expect(statSync(envPath).mode & 0o777).toBe(0o600)
  })

  it('--dry-run prints the plan and writes nothing', async () => {
    const dir = join(instancesRoot, `dry-run-${Date.now()}`)
    const result = await runAgnes(['init', '--non-interactive', '--json', '--dir', dir, '--admin-email', 'a@example.com', '--dry-run'])
    expect(result.exitCode).toBe(0)
    expect(singleJson(result).result.files.map((file: {action: string}) => file.action)).toEqual(['create', 'create', 'create', 'create'])
    expect(existsSync(dir)).toBe(false)
  })

  it.each([
    [['--admin-email', 'not-an-email'], 3, '--admin-email'],
    [['--admin-email', 'a@example.com', '--http-port', '70000'], 3, '--http-port'],
    [['--admin-email', 'a@example.com', '--tls', 'acme', '--domain', 'bad_domain!'], 3, '--domain'],
    [['--admin-email', 'a@example.com', '--pin', 'latest'], 3, 'version'],
    [['--admin-email', 'a@example.com', '--image', 'Bad Repo'], 3, '--image'],
    [['--admin-email', 'a@example.com', '--data-source', 'csv'], 3, '--data-source'],
    [['--admin-email', 'a@example.com', '--data-source', 'keboola', '--keboola-url', 'https://connection.keboola.com'], 4, '--keboola-token-file'],
    [[], 4, '--admin-email'],
  ])('bad input %j → exit %i, a message naming %s, nothing written', async (args, exitCode, named) => {
    const dir = join(instancesRoot, `bad-${Date.now()}-${exitCode}`)
    const result = await runAgnes(['init', '--non-interactive', '--json', '--dir', dir, ...args], {env: {AGNES_KEBOOLA_TOKEN: undefined}})
    const json = singleJson(result)
    expect(result.exitCode).toBe(exitCode)
    expect(json.ok).toBe(false)
    expect(json.error.exitCode).toBe(exitCode)
    expect(json.error.message).toContain(named)
    expect(existsSync(dir)).toBe(false)
  })

  it('refuses to replace a hand-edited compose file without --force', async () => {
    const instance = await newInstance('handedit', {repository: published.repository})
    instances.push(instance)
    const composePath = join(instance.dir, 'docker-compose.yml')
    writeFileSync(composePath, readFileSync(composePath, 'utf8').replace('stop_grace_period: 60s', 'stop_grace_period: 5s'))
    const refused = await runAgnes(['init', '--non-interactive', '--json', '--dir', instance.dir, '--http-port', String(instance.port + 1)])
    expect(refused.exitCode).toBe(3)
    expect(singleJson(refused).error.message).toContain('edited by hand')
    expect(readFileSync(composePath, 'utf8')).toContain('stop_grace_period: 5s')
    const forced = await runAgnes(['init', '--non-interactive', '--json', '--dir', instance.dir, '--force'])
    expect(forced.exitCode, forced.stderr).toBe(0)
    expect(readFileSync(composePath, 'utf8')).not.toContain('stop_grace_period: 5s')
  })

  it('up starts a healthy instance by digest; status shows version and digest; a second up changes nothing', async () => {
    const instance = await newInstance('up', {repository: published.repository})
    instances.push(instance)
    const up = await runAgnes(['up', '--json', '--dir', instance.dir])
    const result = singleJson(up)
    expect(up.exitCode, up.stderr).toBe(0)
    expect(result.result).toMatchObject({changed: true, digest: published.digests.stable, tag: 'stable', version: '0.84.2'})
    expect(result.result.url).toBe(instance.url)
    // npm test runs this suite once per Compose flavour (AGNES_COMPOSE): prove the flavour asked for is the one used.
    const flavour = process.env.AGNES_COMPOSE
    if (flavour === 'v2') expect(result.result.compose).toMatch(/^docker compose 2\./)
    if (flavour === 'v1') expect(result.result.compose).toMatch(/^docker-compose 1\./)

    const health = await getJson(`${instance.url}/api/health`)
    expect(health.body).toMatchObject({db_schema: 'ok', status: 'ok'})
    expect(readFileSync(join(instance.dir, 'docker-compose.yml'), 'utf8')).toContain(`${published.repository}@${published.digests.stable}`)
    expect(appContainers(instance.project)).toHaveLength(1)

    const status = await runAgnes(['status', '--json', '--dir', instance.dir])
    const statusJson = singleJson(status).result
    expect(status.exitCode).toBe(0)
    expect(statusJson.healthy).toBe(true)
    expect(statusJson.running).toMatchObject({channel: 'stable', digest: published.digests.stable, version: '0.84.2'})
    expect(statusJson.containers.map((container: {service: string}) => container.service).sort()).toEqual(['app', 'scheduler'])

    const containerBefore = appContainers(instance.project)[0].id
    const again = await runAgnes(['up', '--json', '--dir', instance.dir])
    expect(again.exitCode, again.stderr).toBe(0)
    expect(singleJson(again).result).toMatchObject({changed: false, pulled: false})
    expect(appContainers(instance.project)[0].id).toBe(containerBefore)

    const human = await runAgnes(['status', '--dir', instance.dir])
    expect(human.stdout).toContain('0.84.2')
    expect(human.stdout).toContain(published.digests.stable)
  })

  it('up against a crash-on-start image fails fast with exit 9 and says why', async () => {
    const images = await import('../standin/images.mjs')
    await images.publish({channel: 'stable', repository: published.repository, tag: 'stable-2026.04.9', variant: 'crash', version: '0.84.9'})
    const instance = await newInstance('crash', {pin: 'stable-2026.04.9', repository: published.repository})
    instances.push(instance)
    const up = await runAgnes(['up', '--json', '--dir', instance.dir, '--health-timeout', '240'])
    const json = singleJson(up)
    expect(up.exitCode).toBe(9)
    expect(json.error.code).toBe('E_UNHEALTHY')
    expect(json.error.message).toMatch(/exited|restarting/)
    expect(up.durationMs).toBeLessThan(60_000)
  })

  it('up on a directory that is not an instance is a clear input error', async () => {
    const result = await runAgnes(['up', '--json', '--dir', join(instancesRoot, 'nothing-here')])
    expect(result.exitCode).toBe(3)
    expect(singleJson(result).error.hint).toContain('agnes init')
  })
})
