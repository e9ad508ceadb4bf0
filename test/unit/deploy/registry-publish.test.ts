// The registry writes of a retraction (src/lib/image-registry/publish.ts) against a small HTTP registry:
// a manifest copied by digest with its media type, push logins from the Docker config, and a clear exit 5.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {AuthError} from '../../../src/lib/errors.js'
import {createPublisher} from '../../../src/lib/image-registry/publish.js'

const DIGEST = `sha256:${'d'.repeat(64)}`
const MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json'
const MANIFEST = JSON.stringify({manifests: [], mediaType: MEDIA_TYPE, schemaVersion: 2})

let server: Server | undefined
let configDir: string | undefined

afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)))
  if (configDir) rmSync(configDir, {force: true, recursive: true})
  server = undefined
  configDir = undefined
})

interface Seen {
  method: string
  url: string
  authorization?: string
  contentType?: string
  body: string
}

async function registry(answer: (request: Seen) => {status: number; headers?: Record<string, string>; body?: string}): Promise<{host: string; seen: Seen[]}> {
  const seen: Seen[] = []
  server = createServer(async (request: IncomingMessage, response) => {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const entry = {authorization: request.headers.authorization, body: Buffer.concat(chunks).toString('utf8'), contentType: request.headers['content-type'], method: request.method ?? '', url: request.url ?? ''}
    seen.push(entry)
    const {status, headers = {}, body = ''} = answer(entry)
    response.writeHead(status, headers)
    response.end(body)
  })
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
  return {host: `127.0.0.1:${(server.address() as {port: number}).port}`, seen}
}

function dockerLogin(host: string, user: string, password: string): NodeJS.ProcessEnv {
  configDir = mkdtempSync(join(tmpdir(), 'agnes-docker-config-'))
  writeFileSync(join(configDir, 'config.json'), JSON.stringify({auths: {[host]: {auth: Buffer.from(`${user}:${password}`).toString('base64')}}}))
  return {DOCKER_CONFIG: configDir}
}

describe('createPublisher', () => {
  it('copies a manifest: GET by digest, PUT the same bytes under the tag with its media type', async () => {
    const {host, seen} = await registry((request) => (request.method === 'GET' ? {body: MANIFEST, headers: {'content-type': MEDIA_TYPE}, status: 200} : {status: 201}))
    const publisher = createPublisher(`${host}/acme/agnes`)
    await publisher.putManifest('deprecated-2026.05.7', await publisher.getManifest(DIGEST))
    expect(seen.map((request) => `${request.method} ${request.url}`)).toEqual([`GET /v2/acme/agnes/manifests/${DIGEST}`, 'PUT /v2/acme/agnes/manifests/deprecated-2026.05.7'])
    expect(seen[1]).toMatchObject({body: MANIFEST, contentType: MEDIA_TYPE})
  })

  it('answers a Basic challenge with the Docker config login', async () => {
    let host = ''
    const expected = `Basic ${Buffer.from('ci:push-pw-5521').toString('base64')}`
    const started = await registry((request) => (request.authorization === expected ? {status: 201} : {headers: {'www-authenticate': 'Basic realm="registry"'}, status: 401}))
    host = started.host
    const publisher = createPublisher(`${host}/acme/agnes`, {env: dockerLogin(host, 'ci', 'push-pw-5521')})
    await publisher.putManifest('stable', {body: Buffer.from(MANIFEST), digest: DIGEST, mediaType: MEDIA_TYPE})
    expect(started.seen.map((request) => request.authorization)).toEqual([undefined, expected])
  })

  it('asks a token service for pull and push', async () => {
    const started = await registry((request) => {
      if (request.url.startsWith('/token')) return {body: JSON.stringify({token: 'push-token-7788'}), status: 200}
      if (request.authorization === 'Bearer push-token-7788') return {status: 201}
      return {headers: {'www-authenticate': `Bearer realm="http://${started.host}/token",service="registry"`}, status: 401}
    })
    const publisher = createPublisher(`${started.host}/acme/agnes`)
    await publisher.putManifest('stable', {body: Buffer.from(MANIFEST), digest: DIGEST, mediaType: MEDIA_TYPE})
    const token = started.seen.find((request) => request.url.startsWith('/token'))
    expect(new URL(token!.url, 'http://x').searchParams.get('scope')).toBe('repository:acme/agnes:pull,push')
  })

  it('without push rights: exit 5, with a hint to log in as an account that may push', async () => {
    const {host} = await registry(() => ({body: JSON.stringify({errors: [{code: 'DENIED'}]}), status: 403}))
    const error = await createPublisher(`${host}/acme/agnes`)
      .putManifest('stable', {body: Buffer.from(MANIFEST), digest: DIGEST, mediaType: MEDIA_TYPE})
      .catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(AuthError)
    expect((error as AuthError).exitCode).toBe(5)
    expect((error as AuthError).message).toContain('HTTP 403')
    expect((error as AuthError).hint).toContain('docker login')
  })
})
