// Validation of everything configure and register-table take before a request is sent, and proof that the
// request bodies they build validate against the Agnes OpenAPI subset.
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {EnvFile} from '../../../src/lib/instance/env-file.js'
import {AgnesError} from '../../../src/lib/errors.js'
import {instancePaths} from '../../../src/lib/instance/paths.js'
import {Instance, InstanceState} from '../../../src/lib/instance/state.js'
import {Prompter} from '../../../src/lib/ui/prompt.js'
import {configureFingerprint} from '../../../src/lib/setup/applied-record.js'
import {describeConnectionChange} from '../../../src/lib/setup/configure.js'
import {ConfigureFlags, resolveConfigureSettings} from '../../../src/lib/setup/configure-settings.js'
import {readSetupFile, readTablesFile} from '../../../src/lib/setup/setup-file.js'
import {parseQualifiedIdentifier, validateTable, validateTables} from '../../../src/lib/setup/tables.js'
import {validateSchema} from '../../standin/validate.mjs'

let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agnes-setup-validation-'))
})

afterAll(async () => {
  await rm(dir, {force: true, recursive: true})
})

function thrown(run: () => unknown): AgnesError {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(AgnesError)
    return error as AgnesError
  }

  throw new Error('expected an error')
}

async function rejected(promise: Promise<unknown>): Promise<AgnesError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(AgnesError)
    return error as AgnesError
  }

  throw new Error('expected an error')
}

describe('table identifiers', () => {
  it.each([
    ['orders', 'orders'],
    ['Orders', 'orders'],
    ['  Big Orders ', 'big_orders'],
    ['_tmp_1', '_tmp_1'],
  ])('accepts the name %j (id %j)', (name, id) => {
    const {table, errors} = validateTable({name, sourceType: 'local'})
    expect(errors).toEqual([])
    expect(table?.id).toBe(id)
  })

  it.each(['1orders', 'orders;drop table x', 'or-ders', "o'rders", 'orders"', 'ordérs', 'a.b', ''])('rejects the name %j', (name) => {
    const {table, errors} = validateTable({name, sourceType: 'local'})
    expect(table).toBeUndefined()
    expect(errors.join('\n')).toMatch(/name/)
  })

  it('parses bare and quoted dotted identifiers, and nothing that could inject', () => {
    expect(parseQualifiedIdentifier('in.c-crm.orders')).toEqual(['in', 'c-crm', 'orders'])
    expect(parseQualifiedIdentifier('"in.c-crm"."orders"')).toEqual(['in.c-crm', 'orders'])
    expect(parseQualifiedIdentifier('"in.c-crm".orders')).toEqual(['in.c-crm', 'orders'])
    for (const bad of ['a;b', 'a b', '"a"b"', 'a..b', 'a.', '.a', '"a', '"a;b"', "a'b", 'a/*x*/', 'a\nb', '']) {
      expect(parseQualifiedIdentifier(bad), bad).toBeUndefined()
    }
  })

  it('takes a full Keboola table id from --table', () => {
    const {table} = validateTable({name: 'orders', sourceType: 'keboola', table: 'in.c-crm.orders'})
    expect(table?.request).toEqual({bucket: 'in.c-crm', name: 'orders', source_table: 'orders', source_type: 'keboola'})
    const quoted = validateTable({name: 'orders', sourceType: 'keboola', table: '"in.c-crm"."orders"'})
    expect(quoted.table?.request.bucket).toBe('in.c-crm')
  })

  it('checks Keboola and BigQuery coordinates', () => {
    expect(validateTable({bucket: 'in.c-crm', name: 'x', sourceType: 'keboola', table: 'orders'}).errors).toEqual([])
    expect(validateTable({name: 'x', sourceType: 'keboola', table: 'orders'}).errors.join()).toMatch(/need --bucket and --table/)
    expect(validateTable({bucket: 'crm', name: 'x', sourceType: 'keboola', table: 'orders'}).errors.join()).toMatch(/Keboola bucket id/)
    expect(validateTable({bucket: 'analytics', name: 'x', sourceType: 'bigquery', table: 'events'}).errors).toEqual([])
    expect(validateTable({bucket: 'ana-lytics', name: 'x', sourceType: 'bigquery', table: 'events'}).errors.join()).toMatch(/BigQuery dataset/)
  })

  it('checks the enumerations, the mode rules, keys, description and schedule', () => {
    const errors = validateTable({
      description: 'line one\nline two',
      name: 'x',
      primaryKey: 'id, bad key',
      queryMode: 'lazy',
      sourceType: 'oracle',
      syncSchedule: 'hourly',
      syncStrategy: 'sometimes',
    }).errors.join('\n')
    for (const field of ['source-type', 'query-mode', 'sync-strategy', 'primary-key', 'description', 'sync-schedule']) expect(errors).toContain(field)
    expect(validateTable({name: 'x', sourceType: 'snowflake', table: 'DB.S.T'}).errors.join()).toMatch(/materialized or remote/)
    for (const schedule of ['every 15m', 'every 2h', 'daily 06:00', 'daily 06:00,18:30', 'cron 0 */2 * * *']) {
      expect(validateTable({name: 'x', sourceType: 'local', syncSchedule: schedule}).errors, schedule).toEqual([])
    }

    for (const schedule of ['daily 25:00', 'every 0m', 'cron * * *', 'cron 0 0 * * *; rm -rf /']) {
      expect(validateTable({name: 'x', sourceType: 'local', syncSchedule: schedule}).errors, schedule).not.toEqual([])
    }
  })

  it('normalises full-refresh to full_refresh and splits primary keys', () => {
    const {table} = validateTable({name: 'x', primaryKey: ['id', 'region'], sourceType: 'local', syncStrategy: 'full-refresh'})
    expect(table?.request).toMatchObject({primary_key: ['id', 'region'], sync_strategy: 'full_refresh'})
  })

  it('reports every problem at once and duplicates among the tables (exit 3)', () => {
    const error = thrown(() =>
      validateTables([
        {input: {name: 'orders', sourceType: 'local'}, where: 'tables[0]'},
        {input: {name: 'Orders', sourceType: 'local'}, where: 'tables[1]'},
        {input: {name: '9x', sourceType: 'local'}, where: 'tables[2]'},
      ]),
    )
    expect(error.exitCode).toBe(3)
    expect(error.message).toContain('tables[1]: table id "orders" is given twice')
    expect(error.message).toContain('tables[2]: name')
    expect(error.hint).toContain('Nothing was sent')
  })

  it('builds register-table bodies that validate against RegisterTableRequest', () => {
    const inputs = [
      {name: 'orders', sourceType: 'keboola', table: 'in.c-crm.orders', primaryKey: 'id', queryMode: 'materialized', syncSchedule: 'every 1h', description: 'Orders'},
      {bucket: 'analytics', name: 'events', queryMode: 'remote', sourceType: 'bigquery', table: 'events'},
      {name: 'files', sourceType: 'local'},
      {name: 'sf', queryMode: 'materialized', sourceType: 'snowflake', table: 'DB.PUBLIC.T', syncStrategy: 'incremental'},
    ]
    for (const input of inputs) {
      const {table} = validateTable(input)
      expect(validateSchema('RegisterTableRequest', table?.request), input.name).toEqual({errors: [], ok: true})
    }
  })
})

describe('setup files', () => {
  async function file(name: string, text: string): Promise<string> {
    const path = join(dir, name)
    await writeFile(path, text)
    return path
  }

  it('reads every key, accepts snake_case and resolves *-file paths next to the file', async () => {
    const path = await file(
      'setup.yaml',
      [
        'admin-email: admin@example.com',
        'admin_password_file: secrets/admin',
        'data-source: keboola',
        'keboola-url: https://connection.keboola.com',
        'keboola-token-file: /run/secrets/kbc',
        'instance-name: Acme',
        'discover: true',
        'sync: true',
        'wait: true',
        'wait-timeout: 600',
        'tables:',
        '  - {name: orders, source-type: keboola, table: in.c-crm.orders, primary-key: [id]}',
      ].join('\n'),
    )
    const setup = await readSetupFile(path)
    expect(setup).toMatchObject({
      adminEmail: 'admin@example.com',
      adminPasswordFile: join(dir, 'secrets', 'admin'),
      dataSource: 'keboola',
      discover: true,
      keboolaTokenFile: '/run/secrets/kbc',
      waitTimeout: 600,
    })
    expect(setup.tables?.[0]).toEqual({input: {name: 'orders', primaryKey: ['id'], sourceType: 'keboola', table: 'in.c-crm.orders'}, where: 'tables[0]'})
  })

  it('reports unknown keys with a suggestion, wrong types and inline secrets, all at once (exit 3)', async () => {
    const path = await file('bad.yaml', 'admin-emial: a@b.cz\ndiscover: yes please\nkeboola-token: abc\ntables:\n  - {name: x, buckt: y}\n')
    const error = await rejected(readSetupFile(path))
    expect(error.exitCode).toBe(3)
    expect(error.message).toContain('unknown key "admin-emial" (did you mean "admin-email"?)')
    expect(error.message).toContain('discover: must be true or false')
    expect(error.message).toContain('"keboola-token" would put a secret into the file')
    expect(error.message).toContain('tables[0]: unknown key "buckt" (did you mean "bucket"?)')
    expect(error.message).not.toContain('abc')
  })

  it('reports YAML syntax errors with the line', async () => {
    const error = await rejected(readSetupFile(await file('broken.yaml', 'a: [1,\n')))
    expect(error.exitCode).toBe(3)
    expect(error.message).toMatch(/broken\.yaml:\d+:\d+ is not valid YAML/)
  })

  it('reads a tables file as a list or a mapping with tables', async () => {
    expect(await readTablesFile(await file('t1.yaml', '- name: a\n- name: b\n'))).toHaveLength(2)
    expect(await readTablesFile(await file('t2.yaml', 'tables:\n  - name: a\n'))).toHaveLength(1)
    expect((await rejected(readTablesFile(await file('t3.yaml', 'tables: []\n')))).message).toContain('holds no tables')
    expect((await rejected(readTablesFile(await file('t4.yaml', 'tabels: []\n')))).message).toContain('did you mean "tables"')
  })
})

describe('configure settings', () => {
  function instance(env: string, state: Partial<InstanceState> = {}): Instance {
    return {
      env: EnvFile.parse(env),
      paths: instancePaths(join(dir, 'instance')),
      state: {adminEmail: 'admin@example.com', channel: 'stable', createdAt: '', knownGood: [], managedFiles: {}, project: 'x', rejected: [], repository: 'r', stateVersion: 1, tls: 'none', ...state},
    }
  }

  const context = (overrides: Partial<Parameters<typeof resolveConfigureSettings>[1]> = {}) => ({env: {}, json: false, ownInstance: true, ...overrides})

  it('takes its defaults from the instance (.env, state) and validates against ConfigureRequest', async () => {
    const settings = await resolveConfigureSettings(
      {generatePassword: true},
      context({instance: instance('DATA_SOURCE=keboola\nKEBOOLA_STACK_URL=https://connection.keboola.com/\nKEBOOLA_STORAGE_TOKEN=kbc-token-123456\n')}),
    )
    expect(settings.dataSource).toEqual({data_source: 'keboola', keboola_token: 'kbc-token-123456', keboola_url: 'https://connection.keboola.com'})
    expect(settings.admin).toMatchObject({email: 'admin@example.com', passwordOrigin: 'generated'})
    expect(settings.admin?.password).toHaveLength(20)
    expect(validateSchema('ConfigureRequest', settings.dataSource).ok).toBe(true)
    expect(validateSchema('BootstrapRequest', {email: settings.admin?.email, password: settings.admin?.password}).ok).toBe(true)
  })

  it('builds valid bodies for bigquery and local, with instance name and domain', async () => {
    const flags: ConfigureFlags = {allowedDomain: 'Example.com', bigqueryLocation: 'EU', bigqueryProject: 'acme-analytics', dataSource: 'bigquery', instanceName: 'Acme', passwordlessAdmin: true}
    const settings = await resolveConfigureSettings(flags, context({instance: instance('')}))
    expect(settings.dataSource).toEqual({allowed_domain: 'example.com', bigquery_location: 'EU', bigquery_project: 'acme-analytics', data_source: 'bigquery', instance_name: 'Acme'})
    expect(validateSchema('ConfigureRequest', settings.dataSource).ok).toBe(true)
    expect(settings.admin?.passwordOrigin).toBe('none')
    const local = await resolveConfigureSettings({adminEmail: 'ops@example.com', dataSource: 'local', passwordlessAdmin: true}, context())
    expect(local.dataSource).toEqual({data_source: 'local'})
  })

  it('a missing value without a terminal is exit 4 naming the flag', async () => {
    expect((await rejected(resolveConfigureSettings({}, context()))).details?.flag).toBe('--data-source')
    const keboola = await rejected(resolveConfigureSettings({dataSource: 'keboola'}, context()))
    expect([keboola.exitCode, keboola.details?.flag]).toEqual([4, '--keboola-url'])
    const token = await rejected(resolveConfigureSettings({dataSource: 'keboola', keboolaUrl: 'https://connection.keboola.com'}, context()))
    expect([token.exitCode, token.details?.flag]).toEqual([4, '--keboola-token-file'])
    const password = await rejected(resolveConfigureSettings({adminEmail: 'a@example.com', dataSource: 'local'}, context()))
    expect([password.exitCode, password.details?.flag]).toEqual([4, '--admin-password-file'])
  })

  it('without a terminal and without a password, generates one for its own instance, kept only, and prefers a kept one', async () => {
    const own = instance('DATA_SOURCE=local\n')
    await rm(own.paths.secretsFile, {force: true})
    const settings = await resolveConfigureSettings({}, context({instance: own}))
    expect(settings.admin).toMatchObject({email: 'admin@example.com', keptOnly: true, passwordOrigin: 'generated'})
    expect(settings.admin?.password).toHaveLength(20)
    expect(settings.secretsFile).toBe(own.paths.secretsFile)
    await mkdir(own.paths.agnesDir, {recursive: true})
    await writeFile(own.paths.secretsFile, 'AGNES_ADMIN_PASSWORD=kept-before-0123\n', {mode: 0o600})
    const again = await resolveConfigureSettings({}, context({instance: own}))
    expect(again.admin).toMatchObject({password: 'kept-before-0123', passwordOrigin: 'secrets-file'})
    await rm(own.paths.secretsFile)
    const elsewhere = await rejected(resolveConfigureSettings({}, context({instance: own, ownInstance: false})))
    expect([elsewhere.exitCode, elsewhere.details?.flag]).toEqual([4, '--admin-password-file'])
  })

  it('a bad value is exit 3', async () => {
    const cases: ConfigureFlags[] = [
      {dataSource: 'csv'},
      {dataSource: 'bigquery', bigqueryProject: 'My Project'},
      {dataSource: 'keboola', keboolaUrl: 'ftp://x'},
      {dataSource: 'local', adminEmail: 'not-an-email'},
      {dataSource: 'local', allowedDomain: 'http://x'},
      {dataSource: 'local', wait: true},
      {dataSource: 'local', adminPasswordStdin: true, keboolaTokenStdin: true},
      {dataSource: 'local', adminEmail: 'a@example.com', passwordlessAdmin: true, generatePassword: true},
    ]
    for (const flags of cases) expect((await rejected(resolveConfigureSettings(flags, context()))).exitCode, JSON.stringify(flags)).toBe(3)
    const short = await rejected(resolveConfigureSettings({adminEmail: 'a@example.com', dataSource: 'local'}, context({env: {AGNES_ADMIN_PASSWORD: 'short'}})))
    expect(short.message).toContain('at least 8 characters')
  })

  it('a generated password for an instance elsewhere under --json needs --reveal-password', async () => {
    const error = await rejected(resolveConfigureSettings({adminEmail: 'a@example.com', dataSource: 'local', generatePassword: true}, context({json: true})))
    expect(error.exitCode).toBe(3)
    expect(error.hint).toContain('--reveal-password')
  })

  it('runs a short wizard when a terminal is present', async () => {
    const answers: Record<string, string | boolean> = {
      'Data source': 'keboola',
      'Email of the first admin (empty: skip creating one)': 'ada@example.com',
      'Keboola stack URL': 'https://connection.eu-central-1.keboola.com',
      'Keboola Storage token (hidden)': 'kbc-secret-token',
      'Password for the admin ada@example.com (hidden; empty: generate one)': 'correct horse battery',
      'The same password again': 'correct horse battery',
    }
    const asked: string[] = []
    const answer = async (options: {message: string}) => {
      asked.push(options.message)
      if (!(options.message in answers)) throw new Error(`unexpected question: ${options.message}`)
      return answers[options.message]
    }

    const prompter = {confirm: answer, input: answer, password: answer, select: answer} as unknown as Prompter
    const settings = await resolveConfigureSettings({}, context({prompter}))
    expect(settings.dataSource).toEqual({data_source: 'keboola', keboola_token: 'kbc-secret-token', keboola_url: 'https://connection.eu-central-1.keboola.com'})
    expect(settings.admin).toMatchObject({email: 'ada@example.com', password: 'correct horse battery', passwordOrigin: 'prompt'})
    expect(asked).toHaveLength(6)
  })

  it('asks for both passwords again when they differ, instead of failing at the end', async () => {
    const passwords = ['correct horse battery', 'correct horse batterY', 'correct horse staple', 'correct horse staple']
    const asked: string[] = []
    const prompter = {
      input: async () => 'ada@example.com',
      password: async (options: {message: string}) => {
        asked.push(options.message)
        return passwords.shift()
      },
    } as unknown as Prompter
    const settings = await resolveConfigureSettings({dataSource: 'local'}, context({prompter}))
    expect(settings.admin).toMatchObject({password: 'correct horse staple', passwordOrigin: 'prompt'})
    expect(asked[2]).toMatch(/^The two passwords differed/)
  })

  it('the fingerprint of applied settings changes with the settings, not with the confirmation, and hides the token', () => {
    const base = {data_source: 'keboola' as const, keboola_token: 'secret-token-1', keboola_url: 'https://a'}
    expect(configureFingerprint(base)).toBe(configureFingerprint({...base, confirm_connection_change: true}))
    expect(configureFingerprint(base)).not.toBe(configureFingerprint({...base, keboola_token: 'secret-token-2'}))
    expect(configureFingerprint(base)).not.toContain('secret')
  })

  it('describes a connection change as a readable list', () => {
    const lines = describeConnectionChange({affectedTables: 7, changes: [{after: 'https://b', before: 'https://a', field: 'stack_url'}], sampleTables: ['orders', 'customers'], source: 'keboola'})
    expect(lines).toEqual(['This repoints the keboola connection that 7 registered table(s) read from (e.g. orders, customers, …):', '  - stack_url: https://a → https://b'])
  })
})
