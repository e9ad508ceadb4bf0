import {stat} from 'node:fs/promises'

import {deadline} from './deadline.js'
import {InvalidInputError} from './errors.js'
import {isLoopbackHost} from './loopback.js'
import {redact, registerSecret} from './secrets/redact.js'
import {Reporter} from './ui/reporter.js'
import {readSecret} from './secrets/input.js'

/**
 * Webhook alerts (Slack-compatible `{"text": …}`, which Google Chat accepts too). Sending never throws:
 * a failed alert must not change the outcome of the upgrade it reports on.
 */

export interface AlertResult {
  delivered: boolean
  status?: number
  error?: string
}

export interface AlertOptions {
  timeoutMs?: number
  signal?: AbortSignal
}

const DEFAULT_TIMEOUT_MS = 10_000
/** Well under Google Chat's 4,096-character limit; an alert is a headline, not a log. */
export const MAX_ALERT_LENGTH = 3000
const MAX_ERROR_BODY_LENGTH = 200

/**
 * Patterns for credentials that may have reached the text without being registered as secrets. Digests
 * (`sha256:` + hex) stay readable: they are what an alert about a version is about.
 */
const CREDENTIAL_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  [/\b(bearer|basic)\s+(?=[\w.~+/=-]*\d)[\w.~+/=-]{8,}/gi, '$1 ***'],
  [/\b((?:authorization|[\w-]*(?:token|secret|password|passwd|api[_-]?key))["']?\s*[:=]\s*["']?(?:(?:bearer|basic)\s+)?)[^\s"',;&]+/gi, '$1***'],
  [/\b([a-z][\w+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi, '$1***@'],
  [/\beyJ[\w-]+\.[\w-]+\.[\w-]*/g, '***'],
  [/\b(?:gh[pousr]_\w{20,}|github_pat_\w{20,}|xox[abprs]-[\w-]{10,}|AKIA[0-9A-Z]{16}|sk-[\w-]{20,})/g, '***'],
  // Long hex is a generated secret, unless it is a digest.
  [/(?<!sha256:)\b[0-9a-f]{32,}\b/gi, '***'],
  // Long runs mixing upper case, lower case and digits are random tokens (base64, Keboola tokens …).
  [/(?=[\w+=-]*[A-Z])(?=[\w+=-]*[a-z])(?=[\w+=-]*\d)[\w+=-]{32,}/g, '***'],
]

/** Why a webhook URL is refused, without repeating it (it is a credential), or undefined when it is fine. */
function webhookProblem(webhookUrl: string): string | undefined {
  if (!URL.canParse(webhookUrl)) return 'is not a valid URL'
  const url = new URL(webhookUrl)
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))) return undefined
  return 'must be an https:// URL (plain http only to this host\'s loopback)'
}

/**
 * The alert webhook from the file named by --alert-webhook-file, else AGNES_ALERT_WEBHOOK; never a flag value,
 * which would sit in the process list and in crontab lines. It is registered for redaction.
 */
export async function readAlertWebhook(options: {file?: string; env?: NodeJS.ProcessEnv; reporter: Reporter}): Promise<string | undefined> {
  const webhookUrl = await readSecret({envVar: 'AGNES_ALERT_WEBHOOK', file: options.file, fileFlag: '--alert-webhook-file', label: 'alert webhook URL'}, {env: options.env, required: false})
  if (webhookUrl === undefined) return undefined
  const where = options.file === undefined ? 'AGNES_ALERT_WEBHOOK' : `${options.file} (--alert-webhook-file)`
  const problem = webhookProblem(webhookUrl)
  if (problem) throw new InvalidInputError(`the alert webhook in ${where} ${problem}`, {hint: 'Put the https:// webhook URL your chat tool gave you there, and nothing else.'})
  if (options.file !== undefined && ((await stat(options.file)).mode & 0o077) !== 0) {
    options.reporter.warn(`${options.file} can be read by other users; the webhook URL in it is a credential: chmod 600 ${options.file}`)
  }

  return webhookUrl
}

export async function sendAlert(webhookUrl: string, text: string, options: AlertOptions = {}): Promise<AlertResult> {
  try {
    const problem = webhookProblem(webhookUrl)
    if (problem) return {delivered: false, error: `the alert webhook ${problem}`}
    const url = new URL(webhookUrl)
    // The webhook URL is itself a credential (Slack and Google Chat put the token in it).
    registerSecret(webhookUrl)
    const limit = deadline(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, options.signal)
    try {
      const response = await fetch(url, {
        body: JSON.stringify({text: alertText(text)}),
        headers: {'content-type': 'application/json; charset=utf-8'},
        method: 'POST',
        signal: limit.signal,
      })
      if (response.ok) {
        await response.body?.cancel()
        return {delivered: true, status: response.status}
      }

      const body = (await response.text()).trim().slice(0, MAX_ERROR_BODY_LENGTH)
      return {delivered: false, error: redact(`HTTP ${response.status}${body ? `: ${body}` : ''}`), status: response.status}
    } catch (error) {
      if (options.signal?.aborted) return {delivered: false, error: 'aborted'}
      if (limit.signal.aborted) return {delivered: false, error: `no answer within ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`}
      return {delivered: false, error: describeFailure(error)}
    } finally {
      limit.clear()
    }
  } catch (error) {
    return {delivered: false, error: describeFailure(error)}
  }
}

/** The text as sent: secrets and anything that looks like a credential masked, then capped in length. */
function alertText(text: string): string {
  let clean = redact(text)
  for (const [pattern, replacement] of CREDENTIAL_PATTERNS) clean = clean.replace(pattern, replacement)
  if (clean.length <= MAX_ALERT_LENGTH) return clean
  let end = MAX_ALERT_LENGTH - 1
  // Never cut a surrogate pair in half.
  if (/[\uD800-\uDBFF]/.test(clean[end - 1])) end--
  return `${clean.slice(0, end)}…`
}

function describeFailure(error: unknown): string {
  const cause = (error as {cause?: {code?: string; message?: string}}).cause
  const reason = cause?.message ?? cause?.code ?? (error as Error)?.message ?? String(error)
  return redact(String(reason))
}
