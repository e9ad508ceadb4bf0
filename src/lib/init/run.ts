import {access, chmod, constants, mkdir, rmdir, stat} from 'node:fs/promises'
import {dirname, join, resolve} from 'node:path'

import {EnvFile} from '../instance/env-file.js'
import {InvalidInputError} from '../errors.js'
import {writeFileAtomic} from '../fs-atomic.js'
import {digestReference, parseRepository} from '../image-registry/image-ref.js'
import {managedKey, readTemplate, renderCompose, sha256, isHandEdited} from '../instance/managed-files.js'
import {InstancePaths, instancePaths} from '../instance/paths.js'
import {takeInstanceLock} from '../instance/lock.js'
import {assertSafePath} from '../instance/safe-path.js'
import {Channel, InstanceState, TlsMode, parseEnv, readState, readTextIfExists, writeState} from '../instance/state.js'
import {generateFernetKey, generateHexSecret, isFernetKey} from '../secrets/generate.js'

export const DEFAULT_REPOSITORY = 'ghcr.io/keboola/agnes-the-ai-analyst'
export const DATA_SOURCES = ['keboola', 'bigquery', 'local'] as const
export type DataSource = (typeof DATA_SOURCES)[number]
export const TLS_MODES: readonly TlsMode[] = ['none', 'acme', 'internal', 'files']

/** Everything `agnes init` needs, validated. Secrets are kept apart and never shown. */
export interface InitSettings {
  repository: string
  channel: Channel
  pin?: string
  httpPort: number
  tls: TlsMode
  domain?: string
  acmeEmail?: string
  tlsCertDir?: string
  adminEmail: string
  dataSource: DataSource
  keboolaUrl?: string
  bigqueryProject?: string
  bigqueryLocation?: string
  memory: string
  cpus: string
}

export interface InitSecrets {
  keboolaToken?: string
  adminPassword?: string
}

/** What is already in the directory, used as defaults on a re-run. */
export interface ExistingInstance {
  paths: InstancePaths
  state?: InstanceState
  env?: EnvFile
  instanceYaml?: string
}

export type FileAction = 'create' | 'update' | 'unchanged' | 'keep'

export interface PlannedFile {
  path: string
  action: FileAction
  mode: number
  /** A unified diff with secret values masked; only for updates. */
  diff?: string
  note?: string
  content: string
}

export interface InitPlan {
  dir: string
  fresh: boolean
  files: PlannedFile[]
  generatedSecrets: string[]
  warnings: string[]
  state: InstanceState
}

export async function readExisting(dir: string): Promise<ExistingInstance> {
  const paths = instancePaths(dir)
  // config/ must be a directory: it holds instance.yaml and is mounted into the app.
  await assertSafePath(paths.configDir, 'directory')
  const envText = await readTextIfExists(paths.env)
  return {
    env: envText === undefined ? undefined : parseEnv(envText, paths.env),
    instanceYaml: await readTextIfExists(paths.instanceYaml),
    paths,
    state: await readState(paths),
  }
}

/** Checks the directory can hold an instance: it is a directory (or can be made) and is writable. */
async function checkDirectoryWritable(dir: string): Promise<void> {
  const root = resolve(dir)
  try {
    const info = await stat(root)
    if (!info.isDirectory()) throw new InvalidInputError(`${root} exists and is not a directory`, {hint: 'Pass --dir with a directory path.'})
    await access(root, constants.W_OK)
  } catch (error) {
    if (error instanceof InvalidInputError) throw error
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') {
      try {
        await mkdir(root, {recursive: true})
        return
      } catch (mkdirError) {
        throw new InvalidInputError(`cannot create ${root}: ${(mkdirError as NodeJS.ErrnoException).code}`, {hint: 'Choose a directory you can write to, or run as a user who can.'})
      }
    }

    throw new InvalidInputError(`${root} is not writable (${code})`, {hint: 'Choose a directory you can write to, or run as a user who can.'})
  }
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

/**
 * Runs init's work under the instance lock, so init never writes while an upgrade (or another init) runs.
 * The directory and `.agnes/` are created for the lock; when the work fails, the directories that were
 * new are removed again if they are still empty, so a refused init leaves nothing behind.
 */
export async function withInitLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const paths = instancePaths(dir)
  // Deepest first: the directories that do not exist yet and are about to be created.
  const created: string[] = []
  for (let path = paths.agnesDir; !(await pathExists(path)) && path !== dirname(path); path = dirname(path)) created.push(path)
  await checkDirectoryWritable(paths.dir)
  const lock = await takeInstanceLock(paths, 'init')

  let result: T
  try {
    result = await work()
  } catch (error) {
    await lock.release()
    // rmdir removes only empty directories: anything a person or an earlier run put there stays.
    for (const path of created) await rmdir(path).catch(() => undefined)
    throw error
  }

  await lock.release()
  return result
}

function imageForCompose(settings: InitSettings, state: InstanceState | undefined): string {
  const current = state?.current
  if (current && current.repository === settings.repository) return digestReference(current.repository, current.digest)
  return `${settings.repository}:${settings.pin ?? settings.channel}`
}

/** CADDY_TLS for the Caddyfile: ACME with an email, Caddy's internal CA, or cert files (unset). */
function caddyTls(settings: InitSettings): string | undefined {
  if (settings.tls === 'acme') return `tls ${settings.acmeEmail}`
  if (settings.tls === 'internal') return 'tls internal'
  // Compose always sets CADDY_TLS in the caddy container, so the Caddyfile's fallback never applies.
  if (settings.tls === 'files') return 'tls /certs/fullchain.pem /certs/privkey.pem'
  return undefined
}

const ENV_HEADER = [
  '# Agnes instance settings, read by Docker Compose and the app (env_file). agnes init updates the keys it',
  '# manages and keeps every other key, comment and the order. Add your own keys anywhere. Never source it.',
]

function planEnv(existing: EnvFile | undefined, settings: InitSettings, secrets: InitSecrets, project: string, generated: string[], warnings: string[]): EnvFile {
  const env = existing ?? EnvFile.parse(ENV_HEADER.join('\n') + '\n')
  const section = (title: string) => `--- ${title} ---`
  const sectionAdded = new Set<string>()
  const put = (title: string, key: string, value: string | undefined) => {
    if (value === undefined) return
    if (!env.has(key) && !sectionAdded.has(title)) {
      env.appendRaw('')
      env.appendRaw(`# ${section(title)}`)
      sectionAdded.add(title)
    }

    env.set(key, value)
  }

  // Compose reads it from .env too, so a hand-run `docker compose` in the directory uses the same project.
  put('Compose project: chosen once by agnes init, unique on this Docker engine', 'COMPOSE_PROJECT_NAME', project)

  const secretGenerators: Array<[string, () => string]> = [
    ['JWT_SECRET_KEY', generateHexSecret],
    ['SESSION_SECRET', generateHexSecret],
    ['SCHEDULER_API_TOKEN', generateHexSecret],
    ['AGNES_VAULT_KEY', generateFernetKey],
  ]
  for (const [key, generate] of secretGenerators) {
    const value = env.get(key)
    if (value === undefined || value === '') {
      put('Secrets generated by agnes: never printed, keep them stable', key, generate())
      generated.push(key)
    }
  }

  if ((env.get('JWT_SECRET_KEY') ?? '').length < 32) warnings.push('JWT_SECRET_KEY in .env is shorter than 32 characters; the app refuses to start with it.')
  if ((env.get('SCHEDULER_API_TOKEN') ?? '').length < 32) warnings.push('SCHEDULER_API_TOKEN in .env is shorter than 32 characters; the app ignores it.')
  if (!isFernetKey(env.get('AGNES_VAULT_KEY') ?? '')) warnings.push('AGNES_VAULT_KEY in .env is not a valid Fernet key; vault writes will fail.')

  const network = 'Network'
  put(network, 'AGNES_HTTP_PORT', String(settings.httpPort))
  // Behind Caddy the app port is published on loopback only: agnes still reaches it, the world does not.
  put(network, 'AGNES_HTTP_BIND', settings.tls === 'none' ? '0.0.0.0' : '127.0.0.1')
  if (settings.domain) {
    put(network, 'DOMAIN', settings.domain)
    put(network, 'SERVER_URL', settings.tls === 'none' ? `http://${settings.domain}:${settings.httpPort}` : `https://${settings.domain}`)
  }

  const tls = caddyTls(settings)
  if (tls !== undefined) put(network, 'CADDY_TLS', tls)
  else if (env.has('CADDY_TLS')) env.set('CADDY_TLS', '')
  if (settings.tls === 'files' && settings.tlsCertDir) put(network, 'AGNES_TLS_CERT_DIR', settings.tlsCertDir)

  const data = 'Data source'
  put(data, 'DATA_SOURCE', settings.dataSource)
  if (settings.dataSource === 'keboola') {
    put(data, 'KEBOOLA_STACK_URL', settings.keboolaUrl)
    put(data, 'KEBOOLA_STORAGE_TOKEN', secrets.keboolaToken)
  }

  if (settings.dataSource === 'bigquery') {
    put(data, 'BIGQUERY_PROJECT', settings.bigqueryProject)
    put(data, 'BIGQUERY_LOCATION', settings.bigqueryLocation)
  }

  const resources = 'Resources'
  put(resources, 'AGNES_APP_MEM_LIMIT', settings.memory)
  put(resources, 'AGNES_APP_CPUS', settings.cpus)
  return env
}

async function planInstanceYaml(existingText: string | undefined, settings: InitSettings): Promise<string> {
  const YAML = await import('yaml')
  const doc = existingText === undefined
    ? YAML.parseDocument(
        '# Static Agnes configuration, mounted read-only into the app at /app/config.\n' +
          '# agnes init manages config_version and data_source; the rest is yours and is kept.\n' +
          'config_version: 1\n',
      )
    : YAML.parseDocument(existingText)
  if (doc.errors.length > 0) {
    throw new InvalidInputError(`config/instance.yaml is not valid YAML: ${doc.errors[0].message.split('\n')[0]}`, {hint: 'Fix the file by hand, then re-run.'})
  }

  doc.setIn(['config_version'], 1)
  doc.setIn(['data_source', 'type'], settings.dataSource)
  if (settings.dataSource === 'keboola' && settings.keboolaUrl) doc.setIn(['data_source', 'keboola', 'stack_url'], settings.keboolaUrl)
  if (settings.dataSource === 'bigquery') {
    doc.setIn(['data_source', 'bigquery', 'project'], settings.bigqueryProject)
    doc.setIn(['data_source', 'bigquery', 'location'], settings.bigqueryLocation ?? 'us')
  }

  return doc.toString()
}

/**
 * .env keys of agnes's own whose values are not secret and are shown in diffs. Every other value is masked:
 * an operator's key (MY_DB_PASSWORD, OPENAI_API_KEY, …) may hold anything.
 */
const SHOWN_ENV_KEYS = new Set([
  'COMPOSE_PROJECT_NAME',
  'AGNES_HTTP_PORT',
  'AGNES_HTTP_BIND',
  'DOMAIN',
  'SERVER_URL',
  'CADDY_TLS',
  'AGNES_TLS_CERT_DIR',
  'AGNES_CADDY_IMAGE',
  'DATA_SOURCE',
  'KEBOOLA_STACK_URL',
  'BIGQUERY_PROJECT',
  'BIGQUERY_LOCATION',
  'AGNES_APP_MEM_LIMIT',
  'AGNES_APP_CPUS',
  'AGNES_SCHEDULER_MEM_LIMIT',
  'AGNES_SCHEDULER_CPUS',
  'AGNES_HEALTHCHECK_INTERVAL',
  'AGNES_HEALTHCHECK_START_PERIOD',
  'AGNES_NOFILE',
  'AGNES_TEMP_DIR',
])

/** Masks the value on a diff line (`+KEY=value`, `-KEY=value`, ` KEY=value`, commented too) unless the key is known harmless. */
function maskValueLine(line: string): string {
  const match = /^([-+ ]\s*(?:#\s*)?(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=)(.*)$/.exec(line)
  if (!match || match[3].trim() === '') return line
  // A URL with user:password@ is a credential even under a harmless key.
  if (SHOWN_ENV_KEYS.has(match[2]) && !/:\/\/[^/\s]*@/.test(match[3])) return line
  return `${match[1]}***`
}

async function unifiedDiff(name: string, before: string, after: string): Promise<string> {
  const {createTwoFilesPatch} = await import('diff')
  return createTwoFilesPatch(`a/${name}`, `b/${name}`, before, after, '', '', {context: 2})
    .split('\n')
    .slice(1)
    .map((line) => maskValueLine(line.replace(/\t$/, '')))
    .join('\n')
    .trimEnd()
}

async function planFile(paths: InstancePaths, file: string, content: string, mode: number, options: {managed: boolean; force: boolean; state?: InstanceState}): Promise<PlannedFile> {
  const path = managedKey(paths, file)
  const onDisk = await readTextIfExists(file)
  if (onDisk === undefined) return {action: 'create', content, mode, path}
  if (onDisk === content) return {action: 'unchanged', content, mode, path}
  if (options.managed && !options.force && (await isHandEdited(paths, options.state, file))) {
    throw new InvalidInputError(`${path} was edited by hand; init will not replace it without --force`, {
      details: {file: path},
      hint: 'Move your changes to docker-compose.override.yml (or keep a copy), then re-run with --force.',
    })
  }

  return {action: 'update', content, diff: await unifiedDiff(path, onDisk, content), mode, path}
}

/** Works out every file init would write, without writing anything. */
export async function planInit(existing: ExistingInstance, settings: InitSettings, secrets: InitSecrets, options: {force: boolean; project: string}): Promise<InitPlan> {
  const {paths} = existing
  const generated: string[] = []
  const warnings: string[] = []
  const now = new Date().toISOString()
  const state: InstanceState = {
    ...existing.state,
    adminEmail: settings.adminEmail,
    channel: settings.channel,
    createdAt: existing.state?.createdAt ?? now,
    knownGood: existing.state?.knownGood ?? [],
    managedFiles: {...existing.state?.managedFiles},
    pin: settings.pin,
    project: options.project,
    rejected: existing.state?.rejected ?? [],
    repository: settings.repository,
    stateVersion: 1,
    tls: settings.tls,
  }
  if (!settings.pin) delete state.pin

  const files: PlannedFile[] = []
  const managed = {force: options.force, managed: true, state: existing.state}
  files.push(await planFile(paths, paths.compose, await renderCompose(imageForCompose(settings, existing.state)), 0o644, managed))

  const overrideExists = (await readTextIfExists(paths.override)) !== undefined
  files.push(
    overrideExists
      ? {action: 'keep', content: '', mode: 0o644, note: 'operator-owned, never touched', path: managedKey(paths, paths.override)}
      : {action: 'create', content: await readTemplate('docker-compose.override.yml'), mode: 0o644, path: managedKey(paths, paths.override)},
  )

  const env = planEnv(existing.env, settings, secrets, options.project, generated, warnings)
  files.push(await planFile(paths, paths.env, env.toString(), 0o600, {force: true, managed: false}))
  files.push(await planFile(paths, paths.instanceYaml, await planInstanceYaml(existing.instanceYaml, settings), 0o644, {force: true, managed: false}))
  if (settings.tls !== 'none') {
    files.push(await planFile(paths, paths.caddyfile, await readTemplate('Caddyfile'), 0o644, managed))
    // Written once; the operator may brand it, so an existing page is kept.
    if ((await readTextIfExists(paths.maintenancePage)) === undefined) {
      files.push({action: 'create', content: await readTemplate('static/maintenance.html'), mode: 0o644, path: managedKey(paths, paths.maintenancePage)})
    }
  }

  if (secrets.adminPassword !== undefined) {
    const secretsText = (await readTextIfExists(paths.secretsFile)) ?? '# Secrets given to agnes init for later commands (agnes configure). Mode 0600.\n'
    const secretsEnv = parseEnv(secretsText, paths.secretsFile)
    secretsEnv.set('AGNES_ADMIN_PASSWORD', secrets.adminPassword)
    files.push(await planFile(paths, paths.secretsFile, secretsEnv.toString(), 0o600, {force: true, managed: false}))
  }

  return {dir: paths.dir, files, fresh: existing.state === undefined, generatedSecrets: generated, state, warnings}
}

/** Writes the plan: every file atomically, then the state that records the managed files' hashes. */
export async function applyInit(plan: InitPlan): Promise<void> {
  const paths = instancePaths(plan.dir)
  await mkdir(paths.agnesDir, {mode: 0o700, recursive: true})
  for (const file of plan.files) {
    if (file.action === 'keep') continue
    const target = join(paths.dir, file.path)
    if (file.action === 'unchanged') await chmod(target, file.mode)
    else await writeFileAtomic(target, file.content, file.mode)
    if (file.path === managedKey(paths, paths.compose) || file.path === managedKey(paths, paths.caddyfile)) {
      plan.state.managedFiles[file.path] = sha256(file.content)
    }
  }

  await writeState(paths, plan.state)
}

/** Validates a repository for init (no tag, no digest). */
export function validateRepository(value: string, flag: string): string {
  try {
    return parseRepository(value).name
  } catch (error) {
    if (error instanceof InvalidInputError) throw new InvalidInputError(`${flag}: ${error.message}`, {hint: error.hint ?? 'Use a repository such as ghcr.io/keboola/agnes-the-ai-analyst.'})
    throw error
  }
}
