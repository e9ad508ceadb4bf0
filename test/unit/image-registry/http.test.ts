import {describe, expect, it} from 'vitest'

import {UnreachableError} from '../../../src/lib/errors.js'
import {DIGEST, manifestFound, newClient, send, startRegistry, stopRegistry, useFakeRegistry} from './fake-registry.js'

useFakeRegistry()

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
    await stopRegistry()

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
