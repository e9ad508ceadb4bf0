import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {AuthError} from '../../../src/lib/errors.js'
import {parseAuthenticateHeader} from '../../../src/lib/image-registry/auth.js'
import {createRegistryClient} from '../../../src/lib/image-registry/client.js'
import {redact} from '../../../src/lib/secrets/redact.js'
import {DIGEST, type FakeRegistry, adoptClient, closeClient, manifestFound, newClient, send, startRegistry, tempDir, useFakeRegistry} from './fake-registry.js'

useFakeRegistry()

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
    const client = adoptClient(createRegistryClient({env: {DOCKER_CONFIG: tempDir}, backoffMs: 1}))

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
    await closeClient()

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
