/**
 * HTTP for the registry client: one request with retries and deadlines, and reading registry answers.
 * undici is imported inside functions so that loading this module (e.g. for `agnes --help`) costs nothing.
 */
import {setTimeout as sleep} from 'node:timers/promises'
import type {Dispatcher} from 'undici'

import {deadline} from '../deadline.js'
import {InvalidInputError, UnreachableError} from '../errors.js'
import {isLoopbackRegistry, registryBaseUrl} from './image-ref.js'

/** A registry asking for a longer pause is treated as down for now; cron runs again later anyway. */
const MAX_WAIT_MS = 30_000
const USER_AGENT = 'agnes'

export type Headers = Record<string, string>

export interface HttpResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

export interface HttpSenderOptions {
  timeoutMs: number
  connectTimeoutMs: number
  retries: number
  backoffMs: number
  env: NodeJS.ProcessEnv
}

/** A failed attempt (network error or timeout) that may be retried. */
class AttemptFailure extends Error {}

export function header(response: HttpResponse, name: string): string | undefined {
  const value = response.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500
}

/** Retry-After is either seconds or an HTTP date. */
function retryAfterMs(response: HttpResponse): number | undefined {
  const value = header(response, 'retry-after')?.trim()
  if (!value) return undefined
  if (/^\d+$/.test(value)) return Number(value) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now())
}

/** The `next` target of an RFC 5988 Link header, e.g. `</v2/a/tags/list?n=2&last=b>; rel="next"`. */
function nextLink(response: HttpResponse): string | undefined {
  const value = header(response, 'link')
  if (!value) return undefined
  for (const part of value.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part)
    if (match && /;\s*rel="?next"?/i.test(match[2]!)) return match[1]
  }
  return undefined
}

/** Only the path and query of the next link are kept, so credentials never go to another host. */
export function nextPagePath(response: HttpResponse, registry: string): string | undefined {
  const link = nextLink(response)
  if (link === undefined) return undefined
  const url = new URL(link, registryBaseUrl(registry))
  return url.pathname + url.search
}

export function firstRegistryError(response: HttpResponse): {code?: string; message?: string} | undefined {
  try {
    const parsed = JSON.parse(response.body.toString('utf8')) as {errors?: Array<{code?: string; message?: string}>}
    return parsed?.errors?.[0]
  } catch {
    // Not a JSON error body: the status code says enough.
    return undefined
  }
}

/** The first `errors[]` entry of a registry error body, as `CODE: message`. */
function registryErrorText(response: HttpResponse): string | undefined {
  const first = firstRegistryError(response)
  return first ? [first.code, first.message].filter(Boolean).join(': ') || undefined : undefined
}

export function reachHint(registry: string): string {
  const base = registryBaseUrl(registry)
  return isLoopbackRegistry(registry)
    ? `Is the registry at ${base} running? Start it, then run the command again.`
    : `Check that this host can reach ${base} (DNS, firewall, HTTPS_PROXY), then run the command again; the registry may also be down for a while.`
}

export function unexpectedStatus(registry: string, response: HttpResponse, what: string): InvalidInputError | UnreachableError {
  const detail = registryErrorText(response)
  const message = `Registry ${registry} answered HTTP ${response.status} to ${what}${detail ? ` (${detail})` : ''}`
  const details = {registry, status: response.status}
  return response.status === 400
    ? new InvalidInputError(message, {hint: 'Check the repository name and the tag.', details})
    : new UnreachableError(message, {hint: reachHint(registry), details})
}

export function parseJson(registry: string, response: HttpResponse, what: string): unknown {
  try {
    return JSON.parse(response.body.toString('utf8'))
  } catch {
    throw new UnreachableError(`Registry ${registry} sent ${what} that is not valid JSON`, {hint: reachHint(registry), details: {registry}})
  }
}

/** Sends requests with retries on network errors, timeouts, 5xx and 429, through one proxy-aware dispatcher. */
export class HttpSender {
  #dispatcher?: Promise<Dispatcher>
  #requests = 0

  constructor(private readonly options: HttpSenderOptions) {}

  /** HTTP requests sent so far, retries included. */
  get requests(): number {
    return this.#requests
  }

  async close(): Promise<void> {
    const dispatcher = await this.#dispatcher
    await dispatcher?.close()
  }

  #getDispatcher(): Promise<Dispatcher> {
    this.#dispatcher ??= import('undici').then(
      ({EnvHttpProxyAgent}) =>
        // Proxy settings come from the client's env (an empty string means none), not from process.env behind its back.
        new EnvHttpProxyAgent({
          connectTimeout: this.options.connectTimeoutMs,
          headersTimeout: this.options.timeoutMs,
          bodyTimeout: this.options.timeoutMs,
          httpProxy: this.options.env.http_proxy ?? this.options.env.HTTP_PROXY ?? '',
          httpsProxy: this.options.env.https_proxy ?? this.options.env.HTTPS_PROXY ?? '',
          noProxy: this.options.env.no_proxy ?? this.options.env.NO_PROXY ?? '',
        }),
    )
    return this.#dispatcher
  }

  /** One request with retries on network errors, timeouts, 5xx and 429; UnreachableError when they run out. */
  async send(url: URL, method: 'GET' | 'HEAD', headers: Headers, signal: AbortSignal | undefined): Promise<HttpResponse> {
    const attempts = this.options.retries + 1
    for (let attempt = 1; ; attempt++) {
      let waitMs = Math.min(this.options.backoffMs * 2 ** (attempt - 1), MAX_WAIT_MS)
      let problem: string
      try {
        const response = await this.#sendOnce(url, method, headers, signal)
        if (!isRetryableStatus(response.status)) return response
        problem = `HTTP ${response.status}${response.status === 429 ? ' (too many requests)' : ''}`
        waitMs = retryAfterMs(response) ?? waitMs
      } catch (error) {
        if (!(error instanceof AttemptFailure)) throw error
        problem = error.message
      }

      if (attempt >= attempts || waitMs > MAX_WAIT_MS) {
        throw new UnreachableError(`Registry ${url.host} is unreachable: ${problem} (${attempt} attempt${attempt === 1 ? '' : 's'})`, {
          hint: reachHint(url.host),
          details: {registry: url.host, attempts: attempt},
        })
      }
      await sleep(waitMs, undefined, {signal})
    }
  }

  async #sendOnce(url: URL, method: 'GET' | 'HEAD', headers: Headers, signal: AbortSignal | undefined): Promise<HttpResponse> {
    const {request} = await import('undici')
    const dispatcher = await this.#getDispatcher()
    const limit = deadline(this.options.timeoutMs, signal)
    this.#requests++
    try {
      const response = await request(url, {
        method,
        headers: {'user-agent': USER_AGENT, ...headers},
        dispatcher,
        signal: limit.signal,
      })
      const body = Buffer.from(await response.body.arrayBuffer())
      return {status: response.statusCode, headers: response.headers, body}
    } catch (error) {
      if (signal?.aborted) throw signal.reason
      if (limit.signal.aborted) throw new AttemptFailure(`no answer within ${this.options.timeoutMs} ms`)
      const code = (error as {code?: unknown}).code
      if (code === 'UND_ERR_CONNECT_TIMEOUT') throw new AttemptFailure(`connect timed out after ${this.options.connectTimeoutMs} ms`)
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') throw new AttemptFailure(`no answer within ${this.options.timeoutMs} ms`)
      throw new AttemptFailure(error instanceof Error ? error.message : String(error))
    } finally {
      limit.clear()
    }
  }
}
