import {access} from 'node:fs/promises'

import {InvalidInputError} from '../errors.js'
import {isLoopbackHost} from '../loopback.js'
import {instancePaths} from '../instance/paths.js'
import {Instance, instancePort, loadInstance, localBaseUrl} from '../instance/state.js'
import {Prompter} from '../ui/prompt.js'
import {Reporter} from '../ui/reporter.js'
import {readSecret} from '../secrets/input.js'
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
  /** True when baseUrl is where the instance in dir is published: only then may secrets from its files go there. */
  ownInstance: boolean
  close(): Promise<void>
}

async function isInstanceDir(dir: string): Promise<boolean> {
  try {
    await access(instancePaths(dir).stateFile)
    return true
  } catch {
    return false
  }
}

/** AGNES_HTTP_BIND values that publish the app port on 127.0.0.1 (init writes 0.0.0.0 or 127.0.0.1). */
const LOOPBACK_PUBLISHING_BINDS = new Set(['', '0.0.0.0', '::', '127.0.0.1', 'localhost'])

function originOf(url: string): string | undefined {
  return URL.canParse(url) ? new URL(url).origin : undefined
}

/**
 * The origins (scheme, host, port) the instance is published on, from its files: AGNES_HTTP_PORT on
 * loopback (or on AGNES_HTTP_BIND when that is one address) and, with TLS on, https://DOMAIN. Secrets from
 * the instance's files go nowhere else.
 */
export function instanceOrigins(instance: Instance): string[] {
  const {env, state} = instance
  const port = instancePort(env)
  const bind = (env.get('AGNES_HTTP_BIND') ?? '').trim().toLowerCase()
  const domain = env.get('DOMAIN')?.trim()
  const candidates = [
    localBaseUrl(env),
    LOOPBACK_PUBLISHING_BINDS.has(bind) ? `http://localhost:${port}` : `http://${bind.includes(':') ? `[${bind}]` : bind}:${port}`,
    bind === '::' ? `http://[::1]:${port}` : undefined,
    domain && state.tls !== 'none' ? `https://${domain}` : undefined,
  ]
  return [...new Set(candidates.flatMap((url) => (url === undefined ? [] : (originOf(url) ?? []))))]
}

/** What the caller gave to authenticate explicitly, instead of the instance's own token. */
function explicitTokenGiven(options: ConnectOptions, env: NodeJS.ProcessEnv): boolean {
  return options.tokenFile !== undefined || Boolean(env.AGNES_TOKEN)
}

/** No credential travels unencrypted over a network: plain http only to this host's loopback. */
function assertSafeForCredentials(baseUrl: string, what: string): void {
  const url = new URL(baseUrl)
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new InvalidInputError(`refusing to send ${what} over plain HTTP to ${url.host}`, {
      hint: 'Use the https:// URL of the instance (TLS on), or run agnes on the instance host and leave out --url.',
    })
  }
}

/**
 * Builds the API client for a command: the base URL from --url or the instance in dir, and the bearer
 * token from --token-file, AGNES_TOKEN, or (for the instance's own URL only) SCHEDULER_API_TOKEN from its .env.
 */
export async function connectToInstance(options: ConnectOptions): Promise<InstanceConnection> {
  const env = options.env ?? process.env
  const instance = options.url === undefined || (await isInstanceDir(options.dir)) ? await loadInstance(options.dir) : undefined
  const baseUrl = options.url === undefined ? localBaseUrl((instance as Instance).env) : validateHttpUrl(options.url, '--url')
  const ownOrigins = instance ? instanceOrigins(instance) : []
  const ownInstance = instance !== undefined && (options.url === undefined || ownOrigins.includes(new URL(baseUrl).origin))
  const explicit = explicitTokenGiven(options, env)
  if (explicit || options.requireToken !== false) assertSafeForCredentials(baseUrl, 'the API token')

  let token: string | undefined
  let credential: CredentialSource = 'none'
  const instanceToken = instance?.env.get('SCHEDULER_API_TOKEN')
  if (!explicit && instanceToken !== undefined && options.requireToken !== false && !ownInstance) {
    throw new InvalidInputError(`${baseUrl} is not where the instance in ${instance?.paths.dir} is published (${ownOrigins.join(', ')}), so its SCHEDULER_API_TOKEN is not sent there`, {
      hint: `To talk to ${baseUrl}, give its token with --token-file <path> or AGNES_TOKEN; for this instance, leave out --url.`,
    })
  }

  if (!explicit && instanceToken !== undefined && ownInstance) {
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
  return {api: new AgnesApi(client), baseUrl, close: () => client.close(), credential, instance, ownInstance}
}
