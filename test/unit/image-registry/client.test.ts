import {createHash} from 'node:crypto'
import {describe, expect, it} from 'vitest'

import {NotFoundError} from '../../../src/lib/errors.js'
import {MANIFEST_MEDIA_TYPES} from '../../../src/lib/image-registry/client.js'
import {DIGEST, INDEX_TYPE, manifestFound, newClient, send, startRegistry, useFakeRegistry} from './fake-registry.js'

useFakeRegistry()

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
