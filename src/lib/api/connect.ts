import {access} from 'node:fs/promises'

import {InvalidInputError} from '../errors.js'
import {instancePaths} from '../instance/paths.js'
import {Instance, loadInstance, localBaseUrl} from '../instance/state.js'
import {Prompter} from '../prompt.js'
import {Reporter} from '../reporter.js'
import {readSecret} from '../secret-input.js'
import {validateHttpUrl} from '../validate.js'
import {AgnesApi} from './agnes-api.js'
import {ApiClient, ApiClientOptions} from './client.js'

export type CredentialSource = 'instance-env' | 'AGNES_TOKEN' | 'token-file' | 'prompt' | 'none'

export interface ConnectOptions {
  /** The instance directory; optional with url. */
  dir: string
  url?: string
  tokenFile?: string
  env?: NodeJS.ProcessEnv
  /** Asked for the token of a remote instance when none is given; undefined when prompting is not allowed. */
  prompter?: Prompter
  /** Commands that only call unauthenticated endpoints (health, version) pass false. */
  requireToken?: boolean
  signal?: AbortSignal
  reporter?: Reporter
  timeouts?: Pick<ApiClientOptions, 'bootWaitMs' | 'connectTimeoutMs' | 'requestTimeoutMs' | 'maxRetryAfterMs' | 'retryIntervalMs'>
}

export interface InstanceConnection {
  api: AgnesApi
  baseUrl: string
  /** The instance in dir, when dir is one (even with url). */
  instance?: Instance
  credential: CredentialSource
  close(): Promise<void>
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1'])

async function isInstanceDir(dir: string): Promise<boolean> {
  try {
    await access(instancePaths(dir).stateFile)
    return true
  } catch {
    return false
  }
}

/** The instance's own token may go only to the instance itself: its loopback port or its own DOMAIN. */
function urlBelongsToInstance(url: string, instance: Instance): boolean {
  const host = new URL(url).hostname.toLowerCase()
  const domain = instance.env.get('DOMAIN')?.toLowerCase()
  return LOOPBACK_HOSTS.has(host) || (domain !== undefined && domain !== '' && host === domain)
}

/**
 * Builds the API client for a command: the base URL from --url or the instance in dir, and the bearer
 * token from --token-file, AGNES_TOKEN, or (for the instance itself) SCHEDULER_API_TOKEN from its .env.
 */
export async function connectToInstance(options: ConnectOptions): Promise<InstanceConnection> {
  const env = options.env ?? process.env
  const instance = options.url === undefined || (await isInstanceDir(options.dir)) ? await loadInstance(options.dir) : undefined
  const baseUrl = options.url === undefined ? localBaseUrl((instance as Instance).env) : validateHttpUrl(options.url, '--url')

  let token: string | undefined
  let credential: CredentialSource = 'none'
  const explicit = options.tokenFile !== undefined || Boolean(env.AGNES_TOKEN)
  const instanceToken = instance && (options.url === undefined || urlBelongsToInstance(baseUrl, instance)) ? instance.env.get('SCHEDULER_API_TOKEN') : undefined
  if (!explicit && instanceToken !== undefined) {
    if (instanceToken.length < 32) {
      throw new InvalidInputError(`SCHEDULER_API_TOKEN in ${instance?.paths.env} is shorter than 32 characters, so the app ignores it`, {
        hint: 'Re-run `agnes init` to generate a proper one, then `agnes up` to restart the app with it.',
      })
    }

    token = instanceToken
    credential = 'instance-env'
  } else if (explicit || options.requireToken !== false) {
    token = await readSecret(
      {envVar: 'AGNES_TOKEN', file: options.tokenFile, fileFlag: '--token-file', label: `API token for ${baseUrl}`},
      {env, prompter: options.prompter, required: options.requireToken !== false},
    )
    credential = options.tokenFile === undefined ? (env.AGNES_TOKEN ? 'AGNES_TOKEN' : token ? 'prompt' : 'none') : 'token-file'
  }

  const authHint =
    credential === 'instance-env'
      ? `The app did not accept SCHEDULER_API_TOKEN from ${instance?.paths.env}. If it was changed after the app started, restart with \`agnes up\`.`
      : 'The instance did not accept the token from AGNES_TOKEN / --token-file; check that it is current and belongs to this instance.'
  const unreachableHint =
    options.url === undefined
      ? `Nothing answers at ${baseUrl}: start the instance with \`agnes up --dir ${instance?.paths.dir}\`, or check \`agnes status\`.`
      : `Nothing answers at ${baseUrl}: check --url and that the instance runs.`

  const client = new ApiClient({
    ...options.timeouts,
    authHint,
    baseUrl,
    reporter: options.reporter,
    signal: options.signal,
    token,
    unreachableHint,
  })
  return {api: new AgnesApi(client), baseUrl, close: () => client.close(), credential, instance}
}
