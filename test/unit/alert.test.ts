import {once} from 'node:events'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {MAX_ALERT_LENGTH, readAlertWebhook, sendAlert} from '../../src/lib/alert.js'
import {AgnesError} from '../../src/lib/errors.js'
import {clearSecrets, redact, registerSecret} from '../../src/lib/secrets/redact.js'
import {RecordingReporter} from '../../src/lib/ui/reporter.js'
import {switchOptions} from '../../src/flags/switch.js'

interface Received {
  method?: string
  contentType?: string
  raw: string
  body: {text: string}
}

let server: Server | undefined

afterEach(async () => {
  clearSecrets()
  if (server) {
    server.closeAllConnections()
    await new Promise((resolve) => server?.close(resolve))
    server = undefined
  }
})

/** A webhook receiver on a free port; `respond` decides the answer (200 by default). */
async function webhook(respond: (response: ServerResponse) => void = (response) => response.end('ok')): Promise<{url: string; received: Received[]}> {
  const received: Received[] = []
  server = createServer(async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const raw = Buffer.concat(chunks).toString('utf8')
    received.push({body: JSON.parse(raw), contentType: request.headers['content-type'], method: request.method, raw})
    respond(response)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const {port} = server.address() as AddressInfo
  return {received, url: `http://127.0.0.1:${port}/services/T0/B0/hook-token-value`}
}

describe('sendAlert', () => {
  it('posts {"text": …} as JSON', async () => {
    const {url, received} = await webhook()
    expect(await sendAlert(url, 'upgrade to stable-2026.05.531 rolled back')).toEqual({delivered: true, status: 200})
    expect(received).toHaveLength(1)
    expect(received[0]).toMatchObject({body: {text: 'upgrade to stable-2026.05.531 rolled back'}, contentType: 'application/json; charset=utf-8', method: 'POST'})
    expect(Object.keys(received[0].body)).toEqual(['text'])
  })

  it('escapes quotes, backslashes, newlines and keeps non-ASCII intact', async () => {
    const {url, received} = await webhook()
    const text = 'a "quoted" C:\\path\\ line one\nline two\ttab — Příliš žluťoučký kůň 🚀 \u0001'
    expect((await sendAlert(url, text)).delivered).toBe(true)
    expect(received[0].body.text).toBe(text)
    expect(received[0].raw).toContain(String.raw`a \"quoted\" C:\\path\\ line one\nline two\ttab`)
    expect(received[0].raw).toContain('Příliš žluťoučký kůň 🚀')
  })

  it('masks registered secrets and anything that looks like a credential, but keeps digests', async () => {
    const {url, received} = await webhook()
    registerSecret('keboola-storage-secret-value')
    const digest = `sha256:${'ab12'.repeat(16)}`
    const text = [
      'sync with keboola-storage-secret-value failed',
      'Authorization: Bearer abc123def456ghi789',
      'KEBOOLA_TOKEN=1234-56789-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd',
      `SCHEDULER_API_TOKEN is ${'0f'.repeat(32)}`,
      'jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl',
      'registry https://robot:s3cretPass@registry.example.com/v2/',
      `rolled back from ${digest}`,
      `webhook ${url}`,
    ].join('\n')
    await sendAlert(url, text)
    const sent = received[0].body.text
    for (const leaked of ['keboola-storage-secret-value', 'abc123def456ghi789', 'AbCdEfGhIjKlMnOpQrStUvWxYz', '0f0f0f0f', 'eyJzdWIi', 's3cretPass', 'hook-token-value']) {
      expect(sent).not.toContain(leaked)
    }

    expect(sent).toContain(`rolled back from ${digest}`)
    expect(sent).toContain('sync with *** failed')
    expect(redact(`posting to ${url}`)).not.toContain('hook-token-value')
  })

  it('caps the length of the text', async () => {
    const {url, received} = await webhook()
    await sendAlert(url, `${'word '.repeat(5000)}🚀🚀🚀`)
    const sent = received[0].body.text
    expect(sent.length).toBeLessThanOrEqual(MAX_ALERT_LENGTH)
    expect(sent.endsWith('…')).toBe(true)
  })

  it('reports an HTTP error without throwing', async () => {
    const {url} = await webhook((response) => {
      response.statusCode = 500
      response.end('invalid_payload')
    })
    expect(await sendAlert(url, 'x')).toEqual({delivered: false, error: 'HTTP 500: invalid_payload', status: 500})
  })

  it('reports an unreachable webhook without throwing', async () => {
    const {url} = await webhook()
    server?.close()
    server = undefined
    const result = await sendAlert(url, 'x')
    expect(result.delivered).toBe(false)
    expect(result.error).toMatch(/ECONNREFUSED/)
  })

  it('gives up after the timeout, or when the caller aborts', async () => {
    const {url} = await webhook(() => {})
    const started = Date.now()
    expect(await sendAlert(url, 'x', {timeoutMs: 200})).toEqual({delivered: false, error: 'no answer within 200 ms'})
    expect(Date.now() - started).toBeLessThan(2000)

    const controller = new AbortController()
    setTimeout(() => controller.abort(), 50)
    expect(await sendAlert(url, 'x', {signal: controller.signal, timeoutMs: 5000})).toEqual({delivered: false, error: 'aborted'})
  })

  it('rejects a webhook that is not an http(s) URL', async () => {
    expect(await sendAlert('not a url', 'x')).toEqual({delivered: false, error: 'the alert webhook is not a valid URL'})
    expect((await sendAlert('file:///etc/passwd', 'x')).delivered).toBe(false)
  })
})

describe('the alert webhook is a credential', () => {
  const WEBHOOK = 'https://hooks.slack.com/services/T0/B0/webhook-secret-path'
  let dir: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agnes-alert-'))
  })

  afterEach(async () => {
    await rm(dir, {force: true, recursive: true})
  })

  async function refused(promise: Promise<unknown>): Promise<AgnesError> {
    const error = await promise.then(
      () => undefined,
      (error_: unknown) => error_,
    )
    expect(error).toBeInstanceOf(AgnesError)
    const agnesError = error as AgnesError
    expect(`${agnesError.message} ${agnesError.hint}`).not.toContain('secret-path')
    return agnesError
  }

  const flags = {'health-timeout': 300, smoke: false, 'smoke-settle': 0}

  it('comes from AGNES_ALERT_WEBHOOK or --alert-webhook-file (the file wins) and is registered for redaction', async () => {
    const reporter = new RecordingReporter()
    expect(await readAlertWebhook({env: {AGNES_ALERT_WEBHOOK: WEBHOOK}, reporter})).toBe(WEBHOOK)
    const file = join(dir, 'webhook')
    const fromFile = 'https://chat.googleapis.com/v1/spaces/AAA/messages?key=file-secret-path'
    await writeFile(file, `${fromFile}\n`, {mode: 0o600})
    expect(await readAlertWebhook({env: {AGNES_ALERT_WEBHOOK: WEBHOOK}, file, reporter})).toBe(fromFile)
    expect(redact(`posting to ${WEBHOOK} and ${fromFile}`)).toBe('posting to *** and ***')
    expect(reporter.warnings).toEqual([])
    expect(await readAlertWebhook({env: {}, reporter})).toBeUndefined()
  })

  it('warns when the file can be read by other users, without showing the URL', async () => {
    const reporter = new RecordingReporter()
    const file = join(dir, 'webhook')
    await writeFile(file, WEBHOOK, {mode: 0o644})
    expect(await readAlertWebhook({env: {}, file, reporter})).toBe(WEBHOOK)
    expect(reporter.warnings.join(' ')).toContain(`chmod 600 ${file}`)
    expect(reporter.warnings.join(' ')).not.toContain('secret-path')
  })

  it.each([
    ['plain http off this host', 'http://hooks.example.com/services/secret-path', 'https://'],
    ['not http at all', 'ftp://hooks.example.com/secret-path', 'https://'],
    ['not a URL', 'hooks example com secret-path', 'not a valid URL'],
    ['two lines', `${WEBHOOK}\nsecond-secret-path`, 'newline'],
  ])('refuses %s with exit 3, naming where it came from but not the URL', async (_name, value, problem) => {
    const error = await refused(readAlertWebhook({env: {AGNES_ALERT_WEBHOOK: value}, reporter: new RecordingReporter()}))
    expect(error.exitCode).toBe(3)
    expect(error.message).toContain('AGNES_ALERT_WEBHOOK')
    expect(error.message).toContain(problem)
  })

  it('plain http to loopback is allowed (for tests on this host)', async () => {
    for (const url of ['http://127.0.0.1:9/hook', 'http://localhost:9/hook', 'http://[::1]:9/hook']) {
      expect(await readAlertWebhook({env: {AGNES_ALERT_WEBHOOK: url}, reporter: new RecordingReporter()})).toBe(url)
    }
  })

  it('sendAlert sends nothing over plain http off this host', async () => {
    const result = await sendAlert('http://192.0.2.1:9/services/secret-path', 'x', {timeoutMs: 200})
    expect(result).toEqual({delivered: false, error: "the alert webhook must be an https:// URL (plain http only to this host's loopback)"})
  })

  it('switch commands refuse a --alert-webhook value (exit 2) without echoing it, and take the file twin', async () => {
    const reporter = new RecordingReporter()
    const signal = new AbortController().signal
    const error = await refused(switchOptions({...flags, 'alert-webhook': WEBHOOK}, reporter, signal))
    expect(error.exitCode).toBe(2)
    expect(error.message).toContain('--alert-webhook')
    expect(error.hint).toContain('AGNES_ALERT_WEBHOOK')
    expect(error.hint).toContain('--alert-webhook-file')

    const file = join(dir, 'webhook')
    await writeFile(file, `${WEBHOOK}\n`, {mode: 0o600})
    expect((await switchOptions({...flags, 'alert-webhook-file': file}, reporter, signal)).alertWebhook).toBe(WEBHOOK)
  })
})
