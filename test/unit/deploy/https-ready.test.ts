import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {IncomingHttpHeaders, createServer as createHttpServer} from 'node:http'
import {Server, createServer as createHttpsServer} from 'node:https'
import {AddressInfo, createServer as createTcpServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {TLSSocket} from 'node:tls'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {waitForCaddyHttps} from '../../../src/lib/deploy/https-ready.js'
import {InterruptedError} from '../../../src/lib/errors.js'
import {instancePaths} from '../../../src/lib/instance/paths.js'
import {Instance, InstanceState, TlsMode, parseEnv} from '../../../src/lib/instance/state.js'
import {RecordingReporter} from '../../../src/lib/ui/reporter.js'

const DOMAIN = 'agnes.test'
const URL = `https://${DOMAIN}`
let certDir: string
let tlsOptions: {cert: Buffer; key: Buffer}
const closers: Array<() => void> = []

beforeAll(() => {
  certDir = mkdtempSync(join(tmpdir(), 'agnes-https-ready-'))
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${DOMAIN}`, '-addext', `subjectAltName=DNS:${DOMAIN}`, '-keyout', join(certDir, 'privkey.pem'), '-out', join(certDir, 'fullchain.pem')], {encoding: 'utf8'})
  expect(made.status, made.stderr).toBe(0)
  tlsOptions = {cert: readFileSync(join(certDir, 'fullchain.pem')), key: readFileSync(join(certDir, 'privkey.pem'))}
})

afterAll(() => rmSync(certDir, {force: true, recursive: true}))

afterEach(() => {
  for (const close of closers.splice(0)) close()
})

function instance(tls: TlsMode, httpsPort: number): Instance {
  const dir = '/opt/agnes-unit'
  const state = {channel: 'stable', createdAt: '', knownGood: [], managedFiles: {}, project: 'unit', rejected: [], repository: 'registry.test/agnes', stateVersion: 1, tls} as InstanceState
  return {env: parseEnv(`DOMAIN=${DOMAIN}\nAGNES_PUBLIC_HTTPS_PORT=${httpsPort}\n`, join(dir, '.env')), paths: instancePaths(dir), state}
}

async function listen(server: {listen: (port: number, host: string, done: () => void) => unknown; address: () => unknown; close: () => unknown}, port = 0): Promise<number> {
  await new Promise<void>((resolve) => {
    server.listen(port, '127.0.0.1', resolve)
  })
  closers.push(() => server.close())
  return (server.address() as AddressInfo).port
}

/** A port nothing listens on (found free, then released). */
async function freePort(): Promise<number> {
  const server = createTcpServer()
  const port = await listen(server)
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Caddy stand-in: TLS with the openssl certificate, answering every request with the maintenance page's 503. */
function caddyLike(seen: Array<{servername: string | false | null; headers: IncomingHttpHeaders}>): Server {
  return createHttpsServer(tlsOptions, (request, response) => {
    seen.push({headers: request.headers, servername: (request.socket as TLSSocket).servername})
    response.writeHead(503, {'retry-after': '10'}).end('maintenance')
  })
}

describe('up waits until Caddy serves HTTPS', () => {
  it('is ready at the first answer: SNI and Host are the domain, any status counts, the self-signed certificate is not verified, no credentials are sent', async () => {
    const seen: Array<{servername: string | false | null; headers: IncomingHttpHeaders}> = []
    const port = await listen(caddyLike(seen))
    const reporter = new RecordingReporter()
    const readiness = await waitForCaddyHttps({instance: instance('internal', port), reporter}, URL)
    expect(readiness).toMatchObject({ready: true})
    expect(readiness?.afterMs).toBeLessThan(3000)
    expect(reporter.warnings).toEqual([])
    expect(seen).toHaveLength(1)
    expect(seen[0].servername).toBe(DOMAIN)
    expect(seen[0].headers.host).toBe(DOMAIN)
    expect(Object.keys(seen[0].headers).filter((name) => /authorization|cookie|token/i.test(name))).toEqual([])
  })

  it('keeps trying while the port resets connections (the container runs, Caddy does not listen yet), then is ready once TLS is served', async () => {
    const resetting = createTcpServer((socket) => socket.destroy())
    const port = await listen(resetting)
    const seen: Array<{servername: string | false | null; headers: IncomingHttpHeaders}> = []
    setTimeout(() => {
      resetting.close(() => {
        void listen(caddyLike(seen), port)
      })
    }, 700)
    const readiness = await waitForCaddyHttps({instance: instance('files', port), reporter: new RecordingReporter()}, URL, {intervalMs: 50})
    expect(readiness).toMatchObject({ready: true})
    expect(readiness?.afterMs).toBeGreaterThanOrEqual(600)
    expect(seen.length).toBeGreaterThanOrEqual(1)
  })

  it('gives up after the bound with a warning that names the URL and `agnes logs caddy`; plain HTTP on the port is not TLS', async () => {
    const plain = createHttpServer((_request, response) => response.end('not tls'))
    const port = await listen(plain)
    const reporter = new RecordingReporter()
    const readiness = await waitForCaddyHttps({instance: instance('files', port), reporter}, URL, {intervalMs: 50, timeoutMs: 600})
    expect(readiness).toMatchObject({ready: false})
    expect(readiness?.afterMs).toBeGreaterThanOrEqual(500)
    expect(readiness?.afterMs).toBeLessThan(3000)
    expect(reporter.warnings).toHaveLength(1)
    expect(reporter.warnings[0]).toContain(`Caddy does not serve ${URL} yet: no HTTPS answer on 127.0.0.1:${port} within 1 s`)
    expect(reporter.warnings[0]).toContain('The app is up and healthy; see `agnes logs caddy --dir /opt/agnes-unit`.')
  })

  it('with ACME, the warning says the certificate may still be coming and what to check', async () => {
    const port = await freePort()
    const reporter = new RecordingReporter()
    const readiness = await waitForCaddyHttps({instance: instance('acme', port), reporter}, URL, {intervalMs: 50, timeoutMs: 300})
    expect(readiness).toMatchObject({ready: false})
    expect(readiness?.ready === false && readiness.reason).toMatch(/ECONNREFUSED/)
    expect(reporter.warnings[0]).toMatch(new RegExp(`^Caddy does not serve ${URL} yet: .*It may still be getting its certificate: check that ${DOMAIN} resolves to this host and ports 80 and 443 are reachable from the internet, and see \`agnes logs caddy --dir /opt/agnes-unit\`\\.$`))
  })

  it('ends at once when the command is interrupted', async () => {
    const port = await freePort()
    const controller = new AbortController()
    setTimeout(() => controller.abort(new InterruptedError('Interrupted by SIGINT')), 200)
    const started = Date.now()
    await expect(waitForCaddyHttps({instance: instance('internal', port), reporter: new RecordingReporter(), signal: controller.signal}, URL)).rejects.toThrow('Interrupted by SIGINT')
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('does nothing without TLS', async () => {
    const reporter = new RecordingReporter()
    expect(await waitForCaddyHttps({instance: instance('none', 1), reporter}, 'http://127.0.0.1:8000')).toBeUndefined()
    expect(reporter.lines).toEqual([])
  })
})
