import {spawnSync} from 'node:child_process'
import {X509Certificate, randomBytes} from 'node:crypto'
import {appendFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {get as httpGet} from 'node:http'
import {request} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runAgnes} from '../helpers/run-cli.js'
import {Published, TestInstance, appContainers, destroyInstance, freePort, getJson, instancesRoot, newInstance, publishStandard, readEnvFile, singleJson} from './fixtures.js'

interface TlsInstance extends TestInstance {
  httpPort: number
  httpsPort: number
}

interface HttpsAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
  certificate: X509Certificate
  protocol: string
}

/** One HTTPS request to Caddy on 127.0.0.1, with the given name as SNI and Host; verified against `ca` when given. */
function httpsGet(port: number, servername: string, path: string, options: {ca?: string; headers?: Record<string, string>} = {}): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        // A fresh connection each time, so the peer certificate is always there (no resumed session).
        agent: false,
        ca: options.ca,
        headers: {host: servername, ...options.headers},
        host: '127.0.0.1',
        path,
        port,
        rejectUnauthorized: options.ca !== undefined,
        servername,
      },
      (response) => {
        const socket = response.socket as import('node:tls').TLSSocket
        const certificate = new X509Certificate(socket.getPeerCertificate(true).raw)
        const protocol = socket.getProtocol() ?? ''
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => resolve({body: Buffer.concat(chunks).toString('utf8'), certificate, headers: response.headers, protocol, status: response.statusCode ?? 0}))
      },
    )
    req.on('error', reject)
    req.end()
  })
}

/** One plain HTTP request to Caddy on 127.0.0.1 with the given Host (fetch cannot set Host). */
function plainGet(port: number, host: string, path: string): Promise<{status: number; location?: string}> {
  return new Promise((resolve, reject) => {
    httpGet({agent: false, headers: {host}, host: '127.0.0.1', path, port}, (response) => {
      response.resume()
      resolve({location: response.headers.location, status: response.statusCode ?? 0})
    }).on('error', reject)
  })
}

function docker(args: string[]): string {
  const result = spawnSync('docker', args, {encoding: 'utf8'})
  if (result.status !== 0) throw new Error(`docker ${args.join(' ')}: ${result.stderr}`)
  return result.stdout.trim()
}

function serviceContainer(project: string, service: string): {id: string; startedAt: string} {
  const id = docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`])
  if (id === '' || id.includes('\n')) throw new Error(`expected one running ${service} container of ${project}, found: ${JSON.stringify(id)}`)
  return {id, startedAt: docker(['inspect', '--format', '{{.State.StartedAt}}', id])}
}

/** A self-signed certificate for `name`, made with openssl, as fullchain.pem + privkey.pem in a new directory. */
function opensslCertificate(root: string, name: string): string {
  const dir = mkdtempSync(join(root, 'certs-'))
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`, '-keyout', join(dir, 'privkey.pem'), '-out', join(dir, 'fullchain.pem')], {encoding: 'utf8'})
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`)
  return dir
}

describe('TLS through Caddy', () => {
  let published: Published
  let caddyImage: string
  let caddyBinary: string
  let workDir: string
  const instances: TestInstance[] = []

  beforeAll(async () => {
    const images = await import('../infra/caddy-image.mjs')
    caddyImage = (await images.ensureCaddyImage()).reference
    caddyBinary = await images.caddyBinary()
    published = await publishStandard('tls')
    mkdirSync(instancesRoot, {recursive: true})
    workDir = mkdtempSync(join(instancesRoot, 'tls-work-'))
  })

  afterAll(() => {
    for (const instance of instances) destroyInstance(instance)
    rmSync(workDir, {force: true, recursive: true})
  })

  /** init with the TLS flags, then the test host's operator keys: the Caddy image and free public ports. */
  async function tlsInstance(name: string, tlsArgs: string[], extraEnv: string[] = []): Promise<TlsInstance> {
    const instance = await newInstance(name, {extraArgs: tlsArgs, repository: published.repository})
    instances.push(instance)
    const httpPort = await freePort()
    const httpsPort = await freePort()
    appendFileSync(join(instance.dir, '.env'), [`AGNES_CADDY_IMAGE=${caddyImage}`, `AGNES_PUBLIC_HTTP_PORT=${httpPort}`, `AGNES_PUBLIC_HTTPS_PORT=${httpsPort}`, ...extraEnv, ''].join('\n'))
    return {...instance, httpPort, httpsPort}
  }

  async function up(instance: TestInstance) {
    return runAgnes(['up', '--json', '--dir', instance.dir])
  }

  it('--tls internal: HTTPS through Caddy, HTTP redirects with 308, the app only on loopback, the alias redirects, downloads and the maintenance page', async () => {
    const instance = await tlsInstance('tls-internal', ['--tls', 'internal', '--domain', 'agnes.local'], ['DOMAIN_ALIAS=old.agnes.local'])
    const started = await up(instance)
    expect(started.exitCode, started.stderr).toBe(0)
    const result = singleJson(started).result
    expect(result.url).toBe('https://agnes.local')
    expect(result.https).toMatchObject({ready: true})
    // up returns once Caddy serves TLS: the very first request (not verified yet) gets an answer.
    expect((await httpsGet(instance.httpsPort, 'agnes.local', '/api/version')).status).toBe(200)

    // Caddy's own CA signed the served certificate: fetch its root from the caddy container and verify against it.
    const caddy = serviceContainer(instance.project, 'caddy')
    const rootCa = join(workDir, `${instance.name}-root.crt`)
    docker(['cp', `${caddy.id}:/data/caddy/pki/authorities/local/root.crt`, rootCa])
    const ca = readFileSync(rootCa, 'utf8')
    const version = await httpsGet(instance.httpsPort, 'agnes.local', '/api/version', {ca})
    expect(version.status).toBe(200)
    expect(JSON.parse(version.body)).toMatchObject({channel: 'stable', version: '0.84.2'})
    expect(version.certificate.subjectAltName).toContain('DNS:agnes.local')
    expect(['TLSv1.2', 'TLSv1.3']).toContain(version.protocol)
    expect(version.headers['strict-transport-security']).toBe('max-age=31536000')

    const plain = await plainGet(instance.httpPort, 'agnes.local', '/api/version?x=1')
    expect(plain).toEqual({location: 'https://agnes.local/api/version?x=1', status: 308})

    const [app] = appContainers(instance.project)
    const bindings = JSON.parse(docker(['inspect', '--format', '{{json .HostConfig.PortBindings}}', app.id])) as Record<string, Array<{HostIp: string; HostPort: string}>>
    expect(bindings['8000/tcp']).toEqual([{HostIp: '127.0.0.1', HostPort: String(instance.port)}])

    const moved = await httpsGet(instance.httpsPort, 'old.agnes.local', '/catalog?q=1', {ca})
    expect(moved.status).toBe(308)
    expect(moved.headers.location).toBe('https://agnes.local/catalog?q=1')
    const notice = await httpsGet(instance.httpsPort, 'old.agnes.local', '/catalog', {ca, headers: {accept: 'text/html'}})
    expect(notice.status).toBe(200)
    expect(notice.body).toContain('href="https://agnes.local/catalog"')

    // A whole-table download: the app checks access, Caddy sends the parquet from the data volume itself.
    const extracts = join(workDir, `${instance.name}-data`)
    mkdirSync(join(extracts, 'extracts', 'local', 'data'), {recursive: true})
    const parquet = `PAR1 ${randomBytes(8).toString('hex')}`
    writeFileSync(join(extracts, 'extracts', 'local', 'data', 'orders.parquet'), parquet)
    docker(['cp', `${extracts}/.`, `${app.id}:/data/`])
    const token = readEnvFile(join(instance.dir, '.env')).SCHEDULER_API_TOKEN
    await fetch(`${instance.url}/__standin/requests`, {method: 'DELETE'})
    const download = await httpsGet(instance.httpsPort, 'agnes.local', '/api/data/orders/download', {ca, headers: {authorization: `Bearer ${token}`}})
    expect(download.status).toBe(200)
    expect(download.body).toBe(parquet)
    expect(download.headers['content-disposition']).toBe('attachment; filename="orders.parquet"')
    const denied = await httpsGet(instance.httpsPort, 'agnes.local', '/api/data/orders/download', {ca})
    expect(denied.status).toBe(401)
    const seen = (await getJson(`${instance.url}/__standin/requests`)).body.requests
      .filter((entry: {path: string}) => entry.path.startsWith('/api/data/'))
      .map((entry: {path: string; status: number}) => `${entry.path} ${entry.status}`)
    expect(seen).toEqual(['/api/data/orders/check-access 200', '/api/data/orders/check-access 401'])

    // The app is down: Caddy answers with the maintenance page agnes wrote, 503 and Retry-After.
    docker(['stop', '--time', '5', app.id])
    const maintenance = await httpsGet(instance.httpsPort, 'agnes.local', '/api/version', {ca})
    expect(maintenance.status).toBe(503)
    expect(maintenance.headers['retry-after']).toBe('10')
    expect(maintenance.body).toBe(readFileSync(join(instance.dir, 'static', 'maintenance.html'), 'utf8'))
  })

  it('--tls files: Caddy serves the openssl certificate; missing or broken cert files and a broken Caddyfile are refused before anything restarts, by up and by init', async () => {
    const certs = opensslCertificate(workDir, 'agnes.test')
    const instance = await tlsInstance('tls-files', ['--tls', 'files', '--tls-cert-dir', certs, '--domain', 'agnes.test'])
    const ca = readFileSync(join(certs, 'fullchain.pem'), 'utf8')
    const started = await up(instance)
    expect(started.exitCode, started.stderr).toBe(0)
    expect(singleJson(started).result.https).toMatchObject({ready: true})
    // The first request right after up: up returned only once Caddy served TLS.
    const answer = await httpsGet(instance.httpsPort, 'agnes.test', '/api/version', {ca})
    expect(answer.status).toBe(200)
    expect(answer.certificate.fingerprint256).toBe(new X509Certificate(ca).fingerprint256)

    const running = {app: serviceContainer(instance.project, 'app'), caddy: serviceContainer(instance.project, 'caddy')}
    const caddyfile = join(instance.dir, 'Caddyfile')
    const caddyfileBefore = readFileSync(caddyfile, 'utf8')
    const refusedWithoutRestart = async (reason: RegExp) => {
      const result = await up(instance)
      expect(result.exitCode, result.stdout + result.stderr).toBe(3)
      const error = singleJson(result).error
      expect(error.code).toBe('E_PROXY_CONFIG')
      expect(error.message).toMatch(reason)
      expect(serviceContainer(instance.project, 'app')).toEqual(running.app)
      expect(serviceContainer(instance.project, 'caddy')).toEqual(running.caddy)
      expect((await httpsGet(instance.httpsPort, 'agnes.test', '/api/version', {ca})).status).toBe(200)
    }

    renameSync(join(certs, 'privkey.pem'), join(certs, 'privkey.pem.away'))
    await refusedWithoutRestart(/privkey\.pem is missing or empty/)
    expect(readFileSync(caddyfile, 'utf8')).toBe(caddyfileBefore)

    // A key that is not the certificate's: only Caddy itself can tell.
    const other = opensslCertificate(workDir, 'agnes.test')
    writeFileSync(join(certs, 'privkey.pem'), readFileSync(join(other, 'privkey.pem')))
    await refusedWithoutRestart(/^Caddy refuses the configuration: .*private key/)
    renameSync(join(certs, 'privkey.pem.away'), join(certs, 'privkey.pem'))

    writeFileSync(caddyfile, caddyfileBefore.replace(/\n\}\n\s*# The old or secondary name/, '\n\n# The old or secondary name'))
    await refusedWithoutRestart(/^Caddy refuses the configuration: /)

    writeFileSync(caddyfile, caddyfileBefore)
    const again = await up(instance)
    expect(again.exitCode, again.stderr).toBe(0)

    // init pointed at certificate files Caddy cannot load: nothing written, the running proxy untouched.
    const mismatched = opensslCertificate(workDir, 'agnes.test')
    writeFileSync(join(mismatched, 'privkey.pem'), readFileSync(join(other, 'privkey.pem')))
    const envBefore = readFileSync(join(instance.dir, '.env'), 'utf8')
    const reinit = await runAgnes(['init', '--non-interactive', '--json', '--dir', instance.dir, '--tls-cert-dir', mismatched])
    expect(reinit.exitCode, reinit.stdout + reinit.stderr).toBe(3)
    expect(singleJson(reinit).error.message).toMatch(/^Caddy refuses the configuration: .*private key/)
    expect(readFileSync(join(instance.dir, '.env'), 'utf8')).toBe(envBefore)
    expect(readFileSync(caddyfile, 'utf8')).toBe(caddyfileBefore)
    expect(serviceContainer(instance.project, 'caddy')).toEqual(running.caddy)
    expect((await httpsGet(instance.httpsPort, 'agnes.test', '/api/version', {ca})).status).toBe(200)
  })

  it('--tls acme: the rendered Caddyfile validates with `caddy validate` (no ACME server is contacted)', async () => {
    const dir = join(instancesRoot, `tls-acme-${randomBytes(3).toString('hex')}`)
    const result = await runAgnes(['init', '--non-interactive', '--json', '--dir', dir, '--image', published.repository, '--admin-email', 'admin@example.com', '--tls', 'acme', '--domain', 'agnes.example.com', '--acme-email', 'ops@example.com'])
    try {
      expect(result.exitCode, result.stderr).toBe(0)
      const env = readEnvFile(join(dir, '.env'))
      expect(env.CADDY_TLS).toBe('tls ops@example.com')
      const caddyHome = mkdtempSync(join(tmpdir(), 'agnes-caddy-validate-'))
      const validated = spawnSync(caddyBinary, ['validate', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
        encoding: 'utf8',
        env: {CADDY_TLS: env.CADDY_TLS, DOMAIN: env.DOMAIN, HOME: caddyHome, PATH: process.env.PATH, XDG_CONFIG_HOME: caddyHome, XDG_DATA_HOME: caddyHome},
      })
      rmSync(caddyHome, {force: true, recursive: true})
      expect(validated.status, validated.stderr).toBe(0)
      expect(validated.stdout + validated.stderr).toContain('Valid configuration')
      const adapted = spawnSync(caddyBinary, ['adapt', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {encoding: 'utf8', env: {CADDY_TLS: env.CADDY_TLS, DOMAIN: env.DOMAIN, PATH: process.env.PATH}})
      const config = JSON.parse(adapted.stdout)
      const issuers = JSON.stringify(config.apps.tls.automation.policies)
      expect(issuers).toContain('"email":"ops@example.com"')
      expect(JSON.stringify(config.apps.http.servers.srv0.tls_connection_policies[0])).toContain('"protocol_min":"tls1.2","protocol_max":"tls1.3"')
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  })
})
