import {mkdtempSync, rmSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach} from 'vitest'

import {type RegistryClient, type RegistryClientOptions, createRegistryClient} from '../../../src/lib/image-registry/client.js'

export const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json'
export const DIGEST = `sha256:${'a'.repeat(64)}`

export interface Hit {
  method: string
  path: string
  query: URLSearchParams
  authorization?: string
  accept?: string
}

export type Handler = (request: IncomingMessage, response: ServerResponse, hit: Hit) => void

export interface FakeRegistry {
  host: string
  hits: Hit[]
  hitsTo(path: string): Hit[]
}

let server: Server | undefined
let client: RegistryClient | undefined
/** A directory of the current test, removed after it. */
export let tempDir: string

/** A fresh directory per test, and the fake registry and the client closed after it. */
export function useFakeRegistry(): void {
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
}


export async function startRegistry(handler: Handler): Promise<FakeRegistry> {
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
export function newClient(options: RegistryClientOptions = {}): RegistryClient {
  client = createRegistryClient({env: {}, dockerConfigPath: join(tempDir, 'no-config.json'), backoffMs: 1, ...options})
  return client
}

export function send(response: ServerResponse, status: number, headers: Record<string, string> = {}, body?: string): void {
  response.writeHead(status, headers)
  response.end(body)
}

export function manifestFound(response: ServerResponse): void {
  send(response, 200, {'content-type': INDEX_TYPE, 'docker-content-digest': DIGEST})
}

/** Closes the client of this test after it, like those newClient makes. */
export function adoptClient(registryClient: RegistryClient): RegistryClient {
  client = registryClient
  return client
}

export async function closeClient(): Promise<void> {
  await client?.close()
  client = undefined
}

/** Stops the fake registry now: nothing listens on its port any more. */
export async function stopRegistry(): Promise<void> {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined))
  server = undefined
}
