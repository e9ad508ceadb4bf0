/**
 * A client for the Registry HTTP API v2 (the OCI distribution API): resolve a tag to a manifest digest,
 * list tags, check that a tag exists. agnes resolves a channel once and deploys by digest, so this is the
 * only place that talks to the registry about tags. HTTP is in http.ts, logins in auth.ts.
 */
import {createHash} from 'node:crypto'

import {AuthError, InvalidInputError, NotFoundError, UnreachableError} from '../errors.js'
import {type CachedToken, type DockerConfig, basicFor, dockerConfigPathFrom, fetchToken, loadDockerConfig, loginHint, parseAuthenticateHeader} from './auth.js'
import {type Headers, type HttpResponse, HttpSender, firstRegistryError, header, nextPagePath, parseJson, unexpectedStatus} from './http.js'
import {type ImageRepository, isDigest, isTag, parseRepository, registryBaseUrl} from './image-ref.js'
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
const TAGS_PAGE_SIZE = 1000
const MAX_TAG_PAGES = 1000
const SUGGESTED_VERSIONS = 5

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

class HttpRegistryClient implements RegistryClient {
  readonly #dockerConfigPath: string
  readonly #signal?: AbortSignal
  readonly #tokens = new Map<string, CachedToken>()
  readonly #basicAuthorizations = new Map<string, string>()
  readonly #http: HttpSender
  #dockerConfig?: Promise<DockerConfig>

  constructor(options: RegistryClientOptions) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    const env = options.env ?? process.env
    this.#http = new HttpSender({
      backoffMs: options.backoffMs ?? DEFAULT_BACKOFF_MS,
      connectTimeoutMs: Math.min(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, timeoutMs),
      env,
      retries: Math.max(0, options.retries ?? DEFAULT_RETRIES),
      timeoutMs,
    })
    this.#dockerConfigPath = options.dockerConfigPath ?? dockerConfigPathFrom(env)
    this.#signal = options.signal
  }

  get requests(): number {
    return this.#http.requests
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
    await this.#http.close()
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

    let response = await this.#http.send(url, method, headers(this.#cachedAuthorization(repo.registry, scope)), signal)
    if (response.status === 401) {
      const authorization = await this.#authorize(repo, scope, response, signal)
      response = await this.#http.send(url, method, headers(authorization), signal)
    }
    if (response.status === 401 || response.status === 403) {
      const config = await this.#loadDockerConfig()
      throw new AuthError(`Registry ${repo.registry} denied access to ${repo.name} (HTTP ${response.status})`, {
        hint: loginHint(repo.registry, config, 'If the repository is private, log in with `docker login`. Registries also deny access to a repository that does not exist: check the name.'),
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
    const basic = basicFor(repo.registry, config)
    if (challenge?.scheme === 'bearer' && challenge.params.realm) {
      return this.#fetchToken(repo.registry, challenge.params, scope, basic, config, signal)
    }
    if (challenge?.scheme === 'basic' && basic) {
      const authorization = `Basic ${basic}`
      this.#basicAuthorizations.set(repo.registry, authorization)
      return authorization
    }
    throw new AuthError(`Registry ${repo.registry} requires a login to read ${repo.name}`, {
      hint: loginHint(repo.registry, config, `Log in with \`docker login ${repo.registry}\`.`),
      details: {registry: repo.registry, repository: repo.name},
    })
  }

  async #fetchToken(registry: string, params: Record<string, string>, scope: string, basic: string | undefined, config: DockerConfig, signal: AbortSignal | undefined): Promise<string> {
    const token = await fetchToken(this.#http, registry, params, scope, basic, config, signal)
    this.#tokens.set(`${registry} ${scope}`, token)
    return token.authorization
  }

  #loadDockerConfig(): Promise<DockerConfig> {
    this.#dockerConfig ??= loadDockerConfig(this.#dockerConfigPath)
    return this.#dockerConfig
  }
}

export function createRegistryClient(options: RegistryClientOptions = {}): RegistryClient {
  return new HttpRegistryClient(options)
}
