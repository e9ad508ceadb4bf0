// The release gates against the stand-in and the local registry (127.0.0.1:5000): a build the publisher
// tagged deprecated-* is never deployed, the canary retracts a crashing release (`upgrade --retract-on-failure`),
// and `agnes release retract` does it by hand; without push rights it is exit 5 and nothing changes.
import {createServer, type Server} from 'node:http'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runAgnes} from '../helpers/run-cli.js'
import {Published, REGISTRY, TestInstance, destroyInstance, publishStandard, runningInstance, servingNow, singleJson} from './fixtures.js'

type Images = typeof import('../standin/images.mjs')
let images: Images
let published: Published
let instance: TestInstance

const digestOf = (tag: string) => images.manifestDigest({repository: published.repository, tag})

beforeAll(async () => {
  images = await import('../standin/images.mjs')
  published = await publishStandard('release-gates')
  instance = await runningInstance('release-gates', published.repository)
})

afterAll(() => {
  destroyInstance(instance)
})

/** A registry in front of the local one that lets everyone read and nobody push (PUT is HTTP 403). */
async function readOnlyRegistry(): Promise<{server: Server; registry: string}> {
  const server = createServer(async (request, response) => {
    if (request.method === 'PUT') {
      response.writeHead(403, {'content-type': 'application/json'})
      response.end(JSON.stringify({errors: [{code: 'DENIED', message: 'requested access to the resource is denied'}]}))
      return
    }

    const upstream = await fetch(`http://${REGISTRY}${request.url}`, {headers: {accept: String(request.headers.accept ?? '*/*')}, method: request.method})
    const headers: Record<string, string> = {}
    for (const name of ['content-type', 'docker-content-digest', 'link']) {
      const value = upstream.headers.get(name)
      if (value) headers[name] = value
    }

    response.writeHead(upstream.status, headers)
    response.end(request.method === 'HEAD' ? undefined : Buffer.from(await upstream.arrayBuffer()))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {registry: `127.0.0.1:${(server.address() as {port: number}).port}`, server}
}

describe('release gates', () => {
  it('a deprecated channel digest is not deployed by upgrade, nor by pin without --force', async () => {
    const running = await digestOf('stable')
    const {digest: bad} = await images.publish({channel: 'stable', repository: published.repository, tag: 'stable-2026.05.1', version: '0.86.1'})
    await images.moveTag({fromTag: 'stable-2026.05.1', repository: published.repository, toTag: 'stable'})
    await images.moveTag({fromTag: 'stable-2026.05.1', repository: published.repository, toTag: 'deprecated-2026.05.1'})

    const upgrade = await runAgnes(['upgrade', '--json', '--dir', instance.dir, '--smoke-settle', '0'])
    expect(upgrade.exitCode, upgrade.stderr).toBe(0)
    const {result, warnings} = singleJson(upgrade)
    expect(result).toMatchObject({deprecatedTag: 'deprecated-2026.05.1', outcome: 'up-to-date'})
    expect(warnings.join('\n')).toContain('deprecated-2026.05.1')
    expect((await servingNow(instance)).version).toBe('0.84.2')

    const pin = await runAgnes(['pin', 'stable-2026.05.1', '--json', '--dir', instance.dir])
    expect(pin.exitCode, pin.stderr).toBe(7)
    expect(singleJson(pin).error.message).toContain('deprecated-2026.05.1')
    expect((await servingNow(instance)).version).toBe('0.84.2')

    // The publisher moves stable back; the instance stays where it was, up to date.
    await images.moveTag({fromTag: 'stable-2026.04.2', repository: published.repository, toTag: 'stable'})
    expect(await digestOf('stable')).toBe(running)
    expect(bad).not.toBe(running)
  })

  it('--retract-on-failure: a crashing release is rolled back, tagged deprecated, and stable moved back', async () => {
    const good = await digestOf('stable')
    const {digest: crashing} = await images.publish({channel: 'stable', repository: published.repository, tag: 'stable-2026.05.2', variant: 'crash', version: '0.86.2'})
    await images.moveTag({fromTag: 'stable-2026.05.2', repository: published.repository, toTag: 'stable'})

    const upgrade = await runAgnes(['upgrade', '--retract-on-failure', '--json', '--dir', instance.dir, '--smoke-settle', '0'])
    expect(upgrade.exitCode, upgrade.stderr).toBe(10)
    const envelope = singleJson(upgrade)
    expect(envelope.result.retraction).toMatchObject({channelMovedTo: good, deprecatedTag: 'deprecated-2026.05.2', version: 'stable-2026.05.2'})
    expect(await digestOf('deprecated-2026.05.2')).toBe(crashing)
    expect(await digestOf('stable')).toBe(good)
    expect(await servingNow(instance)).toMatchObject({healthy: true, version: '0.84.2'})

    const history = singleJson(await runAgnes(['history', '--json', '--dir', instance.dir])).result
    expect(JSON.stringify(history)).toContain('retracted')
  })

  it('release retract tags a release deprecated and moves its channel back to the newest good one', async () => {
    const good = await digestOf('stable')
    const {digest: released} = await images.publish({channel: 'stable', repository: published.repository, tag: 'stable-2026.05.3', version: '0.86.3'})
    await images.moveTag({fromTag: 'stable-2026.05.3', repository: published.repository, toTag: 'stable'})

    const retract = await runAgnes(['release', 'retract', 'stable-2026.05.3', '--json', '--dir', instance.dir])
    expect(retract.exitCode, retract.stderr).toBe(0)
    // 05.1 and 05.2 are deprecated already, so the newest good release is stable-2026.04.2.
    expect(singleJson(retract).result).toMatchObject({channelMovedTo: good, deprecatedTag: 'deprecated-2026.05.3', digest: released})
    expect(await digestOf('deprecated-2026.05.3')).toBe(released)
    expect(await digestOf('stable')).toBe(good)
  })

  it('release retract without push rights is exit 5 with a hint, and no tag changes', async () => {
    const {server, registry} = await readOnlyRegistry()
    try {
      const proxied = published.repository.replace(REGISTRY, registry)
      const retract = await runAgnes(['release', 'retract', 'stable-2026.04.1', '--image', proxied, '--json', '--dir', instance.dir])
      expect(retract.exitCode, retract.stderr).toBe(5)
      const {error} = singleJson(retract)
      expect(error.message).toContain('HTTP 403')
      expect(error.hint).toContain('docker login')
      expect(await digestOf('deprecated-2026.04.1')).toBeNull()
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
