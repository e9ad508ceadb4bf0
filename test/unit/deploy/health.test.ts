import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {toAgnesError} from '../../../src/lib/errors.js'
import {type ContainerVerdict, type HealthBody, UnhealthyError, fetchHealth, fetchVersion, isHealthy, waitForHealthy} from '../../../src/lib/deploy/health.js'
import {clearSecrets, registerSecret} from '../../../src/lib/secrets/redact.js'
import {RecordingReporter} from '../../../src/lib/ui/reporter.js'

type Handler = (req: IncomingMessage, res: ServerResponse) => void

let server: Server
let baseUrl: string
let handler: Handler
let requests: string[]

function json(status: number, body: unknown): Handler {
  return (_req, res) => {
    res.writeHead(status, {'content-type': 'application/json'})
    res.end(JSON.stringify(body))
  }
}

/** Answers with each body in turn, repeating the last one. */
function sequence(...bodies: HealthBody[]): Handler {
  let i = 0
  return (req, res) => json(200, bodies[Math.min(i++, bodies.length - 1)])(req, res)
}

const OK: HealthBody = {db_schema: 'ok', status: 'ok', vault_key_configured: true}
const alive = async (): Promise<ContainerVerdict> => ({description: 'is running', fatal: false})

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '')
    handler(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

afterEach(() => {
  clearSecrets()
  handler = json(200, OK)
  requests = []
})

requests = []
handler = json(200, OK)

describe('isHealthy', () => {
  it('needs both status ok and db_schema ok', () => {
    expect(isHealthy({db_schema: 'ok', status: 'ok'})).toBe(true)
    expect(isHealthy({db_schema: 'ok', status: 'unhealthy'})).toBe(false)
    expect(isHealthy({db_schema: 'pending', status: 'ok'})).toBe(false)
    expect(isHealthy({status: 'ok'})).toBe(false)
    expect(isHealthy({})).toBe(false)
    expect(isHealthy(undefined)).toBe(false)
  })
})

describe('waitForHealthy', () => {
  it('returns as soon as the app reports status ok and db_schema ok', async () => {
    handler = json(200, OK)
    const result = await waitForHealthy({baseUrl, checkContainer: alive, intervalMs: 10, reporter: new RecordingReporter(), timeoutMs: 5000})
    expect(result.health).toMatchObject({db_schema: 'ok', status: 'ok'})
    expect(requests).toEqual(['/api/health'])
  })

  it('keeps waiting through HTTP 200 answers that say unhealthy or a pending schema', async () => {
    handler = sequence(
      {db_schema: 'ok', status: 'unhealthy'},
      {db_schema: 'pending', status: 'ok'},
      {current: 3, db_schema: 'outdated', expected: 4, status: 'ok'},
      OK,
    )
    const result = await waitForHealthy({baseUrl, checkContainer: alive, intervalMs: 10, reporter: new RecordingReporter(), timeoutMs: 5000})
    expect(result.health.status).toBe('ok')
    expect(requests).toHaveLength(4)
  })

  it('keeps waiting while the app does not answer or answers garbage', async () => {
    let n = 0
    handler = (req, res) => {
      n++
      if (n === 1) res.destroy()
      else if (n === 2) res.writeHead(502).end('<html>Bad Gateway</html>')
      else json(200, OK)(req, res)
    }

    const result = await waitForHealthy({baseUrl, checkContainer: alive, intervalMs: 10, reporter: new RecordingReporter(), timeoutMs: 5000})
    expect(result.health.status).toBe('ok')
    expect(n).toBe(3)
  })

  it('fails at once on a fatal container verdict, long before the timeout, with the redacted log tail', async () => {
    const secret = 'jwt-secret-value-0123456789abcdef'
    registerSecret(secret)
    handler = json(200, {db_schema: 'ok', status: 'unhealthy'})
    let checks = 0
    const checkContainer = async (): Promise<ContainerVerdict> => {
      checks++
      return checks < 3
        ? {description: 'is running', fatal: false}
        : {description: 'exited with code 1', fatal: true, logTail: `Traceback (most recent call last)\nValueError: JWT_SECRET_KEY=${secret} is invalid`}
    }

    const started = Date.now()
    const error = await waitForHealthy({baseUrl, checkContainer, intervalMs: 10, reporter: new RecordingReporter(), timeoutMs: 60_000}).catch((error_: unknown) => error_)
    expect(Date.now() - started).toBeLessThan(2000)
    expect(error).toBeInstanceOf(UnhealthyError)
    const unhealthy = error as UnhealthyError
    expect(unhealthy.exitCode).toBe(9)
    expect(unhealthy.code).toBe('E_UNHEALTHY')
    expect(unhealthy.message).toContain('exited with code 1')
    expect(unhealthy.message).toContain('ValueError: JWT_SECRET_KEY=*** is invalid')
    expect(unhealthy.message).not.toContain(secret)
    expect(checks).toBe(3)
    expect(requests).toHaveLength(2)
  })

  it('times out with the last status it saw in the message', async () => {
    handler = json(200, {db_schema: 'pending', detail: 'migrating schema 3 -> 4', status: 'starting'})
    const started = Date.now()
    const error = await waitForHealthy({baseUrl, checkContainer: alive, intervalMs: 20, reporter: new RecordingReporter(), timeoutMs: 150}).catch((error_: unknown) => error_)
    const elapsed = Date.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(150)
    expect(elapsed).toBeLessThan(2000)
    expect(error).toBeInstanceOf(UnhealthyError)
    expect((error as UnhealthyError).exitCode).toBe(9)
    expect((error as UnhealthyError).message).toContain('last seen: status starting, db_schema pending (migrating schema 3 -> 4)')
    expect((error as UnhealthyError).details).toMatchObject({lastHealth: {status: 'starting'}})
  })

  it('keeps the last real answer when later polls get none', async () => {
    let n = 0
    handler = (req, res) => (n++ === 0 ? json(200, {db_schema: 'ok', status: 'unhealthy'})(req, res) : res.destroy())
    const error = await waitForHealthy({baseUrl, checkContainer: alive, intervalMs: 20, reporter: new RecordingReporter(), timeoutMs: 120}).catch((error_: unknown) => error_)
    expect((error as Error).message).toContain('last seen: status unhealthy, db_schema ok')
  })

  it('says there was no answer when the app never answered', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const error = await waitForHealthy({baseUrl: `http://127.0.0.1:${port}`, checkContainer: alive, intervalMs: 20, reporter: new RecordingReporter(), timeoutMs: 100}).catch(
      (error_: unknown) => error_,
    )
    expect(error).toBeInstanceOf(UnhealthyError)
    expect((error as Error).message).toContain('no answer from /api/health')
  })

  it('rejects promptly when aborted between polls, as an interruption (exit 130)', async () => {
    handler = json(200, {db_schema: 'ok', status: 'unhealthy'})
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 50)
    const started = Date.now()
    const error = await waitForHealthy({baseUrl, checkContainer: alive, intervalMs: 10_000, reporter: new RecordingReporter(), signal: controller.signal, timeoutMs: 60_000}).catch(
      (error_: unknown) => error_,
    )
    expect(Date.now() - started).toBeLessThan(1000)
    expect(error).toBeInstanceOf(Error)
    expect(toAgnesError(error).exitCode).toBe(130)
  })

  it('rejects promptly when aborted while a health request hangs', async () => {
    handler = () => {
      // never answers
    }

    const controller = new AbortController()
    setTimeout(() => controller.abort(), 50)
    const started = Date.now()
    const error = await waitForHealthy({baseUrl, checkContainer: alive, intervalMs: 10, reporter: new RecordingReporter(), signal: controller.signal, timeoutMs: 60_000}).catch(
      (error_: unknown) => error_,
    )
    expect(Date.now() - started).toBeLessThan(1000)
    expect(toAgnesError(error).exitCode).toBe(130)
  })

  it('does not pile up abort listeners on the caller signal over many polls', async () => {
    handler = sequence(...Array.from({length: 30}, (): HealthBody => ({db_schema: 'ok', status: 'unhealthy'})), OK)
    const warnings: string[] = []
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`)
    process.on('warning', onWarning)
    try {
      const controller = new AbortController()
      await waitForHealthy({baseUrl, checkContainer: alive, intervalMs: 1, reporter: new RecordingReporter(), signal: controller.signal, timeoutMs: 10_000})
      await new Promise((resolve) => setTimeout(resolve, 20))
    } finally {
      process.off('warning', onWarning)
    }

    expect(warnings.filter((warning) => /MaxListeners/.test(warning))).toEqual([])
  })
})

describe('fetchHealth / fetchVersion', () => {
  it('reads /api/health whatever the HTTP status, and /api/version only on 200', async () => {
    handler = (req, res) => (req.url === '/api/health' ? json(503, {db_schema: 'ok', status: 'unhealthy'})(req, res) : json(200, {channel: 'stable', version: 'stable-2026.04.3'})(req, res))
    expect(await fetchHealth(baseUrl)).toEqual({db_schema: 'ok', status: 'unhealthy'})
    expect(await fetchVersion(baseUrl)).toEqual({channel: 'stable', version: 'stable-2026.04.3'})
    handler = json(404, {detail: 'Not Found'})
    expect(await fetchVersion(baseUrl)).toBeUndefined()
  })
})
