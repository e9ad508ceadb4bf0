import {createHash} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {AuthError, NotFoundError, UnreachableError} from '../../../src/lib/errors.js'
import {redact} from '../../../src/lib/secrets/redact.js'
import {parseAuthenticateHeader} from '../../../src/lib/image-registry/auth.js'
import {MANIFEST_MEDIA_TYPES, type RegistryClient, type RegistryClientOptions, createRegistryClient} from '../../../src/lib/image-registry/client.js'

const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json'
const DIGEST = `sha256:${'a'.repeat(64)}`

interface Hit {
  method: string
  path: string
  query: URLSearchParams
  authorization?: string
  accept?: string
}

type Handler = (request: IncomingMessage, response: ServerResponse, hit: Hit) => void

interface FakeRegistry {
  host: string
  hits: Hit[]
  hitsTo(path: string): Hit[]
}

let server: Server | undefined
let client: RegistryClient | undefined
let tempDir: string

beforeEach(() => {
  tempDir = mkdtempSync(join(tmpdir(), 'agnes-registry-test-'))
})

afterEach(async () => {
  await client?.close()
  client = undefined
  server?.closeAllConnections()
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined))
  server = undefined
  rmSync(tempDir, {recursive: true, force: true})
})

async function startRegistry(handler: Handler): Promise<FakeRegistry> {
  const hits: Hit[] = []
  server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://fake')
    const hit: Hit = {
      method: request.method ?? '',
      path: url.pathname,
      query: url.searchParams,
      authorization: request.headers.authorization,
      accept: request.headers.accept,
    }
    hits.push(hit)
    handler(request, response, hit)
  })
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return {host: `127.0.0.1:${address.port}`, hits, hitsTo: (path) => hits.filter((hit) => hit.path === path)}
}

/** A client isolated from this machine's Docker config and proxy settings, with fast retries. */
function newClient(options: RegistryClientOptions = {}): RegistryClient {
  client = createRegistryClient({env: {}, dockerConfigPath: join(tempDir, 'no-config.json'), backoffMs: 1, ...options})
  return client
}

function send(response: ServerResponse, status: number, headers: Record<string, string> = {}, body?: string): void {
  response.writeHead(status, headers)
  response.end(body)
}

function manifestFound(response: ServerResponse): void {
  send(response, 200, {'content-type': INDEX_TYPE, 'docker-content-digest': DIGEST})
}

describe('resolveDigest', () => {
  it('takes the digest from the Docker-Content-Digest header of a HEAD request', async () => {
    const registry = await startRegistry((_request, response) => manifestFound(response))
    const registryClient = newClient()

    const result = await registryClient.resolveDigest(`${registry.host}/keboola/agnes`, 'stable')

    expect(result).toEqual({digest: DIGEST, mediaType: INDEX_TYPE})
    expect(registry.hits.map((hit) => `${hit.method} ${hit.path}`)).toEqual(['HEAD /v2/keboola/agnes/manifests/stable'])
    for (const mediaType of MANIFEST_MEDIA_TYPES) expect(registry.hits[0]!.accept).toContain(mediaType)
    expect(registryClient.requests).toBe(1)
  })

  it('falls back to GET and hashes the manifest when HEAD gives no digest', async () => {
    const manifest = JSON.stringify({schemaVersion: 2, mediaType: INDEX_TYPE, manifests: []})
    const registry = await startRegistry((request, response) => {
      if (request.method === 'HEAD') return send(response, 200, {'content-type': INDEX_TYPE})
      send(response, 200, {'content-type': `${INDEX_TYPE}; charset=utf-8`}, manifest)
    })
    const registryClient = newClient()

    const result = await registryClient.resolveDigest(`${registry.host}/agnes`, 'stable')

    expect(result.digest).toBe(`sha256:${createHash('sha256').update(manifest).digest('hex')}`)
    expect(result.mediaType).toBe(INDEX_TYPE)
    expect(registry.hits.map((hit) => hit.method)).toEqual(['HEAD', 'GET'])
    expect(registryClient.requests).toBe(2)
  })

  it('resolves a digest reference too', async () => {
    const registry = await startRegistry((_request, response) => manifestFound(response))
    const result = await newClient().resolveDigest(`${registry.host}/agnes`, DIGEST)
    expect(result.digest).toBe(DIGEST)
    expect(registry.hits[0]!.path).toBe(`/v2/agnes/manifests/${DIGEST}`)
  })

  it('reports an unknown tag as NotFoundError (exit 6) without retrying', async () => {
    const registry = await startRegistry((_request, response) =>
      send(response, 404, {'content-type': 'application/json'}, JSON.stringify({errors: [{code: 'MANIFEST_UNKNOWN', message: 'manifest unknown'}]})),
    )
    const registryClient = newClient({retries: 5})

    const error = await registryClient.resolveDigest(`${registry.host}/agnes`, 'no-such-tag').catch((error_: unknown) => error_)

    expect(error).toBeInstanceOf(NotFoundError)
    expect((error as NotFoundError).exitCode).toBe(6)
    expect((error as NotFoundError).message).toBe(`Tag no-such-tag not found in repository ${registry.host}/agnes`)
    expect(registry.hits).toHaveLength(1)
  })

  it('suggests the newest versions of the channel when a version tag is missing', async () => {
    const registry = await startRegistry((request, response, hit) => {
      if (hit.path.endsWith('/tags/list')) {
        return send(response, 200, {}, JSON.stringify({tags: ['stable', 'stable-2026.05.99', 'dev-2026.05.600', 'stable-2026.05.531', 'sha-abcdef1']}))
      }
      send(response, 404)
    })

    const error = (await newClient().resolveDigest(`${registry.host}/agnes`, 'stable-2026.01.4').catch((error_: unknown) => error_)) as NotFoundError

    expect(error).toBeInstanceOf(NotFoundError)
    expect(error.hint).toContain('stable-2026.05.531, stable-2026.05.99')
    expect(error.hint).not.toContain('dev-')
    expect(registry.hitsTo('/v2/agnes/manifests/stable-2026.01.4')).toHaveLength(1)
  })

  it('rejects an invalid tag before any request', async () => {
    const registryClient = newClient()
    await expect(registryClient.resolveDigest('127.0.0.1:9/agnes', '../x')).rejects.toMatchObject({exitCode: 3})
    expect(registryClient.requests).toBe(0)
  })
})

describe('authentication', () => {
  function bearerRegistry(options: {tokenField?: 'token' | 'access_token'; tokenAuthorization?: (value: string | undefined) => void} = {}): Promise<FakeRegistry> {
    let realm = ''
    const token = 'fake-token-0123456789'
    return startRegistry((request, response, hit) => {
      realm ||= `http://${request.headers.host}/token`
      if (hit.path === '/token') {
        options.tokenAuthorization?.(hit.authorization)
        return send(response, 200, {'content-type': 'application/json'}, JSON.stringify({[options.tokenField ?? 'token']: token, expires_in: 300}))
      }
      if (hit.authorization !== `Bearer ${token}`) {
        return send(response, 401, {
          'www-authenticate': `Bearer realm="${realm}",service="fake-registry",scope="repository:keboola/agnes:pull"`,
        })
      }
      manifestFound(response)
    })
  }

  it('follows the bearer challenge, then reuses the cached token', async () => {
    const registry = await bearerRegistry()
    const registryClient = newClient()

    expect((await registryClient.resolveDigest(`${registry.host}/keboola/agnes`, 'stable')).digest).toBe(DIGEST)
    expect(registryClient.requests).toBe(3)
    const [tokenRequest] = registry.hitsTo('/token')
    expect(tokenRequest!.query.get('service')).toBe('fake-registry')
    expect(tokenRequest!.query.get('scope')).toBe('repository:keboola/agnes:pull')
    expect(tokenRequest!.authorization).toBeUndefined()

    await registryClient.resolveDigest(`${registry.host}/keboola/agnes`, 'dev')
    expect(registry.hitsTo('/token')).toHaveLength(1)
    expect(registryClient.requests).toBe(4)
    expect(redact('token fake-token-0123456789 leaked')).toBe('token *** leaked')
  })

  it('accepts access_token in the token response', async () => {
    const registry = await bearerRegistry({tokenField: 'access_token'})
    expect((await newClient().resolveDigest(`${registry.host}/keboola/agnes`, 'stable')).digest).toBe(DIGEST)
  })

  it('sends Basic credentials from the Docker config ($DOCKER_CONFIG) to the token endpoint', async () => {
    const seen: Array<string | undefined> = []
    const registry = await bearerRegistry({tokenAuthorization: (value) => seen.push(value)})
    const auth = Buffer.from('robot:docker-config-password').toString('base64')
    writeFileSync(join(tempDir, 'config.json'), JSON.stringify({auths: {[`https://${registry.host}`]: {auth}}}))
    client = createRegistryClient({env: {DOCKER_CONFIG: tempDir}, backoffMs: 1})

    await client.resolveDigest(`${registry.host}/keboola/agnes`, 'stable')

    expect(seen).toEqual([`Basic ${auth}`])
    expect(redact('password docker-config-password here')).toBe('password *** here')
    expect(redact(`header ${auth}`)).toBe('header ***')
  })

  it('reads username and password entries, and goes on anonymously past a broken config', async () => {
    const seen: Array<string | undefined> = []
    const registry = await bearerRegistry({tokenAuthorization: (value) => seen.push(value)})
    const configPath = join(tempDir, 'docker.json')
    writeFileSync(configPath, JSON.stringify({auths: {[registry.host]: {username: 'robot', password: 'plain-password'}}}))
    await newClient({dockerConfigPath: configPath}).resolveDigest(`${registry.host}/keboola/agnes`, 'stable')
    await client!.close()

    writeFileSync(configPath, '{not json')
    await newClient({dockerConfigPath: configPath}).resolveDigest(`${registry.host}/keboola/agnes`, 'stable')

    expect(seen).toEqual([`Basic ${Buffer.from('robot:plain-password').toString('base64')}`, undefined])
    expect(redact('plain-password')).toBe('***')
  })

  it('answers a Basic challenge with the Docker config credentials', async () => {
    const auth = Buffer.from('robot:another-password').toString('base64')
    const registry = await startRegistry((_request, response, hit) => {
      if (hit.authorization !== `Basic ${auth}`) return send(response, 401, {'www-authenticate': 'Basic realm="fake"'})
      manifestFound(response)
    })
    const configPath = join(tempDir, 'docker.json')
    writeFileSync(configPath, JSON.stringify({auths: {[registry.host]: {auth}}}))
    const registryClient = newClient({dockerConfigPath: configPath})

    await registryClient.resolveDigest(`${registry.host}/agnes`, 'stable')
    await registryClient.resolveDigest(`${registry.host}/agnes`, 'dev')

    expect(registry.hits.map((hit) => hit.authorization)).toEqual([undefined, `Basic ${auth}`, `Basic ${auth}`])
  })

  it('fails with AuthError (exit 5) when the registry still refuses after authorizing', async () => {
    const registry = await startRegistry((request, response, hit) => {
      if (hit.path === '/token') return send(response, 200, {}, JSON.stringify({token: 'useless-token-123'}))
      send(response, 401, {'www-authenticate': `Bearer realm="http://${request.headers.host}/token",service="fake"`})
    })

    const error = await newClient({retries: 3}).resolveDigest(`${registry.host}/private/agnes`, 'stable').catch((error_: unknown) => error_)

    expect(error).toBeInstanceOf(AuthError)
    expect((error as AuthError).exitCode).toBe(5)
    expect(registry.hitsTo('/token')[0]!.query.get('scope')).toBe('repository:private/agnes:pull')
    expect(registry.hits).toHaveLength(3)
  })

  it('fails with AuthError when the token endpoint refuses anonymous access', async () => {
    const registry = await startRegistry((request, response, hit) => {
      if (hit.path === '/token') return send(response, 403)
      send(response, 401, {'www-authenticate': `Bearer realm="http://${request.headers.host}/token",service="fake"`})
    })
    await expect(newClient().resolveDigest(`${registry.host}/agnes`, 'stable')).rejects.toMatchObject({exitCode: 5, message: expect.stringContaining('anonymous')})
  })

  it('fails with AuthError on 403', async () => {
    const registry = await startRegistry((_request, response) => send(response, 403))
    await expect(newClient().tagExists(`${registry.host}/agnes`, 'stable')).rejects.toBeInstanceOf(AuthError)
  })

  it('parses WWW-Authenticate challenges', () => {
    expect(parseAuthenticateHeader('Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull"')).toEqual({
      scheme: 'bearer',
      params: {realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:a/b:pull'},
    })
    expect(parseAuthenticateHeader('Basic realm="Registry Realm"')).toEqual({scheme: 'basic', params: {realm: 'Registry Realm'}})
    expect(parseAuthenticateHeader('Basic realm="x", Bearer realm="https://a/t"')?.scheme).toBe('bearer')
    expect(parseAuthenticateHeader(undefined)).toBeUndefined()
  })
})

describe('retries', () => {
  it('retries a 500 and succeeds', async () => {
    const registry = await startRegistry((_request, response, hit) => {
      if (registry.hits.length === 1) return send(response, 500)
      manifestFound(response)
    })
    const registryClient = newClient()

    expect((await registryClient.resolveDigest(`${registry.host}/agnes`, 'stable')).digest).toBe(DIGEST)
    expect(registryClient.requests).toBe(2)
  })

  it('honours Retry-After on 429', async () => {
    const registry = await startRegistry((_request, response, hit) => {
      if (registry.hits.length === 1) return send(response, 429, {'retry-after': '0'})
      manifestFound(response)
    })
    expect(await newClient({backoffMs: 60_000}).tagExists(`${registry.host}/agnes`, 'stable')).toBe(true)
    expect(registry.hits).toHaveLength(2)
  })

  it('gives up on a persistent 503 with UnreachableError (exit 8) after all attempts', async () => {
    const registry = await startRegistry((_request, response) => send(response, 503))
    const error = (await newClient({retries: 3}).resolveDigest(`${registry.host}/agnes`, 'stable').catch((error_: unknown) => error_)) as UnreachableError

    expect(error).toBeInstanceOf(UnreachableError)
    expect(error.exitCode).toBe(8)
    expect(error.message).toContain(registry.host)
    expect(error.message).toContain('HTTP 503')
    expect(error.hint).toBeTruthy()
    expect(registry.hits).toHaveLength(4)
  })

  it('turns a request that never answers into UnreachableError after the timeout', async () => {
    const registry = await startRegistry(() => {
      // Never answer.
    })
    const registryClient = newClient({timeoutMs: 150, retries: 1})
    const started = Date.now()

    const error = (await registryClient.resolveDigest(`${registry.host}/agnes`, 'stable').catch((error_: unknown) => error_)) as UnreachableError

    expect(error).toBeInstanceOf(UnreachableError)
    expect(error.message).toContain('no answer within 150 ms')
    expect(registry.hits).toHaveLength(2)
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('turns a refused connection into UnreachableError', async () => {
    const registry = await startRegistry(() => {})
    await new Promise((resolve) => server!.close(resolve))
    server = undefined

    const error = (await newClient({retries: 1}).listTags(`${registry.host}/agnes`).catch((error_: unknown) => error_)) as UnreachableError

    expect(error).toBeInstanceOf(UnreachableError)
    expect(error.message).toContain(registry.host)
    expect(error.message).toContain('2 attempts')
    expect(error.hint).toContain('running')
  })

  it('stops at once when the caller aborts', async () => {
    const registry = await startRegistry((_request, response) => send(response, 503))
    const controller = new AbortController()
    const registryClient = newClient({backoffMs: 10_000, retries: 5, signal: controller.signal})

    const pending = registryClient.resolveDigest(`${registry.host}/agnes`, 'stable')
    setTimeout(() => controller.abort(), 50)

    await expect(pending).rejects.toMatchObject({name: 'AbortError'})
    expect(registry.hits).toHaveLength(1)
  })
})

describe('listTags and tagExists', () => {
  it('follows Link pagination', async () => {
    const allTags = ['dev', 'stable', 'stable-2026.05.1', 'stable-2026.05.2', 'sha-1234567']
    const registry = await startRegistry((_request, response, hit) => {
      const pageSize = Math.min(Number(hit.query.get('n') ?? 100), 2)
      const last = hit.query.get('last')
      const start = last === null ? 0 : allTags.indexOf(last) + 1
      const page = allTags.slice(start, start + pageSize)
      const headers: Record<string, string> = {'content-type': 'application/json'}
      if (start + pageSize < allTags.length) headers.link = `</v2/keboola/agnes/tags/list?n=${pageSize}&last=${page.at(-1)}>; rel="next"`
      send(response, 200, headers, JSON.stringify({name: 'keboola/agnes', tags: page}))
    })
    const registryClient = newClient()

    expect(await registryClient.listTags(`${registry.host}/keboola/agnes`)).toEqual(allTags)
    expect(registryClient.requests).toBe(3)
    expect(registry.hits[0]!.query.get('n')).toBe('1000')
  })

  it('drops the page size when the registry refuses it', async () => {
    const registry = await startRegistry((_request, response, hit) => {
      if (hit.query.has('n')) {
        return send(response, 400, {}, JSON.stringify({errors: [{code: 'PAGINATION_NUMBER_INVALID', message: 'invalid number of results requested'}]}))
      }
      send(response, 200, {}, JSON.stringify({tags: ['stable']}))
    })
    expect(await newClient().listTags(`${registry.host}/agnes`)).toEqual(['stable'])
    expect(registry.hits).toHaveLength(2)
  })

  it('reports a missing repository as NotFoundError', async () => {
    const registry = await startRegistry((_request, response) => send(response, 404))
    await expect(newClient().listTags(`${registry.host}/agnes`)).rejects.toBeInstanceOf(NotFoundError)
  })

  it('tells whether a tag exists', async () => {
    const registry = await startRegistry((_request, response, hit) => {
      if (hit.path.endsWith('/stable')) return manifestFound(response)
      send(response, 404)
    })
    const registryClient = newClient()

    expect(await registryClient.tagExists(`${registry.host}/agnes`, 'stable')).toBe(true)
    expect(await registryClient.tagExists(`${registry.host}/agnes`, 'stable-2020.01.1')).toBe(false)
    expect(registryClient.requests).toBe(2)
  })
})
