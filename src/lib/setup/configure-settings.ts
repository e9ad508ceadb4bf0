import {ConfigureRequest} from '../api/agnes-api.js'
import {InputRequiredError, InvalidInputError} from '../errors.js'
import {Instance} from '../instance/state.js'
import {Prompter} from '../ui/prompt.js'
import {registerSecret} from '../secrets/redact.js'
import {readSecret, refuseControlCharacters} from '../secrets/input.js'
import {generatePassword} from '../secrets/generate.js'
import {validateChoice, validateDomain, validateEmail, validateHttpUrl} from '../validate.js'
import {AdminSettings, readStoredAdminPassword} from './admin.js'
import {SetupFile, readSetupFile} from './setup-file.js'
import {ValidTable, validateTables} from './tables.js'

export const CONFIGURABLE_SOURCES = ['keboola', 'bigquery', 'local'] as const
export type ConfigurableSource = (typeof CONFIGURABLE_SOURCES)[number]

export const DEFAULT_WAIT_TIMEOUT_SECONDS = 1800
const MIN_PASSWORD_LENGTH = 8
const GCP_PROJECT = /^(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/
const BIGQUERY_LOCATION = /^[A-Za-z0-9-]{2,40}$/
const MAX_INSTANCE_NAME = 100

/** What the configure command got from flags (oclif has already merged their AGNES_* environment twins). */
export interface ConfigureFlags {
  fromFile?: string
  adminEmail?: string
  adminName?: string
  adminPasswordFile?: string
  adminPasswordStdin?: boolean
  generatePassword?: boolean
  passwordlessAdmin?: boolean
  revealPassword?: boolean
  dataSource?: string
  keboolaUrl?: string
  keboolaTokenFile?: string
  keboolaTokenStdin?: boolean
  bigqueryProject?: string
  bigqueryLocation?: string
  instanceName?: string
  allowedDomain?: string
  confirmConnectionChange?: boolean
  discover?: boolean
  dryRun?: boolean
  sync?: boolean
  wait?: boolean
  waitTimeout?: number
}

export interface ConfigureContext {
  env: NodeJS.ProcessEnv
  /** The instance in --dir, when there is one (it gives defaults: admin email, data source, tokens). */
  instance?: Instance
  /** True when the target URL is where that instance is published: only then are the secrets in its files used. */
  ownInstance: boolean
  prompter?: Prompter
  json: boolean
  stdin?: NodeJS.ReadableStream
}

/** Everything configure will do, validated, with secrets resolved. */
export interface ConfigureSettings {
  admin?: AdminSettings
  /** Why no admin is created, when admin is undefined. */
  adminSkipped?: string
  dataSource: ConfigureRequest
  confirmConnectionChange: boolean
  discover: boolean
  dryRun: boolean
  sync: boolean
  wait: boolean
  waitTimeoutMs: number
  tables: ValidTable[]
  /** A generated password goes into the JSON result only when this is set. */
  revealPassword: boolean
  /** Where a generated password is kept; undefined for an instance elsewhere. */
  secretsFile?: string
}

function optionalText(value: string | undefined, flag: string, maxLength: number): string | undefined {
  const text = value?.trim()
  if (text === undefined || text === '') return undefined
  if (/[\u0000-\u001F\u007F]/.test(text) || text.length > maxLength) throw new InvalidInputError(`${flag}: must be one line of at most ${maxLength} characters`, {hint: `Shorten ${flag} to one line of plain text.`})
  return text
}

async function askOrRequire(
  value: string | undefined,
  ask: {prompter?: Prompter; flag: string; what: string; message: string; default?: string},
): Promise<string> {
  if (value !== undefined && value.trim() !== '') return value
  if (!ask.prompter) throw new InputRequiredError(ask.flag, ask.what)
  return ask.prompter.input({default: ask.default, message: ask.message, validate: (answer) => (answer.trim() === '' ? `${ask.what} is required` : true)})
}

function checkPasswordLength(password: string, origin: string): string {
  if (password.length < MIN_PASSWORD_LENGTH) throw new InvalidInputError(`the admin password (${origin}) must have at least ${MIN_PASSWORD_LENGTH} characters`, {hint: `Choose a longer password, or pass --generate-password to have one made.`})
  return password
}

async function promptNewPassword(prompter: Prompter, email: string): Promise<string | undefined> {
  const validate = (answer: string) => (answer === '' || answer.length >= MIN_PASSWORD_LENGTH ? true : `at least ${MIN_PASSWORD_LENGTH} characters, or empty to generate one`)
  let message = `Password for the admin ${email} (hidden; empty: generate one)`
  for (;;) {
    const first = await prompter.password({message, validate})
    if (first === '') return undefined
    registerSecret(first)
    if ((await prompter.password({message: 'The same password again'})) === first) return first
    message = `The two passwords differed. Password for the admin ${email} (hidden; empty: generate one)`
  }
}

async function resolveAdmin(
  flags: ConfigureFlags,
  file: SetupFile,
  context: ConfigureContext,
): Promise<{admin?: AdminSettings; skipped?: string}> {
  const {instance, prompter, env} = context
  let email = flags.adminEmail ?? file.adminEmail ?? instance?.state.adminEmail
  if (email === undefined && prompter) email = await prompter.input({message: 'Email of the first admin (empty: skip creating one)'})
  if (email === undefined || email.trim() === '') {
    return {skipped: 'no admin email given (--admin-email, AGNES_ADMIN_EMAIL, or admin-email in the setup file)'}
  }

  email = validateEmail(email, '--admin-email')
  const name = optionalText(flags.adminName ?? file.adminName, '--admin-name', 200)
  const bootstrapToken = env.AGNES_BOOTSTRAP_TOKEN ? refuseControlCharacters(env.AGNES_BOOTSTRAP_TOKEN, 'AGNES_BOOTSTRAP_TOKEN', 'bootstrap token') : undefined
  registerSecret(bootstrapToken)
  const base = {bootstrapToken, email, ...(name ? {name} : {})}
  const generate = flags.generatePassword || file.generatePassword
  const passwordless = flags.passwordlessAdmin || file.passwordlessAdmin
  const passwordFile = flags.adminPasswordFile ?? file.adminPasswordFile
  if (passwordless && (generate || passwordFile || flags.adminPasswordStdin)) {
    throw new InvalidInputError('--passwordless-admin cannot be combined with a password (--generate-password, --admin-password-file, --admin-password-stdin)', {hint: 'Pass either --passwordless-admin or one way of giving the password, not both.'})
  }

  if (passwordless) return {admin: {...base, passwordOrigin: 'none'}}

  const given = await readSecret(
    {envVar: 'AGNES_ADMIN_PASSWORD', file: passwordFile, fileFlag: '--admin-password-file', fromStdin: flags.adminPasswordStdin, label: 'admin password', stdinFlag: '--admin-password-stdin'},
    {env, required: false, stdin: context.stdin},
  )
  if (given !== undefined) {
    const origin = passwordFile ? 'file' : flags.adminPasswordStdin ? 'stdin' : 'env'
    return {admin: {...base, password: checkPasswordLength(given, origin), passwordOrigin: origin}}
  }

  const stored = instance ? await readStoredAdminPassword(instance.paths.secretsFile) : undefined
  if (stored !== undefined && !context.ownInstance) {
    throw new InvalidInputError(`the admin password in ${instance?.paths.secretsFile} is sent only to that instance, and --url points elsewhere`, {
      hint: 'Give the admin password for the instance at --url with AGNES_ADMIN_PASSWORD, --admin-password-file or --admin-password-stdin, or leave out --url.',
    })
  }

  if (stored !== undefined) {
    registerSecret(stored)
    return {admin: {...base, password: stored, passwordOrigin: 'secrets-file'}}
  }

  const ownSecretsFile = instance && context.ownInstance
  if (!generate && prompter) {
    const typed = await promptNewPassword(prompter, email)
    if (typed !== undefined) return {admin: {...base, password: typed, passwordOrigin: 'prompt'}}
  } else if (!generate && ownSecretsFile) {
    // Nobody to ask and nothing given: the Quick start's bare `agnes configure`. The password is generated
    // once, kept in .agnes/secrets.env (read back above on every later run) and never printed.
    const password = generatePassword()
    if (!(context.json && flags.revealPassword)) registerSecret(password)
    return {admin: {...base, keptOnly: true, password, passwordOrigin: 'generated'}}
  } else if (!generate) {
    throw new InputRequiredError('--admin-password-file', 'The password of the first admin', {
      hint: 'Set AGNES_ADMIN_PASSWORD, or pass --admin-password-file <path>, --admin-password-stdin or --generate-password (--passwordless-admin for OAuth-only logins).',
    })
  }

  if (!ownSecretsFile && context.json && !flags.revealPassword) {
    throw new InvalidInputError('--generate-password with --json and --url has nowhere to keep the password', {
      hint: 'Add --reveal-password to receive it in the JSON result, or give a password (AGNES_ADMIN_PASSWORD / --admin-password-file).',
    })
  }

  const password = generatePassword()
  if (!(context.json && flags.revealPassword)) registerSecret(password)
  return {admin: {...base, password, passwordOrigin: 'generated'}}
}

async function resolveDataSource(flags: ConfigureFlags, file: SetupFile, context: ConfigureContext): Promise<ConfigureRequest> {
  const {instance, prompter, env} = context
  const dotenv = instance?.env
  let source = flags.dataSource ?? file.dataSource ?? dotenv?.get('DATA_SOURCE')
  if (source === undefined && prompter) {
    source = await prompter.select<ConfigurableSource>({
      choices: [
        {description: 'Keboola Storage: needs the stack URL and a Storage token', name: 'Keboola', value: 'keboola'},
        {description: 'Google BigQuery: needs the GCP project', name: 'BigQuery', value: 'bigquery'},
        {description: 'CSV/Parquet files in the data directory', name: 'Local files', value: 'local'},
      ],
      message: 'Data source',
    })
  }

  if (source === undefined) throw new InputRequiredError('--data-source', 'The data source (keboola, bigquery or local)')
  const dataSource = validateChoice(source, CONFIGURABLE_SOURCES, '--data-source')
  const request: ConfigureRequest = {data_source: dataSource}

  if (dataSource === 'keboola') {
    const url = await askOrRequire(flags.keboolaUrl ?? file.keboolaUrl ?? dotenv?.get('KEBOOLA_STACK_URL'), {
      default: 'https://connection.keboola.com',
      flag: '--keboola-url',
      message: 'Keboola stack URL',
      prompter,
      what: 'The Keboola stack URL',
    })
    request.keboola_url = validateHttpUrl(url, '--keboola-url')
    const tokenFile = flags.keboolaTokenFile ?? file.keboolaTokenFile
    const explicit = tokenFile !== undefined || flags.keboolaTokenStdin || Boolean(env.AGNES_KEBOOLA_TOKEN)
    const fromDotenv = explicit ? undefined : dotenv?.get('KEBOOLA_STORAGE_TOKEN')
    if (fromDotenv && !context.ownInstance) {
      throw new InvalidInputError(`KEBOOLA_STORAGE_TOKEN in ${instance?.paths.env} is sent only to that instance, and --url points elsewhere`, {
        hint: 'Give the Keboola token for the instance at --url with AGNES_KEBOOLA_TOKEN, --keboola-token-file or --keboola-token-stdin, or leave out --url.',
      })
    }

    const token =
      fromDotenv ||
      (await readSecret(
        {envVar: 'AGNES_KEBOOLA_TOKEN', file: tokenFile, fileFlag: '--keboola-token-file', fromStdin: flags.keboolaTokenStdin, label: 'Keboola Storage token', stdinFlag: '--keboola-token-stdin'},
        {env, prompter, promptMessage: 'Keboola Storage token (hidden)', required: true, stdin: context.stdin},
      ))
    registerSecret(token)
    request.keboola_token = token as string
  } else if (dataSource === 'bigquery') {
    const project = await askOrRequire(flags.bigqueryProject ?? file.bigqueryProject ?? dotenv?.get('BIGQUERY_PROJECT'), {
      flag: '--bigquery-project',
      message: 'GCP project id',
      prompter,
      what: 'The BigQuery project id',
    })
    if (!GCP_PROJECT.test(project.trim())) throw new InvalidInputError(`--bigquery-project: "${project}" is not a GCP project id`, {hint: 'Use the project id (e.g. acme-analytics), not its name or number.'})
    request.bigquery_project = project.trim()
    const location = flags.bigqueryLocation ?? file.bigqueryLocation ?? dotenv?.get('BIGQUERY_LOCATION')
    if (location !== undefined && location.trim() !== '') {
      if (!BIGQUERY_LOCATION.test(location.trim())) throw new InvalidInputError(`--bigquery-location: "${location}" is not a BigQuery location such as us, eu or europe-west1`, {hint: 'Use the location of the BigQuery dataset, e.g. us, eu or europe-west1.'})
      request.bigquery_location = location.trim()
    }
  }

  const instanceName = optionalText(flags.instanceName ?? file.instanceName, '--instance-name', MAX_INSTANCE_NAME)
  if (instanceName) request.instance_name = instanceName
  const allowedDomain = flags.allowedDomain ?? file.allowedDomain
  if (allowedDomain !== undefined && allowedDomain.trim() !== '') request.allowed_domain = validateDomain(allowedDomain, '--allowed-domain')
  return request
}

/**
 * Resolves configure's input: flags (and their AGNES_* twins) over the setup file over the instance's own
 * files (.env, .agnes/state.json, .agnes/secrets.env) over a short wizard when a terminal is present.
 * A value that is still missing is exit 4 naming its flag; a bad one is exit 3. Nothing is sent yet.
 */
export async function resolveConfigureSettings(flags: ConfigureFlags, context: ConfigureContext): Promise<ConfigureSettings> {
  if (flags.adminPasswordStdin && flags.keboolaTokenStdin) {
    throw new InvalidInputError('--admin-password-stdin and --keboola-token-stdin cannot both read stdin', {hint: 'Give one of them through a file or an environment variable.'})
  }

  const file = flags.fromFile ? await readSetupFile(flags.fromFile) : {}
  const sync = Boolean(flags.sync || file.sync)
  const wait = Boolean(flags.wait || file.wait)
  if (wait && !sync) throw new InvalidInputError('--wait follows the sync that --sync starts, and no sync was asked for', {hint: 'Add --sync (or sync: true in the setup file), or drop --wait.'})

  const dataSource = await resolveDataSource(flags, file, context)
  const tables = file.tables ? validateTables(file.tables, dataSource.data_source) : []
  const {admin, skipped} = await resolveAdmin(flags, file, context)
  const waitTimeoutSeconds = flags.waitTimeout ?? file.waitTimeout ?? DEFAULT_WAIT_TIMEOUT_SECONDS
  return {
    admin,
    adminSkipped: skipped,
    confirmConnectionChange: Boolean(flags.confirmConnectionChange || file.confirmConnectionChange),
    dataSource,
    discover: Boolean(flags.discover || file.discover),
    dryRun: Boolean(flags.dryRun),
    revealPassword: Boolean(flags.revealPassword),
    secretsFile: context.ownInstance ? context.instance?.paths.secretsFile : undefined,
    sync,
    tables,
    wait,
    waitTimeoutMs: waitTimeoutSeconds * 1000,
  }
}
