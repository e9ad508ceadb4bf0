import {spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {appendFileSync, existsSync, mkdirSync, readFileSync, rmSync} from 'node:fs'
import {createServer} from 'node:net'
import {dirname, join} from 'node:path'

import {CliResult, repoRoot, runAgnes, transcriptFile} from '../helpers/run-cli.js'

export const REGISTRY = '127.0.0.1:5000'
export const instancesRoot = join(repoRoot, '.e2e-tmp', 'instances')

export interface Published {
  repository: string
  digests: Record<string, string>
}

/** Publishes the standard tag set of the stand-in into a repository of its own, so tests never share tags. */
export async function publishStandard(name: string): Promise<Published> {
  const images = await import('../standin/images.mjs')
  const repository = `${REGISTRY}/e2e-${name}-${randomBytes(3).toString('hex')}/agnes`
  const digests = (await images.standardSet(repository)) as Record<string, string>
  return {digests, repository}
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

export interface TestInstance {
  name: string
  dir: string
  port: number
  url: string
  repository: string
  project: string
}

/** Parses a .env file line by line (the tests' own reader, independent of the CLI's). */
export function readEnvFile(path: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (!match || match[1] in out) continue
    out[match[1]] = match[2].replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1')
  }

  return out
}

/** The open-file limit the engine can grant a container (its own hard limit). */
export function engineOpenFileLimit(): number {
  const pid = spawnSync('pgrep', ['-xo', 'dockerd'], {encoding: 'utf8'}).stdout.trim()
  const limits = pid ? readFileSync(`/proc/${pid}/limits`, 'utf8') : readFileSync('/proc/self/limits', 'utf8')
  const match = /Max open files\s+\d+\s+(\d+)/.exec(limits)
  return Math.min(65_536, match ? Number(match[1]) : 1024)
}

/** Runs `agnes init --non-interactive` for a fresh instance directory and returns where it is. */
export async function newInstance(name: string, options: {repository: string; channel?: string; pin?: string; extraArgs?: string[]; env?: Record<string, string>}): Promise<TestInstance & {init: CliResult}> {
  const dir = join(instancesRoot, `${name}-${randomBytes(3).toString('hex')}`)
  mkdirSync(instancesRoot, {recursive: true})
  const port = await freePort()
  const args = ['init', '--non-interactive', '--json', '--dir', dir, '--image', options.repository, '--admin-email', 'admin@example.com', '--http-port', String(port), '--memory', '512m', '--cpus', '1']
  if (options.pin) args.push('--pin', options.pin)
  else args.push('--channel', options.channel ?? 'stable')
  const init = await runAgnes([...args, ...(options.extraArgs ?? [])], {env: options.env})
  if (init.exitCode !== 0) throw new Error(`init failed: ${init.stdout}\n${init.stderr}`)
  // Operator keys: Docker's own health probe every 2 s keeps the tests fast (the default is 30 s), and
  // this sandbox's engine cannot raise the open-file limit to the default 65536.
  appendFileSync(join(dir, '.env'), `\n# test host\nAGNES_HEALTHCHECK_INTERVAL=2s\nAGNES_NOFILE=${engineOpenFileLimit()}\n`)
  const state = JSON.parse(readFileSync(join(dir, '.agnes', 'state.json'), 'utf8')) as {project: string}
  return {dir, init, name, port, project: state.project, repository: options.repository, url: `http://127.0.0.1:${port}`}
}

/** Where the secret scan finds secrets of instances whose directories are gone: "label<TAB>secret" a line. */
export const secretsLedger = join(repoRoot, '.e2e-tmp', 'secrets-ledger.tsv')
const SECRET_KEYS = ['JWT_SECRET_KEY', 'SESSION_SECRET', 'SCHEDULER_API_TOKEN', 'AGNES_VAULT_KEY', 'KEBOOLA_STORAGE_TOKEN']

/** Hands the instance's secrets and history to the secret scan before its directory is removed. */
function keepForSecretScan(instance: TestInstance): void {
  mkdirSync(dirname(secretsLedger), {recursive: true})
  const envPath = join(instance.dir, '.env')
  if (existsSync(envPath)) {
    const env = readEnvFile(envPath)
    const lines = SECRET_KEYS.filter((key) => env[key]).map((key) => `${key} of ${instance.name}\t${env[key]}\n`)
    appendFileSync(secretsLedger, lines.join(''))
  }

  const history = join(instance.dir, '.agnes', 'history.jsonl')
  if (existsSync(history)) appendFileSync(transcriptFile, `\n# history of ${instance.name}\n${readFileSync(history, 'utf8')}`)
}

/** Stops and removes the instance's containers and volumes; nothing else on the engine is touched. */
export function destroyInstance(instance: TestInstance | undefined): void {
  if (!instance) return
  keepForSecretScan(instance)
  const ids = spawnSync('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${instance.project}`], {encoding: 'utf8'}).stdout.trim()
  if (ids) spawnSync('docker', ['rm', '-f', '-v', ...ids.split('\n')], {stdio: 'ignore'})
  const volumes = spawnSync('docker', ['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${instance.project}`], {encoding: 'utf8'}).stdout.trim()
  if (volumes) spawnSync('docker', ['volume', 'rm', '-f', ...volumes.split('\n')], {stdio: 'ignore'})
  spawnSync('docker', ['network', 'rm', `${instance.project}_default`], {stdio: 'ignore'})
  if (process.env.AGNES_E2E_KEEP !== '1') rmSync(instance.dir, {force: true, recursive: true})
}

export async function getJson(url: string, init?: RequestInit): Promise<{status: number; body: any}> {
  const response = await fetch(url, init)
  const text = await response.text()
  let body: any
  try {
    body = JSON.parse(text)
  } catch {
    body = text
  }

  return {body, status: response.status}
}

/** The app containers of an instance, through the compose labels (never by name), with the image they were started from. */
export function appContainers(project: string): Array<{id: string; image: string; state: string}> {
  const ids = spawnSync('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`, '--filter', 'label=com.docker.compose.service=app'], {encoding: 'utf8'}).stdout.trim()
  if (ids === '') return []
  const out = spawnSync('docker', ['inspect', '--format', '{{.Id}} {{.Config.Image}} {{.State.Status}}', ...ids.split('\n')], {encoding: 'utf8'}).stdout.trim()
  // A container removed between `ps` and `inspect` (or a daemon restarting) leaves no line or a short one.
  return out.split('\n').flatMap((line) => {
    const [id, image, state] = line.split(' ')
    return id && image && state ? [{id, image, state}] : []
  })
}

/** Asserts the CLI printed exactly one JSON document on stdout. */
export function singleJson(result: CliResult): any {
  if (result.json === undefined) throw new Error(`stdout is not one JSON document:\n${result.stdout}\n--- stderr\n${result.stderr}`)
  return result.json
}

/** Publishes a release and moves `stable` to it, as the publisher's CI does on every merge; returns its digest. */
export async function releaseStable(repository: string, tag: string, version: string, options: {bootSeconds?: number} = {}): Promise<string> {
  const images = await import('../standin/images.mjs')
  const {digest} = await images.publish({channel: 'stable', repository, tag, version, ...options})
  await images.moveTag({fromTag: tag, repository, toTag: 'stable'})
  return digest
}

/** `agnes init` then `agnes up`: an instance that serves, for tests that start from a healthy instance. */
export async function runningInstance(name: string, repository: string): Promise<TestInstance> {
  const instance = await newInstance(name, {repository})
  const up = await runAgnes(['up', '--json', '--dir', instance.dir])
  if (up.exitCode !== 0) {
    destroyInstance(instance)
    throw new Error(`up failed (exit ${up.exitCode}): ${up.stdout}\n${up.stderr}`)
  }

  return instance
}

/** What the instance serves now: its version and whether the app's own health says ok. */
export async function servingNow(instance: TestInstance): Promise<{version?: string; healthy: boolean}> {
  try {
    const [version, health] = await Promise.all([getJson(`${instance.url}/api/version`), getJson(`${instance.url}/api/health`)])
    return {healthy: health.body.status === 'ok' && health.body.db_schema === 'ok', version: version.body.version}
  } catch {
    return {healthy: false}
  }
}

function instanceAdminHeaders(instance: TestInstance): Record<string, string> {
  return {authorization: `Bearer ${readEnvFile(join(instance.dir, '.env')).SCHEDULER_API_TOKEN}`, 'content-type': 'application/json'}
}

/** Registers a table through the admin API: state the app itself writes under /data/state. */
export async function registerTable(instance: TestInstance, name: string): Promise<void> {
  const response = await getJson(`${instance.url}/api/admin/register-table`, {
    body: JSON.stringify({description: 'written before the switch', name, source_type: 'local'}),
    headers: instanceAdminHeaders(instance),
    method: 'POST',
  })
  if (response.status !== 201) throw new Error(`register-table answered ${response.status}: ${JSON.stringify(response.body)}`)
}

/** The ids of the tables the app's registry holds. */
export async function registeredTables(instance: TestInstance): Promise<string[]> {
  const response = await getJson(`${instance.url}/api/admin/registry`, {headers: instanceAdminHeaders(instance)})
  if (response.status !== 200) throw new Error(`the registry answered ${response.status}`)
  return response.body.tables.map((table: {id: string}) => table.id)
}

/** Where the engine keeps the instance's `data` volume (mounted at /data in the app) on this host. */
export function dataVolumePath(instance: TestInstance): string {
  const filters = ['--filter', `label=com.docker.compose.project=${instance.project}`, '--filter', 'label=com.docker.compose.volume=data']
  const name = spawnSync('docker', ['volume', 'ls', '-q', ...filters], {encoding: 'utf8'}).stdout.trim()
  if (!name || name.includes('\n')) throw new Error(`expected one data volume for ${instance.project}, found: ${JSON.stringify(name)}`)
  return spawnSync('docker', ['volume', 'inspect', '--format', '{{.Mountpoint}}', name], {encoding: 'utf8'}).stdout.trim()
}

/** A file under the app's /data/state, written straight into the volume (as root on the engine's host). */
export function stateFilePath(instance: TestInstance, name: string): string {
  return join(dataVolumePath(instance), 'state', name)
}

export function journalPath(instance: TestInstance): string {
  return join(instance.dir, '.agnes', 'journal.json')
}

export function readInstanceState(instance: TestInstance): any {
  return JSON.parse(readFileSync(join(instance.dir, '.agnes', 'state.json'), 'utf8'))
}
