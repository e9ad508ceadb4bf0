import {createHash} from 'node:crypto'
import {appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {parse as parseYaml} from 'yaml'

import {EnvFile} from '../../../src/lib/instance/env-file.js'
import {InputRequiredError, InvalidInputError} from '../../../src/lib/errors.js'
import {applyInit} from '../../../src/lib/init/apply.js'
import {planInit, readExisting} from '../../../src/lib/init/plan.js'
import {DEFAULT_REPOSITORY, type ExistingInstance, type InitPlan, type InitSecrets, type InitSettings} from '../../../src/lib/init/types.js'
import {type InitFlagValues, resolveInitSettings} from '../../../src/lib/init/settings.js'
import {instancePaths, projectNameFor} from '../../../src/lib/instance/paths.js'
import type {InstanceState} from '../../../src/lib/instance/state.js'
import type {Choice, Prompter} from '../../../src/lib/ui/prompt.js'
import type {WizardIo} from '../../../src/lib/init/wizard.js'
import {clearSecrets} from '../../../src/lib/secrets/redact.js'
import {isFernetKey} from '../../../src/lib/secrets/generate.js'

let root: string
let dir: string

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'agnes-init-test-'))
  dir = join(root, 'instance')
  mkdirSync(dir)
})

afterEach(() => {
  clearSecrets()
  rmSync(root, {force: true, recursive: true})
})

const SECRET_KEYS = ['JWT_SECRET_KEY', 'SESSION_SECRET', 'SCHEDULER_API_TOKEN', 'AGNES_VAULT_KEY']

function settings(overrides: Partial<InitSettings> = {}): InitSettings {
  return {
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
  }
}

async function plan(s: InitSettings, secrets: InitSecrets = {}, force = false, target = dir): Promise<InitPlan> {
  const existing = await readExisting(target)
  return planInit(existing, s, secrets, {force, project: existing.state?.project ?? projectNameFor(target)})
}

async function init(s: InitSettings, secrets: InitSecrets = {}, force = false, target = dir): Promise<InitPlan> {
  const p = await plan(s, secrets, force, target)
  await applyInit(p)
  return p
}

const read = (name: string, target = dir) => readFileSync(join(target, name), 'utf8')
const readEnvFile = (target = dir) => EnvFile.parse(read('.env', target))
const readStateFile = (target = dir) => JSON.parse(read('.agnes/state.json', target)) as InstanceState
const actions = (p: InitPlan) => Object.fromEntries(p.files.map((file) => [file.path, file.action]))
const fileOf = (p: InitPlan, path: string) => {
  const file = p.files.find((f) => f.path === path)
  if (!file) throw new Error(`${path} is not in the plan: ${p.files.map((f) => f.path).join(', ')}`)
  return file
}

describe('planInit / applyInit on a fresh directory', () => {
  it('plans every file without writing anything', async () => {
    const p = await plan(settings())
    expect(p.fresh).toBe(true)
    expect(actions(p)).toEqual({
      '.env': 'create',
      'config/instance.yaml': 'create',
      'docker-compose.override.yml': 'create',
      'docker-compose.yml': 'create',
    })
    expect(fileOf(p, '.env').mode).toBe(0o600)
    expect(fileOf(p, 'docker-compose.yml').mode).toBe(0o644)
    expect(p.generatedSecrets).toEqual(SECRET_KEYS)
    expect(readdirSync(dir)).toEqual([])
  })

  it('writes the files with the right modes, fresh secrets and the state', async () => {
    const p = await init(settings())
    expect(readdirSync(dir).sort()).toEqual(['.agnes', '.env', 'config', 'docker-compose.override.yml', 'docker-compose.yml'])
    expect(statSync(join(dir, '.env')).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, 'docker-compose.yml')).mode & 0o777).toBe(0o644)
    expect(statSync(join(dir, '.agnes')).mode & 0o777).toBe(0o700)

    const env = readEnvFile()
    expect(env.get('JWT_SECRET_KEY')).toMatch(/^[0-9a-f]{64}$/)
    expect(env.get('SESSION_SECRET')).toMatch(/^[0-9a-f]{64}$/)
    expect(env.get('SCHEDULER_API_TOKEN')).toMatch(/^[0-9a-f]{64}$/)
    expect(isFernetKey(env.get('AGNES_VAULT_KEY') ?? '')).toBe(true)
    expect(new Set(SECRET_KEYS.map((key) => env.get(key))).size).toBe(4)
    expect(env.get('AGNES_HTTP_PORT')).toBe('8000')
    expect(env.get('AGNES_HTTP_BIND')).toBe('0.0.0.0')
    expect(env.get('DATA_SOURCE')).toBe('local')
    expect(env.get('AGNES_APP_MEM_LIMIT')).toBe('4g')
    expect(env.get('AGNES_APP_CPUS')).toBe('2.0')
    expect(env.has('CADDY_TLS')).toBe(false)
    expect(p.warnings).toEqual([])

    const compose = read('docker-compose.yml')
    expect(compose).toContain(`image: ${DEFAULT_REPOSITORY}:stable`)
    expect(compose).not.toContain('{{IMAGE}}')
    expect(compose).toMatch(/^# Managed by agnes/)

    const yaml = parseYaml(read('config/instance.yaml')) as Record<string, unknown>
    expect(yaml).toEqual({config_version: 1, data_source: {type: 'local'}})

    const state = readStateFile()
    expect(state).toMatchObject({
      adminEmail: 'admin@example.com',
      channel: 'stable',
      knownGood: [],
      project: 'instance',
      rejected: [],
      repository: DEFAULT_REPOSITORY,
      stateVersion: 1,
      tls: 'none',
    })
    expect(state.pin).toBeUndefined()
    expect(state.managedFiles['docker-compose.yml']).toBe(createHash('sha256').update(compose).digest('hex'))
    expect(Date.parse(state.createdAt)).not.toBeNaN()
  })

  it('creates a directory that does not exist yet and names the project after it', async () => {
    const target = join(root, 'Agnes Prod')
    await init(settings(), {}, false, target)
    expect(readStateFile(target).project).toBe('agnes-prod')
    expect(projectNameFor(target)).toBe('agnes-prod')
  })

  it('writes the admin password to .agnes/secrets.env (0600), never to .env', async () => {
    await init(settings(), {adminPassword: 'correct horse $battery'})
    const secretsPath = join(dir, '.agnes', 'secrets.env')
    expect(statSync(secretsPath).mode & 0o777).toBe(0o600)
    expect(EnvFile.parse(readFileSync(secretsPath, 'utf8')).get('AGNES_ADMIN_PASSWORD')).toBe('correct horse $battery')
    expect(read('.env')).not.toContain('correct horse')
  })
})

describe('planInit on an existing instance', () => {
  it('keeps secrets, operator keys and comments, and reports unchanged', async () => {
    await init(settings())
    const envBefore = readEnvFile()
    const secrets = SECRET_KEYS.map((key) => envBefore.get(key))
    appendFileSync(join(dir, '.env'), '\n# operator: our proxy settings\nHTTPS_PROXY=http://proxy.internal:3128\nMY_NOTE=\'free text with $dollar and `ticks`\'\n')
    const envText = read('.env')
    const composeText = read('docker-compose.yml')
    const createdAt = readStateFile().createdAt

    const p = await plan(settings())
    expect(p.fresh).toBe(false)
    expect(p.generatedSecrets).toEqual([])
    expect(actions(p)).toEqual({
      '.env': 'unchanged',
      'config/instance.yaml': 'unchanged',
      'docker-compose.override.yml': 'keep',
      'docker-compose.yml': 'unchanged',
    })
    expect(fileOf(p, '.env').content).toBe(envText)
    await applyInit(p)
    expect(read('.env')).toBe(envText)
    expect(read('docker-compose.yml')).toBe(composeText)
    const envAfter = readEnvFile()
    expect(SECRET_KEYS.map((key) => envAfter.get(key))).toEqual(secrets)
    expect(envAfter.get('MY_NOTE')).toBe('free text with $dollar and `ticks`')
    expect(readStateFile().createdAt).toBe(createdAt)
  })

  it('a changed port is an update whose diff masks every secret value', async () => {
    const jwt = 'a1'.repeat(32)
    const session = 'b2'.repeat(32)
    const token = 'c3'.repeat(32)
    const vault = 'ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg='
    // An operator-ordered .env: the port sits between secrets, so the diff context shows them.
    writeFileSync(
      join(dir, '.env'),
      [`# ops: keep this order`, `JWT_SECRET_KEY=${jwt}`, 'AGNES_HTTP_PORT=8000', `SESSION_SECRET=${session}`, `SCHEDULER_API_TOKEN=${token}`, `AGNES_VAULT_KEY=${vault}`, 'OPERATOR_KEY=kept', ''].join('\n'),
      {mode: 0o600},
    )
    const p = await plan(settings({httpPort: 9000}))
    expect(p.generatedSecrets).toEqual([])
    const env = fileOf(p, '.env')
    expect(env.action).toBe('update')
    expect(env.diff).toBeDefined()
    const diff = env.diff as string
    expect(diff).toContain('-AGNES_HTTP_PORT=8000')
    expect(diff).toContain('+AGNES_HTTP_PORT=9000')
    expect(diff).toContain(' JWT_SECRET_KEY=***')
    expect(diff).toContain(' SESSION_SECRET=***')
    for (const secret of [jwt, session, token, vault]) expect(diff).not.toContain(secret)
    // The content itself keeps the secrets and the operator's lines in place.
    const planned = EnvFile.parse(env.content)
    expect(planned.get('JWT_SECRET_KEY')).toBe(jwt)
    expect(planned.get('AGNES_VAULT_KEY')).toBe(vault)
    expect(env.content.split('\n').slice(0, 3)).toEqual(['# ops: keep this order', `JWT_SECRET_KEY=${jwt}`, 'AGNES_HTTP_PORT=9000'])
    expect(planned.get('OPERATOR_KEY')).toBe('kept')
  })

  it('shows a changed Keboola token in the diff, masked on both sides', async () => {
    const keboola = {dataSource: 'keboola' as const, keboolaUrl: 'https://connection.keboola.com'}
    await init(settings(keboola), {keboolaToken: '123-old-token-abcdef'})
    const p = await plan(settings(keboola), {keboolaToken: '123-new-token-uvwxyz'})
    const diff = fileOf(p, '.env').diff as string
    // The change must be visible (a line removed and one added for the key), without either value.
    expect(diff).toMatch(/^-KEBOOLA_STORAGE_TOKEN=/m)
    expect(diff).toMatch(/^\+KEBOOLA_STORAGE_TOKEN=/m)
    expect(diff).not.toContain('old-token')
    expect(diff).not.toContain('new-token')
  })

  it('never regenerates an existing secret, even a weak one, and warns about it', async () => {
    writeFileSync(join(dir, '.env'), 'JWT_SECRET_KEY=short\nAGNES_VAULT_KEY=not-a-fernet-key\n')
    const p = await plan(settings())
    expect(p.generatedSecrets).toEqual(['SESSION_SECRET', 'SCHEDULER_API_TOKEN'])
    const env = EnvFile.parse(fileOf(p, '.env').content)
    expect(env.get('JWT_SECRET_KEY')).toBe('short')
    expect(env.get('AGNES_VAULT_KEY')).toBe('not-a-fernet-key')
    expect(p.warnings.join('\n')).toMatch(/JWT_SECRET_KEY.*32/)
    expect(p.warnings.join('\n')).toMatch(/AGNES_VAULT_KEY.*Fernet/)
  })

  it('refuses a hand-edited docker-compose.yml (exit 3) unless forced', async () => {
    await init(settings())
    appendFileSync(join(dir, 'docker-compose.yml'), '# my hand edit\n')
    const envText = read('.env')
    const error = await plan(settings()).catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(InvalidInputError)
    expect((error as InvalidInputError).exitCode).toBe(3)
    expect((error as InvalidInputError).message).toContain('docker-compose.yml')
    expect((error as InvalidInputError).message).toContain('--force')
    expect(read('.env')).toBe(envText)

    const forced = await plan(settings(), {}, true)
    const compose = fileOf(forced, 'docker-compose.yml')
    expect(compose.action).toBe('update')
    expect(compose.diff).toContain('-# my hand edit')
    await applyInit(forced)
    expect(read('docker-compose.yml')).not.toContain('# my hand edit')
    // Recorded again: the next plan is clean.
    expect(actions(await plan(settings()))['docker-compose.yml']).toBe('unchanged')
  })

  it('treats a docker-compose.yml agnes never wrote as hand-made', async () => {
    writeFileSync(join(dir, 'docker-compose.yml'), 'services:\n  mine: {image: nginx}\n')
    await expect(plan(settings())).rejects.toBeInstanceOf(InvalidInputError)
  })

  it('updates its own compose file without --force when the pin changes, and drops the pin when unpinned', async () => {
    await init(settings({pin: 'stable-2026.04.3'}))
    expect(read('docker-compose.yml')).toContain(`image: ${DEFAULT_REPOSITORY}:stable-2026.04.3`)
    expect(readStateFile().pin).toBe('stable-2026.04.3')

    const p = await init(settings())
    expect(actions(p)['docker-compose.yml']).toBe('update')
    expect(read('docker-compose.yml')).toContain(`image: ${DEFAULT_REPOSITORY}:stable`)
    expect(read('docker-compose.yml')).not.toContain('stable-2026.04.3')
    expect('pin' in readStateFile()).toBe(false)
  })

  it('keeps an existing override file untouched', async () => {
    const mine = 'services:\n  app:\n    volumes:\n      - ./custom:/app/connectors/custom:ro # mine\n'
    writeFileSync(join(dir, 'docker-compose.override.yml'), mine)
    const p = await init(settings())
    expect(fileOf(p, 'docker-compose.override.yml').action).toBe('keep')
    expect(read('docker-compose.override.yml')).toBe(mine)
  })

  it('turns a hand-broken .env into an input error (exit 3)', async () => {
    writeFileSync(join(dir, '.env'), 'A=1\nTHIS LINE IS BROKEN\n')
    const error = await readExisting(dir).catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(InvalidInputError)
    expect((error as InvalidInputError).message).toContain('line 2')
  })

  it('turns a hand-broken instance.yaml into an input error (exit 3)', async () => {
    mkdirSync(join(dir, 'config'))
    writeFileSync(join(dir, 'config', 'instance.yaml'), 'config_version: 1\ndata_source: [unclosed\n')
    const error = await plan(settings()).catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(InvalidInputError)
    expect((error as InvalidInputError).message).toContain('instance.yaml')
  })
})

/** What Compose v2 does with `${VAR:-default}` / `${VAR}` in the compose file, given .env. */
function composeInterpolate(value: string, env: EnvFile): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g, (_m, name: string, op: string | undefined, fallback: string | undefined) => {
    const v = env.get(name)
    if (op === ':-') return v === undefined || v === '' ? (fallback ?? '') : v
    if (op === '-') return v === undefined ? (fallback ?? '') : v
    return v ?? ''
  })
}

/**
 * The Caddyfile as Caddy reads it inside the caddy container: the container environment comes from the
 * compose file (interpolated from .env); Caddy's `{$VAR:default}` uses the default only when VAR is not
 * set at all (os.LookupEnv), an empty value stays empty.
 */
function caddyfileAsCaddySeesIt(target: string): string {
  const env = EnvFile.parse(read('.env', target))
  const compose = parseYaml(read('docker-compose.yml', target)) as {services: Record<string, {environment?: Record<string, string>}>}
  const containerEnv: Record<string, string> = {}
  for (const [key, value] of Object.entries(compose.services.caddy.environment ?? {})) containerEnv[key] = composeInterpolate(String(value), env)
  return read('Caddyfile', target).replace(/\{\$([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}/g, (_m, name: string, fallback: string | undefined) =>
    name in containerEnv ? containerEnv[name] : (fallback ?? ''),
  )
}

describe('TLS', () => {
  it('acme: CADDY_TLS is `tls <email>`, a Caddyfile is written and the app binds to loopback', async () => {
    const p = await init(settings({acmeEmail: 'certs@example.com', domain: 'agnes.example.com', tls: 'acme'}))
    expect(fileOf(p, 'Caddyfile').action).toBe('create')
    const env = readEnvFile()
    expect(env.get('CADDY_TLS')).toBe('tls certs@example.com')
    expect(env.get('AGNES_HTTP_BIND')).toBe('127.0.0.1')
    expect(env.get('DOMAIN')).toBe('agnes.example.com')
    expect(env.get('SERVER_URL')).toBe('https://agnes.example.com')
    expect(existsSync(join(dir, 'Caddyfile'))).toBe(true)
    const state = readStateFile()
    expect(state.tls).toBe('acme')
    expect(state.managedFiles.Caddyfile).toBe(createHash('sha256').update(read('Caddyfile')).digest('hex'))
    const site = caddyfileAsCaddySeesIt(dir)
    expect(site).toContain('agnes.example.com {')
    expect(site).toMatch(/^\s*tls certs@example\.com \{$/m)
  })

  it('internal: Caddy gets `tls internal`', async () => {
    await init(settings({domain: 'agnes.internal.example', tls: 'internal'}))
    expect(readEnvFile().get('CADDY_TLS')).toBe('tls internal')
    expect(caddyfileAsCaddySeesIt(dir)).toMatch(/^\s*tls internal \{$/m)
  })

  it('files: Caddy serves the certificate files from the given directory', async () => {
    const certs = join(root, 'certs')
    await init(settings({domain: 'agnes.example.com', tls: 'files', tlsCertDir: certs}))
    const env = readEnvFile()
    expect(env.get('AGNES_TLS_CERT_DIR')).toBe(certs)
    expect(env.get('AGNES_HTTP_BIND')).toBe('127.0.0.1')
    expect(caddyfileAsCaddySeesIt(dir)).toMatch(/^\s*tls \/certs\/fullchain\.pem \/certs\/privkey\.pem \{$/m)
  })

  it('with TLS writes the maintenance page once and keeps an edited one', async () => {
    const p = await init(settings({domain: 'agnes.internal.example', tls: 'internal'}))
    expect(fileOf(p, 'static/maintenance.html').action).toBe('create')
    expect(read('static/maintenance.html')).toContain('Agnes is being updated')
    writeFileSync(join(dir, 'static', 'maintenance.html'), '<h1>Acme Corp: back soon</h1>\n')
    const again = await init(settings({domain: 'agnes.internal.example', tls: 'internal'}))
    expect(again.files.some((f) => f.path === 'static/maintenance.html')).toBe(false)
    expect(read('static/maintenance.html')).toBe('<h1>Acme Corp: back soon</h1>\n')
  })

  it('switching TLS off clears CADDY_TLS and publishes the app port again', async () => {
    await init(settings({acmeEmail: 'certs@example.com', domain: 'agnes.example.com', tls: 'acme'}))
    const p = await init(settings({domain: 'agnes.example.com'}))
    expect(p.files.some((f) => f.path === 'Caddyfile')).toBe(false)
    const env = readEnvFile()
    expect(env.get('CADDY_TLS')).toBe('')
    expect(env.get('AGNES_HTTP_BIND')).toBe('0.0.0.0')
    expect(env.get('SERVER_URL')).toBe('http://agnes.example.com:8000')
  })
})

describe('data sources', () => {
  it('keboola writes KEBOOLA_* keys and data_source.keboola.stack_url, keeping the operator comments and keys', async () => {
    mkdirSync(join(dir, 'config'))
    writeFileSync(
      join(dir, 'config', 'instance.yaml'),
      [
        '# Operator: do not remove the extra section',
        'config_version: 1',
        'extra:',
        '  # inner comment',
        '  team: analytics',
        'data_source:',
        '  type: local',
        '  keboola:',
        '    branch: main # feature branch later',
        '',
      ].join('\n'),
    )
    await init(settings({dataSource: 'keboola', keboolaUrl: 'https://connection.eu-central-1.keboola.com'}), {keboolaToken: '123-abcdefghij'})
    const env = readEnvFile()
    expect(env.get('DATA_SOURCE')).toBe('keboola')
    expect(env.get('KEBOOLA_STACK_URL')).toBe('https://connection.eu-central-1.keboola.com')
    expect(env.get('KEBOOLA_STORAGE_TOKEN')).toBe('123-abcdefghij')

    const text = read('config/instance.yaml')
    expect(text).toContain('# Operator: do not remove the extra section')
    expect(text).toContain('# inner comment')
    expect(text).toContain('# feature branch later')
    expect(parseYaml(text)).toEqual({
      config_version: 1,
      data_source: {keboola: {branch: 'main', stack_url: 'https://connection.eu-central-1.keboola.com'}, type: 'keboola'},
      extra: {team: 'analytics'},
    })
  })

  it('bigquery writes its project and location', async () => {
    await init(settings({bigqueryLocation: 'eu', bigqueryProject: 'my-gcp-project', dataSource: 'bigquery'}))
    const env = readEnvFile()
    expect(env.get('BIGQUERY_PROJECT')).toBe('my-gcp-project')
    expect(env.get('BIGQUERY_LOCATION')).toBe('eu')
    expect(parseYaml(read('config/instance.yaml'))).toMatchObject({data_source: {bigquery: {location: 'eu', project: 'my-gcp-project'}, type: 'bigquery'}})
  })
})

interface Step {
  kind: 'input' | 'select'
  match: RegExp
  /** undefined: the user presses Enter and takes the default. */
  answer?: string
  /** When present, the default offered must be exactly this. */
  default?: string
  /** Answers the validator must refuse first (inquirer would ask again). */
  rejected?: string[]
}

/** A Prompter that plays a script and fails the test on any question it does not expect. */
class ScriptedPrompter implements Prompter {
  readonly validationMessages: string[] = []
  constructor(private readonly steps: Step[]) {}

  private next(kind: Step['kind'], message: string, offered: string | undefined): Step {
    const step = this.steps.shift()
    if (!step) throw new Error(`unexpected ${kind} question: ${message}`)
    if (step.kind !== kind || !step.match.test(message)) throw new Error(`expected a ${step.kind} question matching ${step.match}, got ${kind}: ${message}`)
    if ('default' in step) expect(offered, `default offered for "${message}"`).toBe(step.default)
    return step
  }

  async input(options: {message: string; default?: string; validate?: (value: string) => true | string}): Promise<string> {
    const step = this.next('input', options.message, options.default)
    for (const bad of step.rejected ?? []) {
      const verdict = options.validate?.(bad)
      expect(verdict, `validator of "${options.message}" accepted ${JSON.stringify(bad)}`).not.toBe(true)
      this.validationMessages.push(String(verdict))
    }

    const answer = step.answer ?? options.default ?? ''
    if (options.validate) expect(options.validate(answer), `validator of "${options.message}" refused ${JSON.stringify(answer)}`).toBe(true)
    return answer
  }

  async password(options: {message: string}): Promise<string> {
    throw new Error(`unexpected password question: ${options.message}`)
  }

  async select<T extends string>(options: {message: string; choices: Array<Choice<T>>; default?: T}): Promise<T> {
    const step = this.next('select', options.message, options.default)
    const answer = (step.answer ?? options.default) as T
    expect(options.choices.map((choice) => choice.value)).toContain(answer)
    return answer
  }

  async confirm(options: {message: string}): Promise<boolean> {
    throw new Error(`unexpected confirm question: ${options.message}`)
  }

  done(): void {
    expect(this.steps.map((step) => String(step.match)), 'questions that were never asked').toEqual([])
  }
}

/** A wizard whose registry has no version list, so a pinned version is typed (and found). */
function wizardOf(prompter: Prompter): WizardIo {
  return {prompter, registry: {listTags: async () => [], tagExists: async () => true}, say() {}}
}

function freshExisting(): ExistingInstance {
  return {paths: instancePaths(dir)}
}

describe('resolveInitSettings without a terminal', () => {
  it('requires the admin email: InputRequiredError (exit 4) naming --admin-email', async () => {
    const error = await resolveInitSettings({}, freshExisting()).catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(InputRequiredError)
    expect((error as InputRequiredError).exitCode).toBe(4)
    expect((error as InputRequiredError).message).toContain('--admin-email')
    expect((error as InputRequiredError).details).toMatchObject({flag: '--admin-email'})
  })

  it('fills in the defaults around the one required value', async () => {
    expect(await resolveInitSettings({adminEmail: 'admin@example.com'}, freshExisting())).toEqual({
      acmeEmail: undefined,
      adminEmail: 'admin@example.com',
      bigqueryLocation: undefined,
      bigqueryProject: undefined,
      bind: '0.0.0.0',
      channel: 'stable',
      cpus: '2.0',
      dataSource: 'local',
      domain: undefined,
      httpPort: 8000,
      keboolaUrl: undefined,
      memory: '4g',
      pin: undefined,
      repository: DEFAULT_REPOSITORY,
      tls: 'none',
      tlsCertDir: undefined,
    })
  })

  it.each([
    [{tls: 'acme'}, '--domain'],
    [{domain: 'agnes.example.com', tls: 'acme'}, '--acme-email'],
    [{dataSource: 'keboola'}, '--keboola-url'],
    [{dataSource: 'bigquery'}, '--bigquery-project'],
    [{tls: 'files', domain: 'agnes.example.com'}, '--tls-cert-dir'],
  ] as Array<[InitFlagValues, string]>)('with %j requires %s', async (flags, flag) => {
    const error = await resolveInitSettings({adminEmail: 'admin@example.com', ...flags}, freshExisting()).catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(InputRequiredError)
    expect((error as InputRequiredError).exitCode).toBe(4)
    expect((error as InputRequiredError).message).toContain(flag)
  })

  it.each([
    [{httpPort: '80a'}, '--http-port'],
    [{httpPort: '0'}, '--http-port'],
    [{channel: 'beta'}, '--channel'],
    [{tls: 'ssl'}, '--tls'],
    [{dataSource: 'postgres'}, '--data-source'],
    [{memory: 'lots'}, '--memory'],
    [{cpus: '0'}, '--cpus'],
    [{tls: 'acme', domain: 'localhost', acmeEmail: 'a@example.com'}, '--domain'],
    [{tls: 'acme', domain: 'agnes.example.com', acmeEmail: 'nope'}, '--acme-email'],
    [{dataSource: 'keboola', keboolaUrl: 'https://user:pw@connection.keboola.com'}, '--keboola-url'],
    [{image: 'https://ghcr.io/keboola/agnes'}, '--image'],
    [{adminEmail: 'not-an-email'}, '--admin-email'],
  ] as Array<[InitFlagValues, string]>)('rejects %j naming %s (exit 3)', async (flags, flag) => {
    const error = await resolveInitSettings({adminEmail: 'admin@example.com', ...flags}, freshExisting()).catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(InvalidInputError)
    expect((error as InvalidInputError).exitCode).toBe(3)
    expect((error as InvalidInputError).message).toContain(flag)
  })

  it('rejects a pin that is not a version tag (exit 3) and derives the channel from a valid one', async () => {
    await expect(resolveInitSettings({adminEmail: 'admin@example.com', pin: 'stable'}, freshExisting())).rejects.toMatchObject({exitCode: 3})
    const s = await resolveInitSettings({adminEmail: 'admin@example.com', channel: 'stable', pin: 'dev-2026.05.12'}, freshExisting())
    expect(s).toMatchObject({channel: 'dev', pin: 'dev-2026.05.12'})
  })

  it('checks the certificate directory for tls files', async () => {
    const certs = join(root, 'certs')
    mkdirSync(certs)
    writeFileSync(join(certs, 'fullchain.pem'), '-----BEGIN CERTIFICATE-----\n')
    const flags = {adminEmail: 'admin@example.com', domain: 'agnes.example.com', tls: 'files', tlsCertDir: certs}
    await expect(resolveInitSettings(flags, freshExisting())).rejects.toThrow(/--tls-cert-dir: .*privkey\.pem is missing/)
    writeFileSync(join(certs, 'privkey.pem'), '')
    await expect(resolveInitSettings(flags, freshExisting())).rejects.toThrow(/privkey\.pem is empty/)
    writeFileSync(join(certs, 'privkey.pem'), '-----BEGIN PRIVATE KEY-----\n')
    expect((await resolveInitSettings(flags, freshExisting())).tlsCertDir).toBe(certs)
  })

  it('reuses what an existing instance has on disk as the defaults', async () => {
    const first = await resolveInitSettings(
      {
        acmeEmail: 'certs@example.com',
        adminEmail: 'owner@example.com',
        cpus: '4',
        dataSource: 'keboola',
        domain: 'agnes.example.com',
        httpPort: '9001',
        image: 'registry.example.com/mirror/agnes',
        keboolaUrl: 'https://connection.keboola.com',
        memory: '8g',
        pin: 'stable-2026.04.3',
        tls: 'acme',
      },
      freshExisting(),
    )
    await init(first, {keboolaToken: '123-token-abcdef'})
    // A re-run with no flags at all, not even the required admin email.
    const again = await resolveInitSettings({}, await readExisting(dir))
    expect(again).toEqual(first)
    // And a flag still wins over what is on disk.
    expect((await resolveInitSettings({httpPort: '9002'}, await readExisting(dir))).httpPort).toBe(9002)
  })

  it('rejects an invalid value found in an existing .env, naming the flag to fix it with', async () => {
    const existing: ExistingInstance = {env: EnvFile.parse('AGNES_HTTP_PORT=eighty\n'), paths: instancePaths(dir)}
    const error = await resolveInitSettings({adminEmail: 'admin@example.com'}, existing).catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(InvalidInputError)
    expect((error as Error).message).toContain('--http-port')
  })
})

describe('resolveInitSettings with a wizard', () => {
  it('asks every question in order, re-asks on invalid answers, and follows the pin branch', async () => {
    const prompter = new ScriptedPrompter([
      {default: DEFAULT_REPOSITORY, kind: 'input', match: /^Image repository/},
      {answer: 'pin', default: 'stable', kind: 'select', match: /Which Agnes versions/},
      {answer: 'stable-2026.04.3', kind: 'input', match: /^Version to pin/, rejected: ['stable', 'latest', 'stable-2026.13.1', '']},
      {answer: '8080', default: '8000', kind: 'input', match: /^HTTP port/, rejected: ['80a', '0', '65536']},
      {answer: 'acme', default: 'none', kind: 'select', match: /^TLS/},
      {answer: 'Agnes.Example.com', default: undefined, kind: 'input', match: /^Public domain/, rejected: ['localhost', 'https://agnes.example.com', '']},
      {answer: 'certs@example.com', kind: 'input', match: /^ACME account email/, rejected: ['certs']},
      {answer: 'admin@example.com', default: undefined, kind: 'input', match: /^Admin email/, rejected: ['admin', '']},
      {answer: 'keboola', default: 'local', kind: 'select', match: /^Data source/},
      {answer: 'https://connection.keboola.com/', kind: 'input', match: /^Keboola stack URL/, rejected: ['ftp://connection.keboola.com', 'https://u:p@connection.keboola.com']},
      {answer: '1.5g', default: '4g', kind: 'input', match: /^App memory limit/, rejected: ['lots', '32m']},
      {default: '2.0', kind: 'input', match: /^App CPU limit/, rejected: ['0']},
    ])
    const s = await resolveInitSettings({}, freshExisting(), wizardOf(prompter))
    prompter.done()
    expect(s).toEqual({
      acmeEmail: 'certs@example.com',
      adminEmail: 'admin@example.com',
      bigqueryLocation: undefined,
      bigqueryProject: undefined,
      bind: '127.0.0.1',
      channel: 'stable',
      cpus: '2.0',
      dataSource: 'keboola',
      domain: 'agnes.example.com',
      httpPort: 8080,
      keboolaUrl: 'https://connection.keboola.com',
      memory: '1.5g',
      pin: 'stable-2026.04.3',
      repository: DEFAULT_REPOSITORY,
      tls: 'acme',
      tlsCertDir: undefined,
    })
    // The wizard shows the same messages as the flags would, naming them.
    const messages = prompter.validationMessages.join('\n')
    for (const flag of ['--http-port', '--domain', '--acme-email', '--admin-email', '--keboola-url', '--memory', '--cpus']) expect(messages).toContain(flag)
  })

  it('takes the channel from a pinned dev version', async () => {
    const prompter = new ScriptedPrompter([
      {kind: 'input', match: /^Image repository/},
      {answer: 'pin', kind: 'select', match: /Which Agnes versions/},
      {answer: 'dev-2026.05.12', kind: 'input', match: /^Version to pin/},
      {kind: 'input', match: /^HTTP port/},
      {kind: 'select', match: /^TLS/},
      {default: '0.0.0.0', kind: 'select', match: /^Who may reach the app port/},
      {answer: '', default: '', kind: 'input', match: /^Public domain/},
      {answer: 'admin@example.com', kind: 'input', match: /^Admin email/},
      {kind: 'select', match: /^Data source/},
      {kind: 'input', match: /^App memory limit/},
      {kind: 'input', match: /^App CPU limit/},
    ])
    const s = await resolveInitSettings({}, freshExisting(), wizardOf(prompter))
    prompter.done()
    expect(s).toMatchObject({channel: 'dev', domain: undefined, pin: 'dev-2026.05.12', tls: 'none'})
  })

  it('offers what the instance already has as the defaults', async () => {
    const state: InstanceState = {
      adminEmail: 'owner@example.com',
      channel: 'stable',
      createdAt: '2026-01-01T00:00:00.000Z',
      knownGood: [],
      managedFiles: {},
      pin: 'stable-2026.04.3',
      project: 'instance',
      rejected: [],
      repository: 'registry.example.com/mirror/agnes',
      stateVersion: 1,
      tls: 'acme',
    }
    const env = EnvFile.parse(
      ['AGNES_HTTP_PORT=9001', 'DOMAIN=agnes.example.com', "CADDY_TLS='tls certs@example.com'", 'DATA_SOURCE=bigquery', 'BIGQUERY_PROJECT=my-gcp-project', 'BIGQUERY_LOCATION=eu', 'AGNES_APP_MEM_LIMIT=8g', 'AGNES_APP_CPUS=4'].join('\n'),
    )
    const prompter = new ScriptedPrompter([
      {default: 'registry.example.com/mirror/agnes', kind: 'input', match: /^Image repository/},
      {default: 'pin', kind: 'select', match: /Which Agnes versions/},
      {default: 'stable-2026.04.3', kind: 'input', match: /^Version to pin/},
      {default: '9001', kind: 'input', match: /^HTTP port/},
      {default: 'acme', kind: 'select', match: /^TLS/},
      {default: 'agnes.example.com', kind: 'input', match: /^Public domain/},
      {default: 'certs@example.com', kind: 'input', match: /^ACME account email/},
      {default: 'owner@example.com', kind: 'input', match: /^Admin email/},
      {default: 'bigquery', kind: 'select', match: /^Data source/},
      {default: 'my-gcp-project', kind: 'input', match: /^BigQuery project/},
      {default: 'eu', kind: 'input', match: /^BigQuery location/},
      {default: '8g', kind: 'input', match: /^App memory limit/},
      {default: '4', kind: 'input', match: /^App CPU limit/},
    ])
    const s = await resolveInitSettings({}, {env, paths: instancePaths(dir), state}, wizardOf(prompter))
    prompter.done()
    expect(s).toMatchObject({
      acmeEmail: 'certs@example.com',
      adminEmail: 'owner@example.com',
      bigqueryLocation: 'eu',
      bigqueryProject: 'my-gcp-project',
      channel: 'stable',
      cpus: '4',
      dataSource: 'bigquery',
      domain: 'agnes.example.com',
      httpPort: 9001,
      memory: '8g',
      pin: 'stable-2026.04.3',
      repository: 'registry.example.com/mirror/agnes',
      tls: 'acme',
    })
  })

  it('asks nothing that a flag already answered', async () => {
    const prompter = new ScriptedPrompter([])
    const s = await resolveInitSettings(
      {adminEmail: 'admin@example.com', bind: '127.0.0.1', channel: 'dev', cpus: '1', dataSource: 'local', domain: '', httpPort: '8001', image: DEFAULT_REPOSITORY, memory: '2g', tls: 'none'},
      freshExisting(),
      wizardOf(prompter),
    )
    prompter.done()
    expect(s).toMatchObject({adminEmail: 'admin@example.com', bind: '127.0.0.1', channel: 'dev', cpus: '1', domain: undefined, httpPort: 8001, memory: '2g', tls: 'none'})
  })

  it('the scripted prompter fails the test on a question it did not expect', async () => {
    const prompter = new ScriptedPrompter([{kind: 'input', match: /^Image repository/}])
    await expect(resolveInitSettings({}, freshExisting(), wizardOf(prompter))).rejects.toThrow(/unexpected select question: Which Agnes versions/)
  })
})
