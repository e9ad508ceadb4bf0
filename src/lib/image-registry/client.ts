/**
 * A client for the Registry HTTP API v2 (the OCI distribution API): resolve a tag to a manifest digest,
 * list tags, check that a tag exists. agnes resolves a channel once and deploys by digest, so this is the
 * only place that talks to the registry about tags.
 *
 * undici is imported inside functions so that loading this module (e.g. for `agnes --help`) costs nothing.
 */
import {deadline} from '../deadline.js'
import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import type {Dispatcher} from 'undici'

import {AuthError, InvalidInputError, NotFoundError, UnreachableError} from '../errors.js'
import {type ImageRepository, isDigest, isLoopbackRegistry, isTag, parseRepository, registryBaseUrl} from './image-ref.js'
import {registerSecret} from '../secrets/redact.js'
import {VERSION_TAG_EXAMPLE, parseVersionTag, sortVersionTags} from './versions.js'

export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
] as const
const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ')

export interface RegistryClientOptions {
  /** Deadline for one HTTP request, from connect to the last body byte (default 30 000 ms). */
  timeoutMs?: number
  /** Deadline for the TCP and TLS connect alone (default 10 000 ms, never more than timeoutMs). */
  connectTimeoutMs?: number
  /** Extra attempts after a network error, a timeout, a 5xx or a 429 (default 2, i.e. 3 attempts in all). */
  retries?: number
  /** Wait before the first retry; it doubles with every further retry (default 500 ms). */
  backoffMs?: number
  /** The Docker client config file with registry logins (default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`). */
  dockerConfigPath?: string
  /** Environment for DOCKER_CONFIG, HOME and the proxy variables (default process.env). */
  env?: NodeJS.ProcessEnv
  /** Aborts every request of this client. */
  signal?: AbortSignal
}

export interface CallOptions {
  signal?: AbortSignal
}

export interface ManifestDigest {
  /** `sha256:…` of the manifest (an image index for multi-platform images): what `repo@digest` pulls. */
  digest: string
  mediaType: string
}

export interface RegistryClient {
  /** HTTP requests sent so far, retries and token requests included. */
  readonly requests: number
  /** The digest a tag (or digest) points at now. NotFoundError when the registry does not have it. */
  resolveDigest(repository: string | ImageRepository, reference: string, options?: CallOptions): Promise<ManifestDigest>
  /** Every tag of the repository, in the registry's order. NotFoundError when the repository does not exist. */
  listTags(repository: string | ImageRepository, options?: CallOptions): Promise<string[]>
  tagExists(repository: string | ImageRepository, reference: string, options?: CallOptions): Promise<boolean>
  /** Closes idle connections; the client must not be used afterwards. */
  close(): Promise<void>
}

const DEFAULT_TIMEOUT_MS = 30_000
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000
const DEFAULT_RETRIES = 2
const DEFAULT_BACKOFF_MS = 500
/** A registry asking for a longer pause is treated as down for now; cron runs again later anyway. */
const MAX_WAIT_MS = 30_000
const TAGS_PAGE_SIZE = 1000
const MAX_TAG_PAGES = 1000
/** Tokens are refreshed this long before the registry says they expire. */
const TOKEN_EXPIRY_MARGIN_MS = 10_000
/** The token lifetime the distribution spec prescribes when the token response names none. */
const DEFAULT_TOKEN_LIFETIME_S = 60
const SUGGESTED_VERSIONS = 5
const USER_AGENT = 'agnes'

type Headers = Record<string, string>

interface HttpResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

export interface AuthChallenge {
  scheme: 'bearer' | 'basic'
  params: Record<string, string>
}

interface DockerConfig {
  path: string
  /** base64 `user:password` per registry host. */
  auths: Map<string, string>
  /** Why the file could not be used, for the hint of an AuthError. */
  problem?: string
}

interface CachedToken {
  authorization: string
  expiresAt: number
}

/** A failed attempt (network error or timeout) that may be retried. */
class AttemptFailure extends Error {}

function header(response: HttpResponse, name: string): string | undefined {
  const value = response.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

function toRepository(repository: string | ImageRepository): ImageRepository {
  return typeof repository === 'string' ? parseRepository(repository) : repository
}

function validateReference(reference: string): void {
  if (!isTag(reference) && !isDigest(reference)) {
    throw new InvalidInputError(`Invalid tag "${reference}": expected a tag such as stable or ${VERSION_TAG_EXAMPLE}, or a sha256: digest`)
  }
}

function manifestPath(repository: ImageRepository, reference: string): string {
  return `/v2/${repository.path}/manifests/${reference}`
}

function mediaTypeOf(response: HttpResponse): string {
  return header(response, 'content-type')?.split(';')[0]?.trim() ?? ''
}

function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500
}

/** Retry-After is either seconds or an HTTP date. */
function retryAfterMs(response: HttpResponse): number | undefined {
  const value = header(response, 'retry-after')?.trim()
  if (!value) return undefined
  if (/^\d+$/.test(value)) return Number(value) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now())
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

/** The `next` target of an RFC 5988 Link header, e.g. `</v2/a/tags/list?n=2&last=b>; rel="next"`. */
function nextLink(response: HttpResponse): string | undefined {
  const value = header(response, 'link')
  if (!value) return undefined
  for (const part of value.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part)
    if (match && /;\s*rel="?next"?/i.test(match[2]!)) return match[1]
  }
  return undefined
}

/** Only the path and query of the next link are kept, so credentials never go to another host. */
function nextPagePath(response: HttpResponse, registry: string): string | undefined {
  const link = nextLink(response)
  if (link === undefined) return undefined
  const url = new URL(link, registryBaseUrl(registry))
  return url.pathname + url.search
}

function firstRegistryError(response: HttpResponse): {code?: string; message?: string} | undefined {
  try {
    const parsed = JSON.parse(response.body.toString('utf8')) as {errors?: Array<{code?: string; message?: string}>}
    return parsed?.errors?.[0]
  } catch {
    // Not a JSON error body: the status code says enough.
    return undefined
  }
}

/** The first `errors[]` entry of a registry error body, as `CODE: message`. */
function registryErrorText(response: HttpResponse): string | undefined {
  const first = firstRegistryError(response)
  return first ? [first.code, first.message].filter(Boolean).join(': ') || undefined : undefined
}

function reachHint(registry: string): string {
  const base = registryBaseUrl(registry)
  return isLoopbackRegistry(registry)
    ? `Is the registry at ${base} running? Start it, then run the command again.`
    : `Check that this host can reach ${base} (DNS, firewall, HTTPS_PROXY), then run the command again; the registry may also be down for a while.`
}

function unexpectedStatus(registry: string, response: HttpResponse, what: string): InvalidInputError | UnreachableError {
  const detail = registryErrorText(response)
  const message = `Registry ${registry} answered HTTP ${response.status} to ${what}${detail ? ` (${detail})` : ''}`
  const details = {registry, status: response.status}
  return response.status === 400
    ? new InvalidInputError(message, {hint: 'Check the repository name and the tag.', details})
    : new UnreachableError(message, {hint: reachHint(registry), details})
}

function parseJson(registry: string, response: HttpResponse, what: string): unknown {
  try {
    return JSON.parse(response.body.toString('utf8'))
  } catch {
    throw new UnreachableError(`Registry ${registry} sent ${what} that is not valid JSON`, {hint: reachHint(registry), details: {registry}})
  }
}

function dockerConfigPathFrom(env: NodeJS.ProcessEnv): string {
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
async function loadDockerConfig(path: string): Promise<DockerConfig> {
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

class HttpRegistryClient implements RegistryClient {
  readonly #timeoutMs: number
  readonly #connectTimeoutMs: number
  readonly #retries: number
  readonly #backoffMs: number
  readonly #env: NodeJS.ProcessEnv
  readonly #dockerConfigPath: string
  readonly #signal?: AbortSignal
  readonly #tokens = new Map<string, CachedToken>()
  readonly #basicAuthorizations = new Map<string, string>()
  #dispatcher?: Promise<Dispatcher>
  #dockerConfig?: Promise<DockerConfig>
  #requests = 0

  constructor(options: RegistryClientOptions) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.#connectTimeoutMs = Math.min(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, this.#timeoutMs)
    this.#retries = Math.max(0, options.retries ?? DEFAULT_RETRIES)
    this.#backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS
    this.#env = options.env ?? process.env
    this.#dockerConfigPath = options.dockerConfigPath ?? dockerConfigPathFrom(this.#env)
    this.#signal = options.signal
  }

  get requests(): number {
    return this.#requests
  }

  async resolveDigest(repository: string | ImageRepository, reference: string, options: CallOptions = {}): Promise<ManifestDigest> {
    const repo = toRepository(repository)
    validateReference(reference)
    const signal = this.#callSignal(options)
    const head = await this.#registryRequest(repo, 'HEAD', manifestPath(repo, reference), MANIFEST_ACCEPT, signal)
    if (head.status === 404) throw await this.#notFound(repo, reference, signal)
    if (head.status !== 200) throw unexpectedStatus(repo.registry, head, `the manifest of ${repo.name}:${reference}`)
    const digest = header(head, 'docker-content-digest')?.trim()
    if (digest && isDigest(digest)) return {digest, mediaType: mediaTypeOf(head)}

    // Without Docker-Content-Digest the digest is, by definition, the sha256 of the manifest bytes.
    const get = await this.#registryRequest(repo, 'GET', manifestPath(repo, reference), MANIFEST_ACCEPT, signal)
    if (get.status === 404) throw await this.#notFound(repo, reference, signal)
    if (get.status !== 200) throw unexpectedStatus(repo.registry, get, `the manifest of ${repo.name}:${reference}`)
    const manifest = parseJson(repo.registry, get, 'a manifest') as {mediaType?: unknown}
    return {
      digest: `sha256:${createHash('sha256').update(get.body).digest('hex')}`,
      mediaType: mediaTypeOf(get) || (typeof manifest.mediaType === 'string' ? manifest.mediaType : ''),
    }
  }

  async tagExists(repository: string | ImageRepository, reference: string, options: CallOptions = {}): Promise<boolean> {
    const repo = toRepository(repository)
    validateReference(reference)
    const head = await this.#registryRequest(repo, 'HEAD', manifestPath(repo, reference), MANIFEST_ACCEPT, this.#callSignal(options))
    if (head.status === 404) return false
    if (head.status !== 200) throw unexpectedStatus(repo.registry, head, `the manifest of ${repo.name}:${reference}`)
    return true
  }

  async listTags(repository: string | ImageRepository, options: CallOptions = {}): Promise<string[]> {
    const repo = toRepository(repository)
    const signal = this.#callSignal(options)
    const tags: string[] = []
    const firstPage = `/v2/${repo.path}/tags/list`
    let next: string | undefined = `${firstPage}?n=${TAGS_PAGE_SIZE}`
    for (let page = 0; next !== undefined; page++) {
      if (page === MAX_TAG_PAGES) {
        throw new UnreachableError(`Registry ${repo.registry} keeps paginating the tags of ${repo.name} past ${MAX_TAG_PAGES} pages`, {
          details: {registry: repo.registry},
        })
      }
      const response = await this.#registryRequest(repo, 'GET', next, 'application/json', signal)
      if (response.status === 404) {
        throw new NotFoundError(`Repository ${repo.name} not found in registry ${repo.registry}`, {
          hint: 'Check the image repository name (e.g. ghcr.io/keboola/agnes-the-ai-analyst).',
          details: {repository: repo.name},
        })
      }
      if (response.status === 400 && page === 0 && firstRegistryError(response)?.code === 'PAGINATION_NUMBER_INVALID') {
        // This registry caps the page size lower: let it use its own default and follow its links.
        next = firstPage
        continue
      }
      if (response.status !== 200) throw unexpectedStatus(repo.registry, response, `the tag list of ${repo.name}`)
      const body = parseJson(repo.registry, response, 'a tag list') as {tags?: unknown}
      if (Array.isArray(body.tags)) tags.push(...body.tags.filter((tag): tag is string => typeof tag === 'string'))
      next = nextPagePath(response, repo.registry)
    }
    return tags
  }

  async close(): Promise<void> {
    const dispatcher = await this.#dispatcher
    await dispatcher?.close()
  }

  #callSignal(options: CallOptions): AbortSignal | undefined {
    const signals = [this.#signal, options.signal].filter((signal): signal is AbortSignal => signal !== undefined)
    return signals.length > 1 ? AbortSignal.any(signals) : signals[0]
  }

  async #notFound(repo: ImageRepository, reference: string, signal: AbortSignal | undefined): Promise<NotFoundError> {
    const what = isDigest(reference) ? `Digest ${reference}` : `Tag ${reference}`
    let hint = `Check the name; versions look like ${VERSION_TAG_EXAMPLE}, and the publisher prunes versions older than about two months.`
    const version = parseVersionTag(reference)
    if (version) {
      try {
        const newest = sortVersionTags(await this.listTags(repo, {signal}), version.channel).slice(0, SUGGESTED_VERSIONS)
        if (newest.length > 0) hint = `The newest ${version.channel} versions in ${repo.name}: ${newest.join(', ')}.`
      } catch (error) {
        // The suggestion is a courtesy: a failure to list tags must not hide the not-found error, unless the caller aborted.
        if (signal?.aborted) throw error
      }
    }
    return new NotFoundError(`${what} not found in repository ${repo.name}`, {hint, details: {repository: repo.name, reference}})
  }

  /** A request to the registry API with authorization: a cached token, or the challenge flow after a 401. */
  async #registryRequest(
    repo: ImageRepository,
    method: 'GET' | 'HEAD',
    pathAndQuery: string,
    accept: string,
    signal: AbortSignal | undefined,
  ): Promise<HttpResponse> {
    const url = new URL(pathAndQuery, registryBaseUrl(repo.registry))
    const scope = `repository:${repo.path}:pull`
    const headers = (authorization: string | undefined): Headers => ({accept, ...(authorization ? {authorization} : {})})

    let response = await this.#send(url, method, headers(this.#cachedAuthorization(repo.registry, scope)), signal)
    if (response.status === 401) {
      const authorization = await this.#authorize(repo, scope, response, signal)
      response = await this.#send(url, method, headers(authorization), signal)
    }
    if (response.status === 401 || response.status === 403) {
      const config = await this.#loadDockerConfig()
      throw new AuthError(`Registry ${repo.registry} denied access to ${repo.name} (HTTP ${response.status})`, {
        hint: this.#loginHint(repo.registry, config, 'If the repository is private, log in with `docker login`. Registries also deny access to a repository that does not exist: check the name.'),
        details: {registry: repo.registry, repository: repo.name, status: response.status},
      })
    }
    return response
  }

  #cachedAuthorization(registry: string, scope: string): string | undefined {
    const token = this.#tokens.get(`${registry} ${scope}`)
    if (token && token.expiresAt > Date.now()) return token.authorization
    return this.#basicAuthorizations.get(registry)
  }

  async #authorize(repo: ImageRepository, scope: string, response: HttpResponse, signal: AbortSignal | undefined): Promise<string> {
    const challenge = parseAuthenticateHeader(header(response, 'www-authenticate'))
    const config = await this.#loadDockerConfig()
    const basic = this.#basicFor(repo.registry, config)
    if (challenge?.scheme === 'bearer' && challenge.params.realm) {
      return this.#fetchToken(repo.registry, challenge.params, scope, basic, config, signal)
    }
    if (challenge?.scheme === 'basic' && basic) {
      const authorization = `Basic ${basic}`
      this.#basicAuthorizations.set(repo.registry, authorization)
      return authorization
    }
    throw new AuthError(`Registry ${repo.registry} requires a login to read ${repo.name}`, {
      hint: this.#loginHint(repo.registry, config, `Log in with \`docker login ${repo.registry}\`.`),
      details: {registry: repo.registry, repository: repo.name},
    })
  }

  /** The token flow of the distribution spec: GET realm?service=…&scope=…, Basic credentials when there are any. */
  async #fetchToken(
    registry: string,
    params: Record<string, string>,
    scope: string,
    basic: string | undefined,
    config: DockerConfig,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const realm = params.realm ?? ''
    if (!URL.canParse(realm) || !['https:', 'http:'].includes(new URL(realm).protocol)) {
      throw new AuthError(`Registry ${registry} named an unusable token service "${realm}"`, {details: {registry}})
    }
    const url = new URL(realm)
    if (params.service) url.searchParams.set('service', params.service)
    url.searchParams.set('scope', params.scope ?? scope)

    const response = await this.#send(url, 'GET', basic ? {authorization: `Basic ${basic}`} : {}, signal)
    if (response.status === 401 || response.status === 403) {
      throw new AuthError(
        basic
          ? `Registry ${registry} refused the login from ${config.path} for ${scope}`
          : `Registry ${registry} refused anonymous access for ${scope}`,
        {
          hint: this.#loginHint(registry, config, basic ? `Log in again with \`docker login ${registry}\`.` : `If the repository is private, log in with \`docker login ${registry}\`; also check the repository name.`),
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
    const authorization = `Bearer ${token}`
    this.#tokens.set(`${registry} ${scope}`, {authorization, expiresAt: Date.now() + lifetimeS * 1000 - TOKEN_EXPIRY_MARGIN_MS})
    return authorization
  }

  #basicFor(registry: string, config: DockerConfig): string | undefined {
    for (const host of registryAuthHosts(registry)) {
      const basic = config.auths.get(host)
      if (basic) return basic
    }
    return undefined
  }

  #loginHint(registry: string, config: DockerConfig, advice: string): string {
    const basic = this.#basicFor(registry, config)
    const source = basic ? `agnes used the login for ${registry} from ${config.path}.` : `agnes found no login for ${registry} in ${config.path}.`
    return [advice, source, config.problem ? `Note: ${config.problem}.` : ''].filter(Boolean).join(' ')
  }

  #loadDockerConfig(): Promise<DockerConfig> {
    this.#dockerConfig ??= loadDockerConfig(this.#dockerConfigPath)
    return this.#dockerConfig
  }

  #getDispatcher(): Promise<Dispatcher> {
    this.#dispatcher ??= import('undici').then(
      ({EnvHttpProxyAgent}) =>
        // Proxy settings come from the client's env (an empty string means none), not from process.env behind its back.
        new EnvHttpProxyAgent({
          connectTimeout: this.#connectTimeoutMs,
          headersTimeout: this.#timeoutMs,
          bodyTimeout: this.#timeoutMs,
          httpProxy: this.#env.http_proxy ?? this.#env.HTTP_PROXY ?? '',
          httpsProxy: this.#env.https_proxy ?? this.#env.HTTPS_PROXY ?? '',
          noProxy: this.#env.no_proxy ?? this.#env.NO_PROXY ?? '',
        }),
    )
    return this.#dispatcher
  }

  /** One request with retries on network errors, timeouts, 5xx and 429; UnreachableError when they run out. */
  async #send(url: URL, method: 'GET' | 'HEAD', headers: Headers, signal: AbortSignal | undefined): Promise<HttpResponse> {
    const attempts = this.#retries + 1
    for (let attempt = 1; ; attempt++) {
      let waitMs = Math.min(this.#backoffMs * 2 ** (attempt - 1), MAX_WAIT_MS)
      let problem: string
      try {
        const response = await this.#sendOnce(url, method, headers, signal)
        if (!isRetryableStatus(response.status)) return response
        problem = `HTTP ${response.status}${response.status === 429 ? ' (too many requests)' : ''}`
        waitMs = retryAfterMs(response) ?? waitMs
      } catch (error) {
        if (!(error instanceof AttemptFailure)) throw error
        problem = error.message
      }

      if (attempt >= attempts || waitMs > MAX_WAIT_MS) {
        throw new UnreachableError(`Registry ${url.host} is unreachable: ${problem} (${attempt} attempt${attempt === 1 ? '' : 's'})`, {
          hint: reachHint(url.host),
          details: {registry: url.host, attempts: attempt},
        })
      }
      await sleep(waitMs, undefined, {signal})
    }
  }

  async #sendOnce(url: URL, method: 'GET' | 'HEAD', headers: Headers, signal: AbortSignal | undefined): Promise<HttpResponse> {
    const {request} = await import('undici')
    const dispatcher = await this.#getDispatcher()
    const limit = deadline(this.#timeoutMs, signal)
    this.#requests++
    try {
      const response = await request(url, {
        method,
        headers: {'user-agent': USER_AGENT, ...headers},
        dispatcher,
        signal: limit.signal,
      })
      const body = Buffer.from(await response.body.arrayBuffer())
      return {status: response.statusCode, headers: response.headers, body}
    } catch (error) {
      if (signal?.aborted) throw signal.reason
      if (limit.signal.aborted) throw new AttemptFailure(`no answer within ${this.#timeoutMs} ms`)
      const code = (error as {code?: unknown}).code
      if (code === 'UND_ERR_CONNECT_TIMEOUT') throw new AttemptFailure(`connect timed out after ${this.#connectTimeoutMs} ms`)
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') throw new AttemptFailure(`no answer within ${this.#timeoutMs} ms`)
      throw new AttemptFailure(error instanceof Error ? error.message : String(error))
    } finally {
      limit.clear()
    }
  }
}

export function createRegistryClient(options: RegistryClientOptions = {}): RegistryClient {
  return new HttpRegistryClient(options)
}
