// agnes logs against a running stand-in instance: the stand-in logs every request path, so a request for a
// path made of a secret puts that secret in the app's log; agnes must show the line with the secret masked.
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runAgnes} from '../helpers/run-cli.js'
import {Published, TestInstance, destroyInstance, newInstance, publishStandard, readEnvFile, singleJson} from './fixtures.js'

describe('agnes logs against a running instance', () => {
  let published: Published
  let instance: TestInstance
  let env: Record<string, string>
  let compose: string

  beforeAll(async () => {
    published = await publishStandard('logs')
    instance = await newInstance('logs', {repository: published.repository})
    const up = await runAgnes(['up', '--json', '--dir', instance.dir])
    if (up.exitCode !== 0) throw new Error(`up failed: ${up.stdout}\n${up.stderr}`)
    compose = singleJson(up).result.compose
    env = readEnvFile(join(instance.dir, '.env'))
    // The stand-in logs `GET /<path> 404 …` for an unknown path.
    expect((await fetch(`${instance.url}/${env.JWT_SECRET_KEY}`)).status).toBe(404)
  })

  afterAll(() => {
    destroyInstance(instance)
  })

  it('shows the app log of this project with the secret the app printed masked', async () => {
    const human = await runAgnes(['logs', 'app', '--tail', '200', '--dir', instance.dir])
    expect(human.exitCode, human.stderr).toBe(0)
    expect(human.stdout).toContain('GET /*** 404')
    expect(human.stdout).toContain("Listening on http://0.0.0.0:")
    expect(human.stdout + human.stderr).not.toContain(env.JWT_SECRET_KEY)

    const json = await runAgnes(['logs', 'app', '--tail', '200', '--json', '--dir', instance.dir])
    const result = singleJson(json).result
    expect(json.exitCode).toBe(0)
    expect(result).toMatchObject({project: instance.project, service: 'app'})
    expect(result.output.some((line: {text: string}) => line.text.includes('GET /*** 404'))).toBe(true)
    expect(json.stdout).not.toContain(env.JWT_SECRET_KEY)
  })

  it('--follow streams new lines as they are written and Ctrl-C ends it with exit 130', async () => {
    let seen = ''
    let resolveSeen: () => void
    const lineSeen = new Promise<void>((resolve) => (resolveSeen = resolve))
    const marker = `${env.SESSION_SECRET}-followed`
    const follow = runAgnes(['logs', 'app', '--follow', '--tail', '0', '--dir', instance.dir], {
      onSpawn: (child) => {
        child.stdout?.on('data', (chunk: Buffer) => {
          seen += chunk.toString('utf8')
          if (seen.includes('GET /***-followed 404')) resolveSeen()
        })
        // Keep asking until the follower is attached and shows the request.
        const timer = setInterval(() => void fetch(`${instance.url}/${marker}`).catch(() => {}), 500)
        void lineSeen.then(() => {
          clearInterval(timer)
          child.kill('SIGINT')
        })
        setTimeout(() => clearInterval(timer), 60_000).unref()
      },
      timeoutMs: 90_000,
    })
    const result = await follow
    expect(result.stdout).toContain('GET /***-followed 404')
    expect(result.exitCode, result.stderr).toBe(130)
    expect(result.stdout + result.stderr).not.toContain(env.SESSION_SECRET)
  })

  it('--since works on Compose v2 and is a clear input error on v1', async () => {
    const since = await runAgnes(['logs', 'app', '--since', '1h', '--json', '--dir', instance.dir])
    if (compose.startsWith('docker-compose 1.')) {
      expect(since.exitCode).toBe(3)
      expect(singleJson(since).error.message).toContain('--since needs Docker Compose v2')
    } else {
      expect(since.exitCode, since.stderr).toBe(0)
      expect(singleJson(since).result.output.some((line: {text: string}) => line.text.includes('GET /*** 404'))).toBe(true)
    }
  })

  it('an unknown service is not found (exit 6)', async () => {
    const result = await runAgnes(['logs', 'web', '--json', '--dir', instance.dir])
    expect(result.exitCode).toBe(6)
    expect(singleJson(result).error.hint).toContain('app')
  })
})
