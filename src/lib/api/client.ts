import type {Agent} from 'undici'

import {AgnesError, InterruptedError, UnexpectedAnswerError, UnreachableError} from '../errors.js'
import {redact, registerSecret} from '../secrets/redact.js'
import {Reporter, silentReporter} from '../ui/reporter.js'
import {apiError} from './errors.js'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE'

export interface ApiClientOptions {
  /** http(s)://host[:port][/prefix], without a trailing slash. */
  baseUrl: string
  /** The bearer token; registered for redaction and never printed. */
  token?: string
  /** Shown with a 401: where the token came from and how to fix it. */
  authHint?: string
  /** What to suggest when nothing answers. */
  unreachableHint?: string
  connectTimeoutMs?: number
  /** Per attempt, until the whole response body has arrived. */
  requestTimeoutMs?: number
  /** How long requests that are safe to repeat keep retrying an instance that is still starting. */
  bootWaitMs?: number
  retryIntervalMs?: number
  /** The longest Retry-After of a 429 that is waited out; a longer one fails with exit 75. */
  maxRetryAfterMs?: number
  signal?: AbortSignal
  reporter?: Reporter
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>
  /** Sent as JSON; undefined sends no body. */
  body?: unknown
  headers?: Record<string, string>
  /**
   * Whether sending the request twice has the same effect as once. GETs always are. Only these are retried
   * after the request may have reached the server (502/503/504, a reset, a timeout).
   */
  idempotent?: boolean
  /** Non-2xx statuses handed back to the caller instead of thrown. */
  acceptStatus?: number[]
  timeoutMs?: number
  /** Send the bearer token (default true). */
  authenticate?: boolean
}

export interface ApiResponse<T = unknown> {
  status: number
  headers: Record<string, string>
  body: T
}

const BOOTING_STATUSES = new Set([502, 503, 504])
/** Errors raised before a single byte of the request left: repeating such a request is always safe. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'])
const MAYBE_SENT_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME'])
const MAX_RATE_LIMIT_RETRIES = 3

const DEFAULT_TIMEOUTS = {
  bootWaitMs: 30_000,
  connectTimeoutMs: 5000,
  maxRetryAfterMs: 90_000,
  requestTimeoutMs: 30_000,
  retryIntervalMs: 1000,
}

function errorCode(error: unknown): string | undefined {
  const candidate = error as {code?: unknown; cause?: {code?: unknown}; errors?: Array<{code?: unknown}>}
  const code = candidate?.code ?? candidate?.cause?.code ?? candidate?.errors?.[0]?.code
  return typeof code === 'string' ? code : undefined
}

/** Retry-After as seconds or an HTTP date, in milliseconds. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** The error an aborted operation ends with: the AgnesError the command aborted with, else exit 130. */
export function abortReason(signal: AbortSignal): AgnesError {
  return signal.reason instanceof AgnesError ? signal.reason : new InterruptedError()
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal))
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer)
      reject(abortReason(signal as AbortSignal))
    }

    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, {once: true})
  })
}

/** One failed attempt: whether it may be repeated, and the error to throw when it may not. */
interface AttemptFailure {
  retryable: 'always' | 'idempotent' | 'never'
  reason: string
  error: AgnesError
  /** A server-given delay (Retry-After). */
  delayMs?: number
}

/**
 * The HTTP client of the instance's API. undici is loaded on first use, so commands that never call the API
 * stay fast. Every error is an AgnesError from the exit-code table, and nothing it reports contains the token.
 */
export class ApiClient {
  readonly baseUrl: string
  private readonly options: Required<Omit<ApiClientOptions, 'token' | 'signal'>> & Pick<ApiClientOptions, 'token' | 'signal'>
  private agent?: Agent

  constructor(options: ApiClientOptions) {
    registerSecret(options.token)
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
    this.options = {
      ...DEFAULT_TIMEOUTS,
      authHint: 'Check the API token (AGNES_TOKEN or --token-file).',
      reporter: silentReporter,
      unreachableHint: 'Check that the instance runs (`agnes status`) and that the URL is right.',
      ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)),
      baseUrl: this.baseUrl,
    } as ApiClient['options']
  }

  async get<T>(path: string, options: Omit<RequestOptions, 'body'> = {}): Promise<ApiResponse<T>> {
    return this.request<T>('GET', path, options)
  }

  async post<T>(path: string, body: unknown, options: Omit<RequestOptions, 'body'> = {}): Promise<ApiResponse<T>> {
    return this.request<T>('POST', path, {...options, body})
  }

  /** The AgnesError an unexpected answer maps to, for callers that accepted a status and then reject its body. */
  errorFor(method: HttpMethod, path: string, response: ApiResponse): AgnesError {
    return apiError({authHint: this.options.authHint, body: response.body, method, path, status: response.status})
  }

  async request<T>(method: HttpMethod, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const idempotent = method === 'GET' || options.idempotent === true
    const deadline = Date.now() + this.options.bootWaitMs
    let announced = false
    let rateLimitRetries = 0
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(method, path, options)
      if (!('retryable' in outcome)) return outcome as ApiResponse<T>

      const isRateLimit = outcome.delayMs !== undefined
      const allowed = outcome.retryable === 'always' || (outcome.retryable === 'idempotent' && idempotent)
      const delay = outcome.delayMs ?? Math.min(this.options.retryIntervalMs * attempt, 5000)
      const withinBudget = isRateLimit
        ? rateLimitRetries < MAX_RATE_LIMIT_RETRIES && delay <= this.options.maxRetryAfterMs
        : Date.now() + delay <= deadline
      if (!allowed || !withinBudget) throw outcome.error

      if (isRateLimit) {
        rateLimitRetries++
        this.options.reporter.progress(`The instance rate-limited ${method} ${path}; retrying in ${Math.ceil(delay / 1000)} s…`)
      } else if (!announced) {
        announced = true
        this.options.reporter.progress(`Waiting for the instance at ${this.baseUrl} to answer (${outcome.reason})…`)
      }

      await abortableSleep(delay, this.options.signal)
    }
  }

  async close(): Promise<void> {
    const agent = this.agent
    this.agent = undefined
    await agent?.close()
  }

  private async dispatcher(): Promise<Agent> {
    if (!this.agent) {
      const {Agent} = await import('undici')
      this.agent = new Agent({
        bodyTimeout: this.options.requestTimeoutMs,
        connect: {timeout: this.options.connectTimeoutMs},
        headersTimeout: this.options.requestTimeoutMs,
      })
    }

    return this.agent
  }

  private url(path: string, query: RequestOptions['query']): string {
    const url = new URL(this.baseUrl + path)
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value))
    return url.toString()
  }

  private async attempt(method: HttpMethod, path: string, options: RequestOptions): Promise<ApiResponse | AttemptFailure> {
    const {request} = await import('undici')
    const headers: Record<string, string> = {accept: 'application/json', 'user-agent': 'agnes-cli', ...options.headers}
    if (options.authenticate !== false && this.options.token) headers.authorization = `Bearer ${this.options.token}`
    let payload: string | undefined
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body)
      headers['content-type'] = 'application/json'
    }

    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs
    const timeout = AbortSignal.timeout(timeoutMs)
    const signal = this.options.signal ? AbortSignal.any([this.options.signal, timeout]) : timeout
    const what = `${method} ${path}`
    let status: number
    let responseHeaders: Record<string, string>
    let text: string
    try {
      const response = await request(this.url(path, options.query), {body: payload, dispatcher: await this.dispatcher(), headers, method, signal})
      status = response.statusCode
      responseHeaders = Object.fromEntries(Object.entries(response.headers).map(([key, value]) => [key, Array.isArray(value) ? value.join(', ') : String(value ?? '')]))
      text = await response.body.text()
    } catch (error) {
      if (this.options.signal?.aborted) throw abortReason(this.options.signal)
      return this.transportFailure(what, error, timeout.aborted, timeoutMs)
    }

    const body = parseBody(text, responseHeaders['content-type'])
    const response: ApiResponse = {body, headers: responseHeaders, status}
    if ((status >= 200 && status < 300) || options.acceptStatus?.includes(status)) return response

    const error = apiError({authHint: this.options.authHint, body, method, path, status})
    if (status === 429) {
      return {delayMs: parseRetryAfter(responseHeaders['retry-after']) ?? 60_000, error, reason: 'rate limited', retryable: 'always'}
    }

    if (BOOTING_STATUSES.has(status)) {
      const booting = new UnreachableError(`${what}: the instance is not ready (HTTP ${status})`, {
        details: {method, path, status},
        hint: `It may still be starting or restarting; try again shortly. ${this.options.unreachableHint}`,
      })
      return {error: booting, reason: `HTTP ${status}`, retryable: 'idempotent'}
    }

    return {error, reason: `HTTP ${status}`, retryable: 'never'}
  }

  private transportFailure(what: string, error: unknown, timedOut: boolean, timeoutMs: number): AttemptFailure {
    const code = errorCode(error)
    const target = this.baseUrl
    const hint = this.options.unreachableHint
    if (timedOut || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      return {
        error: new UnreachableError(`${what}: the instance at ${target} did not answer within ${Math.round(timeoutMs / 1000)} s`, {
          cause: error,
          details: {code: code ?? 'TIMEOUT'},
          hint: `${hint} A request that timed out may still have been applied; check before repeating it by hand.`,
        }),
        reason: 'timed out',
        retryable: 'idempotent',
      }
    }

    if (code !== undefined && DNS_CODES.has(code)) {
      return {
        error: new UnreachableError(`${what}: cannot resolve the host of ${target} (${code})`, {cause: error, details: {code}, hint: 'Check the host name in --url.'}),
        reason: code,
        retryable: 'never',
      }
    }

    const description = code === 'ECONNREFUSED' ? 'connection refused' : code === 'UND_ERR_CONNECT_TIMEOUT' ? 'connect timed out' : (code ?? redact((error as Error)?.message ?? String(error)))
    const unreachable = new UnreachableError(`${what}: cannot reach the instance at ${target} (${description})`, {cause: error, details: {code}, hint})
    if (code !== undefined && NOT_SENT_CODES.has(code)) return {error: unreachable, reason: description, retryable: 'always'}
    if (code !== undefined && MAYBE_SENT_CODES.has(code)) return {error: unreachable, reason: description, retryable: 'idempotent'}
    if (code?.startsWith('ERR_TLS') || code?.startsWith('CERT_') || code?.includes('SELF_SIGNED')) {
      return {
        error: new UnreachableError(`${what}: TLS handshake with ${target} failed (${code})`, {cause: error, details: {code}, hint: 'Check the certificate of the instance, or the scheme of --url.'}),
        reason: code,
        retryable: 'never',
      }
    }

    return {error: unreachable, reason: description, retryable: 'never'}
  }
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (text === '') return undefined
  if (contentType?.includes('json') || /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }

  return text
}

/** Thrown when an answer is 2xx but not what the endpoint promises (an old or foreign server). */
export function unexpectedAnswer(what: string, problem: string): AgnesError {
  return new UnexpectedAnswerError(`${what}: unexpected answer from the instance (${problem})`, {
    hint: 'Is the URL an Agnes instance, and is its version current? Check `agnes status`.',
  })
}
