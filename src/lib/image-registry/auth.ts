/**
 * Registry logins: the ones `docker login` wrote to the Docker config, as the registry API client and the
 * engine's image pull use them, and the token flow of the distribution spec.
 */
import {readFile} from 'node:fs/promises'
import {homedir} from 'node:os'
import {join} from 'node:path'

import {AuthError} from '../errors.js'
import {registerSecret} from '../secrets/redact.js'
import {HttpSender, parseJson, unexpectedStatus} from './http.js'

/** Tokens are refreshed this long before the registry says they expire. */
const TOKEN_EXPIRY_MARGIN_MS = 10_000
/** The token lifetime the distribution spec prescribes when the token response names none. */
const DEFAULT_TOKEN_LIFETIME_S = 60

export interface AuthChallenge {
  scheme: 'bearer' | 'basic'
  params: Record<string, string>
}

export interface DockerConfig {
  path: string
  /** base64 `user:password` per registry host. */
  auths: Map<string, string>
  /** Why the file could not be used, for the hint of an AuthError. */
  problem?: string
}

export interface CachedToken {
  authorization: string
  expiresAt: number
}

/** Parses `Bearer realm="…",service="…",scope="…"`; picks Bearer over Basic when several are offered. */
export function parseAuthenticateHeader(value: string | undefined): AuthChallenge | undefined {
  if (!value) return undefined
  const challenges: AuthChallenge[] = []
  const pattern = /(?:^|,)\s*(Bearer|Basic)\b|([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/gi
  for (const match of value.matchAll(pattern)) {
    if (match[1]) {
      challenges.push({scheme: match[1].toLowerCase() as AuthChallenge['scheme'], params: {}})
    } else if (challenges.length > 0) {
      challenges.at(-1)!.params[match[2]!.toLowerCase()] = (match[3] ?? match[4] ?? '').replace(/\\(.)/g, '$1')
    }
  }
  return challenges.find((challenge) => challenge.scheme === 'bearer') ?? challenges[0]
}

export function dockerConfigPathFrom(env: NodeJS.ProcessEnv): string {
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, 'config.json')
  return join(env.HOME || homedir(), '.docker', 'config.json')
}

/** `https://index.docker.io/v1/` → `index.docker.io`, the way Docker matches `auths` keys to registries. */
function authKeyHost(key: string): string {
  return key.replace(/^https?:\/\//i, '').split('/')[0]!.toLowerCase()
}

const DOCKER_HUB_HOSTS = ['index.docker.io', 'docker.io', 'registry-1.docker.io']

function registryAuthHosts(registry: string): string[] {
  const host = registry.toLowerCase()
  return DOCKER_HUB_HOSTS.includes(host) ? DOCKER_HUB_HOSTS : [host]
}

/**
 * Reads logins from the Docker config the way `docker login` writes them without a credential helper:
 * `auths[host].auth` (base64 `user:password`) or `username` and `password`. Credential helpers
 * (`credsStore`, `credHelpers`) are not run: they are external programs that agnes does not start on
 * the operator's behalf. Like the Docker CLI, a broken file is noted and the client goes on anonymously.
 */
export async function loadDockerConfig(path: string): Promise<DockerConfig> {
  const auths = new Map<string, string>()
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return code === 'ENOENT' ? {path, auths} : {path, auths, problem: `${path} could not be read (${code ?? String(error)})`}
  }

  let parsed: {auths?: Record<string, {auth?: unknown; username?: unknown; password?: unknown} | null>; credsStore?: unknown; credHelpers?: unknown}
  try {
    parsed = JSON.parse(text) as typeof parsed
  } catch {
    return {path, auths, problem: `${path} is not valid JSON`}
  }
  if (typeof parsed !== 'object' || parsed === null) return {path, auths, problem: `${path} does not hold a JSON object`}

  for (const [key, entry] of Object.entries(parsed.auths ?? {})) {
    let basic: string | undefined
    if (typeof entry?.auth === 'string' && entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8')
      if (decoded.includes(':')) {
        basic = entry.auth
        registerSecret(decoded)
        registerSecret(decoded.slice(decoded.indexOf(':') + 1))
      }
    } else if (typeof entry?.username === 'string' && typeof entry.password === 'string' && entry.username && entry.password) {
      basic = Buffer.from(`${entry.username}:${entry.password}`).toString('base64')
      registerSecret(entry.password)
    }
    if (basic) {
      registerSecret(basic)
      auths.set(authKeyHost(key), basic)
    }
  }

  const usesHelpers = parsed.credsStore !== undefined || parsed.credHelpers !== undefined
  return usesHelpers && auths.size === 0
    ? {path, auths, problem: `${path} keeps logins in a credential helper, which agnes does not read`}
    : {path, auths}
}

export interface PullAuth {
  username: string
  password: string
  serveraddress: string
}

/**
 * The Docker-config login for a registry, as the engine's image pull takes it (X-Registry-Auth): the same
 * logins the registry API client uses, so a private image that resolves also pulls.
 */
export async function registryPullAuth(registry: string, options: {dockerConfigPath?: string; env?: NodeJS.ProcessEnv} = {}): Promise<PullAuth | undefined> {
  const config = await loadDockerConfig(options.dockerConfigPath ?? dockerConfigPathFrom(options.env ?? process.env))
  for (const host of registryAuthHosts(registry)) {
    const basic = config.auths.get(host)
    if (!basic) continue
    const decoded = Buffer.from(basic, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    // Docker Hub's logins are filed under its v1 index address, which the engine expects back.
    const serveraddress = DOCKER_HUB_HOSTS.includes(host) ? 'https://index.docker.io/v1/' : host
    return {password: decoded.slice(colon + 1), serveraddress, username: decoded.slice(0, colon)}
  }

  return undefined
}

/** The base64 `user:password` login for a registry, if the Docker config has one. */
export function basicFor(registry: string, config: DockerConfig): string | undefined {
  for (const host of registryAuthHosts(registry)) {
    const basic = config.auths.get(host)
    if (basic) return basic
  }
  return undefined
}

/** An AuthError hint: the advice, which login agnes used (or that it found none), and what was wrong with the config. */
export function loginHint(registry: string, config: DockerConfig, advice: string): string {
  const basic = basicFor(registry, config)
  const source = basic ? `agnes used the login for ${registry} from ${config.path}.` : `agnes found no login for ${registry} in ${config.path}.`
  return [advice, source, config.problem ? `Note: ${config.problem}.` : ''].filter(Boolean).join(' ')
}

/** The token flow of the distribution spec: GET realm?service=…&scope=…, Basic credentials when there are any. */
export async function fetchToken(
  http: HttpSender,
  registry: string,
  params: Record<string, string>,
  scope: string,
  basic: string | undefined,
  config: DockerConfig,
  signal: AbortSignal | undefined,
): Promise<CachedToken> {
  const realm = params.realm ?? ''
  if (!URL.canParse(realm) || !['https:', 'http:'].includes(new URL(realm).protocol)) {
    throw new AuthError(`Registry ${registry} named an unusable token service "${realm}"`, {details: {registry}})
  }
  const url = new URL(realm)
  if (params.service) url.searchParams.set('service', params.service)
  url.searchParams.set('scope', params.scope ?? scope)

  const response = await http.send(url, 'GET', basic ? {authorization: `Basic ${basic}`} : {}, signal)
  if (response.status === 401 || response.status === 403) {
    throw new AuthError(
      basic
        ? `Registry ${registry} refused the login from ${config.path} for ${scope}`
        : `Registry ${registry} refused anonymous access for ${scope}`,
      {
        hint: loginHint(registry, config, basic ? `Log in again with \`docker login ${registry}\`.` : `If the repository is private, log in with \`docker login ${registry}\`; also check the repository name.`),
        details: {registry, status: response.status},
      },
    )
  }
  if (response.status !== 200) throw unexpectedStatus(url.host, response, 'a token request')

  const body = parseJson(url.host, response, 'a token') as {token?: unknown; access_token?: unknown; expires_in?: unknown}
  const token = typeof body.token === 'string' && body.token ? body.token : body.access_token
  if (typeof token !== 'string' || !token) {
    throw new AuthError(`Registry ${registry} answered the token request without a token`, {details: {registry}})
  }
  registerSecret(token)
  const lifetimeS = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_LIFETIME_S
  return {authorization: `Bearer ${token}`, expiresAt: Date.now() + lifetimeS * 1000 - TOKEN_EXPIRY_MARGIN_MS}
}
