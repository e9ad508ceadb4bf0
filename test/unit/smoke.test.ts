// runSmoke against a scripted in-process Agnes: each step, its failure classes and the exit codes they map to.
import {IncomingMessage, ServerResponse, createServer} from 'node:http'
import {AddressInfo} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'

import {AgnesApi} from '../../src/lib/api/agnes-api.js'
import {ApiClient} from '../../src/lib/api/client.js'
import {RecordingReporter} from '../../src/lib/ui/reporter.js'
import {SmokeReport, runSmoke, smokeFailureError} from '../../src/lib/smoke.js'

const TOKEN = 'smoke-token-' + 'x'.repeat(32)

type Route = (request: IncomingMessage) => [number, unknown]

interface Fake {
  api: AgnesApi
  calls: string[]
  routes: Record<string, Route>
}

const closers: Array<() => Promise<void>> = []

function healthyRoutes(): Record<string, Route> {
  return {
    'GET /api/admin/registry': () => [200, {count: 2, tables: [{id: 'a', name: 'a'}, {id: 'b', name: 'b'}]}],
    'GET /api/catalog/tables': () => [200, {count: 2, tables: [{id: 'a', name: 'a'}, {id: 'b', name: 'b'}]}],
    'GET /api/health': () => [200, {current: 121, db_schema: 'ok', expected: 121, status: 'ok'}],
    'GET /api/health/detailed': (request) =>
      request.headers.authorization === `Bearer ${TOKEN}`
        ? [200, {caller_role: 'admin', channel: 'stable', services: {data: {status: 'ok'}, duckdb_state: {status: 'ok'}}, status: 'healthy', version: '0.84.8'}]
        : [401, {detail: 'Invalid or expired token'}],
    'GET /api/jobs/job-1': () => [200, {job: {id: 'job-1', kind: 'data-refresh', status: 'running'}}],
    'POST /api/query': () => [200, {columns: ['smoke'], row_count: 1, rows: [[1]], truncated: false}],
    'POST /api/sync/trigger': () => [200, {job_id: 'job-1', status: 'triggered', tables: 'all'}],
  }
}

async function fake(token = TOKEN): Promise<Fake> {
  const calls: string[] = []
  const routes = healthyRoutes()
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    request.resume()
    request.on('end', () => {
      const key = `${request.method} ${request.url?.split('?')[0]}`
      calls.push(key)
      const [status, body] = routes[key]?.(request) ?? [404, {detail: 'Not Found'}]
      response.writeHead(status, {'content-type': 'application/json'})
      response.end(JSON.stringify(body))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closers.push(() => new Promise((resolve) => server.close(() => resolve())))
  const client = new ApiClient({baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bootWaitMs: 0, requestTimeoutMs: 2000, token})
  closers.push(() => client.close())
  return {api: new AgnesApi(client), calls, routes}
}

function step(report: SmokeReport, name: string) {
  return report.steps.find((candidate) => candidate.name === name)
}

afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()))
})

describe('runSmoke', () => {
  it('passes a healthy instance, reporting every step with its timing', async () => {
    const {api, calls} = await fake()
    const reporter = new RecordingReporter()
    const report = await runSmoke(api, {reporter, settleMs: 50})
    expect(report.passed).toBe(true)
    expect(report.failedSteps).toEqual([])
    expect(report.steps.map((s) => [s.name, s.status])).toEqual([
      ['health', 'passed'],
      ['auth', 'passed'],
      ['catalog', 'passed'],
      ['query', 'passed'],
      ['sync', 'passed'],
      ['settle', 'passed'],
      ['health-after', 'passed'],
    ])
    expect(step(report, 'settle')?.durationMs).toBeGreaterThanOrEqual(45)
    expect(report.version).toBe('0.84.8')
    expect(calls).toContain('GET /api/jobs/job-1')
    expect(reporter.lines.some((line) => line.includes('✓ query'))).toBe(true)
    expect(smokeFailureError(report)).toBeUndefined()
  })

  it('skips the settle wait with 0 and the sync when not wanted', async () => {
    const {api, calls} = await fake()
    const report = await runSmoke(api, {settleMs: 0, triggerSync: false})
    expect(report.passed).toBe(true)
    expect(step(report, 'settle')).toMatchObject({ok: true, status: 'skipped'})
    expect(step(report, 'sync')).toMatchObject({ok: true, status: 'skipped'})
    expect(calls).not.toContain('POST /api/sync/trigger')
  })

  it('fails the catalog step below --min-tables, and accepts an empty instance with 0', async () => {
    const {api, routes} = await fake()
    routes['GET /api/catalog/tables'] = () => [200, {count: 0, tables: []}]
    const strict = await runSmoke(api, {settleMs: 0})
    expect(strict.failedSteps).toEqual(['catalog'])
    expect(strict.failure).toBe('check')
    expect(step(strict, 'settle')?.status).toBe('skipped')
    expect(smokeFailureError(strict)?.exitCode).toBe(3)
    const relaxed = await runSmoke(api, {minTables: 0, settleMs: 0})
    expect(relaxed.passed).toBe(true)
  })

  it('by default needs a catalog table once tables are registered, and none on a fresh instance', async () => {
    const {api, routes, calls} = await fake()
    routes['GET /api/catalog/tables'] = () => [200, {count: 0, tables: []}]
    const registered = await runSmoke(api, {settleMs: 0})
    expect(registered.failedSteps).toEqual(['catalog'])
    expect(step(registered, 'catalog')?.detail).toContain('need at least 1: 2 registered')
    expect(smokeFailureError(registered)?.exitCode).toBe(3)

    routes['GET /api/admin/registry'] = () => [200, {count: 0, tables: []}]
    const fresh = await runSmoke(api, {settleMs: 0})
    expect(fresh.passed).toBe(true)
    expect(step(fresh, 'catalog')?.detail).toContain('none registered yet')

    routes['GET /api/admin/registry'] = () => [403, {detail: 'Admin role required'}]
    const notAdmin = await runSmoke(api, {settleMs: 0})
    expect(notAdmin.failedSteps).toEqual(['catalog'])
    expect(step(notAdmin, 'catalog')?.detail).toContain('need at least 1: the registry could not be read with this token (HTTP 403)')

    calls.length = 0
    await runSmoke(api, {minTables: 0, settleMs: 0})
    expect(calls).not.toContain('GET /api/admin/registry')
  })

  it('a failing query endpoint fails the query step (exit 3, the step named)', async () => {
    const {api, routes} = await fake()
    routes['POST /api/query'] = () => [500, {detail: 'Internal server error', request_id: 'r1'}]
    const report = await runSmoke(api, {settleMs: 0})
    expect(report.failedSteps).toEqual(['query'])
    expect(step(report, 'query')?.error?.code).toBe('E_UNREACHABLE')
    const error = smokeFailureError(report)
    expect(error?.exitCode).toBe(3)
    expect(error?.code).toBe('E_SMOKE_FAILED')
    expect(error?.message).toContain('query')
    expect(error?.result).toBe(report)
  })

  it('an unhealthy schema fails health but the other checks still run', async () => {
    const mismatch = await fake()
    mismatch.routes['GET /api/health'] = () => [200, {current: 122, db_schema: 'mismatch', expected: 121, status: 'unhealthy'}]
    const report = await runSmoke(mismatch.api, {settleMs: 0})
    expect(report.failedSteps).toEqual(['health'])
    expect(step(report, 'health')?.detail).toContain('schema 122 (expected 121)')
    expect(step(report, 'query')?.status).toBe('passed')
    expect(smokeFailureError(report)?.exitCode).toBe(3)
  })

  it('a rejected token is an auth failure (exit 5) and skips the authenticated steps', async () => {
    const {api, calls} = await fake('wrong-token-' + 'y'.repeat(30))
    const report = await runSmoke(api, {settleMs: 0})
    expect(report.failure).toBe('auth')
    expect(report.failedSteps).toEqual(['auth'])
    expect(step(report, 'query')?.status).toBe('skipped')
    expect(calls).not.toContain('POST /api/query')
    expect(smokeFailureError(report)?.exitCode).toBe(5)
  })

  it('an unreachable instance is exit 8 and nothing else is tried', async () => {
    const client = new ApiClient({baseUrl: 'http://127.0.0.1:9', bootWaitMs: 0, token: TOKEN})
    const report = await runSmoke(new AgnesApi(client), {settleMs: 0})
    expect(report.failure).toBe('unreachable')
    expect(report.failedSteps).toEqual(['health'])
    expect(report.steps.filter((s) => s.status === 'skipped')).toHaveLength(6)
    expect(smokeFailureError(report)?.exitCode).toBe(8)
  })

  it('a proxy 502 on health counts as unreachable', async () => {
    const {api, routes} = await fake()
    routes['GET /api/health'] = () => [502, 'Bad Gateway']
    const report = await runSmoke(api, {settleMs: 0})
    expect(report.failure).toBe('unreachable')
  })

  it('an in-flight sync passes, in both 409 shapes', async () => {
    for (const detail of [{error: 'sync_already_in_progress', job_id: 'job-1'}, 'sync_already_in_progress']) {
      const {api, routes} = await fake()
      routes['POST /api/sync/trigger'] = () => [409, {detail}]
      const report = await runSmoke(api, {settleMs: 0})
      expect(report.passed, JSON.stringify(detail)).toBe(true)
      expect(step(report, 'sync')?.detail).toBe('a sync was already running')
    }
  })

  it('health-after fails on a service newly in error, or a failed sync job', async () => {
    const {api, routes} = await fake()
    let detailedCalls = 0
    const healthy = routes['GET /api/health/detailed']
    routes['GET /api/health/detailed'] = (request) => {
      detailedCalls++
      const [status, body] = healthy(request)
      return detailedCalls === 1 ? [status, body] : [status, {...(body as object), services: {data: {status: 'ok'}, duckdb_state: {status: 'error'}}}]
    }

    const newError = await runSmoke(api, {settleMs: 0})
    expect(newError.failedSteps).toEqual(['health-after'])
    expect(step(newError, 'health-after')?.detail).toContain('duckdb_state')

    const failedJob = await fake()
    failedJob.routes['GET /api/jobs/job-1'] = () => [200, {job: {error: 'Keboola said no', id: 'job-1', status: 'failed'}}]
    const report = await runSmoke(failedJob.api, {settleMs: 0})
    expect(report.failedSteps).toEqual(['health-after'])
    expect(step(report, 'health-after')?.detail).toContain('Keboola said no')
  })

  it('an abort during the settle wait ends the run with exit 130', async () => {
    const {api} = await fake()
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 100)
    await expect(runSmoke(api, {settleMs: 10_000, signal: controller.signal})).rejects.toMatchObject({exitCode: 130})
  })
})
