// The API client against an in-process HTTP server: every error shape, timeouts, retries, Retry-After,
// no blind POST retry, and no token in anything it reports.
import {IncomingMessage, Server, ServerResponse, createServer} from 'node:http'
import {AddressInfo, Socket} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'

import {ApiClient, parseRetryAfter} from '../../../src/lib/api/client.js'
import {describeDetail} from '../../../src/lib/api/errors.js'
import {AgnesError} from '../../../src/lib/errors.js'
import {clearSecrets, redact} from '../../../src/lib/secrets/redact.js'
import {RecordingReporter} from '../../../src/lib/ui/reporter.js'

const TOKEN = 'tok_' + 'a'.repeat(40)

type Handler = (request: IncomingMessage, response: ServerResponse, count: number, body: string) => void

interface TestServer {
  url: string
  port: number
  requests: Array<{method: string; path: string; body: string; authorization?: string}>
  close(): Promise<void>
}

const servers: TestServer[] = []
const sockets = new Set<Socket>()

async function serve(handler: Handler, port = 0): Promise<TestServer> {
  const requests: TestServer['requests'] = []
  const server: Server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => (body += chunk.toString()))
    request.on('end', () => {
      requests.push({authorization: request.headers.authorization, body, method: request.method ?? '', path: request.url ?? ''})
      handler(request, response, requests.length, body)
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const actualPort = (server.address() as AddressInfo).port
  const handle: TestServer = {
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
    port: actualPort,
    requests,
    url: `http://127.0.0.1:${actualPort}`,
  }
  servers.push(handle)
  return handle
}

function json(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, {'content-type': 'application/json', ...headers})
  response.end(JSON.stringify(body))
}

function client(url: string, options: Partial<ConstructorParameters<typeof ApiClient>[0]> = {}): ApiClient {
  return new ApiClient({baseUrl: url, bootWaitMs: 2000, requestTimeoutMs: 2000, retryIntervalMs: 50, token: TOKEN, ...options})
}

async function failure(promise: Promise<unknown>): Promise<AgnesError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(AgnesError)
    return error as AgnesError
  }

  throw new Error('expected the request to fail')
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
  clearSecrets()
})

describe('error answers map to the exit-code table with the server message', () => {
  const cases: Array<[string, number, unknown, number, string]> = [
    ['401 string detail', 401, {detail: 'Invalid or expired token'}, 5, 'Invalid or expired token'],
    ['403 admin required', 403, {detail: 'Admin access required'}, 5, 'Admin access required'],
    ['404 not found', 404, {detail: 'job_not_found'}, 6, 'job_not_found'],
    ['409 string detail', 409, {detail: "Table 'orders' already registered"}, 7, "Table 'orders' already registered"],
    ['400 string detail', 400, {detail: 'Keboola connection failed. Check your token and URL.'}, 3, 'Keboola connection failed'],
    ['422 list detail', 422, {detail: [{loc: ['body', 'name'], msg: 'Field required', type: 'missing'}, {loc: ['body', 'limit'], msg: 'Input should be a valid integer', type: 'int_type'}]}, 3, 'name: Field required; limit: Input should be a valid integer'],
    ['422 string detail', 422, {detail: 'A valid email address is required'}, 3, 'A valid email address is required'],
    ['500 with request id', 500, {detail: 'Internal server error', request_id: 'abc123'}, 8, 'Internal server error'],
    ['405 other 4xx', 405, {detail: 'Method Not Allowed'}, 3, 'Method Not Allowed'],
  ]

  for (const [label, status, body, exitCode, message] of cases) {
    it(label, async () => {
      const server = await serve((_request, response) => json(response, status, body))
      const error = await failure(client(server.url).get('/api/thing'))
      expect(error.exitCode).toBe(exitCode)
      expect(error.message).toContain(message)
      expect(error.message).toContain(`HTTP ${status}`)
      expect(error.hint).toBeTruthy()
      expect(error.details?.status).toBe(status)
    })
  }

  it('an object detail gives its hint and code, and keeps the raw detail for callers', async () => {
    const detail = {error: 'connection_change_affects_registrations', hint: 'Re-send with confirm_connection_change: true', source: 'keboola'}
    const server = await serve((_request, response) => json(response, 409, {detail}))
    const error = await failure(client(server.url).post('/api/admin/configure', {data_source: 'keboola'}))
    expect(error.exitCode).toBe(7)
    expect(error.message).toContain('connection change affects registrations')
    expect(error.hint).toBe('Re-send with confirm_connection_change: true')
    expect(error.details?.detail).toEqual(detail)
  })

  it('a 500 names the request id in the hint', async () => {
    const server = await serve((_request, response) => json(response, 500, {detail: 'Internal server error', request_id: 'req-42'}))
    const error = await failure(client(server.url).post('/api/query', {sql: 'SELECT 1'}))
    expect(error.hint).toContain('req-42')
  })

  it('an HTML error page is reduced to its text', async () => {
    const server = await serve((_request, response) => {
      response.writeHead(404, {'content-type': 'text/html'})
      response.end('<html><body><h1>Not here</h1></body></html>')
    })
    const error = await failure(client(server.url).get('/x'))
    expect(error.exitCode).toBe(6)
    expect(error.message).toContain('Not here')
    expect(error.message).not.toContain('<h1>')
  })

  it('describeDetail handles a missing body and a detail object without message', () => {
    expect(describeDetail(undefined, 'HTTP 418').message).toBe('HTTP 418')
    expect(describeDetail({detail: {error: 'sync_already_in_progress', job_id: 'j1'}}, 'x')).toEqual({code: 'sync_already_in_progress', hint: undefined, message: 'sync already in progress'})
  })
})

describe('tokens never appear in what the client reports', () => {
  it('sends the bearer, and redacts it when the server echoes it back', async () => {
    const server = await serve((request, response) => json(response, 400, {detail: `bad header: ${request.headers.authorization}`}))
    const error = await failure(client(server.url).get('/api/thing'))
    expect(server.requests[0].authorization).toBe(`Bearer ${TOKEN}`)
    expect(error.message).not.toContain(TOKEN)
    expect(redact(`x ${TOKEN} y`)).toBe('x *** y')
  })

  it('does not send the bearer when asked not to', async () => {
    const server = await serve((_request, response) => json(response, 200, {status: 'ok'}))
    await client(server.url).get('/api/health', {authenticate: false})
    expect(server.requests[0].authorization).toBeUndefined()
  })
})

describe('retries', () => {
  it('retries a GET while the instance answers 503, then succeeds', async () => {
    const server = await serve((_request, response, count) => (count < 3 ? json(response, 503, {detail: 'starting'}) : json(response, 200, {ok: true})))
    const reporter = new RecordingReporter()
    const response = await client(server.url, {reporter}).get('/api/health')
    expect(response.body).toEqual({ok: true})
    expect(server.requests).toHaveLength(3)
    expect(reporter.lines.join('\n')).toContain('Waiting for the instance')
  })

  it('never repeats a POST that is not marked safe after it may have reached the server (503)', async () => {
    const server = await serve((_request, response) => json(response, 503, {detail: 'busy'}))
    const error = await failure(client(server.url).post('/api/admin/register-table', {name: 'orders'}))
    expect(error.exitCode).toBe(8)
    expect(server.requests).toHaveLength(1)
  })

  it('never repeats an unsafe POST after the connection was reset mid-request', async () => {
    const server = await serve((request) => request.socket.destroy())
    const error = await failure(client(server.url).post('/api/sync/trigger', undefined))
    expect(error.exitCode).toBe(8)
    expect(server.requests).toHaveLength(1)
  })

  it('repeats a POST marked idempotent', async () => {
    const server = await serve((_request, response, count) => (count === 1 ? json(response, 502, {}) : json(response, 200, {rows: [[1]]})))
    const response = await client(server.url).post('/api/query', {sql: 'SELECT 1'}, {idempotent: true})
    expect(response.status).toBe(200)
    expect(server.requests).toHaveLength(2)
  })

  it('waits for an instance that is still booting (connection refused), even for a POST, since nothing was sent', async () => {
    const placeholder = await serve(() => {})
    const {port} = placeholder
    await placeholder.close()
    servers.splice(servers.indexOf(placeholder), 1)
    const late = new Promise<TestServer>((resolve) => {
      setTimeout(() => resolve(serve((_request, response) => json(response, 200, {status: 'triggered'}), port)), 300)
    })
    const response = await client(`http://127.0.0.1:${port}`, {bootWaitMs: 5000}).post('/api/sync/trigger', undefined)
    const server = await late
    expect(response.body).toEqual({status: 'triggered'})
    expect(server.requests).toHaveLength(1)
  })

  it('gives up on an unreachable instance after the boot wait with exit 8', async () => {
    const placeholder = await serve(() => {})
    const {url} = placeholder
    await placeholder.close()
    servers.splice(servers.indexOf(placeholder), 1)
    const started = Date.now()
    const error = await failure(client(url, {bootWaitMs: 400, unreachableHint: 'start it'}).get('/api/health'))
    expect(error.exitCode).toBe(8)
    expect(error.code).toBe('E_UNREACHABLE')
    expect(error.message).toContain('connection refused')
    expect(error.hint).toBe('start it')
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('does not wait at all with a boot wait of 0', async () => {
    const placeholder = await serve(() => {})
    const {url} = placeholder
    await placeholder.close()
    servers.splice(servers.indexOf(placeholder), 1)
    const started = Date.now()
    await failure(client(url, {bootWaitMs: 0}).get('/api/health'))
    expect(Date.now() - started).toBeLessThan(500)
  })

  it('honours Retry-After on a 429, for a POST too (the request was not processed)', async () => {
    const server = await serve((_request, response, count) =>
      count === 1 ? json(response, 429, {detail: 'Too many requests'}, {'retry-after': '1'}) : json(response, 200, {access_token: 'x'}),
    )
    const started = Date.now()
    const response = await client(server.url).post('/auth/bootstrap', {email: 'a@example.com'})
    expect(response.status).toBe(200)
    expect(server.requests).toHaveLength(2)
    expect(Date.now() - started).toBeGreaterThanOrEqual(950)
  })

  it('fails with exit 75 when Retry-After is longer than it is willing to wait', async () => {
    const server = await serve((_request, response) => json(response, 429, {detail: 'Too many requests — slow down'}, {'retry-after': '3600'}))
    const error = await failure(client(server.url, {maxRetryAfterMs: 1000}).get('/api/thing'))
    expect(error.exitCode).toBe(75)
    expect(error.code).toBe('E_RATE_LIMITED')
    expect(server.requests).toHaveLength(1)
  })

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('60')).toBe(60_000)
    expect(parseRetryAfter(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000)
    expect(parseRetryAfter('soon')).toBeUndefined()
    expect(parseRetryAfter(undefined)).toBeUndefined()
  })
})

describe('timeouts and interruption', () => {
  it('a request that gets no answer times out with exit 8, and a POST is sent once', async () => {
    const server = await serve(() => {})
    const started = Date.now()
    const error = await failure(client(server.url, {bootWaitMs: 0, requestTimeoutMs: 300}).post('/api/admin/register-table', {name: 'x'}))
    expect(error.exitCode).toBe(8)
    expect(error.message).toContain('did not answer within')
    expect(error.hint).toContain('may still have been applied')
    expect(server.requests).toHaveLength(1)
    expect(Date.now() - started).toBeLessThan(1500)
  })

  it('a per-request timeout overrides the default', async () => {
    const server = await serve(() => {})
    const started = Date.now()
    await failure(client(server.url, {bootWaitMs: 0, requestTimeoutMs: 10_000}).get('/slow', {timeoutMs: 200}))
    expect(Date.now() - started).toBeLessThan(1500)
  })

  it('an aborted signal ends the request with exit 130', async () => {
    const server = await serve(() => {})
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 100)
    const error = await failure(client(server.url, {signal: controller.signal}).get('/slow'))
    expect(error.exitCode).toBe(130)
  })

  it('a DNS failure is not retried', async () => {
    const started = Date.now()
    const error = await failure(client('http://agnes-does-not-exist.invalid', {bootWaitMs: 5000}).get('/api/health'))
    expect(error.exitCode).toBe(8)
    expect(Date.now() - started).toBeLessThan(4000)
  })
})

describe('bodies', () => {
  it('sends JSON with a content type, and query parameters', async () => {
    const server = await serve((_request, response) => json(response, 200, {}))
    await client(server.url).post('/api/admin/discover-and-register', {a: 1}, {query: {dry_run: true, skip: undefined}})
    expect(server.requests[0].path).toBe('/api/admin/discover-and-register?dry_run=true')
    expect(JSON.parse(server.requests[0].body)).toEqual({a: 1})
  })

  it('returns accepted non-2xx statuses instead of throwing', async () => {
    const server = await serve((_request, response) => json(response, 409, {detail: 'sync_already_in_progress'}))
    const response = await client(server.url).post('/api/sync/trigger', undefined, {acceptStatus: [409]})
    expect(response).toMatchObject({body: {detail: 'sync_already_in_progress'}, status: 409})
  })
})
