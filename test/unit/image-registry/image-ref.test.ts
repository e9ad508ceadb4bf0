import {describe, expect, it} from 'vitest'

import {InvalidInputError} from '../../../src/lib/errors.js'
import {digestReference, isDigest, parseReference, parseRepository, registryBaseUrl} from '../../../src/lib/image-registry/image-ref.js'

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`

function invalidMessage(action: () => unknown): string {
  try {
    action()
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError)
    expect((error as InvalidInputError).exitCode).toBe(3)
    return (error as InvalidInputError).message
  }
  throw new Error('expected InvalidInputError')
}

describe('parseRepository', () => {
  it.each([
    ['ghcr.io/keboola/agnes-the-ai-analyst', 'ghcr.io', 'keboola/agnes-the-ai-analyst'],
    ['127.0.0.1:5000/agnes', '127.0.0.1:5000', 'agnes'],
    ['localhost:5000/a/b', 'localhost:5000', 'a/b'],
    ['localhost/agnes', 'localhost', 'agnes'],
    ['europe-docker.pkg.dev/p/r/agnes', 'europe-docker.pkg.dev', 'p/r/agnes'],
    ['[::1]:5000/agnes', '[::1]:5000', 'agnes'],
    ['library/x', 'registry-1.docker.io', 'library/x'],
    ['x', 'registry-1.docker.io', 'library/x'],
    ['keboola/agnes', 'registry-1.docker.io', 'keboola/agnes'],
    ['docker.io/x', 'registry-1.docker.io', 'library/x'],
    ['index.docker.io/keboola/agnes', 'registry-1.docker.io', 'keboola/agnes'],
    ['ghcr.io/a/b_c.d__e--f', 'ghcr.io', 'a/b_c.d__e--f'],
  ])('%s → registry %s, path %s', (input, registry, path) => {
    expect(parseRepository(input)).toEqual({registry, path, name: input})
  })

  it.each([
    ['', 'empty'],
    ['ghcr.io/Keboola/agnes', 'lowercase'],
    ['Keboola/agnes', 'lowercase'],
    ['ghcr.io/keboola/agnes ', 'whitespace'],
    ['ghcr.io/kebo ola/agnes', 'whitespace'],
    ['-ghcr.io/agnes', 'must not start with "-"'],
    ['ghcr.io/keboola/agnes:stable', 'includes a tag'],
    [`ghcr.io/keboola/agnes@${DIGEST}`, 'includes a digest'],
    ['https://ghcr.io/keboola/agnes', 'URL scheme'],
    ['127.0.0.1:5000', 'without a repository path'],
    ['ghcr.io/keboola//agnes', 'empty path component'],
    ['ghcr.io/keboola/agnes/', 'empty path component'],
    ['ghcr.io/-agnes', 'not a valid path component'],
    ['ghcr.io/agnes_', 'not a valid path component'],
    ['ghcr.io/a...b', 'not a valid path component'],
    ['bad_host.io/agnes', 'not a valid registry host'],
    ['localhost:99999/agnes', 'out of range'],
    [`ghcr.io/${'a'.repeat(260)}`, 'longer than 255'],
  ])('rejects %j (%s)', (input, problem) => {
    const message = invalidMessage(() => parseRepository(input))
    expect(message).toContain(problem)
    expect(message).toContain(JSON.stringify(input))
  })
})

describe('parseReference', () => {
  it('splits tag and digest off the repository', () => {
    expect(parseReference('ghcr.io/keboola/agnes:stable-2026.05.531')).toEqual({
      repository: {registry: 'ghcr.io', path: 'keboola/agnes', name: 'ghcr.io/keboola/agnes'},
      tag: 'stable-2026.05.531',
    })
    expect(parseReference(`localhost:5000/a/b@${DIGEST}`)).toEqual({
      repository: {registry: 'localhost:5000', path: 'a/b', name: 'localhost:5000/a/b'},
      digest: DIGEST,
    })
    expect(parseReference(`127.0.0.1:5000/agnes:stable@${DIGEST}`)).toMatchObject({tag: 'stable', digest: DIGEST})
    expect(parseReference('127.0.0.1:5000/agnes')).toEqual({repository: parseRepository('127.0.0.1:5000/agnes')})
    expect(parseReference('redis:7')).toEqual({repository: {registry: 'registry-1.docker.io', path: 'library/redis', name: 'redis'}, tag: '7'})
  })

  it('rejects bad tags and digests', () => {
    expect(invalidMessage(() => parseReference('ghcr.io/a:.bad'))).toContain('not a valid tag')
    expect(invalidMessage(() => parseReference(`ghcr.io/a:${'x'.repeat(129)}`))).toContain('not a valid tag')
    expect(invalidMessage(() => parseReference('ghcr.io/a@sha256:abc'))).toContain('not a valid digest')
    expect(invalidMessage(() => parseReference('ghcr.io/A:stable'))).toContain('lowercase')
  })
})

describe('digests', () => {
  it('recognises sha256 digests', () => {
    expect(isDigest(DIGEST)).toBe(true)
    expect(isDigest(DIGEST.toUpperCase())).toBe(false)
    expect(isDigest('sha256:abc')).toBe(false)
    expect(isDigest('stable')).toBe(false)
  })

  it('builds repo@digest from the repository as typed', () => {
    expect(digestReference('ghcr.io/keboola/agnes', DIGEST)).toBe(`ghcr.io/keboola/agnes@${DIGEST}`)
    expect(digestReference(parseRepository('x'), DIGEST)).toBe(`x@${DIGEST}`)
    expect(invalidMessage(() => digestReference('ghcr.io/keboola/agnes', 'sha256:nope'))).toContain('digest')
    expect(invalidMessage(() => digestReference('ghcr.io/keboola/agnes:stable', DIGEST))).toContain('includes a tag')
  })
})

describe('registryBaseUrl', () => {
  it.each([
    ['ghcr.io', 'https://ghcr.io'],
    ['europe-docker.pkg.dev', 'https://europe-docker.pkg.dev'],
    ['registry.example.com:8443', 'https://registry.example.com:8443'],
    ['localhost', 'http://localhost'],
    ['localhost:5000', 'http://localhost:5000'],
    ['127.0.0.1:5000', 'http://127.0.0.1:5000'],
    ['127.1.2.3', 'http://127.1.2.3'],
    ['[::1]:5000', 'http://[::1]:5000'],
    ['128.0.0.1:5000', 'https://128.0.0.1:5000'],
    ['localhost.example.com', 'https://localhost.example.com'],
    ['registry-1.docker.io', 'https://registry-1.docker.io'],
    ['docker.io', 'https://registry-1.docker.io'],
  ])('%s → %s', (registry, url) => {
    expect(registryBaseUrl(registry)).toBe(url)
  })
})
