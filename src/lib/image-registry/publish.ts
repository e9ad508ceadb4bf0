/**
 * Registry writes for a publisher's retraction: copy a manifest to another tag by GETting it by digest (with
 * its media type) and PUTting the same bytes under the tag. No layer is pulled or pushed: the blobs are
 * already in the repository. Push rights come from the Docker config login (client.ts reads the same logins).
 *
 * undici is imported inside functions so that loading this module costs nothing.
 */
import {AuthError, UnreachableError} from '../errors.js'
import {registerSecret} from '../secrets/redact.js'
import {parseAuthenticateHeader, registryPullAuth} from './auth.js'
import {MANIFEST_MEDIA_TYPES} from './client.js'
import {type ImageRepository, parseRepository, registryBaseUrl} from './image-ref.js'

const TIMEOUT_MS = 30_000

export interface Manifest {
  digest: string
  mediaType: string
  body: Buffer
}

export interface RegistryPublisher {
  /** HTTP requests sent so far, token requests included. */
  readonly requests: number
  getManifest(digest: string): Promise<Manifest>
  /** PUTs the manifest under `tag`; AuthError (exit 5) without push rights. */
  putManifest(tag: string, manifest: Manifest): Promise<void>
}

interface Response {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

function headerOf(response: Response, name: string): string | undefined {
  const value = response.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

function pushHint(repo: ImageRepository): string {
  return `Retracting needs push rights to ${repo.name}: log in with \`docker login ${repo.registry}\` as an account that may push (agnes reads ~/.docker/config.json or $DOCKER_CONFIG), then run again.`
}

export function createPublisher(repository: string, options: {signal?: AbortSignal; env?: NodeJS.ProcessEnv} = {}): RegistryPublisher {
  const repo = parseRepository(repository)
  const base = registryBaseUrl(repo.registry)
  let authorization: string | undefined
  let requests = 0

  async function send(method: 'GET' | 'PUT', path: string, headers: Record<string, string>, body?: Buffer): Promise<Response> {
    const {request} = await import('undici')
    requests++
    try {
      const response = await request(new URL(path, base), {
        body,
        headers: {'user-agent': 'agnes', ...headers, ...(authorization ? {authorization} : {})},
        method,
        signal: options.signal ? AbortSignal.any([options.signal, AbortSignal.timeout(TIMEOUT_MS)]) : AbortSignal.timeout(TIMEOUT_MS),
      })
      return {body: Buffer.from(await response.body.arrayBuffer()), headers: response.headers, status: response.statusCode}
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason
      throw new UnreachableError(`Registry ${repo.registry} is unreachable: ${(error as Error).message}`, {hint: `Check that this host can reach ${base}, then run again.`})
    }
  }

  /** Answers a 401 challenge with the Docker-config login, asking a token service for pull and push. */
  async function authorize(challengeHeader: string | undefined): Promise<void> {
    const login = await registryPullAuth(repo.registry, {env: options.env})
    const basic = login ? Buffer.from(`${login.username}:${login.password}`).toString('base64') : undefined
    const challenge = parseAuthenticateHeader(challengeHeader)
    if (challenge?.scheme === 'bearer' && challenge.params.realm) {
      const url = new URL(challenge.params.realm)
      if (challenge.params.service) url.searchParams.set('service', challenge.params.service)
      url.searchParams.set('scope', `repository:${repo.path}:pull,push`)
      const {request} = await import('undici')
      requests++
      const response = await request(url, {headers: basic ? {authorization: `Basic ${basic}`} : {}, signal: AbortSignal.timeout(TIMEOUT_MS)})
      const text = await response.body.text()
      if (response.statusCode !== 200) throw new AuthError(`Registry ${repo.registry} refused a push token for ${repo.name} (HTTP ${response.statusCode})`, {hint: pushHint(repo)})
      const token = (JSON.parse(text) as {token?: string; access_token?: string}).token ?? (JSON.parse(text) as {access_token?: string}).access_token
      if (!token) throw new AuthError(`Registry ${repo.registry} answered the token request without a token`, {hint: pushHint(repo)})
      registerSecret(token)
      authorization = `Bearer ${token}`
      return
    }

    if (!basic) throw new AuthError(`Registry ${repo.registry} requires a login to change tags of ${repo.name}, and there is none`, {hint: pushHint(repo)})
    authorization = `Basic ${basic}`
  }

  async function authorized(method: 'GET' | 'PUT', path: string, headers: Record<string, string>, body?: Buffer): Promise<Response> {
    let response = await send(method, path, headers, body)
    if (response.status === 401 && authorization === undefined) {
      await authorize(headerOf(response, 'www-authenticate'))
      response = await send(method, path, headers, body)
    }

    if (response.status === 401 || response.status === 403) {
      throw new AuthError(`Registry ${repo.registry} denied ${method === 'PUT' ? 'pushing a tag to' : 'reading'} ${repo.name} (HTTP ${response.status})`, {
        details: {registry: repo.registry, status: response.status},
        hint: pushHint(repo),
      })
    }

    return response
  }

  return {
    get requests() {
      return requests
    },
    async getManifest(digest) {
      const response = await authorized('GET', `/v2/${repo.path}/manifests/${digest}`, {accept: MANIFEST_MEDIA_TYPES.join(', ')})
      if (response.status !== 200) throw new UnreachableError(`Registry ${repo.registry} answered HTTP ${response.status} to the manifest ${digest}`, {hint: `Check that ${digest} is in ${repo.name}.`})
      const mediaType = headerOf(response, 'content-type')?.split(';')[0]?.trim() || ((JSON.parse(response.body.toString('utf8')) as {mediaType?: string}).mediaType ?? '')
      return {body: response.body, digest, mediaType}
    },
    async putManifest(tag, manifest) {
      const response = await authorized('PUT', `/v2/${repo.path}/manifests/${tag}`, {'content-type': manifest.mediaType}, manifest.body)
      if (response.status !== 201 && response.status !== 200) {
        throw new UnreachableError(`Registry ${repo.registry} answered HTTP ${response.status} to tagging ${repo.name}:${tag}`, {hint: pushHint(repo)})
      }
    },
  }
}
