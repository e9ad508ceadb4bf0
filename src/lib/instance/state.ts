import {EnvFile, EnvFileError} from './env-file.js'
import {InvalidInputError} from '../errors.js'
import {writeFileAtomic} from '../fs-atomic.js'
import {registerSecret} from '../secrets/redact.js'
import {warnAboutFile} from './file-warnings.js'
import {InstancePaths, instancePaths} from './paths.js'
import {assertInstancePathsSafe, readTextNoFollow} from './safe-path.js'

export type Channel = 'stable' | 'dev'
export type TlsMode = 'none' | 'acme' | 'internal' | 'files'

/** One deployed image, identified by its digest; tag and version are what it was known as. */
export interface Deployment {
  digest: string
  repository: string
  tag?: string
  version?: string
  /** The versioned tag the image reports (its baked AGNES_TAG), e.g. stable-2026.04.2 for a `stable` deploy. */
  versionTag?: string
  deployedAt: string
  /** The /data/state backup taken when the instance last switched away from this deployment. */
  backupBeforeLeaving?: string
  /** How long this deployment took to become healthy when it last started; a rollback to it waits at least that. */
  bootMs?: number
}

/** `.agnes/state.json`: what the CLI knows about the instance. */
export interface InstanceState {
  stateVersion: 1
  project: string
  repository: string
  channel: Channel
  /** A versioned tag the instance is pinned to; while set, `upgrade` leaves the instance alone. */
  pin?: string
  tls: TlsMode
  adminEmail?: string
  current?: Deployment
  /** Deployments that passed their health gate, newest first; rollback targets and images kept locally. */
  knownGood: Deployment[]
  /** Digests that failed and were rolled back; a cron tick never applies them again. */
  rejected: string[]
  /** sha256 of each managed file as agnes last wrote it, to notice hand edits. */
  managedFiles: Record<string, string>
  /** When an upgrade was first deferred because the instance was busy. */
  deferredSince?: string
  /** The channel digest this instance first saw at the head, and when: the soak clock of `upgrade --min-age` (src/lib/deploy/soak.ts). */
  channelHead?: {channel: Channel; digest: string; firstSeenAt: string}
  createdAt: string
}

/** The .env keys that hold secrets; their values are registered for redaction whenever .env is read. */
export const SECRET_ENV_KEYS = [
  'JWT_SECRET_KEY',
  'SESSION_SECRET',
  'SCHEDULER_API_TOKEN',
  'AGNES_VAULT_KEY',
  'KEBOOLA_STORAGE_TOKEN',
  'AGNES_BOOTSTRAP_TOKEN',
  'AGNES_ADMIN_PASSWORD',
  'SEED_ADMIN_PASSWORD',
  'POSTGRES_PASSWORD',
  'APPS_RUNNER_TOKEN',
  'ANTHROPIC_API_KEY',
  'LLM_API_KEY',
]

export interface Instance {
  paths: InstancePaths
  state: InstanceState
  env: EnvFile
}

/** Reads a file of the instance, refusing a symbolic link or a directory where the file belongs (exit 3). */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  return readTextNoFollow(path)
}

/** Parses a .env text and registers its secrets for redaction. Syntax errors are input errors (exit 3). */
export function parseEnv(text: string, path: string): EnvFile {
  let env: EnvFile
  try {
    env = EnvFile.parse(text)
  } catch (error) {
    if (error instanceof EnvFileError) {
      throw new InvalidInputError(`${path}: ${error.message}`, {hint: 'Fix that line by hand (KEY=value, one per line), then re-run.'})
    }

    throw error
  }

  for (const key of SECRET_ENV_KEYS) registerSecret(env.get(key))
  for (const {key, lines} of env.duplicates()) {
    const last = lines.at(-1)
    warnAboutFile(`${path} defines ${key} on lines ${lines.slice(0, -1).join(', ')} and ${last}; Docker Compose uses the last one (line ${last}), and so does agnes. Delete the other line${lines.length > 2 ? 's' : ''}.`)
  }

  return env
}

export async function readEnv(paths: InstancePaths): Promise<EnvFile | undefined> {
  const text = await readTextIfExists(paths.env)
  return text === undefined ? undefined : parseEnv(text, paths.env)
}

export async function readState(paths: InstancePaths): Promise<InstanceState | undefined> {
  const text = await readTextIfExists(paths.stateFile)
  if (text === undefined) return undefined
  try {
    const state = JSON.parse(text) as InstanceState
    if (state.stateVersion !== 1) throw new Error(`unknown stateVersion ${String(state.stateVersion)}`)
    state.knownGood ??= []
    state.rejected ??= []
    state.managedFiles ??= {}
    return state
  } catch (error) {
    throw new InvalidInputError(`${paths.stateFile} is not valid agnes state: ${(error as Error).message}`, {
      hint: 'Restore it from a backup, or re-run `agnes init` on this directory.',
    })
  }
}

export async function writeState(paths: InstancePaths, state: InstanceState): Promise<void> {
  await writeFileAtomic(paths.stateFile, JSON.stringify(state, null, 2) + '\n', 0o644)
}

/** Loads an initialised instance, or explains how to create one (exit 3). */
export async function loadInstance(dir: string): Promise<Instance> {
  const paths = instancePaths(dir)
  await assertInstancePathsSafe(paths)
  const state = await readState(paths)
  if (!state) {
    throw new InvalidInputError(`${paths.dir} is not an agnes instance (no .agnes/state.json)`, {
      hint: `Run \`agnes init --dir ${paths.dir}\` first, or pass --dir with the instance directory.`,
    })
  }

  const env = await readEnv(paths)
  if (!env) {
    throw new InvalidInputError(`${paths.env} is missing`, {hint: 'Re-run `agnes init` to recreate it; existing secrets elsewhere are kept.'})
  }

  return {env, paths, state}
}

/** The app's host port from .env (AGNES_HTTP_PORT, default 8000); a hand-broken value is exit 3 naming the key. */
export function instancePort(env: EnvFile): number {
  const value = env.get('AGNES_HTTP_PORT') ?? '8000'
  const port = Number(value.trim())
  if (/^\d+$/.test(value.trim()) && port >= 1 && port <= 65_535) return port
  throw new InvalidInputError(`AGNES_HTTP_PORT in .env is not a valid TCP port`, {
    hint: 'Set it to a whole number from 1 to 65535 (e.g. `agnes init --http-port 8000`), then re-run.',
  })
}

/** The URL the CLI uses to reach the app on this host (the app port is published on loopback at least). */
export function localBaseUrl(env: EnvFile): string {
  return `http://127.0.0.1:${instancePort(env)}`
}
