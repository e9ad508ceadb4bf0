import {once} from 'node:events'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'

import {MAX_ALERT_LENGTH, sendAlert} from '../../src/lib/alert.js'
import {clearSecrets, redact, registerSecret} from '../../src/lib/redact.js'

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
