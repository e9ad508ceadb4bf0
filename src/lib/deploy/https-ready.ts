import {request} from 'node:https'
import {isIP} from 'node:net'
import {setTimeout as sleep} from 'node:timers/promises'

import {InterruptedError} from '../errors.js'
import {Instance} from '../instance/state.js'
import {Reporter} from '../ui/reporter.js'

/** Whether Caddy served HTTPS for the instance's domain before `up` returned (the `https` of its result). */
export type HttpsReadiness = {ready: true; afterMs: number} | {ready: false; afterMs: number; reason: string}

/** How long `up` waits for Caddy to serve TLS once the app is healthy; an ACME certificate may take longer. */
export const HTTPS_WAIT_MS = 30_000
const ATTEMPT_TIMEOUT_MS = 3000
const RETRY_INTERVAL_MS = 250

export interface HttpsTarget {
  port: number
  /** Sent as SNI and as Host, so Caddy picks the site (and certificate) of the instance's domain. */
  servername: string
}

/**
 * One GET /api/health to 127.0.0.1 over TLS, with no credentials; resolves with the HTTP status once a
 * response arrives (any status: the maintenance page counts). The certificate is not verified: Caddy's
 * internal CA or a public ACME certificate need not be trusted on this host, and the question is only
 * whether Caddy serves TLS for the name.
 */
export function httpsAnswer(target: HttpsTarget, timeoutMs: number, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent: false,
        headers: {host: target.servername},
        host: '127.0.0.1',
        path: '/api/health',
        port: target.port,
        rejectUnauthorized: false,
        // SNI carries host names only (RFC 6066); Node warns when given an address.
        servername: isIP(target.servername) ? undefined : target.servername,
        signal,
        timeout: timeoutMs,
      },
      (response) => {
        resolve(response.statusCode ?? 0)
        req.destroy()
      },
    )
    req.once('timeout', () => req.destroy(new Error(`no HTTPS answer within ${timeoutMs / 1000} s`)))
    req.once('error', reject)
    req.end()
  })
}

function interrupted(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new InterruptedError()
}

export interface HttpsWaitOptions {
  timeoutMs: number
  intervalMs?: number
  signal?: AbortSignal
}

/** Tries `attempt` until it resolves or `timeoutMs` has passed; an aborted signal rejects at once. */
export async function waitForHttps(attempt: (timeoutMs: number, signal?: AbortSignal) => Promise<unknown>, options: HttpsWaitOptions): Promise<HttpsReadiness> {
  const {signal} = options
  const interval = options.intervalMs ?? RETRY_INTERVAL_MS
  const started = Date.now()
  for (;;) {
    const remaining = options.timeoutMs - (Date.now() - started)
    let reason: string
    try {
      await attempt(Math.max(1, Math.min(ATTEMPT_TIMEOUT_MS, remaining)), signal)
      return {afterMs: Date.now() - started, ready: true}
    } catch (error) {
      if (signal?.aborted) throw interrupted(signal)
      reason = error instanceof Error ? error.message : String(error)
    }

    if (Date.now() - started + interval >= options.timeoutMs) return {afterMs: Date.now() - started, ready: false, reason}
    await sleep(interval, undefined, {signal}).catch(() => {
      throw interrupted(signal as AbortSignal)
    })
  }
}

/**
 * With TLS on: waits (bounded) until Caddy completes a TLS handshake for the instance's domain on its HTTPS
 * port and answers, so the URL `up` prints works when it returns. Not serving in time is a warning, never a
 * failure: the app is up and healthy, and an ACME certificate can take minutes.
 */
export async function waitForCaddyHttps(
  ctx: {instance: Instance; reporter: Reporter; signal?: AbortSignal},
  url: string,
  options: {timeoutMs?: number; intervalMs?: number} = {},
): Promise<HttpsReadiness | undefined> {
  const {env, paths, state} = ctx.instance
  if (state.tls === 'none') return undefined
  const target = {port: Number(env.get('AGNES_PUBLIC_HTTPS_PORT') || '443'), servername: env.get('DOMAIN') || 'localhost'}
  const timeoutMs = options.timeoutMs ?? HTTPS_WAIT_MS
  ctx.reporter.progress(`Waiting for Caddy to serve ${url}…`)
  const readiness = await waitForHttps((attemptMs, signal) => httpsAnswer(target, attemptMs, signal), {intervalMs: options.intervalMs, signal: ctx.signal, timeoutMs})
  if (readiness.ready) return readiness

  const seen = `no HTTPS answer on 127.0.0.1:${target.port} within ${Math.round(timeoutMs / 1000)} s (${readiness.reason})`
  const logs = `\`agnes logs caddy --dir ${paths.dir}\``
  ctx.reporter.warn(
    state.tls === 'acme'
      ? `Caddy does not serve ${url} yet: ${seen}. It may still be getting its certificate: check that ${target.servername} resolves to this host and ports 80 and 443 are reachable from the internet, and see ${logs}.`
      : `Caddy does not serve ${url} yet: ${seen}. The app is up and healthy; see ${logs}.`,
  )
  return readiness
}
