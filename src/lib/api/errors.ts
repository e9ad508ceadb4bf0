import {
  AgnesError,
  AuthError,
  ConflictError,
  InvalidInputError,
  NotFoundError,
  RateLimitedError,
  UnreachableError,
} from '../errors.js'
import {redact} from '../secrets/redact.js'

/** What the server said, made readable: the message, its own hint and its machine code when it gave them. */
export interface DetailSummary {
  message: string
  hint?: string
  /** `detail.error` of a structured detail, e.g. connection_change_affects_registrations. */
  code?: string
}

const MAX_MESSAGE_LENGTH = 600

function clip(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim()
  return oneLine.length > MAX_MESSAGE_LENGTH ? `${oneLine.slice(0, MAX_MESSAGE_LENGTH)}…` : oneLine
}

function humanise(code: string): string {
  return code.replace(/_/g, ' ')
}

function describeValidationItem(item: unknown): string {
  if (item === null || typeof item !== 'object') return String(item)
  const {loc, msg} = item as {loc?: unknown; msg?: unknown}
  const where = Array.isArray(loc) ? loc.filter((part) => part !== 'body').join('.') : ''
  const text = typeof msg === 'string' ? msg : JSON.stringify(item)
  return where ? `${where}: ${text}` : text
}

/**
 * Agnes answers errors as `{"detail": …}` where detail is a string, an object (structured 409s) or a list
 * (pydantic 422s). Anything else (an HTML page from a proxy, an empty body) falls back to the raw text.
 */
export function describeDetail(body: unknown, fallback: string): DetailSummary {
  const detail = body !== null && typeof body === 'object' && 'detail' in body ? (body as {detail: unknown}).detail : undefined
  if (typeof detail === 'string' && detail.trim() !== '') return {message: clip(redact(detail))}
  if (Array.isArray(detail)) {
    const parts = detail.map((item) => describeValidationItem(item))
    return {message: clip(redact(parts.join('; ') || fallback))}
  }

  if (detail !== null && typeof detail === 'object') {
    const record = detail as Record<string, unknown>
    const code = typeof record.error === 'string' ? record.error : undefined
    const text = [record.message, record.detail, code === undefined ? undefined : humanise(code)].find((value) => typeof value === 'string' && value !== '')
    return {
      code,
      hint: typeof record.hint === 'string' ? clip(redact(record.hint)) : undefined,
      message: clip(redact(typeof text === 'string' ? text : JSON.stringify(detail))),
    }
  }

  if (typeof body === 'string' && body.trim() !== '') {
    const text = body.replace(/<[^>]*>/g, ' ')
    return {message: clip(redact(text))}
  }

  return {message: fallback}
}

export interface ApiErrorInput {
  method: string
  path: string
  status: number
  body: unknown
  /** How the credential was obtained, for the 401 hint. */
  authHint: string
}

/**
 * Maps an HTTP error answer to the exit-code table: 401/403 → 5, 404 → 6, 409 → 7, other 4xx → 3, 5xx → 8.
 * The message carries the server's own words; details keep the status and the raw detail for callers
 * that branch on it.
 */
export function apiError(input: ApiErrorInput): AgnesError {
  const {method, path, status, body} = input
  const summary = describeDetail(body, `HTTP ${status}`)
  const message = `${method} ${path} failed: ${summary.message} (HTTP ${status})`
  const detail = body !== null && typeof body === 'object' && 'detail' in body ? (body as {detail: unknown}).detail : body
  const requestId = body !== null && typeof body === 'object' ? (body as {request_id?: unknown}).request_id : undefined
  const details = {status, method, path, detail, ...(summary.code ? {serverCode: summary.code} : {})}

  if (status === 401) return new AuthError(message, {details, hint: input.authHint})
  if (status === 403) {
    return new AuthError(message, {
      details,
      hint: summary.hint ?? 'The credential is valid but may not do this; admin endpoints need an admin credential (the instance SCHEDULER_API_TOKEN or an admin token).',
    })
  }

  if (status === 404) {
    return new NotFoundError(message, {
      details,
      hint: summary.hint ?? 'If this is an API endpoint, the instance may run an Agnes version without it: check `agnes status`.',
    })
  }

  if (status === 409) return new ConflictError(message, {details, hint: summary.hint ?? 'The instance reports a conflict that needs a decision; see the message.'})
  if (status === 429) {
    return new RateLimitedError(message, {details, hint: 'The instance rate-limits this endpoint; try again in a minute.'})
  }

  if (status >= 500) {
    return new UnreachableError(message, {
      details,
      hint: `The instance failed while handling the request${typeof requestId === 'string' ? ` (request id ${requestId})` : ''}; see the app log (\`agnes logs app --tail 100\` in the instance directory).`,
    })
  }

  return new InvalidInputError(message, {details, hint: summary.hint ?? 'The instance rejected the request; fix the value named in the message and re-run.'})
}

/** The HTTP status of an error thrown by apiError, if any. */
export function httpStatus(error: unknown): number | undefined {
  const status = error instanceof AgnesError ? error.details?.status : undefined
  return typeof status === 'number' ? status : undefined
}
