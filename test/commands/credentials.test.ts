// Where the built CLI sends credentials: the secrets in
// an instance's files go only to the URL that instance is published on, and no credential goes over plain HTTP
// to anything but loopback. Real HTTP listeners record every header and body that reaches them.
import {once} from 'node:events'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {networkInterfaces, tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {freePort, readEnvFile} from '../e2e/fixtures.js'
import {CliResult, runAgnes} from '../helpers/run-cli.js'

const KEBOOLA_TOKEN = 'kbc-credentials-token-4c8e1a'
const ADMIN_PASSWORD = 'credentials-admin-password-77d2'
const OTHER_TOKEN = 'token-of-the-other-instance-5b9f'

interface Received {
  method: string
  path: string
  authorization?: string
  raw: string
}

interface Listener {
  port: number
  received: Received[]
}

const cleanups: Array<() => Promise<unknown>> = []
let instanceDir: string
let instancePort: number
let schedulerToken: string
/** The secrets of the instance in instanceDir, as its files hold them. */
let instanceSecrets: string[]

/** An HTTP server on every IPv4 address that answers like a healthy Agnes and records what it was sent. */
async function listener(port = 0): Promise<Listener> {
  const received: Received[] = []
  const server: Server = createServer(async (request, response) => {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const path = request.url?.split('?')[0] ?? ''
    received.push({authorization: request.headers.authorization, method: request.method ?? '', path, raw: `${JSON.stringify(request.headers)}\n${Buffer.concat(chunks).toString('utf8')}`})
    const body = path === '/api/health' ? {db_schema: 'ok', status: 'ok'} : {}
    response.writeHead(200, {'content-type': 'application/json'})
    response.end(JSON.stringify(body))
  })
  server.listen(port, '0.0.0.0')
  await once(server, 'listening')
  cleanups.push(() => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(resolve))
  })
  return {port: (server.address() as AddressInfo).port, received}
}

function cliEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const cleared = Object.fromEntries(Object.keys(process.env).filter((key) => key.startsWith('AGNES_')).map((key) => [key, undefined]))
  return {...cleared, CI: '1', ...extra}
}

async function agnes(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const result = await runAgnes([...args, '--json'], {env: cliEnv(env)})
  expect(result.json, `stdout must be one JSON document:\n${result.stdout}\n${result.stderr}`).toBeDefined()
  return result
}

/** Nothing any listener received carries one of these secrets, in a header or a body. */
function expectNoneReceived(target: Listener, secrets: string[]): void {
  for (const request of target.received) {
    for (const secret of secrets) expect(request.raw, `${request.method} ${request.path} carried a secret`).not.toContain(secret)
  }
}

/** The error names what was wrong and the fix, and echoes no secret. */
function expectRefused(result: CliResult, fix: string[]): void {
  expect(result.exitCode, result.stdout).toBe(3)
  const text = `${result.json.error.message} ${result.json.error.hint}`
  for (const word of fix) expect(text).toContain(word)
  for (const secret of [...instanceSecrets, OTHER_TOKEN]) expect(result.stdout + result.stderr).not.toContain(secret)
}

/** This host's address on a real network interface; plain HTTP to it crosses a network. */
function networkAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((entry) => entry && entry.family === 'IPv4' && !entry.internal)?.address
  // Without a network interface, a name that resolves nowhere still proves that agnes refuses before connecting.
  return address ?? 'agnes.invalid'
}

beforeAll(async () => {
  instanceDir = await mkdtemp(join(tmpdir(), 'agnes-credentials-'))
  cleanups.push(() => rm(instanceDir, {force: true, recursive: true}))
  instancePort = await freePort()
  const init = await runAgnes(
    ['init', '--non-interactive', '--json', '--dir', instanceDir, '--admin-email', 'admin@example.com', '--http-port', String(instancePort), '--data-source', 'keboola', '--keboola-url', 'https://connection.keboola.com'],
    {env: cliEnv({AGNES_ADMIN_PASSWORD: ADMIN_PASSWORD, AGNES_KEBOOLA_TOKEN: KEBOOLA_TOKEN})},
  )
  expect(init.exitCode, init.stderr).toBe(0)
  const env = readEnvFile(join(instanceDir, '.env'))
  schedulerToken = env.SCHEDULER_API_TOKEN
  instanceSecrets = [schedulerToken, env.JWT_SECRET_KEY, env.SESSION_SECRET, env.AGNES_VAULT_KEY, KEBOOLA_TOKEN, ADMIN_PASSWORD]
})

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

describe('secrets from the instance files go only to the instance', () => {
  it.each(['127.0.0.1', 'localhost'])('smoke --url http://%s:<another port> sends no SCHEDULER_API_TOKEN (exit 3)', async (host) => {
    const other = await listener()
    const result = await agnes(['smoke', '--dir', instanceDir, '--url', `http://${host}:${other.port}`, '--settle', '0', '--no-sync', '--min-tables', '0', '--boot-wait', '0'])
    expectRefused(result, ['SCHEDULER_API_TOKEN', '--token-file', 'AGNES_TOKEN', `http://127.0.0.1:${instancePort}`])
    expect(other.received.filter((request) => request.authorization !== undefined)).toEqual([])
    expectNoneReceived(other, instanceSecrets)
  })

  it('configure --url http://127.0.0.1:<another port> sends none of the instance secrets (exit 3)', async () => {
    const other = await listener()
    const result = await agnes(['configure', '--dir', instanceDir, '--url', `http://127.0.0.1:${other.port}`, '--boot-wait', '0'])
    expectRefused(result, ['--token-file', 'AGNES_TOKEN'])
    expect(other.received).toEqual([])
  })

  it('configure --url <another host> with its own token sends neither the Keboola token from .env nor the stored admin password', async () => {
    const other = await listener()
    const url = `http://127.0.0.2:${other.port}`
    const keboola = await agnes(['configure', '--dir', instanceDir, '--url', url, '--boot-wait', '0'], {AGNES_TOKEN: OTHER_TOKEN})
    expectRefused(keboola, ['KEBOOLA_STORAGE_TOKEN', 'AGNES_KEBOOLA_TOKEN', '--keboola-token-file'])
    const admin = await agnes(['configure', '--dir', instanceDir, '--url', url, '--boot-wait', '0', '--data-source', 'local'], {AGNES_TOKEN: OTHER_TOKEN})
    expectRefused(admin, ['secrets.env', 'AGNES_ADMIN_PASSWORD', '--admin-password-file'])
    expect(other.received).toEqual([])
  })

  it('a credential given for another URL goes there, and the instance token does not', async () => {
    const other = await listener()
    await writeFile(join(instanceDir, 'other-token'), `${OTHER_TOKEN}\n`, {mode: 0o600})
    for (const [extra, env] of [
      [[], {AGNES_TOKEN: OTHER_TOKEN}],
      [['--token-file', join(instanceDir, 'other-token')], {}],
    ] as Array<[string[], Record<string, string>]>) {
      await agnes(['smoke', '--dir', instanceDir, '--url', `http://localhost:${other.port}`, '--settle', '0', '--no-sync', '--min-tables', '0', '--boot-wait', '0', ...extra], env)
    }

    const tokens = new Set(other.received.map((request) => request.authorization).filter(Boolean))
    expect([...tokens]).toEqual([`Bearer ${OTHER_TOKEN}`])
    expectNoneReceived(other, instanceSecrets)
  })

  it("the instance's own URL, by 127.0.0.1 or localhost, gets its SCHEDULER_API_TOKEN", async () => {
    const own = await listener(instancePort)
    await agnes(['smoke', '--dir', instanceDir, '--settle', '0', '--no-sync', '--min-tables', '0', '--boot-wait', '0'])
    await agnes(['smoke', '--dir', instanceDir, '--url', `http://localhost:${instancePort}`, '--settle', '0', '--no-sync', '--min-tables', '0', '--boot-wait', '0'])
    const authenticated = own.received.filter((request) => request.authorization !== undefined)
    expect(authenticated.length).toBeGreaterThanOrEqual(2)
    expect(new Set(authenticated.map((request) => request.authorization))).toEqual(new Set([`Bearer ${schedulerToken}`]))
  })

  it('no credential goes over plain HTTP to an address off this host, not even one given explicitly (exit 3)', async () => {
    const other = await listener()
    const url = `http://${networkAddress()}:${other.port}`
    const explicit = await agnes(['smoke', '--dir', instanceDir, '--url', url, '--settle', '0', '--no-sync', '--min-tables', '0', '--boot-wait', '0'], {AGNES_TOKEN: OTHER_TOKEN})
    expectRefused(explicit, ['plain HTTP', 'https://'])
    const remote = await agnes(['register-table', '--url', url, '--name', 'orders', '--source-type', 'local', '--boot-wait', '0', '--dir', join(instanceDir, 'not-an-instance')], {AGNES_TOKEN: OTHER_TOKEN})
    expectRefused(remote, ['plain HTTP'])
    expect(other.received).toEqual([])
  })
})

describe('a secret holding a newline or another control character is refused (exit 3), named but never shown', () => {
  it('in an environment variable', async () => {
    const other = await listener()
    const result = await agnes(['smoke', '--url', `http://127.0.0.1:${other.port}`, '--dir', join(instanceDir, 'none'), '--settle', '0', '--boot-wait', '0'], {AGNES_TOKEN: `${OTHER_TOKEN}\nsecond-line-value`})
    expectRefused(result, ['AGNES_TOKEN', 'newline'])
    expect(result.stdout + result.stderr).not.toContain('second-line-value')
    expect(other.received).toEqual([])
  })

  it('in a file, beyond its one trailing newline', async () => {
    const other = await listener()
    const file = join(instanceDir, 'two-lines')
    await writeFile(file, `${OTHER_TOKEN}\nsecond-line-value\n`, {mode: 0o600})
    const result = await agnes(['smoke', '--url', `http://127.0.0.1:${other.port}`, '--token-file', file, '--dir', join(instanceDir, 'none'), '--settle', '0', '--boot-wait', '0'])
    expectRefused(result, [file, '--token-file'])
    expect(result.stdout + result.stderr).not.toContain('second-line-value')
    expect(other.received).toEqual([])

    const keboola = join(instanceDir, 'kbc-token')
    await writeFile(keboola, `${KEBOOLA_TOKEN}\tx\n`, {mode: 0o600})
    const configure = await agnes(['configure', '--dir', instanceDir, '--keboola-token-file', keboola, '--boot-wait', '0'])
    expectRefused(configure, [keboola])
  })
})

describe('the alert webhook is a credential: never a flag value, https only', () => {
  const WEBHOOK = 'https://hooks.slack.com/services/T0/B0/webhook-secret-path'

  it.each(['upgrade', 'pin', 'rollback'])('%s --alert-webhook <url> is refused (exit 2) without echoing it, pointing at the env and file twins', async (command) => {
    const args = command === 'pin' ? ['pin', 'stable-2026.04.3'] : [command]
    for (const flag of [['--alert-webhook', WEBHOOK], [`--alert-webhook=${WEBHOOK}`]]) {
      const result = await agnes([...args, '--dir', join(instanceDir, 'none'), ...flag])
      expect(result.exitCode, result.stdout).toBe(2)
      expect(result.stdout + result.stderr).not.toContain('webhook-secret-path')
      expect(result.json.error.hint).toContain('AGNES_ALERT_WEBHOOK')
      expect(result.json.error.hint).toContain('--alert-webhook-file')
    }
  })

  it('AGNES_ALERT_WEBHOOK over plain http off this host is refused (exit 3) without echoing it', async () => {
    const result = await agnes(['upgrade', '--dir', join(instanceDir, 'none')], {AGNES_ALERT_WEBHOOK: 'http://hooks.example.com/services/webhook-secret-path'})
    expect(result.exitCode).toBe(3)
    expect(result.json.error.message).toContain('AGNES_ALERT_WEBHOOK')
    expect(result.json.error.message).toContain('https://')
    expect(result.stdout + result.stderr).not.toContain('webhook-secret-path')
  })

  it('--help shows the file twin and no --alert-webhook', async () => {
    const help = await runAgnes(['upgrade', '--help'], {env: cliEnv()})
    expect(help.stdout).toContain('--alert-webhook-file')
    expect(help.stdout).not.toMatch(/--alert-webhook[^-]/)
  })
})
